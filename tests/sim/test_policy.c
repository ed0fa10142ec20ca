/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c: simulator tests of the latency figures (per-delivery percentiles, graft-path
 * share, stretch), the first-contact model, mixed swarms, and the targets of the broadcast and
 * timeout policies (GS_BCAST_MANY, rtt_timeouts; docs/proto.md "Policies").  Suites sim_small
 * (every build) and sim_big (label noasan) as in test_sim.c.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "sim.h"

static void views_sane(const gs_sim_views *v, const char *what)
{
    cr_expect(eq(sz, v->self_links, 0), "%s: a node lists itself or an unknown id", what);
    cr_expect(eq(sz, v->bad_eager_lazy, 0), "%s: eager/lazy not a partition", what);
    cr_expect(eq(sz, v->over_capacity, 0), "%s: active view above capacity", what);
    cr_expect(eq(sz, v->components, 1), "%s: overlay split into %zu components", what,
              v->components);
}

static void run_ok(const gs_sim_run_cfg *rc, gs_sim_report *rep)
{
    int rv = gs_sim_run_scenario(rc, rep, NULL);
    cr_assert(eq(int, rv, 0), "scenario %s failed: %s", gs_sim_scenario_name(rc->scenario),
              gs_strerror(rv));
    views_sane(&rep->views_boot, "after bootstrap");
    views_sane(&rep->views_end, "at the end");
    cr_expect(eq(u64, rep->stats.frames_rejected, 0), "a node rejected a frame");
    cr_expect(eq(u64, rep->stats.encode_errors, 0), "a SEND could not be encoded");
    cr_expect(eq(u64, rep->stats.bad_dest, 0), "a command named an unknown peer");
}

static void log_rep(const char *what, const gs_sim_run_cfg *rc, const gs_sim_report *rep)
{
    cr_log_info(
        "%s %s peers=%zu seed=%llu lat=%llu-%llu ms: rmr=%.3f graft=%.4f p50=%.1f ms "
        "p99=%.1f ms stretch p99=%.3f missed=%llu boot ND=%llu DC=%llu after ND=%llu "
        "DC=%llu",
        what, gs_sim_scenario_name(rc->scenario), rc->sim.npeers, (unsigned long long)rc->sim.seed,
        (unsigned long long)(rc->sim.latency_min / GS_MILLISECONDS),
        (unsigned long long)(rc->sim.latency_max / GS_MILLISECONDS), rep->rmr, rep->graft_share,
        (double)rep->lat_p50 / 1e6, (double)rep->lat_p99 / 1e6, rep->stretch_p99,
        (unsigned long long)rep->missed_total, (unsigned long long)rep->boot_neighbor_down,
        (unsigned long long)rep->boot_disconnects, (unsigned long long)rep->after_neighbor_down,
        (unsigned long long)rep->after_disconnects);
}

/* --- the figures themselves --- */

/* A 3-node mesh with 10 ms links: both deliveries come straight from the sender after 10 ms,
 * along the shortest path (stretch 1), without a Graft. */
Test(sim_small, latency_figures_on_a_mesh)
{
    gs_sim_cfg cfg;
    gs_sim *sim;
    gs_sim_round_stats st;
    size_t zero = 0;

    gs_sim_cfg_default(&cfg);
    cfg.npeers = 3;
    cfg.latency_min = cfg.latency_max = 10 * GS_MILLISECONDS;
    cr_assert(eq(int, gs_sim_new(&sim, &cfg), 0));
    cr_assert(eq(int, gs_sim_bootstrap(sim), 0));
    cr_assert(eq(int, gs_sim_round(sim, &zero, 1, 5 * GS_SECONDS, &st), 0));
    cr_assert(eq(u64, st.delivered, 2));
    /* Percentiles are upper edges of 0.1 ms buckets. */
    cr_expect(ge(u64, st.lat_p50, 10 * GS_MILLISECONDS));
    cr_expect(le(u64, st.lat_p99, 10 * GS_MILLISECONDS + 100 * GS_MICROSECONDS));
    cr_expect(eq(u64, st.stretch_n, 2));
    cr_expect(ge(dbl, st.stretch_p50, 1.0));
    cr_expect(le(dbl, st.stretch_p99, 1.001));
    cr_expect(eq(dbl, st.stretch_max, 1.0));
    cr_expect(eq(u64, st.graft_deliveries, 0));
    gs_sim_del(sim);
}

