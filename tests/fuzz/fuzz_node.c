/* SPDX-License-Identifier: MIT */
/*
 * fuzz_node.c: libFuzzer target over the sans-IO protocol node (proto/node.h) under hostile input.
 *
 * Every input builds a fresh node with small bounds (2 topics, 3 active / 6 passive peers, M = 512,
 * tiny caches, timer and outbox limits), joins two topics and then reads the rest of the input as
 * a program.  Each step picks a peer (our own id, five valid keys, one byte string that is not a
 * valid Ed25519 key), a topic (two joined, one never joined) and an operation: a raw body for
 * gs_node_on_frame, a well-formed message built from the input bytes and encoded with the codec
 * (Join, ForwardJoin, Shuffle, ShuffleReply, Neighbor, Disconnect, Gossip with its correct id,
 * Prune, Graft, IHave), advancing virtual time, a lost connection, a broadcast, join_peers,
 * quit + re-join, or set_peer_data.  The outbox is drained after every call and the invariants
 * below are checked after every step; a violation aborts (a finding):
 *   - gs_node_on_frame returns the documented code (decode error, SELF, NOT_JOINED, BAD_ID, 0),
 *     and so does gs_node_on_frames for every frame of a batch (an op byte whose op / 13 is odd
 *     hands the frame over that way, in 1 to 4 copies);
 *   - no SEND or DISCONNECT is addressed to our own id; every SEND encodes, below M;
 *   - encode-once: a SEND flagged GS_NODE_OUT_FLAG_SAME_MSG encodes to exactly the bytes of the
 *     previous SEND of the outbox (what a consumer reusing that encoding sends), and the first
 *     SEND of an outbox is never flagged;
 *   - every RECEIVED event's id is BLAKE3(content);
 *   - the memory held through the node's gs_mem (counted here, and gs_node_mem_in_use) stays
 *     under a bound derived from the configuration;
 *   - per joined topic: active view <= capacity, passive <= capacity, pending <= max_pending,
 *     no duplicates, our id in no view, eager and lazy are disjoint subsets of the active view;
 *   - after gs_node_handle_expiry(now) the next expiry is later than now;
 *   - counters never decrease.
 * Without libFuzzer, fuzz_replay.c supplies a main() that replays every file of a directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake3.h"
#include "codec.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NPEERS    7 /* [0] our id, [1..5] valid keys, [6] not a valid key */
#define FZ_NTOPICS   3 /* [0], [1] joined at start, [2] never joined by the setup */
#define FZ_NCONTENTS 8
#define FZ_MAXSTEPS  512

static void fz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_node: invariant broken: %s\n", what);
        abort();
    }
}

/* --- counting allocator: a size header in front of every block --- */

typedef struct fz_mem_state {
    size_t in_use;
    size_t peak;
} fz_mem_state;

#define FZ_HDR 16

