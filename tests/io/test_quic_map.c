/* SPDX-License-Identifier: MIT */
/*
 * test_quic_map.c: the endpoint's bounded maps (io/quic_map.c on gs_table) against a plain
 * reference model: keys of different lengths that share a prefix stay apart, values can repeat,
 * the bound holds, records are reused, purge removes exactly the entries with one value, and every
 * allocation is returned.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "fake_mem.h"
#include "quic_int.h" /* internal: the maps */

#define KEYMAX 20
#define MAXN   64

typedef struct ref_ent {
    bool used;
    size_t len;
    uint8_t key[KEYMAX];
    uint32_t val;
} ref_ent;

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static ref_ent *ref_find(ref_ent *ref, const uint8_t *key, size_t len)
{
    for (size_t i = 0; i < 4 * MAXN; ++i) {
        if (ref[i].used && ref[i].len == len && memcmp(ref[i].key, key, len) == 0) {
            return &ref[i];
        }
    }
    return NULL;
}

static size_t ref_count(const ref_ent *ref)
{
    size_t n = 0;
    for (size_t i = 0; i < 4 * MAXN; ++i) {
        n += ref[i].used ? 1 : 0;
    }
    return n;
}

Test(quic_map, agrees_with_a_reference_model)
{
    static ref_ent ref[4 * MAXN];
    gs_fake_mem fm;
    qmap m;
    uint64_t rng = 0x1234567887654321ULL;

    gs_fake_mem_init(&fm, 0);
    cr_assert(eq(int, gs_quic_map_init(&m, MAXN, KEYMAX, 42, &fm.mem), 0));
    memset(ref, 0, sizeof(ref));
    for (int step = 0; step < 200000; ++step) {
        uint8_t key[KEYMAX];
        /* keys from a small space: lengths 1..KEYMAX over a common prefix, so lengths matter */
        size_t len = 1 + xs(&rng) % KEYMAX;
        memset(key, 0x5a, sizeof(key));
        key[len - 1] = (uint8_t)(xs(&rng) % 8);
        uint32_t val = (uint32_t)(xs(&rng) % 16); /* values repeat */
        ref_ent *r = ref_find(ref, key, len);
        switch (xs(&rng) % 5) {
        case 0:
        case 1: {
            int rv = gs_quic_map_put(&m, key, len, val);
            if (r != NULL) {
                cr_assert(eq(int, rv, 0));
                r->val = val;
            } else if (ref_count(ref) >= MAXN) {
                cr_assert(eq(int, rv, GS_ERR_LIMIT), "step %d", step);
            } else {
                cr_assert(eq(int, rv, 0));
                for (size_t i = 0; i < 4 * MAXN; ++i) {
                    if (!ref[i].used) {
                        ref[i].used = true;
                        ref[i].len = len;
                        memcpy(ref[i].key, key, len);
                        ref[i].val = val;
                        break;
                    }
                }
            }
            break;
        }
        case 2:
            cr_assert(eq(int, gs_quic_map_del(&m, key, len), r != NULL));
            if (r != NULL) {
                r->used = false;
            }
            break;
        case 3: {
            const uint32_t *v = gs_quic_map_get(&m, key, len);
            cr_assert(eq(int, v != NULL, r != NULL), "step %d", step);
            if (r != NULL) {
                cr_assert(eq(u32, *v, r->val));
            }
            break;
        }
        default:
            if (xs(&rng) % 64 == 0) {
                size_t want = 0;
                for (size_t i = 0; i < 4 * MAXN; ++i) {
                    if (ref[i].used && ref[i].val == val) {
                        ref[i].used = false;
                        ++want;
                    }
                }
                cr_assert(eq(sz, gs_quic_map_purge(&m, val), want));
            }
            break;
        }
        cr_assert(eq(sz, m.n, ref_count(ref)));
    }
    /* bad keys */
    uint8_t big[KEYMAX + 1] = {0};
    cr_assert(eq(int, gs_quic_map_put(&m, big, 0, 1), GS_ERR_INVAL));
    cr_assert(eq(int, gs_quic_map_put(&m, big, KEYMAX + 1, 1), GS_ERR_INVAL));
    cr_assert(eq(ptr, gs_quic_map_get(&m, big, KEYMAX + 1), NULL));
    cr_assert(le(sz, m.used, MAXN)); /* records are reused, never more than the bound */
    gs_quic_map_free(&m, &fm.mem);
    cr_assert(eq(sz, fm.nlive, 0));
}

Test(quic_map, init_fails_cleanly)
{
    gs_fake_mem fm;
    qmap m;

    gs_fake_mem_init(&fm, 0);
    cr_assert(eq(int, gs_quic_map_init(&m, 0, 8, 1, &fm.mem), GS_ERR_INVAL));
    cr_assert(eq(int, gs_quic_map_init(&m, 8, 0, 1, &fm.mem), GS_ERR_INVAL));
    cr_assert(eq(int, gs_quic_map_init(&m, 8, 64, 1, &fm.mem), GS_ERR_INVAL));
    for (size_t fail = 1; fail <= 2; ++fail) {
        gs_fake_mem_init(&fm, fail);
        cr_assert(eq(int, gs_quic_map_init(&m, 8, 8, 1, &fm.mem), GS_ERR_NOMEM));
        cr_assert(eq(sz, fm.nlive, 0));
    }
}
