/* SPDX-License-Identifier: MIT */
/*
 * test_engine_turn.c: what a shard needs from its engine's loop turn, over real loopback
 * sockets: the before_flush hook and the wait it bounds, data queued between turns going out
 * without a wake-up, stray datagrams forwarded to the owning shard and injected there, send
 * classes under back-pressure, how long a peer has been behind, and zero-copy frames whose
 * release runs exactly once on every path.  Every loop is bounded by a wall-clock deadline.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "engine.h"
#include "fake_mem.h"

typedef struct stray_rec {
    gs_udp_addr local;
    gs_udp_addr remote;
    size_t len;
    uint8_t ecn;
    uint8_t data[2048]; /* one split datagram */
} stray_rec;

/* A shared "mailbox" from every shard to every other (single thread in these tests). */
#define MAILBOX_MAX 256

typedef struct tpeer tpeer;

typedef struct mailbox {
    stray_rec recs[MAILBOX_MAX];
    size_t n;
    size_t overflow;
} mailbox;

struct tpeer {
    gs_engine *e;
    gs_identity id;
    gs_fake_mem fm;
    size_t nconnected;
    size_t nclosed;
    size_t nframes;
    size_t nwritable;
    size_t frame_bytes;
    gs_quic_conn_id last_conn;
    uint8_t last_body[2048];
    size_t last_len;
    /* before_flush */
    size_t nhooks;
    gs_tstamp hook_now;
    gs_duration hook_in; /* deadline returned: now + hook_in (0: GS_TSTAMP_NEVER) */
    const uint8_t *hook_peer;
    bool hook_send; /* queue one frame from the next hook call */
    /* strays: index of this shard, the shards' mailboxes */
    unsigned shard;
    mailbox *boxes; /* boxes[owner] */
    size_t nstrays;
};

static void t_connected(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                        gs_quic_dir dir)
{
    tpeer *p = ud;

    (void)id;
    (void)dir;
    ++p->nconnected;
    p->last_conn = conn;
}

static void t_frame(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                    const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    tpeer *p = ud;

    (void)conn;
    (void)id;
    (void)topic;
    ++p->nframes;
    p->frame_bytes += len;
    p->last_len = len;
    memcpy(p->last_body, body, len < sizeof(p->last_body) ? len : sizeof(p->last_body));
}

static void t_closed(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN], int rv,
                     uint64_t app_error, const char *reason, bool was_send_path)
{
    tpeer *p = ud;

    (void)conn;
    (void)id;
    (void)rv;
    (void)app_error;
    (void)reason;
    (void)was_send_path;
    ++p->nclosed;
}

static void t_writable(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN])
{
    tpeer *p = ud;

    (void)conn;
    (void)id;
    ++p->nwritable;
}

static size_t frame_of(uint8_t *buf, size_t body_len, uint8_t fill)
{
    buf[0] = (uint8_t)(body_len >> 24);
    buf[1] = (uint8_t)(body_len >> 16);
    buf[2] = (uint8_t)(body_len >> 8);
    buf[3] = (uint8_t)body_len;
    memset(buf + 4, fill, body_len);
    return 4 + body_len;
}

static gs_tstamp t_before_flush(void *ud, gs_engine *e, gs_tstamp now)
{
    tpeer *p = ud;

    ++p->nhooks;
    p->hook_now = now;
    cr_assert(e == p->e);
    /* the shard drains its mailbox here: strays other shards received for it */
    if (p->boxes != NULL) {
        mailbox *mb = &p->boxes[p->shard];
        for (size_t i = 0; i < mb->n; ++i) {
            stray_rec *r = &mb->recs[i];
            cr_assert(eq(
                int, gs_engine_inject_datagram(e, &r->local, &r->remote, r->data, r->len, r->ecn),
                0));
        }
        mb->n = 0;
    }
    if (p->hook_send) {
        uint8_t topic[GS_QUIC_TOPIC_LEN];
        uint8_t frame[64];

        p->hook_send = false;
        memset(topic, 7, sizeof(topic));
        cr_assert(eq(
            int, gs_engine_send_frame(e, p->hook_peer, topic, frame, frame_of(frame, 20, 'h')), 0));
    }
    return p->hook_in != 0 ? now + p->hook_in : GS_TSTAMP_NEVER;
}

