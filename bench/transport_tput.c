/* SPDX-License-Identifier: MIT */
/*
 * transport_tput.c: `gossip-bench transport throughput`: in one run,
 *   (a) raw loopback UDP limits (udp_limit.c), plain and GSO;
 *   (b) one QUIC connection's goodput and packets/s (server engine on one thread, client engine
 *       on another, one topic stream, max-size Gossip frames);
 *   (c) aggregate goodput of N connections (same two threads);
 *   (d) handshakes per second (the client keeps a fixed number of dials in flight and closes
 *       each connection as soon as it is up);
 *   (e) AES-128-GCM speed from `openssl speed` and the ratios of (b) to the GSO limit and to AES.
 * Goodput counts frame bytes (prefix + body) delivered to the server's on_frame per second of
 * the measurement window, which starts once every connection is up.  CPU seconds per thread are
 * reported so that "per core" figures can be judged on a shared machine.
 */
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "codec.h"

#define TP_MAX_CONNS 1024
/* Unacknowledged bytes kept queued per connection (--queue-kib): the stream window (4 MiB), so
 * the transport, not the benchmark, limits the bytes in flight.  A smaller target caps goodput
 * at target / RTT, and a busy machine inflates the RTT. */
#define TP_QUEUE_TARGET  (4u << 20)
#define TP_HS_INFLIGHT   128 /* concurrent dials in the handshake phase */
#define TP_WARMUP_S      0.5
#define TP_SETUP_TIMEOUT 20.0
#define TP_POOL          16
#define TP_FILL_BUDGET   (256u << 10) /* bytes queued per client turn, all connections */

typedef enum tp_mode {
    TP_SERVER = 0,
    TP_STREAM = 1,
    TP_HANDSHAKE = 2,
} tp_mode;

/* tp_node: one engine on its own thread.  The atomics are the only state other threads read. */
typedef struct tp_node {
    tp_mode mode;
    pthread_t th;
    gs_identity id;
    /* client settings */
    uint8_t server_id[GS_ID_LEN];
    gs_udp_addr server_addr;
    size_t nconns;
    size_t frame_size;   /* content bytes per Gossip frame */
    size_t queue_target; /* unacknowledged bytes kept queued per connection */
    /* published by the node thread */
    atomic_int state; /* 0 starting, 1 ready (server listening / clients connected), -1 failed */
    atomic_bool stop;
    gs_udp_addr addr;            /* server: bound address, written before state = 1 */
    _Atomic uint64_t frames;     /* server: frames received; client: frames queued */
    _Atomic uint64_t bytes;      /* server: frame bytes received (prefix included) */
    _Atomic uint64_t handshakes; /* handshakes completed (connected callbacks) */
    _Atomic uint64_t pkts_rx;    /* datagrams received by the ring */
    _Atomic uint64_t pkts_tx;    /* datagrams sent by the ring */
    _Atomic uint64_t cpu_ns;     /* this thread's CPU time */
    _Atomic uint64_t failures;   /* dials that ended without connecting */
    /* thread-private */
    gs_engine *e;
    gs_quic_conn_id conns[TP_MAX_CONNS];
    bool up[TP_MAX_CONNS];
    size_t nup;
    size_t inflight;
    size_t next_fill;
    uint64_t seq;
    uint64_t salt;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    /* pre-encoded frames, cycled: the transport is measured, not BLAKE3 and the encoder */
    uint8_t pool[TP_POOL][GS_MAX_MESSAGE_SIZE_DEFAULT + 64];
    size_t pool_len[TP_POOL];
} tp_node;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void tp_publish(tp_node *n)
{
    const gs_uring_stats *st = gs_uring_stats_get(gs_engine_uring(n->e));

    atomic_store_explicit(&n->pkts_rx, st->rx_dgrams, memory_order_relaxed);
    atomic_store_explicit(&n->pkts_tx, st->tx_dgrams, memory_order_relaxed);
    atomic_store_explicit(&n->cpu_ns, thread_cpu_ns(), memory_order_relaxed);
}

