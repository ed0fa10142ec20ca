/* SPDX-License-Identifier: MIT */
/*
 * plumtree.c: PlumTree broadcast for one topic (see plumtree.h and topic.h for the data layout).
 *
 * Hot path (a new Gossip from a neighbour): one BLAKE3, one table probe, one record append with a
 * payload copy into the byte ring, one outbox entry per eager peer (all pointing at the ring copy;
 * the outbox flags each one GS_NODE_OUT_FLAG_SAME_MSG when the SEND before it carries the same
 * message) and one lazy-queue append per lazy peer.  No
 * allocation unless a structure grows towards its bound.
 */

#include "plumtree.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "blake3.h"
#include "view.h"

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

size_t gs_plumtree_gossip_body_len(size_t len, gs_scope scope, uint16_t round)
{
    return 2 + 32 + varint_len(len) + len + 1 + (scope == GS_SCOPE_SWARM ? varint_len(round) : 0);
}

static const uint8_t *rec_key(const void *ctx, uint32_t val)
{
    const gs_topic *t = ctx;

    return t->recs[val].id.b;
}

static const uint8_t *missing_key(const void *ctx, uint32_t val)
{
    const gs_topic *t = ctx;

    return t->missing[val].id.b;
}

/* --- outbox pins ---
 * Outbox entries borrow ring payloads (forwarded Gossip, Graft replies, RECEIVED events), and
 * node.h promises them valid until the first input call after the outbox was drained (the node's
 * out_epoch changes then).  Within one epoch -- several calls with an undrained outbox, or one
 * gs_node_on_frames call over many frames -- a later insert must therefore neither overwrite
 * borrowed bytes (ring_alloc refuses to cache instead, and the message is copied to scratch) nor
 * free the buffer holding them (ring_grow retires the old ring until the epoch ends).  Positions
 * only grow, so one low-water mark per topic covers every borrowed payload.
 */

static bool pin_live(const gs_topic *t)
{
    return t->pin_epoch == t->ctx->out_epoch;
}

/* ring_pin records that the outbox now borrows the payload at ring position |pos|. */
static void ring_pin(gs_topic *t, uint64_t pos)
{
    if (!pin_live(t)) {
        t->pin_epoch = t->ctx->out_epoch;
        t->pin_pos = pos;
    } else if (pos < t->pin_pos) {
        t->pin_pos = pos;
    }
}

/* Every ring buffer carries a small header in front, which links retired rings together. */
typedef struct pt_ring_hdr {
    uint8_t *next; /* next retired ring (its data), NULL at the end */
    size_t cap;
    _Alignas(16) uint8_t data[];
} pt_ring_hdr;

static pt_ring_hdr *ring_hdr(uint8_t *ring)
{
    return (pt_ring_hdr *)(void *)(ring - offsetof(pt_ring_hdr, data));
}

/* ring_new allocates a ring of |cap| bytes (header included in the accounting); NULL on OOM. */
static uint8_t *ring_new(gs_ctx *ctx, size_t cap)
{
    pt_ring_hdr *h = gs_ctx_alloc(ctx, sizeof(*h) + cap);

    if (h == NULL) {
        return NULL;
    }
    h->next = NULL;
    h->cap = cap;
    return h->data;
}

static void ring_del(gs_ctx *ctx, uint8_t *ring)
{
    pt_ring_hdr *h = ring_hdr(ring);

    gs_ctx_free_block(ctx, h);
}

/* retired_release frees the rings retired in an epoch that has ended (all of them if |all|). */
static void retired_release(gs_topic *t, bool all)
{
    if (t->retired == NULL || (!all && t->retired_epoch == t->ctx->out_epoch)) {
        return;
    }
    while (t->retired != NULL) {
        uint8_t *next = ring_hdr(t->retired)->next;
        ring_del(t->ctx, t->retired);
        t->retired = next;
    }
}

/* First allocation of each per-topic structure, made when it is first needed (a joined topic
 * that carries no traffic holds none of them); each then doubles up to its bound. */
#define PT_RECS_INITIAL    16u
#define PT_MISSING_INITIAL 16u
#define PT_RING_INITIAL    ((size_t)4 * 1024)
#define PT_LAZYQ_INITIAL   16u

int gs_plumtree_init(gs_topic *t)
{
    gs_ctx *ctx = t->ctx;
    const gs_node_cfg *cfg = &ctx->cfg;
    int rv;

    /* recs, ring and the missing arrays start empty (capacity 0): log_insert, ring_alloc and
     * missing_get allocate them.  The two indexes start at their smallest size. */
    rv = gs_table_init(&t->recmap, sizeof(gs_msg_id), 0, cfg->max_received, gs_rand_next(&t->rng),
                       rec_key, t, &ctx->amem);
    if (rv != 0) {
        goto fail_recmap;
    }
    rv = gs_table_init(&t->missmap, sizeof(gs_msg_id), 0, cfg->max_missing, gs_rand_next(&t->rng),
                       missing_key, t, &ctx->amem);
    if (rv != 0) {
        goto fail_missmap;
    }
    return 0;

fail_missmap:
    gs_table_free(&t->recmap);
fail_recmap:
    return rv;
}

