/* SPDX-License-Identifier: MIT */
/*
 * quic.c: the socket-free QUIC endpoint: datagram dispatch, server accept (limits, Retry, stateless
 * reset, Version Negotiation), client dial, the write path that fills GSO batches, timers, and
 * connection life cycle (handshake -> established -> closing/draining -> freed).
 *
 * Invariants:
 *  - A connection is freed only at the top level (never inside an ngtcp2 callback), so callbacks
 *    can touch their connection freely.  Public input functions called from our callbacks only
 *    queue work and mark the connection dirty.
 *  - Every connection is in the timer heap; its key is ngtcp2's expiry (or the end of its closing /
 *    draining period), refreshed after every read, write and expiry.
 *  - Garbage never creates state: a new connection is made only for an Initial that ngtcp2_accept
 *    takes, and it is freed at once, unreported, if its first packet does not decrypt.
 */
#include "quic.h"
#include "quic_int.h"

#include <stdio.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

/* Smallest datagram that can carry a client's first Initial (RFC 9000 14.1). */
#define MIN_INITIAL_DGRAM 1200
/* Stateless reset: at least 5 unpredictable bytes (the first carries the header bits) + the
 * 16-byte token = 21 bytes (RFC 9000 10.3). */
#define RESET_MIN (NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN)
#define RESET_MAX 43
/* The largest run handed to one GSO sendmsg (UDP payload bytes; IP limit is 65,507). */
#define RUN_MAX 65000

/* ---------------------------------------------------------------- small helpers */