static void t_stray(void *ud, unsigned owner, const gs_udp_addr *local, const gs_udp_addr *remote,
                    const uint8_t *data, size_t len, uint8_t ecn)
{
    tpeer *p = ud;
    mailbox *mb = &p->boxes[owner];

    cr_assert(owner != p->shard);
    ++p->nstrays;
    if (mb->n == MAILBOX_MAX || len > sizeof(mb->recs[0].data)) {
        ++mb->overflow;
        return;
    }
    stray_rec *r = &mb->recs[mb->n++];
    r->local = *local;
    r->remote = *remote;
    r->len = len;
    r->ecn = ecn;
    memcpy(r->data, data, len);
}

static void t_cfg(tpeer *p, gs_engine_cfg *cfg, uint8_t seed)
{
    uint8_t s[GS_ID_SEED_LEN];

    memset(s, seed, sizeof(s));
    cr_assert(eq(int, gs_identity_from_seed(&p->id, s), 0));
    gs_engine_cfg_default(cfg);
    cr_assert(eq(int, gs_udp_addr_parse(&cfg->listen[0], "127.0.0.1:0"), 0));
    cfg->nlisten = 1;
    cfg->cb.user_data = p;
    cfg->cb.on_connected = t_connected;
    cfg->cb.on_frame = t_frame;
    cfg->cb.on_closed = t_closed;
    cfg->cb.on_writable = t_writable;
    cfg->before_flush = t_before_flush;
    cfg->turn_user_data = p;
    cfg->nrecv_bufs = 64;
    cfg->nsend_slots = 32;
    cfg->quic.max_conns = 256;
    cfg->quic.max_conns_per_addr = 256;
    cfg->quic.max_halfopen_per_prefix = 256;
    cfg->quic.retry_mode = GS_QUIC_RETRY_OFF;
}

static void t_start(tpeer *p, const gs_engine_cfg *cfg)
{
    gs_fake_mem_init(&p->fm, 0);
    int rv = gs_engine_new(&p->e, cfg, &p->id, &p->fm.mem);
    if (rv == GS_ERR_UNSUPPORTED) {
        cr_skip_test("io_uring feature missing");
    }
    cr_assert(eq(int, rv, 0), "gs_engine_new: %s", gs_strerror(rv));
}

static void t_new(tpeer *p, uint8_t seed)
{
    gs_engine_cfg cfg;

    memset(p, 0, sizeof(*p));
    t_cfg(p, &cfg, seed);
    t_start(p, &cfg);
}

static void t_del(tpeer *p)
{
    gs_engine_del(p->e);
    p->e = NULL;
    cr_assert(eq(sz, p->fm.nlive, 0), "engine leaked %zu blocks", p->fm.nlive);
}

/* turn runs the engines in |ps| (NULL entries skipped) until |*count| >= |want| or |seconds|. */
static void turn(tpeer **ps, size_t n, const size_t *count, size_t want, double seconds)
{
    gs_tstamp end = gs_uring_now() + (gs_tstamp)(seconds * 1e9);

    while (*count < want && gs_uring_now() < end) {
        for (size_t i = 0; i < n; ++i) {
            if (ps[i] != NULL) {
                cr_assert(eq(int, gs_engine_run_once(ps[i]->e, GS_MILLISECONDS), 0));
            }
        }
    }
}

static void turn2(tpeer *a, tpeer *b, const size_t *count, size_t want, double seconds)
{
    tpeer *ps[2] = {a, b};

    turn(ps, 2, count, want, seconds);
}

