/* SPDX-License-Identifier: MIT */
/*
 * test_quic.c: the QUIC endpoint over an in-memory network with virtual time (test_quic_net.h):
 * handshakes and identities, framing, limits, hardening (amplification, Retry, stateless reset,
 * garbage), timeouts, newest-wins, and allocation-failure walks.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <sodium.h>

#include "fake_mem.h"
#include "quic_int.h" /* internal: the TLS session and ngtcp2 state of a connection */
#include "test_quic_net.h"

static gs_quic_cfg base_cfg(void)
{
    gs_quic_cfg cfg;
    gs_quic_cfg_default(&cfg);
    cfg.max_conns = 2048;
    cfg.retry_mode = GS_QUIC_RETRY_OFF;
    return cfg;
}

static bool both_connected(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 1 && net->nodes[1].nconnected >= 1;
}

static bool node0_closed(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nclosed >= 1;
}

static bool cli_connected_any(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 1;
}

static gs_quic_conn_id dial(tnet *net, tnode *from, const tnode *to, const uint8_t *id)
{
    gs_quic_conn_id c = 0;
    int rv = gs_quic_ep_connect(from->ep, id != NULL ? id : to->id.pk, &from->addr, &to->addr,
                                net->now, &c);
    cr_assert(eq(int, rv, 0));
    cr_assert(ne(u64, c, 0));
    return c;
}

static void make_frame(uint8_t *buf, size_t body_len, uint32_t seq)
{
    buf[0] = (uint8_t)(body_len >> 24);
    buf[1] = (uint8_t)(body_len >> 16);
    buf[2] = (uint8_t)(body_len >> 8);
    buf[3] = (uint8_t)body_len;
    for (size_t i = 0; i < body_len; ++i) {
        buf[4 + i] = (uint8_t)((i * 7 + seq) & 0xff);
    }
    if (body_len >= 4) {
        buf[4] = (uint8_t)(seq >> 24);
        buf[5] = (uint8_t)(seq >> 16);
        buf[6] = (uint8_t)(seq >> 8);
        buf[7] = (uint8_t)seq;
    }
}

Test(quic, handshake_both_ways_with_verified_ids)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);

    gs_quic_conn_id ca = dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    cr_assert(eq(u64, a->last_conn, ca));
    cr_assert(eq(int, a->last_dir, GS_QUIC_DIR_OUT));
    cr_assert(eq(int, b->last_dir, GS_QUIC_DIR_IN));
    cr_assert(eq(int, memcmp(a->last_peer, b->id.pk, GS_ID_LEN), 0));
    cr_assert(eq(int, memcmp(b->last_peer, a->id.pk, GS_ID_LEN), 0));
    uint8_t p[GS_ID_LEN];
    cr_assert(eq(int, gs_quic_ep_conn_peer(b->ep, b->last_conn, p), 0));
    cr_assert(eq(int, memcmp(p, a->id.pk, GS_ID_LEN), 0));

    /* The other direction: b dials a; each side now has two connections, the newest wins. */
    size_t before_a = a->nconnected;
    gs_quic_conn_id cb2 = dial(&net, b, a, NULL);
    for (int i = 0; i < 1000 && (a->nconnected == before_a || b->last_conn != cb2); ++i) {
        tnet_step(&net, net.now + GS_SECONDS);
    }
    cr_assert(eq(u64, b->last_conn, cb2));
    cr_assert(eq(int, b->last_dir, GS_QUIC_DIR_OUT));
    cr_assert(eq(int, a->last_dir, GS_QUIC_DIR_IN));
    cr_assert(eq(u64, gs_quic_ep_send_path(b->ep, a->id.pk), cb2));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->handshakes_ok, 2));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_ok, 2));
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, a->id.pk, &a->addr, &b->addr, net.now, &ca),
                 GS_ERR_SELF));
    tnet_free(&net);
}

static bool b_closed(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[1].nclosed >= 1;
}

static bool b_has_no_conns(tnet *net, void *arg)
{
    (void)arg;
    return gs_quic_ep_num_conns(net->nodes[1].ep) == 0;
}

/* dial_until_client_done connects a (client) to b over |latency| each way (0: the default) and
 * stops once the client has completed its handshake, before it wrote the Finished; returns the
 * client's handle. */
static gs_quic_conn_id dial_until_client_done(tnet *net, const gs_quic_cfg *cfg,
                                              gs_duration latency, tnode **pa, tnode **pb)
{
    tnet_init(net);
    net->latency = latency;
    *pa = tnet_add(net, 1, 4001, cfg);
    *pb = tnet_add(net, 2, 4002, cfg);
    gs_quic_conn_id ca = dial(net, *pa, *pb, NULL);
    cr_assert(tnet_run(net, 2 * GS_SECONDS, cli_connected_any, NULL));
    return ca;
}

/* A client that closes as soon as it is connected (the handshake benchmark does) still sends
 * its Finished first: the server completes, gets the application close and frees its state
 * after 3 of its measured PTOs, not after 3 initial ones (~3 s) as for a failed handshake. */
Test(quic, client_closing_at_once_lets_the_server_complete)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnode *a;
    tnode *b;
    gs_quic_conn_id ca = dial_until_client_done(&net, &cfg, 0, &a, &b);
    cr_assert(eq(sz, b->nconnected, 0)); /* the client's Finished is not out yet */
    cr_assert(eq(int, gs_quic_ep_close(a->ep, ca, 7, "bye"), 0));
    cr_assert(tnet_run(&net, GS_SECONDS, b_closed, NULL));
    cr_assert(eq(sz, b->nconnected, 1));
    cr_assert(eq(u64, b->closed[0].app_error, 7));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_failed, 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_ok, 1));
    cr_assert(tnet_run(&net, 500 * GS_MILLISECONDS, b_has_no_conns, NULL));
    tnet_free(&net);
}

/* A wide-area client (50 ms each way) whose first write after its handshake completed meets a
 * full batch: that write places nothing, so it must not start a pacing interval for the bytes of
 * earlier bursts; it did, the next write was paced to ACKs only, and the close went out before
 * the Finished (the server counted a failed handshake: a third of the handshake benchmark's). */
/* server_completed_and_took_the_close: b completed the handshake and got a's close (code 7). */
static void server_completed_and_took_the_close(tnet *net, tnode *b)
{
    cr_assert(tnet_run(net, 2 * GS_SECONDS, b_closed, NULL));
    cr_assert(eq(u64, b->closed[0].app_error, 7));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_failed, 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_ok, 1));
}

Test(quic, a_full_batch_does_not_hold_back_the_finished)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnode *a;
    tnode *b;
    gs_quic_conn_id ca = dial_until_client_done(&net, &cfg, 50 * GS_MILLISECONDS, &a, &b);
    cr_assert(eq(int, gs_quic_ep_close(a->ep, ca, 7, "bye"), 0));
    /* a batch with one run of another sender and less room than a packet */
    static uint8_t buf[2 * GS_QUIC_MAX_PACKET];
    gs_quic_seg_run runs[2];
    memset(runs, 0, sizeof(runs));
    runs[0].len = runs[0].segsize = sizeof(buf) - 100;
    runs[0].nsegs = 1;
    runs[0].remote = b->addr;
    runs[0].local = a->addr;
    gs_quic_txbuf tx = {buf, sizeof(buf), sizeof(buf) - 100, runs, 2, 1, 64};
    cr_assert(eq(sz, (size_t)gs_quic_ep_write(a->ep, net.now, &tx), 0));
    cr_assert(eq(sz, tx.nruns, 1));
    server_completed_and_took_the_close(&net, b);
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->close_waits, 0));
    tnet_free(&net);
}

/* A client close whose Finished pacing holds back waits for it (at most one PTO), then closes:
 * the server completes and takes the application close. */
Test(quic, a_close_waits_for_a_paced_finished)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnode *a;
    tnode *b;
    gs_quic_conn_id ca = dial_until_client_done(&net, &cfg, 50 * GS_MILLISECONDS, &a, &b);
    qconn *qa = gs_quic_conn_get(a->ep, ca);
    cr_assert(not(eq(ptr, qa, NULL)));
    cr_assert(not(qa->flight_sent));
    /* charge the Initial's bytes now: the next packet may leave only ~6 ms later (RTT 100 ms) */
    ngtcp2_conn_update_pkt_tx_time(qa->nc, net.now);
    cr_assert(eq(int, gs_quic_ep_close(a->ep, ca, 7, "bye"), 0));
    server_completed_and_took_the_close(&net, b);
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->close_waits, 1));
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, b_has_no_conns, NULL));
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
    tnet_free(&net);
}

Test(quic, sni_name_is_optional)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    cfg.send_sni = true;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    tnet_free(&net);
}

Test(quic, wrong_id_dial_is_refused)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    gs_identity other;
    uint8_t seed[GS_ID_SEED_LEN];
    memset(seed, 3, sizeof(seed));
    gs_identity_from_seed(&other, seed);

    gs_quic_conn_id c = dial(&net, a, b, other.pk);
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, node0_closed, NULL));
    cr_assert(eq(u64, a->closed[0].conn, c));
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_PEER_MISMATCH));
    cr_assert(ne(ptr, strstr(a->closed[0].reason, "not the dialed"), NULL), "%s",
              a->closed[0].reason);
    cr_assert(eq(sz, a->nconnected, 0));
    cr_assert(eq(sz, b->nconnected, 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->peer_mismatch, 1));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->handshakes_failed, 1));
    /* The closing period ends and everything is freed on both sides. */
    tnet_run(&net, 20 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 0));
    tnet_free(&net);
}

static bool all_1000(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 1000 && net->nodes[1].nconnected >= 1000;
}

