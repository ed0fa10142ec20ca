/* SPDX-License-Identifier: MIT */
/*
 * hyparview.c: HyParView membership for one topic (PROTOCOL.md 5 with the fixes of section 9).
 *
 * Invariants: active, passive and pending hold distinct ids, never our own; active and passive are
 * disjoint (pending may overlap passive: a refill request goes to a passive peer that stays there
 * until it answers); |active| <= active_view_capacity, |passive| <= passive_view_capacity,
 * |pending| <= max_pending.  Removal swaps with the last element, so the arrays stay dense.
 */

#include "hyparview.h"

#include <string.h>

#include "view.h"

/* check_view asserts the view invariants of the file comment (view.h, gs_view_check) after each
 * membership change: O(views^2), so not on the Gossip path. */
static void check_view(const gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    gs_view_check(&t->view, cfg->active_view_capacity, cfg->passive_view_capacity, cfg->max_pending,
                  &t->ctx->self);
}

typedef enum hpv_send {
    HPV_SEND_NONE = 0,
    HPV_SEND_REQUEST = 1, /* a Neighbor we send on our own initiative: pending until answered */
    HPV_SEND_REPLY = 2,   /* an answer to a received request: never pending (D3) */
} hpv_send;

static bool is_self(const gs_topic *t, const gs_key *p)
{
    return gs_key_eq(&t->ctx->self, p);
}

int gs_hyparview_init(gs_topic *t)
{
    gs_ctx *ctx = t->ctx;
    const gs_node_cfg *cfg = &ctx->cfg;

    t->view.active = gs_ctx_calloc(ctx, cfg->active_view_capacity, sizeof(t->view.active[0]));
    if (t->view.active == NULL) {
        goto fail_active;
    }
    /* Each slot's IHave queue is allocated by its first announcement (plumtree.c lazy_push). */
    t->view.passive = gs_ctx_calloc(ctx, cfg->passive_view_capacity, sizeof(t->view.passive[0]));
    if (t->view.passive == NULL) {
        goto fail_passive;
    }
    t->view.pending = gs_ctx_calloc(ctx, cfg->max_pending, sizeof(t->view.pending[0]));
    if (t->view.pending == NULL) {
        goto fail_pending;
    }
    t->bootstrap = gs_ctx_calloc(ctx, cfg->max_bootstrap, sizeof(t->bootstrap[0]));
    if (t->bootstrap == NULL) {
        goto fail_bootstrap;
    }
    t->join_backoff = gs_hyparview_join_retry_first(t);
    return 0;

fail_bootstrap:
    gs_ctx_free_block(ctx, t->view.pending);
fail_pending:
    gs_ctx_free_block(ctx, t->view.passive);
fail_passive:
    gs_ctx_free_block(ctx, t->view.active);
fail_active:
    return GS_ERR_NOMEM;
}

static void rec_free(gs_topic *t, gs_peer_rec *r)
{
    if (r->data != NULL) {
        gs_ctx_free_block(t->ctx, r->data);
    }
    r->data = NULL;
    r->datalen = 0;
    r->has_data = false;
}

void gs_hyparview_free(gs_topic *t)
{
    gs_ctx *ctx = t->ctx;
    const gs_node_cfg *cfg = &ctx->cfg;

    for (size_t i = 0; i < t->view.nactive; ++i) {
        rec_free(t, &t->view.active[i].rec);
    }
    for (size_t i = 0; i < t->view.npassive; ++i) {
        rec_free(t, &t->view.passive[i]);
    }
    for (size_t i = 0; i < cfg->active_view_capacity; ++i) {
        gs_ctx_free_block(ctx, t->view.active[i].lazyq);
    }
    gs_ctx_free_block(ctx, t->view.active);
    gs_ctx_free_block(ctx, t->view.passive);
    gs_ctx_free_block(ctx, t->view.pending);
    gs_ctx_free_block(ctx, t->bootstrap);
    t->view.nactive = t->view.npassive = t->view.npending = 0;
}

/* rec_set_data replaces |r|'s PeerData with a copy of |data| (empty data is stored as "known,
 * empty" without an allocation). */
static void rec_set_data(gs_topic *t, gs_peer_rec *r, const uint8_t *data, size_t len)
{
    rec_free(t, r);
    if (len > 0) {
        r->data = gs_ctx_alloc(t->ctx, len);
        if (r->data == NULL) {
            ++t->ctx->c.nomem;
            return;
        }
        memcpy(r->data, data, len);
        r->datalen = (uint32_t)len;
    }
    r->has_data = true;
}

static gs_peer_rec *find_rec(gs_topic *t, const gs_key *p)
{
    ptrdiff_t i = gs_view_active_find(&t->view, p);

    if (i >= 0) {
        return &t->view.active[i].rec;
    }
    i = gs_view_passive_find(&t->view, p);
    return i >= 0 ? &t->view.passive[i] : NULL;
}

/* store_data (5.2): report changed non-empty PeerData to the node and keep it if |p| is active or
 * passive (D10: nowhere else). */