/* connect_pair: a dials b; both sides report on_connected. */
static void connect_pair(tpeer *a, tpeer *b)
{
    cr_assert(eq(int, gs_engine_connect(a->e, b->id.pk, gs_engine_local(b->e, 0), NULL), 0));
    turn2(a, b, &b->nconnected, 1, 10);
    turn2(a, b, &a->nconnected, 1, 10);
    cr_assert(eq(sz, a->nconnected, 1));
    cr_assert(eq(sz, b->nconnected, 1));
}

Test(engine_turn, before_flush_runs_every_turn_and_bounds_the_wait, .timeout = 60)
{
    tpeer a;

    t_new(&a, 1);
    a.hook_in = 20 * GS_MILLISECONDS;
    /* Nothing else is due (no connections): without the hook's deadline each turn would sleep
     * the whole 30 s max_wait and the test would time out. */
    gs_tstamp t0 = gs_uring_now();
    for (int i = 0; i < 5; ++i) {
        cr_assert(eq(int, gs_engine_run_once(a.e, 30 * GS_SECONDS), 0));
        cr_assert(eq(u64, a.hook_now, gs_engine_now(a.e)));
    }
    cr_assert(eq(sz, a.nhooks, 5));
    cr_assert(lt(u64, gs_uring_now() - t0, 10 * GS_SECONDS));
    /* A deadline in the past: the next turn does not sleep at all. */
    a.hook_in = 0;
    cr_assert(eq(int, gs_engine_run_once(a.e, 0), 0));
    cr_assert(eq(sz, a.nhooks, 6));
    t_del(&a);
}

Test(engine_turn, frames_queued_in_before_flush_go_out_in_that_turn, .timeout = 60)
{
    tpeer a;
    tpeer b;

    t_new(&a, 2);
    t_new(&b, 3);
    connect_pair(&a, &b);
    turn2(&a, &b, &b.nframes, 1, 0.2); /* settle: let handshake acks go out */
    const gs_quic_stats *qa = gs_quic_ep_stats_get(gs_engine_quic(a.e));
    uint64_t frames_out = qa->frames_out;
    uint64_t writes = gs_engine_stats_get(a.e)->writes;
    a.hook_peer = b.id.pk;
    a.hook_send = true;
    cr_assert(eq(int, gs_engine_run_once(a.e, 0), 0));
    cr_assert(eq(u64, qa->frames_out, frames_out + 1));
    cr_assert(gt(u64, gs_engine_stats_get(a.e)->writes, writes), "queued in the hook, not sent");
    /* (the send is submitted to the kernel with the next turn's wait) */
    turn2(&a, &b, &b.nframes, 1, 10);
    cr_assert(eq(sz, b.nframes, 1));
    cr_assert(eq(sz, b.last_len, 20));
    t_del(&a);
    t_del(&b);
}

Test(engine_turn, data_queued_between_turns_does_not_wait_for_a_wakeup, .timeout = 120)
{
    tpeer a;
    tpeer b;
    gs_engine_cfg cfg;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    uint8_t frame[128];

    memset(&a, 0, sizeof(a));
    t_cfg(&a, &cfg, 4);
    cfg.before_flush = NULL; /* the plain engine, as before the hook */
    cfg.quic.keep_alive = 0; /* nothing else would wake a's loop ... */
    cfg.quic.idle_timeout = 60 * GS_SECONDS;
    t_start(&a, &cfg);
    memset(&b, 0, sizeof(b));
    t_cfg(&b, &cfg, 5);
    cfg.quic.idle_timeout = 60 * GS_SECONDS;
    t_start(&b, &cfg);
    connect_pair(&a, &b);
    /* let every handshake timer settle so that a's expiry is far away */
    gs_tstamp settle = gs_uring_now() + GS_SECONDS;
    while (gs_uring_now() < settle) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    memset(topic, 9, sizeof(topic));
    cr_assert(
        eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, frame, frame_of(frame, 100, 'q')), 0));
    uint64_t busy = gs_engine_stats_get(a.e)->busy_turns;
    uint64_t pkts = gs_quic_ep_stats_get(gs_engine_quic(a.e))->packets_out;
    gs_tstamp t0 = gs_uring_now();
    /* ... so a turn that slept its max_wait would take 50 s here */
    cr_assert(eq(int, gs_engine_run_once(a.e, 50 * GS_SECONDS), 0));
    cr_assert(lt(u64, gs_uring_now() - t0, 10 * GS_SECONDS));
    cr_assert(eq(u64, gs_engine_stats_get(a.e)->busy_turns, busy + 1));
    cr_assert(gt(u64, gs_quic_ep_stats_get(gs_engine_quic(a.e))->packets_out, pkts));
    turn2(&a, &b, &b.nframes, 1, 10);
    cr_assert(eq(sz, b.nframes, 1));
    t_del(&a);
    t_del(&b);
}

