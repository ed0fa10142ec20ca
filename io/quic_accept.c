/* SPDX-License-Identifier: MIT */
/*
 * quic_accept.c: who may open a connection and the packets the endpoint sends without one.
 *
 * Admission: a client's Initial becomes a connection only within max_conns, max_conns_per_addr
 * and max_conns_per_prefix; with Retry on (always, or automatically above retry_auto_rate new
 * handshakes per second or while half-open connections reach half of max_halfopen or of the
 * prefix's max_halfopen_per_prefix) it must first echo a Retry token bound to its address.
 * Half-open connections (accepted, handshaking) live at most halfopen_timeout and are capped
 * apart (max_halfopen, max_halfopen_per_prefix): at a cap the oldest is dropped for the new one,
 * so a flood of unfinished handshakes delays a client by at most a handshake's round trips.
 * Receive memory: each connection's flow-control windows are sized from rx_mem_conn_max and
 * what is left of rx_mem_max (docs/quic.md), which bounds what ngtcp2's reorder buffers hold.
 * Stateless
 * replies (Version Negotiation, stateless reset, Retry, CONNECTION_CLOSE for refusals) wait in a
 * bounded queue (QCTRL_MAX) that gs_quic_ep_write drains before any connection's packets; when
 * it is full, further replies are dropped and counted: they are all optional.
 */
#include "quic.h"
#include "quic_int.h"

#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------- per-address limits */

/* Keys of ep->addrs: the first byte names the family and what is counted. */
enum {
    KEY_ADDR = 0x00,     /* connections from one address */
    KEY_PREFIX = 0x10,   /* connections from one prefix */
    KEY_HALFOPEN = 0x20, /* accepted connections still handshaking from one prefix */
    KEY_MEM = 0x30,      /* receive memory charged by one prefix's connections, KiB */
    KEY_HALFADDR = 0x40, /* accepted connections still handshaking from one address */
};

/* limit_key writes the |kind| key of |a| (family and kind byte + the address, cut to the
 * configured prefix for KEY_PREFIX and KEY_HALFOPEN) and returns its length. */
static size_t limit_key(const gs_quic_ep *ep, const gs_quic_addr *a, uint8_t kind, uint8_t key[17])
{
    size_t n;
    unsigned bits;

    if (a->u.sa.sa_family == AF_INET) {
        key[0] = 4 | kind;
        memcpy(key + 1, &a->u.in.sin_addr, 4);
        n = 4;
        bits = ep->cfg.prefix4_len;
    } else {
        key[0] = 6 | kind;
        memcpy(key + 1, &a->u.in6.sin6_addr, 16);
        n = 16;
        bits = ep->cfg.prefix6_len;
    }
    if (kind != KEY_ADDR && kind != KEY_HALFADDR) {
        for (size_t i = 0; i < n; ++i) {
            if (bits >= 8 * (i + 1)) {
                continue;
            }
            unsigned keep = bits > 8 * i ? bits - 8 * (unsigned)i : 0;
            key[1 + i] &= (uint8_t)(0xff00u >> keep);
        }
    }
    return n + 1;
}

static uint32_t key_count(const gs_quic_ep *ep, const gs_quic_addr *a, uint8_t kind)
{
    uint8_t key[17];
    size_t klen = limit_key(ep, a, kind, key);
    const uint32_t *v = gs_quic_map_get(&ep->addrs, key, klen);
    return v != NULL ? *v : 0;
}

/* key_add adds |delta| to the |kind| count of |a| (the key goes at 0); returns false if a new
 * key found no room (cannot happen: the table holds 5 * max_conns entries, at most 5 per
 * connection). */
static bool key_add(gs_quic_ep *ep, const gs_quic_addr *a, uint8_t kind, int64_t delta)
{
    uint8_t key[17];
    size_t klen = limit_key(ep, a, kind, key);
    uint32_t *v = gs_quic_map_get(&ep->addrs, key, klen);

    if (delta > 0) {
        if (v != NULL) {
            *v += (uint32_t)delta;
            return true;
        }
        return gs_quic_map_put(&ep->addrs, key, klen, (uint32_t)delta) == 0;
    }
    if (v != NULL) {
        *v = *v > (uint32_t)-delta ? *v - (uint32_t)-delta : 0;
        if (*v == 0) {
            gs_quic_map_del(&ep->addrs, key, klen);
        }
    }
    return true;
}

