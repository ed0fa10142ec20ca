/* SPDX-License-Identifier: MIT */
/*
 * shard.c: one shard's loop turn and the glue between its node, its engine and the other shards.
 * See shard.h for the turn and docs/server.md for the peer rules this file implements.
 */
#include "shard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrbook.h"
#include "blake3.h"
#include "control.h"
#include "engine.h"
#include "frames.h"
#include "kmap.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "relay.h"
#include "v0.h"

#define MBOX_BATCH    256                     /* records handled per receive call */
#define MBOX_PER_TURN 4096                    /* records handled per turn at most */
#define SWEEP_PERIOD  (100 * GS_MILLISECONDS) /* housekeeping period */
#define UNUSED_GRACE  (10 * GS_SECONDS)       /* a new connection nobody uses is closed then */
#define DIAL_BACKOFF  (1 * GS_SECONDS)        /* no new dial to a peer this soon after a failure */
#define EXPIRE_BUDGET 1024                    /* address book slots swept per sweep */
#define USER_WORDS    4                       /* bitmap words: up to 256 shards */
#define MAX_WAIT      GS_SECONDS              /* longest sleep of one turn */
#define BATCH_FRAMES  1024                    /* frames handed to the node in one call */
#define BATCH_ARENA   (512 * 1024)            /* bytes of copied bodies per batch */

/* peer_ent: this shard's view of one peer (see shard.h). */
typedef struct peer_ent {
    uint8_t id[32];
    int owner;      /* shard holding the newest send path, -1: none known */
    uint64_t seq;   /* its sequence number (newest wins) */
    bool local_use; /* our node may use the peer (sent to it or received from it) */
    /* our own newest established connection to the peer */
    gs_quic_conn_id conn;
    uint64_t conn_seq;
    uint64_t users[USER_WORDS]; /* shards whose topics use the peer (meaningful when owner) */
    gs_tstamp drain_at;         /* close |conn| then unless used again */
    /* home shard only: the dial (addresses: the shard's address book) */
    gs_quic_conn_id dial;
    size_t dial_queued;
    gs_tstamp dial_after;
    /* wire versions: GS_QUIC_SPEAKS_* learned from connections (0: unknown; kept after they
     * close), and whether the newest send path speaks /iroh-gossip/0 (v0.h) */
    uint8_t versions;
    bool v0;
} peer_ent;

/* stray_hdr: the head of a forwarded datagram's frame; the datagram follows. */
typedef struct stray_hdr {
    gs_udp_addr local;
    gs_udp_addr remote;
    uint8_t ecn;
} stray_hdr;

typedef struct topic_ent {
    gs_topic_id id;
    char name[GS_CFG_MAX_NAME];
    bool relayed;
    uint32_t nsubs;
    gs_tstamp idle_since;
} topic_ent;

/* in_frame: one received frame waiting for the turn's batch (gs_node_on_frames). */
typedef struct in_frame {
    gs_key from;
    gs_topic_id topic;
    gs_frame *ref; /* the body's frame when it came from another shard, else NULL (arena) */
} in_frame;

/* One dropped eager push (see drops[] in gs_shard). */
typedef struct drop_ent {
    gs_key peer;
    gs_topic_id topic;
    gs_msg_id id;
    uint16_t round;
} drop_ent;

#define DROPS_MAX 256 /* per turn; more are counted in drops_unannounced */

struct gs_shard {
    gs_server *srv;
    const gs_server_cfg *cfg;
    unsigned index;
    unsigned nshards;
    unsigned ctl_ep; /* the control thread's mesh endpoint */
    gs_control *ctl; /* served in this shard's turns (control.thread = shard), else NULL */
    bool ctl_more;   /* the last gs_control_poll had a full batch: poll its sockets again */
    gs_engine *eng;
    gs_node *node;
    gs_kmap peers;
    gs_kmap topics;
    gs_kmap refused_once; /* (peer, topic) pairs whose refused relay Join was logged */
    gs_addrbook book;     /* addresses of the peers whose home we are */
    gs_tstamp now;
    gs_tstamp next_sweep;
    bool dirty;    /* work was queued this turn: run the next engine turn without sleeping */
    bool quitting; /* GS_PHASE_QUIT seen */
    /* encode once: the previous SEND's frame (reused when the node flags SAME_MSG) */
    gs_frame *last_frame;
    gs_shard_counters c;
    gs_mbox_rec rbuf[MBOX_BATCH];
    /* the turn's received frames, handed to the node together (ids verified in one pass) */
    in_frame in[BATCH_FRAMES];
    gs_node_frame nf[BATCH_FRAMES];
    size_t nin;
    gs_node_out *outs; /* the outbox of one call (drain_outbox) */
    size_t outs_cap;
    uint8_t *arena; /* bodies copied out of the engine's buffers */
    size_t arena_used;
    /* eager pushes dropped under back-pressure, to be announced by IHave at the next turn (the
     * drop happens inside drain_outbox, which must not re-enter the node) */
    drop_ent drops[DROPS_MAX];
    size_t ndrops;
};

static _Atomic uint64_t relayed_topics; /* process-wide, against relay.max_topics */

unsigned gs_server_topic_shard(const gs_server *srv, const uint8_t topic[32])
{
    uint64_t h = 0;

    for (size_t i = 0; i < 32; ++i) {
        h = h * 131 + topic[i];
    }
    return (unsigned)(h % srv->nshards);
}

unsigned gs_server_peer_home(const gs_server *srv, const uint8_t peer[32])
{
    uint64_t h = 7;

    for (size_t i = 0; i < 32; ++i) {
        h = h * 137 + peer[i];
    }
    return (unsigned)(h % srv->nshards);
}

/* ---- small helpers ---- */

static void hex32(const uint8_t *b, char out[65])
{
    gs_cfg_hex(b, 32, out);
}

static bool users_empty(const peer_ent *pe)
{
    for (size_t i = 0; i < USER_WORDS; ++i) {
        if (pe->users[i] != 0) {
            return false;
        }
    }
    return true;
}

static void users_set(peer_ent *pe, unsigned shard, bool on)
{
    uint64_t bit = 1ULL << (shard % 64);

    if (on) {
        pe->users[shard / 64] |= bit;
        pe->drain_at = GS_TSTAMP_NEVER;
    } else {
        pe->users[shard / 64] &= ~bit;
    }
}

static peer_ent *peer_get(gs_shard *sh, const uint8_t id[32], bool create)
{
    peer_ent *pe = gs_kmap_get(&sh->peers, id);

    if (pe != NULL || !create) {
        return pe;
    }
    pe = calloc(1, sizeof(*pe));
    if (pe == NULL) {
        return NULL;
    }
    memcpy(pe->id, id, 32);
    pe->owner = -1;
    pe->drain_at = GS_TSTAMP_NEVER;
    if (gs_kmap_put(&sh->peers, id, pe) < 0) {
        free(pe);
        sh->c.peers_full++;
        GS_LOG_RL(GS_LOG_WARN, "shard=%u evt=peers_full max=%llu", sh->index,
                  (unsigned long long)sh->cfg->max_peers);
        return NULL;
    }
    return pe;
}

static topic_ent *topic_get(gs_shard *sh, const gs_topic_id *t, const char *name, bool create)
{
    topic_ent *te = gs_kmap_get(&sh->topics, t->b);

    if (te != NULL || !create) {
        if (te != NULL && name != NULL && name[0] != '\0' && te->name[0] == '\0') {
            strcpy(te->name, name);
        }
        return te;
    }
    te = calloc(1, sizeof(*te));
    if (te == NULL) {
        return NULL;
    }
    te->id = *t;
    te->idle_since = GS_TSTAMP_NEVER;
    if (name != NULL) {
        strcpy(te->name, name);
    }
    if (gs_kmap_put(&sh->topics, t->b, te) < 0) {
        free(te);
        return NULL;
    }
    return te;
}

static void topic_drop(gs_shard *sh, const gs_topic_id *t)
{
    topic_ent *te = gs_kmap_del(&sh->topics, t->b);

    if (te != NULL && te->relayed) {
        gs_relay_release(&relayed_topics);
    }
    free(te);
}

static void release_rec(const gs_mbox_rec *r)
{
    switch (r->type) {
    case GS_MBOX_FRAME_IN:
    case GS_MBOX_SEND:
    case GS_MBOX_EVENT:
    case GS_MBOX_DATAGRAM:
    case GS_MBOX_DROPPED:
        gs_frame_unref(r->ptr);
        break;
    default:
        break;
    }
}

static void mbox_send(gs_shard *sh, unsigned dst, gs_mbox_rec *r)
{
    bool data = r->type == GS_MBOX_FRAME_IN || r->type == GS_MBOX_SEND ||
                r->type == GS_MBOX_EVENT || r->type == GS_MBOX_DATAGRAM ||
                r->type == GS_MBOX_DROPPED;
    int rv = data ? gs_mesh_send(sh->srv->mesh, sh->index, dst, r)
                  : gs_mesh_send_ctl(sh->srv->mesh, sh->index, dst, r);

    if (rv < 0) {
        sh->c.mbox_refused++;
        GS_LOG_RL(GS_LOG_WARN, "shard=%u evt=mailbox_full dst=%u type=%u", sh->index, dst,
                  (unsigned)r->type);
        release_rec(r);
    }
}

