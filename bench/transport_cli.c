/* SPDX-License-Identifier: MIT */
/*
 * transport_cli.c: `gossip-bench transport server` and `gossip-bench transport client`, a QUIC
 * listener that prints one JSON line per event and a dialer that sends N Gossip frames on one
 * topic stream, waits for their acknowledgement and closes cleanly.  Other tools (interop tests)
 * parse this output: keep the line formats stable.
 */
#include "transport.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* --- shared --- */

static gs_engine *g_sig_engine;
static volatile sig_atomic_t g_stats_wanted;

static void on_signal(int sig)
{
    (void)sig;
    /* gs_engine_stop is an atomic store plus an eventfd write: async-signal-safe. */
    if (g_sig_engine != NULL) {
        gs_engine_stop(g_sig_engine);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
    g_stats_wanted = 1;
    /* gs_engine_wake is an atomic exchange plus an eventfd write: async-signal-safe */
    if (g_sig_engine != NULL) {
        (void)gs_engine_wake(g_sig_engine);
    }
}

static void install_signals(gs_engine *e)
{
    struct sigaction sa;

    g_sig_engine = e;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_usr1;
    (void)sigaction(SIGUSR1, &sa, NULL);
}

/* Counter tables: name and offset of every uint64_t field, printed in declaration order. */
typedef struct counter {
    const char *name;
    size_t off;
} counter;

#define QC(f)                                                                                      \
    {                                                                                              \
#        f, offsetof(gs_quic_stats, f)                                                             \
    }
static const counter quic_counters[] = {
    QC(datagrams_in),
    QC(bytes_in),
    QC(packets_out),
    QC(bytes_out),
    QC(datagrams_invalid),
    QC(datagrams_dropped),
    QC(disco_dropped),
    QC(version_negotiations),
    QC(handshakes_started),
    QC(handshakes_ok),
    QC(handshakes_failed),
    QC(handshake_timeouts),
    QC(peer_mismatch),
    QC(tls_alerts),
    QC(retries_sent),
    QC(tokens_ok),
    QC(tokens_rejected),
    QC(resets_sent),
    QC(resets_ratelimited),
    QC(resets_received),
    QC(amplification_limited),
    QC(close_waits),
    QC(conns_refused),
    QC(conns_closed),
    QC(idle_timeouts),
    QC(frames_in),
    QC(frames_out),
    QC(frame_bytes_in),
    QC(frame_bytes_out),
    QC(frames_oversize),
    QC(frames_refused),
    QC(send_queue_drops),
    QC(data_refused),
    QC(frames_ref),
    QC(frames_released),
    QC(datagrams_stray),
    QC(stream_errors),
    QC(streams_opened),
    QC(streams_in),
    QC(bidi_refused),
    QC(conns_active),
    QC(rx_buffer_refused),
    QC(rx_buffer_evicted),
    QC(conn_mem),
    QC(conn_mem_reclaimed),
    QC(rx_buffered),
    QC(conns_refused_prefix),
    QC(conns_refused_mem),
    QC(stream_credit_granted),
    QC(stream_credit_refused),
    QC(windows_reduced),
    QC(halfopen_evicted),
    QC(retries_halfopen),
    QC(halfopen),
    QC(rx_mem_committed),
};
#define EC(f)                                                                                      \
    {                                                                                              \
#        f, offsetof(gs_engine_stats, f)                                                           \
    }
static const counter engine_counters[] = {
    EC(turns),      EC(expiries),         EC(writes),         EC(tx_blocked),
    EC(tx_errors),  EC(write_errors),     EC(no_socket),      EC(untracked),
    EC(busy_turns), EC(strays_forwarded), EC(strays_dropped), EC(injected),
};
#define UC(f)                                                                                      \
    {                                                                                              \
#        f, offsetof(gs_uring_stats, f)                                                            \
    }
static const counter uring_counters[] = {
    UC(turns),          UC(cqes),         UC(rx_dgrams), UC(rx_bytes),      UC(rx_bufs),
    UC(rx_gro_batches), UC(rx_rearms),    UC(rx_nobufs), UC(rx_trunc),      UC(rx_errors),
    UC(tx_sends),       UC(tx_dgrams),    UC(tx_bytes),  UC(tx_retries),    UC(tx_dropped),
    UC(tx_errors),      UC(tx_pool_full), UC(wakes),     UC(doorbell_cqes),
};

static void print_counters(const char *name, const void *st, const counter *c, size_t n)
{
    printf("\"%s\":{", name);
    for (size_t i = 0; i < n; ++i) {
        uint64_t v;

        memcpy(&v, (const uint8_t *)st + c[i].off, sizeof(v));
        printf("%s\"%s\":%llu", i > 0 ? "," : "", c[i].name, (unsigned long long)v);
    }
    printf("}");
}

/* print_stats writes one line {"event":"stats","why":..,"quic":{..},"engine":{..},"uring":{..}}
 * with every counter of the server's endpoint, engine and ring (attacks become visible). */
static void print_stats(gs_engine *e, const char *why)
{
    printf("{\"event\":\"stats\",\"why\":\"%s\",", why);
    print_counters("quic", gs_quic_ep_stats_get(gs_engine_quic(e)), quic_counters,
                   sizeof(quic_counters) / sizeof(quic_counters[0]));
    printf(",");
    print_counters("engine", gs_engine_stats_get(e), engine_counters,
                   sizeof(engine_counters) / sizeof(engine_counters[0]));
    printf(",");
    print_counters("uring", gs_uring_stats_get(gs_engine_uring(e)), uring_counters,
                   sizeof(uring_counters) / sizeof(uring_counters[0]));
    printf("}\n");
}

/* json_str prints |s| as a JSON string literal. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static const char *arg_value(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; ++i) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static int check_args(int argc, char **argv, const char *const *known, size_t nknown)
{
    for (int i = 0; i < argc; i += 2) {
        bool ok = false;

        for (size_t k = 0; k < nknown; ++k) {
            ok = ok || strcmp(argv[i], known[k]) == 0;
        }
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "gossip-bench: unknown or incomplete option '%s'\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

static int load_key(const char *path, gs_identity *id)
{
    bool created = false;
    int rv = gs_identity_load_or_create(id, path, &created);

    if (rv != 0) {
        fprintf(stderr, "gossip-bench: %s: %s\n", path, gs_identity_strerror(rv));
        return -1;
    }
    if (created) {
        fprintf(stderr, "gossip-bench: created key file %s\n", path);
    }
    return 0;
}

/* --- server --- */

static void srv_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                             gs_quic_dir dir)
{
    char hex[GS_ID_HEX_LEN + 1];

    (void)ud;
    (void)conn;
    gs_id_to_hex(peer, hex);
    printf("{\"event\":\"connected\",\"peer\":\"%s\",\"direction\":\"%s\"}\n", hex,
           dir == GS_QUIC_DIR_IN ? "in" : "out");
}

