/* SPDX-License-Identifier: MIT */
/*
 * test_uring.c: the io_uring UDP engine over real loopback sockets (127.0.0.1 / ::1 only).
 * Every loop is bounded by a turn count; features the kernel lacks skip the test.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_mem.h"
#include "uring.h"

#define MAX_SEEN 4096

typedef struct rx_log {
    size_t n;
    size_t bytes;
    size_t nwake;
    uint32_t seq[MAX_SEEN];
    size_t len[MAX_SEEN];
    uint8_t ecn[MAX_SEEN];
    gs_udp_addr local[4];
    gs_udp_addr remote[4];
} rx_log;

static void log_recv(void *ud, const gs_uring_dgram *dg)
{
    rx_log *l = ud;

    if (l->n < MAX_SEEN) {
        uint32_t s = UINT32_MAX;

        if (dg->len >= 4) {
            memcpy(&s, dg->data, 4);
        }
        l->seq[l->n] = s;
        l->len[l->n] = dg->len;
        l->ecn[l->n] = dg->ecn;
        if (l->n < 4) {
            l->local[l->n] = *dg->local;
            l->remote[l->n] = *dg->remote;
        }
    }
    ++l->n;
    l->bytes += dg->len;
}

static void log_wake(void *ud)
{
    rx_log *l = ud;

    ++l->nwake;
}

static gs_uring *mk_ring(rx_log *l, unsigned nbufs, uint32_t flags, unsigned nslots)
{
    gs_uring_cfg cfg;
    gs_uring *u = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.nrecv_bufs = nbufs;
    cfg.nsend_slots = nslots;
    cfg.flags = flags;
    cfg.on_recv = log_recv;
    cfg.on_wake = log_wake;
    cfg.user_data = l;
    int rv = gs_uring_new(&u, &cfg, gs_mem_default());
    if (rv == GS_ERR_UNSUPPORTED) {
        cr_skip_test("io_uring feature missing: %s", gs_strerror(rv));
    }
    cr_assert(eq(int, rv, 0), "gs_uring_new: %s", gs_strerror(rv));
    return u;
}

static gs_udp_addr loop4(uint16_t port)
{
    gs_udp_addr a;

    memset(&a, 0, sizeof(a));
    a.u.in4.sin_family = AF_INET;
    a.u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.u.in4.sin_port = htons(port);
    a.len = sizeof(a.u.in4);
    return a;
}

static int plain_socket(int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 4 << 20;

    cr_assert(fd >= 0);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    return fd;
}

static void send_seq(int fd, const gs_udp_addr *to, uint32_t seq, size_t len)
{
    uint8_t buf[2048];

    memset(buf, (int)(seq & 0xff), sizeof(buf));
    memcpy(buf, &seq, 4);
    ssize_t n = sendto(fd, buf, len, 0, &to->u.sa, to->len);
    cr_assert(eq(sz, (size_t)n, len), "sendto: %d", errno);
}

/* run_until turns the ring until |*count| reaches |want| or |max_turns| pass. */
static void run_until(gs_uring *u, const size_t *count, size_t want, int max_turns)
{
    for (int i = 0; i < max_turns && *count < want; ++i) {
        int rv = gs_uring_run_once(u, 20 * GS_MILLISECONDS);
        cr_assert(rv >= 0, "run_once: %s", gs_strerror(rv));
    }
}

static double elapsed_ms(gs_tstamp t0)
{
    return (double)(gs_uring_now() - t0) / 1e6;
}

Test(uring, setup_flags_reported, .timeout = 10)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 4);

    /* This kernel (6.x) accepts both; the engine falls back only on refusal. */
    uint32_t f = gs_uring_setup_flags(u);
    cr_expect(ne(u32, f & GS_URING_SETUP_SINGLE_ISSUER, 0));
    cr_expect(ne(u32, f & GS_URING_SETUP_DEFER_TASKRUN, 0));
    gs_uring_del(u);
}