Test(quic, thousand_concurrent_handshakes, .timeout = 120)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    cfg.max_conns_per_addr = 2000;
    /* 1000 handshakes at once from one address: lift the prefix and half-open caps too */
    cfg.max_conns_per_prefix = 2000;
    cfg.max_halfopen = cfg.max_halfopen_per_prefix = 2000;
    cfg.rx_mem_max = cfg.rx_mem_prefix_max = (size_t)1 << 40;
    tnode *srv = tnet_add(&net, 1, 4001, &cfg);
    tnode *cli = tnet_add(&net, 2, 4002, &cfg);
    (void)srv;
    for (int i = 0; i < 1000; ++i) {
        gs_quic_conn_id c;
        cr_assert(eq(
            int, gs_quic_ep_connect(cli->ep, srv->id.pk, &cli->addr, &srv->addr, net.now, &c), 0));
    }
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, all_1000, NULL));
    cr_assert(eq(u64, gs_quic_ep_stats_get(srv->ep)->handshakes_ok, 1000));
    cr_assert(eq(u64, gs_quic_ep_stats_get(cli->ep)->handshakes_ok, 1000));
    cr_assert(eq(sz, gs_quic_ep_num_conns(srv->ep), 1000));
    tnet_free(&net);
}

/* --- framing --- */

typedef struct order_check {
    uint32_t next_seq[4];
    size_t nbad;
    size_t nframes[4];
    size_t max_len;
} order_check;

static const uint8_t topics[4][GS_QUIC_TOPIC_LEN] = {{0x17}, {0x18}, {0x19}, {0x1a}};

static int topic_index(const uint8_t *t)
{
    for (int i = 0; i < 4; ++i) {
        if (memcmp(t, topics[i], GS_QUIC_TOPIC_LEN) == 0) {
            return i;
        }
    }
    return -1;
}

/* Frames carry their sequence number (bodies >= 4 bytes) and a pattern; check both. */
static void check_frame(tnode *n, gs_quic_conn_id conn, const uint8_t *topic, const uint8_t *body,
                        size_t len)
{
    (void)conn;
    order_check *oc = n->user;
    int t = topic_index(topic);
    if (t < 0) {
        ++oc->nbad;
        return;
    }
    uint32_t seq = oc->next_seq[t];
    if (len >= 4) {
        uint32_t got = ((uint32_t)body[0] << 24) | ((uint32_t)body[1] << 16) |
                       ((uint32_t)body[2] << 8) | body[3];
        if (got != seq) {
            ++oc->nbad;
        }
        for (size_t i = 4; i < len; ++i) {
            if (body[i] != (uint8_t)((i * 7 + seq) & 0xff)) {
                ++oc->nbad;
                break;
            }
        }
    } else {
        for (size_t i = 0; i < len; ++i) {
            if (body[i] != (uint8_t)((i * 7 + seq) & 0xff)) {
                ++oc->nbad;
                break;
            }
        }
    }
    if (len > oc->max_len) {
        oc->max_len = len;
    }
    ++oc->nframes[t];
    oc->next_seq[t] = seq + 1;
}

typedef struct want_frames {
    size_t n;
} want_frames;

static bool got_frames(tnet *net, void *arg)
{
    want_frames *w = arg;
    return net->nodes[1].nframes >= w->n;
}

/* send_retrying queues a frame on a's send path to b, running the network while the queue is
 * full. */
static void send_retrying(tnet *net, tnode *a, tnode *b, const uint8_t *topic, const uint8_t *f,
                          size_t len)
{
    for (int i = 0; i < 100000; ++i) {
        int rv = gs_quic_ep_send_frame(a->ep, b->id.pk, topic, f, len);
        if (rv == 0) {
            return;
        }
        cr_assert(eq(int, rv, GS_ERR_AGAIN));
        tnet_step(net, net->now + GS_SECONDS);
    }
    cr_fatal("send queue never drained");
}

Test(quic, frames_of_every_size_arrive_in_order, .timeout = 300)
{
    tnet net;
    gs_quic_cfg scfg = base_cfg();
    gs_quic_cfg rcfg = base_cfg();
    order_check oc;
    static uint8_t frame[8192];

    memset(&oc, 0, sizeof(oc));
    tnet_init(&net);
    scfg.max_message_size = 4097; /* lets the sender produce the 4096-byte receiver edge */
    tnode *a = tnet_add(&net, 1, 4001, &scfg);
    tnode *b = tnet_add(&net, 2, 4002, &rcfg);
    b->on_frame = check_frame;
    b->user = &oc;
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));

    /* Sizes 1 .. 4096 on topic 0; interleave small frames on topic 1. */
    uint32_t seq1 = 0;
    for (uint32_t len = 1; len <= 4096; ++len) {
        make_frame(frame, len, len - 1);
        send_retrying(&net, a, b, topics[0], frame, len + 4);
        if (len % 64 == 0) {
            make_frame(frame, 16, seq1++);
            send_retrying(&net, a, b, topics[1], frame, 20);
        }
    }
    want_frames w = {4096 + seq1};
    cr_assert(tnet_run(&net, 60 * GS_SECONDS, got_frames, &w));
    cr_assert(eq(sz, oc.nbad, 0));
    cr_assert(eq(sz, oc.nframes[0], 4096));
    cr_assert(eq(sz, oc.nframes[1], seq1));
    cr_assert(eq(sz, oc.max_len, 4096));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->frames_oversize, 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->frames_in, 4096 + seq1));
    /* Streams: one per topic, each opened once. */
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->streams_opened, 2));

    /* Sender rule: a body >= max_message_size is refused and counted. */
    make_frame(frame, 4097, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 4101),
                 GS_ERR_MSG_TOO_LARGE));
    make_frame(frame, 10, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 13), GS_ERR_INVAL));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->frames_refused, 2));
    tnet_free(&net);
}

Test(quic, default_sender_refuses_body_of_max_message_size)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    static uint8_t frame[4100];
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    make_frame(frame, 4096, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 4100),
                 GS_ERR_MSG_TOO_LARGE));
    make_frame(frame, 4095, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 4099), 0));
    tnet_free(&net);
}

Test(quic, oversize_frame_stops_only_its_stream)
{
    tnet net;
    gs_quic_cfg scfg = base_cfg();
    gs_quic_cfg rcfg = base_cfg();
    order_check oc;
    static uint8_t frame[8192];

    memset(&oc, 0, sizeof(oc));
    tnet_init(&net);
    scfg.max_message_size = 8192;
    tnode *a = tnet_add(&net, 1, 4001, &scfg);
    tnode *b = tnet_add(&net, 2, 4002, &rcfg);
    b->on_frame = check_frame;
    b->user = &oc;
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));

    make_frame(frame, 100, 0);
    send_retrying(&net, a, b, topics[0], frame, 104);
    make_frame(frame, 100, 0);
    send_retrying(&net, a, b, topics[2], frame, 104);
    make_frame(frame, 4097, 1); /* one byte over the receiver's limit */
    send_retrying(&net, a, b, topics[2], frame, 4101);
    make_frame(frame, 100, 2); /* after the bad frame on the same stream: never delivered */
    send_retrying(&net, a, b, topics[2], frame, 104);
    for (uint32_t i = 1; i <= 50; ++i) {
        make_frame(frame, 200, i);
        send_retrying(&net, a, b, topics[0], frame, 204);
    }
    want_frames w = {52};
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, got_frames, &w));
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->frames_oversize, 1));
    cr_assert(ge(u64, st->stream_errors, 1));
    cr_assert(eq(sz, oc.nframes[0], 51));
    cr_assert(eq(sz, oc.nframes[2], 1));
    cr_assert(eq(sz, oc.nbad, 0));
    /* The connection survives: the stopped stream is gone on the sender (STOP_SENDING), and a
     * new frame for that topic opens a new stream that works. */
    cr_assert(eq(sz, a->nclosed, 0));
    cr_assert(eq(sz, b->nclosed, 0));
    oc.next_seq[2] = 7;
    make_frame(frame, 100, 7);
    send_retrying(&net, a, b, topics[2], frame, 104);
    w.n = 53;
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, got_frames, &w));
    cr_assert(eq(sz, oc.nframes[2], 2));
    cr_assert(eq(sz, oc.nbad, 0));
    tnet_free(&net);
}

/* A peer that puts many bad streams into one packet: b lets each stream run only 64 bytes ahead,
 * so the 20 streams' first bytes (topic header + an oversize prefix) share one or two packets,
 * and every one of them must be stopped without tearing the connection down. */
Test(quic, many_bad_streams_in_one_packet_are_all_stopped)
{
    enum {
        NBAD = 20
    };
    tnet net;
    gs_quic_cfg scfg = base_cfg();
    gs_quic_cfg rcfg = base_cfg();
    static uint8_t frame[8192];

    tnet_init(&net);
    scfg.max_message_size = 8192;
    rcfg.stream_window = 64;
    tnode *a = tnet_add(&net, 1, 4001, &scfg);
    tnode *b = tnet_add(&net, 2, 4002, &rcfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    uint64_t pkts = gs_quic_ep_stats_get(b->ep)->datagrams_in;
    for (int i = 0; i < NBAD; ++i) {
        uint8_t topic[GS_QUIC_TOPIC_LEN];
        memset(topic, 0x40 + i, sizeof(topic));
        make_frame(frame, 5000, (uint32_t)i); /* over b's 4096 */
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 5004), 0));
    }
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->frames_oversize, NBAD));
    cr_assert(eq(sz, a->nclosed, 0), "closed: %s", a->closed[0].reason);
    cr_assert(eq(sz, b->nclosed, 0), "closed: %s", b->closed[0].reason);
    /* the bad streams' first bytes really did share packets */
    cr_assert(lt(u64, st->datagrams_in - pkts, NBAD / 8 + 4 + 20));
    /* the sender's streams were reset and freed (STOP_SENDING), and the connection still
     * carries good frames */
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    gs_quic_conn_id conn = gs_quic_ep_send_path(a->ep, b->id.pk);
    cr_assert(ne(u64, conn, 0));
    cr_assert(eq(sz, gs_quic_ep_unacked_streams(a->ep, conn), 0));
    make_frame(frame, 10, 0);
    size_t before = b->nframes;
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[1], frame, 14), 0));
    want_frames w = {before + 1};
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, got_frames, &w));
    tnet_free(&net);
}

