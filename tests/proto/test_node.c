/* SPDX-License-Identifier: MIT */
/* test_node.c: node level (PROTOCOL.md 7): topics, frames, counters, outbox, memory, failmalloc. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "gs_rand.h"
#include "proto_harness.h"

static h_cap cap;

Test(node, default_cfg_is_valid_and_bad_ones_are_refused)
{
    gs_node_cfg cfg;
    gs_node *node = NULL;
    gs_key self = h_key(0);

    gs_node_cfg_default(&cfg);
    cr_assert(eq(int, gs_node_cfg_validate(&cfg), 0));
    cr_assert(eq(sz, cfg.active_view_capacity, 5));
    cr_assert(eq(sz, cfg.passive_view_capacity, 30));
    cr_assert(eq(u64, cfg.graft_timeout_1, 80 * H_MS));
    cfg.active_view_capacity = 0;
    cr_assert(eq(int, gs_node_new(&node, &cfg, &self, 1, gs_mem_default()), GS_ERR_INVAL));
    cr_assert(node == NULL);
    gs_node_cfg_default(&cfg);
    cfg.max_message_size = 100;
    cr_assert(eq(int, gs_node_cfg_validate(&cfg), GS_ERR_INVAL));
    gs_node_cfg_default(&cfg);
    cfg.cache_bytes = 4096;
    cr_assert(eq(int, gs_node_cfg_validate(&cfg), GS_ERR_INVAL));
}

Test(node, new_survives_every_allocation_failure)
{
    gs_node_cfg cfg;
    gs_key self = h_key(0);

    gs_node_cfg_default(&cfg);
    for (size_t fail_at = 1;; ++fail_at) {
        gs_fake_mem fm;
        gs_node *node = NULL;

        gs_fake_mem_init(&fm, fail_at);
        int rv = gs_node_new(&node, &cfg, &self, 7, &fm.mem);
        if (rv == 0) {
            gs_node_del(node);
            cr_assert(eq(sz, fm.nlive, 0));
            break;
        }
        cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu", fail_at);
        cr_assert(eq(sz, fm.nlive, 0), "leak when call %zu fails", fail_at);
        cr_assert(node == NULL);
    }
}

Test(node, join_survives_every_allocation_failure)
{
    gs_node_cfg cfg;
    gs_key self = h_key(0);
    gs_topic_id t = h_topic(1);
    gs_key b = h_key(1);

    gs_node_cfg_default(&cfg);
    for (size_t fail_at = 1;; ++fail_at) {
        gs_fake_mem fm;
        gs_node *node = NULL;

        gs_fake_mem_init(&fm, 0);
        cr_assert(eq(int, gs_node_new(&node, &cfg, &self, 7, &fm.mem), 0));
        size_t base = fm.nlive;
        fm.fail_at = fm.ncalls + fail_at;
        int rv = gs_node_join(node, &t, &b, 1, 0);
        if (rv == 0) {
            cr_assert(gs_node_is_joined(node, &t));
            gs_node_del(node);
            cr_assert(eq(sz, fm.nlive, 0));
            break;
        }
        cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu", fail_at);
        cr_assert(eq(sz, fm.nlive, base), "leak when call %zu fails", fail_at);
        cr_assert(not(gs_node_is_joined(node, &t)));
        gs_node_del(node);
        cr_assert(eq(sz, fm.nlive, 0));
    }
}

/* P9: a joined topic without traffic holds only its membership state; the message log, payload
 * ring, missing tables and IHave queues come with the first message and go with the topic. */
