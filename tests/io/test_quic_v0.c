/* SPDX-License-Identifier: MIT */
/*
 * test_quic_v0.c: the "/iroh-gossip/0" wire (PROTOCOL.md 12) over the in-memory network: version
 * chosen by ALPN, one bidi stream opened by the dialer carrying topic + message frames for every
 * topic, the 32-byte smaller size limit, re-framing of frames queued during the handshake,
 * zero-copy sends, finish_stream as a no-op, and a broken /0 stream ending the connection.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_quic_net.h"

#define NREC 256

typedef struct rec {
    size_t n;
    uint8_t topic[NREC][GS_QUIC_TOPIC_LEN];
    size_t len[NREC];
    uint8_t first[NREC];
} rec;

static void on_frame_rec(tnode *n, gs_quic_conn_id conn, const uint8_t *topic, const uint8_t *body,
                         size_t len)
{
    (void)conn;
    rec *r = n->user;
    if (r->n < NREC) {
        memcpy(r->topic[r->n], topic, GS_QUIC_TOPIC_LEN);
        r->len[r->n] = len;
        r->first[r->n] = len > 0 ? body[0] : 0;
        ++r->n;
    }
}

static gs_quic_cfg cfg_v1(void)
{
    gs_quic_cfg cfg;
    gs_quic_cfg_default(&cfg);
    cfg.retry_mode = GS_QUIC_RETRY_OFF;
    cfg.max_conns = 64;
    return cfg;
}

/* What gossipd runs with /0 enabled: "/iroh-gossip/1" first, then "/iroh-gossip/0". */
static gs_quic_cfg cfg_both(void)
{
    gs_quic_cfg cfg = cfg_v1();
    cr_assert(eq(int, gs_quic_cfg_enable_v0(&cfg), 0));
    cr_assert(eq(int, gs_quic_cfg_enable_v0(&cfg), 0)); /* idempotent */
    cr_assert(eq(sz, cfg.nalpn, 2));
    return cfg;
}

/* A 0.35 node: only "/iroh-gossip/0". */
static gs_quic_cfg cfg_only_v0(void)
{
    gs_quic_cfg cfg = cfg_v1();
    strcpy(cfg.alpn[0], GS_QUIC_ALPN_GOSSIP_V0);
    return cfg;
}

/* frame: prefix + |mlen| message bytes, the first being |tag|. */
static size_t frame(uint8_t *buf, size_t mlen, uint8_t tag)
{
    buf[0] = (uint8_t)(mlen >> 24);
    buf[1] = (uint8_t)(mlen >> 16);
    buf[2] = (uint8_t)(mlen >> 8);
    buf[3] = (uint8_t)mlen;
    memset(buf + 4, 0x5a, mlen);
    buf[4] = tag;
    return mlen + 4;
}

static bool both_connected(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 1 && net->nodes[1].nconnected >= 1;
}

typedef struct want {
    size_t a;
    size_t b;
} want;

static bool got(tnet *net, void *arg)
{
    const want *w = arg;
    return net->nodes[0].nframes >= w->a && net->nodes[1].nframes >= w->b;
}

static void topic_of(uint8_t t[GS_QUIC_TOPIC_LEN], uint8_t k)
{
    memset(t, 0x11, GS_QUIC_TOPIC_LEN);
    t[31] = k;
}

Test(quic_v0, both_sides_of_v1_and_v0_pick_v1)
{
    tnet net;
    gs_quic_cfg c = cfg_both();
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &c);
    tnode *b = tnet_add(&net, 2, 4002, &c);
    gs_quic_conn_id h = 0;
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, b->id.pk, &a->addr, &b->addr, net.now, &h), 0));
    cr_assert(eq(int, gs_quic_ep_conn_version(a->ep, h), GS_ERR_AGAIN));
    cr_assert(tnet_run(&net, GS_SECONDS, both_connected, NULL));
    cr_assert(eq(int, gs_quic_ep_conn_version(a->ep, h), 1));
    cr_assert(eq(int, gs_quic_ep_peer_version(b->ep, a->id.pk), 1));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->conns_v0, 0));
    /* the acceptor read the dialer's whole offer; the dialer only knows the chosen version */
    cr_assert(eq(int, gs_quic_ep_conn_versions(b->ep, b->last_conn),
                 GS_QUIC_SPEAKS_V0 | GS_QUIC_SPEAKS_V1 | GS_QUIC_SPEAKS_COMPLETE));
    cr_assert(eq(int, gs_quic_ep_conn_versions(a->ep, h), GS_QUIC_SPEAKS_V1));
    /* a /1-only dialer: complete, without /0 */
    gs_quic_cfg c1 = cfg_v1();
    tnode *d = tnet_add(&net, 3, 4003, &c1);
    gs_quic_conn_id h2 = 0;
    cr_assert(eq(int, gs_quic_ep_connect(d->ep, b->id.pk, &d->addr, &b->addr, net.now, &h2), 0));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(int, gs_quic_ep_conn_version(d->ep, h2), 1));
    cr_assert(eq(int, gs_quic_ep_conn_versions(b->ep, b->last_conn),
                 GS_QUIC_SPEAKS_V1 | GS_QUIC_SPEAKS_COMPLETE));
    tnet_free(&net);
}

