/* SPDX-License-Identifier: MIT */
#include "mailbox.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(gs_udp_addr) <= 32, "gs_udp_addr must fit a record's topic field");

/* backlog: a growable circular FIFO of records, owned by the sender. */
typedef struct backlog {
    gs_mbox_rec *recs;
    size_t cap;
    size_t head;
    size_t n;
} backlog;

/* port: one endpoint's sending side and doorbell. */
typedef struct port {
    _Alignas(GS_RING_CACHELINE) _Atomic int sleeping;
    gs_mesh_wake_fn *wake;
    void *wake_arg;
    _Alignas(GS_RING_CACHELINE) backlog *backlogs; /* [dst] */
    bool *staged;                                  /* [dst]: records pushed since the last flush */
    unsigned next_src;                             /* receiver's round-robin start */
    _Atomic uint64_t backlogged;
    _Atomic uint64_t refused;
    _Atomic uint64_t wakes;
    _Atomic uint64_t backlog_now;
} port;

struct gs_mesh {
    unsigned n;
    size_t backlog_max;
    gs_mesh_drop_fn *drop;
    gs_ring *rings; /* [src * n + dst] */
    port *ports;
};

static void relaxed_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

int gs_mesh_new(gs_mesh **pm, unsigned n, size_t ring_cap, size_t backlog_max,
                gs_mesh_drop_fn *drop)
{
    gs_mesh *m;
    int rv;

    if (n == 0 || n > 1024 || ring_cap == 0) {
        return GS_ERR_INVAL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return GS_ERR_NOMEM;
    }
    m->n = n;
    m->backlog_max = backlog_max;
    m->drop = drop;
    m->rings = aligned_alloc(GS_RING_CACHELINE, sizeof(gs_ring) * n * n);
    m->ports = aligned_alloc(GS_RING_CACHELINE, sizeof(port) * n);
    if (m->rings == NULL || m->ports == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_alloc;
    }
    memset(m->ports, 0, sizeof(port) * n);
    for (unsigned i = 0; i < n * n; ++i) {
        rv = gs_ring_init(&m->rings[i], ring_cap, sizeof(gs_mbox_rec));
        if (rv < 0) {
            while (i-- > 0) {
                gs_ring_free(&m->rings[i]);
            }
            goto fail_alloc;
        }
    }
    for (unsigned i = 0; i < n; ++i) {
        atomic_init(&m->ports[i].sleeping, 0);
        m->ports[i].backlogs = calloc(n, sizeof(backlog));
        m->ports[i].staged = calloc(n, sizeof(bool));
        if (m->ports[i].backlogs == NULL || m->ports[i].staged == NULL) {
            m->n = n;
            gs_mesh_del(m);
            return GS_ERR_NOMEM;
        }
    }
    *pm = m;
    return 0;

fail_alloc:
    free(m->rings);
    free(m->ports);
    free(m);
    return rv;
}

void gs_mesh_del(gs_mesh *m)
{
    gs_mbox_rec rec;

    if (m == NULL) {
        return;
    }
    for (unsigned s = 0; s < m->n; ++s) {
        port *p = &m->ports[s];

        for (unsigned d = 0; d < m->n && p->backlogs != NULL; ++d) {
            backlog *b = &p->backlogs[d];

            for (size_t i = 0; i < b->n && m->drop != NULL; ++i) {
                m->drop(&b->recs[(b->head + i) % b->cap]);
            }
            free(b->recs);
        }
        free(p->backlogs);
        free(p->staged);
    }
    for (unsigned i = 0; i < m->n * m->n; ++i) {
        gs_ring *r = &m->rings[i];

        (void)gs_ring_publish(r);
        while (gs_ring_pop(r, &rec, 1) == 1) {
            if (m->drop != NULL) {
                m->drop(&rec);
            }
        }
        gs_ring_free(r);
    }
    free(m->rings);
    free(m->ports);
    free(m);
}

void gs_mesh_set_wake(gs_mesh *m, unsigned ep, gs_mesh_wake_fn *fn, void *arg)
{
    m->ports[ep].wake = fn;
    m->ports[ep].wake_arg = arg;
}

unsigned gs_mesh_size(const gs_mesh *m)
{
    return m->n;
}

static bool backlog_push(backlog *b, size_t max, const gs_mbox_rec *rec)
{
    if (b->n >= max) {
        return false;
    }
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        gs_mbox_rec *nr;

        if (ncap > max) {
            ncap = max;
        }
        nr = malloc(ncap * sizeof(*nr));
        if (nr == NULL) {
            return false;
        }
        for (size_t i = 0; i < b->n; ++i) {
            nr[i] = b->recs[(b->head + i) % b->cap];
        }
        free(b->recs);
        b->recs = nr;
        b->cap = ncap;
        b->head = 0;
    }
    b->recs[(b->head + b->n) % b->cap] = *rec;
    b->n++;
    return true;
}

