/* SPDX-License-Identifier: MIT */
/*
 * quic_pack.h: the GSO run packer behind gs_quic_ep_write (internal; no ngtcp2 in sight, so it
 * is unit-tested on its own: tests/io/test_quic_pack.c).
 *
 * The caller's gs_quic_txbuf holds packets in runs: each run is one GSO sendmsg, i.e. packets for
 * one path (local, remote) with one ECN codepoint, all segments but the last exactly |segsize|
 * bytes, at most tx->max_segs segments and GS_QUIC_RUN_MAX bytes.  The packer decides where a
 * packet goes: it extends the last run when GSO allows it, opens a new run while run slots are
 * left, and otherwise keeps the packet in its one-packet stash, which the next write sends first.
 *
 * Invariants (checked by gs_quic_pack_check in tests and debug builds):
 *  - runs are contiguous and in order: runs[0].off == 0 (for the packets this packer placed in an
 *    empty batch), runs[i].off + runs[i].len == runs[i + 1].off, the last ends at tx->len;
 *  - within a run every segment but the last is |segsize| bytes: len <= nsegs * segsize and
 *    len > (nsegs - 1) * segsize; nsegs <= max_segs; len <= GS_QUIC_RUN_MAX;
 *  - runs never mix owners (connections): a run is only extended for the owner that opened it,
 *    because a GSO batch is steered (and on loopback delivered) as one unit;
 *  - at most one packet waits in the stash.
 */
#ifndef GS_IO_QUIC_PACK_H
#define GS_IO_QUIC_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic.h"

/* The largest run handed to one GSO sendmsg (UDP payload bytes; IP limit is 65,507). */
#define GS_QUIC_RUN_MAX 65000

typedef struct gs_quic_pack {
    size_t max_packet_size; /* the endpoint's cfg.max_packet_size */
    const void *run_owner;  /* who placed the last run of the caller's batch */
    /* one packet written that did not fit the caller's batch: sent first by the next write */
    size_t stash_len; /* 0: empty */
    const void *stash_owner;
    gs_quic_addr stash_local;
    gs_quic_addr stash_remote;
    uint8_t stash_ecn;
    uint8_t stash[GS_QUIC_MAX_PACKET];
    /* counters */
    uint64_t packets; /* packets placed in a batch */
    uint64_t bytes;   /* their bytes */
} gs_quic_pack;

/* gs_quic_pack_init clears |pk| for packets of at most |max_packet_size| bytes. */
void gs_quic_pack_init(gs_quic_pack *pk, size_t max_packet_size);

/* gs_quic_addr_eq compares two addresses (normalised: zero padding). */
bool gs_quic_addr_eq(const gs_quic_addr *a, const gs_quic_addr *b);

/*
 * gs_quic_pack_can tells whether |tx| can take one more packet of |owner| for the path (|local|,
 * |remote|) and stores the largest packet size that keeps GSO runs valid in |*pmax|: with a free
 * run slot any packet fits; otherwise the packet must extend the last run (same owner and path,
 * all earlier segments full, not larger than the run's segment size).  |remote| NULL: any path.
 */
bool gs_quic_pack_can(const gs_quic_pack *pk, const gs_quic_txbuf *tx, const void *owner,
                      const gs_quic_addr *local, const gs_quic_addr *remote, size_t *pmax);

/*
 * gs_quic_pack_place accounts a packet of |n| bytes already written at tx->buf + tx->len: it
 * extends the last run when GSO allows it, else opens a run.  With no run slot left the packet
 * is moved to the stash (the stash must be empty) and false is returned.
 */
bool gs_quic_pack_place(gs_quic_pack *pk, gs_quic_txbuf *tx, const void *owner,
                        const gs_quic_addr *local, const gs_quic_addr *remote, uint8_t ecn,
                        size_t n);

/* gs_quic_pack_copy places the ready-made packet |pkt| (stateless packets, saved closes) if |tx|
 * can take it; false (nothing done) otherwise. */
bool gs_quic_pack_copy(gs_quic_pack *pk, gs_quic_txbuf *tx, const void *owner,
                       const gs_quic_addr *local, const gs_quic_addr *remote, uint8_t ecn,
                       const uint8_t *pkt, size_t n);

/* gs_quic_pack_unstash moves the stashed packet (if any) into |tx|.  Returns true when the stash
 * is empty afterwards, false when the packet still did not fit (it stays stashed). */
bool gs_quic_pack_unstash(gs_quic_pack *pk, gs_quic_txbuf *tx);

/* gs_quic_pack_check returns 0 when the runs |tx| holds keep the invariants above, or the
 * 1-based index of the first run that breaks one. */
size_t gs_quic_pack_check(const gs_quic_txbuf *tx);

#endif /* GS_IO_QUIC_PACK_H */
