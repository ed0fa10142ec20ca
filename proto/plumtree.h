/* SPDX-License-Identifier: MIT */
/*
 * plumtree.h: PlumTree broadcast for one topic (PROTOCOL.md 6 with the fixes of section 9),
 * internal to proto/.  Operates on a gs_topic (topic.h).
 *
 * Section 9 fixes here: Neighbors-scope broadcasts reach every active peer (D5); oversize
 * broadcasts are refused and unforwardable received messages are delivered but not forwarded
 * (D6); rounds saturate at 65535 (D7); IHave is accepted only from active peers, `missing` is
 * bounded in ids and announcers per id, emptied entries are removed, eager/lazy stay subsets of
 * the active view and at most one graft timer per id is live (D8); a peer's queued IHaves are
 * dropped when it leaves the active view (D10).  IHave queues are flushed as soon as they hold C
 * entries (the wire result is the same chunks, sent earlier) so a queue never exceeds C.
 */
#ifndef GS_PROTO_PLUMTREE_H
#define GS_PROTO_PLUMTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "topic.h"

/* gs_plumtree_init allocates |t|'s message log and missing map.  Returns 0 or GS_ERR_NOMEM. */
int gs_plumtree_init(gs_topic *t);

/* gs_plumtree_free releases what gs_plumtree_init allocated. */
void gs_plumtree_free(gs_topic *t);

/*
 * gs_plumtree_on_message handles a PlumTree message (types 6..9) from |from|.  For a Gossip,
 * |hashed| is BLAKE3 of its content when the caller already computed it (a batch verified many
 * at once), or NULL to hash it here.  Returns 0 or GS_ERR_BAD_ID (Gossip id is not
 * BLAKE3(content); dropped and counted).
 */
int gs_plumtree_on_message(gs_topic *t, const gs_key *from, const gs_msg *msg,
                           const gs_msg_id *hashed);

/*
 * gs_plumtree_broadcast publishes |content| with |scope| (6.3, D5, D6).  Stores the id in |*pid|
 * if not NULL.  Returns 0, GS_ERR_MSG_TOO_LARGE or GS_ERR_NOMEM.
 */
int gs_plumtree_broadcast(gs_topic *t, const uint8_t *content, size_t len, gs_scope scope,
                          gs_msg_id *pid);

/* gs_plumtree_on_neighbor_down forgets |peer|'s announcements (6.3 NeighborDown). */
void gs_plumtree_on_neighbor_down(gs_topic *t, const gs_key *peer);

/* gs_plumtree_push_dropped queues an IHave{|id|, |round|} for active peer |peer| (its eager push
 * was dropped by the transport).  Returns 0 or GS_ERR_NOTFOUND (not an active peer). */
int gs_plumtree_push_dropped(gs_topic *t, const gs_key *peer, const gs_msg_id *id, uint16_t round);

/* gs_plumtree_on_timer handles DISPATCH, EVICT and GRAFT timers. */
void gs_plumtree_on_timer(gs_topic *t, const gs_timer *tm);

/* gs_plumtree_stats_get fills the size fields of |st| (the counters live in the topic). */
void gs_plumtree_stats_get(const gs_topic *t, gs_node_topic_stats *st);

/* gs_plumtree_gossip_body_len returns the body length of a Gossip with a |len|-byte content. */
size_t gs_plumtree_gossip_body_len(size_t len, gs_scope scope, uint16_t round);

#endif /* GS_PROTO_PLUMTREE_H */