void gs_quic_addr_count(gs_quic_ep *ep, qconn *c, int delta)
{
    if (delta > 0) {
        c->addr_counted = key_add(ep, &c->remote, KEY_ADDR, 1);
        c->prefix_counted = key_add(ep, &c->remote, KEY_PREFIX, 1);
        return;
    }
    if (c->addr_counted) {
        key_add(ep, &c->remote, KEY_ADDR, -1);
        c->addr_counted = false;
    }
    if (c->prefix_counted) {
        key_add(ep, &c->remote, KEY_PREFIX, -1);
        c->prefix_counted = false;
    }
}

uint32_t gs_quic_addr_conns(const gs_quic_ep *ep, const gs_quic_addr *a)
{
    return key_count(ep, a, KEY_ADDR);
}

int gs_quic_limits_check_cfg(const gs_quic_cfg *cfg)
{
    if (cfg->prefix4_len < 8 || cfg->prefix4_len > 32 || cfg->prefix6_len < 16 ||
        cfg->prefix6_len > 128 || cfg->max_conns_per_prefix == 0 || cfg->max_halfopen == 0 ||
        cfg->max_halfopen_per_prefix == 0 || cfg->halfopen_timeout == 0 || cfg->rx_mem_max == 0) {
        return GS_ERR_INVAL;
    }
    size_t overhead = (cfg->max_uni_streams + 1) * GS_QUIC_RX_STREAM_OVERHEAD;
    if (cfg->stream_credit == 0) {
        return GS_ERR_INVAL;
    }
    if (cfg->rx_mem_conn_max != 0 && cfg->rx_mem_conn_max < overhead + GS_QUIC_MIN_WINDOW) {
        return GS_ERR_INVAL; /* not even the smallest window would fit */
    }
    return 0;
}

/* Which connection limit refuses a new connection (limit_hit). */
enum {
    LIMIT_NONE = 0,
    LIMIT_CONNS,  /* max_conns */
    LIMIT_ADDR,   /* max_conns_per_addr */
    LIMIT_PREFIX, /* max_conns_per_prefix */
};

static int limit_hit(const gs_quic_ep *ep, const gs_quic_addr *remote)
{
    if (gs_quic_addr_conns(ep, remote) >= ep->cfg.max_conns_per_addr) {
        return LIMIT_ADDR;
    }
    if (key_count(ep, remote, KEY_PREFIX) >= ep->cfg.max_conns_per_prefix) {
        return LIMIT_PREFIX;
    }
    return ep->nconns >= ep->cfg.max_conns ? LIMIT_CONNS : LIMIT_NONE;
}

static void count_refusal(gs_quic_ep *ep, int limit)
{
    ++ep->stats.conns_refused;
    if (limit == LIMIT_PREFIX) {
        ++ep->stats.conns_refused_prefix;
    }
}

