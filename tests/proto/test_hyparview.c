/* SPDX-License-Identifier: MIT */
/* test_hyparview.c: every HyParView reaction of PROTOCOL.md 5.3/5.4 and the D-fixes, virtual time.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "proto_harness.h"

static h_cap cap;

Test(hyparview, join_sends_join_to_bootstrap_but_never_to_self)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_key peers[3] = {h_key(1), h_key(0), h_key(2)};

    cr_assert(eq(int, gs_node_join(node, &t, peers, 3, 0), 0));
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, NULL), 2));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, &peers[1]), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->self_refs, 1));
    gs_node_del(node);
}

Test(hyparview, contact_accepts_join_and_requests_neighbor)
{
    gs_node *node = h_node();
    gs_msg join = h_join();
    gs_key j = h_key(7);

    cr_assert(eq(int, h_msg(node, &cap, 7, &join, 0), 0));
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_NEIGHBOR_UP, &j), 1));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, &j);
    cr_assert(o != NULL);
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_HIGH));
    cr_assert(eq(sz, h_npending(node), 1)); /* a request after a Join is pending (D3) */
    /* J answers: the contact stays silent and the request is answered. */
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 7, &nb, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, NULL), 0));
    cr_assert(eq(sz, h_npending(node), 0));
    cr_assert(eq(sz, h_nactive(node), 1));
    gs_node_del(node);
}

Test(hyparview, joiner_replies_to_neighbor_without_pending)
{
    gs_node *node = h_node();
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    gs_key c = h_key(3);

    h_msg(node, &cap, 3, &nb, 0);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_NEIGHBOR_UP, &c), 1));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, &c);
    cr_assert(o != NULL);
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_HIGH));
    cr_assert(eq(sz, h_npending(node), 0)); /* D3: a reply is never pending */
    gs_node_del(node);
}

Test(hyparview, join_forwards_forward_join_to_every_other_neighbor)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_msg join = h_join_data("addr");

    h_msg(node, &cap, 9, &join, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_FORWARD_JOIN, NULL), 3));
    gs_key j = h_key(9);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_FORWARD_JOIN, &j), 0));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, NULL);
    cr_assert(eq(u32, o->msg.forward_join.ttl, 6));
    cr_assert(h_key_eq(&o->msg.forward_join.peer.id, &j));
    cr_assert(o->msg.forward_join.peer.has_data);
    cr_assert(eq(sz, o->msg.forward_join.peer.data.len, 4));
    cr_assert(eq(int, memcmp(o->msg.forward_join.peer.data.base, "addr", 4), 0));
    /* The joiner's PeerData went to the address book. */
    cr_assert(h_find_event(&cap, GS_NODE_EVENT_PEER_DATA, &j) != NULL);
    gs_node_del(node);
}

Test(hyparview, join_on_full_view_evicts_a_random_neighbor)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 5, 0);
    gs_msg join = h_join();

    h_msg(node, &cap, 6, &join, 1);
    cr_assert(eq(sz, h_nactive(node), 5));
    const gs_node_out *down = h_find_event(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, NULL);
    cr_assert(down != NULL);
    cr_assert(eq(int, down->reason, GS_DOWN_EVICTED));
    gs_key ev = down->peer;
    /* The evicted peer gets ShuffleReply then Disconnect{alive} and is closed; it stays passive. */
    size_t ireply = SIZE_MAX, idisc = SIZE_MAX;
    for (size_t i = 0; i < cap.n; ++i) {
        const gs_node_out *o = &cap.out[i];
        if (o->type == GS_NODE_OUT_SEND && h_key_eq(&o->peer, &ev)) {
            if (o->msg.type == GS_MSG_SHUFFLE_REPLY) {
                ireply = i;
            } else if (o->msg.type == GS_MSG_DISCONNECT) {
                idisc = i;
                cr_assert(o->msg.disconnect.alive);
                cr_assert(not(o->msg.disconnect.respond));
            }
        }
    }
    cr_assert(ireply < idisc && idisc != SIZE_MAX);
    cr_assert(eq(sz, h_count_disconnects(&cap, &ev), 1));
    cr_assert(eq(sz, h_npassive(node), 1));
    cr_assert(h_in_view(node, 6, true));
    gs_node_del(node);
}