Test(quic, finish_stream_then_new_stream_with_header)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    order_check oc;
    uint8_t frame[64];

    memset(&oc, 0, sizeof(oc));
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    b->on_frame = check_frame;
    b->user = &oc;
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topics[3]), GS_ERR_NOTFOUND));
    make_frame(frame, 10, 0);
    send_retrying(&net, a, b, topics[3], frame, 14);
    cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topics[3]), 0));
    make_frame(frame, 10, 1);
    send_retrying(&net, a, b, topics[3], frame, 14);
    want_frames w = {2};
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, got_frames, &w));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, oc.nframes[3], 2));
    cr_assert(eq(sz, oc.nbad, 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->streams_opened, 2));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->streams_in, 2));
    /* Both streams complete and are acknowledged: nothing stays queued. */
    cr_assert(eq(sz, gs_quic_ep_queued_bytes(a->ep, a->last_conn), 0));
    cr_assert(eq(sz, gs_quic_ep_unacked_streams(a->ep, a->last_conn), 0)); /* open, all acked */
    cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topics[3]), 0));
    cr_assert(eq(sz, gs_quic_ep_unacked_streams(a->ep, a->last_conn), 1));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, gs_quic_ep_unacked_streams(a->ep, a->last_conn), 0));
    tnet_free(&net);
}

Test(quic, stream_credit_is_returned_after_many_streams, .timeout = 60)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    uint8_t frame[64];

    tnet_init(&net);
    cfg.max_uni_streams = 16;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* 200 streams one after the other on one topic (a Disconnect cycle each), then 20 topics at
     * once: more than the 16 concurrent streams allowed, so some wait for credit. */
    for (uint32_t i = 0; i < 200; ++i) {
        make_frame(frame, 10, i);
        send_retrying(&net, a, b, topics[0], frame, 14);
        cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topics[0]), 0));
        tnet_run(&net, 20 * GS_MILLISECONDS, NULL, NULL);
    }
    for (uint8_t t = 0; t < 20; ++t) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x80, t};
        make_frame(frame, 10, t);
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 14), 0));
        cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topic), 0));
    }
    want_frames w = {220};
    bool done = tnet_run(&net, 10 * GS_SECONDS, got_frames, &w);
    cr_assert(done, "frames %zu, streams in %llu opened %llu", b->nframes,
              (unsigned long long)gs_quic_ep_stats_get(b->ep)->streams_in,
              (unsigned long long)gs_quic_ep_stats_get(a->ep)->streams_opened);
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->streams_in, 220));
    cr_assert(eq(sz, a->nclosed, 0));
    tnet_free(&net);
}

/* Stream credit is granted as the peer opens streams, and charged then: a connection starts
 * with stream_credit streams (and their receive-memory charge), each stream the peer opens earns
 * one more, up to max_uni_streams. */
Test(quic, stream_credit_is_granted_and_charged_as_streams_open, .timeout = 60)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    uint8_t frame[64];

    /* a peer must be able to open at least one stream */
    gs_quic_cfg bad = base_cfg();
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {9};
    gs_quic_ep *ep = NULL;
    gs_identity_from_seed(&id, seed);
    bad.stream_credit = 0;
    cr_assert(eq(int, gs_quic_ep_new(&ep, &bad, &id, NULL, gs_mem_default()), GS_ERR_INVAL));

    tnet_init(&net);
    cfg.max_uni_streams = 64;
    cfg.stream_credit = 4;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    qconn *qb = gs_quic_conn_get(b->ep, b->last_conn);
    cr_assert(not(eq(ptr, qb, NULL)));
    const ngtcp2_transport_params *tp =
        ngtcp2_conn_get_remote_transport_params(gs_quic_conn_get(a->ep, a->last_conn)->nc);
    cr_assert(eq(u64, tp->initial_max_streams_uni, 4));
    size_t w = (size_t)cfg.conn_window;
    cr_assert(eq(u64, qb->streams_allowed, 4));
    cr_assert(eq(sz, qb->rx_charge, w + 4 * GS_QUIC_RX_STREAM_OVERHEAD));
    uint64_t committed0 = gs_quic_ep_stats_get(b->ep)->rx_mem_committed;
    /* 40 topics at once, never finished: 40 streams open together */
    for (uint8_t t = 0; t < 40; ++t) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x81, t};
        make_frame(frame, 10, t);
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 14), 0));
    }
    want_frames want = {40};
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, got_frames, &want), "frames %zu", b->nframes);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->streams_in, 40));
    cr_assert(eq(u64, st->stream_credit_granted, 40));
    cr_assert(eq(u64, st->stream_credit_refused, 0));
    cr_assert(eq(u64, qb->streams_allowed, 44));
    cr_assert(eq(sz, qb->rx_charge, w + 44 * GS_QUIC_RX_STREAM_OVERHEAD));
    cr_assert(eq(u64, st->rx_mem_committed, committed0 + 40 * GS_QUIC_RX_STREAM_OVERHEAD));
    /* 30 more: the credit stops at max_uni_streams (64 open at once); the last 6 wait */
    for (uint8_t t = 40; t < 70; ++t) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x81, t};
        make_frame(frame, 10, t);
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 14), 0));
    }
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(u64, st->streams_in, 64));
    cr_assert(eq(u64, qb->streams_allowed, 64));
    cr_assert(eq(u64, st->stream_credit_granted, 60));
    cr_assert(eq(sz, a->nclosed, 0));
    tnet_free(&net);
}

/* With the receive budget nearly taken, credit is refused (counted) and the peer makes do with
 * the streams it has: its other topics go on as streams finish and their credit returns. */
Test(quic, stream_credit_stops_at_the_receive_budget, .timeout = 60)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    uint8_t frame[64];

    tnet_init(&net);
    scfg.max_uni_streams = 64;
    scfg.stream_credit = 4;
    scfg.conn_window = scfg.stream_window = GS_QUIC_MIN_WINDOW;
    /* admission: 64 KiB + 4 x 16 KiB = 128 KiB within half of 320 KiB; 192 KiB left: 12 grants */
    scfg.rx_mem_max = 320u << 10;
    scfg.rx_mem_prefix_max = scfg.rx_mem_max;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    for (uint8_t t = 0; t < 40; ++t) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x82, t};
        make_frame(frame, 10, t);
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 14), 0));
        cr_assert(eq(int, gs_quic_ep_finish_stream(a->ep, b->id.pk, topic), 0));
    }
    want_frames want = {40};
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, got_frames, &want), "frames %zu", b->nframes);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    qconn *qb = gs_quic_conn_get(b->ep, b->last_conn);
    cr_assert(eq(u64, st->stream_credit_granted, 12));
    cr_assert(gt(u64, st->stream_credit_refused, 0));
    cr_assert(eq(u64, qb->streams_allowed, 16));
    cr_assert(le(u64, st->rx_mem_committed, scfg.rx_mem_max));
    cr_assert(eq(u64, st->streams_in, 40));
    cr_assert(eq(sz, a->nclosed, 0));
    tnet_free(&net);
}

Test(quic, send_queue_is_bounded_and_writable_follows)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    static uint8_t frame[2004];

    tnet_init(&net);
    cfg.send_queue_max = 64 * 1024;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    make_frame(frame, 2000, 0);
    int rv = 0;
    int n = 0;
    while ((rv = gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 2004)) == 0) {
        ++n;
    }
    cr_assert(eq(int, rv, GS_ERR_AGAIN));
    cr_assert(le(sz, gs_quic_ep_queued_bytes(a->ep, a->last_conn), cfg.send_queue_max));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->send_queue_drops, 1));
    cr_assert(gt(int, n, 20));
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    cr_assert(ge(sz, a->nwritable, 1));
    cr_assert(eq(sz, b->nframes, (size_t)n));
    tnet_free(&net);
}

/*
 * ACK coalescing (gs_quic_cfg.ack_coalesce): 21 lone packets 2 ms apart on a 0.1 ms path.  With it
 * off, ngtcp2 acknowledges each after smoothed RTT / 8 (one ACK-only packet each); with it on,
 * every second packet is acknowledged at once (ack_thresh 2) and the rest ride along, so the
 * receiver sends about half as many packets.  The last, lone packet is still acknowledged within
 * the advertised max_ack_delay (25 ms), the sender never probes (PTO), everything arrives.
 */
typedef struct coalesce_run {
    uint64_t acks;        /* packets the receiver wrote while the 21 frames arrived */
    gs_duration last_ack; /* from sending the last frame to nothing in flight at the sender */
    uint64_t ptos;
} coalesce_run;

static coalesce_run run_lone_packets(gs_duration coalesce)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    static uint8_t frame[1028];
    coalesce_run r = {0};
    gs_quic_conn_info info;

    tnet_init(&net);
    net.latency = 50 * GS_MICROSECONDS;
    cfg.ack_coalesce = coalesce;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* a first frame opens the stream (and its credit), then everything settles */
    make_frame(frame, 1024, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 1028), 0));
    tnet_run(&net, 500 * GS_MILLISECONDS, NULL, NULL);
    uint64_t out0 = gs_quic_ep_stats_get(b->ep)->packets_out;
    for (uint32_t i = 1; i <= 21; ++i) {
        make_frame(frame, 1024, i);
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 1028), 0));
        if (i < 21) {
            tnet_run(&net, 2 * GS_MILLISECONDS, NULL, NULL);
        }
    }
    gs_tstamp sent = net.now;
    for (int ms = 0; ms < 200; ++ms) {
        tnet_run(&net, GS_MILLISECONDS, NULL, NULL);
        cr_assert(eq(int, gs_quic_ep_conn_info(a->ep, a->last_conn, &info), 0));
        if (info.bytes_in_flight == 0 && r.last_ack == 0) {
            r.last_ack = net.now - sent;
        }
        r.ptos += info.pto_count;
    }
    r.acks = gs_quic_ep_stats_get(b->ep)->packets_out - out0;
    cr_assert(eq(sz, b->nframes, 22));
    tnet_free(&net);
    return r;
}