/* The reference policy, many publishers: the figures show the repair path (a sizable share of
 * deliveries through IHave -> graft timer -> Graft, stretched latency). */
Test(sim_small, reference_policy_shows_the_graft_path)
{
    gs_sim_run_cfg rc;
    gs_sim_report rep;

    gs_sim_run_cfg_default(&rc, GS_SIM_BURST);
    rc.sim.seed = 0;
    run_ok(&rc, &rep);
    log_rep("reference", &rc, &rep);
    cr_expect(gt(dbl, rep.graft_share, 0.10));
    cr_expect(gt(dbl, rep.stretch_p99, 2.0));
    cr_expect(gt(u64, rep.lat_p99, rep.lat_p50));
    cr_expect(eq(u64, rep.missed_total, 0));
}

/* --- first contact --- */

/* With the handshake model a first frame waits one round trip: a Join over 50 ms links reaches
 * the contact at 150 ms instead of 50 ms; the answer travels on the open connection (50 ms). */
Test(sim_small, first_contact_costs_a_round_trip)
{
    gs_sim_cfg cfg;
    gs_sim *sim;
    size_t zero = 0;

    gs_sim_cfg_default(&cfg);
    cfg.npeers = 2;
    cfg.latency_min = cfg.latency_max = 50 * GS_MILLISECONDS;
    cfg.dial_handshake = true;
    cr_assert(eq(int, gs_sim_new(&sim, &cfg), 0));
    cr_assert(eq(int, gs_sim_start(sim, 0, NULL, 0), 0));
    cr_assert(eq(int, gs_sim_start(sim, 1, &zero, 1), 0));
    cr_assert(eq(int, gs_sim_run_until(sim, 149 * GS_MILLISECONDS), 0));
    cr_assert(eq(sz, gs_sim_active_count(sim, 0), 0));
    cr_assert(eq(int, gs_sim_run_until(sim, 150 * GS_MILLISECONDS), 0));
    cr_assert(eq(sz, gs_sim_active_count(sim, 0), 1));
    cr_assert(eq(sz, gs_sim_active_count(sim, 1), 0));
    cr_assert(eq(int, gs_sim_run_until(sim, 200 * GS_MILLISECONDS), 0));
    cr_assert(eq(sz, gs_sim_active_count(sim, 1), 1));
    cr_expect(eq(u64, gs_sim_stats_get(sim)->handshakes, 1));
    gs_sim_del(sim);
}

/* A lost Initial costs initial_pto more. */
Test(sim_small, lost_initial_costs_a_pto)
{
    gs_sim_cfg cfg;
    gs_sim *sim;
    size_t zero = 0;

    gs_sim_cfg_default(&cfg);
    cfg.npeers = 2;
    cfg.latency_min = cfg.latency_max = 50 * GS_MILLISECONDS;
    cfg.dial_handshake = true;
    cfg.initial_loss_ppm = 1000000;
    cr_assert(eq(int, gs_sim_new(&sim, &cfg), 0));
    cr_assert(eq(int, gs_sim_start(sim, 0, NULL, 0), 0));
    cr_assert(eq(int, gs_sim_start(sim, 1, &zero, 1), 0));
    cr_assert(eq(int, gs_sim_run_until(sim, 1149 * GS_MILLISECONDS), 0));
    cr_assert(eq(sz, gs_sim_active_count(sim, 0), 0));
    cr_assert(eq(int, gs_sim_run_until(sim, 1150 * GS_MILLISECONDS), 0));
    cr_assert(eq(sz, gs_sim_active_count(sim, 0), 1));
    cr_expect(eq(u64, gs_sim_stats_get(sim)->initials_lost, 1));
    gs_sim_del(sim);
}

/* --- mixed swarms --- */

