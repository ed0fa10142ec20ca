/* SPDX-License-Identifier: MIT */
/*
 * test_engine.c: the shard engine (io_uring + QUIC endpoint) over real loopback sockets.
 * Two engines driven from one thread talk to each other; the flood test adds a sender thread.
 * Every loop is bounded by a wall-clock deadline.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "fake_mem.h"

#define MAX_CONNS 1100

typedef struct peer {
    gs_engine *e;
    gs_identity id;
    gs_fake_mem fm;
    size_t nconnected;
    size_t nclosed;
    size_t nframes;
    size_t nwakes;
    int last_close_rv;
    gs_quic_dir last_dir;
    uint8_t last_peer[GS_ID_LEN];
    uint8_t last_topic[GS_QUIC_TOPIC_LEN];
    uint8_t last_body[64];
    size_t last_len;
} peer;

static void p_connected(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                        gs_quic_dir dir)
{
    peer *p = ud;

    (void)conn;
    ++p->nconnected;
    p->last_dir = dir;
    memcpy(p->last_peer, id, GS_ID_LEN);
}

static void p_frame(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                    const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    peer *p = ud;

    (void)conn;
    (void)id;
    ++p->nframes;
    memcpy(p->last_topic, topic, GS_QUIC_TOPIC_LEN);
    p->last_len = len;
    memcpy(p->last_body, body, len < sizeof(p->last_body) ? len : sizeof(p->last_body));
}

static void p_closed(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN], int rv,
                     uint64_t app_error, const char *reason, bool was_send_path)
{
    peer *p = ud;

    (void)conn;
    (void)id;
    (void)app_error;
    (void)reason;
    (void)was_send_path;
    ++p->nclosed;
    p->last_close_rv = rv;
}

static void p_wake(void *ud)
{
    peer *p = ud;

    ++p->nwakes;
}

static void p_init_cfg(peer *p, gs_engine_cfg *cfg, uint8_t seed)
{
    uint8_t s[GS_ID_SEED_LEN];

    memset(s, seed, sizeof(s));
    cr_assert(eq(int, gs_identity_from_seed(&p->id, s), 0));
    gs_engine_cfg_default(cfg);
    cr_assert(eq(int, gs_udp_addr_parse(&cfg->listen[0], "127.0.0.1:0"), 0));
    cfg->nlisten = 1;
    cfg->cb.user_data = p;
    cfg->cb.on_connected = p_connected;
    cfg->cb.on_frame = p_frame;
    cfg->cb.on_closed = p_closed;
    cfg->on_wake = p_wake;
    cfg->wake_user_data = p;
    cfg->nrecv_bufs = 64;
    cfg->nsend_slots = 32;
    cfg->quic.max_conns_per_addr = 4096;
    /* many handshakes from one loopback address: lift the prefix and half-open caps too */
    cfg->quic.max_conns_per_prefix = 4096;
    cfg->quic.max_halfopen = cfg->quic.max_halfopen_per_prefix = 4096;
    cfg->quic.rx_mem_max = cfg->quic.rx_mem_prefix_max = (size_t)1 << 40;
    cfg->quic.halfopen_timeout = cfg->quic.handshake_timeout; /* 1000 at once on a busy box */
    cfg->quic.retry_mode = GS_QUIC_RETRY_OFF;
}

static void p_start(peer *p, const gs_engine_cfg *cfg)
{
    gs_fake_mem_init(&p->fm, 0);
    int rv = gs_engine_new(&p->e, cfg, &p->id, &p->fm.mem);
    if (rv == GS_ERR_UNSUPPORTED) {
        cr_skip_test("io_uring feature missing");
    }
    cr_assert(eq(int, rv, 0), "gs_engine_new: %s", gs_strerror(rv));
}

static void p_new(peer *p, uint8_t seed)
{
    gs_engine_cfg cfg;

    memset(p, 0, sizeof(*p));
    p_init_cfg(p, &cfg, seed);
    p_start(p, &cfg);
}

