/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stream.c: libFuzzer target over the QUIC endpoint's incoming stream framing
 * (io/quic_stream.c: stream bytes -> topic header frame + u32-BE length-prefixed frames, the
 * max_message_size rule, STOP on an over-limit prefix or a short header, the rx_buffer_max bound).
 *
 * Entry point: the ngtcp2 callback bodies gs_quic_stream_on_open / gs_quic_stream_on_data /
 * gs_quic_stream_recv_done (quic_int.h), called exactly as quic.c's callbacks call them, on a
 * real endpoint and a real (client, not yet handshaken) connection made with gs_quic_ep_connect.
 * The endpoints are made once per process; every input opens fresh streams on them and must
 * leave them as it found them (no stream state, no buffered bytes).  Driving a full in-memory
 * connection pair instead would put a TLS handshake and QUIC packet protection in front of every
 * input for no extra coverage of the framing code.
 *
 * The input is a program of chunks: each step picks one of 4 streams (a finished stream is
 * replaced by a new one), a FIN flag and the chunk's bytes: raw input bytes, or (for coverage) a
 * well-formed stream header frame or a frame prefix with a chosen length followed by input bytes.
 * A shadow parser, written independently of quic_stream.c, keeps every stream's bytes and computes
 * the frames that must have been reported so far; after every call the harness checks that:
 *   - the frames reported through on_frame for that stream are exactly the expected ones (same
 *     bodies, same topic, same order), each with a body length <= max_message_size;
 *   - nothing is reported after an over-limit prefix or a bad header (the stream is stopped:
 *     *pstop is set, on_data says "done", frames_oversize / stream_errors count it);
 *   - the partial-frame buffer gauge (rx_buffered) equals the shadow's, streams needing a buffer
 *     past rx_buffer_max are stopped and counted;
 *   - at the end of the input every stream is finished, the connection holds no stream state and
 *     rx_buffered is back to 0.  A violation aborts (a finding).
 * Without libFuzzer, fuzz_replay.c supplies a main() that replays every file of a directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "identity.h"
#include "quic.h"
#include "../../io/quic_int.h" /* internal: the endpoint's stream state */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NSTREAMS  4
#define FZ_NPROFILES 3
#define FZ_MAXFRAMES 4096

static void fz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_stream: invariant broken: %s\n", what);
        abort();
    }
}

/* --- frames reported by the endpoint: checked against the shadow during the call --- */

struct fz_shadow;
static const struct fz_shadow *g_cur; /* the stream being fed */
static size_t g_next;                 /* index of the next expected frame */
static size_t g_end;                  /* expected frames after this call */
static size_t g_maxmsg;

static void fz_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                        const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len);

/* --- endpoints: one per profile (max_message_size, rx_buffer_max) --- */

typedef struct fz_profile {
    uint32_t max_message_size;
    size_t rx_buffer_max;
    gs_quic_ep *ep;
    qconn *c;
} fz_profile;

static fz_profile g_prof[FZ_NPROFILES] = {
    {512, 2 * 512, NULL, NULL},           /* two streams may buffer a partial frame at a time */
    {4096, (size_t)64 << 20, NULL, NULL}, /* the defaults */
    {600, 600, NULL, NULL},               /* one stream at a time */
};

