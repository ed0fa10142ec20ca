/* SPDX-License-Identifier: MIT */
/*
 * blake3.c: BLAKE3 hash mode written from the BLAKE3 specification (section 2).
 *
 * The input is split into 1 KiB chunks; each chunk is a chain of up to 16 compressions of
 * 64-byte blocks; chunk chaining values are merged pairwise into a binary tree whose root
 * compression (ROOT flag) produces the output, as many 64-byte blocks as asked for (XOF).
 *
 * Invariants of gs_blake3:
 *   - the current chunk holds blocks_compressed * 64 + block_len bytes, and it is only completed
 *     when more input arrives, so the chunk (or the tree) still in the state can become the root;
 *   - cv_stack holds the chaining values of complete subtrees, one per set bit of chunk_counter
 *     (the number of completed chunks), smallest subtree on top.
 *
 * Speed: whole chunks that are known not to be the last are hashed in batches through
 * b3_hash_chunks, which has a portable path and (x86-64) SSE4.1 / AVX2 / AVX-512 paths hashing
 * 4 / 8 / 16 chunks in parallel, selected once at load time from CPUID.  Single compressions
 * (messages of one chunk or less: every Gossip id check) use the implementation that a timing
 * at load found fastest (b3_calibrate), portable or SIMD rows.
 */
#include "blake3.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#    define BLAKE3_X86 1
#    include <cpuid.h>
#    include <immintrin.h>
#    include <x86intrin.h>
#else
#    define BLAKE3_X86 0
#endif

enum {
    B3_CHUNK_START = 1u << 0,
    B3_CHUNK_END = 1u << 1,
    B3_PARENT = 1u << 2,
    B3_ROOT = 1u << 3,
};

#define B3_BLOCKS_PER_CHUNK (GS_BLAKE3_CHUNK_LEN / GS_BLAKE3_BLOCK_LEN)
/* The most chunks hashed in one batch call (AVX-512 does 16 per pass). */
#define B3_MAX_PAR 32