void gs_plumtree_free(gs_topic *t)
{
    gs_ctx *ctx = t->ctx;

    retired_release(t, true);
    gs_table_free(&t->missmap);
    gs_ctx_free_block(ctx, t->missing_free);
    gs_ctx_free_block(ctx, t->ann);
    gs_ctx_free_block(ctx, t->missing);
    if (t->ring != NULL) {
        ring_del(ctx, t->ring);
    }
    gs_table_free(&t->recmap);
    gs_ctx_free_block(ctx, t->recs);
}

/* --- message log --- */

static gs_pt_rec *rec_at(const gs_topic *t, uint64_t seq)
{
    return &t->recs[seq & (t->recs_cap - 1)];
}

static const uint8_t *rec_payload(const gs_topic *t, const gs_pt_rec *r)
{
    return t->ring + (size_t)(r->pos % t->ring_cap);
}

/* release_cached drops the payload of the oldest cached record. */
static void release_cached(gs_topic *t)
{
    gs_pt_rec *r = rec_at(t, t->rcached);

    if (r->cached) {
        r->cached = false;
        t->ring_rpos = r->pos + r->len;
        --t->ncached;
    }
    ++t->rcached;
    if (t->rcached == t->rtail || t->ncached == 0) {
        t->ring_rpos = t->ring_wpos;
    }
}

/* evict_oldest forgets the oldest record (and its payload). */
static void evict_oldest(gs_topic *t)
{
    if (t->rcached == t->rhead) {
        release_cached(t);
    }
    gs_pt_rec *r = rec_at(t, t->rhead);
    (void)gs_table_remove(&t->recmap, r->id.b);
    ++t->rhead;
}

static int recs_grow(gs_topic *t)
{
    size_t ncap = t->recs_cap == 0 ? PT_RECS_INITIAL : t->recs_cap * 2;
    gs_pt_rec *nrecs = gs_ctx_calloc(t->ctx, ncap, sizeof(*nrecs));

    if (nrecs == NULL) {
        return GS_ERR_NOMEM;
    }
    int rv = gs_table_reserve(&t->recmap, ncap);
    if (rv != 0) {
        gs_ctx_free_block(t->ctx, nrecs);
        return rv;
    }
    for (uint64_t s = t->rhead; s < t->rtail; ++s) {
        nrecs[s & (ncap - 1)] = *rec_at(t, s);
    }
    gs_ctx_free_block(t->ctx, t->recs);
    t->recs = nrecs;
    t->recs_cap = ncap;
    /* Values are ring positions, which changed: rebuild (cannot fail, room is reserved). */
    gs_table_clear(&t->recmap);
    for (uint64_t s = t->rhead; s < t->rtail; ++s) {
        (void)gs_table_insert(&t->recmap, rec_at(t, s)->id.b, (uint32_t)(s & (ncap - 1)));
    }
    return 0;
}

/* ring_grow replaces the ring by one twice as large (the first one: PT_RING_INITIAL), at most
 * cache_bytes, moving the cached payloads to its start. */
static int ring_grow(gs_topic *t)
{
    size_t ncap = t->ring_cap == 0 ? PT_RING_INITIAL : t->ring_cap * 2;

    if (ncap > t->ctx->cfg.cache_bytes) {
        ncap = t->ctx->cfg.cache_bytes;
    }
    uint8_t *nring = ring_new(t->ctx, ncap);
    if (nring == NULL) {
        return GS_ERR_NOMEM;
    }
    uint64_t w = 0;
    for (uint64_t s = t->rcached; s < t->rtail; ++s) {
        gs_pt_rec *r = rec_at(t, s);
        if (!r->cached) {
            continue;
        }
        memcpy(nring + w, rec_payload(t, r), r->len);
        r->pos = w;
        w += r->len;
    }
    if (t->ring == NULL) {
        /* first ring: nothing to move or keep */
    } else if (pin_live(t)) {
        /* The outbox borrows bytes of the old ring: keep it until the epoch ends (retired
         * rings of an earlier epoch were released by ring_alloc before this growth). */
        assert(t->retired == NULL || t->retired_epoch == t->ctx->out_epoch);
        ring_hdr(t->ring)->next = t->retired;
        t->retired = t->ring;
        t->retired_epoch = t->ctx->out_epoch;
        t->pin_epoch = 0; /* nothing borrows from the new ring yet */
    } else {
        ring_del(t->ctx, t->ring);
    }
    t->ring = nring;
    t->ring_cap = ncap;
    t->ring_rpos = 0;
    t->ring_wpos = w;
    return 0;
}

/*
 * ring_alloc reserves |len| contiguous bytes, dropping the oldest payloads at the bound.  Returns
 * false (nothing reserved) when |len| exceeds the ring, or when the only room left would overwrite
 * bytes the outbox borrows (counted in cache_evicted: the message is not cached).
 */
