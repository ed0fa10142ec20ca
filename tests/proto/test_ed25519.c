/* SPDX-License-Identifier: MIT */
/*
 * test_ed25519.c: the fast Ed25519 key check (binary Jacobi symbol, proto/ed25519_check.c) against
 * the method it replaced (Euler's criterion by exponentiation), kept below as a static reference
 * copy of the old proto code: 200,000 random keys, edge values of y, the vector keys, the v == 0
 * question, and the Legendre symbol itself on field elements chosen to hit the close-call paths.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "ed25519_check.h"
#include "gs_rand.h"

/* --- reference: the exponentiation method as it was in proto/ed25519_check.c ---------------- */

typedef unsigned __int128 u128;

#define OLD_MASK51 ((UINT64_C(1) << 51) - 1)

/* old_fe: an element of GF(2^255 - 19); limbs may exceed 51 bits slightly between reductions. */
typedef struct old_fe {
    uint64_t v[5];
} old_fe;

/* d = -121665/121666 mod p in radix 2^51 (0x52036cee...135978a3). */
static const old_fe old_fe_d = {
    {0x34dca135978a3u, 0x1a8283b156ebdu, 0x5e7a26001c029u, 0x739c663a03cbbu, 0x52036cee2b6ffu}};

static uint64_t old_load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* old_fe_frombytes reads 32 bytes little-endian, ignoring bit 255 (the sign of x). */
static void old_fe_frombytes(old_fe *h, const uint8_t s[32])
{
    uint64_t w0 = old_load64_le(s);
    uint64_t w1 = old_load64_le(s + 8);
    uint64_t w2 = old_load64_le(s + 16);
    uint64_t w3 = old_load64_le(s + 24) & ~(UINT64_C(1) << 63);

    h->v[0] = w0 & OLD_MASK51;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & OLD_MASK51;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & OLD_MASK51;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & OLD_MASK51;
    h->v[4] = w3 >> 12;
}

/* old_fe_carry brings every limb below 2^51 (plus a tiny excess in limb 0). */
static void old_fe_carry(old_fe *h)
{
    uint64_t c;
    for (int i = 0; i < 4; ++i) {
        c = h->v[i] >> 51;
        h->v[i] &= OLD_MASK51;
        h->v[i + 1] += c;
    }
    c = h->v[4] >> 51;
    h->v[4] &= OLD_MASK51;
    h->v[0] += c * 19;
}

static void old_fe_add_small(old_fe *h, const old_fe *f, uint64_t k)
{
    *h = *f;
    h->v[0] += k;
    old_fe_carry(h);
}

/* old_fe_sub_small computes f - k for a small k, adding 2p first so no limb underflows. */
static void old_fe_sub_small(old_fe *h, const old_fe *f, uint64_t k)
{
    h->v[0] = f->v[0] + 0xfffffffffffdau - k; /* 2 * (2^51 - 19) */
    h->v[1] = f->v[1] + 0xffffffffffffeu;     /* 2 * (2^51 - 1) */
    h->v[2] = f->v[2] + 0xffffffffffffeu;
    h->v[3] = f->v[3] + 0xffffffffffffeu;
    h->v[4] = f->v[4] + 0xffffffffffffeu;
    old_fe_carry(h);
}

/* old_fe_reduce carries the five 128-bit column sums of a product into |h| (limbs < 2^52). */
static void old_fe_reduce(old_fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    uint64_t h0 = (uint64_t)r0 & OLD_MASK51;
    r2 += (uint64_t)(r1 >> 51);
    uint64_t h1 = (uint64_t)r1 & OLD_MASK51;
    r3 += (uint64_t)(r2 >> 51);
    uint64_t h2 = (uint64_t)r2 & OLD_MASK51;
    r4 += (uint64_t)(r3 >> 51);
    uint64_t h3 = (uint64_t)r3 & OLD_MASK51;
    uint64_t c = (uint64_t)(r4 >> 51);
    uint64_t h4 = (uint64_t)r4 & OLD_MASK51;
    h0 += c * 19;
    h1 += h0 >> 51;
    h0 &= OLD_MASK51;

    h->v[0] = h0;
    h->v[1] = h1;
    h->v[2] = h2;
    h->v[3] = h3;
    h->v[4] = h4;
}

