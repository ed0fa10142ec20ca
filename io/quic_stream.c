/* SPDX-License-Identifier: MIT */
/*
 * quic_stream.c: gossip framing on QUIC unidirectional streams (PROTOCOL.md 3).
 *
 * Send side: each (connection, topic) has one open qsend whose bytes (topic header frame, then the
 * queued frames) sit in a chain of fixed 4 KiB chunks.  ngtcp2 does not copy stream data: it keeps
 * pointing at our chunks until the data is acknowledged, so chunks never move and are released only
 * from acked_stream_data_offset (in order) or when the stream closes.  Chunks come from a bounded
 * per-endpoint free list, so steady-state sending does not call the allocator.
 *
 * Receive side: each incoming uni stream is cut into frames as bytes arrive.  The length prefix is
 * checked against max_message_size as soon as its 4 bytes are in, before any body byte is kept; a
 * frame that lies wholly inside one STREAM chunk is handed up without copying, otherwise the body
 * is gathered in a per-stream buffer of max_message_size bytes.  Flow control credit is returned as
 * soon as bytes are consumed (delivered or discarded).
 *
 * Partial-frame buffers are bounded per connection (cfg.rx_buffer_conn_max) and in total
 * (cfg.rx_buffer_max), so that streams holding half a frame cannot starve other connections:
 *  - a connection at its share takes its own oldest buffer back (that stream is stopped);
 *  - when the total is reached, the oldest buffer (among the 64 oldest) of a connection that
 *    holds at least as many buffer bytes as the requester will after allocating is taken back:
 *    a connection only ever loses a buffer to one that uses no more than it does, so a peer with
 *    a few frames in flight always gets through a flood of half-sent frames from others;
 *  - if no connection qualifies, the new stream is stopped (rx_buffer_refused).
 * A stream that loses its buffer is stopped (STOP_SENDING) and counted in rx_buffer_evicted.
 */
#include "quic_int.h"

#include <string.h>

/* Chunks kept on the free list (16 MiB); more are returned to the allocator. */
#define CHUNK_CACHE_MAX 4096
/* Reference chunk headers kept on their free list. */
#define REF_CACHE_MAX 4096

static qchunk *chunk_get(struct gs_quic_ep *ep)
{
    qchunk *ch = ep->free_chunks;

    if (ch != NULL) {
        ep->free_chunks = ch->next;
        --ep->nfree_chunks;
    } else {
        ch = gs_mem_malloc(ep->mem, sizeof(*ch));
        if (ch == NULL) {
            return NULL;
        }
    }
    ch->next = NULL;
    ch->len = 0;
    ch->cap = QCHUNK_DATA;
    ch->base = ch->data;
    ch->is_ref = false;
    ch->release = NULL;
    ch->arg = NULL;
    return ch;
}

static qchunk *ref_get(struct gs_quic_ep *ep, const uint8_t *frame, size_t len,
                       void (*release)(void *arg), void *arg)
{
    qchunk *ch = ep->free_refs;

    if (ch != NULL) {
        ep->free_refs = ch->next;
        --ep->nfree_refs;
    } else {
        ch = gs_mem_malloc(ep->mem, QCHUNK_REF_SIZE);
        if (ch == NULL) {
            return NULL;
        }
    }
    ch->next = NULL;
    ch->len = len;
    ch->cap = len;
    ch->base = frame;
    ch->is_ref = true;
    ch->release = release;
    ch->arg = arg;
    return ch;
}