static void store_data(gs_topic *t, const gs_key *p, bool has, const uint8_t *data, size_t len)
{
    if (!has) {
        return;
    }
    if (len > t->ctx->cfg.max_peer_data_len) {
        ++t->ctx->c.peer_data_too_long;
        return;
    }
    gs_peer_rec *r = find_rec(t, p);
    bool differs = r == NULL || !r->has_data || r->datalen != len ||
                   (len > 0 && memcmp(r->data, data, len) != 0);
    if (differs && len > 0) {
        uint8_t *copy = gs_topic_scratch(t, len);
        if (copy != NULL) {
            gs_node_out ev;
            memset(&ev, 0, sizeof(ev));
            memcpy(copy, data, len);
            ev.event = GS_NODE_EVENT_PEER_DATA;
            ev.peer = *p;
            ev.data.base = copy;
            ev.data.len = len;
            gs_topic_event(t, &ev);
        }
    }
    if (r != NULL && differs) {
        rec_set_data(t, r, data, len);
    }
}

static void emit_neighbor(gs_topic *t, gs_node_event event, const gs_key *p, gs_down_reason reason)
{
    gs_node_out ev;

    memset(&ev, 0, sizeof(ev));
    ev.event = event;
    ev.peer = *p;
    ev.reason = reason;
    gs_topic_event(t, &ev);
    if (event == GS_NODE_EVENT_NEIGHBOR_UP) {
        ++t->ctx->c.neighbor_up;
    } else {
        ++t->ctx->c.neighbor_down;
    }
}

static void pending_remove_at(gs_topic *t, size_t i)
{
    t->view.pending[i] = t->view.pending[--t->view.npending];
}

static bool pending_remove(gs_topic *t, const gs_key *p)
{
    ptrdiff_t i = gs_view_pending_find(&t->view, p);

    if (i < 0) {
        return false;
    }
    pending_remove_at(t, (size_t)i);
    return true;
}

static void passive_remove_at(gs_topic *t, size_t i, bool free_data)
{
    if (free_data) {
        rec_free(t, &t->view.passive[i]);
    }
    t->view.passive[i] = t->view.passive[--t->view.npassive];
    memset(&t->view.passive[t->view.npassive], 0, sizeof(t->view.passive[0]));
}

/* own_data returns a scratch copy of our PeerData (gs_node_set_peer_data may replace the node's
 * copy while outbox entries still point at the old one); *phas tells whether it is present. */
static gs_bytes own_data(gs_topic *t, bool *phas)
{
    gs_ctx *ctx = t->ctx;
    gs_bytes b = {NULL, 0};

    *phas = ctx->has_own;
    if (ctx->has_own && ctx->own_len > 0) {
        uint8_t *copy = gs_topic_scratch(t, ctx->own_len);
        if (copy == NULL) {
            *phas = false;
            return b;
        }
        memcpy(copy, ctx->own_data, ctx->own_len);
        b.base = copy;
        b.len = ctx->own_len;
    }
    return b;
}

static void send_join(gs_topic *t, const gs_key *p)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_JOIN;
    m.join.data = own_data(t, &m.join.has_data);
    gs_topic_send(t, p, &m);
}

/* rtt_sample records a request -> answer time in the node's round-trip estimate. */
static void rtt_sample(gs_topic *t, gs_tstamp since)
{
    gs_ctx *ctx = t->ctx;

    if (since > ctx->now) {
        return;
    }
    gs_duration x = ctx->now - since;
    if (x >= ctx->rtt_hi) {
        ctx->rtt_hi = x;
    } else {
        ctx->rtt_hi -= (ctx->rtt_hi - x) / 8;
    }
}

/* rtt_wait returns how long an answer may take (cfg.rtt_timeouts): |base|, or rtt_timeout_factor
 * times the round-trip estimate if larger, plus dial_allowance when a dial may come first or no
 * round trip has been observed yet. */
static gs_duration rtt_wait(const gs_topic *t, gs_duration base, bool dial)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_duration w = base;

    if (!cfg->rtt_timeouts) {
        return base;
    }
    gs_duration r = cfg->rtt_timeout_factor * t->ctx->rtt_hi;
    if (r > w) {
        w = r;
    }
    /* Before the first sample nothing is known about the paths: allow for a dial either way. */
    return dial || t->ctx->rtt_hi == 0 ? w + cfg->dial_allowance : w;
}

gs_duration gs_hyparview_join_retry_first(const gs_topic *t)
{
    return rtt_wait(t, t->ctx->cfg.join_retry_initial, true);
}

/* send_neighbor (5.2, with D3): requests are pending (bounded, each with a timeout), replies not.
 * With cfg.rtt_timeouts the timeout scales with the round-trip estimate, and a request to a peer
 * that is not active (its connection may still have to be dialed) gets dial_allowance more.
 * The GS_COMPAT_* switches restore the reference's pending rules (docs/proto.md, D3). */
static void send_neighbor(gs_topic *t, const gs_key *p, gs_priority prio, hpv_send mode)
{
    gs_msg m;

    if (is_self(t, p)) {
        ++t->ctx->c.self_refs;
        return;
    }
    uint32_t compat = t->ctx->cfg.compat;
    bool ref_pending = mode == HPV_SEND_REPLY && (compat & GS_COMPAT_PENDING_REPLIES) != 0;
    if (mode == HPV_SEND_REQUEST || ref_pending) {
        if (gs_view_pending_find(&t->view, p) >= 0) {
            return;
        }
        if (t->view.npending >= t->ctx->cfg.max_pending) {
            ++t->ctx->c.pending_full;
            return;
        }
        uint32_t gen = ++t->view.pending_gen;
        bool timed = !ref_pending && (!(compat & GS_COMPAT_TIMEOUT_REFILL) || t->refilling);
        gs_duration wait =
            rtt_wait(t, t->ctx->cfg.neighbor_request_timeout, gs_view_active_find(&t->view, p) < 0);
        /* A request without its timeout could stay pending forever: only track it if the timer
         * is queued (a refusal is counted; the Neighbor still goes out).  The reference keeps
         * untimed entries (GS_COMPAT_*): they leave with a Disconnect or a closed connection. */
        if (!timed || gs_topic_schedule(t, GS_TIMER_PENDING, wait, gen, p->b) == 0) {
            t->view.pending[t->view.npending].id = *p;
            t->view.pending[t->view.npending].gen = gen;
            t->view.pending[t->view.npending].sent_at = t->ctx->now;
            ++t->view.npending;
        }
    }
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_NEIGHBOR;
    m.neighbor.priority = prio;
    m.neighbor.data = own_data(t, &m.neighbor.has_data);
    gs_topic_send(t, p, &m);
    ptrdiff_t ai = gs_view_active_find(&t->view, p);
    if (ai >= 0) {
        t->view.active[ai].neighbor_sent = true;
    }
}

