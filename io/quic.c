/* SPDX-License-Identifier: MIT */
/*
 * quic.c: the socket-free QUIC endpoint (quic.h): creation, datagram dispatch, client dial, the
 * public send API, the write loop and the timers.  The rest of the endpoint lives beside it:
 *  - quic_conn.c: connection life cycle (handshake -> established -> closing/draining -> freed),
 *    the ngtcp2 callbacks, and reading / writing one connection's packets;
 *  - quic_accept.c: admission of new connections (limits, Retry) and the stateless replies
 *    (Version Negotiation, stateless reset, refusals);
 *  - quic_pack.c: the GSO run packer and its one-packet stash (no ngtcp2);
 *  - quic_stream.c: gossip framing on unidirectional streams; quic_tls.c: GnuTLS; quic_map.c:
 *    the bounded tables.
 *
 * Invariants (each is checked by an assert() where it is cheap to check; Release keeps them):
 *  - A connection is freed only at the top level (never inside an ngtcp2 callback), so callbacks
 *    can touch their connection freely.  Public input functions called from our callbacks only
 *    queue work and mark the connection dirty.
 *  - Every connection is in the timer heap; its key is ngtcp2's expiry (or the end of its closing /
 *    draining period), refreshed after every read, write and expiry.
 *  - A new connection is made only for an Initial that ngtcp2_accept takes, and it is freed at
 *    once, unreported, if its first packet does not decrypt.
 */
#include "quic.h"
#include "quic_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------- configuration */

void gs_quic_cfg_default(gs_quic_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    memcpy(cfg->alpn[0], GS_QUIC_ALPN_GOSSIP, sizeof(GS_QUIC_ALPN_GOSSIP));
    cfg->nalpn = 1;
    cfg->max_message_size = 4096;
    cfg->idle_timeout = 30 * GS_SECONDS;
    cfg->keep_alive = 5 * GS_SECONDS;
    cfg->handshake_timeout = 10 * GS_SECONDS;
    cfg->ack_coalesce = 5 * GS_MILLISECONDS;
    cfg->stream_window = 4u << 20;
    cfg->conn_window = 16u << 20;
    cfg->max_uni_streams = 128;
    cfg->stream_credit = 8;
    cfg->max_conns = 16384;
    cfg->max_conns_per_addr = 64;
    cfg->max_topics_per_conn = 1024;
    cfg->send_queue_max = 8u << 20;
    cfg->send_queue_low = 1u << 20;
    cfg->retry_mode = GS_QUIC_RETRY_AUTO;
    cfg->retry_auto_rate = 2000;
    cfg->retry_token_ttl = 10 * GS_SECONDS;
    cfg->reset_rate = 100;
    cfg->max_packet_size = GS_QUIC_MAX_PACKET;
    cfg->shard = 0;
    cfg->send_sni = false;
    cfg->rx_buffer_max = (size_t)64 << 20;
    cfg->rx_buffer_conn_max = 0;
    cfg->rx_mem_conn_max = 0;
    cfg->rx_mem_max = (size_t)1 << 30;
    cfg->rx_mem_prefix_max = 0;
    cfg->prefix4_len = 24;
    cfg->prefix6_len = 64;
    cfg->max_conns_per_prefix = 256;
    cfg->max_halfopen = 1024;
    cfg->max_halfopen_per_prefix = 64;
    cfg->halfopen_timeout = 5 * GS_SECONDS;
}

int gs_quic_addr_set(gs_quic_addr *addr, const struct sockaddr *sa, socklen_t len)
{
    if (addr == NULL || sa == NULL) {
        return GS_ERR_INVAL;
    }
    memset(addr, 0, sizeof(*addr));
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(&addr->u.in, sa, sizeof(struct sockaddr_in));
        addr->len = (socklen_t)sizeof(struct sockaddr_in);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(&addr->u.in6, sa, sizeof(struct sockaddr_in6));
        addr->len = (socklen_t)sizeof(struct sockaddr_in6);
        return 0;
    }
    return GS_ERR_INVAL;
}

/* ---------------------------------------------------------------- endpoint */