static int mesh_send(gs_mesh *m, unsigned src, unsigned dst, const gs_mbox_rec *rec, size_t max)
{
    port *p = &m->ports[src];
    backlog *b = &p->backlogs[dst];
    gs_mbox_rec r = *rec;

    r.src = (uint16_t)src;
    if (b->n == 0 && gs_ring_push(&m->rings[src * m->n + dst], &r)) {
        p->staged[dst] = true;
        return 0;
    }
    if (!backlog_push(b, max, &r)) {
        relaxed_add(&p->refused, 1);
        return GS_ERR_LIMIT;
    }
    relaxed_add(&p->backlogged, 1);
    relaxed_add(&p->backlog_now, 1);
    return 0;
}

int gs_mesh_send(gs_mesh *m, unsigned src, unsigned dst, const gs_mbox_rec *rec)
{
    return mesh_send(m, src, dst, rec, m->backlog_max);
}

int gs_mesh_send_ctl(gs_mesh *m, unsigned src, unsigned dst, const gs_mbox_rec *rec)
{
    return mesh_send(m, src, dst, rec, GS_MESH_CTL_FACTOR * m->backlog_max + 1024);
}

bool gs_mesh_flush(gs_mesh *m, unsigned src)
{
    port *p = &m->ports[src];
    bool left = false;
    bool fenced = false;

    for (unsigned d = 0; d < m->n; ++d) {
        gs_ring *r = &m->rings[src * m->n + d];
        backlog *b = &p->backlogs[d];
        size_t moved = 0;

        while (b->n > 0 && gs_ring_push(r, &b->recs[b->head])) {
            b->head = (b->head + 1) % b->cap;
            b->n--;
            moved++;
        }
        if (moved > 0) {
            atomic_store_explicit(&p->backlog_now,
                                  atomic_load_explicit(&p->backlog_now, memory_order_relaxed) -
                                      moved,
                                  memory_order_relaxed);
        }
        left = left || b->n > 0;
        if (gs_ring_publish(r) == 0) {
            continue;
        }
        p->staged[d] = false;
        if (!fenced) {
            /* Pairs with the fence in gs_mesh_sleep_begin: either we see the receiver's flag or
             * it sees our tail. */
            atomic_thread_fence(memory_order_seq_cst);
            fenced = true;
        }
        if (atomic_load_explicit(&m->ports[d].sleeping, memory_order_relaxed) &&
            m->ports[d].wake != NULL) {
            m->ports[d].wake(m->ports[d].wake_arg);
            relaxed_add(&p->wakes, 1);
        }
    }
    return left;
}

size_t gs_mesh_recv(gs_mesh *m, unsigned dst, gs_mbox_rec *out, size_t max)
{
    port *p = &m->ports[dst];
    size_t got = 0;

    for (unsigned i = 0; i < m->n && got < max; ++i) {
        unsigned s = (p->next_src + i) % m->n;

        got += gs_ring_pop(&m->rings[s * m->n + dst], out + got, max - got);
    }
    p->next_src = (p->next_src + 1) % m->n;
    return got;
}

bool gs_mesh_sleep_begin(gs_mesh *m, unsigned me)
{
    atomic_store_explicit(&m->ports[me].sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    for (unsigned s = 0; s < m->n; ++s) {
        if (gs_ring_pending(&m->rings[s * m->n + me])) {
            return false;
        }
    }
    return true;
}

void gs_mesh_sleep_end(gs_mesh *m, unsigned me)
{
    atomic_store_explicit(&m->ports[me].sleeping, 0, memory_order_relaxed);
}

void gs_mesh_stats_get(const gs_mesh *m, unsigned ep, gs_mesh_stats *st)
{
    const port *p = &m->ports[ep];
    gs_ring_stats rs;

    memset(st, 0, sizeof(*st));
    for (unsigned o = 0; o < m->n; ++o) {
        gs_ring_stats_get(&m->rings[ep * m->n + o], &rs);
        st->sent += rs.pushed;
        gs_ring_stats_get(&m->rings[o * m->n + ep], &rs);
        st->received += rs.popped;
    }
    st->backlogged = atomic_load_explicit(&p->backlogged, memory_order_relaxed);
    st->refused = atomic_load_explicit(&p->refused, memory_order_relaxed);
    st->wakes = atomic_load_explicit(&p->wakes, memory_order_relaxed);
    st->backlog = atomic_load_explicit(&p->backlog_now, memory_order_relaxed);
}
