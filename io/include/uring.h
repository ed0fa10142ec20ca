/* SPDX-License-Identifier: MIT */
/*
 * uring.h: one thread's io_uring UDP engine.
 *
 * A gs_uring owns one ring, up to GS_URING_MAX_SOCKS UDP sockets (registered as fixed files), a
 * provided-buffer ring for receives, a bounded pool of send slots and a doorbell.  Each socket has
 * one multishot recvmsg outstanding; every received buffer is parsed (source address, destination
 * address from packet info, ECN bits, GRO segment size), split into datagrams, handed to the
 * |on_recv| callback and recycled before the turn ends.  Sends go out as one sendmsg per slot,
 * carrying many equal-size datagrams with UDP GSO.
 *
 * Threading: everything except gs_uring_wake must be called from one thread.  The ring is created
 * disabled and bound to the thread that first calls gs_uring_wait (IORING_SETUP_SINGLE_ISSUER), so
 * it can be built on one thread and run on another.  gs_uring_wake may be called from any thread.
 *
 * A turn is gs_uring_wait (submit queued SQEs, sleep until a completion, the timeout or a wake)
 * followed by gs_uring_reap (one pass over the completion queue, callbacks, one CQ advance).
 */
#ifndef GS_IO_URING_H
#define GS_IO_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"
#include "gs_mem.h"
#include "gs_time.h"
#include "udp.h"

#define GS_URING_MAX_SOCKS 8
/* Largest payload one GSO sendmsg may carry (IPv4 maximum; the engine never builds more). */
#define GS_URING_SEND_CAP 65507
/* Most segments per GSO sendmsg (the kernel's UDP_MAX_SEGMENTS on older kernels). */
#define GS_URING_GSO_MAX_SEGS 64

/* ECN codepoints (low two bits of TOS / traffic class). */
#define GS_URING_ECN_NOT_ECT 0u
#define GS_URING_ECN_ECT1    1u
#define GS_URING_ECN_ECT0    2u
#define GS_URING_ECN_CE      3u

/* Setup flags for gs_uring_cfg.flags. */
#define GS_URING_FLAG_NO_GRO 0x1u /* do not enable UDP GRO on sockets */
#define GS_URING_FLAG_NO_GSO 0x2u /* never send more than one datagram per sendmsg */
/* Skip SINGLE_ISSUER/DEFER_TASKRUN/R_DISABLED: the setup an old kernel falls back to (tests). */
#define GS_URING_FLAG_PLAIN_RING 0x4u

/* Which io_uring setup flags the kernel accepted (gs_uring_setup_flags). */
#define GS_URING_SETUP_SINGLE_ISSUER 0x1u
#define GS_URING_SETUP_DEFER_TASKRUN 0x2u
#define GS_URING_SETUP_R_DISABLED    0x4u

/* gs_uring_dgram: one received datagram, valid only during the |on_recv| call. */
typedef struct gs_uring_dgram {
    const uint8_t *data;
    size_t len;
    const gs_udp_addr *remote; /* source address */
    const gs_udp_addr
        *local;    /* destination address (packet info) and socket port; len 0 if unknown */
    uint8_t ecn;   /* GS_URING_ECN_* */
    uint32_t sock; /* index of the socket it arrived on */
} gs_uring_dgram;

/* gs_uring_recv_cb receives one datagram (GRO batches are already split). Must not block. */
typedef void gs_uring_recv_cb(void *user_data, const gs_uring_dgram *dg);
/* gs_uring_wake_cb runs once per turn in which the doorbell was rung (wakes coalesce). */
typedef void gs_uring_wake_cb(void *user_data);

typedef struct gs_uring_cfg {
    unsigned sq_entries; /* submission queue size; 0 = 512 */
    unsigned cq_entries; /* completion queue size; 0 = 16 x sq_entries */
    unsigned nrecv_bufs; /* provided receive buffers, power of two <= 32768; 0 = 128 */
    unsigned
        recv_buf_size;    /* bytes per receive buffer; 0 = 64 KiB + headers with GRO, else 2 KiB */
    unsigned nsend_slots; /* send slots (each GS_URING_SEND_CAP bytes); 0 = 64 */
    uint32_t flags;       /* GS_URING_FLAG_* */
    gs_uring_recv_cb *on_recv;
    gs_uring_wake_cb *on_wake; /* may be NULL */
    void *user_data;
} gs_uring_cfg;

