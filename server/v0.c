/* SPDX-License-Identifier: MIT */
/*
 * v0.c: wire-version policy for peer lists (v0.h).
 */
#include "v0.h"

#include "quic.h"

/* speaks_not: |s| is known (complete) not to include the version bit |bit|. */
static bool speaks_not(unsigned s, unsigned bit)
{
    return (s & GS_QUIC_SPEAKS_COMPLETE) != 0 && (s & bit) == 0;
}

bool gs_v0_can_introduce(unsigned q, unsigned p)
{
    static const unsigned bits[2] = {GS_QUIC_SPEAKS_V0, GS_QUIC_SPEAKS_V1};

    for (size_t i = 0; i < 2; ++i) {
        if (!speaks_not(q, bits[i]) && !speaks_not(p, bits[i])) {
            return true;
        }
    }
    return false;
}

/* filter_list keeps the entries of |l| that |to| can reach; see gs_v0_filter. */
static gs_v0_verdict filter_list(gs_peer_list *l, unsigned to, gs_v0_lookup_fn *lookup,
                                 void *user_data, gs_peer_info *scratch, size_t cap,
                                 size_t *removed)
{
    gs_list_iter it;
    gs_peer_info pi;
    size_t k = 0;
    size_t drop = 0;

    if (l->n > cap) {
        return GS_V0_SEND;
    }
    gs_peer_list_iter_init(&it, l);
    while (gs_peer_list_next(&it, &pi)) {
        if (gs_v0_can_introduce(to, lookup(user_data, &pi.id))) {
            scratch[k++] = pi;
        } else {
            ++drop;
        }
    }
    if (drop == 0) {
        return GS_V0_SEND;
    }
    l->n = k;
    l->items = scratch;
    l->raw.base = NULL;
    l->raw.len = 0;
    *removed = drop;
    return GS_V0_CHANGED;
}

gs_v0_verdict gs_v0_filter(gs_msg *msg, unsigned to, gs_v0_lookup_fn *lookup, void *user_data,
                           gs_peer_info *scratch, size_t cap, size_t *removed)
{
    size_t dummy = 0;

    if (removed == NULL) {
        removed = &dummy;
    }
    *removed = 0;
    switch (msg->type) {
    case GS_MSG_FORWARD_JOIN:
        if (!gs_v0_can_introduce(to, lookup(user_data, &msg->forward_join.peer.id))) {
            *removed = 1;
            return GS_V0_DROP;
        }
        return GS_V0_SEND;
    case GS_MSG_SHUFFLE:
        if (!gs_v0_can_introduce(to, lookup(user_data, &msg->shuffle.origin))) {
            return GS_V0_DROP;
        }
        return filter_list(&msg->shuffle.nodes, to, lookup, user_data, scratch, cap, removed);
    case GS_MSG_SHUFFLE_REPLY:
        return filter_list(&msg->shuffle_reply.nodes, to, lookup, user_data, scratch, cap, removed);
    default:
        return GS_V0_SEND;
    }
}

int gs_v0_msg_type(const uint8_t *body, size_t len)
{
    if (len < 2) {
        return -1;
    }
    if (body[0] == 0 && body[1] <= 5) {
        return body[1]; /* HyParView: Join .. Disconnect */
    }
    if (body[0] == 1 && body[1] <= 3) {
        return 6 + body[1]; /* PlumTree: Gossip, Prune, Graft, IHave */
    }
    return -1;
}

const char *gs_v0_msg_type_name(int t)
{
    static const char *const names[10] = {"Join",     "ForwardJoin", "Shuffle", "ShuffleReply",
                                          "Neighbor", "Disconnect",  "Gossip",  "Prune",
                                          "Graft",    "IHave"};
    return t >= 0 && t < 10 ? names[t] : "?";
}
