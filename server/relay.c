/* SPDX-License-Identifier: MIT */
#include "relay.h"

#include <string.h>

#include "blake3.h"

static bool listed(const gs_cfg_topic *list, size_t n, const uint8_t topic[32])
{
    for (size_t i = 0; i < n; ++i) {
        if (memcmp(list[i].id.b, topic, 32) == 0) {
            return true;
        }
    }
    return false;
}

gs_relay_verdict gs_relay_admit(const gs_server_cfg *cfg, _Atomic uint64_t *nrelayed,
                                const uint8_t topic[32])
{
    if (!cfg->relay) {
        return GS_RELAY_DISABLED;
    }
    if (listed(cfg->relay_deny, cfg->nrelay_deny, topic)) {
        return GS_RELAY_DENIED;
    }
    if (cfg->nrelay_allow > 0 && !listed(cfg->relay_allow, cfg->nrelay_allow, topic)) {
        return GS_RELAY_NOT_ALLOWED;
    }
    if (atomic_fetch_add(nrelayed, 1) >= cfg->relay_max_topics) {
        atomic_fetch_sub(nrelayed, 1);
        return GS_RELAY_CAP;
    }
    return GS_RELAY_OK;
}

void gs_relay_release(_Atomic uint64_t *nrelayed)
{
    atomic_fetch_sub(nrelayed, 1);
}

const char *gs_relay_verdict_str(gs_relay_verdict v)
{
    static const char *const names[] = {"ok", "disabled", "denied", "not_allowed", "cap"};

    return (unsigned)v < 5 ? names[v] : "?";
}

bool gs_relay_first_refusal(gs_kmap *seen, const uint8_t peer[32], const uint8_t topic[32])
{
    uint8_t both[64];
    uint8_t key[32];

    memcpy(both, peer, 32);
    memcpy(both + 32, topic, 32);
    gs_blake3_hash(both, 64, key);
    if (gs_kmap_get(seen, key) != NULL) {
        return false;
    }
    return gs_kmap_put(seen, key, (void *)seen) == 0;
}