/* gs_uring_stats: counters, written by the owning thread only. */
typedef struct gs_uring_stats {
    uint64_t turns;          /* gs_uring_wait calls */
    uint64_t cqes;           /* completions processed */
    uint64_t rx_dgrams;      /* datagrams handed to on_recv */
    uint64_t rx_bytes;       /* their payload bytes */
    uint64_t rx_bufs;        /* receive buffers consumed (and recycled) */
    uint64_t rx_gro_batches; /* buffers that held more than one datagram */
    uint64_t rx_rearms;      /* multishot receives re-armed (CQE without F_MORE) */
    uint64_t rx_nobufs;      /* -ENOBUFS completions (buffer ring ran dry) */
    uint64_t rx_trunc;       /* datagrams dropped as truncated (MSG_TRUNC/CTRUNC) */
    uint64_t rx_errors;      /* other failed receive completions or malformed buffers */
    uint64_t tx_sends;       /* sendmsg completions that succeeded */
    uint64_t tx_dgrams;      /* datagrams in them */
    uint64_t tx_bytes;       /* payload bytes in them */
    uint64_t tx_retries;     /* sends resubmitted after -EAGAIN/-ENOBUFS/-EINTR */
    uint64_t tx_dropped;     /* sends given up (retries exhausted or a hard error) */
    uint64_t tx_errors;      /* failed send completions (any errno) */
    uint64_t tx_pool_full;   /* gs_uring_send_begin calls refused: no free slot */
    uint64_t wakes;          /* turns in which on_wake ran (rings coalesce) */
    uint64_t doorbell_cqes;  /* eventfd reads completed (rings that found the owner asleep) */
    uint64_t watch_cqes;     /* readiness completions of the watched descriptor */
    uint64_t watch_rearms;   /* its multishot poll ended by the kernel and armed again */
    int last_tx_error;       /* the last send errno (negated), 0 if none */
} gs_uring_stats;

typedef struct gs_uring gs_uring;

/* gs_uring_sendinfo: where a committed send slot goes. */
typedef struct gs_uring_sendinfo {
    uint32_t sock;             /* socket index to send from */
    const gs_udp_addr *remote; /* destination (copied) */
    const gs_udp_addr *local;  /* source address for a wildcard-bound socket, or NULL (copied) */
    size_t segsize;            /* GSO segment size; 0 or >= len: one datagram */
    uint8_t ecn;               /* GS_URING_ECN_*; 0 sends no TOS/TCLASS cmsg */
} gs_uring_sendinfo;

/*
 * gs_uring_new creates an engine from |cfg| (copied; |cfg->on_recv| is required) and stores it in
 * |*pu|.  The ring is set up with SINGLE_ISSUER | DEFER_TASKRUN | R_DISABLED | CQSIZE, dropping
 * the first three one at a time if the kernel refuses them.  |mem| must outlive the engine.
 * Returns 0, GS_ERR_INVAL (bad cfg), GS_ERR_NOMEM, GS_ERR_UNSUPPORTED (no io_uring, no buffer
 * rings, no multishot receive) or a negated errno; |*pu| is untouched on error.
 */
int gs_uring_new(gs_uring **pu, const gs_uring_cfg *cfg, const gs_mem *mem);

/* gs_uring_del cancels everything in flight, closes the sockets and frees |u|.  NULL is a no-op. */
void gs_uring_del(gs_uring *u);

/* gs_uring_setup_flags returns the GS_URING_SETUP_* flags the kernel accepted. */
uint32_t gs_uring_setup_flags(const gs_uring *u);

/*
 * gs_uring_add_udp opens a UDP socket bound to |addr| (SO_REUSEPORT: other engines may bind the
 * same address), registers it as a fixed file, queues its multishot receive and stores its index
 * in |*psock| (may be NULL).  Returns 0, GS_ERR_LIMIT (GS_URING_MAX_SOCKS reached) or a negated
 * errno from socket setup (-EADDRINUSE, ...).
 */
int gs_uring_add_udp(gs_uring *u, const gs_udp_addr *addr, uint32_t *psock);

/* gs_uring_nsocks returns the number of sockets added. */
uint32_t gs_uring_nsocks(const gs_uring *u);

/* gs_uring_sock_local returns the address socket |sock| is bound to (the real port). */
const gs_udp_addr *gs_uring_sock_local(const gs_uring *u, uint32_t sock);

/* gs_uring_sock_fd returns socket |sock|'s descriptor (for extra socket options, e.g. BPF). */
int gs_uring_sock_fd(const gs_uring *u, uint32_t sock);

/* gs_uring_sock_gro returns true if UDP GRO is on for socket |sock|. */
bool gs_uring_sock_gro(const gs_uring *u, uint32_t sock);

