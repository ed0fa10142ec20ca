/* SPDX-License-Identifier: MIT */
/*
 * relay.c: `gossip-bench relay`: P publishers and K subscribers, each a virtual peer with its own
 * identity that speaks the real protocol over QUIC through the project's own io/ (gs_engine: the
 * io_uring QUIC endpoint) and proto/ (gs_node: HyParView + PlumTree), attach to one `gossipd
 * --relay` and nothing else; every message carries its send time.  Reports fan-out deliveries/s,
 * latency and the relay process's CPU per delivery (the same load shape as `gossip-bench nats`).
 *
 * Each virtual peer runs on its own thread (engine turn -> node -> frames); the peers advertise
 * no address, so they cannot reach each other and everything goes through the relay, whose
 * active view is raised above P + K (protocol.active_view_capacity) so every peer is a neighbour.
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include "ops.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "blake3.h"
#include "codec.h"
#include "engine.h"
#include "gs_mem.h"
#include "identity.h"
#include "node.h"
#include "transport.h"

#define RL_MAX_PEERS 128
#define RL_HDR       16
#define RL_TOPIC     "gossip-bench-relay"

typedef struct rl_opts {
    const char *gossipd;
    unsigned publishers;
    unsigned subscribers;
    unsigned shards;
    uint64_t messages;
    size_t size;
    double rate;
    double drain;
    bool json;
    const char *plot;
} rl_opts;

typedef struct rl rl;

typedef struct rl_peer {
    rl *r;
    unsigned index;
    bool publisher;
    gs_identity id;
    gs_engine *eng;
    gs_node *node;
    pthread_t th;
    _Atomic int connected; /* QUIC connection to the relay up */
    _Atomic int neighbor;  /* the relay is in our active view */
    _Atomic int joined;    /* gs_node_join called */
    /* publisher state (its own thread) */
    uint64_t next_idx; /* next message of its share */
    uint64_t sent;
    _Atomic uint64_t sent_pub;
    uint64_t refused;
    uint8_t *content;
    uint8_t *frame;
    size_t frame_cap;
    /* subscriber state (its own thread; read after the trial ends) */
    uint8_t *seen;
    gs_ops_hist lat;
    _Atomic uint64_t deliveries;
    uint64_t duplicates;
    _Atomic uint64_t last_delivery_ns;
} rl_peer;

struct rl {
    rl_opts o;
    pid_t relay;
    uint8_t relay_id[32];
    gs_udp_addr relay_addr;
    gs_topic_id topic;
    unsigned npeers;
    rl_peer p[RL_MAX_PEERS];
    _Atomic int stop;
    /* the trial, set before publishing starts (publishers read it) */
    _Atomic uint32_t trial;
    _Atomic uint64_t trial_msgs;
    _Atomic uint64_t t0_ns; /* 0: not publishing */
    double rate;
};

static void rl_usage(void)
{
    fprintf(stderr,
            "usage: gossip-bench relay [--gossipd PATH] [--publishers P] [--subscribers K]\n"
            "         [--shards S] [--messages M] [--size B] [--rate R] [--drain S] [--json]\n"
            "         [--plot DIR]\n"
            "  defaults: --publishers 1 --subscribers 9 --shards 1 --messages 20000 --size 1024\n"
            "  --rate 5000 (messages/s over all publishers)\n");
}

/* ---- virtual peer: engine callbacks ---- */

static void rl_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                            gs_quic_dir dir)
{
    rl_peer *p = ud;

    (void)conn;
    (void)dir;
    if (memcmp(peer, p->r->relay_id, 32) == 0) {
        atomic_store(&p->connected, 1);
    }
}

static void rl_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                        const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    rl_peer *p = ud;
    gs_key from;
    gs_topic_id t;

    (void)conn;
    memcpy(from.b, peer, 32);
    memcpy(t.b, topic, 32);
    (void)gs_node_on_frame(p->node, &from, &t, body, len, gs_engine_now(p->eng));
}