static void p_del(peer *p)
{
    gs_engine_del(p->e);
    p->e = NULL;
    cr_assert(eq(sz, p->fm.nlive, 0), "engine leaked %zu blocks", p->fm.nlive);
}

/* turn_both runs both engines until |*count| >= |want| or |seconds| pass. */
static void turn_both(peer *a, peer *b, const size_t *count, size_t want, double seconds)
{
    gs_tstamp end = gs_uring_now() + (gs_tstamp)(seconds * 1e9);

    while (*count < want && gs_uring_now() < end) {
        if (a != NULL) {
            cr_assert(eq(int, gs_engine_run_once(a->e, GS_MILLISECONDS), 0));
        }
        if (b != NULL) {
            cr_assert(eq(int, gs_engine_run_once(b->e, GS_MILLISECONDS), 0));
        }
    }
}

static void dial(peer *from, const peer *to, const uint8_t *id, gs_quic_conn_id *pconn)
{
    int rv = gs_engine_connect(from->e, id, gs_engine_local(to->e, 0), pconn);
    cr_assert(eq(int, rv, 0), "connect: %s", gs_strerror(rv));
}

static size_t frame_of(uint8_t *buf, const char *text)
{
    uint32_t n = (uint32_t)strlen(text);

    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    memcpy(buf + 4, text, n);
    return 4 + n;
}

Test(engine, handshake_both_ways_with_verified_ids, .timeout = 60)
{
    peer a;
    peer b;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    uint8_t frame[64];

    p_new(&a, 1);
    p_new(&b, 2);
    /* a dials b */
    dial(&a, &b, b.id.pk, NULL);
    turn_both(&a, &b, &b.nconnected, 1, 10);
    turn_both(&a, &b, &a.nconnected, 1, 10);
    cr_assert(eq(sz, a.nconnected, 1));
    cr_assert(eq(sz, b.nconnected, 1));
    cr_assert(eq(int, (int)a.last_dir, GS_QUIC_DIR_OUT));
    cr_assert(eq(int, (int)b.last_dir, GS_QUIC_DIR_IN));
    cr_assert(eq(int, memcmp(a.last_peer, b.id.pk, GS_ID_LEN), 0)); /* the dialed id */
    cr_assert(eq(int, memcmp(b.last_peer, a.id.pk, GS_ID_LEN), 0)); /* from a's certificate */
    /* a frame a -> b on the send path */
    memset(topic, 0xab, sizeof(topic));
    size_t len = frame_of(frame, "hello b");
    cr_assert(eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, frame, len), 0));
    turn_both(&a, &b, &b.nframes, 1, 10);
    cr_assert(eq(sz, b.nframes, 1));
    cr_assert(eq(sz, b.last_len, 7));
    cr_assert(eq(int, memcmp(b.last_body, "hello b", 7), 0));
    cr_assert(eq(int, memcmp(b.last_topic, topic, sizeof(topic)), 0));
    /* and b dials a: the other direction */
    dial(&b, &a, a.id.pk, NULL);
    turn_both(&a, &b, &b.nconnected, 2, 10);
    turn_both(&a, &b, &a.nconnected, 2, 10);
    cr_assert(eq(int, (int)b.last_dir, GS_QUIC_DIR_OUT));
    cr_assert(eq(int, (int)a.last_dir, GS_QUIC_DIR_IN));
    cr_assert(eq(int, memcmp(a.last_peer, b.id.pk, GS_ID_LEN), 0));
    len = frame_of(frame, "hello a");
    cr_assert(eq(int, gs_engine_send_frame(b.e, a.id.pk, topic, frame, len), 0));
    turn_both(&a, &b, &a.nframes, 1, 10);
    cr_assert(eq(sz, a.nframes, 1));
    cr_assert(eq(int, memcmp(a.last_body, "hello a", 7), 0));
    const gs_engine_stats *st = gs_engine_stats_get(a.e);
    cr_assert(st->writes > 0);
    cr_assert(eq(u64, st->tx_errors, 0));
    p_del(&a);
    p_del(&b);
}