void gs_quic_cfg_default(gs_quic_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    memcpy(cfg->alpn[0], GS_QUIC_ALPN_GOSSIP, sizeof(GS_QUIC_ALPN_GOSSIP));
    cfg->nalpn = 1;
    cfg->max_message_size = 4096;
    cfg->idle_timeout = 30 * GS_SECONDS;
    cfg->keep_alive = 5 * GS_SECONDS;
    cfg->handshake_timeout = 10 * GS_SECONDS;
    cfg->stream_window = 4u << 20;
    cfg->conn_window = 16u << 20;
    cfg->max_uni_streams = 128;
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

static bool addr_eq(const gs_quic_addr *a, const gs_quic_addr *b)
{
    return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

/* addr_from_ngtcp2 copies an ngtcp2 address (normalised: zero padding, so addr_eq works). */
static void addr_from_ngtcp2(gs_quic_addr *dst, const ngtcp2_addr *src)
{
    if (gs_quic_addr_set(dst, (const struct sockaddr *)src->addr, (socklen_t)src->addrlen) != 0) {
        memset(dst, 0, sizeof(*dst));
    }
}

/* ip_key writes the per-address limit key of |a| (family byte + IP) and returns its length. */
static size_t ip_key(const gs_quic_addr *a, uint8_t key[17])
{
    if (a->u.sa.sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &a->u.in.sin_addr, 4);
        return 5;
    }
    key[0] = 6;
    memcpy(key + 1, &a->u.in6.sin6_addr, 16);
    return 17;
}

static void path_of(ngtcp2_path *path, const gs_quic_addr *local, const gs_quic_addr *remote)
{
    memset(path, 0, sizeof(*path));
    path->local.addr = (ngtcp2_sockaddr *)(uintptr_t)&local->u.sa;
    path->local.addrlen = local->len;
    path->remote.addr = (ngtcp2_sockaddr *)(uintptr_t)&remote->u.sa;
    path->remote.addrlen = remote->len;
}

static void new_cid(const gs_quic_ep *ep, ngtcp2_cid *cid)
{
    cid->datalen = GS_QUIC_CID_LEN;
    randombytes_buf(cid->data, GS_QUIC_CID_LEN);
    cid->data[0] = ep->cfg.shard; /* DESIGN.md: the steering byte */
}

/* ---------------------------------------------------------------- ngtcp2 allocator -> gs_mem */

static void *nm_malloc(size_t size, void *ud)
{
    return gs_mem_malloc(ud, size);
}

static void nm_free(void *ptr, void *ud)
{
    if (ptr != NULL) {
        gs_mem_free(ud, ptr);
    }
}

static void *nm_calloc(size_t n, size_t size, void *ud)
{
    return gs_mem_calloc(ud, n, size);
}

static void *nm_realloc(void *ptr, size_t size, void *ud)
{
    return gs_mem_realloc(ud, ptr, size);
}

/* ---------------------------------------------------------------- handles and the timer heap */

static gs_quic_conn_id make_handle(uint32_t slot, uint32_t gen)
{
    return ((uint64_t)gen << 32) | ((uint64_t)slot + 1);
}

static qconn *conn_get(const gs_quic_ep *ep, gs_quic_conn_id h)
{
    uint64_t slot = (h & 0xffffffffu) - 1;

    if (h == 0 || slot >= ep->cfg.max_conns) {
        return NULL;
    }
    qconn *c = ep->conns[slot];
    return c != NULL && c->handle == h ? c : NULL;
}

static void heap_swap(gs_quic_ep *ep, size_t i, size_t j)
{
    qconn *t = ep->heap[i];
    ep->heap[i] = ep->heap[j];
    ep->heap[j] = t;
    ep->heap[i]->heap_idx = i;
    ep->heap[j]->heap_idx = j;
}

static void heap_fix(gs_quic_ep *ep, size_t i)
{
    while (i > 0 && ep->heap[(i - 1) / 2]->expiry > ep->heap[i]->expiry) {
        heap_swap(ep, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1;
        size_t m = i;
        if (l < ep->nheap && ep->heap[l]->expiry < ep->heap[m]->expiry) {
            m = l;
        }
        if (l + 1 < ep->nheap && ep->heap[l + 1]->expiry < ep->heap[m]->expiry) {
            m = l + 1;
        }
        if (m == i) {
            break;
        }
        heap_swap(ep, i, m);
        i = m;
    }
}

static void heap_remove(gs_quic_ep *ep, qconn *c)
{
    size_t i = c->heap_idx;
    --ep->nheap;
    if (i != ep->nheap) {
        ep->heap[i] = ep->heap[ep->nheap];
        ep->heap[i]->heap_idx = i;
        heap_fix(ep, i);
    }
}

static gs_tstamp conn_expiry(const qconn *c)
{
    if (c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return c->close_deadline;
    }
    return ngtcp2_conn_get_expiry(c->nc);
}

/* heap_update refreshes |c|'s key; a key not after |floor| is raised to floor + 1 so that one
 * handle_expiry pass visits each connection at most once. */
static void heap_update(gs_quic_ep *ep, qconn *c, gs_tstamp floor)
{
    gs_tstamp e = conn_expiry(c);
    if (floor != 0 && e <= floor) {
        e = floor + 1;
    }
    c->expiry = e;
    heap_fix(ep, c->heap_idx);
}

void gs_quic_conn_mark_dirty(gs_quic_ep *ep, qconn *c)
{
    if (c->dirty) {
        return;
    }
    c->dirty = true;
    c->dirty_next = NULL;
    if (ep->dirty_tail != NULL) {
        ep->dirty_tail->dirty_next = c;
    } else {
        ep->dirty_head = c;
    }
    ep->dirty_tail = c;
}

static void dirty_remove(gs_quic_ep *ep, qconn *c)
{
    if (!c->dirty) {
        return;
    }
    qconn *prev = NULL;
    for (qconn *it = ep->dirty_head; it != NULL; prev = it, it = it->dirty_next) {
        if (it == c) {
            if (prev != NULL) {
                prev->dirty_next = c->dirty_next;
            } else {
                ep->dirty_head = c->dirty_next;
            }
            if (ep->dirty_tail == c) {
                ep->dirty_tail = prev;
            }
            break;
        }
    }
    c->dirty = false;
    c->dirty_next = NULL;
}

/* ---------------------------------------------------------------- connection life cycle */

static void addr_count(gs_quic_ep *ep, qconn *c, int delta)
{
    uint8_t key[17];
    size_t klen = ip_key(&c->remote, key);
    uint32_t *v = gs_quic_map_get(&ep->addrs, key, klen);

    if (delta > 0) {
        if (v != NULL) {
            ++*v;
        } else if (gs_quic_map_put(&ep->addrs, key, klen, 1) != 0) {
            return; /* cannot happen: the table holds max_conns entries */
        }
        c->addr_counted = true;
    } else if (v != NULL && c->addr_counted) {
        if (--*v == 0) {
            gs_quic_map_del(&ep->addrs, key, klen);
        }
        c->addr_counted = false;
    }
}

static uint32_t addr_conns(const gs_quic_ep *ep, const gs_quic_addr *a)
{
    uint8_t key[17];
    size_t klen = ip_key(a, key);
    const uint32_t *v = gs_quic_map_get(&ep->addrs, key, klen);
    return v != NULL ? *v : 0;
}

static void report_closed(gs_quic_ep *ep, qconn *c, int rv, uint64_t app_error, const char *reason)
{
    bool was_send_path = c->send_path;

    if (c->send_path) {
        gs_quic_map_del(&ep->peers, c->peer, GS_ID_LEN);
        c->send_path = false;
    }
    if (!c->report_close) {
        return;
    }
    c->report_close = false;
    if (ep->cb.on_closed != NULL) {
        ep->cb.on_closed(ep->cb.user_data, c->handle, c->peer, rv, app_error,
                         reason != NULL ? reason : "", was_send_path);
    }
}

static void conn_tokens_clear(gs_quic_ep *ep, qconn *c)
{
    for (size_t i = 0; i < c->nrtok; ++i) {
        uint32_t *v = gs_quic_map_get(&ep->tokens, c->rtok[i], NGTCP2_STATELESS_RESET_TOKENLEN);
        if (v != NULL && *v == c->slot) {
            gs_quic_map_del(&ep->tokens, c->rtok[i], NGTCP2_STATELESS_RESET_TOKENLEN);
        }
    }
    c->nrtok = 0;
}

/* conn_tokens_refresh registers the reset tokens of |c|'s active destination ids. */
static void conn_tokens_refresh(gs_quic_ep *ep, qconn *c)
{
    ngtcp2_cid_token ct[8];

    c->tokens_dirty = false;
    conn_tokens_clear(ep, c);
    if (ngtcp2_conn_get_num_active_dcid(c->nc) > sizeof(ct) / sizeof(ct[0])) {
        return;
    }
    size_t n = ngtcp2_conn_get_active_dcid(c->nc, ct);
    for (size_t i = 0; i < n && c->nrtok < QRTOK_MAX; ++i) {
        if (ct[i].token_present && gs_quic_map_put(&ep->tokens, ct[i].token,
                                                   NGTCP2_STATELESS_RESET_TOKENLEN, c->slot) == 0) {
            memcpy(c->rtok[c->nrtok++], ct[i].token, NGTCP2_STATELESS_RESET_TOKENLEN);
        }
    }
}

static void conn_free(gs_quic_ep *ep, qconn *c)
{
    if (c->nc != NULL) {
        size_t n = ngtcp2_conn_get_num_scid(c->nc);
        ngtcp2_cid scids[32]; /* ngtcp2 keeps at most 8 active plus recently retired ones */
        if (n <= sizeof(scids) / sizeof(scids[0])) {
            n = ngtcp2_conn_get_scid(c->nc, scids);
            for (size_t i = 0; i < n; ++i) {
                uint32_t *v = gs_quic_map_get(&ep->cids, scids[i].data, scids[i].datalen);
                if (v != NULL && *v == c->slot) {
                    gs_quic_map_del(&ep->cids, scids[i].data, scids[i].datalen);
                }
            }
        } else {
            (void)gs_quic_map_purge(&ep->cids, c->slot);
        }
    }
    conn_tokens_clear(ep, c);
    if (c->has_client_dcid) {
        uint32_t *v = gs_quic_map_get(&ep->cids, c->client_dcid.data, c->client_dcid.datalen);
        if (v != NULL && *v == c->slot) {
            gs_quic_map_del(&ep->cids, c->client_dcid.data, c->client_dcid.datalen);
        }
    }
    if (c->send_path) {
        gs_quic_map_del(&ep->peers, c->peer, GS_ID_LEN);
    }
    addr_count(ep, c, -1);
    heap_remove(ep, c);
    dirty_remove(ep, c);
    gs_quic_stream_free_all(ep, c);
    if (c->nc != NULL) {
        ngtcp2_conn_del(c->nc);
    }
    if (c->tls != NULL) {
        gnutls_deinit(c->tls);
    }
    if (c->close_pkt != NULL) {
        gs_mem_free(ep->mem, c->close_pkt);
    }
    ep->conns[c->slot] = NULL;
    ep->free_slots[ep->nfree++] = c->slot;
    --ep->nconns;
    ep->stats.conns_active = ep->nconns;
    ++ep->stats.conns_closed;
    gs_mem_free(ep->mem, c);
}

/* conn_alloc takes a slot and allocates a connection in it (no ngtcp2 state yet). */
static qconn *conn_alloc(gs_quic_ep *ep, bool is_server, const gs_quic_addr *local,
                         const gs_quic_addr *remote)
{
    if (ep->nfree == 0) {
        return NULL;
    }
    qconn *c = gs_mem_calloc(ep->mem, 1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    uint32_t slot = ep->free_slots[--ep->nfree];
    c->ep = ep;
    c->slot = slot;
    c->handle = make_handle(slot, ++ep->gens[slot]);
    c->is_server = is_server;
    c->local = *local;
    c->remote = *remote;
    c->state = QS_HANDSHAKE;
    c->expiry = GS_TSTAMP_NEVER;
    c->behind_since = GS_TSTAMP_NEVER;
    c->heap_idx = ep->nheap;
    ep->heap[ep->nheap++] = c;
    ep->conns[slot] = c;
    ++ep->nconns;
    ep->stats.conns_active = ep->nconns;
    addr_count(ep, c, 1);
    return c;
}

static void conn_set_reason(qconn *c, const char *reason)
{
    size_t n = strlen(reason);
    if (n >= sizeof(c->close_reason)) {
        n = sizeof(c->close_reason) - 1;
    }
    memcpy(c->close_reason, reason, n);
    c->close_reason[n] = '\0';
}

/* conn_enter_closing writes CONNECTION_CLOSE with |ccerr| into c->close_pkt and starts the
 * closing period (3 PTO).  Without a packet (write failed) the connection just times out. */
static void conn_enter_closing(gs_quic_ep *ep, qconn *c, const ngtcp2_connection_close_error *cc,
                               gs_tstamp now)
{
    if (c->close_pkt == NULL) {
        c->close_pkt = gs_mem_malloc(ep->mem, ep->cfg.max_packet_size);
    }
    c->close_pktlen = 0;
    if (c->close_pkt != NULL) {
        ngtcp2_path_storage ps;
        ngtcp2_pkt_info pi;
        ngtcp2_path_storage_zero(&ps);
        memset(&pi, 0, sizeof(pi));
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->nc, &ps.path, &pi, c->close_pkt,
                                                            ep->cfg.max_packet_size, cc, now);
        if (n > 0) {
            c->close_pktlen = (size_t)n;
            c->close_pending = true;
            gs_quic_conn_mark_dirty(ep, c);
        }
    }
    c->state = QS_CLOSING;
    c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->nc);
    heap_update(ep, c, 0);
}

static void conn_enter_draining(gs_quic_ep *ep, qconn *c, gs_tstamp now)
{
    c->state = QS_DRAINING;
    c->close_pending = false;
    c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->nc);
    heap_update(ep, c, 0);
}

