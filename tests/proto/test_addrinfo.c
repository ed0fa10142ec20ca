/* SPDX-License-Identifier: MIT */
/*
 * test_addrinfo.c: AddrInfo (PeerData contents, PROTOCOL.md 4.5): the vectors AI1 / AI2 / empty,
 * canonical ordering and deduplication, the address bound, malformed input, truncation.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "gs_rand.h"
#include "hex.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    ptrdiff_t n = gs_test_unhex(s, strlen(s), out, max);
    cr_assert(n >= 0, "bad hex or too long: %s", s);
    return (size_t)n;
}

static const char ai1_hex[] = "000100c0000201d122";
static const char ai2_hex[] = "011768747470733a2f2f72656c61792e6578616d706c652e2f0200c0000201d122"
                              "0120010db8000000000000000000000001d122";

static gs_sockaddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    gs_sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.family = 4;
    sa.addr[0] = a;
    sa.addr[1] = b;
    sa.addr[2] = c;
    sa.addr[3] = d;
    sa.port = port;
    return sa;
}

static gs_sockaddr v6(uint8_t first, uint8_t last, uint16_t port)
{
    gs_sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.family = 6;
    sa.addr[0] = first;
    sa.addr[15] = last;
    sa.port = port;
    return sa;
}

Test(addrinfo, vectors)
{
    uint8_t in[128];
    uint8_t out[128];
    gs_addrinfo ai;

    size_t n = unhex(ai1_hex, in, sizeof(in));
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), 0));
    cr_assert(eq(int, ai.has_relay, 0));
    cr_assert(eq(sz, ai.naddrs, 1));
    cr_assert(eq(u8, ai.addrs[0].family, 4));
    cr_assert(eq(u8, ai.addrs[0].addr[0], 192));
    cr_assert(eq(u8, ai.addrs[0].addr[3], 1));
    cr_assert(eq(u16, ai.addrs[0].port, 4433));
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), n));
    cr_assert(eq(int, memcmp(out, in, n), 0));

    n = unhex(ai2_hex, in, sizeof(in));
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), 0));
    cr_assert(ai.has_relay);
    cr_assert(eq(int, strcmp(ai.relay_url, "https://relay.example./"), 0));
    cr_assert(eq(sz, ai.naddrs, 2));
    cr_assert(eq(u8, ai.addrs[1].family, 6));
    cr_assert(eq(u8, ai.addrs[1].addr[0], 0x20));
    cr_assert(eq(u8, ai.addrs[1].addr[15], 1));
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), n));
    cr_assert(eq(int, memcmp(out, in, n), 0));

    n = unhex("0000", in, sizeof(in));
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), 0));
    cr_assert(eq(sz, ai.naddrs, 0));
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), 2));
    cr_assert(eq(int, memcmp(out, in, 2), 0));

    /* empty PeerData: empty AddrInfo */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, 0, NULL), 0));
    cr_assert(eq(sz, ai.naddrs, 0));
    cr_assert(eq(int, ai.has_relay, 0));
}

Test(addrinfo, encode_is_canonical)
{
    gs_addrinfo ai;
    gs_addrinfo back;
    uint8_t out[512];
    uint8_t again[512];

    memset(&ai, 0, sizeof(ai));
    ai.addrs[ai.naddrs++] = v6(0x20, 1, 4433);
    ai.addrs[ai.naddrs++] = v4(192, 0, 2, 1, 4433);
    ai.addrs[ai.naddrs++] = v4(10, 0, 0, 1, 9);
    ai.addrs[ai.naddrs++] = v4(192, 0, 2, 1, 4433); /* duplicate */
    ai.addrs[ai.naddrs++] = v4(192, 0, 2, 1, 80);
    ai.addrs[ai.naddrs++] = v6(0x20, 1, 4433); /* duplicate */
    ai.addrs[ai.naddrs++] = v6(0x01, 1, 1);
    /* bytes past the IPv4 address are not part of it */
    ai.addrs[ai.naddrs] = v4(10, 0, 0, 1, 9);
    ai.addrs[ai.naddrs++].addr[10] = 0x55;

    gs_ssize n = gs_addrinfo_encode(out, sizeof(out), &ai);
    cr_assert(gt(i64, n, 0));
    cr_assert(eq(u8, out[0], 0));
    cr_assert(eq(u8, out[1], 5), "5 distinct addresses");
    cr_assert(eq(int, gs_addrinfo_decode(&back, out, (size_t)n, NULL), 0));
    cr_assert(eq(sz, back.naddrs, 5));
    gs_sockaddr want[5] = {v4(10, 0, 0, 1, 9), v4(192, 0, 2, 1, 80), v4(192, 0, 2, 1, 4433),
                           v6(0x01, 1, 1), v6(0x20, 1, 4433)};
    for (size_t i = 0; i < 5; ++i) {
        cr_assert(eq(int, gs_sockaddr_cmp(&back.addrs[i], &want[i]), 0), "address %zu", i);
    }
    /* re-encoding the decoded value gives the same bytes */
    cr_assert(eq(i64, gs_addrinfo_encode(again, sizeof(again), &back), n));
    cr_assert(eq(int, memcmp(again, out, (size_t)n), 0));
    /* NOBUF for every short buffer, never writing past it */
    for (size_t k = 0; k < (size_t)n; ++k) {
        uint8_t *b = malloc(k > 0 ? k : 1);
        cr_assert(b != NULL);
        cr_assert(eq(i64, gs_addrinfo_encode(b, k, &ai), GS_ERR_NOBUF));
        free(b);
    }
}

