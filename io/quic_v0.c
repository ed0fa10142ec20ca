/* SPDX-License-Identifier: MIT */
/*
 * quic_v0.c: the previous gossip wire, "/iroh-gossip/0" (iroh-gossip <= 0.35, PROTOCOL.md 12).
 *
 * A connection's version is chosen by ALPN in the handshake (gs_quic_cfg_enable_v0 lists both;
 * "/iroh-gossip/1" first, so two gossipd nodes use /1 and a 0.35 node, which offers and accepts
 * only /0, gets /0).  On a /0 connection all topics share one bidirectional stream that the
 * dialer opens; every frame on it is u32-BE length + topic (32 bytes) + message, so the topic
 * counts against max_message_size.  The layer above keeps sending /1 frames (prefix + message):
 * here they are re-framed, by reference when possible (a small own chunk with the new prefix and
 * the topic, then a reference chunk with the message).
 *
 * The stream's user data in ngtcp2 is its qsend (acknowledgements, STOP_SENDING); its receive
 * side is qconn.v0rx, found by quic_stream.c when data arrives on a stream whose user data is a
 * qsend.  An acceptor's qsend waits (await_peer, off the ready list) until the dialer's stream
 * arrives.  Any failure of the one stream ends the connection, as in 0.35 (its connection loop
 * ends on any read or decode error): a new connection is then the only way on.
 */
#include "quic_int.h"

#include <string.h>

bool gs_quic_v0_enabled(const struct gs_quic_ep *ep)
{
    for (size_t i = 0; i < ep->cfg.nalpn; ++i) {
        if (strcmp(ep->cfg.alpn[i], GS_QUIC_ALPN_GOSSIP_V0) == 0) {
            return true;
        }
    }
    return false;
}

int gs_quic_cfg_enable_v0(gs_quic_cfg *cfg)
{
    if (cfg == NULL) {
        return GS_ERR_INVAL;
    }
    for (size_t i = 0; i < cfg->nalpn; ++i) {
        if (strcmp(cfg->alpn[i], GS_QUIC_ALPN_GOSSIP_V0) == 0) {
            return 0;
        }
    }
    if (cfg->nalpn >= GS_QUIC_ALPN_MAX) {
        return GS_ERR_LIMIT;
    }
    memcpy(cfg->alpn[cfg->nalpn], GS_QUIC_ALPN_GOSSIP_V0, sizeof(GS_QUIC_ALPN_GOSSIP_V0));
    ++cfg->nalpn;
    return 0;
}

void gs_quic_v0_close(struct gs_quic_ep *ep, qconn *c, const char *reason)
{
    if (c->close_req || c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return;
    }
    ++ep->stats.v0_fins;
    c->close_req = true;
    c->close_app_error = 0;
    gs_quic_conn_set_reason(c, reason);
    gs_quic_conn_mark_dirty(ep, c);
}

void gs_quic_v0_fail(struct gs_quic_ep *ep, qconn *c, const char *reason)
{
    if (c->close_req || c->state == QS_CLOSING || c->state == QS_DRAINING) {
        return;
    }
    ++ep->stats.v0_stream_errors;
    c->close_req = true;
    c->close_app_error = 0;
    gs_quic_conn_set_reason(c, reason);
    gs_quic_conn_mark_dirty(ep, c);
}

/* v0_stream returns |c|'s one stream, creating it (unopened) when |create| and none was ever
 * opened; NULL when there is none (or it is gone: the connection is then failing). */