/* old_fe_mul: h = f * g; inputs have limbs < 2^52, the output is carried. */
static void old_fe_mul(old_fe *h, const old_fe *f, const old_fe *g)
{
    uint64_t f0 = f->v[0];
    uint64_t f1 = f->v[1];
    uint64_t f2 = f->v[2];
    uint64_t f3 = f->v[3];
    uint64_t f4 = f->v[4];
    uint64_t g0 = g->v[0];
    uint64_t g1 = g->v[1];
    uint64_t g2 = g->v[2];
    uint64_t g3 = g->v[3];
    uint64_t g4 = g->v[4];
    /* 2^255 = 19 mod p: limb products that reach 2^255 and above wrap around times 19. */
    uint64_t g1_19 = g1 * 19;
    uint64_t g2_19 = g2 * 19;
    uint64_t g3_19 = g3 * 19;
    uint64_t g4_19 = g4 * 19;

    u128 r0 =
        (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
    u128 r1 =
        (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
    u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
    u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
    u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;

    old_fe_reduce(h, r0, r1, r2, r3, r4);
}

/* old_fe_sq: h = f^2, with the symmetric products computed once (15 products instead of 25). */
static void old_fe_sq(old_fe *h, const old_fe *f)
{
    uint64_t f0 = f->v[0];
    uint64_t f1 = f->v[1];
    uint64_t f2 = f->v[2];
    uint64_t f3 = f->v[3];
    uint64_t f4 = f->v[4];
    uint64_t f3_19 = f3 * 19;
    uint64_t f4_19 = f4 * 19;

    u128 r0 = (u128)f0 * f0 + (u128)(2 * f1) * f4_19 + (u128)(2 * f2) * f3_19;
    u128 r1 = (u128)(2 * f0) * f1 + (u128)(2 * f2) * f4_19 + (u128)f3 * f3_19;
    u128 r2 = (u128)(2 * f0) * f2 + (u128)f1 * f1 + (u128)(2 * f3) * f4_19;
    u128 r3 = (u128)(2 * f0) * f3 + (u128)(2 * f1) * f2 + (u128)f4 * f4_19;
    u128 r4 = (u128)(2 * f0) * f4 + (u128)(2 * f1) * f3 + (u128)f2 * f2;
    old_fe_reduce(h, r0, r1, r2, r3, r4);
}

/* old_fe_sqn: h = f^(2^n), n >= 1. */
static void old_fe_sqn(old_fe *h, const old_fe *f, int n)
{
    old_fe_sq(h, f);
    for (int i = 1; i < n; ++i) {
        old_fe_sq(h, h);
    }
}

/* old_fe_canonical writes the fully reduced value of |f| (0 <= value < p) as limbs. */
static void old_fe_canonical(uint64_t out[5], const old_fe *f)
{
    old_fe t = *f;
    old_fe_carry(&t);
    old_fe_carry(&t);
    /* Now t < 2^255 + small; subtract p if t >= p: q = 1 iff t + 19 carries out of bit 255. */
    uint64_t q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;
    t.v[0] += 19 * q;
    for (int i = 0; i < 4; ++i) {
        t.v[i + 1] += t.v[i] >> 51;
        t.v[i] &= OLD_MASK51;
    }
    t.v[4] &= OLD_MASK51;
    memcpy(out, t.v, sizeof(t.v));
}

/* old_fe_pow_p12: h = z^((p-1)/2) = z^(2^254 - 10), by a fixed addition chain. */
static void old_fe_pow_p12(old_fe *h, const old_fe *z)
{
    old_fe z2;
    old_fe z9;
    old_fe z11;
    old_fe t;
    old_fe a;
    old_fe b;
    old_fe c50;

    old_fe_sq(&z2, z);          /* z^2 */
    old_fe_sqn(&t, &z2, 2);     /* z^8 */
    old_fe_mul(&z9, &t, z);     /* z^9 */
    old_fe_mul(&z11, &z9, &z2); /* z^11 */
    old_fe_sq(&t, &z11);        /* z^22 */
    old_fe_mul(&a, &t, &z9);    /* z^31 = z^(2^5 - 1) */
    old_fe_sqn(&t, &a, 5);
    old_fe_mul(&b, &t, &a); /* 2^10 - 1 */
    old_fe_sqn(&t, &b, 10);
    old_fe_mul(&a, &t, &b); /* 2^20 - 1 */
    old_fe_sqn(&t, &a, 20);
    old_fe_mul(&a, &t, &a); /* 2^40 - 1 */
    old_fe_sqn(&t, &a, 10);
    old_fe_mul(&c50, &t, &b); /* 2^50 - 1 */
    old_fe_sqn(&t, &c50, 50);
    old_fe_mul(&a, &t, &c50); /* 2^100 - 1 */
    old_fe_sqn(&t, &a, 100);
    old_fe_mul(&a, &t, &a); /* 2^200 - 1 */
    old_fe_sqn(&t, &a, 50);
    old_fe_mul(&a, &t, &c50); /* 2^250 - 1 */
    old_fe_sqn(&t, &a, 4);    /* 2^254 - 16 */
    old_fe_sq(&b, &z2);       /* z^4 */
    old_fe_mul(&b, &b, &z2);  /* z^6 */
    old_fe_mul(h, &t, &b);    /* 2^254 - 10 */
}

/* old_tobytes writes the canonical value of |f| as 32 bytes little-endian. */
static void old_tobytes(uint8_t out[32], const old_fe *f)
{
    uint64_t r[5];
    old_fe_canonical(r, f);
    uint64_t w[4] = {r[0] | (r[1] << 51), (r[1] >> 13) | (r[2] << 38), (r[2] >> 26) | (r[3] << 25),
                     (r[3] >> 39) | (r[4] << 12)};
    for (int i = 0; i < 32; ++i) {
        out[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
    }
}

/* old_legendre: Euler's criterion on the 32 bytes at |x| (bit 255 ignored): 1, -1 or 0. */
static int old_legendre_fe(const old_fe *f)
{
    old_fe chi;
    uint64_t r[5];
    old_fe_pow_p12(&chi, f);
    old_fe_canonical(r, &chi);
    if ((r[1] | r[2] | r[3] | r[4]) == 0 && r[0] <= 1) {
        return (int)r[0];
    }
    /* anything else must be p - 1 */
    cr_assert(eq(u64, r[0], (UINT64_C(1) << 51) - 20));
    return -1;
}

static int old_legendre(const uint8_t x[32])
{
    old_fe f;
    old_fe_frombytes(&f, x);
    return old_legendre_fe(&f);
}

/* old_key_is_valid: the whole old gs_ed25519_key_is_valid. */
static bool old_key_is_valid(const uint8_t key[32])
{
    old_fe y;
    old_fe y2;
    old_fe u;
    old_fe v;
    old_fe uv;

    old_fe_frombytes(&y, key);
    old_fe_sq(&y2, &y);
    old_fe_sub_small(&u, &y2, 1);
    old_fe_mul(&v, &y2, &old_fe_d);
    old_fe_add_small(&v, &v, 1);
    old_fe_mul(&uv, &u, &v);
    return old_legendre_fe(&uv) >= 0;
}

/* old_key_uv_bytes writes u*v = (y^2 - 1)(d*y^2 + 1) of the key as canonical bytes. */
static void old_key_uv_bytes(uint8_t out[32], const uint8_t key[32])
{
    old_fe y;
    old_fe y2;
    old_fe u;
    old_fe v;
    old_fe uv;

    old_fe_frombytes(&y, key);
    old_fe_sq(&y2, &y);
    old_fe_sub_small(&u, &y2, 1);
    old_fe_mul(&v, &y2, &old_fe_d);
    old_fe_add_small(&v, &v, 1);
    old_fe_mul(&uv, &u, &v);
    old_tobytes(out, &uv);
}

/* old_pow: h = z^e for a little-endian 256-bit exponent (square and multiply). */
static void old_pow(old_fe *h, const old_fe *z, const uint8_t e[32])
{
    old_fe acc = {{1, 0, 0, 0, 0}};
    for (int bit = 255; bit >= 0; --bit) {
        old_fe_sq(&acc, &acc);
        if ((e[bit / 8] >> (bit % 8)) & 1) {
            old_fe_mul(&acc, &acc, z);
        }
    }
    *h = acc;
}

/* --- helpers --------------------------------------------------------------------------------- */

static const uint8_t vec_key_a[32] = {
    0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d, 0x73,
    0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2, 0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29};
static const uint8_t vec_key_b[32] = {
    0x8a, 0x88, 0xe3, 0xdd, 0x74, 0x09, 0xf1, 0x95, 0xfd, 0x52, 0xdb, 0x2d, 0x3c, 0xba, 0x5d, 0x72,
    0xca, 0x67, 0x09, 0xbf, 0x1d, 0x94, 0x12, 0x1b, 0xf3, 0x74, 0x88, 0x01, 0xb4, 0x0f, 0x6f, 0x5c};

/* set_words writes 4 little-endian 64-bit words as 32 bytes. */
static void set_words(uint8_t out[32], uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3)
{
    uint64_t w[4] = {w0, w1, w2, w3};
    for (int i = 0; i < 32; ++i) {
        out[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
    }
}

/* add_small adds k to the 256-bit little-endian value at |x| (mod 2^256). */
static void add_small(uint8_t x[32], unsigned k)
{
    unsigned c = k;
    for (int i = 0; i < 32 && c != 0; ++i) {
        c += x[i];
        x[i] = (uint8_t)c;
        c >>= 8;
    }
}

/* sub_small subtracts k from the 256-bit little-endian value at |x| (mod 2^256). */
static void sub_small(uint8_t x[32], unsigned k)
{
    int b = (int)k;
    for (int i = 0; i < 32 && b != 0; ++i) {
        int t = x[i] - b;
        b = 0;
        while (t < 0) {
            t += 256;
            ++b;
        }
        x[i] = (uint8_t)t;
    }
}

#define P0 UINT64_C(0xffffffffffffffed)
#define P1 UINT64_MAX
#define P3 UINT64_C(0x7fffffffffffffff)

static void check_key(const uint8_t key[32], const char *what)
{
    bool want = old_key_is_valid(key);
    cr_assert(eq(int, gs_ed25519_key_is_valid(key), want), "%s", what);
    cr_assert(eq(int, gs_ed25519_key_is_valid_euler(key), want), "%s (euler)", what);
}

/* check_fe: the fast path decides (no fallback) and agrees with the reference. */
static void check_fe(const uint8_t x[32], const char *what, int i)
{
    int got = gs_ed25519_legendre(x);
    if (got != old_legendre(x)) {
        cr_fatal("%s %d: fast path %d, euler %d", what, i, got, old_legendre(x));
    }
}

/* --- tests ----------------------------------------------------------------------------------- */

Test(ed25519_fast, reference_is_the_old_method)
{
    /* the reference agrees with the fixed vectors before it is trusted */
    uint8_t bad[32] = {2};
    uint8_t small[32] = {1};
    cr_assert(old_key_is_valid(vec_key_a));
    cr_assert(old_key_is_valid(vec_key_b));
    cr_assert(eq(int, old_key_is_valid(bad), 0));
    cr_assert(old_key_is_valid(small));
    /* and knows squares: 4 is one, 2 is not (p = 5 mod 8) */
    uint8_t x[32] = {4};
    cr_assert(eq(int, old_legendre(x), 1));
    x[0] = 2;
    cr_assert(eq(int, old_legendre(x), -1));
    x[0] = 0;
    cr_assert(eq(int, old_legendre(x), 0));
}

Test(ed25519_fast, vector_and_edge_keys)
{
    uint8_t key[32];
    uint8_t bad[32] = {2};
    uint8_t small[32] = {1};

    cr_assert(gs_ed25519_key_is_valid(vec_key_a));
    cr_assert(gs_ed25519_key_is_valid(vec_key_b));
    cr_assert(eq(int, gs_ed25519_key_is_valid(bad), 0));
    cr_assert(gs_ed25519_key_is_valid(small));
    check_key(vec_key_a, "A");
    check_key(vec_key_b, "B");
    check_key(bad, "BAD");
    check_key(small, "SMALL");

    for (int sign = 0; sign < 2; ++sign) {
        uint8_t top = (uint8_t)(sign << 7);
        /* y = 0 .. 40 */
        for (unsigned k = 0; k <= 40; ++k) {
            memset(key, 0, sizeof(key));
            key[0] = (uint8_t)k;
            key[31] |= top;
            check_key(key, "small y");
        }
        /* y = p - 40 .. p + 18 = 2^255 - 1 (p, p + 1 are y = 0, 1 again) */
        set_words(key, P0, P1, P1, P3);
        sub_small(key, 40);
        for (unsigned k = 0; k <= 58; ++k) {
            uint8_t t[32];
            memcpy(t, key, sizeof(t));
            add_small(t, k);
            t[31] |= top;
            check_key(t, "y near p");
        }
        /* the sign bit is ignored */
        memcpy(key, vec_key_a, sizeof(key));
        key[31] ^= 0x80;
        cr_assert(gs_ed25519_key_is_valid(key));
        memcpy(key, bad, sizeof(key));
        key[31] |= 0x80;
        cr_assert(eq(int, gs_ed25519_key_is_valid(key), 0));
        /* y = 2^k, 2^k - 1, 2^k + 1 */
        for (int k = 0; k < 255; ++k) {
            memset(key, 0, sizeof(key));
            key[k / 8] = (uint8_t)(1u << (k % 8));
            key[31] |= top;
            check_key(key, "2^k");
            sub_small(key, 1);
            key[31] = (uint8_t)((key[31] & 0x7f) | top);
            check_key(key, "2^k - 1");
            add_small(key, 2);
            key[31] = (uint8_t)((key[31] & 0x7f) | top);
            check_key(key, "2^k + 1");
        }
    }
}

Test(ed25519_fast, denominator_never_zero)
{
    /* v = d*y^2 + 1 = 0 needs y^2 = -1/d: -1/d is not a square, so no key has v = 0 (and the
     * fast path's reduction to (u*v / p) is always sound). */
    static const uint8_t p_minus_2[32] = {0xeb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    old_fe dinv;
    old_fe check;
    uint8_t mb[32];
    old_pow(&dinv, &old_fe_d, p_minus_2);
    old_fe_mul(&check, &dinv, &old_fe_d);
    uint64_t r[5];
    old_fe_canonical(r, &check);
    cr_assert(eq(u64, r[0], 1), "1/d is the inverse of d");
    cr_assert(eq(u64, r[1] | r[2] | r[3] | r[4], 0));
    /* neg = -1/d = 2p - dinv, limb by limb (dinv canonical, so no limb underflows) */
    old_fe_canonical(r, &dinv);
    old_fe neg = {{0xfffffffffffdau - r[0], 0xffffffffffffeu - r[1], 0xffffffffffffeu - r[2],
                   0xffffffffffffeu - r[3], 0xffffffffffffeu - r[4]}};
    old_fe_carry(&neg);
    old_fe_mul(&check, &neg, &old_fe_d);
    old_tobytes(mb, &check);
    uint8_t minus_one[32];
    set_words(minus_one, P0 - 1, P1, P1, P3);
    cr_assert(eq(int, memcmp(mb, minus_one, 32), 0), "d * (-1/d) = -1");
    old_tobytes(mb, &neg);
    cr_assert(eq(int, old_legendre(mb), -1), "-1/d is not a square");
    cr_assert(eq(int, gs_ed25519_legendre(mb), -1));
    /* d itself is not a square, -1 is */
    old_tobytes(mb, &old_fe_d);
    cr_assert(eq(int, gs_ed25519_legendre(mb), -1));
    cr_assert(eq(int, gs_ed25519_legendre(minus_one), 1));

    /* the closest a key gets: y = sqrt(-1) (y^2 = -1), and y = +-1 (u = 0, counted square) */
    static const uint8_t p_minus_1_over_4[32] = {0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f};
    old_fe two = {{2, 0, 0, 0, 0}};
    old_fe i2;
    old_pow(&i2, &two, p_minus_1_over_4); /* 2^((p-1)/4) = sqrt(-1) */
    old_fe_sq(&check, &i2);
    old_tobytes(mb, &check);
    cr_assert(eq(int, memcmp(mb, minus_one, 32), 0), "sqrt(-1)^2 = -1");
    old_tobytes(mb, &i2);
    check_key(mb, "sqrt(-1)");
    check_key(minus_one, "y = -1");
    cr_assert(gs_ed25519_key_is_valid(minus_one));
}

Test(ed25519_fast, random_keys_match_euler, .timeout = 600)
{
    gs_rand r;
    gs_rand_seed(&r, 0xed25519);
    uint8_t key[32];
    size_t nvalid = 0;
    const size_t n = 200000;
    for (size_t i = 0; i < n; ++i) {
        for (int k = 0; k < 4; ++k) {
            uint64_t w = gs_rand_next(&r);
            memcpy(key + 8 * k, &w, 8);
        }
        bool got = gs_ed25519_key_is_valid(key);
        bool want = old_key_is_valid(key);
        if (got != want) {
            cr_fatal("random key %zu: fast %d, euler %d", i, got, want);
        }
        /* and the answer came from the Jacobi path, not from its Euler fallback */
        uint8_t uvb[32];
        old_key_uv_bytes(uvb, key);
        int chi = gs_ed25519_legendre(uvb);
        if (chi == 2 || (chi >= 0) != want) {
            cr_fatal("random key %zu: fast path on u*v gave %d", i, chi);
        }
        if (i % 64 == 0) {
            cr_assert(eq(int, gs_ed25519_key_is_valid_euler(key), want), "euler path, key %zu", i);
        }
        nvalid += got;
    }
    /* about half of all y are valid */
    cr_assert(gt(sz, nvalid, n * 45 / 100));
    cr_assert(lt(sz, nvalid, n * 55 / 100));
}

Test(ed25519_fast, legendre_on_chosen_elements, .timeout = 600)
{
    uint8_t x[32];
    gs_rand r;
    gs_rand_seed(&r, 2551919);

    /* 0 .. 300 and p - 300 .. 2^255 - 1 (reduced: p .. are 0 ..) */
    for (unsigned k = 0; k <= 300; ++k) {
        memset(x, 0, sizeof(x));
        x[0] = (uint8_t)k;
        x[1] = (uint8_t)(k >> 8);
        check_fe(x, "small", (int)k);
        set_words(x, P0, P1, P1, P3);
        sub_small(x, 300);
        add_small(x, k);
        check_fe(x, "p - 300 + k", (int)k);
    }
    for (int k = 0; k < 255; ++k) {
        memset(x, 0, sizeof(x));
        x[k / 8] = (uint8_t)(1u << (k % 8));
        check_fe(x, "2^k", k);
        sub_small(x, 1);
        check_fe(x, "2^k - 1", k);
        add_small(x, 2);
        check_fe(x, "2^k + 1", k);
        /* p - 2^k: agrees with p in the top bits, the first comparison is a close call */
        uint8_t y[32];
        memset(y, 0, sizeof(y));
        y[k / 8] = (uint8_t)(1u << (k % 8));
        set_words(x, P0, P1, P1, P3);
        for (int i = 0, b = 0; i < 32; ++i) {
            int t = x[i] - y[i] - b;
            b = t < 0;
            x[i] = (uint8_t)(t + 256 * b);
        }
        check_fe(x, "p - 2^k", k);
        /* (p-1)/2 >> k-ish: a value about half of p, shifted */
        set_words(x, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_C(0x3fffffffffffffff) >> (k % 62));
        check_fe(x, "2^m - 1", k);
    }
    /* random values, random values just below p, sparse values, values of every size */
    for (int i = 0; i < 100000; ++i) {
        uint64_t w[4];
        for (int k = 0; k < 4; ++k) {
            w[k] = gs_rand_next(&r);
        }
        switch (i % 8) {
        case 0:
        case 1:
        case 2:
            break;
        case 3: /* p - small random: a close call against b = p at the start */
            w[3] = P3;
            w[2] = UINT64_MAX;
            w[1] = (i & 8) != 0 ? UINT64_MAX : w[1];
            break;
        case 4: /* sparse: few bits set */
            w[0] &= gs_rand_next(&r) & gs_rand_next(&r);
            w[1] &= gs_rand_next(&r) & gs_rand_next(&r);
            w[2] &= gs_rand_next(&r) & gs_rand_next(&r);
            w[3] &= gs_rand_next(&r) & gs_rand_next(&r);
            break;
        case 5: /* dense: few bits clear */
            w[0] |= gs_rand_next(&r) | gs_rand_next(&r);
            w[1] |= gs_rand_next(&r) | gs_rand_next(&r);
            w[2] |= gs_rand_next(&r) | gs_rand_next(&r);
            w[3] |= gs_rand_next(&r) | gs_rand_next(&r);
            break;
        default: { /* a random bit length */
            unsigned len = (unsigned)(gs_rand_next(&r) % 256);
            for (unsigned k = 0; k < 4; ++k) {
                if (len <= 64 * k) {
                    w[k] = 0;
                } else if (len < 64 * (k + 1)) {
                    w[k] &= UINT64_MAX >> (64 * (k + 1) - len);
                }
            }
            break;
        }
        }
        set_words(x, w[0], w[1], w[2], w[3]);
        check_fe(x, "random", i);
    }
    /* the symbol is multiplicative: (ab / p) = (a / p)(b / p), on random pairs */
    for (int i = 0; i < 2000; ++i) {
        uint8_t a[32];
        uint8_t b[32];
        uint8_t ab[32];
        for (int k = 0; k < 4; ++k) {
            uint64_t w = gs_rand_next(&r);
            memcpy(a + 8 * k, &w, 8);
            w = gs_rand_next(&r);
            memcpy(b + 8 * k, &w, 8);
        }
        old_fe fa;
        old_fe fb;
        old_fe fab;
        old_fe_frombytes(&fa, a);
        old_fe_frombytes(&fb, b);
        old_fe_mul(&fab, &fa, &fb);
        old_tobytes(ab, &fab);
        cr_assert(eq(int, gs_ed25519_legendre(ab), gs_ed25519_legendre(a) * gs_ed25519_legendre(b)),
                  "pair %d", i);
    }
}