static const uint32_t b3_iv[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                  0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

/* Message word order for each of the 7 rounds (the permutation applied r times). */
static const uint8_t b3_sched[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t rotr32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static inline void b3_g(uint32_t *v, int a, int b, int c, int d, uint32_t x, uint32_t y)
{
    v[a] = v[a] + v[b] + x;
    v[d] = rotr32(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + y;
    v[d] = rotr32(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 7);
}

/*
 * B3_ROUND is one round with the message schedule of round |r|; with |r| a constant every index
 * below is a constant, so the state and message stay in registers (no schedule lookups).
 */
#define B3_ROUND(v, m, r)                                                                          \
    do {                                                                                           \
        b3_g((v), 0, 4, 8, 12, (m)[b3_sched[(r)][0]], (m)[b3_sched[(r)][1]]);                      \
        b3_g((v), 1, 5, 9, 13, (m)[b3_sched[(r)][2]], (m)[b3_sched[(r)][3]]);                      \
        b3_g((v), 2, 6, 10, 14, (m)[b3_sched[(r)][4]], (m)[b3_sched[(r)][5]]);                     \
        b3_g((v), 3, 7, 11, 15, (m)[b3_sched[(r)][6]], (m)[b3_sched[(r)][7]]);                     \
        b3_g((v), 0, 5, 10, 15, (m)[b3_sched[(r)][8]], (m)[b3_sched[(r)][9]]);                     \
        b3_g((v), 1, 6, 11, 12, (m)[b3_sched[(r)][10]], (m)[b3_sched[(r)][11]]);                   \
        b3_g((v), 2, 7, 8, 13, (m)[b3_sched[(r)][12]], (m)[b3_sched[(r)][13]]);                    \
        b3_g((v), 3, 4, 9, 14, (m)[b3_sched[(r)][14]], (m)[b3_sched[(r)][15]]);                    \
    } while (0)

/* b3_rounds runs the 7 rounds on the 16-word state |v| with message words |m|. */
static inline void b3_rounds(uint32_t v[16], const uint32_t m[16])
{
    B3_ROUND(v, m, 0);
    B3_ROUND(v, m, 1);
    B3_ROUND(v, m, 2);
    B3_ROUND(v, m, 3);
    B3_ROUND(v, m, 4);
    B3_ROUND(v, m, 5);
    B3_ROUND(v, m, 6);
}

static inline void b3_state_init(uint32_t v[16], const uint32_t cv[8], uint64_t counter,
                                 uint32_t block_len, uint32_t flags)
{
    for (int i = 0; i < 8; ++i) {
        v[i] = cv[i];
    }
    v[8] = b3_iv[0];
    v[9] = b3_iv[1];
    v[10] = b3_iv[2];
    v[11] = b3_iv[3];
    v[12] = (uint32_t)counter;
    v[13] = (uint32_t)(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
}

static inline void b3_load_block(uint32_t m[16], const uint8_t block[GS_BLAKE3_BLOCK_LEN])
{
    for (int i = 0; i < 16; ++i) {
        m[i] = load32(block + 4 * (size_t)i);
    }
}

/* b3_compress_cv_portable replaces |cv| with the chaining value of compressing |block|. */
static void b3_compress_cv_portable(uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                    uint32_t block_len, uint64_t counter, uint32_t flags)
{
    uint32_t m[16];
    uint32_t v[16];

    b3_load_block(m, block);
    b3_state_init(v, cv, counter, block_len, flags);
    b3_rounds(v, m);
    for (int i = 0; i < 8; ++i) {
        cv[i] = v[i] ^ v[i + 8];
    }
}

/* b3_compress_xof_portable writes the full 64-byte compression output (an output block). */
static void b3_compress_xof_portable(const uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                     uint32_t block_len, uint64_t counter, uint32_t flags,
                                     uint8_t out[GS_BLAKE3_BLOCK_LEN])
{
    uint32_t m[16];
    uint32_t v[16];

    b3_load_block(m, block);
    b3_state_init(v, cv, counter, block_len, flags);
    b3_rounds(v, m);
    for (int i = 0; i < 8; ++i) {
        store32(out + 4 * (size_t)i, v[i] ^ v[i + 8]);
        store32(out + 32 + 4 * (size_t)i, v[i + 8] ^ cv[i]);
    }
}

#if BLAKE3_X86
/*
 * SIMD paths: the "transposed" layout, one chunk per 32-bit lane.  Word i of the 16-word state
 * of all lanes lives in one vector v[i]; message word j of block b of every chunk is gathered
 * into m[j] by a 4x4 (or 8x8) transpose of the lanes' block bytes.
 */
#    define B3_TARGET_SSE41 __attribute__((target("sse4.1")))
#    define B3_TARGET_AVX2  __attribute__((target("avx2")))

/* Unaligned loads and stores through void pointers (the data has no SIMD alignment). */
B3_TARGET_SSE41 static inline __m128i sse_loadu(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

B3_TARGET_SSE41 static inline void sse_storeu(void *p, __m128i x)
{
    _mm_storeu_si128((__m128i *)p, x);
}

B3_TARGET_AVX2 static inline __m256i avx_loadu(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

B3_TARGET_AVX2 static inline void avx_storeu(void *p, __m256i x)
{
    _mm256_storeu_si256((__m256i *)p, x);
}

B3_TARGET_SSE41 static inline __m128i sse_rot16(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}

B3_TARGET_SSE41 static inline __m128i sse_rot8(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}

B3_TARGET_SSE41 static inline __m128i sse_rot12(__m128i x)
{
    return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20));
}

B3_TARGET_SSE41 static inline __m128i sse_rot7(__m128i x)
{
    return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25));
}

#    define SSE_G(a, b, c, d, x, y)                                                                \
        do {                                                                                       \
            v[a] = _mm_add_epi32(_mm_add_epi32(v[a], v[b]), (x));                                  \
            v[d] = sse_rot16(_mm_xor_si128(v[d], v[a]));                                           \
            v[c] = _mm_add_epi32(v[c], v[d]);                                                      \
            v[b] = sse_rot12(_mm_xor_si128(v[b], v[c]));                                           \
            v[a] = _mm_add_epi32(_mm_add_epi32(v[a], v[b]), (y));                                  \
            v[d] = sse_rot8(_mm_xor_si128(v[d], v[a]));                                            \
            v[c] = _mm_add_epi32(v[c], v[d]);                                                      \
            v[b] = sse_rot7(_mm_xor_si128(v[b], v[c]));                                            \
        } while (0)

B3_TARGET_SSE41 static inline void sse_transpose4(__m128i *a, __m128i *b, __m128i *c, __m128i *d)
{
    __m128i ab_lo = _mm_unpacklo_epi32(*a, *b);
    __m128i ab_hi = _mm_unpackhi_epi32(*a, *b);
    __m128i cd_lo = _mm_unpacklo_epi32(*c, *d);
    __m128i cd_hi = _mm_unpackhi_epi32(*c, *d);
    *a = _mm_unpacklo_epi64(ab_lo, cd_lo);
    *b = _mm_unpackhi_epi64(ab_lo, cd_lo);
    *c = _mm_unpacklo_epi64(ab_hi, cd_hi);
    *d = _mm_unpackhi_epi64(ab_hi, cd_hi);
}

/*
 * sse_hash4 hashes the 4 chunks at |lanes| with counters counter..counter+3.  A padding lane may
 * repeat another lane's pointer; its result is ignored by the caller.
 */
B3_TARGET_SSE41 static void sse_hash4(const uint8_t *const lanes[4], uint64_t counter,
                                      uint32_t out[][8])
{
    __m128i h[8];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm_set1_epi32((int)b3_iv[i]);
    }
    __m128i ctr_lo = _mm_set_epi32((int)(uint32_t)(counter + 3), (int)(uint32_t)(counter + 2),
                                   (int)(uint32_t)(counter + 1), (int)(uint32_t)counter);
    __m128i ctr_hi =
        _mm_set_epi32((int)(uint32_t)((counter + 3) >> 32), (int)(uint32_t)((counter + 2) >> 32),
                      (int)(uint32_t)((counter + 1) >> 32), (int)(uint32_t)(counter >> 32));
    for (unsigned b = 0; b < B3_BLOCKS_PER_CHUNK; ++b) {
        __m128i m[16];
        size_t boff = (size_t)b * GS_BLAKE3_BLOCK_LEN;
        /* m[4q + k] gets word 4q + k of the 4 lanes' blocks. */
        for (int q = 0; q < 4; ++q) {
            m[4 * q + 0] = sse_loadu(lanes[0] + boff + 16 * (size_t)q);
            m[4 * q + 1] = sse_loadu(lanes[1] + boff + 16 * (size_t)q);
            m[4 * q + 2] = sse_loadu(lanes[2] + boff + 16 * (size_t)q);
            m[4 * q + 3] = sse_loadu(lanes[3] + boff + 16 * (size_t)q);
            sse_transpose4(&m[4 * q + 0], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
        }
        uint32_t flags = 0;
        if (b == 0) {
            flags |= B3_CHUNK_START;
        }
        if (b == B3_BLOCKS_PER_CHUNK - 1) {
            flags |= B3_CHUNK_END;
        }
        __m128i v[16];
        for (int i = 0; i < 8; ++i) {
            v[i] = h[i];
        }
        v[8] = _mm_set1_epi32((int)b3_iv[0]);
        v[9] = _mm_set1_epi32((int)b3_iv[1]);
        v[10] = _mm_set1_epi32((int)b3_iv[2]);
        v[11] = _mm_set1_epi32((int)b3_iv[3]);
        v[12] = ctr_lo;
        v[13] = ctr_hi;
        v[14] = _mm_set1_epi32(GS_BLAKE3_BLOCK_LEN);
        v[15] = _mm_set1_epi32((int)flags);
#    pragma GCC unroll 7
        for (int r = 0; r < 7; ++r) {
            const uint8_t *s = b3_sched[r];
            SSE_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
            SSE_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
            SSE_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
            SSE_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
            SSE_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
            SSE_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
            SSE_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
            SSE_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for (int i = 0; i < 8; ++i) {
            h[i] = _mm_xor_si128(v[i], v[i + 8]);
        }
    }
    /* Transpose back: lane j of h[0..7] is chunk j's chaining value. */
    sse_transpose4(&h[0], &h[1], &h[2], &h[3]);
    sse_transpose4(&h[4], &h[5], &h[6], &h[7]);
    for (int j = 0; j < 4; ++j) {
        sse_storeu(&out[j][0], h[j]);
        sse_storeu(&out[j][4], h[4 + j]);
    }
}

/*
 * sse_parents4 / avx_parents8 compute 4 / 8 parent chaining values at once: lane j compresses
 * the 64-byte block at |lanes[j]| (a left and a right chaining value, little-endian words, as
 * they lie in a uint32_t[2][8] on x86) with the PARENT flag, counter 0.
 */
B3_TARGET_SSE41 static void sse_parents4(const uint8_t *const lanes[4], uint32_t out[][8])
{
    __m128i m[16];
    __m128i v[16];
    for (int q = 0; q < 4; ++q) {
        m[4 * q + 0] = sse_loadu(lanes[0] + 16 * (size_t)q);
        m[4 * q + 1] = sse_loadu(lanes[1] + 16 * (size_t)q);
        m[4 * q + 2] = sse_loadu(lanes[2] + 16 * (size_t)q);
        m[4 * q + 3] = sse_loadu(lanes[3] + 16 * (size_t)q);
        sse_transpose4(&m[4 * q + 0], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
    }
    for (int i = 0; i < 8; ++i) {
        v[i] = _mm_set1_epi32((int)b3_iv[i]);
    }
    for (int i = 0; i < 4; ++i) {
        v[8 + i] = _mm_set1_epi32((int)b3_iv[i]);
    }
    v[12] = _mm_setzero_si128();
    v[13] = _mm_setzero_si128();
    v[14] = _mm_set1_epi32(GS_BLAKE3_BLOCK_LEN);
    v[15] = _mm_set1_epi32((int)B3_PARENT);
#    pragma GCC unroll 7
    for (int r = 0; r < 7; ++r) {
        const uint8_t *s = b3_sched[r];
        SSE_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        SSE_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        SSE_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        SSE_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        SSE_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        SSE_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        SSE_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        SSE_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    __m128i h[8];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm_xor_si128(v[i], v[i + 8]);
    }
    sse_transpose4(&h[0], &h[1], &h[2], &h[3]);
    sse_transpose4(&h[4], &h[5], &h[6], &h[7]);
    for (int j = 0; j < 4; ++j) {
        sse_storeu(&out[j][0], h[j]);
        sse_storeu(&out[j][4], h[4 + j]);
    }
}

/*
 * sse_compress runs one compression with the state in 4 row vectors: the column step works on
 * the rows as they are, the diagonal step after rotating rows 1..3 by 1..3 lanes.  On return
 * |rows| holds the final state (v0..v15).
 */
B3_TARGET_SSE41 static inline void sse_compress(__m128i rows[4], const uint32_t cv[8],
                                                const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                                uint32_t block_len, uint64_t counter,
                                                uint32_t flags)
{
    uint32_t m[16];
    b3_load_block(m, block);
    __m128i r0 = sse_loadu(cv);
    __m128i r1 = sse_loadu(cv + 4);
    __m128i r2 = _mm_set_epi32((int)b3_iv[3], (int)b3_iv[2], (int)b3_iv[1], (int)b3_iv[0]);
    __m128i r3 = _mm_set_epi32((int)flags, (int)block_len, (int)(uint32_t)(counter >> 32),
                               (int)(uint32_t)counter);
#    define SSE_G4(x, y)                                                                           \
        do {                                                                                       \
            r0 = _mm_add_epi32(_mm_add_epi32(r0, r1), (x));                                        \
            r3 = sse_rot16(_mm_xor_si128(r3, r0));                                                 \
            r2 = _mm_add_epi32(r2, r3);                                                            \
            r1 = sse_rot12(_mm_xor_si128(r1, r2));                                                 \
            r0 = _mm_add_epi32(_mm_add_epi32(r0, r1), (y));                                        \
            r3 = sse_rot8(_mm_xor_si128(r3, r0));                                                  \
            r2 = _mm_add_epi32(r2, r3);                                                            \
            r1 = sse_rot7(_mm_xor_si128(r1, r2));                                                  \
        } while (0)
#    define SSE_ROUND(r)                                                                           \
        do {                                                                                       \
            const uint8_t *s_ = b3_sched[r];                                                       \
            SSE_G4(_mm_set_epi32((int)m[s_[6]], (int)m[s_[4]], (int)m[s_[2]], (int)m[s_[0]]),      \
                   _mm_set_epi32((int)m[s_[7]], (int)m[s_[5]], (int)m[s_[3]], (int)m[s_[1]]));     \
            r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(0, 3, 2, 1));                                   \
            r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));                                   \
            r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(2, 1, 0, 3));                                   \
            SSE_G4(_mm_set_epi32((int)m[s_[14]], (int)m[s_[12]], (int)m[s_[10]], (int)m[s_[8]]),   \
                   _mm_set_epi32((int)m[s_[15]], (int)m[s_[13]], (int)m[s_[11]], (int)m[s_[9]]));  \
            r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(2, 1, 0, 3));                                   \
            r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));                                   \
            r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(0, 3, 2, 1));                                   \
        } while (0)
    SSE_ROUND(0);
    SSE_ROUND(1);
    SSE_ROUND(2);
    SSE_ROUND(3);
    SSE_ROUND(4);
    SSE_ROUND(5);
    SSE_ROUND(6);
#    undef SSE_ROUND
#    undef SSE_G4
    rows[0] = r0;
    rows[1] = r1;
    rows[2] = r2;
    rows[3] = r3;
}

B3_TARGET_SSE41 static void sse_compress_cv(uint32_t cv[8],
                                            const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                            uint32_t block_len, uint64_t counter, uint32_t flags)
{
    __m128i rows[4];
    sse_compress(rows, cv, block, block_len, counter, flags);
    sse_storeu(cv, _mm_xor_si128(rows[0], rows[2]));
    sse_storeu(cv + 4, _mm_xor_si128(rows[1], rows[3]));
}

B3_TARGET_SSE41 static void sse_compress_xof(const uint32_t cv[8],
                                             const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                             uint32_t block_len, uint64_t counter, uint32_t flags,
                                             uint8_t out[GS_BLAKE3_BLOCK_LEN])
{
    __m128i rows[4];
    sse_compress(rows, cv, block, block_len, counter, flags);
    sse_storeu(out, _mm_xor_si128(rows[0], rows[2]));
    sse_storeu(out + 16, _mm_xor_si128(rows[1], rows[3]));
    sse_storeu(out + 32, _mm_xor_si128(rows[2], sse_loadu(cv)));
    sse_storeu(out + 48, _mm_xor_si128(rows[3], sse_loadu(cv + 4)));
}

B3_TARGET_AVX2 static inline __m256i avx_rot16(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3,
                                                  2, 13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0,
                                                  3, 2));
}

B3_TARGET_AVX2 static inline __m256i avx_rot8(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2,
                                                  1, 12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3,
                                                  2, 1));
}

B3_TARGET_AVX2 static inline __m256i avx_rot12(__m256i x)
{
    return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
}

B3_TARGET_AVX2 static inline __m256i avx_rot7(__m256i x)
{
    return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25));
}

