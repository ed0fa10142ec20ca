/* SPDX-License-Identifier: MIT */
/*
 * ctx.c: the context below the protocols (ctx.h): accounting allocator, scratch memory, outbox,
 * timers.  Outbox and scratch are reset at the start of an input call once the caller has
 * drained every entry, so in steady state no allocation happens per message: the outbox array
 * and one scratch chunk are reused.
 */
#include "ctx.h"

#include <assert.h>
#include <string.h>

#include "gs_err.h"

#define SCRATCH_CHUNK_MIN ((size_t)64 * 1024)

typedef struct gs_scratch_chunk {
    struct gs_scratch_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) uint8_t data[];
} gs_scratch_chunk;

/* --- memory ---
 * Every block the node holds (topics, views, caches, tables, timers, outbox, scratch) comes from
 * the accounting allocator ctx->amem: it puts the block's size in a header in front of it, so a
 * free needs no size from the caller and ctx->bytes (gs_node_mem_in_use) is exactly what was
 * handed out through the caller's gs_mem, header bytes included: it cannot drift.
 */
#define ACCT_HDR ((size_t)16) /* keeps the 16-byte alignment of the blocks behind it */

static void *acct_malloc(size_t size, void *ud)
{
    gs_ctx *ctx = ud;

    if (size > SIZE_MAX - ACCT_HDR) {
        return NULL;
    }
    uint8_t *p = gs_mem_malloc(ctx->mem, ACCT_HDR + size);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    ctx->bytes += ACCT_HDR + size;
    return p + ACCT_HDR;
}

static void acct_free(void *ptr, void *ud)
{
    gs_ctx *ctx = ud;
    size_t size;

    if (ptr == NULL) {
        return;
    }
    uint8_t *p = (uint8_t *)ptr - ACCT_HDR;
    memcpy(&size, p, sizeof(size));
    assert(ctx->bytes >= ACCT_HDR + size);
    ctx->bytes -= ACCT_HDR + size;
    gs_mem_free(ctx->mem, p);
}

static void *acct_calloc(size_t n, size_t size, void *ud)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = acct_malloc(n * size, ud);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

static void *acct_realloc(void *ptr, size_t size, void *ud)
{
    gs_ctx *ctx = ud;
    size_t old;

    if (ptr == NULL) {
        return acct_malloc(size, ud);
    }
    if (size > SIZE_MAX - ACCT_HDR) {
        return NULL;
    }
    uint8_t *p = (uint8_t *)ptr - ACCT_HDR;
    memcpy(&old, p, sizeof(old));
    uint8_t *q = gs_mem_realloc(ctx->mem, p, ACCT_HDR + size);
    if (q == NULL) {
        return NULL;
    }
    memcpy(q, &size, sizeof(size));
    ctx->bytes = ctx->bytes - old + size;
    return q + ACCT_HDR;
}

void *gs_ctx_alloc(gs_ctx *ctx, size_t size)
{
    return gs_mem_malloc(&ctx->amem, size);
}

void *gs_ctx_calloc(gs_ctx *ctx, size_t n, size_t size)
{
    return gs_mem_calloc(&ctx->amem, n, size);
}

void gs_ctx_free_block(gs_ctx *ctx, void *p)
{
    gs_mem_free(&ctx->amem, p);
}

static void scratch_free_all(gs_ctx *ctx)
{
    while (ctx->scratch != NULL) {
        gs_scratch_chunk *c = ctx->scratch;
        ctx->scratch = c->next;
        gs_ctx_free_block(ctx, c);
    }
    ctx->scratch_used = 0;
}

/* scratch_reset rewinds the scratch memory; several chunks are merged into one so that the
 * steady state is one chunk reused by every call. */
static void scratch_reset(gs_ctx *ctx)
{
    if (ctx->scratch == NULL) {
        return;
    }
    if (ctx->scratch->next == NULL) {
        ctx->scratch->used = 0;
        return;
    }
    size_t total = ctx->scratch_used;
    scratch_free_all(ctx);
    gs_scratch_chunk *c = gs_ctx_alloc(ctx, sizeof(*c) + total);
    if (c != NULL) {
        c->next = NULL;
        c->cap = total;
        c->used = 0;
        ctx->scratch = c;
        ctx->scratch_used = total;
    }
}

