/* SPDX-License-Identifier: MIT */
/*
 * test_node_frames.c: gs_node_on_frames (the batched input) against gs_node_on_frame one frame at
 * a time.  Two nodes with the same seed get the same frames, one batch at a time or one by one;
 * per frame return codes, counters, outbox entries (compared by value), views and memory must be
 * identical.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "gs_rand.h"
#include "msg_eq.h"
#include "proto_harness.h"

#define NF_MAXFRAMES 256
#define NF_BODY      2048
#define NF_OUT       (H_MAXOUT * 2)

static gs_node_out out_a[NF_OUT], out_b[NF_OUT];

/* nf_drain moves |node|'s outbox into |o| and returns the count. */
static size_t nf_drain(gs_node *node, gs_node_out *o)
{
    size_t n = 0;
    gs_node_out x;

    while (gs_node_next_out(node, &x)) {
        cr_assert(lt(sz, n, (size_t)NF_OUT));
        o[n++] = x;
    }
    return n;
}

static bool bytes_eq(gs_bytes a, gs_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* nf_out_eq compares two outbox entries by value (pointers differ between the two nodes). */
static void nf_out_eq(const gs_node_out *a, const gs_node_out *b, size_t i)
{
    cr_assert(eq(int, a->type, b->type), "entry %zu type", i);
    cr_assert(eq(u32, a->flags, b->flags), "entry %zu flags", i);
    cr_assert(h_key_eq(&a->peer, &b->peer), "entry %zu peer", i);
    cr_assert(eq(int, memcmp(a->topic.b, b->topic.b, 32), 0), "entry %zu topic", i);
    if (a->type == GS_NODE_OUT_SEND) {
        cr_assert(gs_test_msg_eq(&a->msg, &b->msg), "entry %zu message", i);
    } else if (a->type == GS_NODE_OUT_EVENT) {
        cr_assert(eq(int, a->event, b->event), "entry %zu event", i);
        cr_assert(eq(int, a->reason, b->reason), "entry %zu reason", i);
        cr_assert(bytes_eq(a->content, b->content), "entry %zu content", i);
        cr_assert(eq(int, memcmp(a->id.b, b->id.b, 32), 0), "entry %zu id", i);
        cr_assert(eq(int, a->scope, b->scope), "entry %zu scope", i);
        cr_assert(eq(u32, a->round, b->round), "entry %zu round", i);
        cr_assert(bytes_eq(a->data, b->data), "entry %zu data", i);
    }
}

/* nf_ids_hold checks every Gossip SEND and RECEIVED event of |o|: its content still hashes to its
 * id, i.e. no borrowed payload was overwritten or freed before the outbox was drained. */
static void nf_ids_hold(const gs_node_out *o, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        gs_msg_id id;
        if (o[i].type == GS_NODE_OUT_SEND && o[i].msg.type == GS_MSG_GOSSIP) {
            gs_blake3_hash(o[i].msg.gossip.content.base, o[i].msg.gossip.content.len, id.b);
            cr_assert(eq(int, memcmp(id.b, o[i].msg.gossip.id.b, 32), 0), "SEND %zu content", i);
        } else if (o[i].type == GS_NODE_OUT_EVENT && o[i].event == GS_NODE_EVENT_RECEIVED) {
            gs_blake3_hash(o[i].content.base, o[i].content.len, id.b);
            cr_assert(eq(int, memcmp(id.b, o[i].id.b, 32), 0), "RECEIVED %zu content", i);
        }
    }
}

typedef struct nf_frame {
    gs_key from;
    gs_topic_id topic;
    uint8_t body[NF_BODY];
    size_t len;
} nf_frame;

static nf_frame frames[NF_MAXFRAMES];
static uint8_t contents[64][1200];
static size_t content_len[64];

/* nf_make fills |f| with a frame chosen by |r|: mostly Gossip (fresh, duplicate, bad id, both
 * scopes, up to a chunk), and every other kind of input a turn may carry. */