static bool ring_alloc(gs_topic *t, size_t len, uint64_t *ppos)
{
    retired_release(t, false);
    if (t->ring_cap == 0 && ring_grow(t) != 0) {
        ++t->ctx->c.nomem;
        return false;
    }
    for (;;) {
        size_t off = (size_t)(t->ring_wpos % t->ring_cap);
        size_t pad = off + len > t->ring_cap ? t->ring_cap - off : 0;
        if ((t->ring_wpos - t->ring_rpos) + pad + len <= t->ring_cap) {
            /* writing position p overwrites the byte of position p - ring_cap */
            if (!pin_live(t) || t->ring_wpos + pad + len <= t->pin_pos + t->ring_cap) {
                t->ring_wpos += pad;
                *ppos = t->ring_wpos;
                t->ring_wpos += len;
                return true;
            }
            if (t->ring_cap < t->ctx->cfg.cache_bytes && ring_grow(t) == 0) {
                continue;
            }
            ++t->ctx->c.cache_evicted;
            return false;
        }
        if (t->ring_cap < t->ctx->cfg.cache_bytes && ring_grow(t) == 0) {
            continue;
        }
        if (t->rcached == t->rtail) {
            if (len > t->ring_cap) {
                return false;
            }
            /* Empty: restart at the beginning of the buffer, where |len| <= ring_cap fits. */
            t->ring_wpos += (t->ring_cap - off) % t->ring_cap;
            t->ring_rpos = t->ring_wpos;
            continue;
        }
        if (rec_at(t, t->rcached)->cached) {
            ++t->ctx->c.cache_evicted;
        }
        release_cached(t);
    }
}

/* log_insert records |id| (and caches |content| when |cache|).  Returns the record or NULL. */
static gs_pt_rec *log_insert(gs_topic *t, const gs_msg_id *id, uint16_t round,
                             const uint8_t *content, size_t len, bool cache)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_tstamp now = t->ctx->now;

    if (t->rtail - t->rhead >= cfg->max_received) {
        ++t->ctx->c.received_evicted;
        evict_oldest(t);
    }
    if (t->rtail - t->rhead >= t->recs_cap) {
        if (recs_grow(t) != 0) {
            ++t->ctx->c.nomem;
            if (t->recs_cap == 0) {
                return NULL; /* no log yet: nothing to make room from */
            }
            ++t->ctx->c.received_evicted;
            evict_oldest(t);
        }
    }
    uint64_t pos = 0;
    if (cache && !ring_alloc(t, len, &pos)) {
        cache = false;
    }
    uint64_t seq = t->rtail;
    gs_pt_rec *r = rec_at(t, seq);
    r->id = *id;
    r->recv_expiry = gs_tstamp_add(now, cfg->message_id_retention);
    r->cache_expiry = gs_tstamp_add(now, cfg->message_cache_retention);
    r->pos = pos;
    r->len = (uint32_t)len;
    r->round = round;
    r->cached = cache;
    r->dropped_to = 0;
    if (gs_table_insert(&t->recmap, id->b, (uint32_t)(seq & (t->recs_cap - 1))) != 0) {
        ++t->ctx->c.nomem;
        r->cached = false;
        return NULL;
    }
    if (cache) {
        memcpy(t->ring + (size_t)(pos % t->ring_cap), content, len);
        ring_pin(t, pos); /* every caller hands the cached copy to the outbox */
        ++t->ncached;
    } else if (t->rcached == t->rtail) {
        ++t->rcached; /* keep [rcached, rtail) starting at a cached record when possible */
    }
    ++t->rtail;
    return r;
}

static void log_evict_expired(gs_topic *t)
{
    gs_tstamp now = t->ctx->now;

    while (t->rhead < t->rtail && rec_at(t, t->rhead)->recv_expiry <= now) {
        evict_oldest(t);
    }
    while (t->rcached < t->rtail && rec_at(t, t->rcached)->cache_expiry <= now) {
        release_cached(t);
    }
}

static bool log_find(const gs_topic *t, const gs_msg_id *id, gs_pt_rec **pr)
{
    uint32_t v;

    if (!gs_table_find(&t->recmap, id->b, &v)) {
        return false;
    }
    *pr = &t->recs[v];
    return true;
}

/* --- missing --- */

static void missing_remove(gs_topic *t, uint32_t slot)
{
    gs_pt_missing *m = &t->missing[slot];

    (void)gs_table_remove(&t->missmap, m->id.b);
    m->used = false;
    m->graft_pending = false;
    m->nann = 0;
    ++m->gen; /* a graft timer still queued for this slot becomes stale */
    t->missing_free[t->nmissing_free++] = slot;
}

