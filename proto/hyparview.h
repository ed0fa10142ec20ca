/* SPDX-License-Identifier: MIT */
/*
 * hyparview.h: HyParView membership for one topic (PROTOCOL.md 5), internal to proto/.
 *
 * Operates on a gs_topic (topic.h); sends, events, closes and timers go through the node services
 * declared there.  Differences from the reference are the section 9 fixes: Neighbor *replies* are
 * never pending (D3), walks are clamped and our own id is ignored everywhere (D12), control
 * messages are trimmed to fit M (D13), NeighborDown carries a reason (D15), Joins are retried while
 * isolated (D16), PeerData lives only in active/passive records (D10), and every outstanding
 * Neighbor request times out (the reference sets the timeout only on refill requests).
 */
#ifndef GS_PROTO_HYPARVIEW_H
#define GS_PROTO_HYPARVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "topic.h"

/* gs_hyparview_init allocates |t|'s views.  Returns 0 or GS_ERR_NOMEM (nothing to free). */
int gs_hyparview_init(gs_topic *t);

/* gs_hyparview_free releases |t|'s views and PeerData (no messages). */
void gs_hyparview_free(gs_topic *t);

/*
 * gs_hyparview_join sends Join(own data) to each of |peers| (not to ourselves) and remembers up to
 * max_bootstrap of them for retries; arms the retry timer while the active view is empty.
 */
void gs_hyparview_join(gs_topic *t, const gs_key *peers, size_t npeers);

/* gs_hyparview_on_message handles a HyParView message (types 0..5) from |from| (5.3). */
void gs_hyparview_on_message(gs_topic *t, const gs_key *from, const gs_msg *msg);

/* gs_hyparview_after_message applies "if the sender is not active now, close it" (5.3). */
void gs_hyparview_after_message(gs_topic *t, const gs_key *from);

/* gs_hyparview_on_peer_disconnected handles the peer-disconnected event (5.4). */
void gs_hyparview_on_peer_disconnected(gs_topic *t, const gs_key *peer);

/* gs_hyparview_on_timer handles SHUFFLE, PENDING and JOIN_RETRY timers. */
void gs_hyparview_on_timer(gs_topic *t, const gs_timer *tm);

/* gs_hyparview_shuffle_next returns when the next shuffle is due (shuffle_early, doubling, while
 * the passive view is thin; else shuffle_interval) and advances the early back-off. */
gs_duration gs_hyparview_shuffle_next(gs_topic *t);

/* gs_hyparview_quit disconnects every neighbour (ShuffleReply + Disconnect{alive: false}) without
 * NeighborDown events, and closes peers with outstanding requests. */
void gs_hyparview_quit(gs_topic *t);

/* gs_hyparview_join_retry_first returns the first Join retry delay (D16): join_retry_initial,
 * or with cfg.rtt_timeouts the round-trip-scaled wait plus dial_allowance if longer. */
gs_duration gs_hyparview_join_retry_first(const gs_topic *t);

#endif /* GS_PROTO_HYPARVIEW_H */