static void tp_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                            gs_quic_dir dir)
{
    tp_node *n = ud;

    (void)peer;
    (void)dir;
    atomic_fetch_add_explicit(&n->handshakes, 1, memory_order_relaxed);
    if (n->mode == TP_STREAM) {
        for (size_t i = 0; i < n->nconns; ++i) {
            if (n->conns[i] == conn && !n->up[i]) {
                n->up[i] = true;
                ++n->nup;
            }
        }
    } else if (n->mode == TP_HANDSHAKE) {
        (void)gs_engine_close(n->e, conn, 0, "bench");
    }
}

static void tp_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                         uint64_t app_error, const char *reason, bool was_send_path)
{
    tp_node *n = ud;

    (void)conn;
    (void)peer;
    (void)app_error;
    (void)reason;
    (void)was_send_path;
    if (n->mode == TP_HANDSHAKE) {
        --n->inflight;
        if (rv != 0) {
            atomic_fetch_add_explicit(&n->failures, 1, memory_order_relaxed);
        }
    } else if (n->mode == TP_STREAM && rv != 0 && !atomic_load(&n->stop)) {
        atomic_fetch_add_explicit(&n->failures, 1, memory_order_relaxed);
    }
}

static void tp_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                        const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    tp_node *n = ud;

    (void)conn;
    (void)peer;
    (void)topic;
    (void)body;
    /* Single writer: plain load + store is enough for readers on other threads. */
    atomic_store_explicit(&n->frames, atomic_load_explicit(&n->frames, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&n->bytes,
                          atomic_load_explicit(&n->bytes, memory_order_relaxed) + len +
                              GS_FRAME_PREFIX_LEN,
                          memory_order_relaxed);
}

static void tp_engine_cfg(tp_node *n, gs_engine_cfg *cfg)
{
    gs_engine_cfg_default(cfg);
    (void)gs_udp_addr_parse(&cfg->listen[0], "127.0.0.1:0");
    cfg->nlisten = 1;
    cfg->cb.user_data = n;
    cfg->cb.on_connected = tp_on_connected;
    cfg->cb.on_closed = tp_on_closed;
    cfg->cb.on_frame = tp_on_frame;
    /* Every bench connection comes from 127.0.0.1: lift the per-address cap, and measure raw
     * handshakes (no Retry round trip). */
    cfg->quic.max_conns = 65536;
    cfg->quic.max_conns_per_addr = 65536;
    cfg->quic.max_conns_per_prefix = 65536;
    cfg->quic.max_halfopen = cfg->quic.max_halfopen_per_prefix = 65536;
    cfg->quic.rx_mem_max = cfg->quic.rx_mem_prefix_max = (size_t)1 << 40;
    cfg->quic.retry_mode = GS_QUIC_RETRY_OFF;
    cfg->nrecv_bufs = 256;
    cfg->nsend_slots = 128;
}

static void tp_stream_fill(tp_node *n)
{
    gs_quic_ep *ep = gs_engine_quic(n->e);
    size_t budget = TP_FILL_BUDGET;

    /* Top every connection up to queue_target unacknowledged bytes, but queue at most
     * TP_FILL_BUDGET bytes per turn (round robin), so a turn stays short and ACKs are read
     * promptly: long turns inflate the RTT the congestion controller sees. */
    for (size_t k = 0; k < n->nconns && budget > 0; ++k) {
        size_t i = (n->next_fill + k) % n->nconns;

        if (!n->up[i]) {
            continue;
        }
        while (budget > 0 && gs_quic_ep_queued_bytes(ep, n->conns[i]) < n->queue_target) {
            size_t f = n->seq % TP_POOL;

            if (gs_quic_ep_send_frame_conn(ep, n->conns[i], n->topic, n->pool[f], n->pool_len[f]) !=
                0) {
                break;
            }
            budget = budget > n->pool_len[f] ? budget - n->pool_len[f] : 0;
            ++n->seq;
            atomic_store_explicit(&n->frames, n->seq, memory_order_relaxed);
        }
    }
    n->next_fill = (n->next_fill + 1) % n->nconns;
}