static void fz_setup(fz_profile *pr)
{
    gs_quic_cfg cfg;
    gs_quic_callbacks cb;
    gs_identity self;
    gs_identity other;
    uint8_t seed[GS_ID_SEED_LEN];
    gs_quic_addr local;
    gs_quic_addr remote;
    struct sockaddr_in sin;
    gs_quic_conn_id conn = 0;

    gs_quic_cfg_default(&cfg);
    cfg.max_message_size = pr->max_message_size;
    cfg.rx_buffer_max = pr->rx_buffer_max;
    /* one connection whose share is above the whole budget: only the total binds, and the
     * shadow's rule (refuse past rx_buffer_max) is the endpoint's, since eviction needs another
     * connection using more (none here) */
    cfg.rx_buffer_conn_max = pr->rx_buffer_max + pr->max_message_size;
    cfg.max_conns = 4;
    memset(&cb, 0, sizeof(cb));
    cb.on_frame = fz_on_frame;
    memset(seed, 0x11, sizeof(seed));
    fz_check(gs_identity_from_seed(&self, seed) == 0, "identity");
    memset(seed, 0x22, sizeof(seed));
    fz_check(gs_identity_from_seed(&other, seed) == 0, "identity");
    fz_check(gs_quic_ep_new(&pr->ep, &cfg, &self, &cb, gs_mem_default()) == 0, "gs_quic_ep_new");
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(4000);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    gs_quic_addr_set(&local, (const struct sockaddr *)&sin, sizeof(sin));
    sin.sin_port = htons(4001);
    sin.sin_addr.s_addr = htonl(0x7f000002);
    gs_quic_addr_set(&remote, (const struct sockaddr *)&sin, sizeof(sin));
    fz_check(gs_quic_ep_connect(pr->ep, other.pk, &local, &remote, 1000 * GS_SECONDS, &conn) == 0,
             "gs_quic_ep_connect");
    for (size_t i = 0; i < 4; ++i) {
        if (pr->ep->conns[i] != NULL && pr->ep->conns[i]->handle == conn) {
            pr->c = pr->ep->conns[i];
        }
    }
    fz_check(pr->c != NULL, "the connection's slot");
}

/* --- the shadow parser: the whole stream kept, frames recomputed from its start --- */

typedef struct fz_shadow {
    bool open;
    int64_t id;
    qrecv *r;
    uint8_t *buf; /* every byte of the stream so far */
    size_t len;
    size_t cap;
    size_t pos; /* start of the next frame not yet complete */
    bool have_topic;
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    bool stopped;
    bool has_buf;     /* holds a partial-frame buffer (kept until the stream ends) */
    size_t nexpected; /* frames (after the header) that must have been reported */
    size_t exp_off[FZ_MAXFRAMES];
    size_t exp_len[FZ_MAXFRAMES];
} fz_shadow;

typedef struct fz_run {
    fz_profile *pr;
    fz_shadow s[FZ_NSTREAMS];
    int64_t next_id;
    size_t buffered; /* shadow of stats.rx_buffered */
} fz_run;

static void fz_append(fz_shadow *s, const uint8_t *p, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = s->cap == 0 ? 4096 : s->cap;
        while (cap < s->len + n) {
            cap *= 2;
        }
        uint8_t *b = realloc(s->buf, cap);
        fz_check(b != NULL, "realloc");
        s->buf = b;
        s->cap = cap;
    }
    if (n > 0) {
        memcpy(s->buf + s->len, p, n);
    }
    s->len += n;
}

/* fz_shadow_chunk parses what the chunk [a, s->len) completes.  Returns true if the stream got
 * stopped by this chunk; |*oversize| and |*refused| say why. */
static bool fz_shadow_chunk(fz_run *run, fz_shadow *s, size_t a, bool *oversize, bool *refused)
{
    size_t m = run->pr->max_message_size;
    size_t b = s->len;
    while (!s->stopped && s->pos + GS_QUIC_FRAME_PREFIX <= b) {
        const uint8_t *q = s->buf + s->pos;
        uint32_t flen = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) |
                        (uint32_t)q[3];
        if (flen > m) {
            s->stopped = true;
            *oversize = true;
            return true;
        }
        size_t bs = s->pos + GS_QUIC_FRAME_PREFIX;
        size_t be = bs + flen;
        if (be > b) {
            /* incomplete: a frame whose prefix ends in this chunk and whose body does not
             * (even one with no body byte in this chunk yet) needs a partial-frame buffer now;
             * the buffer is kept until the stream ends */
            if (bs > a && !s->has_buf) {
                if (run->buffered + m > run->pr->rx_buffer_max) {
                    s->stopped = true;
                    *refused = true;
                    return true;
                }
                s->has_buf = true;
                run->buffered += m;
            }
            break;
        }
        if (!s->have_topic) {
            if (flen < GS_QUIC_TOPIC_LEN) {
                s->stopped = true;
                return true;
            }
            memcpy(s->topic, s->buf + bs, GS_QUIC_TOPIC_LEN);
            s->have_topic = true;
        } else {
            fz_check(s->nexpected < FZ_MAXFRAMES, "harness: too many frames");
            s->exp_off[s->nexpected] = bs;
            s->exp_len[s->nexpected] = flen;
            ++s->nexpected;
        }
        s->pos = be;
    }
    return false;
}

