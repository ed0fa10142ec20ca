/* SPDX-License-Identifier: MIT */
/* test_plumtree.c: PlumTree reactions of PROTOCOL.md 6.3 and the D-fixes, virtual time only. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "proto_harness.h"

static h_cap cap;

/* make_lazy prunes peer |p| (it becomes lazy). */
static void make_lazy(gs_node *node, unsigned p, gs_tstamp now)
{
    gs_msg pr = h_prune();
    h_msg(node, &cap, p, &pr, now);
}

Test(plumtree, neighbor_up_makes_peer_eager)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    cr_assert(h_is_eager(node, 1));
    cr_assert(h_is_eager(node, 2));
    make_lazy(node, 2, 1);
    cr_assert(not(h_is_eager(node, 2)));
    gs_topic_id t = h_topic(1);
    cr_assert(eq(sz, gs_node_lazy_peers(node, &t, NULL, 0), 1));
    gs_node_del(node);
}

Test(plumtree, broadcast_pushes_to_eager_and_announces_to_lazy)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_key e = h_key(1), l = h_key(2);
    gs_msg_id id;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    cr_assert(
        eq(int, gs_node_broadcast(node, &t, (const uint8_t *)"hi", 2, GS_SCOPE_SWARM, 1, &id), 0));
    h_drain(node, &cap);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, &e);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.gossip.round, 0));
    cr_assert(eq(int, o->msg.gossip.scope, GS_SCOPE_SWARM));
    cr_assert(eq(int, memcmp(o->msg.gossip.id.b, id.b, 32), 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, &l), 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 0)); /* batched */
    cr_assert(eq(u64, gs_node_get_expiry(node), 1 + 5 * H_MS));
    h_expire(node, &cap, 1 + 5 * H_MS);
    o = h_find_send(&cap, GS_MSG_IHAVE, &l);
    cr_assert(o != NULL);
    cr_assert(eq(sz, o->msg.ihave.entries.n, 1));
    cr_assert(eq(int, memcmp(o->msg.ihave.entries.items[0].id.b, id.b, 32), 0));
    cr_assert(eq(u32, o->msg.ihave.entries.items[0].round, 0));
    gs_node_del(node);
}

Test(plumtree, dropped_eager_push_is_announced_and_graftable)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_topic_id other = h_topic(2);
    gs_key e = h_key(1), x = h_key(9);
    gs_msg_id id;

    h_neighbors(node, &cap, 1, 2, 0);
    cr_assert(
        eq(int, gs_node_broadcast(node, &t, (const uint8_t *)"hi", 2, GS_SCOPE_SWARM, 1, &id), 0));
    h_drain(node, &cap);
    cr_assert(h_find_send(&cap, GS_MSG_GOSSIP, &e) != NULL);
    /* the transport dropped that push to e: e gets an IHave for it with the next dispatch */
    cr_assert(eq(int, gs_node_on_push_dropped(node, &e, &t, &id, 0, 2), 0));
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 0)); /* batched */
    h_expire(node, &cap, 2 + 5 * H_MS);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_IHAVE, &e);
    cr_assert(o != NULL);
    cr_assert(eq(sz, o->msg.ihave.entries.n, 1));
    cr_assert(eq(int, memcmp(o->msg.ihave.entries.items[0].id.b, id.b, 32), 0));
    cr_assert(eq(u32, o->msg.ihave.entries.items[0].round, 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 1), "only the dropped peer");
    cr_assert(h_is_eager(node, 1), "still eager");
    cr_assert(eq(u64, gs_node_counters_get(node)->drops_announced, 1));
    /* e Grafts it once its queue drains: answered from the cache */
    gs_msg g = h_graft(&id, 0);
    h_msg(node, &cap, 1, &g, 20 * H_MS);
    o = h_find_send(&cap, GS_MSG_GOSSIP, &e);
    cr_assert(o != NULL);
    cr_assert(eq(int, memcmp(o->msg.gossip.id.b, id.b, 32), 0));
    /* marked as a repair, so the transport does not shed it like an eager push */
    cr_assert(ne(u32, o->flags & GS_NODE_OUT_FLAG_REPAIR, 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->repairs_sent, 1));
    /* a second Graft of it (no drop since): an ordinary answer, sheddable */
    h_msg(node, &cap, 1, &g, 20 * H_MS + 1);
    o = h_find_send(&cap, GS_MSG_GOSSIP, &e);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->flags & GS_NODE_OUT_FLAG_REPAIR, 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->repairs_sent, 1));
    /* a Graft for an id we never had: counted, nothing sent */
    gs_msg_id unknown;
    memset(unknown.b, 0x5a, sizeof(unknown.b));
    gs_msg g2 = h_graft(&unknown, 0);
    h_msg(node, &cap, 1, &g2, 21 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->grafts_unserved, 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->repairs_sent, 1));
    /* not a neighbour, not a topic of ours: refused, nothing queued */
    cr_assert(eq(int, gs_node_on_push_dropped(node, &x, &t, &id, 0, 30 * H_MS), GS_ERR_NOTFOUND));
    cr_assert(
        eq(int, gs_node_on_push_dropped(node, &e, &other, &id, 0, 30 * H_MS), GS_ERR_NOT_JOINED));
    h_expire(node, &cap, 40 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->drops_announced, 1));
    gs_node_del(node);
}

