/* SPDX-License-Identifier: MIT */
/*
 * quic_conn.c: one QUIC connection of the endpoint (see quic.c for the whole): handles and the
 * timer heap, the life cycle (allocated -> handshake -> established -> closing / draining ->
 * freed, with on_closed reported at most once), the ngtcp2 callbacks, and reading and writing
 * one connection's packets.
 */
#include "quic.h"
#include "quic_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

/* ---------------------------------------------------------------- small helpers */

/* gs_quic_addr_from_ngtcp2 copies an ngtcp2 address (normalised: zero padding, so gs_quic_addr_eq
 * works). */
void gs_quic_addr_from_ngtcp2(gs_quic_addr *dst, const ngtcp2_addr *src)
{
    if (gs_quic_addr_set(dst, (const struct sockaddr *)src->addr, (socklen_t)src->addrlen) != 0) {
        memset(dst, 0, sizeof(*dst));
    }
}

void gs_quic_path_of(ngtcp2_path *path, const gs_quic_addr *local, const gs_quic_addr *remote)
{
    memset(path, 0, sizeof(*path));
    path->local.addr = (ngtcp2_sockaddr *)(uintptr_t)&local->u.sa;
    path->local.addrlen = local->len;
    path->remote.addr = (ngtcp2_sockaddr *)(uintptr_t)&remote->u.sa;
    path->remote.addrlen = remote->len;
}

void gs_quic_new_cid(const gs_quic_ep *ep, ngtcp2_cid *cid)
{
    cid->datalen = GS_QUIC_CID_LEN;
    randombytes_buf(cid->data, GS_QUIC_CID_LEN);
    cid->data[0] = ep->cfg.shard; /* DESIGN.md: the steering byte */
}

/* ---------------------------------------------------------------- handles and the timer heap */

static gs_quic_conn_id make_handle(uint32_t slot, uint32_t gen)
{
    return ((uint64_t)gen << 32) | ((uint64_t)slot + 1);
}

qconn *gs_quic_conn_get(const gs_quic_ep *ep, gs_quic_conn_id h)
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

/*
 * conn_expiry: when |c| next needs ngtcp2_conn_handle_expiry.  ACK coalescing (cfg.ack_coalesce):
 * ngtcp2 0.12.1 delays an ACK by min(max_ack_delay, smoothed RTT / 8), 0.1 ms on loopback, so a
 * packet that arrives alone costs its receiver a timer wake-up and its sender an ACK-only packet
 * and a wake-up.  While nothing of ours is unacknowledged (no queued stream data, nothing in
 * flight), the only timers left are that ACK, the keep-alive, the idle timeout and ngtcp2's
 * housekeeping (PMTUD, retired ids), none of which suffers from a few milliseconds; so the key is
 * moved by ack_coalesce, capped so that the ACK still leaves within the max_ack_delay we
 * advertise (25 ms).  A second packet meanwhile (ack_thresh 2) or a packet of ours to the peer
 * carries the ACK in the turn that handles it.  Nothing else changes: a connection with data in
 * flight keeps ngtcp2's exact expiry (loss detection, pacing).
 */
static gs_tstamp conn_expiry(const gs_quic_ep *ep, const qconn *c)
{
    if (c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return c->close_deadline;
    }
    gs_tstamp e = ngtcp2_conn_get_expiry(c->nc);
    if (c->close_req) {
        if (c->close_wait != 0 && c->close_wait < e) {
            e = c->close_wait;
        }
    } else if (ep->cfg.ack_coalesce != 0 && c->hs_confirmed && c->queued == 0 && e != UINT64_MAX) {
        ngtcp2_conn_stat st;

        ngtcp2_conn_get_conn_stat(c->nc, &st);
        if (st.bytes_in_flight == 0 && st.smoothed_rtt / 8 < NGTCP2_DEFAULT_MAX_ACK_DELAY) {
            gs_duration room = NGTCP2_DEFAULT_MAX_ACK_DELAY - st.smoothed_rtt / 8;

            e += ep->cfg.ack_coalesce < room ? ep->cfg.ack_coalesce : room;
        }
    }
    return e;
}

