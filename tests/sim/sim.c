/* SPDX-License-Identifier: MIT */
/*
 * sim.c: the discrete-event swarm simulator (see sim.h and docs/sim.md).
 *
 * One event queue (binary heap keyed by (time, sequence number), so equal times keep insertion
 * order and runs are deterministic) carries five kinds of events: a frame arriving at a node, a
 * node's timer, a connection-close notification, a failed dial and an idle-timeout expiry.  Each
 * node has at most one live timer event; a superseded one is recognised by its sequence number and
 * skipped.  Events addressed to a node carry its incarnation, so nothing sent to a crashed node
 * reaches its restarted successor.
 *
 * Connections are tracked per unordered pair in an open-addressing table (never shrinks; bounded
 * by the pairs that ever talked, GS_ERR_LIMIT beyond cfg.max_conns).  The newest connection of a
 * pair moves CLOSED -> OPEN on a send to a reachable running peer, CLOSED -> DIALING on a send to
 * a down or partitioned one (DIAL_FAIL after dial_timeout), OPEN -> DEAD when one side crashes
 * (IDLE_DEAD at the survivor after the idle timeout), and OPEN -> CLOSED on a DISCONNECT, a
 * shutdown or a partition that outlasts the idle timeout.  Each side keeps its own view of which
 * connection it uses (see sim_conn); notifications carry the generation they concern and reach a
 * node only if that is still its send path (PROTOCOL.md 3.5).
 */
#include "sim.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_rand.h"

enum {
    EV_FRAME = 1,      /* |blob| from |src| arrives at |dst| */
    EV_TIMER = 2,      /* |dst|'s timer; valid iff seq == node timer_seq */
    EV_CLOSE_NOTE = 3, /* |src| closed its connection to |dst| */
    EV_DIAL_FAIL = 4,  /* |dst|'s dial to |src| failed (generation |gen|) */
    EV_IDLE_DEAD = 5,  /* |dst|'s connection to crashed |src| hit the idle timeout */
    EV_IDLE_PART = 6,  /* the connection |src|-|dst| across a partition (epoch |aux|) timed out */
};

enum {
    CONN_CLOSED = 0,
    CONN_OPEN = 1,
    CONN_DEAD = 2,
    CONN_DIALING = 3,
};

#define NO_MSG         UINT64_MAX
#define PROGRESS_EVERY 65536u
#define SIM_MAGIC      0x4d495347u /* "GSIM" little-endian */

/* sim_blob: one encoded frame shared by every event that carries it. */
typedef struct sim_blob {
    uint32_t refs;
    uint32_t len;
    uint64_t msg_no; /* sim message number of a Gossip frame, NO_MSG otherwise */
    uint8_t data[];
} sim_blob;

typedef struct sim_ev {
    gs_tstamp at;
    uint64_t seq;
    uint64_t gen;
    uint64_t aux;
    sim_blob *blob;
    uint32_t type;
    uint32_t src;
    uint32_t dst;
    uint32_t dst_inc;
} sim_ev;

/*
 * sim_conn: the connections of one pair of nodes.  |gen| and |state| describe the newest
 * connection (or dial); each side also has its own view: the newest generation it has seen
 * (|seen|, set when it opens one or when a frame of one arrives) and whether it believes that
 * connection is open (|up|).  A side writes to the connection it believes in; a close applies to
 * that connection; a close notification or an idle timeout only matters to a side whose current
 * connection it concerns (PROTOCOL.md 3.5: closing an older connection changes nothing).
 */
typedef struct sim_conn {
    uint64_t key; /* (lo << 32 | hi) + 1; 0 = empty slot */
    uint64_t gen;
    uint64_t seen[2];   /* per side (0: lower index, 1: higher) */
    gs_tstamp note_at;  /* when the peer of |closer| learns of the last close */
    gs_tstamp ready_at; /* dial_handshake: when the newest connection's handshake completes */
    uint32_t who;       /* OPEN: the opener; DEAD: the crashed side; DIALING: the dialer */
    uint32_t closer;    /* the side that closed last */
    uint32_t state;
    uint8_t up[2];
    /* GS_SIM_REF_NO_REDIAL: the side's incarnation when a failed dial stuck it (0: none); while it
     * matches, the side sends nothing to the peer until the peer opens a connection. */
    uint32_t stuck[2];
} sim_conn;

typedef struct sim_node {
    gs_node *node; /* NULL while down */
    uint32_t inc;  /* incarnation: bumped at every start and stop */
    bool ref;      /* runs cfg.ref_node */
    uint64_t timer_seq;
    gs_tstamp timer_at;
} sim_node;

/* Histograms of per-delivery figures: latency in 0.1 ms buckets up to 10 s, stretch in 0.001
 * buckets up to 20 (larger values land in the last bucket; the maxima are kept exactly). */
#define LAT_BUCKET   (100 * GS_MICROSECONDS)
#define LAT_NBUCKETS 100000u
#define STR_NBUCKETS 20000u
#define STR_SCALE    1000.0
/* Shortest-path distances are computed while k x n stays below this (4 bytes each). */
#define DIST_MAX_ENTRIES ((size_t)1 << 25)

typedef struct sim_hist {
    uint64_t lat[LAT_NBUCKETS];
    uint64_t str[STR_NBUCKETS];
    uint64_t nlat;
    uint64_t nstr;
    double str_max;
} sim_hist;

typedef struct sim_round {
    bool active;   /* payload receipts of the round's messages are counted */
    bool counting; /* first deliveries are counted (before the timeout) */
    uint64_t base;
    size_t k;
    uint32_t *senders;
    uint8_t *bits;    /* k * npeers delivery bits */
    uint8_t *grafted; /* k * npeers bits: the node sent a Graft for the message */
    gs_msg_id *ids;   /* the k message ids */
    uint32_t *idtab;  /* open addressing over ids: message index + 1, 0 = empty */
    size_t idcap;     /* power of two >= 2k */
    uint32_t *dist;   /* k * npeers shortest overlay delay in us (UINT32_MAX: no path), or NULL */
    gs_tstamp start;
    uint64_t expected;
    uint64_t delivered;
    uint64_t payload_recv;
    uint64_t graft_deliveries;
    uint16_t ldh;
    gs_duration max_ttd;
} sim_round;

struct gs_sim {
    gs_sim_cfg cfg;
    gs_tstamp now;
    gs_topic_id topic;
    gs_rand rng;
    size_t n;
    gs_key *keys;
    sim_node *nodes;
    size_t nup;
    /* event heap */
    sim_ev *heap;
    size_t nheap;
    size_t capheap;
    uint64_t next_seq;
    /* connections */
    sim_conn *conns;
    size_t capconns; /* power of two */
    size_t nconns;
    uint64_t next_gen;
    /* partition */
    bool partitioned;
    uint64_t part_epoch;
    uint8_t *group;
    /* messages and rounds */
    uint64_t next_msg_no;
    uint8_t *payload;
    sim_round rd;
    sim_hist *rh; /* the current round's per-delivery histograms */
    gs_sim_stats stats;
    uint64_t trace;
    bool aborting; /* GS_SIM_REF_ABORT_SHUTDOWN: drain drops the SENDs of the node leaving */
    int err;       /* first internal error (NOMEM/LIMIT) seen while processing events */
};

static void round_free(sim_round *rd);

/* --- small helpers --- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (size_t i = 0; i < 8; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (size_t i = 0; i < 8; ++i) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* FNV-1a over the trace: cheap, and collisions do not matter for a determinism check. */
static void trace_bytes(gs_sim *sim, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = sim->trace;

    for (size_t i = 0; i < len; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    sim->trace = h;
}

static void trace_u64(gs_sim *sim, uint64_t v)
{
    uint8_t b[8];

    put_le64(b, v);
    trace_bytes(sim, b, sizeof(b));
}

static void set_err(gs_sim *sim, int rv)
{
    if (sim->err == 0) {
        sim->err = rv;
    }
}

/* ref_io returns true if node |i| runs the reference node and the I/O behaviour |bit| is on. */
static bool ref_io(const gs_sim *sim, uint32_t i, uint32_t bit)
{
    return sim->nodes[i].ref && (sim->cfg.ref_io & bit) != 0;
}

static bool node_up(const gs_sim *sim, uint32_t i)
{
    return sim->nodes[i].node != NULL;
}

bool gs_sim_reachable(const gs_sim *sim, size_t a, size_t b)
{
    return !sim->partitioned || sim->group[a] == sim->group[b];
}

static gs_duration pair_latency(const gs_sim *sim, uint32_t a, uint32_t b)
{
    gs_duration span = sim->cfg.latency_max - sim->cfg.latency_min;
    uint32_t lo = a < b ? a : b;
    uint32_t hi = a < b ? b : a;

    if (span == 0) {
        return sim->cfg.latency_min;
    }
    /* Drawn once per pair: a pure function of the seed and the pair, so no table is needed. */
    uint64_t h = mix64(sim->cfg.seed * 0x9e3779b97f4a7c15ULL ^ mix64(((uint64_t)lo << 32) | hi));
    return sim->cfg.latency_min + h % span;
}

/* lookup_key maps a peer id back to a node index (ids carry it in their first 4 bytes). */
static bool lookup_key(const gs_sim *sim, const gs_key *key, uint32_t *pi)
{
    uint32_t i = get_le32(key->b);

    if (i >= sim->n || memcmp(sim->keys[i].b, key->b, GS_KEY_LEN) != 0) {
        return false;
    }
    *pi = i;
    return true;
}

/* --- event heap --- */

static bool ev_before(const sim_ev *a, const sim_ev *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int heap_push(gs_sim *sim, sim_ev *ev)
{
    if (sim->nheap == sim->capheap) {
        if (sim->nheap >= sim->cfg.max_events) {
            return GS_ERR_LIMIT;
        }
        size_t cap = sim->capheap ? sim->capheap * 2 : 4096;
        if (cap > sim->cfg.max_events) {
            cap = sim->cfg.max_events;
        }
        sim_ev *h = realloc(sim->heap, cap * sizeof(*h));
        if (h == NULL) {
            return GS_ERR_NOMEM;
        }
        sim->heap = h;
        sim->capheap = cap;
    }
    ev->seq = ++sim->next_seq;
    size_t i = sim->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(ev, &sim->heap[parent])) {
            break;
        }
        sim->heap[i] = sim->heap[parent];
        i = parent;
    }
    sim->heap[i] = *ev;
    return 0;
}