Test(plumtree, broadcast_neighbors_reaches_every_active_peer)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);

    h_neighbors(node, &cap, 1, 3, 0);
    make_lazy(node, 2, 0);
    make_lazy(node, 3, 0);
    gs_node_broadcast(node, &t, (const uint8_t *)"n", 1, GS_SCOPE_NEIGHBORS, 1, NULL);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 3)); /* D5: lazy ones too */
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, NULL);
    cr_assert(eq(int, o->msg.gossip.scope, GS_SCOPE_NEIGHBORS));
    /* Not recorded: the same content can go out again. */
    gs_node_broadcast(node, &t, (const uint8_t *)"n", 1, GS_SCOPE_NEIGHBORS, 2, NULL);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 3));
    gs_node_del(node);
}

Test(plumtree, oversize_broadcast_is_refused)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    static uint8_t buf[4058];

    h_neighbors(node, &cap, 1, 1, 0);
    memset(buf, 7, sizeof(buf));
    cr_assert(eq(int, gs_node_broadcast(node, &t, buf, 4058, GS_SCOPE_SWARM, 1, NULL),
                 GS_ERR_MSG_TOO_LARGE));
    cr_assert(eq(u64, gs_node_counters_get(node)->oversize_broadcast, 1));
    h_drain(node, &cap);
    cr_assert(eq(sz, cap.n, 0));
    cr_assert(eq(int, gs_node_broadcast(node, &t, buf, 4057, GS_SCOPE_SWARM, 1, NULL), 0));
    h_drain(node, &cap);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(sz, gs_codec_body_len(&o->msg), 4095));
    gs_node_del(node);
}

Test(plumtree, gossip_is_delivered_and_forwarded_with_round_plus_one)
{
    gs_node *node = h_node();
    gs_key s = h_key(1), e = h_key(2), l = h_key(3);

    h_neighbors(node, &cap, 1, 3, 0);
    make_lazy(node, 3, 0);
    gs_msg g = h_gossip("abc", 3, 4);
    cr_assert(eq(int, h_msg(node, &cap, 1, &g, 1), 0));
    const gs_node_out *ev = h_find_event(&cap, GS_NODE_EVENT_RECEIVED, &s);
    cr_assert(ev != NULL);
    cr_assert(eq(u32, ev->round, 4));
    cr_assert(eq(int, ev->scope, GS_SCOPE_SWARM));
    cr_assert(eq(sz, ev->content.len, 3));
    cr_assert(eq(int, memcmp(ev->content.base, "abc", 3), 0));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, &e);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.gossip.round, 5));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, &s), 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, &l), 0));
    h_expire(node, &cap, 1 + 5 * H_MS);
    o = h_find_send(&cap, GS_MSG_IHAVE, &l);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.ihave.entries.items[0].round, 5));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, &s), 0));
    gs_topic_id t = h_topic(1);
    gs_node_topic_stats st;
    gs_node_topic_stats_get(node, &t, &st);
    cr_assert(eq(u32, st.max_last_delivery_hop, 4));
    cr_assert(eq(u64, st.payload_recv, 1));
    gs_node_del(node);
}

