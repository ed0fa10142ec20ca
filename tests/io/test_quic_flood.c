/* SPDX-License-Identifier: MIT */
/*
 * test_quic_flood.c: the admission and memory limits of the QUIC endpoint under attack, against
 * a real server engine (io_uring, UDP on loopback).  The attackers are engines too, whose
 * connections are made here with one ngtcp2 callback replaced: |att_encrypt| rewrites the
 * plaintext of the packets they send before it is encrypted, so an attacker writes the frames it
 * wants (sparse stream bytes, a ClientHello cut short) inside well-formed, authenticated packets.
 * Every test runs the attack, has a legitimate client connect and send frames meanwhile from
 * another prefix, and checks that all its frames arrive, that the server's memory stays within
 * its budget and that the attack is counted.  Each loop is bounded by a wall-clock deadline.
 *
 * Loopback addresses: the server listens on 127.0.0.1, attackers on 127.0.0.x and 127.0.2.x,
 * the client on 127.0.1.1; with prefix4_len = 24 these are three prefixes.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "engine.h"
#include "fake_mem.h"
#include "quic_int.h" /* internal: attacker connections with a replaced encrypt callback */

#if defined(__SANITIZE_ADDRESS__)
#    define FLOOD_ASAN 1
#elif defined(__has_feature)
#    if __has_feature(address_sanitizer)
#        define FLOOD_ASAN 1
#    endif
#endif

typedef struct fpeer {
    gs_engine *e;
    gs_identity id;
    gs_fake_mem fm;
    size_t nconnected;
    size_t nclosed;
    size_t nframes;
} fpeer;

static void f_connected(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                        gs_quic_dir dir)
{
    (void)conn;
    (void)id;
    (void)dir;
    ++((fpeer *)ud)->nconnected;
}

static void f_frame(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN],
                    const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    (void)conn;
    (void)id;
    (void)topic;
    (void)body;
    (void)len;
    ++((fpeer *)ud)->nframes;
}

static void f_closed(void *ud, gs_quic_conn_id conn, const uint8_t id[GS_ID_LEN], int rv,
                     uint64_t app_error, const char *reason, bool was_send_path)
{
    (void)conn;
    (void)id;
    (void)rv;
    (void)app_error;
    (void)reason;
    (void)was_send_path;
    ++((fpeer *)ud)->nclosed;
}

/* f_start creates |p|'s engine on |listen| with identity seed |seed| and endpoint config |q|. */
static void f_start(fpeer *p, uint8_t seed, const char *listen, const gs_quic_cfg *q)
{
    uint8_t s[GS_ID_SEED_LEN];
    gs_engine_cfg cfg;

    memset(p, 0, sizeof(*p));
    memset(s, seed, sizeof(s));
    cr_assert(eq(int, gs_identity_from_seed(&p->id, s), 0));
    gs_engine_cfg_default(&cfg);
    cr_assert(eq(int, gs_udp_addr_parse(&cfg.listen[0], listen), 0));
    cfg.nlisten = 1;
    cfg.quic = *q;
    cfg.cb.user_data = p;
    cfg.cb.on_connected = f_connected;
    cfg.cb.on_frame = f_frame;
    cfg.cb.on_closed = f_closed;
    cfg.nrecv_bufs = 64;
    cfg.nsend_slots = 32;
    gs_fake_mem_init(&p->fm, 0);
    int rv = gs_engine_new(&p->e, &cfg, &p->id, &p->fm.mem);
    if (rv == GS_ERR_UNSUPPORTED) {
        cr_skip_test("io_uring feature missing");
    }
    cr_assert(eq(int, rv, 0), "gs_engine_new %s: %s", listen, gs_strerror(rv));
}

static void f_del(fpeer *p)
{
    gs_engine_del(p->e);
    p->e = NULL;
}

/* An attacker's or client's endpoint: no limits of its own in the way. */
static gs_quic_cfg open_cfg(void)
{
    gs_quic_cfg q;

    gs_quic_cfg_default(&q);
    q.max_conns = 4096;
    q.max_conns_per_addr = q.max_conns_per_prefix = 4096;
    q.max_halfopen = q.max_halfopen_per_prefix = 4096;
    q.rx_mem_max = q.rx_mem_prefix_max = (size_t)1 << 40;
    q.retry_mode = GS_QUIC_RETRY_OFF;
    return q;
}

