/* SPDX-License-Identifier: MIT */
/*
 * quic_pack.c: the GSO run packer (see quic_pack.h).
 */
#include "quic_pack.h"

#include <string.h>

void gs_quic_pack_init(gs_quic_pack *pk, size_t max_packet_size)
{
    memset(pk, 0, sizeof(*pk));
    pk->max_packet_size = max_packet_size;
}

bool gs_quic_addr_eq(const gs_quic_addr *a, const gs_quic_addr *b)
{
    return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

bool gs_quic_pack_can(const gs_quic_pack *pk, const gs_quic_txbuf *tx, const void *owner,
                      const gs_quic_addr *local, const gs_quic_addr *remote, size_t *pmax)
{
    if (tx->cap - tx->len < pk->max_packet_size) {
        return false;
    }
    *pmax = pk->max_packet_size;
    if (tx->nruns < tx->maxruns) {
        return true;
    }
    const gs_quic_seg_run *r = &tx->runs[tx->nruns - 1];
    if (pk->run_owner != owner || r->off + r->len != tx->len || r->len != r->segsize * r->nsegs ||
        r->nsegs >= tx->max_segs || r->len + r->segsize > GS_QUIC_RUN_MAX) {
        return false;
    }
    if (remote != NULL &&
        (!gs_quic_addr_eq(&r->remote, remote) || !gs_quic_addr_eq(&r->local, local))) {
        return false;
    }
    *pmax = r->segsize;
    return true;
}

/* run_extends tells whether a packet of |n| bytes for (|local|, |remote|, |ecn|) can be appended to
 * |tx|'s last run |r| (NULL: none) as one more GSO segment. */
static bool run_extends(const gs_quic_pack *pk, const gs_quic_txbuf *tx, const gs_quic_seg_run *r,
                        const void *owner, const gs_quic_addr *local, const gs_quic_addr *remote,
                        uint8_t ecn, size_t n)
{
    return r != NULL && pk->run_owner == owner && r->off + r->len == tx->len && r->ecn == ecn &&
           r->nsegs < tx->max_segs && r->len == r->segsize * r->nsegs && n <= r->segsize &&
           r->len + n <= GS_QUIC_RUN_MAX && gs_quic_addr_eq(&r->remote, remote) &&
           gs_quic_addr_eq(&r->local, local);
}

bool gs_quic_pack_place(gs_quic_pack *pk, gs_quic_txbuf *tx, const void *owner,
                        const gs_quic_addr *local, const gs_quic_addr *remote, uint8_t ecn,
                        size_t n)
{
    gs_quic_seg_run *r = tx->nruns > 0 ? &tx->runs[tx->nruns - 1] : NULL;

    if (run_extends(pk, tx, r, owner, local, remote, ecn, n)) {
        r->len += n;
        ++r->nsegs;
    } else if (tx->nruns < tx->maxruns) {
        r = &tx->runs[tx->nruns++];
        r->local = *local;
        r->remote = *remote;
        r->off = tx->len;
        r->len = n;
        r->segsize = n;
        r->nsegs = 1;
        r->ecn = ecn;
        pk->run_owner = owner;
    } else {
        /* The writer produces at most one packet after the batch filled up (it asks
         * gs_quic_pack_can first), and the next write empties the stash before anything else. */
        memcpy(pk->stash, tx->buf + tx->len, n);
        pk->stash_len = n;
        pk->stash_local = *local;
        pk->stash_remote = *remote;
        pk->stash_ecn = ecn;
        pk->stash_owner = owner;
        return false;
    }
    tx->len += n;
    ++pk->packets;
    pk->bytes += n;
    return true;
}

bool gs_quic_pack_copy(gs_quic_pack *pk, gs_quic_txbuf *tx, const void *owner,
                       const gs_quic_addr *local, const gs_quic_addr *remote, uint8_t ecn,
                       const uint8_t *pkt, size_t n)
{
    const gs_quic_seg_run *r = tx->nruns > 0 ? &tx->runs[tx->nruns - 1] : NULL;
    if (tx->cap - tx->len < n ||
        (tx->nruns >= tx->maxruns && !run_extends(pk, tx, r, owner, local, remote, ecn, n))) {
        return false;
    }
    memcpy(tx->buf + tx->len, pkt, n);
    return gs_quic_pack_place(pk, tx, owner, local, remote, ecn, n);
}

bool gs_quic_pack_unstash(gs_quic_pack *pk, gs_quic_txbuf *tx)
{
    size_t n = pk->stash_len;

    if (n == 0) {
        return true;
    }
    pk->stash_len = 0;
    if (!gs_quic_pack_copy(pk, tx, pk->stash_owner, &pk->stash_local, &pk->stash_remote,
                           pk->stash_ecn, pk->stash, n)) {
        pk->stash_len = n;
        return false;
    }
    return true;
}

size_t gs_quic_pack_check(const gs_quic_txbuf *tx)
{
    size_t off = tx->nruns > 0 ? tx->runs[0].off : tx->len;

    for (size_t i = 0; i < tx->nruns; ++i) {
        const gs_quic_seg_run *r = &tx->runs[i];

        if (r->off != off || r->nsegs == 0 || r->segsize == 0 || r->len > r->nsegs * r->segsize ||
            r->len <= (r->nsegs - 1) * r->segsize || r->nsegs > tx->max_segs ||
            r->len > GS_QUIC_RUN_MAX) {
            return i + 1;
        }
        off += r->len;
    }
    return off == tx->len ? 0 : tx->nruns;
}