static void heap_pop(gs_sim *sim, sim_ev *out)
{
    assert(sim->nheap > 0);
    *out = sim->heap[0];
    sim_ev last = sim->heap[--sim->nheap];
    size_t i = 0;
    size_t n = sim->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && ev_before(&sim->heap[c + 1], &sim->heap[c])) {
            ++c;
        }
        if (!ev_before(&sim->heap[c], &last)) {
            break;
        }
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n > 0) {
        sim->heap[i] = last;
    }
}

static int schedule(gs_sim *sim, gs_tstamp at, uint32_t type, uint32_t src, uint32_t dst,
                    uint64_t gen, uint64_t aux, sim_blob *blob, uint64_t *pseq)
{
    sim_ev ev = {
        .at = at,
        .gen = gen,
        .aux = aux,
        .blob = blob,
        .type = type,
        .src = src,
        .dst = dst,
        .dst_inc = sim->nodes[dst].inc,
    };
    int rv = heap_push(sim, &ev);
    if (rv != 0) {
        set_err(sim, rv);
        return rv;
    }
    if (blob != NULL) {
        ++blob->refs;
    }
    if (pseq != NULL) {
        *pseq = ev.seq;
    }
    return 0;
}

static void blob_unref(sim_blob *b)
{
    if (b != NULL && --b->refs == 0) {
        free(b);
    }
}

/* --- connection table --- */

static uint64_t conn_key(uint32_t a, uint32_t b)
{
    uint32_t lo = a < b ? a : b;
    uint32_t hi = a < b ? b : a;
    return (((uint64_t)lo << 32) | hi) + 1;
}

static sim_conn *conn_find_slot(sim_conn *tab, size_t cap, uint64_t key)
{
    size_t i = (size_t)mix64(key) & (cap - 1);

    while (tab[i].key != 0 && tab[i].key != key) {
        i = (i + 1) & (cap - 1);
    }
    return &tab[i];
}

static sim_conn *conn_lookup(gs_sim *sim, uint32_t a, uint32_t b)
{
    sim_conn *c = conn_find_slot(sim->conns, sim->capconns, conn_key(a, b));
    return c->key != 0 ? c : NULL;
}

static sim_conn *conn_get(gs_sim *sim, uint32_t a, uint32_t b)
{
    uint64_t key = conn_key(a, b);

    if ((sim->nconns + 1) * 2 > sim->capconns) {
        if (sim->nconns >= sim->cfg.max_conns) {
            set_err(sim, GS_ERR_LIMIT);
            return NULL;
        }
        size_t cap = sim->capconns * 2;
        sim_conn *tab = calloc(cap, sizeof(*tab));
        if (tab == NULL) {
            set_err(sim, GS_ERR_NOMEM);
            return NULL;
        }
        for (size_t i = 0; i < sim->capconns; ++i) {
            if (sim->conns[i].key != 0) {
                *conn_find_slot(tab, cap, sim->conns[i].key) = sim->conns[i];
            }
        }
        free(sim->conns);
        sim->conns = tab;
        sim->capconns = cap;
    }
    sim_conn *c = conn_find_slot(sim->conns, sim->capconns, key);
    if (c->key == 0) {
        c->key = key;
        c->state = CONN_CLOSED;
        ++sim->nconns;
    }
    return c;
}

static void conn_peers(const sim_conn *c, uint32_t *lo, uint32_t *hi)
{
    uint64_t k = c->key - 1;
    *lo = (uint32_t)(k >> 32);
    *hi = (uint32_t)k;
}

/* conn_side returns |a|'s index in the pair's per-side arrays. */
static size_t conn_side(const sim_conn *c, uint32_t a)
{
    return (uint32_t)((c->key - 1) >> 32) == a ? 0 : 1;
}

/* --- nodes: feeding inputs and draining the outbox --- */

static void on_received(gs_sim *sim, uint32_t i, const gs_node_out *out)
{
    sim_round *rd = &sim->rd;

    if (!rd->counting || out->scope != GS_SCOPE_SWARM || out->content.len < 12 ||
        get_le32(out->content.base) != SIM_MAGIC) {
        return;
    }
    uint64_t no = get_le64(out->content.base + 4);
    if (no < rd->base || no - rd->base >= rd->k) {
        return;
    }
    size_t m = (size_t)(no - rd->base);
    uint32_t sender = rd->senders[m];
    if (i == sender || !gs_sim_reachable(sim, sender, i)) {
        return;
    }
    size_t bit = m * sim->n + i;
    if (rd->bits[bit / 8] & (1u << (bit % 8))) {
        ++sim->stats.dup_received;
        return;
    }
    rd->bits[bit / 8] = (uint8_t)(rd->bits[bit / 8] | (1u << (bit % 8)));
    ++rd->delivered;
    if (out->round > rd->ldh) {
        rd->ldh = out->round;
    }
    gs_duration ttd = sim->now - rd->start;
    if (ttd > rd->max_ttd) {
        rd->max_ttd = ttd;
    }
    if (rd->grafted[bit / 8] & (1u << (bit % 8))) {
        ++rd->graft_deliveries;
    }
    sim_hist *h = sim->rh;
    uint64_t lb = ttd / LAT_BUCKET;
    ++h->lat[lb < LAT_NBUCKETS ? lb : LAT_NBUCKETS - 1];
    ++h->nlat;
    if (rd->dist != NULL && rd->dist[bit] != UINT32_MAX && rd->dist[bit] > 0) {
        double st = (double)ttd / ((double)rd->dist[bit] * (double)GS_MICROSECONDS);
        double sb = st * STR_SCALE;
        ++h->str[sb < (double)STR_NBUCKETS ? (size_t)sb : STR_NBUCKETS - 1];
        ++h->nstr;
        if (st > h->str_max) {
            h->str_max = st;
        }
    }
}

static uint64_t id_hash(const gs_msg_id *id)
{
    return get_le64(id->b);
}

/* round_msg_index maps a message id of the current round to its index, or returns false. */
static bool round_msg_index(const sim_round *rd, const gs_msg_id *id, size_t *pm)
{
    if (rd->idcap == 0) {
        return false;
    }
    for (size_t i = (size_t)id_hash(id) & (rd->idcap - 1); rd->idtab[i] != 0;
         i = (i + 1) & (rd->idcap - 1)) {
        size_t m = rd->idtab[i] - 1;
        if (memcmp(rd->ids[m].b, id->b, sizeof(id->b)) == 0) {
            *pm = m;
            return true;
        }
    }
    return false;
}

/* on_graft_sent marks that node |i| asked for a message of the round with a Graft. */
static void on_graft_sent(gs_sim *sim, uint32_t i, const gs_msg *msg)
{
    sim_round *rd = &sim->rd;
    size_t m;

    if (!rd->counting || !msg->graft.has_id || !round_msg_index(rd, &msg->graft.id, &m)) {
        return;
    }
    size_t bit = m * sim->n + i;
    rd->grafted[bit / 8] = (uint8_t)(rd->grafted[bit / 8] | (1u << (bit % 8)));
}

static void arm_timer(gs_sim *sim, uint32_t i)
{
    sim_node *n = &sim->nodes[i];
    gs_tstamp e = gs_node_get_expiry(n->node);

    if (e == GS_TSTAMP_NEVER) {
        return;
    }
    if (e < sim->now) {
        e = sim->now;
    }
    if (n->timer_seq != 0 && n->timer_at <= e) {
        return; /* an earlier timer event will fire and re-arm */
    }
    uint64_t seq;
    if (schedule(sim, e, EV_TIMER, i, i, 0, 0, NULL, &seq) == 0) {
        n->timer_seq = seq;
        n->timer_at = e;
    }
}

static void conn_deliver(gs_sim *sim, sim_conn *c, uint32_t a, uint32_t b, sim_blob *blob)
{
    if (sim->cfg.loss_ppm != 0 && gs_rand_below(&sim->rng, 1000000) < sim->cfg.loss_ppm) {
        ++sim->stats.frames_lost;
        return;
    }
    gs_tstamp at = sim->now + pair_latency(sim, a, b);
    if (c->ready_at > sim->now) {
        /* Still in the handshake: the frame waits for it, then travels. */
        at = c->ready_at + pair_latency(sim, a, b);
    }
    if (!sim->cfg.literal_close && c->closer == a && c->note_at >= at) {
        /* A frame on the connection that replaces one |a| just closed cannot overtake that
         * connection's CONNECTION_CLOSE. */
        at = c->note_at + 1;
    }
    schedule(sim, at, EV_FRAME, a, b, c->gen, 0, blob, NULL);
}

/* conn_open makes |a|'s new connection to |b| the pair's newest.  With dial_handshake its first
 * frame can leave only after a round trip (Initial -> Handshake), or after initial_pto more when
 * the Initial is lost. */
static void conn_open(gs_sim *sim, sim_conn *c, uint32_t a, uint32_t b)
{
    c->state = CONN_OPEN;
    c->who = a;
    c->gen = ++sim->next_gen;
    c->ready_at = 0;
    ++sim->stats.handshakes;
    if (sim->cfg.dial_handshake) {
        gs_duration rtt = 2 * pair_latency(sim, a, b);
        if (sim->cfg.initial_loss_ppm != 0 &&
            gs_rand_below(&sim->rng, 1000000) < sim->cfg.initial_loss_ppm) {
            ++sim->stats.initials_lost;
            rtt += sim->cfg.initial_pto;
        }
        c->ready_at = sim->now + rtt;
    }
}