/* gs_uring_gso_max_segs returns how many datagrams one send slot may carry (1 without GSO). */
size_t gs_uring_gso_max_segs(const gs_uring *u);

/*
 * gs_uring_send_begin returns the buffer of the next free send slot and its capacity in |*pcap|
 * (GS_URING_SEND_CAP), or NULL if every slot is in flight (counted in tx_pool_full; the caller
 * keeps its data and tries again next turn).  Calling it twice without a commit returns the same
 * buffer.
 */
uint8_t *gs_uring_send_begin(gs_uring *u, size_t *pcap);

/*
 * gs_uring_send_commit queues the slot returned by the last gs_uring_send_begin, holding |len|
 * bytes, as one sendmsg (GSO when |si->segsize| < |len|: every segment |segsize| bytes, the last
 * possibly shorter).  The SQE is submitted by the next gs_uring_wait.  The slot returns to the pool
 * when the send completes; -EAGAIN, -ENOBUFS and -EINTR are retried a bounded number of times,
 * then the datagrams are dropped and counted (QUIC retransmits).
 * Returns 0, GS_ERR_INVAL (no slot taken, bad socket, len 0 or > cap, too many segments) or
 * GS_ERR_AGAIN (no SQE even after flushing; the slot stays taken by the caller: commit again).
 */
int gs_uring_send_commit(gs_uring *u, const gs_uring_sendinfo *si, size_t len);

/*
 * gs_uring_sendto copies |len| bytes at |data| into a slot and commits it as one datagram (or a
 * GSO batch if |segsize| is not 0).  Returns 0, GS_ERR_AGAIN (no free slot) or GS_ERR_INVAL.
 */
int gs_uring_sendto(gs_uring *u, uint32_t sock, const gs_udp_addr *remote, const void *data,
                    size_t len, size_t segsize);

/* gs_uring_send_inflight returns the number of committed sends not completed yet (a slot held
 * between send_begin and send_commit is not counted).  0 means everything queued so far has been
 * handed to the kernel. */
size_t gs_uring_send_inflight(const gs_uring *u);

/*
 * gs_uring_wait submits every queued SQE and sleeps until at least one completion is ready,
 * |timeout| nanoseconds pass (capped at one second) or another thread rings the doorbell.  The
 * first call binds the ring to the calling thread.  Returns 0 (completions may be ready), or a
 * negated errno the caller cannot recover from (-EBADFD, -EFAULT, ...).
 */
int gs_uring_wait(gs_uring *u, gs_duration timeout);

/*
 * gs_uring_reap runs one pass over the completion queue: datagrams to |on_recv|, finished sends
 * back to the pool, receives re-armed, buffers recycled, |on_wake| once if the doorbell rang.
 * Returns the number of completions processed.
 */
unsigned gs_uring_reap(gs_uring *u);

/* gs_uring_run_once is gs_uring_wait(|timeout|) then gs_uring_reap.  Returns reap's count or the
 * wait's error. */
int gs_uring_run_once(gs_uring *u, gs_duration timeout);

/*
 * gs_uring_wake rings |u|'s doorbell from any thread: the owner's current or next gs_uring_wait
 * returns and its next reap calls |on_wake|.  The eventfd is written only when the owner is (about
 * to be) asleep in gs_uring_wait; otherwise setting a flag is enough.  Publish what the owner
 * should see before ringing.  Returns 0 or a negated errno.
 */
int gs_uring_wake(gs_uring *u);

/*
 * gs_uring_watch adds |fd| (not owned; the caller closes it after gs_uring_del) to what ends a
 * gs_uring_wait: a multishot poll for POLLIN, so every wake-up of |fd|'s wait queue while it is
 * readable completes once and marks it ready.  One descriptor per ring (an epoll descriptor
 * gathers more).  Owning thread, before or between turns.  Returns 0, GS_ERR_INVAL (fd < 0, one
 * already watched) or GS_ERR_AGAIN (no SQE).
 */
int gs_uring_watch(gs_uring *u, int fd);

/* gs_uring_watch_take returns true once if a readiness completion of the watched descriptor was
 * reaped since the last call (completions coalesce). */
bool gs_uring_watch_take(gs_uring *u);

/* gs_uring_stats_get returns |u|'s counters (owning thread only). */
const gs_uring_stats *gs_uring_stats_get(const gs_uring *u);

/* gs_uring_now returns CLOCK_MONOTONIC in nanoseconds (the clock io/ and ngtcp2 use). */
gs_tstamp gs_uring_now(void);

#endif /* GS_IO_URING_H */