Test(hyparview, forward_join_with_ttl_zero_sends_neighbor_request)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_msg fj = h_forward_join(h_key(50), 0);
    gs_key x = h_key(50);

    h_msg(node, &cap, 1, &fj, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, &x);
    cr_assert(o != NULL);
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_HIGH));
    cr_assert(not(h_in_view(node, 50, true))); /* only its Neighbor makes it active */
    cr_assert(eq(sz, h_npending(node), 1));
    gs_node_del(node);
}

Test(hyparview, forward_join_with_one_neighbor_is_accepted)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 1, 0);
    gs_msg fj = h_forward_join(h_key(50), 4);
    gs_key x = h_key(50);

    h_msg(node, &cap, 1, &fj, 1);
    cr_assert(h_find_send(&cap, GS_MSG_NEIGHBOR, &x) != NULL);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_FORWARD_JOIN, NULL), 0));
    gs_node_del(node);
}

Test(hyparview, forward_join_walks_on_and_inserts_passive_at_prwl)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_key s = h_key(1);
    gs_msg fj = h_forward_join(h_key(50), 5);

    h_msg(node, &cap, 1, &fj, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, NULL);
    cr_assert(o != NULL);
    cr_assert(not(h_key_eq(&o->peer, &s)));
    cr_assert(eq(u32, o->msg.forward_join.ttl, 4));
    cr_assert(not(h_in_view(node, 50, false)));

    gs_msg fj3 = h_forward_join(h_key(51), 3);
    h_msg(node, &cap, 2, &fj3, 2);
    o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.forward_join.ttl, 2));
    cr_assert(h_in_view(node, 51, false)); /* ttl == PRWL: passive insert */
    gs_node_del(node);
}

Test(hyparview, forward_join_ttl_is_clamped)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_msg fj = h_forward_join(h_key(50), 65535);

    h_msg(node, &cap, 1, &fj, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_FORWARD_JOIN, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.forward_join.ttl, 5)); /* clamped to ARWL 6, then - 1 */
    cr_assert(eq(u64, gs_node_counters_get(node)->ttl_clamped, 1));
    gs_node_del(node);
}

Test(hyparview, forward_join_naming_ourselves_is_ignored)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 1, 0);
    gs_msg fj = h_forward_join(h_key(0), 0);

    h_msg(node, &cap, 1, &fj, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, NULL), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->self_refs, 1));
    gs_node_del(node);
}

Test(hyparview, low_priority_neighbor_refused_when_full)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 5, 0);
    gs_msg nb = h_neighbor(GS_PRIORITY_LOW);
    gs_key p = h_key(9);

    h_msg(node, &cap, 9, &nb, 1);
    cr_assert(eq(sz, h_nactive(node), 5));
    cr_assert(not(h_in_view(node, 9, true)));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE_REPLY, &p), 1));
    const gs_node_out *d = h_find_send(&cap, GS_MSG_DISCONNECT, &p);
    cr_assert(d != NULL);
    cr_assert(d->msg.disconnect.alive);
    cr_assert(eq(sz, h_count_disconnects(&cap, &p), 1));
    gs_node_del(node);
}

Test(hyparview, low_priority_neighbor_accepted_with_room)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg nb = h_neighbor(GS_PRIORITY_LOW);
    gs_key p = h_key(9);

    h_msg(node, &cap, 9, &nb, 1);
    cr_assert(h_in_view(node, 9, true));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, &p);
    cr_assert(o != NULL);
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_LOW)); /* reply carries the prio */
    gs_node_del(node);
}