Test(addrinfo, decode_sorts_and_dedups)
{
    /* {[2001:db8::1]:4433, 192.0.2.1:4433, 192.0.2.1:4433} in that order */
    uint8_t in[128];
    size_t n = unhex("00030120010db8000000000000000000000001d12200c0000201d12200c0000201d122", in,
                     sizeof(in));
    gs_addrinfo ai;
    size_t dropped = 99;
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, &dropped), 0));
    cr_assert(eq(sz, dropped, 0));
    cr_assert(eq(sz, ai.naddrs, 2));
    cr_assert(eq(u8, ai.addrs[0].family, 4));
    cr_assert(eq(u8, ai.addrs[1].family, 6));
    /* canonical re-encoding is AI1 plus the IPv6 address */
    uint8_t out[128];
    uint8_t want[128];
    size_t wn =
        unhex("000200c0000201d1220120010db8000000000000000000000001d122", want, sizeof(want));
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), wn));
    cr_assert(eq(int, memcmp(out, want, wn), 0));
}

Test(addrinfo, keeps_the_smallest_addresses)
{
    /* 40 IPv4 addresses, in descending order; only the 16 smallest are kept. */
    uint8_t in[512];
    size_t n = 0;
    in[n++] = 0;
    in[n++] = 40;
    for (int i = 40; i > 0; --i) {
        in[n++] = 0;
        in[n++] = 10;
        in[n++] = 0;
        in[n++] = 0;
        in[n++] = (uint8_t)i;
        in[n++] = 7;
    }
    gs_addrinfo ai;
    size_t dropped = 0;
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, &dropped), 0));
    cr_assert(eq(sz, ai.naddrs, GS_ADDRINFO_MAX_ADDRS));
    cr_assert(eq(sz, dropped, 40 - GS_ADDRINFO_MAX_ADDRS));
    for (size_t i = 0; i < ai.naddrs; ++i) {
        cr_assert(eq(u8, ai.addrs[i].addr[3], i + 1));
    }
    /* more than the bound cannot be encoded */
    ai.naddrs = GS_ADDRINFO_MAX_ADDRS + 1;
    uint8_t out[512];
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), GS_ERR_INVAL));
}