Test(uring, rejects_bad_config, .timeout = 10)
{
    gs_uring_cfg cfg;
    gs_uring *u = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cr_assert(eq(int, gs_uring_new(&u, &cfg, gs_mem_default()), GS_ERR_INVAL)); /* no on_recv */
    cfg.on_recv = log_recv;
    cfg.nrecv_bufs = 6; /* not a power of two */
    cr_assert(eq(int, gs_uring_new(&u, &cfg, gs_mem_default()), GS_ERR_INVAL));
    cr_assert(u == NULL);
}

Test(uring, new_survives_every_allocation_failure, .timeout = 30)
{
    for (size_t fail_at = 1;; ++fail_at) {
        gs_fake_mem fm;
        gs_uring_cfg cfg;
        gs_uring *u = NULL;
        rx_log l = {0};

        memset(&cfg, 0, sizeof(cfg));
        cfg.nrecv_bufs = 4;
        cfg.nsend_slots = 2;
        cfg.flags = GS_URING_FLAG_NO_GRO;
        cfg.on_recv = log_recv;
        cfg.user_data = &l;
        gs_fake_mem_init(&fm, fail_at);
        int rv = gs_uring_new(&u, &cfg, &fm.mem);
        if (rv == 0) {
            gs_uring_del(u);
            cr_assert(eq(sz, fm.nlive, 0));
            break;
        }
        cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu", fail_at);
        cr_assert(eq(sz, fm.nlive, 0), "leak when call %zu fails", fail_at);
    }
}

Test(uring, multishot_recycles_buffers, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 4);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    gs_udp_addr dst = *gs_uring_sock_local(u, sock);
    int fd = plain_socket(AF_INET);
    const uint32_t total = 3000; /* 375 times the 8 buffers */

    for (uint32_t sent = 0; sent < total;) {
        for (uint32_t k = 0; k < 100 && sent < total; ++k, ++sent) {
            send_seq(fd, &dst, sent, 200);
        }
        run_until(u, &l.n, sent, 200);
        cr_assert(eq(sz, l.n, sent), "lost datagrams: got %zu of %u", l.n, sent);
    }
    for (uint32_t i = 0; i < total; ++i) {
        cr_assert(eq(u32, l.seq[i], i), "order at %u", i);
        cr_assert(eq(sz, l.len[i], 200));
    }
    const gs_uring_stats *st = gs_uring_stats_get(u);
    cr_assert(eq(u64, st->rx_bufs, total)); /* one buffer each, every one recycled */
    cr_assert(eq(u64, st->rx_dgrams, total));
    cr_assert(eq(u64, st->rx_errors, 0));
    (void)close(fd);
    gs_uring_del(u);
}

Test(uring, rearms_after_enobufs, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 2, GS_URING_FLAG_NO_GRO, 4);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    gs_udp_addr dst = *gs_uring_sock_local(u, sock);
    int fd = plain_socket(AF_INET);

    /* Queue 40 datagrams before the receive is even submitted: the first pass drains the two
     * buffers and the multishot request ends with -ENOBUFS. */
    for (uint32_t i = 0; i < 40; ++i) {
        send_seq(fd, &dst, i, 100);
    }
    run_until(u, &l.n, 40, 400);
    cr_assert(eq(sz, l.n, 40));
    const gs_uring_stats *st = gs_uring_stats_get(u);
    cr_assert(st->rx_nobufs >= 1, "no -ENOBUFS seen (%" PRIu64 ")", st->rx_nobufs);
    cr_assert(st->rx_rearms >= 1);
    for (uint32_t i = 0; i < 40; ++i) {
        cr_assert(eq(u32, l.seq[i], i));
    }
    (void)close(fd);
    gs_uring_del(u);
}

