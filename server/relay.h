/* SPDX-License-Identifier: MIT */
/*
 * relay.h: relay mode's admission policy.  With relay.enabled a Join for a topic we have not
 * joined makes us join it and serve it as a full member, if the topic is not denied, is allowed
 * (an empty allow list allows every topic) and the process-wide count of relayed topics is below
 * relay.max_topics.  A refused Join is counted every time and logged once per (peer, topic).
 * Backbone peers (relay.backbone) are added as bootstrap peers of every topic joined or relayed
 * (shard.c).
 *
 * Threads: gs_relay_admit and gs_relay_release from any shard (the count is atomic); a
 * gs_relay_seen set belongs to one shard.
 */
#ifndef GS_SERVER_RELAY_H
#define GS_SERVER_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kmap.h"

typedef enum gs_relay_verdict {
    GS_RELAY_OK = 0,          /* admitted: the count was taken */
    GS_RELAY_DISABLED = 1,    /* relay.enabled is false */
    GS_RELAY_DENIED = 2,      /* in relay.deny */
    GS_RELAY_NOT_ALLOWED = 3, /* relay.allow is not empty and does not list it */
    GS_RELAY_CAP = 4,         /* relay.max_topics relayed already */
} gs_relay_verdict;

/* gs_relay_admit decides for |topic| and, on GS_RELAY_OK, counts it in |*nrelayed|. */
gs_relay_verdict gs_relay_admit(const gs_server_cfg *cfg, _Atomic uint64_t *nrelayed,
                                const uint8_t topic[32]);

/* gs_relay_release gives back one count taken by gs_relay_admit (the topic was quit or became
 * an explicitly joined one). */
void gs_relay_release(_Atomic uint64_t *nrelayed);

/* gs_relay_verdict_str names a verdict for logs ("ok", "disabled", "denied", "not_allowed",
 * "cap"). */
const char *gs_relay_verdict_str(gs_relay_verdict v);

/* gs_relay_first_refusal returns true the first time it sees (|peer|, |topic|) in |seen| (a
 * bounded set: once full, it answers false, so logs stay bounded too). */
bool gs_relay_first_refusal(gs_kmap *seen, const uint8_t peer[32], const uint8_t topic[32]);

#endif /* GS_SERVER_RELAY_H */
