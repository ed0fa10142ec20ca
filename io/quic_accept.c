/* SPDX-License-Identifier: MIT */
/*
 * quic_accept.c: who may open a connection and the packets the endpoint sends without one.
 *
 * Admission: a client's Initial becomes a connection only within max_conns and
 * max_conns_per_addr; with Retry on (always, or automatically above retry_auto_rate new
 * handshakes per second) it must first echo a Retry token bound to its address.  Stateless
 * replies (Version Negotiation, stateless reset, Retry, CONNECTION_CLOSE for refusals) wait in a
 * bounded queue (QCTRL_MAX) that gs_quic_ep_write drains before any connection's packets; when
 * it is full, further replies are dropped and counted: they are all optional.
 */
#include "quic.h"
#include "quic_int.h"

#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------- per-address limits */

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

void gs_quic_addr_count(gs_quic_ep *ep, qconn *c, int delta)
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

uint32_t gs_quic_addr_conns(const gs_quic_ep *ep, const gs_quic_addr *a)
{
    uint8_t key[17];
    size_t klen = ip_key(a, key);
    const uint32_t *v = gs_quic_map_get(&ep->addrs, key, klen);
    return v != NULL ? *v : 0;
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
    if (ep->nconns >= ep->cfg.max_conns ||
        gs_quic_addr_conns(ep, remote) >= ep->cfg.max_conns_per_addr) {
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
    c->rx_bytes += len;
    gs_quic_conn_mark_dirty(ep, c);
    gs_quic_heap_update(ep, c, 0);
}