/* turn runs every engine of |ps| once without waiting. */
static void turn(fpeer *const *ps, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        cr_assert(eq(int, gs_engine_run_once(ps[i]->e, 0), 0));
    }
    usleep(100);
}

static bool past(gs_tstamp end)
{
    return gs_uring_now() >= end;
}

/* rss_bytes returns the process's resident set size. */
static size_t rss_bytes(void)
{
    long pages = 0;
    long resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    cr_assert(not(eq(ptr, f, NULL)));
    cr_assert(eq(int, fscanf(f, "%ld %ld", &pages, &resident), 2));
    (void)fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---------------------------------------------------------------- the hostile encrypt callback */

enum {
    ATT_PASS = 0,    /* packets go out as ngtcp2 wrote them */
    ATT_SPARSE = 1,  /* 1-RTT packets: one stream byte every 8 KiB of offset, within the window */
    ATT_PARTIAL = 2, /* Initial packets: the first 64 bytes of a 512-byte ClientHello */
};

#define ATT_MAXCONNS 64
#define ATT_STREAM0                                                                                \
    1                     /* first attacking stream index (stream id 2 + 4 * index): index 0       \
                             carries the connection's real topic stream */
#define ATT_CHUNK    8192 /* ngtcp2's reorder chunk */
#define ATT_NSTREAMS 20

/* The sparse pattern of one attacking connection, found by the server's connection id. */
typedef struct att_conn {
    uint8_t dcid[NGTCP2_MAX_CIDLEN];
    size_t dcidlen;
    ngtcp2_conn *nc; /* the attacker's side: how many streams the server allows by now */
    uint64_t w;      /* the server's initial_max_data */
    uint64_t sw;     /* its initial_max_stream_data_uni */
    uint64_t sum;
    uint64_t smax[ATT_NSTREAMS];
    unsigned j;
    uint64_t k;
    bool done;
    uint64_t bytes; /* stream bytes placed */
} att_conn;

static struct {
    int mode;
    att_conn conns[ATT_MAXCONNS];
    size_t nconns;
    uint64_t partial_initials;
} g_att;

static size_t put_varint(uint8_t *p, uint64_t v)
{
    if (v < 64) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v < 16384) {
        p[0] = (uint8_t)(0x40 | (v >> 8));
        p[1] = (uint8_t)v;
        return 2;
    }
    p[0] = (uint8_t)(0x80 | (v >> 24));
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* sparse_fill writes the next STREAM frames of |a|'s pattern into |buf| (|len| bytes, the rest
 * PADDING; a PING once the pattern is done). */
static void sparse_fill(att_conn *a, uint8_t *buf, size_t len)
{
    size_t off = 0;

    memset(buf, 0, len);
    while (!a->done && off + 12 <= len) {
        uint64_t o = a->k * ATT_CHUNK + 1;
        uint64_t next = a->sum - a->smax[a->j] + o + 1;
        if (o + 1 > a->sw || next > a->w) {
            /* the next stream only within the stream credit the server granted so far (it
             * grants one more for each stream opened); one index is the real stream's */
            if (++a->j >= ATT_NSTREAMS || a->sum + 2 > a->w ||
                ATT_STREAM0 + a->j >= 1 + ngtcp2_conn_get_streams_uni_left(a->nc)) {
                a->done = true;
                break;
            }
            a->k = 0;
            continue;
        }
        buf[off++] = 0x0e; /* STREAM with OFF and LEN */
        off += put_varint(buf + off, 2 + 4 * (uint64_t)(ATT_STREAM0 + a->j));
        off += put_varint(buf + off, o);
        off += put_varint(buf + off, 1);
        buf[off++] = 0xa5;
        a->sum = next;
        a->smax[a->j] = o + 1;
        ++a->k;
        ++a->bytes;
    }
    if (off < len) {
        buf[off] = 0x01; /* PING: keeps the packet ack-eliciting, never anything else */
    }
}