/* ref_fraction picks exactly round(f x n) reference nodes, the same ones for a seed. */
Test(sim_small, ref_fraction_picks_exact_count)
{
    gs_sim_cfg cfg;
    gs_sim *a, *b;

    gs_sim_cfg_default(&cfg);
    cfg.npeers = 100;
    cfg.ref_fraction = 0.3;
    cr_assert(eq(int, gs_sim_new(&a, &cfg), 0));
    cr_assert(eq(int, gs_sim_new(&b, &cfg), 0));
    size_t n = 0;
    for (size_t i = 0; i < 100; ++i) {
        n += gs_sim_is_ref(a, i);
        cr_expect(eq(int, gs_sim_is_ref(a, i), gs_sim_is_ref(b, i)));
    }
    cr_expect(eq(sz, n, 30));
    gs_sim_del(a);
    gs_sim_del(b);
    cfg.ref_fraction = 1.5;
    cr_expect(eq(int, gs_sim_new(&a, &cfg), GS_ERR_INVAL));
}

/* --- the many-publishers policy: issue targets at 100 peers, 10-100 ms, seeds 0-9 --- */

static void many_cfg(gs_sim_run_cfg *rc, gs_sim_scenario sc, uint64_t seed)
{
    gs_sim_run_cfg_default(rc, sc);
    rc->sim.seed = seed;
    rc->sim.dial_handshake = true;
    rc->sim.initial_loss_ppm = 10000;
    gs_node_cfg_many_publishers(&rc->sim.node);
}

static void many_targets(uint64_t seed)
{
    const gs_sim_scenario scs[] = {GS_SIM_MULTI, GS_SIM_BURST};

    for (size_t j = 0; j < 2; ++j) {
        gs_sim_run_cfg rc;
        gs_sim_report rep;
        many_cfg(&rc, scs[j], seed);
        run_ok(&rc, &rep);
        log_rep("many", &rc, &rep);
        const char *sc = gs_sim_scenario_name(scs[j]);
        cr_expect(le(dbl, rep.graft_share, 0.01), "%s seed %llu: graft share %.4f", sc,
                  (unsigned long long)seed, rep.graft_share);
        cr_expect(le(dbl, rep.stretch_p99, 1.5), "%s seed %llu: p99 stretch %.3f", sc,
                  (unsigned long long)seed, rep.stretch_p99);
        cr_expect(eq(u64, rep.missed_total, 0), "%s seed %llu", sc, (unsigned long long)seed);
        cr_expect(le(dbl, rep.rmr, 3.0), "%s seed %llu: RMR %.3f", sc, (unsigned long long)seed,
                  rep.rmr);
    }
}