Test(hyparview, shuffle_at_ttl_zero_fills_passive_and_replies_to_origin)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_peer_info items[3];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    items[1].id = h_key(21);
    items[2].id = h_key(0); /* ourselves: ignored */
    gs_msg sh = h_shuffle(h_key(30), items, 3, 0);
    gs_key origin = h_key(30);

    h_msg(node, &cap, 1, &sh, 1);
    cr_assert(h_in_view(node, 20, false));
    cr_assert(h_in_view(node, 21, false));
    cr_assert(eq(sz, h_npassive(node), 2));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_SHUFFLE_REPLY, &origin);
    cr_assert(o != NULL);
    cr_assert(eq(sz, o->msg.shuffle_reply.nodes.n, 3));
    cr_assert(eq(u64, gs_node_counters_get(node)->self_refs, 1));
    gs_node_del(node);
}

Test(hyparview, shuffle_with_ttl_is_forwarded_to_another_neighbor)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_peer_info items[1];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    gs_msg sh = h_shuffle(h_key(2), items, 1, 65535);
    gs_key s = h_key(1), origin = h_key(2), third = h_key(3);

    h_msg(node, &cap, 1, &sh, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
    cr_assert(o != NULL);
    cr_assert(not(h_key_eq(&o->peer, &s)));
    cr_assert(not(h_key_eq(&o->peer, &origin)));
    cr_assert(h_key_eq(&o->peer, &third));
    cr_assert(eq(u32, o->msg.shuffle.ttl, 5)); /* clamped to 6 (D12), then - 1 */
    cr_assert(eq(sz, o->msg.shuffle.nodes.n, 1));
    cr_assert(not(h_in_view(node, 20, false)));
    gs_node_del(node);
}

Test(hyparview, shuffle_reply_fills_passive_and_refills)
{
    gs_node *node = h_node();
    gs_peer_info items[2];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    items[1].id = h_key(21);
    gs_msg sr = h_shuffle_reply(items, 2);
    gs_key s = h_key(5);

    h_msg(node, &cap, 5, &sr, 1);
    cr_assert(eq(sz, h_npassive(node), 2));
    /* Isolated: refill sends a High Neighbor request to one of them. */
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_HIGH));
    cr_assert(eq(sz, h_npending(node), 1));
    /* The sender is not a neighbour: it is closed right after. */
    cr_assert(eq(sz, h_count_disconnects(&cap, &s), 1));
    gs_node_del(node);
}

Test(hyparview, disconnect_alive_keeps_peer_passive_and_refills)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    gs_peer_info items[2];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    items[1].id = h_key(21);
    gs_msg sr = h_shuffle_reply(items, 2);
    h_msg(node, &cap, 1, &sr, 0);
    gs_key asked = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL)->peer;
    gs_msg d = h_disconnect(true);
    gs_key p = h_key(2);

    h_msg(node, &cap, 2, &d, 1);
    const gs_node_out *down = h_find_event(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, &p);
    cr_assert(down != NULL);
    cr_assert(eq(int, down->reason, GS_DOWN_PEER_LEFT_ALIVE));
    cr_assert(h_in_view(node, 2, false));
    cr_assert(eq(sz, h_count_disconnects(&cap, &p), 1));
    /* refill skips the peer that just left and the pending one. */
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL);
    cr_assert(o != NULL);
    cr_assert(not(h_key_eq(&o->peer, &p)));
    cr_assert(not(h_key_eq(&o->peer, &asked)));
    cr_assert(eq(sz, h_npending(node), 2));
    cr_assert(eq(int, o->msg.neighbor.priority, GS_PRIORITY_LOW)); /* active is not empty */
    gs_node_del(node);
}

Test(hyparview, disconnect_not_alive_forgets_peer)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg d = h_disconnect(false);
    gs_key p = h_key(2);

    h_msg(node, &cap, 2, &d, 1);
    const gs_node_out *down = h_find_event(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, &p);
    cr_assert(down != NULL);
    cr_assert(eq(int, down->reason, GS_DOWN_PEER_QUIT));
    cr_assert(not(h_in_view(node, 2, false)));
    cr_assert(not(h_in_view(node, 2, true)));
    gs_node_del(node);
}

