/* SPDX-License-Identifier: MIT */
/*
 * test_quic_attack.c: the QUIC endpoint under a hostile peer that writes whatever it wants on
 * its streams (the attacker is our own endpoint, driven through the internal stream queue so it
 * can leave frames half-sent), over the in-memory network of test_quic_net.h.  Each test runs the
 * attack and checks that a legitimate client beside it loses nothing and that the attack shows in
 * the counters.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "quic_int.h" /* internal: the attacker queues raw stream bytes */
#include "test_quic_net.h"

static gs_quic_cfg attack_cfg(void)
{
    gs_quic_cfg cfg;

    gs_quic_cfg_default(&cfg);
    cfg.max_conns = 64;
    cfg.retry_mode = GS_QUIC_RETRY_OFF;
    cfg.max_message_size = 8192; /* as a sender: may announce what it likes */
    return cfg;
}

/* half_frame queues on |conn| of |n|, on a new stream for |topic|, a frame cut short: a prefix
 * announcing |announced| body bytes followed by |sent| of them, and then nothing (the stream
 * stays open, the receiver holds a partial-frame buffer for it). */
static void half_frame(tnode *n, gs_quic_conn_id conn, const uint8_t *topic, uint32_t announced,
                       size_t sent)
{
    uint8_t buf[4 + 256];
    qconn *c = gs_quic_conn_get(n->ep, conn);

    cr_assert(not(eq(ptr, c, NULL)));
    cr_assert(le(sz, sent, 256));
    buf[0] = (uint8_t)(announced >> 24);
    buf[1] = (uint8_t)(announced >> 16);
    buf[2] = (uint8_t)(announced >> 8);
    buf[3] = (uint8_t)announced;
    memset(buf + 4, 0xa5, sent);
    cr_assert(eq(int, gs_quic_stream_queue(n->ep, c, topic, buf, 4 + sent), 0));
    gs_quic_conn_mark_dirty(n->ep, c);
}

typedef struct count_want {
    size_t node;
    size_t n;
} count_want;

static bool node_connected(tnet *net, void *arg)
{
    count_want *w = arg;
    return net->nodes[w->node].nconnected >= w->n;
}

static bool node_frames(tnet *net, void *arg)
{
    count_want *w = arg;
    return net->nodes[w->node].nframes >= w->n;
}

/*
 * Issue: streams holding half a frame each used up the shared partial-frame budget, and from then
 * on a legitimate client's frames that span packets were silently dropped (0 of 20 arrived).
 * Here 4 attacking connections open 32 streams each with a 4000-byte prefix and 100 bytes, four
 * times the server's budget of 32 buffers; then a client sends 20 frames of 3000 bytes (each
 * spans packets) on 2 topics.  Every one of them arrives; each attacking connection stays within
 * its share; the evictions are counted.
 */