static void nf_make(gs_rand *r, nf_frame *f, uint64_t *seq)
{
    unsigned kind = (unsigned)gs_rand_below(r, 20);
    unsigned peer = 1 + (unsigned)gs_rand_below(r, 8); /* 1..6 neighbours, 7..8 strangers */
    gs_msg m;

    f->from = kind == 19 ? h_key(0) : h_key(peer); /* sometimes our own id */
    f->topic = h_topic(kind == 18 ? 9 : 1);        /* sometimes a topic not joined */
    memset(&m, 0, sizeof(m));
    if (kind < 12 || kind >= 18) {
        size_t c = (size_t)gs_rand_below(r, 64);
        if (kind < 6) { /* fresh content */
            c = (size_t)(*seq % 64);
            content_len[c] = (size_t)gs_rand_below(r, 1100);
            for (size_t i = 0; i < content_len[c]; ++i) {
                contents[c][i] = (uint8_t)gs_rand_next(r);
            }
            memcpy(contents[c], seq, content_len[c] < 8 ? content_len[c] : 8);
            ++*seq;
        }
        m = h_gossip(contents[c], content_len[c], (uint16_t)gs_rand_below(r, 5));
        if (kind == 7) {
            m.gossip.scope = GS_SCOPE_NEIGHBORS;
            m.gossip.round = 0;
        }
        if (kind == 8) {
            m.gossip.id.b[3] ^= 0x40; /* bad id */
        }
    } else if (kind == 12) {
        gs_ihave_entry e[3];
        for (size_t i = 0; i < 3; ++i) {
            e[i].id = h_id_of(contents[gs_rand_below(r, 64)], 7 + i);
            e[i].round = (uint16_t)i;
        }
        m = h_ihave(e, 3);
        f->len = (size_t)gs_codec_encode_body(f->body, sizeof(f->body), &m);
        return;
    } else if (kind == 13) {
        gs_msg_id id = h_id_of(contents[gs_rand_below(r, 64)], content_len[0]);
        m = h_graft(gs_rand_below(r, 2) ? &id : NULL, 1);
    } else if (kind == 14) {
        m = h_prune();
    } else if (kind == 15) {
        m = h_neighbor(GS_PRIORITY_HIGH);
    } else if (kind == 16) {
        m = h_disconnect(gs_rand_below(r, 2) != 0);
    } else {
        /* not a valid body */
        f->len = 1 + (size_t)gs_rand_below(r, 40);
        for (size_t i = 0; i < f->len; ++i) {
            f->body[i] = (uint8_t)gs_rand_next(r);
        }
        f->body[0] = 0xfe;
        return;
    }
    gs_ssize n = gs_codec_encode_body(f->body, sizeof(f->body), &m);
    cr_assert(gt(sz, (size_t)n, 0));
    f->len = (size_t)n;
}

static gs_node *nf_node_cfg(size_t cache_bytes)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.active_view_capacity = 6;
    cfg.cache_bytes = cache_bytes;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    cr_assert(eq(int, gs_node_join(node, &t, NULL, 0, 0), 0));
    static h_cap c;
    h_neighbors(node, &c, 1, 6, 0);
    gs_msg pr = h_prune();
    h_msg(node, &c, 2, &pr, 0); /* 2 and 5 lazy: IHave queues fill between eager sends */
    h_msg(node, &c, 5, &pr, 0);
    return node;
}

static gs_node *nf_node(void)
{
    return nf_node_cfg((size_t)4 * 1024 * 1024);
}

Test(node_frames, batch_equals_one_frame_at_a_time)
{
    gs_node *a = nf_node(); /* one at a time */
    gs_node *b = nf_node(); /* batched */
    gs_rand r;
    uint64_t seq = 1;
    gs_tstamp now = 1;
    gs_node_frame batch[NF_MAXFRAMES];
    size_t nbatched = 0;

    gs_rand_seed(&r, 2026);
    for (int turn = 0; turn < 120; ++turn) {
        size_t n = 1 + (size_t)gs_rand_below(&r, turn % 3 == 0 ? NF_MAXFRAMES : 70);
        for (size_t i = 0; i < n; ++i) {
            nf_make(&r, &frames[i], &seq);
        }
        int rva[NF_MAXFRAMES];
        for (size_t i = 0; i < n; ++i) {
            rva[i] = gs_node_on_frame(a, &frames[i].from, &frames[i].topic, frames[i].body,
                                      frames[i].len, now);
        }
        for (size_t i = 0; i < n; ++i) {
            batch[i].from = &frames[i].from;
            batch[i].topic = &frames[i].topic;
            batch[i].body = frames[i].body;
            batch[i].len = frames[i].len;
            batch[i].rv = 12345;
        }
        gs_node_on_frames(b, batch, n, now);
        nbatched += n;
        for (size_t i = 0; i < n; ++i) {
            cr_assert(eq(int, batch[i].rv, rva[i]), "turn %d frame %zu", turn, i);
        }
        size_t na = nf_drain(a, out_a);
        size_t nb = nf_drain(b, out_b);
        cr_assert(eq(sz, na, nb), "turn %d outbox size", turn);
        nf_ids_hold(out_b, nb);
        for (size_t i = 0; i < na; ++i) {
            nf_out_eq(&out_a[i], &out_b[i], i);
        }
        cr_assert(
            eq(int,
               memcmp(gs_node_counters_get(a), gs_node_counters_get(b), sizeof(gs_node_counters)),
               0),
            "turn %d counters", turn);
        cr_assert(eq(sz, gs_node_mem_in_use(a), gs_node_mem_in_use(b)), "turn %d memory", turn);
        /* time passes; timers run on both */
        now += (gs_duration)gs_rand_below(&r, 20) * H_MS;
        gs_node_handle_expiry(a, now);
        gs_node_handle_expiry(b, now);
        na = nf_drain(a, out_a);
        nb = nf_drain(b, out_b);
        cr_assert(eq(sz, na, nb));
        for (size_t i = 0; i < na; ++i) {
            nf_out_eq(&out_a[i], &out_b[i], i);
        }
    }
    const gs_node_counters *c = gs_node_counters_get(b);
    /* the mix really exercised every path */
    cr_assert(gt(u64, c->msgs_data_recv, 1000));
    cr_assert(gt(u64, c->bad_id, 10));
    cr_assert(gt(u64, c->duplicates, 10));
    cr_assert(gt(u64, c->decode_errors, 10));
    cr_assert(gt(u64, c->from_self, 10));
    cr_assert(gt(u64, c->unknown_topic, 10));
    cr_assert(gt(sz, nbatched, 5000));
    gs_node_del(a);
    gs_node_del(b);
}