static int missing_grow(gs_topic *t)
{
    gs_ctx *ctx = t->ctx;
    size_t nann = ctx->cfg.max_announcers;
    size_t ncap = t->missing_cap == 0 ? PT_MISSING_INITIAL : t->missing_cap * 2;

    if (ncap > ctx->cfg.max_missing) {
        ncap = ctx->cfg.max_missing;
    }
    gs_pt_missing *nm = gs_ctx_calloc(ctx, ncap, sizeof(*nm));
    gs_pt_ann *na = gs_ctx_calloc(ctx, ncap * nann, sizeof(*na));
    uint32_t *nf = gs_ctx_calloc(ctx, ncap, sizeof(*nf));
    if (nm == NULL || na == NULL || nf == NULL) {
        if (nm != NULL) {
            gs_ctx_free_block(ctx, nm);
        }
        if (na != NULL) {
            gs_ctx_free_block(ctx, na);
        }
        if (nf != NULL) {
            gs_ctx_free_block(ctx, nf);
        }
        return GS_ERR_NOMEM;
    }
    if (t->missing_cap > 0) {
        memcpy(nm, t->missing, t->missing_cap * sizeof(*nm));
        memcpy(na, t->ann, t->missing_cap * nann * sizeof(*na));
        memcpy(nf, t->missing_free, t->nmissing_free * sizeof(*nf));
    }
    size_t nfree = t->nmissing_free;
    for (size_t i = ncap; i-- > t->missing_cap;) {
        nf[nfree++] = (uint32_t)i;
    }
    gs_ctx_free_block(ctx, t->missing);
    gs_ctx_free_block(ctx, t->ann);
    gs_ctx_free_block(ctx, t->missing_free);
    t->missing = nm;
    t->ann = na;
    t->missing_free = nf;
    t->nmissing_free = nfree;
    t->missing_cap = ncap;
    return 0;
}

/* missing_get returns the slot of |id|, creating it if needed, or -1 (bound or OOM, counted). */
static int64_t missing_get(gs_topic *t, const gs_msg_id *id)
{
    uint32_t v;

    if (gs_table_find(&t->missmap, id->b, &v)) {
        return v;
    }
    if (t->nmissing_free == 0) {
        if (t->missing_cap >= t->ctx->cfg.max_missing) {
            ++t->ctx->c.missing_full;
            return -1;
        }
        if (missing_grow(t) != 0) {
            ++t->ctx->c.nomem;
            return -1;
        }
    }
    uint32_t slot = t->missing_free[--t->nmissing_free];
    gs_pt_missing *m = &t->missing[slot];
    if (gs_table_insert(&t->missmap, id->b, slot) != 0) {
        t->missing_free[t->nmissing_free++] = slot;
        ++t->ctx->c.nomem;
        return -1;
    }
    m->id = *id;
    m->used = true;
    m->graft_pending = false;
    m->nann = 0;
    ++m->gen;
    return slot;
}

static gs_pt_ann *ann_of(const gs_topic *t, uint32_t slot)
{
    return &t->ann[(size_t)slot * t->ctx->cfg.max_announcers];
}

void gs_plumtree_on_neighbor_down(gs_topic *t, const gs_key *peer)
{
    if (t->ctx->cfg.compat & GS_COMPAT_IHAVE_ANY) {
        return; /* D8 as the reference: announcements outlive the neighbour */
    }
    for (uint32_t slot = 0; slot < t->missing_cap; ++slot) {
        gs_pt_missing *m = &t->missing[slot];
        if (!m->used) {
            continue;
        }
        gs_pt_ann *a = ann_of(t, slot);
        size_t w = 0;
        for (size_t i = 0; i < m->nann; ++i) {
            if (!gs_key_eq(&a[i].peer, peer)) {
                a[w++] = a[i];
            }
        }
        m->nann = (uint16_t)w;
        if (w == 0) {
            missing_remove(t, slot);
        }
    }
}

/* --- sending --- */

static void send_simple(gs_topic *t, const gs_key *to, gs_msg_type type)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    gs_topic_send(t, to, &m);
}

static void flush_lazy(gs_topic *t, gs_active *a)
{
    size_t n = a->nlazyq;
    gs_ihave_entry *copy = gs_topic_scratch(t, n * sizeof(*copy));
    gs_msg m;

    a->nlazyq = 0;
    if (copy == NULL) {
        return;
    }
    memcpy(copy, a->lazyq, n * sizeof(*copy));
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_IHAVE;
    m.ihave.entries.items = copy;
    m.ihave.entries.n = n;
    /* Body length computed here (cheaper than the codec's generic walk): tags, count, entries.
     * n <= C keeps it below M - 33 by construction (4.4). */
    size_t bodylen = 2 + varint_len(n);
    for (size_t i = 0; i < n; ++i) {
        bodylen += 32 + varint_len(copy[i].round);
    }
    gs_topic_send_gossip(t, &a->rec.id, &m, bodylen);
}

