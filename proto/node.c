/* SPDX-License-Identifier: MIT */
/*
 * node.c: the gossip node (node.h): topic multiplexing (PROTOCOL.md 7), the outbox, the timer
 * queue, the scratch memory outbox entries borrow, and the counters.
 *
 * Outbox and scratch are reset at the start of an input call once the caller has drained every
 * entry, so in steady state no allocation happens per message: the outbox array and one scratch
 * chunk are reused.  Connection reference counting (D9): a topic's close(p) becomes a DISCONNECT
 * command only when no topic has p in its active view or among its outstanding Neighbor requests;
 * the check scans the topics (at most max_topics, each with small bounded arrays), so the count
 * is always exact and cannot drift.
 */
#include "node.h"

#include <assert.h>
#include <string.h>

#include "blake3.h"
#include "hyparview.h"
#include "plumtree.h"
#include "topic.h"

#define SCRATCH_CHUNK_MIN ((size_t)64 * 1024)

typedef struct gs_scratch_chunk {
    struct gs_scratch_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) uint8_t data[];
} gs_scratch_chunk;

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
        cfg->max_outbox < 16 || cfg->max_scratch_bytes < 4 * cfg->max_message_size) {
        return GS_ERR_INVAL;
    }
    return 0;
}

/* --- memory --- */

void *gs_topic_alloc(gs_node *node, size_t size)
{
    void *p = gs_mem_malloc(node->mem, size == 0 ? 1 : size);

    if (p != NULL) {
        node->bytes += size;
    }
    return p;
}

void *gs_topic_calloc(gs_node *node, size_t n, size_t size)
{
    void *p = gs_mem_calloc(node->mem, n == 0 ? 1 : n, size == 0 ? 1 : size);

    if (p != NULL) {
        node->bytes += n * size;
    }
    return p;
}

void gs_topic_free(gs_node *node, void *p, size_t size)
{
    if (p != NULL) {
        gs_mem_free(node->mem, p);
        node->bytes -= size;
    }
}

static void scratch_free_all(gs_node *node)
{
    while (node->scratch != NULL) {
        gs_scratch_chunk *c = node->scratch;
        node->scratch = c->next;
        gs_topic_free(node, c, sizeof(*c) + c->cap);
    }
    node->scratch_used = 0;
}

/* scratch_reset rewinds the scratch memory; several chunks are merged into one so that the
 * steady state is one chunk reused by every call. */
static void scratch_reset(gs_node *node)
{
    if (node->scratch == NULL) {
        return;
    }
    if (node->scratch->next == NULL) {
        node->scratch->used = 0;
        return;
    }
    size_t total = node->scratch_used;
    scratch_free_all(node);
    gs_scratch_chunk *c = gs_topic_alloc(node, sizeof(*c) + total);
    if (c != NULL) {
        c->next = NULL;
        c->cap = total;
        c->used = 0;
        node->scratch = c;
        node->scratch_used = total;
    }
}

