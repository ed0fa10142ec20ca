/* SPDX-License-Identifier: MIT */
/*
 * udp_limit.c: the raw loopback UDP ceiling of this machine, the yardstick for the QUIC
 * figures.  One sender thread, one receiver thread, plain blocking sockets, no QUIC:
 *   plain: sendmmsg of 64 datagrams -> recvmmsg (every datagram crosses the stack alone);
 *   gso:   sendmsg with UDP_SEGMENT (54 x 1200 B in one 64 KB super-datagram) -> a UDP_GRO socket
 *          (loopback keeps the batch whole; the receiver counts its segments).
 * The figure is datagrams *received* per second (what the sender pushes beyond that is dropped
 * by the kernel when the receive buffer is full).
 */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define UDP_BATCH    64
#define UDP_GSO_MAX  65000
#define RX_BUF_BYTES (64 * 1024 + 512)
#define RX_NMSG      16

typedef struct udp_run {
    int rx_fd;
    int tx_fd;
    struct sockaddr_in dst;
    bool gso;
    size_t size;
    atomic_bool stop;
    uint64_t sent;
    uint64_t recvd;
    uint64_t rx_bytes;
} udp_run;

static void *rx_main(void *arg)
{
    udp_run *r = arg;
    uint8_t *bufs = malloc((size_t)RX_NMSG * RX_BUF_BYTES);
    struct mmsghdr msgs[RX_NMSG];
    struct iovec iov[RX_NMSG];
    union {
        size_t align;
        uint8_t b[64]; /* >= CMSG_SPACE(sizeof(int)); literal for clang */
    } ctl[RX_NMSG];

    if (bufs == NULL) {
        return NULL;
    }
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < RX_NMSG; ++i) {
            iov[i].iov_base = bufs + (size_t)i * RX_BUF_BYTES;
            iov[i].iov_len = RX_BUF_BYTES;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctl[i].b;
            msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].b);
        }
        int n = recvmmsg(r->rx_fd, msgs, RX_NMSG, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            continue; /* SO_RCVTIMEO lets us see |stop| */
        }
        for (int i = 0; i < n; ++i) {
            size_t len = msgs[i].msg_len;
            size_t seg = 0;

            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                    int v;

                    memcpy(&v, CMSG_DATA(c), sizeof(v));
                    seg = v > 0 ? (size_t)v : 0;
                }
            }
            r->recvd += seg != 0 ? (len + seg - 1) / seg : 1;
            r->rx_bytes += len;
        }
    }
    free(bufs);
    return NULL;
}

static void *tx_main(void *arg)
{
    udp_run *r = arg;
    size_t nseg = r->gso ? UDP_GSO_MAX / r->size : UDP_BATCH;
    uint8_t *buf = calloc(1, nseg * r->size);
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    union {
        size_t align;
        uint8_t b[64]; /* >= CMSG_SPACE(sizeof(uint16_t)); literal for clang */
    } ctl;

    if (buf == NULL) {
        return NULL;
    }
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < UDP_BATCH; ++i) {
        iov[i].iov_base = buf + (r->gso ? 0 : (size_t)i * r->size);
        iov[i].iov_len = r->size;
        msgs[i].msg_hdr.msg_name = &r->dst;
        msgs[i].msg_hdr.msg_namelen = sizeof(r->dst);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    if (r->gso) {
        struct cmsghdr *c;
        uint16_t seg = (uint16_t)r->size;

        iov[0].iov_len = nseg * r->size;
        msgs[0].msg_hdr.msg_control = ctl.b;
        msgs[0].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(seg));
        c = CMSG_FIRSTHDR(&msgs[0].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    }
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        if (r->gso) {
            if (sendmsg(r->tx_fd, &msgs[0].msg_hdr, 0) > 0) {
                r->sent += nseg;
            }
        } else {
            int n = sendmmsg(r->tx_fd, msgs, UDP_BATCH, 0);

            if (n > 0) {
                r->sent += (uint64_t)n;
            }
        }
    }
    free(buf);
    return NULL;
}

static int mk_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 8 << 20;

    if (fd < 0) {
        return -errno;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    }
    return fd;
}

int gs_bench_udp_limit(bool gso, size_t size, double seconds, gs_bench_udp_result *res)
{
    udp_run *r = calloc(1, sizeof(*r));
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    socklen_t sl = sizeof(r->dst);
    pthread_t rx;
    pthread_t tx;
    int rv = 0;

    memset(res, 0, sizeof(*res));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->gso = gso;
    r->size = size;
    atomic_init(&r->stop, false);
    r->rx_fd = mk_socket();
    r->tx_fd = mk_socket();
    if (r->rx_fd < 0 || r->tx_fd < 0) {
        rv = r->rx_fd < 0 ? r->rx_fd : r->tx_fd;
        goto out;
    }
    (void)setsockopt(r->rx_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (gso) {
        int one = 1;

        if (setsockopt(r->rx_fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) != 0) {
            rv = -errno;
            goto out;
        }
    }
    r->dst.sin_family = AF_INET;
    r->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(r->rx_fd, (struct sockaddr *)&r->dst, sizeof(r->dst)) != 0 ||
        getsockname(r->rx_fd, (struct sockaddr *)&r->dst, &sl) != 0) {
        rv = -errno;
        goto out;
    }
    if (pthread_create(&rx, NULL, rx_main, r) != 0) {
        rv = -EAGAIN;
        goto out;
    }
    if (pthread_create(&tx, NULL, tx_main, r) != 0) {
        atomic_store(&r->stop, true);
        (void)pthread_join(rx, NULL);
        rv = -EAGAIN;
        goto out;
    }
    double t0 = gs_bench_now_s();
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    (void)nanosleep(&ts, NULL);
    atomic_store(&r->stop, true);
    (void)pthread_join(tx, NULL);
    double t1 = gs_bench_now_s();
    (void)pthread_join(rx, NULL);
    res->sent = r->sent;
    res->recvd = r->recvd;
    res->pps = (double)r->recvd / (t1 - t0);
    res->gbps = (double)r->rx_bytes * 8.0 / (t1 - t0) / 1e9;

out:
    if (r->rx_fd >= 0) {
        (void)close(r->rx_fd);
    }
    if (r->tx_fd >= 0) {
        (void)close(r->tx_fd);
    }
    free(r);
    return rv;
}