static void handle_rec(gs_shard *sh, const gs_mbox_rec *r);

/* bcast sends |r| to every other shard and handles it here too. */
static void bcast(gs_shard *sh, gs_mbox_rec *r)
{
    for (unsigned i = 0; i < sh->nshards; ++i) {
        if (i != sh->index) {
            mbox_send(sh, i, r);
        }
    }
    r->src = (uint16_t)sh->index;
    handle_rec(sh, r);
}

/* ---- addresses (home shard) ---- */

/* addr_to_home hands an address of |peer| to its home shard. */
static void addr_to_home(gs_shard *sh, const uint8_t peer[32], const gs_udp_addr *a, bool perm)
{
    unsigned home = gs_server_peer_home(sh->srv, peer);
    gs_mbox_rec r = {.type = GS_MBOX_ADDR, .a = perm ? 1u : 0u};

    if (memcmp(peer, sh->srv->id.pk, 32) == 0) {
        return;
    }
    if (home == sh->index) {
        (void)gs_addrbook_add(&sh->book, peer, a, perm, sh->now);
        return;
    }
    memcpy(r.peer, peer, 32);
    r.addr = *a;
    mbox_send(sh, home, &r);
}

static void learn_peer_data(gs_shard *sh, const gs_key *peer, const uint8_t *data, size_t len)
{
    gs_addrinfo ai;

    if (gs_addrinfo_decode(&ai, data, len, NULL) < 0) {
        GS_LOG_RL(GS_LOG_DEBUG, "shard=%u evt=bad_peer_data len=%zu", sh->index, len);
        return;
    }
    for (size_t i = 0; i < ai.naddrs && i < GS_ADDRBOOK_PER_PEER; ++i) {
        gs_udp_addr a;

        memset(&a, 0, sizeof(a));
        if (ai.addrs[i].family == 4) {
            a.u.in4.sin_family = AF_INET;
            memcpy(&a.u.in4.sin_addr, ai.addrs[i].addr, 4);
            a.u.in4.sin_port = htons(ai.addrs[i].port);
            a.len = sizeof(a.u.in4);
        } else {
            a.u.in6.sin6_family = AF_INET6;
            memcpy(&a.u.in6.sin6_addr, ai.addrs[i].addr, 16);
            a.u.in6.sin6_port = htons(ai.addrs[i].port);
            a.len = sizeof(a.u.in6);
        }
        sh->c.addrs_learned++;
        addr_to_home(sh, peer->b, &a, false);
    }
}

/* ---- sending ---- */

static void peer_down(gs_shard *sh, const uint8_t peer[32], uint64_t seq);

/* dial_failed: no connection to |pe| could be made; every shard's topics are told. */
static void dial_failed(gs_shard *sh, peer_ent *pe)
{
    gs_mbox_rec r = {.type = GS_MBOX_PEER_DOWN, .b = 0};

    sh->c.dial_failures++;
    pe->dial = 0;
    pe->dial_queued = 0;
    pe->dial_after = gs_tstamp_add(sh->now, DIAL_BACKOFF);
    memcpy(r.peer, pe->id, 32);
    bcast(sh, &r);
}

/* home_send: we are |pe|'s home shard and no send path is known: queue on the dial. */
static void home_send(gs_shard *sh, peer_ent *pe, const uint8_t topic[32], gs_frame *f,
                      unsigned user)
{
    gs_quic_ep *ep = gs_engine_quic(sh->eng);
    int rv;

    if (pe->dial == 0) {
        gs_udp_addr addrs[GS_ADDRBOOK_PER_PEER];
        size_t naddrs;
        size_t i;

        if (sh->now < pe->dial_after) {
            sh->c.send_no_path++;
            return;
        }
        /* one dial, to the first address that can be dialed (configured ones first) */
        naddrs = gs_addrbook_get(&sh->book, pe->id, addrs, GS_ADDRBOOK_PER_PEER, sh->now);
        for (i = 0; i < naddrs; ++i) {
            rv = gs_engine_connect(sh->eng, pe->id, &addrs[i], &pe->dial);
            if (rv == 0) {
                break;
            }
        }
        if (i == naddrs) {
            char hex[65];

            hex32(pe->id, hex);
            sh->c.dial_no_addr++;
            GS_LOG_RL(GS_LOG_INFO, "shard=%u evt=dial_impossible peer=%.16s naddrs=%zu", sh->index,
                      hex, naddrs);
            dial_failed(sh, pe);
            return;
        }
        sh->c.dials++;
        pe->dial_queued = 0;
        sh->dirty = true;
    }
    if (pe->dial_queued >= sh->cfg->dial_queue_max) {
        sh->c.dial_queue_drops++;
        return;
    }
    rv = gs_quic_ep_send_frame_conn(ep, pe->dial, topic, f->data, f->len);
    if (rv < 0) {
        sh->c.send_errors++;
        return;
    }
    pe->dial_queued++;
    users_set(pe, user, true);
    sh->dirty = true;
}

static void frame_release(void *arg)
{
    gs_frame_unref(arg);
}

/* drop_note records, on the topic's shard, that the Gossip frame |f| to |peer| was dropped; the
 * next turn announces it (announce_drops).  Only Swarm-scope Gossip is announced. */
static void drop_note(gs_shard *sh, const uint8_t peer[32], const uint8_t topic[32],
                      const gs_frame *f)
{
    gs_msg m;
    drop_ent *d;

    if (f->len < GS_FRAME_PREFIX_LEN ||
        gs_codec_decode(&m, f->data + GS_FRAME_PREFIX_LEN, f->len - GS_FRAME_PREFIX_LEN, NULL) <
            0 ||
        m.type != GS_MSG_GOSSIP || m.gossip.scope != GS_SCOPE_SWARM) {
        return;
    }
    if (sh->ndrops == DROPS_MAX) {
        sh->c.drops_unannounced++;
        return;
    }
    d = &sh->drops[sh->ndrops++];
    memcpy(d->peer.b, peer, 32);
    memcpy(d->topic.b, topic, 32);
    d->id = m.gossip.id;
    d->round = m.gossip.round;
    sh->dirty = true;
}

/* push_dropped: a Gossip frame to |peer| on |topic| was refused by back-pressure on this (the
 * connection's) shard; the topic's shard turns it into an IHave so the peer can Graft it. */
static void push_dropped(gs_shard *sh, const uint8_t peer[32], const uint8_t topic[32], gs_frame *f)
{
    unsigned owner = gs_server_topic_shard(sh->srv, topic);
    gs_mbox_rec r = {.type = GS_MBOX_DROPPED};

    if (owner == sh->index) {
        drop_note(sh, peer, topic, f);
        return;
    }
    r.ptr = gs_frame_ref(f);
    memcpy(r.peer, peer, 32);
    memcpy(r.topic, topic, 32);
    mbox_send(sh, owner, &r);
}

static void drain_outbox(gs_shard *sh);

/* announce_drops hands the turn's dropped pushes to the node (outside drain_outbox). */
static void announce_drops(gs_shard *sh)
{
    if (sh->ndrops == 0) {
        return;
    }
    for (size_t i = 0; i < sh->ndrops; ++i) {
        drop_ent *d = &sh->drops[i];

        (void)gs_node_on_push_dropped(sh->node, &d->peer, &d->topic, &d->id, d->round, sh->now);
    }
    sh->ndrops = 0;
    drain_outbox(sh);
}

/* conn_send: |pe|'s send path is ours. */
static void conn_send(gs_shard *sh, peer_ent *pe, const uint8_t topic[32], gs_frame *f,
                      uint32_t flags, unsigned user)
{
    gs_quic_ep *ep = gs_engine_quic(sh->eng);
    gs_quic_conn_id conn = gs_quic_ep_send_path(ep, pe->id);
    int rv;

    users_set(pe, user, true);
    if (conn == 0) {
        sh->c.send_no_path++;
        return;
    }
    /* zero copy: the endpoint holds a reference until the peer acknowledged the bytes.
     * Back-pressure: DATA (Gossip) is refused above send_queue_low and goes first, the tree
     * repairs through Graft; CONTROL is refused only by the hard send_queue_max. */
    rv = gs_engine_send_frame_ref(sh->eng, pe->id, topic, f->data, f->len,
                                  (flags & GS_MBOX_SEND_DATA) ? GS_QUIC_SEND_DATA
                                                              : GS_QUIC_SEND_CONTROL,
                                  frame_release, gs_frame_ref(f));
    if (rv < 0) {
        gs_frame_unref(f);
        if (rv == GS_ERR_AGAIN && (flags & GS_MBOX_SEND_DATA)) {
            sh->c.gossip_dropped++;
            push_dropped(sh, pe->id, topic, f);
        } else if (rv == GS_ERR_MSG_TOO_LARGE) {
            /* fits /1 but not a /0 peer (32 topic bytes in every frame): not sent to it */
            sh->c.v0_too_large++;
        } else {
            sh->c.send_errors++;
            GS_LOG_RL(GS_LOG_DEBUG, "shard=%u evt=send_error rv=%d", sh->index, rv);
        }
        return;
    }
    if (pe->v0) {
        int t = gs_v0_msg_type(f->data + GS_FRAME_PREFIX_LEN, f->len - GS_FRAME_PREFIX_LEN);
        if (t >= 0) {
            sh->c.v0_tx[t]++;
        }
    }
    if (flags & GS_MBOX_SEND_FIN) {
        (void)gs_quic_ep_finish_stream(ep, pe->id, topic);
    }
    sh->dirty = true;
}

