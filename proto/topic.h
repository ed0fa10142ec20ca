/* SPDX-License-Identifier: MIT */
/*
 * topic.h: internal to proto/ (not for io/ or server/): the state of one joined topic: its
 * membership view (view.h, changed by hyparview.c) and PlumTree's message log and missing map
 * (plumtree.c), over the node's context (ctx.h).  The protocol files see the node only through
 * t->ctx; struct gs_node is private to node.c.
 *
 * PlumTree's `received` and `cache` share one FIFO log of records (ids arrive in time order and
 * both expiries are now + a constant, so both expire in log order): records in [head, cached) are
 * remembered ids only, records in [cached, tail) also own a payload in the byte ring.  A gs_table
 * indexes the live records by id.  Both grow on demand up to max_received / cache_bytes; at the
 * bound the oldest entry is dropped early and counted.  recs, ring and the missing arrays are
 * NULL with capacity 0 until first used (a joined topic without traffic holds none of them).
 */
#ifndef GS_PROTO_TOPIC_H
#define GS_PROTO_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "gs_rand.h"
#include "ctx.h"
#include "gs_table.h"
#include "node.h"
#include "timerq.h"
#include "view.h"

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

/* gs_pt_rec: one remembered message id, optionally with its cached payload. */
/* GS_PT_DROPPED_SLOTS: active-view slots gs_pt_rec.dropped_to can name (its bits). */
#define GS_PT_DROPPED_SLOTS 8

typedef struct gs_pt_rec {
    gs_msg_id id;
    gs_tstamp recv_expiry;
    gs_tstamp cache_expiry;
    uint64_t pos; /* payload position in the byte ring (monotonic) */
    uint32_t len;
    uint16_t round;     /* round as forwarded (received + 1) */
    bool cached;        /* payload present (false for unforwardable messages) */
    uint8_t dropped_to; /* active-view slots < GS_PT_DROPPED_SLOTS whose eager push of it the
                           transport dropped */
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
    gs_tstamp at; /* when its IHave arrived */
} gs_pt_ann;

typedef struct gs_topic {
    gs_ctx *ctx;
    gs_topic_id id;
    uint32_t slot;
    uint32_t gen;
    gs_rand rng;

    /* HyParView */
    gs_view view;
    gs_key *bootstrap;
    size_t nbootstrap;
    bool join_retry_scheduled;
    gs_duration join_backoff;
    gs_duration shuffle_backoff; /* next early shuffle's delay (shuffle_early, doubling) */
    bool shuffle_early_next;     /* the scheduled shuffle is an early one (ttl 0) */
    uint16_t refill_refused;     /* Neighbor requests refused in a row (refill_escalate) */
    gs_tstamp join_at;           /* first Join of an isolated period (valid while join_timing) */
    bool join_timing;            /* the contact's answer to that Join is a round-trip sample */
    bool refilling;              /* send_neighbor is called by refill (GS_COMPAT_TIMEOUT_REFILL) */

    /* PlumTree: message log (received + cache) */
    gs_pt_rec *recs;
    size_t recs_cap; /* power of two */
    uint64_t rhead, rcached, rtail;
    gs_table recmap;
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
    gs_table missmap;
    bool dispatch_scheduled;
    gs_node_topic_stats stats;
} gs_topic;

/* --- the context's services for one topic (ctx.h) --- */

/* gs_topic_send queues SEND(|peer|, |msg|) on |t| (see gs_ctx_send). */
static inline void gs_topic_send(gs_topic *t, const gs_key *peer, const gs_msg *msg)
{
    gs_ctx_send(t->ctx, &t->id, peer, msg);
}

/* gs_topic_send_gossip queues a message whose body length |bodylen| the caller computed and
 * checked against M (Gossip on the hot path, IHave chunks; see gs_ctx_send_body).  Returns the
 * outbox entry or NULL. */
static inline gs_node_out *gs_topic_send_gossip(gs_topic *t, const gs_key *peer, const gs_msg *msg,
                                                size_t bodylen)
{
    return gs_ctx_send_body(t->ctx, &t->id, peer, msg, bodylen);
}

/* gs_topic_event_slot returns a zeroed EVENT entry for |t| to fill in place, or NULL (counted). */
static inline gs_node_out *gs_topic_event_slot(gs_topic *t)
{
    return gs_ctx_event_slot(t->ctx, &t->id);
}

/* gs_topic_event queues a copy of the EVENT |ev| for |t| (type and topic are set here). */
static inline void gs_topic_event(gs_topic *t, const gs_node_out *ev)
{
    gs_node_out *o = gs_ctx_event_slot(t->ctx, &t->id);

    if (o != NULL) {
        *o = *ev;
        o->type = GS_NODE_OUT_EVENT;
        o->topic = t->id;
    }
}

/* gs_topic_close is the topic-level close(p) (see gs_ctx_close, D9). */
static inline void gs_topic_close(gs_topic *t, const gs_key *peer)
{
    gs_ctx_close(t->ctx, &t->id, peer);
}

/* gs_topic_scratch returns |n| bytes valid as long as the outbox entries, or NULL (counted). */
static inline void *gs_topic_scratch(gs_topic *t, size_t n)
{
    return gs_ctx_scratch(t->ctx, n);
}

/* gs_topic_schedule schedules timer |kind| of |t| after |after| (refusal counted); the periodic
 * kinds may use the slots kept for them.  Returns 0 or < 0. */
static inline int gs_topic_schedule(gs_topic *t, uint32_t kind, gs_duration after, uint32_t gen,
                                    const uint8_t *key)
{
    gs_timer tm;

    memset(&tm, 0, sizeof(tm));
    tm.topic = t->slot;
    tm.topic_gen = t->gen;
    tm.kind = kind;
    tm.gen = gen;
    if (key != NULL) {
        memcpy(tm.key, key, sizeof(tm.key));
    }
    return gs_ctx_schedule(t->ctx, &tm, after, kind != GS_TIMER_PENDING && kind != GS_TIMER_GRAFT);
}

#endif /* GS_PROTO_TOPIC_H */