static void rl_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                         uint64_t app_error, const char *reason, bool was_send_path)
{
    rl_peer *p = ud;
    gs_key k;

    (void)conn;
    (void)rv;
    (void)app_error;
    (void)reason;
    if (!was_send_path) {
        return;
    }
    memcpy(k.b, peer, 32);
    if (memcmp(peer, p->r->relay_id, 32) == 0) {
        atomic_store(&p->connected, 0);
    }
    gs_node_on_peer_disconnected(p->node, &k, gs_engine_now(p->eng));
}

/* ---- virtual peer: the turn ---- */

static void rl_received(rl_peer *p, const gs_node_out *o)
{
    rl *r = p->r;
    uint64_t now = gs_ops_now_ns();
    uint64_t sent;
    uint32_t trial;
    uint32_t idx;

    if (p->publisher || o->content.len < RL_HDR) {
        return;
    }
    memcpy(&sent, o->content.base, 8);
    memcpy(&trial, o->content.base + 8, 4);
    memcpy(&idx, o->content.base + 12, 4);
    if (trial != atomic_load(&r->trial) || idx >= atomic_load(&r->trial_msgs) || p->seen == NULL) {
        return;
    }
    if (p->seen[idx / 8] & (1u << (idx % 8))) {
        p->duplicates++;
        return;
    }
    p->seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
    gs_ops_hist_add(&p->lat, now > sent ? now - sent : 0);
    atomic_store_explicit(&p->last_delivery_ns, now, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->deliveries, 1, memory_order_relaxed);
}

static void rl_drain(rl_peer *p)
{
    gs_node_out o;

    while (gs_node_next_out(p->node, &o)) {
        if (o.type == GS_NODE_OUT_SEND) {
            size_t need = 64 + (o.msg.type == GS_MSG_GOSSIP ? o.msg.gossip.content.len : 0) + 4096;
            gs_ssize n;

            if (need > p->frame_cap) {
                uint8_t *f = realloc(p->frame, need);

                if (f == NULL) {
                    continue;
                }
                p->frame = f;
                p->frame_cap = need;
            }
            n = gs_codec_encode_frame(p->frame, p->frame_cap, &o.msg, GS_MAX_MESSAGE_SIZE_DEFAULT);
            if (n > 0 &&
                gs_engine_send_frame_cls(p->eng, o.peer.b, o.topic.b, p->frame, (size_t)n,
                                         o.msg.type == GS_MSG_GOSSIP ? GS_QUIC_SEND_DATA
                                                                     : GS_QUIC_SEND_CONTROL) < 0 &&
                o.msg.type == GS_MSG_GOSSIP) {
                p->refused++;
            }
        } else if (o.type == GS_NODE_OUT_EVENT) {
            if (o.event == GS_NODE_EVENT_NEIGHBOR_UP && memcmp(o.peer.b, p->r->relay_id, 32) == 0) {
                atomic_store(&p->neighbor, 1);
            } else if (o.event == GS_NODE_EVENT_NEIGHBOR_DOWN &&
                       memcmp(o.peer.b, p->r->relay_id, 32) == 0) {
                atomic_store(&p->neighbor, 0);
            } else if (o.event == GS_NODE_EVENT_RECEIVED) {
                rl_received(p, &o);
            }
        }
    }
}

/* rl_publish_due: the publisher's share of messages due by now (index i belongs to publisher
 * i % P). */
