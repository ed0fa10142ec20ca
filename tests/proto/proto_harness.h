/* SPDX-License-Identifier: MIT */
/*
 * proto_harness.h: helpers for the node/HyParView/PlumTree tests: ids, message builders, a node
 * in a known state, and an outbox capture with queries.  Virtual time only.
 */
#ifndef GS_TESTS_PROTO_HARNESS_H
#define GS_TESTS_PROTO_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blake3.h"
#include "codec.h"
#include "fake_mem.h"
#include "node.h"

#define H_MAXOUT 4096
#define H_MS     GS_MILLISECONDS
#define H_SEC    GS_SECONDS

typedef struct h_cap {
    gs_node_out out[H_MAXOUT];
    size_t n;
} h_cap;

static inline gs_key h_key(unsigned n)
{
    gs_key k;

    memset(&k, 0, sizeof(k));
    k.b[0] = (uint8_t)(n & 0xff);
    k.b[1] = (uint8_t)((n >> 8) & 0xff);
    k.b[2] = (uint8_t)((n >> 16) & 0xff);
    k.b[31] = 0x5a;
    return k;
}

static inline gs_topic_id h_topic(unsigned n)
{
    gs_topic_id t;

    memset(&t, 0xa0, sizeof(t));
    t.b[0] = (uint8_t)n;
    return t;
}

static inline bool h_key_eq(const gs_key *a, const gs_key *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* h_drain moves the node's outbox into |c| (replacing what was there). */
static inline size_t h_drain(gs_node *node, h_cap *c)
{
    gs_node_out o;

    c->n = 0;
    while (gs_node_next_out(node, &o)) {
        if (c->n < H_MAXOUT) {
            c->out[c->n++] = o;
        }
    }
    return c->n;
}

/* h_count_sends counts SENDs of |type| to |peer| (NULL: any peer). */
static inline size_t h_count_sends(const h_cap *c, gs_msg_type type, const gs_key *peer)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n; ++i) {
        const gs_node_out *o = &c->out[i];
        if (o->type == GS_NODE_OUT_SEND && o->msg.type == type &&
            (peer == NULL || h_key_eq(&o->peer, peer))) {
            ++n;
        }
    }
    return n;
}

/* h_find_send returns the first SEND of |type| to |peer| (NULL: any), or NULL. */
static inline const gs_node_out *h_find_send(const h_cap *c, gs_msg_type type, const gs_key *peer)
{
    for (size_t i = 0; i < c->n; ++i) {
        const gs_node_out *o = &c->out[i];
        if (o->type == GS_NODE_OUT_SEND && o->msg.type == type &&
            (peer == NULL || h_key_eq(&o->peer, peer))) {
            return o;
        }
    }
    return NULL;
}

static inline size_t h_count_events(const h_cap *c, gs_node_event ev, const gs_key *peer)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n; ++i) {
        const gs_node_out *o = &c->out[i];
        if (o->type == GS_NODE_OUT_EVENT && o->event == ev &&
            (peer == NULL || h_key_eq(&o->peer, peer))) {
            ++n;
        }
    }
    return n;
}

static inline const gs_node_out *h_find_event(const h_cap *c, gs_node_event ev, const gs_key *peer)
{
    for (size_t i = 0; i < c->n; ++i) {
        const gs_node_out *o = &c->out[i];
        if (o->type == GS_NODE_OUT_EVENT && o->event == ev &&
            (peer == NULL || h_key_eq(&o->peer, peer))) {
            return o;
        }
    }
    return NULL;
}

static inline size_t h_count_disconnects(const h_cap *c, const gs_key *peer)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n; ++i) {
        if (c->out[i].type == GS_NODE_OUT_DISCONNECT &&
            (peer == NULL || h_key_eq(&c->out[i].peer, peer))) {
            ++n;
        }
    }
    return n;
}

/* --- message builders --- */

static inline gs_msg h_join(void)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_JOIN;
    return m;
}

static inline gs_msg h_join_data(const char *data)
{
    gs_msg m = h_join();

    m.join.has_data = true;
    m.join.data.base = (const uint8_t *)data;
    m.join.data.len = strlen(data);
    return m;
}

static inline gs_msg h_neighbor(gs_priority prio)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_NEIGHBOR;
    m.neighbor.priority = prio;
    return m;
}

static inline gs_msg h_disconnect(bool alive)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_DISCONNECT;
    m.disconnect.alive = alive;
    return m;
}

static inline gs_msg h_forward_join(gs_key x, uint16_t ttl)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_FORWARD_JOIN;
    m.forward_join.peer.id = x;
    m.forward_join.ttl = ttl;
    return m;
}