Test(uring, gso_send_arrives_as_n_datagrams, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 4);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    cr_assert(eq(sz, gs_uring_gso_max_segs(u), GS_URING_GSO_MAX_SEGS));
    int fd = plain_socket(AF_INET);
    gs_udp_addr rx = loop4(0);
    cr_assert(eq(int, bind(fd, &rx.u.sa, rx.len), 0));
    socklen_t sl = sizeof(rx.u);
    cr_assert(eq(int, getsockname(fd, &rx.u.sa, &sl), 0));
    rx.len = sl;

    /* 10 segments of 1000 bytes, the last one 500. */
    uint8_t buf[9500];
    for (size_t i = 0; i < sizeof(buf); ++i) {
        buf[i] = (uint8_t)(i / 1000);
    }
    cr_assert(eq(int, gs_uring_sendto(u, sock, &rx, buf, sizeof(buf), 1000), 0));
    const gs_uring_stats *st = gs_uring_stats_get(u);
    for (int i = 0; i < 100 && st->tx_sends == 0 && st->tx_dropped == 0; ++i) {
        cr_assert(gs_uring_run_once(u, 10 * GS_MILLISECONDS) >= 0);
    }
    cr_assert(eq(u64, st->tx_sends, 1), "send failed: %s", gs_strerror(st->last_tx_error));
    cr_assert(eq(u64, st->tx_dgrams, 10));
    cr_assert(eq(sz, gs_uring_send_inflight(u), 0));

    struct timeval tv = {.tv_sec = 2};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 10; ++i) {
        uint8_t in[2000];
        ssize_t n = recv(fd, in, sizeof(in), 0);

        cr_assert(eq(sz, (size_t)n, i < 9 ? 1000 : 500), "datagram %d: %zd", i, n);
        cr_assert(eq(u8, in[0], (uint8_t)i));
    }
    (void)close(fd);
    gs_uring_del(u);
}

Test(uring, gro_batch_is_split, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, 0, 4);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    if (!gs_uring_sock_gro(u, sock)) {
        cr_skip_test("kernel has no UDP_GRO");
    }
    gs_udp_addr dst = *gs_uring_sock_local(u, sock);
    int fd = plain_socket(AF_INET);

    /* One GSO send of 20 x 1200 + 700 from a plain socket: loopback keeps it as one GSO packet,
     * which a GRO socket receives in one buffer with the segment size in a cmsg. */
    static uint8_t buf[20 * 1200 + 700];
    for (size_t i = 0; i < sizeof(buf); ++i) {
        buf[i] = (uint8_t)(i / 1200);
    }
    for (uint32_t i = 0; i < 21; ++i) {
        uint32_t seq = i;
        memcpy(buf + (size_t)i * 1200, &seq, 4);
    }
    union {
        size_t align;
        uint8_t b[64]; /* >= CMSG_SPACE(sizeof(uint16_t)); literal for clang */
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr m = {.msg_name = &dst.u,
                       .msg_namelen = dst.len,
                       .msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.b,
                       .msg_controllen = CMSG_SPACE(sizeof(uint16_t))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    uint16_t seg = 1200;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(seg));
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    ssize_t n = sendmsg(fd, &m, 0);
    if (n < 0 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
        cr_skip_test("kernel has no UDP GSO");
    }
    cr_assert(eq(sz, (size_t)n, sizeof(buf)));
    run_until(u, &l.n, 21, 100);
    cr_assert(eq(sz, l.n, 21));
    for (uint32_t i = 0; i < 21; ++i) {
        cr_assert(eq(u32, l.seq[i], i));
        cr_assert(eq(sz, l.len[i], i < 20 ? 1200 : 700));
    }
    const gs_uring_stats *st = gs_uring_stats_get(u);
    cr_assert(st->rx_gro_batches >= 1, "GSO batch arrived unsplit by the kernel");
    cr_assert(st->rx_bufs < 21, "every datagram used its own buffer: GRO did not coalesce");
    (void)close(fd);
    gs_uring_del(u);
}

