/* SPDX-License-Identifier: MIT */
/*
 * test_blake3.c: BLAKE3 against every line of vectors/blake3.txt (32-byte hash and 64-byte
 * extended output), one-shot and incremental (byte by byte, odd split points), on every
 * implementation level the CPU has (portable, SSE4.1, AVX2, AVX-512); plus cross-checks between
 * levels.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake3.h"
#include "gs_rand.h"
#include "expect_mem.h"
#include "hex.h"

#define B3_MAX_VECTORS 64
#define B3_MAX_INPUT   (128 * 1024)

typedef struct b3_vector {
    size_t len;
    uint8_t hash[32];
    uint8_t xof[64];
} b3_vector;

/* unhex decodes exactly |n| bytes of hex at |s|. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    return gs_test_unhex(s, strlen(s), out, n) == (ptrdiff_t)n;
}

static size_t load_vectors(b3_vector *v, size_t max)
{
    FILE *f = fopen(GS_VECTORS_DIR "/blake3.txt", "r");
    cr_assert(f != NULL, "cannot open %s", GS_VECTORS_DIR "/blake3.txt");
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        char h[80];
        char x[160];
        size_t len;
        cr_assert(eq(int, sscanf(line, "%zu %79s %159s", &len, h, x), 3), "bad line: %s", line);
        cr_assert(n < max);
        cr_assert(len <= B3_MAX_INPUT);
        v[n].len = len;
        cr_assert(unhex(h, v[n].hash, 32), "bad hash hex: %s", line);
        cr_assert(unhex(x, v[n].xof, 64), "bad xof hex: %s", line);
        ++n;
    }
    fclose(f);
    cr_assert(n >= 20, "only %zu vectors", n);
    return n;
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n + 1);
    cr_assert(p != NULL);
    for (size_t i = 0; i < n; ++i) {
        p[i] = (uint8_t)(i % 251);
    }
    return p;
}

/* hash_split hashes |in| feeding it in pieces of |step| bytes (the last one shorter). */
static void hash_split(const uint8_t *in, size_t len, size_t step, uint8_t *out, size_t outlen)
{
    gs_blake3 h;
    gs_blake3_init(&h);
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        gs_blake3_update(&h, in + off, n);
    }
    gs_blake3_finalize(&h, out, outlen);
}

/* check_level runs every vector through every feeding pattern at SIMD level |level|. */
static void check_level(int level)
{
    static b3_vector v[B3_MAX_VECTORS];
    size_t nv = load_vectors(v, B3_MAX_VECTORS);
    uint8_t *in = pattern(B3_MAX_INPUT);
    static const size_t steps[] = {1, 3, 63, 64, 65, 127, 1000, 1023, 1024, 1025, 4097, 8191};

    int got_level = gs_blake3_set_simd_level(level);
    if (got_level != level) {
        free(in);
        cr_skip_test("CPU lacks SIMD level %d", level);
    }
    for (size_t i = 0; i < nv; ++i) {
        uint8_t out[64];
        gs_blake3_hash(in, v[i].len, out);
        EXPECT_MEM(out, v[i].hash, 32, "one-shot hash, len %zu", v[i].len);

        gs_blake3 h;
        gs_blake3_init(&h);
        gs_blake3_update(&h, in, v[i].len);
        gs_blake3_finalize(&h, out, 64);
        EXPECT_MEM(out, v[i].xof, 64, "incremental xof, len %zu", v[i].len);

        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); ++s) {
            memset(out, 0, sizeof(out));
            hash_split(in, v[i].len, steps[s], out, 64);
            EXPECT_MEM(out, v[i].xof, 64, "len %zu fed in %zu-byte pieces", v[i].len, steps[s]);
        }
        /* a split right before the end and right after the start */
        if (v[i].len >= 2) {
            gs_blake3_init(&h);
            gs_blake3_update(&h, in, 1);
            gs_blake3_update(&h, in + 1, v[i].len - 2);
            gs_blake3_update(&h, in + v[i].len - 1, 1);
            gs_blake3_finalize(&h, out, 64);
            EXPECT_MEM(out, v[i].xof, 64, "len %zu split 1/n-2/1", v[i].len);
        }
        /* a shorter output is a prefix of the longer one */
        uint8_t short_out[7];
        gs_blake3_finalize(&h, short_out, sizeof(short_out));
        EXPECT_MEM(short_out, v[i].xof, 7, "short_out");
    }
    free(in);
    gs_blake3_set_simd_level(-1);
}

