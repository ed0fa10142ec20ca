/* SPDX-License-Identifier: MIT */
/*
 * bench_blake3: BLAKE3 throughput (64 B, 1 KiB, 4 KiB, 1 MiB inputs, every SIMD level the CPU
 * has, and every single-block compression at 64 B, 1 KiB and 4 KiB with the calibrated choice), a
 * same-run comparison with Debian's b3sum on one file, and the codec's decode / encode rate for a
 * Gossip message with a 64-byte payload.  Prints a human table and, last, one JSON line with every
 * figure.
 *
 *   bench_blake3 [--file-mb N] [--seconds S] [--no-b3sum]
 *
 * --file-mb: size of the file hashed by b3sum --num-threads 1 and by us (default 256);
 * --seconds: time spent per measurement (default 0.4).  Each figure is the best of 3 runs.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blake3.h"
#include "codec.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile uint8_t sink;

/* hash_rate returns bytes per second hashing |len|-byte inputs for about |secs| (best of 3). */
static double hash_rate(const uint8_t *buf, size_t len, double secs)
{
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        uint64_t iters = 0;
        uint8_t out[32];
        double t0 = now_s();
        double t1 = t0;
        /* check the clock every batch only: a 64-byte hash takes ~100 ns */
        size_t batch = len >= 65536 ? 1 : (size_t)(262144 / len);
        do {
            for (size_t i = 0; i < batch; ++i) {
                gs_blake3_hash(buf, len, out);
                sink ^= out[0];
            }
            iters += batch;
            t1 = now_s();
        } while (t1 - t0 < secs / 3);
        double rate = (double)iters * (double)len / (t1 - t0);
        if (rate > best) {
            best = rate;
        }
    }
    return best;
}

/*
 * many_rate returns bytes per second hashing batches of 64 inputs of |len| bytes (distinct
 * addresses inside |buf|) with gs_blake3_hash_many, best of 3.
 */
static double many_rate(const uint8_t *buf, size_t len, double secs)
{
    enum {
        NB = 64
    };
    const uint8_t *inputs[NB];
    size_t lens[NB];
    uint8_t out[NB][32];
    for (size_t i = 0; i < NB; ++i) {
        inputs[i] = buf + i * len;
        lens[i] = len;
    }
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        uint64_t iters = 0;
        double t0 = now_s();
        double t1;
        do {
            for (int k = 0; k < 16; ++k) {
                gs_blake3_hash_many(inputs, lens, NB, out);
                sink ^= out[k][0];
            }
            iters += 16 * NB;
            t1 = now_s();
        } while (t1 - t0 < secs / 3);
        double rate = (double)iters * (double)len / (t1 - t0);
        if (rate > best) {
            best = rate;
        }
    }
    return best;
}

/*
 * file_hash hashes |path| the way b3sum does (mmap, one update call over the mapping), returning
 * seconds including open/mmap/munmap; |out| gets the digest.
 */
static double file_hash(const char *path, uint8_t out[32])
{
    double t0 = now_s();
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return -1;
    }
    gs_blake3 h;
    gs_blake3_init(&h);
    gs_blake3_update(&h, map, len);
    gs_blake3_finalize(&h, out, 32);
    munmap(map, len);
    return now_s() - t0;
}

/* b3sum_hash runs b3sum --num-threads 1 on |path|: seconds, or -1; |hex| gets its digest. */
static double b3sum_hash(const char *path, char hex[65])
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "b3sum --num-threads 1 '%s' 2>/dev/null", path);
    double t0 = now_s();
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[256] = {0};
    bool got = fgets(line, sizeof(line), p) != NULL;
    int st = pclose(p);
    double t = now_s() - t0;
    if (!got || st != 0 || strlen(line) < 64) {
        return -1;
    }
    memcpy(hex, line, 64);
    hex[64] = '\0';
    return t;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; ++i) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
}

