/* SPDX-License-Identifier: MIT */
/*
 * view.h: internal to proto/: one topic's membership state and its queries, below both
 * protocols.  HyParView (hyparview.c) changes it; PlumTree (plumtree.c) reads it and keeps its
 * eager/lazy role and IHave queue in each active member; the node answers the public view
 * queries from it.
 *
 * Peers are stored by value (32-byte ids) in small bounded arrays: the active view (capacity
 * active_view_capacity), the passive view (passive_view_capacity) and outstanding Neighbor
 * requests (max_pending).  PeerData is kept only in active and passive records (D10).
 * Invariants (asserted by gs_view_check): active, passive and pending hold distinct ids, never our
 * own; active and passive are disjoint; each array within its capacity; arrays are dense.
 */
#ifndef GS_PROTO_VIEW_H
#define GS_PROTO_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "gs_time.h"

/* gs_peer_rec: a peer in the active or passive view, with its latest PeerData. */
typedef struct gs_peer_rec {
    gs_key id;
    uint8_t *data; /* owned copy, NULL when unknown or empty */
    uint32_t datalen;
    bool has_data;
    bool alive; /* PROTOCOL.md 5.2 `alive`: keep in passive when its connection closes */
} gs_peer_rec;

/* gs_active: an active-view member with its PlumTree role and its IHave queue. */
typedef struct gs_active {
    gs_peer_rec rec;
    bool eager;            /* eager push peer; lazy otherwise (eager/lazy partition active) */
    bool neighbor_sent;    /* we sent it a Neighbor since it became active (see add_active) */
    uint16_t dup_run;      /* GS_BCAST_MANY: duplicates in a row from it, no first delivery */
    size_t nlazyq;         /* queued announcements, flushed at C entries or by the timer */
    size_t lazyq_cap;      /* entries allocated: 0 until the first announcement, grows to C */
    gs_ihave_entry *lazyq; /* lazyq_cap entries, owned by the slot (moves with swaps) */
} gs_active;

typedef struct gs_pending {
    gs_key id;
    uint32_t gen;
    gs_tstamp sent_at; /* when the request went out (round-trip sample when answered) */
} gs_pending;

typedef struct gs_view {
    gs_active *active;
    size_t nactive;
    gs_peer_rec *passive;
    size_t npassive;
    gs_pending *pending;
    size_t npending;
    uint32_t pending_gen;
} gs_view;

/* gs_view_active_find returns |peer|'s index in the active view, or -1. */
ptrdiff_t gs_view_active_find(const gs_view *v, const gs_key *peer);

/* gs_view_passive_find returns |peer|'s index in the passive view, or -1. */
ptrdiff_t gs_view_passive_find(const gs_view *v, const gs_key *peer);

/* gs_view_pending_find returns |peer|'s index among outstanding Neighbor requests, or -1. */
ptrdiff_t gs_view_pending_find(const gs_view *v, const gs_key *peer);

/* gs_view_uses returns true if |peer| is active or has an outstanding request (D9). */
bool gs_view_uses(const gs_view *v, const gs_key *peer);

/* gs_view_check asserts the invariants above for capacities |nact|, |npas|, |npend| and our id
 * |self| (O(n^2) in the small views: for debug builds and tests). */
void gs_view_check(const gs_view *v, size_t nact, size_t npas, size_t npend, const gs_key *self);

#endif /* GS_PROTO_VIEW_H */