Test(hyparview, disconnect_alive_from_passive_marks_alive)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 1, 0);
    gs_peer_info items[1];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    gs_msg sr = h_shuffle_reply(items, 1);
    h_msg(node, &cap, 1, &sr, 0);
    gs_msg d = h_disconnect(true);
    h_msg(node, &cap, 20, &d, 1);
    /* Alive: its connection closing keeps it passive (once). */
    gs_key p = h_key(20);
    gs_node_on_peer_disconnected(node, &p, 2);
    h_drain(node, &cap);
    cr_assert(h_in_view(node, 20, false));
    gs_node_on_peer_disconnected(node, &p, 3);
    h_drain(node, &cap);
    cr_assert(not(h_in_view(node, 20, false)));
    gs_node_del(node);
}

Test(hyparview, pending_request_times_out)
{
    gs_node *node = h_node();
    gs_peer_info items[2];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    items[1].id = h_key(21);
    gs_msg sr = h_shuffle_reply(items, 2);

    h_msg(node, &cap, 5, &sr, 0);
    gs_key first = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL)->peer;
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 499 * H_MS);
    cr_assert(eq(sz, h_npending(node), 1));
    h_expire(node, &cap, 500 * H_MS);
    /* Timed out: dropped from pending and passive; the refill asks the other one. */
    cr_assert(eq(sz, h_npassive(node), 1));
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL);
    cr_assert(o != NULL);
    cr_assert(not(h_key_eq(&o->peer, &first)));
    cr_assert(eq(sz, h_npending(node), 1));
    gs_node_del(node);
}

Test(hyparview, answered_request_is_not_timed_out)
{
    gs_node *node = h_node();
    gs_msg join = h_join();

    h_msg(node, &cap, 7, &join, 0);
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 7, &nb, 10 * H_MS);
    h_expire(node, &cap, 600 * H_MS);
    cr_assert(h_in_view(node, 7, true));
    cr_assert(eq(sz, h_count_disconnects(&cap, NULL), 0));
    gs_node_del(node);
}

Test(hyparview, peer_disconnected_removes_neighbor)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    gs_key p = h_key(1);

    gs_node_on_peer_disconnected(node, &p, 1);
    h_drain(node, &cap);
    const gs_node_out *down = h_find_event(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, &p);
    cr_assert(down != NULL);
    cr_assert(eq(int, down->reason, GS_DOWN_CONNECTION_LOST));
    cr_assert(not(h_in_view(node, 1, false))); /* not in `alive`: forgotten */
    gs_node_del(node);
}

Test(hyparview, do_shuffle_after_interval)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_peer_info items[2];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    items[1].id = h_key(21);
    gs_msg sr = h_shuffle_reply(items, 2);

    h_expire(node, &cap, 59 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 0));
    /* (just before the shuffle, so the refill requests have not timed out yet) */
    h_msg(node, &cap, 1, &sr, 59900 * H_MS);
    h_expire(node, &cap, 60 * H_SEC);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
    cr_assert(o != NULL);
    gs_key self = h_key(0);
    cr_assert(h_key_eq(&o->msg.shuffle.origin, &self));
    cr_assert(eq(u32, o->msg.shuffle.ttl, 6));
    /* 2 other active + 2 passive + self */
    cr_assert(eq(sz, o->msg.shuffle.nodes.n, 5));
    bool has_self = false;
    for (size_t i = 0; i < o->msg.shuffle.nodes.n; ++i) {
        const gs_key *id = &o->msg.shuffle.nodes.items[i].id;
        has_self = has_self || h_key_eq(id, &self);
        cr_assert(not(h_key_eq(id, &o->peer)));
    }
    cr_assert(has_self);
    /* Rescheduled. */
    h_expire(node, &cap, 120 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 1));
    gs_node_del(node);
}