static qsend *v0_stream(struct gs_quic_ep *ep, qconn *c, bool create)
{
    for (qsend *s = c->sends; s != NULL; s = s->next) {
        if (s->v0) {
            return s->dead ? NULL : s;
        }
    }
    if (!create || c->v0_opened) {
        return NULL;
    }
    qsend *s = gs_mem_calloc(ep->mem, 1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->kind = QSTREAM_SEND;
    s->id = -1;
    s->v0 = true;
    s->await_peer = c->is_server; /* only the dialer opens it */
    gs_quic_stream_link(c, s);
    return s;
}

int gs_quic_v0_queue(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic, const uint8_t *frame,
                     size_t len, void (*release)(void *arg), void *arg)
{
    if (len < GS_QUIC_FRAME_PREFIX) {
        return GS_ERR_INVAL;
    }
    size_t mlen = len - GS_QUIC_FRAME_PREFIX;
    size_t need = GS_QUIC_FRAME_PREFIX + GS_QUIC_TOPIC_LEN + mlen;
    if (c->queued + need > ep->cfg.send_queue_max) {
        if (!c->want_writable || c->writable_at > ep->cfg.send_queue_max / 2) {
            c->writable_at = ep->cfg.send_queue_max / 2;
        }
        c->want_writable = true;
        ++ep->stats.send_queue_drops;
        return GS_ERR_AGAIN;
    }
    qsend *s = v0_stream(ep, c, true);
    if (s == NULL) {
        return c->v0_opened ? GS_ERR_CLOSED : GS_ERR_NOMEM;
    }
    uint32_t blen = (uint32_t)(GS_QUIC_TOPIC_LEN + mlen);
    uint8_t pfx[GS_QUIC_FRAME_PREFIX] = {(uint8_t)(blen >> 24), (uint8_t)(blen >> 16),
                                         (uint8_t)(blen >> 8), (uint8_t)blen};
    if (release == NULL) {
        const uint8_t *parts[3] = {pfx, topic, frame + GS_QUIC_FRAME_PREFIX};
        size_t lens[3] = {GS_QUIC_FRAME_PREFIX, GS_QUIC_TOPIC_LEN, mlen};
        return gs_quic_stream_append(ep, c, s, parts, lens, 3);
    }
    if (mlen == 0) {
        return GS_ERR_INVAL; /* no message is empty; a reference chunk must hold bytes */
    }
    /* Header (prefix + topic) copied, the message referenced. */
    const uint8_t *parts[2] = {pfx, topic};
    size_t lens[2] = {GS_QUIC_FRAME_PREFIX, GS_QUIC_TOPIC_LEN};
    int rv = gs_quic_stream_append(ep, c, s, parts, lens, 2);
    if (rv != 0) {
        return rv;
    }
    rv = gs_quic_stream_append_ref(ep, c, s, frame + GS_QUIC_FRAME_PREFIX, mlen, release, arg);
    if (rv != 0) {
        /* Out of memory for a 64-byte chunk header after the header went in: the stream now
         * holds a header without its body, which the peer could only read as garbage. */
        gs_quic_v0_fail(ep, c, "out of memory on the /0 stream");
        return GS_ERR_NOMEM;
    }
    return 0;
}

int gs_quic_v0_open(struct gs_quic_ep *ep, qconn *c, qsend *s, int64_t *pid)
{
    int rv = ngtcp2_conn_open_bidi_stream(c->nc, pid, s);
    if (rv != 0) {
        return rv;
    }
    qrecv *r = gs_quic_stream_new_recv(ep, c, *pid);
    if (r == NULL) {
        return NGTCP2_ERR_NOMEM;
    }
    r->v0 = true;
    r->have_topic = true;
    c->v0rx = r;
    c->v0_opened = true;
    return 0;
}

int gs_quic_v0_on_open(struct gs_quic_ep *ep, qconn *c, int64_t id)
{
    if (!c->v0 || !c->is_server || (id & 0x1) != 0 || c->v0_opened) {
        /* /1 uses no bidirectional streams; /0 only the dialer's first. */
        ++ep->stats.bidi_refused;
        if (c->v0) {
            gs_quic_v0_fail(ep, c, "second /0 stream");
        }
        return 0;
    }
    qsend *s = v0_stream(ep, c, true);
    if (s == NULL) {
        return GS_ERR_NOMEM;
    }
    qrecv *r = gs_quic_stream_new_recv(ep, c, id);
    if (r == NULL) {
        return GS_ERR_NOMEM;
    }
    r->v0 = true;
    r->have_topic = true;
    c->v0rx = r;
    c->v0_opened = true;
    ++ep->stats.streams_in;
    s->id = id;
    s->await_peer = false;
    ngtcp2_conn_set_stream_user_data(c->nc, id, s);
    gs_quic_stream_ready(c, s);
    gs_quic_conn_mark_dirty(ep, c);
    return 0;
}

/* alpn_ext reads the ALPN extension (16) of a ClientHello into the connection's offers. */
static int alpn_ext(void *ctx, unsigned tls_id, const unsigned char *data, unsigned size)
{
    qconn *c = ctx;
    if (tls_id != 16) {
        return 0;
    }
    if (size < 2) {
        return 0;
    }
    unsigned n = ((unsigned)data[0] << 8) | data[1];
    unsigned pos = 2;
    if (n > size - 2) {
        return 0; /* malformed: GnuTLS refuses the hello itself */
    }
    c->hello_seen = true;
    while (pos < 2 + n) {
        unsigned k = data[pos++];
        if (k > 2 + n - pos) {
            break;
        }
        if (k == sizeof(GS_QUIC_ALPN_GOSSIP_V0) - 1 &&
            memcmp(data + pos, GS_QUIC_ALPN_GOSSIP_V0, k) == 0) {
            c->offers_v0 = true;
        } else if (k == sizeof(GS_QUIC_ALPN_GOSSIP) - 1 &&
                   memcmp(data + pos, GS_QUIC_ALPN_GOSSIP, k) == 0) {
            c->offers_v1 = true;
        }
        pos += k;
    }
    return 0;
}

static int hello_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                      const gnutls_datum_t *msg)
{
    (void)when;
    const ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
    if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO || !incoming || ref == NULL || msg == NULL) {
        return 0;
    }
    qconn *c = ref->user_data;
    c->hello_seen = false;
    c->offers_v0 = false;
    c->offers_v1 = false;
    (void)gnutls_ext_raw_parse(c, alpn_ext, msg, GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
    return 0;
}