typedef struct codec_rates {
    size_t body_len;
    double decode_per_s;
    double encode_per_s;
    double decode_verify_per_s; /* decode + BLAKE3(content) == id */
    double key_check_per_s;
} codec_rates;

static void codec_bench(double secs, codec_rates *cr)
{
    uint8_t content[64];
    for (size_t i = 0; i < sizeof(content); ++i) {
        content[i] = (uint8_t)(i * 7);
    }
    gs_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_GOSSIP;
    m.gossip.content.base = content;
    m.gossip.content.len = sizeof(content);
    m.gossip.scope = GS_SCOPE_SWARM;
    m.gossip.round = 3;
    gs_blake3_hash(content, sizeof(content), m.gossip.id.b);
    uint8_t frame[256];
    gs_ssize flen = gs_codec_encode_frame(frame, sizeof(frame), &m, GS_MAX_MESSAGE_SIZE_DEFAULT);
    if (flen < 0) {
        fprintf(stderr, "bench_blake3: encode failed\n");
        exit(1);
    }
    cr->body_len = (size_t)flen - GS_FRAME_PREFIX_LEN;
    const size_t batch = 4096;

    for (int which = 0; which < 4; ++which) {
        double best = 0;
        for (int rep = 0; rep < 3; ++rep) {
            uint64_t iters = 0;
            double t0 = now_s();
            double t1;
            do {
                for (size_t i = 0; i < batch; ++i) {
                    gs_msg d;
                    uint8_t id[32];
                    static const uint8_t key[32] = {0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d,
                                                    0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d, 0x73,
                                                    0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2, 0x43, 0xa6,
                                                    0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29};
                    switch (which) {
                    case 0:
                        if (gs_codec_decode(&d, frame + 4, cr->body_len, NULL) != 0) {
                            exit(1);
                        }
                        sink ^= d.gossip.id.b[(i & 31)];
                        break;
                    case 1:
                        sink ^= (uint8_t)gs_codec_encode_frame(frame, sizeof(frame), &m,
                                                               GS_MAX_MESSAGE_SIZE_DEFAULT);
                        break;
                    case 2:
                        if (gs_codec_decode(&d, frame + 4, cr->body_len, NULL) != 0) {
                            exit(1);
                        }
                        gs_blake3_hash(d.gossip.content.base, d.gossip.content.len, id);
                        sink ^= (uint8_t)(memcmp(id, d.gossip.id.b, 32) == 0);
                        break;
                    default:
                        sink ^= (uint8_t)gs_ed25519_key_is_valid(key);
                        break;
                    }
                }
                iters += batch;
                t1 = now_s();
            } while (t1 - t0 < secs / 3);
            double rate = (double)iters / (t1 - t0);
            if (rate > best) {
                best = rate;
            }
        }
        switch (which) {
        case 0:
            cr->decode_per_s = best;
            break;
        case 1:
            cr->encode_per_s = best;
            break;
        case 2:
            cr->decode_verify_per_s = best;
            break;
        default:
            cr->key_check_per_s = best;
            break;
        }
    }
}