Test(hyparview, quit_disconnects_neighbors_without_events)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 3, 0);
    gs_topic_id t = h_topic(1);

    cr_assert(eq(int, gs_node_quit(node, &t, 1), 0));
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE_REPLY, NULL), 3));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_DISCONNECT, NULL), 3));
    const gs_node_out *d = h_find_send(&cap, GS_MSG_DISCONNECT, NULL);
    cr_assert(not(d->msg.disconnect.alive));
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, NULL), 0));
    cr_assert(eq(sz, h_count_disconnects(&cap, NULL), 3));
    cr_assert(not(gs_node_is_joined(node, &t)));
    /* Timers of the quit topic are ignored. */
    h_expire(node, &cap, 3600 * H_SEC);
    cr_assert(eq(sz, cap.n, 0));
    gs_node_del(node);
}

Test(hyparview, join_is_retried_with_backoff_while_isolated)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_key b = h_key(1);

    gs_node_join(node, &t, &b, 1, 0);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, &b), 1));
    gs_tstamp at[] = {500 * H_MS, 1500 * H_MS, 3500 * H_MS, 7500 * H_MS};
    for (size_t i = 0; i < 4; ++i) {
        h_expire(node, &cap, at[i] - 1);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, &b), 0), "early retry %zu", i);
        h_expire(node, &cap, at[i]);
        cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, &b), 1), "retry %zu", i);
    }
    cr_assert(eq(u64, gs_node_counters_get(node)->join_retries, 4));
    /* The backoff is capped at 30 s. */
    gs_tstamp now = 7500 * H_MS;
    for (int i = 0; i < 10; ++i) {
        gs_tstamp next = gs_node_get_expiry(node);
        h_expire(node, &cap, next);
        now = next;
    }
    (void)now;
    /* A neighbour appears: no more Joins. */
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 1, &nb, 1000 * H_SEC);
    h_expire(node, &cap, 2000 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_JOIN, NULL), 0));
    gs_node_del(node);
}

Test(hyparview, join_retry_backoff_is_capped)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_key b = h_key(1);
    gs_tstamp last = 0, gap = 0;

    gs_node_join(node, &t, &b, 1, 0);
    h_drain(node, &cap);
    for (gs_tstamp now = 0; now < 400 * H_SEC; now += 100 * H_MS) {
        h_expire(node, &cap, now);
        if (h_count_sends(&cap, GS_MSG_JOIN, &b) > 0) {
            gap = now - last;
            last = now;
        }
    }
    cr_assert(eq(u64, gap, 30 * H_SEC));
    gs_node_del(node);
}

Test(hyparview, one_topic_does_not_close_a_shared_connection)
{
    gs_node *node = h_node();
    gs_topic_id t1 = h_topic(1), t2 = h_topic(2);
    gs_key p = h_key(4);
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    gs_msg d = h_disconnect(false);

    gs_node_join(node, &t2, NULL, 0, 0);
    gs_node_on_message(node, &p, &t1, &nb, 1);
    gs_node_on_message(node, &p, &t2, &nb, 1);
    h_drain(node, &cap);
    gs_node_on_message(node, &p, &t1, &d, 2);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, &p), 1));
    cr_assert(eq(sz, h_count_disconnects(&cap, &p), 0)); /* D9: topic 2 still uses it */
    gs_node_on_message(node, &p, &t2, &d, 3);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_disconnects(&cap, &p), 1));
    gs_node_del(node);
}

Test(hyparview, non_neighbor_is_closed_after_being_answered)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 1, 0);
    gs_peer_info items[1];
    memset(items, 0, sizeof(items));
    items[0].id = h_key(20);
    gs_msg sh = h_shuffle(h_key(30), items, 1, 3);
    gs_key s = h_key(40);

    h_msg(node, &cap, 40, &sh, 1);
    cr_assert(eq(sz, h_count_disconnects(&cap, &s), 1));
    gs_node_del(node);
}