/* lazyq_grow doubles |a|'s IHave queue (the first one: PT_LAZYQ_INITIAL entries), at most C. */
static int lazyq_grow(gs_topic *t, gs_active *a)
{
    size_t c = t->ctx->ihave_chunk;
    size_t ncap = a->lazyq_cap == 0 ? PT_LAZYQ_INITIAL : a->lazyq_cap * 2;

    if (ncap > c) {
        ncap = c;
    }
    gs_ihave_entry *q = gs_ctx_alloc(t->ctx, ncap * sizeof(*q));
    if (q == NULL) {
        return GS_ERR_NOMEM;
    }
    if (a->nlazyq > 0) {
        memcpy(q, a->lazyq, a->nlazyq * sizeof(*q));
    }
    gs_ctx_free_block(t->ctx, a->lazyq);
    a->lazyq = q;
    a->lazyq_cap = ncap;
    return 0;
}

static void lazy_push(gs_topic *t, gs_active *a, const gs_msg_id *id, uint16_t round)
{
    if (a->nlazyq == a->lazyq_cap && lazyq_grow(t, a) != 0) {
        ++t->ctx->c.nomem; /* the announcement is lost; the eager path and others remain */
        return;
    }
    a->lazyq[a->nlazyq].id = *id;
    a->lazyq[a->nlazyq].round = round;
    if (++a->nlazyq >= t->ctx->ihave_chunk) {
        flush_lazy(t, a); /* a full chunk goes now: the queue never exceeds C */
        return;
    }
    if (!t->dispatch_scheduled &&
        gs_topic_schedule(t, GS_TIMER_DISPATCH, t->ctx->cfg.dispatch_timeout, 0, NULL) == 0) {
        t->dispatch_scheduled = true;
    }
}

/* push sends |g| (body |bodylen|) to every eager peer and announces it to every lazy peer, except
 * |skip|.  A lazy peer's announcement may flush a full IHave chunk between two eager SENDs; the
 * outbox, not this loop, decides GS_NODE_OUT_FLAG_SAME_MSG, so that cannot mislabel the next one.
 */
static void push(gs_topic *t, const gs_msg *g, size_t bodylen, const gs_key *skip)
{
    ptrdiff_t si = skip == NULL ? -1 : gs_view_active_find(&t->view, skip);
    const gs_node_cfg *cfg = &t->ctx->cfg;
    bool all = cfg->bcast_policy == GS_BCAST_MANY && t->view.nactive <= cfg->eager_all_max;

    for (size_t i = 0; i < t->view.nactive; ++i) {
        gs_active *a = &t->view.active[i];
        if ((ptrdiff_t)i == si) {
            continue; /* (a sender outside the active view gets nothing anyway) */
        }
        if (a->eager || all) {
            gs_topic_send_gossip(t, &a->rec.id, g, bodylen);
        } else {
            lazy_push(t, a, &g->gossip.id, g->gossip.round);
        }
    }
}

int gs_plumtree_push_dropped(gs_topic *t, const gs_key *peer, const gs_msg_id *id, uint16_t round)
{
    ptrdiff_t i = gs_view_active_find(&t->view, peer);

    if (i < 0) {
        return GS_ERR_NOTFOUND;
    }
    /* An eager peer stays eager: the IHave lets it Graft this one message; a Prune would only
     * come from its side, on a duplicate.  The record remembers the peer's view slot, so that
     * the Graft's answer is marked a repair (on_graft). */
    gs_pt_rec *r;
    if (i < GS_PT_DROPPED_SLOTS && log_find(t, id, &r)) {
        r->dropped_to |= (uint8_t)(1u << i);
    }
    lazy_push(t, &t->view.active[i], id, round);
    ++t->ctx->c.drops_announced;
    return 0;
}

static void set_eager(gs_topic *t, const gs_key *p, bool eager, uint64_t *non_neighbor)
{
    ptrdiff_t i = gs_view_active_find(&t->view, p);

    if (i < 0) {
        if (non_neighbor != NULL) {
            ++*non_neighbor;
        }
        return;
    }
    t->view.active[i].eager = eager;
}

static void emit_received(gs_topic *t, const gs_key *from, const gs_msg_id *id,
                          const uint8_t *content, size_t len, gs_scope scope, uint16_t round)
{
    gs_node_out *ev = gs_topic_event_slot(t);

    if (ev == NULL) {
        return;
    }
    ev->event = GS_NODE_EVENT_RECEIVED;
    ev->peer = *from;
    ev->id = *id;
    ev->content.base = content;
    ev->content.len = len;
    ev->scope = scope;
    ev->round = round;
}

/* optimize (6.3): |R| is the round the message arrived with + 1. */
static void optimize(gs_topic *t, const gs_key *s, uint16_t R, uint32_t slot)
{
    const gs_pt_missing *m = &t->missing[slot];
    const gs_pt_ann *a = ann_of(t, slot);

    if (m->nann == 0) {
        return;
    }
    size_t best = 0;
    for (size_t i = 1; i < m->nann; ++i) {
        if (a[i].round < a[best].round) {
            best = i;
        }
    }
    uint16_t rb = a[best].round;
    if (rb >= R || R - rb < t->ctx->cfg.optimization_threshold) {
        return;
    }
    gs_key b = a[best].peer;
    ptrdiff_t bi = gs_view_active_find(&t->view, &b);
    if (bi >= 0 && !t->view.active[bi].eager) {
        gs_msg g;
        t->view.active[bi].eager = true;
        memset(&g, 0, sizeof(g));
        g.type = GS_MSG_GRAFT;
        g.graft.has_id = false;
        g.graft.round = rb;
        gs_topic_send(t, &b, &g);
    }
    ptrdiff_t si = gs_view_active_find(&t->view, s);
    if (si >= 0) {
        t->view.active[si].eager = false;
        send_simple(t, s, GS_MSG_PRUNE);
    }
}

