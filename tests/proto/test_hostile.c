/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c: acceptance 5 (hostile peers).  Each case drives one node with adversarial input
 * through a counting gs_mem and checks that memory stays under a budget derived from the
 * configured bounds, that nothing crashes, and that each case shows up in the counters.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "gs_rand.h"
#include "proto_harness.h"

static h_cap cap;

#define SCRATCH_SLACK (64 * 1024)

typedef struct hostile {
    gs_fake_mem fm;
    gs_node_cfg cfg;
    gs_node *node;
    size_t budget;
} hostile;

/* Tighter bounds than the defaults so the budget is small and bounds are really hit. */
static void hostile_init(hostile *h)
{
    gs_key self = h_key(0);
    gs_topic_id t = h_topic(1);

    gs_fake_mem_init(&h->fm, 0);
    gs_node_cfg_default(&h->cfg);
    h->cfg.max_received = 4096;
    h->cfg.cache_bytes = 1u << 20;
    h->cfg.max_missing = 256;
    h->cfg.max_announcers = 4;
    h->cfg.max_timers = 8192;
    h->cfg.max_outbox = 4096;
    h->cfg.max_scratch_bytes = 1u << 20;
    h->cfg.max_topics = 4;
    cr_assert(eq(int, gs_node_new(&h->node, &h->cfg, &self, 99, &h->fm.mem), 0));
    cr_assert(eq(int, gs_node_join(h->node, &t, NULL, 0, 0), 0));
    /* Budget: each configured bound times a generous per-entry size, plus fixed parts. */
    const gs_node_cfg *c = &h->cfg;
    h->budget = 256 * 1024 /* node, topic, views */
                + c->max_topics * (c->active_view_capacity + c->passive_view_capacity) *
                      (c->max_peer_data_len + 64)                /* PeerData records */
                + c->max_topics * (c->cache_bytes                /* payload ring */
                                   + c->max_received * (80 + 32) /* records + index */
                                   + c->max_missing * (64 + c->max_announcers * 40 + 32)) +
                c->max_timers * 80 + c->max_outbox * sizeof(gs_node_out) + c->max_scratch_bytes +
                2 * SCRATCH_SLACK;
}

static void hostile_check(hostile *h, const char *what)
{
    cr_log_info("%s: peak %zu bytes, budget %zu, in use at the end %zu", what, h->fm.peak_bytes,
                h->budget, h->fm.nbytes);
    cr_assert(le(sz, h->fm.peak_bytes, h->budget), "%s: peak %zu > budget %zu", what,
              h->fm.peak_bytes, h->budget);
    cr_assert(eq(sz, gs_node_mem_in_use(h->node), h->fm.nbytes), "%s", what);
    gs_node_del(h->node);
    cr_assert(eq(sz, h->fm.nlive, 0), "%s: leak", what);
}

Test(hostile, hundred_thousand_ihave_ids)
{
    hostile h;
    hostile_init(&h);
    static gs_ihave_entry e[116];

    h_neighbors(h.node, &cap, 1, 1, 0);
    for (unsigned k = 0; k < 100000 / 116 + 1; ++k) {
        for (unsigned i = 0; i < 116; ++i) {
            unsigned n = k * 116 + i;
            memset(&e[i], 0, sizeof(e[i]));
            memcpy(e[i].id.b, &n, sizeof(n));
            e[i].round = 0;
        }
        gs_msg ih = h_ihave(e, 116);
        h_msg(h.node, &cap, 1, &ih, (gs_tstamp)k * H_MS / 8);
        h_expire(h.node, &cap, (gs_tstamp)k * H_MS / 8);
    }
    gs_topic_id t = h_topic(1);
    gs_node_topic_stats st;
    gs_node_topic_stats_get(h.node, &t, &st);
    cr_assert(le(sz, st.nmissing, h.cfg.max_missing));
    cr_assert(gt(u64, gs_node_counters_get(h.node)->missing_full, 50000));
    /* The same ids from a non-neighbour are ignored outright. */
    gs_msg ih = h_ihave(e, 116);
    h_msg(h.node, &cap, 77, &ih, 20 * H_SEC);
    cr_assert(eq(u64, gs_node_counters_get(h.node)->ihave_non_neighbor, 1));
    h_expire(h.node, &cap, 30 * H_SEC);
    gs_node_topic_stats_get(h.node, &t, &st);
    cr_assert(eq(sz, st.nmissing, 0)); /* grafts tried and emptied entries removed */
    hostile_check(&h, "ihave");
}