static void *fz_malloc(size_t size, void *ud)
{
    fz_mem_state *st = ud;
    uint8_t *p = malloc(size + FZ_HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    st->in_use += size;
    if (st->in_use > st->peak) {
        st->peak = st->in_use;
    }
    return p + FZ_HDR;
}

static void fz_free(void *ptr, void *ud)
{
    fz_mem_state *st = ud;
    size_t size;
    if (ptr == NULL) {
        return;
    }
    uint8_t *p = (uint8_t *)ptr - FZ_HDR;
    memcpy(&size, p, sizeof(size));
    fz_check(st->in_use >= size, "allocator: freed more than allocated");
    st->in_use -= size;
    free(p);
}

static void *fz_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    void *p = fz_malloc(nmemb * size, ud);
    if (p != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void *fz_realloc(void *ptr, size_t size, void *ud)
{
    size_t old = 0;
    if (ptr == NULL) {
        return fz_malloc(size, ud);
    }
    memcpy(&old, (uint8_t *)ptr - FZ_HDR, sizeof(old));
    void *n = fz_malloc(size, ud);
    if (n == NULL) {
        return NULL;
    }
    memcpy(n, ptr, old < size ? old : size);
    fz_free(ptr, ud);
    return n;
}

/* --- the input as a byte source: reads past the end yield zeros --- */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
    size_t off;
} fz_in;

static bool fz_more(const fz_in *in)
{
    return in->off < in->n;
}

static uint8_t fz_u8(fz_in *in)
{
    return in->off < in->n ? in->p[in->off++] : 0;
}

static uint16_t fz_u16(fz_in *in)
{
    uint16_t hi = fz_u8(in);
    return (uint16_t)((hi << 8) | fz_u8(in));
}

/* fz_take borrows up to |want| input bytes and returns how many it got. */
static size_t fz_take(fz_in *in, size_t want, const uint8_t **pp)
{
    size_t left = in->n - in->off;
    size_t k = want < left ? want : left;
    *pp = in->p + in->off;
    in->off += k;
    return k;
}

/* --- fixed ids --- */

typedef struct fz_world {
    gs_key peers[FZ_NPEERS];
    gs_topic_id topics[FZ_NTOPICS];
    uint8_t contents[FZ_NCONTENTS][24];
    gs_msg_id ids[FZ_NCONTENTS];
    bool ready;
} fz_world;

static fz_world g_world;

/* fz_world_init derives valid keys (and one invalid one) from BLAKE3 of a counter. */
static void fz_world_init(void)
{
    fz_world *w = &g_world;
    size_t nvalid = 0;
    bool have_bad = false;
    for (uint32_t i = 0; nvalid < FZ_NPEERS - 1 || !have_bad; ++i) {
        uint8_t seed[8] = {'f', 'z', 'k', 'e', 'y', (uint8_t)i, (uint8_t)(i >> 8), 0};
        uint8_t k[32];
        gs_blake3_hash(seed, sizeof(seed), k);
        if (gs_ed25519_key_is_valid(k)) {
            if (nvalid < FZ_NPEERS - 1) {
                memcpy(w->peers[nvalid++].b, k, 32);
            }
        } else if (!have_bad) {
            memcpy(w->peers[FZ_NPEERS - 1].b, k, 32);
            have_bad = true;
        }
    }
    for (size_t t = 0; t < FZ_NTOPICS; ++t) {
        memset(w->topics[t].b, 0, 32);
        w->topics[t].b[0] = (uint8_t)(0xa0 + t);
    }
    for (size_t c = 0; c < FZ_NCONTENTS; ++c) {
        memset(w->contents[c], (int)('a' + c), sizeof(w->contents[c]));
        gs_blake3_hash(w->contents[c], sizeof(w->contents[c]), w->ids[c].b);
    }
    w->ready = true;
}

/* --- the run --- */

typedef struct fz_run {
    gs_node *node;
    gs_node_cfg cfg;
    fz_mem_state mst;
    gs_mem mem;
    gs_tstamp now;
    size_t mem_bound;
    gs_node_counters last;
    gs_node_out out;
    uint8_t prev[GS_FRAME_PREFIX_LEN + 512]; /* encoding of the previous SEND in this drain */
    gs_ssize prevlen;                        /* -1: none yet */
} fz_run;

static bool fz_key_eq(const gs_key *a, const gs_key *b)
{
    return memcmp(a->b, b->b, GS_KEY_LEN) == 0;
}

static void fz_drain(fz_run *r)
{
    const gs_key *self = &g_world.peers[0];
    size_t n = 0;
    /* Every call is drained completely, so the next input call starts a new outbox. */
    r->prevlen = -1;
    while (gs_node_next_out(r->node, &r->out)) {
        ++n;
        const gs_node_out *o = &r->out;
        switch (o->type) {
        case GS_NODE_OUT_SEND: {
            fz_check(!fz_key_eq(&o->peer, self), "SEND addressed to our own id");
            size_t blen = gs_codec_body_len(&o->msg);
            fz_check(blen > 0 && blen < r->cfg.max_message_size, "SEND body below M");
            uint8_t frame[GS_FRAME_PREFIX_LEN + 512];
            gs_ssize fl =
                gs_codec_encode_frame(frame, sizeof(frame), &o->msg, r->cfg.max_message_size);
            fz_check(fl == (gs_ssize)(blen + GS_FRAME_PREFIX_LEN), "SEND encodes");
            if (o->flags & GS_NODE_OUT_FLAG_SAME_MSG) {
                fz_check(r->prevlen == fl && memcmp(r->prev, frame, (size_t)fl) == 0,
                         "SAME_MSG SEND encodes like the previous SEND");
            }
            memcpy(r->prev, frame, (size_t)fl);
            r->prevlen = fl;
            break;
        }
        case GS_NODE_OUT_DISCONNECT:
            fz_check(!fz_key_eq(&o->peer, self), "DISCONNECT addressed to our own id");
            break;
        case GS_NODE_OUT_EVENT:
            if (o->event == GS_NODE_EVENT_RECEIVED) {
                gs_msg_id id;
                gs_blake3_hash(o->content.base, o->content.len, id.b);
                fz_check(memcmp(id.b, o->id.b, 32) == 0, "RECEIVED id is BLAKE3(content)");
            } else if (o->event == GS_NODE_EVENT_NEIGHBOR_UP) {
                fz_check(!fz_key_eq(&o->peer, self), "NEIGHBOR_UP for our own id");
            }
            break;
        default:
            fz_check(false, "unknown outbox entry type");
        }
    }
    fz_check(n <= r->cfg.max_outbox, "outbox entries per call within max_outbox");
}

static bool fz_contains(const gs_key *set, size_t n, const gs_key *k)
{
    for (size_t i = 0; i < n; ++i) {
        if (fz_key_eq(&set[i], k)) {
            return true;
        }
    }
    return false;
}

static void fz_no_dups_no_self(const gs_key *set, size_t n, const char *what)
{
    for (size_t i = 0; i < n; ++i) {
        fz_check(!fz_key_eq(&set[i], &g_world.peers[0]), what);
        for (size_t j = i + 1; j < n; ++j) {
            fz_check(!fz_key_eq(&set[i], &set[j]), what);
        }
    }
}

static void fz_invariants(fz_run *r)
{
    const gs_node_cfg *cfg = &r->cfg;
    gs_key active[64];
    gs_key passive[64];
    gs_key eager[64];
    gs_key lazy[64];
    gs_key pending[64];

    fz_check(r->mst.in_use <= r->mem_bound, "memory within the bound derived from the cfg");
    fz_check(gs_node_mem_in_use(r->node) <= r->mst.in_use,
             "gs_node_mem_in_use within what the allocator handed out");
    fz_check(gs_node_ntopics(r->node) <= cfg->max_topics, "joined topics <= max_topics");
    for (size_t t = 0; t < FZ_NTOPICS; ++t) {
        const gs_topic_id *topic = &g_world.topics[t];
        size_t na = gs_node_active_view(r->node, topic, active, 64);
        size_t np = gs_node_passive_view(r->node, topic, passive, 64);
        size_t ne = gs_node_eager_peers(r->node, topic, eager, 64);
        size_t nl = gs_node_lazy_peers(r->node, topic, lazy, 64);
        size_t nq = gs_node_pending_peers(r->node, topic, pending, 64);
        if (!gs_node_is_joined(r->node, topic)) {
            fz_check(na == 0 && np == 0 && ne == 0 && nl == 0 && nq == 0,
                     "a topic not joined has empty views");
            continue;
        }
        fz_check(na <= cfg->active_view_capacity, "active view <= active_view_capacity");
        fz_check(np <= cfg->passive_view_capacity, "passive view <= passive_view_capacity");
        fz_check(nq <= cfg->max_pending, "pending Neighbor requests <= max_pending");
        fz_check(ne <= na && nl <= na, "eager and lazy no larger than the active view");
        fz_no_dups_no_self(active, na, "active view: no duplicates, not our id");
        fz_no_dups_no_self(passive, np, "passive view: no duplicates, not our id");
        for (size_t i = 0; i < ne; ++i) {
            fz_check(fz_contains(active, na, &eager[i]), "eager subset of active");
            fz_check(!fz_contains(lazy, nl, &eager[i]), "eager and lazy disjoint");
        }
        for (size_t i = 0; i < nl; ++i) {
            fz_check(fz_contains(active, na, &lazy[i]), "lazy subset of active");
        }
        for (size_t i = 0; i < na; ++i) {
            fz_check(!fz_contains(passive, np, &active[i]), "active and passive disjoint");
        }
        gs_node_topic_stats st;
        fz_check(gs_node_topic_stats_get(r->node, topic, &st) == 0, "stats of a joined topic");
        fz_check(st.nreceived <= cfg->max_received, "received ids <= max_received");
        fz_check(st.nmissing <= cfg->max_missing, "missing ids <= max_missing");
    }
    const gs_node_counters *c = gs_node_counters_get(r->node);
    const uint64_t *now = (const uint64_t *)(const void *)c;
    const uint64_t *was = (const uint64_t *)(const void *)&r->last;
    for (size_t i = 0; i < sizeof(*c) / sizeof(uint64_t); ++i) {
        fz_check(now[i] >= was[i], "counters never decrease");
    }
    r->last = *c;
}

/* fz_expire runs due timers; afterwards nothing may be due any more. */
static void fz_expire(fz_run *r)
{
    gs_tstamp e = gs_node_get_expiry(r->node);
    if (e <= r->now) {
        gs_node_handle_expiry(r->node, r->now);
        fz_drain(r);
        fz_check(gs_node_get_expiry(r->node) > r->now, "expiry after handle_expiry is later");
    }
}

static size_t fz_pick_peers(fz_in *in, gs_key *out, size_t max)
{
    size_t n = 1 + fz_u8(in) % max;
    for (size_t i = 0; i < n; ++i) {
        out[i] = g_world.peers[fz_u8(in) % FZ_NPEERS];
    }
    return n;
}

/* fz_build fills |m| with a well-formed message of a type chosen by the input. */
static void fz_build(fz_in *in, gs_msg *m, gs_peer_info *infos, gs_ihave_entry *ents)
{
    memset(m, 0, sizeof(*m));
    uint8_t t = fz_u8(in);
    m->type = (gs_msg_type)(t % 10);
    uint8_t flags = fz_u8(in);
    const uint8_t *p;
    switch (m->type) {
    case GS_MSG_JOIN:
        m->join.has_data = (flags & 1) != 0;
        m->join.data.len = fz_take(in, fz_u8(in) % 96, &p);
        m->join.data.base = p;
        break;
    case GS_MSG_FORWARD_JOIN:
        m->forward_join.peer.id = g_world.peers[fz_u8(in) % FZ_NPEERS];
        m->forward_join.peer.has_data = (flags & 1) != 0;
        m->forward_join.peer.data.len = fz_take(in, fz_u8(in) % 96, &p);
        m->forward_join.peer.data.base = p;
        m->forward_join.ttl = (flags & 2) != 0 ? fz_u16(in) : (uint16_t)(flags >> 4);
        break;
    case GS_MSG_SHUFFLE:
    case GS_MSG_SHUFFLE_REPLY: {
        size_t n = fz_u8(in) % 8;
        for (size_t i = 0; i < n; ++i) {
            memset(&infos[i], 0, sizeof(infos[i]));
            infos[i].id = g_world.peers[fz_u8(in) % FZ_NPEERS];
            uint8_t b = fz_u8(in);
            infos[i].has_data = (b & 1) != 0;
            infos[i].data.len = fz_take(in, b >> 3, &p);
            infos[i].data.base = p;
        }
        gs_peer_list *l = m->type == GS_MSG_SHUFFLE ? &m->shuffle.nodes : &m->shuffle_reply.nodes;
        l->n = n;
        l->items = infos;
        if (m->type == GS_MSG_SHUFFLE) {
            m->shuffle.origin = g_world.peers[fz_u8(in) % FZ_NPEERS];
            m->shuffle.ttl = (flags & 2) != 0 ? fz_u16(in) : (uint16_t)(flags >> 4);
        }
        break;
    }
    case GS_MSG_NEIGHBOR:
        m->neighbor.priority = (flags & 1) != 0 ? GS_PRIORITY_HIGH : GS_PRIORITY_LOW;
        m->neighbor.has_data = (flags & 2) != 0;
        m->neighbor.data.len = fz_take(in, fz_u8(in) % 96, &p);
        m->neighbor.data.base = p;
        break;
    case GS_MSG_DISCONNECT:
        m->disconnect.alive = (flags & 1) != 0;
        break;
    case GS_MSG_GOSSIP: {
        /* Mostly one of a few fixed contents (so IHave/Graft ids meet real messages), sometimes
         * input bytes; the id is the correct BLAKE3 unless bit 2 asks for a wrong one. */
        if ((flags & 1) != 0) {
            m->gossip.content.len = fz_take(in, fz_u16(in) % 600, &p);
            m->gossip.content.base = p;
            gs_blake3_hash(p, m->gossip.content.len, m->gossip.id.b);
        } else {
            size_t c = (flags >> 4) % FZ_NCONTENTS;
            m->gossip.content.base = g_world.contents[c];
            m->gossip.content.len = sizeof(g_world.contents[c]);
            m->gossip.id = g_world.ids[c];
        }
        if ((flags & 4) != 0) {
            m->gossip.id.b[0] ^= 1;
        }
        m->gossip.scope = (flags & 2) != 0 ? GS_SCOPE_NEIGHBORS : GS_SCOPE_SWARM;
        m->gossip.round = (flags & 8) != 0 ? fz_u16(in) : (uint16_t)(flags >> 5);
        break;
    }
    case GS_MSG_PRUNE:
        break;
    case GS_MSG_GRAFT:
        m->graft.has_id = (flags & 1) != 0;
        m->graft.id = g_world.ids[(flags >> 4) % FZ_NCONTENTS];
        m->graft.round = (flags & 2) != 0 ? fz_u16(in) : (uint16_t)(flags >> 5);
        break;
    case GS_MSG_IHAVE: {
        size_t n = 1 + flags % 6;
        for (size_t i = 0; i < n; ++i) {
            uint8_t b = fz_u8(in);
            ents[i].id = g_world.ids[b % FZ_NCONTENTS];
            if ((b & 0x80) != 0) {
                ents[i].id.b[1] ^= (uint8_t)(b >> 3); /* an id nobody has */
            }
            ents[i].round = (uint16_t)(b >> 5);
        }
        m->ihave.entries.n = n;
        m->ihave.entries.items = ents;
        break;
    }
    }
}

/*
 * fz_frame hands |len| bytes to gs_node_on_frame (an exact-size copy, so ASan sees any read past
 * the body) and checks the documented return code: the codec's error for a body that does not
 * decode, else GS_ERR_SELF from our own id, else GS_ERR_NOT_JOINED, else GS_ERR_BAD_ID for a
 * Gossip whose id is not BLAKE3(content), else 0.
 */
static void fz_frame(fz_run *r, const gs_key *peer, const gs_topic_id *topic, const uint8_t *p,
                     size_t len, unsigned copies)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    fz_check(copy != NULL, "malloc");
    if (len > 0) {
        memcpy(copy, p, len);
    }
    gs_msg dm;
    size_t trailing = 0;
    int expect = gs_codec_decode(&dm, copy, len, &trailing);
    if (expect != 0) {
        fz_check(expect < 0, "codec errors are negative");
    } else if (fz_key_eq(peer, &g_world.peers[0])) {
        expect = GS_ERR_SELF;
    } else if (!gs_node_is_joined(r->node, topic)) {
        expect = GS_ERR_NOT_JOINED;
    } else if (dm.type == GS_MSG_GOSSIP) {
        gs_msg_id id;
        gs_blake3_hash(dm.gossip.content.base, dm.gossip.content.len, id.b);
        expect = memcmp(id.b, dm.gossip.id.b, 32) == 0 ? 0 : GS_ERR_BAD_ID;
    }
    if (copies == 0) {
        int rv = gs_node_on_frame(r->node, peer, topic, copy, len, r->now);
        fz_check(rv == expect, "on_frame returns the documented code for the input");
    } else {
        /* the batched entry point, with the frame |copies| times (later copies of a Gossip are
         * duplicates): every copy gets the same documented code */
        gs_node_frame fr[4];
        for (unsigned i = 0; i < copies; ++i) {
            fr[i] = (gs_node_frame){peer, topic, copy, len, 1};
        }
        gs_node_on_frames(r->node, fr, copies, r->now);
        for (unsigned i = 0; i < copies; ++i) {
            fz_check(fr[i].rv == expect, "on_frames returns the documented code per frame");
        }
    }
    free(copy);
}