Test(quic, lone_packets_are_acknowledged_together_within_max_ack_delay, .timeout = 60)
{
    /* more than the max_ack_delay we advertise is refused */
    gs_quic_cfg bad = base_cfg();
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {9};
    gs_quic_ep *ep = NULL;
    gs_identity_from_seed(&id, seed);
    bad.ack_coalesce = 25 * GS_MILLISECONDS + 1;
    cr_assert(eq(int, gs_quic_ep_new(&ep, &bad, &id, NULL, gs_mem_default()), GS_ERR_INVAL));

    coalesce_run off = run_lone_packets(0);
    coalesce_run on = run_lone_packets(20 * GS_MILLISECONDS);

    cr_log_info("ack-only packets: %llu off, %llu on; last ACK after %.1f / %.1f ms",
                (unsigned long long)off.acks, (unsigned long long)on.acks,
                (double)off.last_ack / 1e6, (double)on.last_ack / 1e6);
    cr_assert(ge(u64, off.acks, 20), "without coalescing each lone packet gets its own ACK");
    cr_assert(le(u64, on.acks, 13), "with coalescing about every second packet is acknowledged");
    cr_assert(ne(u64, off.last_ack, 0));
    cr_assert(ne(u64, on.last_ack, 0));
    cr_assert(lt(u64, off.last_ack, 5 * GS_MILLISECONDS));
    /* the lone last packet waited, but within max_ack_delay (25 ms) plus the round trip and the
     * 1 ms steps of this loop */
    cr_assert(gt(u64, on.last_ack, 10 * GS_MILLISECONDS));
    cr_assert(le(u64, on.last_ack, 27 * GS_MILLISECONDS));
    cr_assert(eq(u64, off.ptos, 0));
    cr_assert(eq(u64, on.ptos, 0));
}

/* --- hardening --- */

Test(quic, random_datagrams_leave_no_state, .timeout = 120)
{
    gs_quic_cfg cfg = base_cfg();
    gs_quic_ep *ep;
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {9};
    gs_quic_addr local;
    gs_quic_addr remote;
    static uint8_t buf[1500];
    static uint8_t out[65536];
    gs_quic_seg_run runs[8];
    gs_tstamp now = 1000 * GS_SECONDS;
    uint64_t rnd = 0x1234567;
    uint64_t ndisco = 0;

    gs_identity_from_seed(&id, seed);
    cr_assert(eq(int, gs_quic_ep_new(&ep, &cfg, &id, NULL, gs_mem_default()), 0));
    tnet_addr(&local, 4001);
    for (int i = 0; i < 30000; ++i) {
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t len = 1 + (size_t)((rnd >> 33) % 1500);
        randombytes_buf(buf, len);
        switch (i % 6) {
        case 0: /* long header, QUIC v1, Initial type, plausible cid lengths */
            buf[0] = 0xc0 | (buf[0] & 0x0f);
            if (len > 6) {
                buf[1] = 0;
                buf[2] = 0;
                buf[3] = 0;
                buf[4] = 1;
                buf[5] = 8 + (buf[5] % 13);
            }
            break;
        case 1: /* long header, unknown version (Version Negotiation bait) */
            buf[0] |= 0x80;
            break;
        case 2: /* short header */
            buf[0] = 0x40 | (buf[0] & 0x3f);
            break;
        case 3: /* iroh 0.35 disco */
            if (len >= GS_QUIC_DISCO_MAGIC_LEN) {
                memcpy(buf, GS_QUIC_DISCO_MAGIC, GS_QUIC_DISCO_MAGIC_LEN);
                ++ndisco;
            }
            break;
        case 4: /* Initial padded to 1200+ bytes */
            len = 1200 + (len % 300);
            randombytes_buf(buf, len);
            buf[0] = 0xc0;
            buf[1] = 0;
            buf[2] = 0;
            buf[3] = 0;
            buf[4] = 1;
            buf[5] = 16;
            break;
        default:
            break;
        }
        tnet_addr(&remote, (uint16_t)(10000 + (i % 5000)));
        cr_assert(eq(int, gs_quic_ep_on_datagram(ep, &local, &remote, buf, len, 0, now), 0));
        cr_assert(eq(sz, gs_quic_ep_num_conns(ep), 0), "datagram %d (len %zu) made state", i, len);
        if (i % 50 == 0) {
            gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 8, 0, 64};
            while (gs_quic_ep_write(ep, now, &tx) > 0) {
                for (size_t r = 0; r < tx.nruns; ++r) {
                    /* every stateless reply is smaller than a full packet; resets < trigger */
                    cr_assert(le(sz, tx.runs[r].segsize, GS_QUIC_MAX_PACKET));
                }
                tx.len = 0;
                tx.nruns = 0;
            }
            now += GS_MILLISECONDS;
        }
    }
    const gs_quic_stats *st = gs_quic_ep_stats_get(ep);
    cr_assert(eq(u64, st->datagrams_in, 30000));
    cr_assert(eq(u64, st->disco_dropped, ndisco));
    cr_assert(gt(u64, ndisco, 4900));
    cr_assert(gt(u64, st->datagrams_invalid, 0));
    cr_assert(eq(u64, st->handshakes_ok, 0));
    cr_assert(eq(u64, st->conns_active, 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(ep), 0));
    gs_quic_ep_del(ep);
}

/* capture: remember the first datagram a client sends, drop everything. */
typedef struct capture {
    uint8_t data[8][GS_QUIC_MAX_PACKET];
    size_t len[8];
    size_t n;
} capture;

static bool capture_filter(tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                           const uint8_t *data, size_t len)
{
    (void)src;
    (void)dst;
    capture *cap = net->filter_user;
    if (cap->n < 8) {
        memcpy(cap->data[cap->n], data, len);
        cap->len[cap->n++] = len;
    }
    return false;
}

Test(quic, amplification_limit_holds_for_a_silent_client)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    capture cap;
    static uint8_t out[65536];
    gs_quic_seg_run runs[8];

    memset(&cap, 0, sizeof(cap));
    tnet_init(&net);
    tnode *cli = tnet_add(&net, 1, 4001, &cfg);
    gs_quic_ep *srv;
    gs_identity sid;
    uint8_t seed[GS_ID_SEED_LEN] = {2};
    gs_identity_from_seed(&sid, seed);
    cr_assert(eq(int, gs_quic_ep_new(&srv, &cfg, &sid, NULL, gs_mem_default()), 0));
    gs_quic_addr saddr;
    tnet_addr(&saddr, 4002);
    net.filter = capture_filter;
    net.filter_user = &cap;
    gs_quic_conn_id c;
    cr_assert(eq(int, gs_quic_ep_connect(cli->ep, sid.pk, &cli->addr, &saddr, net.now, &c), 0));
    tnet_drain_node(&net, cli);
    cr_assert(ge(sz, cap.n, 1));

    /* One Initial in; the server answers and retransmits for 15 s with no reply. */
    size_t in = cap.len[0];
    size_t outb = 0;
    gs_tstamp now = net.now;
    cr_assert(eq(int, gs_quic_ep_on_datagram(srv, &saddr, &cli->addr, cap.data[0], in, 0, now), 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(srv), 1));
    for (int i = 0; i < 10000; ++i) {
        gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 8, 0, 64};
        gs_ssize w;
        while ((w = gs_quic_ep_write(srv, now, &tx)) > 0) {
            outb += (size_t)w;
            tx.len = 0;
            tx.nruns = 0;
        }
        gs_tstamp e = gs_quic_ep_get_expiry(srv);
        if (e == GS_TSTAMP_NEVER || e > net.now + 15 * GS_SECONDS) {
            break;
        }
        now = e > now ? e : now;
        gs_quic_ep_handle_expiry(srv, now);
    }
    cr_assert(gt(sz, outb, 0));
    cr_assert(le(sz, outb, 3 * in), "server sent %zu bytes for %zu received", outb, in);
    gs_quic_ep_del(srv);
    tnet_free(&net);
}

static bool cli_connected(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 1;
}

Test(quic, retry_always_round_trips)
{
    tnet net;
    gs_quic_cfg ccfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    tnet_init(&net);
    scfg.retry_mode = GS_QUIC_RETRY_ALWAYS;
    tnode *a = tnet_add(&net, 1, 4001, &ccfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 3 * GS_SECONDS, both_connected, NULL));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->retries_sent, 1));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->tokens_ok, 1));
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->tokens_rejected, 0));
    (void)cli_connected;
    tnet_free(&net);
}

/* token_offset finds the token of a long-header Initial: returns its offset and length. */
static size_t token_offset(const uint8_t *p, size_t len, size_t *ptoklen)
{
    size_t off = 5;
    off += 1 + p[off];
    off += 1 + p[off];
    uint8_t first = p[off];
    size_t vlen = (size_t)1 << (first >> 6);
    uint64_t tl = first & 0x3f;
    for (size_t i = 1; i < vlen; ++i) {
        tl = (tl << 8) | p[off + i];
    }
    off += vlen;
    cr_assert(le(sz, off + tl, len));
    *ptoklen = (size_t)tl;
    return off;
}

/* retry capture: pass everything, but keep the client's Initials that carry a token. */
static bool token_filter(tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                         const uint8_t *data, size_t len)
{
    (void)src;
    (void)dst;
    capture *cap = net->filter_user;
    if ((data[0] & 0xf0) == 0xc0 && len >= 1200) {
        size_t tl;
        token_offset(data, len, &tl);
        if (tl > 0) {
            if (cap->n < 8) {
                memcpy(cap->data[cap->n], data, len);
                cap->len[cap->n++] = len;
            }
            return false; /* the server never sees it: the test replays it */
        }
    }
    return true;
}

