/* SPDX-License-Identifier: MIT */
/* test_addrbook: the address book (expiry, refresh, per-peer bound, eviction) and relay policy. */
#include <string.h>

#include "addrbook.h"
#include "check.h"
#include "relay.h"

static gs_udp_addr addr(const char *s)
{
    gs_udp_addr a;

    memset(&a, 0, sizeof(a));
    (void)gs_udp_addr_parse(&a, s);
    return a;
}

static void key(uint8_t k[32], int i)
{
    memset(k, 0, 32);
    k[0] = (uint8_t)i;
    k[1] = (uint8_t)(i >> 8);
}

static void test_expiry(void)
{
    gs_addrbook ab;
    uint8_t p[32];
    gs_udp_addr out[8];
    gs_udp_addr a1 = addr("10.0.0.1:1");
    gs_udp_addr a2 = addr("10.0.0.2:2");
    gs_tstamp t = 1000 * GS_SECONDS;

    CHECK(gs_addrbook_init(&ab, 8, 10 * GS_SECONDS) == 0);
    key(p, 1);
    CHECK(gs_addrbook_add(&ab, p, &a1, true, t) == 0);
    CHECK(gs_addrbook_add(&ab, p, &a2, false, t) == 0);
    CHECK(gs_addrbook_get(&ab, p, out, 8, t) == 2);
    CHECK(memcmp(&out[0], &a1, sizeof(a1)) == 0); /* configured first */
    /* refreshed at t+5: alive at t+12, gone at t+16 */
    CHECK(gs_addrbook_add(&ab, p, &a2, false, t + 5 * GS_SECONDS) == 0);
    CHECK(gs_addrbook_get(&ab, p, out, 8, t + 12 * GS_SECONDS) == 2);
    CHECK(gs_addrbook_get(&ab, p, out, 8, t + 16 * GS_SECONDS) == 1);
    gs_addrbook_expire(&ab, t + 16 * GS_SECONDS, 1000);
    CHECK(ab.st.expired == 1);
    CHECK(gs_addrbook_size(&ab) == 1); /* the configured address keeps the peer */
    /* a learned-only peer disappears at expiry */
    key(p, 2);
    CHECK(gs_addrbook_add(&ab, p, &a2, false, t) == 0);
    CHECK(gs_addrbook_size(&ab) == 2);
    gs_addrbook_expire(&ab, t + 11 * GS_SECONDS, 1000);
    CHECK(gs_addrbook_size(&ab) == 1);
    CHECK(gs_addrbook_get(&ab, p, out, 8, t) == 0);
    gs_addrbook_free(&ab);
}

static void test_bounds(void)
{
    gs_addrbook ab;
    uint8_t p[32];
    gs_udp_addr out[8];
    char s[32];
    gs_tstamp t = GS_SECONDS;

    CHECK(gs_addrbook_init(&ab, 16, 10 * GS_SECONDS) == 0);
    /* per peer: at most GS_ADDRBOOK_PER_PEER, the one closest to expiry is replaced */
    key(p, 1);
    for (int i = 0; i < 6; ++i) {
        gs_udp_addr a;

        snprintf(s, sizeof(s), "10.0.0.%d:1", i + 1);
        a = addr(s);
        CHECK(gs_addrbook_add(&ab, p, &a, false, t + (gs_tstamp)i * GS_SECONDS) == 0);
    }
    CHECK(gs_addrbook_get(&ab, p, out, 8, t) == GS_ADDRBOOK_PER_PEER);
    /* the book: 16 peers, then learned ones are evicted, configured ones never */
    for (int i = 2; i < 40; ++i) {
        gs_udp_addr a = addr("10.1.0.1:1");

        key(p, i);
        CHECK(gs_addrbook_add(&ab, p, &a, i < 10, t + (gs_tstamp)i * GS_MILLISECONDS) == 0);
        CHECK(gs_addrbook_size(&ab) <= 16);
    }
    CHECK(ab.st.evicted == 39 - 16);
    for (int i = 2; i < 10; ++i) {
        key(p, i);
        CHECK(gs_addrbook_get(&ab, p, out, 8, t) == 1);
    }
    gs_addrbook_free(&ab);
    /* full of configured peers: a learned one is refused */
    CHECK(gs_addrbook_init(&ab, 4, GS_SECONDS) == 0);
    for (int i = 0; i < 4; ++i) {
        gs_udp_addr a = addr("10.2.0.1:1");

        key(p, i);
        CHECK(gs_addrbook_add(&ab, p, &a, true, t) == 0);
    }
    {
        gs_udp_addr a = addr("10.2.0.1:1");

        key(p, 99);
        CHECK(gs_addrbook_add(&ab, p, &a, false, t) == GS_ERR_LIMIT);
        CHECK(ab.st.refused == 1);
    }
    gs_addrbook_free(&ab);
}

static void test_relay(void)
{
    static gs_server_cfg cfg;
    _Atomic uint64_t n;
    gs_kmap seen;
    uint8_t a[32] = {1};
    uint8_t b[32] = {2};
    uint8_t c[32] = {3};
    uint8_t peer[32] = {9};

    atomic_init(&n, 0);
    gs_server_cfg_default(&cfg);
    CHECK(gs_relay_admit(&cfg, &n, a) == GS_RELAY_DISABLED);
    cfg.relay = true;
    cfg.relay_max_topics = 2;
    memcpy(cfg.relay_deny[0].id.b, b, 32);
    cfg.nrelay_deny = 1;
    CHECK(gs_relay_admit(&cfg, &n, b) == GS_RELAY_DENIED);
    CHECK(gs_relay_admit(&cfg, &n, a) == GS_RELAY_OK);
    CHECK(gs_relay_admit(&cfg, &n, c) == GS_RELAY_OK);
    CHECK(gs_relay_admit(&cfg, &n, c) == GS_RELAY_CAP);
    CHECK(atomic_load(&n) == 2);
    gs_relay_release(&n);
    CHECK(gs_relay_admit(&cfg, &n, c) == GS_RELAY_OK);
    memcpy(cfg.relay_allow[0].id.b, a, 32);
    cfg.nrelay_allow = 1;
    gs_relay_release(&n);
    CHECK(gs_relay_admit(&cfg, &n, c) == GS_RELAY_NOT_ALLOWED);
    CHECK(strcmp(gs_relay_verdict_str(GS_RELAY_CAP), "cap") == 0);
    CHECK(gs_kmap_init(&seen, 2) == 0);
    CHECK(gs_relay_first_refusal(&seen, peer, a));
    CHECK(!gs_relay_first_refusal(&seen, peer, a));
    CHECK(gs_relay_first_refusal(&seen, peer, b));
    CHECK(!gs_relay_first_refusal(&seen, peer, c)); /* set full: bounded, no more logs */
    gs_kmap_free(&seen);
}

int main(void)
{
    test_expiry();
    test_bounds();
    test_relay();
    CHECK_DONE();
}
