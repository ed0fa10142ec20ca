/* SPDX-License-Identifier: MIT */
/*
 * gs_mem.h: allocator hooks.  Every proto constructor takes a const gs_mem * and allocates only
 * through it, so tests can inject failures (tests/support/fake_mem.h) and count live blocks.
 */
#ifndef GS_PROTO_GS_MEM_H
#define GS_PROTO_GS_MEM_H

#include <stddef.h>

typedef struct gs_mem {
    void *user_data;
    void *(*malloc)(size_t size, void *user_data);
    void (*free)(void *ptr, void *user_data);
    void *(*calloc)(size_t nmemb, size_t size, void *user_data);
    void *(*realloc)(void *ptr, size_t size, void *user_data);
} gs_mem;

/* gs_mem_default returns the process allocator (libc malloc, jemalloc in release executables). */
const gs_mem *gs_mem_default(void);

static inline void *gs_mem_malloc(const gs_mem *mem, size_t size)
{
    return mem->malloc(size, mem->user_data);
}

static inline void *gs_mem_calloc(const gs_mem *mem, size_t nmemb, size_t size)
{
    return mem->calloc(nmemb, size, mem->user_data);
}

static inline void *gs_mem_realloc(const gs_mem *mem, void *ptr, size_t size)
{
    return mem->realloc(ptr, size, mem->user_data);
}

static inline void gs_mem_free(const gs_mem *mem, void *ptr)
{
    mem->free(ptr, mem->user_data);
}

#endif /* GS_PROTO_GS_MEM_H */
