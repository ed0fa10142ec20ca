/* SPDX-License-Identifier: MIT */
/*
 * ring.c: SPSC ring.  head and tail are free-running counters (never wrapped), the slot index is
 * counter & mask.  The producer publishes with a release store of tail after copying records in;
 * the consumer reads tail with acquire before copying records out and releases head after, so the
 * producer never overwrites a slot still being read.  Each side caches the other's counter and
 * re-reads it only when the cache says full (producer) or holds fewer records than asked for
 * (consumer).
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

int gs_ring_init(gs_ring *r, size_t cap, size_t recsize)
{
    size_t n = 2;

    if (cap == 0 || recsize == 0 || cap > ((size_t)1 << 30)) {
        return GS_ERR_INVAL;
    }
    while (n < cap) {
        n <<= 1;
    }
    if (recsize > SIZE_MAX / n) {
        return GS_ERR_INVAL;
    }
    memset(r, 0, sizeof(*r));
    r->slots = aligned_alloc(GS_RING_CACHELINE, ((n * recsize) + GS_RING_CACHELINE - 1) /
                                                    GS_RING_CACHELINE * GS_RING_CACHELINE);
    if (r->slots == NULL) {
        return GS_ERR_NOMEM;
    }
    r->mask = n - 1;
    r->recsize = recsize;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->pushed, 0);
    atomic_init(&r->refused, 0);
    atomic_init(&r->popped, 0);
    return 0;
}

void gs_ring_free(gs_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

size_t gs_ring_capacity(const gs_ring *r)
{
    return r->mask + 1;
}

bool gs_ring_push(gs_ring *r, const void *rec)
{
    if (r->ptail - r->phead > r->mask) {
        r->phead = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->ptail - r->phead > r->mask) {
            atomic_store_explicit(&r->refused,
                                  atomic_load_explicit(&r->refused, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            return false;
        }
    }
    memcpy(r->slots + (r->ptail & r->mask) * r->recsize, rec, r->recsize);
    r->ptail++;
    return true;
}

size_t gs_ring_publish(gs_ring *r)
{
    size_t old = atomic_load_explicit(&r->tail, memory_order_relaxed);

    if (old == r->ptail) {
        return 0;
    }
    atomic_store_explicit(&r->tail, r->ptail, memory_order_release);
    atomic_store_explicit(&r->pushed,
                          atomic_load_explicit(&r->pushed, memory_order_relaxed) + (r->ptail - old),
                          memory_order_relaxed);
    return r->ptail - old;
}

size_t gs_ring_pop(gs_ring *r, void *out, size_t max)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t n;

    if (r->ctail - head < max) {
        r->ctail = atomic_load_explicit(&r->tail, memory_order_acquire);
    }
    n = r->ctail - head;
    if (n > max) {
        n = max;
    }
    for (size_t i = 0; i < n; ++i) {
        memcpy((uint8_t *)out + i * r->recsize, r->slots + ((head + i) & r->mask) * r->recsize,
               r->recsize);
    }
    if (n > 0) {
        atomic_store_explicit(&r->head, head + n, memory_order_release);
        atomic_store_explicit(&r->popped,
                              atomic_load_explicit(&r->popped, memory_order_relaxed) + n,
                              memory_order_relaxed);
    }
    return n;
}

bool gs_ring_pending(gs_ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (r->ctail != head) {
        return true;
    }
    r->ctail = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->ctail != head;
}

void gs_ring_stats_get(const gs_ring *r, gs_ring_stats *st)
{
    st->pushed = atomic_load_explicit(&r->pushed, memory_order_relaxed);
    st->popped = atomic_load_explicit(&r->popped, memory_order_relaxed);
    st->refused = atomic_load_explicit(&r->refused, memory_order_relaxed);
}
