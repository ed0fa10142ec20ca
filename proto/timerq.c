/* SPDX-License-Identifier: MIT */
/* timerq.c: binary min-heap of timers (see timerq.h).  Push and pop are O(log n). */
#include "timerq.h"

#include <string.h>

#include "gs_err.h"

static bool timer_before(const gs_timer *a, const gs_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

int gs_timerq_init(gs_timerq *q, size_t max, const gs_mem *mem)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
    q->mem = mem;
    return 0;
}

void gs_timerq_free(gs_timerq *q)
{
    if (q->heap != NULL) {
        gs_mem_free(q->mem, q->heap);
    }
    q->heap = NULL;
    q->n = q->cap = 0;
}

int gs_timerq_push(gs_timerq *q, const gs_timer *t)
{
    if (q->n >= q->max) {
        return GS_ERR_LIMIT;
    }
    if (q->n == q->cap) {
        size_t ncap = q->cap == 0 ? 64 : q->cap * 2;
        if (ncap > q->max) {
            ncap = q->max;
        }
        gs_timer *h = gs_mem_realloc(q->mem, q->heap, ncap * sizeof(*h));
        if (h == NULL) {
            return GS_ERR_NOMEM;
        }
        q->heap = h;
        q->cap = ncap;
    }
    gs_timer x = *t;
    x.seq = q->seq++;
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(&x, &q->heap[parent])) {
            break;
        }
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = x;
    return 0;
}

gs_tstamp gs_timerq_peek(const gs_timerq *q)
{
    return q->n == 0 ? GS_TSTAMP_NEVER : q->heap[0].deadline;
}

bool gs_timerq_pop_due(gs_timerq *q, gs_tstamp now, gs_timer *t)
{
    if (q->n == 0 || q->heap[0].deadline > now) {
        return false;
    }
    *t = q->heap[0];
    gs_timer last = q->heap[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) {
            break;
        }
        if (c + 1 < q->n && timer_before(&q->heap[c + 1], &q->heap[c])) {
            ++c;
        }
        if (!timer_before(&q->heap[c], &last)) {
            break;
        }
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->n > 0) {
        q->heap[i] = last;
    }
    return true;
}
