/* SPDX-License-Identifier: MIT */
/*
 * bench_ed25519: cost of the Ed25519 key check (PROTOCOL.md 4.6) per key, the binary Jacobi symbol
 * path (gs_ed25519_key_is_valid) against the Euler's-criterion exponentiation it replaced
 * (gs_ed25519_key_is_valid_euler), in the same run, on the same keys.  Prints a small table and,
 * last, one JSON line.
 *
 *   bench_ed25519 [--seconds S] [--keys N]
 *
 * --seconds: time per measurement (default 0.3; each figure is the best of 3);
 * --keys: number of random 32-byte keys cycled through (default 4096).  The two methods must agree
 * on every key, or the program fails.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "ed25519_check.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile unsigned sink;

typedef bool (*check_fn)(const uint8_t key[GS_KEY_LEN]);

/* ns_per_key times |fn| over the |nkeys| keys for about |secs| and returns the best of 3. */
static double ns_per_key(check_fn fn, const uint8_t *keys, size_t nkeys, double secs)
{
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        uint64_t n = 0;
        unsigned acc = 0;
        double t0 = now_s();
        double t1;
        do {
            for (size_t i = 0; i < nkeys; ++i) {
                acc += fn(keys + GS_KEY_LEN * i);
            }
            n += nkeys;
            t1 = now_s();
        } while (t1 - t0 < secs / 3);
        sink ^= acc;
        double ns = (t1 - t0) * 1e9 / (double)n;
        if (best == 0 || ns < best) {
            best = ns;
        }
    }
    return best;
}

/* splitmix64: benchmark input only. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    double secs = 0.3;
    size_t nkeys = 4096;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            nkeys = (size_t)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_ed25519 [--seconds S] [--keys N]\n");
            return 2;
        }
    }
    if (secs <= 0 || secs > 60 || nkeys == 0 || nkeys > 1000000) {
        fprintf(stderr, "bench_ed25519: --seconds (0, 60], --keys 1..1000000\n");
        return 2;
    }

    uint8_t *keys = malloc(nkeys * GS_KEY_LEN);
    if (keys == NULL) {
        fprintf(stderr, "bench_ed25519: out of memory\n");
        return 1;
    }
    uint64_t seed = 25519;
    size_t nvalid = 0;
    for (size_t i = 0; i < nkeys; ++i) {
        for (int k = 0; k < 4; ++k) {
            uint64_t w = next_u64(&seed);
            memcpy(keys + GS_KEY_LEN * i + 8 * k, &w, 8);
        }
        bool fast = gs_ed25519_key_is_valid(keys + GS_KEY_LEN * i);
        if (fast != gs_ed25519_key_is_valid_euler(keys + GS_KEY_LEN * i)) {
            fprintf(stderr, "bench_ed25519: the two methods disagree on key %zu\n", i);
            free(keys);
            return 1;
        }
        nvalid += fast;
    }

    double fast_ns = ns_per_key(gs_ed25519_key_is_valid, keys, nkeys, secs);
    double euler_ns = ns_per_key(gs_ed25519_key_is_valid_euler, keys, nkeys, secs);
    /* a 4 KiB ShuffleReply carries about 120 PeerInfo entries, each with one key */
    const double keys_per_frame = 120;

    printf("Ed25519 key check, %zu random keys (%zu valid), single thread:\n", nkeys, nvalid);
    printf("  binary Jacobi (gs_ed25519_key_is_valid)     %8.1f ns/key  %6.3f M key/s\n", fast_ns,
           1e3 / fast_ns);
    printf("  Euler exponentiation (old, _euler)          %8.1f ns/key  %6.3f M key/s\n", euler_ns,
           1e3 / euler_ns);
    printf("  speedup %.2fx; a 4 KiB frame of ~120 keys: %.1f us (was %.1f us)\n",
           euler_ns / fast_ns, fast_ns * keys_per_frame / 1e3, euler_ns * keys_per_frame / 1e3);
    printf("{\"bench\":\"ed25519\",\"keys\":%zu,\"valid\":%zu,\"jacobi_ns\":%.1f,\"euler_ns\":%.1f,"
           "\"speedup\":%.2f}\n",
           nkeys, nvalid, fast_ns, euler_ns, euler_ns / fast_ns);
    free(keys);
    return 0;
}
