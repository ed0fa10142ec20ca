/* SPDX-License-Identifier: MIT */
/*
 * gs_table.h: a bounded open-addressing hash index from fixed-length byte keys (message ids,
 * topic ids, endpoint ids, connection ids) to uint32 values.  A pure foundation header like
 * gs_mem.h: io/ and server/ may use it as well as proto/.
 *
 * The keys are not copied: the owner keeps each key next to its record and the table asks for a
 * value's key through |keyof| when it has to compare, so a table costs 8 bytes per slot whatever
 * the key length.  Each slot keeps the value and a 32-bit hash, so probing rarely touches the
 * records and growing needs no key access.
 *
 * Linear probing with backward-shift deletion (no tombstones), load factor at most 1/2.  The hash
 * is keyed with a per-table seed (give each table its own random seed) so a peer choosing keys
 * cannot aim at one probe chain.  The table holds at most |max| entries (GS_ERR_LIMIT beyond) and
 * grows its slots on demand up to 2 * max; gs_table_reserve grows ahead of time.
 */
#ifndef GS_PROTO_GS_TABLE_H
#define GS_PROTO_GS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_mem.h"

/* GS_TABLE_KEY_MAX: the longest key (bytes). */
#define GS_TABLE_KEY_MAX 64
/* GS_TABLE_MAX: the most entries a table may be configured for. */
#define GS_TABLE_MAX ((size_t)1 << 30)

/* gs_table_key_fn returns the key (|keylen| bytes) of value |val| stored by |owner|. */
typedef const uint8_t *(*gs_table_key_fn)(const void *owner, uint32_t val);

typedef struct gs_table_slot {
    uint32_t hash;
    uint32_t val1; /* value + 1; 0 = empty */
} gs_table_slot;

typedef struct gs_table {
    gs_table_slot *slots;
    size_t mask; /* number of slots - 1 (a power of two minus one) */
    size_t n;
    size_t max;
    size_t keylen;
    uint64_t k0, k1;
    gs_table_key_fn keyof;
    const void *owner;
    const gs_mem *mem;
} gs_table;

/*
 * gs_table_init prepares |tb| for keys of |keylen| bytes (1 .. GS_TABLE_KEY_MAX) and at most |max|
 * entries (1 .. GS_TABLE_MAX), with room for |nmin| (<= max) entries now, hashing with |seed|.
 * |keyof| and |owner| give a stored value's key; |mem| must outlive the table.
 * Returns 0, GS_ERR_INVAL (a bad length or bound) or GS_ERR_NOMEM (|tb| holds nothing then).
 */
int gs_table_init(gs_table *tb, size_t keylen, size_t nmin, size_t max, uint64_t seed,
                  gs_table_key_fn keyof, const void *owner, const gs_mem *mem);

/* gs_table_free releases |tb|'s slots (|tb| may be initialised again). */
void gs_table_free(gs_table *tb);

/*
 * gs_table_reserve makes room for |n| entries at load <= 1/2 (|n| is clamped to max).
 * Returns 0 or GS_ERR_NOMEM (nothing changed).
 */
int gs_table_reserve(gs_table *tb, size_t n);

/* gs_table_find stores the value of |key| in |*pval| and returns true, or returns false. */
bool gs_table_find(const gs_table *tb, const uint8_t *key, uint32_t *pval);

/*
 * gs_table_insert adds |key| -> |val| (|val| < UINT32_MAX); |key| must not be present (asserted
 * nowhere: the caller looks it up first).  Grows when needed.  Returns 0, GS_ERR_LIMIT (|max|
 * entries already) or GS_ERR_NOMEM; nothing changed on an error.
 */
int gs_table_insert(gs_table *tb, const uint8_t *key, uint32_t val);

/* gs_table_remove removes |key| and returns true, or returns false if it was absent. */
bool gs_table_remove(gs_table *tb, const uint8_t *key);

/* gs_table_clear removes every entry (keeps the slots). */
void gs_table_clear(gs_table *tb);

/* gs_table_size returns the number of entries. */
static inline size_t gs_table_size(const gs_table *tb)
{
    return tb->n;
}

#endif /* GS_PROTO_GS_TABLE_H */