void *gs_topic_scratch(gs_topic *t, size_t n)
{
    gs_node *node = t->node;
    gs_scratch_chunk *c = node->scratch;
    size_t need = (n + 15u) & ~(size_t)15u;

    if (need == 0) {
        need = 16;
    }
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > SCRATCH_CHUNK_MIN ? need : SCRATCH_CHUNK_MIN;
        size_t left = node->cfg.max_scratch_bytes > node->scratch_used
                          ? node->cfg.max_scratch_bytes - node->scratch_used
                          : 0;
        if (cap > left && need <= left) {
            cap = left; /* a budget below SCRATCH_CHUNK_MIN is still usable */
        }
        if (node->scratch_used + cap > node->cfg.max_scratch_bytes) {
            ++node->c.outbox_full;
            return NULL;
        }
        c = gs_topic_alloc(node, sizeof(*c) + cap);
        if (c == NULL) {
            ++node->c.nomem;
            return NULL;
        }
        c->next = node->scratch;
        c->cap = cap;
        c->used = 0;
        node->scratch = c;
        node->scratch_used += cap;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

/* --- outbox --- */

static gs_node_out *out_push(gs_node *node)
{
    if (node->nout == node->outcap) {
        if (node->outcap >= node->cfg.max_outbox) {
            ++node->c.outbox_full;
            return NULL;
        }
        size_t ncap = node->outcap == 0 ? 64 : node->outcap * 2;
        if (ncap > node->cfg.max_outbox) {
            ncap = node->cfg.max_outbox;
        }
        gs_node_out *o = gs_mem_realloc(node->mem, node->outbox, ncap * sizeof(*o));
        if (o == NULL) {
            ++node->c.nomem;
            return NULL;
        }
        node->bytes += (ncap - node->outcap) * sizeof(*o);
        node->outbox = o;
        node->outcap = ncap;
    }
    gs_node_out *o = &node->outbox[node->nout++];
    memset(o, 0, sizeof(*o));
    return o;
}

/* begin_call starts an input call: once everything was drained, outbox and scratch are reused. */
static void begin_call(gs_node *node, gs_tstamp now)
{
    if (node->outpos >= node->nout) {
        node->nout = node->outpos = 0;
        node->last_send = 0;
        ++node->out_epoch;
        scratch_reset(node);
    }
    node->now = now;
    node->has_last_closed = false;
}

static void count_sent(gs_node *node, const gs_msg *msg, size_t bodylen)
{
    if (msg->type == GS_MSG_GOSSIP) {
        ++node->c.msgs_data_sent;
        node->c.msgs_data_sent_size += bodylen + 32;
    } else {
        ++node->c.msgs_ctrl_sent;
        node->c.msgs_ctrl_sent_size += bodylen + 32;
    }
}

/*
 * same_msg returns true if |a| and |b| encode to the same frame.  Only Gossip is compared (the one
 * message sent to many peers in a row): same id, scope, round and content bytes (the same pointer:
 * every fan-out shares one copy; anything else answers false, which only costs an encoding).
 */
static bool same_msg(const gs_msg *a, const gs_msg *b)
{
    return a->type == GS_MSG_GOSSIP && b->type == GS_MSG_GOSSIP &&
           a->gossip.scope == b->gossip.scope && a->gossip.round == b->gossip.round &&
           a->gossip.content.len == b->gossip.content.len &&
           a->gossip.content.base == b->gossip.content.base &&
           memcmp(a->gossip.id.b, b->gossip.id.b, sizeof(a->gossip.id.b)) == 0;
}

void gs_topic_send_gossip(gs_topic *t, const gs_key *peer, const gs_msg *msg, size_t bodylen)
{
    gs_node *node = t->node;

    if (gs_key_eq(peer, &node->self)) {
        ++node->c.self_refs; /* D12: never send to ourselves */
        return;
    }
    if (node->has_last_closed && gs_key_eq(peer, &node->last_closed)) {
        node->has_last_closed = false; /* in use again: a later close must be emitted */
    }
    gs_node_out *o = out_push(node);
    if (o == NULL) {
        return;
    }
    /* Encode-once contract (node.h): the flag is decided here, where every producer's SENDs meet,
     * against the newest SEND actually in the outbox, whatever came between (IHave flushes,
     * Prunes, Grafts, events, DISCONNECTs, dropped entries). */
    assert(node->last_send < node->nout);
    if (node->last_send > 0 && same_msg(&node->outbox[node->last_send - 1].msg, msg)) {
        o->flags = GS_NODE_OUT_FLAG_SAME_MSG;
    }
    o->type = GS_NODE_OUT_SEND;
    o->peer = *peer;
    o->topic = t->id;
    o->msg = *msg;
    node->last_send = node->nout; /* o is outbox[nout - 1] */
    count_sent(node, msg, bodylen);
}

void gs_topic_send(gs_topic *t, const gs_key *peer, const gs_msg *msg)
{
    size_t bodylen = gs_codec_body_len(msg);

    if (bodylen >= t->node->cfg.max_message_size) {
        ++t->node->c.ctrl_truncated; /* D13: would be refused by every receiver */
        return;
    }
    gs_topic_send_gossip(t, peer, msg, bodylen);
}

gs_node_out *gs_topic_event_slot(gs_topic *t)
{
    gs_node_out *o = out_push(t->node);

    if (o != NULL) {
        o->type = GS_NODE_OUT_EVENT;
        o->topic = t->id;
    }
    return o;
}

void gs_topic_event(gs_topic *t, gs_node_out *ev)
{
    gs_node_out *o = out_push(t->node);

    if (o == NULL) {
        return;
    }
    *o = *ev;
    o->type = GS_NODE_OUT_EVENT;
    o->topic = t->id;
}

bool gs_topic_uses(const gs_topic *t, const gs_key *peer)
{
    return gs_hyparview_active_find(t, peer) >= 0 || gs_hyparview_pending_find(t, peer) >= 0;
}

void gs_topic_close(gs_topic *t, const gs_key *peer)
{
    gs_node *node = t->node;

    if (gs_key_eq(peer, &node->self) ||
        (node->has_last_closed && gs_key_eq(peer, &node->last_closed))) {
        return;
    }
    for (size_t i = 0; i < node->cfg.max_topics; ++i) {
        const gs_topic *u = node->topics[i];
        if (u != NULL && gs_topic_uses(u, peer)) {
            return; /* D9: another topic (or this one) still needs the connection */
        }
    }
    gs_node_out *o = out_push(node);
    if (o == NULL) {
        return;
    }
    o->type = GS_NODE_OUT_DISCONNECT;
    o->peer = *peer;
    o->topic = t->id;
    node->last_closed = *peer;
    node->has_last_closed = true;
    ++node->c.disconnects;
}

int gs_topic_schedule(gs_topic *t, uint32_t kind, gs_duration after, uint32_t gen,
                      const uint8_t *key)
{
    gs_node *node = t->node;
    gs_timer tm;

    memset(&tm, 0, sizeof(tm));
    tm.deadline = gs_tstamp_add(node->now, after);
    tm.topic = t->slot;
    tm.topic_gen = t->gen;
    tm.kind = kind;
    tm.gen = gen;
    if (key != NULL) {
        memcpy(tm.key, key, sizeof(tm.key));
    }
    /* Each topic has at most one live SHUFFLE, EVICT, DISPATCH and JOIN_RETRY timer; they must
     * never be refused (a lost periodic timer would stop shuffling or eviction for good), so the
     * per-id timers (PENDING, GRAFT) may not use the last 4 * max_topics slots. */
    if ((kind == GS_TIMER_PENDING || kind == GS_TIMER_GRAFT) &&
        node->timers.n + 4 * node->cfg.max_topics >= node->cfg.max_timers) {
        ++node->c.timers_full;
        return GS_ERR_LIMIT;
    }
    int rv = gs_timerq_push(&node->timers, &tm);
    if (rv == GS_ERR_LIMIT) {
        ++node->c.timers_full;
    } else if (rv != 0) {
        ++node->c.nomem;
    }
    return rv;
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
    node->cfg = *cfg;
    node->self = *self_id;
    node->mem = mem;
    node->bytes = sizeof(*node);
    node->out_epoch = 1;
    gs_rand_seed(&node->rng, seed);
    node->ihave_chunk = (cfg->max_message_size - 33 - 3) / 35;
    node->topics = gs_topic_calloc(node, cfg->max_topics, sizeof(gs_topic *));
    if (node->topics == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_topics;
    }
    (void)gs_timerq_init(&node->timers, cfg->max_timers, mem, &node->bytes);
    *pnode = node;
    return 0;

fail_topics:
    gs_mem_free(mem, node);
    return rv;
}

static void topic_del(gs_node *node, gs_topic *t)
{
    gs_plumtree_free(t);
    gs_hyparview_free(t);
    gs_topic_free(node, t, sizeof(*t));
}

void gs_node_del(gs_node *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->cfg.max_topics; ++i) {
        if (node->topics[i] != NULL) {
            topic_del(node, node->topics[i]);
        }
    }
    gs_topic_free(node, node->topics, node->cfg.max_topics * sizeof(gs_topic *));
    gs_timerq_free(&node->timers);
    scratch_free_all(node);
    if (node->outbox != NULL) {
        gs_mem_free(node->mem, node->outbox);
    }
    if (node->own_data != NULL) {
        gs_mem_free(node->mem, node->own_data);
    }
    gs_mem_free(node->mem, node);
}