/* partial_fill writes a CRYPTO frame with the start of a ClientHello that never completes. */
static void partial_fill(uint8_t *buf, size_t len)
{
    memset(buf, 0, len);
    if (len < 80) {
        return;
    }
    buf[0] = 0x06; /* CRYPTO */
    buf[1] = 0x00; /* offset 0 */
    buf[2] = 0x40; /* length 64 (2-byte varint) */
    buf[3] = 64;
    buf[4] = 0x01; /* ClientHello */
    buf[5] = 0x00; /* of 512 bytes */
    buf[6] = 0x02;
    buf[7] = 0x00;
    buf[8] = 0x03; /* legacy_version */
    buf[9] = 0x03;
    randombytes_buf(buf + 10, 58);
    ++g_att.partial_initials;
}

static int att_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext,
                       size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
                       const uint8_t *aad, size_t aadlen)
{
    static uint8_t buf[2048];

    if (plaintextlen <= sizeof(buf) && aadlen > 0) {
        bool is_long = (aad[0] & 0x80) != 0;
        if (g_att.mode == ATT_SPARSE && !is_long && aadlen > 1) {
            for (size_t i = 0; i < g_att.nconns; ++i) {
                att_conn *a = &g_att.conns[i];
                if (aadlen > a->dcidlen && memcmp(aad + 1, a->dcid, a->dcidlen) == 0) {
                    sparse_fill(a, buf, plaintextlen);
                    plaintext = buf;
                    break;
                }
            }
        } else if (g_att.mode == ATT_PARTIAL && is_long && (aad[0] & 0x30) == 0) {
            partial_fill(buf, plaintextlen);
            plaintext = buf;
        }
    }
    return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext, plaintextlen, nonce, noncelen,
                                    aad, aadlen);
}

/* raw_dial opens a connection from |p| to |to| like gs_quic_ep_connect, with att_encrypt.
 * Returns its handle, or 0 when |p|'s endpoint refused it. */
static gs_quic_conn_id raw_dial(fpeer *p, const fpeer *to)
{
    gs_quic_ep *ep = gs_engine_quic(p->e);
    const gs_udp_addr *l = gs_engine_local(p->e, 0);
    const gs_udp_addr *r = gs_engine_local(to->e, 0);
    gs_quic_addr local;
    gs_quic_addr remote;
    ngtcp2_callbacks cbs;

    cr_assert(eq(int, gs_quic_addr_set(&local, &l->u.sa, l->len), 0));
    cr_assert(eq(int, gs_quic_addr_set(&remote, &r->u.sa, r->len), 0));
    qconn *c = gs_quic_conn_alloc(ep, false, &local, &remote);
    if (c == NULL) {
        return 0;
    }
    memcpy(c->peer, to->id.pk, GS_ID_LEN);
    c->peer_known = true;
    gs_quic_conn_callbacks(&cbs, false);
    cbs.encrypt = att_encrypt;
    cr_assert(eq(int, gs_quic_conn_dial(ep, c, &cbs, gs_uring_now()), 0));
    return c->handle;
}

/* client_frames connects |cli| to |srv| (through gs_engine_connect) and sends |n| frames of 200
 * bytes, turning |all| until they arrived or |end|.  Returns the frames that arrived. */
static size_t client_frames(fpeer *cli, fpeer *srv, fpeer *const *all, size_t nall, size_t n,
                            gs_tstamp end)
{
    uint8_t frame[204];
    gs_quic_conn_id conn = 0;
    size_t base = srv->nframes;

    cr_assert(eq(int, gs_engine_connect(cli->e, srv->id.pk, gs_engine_local(srv->e, 0), &conn), 0));
    while (cli->nconnected == 0 && !past(end)) {
        turn(all, nall);
    }
    cr_assert(eq(sz, cli->nconnected, 1), "the client did not connect during the attack");
    frame[0] = 0;
    frame[1] = 0;
    frame[2] = 0;
    frame[3] = 200;
    for (size_t i = 0; i < n; ++i) {
        uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x11, (uint8_t)i};
        memset(frame + 4, (int)i, 200);
        cr_assert(
            eq(int, gs_engine_send_frame(cli->e, srv->id.pk, topic, frame, sizeof(frame)), 0));
    }
    while (srv->nframes - base < n && !past(end)) {
        turn(all, nall);
    }
    return srv->nframes - base;
}

/* ---------------------------------------------------------------- prefixes */

/* The per-prefix cap keys on the first prefix6_len / prefix4_len bits: a /64 full of addresses
 * is one prefix (checked on the dial side, which shares gs_quic_admit with the accept path). */