/*
 * route_send sends the frame |f| (borrowed; a record takes its own reference) to |peer| on
 * |topic| on behalf of shard |user|: through our connection, the owning shard's, or the home
 * shard's dial.
 */
static void route_send(gs_shard *sh, const uint8_t peer[32], const uint8_t topic[32], gs_frame *f,
                       uint32_t flags, unsigned user)
{
    peer_ent *pe = peer_get(sh, peer, true);
    unsigned dst;
    gs_mbox_rec r = {.type = GS_MBOX_SEND, .a = flags, .b = user};

    if (pe == NULL) {
        sh->c.send_no_path++;
        return;
    }
    if (user == sh->index) {
        pe->local_use = true;
    }
    if (pe->owner == (int)sh->index) {
        sh->c.sends_local++;
        conn_send(sh, pe, topic, f, flags, user);
        return;
    }
    if (pe->owner >= 0) {
        dst = (unsigned)pe->owner;
    } else {
        dst = gs_server_peer_home(sh->srv, peer);
        if (dst == sh->index) {
            sh->c.sends_local++;
            home_send(sh, pe, topic, f, user);
            return;
        }
    }
    sh->c.sends_forwarded++;
    r.ptr = gs_frame_ref(f);
    memcpy(r.peer, peer, 32);
    memcpy(r.topic, topic, 32);
    mbox_send(sh, dst, &r);
}

/* ---- the node ---- */

static void send_event(gs_shard *sh, const gs_node_out *o)
{
    topic_ent *te = topic_get(sh, &o->topic, NULL, false);
    gs_frame *f;
    gs_event *ev;
    size_t len = o->event == GS_NODE_EVENT_RECEIVED ? o->content.len : 0;
    gs_mbox_rec r = {.type = GS_MBOX_EVENT};

    if (te == NULL || te->nsubs == 0) {
        return;
    }
    f = gs_frame_new(sizeof(gs_event) + len);
    if (f == NULL) {
        return;
    }
    ev = (gs_event *)(void *)f->data;
    memset(ev, 0, sizeof(*ev));
    ev->type = o->event == GS_NODE_EVENT_NEIGHBOR_UP     ? GS_EVENT_NEIGHBOR_UP
               : o->event == GS_NODE_EVENT_NEIGHBOR_DOWN ? GS_EVENT_NEIGHBOR_DOWN
                                                         : GS_EVENT_RECEIVED;
    ev->reason = (uint8_t)o->reason;
    ev->scope = (uint8_t)o->scope;
    ev->round = o->round;
    ev->topic = o->topic;
    ev->peer = o->peer;
    ev->id = o->id;
    ev->len = len;
    if (len > 0) {
        memcpy(ev->content, o->content.base, len);
    }
    r.ptr = f;
    memcpy(r.topic, o->topic.b, 32);
    sh->c.events++;
    mbox_send(sh, sh->ctl_ep, &r);
}

static void unuse_peer(gs_shard *sh, const gs_key *peer)
{
    peer_ent *pe = peer_get(sh, peer->b, false);
    gs_mbox_rec r = {.type = GS_MBOX_USE, .a = 0};

    if (pe == NULL) {
        return;
    }
    pe->local_use = false;
    if (pe->owner == (int)sh->index) {
        users_set(pe, sh->index, false);
        if (users_empty(pe) && pe->drain_at == GS_TSTAMP_NEVER) {
            pe->drain_at = gs_tstamp_add(sh->now, sh->cfg->drain);
        }
    } else if (pe->owner >= 0) {
        memcpy(r.peer, peer->b, 32);
        mbox_send(sh, (unsigned)pe->owner, &r);
    }
}

/*
 * encode returns the frame for the outbox SEND |o|: the previous SEND's frame when the node flags
 * the same message (encode once: every eager peer, on any shard, references the same bytes), else
 * a new encoding, which becomes the previous one.  The shard keeps one reference in last_frame;
 * the caller takes its own where it keeps the frame.
 */
static gs_frame *encode(gs_shard *sh, const gs_node_out *o)
{
    size_t len = gs_codec_body_len(&o->msg) + GS_FRAME_PREFIX_LEN;
    gs_frame *f;
    gs_ssize n;

    if ((o->flags & GS_NODE_OUT_FLAG_SAME_MSG) && sh->last_frame != NULL) {
        sh->c.encode_reuses++;
        return sh->last_frame;
    }
    f = gs_frame_new(len);
    if (f == NULL) {
        return NULL;
    }
    n = gs_codec_encode_frame(f->data, len, &o->msg, sh->cfg->node.max_message_size);
    if (n < 0) {
        gs_frame_unref(f);
        return NULL;
    }
    f->len = (size_t)n;
    sh->c.encodes++;
    gs_frame_unref(sh->last_frame);
    sh->last_frame = f;
    return f;
}

/* v0_lookup: the wire versions known for |peer| (v0.h). */
static unsigned v0_lookup(void *ud, const gs_key *peer)
{
    peer_ent *pe = peer_get(ud, peer->b, false);
    return pe != NULL ? pe->versions : 0;
}

/*
 * v0_policy applies the peer-list policy (v0.h) to the outbox SEND |o|.  Returns false when it
 * must not be sent.  A changed or dropped message must not share the previous encoding (nor
 * leave its own for the next SAME_MSG), so the encode-once frame is forgotten around it.
 */
static bool v0_policy(gs_shard *sh, gs_node_out *o, gs_peer_info *scratch, size_t cap)
{
    size_t removed = 0;
    gs_v0_verdict v =
        gs_v0_filter(&o->msg, v0_lookup(sh, &o->peer), v0_lookup, sh, scratch, cap, &removed);

    if (v == GS_V0_SEND) {
        return true;
    }
    gs_frame_unref(sh->last_frame);
    sh->last_frame = NULL;
    o->flags &= ~(uint32_t)GS_NODE_OUT_FLAG_SAME_MSG;
    if (v == GS_V0_DROP) {
        sh->c.v0_intro_dropped++;
        return false;
    }
    sh->c.v0_intro_filtered += removed;
    return true;
}

/*
 * drain_outbox acts on every outbox command.  PeerData events go first: a SEND to a peer learned
 * in the same call (ForwardJoin, Shuffle) may need a dial, and the dial needs the address that
 * PeerData brings to the peer's home shard's book (ADDR records and the SEND travel in order on
 * the same ring).  The commands borrow node memory valid until the next input call, so they are
 * kept in |sh->outs| and processed after that first pass.
 */
static bool grow_outs(gs_shard *sh)
{
    size_t ncap = sh->outs_cap ? sh->outs_cap * 2 : 256;
    gs_node_out *no;

    if (ncap > sh->cfg->node.max_outbox + 1) {
        ncap = sh->cfg->node.max_outbox + 1;
    }
    if (ncap <= sh->outs_cap) {
        return false;
    }
    no = realloc(sh->outs, ncap * sizeof(*no));
    if (no == NULL) {
        return false;
    }
    sh->outs = no;
    sh->outs_cap = ncap;
    return true;
}