void gs_quic_chunk_put(struct gs_quic_ep *ep, qchunk *ch)
{
    if (ch->is_ref) {
        void (*release)(void *arg) = ch->release;
        void *arg = ch->arg;

        ch->release = NULL;
        if (ep->nfree_refs < REF_CACHE_MAX) {
            ch->next = ep->free_refs;
            ep->free_refs = ch;
            ++ep->nfree_refs;
        } else {
            gs_mem_free(ep->mem, ch);
        }
        if (release != NULL) {
            ++ep->stats.frames_released;
            release(arg);
        }
        return;
    }
    if (ep->nfree_chunks < CHUNK_CACHE_MAX) {
        ch->next = ep->free_chunks;
        ep->free_chunks = ch;
        ++ep->nfree_chunks;
    } else {
        gs_mem_free(ep->mem, ch);
    }
}

static void ready_push(qconn *c, qsend *s)
{
    if (s->in_ready || s->await_peer) {
        return;
    }
    s->in_ready = true;
    s->ready_next = NULL;
    if (c->ready_tail != NULL) {
        c->ready_tail->ready_next = s;
    } else {
        c->ready_head = s;
    }
    c->ready_tail = s;
}

static void ready_remove(qconn *c, qsend *s)
{
    if (!s->in_ready) {
        return;
    }
    qsend *prev = NULL;
    for (qsend *it = c->ready_head; it != NULL; prev = it, it = it->ready_next) {
        if (it == s) {
            if (prev != NULL) {
                prev->ready_next = s->ready_next;
            } else {
                c->ready_head = s->ready_next;
            }
            if (c->ready_tail == s) {
                c->ready_tail = prev;
            }
            break;
        }
    }
    s->in_ready = false;
    s->ready_next = NULL;
}

static void send_free(struct gs_quic_ep *ep, qconn *c, qsend *s)
{
    ready_remove(c, s);
    qsend **pp = &c->sends;
    while (*pp != NULL && *pp != s) {
        pp = &(*pp)->next;
    }
    if (*pp == s) {
        *pp = s->next;
        --c->nsends;
    }
    c->queued -= (size_t)(s->end - s->acked);
    gs_quic_stream_queue_changed(ep, c);
    for (qchunk *ch = s->head; ch != NULL;) {
        qchunk *next = ch->next;
        gs_quic_chunk_put(ep, ch);
        ch = next;
    }
    gs_mem_free(ep->mem, s);
}

/* body_free releases |r|'s partial-frame buffer, if any. */
static void body_free(struct gs_quic_ep *ep, qrecv *r)
{
    if (r->body == NULL) {
        return;
    }
    if (r->buf_prev != NULL) {
        r->buf_prev->buf_next = r->buf_next;
    } else {
        ep->buf_head = r->buf_next;
    }
    if (r->buf_next != NULL) {
        r->buf_next->buf_prev = r->buf_prev;
    } else {
        ep->buf_tail = r->buf_prev;
    }
    r->buf_prev = NULL;
    r->buf_next = NULL;
    gs_mem_free(ep->mem, r->body);
    r->body = NULL;
    ep->stats.rx_buffered -= ep->cfg.max_message_size;
    r->conn->rx_buffered -= ep->cfg.max_message_size;
}

static void recv_free(struct gs_quic_ep *ep, qconn *c, qrecv *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->recvs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    body_free(ep, r);
    gs_mem_free(ep->mem, r);
}

void gs_quic_stream_free_all(struct gs_quic_ep *ep, qconn *c)
{
    while (c->sends != NULL) {
        send_free(ep, c, c->sends);
    }
    while (c->recvs != NULL) {
        recv_free(ep, c, c->recvs);
    }
}

static qsend *find_send(qconn *c, const uint8_t *topic)
{
    for (qsend *s = c->sends; s != NULL; s = s->next) {
        if (!s->dead && !s->finishing && memcmp(s->topic, topic, GS_QUIC_TOPIC_LEN) == 0) {
            return s;
        }
    }
    return NULL;
}

/*
 * append copies |n| parts into |s| as one unit: the chunks it needs are taken first, so on
 * GS_ERR_NOMEM nothing was queued.
 */