/* peer_info_of fills |pi| from |r|, copying the PeerData into scratch (records may be freed later
 * in the same call while the outbox still points at the message). */
static void peer_info_of(gs_topic *t, const gs_peer_rec *r, gs_peer_info *pi)
{
    memset(pi, 0, sizeof(*pi));
    pi->id = r->id;
    pi->has_data = r->has_data;
    if (r->has_data && r->datalen > 0) {
        uint8_t *copy = gs_topic_scratch(t, r->datalen);
        if (copy == NULL) {
            pi->has_data = false;
            return;
        }
        memcpy(copy, r->data, r->datalen);
        pi->data.base = copy;
        pi->data.len = r->datalen;
    }
}

/* pick_k replaces |idx[0..n)| by a random order and returns min(k, n): the first entries are a
 * uniform random k-subset. */
static size_t pick_k(gs_topic *t, size_t *idx, size_t n, size_t k)
{
    size_t m = k < n ? k : n;

    for (size_t i = 0; i < m; ++i) {
        size_t j = i + (size_t)gs_rand_below(&t->rng, (uint64_t)(n - i));
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
    return m;
}

/* trim_list drops entries (then the last one's PeerData) until |m|'s body is below M (D13). */
static void trim_list(gs_topic *t, gs_msg *m, gs_peer_list *l, gs_peer_info *items)
{
    size_t max = t->ctx->cfg.max_message_size;

    while (gs_codec_body_len(m) >= max && l->n > 0) {
        if (l->n == 1 && items[0].has_data && items[0].data.len > 0) {
            items[0].has_data = false;
            items[0].data.base = NULL;
            items[0].data.len = 0;
        } else {
            --l->n;
        }
        ++t->ctx->c.ctrl_truncated;
    }
}

/* shuffle_reply (5.2): up to |k| random passive peers, topped up with random active peers. */
static void shuffle_reply(gs_topic *t, const gs_key *to, size_t k)
{
    size_t ncand = t->view.npassive + t->view.nactive;
    size_t *idx = gs_topic_scratch(t, (ncand + 1) * sizeof(size_t));
    gs_peer_info *items = gs_topic_scratch(t, (ncand + 1) * sizeof(gs_peer_info));
    size_t n = 0;
    gs_msg m;

    if (idx == NULL || items == NULL) {
        return;
    }
    size_t np = 0;
    for (size_t i = 0; i < t->view.npassive; ++i) {
        if (!gs_key_eq(&t->view.passive[i].id, to)) {
            idx[np++] = i;
        }
    }
    np = pick_k(t, idx, np, k);
    for (size_t i = 0; i < np; ++i) {
        peer_info_of(t, &t->view.passive[idx[i]], &items[n++]);
    }
    if (n < k) {
        size_t na = 0;
        for (size_t i = 0; i < t->view.nactive; ++i) {
            if (!gs_key_eq(&t->view.active[i].rec.id, to)) {
                idx[na++] = i;
            }
        }
        na = pick_k(t, idx, na, k - n);
        for (size_t i = 0; i < na; ++i) {
            peer_info_of(t, &t->view.active[idx[i]].rec, &items[n++]);
        }
    }
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE_REPLY;
    m.shuffle_reply.nodes.items = items;
    m.shuffle_reply.nodes.n = n;
    trim_list(t, &m, &m.shuffle_reply.nodes, items);
    gs_topic_send(t, to, &m);
}

/* send_disconnect (5.2): ShuffleReply(7) + Disconnect{alive} + close. */
static void send_disconnect(gs_topic *t, const gs_key *p, bool alive)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_msg m;

    shuffle_reply(t, p, cfg->shuffle_active_view_count + cfg->shuffle_passive_view_count);
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_DISCONNECT;
    m.disconnect.alive = alive;
    m.disconnect.respond = false;
    gs_topic_send(t, p, &m);
    gs_topic_close(t, p);
}

/* add_passive_rec inserts |r| (taking ownership of its data) unless it is self, active or passive;
 * a full view drops a random member first. */
static void add_passive_rec(gs_topic *t, gs_peer_rec *r)
{
    if (is_self(t, &r->id) || gs_view_active_find(&t->view, &r->id) >= 0 ||
        gs_view_passive_find(&t->view, &r->id) >= 0) {
        rec_free(t, r);
        return;
    }
    if (t->view.npassive >= t->ctx->cfg.passive_view_capacity) {
        size_t victim = (size_t)gs_rand_below(&t->rng, (uint64_t)t->view.npassive);
        passive_remove_at(t, victim, true);
    }
    t->view.passive[t->view.npassive++] = *r;
}