/* on_duplicate: neighbour |a| sent a Gossip we already had.  The reference prunes the link at
 * once; GS_BCAST_MANY only after prune_dup_threshold duplicates in a row from |a| (a link that
 * is first for some publishers keeps delivering first now and then, which resets the run), and
 * never while every neighbour is kept eager anyway. */
static void on_duplicate(gs_topic *t, gs_active *a)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    if (cfg->bcast_policy == GS_BCAST_MANY) {
        if (t->view.nactive <= cfg->eager_all_max) {
            return;
        }
        if (++a->dup_run < cfg->prune_dup_threshold) {
            return;
        }
        a->dup_run = 0;
    }
    a->eager = false;
    send_simple(t, &a->rec.id, GS_MSG_PRUNE);
}

/* graft_faster_announcer (GS_BCAST_MANY): the message of |slot| arrived first from a neighbour,
 * later than an IHave for it from the lazy announcer that announced earliest.  That announcer's
 * link would have delivered sooner, so graft it without an id (no payload comes back, the link
 * is eager for the next messages): the time-based twin of optimize's round rule. */
static void graft_faster_announcer(gs_topic *t, uint32_t slot)
{
    const gs_pt_missing *m = &t->missing[slot];
    const gs_pt_ann *a = ann_of(t, slot);

    if (m->nann == 0) {
        return;
    }
    size_t best = 0;
    for (size_t i = 1; i < m->nann; ++i) {
        if (a[i].at < a[best].at) {
            best = i;
        }
    }
    if (a[best].at >= t->ctx->now) {
        return;
    }
    ptrdiff_t bi = gs_view_active_find(&t->view, &a[best].peer);
    if (bi < 0 || t->view.active[bi].eager) {
        return;
    }
    gs_msg g;
    t->view.active[bi].eager = true;
    t->view.active[bi].dup_run = 0;
    memset(&g, 0, sizeof(g));
    g.type = GS_MSG_GRAFT;
    g.graft.has_id = false;
    g.graft.round = a[best].round;
    gs_topic_send(t, &a[best].peer, &g);
}

static int on_gossip(gs_topic *t, const gs_key *s, const gs_msg *msg, const gs_msg_id *hashed)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_msg_id id;
    gs_pt_rec *r;

    ++t->stats.payload_recv;
    if (hashed != NULL) {
        id = *hashed;
    } else {
        gs_blake3_hash(msg->gossip.content.base, msg->gossip.content.len, id.b);
    }
    if (memcmp(id.b, msg->gossip.id.b, sizeof(id.b)) != 0) {
        ++t->ctx->c.bad_id;
        return GS_ERR_BAD_ID;
    }
    if (log_find(t, &id, &r)) {
        ++t->ctx->c.duplicates;
        ptrdiff_t si = gs_view_active_find(&t->view, s);
        if (si >= 0) {
            on_duplicate(t, &t->view.active[si]);
        } else {
            ++t->ctx->c.gossip_non_neighbor;
        }
        return 0;
    }
    if (msg->gossip.scope == GS_SCOPE_NEIGHBORS) {
        /* Delivered every time, never recorded or forwarded: copy the borrowed content. */
        size_t len = msg->gossip.content.len;
        uint8_t *copy = len > 0 ? gs_topic_scratch(t, len) : NULL;
        if (len > 0 && copy == NULL) {
            return 0;
        }
        if (len > 0) {
            memcpy(copy, msg->gossip.content.base, len);
        }
        emit_received(t, s, &id, copy, len, GS_SCOPE_NEIGHBORS, 0);
        return 0;
    }
    uint16_t round = msg->gossip.round;
    uint16_t fround = round;
    if (round == UINT16_MAX) {
        ++t->ctx->c.round_saturated; /* D7 */
    } else {
        fround = (uint16_t)(round + 1);
    }
    size_t len = msg->gossip.content.len;
    size_t bodylen = gs_plumtree_gossip_body_len(len, GS_SCOPE_SWARM, fround);
    bool forwardable = bodylen < cfg->max_message_size;
    if (!forwardable) {
        ++t->ctx->c.unforwardable; /* D6: delivered here, dropped for the next hop */
    }
    r = log_insert(t, &id, fround, msg->gossip.content.base, len, forwardable);
    const uint8_t *content = NULL;
    if (r != NULL && r->cached) {
        content = rec_payload(t, r);
    } else if (len > 0) {
        uint8_t *copy = gs_topic_scratch(t, len);
        if (copy == NULL) {
            return 0;
        }
        memcpy(copy, msg->gossip.content.base, len);
        content = copy;
    }
    if (forwardable && content != NULL) {
        gs_msg g;
        memset(&g, 0, sizeof(g));
        g.type = GS_MSG_GOSSIP;
        g.gossip.id = id;
        g.gossip.content.base = content;
        g.gossip.content.len = len;
        g.gossip.scope = GS_SCOPE_SWARM;
        g.gossip.round = fround;
        push(t, &g, bodylen, s);
    }
    uint32_t slot;
    if (cfg->bcast_policy == GS_BCAST_MANY) {
        ptrdiff_t si = gs_view_active_find(&t->view, s);
        if (si >= 0) {
            t->view.active[si].dup_run = 0; /* a first delivery: the link is useful */
        }
    }
    if (t->missmap.n > 0 && gs_table_find(&t->missmap, id.b, &slot)) {
        if (cfg->bcast_policy == GS_BCAST_MANY) {
            graft_faster_announcer(t, slot);
        }
        optimize(t, s, fround, slot);
        missing_remove(t, slot);
    }
    if (round > t->stats.max_last_delivery_hop) {
        t->stats.max_last_delivery_hop = round;
    }
    emit_received(t, s, &id, content, len, GS_SCOPE_SWARM, round);
    return 0;
}

