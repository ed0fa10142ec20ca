/* SPDX-License-Identifier: MIT */
/*
 * timerq.h: the node's bounded timer queue, a binary min-heap ordered by (deadline, insertion
 * sequence), so timers with equal deadlines fire in the order they were scheduled (deterministic
 * runs).  Timers are fire-and-forget (PROTOCOL.md 7): there is no cancel; each carries enough
 * context (topic slot and generation, a kind, a generation and a 32-byte key) for its handler to
 * re-check state and do nothing when it is stale.
 */
#ifndef GS_PROTO_TIMERQ_H
#define GS_PROTO_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_mem.h"
#include "gs_time.h"

typedef struct gs_timer {
    gs_tstamp deadline;
    uint64_t seq;
    uint32_t topic;     /* topic slot */
    uint32_t topic_gen; /* generation of the topic in that slot when scheduled */
    uint32_t kind;
    uint32_t gen; /* kind-specific generation */
    uint8_t key[32];
} gs_timer;

typedef struct gs_timerq {
    gs_timer *heap;
    size_t n;
    size_t cap;
    size_t max;
    uint64_t seq;
    const gs_mem *mem;
} gs_timerq;

/* gs_timerq_init prepares an empty queue holding at most |max| timers, allocating through |mem|
 * (the node's accounting allocator counts it).  Returns 0. */
int gs_timerq_init(gs_timerq *q, size_t max, const gs_mem *mem);

/* gs_timerq_free releases the heap. */
void gs_timerq_free(gs_timerq *q);

/*
 * gs_timerq_push schedules a copy of |t| (its |seq| is assigned here).  Returns 0, GS_ERR_LIMIT
 * (|max| timers queued) or GS_ERR_NOMEM.
 */
int gs_timerq_push(gs_timerq *q, const gs_timer *t);

/* gs_timerq_peek returns the earliest deadline, or GS_TSTAMP_NEVER when empty. */
gs_tstamp gs_timerq_peek(const gs_timerq *q);

/* gs_timerq_pop_due moves the earliest timer with deadline <= |now| to |*t| and returns true. */
bool gs_timerq_pop_due(gs_timerq *q, gs_tstamp now, gs_timer *t);

#endif /* GS_PROTO_TIMERQ_H */