/*
 * conn_fail ends |c| after ngtcp2 returned |liberr|; it reports on_closed and either frees the
 * connection (returns true) or leaves it closing / draining.
 */
static bool conn_fail(gs_quic_ep *ep, qconn *c, int liberr, gs_tstamp now)
{
    ngtcp2_connection_close_error cc;
    bool handshaking = c->state == QS_HANDSHAKE;
    int rv = GS_ERR_QUIC;
    uint64_t app_error = 0;
    char reason[96];

    ngtcp2_connection_close_error_default(&cc);
    if (handshaking) {
        ++ep->stats.handshakes_failed;
    }
    switch (liberr) {
    case NGTCP2_ERR_DRAINING: {
        ngtcp2_connection_close_error pc;
        ngtcp2_conn_get_connection_close_error(c->nc, &pc);
        rv = GS_ERR_CLOSED;
        app_error = pc.error_code;
        size_t n = pc.reasonlen < 64 ? pc.reasonlen : 64;
        const char *kind = pc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
                               ? "application"
                               : "transport";
        if (c->got_reset) {
            (void)snprintf(reason, sizeof(reason),
                           "stateless reset: the peer has no state for this connection");
        } else if (pc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
                   pc.error_code >= NGTCP2_CRYPTO_ERROR &&
                   pc.error_code <= (NGTCP2_CRYPTO_ERROR | 0xff)) {
            /* CRYPTO_ERROR: the peer's TLS stack refused the handshake with this alert. */
            uint8_t alert = (uint8_t)(pc.error_code & 0xff);
            const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
            rv = GS_ERR_TLS;
            ++ep->stats.tls_alerts;
            (void)snprintf(reason, sizeof(reason), "peer refused the TLS handshake: alert %u (%s)",
                           alert, name != NULL ? name : "unknown");
        } else {
            (void)snprintf(reason, sizeof(reason), "peer closed (%s error %llu) %.*s", kind,
                           (unsigned long long)pc.error_code, (int)n,
                           pc.reason != NULL ? (const char *)pc.reason : "");
        }
        report_closed(ep, c, rv, app_error, reason);
        conn_enter_draining(ep, c, now);
        return false;
    }
    case NGTCP2_ERR_IDLE_CLOSE:
        ++ep->stats.idle_timeouts;
        report_closed(ep, c, GS_ERR_TIMEOUT, 0, "idle timeout");
        conn_free(ep, c);
        return true;
    case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
        ++ep->stats.handshake_timeouts;
        report_closed(ep, c, GS_ERR_TIMEOUT, 0, "handshake timeout");
        conn_free(ep, c);
        return true;
    case NGTCP2_ERR_DROP_CONN:
        report_closed(ep, c, GS_ERR_PROTO, 0, "connection dropped by QUIC stack");
        conn_free(ep, c);
        return true;
    case NGTCP2_ERR_CRYPTO: {
        uint8_t alert = ngtcp2_conn_get_tls_alert(c->nc);
        ++ep->stats.tls_alerts;
        if (c->mismatch) {
            ++ep->stats.peer_mismatch;
            rv = GS_ERR_PEER_MISMATCH;
            (void)snprintf(reason, sizeof(reason),
                           "server key is not the dialed endpoint id (TLS alert %u)", alert);
        } else {
            rv = GS_ERR_TLS;
            const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
            (void)snprintf(reason, sizeof(reason), "TLS handshake failed: alert %u (%s)", alert,
                           name != NULL ? name : "unknown");
        }
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&cc, alert, NULL, 0);
        break;
    }
    case NGTCP2_ERR_NOMEM:
    case NGTCP2_ERR_CALLBACK_FAILURE:
        rv = GS_ERR_NOMEM;
        (void)snprintf(reason, sizeof(reason), "local failure: %s", ngtcp2_strerror(liberr));
        ngtcp2_connection_close_error_set_transport_error_liberr(&cc, liberr, NULL, 0);
        break;
    default:
        rv = liberr == NGTCP2_ERR_PROTO || liberr == NGTCP2_ERR_FLOW_CONTROL ||
                     liberr == NGTCP2_ERR_STREAM_LIMIT || liberr == NGTCP2_ERR_FRAME_ENCODING ||
                     liberr == NGTCP2_ERR_TRANSPORT_PARAM
                 ? GS_ERR_PROTO
                 : GS_ERR_QUIC;
        (void)snprintf(reason, sizeof(reason), "QUIC error: %s", ngtcp2_strerror(liberr));
        ngtcp2_connection_close_error_set_transport_error_liberr(&cc, liberr, NULL, 0);
        break;
    }
    report_closed(ep, c, rv, app_error, reason);
    conn_enter_closing(ep, c, &cc, now);
    return false;
}

