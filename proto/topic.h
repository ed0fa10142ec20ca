/* SPDX-License-Identifier: MIT */
/*
 * topic.h: internal to proto/ (not for io/ or server/): the state of one joined topic, shared by
 * hyparview.c (membership), plumtree.c (broadcast) and node.c (multiplexing, outbox, timers).
 *
 * Peers are stored by value (32-byte ids) in small bounded arrays: the active view (capacity
 * active_view_capacity), the passive view (passive_view_capacity) and outstanding Neighbor
 * requests (max_pending).  PeerData is kept only in active and passive records (D10), so its memory
 * is bounded by (active + passive) * max_peer_data_len per topic.
 *
 * PlumTree's `received` and `cache` share one FIFO log of records (ids arrive in time order and
 * both expiries are now + a constant, so both expire in log order): records in [head, cached) are
 * remembered ids only, records in [cached, tail) also own a payload in the byte ring.  An idmap
 * indexes the live records by id.  Both grow on demand up to max_received / cache_bytes; at the
 * bound the oldest entry is dropped early and counted.
 */
#ifndef GS_PROTO_TOPIC_H
#define GS_PROTO_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "gs_rand.h"
#include "idmap.h"
#include "node.h"
#include "timerq.h"

#include <string.h>

/* Timer kinds (gs_timer.kind). */
enum {
    GS_TIMER_SHUFFLE = 1,    /* DoShuffle (5.4) */
    GS_TIMER_PENDING = 2,    /* PendingNeighborRequest(key), gen = the request's generation */
    GS_TIMER_JOIN_RETRY = 3, /* D16 */
    GS_TIMER_DISPATCH = 4,   /* DispatchLazyPush (6.3) */
    GS_TIMER_EVICT = 5,      /* EvictCache (6.3) */
    GS_TIMER_GRAFT = 6,      /* SendGraft(key), gen = the missing entry's generation */
};

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
    size_t nlazyq;         /* queued announcements, flushed at C entries or by the timer */
    gs_ihave_entry *lazyq; /* C entries, owned by the slot (moves with swaps) */
} gs_active;

typedef struct gs_pending {
    gs_key id;
    uint32_t gen;
} gs_pending;

/* gs_pt_rec: one remembered message id, optionally with its cached payload. */
typedef struct gs_pt_rec {
    gs_msg_id id;
    gs_tstamp recv_expiry;
    gs_tstamp cache_expiry;
    uint64_t pos; /* payload position in the byte ring (monotonic) */
    uint32_t len;
    uint16_t round; /* round as forwarded (received + 1) */
    bool cached;    /* payload present (false for unforwardable messages) */
} gs_pt_rec;

/* gs_pt_missing: an id announced by IHave and not received yet. */
typedef struct gs_pt_missing {
    gs_msg_id id;
    uint32_t gen; /* bumped on every reuse of the slot: stale graft timers do nothing */
    bool used;
    bool graft_pending;
    uint16_t nann;
} gs_pt_missing;

typedef struct gs_pt_ann {
    gs_key peer;
    uint16_t round;
} gs_pt_ann;

typedef struct gs_topic {
    struct gs_node *node;
    gs_topic_id id;
    uint32_t slot;
    uint32_t gen;
    gs_rand rng;

    /* HyParView */
    gs_active *active;
    size_t nactive;
    gs_peer_rec *passive;
    size_t npassive;
    gs_pending *pending;
    size_t npending;
    uint32_t pending_gen;
    gs_key *bootstrap;
    size_t nbootstrap;
    bool join_retry_scheduled;
    gs_duration join_backoff;

    /* PlumTree: message log (received + cache) */
    gs_pt_rec *recs;
    size_t recs_cap; /* power of two */
    uint64_t rhead, rcached, rtail;
    gs_idmap recmap;
    uint8_t *ring;
    size_t ring_cap;
    uint64_t ring_rpos, ring_wpos;
    size_t ncached;
    /* Outbox pins (plumtree.c): while the node's out_epoch equals pin_epoch, ring bytes at
     * positions >= pin_pos are borrowed by outbox entries and must not be overwritten; rings
     * replaced by a growth in that epoch wait in the |retired| list until the epoch ends. */
    uint64_t pin_epoch;
    uint64_t pin_pos;
    uint8_t *retired;
    uint64_t retired_epoch;
    /* PlumTree: missing */
    gs_pt_missing *missing;
    gs_pt_ann *ann;
    uint32_t *missing_free;
    size_t missing_cap;
    size_t nmissing_free;
    gs_idmap missmap;
    bool dispatch_scheduled;
    gs_node_topic_stats stats;
} gs_topic;

