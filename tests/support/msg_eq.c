/* SPDX-License-Identifier: MIT */
/* msg_eq.c: see msg_eq.h. */
#include "msg_eq.h"

#include <string.h>

static bool bytes_eq(const gs_bytes *a, const gs_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

static bool opt_eq(bool ha, const gs_bytes *a, bool hb, const gs_bytes *b)
{
    return ha == hb && (!ha || bytes_eq(a, b));
}

static bool peer_eq(const gs_peer_info *a, const gs_peer_info *b)
{
    return memcmp(a->id.b, b->id.b, 32) == 0 &&
           opt_eq(a->has_data, &a->data, b->has_data, &b->data);
}

static bool peer_list_eq(const gs_peer_list *a, const gs_peer_list *b)
{
    gs_list_iter ia;
    gs_list_iter ib;
    gs_peer_info pa;
    gs_peer_info pb;
    size_t n = 0;

    if (a->n != b->n) {
        return false;
    }
    gs_peer_list_iter_init(&ia, a);
    gs_peer_list_iter_init(&ib, b);
    while (gs_peer_list_next(&ia, &pa)) {
        if (!gs_peer_list_next(&ib, &pb) || !peer_eq(&pa, &pb)) {
            return false;
        }
        ++n;
    }
    return n == a->n && !gs_peer_list_next(&ib, &pb);
}

static bool ihave_list_eq(const gs_ihave_list *a, const gs_ihave_list *b)
{
    gs_list_iter ia;
    gs_list_iter ib;
    gs_ihave_entry ea;
    gs_ihave_entry eb;
    size_t n = 0;

    if (a->n != b->n) {
        return false;
    }
    gs_ihave_list_iter_init(&ia, a);
    gs_ihave_list_iter_init(&ib, b);
    while (gs_ihave_list_next(&ia, &ea)) {
        if (!gs_ihave_list_next(&ib, &eb) || memcmp(ea.id.b, eb.id.b, 32) != 0 ||
            ea.round != eb.round) {
            return false;
        }
        ++n;
    }
    return n == a->n && !gs_ihave_list_next(&ib, &eb);
}

bool gs_test_msg_eq(const gs_msg *a, const gs_msg *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case GS_MSG_JOIN:
        return opt_eq(a->join.has_data, &a->join.data, b->join.has_data, &b->join.data);
    case GS_MSG_FORWARD_JOIN:
        return peer_eq(&a->forward_join.peer, &b->forward_join.peer) &&
               a->forward_join.ttl == b->forward_join.ttl;
    case GS_MSG_SHUFFLE:
        return memcmp(a->shuffle.origin.b, b->shuffle.origin.b, 32) == 0 &&
               peer_list_eq(&a->shuffle.nodes, &b->shuffle.nodes) &&
               a->shuffle.ttl == b->shuffle.ttl;
    case GS_MSG_SHUFFLE_REPLY:
        return peer_list_eq(&a->shuffle_reply.nodes, &b->shuffle_reply.nodes);
    case GS_MSG_NEIGHBOR:
        return a->neighbor.priority == b->neighbor.priority &&
               opt_eq(a->neighbor.has_data, &a->neighbor.data, b->neighbor.has_data,
                      &b->neighbor.data);
    case GS_MSG_DISCONNECT:
        return a->disconnect.alive == b->disconnect.alive;
    case GS_MSG_GOSSIP:
        return memcmp(a->gossip.id.b, b->gossip.id.b, 32) == 0 &&
               bytes_eq(&a->gossip.content, &b->gossip.content) &&
               a->gossip.scope == b->gossip.scope &&
               (a->gossip.scope != GS_SCOPE_SWARM || a->gossip.round == b->gossip.round);
    case GS_MSG_PRUNE:
        return true;
    case GS_MSG_GRAFT:
        return a->graft.has_id == b->graft.has_id && a->graft.round == b->graft.round &&
               (!a->graft.has_id || memcmp(a->graft.id.b, b->graft.id.b, 32) == 0);
    case GS_MSG_IHAVE:
        return ihave_list_eq(&a->ihave.entries, &b->ihave.entries);
    }
    return false;
}

/* peer_datas collects every PeerData of |m| (at most |max|); returns how many. */