static int append(struct gs_quic_ep *ep, qconn *c, qsend *s, const uint8_t *const *parts,
                  const size_t *lens, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
        total += lens[i];
    }
    size_t room = s->tail != NULL ? s->tail->cap - s->tail->len : 0;
    qchunk *fresh = NULL;
    qchunk *fresh_tail = NULL;
    for (size_t have = room; have < total; have += QCHUNK_DATA) {
        qchunk *ch = chunk_get(ep);
        if (ch == NULL) {
            while (fresh != NULL) {
                qchunk *next = fresh->next;
                gs_quic_chunk_put(ep, fresh);
                fresh = next;
            }
            return GS_ERR_NOMEM;
        }
        if (fresh_tail != NULL) {
            fresh_tail->next = ch;
        } else {
            fresh = ch;
        }
        fresh_tail = ch;
    }
    /* Where the first new byte lands: needed when everything queued so far was written. */
    qchunk *pos = room > 0 ? s->tail : fresh;
    size_t posoff = room > 0 ? s->tail->len : 0;
    if (fresh != NULL) {
        if (s->tail != NULL) {
            s->tail->next = fresh;
        } else {
            s->head = fresh;
            s->head_off = 0;
        }
    }
    qchunk *cur = room > 0 ? s->tail : fresh;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t *p = parts[i];
        size_t left = lens[i];
        while (left > 0) {
            if (cur->len == cur->cap) {
                cur = cur->next;
            }
            size_t k = cur->cap - cur->len;
            if (k > left) {
                k = left;
            }
            memcpy(cur->data + cur->len, p, k);
            cur->len += k;
            p += k;
            left -= k;
        }
    }
    if (fresh_tail != NULL) {
        s->tail = fresh_tail;
    }
    if (s->wchunk == NULL) {
        s->wchunk = pos;
        s->woff = posoff;
    }
    s->end += total;
    c->queued += total;
    gs_quic_stream_queue_changed(ep, c);
    ready_push(c, s);
    return 0;
}

/* append_ref links the reference chunk |ch| after |s|'s tail (closing the tail for appends). */
static void append_ref(struct gs_quic_ep *ep, qconn *c, qsend *s, qchunk *ch)
{
    if (s->tail != NULL) {
        s->tail->next = ch;
    } else {
        s->head = ch;
        s->head_off = 0;
    }
    s->tail = ch;
    if (s->wchunk == NULL) {
        s->wchunk = ch;
        s->woff = 0;
    }
    s->end += ch->len;
    c->queued += ch->len;
    gs_quic_stream_queue_changed(ep, c);
    ready_push(c, s);
}

void gs_quic_stream_queue_changed(struct gs_quic_ep *ep, qconn *c)
{
    size_t low = ep->cfg.send_queue_low < ep->cfg.send_queue_max ? ep->cfg.send_queue_low
                                                                 : ep->cfg.send_queue_max;

    if (c->queued > low) {
        if (c->behind_since == GS_TSTAMP_NEVER) {
            c->behind_since = ep->now;
        }
    } else {
        c->behind_since = GS_TSTAMP_NEVER;
    }
}

/*
 * queue_prepare finds |c|'s open stream for |topic| or checks that a new one may be opened, and
 * checks the send queue's hard cap for |len| more bytes.  Stores the stream (NULL: a new one is
 * needed) in |*ps|.  Returns 0, GS_ERR_LIMIT or GS_ERR_AGAIN (counted).
 */
static int queue_prepare(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic, size_t len,
                         qsend **ps)
{
    qsend *s = find_send(c, topic);
    size_t need = len + (s == NULL ? GS_QUIC_FRAME_PREFIX + GS_QUIC_TOPIC_LEN : 0);

    if (s == NULL && c->nsends >= ep->cfg.max_topics_per_conn) {
        return GS_ERR_LIMIT;
    }
    if (c->queued + need > ep->cfg.send_queue_max) {
        if (!c->want_writable || c->writable_at > ep->cfg.send_queue_max / 2) {
            c->writable_at = ep->cfg.send_queue_max / 2;
        }
        c->want_writable = true;
        ++ep->stats.send_queue_drops;
        return GS_ERR_AGAIN;
    }
    *ps = s;
    return 0;
}