#    define AVX_G(a, b, c, d, x, y)                                                                \
        do {                                                                                       \
            v[a] = _mm256_add_epi32(_mm256_add_epi32(v[a], v[b]), (x));                            \
            v[d] = avx_rot16(_mm256_xor_si256(v[d], v[a]));                                        \
            v[c] = _mm256_add_epi32(v[c], v[d]);                                                   \
            v[b] = avx_rot12(_mm256_xor_si256(v[b], v[c]));                                        \
            v[a] = _mm256_add_epi32(_mm256_add_epi32(v[a], v[b]), (y));                            \
            v[d] = avx_rot8(_mm256_xor_si256(v[d], v[a]));                                         \
            v[c] = _mm256_add_epi32(v[c], v[d]);                                                   \
            v[b] = avx_rot7(_mm256_xor_si256(v[b], v[c]));                                         \
        } while (0)

/* avx_transpose8 transposes the 8x8 matrix of 32-bit words held in |r[0..7]|. */
B3_TARGET_AVX2 static inline void avx_transpose8(__m256i r[8])
{
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    __m256i t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    __m256i t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    __m256i t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    __m256i t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
    __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
    __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
    __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
    __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* avx_hash8 hashes the 8 chunks at |lanes| with counters counter..counter+7 (see sse_hash4). */
B3_TARGET_AVX2 static void avx_hash8(const uint8_t *const lanes[8], uint64_t counter,
                                     uint32_t out[][8])
{
    __m256i h[8];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm256_set1_epi32((int)b3_iv[i]);
    }
    uint32_t lo[8];
    uint32_t hi[8];
    for (int j = 0; j < 8; ++j) {
        lo[j] = (uint32_t)(counter + (uint64_t)j);
        hi[j] = (uint32_t)((counter + (uint64_t)j) >> 32);
    }
    __m256i ctr_lo = avx_loadu(lo);
    __m256i ctr_hi = avx_loadu(hi);
    for (unsigned b = 0; b < B3_BLOCKS_PER_CHUNK; ++b) {
        __m256i m[16];
        size_t boff = (size_t)b * GS_BLAKE3_BLOCK_LEN;
        /* m[8h + k]: word 8h + k of the 8 lanes' blocks (h = 0, 1 is the half block). */
        for (int half = 0; half < 2; ++half) {
            for (int j = 0; j < 8; ++j) {
                m[8 * half + j] = avx_loadu(lanes[j] + boff + 32 * (size_t)half);
            }
            avx_transpose8(&m[8 * (size_t)half]);
        }
        /* as in z_hash16: prefetch 4 blocks ahead within the chunk */
        for (int j = 0; b + 4 < B3_BLOCKS_PER_CHUNK && j < 8; ++j) {
            _mm_prefetch((const char *)(lanes[j] + boff + (size_t)4 * GS_BLAKE3_BLOCK_LEN),
                         _MM_HINT_T0);
        }
        uint32_t flags = 0;
        if (b == 0) {
            flags |= B3_CHUNK_START;
        }
        if (b == B3_BLOCKS_PER_CHUNK - 1) {
            flags |= B3_CHUNK_END;
        }
        __m256i v[16];
        for (int i = 0; i < 8; ++i) {
            v[i] = h[i];
        }
        v[8] = _mm256_set1_epi32((int)b3_iv[0]);
        v[9] = _mm256_set1_epi32((int)b3_iv[1]);
        v[10] = _mm256_set1_epi32((int)b3_iv[2]);
        v[11] = _mm256_set1_epi32((int)b3_iv[3]);
        v[12] = ctr_lo;
        v[13] = ctr_hi;
        v[14] = _mm256_set1_epi32(GS_BLAKE3_BLOCK_LEN);
        v[15] = _mm256_set1_epi32((int)flags);
#    pragma GCC unroll 7
        for (int r = 0; r < 7; ++r) {
            const uint8_t *s = b3_sched[r];
            AVX_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
            AVX_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
            AVX_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
            AVX_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
            AVX_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
            AVX_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
            AVX_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
            AVX_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for (int i = 0; i < 8; ++i) {
            h[i] = _mm256_xor_si256(v[i], v[i + 8]);
        }
    }
    avx_transpose8(h);
    for (int j = 0; j < 8; ++j) {
        avx_storeu(&out[j][0], h[j]);
    }
}

/*
 * AVX-512: 16 chunks per pass, same transposed layout; rotations are single instructions.
 * b3_transpose16 turns 16 rows of 16 words into 16 columns: 32-bit and 64-bit unpacks build 4x4
 * word blocks inside each 128-bit lane, then two rounds of 128-bit shuffles move the blocks.
 */
#    define B3_TARGET_AVX512 __attribute__((target("avx512f")))

B3_TARGET_AVX512 static inline __m512i z_loadu(const void *p)
{
    return _mm512_loadu_si512(p);
}

B3_TARGET_AVX512 static void z_transpose16(__m512i r[16])
{
    __m512i c[4][4];
    for (int q = 0; q < 4; ++q) {
        __m512i a0 = _mm512_unpacklo_epi32(r[4 * (size_t)q], r[4 * q + 1]);
        __m512i b0 = _mm512_unpackhi_epi32(r[4 * (size_t)q], r[4 * q + 1]);
        __m512i a1 = _mm512_unpacklo_epi32(r[4 * q + 2], r[4 * q + 3]);
        __m512i b1 = _mm512_unpackhi_epi32(r[4 * q + 2], r[4 * q + 3]);
        /* c[q][w], 128-bit block k: word 4k + w of rows 4q .. 4q+3 */
        c[q][0] = _mm512_unpacklo_epi64(a0, a1);
        c[q][1] = _mm512_unpackhi_epi64(a0, a1);
        c[q][2] = _mm512_unpacklo_epi64(b0, b1);
        c[q][3] = _mm512_unpackhi_epi64(b0, b1);
    }
    for (int w = 0; w < 4; ++w) {
        __m512i d0 = _mm512_shuffle_i32x4(c[0][w], c[1][w], 0x88); /* blocks 0, 2 of each */
        __m512i d1 = _mm512_shuffle_i32x4(c[0][w], c[1][w], 0xdd); /* blocks 1, 3 of each */
        __m512i d2 = _mm512_shuffle_i32x4(c[2][w], c[3][w], 0x88);
        __m512i d3 = _mm512_shuffle_i32x4(c[2][w], c[3][w], 0xdd);
        r[w] = _mm512_shuffle_i32x4(d0, d2, 0x88);      /* block 0 of c[0..3][w] */
        r[8 + w] = _mm512_shuffle_i32x4(d0, d2, 0xdd);  /* block 2 */
        r[4 + w] = _mm512_shuffle_i32x4(d1, d3, 0x88);  /* block 1 */
        r[12 + w] = _mm512_shuffle_i32x4(d1, d3, 0xdd); /* block 3 */
    }
}

#    define Z_G(a, b, c, d, x, y)                                                                  \
        do {                                                                                       \
            v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), (x));                            \
            v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 16);                             \
            v[c] = _mm512_add_epi32(v[c], v[d]);                                                   \
            v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 12);                             \
            v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), (y));                            \
            v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 8);                              \
            v[c] = _mm512_add_epi32(v[c], v[d]);                                                   \
            v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 7);                              \
        } while (0)

/* z_hash16 hashes the 16 chunks at |lanes| with counters counter..counter+15 (see sse_hash4). */
B3_TARGET_AVX512 static void z_hash16(const uint8_t *const lanes[16], uint64_t counter,
                                      uint32_t out[][8])
{
    __m512i h[16];
    uint32_t lo[16];
    uint32_t hi[16];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm512_set1_epi32((int)b3_iv[i]);
    }
    for (int j = 0; j < 16; ++j) {
        lo[j] = (uint32_t)(counter + (uint64_t)j);
        hi[j] = (uint32_t)((counter + (uint64_t)j) >> 32);
    }
    __m512i ctr_lo = z_loadu(lo);
    __m512i ctr_hi = z_loadu(hi);
    for (unsigned b = 0; b < B3_BLOCKS_PER_CHUNK; ++b) {
        __m512i m[16];
        size_t boff = (size_t)b * GS_BLAKE3_BLOCK_LEN;
        for (int j = 0; j < 16; ++j) {
            m[j] = z_loadu(lanes[j] + boff);
        }
        /* 16 interleaved streams outrun the hardware prefetcher: ask for the data 4 blocks
         * ahead (within the chunk, so the address stays inside the input) */
        for (int j = 0; b + 4 < B3_BLOCKS_PER_CHUNK && j < 16; ++j) {
            _mm_prefetch((const char *)(lanes[j] + boff + (size_t)4 * GS_BLAKE3_BLOCK_LEN),
                         _MM_HINT_T0);
        }
        z_transpose16(m);
        uint32_t flags = 0;
        if (b == 0) {
            flags |= B3_CHUNK_START;
        }
        if (b == B3_BLOCKS_PER_CHUNK - 1) {
            flags |= B3_CHUNK_END;
        }
        __m512i v[16];
        for (int i = 0; i < 8; ++i) {
            v[i] = h[i];
        }
        v[8] = _mm512_set1_epi32((int)b3_iv[0]);
        v[9] = _mm512_set1_epi32((int)b3_iv[1]);
        v[10] = _mm512_set1_epi32((int)b3_iv[2]);
        v[11] = _mm512_set1_epi32((int)b3_iv[3]);
        v[12] = ctr_lo;
        v[13] = ctr_hi;
        v[14] = _mm512_set1_epi32(GS_BLAKE3_BLOCK_LEN);
        v[15] = _mm512_set1_epi32((int)flags);
#    pragma GCC unroll 7
        for (int r = 0; r < 7; ++r) {
            const uint8_t *s = b3_sched[r];
            Z_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
            Z_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
            Z_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
            Z_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
            Z_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
            Z_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
            Z_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
            Z_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for (int i = 0; i < 8; ++i) {
            h[i] = _mm512_xor_si512(v[i], v[i + 8]);
        }
    }
    /* rows 8..15 are padding: column j of the transpose is chunk j's chaining value */
    for (int i = 8; i < 16; ++i) {
        h[i] = _mm512_setzero_si512();
    }
    z_transpose16(h);
    for (int j = 0; j < 16; ++j) {
        avx_storeu(&out[j][0], _mm512_castsi512_si256(h[j]));
    }
}