Test(plumtree, duplicate_gossip_prunes_the_sender)
{
    gs_node *node = h_node();
    gs_key s2 = h_key(2);

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg g = h_gossip("dup", 3, 0);
    h_msg(node, &cap, 1, &g, 1);
    h_msg(node, &cap, 2, &g, 2);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 0));
    cr_assert(h_find_send(&cap, GS_MSG_PRUNE, &s2) != NULL);
    cr_assert(not(h_is_eager(node, 2)));
    cr_assert(eq(u64, gs_node_counters_get(node)->duplicates, 1));
    gs_node_del(node);
}

Test(plumtree, gossip_with_wrong_id_is_dropped)
{
    gs_node *node = h_node();

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg g = h_gossip("abc", 3, 0);
    g.gossip.id.b[0] ^= 1;
    cr_assert(eq(int, h_msg(node, &cap, 1, &g, 1), GS_ERR_BAD_ID));
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_PRUNE, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->bad_id, 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->msgs_data_recv, 1));
    gs_node_del(node);
}

Test(plumtree, round_saturates_at_65535)
{
    gs_node *node = h_node();

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg g = h_gossip("sat", 3, 65535);
    h_msg(node, &cap, 1, &g, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.gossip.round, 65535));
    cr_assert(eq(u64, gs_node_counters_get(node)->round_saturated, 1));
    gs_node_del(node);
}

Test(plumtree, unforwardable_gossip_is_delivered_not_forwarded)
{
    gs_node *node = h_node();
    static uint8_t buf[4058];

    h_neighbors(node, &cap, 1, 2, 0);
    memset(buf, 9, sizeof(buf));
    gs_msg g = h_gossip(buf, sizeof(buf), 0); /* body 4096: receivable, not sendable */
    cr_assert(eq(sz, gs_codec_body_len(&g), 4096));
    cr_assert(eq(int, h_msg(node, &cap, 1, &g, 1), 0));
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 1));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->unforwardable, 1));
    /* A payload at the limit that grows by one round byte (round 127 -> 128). */
    static uint8_t buf2[4057];
    memset(buf2, 3, sizeof(buf2));
    gs_msg g2 = h_gossip(buf2, sizeof(buf2), 127);
    cr_assert(eq(sz, gs_codec_body_len(&g2), 4095));
    h_msg(node, &cap, 1, &g2, 2);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 1));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->unforwardable, 2));
    gs_node_del(node);
}

Test(plumtree, neighbors_scope_gossip_is_delivered_every_time_and_not_forwarded)
{
    gs_node *node = h_node();

    h_neighbors(node, &cap, 1, 3, 0);
    gs_msg g = h_gossip("nb", 2, 0);
    g.gossip.scope = GS_SCOPE_NEIGHBORS;
    h_msg(node, &cap, 1, &g, 1);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 1));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    h_msg(node, &cap, 1, &g, 2);
    const gs_node_out *ev = h_find_event(&cap, GS_NODE_EVENT_RECEIVED, NULL);
    cr_assert(ev != NULL);
    cr_assert(eq(int, ev->scope, GS_SCOPE_NEIGHBORS));
    gs_node_del(node);
}