Test(engine, connect_string_and_wrong_id_refused, .timeout = 60)
{
    peer a;
    peer b;
    uint8_t wrong[GS_ID_LEN];
    char spec[200];
    char hex[GS_ID_HEX_LEN + 1];
    char addr[GS_UDP_ADDR_STRLEN];
    uint8_t seed[GS_ID_SEED_LEN];
    gs_identity other;

    p_new(&a, 3);
    p_new(&b, 4);
    memset(seed, 9, sizeof(seed));
    cr_assert(eq(int, gs_identity_from_seed(&other, seed), 0));
    memcpy(wrong, other.pk, GS_ID_LEN);
    gs_id_to_hex(wrong, hex);
    cr_assert(gs_udp_addr_format(gs_engine_local(b.e, 0), addr, sizeof(addr)) > 0);
    (void)snprintf(spec, sizeof(spec), "%s@%s", hex, addr);
    cr_assert(eq(int, gs_engine_connect_str(a.e, spec, NULL), 0));
    turn_both(&a, &b, &a.nclosed, 1, 15);
    cr_assert(eq(sz, a.nclosed, 1));
    cr_assert(eq(int, a.last_close_rv, GS_ERR_PEER_MISMATCH), "closed with %s",
              gs_strerror(a.last_close_rv));
    cr_assert(eq(sz, a.nconnected, 0));
    turn_both(&a, &b, &b.nclosed, 1, 0.3); /* let b see the abort */
    cr_assert(eq(sz, b.nconnected, 0), "b reported a connection a refused");
    /* malformed specs are refused before anything is sent */
    cr_assert(eq(int, gs_engine_connect_str(a.e, "nope", NULL), GS_ERR_INVAL));
    cr_assert(gs_engine_connect_str(a.e, "abcd@127.0.0.1:1", NULL) != 0);
    (void)snprintf(spec, sizeof(spec), "%s@127.0.0.1", hex);
    cr_assert(eq(int, gs_engine_connect_str(a.e, spec, NULL), GS_ERR_INVAL));
    /* the right id works */
    gs_id_to_hex(b.id.pk, hex);
    (void)snprintf(spec, sizeof(spec), "%s@%s", hex, addr);
    cr_assert(eq(int, gs_engine_connect_str(a.e, spec, NULL), 0));
    turn_both(&a, &b, &a.nconnected, 1, 10);
    cr_assert(eq(sz, a.nconnected, 1));
    gs_identity_wipe(&other);
    p_del(&a);
    p_del(&b);
}

Test(engine, thousand_concurrent_handshakes, .timeout = 300)
{
    peer a;
    peer b;
    enum {
        N = 1000
    };

    p_new(&a, 5);
    p_new(&b, 6);
    for (int i = 0; i < N; ++i) {
        dial(&a, &b, b.id.pk, NULL);
    }
    turn_both(&a, &b, &a.nconnected, N, 240);
    turn_both(&a, &b, &b.nconnected, N, 10);
    cr_assert(eq(sz, a.nconnected, N), "client: %zu of %d (closed %zu, last %s)", a.nconnected, N,
              a.nclosed, gs_strerror(a.last_close_rv));
    cr_assert(eq(sz, b.nconnected, N), "server: %zu of %d", b.nconnected, N);
    cr_assert(eq(sz, a.nclosed, 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(gs_engine_quic(b.e)), N));
    p_del(&a);
    p_del(&b);
}