Test(quic_flood, prefix_caps_group_addresses, .timeout = 30)
{
    gs_quic_cfg q = open_cfg();
    gs_identity id;
    gs_identity peer;
    uint8_t s[GS_ID_SEED_LEN];
    gs_fake_mem fm;
    gs_quic_ep *ep = NULL;
    gs_quic_addr local;
    gs_quic_addr remote;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    gs_quic_conn_id conn;

    memset(s, 1, sizeof(s));
    gs_identity_from_seed(&id, s);
    memset(s, 2, sizeof(s));
    gs_identity_from_seed(&peer, s);
    q.max_conns_per_prefix = 4;
    q.prefix4_len = 20;
    gs_fake_mem_init(&fm, 0);
    cr_assert(eq(int, gs_quic_ep_new(&ep, &q, &id, NULL, &fm.mem), 0));
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(4433);
    cr_assert(eq(int, inet_pton(AF_INET6, "::1", &a6.sin6_addr), 1));
    gs_quic_addr_set(&local, (struct sockaddr *)&a6, sizeof(a6));
    /* 4 distinct addresses of 2001:db8:1:2::/64 fill it; a 5th is refused; another /64 is not */
    for (int i = 0; i < 6; ++i) {
        char txt[64];
        (void)snprintf(txt, sizeof(txt), "2001:db8:1:2:%x::%x", i * 77, i + 1);
        cr_assert(eq(int, inet_pton(AF_INET6, txt, &a6.sin6_addr), 1));
        gs_quic_addr_set(&remote, (struct sockaddr *)&a6, sizeof(a6));
        int rv = gs_quic_ep_connect(ep, peer.pk, &local, &remote, 1, &conn);
        cr_assert(eq(int, rv, i < 4 ? 0 : GS_ERR_REFUSED), "address %d", i);
    }
    cr_assert(eq(int, inet_pton(AF_INET6, "2001:db8:1:3::1", &a6.sin6_addr), 1));
    gs_quic_addr_set(&remote, (struct sockaddr *)&a6, sizeof(a6));
    cr_assert(eq(int, gs_quic_ep_connect(ep, peer.pk, &local, &remote, 1, &conn), 0));
    /* IPv4 with prefix4_len 20: 10.1.0.0 - 10.1.15.255 is one prefix, 10.1.16.0 another */
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    a4.sin_port = htons(4433);
    a4.sin_addr.s_addr = htonl(0x7f000001);
    gs_quic_addr_set(&local, (struct sockaddr *)&a4, sizeof(a4));
    static const uint32_t v4[] = {0x0a010001, 0x0a010fff, 0x0a010801, 0x0a0100aa, 0x0a010302};
    for (size_t i = 0; i < 5; ++i) {
        a4.sin_addr.s_addr = htonl(v4[i]);
        gs_quic_addr_set(&remote, (struct sockaddr *)&a4, sizeof(a4));
        cr_assert(eq(int, gs_quic_ep_connect(ep, peer.pk, &local, &remote, 1, &conn),
                     i < 4 ? 0 : GS_ERR_REFUSED));
    }
    a4.sin_addr.s_addr = htonl(0x0a011001);
    gs_quic_addr_set(&remote, (struct sockaddr *)&a4, sizeof(a4));
    cr_assert(eq(int, gs_quic_ep_connect(ep, peer.pk, &local, &remote, 1, &conn), 0));
    const gs_quic_stats *st = gs_quic_ep_stats_get(ep);
    cr_assert(eq(u64, st->conns_refused_prefix, 3));
    cr_assert(eq(u64, st->conns_refused, 3));
    gs_quic_ep_del(ep);
    cr_assert(eq(sz, fm.nlive, 0));
}

/* ---------------------------------------------------------------- section 2: reorder memory */

/*
 * Issue: ngtcp2 keeps out-of-order stream bytes in 8 KiB chunks, so one byte every 8 KiB of
 * offset made the server hold a chunk per byte, up to the 16 MiB connection window each (60
 * connections: 447 MB).  Here 2 attackers on two addresses of one prefix each open up to 8
 * connections and send that pattern up to the server's advertised windows, then a client from
 * another prefix connects and sends 20 frames.  The server's windows are sized from
 * rx_mem_conn_max (4 MiB), rx_mem_max (24 MiB) and its per-prefix quarter: the attackers get a
 * few connections with full windows, then smaller ones, then none (counted); every client frame
 * arrives; the server's own allocations (ngtcp2 included) stay within rx_mem_max plus a fixed
 * amount per connection, and so does the process's RSS growth (release builds).
 */