/*
 * Two shards on one port, bound in the wrong order (shard 1's socket is the group's socket 0):
 * the steering program then delivers every packet that carries a server connection id to the
 * other shard.  Each shard forwards what it receives for the other through on_stray, and the
 * owner injects it in its before_flush: handshakes and frames still complete, only by forwarding.
 */
static void misordered_shards(bool forward)
{
    enum {
        N = 8
    };
    static mailbox boxes[2];
    tpeer a;
    tpeer s[2];
    gs_engine_cfg cfg;

    memset(boxes, 0, sizeof(boxes));
    memset(&a, 0, sizeof(a));
    t_cfg(&a, &cfg, 10);
    t_start(&a, &cfg);
    for (unsigned i = 0; i < 2; ++i) {
        unsigned shard = 1 - i; /* bind shard 1 first */
        tpeer *p = &s[shard];

        memset(p, 0, sizeof(*p));
        t_cfg(p, &cfg, 11); /* one node: one identity */
        if (i == 1) {
            cfg.listen[0] = *gs_engine_local(s[1].e, 0);
        }
        cfg.steer_nshards = 2;
        cfg.quic.shard = (uint8_t)shard;
        cfg.on_stray = forward ? t_stray : NULL;
        p->shard = shard;
        p->boxes = boxes;
        t_start(p, &cfg);
    }
    cr_assert(gs_udp_addr_eq(gs_engine_local(s[0].e, 0), gs_engine_local(s[1].e, 0)));
    for (int i = 0; i < N; ++i) {
        cr_assert(eq(int, gs_engine_connect(a.e, s[0].id.pk, gs_engine_local(s[0].e, 0), NULL), 0));
    }
    tpeer *ps[3] = {&a, &s[0], &s[1]};
    size_t total = 0;
    gs_tstamp end = gs_uring_now() + (forward ? 60 : 3) * GS_SECONDS;
    while ((!forward || a.nconnected < N || total < N) && gs_uring_now() < end) {
        for (size_t i = 0; i < 3; ++i) {
            cr_assert(eq(int, gs_engine_run_once(ps[i]->e, GS_MILLISECONDS), 0));
        }
        total = s[0].nconnected + s[1].nconnected;
    }
    const gs_engine_stats *e0 = gs_engine_stats_get(s[0].e);
    const gs_engine_stats *e1 = gs_engine_stats_get(s[1].e);
    if (!forward) {
        /* nothing forwards: the strays are dropped and counted; the client may finish its side
         * of the handshake (the server's packets are not steered), no server side does */
        cr_assert(gt(u64, e0->strays_dropped + e1->strays_dropped, 0));
        cr_assert(eq(u64, e0->strays_forwarded + e1->strays_forwarded, 0));
        cr_assert(eq(sz, total, 0));
    } else {
        cr_assert(eq(sz, a.nconnected, N), "client: %zu of %d up", a.nconnected, N);
        cr_assert(eq(sz, total, N));
        cr_assert(gt(u64, e0->strays_forwarded + e1->strays_forwarded, 0));
        cr_assert(eq(u64, e0->injected + e1->injected + boxes[0].n + boxes[1].n,
                     e0->strays_forwarded + e1->strays_forwarded));
        cr_assert(eq(u64, e0->strays_dropped + e1->strays_dropped, 0));
        cr_assert(eq(sz, boxes[0].overflow + boxes[1].overflow, 0));
        const gs_quic_stats *q0 = gs_quic_ep_stats_get(gs_engine_quic(s[0].e));
        const gs_quic_stats *q1 = gs_quic_ep_stats_get(gs_engine_quic(s[1].e));
        cr_assert(eq(u64, q0->datagrams_stray + q1->datagrams_stray,
                     e0->strays_forwarded + e1->strays_forwarded));
        /* a frame to the node arrives through whichever shard owns the connection */
        uint8_t topic[GS_QUIC_TOPIC_LEN];
        uint8_t frame[64];
        memset(topic, 3, sizeof(topic));
        cr_assert(eq(
            int, gs_engine_send_frame(a.e, s[0].id.pk, topic, frame, frame_of(frame, 30, 'x')), 0));
        size_t frames = 0;
        end = gs_uring_now() + 10 * GS_SECONDS;
        while (frames < 1 && gs_uring_now() < end) {
            for (size_t i = 0; i < 3; ++i) {
                cr_assert(eq(int, gs_engine_run_once(ps[i]->e, GS_MILLISECONDS), 0));
            }
            frames = s[0].nframes + s[1].nframes;
        }
        cr_assert(eq(sz, frames, 1));
    }
    t_del(&a);
    t_del(&s[0]);
    t_del(&s[1]);
}