Test(hostile, walks_with_ttl_65535_are_clamped)
{
    hostile h;
    hostile_init(&h);
    gs_peer_info items[1];

    h_neighbors(h.node, &cap, 1, 4, 0);
    memset(items, 0, sizeof(items));
    for (unsigned i = 0; i < 1000; ++i) {
        gs_msg fj = h_forward_join(h_key(1000 + i), 65535);
        h_msg(h.node, &cap, 1 + i % 4, &fj, i);
        const gs_node_out *o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, NULL);
        if (o != NULL) {
            cr_assert(le(u32, o->msg.forward_join.ttl, 5));
        }
        items[0].id = h_key(5000 + i);
        gs_msg sh = h_shuffle(h_key(3), items, 1, 65535);
        h_msg(h.node, &cap, 1 + i % 4, &sh, i);
        o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
        if (o != NULL) {
            cr_assert(le(u32, o->msg.shuffle.ttl, 5));
        }
    }
    cr_assert(eq(u64, gs_node_counters_get(h.node)->ttl_clamped, 2000));
    hostile_check(&h, "ttl");
}

Test(hostile, gossip_with_round_65535)
{
    hostile h;
    hostile_init(&h);
    char buf[32];

    h_neighbors(h.node, &cap, 1, 3, 0);
    for (int i = 0; i < 1000; ++i) {
        int n = snprintf(buf, sizeof(buf), "r%d", i);
        gs_msg g = h_gossip(buf, (size_t)n, 65535);
        h_msg(h.node, &cap, 1, &g, (gs_tstamp)i);
        const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, NULL);
        cr_assert(o != NULL);
        cr_assert(eq(u32, o->msg.gossip.round, 65535));
    }
    cr_assert(eq(u64, gs_node_counters_get(h.node)->round_saturated, 1000));
    hostile_check(&h, "round");
}

Test(hostile, gossip_ids_that_are_not_blake3_of_content)
{
    hostile h;
    hostile_init(&h);
    char buf[32];

    h_neighbors(h.node, &cap, 1, 3, 0);
    for (int i = 0; i < 10000; ++i) {
        int n = snprintf(buf, sizeof(buf), "b%d", i);
        gs_msg g = h_gossip(buf, (size_t)n, 0);
        g.gossip.id.b[i % 32] ^= 0x80;
        cr_assert(eq(int, h_msg(h.node, &cap, 1, &g, (gs_tstamp)i), GS_ERR_BAD_ID));
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    }
    cr_assert(eq(u64, gs_node_counters_get(h.node)->bad_id, 10000));
    gs_topic_id t = h_topic(1);
    gs_node_topic_stats st;
    gs_node_topic_stats_get(h.node, &t, &st);
    cr_assert(eq(sz, st.nreceived, 0));
    hostile_check(&h, "bad id");
}

Test(hostile, hundred_thousand_distinct_peer_ids)
{
    hostile h;
    hostile_init(&h);
    static gs_peer_info items[16];
    static uint8_t pd[1000];
    gs_topic_id t = h_topic(1);

    memset(pd, 0x42, sizeof(pd));
    for (unsigned i = 0; i < 100000; ++i) {
        gs_tstamp now = (gs_tstamp)i * H_MS / 4;
        unsigned p = 10 + i;
        switch (i % 5) {
        case 0: {
            gs_msg j = h_join();
            j.join.has_data = true;
            j.join.data.base = pd;
            j.join.data.len = sizeof(pd);
            h_msg(h.node, &cap, p, &j, now);
            break;
        }
        case 1: {
            gs_msg nb = h_neighbor(i % 2 ? GS_PRIORITY_LOW : GS_PRIORITY_HIGH);
            h_msg(h.node, &cap, p, &nb, now);
            break;
        }
        case 2: {
            for (unsigned k = 0; k < 16; ++k) {
                memset(&items[k], 0, sizeof(items[k]));
                items[k].id = h_key(200000 + i * 16 + k);
                items[k].has_data = true;
                items[k].data.base = pd;
                items[k].data.len = 100;
            }
            gs_msg sr = h_shuffle_reply(items, 16);
            h_msg(h.node, &cap, p, &sr, now);
            break;
        }
        case 3: {
            gs_msg fj = h_forward_join(h_key(p + 1), (uint16_t)(i % 7));
            h_msg(h.node, &cap, p, &fj, now);
            break;
        }
        default: {
            gs_msg d = h_disconnect(true);
            h_msg(h.node, &cap, p, &d, now);
            gs_key k = h_key(p);
            gs_node_on_peer_disconnected(h.node, &k, now);
            h_drain(h.node, &cap);
            break;
        }
        }
        h_expire(h.node, &cap, now);
        cr_assert(le(sz, gs_node_active_view(h.node, &t, NULL, 0), 5));
        cr_assert(le(sz, gs_node_passive_view(h.node, &t, NULL, 0), 30));
        cr_assert(le(sz, gs_node_pending_peers(h.node, &t, NULL, 0), h.cfg.max_pending));
    }
    cr_assert(gt(u64, gs_node_counters_get(h.node)->neighbor_up, 1000));
    cr_assert(gt(u64, gs_node_counters_get(h.node)->disconnects, 1000));
    hostile_check(&h, "peers");
}

