/* SPDX-License-Identifier: MIT */
/*
 * node.c: the gossip node (node.h), the layer above the protocols: the public API, topic
 * multiplexing (PROTOCOL.md 7; topics found by a gs_table keyed by topic id), dispatch of
 * messages and timers to HyParView and PlumTree, and the context hooks (ctx.h): NeighborDown fanned
 * out to PlumTree, and connection reference counting (D9): a topic's close(p) becomes a
 * DISCONNECT only when no topic has p in its active view or among its outstanding Neighbor
 * requests; the check scans the topics (at most max_topics, each with small bounded arrays), so
 * the count is always exact and cannot drift.  Outbox, scratch, timers, counters and memory
 * accounting live in the context (ctx.c).
 */
#include "node.h"

#include <assert.h>
#include <string.h>

#include "blake3.h"
#include "ctx.h"
#include "gs_table.h"
#include "hyparview.h"
#include "plumtree.h"
#include "topic.h"

/* gs_node: the context below the protocols (first, so hooks can find the node), the topics. */
struct gs_node {
    gs_ctx ctx;
    gs_rand rng;
    gs_topic **topics; /* max_topics slots, NULL = free */
    size_t ntopics;
    uint32_t topic_gen;
    gs_topic *last_topic;
    gs_table topic_index; /* topic id -> slot */
};

void gs_node_cfg_default(gs_node_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->active_view_capacity = 5;
    cfg->passive_view_capacity = 30;
    cfg->active_random_walk_length = 6;
    cfg->passive_random_walk_length = 3;
    cfg->shuffle_random_walk_length = 6;
    cfg->shuffle_active_view_count = 3;
    cfg->shuffle_passive_view_count = 4;
    cfg->shuffle_interval = 60 * GS_SECONDS;
    cfg->shuffle_early = 0;
    cfg->refill_escalate = 0;
    cfg->neighbor_request_timeout = 500 * GS_MILLISECONDS;
    cfg->join_retry_initial = 500 * GS_MILLISECONDS;
    cfg->join_retry_max = 30 * GS_SECONDS;
    cfg->graft_timeout_1 = 80 * GS_MILLISECONDS;
    cfg->graft_timeout_2 = 40 * GS_MILLISECONDS;
    cfg->dispatch_timeout = 5 * GS_MILLISECONDS;
    cfg->optimization_threshold = 7;
    cfg->message_cache_retention = 30 * GS_SECONDS;
    cfg->message_id_retention = 90 * GS_SECONDS;
    cfg->cache_evict_interval = 1 * GS_SECONDS;
    cfg->max_message_size = GS_MAX_MESSAGE_SIZE_DEFAULT;
    cfg->max_topics = 64;
    cfg->max_pending = 16;
    cfg->max_bootstrap = 16;
    cfg->max_peer_data_len = 1024;
    cfg->max_received = 65536;
    cfg->cache_bytes = (size_t)4 * 1024 * 1024;
    cfg->max_missing = 1024;
    cfg->max_announcers = 8;
    cfg->max_timers = 262144;
    cfg->max_outbox = 65536;
    cfg->max_scratch_bytes = (size_t)16 * 1024 * 1024;
    cfg->bcast_policy = GS_BCAST_REFERENCE;
    cfg->prune_dup_threshold = 100;
    cfg->eager_all_max = 0;
    cfg->graft_timeout_near = 80 * GS_MILLISECONDS;
    cfg->rtt_timeouts = false;
    cfg->rtt_timeout_factor = 3;
    cfg->dial_allowance = 6 * GS_SECONDS;
    cfg->compat = 0;
}

void gs_node_cfg_reference(gs_node_cfg *cfg)
{
    gs_node_cfg_default(cfg);
    cfg->compat = GS_COMPAT_ALL;
    cfg->join_retry_initial = 0;
    cfg->bcast_policy = GS_BCAST_REFERENCE;
    cfg->rtt_timeouts = false;
}