Test(blake3, vectors_portable)
{
    check_level(0);
}

Test(blake3, vectors_sse41)
{
    check_level(1);
}

Test(blake3, vectors_avx2)
{
    check_level(2);
}

Test(blake3, vectors_avx512)
{
    check_level(3);
}

Test(blake3, finalize_keeps_state)
{
    uint8_t *in = pattern(5000);
    uint8_t a[32];
    uint8_t b[32];
    uint8_t want[32];
    gs_blake3 h;

    gs_blake3_init(&h);
    gs_blake3_update(&h, in, 2000);
    gs_blake3_finalize(&h, a, 32);
    gs_blake3_finalize(&h, b, 32);
    EXPECT_MEM(a, b, 32, "finalize twice");
    gs_blake3_hash(in, 2000, want);
    EXPECT_MEM(a, want, 32, "a");
    /* more input after finalize */
    gs_blake3_update(&h, in + 2000, 3000);
    gs_blake3_finalize(&h, a, 32);
    gs_blake3_hash(in, 5000, want);
    EXPECT_MEM(a, want, 32, "update after finalize");
    free(in);
}

Test(blake3, long_xof_is_consistent)
{
    /* 1000 bytes of output: 16 output blocks; every prefix agrees with the 64-byte vector. */
    static b3_vector v[B3_MAX_VECTORS];
    size_t nv = load_vectors(v, B3_MAX_VECTORS);
    uint8_t *in = pattern(B3_MAX_INPUT);
    uint8_t big[1000];
    uint8_t again[1000];

    for (size_t i = 0; i < nv; ++i) {
        gs_blake3 h;
        gs_blake3_init(&h);
        gs_blake3_update(&h, in, v[i].len);
        gs_blake3_finalize(&h, big, sizeof(big));
        EXPECT_MEM(big, v[i].xof, 64, "len %zu", v[i].len);
        /* odd output lengths give prefixes of the same stream */
        gs_blake3_finalize(&h, again, 131);
        cr_assert(eq(int, memcmp(again, big, 131), 0));
    }
    /* Output blocks differ from each other (the counter is mixed in). */
    cr_assert(ne(int, memcmp(big, big + 64, 64), 0));
    free(in);
}

Test(blake3, simd_levels_agree_on_random_inputs)
{
    gs_rand r;
    size_t maxlen = 40 * 1024;
    uint8_t *in = malloc(maxlen);
    cr_assert(in != NULL);

    gs_rand_seed(&r, 42);
    for (size_t i = 0; i < maxlen; ++i) {
        in[i] = (uint8_t)gs_rand_next(&r);
    }
    int best = gs_blake3_set_simd_level(-1);
    for (int iter = 0; iter < 150; ++iter) {
        size_t len = (size_t)gs_rand_below(&r, maxlen + 1);
        if (iter < 40) {
            len = (size_t)iter * 1024 + (size_t)gs_rand_below(&r, 3); /* chunk boundaries */
        }
        size_t step = 1 + (size_t)gs_rand_below(&r, 9000);
        uint8_t ref[48];
        uint8_t got[48];
        gs_blake3_set_simd_level(0);
        hash_split(in, len, len + 1, ref, sizeof(ref));
        gs_blake3_hash(in, len, got);
        EXPECT_MEM(got, ref, 32, "portable one-shot len %zu", len);
        for (int level = 1; level <= best; ++level) {
            gs_blake3_set_simd_level(level);
            hash_split(in, len, step, got, sizeof(got));
            EXPECT_MEM(got, ref, 48, "len %zu step %zu level %d", len, step, level);
            gs_blake3_hash(in, len, got); /* the one-shot shortcut */
            EXPECT_MEM(got, ref, 32, "one-shot len %zu level %d", len, level);
        }
        gs_blake3_set_simd_level(best);
        hash_split(in + 1, len - (len > 0 ? 1 : 0), step, got, sizeof(got)); /* unaligned */
        gs_blake3_set_simd_level(0);
        hash_split(in + 1, len - (len > 0 ? 1 : 0), len + 1, ref, sizeof(ref));
        EXPECT_MEM(got, ref, 48, "unaligned len %zu", len);
    }
    gs_blake3_set_simd_level(-1);
    free(in);
}