B3_TARGET_AVX2 static void avx_parents8(const uint8_t *const lanes[8], uint32_t out[][8])
{
    __m256i m[16];
    __m256i v[16];
    for (int half = 0; half < 2; ++half) {
        for (int j = 0; j < 8; ++j) {
            m[8 * half + j] = avx_loadu(lanes[j] + 32 * (size_t)half);
        }
        avx_transpose8(&m[8 * (size_t)half]);
    }
    for (int i = 0; i < 8; ++i) {
        v[i] = _mm256_set1_epi32((int)b3_iv[i]);
    }
    for (int i = 0; i < 4; ++i) {
        v[8 + i] = _mm256_set1_epi32((int)b3_iv[i]);
    }
    v[12] = _mm256_setzero_si256();
    v[13] = _mm256_setzero_si256();
    v[14] = _mm256_set1_epi32(GS_BLAKE3_BLOCK_LEN);
    v[15] = _mm256_set1_epi32((int)B3_PARENT);
#    pragma GCC unroll 7
    for (int r = 0; r < 7; ++r) {
        const uint8_t *s = b3_sched[r];
        AVX_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        AVX_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        AVX_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        AVX_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        AVX_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        AVX_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        AVX_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        AVX_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    __m256i h[8];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm256_xor_si256(v[i], v[i + 8]);
    }
    avx_transpose8(h);
    for (int j = 0; j < 8; ++j) {
        avx_storeu(&out[j][0], h[j]);
    }
}

/*
 * avx_hash_small8 hashes 8 independent inputs of at most one chunk each, one per lane: lane j
 * runs its own block count with its own flags and block lengths; a lane that has finished keeps
 * its chaining value (blend) while the others go on.  The final compression of each lane carries
 * ROOT with counter 0, so its chaining value is the 32-byte digest.
 */
B3_TARGET_AVX2 static void avx_hash_small8(const uint8_t *const in[8], const size_t len[8],
                                           uint8_t (*out)[GS_BLAKE3_OUT_LEN])
{
    uint8_t last[8][GS_BLAKE3_BLOCK_LEN];
    size_t nblocks[8];
    size_t maxb = 1;
    for (int j = 0; j < 8; ++j) {
        nblocks[j] = len[j] == 0 ? 1 : (len[j] + GS_BLAKE3_BLOCK_LEN - 1) / GS_BLAKE3_BLOCK_LEN;
        size_t tail = len[j] - (nblocks[j] - 1) * GS_BLAKE3_BLOCK_LEN;
        memset(last[j], 0, sizeof(last[j]));
        if (tail > 0) {
            memcpy(last[j], in[j] + (nblocks[j] - 1) * GS_BLAKE3_BLOCK_LEN, tail);
        }
        if (nblocks[j] > maxb) {
            maxb = nblocks[j];
        }
    }
    __m256i h[8];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm256_set1_epi32((int)b3_iv[i]);
    }
    for (size_t b = 0; b < maxb; ++b) {
        uint32_t blen[8];
        uint32_t flags[8];
        uint32_t active[8];
        const uint8_t *blk[8];
        for (int j = 0; j < 8; ++j) {
            bool is_last = b + 1 == nblocks[j];
            active[j] = b < nblocks[j] ? UINT32_MAX : 0;
            blk[j] = b + 1 < nblocks[j] ? in[j] + b * GS_BLAKE3_BLOCK_LEN : last[j];
            blen[j] = is_last ? (uint32_t)(len[j] - b * GS_BLAKE3_BLOCK_LEN) : GS_BLAKE3_BLOCK_LEN;
            flags[j] = (b == 0 ? B3_CHUNK_START : 0) | (is_last ? B3_CHUNK_END | B3_ROOT : 0);
        }
        __m256i m[16];
        for (int half = 0; half < 2; ++half) {
            for (int j = 0; j < 8; ++j) {
                m[8 * half + j] = avx_loadu(blk[j] + 32 * (size_t)half);
            }
            avx_transpose8(&m[8 * (size_t)half]);
        }
        __m256i v[16];
        for (int i = 0; i < 8; ++i) {
            v[i] = h[i];
        }
        v[8] = _mm256_set1_epi32((int)b3_iv[0]);
        v[9] = _mm256_set1_epi32((int)b3_iv[1]);
        v[10] = _mm256_set1_epi32((int)b3_iv[2]);
        v[11] = _mm256_set1_epi32((int)b3_iv[3]);
        v[12] = _mm256_setzero_si256();
        v[13] = _mm256_setzero_si256();
        v[14] = avx_loadu(blen);
        v[15] = avx_loadu(flags);
#    pragma GCC unroll 7
        for (int r = 0; r < 7; ++r) {
            const uint8_t *s = b3_sched[r];
            AVX_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
            AVX_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
            AVX_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
            AVX_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
            AVX_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
            AVX_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
            AVX_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
            AVX_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        __m256i act = avx_loadu(active);
        for (int i = 0; i < 8; ++i) {
            h[i] = _mm256_blendv_epi8(h[i], _mm256_xor_si256(v[i], v[i + 8]), act);
        }
    }
    avx_transpose8(h);
    for (int j = 0; j < 8; ++j) {
        avx_storeu(out[j], h[j]);
    }
}

/*
 * z_hash_small16 is avx_hash_small8 with 16 lanes (AVX-512): finished lanes keep their chaining
 * value through a mask instead of a blend.
 */
B3_TARGET_AVX512 static void z_hash_small16(const uint8_t *const in[16], const size_t len[16],
                                            uint8_t (*out)[GS_BLAKE3_OUT_LEN])
{
    uint8_t last[16][GS_BLAKE3_BLOCK_LEN];
    size_t nblocks[16];
    size_t maxb = 1;
    for (int j = 0; j < 16; ++j) {
        nblocks[j] = len[j] == 0 ? 1 : (len[j] + GS_BLAKE3_BLOCK_LEN - 1) / GS_BLAKE3_BLOCK_LEN;
        size_t tail = len[j] - (nblocks[j] - 1) * GS_BLAKE3_BLOCK_LEN;
        memset(last[j], 0, sizeof(last[j]));
        if (tail > 0) {
            memcpy(last[j], in[j] + (nblocks[j] - 1) * GS_BLAKE3_BLOCK_LEN, tail);
        }
        if (nblocks[j] > maxb) {
            maxb = nblocks[j];
        }
    }
    __m512i h[16];
    for (int i = 0; i < 8; ++i) {
        h[i] = _mm512_set1_epi32((int)b3_iv[i]);
    }
    for (size_t b = 0; b < maxb; ++b) {
        uint32_t blen[16];
        uint32_t flags[16];
        __mmask16 active = 0;
        __m512i m[16];
        for (int j = 0; j < 16; ++j) {
            bool is_last = b + 1 == nblocks[j];
            if (b < nblocks[j]) {
                active |= (__mmask16)(1u << j);
            }
            m[j] = z_loadu(b + 1 < nblocks[j] ? in[j] + b * GS_BLAKE3_BLOCK_LEN : last[j]);
            blen[j] = is_last ? (uint32_t)(len[j] - b * GS_BLAKE3_BLOCK_LEN) : GS_BLAKE3_BLOCK_LEN;
            flags[j] = (b == 0 ? B3_CHUNK_START : 0) | (is_last ? B3_CHUNK_END | B3_ROOT : 0);
        }
        z_transpose16(m);
        __m512i v[16];
        for (int i = 0; i < 8; ++i) {
            v[i] = h[i];
        }
        v[8] = _mm512_set1_epi32((int)b3_iv[0]);
        v[9] = _mm512_set1_epi32((int)b3_iv[1]);
        v[10] = _mm512_set1_epi32((int)b3_iv[2]);
        v[11] = _mm512_set1_epi32((int)b3_iv[3]);
        v[12] = _mm512_setzero_si512();
        v[13] = _mm512_setzero_si512();
        v[14] = z_loadu(blen);
        v[15] = z_loadu(flags);
#    pragma GCC unroll 7
        for (int r = 0; r < 7; ++r) {
            const uint8_t *s = b3_sched[r];
            Z_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
            Z_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
            Z_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
            Z_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
            Z_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
            Z_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
            Z_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
            Z_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for (int i = 0; i < 8; ++i) {
            h[i] = _mm512_mask_xor_epi32(h[i], active, v[i], v[i + 8]);
        }
    }
    for (int i = 8; i < 16; ++i) {
        h[i] = _mm512_setzero_si512();
    }
    z_transpose16(h);
    for (int j = 0; j < 16; ++j) {
        avx_storeu(out[j], _mm512_castsi512_si256(h[j]));
    }
}

/*
 * Row-vector single compressions for AVX2 and AVX-512VL: the state is 4 rows of 4 words as in
 * sse_compress, but each round's message vectors come from a permute of the whole block held in
 * registers (b3_rowidx gives, per round, the words of the column step's x and y, then the
 * diagonal step's x and y), so no scalar word is moved on the way.  The message permutes do not
 * depend on the state: the core computes them ahead while the rounds' dependency chain runs.
 * AVX-512VL rotates with one instruction (vprord); AVX2 uses byte shuffles for 16 and 8.
 */
static const uint32_t b3_rowidx[7][16] = {
    {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15},
    {2, 3, 7, 4, 6, 10, 0, 13, 1, 12, 9, 15, 11, 5, 14, 8},
    {3, 10, 13, 7, 4, 12, 2, 14, 6, 9, 11, 8, 5, 0, 15, 1},
    {10, 12, 14, 13, 7, 9, 3, 15, 4, 11, 5, 1, 0, 2, 8, 6},
    {12, 9, 15, 14, 13, 11, 10, 8, 7, 5, 0, 6, 2, 3, 1, 4},
    {9, 11, 8, 15, 14, 5, 12, 1, 13, 0, 2, 4, 3, 10, 6, 7},
    {11, 5, 1, 8, 15, 0, 9, 6, 14, 2, 3, 7, 10, 12, 4, 13},
};

/* B3_ROWS_G: one G on all four columns (or diagonals) of the rows r0..r3 with message x, y. */
#    define B3_ROWS_G(ROT16, ROT12, ROT8, ROT7, x, y)                                              \
        do {                                                                                       \
            r0 = _mm_add_epi32(_mm_add_epi32(r0, r1), (x));                                        \
            r3 = ROT16(_mm_xor_si128(r3, r0));                                                     \
            r2 = _mm_add_epi32(r2, r3);                                                            \
            r1 = ROT12(_mm_xor_si128(r1, r2));                                                     \
            r0 = _mm_add_epi32(_mm_add_epi32(r0, r1), (y));                                        \
            r3 = ROT8(_mm_xor_si128(r3, r0));                                                      \
            r2 = _mm_add_epi32(r2, r3);                                                            \
            r1 = ROT7(_mm_xor_si128(r1, r2));                                                      \
        } while (0)

/* B3_ROWS_ROUND: column step, rotate rows 1..3 into diagonals, diagonal step, rotate back. */
#    define B3_ROWS_ROUND(ROT16, ROT12, ROT8, ROT7, xc, yc, xd, yd)                                \
        do {                                                                                       \
            B3_ROWS_G(ROT16, ROT12, ROT8, ROT7, xc, yc);                                           \
            r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(0, 3, 2, 1));                                   \
            r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));                                   \
            r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(2, 1, 0, 3));                                   \
            B3_ROWS_G(ROT16, ROT12, ROT8, ROT7, xd, yd);                                           \
            r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(2, 1, 0, 3));                                   \
            r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));                                   \
            r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(0, 3, 2, 1));                                   \
        } while (0)