/* open_send creates |c|'s stream for |topic| with its header frame queued (not yet linked). */
static int open_send(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic, qsend **ps)
{
    static const uint8_t hdr_prefix[GS_QUIC_FRAME_PREFIX] = {0, 0, 0, GS_QUIC_TOPIC_LEN};
    qsend *s = gs_mem_calloc(ep->mem, 1, sizeof(*s));

    if (s == NULL) {
        return GS_ERR_NOMEM;
    }
    s->kind = QSTREAM_SEND;
    s->id = -1;
    memcpy(s->topic, topic, GS_QUIC_TOPIC_LEN);
    const uint8_t *parts[2] = {hdr_prefix, topic};
    size_t lens[2] = {GS_QUIC_FRAME_PREFIX, GS_QUIC_TOPIC_LEN};
    int rv = append(ep, c, s, parts, lens, 2);
    if (rv != 0) {
        gs_mem_free(ep->mem, s);
        return rv;
    }
    *ps = s;
    return 0;
}

/* link_send adds the new stream |s| to |c|'s streams. */
static void link_send(qconn *c, qsend *s)
{
    s->next = c->sends;
    c->sends = s;
    ++c->nsends;
}

/* unopen_send frees a stream made by open_send that could not take its first frame. */
static void unopen_send(struct gs_quic_ep *ep, qconn *c, qsend *s)
{
    link_send(c, s);
    send_free(ep, c, s);
}

int gs_quic_stream_queue(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic,
                         const uint8_t *frame, size_t len)
{
    qsend *s = NULL;
    if (c->v0) {
        return gs_quic_v0_queue(ep, c, topic, frame, len, NULL, NULL);
    }
    int rv = queue_prepare(ep, c, topic, len, &s);

    if (rv != 0) {
        return rv;
    }
    const uint8_t *parts[1] = {frame};
    size_t lens[1] = {len};
    if (s != NULL) {
        return append(ep, c, s, parts, lens, 1);
    }
    rv = open_send(ep, c, topic, &s);
    if (rv != 0) {
        return rv;
    }
    rv = append(ep, c, s, parts, lens, 1);
    if (rv != 0) {
        unopen_send(ep, c, s);
        return rv;
    }
    link_send(c, s);
    return 0;
}

int gs_quic_stream_queue_ref(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic,
                             const uint8_t *frame, size_t len, void (*release)(void *arg),
                             void *arg)
{
    qsend *s = NULL;
    if (c->v0) {
        return gs_quic_v0_queue(ep, c, topic, frame, len, release, arg);
    }
    int rv = queue_prepare(ep, c, topic, len, &s);

    if (rv != 0) {
        return rv;
    }
    qchunk *ch = ref_get(ep, frame, len, NULL, NULL);
    if (ch == NULL) {
        return GS_ERR_NOMEM;
    }
    bool fresh = s == NULL;
    if (fresh) {
        rv = open_send(ep, c, topic, &s);
        if (rv != 0) {
            gs_quic_chunk_put(ep, ch); /* no release set yet: only the header is recycled */
            return rv;
        }
        link_send(c, s);
    }
    ch->release = release; /* from here on the stream owns the reference */
    ch->arg = arg;
    append_ref(ep, c, s, ch);
    ++ep->stats.frames_ref;
    return 0;
}

int gs_quic_stream_finish(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic)
{
    (void)ep;
    qsend *s = find_send(c, topic);
    if (s == NULL) {
        return GS_ERR_NOTFOUND;
    }
    s->finishing = true;
    ready_push(c, s);
    return 0;
}