static void *tp_main(void *arg)
{
    tp_node *n = arg;
    gs_engine_cfg cfg;
    int rv;

    tp_engine_cfg(n, &cfg);
    rv = gs_engine_new(&n->e, &cfg, &n->id, gs_mem_default());
    if (rv != 0) {
        fprintf(stderr, "throughput: engine: %s\n", gs_strerror(rv));
        atomic_store(&n->state, -1);
        return NULL;
    }
    if (n->mode == TP_SERVER) {
        n->addr = *gs_engine_local(n->e, 0);
        atomic_store(&n->state, 1);
    } else if (n->mode == TP_STREAM) {
        for (size_t i = 0; i < n->nconns; ++i) {
            rv = gs_engine_connect(n->e, n->server_id, &n->server_addr, &n->conns[i]);
            if (rv != 0) {
                fprintf(stderr, "throughput: connect: %s\n", gs_strerror(rv));
                atomic_store(&n->state, -1);
                break;
            }
        }
    }
    while (!atomic_load_explicit(&n->stop, memory_order_acquire)) {
        if (n->mode == TP_STREAM) {
            if (n->nup == n->nconns && atomic_load(&n->state) == 0) {
                atomic_store(&n->state, 1);
            }
            tp_stream_fill(n);
        } else if (n->mode == TP_HANDSHAKE) {
            if (atomic_load(&n->state) == 0) {
                atomic_store(&n->state, 1);
            }
            while (n->inflight < TP_HS_INFLIGHT) {
                if (gs_engine_connect(n->e, n->server_id, &n->server_addr, NULL) != 0) {
                    atomic_fetch_add_explicit(&n->failures, 1, memory_order_relaxed);
                    break;
                }
                ++n->inflight;
            }
        }
        rv = gs_engine_run_once(n->e, 50 * GS_MILLISECONDS);
        if (rv != 0) {
            fprintf(stderr, "throughput: run: %s\n", gs_strerror(rv));
            atomic_store(&n->state, -1);
            break;
        }
        tp_publish(n);
    }
    {
        const gs_engine_stats *es = gs_engine_stats_get(n->e);
        const gs_uring_stats *us = gs_uring_stats_get(gs_engine_uring(n->e));

        fprintf(stderr,
                "  [%s] turns %llu, sends %llu (%.1f datagrams each), rx %llu datagrams in %llu "
                "buffers, send pool full %llu, tx errors %llu, connections live %llu of %llu "
                "created (%llu handshakes done, %llu failed, %llu closed)\n",
                n->mode == TP_SERVER ? "server" : "client", (unsigned long long)es->turns,
                (unsigned long long)us->tx_sends,
                us->tx_sends != 0 ? (double)us->tx_dgrams / (double)us->tx_sends : 0.0,
                (unsigned long long)us->rx_dgrams, (unsigned long long)us->rx_bufs,
                (unsigned long long)es->tx_blocked, (unsigned long long)us->tx_errors,
                (unsigned long long)gs_quic_ep_stats_get(gs_engine_quic(n->e))->conns_active,
                (unsigned long long)gs_quic_ep_stats_get(gs_engine_quic(n->e))->handshakes_started,
                (unsigned long long)gs_quic_ep_stats_get(gs_engine_quic(n->e))->handshakes_ok,
                (unsigned long long)gs_quic_ep_stats_get(gs_engine_quic(n->e))->handshakes_failed,
                (unsigned long long)gs_quic_ep_stats_get(gs_engine_quic(n->e))->conns_closed);
    }
    if (n->mode == TP_STREAM && n->nconns == 1) {
        gs_quic_conn_info ci;
        if (gs_quic_ep_conn_info(gs_engine_quic(n->e), n->conns[0], &ci) == 0) {
            fprintf(stderr,
                    "  [client] conn: srtt %.3f ms, rttvar %.3f ms, min_rtt %.3f ms, cwnd %llu, "
                    "ssthresh %s%llu, in flight %llu, pto_count %llu\n",
                    (double)ci.smoothed_rtt / 1e6, (double)ci.rttvar / 1e6,
                    (double)ci.min_rtt / 1e6, (unsigned long long)ci.cwnd,
                    ci.ssthresh == UINT64_MAX ? "none " : "",
                    (unsigned long long)(ci.ssthresh == UINT64_MAX ? 0 : ci.ssthresh),
                    (unsigned long long)ci.bytes_in_flight, (unsigned long long)ci.pto_count);
        }
    }
    /* Clean shutdown: close every connection and let the closes leave (bounded). */
    (void)gs_engine_shutdown(n->e, 0, "bench done", GS_SECONDS / 2);
    gs_engine_del(n->e);
    n->e = NULL;
    return NULL;
}

