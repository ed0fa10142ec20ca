/* SPDX-License-Identifier: MIT */
/* gs_rand.c: xoshiro256** (Blackman and Vigna), seeded with splitmix64. */
#include "gs_rand.h"

#include <assert.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void gs_rand_seed(gs_rand *r, uint64_t seed)
{
    for (size_t i = 0; i < 4; ++i) {
        r->s[i] = splitmix64(&seed);
    }
}

uint64_t gs_rand_next(gs_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t gs_rand_below(gs_rand *r, uint64_t n)
{
    /* Rejection sampling: discard the top partial block of 2^64 so every residue is equally
     * likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;

    do {
        x = gs_rand_next(r);
    } while (x >= limit);
    return x % n;
}

void gs_rand_fork(gs_rand *parent, gs_rand *child)
{
    gs_rand_seed(child, gs_rand_next(parent));
}

void gs_rand_shuffle(gs_rand *r, void *base, size_t n, size_t size)
{
    unsigned char *p = base;
    unsigned char tmp[64];

    assert(size <= sizeof(tmp));
    if (n < 2) {
        return;
    }
    for (size_t i = n - 1; i > 0; --i) {
        size_t j = (size_t)gs_rand_below(r, (uint64_t)i + 1);
        if (j != i) {
            memcpy(tmp, p + i * size, size);
            memcpy(p + i * size, p + j * size, size);
            memcpy(p + j * size, tmp, size);
        }
    }
}