Test(blake3, set_simd_level_clamps)
{
    int best = gs_blake3_set_simd_level(-1);
    cr_assert(ge(int, best, 0));
    cr_assert(le(int, best, 3));
    cr_assert(eq(int, gs_blake3_set_simd_level(99), best));
    cr_assert(eq(int, gs_blake3_set_simd_level(0), 0));
    gs_blake3_set_simd_level(-1);
}

Test(blake3, hash_many_matches_single)
{
    gs_rand r;
    gs_rand_seed(&r, 777);
    size_t maxlen = 3000;
    uint8_t *pool = malloc(64 * maxlen);
    cr_assert(pool != NULL);
    for (size_t i = 0; i < 64 * maxlen; ++i) {
        pool[i] = (uint8_t)gs_rand_next(&r);
    }
    int best = gs_blake3_set_simd_level(-1);
    for (int iter = 0; iter < 300; ++iter) {
        size_t n = (size_t)gs_rand_below(&r, 41);
        const uint8_t *inputs[40];
        size_t lens[40];
        uint8_t got[40][32];
        uint8_t want[32];
        for (size_t i = 0; i < n; ++i) {
            static const size_t special[] = {0, 1, 63, 64, 65, 1023, 1024, 1025, 2048};
            lens[i] = gs_rand_below(&r, 3) == 0 ? special[gs_rand_below(&r, 9)]
                                                : (size_t)gs_rand_below(&r, 1100);
            /* every input in its own exact-size allocation would be slow; offsets vary instead */
            inputs[i] = pool + (size_t)gs_rand_below(&r, 63 * maxlen - lens[i]);
        }
        int level = (int)gs_rand_below(&r, (uint64_t)best + 1);
        gs_blake3_set_simd_level(level);
        gs_blake3_hash_many(inputs, lens, n, got);
        gs_blake3_set_simd_level(0);
        for (size_t i = 0; i < n; ++i) {
            gs_blake3_hash(inputs[i], lens[i], want);
            EXPECT_MEM(got[i], want, 32, "iter %d level %d input %zu len %zu", iter, level, i,
                       lens[i]);
        }
    }
    gs_blake3_set_simd_level(-1);
    free(pool);
}

Test(blake3, hash_many_reads_only_its_inputs)
{
    /* exact-size heap copies: ASan reports any read past an input */
    uint8_t *bufs[12];
    const uint8_t *inputs[12];
    size_t lens[12];
    uint8_t got[12][32];
    uint8_t want[32];
    for (size_t i = 0; i < 12; ++i) {
        lens[i] = i * 97;
        bufs[i] = malloc(lens[i] > 0 ? lens[i] : 1);
        cr_assert(bufs[i] != NULL);
        memset(bufs[i], (int)i, lens[i]);
        inputs[i] = bufs[i];
    }
    gs_blake3_hash_many(inputs, lens, 12, got);
    for (size_t i = 0; i < 12; ++i) {
        gs_blake3_hash(inputs[i], lens[i], want);
        EXPECT_MEM(got[i], want, 32, "input %zu", i);
        free(bufs[i]);
    }
}