static void srv_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                         const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    char hex[GS_ID_HEX_LEN + 1];
    char thex[2 * GS_QUIC_TOPIC_LEN + 1];
    gs_msg msg;
    int rv = gs_codec_decode(&msg, body, len, NULL);

    (void)ud;
    (void)conn;
    gs_id_to_hex(peer, hex);
    gs_bench_hex(topic, GS_QUIC_TOPIC_LEN, thex);
    printf("{\"event\":\"frame\",\"peer\":\"%s\",\"topic\":\"%s\",\"kind\":\"%s\",\"len\":%zu", hex,
           thex, rv == 0 ? gs_bench_msg_kind((int)msg.type) : "Invalid", len);
    if (rv != 0) {
        printf(",\"error\":");
        json_str(stdout, gs_strerror(rv));
    }
    printf("}\n");
}

static void srv_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                          uint64_t app_error, const char *reason, bool was_send_path)
{
    char hex[GS_ID_HEX_LEN + 1];

    (void)ud;
    (void)conn;
    (void)was_send_path;
    gs_id_to_hex(peer, hex);
    printf("{\"event\":\"closed\",\"peer\":\"%s\",\"reason\":", hex);
    json_str(stdout, reason != NULL ? reason : "");
    printf(",\"status\":");
    json_str(stdout, gs_strerror(rv));
    printf(",\"app_error\":%llu}\n", (unsigned long long)app_error);
}

