/* SPDX-License-Identifier: MIT */
/*
 * gossip_sim.c: the gossip-sim CLI.  Runs one simulator scenario (tests/sim/sim.h) and reports
 * the PROTOCOL.md section 10 figures plus the simulator's own speed.
 *
 *   gossip-sim --peers N --seed S --scenario single|multi|burst|churn|partition --rounds R
 *              [--latency-min-ms A --latency-max-ms B] [--kill-fraction F] [--json]
 *              [--loss-ppm P] [--payload BYTES] [--partition-s S] [--heal-wait-s S]
 *              [--warmup-s S] [--bootstrap single|staggered] [--literal-close] [--trace]
 *              [--quiet]
 *
 * Without --json: live progress on stderr (one line rewritten in place on a tty, a line every two
 * seconds otherwise) and a readable summary on stdout.  With --json the last stdout line is one
 * JSON object (keys listed in docs/sim.md); progress is then printed only on a tty.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

typedef struct cli {
    gs_sim_run_cfg rc;
    bool json;
    bool quiet;
    bool tty;
    double start_wall;
    double last_print;
    size_t round;
    size_t rounds_total;
    const char *phase;
} cli;

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: gossip-sim --peers N --seed S --scenario single|multi|burst|churn|partition|quiet\n"
        "                  --rounds R [--latency-min-ms A --latency-max-ms B]\n"
        "                  [--kill-fraction F] [--json] [--loss-ppm P] [--payload BYTES]\n"
        "                  [--partition-s S] [--heal-wait-s S] [--warmup-s S]\n"
        "                  [--bootstrap single|staggered] [--literal-close] [--trace]\n"
        "                  [--dial-handshake] [--initial-loss-ppm P] [--quiet-s S]\n"
        "                  [--policy default|reference|ours] [--ref-fraction F]\n"
        "                  [--prune-dups K] [--eager-all N] [--graft-near-ms T]\n"
        "                  [--dial-allowance-ms T] [--rtt-factor F] [--counters]\n"
        "                  [--ref-compat MASK] [--ref-io MASK] [--quiet]\n"
        "  --ref-compat: GS_COMPAT_* bits of the reference nodes (default 0xff, all)\n"
        "  --ref-io:     GS_SIM_REF_* bits of the reference nodes (default 0x7: keep\n"
        "                connections 0x1, no redial 0x2, abort on shutdown 0x4)\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (s == NULL || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    if (s == NULL || *s == '\0') {
        return false;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static void progress_line(cli *c, const gs_sim *sim, bool force)
{
    double now = wall_now();
    double every = c->tty ? 0.1 : 2.0;

    if (c->quiet || (c->json && !c->tty) || (!force && now - c->last_print < every)) {
        return;
    }
    c->last_print = now;
    const gs_sim_stats *st = gs_sim_stats_get(sim);
    double el = now - c->start_wall;
    char line[256];
    snprintf(line, sizeof(line),
             "gossip-sim: %s %zu/%zu | sim %.1f s | up %zu/%zu | %" PRIu64
             " node events | %.2f M/s | wall %.1f s",
             c->phase, c->round, c->rounds_total, (double)gs_sim_now(sim) / 1e9, gs_sim_nup(sim),
             gs_sim_npeers(sim), st->node_events, el > 0 ? (double)st->node_events / el / 1e6 : 0.0,
             el);
    if (c->tty) {
        fprintf(stderr, "\r\033[K%s", line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

static void on_progress(void *ud, const gs_sim *sim)
{
    progress_line(ud, sim, false);
}

static void on_round(void *ud, size_t round, const gs_sim_round_stats *st, const gs_sim *sim)
{
    cli *c = ud;

    (void)st;
    c->phase = "round";
    c->round = round + 1;
    progress_line(c, sim, false);
}

/* apply_policy sets the broadcast and timeout policy of every node (ref_fraction aside):
 * "default" keeps gs_node_cfg_default, "reference" is gs_node_cfg_reference, "ours" the policy
 * for many publishers and wide-area links (docs/proto.md). */
static bool apply_policy(gs_node_cfg *cfg, const char *policy)
{
    if (strcmp(policy, "default") == 0) {
        return true;
    }
    if (strcmp(policy, "reference") == 0) {
        gs_node_cfg_reference(cfg);
        return true;
    }
    if (strcmp(policy, "ours") == 0) {
        gs_node_cfg_many_publishers(cfg);
        return true;
    }
    return false;
}

