/* SPDX-License-Identifier: MIT */
#include "addrbook.h"

#include <stdlib.h>
#include <string.h>

typedef struct ab_entry {
    size_t n;
    gs_udp_addr addr[GS_ADDRBOOK_PER_PEER];
    gs_tstamp expires[GS_ADDRBOOK_PER_PEER]; /* GS_TSTAMP_NEVER: configured */
} ab_entry;

int gs_addrbook_init(gs_addrbook *ab, size_t max_peers, gs_duration ttl)
{
    memset(ab, 0, sizeof(*ab));
    ab->ttl = ttl;
    return gs_kmap_init(&ab->map, max_peers);
}

void gs_addrbook_free(gs_addrbook *ab)
{
    size_t it = 0;
    ab_entry *e;

    while ((e = gs_kmap_next(&ab->map, &it, NULL)) != NULL) {
        free(e);
    }
    gs_kmap_free(&ab->map);
}

/* entry_expiry: the latest expiry of |e| (GS_TSTAMP_NEVER if it holds a configured address). */
static gs_tstamp entry_expiry(const ab_entry *e)
{
    gs_tstamp t = 0;

    for (size_t i = 0; i < e->n; ++i) {
        if (e->expires[i] > t) {
            t = e->expires[i];
        }
    }
    return t;
}

/* evict_one frees a slot by evicting the sampled learned peer closest to expiry. */
static bool evict_one(gs_addrbook *ab)
{
    size_t cap = ab->map.mask + 1;
    size_t seen = 0;
    size_t best = SIZE_MAX;
    gs_tstamp best_t = GS_TSTAMP_NEVER;

    for (size_t k = 0; k < cap && seen < GS_ADDRBOOK_SAMPLE; ++k) {
        size_t i = (ab->cursor + k) & ab->map.mask;
        const ab_entry *e = ab->map.slots[i].val;
        gs_tstamp t;

        if (e == NULL) {
            continue;
        }
        seen++;
        t = entry_expiry(e);
        if (t < best_t) {
            best_t = t;
            best = i;
        }
    }
    ab->cursor = (ab->cursor + GS_ADDRBOOK_SAMPLE) & ab->map.mask;
    if (best == SIZE_MAX) {
        return false;
    }
    {
        uint8_t key[32];

        memcpy(key, ab->map.slots[best].key, 32);
        free(gs_kmap_del(&ab->map, key));
    }
    ab->st.evicted++;
    return true;
}

int gs_addrbook_add(gs_addrbook *ab, const uint8_t peer[32], const gs_udp_addr *addr, bool perm,
                    gs_tstamp now)
{
    ab_entry *e = gs_kmap_get(&ab->map, peer);
    gs_tstamp exp = perm ? GS_TSTAMP_NEVER : gs_tstamp_add(now, ab->ttl);
    size_t victim = 0;

    if (e == NULL) {
        if (ab->map.n >= ab->map.max && !evict_one(ab)) {
            ab->st.refused++;
            return GS_ERR_LIMIT;
        }
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            ab->st.refused++;
            return GS_ERR_NOMEM;
        }
        if (gs_kmap_put(&ab->map, peer, e) < 0) {
            free(e);
            ab->st.refused++;
            return GS_ERR_LIMIT;
        }
    }
    for (size_t i = 0; i < e->n; ++i) {
        if (e->addr[i].len == addr->len && memcmp(&e->addr[i].u, &addr->u, addr->len) == 0) {
            if (exp > e->expires[i]) {
                e->expires[i] = exp;
            }
            ab->st.added++;
            return 0;
        }
        if (e->expires[i] < e->expires[victim]) {
            victim = i;
        }
    }
    if (e->n < GS_ADDRBOOK_PER_PEER) {
        victim = e->n++;
    } else if (e->expires[victim] == GS_TSTAMP_NEVER && !perm) {
        ab->st.refused++;
        return GS_ERR_LIMIT; /* every slot configured: keep them */
    }
    e->addr[victim] = *addr;
    e->expires[victim] = exp;
    ab->st.added++;
    return 0;
}

size_t gs_addrbook_get(const gs_addrbook *ab, const uint8_t peer[32], gs_udp_addr *out, size_t max,
                       gs_tstamp now)
{
    const ab_entry *e = gs_kmap_get(&ab->map, peer);
    size_t n = 0;

    if (e == NULL) {
        return 0;
    }
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < e->n && n < max; ++i) {
            bool perm = e->expires[i] == GS_TSTAMP_NEVER;

            if ((pass == 0) == perm && e->expires[i] > now) {
                out[n++] = e->addr[i];
            }
        }
    }
    return n;
}

void gs_addrbook_expire(gs_addrbook *ab, gs_tstamp now, size_t budget)
{
    size_t cap = ab->map.mask + 1;

    for (size_t k = 0; k < budget && k < cap; ++k) {
        size_t i = ab->cursor;
        ab_entry *e = ab->map.slots[i].val;

        ab->cursor = (ab->cursor + 1) & ab->map.mask;
        if (e == NULL) {
            continue;
        }
        for (size_t j = 0; j < e->n;) {
            if (e->expires[j] <= now) {
                e->addr[j] = e->addr[e->n - 1];
                e->expires[j] = e->expires[e->n - 1];
                e->n--;
                ab->st.expired++;
            } else {
                ++j;
            }
        }
        if (e->n == 0) {
            uint8_t key[32];

            memcpy(key, ab->map.slots[i].key, 32);
            free(gs_kmap_del(&ab->map, key));
            /* backward shift may have moved an entry into slot i: look at it again */
            ab->cursor = i;
        }
    }
}

size_t gs_addrbook_size(const gs_addrbook *ab)
{
    return ab->map.n;
}