static void drain_outbox(gs_shard *sh)
{
    size_t n = 0;

    while (n < sh->outs_cap || grow_outs(sh)) {
        if (!gs_node_next_out(sh->node, &sh->outs[n])) {
            break;
        }
        n++;
    }
    if (n == sh->outs_cap) { /* no memory to keep more: the rest in order, after these */
        sh->c.send_errors++;
    }
    for (size_t i = 0; i < n; ++i) {
        const gs_node_out *po = &sh->outs[i];

        if (po->type == GS_NODE_OUT_EVENT && po->event == GS_NODE_EVENT_PEER_DATA) {
            learn_peer_data(sh, &po->peer, po->data.base, po->data.len);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        gs_node_out o = sh->outs[i];

        switch (o.type) {
        case GS_NODE_OUT_SEND: {
            gs_peer_info scratch[64];
            gs_frame *f;
            uint32_t flags = 0;

            if (sh->cfg->v0 && !v0_policy(sh, &o, scratch, 64)) {
                break;
            }
            f = encode(sh, &o);

            if (f == NULL) {
                sh->c.send_errors++;
                break;
            }
            if (o.msg.type == GS_MSG_GOSSIP && (o.flags & GS_NODE_OUT_FLAG_REPAIR) == 0) {
                /* eager pushes may be shed under back-pressure (announced by IHave); a Graft's
                 * answer is the repair of such a shed push and is queued like control */
                flags |= GS_MBOX_SEND_DATA;
            } else if (o.msg.type == GS_MSG_DISCONNECT) {
                flags |= GS_MBOX_SEND_FIN;
            }
            route_send(sh, o.peer.b, o.topic.b, f, flags, sh->index);
            if (sh->cfg->v0 &&
                (o.msg.type == GS_MSG_SHUFFLE || o.msg.type == GS_MSG_SHUFFLE_REPLY)) {
                /* its list may point at |scratch|: never reuse this encoding */
                gs_frame_unref(sh->last_frame);
                sh->last_frame = NULL;
            }
            break;
        }
        case GS_NODE_OUT_DISCONNECT:
            unuse_peer(sh, &o.peer);
            break;
        case GS_NODE_OUT_EVENT:
            if (o.event != GS_NODE_EVENT_PEER_DATA) {
                send_event(sh, &o);
            }
            break;
        }
    }
    if (n == sh->outs_cap) {
        gs_node_out o;

        while (gs_node_next_out(sh->node, &o)) { /* only after an allocation failure */
            if (o.type == GS_NODE_OUT_EVENT && o.event == GS_NODE_EVENT_PEER_DATA) {
                learn_peer_data(sh, &o.peer, o.data.base, o.data.len);
            } else if (o.type == GS_NODE_OUT_DISCONNECT) {
                unuse_peer(sh, &o.peer);
            }
        }
    }
    gs_frame_unref(sh->last_frame);
    sh->last_frame = NULL;
}

/* join_topic joins |t| with |peers| plus the configured bootstrap and backbone peers. */
static int join_topic(gs_shard *sh, const gs_topic_id *t, const gs_cfg_peer *peers, size_t npeers)
{
    gs_key keys[GS_CTL_MAX_PEERS + 2 * GS_CFG_MAX_LIST];
    size_t n = 0;
    int rv;

    for (size_t i = 0; i < npeers; ++i) {
        memcpy(keys[n++].b, peers[i].id, 32);
        if (peers[i].addr.len > 0) {
            addr_to_home(sh, peers[i].id, &peers[i].addr, true);
        }
    }
    for (size_t i = 0; i < sh->cfg->nbootstrap; ++i) {
        memcpy(keys[n++].b, sh->cfg->bootstrap[i].id, 32);
    }
    for (size_t i = 0; i < sh->cfg->nbackbone; ++i) {
        memcpy(keys[n++].b, sh->cfg->backbone[i].id, 32);
    }
    rv = gs_node_join(sh->node, t, keys, n, sh->now);
    drain_outbox(sh);
    return rv;
}

/* relay_admit decides whether a Join for the unjoined |topic| makes us relay it (relay.h). */
static bool relay_admit(gs_shard *sh, const uint8_t from[32], const uint8_t topic[32],
                        const uint8_t *body, size_t len)
{
    gs_relay_verdict v;
    gs_msg msg;
    topic_ent *te;
    gs_topic_id t;
    char th[65];

    if (!sh->cfg->relay || gs_codec_decode(&msg, body, len, NULL) < 0 || msg.type != GS_MSG_JOIN) {
        return false;
    }
    memcpy(t.b, topic, 32);
    hex32(topic, th);
    v = gs_relay_admit(sh->cfg, &relayed_topics, topic);
    if (v == GS_RELAY_OK) {
        te = topic_get(sh, &t, NULL, true);
        if (te != NULL && join_topic(sh, &t, NULL, 0) == 0) {
            te->relayed = true;
            sh->c.relay_joins++;
            GS_LOG(GS_LOG_INFO, "shard=%u evt=relay_join topic=%s", sh->index, th);
            return true;
        }
        gs_relay_release(&relayed_topics);
        if (te != NULL && !gs_node_is_joined(sh->node, &t)) {
            topic_drop(sh, &t);
        }
        v = GS_RELAY_CAP; /* the node's own topic limit */
    }
    sh->c.relay_refused++;
    if (gs_relay_first_refusal(&sh->refused_once, from, topic)) {
        char ph[65];

        hex32(from, ph);
        GS_LOG(GS_LOG_WARN, "shard=%u evt=relay_refused reason=%s peer=%s topic=%s", sh->index,
               gs_relay_verdict_str(v), ph, th);
    }
    return false;
}

/* mark_used: our node is about to get a frame from |from|: it may use the peer from now on. */
static void mark_used(gs_shard *sh, const uint8_t from[32])
{
    peer_ent *pe = peer_get(sh, from, true);

    if (pe == NULL || pe->local_use) {
        return;
    }
    pe->local_use = true;
    if (pe->owner >= 0 && pe->owner != (int)sh->index) {
        gs_mbox_rec r = {.type = GS_MBOX_USE, .a = 1};

        memcpy(r.peer, from, 32);
        mbox_send(sh, (unsigned)pe->owner, &r);
    } else if (pe->owner == (int)sh->index) {
        users_set(pe, sh->index, true);
    }
}

/*
 * batch_flush hands the frames collected this turn to the node in one gs_node_on_frames call
 * (decoded first, every Gossip id verified in one batched BLAKE3 pass, then processed in order),
 * after relay admission for Joins to topics we have not joined.
 */
static void batch_flush(gs_shard *sh)
{
    size_t n = sh->nin;

    if (n == 0) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        gs_node_frame *nf = &sh->nf[i];

        if (!gs_node_is_joined(sh->node, &sh->in[i].topic) &&
            !relay_admit(sh, sh->in[i].from.b, sh->in[i].topic.b, nf->body, nf->len)) {
            continue; /* the node drops and counts it (unknown_topic) */
        }
        mark_used(sh, sh->in[i].from.b);
    }
    gs_node_on_frames(sh->node, sh->nf, n, sh->now);
    drain_outbox(sh);
    for (size_t i = 0; i < n; ++i) {
        gs_frame_unref(sh->in[i].ref);
    }
    sh->nin = 0;
    sh->arena_used = 0;
    sh->c.batches++;
}

/* batch_add queues a frame |from| sent on |topic| (one of ours) for the turn's batch.  |ref| holds
 * the body (a reference is taken over) or is NULL: the body is copied into the arena. */
static void batch_add(gs_shard *sh, const uint8_t from[32], const uint8_t topic[32],
                      const uint8_t *body, size_t len, gs_frame *ref)
{
    in_frame *in;
    gs_node_frame *nf;

    if (sh->nin == BATCH_FRAMES || (ref == NULL && sh->arena_used + len > BATCH_ARENA)) {
        batch_flush(sh);
    }
    if (ref == NULL && len > BATCH_ARENA) {
        ref = gs_frame_new(len); /* larger than the whole arena: its own buffer */
        if (ref == NULL) {
            return;
        }
        memcpy(ref->data, body, len);
        body = ref->data;
    } else if (ref == NULL) {
        memcpy(sh->arena + sh->arena_used, body, len);
        body = sh->arena + sh->arena_used;
        sh->arena_used += len;
    }
    in = &sh->in[sh->nin];
    nf = &sh->nf[sh->nin];
    memcpy(in->from.b, from, 32);
    memcpy(in->topic.b, topic, 32);
    in->ref = ref;
    nf->from = &in->from;
    nf->topic = &in->topic;
    nf->body = body;
    nf->len = len;
    nf->rv = 0;
    sh->nin++;
}

/* ---- peer facts ---- */

static void peer_up(gs_shard *sh, const uint8_t peer[32], unsigned owner, uint64_t seq,
                    uint8_t versions, bool v0)
{
    peer_ent *pe = peer_get(sh, peer, true);
    gs_mbox_rec r = {.type = GS_MBOX_USE, .a = 1};

    if (pe == NULL || seq <= pe->seq) {
        return;
    }
    pe->versions = versions;
    pe->v0 = v0;
    pe->owner = (int)owner;
    pe->seq = seq;
    if (owner != sh->index) {
        if (pe->conn != 0 && pe->conn_seq < seq) {
            /* our connection is no longer the send path: keep it for receiving a while */
            pe->drain_at = gs_tstamp_add(sh->now, sh->cfg->drain);
        }
        if (pe->local_use) {
            memcpy(r.peer, peer, 32);
            mbox_send(sh, owner, &r);
        }
    } else if (pe->local_use) {
        users_set(pe, sh->index, true);
    }
}

static void peer_down(gs_shard *sh, const uint8_t peer[32], uint64_t seq)
{
    peer_ent *pe = peer_get(sh, peer, false);
    gs_key k;

    if (pe == NULL) {
        return;
    }
    if (seq == 0) {
        if (pe->owner >= 0) {
            return; /* a dial failed but a connection exists */
        }
    } else if (pe->seq != seq) {
        return; /* an older path: nothing happens (PROTOCOL.md 3.5) */
    } else {
        pe->owner = -1;
    }
    memcpy(k.b, peer, 32);
    gs_node_on_peer_disconnected(sh->node, &k, sh->now);
    pe->local_use = false;
    drain_outbox(sh);
}