#    define B3_TARGET_AVX512VL __attribute__((target("avx512f,avx512vl")))

B3_TARGET_AVX512VL static inline __m128i zr_rot16(__m128i x)
{
    return _mm_ror_epi32(x, 16);
}

B3_TARGET_AVX512VL static inline __m128i zr_rot12(__m128i x)
{
    return _mm_ror_epi32(x, 12);
}

B3_TARGET_AVX512VL static inline __m128i zr_rot8(__m128i x)
{
    return _mm_ror_epi32(x, 8);
}

B3_TARGET_AVX512VL static inline __m128i zr_rot7(__m128i x)
{
    return _mm_ror_epi32(x, 7);
}

/* zr_compress: one compression, AVX-512VL; |rows| receives the final state v0..v15. */
B3_TARGET_AVX512VL static inline void zr_compress(__m128i rows[4], const uint32_t cv[8],
                                                  const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                                  uint32_t block_len, uint64_t counter,
                                                  uint32_t flags)
{
    __m512i m = _mm512_loadu_si512(block);
    __m128i r0 = _mm_loadu_si128((const __m128i *)(const void *)cv);
    __m128i r1 = _mm_loadu_si128((const __m128i *)(const void *)(cv + 4));
    __m128i r2 = _mm_set_epi32((int)b3_iv[3], (int)b3_iv[2], (int)b3_iv[1], (int)b3_iv[0]);
    __m128i r3 = _mm_set_epi32((int)flags, (int)block_len, (int)(uint32_t)(counter >> 32),
                               (int)(uint32_t)counter);
#    pragma GCC unroll 7
    for (int r = 0; r < 7; ++r) {
        __m512i w = _mm512_permutexvar_epi32(_mm512_loadu_si512(b3_rowidx[r]), m);
        B3_ROWS_ROUND(zr_rot16, zr_rot12, zr_rot8, zr_rot7, _mm512_castsi512_si128(w),
                      _mm512_extracti32x4_epi32(w, 1), _mm512_extracti32x4_epi32(w, 2),
                      _mm512_extracti32x4_epi32(w, 3));
    }
    rows[0] = r0;
    rows[1] = r1;
    rows[2] = r2;
    rows[3] = r3;
}

B3_TARGET_AVX512VL static void zr_compress_cv(uint32_t cv[8],
                                              const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                              uint32_t block_len, uint64_t counter, uint32_t flags)
{
    __m128i rows[4];
    zr_compress(rows, cv, block, block_len, counter, flags);
    _mm_storeu_si128((__m128i *)(void *)cv, _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)(void *)(cv + 4), _mm_xor_si128(rows[1], rows[3]));
}

B3_TARGET_AVX512VL static void zr_compress_xof(const uint32_t cv[8],
                                               const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                               uint32_t block_len, uint64_t counter, uint32_t flags,
                                               uint8_t out[GS_BLAKE3_BLOCK_LEN])
{
    __m128i rows[4];
    zr_compress(rows, cv, block, block_len, counter, flags);
    __m128i c0 = _mm_loadu_si128((const __m128i *)(const void *)cv);
    __m128i c1 = _mm_loadu_si128((const __m128i *)(const void *)(cv + 4));
    _mm_storeu_si128((__m128i *)(void *)out, _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_xor_si128(rows[1], rows[3]));
    _mm_storeu_si128((__m128i *)(void *)(out + 32), _mm_xor_si128(rows[2], c0));
    _mm_storeu_si128((__m128i *)(void *)(out + 48), _mm_xor_si128(rows[3], c1));
}

B3_TARGET_AVX2 static inline __m128i ar_rot16(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}

B3_TARGET_AVX2 static inline __m128i ar_rot12(__m128i x)
{
    return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20));
}

B3_TARGET_AVX2 static inline __m128i ar_rot8(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}

B3_TARGET_AVX2 static inline __m128i ar_rot7(__m128i x)
{
    return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25));
}

/*
 * ar_gather8 returns the 8 message words |idx| (0..15) names, from the block's halves |lo|
 * (words 0..7) and |hi| (8..15): both halves are permuted by idx mod 8 (permutevar8x32 reads only
 * the low 3 bits of each index) and blended on idx >= 8.
 */
B3_TARGET_AVX2 static inline __m256i ar_gather8(__m256i lo, __m256i hi, const uint32_t *idx)
{
    __m256i i = _mm256_loadu_si256((const __m256i *)(const void *)idx);
    __m256i sel = _mm256_cmpgt_epi32(i, _mm256_set1_epi32(7));
    return _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, i),
                              _mm256_permutevar8x32_epi32(hi, i), sel);
}

/* ar_compress: one compression, AVX2; |rows| receives the final state v0..v15. */
B3_TARGET_AVX2 static inline void ar_compress(__m128i rows[4], const uint32_t cv[8],
                                              const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                              uint32_t block_len, uint64_t counter, uint32_t flags)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)block);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(block + 32));
    __m128i r0 = _mm_loadu_si128((const __m128i *)(const void *)cv);
    __m128i r1 = _mm_loadu_si128((const __m128i *)(const void *)(cv + 4));
    __m128i r2 = _mm_set_epi32((int)b3_iv[3], (int)b3_iv[2], (int)b3_iv[1], (int)b3_iv[0]);
    __m128i r3 = _mm_set_epi32((int)flags, (int)block_len, (int)(uint32_t)(counter >> 32),
                               (int)(uint32_t)counter);
#    pragma GCC unroll 7
    for (int r = 0; r < 7; ++r) {
        __m256i wc = ar_gather8(lo, hi, b3_rowidx[r]);
        __m256i wd = ar_gather8(lo, hi, b3_rowidx[r] + 8);
        B3_ROWS_ROUND(ar_rot16, ar_rot12, ar_rot8, ar_rot7, _mm256_castsi256_si128(wc),
                      _mm256_extracti128_si256(wc, 1), _mm256_castsi256_si128(wd),
                      _mm256_extracti128_si256(wd, 1));
    }
    rows[0] = r0;
    rows[1] = r1;
    rows[2] = r2;
    rows[3] = r3;
}

B3_TARGET_AVX2 static void ar_compress_cv(uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                          uint32_t block_len, uint64_t counter, uint32_t flags)
{
    __m128i rows[4];
    ar_compress(rows, cv, block, block_len, counter, flags);
    _mm_storeu_si128((__m128i *)(void *)cv, _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)(void *)(cv + 4), _mm_xor_si128(rows[1], rows[3]));
}

B3_TARGET_AVX2 static void ar_compress_xof(const uint32_t cv[8],
                                           const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                                           uint32_t block_len, uint64_t counter, uint32_t flags,
                                           uint8_t out[GS_BLAKE3_BLOCK_LEN])
{
    __m128i rows[4];
    ar_compress(rows, cv, block, block_len, counter, flags);
    __m128i c0 = _mm_loadu_si128((const __m128i *)(const void *)cv);
    __m128i c1 = _mm_loadu_si128((const __m128i *)(const void *)(cv + 4));
    _mm_storeu_si128((__m128i *)(void *)out, _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_xor_si128(rows[1], rows[3]));
    _mm_storeu_si128((__m128i *)(void *)(out + 32), _mm_xor_si128(rows[2], c0));
    _mm_storeu_si128((__m128i *)(void *)(out + 48), _mm_xor_si128(rows[3], c1));
}
#    undef B3_ROWS_ROUND
#    undef B3_ROWS_G