Test(plumtree, ihave_grafts_after_timeout_then_next_announcer)
{
    gs_node *node = h_node();
    gs_key a = h_key(1), b = h_key(2);
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 1, 0);
    make_lazy(node, 2, 0);
    e.id = h_id_of("x", 1);
    e.round = 3;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 1, &ih, 10 * H_MS);
    e.round = 4;
    h_msg(node, &cap, 2, &ih, 20 * H_MS);
    h_expire(node, &cap, 89 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    h_expire(node, &cap, 90 * H_MS);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GRAFT, &a);
    cr_assert(o != NULL);
    cr_assert(o->msg.graft.has_id);
    cr_assert(eq(u32, o->msg.graft.round, 3));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 1)); /* one timer per id */
    cr_assert(h_is_eager(node, 1));
    h_expire(node, &cap, 130 * H_MS);
    o = h_find_send(&cap, GS_MSG_GRAFT, &b);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.graft.round, 4));
    h_expire(node, &cap, 200 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0)); /* nobody else */
    gs_topic_id t = h_topic(1);
    gs_node_topic_stats st;
    gs_node_topic_stats_get(node, &t, &st);
    cr_assert(eq(sz, st.nmissing, 0)); /* emptied entries are removed (D8) */
    gs_node_del(node);
}

Test(plumtree, ihave_for_received_message_needs_no_graft)
{
    gs_node *node = h_node();
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    e.id = h_id_of("y", 1);
    e.round = 0;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 2, &ih, 0);
    gs_msg g = h_gossip("y", 1, 1);
    h_msg(node, &cap, 1, &g, 10 * H_MS);
    h_expire(node, &cap, 500 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    /* And an IHave for an id already received creates nothing. */
    h_msg(node, &cap, 2, &ih, 600 * H_MS);
    h_expire(node, &cap, 800 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    gs_node_del(node);
}

Test(plumtree, ihave_from_non_neighbor_is_ignored)
{
    gs_node *node = h_node();
    gs_ihave_entry e;

    e.id = h_id_of("z", 1);
    e.round = 0;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 9, &ih, 0);
    h_expire(node, &cap, 500 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->ihave_non_neighbor, 1));
    gs_node_del(node);
}

Test(plumtree, graft_is_answered_from_cache)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_key p = h_key(2), stranger = h_key(9);
    gs_msg_id id;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    gs_node_broadcast(node, &t, (const uint8_t *)"c", 1, GS_SCOPE_SWARM, 0, &id);
    h_drain(node, &cap);
    gs_msg gr = h_graft(&id, 0);
    h_msg(node, &cap, 2, &gr, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GOSSIP, &p);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.gossip.round, 0));
    cr_assert(h_is_eager(node, 2));
    /* A Graft from a non-neighbour is answered, not made eager (D8), and closed after. */
    h_msg(node, &cap, 9, &gr, 2);
    cr_assert(h_find_send(&cap, GS_MSG_GOSSIP, &stranger) != NULL);
    cr_assert(eq(u64, gs_node_counters_get(node)->graft_non_neighbor, 1));
    cr_assert(eq(sz, h_count_disconnects(&cap, &stranger), 1));
    /* After 30 s the payload is gone: nothing to answer. */
    h_expire(node, &cap, 31 * H_SEC);
    h_msg(node, &cap, 2, &gr, 31 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 0));
    gs_node_del(node);
}

Test(plumtree, received_ids_expire_after_retention)
{
    gs_node *node = h_node();

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg g = h_gossip("old", 3, 0);
    h_msg(node, &cap, 1, &g, 0);
    h_expire(node, &cap, 89 * H_SEC);
    h_msg(node, &cap, 1, &g, 89 * H_SEC);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 0));
    h_expire(node, &cap, 91 * H_SEC);
    h_msg(node, &cap, 1, &g, 91 * H_SEC);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 1));
    gs_node_del(node);
}

