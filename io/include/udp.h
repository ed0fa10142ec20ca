/* SPDX-License-Identifier: MIT */
/*
 * udp.h: UDP addresses and socket setup for the io_uring engine (io/uring.h).
 *
 * gs_udp_addr holds an IPv4 or IPv6 socket address together with its length, so it can be handed
 * to sendmsg/ngtcp2 as is.  gs_udp_socket_open creates a socket configured the way the engine
 * needs it: SO_REUSEPORT (several shards bind one port), large buffers, packet info and ECN
 * ancillary data on receive, UDP GRO when the kernel has it.  Sockets are blocking on purpose:
 * io_uring then waits for readiness itself instead of completing requests with -EAGAIN.
 */
#ifndef GS_IO_UDP_H
#define GS_IO_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "gs_err.h"

/* gs_udp_addr: an AF_INET or AF_INET6 address; |len| is 0 for "no address". */
typedef struct gs_udp_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len;
} gs_udp_addr;

/* Longest text gs_udp_addr_format writes, NUL included ("[v6%scope]:port"). */
#define GS_UDP_ADDR_STRLEN 64

/* Socket option flags for gs_udp_socket_open. */
#define GS_UDP_FLAG_NO_GRO       0x1u /* do not enable UDP_GRO */
#define GS_UDP_FLAG_NO_REUSEPORT 0x2u /* do not set SO_REUSEPORT */

/*
 * gs_udp_addr_parse parses |s|, "A.B.C.D:PORT" or "[V6]:PORT", into |*addr|.  Names are not
 * resolved.  Returns 0 or GS_ERR_INVAL.
 */
int gs_udp_addr_parse(gs_udp_addr *addr, const char *s);

/*
 * gs_udp_addr_format writes |addr| as text ("1.2.3.4:5", "[::1]:5") to |buf| of |buflen| bytes
 * (GS_UDP_ADDR_STRLEN is always enough).  Returns the length written (without the NUL), or
 * GS_ERR_NOBUF / GS_ERR_INVAL.
 */
gs_ssize gs_udp_addr_format(const gs_udp_addr *addr, char *buf, size_t buflen);

/* gs_udp_addr_eq returns true if |a| and |b| are the same family, address and port. */
bool gs_udp_addr_eq(const gs_udp_addr *a, const gs_udp_addr *b);

/* gs_udp_addr_port returns |addr|'s port in host order (0 for no address). */
uint16_t gs_udp_addr_port(const gs_udp_addr *addr);

/*
 * gs_udp_socket_open creates a UDP socket for |addr|'s family, configures it (see the file
 * comment; IPv6 sockets are IPV6_V6ONLY so a v4 and a v6 socket can share a port), binds it to
 * |addr| and stores the descriptor in |*pfd|.  |flags| is a set of GS_UDP_FLAG_*.  If |pgro| is
 * not NULL it receives whether UDP_GRO is on.
 * Returns 0, or a negated errno (-EADDRINUSE, -EAFNOSUPPORT, ...) with nothing left open.
 */
int gs_udp_socket_open(const gs_udp_addr *addr, uint32_t flags, int *pfd, bool *pgro);

/*
 * gs_udp_socket_local stores the address |fd| is bound to (the real port after binding port 0)
 * in |*addr|.  Returns 0 or a negated errno.
 */
int gs_udp_socket_local(int fd, gs_udp_addr *addr);

/*
 * gs_udp_attach_steering attaches a classic BPF program to |fd|'s SO_REUSEPORT group that picks
 * the group's socket number (bind order) from the QUIC destination connection id: payload byte 1
 * of a short header, byte 6 of a long header, modulo |nshards| (DESIGN.md "steering").  Our
 * connection ids carry the owning shard's index in their first byte, so every packet of a
 * connection reaches the shard that owns it; a client's first Initials (a DCID it chose) still go
 * to one shard per attempt.  Packets too short to hold the byte fall back to the kernel's hash.
 * Returns 0, GS_ERR_INVAL (|nshards| outside 1..255) or a negated errno.
 */
int gs_udp_attach_steering(int fd, unsigned nshards);

#endif /* GS_IO_UDP_H */