Test(hyparview, shuffle_reply_is_trimmed_to_fit_small_m)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.max_message_size = 512;
    cfg.max_peer_data_len = 400;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    static uint8_t big[300];
    gs_peer_info items[4];

    gs_node_join(node, &t, NULL, 0, 0);
    memset(big, 0x11, sizeof(big));
    memset(items, 0, sizeof(items));
    for (unsigned i = 0; i < 4; ++i) {
        items[i].id = h_key(20 + i);
        items[i].has_data = true;
        items[i].data.base = big;
        items[i].data.len = sizeof(big);
    }
    h_neighbors(node, &cap, 1, 1, 0);
    gs_msg sh = h_shuffle(h_key(30), items, 4, 0);
    h_msg(node, &cap, 1, &sh, 1);
    cr_assert(eq(sz, h_npassive(node), 4));
    gs_key origin = h_key(30);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_SHUFFLE_REPLY, &origin);
    cr_assert(o != NULL);
    cr_assert(lt(sz, gs_codec_body_len(&o->msg), 512));
    cr_assert(eq(sz, o->msg.shuffle_reply.nodes.n, 1));
    cr_assert(gt(u64, gs_node_counters_get(node)->ctrl_truncated, 0));
    gs_node_del(node);
}

Test(hyparview, peer_data_is_reported_once_per_change)
{
    gs_node *node = h_node();
    gs_msg j1 = h_join_data("a1");
    gs_key p = h_key(3);

    h_msg(node, &cap, 3, &j1, 0);
    const gs_node_out *e = h_find_event(&cap, GS_NODE_EVENT_PEER_DATA, &p);
    cr_assert(e != NULL);
    cr_assert(eq(sz, e->data.len, 2));
    h_msg(node, &cap, 3, &j1, 1);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 0));
    gs_msg j2 = h_join_data("b22");
    h_msg(node, &cap, 3, &j2, 2);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 1));
    gs_node_del(node);
}

Test(hyparview, own_peer_data_is_carried_and_capped)
{
    gs_node *node = h_node();
    static uint8_t big[5000];
    gs_msg join = h_join();

    cr_assert(eq(int, gs_node_set_peer_data(node, big, sizeof(big), 0), GS_ERR_MSG_TOO_LARGE));
    cr_assert(eq(int, gs_node_set_peer_data(node, (const uint8_t *)"me", 2, 0), 0));
    h_msg(node, &cap, 3, &join, 1);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL);
    cr_assert(o != NULL);
    cr_assert(o->msg.neighbor.has_data);
    cr_assert(eq(sz, o->msg.neighbor.data.len, 2));
    gs_node_del(node);
}

Test(hyparview, late_answer_to_a_timed_out_request_does_not_start_a_neighbor_ping_pong)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 1, 0);
    gs_msg fj = h_forward_join(h_key(50), 0);
    gs_key x = h_key(50);

    h_msg(node, &cap, 1, &fj, 0); /* request to x, pending */
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &x), 1));
    h_expire(node, &cap, 500 * H_MS); /* x is slow: the request times out */
    cr_assert(eq(sz, h_npending(node), 0));
    /* x's answer arrives late and looks like a request: we accept and answer once. */
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 50, &nb, 600 * H_MS);
    cr_assert(h_in_view(node, 50, true));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &x), 1));
    /* x answers our answer (it has no pending entry either): we must stay silent. */
    h_msg(node, &cap, 50, &nb, 900 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &x), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_replies_suppressed, 1));
    /* A Join (re-join) from it is still answered with a request. */
    gs_msg join = h_join();
    h_msg(node, &cap, 50, &join, 1000 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &x), 1));
    gs_node_del(node);
}

Test(hyparview, peer_data_is_forgotten_with_the_peer)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.max_peer_data_len = 8;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_peer_info items[1];
    gs_key p = h_key(20);

    gs_node_join(node, &t, NULL, 0, 0);
    h_neighbors(node, &cap, 1, 1, 0);
    memset(items, 0, sizeof(items));
    items[0].id = p;
    items[0].has_data = true;
    items[0].data.base = (const uint8_t *)"abc";
    items[0].data.len = 3;
    gs_msg sr = h_shuffle_reply(items, 1);
    h_msg(node, &cap, 1, &sr, 1);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 1));
    h_msg(node, &cap, 1, &sr, 2);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 0)); /* unchanged */
    /* Its connection closes while not `alive`: it leaves passive and its data is forgotten (D10),
     * so the same data is news again. */
    gs_node_on_peer_disconnected(node, &p, 3);
    h_drain(node, &cap);
    cr_assert(not(h_in_view(node, 20, false)));
    h_msg(node, &cap, 1, &sr, 4);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 1));
    /* Longer than max_peer_data_len: not stored, not reported, counted. */
    items[0].data.base = (const uint8_t *)"0123456789";
    items[0].data.len = 10;
    h_msg(node, &cap, 1, &sr, 5);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_PEER_DATA, &p), 0));
    cr_assert(gt(u64, gs_node_counters_get(node)->peer_data_too_long, 0));
    gs_node_del(node);
}