static void on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                         gs_quic_dir dir)
{
    gs_shard *sh = ud;
    peer_ent *pe = peer_get(sh, peer, true);
    uint64_t seq = atomic_fetch_add(&sh->srv->conn_seq, 1) + 1;
    gs_mbox_rec r = {.type = GS_MBOX_PEER_UP, .a = sh->index, .b = seq};
    char hex[65];

    sh->c.conns_up++;
    sh->now = gs_engine_now(sh->eng);
    hex32(peer, hex);
    GS_LOG(GS_LOG_DEBUG, "shard=%u evt=connected peer=%s dir=%s seq=%llu", sh->index, hex,
           dir == GS_QUIC_DIR_OUT ? "out" : "in", (unsigned long long)seq);
    if (pe == NULL) {
        (void)gs_engine_close(sh->eng, conn, 0, "peer table full");
        return;
    }
    if (pe->dial == conn) {
        pe->dial = 0;
        pe->dial_queued = 0;
    }
    pe->conn = conn;
    pe->conn_seq = seq;
    if (users_empty(pe)) {
        pe->drain_at = gs_tstamp_add(sh->now, UNUSED_GRACE);
    }
    {
        int v = gs_quic_ep_conn_versions(gs_engine_quic(sh->eng), conn);
        /* PEER_UP carries them to every shard: topic[0] the set, topic[1] the path's /0 */
        r.topic[0] = v > 0 ? (uint8_t)v : 0;
        r.topic[1] = gs_quic_ep_conn_version(gs_engine_quic(sh->eng), conn) == 0;
        pe->versions = r.topic[0];
        pe->v0 = r.topic[1] != 0;
    }
    memcpy(r.peer, peer, 32);
    bcast(sh, &r);
}

static void on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                      uint64_t app_error, const char *reason, bool was_send_path)
{
    gs_shard *sh = ud;
    peer_ent *pe = peer_get(sh, peer, false);
    gs_mbox_rec r = {.type = GS_MBOX_PEER_DOWN};
    char hex[65];

    (void)was_send_path;
    hex32(peer, hex);
    GS_LOG_RL(GS_LOG_DEBUG, "shard=%u evt=closed peer=%s rv=%d app_error=%llu reason=\"%s\"",
              sh->index, hex, rv, (unsigned long long)app_error, reason ? reason : "");
    if (pe == NULL) {
        return;
    }
    sh->now = gs_engine_now(sh->eng);
    if (conn == pe->dial) {
        dial_failed(sh, pe);
        return;
    }
    if (conn != pe->conn) {
        return;
    }
    pe->conn = 0;
    memset(pe->users, 0, sizeof(pe->users));
    pe->drain_at = GS_TSTAMP_NEVER;
    if (pe->owner == (int)sh->index && pe->seq == pe->conn_seq) {
        sh->c.conns_down++;
        r.b = pe->conn_seq;
        memcpy(r.peer, peer, 32);
        bcast(sh, &r);
    }
}

static void on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                     const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    gs_shard *sh = ud;
    unsigned owner = gs_server_topic_shard(sh->srv, topic);
    peer_ent *pe = peer_get(sh, peer, true);
    gs_mbox_rec r = {.type = GS_MBOX_FRAME_IN};
    gs_frame *f;

    sh->now = gs_engine_now(sh->eng);
    if (pe != NULL && pe->owner == (int)sh->index) {
        users_set(pe, owner, true);
    }
    if (sh->cfg->v0 && gs_quic_ep_conn_version(gs_engine_quic(sh->eng), conn) == 0) {
        int t = gs_v0_msg_type(body, len);
        if (t >= 0) {
            sh->c.v0_rx[t]++;
        }
    }
    if (owner == sh->index) {
        sh->c.frames_local++;
        batch_add(sh, peer, topic, body, len, NULL);
        return;
    }
    f = gs_frame_new(len);
    if (f == NULL) {
        return;
    }
    memcpy(f->data, body, len);
    r.ptr = f;
    memcpy(r.peer, peer, 32);
    memcpy(r.topic, topic, 32);
    sh->c.frames_forwarded++;
    mbox_send(sh, owner, &r);
}

/* on_stray: a datagram for another shard's connection landed here: forward it. */
static void on_stray(void *ud, unsigned owner, const gs_udp_addr *local, const gs_udp_addr *remote,
                     const uint8_t *data, size_t len, uint8_t ecn)
{
    gs_shard *sh = ud;
    gs_frame *f = gs_frame_new(sizeof(stray_hdr) + len);
    stray_hdr *h;
    gs_mbox_rec r = {.type = GS_MBOX_DATAGRAM};

    if (f == NULL || owner >= sh->nshards) {
        gs_frame_unref(f);
        return;
    }
    h = (stray_hdr *)(void *)f->data;
    h->local = *local;
    h->remote = *remote;
    h->ecn = ecn;
    memcpy(f->data + sizeof(*h), data, len);
    r.ptr = f;
    r.a = owner;
    sh->c.strays++;
    mbox_send(sh, owner, &r);
}

/* ---- control requests ---- */

static json_t *hex_json(const uint8_t *b)
{
    char hex[65];

    hex32(b, hex);
    return json_string(hex);
}

static void ctl_status(gs_shard *sh, gs_ctl_req *q)
{
    const gs_node_counters *nc = gs_node_counters_get(sh->node);
    const gs_quic_stats *qs = gs_quic_ep_stats_get(gs_engine_quic(sh->eng));
    json_t *o = json_object();
    json_t *topics = json_array();
    json_t *c = json_object();
    size_t it = 0;
    size_t npeers = 0;
    const uint8_t *key;
    peer_ent *pe;
    topic_ent *te;

    while ((te = gs_kmap_next(&sh->topics, &it, &key)) != NULL) {
        if (gs_node_is_joined(sh->node, &te->id)) {
            json_array_append_new(topics, hex_json(key));
        }
    }
    it = 0;
    while ((pe = gs_kmap_next(&sh->peers, &it, NULL)) != NULL) {
        npeers += pe->owner == (int)sh->index;
    }
#define C(name, v) json_object_set_new(c, name, json_integer((json_int_t)(v)))
    C("frames_local", sh->c.frames_local);
    C("frames_forwarded", sh->c.frames_forwarded);
    C("frames_remote", sh->c.frames_remote);
    C("sends_local", sh->c.sends_local);
    C("sends_forwarded", sh->c.sends_forwarded);
    C("sends_remote", sh->c.sends_remote);
    C("encodes", sh->c.encodes);
    C("encode_reuses", sh->c.encode_reuses);
    C("gossip_dropped", sh->c.gossip_dropped);
    C("drops_unannounced", sh->c.drops_unannounced);
    C("v0_too_large", sh->c.v0_too_large);
    C("v0_intro_dropped", sh->c.v0_intro_dropped);
    C("v0_intro_filtered", sh->c.v0_intro_filtered);
    for (int t = 0; t < 10; ++t) {
        char k[40];

        snprintf(k, sizeof(k), "v0_rx_%s", gs_v0_msg_type_name(t));
        C(k, sh->c.v0_rx[t]);
        snprintf(k, sizeof(k), "v0_tx_%s", gs_v0_msg_type_name(t));
        C(k, sh->c.v0_tx[t]);
    }
    C("send_errors", sh->c.send_errors);
    C("send_no_path", sh->c.send_no_path);
    C("peers_behind_closed", sh->c.peers_behind_closed);
    C("dials", sh->c.dials);
    C("dial_failures", sh->c.dial_failures);
    C("dial_no_addr", sh->c.dial_no_addr);
    C("dial_queue_drops", sh->c.dial_queue_drops);
    C("conns_up", sh->c.conns_up);
    C("conns_down", sh->c.conns_down);
    C("drain_closes", sh->c.drain_closes);
    C("relay_joins", sh->c.relay_joins);
    C("relay_refused", sh->c.relay_refused);
    C("relay_idle_quits", sh->c.relay_idle_quits);
    C("peers_full", sh->c.peers_full);
    C("addrs_learned", sh->c.addrs_learned);
    C("addrbook_peers", gs_addrbook_size(&sh->book));
    C("addrbook_evicted", sh->book.st.evicted);
    C("addrbook_expired", sh->book.st.expired);
    C("addrbook_refused", sh->book.st.refused);
    C("mbox_refused", sh->c.mbox_refused);
    C("events", sh->c.events);
    C("strays_forwarded", sh->c.strays);
    C("strays_injected", sh->c.strays_injected);
    C("frame_batches", sh->c.batches);
    {
        const gs_engine_stats *es = gs_engine_stats_get(sh->eng);

        C("engine_turns", es->turns);
        C("engine_strays_forwarded", es->strays_forwarded);
        C("engine_strays_dropped", es->strays_dropped);
        C("engine_injected", es->injected);
    }
    C("data_refused", qs->data_refused);
    C("frames_ref", qs->frames_ref);
    C("msgs_data_recv", nc->msgs_data_recv);
    C("msgs_data_sent", nc->msgs_data_sent);
    C("msgs_ctrl_recv", nc->msgs_ctrl_recv);
    C("msgs_ctrl_sent", nc->msgs_ctrl_sent);
    C("neighbor_up", nc->neighbor_up);
    C("neighbor_down", nc->neighbor_down);
    C("duplicates", nc->duplicates);
    C("unknown_topic", nc->unknown_topic);
    C("decode_errors", nc->decode_errors);
    C("bad_id", nc->bad_id);
    C("oversize_broadcast", nc->oversize_broadcast);
    C("drops_announced", nc->drops_announced);
    C("repairs_sent", nc->repairs_sent);
    C("grafts_unserved", nc->grafts_unserved);
    C("datagrams_in", qs->datagrams_in);
    C("bytes_in", qs->bytes_in);
    C("bytes_out", qs->bytes_out);
    C("datagrams_dropped", qs->datagrams_dropped);
    C("packets_out", qs->packets_out);
    C("handshakes_ok", qs->handshakes_ok);
    C("handshakes_failed", qs->handshakes_failed);
    C("send_queue_drops", qs->send_queue_drops);
    C("stream_errors", qs->stream_errors);
    C("disco_dropped", qs->disco_dropped);
    C("conns_v0", qs->conns_v0);
    C("frames_refused_v0", qs->frames_refused_v0);
    C("v0_stream_errors", qs->v0_stream_errors);
    C("v0_fins", qs->v0_fins);
    C("conn_mem", qs->conn_mem);
    C("conn_mem_reclaimed", qs->conn_mem_reclaimed);
#undef C
    json_object_set_new(o, "index", json_integer(sh->index));
    json_object_set_new(o, "topics", topics);
    json_object_set_new(o, "peers", json_integer((json_int_t)npeers));
    json_object_set_new(o, "conns",
                        json_integer((json_int_t)gs_quic_ep_num_conns(gs_engine_quic(sh->eng))));
    json_object_set_new(o, "counters", c);
    q->result = o;
}

