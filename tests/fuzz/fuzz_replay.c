/* SPDX-License-Identifier: MIT */
/*
 * fuzz_replay.c: main() for fuzz targets built without libFuzzer.  Every regular file of the
 * directories given on the command line is read and run once through LLVMFuzzerTestOneInput (an
 * exact-size heap copy, so ASan sees reads past the end).  A target reports a broken invariant by
 * aborting; an empty corpus is an error (the test would prove nothing).
 */
#define _POSIX_C_SOURCE 200809L /* opendir/readdir */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_REPLAY_MAX (1u << 20)

static int fz_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *buf = malloc(FZ_REPLAY_MAX);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, FZ_REPLAY_MAX, f);
    fclose(f);
    uint8_t *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) {
        free(buf);
        return -1;
    }
    memcpy(copy, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    size_t nfiles = 0;
    for (int i = 1; i < argc; ++i) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            fprintf(stderr, "fuzz replay: cannot open directory %s\n", argv[i]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            if (fz_replay_file(path) != 0) {
                closedir(d);
                return 1;
            }
            ++nfiles;
        }
        closedir(d);
    }
    printf("%s: %zu inputs, no invariant broken\n", argv[0], nfiles);
    return nfiles > 0 ? 0 : 1;
}