void gs_node_cfg_many_publishers(gs_node_cfg *cfg)
{
    cfg->bcast_policy = GS_BCAST_MANY;
    cfg->prune_dup_threshold = 100;
    cfg->eager_all_max = 0;
    cfg->graft_timeout_near = 80 * GS_MILLISECONDS;
    cfg->rtt_timeouts = true;
}

int gs_node_cfg_validate(const gs_node_cfg *cfg)
{
    if (cfg->active_view_capacity == 0 || cfg->active_view_capacity > 1024 ||
        cfg->passive_view_capacity == 0 || cfg->passive_view_capacity > 65536 ||
        cfg->active_random_walk_length == 0 || cfg->shuffle_random_walk_length == 0 ||
        cfg->passive_random_walk_length > cfg->active_random_walk_length ||
        cfg->shuffle_interval == 0 || cfg->neighbor_request_timeout == 0 ||
        cfg->join_retry_max < cfg->join_retry_initial || cfg->graft_timeout_1 == 0 ||
        cfg->graft_timeout_2 == 0 || cfg->dispatch_timeout == 0 || cfg->cache_evict_interval == 0 ||
        cfg->max_message_size < GS_MAX_MESSAGE_SIZE_MIN || cfg->max_message_size > (1u << 24) ||
        cfg->max_topics == 0 || cfg->max_topics > 65536 || cfg->max_pending == 0 ||
        cfg->max_received == 0 || cfg->max_received > (1u << 30) ||
        cfg->cache_bytes < 2 * cfg->max_message_size || cfg->max_missing == 0 ||
        cfg->max_missing > (1u << 24) || cfg->max_announcers == 0 ||
        cfg->max_announcers > UINT16_MAX || cfg->max_timers < 4 * cfg->max_topics + 16 ||
        cfg->max_outbox < 16 || cfg->max_scratch_bytes < 4 * cfg->max_message_size ||
        (cfg->bcast_policy != GS_BCAST_REFERENCE && cfg->bcast_policy != GS_BCAST_MANY) ||
        cfg->prune_dup_threshold == 0 || cfg->graft_timeout_near == 0 ||
        cfg->rtt_timeout_factor == 0 || (cfg->compat & ~GS_COMPAT_ALL) != 0) {
        return GS_ERR_INVAL;
    }
    return 0;
}

/* --- node --- */

/* --- hooks: what the context asks of the layer above --- */

static void hook_neighbor_down(void *ud, gs_topic *t, const gs_key *peer)
{
    (void)ud;
    gs_plumtree_on_neighbor_down(t, peer); /* 6.3 NeighborDown */
}

static gs_topic *find_topic(const gs_node *node, const gs_topic_id *id);

static bool hook_peer_in_use(void *ud, const gs_topic_id *topic, const gs_key *peer)
{
    const gs_node *node = ud;

    if (node->ctx.cfg.compat & GS_COMPAT_CLOSE_SHARED) {
        /* D9 as the reference: one topic's close ends the shared connection. */
        const gs_topic *t = find_topic(node, topic);
        return t != NULL && gs_view_uses(&t->view, peer);
    }
    for (size_t i = 0; i < node->ctx.cfg.max_topics; ++i) {
        const gs_topic *u = node->topics[i];
        if (u != NULL && gs_view_uses(&u->view, peer)) {
            return true;
        }
    }
    return false;
}

static const uint8_t *topic_key(const void *owner, uint32_t slot)
{
    const gs_node *node = owner;

    return node->topics[slot]->id.b;
}

/* --- node --- */