/* A 0.35-like dialer against gossipd: frames queued during the handshake on two topics are
 * re-framed, arrive with their topics, and the acceptor answers on the dialer's stream. */
Test(quic_v0, v0_dialer_and_acceptor_exchange_frames_on_one_stream)
{
    tnet net;
    gs_quic_cfg c0 = cfg_only_v0();
    gs_quic_cfg cb = cfg_both();
    rec ra = {0};
    rec rb = {0};
    uint8_t buf[4096];
    uint8_t t1[32];
    uint8_t t2[32];
    topic_of(t1, 1);
    topic_of(t2, 2);
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &c0);
    tnode *b = tnet_add(&net, 2, 4002, &cb);
    a->on_frame = on_frame_rec;
    a->user = &ra;
    b->on_frame = on_frame_rec;
    b->user = &rb;
    gs_quic_conn_id h = 0;
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, b->id.pk, &a->addr, &b->addr, net.now, &h), 0));
    /* queued before the version is known: /1 topic streams, re-framed at the handshake */
    for (uint8_t i = 0; i < 6; ++i) {
        size_t n = frame(buf, 100 + i, i);
        cr_assert(eq(int, gs_quic_ep_send_frame_conn(a->ep, h, (i & 1) ? t2 : t1, buf, n), 0));
    }
    /* too large for /0 (but not for /1): dropped at the re-framing, counted */
    size_t n = frame(buf, 4096 - 32, 99);
    cr_assert(eq(int, gs_quic_ep_send_frame_conn(a->ep, h, t1, buf, n), 0));
    cr_assert(tnet_run(&net, GS_SECONDS, both_connected, NULL));
    cr_assert(eq(int, gs_quic_ep_conn_version(a->ep, h), 0));
    cr_assert(eq(int, gs_quic_ep_peer_version(b->ep, a->id.pk), 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->frames_refused_v0, 1));
    cr_assert(eq(int, gs_quic_ep_conn_versions(b->ep, b->last_conn),
                 GS_QUIC_SPEAKS_V0 | GS_QUIC_SPEAKS_COMPLETE));
    cr_assert(
        eq(int, gs_quic_ep_conn_versions(a->ep, h), GS_QUIC_SPEAKS_V0 | GS_QUIC_SPEAKS_COMPLETE));
    want w = {0, 6};
    cr_assert(tnet_run(&net, GS_SECONDS, got, &w));
    cr_assert(eq(sz, rb.n, 6));
    size_t n1 = 0;
    size_t n2 = 0;
    for (size_t i = 0; i < rb.n; ++i) {
        /* per topic in order; odd tags on t2, even on t1 */
        uint8_t tag = rb.first[i];
        cr_assert(eq(sz, rb.len[i], 100 + (size_t)tag));
        if (tag & 1) {
            cr_assert(eq(int, memcmp(rb.topic[i], t2, 32), 0));
            cr_assert(eq(u8, tag, (uint8_t)(2 * n2++ + 1)));
        } else {
            cr_assert(eq(int, memcmp(rb.topic[i], t1, 32), 0));
            cr_assert(eq(u8, tag, (uint8_t)(2 * n1++)));
        }
    }
    /* the acceptor answers on the dialer's stream: no stream of its own */
    n = frame(buf, 4096 - 33, 7); /* the largest /0 message */
    cr_assert(eq(int, gs_quic_ep_send_frame(b->ep, a->id.pk, t2, buf, n), 0));
    n = frame(buf, 4096 - 32, 8); /* one more: refused for /0, counted */
    cr_assert(eq(int, gs_quic_ep_send_frame(b->ep, a->id.pk, t2, buf, n), GS_ERR_MSG_TOO_LARGE));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->frames_refused_v0, 1));
    /* finish_stream is a no-op: the shared stream stays open for later frames */
    cr_assert(eq(int, gs_quic_ep_finish_stream(b->ep, a->id.pk, t2), 0));
    n = frame(buf, 10, 9);
    cr_assert(eq(int, gs_quic_ep_send_frame(b->ep, a->id.pk, t1, buf, n), 0));
    w.a = 2;
    cr_assert(tnet_run(&net, GS_SECONDS, got, &w));
    cr_assert(eq(sz, ra.n, 2));
    cr_assert(eq(sz, ra.len[0], 4096 - 33));
    cr_assert(eq(u8, ra.first[0], 7));
    cr_assert(eq(int, memcmp(ra.topic[0], t2, 32), 0));
    cr_assert(eq(u8, ra.first[1], 9));
    cr_assert(eq(int, memcmp(ra.topic[1], t1, 32), 0));
    const gs_quic_stats *sa = gs_quic_ep_stats_get(a->ep);
    const gs_quic_stats *sb = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, sa->conns_v0, 1));
    cr_assert(eq(u64, sb->conns_v0, 1));
    cr_assert(eq(u64, sa->streams_opened, 1)); /* the dialer's one bidi stream, no uni stream */
    cr_assert(eq(u64, sb->streams_opened, 0));
    cr_assert(eq(u64, sb->streams_in, 1));
    cr_assert(eq(u64, sa->v0_stream_errors + sb->v0_stream_errors, 0));
    tnet_free(&net);
}

