/* SPDX-License-Identifier: MIT */
#include "frames.h"

#include <stdlib.h>

static _Atomic uint64_t frames_live;

gs_frame *gs_frame_new(size_t len)
{
    gs_frame *f = malloc(sizeof(*f) + (len ? len : 1));

    if (f == NULL) {
        return NULL;
    }
    atomic_init(&f->refs, 1);
    f->tag = 0;
    f->len = len;
    atomic_fetch_add_explicit(&frames_live, 1, memory_order_relaxed);
    return f;
}

gs_frame *gs_frame_ref(gs_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void gs_frame_unref(gs_frame *f)
{
    if (f == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub_explicit(&frames_live, 1, memory_order_relaxed);
        free(f);
    }
}

uint64_t gs_frames_live(void)
{
    return atomic_load_explicit(&frames_live, memory_order_relaxed);
}