static void add_passive(gs_topic *t, const gs_key *p, bool has, const uint8_t *data, size_t len)
{
    gs_peer_rec r;

    if (is_self(t, p)) {
        ++t->ctx->c.self_refs;
        return;
    }
    store_data(t, p, has, data, len);
    if (gs_view_active_find(&t->view, p) >= 0 || gs_view_passive_find(&t->view, p) >= 0) {
        return;
    }
    memset(&r, 0, sizeof(r));
    r.id = *p;
    if (has && len <= t->ctx->cfg.max_peer_data_len) {
        rec_set_data(t, &r, data, len);
    }
    add_passive_rec(t, &r);
}

static void arm_join_retry(gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    if (cfg->join_retry_initial == 0 || t->join_retry_scheduled || t->view.nactive > 0 ||
        (t->nbootstrap == 0 && t->view.npassive == 0)) {
        return;
    }
    if (gs_topic_schedule(t, GS_TIMER_JOIN_RETRY, t->join_backoff, 0, NULL) == 0) {
        t->join_retry_scheduled = true;
    }
}

static void refill(gs_topic *t, const gs_key *skip);

/* send_stale_ihave sends the |n| IHave entries still queued for the former neighbour |p| as the
 * reference does (GS_COMPAT_STALE_IHAVE, D10); |q| is the slot's queue, left as it is. */
static void send_stale_ihave(gs_topic *t, const gs_key *p, const gs_ihave_entry *q, size_t n)
{
    gs_ihave_entry *copy = gs_topic_scratch(t, n * sizeof(*copy));
    gs_msg m;

    if (copy == NULL) {
        return;
    }
    memcpy(copy, q, n * sizeof(*copy));
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_IHAVE;
    m.ihave.entries.items = copy;
    m.ihave.entries.n = n;
    gs_topic_send(t, p, &m);
}

/* remove_active (5.2): |idx| leaves the active view with |reason|. */
static void remove_active(gs_topic *t, size_t idx, gs_down_reason reason)
{
    size_t last = t->view.nactive - 1;
    gs_active tmp = t->view.active[idx];

    /* Swap the whole slot so each slot keeps exactly one lazy-queue buffer. */
    t->view.active[idx] = t->view.active[last];
    t->view.active[last] = tmp;
    --t->view.nactive;
    gs_peer_rec r = t->view.active[last].rec;
    memset(&t->view.active[last].rec, 0, sizeof(r));
    size_t nstale = t->view.active[last].nlazyq;
    t->view.active[last].nlazyq = 0; /* D10: queued IHaves never go to a former neighbour */
    t->view.active[last].eager = false;

    /* A Neighbor request to a peer that was already active (ForwardJoin case a) may still be
     * pending: its late answer must not make a peer that we just dropped (and that dropped us)
     * active again without a reply, which would leave a one-sided link.  The reference keeps it
     * (GS_COMPAT_PENDING_REPLIES). */
    if ((t->ctx->cfg.compat & GS_COMPAT_PENDING_REPLIES) == 0) {
        (void)pending_remove(t, &r.id);
    }
    emit_neighbor(t, GS_NODE_EVENT_NEIGHBOR_DOWN, &r.id, reason);
    gs_ctx_neighbor_down(t->ctx, t, &r.id);
    bool keep = false;
    switch (reason) {
    case GS_DOWN_EVICTED:
        send_disconnect(t, &r.id, true);
        keep = true;
        r.alive = true;
        break;
    case GS_DOWN_PEER_LEFT_ALIVE:
        gs_topic_close(t, &r.id);
        keep = true;
        r.alive = true;
        break;
    case GS_DOWN_PEER_QUIT:
        gs_topic_close(t, &r.id);
        break;
    case GS_DOWN_CONNECTION_LOST:
        gs_topic_close(t, &r.id);
        keep = r.alive;
        r.alive = false;
        break;
    default:
        gs_unreachable();
    }
    if (nstale > 0 && (t->ctx->cfg.compat & GS_COMPAT_STALE_IHAVE)) {
        send_stale_ihave(t, &r.id, t->view.active[last].lazyq, nstale);
    }
    gs_key id = r.id;
    if (keep) {
        add_passive_rec(t, &r);
    } else {
        rec_free(t, &r);
    }
    if (reason != GS_DOWN_EVICTED) {
        refill(t, &id);
    }
    arm_join_retry(t);
}