bool gs_quic_admit(gs_quic_ep *ep, const gs_quic_addr *remote)
{
    int limit = limit_hit(ep, remote);
    if (limit != LIMIT_NONE) {
        count_refusal(ep, limit);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- receive memory */

uint64_t gs_quic_stream_credit0(const gs_quic_cfg *cfg)
{
    return cfg->stream_credit < cfg->max_uni_streams ? cfg->stream_credit : cfg->max_uni_streams;
}

/* rx_overhead returns the per-stream part of the charge for |streams| incoming uni streams: the
 * reorder chunks they can hold beyond the window (plus /0's one bidirectional stream). */
static size_t rx_overhead(const gs_quic_ep *ep, uint64_t streams)
{
    return ((size_t)streams + (gs_quic_v0_enabled(ep) ? 1 : 0)) * GS_QUIC_RX_STREAM_OVERHEAD;
}

static size_t rx_prefix_max(const gs_quic_ep *ep)
{
    return ep->cfg.rx_mem_prefix_max != 0 ? ep->cfg.rx_mem_prefix_max : ep->cfg.rx_mem_max / 4;
}

/* rx_kib rounds a charge up to KiB (the unit of the per-prefix sums). */
static int64_t rx_kib(size_t charge)
{
    return (int64_t)((charge + 1023) >> 10);
}

bool gs_quic_rx_windows(gs_quic_ep *ep, qconn *c, ngtcp2_settings *s, ngtcp2_transport_params *p)
{
    /* Admission charges the streams a peer may open at first; the per-connection cap is sized
     * for all it may earn (max_uni_streams), so a connection never outgrows rx_mem_conn_max. */
    uint64_t credit = gs_quic_stream_credit0(&ep->cfg);
    size_t overhead = rx_overhead(ep, credit);
    size_t full_overhead = rx_overhead(ep, ep->cfg.max_uni_streams);
    uint64_t w = ep->cfg.conn_window;

    if (ep->cfg.rx_mem_conn_max != 0 && w > ep->cfg.rx_mem_conn_max - full_overhead) {
        w = ep->cfg.rx_mem_conn_max - full_overhead;
    }
    uint64_t full = w;
    /* Hard room: what is left of rx_mem_max and, for a connection the peer opened, of its
     * prefix's share.  Soft room: the same against half of each; beyond it new connections get
     * smaller windows, so a budget that fills up is shared among more connections. */
    size_t used = ep->rx_committed;
    size_t max = ep->cfg.rx_mem_max;
    size_t left = used < max ? max - used : 0;
    size_t soft = used < max / 2 ? max / 2 - used : 0;
    if (c->is_server) {
        size_t pused = (size_t)key_count(ep, &c->remote, KEY_MEM) << 10;
        size_t pmax = rx_prefix_max(ep);
        size_t pleft = pused < pmax ? pmax - pused : 0;
        size_t psoft = pused < pmax / 2 ? pmax / 2 - pused : 0;
        left = pleft < left ? pleft : left;
        soft = psoft < soft ? psoft : soft;
    }
    while (w + overhead > soft && w > GS_QUIC_MIN_WINDOW) {
        w /= 2;
    }
    if (w < GS_QUIC_MIN_WINDOW && full >= GS_QUIC_MIN_WINDOW) {
        w = GS_QUIC_MIN_WINDOW;
    }
    if (w + overhead > left) {
        ++ep->stats.conns_refused;
        ++ep->stats.conns_refused_mem;
        return false;
    }
    if (w < full) {
        ++ep->stats.windows_reduced;
    }
    uint64_t sw = ep->cfg.stream_window < w ? ep->cfg.stream_window : w;
    s->max_window = w;
    s->max_stream_window = sw;
    p->initial_max_data = w;
    p->initial_max_stream_data_uni = sw;
    if (p->initial_max_stream_data_bidi_remote > sw) {
        p->initial_max_stream_data_bidi_remote = sw;
    }
    if (p->initial_max_stream_data_bidi_local > sw) {
        p->initial_max_stream_data_bidi_local = sw;
    }
    c->rx_charge = (size_t)w + overhead;
    c->streams_allowed = credit;
    return true;
}

/* ---------------------------------------------------------------- half-open connections */

static void halfopen_add(gs_quic_ep *ep, qconn *c)
{
    c->halfopen = key_add(ep, &c->remote, KEY_HALFOPEN, 1);
    if (!c->halfopen) {
        return;
    }
    if (!key_add(ep, &c->remote, KEY_HALFADDR, 1)) {
        key_add(ep, &c->remote, KEY_HALFOPEN, -1);
        c->halfopen = false;
        return;
    }
    c->ho_next = NULL;
    c->ho_prev = ep->ho_tail;
    if (ep->ho_tail != NULL) {
        ep->ho_tail->ho_next = c;
    } else {
        ep->ho_head = c;
    }
    ep->ho_tail = c;
    ep->stats.halfopen = ++ep->nhalfopen;
}

static void halfopen_remove(gs_quic_ep *ep, qconn *c)
{
    if (!c->halfopen) {
        return;
    }
    key_add(ep, &c->remote, KEY_HALFOPEN, -1);
    key_add(ep, &c->remote, KEY_HALFADDR, -1);
    if (c->ho_prev != NULL) {
        c->ho_prev->ho_next = c->ho_next;
    } else {
        ep->ho_head = c->ho_next;
    }
    if (c->ho_next != NULL) {
        c->ho_next->ho_prev = c->ho_prev;
    } else {
        ep->ho_tail = c->ho_prev;
    }
    c->ho_prev = c->ho_next = NULL;
    c->halfopen = false;
    ep->stats.halfopen = --ep->nhalfopen;
}

/* halfopen_evict frees the oldest half-open connection whose remote matches |remote| as |kind|
 * says (KEY_ADDR: the same address, KEY_HALFOPEN: the same prefix, 0: any).  Returns false when
 * there is none. */
static bool halfopen_evict(gs_quic_ep *ep, const gs_quic_addr *remote, uint8_t kind)
{
    uint8_t want[17];
    uint8_t key[17];
    size_t wlen = kind != 0 ? limit_key(ep, remote, kind, want) : 0;
    qconn *c = ep->ho_head;

    while (kind != 0 && c != NULL &&
           (limit_key(ep, &c->remote, kind, key) != wlen || memcmp(key, want, wlen) != 0)) {
        c = c->ho_next;
    }
    if (c == NULL) {
        return false;
    }
    ++ep->stats.halfopen_evicted;
    ++ep->stats.handshakes_failed;
    gs_quic_conn_free(ep, c); /* never reported connected: no on_closed */
    return true;
}

/* halfopen_holds tells whether a half-open connection matches |remote| as |kind| says (see
 * halfopen_evict). */
static bool halfopen_holds(const gs_quic_ep *ep, const gs_quic_addr *remote, uint8_t kind)
{
    if (kind == 0) {
        return ep->ho_head != NULL;
    }
    return key_count(ep, remote, kind == KEY_ADDR ? KEY_HALFADDR : KEY_HALFOPEN) > 0;
}

bool gs_quic_conn_established(gs_quic_ep *ep, qconn *c)
{
    halfopen_remove(ep, c);
    if (ep->rx_committed + c->rx_charge > ep->cfg.rx_mem_max) {
        /* Other handshakes took the room since the windows were sized. */
        ++ep->stats.conns_refused;
        ++ep->stats.conns_refused_mem;
        return false;
    }
    if (c->is_server) {
        /* the prefix's share binds the connections its hosts open, not the ones we dial */
        size_t pused = (size_t)key_count(ep, &c->remote, KEY_MEM) << 10;
        if (pused + c->rx_charge > rx_prefix_max(ep) ||
            !key_add(ep, &c->remote, KEY_MEM, rx_kib(c->rx_charge))) {
            ++ep->stats.conns_refused;
            ++ep->stats.conns_refused_mem;
            return false;
        }
    }
    ep->rx_committed += c->rx_charge;
    ep->stats.rx_mem_committed = ep->rx_committed;
    c->rx_charged = true;
    return true;
}

void gs_quic_stream_credit_more(gs_quic_ep *ep, qconn *c)
{
    const size_t more = GS_QUIC_RX_STREAM_OVERHEAD;

    if (c->streams_allowed >= ep->cfg.max_uni_streams || !c->rx_charged) {
        return;
    }
    if (ep->rx_committed + more > ep->cfg.rx_mem_max) {
        ++ep->stats.stream_credit_refused;
        return;
    }
    if (c->is_server) {
        size_t pused = (size_t)key_count(ep, &c->remote, KEY_MEM) << 10;
        if (pused + more > rx_prefix_max(ep) ||
            !key_add(ep, &c->remote, KEY_MEM, (int64_t)(more >> 10))) {
            ++ep->stats.stream_credit_refused;
            return;
        }
    }
    c->rx_charge += more;
    ep->rx_committed += more;
    ep->stats.rx_mem_committed = ep->rx_committed;
    ++c->streams_allowed;
    ++ep->stats.stream_credit_granted;
    (void)ngtcp2_conn_extend_max_streams_uni(c->nc, 1);
}

void gs_quic_limits_release(gs_quic_ep *ep, qconn *c)
{
    gs_quic_addr_count(ep, c, -1);
    halfopen_remove(ep, c);
    if (c->rx_charged) {
        if (c->is_server) {
            key_add(ep, &c->remote, KEY_MEM, -rx_kib(c->rx_charge));
        }
        ep->rx_committed -= c->rx_charge;
        ep->stats.rx_mem_committed = ep->rx_committed;
        c->rx_charged = false;
    }
}

/* ctrl_slot returns a stateless-packet slot, or NULL when the queue is full (the packet is
 * dropped: these are all optional replies). */
/* ---------------------------------------------------------------- stateless replies */

static qctrl *ctrl_slot(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote)
{
    if (ep->nctrl >= QCTRL_MAX) {
        ++ep->stats.datagrams_dropped;
        return NULL;
    }
    qctrl *q = &ep->ctrl[ep->nctrl];
    q->local = *local;
    q->remote = *remote;
    q->len = 0;
    return q;
}

static void ctrl_commit(gs_quic_ep *ep, qctrl *q, ngtcp2_ssize n)
{
    if (n > 0) {
        q->len = (size_t)n;
        ++ep->nctrl;
    }
}

void gs_quic_send_version_negotiation(gs_quic_ep *ep, const gs_quic_addr *local,
                                      const gs_quic_addr *remote, const ngtcp2_version_cid *vc)
{
    static const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
    qctrl *q = ctrl_slot(ep, local, remote);
    if (q == NULL) {
        return;
    }
    uint8_t unused;
    randombytes_buf(&unused, 1);
    /* The reply swaps the client's connection ids. */
    ngtcp2_ssize n =
        ngtcp2_pkt_write_version_negotiation(q->pkt, ep->cfg.max_packet_size, unused, vc->scid,
                                             vc->scidlen, vc->dcid, vc->dcidlen, versions, 1);
    ctrl_commit(ep, q, n);
    if (n > 0) {
        ++ep->stats.version_negotiations;
    }
}

void gs_quic_send_stateless_reset(gs_quic_ep *ep, const gs_quic_addr *local,
                                  const gs_quic_addr *remote, const uint8_t *dcid, size_t len,
                                  gs_tstamp now)
{
    /* Always smaller than the trigger (RFC 9000 10.3.3: no reset loops) and never below the
     * minimum a reset can be. */
    if (len <= RESET_MIN) {
        ++ep->stats.datagrams_dropped;
        return;
    }
    /* Token bucket: reset_rate per second, burst reset_rate. */
    double rate = ep->cfg.reset_rate;
    if (now > ep->reset_last) {
        ep->reset_tokens += rate * (double)(now - ep->reset_last) / (double)GS_SECONDS;
        if (ep->reset_tokens > rate) {
            ep->reset_tokens = rate;
        }
    }
    ep->reset_last = now;
    if (ep->reset_tokens < 1.0) {
        ++ep->stats.resets_ratelimited;
        return;
    }
    qctrl *q = ctrl_slot(ep, local, remote);
    if (q == NULL) {
        return;
    }
    ep->reset_tokens -= 1.0;
    size_t rlen = len - 1 < RESET_MAX ? len - 1 : RESET_MAX;
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
    uint8_t rnd[RESET_MAX];
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, dcid, GS_QUIC_CID_LEN);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
                                                     sizeof(ep->reset_secret), &cid) != 0) {
        return;
    }
    size_t randlen = rlen - NGTCP2_STATELESS_RESET_TOKENLEN;
    randombytes_buf(rnd, randlen);
    ngtcp2_ssize n =
        ngtcp2_pkt_write_stateless_reset(q->pkt, ep->cfg.max_packet_size, token, rnd, randlen);
    ctrl_commit(ep, q, n);
    if (n > 0) {
        ++ep->stats.resets_sent;
    }
}