/* print_counters prints the non-zero node counters summed over the nodes up at the end (on
 * stderr, so that --json keeps its last stdout line). */
static void print_counters(const gs_sim *sim)
{
    static const char *const names[] = {"msgs_ctrl_sent",
                                        "msgs_ctrl_recv",
                                        "msgs_data_sent",
                                        "msgs_data_recv",
                                        "msgs_ctrl_sent_size",
                                        "msgs_ctrl_recv_size",
                                        "msgs_data_sent_size",
                                        "msgs_data_recv_size",
                                        "neighbor_up",
                                        "neighbor_down",
                                        "actor_tick_rx",
                                        "actor_tick_timers",
                                        "actor_tick_in_event_rx",
                                        "decode_errors",
                                        "unknown_topic",
                                        "from_self",
                                        "bad_id",
                                        "duplicates",
                                        "oversize_broadcast",
                                        "unforwardable",
                                        "round_saturated",
                                        "ttl_clamped",
                                        "self_refs",
                                        "ihave_non_neighbor",
                                        "missing_full",
                                        "announcers_full",
                                        "graft_non_neighbor",
                                        "prune_non_neighbor",
                                        "gossip_non_neighbor",
                                        "received_evicted",
                                        "cache_evicted",
                                        "pending_full",
                                        "peer_data_too_long",
                                        "ctrl_truncated",
                                        "timers_full",
                                        "outbox_full",
                                        "nomem",
                                        "join_retries",
                                        "disconnects",
                                        "neighbor_replies_suppressed",
                                        "neighbor_timeouts"};
    gs_node_counters sum;
    const gs_sim_stats *st = gs_sim_stats_get(sim);

    gs_sim_node_counters_sum(sim, &sum);
    const uint64_t *v = (const uint64_t *)&sum;
    size_t n = sizeof(sum) / sizeof(uint64_t);
    for (size_t i = 0; i < n; ++i) {
        if (v[i] != 0) {
            fprintf(stderr, "  counter %-28s %" PRIu64 "\n",
                    i < sizeof(names) / sizeof(names[0]) ? names[i] : "?", v[i]);
        }
    }
    fprintf(stderr,
            "  sim     frames_on_closed %" PRIu64 " peer_down_notes %" PRIu64
            " dials_failed %" PRIu64 " handshakes %" PRIu64 " initials_lost %" PRIu64
            " handshake_closes %" PRIu64 "\n",
            st->frames_on_closed, st->peer_down_notes, st->dials_failed, st->handshakes,
            st->initials_lost, st->handshake_closes);
    if (st->ref_closes_ignored + st->ref_dials_unreported + st->ref_quit_dropped > 0) {
        fprintf(stderr,
                "  sim     reference I/O: closes ignored %" PRIu64 ", dials unreported %" PRIu64
                ", frames stuck %" PRIu64 ", quit frames dropped %" PRIu64 "\n",
                st->ref_closes_ignored, st->ref_dials_unreported, st->ref_frames_stuck,
                st->ref_quit_dropped);
    }
    fprintf(stderr,
            "  sim     NeighborDown %" PRIu64 ": evicted %" PRIu64 ", peer left alive %" PRIu64
            ", peer quit %" PRIu64 ", connection lost %" PRIu64 "\n",
            st->neighbor_down, st->down_reason[0], st->down_reason[1], st->down_reason[2],
            st->down_reason[3]);
}