size_t gs_quic_stream_iov(qsend *s, ngtcp2_vec *v, size_t maxv, size_t maxbytes)
{
    size_t n = 0;
    size_t total = 0;
    qchunk *ch = s->wchunk;
    size_t off = s->woff;

    /* Stop once one packet's worth is covered: walking further touches cold chunks for nothing. */
    while (ch != NULL && n < maxv && total < maxbytes) {
        if (off < ch->len) {
            v[n].base = (uint8_t *)(uintptr_t)(ch->base + off);
            v[n].len = ch->len - off;
            total += v[n].len;
            ++n;
        }
        ch = ch->next;
        off = 0;
    }
    return n;
}

void gs_quic_stream_advance(qconn *c, qsend *s, size_t n, bool fin_written)
{
    s->sent += n;
    while (n > 0) {
        size_t k = s->wchunk->len - s->woff;
        if (k > n) {
            k = n;
        }
        s->woff += k;
        n -= k;
        if (s->woff == s->wchunk->len && s->wchunk->next != NULL) {
            s->wchunk = s->wchunk->next;
            s->woff = 0;
        }
    }
    if (s->wchunk != NULL && s->woff == s->wchunk->len && s->wchunk->next == NULL &&
        s->woff == s->wchunk->cap) {
        /* Fully written full chunk: the next byte goes to a chunk not allocated yet. */
        s->wchunk = NULL;
        s->woff = 0;
    }
    if (fin_written) {
        s->fin_sent = true;
    }
    if (s->sent == s->end && (!s->finishing || s->fin_sent)) {
        ready_remove(c, s);
    }
}

bool gs_quic_stream_has_pending(const qconn *c)
{
    return c->ready_head != NULL;
}

void gs_quic_stream_unblock(qconn *c)
{
    for (qsend *s = c->ready_head; s != NULL; s = s->ready_next) {
        s->blocked = false;
    }
}

/* gs_quic_stream_rotate moves the head of the ready list to its tail (round robin). */
void gs_quic_stream_rotate(qconn *c)
{
    qsend *s = c->ready_head;
    if (s == NULL || s == c->ready_tail) {
        return;
    }
    c->ready_head = s->ready_next;
    s->ready_next = NULL;
    c->ready_tail->ready_next = s;
    c->ready_tail = s;
}

void gs_quic_stream_kill(qconn *c, qsend *s)
{
    s->dead = true;
    ready_remove(c, s);
}

int gs_quic_stream_on_open(struct gs_quic_ep *ep, qconn *c, int64_t id)
{
    if ((id & 0x2) == 0) {
        /* /1 never uses bidirectional streams; a /0 acceptor takes the dialer's one. */
        return gs_quic_v0_on_open(ep, c, id);
    }
    qrecv *r = gs_quic_stream_new_recv(ep, c, id);
    if (r == NULL) {
        return GS_ERR_NOMEM;
    }
    ++ep->stats.streams_in;
    ngtcp2_conn_set_stream_user_data(c->nc, id, r);
    gs_quic_stream_credit_more(ep, c); /* the peer keeps stream_credit unopened streams ahead */
    return 0;
}