static void conn_send(gs_sim *sim, uint32_t a, uint32_t b, sim_blob *blob)
{
    sim_conn *c = conn_get(sim, a, b);

    if (c == NULL) {
        return;
    }
    size_t sa = conn_side(c, a);
    bool reach = node_up(sim, b) && gs_sim_reachable(sim, a, b);
    if (!c->up[sa] && c->stuck[sa] != 0 && c->stuck[sa] == sim->nodes[a].inc) {
        ++sim->stats.ref_frames_stuck; /* D4: queued behind a failed dial, never sent */
        return;
    }
    ++sim->stats.frames_sent;
    sim->stats.frame_bytes += blob->len;
    if (sim->cfg.literal_close && reach && c->state != CONN_DEAD) {
        /* Section 10 as written: every frame between running peers arrives. */
        if (c->state != CONN_OPEN) {
            conn_open(sim, c, a, b);
        }
        c->seen[sa] = c->gen;
        c->up[sa] = 1;
        conn_deliver(sim, c, a, b, blob);
        return;
    }
    if (c->up[sa]) {
        /* |a| writes to the connection it believes open.  It may be dead (the peer crashed or
         * restarted), closed by the peer (the CONNECTION_CLOSE is on its way) or cut off by a
         * partition: then the frame is lost, and |a| hears of it by the notification or the idle
         * timeout that is already scheduled. */
        if (c->seen[sa] == c->gen && c->state == CONN_OPEN && reach) {
            conn_deliver(sim, c, a, b, blob);
            return;
        }
        if (c->note_at > sim->now && c->closer == b) {
            ++sim->stats.frames_on_closed;
        }
        ++sim->stats.frames_lost;
        return;
    }
    if (!reach) {
        /* No connection: dial.  An unreachable peer never answers; the dial fails later. */
        if (c->state != CONN_DIALING || c->who != a) {
            c->state = CONN_DIALING;
            c->who = a;
            c->gen = ++sim->next_gen;
            schedule(sim, gs_tstamp_add(sim->now, sim->cfg.dial_timeout), EV_DIAL_FAIL, b, a,
                     c->gen, 0, NULL, NULL);
        }
        ++sim->stats.frames_lost;
        return;
    }
    if (c->state != CONN_OPEN) {
        conn_open(sim, c, a, b);
    }
    /* else: the peer just opened one we have not seen yet; both opens end up on one path. */
    c->seen[sa] = c->gen;
    c->up[sa] = 1;
    conn_deliver(sim, c, a, b, blob);
}

static void conn_close(gs_sim *sim, uint32_t a, uint32_t b)
{
    sim_conn *c = conn_lookup(sim, a, b);

    if (c == NULL) {
        return;
    }
    size_t sa = conn_side(c, a);
    if (sim->cfg.literal_close && c->state == CONN_OPEN) {
        c->up[sa] = 1; /* section 10 as written: the pair's connection is closed, whoever knew it */
        c->seen[sa] = c->gen;
    }
    if (!c->up[sa]) {
        if (c->state == CONN_DIALING && c->who == a) {
            c->state = CONN_CLOSED; /* abandon the dial */
        }
        return;
    }
    c->up[sa] = 0;
    if (c->seen[sa] != c->gen || c->state != CONN_OPEN) {
        if (c->seen[sa] == c->gen && c->state == CONN_DEAD) {
            c->state = CONN_CLOSED;
        }
        return; /* |a|'s connection was already dead or superseded: nobody to tell */
    }
    c->state = CONN_CLOSED;
    if (c->ready_at > sim->now) {
        ++sim->stats.handshake_closes;
    }
    if (!node_up(sim, b)) {
        return;
    }
    /* Section 10: the other side is told after the pair latency + 1 us.  Across a partition the
     * CONNECTION_CLOSE is lost and the peer finds out through its idle timeout. */
    gs_duration d = gs_sim_reachable(sim, a, b) ? pair_latency(sim, a, b) + GS_MICROSECONDS
                                                : sim->cfg.idle_timeout;
    c->closer = a;
    /* A close during the handshake goes out after it, behind the frames queued for it. */
    c->note_at = (c->ready_at > sim->now ? c->ready_at : sim->now) + d;
    schedule(sim, c->note_at, EV_CLOSE_NOTE, a, b, c->gen, 0, NULL, NULL);
}

/* conn_lose_side: |a| loses its connection |gen| (notification, idle timeout); true if |a| was
 * using it, so that its node must be told. */
static bool conn_lose_side(sim_conn *c, uint32_t a, uint64_t gen)
{
    size_t sa = conn_side(c, a);

    if (!c->up[sa] || c->seen[sa] != gen) {
        return false;
    }
    c->up[sa] = 0;
    return true;
}

static sim_blob *encode(gs_sim *sim, const gs_msg *msg)
{
    size_t len = GS_FRAME_PREFIX_LEN + gs_codec_body_len(msg);
    sim_blob *b = malloc(sizeof(*b) + len);

    if (b == NULL) {
        set_err(sim, GS_ERR_NOMEM);
        return NULL;
    }
    gs_ssize n = gs_codec_encode_frame(b->data, len, msg, sim->cfg.node.max_message_size);
    if (n < 0) {
        free(b);
        ++sim->stats.encode_errors;
        return NULL;
    }
    b->refs = 1;
    b->len = (uint32_t)n;
    b->msg_no = NO_MSG;
    if (msg->type == GS_MSG_GOSSIP && msg->gossip.content.len >= 12 &&
        get_le32(msg->gossip.content.base) == SIM_MAGIC) {
        b->msg_no = get_le64(msg->gossip.content.base + 4);
    }
    return b;
}

/*
 * same_encoding returns true if |msg| encodes to the frame |prev| (the previous SEND's encoding
 * that a GS_NODE_OUT_FLAG_SAME_MSG entry reuses).  Gossip, the one message the node flags, is
 * compared field by field against |prev_msg| (the previous SEND, still valid while draining);
 * anything else is encoded and compared byte for byte.
 */
static bool same_encoding(gs_sim *sim, const gs_msg *prev_msg, const sim_blob *prev,
                          const gs_msg *msg)
{
    if (msg->type == GS_MSG_GOSSIP && prev_msg->type == GS_MSG_GOSSIP) {
        const gs_msg *a = prev_msg, *b = msg;
        size_t len = a->gossip.content.len;
        return a->gossip.scope == b->gossip.scope &&
               (a->gossip.scope != GS_SCOPE_SWARM || a->gossip.round == b->gossip.round) &&
               len == b->gossip.content.len &&
               memcmp(a->gossip.id.b, b->gossip.id.b, sizeof(a->gossip.id.b)) == 0 &&
               (len == 0 || memcmp(a->gossip.content.base, b->gossip.content.base, len) == 0);
    }
    sim_blob *cur = encode(sim, msg);
    bool same =
        cur != NULL && cur->len == prev->len && memcmp(cur->data, prev->data, prev->len) == 0;
    blob_unref(cur);
    return same;
}

/* drain acts on every command node |i| produced, then re-arms its timer.  A SEND flagged
 * GS_NODE_OUT_FLAG_SAME_MSG whose message differs from the previous SEND's is an encode-once
 * violation: it is reported on stderr and fails the run (GS_ERR_INTERNAL), since reusing the
 * encoding would deliver the wrong message. */
static void drain(gs_sim *sim, uint32_t i)
{
    gs_node *node = sim->nodes[i].node;
    sim_blob *last = NULL;
    gs_msg last_msg;
    gs_node_out out;
    uint32_t peer;

    while (gs_node_next_out(node, &out)) {
        switch (out.type) {
        case GS_NODE_OUT_SEND:
            /* Encode first, even for a bad destination: a following SAME_MSG entry refers to
             * this message, not to whatever was encoded before it. */
            if ((out.flags & GS_NODE_OUT_FLAG_SAME_MSG) && last != NULL &&
                !same_encoding(sim, &last_msg, last, &out.msg)) {
                fprintf(stderr,
                        "gossip-sim: encode-once violation: node %u flagged a SEND (type %d) as "
                        "the same message as the previous SEND (type %d) at t=%" PRIu64 " ns\n",
                        i, (int)out.msg.type, (int)last_msg.type, sim->now);
                set_err(sim, GS_ERR_INTERNAL);
                blob_unref(last);
                last = NULL;
            }
            if (!(out.flags & GS_NODE_OUT_FLAG_SAME_MSG) || last == NULL) {
                blob_unref(last);
                last = encode(sim, &out.msg);
                if (last == NULL) {
                    break;
                }
            }
            last_msg = out.msg;
            if (!lookup_key(sim, &out.peer, &peer) || peer == i) {
                ++sim->stats.bad_dest;
                break;
            }
            if (sim->aborting) {
                ++sim->stats.ref_quit_dropped; /* D14: aborted before it was written */
                break;
            }
            if (out.msg.type == GS_MSG_GRAFT) {
                on_graft_sent(sim, i, &out.msg);
            }
            conn_send(sim, i, peer, last);
            break;
        case GS_NODE_OUT_DISCONNECT:
            ++sim->stats.disconnects;
            if (!lookup_key(sim, &out.peer, &peer) || peer == i) {
                ++sim->stats.bad_dest;
                break;
            }
            if (ref_io(sim, i, GS_SIM_REF_KEEP_CONNS)) {
                ++sim->stats.ref_closes_ignored; /* D2: the send loop never ends */
                break;
            }
            conn_close(sim, i, peer);
            break;
        case GS_NODE_OUT_EVENT:
            if (out.event == GS_NODE_EVENT_RECEIVED) {
                on_received(sim, i, &out);
            } else if (out.event == GS_NODE_EVENT_NEIGHBOR_UP) {
                ++sim->stats.neighbor_up;
            } else if (out.event == GS_NODE_EVENT_NEIGHBOR_DOWN) {
                ++sim->stats.neighbor_down;
                ++sim->stats.down_reason[(size_t)out.reason & 3];
            }
            break;
        default:
            break;
        }
    }
    blob_unref(last);
    arm_timer(sim, i);
}

