/* SPDX-License-Identifier: MIT */
/*
 * ed25519_check.c: the Ed25519 public-key decompression test of PROTOCOL.md 4.6.
 *
 * A key is valid iff x^2 = (y^2 - 1) / (d*y^2 + 1) has a solution mod p = 2^255 - 19, where y is
 * the key read little-endian with bit 255 cleared (y >= p is simply used mod p).  The denominator
 * is never zero (d is not a square while -1 is, so d*y^2 = -1 is impossible), hence the quotient is
 * a square iff u*v is, with u = y^2 - 1 and v = d*y^2 + 1.
 *
 * Whether u*v is a square (zero counts) is its Legendre symbol, computed here as a Jacobi symbol
 * (uv / p) by the binary algorithm, which needs no exponentiation (~3x faster than Euler's
 * criterion; docs/bench/blake3.md):
 *
 *   a = uv, b = p, sign = +1; loop while a != 0:
 *     strip the factors 2 of a; each flips the sign when b = 3 or 5 mod 8    (2/b) = -1
 *     if a < b: swap them, flipping the sign when a = b = 3 mod 4            reciprocity
 *     a = a - b                                                               (a-b / b) = (a/b)
 *   the symbol is the sign if b = 1 (the gcd), else 0.
 *
 * a and b stay >= 0 and b odd, so each rule is the textbook one.  The loop runs in batches of up to
 * JAC_BATCH halvings on 64-bit words: the exact low words of a and b give every parity and the
 * residues mod 8, a 62-bit window of their top bits decides a < b, and the batch's steps collect
 * in a 2x2 integer matrix applied once to the 4-limb numbers (jac_batch_fast).  A window can call
 * a close comparison wrong; that always leaves a negative value at the end of the batch (see
 * jac_batch_fast), so a batch whose results are both >= 0 was exact, and one that is not is redone
 * by jac_batch, whose windows are intervals [L, H] certain to hold the true values: it stops
 * early on a close call (or, on its first step, compares the full numbers), so every decision it
 * takes is right.  Random inputs need the redo about once in 500,000 batches.  When both values fit
 * in 62 bits the rest runs on plain words (jac_word).  The result is the true symbol, not an
 * approximation.  More than JAC_MAX_BATCHES batches (random inputs need 4 to 6) falls back to
 * Euler's criterion, so no input costs much more than the exponentiation did.
 *
 * Euler's criterion, (u*v)^((p-1)/2) in {0, 1} with a fixed addition chain, is kept as that
 * fallback and as gs_ed25519_key_is_valid_euler (tests and benchmarks compare the two).
 *
 * Field elements are 5 limbs of 51 bits (radix 2^51), products in unsigned __int128.  Nothing
 * here is secret, so nothing needs to be constant-time.
 */
#include "codec.h"
#include "ed25519_check.h"

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

/* fe_to_words writes the canonical value of |f| (0 <= value < p) as 4 little-endian 64-bit words.
 */
static void fe_to_words(uint64_t w[4], const fe *f)
{
    uint64_t r[5];
    fe_canonical(r, f);
    w[0] = r[0] | (r[1] << 51);
    w[1] = (r[1] >> 13) | (r[2] << 38);
    w[2] = (r[2] >> 26) | (r[3] << 25);
    w[3] = (r[3] >> 39) | (r[4] << 12);
}

/* --- Jacobi symbol (x / p) by the binary algorithm ------------------------------------------ */

typedef __int128 i128;

/* Halvings per batch: the low words stay exact for 64 - JAC_BATCH bits, and the sign rule for a
 * halving needs b mod 8 (3 bits). */
#define JAC_BATCH 58
/* Batches before giving up for Euler's criterion (random inputs need 4 to 6, values next to p
 * up to 8); bounds the cost of a hostile input to about 3x the exponentiation. */
#define JAC_MAX_BATCHES 16