Test(engine, idle_peer_times_out, .timeout = 60)
{
    peer a;
    peer b;
    gs_engine_cfg cfg;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    p_init_cfg(&a, &cfg, 7);
    cfg.quic.idle_timeout = 400 * GS_MILLISECONDS;
    cfg.quic.keep_alive = 0;
    p_start(&a, &cfg);
    p_init_cfg(&b, &cfg, 8);
    cfg.quic.idle_timeout = 400 * GS_MILLISECONDS;
    p_start(&b, &cfg);
    dial(&a, &b, b.id.pk, NULL);
    turn_both(&a, &b, &b.nconnected, 1, 10);
    turn_both(&a, &b, &a.nconnected, 1, 10);
    cr_assert(eq(sz, b.nconnected, 1));
    /* a goes silent (never turned again): b's keep-alives go unanswered until its idle timer. */
    gs_tstamp t0 = gs_uring_now();
    turn_both(NULL, &b, &b.nclosed, 1, 10);
    double ms = (double)(gs_uring_now() - t0) / 1e6;
    cr_assert(eq(sz, b.nclosed, 1));
    cr_assert(eq(int, b.last_close_rv, GS_ERR_TIMEOUT), "closed with %s",
              gs_strerror(b.last_close_rv));
    cr_assert(ms < 5000.0, "idle timeout took %.0f ms", ms);
    turn_both(NULL, &b, &b.nclosed, 2, 0.2);
    cr_assert(eq(sz, gs_quic_ep_num_conns(gs_engine_quic(b.e)), 0));
    p_del(&a);
    p_del(&b);
}

typedef struct flood {
    gs_udp_addr to;
    atomic_bool stop;
    uint64_t sent;
} flood;

static uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* fill_junk writes one random datagram: pure noise, a QUIC v1 long-header Initial with random
 * contents (padded to 1200 bytes, so a server must look at it), or a short header. */
static size_t fill_junk(uint8_t *p, uint64_t *rng)
{
    uint64_t r = xs(rng);
    size_t len = 1 + (size_t)(r % 1400);

    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = xs(rng);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
    switch ((r >> 32) % 3) {
    case 0:
        break;
    case 1:
        if (len < 1200) {
            len = 1200;
            for (size_t i = 0; i < len; i += 8) {
                uint64_t v = xs(rng);
                memcpy(p + i, &v, len - i < 8 ? len - i : 8);
            }
        }
        p[0] = (uint8_t)(0xc0 | (p[0] & 0x0f)); /* long header, Initial */
        p[1] = 0;
        p[2] = 0;
        p[3] = 0;
        p[4] = 1;                        /* QUIC v1 */
        p[5] = (uint8_t)(8 + p[5] % 13); /* DCID length 8..20 */
        break;
    default:
        p[0] = (uint8_t)(0x40 | (p[0] & 0x3f)); /* short header */
        break;
    }
    return len;
}

static void *flood_main(void *arg)
{
    flood *f = arg;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    static uint8_t bufs[64][1400];
    struct mmsghdr msgs[64];
    struct iovec iov[64];
    uint64_t rng = 0x1234567887654321ULL;

    if (fd < 0) {
        return NULL;
    }
    while (!atomic_load(&f->stop)) {
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < 64; ++i) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = fill_junk(bufs[i], &rng);
            msgs[i].msg_hdr.msg_name = &f->to.u;
            msgs[i].msg_hdr.msg_namelen = f->to.len;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(fd, msgs, 64, 0);
        if (n > 0) {
            f->sent += (uint64_t)n;
        }
    }
    (void)close(fd);
    return NULL;
}