void *gs_ctx_scratch(gs_ctx *ctx, size_t n)
{
    gs_scratch_chunk *c = ctx->scratch;
    size_t need = (n + 15u) & ~(size_t)15u;

    if (need == 0) {
        need = 16;
    }
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > SCRATCH_CHUNK_MIN ? need : SCRATCH_CHUNK_MIN;
        size_t left = ctx->cfg.max_scratch_bytes > ctx->scratch_used
                          ? ctx->cfg.max_scratch_bytes - ctx->scratch_used
                          : 0;
        if (cap > left && need <= left) {
            cap = left; /* a budget below SCRATCH_CHUNK_MIN is still usable */
        }
        if (ctx->scratch_used + cap > ctx->cfg.max_scratch_bytes) {
            ++ctx->c.outbox_full;
            return NULL;
        }
        c = gs_ctx_alloc(ctx, sizeof(*c) + cap);
        if (c == NULL) {
            ++ctx->c.nomem;
            return NULL;
        }
        c->next = ctx->scratch;
        c->cap = cap;
        c->used = 0;
        ctx->scratch = c;
        ctx->scratch_used += cap;
    }
    void *p = c->data + c->used;
    c->used += need;
    assert(c->used <= c->cap && ctx->scratch_used <= ctx->cfg.max_scratch_bytes);
    return p;
}

/* --- outbox --- */

static gs_node_out *out_push(gs_ctx *ctx)
{
    if (ctx->nout == ctx->outcap) {
        if (ctx->outcap >= ctx->cfg.max_outbox) {
            ++ctx->c.outbox_full;
            return NULL;
        }
        size_t ncap = ctx->outcap == 0 ? 64 : ctx->outcap * 2;
        if (ncap > ctx->cfg.max_outbox) {
            ncap = ctx->cfg.max_outbox;
        }
        gs_node_out *o = gs_mem_realloc(&ctx->amem, ctx->outbox, ncap * sizeof(*o));
        if (o == NULL) {
            ++ctx->c.nomem;
            return NULL;
        }
        ctx->outbox = o;
        ctx->outcap = ncap;
    }
    gs_node_out *o = &ctx->outbox[ctx->nout++];
    memset(o, 0, sizeof(*o));
    return o;
}

void gs_ctx_begin(gs_ctx *ctx, gs_tstamp now)
{
    assert(ctx->outpos <= ctx->nout && ctx->nout <= ctx->outcap);
    if (ctx->outpos >= ctx->nout) {
        ctx->nout = ctx->outpos = 0;
        ctx->last_send = 0;
        ++ctx->out_epoch;
        scratch_reset(ctx);
    }
    ctx->now = now;
    ctx->has_last_closed = false;
}

