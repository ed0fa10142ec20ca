/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c: the optional policies of gs_node_cfg (docs/proto.md "Policies"): the
 * many-publishers broadcast policy (GS_BCAST_MANY), round-trip-scaled timeouts (rtt_timeouts)
 * and the GS_COMPAT_* switches that restore the reference's behaviour.  Virtual time only.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "proto_harness.h"

static h_cap cap;

static gs_node *node_with(const gs_node_cfg *cfg)
{
    gs_topic_id t = h_topic(1);
    gs_node *node = h_node_cfg(cfg, 0, NULL);

    cr_assert(eq(int, gs_node_join(node, &t, NULL, 0, 0), 0));
    return node;
}

static gs_node *many_node(uint16_t threshold, size_t eager_all)
{
    gs_node_cfg cfg;

    gs_node_cfg_default(&cfg);
    gs_node_cfg_many_publishers(&cfg);
    cfg.prune_dup_threshold = threshold;
    cfg.eager_all_max = eager_all;
    return node_with(&cfg);
}

/* gossip_n delivers the Gossip "m<i>" from peer |from|. */
static void gossip_n(gs_node *node, unsigned from, unsigned i, gs_tstamp now)
{
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "m%u", i);
    gs_msg g = h_gossip(buf, (size_t)n, 0);

    h_msg(node, &cap, from, &g, now);
}

/* --- GS_BCAST_MANY --- */

Test(policy, cfg_presets_validate)
{
    gs_node_cfg cfg;

    gs_node_cfg_default(&cfg);
    cr_expect(eq(int, cfg.bcast_policy, GS_BCAST_REFERENCE));
    cr_expect(not(cfg.rtt_timeouts));
    cr_expect(eq(u32, cfg.compat, 0));
    gs_node_cfg_many_publishers(&cfg);
    cr_expect(eq(int, gs_node_cfg_validate(&cfg), 0));
    cr_expect(eq(int, cfg.bcast_policy, GS_BCAST_MANY));
    cr_expect(cfg.rtt_timeouts);
    gs_node_cfg_reference(&cfg);
    cr_expect(eq(int, gs_node_cfg_validate(&cfg), 0));
    cr_expect(eq(u32, cfg.compat, GS_COMPAT_ALL));
    cr_expect(eq(u64, cfg.join_retry_initial, 0));
    cfg.compat = 0x100;
    cr_expect(eq(int, gs_node_cfg_validate(&cfg), GS_ERR_INVAL));
    gs_node_cfg_default(&cfg);
    cfg.bcast_policy = (gs_bcast_policy)7;
    cr_expect(eq(int, gs_node_cfg_validate(&cfg), GS_ERR_INVAL));
    gs_node_cfg_default(&cfg);
    cfg.prune_dup_threshold = 0;
    cr_expect(eq(int, gs_node_cfg_validate(&cfg), GS_ERR_INVAL));
}

/* A duplicate prunes only the threshold-th time in a row; a first delivery resets the run. */
Test(policy, many_prunes_after_repeated_duplicates)
{
    gs_node *node = many_node(3, 0);
    gs_key s2 = h_key(2);
    unsigned m = 0;

    h_neighbors(node, &cap, 1, 2, 0);
    for (int k = 0; k < 2; ++k) { /* two duplicates from 2 */
        gossip_n(node, 1, m, 1);
        gossip_n(node, 2, m++, 2);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_PRUNE, NULL), 0));
    }
    gossip_n(node, 2, m++, 3); /* 2 delivers first: the run restarts */
    for (int k = 0; k < 2; ++k) {
        gossip_n(node, 1, m, 4);
        gossip_n(node, 2, m++, 5);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_PRUNE, NULL), 0));
        cr_assert(h_is_eager(node, 2));
    }
    gossip_n(node, 1, m, 6);
    gossip_n(node, 2, m++, 7);
    cr_assert(h_find_send(&cap, GS_MSG_PRUNE, &s2) != NULL);
    cr_assert(not(h_is_eager(node, 2)));
    cr_assert(h_is_eager(node, 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->duplicates, 5));
    gs_node_del(node);
}

/* A lazy neighbour that announced a message before it arrived from elsewhere had the faster
 * link: it is grafted without an id (nothing is re-sent) and becomes eager. */