static gs_tstamp rl_publish_due(rl_peer *p)
{
    rl *r = p->r;
    uint64_t t0 = atomic_load(&r->t0_ns);
    uint64_t msgs = atomic_load(&r->trial_msgs);
    uint32_t trial = atomic_load(&r->trial);
    unsigned P = r->o.publishers;
    uint64_t now;
    uint64_t due;
    unsigned burst = 0;

    if (t0 == 0 || !p->publisher) {
        return GS_TSTAMP_NEVER;
    }
    now = gs_ops_now_ns();
    due = (uint64_t)((double)(now - t0) / 1e9 * r->rate) + 1;
    if (due > msgs) {
        due = msgs;
    }
    while (p->next_idx < due && burst++ < 256) {
        uint32_t idx = (uint32_t)p->next_idx;
        uint64_t ts = gs_ops_now_ns();

        if (gs_engine_peer_behind_since(p->eng, r->relay_id) != GS_TSTAMP_NEVER) {
            /* our QUIC send queue to the relay is above send_queue_low: wait for it to drain
             * rather than have the Gossip refused (the offered rate is then not met) */
            atomic_store(&p->sent_pub, p->sent);
            return gs_engine_now(p->eng) + GS_MILLISECONDS;
        }

        memcpy(p->content, &ts, 8);
        memcpy(p->content + 8, &trial, 4);
        memcpy(p->content + 12, &idx, 4);
        if (gs_node_broadcast(p->node, &r->topic, p->content, r->o.size, GS_SCOPE_SWARM,
                              gs_engine_now(p->eng), NULL) == 0) {
            p->sent++;
        }
        p->next_idx += P;
        rl_drain(p);
    }
    atomic_store(&p->sent_pub, p->sent);
    if (p->next_idx >= msgs) {
        return GS_TSTAMP_NEVER;
    }
    /* the next due index, as an engine deadline */
    {
        double at = (double)t0 + (double)p->next_idx / r->rate * 1e9;
        double wait = at - (double)gs_ops_now_ns();

        return gs_engine_now(p->eng) + (gs_tstamp)(wait > 0 ? wait : 0);
    }
}

static gs_tstamp rl_turn(void *ud, gs_engine *e, gs_tstamp now)
{
    rl_peer *p = ud;
    gs_tstamp dl;
    gs_tstamp pub;

    (void)e;
    if (atomic_load(&p->connected) && !atomic_load(&p->joined)) {
        gs_key relay;

        memcpy(relay.b, p->r->relay_id, 32);
        (void)gs_node_join(p->node, &p->r->topic, &relay, 1, now);
        atomic_store(&p->joined, 1);
    }
    if (gs_node_get_expiry(p->node) <= now) {
        gs_node_handle_expiry(p->node, now);
    }
    rl_drain(p);
    pub = rl_publish_due(p);
    dl = gs_node_get_expiry(p->node);
    return pub < dl ? pub : dl;
}

static void *rl_peer_main(void *arg)
{
    rl_peer *p = arg;

    while (!atomic_load(&p->r->stop)) {
        if (gs_engine_run_once(p->eng, 50 * GS_MILLISECONDS) < 0) {
            break;
        }
    }
    return NULL;
}

static int rl_peer_new(rl *r, rl_peer *p, unsigned index, bool publisher)
{
    gs_engine_cfg cfg;
    gs_node_cfg ncfg;
    gs_key self;
    int rv;

    p->r = r;
    p->index = index;
    p->publisher = publisher;
    /* publisher i publishes indices i, i + P, i + 2P, ... (rl_publish_due) */
    p->next_idx = publisher ? index : 0;
    rv = gs_identity_generate(&p->id);
    if (rv < 0) {
        return rv;
    }
    gs_engine_cfg_default(&cfg);
    (void)gs_udp_addr_parse(&cfg.listen[0], "127.0.0.1:0");
    cfg.nlisten = 1;
    cfg.cb.user_data = p;
    cfg.cb.on_connected = rl_on_connected;
    cfg.cb.on_frame = rl_on_frame;
    cfg.cb.on_closed = rl_on_closed;
    cfg.before_flush = rl_turn;
    cfg.turn_user_data = p;
    rv = gs_engine_new(&p->eng, &cfg, &p->id, gs_mem_default());
    if (rv < 0) {
        return rv;
    }
    gs_node_cfg_default(&ncfg);
    memcpy(self.b, p->id.pk, 32);
    rv = gs_node_new(&p->node, &ncfg, &self, 1000 + index, gs_mem_default());
    if (rv < 0) {
        return rv;
    }
    p->content = calloc(1, r->o.size);
    if (p->content == NULL) {
        return GS_ERR_NOMEM;
    }
    for (size_t i = RL_HDR; i < r->o.size; ++i) {
        p->content[i] = (uint8_t)(i * 7 + index);
    }
    return gs_engine_connect(p->eng, r->relay_id, &r->relay_addr, NULL);
}