static const uint64_t p_words[4] = {UINT64_C(0xffffffffffffffed), UINT64_MAX, UINT64_MAX,
                                    UINT64_C(0x7fffffffffffffff)};

/*
 * jac_mat: the effect of one batch of k halvings.  With a0, b0 the values at the start,
 * 2^k a = u*a0 + v*b0 and 2^k b = q*a0 + r*b0; |u| + |v| <= 2^k and |q| + |r| <= 2^k.
 */
typedef struct jac_mat {
    int64_t u;
    int64_t v;
    int64_t q;
    int64_t r;
} jac_mat;

/* jac_shift returns s = (bit length of max(a, b)) - 62, >= 1: the caller keeps values below 2^62
 * for jac_word. */
static int jac_shift(const uint64_t a[4], const uint64_t b[4])
{
    int n = 256;
    uint64_t top = a[3] | b[3];
    for (int i = 2; top == 0 && i >= 0; --i) {
        top = a[i] | b[i];
        n -= 64;
    }
    return n - __builtin_clzll(top) - 62;
}

/* jac_top returns floor(x / 2^s): at most 62 bits when s = bit length of max(a, b) - 62. */
static int64_t jac_top(const uint64_t x[4], int s)
{
    int i = s >> 6;
    int o = s & 63;
    uint64_t t = x[i] >> o;
    if (o != 0 && i < 3) {
        t |= x[i + 1] << (64 - o);
    }
    return (int64_t)t;
}

/*
 * jac_batch_fast does what jac_batch does with plain 62-bit windows in place of intervals, so a
 * close call can go the wrong way.  A wrong decision always makes a value negative: a - b < 0 when
 * a < b is not swapped, b - a < 0 when a > b is.  From then on exactly one of a, b stays negative
 * (a - b keeps the sign of a when a and b have opposite signs; halving and swapping keep signs),
 * so the batch was exact, every rule applied to non-negative values, iff both results are >= 0.
 * The caller checks that and redoes the batch with jac_batch otherwise.
 */
static int jac_batch_fast(const uint64_t a[4], const uint64_t b[4], jac_mat *m, unsigned *sign)
{
    int s = jac_shift(a, b);
    int64_t xa = jac_top(a, s);
    int64_t xb = jac_top(b, s);
    uint64_t wa = a[0]; /* exact mod 2^(64 - k) */
    uint64_t wb = b[0];
    int64_t u = 1;
    int64_t v = 0;
    int64_t q = 0;
    int64_t r = 1;
    unsigned sg = *sign;
    int k = 0;

    for (;;) {
        int z = __builtin_ctzll(wa | (UINT64_C(1) << (JAC_BATCH - k)));
        wa >>= z;
        xa >>= z;
        q *= (int64_t)1 << z;
        r *= (int64_t)1 << z;
        sg ^= (unsigned)z & (unsigned)((wb >> 1) ^ (wb >> 2));
        k += z;
        if (k == JAC_BATCH) {
            break;
        }
        if (xa < xb) {
            int64_t t = xa;
            xa = xb;
            xb = t;
            uint64_t tw = wa;
            wa = wb;
            wb = tw;
            t = u;
            u = q;
            q = t;
            t = v;
            v = r;
            r = t;
            sg ^= (unsigned)((wa & wb) >> 1);
        }
        xa -= xb;
        wa -= wb;
        u -= q;
        v -= r;
    }
    m->u = u;
    m->v = v;
    m->q = q;
    m->r = r;
    *sign = sg;
    return k;
}

/*
 * jac_batch runs the binary algorithm on (a, b), b odd, both >= 2^62 in bit length, for up to
 * JAC_BATCH halvings.  It fills |m|, flips bit 0 of |*sign| for each sign change and returns k,
 * the number of halvings done (k >= 1).
 */