static void count_sent(gs_ctx *ctx, const gs_msg *msg, size_t bodylen)
{
    if (msg->type == GS_MSG_GOSSIP) {
        ++ctx->c.msgs_data_sent;
        ctx->c.msgs_data_sent_size += bodylen + 32;
    } else {
        ++ctx->c.msgs_ctrl_sent;
        ctx->c.msgs_ctrl_sent_size += bodylen + 32;
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

gs_node_out *gs_ctx_send_body(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer,
                              const gs_msg *msg, size_t bodylen)
{
    if (gs_key_eq(peer, &ctx->self)) {
        ++ctx->c.self_refs; /* D12: never send to ourselves */
        return NULL;
    }
    if (ctx->has_last_closed && gs_key_eq(peer, &ctx->last_closed)) {
        ctx->has_last_closed = false; /* in use again: a later close must be emitted */
    }
    gs_node_out *o = out_push(ctx);
    if (o == NULL) {
        return NULL;
    }
    /* Encode-once contract (node.h): the flag is decided here, where every producer's SENDs meet,
     * against the newest SEND actually in the outbox, whatever came between (IHave flushes,
     * Prunes, Grafts, events, DISCONNECTs, dropped entries). */
    assert(ctx->last_send < ctx->nout);
    if (ctx->last_send > 0 && same_msg(&ctx->outbox[ctx->last_send - 1].msg, msg)) {
        o->flags = GS_NODE_OUT_FLAG_SAME_MSG;
    }
    o->type = GS_NODE_OUT_SEND;
    o->peer = *peer;
    o->topic = *topic;
    o->msg = *msg;
    ctx->last_send = ctx->nout; /* o is outbox[nout - 1] */
    count_sent(ctx, msg, bodylen);
    return o;
}

void gs_ctx_send(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer, const gs_msg *msg)
{
    size_t bodylen = gs_codec_body_len(msg);

    if (bodylen >= ctx->cfg.max_message_size) {
        ++ctx->c.ctrl_truncated; /* D13: would be refused by every receiver */
        return;
    }
    (void)gs_ctx_send_body(ctx, topic, peer, msg, bodylen);
}

gs_node_out *gs_ctx_event_slot(gs_ctx *ctx, const gs_topic_id *topic)
{
    gs_node_out *o = out_push(ctx);

    if (o != NULL) {
        o->type = GS_NODE_OUT_EVENT;
        o->topic = *topic;
    }
    return o;
}

void gs_ctx_close(gs_ctx *ctx, const gs_topic_id *topic, const gs_key *peer)
{
    if (gs_key_eq(peer, &ctx->self) ||
        (ctx->has_last_closed && gs_key_eq(peer, &ctx->last_closed))) {
        return;
    }
    if (ctx->hooks.peer_in_use(ctx->hooks.user_data, topic, peer)) {
        return; /* D9: another topic (or this one) still needs the connection */
    }
    gs_node_out *o = out_push(ctx);
    if (o == NULL) {
        return;
    }
    o->type = GS_NODE_OUT_DISCONNECT;
    o->peer = *peer;
    o->topic = *topic;
    ctx->last_closed = *peer;
    ctx->has_last_closed = true;
    ++ctx->c.disconnects;
}

void gs_ctx_neighbor_down(gs_ctx *ctx, struct gs_topic *t, const gs_key *peer)
{
    ctx->hooks.neighbor_down(ctx->hooks.user_data, t, peer);
}

int gs_ctx_schedule(gs_ctx *ctx, const gs_timer *tm, gs_duration after, bool essential)
{
    gs_timer x = *tm;

    x.deadline = gs_tstamp_add(ctx->now, after);
    /* Each topic has at most one live SHUFFLE, EVICT, DISPATCH and JOIN_RETRY timer; they must
     * never be refused (a lost periodic timer would stop shuffling or eviction for good), so the
     * per-id timers (PENDING, GRAFT) may not use the last 4 * max_topics slots. */
    if (!essential && ctx->timers.n + 4 * ctx->cfg.max_topics >= ctx->cfg.max_timers) {
        ++ctx->c.timers_full;
        return GS_ERR_LIMIT;
    }
    int rv = gs_timerq_push(&ctx->timers, &x);
    if (rv == GS_ERR_LIMIT) {
        ++ctx->c.timers_full;
    } else if (rv != 0) {
        ++ctx->c.nomem;
    }
    return rv;
}

int gs_ctx_init(gs_ctx *ctx, const gs_node_cfg *cfg, const gs_key *self, const gs_mem *mem,
                size_t bytes0, const gs_ctx_hooks *hooks)
{
    ctx->cfg = *cfg;
    ctx->self = *self;
    ctx->mem = mem;
    ctx->bytes = bytes0;
    ctx->amem.user_data = ctx;
    ctx->amem.malloc = acct_malloc;
    ctx->amem.free = acct_free;
    ctx->amem.calloc = acct_calloc;
    ctx->amem.realloc = acct_realloc;
    ctx->ihave_chunk = (cfg->max_message_size - 33 - 3) / 35;
    ctx->out_epoch = 1;
    ctx->hooks = *hooks;
    return gs_timerq_init(&ctx->timers, cfg->max_timers, &ctx->amem);
}

void gs_ctx_free(gs_ctx *ctx)
{
    gs_timerq_free(&ctx->timers);
    scratch_free_all(ctx);
    gs_ctx_free_block(ctx, ctx->outbox);
    ctx->outbox = NULL;
    gs_ctx_free_block(ctx, ctx->own_data);
    ctx->own_data = NULL;
}