Test(node_frames, empty_batch_and_rv_of_each_frame)
{
    gs_node *node = nf_node();
    gs_node_on_frames(node, NULL, 0, 1);
    cr_assert(eq(u64, gs_node_counters_get(node)->actor_tick_in_event_rx, 8));

    static const char good[] = "good content";
    gs_msg g = h_gossip(good, sizeof(good), 0);
    gs_msg bad = g;
    bad.gossip.id.b[0] ^= 1;
    uint8_t b0[128], b1[128], b2[4] = {0xff, 0xff, 0xff, 0xff};
    size_t l0 = (size_t)gs_codec_encode_body(b0, sizeof(b0), &g);
    size_t l1 = (size_t)gs_codec_encode_body(b1, sizeof(b1), &bad);
    gs_key p1 = h_key(1), self = h_key(0);
    gs_topic_id t = h_topic(1), t9 = h_topic(9);
    gs_node_frame f[5] = {
        {&p1, &t, b0, l0, 0},   {&p1, &t, b1, l1, 0},  {&p1, &t, b2, sizeof(b2), 0},
        {&self, &t, b0, l0, 0}, {&p1, &t9, b0, l0, 0},
    };
    gs_node_on_frames(node, f, 5, 2);
    cr_assert(eq(int, f[0].rv, 0));
    cr_assert(eq(int, f[1].rv, GS_ERR_BAD_ID));
    cr_assert(lt(int, f[2].rv, 0));
    cr_assert(eq(int, f[3].rv, GS_ERR_SELF));
    cr_assert(eq(int, f[4].rv, GS_ERR_NOT_JOINED));
    static h_cap c;
    h_drain(node, &c);
    cr_assert(eq(sz, h_count_events(&c, GS_NODE_EVENT_RECEIVED, NULL), 1));
    gs_node_del(node);
}

/* A batch carrying more payload than the cache holds: the ring must not overwrite (or free, when
 * it grows) payloads that earlier frames' outbox entries borrow; such messages are delivered
 * and forwarded from scratch copies instead, uncached (counted in cache_evicted). */
Test(node_frames, borrowed_payloads_survive_a_batch_larger_than_the_cache)
{
    for (int pass = 0; pass < 2; ++pass) {
        /* pass 0: the ring is at its bound (8 KiB); pass 1: it grows during the batch */
        gs_node *node = nf_node_cfg(pass == 0 ? 8192 : 256 * 1024);
        static uint8_t bodies[200][1100];
        static uint8_t payload[200][1024];
        gs_node_frame f[200];
        gs_key p1 = h_key(1);
        gs_topic_id t = h_topic(1);
        for (size_t i = 0; i < 200; ++i) {
            memset(payload[i], (int)i, sizeof(payload[i]));
            payload[i][0] = (uint8_t)pass;
            gs_msg g = h_gossip(payload[i], sizeof(payload[i]), 0);
            gs_ssize n = gs_codec_encode_body(bodies[i], sizeof(bodies[i]), &g);
            cr_assert(gt(sz, (size_t)n, 0));
            f[i] = (gs_node_frame){&p1, &t, bodies[i], (size_t)n, 0};
        }
        gs_node_on_frames(node, f, 200, 1);
        for (size_t i = 0; i < 200; ++i) {
            cr_assert(eq(int, f[i].rv, 0));
        }
        size_t n = nf_drain(node, out_b);
        nf_ids_hold(out_b, n);
        static h_cap c;
        c.n = n < H_MAXOUT ? n : H_MAXOUT;
        memcpy(c.out, out_b, c.n * sizeof(c.out[0]));
        cr_assert(eq(sz, h_count_events(&c, GS_NODE_EVENT_RECEIVED, NULL), 200));
        cr_assert(eq(sz, h_count_sends(&c, GS_MSG_GOSSIP, NULL), 200 * 3)); /* eager 3, 4, 6 */
        if (pass == 0) {
            cr_assert(gt(u64, gs_node_counters_get(node)->cache_evicted, 0));
        }
        /* the next turn (outbox drained) caches again */
        gs_msg g = h_gossip("after", 5, 0);
        h_msg(node, &c, 1, &g, 2);
        gs_node_topic_stats st;
        cr_assert(eq(int, gs_node_topic_stats_get(node, &t, &st), 0));
        cr_assert(ge(sz, st.ncached, 1));
        gs_node_del(node);
    }
}