Test(engine_turn, strays_are_forwarded_to_their_shard_and_injected, .timeout = 120)
{
    misordered_shards(true);
}

Test(engine_turn, strays_without_a_forwarder_are_dropped_and_counted, .timeout = 60)
{
    misordered_shards(false);
}

Test(engine_turn, data_is_refused_above_the_low_watermark_control_is_not, .timeout = 60)
{
    tpeer a;
    tpeer b;
    gs_engine_cfg cfg;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static uint8_t frame[1004];
    size_t flen = frame_of(frame, 1000, 'd');

    memset(&a, 0, sizeof(a));
    t_cfg(&a, &cfg, 20);
    cfg.quic.send_queue_low = 16 * 1024;
    cfg.quic.send_queue_max = 64 * 1024;
    t_start(&a, &cfg);
    t_new(&b, 21);
    connect_pair(&a, &b);
    memset(topic, 5, sizeof(topic));
    cr_assert(eq(u64, gs_engine_peer_behind_since(a.e, b.id.pk), GS_TSTAMP_NEVER));
    /* without turns nothing is acknowledged: fill past the low watermark with data frames */
    size_t ndata = 0;
    int rv;
    while ((rv = gs_engine_send_frame_cls(a.e, b.id.pk, topic, frame, flen, GS_QUIC_SEND_DATA)) ==
           0) {
        ++ndata;
        cr_assert(lt(sz, ndata, 100));
    }
    cr_assert(eq(int, rv, GS_ERR_AGAIN));
    const gs_quic_stats *qa = gs_quic_ep_stats_get(gs_engine_quic(a.e));
    cr_assert(eq(u64, qa->data_refused, 1));
    cr_assert(eq(u64, qa->send_queue_drops, 0));
    gs_quic_conn_id conn = gs_quic_ep_send_path(gs_engine_quic(a.e), b.id.pk);
    size_t queued = gs_quic_ep_queued_bytes(gs_engine_quic(a.e), conn);
    cr_assert(gt(sz, queued, 16 * 1024));
    cr_assert(le(sz, queued, 16 * 1024 + flen));
    /* the peer is behind since the endpoint's current time */
    cr_assert(eq(u64, gs_engine_peer_behind_since(a.e, b.id.pk), gs_engine_now(a.e)));
    /* control frames still go in, up to the hard cap */
    size_t nctl = 0;
    while ((rv = gs_engine_send_frame_cls(a.e, b.id.pk, topic, frame, flen,
                                          GS_QUIC_SEND_CONTROL)) == 0) {
        ++nctl;
        cr_assert(lt(sz, nctl, 100));
    }
    cr_assert(eq(int, rv, GS_ERR_AGAIN));
    cr_assert(gt(sz, nctl, 40));
    cr_assert(eq(u64, qa->send_queue_drops, 1));
    cr_assert(le(sz, gs_quic_ep_queued_bytes(gs_engine_quic(a.e), conn), 64 * 1024));
    cr_assert(eq(int, gs_engine_send_frame_cls(a.e, b.id.pk, topic, frame, flen, 7), GS_ERR_INVAL));
    /* everything queued arrives; the queue drains, the peer is no longer behind, and on_writable
     * tells the sender */
    turn2(&a, &b, &b.nframes, ndata + nctl, 20);
    cr_assert(eq(sz, b.nframes, ndata + nctl));
    turn2(&a, &b, &a.nwritable, 1, 10);
    cr_assert(eq(sz, a.nwritable, 1));
    cr_assert(lt(sz, gs_quic_ep_queued_bytes(gs_engine_quic(a.e), conn), 8 * 1024));
    cr_assert(eq(u64, gs_engine_peer_behind_since(a.e, b.id.pk), GS_TSTAMP_NEVER));
    cr_assert(
        eq(int, gs_engine_send_frame_cls(a.e, b.id.pk, topic, frame, flen, GS_QUIC_SEND_DATA), 0));
    uint8_t nobody[GS_ID_LEN];
    memset(nobody, 0x77, sizeof(nobody));
    cr_assert(eq(u64, gs_engine_peer_behind_since(a.e, nobody), GS_TSTAMP_NEVER));
    t_del(&a);
    t_del(&b);
}