Test(addrinfo, malformed_input)
{
    uint8_t in[300];
    gs_addrinfo ai;
    size_t n;

    n = unhex("02", in, sizeof(in));
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_OPTION));
    n = unhex("000102c0000201d122", in, sizeof(in)); /* SocketAddr tag 2 */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_ADDR));
    n = unhex("000100c0000201ffff04", in, sizeof(in)); /* port > u16 */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_VARINT_OVERFLOW));
    n = unhex("00ffffffffffffffffff01", in, sizeof(in)); /* absurd count */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_LENGTH));
    n = unhex("0102c3280000", in, sizeof(in)); /* relay "\xc3\x28": invalid UTF-8 */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_UTF8));
    n = unhex("0103eda0800000", in, sizeof(in)); /* UTF-16 surrogate U+D800 */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_UTF8));
    n = unhex("0102c0af0000", in, sizeof(in)); /* overlong '/' */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_UTF8));
    n = unhex("010261000000", in, sizeof(in)); /* relay "a\0" */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_BAD_ADDR));
    n = unhex("0105c3a9e282ac", in, sizeof(in)); /* valid 2- and 3-byte sequences, no count */
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n, NULL), GS_ERR_TRUNCATED));
    in[n] = 0;
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, n + 1, NULL), 0));
    cr_assert(eq(sz, strlen(ai.relay_url), 5));
    /* a relay URL longer than we hold */
    in[0] = 1;
    in[1] = 0x81;
    in[2] = 0x02; /* 257 */
    memset(in + 3, 'a', 257);
    in[260] = 0;
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, 261, NULL), GS_ERR_BAD_ADDR));
    in[1] = 0x80; /* 256: fits */
    in[259] = 0;
    cr_assert(eq(int, gs_addrinfo_decode(&ai, in, 260, NULL), 0));
    cr_assert(eq(sz, strlen(ai.relay_url), 256));
    /* encoder refuses a bad family */
    memset(&ai, 0, sizeof(ai));
    ai.naddrs = 1;
    ai.addrs[0].family = 5;
    uint8_t out[64];
    cr_assert(eq(i64, gs_addrinfo_encode(out, sizeof(out), &ai), GS_ERR_INVAL));
}

Test(addrinfo, every_strict_prefix_is_rejected)
{
    static const char *const samples[] = {ai1_hex, ai2_hex, "0000"};
    for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); ++s) {
        uint8_t in[128];
        size_t n = unhex(samples[s], in, sizeof(in));
        for (size_t k = 1; k < n; ++k) {
            uint8_t *p = malloc(k);
            cr_assert(p != NULL);
            memcpy(p, in, k);
            gs_addrinfo ai;
            int rv = gs_addrinfo_decode(&ai, p, k, NULL);
            cr_assert(rv == GS_ERR_TRUNCATED || rv == GS_ERR_BAD_LENGTH,
                      "sample %zu prefix %zu: %d", s, k, rv);
            free(p);
        }
    }
}

Test(addrinfo, random_roundtrip)
{
    gs_rand r;
    gs_rand_seed(&r, 4433);
    for (int iter = 0; iter < 2000; ++iter) {
        gs_addrinfo ai;
        gs_addrinfo back;
        uint8_t out[1024];
        uint8_t again[1024];
        memset(&ai, 0, sizeof(ai));
        ai.has_relay = gs_rand_below(&r, 2) != 0;
        if (ai.has_relay) {
            size_t len = (size_t)gs_rand_below(&r, GS_ADDRINFO_MAX_RELAY + 1);
            for (size_t i = 0; i < len; ++i) {
                ai.relay_url[i] = (char)('a' + gs_rand_below(&r, 26));
            }
        }
        ai.naddrs = (size_t)gs_rand_below(&r, GS_ADDRINFO_MAX_ADDRS + 1);
        for (size_t i = 0; i < ai.naddrs; ++i) {
            ai.addrs[i] =
                gs_rand_below(&r, 2)
                    ? v4((uint8_t)gs_rand_below(&r, 4), 0, 0, 1, (uint16_t)gs_rand_below(&r, 65536))
                    : v6((uint8_t)gs_rand_below(&r, 3), 1, (uint16_t)gs_rand_below(&r, 4));
        }
        gs_ssize n = gs_addrinfo_encode(out, sizeof(out), &ai);
        cr_assert(gt(i64, n, 0));
        cr_assert(eq(int, gs_addrinfo_decode(&back, out, (size_t)n, NULL), 0));
        cr_assert(eq(int, back.has_relay, ai.has_relay));
        cr_assert(eq(str, back.relay_url, ai.relay_url));
        for (size_t i = 1; i < back.naddrs; ++i) {
            cr_assert(lt(int, gs_sockaddr_cmp(&back.addrs[i - 1], &back.addrs[i]), 0));
        }
        for (size_t i = 0; i < ai.naddrs; ++i) {
            bool found = false;
            for (size_t k = 0; k < back.naddrs; ++k) {
                found = found || gs_sockaddr_cmp(&ai.addrs[i], &back.addrs[k]) == 0;
            }
            cr_assert(found, "iter %d: address %zu lost", iter, i);
        }
        cr_assert(eq(i64, gs_addrinfo_encode(again, sizeof(again), &back), n));
        cr_assert(eq(int, memcmp(again, out, (size_t)n), 0));
    }
}