/* ---------------------------------------------------------------- ngtcp2 callbacks */

static int cb_handshake_completed(ngtcp2_conn *nc, void *ud)
{
    (void)nc;
    qconn *c = ud;
    gs_quic_ep *ep = c->ep;

    if (!c->peer_known) {
        /* The server always requires a client key, so this cannot happen; refuse anyway. */
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c->state = QS_ESTABLISHED;
    c->report_close = true;
    c->tokens_dirty = true;
    ++ep->stats.handshakes_ok;
    /* Newest wins (PROTOCOL.md 3.5): this connection becomes the send path to the peer. */
    uint32_t *old = gs_quic_map_get(&ep->peers, c->peer, GS_ID_LEN);
    if (old != NULL) {
        qconn *o = ep->conns[*old];
        if (o != NULL) {
            o->send_path = false;
        }
        *old = c->slot;
    } else if (gs_quic_map_put(&ep->peers, c->peer, GS_ID_LEN, c->slot) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c->send_path = true;
    if (ep->cb.on_connected != NULL) {
        ep->cb.on_connected(ep->cb.user_data, c->handle, c->peer,
                            c->is_server ? GS_QUIC_DIR_IN : GS_QUIC_DIR_OUT);
    }
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *nc, uint32_t flags, int64_t id, uint64_t off,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)off;
    qconn *c = ud;
    int64_t stop = -1;

    if (gs_quic_stream_on_data(c->ep, c, id, flags, data, len, sud, &stop) == 1 && sud != NULL) {
        gs_quic_stream_recv_done(c->ep, c, id, sud);
        ngtcp2_conn_extend_max_streams_uni(nc, 1);
        if (++c->nrecv_done >= QRECV_DONE_MAX && !c->close_req) {
            c->close_req = true;
            c->close_app_error = 0;
            conn_set_reason(c, "too many streams on one connection");
            gs_quic_conn_mark_dirty(c->ep, c);
        }
    }
    if (stop >= 0) {
        if (c->nstops < sizeof(c->stops) / sizeof(c->stops[0])) {
            c->stops[c->nstops++] = stop;
        } else {
            return NGTCP2_ERR_CALLBACK_FAILURE; /* too many bad streams in one packet */
        }
    }
    /* Bytes are consumed (delivered or discarded) at once: return the credit. */
    ngtcp2_conn_extend_max_stream_offset(nc, id, len);
    ngtcp2_conn_extend_max_offset(nc, len);
    return 0;
}

static int cb_acked(ngtcp2_conn *nc, int64_t id, uint64_t off, uint64_t len, void *ud, void *sud)
{
    (void)nc;
    qconn *c = ud;
    return gs_quic_stream_on_acked(c->ep, c, id, off, len, sud);
}

static int cb_stream_open(ngtcp2_conn *nc, int64_t id, void *ud)
{
    (void)nc;
    qconn *c = ud;
    return gs_quic_stream_on_open(c->ep, c, id) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_stream_close(ngtcp2_conn *nc, uint32_t flags, int64_t id, uint64_t code, void *ud,
                           void *sud)
{
    (void)flags;
    (void)code;
    qconn *c = ud;
    const uint8_t *kind = sud;
    if (kind != NULL && *kind == QSTREAM_RECV) {
        /* Closed before we were done with it (a later ngtcp2 that closes remote streams):
         * return its credit here; finished streams returned theirs already (QRECV_DONE_MAX). */
        ngtcp2_conn_extend_max_streams_uni(nc, 1);
    }
    gs_quic_stream_on_close(c->ep, c, id, sud);
    return 0;
}

static int cb_stream_reset(ngtcp2_conn *nc, int64_t id, uint64_t final_size, uint64_t code,
                           void *ud, void *sud)
{
    (void)nc;
    (void)id;
    (void)final_size;
    (void)code;
    (void)ud;
    (void)sud;
    return 0;
}

static int cb_stop_sending(ngtcp2_conn *nc, int64_t id, uint64_t code, void *ud, void *sud)
{
    (void)nc;
    (void)id;
    (void)code;
    qconn *c = ud;
    gs_quic_stream_on_stop(c->ep, c, sud);
    return 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *nc, const ngtcp2_pkt_stateless_reset *sr, void *ud)
{
    (void)nc;
    (void)sr;
    qconn *c = ud;
    ++c->ep->stats.resets_received;
    c->got_reset = true;
    return 0;
}

static int cb_extend_max_streams(ngtcp2_conn *nc, uint64_t max, void *ud)
{
    (void)nc;
    (void)max;
    qconn *c = ud;
    gs_quic_stream_unblock(c);
    gs_quic_conn_mark_dirty(c->ep, c);
    return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *nc, int64_t id, uint64_t max, void *ud, void *sud)
{
    (void)nc;
    (void)id;
    (void)max;
    (void)sud;
    qconn *c = ud;
    gs_quic_stream_unblock(c);
    gs_quic_conn_mark_dirty(c->ep, c);
    return 0;
}

static int cb_dcid_status(ngtcp2_conn *nc, int type, uint64_t seq, const ngtcp2_cid *cid,
                          const uint8_t *token, void *ud)
{
    (void)nc;
    (void)type;
    (void)seq;
    (void)cid;
    (void)token;
    qconn *c = ud;
    c->tokens_dirty = true; /* re-read at top level: ngtcp2 may be mid-update here */
    return 0;
}

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    randombytes_buf(dest, len);
}

static int cb_get_new_cid(ngtcp2_conn *nc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    (void)nc;
    (void)cidlen; /* ours are always GS_QUIC_CID_LEN, fixed at creation */
    qconn *c = ud;
    gs_quic_ep *ep = c->ep;

    new_cid(ep, cid);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
                                                     sizeof(ep->reset_secret), cid) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (gs_quic_map_put(&ep->cids, cid->data, cid->datalen, c->slot) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int cb_remove_cid(ngtcp2_conn *nc, const ngtcp2_cid *cid, void *ud)
{
    (void)nc;
    qconn *c = ud;
    uint32_t *v = gs_quic_map_get(&c->ep->cids, cid->data, cid->datalen);
    if (v != NULL && *v == c->slot) {
        gs_quic_map_del(&c->ep->cids, cid->data, cid->datalen);
    }
    return 0;
}

static void set_callbacks(ngtcp2_callbacks *cb, bool is_server)
{
    memset(cb, 0, sizeof(*cb));
    if (is_server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->handshake_completed = cb_handshake_completed;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked;
    cb->stream_open = cb_stream_open;
    cb->stream_close = cb_stream_close;
    cb->stream_reset = cb_stream_reset;
    cb->stream_stop_sending = cb_stop_sending;
    cb->recv_stateless_reset = cb_recv_stateless_reset;
    cb->extend_max_local_streams_uni = cb_extend_max_streams;
    cb->extend_max_stream_data = cb_extend_max_stream_data;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_get_new_cid;
    cb->remove_connection_id = cb_remove_cid;
    cb->dcid_status = cb_dcid_status;
}

static void set_settings(const gs_quic_ep *ep, ngtcp2_settings *s, gs_tstamp now)
{
    ngtcp2_settings_default(s);
    s->initial_ts = now;
    s->max_tx_udp_payload_size = ep->cfg.max_packet_size;
    s->handshake_timeout = ep->cfg.handshake_timeout;
    s->max_window = ep->cfg.conn_window;
    s->max_stream_window = ep->cfg.stream_window;
    s->cc_algo = NGTCP2_CC_ALGO_CUBIC;
}

static void set_params(const gs_quic_ep *ep, ngtcp2_transport_params *p)
{
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_uni = ep->cfg.stream_window;
    p->initial_max_stream_data_bidi_local = 0;
    p->initial_max_stream_data_bidi_remote = 0;
    p->initial_max_data = ep->cfg.conn_window;
    p->initial_max_streams_uni = ep->cfg.max_uni_streams;
    p->initial_max_streams_bidi = 0;
    p->max_idle_timeout = ep->cfg.idle_timeout;
    p->active_connection_id_limit = 4;
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
        cfg->max_topics_per_conn == 0 || cfg->send_queue_max == 0 || cfg->max_uni_streams == 0) {
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
    if (cb != NULL) {
        ep->cb = *cb;
    }
    ep->mem = mem;
    ep->nmem.user_data = (void *)(uintptr_t)mem;
    ep->nmem.malloc = nm_malloc;
    ep->nmem.free = nm_free;
    ep->nmem.calloc = nm_calloc;
    ep->nmem.realloc = nm_realloc;
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
    randombytes_buf(ep->hash_key, sizeof(ep->hash_key));
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
    rv = gs_quic_map_init(&ep->cids, n * 10, NGTCP2_MAX_CIDLEN, ep->hash_key, mem);
    if (rv != 0) {
        goto fail_cids;
    }
    rv = gs_quic_map_init(&ep->peers, n, GS_ID_LEN, ep->hash_key, mem);
    if (rv != 0) {
        goto fail_peers;
    }
    rv = gs_quic_map_init(&ep->addrs, n, 17, ep->hash_key, mem);
    if (rv != 0) {
        goto fail_addrs;
    }
    rv = gs_quic_map_init(&ep->tokens, n * QRTOK_MAX, NGTCP2_STATELESS_RESET_TOKENLEN, ep->hash_key,
                          mem);
    if (rv != 0) {
        goto fail_tokens;
    }
    ep->ctrl = gs_mem_calloc(mem, QCTRL_MAX, sizeof(ep->ctrl[0]));
    if (ep->ctrl == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_ctrl;
    }
    rv = gs_quic_tls_init(ep);
    if (rv != 0) {
        goto fail_tls;
    }
    *pep = ep;
    return 0;

fail_tls:
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
            conn_free(ep, ep->conns[i]);
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

const gs_quic_stats *gs_quic_ep_stats(const gs_quic_ep *ep)
{
    return &ep->stats;
}

size_t gs_quic_ep_num_conns(const gs_quic_ep *ep)
{
    return ep->nconns;
}

/* ctrl_slot returns a stateless-packet slot, or NULL when the queue is full (the packet is
 * dropped: these are all optional replies). */
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

static void send_version_negotiation(gs_quic_ep *ep, const gs_quic_addr *local,
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

static void send_stateless_reset(gs_quic_ep *ep, const gs_quic_addr *local,
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
    new_cid(ep, &scid);
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

/* conn_read feeds one packet to |c|.  Returns true if |c| was freed. */
static bool conn_read(gs_quic_ep *ep, qconn *c, const gs_quic_addr *local,
                      const gs_quic_addr *remote, const uint8_t *data, size_t len, uint8_t ecn,
                      gs_tstamp now)
{
    ngtcp2_path path;
    ngtcp2_pkt_info pi;

    if (c->state == QS_CLOSING) {
        /* RFC 9000 10.2.1: answer with the saved CONNECTION_CLOSE, with exponential backoff
         * (packets 1, 2, 4, 8, ...) so a peer cannot turn us into a reflector. */
        ++c->close_rx;
        if (c->close_pktlen > 0 && (c->close_rx & (c->close_rx - 1)) == 0) {
            c->close_pending = true;
            gs_quic_conn_mark_dirty(ep, c);
        }
        return false;
    }
    if (c->state == QS_DRAINING) {
        ++ep->stats.datagrams_dropped;
        return false;
    }
    path_of(&path, local, remote);
    memset(&pi, 0, sizeof(pi));
    pi.ecn = ecn & NGTCP2_ECN_MASK;
    c->nstops = 0;
    c->rx_bytes += len;
    int rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, data, len, now);
    for (size_t i = 0; i < c->nstops; ++i) {
        (void)ngtcp2_conn_shutdown_stream_read(c->nc, c->stops[i], 0);
    }
    c->nstops = 0;
    if (rv != 0) {
        if (rv == NGTCP2_ERR_DISCARD_PKT) {
            ++ep->stats.datagrams_dropped;
            return false;
        }
        return conn_fail(ep, c, rv, now);
    }
    if (c->want_writable && c->queued < c->writable_at) {
        c->want_writable = false;
        if (ep->cb.on_writable != NULL) {
            ep->cb.on_writable(ep->cb.user_data, c->handle, c->peer);
        }
    }
    if (c->tokens_dirty) {
        conn_tokens_refresh(ep, c);
    }
    gs_quic_conn_mark_dirty(ep, c);
    heap_update(ep, c, 0);
    return false;
}

static void server_accept(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote,
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
    if (ep->nconns >= ep->cfg.max_conns || addr_conns(ep, remote) >= ep->cfg.max_conns_per_addr) {
        ++ep->stats.conns_refused;
        send_initial_close(ep, local, remote, &hd, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    if (now >= ep->rate_window + GS_SECONDS) {
        ep->rate_window = now;
        ep->rate_count = 0;
    }
    bool need_retry =
        ep->cfg.retry_mode == GS_QUIC_RETRY_ALWAYS ||
        (ep->cfg.retry_mode == GS_QUIC_RETRY_AUTO && ep->rate_count >= ep->cfg.retry_auto_rate);
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
        send_retry(ep, local, remote, &hd, now);
        return;
    }

    qconn *c = conn_alloc(ep, true, local, remote);
    if (c == NULL) {
        ++ep->stats.datagrams_dropped;
        return;
    }
    ngtcp2_callbacks cbs;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_path path;
    ngtcp2_cid scid;

    set_callbacks(&cbs, true);
    set_settings(ep, &settings, now);
    set_params(ep, &params);
    if (validated) {
        settings.token = hd.token;
        params.original_dcid = odcid;
        params.retry_scid = hd.dcid;
        params.retry_scid_present = 1;
    } else {
        params.original_dcid = hd.dcid;
    }
    new_cid(ep, &scid);
    if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, ep->reset_secret,
                                                     sizeof(ep->reset_secret), &scid) != 0) {
        conn_free(ep, c);
        return;
    }
    params.stateless_reset_token_present = 1;
    path_of(&path, local, remote);
    rv = ngtcp2_conn_server_new(&c->nc, &hd.scid, &scid, &path, hd.version, &cbs, &settings,
                                &params, &ep->nmem, c);
    if (rv != 0) {
        c->nc = NULL;
        conn_free(ep, c);
        ++ep->stats.datagrams_dropped;
        return;
    }
    if (gs_quic_tls_session(ep, c) != 0 ||
        gs_quic_map_put(&ep->cids, scid.data, scid.datalen, c->slot) != 0) {
        conn_free(ep, c);
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
    c->nstops = 0;
    path_of(&path, local, remote);
    ngtcp2_pkt_info pi;
    memset(&pi, 0, sizeof(pi));
    pi.ecn = ecn & NGTCP2_ECN_MASK;
    rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, data, len, now);
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
        conn_free(ep, c);
        return;
    }
    if (rv != 0) {
        /* The first packet did not decrypt or parse: it was garbage, keep nothing. */
        ++ep->stats.datagrams_invalid;
        conn_free(ep, c);
        return;
    }
    ++ep->stats.handshakes_started;
    c->rx_bytes += len;
    gs_quic_conn_mark_dirty(ep, c);
    heap_update(ep, c, 0);
}

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
            send_version_negotiation(ep, local, remote, &vc);
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
        hit = conn_get(ep, ep->last_conn);
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
        (void)conn_read(ep, hit, local, remote, data, len, ecn, now);
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
        server_accept(ep, local, remote, data, len, ecn, now);
        return 0;
    }
    if (len >= RESET_MIN) {
        /* Possibly a peer's stateless reset (its DCID is random): matched by its token. */
        const uint32_t *slot =
            gs_quic_map_get(&ep->tokens, data + len - NGTCP2_STATELESS_RESET_TOKENLEN,
                            NGTCP2_STATELESS_RESET_TOKENLEN);
        if (slot != NULL && ep->conns[*slot] != NULL) {
            (void)conn_read(ep, ep->conns[*slot], local, remote, data, len, ecn, now);
            return 0;
        }
    }
    if (vc.dcidlen == GS_QUIC_CID_LEN && !foreign) {
        send_stateless_reset(ep, local, remote, vc.dcid, len, now);
    } else {
        ++ep->stats.datagrams_dropped; /* another shard's id nobody took, or garbage */
    }
    return 0;
}

int gs_quic_ep_connect(gs_quic_ep *ep, const uint8_t peer_id[GS_ID_LEN], const gs_quic_addr *local,
                       const gs_quic_addr *remote, gs_tstamp now, gs_quic_conn_id *pconn)
{
    ngtcp2_callbacks cbs;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_path path;
    ngtcp2_cid dcid;
    ngtcp2_cid scid;
    int rv;

    if (ep == NULL || peer_id == NULL || local == NULL || remote == NULL || pconn == NULL ||
        remote->len == 0) {
        return GS_ERR_INVAL;
    }
    if (sodium_memcmp(peer_id, ep->id.pk, GS_ID_LEN) == 0) {
        return GS_ERR_SELF;
    }
    ep->now = now;
    if (ep->nconns >= ep->cfg.max_conns || addr_conns(ep, remote) >= ep->cfg.max_conns_per_addr) {
        ++ep->stats.conns_refused;
        return GS_ERR_REFUSED;
    }
    qconn *c = conn_alloc(ep, false, local, remote);
    if (c == NULL) {
        return GS_ERR_NOMEM;
    }
    memcpy(c->peer, peer_id, GS_ID_LEN);
    c->peer_known = true;
    set_callbacks(&cbs, false);
    set_settings(ep, &settings, now);
    set_params(ep, &params);
    dcid.datalen = GS_QUIC_CID_LEN;
    randombytes_buf(dcid.data, GS_QUIC_CID_LEN);
    new_cid(ep, &scid);
    path_of(&path, local, remote);
    rv = ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cbs, &settings,
                                &params, &ep->nmem, c);
    if (rv != 0) {
        c->nc = NULL;
        conn_free(ep, c);
        return rv == NGTCP2_ERR_NOMEM ? GS_ERR_NOMEM : GS_ERR_QUIC;
    }
    rv = gs_quic_tls_session(ep, c);
    if (rv != 0) {
        conn_free(ep, c);
        return rv;
    }
    if (gs_quic_map_put(&ep->cids, scid.data, scid.datalen, c->slot) != 0) {
        conn_free(ep, c);
        return GS_ERR_REFUSED;
    }
    if (ep->cfg.keep_alive != 0) {
        ngtcp2_conn_set_keep_alive_timeout(c->nc, ep->cfg.keep_alive);
    }
    c->report_close = true;
    ++ep->stats.handshakes_started;
    gs_quic_conn_mark_dirty(ep, c);
    heap_update(ep, c, 0);
    *pconn = c->handle;
    return 0;
}

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
    qconn *c = conn_get(ep, conn);
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
    qconn *c = conn_get(ep, conn);
    if (c == NULL) {
        return GS_ERR_NOTFOUND;
    }
    if (c->close_req || c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return GS_ERR_CLOSED;
    }
    c->close_req = true;
    c->close_app_error = app_error;
    conn_set_reason(c, reason != NULL ? reason : "");
    if (strlen(c->close_reason) > 64) {
        c->close_reason[64] = '\0';
    }
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