Test(quic_flood, sparse_stream_bytes_stay_within_the_memory_budget, .timeout = 60)
{
    enum {
        NATT = 2,
        PER = 8,
        NFRAMES = 20
    };
    fpeer srv;
    fpeer cli;
    fpeer att[NATT];
    fpeer *all[NATT + 2] = {&srv, &cli, &att[0], &att[1]};
    gs_quic_cfg sq = open_cfg();
    gs_quic_cfg oq = open_cfg();
    size_t rss0 = rss_bytes();

    sq.max_uni_streams = 32;
    sq.rx_mem_conn_max = (size_t)4 << 20;
    sq.rx_mem_max = (size_t)24 << 20;
    sq.rx_mem_prefix_max = 0; /* a quarter: 6 MiB per prefix */
    sq.prefix4_len = 24;
    f_start(&srv, 1, "127.0.0.1:0", &sq);
    f_start(&cli, 2, "127.0.1.1:0", &oq);
    f_start(&att[0], 3, "127.0.0.2:0", &oq);
    f_start(&att[1], 4, "127.0.0.3:0", &oq);
    size_t base = srv.fm.nbytes;
    memset(&g_att, 0, sizeof(g_att));
    g_att.mode = ATT_SPARSE;

    gs_tstamp end = gs_uring_now() + 20 * GS_SECONDS;
    size_t nconns = 0;
    for (int a = 0; a < NATT; ++a) {
        for (int i = 0; i < PER; ++i) {
            size_t before = att[a].nconnected;
            size_t closed = att[a].nclosed;
            gs_quic_conn_id h = raw_dial(&att[a], &srv);
            cr_assert(not(eq(u64, h, 0)));
            while (att[a].nconnected == before && att[a].nclosed == closed && !past(end)) {
                turn(all, NATT + 2);
            }
            qconn *c = gs_quic_conn_get(gs_engine_quic(att[a].e), h);
            if (att[a].nconnected == before || c == NULL) {
                continue; /* refused by the server's budget */
            }
            /* aim at the windows the server advertised */
            const ngtcp2_transport_params *tp = ngtcp2_conn_get_remote_transport_params(c->nc);
            const ngtcp2_cid *dc = ngtcp2_conn_get_dcid(c->nc);
            cr_assert(lt(sz, g_att.nconns, ATT_MAXCONNS));
            att_conn *ac = &g_att.conns[g_att.nconns++];
            memcpy(ac->dcid, dc->data, dc->datalen);
            ac->nc = c->nc;
            ac->dcidlen = dc->datalen;
            ac->w = tp->initial_max_data;
            ac->sw = tp->initial_max_stream_data_uni;
            /* stream bytes for ngtcp2 to carry: att_encrypt replaces them with the pattern */
            static uint8_t junk[3000];
            uint8_t topic[GS_QUIC_TOPIC_LEN] = {0xee};
            for (int f = 0; f < 40; ++f) {
                (void)gs_quic_stream_queue(gs_engine_quic(att[a].e), c, topic, junk, sizeof(junk));
            }
            gs_quic_conn_mark_dirty(gs_engine_quic(att[a].e), c);
            while (!ac->done && !past(end)) {
                turn(all, NATT + 2);
            }
            ++nconns;
        }
    }
    /* let the server take in the last packets */
    gs_tstamp settle = gs_uring_now() + 200 * GS_MILLISECONDS;
    while (!past(settle)) {
        turn(all, NATT + 2);
    }
    const gs_quic_stats *st = gs_quic_ep_stats_get(gs_engine_quic(srv.e));
    uint64_t placed = 0;
    for (size_t i = 0; i < g_att.nconns; ++i) {
        cr_assert(g_att.conns[i].done, "attack %zu did not finish", i);
        placed += g_att.conns[i].bytes;
    }
    size_t used = srv.fm.nbytes - base;
    size_t rss1 = rss_bytes();
    cr_log_info("sparse: %zu attacking connections, %llu stream bytes sent, server holds %zu "
                "bytes (peak %zu), committed %llu, refused_mem %llu, reduced %llu, stream credit "
                "granted %llu refused %llu, RSS +%zu",
                nconns, (unsigned long long)placed, used, srv.fm.peak_bytes - base,
                (unsigned long long)st->rx_mem_committed, (unsigned long long)st->conns_refused_mem,
                (unsigned long long)st->windows_reduced,
                (unsigned long long)st->stream_credit_granted,
                (unsigned long long)st->stream_credit_refused, rss1 > rss0 ? rss1 - rss0 : 0);
    cr_assert(gt(sz, nconns, 0));
    cr_assert(gt(u64, placed, 100), "the pattern was sent");
    /* the attack is counted: the prefix ran out of budget */
    cr_assert(gt(u64, st->conns_refused_mem, 0));
    cr_assert(gt(u64, st->windows_reduced, 0));
    cr_assert(le(u64, st->rx_mem_committed, (uint64_t)(6 << 20)));
    /* the windows the server advertised: within rx_mem_conn_max each with the overhead of every
     * stream the connection could earn, and shrinking; all the charges together (streams
     * granted as they were opened included) stay within the prefix's share (checked above) */
    size_t overhead = (sq.max_uni_streams + 1) * GS_QUIC_RX_STREAM_OVERHEAD;
    for (size_t i = 0; i < g_att.nconns; ++i) {
        const att_conn *ac = &g_att.conns[i];
        cr_assert(le(u64, ac->w + overhead, sq.rx_mem_conn_max));
        cr_assert(ge(u64, ac->w, GS_QUIC_MIN_WINDOW));
        cr_assert(le(u64, ac->sw, ac->w));
    }
    cr_assert(gt(u64, st->stream_credit_granted, 0), "the attackers earned stream credit");
    cr_assert(lt(u64, g_att.conns[g_att.nconns - 1].w, g_att.conns[0].w));
    /* the reorder buffers are within the budget: rx_mem_max plus 256 KiB of fixed state per
     * connection (slots, streams, TLS records, ngtcp2's tables) */
    cr_assert(le(sz, srv.fm.peak_bytes - base, sq.rx_mem_max + nconns * (256u << 10)),
              "server memory %zu", srv.fm.peak_bytes - base);
#ifndef FLOOD_ASAN
    cr_assert(le(sz, rss1 > rss0 ? rss1 - rss0 : 0, sq.rx_mem_max + (48u << 20)), "RSS grew by %zu",
              rss1 - rss0);
#endif
    /* a legitimate client from another prefix, with the attack's data still held */
    size_t got = client_frames(&cli, &srv, all, NATT + 2, NFRAMES, end);
    cr_assert(eq(sz, got, NFRAMES), "%zu of %d frames arrived", got, NFRAMES);
    cr_assert(eq(sz, cli.nclosed, 0));
    for (int a = NATT - 1; a >= 0; --a) {
        f_del(&att[a]);
    }
    f_del(&cli);
    f_del(&srv);
}