Test(uring, ecn_and_pktinfo_between_rings, .timeout = 30)
{
    rx_log la = {0};
    rx_log lb = {0};
    gs_uring *a = mk_ring(&la, 8, GS_URING_FLAG_NO_GRO, 4);
    gs_uring *b = mk_ring(&lb, 8, GS_URING_FLAG_NO_GRO, 4);
    gs_udp_addr wildcard;
    uint32_t sa;
    uint32_t sb;

    memset(&wildcard, 0, sizeof(wildcard));
    wildcard.u.in4.sin_family = AF_INET;
    wildcard.len = sizeof(wildcard.u.in4);
    cr_assert(eq(int, gs_uring_add_udp(a, &wildcard, &sa), 0));
    gs_udp_addr lb0 = loop4(0);
    cr_assert(eq(int, gs_uring_add_udp(b, &lb0, &sb), 0));
    gs_udp_addr to_b = *gs_uring_sock_local(b, sb);
    gs_udp_addr from = loop4(0);

    size_t cap;
    uint8_t *p = gs_uring_send_begin(a, &cap);
    cr_assert(p != NULL);
    cr_assert(eq(sz, cap, GS_URING_SEND_CAP));
    uint32_t seq = 7;
    memcpy(p, &seq, 4);
    memset(p + 4, 0, 96);
    gs_uring_sendinfo si = {.sock = sa, .remote = &to_b, .local = &from, .ecn = GS_URING_ECN_ECT0};
    cr_assert(eq(int, gs_uring_send_commit(a, &si, 100), 0));
    for (int i = 0; i < 100 && lb.n == 0; ++i) {
        cr_assert(gs_uring_run_once(a, 0) >= 0);
        cr_assert(gs_uring_run_once(b, 10 * GS_MILLISECONDS) >= 0);
    }
    cr_assert(eq(sz, lb.n, 1));
    cr_assert(eq(u32, lb.seq[0], 7));
    cr_assert(eq(u8, lb.ecn[0], GS_URING_ECN_ECT0));
    /* packet info: the destination address the datagram was sent to */
    cr_assert(gs_udp_addr_eq(&lb.local[0], &to_b));
    /* the source is a's port on 127.0.0.1 (chosen by the IP_PKTINFO on the wildcard socket) */
    cr_assert(
        eq(u16, gs_udp_addr_port(&lb.remote[0]), gs_udp_addr_port(gs_uring_sock_local(a, sa))));
    cr_assert(eq(u32, lb.remote[0].u.in4.sin_addr.s_addr, htonl(INADDR_LOOPBACK)));
    gs_uring_del(a);
    gs_uring_del(b);
}

Test(uring, send_pool_is_bounded, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 3);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    gs_udp_addr self = *gs_uring_sock_local(u, sock);
    uint8_t msg[64] = {0};

    for (uint32_t i = 0; i < 3; ++i) {
        memcpy(msg, &i, 4);
        cr_assert(eq(int, gs_uring_sendto(u, sock, &self, msg, sizeof(msg), 0), 0));
    }
    cr_assert(eq(int, gs_uring_sendto(u, sock, &self, msg, sizeof(msg), 0), GS_ERR_AGAIN));
    cr_assert(eq(u64, gs_uring_stats_get(u)->tx_pool_full, 1));
    cr_assert(eq(sz, gs_uring_send_inflight(u), 3));
    run_until(u, &l.n, 3, 100);
    cr_assert(eq(sz, l.n, 3));
    for (int i = 0; i < 10 && gs_uring_send_inflight(u) != 0; ++i) {
        cr_assert(gs_uring_run_once(u, 0) >= 0);
    }
    cr_assert(eq(sz, gs_uring_send_inflight(u), 0));
    cr_assert(eq(int, gs_uring_sendto(u, sock, &self, msg, sizeof(msg), 0), 0));
    /* invalid commits are refused without consuming the slot */
    size_t cap;
    cr_assert(gs_uring_send_begin(u, &cap) != NULL);
    gs_uring_sendinfo bad = {.sock = 9, .remote = &self};
    cr_assert(eq(int, gs_uring_send_commit(u, &bad, 10), GS_ERR_INVAL));
    bad.sock = sock;
    bad.segsize = 100;
    cr_assert(eq(int,
                 gs_uring_send_commit(
                     u, &bad, 100 * 65 + 1 > GS_URING_SEND_CAP ? GS_URING_SEND_CAP : 100 * 65 + 1),
                 GS_ERR_INVAL)); /* 66 segments > GS_URING_GSO_MAX_SEGS */
    gs_uring_del(u);             /* with a slot taken and a send in flight: no leak */
}