static size_t released;

static void count_release(void *arg)
{
    (void)arg;
    ++released;
}

/* gossipd dials a 0.35-like acceptor and sends by reference: the messages arrive and every
 * reference is released exactly once. */
Test(quic_v0, v0_zero_copy_sends_release_once)
{
    tnet net;
    gs_quic_cfg cb = cfg_both();
    gs_quic_cfg c0 = cfg_only_v0();
    rec rb = {0};
    static uint8_t bufs[40][1200];
    uint8_t t1[32];
    topic_of(t1, 1);
    released = 0;
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cb);
    tnode *b = tnet_add(&net, 2, 4002, &c0);
    b->on_frame = on_frame_rec;
    b->user = &rb;
    gs_quic_conn_id h = 0;
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, b->id.pk, &a->addr, &b->addr, net.now, &h), 0));
    cr_assert(tnet_run(&net, GS_SECONDS, both_connected, NULL));
    for (uint8_t i = 0; i < 40; ++i) {
        size_t n = frame(bufs[i], 1000 + i, i);
        cr_assert(eq(int,
                     gs_quic_ep_send_frame_ref(a->ep, b->id.pk, t1, bufs[i], n, GS_QUIC_SEND_DATA,
                                               count_release, NULL),
                     0));
    }
    want w = {0, 40};
    cr_assert(tnet_run(&net, GS_SECONDS, got, &w));
    for (size_t i = 0; i < 40; ++i) {
        cr_assert(eq(sz, rb.len[i], 1000 + i));
        cr_assert(eq(u8, rb.first[i], (uint8_t)i));
    }
    tnet_run(&net, 200 * GS_MILLISECONDS, NULL, NULL);
    cr_assert(eq(sz, released, 40));
    cr_assert(eq(int, gs_quic_ep_conn_version(a->ep, h), 0));
    tnet_free(&net);
    cr_assert(eq(sz, released, 40));
}

/* An empty message cannot be queued by reference on /0 (the reference chunk would hold no
 * byte); the caller keeps ownership (no release). */
Test(quic_v0, empty_message_by_reference_is_refused)
{
    tnet net;
    gs_quic_cfg c0 = cfg_only_v0();
    gs_quic_cfg cb = cfg_both();
    uint8_t t1[32];
    topic_of(t1, 1);
    released = 0;
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &c0);
    tnode *b = tnet_add(&net, 2, 4002, &cb);
    gs_quic_conn_id h = 0;
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, b->id.pk, &a->addr, &b->addr, net.now, &h), 0));
    cr_assert(tnet_run(&net, GS_SECONDS, both_connected, NULL));
    uint8_t f[4] = {0, 0, 0, 0};
    cr_assert(eq(int,
                 gs_quic_ep_send_frame_ref(a->ep, b->id.pk, t1, f, 4, GS_QUIC_SEND_CONTROL,
                                           count_release, NULL),
                 GS_ERR_INVAL));
    tnet_free(&net);
    cr_assert(eq(sz, released, 0));
}