static void optimize_case(uint16_t ihave_round, uint16_t gossip_round, bool expect)
{
    gs_node *node = h_node();
    gs_key b = h_key(2), s = h_key(1);
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    e.id = h_id_of("opt", 3);
    e.round = ihave_round;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 2, &ih, 0);
    gs_msg g = h_gossip("opt", 3, gossip_round);
    h_msg(node, &cap, 1, &g, 10 * H_MS);
    const gs_node_out *gr = h_find_send(&cap, GS_MSG_GRAFT, &b);
    const gs_node_out *pr = h_find_send(&cap, GS_MSG_PRUNE, &s);
    if (expect) {
        cr_assert(gr != NULL);
        cr_assert(not(gr->msg.graft.has_id));
        cr_assert(eq(u32, gr->msg.graft.round, ihave_round));
        cr_assert(pr != NULL);
        cr_assert(h_is_eager(node, 2));
        cr_assert(not(h_is_eager(node, 1)));
    } else {
        cr_assert(gr == NULL);
        cr_assert(pr == NULL);
    }
    gs_node_del(node);
}

Test(plumtree, optimize_swaps_a_long_path_for_a_short_one)
{
    optimize_case(2, 9, true);  /* R = 10, 10 - 2 >= 7 */
    optimize_case(2, 6, false); /* R = 7, 7 - 2 < 7 */
}

Test(plumtree, ihave_is_chunked_to_c_entries)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_key l = h_key(2);
    char buf[32];

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    size_t nihave = 0, nentries = 0;
    for (int i = 0; i < 117; ++i) {
        int n = snprintf(buf, sizeof(buf), "m%d", i);
        gs_node_broadcast(node, &t, (const uint8_t *)buf, (size_t)n, GS_SCOPE_SWARM, 1, NULL);
        h_drain(node, &cap);
        for (size_t k = 0; k < cap.n; ++k) {
            if (cap.out[k].type == GS_NODE_OUT_SEND && cap.out[k].msg.type == GS_MSG_IHAVE) {
                ++nihave;
                nentries = cap.out[k].msg.ihave.entries.n;
                cr_assert(h_key_eq(&cap.out[k].peer, &l));
                cr_assert(lt(sz, gs_codec_body_len(&cap.out[k].msg), 4096 - 33));
            }
        }
    }
    cr_assert(eq(sz, nihave, 1));
    cr_assert(eq(sz, nentries, 116)); /* C = floor((4096 - 36) / 35) */
    h_expire(node, &cap, 1 + 5 * H_MS);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_IHAVE, &l);
    cr_assert(o != NULL);
    cr_assert(eq(sz, o->msg.ihave.entries.n, 1));
    gs_node_del(node);
}

Test(plumtree, neighbor_down_purges_lazy_queue_and_missing)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_key l = h_key(2);
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    make_lazy(node, 2, 0);
    e.id = h_id_of("q", 1);
    e.round = 0;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 2, &ih, 0);
    gs_node_broadcast(node, &t, (const uint8_t *)"w", 1, GS_SCOPE_SWARM, 1, NULL);
    gs_node_on_peer_disconnected(node, &l, 2);
    h_drain(node, &cap);
    h_expire(node, &cap, 500 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 0)); /* D10 */
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    gs_node_topic_stats st;
    gs_node_topic_stats_get(node, &t, &st);
    cr_assert(eq(sz, st.nmissing, 0));
    gs_node_del(node);
}

Test(plumtree, prune_and_graft_from_non_neighbors_do_not_touch_views)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_msg pr = h_prune();
    gs_msg gr = h_graft(NULL, 0);

    h_neighbors(node, &cap, 1, 1, 0);
    h_msg(node, &cap, 9, &pr, 1);
    h_msg(node, &cap, 9, &gr, 1);
    cr_assert(eq(sz, gs_node_eager_peers(node, &t, NULL, 0), 1));
    cr_assert(eq(sz, gs_node_lazy_peers(node, &t, NULL, 0), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->prune_non_neighbor, 1));
    gs_node_del(node);
}