static void on_ihave(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_list_iter it;
    gs_ihave_entry e;

    ++t->stats.control_recv;
    if (gs_view_active_find(&t->view, s) < 0) {
        ++t->ctx->c.ihave_non_neighbor; /* D8 */
        if (!(cfg->compat & GS_COMPAT_IHAVE_ANY)) {
            return;
        }
    }
    gs_ihave_list_iter_init(&it, &msg->ihave.entries);
    while (gs_ihave_list_next(&it, &e)) {
        gs_pt_rec *r;
        if (log_find(t, &e.id, &r)) {
            continue;
        }
        int64_t slot = missing_get(t, &e.id);
        if (slot < 0) {
            continue;
        }
        gs_pt_missing *m = &t->missing[slot];
        gs_pt_ann *a = ann_of(t, (uint32_t)slot);
        bool dup = false;
        for (size_t i = 0; i < m->nann; ++i) {
            if (gs_key_eq(&a[i].peer, s)) {
                dup = true;
                break;
            }
        }
        if (!dup) {
            if (m->nann >= cfg->max_announcers) {
                ++t->ctx->c.announcers_full;
            } else {
                a[m->nann].peer = *s;
                a[m->nann].round = e.round;
                a[m->nann].at = t->ctx->now;
                ++m->nann;
            }
        }
        gs_duration wait =
            cfg->bcast_policy == GS_BCAST_MANY ? cfg->graft_timeout_near : cfg->graft_timeout_1;
        if (!m->graft_pending && gs_topic_schedule(t, GS_TIMER_GRAFT, wait, m->gen, e.id.b) == 0) {
            m->graft_pending = true;
        }
        if (m->nann == 0 && !m->graft_pending) {
            missing_remove(t, (uint32_t)slot);
        }
    }
}

static void on_graft(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    gs_pt_rec *r;

    ++t->stats.control_recv;
    set_eager(t, s, true, &t->ctx->c.graft_non_neighbor);
    if (!msg->graft.has_id) {
        return;
    }
    if (!log_find(t, &msg->graft.id, &r) || !r->cached) {
        ++t->ctx->c.grafts_unserved;
        return;
    }
    gs_msg g;
    memset(&g, 0, sizeof(g));
    g.type = GS_MSG_GOSSIP;
    g.gossip.id = r->id;
    g.gossip.content.base = rec_payload(t, r);
    g.gossip.content.len = r->len;
    g.gossip.scope = GS_SCOPE_SWARM;
    g.gossip.round = r->round;
    ring_pin(t, r->pos);
    gs_node_out *o = gs_topic_send_gossip(
        t, s, &g, gs_plumtree_gossip_body_len(r->len, GS_SCOPE_SWARM, r->round));
    /* Only the answer for a push the transport dropped to this peer is a repair; every other
     * Graft (the eager copy was merely slower than an IHave) stays sheddable, or congested links
     * would take ever more unsheddable copies.  A view slot reused since the drop can mark one
     * extra answer: harmless. */
    ptrdiff_t i = gs_view_active_find(&t->view, s);
    if (o != NULL && i >= 0 && i < GS_PT_DROPPED_SLOTS && (r->dropped_to & (1u << i)) != 0) {
        r->dropped_to &= (uint8_t) ~(1u << i);
        o->flags |= GS_NODE_OUT_FLAG_REPAIR;
        ++t->ctx->c.repairs_sent;
    }
}