/* ---------------------------------------------------------------- section 3: half-open */

/*
 * Issue: an Initial with a partial ClientHello created about 52 KB of server state held for
 * 10 s, so 64 of them locked a client's address out, and many addresses that follow Retry filled
 * the whole table.  Here 6 attackers (4 addresses of one prefix, 2 of another) each dial 60
 * connections whose Initials carry the first 64 bytes of a ClientHello (their ngtcp2 follows
 * Retry, so they pass address validation); meanwhile a client from a third prefix connects and
 * sends 20 frames.  The server keeps at most max_halfopen (48) unfinished handshakes and 16 per
 * prefix, drops the oldest for new ones, asks for Retry under that load, and every client frame
 * arrives; its memory stays within max_halfopen half-open connections.
 */
Test(quic_flood, unfinished_handshakes_do_not_lock_out_a_client, .timeout = 60)
{
    enum {
        NATT = 6,
        PER = 60,
        NFRAMES = 20
    };
    static const char *const addrs[NATT] = {"127.0.0.2:0", "127.0.0.3:0", "127.0.0.4:0",
                                            "127.0.0.5:0", "127.0.2.1:0", "127.0.2.2:0"};
    fpeer srv;
    fpeer cli;
    fpeer att[NATT];
    fpeer *all[NATT + 2];
    gs_quic_cfg sq;
    gs_quic_cfg oq = open_cfg();

    gs_quic_cfg_default(&sq);
    sq.max_halfopen = 48;
    sq.max_halfopen_per_prefix = 16;
    sq.halfopen_timeout = 3 * GS_SECONDS;
    sq.prefix4_len = 24;
    sq.retry_mode = GS_QUIC_RETRY_AUTO;
    f_start(&srv, 1, "127.0.0.1:0", &sq);
    f_start(&cli, 2, "127.0.1.1:0", &oq);
    all[0] = &srv;
    all[1] = &cli;
    for (int a = 0; a < NATT; ++a) {
        f_start(&att[a], (uint8_t)(10 + a), addrs[a], &oq);
        all[2 + a] = &att[a];
    }
    size_t base = srv.fm.nbytes;
    size_t rss0 = rss_bytes();
    memset(&g_att, 0, sizeof(g_att));
    g_att.mode = ATT_PARTIAL;

    /* the flood: every attacker dials 60, 3 at a time per turn */
    gs_tstamp end = gs_uring_now() + 20 * GS_SECONDS;
    size_t dialed = 0;
    uint64_t max_halfopen = 0;
    size_t peak = 0;
    const gs_quic_stats *st = gs_quic_ep_stats_get(gs_engine_quic(srv.e));
    while (dialed < (size_t)NATT * PER && !past(end)) {
        for (int a = 0; a < NATT; ++a) {
            for (int i = 0; i < 3 && dialed < (size_t)NATT * PER; ++i, ++dialed) {
                cr_assert(not(eq(u64, raw_dial(&att[a], &srv), 0)));
            }
        }
        turn(all, NATT + 2);
        max_halfopen = st->halfopen > max_halfopen ? st->halfopen : max_halfopen;
    }
    /* the table is full of the attack; the client connects and sends meanwhile */
    cr_assert(ge(u64, st->halfopen, 16), "the attack holds half-open state");
    size_t got = 0;
    {
        uint8_t frame[204];
        gs_quic_conn_id conn = 0;
        cr_assert(
            eq(int, gs_engine_connect(cli.e, srv.id.pk, gs_engine_local(srv.e, 0), &conn), 0));
        frame[0] = 0;
        frame[1] = 0;
        frame[2] = 0;
        frame[3] = 200;
        size_t round = 0;
        while ((cli.nconnected == 0 || srv.nframes < NFRAMES) && !past(end)) {
            /* the attack goes on: 3 new partial handshakes per attacker every turn */
            for (int a = 0; a < NATT; ++a) {
                for (int i = 0; i < 3; ++i) {
                    (void)raw_dial(&att[a], &srv);
                }
            }
            turn(all, NATT + 2);
            max_halfopen = st->halfopen > max_halfopen ? st->halfopen : max_halfopen;
            if (srv.fm.nbytes > peak) {
                peak = srv.fm.nbytes;
            }
            if (cli.nconnected == 1 && round++ == 0) {
                for (size_t i = 0; i < NFRAMES; ++i) {
                    uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x11, (uint8_t)i};
                    memset(frame + 4, (int)i, 200);
                    cr_assert(
                        eq(int, gs_engine_send_frame(cli.e, srv.id.pk, topic, frame, sizeof(frame)),
                           0));
                }
            }
        }
        got = srv.nframes;
    }
    size_t rss1 = rss_bytes();
    cr_log_info("half-open: %llu partial Initials, halfopen max %llu, evicted %llu, retries %llu "
                "(load %llu), started %llu, server bytes peak +%zu, RSS +%zu",
                (unsigned long long)g_att.partial_initials, (unsigned long long)max_halfopen,
                (unsigned long long)st->halfopen_evicted, (unsigned long long)st->retries_sent,
                (unsigned long long)st->retries_halfopen,
                (unsigned long long)st->handshakes_started, peak > base ? peak - base : 0,
                rss1 > rss0 ? rss1 - rss0 : 0);
    cr_assert(eq(sz, cli.nconnected, 1), "the client did not connect during the attack");
    cr_assert(eq(sz, got, NFRAMES), "%zu of %d frames arrived", got, NFRAMES);
    /* bounded, and counted */
    cr_assert(le(u64, max_halfopen, sq.max_halfopen));
    cr_assert(gt(u64, st->halfopen_evicted, 0));
    cr_assert(gt(u64, st->retries_halfopen, 0));
    cr_assert(gt(u64, st->tokens_ok, 0), "the attackers followed Retry");
    /* ngtcp2's and our state for 48 half-open connections and the client's: 128 KiB each */
    cr_assert(le(sz, peak - base, (sq.max_halfopen + 1) * (128u << 10)), "server bytes %zu",
              peak - base);
