/* SPDX-License-Identifier: MIT */
/* gs_mem.c: the default allocator, a thin wrapper over the process malloc. */
#include "gs_mem.h"

#include <stdlib.h>

static void *def_malloc(size_t size, void *user_data)
{
    (void)user_data;
    return malloc(size);
}

static void def_free(void *ptr, void *user_data)
{
    (void)user_data;
    free(ptr);
}

static void *def_calloc(size_t nmemb, size_t size, void *user_data)
{
    (void)user_data;
    return calloc(nmemb, size);
}

static void *def_realloc(void *ptr, size_t size, void *user_data)
{
    (void)user_data;
    return realloc(ptr, size);
}

static const gs_mem default_mem = {
    .user_data = NULL,
    .malloc = def_malloc,
    .free = def_free,
    .calloc = def_calloc,
    .realloc = def_realloc,
};

const gs_mem *gs_mem_default(void)
{
    return &default_mem;
}