static void fz_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                        const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    (void)ud;
    (void)conn;
    (void)peer;
    const fz_shadow *s = g_cur;
    fz_check(s != NULL, "a frame reported outside a data call");
    fz_check(len <= g_maxmsg, "reported body <= max_message_size");
    fz_check(g_next < g_end, "no frame reported beyond the expected ones");
    fz_check(len == s->exp_len[g_next], "reported body length == sent length");
    fz_check(len == 0 || memcmp(body, s->buf + s->exp_off[g_next], len) == 0,
             "reported body == the bytes sent at that position");
    fz_check(memcmp(topic, s->topic, GS_QUIC_TOPIC_LEN) == 0,
             "reported topic == the stream header's");
    ++g_next;
}

static void fz_open(fz_run *run, fz_shadow *s)
{
    qconn *c = run->pr->c;
    memset(s, 0, offsetof(fz_shadow, exp_off));
    s->buf = NULL;
    s->id = run->next_id;
    run->next_id += 4;
    fz_check(gs_quic_stream_on_open(run->pr->ep, c, s->id) == 0, "on_open");
    s->r = c->recvs;
    fz_check(s->r != NULL && s->r->id == s->id && s->r->kind == QSTREAM_RECV, "on_open state");
    s->open = true;
}

static void fz_close(fz_run *run, fz_shadow *s)
{
    gs_quic_stream_recv_done(run->pr->ep, run->pr->c, s->id, s->r);
    if (s->has_buf) {
        run->buffered -= run->pr->max_message_size;
    }
    s->open = false;
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* fz_feed hands one chunk to the endpoint and checks the result against the shadow. */
static void fz_feed(fz_run *run, fz_shadow *s, const uint8_t *p, size_t n, bool fin)
{
    gs_quic_ep *ep = run->pr->ep;
    const gs_quic_stats *st = gs_quic_ep_stats_get(ep);
    uint64_t oversize0 = st->frames_oversize;
    uint64_t errors0 = st->stream_errors;
    uint64_t refused0 = st->rx_buffer_refused;
    uint64_t frames0 = st->frames_in;
    int64_t stop = -1;
    bool oversize = false;
    bool refused = false;

    if (!s->open) {
        fz_open(run, s);
    }
    bool was_stopped = s->stopped;
    size_t a = s->len;
    size_t before = s->nexpected;
    if (!was_stopped) {
        fz_append(s, p, n);
    }
    bool stopped_now = !was_stopped && fz_shadow_chunk(run, s, a, &oversize, &refused);

    /* an exact-size copy of the chunk so ASan sees any read past it */
    uint8_t *copy = malloc(n > 0 ? n : 1);
    fz_check(copy != NULL, "malloc");
    if (n > 0) {
        memcpy(copy, p, n);
    }
    g_cur = s;
    g_next = before;
    g_end = s->nexpected;
    g_maxmsg = run->pr->max_message_size;
    int rv = gs_quic_stream_on_data(ep, run->pr->c, s->id, fin ? NGTCP2_STREAM_DATA_FLAG_FIN : 0,
                                    copy, n, s->r, &stop);
    free(copy);
    g_cur = NULL;
    fz_check(g_next == g_end, "every expected frame reported");
    size_t got_now = g_end - before;

    fz_check(st->frames_in - frames0 == got_now, "frames_in counts the reported frames");
    fz_check(stop == (stopped_now ? s->id : -1), "STOP requested exactly when stopped now");
    fz_check(st->frames_oversize - oversize0 == (oversize ? 1u : 0u), "frames_oversize counted");
    fz_check(st->rx_buffer_refused - refused0 == (refused ? 1u : 0u), "rx_buffer_refused counted");
    /* a FIN after a complete prefix and before the body's end is an error; inside a prefix it
     * is a clean end */
    bool fin_in_body = fin && !s->stopped && s->len >= s->pos + GS_QUIC_FRAME_PREFIX;
    fz_check(st->stream_errors - errors0 == (stopped_now || fin_in_body ? 1u : 0u),
             "stream_errors counted");
    fz_check(st->rx_buffered == run->buffered, "rx_buffered == the shadow's");
    fz_check(rv == (fin || s->stopped ? 1 : 0), "on_data says done exactly at FIN or stop");
    if (rv == 1) {
        fz_close(run, s);
    }
}

/* --- the input program --- */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
    size_t off;
} fz_in;