Test(quic_attack, half_sent_frames_do_not_starve_a_legitimate_client, .timeout = 60)
{
    enum {
        NATT = 4,
        NSTREAMS = 32,
        NFRAMES = 20
    };
    tnet net;
    gs_quic_cfg scfg = attack_cfg();
    gs_quic_cfg ccfg = attack_cfg();
    static uint8_t frame[3004];

    tnet_init(&net);
    scfg.max_message_size = 4096;
    scfg.rx_buffer_max = 32 * 4096;     /* 32 partial frames in all */
    scfg.rx_buffer_conn_max = 8 * 4096; /* 8 per connection */
    tnode *srv = tnet_add(&net, 1, 4001, &scfg);
    tnode *cli = tnet_add(&net, 2, 4002, &ccfg);
    tnode *att[NATT];
    gs_quic_conn_id attc[NATT];
    for (int i = 0; i < NATT; ++i) {
        att[i] = tnet_add(&net, (uint8_t)(10 + i), (uint16_t)(4010 + i), &ccfg);
        attc[i] = 0;
        cr_assert(eq(int,
                     gs_quic_ep_connect(att[i]->ep, srv->id.pk, &att[i]->addr, &srv->addr, net.now,
                                        &attc[i]),
                     0));
    }
    count_want w = {0, NATT};
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, node_connected, &w));
    /* the attack */
    for (int i = 0; i < NATT; ++i) {
        for (int s = 0; s < NSTREAMS; ++s) {
            uint8_t topic[GS_QUIC_TOPIC_LEN] = {0xee, (uint8_t)i, (uint8_t)s};
            half_frame(att[i], attc[i], topic, 4000, 100);
        }
    }
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(srv->ep);
    cr_assert(eq(u64, st->rx_buffered, scfg.rx_buffer_max), "the budget is full");
    cr_assert(gt(u64, st->rx_buffer_evicted, 0));
    cr_assert(eq(sz, srv->nframes, 0));
    for (size_t i = 0; i < scfg.max_conns; ++i) {
        const qconn *c = srv->ep->conns[i];
        if (c != NULL) {
            cr_assert(le(sz, c->rx_buffered, scfg.rx_buffer_conn_max));
        }
    }
    uint64_t evicted = st->rx_buffer_evicted;
    /* the legitimate client, while the attack holds every buffer */
    gs_quic_conn_id conn = 0;
    cr_assert(eq(
        int, gs_quic_ep_connect(cli->ep, srv->id.pk, &cli->addr, &srv->addr, net.now, &conn), 0));
    w.n = NATT + 1;
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, node_connected, &w));
    for (uint32_t i = 0; i < NFRAMES; ++i) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x11, (uint8_t)(i % 2)};
        frame[0] = 0;
        frame[1] = 0;
        frame[2] = (uint8_t)(3000 >> 8);
        frame[3] = (uint8_t)(3000 & 0xff);
        memset(frame + 4, (int)i, 3000);
        cr_assert(eq(int, gs_quic_ep_send_frame(cli->ep, srv->id.pk, topic, frame, 3004), 0));
    }
    count_want f = {0, NFRAMES};
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, node_frames, &f), "%zu of %d frames arrived",
              srv->nframes, NFRAMES);
    cr_assert(eq(sz, srv->nframes, NFRAMES));
    /* the room came from the attackers, and is counted */
    cr_assert(gt(u64, st->rx_buffer_evicted, evicted));
    cr_assert(le(u64, st->rx_buffered, scfg.rx_buffer_max));
    cr_assert(eq(sz, cli->nclosed, 0));
    tnet_free(&net);
}

/* A connection at its share takes its own oldest half frame back: its newest streams work. */
Test(quic_attack, a_connection_at_its_share_gives_up_its_oldest_partial_frame, .timeout = 60)
{
    tnet net;
    gs_quic_cfg scfg = attack_cfg();
    gs_quic_cfg ccfg = attack_cfg();
    static uint8_t frame[3004];

    tnet_init(&net);
    scfg.max_message_size = 4096;
    scfg.rx_buffer_conn_max = 4 * 4096;
    tnode *srv = tnet_add(&net, 1, 4001, &scfg);
    tnode *cli = tnet_add(&net, 2, 4002, &ccfg);
    gs_quic_conn_id conn = 0;
    cr_assert(eq(
        int, gs_quic_ep_connect(cli->ep, srv->id.pk, &cli->addr, &srv->addr, net.now, &conn), 0));
    count_want w = {0, 1};
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, node_connected, &w));
    /* 6 half frames on one connection with a share of 4: the 2 oldest are taken back */
    for (int s = 0; s < 6; ++s) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0xee, (uint8_t)s};
        half_frame(cli, conn, topic, 4000, 100);
        tnet_run(&net, 50 * GS_MILLISECONDS, NULL, NULL); /* in order of arrival */
    }
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(srv->ep);
    cr_assert(eq(u64, st->rx_buffer_evicted, 2));
    cr_assert(eq(u64, st->rx_buffered, 4 * 4096));
    cr_assert(eq(u64, st->rx_buffer_refused, 0));
    /* whole frames on fresh streams still go through: each takes back the oldest half frame */
    for (uint32_t i = 0; i < 3; ++i) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x22, (uint8_t)i};
        frame[0] = 0;
        frame[1] = 0;
        frame[2] = (uint8_t)(3000 >> 8);
        frame[3] = (uint8_t)(3000 & 0xff);
        memset(frame + 4, 7, 3000);
        cr_assert(eq(int, gs_quic_ep_send_frame(cli->ep, srv->id.pk, topic, frame, 3004), 0));
    }
    count_want f = {0, 3};
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, node_frames, &f));
    cr_assert(eq(sz, srv->nframes, 3));
    cr_assert(eq(sz, cli->nclosed, 0));
    tnet_free(&net);
}