Test(policy, many_grafts_a_faster_lazy_announcer)
{
    gs_node *node = many_node(100, 0);
    gs_key a = h_key(2);
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg pr = h_prune();
    h_msg(node, &cap, 2, &pr, 0);
    cr_assert(not(h_is_eager(node, 2)));
    e.id = h_id_of("x", 1);
    e.round = 2;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 2, &ih, 10 * H_MS);
    gs_msg g = h_gossip("x", 1, 4);
    h_msg(node, &cap, 1, &g, 30 * H_MS);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_GRAFT, &a);
    cr_assert(o != NULL);
    cr_assert(not(o->msg.graft.has_id));
    cr_assert(eq(u32, o->msg.graft.round, 2));
    cr_assert(h_is_eager(node, 2));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_PRUNE, NULL), 0));
    gs_node_del(node);
}

/* The reference keeps the lazy announcer lazy (its round is not 7 below). */
Test(policy, reference_keeps_a_faster_lazy_announcer_lazy)
{
    gs_node *node = h_node();
    gs_ihave_entry e;

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg pr = h_prune();
    h_msg(node, &cap, 2, &pr, 0);
    e.id = h_id_of("x", 1);
    e.round = 2;
    gs_msg ih = h_ihave(&e, 1);
    h_msg(node, &cap, 2, &ih, 10 * H_MS);
    gs_msg g = h_gossip("x", 1, 4);
    h_msg(node, &cap, 1, &g, 30 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    cr_assert(not(h_is_eager(node, 2)));
    gs_node_del(node);
}

/* eager_all_max: while the view is that small every neighbour gets the payload and duplicates
 * never prune. */
Test(policy, many_eager_all_pushes_to_lazy_peers_too)
{
    gs_node *node = many_node(1, 5);
    gs_topic_id t = h_topic(1);
    gs_key l = h_key(2);

    h_neighbors(node, &cap, 1, 2, 0);
    gossip_n(node, 1, 0, 1);
    gossip_n(node, 2, 0, 2); /* a duplicate: threshold 1 would prune, eager_all keeps it */
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_PRUNE, NULL), 0));
    gs_msg pr = h_prune();
    h_msg(node, &cap, 2, &pr, 3); /* the peer asks us to stop: 2 is lazy now */
    cr_assert(
        eq(int, gs_node_broadcast(node, &t, (const uint8_t *)"b", 1, GS_SCOPE_SWARM, 4, NULL), 0));
    h_drain(node, &cap);
    cr_assert(h_find_send(&cap, GS_MSG_GOSSIP, &l) != NULL);
    gs_node_del(node);
}

/* --- rtt_timeouts --- */

static gs_node *rtt_node(uint32_t compat)
{
    gs_node_cfg cfg;

    gs_node_cfg_default(&cfg);
    cfg.rtt_timeouts = true;
    cfg.rtt_timeout_factor = 3;
    cfg.dial_allowance = 2 * H_SEC;
    cfg.compat = compat;
    return node_with(&cfg);
}

/* Before any round trip was seen a request may take neighbor_request_timeout + dial_allowance;
 * after one (a Join answered in 2.6 s) a request to a new peer waits 3 x 2.6 s + the dial. */
Test(policy, rtt_scaled_neighbor_timeout)
{
    gs_node *node = rtt_node(0);
    gs_msg join = h_join();

    h_msg(node, &cap, 7, &join, 0); /* request to 7, pending */
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 2499 * H_MS);
    cr_assert(eq(sz, h_npending(node), 1));
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 7, &nb, 2600 * H_MS); /* answered: a 2.6 s sample */
    cr_assert(eq(sz, h_npending(node), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_timeouts, 0));
    gs_peer_info items[1];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    gs_msg sr = h_shuffle_reply(items, 1);
    h_msg(node, &cap, 7, &sr, 3 * H_SEC); /* refill asks 20 */
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 12799 * H_MS);
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 12800 * H_MS);
    cr_assert(eq(sz, h_npending(node), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_timeouts, 1));
    gs_node_del(node);
}

/* The default keeps the fixed 500 ms. */
Test(policy, default_neighbor_timeout_is_fixed)
{
    gs_node *node = h_node();
    gs_msg join = h_join();

    h_msg(node, &cap, 7, &join, 0);
    h_expire(node, &cap, 500 * H_MS);
    cr_assert(eq(sz, h_npending(node), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_timeouts, 1));
    gs_node_del(node);
}

/* The first Join retry waits join_retry_initial + dial_allowance while nothing is known. */
Test(policy, rtt_join_retry_allows_for_the_dial)
{
    gs_node_cfg cfg;
    gs_topic_id t = h_topic(1);
    gs_key boot = h_key(9);

    gs_node_cfg_default(&cfg);
    cfg.rtt_timeouts = true;
    cfg.dial_allowance = 2 * H_SEC;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    cr_assert(eq(int, gs_node_join(node, &t, &boot, 1, 0), 0));
    h_drain(node, &cap);
    h_expire(node, &cap, 2499 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, NULL), 0));
    h_expire(node, &cap, 2500 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, &boot), 1));
    gs_node_del(node);
}

