/* SPDX-License-Identifier: MIT */
/*
 * ed25519_check.c: the Ed25519 public-key decompression test of PROTOCOL.md 4.6.
 *
 * A key is valid iff x^2 = (y^2 - 1) / (d*y^2 + 1) has a solution mod p = 2^255 - 19, where y is
 * the key read little-endian with bit 255 cleared (y >= p is simply used mod p).  The denominator
 * is never zero (d is not a square while -1 is, so d*y^2 = -1 is impossible), hence the quotient is
 * a square iff u*v is, with u = y^2 - 1 and v = d*y^2 + 1.  Euler's criterion decides that:
 * (u*v)^((p-1)/2) is 1 for a non-zero square, 0 for zero (a square too) and p-1 otherwise.
 *
 * Field elements are 5 limbs of 51 bits (radix 2^51), products in unsigned __int128.  Nothing
 * here is secret, so nothing needs to be constant-time.
 */
#include "codec.h"

#include <string.h>

#if !defined(__SIZEOF_INT128__)
#    error "ed25519_check.c needs unsigned __int128 (gcc or clang on a 64-bit target)"
#endif

typedef unsigned __int128 u128;

#define FE_MASK51 ((UINT64_C(1) << 51) - 1)

/* fe: an element of GF(2^255 - 19); limbs may exceed 51 bits slightly between reductions. */
typedef struct fe {
    uint64_t v[5];
} fe;

/* d = -121665/121666 mod p in radix 2^51 (0x52036cee...135978a3). */
static const fe fe_d = {
    {0x34dca135978a3u, 0x1a8283b156ebdu, 0x5e7a26001c029u, 0x739c663a03cbbu, 0x52036cee2b6ffu}};

static uint64_t load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* fe_frombytes reads 32 bytes little-endian, ignoring bit 255 (the sign of x). */
static void fe_frombytes(fe *h, const uint8_t s[32])
{
    uint64_t w0 = load64_le(s);
    uint64_t w1 = load64_le(s + 8);
    uint64_t w2 = load64_le(s + 16);
    uint64_t w3 = load64_le(s + 24) & ~(UINT64_C(1) << 63);

    h->v[0] = w0 & FE_MASK51;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & FE_MASK51;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & FE_MASK51;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & FE_MASK51;
    h->v[4] = w3 >> 12;
}

/* fe_carry brings every limb below 2^51 (plus a tiny excess in limb 0). */
static void fe_carry(fe *h)
{
    uint64_t c;
    for (int i = 0; i < 4; ++i) {
        c = h->v[i] >> 51;
        h->v[i] &= FE_MASK51;
        h->v[i + 1] += c;
    }
    c = h->v[4] >> 51;
    h->v[4] &= FE_MASK51;
    h->v[0] += c * 19;
}

static void fe_add_small(fe *h, const fe *f, uint64_t k)
{
    *h = *f;
    h->v[0] += k;
    fe_carry(h);
}

/* fe_sub_small computes f - k for a small k, adding 2p first so no limb underflows. */
static void fe_sub_small(fe *h, const fe *f, uint64_t k)
{
    h->v[0] = f->v[0] + 0xfffffffffffdau - k; /* 2 * (2^51 - 19) */
    h->v[1] = f->v[1] + 0xffffffffffffeu;     /* 2 * (2^51 - 1) */
    h->v[2] = f->v[2] + 0xffffffffffffeu;
    h->v[3] = f->v[3] + 0xffffffffffffeu;
    h->v[4] = f->v[4] + 0xffffffffffffeu;
    fe_carry(h);
}

/* fe_reduce carries the five 128-bit column sums of a product into |h| (limbs < 2^52). */
static void fe_reduce(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    uint64_t h0 = (uint64_t)r0 & FE_MASK51;
    r2 += (uint64_t)(r1 >> 51);
    uint64_t h1 = (uint64_t)r1 & FE_MASK51;
    r3 += (uint64_t)(r2 >> 51);
    uint64_t h2 = (uint64_t)r2 & FE_MASK51;
    r4 += (uint64_t)(r3 >> 51);
    uint64_t h3 = (uint64_t)r3 & FE_MASK51;
    uint64_t c = (uint64_t)(r4 >> 51);
    uint64_t h4 = (uint64_t)r4 & FE_MASK51;
    h0 += c * 19;
    h1 += h0 >> 51;
    h0 &= FE_MASK51;

    h->v[0] = h0;
    h->v[1] = h1;
    h->v[2] = h2;
    h->v[3] = h3;
    h->v[4] = h4;
}