Test(uring, timeout_wakes_the_loop, .timeout = 10)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 2);

    gs_tstamp t0 = gs_uring_now();
    cr_assert(eq(int, gs_uring_run_once(u, 30 * GS_MILLISECONDS), 0));
    double ms = elapsed_ms(t0);
    cr_assert(ms >= 25.0 && ms < 500.0, "waited %.1f ms for a 30 ms timer", ms);
    t0 = gs_uring_now();
    cr_assert(eq(int, gs_uring_run_once(u, 0), 0));
    ms = elapsed_ms(t0);
    cr_assert(ms < 20.0, "a zero timeout waited %.1f ms", ms);
    gs_uring_del(u);
}

typedef struct waker {
    gs_uring *u;
    atomic_int rv;
} waker;

static void *waker_main(void *arg)
{
    waker *w = arg;
    struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
    atomic_store(&w->rv, gs_uring_wake(w->u));
    return NULL;
}

Test(uring, doorbell_from_another_thread, .timeout = 10)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 2);
    waker w = {.u = u};
    pthread_t th;

    /* Bind the ring to this thread before the other thread can ring. */
    cr_assert(eq(int, gs_uring_run_once(u, 0), 0));
    gs_tstamp t0 = gs_uring_now();
    cr_assert(eq(int, pthread_create(&th, NULL, waker_main, &w), 0));
    for (int i = 0; i < 5 && l.nwake == 0; ++i) {
        cr_assert(gs_uring_run_once(u, 900 * GS_MILLISECONDS) >= 0);
    }
    double ms = elapsed_ms(t0);
    cr_assert(eq(int, pthread_join(th, NULL), 0));
    cr_assert(eq(int, atomic_load(&w.rv), 0));
    cr_assert(eq(sz, l.nwake, 1));
    cr_assert(ms < 800.0, "the doorbell did not cut the 900 ms wait short (%.1f ms)", ms);
    /* The doorbell is re-armed: a second ring works too. */
    cr_assert(eq(int, gs_uring_wake(u), 0));
    for (int i = 0; i < 5 && l.nwake == 1; ++i) {
        cr_assert(gs_uring_run_once(u, 100 * GS_MILLISECONDS) >= 0);
    }
    cr_assert(eq(sz, l.nwake, 2));
    gs_uring_del(u);
}

Test(uring, reuseport_two_rings_share_a_port, .timeout = 30)
{
    rx_log la = {0};
    rx_log lb = {0};
    gs_uring *a = mk_ring(&la, 64, GS_URING_FLAG_NO_GRO, 2);
    gs_uring *b = mk_ring(&lb, 64, GS_URING_FLAG_NO_GRO, 2);
    gs_udp_addr any = loop4(0);
    uint32_t sa;
    uint32_t sb;

    cr_assert(eq(int, gs_uring_add_udp(a, &any, &sa), 0));
    gs_udp_addr port = *gs_uring_sock_local(a, sa);
    cr_assert(eq(int, gs_uring_add_udp(b, &port, &sb), 0));
    cr_assert(gs_udp_addr_eq(gs_uring_sock_local(b, sb), &port));

    /* 64 senders with distinct source ports: the kernel spreads them by 4-tuple hash. */
    enum {
        NSRC = 64
    };
    int fds[NSRC];
    for (uint32_t i = 0; i < NSRC; ++i) {
        fds[i] = plain_socket(AF_INET);
        send_seq(fds[i], &port, i, 64);
    }
    size_t total = 0;
    for (int i = 0; i < 200 && total < NSRC; ++i) {
        cr_assert(gs_uring_run_once(a, 0) >= 0);
        cr_assert(gs_uring_run_once(b, 5 * GS_MILLISECONDS) >= 0);
        total = la.n + lb.n;
    }
    cr_assert(eq(sz, total, NSRC));
    cr_assert(la.n > 0 && lb.n > 0, "all %d datagrams went to one ring (a=%zu b=%zu)", NSRC, la.n,
              lb.n);
    for (uint32_t i = 0; i < NSRC; ++i) {
        (void)close(fds[i]);
    }
    gs_uring_del(a);
    gs_uring_del(b);
}