Test(hostile, messages_for_unjoined_topics)
{
    hostile h;
    hostile_init(&h);
    gs_key p = h_key(5);

    size_t before = h.fm.nbytes;
    for (unsigned i = 0; i < 100000; ++i) {
        gs_topic_id t = h_topic(100 + (i % 100));
        t.b[5] = (uint8_t)(i >> 8);
        gs_msg m = i % 2 ? h_join() : h_gossip("u", 1, 0);
        cr_assert(eq(int, gs_node_on_message(h.node, &p, &t, &m, i), GS_ERR_NOT_JOINED));
        h_drain(h.node, &cap);
        cr_assert(eq(sz, cap.n, 0));
    }
    cr_assert(eq(sz, h.fm.nbytes, before));
    cr_assert(eq(u64, gs_node_counters_get(h.node)->unknown_topic, 100000));
    cr_assert(eq(sz, gs_node_ntopics(h.node), 1));
    hostile_check(&h, "unjoined");
}

Test(hostile, garbage_frames_are_counted)
{
    hostile h;
    hostile_init(&h);
    gs_key p = h_key(5);
    gs_topic_id t = h_topic(1);
    uint8_t buf[64];
    gs_rand r;

    gs_rand_seed(&r, 5);
    for (unsigned i = 0; i < 100000; ++i) {
        size_t len = (size_t)gs_rand_below(&r, sizeof(buf) + 1);
        for (size_t k = 0; k < len; ++k) {
            buf[k] = (uint8_t)gs_rand_next(&r);
        }
        if (len > 0) {
            buf[0] = (uint8_t)(buf[0] & 1); /* valid outer tag half the time */
        }
        (void)gs_node_on_frame(h.node, &p, &t, buf, len, i);
        h_drain(h.node, &cap);
    }
    cr_assert(gt(u64, gs_node_counters_get(h.node)->decode_errors, 1000));
    hostile_check(&h, "garbage");
}

Test(hostile, gossip_flood_fills_the_bounds_and_no_more)
{
    hostile h;
    hostile_init(&h);
    static uint8_t buf[1000];
    gs_topic_id t = h_topic(1);

    h_neighbors(h.node, &cap, 1, 5, 0);
    for (unsigned i = 0; i < 100000; ++i) {
        memset(buf, (int)(i & 0xff), sizeof(buf));
        memcpy(buf, &i, sizeof(i));
        gs_msg g = h_gossip(buf, sizeof(buf), 1);
        h_msg(h.node, &cap, 1 + i % 5, &g, (gs_tstamp)i * 10 * GS_MICROSECONDS);
        h_expire(h.node, &cap, (gs_tstamp)i * 10 * GS_MICROSECONDS);
    }
    gs_node_topic_stats st;
    gs_node_topic_stats_get(h.node, &t, &st);
    cr_assert(eq(sz, st.nreceived, h.cfg.max_received));
    cr_assert(le(sz, st.ncached * sizeof(buf), h.cfg.cache_bytes));
    cr_assert(gt(u64, gs_node_counters_get(h.node)->received_evicted, 90000));
    cr_assert(gt(u64, gs_node_counters_get(h.node)->cache_evicted, 90000));
    /* The payload ring is the largest structure: the whole node stays near cache_bytes. */
    cr_assert(le(sz, h.fm.peak_bytes, h.cfg.cache_bytes + 2 * 1024 * 1024));
    hostile_check(&h, "gossip flood");
}