Test(plumtree, received_set_is_bounded)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.max_received = 300;
    cfg.cache_bytes = 16384;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    char buf[64];

    gs_node_join(node, &t, NULL, 0, 0);
    h_neighbors(node, &cap, 1, 1, 0);
    for (int i = 0; i < 1000; ++i) {
        int n = snprintf(buf, sizeof(buf), "%040d", i);
        gs_msg g = h_gossip(buf, (size_t)n, 0);
        h_msg(node, &cap, 1, &g, 1);
    }
    gs_node_topic_stats st;
    gs_node_topic_stats_get(node, &t, &st);
    cr_assert(eq(sz, st.nreceived, 300));
    cr_assert(le(sz, st.ncached * 40, 16384));
    cr_assert(eq(u64, gs_node_counters_get(node)->received_evicted, 700));
    cr_assert(gt(u64, gs_node_counters_get(node)->cache_evicted, 0));
    /* The newest are still known. */
    int n = snprintf(buf, sizeof(buf), "%040d", 999);
    gs_msg g = h_gossip(buf, (size_t)n, 0);
    h_msg(node, &cap, 1, &g, 2);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, NULL), 0));
    gs_node_del(node);
}

/* --- encode-once: GS_NODE_OUT_FLAG_SAME_MSG (node.h) --- */

/* eo_state: what a consumer that reuses "the previous encoding" keeps between outbox entries. */
typedef struct eo_state {
    uint8_t prev[GS_FRAME_PREFIX_LEN + 4096];
    gs_ssize prevlen; /* -1: no SEND seen yet */
    size_t nsend, nflagged, nviolations;
} eo_state;

/* eo_check walks |c| as such a consumer would: every SEND flagged SAME_MSG must encode to exactly
 * the bytes of the previous SEND; a violation is counted (the peer would get the wrong message). */
static void eo_check(eo_state *st, const h_cap *c)
{
    uint8_t cur[sizeof(st->prev)];

    for (size_t i = 0; i < c->n; ++i) {
        const gs_node_out *o = &c->out[i];
        if (o->type != GS_NODE_OUT_SEND) {
            cr_assert(eq(u32, o->flags, 0u));
            continue;
        }
        gs_ssize n = gs_codec_encode_frame(cur, sizeof(cur), &o->msg, 4096);
        cr_assert(gt(sz, (size_t)n, 0));
        ++st->nsend;
        if (o->flags & GS_NODE_OUT_FLAG_SAME_MSG) {
            ++st->nflagged;
            if (st->prevlen != n || memcmp(st->prev, cur, (size_t)n) != 0) {
                ++st->nviolations;
            }
        }
        memcpy(st->prev, cur, (size_t)n);
        st->prevlen = n;
    }
}

static void eo_init(eo_state *st)
{
    memset(st, 0, sizeof(*st));
    st->prevlen = -1;
}

/* eo_view_is checks that topic 1's active view is exactly |want| in order, and the roles. */
static void eo_view_is(const gs_node *node, const unsigned *want, const bool *eager, size_t n)
{
    gs_topic_id t = h_topic(1);
    gs_key keys[16];

    cr_assert(eq(sz, gs_node_active_view(node, &t, keys, 16), n));
    for (size_t i = 0; i < n; ++i) {
        gs_key k = h_key(want[i]);
        cr_assert(h_key_eq(&keys[i], &k), "active view position %zu", i);
        cr_assert(eq(int, h_is_eager(node, want[i]), eager[i]), "role of peer %u", want[i]);
    }
}