qrecv *gs_quic_stream_new_recv(struct gs_quic_ep *ep, qconn *c, int64_t id)
{
    qrecv *r = gs_mem_calloc(ep->mem, 1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->kind = QSTREAM_RECV;
    r->id = id;
    r->conn = c;
    r->next = c->recvs;
    if (c->recvs != NULL) {
        c->recvs->prev = r;
    }
    c->recvs = r;
    return r;
}

/* deliver hands one complete frame body to the layer above (or takes it as the stream header). */
static void deliver(struct gs_quic_ep *ep, qconn *c, qrecv *r, const uint8_t *body, size_t len,
                    int64_t *pstop)
{
    if (!r->have_topic) {
        /* The stream header's body is the 32-byte topic (postcard ignores trailing bytes). */
        if (len < GS_QUIC_TOPIC_LEN) {
            ++ep->stats.stream_errors;
            r->stopped = true;
            *pstop = r->id;
            return;
        }
        memcpy(r->topic, body, GS_QUIC_TOPIC_LEN);
        r->have_topic = true;
        return;
    }
    const uint8_t *topic = r->topic;
    if (r->v0) {
        /* /0: every frame body is the topic followed by the message (PROTOCOL.md 12). */
        if (len < GS_QUIC_TOPIC_LEN) {
            r->stopped = true;
            *pstop = r->id;
            gs_quic_v0_fail(ep, c, "short /0 frame");
            return;
        }
        topic = body;
        body += GS_QUIC_TOPIC_LEN;
        len -= GS_QUIC_TOPIC_LEN;
    }
    ++ep->stats.frames_in;
    ep->stats.frame_bytes_in += len;
    if (ep->cb.on_frame != NULL) {
        ep->cb.on_frame(ep->cb.user_data, c->handle, c->peer, topic, body, len);
    }
}

/* evict takes |v|'s buffer back: |v|'s stream (of connection v->conn) is stopped and finished.
 * |cur| is the connection being read: its streams are stopped once the read returns. */
static bool evict(struct gs_quic_ep *ep, qconn *cur, qrecv *v)
{
    qconn *vc = v->conn;
    int64_t id = v->id;

    if (vc == cur && ep->nstops >= ep->stops_cap) {
        return false;
    }
    ++ep->stats.rx_buffer_evicted;
    ++ep->stats.stream_errors;
    /* First detach and free our state (the stream's user data becomes NULL), so that nothing
     * ngtcp2 calls back while stopping the stream can reach it. */
    gs_quic_conn_recv_finished(ep, vc, id, v);
    if (vc == cur) {
        ep->stops[ep->nstops++] = id;
    } else {
        (void)ngtcp2_conn_shutdown_stream_read(vc->nc, id, 0);
        gs_quic_conn_mark_dirty(ep, vc);
    }
    return true;
}

/* conn_oldest returns |c|'s oldest partial-frame buffer other than |r|'s, or NULL. */
static qrecv *conn_oldest(qconn *c, const qrecv *r)
{
    qrecv *best = NULL;

    for (qrecv *it = c->recvs; it != NULL; it = it->next) {
        if (it != r && it->body != NULL && (best == NULL || it->buf_seq < best->buf_seq)) {
            best = it;
        }
    }
    return best;
}

/* Buffers looked at, oldest first, when the total is reached (bounds the work per packet). */
#define EVICT_SCAN 64

/*
 * body_alloc gives |r| (a stream of |c|) a partial-frame buffer within the per-connection share
 * and the total, taking one back from a connection that may give way (see the file comment).
 * Returns 0 or GS_ERR_LIMIT / GS_ERR_NOMEM (counted; the caller stops |r|).
 */
static int body_alloc(struct gs_quic_ep *ep, qconn *c, qrecv *r)
{
    size_t m = ep->cfg.max_message_size;
    size_t share =
        ep->cfg.rx_buffer_conn_max != 0 ? ep->cfg.rx_buffer_conn_max : ep->cfg.rx_buffer_max / 64;

    if (share < m) {
        share = m;
    }
    if (c->rx_buffered + m > share) {
        qrecv *own = conn_oldest(c, r);
        if (own == NULL || !evict(ep, c, own)) {
            ++ep->stats.rx_buffer_refused;
            return GS_ERR_LIMIT;
        }
    }
    if (ep->stats.rx_buffered + m > ep->cfg.rx_buffer_max) {
        qrecv *victim = NULL;
        size_t n = 0;
        for (qrecv *it = ep->buf_head; it != NULL && n < EVICT_SCAN; it = it->buf_next, ++n) {
            if (it != r && it->conn->rx_buffered >= c->rx_buffered + m) {
                victim = it;
                break;
            }
        }
        if (victim == NULL || !evict(ep, c, victim)) {
            ++ep->stats.rx_buffer_refused;
            return GS_ERR_LIMIT;
        }
    }
    r->body = gs_mem_malloc(ep->mem, m);
    if (r->body == NULL) {
        return GS_ERR_NOMEM;
    }
    r->buf_seq = ++ep->buf_seq;
    r->buf_next = NULL;
    r->buf_prev = ep->buf_tail;
    if (ep->buf_tail != NULL) {
        ep->buf_tail->buf_next = r;
    } else {
        ep->buf_head = r;
    }
    ep->buf_tail = r;
    ep->stats.rx_buffered += m;
    c->rx_buffered += m;
    return 0;
}

int gs_quic_stream_on_data(struct gs_quic_ep *ep, qconn *c, int64_t id, uint32_t flags,
                           const uint8_t *data, size_t len, void *sud, int64_t *pstop)
{
    qrecv *r = sud;
    const uint8_t *p = data;
    size_t left = len;

    if (r != NULL && r->kind == QSTREAM_SEND) {
        /* A /0 bidi stream: its user data is the send side, the receive side is c->v0rx. */
        r = c->v0rx != NULL && c->v0rx->id == id ? c->v0rx : NULL;
    }
    if (r == NULL || r->kind != QSTREAM_RECV || r->stopped) {
        return 0; /* a stream we are done with: its bytes are discarded (credit still returned) */
    }
    while (left > 0 && !r->stopped) {
        if (!r->in_body) {
            size_t k = GS_QUIC_FRAME_PREFIX - r->npfx;
            if (k > left) {
                k = left;
            }
            memcpy(r->pfx + r->npfx, p, k);
            r->npfx += k;
            p += k;
            left -= k;
            if (r->npfx < GS_QUIC_FRAME_PREFIX) {
                break;
            }
            uint32_t flen = ((uint32_t)r->pfx[0] << 24) | ((uint32_t)r->pfx[1] << 16) |
                            ((uint32_t)r->pfx[2] << 8) | r->pfx[3];
            r->npfx = 0;
            if (flen > ep->cfg.max_message_size) {
                /* Rejected as soon as the prefix is read: no body byte is buffered. */
                ++ep->stats.frames_oversize;
                ++ep->stats.stream_errors;
                r->stopped = true;
                *pstop = id;
                break;
            }
            if (flen == 0) {
                deliver(ep, c, r, p, 0, pstop);
                continue;
            }
            r->need = flen;
            r->nbody = 0;
            r->in_body = true;
        }
        if (r->nbody == 0 && left >= r->need) {
            /* The whole body is in this chunk: hand it up without copying. */
            size_t k = r->need;
            r->in_body = false;
            deliver(ep, c, r, p, k, pstop);
            p += k;
            left -= k;
            continue;
        }
        if (r->body == NULL && body_alloc(ep, c, r) != 0) {
            ++ep->stats.stream_errors;
            r->stopped = true;
            *pstop = id;
            break;
        }
        size_t k = r->need - r->nbody;
        if (k > left) {
            k = left;
        }
        memcpy(r->body + r->nbody, p, k);
        r->nbody += k;
        p += k;
        left -= k;
        if (r->nbody == r->need) {
            r->in_body = false;
            r->nbody = 0;
            deliver(ep, c, r, r->body, r->need, pstop);
        }
    }
    if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0 && !r->stopped && r->in_body) {
        /* An end of stream inside a body is an error (inside a prefix it is a clean end). */
        ++ep->stats.stream_errors;
    }
    if (r->v0) {
        /* The /0 connection's only stream ended or failed: so did the connection (0.35 ends
         * its connection loop on any stream error).  Its records go with the connection. */
        if (r->stopped || ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0 && r->in_body)) {
            r->stopped = true;
            gs_quic_v0_fail(ep, c, "/0 stream failed");
        } else if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0) {
            /* A clean end on a frame boundary: the peer's connection loop is done with us. */
            r->stopped = true;
            gs_quic_v0_close(ep, c, "/0 stream finished by the peer");
        }
        return 0;
    }
    /* Done with this stream: everything up to FIN was delivered, or we stopped it. */
    return (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0 || r->stopped ? 1 : 0;
}