static void fz_step(fz_run *r, fz_in *in)
{
    uint8_t op = fz_u8(in);
    uint8_t sel = fz_u8(in);
    const gs_key *peer = &g_world.peers[sel % FZ_NPEERS];
    const gs_topic_id *topic = &g_world.topics[(sel >> 4) % FZ_NTOPICS];
    const uint8_t *p;
    gs_key keys[4];
    gs_peer_info infos[8];
    gs_ihave_entry ents[8];
    gs_msg m;
    uint8_t body[1024];

    /* op / 13 odd: frames go through gs_node_on_frames, 1 + (op / 26) % 4 copies */
    unsigned copies = ((op / 13) & 1) != 0 ? 1 + (unsigned)(op / 26) % 4 : 0;
    switch (op % 13) {
    case 0: { /* raw body */
        size_t len = fz_take(in, fz_u8(in), &p);
        fz_frame(r, peer, topic, p, len, copies);
        break;
    }
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: { /* a well-formed message */
        fz_build(in, &m, infos, ents);
        gs_ssize n = gs_codec_encode_body(body, sizeof(body), &m);
        if (n > 0) {
            fz_frame(r, peer, topic, body, (size_t)n, copies);
        }
        break;
    }
    case 6:
    case 7: { /* time passes: 0..63 units of 1 ms, 16 ms, 256 ms or 4 s */
        static const gs_duration unit[4] = {GS_MILLISECONDS, 16 * GS_MILLISECONDS,
                                            256 * GS_MILLISECONDS, 4 * GS_SECONDS};
        uint8_t b = fz_u8(in);
        r->now += (gs_duration)(b & 0x3f) * unit[b >> 6];
        break;
    }
    case 8:
        gs_node_on_peer_disconnected(r->node, peer, r->now);
        break;
    case 9: { /* broadcast */
        uint8_t b = fz_u8(in);
        gs_scope scope = (b & 1) != 0 ? GS_SCOPE_NEIGHBORS : GS_SCOPE_SWARM;
        gs_msg_id id;
        int rv;
        if ((b & 2) != 0) {
            size_t len = fz_take(in, (size_t)fz_u16(in) % 700, &p);
            rv = gs_node_broadcast(r->node, topic, p, len, scope, r->now, &id);
        } else {
            size_t c = (b >> 4) % FZ_NCONTENTS;
            rv = gs_node_broadcast(r->node, topic, g_world.contents[c], sizeof(g_world.contents[c]),
                                   scope, r->now, &id);
        }
        fz_check(rv == 0 || rv == GS_ERR_NOT_JOINED || rv == GS_ERR_MSG_TOO_LARGE,
                 "broadcast returns a documented code");
        fz_check(rv != GS_ERR_NOT_JOINED || !gs_node_is_joined(r->node, topic),
                 "NOT_JOINED only for a topic not joined");
        break;
    }
    case 10: { /* join_peers */
        size_t n = fz_pick_peers(in, keys, 4);
        int rv = gs_node_join_peers(r->node, topic, keys, n, r->now);
        fz_check(rv == 0 || rv == GS_ERR_NOT_JOINED, "join_peers returns a documented code");
        break;
    }
    case 11: { /* quit, then maybe re-join (or join a topic not joined) */
        bool joined = gs_node_is_joined(r->node, topic);
        if (joined) {
            fz_check(gs_node_quit(r->node, topic, r->now) == 0, "quit of a joined topic");
            fz_drain(r);
            fz_check(!gs_node_is_joined(r->node, topic), "quit leaves the topic");
        } else {
            fz_check(gs_node_quit(r->node, topic, r->now) == GS_ERR_NOT_JOINED,
                     "quit of a topic not joined");
        }
        if (!joined || (sel & 8) != 0) {
            size_t n = fz_pick_peers(in, keys, 4);
            int rv = gs_node_join(r->node, topic, keys, n, r->now);
            fz_check(rv == 0 || rv == GS_ERR_LIMIT, "join returns a documented code");
            fz_check(rv != GS_ERR_LIMIT || gs_node_ntopics(r->node) == r->cfg.max_topics,
                     "LIMIT only at max_topics");
        }
        break;
    }
    case 12: { /* set_peer_data */
        size_t len = fz_take(in, fz_u8(in), &p);
        int rv = gs_node_set_peer_data(r->node, p, len, r->now);
        fz_check(rv == 0 || rv == GS_ERR_MSG_TOO_LARGE, "set_peer_data returns a documented code");
        fz_check(rv == 0 || len > r->cfg.max_peer_data_len || len + 64 > r->cfg.max_message_size,
                 "set_peer_data refuses only long data");
        break;
    }
    default:
        break;
    }
    fz_drain(r);
    fz_expire(r);
    fz_invariants(r);
}