/* CPU features, read once before main() (no lazy init: proto must not need atomics). */
static int b3_cpu_level = -1; /* -1 unknown, 0 portable, 1 SSE4.1, 2 AVX2, 3 AVX-512 */
static bool b3_cpu_vl;        /* AVX-512VL (128-bit AVX-512 forms), with level 3 */

static int b3_detect(void)
{
    unsigned a = 0;
    unsigned b = 0;
    unsigned c = 0;
    unsigned d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    int level = 0;
    if (c & bit_SSE4_1) {
        level = 1;
    }
    /* AVX2 also needs the OS to save YMM state (OSXSAVE + XCR0 bits 1 and 2). */
    if ((c & bit_OSXSAVE) && (c & bit_AVX)) {
        uint32_t xlo;
        uint32_t xhi;
        __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
        (void)xhi;
        if ((xlo & 6u) == 6u && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2)) {
            level = 2;
            /* AVX-512F also needs opmask and ZMM state enabled (XCR0 bits 5, 6, 7). */
            if ((b & bit_AVX512F) && (xlo & 0xe6u) == 0xe6u) {
                level = 3;
                b3_cpu_vl = (b & bit_AVX512VL) != 0;
            }
        }
    }
    return level;
}
#endif /* BLAKE3_X86 */

/*
 * The single-block compression (every compression outside the multi-chunk paths: messages of
 * one chunk, partial chunks, parents, output blocks) is chosen by measurement, not by feature:
 * on some CPUs a SIMD row compression is slower than the portable code (the SSE4.1 one was, at
 * 0.42 vs 0.67 GB/s, on the machine this was tuned on).  b3_calibrate times each candidate the
 * CPU and the SIMD level allow (a few dozen compressions each, interleaved, best of several
 * rounds, with the time-stamp counter: about 0.1 ms once at load) and keeps the fastest.
 * Measured on an AMD EPYC with AVX-512 whose vector integer operations take 2 cycles: the
 * portable code wins there (about 80 ns per block against 110 for AVX-512 rows), since one
 * compression is a chain of dependent operations; with 1-cycle vector latency the rows win.  Every
 * candidate computes the same function; only speed depends on the choice.
 */
typedef void (*b3_one_cv_fn)(uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                             uint32_t block_len, uint64_t counter, uint32_t flags);
typedef void (*b3_one_xof_fn)(const uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                              uint32_t block_len, uint64_t counter, uint32_t flags,
                              uint8_t out[GS_BLAKE3_BLOCK_LEN]);

static const struct b3_one {
    b3_one_cv_fn cv;
    b3_one_xof_fn xof;
} b3_ones[GS_BLAKE3_NSINGLE] = {
    {b3_compress_cv_portable, b3_compress_xof_portable},
#if BLAKE3_X86
    {sse_compress_cv, sse_compress_xof},
    {ar_compress_cv, ar_compress_xof},
    {zr_compress_cv, zr_compress_xof},
#endif
};

static int b3_one_impl; /* index into b3_ones */

/* b3_one_max returns the highest single-block implementation usable at SIMD |level|. */
static int b3_one_max(int level)
{
#if BLAKE3_X86
    if (level >= 3 && b3_cpu_vl) {
        return GS_BLAKE3_SINGLE_AVX512;
    }
    return level >= 2 ? GS_BLAKE3_SINGLE_AVX2 : level;
#else
    (void)level;
    return GS_BLAKE3_SINGLE_PORTABLE;
#endif
}

#if BLAKE3_X86
static volatile uint32_t b3_calib_sink;

static int b3_calibrate(int max)
{
    uint64_t best[GS_BLAKE3_NSINGLE];
    uint8_t block[GS_BLAKE3_BLOCK_LEN];

    for (size_t i = 0; i < sizeof(block); ++i) {
        block[i] = (uint8_t)(i * 7 + 1);
    }
    for (int k = 0; k <= max; ++k) {
        best[k] = UINT64_MAX;
    }
    /* round 0 warms up (code and data into the caches) and is not counted */
    for (int round = 0; round < 8; ++round) {
        for (int k = 0; k <= max; ++k) {
            uint32_t cv[8];
            memcpy(cv, b3_iv, sizeof(cv));
            uint64_t t0 = __rdtsc();
            for (uint64_t i = 0; i < 32; ++i) {
                b3_ones[k].cv(cv, block, GS_BLAKE3_BLOCK_LEN, i, B3_CHUNK_START);
            }
            uint64_t dt = __rdtsc() - t0;
            b3_calib_sink ^= cv[0];
            if (round > 0 && dt < best[k]) {
                best[k] = dt;
            }
        }
    }
    /* A later candidate must beat the pick by 1/8: near-ties stay with the simpler code, so that
     * timing noise cannot flip the choice on a CPU where the two are about equal. */
    int pick = 0;
    for (int k = 1; k <= max; ++k) {
        if (best[k] + best[k] / 8 < best[pick]) {
            pick = k;
        }
    }
    return pick;
}

__attribute__((constructor)) static void b3_cpu_init(void)
{
    b3_cpu_level = b3_detect();
    b3_one_impl = b3_calibrate(b3_one_max(b3_cpu_level));
}
#endif /* BLAKE3_X86 */

/* gs_blake3_set_simd_level: see blake3.h. */
int gs_blake3_set_simd_level(int level)
{
#if BLAKE3_X86
    int max = b3_detect();
    if (level < 0 || level > max) {
        level = max;
    }
    b3_cpu_level = level;
    b3_one_impl = b3_calibrate(b3_one_max(level));
    return level;
#else
    (void)level;
    return 0;
#endif
}

/* gs_blake3_set_single_impl: see blake3.h. */
int gs_blake3_set_single_impl(int impl)
{
#if BLAKE3_X86
    int max = b3_one_max(b3_cpu_level);
    if (impl < 0 || impl > max) {
        impl = b3_calibrate(max);
    }
    b3_one_impl = impl;
    return impl;
#else
    (void)impl;
    return GS_BLAKE3_SINGLE_PORTABLE;
#endif
}

/* gs_blake3_single_impl: see blake3.h. */
int gs_blake3_single_impl(void)
{
    return b3_one_impl;
}

/* The single-block compressions used everywhere outside the multi-chunk paths. */
static void b3_compress_cv(uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                           uint32_t block_len, uint64_t counter, uint32_t flags)
{
    b3_ones[b3_one_impl].cv(cv, block, block_len, counter, flags);
}

static void b3_compress_xof(const uint32_t cv[8], const uint8_t block[GS_BLAKE3_BLOCK_LEN],
                            uint32_t block_len, uint64_t counter, uint32_t flags,
                            uint8_t out[GS_BLAKE3_BLOCK_LEN])
{
    b3_ones[b3_one_impl].xof(cv, block, block_len, counter, flags, out);
}

/*
 * b3_hash_chunks_portable hashes |n| complete chunks at |in| (consecutive, 1 KiB each) whose
 * counters start at |counter|, writing each chunk's chaining value to |out| (8 words each).
 */
static void b3_hash_chunks_portable(const uint8_t *in, size_t n, uint64_t counter,
                                    uint32_t out[][8])
{
    for (size_t c = 0; c < n; ++c) {
        uint32_t cv[8];
        memcpy(cv, b3_iv, sizeof(cv));
        for (unsigned b = 0; b < B3_BLOCKS_PER_CHUNK; ++b) {
            uint32_t flags = 0;
            if (b == 0) {
                flags |= B3_CHUNK_START;
            }
            if (b == B3_BLOCKS_PER_CHUNK - 1) {
                flags |= B3_CHUNK_END;
            }
            b3_compress_cv(cv, in + c * GS_BLAKE3_CHUNK_LEN + (size_t)b * GS_BLAKE3_BLOCK_LEN,
                           GS_BLAKE3_BLOCK_LEN, counter + c, flags);
        }
        memcpy(out[c], cv, sizeof(cv));
    }
}

/*
 * b3_hash_chunks hashes |n| whole chunks, using the widest SIMD path available.  A short tail
 * (2..3 chunks for SSE4.1, 5..7 for AVX2, 9..15 for AVX-512) runs in a padded batch whose spare
 * lanes repeat the first chunk: one parallel pass costs less than the chunks one after another.
 */
static void b3_hash_chunks(const uint8_t *in, size_t n, uint64_t counter, uint32_t out[][8])
{
#if BLAKE3_X86
    if (b3_cpu_level >= 3) {
        while (n >= 9) {
            const uint8_t *lanes[16];
            uint32_t cvs[16][8];
            size_t k = n < 16 ? n : 16;
            for (size_t j = 0; j < 16; ++j) {
                lanes[j] = in + (j < k ? j : 0) * GS_BLAKE3_CHUNK_LEN;
            }
            z_hash16(lanes, counter, cvs);
            memcpy(out, cvs, k * sizeof(cvs[0]));
            in += k * GS_BLAKE3_CHUNK_LEN;
            counter += k;
            out += k;
            n -= k;
        }
    }
    if (b3_cpu_level >= 2) {
        while (n >= 5) {
            const uint8_t *lanes[8];
            uint32_t cvs[8][8];
            size_t k = n < 8 ? n : 8;
            for (size_t j = 0; j < 8; ++j) {
                lanes[j] = in + (j < k ? j : 0) * GS_BLAKE3_CHUNK_LEN;
            }
            avx_hash8(lanes, counter, cvs);
            memcpy(out, cvs, k * sizeof(cvs[0]));
            in += k * GS_BLAKE3_CHUNK_LEN;
            counter += k;
            out += k;
            n -= k;
        }
    }
    if (b3_cpu_level >= 1) {
        while (n >= 2) {
            const uint8_t *lanes[4];
            uint32_t cvs[4][8];
            size_t k = n < 4 ? n : 4;
            for (size_t j = 0; j < 4; ++j) {
                lanes[j] = in + (j < k ? j : 0) * GS_BLAKE3_CHUNK_LEN;
            }
            sse_hash4(lanes, counter, cvs);
            memcpy(out, cvs, k * sizeof(cvs[0]));
            in += k * GS_BLAKE3_CHUNK_LEN;
            counter += k;
            out += k;
            n -= k;
        }
    }
#endif
    b3_hash_chunks_portable(in, n, counter, out);
}