static json_t *keys_json(const gs_key *keys, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; ++i) {
        json_array_append_new(a, hex_json(keys[i].b));
    }
    return a;
}

static void ctl_topics(gs_shard *sh, gs_ctl_req *q)
{
    json_t *a = json_array();
    size_t it = 0;
    topic_ent *te;
    gs_key view[64];

    while ((te = gs_kmap_next(&sh->topics, &it, NULL)) != NULL) {
        json_t *o;
        size_t n;

        if (!gs_node_is_joined(sh->node, &te->id)) {
            continue; /* left, kept for its subscribers */
        }
        o = json_object();
        n = gs_node_active_view(sh->node, &te->id, view, 64);

        json_object_set_new(o, "topic", hex_json(te->id.b));
        if (te->name[0] != '\0') {
            json_object_set_new(o, "topic_name", json_string(te->name));
        }
        json_object_set_new(o, "shard", json_integer(sh->index));
        json_object_set_new(o, "active", keys_json(view, n < 64 ? n : 64));
        json_object_set_new(
            o, "passive",
            json_integer((json_int_t)gs_node_passive_view(sh->node, &te->id, NULL, 0)));
        json_object_set_new(
            o, "eager", json_integer((json_int_t)gs_node_eager_peers(sh->node, &te->id, NULL, 0)));
        json_object_set_new(
            o, "lazy", json_integer((json_int_t)gs_node_lazy_peers(sh->node, &te->id, NULL, 0)));
        json_object_set_new(o, "relayed", json_boolean(te->relayed));
        json_object_set_new(o, "subscribers", json_integer(te->nsubs));
        json_array_append_new(a, o);
    }
    q->result = a;
}

/*
 * ctl_peers: this shard's part of `peers`, one entry per peer it knows something about: the
 * connection (|shard|, when the send path is ours), the topics of ours whose active view holds it,
 * the addresses in our book.  The control thread merges the parts by id and lists the peers that
 * have a send path.
 */
static void ctl_peers(gs_shard *sh, gs_ctl_req *q)
{
    json_t *a = json_array();
    size_t it = 0;
    peer_ent *pe;

    while ((pe = gs_kmap_next(&sh->peers, &it, NULL)) != NULL) {
        gs_udp_addr pa[GS_ADDRBOOK_PER_PEER];
        size_t na = gs_addrbook_get(&sh->book, pe->id, pa, GS_ADDRBOOK_PER_PEER, sh->now);
        json_t *o;
        json_t *addrs = json_array();
        json_t *topics = json_array();
        size_t ti = 0;
        topic_ent *te;

        for (size_t i = 0; i < na; ++i) {
            char buf[GS_UDP_ADDR_STRLEN];

            if (gs_udp_addr_format(&pa[i], buf, sizeof(buf)) > 0) {
                json_array_append_new(addrs, json_string(buf));
            }
        }
        while ((te = gs_kmap_next(&sh->topics, &ti, NULL)) != NULL) {
            gs_key view[64];
            size_t n = gs_node_active_view(sh->node, &te->id, view, 64);

            for (size_t i = 0; i < n && i < 64; ++i) {
                if (memcmp(view[i].b, pe->id, 32) == 0) {
                    json_array_append_new(topics, hex_json(te->id.b));
                }
            }
        }
        if (pe->owner != (int)sh->index && json_array_size(topics) == 0 &&
            json_array_size(addrs) == 0) {
            json_decref(addrs);
            json_decref(topics);
            continue;
        }
        o = json_object();
        json_object_set_new(o, "id", hex_json(pe->id));
        if (pe->owner == (int)sh->index) {
            json_object_set_new(o, "shard", json_integer(sh->index));
            json_object_set_new(o, "version",
                                json_string(pe->v0 ? GS_QUIC_ALPN_GOSSIP_V0 : GS_QUIC_ALPN_GOSSIP));
        }
        json_object_set_new(o, "addrs", addrs);
        json_object_set_new(o, "topics", topics);
        json_array_append_new(a, o);
    }
    q->result = a;
}

static void ctl_exec(gs_shard *sh, gs_ctl_req *q)
{
    topic_ent *te;
    int rv;

    q->rv = 0;
    switch (q->op) {
    case GS_CTL_JOIN:
        te = topic_get(sh, &q->topic.id, q->topic.name, true);
        if (te == NULL) {
            q->rv = GS_ERR_LIMIT;
            q->err_code = "limit";
            break;
        }
        rv = join_topic(sh, &q->topic.id, q->peers, q->npeers);
        if (rv < 0) {
            if (!gs_node_is_joined(sh->node, &q->topic.id)) {
                topic_drop(sh, &q->topic.id);
            }
            q->rv = rv;
            q->err_code = rv == GS_ERR_LIMIT ? "limit" : "internal";
        } else if (te->relayed) {
            te->relayed = false; /* explicitly joined now */
            gs_relay_release(&relayed_topics);
        }
        break;
    case GS_CTL_LEAVE:
        rv = gs_node_quit(sh->node, &q->topic.id, sh->now);
        drain_outbox(sh);
        if (rv < 0) {
            q->rv = rv;
            q->err_code = "not_joined";
        }
        te = topic_get(sh, &q->topic.id, NULL, false);
        if (te != NULL && te->nsubs > 0) {
            /* subscribers stay: a later join delivers to them again */
            if (te->relayed) {
                te->relayed = false;
                gs_relay_release(&relayed_topics);
            }
        } else {
            topic_drop(sh, &q->topic.id);
        }
        break;
    case GS_CTL_PUBLISH:
        rv = gs_node_broadcast(sh->node, &q->topic.id, q->content, q->len, q->scope, sh->now,
                               &q->msg_id);
        drain_outbox(sh);
        if (rv < 0) {
            q->rv = rv;
            q->err_code = rv == GS_ERR_NOT_JOINED      ? "not_joined"
                          : rv == GS_ERR_MSG_TOO_LARGE ? "too_large"
                                                       : "internal";
        }
        break;
    case GS_CTL_SUBSCRIBE:
        te = topic_get(sh, &q->topic.id, q->topic.name, true);
        if (te == NULL) {
            q->rv = GS_ERR_LIMIT;
            q->err_code = "limit";
            break;
        }
        if (!gs_node_is_joined(sh->node, &q->topic.id)) {
            rv = join_topic(sh, &q->topic.id, NULL, 0);
            if (rv < 0) {
                topic_drop(sh, &q->topic.id);
                q->rv = rv;
                q->err_code = rv == GS_ERR_LIMIT ? "limit" : "internal";
                break;
            }
        }
        te->nsubs++;
        q->nview = gs_node_active_view(sh->node, &q->topic.id, q->view, 64);
        if (q->nview > 64) {
            q->nview = 64;
        }
        break;
    case GS_CTL_UNSUBSCRIBE:
        te = topic_get(sh, &q->topic.id, NULL, false);
        if (te != NULL && te->nsubs > 0) {
            te->nsubs--;
        }
        if (te != NULL && te->nsubs == 0 && !gs_node_is_joined(sh->node, &q->topic.id)) {
            topic_drop(sh, &q->topic.id); /* left earlier, kept only for its subscribers */
        }
        break;
    case GS_CTL_STATUS:
        ctl_status(sh, q);
        break;
    case GS_CTL_PEERS:
        ctl_peers(sh, q);
        break;
    case GS_CTL_TOPICS:
        ctl_topics(sh, q);
        break;
    }
}

/* ---- mailbox records ---- */