static int tp_start(tp_node *n)
{
    atomic_init(&n->state, 0);
    atomic_init(&n->stop, false);
    if (gs_identity_generate(&n->id) != 0) {
        return -1;
    }
    n->salt = gs_uring_now();
    memset(n->topic, 0x42, sizeof(n->topic));
    if (n->mode == TP_STREAM) {
        for (size_t k = 0; k < TP_POOL; ++k) {
            long len = gs_bench_gossip_frame(n->pool[k], sizeof(n->pool[k]), k, n->salt,
                                             n->frame_size, GS_MAX_MESSAGE_SIZE_DEFAULT);
            if (len < 0) {
                return -1;
            }
            n->pool_len[k] = (size_t)len;
        }
    }
    if (pthread_create(&n->th, NULL, tp_main, n) != 0) {
        return -1;
    }
    return 0;
}

static void tp_stop(tp_node *n)
{
    atomic_store_explicit(&n->stop, true, memory_order_release);
    /* The node may be asleep in its ring: its run_once wakes within 50 ms anyway. */
    (void)pthread_join(n->th, NULL);
    gs_identity_wipe(&n->id);
}

/* tp_wait_state waits until |n| is ready (1) or failed (-1), at most |timeout| seconds. */
static int tp_wait_state(tp_node *n, double timeout)
{
    double t0 = gs_bench_now_s();

    while (atomic_load(&n->state) == 0 && gs_bench_now_s() - t0 < timeout) {
        struct timespec ts = {.tv_nsec = 1000000};
        (void)nanosleep(&ts, NULL);
    }
    return atomic_load(&n->state);
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

    (void)nanosleep(&ts, NULL);
}

typedef struct tp_result {
    double goodput_gbps;
    double packets_per_s;
    double frames_per_s;
    double handshakes_per_s;        /* completed by the client (dialing side) */
    double server_handshakes_per_s; /* completed by the server (client Finished verified) */
    double server_cpu;
    double client_cpu;
    uint64_t failures;
    bool ok;
} tp_result;

/* tp_phase runs one client mode against a fresh server for |seconds| of measurement. */
static size_t tp_queue_target = TP_QUEUE_TARGET;