static void b3_parent_cv(uint32_t out[8], const uint32_t left[8], const uint32_t right[8])
{
    uint8_t block[GS_BLAKE3_BLOCK_LEN];
    for (int i = 0; i < 8; ++i) {
        store32(block + 4 * (size_t)i, left[i]);
        store32(block + 32 + 4 * (size_t)i, right[i]);
    }
    memcpy(out, b3_iv, 8 * sizeof(uint32_t));
    b3_compress_cv(out, block, GS_BLAKE3_BLOCK_LEN, 0, B3_PARENT);
}

/*
 * b3_stack_push adds the chaining value of a complete subtree of 2^|level| chunks to a subtree
 * stack of |*plen| entries; |total| is the number of chunks completed, these included, and the
 * subtree starts at a multiple of 2^|level|.  Each further trailing zero bit of |total| closes
 * one level: merge with the stack top.  Callers push only when more input follows, so none of
 * these merges is the root.
 */
static void b3_stack_push(uint32_t stack[][8], uint8_t *plen, const uint32_t cv[8], uint64_t total,
                          unsigned level)
{
    uint32_t cur[8];
    memcpy(cur, cv, sizeof(cur));
    total >>= level;
    while ((total & 1) == 0) {
        (*plen)--;
        b3_parent_cv(cur, stack[*plen], cur);
        total >>= 1;
    }
    memcpy(stack[*plen], cur, sizeof(cur));
    (*plen)++;
}

/* b3_group_log2: log2 of the chunk group reduced in parallel (0: no grouping). */
static unsigned b3_group_log2(void)
{
#if BLAKE3_X86
    if (b3_cpu_level >= 3) {
        return 4;
    }
    if (b3_cpu_level >= 1) {
        return (unsigned)b3_cpu_level + 1;
    }
#endif
    return 0;
}

/* b3_parents replaces cvs[0 .. np-1] with the parents of the pairs (cvs[2i], cvs[2i+1]), np <= 8.
 */
static void b3_parents(uint32_t cvs[][8], size_t np)
{
#if BLAKE3_X86
    uint32_t tmp[8][8];
    if (b3_cpu_level >= 2 && np > 4) {
        const uint8_t *lanes[8];
        for (size_t j = 0; j < 8; ++j) {
            lanes[j] = (const uint8_t *)cvs[2 * (j < np ? j : 0)];
        }
        avx_parents8(lanes, tmp);
        memcpy(cvs, tmp, np * sizeof(tmp[0]));
        return;
    }
    if (b3_cpu_level >= 1 && np > 1) {
        const uint8_t *lanes[4];
        for (size_t j = 0; j < 4; ++j) {
            lanes[j] = (const uint8_t *)cvs[2 * (j < np ? j : 0)];
        }
        sse_parents4(lanes, tmp);
        memcpy(cvs, tmp, np * sizeof(tmp[0]));
        return;
    }
#endif
    for (size_t i = 0; i < np; ++i) {
        b3_parent_cv(cvs[i], cvs[2 * i], cvs[2 * i + 1]);
    }
}

/*
 * b3_absorb_chunks hashes |n| whole chunks at |p|, each followed by more input, numbered from
 * |*pcounter|, and pushes them onto |stack|.  Where the counter is a multiple of the group size G
 * and G chunks remain, the group's chunks and its G - 1 parents are computed in parallel and the
 * subtree is pushed as one entry; other chunks are pushed one by one.
 */
static void b3_absorb_chunks(uint32_t stack[][8], uint8_t *plen, uint64_t *pcounter,
                             const uint8_t *p, size_t n)
{
    unsigned lg = b3_group_log2();
    size_t g = (size_t)1 << lg;
    while (n > 0) {
        uint32_t cvs[B3_MAX_PAR][8];
        if (lg > 0 && n >= g && (*pcounter & (g - 1)) == 0) {
            b3_hash_chunks(p, g, *pcounter, cvs);
            for (size_t w = g; w > 1; w /= 2) {
                b3_parents(cvs, w / 2);
            }
            *pcounter += g;
            b3_stack_push(stack, plen, cvs[0], *pcounter, lg);
            p += g * GS_BLAKE3_CHUNK_LEN;
            n -= g;
            continue;
        }
        /* up to the next group boundary (or a plain batch without grouping) */
        size_t k = lg > 0 ? g - (size_t)(*pcounter & (g - 1)) : B3_MAX_PAR;
        if (k > n) {
            k = n;
        }
        b3_hash_chunks(p, k, *pcounter, cvs);
        for (size_t i = 0; i < k; ++i) {
            (*pcounter)++;
            b3_stack_push(stack, plen, cvs[i], *pcounter, 0);
        }
        p += k * GS_BLAKE3_CHUNK_LEN;
        n -= k;
    }
}

/* b3_push_cv pushes a completed chunk's chaining value; |h->chunk_counter| already counts it. */
static void b3_push_cv(gs_blake3 *h, const uint32_t cv[8])
{
    b3_stack_push(h->cv_stack, &h->cv_stack_len, cv, h->chunk_counter, 0);
}

static size_t b3_chunk_len(const gs_blake3 *h)
{
    return (size_t)h->blocks_compressed * GS_BLAKE3_BLOCK_LEN + h->block_len;
}

static uint32_t b3_start_flag(const gs_blake3 *h)
{
    return h->blocks_compressed == 0 ? B3_CHUNK_START : 0;
}

/* b3_chunk_update absorbs |n| bytes into the current chunk; |n| fits in what the chunk lacks. */
static void b3_chunk_update(gs_blake3 *h, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (h->block_len == GS_BLAKE3_BLOCK_LEN) {
            b3_compress_cv(h->cv, h->block, GS_BLAKE3_BLOCK_LEN, h->chunk_counter,
                           h->flags | b3_start_flag(h));
            h->blocks_compressed++;
            h->block_len = 0;
        }
        if (h->block_len == 0) {
            /* Compress straight from the input while a full block is surely not the last. */
            while (n > GS_BLAKE3_BLOCK_LEN) {
                b3_compress_cv(h->cv, p, GS_BLAKE3_BLOCK_LEN, h->chunk_counter,
                               h->flags | b3_start_flag(h));
                h->blocks_compressed++;
                p += GS_BLAKE3_BLOCK_LEN;
                n -= GS_BLAKE3_BLOCK_LEN;
            }
        }
        size_t take = GS_BLAKE3_BLOCK_LEN - h->block_len;
        if (take > n) {
            take = n;
        }
        memcpy(h->block + h->block_len, p, take);
        h->block_len = (uint8_t)(h->block_len + take);
        p += take;
        n -= take;
    }
}

/* b3_chunk_reset starts the next chunk (after the current one was pushed). */
static void b3_chunk_reset(gs_blake3 *h)
{
    memcpy(h->cv, h->key, sizeof(h->cv));
    h->block_len = 0;
    h->blocks_compressed = 0;
}

void gs_blake3_init(gs_blake3 *h)
{
    memcpy(h->key, b3_iv, sizeof(h->key));
    memcpy(h->cv, b3_iv, sizeof(h->cv));
    h->chunk_counter = 0;
    memset(h->block, 0, sizeof(h->block));
    h->block_len = 0;
    h->blocks_compressed = 0;
    h->flags = 0;
    h->cv_stack_len = 0;
}

void gs_blake3_update(gs_blake3 *h, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        if (b3_chunk_len(h) == GS_BLAKE3_CHUNK_LEN) {
            /* The current chunk is full and more input follows: it is not the root. */
            uint32_t cv[8];
            b3_compress_cv(h->cv, h->block, GS_BLAKE3_BLOCK_LEN, h->chunk_counter,
                           h->flags | B3_CHUNK_END | b3_start_flag(h));
            memcpy(cv, h->cv, sizeof(cv));
            h->chunk_counter++;
            b3_push_cv(h, cv);
            b3_chunk_reset(h);
        }
        if (b3_chunk_len(h) == 0 && len > GS_BLAKE3_CHUNK_LEN) {
            /* Whole chunks with at least one byte after them: batch them (SIMD). */
            size_t nchunks = (len - 1) / GS_BLAKE3_CHUNK_LEN;
            b3_absorb_chunks(h->cv_stack, &h->cv_stack_len, &h->chunk_counter, p, nchunks);
            p += nchunks * GS_BLAKE3_CHUNK_LEN;
            len -= nchunks * GS_BLAKE3_CHUNK_LEN;
        }
        size_t take = GS_BLAKE3_CHUNK_LEN - b3_chunk_len(h);
        if (take > len) {
            take = len;
        }
        b3_chunk_update(h, p, take);
        p += take;
        len -= take;
    }
}