static int jac_batch(const uint64_t a[4], const uint64_t b[4], jac_mat *m, unsigned *sign)
{
    int s = jac_shift(a, b);

    /* a / 2^s lies in [a_lo, a_hi]; the same for b.  Halving rounds the bounds outwards. */
    int64_t a_lo = jac_top(a, s);
    int64_t a_hi = a_lo + 1;
    int64_t b_lo = jac_top(b, s);
    int64_t b_hi = b_lo + 1;
    uint64_t wa = a[0]; /* exact mod 2^(64 - k) */
    uint64_t wb = b[0];
    int64_t u = 1;
    int64_t v = 0;
    int64_t q = 0;
    int64_t r = 1;
    unsigned sg = *sign;
    int k = 0;

    for (;;) {
        /* the sentinel bit stops the count at the batch size, inside the exact bits */
        int z = __builtin_ctzll(wa | (UINT64_C(1) << (JAC_BATCH - k)));
        wa >>= z;
        a_lo >>= z;             /* floor (arithmetic shift) */
        a_hi = -((-a_hi) >> z); /* ceiling */
        q *= (int64_t)1 << z;
        r *= (int64_t)1 << z;
        sg ^= (unsigned)z & (unsigned)((wb >> 1) ^ (wb >> 2)); /* (2/b) = -1 iff b = 3, 5 mod 8 */
        k += z;
        if (k == JAC_BATCH) {
            break;
        }
        /* a is odd: make a >= b, then a -= b */
        bool swap;
        if (a_hi < b_lo) {
            swap = true;
        } else if (a_lo >= b_hi) {
            swap = false;
        } else if (k == 0) {
            /* still the input values: compare them in full */
            swap = false;
            for (int i = 3; i >= 0; --i) {
                if (a[i] != b[i]) {
                    swap = a[i] < b[i];
                    break;
                }
            }
        } else {
            break; /* too close to call from the windows: apply what we have */
        }
        if (swap) {
            int64_t t = a_lo;
            a_lo = b_lo;
            b_lo = t;
            t = a_hi;
            a_hi = b_hi;
            b_hi = t;
            uint64_t tw = wa;
            wa = wb;
            wb = tw;
            t = u;
            u = q;
            q = t;
            t = v;
            v = r;
            r = t;
            sg ^= (unsigned)((wa & wb) >> 1); /* both 3 mod 4 */
        }
        a_lo -= b_hi;
        a_hi -= b_lo;
        wa -= wb;
        u -= q;
        v -= r;
    }
    m->u = u;
    m->v = v;
    m->q = q;
    m->r = r;
    *sign = sg;
    return k;
}

/* jac_apply: out = (x*a + y*b) / 2^k (exact), k in 1..JAC_BATCH; false if that is negative. */
static bool jac_apply(uint64_t out[4], const uint64_t a[4], const uint64_t b[4], int64_t x,
                      int64_t y, int k)
{
    uint64_t t[5];
    i128 c = 0;
    for (int i = 0; i < 4; ++i) {
        c += (i128)x * (i128)a[i];
        c += (i128)y * (i128)b[i];
        t[i] = (uint64_t)c;
        c >>= 64; /* arithmetic: the carry may be negative */
    }
    t[4] = (uint64_t)c;
    for (int i = 0; i < 4; ++i) {
        out[i] = (t[i] >> k) | (t[i + 1] << (64 - k));
    }
    return c >= 0;
}

/* jac_word finishes on values below 2^62 held exactly in words; returns the symbol. */
static int jac_word(uint64_t a, uint64_t b, unsigned sign)
{
    while (a != 0) {
        int z = __builtin_ctzll(a);
        a >>= z;
        sign ^= (unsigned)z & (unsigned)((b >> 1) ^ (b >> 2));
        /* (a, b) = a < b ? (b - a, a) : (a - b, b), without a branch: the comparison is a coin
         * flip that a branch predictor cannot learn */
        uint64_t m = (uint64_t)0 - (uint64_t)(a < b);
        sign ^= (unsigned)(m & ((a & b) >> 1));
        uint64_t d = a - b;
        b ^= (a ^ b) & m;
        a = (d ^ m) - m; /* |a - b| */
    }
    if (b != 1) {
        return 0;
    }
    return (sign & 1) != 0 ? -1 : 1;
}