static void tp_phase(tp_mode mode, size_t nconns, double seconds, const char *label, tp_result *res)
{
    tp_node *srv = calloc(1, sizeof(*srv));
    tp_node *cl = calloc(1, sizeof(*cl));

    memset(res, 0, sizeof(*res));
    if (srv == NULL || cl == NULL) {
        goto out;
    }
    srv->mode = TP_SERVER;
    if (tp_start(srv) != 0 || tp_wait_state(srv, TP_SETUP_TIMEOUT) != 1) {
        fprintf(stderr, "[%s] server did not start\n", label);
        goto out_srv;
    }
    cl->mode = mode;
    cl->nconns = nconns;
    cl->queue_target = tp_queue_target;
    cl->frame_size = GS_MAX_MESSAGE_SIZE_DEFAULT - 64; /* near-maximum: body 4070 of < 4096 */
    memcpy(cl->server_id, srv->id.pk, GS_ID_LEN);
    cl->server_addr = srv->addr;
    if (tp_start(cl) != 0) {
        goto out_srv;
    }
    if (tp_wait_state(cl, TP_SETUP_TIMEOUT) != 1) {
        fprintf(stderr, "[%s] client connections did not come up (%llu of %zu)\n", label,
                (unsigned long long)atomic_load(&cl->handshakes), nconns);
        goto out_cl;
    }
    sleep_s(TP_WARMUP_S);
    uint64_t b0 = atomic_load(&srv->bytes);
    uint64_t f0 = atomic_load(&srv->frames);
    uint64_t p0 = atomic_load(&srv->pkts_rx);
    uint64_t h0 = atomic_load(&cl->handshakes);
    uint64_t hs0 = atomic_load(&srv->handshakes);
    uint64_t sc0 = atomic_load(&srv->cpu_ns);
    uint64_t cc0 = atomic_load(&cl->cpu_ns);
    double t0 = gs_bench_now_s();
    double next = t0 + 1.0;
    while (gs_bench_now_s() - t0 < seconds) {
        sleep_s(0.05);
        double now = gs_bench_now_s();
        if (now >= next) {
            double dt = now - t0;
            fprintf(stderr, "[%s] %.0fs: %.3f Gbit/s, %.0f pkt/s, %.0f handshakes/s\n", label, dt,
                    (double)(atomic_load(&srv->bytes) - b0) * 8 / dt / 1e9,
                    (double)(atomic_load(&srv->pkts_rx) - p0) / dt,
                    (double)(atomic_load(&cl->handshakes) - h0) / dt);
            next += 1.0;
        }
    }
    double dt = gs_bench_now_s() - t0;
    res->goodput_gbps = (double)(atomic_load(&srv->bytes) - b0) * 8.0 / dt / 1e9;
    res->frames_per_s = (double)(atomic_load(&srv->frames) - f0) / dt;
    res->packets_per_s = (double)(atomic_load(&srv->pkts_rx) - p0) / dt;
    res->handshakes_per_s = (double)(atomic_load(&cl->handshakes) - h0) / dt;
    res->server_handshakes_per_s = (double)(atomic_load(&srv->handshakes) - hs0) / dt;
    res->server_cpu = (double)(atomic_load(&srv->cpu_ns) - sc0) / 1e9 / dt;
    res->client_cpu = (double)(atomic_load(&cl->cpu_ns) - cc0) / 1e9 / dt;
    res->failures = atomic_load(&cl->failures);
    res->ok = true;
out_cl:
    tp_stop(cl);
out_srv:
    tp_stop(srv);
out:
    free(srv);
    free(cl);
}

/*
 * contender_start forks one busy-loop process pinned to the last CPU (the "competing busy
 * process" of the contended measurement); returns its pid or -1.  The engine threads are not
 * pinned: they share what the scheduler gives them, as in a daemon on a busy machine.
 */
static pid_t contender_start(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t pid = fork();

    if (pid != 0) {
        return pid; /* parent (or -1) */
    }
    if (ncpu > 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)(ncpu - 1), &set);
        (void)sched_setaffinity(0, sizeof(set), &set);
    }
    for (volatile unsigned long spin = 0;; ++spin) {
    }
}

static void contender_stop(pid_t pid)
{
    if (pid > 0) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
    }
}