/* ------------------------------------------------------------------ zero-copy frames */

typedef struct refbuf {
    uint8_t frame[2048];
    size_t len;
    int releases;
} refbuf;

static void ref_release(void *arg)
{
    refbuf *r = arg;

    ++r->releases;
}

Test(engine_turn, zero_copy_frame_is_released_once_after_ack, .timeout = 60)
{
    tpeer a;
    tpeer b;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static refbuf r;

    t_new(&a, 30);
    t_new(&b, 31);
    connect_pair(&a, &b);
    memset(topic, 1, sizeof(topic));
    r.len = frame_of(r.frame, 1500, 'z');
    r.releases = 0;
    /* the same bytes to one peer twice (two references, two releases) */
    for (int i = 0; i < 2; ++i) {
        cr_assert(eq(int,
                     gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len,
                                              GS_QUIC_SEND_DATA, ref_release, &r),
                     0));
    }
    cr_assert(eq(int, r.releases, 0)); /* never inside the call */
    turn2(&a, &b, &b.nframes, 2, 10);
    cr_assert(eq(sz, b.nframes, 2));
    cr_assert(eq(sz, b.last_len, 1500));
    cr_assert(eq(int, memcmp(b.last_body, r.frame + 4, 1500), 0));
    gs_quic_conn_id conn = gs_quic_ep_send_path(gs_engine_quic(a.e), b.id.pk);
    gs_tstamp end = gs_uring_now() + 10 * GS_SECONDS;
    while (r.releases < 2 && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    cr_assert(eq(int, r.releases, 2));
    cr_assert(eq(sz, gs_quic_ep_queued_bytes(gs_engine_quic(a.e), conn), 0));
    const gs_quic_stats *qa = gs_quic_ep_stats_get(gs_engine_quic(a.e));
    cr_assert(eq(u64, qa->frames_ref, 2));
    cr_assert(eq(u64, qa->frames_released, 2));
    /* copied and referenced frames interleave on one stream in order */
    static uint8_t copy[64];
    size_t clen = frame_of(copy, 40, 'c');
    cr_assert(eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, copy, clen), 0));
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len, GS_QUIC_SEND_CONTROL,
                                          ref_release, &r),
                 0));
    cr_assert(eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, copy, clen), 0));
    turn2(&a, &b, &b.nframes, 5, 10);
    cr_assert(eq(sz, b.nframes, 5));
    cr_assert(eq(sz, b.last_len, 40));
    cr_assert(eq(sz, b.frame_bytes, 4 * 1500 + 2 * 40 - 1500));
    /* more rounds change nothing: exactly once */
    end = gs_uring_now() + 10 * GS_SECONDS;
    while (r.releases < 3 && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    turn2(&a, &b, &b.nframes, 1000, 0.2);
    cr_assert(eq(int, r.releases, 3));
    t_del(&a);
    t_del(&b);
    cr_assert(eq(int, r.releases, 3));
}