void gs_blake3_finalize(const gs_blake3 *h, uint8_t *out, size_t outlen)
{
    /* The root node's inputs: start with the current chunk's last block. */
    uint32_t cv[8];
    uint8_t block[GS_BLAKE3_BLOCK_LEN];
    uint32_t block_len = h->block_len;
    uint64_t counter = h->chunk_counter;
    uint32_t flags = h->flags | b3_start_flag(h) | B3_CHUNK_END;

    memcpy(cv, h->cv, sizeof(cv));
    memset(block, 0, sizeof(block));
    memcpy(block, h->block, h->block_len);

    for (size_t i = h->cv_stack_len; i > 0; --i) {
        /* Close the node below, then make it the right child of the next stack entry. */
        uint32_t right[8];
        memcpy(right, cv, sizeof(right));
        b3_compress_cv(right, block, block_len, counter, flags);
        for (int w = 0; w < 8; ++w) {
            store32(block + 4 * (size_t)w, h->cv_stack[i - 1][w]);
            store32(block + 32 + 4 * (size_t)w, right[w]);
        }
        memcpy(cv, h->key, sizeof(cv));
        block_len = GS_BLAKE3_BLOCK_LEN;
        counter = 0;
        flags = h->flags | B3_PARENT;
    }

    uint64_t t = 0;
    while (outlen > 0) {
        uint8_t obuf[GS_BLAKE3_BLOCK_LEN];
        size_t n = outlen < sizeof(obuf) ? outlen : sizeof(obuf);
        b3_compress_xof(cv, block, block_len, t, flags | B3_ROOT, obuf);
        memcpy(out, obuf, n);
        out += n;
        outlen -= n;
        ++t;
    }
}

static void b3_store_cv(uint8_t out[32], const uint32_t cv[8])
{
    for (int i = 0; i < 8; ++i) {
        store32(out + 4 * (size_t)i, cv[i]);
    }
}

/*
 * gs_blake3_hash goes around the incremental state: a one-chunk input is compressed straight
 * from |data| (only the last block is copied, to pad it); a longer one hashes all its complete
 * chunks in SIMD batches -- the last one too when it is complete: with more than one chunk its
 * chaining value is a child, not the root -- and then folds the subtree stack, setting ROOT on
 * the top parent only.
 */
void gs_blake3_hash(const void *data, size_t len, uint8_t out[GS_BLAKE3_OUT_LEN])
{
    const uint8_t *p = data;
    uint32_t cv[8];
    uint8_t block[GS_BLAKE3_BLOCK_LEN];

    if (len <= GS_BLAKE3_CHUNK_LEN) {
        uint32_t flags = B3_CHUNK_START;
        memcpy(cv, b3_iv, sizeof(cv));
        while (len > GS_BLAKE3_BLOCK_LEN) {
            b3_compress_cv(cv, p, GS_BLAKE3_BLOCK_LEN, 0, flags);
            flags = 0;
            p += GS_BLAKE3_BLOCK_LEN;
            len -= GS_BLAKE3_BLOCK_LEN;
        }
        memset(block, 0, sizeof(block));
        if (len > 0) {
            memcpy(block, p, len);
        }
        b3_compress_cv(cv, block, (uint32_t)len, 0, flags | B3_CHUNK_END | B3_ROOT);
        b3_store_cv(out, cv);
        return;
    }

    uint32_t stack[GS_BLAKE3_MAX_DEPTH + 1][8];
    uint8_t depth = 0;
    uint64_t nfull = len / GS_BLAKE3_CHUNK_LEN;
    size_t rem = len % GS_BLAKE3_CHUNK_LEN;
    uint64_t nchunks = nfull + (rem > 0 ? 1 : 0); /* >= 2 */
    uint32_t last[8];
    uint64_t done = 0;

    /* Whole groups that do not contain the final chunk go through the grouped path. */
    size_t g = (size_t)1 << b3_group_log2();
    if (g > 1 && nchunks > g) {
        size_t ngroups = (size_t)((nchunks - 1) / g);
        b3_absorb_chunks(stack, &depth, &done, p, ngroups * g);
        p += ngroups * g * GS_BLAKE3_CHUNK_LEN;
    }
    while (done < nfull) {
        uint32_t cvs[B3_MAX_PAR][8];
        size_t k = nfull - done < B3_MAX_PAR ? (size_t)(nfull - done) : B3_MAX_PAR;
        b3_hash_chunks(p, k, done, cvs);
        for (size_t i = 0; i < k; ++i) {
            if (done + i + 1 == nchunks) {
                memcpy(last, cvs[i], sizeof(last)); /* the final chunk: folded below */
            } else {
                b3_stack_push(stack, &depth, cvs[i], done + i + 1, 0);
            }
        }
        p += k * GS_BLAKE3_CHUNK_LEN;
        done += k;
    }
    if (rem > 0) {
        /* the partial final chunk, block by block (a chunk, not the root) */
        uint32_t flags = B3_CHUNK_START;
        memcpy(last, b3_iv, sizeof(last));
        while (rem > GS_BLAKE3_BLOCK_LEN) {
            b3_compress_cv(last, p, GS_BLAKE3_BLOCK_LEN, nfull, flags);
            flags = 0;
            p += GS_BLAKE3_BLOCK_LEN;
            rem -= GS_BLAKE3_BLOCK_LEN;
        }
        memset(block, 0, sizeof(block));
        memcpy(block, p, rem);
        b3_compress_cv(last, block, (uint32_t)rem, nfull, flags | B3_CHUNK_END);
    }
    assert(depth >= 1); /* nchunks >= 2 and every chunk but the final one was pushed */
    /* Fold: the final chunk is the right child of each stack entry in turn; the bottom entry's
     * parent is the root. */
    for (size_t i = depth; i > 1; --i) {
        b3_parent_cv(last, stack[i - 1], last);
    }
    for (int w = 0; w < 8; ++w) {
        store32(block + 4 * (size_t)w, stack[0][w]);
        store32(block + 32 + 4 * (size_t)w, last[w]);
    }
    memcpy(cv, b3_iv, sizeof(cv));
    b3_compress_cv(cv, block, GS_BLAKE3_BLOCK_LEN, 0, B3_PARENT | B3_ROOT);
    b3_store_cv(out, cv);
}

/*
 * gs_blake3_hash_many: inputs of at most one chunk are gathered in groups of 16 (AVX-512) or 8
 * (AVX2) and hashed one per lane; a group that is not full repeats its first input in the spare
 * lanes (results dropped).  Everything else, and everything without AVX2, goes through
 * gs_blake3_hash.
 */
void gs_blake3_hash_many(const uint8_t *const *inputs, const size_t *lens, size_t n,
                         uint8_t (*out)[GS_BLAKE3_OUT_LEN])
{
#if BLAKE3_X86
    if (b3_cpu_level >= 3) {
        /* 16 lanes; a short last group (2..8 inputs) takes the 8-lane path below instead */
        const uint8_t *in[16];
        size_t len[16];
        size_t idx[16];
        size_t k = 0;
        size_t i = 0;
        for (; i < n; ++i) {
            if (lens[i] > GS_BLAKE3_CHUNK_LEN) {
                gs_blake3_hash(inputs[i], lens[i], out[i]);
                continue;
            }
            in[k] = inputs[i];
            len[k] = lens[i];
            idx[k] = i;
            if (++k == 16) {
                uint8_t res[16][GS_BLAKE3_OUT_LEN];
                z_hash_small16(in, len, res);
                for (size_t j = 0; j < 16; ++j) {
                    memcpy(out[idx[j]], res[j], GS_BLAKE3_OUT_LEN);
                }
                k = 0;
            }
        }
        if (k > 8) {
            uint8_t res[16][GS_BLAKE3_OUT_LEN];
            for (size_t j = k; j < 16; ++j) {
                in[j] = in[0];
                len[j] = len[0];
            }
            z_hash_small16(in, len, res);
            for (size_t j = 0; j < k; ++j) {
                memcpy(out[idx[j]], res[j], GS_BLAKE3_OUT_LEN);
            }
            return;
        }
        if (k == 0) {
            return;
        }
        if (k == 1) {
            gs_blake3_hash(in[0], len[0], out[idx[0]]);
            return;
        }
        /* 2..8 inputs left: the 8-lane path (spare lanes repeat the first input) */
        uint8_t res8[8][GS_BLAKE3_OUT_LEN];
        const uint8_t *in8[8];
        size_t len8[8];
        for (size_t j = 0; j < 8; ++j) {
            in8[j] = in[j < k ? j : 0];
            len8[j] = len[j < k ? j : 0];
        }
        avx_hash_small8(in8, len8, res8);
        for (size_t j = 0; j < k; ++j) {
            memcpy(out[idx[j]], res8[j], GS_BLAKE3_OUT_LEN);
        }
        return;
    }
    if (b3_cpu_level >= 2) {
        const uint8_t *in[8];
        size_t len[8];
        size_t idx[8];
        size_t k = 0;
        for (size_t i = 0; i <= n; ++i) {
            if (i < n && lens[i] > GS_BLAKE3_CHUNK_LEN) {
                gs_blake3_hash(inputs[i], lens[i], out[i]);
                continue;
            }
            if (i < n) {
                in[k] = inputs[i];
                len[k] = lens[i];
                idx[k] = i;
                ++k;
            }
            /* flush a full group, or what is left after the last input */
            if (k == 8 || (i == n && k > 1)) {
                uint8_t res[8][GS_BLAKE3_OUT_LEN];
                for (size_t j = k; j < 8; ++j) {
                    in[j] = in[0];
                    len[j] = len[0];
                }
                avx_hash_small8(in, len, res);
                for (size_t j = 0; j < k; ++j) {
                    memcpy(out[idx[j]], res[j], GS_BLAKE3_OUT_LEN);
                }
                k = 0;
            } else if (i == n && k == 1) {
                gs_blake3_hash(in[0], len[0], out[idx[0]]);
            }
        }
        return;
    }
#endif
    for (size_t i = 0; i < n; ++i) {
        gs_blake3_hash(inputs[i], lens[i], out[i]);
    }
}