static void rl_peer_free(rl_peer *p)
{
    gs_node_del(p->node);
    gs_engine_del(p->eng);
    free(p->content);
    free(p->frame);
    free(p->seen);
    gs_identity_wipe(&p->id);
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rl_deliveries(rl *r)
{
    uint64_t d = 0;

    for (unsigned i = r->o.publishers; i < r->npeers; ++i) {
        d += atomic_load_explicit(&r->p[i].deliveries, memory_order_relaxed);
    }
    return d;
}

static uint64_t rl_sent(rl *r)
{
    uint64_t d = 0;

    for (unsigned i = 0; i < r->o.publishers; ++i) {
        d += atomic_load(&r->p[i].sent_pub);
    }
    return d;
}

/* rl_measure waits until every expected delivery arrived, or nothing arrived for --drain
 * seconds after the last publish, and fills the delivery figures of |res|. */
static void rl_measure(rl *r, uint64_t msgs, gs_ops_result *res)
{
    uint64_t t0 = atomic_load(&r->t0_ns);
    uint64_t next_progress = t0 + 1000000000ULL;
    uint64_t last_change = t0;
    uint64_t last_d = 0;
    uint64_t tlast = 0;

    for (;;) {
        uint64_t now = gs_ops_now_ns();
        uint64_t d = rl_deliveries(r);
        uint64_t sent = rl_sent(r);

        if (d != last_d) {
            last_d = d;
            last_change = now;
        }
        if (now >= next_progress) {
            fprintf(stderr, "  relay t=%.0fs published=%llu delivered=%llu/%llu\n",
                    (double)(now - t0) / 1e9, (unsigned long long)sent, (unsigned long long)d,
                    (unsigned long long)res->expected);
            next_progress += 1000000000ULL;
        }
        if (sent >= msgs &&
            (d >= res->expected || now - last_change > (uint64_t)(r->o.drain * 1e9))) {
            break;
        }
        if (now - t0 > (uint64_t)((double)msgs / r->rate * 1e9) + 60000000000ULL) {
            break; /* bounded whatever happens */
        }
        usleep(2000);
    }
    for (unsigned i = r->o.publishers; i < r->npeers; ++i) {
        uint64_t t = atomic_load(&r->p[i].last_delivery_ns);

        tlast = t > tlast ? t : tlast;
    }
    res->published = rl_sent(r);
    res->deliveries = rl_deliveries(r);
    res->seconds = tlast > t0 ? (double)(tlast - t0) / 1e9 : 0;
    res->deliveries_per_s = res->seconds > 0 ? (double)res->deliveries / res->seconds : 0;
}

static int rl_start_relay(rl *r, char *log, size_t logcap)
{
    char shards[16];
    char line[512];
    char avc[64];
    char hexid[80];
    char addr[80];
    int fd = -1;

    (void)snprintf(shards, sizeof(shards), "%u", r->o.shards);
    (void)snprintf(avc, sizeof(avc), "protocol.active_view_capacity=%u", r->npeers + 4);
    (void)snprintf(log, logcap, "/tmp/gossip-bench-relay.%d.log", (int)getpid());
    {
        const char *av[] = {r->o.gossipd,  "--relay", "--listen", "127.0.0.1:0", "--shards", shards,
                            "--log-level", "warn",    "--set",    avc,           NULL};

        r->relay = gs_ops_spawn(av, &fd, log);
    }
    if (r->relay < 0 || gs_ops_read_line(fd, line, sizeof(line), 30000) < 0 ||
        sscanf(line, "ready %79s %79s", hexid, addr) != 2 ||
        gs_bench_unhex(hexid, r->relay_id, 32) < 0 || gs_udp_addr_parse(&r->relay_addr, addr) < 0) {
        fprintf(stderr, "gossip-bench relay: the relay did not start (log %s)\n", log);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return 0;
}

int gs_bench_relay(int argc, char **argv)
{
    static const struct option lo[] = {
        {"gossipd", required_argument, NULL, 'g'},
        {"publishers", required_argument, NULL, 'p'},
        {"subscribers", required_argument, NULL, 'k'},
        {"shards", required_argument, NULL, 's'},
        {"messages", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, 'r'},
        {"drain", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"plot", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static rl r;
    gs_ops_result res;
    char log[128];
    int c;
    int rv = 1;
    unsigned started = 0;
    double cpu0, gen0;

    memset(&r, 0, sizeof(r));
    r.o = (rl_opts){.gossipd = gs_bench_default_gossipd(),
                    .publishers = 1,
                    .subscribers = 9,
                    .shards = 1,
                    .messages = 20000,
                    .size = 1024,
                    .rate = 5000,
                    .drain = 1.0};
    optind = 1;
    while ((c = getopt_long(argc + 1, argv - 1, "", lo, NULL)) != -1) {
        switch (c) {
        case 'g':
            r.o.gossipd = optarg;
            break;
        case 'p':
            r.o.publishers = (unsigned)atoi(optarg);
            break;
        case 'k':
            r.o.subscribers = (unsigned)atoi(optarg);
            break;
        case 's':
            r.o.shards = (unsigned)atoi(optarg);
            break;
        case 'm':
            r.o.messages = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            r.o.size = (size_t)atol(optarg);
            break;
        case 'r':
            r.o.rate = atof(optarg);
            break;
        case 'd':
            r.o.drain = atof(optarg);
            break;
        case 'j':
            r.o.json = true;
            break;
        case 'P':
            r.o.plot = optarg;
            break;
        case 'h':
            rl_usage();
            return 0;
        default:
            rl_usage();
            return 2;
        }
    }
    if (r.o.publishers == 0 || r.o.subscribers == 0 ||
        r.o.publishers + r.o.subscribers > RL_MAX_PEERS || r.o.size < RL_HDR || r.o.size > 3900 ||
        r.o.messages == 0 || r.o.messages > 100000000 || r.o.rate <= 0 || r.o.shards == 0) {
        rl_usage();
        return 2;
    }
    r.npeers = r.o.publishers + r.o.subscribers;
    r.rate = r.o.rate;
    gs_blake3_hash(RL_TOPIC, strlen(RL_TOPIC), r.topic.b);
    if (rl_start_relay(&r, log, sizeof(log)) < 0) {
        gs_ops_stop_all();
        return 1;
    }
    fprintf(stderr,
            "gossip-bench relay: relay %s, %u publishers + %u subscribers (virtual peers)\n", log,
            r.o.publishers, r.o.subscribers);
    atomic_store(&r.trial, 1);
    atomic_store(&r.trial_msgs, r.o.messages);
    for (unsigned i = 0; i < r.npeers; ++i) {
        rl_peer *p = &r.p[i];
        int e;

        if (i >= r.o.publishers) {
            p->seen = calloc(1, (size_t)(r.o.messages + 7) / 8 + 1);
        }
        e = rl_peer_new(&r, p, i, i < r.o.publishers);
        if (e < 0 || (i >= r.o.publishers && p->seen == NULL)) {
            fprintf(stderr, "gossip-bench relay: virtual peer %u: %s\n", i, gs_strerror(e));
            goto out;
        }
        if (pthread_create(&p->th, NULL, rl_peer_main, p) != 0) {
            goto out;
        }
        started++;
    }
    {
        uint64_t end = gs_ops_now_ns() + 30000000000ULL;

        for (;;) {
            unsigned ok = 0;

            for (unsigned i = 0; i < r.npeers; ++i) {
                ok += atomic_load(&r.p[i].neighbor) != 0;
            }
            if (ok == r.npeers) {
                break;
            }
            if (gs_ops_now_ns() > end) {
                fprintf(stderr,
                        "gossip-bench relay: only %u of %u peers are the relay's "
                        "neighbours after 30 s (log %s)\n",
                        ok, r.npeers, log);
                goto out;
            }
            usleep(20000);
        }
    }
    usleep(300000);
    memset(&res, 0, sizeof(res));
    res.offered = r.o.rate;
    res.expected = r.o.messages * r.o.subscribers;
    cpu0 = gs_ops_proc_cpu_s(r.relay);
    gen0 = self_cpu();
    atomic_store(&r.t0_ns, gs_ops_now_ns());
    for (unsigned i = 0; i < r.o.publishers; ++i) {
        (void)gs_engine_wake(r.p[i].eng);
    }
    rl_measure(&r, r.o.messages, &res);
    res.cpu_s = gs_ops_proc_cpu_s(r.relay) - cpu0;
    res.gen_cpu_s = self_cpu() - gen0;
    res.cpu_us_per_delivery = res.deliveries > 0 ? res.cpu_s * 1e6 / (double)res.deliveries : 0;
    {
        uint64_t t0 = atomic_load(&r.t0_ns);
        uint64_t last = 0;

        (void)t0;
        for (unsigned i = 0; i < r.o.publishers; ++i) {
            res.publish_errors += r.p[i].refused;
        }
        last = res.published;
        res.achieved = res.seconds > 0 ? (double)last / res.seconds : 0;
        if (res.achieved > res.offered) {
            res.achieved = res.offered;
        }
    }
    atomic_store(&r.stop, 1);
    for (unsigned i = 0; i < started; ++i) {
        (void)gs_engine_wake(r.p[i].eng);
        (void)pthread_join(r.p[i].th, NULL);
    }
    started = 0;
    for (unsigned i = r.o.publishers; i < r.npeers; ++i) {
        gs_ops_hist_merge(&res.lat, &r.p[i].lat);
        res.duplicates += r.p[i].duplicates;
    }
    printf(
        "\ngossip-bench relay: %u publishers, %u subscribers (virtual QUIC peers), relay with %u "
        "shards, %zu B, %llu messages at %.0f msg/s (load average %.2f)\n",
        r.o.publishers, r.o.subscribers, r.o.shards, r.o.size, (unsigned long long)r.o.messages,
        r.o.rate, gs_ops_loadavg());
    gs_ops_result_header(stdout);
    gs_ops_result_row(stdout, "gossipd", &res);
    printf("relay peak RSS %.1f MB; cpu us/d is the relay process's CPU per delivery\n",
           (double)gs_ops_proc_hwm_kb(r.relay) / 1024);
    if (r.o.plot != NULL && gs_ops_mkdir_p(r.o.plot) == 0) {
        char path[4200];

        (void)snprintf(path, sizeof(path), "%s/relay-latency.dat", r.o.plot);
        (void)gs_ops_hist_cdf(&res.lat, path);
        (void)gs_ops_plot(r.o.plot, "relay-latency-cdf",
                          "set title 'gossipd relay fan-out: latency CDF'\n"
                          "set xlabel 'latency (ms)'\nset ylabel 'fraction'\nset logscale x\n"
                          "set grid\nplot 'relay-latency.dat' using 1:2 with lines lw 2 "
                          "title 'gossipd relay'");
    }
    if (r.o.json) {
        printf(
            "{\"mode\":\"relay\",\"publishers\":%u,\"subscribers\":%u,\"shards\":%u,\"size\":%zu,"
            "\"messages\":%llu,\"rate\":%.1f,\"load_avg\":%.2f,\"results\":[{\"impl\":"
            "\"gossipd\",\"server_rss_peak_kb\":%llu,\"run\":",
            r.o.publishers, r.o.subscribers, r.o.shards, r.o.size, (unsigned long long)r.o.messages,
            r.o.rate, gs_ops_loadavg(), (unsigned long long)gs_ops_proc_hwm_kb(r.relay));
        gs_ops_result_json(stdout, &res);
        printf("}]}\n");
    }
    fflush(stdout);
    rv = 0;
out:
    atomic_store(&r.stop, 1);
    for (unsigned i = 0; i < started; ++i) {
        (void)gs_engine_wake(r.p[i].eng);
        (void)pthread_join(r.p[i].th, NULL);
    }
    for (unsigned i = 0; i < r.npeers; ++i) {
        rl_peer_free(&r.p[i]);
    }
    gs_ops_stop_all();
    if (rv == 0) {
        (void)unlink(log);
    }
    return rv;
}