Test(node, idle_topic_holds_membership_state_only)
{
    gs_node_cfg cfg;
    gs_key self = h_key(0);
    gs_fake_mem fm;
    gs_node *node = NULL;

    gs_node_cfg_default(&cfg);
    cfg.max_topics = 128;
    gs_fake_mem_init(&fm, 0);
    cr_assert(eq(int, gs_node_new(&node, &cfg, &self, 7, &fm.mem), 0));
    gs_topic_id t0 = h_topic(1);
    cr_assert(eq(int, gs_node_join(node, &t0, NULL, 0, 0), 0));
    size_t before = fm.nbytes;
    for (uint8_t i = 2; i < 102; ++i) {
        gs_topic_id t = h_topic(i);
        cr_assert(eq(int, gs_node_join(node, &t, NULL, 0, 0), 0));
    }
    size_t per_topic = (fm.nbytes - before) / 100;
    cr_assert(lt(sz, per_topic, 6 * 1024), "%zu bytes per idle topic", per_topic);

    /* traffic on one topic allocates its log, ring and IHave queue; quitting frees them */
    h_neighbors(node, &cap, 1, 3, 1);
    cr_assert(eq(sz, h_nactive(node), 3));
    size_t idle = fm.nbytes;
    cr_assert(eq(int,
                 gs_node_broadcast(node, &t0, (const uint8_t *)"hello", 5, GS_SCOPE_SWARM, 2, NULL),
                 0));
    h_drain(node, &cap);
    cr_assert(gt(sz, fm.nbytes, idle + 4096), "the first message allocates the payload ring");
    gs_node_del(node);
    cr_assert(eq(sz, fm.nlive, 0));
}

/* A whole scenario with the N-th allocation failing: no crash, no leak, counted. */
Test(node, scenario_survives_any_single_allocation_failure)
{
    gs_node_cfg cfg;
    gs_key self = h_key(0);
    gs_topic_id t = h_topic(1);
    char buf[64];

    gs_node_cfg_default(&cfg);
    cfg.max_received = 512; /* forces growth paths early */
    for (size_t fail_at = 1; fail_at < 400; ++fail_at) {
        gs_fake_mem fm;
        gs_node *node = NULL;

        gs_fake_mem_init(&fm, fail_at);
        if (gs_node_new(&node, &cfg, &self, 7, &fm.mem) != 0) {
            cr_assert(eq(sz, fm.nlive, 0));
            continue;
        }
        (void)gs_node_set_peer_data(node, (const uint8_t *)"addr", 4, 0);
        if (gs_node_join(node, &t, NULL, 0, 0) == 0) {
            gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
            for (unsigned p = 1; p <= 7; ++p) {
                gs_msg j = h_join_data("pd");
                h_msg(node, &cap, p, p % 2 ? &nb : &j, p);
            }
            for (int i = 0; i < 600; ++i) {
                int n = snprintf(buf, sizeof(buf), "msg-%d", i);
                gs_msg g = h_gossip(buf, (size_t)n, (uint16_t)(i % 9));
                h_msg(node, &cap, 1 + (unsigned)(i % 5), &g, 10 + (gs_tstamp)i);
                gs_ihave_entry e = {h_id_of(buf, 3), 1};
                gs_msg ih = h_ihave(&e, 1);
                h_msg(node, &cap, 2, &ih, 10 + (gs_tstamp)i);
            }
            gs_node_broadcast(node, &t, (const uint8_t *)"own", 3, GS_SCOPE_SWARM, 700, NULL);
            h_drain(node, &cap);
            h_expire(node, &cap, 61 * H_SEC);
            gs_node_quit(node, &t, 62 * H_SEC);
            h_drain(node, &cap);
        }
        gs_node_del(node);
        cr_assert(eq(sz, fm.nlive, 0), "leak when call %zu fails", fail_at);
    }
}

Test(node, messages_for_unjoined_topics_are_dropped_and_counted)
{
    gs_node *node = h_node();
    gs_topic_id other = h_topic(9);
    gs_key p = h_key(3);
    gs_msg join = h_join();

    cr_assert(eq(int, gs_node_on_message(node, &p, &other, &join, 0), GS_ERR_NOT_JOINED));
    h_drain(node, &cap);
    cr_assert(eq(sz, cap.n, 0)); /* no reply, no close */
    cr_assert(eq(u64, gs_node_counters_get(node)->unknown_topic, 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->msgs_ctrl_recv, 1));
    gs_node_del(node);
}