int gs_quic_ep_new(gs_quic_ep **pep, const gs_quic_cfg *cfg, const gs_identity *id,
                   const gs_quic_callbacks *cb, const gs_mem *mem)
{
    gs_quic_ep *ep;
    int rv;

    if (pep == NULL || cfg == NULL || id == NULL || mem == NULL) {
        return GS_ERR_INVAL;
    }
    if (cfg->nalpn == 0 || cfg->nalpn > GS_QUIC_ALPN_MAX || cfg->max_message_size < 512 ||
        cfg->max_packet_size < MIN_INITIAL_DGRAM || cfg->max_packet_size > GS_QUIC_MAX_PACKET ||
        cfg->max_conns == 0 || cfg->max_conns > (1u << 24) || cfg->max_conns_per_addr == 0 ||
        cfg->max_topics_per_conn == 0 || cfg->send_queue_max == 0 || cfg->max_uni_streams == 0 ||
        cfg->ack_coalesce > NGTCP2_DEFAULT_MAX_ACK_DELAY || gs_quic_limits_check_cfg(cfg) != 0) {
        return GS_ERR_INVAL;
    }
    for (size_t i = 0; i < cfg->nalpn; ++i) {
        size_t n = strnlen(cfg->alpn[i], GS_QUIC_ALPN_MAXLEN + 1);
        if (n == 0 || n > GS_QUIC_ALPN_MAXLEN) {
            return GS_ERR_INVAL;
        }
    }
    if (sodium_init() < 0) {
        return GS_ERR_INTERNAL;
    }
    ep = gs_mem_calloc(mem, 1, sizeof(*ep));
    if (ep == NULL) {
        return GS_ERR_NOMEM;
    }
    ep->cfg = *cfg;
    ep->id = *id;
    gs_quic_pack_init(&ep->pack, cfg->max_packet_size);
    if (cb != NULL) {
        ep->cb = *cb;
    }
    ep->mem = mem;
    randombytes_buf(ep->token_secret, sizeof(ep->token_secret));
    /* The stateless-reset secret is derived from the node key and the shard index, so after a
     * restart with the same key file our resets carry the tokens we issued before (peers drop
     * dead connections at once instead of after the idle timeout), while each shard's tokens
     * differ (a packet that strays to another shard can never reset a live connection). */
    {
        static const char ctx[] = "gossipd quic stateless reset v1";
        uint8_t in[sizeof(ctx) + 1];
        memcpy(in, ctx, sizeof(ctx));
        in[sizeof(ctx)] = cfg->shard;
        crypto_generichash(ep->reset_secret, sizeof(ep->reset_secret), in, sizeof(in), id->sk,
                           GS_ID_SEED_LEN);
    }
    randombytes_buf(ep->map_seed, sizeof(ep->map_seed));
    ep->reset_tokens = cfg->reset_rate;

    size_t n = cfg->max_conns;
    ep->conns = gs_mem_calloc(mem, n, sizeof(ep->conns[0]));
    if (ep->conns == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_conns;
    }
    ep->free_slots = gs_mem_calloc(mem, n, sizeof(ep->free_slots[0]));
    if (ep->free_slots == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_free_slots;
    }
    for (size_t i = 0; i < n; ++i) {
        ep->free_slots[i] = (uint32_t)(n - 1 - i);
    }
    ep->nfree = n;
    ep->gens = gs_mem_calloc(mem, n, sizeof(ep->gens[0]));
    if (ep->gens == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_gens;
    }
    ep->heap = gs_mem_calloc(mem, n, sizeof(ep->heap[0]));
    if (ep->heap == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_heap;
    }
    /* Each connection maps up to 8 of our ids (ngtcp2's pool) plus the client's Initial DCID. */
    rv = gs_quic_map_init(&ep->cids, n * 10, NGTCP2_MAX_CIDLEN, ep->map_seed[0], mem);
    if (rv != 0) {
        goto fail_cids;
    }
    rv = gs_quic_map_init(&ep->peers, n, GS_ID_LEN, ep->map_seed[1], mem);
    if (rv != 0) {
        goto fail_peers;
    }
    /* Per connection: its address, its prefix, its prefix's receive memory and (while
     * handshaking) its address's and prefix's half-open counts (quic_accept.c). */
    rv = gs_quic_map_init(&ep->addrs, n * 5, 17, ep->map_seed[2], mem);
    if (rv != 0) {
        goto fail_addrs;
    }
    rv = gs_quic_map_init(&ep->tokens, n * QRTOK_MAX, NGTCP2_STATELESS_RESET_TOKENLEN,
                          ep->map_seed[3], mem);
    if (rv != 0) {
        goto fail_tokens;
    }
    ep->ctrl = gs_mem_calloc(mem, QCTRL_MAX, sizeof(ep->ctrl[0]));
    if (ep->ctrl == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_ctrl;
    }
    ep->stops_cap = (cfg->max_uni_streams < 4096 ? (size_t)cfg->max_uni_streams : 4096) + 8;
    ep->stops = gs_mem_calloc(mem, ep->stops_cap, sizeof(ep->stops[0]));
    if (ep->stops == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_stops;
    }
    rv = gs_quic_tls_init(ep);
    if (rv != 0) {
        goto fail_tls;
    }
    *pep = ep;
    return 0;

fail_tls:
    gs_mem_free(mem, ep->stops);
fail_stops:
    gs_mem_free(mem, ep->ctrl);
fail_ctrl:
    gs_quic_map_free(&ep->tokens, mem);
fail_tokens:
    gs_quic_map_free(&ep->addrs, mem);
fail_addrs:
    gs_quic_map_free(&ep->peers, mem);
fail_peers:
    gs_quic_map_free(&ep->cids, mem);
fail_cids:
    gs_mem_free(mem, ep->heap);
fail_heap:
    gs_mem_free(mem, ep->gens);
fail_gens:
    gs_mem_free(mem, ep->free_slots);
fail_free_slots:
    gs_mem_free(mem, ep->conns);
fail_conns:
    sodium_memzero(ep, sizeof(*ep));
    gs_mem_free(mem, ep);
    return rv;
}

