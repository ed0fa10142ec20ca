/* SPDX-License-Identifier: MIT */
/*
 * idmap.h: an open-addressing hash index from 32-byte keys (message ids, topic ids, endpoint ids)
 * to uint32 values.  The keys are not copied: the owner stores them next to its records and the
 * index asks for a value's key through |keyof| when it has to compare.  Each slot keeps the value
 * and a 32-bit hash, so probing rarely touches the records and growing needs no key access.
 *
 * Linear probing with backward-shift deletion (no tombstones), load factor at most 1/2.  The hash
 * is keyed with a per-owner seed so a peer choosing ids (IHave) cannot aim at one probe chain.
 * Growth is the owner's decision (it knows its bound): gs_idmap_reserve.
 */
#ifndef GS_PROTO_IDMAP_H
#define GS_PROTO_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_mem.h"

/* gs_idmap_key_fn returns the 32-byte key of value |val| stored by the owner |ctx|. */
typedef const uint8_t *(*gs_idmap_key_fn)(const void *ctx, uint32_t val);

typedef struct gs_idmap_slot {
    uint32_t hash;
    uint32_t val1; /* value + 1; 0 = empty */
} gs_idmap_slot;

typedef struct gs_idmap {
    gs_idmap_slot *slots;
    size_t mask; /* number of slots - 1 (a power of two minus one) */
    size_t n;
    uint64_t k0, k1;
    gs_idmap_key_fn keyof;
    const void *ctx;
    const gs_mem *mem;
    size_t *pbytes; /* optional: byte accounting of the owner */
} gs_idmap;

/*
 * gs_idmap_init prepares |m| with room for |nmin| entries (rounded up), hashing with |seed|.
 * |pbytes| (may be NULL) is incremented/decremented by the bytes |m| holds.
 * Returns 0 or GS_ERR_NOMEM.
 */
int gs_idmap_init(gs_idmap *m, size_t nmin, uint64_t seed, gs_idmap_key_fn keyof, const void *ctx,
                  const gs_mem *mem, size_t *pbytes);

/* gs_idmap_free releases |m|'s slots. */
void gs_idmap_free(gs_idmap *m);

/* gs_idmap_reserve makes room for |n| entries at load <= 1/2.  Returns 0 or GS_ERR_NOMEM. */
int gs_idmap_reserve(gs_idmap *m, size_t n);

/* gs_idmap_find stores the value of |key| in |*pval| and returns true, or returns false. */
bool gs_idmap_find(const gs_idmap *m, const uint8_t *key, uint32_t *pval);

/*
 * gs_idmap_insert adds |key| -> |val|; |key| must not be present.  Grows when needed.
 * Returns 0 or GS_ERR_NOMEM (nothing changed).
 */
int gs_idmap_insert(gs_idmap *m, const uint8_t *key, uint32_t val);

/* gs_idmap_remove removes |key| and returns true, or returns false if it was absent. */
bool gs_idmap_remove(gs_idmap *m, const uint8_t *key);

/* gs_idmap_clear removes every entry (keeps the slots). */
void gs_idmap_clear(gs_idmap *m);

/* gs_idmap_size returns the number of entries. */
static inline size_t gs_idmap_size(const gs_idmap *m)
{
    return m->n;
}

#endif /* GS_PROTO_IDMAP_H */