/* gs_node: the node object (node.h); defined here so the topic code can reach its outbox. */
struct gs_node {
    gs_node_cfg cfg;
    gs_key self;
    const gs_mem *mem;
    gs_rand rng;
    gs_tstamp now;
    uint8_t *own_data;
    size_t own_len;
    bool has_own;
    gs_topic **topics; /* max_topics slots, NULL = free */
    size_t ntopics;
    uint32_t topic_gen;
    gs_topic *last_topic;
    gs_timerq timers;
    gs_node_out *outbox;
    size_t nout, outcap, outpos;
    /* out_epoch: bumped whenever the drained outbox is reset (begin_call), i.e. when nothing
     * may borrow memory from earlier input calls any more (starts at 1) */
    uint64_t out_epoch;
    /* last_send: 1 + index of the newest SEND in the outbox, 0 when it holds none (decides
     * GS_NODE_OUT_FLAG_SAME_MSG; reset with the outbox) */
    size_t last_send;
    /* scratch: chunked bump allocator for what outbox entries borrow, reset per input call */
    struct gs_scratch_chunk *scratch;
    size_t scratch_used;
    size_t ihave_chunk; /* C (4.4) */
    gs_key last_closed; /* DISCONNECT already emitted in this call (no duplicates) */
    bool has_last_closed;
    size_t bytes; /* bytes held through mem */
    gs_node_counters c;
};

/* --- node services used by the topic code (node.c) --- */

/* gs_topic_alloc / gs_topic_calloc / gs_topic_free: |node|'s gs_mem with byte accounting. */
void *gs_topic_alloc(struct gs_node *node, size_t size);
void *gs_topic_calloc(struct gs_node *node, size_t n, size_t size);
void gs_topic_free(struct gs_node *node, void *p, size_t size);

/*
 * gs_topic_send queues SEND(|peer|, |msg|) on |t| (|msg| copied; what it points to must live until
 * the next input call: node, topic or scratch memory).  Never sends to our own id (counted).
 * A control message whose body would be >= max_message_size is dropped (counted).  The outbox
 * sets GS_NODE_OUT_FLAG_SAME_MSG itself, by comparing with the newest SEND it holds; callers
 * pass no flags.
 */
void gs_topic_send(gs_topic *t, const gs_key *peer, const gs_msg *msg);

/* gs_topic_send_gossip queues a message whose body length |bodylen| the caller computed and
 * checked against M (Gossip on the hot path, IHave chunks). */
void gs_topic_send_gossip(gs_topic *t, const gs_key *peer, const gs_msg *msg, size_t bodylen);

/* gs_topic_event queues an EVENT entry (|ev->type| and |ev->topic| are filled in here). */
void gs_topic_event(gs_topic *t, gs_node_out *ev);

/* gs_topic_event_slot returns a zeroed EVENT entry for |t| to fill in place, or NULL (counted). */
gs_node_out *gs_topic_event_slot(gs_topic *t);

/* gs_topic_close is the topic-level close(p): the node emits DISCONNECT only when no topic has
 * |peer| in its active view or among its outstanding Neighbor requests (D9). */
void gs_topic_close(gs_topic *t, const gs_key *peer);

/* gs_topic_schedule schedules timer |kind| after |after| (refusal counted).  Returns 0 or < 0. */
int gs_topic_schedule(gs_topic *t, uint32_t kind, gs_duration after, uint32_t gen,
                      const uint8_t *key);

/* gs_topic_scratch returns |n| bytes valid until the next input call, or NULL (counted). */
void *gs_topic_scratch(gs_topic *t, size_t n);

/* gs_topic_uses returns true if |t| has |peer| active or pending. */
bool gs_topic_uses(const gs_topic *t, const gs_key *peer);

static inline bool gs_key_eq(const gs_key *a, const gs_key *b)
{
    return memcmp(a->b, b->b, GS_KEY_LEN) == 0;
}

#endif /* GS_PROTO_TOPIC_H */