/* --- healing (docs/proto.md "Healing"): early shuffles and escalated refills --- */

static gs_node *h_node_healing(uint16_t escalate, gs_duration early)
{
    gs_node_cfg cfg;
    gs_topic_id t = h_topic(1);

    gs_node_cfg_default(&cfg);
    cfg.shuffle_early = early;
    cfg.refill_escalate = escalate;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    if (gs_node_join(node, &t, NULL, 0, 0) != 0) {
        abort();
    }
    return node;
}

Test(hyparview, early_shuffles_ask_a_neighbour_while_the_passive_view_is_thin)
{
    gs_node *node = h_node_healing(0, 2 * H_SEC);
    h_neighbors(node, &cap, 1, 2, 0);
    gs_key n1 = h_key(1);
    gs_key n2 = h_key(2);

    h_expire(node, &cap, 1999 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 0));
    h_expire(node, &cap, 2 * H_SEC);
    const gs_node_out *o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
    cr_assert(o != NULL, "first shuffle after shuffle_early");
    cr_assert(eq(u32, o->msg.shuffle.ttl, 0), "answered by the neighbour itself");
    cr_assert(h_key_eq(&o->peer, &n1) || h_key_eq(&o->peer, &n2));
    /* still empty: the next one doubles (4 s later) */
    h_expire(node, &cap, 5999 * H_MS);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 0));
    h_expire(node, &cap, 6 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 1));
    /* the neighbour's answer stocks the passive view and starts no Neighbor request */
    gs_peer_info items[5];
    memset(items, 0, sizeof(items));
    for (unsigned i = 0; i < 5; ++i) {
        items[i].id = h_key(30 + i);
    }
    gs_msg sr = h_shuffle_reply(items, 5);
    h_msg(node, &cap, 1, &sr, 6100 * H_MS);
    cr_assert(eq(sz, h_npassive(node), 5));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, NULL), 0));
    cr_assert(eq(sz, h_npending(node), 0));
    /* the one scheduled while thin still runs (early, ttl 0); the view is stocked now, so the
     * next one is the regular shuffle, a full walk after shuffle_interval */
    h_expire(node, &cap, 14 * H_SEC);
    o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.shuffle.ttl, 0));
    h_expire(node, &cap, 73 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 0));
    h_expire(node, &cap, 74 * H_SEC);
    o = h_find_send(&cap, GS_MSG_SHUFFLE, NULL);
    cr_assert(o != NULL);
    cr_assert(eq(u32, o->msg.shuffle.ttl, 6), "a full walk once the view is stocked");
    gs_node_del(node);
}

Test(hyparview, early_shuffles_are_off_by_default)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 2, 0);
    h_expire(node, &cap, 59 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 0));
    gs_node_del(node);
}

/* refused_refill: the node (one neighbour, peer 1) asks a passive peer and is refused. */
static bool refused_refill(gs_node *node, gs_tstamp now, gs_priority *prio)
{
    const gs_node_out *o = h_find_send(&cap, GS_MSG_NEIGHBOR, NULL);
    if (o == NULL) {
        return false;
    }
    *prio = o->msg.neighbor.priority;
    unsigned q = 0;
    for (unsigned i = 40; i < 50; ++i) {
        gs_key k = h_key(i);
        if (h_key_eq(&o->peer, &k)) {
            q = i;
        }
    }
    cr_assert(ne(u32, q, 0));
    /* the refusal: ShuffleReply(nothing new) then Disconnect{alive} */
    gs_msg d = h_disconnect(true);
    h_msg(node, &cap, q, &d, now);
    return true;
}