int gs_plumtree_on_message(gs_topic *t, const gs_key *from, const gs_msg *msg,
                           const gs_msg_id *hashed)
{
    switch (msg->type) {
    case GS_MSG_GOSSIP:
        return on_gossip(t, from, msg, hashed);
    case GS_MSG_PRUNE:
        ++t->stats.control_recv;
        set_eager(t, from, false, &t->ctx->c.prune_non_neighbor);
        return 0;
    case GS_MSG_GRAFT:
        on_graft(t, from, msg);
        return 0;
    case GS_MSG_IHAVE:
        on_ihave(t, from, msg);
        return 0;
    default:
        return GS_ERR_INVAL;
    }
}

int gs_plumtree_broadcast(gs_topic *t, const uint8_t *content, size_t len, gs_scope scope,
                          gs_msg_id *pid)
{
    gs_msg_id id;
    gs_pt_rec *r;
    size_t bodylen = gs_plumtree_gossip_body_len(len, scope, 0);

    if (bodylen >= t->ctx->cfg.max_message_size) {
        ++t->ctx->c.oversize_broadcast;
        return GS_ERR_MSG_TOO_LARGE;
    }
    gs_blake3_hash(content, len, id.b);
    if (pid != NULL) {
        *pid = id;
    }
    gs_msg g;
    memset(&g, 0, sizeof(g));
    g.type = GS_MSG_GOSSIP;
    g.gossip.id = id;
    g.gossip.scope = scope;
    g.gossip.content.len = len;
    if (scope == GS_SCOPE_NEIGHBORS) {
        uint8_t *copy = NULL;
        if (len > 0) {
            copy = gs_topic_scratch(t, len);
            if (copy == NULL) {
                return GS_ERR_NOMEM;
            }
            memcpy(copy, content, len);
        }
        g.gossip.content.base = copy;
        /* D5: every active neighbour, eager or lazy (the reference: eager ones only). */
        bool eager_only = (t->ctx->cfg.compat & GS_COMPAT_NEIGHBORS_EAGER) != 0;
        for (size_t i = 0; i < t->view.nactive; ++i) {
            if (eager_only && !t->view.active[i].eager) {
                continue;
            }
            gs_topic_send_gossip(t, &t->view.active[i].rec.id, &g, bodylen);
        }
        return 0;
    }
    if (log_find(t, &id, &r)) {
        return 0; /* the same bytes were seen within the id retention: suppressed */
    }
    r = log_insert(t, &id, 0, content, len, true);
    if (r == NULL || !r->cached) {
        return GS_ERR_NOMEM;
    }
    g.gossip.content.base = rec_payload(t, r);
    g.gossip.round = 0;
    push(t, &g, bodylen, NULL);
    return 0;
}

static void send_graft(gs_topic *t, const gs_timer *tm)
{
    gs_msg_id id;
    uint32_t slot;
    gs_pt_rec *r;

    memcpy(id.b, tm->key, sizeof(id.b));
    if (!gs_table_find(&t->missmap, id.b, &slot) || t->missing[slot].gen != tm->gen) {
        return; /* received meanwhile, or the slot was reused: stale timer */
    }
    gs_pt_missing *m = &t->missing[slot];
    m->graft_pending = false;
    if (log_find(t, &id, &r) || m->nann == 0) {
        missing_remove(t, slot);
        return;
    }
    gs_pt_ann *a = ann_of(t, slot);
    gs_pt_ann first = a[0];
    memmove(&a[0], &a[1], (size_t)(m->nann - 1) * sizeof(a[0]));
    --m->nann;
    set_eager(t, &first.peer, true, NULL);
    gs_msg g;
    memset(&g, 0, sizeof(g));
    g.type = GS_MSG_GRAFT;
    g.graft.has_id = true;
    g.graft.id = id;
    g.graft.round = first.round;
    gs_topic_send(t, &first.peer, &g);
    if (gs_topic_schedule(t, GS_TIMER_GRAFT, t->ctx->cfg.graft_timeout_2, m->gen, id.b) == 0) {
        m->graft_pending = true;
    } else if (m->nann == 0) {
        missing_remove(t, slot);
    }
}

void gs_plumtree_on_timer(gs_topic *t, const gs_timer *tm)
{
    switch (tm->kind) {
    case GS_TIMER_DISPATCH:
        t->dispatch_scheduled = false;
        for (size_t i = 0; i < t->view.nactive; ++i) {
            if (t->view.active[i].nlazyq > 0) {
                flush_lazy(t, &t->view.active[i]);
            }
        }
        break;
    case GS_TIMER_EVICT:
        log_evict_expired(t);
        (void)gs_topic_schedule(t, GS_TIMER_EVICT, t->ctx->cfg.cache_evict_interval, 0, NULL);
        break;
    case GS_TIMER_GRAFT:
        send_graft(t, tm);
        break;
    default:
        break;
    }
}

void gs_plumtree_stats_get(const gs_topic *t, gs_node_topic_stats *st)
{
    st->nreceived = (size_t)(t->rtail - t->rhead);
    st->ncached = t->ncached;
    st->nmissing = gs_table_size(&t->missmap);
}