/* add_active (5.2) returns whether |p| is (now) active. */
static bool add_active(gs_topic *t, const gs_key *p, bool has, const uint8_t *data, size_t len,
                       gs_priority prio, hpv_send mode)
{
    if (is_self(t, p)) {
        ++t->ctx->c.self_refs;
        return false;
    }
    store_data(t, p, has, data, len);
    ptrdiff_t ai = gs_view_active_find(&t->view, p);
    if (ai >= 0) {
        /* With D3 a reply is not pending, so two neighbours that both answer every unexpected
         * Neighbor would bounce replies forever once a request outlived its timeout (the late
         * answer looks like a request).  Answer an already active peer only until we have sent
         * it one Neighbor; a request we leave unanswered just times out at the requester. */
        if (mode == HPV_SEND_REPLY && t->view.active[ai].neighbor_sent &&
            !(t->ctx->cfg.compat & GS_COMPAT_REPLY_ALWAYS)) {
            ++t->ctx->c.neighbor_replies_suppressed;
        } else if (mode != HPV_SEND_NONE) {
            send_neighbor(t, p, prio, mode);
        }
        return true;
    }
    if (t->view.nactive >= t->ctx->cfg.active_view_capacity) {
        if (prio == GS_PRIORITY_LOW) {
            return false;
        }
        size_t victim = (size_t)gs_rand_below(&t->rng, (uint64_t)t->view.nactive);
        remove_active(t, victim, GS_DOWN_EVICTED);
    }
    gs_peer_rec r;
    ptrdiff_t pi = gs_view_passive_find(&t->view, p);
    if (pi >= 0) {
        r = t->view.passive[pi];
        passive_remove_at(t, (size_t)pi, false);
    } else {
        memset(&r, 0, sizeof(r));
        r.id = *p;
        if (has && len <= t->ctx->cfg.max_peer_data_len) {
            rec_set_data(t, &r, data, len);
        }
    }
    gs_active *a = &t->view.active[t->view.nactive++];
    a->rec = r;
    a->eager = true; /* PlumTree: NeighborUp -> eager */
    a->nlazyq = 0;
    a->neighbor_sent = false;
    a->dup_run = 0;
    t->join_backoff = gs_hyparview_join_retry_first(t);
    t->join_timing = false;
    t->refill_refused = 0;
    emit_neighbor(t, GS_NODE_EVENT_NEIGHBOR_UP, p, GS_DOWN_EVICTED);
    if (mode != HPV_SEND_NONE) {
        send_neighbor(t, p, prio, mode);
    }
    return true;
}

/* refill (5.2): one Neighbor request to a random passive peer not in |skip| or pending. */
/* refill_priority: High when the active view is empty (5.2); also, with refill_escalate, when
 * that many Low requests in a row were refused while we hold fewer than half the active view:
 * a small island (the survivors between two failed nodes) whose every candidate has a full view
 * would otherwise be refused for ever, and a High request is never refused (the receiver evicts
 * a random neighbour, which refills in turn). */
static gs_priority refill_priority(const gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    if (t->view.nactive == 0) {
        return GS_PRIORITY_HIGH;
    }
    if (cfg->refill_escalate != 0 && t->refill_refused >= cfg->refill_escalate &&
        t->view.nactive * 2 < cfg->active_view_capacity) {
        ++t->ctx->c.refills_escalated;
        return GS_PRIORITY_HIGH;
    }
    return GS_PRIORITY_LOW;
}

static void refill(gs_topic *t, const gs_key *skip)
{
    if (t->view.nactive + t->view.npending >= t->ctx->cfg.active_view_capacity ||
        t->view.npassive == 0) {
        return;
    }
    size_t *idx = gs_topic_scratch(t, t->view.npassive * sizeof(size_t));
    size_t n = 0;
    if (idx == NULL) {
        return;
    }
    for (size_t i = 0; i < t->view.npassive; ++i) {
        const gs_key *q = &t->view.passive[i].id;
        if ((skip == NULL || !gs_key_eq(q, skip)) && gs_view_pending_find(&t->view, q) < 0) {
            idx[n++] = i;
        }
    }
    if (n == 0) {
        return;
    }
    gs_key q = t->view.passive[idx[gs_rand_below(&t->rng, (uint64_t)n)]].id;
    t->refilling = true;
    send_neighbor(t, &q, refill_priority(t), HPV_SEND_REQUEST);
    t->refilling = false;
}

/* random_active_except returns a random active index whose id is neither |a| nor |b|, or -1. */
static ptrdiff_t random_active_except(gs_topic *t, const gs_key *a, const gs_key *b)
{
    size_t n = 0;

    for (size_t i = 0; i < t->view.nactive; ++i) {
        const gs_key *id = &t->view.active[i].rec.id;
        if ((a == NULL || !gs_key_eq(id, a)) && (b == NULL || !gs_key_eq(id, b))) {
            ++n;
        }
    }
    if (n == 0) {
        return -1;
    }
    size_t k = (size_t)gs_rand_below(&t->rng, (uint64_t)n);
    for (size_t i = 0; i < t->view.nactive; ++i) {
        const gs_key *id = &t->view.active[i].rec.id;
        if ((a == NULL || !gs_key_eq(id, a)) && (b == NULL || !gs_key_eq(id, b))) {
            if (k-- == 0) {
                return (ptrdiff_t)i;
            }
        }
    }
    return -1;
}

/* copy_bytes copies |b| into scratch; on failure the result is empty and *pok false. */
static gs_bytes copy_bytes(gs_topic *t, gs_bytes b, bool *pok)
{
    gs_bytes out = {NULL, 0};

    *pok = true;
    if (b.len == 0) {
        return out;
    }
    uint8_t *p = gs_topic_scratch(t, b.len);
    if (p == NULL) {
        *pok = false;
        return out;
    }
    memcpy(p, b.base, b.len);
    out.base = p;
    out.len = b.len;
    return out;
}

static void send_forward_join(gs_topic *t, const gs_key *to, const gs_peer_info *peer, uint16_t ttl)
{
    gs_msg m;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_FORWARD_JOIN;
    m.forward_join.peer = *peer;
    m.forward_join.ttl = ttl;
    if (gs_codec_body_len(&m) >= t->ctx->cfg.max_message_size) {
        /* D13: the joiner's data does not fit with the extra fields; send the id alone. */
        m.forward_join.peer.has_data = false;
        m.forward_join.peer.data.base = NULL;
        m.forward_join.peer.data.len = 0;
        ++t->ctx->c.ctrl_truncated;
    }
    gs_topic_send(t, to, &m);
}

