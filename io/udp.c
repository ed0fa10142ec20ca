/* SPDX-License-Identifier: MIT */
/*
 * udp.c: UDP address parsing/formatting and socket setup (see udp.h).  Every option that only
 * improves speed (GRO, buffer sizes) is best effort; options the engine relies on for
 * correctness (packet info, SO_REUSEPORT, V6ONLY) fail the call.
 */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Socket buffers: large enough to absorb a burst of GSO sends from a fast peer (4 MiB). */
#define UDP_SOCKBUF_BYTES (4 * 1024 * 1024)

static int parse_port(const char *s, uint16_t *pport)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9') {
        return GS_ERR_INVAL;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 65535) {
        return GS_ERR_INVAL;
    }
    *pport = (uint16_t)v;
    return 0;
}

int gs_udp_addr_parse(gs_udp_addr *addr, const char *s)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    uint16_t port;
    size_t hlen;

    memset(addr, 0, sizeof(*addr));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':') {
            return GS_ERR_INVAL;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= sizeof(host)) {
            return GS_ERR_INVAL;
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (parse_port(close + 2, &port) != 0) {
            return GS_ERR_INVAL;
        }
        if (inet_pton(AF_INET6, host, &addr->u.in6.sin6_addr) != 1) {
            return GS_ERR_INVAL;
        }
        addr->u.in6.sin6_family = AF_INET6;
        addr->u.in6.sin6_port = htons(port);
        addr->len = sizeof(addr->u.in6);
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon == NULL) {
        return GS_ERR_INVAL;
    }
    hlen = (size_t)(colon - s);
    if (hlen == 0 || hlen >= sizeof(host)) {
        return GS_ERR_INVAL;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (parse_port(colon + 1, &port) != 0) {
        return GS_ERR_INVAL;
    }
    if (inet_pton(AF_INET, host, &addr->u.in4.sin_addr) != 1) {
        return GS_ERR_INVAL;
    }
    addr->u.in4.sin_family = AF_INET;
    addr->u.in4.sin_port = htons(port);
    addr->len = sizeof(addr->u.in4);
    return 0;
}

gs_ssize gs_udp_addr_format(const gs_udp_addr *addr, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (addr->len == sizeof(addr->u.in4) && addr->u.sa.sa_family == AF_INET) {
        if (inet_ntop(AF_INET, &addr->u.in4.sin_addr, host, sizeof(host)) == NULL) {
            return GS_ERR_INVAL;
        }
        n = snprintf(buf, buflen, "%s:%u", host, (unsigned)ntohs(addr->u.in4.sin_port));
    } else if (addr->len == sizeof(addr->u.in6) && addr->u.sa.sa_family == AF_INET6) {
        if (inet_ntop(AF_INET6, &addr->u.in6.sin6_addr, host, sizeof(host)) == NULL) {
            return GS_ERR_INVAL;
        }
        n = snprintf(buf, buflen, "[%s]:%u", host, (unsigned)ntohs(addr->u.in6.sin6_port));
    } else {
        return GS_ERR_INVAL;
    }
    if (n < 0 || (size_t)n >= buflen) {
        return GS_ERR_NOBUF;
    }
    return n;
}

bool gs_udp_addr_eq(const gs_udp_addr *a, const gs_udp_addr *b)
{
    if (a->len != b->len || a->u.sa.sa_family != b->u.sa.sa_family) {
        return false;
    }
    if (a->u.sa.sa_family == AF_INET) {
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    }
    if (a->u.sa.sa_family == AF_INET6) {
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof(struct in6_addr)) == 0 &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id;
    }
    return a->len == 0;
}

uint16_t gs_udp_addr_port(const gs_udp_addr *addr)
{
    if (addr->len == 0) {
        return 0;
    }
    if (addr->u.sa.sa_family == AF_INET) {
        return ntohs(addr->u.in4.sin_port);
    }
    return ntohs(addr->u.in6.sin6_port);
}

static int setopt_int(int fd, int level, int name, int val)
{
    if (setsockopt(fd, level, name, &val, sizeof(val)) != 0) {
        return -errno;
    }
    return 0;
}

static void set_bufsize(int fd, int force_name, int name)
{
    /* The FORCE variant passes rmem_max/wmem_max when we are privileged; fall back quietly. */
    if (setopt_int(fd, SOL_SOCKET, force_name, UDP_SOCKBUF_BYTES) != 0) {
        (void)setopt_int(fd, SOL_SOCKET, name, UDP_SOCKBUF_BYTES);
    }
}

int gs_udp_socket_open(const gs_udp_addr *addr, uint32_t flags, int *pfd, bool *pgro)
{
    int family = addr->u.sa.sa_family;
    bool gro = false;
    int fd;
    int rv;

    if (family != AF_INET && family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
        return -errno;
    }
    if ((flags & GS_UDP_FLAG_NO_REUSEPORT) == 0) {
        rv = setopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (rv != 0) {
            goto fail;
        }
    }
    set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF);
    set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF);
    if (family == AF_INET) {
        /* Destination address of each datagram: the source to answer from on a wildcard bind. */
        rv = setopt_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
        if (rv != 0) {
            goto fail;
        }
        /* The TOS byte carries the ECN codepoint QUIC's congestion control reads. */
        rv = setopt_int(fd, IPPROTO_IP, IP_RECVTOS, 1);
        if (rv != 0) {
            goto fail;
        }
        /* QUIC sets DF itself via path MTU rules; never let the kernel fragment. */
        (void)setopt_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    } else {
        rv = setopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
        if (rv != 0) {
            goto fail;
        }
        rv = setopt_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        if (rv != 0) {
            goto fail;
        }
        rv = setopt_int(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
        if (rv != 0) {
            goto fail;
        }
        (void)setopt_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
    }
    if ((flags & GS_UDP_FLAG_NO_GRO) == 0) {
        /* Best effort: without GRO every datagram simply arrives on its own. */
        gro = setopt_int(fd, IPPROTO_UDP, UDP_GRO, 1) == 0;
    }
    if (bind(fd, &addr->u.sa, addr->len) != 0) {
        rv = -errno;
        goto fail;
    }
    *pfd = fd;
    if (pgro != NULL) {
        *pgro = gro;
    }
    return 0;

fail:
    (void)close(fd);
    return rv;
}

int gs_udp_socket_local(int fd, gs_udp_addr *addr)
{
    memset(addr, 0, sizeof(*addr));
    addr->len = sizeof(addr->u);
    if (getsockname(fd, &addr->u.sa, &addr->len) != 0) {
        addr->len = 0;
        return -errno;
    }
    return 0;
}

int gs_udp_attach_steering(int fd, unsigned nshards)
{
    /* The program sees the packet from the UDP payload on.  A packet too short to hold byte 6
     * gets index |nshards|, which is out of range, so the kernel falls back to its hash (a load
     * past the end would instead end the program with 0 and pin such packets to socket 0). */
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 7, 1, 0),
        /* 2 */ BPF_STMT(BPF_RET | BPF_K, nshards),
        /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 0, 2),
        /* 5 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
        /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1),
        /* 8 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nshards),
        /* 9 */ BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof(code) / sizeof(code[0])),
                              .filter = code};

    if (nshards == 0 || nshards > 255) {
        return GS_ERR_INVAL;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0) {
        return -errno;
    }
    return 0;
}
