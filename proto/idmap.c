/* SPDX-License-Identifier: MIT */
/*
 * idmap.c: open-addressing index (see idmap.h).  Invariant: every entry sits in the probe run that
 * starts at its home slot (hash & mask) with no empty slot in between; backward-shift deletion
 * keeps it without tombstones, so lookups stay short however many deletions happen.
 */
#include "idmap.h"

#include <string.h>

#include "gs_err.h"

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t idmap_hash(const gs_idmap *m, const uint8_t *key)
{
    uint64_t h = (load64(key) ^ m->k0) * 0x9e3779b97f4a7c15ULL;

    h ^= load64(key + 8) ^ m->k1;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static int idmap_alloc(gs_idmap *m, size_t nslots)
{
    gs_idmap_slot *slots = gs_mem_calloc(m->mem, nslots, sizeof(*slots));

    if (slots == NULL) {
        return GS_ERR_NOMEM;
    }
    gs_idmap_slot *old = m->slots;
    size_t oldn = old == NULL ? 0 : m->mask + 1;
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
        gs_mem_free(m->mem, old);
        if (m->pbytes != NULL) {
            *m->pbytes -= oldn * sizeof(*old);
        }
    }
    if (m->pbytes != NULL) {
        *m->pbytes += nslots * sizeof(*slots);
    }
    m->slots = slots;
    m->mask = mask;
    return 0;
}

int gs_idmap_init(gs_idmap *m, size_t nmin, uint64_t seed, gs_idmap_key_fn keyof, const void *ctx,
                  const gs_mem *mem, size_t *pbytes)
{
    memset(m, 0, sizeof(*m));
    m->k0 = seed ^ 0x243f6a8885a308d3ULL;
    m->k1 = (seed * 0x9e3779b97f4a7c15ULL) ^ 0x13198a2e03707344ULL;
    m->keyof = keyof;
    m->ctx = ctx;
    m->mem = mem;
    m->pbytes = pbytes;
    size_t nslots = 8;
    while (nslots < 2 * nmin) {
        nslots *= 2;
    }
    return idmap_alloc(m, nslots);
}

void gs_idmap_free(gs_idmap *m)
{
    if (m->slots != NULL) {
        gs_mem_free(m->mem, m->slots);
        if (m->pbytes != NULL) {
            *m->pbytes -= (m->mask + 1) * sizeof(m->slots[0]);
        }
        m->slots = NULL;
    }
    m->n = 0;
}

int gs_idmap_reserve(gs_idmap *m, size_t n)
{
    size_t nslots = m->mask + 1;

    if (2 * n <= nslots) {
        return 0;
    }
    while (nslots < 2 * n) {
        nslots *= 2;
    }
    return idmap_alloc(m, nslots);
}

bool gs_idmap_find(const gs_idmap *m, const uint8_t *key, uint32_t *pval)
{
    uint32_t h = idmap_hash(m, key);
    size_t i = h & m->mask;

    for (;;) {
        const gs_idmap_slot *s = &m->slots[i];
        if (s->val1 == 0) {
            return false;
        }
        if (s->hash == h && memcmp(m->keyof(m->ctx, s->val1 - 1), key, 32) == 0) {
            *pval = s->val1 - 1;
            return true;
        }
        i = (i + 1) & m->mask;
    }
}

int gs_idmap_insert(gs_idmap *m, const uint8_t *key, uint32_t val)
{
    int rv = gs_idmap_reserve(m, m->n + 1);

    if (rv != 0) {
        return rv;
    }
    uint32_t h = idmap_hash(m, key);
    size_t i = h & m->mask;
    while (m->slots[i].val1 != 0) {
        i = (i + 1) & m->mask;
    }
    m->slots[i].hash = h;
    m->slots[i].val1 = val + 1;
    ++m->n;
    return 0;
}

bool gs_idmap_remove(gs_idmap *m, const uint8_t *key)
{
    uint32_t h = idmap_hash(m, key);
    size_t i = h & m->mask;

    for (;;) {
        gs_idmap_slot *s = &m->slots[i];
        if (s->val1 == 0) {
            return false;
        }
        if (s->hash == h && memcmp(m->keyof(m->ctx, s->val1 - 1), key, 32) == 0) {
            break;
        }
        i = (i + 1) & m->mask;
    }
    /* Backward shift: pull later members of the run into the hole when their home slot is not
     * cyclically inside (hole, j]. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->slots[j].val1 == 0) {
            break;
        }
        size_t home = m->slots[j].hash & m->mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].val1 = 0;
    m->slots[hole].hash = 0;
    --m->n;
    return true;
}

void gs_idmap_clear(gs_idmap *m)
{
    memset(m->slots, 0, (m->mask + 1) * sizeof(m->slots[0]));
    m->n = 0;
}