Test(node, messages_from_ourselves_are_dropped)
{
    gs_node *node = h_node();
    gs_msg join = h_join();

    cr_assert(eq(int, h_msg(node, &cap, 0, &join, 0), GS_ERR_SELF));
    cr_assert(eq(sz, cap.n, 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->from_self, 1));
    gs_node_del(node);
}

Test(node, frames_are_decoded_and_errors_counted)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);
    gs_key p = h_key(1);
    uint8_t body[128];

    h_neighbors(node, &cap, 1, 2, 0);
    gs_msg g = h_gossip("hi", 2, 0);
    gs_ssize n = gs_codec_encode_body(body, sizeof(body), &g);
    cr_assert(gt(i64, (int64_t)n, 0));
    cr_assert(eq(int, gs_node_on_frame(node, &p, &t, body, (size_t)n, 1), 0));
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_RECEIVED, &p), 1));
    cr_assert(eq(u64, gs_node_counters_get(node)->msgs_data_recv_size, (uint64_t)n + 32));
    const uint8_t bad[] = {0x07, 0x00};
    cr_assert(lt(int, gs_node_on_frame(node, &p, &t, bad, sizeof(bad), 2), 0));
    cr_assert(lt(int, gs_node_on_frame(node, &p, &t, bad, 0, 2), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->decode_errors, 2));
    gs_node_del(node);
}

Test(node, topic_count_is_bounded)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.max_topics = 3;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);

    for (unsigned i = 0; i < 3; ++i) {
        gs_topic_id t = h_topic(i);
        cr_assert(eq(int, gs_node_join(node, &t, NULL, 0, 0), 0));
    }
    gs_topic_id t4 = h_topic(4);
    cr_assert(eq(int, gs_node_join(node, &t4, NULL, 0, 0), GS_ERR_LIMIT));
    cr_assert(eq(sz, gs_node_ntopics(node), 3));
    gs_topic_id t1 = h_topic(1);
    cr_assert(eq(int, gs_node_quit(node, &t1, 1), 0));
    cr_assert(eq(int, gs_node_join(node, &t4, NULL, 0, 2), 0));
    cr_assert(eq(int, gs_node_quit(node, &t1, 3), GS_ERR_NOT_JOINED));
    gs_node_del(node);
}

Test(node, api_on_unjoined_topic_fails)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(7);
    gs_key p = h_key(1);

    cr_assert(eq(int, gs_node_broadcast(node, &t, (const uint8_t *)"x", 1, GS_SCOPE_SWARM, 0, NULL),
                 GS_ERR_NOT_JOINED));
    cr_assert(eq(int, gs_node_join_peers(node, &t, &p, 1, 0), GS_ERR_NOT_JOINED));
    gs_node_del(node);
}

Test(node, eager_copies_are_flagged_as_the_same_message)
{
    gs_node *node = h_node();
    gs_topic_id t = h_topic(1);

    h_neighbors(node, &cap, 1, 4, 0);
    gs_node_broadcast(node, &t, (const uint8_t *)"same", 4, GS_SCOPE_SWARM, 1, NULL);
    h_drain(node, &cap);
    size_t n = 0;
    for (size_t i = 0; i < cap.n; ++i) {
        if (cap.out[i].type == GS_NODE_OUT_SEND) {
            cr_assert(eq(u32, cap.out[i].flags & GS_NODE_OUT_FLAG_SAME_MSG, n == 0 ? 0u : 1u));
            ++n;
        }
    }
    cr_assert(eq(sz, n, 4));
    cr_assert(eq(u64, gs_node_counters_get(node)->msgs_data_sent, 4));
    gs_node_del(node);
}