int gs_bench_transport_throughput(int argc, char **argv)
{
    size_t nconns = 64;
    double seconds = 3.0;
    bool json = false;
    bool contend = false;    /* also measure phase (b) beside a competing busy process */
    const char *only = NULL; /* profiling aid: run one phase (udp, one, many, hs, aes) */

    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            nconns = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--queue-kib") == 0 && i + 1 < argc) {
            tp_queue_target = (size_t)strtoul(argv[++i], NULL, 10) << 10;
        } else if (strcmp(argv[i], "--contend") == 0) {
            contend = true;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: gossip-bench transport throughput [--connections N] "
                            "[--seconds S] [--json] [--contend] [--queue-kib K] "
                            "[--only udp|one|many|hs|aes]\n");
            return 2;
        }
    }
    if (nconns == 0 || nconns > TP_MAX_CONNS || !(seconds > 0.0 && seconds <= 600.0) ||
        tp_queue_target < (64u << 10) || tp_queue_target > (256u << 20)) {
        fprintf(stderr,
                "throughput: --connections must be 1..%d, --seconds 0..600, --queue-kib "
                "64..262144\n",
                TP_MAX_CONNS);
        return 2;
    }

    gs_bench_udp_result plain;
    gs_bench_udp_result gso;
    memset(&plain, 0, sizeof(plain));
    memset(&gso, 0, sizeof(gso));
    int rv = 0;
    if (only == NULL || strcmp(only, "udp") == 0) {
        fprintf(stderr, "[udp] plain sendmmsg/recvmmsg, 1200 B, %.1f s\n", seconds);
        rv = gs_bench_udp_limit(false, 1200, seconds, &plain);
        if (rv != 0) {
            fprintf(stderr, "[udp] plain failed: %s\n", gs_strerror(rv));
        }
        fprintf(stderr, "[udp] plain: %.0f datagrams/s (%.2f Gbit/s)\n", plain.pps, plain.gbps);
        fprintf(stderr, "[udp] GSO sendmsg -> GRO recv, 1200 B, %.1f s\n", seconds);
        rv = gs_bench_udp_limit(true, 1200, seconds, &gso);
        if (rv != 0) {
            fprintf(stderr, "[udp] gso failed: %s\n", gs_strerror(rv));
        }
        fprintf(stderr, "[udp] gso: %.0f datagrams/s (%.2f Gbit/s)\n", gso.pps, gso.gbps);
    }

    tp_result one;
    tp_result many;
    tp_result hs;
    memset(&one, 0, sizeof(one));
    memset(&many, 0, sizeof(many));
    memset(&hs, 0, sizeof(hs));
    one.ok = many.ok = hs.ok = only != NULL;
    tp_result busy;
    memset(&busy, 0, sizeof(busy));
    busy.ok = true;
    if (only == NULL || strcmp(only, "one") == 0) {
        tp_phase(TP_STREAM, 1, seconds, "quic 1 conn", &one);
        if (contend) {
            pid_t pid = contender_start();
            if (pid < 0) {
                fprintf(stderr, "[contended] fork: %s\n", strerror(errno));
                busy.ok = false;
            } else {
                tp_phase(TP_STREAM, 1, seconds, "quic 1 conn, busy process beside", &busy);
                contender_stop(pid);
            }
        }
    }
    if (only == NULL || strcmp(only, "many") == 0) {
        tp_phase(TP_STREAM, nconns, seconds, "quic N conns", &many);
    }
    if (only == NULL || strcmp(only, "hs") == 0) {
        tp_phase(TP_HANDSHAKE, 0, seconds, "handshakes", &hs);
    }
    double aes = -1.0;
    if (only == NULL || strcmp(only, "aes") == 0) {
        fprintf(stderr, "[aes] openssl speed -bytes 1024 -seconds 2 -evp aes-128-gcm\n");
        aes = gs_bench_aes_gcm_gbps();
    }

    double gso_gbps = gso.pps * 1200.0 * 8.0 / 1e9;
    double r_gso = gso_gbps > 0 ? one.goodput_gbps / gso_gbps : 0;
    double r_aes = aes > 0 ? one.goodput_gbps / aes : 0;
    printf("gossip-bench transport throughput (%.1f s per phase)\n", seconds);
    printf("%-34s %14s %14s %10s %10s\n", "measurement", "rate", "unit", "srv cpu", "cli cpu");
    printf("%-34s %14.0f %14s\n", "udp loopback plain (1200 B)", plain.pps, "datagrams/s");
    printf("%-34s %14.0f %14s\n", "udp loopback GSO->GRO (1200 B)", gso.pps, "datagrams/s");
    printf("%-34s %14.3f %14s %10.2f %10.2f\n", "quic 1 conn goodput", one.goodput_gbps, "Gbit/s",
           one.server_cpu, one.client_cpu);
    printf("%-34s %14.0f %14s\n", "quic 1 conn packets", one.packets_per_s, "packets/s");
    double contended_ratio = one.goodput_gbps > 0 ? busy.goodput_gbps / one.goodput_gbps : 0;
    if (contend) {
        printf("%-34s %14.3f %14s %10.2f %10.2f\n", "quic 1 conn goodput, busy process",
               busy.goodput_gbps, "Gbit/s", busy.server_cpu, busy.client_cpu);
        printf("%-34s %14.3f\n", "busy / quiet goodput", contended_ratio);
    }
    printf("%-34s %14.0f %14s\n", "quic 1 conn frames", one.frames_per_s, "frames/s");
    char label[64];
    (void)snprintf(label, sizeof(label), "quic %zu conns goodput", nconns);
    printf("%-34s %14.3f %14s %10.2f %10.2f\n", label, many.goodput_gbps, "Gbit/s", many.server_cpu,
           many.client_cpu);
    printf("%-34s %14.0f %14s %10.2f %10.2f\n", "handshakes", hs.handshakes_per_s, "per second",
           hs.server_cpu, hs.client_cpu);
    printf("%-34s %14.0f %14s\n", "handshakes completed by the server", hs.server_handshakes_per_s,
           "per second");
    printf("%-34s %14.3f %14s\n", "AES-128-GCM (openssl, 1 KiB)", aes, "Gbit/s");
    printf("%-34s %14.3f\n", "1 conn / GSO limit (bytes)", r_gso);
    printf("%-34s %14.3f\n", "1 conn / AES-128-GCM", r_aes);
    /* Per core: the rate divided by the busier side's CPU share (one thread each), i.e. what
     * one fully used core would do on an otherwise idle machine. */
    double one_core = one.server_cpu > one.client_cpu ? one.server_cpu : one.client_cpu;
    double gbps_core = one_core > 0 ? one.goodput_gbps / one_core : 0;
    double many_core = many.server_cpu > many.client_cpu ? many.server_cpu : many.client_cpu;
    double many_gbps_core = many_core > 0 ? many.goodput_gbps / many_core : 0;
    /* per server core: handshakes the server completed (it verified the client's Finished) */
    double hs_srv_core = hs.server_cpu > 0 ? hs.server_handshakes_per_s / hs.server_cpu : 0;
    double hs_cli_core = hs.client_cpu > 0 ? hs.handshakes_per_s / hs.client_cpu : 0;
    printf("%-34s %14.3f %14s\n", "1 conn goodput per busy core", gbps_core, "Gbit/s");
    printf("%-34s %14.3f %14s\n", "N conns goodput per busy core", many_gbps_core, "Gbit/s");
    printf("%-34s %14.0f %14s\n", "handshakes per server core", hs_srv_core, "per second");
    printf("%-34s %14.0f %14s\n", "handshakes per client core", hs_cli_core, "per second");
    if (!one.ok || !many.ok || !hs.ok || !busy.ok) {
        printf("note: a phase failed (see stderr); its figures are 0\n");
    }
    if (json) {
        printf("{\"goodput_gbps\":%.4f,\"packets_per_s\":%.0f,\"frames_per_s\":%.0f,"
               "\"connections\":%zu,\"multi_goodput_gbps\":%.4f,\"handshakes_per_s\":%.0f,"
               "\"udp_plain_limit_pps\":%.0f,\"udp_gso_limit_pps\":%.0f,"
               "\"aes128gcm_gbps\":%.3f,\"ratio_gso\":%.4f,\"ratio_aes\":%.4f,"
               "\"cpu_server_1conn\":%.3f,\"cpu_client_1conn\":%.3f,"
               "\"cpu_server_handshake\":%.3f,\"cpu_client_handshake\":%.3f,"
               "\"goodput_per_core_gbps\":%.4f,\"multi_goodput_per_core_gbps\":%.4f,\"handshakes_"
               "per_server_core\":%.0f,"
               "\"handshakes_per_client_core\":%.0f,\"server_handshakes_per_s\":%.0f,"
               "\"contended_goodput_gbps\":%.4f,\"contended_ratio\":%.4f,"
               "\"cpu_server_contended\":%.3f,\"cpu_client_contended\":%.3f,"
               "\"seconds\":%.2f,\"ok\":%s}\n",
               one.goodput_gbps, one.packets_per_s, one.frames_per_s, nconns, many.goodput_gbps,
               hs.handshakes_per_s, plain.pps, gso.pps, aes, r_gso, r_aes, one.server_cpu,
               one.client_cpu, hs.server_cpu, hs.client_cpu, gbps_core, many_gbps_core, hs_srv_core,
               hs_cli_core, hs.server_handshakes_per_s, busy.goodput_gbps, contended_ratio,
               busy.server_cpu, busy.client_cpu, seconds,
               one.ok && many.ok && hs.ok && busy.ok ? "true" : "false");
    }
    fflush(stdout);
    return one.ok && many.ok && hs.ok && busy.ok ? 0 : 1;
}