static void notify_down(gs_sim *sim, uint32_t i, uint32_t peer)
{
    if (!node_up(sim, i)) {
        return;
    }
    ++sim->stats.node_events;
    ++sim->stats.peer_down_notes;
    gs_node_on_peer_disconnected(sim->nodes[i].node, &sim->keys[peer], sim->now);
    drain(sim, i);
}

/* --- event processing --- */

static void process(gs_sim *sim, sim_ev *ev)
{
    sim_node *dn = &sim->nodes[ev->dst];
    bool live = dn->node != NULL && dn->inc == ev->dst_inc;
    sim_conn *c;

    sim->now = ev->at;
    ++sim->stats.events;
    if (sim->cfg.trace) {
        trace_u64(sim, ev->at);
        trace_u64(sim, ((uint64_t)ev->type << 48) ^ ((uint64_t)ev->src << 24) ^ ev->dst);
        if (ev->blob != NULL) {
            trace_bytes(sim, ev->blob->data, ev->blob->len);
        }
    }
    switch (ev->type) {
    case EV_FRAME: {
        sim_blob *b = ev->blob;
        if (!live) {
            ++sim->stats.frames_lost;
            break;
        }
        if (sim->rd.active && b->msg_no != NO_MSG && b->msg_no >= sim->rd.base &&
            b->msg_no - sim->rd.base < sim->rd.k) {
            ++sim->rd.payload_recv;
        }
        uint32_t bodylen;
        if (b->len < GS_FRAME_PREFIX_LEN ||
            gs_codec_check_prefix(b->data, sim->cfg.node.max_message_size, &bodylen) != 0 ||
            bodylen != b->len - GS_FRAME_PREFIX_LEN) {
            ++sim->stats.frames_rejected;
            break;
        }
        c = conn_lookup(sim, ev->src, ev->dst);
        if (c != NULL) {
            size_t sd = conn_side(c, ev->dst);
            if (ev->gen > c->seen[sd]) {
                /* The first frame of a connection the peer opened: it becomes our send path. */
                c->seen[sd] = ev->gen;
                c->up[sd] = 1;
                c->stuck[sd] = 0;
            }
        }
        ++sim->stats.node_events;
        int rv = gs_node_on_frame(dn->node, &sim->keys[ev->src], &sim->topic,
                                  b->data + GS_FRAME_PREFIX_LEN, bodylen, sim->now);
        if (rv != 0) {
            ++sim->stats.frames_rejected;
        }
        drain(sim, ev->dst);
        break;
    }
    case EV_TIMER:
        if (!live || ev->seq != dn->timer_seq) {
            break; /* superseded or addressed to a previous incarnation */
        }
        dn->timer_seq = 0;
        if (gs_node_get_expiry(dn->node) <= sim->now) {
            ++sim->stats.node_events;
            gs_node_handle_expiry(dn->node, sim->now);
            drain(sim, ev->dst);
        } else {
            arm_timer(sim, ev->dst);
        }
        break;
    case EV_CLOSE_NOTE:
        c = conn_lookup(sim, ev->src, ev->dst);
        if (live && c != NULL && (conn_lose_side(c, ev->dst, ev->gen) || sim->cfg.literal_close)) {
            notify_down(sim, ev->dst, ev->src);
        }
        break;
    case EV_DIAL_FAIL:
        c = conn_lookup(sim, ev->src, ev->dst);
        if (c != NULL && c->gen == ev->gen && c->state == CONN_DIALING) {
            c->state = CONN_CLOSED;
            if (live && ref_io(sim, ev->dst, GS_SIM_REF_NO_REDIAL)) {
                ++sim->stats.ref_dials_unreported;
                c->stuck[conn_side(c, ev->dst)] = dn->inc;
            } else if (live) {
                ++sim->stats.dials_failed;
                notify_down(sim, ev->dst, ev->src);
            }
        }
        break;
    case EV_IDLE_DEAD:
        c = conn_lookup(sim, ev->src, ev->dst);
        if (c == NULL) {
            break;
        }
        if (c->gen == ev->gen && c->state == CONN_DEAD) {
            c->state = CONN_CLOSED;
        }
        if (live && conn_lose_side(c, ev->dst, ev->gen)) {
            ++sim->stats.idle_timeouts;
            notify_down(sim, ev->dst, ev->src);
        }
        break;
    case EV_IDLE_PART:
        c = conn_lookup(sim, ev->src, ev->dst);
        if (sim->partitioned && sim->part_epoch == ev->aux && c != NULL && c->gen == ev->gen &&
            c->state == CONN_OPEN) {
            c->state = CONN_CLOSED;
            ++sim->stats.idle_timeouts;
            if (conn_lose_side(c, ev->dst, ev->gen)) {
                notify_down(sim, ev->dst, ev->src);
            }
            if (conn_lose_side(c, ev->src, ev->gen)) {
                notify_down(sim, ev->src, ev->dst);
            }
        }
        break;
    default:
        break;
    }
    blob_unref(ev->blob);
}

static bool round_complete(const gs_sim *sim)
{
    return sim->rd.counting && sim->rd.delivered >= sim->rd.expected;
}

/* run processes events up to |t|; with |stop_when_complete| it stops early once the current
 * round has every expected delivery. */
static int run(gs_sim *sim, gs_tstamp t, bool stop_when_complete)
{
    sim_ev ev;

    while (sim->nheap > 0 && sim->heap[0].at <= t) {
        if (stop_when_complete && round_complete(sim)) {
            return sim->err;
        }
        heap_pop(sim, &ev);
        process(sim, &ev);
        if (sim->err != 0) {
            return sim->err;
        }
        if (sim->cfg.progress != NULL && sim->stats.events % PROGRESS_EVERY == 0) {
            sim->cfg.progress(sim->cfg.progress_ud, sim);
        }
    }
    if (stop_when_complete && round_complete(sim)) {
        return 0;
    }
    if (t > sim->now && t != GS_TSTAMP_NEVER) {
        sim->now = t;
    }
    return sim->err;
}

/* --- public API --- */

void gs_sim_cfg_default(gs_sim_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->npeers = 100;
    cfg->seed = 0;
    cfg->latency_min = 10 * GS_MILLISECONDS;
    cfg->latency_max = 100 * GS_MILLISECONDS;
    cfg->idle_timeout = 30 * GS_SECONDS;
    cfg->keepalive_interval = 5 * GS_SECONDS;
    cfg->dial_timeout = 10 * GS_SECONDS;
    cfg->payload_len = 32;
    cfg->max_events = 16u << 20;
    cfg->max_conns = 16u << 20;
    cfg->max_round_bits = (size_t)1 << 31;
    cfg->initial_pto = 1 * GS_SECONDS;
    gs_node_cfg_default(&cfg->node);
    gs_node_cfg_reference(&cfg->ref_node);
    cfg->ref_io = GS_SIM_REF_ALL;
}

/* make_key builds node |i|'s id: i in bytes 0..3, seed-derived bytes, then a counter until the
 * bytes decompress to a curve point (about every second candidate does). */
static void make_key(gs_key *key, uint64_t seed, uint32_t i)
{
    uint64_t x = mix64(seed ^ 0x6b6579u) ^ mix64((uint64_t)i + 1);

    for (uint64_t ctr = 0;; ++ctr) {
        for (size_t j = 0; j < GS_KEY_LEN; j += 8) {
            put_le64(key->b + j, mix64(x + ctr * 0x10001ULL + j));
        }
        key->b[0] = (uint8_t)i;
        key->b[1] = (uint8_t)(i >> 8);
        key->b[2] = (uint8_t)(i >> 16);
        key->b[3] = (uint8_t)(i >> 24);
        key->b[31] &= 0x7f;
        if (gs_ed25519_key_is_valid(key->b)) {
            return;
        }
    }
}

int gs_sim_new(gs_sim **psim, const gs_sim_cfg *cfg)
{
    if (cfg->npeers < 2 || cfg->npeers > GS_SIM_MAX_PEERS || cfg->latency_max < cfg->latency_min ||
        cfg->payload_len < GS_SIM_PAYLOAD_MIN || cfg->max_events < 1024 ||
        cfg->max_conns < cfg->npeers || cfg->loss_ppm > 1000000 ||
        cfg->initial_loss_ppm > 1000000 || !(cfg->ref_fraction >= 0 && cfg->ref_fraction <= 1) ||
        gs_node_cfg_validate(&cfg->node) != 0 || (cfg->ref_io & ~GS_SIM_REF_ALL) != 0 ||
        (cfg->ref_fraction > 0 && (gs_node_cfg_validate(&cfg->ref_node) != 0 ||
                                   cfg->ref_node.max_message_size != cfg->node.max_message_size))) {
        return GS_ERR_INVAL;
    }
    gs_sim *sim = calloc(1, sizeof(*sim));
    if (sim == NULL) {
        return GS_ERR_NOMEM;
    }
    sim->cfg = *cfg;
    sim->n = cfg->npeers;
    sim->keys = calloc(sim->n, sizeof(*sim->keys));
    sim->nodes = calloc(sim->n, sizeof(*sim->nodes));
    sim->group = calloc(sim->n, 1);
    sim->payload = calloc(cfg->payload_len, 1);
    sim->capconns = 1024;
    while (sim->capconns < sim->n * 32) {
        sim->capconns *= 2;
    }
    sim->conns = calloc(sim->capconns, sizeof(*sim->conns));
    sim->rh = calloc(1, sizeof(*sim->rh));
    if (sim->keys == NULL || sim->nodes == NULL || sim->group == NULL || sim->payload == NULL ||
        sim->conns == NULL || sim->rh == NULL) {
        gs_sim_del(sim);
        return GS_ERR_NOMEM;
    }
    for (size_t i = 0; i < sim->n; ++i) {
        make_key(&sim->keys[i], cfg->seed, (uint32_t)i);
    }
    for (size_t j = 0; j < sizeof(sim->topic.b); ++j) {
        sim->topic.b[j] = (uint8_t)(0xa0 + j);
    }
    gs_rand_seed(&sim->rng, mix64(cfg->seed ^ 0x73696d75ULL));
    sim->trace = 0xcbf29ce484222325ULL;
    if (cfg->ref_fraction > 0) {
        /* Exactly round(f x n) reference nodes: a partial Fisher-Yates shuffle with its own
         * PRNG, so the other draws of the run do not depend on the fraction. */
        size_t nref = (size_t)(cfg->ref_fraction * (double)sim->n + 0.5);
        uint32_t *perm = calloc(sim->n, sizeof(*perm));
        gs_rand r;
        if (perm == NULL) {
            gs_sim_del(sim);
            return GS_ERR_NOMEM;
        }
        gs_rand_seed(&r, mix64(cfg->seed ^ 0x72656673ULL));
        for (size_t i = 0; i < sim->n; ++i) {
            perm[i] = (uint32_t)i;
        }
        for (size_t i = 0; i < nref && i < sim->n; ++i) {
            size_t j = i + (size_t)gs_rand_below(&r, sim->n - i);
            uint32_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
            sim->nodes[perm[i]].ref = true;
        }
        free(perm);
    }
    *psim = sim;
    return 0;
}