void gs_quic_ep_del(gs_quic_ep *ep)
{
    if (ep == NULL) {
        return;
    }
    const gs_mem *mem = ep->mem;
    for (size_t i = 0; i < ep->cfg.max_conns; ++i) {
        if (ep->conns[i] != NULL) {
            gs_quic_conn_free(ep, ep->conns[i]);
        }
    }
    while (ep->free_chunks != NULL) {
        qchunk *ch = ep->free_chunks;
        ep->free_chunks = ch->next;
        gs_mem_free(mem, ch);
    }
    while (ep->free_refs != NULL) {
        qchunk *ch = ep->free_refs;
        ep->free_refs = ch->next;
        gs_mem_free(mem, ch);
    }
    gs_quic_tls_free(ep);
    gs_mem_free(mem, ep->stops);
    gs_mem_free(mem, ep->ctrl);
    gs_quic_map_free(&ep->tokens, mem);
    gs_quic_map_free(&ep->addrs, mem);
    gs_quic_map_free(&ep->peers, mem);
    gs_quic_map_free(&ep->cids, mem);
    gs_mem_free(mem, ep->heap);
    gs_mem_free(mem, ep->gens);
    gs_mem_free(mem, ep->free_slots);
    gs_mem_free(mem, ep->conns);
    sodium_memzero(ep, sizeof(*ep));
    gs_mem_free(mem, ep);
}

const gs_quic_stats *gs_quic_ep_stats_get(const gs_quic_ep *ep)
{
    return &ep->stats;
}

size_t gs_quic_ep_num_conns(const gs_quic_ep *ep)
{
    return ep->nconns;
}

/* ---------------------------------------------------------------- datagram dispatch */

/* stray_taken offers a datagram with another shard's id to on_stray; true when it was taken. */
static bool stray_taken(gs_quic_ep *ep, uint8_t owner, const gs_quic_addr *local,
                        const gs_quic_addr *remote, const uint8_t *data, size_t len, uint8_t ecn)
{
    if (ep->cb.on_stray == NULL ||
        !ep->cb.on_stray(ep->cb.user_data, owner, local, remote, data, len, ecn)) {
        return false;
    }
    ++ep->stats.datagrams_stray;
    return true;
}

