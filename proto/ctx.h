/* SPDX-License-Identifier: MIT */
/*
 * ctx.h: internal to proto/: the context below the protocols.  A gs_ctx holds what HyParView
 * (hyparview.c) and PlumTree (plumtree.c) share with the node without knowing it: the
 * configuration, our id and PeerData, the current time, the outbox, the scratch memory outbox
 * entries borrow, the timer queue, the counters and the accounting allocator.  The node (node.c)
 * embeds one and is the layer above: what needs every topic (the D9 connection check, fanning a
 * NeighborDown out to PlumTree) reaches it through the hooks, so the files call downwards only:
 *
 *     node.c  ->  hyparview.c, plumtree.c  ->  view.c  ->  ctx.c
 *
 * Invariants (asserted in ctx.c): outpos <= nout <= outcap <= cfg.max_outbox; last_send is 0 or
 * the 1-based index of the newest SEND in outbox[0, nout); scratch_used <= cfg.max_scratch_bytes;
 * bytes equals what the caller's allocator holds for the node.
 */
#ifndef GS_PROTO_CTX_H
#define GS_PROTO_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "gs_mem.h"
#include "node.h"
#include "timerq.h"

struct gs_topic;

/* gs_ctx_hooks: how the context reaches the layer above (set by the node). */
typedef struct gs_ctx_hooks {
    void *user_data;
    /* neighbor_down: |peer| left |t|'s active view; the node fans it out (PlumTree forgets the
     * peer's announcements, 6.3). */
    void (*neighbor_down)(void *user_data, struct gs_topic *t, const gs_key *peer);
    /* peer_in_use: true while some topic has |peer| in its active view or among its outstanding
     * Neighbor requests (D9: then close(p) must not become a DISCONNECT); with
     * GS_COMPAT_CLOSE_SHARED only the closing |topic| is asked. */
    bool (*peer_in_use)(void *user_data, const gs_topic_id *topic, const gs_key *peer);
} gs_ctx_hooks;

typedef struct gs_ctx {
    gs_node_cfg cfg;
    gs_key self;
    const gs_mem *mem; /* the caller's allocator */
    gs_mem amem;       /* accounting allocator over |mem|: every block the node holds */
    size_t bytes;      /* bytes held through |mem| (header bytes included) */
    gs_tstamp now;
    size_t ihave_chunk; /* C (4.4) */
    /* our PeerData (gs_node_set_peer_data) */
    uint8_t *own_data;
    size_t own_len;
    bool has_own;
    gs_timerq timers;
    /* outbox */
    gs_node_out *outbox;
    size_t nout, outcap, outpos;
    size_t last_send;   /* 1 + index of the newest SEND in the outbox, 0 for none */
    uint64_t out_epoch; /* bumped whenever the drained outbox is reset (starts at 1) */
    /* scratch: chunked bump allocator for what outbox entries borrow, reset with the outbox */
    struct gs_scratch_chunk *scratch;
    size_t scratch_used;
    gs_key last_closed; /* DISCONNECT already emitted in this call (no duplicates) */
    bool has_last_closed;
    gs_node_counters c;
    gs_ctx_hooks hooks;
    /* rtt_hi: the largest recent request -> answer time (a Neighbor request and its answer, a
     * Join and the contact's Neighbor): raised at once by a larger sample, lowered by 1/8 of
     * the difference by a smaller one; 0 before the first sample (cfg.rtt_timeouts). */
    gs_duration rtt_hi;
} gs_ctx;

/*
 * gs_ctx_init fills |ctx| (zeroed by the caller) for |cfg| (valid), our id |self| and the caller's
 * allocator |mem|, with |bytes0| bytes already held (the object embedding |ctx|).  Returns 0.
 */
int gs_ctx_init(gs_ctx *ctx, const gs_node_cfg *cfg, const gs_key *self, const gs_mem *mem,
                size_t bytes0, const gs_ctx_hooks *hooks);

/* gs_ctx_free releases the outbox, the scratch memory, the timers and our PeerData. */
void gs_ctx_free(gs_ctx *ctx);

/* gs_ctx_begin starts an input call at |now|: once everything was drained, the outbox and the
 * scratch memory are reused (a new outbox epoch starts). */
void gs_ctx_begin(gs_ctx *ctx, gs_tstamp now);

/* gs_ctx_alloc / gs_ctx_calloc / gs_ctx_free_block: the accounting allocator (each block records
 * its size, so freeing needs none; NULL is a no-op for gs_ctx_free_block). */
void *gs_ctx_alloc(gs_ctx *ctx, size_t size);
void *gs_ctx_calloc(gs_ctx *ctx, size_t n, size_t size);
void gs_ctx_free_block(gs_ctx *ctx, void *p);

/* gs_ctx_scratch returns |n| bytes valid as long as the outbox entries, or NULL (counted). */
void *gs_ctx_scratch(gs_ctx *ctx, size_t n);

/*
 * gs_ctx_send_body queues SEND(|peer|, |msg|) on |topic|; the caller computed the body length
 * |bodylen| and checked it against M.  |msg| is copied; what it points to must live as long as
 * the outbox entries (node, topic or scratch memory).  Never sends to our own id (counted).  The
 * outbox sets GS_NODE_OUT_FLAG_SAME_MSG itself, against the newest SEND it holds.  Returns the
 * entry (for the caller to add flags) or NULL when nothing was queued.
 */
gs_node_out *gs_ctx_send_body(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer,
                              const gs_msg *msg, size_t bodylen);

/* gs_ctx_send is gs_ctx_send_body for a message whose body length is computed here; one whose
 * body would be >= max_message_size is dropped (counted in ctrl_truncated, D13). */
void gs_ctx_send(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer, const gs_msg *msg);

/* gs_ctx_event_slot returns a zeroed EVENT entry for |topic| to fill in place, or NULL (counted).
 */
gs_node_out *gs_ctx_event_slot(gs_ctx *ctx, const gs_topic_id *topic);

/* gs_ctx_close is the topic-level close(p): DISCONNECT(|peer|) is emitted only when no topic
 * uses the peer any more (hooks.peer_in_use, D9), at most once per call. */
void gs_ctx_close(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer);

/* gs_ctx_neighbor_down tells the layer above that |peer| left |t|'s active view. */
void gs_ctx_neighbor_down(gs_ctx *ctx, struct gs_topic *t, const gs_key *peer);

/*
 * gs_ctx_schedule queues a copy of |tm| with deadline now + |after|.  Per-id timers
 * (|essential| false) may not use the last 4 * max_topics slots, which keep room for every
 * topic's periodic timers.  Returns 0 or < 0 (refusal counted in timers_full or nomem).
 */
int gs_ctx_schedule(gs_ctx *ctx, const gs_timer *tm, gs_duration after, bool essential);

static inline bool gs_key_eq(const gs_key *a, const gs_key *b)
{
    return memcmp(a->b, b->b, GS_KEY_LEN) == 0;
}

#endif /* GS_PROTO_CTX_H */
