/* SPDX-License-Identifier: MIT */
/* fake_mem.c: see fake_mem.h.  Each block carries a 16-byte header holding its size. */
#include "fake_mem.h"

#include <stdlib.h>
#include <string.h>

#define HDR 16

static int should_fail(gs_fake_mem *fm)
{
    ++fm->ncalls;
    return fm->fail_at != 0 && fm->ncalls == fm->fail_at;
}

static void account(gs_fake_mem *fm, size_t add, size_t sub)
{
    fm->nbytes = fm->nbytes + add - sub;
    if (fm->nbytes > fm->peak_bytes) {
        fm->peak_bytes = fm->nbytes;
    }
}

static void *fm_malloc(size_t size, void *ud)
{
    gs_fake_mem *fm = ud;
    unsigned char *p;

    if (should_fail(fm)) {
        return NULL;
    }
    p = malloc(size + HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    ++fm->nlive;
    account(fm, size, 0);
    return p + HDR;
}

static void fm_free(void *ptr, void *ud)
{
    gs_fake_mem *fm = ud;
    unsigned char *p;
    size_t size;

    if (ptr == NULL) {
        return;
    }
    p = (unsigned char *)ptr - HDR;
    memcpy(&size, p, sizeof(size));
    --fm->nlive;
    account(fm, 0, size);
    free(p);
}

static void *fm_calloc(size_t nmemb, size_t size, void *ud)
{
    void *p;

    if (size != 0 && nmemb > (size_t)-1 / size) {
        return NULL;
    }
    p = fm_malloc(nmemb * size, ud);
    if (p != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void *fm_realloc(void *ptr, size_t size, void *ud)
{
    gs_fake_mem *fm = ud;
    unsigned char *old, *p;
    size_t oldsize;

    if (ptr == NULL) {
        return fm_malloc(size, ud);
    }
    if (should_fail(fm)) {
        return NULL;
    }
    old = (unsigned char *)ptr - HDR;
    memcpy(&oldsize, old, sizeof(oldsize));
    p = realloc(old, size + HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    account(fm, size, oldsize);
    return p + HDR;
}

void gs_fake_mem_init(gs_fake_mem *fm, size_t fail_at)
{
    memset(fm, 0, sizeof(*fm));
    fm->fail_at = fail_at;
    fm->mem.user_data = fm;
    fm->mem.malloc = fm_malloc;
    fm->mem.free = fm_free;
    fm->mem.calloc = fm_calloc;
    fm->mem.realloc = fm_realloc;
}