int gs_node_new(gs_node **pnode, const gs_node_cfg *cfg, const gs_key *self_id, uint64_t seed,
                const gs_mem *mem)
{
    gs_node *node;
    int rv;

    rv = gs_node_cfg_validate(cfg);
    if (rv != 0) {
        return rv;
    }
    node = gs_mem_calloc(mem, 1, sizeof(*node));
    if (node == NULL) {
        return GS_ERR_NOMEM;
    }
    gs_ctx_hooks hooks = {node, hook_neighbor_down, hook_peer_in_use};
    (void)gs_ctx_init(&node->ctx, cfg, self_id, mem, sizeof(*node), &hooks);
    gs_rand_seed(&node->rng, seed);
    node->topics = gs_ctx_calloc(&node->ctx, cfg->max_topics, sizeof(gs_topic *));
    if (node->topics == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_topics;
    }
    /* The index's hash seed derives from |seed| without drawing from the node's PRNG, whose
     * stream the topics fork from. */
    rv = gs_table_init(&node->topic_index, sizeof(gs_topic_id), cfg->max_topics, cfg->max_topics,
                       (seed ^ 0x7f4a7c159e3779b9ULL) * 0xbf58476d1ce4e5b9ULL, topic_key, node,
                       &node->ctx.amem);
    if (rv != 0) {
        goto fail_index;
    }
    *pnode = node;
    return 0;

fail_index:
    gs_ctx_free_block(&node->ctx, node->topics);
fail_topics:
    gs_ctx_free(&node->ctx);
    gs_mem_free(mem, node);
    return rv;
}

static void topic_del(gs_node *node, gs_topic *t)
{
    gs_plumtree_free(t);
    gs_hyparview_free(t);
    gs_ctx_free_block(&node->ctx, t);
}

void gs_node_del(gs_node *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->ctx.cfg.max_topics; ++i) {
        if (node->topics[i] != NULL) {
            topic_del(node, node->topics[i]);
        }
    }
    gs_table_free(&node->topic_index);
    gs_ctx_free_block(&node->ctx, node->topics);
    gs_ctx_free(&node->ctx);
    assert(node->ctx.bytes == sizeof(*node)); /* everything else was returned */
    gs_mem_free(node->ctx.mem, node);
}

/* find_topic: the last topic used (most inputs of a turn are for one topic), else the index. */
static gs_topic *find_topic(const gs_node *node, const gs_topic_id *id)
{
    gs_topic *t = node->last_topic;
    uint32_t slot;

    if (t != NULL && memcmp(t->id.b, id->b, sizeof(id->b)) == 0) {
        return t;
    }
    if (!gs_table_find(&node->topic_index, id->b, &slot)) {
        return NULL;
    }
    t = node->topics[slot];
    assert(t != NULL && memcmp(t->id.b, id->b, sizeof(id->b)) == 0);
    return t;
}

static gs_topic *lookup(gs_node *node, const gs_topic_id *id)
{
    gs_topic *t = find_topic(node, id);

    if (t != NULL) {
        node->last_topic = t;
    }
    return t;
}