Test(uring, ipv6_loopback, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 4);
    gs_udp_addr a6;
    uint32_t sock;

    cr_assert(eq(int, gs_udp_addr_parse(&a6, "[::1]:0"), 0));
    int rv = gs_uring_add_udp(u, &a6, &sock);
    if (rv == -EADDRNOTAVAIL || rv == -EAFNOSUPPORT) {
        gs_uring_del(u);
        cr_skip_test("no IPv6 loopback");
    }
    cr_assert(eq(int, rv, 0), "%s", gs_strerror(rv));
    gs_udp_addr self = *gs_uring_sock_local(u, sock);
    char txt[GS_UDP_ADDR_STRLEN];
    cr_assert(gs_udp_addr_format(&self, txt, sizeof(txt)) > 0);
    cr_assert(eq(int, strncmp(txt, "[::1]:", 6), 0), "%s", txt);

    uint8_t msg[300];
    memset(msg, 0x66, sizeof(msg));
    uint32_t seq = 42;
    memcpy(msg, &seq, 4);
    size_t cap;
    uint8_t *p = gs_uring_send_begin(u, &cap);
    cr_assert(p != NULL);
    memcpy(p, msg, sizeof(msg));
    gs_uring_sendinfo si = {.sock = sock, .remote = &self, .ecn = GS_URING_ECN_ECT1};
    cr_assert(eq(int, gs_uring_send_commit(u, &si, sizeof(msg)), 0));
    run_until(u, &l.n, 1, 100);
    cr_assert(eq(sz, l.n, 1));
    cr_assert(eq(u32, l.seq[0], 42));
    cr_assert(eq(sz, l.len[0], sizeof(msg)));
    cr_assert(eq(u8, l.ecn[0], GS_URING_ECN_ECT1));
    cr_assert(gs_udp_addr_eq(&l.local[0], &self));
    cr_assert(gs_udp_addr_eq(&l.remote[0], &self));
    gs_uring_del(u);
}

Test(udp, addr_parse_and_format, .timeout = 5)
{
    gs_udp_addr a;
    char txt[GS_UDP_ADDR_STRLEN];

    cr_assert(eq(int, gs_udp_addr_parse(&a, "127.0.0.1:4433"), 0));
    cr_assert(eq(u16, gs_udp_addr_port(&a), 4433));
    cr_assert(eq(sz, (size_t)gs_udp_addr_format(&a, txt, sizeof(txt)), 14));
    cr_assert(strcmp(txt, "127.0.0.1:4433") == 0, "%s", txt);
    cr_assert(eq(int, gs_udp_addr_parse(&a, "[2001:db8::1]:65535"), 0));
    cr_assert(gs_udp_addr_format(&a, txt, sizeof(txt)) > 0);
    cr_assert(strcmp(txt, "[2001:db8::1]:65535") == 0, "%s", txt);
    cr_assert(eq(int, gs_udp_addr_format(&a, txt, 8), GS_ERR_NOBUF));
    const char *bad[] = {
        "",        "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "host:80",
        "[::1]80", "[::1]:",  "[]:1",     "1.2.3.4:1x",    "::1:80",     "[1.2.3.4]:5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        cr_assert(eq(int, gs_udp_addr_parse(&a, bad[i]), GS_ERR_INVAL), "accepted '%s'", bad[i]);
    }
}

