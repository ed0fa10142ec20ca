/* SPDX-License-Identifier: MIT */
/* view.c: one topic's membership queries (view.h).  The views are small: linear scans. */
#include "view.h"

#include <assert.h>
#include <string.h>

static bool key_eq(const gs_key *a, const gs_key *b)
{
    return memcmp(a->b, b->b, GS_KEY_LEN) == 0;
}

ptrdiff_t gs_view_active_find(const gs_view *v, const gs_key *peer)
{
    for (size_t i = 0; i < v->nactive; ++i) {
        if (key_eq(&v->active[i].rec.id, peer)) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

ptrdiff_t gs_view_passive_find(const gs_view *v, const gs_key *peer)
{
    for (size_t i = 0; i < v->npassive; ++i) {
        if (key_eq(&v->passive[i].id, peer)) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

ptrdiff_t gs_view_pending_find(const gs_view *v, const gs_key *peer)
{
    for (size_t i = 0; i < v->npending; ++i) {
        if (key_eq(&v->pending[i].id, peer)) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

bool gs_view_uses(const gs_view *v, const gs_key *peer)
{
    return gs_view_active_find(v, peer) >= 0 || gs_view_pending_find(v, peer) >= 0;
}

void gs_view_check(const gs_view *v, size_t nact, size_t npas, size_t npend, const gs_key *self)
{
    assert(v->nactive <= nact && v->npassive <= npas && v->npending <= npend);
    for (size_t i = 0; i < v->nactive; ++i) {
        assert(!key_eq(&v->active[i].rec.id, self));
        assert(gs_view_active_find(v, &v->active[i].rec.id) == (ptrdiff_t)i);
        assert(gs_view_passive_find(v, &v->active[i].rec.id) < 0);
    }
    for (size_t i = 0; i < v->npassive; ++i) {
        assert(!key_eq(&v->passive[i].id, self));
        assert(gs_view_passive_find(v, &v->passive[i].id) == (ptrdiff_t)i);
    }
    for (size_t i = 0; i < v->npending; ++i) {
        assert(!key_eq(&v->pending[i].id, self));
        assert(gs_view_pending_find(v, &v->pending[i].id) == (ptrdiff_t)i);
    }
    (void)nact;
    (void)npas;
    (void)npend;
    (void)self;
}
