/* SPDX-License-Identifier: MIT */
/*
 * quic_mem.c: the allocator each connection's ngtcp2 state is built with.
 *
 * Every block ngtcp2 allocates for a connection carries a header that links it into that
 * connection's list.  That gives two things:
 *  - the exact bytes of ngtcp2 state a connection holds (c->mem_bytes, summed in the endpoint's
 *    conn_mem gauge), so the cost of an idle or a half-open connection is measured, not guessed;
 *  - whatever ngtcp2 still holds after ngtcp2_conn_del is given back when the connection is
 *    freed, and counted (conn_mem_reclaimed).  ngtcp2 0.12.1 needs this: a STREAM frame chain
 *    allocated with more data vectors than its object pool takes is put in the pool's free list,
 *    and never freed, when a retransmission merges part of it into a new packet (its vector count
 *    drops below the pool threshold while the block stays a plain allocation; fixed upstream in
 *    1.6.0).  Without the list each occurrence would leak one block for the life of the process.
 * The cost is 32 bytes per block and two pointer updates per allocation and free.
 */
#include "quic_int.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

static_assert(sizeof(qmem_hdr) % alignof(max_align_t) == 0,
              "the header keeps ngtcp2's blocks aligned for any type");

static void hdr_link(qconn *c, qmem_hdr *h, size_t size)
{
    h->size = size;
    h->next = c->mem_list.next;
    h->prev = &c->mem_list;
    c->mem_list.next->prev = h;
    c->mem_list.next = h;
    c->mem_bytes += size;
    ++c->mem_blocks;
    c->ep->stats.conn_mem += size;
}

static void hdr_unlink(qconn *c, qmem_hdr *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
    c->mem_bytes -= h->size;
    --c->mem_blocks;
    c->ep->stats.conn_mem -= h->size;
}

static void *cm_malloc(size_t size, void *ud)
{
    qconn *c = ud;
    qmem_hdr *h;

    if (size > SIZE_MAX - sizeof(*h)) {
        return NULL;
    }
    h = gs_mem_malloc(c->ep->mem, sizeof(*h) + size);
    if (h == NULL) {
        return NULL;
    }
    hdr_link(c, h, size);
    return h + 1;
}

static void *cm_calloc(size_t nmemb, size_t size, void *ud)
{
    qconn *c = ud;
    qmem_hdr *h;

    if (size != 0 && nmemb > (SIZE_MAX - sizeof(*h)) / size) {
        return NULL;
    }
    h = gs_mem_calloc(c->ep->mem, 1, sizeof(*h) + nmemb * size);
    if (h == NULL) {
        return NULL;
    }
    hdr_link(c, h, nmemb * size);
    return h + 1;
}

static void cm_free(void *ptr, void *ud)
{
    qconn *c = ud;
    qmem_hdr *h;

    if (ptr == NULL) {
        return;
    }
    h = (qmem_hdr *)ptr - 1;
    hdr_unlink(c, h);
    gs_mem_free(c->ep->mem, h);
}

static void *cm_realloc(void *ptr, size_t size, void *ud)
{
    qconn *c = ud;
    qmem_hdr *h;
    qmem_hdr *n;

    if (ptr == NULL) {
        return cm_malloc(size, ud);
    }
    if (size == 0) {
        cm_free(ptr, ud);
        return NULL;
    }
    if (size > SIZE_MAX - sizeof(*h)) {
        return NULL;
    }
    h = (qmem_hdr *)ptr - 1;
    hdr_unlink(c, h);
    n = gs_mem_realloc(c->ep->mem, h, sizeof(*h) + size);
    if (n == NULL) {
        /* the old block is untouched and still ngtcp2's */
        hdr_link(c, h, h->size);
        return NULL;
    }
    hdr_link(c, n, size);
    return n + 1;
}

void gs_quic_conn_mem_init(qconn *c)
{
    c->mem_list.next = &c->mem_list;
    c->mem_list.prev = &c->mem_list;
    c->mem_bytes = 0;
    c->mem_blocks = 0;
    c->nmem.user_data = c;
    c->nmem.malloc = cm_malloc;
    c->nmem.free = cm_free;
    c->nmem.calloc = cm_calloc;
    c->nmem.realloc = cm_realloc;
}

size_t gs_quic_conn_mem_release(qconn *c)
{
    size_t n = 0;

    while (c->mem_list.next != &c->mem_list) {
        qmem_hdr *h = c->mem_list.next;

        hdr_unlink(c, h);
        gs_mem_free(c->ep->mem, h);
        ++n;
    }
    c->ep->stats.conn_mem_reclaimed += n;
    return n;
}