int main(int argc, char **argv)
{
    cli c;
    gs_sim_scenario sc = GS_SIM_SINGLE;
    uint64_t peers = 100, seed = 0, rounds = 0, lat_min = 10, lat_max = 100, loss = 0;
    uint64_t payload = 32, part_s = 20, heal_s = 3, warm_s = 60, quiet_s = UINT64_MAX;
    uint64_t init_loss = 0;
    double kill = -1, ref_frac = 0;
    bool handshake = false;
    const char *policy = "default";
    uint64_t prune_dups = 0, eager_all = UINT64_MAX, graft_near_ms = 0;
    uint64_t dial_allow_ms = UINT64_MAX, rtt_factor = 0;
    bool have_rounds = false, trace = false, literal = false, staggered = false;
    bool counters = false;
    uint64_t ref_compat = GS_COMPAT_ALL, ref_io = GS_SIM_REF_ALL;

    memset(&c, 0, sizeof(c));
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--json") == 0) {
            c.json = true;
            continue;
        } else if (strcmp(a, "--quiet") == 0) {
            c.quiet = true;
            continue;
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
            continue;
        } else if (strcmp(a, "--literal-close") == 0) {
            literal = true;
            continue;
        } else if (strcmp(a, "--counters") == 0) {
            counters = true;
            continue;
        } else if (strcmp(a, "--dial-handshake") == 0) {
            handshake = true;
            continue;
        } else if (strcmp(a, "--initial-loss-ppm") == 0) {
            ok = parse_u64(v, &init_loss) && init_loss <= 1000000;
            handshake = true;
        } else if (strcmp(a, "--ref-fraction") == 0) {
            ok = parse_double(v, &ref_frac) && ref_frac >= 0 && ref_frac <= 1;
        } else if (strcmp(a, "--ref-compat") == 0) {
            ok = parse_u64(v, &ref_compat) && (ref_compat & ~(uint64_t)GS_COMPAT_ALL) == 0;
        } else if (strcmp(a, "--ref-io") == 0) {
            ok = parse_u64(v, &ref_io) && (ref_io & ~(uint64_t)GS_SIM_REF_ALL) == 0;
        } else if (strcmp(a, "--prune-dups") == 0) {
            ok = parse_u64(v, &prune_dups) && prune_dups >= 1 && prune_dups <= UINT16_MAX;
        } else if (strcmp(a, "--eager-all") == 0) {
            ok = parse_u64(v, &eager_all) && eager_all <= 1024;
        } else if (strcmp(a, "--graft-near-ms") == 0) {
            ok = parse_u64(v, &graft_near_ms) && graft_near_ms >= 1 && graft_near_ms <= 60000;
        } else if (strcmp(a, "--dial-allowance-ms") == 0) {
            ok = parse_u64(v, &dial_allow_ms) && dial_allow_ms <= 600000;
        } else if (strcmp(a, "--rtt-factor") == 0) {
            ok = parse_u64(v, &rtt_factor) && rtt_factor >= 1 && rtt_factor <= 100;
        } else if (strcmp(a, "--quiet-s") == 0) {
            ok = parse_u64(v, &quiet_s) && quiet_s <= 86400 * 7;
        } else if (strcmp(a, "--policy") == 0) {
            ok = v != NULL && (strcmp(v, "default") == 0 || strcmp(v, "reference") == 0 ||
                               strcmp(v, "ours") == 0);
            policy = v;
        } else if (strcmp(a, "--bootstrap") == 0) {
            ok = v != NULL && (strcmp(v, "single") == 0 || strcmp(v, "staggered") == 0);
            staggered = ok && strcmp(v, "staggered") == 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--peers") == 0) {
            ok = parse_u64(v, &peers);
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_u64(v, &seed);
        } else if (strcmp(a, "--rounds") == 0) {
            ok = parse_u64(v, &rounds);
            have_rounds = true;
        } else if (strcmp(a, "--latency-min-ms") == 0) {
            ok = parse_u64(v, &lat_min);
        } else if (strcmp(a, "--latency-max-ms") == 0) {
            ok = parse_u64(v, &lat_max);
        } else if (strcmp(a, "--loss-ppm") == 0) {
            ok = parse_u64(v, &loss) && loss <= 1000000;
        } else if (strcmp(a, "--payload") == 0) {
            ok = parse_u64(v, &payload);
        } else if (strcmp(a, "--partition-s") == 0) {
            ok = parse_u64(v, &part_s);
        } else if (strcmp(a, "--heal-wait-s") == 0) {
            ok = parse_u64(v, &heal_s);
        } else if (strcmp(a, "--warmup-s") == 0) {
            ok = parse_u64(v, &warm_s);
        } else if (strcmp(a, "--kill-fraction") == 0) {
            ok = parse_double(v, &kill) && kill >= 0 && kill < 1;
        } else if (strcmp(a, "--scenario") == 0) {
            ok = v != NULL && gs_sim_scenario_parse(v, &sc) == 0;
        } else {
            fprintf(stderr, "gossip-sim: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "gossip-sim: bad or missing value for %s\n", a);
            usage(stderr);
            return 2;
        }
        ++i;
    }
    if (peers < 2 || peers > GS_SIM_MAX_PEERS || lat_max < lat_min || lat_max > 60000 ||
        payload < GS_SIM_PAYLOAD_MIN || payload > 4000 || part_s > 86400 || heal_s > 86400 ||
        warm_s > 86400 || (have_rounds && (rounds == 0 || rounds > 1000000))) {
        fprintf(stderr,
                "gossip-sim: out-of-range argument (peers 2..%d, latency-min <= "
                "latency-max <= 60000 ms, payload %d..4000, rounds >= 1)\n",
                GS_SIM_MAX_PEERS, GS_SIM_PAYLOAD_MIN);
        return 2;
    }

    gs_sim_run_cfg_default(&c.rc, sc);
    c.rc.sim.npeers = (size_t)peers;
    c.rc.sim.seed = seed;
    c.rc.sim.latency_min = lat_min * GS_MILLISECONDS;
    c.rc.sim.latency_max = lat_max * GS_MILLISECONDS;
    c.rc.sim.loss_ppm = (uint32_t)loss;
    c.rc.sim.payload_len = (size_t)payload;
    c.rc.sim.trace = trace;
    c.rc.sim.literal_close = literal;
    c.rc.sim.dial_handshake = handshake;
    c.rc.sim.initial_loss_ppm = (uint32_t)init_loss;
    c.rc.sim.ref_fraction = ref_frac;
    c.rc.sim.ref_node.compat = (uint32_t)ref_compat;
    c.rc.sim.ref_io = (uint32_t)ref_io;
    if (quiet_s != UINT64_MAX) {
        c.rc.quiet_time = quiet_s * GS_SECONDS;
    }
    if (!apply_policy(&c.rc.sim.node, policy)) {
        fprintf(stderr, "gossip-sim: unknown policy '%s'\n", policy);
        return 2;
    }
    if (prune_dups != 0) {
        c.rc.sim.node.prune_dup_threshold = (uint16_t)prune_dups;
    }
    if (eager_all != UINT64_MAX) {
        c.rc.sim.node.eager_all_max = (size_t)eager_all;
    }
    if (dial_allow_ms != UINT64_MAX) {
        c.rc.sim.node.dial_allowance = dial_allow_ms * GS_MILLISECONDS;
    }
    if (rtt_factor != 0) {
        c.rc.sim.node.rtt_timeout_factor = (uint16_t)rtt_factor;
    }
    if (graft_near_ms != 0) {
        c.rc.sim.node.graft_timeout_near = graft_near_ms * GS_MILLISECONDS;
    }
    c.rc.staggered_bootstrap = staggered;
    c.rc.sim.progress = on_progress;
    c.rc.sim.progress_ud = &c;
    if (have_rounds) {
        c.rc.rounds = (size_t)rounds;
    }
    if (kill >= 0) {
        c.rc.kill_fraction = kill;
    }
    c.rc.partition_time = part_s * GS_SECONDS;
    c.rc.heal_wait = heal_s * GS_SECONDS;
    c.rc.crash_warmup = warm_s * GS_SECONDS;
    c.rc.round_done = on_round;
    c.rc.round_ud = &c;
    c.tty = isatty(fileno(stderr)) == 1;
    c.phase = "setup";
    c.rounds_total = c.rc.rounds;
    c.start_wall = wall_now();

    gs_sim_report rep;
    gs_sim *sim = NULL;
    int rv = gs_sim_run_scenario(&c.rc, &rep, counters ? &sim : NULL);
    double wall = wall_now() - c.start_wall;
    if (c.tty && !c.quiet) {
        fprintf(stderr, "\r\033[K");
    }
    if (rv != 0) {
        fprintf(stderr, "gossip-sim: simulation failed: %s\n", gs_strerror(rv));
        return 1;
    }
    if (sim != NULL) {
        print_counters(sim);
        gs_sim_del(sim);
    }
    double eps = wall > 0 ? (double)rep.stats.node_events / wall : 0;
    double ttd_ms = (double)rep.max_ttd / 1e6;

    if (!c.json || !c.quiet) {
        const char *what = "";
        switch (sc) {
        case GS_SIM_SINGLE:
            what = "one fixed sender, 1 message per round";
            break;
        case GS_SIM_MULTI:
            what = "a random sender per round, 1 message";
            break;
        case GS_SIM_BURST:
            what = "every node sends 1 message per round";
            break;
        case GS_SIM_CHURN:
            what = "crashes, graceful leaves and restarts before every round";
            break;
        case GS_SIM_PARTITION:
            what = "rounds before, during and after a two-way partition";
            break;
        case GS_SIM_QUIET:
            what = "bootstrap, then a quiet period without broadcasts";
            break;
        }
        printf("gossip-sim: %s scenario (%s)\n", gs_sim_scenario_name(sc), what);
        printf("  swarm           %" PRIu64 " peers, seed %" PRIu64 ", latency %" PRIu64 "-%" PRIu64
               " ms per pair, %zu measured rounds\n",
               peers, seed, lat_min, lat_max, rep.rounds);
        if (staggered) {
            printf("  bootstrap       peer 0 alone, then one peer per ms joins a random earlier "
                   "one; isolated afterwards: %zu\n",
                   rep.isolated_after_boot);
        } else {
            printf("  bootstrap       peer 0 alone, peers 1..%" PRIu64
                   " join it; isolated afterwards: %zu\n",
                   peers - 1, rep.isolated_after_boot);
        }
        if (rep.crashed + rep.left + rep.restarted > 0) {
            printf("  faults          %zu crashed, %zu left gracefully, %zu restarted; %zu up at "
                   "the end\n",
                   rep.crashed, rep.left, rep.restarted, rep.nup_at_end);
        }
        if (sc == GS_SIM_PARTITION) {
            printf("  while split     %.3f %% delivered inside each side (not in the figures)\n",
                   rep.split_delivery_ratio * 100);
        }
        printf("  delivery        %.4f %% (%" PRIu64 " missed in total, %.2f per round)\n",
               rep.delivery_ratio * 100, rep.missed_total, rep.missed);
        printf("  RMR             %.4f reference P/(E-M-1)-1, %.4f paper m/(n-1)-1\n", rep.rmr,
               rep.rmr_paper);
        printf("  LDH             %.2f (largest round of a first delivery, averaged)\n", rep.ldh);
        printf("  time to deliver p50 %.1f ms, p99 %.1f ms, max %.1f ms per delivery\n",
               (double)rep.lat_p50 / 1e6, (double)rep.lat_p99 / 1e6, ttd_ms);
        printf("  stretch         p50 %.3f, p99 %.3f, max %.3f (latency / shortest overlay "
               "path)\n",
               rep.stretch_p50, rep.stretch_p99, rep.stretch_max);
        printf("  graft path      %.3f %% of deliveries (%" PRIu64 ")\n", rep.graft_share * 100,
               rep.graft_deliveries);
        printf("  membership      bootstrap: %" PRIu64 " NeighborDown, %" PRIu64
               " disconnects; afterwards: %" PRIu64 " NeighborDown, %" PRIu64 " disconnects\n",
               rep.boot_neighbor_down, rep.boot_disconnects, rep.after_neighbor_down,
               rep.after_disconnects);
        const gs_sim_views *vb = &rep.views_boot, *ve = &rep.views_end;
        printf("  overlay         after bootstrap: %zu component(s), %.2f neighbours per node, "
               "%zu asymmetric links\n",
               vb->components, vb->nodes ? (double)vb->links / (double)vb->nodes : 0.0,
               vb->asymmetric);
        printf("                  at the end: %zu component(s), %.2f neighbours per node, %zu "
               "asymmetric, %zu to dead nodes, %zu isolated\n",
               ve->components, ve->nodes ? (double)ve->links / (double)ve->nodes : 0.0,
               ve->asymmetric, ve->dead_links, rep.isolated_at_end);
        printf("  node memory     %.1f KiB average, %.1f KiB max (gs_node_mem_in_use)\n",
               ve->nodes ? (double)ve->mem_total / (double)ve->nodes / 1024 : 0.0,
               (double)ve->mem_max / 1024);
        printf("  network         %" PRIu64 " frames (%" PRIu64 " bytes), %" PRIu64
               " lost, %" PRIu64 " rejected\n",
               rep.stats.frames_sent, rep.stats.frame_bytes, rep.stats.frames_lost,
               rep.stats.frames_rejected);
        printf("  simulator       %.1f s simulated in %.2f s wall, %" PRIu64
               " node events, %.3f M node events/s\n",
               (double)rep.sim_time / 1e9, wall, rep.stats.node_events, eps / 1e6);
    }
    if (c.json) {
        /* The trace is digested only with --trace: without it there is no hash to report. */
        char trace_json[24] = "null";
        if (c.rc.sim.trace) {
            snprintf(trace_json, sizeof(trace_json), "\"%016" PRIx64 "\"", rep.trace_hash);
        }
        /* Mixed swarms only (other runs keep their JSON as it was): the connections open at the
         * end and the reference nodes' I/O model (docs/sim.md). */
        char ref_json[320] = "";
        if (ref_frac > 0) {
            snprintf(ref_json, sizeof(ref_json),
                     "\"open_conns\":%zu,\"unused_conns\":%zu,\"ref_closes_ignored\":%" PRIu64
                     ",\"ref_dials_unreported\":%" PRIu64 ",\"ref_frames_stuck\":%" PRIu64
                     ",\"ref_quit_dropped\":%" PRIu64 ",",
                     rep.conns_end.open, rep.conns_end.unused, rep.stats.ref_closes_ignored,
                     rep.stats.ref_dials_unreported, rep.stats.ref_frames_stuck,
                     rep.stats.ref_quit_dropped);
        }
        printf(
            "{\"peers\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"scenario\":\"%s\",\"rounds\":%zu,"
            "\"latency_min_ms\":%" PRIu64 ",\"latency_max_ms\":%" PRIu64 ",\"kill_fraction\":%.4f,"
            "\"rmr\":%.6f,\"rmr_paper\":%.6f,\"ldh\":%.4f,\"missed\":%.4f,"
            "\"missed_total\":%" PRIu64 ",\"delivery_ratio\":%.6f,"
            "\"max_time_to_deliver_ms\":%.3f,\"isolated_nodes\":%zu,"
            "\"isolated_at_end\":%zu,\"nodes_up\":%zu,\"crashed\":%zu,\"left\":%zu,"
            "\"restarted\":%zu,\"split_delivery_ratio\":%.6f,\"sim_time_s\":%.3f,"
            "\"frames\":%" PRIu64 ",\"frames_lost\":%" PRIu64 ",\"frames_rejected\":%" PRIu64
            ",\"node_events\":%" PRIu64 ",\"wall_s\":%.3f,\"events_per_s\":%.0f,"
            "\"components\":%zu,\"asymmetric_links\":%zu,\"dead_links\":%zu,"
            "\"neighbors_avg\":%.3f,\"handshake_closes\":%" PRIu64 ","
            "\"node_mem_avg_bytes\":%zu,\"node_mem_max_bytes\":%zu,"
            "\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f,"
            "\"stretch_p50\":%.4f,\"stretch_p99\":%.4f,\"stretch_max\":%.4f,"
            "\"graft_share\":%.6f,\"graft_deliveries\":%" PRIu64 ","
            "\"boot_neighbor_down\":%" PRIu64 ",\"boot_disconnects\":%" PRIu64 ","
            "\"after_neighbor_down\":%" PRIu64 ",\"after_disconnects\":%" PRIu64 ","
            "\"policy\":\"%s\",\"ref_fraction\":%.4f,\"dial_handshake\":%s,"
            "%s\"trace_hash\":%s}\n",
            peers, seed, gs_sim_scenario_name(sc), rep.rounds, lat_min, lat_max, c.rc.kill_fraction,
            rep.rmr, rep.rmr_paper, rep.ldh, rep.missed, rep.missed_total, rep.delivery_ratio,
            ttd_ms, rep.isolated_after_boot, rep.isolated_at_end, rep.nup_at_end, rep.crashed,
            rep.left, rep.restarted, rep.split_delivery_ratio, (double)rep.sim_time / 1e9,
            rep.stats.frames_sent, rep.stats.frames_lost, rep.stats.frames_rejected,
            rep.stats.node_events, wall, eps, rep.views_end.components, rep.views_end.asymmetric,
            rep.views_end.dead_links,
            rep.views_end.nodes ? (double)rep.views_end.links / (double)rep.views_end.nodes : 0.0,
            rep.stats.handshake_closes,
            rep.views_end.nodes ? rep.views_end.mem_total / rep.views_end.nodes : 0,
            rep.views_end.mem_max, (double)rep.lat_p50 / 1e6, (double)rep.lat_p99 / 1e6, ttd_ms,
            rep.stretch_p50, rep.stretch_p99, rep.stretch_max, rep.graft_share,
            rep.graft_deliveries, rep.boot_neighbor_down, rep.boot_disconnects,
            rep.after_neighbor_down, rep.after_disconnects, policy, ref_frac,
            c.rc.sim.dial_handshake ? "true" : "false", ref_json, trace_json);
    }
    return 0;
}
