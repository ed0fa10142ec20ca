/* SPDX-License-Identifier: MIT */
/*
 * gs_table.c: bounded open-addressing index (see gs_table.h).  Invariant: every entry sits in the
 * probe run that starts at its home slot (hash & mask) with no empty slot in between; backward-
 * shift deletion keeps it without tombstones, so lookups stay short however many deletions
 * happen.  The load factor stays at or below 1/2, so a run always ends at an empty slot.
 */
#include "gs_table.h"

#include <assert.h>
#include <string.h>

#include "gs_err.h"

static uint64_t load64_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; ++i) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* table_hash: every key byte goes through a keyed multiply-rotate chain, then a final mix. */
static uint32_t table_hash(const gs_table *tb, const uint8_t *key)
{
    uint64_t h = tb->k0 ^ (uint64_t)tb->keylen;
    size_t i = 0;

    for (; i + 8 <= tb->keylen; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, sizeof(w));
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h = (h << 29) | (h >> 35);
    }
    if (i < tb->keylen) {
        h = (h ^ load64_le(key + i, tb->keylen - i)) * 0x9e3779b97f4a7c15ULL;
    }
    return (uint32_t)mix64(h ^ tb->k1);
}

static int table_alloc(gs_table *tb, size_t nslots)
{
    gs_table_slot *slots = gs_mem_calloc(tb->mem, nslots, sizeof(*slots));

    if (slots == NULL) {
        return GS_ERR_NOMEM;
    }
    gs_table_slot *old = tb->slots;
    size_t oldn = old == NULL ? 0 : tb->mask + 1;
    size_t mask = nslots - 1;

    for (size_t i = 0; i < oldn; ++i) {
        if (old[i].val1 == 0) {
            continue;
        }
        size_t j = old[i].hash & mask;
        while (slots[j].val1 != 0) {
            j = (j + 1) & mask;
        }
        slots[j] = old[i];
    }
    if (old != NULL) {
        gs_mem_free(tb->mem, old);
    }
    tb->slots = slots;
    tb->mask = mask;
    return 0;
}

static size_t slots_for(size_t n)
{
    size_t nslots = 8;

    while (nslots < 2 * n) {
        nslots *= 2;
    }
    return nslots;
}

int gs_table_init(gs_table *tb, size_t keylen, size_t nmin, size_t max, uint64_t seed,
                  gs_table_key_fn keyof, const void *owner, const gs_mem *mem)
{
    memset(tb, 0, sizeof(*tb));
    if (keylen == 0 || keylen > GS_TABLE_KEY_MAX || max == 0 || max > GS_TABLE_MAX || nmin > max) {
        return GS_ERR_INVAL;
    }
    tb->keylen = keylen;
    tb->max = max;
    tb->k0 = seed ^ 0x243f6a8885a308d3ULL;
    tb->k1 = (seed * 0x9e3779b97f4a7c15ULL) ^ 0x13198a2e03707344ULL;
    tb->keyof = keyof;
    tb->owner = owner;
    tb->mem = mem;
    return table_alloc(tb, slots_for(nmin));
}

void gs_table_free(gs_table *tb)
{
    if (tb->slots != NULL) {
        gs_mem_free(tb->mem, tb->slots);
        tb->slots = NULL;
    }
    tb->n = 0;
}

int gs_table_reserve(gs_table *tb, size_t n)
{
    if (n > tb->max) {
        n = tb->max;
    }
    if (2 * n <= tb->mask + 1) {
        return 0;
    }
    return table_alloc(tb, slots_for(n));
}

bool gs_table_find(const gs_table *tb, const uint8_t *key, uint32_t *pval)
{
    uint32_t h = table_hash(tb, key);
    size_t i = h & tb->mask;

    for (;;) {
        const gs_table_slot *s = &tb->slots[i];
        if (s->val1 == 0) {
            return false;
        }
        if (s->hash == h && memcmp(tb->keyof(tb->owner, s->val1 - 1), key, tb->keylen) == 0) {
            *pval = s->val1 - 1;
            return true;
        }
        i = (i + 1) & tb->mask;
    }
}

int gs_table_insert(gs_table *tb, const uint8_t *key, uint32_t val)
{
    assert(val != UINT32_MAX);
    if (tb->n >= tb->max) {
        return GS_ERR_LIMIT;
    }
    int rv = gs_table_reserve(tb, tb->n + 1);
    if (rv != 0) {
        return rv;
    }
    assert(2 * (tb->n + 1) <= tb->mask + 1); /* load <= 1/2: the probe below ends */
    uint32_t h = table_hash(tb, key);
    size_t i = h & tb->mask;
    while (tb->slots[i].val1 != 0) {
        i = (i + 1) & tb->mask;
    }
    tb->slots[i].hash = h;
    tb->slots[i].val1 = val + 1;
    ++tb->n;
    return 0;
}

bool gs_table_remove(gs_table *tb, const uint8_t *key)
{
    uint32_t h = table_hash(tb, key);
    size_t i = h & tb->mask;

    for (;;) {
        gs_table_slot *s = &tb->slots[i];
        if (s->val1 == 0) {
            return false;
        }
        if (s->hash == h && memcmp(tb->keyof(tb->owner, s->val1 - 1), key, tb->keylen) == 0) {
            break;
        }
        i = (i + 1) & tb->mask;
    }
    /* Backward shift: pull later members of the run into the hole when their home slot is not
     * cyclically inside (hole, j]. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & tb->mask;
        if (tb->slots[j].val1 == 0) {
            break;
        }
        size_t home = tb->slots[j].hash & tb->mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            tb->slots[hole] = tb->slots[j];
            hole = j;
        }
    }
    tb->slots[hole].val1 = 0;
    tb->slots[hole].hash = 0;
    --tb->n;
    return true;
}

void gs_table_clear(gs_table *tb)
{
    memset(tb->slots, 0, (tb->mask + 1) * sizeof(tb->slots[0]));
    tb->n = 0;
}
