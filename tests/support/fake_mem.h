/* SPDX-License-Identifier: MIT */
/*
 * fake_mem.h: a gs_mem that fails the N-th allocation call (N = 0: never) and counts live
 * blocks, for failmalloc walks over every constructor and for leak checks in tests.
 */
#ifndef GS_TESTS_FAKE_MEM_H
#define GS_TESTS_FAKE_MEM_H

#include <stddef.h>

#include "gs_mem.h"

typedef struct gs_fake_mem {
    gs_mem mem;
    size_t fail_at; /* 1-based index of the allocation call to fail; 0 = never */
    size_t ncalls;  /* allocation calls so far (malloc, calloc, realloc) */
    size_t nlive;   /* blocks currently allocated */
    size_t nbytes;  /* bytes currently allocated */
    size_t peak_bytes;
} gs_fake_mem;

/* gs_fake_mem_init sets up |fm| to fail allocation call number |fail_at| (0: never fail). */
void gs_fake_mem_init(gs_fake_mem *fm, size_t fail_at);

#endif /* GS_TESTS_FAKE_MEM_H */