static void on_join(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    bool ok;
    gs_peer_info pi;
    bool rejoin = gs_view_active_find(&t->view, s) >= 0;

    (void)add_active(t, s, msg->join.has_data, msg->join.data.base, msg->join.data.len,
                     GS_PRIORITY_HIGH, HPV_SEND_REQUEST);
    if (rejoin && t->ctx->cfg.rtt_timeouts) {
        /* A repeated Join from a neighbour (its retry crossed our answer on a slow path): its
         * first Join's walks are under way, new ones would only evict more peers. */
        return;
    }
    memset(&pi, 0, sizeof(pi));
    pi.id = *s;
    pi.has_data = msg->join.has_data && msg->join.data.len <= t->ctx->cfg.max_peer_data_len;
    if (pi.has_data) {
        pi.data = copy_bytes(t, msg->join.data, &ok);
        if (!ok) {
            pi.has_data = false;
        }
    }
    for (size_t i = 0; i < t->view.nactive; ++i) {
        if (!gs_key_eq(&t->view.active[i].rec.id, s)) {
            send_forward_join(t, &t->view.active[i].rec.id, &pi,
                              t->ctx->cfg.active_random_walk_length);
        }
    }
}

static uint16_t clamp_ttl(gs_topic *t, uint16_t ttl, uint16_t max)
{
    if (ttl > max && !(t->ctx->cfg.compat & GS_COMPAT_TTL_UNCLAMPED)) {
        ++t->ctx->c.ttl_clamped;
        return max;
    }
    return ttl;
}

static void on_forward_join(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    const gs_peer_info *x = &msg->forward_join.peer;
    const gs_node_cfg *cfg = &t->ctx->cfg;

    if (is_self(t, &x->id)) {
        ++t->ctx->c.self_refs; /* D12: a walk that names us needs no answer */
        return;
    }
    uint16_t ttl = clamp_ttl(t, msg->forward_join.ttl, cfg->active_random_walk_length);
    if (gs_view_active_find(&t->view, &x->id) >= 0 || ttl == 0 || t->view.nactive <= 1) {
        store_data(t, &x->id, x->has_data, x->data.base, x->data.len);
        send_neighbor(t, &x->id, GS_PRIORITY_HIGH, HPV_SEND_REQUEST);
        return;
    }
    if (ttl == cfg->passive_random_walk_length) {
        add_passive(t, &x->id, x->has_data, x->data.base, x->data.len);
    }
    if (gs_view_pending_find(&t->view, &x->id) >= 0) {
        return;
    }
    ptrdiff_t next = random_active_except(t, s, &x->id);
    if (next < 0) {
        return;
    }
    gs_peer_info pi = *x;
    bool ok;
    if (pi.has_data && pi.data.len <= cfg->max_peer_data_len) {
        pi.data = copy_bytes(t, x->data, &ok);
        if (!ok) {
            pi.has_data = false;
        }
    } else {
        pi.has_data = false;
        pi.data.base = NULL;
        pi.data.len = 0;
    }
    send_forward_join(t, &t->view.active[next].rec.id, &pi, (uint16_t)(ttl - 1));
}

static void on_neighbor(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    ptrdiff_t pi = gs_view_pending_find(&t->view, s);
    if (pi >= 0) {
        rtt_sample(t, t->view.pending[pi].sent_at);
    } else if (t->join_timing && t->view.nactive == 0) {
        for (size_t i = 0; i < t->nbootstrap; ++i) {
            if (gs_key_eq(&t->bootstrap[i], s)) {
                rtt_sample(t, t->join_at); /* Join -> the contact's Neighbor */
                t->join_timing = false;
                break;
            }
        }
    }
    bool was_pending = pending_remove(t, s);
    bool accepted =
        add_active(t, s, msg->neighbor.has_data, msg->neighbor.data.base, msg->neighbor.data.len,
                   msg->neighbor.priority, was_pending ? HPV_SEND_NONE : HPV_SEND_REPLY);

    if (!accepted) {
        send_disconnect(t, s, true);
    }
}

/* copy_list copies a received peer list into scratch items (for forwarding). */
static bool copy_list(gs_topic *t, const gs_peer_list *in, gs_peer_list *out)
{
    gs_peer_info *items = gs_topic_scratch(t, (in->n + 1) * sizeof(gs_peer_info));
    gs_list_iter it;
    gs_peer_info pi;
    size_t n = 0;

    if (items == NULL) {
        return false;
    }
    gs_peer_list_iter_init(&it, in);
    while (n < in->n && gs_peer_list_next(&it, &pi)) {
        bool ok = true;
        if (pi.has_data) {
            pi.data = copy_bytes(t, pi.data, &ok);
        }
        if (!ok) {
            return false;
        }
        items[n++] = pi;
    }
    memset(out, 0, sizeof(*out));
    out->items = items;
    out->n = n;
    return true;
}

static void add_passive_list(gs_topic *t, const gs_peer_list *l)
{
    gs_list_iter it;
    gs_peer_info pi;

    gs_peer_list_iter_init(&it, l);
    while (gs_peer_list_next(&it, &pi)) {
        add_passive(t, &pi.id, pi.has_data, pi.data.base, pi.data.len);
    }
}