static void send_retry(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote,
                       const ngtcp2_pkt_hd *hd, gs_tstamp now)
{
    uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    ngtcp2_cid scid;

    qctrl *q = ctrl_slot(ep, local, remote);
    if (q == NULL) {
        return;
    }
    gs_quic_new_cid(ep, &scid);
    ngtcp2_ssize tlen = ngtcp2_crypto_generate_retry_token(
        token, ep->token_secret, sizeof(ep->token_secret), hd->version, &remote->u.sa, remote->len,
        &scid, &hd->dcid, now);
    if (tlen < 0) {
        return;
    }
    ngtcp2_ssize n = ngtcp2_crypto_write_retry(q->pkt, ep->cfg.max_packet_size, hd->version,
                                               &hd->scid, &scid, &hd->dcid, token, (size_t)tlen);
    ctrl_commit(ep, q, n);
    if (n > 0) {
        ++ep->stats.retries_sent;
    }
}

static void send_initial_close(gs_quic_ep *ep, const gs_quic_addr *local,
                               const gs_quic_addr *remote, const ngtcp2_pkt_hd *hd, uint64_t code)
{
    qctrl *q = ctrl_slot(ep, local, remote);
    if (q == NULL) {
        return;
    }
    ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(
        q->pkt, ep->cfg.max_packet_size, hd->version, &hd->scid, &hd->dcid, code, NULL, 0);
    ctrl_commit(ep, q, n);
}