Test(quic, bad_retry_tokens_are_rejected)
{
    tnet net;
    gs_quic_cfg ccfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    capture cap;

    memset(&cap, 0, sizeof(cap));
    tnet_init(&net);
    scfg.retry_mode = GS_QUIC_RETRY_ALWAYS;
    tnode *a = tnet_add(&net, 1, 4001, &ccfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    net.filter = token_filter;
    net.filter_user = &cap;
    dial(&net, a, b, NULL);
    tnet_run(&net, 100 * GS_MILLISECONDS, NULL, NULL);
    cr_assert(ge(sz, cap.n, 1));
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->retries_sent, 1));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 0));
    uint8_t pkt[GS_QUIC_MAX_PACKET];
    size_t len = cap.len[0];
    size_t tl;
    size_t toff = token_offset(cap.data[0], len, &tl);

    /* 1. wrong address: the token is bound to the client's address */
    gs_quic_addr other;
    tnet_addr(&other, 5555);
    gs_quic_ep_on_datagram(b->ep, &b->addr, &other, cap.data[0], len, 0, net.now);
    cr_assert(eq(u64, st->tokens_rejected, 1));
    /* 2. forged: one bit flipped inside the token */
    memcpy(pkt, cap.data[0], len);
    pkt[toff + tl / 2] ^= 0x01;
    gs_quic_ep_on_datagram(b->ep, &b->addr, &a->addr, pkt, len, 0, net.now);
    cr_assert(eq(u64, st->tokens_rejected, 2));
    /* 3. expired: the right packet from the right address after the token's lifetime */
    gs_quic_ep_on_datagram(b->ep, &b->addr, &a->addr, cap.data[0], len, 0,
                           net.now + 11 * GS_SECONDS);
    cr_assert(eq(u64, st->tokens_rejected, 3));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 0));
    cr_assert(eq(u64, st->tokens_ok, 0));
    /* 4. the genuine packet, in time and from the right address, is accepted */
    gs_quic_ep_on_datagram(b->ep, &b->addr, &a->addr, cap.data[0], len, 0, net.now);
    cr_assert(eq(u64, st->tokens_ok, 1));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 1));
    tnet_free(&net);
}

Test(quic, idle_peer_is_timed_out)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* With keep-alives the connection survives a long quiet period. */
    tnet_run(&net, 60 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, a->nclosed, 0));
    cr_assert(eq(sz, b->nclosed, 0));
    /* Then the network goes silent: both sides time out after ~30 s. */
    capture cap;
    memset(&cap, 0, sizeof(cap));
    net.filter = capture_filter;
    net.filter_user = &cap;
    gs_tstamp cut = net.now;
    tnet_run(&net, 40 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, a->nclosed, 1));
    cr_assert(eq(sz, b->nclosed, 1));
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_TIMEOUT));
    cr_assert(eq(int, b->closed[0].rv, GS_ERR_TIMEOUT));
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->idle_timeouts, 1));
    (void)cut;
    tnet_free(&net);
}

Test(quic, handshake_times_out_without_server)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    gs_quic_addr nowhere;
    tnet_addr(&nowhere, 4999);
    uint8_t id[GS_ID_LEN] = {5};
    gs_quic_conn_id c;
    cr_assert(eq(int, gs_quic_ep_connect(a->ep, id, &a->addr, &nowhere, net.now, &c), 0));
    tnet_run(&net, 15 * GS_SECONDS, node0_closed, NULL);
    cr_assert(eq(sz, a->nclosed, 1));
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_TIMEOUT));
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->handshake_timeouts, 1));
    tnet_free(&net);
}

Test(quic, stateless_reset_is_smaller_and_rate_limited)
{
    gs_quic_cfg cfg = base_cfg();
    gs_quic_ep *ep;
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {9};
    gs_quic_addr local;
    gs_quic_addr remote;
    uint8_t pkt[1200];
    static uint8_t out[65536];
    gs_quic_seg_run runs[64];
    gs_tstamp now = 1000 * GS_SECONDS;

    gs_identity_from_seed(&id, seed);
    cfg.reset_rate = 10;
    cr_assert(eq(int, gs_quic_ep_new(&ep, &cfg, &id, NULL, gs_mem_default()), 0));
    tnet_addr(&local, 4001);
    tnet_addr(&remote, 4002);
    const size_t sizes[] = {1200, 100, 44, 43, 30, 23, 22, 21, 10};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); ++k) {
        size_t len = sizes[k];
        randombytes_buf(pkt, len);
        pkt[0] = 0x40 | (pkt[0] & 0x3f); /* short header, unknown DCID of our shard (byte 0) */
        if (len > 1) {
            pkt[1] = cfg.shard;
        }
        uint64_t before = gs_quic_ep_stats_get(ep)->resets_sent;
        gs_quic_ep_on_datagram(ep, &local, &remote, pkt, len, 0, now);
        gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 64, 0, 1};
        gs_ssize w = gs_quic_ep_write(ep, now, &tx);
        if (len > 21) {
            cr_assert(eq(u64, gs_quic_ep_stats_get(ep)->resets_sent, before + 1), "len %zu", len);
            cr_assert(gt(i64, w, 0));
            cr_assert(lt(sz, (size_t)w, len), "reset of %zd bytes for a %zu-byte trigger", w, len);
            cr_assert(ge(sz, (size_t)w, 21), "len %zu", len);
            cr_assert(eq(u8, out[0] & 0xc0, 0x40)); /* looks like a short header */
        } else {
            cr_assert(eq(u64, gs_quic_ep_stats_get(ep)->resets_sent, before), "len %zu", len);
            cr_assert(eq(i64, w, 0));
        }
        now += GS_SECONDS; /* refill the bucket */
    }
    /* A burst at one instant: at most reset_rate replies. */
    uint64_t before = gs_quic_ep_stats_get(ep)->resets_sent;
    for (int i = 0; i < 200; ++i) {
        randombytes_buf(pkt, 100);
        pkt[0] = 0x40;
        pkt[1] = cfg.shard;
        gs_quic_ep_on_datagram(ep, &local, &remote, pkt, 100, 0, now);
        gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 64, 0, 1};
        while (gs_quic_ep_write(ep, now, &tx) > 0) {
            tx.len = 0;
            tx.nruns = 0;
        }
    }
    uint64_t sent = gs_quic_ep_stats_get(ep)->resets_sent - before;
    cr_assert(le(u64, sent, 10));
    cr_assert(ge(u64, sent, 9));
    cr_assert(ge(u64, gs_quic_ep_stats_get(ep)->resets_ratelimited, 190));
    gs_quic_ep_del(ep);
}

Test(quic, restarted_server_resets_old_connections)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    uint8_t frame[24];
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* The server restarts with the same key (and shard): it has no state for the connection, and
     * its reset carries the token it issued before, so the client drops it at once. */
    gs_quic_callbacks cb = {.user_data = b,
                            .on_connected = tnet_on_connected,
                            .on_frame = tnet_on_frame,
                            .on_closed = tnet_on_closed};
    gs_quic_ep_del(b->ep);
    cr_assert(eq(int, gs_quic_ep_new(&b->ep, &cfg, &b->id, &cb, gs_mem_default()), 0));
    make_frame(frame, 20, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 24), 0));
    bool closed = tnet_run(&net, 2 * GS_SECONDS, node0_closed, NULL);
    cr_assert(closed, "resets sent %llu recv %llu b dropped %llu invalid %llu",
              (unsigned long long)gs_quic_ep_stats_get(b->ep)->resets_sent,
              (unsigned long long)gs_quic_ep_stats_get(a->ep)->resets_received,
              (unsigned long long)gs_quic_ep_stats_get(b->ep)->datagrams_dropped,
              (unsigned long long)gs_quic_ep_stats_get(b->ep)->datagrams_invalid);
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_CLOSED));
    cr_assert(ne(ptr, strstr(a->closed[0].reason, "stateless reset"), NULL), "%s",
              a->closed[0].reason);
    cr_assert(eq(u64, gs_quic_ep_stats_get(a->ep)->resets_received, 1));
    cr_assert(ge(u64, gs_quic_ep_stats_get(b->ep)->resets_sent, 1));
    /* ... and a server on another shard index (other secret) cannot reset it */
    tnet net2;
    tnet_init(&net2);
    tnode *a2 = tnet_add(&net2, 1, 4001, &cfg);
    tnode *b2 = tnet_add(&net2, 2, 4002, &cfg);
    dial(&net2, a2, b2, NULL);
    cr_assert(tnet_run(&net2, 2 * GS_SECONDS, both_connected, NULL));
    gs_quic_cfg other = cfg;
    other.shard = 1;
    gs_quic_callbacks cb2 = {.user_data = b2,
                             .on_connected = tnet_on_connected,
                             .on_frame = tnet_on_frame,
                             .on_closed = tnet_on_closed};
    gs_quic_ep_del(b2->ep);
    cr_assert(eq(int, gs_quic_ep_new(&b2->ep, &other, &b2->id, &cb2, gs_mem_default()), 0));
    cr_assert(eq(int, gs_quic_ep_send_frame(a2->ep, b2->id.pk, topics[0], frame, 24), 0));
    tnet_run(&net2, 2 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(u64, gs_quic_ep_stats_get(b2->ep)->resets_sent, 0)); /* not its shard's id */
    cr_assert(eq(u64, gs_quic_ep_stats_get(a2->ep)->resets_received, 0));
    tnet_free(&net2);
    tnet_free(&net);
}

static bool a_has_two(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nconnected >= 2 && net->nodes[1].nconnected >= 2;
}

typedef struct conn_seen {
    gs_quic_conn_id conn;
    size_t n;
} conn_seen;

static void note_conn(tnode *n, gs_quic_conn_id conn, const uint8_t *topic, const uint8_t *body,
                      size_t len)
{
    (void)topic;
    (void)body;
    (void)len;
    conn_seen *cs = n->user;
    cs->conn = conn;
    ++cs->n;
}

Test(quic, newest_connection_wins)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    conn_seen cs = {0, 0};
    uint8_t frame[24];
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    b->on_frame = note_conn;
    b->user = &cs;
    gs_quic_conn_id c1 = dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    gs_quic_conn_id b1 = b->last_conn;
    gs_quic_conn_id c2 = dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, a_has_two, NULL));
    gs_quic_conn_id b2 = b->last_conn;
    cr_assert(ne(u64, b1, b2));
    cr_assert(eq(u64, gs_quic_ep_send_path(a->ep, b->id.pk), c2));
    cr_assert(eq(u64, gs_quic_ep_send_path(b->ep, a->id.pk), b2));
    make_frame(frame, 20, 0);
    cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 24), 0));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, cs.n, 1));
    cr_assert(eq(u64, cs.conn, b2));
    /* Closing the older one is not a disconnect; closing the newest is. */
    cr_assert(eq(int, gs_quic_ep_close(a->ep, c1, 0, "old"), 0));
    cr_assert(eq(int, gs_quic_ep_close(a->ep, c1, 0, "old"), GS_ERR_CLOSED));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, a->nclosed, 1));
    cr_assert(eq(int, a->closed[0].rv, 0));
    cr_assert(not(a->closed[0].was_send_path));
    cr_assert(eq(sz, b->nclosed, 1));
    cr_assert(eq(int, b->closed[0].rv, GS_ERR_CLOSED));
    cr_assert(eq(u64, b->closed[0].app_error, 0));
    cr_assert(not(b->closed[0].was_send_path));
    cr_assert(eq(u64, gs_quic_ep_send_path(a->ep, b->id.pk), c2));
    cr_assert(eq(int, gs_quic_ep_close(a->ep, c2, 7, "bye"), 0));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, a->nclosed, 2));
    cr_assert(a->closed[1].was_send_path);
    cr_assert(eq(sz, b->nclosed, 2));
    cr_assert(b->closed[1].was_send_path);
    cr_assert(eq(u64, b->closed[1].app_error, 7));
    cr_assert(eq(u64, gs_quic_ep_send_path(a->ep, b->id.pk), 0));
    cr_assert(
        eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 24), GS_ERR_NOTFOUND));
    tnet_run(&net, 5 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 0));
    tnet_free(&net);
}