static void on_shuffle(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    const gs_key *origin = &msg->shuffle.origin;

    if (is_self(t, origin)) {
        ++t->ctx->c.self_refs; /* D12: our own shuffle came back: never answer ourselves */
        return;
    }
    uint16_t ttl = clamp_ttl(t, msg->shuffle.ttl, t->ctx->cfg.shuffle_random_walk_length);
    if (ttl == 0 || t->view.nactive <= 1) {
        add_passive_list(t, &msg->shuffle.nodes);
        shuffle_reply(t, origin, msg->shuffle.nodes.n);
        return;
    }
    ptrdiff_t next = random_active_except(t, origin, s);
    if (next < 0) {
        return;
    }
    gs_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE;
    m.shuffle.origin = *origin;
    m.shuffle.ttl = (uint16_t)(ttl - 1);
    if (!copy_list(t, &msg->shuffle.nodes, &m.shuffle.nodes)) {
        return;
    }
    gs_topic_send(t, &t->view.active[next].rec.id, &m);
}

static void on_disconnect(gs_topic *t, const gs_key *s, const gs_msg *msg)
{
    bool was_pending = pending_remove(t, s);
    ptrdiff_t ai = gs_view_active_find(&t->view, s);
    if (ai >= 0) {
        remove_active(t, (size_t)ai,
                      msg->disconnect.alive ? GS_DOWN_PEER_LEFT_ALIVE : GS_DOWN_PEER_QUIT);
        return;
    }
    if (was_pending && msg->disconnect.alive && t->refill_refused < UINT16_MAX) {
        ++t->refill_refused; /* our Neighbor request was refused (its view is full) */
    }
    if (msg->disconnect.alive) {
        ptrdiff_t pi = gs_view_passive_find(&t->view, s);
        if (pi >= 0) {
            t->view.passive[pi].alive = true;
        }
    }
}

void gs_hyparview_on_message(gs_topic *t, const gs_key *from, const gs_msg *msg)
{
    switch (msg->type) {
    case GS_MSG_JOIN:
        on_join(t, from, msg);
        break;
    case GS_MSG_FORWARD_JOIN:
        on_forward_join(t, from, msg);
        break;
    case GS_MSG_SHUFFLE:
        on_shuffle(t, from, msg);
        break;
    case GS_MSG_SHUFFLE_REPLY:
        add_passive_list(t, &msg->shuffle_reply.nodes);
        /* The answer to an early (ttl 0) shuffle comes from a neighbour: it only stocks the
         * passive view for later failures and starts no Neighbor requests of its own. */
        if (!(t->ctx->cfg.shuffle_early != 0 && gs_view_active_find(&t->view, from) >= 0)) {
            refill(t, NULL);
        }
        break;
    case GS_MSG_NEIGHBOR:
        on_neighbor(t, from, msg);
        break;
    case GS_MSG_DISCONNECT:
        on_disconnect(t, from, msg);
        break;
    default:
        break;
    }
    if (t->view.nactive == 0) {
        arm_join_retry(t);
    }
    check_view(t);
}

void gs_hyparview_after_message(gs_topic *t, const gs_key *from)
{
    if (gs_view_active_find(&t->view, from) < 0) {
        gs_topic_close(t, from);
    }
}

void gs_hyparview_join(gs_topic *t, const gs_key *peers, size_t npeers)
{
    for (size_t i = 0; i < npeers; ++i) {
        const gs_key *p = &peers[i];
        if (is_self(t, p)) {
            ++t->ctx->c.self_refs;
            continue;
        }
        send_join(t, p);
        if (!t->join_timing && t->view.nactive == 0) {
            t->join_at = t->ctx->now;
            t->join_timing = true;
        }
        bool known = false;
        for (size_t j = 0; j < t->nbootstrap; ++j) {
            if (gs_key_eq(&t->bootstrap[j], p)) {
                known = true;
                break;
            }
        }
        if (!known && t->nbootstrap < t->ctx->cfg.max_bootstrap) {
            t->bootstrap[t->nbootstrap++] = *p;
        }
    }
    arm_join_retry(t);
}

void gs_hyparview_on_peer_disconnected(gs_topic *t, const gs_key *peer)
{
    (void)pending_remove(t, peer);
    ptrdiff_t ai = gs_view_active_find(&t->view, peer);
    if (ai >= 0) {
        remove_active(t, (size_t)ai, GS_DOWN_CONNECTION_LOST);
        return;
    }
    ptrdiff_t pi = gs_view_passive_find(&t->view, peer);
    if (pi >= 0) {
        if (t->view.passive[pi].alive) {
            t->view.passive[pi].alive = false;
        } else {
            passive_remove_at(t, (size_t)pi, true);
        }
    }
}

/* shuffle_thin: the passive view is thin and early shuffles are on (shuffle_early). */
static bool shuffle_thin(const gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    return cfg->shuffle_early != 0 && t->view.npassive < cfg->shuffle_passive_view_count;
}

gs_duration gs_hyparview_shuffle_next(gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    gs_duration d;

    t->shuffle_early_next = false;
    if (!shuffle_thin(t)) {
        t->shuffle_backoff = cfg->shuffle_early; /* thin again later: early again */
        return cfg->shuffle_interval;
    }
    d = t->shuffle_backoff != 0 ? t->shuffle_backoff : cfg->shuffle_early;
    if (d >= cfg->shuffle_interval) {
        return cfg->shuffle_interval; /* backed off all the way: a regular shuffle */
    }
    t->shuffle_backoff = d > cfg->shuffle_interval / 2 ? cfg->shuffle_interval : 2 * d;
    t->shuffle_early_next = true;
    ++t->ctx->c.shuffles_early;
    return d;
}