int gs_quic_ep_on_datagram(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote,
                           const uint8_t *data, size_t len, uint8_t ecn, gs_tstamp now)
{
    ngtcp2_version_cid vc;

    if (ep == NULL || local == NULL || remote == NULL || (data == NULL && len > 0)) {
        return GS_ERR_INVAL;
    }
    ep->now = now;
    ++ep->stats.datagrams_in;
    ep->stats.bytes_in += len;
    if (len == 0 || remote->len == 0) {
        ++ep->stats.datagrams_invalid;
        return 0;
    }
    if (len >= GS_QUIC_DISCO_MAGIC_LEN &&
        memcmp(data, GS_QUIC_DISCO_MAGIC, GS_QUIC_DISCO_MAGIC_LEN) == 0) {
        ++ep->stats.disco_dropped;
        return 0;
    }
    int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, GS_QUIC_CID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* RFC 9000 6.1: only datagrams big enough to be a first Initial get a reply. */
        if (len >= MIN_INITIAL_DGRAM) {
            gs_quic_send_version_negotiation(ep, local, remote, &vc);
        } else {
            ++ep->stats.datagrams_invalid;
        }
        return 0;
    }
    if (rv != 0) {
        ++ep->stats.datagrams_invalid;
        return 0;
    }
    /* One-entry cache in front of the keyed hash: bulk traffic repeats the same DCID. A hit is
     * trusted only while the cached connection is alive; ngtcp2 rejects ids it has retired. */
    qconn *hit = NULL;
    if (ep->last_cidlen == vc.dcidlen && vc.dcidlen > 0 &&
        memcmp(ep->last_cid, vc.dcid, vc.dcidlen) == 0) {
        hit = gs_quic_conn_get(ep, ep->last_conn);
    }
    if (hit == NULL) {
        uint32_t *slot = gs_quic_map_get(&ep->cids, vc.dcid, vc.dcidlen);
        if (slot != NULL && ep->conns[*slot] != NULL) {
            hit = ep->conns[*slot];
            memcpy(ep->last_cid, vc.dcid, vc.dcidlen);
            ep->last_cidlen = vc.dcidlen;
            ep->last_conn = hit->handle;
        }
    }
    if (hit != NULL) {
        (void)gs_quic_conn_read(ep, hit, local, remote, data, len, ecn, now);
        return 0;
    }
    /* Our ids carry the owning shard in their first byte: an unknown id naming another shard
     * is offered to the layer above, which knows the shards (a client's first Initial carries an
     * id the client chose; the layer above gives it back when no shard has that index). */
    bool foreign = vc.dcidlen == GS_QUIC_CID_LEN && vc.dcid[0] != ep->cfg.shard;
    if (foreign && stray_taken(ep, vc.dcid[0], local, remote, data, len, ecn)) {
        return 0;
    }
    if ((data[0] & 0x80) != 0) {
        gs_quic_server_accept(ep, local, remote, data, len, ecn, now);
        return 0;
    }
    if (len >= RESET_MIN) {
        /* Possibly a peer's stateless reset (its DCID is random): matched by its token. */
        const uint32_t *slot =
            gs_quic_map_get(&ep->tokens, data + len - NGTCP2_STATELESS_RESET_TOKENLEN,
                            NGTCP2_STATELESS_RESET_TOKENLEN);
        if (slot != NULL && ep->conns[*slot] != NULL) {
            (void)gs_quic_conn_read(ep, ep->conns[*slot], local, remote, data, len, ecn, now);
            return 0;
        }
    }
    if (vc.dcidlen == GS_QUIC_CID_LEN && !foreign) {
        gs_quic_send_stateless_reset(ep, local, remote, vc.dcid, len, now);
    } else {
        ++ep->stats.datagrams_dropped; /* another shard's id nobody took, or garbage */
    }
    return 0;
}