Test(engine_turn, zero_copy_frame_is_not_released_on_error, .timeout = 60)
{
    tpeer a;
    tpeer b;
    gs_engine_cfg cfg;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static refbuf r;
    uint8_t nobody[GS_ID_LEN];

    memset(&a, 0, sizeof(a));
    t_cfg(&a, &cfg, 32);
    cfg.quic.send_queue_low = 4096;
    t_start(&a, &cfg);
    t_new(&b, 33);
    memset(topic, 1, sizeof(topic));
    memset(nobody, 0x55, sizeof(nobody));
    r.releases = 0;
    r.len = frame_of(r.frame, 1000, 'e');
    /* no send path */
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len, GS_QUIC_SEND_DATA,
                                          ref_release, &r),
                 GS_ERR_NOTFOUND));
    connect_pair(&a, &b);
    /* a malformed prefix, an oversize body, a NULL release, an unknown peer */
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len - 1,
                                          GS_QUIC_SEND_DATA, ref_release, &r),
                 GS_ERR_INVAL));
    static uint8_t big[8192];
    size_t blen = frame_of(big, 5000, 'b');
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, big, blen, GS_QUIC_SEND_DATA,
                                          ref_release, &r),
                 GS_ERR_MSG_TOO_LARGE));
    cr_assert(eq(
        int,
        gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len, GS_QUIC_SEND_DATA, NULL, &r),
        GS_ERR_INVAL));
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, nobody, topic, r.frame, r.len, GS_QUIC_SEND_DATA,
                                          ref_release, &r),
                 GS_ERR_NOTFOUND));
    /* back-pressure: data refused above the low watermark */
    size_t n = 0;
    int rv;
    while ((rv = gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len, GS_QUIC_SEND_DATA,
                                          ref_release, &r)) == 0) {
        ++n;
        cr_assert(lt(sz, n, 100));
    }
    cr_assert(eq(int, rv, GS_ERR_AGAIN));
    cr_assert(eq(int, r.releases, 0));
    /* the accepted ones are released once each, the refused ones never */
    gs_tstamp end = gs_uring_now() + 10 * GS_SECONDS;
    while ((size_t)r.releases < n && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    cr_assert(eq(int, r.releases, (int)n));
    cr_assert(eq(sz, b.nframes, n));
    t_del(&a);
    t_del(&b);
    cr_assert(eq(int, r.releases, (int)n));
}

Test(engine_turn, zero_copy_frame_is_released_when_the_connection_closes, .timeout = 60)
{
    tpeer a;
    tpeer b;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static refbuf r;

    t_new(&a, 34);
    t_new(&b, 35);
    connect_pair(&a, &b);
    memset(topic, 1, sizeof(topic));
    r.releases = 0;
    r.len = frame_of(r.frame, 1000, 'k');
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len, GS_QUIC_SEND_CONTROL,
                                          ref_release, &r),
                 0));
    /* closed before anything was written: the frame never goes out, but is released */
    cr_assert(eq(int, gs_engine_close(a.e, a.last_conn, 0, "bye"), 0));
    gs_tstamp end = gs_uring_now() + 10 * GS_SECONDS;
    while (r.releases < 1 && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    cr_assert(eq(int, r.releases, 1));
    cr_assert(eq(sz, a.nclosed, 1));
    cr_assert(eq(sz, b.nframes, 0));
    turn2(&a, &b, &b.nclosed, 1, 5);
    t_del(&a);
    t_del(&b);
    cr_assert(eq(int, r.releases, 1));
}

