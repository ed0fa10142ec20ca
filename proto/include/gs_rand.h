/* SPDX-License-Identifier: MIT */
/*
 * gs_rand.h: the deterministic PRNG every proto object owns (xoshiro256**, seeded through
 * splitmix64).  Callers seed it: main() from libsodium's randombytes_buf, tests with constants.
 * Topic RNGs derive from the node's with gs_rand_fork, so a node's behaviour is a pure function
 * of its seed and its inputs.
 */
#ifndef GS_PROTO_GS_RAND_H
#define GS_PROTO_GS_RAND_H

#include <stddef.h>
#include <stdint.h>

typedef struct gs_rand {
    uint64_t s[4];
} gs_rand;

/* gs_rand_seed initialises |r| from |seed| (any value, 0 included). */
void gs_rand_seed(gs_rand *r, uint64_t seed);

/* gs_rand_next returns the next 64 random bits. */
uint64_t gs_rand_next(gs_rand *r);

/* gs_rand_below returns a uniform value in [0, |n|) without modulo bias; |n| must be > 0. */
uint64_t gs_rand_below(gs_rand *r, uint64_t n);

/* gs_rand_fork seeds |child| from |parent|'s stream, advancing |parent|. */
void gs_rand_fork(gs_rand *parent, gs_rand *child);

/* gs_rand_shuffle permutes the |n| elements of |size| (at most 64) bytes at |base| uniformly. */
void gs_rand_shuffle(gs_rand *r, void *base, size_t n, size_t size);

#endif /* GS_PROTO_GS_RAND_H */
