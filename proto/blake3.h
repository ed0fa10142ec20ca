/* SPDX-License-Identifier: MIT */
/*
 * blake3.h: BLAKE3 in hash mode (no key, no derive-key), written from the BLAKE3 specification.
 * Message ids are BLAKE3-256(content).  The hasher is incremental: any split of the input gives
 * the same digest as one gs_blake3_hash call, and any output length (extendable output) works.
 */
#ifndef GS_PROTO_BLAKE3_H
#define GS_PROTO_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define GS_BLAKE3_OUT_LEN   32
#define GS_BLAKE3_BLOCK_LEN 64
#define GS_BLAKE3_CHUNK_LEN 1024
/* 2^54 chunks is the most BLAKE3 allows; the chaining-value stack needs one slot per level. */
#define GS_BLAKE3_MAX_DEPTH 54

typedef struct gs_blake3 {
    uint32_t key[8];
    /* current chunk */
    uint32_t cv[8];
    uint64_t chunk_counter;
    uint8_t block[GS_BLAKE3_BLOCK_LEN];
    uint8_t block_len;
    uint8_t blocks_compressed;
    uint8_t flags;
    /* subtree chaining values waiting to be merged */
    uint8_t cv_stack_len;
    uint32_t cv_stack[GS_BLAKE3_MAX_DEPTH + 1][8];
} gs_blake3;

/* gs_blake3_init prepares |h| for hashing (hash mode). */
void gs_blake3_init(gs_blake3 *h);

/* gs_blake3_update absorbs |len| bytes at |data|; may be called any number of times. */
void gs_blake3_update(gs_blake3 *h, const void *data, size_t len);

/*
 * gs_blake3_finalize writes |outlen| bytes of output to |out|.  It does not modify |h|, so it may
 * be called again (or more input added) afterwards.
 */
void gs_blake3_finalize(const gs_blake3 *h, uint8_t *out, size_t outlen);

/*
 * gs_blake3_hash writes BLAKE3-256(|data|, |len|) to |out|.  Faster than init/update/finalize for
 * one buffer: it skips the incremental state and hashes every complete chunk in SIMD batches.
 */
void gs_blake3_hash(const void *data, size_t len, uint8_t out[GS_BLAKE3_OUT_LEN]);

/*
 * gs_blake3_hash_many writes BLAKE3-256 of each of the |n| inputs (|inputs[i]|, |lens[i]| bytes)
 * to |out[i]|: the same digests as |n| gs_blake3_hash calls, but inputs of at most
 * GS_BLAKE3_CHUNK_LEN bytes are hashed 16 (AVX-512) or 8 (AVX2) at a time, one per SIMD lane,
 * which is what makes a batch of small messages (e.g. the Gossip ids of one receive turn)
 * cheaper to verify.
 */
void gs_blake3_hash_many(const uint8_t *const *inputs, const size_t *lens, size_t n,
                         uint8_t (*out)[GS_BLAKE3_OUT_LEN]);

/*
 * gs_blake3_set_simd_level selects the implementation: 0 portable C, 1 SSE4.1 (row-vector
 * compression, 4 chunks in parallel), 2 AVX2 (plus 8 chunks in parallel), 3 AVX-512F (plus 16
 * chunks in parallel); a negative level, or one the CPU lacks, selects the best the CPU has (the
 * default, detected at load time).  Meant for tests and benchmarks: call it before other threads
 * hash.  Returns the level now in effect (always 0 on non-x86-64 builds).
 */
int gs_blake3_set_simd_level(int level);

/* Single-block compression implementations (gs_blake3_set_single_impl). */
#define GS_BLAKE3_SINGLE_PORTABLE 0 /* portable C */
#define GS_BLAKE3_SINGLE_SSE41    1 /* SSE4.1 rows, message words inserted one by one */
#define GS_BLAKE3_SINGLE_AVX2     2 /* rows, message permuted in YMM registers */
#define GS_BLAKE3_SINGLE_AVX512   3 /* rows, message permuted in a ZMM register, vprord */
#define GS_BLAKE3_NSINGLE         4

/*
 * gs_blake3_set_single_impl selects the compression used for single blocks: every compression
 * of a message of at most one chunk (the Gossip sizes), of a partial chunk, of parents and of
 * output blocks.  By default (and for a negative |impl|, or one the CPU or the current SIMD level
 * lacks) the fastest is chosen by timing each candidate once (at load, and again on every
 * gs_blake3_set_simd_level call), since feature flags alone do not say which is faster.  Meant
 * for tests and benchmarks, like gs_blake3_set_simd_level.  Returns the GS_BLAKE3_SINGLE_*
 * implementation now in effect.
 */
int gs_blake3_set_single_impl(int impl);

/* gs_blake3_single_impl returns the GS_BLAKE3_SINGLE_* implementation in effect. */
int gs_blake3_single_impl(void);

#endif /* GS_PROTO_BLAKE3_H */