Test(engine, random_datagrams_leave_no_state, .timeout = 120)
{
    peer b;
    flood f;
    pthread_t th;

    p_new(&b, 10);
    /* settle: first turns allocate nothing per datagram, so this is the baseline */
    for (int i = 0; i < 3; ++i) {
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    size_t base_bytes = b.fm.nbytes;
    size_t base_live = b.fm.nlive;
    memset(&f, 0, sizeof(f));
    f.to = *gs_engine_local(b.e, 0);
    atomic_init(&f.stop, false);
    cr_assert(eq(int, pthread_create(&th, NULL, flood_main, &f), 0));
    gs_tstamp end = gs_uring_now() + 10 * GS_SECONDS;
    while (gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(b.e, 10 * GS_MILLISECONDS), 0));
    }
    atomic_store(&f.stop, true);
    cr_assert(eq(int, pthread_join(th, NULL), 0));
    /* drain what is still queued, then let any half-open state expire */
    gs_tstamp drain = gs_uring_now() + 500 * GS_MILLISECONDS;
    while (gs_uring_now() < drain) {
        cr_assert(eq(int, gs_engine_run_once(b.e, 10 * GS_MILLISECONDS), 0));
    }
    const gs_quic_stats *qs = gs_quic_ep_stats_get(gs_engine_quic(b.e));
    const gs_uring_stats *us = gs_uring_stats_get(gs_engine_uring(b.e));
    cr_log_info("flood: sent %llu, received %llu, invalid %llu, dropped %llu",
                (unsigned long long)f.sent, (unsigned long long)us->rx_dgrams,
                (unsigned long long)qs->datagrams_invalid,
                (unsigned long long)qs->datagrams_dropped);
    cr_assert(us->rx_dgrams > 10000, "the flood barely arrived (%llu)",
              (unsigned long long)us->rx_dgrams);
    cr_assert(eq(sz, gs_quic_ep_num_conns(gs_engine_quic(b.e)), 0));
    cr_assert(eq(u64, qs->handshakes_ok, 0));
    cr_assert(eq(sz, b.nconnected, 0));
    cr_assert(eq(sz, b.fm.nlive, base_live), "blocks: %zu before, %zu after", base_live,
              b.fm.nlive);
    cr_assert(eq(sz, b.fm.nbytes, base_bytes), "bytes: %zu before, %zu after", base_bytes,
              b.fm.nbytes);
    p_del(&b);
}