/* fz_mem_bound: what the node may hold with |cfg|, counted generously per collection. */
static size_t fz_mem_bound(const gs_node_cfg *c)
{
    size_t peers =
        c->active_view_capacity + c->passive_view_capacity + c->max_pending + c->max_bootstrap;
    size_t per_topic = 2 * c->cache_bytes + c->max_received * 256 +
                       c->max_missing * (256 + c->max_announcers * 64) +
                       peers * (c->max_peer_data_len + 256) + 64 * 1024;
    return c->max_topics * per_topic + c->max_timers * 128 +
           2 * c->max_outbox * sizeof(gs_node_out) + 2 * c->max_scratch_bytes +
           2 * c->max_peer_data_len + 256 * 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run r;
    fz_in in = {data, size, 0};

    if (!g_world.ready) {
        fz_world_init();
    }
    memset(&r, 0, sizeof(r));
    gs_node_cfg_default(&r.cfg);
    uint8_t shape = fz_u8(&in);
    r.cfg.active_view_capacity = 2 + (shape & 1);
    r.cfg.passive_view_capacity = 4 + ((shape >> 1) & 3);
    r.cfg.shuffle_active_view_count = 2;
    r.cfg.shuffle_passive_view_count = 2;
    r.cfg.max_message_size = GS_MAX_MESSAGE_SIZE_MIN;
    r.cfg.max_topics = 2;
    r.cfg.max_pending = 2;
    r.cfg.max_bootstrap = 3;
    r.cfg.max_peer_data_len = 64;
    r.cfg.max_received = 8;
    r.cfg.cache_bytes = 2 * GS_MAX_MESSAGE_SIZE_MIN;
    r.cfg.max_missing = 4;
    r.cfg.max_announcers = 2;
    r.cfg.max_timers = 4 * r.cfg.max_topics + 16 + ((shape >> 3) & 7) * 8;
    r.cfg.max_outbox = 16 + ((shape >> 6) & 3) * 16;
    r.cfg.max_scratch_bytes = 4 * GS_MAX_MESSAGE_SIZE_MIN;
    r.cfg.message_cache_retention = 2 * GS_SECONDS;
    r.cfg.message_id_retention = 6 * GS_SECONDS;
    fz_check(gs_node_cfg_validate(&r.cfg) == 0, "the fuzz cfg is valid");
    r.mem_bound = fz_mem_bound(&r.cfg);
    r.mem.user_data = &r.mst;
    r.mem.malloc = fz_malloc;
    r.mem.free = fz_free;
    r.mem.calloc = fz_calloc;
    r.mem.realloc = fz_realloc;
    r.now = 1000 * GS_SECONDS;
    uint64_t seed = fz_u16(&in);
    fz_check(gs_node_new(&r.node, &r.cfg, &g_world.peers[0], seed, &r.mem) == 0, "gs_node_new");

    gs_key boot[2] = {g_world.peers[1], g_world.peers[2]};
    fz_check(gs_node_join(r.node, &g_world.topics[0], boot, 2, r.now) == 0, "join topic 0");
    fz_drain(&r);
    fz_check(gs_node_join(r.node, &g_world.topics[1], NULL, 0, r.now) == 0, "join topic 1");
    fz_drain(&r);
    fz_invariants(&r);

    for (size_t steps = 0; fz_more(&in) && steps < FZ_MAXSTEPS; ++steps) {
        fz_step(&r, &in);
    }
    /* Let every timer run out: the node must settle without breaking a bound. */
    for (size_t i = 0; i < 64; ++i) {
        gs_tstamp e = gs_node_get_expiry(r.node);
        if (e == GS_TSTAMP_NEVER || e > r.now + 600 * GS_SECONDS) {
            break;
        }
        r.now = e > r.now ? e : r.now;
        fz_expire(&r);
        fz_invariants(&r);
    }
    gs_node_del(r.node);
    fz_check(r.mst.in_use == 0, "gs_node_del frees everything");
    return 0;
}