static int topic_new(gs_node *node, const gs_topic_id *id, gs_topic **pt)
{
    size_t slot = node->ctx.cfg.max_topics;
    gs_topic *t;
    int rv;

    for (size_t i = 0; i < node->ctx.cfg.max_topics; ++i) {
        if (node->topics[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot == node->ctx.cfg.max_topics) {
        return GS_ERR_LIMIT;
    }
    t = gs_ctx_calloc(&node->ctx, 1, sizeof(*t));
    if (t == NULL) {
        return GS_ERR_NOMEM;
    }
    t->ctx = &node->ctx;
    t->id = *id;
    t->slot = (uint32_t)slot;
    t->gen = ++node->topic_gen;
    gs_rand_fork(&node->rng, &t->rng);
    rv = gs_hyparview_init(t);
    if (rv != 0) {
        goto fail_hpv;
    }
    rv = gs_plumtree_init(t);
    if (rv != 0) {
        goto fail_pt;
    }
    node->topics[slot] = t;
    rv = gs_table_insert(&node->topic_index, id->b, (uint32_t)slot);
    if (rv != 0) {
        node->topics[slot] = NULL;
        gs_plumtree_free(t);
        goto fail_pt;
    }
    ++node->ntopics;
    /* First event of the topic (5.4, 6.3): the periodic timers start now. */
    (void)gs_topic_schedule(t, GS_TIMER_SHUFFLE, gs_hyparview_shuffle_next(t), 0, NULL);
    (void)gs_topic_schedule(t, GS_TIMER_EVICT, node->ctx.cfg.cache_evict_interval, 0, NULL);
    *pt = t;
    return 0;

fail_pt:
    gs_hyparview_free(t);
fail_hpv:
    gs_ctx_free_block(&node->ctx, t);
    return rv;
}

/* neighbor_body_len bounds the body of a Neighbor carrying |datalen| bytes of our PeerData (the
 * largest message that carries it alone; Join is one byte shorter). */
static size_t neighbor_body_len(size_t datalen)
{
    return 2 + 1 + 1 + 5 + datalen; /* tags, priority, option, varint (at most 5), data */
}

int gs_node_set_peer_data(gs_node *node, const uint8_t *data, size_t len, gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_rx;
    if (len > node->ctx.cfg.max_peer_data_len ||
        neighbor_body_len(len) >= node->ctx.cfg.max_message_size) {
        return GS_ERR_MSG_TOO_LARGE;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = gs_ctx_alloc(&node->ctx, len);
        if (copy == NULL) {
            return GS_ERR_NOMEM;
        }
        memcpy(copy, data, len);
    }
    gs_ctx_free_block(&node->ctx, node->ctx.own_data);
    node->ctx.own_data = copy;
    node->ctx.own_len = len;
    node->ctx.has_own = true;
    return 0;
}

int gs_node_join(gs_node *node, const gs_topic_id *topic, const gs_key *peers, size_t npeers,
                 gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        int rv = topic_new(node, topic, &t);
        if (rv != 0) {
            return rv;
        }
    }
    gs_hyparview_join(t, peers, npeers);
    return 0;
}

int gs_node_join_peers(gs_node *node, const gs_topic_id *topic, const gs_key *peers, size_t npeers,
                       gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    gs_hyparview_join(t, peers, npeers);
    return 0;
}

int gs_node_broadcast(gs_node *node, const gs_topic_id *topic, const uint8_t *content, size_t len,
                      gs_scope scope, gs_tstamp now, gs_msg_id *pid)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    if (scope != GS_SCOPE_SWARM && scope != GS_SCOPE_NEIGHBORS) {
        return GS_ERR_INVAL;
    }
    return gs_plumtree_broadcast(t, content, len, scope, pid);
}

int gs_node_on_push_dropped(gs_node *node, const gs_key *peer, const gs_topic_id *topic,
                            const gs_msg_id *id, uint16_t round, gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_in_event_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    return gs_plumtree_push_dropped(t, peer, id, round);
}

int gs_node_quit(gs_node *node, const gs_topic_id *topic, gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    gs_hyparview_quit(t);
    (void)gs_table_remove(&node->topic_index, t->id.b);
    node->topics[t->slot] = NULL;
    --node->ntopics;
    if (node->last_topic == t) {
        node->last_topic = NULL;
    }
    topic_del(node, t);
    return 0;
}

void gs_node_on_peer_disconnected(gs_node *node, const gs_key *peer, gs_tstamp now)
{
    gs_ctx_begin(&node->ctx, now);
    ++node->ctx.c.actor_tick_in_event_rx;
    for (size_t i = 0; i < node->ctx.cfg.max_topics; ++i) {
        if (node->topics[i] != NULL) {
            gs_hyparview_on_peer_disconnected(node->topics[i], peer);
        }
    }
}