/* Seeds 0-1 in every build, 2-9 in sim_big (ASan would take minutes). */
#define MANY_SEED(suite, s)                                                                        \
    Test(suite, many_publishers_targets_seed_##s)                                                  \
    {                                                                                              \
        many_targets(s);                                                                           \
    }
MANY_SEED(sim_small, 0)
MANY_SEED(sim_small, 1)
MANY_SEED(sim_big, 2)
MANY_SEED(sim_big, 3)
MANY_SEED(sim_big, 4)
MANY_SEED(sim_big, 5)
MANY_SEED(sim_big, 6)
MANY_SEED(sim_big, 7)
MANY_SEED(sim_big, 8)
MANY_SEED(sim_big, 9)

/* A backbone: half the nodes run the policy, the rest behave as the reference.  Everything is
 * delivered, and the repair path is rarer than in an all-reference swarm of the same seed. */
Test(sim_small, many_publishers_backbone_half)
{
    gs_sim_run_cfg rc;
    gs_sim_report mixed, ref;

    many_cfg(&rc, GS_SIM_BURST, 0);
    rc.sim.ref_fraction = 0.5;
    run_ok(&rc, &mixed);
    log_rep("backbone-0.5", &rc, &mixed);
    rc.sim.ref_fraction = 1.0;
    run_ok(&rc, &ref);
    log_rep("backbone-1.0", &rc, &ref);
    cr_expect(eq(u64, mixed.missed_total, 0));
    cr_expect(eq(u64, ref.missed_total, 0));
    cr_expect(lt(dbl, mixed.graft_share, ref.graft_share * 0.75), "%.4f vs %.4f", mixed.graft_share,
              ref.graft_share);
    cr_expect(lt(u64, mixed.lat_p50, ref.lat_p50));
}

/* The policy at 1,000 peers (seed 0): the same targets. */
Test(sim_big, many_publishers_1000_peers)
{
    gs_sim_run_cfg rc;
    gs_sim_report rep;

    many_cfg(&rc, GS_SIM_MULTI, 0);
    rc.sim.npeers = 1000;
    run_ok(&rc, &rep);
    log_rep("many-1000", &rc, &rep);
    cr_expect(le(dbl, rep.graft_share, 0.01));
    cr_expect(le(dbl, rep.stretch_p99, 1.5));
    cr_expect(eq(u64, rep.missed_total, 0));
    cr_expect(le(dbl, rep.rmr, 3.0));
}

/* --- wide-area links: membership churn per latency band (sums over seeds 0-9) --- */

typedef struct band_sum {
    uint64_t boot_nd, boot_dc, hour_nd, hour_dc;
    uint64_t handshake_closes;
} band_sum;

static void quiet_band(gs_duration lo, gs_duration hi, bool ours, uint64_t nseeds,
                       gs_duration quiet, band_sum *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (uint64_t seed = 0; seed < nseeds; ++seed) {
        gs_sim_run_cfg rc;
        gs_sim_report rep;
        gs_sim_run_cfg_default(&rc, GS_SIM_QUIET);
        rc.quiet_time = quiet;
        rc.sim.seed = seed;
        rc.sim.latency_min = lo;
        rc.sim.latency_max = hi;
        rc.sim.dial_handshake = true;
        rc.sim.initial_loss_ppm = 10000;
        if (ours) {
            gs_node_cfg_many_publishers(&rc.sim.node);
        }
        run_ok(&rc, &rep);
        cr_expect(eq(sz, rep.isolated_at_end, 0), "seed %llu", (unsigned long long)seed);
        sum->boot_nd += rep.boot_neighbor_down;
        sum->boot_dc += rep.boot_disconnects;
        sum->hour_nd += rep.after_neighbor_down;
        sum->hour_dc += rep.after_disconnects;
        sum->handshake_closes += rep.stats.handshake_closes;
    }
    cr_log_info("quiet %llu-%llu ms %s: bootstrap %llu NeighborDown %llu disconnects, then "
                "%llu NeighborDown %llu disconnects (%llu seeds)",
                (unsigned long long)(lo / GS_MILLISECONDS),
                (unsigned long long)(hi / GS_MILLISECONDS), ours ? "ours" : "default",
                (unsigned long long)sum->boot_nd, (unsigned long long)sum->boot_dc,
                (unsigned long long)sum->hour_nd, (unsigned long long)sum->hour_dc,
                (unsigned long long)nseeds);
}

/* within_1_2: |x| <= 1.2 x |base| (a quiet hour's NeighborDown count is a handful, so a small
 * absolute slack of 10 events over ten seeds is allowed on top). */
static void within_1_2(uint64_t x, uint64_t base, const char *what)
{
    cr_expect(le(u64, x * 10, base * 12 + 100), "%s: %llu vs %llu at 10-100 ms", what,
              (unsigned long long)x, (unsigned long long)base);
}

/* wide_area_case: bootstrap and a quiet period of |quiet| at 10-100, 100-300 and 300-900 ms
 * one-way latency (first contacts cost a handshake, 1 % of Initials are lost), seeds
 * 0..nseeds-1: NeighborDown and disconnect counts of the slow bands within 1.2x of 10-100 ms,
 * and 10-100 ms no worse than with the default timeouts. */
static void wide_area_case(uint64_t nseeds, gs_duration quiet)
{
    band_sum b10, b100, b300, d10;

    quiet_band(10 * GS_MILLISECONDS, 100 * GS_MILLISECONDS, true, nseeds, quiet, &b10);
    quiet_band(100 * GS_MILLISECONDS, 300 * GS_MILLISECONDS, true, nseeds, quiet, &b100);
    quiet_band(300 * GS_MILLISECONDS, 900 * GS_MILLISECONDS, true, nseeds, quiet, &b300);
    quiet_band(10 * GS_MILLISECONDS, 100 * GS_MILLISECONDS, false, nseeds, quiet, &d10);
    within_1_2(b100.boot_nd, b10.boot_nd, "100-300 bootstrap NeighborDown");
    within_1_2(b100.boot_dc, b10.boot_dc, "100-300 bootstrap disconnects");
    within_1_2(b100.hour_nd, b10.hour_nd, "100-300 quiet-hour NeighborDown");
    within_1_2(b100.hour_dc, b10.hour_dc, "100-300 quiet-hour disconnects");
    within_1_2(b300.boot_nd, b10.boot_nd, "300-900 bootstrap NeighborDown");
    within_1_2(b300.boot_dc, b10.boot_dc, "300-900 bootstrap disconnects");
    within_1_2(b300.hour_nd, b10.hour_nd, "300-900 quiet-hour NeighborDown");
    within_1_2(b300.hour_dc, b10.hour_dc, "300-900 quiet-hour disconnects");
    /* Connections are (almost) never closed while their handshake runs: a handful per run, where
     * the default timeouts close thousands at 300-900 ms (docs/proto.md). */
    cr_expect(le(u64, b300.handshake_closes, 10 * nseeds), "%llu closes during a handshake",
              (unsigned long long)b300.handshake_closes);
    cr_expect(le(u64, b100.handshake_closes, 10 * nseeds), "%llu closes during a handshake",
              (unsigned long long)b100.handshake_closes);
    /* No regression at 10-100 ms against the default timeouts. */
    cr_expect(le(u64, b10.boot_nd, d10.boot_nd));
    cr_expect(le(u64, b10.boot_dc, d10.boot_dc));
    cr_expect(le(u64, b10.hour_dc * 100, d10.hour_dc * 102));
}

/* The figure: seeds 0-9, a quiet hour. */
Test(sim_big, wide_area_membership_is_calm)
{
    wide_area_case(10, 3600 * GS_SECONDS);
}

/* The small twin: seeds 0-9, two quiet minutes (two shuffle rounds). */
Test(sim_small, wide_area_membership_is_calm_small)
{
    wide_area_case(10, 120 * GS_SECONDS);
}

/* Broadcasts over wide-area links with the policies: nothing missed. */
Test(sim_small, wide_area_broadcasts_are_complete)
{
    const gs_duration bands[][2] = {{100, 300}, {300, 900}};

    for (size_t b = 0; b < 2; ++b) {
        for (uint64_t seed = 0; seed < 3; ++seed) {
            gs_sim_run_cfg rc;
            gs_sim_report rep;
            many_cfg(&rc, seed == 2 ? GS_SIM_BURST : GS_SIM_MULTI, seed);
            rc.rounds = 10;
            rc.sim.latency_min = bands[b][0] * GS_MILLISECONDS;
            rc.sim.latency_max = bands[b][1] * GS_MILLISECONDS;
            run_ok(&rc, &rep);
            log_rep("wide-area", &rc, &rep);
            cr_expect(eq(u64, rep.missed_total, 0));
            cr_expect(eq(sz, rep.isolated_after_boot, 0));
            cr_expect(le(dbl, rep.graft_share, 0.01));
        }
    }
}

/* --- mixed swarms of our nodes (defaults) and reference nodes (gs_node_cfg_reference) --- */

/* The reference nodes' I/O model without D2 (connections never closed), which
 * reference_connections_stay_open measures on its own: D4 (no redial) and D14 (no Disconnects on
 * shutdown). */
#define REF_IO_NO_D2 (GS_SIM_REF_NO_REDIAL | GS_SIM_REF_ABORT_SHUTDOWN)

/* mixed_case: 20 churn rounds (2 %) and a 40 s quiet period at 100 peers with a fraction |f| of
 * reference nodes (every GS_COMPAT_* switch, I/O model |io|): everything delivered, no one-sided
 * or dead link once quiet, nobody isolated, no connection left open that nobody uses.  Adds the
 * reference I/O counters to |*io_seen| and returns the average active view size at the end. */
static double mixed_case(double f, uint64_t seed, uint32_t io, gs_sim_stats *io_seen)
{
    gs_sim_run_cfg rc;
    gs_sim_report rep;

    gs_sim_run_cfg_default(&rc, GS_SIM_CHURN);
    rc.sim.seed = seed;
    rc.sim.ref_fraction = f;
    rc.sim.ref_io = io;
    cr_assert(eq(u32, rc.sim.ref_node.compat, GS_COMPAT_ALL));
    rc.rounds = 20;
    rc.kill_fraction = 0.02;
    rc.quiet_time = 40 * GS_SECONDS;
    run_ok(&rc, &rep);
    log_rep("mixed", &rc, &rep);
    cr_expect(eq(u64, rep.missed_total, 0), "fraction %.2f seed %llu", f, (unsigned long long)seed);
    cr_expect(eq(sz, rep.views_end.asymmetric, 0), "fraction %.2f seed %llu", f,
              (unsigned long long)seed);
    cr_expect(eq(sz, rep.views_end.dead_links, 0), "fraction %.2f seed %llu", f,
              (unsigned long long)seed);
    cr_expect(eq(sz, rep.isolated_at_end, 0), "fraction %.2f seed %llu", f,
              (unsigned long long)seed);
    cr_expect(eq(sz, rep.conns_end.unused, 0), "fraction %.2f seed %llu", f,
              (unsigned long long)seed);
    cr_expect(eq(u64, rep.stats.ref_closes_ignored, 0));
    io_seen->ref_dials_unreported += rep.stats.ref_dials_unreported;
    io_seen->ref_quit_dropped += rep.stats.ref_quit_dropped;
    return (double)rep.views_end.links / (double)rep.views_end.nodes;
}

/* Half and all reference nodes, every protocol switch and the D4/D14 I/O model on: the swarm
 * delivers everything and ends symmetric; all-reference nodes end with fewer neighbours than ours
 * (D3: Neighbor replies stay pending and block refills).  The I/O switches were exercised. */
Test(sim_small, mixed_swarm_with_reference_nodes)
{
    double ours = 0, ref = 0;
    gs_sim_stats seen;

    memset(&seen, 0, sizeof(seen));
    for (uint64_t seed = 0; seed < 3; ++seed) {
        (void)mixed_case(0.5, seed, REF_IO_NO_D2, &seen);
        ours += mixed_case(0.0, seed, REF_IO_NO_D2, &seen);
        ref += mixed_case(1.0, seed, REF_IO_NO_D2, &seen);
    }
    cr_log_info("neighbours per node after churn: ours %.2f, reference %.2f; dials unreported "
                "%llu, quit frames dropped %llu",
                ours / 3, ref / 3, (unsigned long long)seen.ref_dials_unreported,
                (unsigned long long)seen.ref_quit_dropped);
    cr_expect(gt(dbl, ours, ref));
    cr_expect(gt(u64, seen.ref_dials_unreported, 0));
    cr_expect(gt(u64, seen.ref_quit_dropped, 0));
}

/* D2 as the reference: connections are never closed by a reference node.  They pile up (more
 * than one unused connection per node after a quiet minute, none without the switch), and since
 * a Disconnect that crosses the evicted peer's answer to a pending request is then never
 * followed by a close, the evicting node keeps a one-sided link for good (docs/sim.md, "Mixed
 * swarms"): seed 0 leaves the bootstrap contact with only such links, so it misses every
 * message.  Everything else is still delivered. */
Test(sim_small, reference_connections_stay_open)
{
    for (int d2 = 0; d2 < 2; ++d2) {
        gs_sim_run_cfg rc;
        gs_sim_report rep;

        gs_sim_run_cfg_default(&rc, GS_SIM_MULTI);
        rc.sim.seed = 0;
        rc.sim.ref_fraction = 1.0;
        rc.sim.ref_io = d2 ? GS_SIM_REF_ALL : REF_IO_NO_D2;
        rc.rounds = 10;
        rc.quiet_time = 60 * GS_SECONDS;
        run_ok(&rc, &rep);
        log_rep(d2 ? "reference D2" : "reference no D2", &rc, &rep);
        cr_log_info("open connections %zu, unused %zu, closes ignored %llu, asymmetric %zu",
                    rep.conns_end.open, rep.conns_end.unused,
                    (unsigned long long)rep.stats.ref_closes_ignored, rep.views_end.asymmetric);
        if (!d2) {
            cr_expect(eq(sz, rep.conns_end.unused, 0));
            cr_expect(eq(sz, rep.views_end.asymmetric, 0));
            cr_expect(eq(u64, rep.missed_total, 0));
            continue;
        }
        cr_expect(gt(u64, rep.stats.ref_closes_ignored, 0));
        cr_expect(gt(sz, rep.conns_end.unused, rc.sim.npeers));
        cr_expect(gt(sz, rep.views_end.asymmetric, 0));
        cr_expect(eq(u64, rep.missed_total, rc.rounds)); /* one node, every round */
        cr_expect(eq(sz, rep.isolated_at_end, 0));
    }
}
