/* SPDX-License-Identifier: MIT */
/*
 * quic_map.c: the endpoint's bounded maps (connection ids, peer ids, remote IPs, reset tokens)
 * on the project's one hash table, gs_table (proto/gs_table.h).
 *
 * gs_table stores no keys: it asks the owner for a value's key.  Here the values are indices of
 * records that hold the key and the map's own value (a connection slot or a count), so several
 * keys may carry the same value (a connection has up to 10 connection ids).  A record's key is
 * kept as |keymax| + 1 bytes: its length, the key, zero padding; that is also the table's key, so
 * keys of different lengths (8 to 20-byte connection ids, IPv4 / IPv6 keys) never compare equal.
 * Records come from a free list threaded through them; the table and the records are sized at
 * creation for |maxentries| (calloc'ed, so untouched pages cost nothing), so nothing on the packet
 * path grows or reallocates.  The table's hash is keyed with a per-map random seed: peers choose
 * some of the keys (their Initial DCIDs, their IPs).
 */
#include "quic_int.h"

#include <string.h>

/* Record layout: [u32 value or next free index][u8 key length (0 = free)][key bytes][padding]. */
#define REC(m, i)     ((m)->recs + (size_t)(i) * (m)->stride)
#define REC_VAL(m, i) ((uint32_t *)(void *)REC(m, i))
#define REC_KEY(m, i) (REC(m, i) + 4) /* keymax + 1 bytes: length, key, zeros */
#define NO_REC        UINT32_MAX

static const uint8_t *rec_key(const void *owner, uint32_t idx)
{
    const qmap *m = owner;
    return REC_KEY(m, idx);
}

int gs_quic_map_init(qmap *m, size_t maxentries, size_t keymax, uint64_t seed, const gs_mem *mem)
{
    memset(m, 0, sizeof(*m));
    if (maxentries == 0 || maxentries >= NO_REC || keymax == 0 || keymax + 1 > GS_TABLE_KEY_MAX) {
        return GS_ERR_INVAL;
    }
    m->stride = (4 + 1 + keymax + 3) & ~(size_t)3;
    m->recs = gs_mem_calloc(mem, maxentries, m->stride);
    if (m->recs == NULL) {
        return GS_ERR_NOMEM;
    }
    int rv = gs_table_init(&m->tb, keymax + 1, maxentries, maxentries, seed, rec_key, m, mem);
    if (rv != 0) {
        gs_mem_free(mem, m->recs);
        m->recs = NULL;
        return rv;
    }
    m->keymax = keymax;
    m->max = maxentries;
    m->free_head = NO_REC;
    return 0;
}

void gs_quic_map_free(qmap *m, const gs_mem *mem)
{
    gs_table_free(&m->tb);
    if (m->recs != NULL) {
        gs_mem_free(mem, m->recs);
    }
    memset(m, 0, sizeof(*m));
}

/* padded writes the table key of |key| (length byte, key, zeros) into |out|. */
static bool padded(const qmap *m, const uint8_t *key, size_t keylen, uint8_t *out)
{
    if (keylen == 0 || keylen > m->keymax) {
        return false;
    }
    memset(out, 0, m->keymax + 1);
    out[0] = (uint8_t)keylen;
    memcpy(out + 1, key, keylen);
    return true;
}

uint32_t *gs_quic_map_get(const qmap *m, const uint8_t *key, size_t keylen)
{
    uint8_t k[GS_TABLE_KEY_MAX];
    uint32_t idx;

    if (!padded(m, key, keylen, k) || !gs_table_find(&m->tb, k, &idx)) {
        return NULL;
    }
    return REC_VAL(m, idx);
}

int gs_quic_map_put(qmap *m, const uint8_t *key, size_t keylen, uint32_t val)
{
    uint8_t k[GS_TABLE_KEY_MAX];
    uint32_t idx;

    if (!padded(m, key, keylen, k)) {
        return GS_ERR_INVAL;
    }
    if (gs_table_find(&m->tb, k, &idx)) {
        *REC_VAL(m, idx) = val;
        return 0;
    }
    if (m->free_head != NO_REC) {
        idx = m->free_head;
        m->free_head = *REC_VAL(m, idx);
    } else if (m->used < m->max) {
        idx = (uint32_t)m->used++;
    } else {
        return GS_ERR_LIMIT;
    }
    memcpy(REC_KEY(m, idx), k, m->keymax + 1);
    *REC_VAL(m, idx) = val;
    int rv = gs_table_insert(&m->tb, k, idx);
    if (rv != 0) {
        REC_KEY(m, idx)[0] = 0;
        *REC_VAL(m, idx) = m->free_head;
        m->free_head = idx;
        return rv;
    }
    ++m->n;
    return 0;
}

/* rec_release removes record |idx| (its key in |k|) from the table and frees it. */
static void rec_release(qmap *m, const uint8_t *k, uint32_t idx)
{
    (void)gs_table_remove(&m->tb, k);
    REC_KEY(m, idx)[0] = 0;
    *REC_VAL(m, idx) = m->free_head;
    m->free_head = idx;
    --m->n;
}

bool gs_quic_map_del(qmap *m, const uint8_t *key, size_t keylen)
{
    uint8_t k[GS_TABLE_KEY_MAX];
    uint32_t idx;

    if (!padded(m, key, keylen, k) || !gs_table_find(&m->tb, k, &idx)) {
        return false;
    }
    rec_release(m, k, idx);
    return true;
}

size_t gs_quic_map_purge(qmap *m, uint32_t val)
{
    uint8_t k[GS_TABLE_KEY_MAX];
    size_t n = 0;

    for (size_t i = 0; i < m->used; ++i) {
        if (REC_KEY(m, i)[0] != 0 && *REC_VAL(m, i) == val) {
            memcpy(k, REC_KEY(m, i), m->keymax + 1);
            rec_release(m, k, (uint32_t)i);
            ++n;
        }
    }
    return n;
}