int gs_quic_ep_conn_peer(const gs_quic_ep *ep, gs_quic_conn_id conn, uint8_t peer[GS_ID_LEN])
{
    const qconn *c = conn_get(ep, conn);
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

size_t gs_quic_ep_queued_bytes(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    const qconn *c = conn_get(ep, conn);
    return c != NULL ? c->queued : 0;
}

size_t gs_quic_ep_unacked_streams(const gs_quic_ep *ep, gs_quic_conn_id conn)
{
    const qconn *c = conn_get(ep, conn);
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

/* ---------------------------------------------------------------- write path */

/*
 * tx_can tells whether |tx| can take one more packet for the path (|local|, |remote|) and stores
 * the largest packet size that keeps GSO runs valid in |*pmax|: with a free run slot any packet
 * fits; otherwise the packet must extend the last run (same path, all earlier segments full, not
 * larger than the run's segment size).
 */
static bool tx_can(const gs_quic_ep *ep, const gs_quic_txbuf *tx, const void *owner,
                   const gs_quic_addr *local, const gs_quic_addr *remote, size_t *pmax)
{
    if (tx->cap - tx->len < ep->cfg.max_packet_size) {
        return false;
    }
    *pmax = ep->cfg.max_packet_size;
    if (tx->nruns < tx->maxruns) {
        return true;
    }
    const gs_quic_seg_run *r = &tx->runs[tx->nruns - 1];
    if (ep->run_owner != owner || r->off + r->len != tx->len || r->len != r->segsize * r->nsegs ||
        r->nsegs >= tx->max_segs || r->len + r->segsize > RUN_MAX) {
        return false;
    }
    if (remote != NULL && (!addr_eq(&r->remote, remote) || !addr_eq(&r->local, local))) {
        return false;
    }
    *pmax = r->segsize;
    return true;
}

/* run_extends tells whether a packet of |n| bytes for (|local|, |remote|, |ecn|) can be appended to
 * |tx|'s last run |r| (NULL: none) as one more GSO segment. */
static bool run_extends(const gs_quic_ep *ep, const gs_quic_txbuf *tx, const gs_quic_seg_run *r,
                        const void *owner, const gs_quic_addr *local, const gs_quic_addr *remote,
                        uint8_t ecn, size_t n)
{
    return r != NULL && ep->run_owner == owner && r->off + r->len == tx->len && r->ecn == ecn &&
           r->nsegs < tx->max_segs && r->len == r->segsize * r->nsegs && n <= r->segsize &&
           r->len + n <= RUN_MAX && addr_eq(&r->remote, remote) && addr_eq(&r->local, local);
}

/*
 * tx_place accounts a packet of |n| bytes already written at tx->buf + tx->len: it extends the
 * last run when GSO allows it, else opens a run.  With no run slot left the packet is moved to
 * the endpoint's stash (sent first by the next call) and false is returned.
 */
static bool tx_place(gs_quic_ep *ep, gs_quic_txbuf *tx, const void *owner,
                     const gs_quic_addr *local, const gs_quic_addr *remote, uint8_t ecn, size_t n)
{
    gs_quic_seg_run *r = tx->nruns > 0 ? &tx->runs[tx->nruns - 1] : NULL;

    if (run_extends(ep, tx, r, owner, local, remote, ecn, n)) {
        r->len += n;
        ++r->nsegs;
    } else if (tx->nruns < tx->maxruns) {
        r = &tx->runs[tx->nruns++];
        r->local = *local;
        r->remote = *remote;
        r->off = tx->len;
        r->len = n;
        r->segsize = n;
        r->nsegs = 1;
        r->ecn = ecn;
        ep->run_owner = owner;
    } else {
        memcpy(ep->stash.pkt, tx->buf + tx->len, n);
        ep->stash.len = n;
        ep->stash.local = *local;
        ep->stash.remote = *remote;
        ep->stash_ecn = ecn;
        ep->stash_owner = owner;
        return false;
    }
    tx->len += n;
    ++ep->stats.packets_out;
    ep->stats.bytes_out += n;
    return true;
}

/* tx_copy places the ready-made packet |pkt| (stateless packets, saved closes) if |tx| can take
 * it; false (nothing done) otherwise. */
static bool tx_copy(gs_quic_ep *ep, gs_quic_txbuf *tx, const void *owner, const gs_quic_addr *local,
                    const gs_quic_addr *remote, uint8_t ecn, const uint8_t *pkt, size_t n)
{
    const gs_quic_seg_run *r = tx->nruns > 0 ? &tx->runs[tx->nruns - 1] : NULL;
    if (tx->cap - tx->len < n ||
        (tx->nruns >= tx->maxruns && !run_extends(ep, tx, r, owner, local, remote, ecn, n))) {
        return false;
    }
    memcpy(tx->buf + tx->len, pkt, n);
    return tx_place(ep, tx, owner, local, remote, ecn, n);
}

/*
 * conn_pace tells ngtcp2 what was just sent, which arms its pacer.  Not during the handshake:
 * before the first RTT sample ngtcp2 paces with the 333 ms initial RTT, which delayed the client's
 * Finished by ~22 ms after its 1200-byte Initial (measured with virtual time: every loopback
 * handshake took >= 22 ms, PTO probes included).  A handshake is a few packets; a burst is fine.
 */
static void conn_pace(qconn *c, gs_tstamp now)
{
    if (ngtcp2_conn_get_handshake_completed(c->nc)) {
        ngtcp2_conn_update_pkt_tx_time(c->nc, now);
    }
}

/* pick_stream returns the next ready stream that can take data, opening it if needed. */
static qsend *pick_stream(gs_quic_ep *ep, qconn *c, int *prv)
{
    size_t tries = 0;
    for (qsend *s = c->ready_head; s != NULL && tries < c->nsends + 1; s = c->ready_head) {
        ++tries;
        if (s->blocked) {
            gs_quic_stream_rotate(c);
            continue;
        }
        if (s->id < 0) {
            int64_t id;
            int rv = ngtcp2_conn_open_uni_stream(c->nc, &id, s);
            if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
                /* The peer's stream limit: this topic waits, the others go on (3.3). */
                s->blocked = true;
                gs_quic_stream_rotate(c);
                continue;
            }
            if (rv != 0) {
                *prv = rv;
                return NULL;
            }
            s->id = id;
            ++ep->stats.streams_opened;
        }
        return s;
    }
    return NULL;
}

/* conn_write writes |c|'s packets into |tx|.  Returns true when it stopped because |tx| is full
 * (|c| may have more), false when |c| has nothing more to send now or was freed/closed. */
static bool conn_write(gs_quic_ep *ep, qconn *c, gs_tstamp now, gs_quic_txbuf *tx)
{
    ngtcp2_path_storage ps;
    ngtcp2_pkt_info pi;
    ngtcp2_vec v[16]; /* reference chunks can be small: gather up to a packet's worth */
    gs_quic_addr local;
    gs_quic_addr remote;
    gs_quic_addr plocal;
    gs_quic_addr premote;

    if (c->state == QS_CLOSING) {
        if (c->close_pending && c->close_pktlen > 0) {
            if (!tx_copy(ep, tx, c, &c->local, &c->remote, 0, c->close_pkt, c->close_pktlen)) {
                return true; /* no room: retry with the next batch */
            }
            c->close_pending = false;
        }
        return false;
    }
    if (c->state == QS_DRAINING) {
        return false;
    }
    if (c->close_req) {
        ngtcp2_connection_close_error cc;
        ngtcp2_connection_close_error_default(&cc);
        ngtcp2_connection_close_error_set_application_error(
            &cc, c->close_app_error, (const uint8_t *)c->close_reason, strlen(c->close_reason));
        if (c->state == QS_HANDSHAKE) {
            ++ep->stats.handshakes_failed;
        }
        c->close_req = false;
        report_closed(ep, c, 0, c->close_app_error, "closed locally");
        conn_enter_closing(ep, c, &cc, now);
        return conn_write(ep, c, now, tx);
    }
    const ngtcp2_path *cp = ngtcp2_conn_get_path(c->nc);
    addr_from_ngtcp2(&plocal, &cp->local);
    addr_from_ngtcp2(&premote, &cp->remote);
    bool established = ngtcp2_conn_get_handshake_completed(c->nc) != 0;
    size_t npkts = 0;
    for (;;) {
        size_t maxn;
        if (!tx_can(ep, tx, c, &plocal, &premote, &maxn)) {
            conn_pace(c, now);
            heap_update(ep, c, 0);
            return true;
        }
        int prv = 0;
        qsend *s = established ? pick_stream(ep, c, &prv) : NULL;
        if (prv != 0) {
            (void)conn_fail(ep, c, prv, now);
            return false;
        }
        size_t niov = 0;
        size_t total = 0;
        bool fin = false;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
        int64_t sid = -1;
        if (s != NULL) {
            niov = gs_quic_stream_iov(s, v, sizeof(v) / sizeof(v[0]), maxn);
            for (size_t i = 0; i < niov; ++i) {
                total += v[i].len;
            }
            fin = s->finishing && !s->fin_sent && s->sent + total == s->end;
            flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
            sid = s->id;
        }
        ngtcp2_ssize ndatalen = -1;
        ngtcp2_path_storage_zero(&ps);
        memset(&pi, 0, sizeof(pi));
        /* ngtcp2 wants a full max_tx_udp_payload_size buffer (it pads Initials to 1200 and
         * sizes PMTUD probes from it); a packet that then does not fit the run is stashed. */
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->nc, &ps.path, &pi, tx->buf + tx->len,
                                                   ep->cfg.max_packet_size, &ndatalen, flags, sid,
                                                   niov > 0 ? v : NULL, niov, now);
        if (s != NULL && ndatalen >= 0) {
            gs_quic_stream_advance(c, s, (size_t)ndatalen, fin && (size_t)ndatalen == total);
        }
        if (n < 0) {
            if (n == NGTCP2_ERR_WRITE_MORE) {
                if (s != NULL && c->ready_head == s) {
                    gs_quic_stream_rotate(c);
                }
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED && s != NULL) {
                s->blocked = true;
                gs_quic_stream_rotate(c);
                continue;
            }
            if ((n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) && s != NULL) {
                gs_quic_stream_kill(c, s);
                continue;
            }
            if (n == NGTCP2_ERR_NOBUF) {
                /* Not a connection error: retry with the caller's next (empty) batch. */
                conn_pace(c, now);
                heap_update(ep, c, 0);
                return true;
            }
            (void)conn_fail(ep, c, (int)n, now);
            return false;
        }
        if (n == 0) {
            if (c->is_server && c->state == QS_HANDSHAKE && npkts == 0 &&
                c->tx_bytes + ep->cfg.max_packet_size > 3 * c->rx_bytes) {
                ++ep->stats.amplification_limited;
            }
            break;
        }
        addr_from_ngtcp2(&local, &ps.path.local);
        addr_from_ngtcp2(&remote, &ps.path.remote);
        if (local.len == 0) {
            local = plocal;
        }
        if (remote.len == 0) {
            remote = premote;
        }
        c->tx_bytes += (uint64_t)n;
        ++npkts;
        if (!tx_place(ep, tx, c, &local, &remote, (uint8_t)(pi.ecn & NGTCP2_ECN_MASK), (size_t)n)) {
            conn_pace(c, now);
            heap_update(ep, c, 0);
            return true;
        }
    }
    conn_pace(c, now);
    gs_quic_stream_unblock(c);
    heap_update(ep, c, 0);
    return false;
}