/*
 * jacobi_p returns the Legendre symbol of |x| (canonical, < p): 1, -1 or 0; or 2 when it gave up
 * after JAC_MAX_BATCHES batches (the caller then uses Euler's criterion).
 */
static int jacobi_p(const uint64_t x[4])
{
    uint64_t a[4];
    uint64_t b[4];
    memcpy(a, x, sizeof(a));
    memcpy(b, p_words, sizeof(b));
    unsigned sign = 0;

    for (int nb = 0;; ++nb) {
        if ((a[1] | a[2] | a[3] | b[1] | b[2] | b[3]) == 0 && ((a[0] | b[0]) >> 62) == 0) {
            return jac_word(a[0], b[0], sign);
        }
        if ((a[0] | a[1] | a[2] | a[3]) == 0) {
            return 0; /* gcd(x, p) = b > 1: only for x = 0 */
        }
        if (nb == JAC_MAX_BATCHES) {
            return 2;
        }
        jac_mat m;
        unsigned sg = sign;
        uint64_t na[4];
        uint64_t nb4[4];
        int k = jac_batch_fast(a, b, &m, &sg);
        bool ok = jac_apply(na, a, b, m.u, m.v, k);
        ok &= jac_apply(nb4, a, b, m.q, m.r, k);
        if (!ok) {
            sg = sign;
            k = jac_batch(a, b, &m, &sg);
            jac_apply(na, a, b, m.u, m.v, k);
            jac_apply(nb4, a, b, m.q, m.r, k);
        }
        sign = sg;
        memcpy(a, na, sizeof(a));
        memcpy(b, nb4, sizeof(b));
    }
}

/* key_uv computes u*v = (y^2 - 1)(d*y^2 + 1) for the key's y. */
static void key_uv(fe *uv, const uint8_t key[GS_KEY_LEN])
{
    fe y;
    fe y2;
    fe u;
    fe v;

    fe_frombytes(&y, key);
    fe_sq(&y2, &y);
    fe_sub_small(&u, &y2, 1); /* y^2 - 1 */
    fe_mul(&v, &y2, &fe_d);
    fe_add_small(&v, &v, 1); /* d*y^2 + 1 */
    fe_mul(uv, &u, &v);
}

/* euler_symbol: f^((p-1)/2) is 0 (f = 0), 1 (square) or p - 1 (not a square); returns 0, 1, -1. */
static int euler_symbol(const fe *f)
{
    fe chi;
    uint64_t r[5];
    fe_pow_p12(&chi, f);
    fe_canonical(r, &chi);
    if ((r[1] | r[2] | r[3] | r[4]) == 0 && r[0] <= 1) {
        return (int)r[0];
    }
    return -1;
}

/* legendre returns the Legendre symbol of |f| mod p. */
static int legendre(const fe *f)
{
    uint64_t w[4];
    fe_to_words(w, f);
    int chi = jacobi_p(w);
    if (chi == 2) {
        chi = euler_symbol(f);
    }
    return chi;
}

bool gs_ed25519_key_is_valid(const uint8_t key[GS_KEY_LEN])
{
    fe uv;
    key_uv(&uv, key);
    return legendre(&uv) >= 0;
}

bool gs_ed25519_key_is_valid_euler(const uint8_t key[GS_KEY_LEN])
{
    fe uv;
    key_uv(&uv, key);
    return euler_symbol(&uv) >= 0;
}

int gs_ed25519_legendre(const uint8_t x[32])
{
    fe f;
    uint64_t w[4];
    fe_frombytes(&f, x);
    fe_to_words(w, &f);
    return jacobi_p(w);
}