static inline gs_msg h_shuffle(gs_key origin, const gs_peer_info *items, size_t n, uint16_t ttl)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE;
    m.shuffle.origin = origin;
    m.shuffle.nodes.items = items;
    m.shuffle.nodes.n = n;
    m.shuffle.ttl = ttl;
    return m;
}

static inline gs_msg h_shuffle_reply(const gs_peer_info *items, size_t n)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE_REPLY;
    m.shuffle_reply.nodes.items = items;
    m.shuffle_reply.nodes.n = n;
    return m;
}

static inline gs_msg h_gossip(const void *content, size_t len, uint16_t round)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_GOSSIP;
    gs_blake3_hash(content, len, m.gossip.id.b);
    m.gossip.content.base = content;
    m.gossip.content.len = len;
    m.gossip.scope = GS_SCOPE_SWARM;
    m.gossip.round = round;
    return m;
}

static inline gs_msg h_ihave(const gs_ihave_entry *e, size_t n)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_IHAVE;
    m.ihave.entries.items = e;
    m.ihave.entries.n = n;
    return m;
}

static inline gs_msg h_graft(const gs_msg_id *id, uint16_t round)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_GRAFT;
    if (id != NULL) {
        m.graft.has_id = true;
        m.graft.id = *id;
    }
    m.graft.round = round;
    return m;
}

static inline gs_msg h_prune(void)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_PRUNE;
    return m;
}

static inline gs_msg_id h_id_of(const void *content, size_t len)
{
    gs_msg_id id;

    gs_blake3_hash(content, len, id.b);
    return id;
}

/* --- nodes in known states --- */

static inline gs_node *h_node_cfg(const gs_node_cfg *cfg, unsigned self, const gs_mem *mem)
{
    gs_node *node = NULL;
    gs_key k = h_key(self);

    if (gs_node_new(&node, cfg, &k, 42, mem == NULL ? gs_mem_default() : mem) != 0) {
        abort();
    }
    return node;
}

/* h_node returns a node (id h_key(0)) that joined h_topic(1) with no bootstrap peers. */
static inline gs_node *h_node(void)
{
    gs_node_cfg cfg;
    gs_topic_id t = h_topic(1);

    gs_node_cfg_default(&cfg);
    gs_node *node = h_node_cfg(&cfg, 0, NULL);
    if (gs_node_join(node, &t, NULL, 0, 0) != 0) {
        abort();
    }
    return node;
}

/* h_msg delivers |m| from peer |from| on topic 1 at |now| and captures the outbox. */
static inline int h_msg(gs_node *node, h_cap *c, unsigned from, const gs_msg *m, gs_tstamp now)
{
    gs_topic_id t = h_topic(1);
    gs_key k = h_key(from);
    int rv = gs_node_on_message(node, &k, &t, m, now);

    h_drain(node, c);
    return rv;
}

/* h_neighbors makes peers first..first+n-1 active on topic 1 (each sends Neighbor High). */
static inline void h_neighbors(gs_node *node, h_cap *c, unsigned first, unsigned n, gs_tstamp now)
{
    gs_msg m = h_neighbor(GS_PRIORITY_HIGH);

    for (unsigned i = 0; i < n; ++i) {
        h_msg(node, c, first + i, &m, now);
    }
}

static inline size_t h_nactive(const gs_node *node)
{
    gs_topic_id t = h_topic(1);

    return gs_node_active_view(node, &t, NULL, 0);
}

static inline size_t h_npassive(const gs_node *node)
{
    gs_topic_id t = h_topic(1);

    return gs_node_passive_view(node, &t, NULL, 0);
}

static inline size_t h_npending(const gs_node *node)
{
    gs_topic_id t = h_topic(1);

    return gs_node_pending_peers(node, &t, NULL, 0);
}

static inline bool h_in_view(const gs_node *node, unsigned peer, bool active)
{
    gs_topic_id t = h_topic(1);
    gs_key keys[256];
    gs_key k = h_key(peer);
    size_t n = active ? gs_node_active_view(node, &t, keys, 256)
                      : gs_node_passive_view(node, &t, keys, 256);

    for (size_t i = 0; i < n && i < 256; ++i) {
        if (h_key_eq(&keys[i], &k)) {
            return true;
        }
    }
    return false;
}

static inline bool h_is_eager(const gs_node *node, unsigned peer)
{
    gs_topic_id t = h_topic(1);
    gs_key keys[256];
    gs_key k = h_key(peer);
    size_t n = gs_node_eager_peers(node, &t, keys, 256);

    for (size_t i = 0; i < n && i < 256; ++i) {
        if (h_key_eq(&keys[i], &k)) {
            return true;
        }
    }
    return false;
}

static inline void h_expire(gs_node *node, h_cap *c, gs_tstamp now)
{
    gs_node_handle_expiry(node, now);
    h_drain(node, c);
}

#endif /* GS_TESTS_PROTO_HARNESS_H */