void gs_sim_del(gs_sim *sim)
{
    if (sim == NULL) {
        return;
    }
    if (sim->nodes != NULL) {
        for (size_t i = 0; i < sim->n; ++i) {
            gs_node_del(sim->nodes[i].node);
        }
    }
    for (size_t i = 0; i < sim->nheap; ++i) {
        blob_unref(sim->heap[i].blob);
    }
    free(sim->heap);
    free(sim->conns);
    free(sim->keys);
    free(sim->nodes);
    free(sim->group);
    free(sim->payload);
    round_free(&sim->rd);
    free(sim->rh);
    free(sim);
}

const gs_topic_id *gs_sim_topic(const gs_sim *sim)
{
    return &sim->topic;
}

gs_tstamp gs_sim_now(const gs_sim *sim)
{
    return sim->now;
}

size_t gs_sim_npeers(const gs_sim *sim)
{
    return sim->n;
}

const gs_key *gs_sim_key(const gs_sim *sim, size_t i)
{
    return &sim->keys[i];
}

bool gs_sim_is_ref(const gs_sim *sim, size_t i)
{
    return i < sim->n && sim->nodes[i].ref;
}

gs_node *gs_sim_node(gs_sim *sim, size_t i)
{
    return i < sim->n ? sim->nodes[i].node : NULL;
}

bool gs_sim_is_up(const gs_sim *sim, size_t i)
{
    return i < sim->n && sim->nodes[i].node != NULL;
}

size_t gs_sim_nup(const gs_sim *sim)
{
    return sim->nup;
}

const gs_sim_stats *gs_sim_stats_get(const gs_sim *sim)
{
    return &sim->stats;
}

uint64_t gs_sim_trace_hash(const gs_sim *sim)
{
    return sim->trace;
}

size_t gs_sim_active_count(const gs_sim *sim, size_t i)
{
    if (!gs_sim_is_up(sim, i)) {
        return 0;
    }
    return gs_node_active_view(sim->nodes[i].node, &sim->topic, NULL, 0);
}

size_t gs_sim_isolated(const gs_sim *sim)
{
    size_t n = 0;

    for (size_t i = 0; i < sim->n; ++i) {
        if (gs_sim_is_up(sim, i) && gs_sim_active_count(sim, i) == 0) {
            ++n;
        }
    }
    return n;
}

static bool key_in(const gs_key *set, size_t n, const gs_key *k)
{
    for (size_t j = 0; j < n; ++j) {
        if (memcmp(set[j].b, k->b, GS_KEY_LEN) == 0) {
            return true;
        }
    }
    return false;
}

static size_t uf_find(size_t *par, size_t x)
{
    while (par[x] != x) {
        par[x] = par[par[x]];
        x = par[x];
    }
    return x;
}

int gs_sim_check_views(const gs_sim *sim, gs_sim_views *v)
{
    size_t cap = sim->cfg.node.active_view_capacity;
    gs_key *act = calloc(cap + 1, sizeof(*act));
    gs_key *act2 = calloc(cap + 1, sizeof(*act2));
    gs_key *eager = calloc(cap + 1, sizeof(*eager));
    gs_key *lazy = calloc(cap + 1, sizeof(*lazy));
    size_t *par = calloc(sim->n, sizeof(*par));
    int rv = 0;

    memset(v, 0, sizeof(*v));
    if (act == NULL || act2 == NULL || eager == NULL || lazy == NULL || par == NULL) {
        rv = GS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < sim->n; ++i) {
        par[i] = i;
    }
    for (size_t i = 0; i < sim->n; ++i) {
        const gs_node *node = sim->nodes[i].node;
        if (node == NULL) {
            continue;
        }
        ++v->nodes;
        size_t mem = gs_node_mem_in_use(node);
        v->mem_total += mem;
        if (mem > v->mem_max) {
            v->mem_max = mem;
        }
        size_t na = gs_node_active_view(node, &sim->topic, act, cap + 1);
        if (na > cap) {
            ++v->over_capacity;
            na = cap + 1;
        }
        if (na == 0) {
            ++v->isolated;
        }
        v->links += na;
        for (size_t j = 0; j < na; ++j) {
            uint32_t o;
            if (!lookup_key(sim, &act[j], &o) || o == i) {
                ++v->self_links;
                continue;
            }
            if (sim->nodes[o].node == NULL) {
                ++v->dead_links;
                continue;
            }
            /* A link to a node that crashed and restarted still points at its previous life
             * (the connection is dead, the idle timeout has not fired yet): a dead link. */
            const sim_conn *c = conn_find_slot(sim->conns, sim->capconns, conn_key((uint32_t)i, o));
            size_t si = c->key != 0 ? conn_side(c, (uint32_t)i) : 0;
            if (c->key != 0 && ((c->state == CONN_DEAD && c->who == o) ||
                                (c->up[si] && c->seen[si] < c->gen && c->who == o))) {
                ++v->dead_links;
                continue;
            }
            size_t nb = gs_node_active_view(sim->nodes[o].node, &sim->topic, act2, cap + 1);
            if (!key_in(act2, nb < cap + 1 ? nb : cap + 1, &sim->keys[i])) {
                ++v->asymmetric;
            }
            par[uf_find(par, i)] = uf_find(par, o);
        }
        size_t ne = gs_node_eager_peers(node, &sim->topic, eager, cap + 1);
        size_t nl = gs_node_lazy_peers(node, &sim->topic, lazy, cap + 1);
        ne = ne < cap + 1 ? ne : cap + 1;
        nl = nl < cap + 1 ? nl : cap + 1;
        for (size_t j = 0; j < ne; ++j) {
            if (!key_in(act, na, &eager[j]) || key_in(lazy, nl, &eager[j])) {
                ++v->bad_eager_lazy;
            }
        }
        for (size_t j = 0; j < nl; ++j) {
            if (!key_in(act, na, &lazy[j])) {
                ++v->bad_eager_lazy;
            }
        }
    }
    for (size_t i = 0; i < sim->n; ++i) {
        if (sim->nodes[i].node != NULL && uf_find(par, i) == i) {
            ++v->components;
        }
    }
out:
    free(act);
    free(act2);
    free(eager);
    free(lazy);
    free(par);
    return rv;
}

/* The counters struct is summed as an array of uint64_t. */
_Static_assert(sizeof(gs_node_counters) % sizeof(uint64_t) == 0, "counters are all uint64_t");

/* uses returns true if up node |a| has |b| in its active view or among its pending requests;
 * |buf| holds |cap| keys. */
static bool uses(const gs_sim *sim, uint32_t a, uint32_t b, gs_key *buf, size_t cap)
{
    const gs_node *node = sim->nodes[a].node;
    size_t n = gs_node_active_view(node, &sim->topic, buf, cap);

    if (key_in(buf, n < cap ? n : cap, &sim->keys[b])) {
        return true;
    }
    n = gs_node_pending_peers(node, &sim->topic, buf, cap);
    return key_in(buf, n < cap ? n : cap, &sim->keys[b]);
}

int gs_sim_count_conns(const gs_sim *sim, gs_sim_conns *cs)
{
    const gs_node_cfg *a = &sim->cfg.node, *r = &sim->cfg.ref_node;
    size_t cap = a->active_view_capacity + a->max_pending;

    if (r->active_view_capacity + r->max_pending > cap) {
        cap = r->active_view_capacity + r->max_pending;
    }
    gs_key *buf = calloc(cap, sizeof(*buf));
    memset(cs, 0, sizeof(*cs));
    if (buf == NULL) {
        return GS_ERR_NOMEM;
    }
    for (size_t s = 0; s < sim->capconns; ++s) {
        const sim_conn *c = &sim->conns[s];
        uint32_t lo, hi;
        if (c->key == 0 || c->state != CONN_OPEN) {
            continue;
        }
        conn_peers(c, &lo, &hi);
        if (!node_up(sim, lo) || !node_up(sim, hi)) {
            continue;
        }
        ++cs->open;
        if (!uses(sim, lo, hi, buf, cap) && !uses(sim, hi, lo, buf, cap)) {
            ++cs->unused;
        }
    }
    free(buf);
    return 0;
}

void gs_sim_node_counters_sum(const gs_sim *sim, gs_node_counters *sum)
{
    memset(sum, 0, sizeof(*sum));
    uint64_t *s = (uint64_t *)sum;
    for (size_t i = 0; i < sim->n; ++i) {
        if (!gs_sim_is_up(sim, i)) {
            continue;
        }
        const uint64_t *c = (const uint64_t *)gs_node_counters_get(sim->nodes[i].node);
        for (size_t j = 0; j < sizeof(*sum) / sizeof(uint64_t); ++j) {
            s[j] += c[j];
        }
    }
}