static void *ring_later(void *arg)
{
    gs_engine *e = arg;
    struct timespec ts = {.tv_nsec = 30 * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
    (void)gs_engine_wake(e);
    return NULL;
}

Test(engine, doorbell_and_stop_from_another_thread, .timeout = 30)
{
    peer a;
    pthread_t th;

    p_new(&a, 11);
    cr_assert(eq(int, gs_engine_run_once(a.e, 0), 0)); /* bind the ring to this thread */
    cr_assert(eq(int, pthread_create(&th, NULL, ring_later, a.e), 0));
    for (int i = 0; i < 20 && a.nwakes == 0; ++i) {
        cr_assert(eq(int, gs_engine_run_once(a.e, 500 * GS_MILLISECONDS), 0));
    }
    cr_assert(eq(int, pthread_join(th, NULL), 0));
    cr_assert(eq(sz, a.nwakes, 1));
    /* gs_engine_stop from "another thread" ends gs_engine_run */
    gs_engine_stop(a.e);
    cr_assert(gs_engine_stopping(a.e));
    cr_assert(eq(int, gs_engine_run(a.e), 0));
    p_del(&a);
}

Test(engine, new_survives_every_allocation_failure, .timeout = 60)
{
    for (size_t fail_at = 1;; ++fail_at) {
        peer p;
        gs_engine_cfg cfg;

        memset(&p, 0, sizeof(p));
        p_init_cfg(&p, &cfg, 12);
        gs_fake_mem_init(&p.fm, fail_at);
        int rv = gs_engine_new(&p.e, &cfg, &p.id, &p.fm.mem);
        if (rv == 0) {
            p_del(&p);
            break;
        }
        cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu: %s", fail_at, gs_strerror(rv));
        cr_assert(eq(sz, p.fm.nlive, 0), "leak when call %zu fails", fail_at);
    }
}

Test(engine, listen_errors, .timeout = 10)
{
    peer a;
    gs_engine_cfg cfg;
    gs_engine *e = NULL;

    memset(&a, 0, sizeof(a));
    p_init_cfg(&a, &cfg, 13);
    cfg.nlisten = 0;
    cr_assert(eq(int, gs_engine_new(&e, &cfg, &a.id, gs_mem_default()), GS_ERR_INVAL));
    cfg.nlisten = 1;
    cr_assert(eq(int, gs_udp_addr_parse(&cfg.listen[0], "192.0.2.1:1"), 0)); /* not ours */
    cr_assert(eq(int, gs_engine_new(&e, &cfg, &a.id, gs_mem_default()), -EADDRNOTAVAIL));
    cr_assert(e == NULL);
}

Test(engine, two_shards_one_port_steered_by_connection_id, .timeout = 120)
{
    peer a;
    peer s0;
    peer s1;
    gs_engine_cfg cfg;
    enum {
        N = 40
    };

    /* The client sends with GSO: over loopback a GSO batch reaches the receiver whole, so this
     * also checks that the endpoint never puts packets of two connections into one batch (the
     * program would steer the whole batch by its first packet). */
    memset(&a, 0, sizeof(a));
    p_init_cfg(&a, &cfg, 20);
    p_start(&a, &cfg);
    memset(&s0, 0, sizeof(s0));
    memset(&s1, 0, sizeof(s1));
    /* both shards share one identity, as the shards of one node do */
    p_init_cfg(&s0, &cfg, 21);
    cfg.steer_nshards = 2;
    cfg.quic.shard = 0;
    p_start(&s0, &cfg);
    p_init_cfg(&s1, &cfg, 21);
    cfg.listen[0] = *gs_engine_local(s0.e, 0);
    cfg.steer_nshards = 2;
    cfg.quic.shard = 1;
    p_start(&s1, &cfg);
    cr_assert(gs_udp_addr_eq(gs_engine_local(s0.e, 0), gs_engine_local(s1.e, 0)));
    for (int i = 0; i < N; ++i) {
        dial(&a, &s0, s0.id.pk, NULL);
    }
    gs_tstamp end = gs_uring_now() + 60 * GS_SECONDS;
    while ((a.nconnected < N || s0.nconnected + s1.nconnected < N) && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(s0.e, 0), 0));
        cr_assert(eq(int, gs_engine_run_once(s1.e, 0), 0));
    }
    cr_assert(eq(sz, a.nconnected, N), "client: %zu of %d up (closed %zu: %s)", a.nconnected, N,
              a.nclosed, gs_strerror(a.last_close_rv));
    cr_assert(eq(sz, s0.nconnected + s1.nconnected, N));
    cr_assert(s0.nconnected > 0 && s1.nconnected > 0, "all on one shard: %zu / %zu", s0.nconnected,
              s1.nconnected);
    /* nothing reached the shard that does not own the connection */
    const gs_quic_stats *q0 = gs_quic_ep_stats_get(gs_engine_quic(s0.e));
    const gs_quic_stats *q1 = gs_quic_ep_stats_get(gs_engine_quic(s1.e));
    cr_assert(eq(u64, q0->datagrams_dropped + q1->datagrams_dropped, 0));
    p_del(&a);
    p_del(&s0);
    p_del(&s1);
}

Test(engine, shutdown_closes_every_connection, .timeout = 60)
{
    peer a;
    peer b;
    enum {
        N = 50
    };

    p_new(&a, 30);
    p_new(&b, 31);
    for (int i = 0; i < N; ++i) {
        dial(&a, &b, b.id.pk, NULL);
    }
    cr_assert(eq(sz, gs_engine_num_conns(a.e), N)); /* dials are tracked at once */
    turn_both(&a, &b, &b.nconnected, N, 30);
    turn_both(&a, &b, &a.nconnected, N, 10);
    cr_assert(eq(sz, a.nconnected, N));
    cr_assert(eq(sz, gs_engine_num_conns(a.e), N));
    cr_assert(eq(sz, gs_engine_num_conns(b.e), N)); /* accepted ones once connected */
    /* b shuts down: every connection is closed, reported, and the closes reach a */
    cr_assert(eq(int, gs_engine_shutdown(b.e, 7, "bye", 5 * GS_SECONDS), 0));
    cr_assert(eq(sz, gs_engine_num_conns(b.e), 0));
    cr_assert(eq(sz, b.nclosed, N));
    cr_assert(eq(int, b.last_close_rv, 0));
    turn_both(&a, NULL, &a.nclosed, N, 10);
    cr_assert(eq(sz, a.nclosed, N), "a saw %zu of %d closes", a.nclosed, N);
    cr_assert(eq(int, a.last_close_rv, GS_ERR_CLOSED));
    cr_assert(eq(sz, gs_engine_num_conns(a.e), 0));
    /* nothing left: shutdown of a returns at once */
    cr_assert(eq(int, gs_engine_shutdown(a.e, 0, NULL, GS_SECONDS), 0));
    p_del(&a);
    p_del(&b);
}