/* on_message: see gs_node_on_message; |hashed| as in gs_plumtree_on_message. */
static int on_message(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                      const gs_msg *msg, size_t bodylen, const gs_msg_id *hashed)
{
    ++node->ctx.c.actor_tick_in_event_rx;
    if (msg->type == GS_MSG_GOSSIP) {
        ++node->ctx.c.msgs_data_recv;
        node->ctx.c.msgs_data_recv_size += bodylen + 32;
    } else {
        ++node->ctx.c.msgs_ctrl_recv;
        node->ctx.c.msgs_ctrl_recv_size += bodylen + 32;
    }
    if (gs_key_eq(from, &node->ctx.self)) {
        ++node->ctx.c.from_self;
        return GS_ERR_SELF;
    }
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        ++node->ctx.c.unknown_topic; /* 7: dropped, no reply, no close */
        return GS_ERR_NOT_JOINED;
    }
    int rv = 0;
    switch (msg->type) {
    case GS_MSG_JOIN:
    case GS_MSG_FORWARD_JOIN:
    case GS_MSG_SHUFFLE:
    case GS_MSG_SHUFFLE_REPLY:
    case GS_MSG_NEIGHBOR:
    case GS_MSG_DISCONNECT:
        ++t->stats.control_recv;
        gs_hyparview_on_message(t, from, msg);
        break;
    case GS_MSG_GOSSIP:
    case GS_MSG_PRUNE:
    case GS_MSG_GRAFT:
    case GS_MSG_IHAVE:
        rv = gs_plumtree_on_message(t, from, msg, hashed);
        break;
    default:
        return GS_ERR_INVAL;
    }
    if (msg->type != GS_MSG_DISCONNECT) {
        gs_hyparview_after_message(t, from);
    }
    return rv;
}

int gs_node_on_message(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                       const gs_msg *msg, gs_tstamp now)
{
    size_t bodylen;

    gs_ctx_begin(&node->ctx, now);
    if (msg->type == GS_MSG_GOSSIP) {
        bodylen = gs_plumtree_gossip_body_len(msg->gossip.content.len, msg->gossip.scope,
                                              msg->gossip.round);
    } else if ((unsigned)msg->type <= (unsigned)GS_MSG_IHAVE) {
        bodylen = gs_codec_body_len(msg);
    } else {
        return GS_ERR_INVAL;
    }
    return on_message(node, from, topic, msg, bodylen, NULL);
}

int gs_node_on_frame(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                     const uint8_t *body, size_t len, gs_tstamp now)
{
    gs_msg msg;
    int rv;

    gs_ctx_begin(&node->ctx, now);
    rv = gs_codec_decode(&msg, body, len, NULL);
    if (rv != 0) {
        ++node->ctx.c.decode_errors;
        return rv;
    }
    return on_message(node, from, topic, &msg, len, NULL);
}

/*
 * gs_node_on_frames works through |frames| in groups of FRAMES_GROUP: decode the group, hash the
 * content of every Gossip that will reach PlumTree (not from our own id, on a joined topic) in one
 * gs_blake3_hash_many call, then run each frame exactly as gs_node_on_frame would, in order, with
 * the id already computed.  Nothing a frame does can change whether a later frame's topic is
 * joined or its sender is us, so deciding which Gossip to hash before processing is exact.
 */
#define FRAMES_GROUP 64

void gs_node_on_frames(gs_node *node, gs_node_frame *frames, size_t n, gs_tstamp now)
{
    gs_msg msg[FRAMES_GROUP];
    const uint8_t *hin[FRAMES_GROUP];
    size_t hlen[FRAMES_GROUP];
    uint8_t hout[FRAMES_GROUP][GS_BLAKE3_OUT_LEN];
    int8_t hslot[FRAMES_GROUP]; /* frame -> index into hout, or -1 */

    for (size_t base = 0; base < n; base += FRAMES_GROUP) {
        size_t k = n - base < FRAMES_GROUP ? n - base : FRAMES_GROUP;
        size_t nh = 0;
        for (size_t i = 0; i < k; ++i) {
            gs_node_frame *f = &frames[base + i];
            hslot[i] = -1;
            f->rv = gs_codec_decode(&msg[i], f->body, f->len, NULL);
            if (f->rv == 0 && msg[i].type == GS_MSG_GOSSIP &&
                !gs_key_eq(f->from, &node->ctx.self) && find_topic(node, f->topic) != NULL) {
                hin[nh] = msg[i].gossip.content.base;
                hlen[nh] = msg[i].gossip.content.len;
                hslot[i] = (int8_t)nh++;
            }
        }
        if (nh > 0) {
            gs_blake3_hash_many(hin, hlen, nh, hout);
        }
        for (size_t i = 0; i < k; ++i) {
            gs_node_frame *f = &frames[base + i];
            gs_ctx_begin(&node->ctx, now); /* per frame, as one gs_node_on_frame call each */
            if (f->rv != 0) {
                ++node->ctx.c.decode_errors;
                continue;
            }
            const gs_msg_id *hashed = NULL;
            if (hslot[i] >= 0) {
                hashed = (const gs_msg_id *)(const void *)hout[hslot[i]];
            }
            f->rv = on_message(node, f->from, f->topic, &msg[i], f->len, hashed);
        }
    }
}

