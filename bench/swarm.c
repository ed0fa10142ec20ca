/* SPDX-License-Identifier: MIT */
/*
 * swarm.c: `gossip-bench swarm`: N real gossipd processes on loopback (in a private network
 * namespace when possible), driven through their control sockets (docs/control.md): every node
 * subscribes to one topic, one or all nodes publish messages that carry their send time, and
 * the generator counts every delivery at every node.  Reports deliveries/s, delivery ratio,
 * duplicates, latency p50/p90/p99/max, CPU per delivery over all node processes and peak RSS per
 * node; --find-max searches the highest offered rate still delivered 100 %.
 *
 * The same driver runs iroh-gossip nodes for --compare iroh: bench/iroh/iroh-node.mjs speaks the
 * same subset of the control protocol (subscribe, publish, received / neighbor events) on a Unix
 * socket, one Node.js process per node.
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include "ops.h"
#include "transport.h"

#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "blake3.h"

#define SW_MAX_NODES  128
#define SW_WINDOW     512 /* outstanding publish requests per publisher connection */
#define SW_HDR        16  /* send time (8), trial (4), index (4) */
#define SW_TOPIC      "gossip-bench-swarm"
#define SW_MAX_TRIALS 16
#define SW_MAX_SET    8 /* --set options passed on to gossipd */
/* gossipd status counters reported for the main run (sw_counters) */
#define SW_NCOUNTERS 8
static const char *const sw_counter_names[SW_NCOUNTERS] = {
    "packets_out",     "datagrams_in",    "engine_turns", "gossip_dropped",
    "drops_announced", "grafts_unserved", "repairs_sent", "control_events_dropped"};

typedef struct sw_opts {
    const char *gossipd;
    const char *node_js; /* --compare iroh: path of bench/iroh/iroh-node.mjs */
    const char *node_bin;
    unsigned nodes;
    unsigned shards;
    bool all_publish;
    uint64_t messages;
    size_t size;
    double rate;
    double seconds; /* find-max: seconds per trial */
    double drain;   /* seconds to wait for stragglers after the last publish */
    bool json;
    bool find_max;
    const char *plot;
    const char *compare;
    bool quiet;
    bool binary; /* --framing binary: the control socket's binary frames (docs/control.md) */
    const char *set[SW_MAX_SET]; /* --set KEY=VALUE: passed to every gossipd as --set */
    unsigned nset;
} sw_opts;

typedef struct sw_node {
    pid_t pid;
    char id[80];
    char addr[80];
    char sock[300];
    char log[300];
    gs_ops_conn sub;
    gs_ops_conn pub;
    unsigned outstanding;
    unsigned neighbors;
    uint8_t *seen; /* bitmap over the trial's message indices */
    double cpu0;
} sw_node;

typedef struct sw {
    sw_opts o;
    char dir[256];
    sw_node n[SW_MAX_NODES];
    unsigned nn;
    uint32_t trial;
    uint64_t trial_msgs;
    const char *impl;
    uint8_t topic_id[32];
} sw;

static void sw_usage(void)
{
    fprintf(
        stderr,
        "usage: gossip-bench swarm [--gossipd PATH] [--nodes N] [--shards S]\n"
        "         [--publishers 1|all] [--messages M] [--size B] [--rate R] [--drain S]\n"
        "         [--find-max [--seconds S]] [--json] [--plot DIR] [--compare iroh]\n"
        "         [--framing json|binary] [--set KEY=VALUE]...\n"
        "  --nodes 10 --shards 1 --publishers 1 --messages 5000 --size 1024 --rate 1000\n"
        "  --rate is messages/s offered over all publishers; --find-max searches the highest\n"
        "  rate delivered 100 %% (trials of --seconds, default 3).  --compare iroh runs the\n"
        "  same scenario with iroh-gossip 0.35 nodes (bench/iroh/iroh-node.mjs, Node.js) too.\n"
        "  --set KEY=VALUE (up to 8) is passed to every gossipd node as --set KEY=VALUE.\n"
        "  Runs inside `unshare -rn` when possible (GS_BENCH_NO_NETNS=1 to stay outside).\n"
        "  For gossipd the report adds the daemons' own counters over the main run (each\n"
        "  node's `status` before and after, summed; JSON daemon_counters): packets, datagrams\n"
        "  and loop turns per message, and where messages were lost (Gossip dropped at\n"
        "  back-pressure, Grafts unserved, events dropped for lagging clients).\n");
}

/* ---- nodes ---- */

