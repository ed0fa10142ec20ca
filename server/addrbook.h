/* SPDX-License-Identifier: MIT */
/*
 * addrbook.h: addresses of peers, for dialing (PROTOCOL.md 2.4, 4.5).  Configured addresses
 * (bootstrap, backbone, join requests) are kept for ever; addresses learned from PeerData expire
 * |ttl| after they were last reported.  Each shard keeps the book of the peers whose home it is
 * (the shard that dials them), so the book needs no lock.
 *
 * Bounds: at most |max_peers| peers, GS_ADDRBOOK_PER_PEER addresses each.  A new learned peer
 * when the book is full evicts a learned peer: the one closest to expiry among a sample of
 * entries (Redis-style approximate eviction, O(sample) per insertion); when the sample holds only
 * configured peers the new one is refused.  Both are counted.
 *
 * Threads: one owner thread.
 */
#ifndef GS_SERVER_ADDRBOOK_H
#define GS_SERVER_ADDRBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"
#include "gs_time.h"
#include "kmap.h"
#include "udp.h"

#define GS_ADDRBOOK_PER_PEER 4  /* addresses kept per peer */
#define GS_ADDRBOOK_SAMPLE   16 /* entries looked at to choose an eviction */

typedef struct gs_addrbook_stats {
    uint64_t added;   /* addresses added (new or refreshed) */
    uint64_t expired; /* learned addresses dropped at expiry */
    uint64_t evicted; /* learned peers evicted to make room */
    uint64_t refused; /* addresses refused (book full of configured peers, or no memory) */
} gs_addrbook_stats;

typedef struct gs_addrbook {
    gs_kmap map; /* peer -> entry */
    gs_duration ttl;
    size_t cursor; /* eviction sampling and incremental expiry resume here */
    gs_addrbook_stats st;
} gs_addrbook;

/* gs_addrbook_init prepares |ab| for |max_peers| peers whose learned addresses live |ttl|.
 * Returns 0, GS_ERR_INVAL or GS_ERR_NOMEM. */
int gs_addrbook_init(gs_addrbook *ab, size_t max_peers, gs_duration ttl);

/* gs_addrbook_free releases everything. */
void gs_addrbook_free(gs_addrbook *ab);

/*
 * gs_addrbook_add records |addr| for |peer|: |perm| (configured) never expires, otherwise it
 * expires at now + ttl (refreshed when reported again).  A peer's fifth address replaces its
 * learned address closest to expiry (configured ones stay).  Returns 0, GS_ERR_LIMIT (refused,
 * counted) or GS_ERR_NOMEM.
 */
int gs_addrbook_add(gs_addrbook *ab, const uint8_t peer[32], const gs_udp_addr *addr, bool perm,
                    gs_tstamp now);

/* gs_addrbook_get copies up to |max| unexpired addresses of |peer| (configured first) to |out|
 * and returns how many. */
size_t gs_addrbook_get(const gs_addrbook *ab, const uint8_t peer[32], gs_udp_addr *out, size_t max,
                       gs_tstamp now);

/* gs_addrbook_expire drops expired addresses (and peers left without any), looking at up to
 * |budget| slots from where the last call stopped (incremental sweep). */
void gs_addrbook_expire(gs_addrbook *ab, gs_tstamp now, size_t budget);

/* gs_addrbook_size returns the number of peers in the book. */
size_t gs_addrbook_size(const gs_addrbook *ab);

#endif /* GS_SERVER_ADDRBOOK_H */