Test(node, mem_in_use_matches_the_allocator)
{
    gs_fake_mem fm;
    gs_node_cfg cfg;
    gs_key self = h_key(0);
    gs_topic_id t = h_topic(1);
    gs_node *node = NULL;
    char buf[64];

    gs_fake_mem_init(&fm, 0);
    gs_node_cfg_default(&cfg);
    cr_assert(eq(int, gs_node_new(&node, &cfg, &self, 7, &fm.mem), 0));
    cr_assert(eq(sz, gs_node_mem_in_use(node), fm.nbytes));
    gs_node_join(node, &t, NULL, 0, 0);
    gs_node_set_peer_data(node, (const uint8_t *)"abc", 3, 0);
    h_neighbors(node, &cap, 1, 5, 0);
    for (int i = 0; i < 2000; ++i) {
        int n = snprintf(buf, sizeof(buf), "payload %d", i);
        gs_msg g = h_gossip(buf, (size_t)n, 1);
        h_msg(node, &cap, 1, &g, (gs_tstamp)i);
    }
    cr_assert(eq(sz, gs_node_mem_in_use(node), fm.nbytes));
    gs_node_quit(node, &t, 10);
    h_drain(node, &cap);
    cr_assert(eq(sz, gs_node_mem_in_use(node), fm.nbytes));
    gs_node_del(node);
    cr_assert(eq(sz, fm.nlive, 0));
}

Test(node, expiry_is_the_earliest_timer)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);

    cr_assert(eq(u64, gs_node_get_expiry(node), GS_TSTAMP_NEVER));
    gs_node_join(node, &t, NULL, 0, 100);
    cr_assert(eq(u64, gs_node_get_expiry(node), 100 + 1 * H_SEC)); /* cache eviction */
    h_expire(node, &cap, 100 + 1 * H_SEC);
    cr_assert(eq(u64, gs_node_get_expiry(node), 100 + 2 * H_SEC));
    cr_assert(eq(u64, gs_node_counters_get(node)->actor_tick_timers, 1));
    gs_node_del(node);
}

Test(node, peer_disconnected_goes_to_every_topic)
{
    gs_node *node = h_node();
    gs_topic_id t1 = h_topic(1), t2 = h_topic(2);
    gs_key p = h_key(4);
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);

    gs_node_join(node, &t2, NULL, 0, 0);
    gs_node_on_message(node, &p, &t1, &nb, 1);
    gs_node_on_message(node, &p, &t2, &nb, 1);
    h_drain(node, &cap);
    gs_node_on_peer_disconnected(node, &p, 2);
    h_drain(node, &cap);
    cr_assert(eq(sz, h_count_events(&cap, GS_NODE_EVENT_NEIGHBOR_DOWN, &p), 2));
    cr_assert(eq(sz, gs_node_active_view(node, &t1, NULL, 0), 0));
    cr_assert(eq(sz, gs_node_active_view(node, &t2, NULL, 0), 0));
    cr_assert(eq(u64, gs_node_counters_get(node)->neighbor_down, 2));
    gs_node_del(node);
}

Test(node, undrained_outbox_is_kept_across_calls)
{
    gs_node *node = h_node();
    gs_msg nb = h_neighbor(GS_PRIORITY_HIGH);
    gs_topic_id t = h_topic(1);
    gs_key a = h_key(1), b = h_key(2);
    gs_node_out o;

    gs_node_on_message(node, &a, &t, &nb, 0);
    gs_node_on_message(node, &b, &t, &nb, 0);
    size_t n = 0;
    while (gs_node_next_out(node, &o)) {
        ++n;
    }
    cr_assert(eq(sz, n, 4)); /* NeighborUp + Neighbor reply for each */
    gs_node_del(node);
}

Test(node, periodic_timers_survive_a_full_timer_queue)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    cfg.max_topics = 1;
    cfg.max_timers = 4 * cfg.max_topics + 16;
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    static gs_ihave_entry e[100];

    gs_node_join(node, &t, NULL, 0, 0);
    h_neighbors(node, &cap, 1, 2, 0);
    for (unsigned i = 0; i < 100; ++i) {
        memset(&e[i], 0, sizeof(e[i]));
        e[i].id.b[0] = (uint8_t)i;
        e[i].id.b[1] = 0xab;
    }
    gs_msg ih = h_ihave(e, 100);
    h_msg(node, &cap, 1, &ih, 0);
    cr_assert(gt(u64, gs_node_counters_get(node)->timers_full, 0));
    h_expire(node, &cap, 200 * H_MS);
    cr_assert(gt(sz, h_count_sends(&cap, GS_MSG_GRAFT, NULL), 0));
    /* The periodic timers were never refused: the shuffle still happens. */
    h_expire(node, &cap, 60 * H_SEC);
    cr_assert(eq(sz, h_count_sends(&cap, GS_MSG_SHUFFLE, NULL), 1));
    gs_node_del(node);
}