gs_tstamp gs_node_get_expiry(const gs_node *node)
{
    return gs_timerq_peek(&node->ctx.timers);
}

void gs_node_handle_expiry(gs_node *node, gs_tstamp now)
{
    gs_timer tm;

    gs_ctx_begin(&node->ctx, now);
    while (gs_timerq_pop_due(&node->ctx.timers, now, &tm)) {
        ++node->ctx.c.actor_tick_timers;
        gs_topic *t = tm.topic < node->ctx.cfg.max_topics ? node->topics[tm.topic] : NULL;
        if (t == NULL || t->gen != tm.topic_gen) {
            continue; /* the topic was quit (7): its timers are ignored */
        }
        switch (tm.kind) {
        case GS_TIMER_SHUFFLE:
        case GS_TIMER_PENDING:
        case GS_TIMER_JOIN_RETRY:
            gs_hyparview_on_timer(t, &tm);
            break;
        case GS_TIMER_DISPATCH:
        case GS_TIMER_EVICT:
        case GS_TIMER_GRAFT:
            gs_plumtree_on_timer(t, &tm);
            break;
        default:
            break;
        }
    }
}

bool gs_node_next_out(gs_node *node, gs_node_out *out)
{
    if (node->ctx.outpos >= node->ctx.nout) {
        return false;
    }
    *out = node->ctx.outbox[node->ctx.outpos++];
    return true;
}

const gs_node_counters *gs_node_counters_get(const gs_node *node)
{
    return &node->ctx.c;
}

const gs_key *gs_node_self(const gs_node *node)
{
    return &node->ctx.self;
}

bool gs_node_is_joined(const gs_node *node, const gs_topic_id *topic)
{
    return find_topic(node, topic) != NULL;
}

size_t gs_node_ntopics(const gs_node *node)
{
    return node->ntopics;
}

size_t gs_node_active_view(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->view.nactive && i < max; ++i) {
        out[i] = t->view.active[i].rec.id;
    }
    return t->view.nactive;
}

size_t gs_node_passive_view(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->view.npassive && i < max; ++i) {
        out[i] = t->view.passive[i].id;
    }
    return t->view.npassive;
}

static size_t role_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max,
                         bool eager)
{
    const gs_topic *t = find_topic(node, topic);
    size_t n = 0;

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->view.nactive; ++i) {
        if (t->view.active[i].eager == eager) {
            if (n < max) {
                out[n] = t->view.active[i].rec.id;
            }
            ++n;
        }
    }
    return n;
}

size_t gs_node_eager_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    return role_peers(node, topic, out, max, true);
}

size_t gs_node_lazy_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    return role_peers(node, topic, out, max, false);
}

size_t gs_node_pending_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->view.npending && i < max; ++i) {
        out[i] = t->view.pending[i].id;
    }
    return t->view.npending;
}

int gs_node_topic_stats_get(const gs_node *node, const gs_topic_id *topic, gs_node_topic_stats *st)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    *st = t->stats;
    gs_plumtree_stats_get(t, st);
    return 0;
}

size_t gs_node_mem_in_use(const gs_node *node)
{
    return node->ctx.bytes;
}