static int sw_start_node(sw *s, unsigned i)
{
    sw_node *nd = &s->n[i];
    const char *argv[40];
    size_t a = 0;
    char shards[16];
    char boot[2][200];
    char line[512];
    char topic_hex[65];
    int fd = -1;

    (void)snprintf(nd->sock, sizeof(nd->sock), "%s/n%u.sock", s->dir, i);
    (void)snprintf(nd->log, sizeof(nd->log), "%s/n%u.log", s->dir, i);
    (void)snprintf(shards, sizeof(shards), "%u", s->o.shards);
    if (s->o.node_js != NULL) {
        uint8_t tid[32];

        gs_blake3_hash(SW_TOPIC, strlen(SW_TOPIC), tid);
        gs_bench_hex(tid, 32, topic_hex);
        argv[a++] = s->o.node_bin;
        argv[a++] = s->o.node_js;
        argv[a++] = "--control";
        argv[a++] = nd->sock;
        argv[a++] = "--topic";
        argv[a++] = topic_hex;
    } else {
        argv[a++] = s->o.gossipd;
        argv[a++] = "--listen";
        argv[a++] = "127.0.0.1:0";
        argv[a++] = "--control";
        argv[a++] = nd->sock;
        argv[a++] = "--shards";
        argv[a++] = shards;
        argv[a++] = "--log-level";
        argv[a++] = "warn";
        argv[a++] = "--join";
        argv[a++] = SW_TOPIC;
        /* a generous control queue: the generator reads every event */
        argv[a++] = "--set";
        argv[a++] = "control.client_queue=268435456";
        for (unsigned k = 0; k < s->o.nset; ++k) {
            argv[a++] = "--set";
            argv[a++] = s->o.set[k];
        }
    }
    if (i > 0) {
        unsigned other = i >= 2 ? (unsigned)(rand() % (int)i) : 0;

        (void)snprintf(boot[0], sizeof(boot[0]), "%s@%s", s->n[0].id, s->n[0].addr);
        argv[a++] = "--bootstrap";
        argv[a++] = boot[0];
        if (other != 0) {
            (void)snprintf(boot[1], sizeof(boot[1]), "%s@%s", s->n[other].id, s->n[other].addr);
            argv[a++] = "--bootstrap";
            argv[a++] = boot[1];
        }
    }
    argv[a] = NULL;
    nd->pid = gs_ops_spawn(argv, &fd, nd->log);
    if (nd->pid < 0) {
        return -1;
    }
    if (gs_ops_read_line(fd, line, sizeof(line), 30000) < 0 ||
        sscanf(line, "ready %79s %79s", nd->id, nd->addr) != 2) {
        fprintf(stderr, "gossip-bench: node %u did not start (log: %s)\n", i, nd->log);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* sw_delivery counts one delivery of the message whose first bytes are |h| at node |nd|. */
static void sw_delivery(sw *s, sw_node *nd, const uint8_t *h, uint64_t now, gs_ops_result *r)
{
    uint64_t sent;
    uint32_t trial;
    uint32_t idx;

    memcpy(&sent, h, 8);
    memcpy(&trial, h + 8, 4);
    memcpy(&idx, h + 12, 4);
    if (r == NULL || trial != s->trial || idx >= s->trial_msgs) {
        return; /* warm-up or an earlier trial's straggler */
    }
    if (nd->seen[idx / 8] & (1u << (idx % 8))) {
        r->duplicates++;
        return;
    }
    nd->seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
    r->deliveries++;
    gs_ops_hist_add(&r->lat, now > sent ? now - sent : 0);
}

/* sw_frames: the complete binary frames of |c|: deliveries (0x90), publish replies (0x81, 0x03
 * with "ok"), neighbour events (0x03). */
static void sw_frames(sw *s, sw_node *nd, gs_ops_conn *c, gs_ops_result *r)
{
    size_t off = 0;
    uint64_t now = gs_ops_now_ns();

    while (c->inlen - off >= 4) {
        const uint8_t *f = (const uint8_t *)c->in + off;
        size_t l = (size_t)f[0] << 24 | (size_t)f[1] << 16 | (size_t)f[2] << 8 | f[3];

        if (c->inlen - off - 4 < l) {
            break;
        }
        off += 4 + l;
        if (l == 0) {
            continue;
        }
        if (f[4] == 0x90 && l >= 1 + 99 + SW_HDR) {
            sw_delivery(s, nd, f + 5 + 99, now, r);
        } else if (f[4] == 0x81) {
            nd->outstanding -= nd->outstanding > 0;
        } else if (f[4] == 0x03) {
            const char *j = (const char *)f + 5;

            if (memmem(j, l - 1, "\"neighbor_up\"", 13) != NULL) {
                nd->neighbors++;
            } else if (memmem(j, l - 1, "\"neighbor_down\"", 15) != NULL) {
                nd->neighbors -= nd->neighbors > 0;
            } else if (c == &nd->pub && memmem(j, l - 1, "\"ok\":false", 10) != NULL) {
                nd->outstanding -= nd->outstanding > 0;
                if (r != NULL) {
                    r->publish_errors++;
                }
            }
        }
    }
    gs_ops_conn_consume(c, off);
}

/* sw_sub_lines: handle the complete event lines of node |i|'s subscriber connection. */
static void sw_sub_lines(sw *s, unsigned i, gs_ops_result *r)
{
    sw_node *nd = &s->n[i];
    gs_ops_conn *c = &nd->sub;
    size_t off = 0;
    uint64_t now = gs_ops_now_ns();

    if (s->o.binary) {
        sw_frames(s, nd, c, r);
        return;
    }
    for (;;) {
        char *line = c->in + off;
        char *nl = memchr(line, '\n', c->inlen - off);
        size_t len;

        if (nl == NULL) {
            break;
        }
        len = (size_t)(nl - line);
        off += len + 1;
        if (len > 20 && memmem(line, len < 40 ? len : 40, "\"received\"", 10) != NULL) {
            const char *p = memmem(line, len, "\"content\":\"", 11);
            uint8_t h[SW_HDR + 2];

            if (p == NULL ||
                gs_ops_b64_decode_prefix(p + 11, len - (size_t)(p + 11 - line), h, SW_HDR) < 0) {
                continue;
            }
            sw_delivery(s, nd, h, now, r);
        } else if (memmem(line, len, "\"neighbor_up\"", 13) != NULL) {
            nd->neighbors++;
        } else if (memmem(line, len, "\"neighbor_down\"", 15) != NULL) {
            nd->neighbors -= nd->neighbors > 0;
        }
    }
    gs_ops_conn_consume(c, off);
}

static void sw_pub_lines(sw *s, sw_node *nd, gs_ops_result *r)
{
    gs_ops_conn *c = &nd->pub;
    size_t off = 0;

    if (s->o.binary) {
        sw_frames(s, nd, c, r);
        return;
    }
    for (;;) {
        char *line = c->in + off;
        char *nl = memchr(line, '\n', c->inlen - off);
        size_t len;

        if (nl == NULL) {
            break;
        }
        len = (size_t)(nl - line);
        off += len + 1;
        if (memmem(line, len, "\"ok\":", 5) != NULL) {
            nd->outstanding -= nd->outstanding > 0;
            if (memmem(line, len, "\"ok\":true", 9) == NULL && r != NULL) {
                r->publish_errors++;
            }
        }
    }
    gs_ops_conn_consume(c, off);
}

/* sw_poll: one round of I/O over every connection, waiting at most |ms|. */
static int sw_poll(sw *s, int ms, gs_ops_result *r)
{
    struct pollfd pf[2 * SW_MAX_NODES];
    unsigned np = 0;

    for (unsigned i = 0; i < s->nn; ++i) {
        pf[np].fd = s->n[i].sub.fd;
        pf[np].events = POLLIN;
        np++;
        pf[np].fd = s->n[i].pub.fd;
        pf[np].events = (short)(POLLIN | (s->n[i].pub.outlen > s->n[i].pub.outoff ? POLLOUT : 0));
        np++;
    }
    if (poll(pf, np, ms) < 0) {
        return 0;
    }
    for (unsigned i = 0; i < s->nn; ++i) {
        sw_node *nd = &s->n[i];

        if (pf[2 * i].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (gs_ops_conn_fill(&nd->sub) < 0 || nd->sub.eof) {
                fprintf(stderr, "gossip-bench: node %u closed its control socket\n", i);
                return -1;
            }
            sw_sub_lines(s, i, r);
        }
        if (pf[2 * i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (gs_ops_conn_fill(&nd->pub) < 0 || nd->pub.eof) {
                fprintf(stderr, "gossip-bench: node %u closed its control socket\n", i);
                return -1;
            }
            sw_pub_lines(s, nd, r);
        }
        if (gs_ops_conn_flush(&nd->pub) < 0) {
            return -1;
        }
    }
    return 0;
}

static int sw_connect(sw *s)
{
    char req[256];
    char reply[512];
    uint64_t end;

    for (unsigned i = 0; i < s->nn; ++i) {
        sw_node *nd = &s->n[i];
        int ok = -1;

        for (int k = 0; k < 100 && ok < 0; ++k) {
            ok = gs_ops_conn_unix(&nd->sub, nd->sock);
            if (ok < 0) {
                usleep(50000);
            }
        }
        if (ok < 0 || gs_ops_conn_unix(&nd->pub, nd->sock) < 0) {
            fprintf(stderr, "gossip-bench: cannot connect to %s\n", nd->sock);
            return -1;
        }
        if (s->o.binary) {
            static const char fr[] = "{\"op\":\"framing\",\"mode\":\"binary\"}\n";
            uint8_t h[5];
            int n;

            if (gs_ops_conn_request(&nd->sub, fr, reply, sizeof(reply), 10000) != 0 ||
                gs_ops_conn_request(&nd->pub, fr, reply, sizeof(reply), 10000) != 0) {
                fprintf(stderr, "gossip-bench: node %u: no binary framing: %s\n", i, reply);
                return -1;
            }
            n = snprintf(req, sizeof(req), "{\"op\":\"subscribe\",\"topic\":\"%s\"}", SW_TOPIC);
            h[0] = h[1] = 0;
            h[2] = (uint8_t)((n + 1) >> 8);
            h[3] = (uint8_t)(n + 1);
            h[4] = 0x03;
            if (gs_ops_conn_queue(&nd->sub, h, 5) < 0 ||
                gs_ops_conn_queue(&nd->sub, req, (size_t)n) < 0 ||
                gs_ops_conn_flush(&nd->sub) < 0) {
                return -1;
            }
            continue;
        }
        (void)snprintf(req, sizeof(req), "{\"op\":\"subscribe\",\"topic\":\"%s\"}\n", SW_TOPIC);
        if (gs_ops_conn_request(&nd->sub, req, reply, sizeof(reply), 10000) != 0) {
            fprintf(stderr, "gossip-bench: node %u: subscribe failed: %s\n", i, reply);
            return -1;
        }
        sw_sub_lines(s, i, NULL); /* neighbor_up lines that came with the reply */
    }
    /* wait until every node has a neighbour */
    end = gs_ops_now_ns() + 30000000000ULL;
    for (;;) {
        unsigned lonely = 0;

        for (unsigned i = 0; i < s->nn; ++i) {
            lonely += s->n[i].neighbors == 0;
        }
        if (lonely == 0) {
            break;
        }
        if (gs_ops_now_ns() > end) {
            fprintf(stderr, "gossip-bench: %u nodes without neighbours after 30 s\n", lonely);
            return -1;
        }
        if (sw_poll(s, 50, NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

/* sw_publish: queue one publish of message |idx| of the current trial on |nd|. */
static int sw_publish(sw *s, sw_node *nd, uint32_t idx, uint8_t *content, char *line)
{
    uint64_t now = gs_ops_now_ns();
    int n;

    memcpy(content, &now, 8);
    memcpy(content + 8, &s->trial, 4);
    memcpy(content + 12, &idx, 4);
    if (s->o.binary) {
        uint8_t h[5 + 32];
        uint32_t l = (uint32_t)(1 + 32 + s->o.size);

        h[0] = (uint8_t)(l >> 24);
        h[1] = (uint8_t)(l >> 16);
        h[2] = (uint8_t)(l >> 8);
        h[3] = (uint8_t)l;
        h[4] = 0x01;
        memcpy(h + 5, s->topic_id, 32);
        nd->outstanding++;
        if (gs_ops_conn_queue(&nd->pub, h, sizeof(h)) < 0) {
            return -1;
        }
        return gs_ops_conn_queue(&nd->pub, content, s->o.size);
    }
    n = snprintf(line, 64, "{\"op\":\"publish\",\"topic\":\"%s\",\"content\":\"", SW_TOPIC);
    gs_ops_b64_encode(content, s->o.size, line + n);
    n += (int)strlen(line + n);
    memcpy(line + n, "\"}\n", 4);
    nd->outstanding++;
    return gs_ops_conn_queue(&nd->pub, line, (size_t)n + 3);
}

static double sw_cpu_total(sw *s)
{
    double t = 0;

    for (unsigned i = 0; i < s->nn; ++i) {
        double c = gs_ops_proc_cpu_s(s->n[i].pid);

        t += c > 0 ? c : 0;
    }
    return t;
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * sw_trial: publish |msgs| messages at |rate| messages/s (over the publishers, round robin) and
 * collect deliveries until all arrived or |drain| seconds after the last publish.
 */
static int sw_trial(sw *s, uint64_t msgs, double rate, gs_ops_result *r)
{
    unsigned npub = s->o.all_publish ? s->nn : 1;
    size_t bsz = (size_t)(msgs + 7) / 8;
    uint8_t *content = calloc(1, s->o.size + SW_HDR);
    char *line = malloc(s->o.size / 3 * 4 + 160);
    uint64_t t0, tlast = 0, next_progress;
    uint64_t sent = 0;
    uint64_t last_pub_ns = 0;
    double cpu0, gen0;
    int rv = 0;

    memset(r, 0, sizeof(*r));
    if (content == NULL || line == NULL) {
        free(content);
        free(line);
        return -1;
    }
    for (size_t i = 0; i < s->o.size; ++i) {
        content[i] = (uint8_t)(i * 131 + 7);
    }
    s->trial++;
    s->trial_msgs = msgs;
    for (unsigned i = 0; i < s->nn; ++i) {
        free(s->n[i].seen);
        s->n[i].seen = calloc(1, bsz + 1);
        if (s->n[i].seen == NULL) {
            free(content);
            free(line);
            return -1;
        }
    }
    r->offered = rate;
    r->expected = msgs * (s->nn - 1);
    cpu0 = sw_cpu_total(s);
    gen0 = self_cpu();
    t0 = gs_ops_now_ns();
    next_progress = t0 + 1000000000ULL;
    for (;;) {
        uint64_t now = gs_ops_now_ns();
        uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * rate) + 1;
        uint64_t before = r->deliveries;

        if (due > msgs) {
            due = msgs;
        }
        while (sent < due) {
            sw_node *nd = &s->n[s->o.all_publish ? sent % npub : 0];

            if (nd->outstanding >= SW_WINDOW) {
                break; /* the node does not keep up: the offered rate is not met */
            }
            if (sw_publish(s, nd, (uint32_t)sent, content, line) < 0) {
                rv = -1;
                goto out;
            }
            sent++;
            last_pub_ns = gs_ops_now_ns();
        }
        if (sw_poll(s, sent < msgs ? 1 : 20, r) < 0) {
            rv = -1;
            goto out;
        }
        now = gs_ops_now_ns();
        if (r->deliveries > before) {
            tlast = now;
        }
        if (!s->o.quiet && now >= next_progress) {
            fprintf(stderr, "  %s t=%.0fs published=%llu delivered=%llu/%llu\n", s->impl,
                    (double)(now - t0) / 1e9, (unsigned long long)sent,
                    (unsigned long long)r->deliveries, (unsigned long long)r->expected);
            next_progress += 1000000000ULL;
        }
        if (sent == msgs) {
            bool quiet = tlast != 0 && now - tlast > (uint64_t)(s->o.drain * 1e9);

            if (r->deliveries >= r->expected || quiet ||
                now - last_pub_ns > (uint64_t)(s->o.drain * 4 * 1e9)) {
                break;
            }
        }
    }
out:
    r->published = sent;
    r->achieved = last_pub_ns > t0 && sent > 1
                      ? (double)(sent - 1) / ((double)(last_pub_ns - t0) / 1e9)
                      : rate;
    r->seconds = tlast > t0 ? (double)(tlast - t0) / 1e9 : 0;
    r->deliveries_per_s = r->seconds > 0 ? (double)r->deliveries / r->seconds : 0;
    r->cpu_s = sw_cpu_total(s) - cpu0;
    r->gen_cpu_s = self_cpu() - gen0;
    r->cpu_us_per_delivery = r->deliveries > 0 ? r->cpu_s * 1e6 / (double)r->deliveries : 0;
    free(content);
    free(line);
    /* let the publish replies of this trial come back */
    for (int k = 0; k < 200; ++k) {
        unsigned out = 0;

        for (unsigned i = 0; i < s->nn; ++i) {
            out += s->n[i].outstanding;
        }
        if (out == 0 || sw_poll(s, 10, NULL) < 0) {
            break;
        }
    }
    return rv;
}

static bool sw_lossless(const gs_ops_result *r)
{
    return r->deliveries >= r->expected && r->publish_errors == 0 &&
           r->achieved >= 0.9 * r->offered;
}

typedef struct sw_report {
    const char *impl;
    gs_ops_result main;
    bool have_max;
    double max_rate; /* messages/s */
    gs_ops_result trials[SW_MAX_TRIALS];
    unsigned ntrials;
    uint64_t rss_max_kb;
    uint64_t rss_mean_kb;
    uint64_t idle_rss_max_kb;
    bool have_counters;
    uint64_t counters[SW_NCOUNTERS]; /* the main run's share, summed over the daemons */
} sw_report;

/*
 * sw_counters sums counters of every node's `status` (gossipd only: a JSON request on a
 * connection of its own).  Taken before and after the main run, the difference says what that
 * run cost inside the daemons (packets, loop turns) and where it lost messages (pushes dropped at
 * back-pressure, Grafts that found nothing to answer, events a lagging client missed).  Returns 0
 * or -1 (a node did not answer, or a counter is missing).
 */
static int sw_counters(sw *s, uint64_t out[SW_NCOUNTERS])
{
    static char reply[1 << 18];

    memset(out, 0, SW_NCOUNTERS * sizeof(out[0]));
    for (unsigned i = 0; i < s->nn; ++i) {
        gs_ops_conn c;
        json_t *o;
        json_t *cs;
        int rv;

        memset(&c, 0, sizeof(c));
        if (gs_ops_conn_unix(&c, s->n[i].sock) < 0) {
            return -1;
        }
        rv = gs_ops_conn_request(&c, "{\"op\":\"status\"}\n", reply, sizeof(reply), 10000);
        gs_ops_conn_close(&c);
        if (rv != 0) {
            fprintf(stderr, "gossip-bench: node %u: no status reply\n", i);
            return -1;
        }
        o = json_loads(reply, 0, NULL);
        cs = json_object_get(o, "counters");
        for (unsigned k = 0; k < SW_NCOUNTERS; ++k) {
            json_t *v = json_object_get(cs, sw_counter_names[k]);

            if (!json_is_integer(v)) {
                fprintf(stderr, "gossip-bench: node %u: status without counters.%s\n", i,
                        sw_counter_names[k]);
                json_decref(o);
                return -1;
            }
            out[k] += (uint64_t)json_integer_value(v);
        }
        json_decref(o);
    }
    return 0;
}

static int sw_run_impl(sw_opts *o, const char *impl, sw_report *rep)
{
    static sw s;
    int rv = -1;

    memset(&s, 0, sizeof(s));
    s.o = *o;
    s.impl = impl;
    s.nn = o->nodes;
    gs_blake3_hash(SW_TOPIC, strlen(SW_TOPIC), s.topic_id);
    rep->impl = impl;
    (void)snprintf(s.dir, sizeof(s.dir), "/tmp/gossip-bench-swarm.XXXXXX");
    if (mkdtemp(s.dir) == NULL) {
        perror("gossip-bench: mkdtemp");
        return -1;
    }
    if (!o->quiet) {
        fprintf(stderr, "gossip-bench swarm: %s: starting %u nodes (work dir %s)\n", impl, s.nn,
                s.dir);
    }
    for (unsigned i = 0; i < s.nn; ++i) {
        if (sw_start_node(&s, i) < 0) {
            goto out;
        }
    }
    if (sw_connect(&s) < 0) {
        goto out;
    }
    {
        uint64_t idle = 0;

        for (unsigned i = 0; i < s.nn; ++i) {
            uint64_t k = gs_ops_proc_rss_kb(s.n[i].pid);

            idle = k > idle ? k : idle;
        }
        rep->idle_rss_max_kb = idle;
    }
    /* warm-up: lets PlumTree settle its eager tree (not counted) */
    {
        gs_ops_result warm;
        bool q = s.o.quiet;

        s.o.quiet = true;
        if (sw_trial(&s, 50, 200, &warm) < 0) {
            goto out;
        }
        s.o.quiet = q;
    }
    if (o->find_max) {
        double lo = 0;
        double hi = 0;
        double r = o->rate;

        while (rep->ntrials < SW_MAX_TRIALS) {
            gs_ops_result *t = &rep->trials[rep->ntrials++];
            uint64_t m = (uint64_t)(r * o->seconds);

            if (m < 100) {
                m = 100;
            }
            if (!o->quiet) {
                fprintf(stderr, "gossip-bench swarm: %s: trial %u at %.0f msg/s\n", impl,
                        rep->ntrials, r);
            }
            if (sw_trial(&s, m, r, t) < 0) {
                goto out;
            }
            if (sw_lossless(t)) {
                lo = r;
                r = hi > 0 ? (lo + hi) / 2 : r * 2;
            } else {
                hi = r;
                r = (lo + hi) / 2;
            }
            if ((hi > 0 && lo > 0 && hi / lo < 1.08) || (hi > 0 && r < 10)) {
                break;
            }
            usleep(500000); /* let queues drain between trials */
        }
        rep->have_max = true;
        rep->max_rate = lo;
    }
    {
        uint64_t before[SW_NCOUNTERS];
        bool gossipd = strcmp(impl, "gossipd") == 0;
        bool counted = gossipd && sw_counters(&s, before) == 0;

        if (sw_trial(&s, o->messages, o->rate, &rep->main) < 0) {
            goto out;
        }
        if (counted && sw_counters(&s, rep->counters) == 0) {
            for (unsigned k = 0; k < SW_NCOUNTERS; ++k) {
                rep->counters[k] -= before[k];
            }
            rep->have_counters = true;
        } else if (gossipd) {
            fprintf(stderr, "gossip-bench swarm: the daemons' counters could not be read\n");
        }
    }
    {
        uint64_t sum = 0;

        for (unsigned i = 0; i < s.nn; ++i) {
            uint64_t k = gs_ops_proc_hwm_kb(s.n[i].pid);

            sum += k;
            rep->rss_max_kb = k > rep->rss_max_kb ? k : rep->rss_max_kb;
        }
        rep->rss_mean_kb = sum / s.nn;
    }
    rv = 0;
out:
    for (unsigned i = 0; i < s.nn; ++i) {
        gs_ops_conn_close(&s.n[i].sub);
        gs_ops_conn_close(&s.n[i].pub);
        free(s.n[i].seen);
    }
    gs_ops_stop_all();
    if (rv == 0) {
        char cmd[300];

        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s.dir);
        (void)!system(cmd);
    } else {
        fprintf(stderr, "gossip-bench swarm: %s failed; logs kept in %s\n", impl, s.dir);
    }
    return rv;
}

static void sw_plot(const sw_opts *o, const sw_report *reps, unsigned nrep)
{
    char path[4200];
    char script[4096];
    int n = 0;
    FILE *f;

    if (gs_ops_mkdir_p(o->plot) < 0) {
        fprintf(stderr, "gossip-bench: cannot create %s\n", o->plot);
        return;
    }
    n += snprintf(script + n, sizeof(script) - (size_t)n,
                  "set title 'swarm: latency CDF (%u nodes, %zu B, %.0f msg/s)'\n"
                  "set xlabel 'latency (ms)'\nset ylabel 'fraction of deliveries'\n"
                  "set logscale x\nset grid\nset key bottom right\nplot ",
                  o->nodes, o->size, o->rate);
    for (unsigned i = 0; i < nrep; ++i) {
        (void)snprintf(path, sizeof(path), "%s/swarm-latency-%s.dat", o->plot, reps[i].impl);
        (void)gs_ops_hist_cdf(&reps[i].main.lat, path);
        n += snprintf(script + n, sizeof(script) - (size_t)n,
                      "%s'swarm-latency-%s.dat' using 1:2 with lines lw 2 title '%s'",
                      i ? ", " : "", reps[i].impl, reps[i].impl);
    }
    (void)gs_ops_plot(o->plot, "swarm-latency-cdf", script);
    n = snprintf(script, sizeof(script),
                 "set title 'swarm: delivered vs offered (%u nodes, %zu B)'\n"
                 "set xlabel 'offered deliveries/s'\nset ylabel 'delivered deliveries/s'\n"
                 "set grid\nset key top left\nplot x title 'lossless' dt 2",
                 o->nodes, o->size);
    for (unsigned i = 0; i < nrep; ++i) {
        (void)snprintf(path, sizeof(path), "%s/swarm-rate-%s.dat", o->plot, reps[i].impl);
        f = fopen(path, "w");
        if (f == NULL) {
            continue;
        }
        for (unsigned t = 0; t < reps[i].ntrials; ++t) {
            const gs_ops_result *r = &reps[i].trials[t];

            fprintf(f, "%.1f %.1f\n", r->offered * (o->nodes - 1), r->deliveries_per_s);
        }
        fprintf(f, "%.1f %.1f\n", reps[i].main.offered * (o->nodes - 1),
                reps[i].main.deliveries_per_s);
        fclose(f);
        n += snprintf(script + n, sizeof(script) - (size_t)n,
                      ", 'swarm-rate-%s.dat' using 1:2 with points pt 7 ps 1.5 title '%s'",
                      reps[i].impl, reps[i].impl);
    }
    (void)gs_ops_plot(o->plot, "swarm-delivered-vs-offered", script);
    fprintf(stderr,
            "gossip-bench swarm: plots in %s (swarm-latency-cdf.png, "
            "swarm-delivered-vs-offered.png)\n",
            o->plot);
}

const char *gs_bench_default_gossipd(void)
{
    static char path[4200];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *cands[] = {"../server/gossipd", "gossipd"};

    if (n > 0) {
        char *slash;

        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < 2; ++i) {
                (void)snprintf(path, sizeof(path), "%s/%s", self, cands[i]);
                if (access(path, X_OK) == 0) {
                    return path;
                }
            }
        }
    }
    return "gossipd";
}

int gs_bench_swarm(int argc, char **argv)
{
    static const struct option lo[] = {
        {"gossipd", required_argument, NULL, 'g'},  {"nodes", required_argument, NULL, 'n'},
        {"shards", required_argument, NULL, 's'},   {"publishers", required_argument, NULL, 'p'},
        {"messages", required_argument, NULL, 'm'}, {"size", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, 'r'},     {"seconds", required_argument, NULL, 'S'},
        {"drain", required_argument, NULL, 'd'},    {"json", no_argument, NULL, 'j'},
        {"find-max", no_argument, NULL, 'f'},       {"plot", required_argument, NULL, 'P'},
        {"compare", required_argument, NULL, 'c'},  {"iroh-node", required_argument, NULL, 'I'},
        {"framing", required_argument, NULL, 'F'},  {"set", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    sw_opts o = {.nodes = 10,
                 .shards = 1,
                 .messages = 5000,
                 .size = 1024,
                 .rate = 1000,
                 .seconds = 3,
                 .drain = 1.0};
    static sw_report reps[2];
    unsigned nrep = 0;
    int c;
#ifdef GS_BENCH_IROH_NODE
    const char *iroh_node = GS_BENCH_IROH_NODE;
#else
    const char *iroh_node = NULL;
#endif

    o.gossipd = gs_bench_default_gossipd();
    optind = 1;
    while ((c = getopt_long(argc + 1, argv - 1, "", lo, NULL)) != -1) {
        switch (c) {
        case 'g':
            o.gossipd = optarg;
            break;
        case 'n':
            o.nodes = (unsigned)atoi(optarg);
            break;
        case 's':
            o.shards = (unsigned)atoi(optarg);
            break;
        case 'p':
            if (strcmp(optarg, "all") == 0) {
                o.all_publish = true;
            } else if (strcmp(optarg, "1") != 0) {
                sw_usage();
                return 2;
            }
            break;
        case 'm':
            o.messages = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o.size = (size_t)atol(optarg);
            break;
        case 'r':
            o.rate = atof(optarg);
            break;
        case 'S':
            o.seconds = atof(optarg);
            break;
        case 'd':
            o.drain = atof(optarg);
            break;
        case 'j':
            o.json = true;
            break;
        case 'f':
            o.find_max = true;
            break;
        case 'P':
            o.plot = optarg;
            break;
        case 'c':
            o.compare = optarg;
            break;
        case 'I':
            iroh_node = optarg;
            break;
        case 'x':
            if (o.nset == SW_MAX_SET || strchr(optarg, '=') == NULL) {
                sw_usage();
                return 2;
            }
            o.set[o.nset++] = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "binary") == 0) {
                o.binary = true;
            } else if (strcmp(optarg, "json") != 0) {
                sw_usage();
                return 2;
            }
            break;
        case 'h':
            sw_usage();
            return 0;
        default:
            sw_usage();
            return 2;
        }
    }
    if (o.nodes < 2 || o.nodes > SW_MAX_NODES || o.size < SW_HDR || o.size > 60000 ||
        o.messages == 0 || o.messages > 100000000 || o.rate <= 0 || o.shards == 0 ||
        (o.compare != NULL && strcmp(o.compare, "iroh") != 0)) {
        sw_usage();
        return 2;
    }
    srand(1);
    if (sw_run_impl(&o, "gossipd", &reps[nrep]) < 0) {
        return 1;
    }
    nrep++;
    if (o.compare != NULL) {
        sw_opts io = o;

        io.node_js = iroh_node;
        io.binary = false; /* bench/iroh/iroh-node.mjs speaks JSON lines only */
        io.node_bin = "node";
        if (io.node_js == NULL || access(io.node_js, R_OK) != 0) {
            fprintf(stderr, "gossip-bench swarm: --compare iroh needs --iroh-node PATH "
                            "(bench/iroh/iroh-node.mjs)\n");
            return 77;
        }
        {
            char mod[4200];
            const char *slash = strrchr(io.node_js, '/');

            (void)snprintf(mod, sizeof(mod), "%.*s/node_modules/@number0/iroh",
                           slash != NULL ? (int)(slash - io.node_js) : 1,
                           slash != NULL ? io.node_js : ".");
            if (access(mod, R_OK) != 0) {
                fprintf(stderr,
                        "gossip-bench swarm: %s is missing: run `npm ci` in the directory "
                        "of %s (npm @number0/iroh@0.35.0, pinned)\n",
                        mod, io.node_js);
                return 77;
            }
        }
        if (sw_run_impl(&io, "iroh", &reps[nrep]) < 0) {
            return 1;
        }
        nrep++;
    }
    printf("\ngossip-bench swarm: %u nodes x %u shards, publishers %s, %zu B, %llu messages at "
           "%.0f msg/s, %s control framing (load average %.2f)\n",
           o.nodes, o.shards, o.all_publish ? "all" : "1", o.size, (unsigned long long)o.messages,
           o.rate, o.binary ? "binary" : "JSON", gs_ops_loadavg());
    gs_ops_result_header(stdout);
    for (unsigned i = 0; i < nrep; ++i) {
        gs_ops_result_row(stdout, reps[i].impl, &reps[i].main);
    }
    for (unsigned i = 0; i < nrep; ++i) {
        printf("%-9s peak RSS per node: max %.1f MB, mean %.1f MB (idle max %.1f MB)", reps[i].impl,
               (double)reps[i].rss_max_kb / 1024, (double)reps[i].rss_mean_kb / 1024,
               (double)reps[i].idle_rss_max_kb / 1024);
        if (reps[i].have_max) {
            printf("; lossless capacity %.0f msg/s = %.0f deliveries/s", reps[i].max_rate,
                   reps[i].max_rate * (o.nodes - 1));
        }
        printf("\n");
        if (reps[i].have_counters && reps[i].main.published > 0) {
            const uint64_t *dc = reps[i].counters;
            double m = (double)reps[i].main.published;

            printf("%-9s daemons, per published message: %.1f packets out, %.1f datagrams in, "
                   "%.1f loop turns; Gossip dropped at back-pressure %llu (announced %llu), Grafts "
                   "unserved %llu, repairs %llu, events dropped for lagging clients %llu\n",
                   reps[i].impl, (double)dc[0] / m, (double)dc[1] / m, (double)dc[2] / m,
                   (unsigned long long)dc[3], (unsigned long long)dc[4], (unsigned long long)dc[5],
                   (unsigned long long)dc[6], (unsigned long long)dc[7]);
        }
    }
    if (nrep == 2 && reps[1].have_max && reps[1].max_rate > 0) {
        printf("gossipd / iroh lossless capacity: %.1fx\n", reps[0].max_rate / reps[1].max_rate);
    }
    if (o.plot != NULL) {
        sw_plot(&o, reps, nrep);
    }
    if (o.json) {
        printf("{\"mode\":\"swarm\",\"framing\":\"%s\",\"nodes\":%u,\"shards\":%u,"
               "\"publishers\":\"%s\",\"size\":%zu,"
               "\"messages\":%llu,\"rate\":%.1f,\"load_avg\":%.2f,\"results\":[",
               o.binary ? "binary" : "json", o.nodes, o.shards, o.all_publish ? "all" : "1", o.size,
               (unsigned long long)o.messages, o.rate, gs_ops_loadavg());
        for (unsigned i = 0; i < nrep; ++i) {
            printf("%s{\"impl\":\"%s\",\"run\":", i ? "," : "", reps[i].impl);
            gs_ops_result_json(stdout, &reps[i].main);
            printf(",\"rss_peak_kb\":{\"max\":%llu,\"mean\":%llu},\"idle_rss_kb_max\":%llu",
                   (unsigned long long)reps[i].rss_max_kb, (unsigned long long)reps[i].rss_mean_kb,
                   (unsigned long long)reps[i].idle_rss_max_kb);
            if (reps[i].have_counters) {
                printf(",\"daemon_counters\":{");
                for (unsigned k = 0; k < SW_NCOUNTERS; ++k) {
                    printf("%s\"%s\":%llu", k ? "," : "", sw_counter_names[k],
                           (unsigned long long)reps[i].counters[k]);
                }
                printf("}");
            }
            if (reps[i].have_max) {
                printf(",\"find_max\":{\"lossless_rate\":%.1f,\"lossless_deliveries_per_s\":%.1f,"
                       "\"trials\":[",
                       reps[i].max_rate, reps[i].max_rate * (o.nodes - 1));
                for (unsigned t = 0; t < reps[i].ntrials; ++t) {
                    printf("%s", t ? "," : "");
                    gs_ops_result_json(stdout, &reps[i].trials[t]);
                }
                printf("]}");
            }
            printf("}");
        }
        printf("]}\n");
    }
    fflush(stdout);
    return 0;
}
