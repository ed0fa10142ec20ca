/* SPDX-License-Identifier: MIT */
/*
 * quic_tls.c: GnuTLS set-up for RFC 7250 raw public keys, Ed25519 only, TLS 1.3 only, mandatory
 * ALPN, following the recipe verified against iroh in PROTOCOL.md 11 (priority string, init
 * flags, session set-up order, verify callback).  The credentials and the priority cache are
 * built once per endpoint; each connection gets its own session.
 */
#include "quic_int.h"

#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

/* PROTOCOL.md 11: RFC 9001 forbids TLS 1.3 middlebox compatibility mode, hence the last token. */
static const char tls_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CTYPE-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-SIGN-ALL:"
    "+SIGN-EDDSA-ED25519:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "%DISABLE_TLS13_COMPAT_MODE";

int gs_quic_tls_init(struct gs_quic_ep *ep)
{
    uint8_t spki[GS_ID_SPKI_LEN];
    uint8_t pkcs8[GS_ID_PKCS8_LEN];
    gnutls_datum_t dspki = {spki, sizeof(spki)};
    gnutls_datum_t dkey = {pkcs8, sizeof(pkcs8)};
    int rv;

    if (gnutls_certificate_allocate_credentials(&ep->cred) != 0) {
        return GS_ERR_NOMEM;
    }
    gs_id_spki(ep->id.pk, spki);
    gs_identity_pkcs8(&ep->id, pkcs8);
    rv = gnutls_certificate_set_rawpk_key_mem(ep->cred, &dspki, &dkey, GNUTLS_X509_FMT_DER, NULL, 0,
                                              NULL, 0, 0);
    sodium_memzero(pkcs8, sizeof(pkcs8));
    if (rv != 0) {
        goto fail_key;
    }
    if (gnutls_priority_init2(&ep->prio, tls_priority, NULL, 0) != 0) {
        goto fail_key;
    }
    for (size_t i = 0; i < ep->cfg.nalpn; ++i) {
        ep->alpn[i].data = (unsigned char *)ep->cfg.alpn[i];
        ep->alpn[i].size = (unsigned)strlen(ep->cfg.alpn[i]);
    }
    return 0;

fail_key:
    gnutls_certificate_free_credentials(ep->cred);
    ep->cred = NULL;
    return GS_ERR_TLS;
}

void gs_quic_tls_free(struct gs_quic_ep *ep)
{
    if (ep->prio != NULL) {
        gnutls_priority_deinit(ep->prio);
        ep->prio = NULL;
    }
    if (ep->cred != NULL) {
        gnutls_certificate_free_credentials(ep->cred);
        ep->cred = NULL;
    }
}

static ngtcp2_conn *tls_get_conn(ngtcp2_crypto_conn_ref *ref)
{
    qconn *c = ref->user_data;
    return c->nc;
}

/*
 * tls_verify runs on both sides during the handshake: the peer must present exactly one raw
 * public key whose DER is the Ed25519 SPKI; a client also requires it to be the dialed id.
 */
static int tls_verify(gnutls_session_t s)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
    qconn *c = ref->user_data;
    unsigned n = 0;
    uint8_t key[GS_ID_LEN];

    if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_RAWPK) {
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (certs == NULL || n != 1 || gs_id_from_spki(key, certs[0].data, certs[0].size) != 0) {
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (c->is_server) {
        memcpy(c->peer, key, GS_ID_LEN);
        c->peer_known = true;
        return 0;
    }
    if (sodium_memcmp(key, c->peer, GS_ID_LEN) != 0) {
        c->mismatch = true;
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

/*
 * gs_quic_tls_session: the client sends one key share (GNUTLS_KEY_SHARE_TOP: X25519, first in the
 * priority list, which iroh always supports); GnuTLS's default of two shares would generate a
 * P-256 key pair per dial that is never used.  A server without X25519 still works through
 * HelloRetryRequest.
 */
int gs_quic_tls_session(struct gs_quic_ep *ep, qconn *c)
{
    unsigned flags = c->is_server
                         ? (GNUTLS_SERVER | GNUTLS_ENABLE_RAWPK | GNUTLS_NO_AUTO_SEND_TICKET)
                         : (GNUTLS_CLIENT | GNUTLS_ENABLE_RAWPK | GNUTLS_KEY_SHARE_TOP);
    gnutls_session_t s;
    int rv;

    if (gnutls_init(&s, flags) != 0) {
        return GS_ERR_NOMEM;
    }
    rv = c->is_server ? ngtcp2_crypto_gnutls_configure_server_session(s)
                      : ngtcp2_crypto_gnutls_configure_client_session(s);
    if (rv != 0) {
        goto fail;
    }
    if (gnutls_priority_set(s, ep->prio) != 0) {
        goto fail;
    }
    c->cref.get_conn = tls_get_conn;
    c->cref.user_data = c;
    gnutls_session_set_ptr(s, &c->cref);
    if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, ep->cred) != 0) {
        goto fail;
    }
    gnutls_session_set_verify_function(s, tls_verify);
    unsigned aflags = GNUTLS_ALPN_MANDATORY | (c->is_server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0);
    if (gnutls_alpn_set_protocols(s, ep->alpn, (unsigned)ep->cfg.nalpn, aflags) != 0) {
        goto fail;
    }
    if (c->is_server) {
        gs_quic_v0_hello_hook(s); /* which wire versions the client offers (quic_v0.c) */
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
    } else if (ep->cfg.send_sni) {
        char name[GS_ID_TLS_NAME_LEN + 1];
        gs_id_to_tls_name(c->peer, name);
        if (gnutls_server_name_set(s, GNUTLS_NAME_DNS, name, GS_ID_TLS_NAME_LEN) != 0) {
            goto fail;
        }
    }
    ngtcp2_conn_set_tls_native_handle(c->nc, s);
    c->tls = s;
    return 0;

fail:
    gnutls_deinit(s);
    return GS_ERR_TLS;
}