static gs_topic *find_topic(const gs_node *node, const gs_topic_id *id)
{
    gs_topic *t = node->last_topic;

    if (t != NULL && memcmp(t->id.b, id->b, sizeof(id->b)) == 0) {
        return t;
    }
    for (size_t i = 0; i < node->cfg.max_topics; ++i) {
        t = node->topics[i];
        if (t != NULL && memcmp(t->id.b, id->b, sizeof(id->b)) == 0) {
            return t;
        }
    }
    return NULL;
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
    size_t slot = node->cfg.max_topics;
    gs_topic *t;
    int rv;

    for (size_t i = 0; i < node->cfg.max_topics; ++i) {
        if (node->topics[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot == node->cfg.max_topics) {
        return GS_ERR_LIMIT;
    }
    t = gs_topic_calloc(node, 1, sizeof(*t));
    if (t == NULL) {
        return GS_ERR_NOMEM;
    }
    t->node = node;
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
    ++node->ntopics;
    /* First event of the topic (5.4, 6.3): the periodic timers start now. */
    (void)gs_topic_schedule(t, GS_TIMER_SHUFFLE, node->cfg.shuffle_interval, 0, NULL);
    (void)gs_topic_schedule(t, GS_TIMER_EVICT, node->cfg.cache_evict_interval, 0, NULL);
    *pt = t;
    return 0;

fail_pt:
    gs_hyparview_free(t);
fail_hpv:
    gs_topic_free(node, t, sizeof(*t));
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
    begin_call(node, now);
    ++node->c.actor_tick_rx;
    if (len > node->cfg.max_peer_data_len || neighbor_body_len(len) >= node->cfg.max_message_size) {
        return GS_ERR_MSG_TOO_LARGE;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = gs_topic_alloc(node, len);
        if (copy == NULL) {
            return GS_ERR_NOMEM;
        }
        memcpy(copy, data, len);
    }
    gs_topic_free(node, node->own_data, node->own_len);
    node->own_data = copy;
    node->own_len = len;
    node->has_own = true;
    return 0;
}

int gs_node_join(gs_node *node, const gs_topic_id *topic, const gs_key *peers, size_t npeers,
                 gs_tstamp now)
{
    begin_call(node, now);
    ++node->c.actor_tick_rx;
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
    begin_call(node, now);
    ++node->c.actor_tick_rx;
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
    begin_call(node, now);
    ++node->c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    if (scope != GS_SCOPE_SWARM && scope != GS_SCOPE_NEIGHBORS) {
        return GS_ERR_INVAL;
    }
    return gs_plumtree_broadcast(t, content, len, scope, pid);
}

int gs_node_quit(gs_node *node, const gs_topic_id *topic, gs_tstamp now)
{
    begin_call(node, now);
    ++node->c.actor_tick_rx;
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    gs_hyparview_quit(t);
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
    begin_call(node, now);
    ++node->c.actor_tick_in_event_rx;
    for (size_t i = 0; i < node->cfg.max_topics; ++i) {
        if (node->topics[i] != NULL) {
            gs_hyparview_on_peer_disconnected(node->topics[i], peer);
        }
    }
}

/* on_message: see gs_node_on_message; |hashed| as in gs_plumtree_on_message. */
static int on_message(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                      const gs_msg *msg, size_t bodylen, const gs_msg_id *hashed)
{
    ++node->c.actor_tick_in_event_rx;
    if (msg->type == GS_MSG_GOSSIP) {
        ++node->c.msgs_data_recv;
        node->c.msgs_data_recv_size += bodylen + 32;
    } else {
        ++node->c.msgs_ctrl_recv;
        node->c.msgs_ctrl_recv_size += bodylen + 32;
    }
    if (gs_key_eq(from, &node->self)) {
        ++node->c.from_self;
        return GS_ERR_SELF;
    }
    gs_topic *t = lookup(node, topic);
    if (t == NULL) {
        ++node->c.unknown_topic; /* 7: dropped, no reply, no close */
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

    begin_call(node, now);
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

    begin_call(node, now);
    rv = gs_codec_decode(&msg, body, len, NULL);
    if (rv != 0) {
        ++node->c.decode_errors;
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
            if (f->rv == 0 && msg[i].type == GS_MSG_GOSSIP && !gs_key_eq(f->from, &node->self) &&
                find_topic(node, f->topic) != NULL) {
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
            begin_call(node, now); /* per frame, as one gs_node_on_frame call each */
            if (f->rv != 0) {
                ++node->c.decode_errors;
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
    return gs_timerq_peek(&node->timers);
}

void gs_node_handle_expiry(gs_node *node, gs_tstamp now)
{
    gs_timer tm;

    begin_call(node, now);
    while (gs_timerq_pop_due(&node->timers, now, &tm)) {
        ++node->c.actor_tick_timers;
        gs_topic *t = tm.topic < node->cfg.max_topics ? node->topics[tm.topic] : NULL;
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
    if (node->outpos >= node->nout) {
        return false;
    }
    *out = node->outbox[node->outpos++];
    return true;
}

const gs_node_counters *gs_node_counters_get(const gs_node *node)
{
    return &node->c;
}

const gs_key *gs_node_self(const gs_node *node)
{
    return &node->self;
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
    for (size_t i = 0; i < t->nactive && i < max; ++i) {
        out[i] = t->active[i].rec.id;
    }
    return t->nactive;
}

size_t gs_node_passive_view(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->npassive && i < max; ++i) {
        out[i] = t->passive[i].id;
    }
    return t->npassive;
}

static size_t role_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max,
                         bool eager)
{
    const gs_topic *t = find_topic(node, topic);
    size_t n = 0;

    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->nactive; ++i) {
        if (t->active[i].eager == eager) {
            if (n < max) {
                out[n] = t->active[i].rec.id;
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
    for (size_t i = 0; i < t->npending && i < max; ++i) {
        out[i] = t->pending[i].id;
    }
    return t->npending;
}

int gs_node_topic_stats_get(const gs_node *node, const gs_topic_id *topic, gs_node_topic_stats *st)
{
    const gs_topic *t = find_topic(node, topic);

    if (t == NULL) {
        return GS_ERR_NOT_JOINED;
    }
    *st = t->stats;
    gs_plumtree_stats(t, st);
    return 0;
}

size_t gs_node_mem_in_use(const gs_node *node)
{
    return node->bytes;
}