int gs_bench_transport_server(int argc, char **argv)
{
    static const char *const known[] = {"--listen", "--key"};
    const char *listen = arg_value(argc, argv, "--listen");
    const char *key = arg_value(argc, argv, "--key");
    char hex[GS_ID_HEX_LEN + 1];
    char addr[GS_UDP_ADDR_STRLEN];
    gs_engine_cfg cfg;
    gs_identity id;
    gs_engine *e = NULL;
    int rv;

    if (check_args(argc, argv, known, sizeof(known) / sizeof(known[0])) != 0 || listen == NULL ||
        key == NULL) {
        fprintf(stderr, "usage: gossip-bench transport server --listen ADDR:PORT --key FILE\n");
        return 2;
    }
    gs_engine_cfg_default(&cfg);
    if (gs_udp_addr_parse(&cfg.listen[0], listen) != 0) {
        fprintf(stderr, "gossip-bench: bad --listen address '%s'\n", listen);
        return 2;
    }
    cfg.nlisten = 1;
    if (load_key(key, &id) != 0) {
        return 1;
    }
    cfg.cb.on_connected = srv_on_connected;
    cfg.cb.on_frame = srv_on_frame;
    cfg.cb.on_closed = srv_on_closed;
    rv = gs_engine_new(&e, &cfg, &id, gs_mem_default());
    gs_identity_wipe(&id);
    if (rv != 0) {
        fprintf(stderr, "gossip-bench: cannot listen on %s: %s\n", listen, gs_strerror(rv));
        return 1;
    }
    install_signals(e);
    (void)setvbuf(stdout, NULL, _IOFBF, 1u << 16);
    gs_id_to_hex(gs_engine_id(e), hex);
    if (gs_udp_addr_format(gs_engine_local(e, 0), addr, sizeof(addr)) < 0) {
        addr[0] = '\0';
    }
    printf("ready %s %s\n", hex, addr);
    fflush(stdout);
    /* Event lines are flushed once per turn (not per line): a frame flood costs one write per
     * turn, and a reader still sees every event as soon as the turn that produced it ends. */
    rv = 0;
    while (!gs_engine_stopping(e)) {
        rv = gs_engine_run_once(e, GS_SECONDS);
        if (g_stats_wanted) {
            g_stats_wanted = 0;
            print_stats(e, "SIGUSR1");
        }
        if (fflush(stdout) != 0 || rv != 0) {
            break;
        }
    }
    if (rv == 0) {
        /* SIGINT/SIGTERM: close every connection (code 0) and let the closes leave, bounded. */
        (void)gs_engine_shutdown(e, 0, "server shutdown", GS_SECONDS);
    }
    print_stats(e, "exit");
    (void)fflush(stdout);
    g_sig_engine = NULL;
    gs_engine_del(e);
    if (rv != 0) {
        fprintf(stderr, "gossip-bench: engine failed: %s\n", gs_strerror(rv));
        return 1;
    }
    return 0;
}

/* --- client --- */

typedef struct cli {
    gs_engine *e;
    gs_quic_conn_id conn;
    bool connected;
    bool closed;
    int close_rv;
    char close_reason[512];
    uint8_t peer[GS_ID_LEN];
} cli;

static void cli_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                             gs_quic_dir dir)
{
    cli *c = ud;

    (void)dir;
    if (conn == c->conn) {
        c->connected = true;
        memcpy(c->peer, peer, GS_ID_LEN);
    }
}