static void handle_rec(gs_shard *sh, const gs_mbox_rec *r)
{
    gs_frame *f = r->ptr;
    peer_ent *pe;

    switch ((gs_mbox_type)r->type) {
    case GS_MBOX_FRAME_IN:
        sh->c.frames_remote++;
        batch_add(sh, r->peer, r->topic, f->data, f->len, f);
        break;
    case GS_MBOX_SEND:
        sh->c.sends_remote++;
        pe = peer_get(sh, r->peer, true);
        if (pe == NULL) {
            sh->c.send_no_path++;
        } else if (pe->owner == (int)sh->index) {
            conn_send(sh, pe, r->topic, f, r->a, (unsigned)r->b);
        } else if (pe->owner < 0 && gs_server_peer_home(sh->srv, r->peer) == sh->index) {
            home_send(sh, pe, r->topic, f, (unsigned)r->b);
        } else {
            /* the route changed on the way: pass it on */
            route_send(sh, r->peer, r->topic, f, r->a, (unsigned)r->b);
        }
        gs_frame_unref(f);
        break;
    case GS_MBOX_PEER_UP:
        peer_up(sh, r->peer, r->a, r->b, r->topic[0], r->topic[1] != 0);
        break;
    case GS_MBOX_PEER_DOWN:
        peer_down(sh, r->peer, r->b);
        break;
    case GS_MBOX_USE:
        pe = peer_get(sh, r->peer, false);
        if (pe != NULL && pe->owner == (int)sh->index) {
            users_set(pe, r->src, r->a != 0);
            if (r->a == 0 && users_empty(pe) && pe->drain_at == GS_TSTAMP_NEVER) {
                pe->drain_at = gs_tstamp_add(sh->now, sh->cfg->drain);
            }
        }
        break;
    case GS_MBOX_ADDR:
        (void)gs_addrbook_add(&sh->book, r->peer, &r->addr, r->a != 0, sh->now);
        break;
    case GS_MBOX_CTL: {
        gs_ctl_req *q = r->ptr;
        gs_mbox_rec back = {.type = GS_MBOX_CTL_DONE, .ptr = q};

        ctl_exec(sh, q);
        /* a control-plane record (gs_mesh_send_ctl): the pending-request bound of each
         * client bounds them */
        mbox_send(sh, sh->ctl_ep, &back);
        break;
    }
    case GS_MBOX_DATAGRAM: {
        const stray_hdr *h = (const stray_hdr *)(const void *)f->data;

        sh->c.strays_injected++;
        (void)gs_engine_inject_datagram(sh->eng, &h->local, &h->remote, f->data + sizeof(*h),
                                        f->len - sizeof(*h), h->ecn);
        sh->dirty = true;
        gs_frame_unref(f);
        break;
    }
    case GS_MBOX_DROPPED:
        drop_note(sh, r->peer, r->topic, f);
        gs_frame_unref(f);
        break;
    case GS_MBOX_CTL_DONE:
    case GS_MBOX_EVENT:
        release_rec(r);
        break;
    }
}

/* ---- housekeeping ---- */

static void sweep(gs_shard *sh)
{
    gs_quic_ep *ep = gs_engine_quic(sh->eng);
    size_t it = 0;
    peer_ent *pe;
    topic_ent *te;

    while ((pe = gs_kmap_next(&sh->peers, &it, NULL)) != NULL) {
        if (pe->conn != 0 && pe->drain_at <= sh->now) {
            pe->drain_at = GS_TSTAMP_NEVER;
            if (pe->owner != (int)sh->index || users_empty(pe)) {
                sh->c.drain_closes++;
                (void)gs_engine_close(sh->eng, pe->conn, 0, "unused");
                sh->dirty = true;
            }
        }
        if (pe->owner == (int)sh->index && pe->conn != 0) {
            gs_tstamp since = gs_engine_peer_behind_since(sh->eng, pe->id);
            gs_quic_conn_id sp = gs_quic_ep_send_path(ep, pe->id);

            if (sp != 0 && since != GS_TSTAMP_NEVER && sh->now > since &&
                sh->now - since > sh->cfg->peer_behind_max) {
                char hex[65];

                hex32(pe->id, hex);
                GS_LOG_RL(GS_LOG_WARN, "shard=%u evt=peer_behind_closed peer=%s behind_ms=%llu",
                          sh->index, hex,
                          (unsigned long long)((sh->now - since) / GS_MILLISECONDS));
                sh->c.peers_behind_closed++;
                (void)gs_engine_close(sh->eng, sp, 0, "behind");
                sh->dirty = true;
            }
        }
        if (pe->owner < 0 && !pe->local_use && pe->conn == 0 && pe->dial == 0 &&
            pe->dial_after <= sh->now) {
            gs_kmap_del_at(&sh->peers, &it);
            free(pe);
        }
    }
    gs_addrbook_expire(&sh->book, sh->now, EXPIRE_BUDGET);
    it = 0;
    while ((te = gs_kmap_next(&sh->topics, &it, NULL)) != NULL) {
        if (!te->relayed || te->nsubs > 0) {
            continue;
        }
        if (gs_node_active_view(sh->node, &te->id, NULL, 0) > 0) {
            te->idle_since = GS_TSTAMP_NEVER;
        } else if (te->idle_since == GS_TSTAMP_NEVER) {
            te->idle_since = sh->now;
        } else if (sh->now - te->idle_since >= sh->cfg->relay_idle) {
            char th[65];
            gs_topic_id t = te->id;

            hex32(t.b, th);
            GS_LOG(GS_LOG_INFO, "shard=%u evt=relay_idle_quit topic=%s", sh->index, th);
            sh->c.relay_idle_quits++;
            (void)gs_node_quit(sh->node, &t, sh->now);
            drain_outbox(sh);
            gs_relay_release(&relayed_topics);
            gs_kmap_del_at(&sh->topics, &it);
            free(te);
        }
    }
}

static void quit_all(gs_shard *sh)
{
    size_t it = 0;
    topic_ent *te;

    while ((te = gs_kmap_next(&sh->topics, &it, NULL)) != NULL) {
        (void)gs_node_quit(sh->node, &te->id, sh->now);
        drain_outbox(sh);
    }
}

/* turn: the engine's before_flush hook (see shard.h).  Returns the shard's next deadline. */
static gs_tstamp turn(void *ud, gs_engine *e, gs_tstamp now)
{
    gs_shard *sh = ud;
    size_t total = 0;
    size_t n;
    gs_tstamp dl;

    (void)e;
    gs_mesh_sleep_end(sh->srv->mesh, sh->index);
    if (sh->ctl != NULL) {
        gs_mesh_sleep_end(sh->srv->mesh, sh->ctl_ep);
    }
    sh->now = now;
    sh->dirty = false;
    if (atomic_load(&sh->srv->phase) == GS_PHASE_QUIT && !sh->quitting) {
        sh->quitting = true;
        quit_all(sh);
    }

    while (total < MBOX_PER_TURN &&
           (n = gs_mesh_recv(sh->srv->mesh, sh->index, sh->rbuf, MBOX_BATCH)) > 0) {
        for (size_t i = 0; i < n; ++i) {
            handle_rec(sh, &sh->rbuf[i]);
        }
        total += n;
    }
    if (total >= MBOX_PER_TURN) {
        sh->dirty = true;
    }
    batch_flush(sh);
    announce_drops(sh);
    if (gs_node_get_expiry(sh->node) <= sh->now) {
        gs_node_handle_expiry(sh->node, sh->now);
        drain_outbox(sh);
    }
    if (sh->now >= sh->next_sweep) {
        sh->next_sweep = sh->now + SWEEP_PERIOD;
        sweep(sh);
    }
    if (gs_mesh_flush(sh->srv->mesh, sh->index)) {
        sh->dirty = true;
    }
    if (sh->ctl != NULL) {
        /* after the flush, so this turn's events reach their clients in this turn; requests it
         * reads are handled next turn (they make the next wait zero) */
        bool io = gs_uring_watch_take(gs_engine_uring(sh->eng)) || sh->ctl_more;

        sh->ctl_more = gs_control_poll(sh->ctl, io);
        if (sh->ctl_more) {
            sh->dirty = true;
        }
    }
    if (sh->dirty) {
        return now;
    }
    dl = gs_node_get_expiry(sh->node);
    return dl < sh->next_sweep ? dl : sh->next_sweep;
}

/* ---- life cycle ---- */

void gs_shard_wake(void *arg)
{
    gs_shard *sh = arg;

    (void)gs_engine_wake(sh->eng);
}

