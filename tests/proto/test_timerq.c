/* SPDX-License-Identifier: MIT */
/* test_timerq.c: the node's timer heap (proto/timerq.h, internal to proto/). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "fake_mem.h"
#include "gs_err.h"
#include "gs_rand.h"
#include "timerq.h"

Test(timerq, pops_in_deadline_then_insertion_order_and_is_bounded)
{
    gs_timerq q;
    gs_rand r;
    gs_fake_mem fm;
    gs_timer t;

    gs_rand_seed(&r, 4);
    gs_fake_mem_init(&fm, 0);
    gs_timerq_init(&q, 1000, &fm.mem);
    memset(&t, 0, sizeof(t));
    for (uint32_t i = 0; i < 1000; ++i) {
        t.deadline = 1 + gs_rand_below(&r, 49);
        t.gen = i;
        cr_assert(eq(int, gs_timerq_push(&q, &t), 0));
    }
    cr_assert(eq(int, gs_timerq_push(&q, &t), GS_ERR_LIMIT));
    gs_tstamp last = 0;
    uint32_t last_gen = 0;
    size_t n = 0;
    bool early = gs_timerq_pop_due(&q, 0, &t); /* every deadline is >= 1 */
    cr_assert(not(early));
    while (gs_timerq_pop_due(&q, 49, &t)) {
        cr_assert(ge(u64, t.deadline, last));
        if (t.deadline == last && n > 0) {
            cr_assert(gt(u32, t.gen, last_gen)); /* FIFO among equal deadlines */
        }
        last = t.deadline;
        last_gen = t.gen;
        ++n;
    }
    cr_assert(eq(sz, n, 1000));
    cr_assert(eq(u64, gs_timerq_peek(&q), GS_TSTAMP_NEVER));
    cr_assert(gt(sz, fm.nbytes, 0));
    gs_timerq_free(&q);
    cr_assert(eq(sz, fm.nlive, 0));
}
