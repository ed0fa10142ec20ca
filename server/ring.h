/* SPDX-License-Identifier: MIT */
/*
 * ring.h: a single-producer single-consumer ring of fixed-size records (C11 atomics,
 * acquire/release), the transport between two shards (or a shard and the control thread).  It
 * knows nothing of what it carries: records are |recsize| bytes copied in and out.
 *
 * The producer stages records with gs_ring_push (invisible to the consumer) and makes the whole
 * batch visible with one gs_ring_publish (one release store), once per loop turn.  The consumer
 * takes up to |max| records with gs_ring_pop (one acquire load, one release store per call).
 * Neither side ever blocks or spins: a full ring refuses the push (the caller keeps the record in
 * its own bounded backlog, mailbox.h), an empty ring returns 0.
 *
 * Threads: gs_ring_push and gs_ring_publish only from the producer thread, gs_ring_pop and
 * gs_ring_pending only from the consumer thread; gs_ring_stats from any thread (relaxed reads).
 */
#ifndef GS_SERVER_RING_H
#define GS_SERVER_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"

#define GS_RING_CACHELINE 64

/* gs_ring: one direction between two threads.  Fields are private; use the functions. */
typedef struct gs_ring {
    /* consumer-written, producer-read */
    _Alignas(GS_RING_CACHELINE) _Atomic size_t head;
    /* producer-written, consumer-read: records [head, tail) are visible */
    _Alignas(GS_RING_CACHELINE) _Atomic size_t tail;
    /* producer-only: staged tail and a cached copy of head (saves a shared-line read per push) */
    _Alignas(GS_RING_CACHELINE) size_t ptail;
    size_t phead;
    _Atomic uint64_t pushed;  /* records published (relaxed; producer writes) */
    _Atomic uint64_t refused; /* pushes refused because the ring was full (relaxed; producer) */
    /* consumer-only: cached copy of tail */
    _Alignas(GS_RING_CACHELINE) size_t ctail;
    _Atomic uint64_t popped; /* records consumed (relaxed; consumer writes) */
    /* read-only after init */
    _Alignas(GS_RING_CACHELINE) size_t mask;
    size_t recsize;
    uint8_t *slots;
} gs_ring;

/* gs_ring_stats: a snapshot of one ring's counters. */
typedef struct gs_ring_stats {
    uint64_t pushed;
    uint64_t popped;
    uint64_t refused;
} gs_ring_stats;

/*
 * gs_ring_init prepares |r| for |cap| records (rounded up to a power of two, at least 2) of
 * |recsize| bytes each.  Returns 0, GS_ERR_INVAL (cap or recsize 0, overflow) or GS_ERR_NOMEM.
 */
int gs_ring_init(gs_ring *r, size_t cap, size_t recsize);

/* gs_ring_free releases |r|'s slots (records still in it are dropped; callers drain first). */
void gs_ring_free(gs_ring *r);

/* gs_ring_capacity returns the number of records |r| holds when full. */
size_t gs_ring_capacity(const gs_ring *r);

/*
 * gs_ring_push stages a copy of |rec| (recsize bytes).  It becomes visible to the consumer at the
 * next gs_ring_publish.  Returns true, or false (counted in refused) when the ring is full.
 */
bool gs_ring_push(gs_ring *r, const void *rec);

/* gs_ring_publish makes every staged record visible.  Returns the number newly published. */
size_t gs_ring_publish(gs_ring *r);

/* gs_ring_pop copies up to |max| visible records to |out| (max * recsize bytes) and frees their
 * slots.  Returns the number copied (0 when empty). */
size_t gs_ring_pop(gs_ring *r, void *out, size_t max);

/* gs_ring_pending returns true if published records wait for the consumer (consumer thread; an
 * acquire load, so the records it reports are readable). */
bool gs_ring_pending(gs_ring *r);

/* gs_ring_stats reads |r|'s counters (any thread). */
void gs_ring_stats_get(const gs_ring *r, gs_ring_stats *st);

#endif /* GS_SERVER_RING_H */