/* p_new_at is p_new listening on |listen| (text form). */
static bool p_new_at(peer *p, uint8_t seed, const char *listen)
{
    gs_engine_cfg cfg;

    memset(p, 0, sizeof(*p));
    p_init_cfg(p, &cfg, seed);
    cr_assert(eq(int, gs_udp_addr_parse(&cfg.listen[0], listen), 0));
    gs_fake_mem_init(&p->fm, 0);
    int rv = gs_engine_new(&p->e, &cfg, &p->id, &p->fm.mem);
    if (rv == -EADDRNOTAVAIL || rv == -EAFNOSUPPORT) {
        return false;
    }
    cr_assert(eq(int, rv, 0), "gs_engine_new(%s): %s", listen, gs_strerror(rv));
    return true;
}

static void handshake_and_frame(peer *a, peer *b, const gs_udp_addr *to_b)
{
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    uint8_t frame[64];

    cr_assert(eq(int, gs_engine_connect(a->e, b->id.pk, to_b, NULL), 0));
    turn_both(a, b, &a->nconnected, 1, 10);
    turn_both(a, b, &b->nconnected, 1, 10);
    cr_assert(eq(sz, a->nconnected, 1));
    cr_assert(eq(sz, b->nconnected, 1));
    cr_assert(eq(int, memcmp(b->last_peer, a->id.pk, GS_ID_LEN), 0));
    memset(topic, 0x5a, sizeof(topic));
    size_t len = frame_of(frame, "over the path");
    cr_assert(eq(int, gs_engine_send_frame(a->e, b->id.pk, topic, frame, len), 0));
    turn_both(a, b, &b->nframes, 1, 10);
    cr_assert(eq(sz, b->nframes, 1));
    cr_assert(eq(int, memcmp(b->last_body, "over the path", 13), 0));
    len = frame_of(frame, "and back");
    cr_assert(eq(int, gs_engine_send_frame(b->e, a->id.pk, topic, frame, len), 0));
    turn_both(a, b, &a->nframes, 1, 10);
    cr_assert(eq(sz, a->nframes, 1));
}

Test(engine, wildcard_bind_uses_packet_info, .timeout = 60)
{
    peer a;
    peer b;

    /* Both ends bound to 0.0.0.0: the dialer picks its source by a route lookup, the server
     * answers from the address the Initial was sent to (IP_PKTINFO in, IP_PKTINFO out). */
    cr_assert(p_new_at(&a, 40, "0.0.0.0:0"));
    cr_assert(p_new_at(&b, 41, "0.0.0.0:0"));
    gs_udp_addr to_b;
    cr_assert(eq(int, gs_udp_addr_parse(&to_b, "127.0.0.1:0"), 0));
    to_b.u.in4.sin_port = gs_engine_local(b.e, 0)->u.in4.sin_port;
    handshake_and_frame(&a, &b, &to_b);
    cr_assert(eq(u64, gs_engine_stats_get(a.e)->no_socket, 0));
    cr_assert(eq(u64, gs_engine_stats_get(b.e)->no_socket, 0));
    p_del(&a);
    p_del(&b);
}

Test(engine, ipv6_loopback_handshake, .timeout = 60)
{
    peer a;
    peer b;

    if (!p_new_at(&a, 42, "[::1]:0")) {
        cr_skip_test("no IPv6 loopback");
    }
    cr_assert(p_new_at(&b, 43, "[::1]:0"));
    handshake_and_frame(&a, &b, gs_engine_local(b.e, 0));
    p_del(&a);
    p_del(&b);
}