/* A repeated Join from a neighbour starts no new walks with rtt_timeouts (the reference and the
 * default forward it again). */
Test(policy, rtt_rejoin_starts_no_new_walks)
{
    gs_node *node = rtt_node(0);
    gs_msg join = h_join();

    h_neighbors(node, &cap, 1, 2, 0);
    h_msg(node, &cap, 1, &join, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_FORWARD_JOIN, NULL), 0));
    gs_node_del(node);
    node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    h_msg(node, &cap, 1, &join, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_FORWARD_JOIN, NULL), 1));
    gs_node_del(node);
}

/* --- GS_COMPAT_* --- */

Test(policy, compat_pending_replies_never_time_out)
{
    gs_node *node = rtt_node(GS_COMPAT_PENDING_REPLIES);
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);

    h_msg(node, &cap, 3, &nb, 0); /* a request from 3: our reply is pending (D3 as reference) */
    cr_assert(h_find_send(&cap, GS_MSG_NEIGHBOR, NULL) != NULL);
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 60 * H_SEC);
    cr_assert(eq(sz, h_npending(node), 1));
    gs_msg dc = h_disconnect(true);
    h_msg(node, &cap, 3, &dc, 61 * H_SEC);
    cr_assert(eq(sz, h_npending(node), 0));
    gs_node_del(node);
}

Test(policy, compat_timeout_only_on_refill)
{
    gs_node_cfg cfg;
    gs_msg join = h_join();

    gs_node_cfg_reference(&cfg);
    gs_node *node = node_with(&cfg);
    h_msg(node, &cap, 7, &join, 0); /* request after a Join: no timer in the reference */
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 10 * H_SEC);
    cr_assert(eq(sz, h_npending(node), 1));
    gs_peer_info items[1];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    gs_msg sr = h_shuffle_reply(items, 1);
    h_msg(node, &cap, 7, &sr, 11 * H_SEC); /* refill: this one times out */
    cr_assert(eq(sz, h_npending(node), 2));
    h_expire(node, &cap, 11 * H_SEC + 500 * H_MS);
    cr_assert(eq(sz, h_npending(node), 1));
    gs_node_del(node);
}

Test(policy, compat_reply_always_and_neighbors_scope_eager_only)
{
    gs_node_cfg cfg;
    gs_topic_id t = h_topic(1);
    gs_key l = h_key(2);

    gs_node_cfg_reference(&cfg);
    cfg.compat = GS_COMPAT_REPLY_ALWAYS | GS_COMPAT_NEIGHBORS_EAGER;
    gs_node *node = node_with(&cfg);
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 1, &nb, 0); /* reply 1 */
    h_msg(node, &cap, 1, &nb, 1); /* answered again: no suppression */
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, NULL), 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_replies_suppressed, 0));
    h_msg(node, &cap, 2, &nb, 2);
    gs_msg pr = h_prune();
    h_msg(node, &cap, 2, &pr, 3);
    cr_assert(eq(
        int, gs_node_broadcast(node, &t, (const uint8_t *)"n", 1, GS_SCOPE_NEIGHBORS, 4, NULL), 0));
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, NULL), 1));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GOSSIP, &l), 0));
    gs_node_del(node);
}

/* D8: an IHave from a non-neighbour is ignored, unless GS_COMPAT_IHAVE_ANY: then it creates a
 * missing entry whose graft goes to that non-neighbour; and a NeighborDown keeps the former
 * neighbour's announcements. */