void gs_quic_stream_recv_done(struct gs_quic_ep *ep, qconn *c, int64_t id, void *sud)
{
    qrecv *r = sud;
    if (r == NULL || r->kind != QSTREAM_RECV) {
        return;
    }
    ngtcp2_conn_set_stream_user_data(c->nc, id, NULL);
    recv_free(ep, c, r);
}

int gs_quic_stream_on_acked(struct gs_quic_ep *ep, qconn *c, int64_t id, uint64_t off, uint64_t len,
                            void *sud)
{
    (void)id;
    (void)off;
    qsend *s = sud;
    if (s == NULL || s->kind != QSTREAM_SEND) {
        return 0;
    }
    /* ngtcp2 reports acknowledged ranges in order, without overlap. */
    s->acked += len;
    c->queued -= (size_t)len;
    gs_quic_stream_queue_changed(ep, c);
    size_t left = (size_t)len;
    while (left > 0 && s->head != NULL) {
        size_t k = s->head->len - s->head_off;
        if (k > left) {
            k = left;
        }
        s->head_off += k;
        left -= k;
        /* A fully acknowledged chunk goes once it is closed for appends (full, or followed by
         * another chunk) and no longer the write position. */
        if (s->head_off == s->head->len &&
            (s->head->len == s->head->cap || s->head->next != NULL) && s->head != s->wchunk) {
            qchunk *old = s->head;
            s->head = old->next;
            s->head_off = 0;
            if (s->head == NULL) {
                s->tail = NULL;
            }
            gs_quic_chunk_put(ep, old);
        }
    }
    return 0;
}