/* fe_mul: h = f * g; inputs have limbs < 2^52, the output is carried. */
static void fe_mul(fe *h, const fe *f, const fe *g)
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

    fe_reduce(h, r0, r1, r2, r3, r4);
}

/* fe_sq: h = f^2, with the symmetric products computed once (15 products instead of 25). */
static void fe_sq(fe *h, const fe *f)
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
    fe_reduce(h, r0, r1, r2, r3, r4);
}

/* fe_sqn: h = f^(2^n), n >= 1. */
static void fe_sqn(fe *h, const fe *f, int n)
{
    fe_sq(h, f);
    for (int i = 1; i < n; ++i) {
        fe_sq(h, h);
    }
}

/* fe_canonical writes the fully reduced value of |f| (0 <= value < p) as limbs. */
static void fe_canonical(uint64_t out[5], const fe *f)
{
    fe t = *f;
    fe_carry(&t);
    fe_carry(&t);
    /* Now t < 2^255 + small; subtract p if t >= p: q = 1 iff t + 19 carries out of bit 255. */
    uint64_t q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;
    t.v[0] += 19 * q;
    for (int i = 0; i < 4; ++i) {
        t.v[i + 1] += t.v[i] >> 51;
        t.v[i] &= FE_MASK51;
    }
    t.v[4] &= FE_MASK51;
    memcpy(out, t.v, sizeof(t.v));
}

/* fe_pow_p12: h = z^((p-1)/2) = z^(2^254 - 10), by a fixed addition chain. */
static void fe_pow_p12(fe *h, const fe *z)
{
    fe z2;
    fe z9;
    fe z11;
    fe t;
    fe a;
    fe b;
    fe c50;

    fe_sq(&z2, z);          /* z^2 */
    fe_sqn(&t, &z2, 2);     /* z^8 */
    fe_mul(&z9, &t, z);     /* z^9 */
    fe_mul(&z11, &z9, &z2); /* z^11 */
    fe_sq(&t, &z11);        /* z^22 */
    fe_mul(&a, &t, &z9);    /* z^31 = z^(2^5 - 1) */
    fe_sqn(&t, &a, 5);
    fe_mul(&b, &t, &a); /* 2^10 - 1 */
    fe_sqn(&t, &b, 10);
    fe_mul(&a, &t, &b); /* 2^20 - 1 */
    fe_sqn(&t, &a, 20);
    fe_mul(&a, &t, &a); /* 2^40 - 1 */
    fe_sqn(&t, &a, 10);
    fe_mul(&c50, &t, &b); /* 2^50 - 1 */
    fe_sqn(&t, &c50, 50);
    fe_mul(&a, &t, &c50); /* 2^100 - 1 */
    fe_sqn(&t, &a, 100);
    fe_mul(&a, &t, &a); /* 2^200 - 1 */
    fe_sqn(&t, &a, 50);
    fe_mul(&a, &t, &c50); /* 2^250 - 1 */
    fe_sqn(&t, &a, 4);    /* 2^254 - 16 */
    fe_sq(&b, &z2);       /* z^4 */
    fe_mul(&b, &b, &z2);  /* z^6 */
    fe_mul(h, &t, &b);    /* 2^254 - 10 */
}

bool gs_ed25519_key_is_valid(const uint8_t key[GS_KEY_LEN])
{
    fe y;
    fe y2;
    fe u;
    fe v;
    fe uv;
    fe chi;
    uint64_t r[5];

    fe_frombytes(&y, key);
    fe_sq(&y2, &y);
    fe_sub_small(&u, &y2, 1); /* y^2 - 1 */
    fe_mul(&v, &y2, &fe_d);
    fe_add_small(&v, &v, 1); /* d*y^2 + 1 */
    fe_mul(&uv, &u, &v);
    fe_pow_p12(&chi, &uv);
    fe_canonical(r, &chi);
    /* chi is 0 (u = 0: y = +-1), 1 (square) or p - 1 (not a square). */
    bool is_zero_or_one = r[0] <= 1 && r[1] == 0 && r[2] == 0 && r[3] == 0 && r[4] == 0;
    return is_zero_or_one;
}