int gs_quic_conn_dial(gs_quic_ep *ep, qconn *c, const ngtcp2_callbacks *cbs, gs_tstamp now)
{
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_path path;
    ngtcp2_cid dcid;
    ngtcp2_cid scid;
    int rv;

    gs_quic_conn_settings(ep, &settings, now);
    gs_quic_conn_params(ep, &params);
    if (!gs_quic_rx_windows(ep, c, &settings, &params)) {
        gs_quic_conn_free(ep, c);
        return GS_ERR_REFUSED;
    }
    dcid.datalen = GS_QUIC_CID_LEN;
    randombytes_buf(dcid.data, GS_QUIC_CID_LEN);
    gs_quic_new_cid(ep, &scid);
    gs_quic_path_of(&path, &c->local, &c->remote);
    rv = ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, cbs, &settings,
                                &params, &c->nmem, c);
    if (rv != 0) {
        c->nc = NULL;
        gs_quic_conn_free(ep, c);
        return rv == NGTCP2_ERR_NOMEM ? GS_ERR_NOMEM : GS_ERR_QUIC;
    }
    rv = gs_quic_tls_session(ep, c);
    if (rv != 0) {
        gs_quic_conn_free(ep, c);
        return rv;
    }
    if (gs_quic_map_put(&ep->cids, scid.data, scid.datalen, c->slot) != 0) {
        gs_quic_conn_free(ep, c);
        return GS_ERR_REFUSED;
    }
    if (ep->cfg.keep_alive != 0) {
        ngtcp2_conn_set_keep_alive_timeout(c->nc, ep->cfg.keep_alive);
    }
    c->report_close = true;
    ++ep->stats.handshakes_started;
    gs_quic_conn_mark_dirty(ep, c);
    gs_quic_heap_update(ep, c, 0);
    return 0;
}

int gs_quic_ep_connect(gs_quic_ep *ep, const uint8_t peer_id[GS_ID_LEN], const gs_quic_addr *local,
                       const gs_quic_addr *remote, gs_tstamp now, gs_quic_conn_id *pconn)
{
    ngtcp2_callbacks cbs;

    if (ep == NULL || peer_id == NULL || local == NULL || remote == NULL || pconn == NULL ||
        remote->len == 0) {
        return GS_ERR_INVAL;
    }
    if (sodium_memcmp(peer_id, ep->id.pk, GS_ID_LEN) == 0) {
        return GS_ERR_SELF;
    }
    ep->now = now;
    if (!gs_quic_admit(ep, remote)) {
        return GS_ERR_REFUSED;
    }
    qconn *c = gs_quic_conn_alloc(ep, false, local, remote);
    if (c == NULL) {
        return GS_ERR_NOMEM;
    }
    memcpy(c->peer, peer_id, GS_ID_LEN);
    c->peer_known = true;
    gs_quic_conn_callbacks(&cbs, false);
    int rv = gs_quic_conn_dial(ep, c, &cbs, now);
    if (rv == 0) {
        *pconn = c->handle;
    }
    return rv;
}

/* ---------------------------------------------------------------- sending frames */

/* check_frame validates a complete frame for sending (PROTOCOL.md 3.2 sender rule). */
static int check_frame(gs_quic_ep *ep, const uint8_t *frame, size_t len)
{
    if (frame == NULL || len < GS_QUIC_FRAME_PREFIX) {
        ++ep->stats.frames_refused;
        return GS_ERR_INVAL;
    }
    uint32_t blen = ((uint32_t)frame[0] << 24) | ((uint32_t)frame[1] << 16) |
                    ((uint32_t)frame[2] << 8) | frame[3];
    if ((size_t)blen != len - GS_QUIC_FRAME_PREFIX) {
        ++ep->stats.frames_refused;
        return GS_ERR_INVAL;
    }
    if (blen >= ep->cfg.max_message_size) {
        ++ep->stats.frames_refused;
        return GS_ERR_MSG_TOO_LARGE;
    }
    return 0;
}

/* send_ref: what gs_quic_ep_send_frame_ref passes down (release == NULL: copy the frame). */
typedef struct send_ref {
    void (*release)(void *arg);
    void *arg;
} send_ref;