void gs_quic_stream_on_close(struct gs_quic_ep *ep, qconn *c, int64_t id, void *sud)
{
    (void)id;
    uint8_t *kind = sud;
    if (kind == NULL) {
        return;
    }
    if (*kind == QSTREAM_SEND) {
        send_free(ep, c, sud);
    } else {
        recv_free(ep, c, sud);
    }
}

void gs_quic_stream_on_stop(struct gs_quic_ep *ep, qconn *c, void *sud)
{
    qsend *s = sud;
    if (s == NULL || s->kind != QSTREAM_SEND) {
        return;
    }
    ++ep->stats.stream_errors;
    gs_quic_stream_kill(c, s);
    if (s->v0) {
        gs_quic_v0_fail(ep, c, "/0 stream stopped by the peer");
    }
}

int gs_quic_stream_append(struct gs_quic_ep *ep, qconn *c, qsend *s, const uint8_t *const *parts,
                          const size_t *lens, size_t n)
{
    return append(ep, c, s, parts, lens, n);
}

int gs_quic_stream_append_ref(struct gs_quic_ep *ep, qconn *c, qsend *s, const uint8_t *frame,
                              size_t len, void (*release)(void *arg), void *arg)
{
    qchunk *ch = ref_get(ep, frame, len, release, arg);
    if (ch == NULL) {
        return GS_ERR_NOMEM;
    }
    append_ref(ep, c, s, ch);
    ++ep->stats.frames_ref;
    return 0;
}

void gs_quic_stream_link(qconn *c, qsend *s)
{
    link_send(c, s);
}

void gs_quic_stream_send_free(struct gs_quic_ep *ep, qconn *c, qsend *s)
{
    send_free(ep, c, s);
}

void gs_quic_stream_ready(qconn *c, qsend *s)
{
    if (s->sent < s->end || (s->finishing && !s->fin_sent)) {
        ready_push(c, s);
    }
}