Test(quic, connection_limits_refuse_and_count)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    tnet_init(&net);
    scfg.max_conns_per_addr = 3;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    for (int i = 0; i < 5; ++i) {
        dial(&net, a, b, NULL);
    }
    tnet_run(&net, 15 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_ok, 3));
    cr_assert(ge(u64, gs_quic_ep_stats_get(b->ep)->conns_refused, 2));
    cr_assert(eq(sz, a->nconnected, 3));
    cr_assert(eq(sz, a->nclosed, 2)); /* refused dials end (CONNECTION_REFUSED) */
    tnet_free(&net);
}

Test(quic, version_negotiation_for_unknown_versions)
{
    gs_quic_cfg cfg = base_cfg();
    gs_quic_ep *ep;
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {9};
    gs_quic_addr local;
    gs_quic_addr remote;
    static uint8_t pkt[1200];
    static uint8_t out[65536];
    gs_quic_seg_run runs[4];

    gs_identity_from_seed(&id, seed);
    cr_assert(eq(int, gs_quic_ep_new(&ep, &cfg, &id, NULL, gs_mem_default()), 0));
    tnet_addr(&local, 4001);
    tnet_addr(&remote, 4002);
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0xc0;
    pkt[1] = 0x1a;
    pkt[2] = 0x2a;
    pkt[3] = 0x3a;
    pkt[4] = 0x4a;
    pkt[5] = 8;
    pkt[14] = 8;
    gs_quic_ep_on_datagram(ep, &local, &remote, pkt, sizeof(pkt), 0, 1);
    gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 4, 0, 1};
    gs_ssize w = gs_quic_ep_write(ep, 1, &tx);
    cr_assert(gt(i64, w, 0));
    cr_assert(eq(u8, out[1] | out[2] | out[3] | out[4], 0)); /* version 0 = VN */
    cr_assert(eq(u64, gs_quic_ep_stats_get(ep)->version_negotiations, 1));
    /* A short datagram of an unknown version gets nothing. */
    gs_quic_ep_on_datagram(ep, &local, &remote, pkt, 100, 0, 1);
    tx.len = 0;
    tx.nruns = 0;
    cr_assert(eq(i64, gs_quic_ep_write(ep, 1, &tx), 0));
    cr_assert(eq(sz, gs_quic_ep_num_conns(ep), 0));
    gs_quic_ep_del(ep);
}

Test(quic, gso_runs_are_well_formed)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    static uint8_t frame[4000];
    static uint8_t out[65536 * 2];
    gs_quic_seg_run runs[1];

    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    make_frame(frame, 3000, 0);
    for (int i = 0; i < 20; ++i) {
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topics[0], frame, 3004), 0));
    }
    /* maxruns = 1 (A's engine): each call returns one run. */
    size_t total = 0;
    size_t calls = 0;
    for (;;) {
        gs_quic_txbuf tx = {out, sizeof(out), 0, runs, 1, 0, 64};
        gs_ssize w = gs_quic_ep_write(a->ep, net.now, &tx);
        if (w <= 0) {
            cr_assert(eq(i64, w, 0));
            break;
        }
        ++calls;
        cr_assert(eq(sz, tx.nruns, 1));
        const gs_quic_seg_run *r = &tx.runs[0];
        cr_assert(eq(sz, r->off, 0));
        cr_assert(eq(sz, r->len, (size_t)w));
        cr_assert(le(sz, r->nsegs, 64));
        cr_assert(le(sz, r->len, 65000));
        cr_assert(gt(sz, r->len, (r->nsegs - 1) * r->segsize));
        cr_assert(le(sz, r->len, r->nsegs * r->segsize));
        for (size_t off = 0; off < r->len; off += r->segsize) {
            size_t seg = r->len - off < r->segsize ? r->len - off : r->segsize;
            tnet_enqueue(&net, &r->local, &r->remote, out + off, seg);
        }
        total += (size_t)w;
    }
    /* The first flight is bounded by the congestion window (about 10 packets). */
    cr_assert(gt(sz, total, 9000));
    cr_assert(eq(sz, calls, 1)); /* ... and it went out as one GSO run */
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, b->nframes, 20));
    cr_assert(eq(int,
                 gs_quic_ep_write(a->ep, net.now, &(gs_quic_txbuf){out, 100, 0, runs, 1, 0, 1}),
                 GS_ERR_NOBUF));
    tnet_free(&net);
}

Test(quic, retry_auto_above_handshake_rate)
{
    tnet net;
    gs_quic_cfg ccfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    tnet_init(&net);
    scfg.retry_mode = GS_QUIC_RETRY_AUTO;
    scfg.retry_auto_rate = 3;
    tnode *a = tnet_add(&net, 1, 4001, &ccfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    for (int i = 0; i < 6; ++i) {
        dial(&net, a, b, NULL);
    }
    tnet_run(&net, 3 * GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->handshakes_ok, 6));
    /* the first 3 in the one-second window went straight through, the rest after a Retry */
    cr_assert(eq(u64, st->retries_sent, 3));
    cr_assert(eq(u64, st->tokens_ok, 3));
    tnet_free(&net);
}

Test(quic, alpn_mismatch_fails_the_handshake)
{
    tnet net;
    gs_quic_cfg ccfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    tnet_init(&net);
    strcpy(ccfg.alpn[0], "/iroh-gossip/0");
    tnode *a = tnet_add(&net, 1, 4001, &ccfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    dial(&net, a, b, NULL);
    /* The server's TLS alert (no_application_protocol) reaches the client at once. */
    cr_assert(tnet_run(&net, GS_SECONDS, node0_closed, NULL));
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_TLS), "%s", a->closed[0].reason);
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 0)); /* and the server kept nothing */
    cr_assert(eq(sz, a->nconnected, 0));
    cr_assert(eq(sz, b->nconnected, 0));
    cr_assert(ge(u64, gs_quic_ep_stats_get(b->ep)->handshakes_failed, 1));
    tnet_free(&net);
}

Test(quic, global_connection_limit)
{
    tnet net;
    gs_quic_cfg ccfg = base_cfg();
    gs_quic_cfg scfg = base_cfg();
    tnet_init(&net);
    scfg.max_conns = 4;
    tnode *a = tnet_add(&net, 1, 4001, &ccfg);
    tnode *b = tnet_add(&net, 2, 4002, &scfg);
    for (int i = 0; i < 6; ++i) {
        dial(&net, a, b, NULL);
    }
    tnet_run(&net, 3 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(u64, gs_quic_ep_stats_get(b->ep)->handshakes_ok, 4));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 4));
    cr_assert(ge(u64, gs_quic_ep_stats_get(b->ep)->conns_refused, 2));
    /* and the client side refuses its own dials past its limit */
    gs_quic_cfg tiny = base_cfg();
    tiny.max_conns = 1;
    tnode *c = tnet_add(&net, 3, 4003, &tiny);
    gs_quic_conn_id h;
    cr_assert(eq(int, gs_quic_ep_connect(c->ep, b->id.pk, &c->addr, &b->addr, net.now, &h), 0));
    cr_assert(eq(int, gs_quic_ep_connect(c->ep, b->id.pk, &c->addr, &b->addr, net.now, &h),
                 GS_ERR_REFUSED));
    tnet_free(&net);
}

static bool b_has(tnet *net, void *arg)
{
    return net->nodes[1].nframes >= *(size_t *)arg;
}

Test(quic, many_stream_cycles_end_in_a_clean_close, .timeout = 120)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    uint8_t frame[16];
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* 4096 finished incoming streams on one connection: the receiver closes it (bounded ngtcp2
     * state), reported on both sides; everything sent before arrived. */
    size_t sent = 0;
    for (int round = 0; round < 45 && a->nclosed == 0; ++round) {
        for (int t = 0; t < 100; ++t) {
            uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x40, (uint8_t)t};
            make_frame(frame, 8, (uint32_t)sent);
            if (gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 12) != 0) {
                break;
            }
            gs_quic_ep_finish_stream(a->ep, b->id.pk, topic);
            ++sent;
        }
        tnet_run(&net, GS_SECONDS, b_has, &sent);
    }
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, b->nclosed, 1), "sent %zu frames %zu streams_in %llu", sent, b->nframes,
              (unsigned long long)gs_quic_ep_stats_get(b->ep)->streams_in);
    cr_assert(eq(int, b->closed[0].rv, 0));
    cr_assert(eq(sz, a->nclosed, 1));
    cr_assert(eq(int, a->closed[0].rv, GS_ERR_CLOSED));
    cr_assert(ge(sz, b->nframes, 4096));
    cr_assert(ge(u64, gs_quic_ep_stats_get(b->ep)->streams_in, 4096));
    tnet_free(&net);
}

/* last_short: remembers the last short-header datagram sent to the server (its DCID is ours). */
typedef struct last_short {
    uint8_t data[GS_QUIC_MAX_PACKET];
    size_t len;
} last_short;

static bool short_filter(tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                         const uint8_t *data, size_t len)
{
    (void)src;
    last_short *ls = net->filter_user;
    if ((data[0] & 0x80) == 0 && dst->u.in.sin_port == htons(4002)) {
        memcpy(ls->data, data, len);
        ls->len = len;
    }
    return true;
}