gs_ssize gs_quic_ep_write(gs_quic_ep *ep, gs_tstamp now, gs_quic_txbuf *tx)
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
    if (ep->stash.len > 0) {
        size_t n = ep->stash.len;
        ep->stash.len = 0;
        if (!tx_copy(ep, tx, ep->stash_owner, &ep->stash.local, &ep->stash.remote, ep->stash_ecn,
                     ep->stash.pkt, n)) {
            ep->stash.len = n;
            return tx->len > start ? (gs_ssize)(tx->len - start) : GS_ERR_NOBUF;
        }
    }
    size_t i = 0;
    while (i < ep->nctrl) {
        qctrl *q = &ep->ctrl[i];
        if (!tx_copy(ep, tx, ep->ctrl, &q->local, &q->remote, 0, q->pkt, q->len)) {
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
        if (conn_write(ep, c, now, tx)) {
            gs_quic_conn_mark_dirty(ep, c);
            break;
        }
        if (was_last) {
            break;
        }
    }
    return (gs_ssize)(tx->len - start);
}

bool gs_quic_ep_want_write(const gs_quic_ep *ep)
{
    return ep->stash.len > 0 || ep->nctrl > 0 || ep->dirty_head != NULL;
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
            conn_free(ep, c);
            continue;
        }
        int rv = ngtcp2_conn_handle_expiry(c->nc, now);
        if (rv != 0) {
            if (!conn_fail(ep, c, rv, now)) {
                heap_update(ep, c, now);
            }
            continue;
        }
        if (c->tokens_dirty) {
            conn_tokens_refresh(ep, c);
        }
        gs_quic_conn_mark_dirty(ep, c);
        heap_update(ep, c, now);
    }
    return 0;
}