int main(int argc, char **argv)
{
    size_t file_mb = 256;
    double secs = 0.4;
    bool use_b3sum = true;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--file-mb") == 0 && i + 1 < argc) {
            file_mb = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--no-b3sum") == 0) {
            use_b3sum = false;
        } else {
            fprintf(stderr, "usage: bench_blake3 [--file-mb N] [--seconds S] [--no-b3sum]\n");
            return 2;
        }
    }
    if (file_mb == 0 || file_mb > 4096 || secs <= 0 || secs > 60) {
        fprintf(stderr, "bench_blake3: --file-mb 1..4096, --seconds (0, 60]\n");
        return 2;
    }

    static const size_t sizes[] = {64, 1024, 4096, 1 << 20};
    static const char *const size_names[] = {"64B", "1KiB", "4KiB", "1MiB"};
    static const char *const level_names[] = {"portable", "sse41", "avx2", "avx512"};
    enum {
        NSIZES = 4,
        NLEVELS = 4
    };
    double rates[NLEVELS][NSIZES];
    memset(rates, 0, sizeof(rates));
    uint8_t *buf = malloc(1 << 20);
    if (buf == NULL) {
        return 1;
    }
    for (size_t i = 0; i < (1 << 20); ++i) {
        buf[i] = (uint8_t)(i % 251);
    }
    int best_level = gs_blake3_set_simd_level(-1);

    printf("BLAKE3 one-shot hashing, GB/s (best of 3, %.2fs each)\n", secs);
    printf("%-10s %10s %10s %10s %10s\n", "impl", size_names[0], size_names[1], size_names[2],
           size_names[3]);
    for (int lvl = 0; lvl <= best_level; ++lvl) {
        gs_blake3_set_simd_level(lvl);
        printf("%-10s", level_names[lvl]);
        for (int s = 0; s < NSIZES; ++s) {
            rates[lvl][s] = hash_rate(buf, sizes[s], secs);
            printf(" %10.3f", rates[lvl][s] / 1e9);
            fflush(stdout);
        }
        printf("\n");
    }
    gs_blake3_set_simd_level(-1);
    printf("(64B: %.0f ns per hash with %s)\n", 64.0 / rates[best_level][0] * 1e9,
           level_names[best_level]);

    /* The single-block compression (every message of at most one chunk) per implementation,
     * at the best SIMD level, and the one the load-time calibration picked. */
    static const char *const single_names[] = {"portable", "sse41-rows", "avx2-rows",
                                               "avx512-rows"};
    double srates[GS_BLAKE3_NSINGLE][3];
    bool shave[GS_BLAKE3_NSINGLE];
    int sdefault = gs_blake3_set_single_impl(-1);
    printf("\nSingle-block compression (messages up to 1 KiB), GB/s; calibrated choice: %s\n",
           single_names[sdefault]);
    printf("%-12s %10s %10s %10s\n", "single", size_names[0], size_names[1], size_names[2]);
    for (int k = 0; k < GS_BLAKE3_NSINGLE; ++k) {
        shave[k] = gs_blake3_set_single_impl(k) == k;
        if (!shave[k]) {
            continue;
        }
        printf("%-12s", single_names[k]);
        for (int sz = 0; sz < 3; ++sz) {
            srates[k][sz] = hash_rate(buf, sizes[sz], secs);
            printf(" %10.3f", srates[k][sz] / 1e9);
            fflush(stdout);
        }
        printf("%s\n", k == sdefault ? "  (default)" : "");
    }
    gs_blake3_set_single_impl(sdefault);
    double many64 = many_rate(buf, 64, secs);
    double many1k = many_rate(buf, 1024, secs);
    printf("gs_blake3_hash_many, batches of 64 inputs: 64B %.3f GB/s (%.0f ns per hash), "
           "1KiB %.3f GB/s\n",
           many64 / 1e9, 64.0 / many64 * 1e9, many1k / 1e9);

    /* Same-run comparison with b3sum on one file, both single-threaded. */
    double ours_s = -1;
    double b3_s = -1;
    bool match = false;
    if (use_b3sum) {
        char path[] = "/tmp/bench_blake3.XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) {
            perror("mkstemp");
            return 1;
        }
        for (size_t i = 0; i < file_mb; ++i) {
            if (write(fd, buf, 1 << 20) != (1 << 20)) {
                perror("write");
                close(fd);
                unlink(path);
                return 1;
            }
        }
        close(fd);
        uint8_t ours[32];
        char ours_hex[65];
        char b3_hex[65] = {0};
        for (int rep = 0; rep < 3; ++rep) {
            double t = file_hash(path, ours);
            if (t > 0 && (ours_s < 0 || t < ours_s)) {
                ours_s = t;
            }
            t = b3sum_hash(path, b3_hex);
            if (t > 0 && (b3_s < 0 || t < b3_s)) {
                b3_s = t;
            }
        }
        unlink(path);
        to_hex(ours, 32, ours_hex);
        match = b3_s > 0 && strcmp(ours_hex, b3_hex) == 0;
        double mb = (double)file_mb * 1048576.0;
        printf("\n%zu MiB file in the page cache, single thread, both mmap it (best of 3):\n",
               file_mb);
        printf("  gossipd (%s)         %8.3f GB/s  %8.1f ms\n", level_names[best_level],
               mb / ours_s / 1e9, ours_s * 1e3);
        if (b3_s > 0) {
            printf("  b3sum --num-threads 1  %8.3f GB/s  %8.1f ms  (ratio ours/b3sum %.2f)\n",
                   mb / b3_s / 1e9, b3_s * 1e3, b3_s / ours_s);
            printf("  digests %s\n", match ? "match" : "DIFFER");
        } else {
            printf("  b3sum not available\n");
        }
    }

    codec_rates cr;
    memset(&cr, 0, sizeof(cr));
    codec_bench(secs, &cr);
    printf("\nCodec, Gossip with a 64-byte payload (body %zu bytes), single thread:\n",
           cr.body_len);
    printf("  decode                 %8.2f M msg/s  %6.1f ns\n", cr.decode_per_s / 1e6,
           1e9 / cr.decode_per_s);
    printf("  encode (frame)         %8.2f M msg/s  %6.1f ns\n", cr.encode_per_s / 1e6,
           1e9 / cr.encode_per_s);
    printf("  decode + id check      %8.2f M msg/s  %6.1f ns\n", cr.decode_verify_per_s / 1e6,
           1e9 / cr.decode_verify_per_s);
    printf("  Ed25519 key check      %8.3f M key/s  %6.1f ns\n", cr.key_check_per_s / 1e6,
           1e9 / cr.key_check_per_s);

    printf("{\"bench\":\"blake3\",\"simd\":\"%s\"", level_names[best_level]);
    for (int lvl = 0; lvl <= best_level; ++lvl) {
        printf(",\"%s_gbps\":{", level_names[lvl]);
        for (int s = 0; s < NSIZES; ++s) {
            printf("%s\"%s\":%.3f", s ? "," : "", size_names[s], rates[lvl][s] / 1e9);
        }
        printf("}");
    }
    if (use_b3sum) {
        double mb = (double)file_mb * 1048576.0;
        printf(",\"file_mb\":%zu,\"ours_file_gbps\":%.3f", file_mb, mb / ours_s / 1e9);
        if (b3_s > 0) {
            printf(",\"b3sum_file_gbps\":%.3f,\"ratio_ours_over_b3sum\":%.3f,\"digest_match\":%s",
                   mb / b3_s / 1e9, b3_s / ours_s, match ? "true" : "false");
        }
    }
    printf(",\"hash_many_gbps\":{\"64B\":%.3f,\"1KiB\":%.3f}", many64 / 1e9, many1k / 1e9);
    printf(",\"single_default\":\"%s\",\"single_gbps\":{", single_names[sdefault]);
    for (int k = 0, first = 1; k < GS_BLAKE3_NSINGLE; ++k) {
        if (shave[k]) {
            printf("%s\"%s\":{\"64B\":%.3f,\"1KiB\":%.3f,\"4KiB\":%.3f}", first ? "" : ",",
                   single_names[k], srates[k][0] / 1e9, srates[k][1] / 1e9, srates[k][2] / 1e9);
            first = 0;
        }
    }
    printf("}");
    printf(",\"codec_gossip64\":{\"body_len\":%zu,\"decode_mps\":%.3f,\"encode_mps\":%.3f,"
           "\"decode_id_check_mps\":%.3f,\"key_check_mps\":%.4f}}\n",
           cr.body_len, cr.decode_per_s / 1e6, cr.encode_per_s / 1e6, cr.decode_verify_per_s / 1e6,
           cr.key_check_per_s / 1e6);
    free(buf);
    return use_b3sum && b3_s > 0 && !match ? 1 : 0;
}