/* ---------------------------------------------------------------- admission */

void gs_quic_server_accept(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote,
                           const uint8_t *data, size_t len, uint8_t ecn, gs_tstamp now)
{
    ngtcp2_pkt_hd hd;
    ngtcp2_cid odcid;
    bool validated = false;

    if (len < MIN_INITIAL_DGRAM) {
        ++ep->stats.datagrams_invalid;
        return;
    }
    int rv = ngtcp2_accept(&hd, data, len);
    if (rv != 0) {
        /* NGTCP2_ERR_RETRY: 0-RTT for an unknown connection; we do not take 0-RTT. */
        if (rv == NGTCP2_ERR_RETRY) {
            ++ep->stats.datagrams_dropped;
        } else {
            ++ep->stats.datagrams_invalid;
        }
        return;
    }
    /* Half-open connections count against every connection limit, but at a limit the oldest
     * of them that holds it gives way (below) instead of the new client being refused: a flood
     * of unfinished handshakes never locks an address, a prefix or the endpoint out. */
    int limit = limit_hit(ep, remote);
    uint8_t evict_kind = limit == LIMIT_ADDR ? KEY_ADDR : limit == LIMIT_PREFIX ? KEY_HALFOPEN : 0;
    if (limit != LIMIT_NONE && !halfopen_holds(ep, remote, evict_kind)) {
        count_refusal(ep, limit);
        send_initial_close(ep, local, remote, &hd, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    if (now >= ep->rate_window + GS_SECONDS) {
        ep->rate_window = now;
        ep->rate_count = 0;
    }
    uint32_t ho_prefix = key_count(ep, remote, KEY_HALFOPEN);
    bool ho_load = ep->nhalfopen >= (ep->cfg.max_halfopen + 1) / 2 ||
                   ho_prefix >= (ep->cfg.max_halfopen_per_prefix + 1) / 2;
    bool need_retry = ep->cfg.retry_mode == GS_QUIC_RETRY_ALWAYS ||
                      (ep->cfg.retry_mode == GS_QUIC_RETRY_AUTO &&
                       (ep->rate_count >= ep->cfg.retry_auto_rate || ho_load));
    if (hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(&odcid, hd.token.base, hd.token.len, ep->token_secret,
                                             sizeof(ep->token_secret), hd.version, &remote->u.sa,
                                             remote->len, &hd.dcid, ep->cfg.retry_token_ttl,
                                             now) != 0) {
            ++ep->stats.tokens_rejected;
            send_initial_close(ep, local, remote, &hd, NGTCP2_INVALID_TOKEN);
            return;
        }
        ++ep->stats.tokens_ok;
        validated = true;
    } else if (need_retry) {
        if (ho_load && ep->cfg.retry_mode == GS_QUIC_RETRY_AUTO &&
            ep->rate_count < ep->cfg.retry_auto_rate) {
            ++ep->stats.retries_halfopen;
        }
        send_retry(ep, local, remote, &hd, now);
        return;
    }
    /* Room for one more half-open connection: the prefix's oldest gives way at its share, the
     * endpoint's oldest at max_halfopen. */
    if (limit != LIMIT_NONE) {
        (void)halfopen_evict(ep, remote, evict_kind);
    }
    if (key_count(ep, remote, KEY_HALFOPEN) >= ep->cfg.max_halfopen_per_prefix) {
        (void)halfopen_evict(ep, remote, KEY_HALFOPEN);
    }
    if (ep->nhalfopen >= ep->cfg.max_halfopen) {
        (void)halfopen_evict(ep, remote, 0);
    }

    qconn *c = gs_quic_conn_alloc(ep, true, local, remote);
    if (c == NULL) {
        ++ep->stats.datagrams_dropped;
        return;
    }
    ngtcp2_callbacks cbs;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_path path;
    ngtcp2_cid scid;

    gs_quic_conn_callbacks(&cbs, true);
    gs_quic_conn_settings(ep, &settings, now);
    gs_quic_conn_params(ep, &params);
    if (settings.handshake_timeout > ep->cfg.halfopen_timeout) {
        settings.handshake_timeout = ep->cfg.halfopen_timeout;
    }
    if (!gs_quic_rx_windows(ep, c, &settings, &params)) {
        gs_quic_conn_free(ep, c);
        send_initial_close(ep, local, remote, &hd, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    if (validated) {
        settings.token = hd.token;
        params.original_dcid = odcid;
        params.retry_scid = hd.dcid;
        params.retry_scid_present = 1;
    } else {
        params.original_dcid = hd.dcid;
    }
    gs_quic_new_cid(ep, &scid);
    if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, ep->reset_secret,
                                                     sizeof(ep->reset_secret), &scid) != 0) {
        gs_quic_conn_free(ep, c);
        return;
    }
    params.stateless_reset_token_present = 1;
    gs_quic_path_of(&path, local, remote);
    rv = ngtcp2_conn_server_new(&c->nc, &hd.scid, &scid, &path, hd.version, &cbs, &settings,
                                &params, &c->nmem, c);
    if (rv != 0) {
        c->nc = NULL;
        gs_quic_conn_free(ep, c);
        ++ep->stats.datagrams_dropped;
        return;
    }
    if (gs_quic_tls_session(ep, c) != 0 ||
        gs_quic_map_put(&ep->cids, scid.data, scid.datalen, c->slot) != 0) {
        gs_quic_conn_free(ep, c);
        ++ep->stats.datagrams_dropped;
        return;
    }
    if (gs_quic_map_put(&ep->cids, hd.dcid.data, hd.dcid.datalen, c->slot) == 0) {
        c->client_dcid = hd.dcid;
        c->has_client_dcid = true;
    }
    if (ep->cfg.keep_alive != 0) {
        ngtcp2_conn_set_keep_alive_timeout(c->nc, ep->cfg.keep_alive);
    }
    ++ep->rate_count;
    ep->nstops = 0; /* a first Initial carries no stream data: nothing to stop after it */
    gs_quic_path_of(&path, local, remote);
    ngtcp2_pkt_info pi;
    memset(&pi, 0, sizeof(pi));
    pi.ecn = ecn & NGTCP2_ECN_MASK;
    ++ep->in_ngtcp2;
    rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, data, len, now);
    --ep->in_ngtcp2;
    if (rv == NGTCP2_ERR_CRYPTO) {
        /* A well-formed ClientHello that TLS refused (no raw public keys, no Ed25519, no common
         * ALPN): tell the client with the alert, statelessly, and keep nothing. */
        ngtcp2_connection_close_error cc;
        ngtcp2_connection_close_error_default(&cc);
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &cc, ngtcp2_conn_get_tls_alert(c->nc), NULL, 0);
        qctrl *q = ctrl_slot(ep, local, remote);
        if (q != NULL) {
            ngtcp2_path_storage ps;
            ngtcp2_path_storage_zero(&ps);
            memset(&pi, 0, sizeof(pi));
            ctrl_commit(ep, q,
                        ngtcp2_conn_write_connection_close(c->nc, &ps.path, &pi, q->pkt,
                                                           ep->cfg.max_packet_size, &cc, now));
        }
        ++ep->stats.handshakes_failed;
        ++ep->stats.tls_alerts;
        gs_quic_conn_free(ep, c);
        return;
    }
    if (rv != 0) {
        /* The first packet did not decrypt or parse: it was garbage, keep nothing. */
        ++ep->stats.datagrams_invalid;
        gs_quic_conn_free(ep, c);
        return;
    }
    ++ep->stats.handshakes_started;
    halfopen_add(ep, c);
    c->rx_bytes += len;
    gs_quic_conn_mark_dirty(ep, c);
    gs_quic_heap_update(ep, c, 0);
}