static int send_on(gs_quic_ep *ep, qconn *c, const uint8_t *topic, const uint8_t *frame, size_t len,
                   gs_quic_send_class cls, const send_ref *ref)
{
    if (c->state == QS_CLOSING || c->state == QS_DRAINING || c->close_req) {
        return GS_ERR_CLOSED;
    }
    int rv = check_frame(ep, frame, len);
    if (rv != 0) {
        return rv;
    }
    if (c->v0 && len - GS_QUIC_FRAME_PREFIX + GS_QUIC_TOPIC_LEN >= ep->cfg.max_message_size) {
        /* The topic travels in every /0 frame body: 32 bytes less for the message. */
        ++ep->stats.frames_refused;
        ++ep->stats.frames_refused_v0;
        return GS_ERR_MSG_TOO_LARGE;
    }
    if (cls == GS_QUIC_SEND_DATA) {
        size_t low = ep->cfg.send_queue_low < ep->cfg.send_queue_max ? ep->cfg.send_queue_low
                                                                     : ep->cfg.send_queue_max;
        if (c->queued > low) {
            if (!c->want_writable || c->writable_at > low / 2) {
                c->writable_at = low / 2;
            }
            c->want_writable = true;
            ++ep->stats.data_refused;
            return GS_ERR_AGAIN;
        }
    }
    if (ref != NULL) {
        rv = gs_quic_stream_queue_ref(ep, c, topic, frame, len, ref->release, ref->arg);
    } else {
        rv = gs_quic_stream_queue(ep, c, topic, frame, len);
    }
    if (rv != 0) {
        return rv;
    }
    ++ep->stats.frames_out;
    ep->stats.frame_bytes_out += len;
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

int gs_quic_ep_send_frame(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                          const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame, size_t len)
{
    if (ep == NULL || peer == NULL || topic == NULL) {
        return GS_ERR_INVAL;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_ERR_NOTFOUND;
    }
    return send_on(ep, ep->conns[*slot], topic, frame, len, GS_QUIC_SEND_CONTROL, NULL);
}

int gs_quic_ep_send_frame_cls(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                              const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                              size_t len, gs_quic_send_class cls)
{
    if (ep == NULL || peer == NULL || topic == NULL ||
        (cls != GS_QUIC_SEND_CONTROL && cls != GS_QUIC_SEND_DATA)) {
        return GS_ERR_INVAL;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_ERR_NOTFOUND;
    }
    return send_on(ep, ep->conns[*slot], topic, frame, len, cls, NULL);
}

int gs_quic_ep_send_frame_ref(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                              const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                              size_t len, gs_quic_send_class cls, void (*release)(void *arg),
                              void *arg)
{
    send_ref ref = {release, arg};

    if (ep == NULL || peer == NULL || topic == NULL || release == NULL ||
        (cls != GS_QUIC_SEND_CONTROL && cls != GS_QUIC_SEND_DATA)) {
        return GS_ERR_INVAL;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_ERR_NOTFOUND;
    }
    return send_on(ep, ep->conns[*slot], topic, frame, len, cls, &ref);
}

gs_tstamp gs_quic_ep_peer_behind_since(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN])
{
    if (ep == NULL || peer == NULL) {
        return GS_TSTAMP_NEVER;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_TSTAMP_NEVER;
    }
    return ep->conns[*slot]->behind_since;
}

int gs_quic_ep_send_frame_conn(gs_quic_ep *ep, gs_quic_conn_id conn,
                               const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                               size_t len)
{
    if (ep == NULL || topic == NULL) {
        return GS_ERR_INVAL;
    }
    qconn *c = gs_quic_conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    return send_on(ep, c, topic, frame, len, GS_QUIC_SEND_CONTROL, NULL);
}

int gs_quic_ep_finish_stream(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN])
{
    if (ep == NULL || peer == NULL || topic == NULL) {
        return GS_ERR_INVAL;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_ERR_NOTFOUND;
    }
    qconn *c = ep->conns[*slot];
    if (c->v0) {
        return 0; /* one stream for all topics: never finished for one of them */
    }
    int rv = gs_quic_stream_finish(ep, c, topic);
    if (rv == 0) {
        gs_quic_conn_mark_dirty(ep, c);
    }
    return rv;
}