int gs_sim_start(gs_sim *sim, size_t i, const size_t *boot, size_t nboot)
{
    gs_key bk[16];
    size_t nb = 0;
    int rv;

    if (i >= sim->n) {
        return GS_ERR_INVAL;
    }
    sim_node *n = &sim->nodes[i];
    if (n->node != NULL) {
        return GS_ERR_EXISTS;
    }
    for (size_t j = 0; j < nboot && nb < sizeof(bk) / sizeof(bk[0]); ++j) {
        if (boot[j] >= sim->n) {
            return GS_ERR_INVAL;
        }
        bk[nb++] = sim->keys[boot[j]];
    }
    uint64_t seed = mix64(sim->cfg.seed ^ mix64(((uint64_t)n->inc << 32) | i));
    rv = gs_node_new(&n->node, n->ref ? &sim->cfg.ref_node : &sim->cfg.node, &sim->keys[i], seed,
                     gs_mem_default());
    if (rv != 0) {
        return rv;
    }
    ++n->inc;
    n->timer_seq = 0;
    ++sim->nup;
    ++sim->stats.node_events;
    rv = gs_node_join(n->node, &sim->topic, bk, nb, sim->now);
    drain(sim, (uint32_t)i);
    return rv != 0 ? rv : sim->err;
}

int gs_sim_bootstrap(gs_sim *sim)
{
    size_t zero = 0;
    int rv = gs_sim_start(sim, 0, NULL, 0);

    for (size_t i = 1; i < sim->n && rv == 0; ++i) {
        rv = gs_sim_start(sim, i, &zero, 1);
    }
    if (rv != 0) {
        return rv;
    }
    return gs_sim_run_for(sim, 20 * sim->cfg.latency_max);
}

int gs_sim_bootstrap_staggered(gs_sim *sim, gs_duration gap)
{
    gs_rand r;
    int rv = gs_sim_start(sim, 0, NULL, 0);

    gs_rand_seed(&r, mix64(sim->cfg.seed ^ 0x626f6f74ULL));
    for (size_t i = 1; i < sim->n && rv == 0; ++i) {
        rv = gs_sim_run_for(sim, gap);
        if (rv == 0) {
            size_t contact = (size_t)gs_rand_below(&r, i);
            rv = gs_sim_start(sim, i, &contact, 1);
        }
    }
    if (rv != 0) {
        return rv;
    }
    return gs_sim_run_for(sim, 20 * sim->cfg.latency_max);
}

static void stop_node(gs_sim *sim, uint32_t i)
{
    sim_node *n = &sim->nodes[i];

    gs_node_del(n->node);
    n->node = NULL;
    ++n->inc;
    n->timer_seq = 0;
    --sim->nup;
}

int gs_sim_crash(gs_sim *sim, size_t i)
{
    if (!gs_sim_is_up(sim, i)) {
        return GS_ERR_NOTFOUND;
    }
    uint32_t me = (uint32_t)i;
    stop_node(sim, me);
    for (size_t s = 0; s < sim->capconns; ++s) {
        sim_conn *c = &sim->conns[s];
        uint32_t lo, hi;
        if (c->key == 0) {
            continue;
        }
        conn_peers(c, &lo, &hi);
        if (lo != me && hi != me) {
            continue;
        }
        uint32_t other = lo == me ? hi : lo;
        c->up[conn_side(c, me)] = 0; /* the next life knows no connection */
        if (c->state == CONN_DIALING && c->who == me) {
            c->state = CONN_CLOSED;
        } else if (c->state == CONN_OPEN) {
            /* The survivor's idle timer runs from the last packet it got from us: with
             * keep-alives that is up to one keep-alive interval before the crash. */
            c->state = CONN_DEAD;
            c->who = me;
            gs_duration back = sim->cfg.keepalive_interval
                                   ? gs_rand_below(&sim->rng, sim->cfg.keepalive_interval)
                                   : 0;
            if (back > sim->cfg.idle_timeout) {
                back = sim->cfg.idle_timeout;
            }
            schedule(sim, sim->now + sim->cfg.idle_timeout - back, EV_IDLE_DEAD, me, other, c->gen,
                     0, NULL, NULL);
        }
    }
    return sim->err;
}

int gs_sim_leave(gs_sim *sim, size_t i)
{
    if (!gs_sim_is_up(sim, i)) {
        return GS_ERR_NOTFOUND;
    }
    uint32_t me = (uint32_t)i;
    ++sim->stats.node_events;
    int rv = gs_node_quit(sim->nodes[me].node, &sim->topic, sim->now);
    sim->aborting = ref_io(sim, me, GS_SIM_REF_ABORT_SHUTDOWN);
    drain(sim, me);
    sim->aborting = false;
    /* Shutdown closes every connection still open; peers are told like for close(p). */
    for (size_t s = 0; s < sim->capconns; ++s) {
        sim_conn *c = &sim->conns[s];
        uint32_t lo, hi;
        if (c->key == 0) {
            continue;
        }
        conn_peers(c, &lo, &hi);
        if (lo == me || hi == me) {
            conn_close(sim, me, lo == me ? hi : lo);
        }
    }
    stop_node(sim, me);
    return rv != 0 ? rv : sim->err;
}

int gs_sim_partition(gs_sim *sim, const uint8_t *group)
{
    if (sim->partitioned) {
        return GS_ERR_EXISTS;
    }
    for (size_t i = 0; i < sim->n; ++i) {
        sim->group[i] = group[i] ? 1 : 0;
    }
    sim->partitioned = true;
    ++sim->part_epoch;
    for (size_t s = 0; s < sim->capconns; ++s) {
        sim_conn *c = &sim->conns[s];
        uint32_t lo, hi;
        if (c->key == 0 || c->state != CONN_OPEN) {
            continue;
        }
        conn_peers(c, &lo, &hi);
        if (sim->group[lo] == sim->group[hi]) {
            continue;
        }
        gs_duration back =
            sim->cfg.keepalive_interval ? gs_rand_below(&sim->rng, sim->cfg.keepalive_interval) : 0;
        if (back > sim->cfg.idle_timeout) {
            back = sim->cfg.idle_timeout;
        }
        schedule(sim, sim->now + sim->cfg.idle_timeout - back, EV_IDLE_PART, lo, hi, c->gen,
                 sim->part_epoch, NULL, NULL);
    }
    return sim->err;
}

void gs_sim_heal(gs_sim *sim)
{
    sim->partitioned = false;
    ++sim->part_epoch;
}

int gs_sim_run_until(gs_sim *sim, gs_tstamp t)
{
    return run(sim, t, false);
}

int gs_sim_run_for(gs_sim *sim, gs_duration d)
{
    return run(sim, gs_tstamp_add(sim->now, d), false);
}

static void round_free(sim_round *rd)
{
    free(rd->senders);
    free(rd->bits);
    free(rd->grafted);
    free(rd->ids);
    free(rd->idtab);
    free(rd->dist);
    memset(rd, 0, sizeof(*rd));
}

/* dist_heap: a binary min-heap of (distance, node) for Dijkstra, lazy deletion. */
typedef struct dist_item {
    uint32_t d;
    uint32_t v;
} dist_item;

static void dheap_push(dist_item *h, size_t *n, dist_item it)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].d > it.d) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = it;
}

static dist_item dheap_pop(dist_item *h, size_t *n)
{
    dist_item top = h[0];
    dist_item last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) {
            break;
        }
        if (c + 1 < *n && h[c + 1].d < h[c].d) {
            ++c;
        }
        if (h[c].d >= last.d) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) {
        h[i] = last;
    }
    return top;
}

/* round_distances fills rd->dist: for each sender, the shortest delay to every node along
 * directed active-view links (a -> b when b is in a's active view: what a forwards to), with the
 * pair latencies as weights.  Skipped (dist NULL) when k x n is too large. */
static int round_distances(gs_sim *sim)
{
    sim_round *rd = &sim->rd;
    size_t n = sim->n;
    size_t cap = sim->cfg.node.active_view_capacity;
    if (sim->cfg.ref_fraction > 0 && sim->cfg.ref_node.active_view_capacity > cap) {
        cap = sim->cfg.ref_node.active_view_capacity;
    }

    if (rd->k == 0 || rd->k > DIST_MAX_ENTRIES / n) {
        return 0;
    }
    uint32_t *adj = malloc(n * cap * sizeof(*adj));
    uint16_t *deg = calloc(n, sizeof(*deg)); /* capacities are at most 1024 */
    gs_key *act = malloc((cap + 1) * sizeof(*act));
    dist_item *heap = malloc((n * cap + 1) * sizeof(*heap));
    rd->dist = malloc(rd->k * n * sizeof(*rd->dist));
    int rv = 0;
    if (adj == NULL || deg == NULL || act == NULL || heap == NULL || rd->dist == NULL) {
        free(rd->dist);
        rd->dist = NULL;
        rv = GS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; ++i) {
        if (sim->nodes[i].node == NULL) {
            continue;
        }
        size_t na = gs_node_active_view(sim->nodes[i].node, &sim->topic, act, cap + 1);
        for (size_t j = 0; j < na && j < cap; ++j) {
            uint32_t o;
            if (lookup_key(sim, &act[j], &o) && o != i && sim->nodes[o].node != NULL &&
                gs_sim_reachable(sim, i, o)) {
                adj[i * cap + deg[i]++] = o;
            }
        }
    }
    for (size_t m = 0; m < rd->k; ++m) {
        uint32_t *d = rd->dist + m * n;
        size_t nh = 0;
        for (size_t i = 0; i < n; ++i) {
            d[i] = UINT32_MAX;
        }
        d[rd->senders[m]] = 0;
        dheap_push(heap, &nh, (dist_item){0, rd->senders[m]});
        while (nh > 0) {
            dist_item it = dheap_pop(heap, &nh);
            if (it.d != d[it.v]) {
                continue;
            }
            for (size_t e = 0; e < deg[it.v]; ++e) {
                uint32_t o = adj[it.v * cap + e];
                uint64_t nd = it.d + pair_latency(sim, it.v, o) / GS_MICROSECONDS;
                if (nd < d[o] && nd < UINT32_MAX) {
                    d[o] = (uint32_t)nd;
                    dheap_push(heap, &nh, (dist_item){(uint32_t)nd, o});
                }
            }
        }
    }
out:
    free(adj);
    free(deg);
    free(act);
    free(heap);
    return rv;
}