Test(quic, forged_packets_with_a_live_connection_id_do_not_hurt_it)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    last_short ls;
    uint8_t pkt[1500];
    uint8_t frame[64];

    memset(&ls, 0, sizeof(ls));
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    net.filter = short_filter;
    net.filter_user = &ls;
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    make_frame(frame, 20, 0);
    send_retrying(&net, a, b, topics[0], frame, 24);
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(gt(sz, ls.len, 17));
    /* 5000 forged datagrams: the right DCID, random protected bytes, random lengths, also
     * replays and truncations of a genuine packet, from the right and from other addresses. */
    gs_quic_addr other;
    tnet_addr(&other, 7777);
    for (int i = 0; i < 5000; ++i) {
        size_t len = 17 + (size_t)(i * 37) % 1400;
        randombytes_buf(pkt, len);
        pkt[0] = 0x40 | (pkt[0] & 0x3f);
        memcpy(pkt + 1, ls.data + 1, GS_QUIC_CID_LEN);
        const gs_quic_addr *from = (i % 2) != 0 ? &a->addr : &other;
        gs_quic_ep_on_datagram(b->ep, &b->addr, from, pkt, len, 0, net.now);
        if (i % 100 == 0) {
            gs_quic_ep_on_datagram(b->ep, &b->addr, from, ls.data, ls.len, 0, net.now);
            gs_quic_ep_on_datagram(b->ep, &b->addr, from, ls.data, ls.len / 2, 0, net.now);
        }
    }
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, a->nclosed, 0));
    cr_assert(eq(sz, b->nclosed, 0));
    make_frame(frame, 20, 1);
    send_retrying(&net, a, b, topics[0], frame, 24);
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, b->nframes, 2));
    cr_assert(eq(sz, gs_quic_ep_num_conns(b->ep), 1));
    tnet_free(&net);
}

/* tnet_add_counted adds a node (identity from seed byte |seed0|, port |port|) whose endpoint
 * allocates through the counting allocator |fm| (initialised here). */
static tnode *tnet_add_counted(tnet *net, uint8_t seed0, uint16_t port, const gs_quic_cfg *cfg,
                               gs_fake_mem *fm)
{
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {seed0};
    gs_identity_from_seed(&id, seed);
    gs_fake_mem_init(fm, 0);
    tnode *a = &net->nodes[net->nnodes++];
    gs_quic_callbacks cb = {.user_data = a,
                            .on_connected = tnet_on_connected,
                            .on_frame = tnet_on_frame,
                            .on_closed = tnet_on_closed};
    cr_assert(eq(int, gs_quic_ep_new(&a->ep, cfg, &id, &cb, &fm->mem), 0));
    a->id = id;
    tnet_addr(&a->addr, port);
    return a;
}

Test(quic, connection_churn_leaves_no_memory_behind, .timeout = 120)
{
    gs_quic_cfg cfg = base_cfg();
    gs_fake_mem fm;
    tnet net;
    uint8_t frame[1004];

    cfg.max_conns = 64;
    tnet_init(&net);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    tnode *a = tnet_add_counted(&net, 1, 4001, &cfg, &fm);
    size_t base = fm.nlive;
    size_t after_first = 0;
    for (int i = 0; i < 100; ++i) {
        gs_quic_conn_id c = dial(&net, a, b, NULL);
        size_t want = a->nconnected + 1;
        for (int k = 0; k < 10000 && a->nconnected < want; ++k) {
            tnet_step(&net, net.now + GS_SECONDS);
        }
        make_frame(frame, 1000, (uint32_t)i);
        for (int k = 0; k < 50; ++k) {
            cr_assert(eq(int, gs_quic_ep_send_frame_conn(a->ep, c, topics[k % 4], frame, 1004), 0));
        }
        tnet_run(&net, GS_SECONDS, NULL, NULL);
        cr_assert(eq(int, gs_quic_ep_close(a->ep, c, 0, "churn"), 0));
        tnet_run(&net, 5 * GS_SECONDS, NULL, NULL);
        cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
        if (i == 0) {
            after_first = fm.nlive;
        }
    }
    /* Only the send-chunk cache may stay (bounded); nothing grows with the number of cycles. */
    cr_assert(le(sz, fm.nlive, after_first + 64), "base %zu first %zu now %zu", base, after_first,
              fm.nlive);
    cr_assert(eq(sz, b->nframes, 100 * 50));
    gs_quic_ep_del(a->ep);
    a->ep = NULL;
    cr_assert(eq(sz, fm.nlive, 0));
    tnet_free(&net);
}

Test(quic, one_run_per_batch_like_the_engine)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    order_check oc;
    static uint8_t frame[4100];

    memset(&oc, 0, sizeof(oc));
    tnet_init(&net);
    net.maxruns = 1; /* io/engine drains each call into one GSO send slot */
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    tnode *c = tnet_add(&net, 3, 4003, &cfg);
    b->on_frame = check_frame;
    b->user = &oc;
    dial(&net, a, b, NULL);
    dial(&net, c, b, NULL);
    dial(&net, a, c, NULL);
    for (int i = 0; i < 1000 && (b->nconnected < 2 || c->nconnected < 2); ++i) {
        tnet_step(&net, net.now + GS_SECONDS);
    }
    cr_assert(eq(sz, b->nconnected, 2));
    cr_assert(eq(sz, c->nconnected, 2));
    for (uint32_t i = 0; i < 300; ++i) {
        size_t len = 1 + (i * 131) % 4000;
        make_frame(frame, len, i);
        send_retrying(&net, a, b, topics[0], frame, len + 4);
    }
    want_frames w = {300};
    cr_assert(tnet_run(&net, 10 * GS_SECONDS, got_frames, &w));
    cr_assert(eq(sz, oc.nbad, 0));
    cr_assert(eq(sz, a->nclosed + b->nclosed + c->nclosed, 0));
    tnet_free(&net);
}

Test(quic, partial_frame_buffers_are_bounded)
{
    tnet net;
    gs_quic_cfg scfg = base_cfg();
    gs_quic_cfg rcfg = base_cfg();
    static uint8_t frame[4100];

    tnet_init(&net);
    rcfg.rx_buffer_max = 3 * 4096;      /* room for three streams mid-frame */
    rcfg.rx_buffer_conn_max = 4 * 4096; /* one connection may use it all: the total binds */
    tnode *a = tnet_add(&net, 1, 4001, &scfg);
    tnode *b = tnet_add(&net, 2, 4002, &rcfg);
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    /* 4000-byte bodies always span packets: each topic's stream needs a buffer. */
    make_frame(frame, 4000, 0);
    for (uint8_t t = 0; t < 5; ++t) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x90, t};
        cr_assert(eq(int, gs_quic_ep_send_frame(a->ep, b->id.pk, topic, frame, 4004), 0));
    }
    tnet_run(&net, 2 * GS_SECONDS, NULL, NULL);
    const gs_quic_stats *st = gs_quic_ep_stats_get(b->ep);
    cr_assert(eq(u64, st->rx_buffer_refused, 2));
    cr_assert(eq(sz, b->nframes, 3));
    cr_assert(eq(u64, st->rx_buffered, 3 * 4096));
    cr_assert(eq(sz, b->nclosed, 0)); /* only those streams were stopped */
    tnet_free(&net);
}

typedef struct lossy {
    uint64_t rnd;
    unsigned percent;
} lossy;

static bool lossy_filter(tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                         const uint8_t *data, size_t len)
{
    (void)src;
    (void)dst;
    (void)data;
    (void)len;
    lossy *l = net->filter_user;
    l->rnd = l->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
    return (l->rnd >> 33) % 100 >= l->percent;
}

Test(quic, frames_survive_packet_loss, .timeout = 120)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    order_check oc;
    lossy l = {12345, 0};
    static uint8_t frame[4100];

    memset(&oc, 0, sizeof(oc));
    tnet_init(&net);
    net.filter = lossy_filter;
    net.filter_user = &l;
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    b->on_frame = check_frame;
    b->user = &oc;
    dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, both_connected, NULL));
    /* 10% loss both ways from here on: retransmissions come from our acknowledged-only-later
     * chunks, so this checks that they stay valid until ngtcp2 reports them acknowledged. */
    l.percent = 10;
    uint32_t seq[2] = {0, 0};
    for (uint32_t i = 0; i < 2000; ++i) {
        size_t len = 1 + (i * 977) % 4095;
        int t = (int)(i % 2);
        make_frame(frame, len, seq[t]++);
        send_retrying(&net, a, b, topics[t], frame, len + 4);
    }
    want_frames w = {2000};
    cr_assert(tnet_run(&net, 120 * GS_SECONDS, got_frames, &w), "got %zu", b->nframes);
    cr_assert(eq(sz, oc.nbad, 0));
    cr_assert(eq(sz, oc.nframes[0], 1000));
    cr_assert(eq(sz, oc.nframes[1], 1000));
    tnet_run(&net, 5 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, gs_quic_ep_queued_bytes(a->ep, a->last_conn), 0));
    cr_assert(eq(sz, a->nclosed + b->nclosed, 0));
    cr_assert(gt(u64, net.dropped, 100));
    tnet_free(&net);
}

#define NREF_FRAMES 20000

static bool node0_got_all(tnet *net, void *arg)
{
    (void)arg;
    return net->nodes[0].nframes >= NREF_FRAMES;
}

static void count_release(void *arg)
{
    ++*(size_t *)arg;
}

/* Zero-copy frames are one data vector each, so packets of small frames carry many vectors and
 * their retransmissions get merged: the path on which ngtcp2 0.12.1 loses a frame chain into its
 * object pool.  Every byte of ngtcp2 state must be accounted to its connection while it lives and
 * be gone (freed by ngtcp2 or reclaimed by us) once the connection is freed. */