#ifndef FLOOD_ASAN
    /* GnuTLS allocates outside gs_mem: the process RSS bounds it (48 half-open connections,
     * about 60 KB each, plus the attackers' own client state and slack) */
    cr_assert(le(sz, rss1 > rss0 ? rss1 - rss0 : 0, (size_t)96 << 20), "RSS grew by %zu",
              rss1 - rss0);
#endif
    /* the half-open state expires on its own (halfopen_timeout) once the attack stops */
    gs_tstamp quiet = gs_uring_now() + 4 * GS_SECONDS;
    while (st->halfopen > 0 && !past(quiet)) {
        turn(all, 2);
    }
    cr_assert(eq(u64, st->halfopen, 0));
    cr_assert(ge(u64, st->handshake_timeouts, 1));
    for (int a = NATT - 1; a >= 0; --a) {
        f_del(&att[a]);
    }
    f_del(&cli);
    f_del(&srv);
}

/*
 * Issue: 64 partial ClientHellos from one address held its 64 connection slots for the 10 s
 * handshake timeout, and every other client on that address was refused meanwhile.  Here an
 * attacker sends 100 of them (halfopen_timeout stays 10 s, Retry off); then a client on the same
 * address connects at once: the oldest unfinished handshake of the address gives way (counted)
 * and the client's frames all arrive long before any timeout.
 */