static void do_shuffle(gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;
    /* An early shuffle (thin passive view) asks its neighbour X directly (ttl 0): X answers on the
     * connection we already have, so filling the view costs no dial and no disconnect; the regular
     * shuffle walks shuffle_random_walk_length hops for a random sample of the swarm. */
    uint16_t ttl = t->shuffle_early_next ? 0 : cfg->shuffle_random_walk_length;

    (void)gs_topic_schedule(t, GS_TIMER_SHUFFLE, gs_hyparview_shuffle_next(t), 0, NULL);
    if (t->view.nactive == 0) {
        return;
    }
    size_t xi = (size_t)gs_rand_below(&t->rng, (uint64_t)t->view.nactive);
    gs_key x = t->view.active[xi].rec.id;
    size_t ncand = t->view.nactive + t->view.npassive;
    size_t *idx = gs_topic_scratch(t, (ncand + 1) * sizeof(size_t));
    gs_peer_info *items = gs_topic_scratch(t, (ncand + 1) * sizeof(gs_peer_info));
    if (idx == NULL || items == NULL) {
        return;
    }
    size_t n = 0;
    size_t k = 0;
    for (size_t i = 0; i < t->view.nactive; ++i) {
        if (i != xi) {
            idx[k++] = i;
        }
    }
    k = pick_k(t, idx, k, cfg->shuffle_active_view_count);
    for (size_t i = 0; i < k; ++i) {
        peer_info_of(t, &t->view.active[idx[i]].rec, &items[n++]);
    }
    k = 0;
    for (size_t i = 0; i < t->view.npassive; ++i) {
        if (!gs_key_eq(&t->view.passive[i].id, &x)) {
            idx[k++] = i;
        }
    }
    k = pick_k(t, idx, k, cfg->shuffle_passive_view_count);
    for (size_t i = 0; i < k; ++i) {
        peer_info_of(t, &t->view.passive[idx[i]], &items[n++]);
    }
    /* The reference appends ourselves last; we put ourselves first because trimming to fit M
     * (D13) drops entries from the end and our own entry is the one the shuffle must carry.
     * Receivers treat the list as a set. */
    memmove(&items[1], &items[0], n * sizeof(items[0]));
    memset(&items[0], 0, sizeof(items[0]));
    items[0].id = t->ctx->self;
    items[0].data = own_data(t, &items[0].has_data);
    ++n;
    gs_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE;
    m.shuffle.origin = t->ctx->self;
    m.shuffle.nodes.items = items;
    m.shuffle.nodes.n = n;
    m.shuffle.ttl = ttl;
    trim_list(t, &m, &m.shuffle.nodes, items);
    gs_topic_send(t, &x, &m);
}

static void join_retry(gs_topic *t)
{
    const gs_node_cfg *cfg = &t->ctx->cfg;

    t->join_retry_scheduled = false;
    t->join_timing = false; /* an answer may now be to either Join: no round-trip sample */
    if (t->view.nactive > 0) {
        t->join_backoff = gs_hyparview_join_retry_first(t);
        return;
    }
    for (size_t i = 0; i < t->nbootstrap; ++i) {
        send_join(t, &t->bootstrap[i]);
        ++t->ctx->c.join_retries;
    }
    /* One random passive peer per retry, not all of them: a Join always evicts someone at the
     * contact, so joining many at once would churn their views. */
    if (t->view.npassive > 0) {
        size_t i = (size_t)gs_rand_below(&t->rng, (uint64_t)t->view.npassive);
        send_join(t, &t->view.passive[i].id);
        ++t->ctx->c.join_retries;
    }
    gs_duration next = t->join_backoff * 2;
    t->join_backoff = next > cfg->join_retry_max ? cfg->join_retry_max : next;
    arm_join_retry(t);
}

void gs_hyparview_on_timer(gs_topic *t, const gs_timer *tm)
{
    switch (tm->kind) {
    case GS_TIMER_SHUFFLE:
        do_shuffle(t);
        break;
    case GS_TIMER_PENDING: {
        gs_key q;
        memcpy(q.b, tm->key, GS_KEY_LEN);
        ptrdiff_t i = gs_view_pending_find(&t->view, &q);
        if (i < 0 || t->view.pending[i].gen != tm->gen) {
            return; /* answered, or a newer request owns the entry */
        }
        pending_remove_at(t, (size_t)i);
        ++t->ctx->c.neighbor_timeouts;
        ptrdiff_t pi = gs_view_passive_find(&t->view, &q);
        if (pi >= 0) {
            passive_remove_at(t, (size_t)pi, true);
        }
        /* Nobody may need this peer any more (D2): let the node decide. */
        gs_topic_close(t, &q);
        refill(t, NULL);
        break;
    }
    case GS_TIMER_JOIN_RETRY:
        join_retry(t);
        break;
    default:
        break;
    }
}

void gs_hyparview_quit(gs_topic *t)
{
    size_t npending = t->view.npending;
    gs_key *closing = gs_topic_scratch(t, (npending + 1) * sizeof(gs_key));

    for (size_t i = 0; i < npending; ++i) {
        if (closing != NULL) {
            closing[i] = t->view.pending[i].id;
        }
    }
    t->view.npending = 0;
    if (closing != NULL) {
        for (size_t i = 0; i < npending; ++i) {
            gs_topic_close(t, &closing[i]);
        }
    }
    while (t->view.nactive > 0) {
        size_t last = --t->view.nactive;
        gs_peer_rec r = t->view.active[last].rec;
        memset(&t->view.active[last].rec, 0, sizeof(r));
        t->view.active[last].nlazyq = 0;
        send_disconnect(t, &r.id, false);
        rec_free(t, &r);
    }
}
