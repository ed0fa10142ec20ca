/* SPDX-License-Identifier: MIT */
/* test_table.c: the bounded open-addressing table (proto/gs_table.h) against a reference model. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "fake_mem.h"
#include "gs_err.h"
#include "gs_rand.h"
#include "gs_table.h"

#define TB_NKEYS 4096

static uint8_t tb_keys[TB_NKEYS][GS_TABLE_KEY_MAX];

static const uint8_t *tb_keyof(const void *owner, uint32_t val)
{
    (void)owner;
    return tb_keys[val];
}

/* make_keys fills tb_keys with distinct keys of |keylen| bytes: the index in the last (up to) two
 * bytes, random bytes before it, except every third key, whose other bytes are all zero (long
 * common prefixes must still spread over the slots). */
static void make_keys(gs_rand *r, size_t keylen)
{
    for (uint32_t i = 0; i < TB_NKEYS; ++i) {
        for (size_t k = 0; k < GS_TABLE_KEY_MAX; ++k) {
            tb_keys[i][k] = i % 3 == 0 ? 0 : (uint8_t)gs_rand_next(r);
        }
        tb_keys[i][keylen - 1] = (uint8_t)i;
        if (keylen >= 2) {
            tb_keys[i][keylen - 2] = (uint8_t)(i >> 8);
        }
    }
}

/* run_model inserts/finds/removes random keys of |keylen| bytes and checks every answer against
 * a presence array; |max| bounds the table. */
static void run_model(size_t keylen, size_t max, uint64_t seed)
{
    gs_fake_mem fm;
    gs_table tb;
    gs_rand r;
    static bool present[TB_NKEYS];

    memset(present, 0, sizeof(present));
    gs_rand_seed(&r, seed);
    make_keys(&r, keylen);
    uint32_t nkeys = keylen == 1 ? 256 : TB_NKEYS;
    gs_fake_mem_init(&fm, 0);
    cr_assert(eq(int, gs_table_init(&tb, keylen, 4, max, seed, tb_keyof, NULL, &fm.mem), 0));
    size_t n = 0;
    for (int step = 0; step < 100000; ++step) {
        uint32_t v = (uint32_t)gs_rand_below(&r, nkeys);
        uint32_t got = UINT32_MAX;
        bool found = gs_table_find(&tb, tb_keys[v], &got);
        cr_assert(eq(int, found, present[v]), "keylen %zu step %d", keylen, step);
        if (found) {
            cr_assert(eq(u32, got, v));
            if (gs_rand_below(&r, 2) == 0) {
                cr_assert(gs_table_remove(&tb, tb_keys[v]));
                present[v] = false;
                --n;
            }
        } else {
            cr_assert(not(gs_table_remove(&tb, tb_keys[v])));
            int rv = gs_table_insert(&tb, tb_keys[v], v);
            if (n == max) {
                cr_assert(eq(int, rv, GS_ERR_LIMIT)); /* the bound, nothing changed */
            } else {
                cr_assert(eq(int, rv, 0));
                present[v] = true;
                ++n;
            }
        }
        cr_assert(eq(sz, gs_table_size(&tb), n));
        cr_assert(le(sz, 2 * n, tb.mask + 1)); /* load <= 1/2 */
    }
    for (uint32_t i = 0; i < nkeys; ++i) {
        uint32_t got;
        cr_assert(eq(int, gs_table_find(&tb, tb_keys[i], &got), present[i]));
    }
    cr_assert(le(sz, tb.mask + 1, 2 * max < 8 ? 8 : 4 * max)); /* slots bounded by max */
    gs_table_clear(&tb);
    cr_assert(eq(sz, gs_table_size(&tb), 0));
    gs_table_free(&tb);
    cr_assert(eq(sz, fm.nlive, 0));
}

Test(table, matches_a_reference_with_32_byte_keys)
{
    run_model(32, TB_NKEYS, 3);
}

Test(table, matches_a_reference_with_odd_key_lengths)
{
    run_model(7, TB_NKEYS, 5);
    run_model(20, TB_NKEYS, 6);
    run_model(1, 256, 7);
}

Test(table, refuses_inserts_beyond_its_bound)
{
    run_model(16, 100, 8);
}

Test(table, rejects_bad_parameters)
{
    gs_table tb;
    const gs_mem *mem = gs_mem_default();

    cr_assert(eq(int, gs_table_init(&tb, 0, 1, 10, 1, tb_keyof, NULL, mem), GS_ERR_INVAL));
    cr_assert(eq(int, gs_table_init(&tb, GS_TABLE_KEY_MAX + 1, 1, 10, 1, tb_keyof, NULL, mem),
                 GS_ERR_INVAL));
    cr_assert(eq(int, gs_table_init(&tb, 32, 1, 0, 1, tb_keyof, NULL, mem), GS_ERR_INVAL));
    cr_assert(eq(int, gs_table_init(&tb, 32, 11, 10, 1, tb_keyof, NULL, mem), GS_ERR_INVAL));
}

Test(table, survives_every_allocation_failure)
{
    gs_rand r;
    gs_rand_seed(&r, 10);
    make_keys(&r, 32);
    for (size_t fail_at = 1;; ++fail_at) {
        gs_fake_mem fm;
        gs_table tb;
        gs_fake_mem_init(&fm, fail_at);
        int rv = gs_table_init(&tb, 32, 4, 1000, 9, tb_keyof, NULL, &fm.mem);
        if (rv != 0) {
            cr_assert(eq(int, rv, GS_ERR_NOMEM));
            cr_assert(eq(sz, fm.nlive, 0));
            continue;
        }
        size_t n = 0;
        for (uint32_t v = 0; v < 100; ++v) {
            rv = gs_table_insert(&tb, tb_keys[v], v);
            if (rv != 0) {
                cr_assert(eq(int, rv, GS_ERR_NOMEM), "fail_at=%zu", fail_at);
                break;
            }
            ++n;
        }
        cr_assert(eq(sz, gs_table_size(&tb), n)); /* a failed growth changed nothing */
        for (uint32_t v = 0; v < n; ++v) {
            uint32_t got;
            cr_assert(gs_table_find(&tb, tb_keys[v], &got));
            cr_assert(eq(u32, got, v));
        }
        gs_table_free(&tb);
        cr_assert(eq(sz, fm.nlive, 0));
        if (n == 100) {
            break;
        }
    }
}