int gs_shard_new(gs_shard **psh, gs_server *srv, unsigned index)
{
    const gs_server_cfg *cfg = &srv->cfg;
    gs_engine_cfg ec;
    gs_shard *sh;
    gs_key self;
    uint64_t seed;
    int rv;

    sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return GS_ERR_NOMEM;
    }
    sh->srv = srv;
    sh->cfg = cfg;
    sh->index = index;
    sh->nshards = srv->nshards;
    sh->ctl_ep = srv->nshards;
    gs_engine_cfg_default(&ec);
    if (index == 0) {
        memcpy(ec.listen, cfg->listen, sizeof(gs_udp_addr) * cfg->nlisten);
        ec.nlisten = cfg->nlisten;
    } else {
        memcpy(ec.listen, srv->bound, sizeof(gs_udp_addr) * srv->nbound);
        ec.nlisten = srv->nbound;
    }
    ec.quic.max_message_size = (uint32_t)cfg->node.max_message_size;
    ec.quic.send_queue_max = cfg->send_queue_max;
    ec.quic.idle_timeout = cfg->idle_timeout;
    ec.quic.keep_alive = cfg->keep_alive;
    ec.quic.ack_coalesce = cfg->ack_coalesce;
    ec.quic.max_conns = cfg->max_conns;
    ec.quic.max_conns_per_prefix = cfg->max_conns_per_prefix;
    ec.quic.max_halfopen = cfg->max_halfopen;
    ec.quic.max_halfopen_per_prefix = cfg->max_halfopen_per_prefix;
    ec.quic.rx_mem_max = cfg->rx_mem_max;
    ec.quic.prefix4_len = (uint8_t)cfg->prefix4_len;
    ec.quic.prefix6_len = (uint8_t)cfg->prefix6_len;
    ec.quic.shard = (uint8_t)index;
    ec.steer_nshards = srv->nshards >= 2 ? srv->nshards : 0;
    ec.cb.user_data = sh;
    ec.cb.on_connected = on_connected;
    ec.cb.on_frame = on_frame;
    ec.cb.on_closed = on_closed;
    ec.before_flush = turn;
    ec.on_stray = on_stray;
    ec.turn_user_data = sh;
    ec.quic.send_queue_low = cfg->send_queue_low;
    if (cfg->v0) {
        (void)gs_quic_cfg_enable_v0(&ec.quic);
    }
    rv = gs_engine_new(&sh->eng, &ec, &srv->id, gs_mem_default());
    if (rv < 0) {
        goto fail_engine;
    }
    memcpy(self.b, srv->id.pk, 32);
    seed = ((uint64_t)srv->id.pk[0] << 8 | index) ^ (uint64_t)gs_uring_now();
    rv = gs_node_new(&sh->node, &cfg->node, &self, seed, gs_mem_default());
    if (rv < 0) {
        goto fail_node;
    }
    rv = gs_kmap_init(&sh->peers, cfg->max_peers);
    if (rv < 0) {
        goto fail_peers;
    }
    rv = gs_kmap_init(&sh->topics, cfg->node.max_topics);
    if (rv < 0) {
        goto fail_topics;
    }
    rv = gs_kmap_init(&sh->refused_once, 4096);
    if (rv < 0) {
        goto fail_refused;
    }
    rv = gs_addrbook_init(&sh->book, cfg->addrbook_max, cfg->addr_ttl);
    if (rv < 0) {
        goto fail_book;
    }
    sh->arena = malloc(BATCH_ARENA);
    if (sh->arena == NULL) {
        rv = GS_ERR_NOMEM;
        gs_addrbook_free(&sh->book);
        goto fail_book;
    }
    *psh = sh;
    return 0;

fail_book:
    gs_kmap_free(&sh->refused_once);
fail_refused:
    gs_kmap_free(&sh->topics);
fail_topics:
    gs_kmap_free(&sh->peers);
fail_peers:
    gs_node_del(sh->node);
fail_node:
    gs_engine_del(sh->eng);
fail_engine:
    free(sh);
    return rv;
}

void gs_shard_del(gs_shard *sh)
{
    size_t it = 0;
    void *v;

    if (sh == NULL) {
        return;
    }
    while ((v = gs_kmap_next(&sh->peers, &it, NULL)) != NULL) {
        free(v);
    }
    it = 0;
    while ((v = gs_kmap_next(&sh->topics, &it, NULL)) != NULL) {
        free(v);
    }
    gs_kmap_free(&sh->peers);
    gs_kmap_free(&sh->topics);
    gs_kmap_free(&sh->refused_once);
    gs_addrbook_free(&sh->book);
    for (size_t i = 0; i < sh->nin; ++i) { /* frames that arrived during the shutdown */
        gs_frame_unref(sh->in[i].ref);
    }
    free(sh->arena);
    free(sh->outs);
    gs_node_del(sh->node);
    gs_engine_del(sh->eng);
    free(sh);
}

unsigned gs_shard_index(const gs_shard *sh)
{
    return sh->index;
}

int gs_shard_serve_control(gs_shard *sh, gs_control *ctl)
{
    int rv = gs_uring_watch(gs_engine_uring(sh->eng), gs_control_fd(ctl));

    if (rv == 0) {
        sh->ctl = ctl;
        sh->ctl_more = true; /* a first pass, in case a client was already waiting */
    }
    return rv;
}

gs_engine *gs_shard_engine(gs_shard *sh)
{
    return sh->eng;
}

void gs_shard_add_addr(gs_shard *sh, const uint8_t peer[32], const gs_udp_addr *addr, bool perm)
{
    (void)gs_addrbook_add(&sh->book, peer, addr, perm, gs_uring_now());
}

int gs_shard_set_peer_data(gs_shard *sh)
{
    const gs_server *srv = sh->srv;

    sh->now = gs_uring_now();
    return gs_node_set_peer_data(sh->node, srv->peer_data, srv->peer_data_len, sh->now);
}

int gs_shard_join(gs_shard *sh, const gs_cfg_topic *t)
{
    topic_ent *te = topic_get(sh, &t->id, t->name, true);
    int rv;

    if (te == NULL) {
        return GS_ERR_LIMIT;
    }
    sh->now = gs_uring_now();
    rv = join_topic(sh, &t->id, NULL, 0);
    if (rv < 0) {
        topic_drop(sh, &t->id);
    }
    return rv;
}

/* metrics_publish: copy our counters into our metrics slot (after each engine turn; the sizes,
 * which need a walk over the topics, at most every METRICS_GAUGE_PERIOD). */
#define METRICS_GAUGE_PERIOD (100 * GS_MILLISECONDS)
static void metrics_publish(gs_shard *sh, gs_tstamp *next_gauges)
{
    gs_metrics_gauges g;
    const gs_metrics_gauges *pg = NULL;
    gs_tstamp now = gs_uring_now();

    if (now >= *next_gauges) {
        size_t it = 0;
        peer_ent *pe;
        topic_ent *te;

        memset(&g, 0, sizeof(g));
        while ((pe = gs_kmap_next(&sh->peers, &it, NULL)) != NULL) {
            g.peers += pe->owner == (int)sh->index;
        }
        it = 0;
        while ((te = gs_kmap_next(&sh->topics, &it, NULL)) != NULL) {
            g.topics++;
            g.relayed_topics += te->relayed;
            g.subscribers += te->nsubs;
        }
        g.conns = gs_quic_ep_num_conns(gs_engine_quic(sh->eng));
        pg = &g;
        *next_gauges = now + METRICS_GAUGE_PERIOD;
    }
    gs_metrics_publish_shard(sh->srv->metrics, sh->index, &sh->c, gs_node_counters_get(sh->node),
                             gs_quic_ep_stats_get(gs_engine_quic(sh->eng)),
                             gs_engine_stats_get(sh->eng), pg);
}

int gs_shard_run(gs_shard *sh)
{
    gs_server *srv = sh->srv;
    gs_tstamp close_by;
    gs_tstamp next_gauges = 0;
    int rv;

    sh->now = gs_uring_now();
    if (srv->metrics != NULL) {
        clockid_t cpu;

        if (pthread_getcpuclockid(pthread_self(), &cpu) == 0) {
            gs_metrics_set_cpu_clock(srv->metrics, sh->index, cpu);
        }
    }
    while (atomic_load(&srv->phase) < GS_PHASE_CLOSE) {
        /* "I may sleep": a sender that publishes after this rings the doorbell; records that
         * arrived before it make this turn's wait zero.  The hook clears the mark. */
        bool may_sleep = gs_mesh_sleep_begin(srv->mesh, sh->index);
        gs_duration wait;

        if (sh->ctl != NULL && !gs_mesh_sleep_begin(srv->mesh, sh->ctl_ep)) {
            may_sleep = false; /* events or answers wait for the control */
        }
        wait = may_sleep ? MAX_WAIT : 0;

        rv = gs_engine_run_once(sh->eng, wait);
        if (rv != 0) {
            GS_LOG(GS_LOG_ERROR, "shard=%u evt=engine_failed rv=%d err=\"%s\"", sh->index, rv,
                   gs_strerror(rv));
            return rv;
        }
        if (srv->metrics != NULL) {
            metrics_publish(sh, &next_gauges);
        }
    }
    gs_mesh_sleep_end(srv->mesh, sh->index);
    if (sh->ctl != NULL) {
        gs_mesh_sleep_end(srv->mesh, sh->ctl_ep);
    }
    GS_LOG(GS_LOG_DEBUG, "shard=%u evt=closing conns=%zu", sh->index, gs_engine_num_conns(sh->eng));
    close_by = gs_tstamp_add(gs_uring_now(), sh->cfg->shutdown_timeout / 2);
    rv = gs_engine_shutdown(sh->eng, 0, "shutdown", close_by - gs_uring_now());
    return rv == GS_ERR_TIMEOUT ? 0 : rv;
}