static uint8_t fz_u8(fz_in *in)
{
    return in->off < in->n ? in->p[in->off++] : 0;
}

static size_t fz_take(fz_in *in, size_t want, const uint8_t **pp)
{
    size_t left = in->n - in->off;
    size_t k = want < left ? want : left;
    *pp = in->p + in->off;
    in->off += k;
    return k;
}

static fz_run g_run;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size, 0};
    fz_run *run = &g_run;
    uint8_t gen[4 + 64];

    fz_profile *pr = &g_prof[fz_u8(&in) % FZ_NPROFILES];
    if (pr->ep == NULL) {
        fz_setup(pr);
    }
    memset(run, 0, sizeof(*run));
    run->pr = pr;
    run->next_id = 3; /* server-initiated unidirectional: the peer's streams on our client conn */
    fz_check(gs_quic_ep_stats_get(pr->ep)->rx_buffered == 0 && pr->c->recvs == NULL,
             "a clean connection at the start");

    for (size_t steps = 0; in.off < in.n && steps < 4096; ++steps) {
        uint8_t ctl = fz_u8(&in);
        fz_shadow *s = &run->s[ctl & 3];
        bool fin = (ctl & 4) != 0;
        const uint8_t *p;
        size_t n;
        switch (ctl >> 4) {
        case 15: /* a well-formed stream header frame */
            gen[0] = gen[1] = gen[2] = 0;
            gen[3] = GS_QUIC_TOPIC_LEN;
            memset(gen + 4, fz_u8(&in), GS_QUIC_TOPIC_LEN);
            fz_feed(run, s, gen, 4 + GS_QUIC_TOPIC_LEN, fin);
            break;
        case 14: { /* a frame prefix around max_message_size, then up to 255 input bytes */
            uint8_t d = fz_u8(&in);
            uint32_t flen = pr->max_message_size - 8 + (uint32_t)(d & 15);
            if ((d & 0x10) != 0) {
                flen = (uint32_t)(d >> 5);
            }
            gen[0] = (uint8_t)(flen >> 24);
            gen[1] = (uint8_t)(flen >> 16);
            gen[2] = (uint8_t)(flen >> 8);
            gen[3] = (uint8_t)flen;
            n = fz_take(&in, fz_u8(&in), &p);
            fz_check(n <= 255, "harness: chunk");
            memcpy(gen + 4, p, n < 64 ? n : 64);
            fz_feed(run, s, gen, 4 + (n < 64 ? n : 64), fin);
            break;
        }
        default: { /* raw bytes: short chunks mostly, long ones when bit 3 is set */
            size_t want = fz_u8(&in);
            if ((ctl & 8) != 0) {
                want = want << 4 | (ctl >> 4);
            }
            n = fz_take(&in, want, &p);
            fz_feed(run, s, p, n, fin);
            break;
        }
        }
    }
    /* End every stream still open with an empty FIN (a FIN inside a body is counted). */
    for (size_t i = 0; i < FZ_NSTREAMS; ++i) {
        if (run->s[i].open) {
            fz_feed(run, &run->s[i], NULL, 0, true);
        }
        fz_check(!run->s[i].open, "FIN finishes a stream");
    }
    fz_check(pr->c->recvs == NULL, "no stream state left on the connection");
    fz_check(gs_quic_ep_stats_get(pr->ep)->rx_buffered == 0, "no partial-frame buffer left");
    return 0;
}
