/* SPDX-License-Identifier: MIT */
/*
 * kmap.h: a bounded hash map from 32-byte keys (endpoint ids, topic ids) to pointers, for one
 * shard's peer and topic tables.  Open addressing with linear probing and backward-shift
 * deletion; the table starts small and doubles on insertion (load <= 1/2) until it holds |max|
 * entries, the configuration's bound, so an unused map costs little memory and a sweep over it
 * (gs_kmap_next, the address book's expiry) touches only what is in use.  Lookups and deletions
 * never allocate.
 *
 * Threads: one owner thread; no call is thread-safe.
 */
#ifndef GS_SERVER_KMAP_H
#define GS_SERVER_KMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"

typedef struct gs_kmap_slot {
    uint8_t key[32];
    void *val; /* NULL: empty slot */
} gs_kmap_slot;

typedef struct gs_kmap {
    gs_kmap_slot *slots;
    size_t mask;
    size_t n;
    size_t max;
} gs_kmap;

/* gs_kmap_init prepares |m| for at most |max| entries.  Returns 0, GS_ERR_INVAL or
 * GS_ERR_NOMEM. */
int gs_kmap_init(gs_kmap *m, size_t max);

/* gs_kmap_free releases the table (not the values). */
void gs_kmap_free(gs_kmap *m);

/* gs_kmap_get returns the value stored for |key| or NULL. */
void *gs_kmap_get(const gs_kmap *m, const uint8_t key[32]);

/* gs_kmap_put stores |val| (not NULL) for |key| (replacing any), growing the table when needed.
 * Returns 0, GS_ERR_LIMIT (|max| entries already) or GS_ERR_NOMEM (growth failed). */
int gs_kmap_put(gs_kmap *m, const uint8_t key[32], void *val);

/* gs_kmap_del removes |key| and returns its value (NULL if absent). */
void *gs_kmap_del(gs_kmap *m, const uint8_t key[32]);

/* gs_kmap_next iterates: start with *pi = 0; returns the next value (and its slot's key in
 * |*pkey| if not NULL) or NULL at the end.  Do not insert while iterating; deleting the entry
 * just returned is allowed if the caller then re-visits the same index (*pi is decremented). */
void *gs_kmap_next(const gs_kmap *m, size_t *pi, const uint8_t **pkey);

/* gs_kmap_del_at removes the entry returned last by gs_kmap_next at *pi and adjusts *pi so the
 * iteration continues correctly. */
void gs_kmap_del_at(gs_kmap *m, size_t *pi);

#endif /* GS_SERVER_KMAP_H */