/* hist_quantile returns the upper edge of the bucket holding quantile |q| of |cnt|. */
static double hist_quantile(const uint64_t *cnt, size_t nb, uint64_t total, double q)
{
    if (total == 0) {
        return 0;
    }
    uint64_t want = (uint64_t)(q * (double)total + 0.999999);
    uint64_t acc = 0;
    if (want == 0) {
        want = 1;
    }
    for (size_t b = 0; b < nb; ++b) {
        acc += cnt[b];
        if (acc >= want) {
            return (double)(b + 1);
        }
    }
    return (double)nb;
}

int gs_sim_round(gs_sim *sim, const size_t *senders, size_t nsenders, gs_duration timeout,
                 gs_sim_round_stats *st)
{
    sim_round *rd = &sim->rd;
    int rv;

    memset(st, 0, sizeof(*st));
    for (size_t j = 0; j < nsenders; ++j) {
        if (!gs_sim_is_up(sim, senders[j])) {
            return GS_ERR_INVAL;
        }
    }
    if (nsenders > 0 && sim->n > sim->cfg.max_round_bits / nsenders) {
        return GS_ERR_LIMIT;
    }
    round_free(rd);
    memset(sim->rh, 0, sizeof(*sim->rh));
    size_t kk = nsenders ? nsenders : 1;
    rd->idcap = 2;
    while (rd->idcap < 2 * kk) {
        rd->idcap *= 2;
    }
    rd->senders = calloc(kk, sizeof(*rd->senders));
    rd->bits = calloc((nsenders * sim->n + 7) / 8 + 1, 1);
    rd->grafted = calloc((nsenders * sim->n + 7) / 8 + 1, 1);
    rd->ids = calloc(kk, sizeof(*rd->ids));
    rd->idtab = calloc(rd->idcap, sizeof(*rd->idtab));
    if (rd->senders == NULL || rd->bits == NULL || rd->grafted == NULL || rd->ids == NULL ||
        rd->idtab == NULL) {
        round_free(rd);
        return GS_ERR_NOMEM;
    }
    rd->base = sim->next_msg_no;
    rd->k = nsenders;
    rd->start = sim->now;
    for (size_t j = 0; j < nsenders; ++j) {
        rd->senders[j] = (uint32_t)senders[j];
        for (size_t i = 0; i < sim->n; ++i) {
            if (i != senders[j] && gs_sim_is_up(sim, i) && gs_sim_reachable(sim, senders[j], i)) {
                ++rd->expected;
            }
        }
    }
    rv = round_distances(sim);
    if (rv != 0) {
        return rv;
    }
    rd->active = true;
    rd->counting = true;
    for (size_t j = 0; j < nsenders; ++j) {
        uint64_t no = sim->next_msg_no++;
        uint8_t *p = sim->payload;
        /* "GSIM", the run-unique message number, the low seed bits, zero padding: unique
         * contents, so unique ids (ids are content hashes). */
        put_le64(p, SIM_MAGIC);
        put_le64(p + 4, no);
        for (size_t b = 0; b < 4; ++b) {
            p[12 + b] = (uint8_t)(sim->cfg.seed >> (8 * b));
        }
        ++sim->stats.node_events;
        uint32_t s = (uint32_t)senders[j];
        rv = gs_node_broadcast(sim->nodes[s].node, &sim->topic, p, sim->cfg.payload_len,
                               GS_SCOPE_SWARM, sim->now, &rd->ids[j]);
        if (rv == 0) {
            size_t i = (size_t)id_hash(&rd->ids[j]) & (rd->idcap - 1);
            while (rd->idtab[i] != 0) {
                i = (i + 1) & (rd->idcap - 1);
            }
            rd->idtab[i] = (uint32_t)(j + 1);
        }
        drain(sim, s);
        if (rv != 0) {
            rd->active = rd->counting = false;
            return rv;
        }
    }
    rv = run(sim, gs_tstamp_add(rd->start, timeout), true);
    if (rv != 0) {
        rd->active = rd->counting = false;
        return rv;
    }
    st->duration = sim->now - rd->start;
    rd->counting = false;
    /* Duplicates still in flight belong to this round's cost: count them for one more latency. */
    rv = gs_sim_run_for(sim, sim->cfg.latency_max);
    rd->active = false;
    if (rv != 0) {
        return rv;
    }
    st->nmsgs = nsenders;
    st->expected = rd->expected;
    st->delivered = rd->delivered;
    st->missed = rd->expected - rd->delivered;
    st->payload_recv = rd->payload_recv;
    st->ldh = rd->ldh;
    st->max_ttd = rd->max_ttd;
    st->graft_deliveries = rd->graft_deliveries;
    const sim_hist *h = sim->rh;
    st->lat_p50 = (gs_duration)(hist_quantile(h->lat, LAT_NBUCKETS, h->nlat, 0.5) * LAT_BUCKET);
    st->lat_p99 = (gs_duration)(hist_quantile(h->lat, LAT_NBUCKETS, h->nlat, 0.99) * LAT_BUCKET);
    st->stretch_p50 = hist_quantile(h->str, STR_NBUCKETS, h->nstr, 0.5) / STR_SCALE;
    st->stretch_p99 = hist_quantile(h->str, STR_NBUCKETS, h->nstr, 0.99) / STR_SCALE;
    st->stretch_max = h->str_max;
    st->stretch_n = h->nstr;
    double e = (double)st->expected;
    double m = (double)st->missed;
    double p = (double)st->payload_recv;
    st->rmr = e - m - 1 > 0 ? p / (e - m - 1) - 1 : 0;
    st->rmr_paper = e - m > 0 ? p / (e - m) - 1 : 0;
    return 0;
}

bool gs_sim_round_delivered(const gs_sim *sim, size_t m, size_t i)
{
    if (m >= sim->rd.k || i >= sim->n || sim->rd.bits == NULL) {
        return false;
    }
    size_t bit = m * sim->n + i;
    return (sim->rd.bits[bit / 8] & (1u << (bit % 8))) != 0;
}

/* --- scenarios --- */

static const char *const scenario_names[] = {"single", "multi",     "burst",
                                             "churn",  "partition", "quiet"};

const char *gs_sim_scenario_name(gs_sim_scenario sc)
{
    if ((size_t)sc < sizeof(scenario_names) / sizeof(scenario_names[0])) {
        return scenario_names[sc];
    }
    return "unknown";
}

int gs_sim_scenario_parse(const char *name, gs_sim_scenario *psc)
{
    for (size_t j = 0; j < sizeof(scenario_names) / sizeof(scenario_names[0]); ++j) {
        if (strcmp(name, scenario_names[j]) == 0) {
            *psc = (gs_sim_scenario)j;
            return 0;
        }
    }
    return GS_ERR_INVAL;
}

void gs_sim_run_cfg_default(gs_sim_run_cfg *rc, gs_sim_scenario sc)
{
    memset(rc, 0, sizeof(*rc));
    gs_sim_cfg_default(&rc->sim);
    rc->scenario = sc;
    rc->rounds = sc == GS_SIM_BURST ? 5 : 30;
    rc->kill_fraction = sc == GS_SIM_CHURN ? 0.01 : 0;
    rc->round_timeout = 5 * GS_SECONDS;
    rc->crash_warmup = 60 * GS_SECONDS;
    rc->churn_interval = 3 * GS_SECONDS;
    rc->partition_time = 20 * GS_SECONDS;
    rc->heal_wait = 3 * GS_SECONDS;
    if (sc == GS_SIM_QUIET) {
        rc->rounds = 0;
        rc->quiet_time = 3600 * GS_SECONDS;
    }
}

/* random_up picks a uniformly random up node other than |avoid| (SIZE_MAX: none). */
static size_t random_up(gs_sim *sim, gs_rand *r, size_t avoid)
{
    size_t cand = 0;
    size_t pick = SIZE_MAX;

    /* Reservoir sampling: one pass, uniform, deterministic. */
    for (size_t i = 0; i < sim->n; ++i) {
        if (i == avoid || !gs_sim_is_up(sim, i)) {
            continue;
        }
        ++cand;
        if (gs_rand_below(r, cand) == 0) {
            pick = i;
        }
    }
    return pick;
}

static size_t random_down(gs_sim *sim, gs_rand *r)
{
    size_t cand = 0;
    size_t pick = SIZE_MAX;

    for (size_t i = 0; i < sim->n; ++i) {
        if (gs_sim_is_up(sim, i)) {
            continue;
        }
        ++cand;
        if (gs_rand_below(r, cand) == 0) {
            pick = i;
        }
    }
    return pick;
}

typedef struct scen_acc {
    size_t rounds;
    double rmr, rmr_paper, ldh, missed;
    uint64_t expected, delivered, missed_total, graft_deliveries;
    gs_duration max_ttd;
    sim_hist *h; /* per-delivery histograms over the rounds (NULL: not kept) */
} scen_acc;

static void acc_add(scen_acc *a, const gs_sim_round_stats *st, const sim_hist *rh)
{
    ++a->rounds;
    a->graft_deliveries += st->graft_deliveries;
    if (a->h != NULL) {
        for (size_t b = 0; b < LAT_NBUCKETS; ++b) {
            a->h->lat[b] += rh->lat[b];
        }
        for (size_t b = 0; b < STR_NBUCKETS; ++b) {
            a->h->str[b] += rh->str[b];
        }
        a->h->nlat += rh->nlat;
        a->h->nstr += rh->nstr;
        if (rh->str_max > a->h->str_max) {
            a->h->str_max = rh->str_max;
        }
    }
    a->rmr += st->rmr;
    a->rmr_paper += st->rmr_paper;
    a->ldh += st->ldh;
    a->missed += (double)st->missed;
    a->missed_total += st->missed;
    a->expected += st->expected;
    a->delivered += st->delivered;
    if (st->max_ttd > a->max_ttd) {
        a->max_ttd = st->max_ttd;
    }
}