void gs_quic_v0_hello_hook(gnutls_session_t s)
{
    gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                       hello_hook);
}

/* be32 reads a big-endian u32. */
static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * reframe moves the /1 stream |old| (never opened: queued during the handshake; a topic header
 * frame, then frames) onto |c|'s /0 stream and frees it.  Frames too large for /0 are dropped
 * and counted.
 */
static void reframe(struct gs_quic_ep *ep, qconn *c, qsend *old)
{
    size_t n = (size_t)(old->end - old->acked);
    uint8_t *buf = n > 0 ? gs_mem_malloc(ep->mem, n) : NULL;
    uint8_t topic[GS_QUIC_TOPIC_LEN];

    memcpy(topic, old->topic, sizeof(topic));
    if (buf != NULL) {
        size_t k = 0;
        size_t off = old->head_off;
        for (const qchunk *ch = old->head; ch != NULL && k < n; ch = ch->next, off = 0) {
            size_t take = ch->len - off;
            if (take > n - k) {
                take = n - k;
            }
            memcpy(buf + k, ch->base + off, take);
            k += take;
        }
        n = k;
    }
    gs_quic_stream_send_free(ep, c, old);
    if (buf == NULL) {
        return;
    }
    /* Skip the stream header frame (prefix + topic), then re-queue each frame. */
    size_t pos = GS_QUIC_FRAME_PREFIX + GS_QUIC_TOPIC_LEN;
    while (pos + GS_QUIC_FRAME_PREFIX <= n) {
        size_t blen = be32(buf + pos);
        if (blen > n - pos - GS_QUIC_FRAME_PREFIX) {
            break; /* cannot happen: only complete frames are queued */
        }
        if (blen + GS_QUIC_TOPIC_LEN >= ep->cfg.max_message_size) {
            ++ep->stats.frames_refused;
            ++ep->stats.frames_refused_v0;
        } else {
            (void)gs_quic_v0_queue(ep, c, topic, buf + pos, GS_QUIC_FRAME_PREFIX + blen, NULL,
                                   NULL);
        }
        pos += GS_QUIC_FRAME_PREFIX + blen;
    }
    gs_mem_free(ep->mem, buf);
}

void gs_quic_v0_established(struct gs_quic_ep *ep, qconn *c)
{
    gnutls_datum_t p;

    if (gnutls_alpn_get_selected_protocol(c->tls, &p) != 0 ||
        p.size != sizeof(GS_QUIC_ALPN_GOSSIP_V0) - 1 ||
        memcmp(p.data, GS_QUIC_ALPN_GOSSIP_V0, p.size) != 0) {
        return; /* /1 */
    }
    c->v0 = true;
    ++ep->stats.conns_v0;
    /* Frames queued on a dial before the version was known sit in /1 topic streams. */
    for (;;) {
        qsend *old = NULL;
        for (qsend *s = c->sends; s != NULL; s = s->next) {
            if (!s->v0) {
                old = s;
                break;
            }
        }
        if (old == NULL) {
            break;
        }
        reframe(ep, c, old);
    }
}