/* refusal_run: a node with refill_escalate |escalate| has 2 neighbours and 6 passive candidates,
 * loses one neighbour, and has 4 refill requests in a row refused; |prio| receives their
 * priorities.  Returns refills_escalated. */
static uint64_t refusal_run(uint16_t escalate, gs_priority prio[4])
{
    gs_node *node = h_node_healing(escalate, 0);
    gs_peer_info items[6];
    memset(items, 0, sizeof(items));
    for (unsigned i = 0; i < 6; ++i) {
        items[i].id = h_key(40 + i);
    }
    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg sr = h_shuffle_reply(items, 6);
    h_msg(node, &cap, 1, &sr, 1); /* stocks the passive view; refill asks one of them (Low) */
    gs_key n2 = h_key(2);
    gs_node_on_peer_disconnected(node, &n2, 2); /* one neighbour left: a thin view */
    h_drain(node, &cap);

    gs_tstamp now = 10;
    for (size_t n = 0; n < 4; ++n) {
        cr_assert(refused_refill(node, now++, &prio[n]), "no refill request after %zu refusals", n);
        if (h_count_sends(&cap, GS_MSG_NEIGHBOR, NULL) == 0) {
            /* a refusal alone starts no refill: the next ShuffleReply does */
            h_msg(node, &cap, 1, &sr, now++);
        }
    }
    uint64_t escalated = gs_node_counters_get(node)->refills_escalated;
    gs_node_del(node);
    return escalated;
}

Test(hyparview, refused_refills_escalate_to_high_priority_in_a_thin_view)
{
    gs_priority prio[4];

    cr_assert(ge(u64, refusal_run(2, prio), 2));
    cr_assert(eq(int, prio[0], GS_PRIORITY_LOW));
    cr_assert(eq(int, prio[1], GS_PRIORITY_LOW));
    cr_assert(eq(int, prio[2], GS_PRIORITY_HIGH), "after 2 refusals in a row");
    cr_assert(eq(int, prio[3], GS_PRIORITY_HIGH));
}

Test(hyparview, refused_refills_stay_low_without_escalation)
{
    gs_priority prio[4];

    cr_assert(eq(u64, refusal_run(0, prio), 0));
    for (int i = 0; i < 4; ++i) {
        cr_assert(eq(int, prio[i], GS_PRIORITY_LOW));
    }
}

/* A Neighbor request to an already active peer (ForwardJoin naming a neighbour) is pending when
 * that peer leaves the view; its late answer must be answered like any new Neighbor, or we hold
 * a link the other side dropped. */
Test(hyparview, a_request_pending_to_an_evicted_neighbour_is_forgotten)
{
    gs_node *node = h_node();
    h_neighbors(node, &cap, 1, 5, 0); /* a full view */
    gs_key one = h_key(1);
    gs_msg fj = h_forward_join(one, 4);
    h_msg(node, &cap, 2, &fj, 1);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &one), 1), "case a: Neighbor to it");
    cr_assert(eq(sz, h_npending(node), 1));
    /* Joins evict random neighbours until peer 1 is the one */
    gs_msg j = h_join();
    unsigned joiner = 10;
    while (h_in_view(node, 1, true)) {
        cr_assert(lt(u32, joiner, 200));
        h_msg(node, &cap, joiner++, &j, 2);
    }
    cr_assert(eq(sz, h_count_disconnects(&cap, &one), 1), "evicted");
    cap.n = 0;
    /* its answer to the old request arrives: treated as a new request, so it is answered (with
     * the old pending entry it would be taken as the reply and leave a one-sided link) */
    gs_msg n = h_neighbor(GS_PRIORITY_HIGH);
    h_msg(node, &cap, 1, &n, 3);
    cr_assert(h_in_view(node, 1, true));
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_NEIGHBOR, &one), 1), "answered");
    gs_node_del(node);
}