Test(policy, compat_ihave_any)
{
    for (int compat = 0; compat < 2; ++compat) {
        gs_node_cfg cfg;
        gs_topic_id t = h_topic(1);
        gs_node_topic_stats st;
        gs_key stranger = h_key(9), k1 = h_key(1);

        gs_node_cfg_default(&cfg);
        cfg.compat = compat ? GS_COMPAT_IHAVE_ANY : 0;
        gs_node *node = node_with(&cfg);
        h_neighbors(node, &cap, 1, 2, 0);
        gs_ihave_entry e[1];
        memset(e, 0, sizeof(e));
        e[0].id = h_id_of("x", 1);
        gs_msg ih = h_ihave(e, 1);
        h_msg(node, &cap, 9, &ih, 1 * H_MS);
        cr_assert(eq(u64, gs_node_counters_get(node)->ihave_non_neighbor, 1));
        cr_assert(eq(int, gs_node_topic_stats_get(node, &t, &st), 0));
        cr_assert(eq(sz, st.nmissing, compat ? 1 : 0));
        h_expire(node, &cap, 100 * H_MS);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, &stranger), compat ? 1 : 0));
        /* neighbour 1 announces y, then leaves: its announcement goes (or stays, reference) */
        e[0].id = h_id_of("y", 1);
        h_msg(node, &cap, 1, &ih, 200 * H_MS);
        gs_msg dc = h_disconnect(true);
        h_msg(node, &cap, 1, &dc, 201 * H_MS);
        cr_assert(not(h_in_view(node, 1, true)));
        h_expire(node, &cap, 300 * H_MS);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_GRAFT, &k1), compat ? 1 : 0));
        gs_node_del(node);
    }
}

/* D9: with two topics sharing peer 5, one topic dropping it closes the connection only with
 * GS_COMPAT_CLOSE_SHARED. */
Test(policy, compat_close_shared)
{
    for (int compat = 0; compat < 2; ++compat) {
        gs_node_cfg cfg;
        gs_topic_id t2 = h_topic(2);
        gs_key k5 = h_key(5);

        gs_node_cfg_default(&cfg);
        cfg.compat = compat ? GS_COMPAT_CLOSE_SHARED : 0;
        gs_node *node = node_with(&cfg);
        cr_assert(eq(int, gs_node_join(node, &t2, NULL, 0, 0), 0));
        gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
        h_msg(node, &cap, 5, &nb, 0);
        cr_assert(eq(int, gs_node_on_message(node, &k5, &t2, &nb, 0), 0));
        h_drain(node, &cap);
        gs_msg dc = h_disconnect(true);
        h_msg(node, &cap, 5, &dc, 1 * H_MS); /* topic 1 drops 5; topic 2 still has it */
        cr_assert(not(h_in_view(node, 5, true)));
        cr_assert(eq(sz, h_count_disconnects(&cap, &k5), compat ? 1 : 0));
        gs_node_del(node);
    }
}

/* D10: IHaves queued for a lazy neighbour that leaves are dropped, unless GS_COMPAT_STALE_IHAVE:
 * then they go to the former neighbour at once. */
Test(policy, compat_stale_ihave)
{
    for (int compat = 0; compat < 2; ++compat) {
        gs_node_cfg cfg;
        gs_key k2 = h_key(2);

        gs_node_cfg_default(&cfg);
        cfg.compat = compat ? GS_COMPAT_STALE_IHAVE : 0;
        gs_node *node = node_with(&cfg);
        h_neighbors(node, &cap, 1, 2, 0);
        gs_msg pr = h_prune();
        h_msg(node, &cap, 2, &pr, 0); /* 2 is lazy now */
        gossip_n(node, 1, 1, 1 * H_MS);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_IHAVE, &k2), 0)); /* queued for 5 ms */
        gs_msg dc = h_disconnect(true);
        h_msg(node, &cap, 2, &dc, 2 * H_MS);
        size_t sent = h_count_sends(&cap, GS_MSG_IHAVE, &k2);
        h_expire(node, &cap, 10 * H_MS);
        sent += h_count_sends(&cap, GS_MSG_IHAVE, &k2);
        cr_assert(eq(sz, sent, compat ? 1 : 0));
        gs_node_del(node);
    }
}

/* D12: a received ttl above the walk length is clamped, unless GS_COMPAT_TTL_UNCLAMPED. */
Test(policy, compat_ttl_unclamped)
{
    for (int compat = 0; compat < 2; ++compat) {
        gs_node_cfg cfg;
        gs_key k2 = h_key(2);

        gs_node_cfg_default(&cfg);
        cfg.compat = compat ? GS_COMPAT_TTL_UNCLAMPED : 0;
        gs_node *node = node_with(&cfg);
        h_neighbors(node, &cap, 1, 2, 0);
        gs_msg fj = h_forward_join(h_key(9), 65535);
        h_msg(node, &cap, 1, &fj, 1 * H_MS);
        const gs_node_out *o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, &k2);
        cr_assert(o != NULL);
        cr_assert(eq(u16, o->msg.forward_join.ttl, compat ? 65534 : 5));
        cr_assert(eq(u64, gs_node_counters_get(node)->ttl_clamped, compat ? 0 : 1));
        gs_node_del(node);
    }
}