/* --- internal structures: id index and timer heap --- */

/* run_scenario drives a fixed input sequence and hashes every outbox entry's type, peer and
 * message type into |*ph|. */
static void run_scenario(uint64_t seed, uint64_t *ph)
{
    gs_node_cfg cfg;
    gs_node *node = NULL;
    gs_key self = h_key(0);
    gs_topic_id t = h_topic(1);
    gs_node_out o;
    uint64_t h = 1469598103934665603ULL;
    char buf[32];

    gs_node_cfg_default(&cfg);
    cr_assert(eq(int, gs_node_new(&node, &cfg, &self, seed, gs_mem_default()), 0));
    gs_key boot[2] = {h_key(1), h_key(2)};
    gs_node_join(node, &t, boot, 2, 0);
    for (unsigned i = 0; i < 300; ++i) {
        gs_tstamp now = (gs_tstamp)i * 50 * H_MS;
        gs_key p = h_key(1 + i % 40);
        gs_msg m;
        switch (i % 4) {
        case 0:
            m = h_join();
            break;
        case 1:
            m = h_neighbor(i % 8 == 1 ? GS_PRIORITY_LOW : GS_PRIORITY_HIGH);
            break;
        case 2: {
            int n = snprintf(buf, sizeof(buf), "d%u", i);
            m = h_gossip(buf, (size_t)n, (uint16_t)(i % 5));
            break;
        }
        default:
            m = h_disconnect(i % 3 == 0);
            break;
        }
        gs_node_on_message(node, &p, &t, &m, now);
        gs_node_handle_expiry(node, now);
        while (gs_node_next_out(node, &o)) {
            h = (h ^ (uint64_t)o.type) * 1099511628211ULL;
            h = (h ^ o.peer.b[0]) * 1099511628211ULL;
            h = (h ^ (uint64_t)(o.type == GS_NODE_OUT_SEND ? o.msg.type : o.event)) *
                1099511628211ULL;
        }
    }
    gs_node_del(node);
    *ph = h;
}

Test(node, behaviour_is_a_pure_function_of_seed_and_inputs)
{
    uint64_t a, b, c;

    run_scenario(11, &a);
    run_scenario(11, &b);
    run_scenario(12, &c);
    cr_assert(eq(u64, a, b));
    cr_assert(ne(u64, a, c)); /* the seed matters (random evictions, walks, refills) */
}

Test(node, replacing_own_peer_data_keeps_queued_messages_intact)
{
    gs_node_cfg cfg;
    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    gs_topic_id t = h_topic(1);
    gs_key b = h_key(1);
    gs_node_out o;

    gs_node_set_peer_data(node, (const uint8_t *)"old", 3, 0);
    gs_node_join(node, &t, &b, 1, 0);
    /* Not drained: the queued Join must still carry the old bytes. */
    gs_node_set_peer_data(node, (const uint8_t *)"new!", 4, 0);
    cr_assert(gs_node_next_out(node, &o));
    cr_assert(eq(int, o.msg.type, GS_MSG_JOIN));
    cr_assert(eq(sz, o.msg.join.data.len, 3));
    cr_assert(eq(int, memcmp(o.msg.join.data.base, "old", 3), 0));
    gs_node_join_peers(node, &t, &b, 1, 1);
    cr_assert(gs_node_next_out(node, &o));
    cr_assert(eq(sz, o.msg.join.data.len, 4));
    gs_node_del(node);
}
