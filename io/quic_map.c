/* SPDX-License-Identifier: MIT */
/*
 * quic_map.c: the endpoint's bounded hash tables (connection ids, peer ids, remote IPs).
 * Open addressing with linear probing and backward-shift deletion (no tombstones, so lookups
 * never degrade), at most half full.  Keys are hashed with keyed SipHash (crypto_shorthash) under
 * a per-endpoint random key: peers choose some of the keys (their Initial DCIDs, their IPs), so
 * an unkeyed hash would let them build long probe chains.
 */
#include "quic_int.h"

#include <string.h>

#include <sodium.h>

/* Entry layout: [u32 value][u8 key length (0 = empty)][key bytes], padded to 4 bytes. */
#define ENT_VAL(m, i) ((uint32_t *)(void *)((m)->slots + (i) * (m)->stride))
#define ENT_LEN(m, i) ((m)->slots + (i) * (m)->stride + 4)
#define ENT_KEY(m, i) ((m)->slots + (i) * (m)->stride + 5)

int gs_quic_map_init(qmap *m, size_t maxentries, size_t keymax, const uint8_t *hkey,
                     const gs_mem *mem)
{
    size_t cap = 16;

    while (cap < maxentries * 2) {
        cap <<= 1;
    }
    memset(m, 0, sizeof(*m));
    m->stride = (4 + 1 + keymax + 3) & ~(size_t)3;
    m->slots = gs_mem_calloc(mem, cap, m->stride);
    if (m->slots == NULL) {
        return GS_ERR_NOMEM;
    }
    m->cap = cap;
    m->mask = cap - 1;
    m->keymax = keymax;
    m->max = cap / 2;
    m->hkey = hkey;
    return 0;
}

void gs_quic_map_free(qmap *m, const gs_mem *mem)
{
    if (m->slots != NULL) {
        gs_mem_free(mem, m->slots);
    }
    memset(m, 0, sizeof(*m));
}

static size_t map_hash(const qmap *m, const uint8_t *key, size_t keylen)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    crypto_shorthash(h, key, keylen, m->hkey);
    memcpy(&v, h, sizeof(v));
    return (size_t)v & m->mask;
}

static bool ent_eq(const qmap *m, size_t i, const uint8_t *key, size_t keylen)
{
    return *ENT_LEN(m, i) == keylen && memcmp(ENT_KEY(m, i), key, keylen) == 0;
}

uint32_t *gs_quic_map_get(const qmap *m, const uint8_t *key, size_t keylen)
{
    if (keylen == 0 || keylen > m->keymax) {
        return NULL;
    }
    for (size_t i = map_hash(m, key, keylen);; i = (i + 1) & m->mask) {
        if (*ENT_LEN(m, i) == 0) {
            return NULL;
        }
        if (ent_eq(m, i, key, keylen)) {
            return ENT_VAL(m, i);
        }
    }
}

int gs_quic_map_put(qmap *m, const uint8_t *key, size_t keylen, uint32_t val)
{
    if (keylen == 0 || keylen > m->keymax) {
        return GS_ERR_INVAL;
    }
    size_t i = map_hash(m, key, keylen);
    for (;; i = (i + 1) & m->mask) {
        if (*ENT_LEN(m, i) == 0) {
            break;
        }
        if (ent_eq(m, i, key, keylen)) {
            *ENT_VAL(m, i) = val;
            return 0;
        }
    }
    if (m->n >= m->max) {
        return GS_ERR_LIMIT;
    }
    *ENT_VAL(m, i) = val;
    *ENT_LEN(m, i) = (uint8_t)keylen;
    memcpy(ENT_KEY(m, i), key, keylen);
    ++m->n;
    return 0;
}

bool gs_quic_map_del(qmap *m, const uint8_t *key, size_t keylen)
{
    if (keylen == 0 || keylen > m->keymax) {
        return false;
    }
    size_t i = map_hash(m, key, keylen);
    for (;; i = (i + 1) & m->mask) {
        if (*ENT_LEN(m, i) == 0) {
            return false;
        }
        if (ent_eq(m, i, key, keylen)) {
            break;
        }
    }
    /* Backward-shift: move later members of the probe run into the hole while doing so keeps
     * each of them reachable from its home slot. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask;; j = (j + 1) & m->mask) {
        if (*ENT_LEN(m, j) == 0) {
            break;
        }
        size_t home = map_hash(m, ENT_KEY(m, j), *ENT_LEN(m, j));
        /* j may move to hole iff home is not cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            memcpy(m->slots + hole * m->stride, m->slots + j * m->stride, m->stride);
            hole = j;
        }
    }
    memset(m->slots + hole * m->stride, 0, m->stride);
    --m->n;
    return true;
}

size_t gs_quic_map_purge(qmap *m, uint32_t val)
{
    size_t n = 0;
    uint8_t key[64];

    /* A deletion shifts later members of the run back into slot i, so slot i is looked at again;
     * entries only ever move into slots already scanned or into i itself. */
    for (size_t i = 0; i < m->cap;) {
        size_t klen = *ENT_LEN(m, i);
        if (klen != 0 && *ENT_VAL(m, i) == val && klen <= sizeof(key)) {
            memcpy(key, ENT_KEY(m, i), klen);
            gs_quic_map_del(m, key, klen);
            ++n;
            continue;
        }
        ++i;
    }
    return n;
}