Test(quic_flood, partial_hellos_do_not_lock_out_their_address, .timeout = 60)
{
    enum {
        NBURST = 100,
        NFRAMES = 20
    };
    fpeer srv;
    fpeer cli;
    fpeer att;
    fpeer *all[3] = {&srv, &cli, &att};
    gs_quic_cfg sq;
    gs_quic_cfg oq = open_cfg();

    gs_quic_cfg_default(&sq);
    sq.halfopen_timeout = 10 * GS_SECONDS;
    sq.retry_mode = GS_QUIC_RETRY_OFF;
    f_start(&srv, 1, "127.0.0.1:0", &sq);
    f_start(&att, 3, "127.0.0.2:0", &oq);
    f_start(&cli, 2, "127.0.0.2:0", &oq);
    memset(&g_att, 0, sizeof(g_att));
    g_att.mode = ATT_PARTIAL;
    const gs_quic_stats *st = gs_quic_ep_stats_get(gs_engine_quic(srv.e));
    gs_tstamp end = gs_uring_now() + 5 * GS_SECONDS;
    for (int i = 0; i < NBURST; ++i) {
        cr_assert(not(eq(u64, raw_dial(&att, &srv), 0)));
        if (i % 8 == 7) {
            turn(all, 3);
        }
    }
    while (st->handshakes_started < NBURST && !past(end)) {
        turn(all, 3);
    }
    cr_assert(eq(u64, st->handshakes_started, NBURST));
    cr_assert(ge(u64, st->halfopen, sq.max_conns_per_addr - 2), "the address is full");
    gs_tstamp t0 = gs_uring_now();
    size_t got = client_frames(&cli, &srv, all, 3, NFRAMES, end);
    gs_tstamp took = gs_uring_now() - t0;
    cr_log_info("same address: %llu half-open, evicted %llu, client done in %lld ms",
                (unsigned long long)st->halfopen, (unsigned long long)st->halfopen_evicted,
                (long long)(took / GS_MILLISECONDS));
    cr_assert(eq(sz, got, NFRAMES), "%zu of %d frames arrived", got, NFRAMES);
    cr_assert(lt(i64, (int64_t)took, (int64_t)(5 * GS_SECONDS)));
    cr_assert(ge(u64, st->halfopen_evicted, NBURST - sq.max_conns_per_addr + 1));
    cr_assert(eq(u64, st->conns_refused, 0));
    f_del(&cli);
    f_del(&att);
    f_del(&srv);
}