int gs_quic_ep_close(gs_quic_ep *ep, gs_quic_conn_id conn, uint64_t app_error, const char *reason)
{
    if (ep == NULL) {
        return GS_ERR_INVAL;
    }
    qconn *c = gs_quic_conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    if (c->close_req || c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return GS_ERR_CLOSED;
    }
    c->close_req = true;
    c->close_app_error = app_error;
    gs_quic_conn_set_reason(c, reason != NULL ? reason : "");
    if (strlen(c->close_reason) > 64) {
        c->close_reason[64] = '\0';
    }
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

int gs_quic_ep_conn_peer(const gs_quic_ep *ep, gs_quic_conn_id conn, uint8_t peer[GS_ID_LEN])
{
    const qconn *c = gs_quic_conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    /* A server learns the key in the verify callback, before CertificateVerify is checked:
     * report it only once the handshake completed. */
    if (!c->peer_known || (c->is_server && c->state == QS_HANDSHAKE)) {
        return GS_ERR_AGAIN;
    }
    memcpy(peer, c->peer, GS_ID_LEN);
    return 0;
}

gs_quic_conn_id gs_quic_ep_send_path(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN])
{
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return 0;
    }
    return ep->conns[*slot]->handle;
}

int gs_quic_ep_conn_info(const gs_quic_ep *ep, gs_quic_conn_id conn, gs_quic_conn_info *info)
{
    const qconn *c = gs_quic_conn_get(ep, conn);
    ngtcp2_conn_stat st;

    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    if (c->nc == NULL || c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return GS_ERR_CLOSED;
    }
    ngtcp2_conn_get_conn_stat(c->nc, &st);
    memset(info, 0, sizeof(*info));
    info->smoothed_rtt = st.smoothed_rtt;
    info->rttvar = st.rttvar;
    info->min_rtt = st.min_rtt;
    info->latest_rtt = st.latest_rtt;
    info->cwnd = st.cwnd;
    info->ssthresh = st.ssthresh;
    info->bytes_in_flight = st.bytes_in_flight;
    info->pto_count = st.pto_count;
    info->delivery_rate = st.delivery_rate_sec;
    return 0;
}

size_t gs_quic_ep_queued_bytes(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    const qconn *c = gs_quic_conn_get(ep, conn);
    return c != NULL ? c->queued : 0;
}

size_t gs_quic_ep_unacked_streams(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    const qconn *c = gs_quic_conn_get(ep, conn);
    size_t n = 0;

    if (c == NULL) {
        return 0;
    }
    /* A finished stream is freed once its data and FIN are acknowledged (stream_close). */
    for (const qsend *s = c->sends; s != NULL; s = s->next) {
        if (!s->dead && (s->acked < s->end || s->finishing)) {
            ++n;
        }
    }
    return n;
}

/* ---------------------------------------------------------------- write loop and timers */

/* write_batch is gs_quic_ep_write without the counters (see there). */
static gs_ssize write_batch(gs_quic_ep *ep, gs_tstamp now, gs_quic_txbuf *tx)
{
    if (ep == NULL || tx == NULL || tx->buf == NULL || tx->runs == NULL || tx->len > tx->cap) {
        return GS_ERR_INVAL;
    }
    if (tx->max_segs == 0) {
        tx->max_segs = 1;
    }
    if (tx->maxruns == 0 || tx->cap < ep->cfg.max_packet_size) {
        return GS_ERR_NOBUF;
    }
    ep->now = now;
    size_t start = tx->len;
    if (!gs_quic_pack_unstash(&ep->pack, tx)) {
        return tx->len > start ? (gs_ssize)(tx->len - start) : GS_ERR_NOBUF;
    }
    size_t i = 0;
    while (i < ep->nctrl) {
        qctrl *q = &ep->ctrl[i];
        if (!gs_quic_pack_copy(&ep->pack, tx, ep->ctrl, &q->local, &q->remote, 0, q->pkt, q->len)) {
            break;
        }
        ++i;
    }
    if (i > 0) {
        memmove(ep->ctrl, ep->ctrl + i, (ep->nctrl - i) * sizeof(ep->ctrl[0]));
        ep->nctrl -= i;
    }
    if (ep->nctrl > 0) {
        return (gs_ssize)(tx->len - start);
    }
    /* Each dirty connection is visited at most once per call: round robin across calls. */
    qconn *last = ep->dirty_tail;
    while (ep->dirty_head != NULL) {
        qconn *c = ep->dirty_head;
        bool was_last = c == last;
        ep->dirty_head = c->dirty_next;
        if (ep->dirty_head == NULL) {
            ep->dirty_tail = NULL;
        }
        c->dirty = false;
        c->dirty_next = NULL;
        if (gs_quic_conn_write(ep, c, now, tx)) {
            gs_quic_conn_mark_dirty(ep, c);
            break;
        }
        if (was_last) {
            break;
        }
    }
    return (gs_ssize)(tx->len - start);
}