Test(blake3, large_inputs_agree_across_levels)
{
    /* 3 MiB + 5: deep trees, many whole SIMD groups, pushes at every alignment */
    size_t len = 3 * 1024 * 1024 + 5;
    uint8_t *in = malloc(len);
    cr_assert(in != NULL);
    gs_rand r;
    gs_rand_seed(&r, 3);
    for (size_t i = 0; i < len; ++i) {
        in[i] = (uint8_t)gs_rand_next(&r);
    }
    static const size_t lens[] = {3 * 1024 * 1024 + 5, 2 * 1024 * 1024, 17 * 1024 + 1, 33 * 1024};
    int best = gs_blake3_set_simd_level(-1);
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); ++li) {
        uint8_t ref[32];
        uint8_t got[32];
        gs_blake3_set_simd_level(0);
        hash_split(in, lens[li], lens[li] + 1, ref, sizeof(ref));
        for (int level = 0; level <= best; ++level) {
            gs_blake3_set_simd_level(level);
            gs_blake3_hash(in, lens[li], got);
            EXPECT_MEM(got, ref, 32, "one-shot len %zu level %d", lens[li], level);
            hash_split(in, lens[li], 100003, got, sizeof(got));
            EXPECT_MEM(got, ref, 32, "split len %zu level %d", lens[li], level);
            hash_split(in, lens[li], 5 * 1024 + 7, got, sizeof(got));
            EXPECT_MEM(got, ref, 32, "split2 len %zu level %d", lens[li], level);
        }
    }
    gs_blake3_set_simd_level(-1);
    free(in);
}

/* Every single-block implementation the CPU has gives the reference digests, one-shot and
 * incremental (the single path covers messages up to a chunk, partial chunks, parents, XOF). */
Test(blake3, vectors_every_single_block_implementation)
{
    static b3_vector v[B3_MAX_VECTORS];
    size_t nv = load_vectors(v, B3_MAX_VECTORS);
    uint8_t *in = pattern(B3_MAX_INPUT);
    int best = gs_blake3_set_simd_level(-1);
    size_t tested = 0;

    for (int impl = 0; impl < GS_BLAKE3_NSINGLE; ++impl) {
        for (int level = 0; level <= best; ++level) {
            gs_blake3_set_simd_level(level);
            if (gs_blake3_set_single_impl(impl) != impl) {
                continue;
            }
            cr_assert(eq(int, gs_blake3_single_impl(), impl));
            ++tested;
            for (size_t i = 0; i < nv; ++i) {
                uint8_t out[64];
                gs_blake3_hash(in, v[i].len, out);
                EXPECT_MEM(out, v[i].hash, 32, "impl %d level %d len %zu", impl, level, v[i].len);
                hash_split(in, v[i].len, 1000, out, 64);
                EXPECT_MEM(out, v[i].xof, 64, "xof impl %d level %d len %zu", impl, level,
                           v[i].len);
            }
        }
    }
    cr_assert(ge(sz, tested, 1)); /* the portable one always */
    gs_blake3_set_simd_level(-1);
    cr_assert(le(int, gs_blake3_set_single_impl(-1), GS_BLAKE3_NSINGLE - 1));
    free(in);
}

Test(blake3, single_impl_is_clamped_to_the_level)
{
    gs_blake3_set_simd_level(0);
    cr_assert(eq(int, gs_blake3_set_single_impl(GS_BLAKE3_SINGLE_AVX512),
                 GS_BLAKE3_SINGLE_PORTABLE)); /* level 0 allows only the portable code */
    cr_assert(eq(int, gs_blake3_single_impl(), GS_BLAKE3_SINGLE_PORTABLE));
    gs_blake3_set_simd_level(-1);
}
