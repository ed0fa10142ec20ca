/* SPDX-License-Identifier: MIT */
#include "kmap.h"

#include <stdlib.h>
#include <string.h>

/* Keys are hashes or public keys, but topic ids can be chosen by anyone: mix every word. */
static size_t key_hash(const uint8_t key[32])
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    uint64_t w;

    for (size_t i = 0; i < 32; i += 8) {
        memcpy(&w, key + i, 8);
        h ^= w;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return (size_t)h;
}

/* KMAP_FIRST: slots of a new map; it doubles as entries arrive (load <= 1/2), up to the size
 * that |max| entries need, so an unused map costs a few hundred bytes, not max * 80. */
#define KMAP_FIRST 16

int gs_kmap_init(gs_kmap *m, size_t max)
{
    if (max == 0 || max > ((size_t)1 << 28)) {
        return GS_ERR_INVAL;
    }
    m->slots = calloc(KMAP_FIRST, sizeof(*m->slots));
    if (m->slots == NULL) {
        return GS_ERR_NOMEM;
    }
    m->mask = KMAP_FIRST - 1;
    m->n = 0;
    m->max = max;
    return 0;
}

void gs_kmap_free(gs_kmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

static size_t find(const gs_kmap *m, const uint8_t key[32])
{
    size_t i = key_hash(key) & m->mask;

    while (m->slots[i].val != NULL && memcmp(m->slots[i].key, key, 32) != 0) {
        i = (i + 1) & m->mask;
    }
    return i;
}

void *gs_kmap_get(const gs_kmap *m, const uint8_t key[32])
{
    return m->slots[find(m, key)].val;
}

/* grow doubles the slots (every entry re-placed at its home run).  Returns 0 or GS_ERR_NOMEM. */
static int grow(gs_kmap *m)
{
    size_t ncap = 2 * (m->mask + 1);
    gs_kmap_slot *ns = calloc(ncap, sizeof(*ns));

    if (ns == NULL) {
        return GS_ERR_NOMEM;
    }
    for (size_t i = 0; i <= m->mask; ++i) {
        if (m->slots[i].val == NULL) {
            continue;
        }
        size_t j = key_hash(m->slots[i].key) & (ncap - 1);
        while (ns[j].val != NULL) {
            j = (j + 1) & (ncap - 1);
        }
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->mask = ncap - 1;
    return 0;
}

int gs_kmap_put(gs_kmap *m, const uint8_t key[32], void *val)
{
    size_t i = find(m, key);

    if (m->slots[i].val == NULL) {
        if (m->n >= m->max) {
            return GS_ERR_LIMIT;
        }
        if (2 * (m->n + 1) > m->mask + 1) {
            int rv = grow(m);
            if (rv != 0) {
                return rv;
            }
            i = find(m, key);
        }
        memcpy(m->slots[i].key, key, 32);
        m->n++;
    }
    m->slots[i].val = val;
    return 0;
}

static void del_slot(gs_kmap *m, size_t i)
{
    size_t j = i;

    m->slots[i].val = NULL;
    m->n--;
    for (;;) {
        size_t home;

        j = (j + 1) & m->mask;
        if (m->slots[j].val == NULL) {
            return;
        }
        home = key_hash(m->slots[j].key) & m->mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j].val = NULL;
            i = j;
        }
    }
}

void *gs_kmap_del(gs_kmap *m, const uint8_t key[32])
{
    size_t i = find(m, key);
    void *v = m->slots[i].val;

    if (v != NULL) {
        del_slot(m, i);
    }
    return v;
}

void *gs_kmap_next(const gs_kmap *m, size_t *pi, const uint8_t **pkey)
{
    while (*pi <= m->mask) {
        size_t i = (*pi)++;

        if (m->slots[i].val != NULL) {
            if (pkey != NULL) {
                *pkey = m->slots[i].key;
            }
            return m->slots[i].val;
        }
    }
    return NULL;
}

void gs_kmap_del_at(gs_kmap *m, size_t *pi)
{
    del_slot(m, *pi - 1);
    (*pi)--;
}