Test(engine_turn, zero_copy_frame_is_released_when_the_endpoint_is_deleted, .timeout = 60)
{
    tpeer a;
    tpeer b;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static refbuf r;

    t_new(&a, 36);
    t_new(&b, 37);
    connect_pair(&a, &b);
    memset(topic, 1, sizeof(topic));
    r.releases = 0;
    r.len = frame_of(r.frame, 1000, 'k');
    for (int i = 0; i < 3; ++i) {
        cr_assert(eq(int,
                     gs_engine_send_frame_ref(a.e, b.id.pk, topic, r.frame, r.len,
                                              GS_QUIC_SEND_DATA, ref_release, &r),
                     0));
    }
    /* one turn: written (maybe), surely not acknowledged yet */
    cr_assert(eq(int, gs_engine_run_once(a.e, 0), 0));
    cr_assert(eq(int, r.releases, 0));
    t_del(&a);
    cr_assert(eq(int, r.releases, 3));
    t_del(&b);
    cr_assert(eq(int, r.releases, 3));
}

Test(engine_turn, zero_copy_frame_is_released_when_the_peer_stops_the_stream, .timeout = 60)
{
    tpeer a;
    tpeer b;
    gs_engine_cfg cfg;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    static refbuf r;
    static uint8_t big[64 * 1024];
    static uint8_t over[2100];

    memset(&a, 0, sizeof(a));
    t_cfg(&a, &cfg, 38);
    cfg.quic.max_message_size = sizeof(big);
    t_start(&a, &cfg);
    /* b takes frames up to 1024 bytes and lets a stream run 4 KiB ahead of what it read */
    memset(&b, 0, sizeof(b));
    t_cfg(&b, &cfg, 39);
    cfg.quic.max_message_size = 1024;
    cfg.quic.stream_window = 4096;
    t_start(&b, &cfg);
    connect_pair(&a, &b);
    memset(topic, 1, sizeof(topic));
    r.releases = 0;
    /* an oversize frame for b (b stops the stream at its prefix), then a large referenced frame
     * that cannot pass b's stream window: it is never acknowledged */
    cr_assert(
        eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, over, frame_of(over, 2000, 'o')), 0));
    size_t blen = frame_of(big, 60000, 'B');
    cr_assert(eq(int,
                 gs_engine_send_frame_ref(a.e, b.id.pk, topic, big, blen, GS_QUIC_SEND_DATA,
                                          ref_release, &r),
                 0));
    gs_tstamp end = gs_uring_now() + 10 * GS_SECONDS;
    while (r.releases < 1 && gs_uring_now() < end) {
        cr_assert(eq(int, gs_engine_run_once(a.e, GS_MILLISECONDS), 0));
        cr_assert(eq(int, gs_engine_run_once(b.e, GS_MILLISECONDS), 0));
    }
    cr_assert(eq(int, r.releases, 1));
    cr_assert(eq(sz, a.nclosed, 0)); /* released with the stream, the connection lives on */
    cr_assert(eq(sz, b.nframes, 0));
    cr_assert(gt(u64, gs_quic_ep_stats_get(gs_engine_quic(b.e))->frames_oversize, 0));
    /* the stream was reset and freed on a (STOP_SENDING), not merely left behind */
    cr_assert(eq(sz,
                 gs_quic_ep_unacked_streams(gs_engine_quic(a.e),
                                            gs_quic_ep_send_path(gs_engine_quic(a.e), b.id.pk)),
                 0));
    /* the connection still carries frames on a new stream for the topic */
    static uint8_t small[64];
    cr_assert(
        eq(int, gs_engine_send_frame(a.e, b.id.pk, topic, small, frame_of(small, 10, 's')), 0));
    turn2(&a, &b, &b.nframes, 1, 10);
    cr_assert(eq(sz, b.nframes, 1));
    t_del(&a);
    t_del(&b);
    cr_assert(eq(int, r.releases, 1));
}