static void cli_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                          uint64_t app_error, const char *reason, bool was_send_path)
{
    cli *c = ud;

    (void)peer;
    (void)app_error;
    (void)was_send_path;
    if (conn == c->conn) {
        c->closed = true;
        c->close_rv = rv;
        (void)snprintf(c->close_reason, sizeof(c->close_reason), "%s",
                       reason != NULL ? reason : "");
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

int gs_bench_transport_client(int argc, char **argv)
{
    static const char *const known[] = {"--connect", "--key",     "--topic",  "--frames",
                                        "--size",    "--timeout", "--topics", "--idle-ms"};
    const char *connect = arg_value(argc, argv, "--connect");
    const char *key = arg_value(argc, argv, "--key");
    const char *topic_hex = arg_value(argc, argv, "--topic");
    uint64_t nframes = 0;
    uint64_t size = 0;
    uint64_t timeout_s = 60;
    uint64_t ntopics = 1;
    uint64_t idle_ms = 0;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    uint8_t peer_id[GS_ID_LEN];
    uint8_t frame[GS_MAX_MESSAGE_SIZE_DEFAULT * 2];
    gs_udp_addr remote;
    gs_engine_cfg cfg;
    gs_identity id;
    cli c;
    int rv;

    if (check_args(argc, argv, known, sizeof(known) / sizeof(known[0])) != 0 || connect == NULL ||
        key == NULL || topic_hex == NULL ||
        parse_u64(arg_value(argc, argv, "--frames"), &nframes) != 0 ||
        parse_u64(arg_value(argc, argv, "--size"), &size) != 0 ||
        (arg_value(argc, argv, "--timeout") != NULL &&
         parse_u64(arg_value(argc, argv, "--timeout"), &timeout_s) != 0) ||
        (arg_value(argc, argv, "--topics") != NULL &&
         (parse_u64(arg_value(argc, argv, "--topics"), &ntopics) != 0 || ntopics == 0 ||
          ntopics > 256)) ||
        (arg_value(argc, argv, "--idle-ms") != NULL &&
         parse_u64(arg_value(argc, argv, "--idle-ms"), &idle_ms) != 0)) {
        fprintf(stderr, "usage: gossip-bench transport client --connect ID@ADDR:PORT --key FILE "
                        "--topic HEX --frames N --size BYTES [--timeout S] [--topics K (1..256)] "
                        "[--idle-ms MS]\n");
        return 2;
    }
    if (gs_bench_unhex(topic_hex, topic, sizeof(topic)) != 0) {
        fprintf(stderr, "gossip-bench: --topic must be 64 hex characters\n");
        return 2;
    }
    if (gs_engine_parse_peer(connect, peer_id, &remote) != 0) {
        fprintf(stderr, "gossip-bench: --connect must be ID@ADDR:PORT\n");
        return 2;
    }
    gs_engine_cfg_default(&cfg);
    /* Check the size against the frame limit before dialing. */
    if (gs_bench_gossip_frame(frame, sizeof(frame), 0, 0, (size_t)size, cfg.quic.max_message_size) <
        0) {
        fprintf(stderr,
                "gossip-bench: --size %llu: contents need 16 bytes at least (a unique counter "
                "and salt lead) and the frame body must stay below max_message_size %u\n",
                (unsigned long long)size, (unsigned)cfg.quic.max_message_size);
        return 2;
    }
    if (load_key(key, &id) != 0) {
        return 1;
    }
    memset(&c, 0, sizeof(c));
    memset(&cfg.listen[0], 0, sizeof(cfg.listen[0]));
    cfg.listen[0].u.sa.sa_family = remote.u.sa.sa_family;
    cfg.listen[0].len = remote.len;
    cfg.nlisten = 1;
    cfg.cb.user_data = &c;
    cfg.cb.on_connected = cli_on_connected;
    cfg.cb.on_closed = cli_on_closed;
    rv = gs_engine_new(&c.e, &cfg, &id, gs_mem_default());
    gs_identity_wipe(&id);
    if (rv != 0) {
        fprintf(stderr, "gossip-bench: engine: %s\n", gs_strerror(rv));
        return 1;
    }
    install_signals(c.e);
    rv = gs_engine_connect(c.e, peer_id, &remote, &c.conn);
    if (rv != 0) {
        fprintf(stderr, "gossip-bench: connect: %s\n", gs_strerror(rv));
        gs_engine_del(c.e);
        return 1;
    }
    uint64_t salt = gs_uring_now();
    uint64_t queued = 0;
    uint64_t frame_bytes = 0;
    bool closing = false;
    int exit_code = 1;
    double t0 = gs_bench_now_s();
    double t_conn = 0;
    double t_acked = 0;

    while (!c.closed && !gs_engine_stopping(c.e)) {
        if (gs_bench_now_s() - t0 > (double)timeout_s) {
            fprintf(stderr, "gossip-bench: timed out after %llu s (%llu of %llu frames queued)\n",
                    (unsigned long long)timeout_s, (unsigned long long)queued,
                    (unsigned long long)nframes);
            break;
        }
        if (c.connected && t_conn == 0) {
            t_conn = gs_bench_now_s();
        }
        /* --idle-ms: stay connected and silent first (our keep-alives must hold the path). */
        bool idle = c.connected && gs_bench_now_s() - t_conn < (double)idle_ms / 1000.0;
        while (c.connected && !idle && !closing && queued < nframes) {
            long n = gs_bench_gossip_frame(frame, sizeof(frame), queued, salt, (size_t)size,
                                           cfg.quic.max_message_size);
            uint8_t ftopic[GS_QUIC_TOPIC_LEN];

            /* --topics K: frame i goes to topic (--topic with its last byte + i mod K), one
             * stream per topic, all written concurrently. */
            memcpy(ftopic, topic, sizeof(ftopic));
            ftopic[GS_QUIC_TOPIC_LEN - 1] =
                (uint8_t)(ftopic[GS_QUIC_TOPIC_LEN - 1] + (uint8_t)(queued % ntopics));
            rv = gs_quic_ep_send_frame_conn(gs_engine_quic(c.e), c.conn, ftopic, frame, (size_t)n);
            if (rv == GS_ERR_AGAIN) {
                break; /* queue full: more after acknowledgements */
            }
            if (rv != 0) {
                fprintf(stderr, "gossip-bench: send: %s\n", gs_strerror(rv));
                closing = true;
                (void)gs_engine_close(c.e, c.conn, 1, "send failed");
                break;
            }
            ++queued;
            frame_bytes += (uint64_t)n;
        }
        if (c.connected && !closing && queued == nframes &&
            gs_quic_ep_queued_bytes(gs_engine_quic(c.e), c.conn) == 0) {
            t_acked = gs_bench_now_s();
            closing = true;
            exit_code = 0;
            (void)gs_engine_close(c.e, c.conn, 0, "done");
        }
        gs_duration wait = 100 * GS_MILLISECONDS;
        if (idle) {
            double left = (double)idle_ms / 1000.0 - (gs_bench_now_s() - t_conn);
            if (left * 1e9 < (double)wait) {
                wait = left > 0 ? (gs_duration)(left * 1e9) : 0;
            }
        }
        rv = gs_engine_run_once(c.e, wait);
        if (rv != 0) {
            fprintf(stderr, "gossip-bench: engine: %s\n", gs_strerror(rv));
            exit_code = 1;
            break;
        }
    }
    /* The CONNECTION_CLOSE written in the last turn is submitted by the next one; keep turning
     * (at most ~200 ms) until the kernel has completed every send, so it is really on the wire
     * before the ring is torn down. */
    for (int i = 0; i < 100; ++i) {
        (void)gs_engine_run_once(c.e, 2 * GS_MILLISECONDS);
        if (gs_uring_send_inflight(gs_engine_uring(c.e)) == 0) {
            break;
        }
    }
    char hex[GS_ID_HEX_LEN + 1];
    gs_id_to_hex(peer_id, hex);
    if (exit_code == 0 && c.closed && c.close_rv == 0) {
        /* from the first frame queued (after --idle-ms) to the last one acknowledged */
        double secs = t_acked - (t_conn > 0 ? t_conn + (double)idle_ms / 1000.0 : t0);
        printf("{\"event\":\"done\",\"peer\":\"%s\",\"frames\":%llu,\"bytes\":%llu,"
               "\"content_bytes\":%llu,\"topics\":%llu,\"seconds\":%.6f,"
               "\"goodput_mbps\":%.3f}\n",
               hex, (unsigned long long)queued, (unsigned long long)frame_bytes,
               (unsigned long long)(queued * size), (unsigned long long)ntopics, secs,
               secs > 0 ? (double)frame_bytes * 8.0 / secs / 1e6 : 0.0);
    } else {
        exit_code = 1;
        printf("{\"event\":\"failed\",\"peer\":\"%s\",\"frames\":%llu,\"reason\":", hex,
               (unsigned long long)queued);
        json_str(stdout, c.closed ? c.close_reason : "not closed");
        printf(",\"status\":");
        json_str(stdout, gs_strerror(c.closed ? c.close_rv : GS_ERR_TIMEOUT));
        printf("}\n");
    }
    fflush(stdout);
    g_sig_engine = NULL;
    gs_engine_del(c.e);
    return exit_code;
}