static int scen_round(gs_sim *sim, const gs_sim_run_cfg *rc, const size_t *senders, size_t ns,
                      size_t *round_no, scen_acc *acc)
{
    gs_sim_round_stats st;
    int rv = gs_sim_round(sim, senders, ns, rc->round_timeout, &st);

    if (rv != 0) {
        return rv;
    }
    if (acc != NULL) {
        acc_add(acc, &st, sim->rh);
    }
    if (rc->round_done != NULL) {
        rc->round_done(rc->round_ud, *round_no, &st, sim);
    }
    ++*round_no;
    return 0;
}

static int churn_step(gs_sim *sim, gs_rand *r, const gs_sim_run_cfg *rc, gs_sim_report *rep)
{
    size_t nev = (size_t)(rc->kill_fraction * (double)sim->n + 0.5);
    int rv = 0;

    if (nev == 0) {
        nev = 1;
    }
    for (size_t e = 0; e < nev && rv == 0; ++e) {
        uint64_t action = gs_rand_below(r, 3);
        size_t down = sim->n - sim->nup;
        if (action == 2 && down > 0) {
            /* A restarted node bootstraps from three random live nodes, as a deployment lists
             * several bootstrap peers: one contact alone may crash in this very step, leaving
             * the node nobody to talk to (D16 retries only reach known peers). */
            size_t i = random_down(sim, r);
            size_t contacts[3];
            for (size_t j = 0; j < 3; ++j) {
                contacts[j] = random_up(sim, r, SIZE_MAX);
            }
            rv = gs_sim_start(sim, i, contacts, 3);
            ++rep->restarted;
        } else if (sim->nup > sim->n / 2 + 1) {
            size_t i = random_up(sim, r, SIZE_MAX);
            if (action == 0) {
                rv = gs_sim_crash(sim, i);
                ++rep->crashed;
            } else {
                rv = gs_sim_leave(sim, i);
                ++rep->left;
            }
        }
    }
    return rv;
}

int gs_sim_run_scenario(const gs_sim_run_cfg *rc, gs_sim_report *rep, gs_sim **psim)
{
    gs_sim *sim = NULL;
    gs_rand r;
    scen_acc acc, split;
    size_t round_no = 0;
    size_t *senders = NULL;
    int rv;

    memset(rep, 0, sizeof(*rep));
    memset(&acc, 0, sizeof(acc));
    memset(&split, 0, sizeof(split));
    acc.h = calloc(1, sizeof(*acc.h));
    if (acc.h == NULL) {
        return GS_ERR_NOMEM;
    }
    rv = gs_sim_new(&sim, &rc->sim);
    if (rv != 0) {
        free(acc.h);
        return rv;
    }
    gs_rand_seed(&r, mix64(rc->sim.seed ^ 0x7363656eULL));
    senders = calloc(sim->n, sizeof(*senders));
    if (senders == NULL) {
        rv = GS_ERR_NOMEM;
        goto out;
    }
    rv = rc->staggered_bootstrap ? gs_sim_bootstrap_staggered(sim, GS_MILLISECONDS)
                                 : gs_sim_bootstrap(sim);
    if (rv != 0) {
        goto out;
    }
    rep->isolated_after_boot = gs_sim_isolated(sim);
    rep->boot_neighbor_down = sim->stats.neighbor_down;
    rep->boot_disconnects = sim->stats.disconnects;
    rv = gs_sim_check_views(sim, &rep->views_boot);
    if (rv != 0) {
        goto out;
    }

    switch (rc->scenario) {
    case GS_SIM_SINGLE:
    case GS_SIM_MULTI:
    case GS_SIM_BURST: {
        if (rc->kill_fraction > 0) {
            size_t nkill = (size_t)(rc->kill_fraction * (double)sim->n);
            rv = gs_sim_run_for(sim, rc->crash_warmup);
            for (size_t j = 0; j < nkill && rv == 0; ++j) {
                rv = gs_sim_crash(sim, random_up(sim, &r, SIZE_MAX));
                ++rep->crashed;
            }
            if (rv == 0) {
                rv = gs_sim_run_for(sim, 2 * rc->sim.node.shuffle_interval);
            }
        }
        size_t fixed = random_up(sim, &r, SIZE_MAX);
        for (size_t k = 0; k < rc->rounds && rv == 0; ++k) {
            size_t ns = 0;
            if (rc->scenario == GS_SIM_SINGLE) {
                senders[ns++] = fixed;
            } else if (rc->scenario == GS_SIM_MULTI) {
                senders[ns++] = random_up(sim, &r, SIZE_MAX);
            } else {
                for (size_t i = 0; i < sim->n; ++i) {
                    if (gs_sim_is_up(sim, i)) {
                        senders[ns++] = i;
                    }
                }
            }
            rv = scen_round(sim, rc, senders, ns, &round_no, &acc);
        }
        break;
    }
    case GS_SIM_CHURN:
        for (size_t k = 0; k < rc->rounds && rv == 0; ++k) {
            rv = churn_step(sim, &r, rc, rep);
            if (rv == 0) {
                rv = gs_sim_run_for(sim, rc->churn_interval);
            }
            if (rv == 0) {
                senders[0] = random_up(sim, &r, SIZE_MAX);
                rv = scen_round(sim, rc, senders, 1, &round_no, &acc);
            }
        }
        break;
    case GS_SIM_PARTITION: {
        size_t before = rc->rounds / 3;
        size_t during = rc->rounds / 3;
        size_t after = rc->rounds - before - during;
        for (size_t k = 0; k < before && rv == 0; ++k) {
            senders[0] = random_up(sim, &r, SIZE_MAX);
            rv = scen_round(sim, rc, senders, 1, &round_no, &acc);
        }
        if (rv != 0) {
            break;
        }
        uint8_t *group = calloc(sim->n, 1);
        if (group == NULL) {
            rv = GS_ERR_NOMEM;
            break;
        }
        for (size_t i = 0; i < sim->n; ++i) {
            group[i] = (uint8_t)gs_rand_below(&r, 2);
        }
        rv = gs_sim_partition(sim, group);
        free(group);
        gs_tstamp split_at = sim->now;
        for (size_t k = 0; k < during && rv == 0; ++k) {
            senders[0] = random_up(sim, &r, SIZE_MAX);
            rv = scen_round(sim, rc, senders, 1, &round_no, &split);
        }
        if (rv == 0 && sim->now < split_at + rc->partition_time) {
            rv = gs_sim_run_until(sim, split_at + rc->partition_time);
        }
        gs_sim_heal(sim);
        if (rv == 0) {
            rv = gs_sim_run_for(sim, rc->heal_wait);
        }
        for (size_t k = 0; k < after && rv == 0; ++k) {
            senders[0] = random_up(sim, &r, SIZE_MAX);
            rv = scen_round(sim, rc, senders, 1, &round_no, &acc);
        }
        rep->split_delivery_ratio =
            split.expected ? (double)split.delivered / (double)split.expected : 1.0;
        break;
    }
    case GS_SIM_QUIET:
        rv = gs_sim_run_for(sim, rc->quiet_time);
        break;
    default:
        rv = GS_ERR_INVAL;
        break;
    }
    if (rv == 0 && rc->scenario != GS_SIM_QUIET && rc->quiet_time > 0) {
        rv = gs_sim_run_for(sim, rc->quiet_time);
    }
    if (rv != 0) {
        goto out;
    }
    rep->after_neighbor_down = sim->stats.neighbor_down - rep->boot_neighbor_down;
    rep->after_disconnects = sim->stats.disconnects - rep->boot_disconnects;
    rep->graft_deliveries = acc.graft_deliveries;
    rep->graft_share = acc.delivered ? (double)acc.graft_deliveries / (double)acc.delivered : 0.0;
    rep->lat_p50 =
        (gs_duration)(hist_quantile(acc.h->lat, LAT_NBUCKETS, acc.h->nlat, 0.5) * LAT_BUCKET);
    rep->lat_p99 =
        (gs_duration)(hist_quantile(acc.h->lat, LAT_NBUCKETS, acc.h->nlat, 0.99) * LAT_BUCKET);
    rep->stretch_p50 = hist_quantile(acc.h->str, STR_NBUCKETS, acc.h->nstr, 0.5) / STR_SCALE;
    rep->stretch_p99 = hist_quantile(acc.h->str, STR_NBUCKETS, acc.h->nstr, 0.99) / STR_SCALE;
    rep->stretch_max = acc.h->str_max;
    rep->rounds = acc.rounds;
    if (acc.rounds > 0) {
        rep->rmr = acc.rmr / (double)acc.rounds;
        rep->rmr_paper = acc.rmr_paper / (double)acc.rounds;
        rep->ldh = acc.ldh / (double)acc.rounds;
        rep->missed = acc.missed / (double)acc.rounds;
    }
    rep->missed_total = acc.missed_total;
    rep->delivery_ratio = acc.expected ? (double)acc.delivered / (double)acc.expected : 1.0;
    rep->max_ttd = acc.max_ttd;
    rep->isolated_at_end = gs_sim_isolated(sim);
    rv = gs_sim_check_views(sim, &rep->views_end);
    if (rv == 0) {
        rv = gs_sim_count_conns(sim, &rep->conns_end);
    }
    if (rv != 0) {
        goto out;
    }
    rep->nup_at_end = sim->nup;
    rep->sim_time = sim->now;
    rep->stats = sim->stats;
    rep->trace_hash = sim->trace;
out:
    free(senders);
    free(acc.h);
    if (rv == 0 && psim != NULL) {
        *psim = sim;
    } else {
        if (psim != NULL) {
            *psim = NULL;
        }
        gs_sim_del(sim);
    }
    return rv;
}