/* gs_quic_heap_update refreshes |c|'s key; a key not after |floor| is raised to floor + 1 so that
 * one handle_expiry pass visits each connection at most once. */
void gs_quic_heap_update(gs_quic_ep *ep, qconn *c, gs_tstamp floor)
{
    /* every connection is in the heap, at the index it records */
    assert(c->heap_idx < ep->nheap && ep->heap[c->heap_idx] == c);
    gs_tstamp e = conn_expiry(ep, c);
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

/* gs_quic_conn_tokens_refresh registers the reset tokens of |c|'s active destination ids. */
void gs_quic_conn_tokens_refresh(gs_quic_ep *ep, qconn *c)
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

void gs_quic_conn_free(gs_quic_ep *ep, qconn *c)
{
    /* freed only at the top level, never from inside an ngtcp2 call on some connection */
    assert(ep->in_ngtcp2 == 0);
    assert(c->heap_idx < ep->nheap && ep->heap[c->heap_idx] == c);
    if (c->shed_cids != NULL) {
        for (size_t i = 0; i < c->nshed_cids; ++i) {
            const ngtcp2_cid *id = &c->shed_cids[i];
            uint32_t *v = gs_quic_map_get(&ep->cids, id->data, id->datalen);
            if (v != NULL && *v == c->slot) {
                gs_quic_map_del(&ep->cids, id->data, id->datalen);
            }
        }
        gs_mem_free(ep->mem, c->shed_cids);
    } else if (c->nc != NULL) {
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
    gs_quic_limits_release(ep, c);
    heap_remove(ep, c);
    dirty_remove(ep, c);
    gs_quic_stream_free_all(ep, c);
    if (c->nc != NULL) {
        ngtcp2_conn_del(c->nc);
    }
    (void)gs_quic_conn_mem_release(c);
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

/* gs_quic_conn_alloc takes a slot and allocates a connection in it (no ngtcp2 state yet). */
qconn *gs_quic_conn_alloc(gs_quic_ep *ep, bool is_server, const gs_quic_addr *local,
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
    gs_quic_conn_mem_init(c);
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
    gs_quic_addr_count(ep, c, 1);
    return c;
}

void gs_quic_conn_set_reason(qconn *c, const char *reason)
{
    size_t n = strlen(reason);
    if (n >= sizeof(c->close_reason)) {
        n = sizeof(c->close_reason) - 1;
    }
    memcpy(c->close_reason, reason, n);
    c->close_reason[n] = '\0';
}

/*
 * conn_shed frees what a closing or draining connection no longer needs: its ngtcp2 connection,
 * GnuTLS session and streams (about 80-125 KB, bench_quic mem), keeping the qconn with its saved
 * CONNECTION_CLOSE, its deadline and the routing of its connection ids (copied here, so that
 * gs_quic_conn_free can unmap them).  A client that dials and closes at a high rate would
 * otherwise keep every connection's full state for 3 PTO.  Only at the top level (the state is
 * freed under no ngtcp2 call); without memory for the id copy nothing is shed.
 */
static void conn_shed(gs_quic_ep *ep, qconn *c)
{
    ngtcp2_cid scids[32]; /* ngtcp2 keeps at most 8 active plus recently retired ones */
    size_t n;

    if (ep->in_ngtcp2 != 0 || c->nc == NULL) {
        return;
    }
    n = ngtcp2_conn_get_num_scid(c->nc);
    if (n > sizeof(scids) / sizeof(scids[0])) {
        return;
    }
    n = ngtcp2_conn_get_scid(c->nc, scids);
    c->shed_cids = gs_mem_malloc(ep->mem, (n > 0 ? n : 1) * sizeof(scids[0]));
    if (c->shed_cids == NULL) {
        return;
    }
    memcpy(c->shed_cids, scids, n * sizeof(scids[0]));
    c->nshed_cids = n;
    gs_quic_stream_free_all(ep, c);
    c->v0rx = NULL;
    ngtcp2_conn_del(c->nc);
    c->nc = NULL;
    (void)gs_quic_conn_mem_release(c); /* what ngtcp2 left behind goes now, not at the free */
    if (c->tls != NULL) {
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
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
    gs_quic_heap_update(ep, c, 0);
    conn_shed(ep, c);
}

static void conn_enter_draining(gs_quic_ep *ep, qconn *c, gs_tstamp now)
{
    c->state = QS_DRAINING;
    c->close_pending = false;
    c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->nc);
    gs_quic_heap_update(ep, c, 0);
    conn_shed(ep, c);
}

/*
 * gs_quic_conn_fail ends |c| after ngtcp2 returned |liberr|; it reports on_closed and either frees
 * the connection (returns true) or leaves it closing / draining.
 */
bool gs_quic_conn_fail(gs_quic_ep *ep, qconn *c, int liberr, gs_tstamp now)
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
        gs_quic_conn_free(ep, c);
        return true;
    case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
        ++ep->stats.handshake_timeouts;
        report_closed(ep, c, GS_ERR_TIMEOUT, 0, "handshake timeout");
        gs_quic_conn_free(ep, c);
        return true;
    case NGTCP2_ERR_DROP_CONN:
        report_closed(ep, c, GS_ERR_PROTO, 0, "connection dropped by QUIC stack");
        gs_quic_conn_free(ep, c);
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
    if (!gs_quic_conn_established(ep, c)) {
        return NGTCP2_ERR_CALLBACK_FAILURE; /* rx_mem_max full: counted, the handshake fails */
    }
    c->state = QS_ESTABLISHED;
    if (c->is_server) {
        c->hs_confirmed = true; /* RFC 9001 4.1.2: a server's handshake is confirmed here */
    }
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
    gs_quic_v0_established(ep, c);
    if (ep->cb.on_connected != NULL) {
        ep->cb.on_connected(ep->cb.user_data, c->handle, c->peer,
                            c->is_server ? GS_QUIC_DIR_IN : GS_QUIC_DIR_OUT);
    }
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

static int cb_handshake_confirmed(ngtcp2_conn *nc, void *ud)
{
    (void)nc;
    qconn *c = ud;

    c->hs_confirmed = true;
    return 0;
}

/*
 * cb_recv_crypto_data: once the handshake is confirmed the GnuTLS session is freed
 * (conn_drop_tls); CRYPTO data that arrives later can only be post-handshake TLS messages at
 * the 1-RTT level (a NewSessionTicket from a server such as iroh's: we resume nothing), which a
 * client may ignore.  Everything before goes to GnuTLS as usual.
 */
static int cb_recv_crypto_data(ngtcp2_conn *nc, ngtcp2_crypto_level level, uint64_t off,
                               const uint8_t *data, size_t len, void *ud)
{
    qconn *c = ud;

    if (c->tls == NULL) {
        return level == NGTCP2_CRYPTO_LEVEL_APPLICATION ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return ngtcp2_crypto_recv_crypto_data_cb(nc, level, off, data, len, ud);
}

static int cb_recv_stream_data(ngtcp2_conn *nc, uint32_t flags, int64_t id, uint64_t off,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)off;
    qconn *c = ud;
    int64_t stop = -1;

    if (gs_quic_stream_on_data(c->ep, c, id, flags, data, len, sud, &stop) == 1 && sud != NULL &&
        (id & 0x2) != 0) {
        gs_quic_conn_recv_finished(c->ep, c, id, sud);
    }
    if (stop >= 0) {
        gs_quic_ep *ep = c->ep;
        if (ep->nstops < ep->stops_cap) {
            ep->stops[ep->nstops++] = stop;
        } else if (!c->close_req) {
            /* More bad streams in one packet than the peer may even have open: a protocol
             * violation, closed with that reason (the stream's bytes are discarded anyway). */
            c->close_req = true;
            c->close_app_error = 0;
            gs_quic_conn_set_reason(c, "too many bad streams in one packet");
            gs_quic_conn_mark_dirty(ep, c);
        }
    }
    /* Bytes are consumed (delivered or discarded) at once: return the credit. */
    ngtcp2_conn_extend_max_stream_offset(nc, id, len);
    ngtcp2_conn_extend_max_offset(nc, len);
    return 0;
}

void gs_quic_conn_recv_finished(gs_quic_ep *ep, qconn *c, int64_t id, void *sud)
{
    gs_quic_stream_recv_done(ep, c, id, sud);
    ngtcp2_conn_extend_max_streams_uni(c->nc, 1);
    if (++c->nrecv_done >= QRECV_DONE_MAX && !c->close_req) {
        c->close_req = true;
        c->close_app_error = 0;
        gs_quic_conn_set_reason(c, "too many streams on one connection");
        gs_quic_conn_mark_dirty(ep, c);
    }
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
    (void)seq;
    (void)cid;
    (void)token;
    qconn *c = ud;
    c->tokens_dirty = true; /* re-read at top level: ngtcp2 may be mid-update here */
    if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE && !c->is_server) {
        /* ngtcp2 0.12 activates a client's first DCID in the write that sent its Finished (the
         * move to its post-handshake state); nothing else tells that the flight left. */
        c->flight_sent = true;
    }
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

    gs_quic_new_cid(ep, cid);
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

void gs_quic_conn_callbacks(ngtcp2_callbacks *cb, bool is_server)
{
    memset(cb, 0, sizeof(*cb));
    if (is_server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = cb_recv_crypto_data;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->handshake_completed = cb_handshake_completed;
    cb->handshake_confirmed = cb_handshake_confirmed;
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

void gs_quic_conn_settings(const gs_quic_ep *ep, ngtcp2_settings *s, gs_tstamp now)
{
    ngtcp2_settings_default(s);
    s->initial_ts = now;
    s->max_tx_udp_payload_size = ep->cfg.max_packet_size;
    s->handshake_timeout = ep->cfg.handshake_timeout;
    s->max_window = ep->cfg.conn_window;
    s->max_stream_window = ep->cfg.stream_window;
    s->cc_algo = NGTCP2_CC_ALGO_CUBIC;
}

void gs_quic_conn_params(const gs_quic_ep *ep, ngtcp2_transport_params *p)
{
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_uni = ep->cfg.stream_window;
    p->initial_max_stream_data_bidi_local = 0;
    p->initial_max_stream_data_bidi_remote = 0;
    p->initial_max_data = ep->cfg.conn_window;
    p->initial_max_streams_uni = gs_quic_stream_credit0(&ep->cfg);
    p->initial_max_streams_bidi = 0;
    if (gs_quic_v0_enabled(ep)) {
        /* /iroh-gossip/0: the dialer opens one bidirectional stream (PROTOCOL.md 12). */
        p->initial_max_stream_data_bidi_local = ep->cfg.stream_window;
        p->initial_max_stream_data_bidi_remote = ep->cfg.stream_window;
        p->initial_max_streams_bidi = 1;
    }
    p->max_idle_timeout = ep->cfg.idle_timeout;
    p->active_connection_id_limit = 4;
}

/* ---------------------------------------------------------------- reading and writing */

/*
 * conn_drop_tls frees |c|'s GnuTLS session once the handshake is confirmed: nothing after it
 * needs the session (packet protection and key updates use the keys and the crypto context
 * ngtcp2 copied; late CRYPTO data is ignored by cb_recv_crypto_data), and it is about 27 KB of
 * every idle connection (bench_quic mem).  Top level only (never inside an ngtcp2 call).
 */
static void conn_drop_tls(qconn *c)
{
    ngtcp2_conn_set_tls_native_handle(c->nc, NULL);
    gnutls_deinit(c->tls);
    c->tls = NULL;
}

/* gs_quic_conn_read feeds one packet to |c|.  Returns true if |c| was freed. */
bool gs_quic_conn_read(gs_quic_ep *ep, qconn *c, const gs_quic_addr *local,
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
    gs_quic_path_of(&path, local, remote);
    memset(&pi, 0, sizeof(pi));
    pi.ecn = ecn & NGTCP2_ECN_MASK;
    ep->nstops = 0;
    c->rx_bytes += len;
    ++ep->in_ngtcp2;
    int rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, data, len, now);
    --ep->in_ngtcp2;
    for (size_t i = 0; i < ep->nstops; ++i) {
        (void)ngtcp2_conn_shutdown_stream_read(c->nc, ep->stops[i], 0);
    }
    ep->nstops = 0;
    if (rv != 0) {
        if (rv == NGTCP2_ERR_DISCARD_PKT) {
            ++ep->stats.datagrams_dropped;
            return false;
        }
        return gs_quic_conn_fail(ep, c, rv, now);
    }
    if (c->hs_confirmed && c->tls != NULL) {
        conn_drop_tls(c);
    }
    if (c->want_writable && c->queued < c->writable_at) {
        c->want_writable = false;
        if (ep->cb.on_writable != NULL) {
            ep->cb.on_writable(ep->cb.user_data, c->handle, c->peer);
        }
    }
    if (c->tokens_dirty) {
        gs_quic_conn_tokens_refresh(ep, c);
    }
    gs_quic_conn_mark_dirty(ep, c);
    gs_quic_heap_update(ep, c, 0);
    return false;
}

/*
 * conn_pace tells ngtcp2 what was just sent, which arms its pacer.  Not during the handshake:
 * before the first RTT sample ngtcp2 paces with the 333 ms initial RTT, which delayed the client's
 * Finished by ~22 ms after its 1200-byte Initial (measured with virtual time: every loopback
 * handshake took >= 22 ms, PTO probes included).  A handshake is a few packets; a burst is fine.
 */
static void conn_pace(qconn *c, gs_tstamp now, size_t npkts)
{
    /* Only after a burst: ngtcp2 charges every byte written since the last call to |now|, so a
     * call for a write that placed nothing (the batch was full) would charge an older burst at
     * a later time and hold the next packet back (a client's Finished, for one). */
    if (npkts > 0 && ngtcp2_conn_get_handshake_completed(c->nc)) {
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
            int rv =
                s->v0 ? gs_quic_v0_open(ep, c, s, &id) : ngtcp2_conn_open_uni_stream(c->nc, &id, s);
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

/* What conn_write_pkts did. */
typedef enum qwrite {
    QW_DONE = 0, /* |c| has nothing more to send now */
    QW_FULL,     /* |tx| is full; |c| may have more */
    QW_GONE,     /* |c| failed: it is closing, draining or freed (do not touch it) */
} qwrite;

/* conn_write_pkts writes |c|'s packets (stream data only when |streams|) into |tx|. */
static qwrite conn_write_pkts(gs_quic_ep *ep, qconn *c, gs_tstamp now, gs_quic_txbuf *tx,
                              bool streams)
{
    ngtcp2_path_storage ps;
    ngtcp2_pkt_info pi;
    ngtcp2_vec v[16]; /* reference chunks can be small: gather up to a packet's worth */
    gs_quic_addr local;
    gs_quic_addr remote;
    gs_quic_addr plocal;
    gs_quic_addr premote;
    const ngtcp2_path *cp = ngtcp2_conn_get_path(c->nc);
    gs_quic_addr_from_ngtcp2(&plocal, &cp->local);
    gs_quic_addr_from_ngtcp2(&premote, &cp->remote);
    bool established = streams && ngtcp2_conn_get_handshake_completed(c->nc) != 0;
    size_t npkts = 0;
    for (;;) {
        size_t maxn;
        if (!gs_quic_pack_can(&ep->pack, tx, c, &plocal, &premote, &maxn)) {
            conn_pace(c, now, npkts);
            gs_quic_heap_update(ep, c, 0);
            return QW_FULL;
        }
        int prv = 0;
        qsend *s = established ? pick_stream(ep, c, &prv) : NULL;
        if (prv != 0) {
            (void)gs_quic_conn_fail(ep, c, prv, now);
            return QW_GONE;
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
        ++ep->in_ngtcp2;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->nc, &ps.path, &pi, tx->buf + tx->len,
                                                   ep->cfg.max_packet_size, &ndatalen, flags, sid,
                                                   niov > 0 ? v : NULL, niov, now);
        --ep->in_ngtcp2;
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
                conn_pace(c, now, npkts);
                gs_quic_heap_update(ep, c, 0);
                return QW_FULL;
            }
            (void)gs_quic_conn_fail(ep, c, (int)n, now);
            return QW_GONE;
        }
        if (n == 0) {
            if (c->is_server && c->state == QS_HANDSHAKE && npkts == 0 &&
                c->tx_bytes + ep->cfg.max_packet_size > 3 * c->rx_bytes) {
                ++ep->stats.amplification_limited;
            }
            break;
        }
        gs_quic_addr_from_ngtcp2(&local, &ps.path.local);
        gs_quic_addr_from_ngtcp2(&remote, &ps.path.remote);
        if (local.len == 0) {
            local = plocal;
        }
        if (remote.len == 0) {
            remote = premote;
        }
        c->tx_bytes += (uint64_t)n;
        ++npkts;
        if (!gs_quic_pack_place(&ep->pack, tx, c, &local, &remote,
                                (uint8_t)(pi.ecn & NGTCP2_ECN_MASK), (size_t)n)) {
            conn_pace(c, now, npkts);
            gs_quic_heap_update(ep, c, 0);
            return QW_FULL;
        }
    }
    conn_pace(c, now, npkts);
    gs_quic_stream_unblock(c);
    gs_quic_heap_update(ep, c, 0);
    return QW_DONE;
}

/* gs_quic_conn_write writes |c|'s packets into |tx|.  Returns true when it stopped because |tx| is
 * full (|c| may have more), false when |c| has nothing more to send now or was freed/closed. */
bool gs_quic_conn_write(gs_quic_ep *ep, qconn *c, gs_tstamp now, gs_quic_txbuf *tx)
{
    if (c->state == QS_CLOSING) {
        if (c->close_pending && c->close_pktlen > 0) {
            if (!gs_quic_pack_copy(&ep->pack, tx, c, &c->local, &c->remote, 0, c->close_pkt,
                                   c->close_pktlen)) {
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
        /* A client closing as soon as its handshake completed (ngtcp2 completes it while reading
         * the server's flight) has not sent its Finished yet: send that flight first (no stream
         * data), so the server completes too, takes the application close in a 1-RTT packet and
         * drains after 3 of its real PTOs, instead of seeing a failed handshake and keeping its
         * state for 3 initial PTOs (about 3 s).  Pacing or congestion may hold the Finished back
         * (ngtcp2 then writes only ACKs): the close waits for it, at most one PTO. */
        if (!c->is_server && c->state == QS_ESTABLISHED && !c->flight_sent) {
            qwrite w = conn_write_pkts(ep, c, now, tx, false);
            if (w == QW_FULL) {
                return true;
            }
            if (w == QW_GONE) {
                return false;
            }
            if (!c->flight_sent) {
                if (c->close_wait == 0) {
                    c->close_wait = now + ngtcp2_conn_get_pto(c->nc);
                    ++ep->stats.close_waits;
                }
                if (now < c->close_wait) {
                    gs_quic_heap_update(ep, c, 0);
                    return false; /* the pacing / loss timer or close_wait brings it back */
                }
            }
        }
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
        return gs_quic_conn_write(ep, c, now, tx);
    }
    return conn_write_pkts(ep, c, now, tx, true) == QW_FULL;
}