gs_ssize gs_quic_ep_write(gs_quic_ep *ep, gs_tstamp now, gs_quic_txbuf *tx)
{
    gs_ssize n = write_batch(ep, now, tx);

    if (ep != NULL) {
        ep->stats.packets_out = ep->pack.packets;
        ep->stats.bytes_out = ep->pack.bytes;
        assert(tx == NULL || n < 0 || gs_quic_pack_check(tx) == 0);
    }
    return n;
}

int gs_quic_ep_conn_version(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    if (ep == NULL) {
        return GS_ERR_INVAL;
    }
    const qconn *c = gs_quic_conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    if (c->state == QS_HANDSHAKE) {
        return GS_ERR_AGAIN;
    }
    return c->v0 ? 0 : 1;
}

int gs_quic_ep_conn_versions(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    if (ep == NULL) {
        return GS_ERR_INVAL;
    }
    const qconn *c = gs_quic_conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    if (c->state == QS_HANDSHAKE) {
        return GS_ERR_AGAIN;
    }
    int v = c->v0 ? GS_QUIC_SPEAKS_V0 : GS_QUIC_SPEAKS_V1;
    if (c->is_server && c->hello_seen) {
        v |= (c->offers_v0 ? GS_QUIC_SPEAKS_V0 : 0) | (c->offers_v1 ? GS_QUIC_SPEAKS_V1 : 0) |
             GS_QUIC_SPEAKS_COMPLETE;
    } else if (c->v0) {
        v |= GS_QUIC_SPEAKS_COMPLETE;
    }
    return v;
}

int gs_quic_ep_peer_version(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN])
{
    if (ep == NULL || peer == NULL) {
        return GS_ERR_INVAL;
    }
    const uint32_t *slot = gs_quic_map_get(&ep->peers, peer, GS_ID_LEN);
    if (slot == NULL || ep->conns[*slot] == NULL) {
        return GS_ERR_NOTFOUND;
    }
    return ep->conns[*slot]->v0 ? 0 : 1;
}

bool gs_quic_ep_want_write(const gs_quic_ep *ep)
{
    return ep->pack.stash_len > 0 || ep->nctrl > 0 || ep->dirty_head != NULL;
}

gs_tstamp gs_quic_ep_get_expiry(const gs_quic_ep *ep)
{
    gs_tstamp e = ep->nheap > 0 ? ep->heap[0]->expiry : GS_TSTAMP_NEVER;
    return e;
}

int gs_quic_ep_handle_expiry(gs_quic_ep *ep, gs_tstamp now)
{
    if (ep == NULL) {
        return GS_ERR_INVAL;
    }
    ep->now = now;
    while (ep->nheap > 0 && ep->heap[0]->expiry <= now) {
        qconn *c = ep->heap[0];
        if (c->state == QS_CLOSING || c->state == QS_DRAINING) {
            gs_quic_conn_free(ep, c);
            continue;
        }
        ++ep->in_ngtcp2;
        int rv = ngtcp2_conn_handle_expiry(c->nc, now);
        --ep->in_ngtcp2;
        if (rv != 0) {
            if (!gs_quic_conn_fail(ep, c, rv, now)) {
                gs_quic_heap_update(ep, c, now);
            }
            continue;
        }
        if (c->tokens_dirty) {
            gs_quic_conn_tokens_refresh(ep, c);
        }
        gs_quic_conn_mark_dirty(ep, c);
        gs_quic_heap_update(ep, c, now);
    }
    return 0;
}