Test(uring, reuseport_steering_by_connection_id, .timeout = 30)
{
    rx_log l0 = {0};
    rx_log l1 = {0};
    gs_uring *r0 = mk_ring(&l0, 64, GS_URING_FLAG_NO_GRO, 2);
    gs_uring *r1 = mk_ring(&l1, 64, GS_URING_FLAG_NO_GRO, 2);
    gs_udp_addr any = loop4(0);
    uint32_t s0;
    uint32_t s1;

    /* shard 0 binds first, shard 1 second: group indexes 0 and 1 */
    cr_assert(eq(int, gs_uring_add_udp(r0, &any, &s0), 0));
    gs_udp_addr port = *gs_uring_sock_local(r0, s0);
    cr_assert(eq(int, gs_uring_add_udp(r1, &port, &s1), 0));
    int rv = gs_udp_attach_steering(gs_uring_sock_fd(r0, s0), 2);
    if (rv == -EPERM || rv == -ENOPROTOOPT) {
        cr_skip_test("SO_ATTACH_REUSEPORT_CBPF not allowed here: %s", gs_strerror(rv));
    }
    cr_assert(eq(int, rv, 0), "%s", gs_strerror(rv));
    cr_assert(eq(int, gs_udp_attach_steering(gs_uring_sock_fd(r0, s0), 0), GS_ERR_INVAL));

    /* 16 senders (different 4-tuples), each sends: a short header for shard 0 and for shard 1
     * (DCID byte 0 = payload byte 1), a long header for each (DCID at byte 6), and a 3-byte
     * packet that only the hash can place. */
    enum {
        NSRC = 16
    };
    int fds[NSRC];
    size_t want0 = 0;
    size_t want1 = 0;
    for (uint32_t i = 0; i < NSRC; ++i) {
        uint8_t pkt[64];

        fds[i] = plain_socket(AF_INET);
        for (int shard = 0; shard < 2; ++shard) {
            memset(pkt, 0, sizeof(pkt));
            pkt[0] = 0x40;
            pkt[1] = (uint8_t)(shard + 2 * (int)i); /* only the value mod 2 matters */
            cr_assert(eq(sz, (size_t)sendto(fds[i], pkt, 40, 0, &port.u.sa, port.len), 40));
            memset(pkt, 0, sizeof(pkt));
            pkt[0] = 0xc3;
            pkt[4] = 1;
            pkt[5] = 16;
            pkt[6] = (uint8_t)(shard + 4);
            cr_assert(eq(sz, (size_t)sendto(fds[i], pkt, 60, 0, &port.u.sa, port.len), 60));
            if (shard == 0) {
                want0 += 2;
            } else {
                want1 += 2;
            }
        }
        cr_assert(eq(sz, (size_t)sendto(fds[i], "abc", 3, 0, &port.u.sa, port.len), 3));
    }
    size_t total = 0;
    for (int i = 0; i < 200 && total < want0 + want1 + NSRC; ++i) {
        cr_assert(gs_uring_run_once(r0, 0) >= 0);
        cr_assert(gs_uring_run_once(r1, 5 * GS_MILLISECONDS) >= 0);
        total = l0.n + l1.n;
    }
    cr_assert(eq(sz, total, want0 + want1 + NSRC));
    size_t steered0 = 0;
    size_t steered1 = 0;
    for (size_t i = 0; i < l0.n; ++i) {
        steered0 += l0.len[i] != 3;
    }
    for (size_t i = 0; i < l1.n; ++i) {
        steered1 += l1.len[i] != 3;
    }
    cr_assert(eq(sz, steered0, want0), "shard 0 got %zu steered packets, want %zu", steered0,
              want0);
    cr_assert(eq(sz, steered1, want1), "shard 1 got %zu steered packets, want %zu", steered1,
              want1);
    for (uint32_t i = 0; i < NSRC; ++i) {
        (void)close(fds[i]);
    }
    gs_uring_del(r0);
    gs_uring_del(r1);
}

Test(uring, plain_ring_fallback_works, .timeout = 30)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO | GS_URING_FLAG_PLAIN_RING, 4);
    gs_udp_addr any = loop4(0);
    uint32_t sock;

    /* What a kernel that refuses the newer flags gets: everything must still work. */
    cr_assert(eq(u32, gs_uring_setup_flags(u), 0));
    cr_assert(eq(int, gs_uring_add_udp(u, &any, &sock), 0));
    gs_udp_addr self = *gs_uring_sock_local(u, sock);
    uint8_t msg[32] = {5};
    for (int i = 0; i < 20; ++i) {
        cr_assert(eq(int, gs_uring_sendto(u, sock, &self, msg, sizeof(msg), 0), 0));
        run_until(u, &l.n, (size_t)i + 1, 100);
    }
    cr_assert(eq(sz, l.n, 20));
    cr_assert(eq(int, gs_uring_wake(u), 0));
    for (int i = 0; i < 10 && l.nwake == 0; ++i) {
        cr_assert(gs_uring_run_once(u, 10 * GS_MILLISECONDS) >= 0);
    }
    cr_assert(eq(sz, l.nwake, 1));
    gs_uring_del(u);
}