Test(plumtree, encode_once_survives_ihave_flushes_between_eager_peers)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    static const unsigned view[] = {1, 2, 3};
    static const bool roles[] = {true, false, true};
    char buf[64];
    eo_state st;

    /* Active view in order: eager, lazy, eager.  Every 116th (C) broadcast fills peer 2's IHave
     * chunk, which is flushed between the copies for peers 1 and 3. */
    h_neighbors(node, &cap, 1, 3, 0);
    make_lazy(node, 2, 0);
    eo_view_is(node, view, roles, 3);
    eo_init(&st);
    for (int i = 0; i < 300; ++i) {
        int n = snprintf(buf, sizeof(buf), "broadcast %d", i);
        cr_assert(eq(
            int,
            gs_node_broadcast(node, &t, (const uint8_t *)buf, (size_t)n, GS_SCOPE_SWARM, 1, NULL),
            0));
        h_drain(node, &cap);
        eo_check(&st, &cap);
    }
    cr_assert(eq(sz, st.nviolations, 0));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, NULL), 0)); /* last one: no flush */
    cr_assert(eq(sz, st.nsend, 600 + 2));                          /* 2 x 300 + 2 full chunks */
    cr_assert(eq(sz, st.nflagged, 300 - 2)); /* every second copy, except after a flush */
    gs_node_del(node);
}

Test(plumtree, encode_once_holds_when_the_outbox_is_drained_late)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    char buf[64];
    eo_state st;

    /* 300 broadcasts at one instant into one outbox, drained once at the end. */
    h_neighbors(node, &cap, 1, 3, 0);
    make_lazy(node, 2, 0);
    for (int i = 0; i < 300; ++i) {
        int n = snprintf(buf, sizeof(buf), "late %d", i);
        gs_node_broadcast(node, &t, (const uint8_t *)buf, (size_t)n, GS_SCOPE_SWARM, 1, NULL);
    }
    h_drain(node, &cap);
    eo_init(&st);
    eo_check(&st, &cap);
    cr_assert(eq(sz, st.nviolations, 0));
    cr_assert(eq(sz, st.nsend, 600 + 2));
    gs_node_del(node);
}

Test(plumtree, encode_once_with_lazy_peers_between_eager_ones_on_the_forwarding_path)
{
    gs_node *node = h_node();
    char buf[64];
    eo_state st;

    /* Six neighbours: 1 is the sender; 2, 4 and 6 are lazy, between and after the eager 3 and 5.
     * Forwarded Gossip, Grafts answered from the cache, Prunes for duplicates and IHave flushes
     * by the timer all mix in the same outbox. */
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.active_view_capacity = 6;
    gs_node_del(node);
    node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_node_join(node, &t, NULL, 0, 0);
    h_neighbors(node, &cap, 1, 6, 0);
    make_lazy(node, 2, 0);
    make_lazy(node, 4, 0);
    make_lazy(node, 6, 0);
    static const unsigned view[] = {1, 2, 3, 4, 5, 6};
    static const bool roles[] = {true, false, true, false, true, false};
    eo_view_is(node, view, roles, 6);
    eo_init(&st);
    gs_tstamp now = 1;
    size_t nihave = 0;
    for (int i = 0; i < 1000; ++i) {
        int n = snprintf(buf, sizeof(buf), "forwarded %d", i);
        gs_msg g = h_gossip(buf, (size_t)n, (uint16_t)(i % 3));
        h_msg(node, &cap, 1, &g, now);
        eo_check(&st, &cap);
        nihave += h_count_sends(&cap, GS_MSG_IHAVE, NULL);
        if (i % 7 == 0) {
            /* a duplicate from a lazy peer (Prune back) and a Graft for it (Gossip back) */
            h_msg(node, &cap, 4, &g, now);
            eo_check(&st, &cap);
            gs_msg gr = h_graft(&g.gossip.id, 1);
            h_msg(node, &cap, 6, &gr, now);
            eo_check(&st, &cap);
            make_lazy(node, 6, now);
            eo_check(&st, &cap);
        }
        if (i % 200 == 199) {
            now += 10 * H_MS; /* the dispatch timer flushes partial chunks (after a full one) */
            h_expire(node, &cap, now);
            eo_check(&st, &cap);
            nihave += h_count_sends(&cap, GS_MSG_IHAVE, NULL);
        }
    }
    cr_assert(eq(sz, st.nviolations, 0));
    cr_assert(gt(sz, nihave, 20)); /* the scenario did flush chunks between eager copies */
    cr_assert(gt(sz, st.nflagged, 900));
    gs_node_del(node);
}