Test(quic, connection_memory_is_accounted_and_reclaimed_under_loss, .timeout = 120)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    gs_fake_mem fm;
    lossy l = {777, 0};
    static uint8_t frames[NREF_FRAMES][24];
    size_t released = 0;

    tnet_init(&net);
    net.filter = lossy_filter;
    net.filter_user = &l;
    tnode *b = tnet_add(&net, 2, 4002, &cfg);
    tnode *a = tnet_add_counted(&net, 9, 4001, &cfg, &fm);
    gs_quic_conn_id c = dial(&net, a, b, NULL);
    for (int k = 0; k < 10000 && a->nconnected == 0; ++k) {
        tnet_step(&net, net.now + GS_SECONDS);
    }
    cr_assert(eq(sz, a->nconnected, 1));
    const gs_quic_stats *st = gs_quic_ep_stats_get(a->ep);
    cr_assert(gt(u64, st->conn_mem, 1000), "an established connection holds ngtcp2 state");
    l.percent = 20;
    for (uint32_t i = 0; i < NREF_FRAMES; ++i) {
        make_frame(frames[i], 20, i);
        for (int tries = 0;; ++tries) {
            int rv = gs_quic_ep_send_frame_ref(a->ep, b->id.pk, topics[i % 3], frames[i], 24,
                                               GS_QUIC_SEND_CONTROL, count_release, &released);
            if (rv == 0) {
                break;
            }
            cr_assert(eq(int, rv, GS_ERR_AGAIN));
            cr_assert(lt(int, tries, 100000));
            tnet_step(&net, net.now + GS_SECONDS);
        }
        if (i % 50 == 0) {
            tnet_step(&net, net.now + GS_SECONDS);
        }
    }
    cr_assert(tnet_run(&net, 120 * GS_SECONDS, node0_got_all, NULL), "got %zu", b->nframes);
    cr_assert(gt(u64, net.dropped, 100));
    cr_assert(eq(int, gs_quic_ep_close(a->ep, c, 0, "done"), 0));
    tnet_run(&net, 10 * GS_SECONDS, NULL, NULL);
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), 0));
    cr_assert(eq(sz, released, NREF_FRAMES), "every reference released once");
    cr_assert(eq(u64, st->conn_mem, 0), "no ngtcp2 byte outlives its connection");
    cr_log_info("reclaimed after ngtcp2_conn_del: %llu blocks",
                (unsigned long long)st->conn_mem_reclaimed);
    gs_quic_ep_del(a->ep);
    a->ep = NULL;
    cr_assert(eq(sz, fm.nlive, 0));
    tnet_free(&net);
}

/* --- allocation failures --- */

Test(quic, ep_new_survives_every_allocation_failure)
{
    gs_quic_cfg cfg = base_cfg();
    gs_identity id;
    uint8_t seed[GS_ID_SEED_LEN] = {1};
    gs_identity_from_seed(&id, seed);
    cfg.max_conns = 16;
    for (size_t fail_at = 1;; ++fail_at) {
        gs_fake_mem fm;
        gs_quic_ep *ep = NULL;
        gs_fake_mem_init(&fm, fail_at);
        int rv = gs_quic_ep_new(&ep, &cfg, &id, NULL, &fm.mem);
        if (rv == 0) {
            gs_quic_ep_del(ep);
            cr_assert(eq(sz, fm.nlive, 0));
            cr_assert(gt(sz, fail_at, 3));
            break;
        }
        cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu", fail_at);
        cr_assert(eq(sz, fm.nlive, 0), "leak when call %zu fails", fail_at);
    }
}

Test(quic, connect_and_handshake_survive_allocation_failures, .timeout = 120)
{
    gs_quic_cfg cfg = base_cfg();
    cfg.max_conns = 16;
    size_t ok_connects = 0;
    for (size_t fail_at = 1; fail_at < 400; ++fail_at) {
        tnet net;
        gs_fake_mem fm;
        gs_quic_ep *ep = NULL;
        gs_identity id;
        uint8_t seed[GS_ID_SEED_LEN] = {1};
        gs_identity_from_seed(&id, seed);
        tnet_init(&net);
        tnode *b = tnet_add(&net, 2, 4002, &cfg);
        gs_fake_mem_init(&fm, 0);
        cr_assert(eq(int, gs_quic_ep_new(&ep, &cfg, &id, NULL, &fm.mem), 0));
        /* Fail the fail_at-th allocation after the endpoint exists (dial and handshake). */
        fm.fail_at = fm.ncalls + fail_at;
        tnode *a = &net.nodes[net.nnodes++];
        a->ep = ep;
        a->id = id;
        tnet_addr(&a->addr, 4001);
        gs_quic_conn_id c;
        int rv = gs_quic_ep_connect(ep, b->id.pk, &a->addr, &b->addr, net.now, &c);
        if (rv == 0) {
            ++ok_connects;
            tnet_run(&net, 15 * GS_SECONDS, NULL, NULL);
        } else {
            cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu rv=%d", fail_at, rv);
            cr_assert(eq(sz, gs_quic_ep_num_conns(ep), 0));
        }
        tnet_free(&net);
        cr_assert(eq(sz, fm.nlive, 0), "leak when call %zu fails", fail_at);
    }
    cr_assert(gt(sz, ok_connects, 0));
}

static bool both_have_no_conns(tnet *net, void *arg)
{
    (void)arg;
    return gs_quic_ep_num_conns(net->nodes[0].ep) == 0 &&
           gs_quic_ep_num_conns(net->nodes[1].ep) == 0;
}

static bool a_closed_all(tnet *net, void *arg)
{
    return net->nodes[1].nclosed >= *(const size_t *)arg;
}

/* A closing or draining connection keeps only a small record (its saved CONNECTION_CLOSE and its
 * routed connection ids), not its ngtcp2 and TLS state, while it waits out 3 PTO; packets that
 * still arrive for it are answered (closing) or dropped (draining) and it is freed on time. */
Test(quic, closing_connections_keep_little_state, .timeout = 60)
{
    gs_quic_cfg cfg = base_cfg();
    gs_fake_mem fm;
    tnet net;
    const size_t n = 20;
    gs_quic_conn_id conns[20];

    cfg.max_conns_per_addr = 64;
    /* 20 full-window connections from one address: lift the prefix memory share too */
    cfg.rx_mem_max = cfg.rx_mem_prefix_max = (size_t)1 << 40;
    tnet_init(&net);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);              /* the client, nodes[0] */
    tnode *a = tnet_add_counted(&net, 1, 4001, &cfg, &fm); /* the server, nodes[1], counted */
    size_t base = fm.nbytes;
    for (size_t i = 0; i < n; ++i) {
        conns[i] = dial(&net, b, a, NULL);
    }
    for (int k = 0; k < 100000 && (a->nconnected < n || b->nconnected < n); ++k) {
        tnet_step(&net, net.now + GS_SECONDS);
    }
    cr_assert(eq(sz, a->nconnected, n));
    tnet_run(&net, 100 * GS_MILLISECONDS, NULL, NULL);
    size_t per_idle = (fm.nbytes - base) / n;
    cr_assert(gt(sz, per_idle, 16384), "idle %zu", per_idle); /* ngtcp2 state is there */
    for (size_t i = 0; i < n; ++i) {
        cr_assert(eq(int, gs_quic_ep_close(b->ep, conns[i], 0, "done"), 0));
    }
    cr_assert(tnet_run(&net, GS_SECONDS, a_closed_all, (void *)&n));
    /* all draining now, none freed yet */
    cr_assert(eq(sz, gs_quic_ep_num_conns(a->ep), n));
    size_t per_draining = (fm.nbytes - base) / n;
    cr_assert(lt(sz, per_draining, 2048), "draining %zu (idle %zu)", per_draining, per_idle);
    cr_assert(
        eq(int, gs_quic_ep_conn_info(a->ep, a->last_conn, &(gs_quic_conn_info){0}), GS_ERR_CLOSED));
    /* both sides free their records after 3 PTO */
    cr_assert(tnet_run(&net, 5 * GS_SECONDS, both_have_no_conns, NULL));
    gs_quic_ep_del(a->ep);
    a->ep = NULL;
    cr_assert(eq(sz, fm.nlive, 0));
    tnet_free(&net);
}

static bool b_frames_2(tnet *net, void *arg)
{
    return net->nodes[1].nframes >= *(const size_t *)arg;
}

static bool a_frames_2(tnet *net, void *arg)
{
    return net->nodes[0].nframes >= *(const size_t *)arg;
}

/* Once confirmed, both sides have freed their GnuTLS sessions; packet protection and a key update
 * keep working without them. */
Test(quic, key_update_works_after_the_tls_session_is_freed, .timeout = 60)
{
    tnet net;
    gs_quic_cfg cfg = base_cfg();
    uint8_t frame[104];
    tnet_init(&net);
    tnode *a = tnet_add(&net, 1, 4001, &cfg);
    tnode *b = tnet_add(&net, 2, 4002, &cfg);

    gs_quic_conn_id ca = dial(&net, a, b, NULL);
    cr_assert(tnet_run(&net, 2 * GS_SECONDS, both_connected, NULL));
    tnet_run(&net, GS_SECONDS, NULL, NULL);
    qconn *qa = gs_quic_conn_get(a->ep, ca);
    qconn *qb = gs_quic_conn_get(b->ep, b->last_conn);
    cr_assert(not(eq(ptr, qa, NULL)));
    cr_assert(not(eq(ptr, qb, NULL)));
    cr_assert(eq(ptr, qa->tls, NULL));
    cr_assert(eq(ptr, qb->tls, NULL));
    /* one key update (both sides derive the next keys through ngtcp2's update_key callback),
     * then frames both ways under the new keys and after their confirmation */
    cr_assert(eq(int, ngtcp2_conn_initiate_key_update(qa->nc, net.now), 0));
    size_t want = 0;
    for (int round = 0; round < 3; ++round) {
        make_frame(frame, 100, (uint32_t)round);
        cr_assert(eq(int, gs_quic_ep_send_frame_conn(a->ep, ca, topics[0], frame, 104), 0));
        cr_assert(eq(int, gs_quic_ep_send_frame_conn(b->ep, qb->handle, topics[1], frame, 104), 0));
        ++want;
        cr_assert(tnet_run(&net, GS_SECONDS, b_frames_2, &want));
        cr_assert(tnet_run(&net, GS_SECONDS, a_frames_2, &want));
        tnet_run(&net, GS_SECONDS, NULL, NULL);
    }
    cr_assert(eq(sz, a->nclosed, 0));
    cr_assert(eq(sz, b->nclosed, 0));
    tnet_free(&net);
}