Test(uring, wake_while_awake_sets_a_flag_only, .timeout = 10)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 2);

    cr_assert(eq(int, gs_uring_run_once(u, 0), 0));
    /* The owner is not waiting: the ring is a flag, no eventfd write, and the next wait must not
     * sleep through it. */
    cr_assert(eq(int, gs_uring_wake(u), 0));
    cr_assert(eq(int, gs_uring_wake(u), 0));
    gs_tstamp t0 = gs_uring_now();
    cr_assert(eq(int, gs_uring_run_once(u, 800 * GS_MILLISECONDS), 0));
    double ms = elapsed_ms(t0);
    cr_assert(ms < 400.0, "slept %.0f ms through a pending wake", ms);
    cr_assert(eq(sz, l.nwake, 1)); /* two rings, one on_wake */
    const gs_uring_stats *st = gs_uring_stats_get(u);
    cr_assert(eq(u64, st->doorbell_cqes, 0));
    cr_assert(eq(u64, st->wakes, 1));
    /* nothing pending any more: a short wait now sleeps its full time */
    t0 = gs_uring_now();
    cr_assert(eq(int, gs_uring_run_once(u, 30 * GS_MILLISECONDS), 0));
    cr_assert(elapsed_ms(t0) >= 25.0);
    cr_assert(eq(sz, l.nwake, 1));
    gs_uring_del(u);
}

Test(uring, watched_descriptor_ends_the_wait_and_is_marked_ready, .timeout = 10)
{
    rx_log l = {0};
    gs_uring *u = mk_ring(&l, 8, GS_URING_FLAG_NO_GRO, 2);
    int sv[2];
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    char c = 'x';

    /* the way gossipd uses it: an epoll set (here of one socket) watched by the ring */
    cr_assert(eq(int, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0));
    cr_assert(epfd >= 0);
    cr_assert(eq(int, epoll_ctl(epfd, EPOLL_CTL_ADD, sv[0], &ev), 0));
    cr_assert(eq(int, gs_uring_watch(u, -1), GS_ERR_INVAL));
    cr_assert(eq(int, gs_uring_watch(u, epfd), 0));
    cr_assert(eq(int, gs_uring_watch(u, epfd), GS_ERR_INVAL), "one descriptor per ring");
    cr_assert(eq(int, gs_uring_run_once(u, 0), 0));
    cr_assert(not(gs_uring_watch_take(u)), "ready before anything was written");

    for (int round = 1; round <= 3; ++round) {
        struct epoll_event got;
        gs_tstamp t0;
        bool ready = false;

        cr_assert(eq(int, (int)write(sv[1], &c, 1), 1));
        t0 = gs_uring_now();
        for (int i = 0; i < 5 && !ready; ++i) {
            cr_assert(gs_uring_run_once(u, 900 * GS_MILLISECONDS) >= 0);
            ready = gs_uring_watch_take(u);
        }
        cr_assert(ready, "round %d: the write did not mark the descriptor ready", round);
        cr_assert(elapsed_ms(t0) < 800.0, "round %d: the write did not end the wait", round);
        cr_assert(not(gs_uring_watch_take(u)), "round %d: taken twice", round);
        cr_assert(eq(int, epoll_wait(epfd, &got, 1, 0), 1));
        cr_assert(eq(int, (int)read(sv[0], &c, 1), 1));
        /* drained: a wait now sleeps its full time and marks nothing */
        t0 = gs_uring_now();
        cr_assert(eq(int, gs_uring_run_once(u, 30 * GS_MILLISECONDS), 0));
        cr_assert(elapsed_ms(t0) >= 25.0, "round %d: woke with nothing to read", round);
        cr_assert(not(gs_uring_watch_take(u)));
    }
    /* one multishot poll served the three rounds */
    const gs_uring_stats *st = gs_uring_stats_get(u);
    cr_assert(ge(u64, st->watch_cqes, 3));
    cr_assert(eq(u64, st->watch_rearms, 0));
    gs_uring_del(u);
    (void)close(epfd);
    (void)close(sv[0]);
    (void)close(sv[1]);
}
