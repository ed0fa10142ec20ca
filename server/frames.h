/* SPDX-License-Identifier: MIT */
/*
 * frames.h: immutable, reference-counted byte buffers shared across shards.  An encoded Gossip
 * frame is built once per message; every eager peer's send, on any shard, holds a reference to
 * the same bytes.  Received frames handed to another shard, and events handed to the control
 * thread, travel the same way.
 *
 * Threads: a frame is written only by its creator before it is shared; gs_frame_ref and
 * gs_frame_unref may be called from any thread (atomic count; the last unref frees, with acquire
 * ordering so every earlier reader's accesses happen before the free).
 */
#ifndef GS_SERVER_FRAMES_H
#define GS_SERVER_FRAMES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* gs_frame: |len| bytes at |data|; |tag| is free for the creator (e.g. a kind or a topic index). */
typedef struct gs_frame {
    _Atomic uint32_t refs;
    uint32_t tag;
    size_t len;
    uint8_t data[];
} gs_frame;

/* gs_frame_new allocates a frame of |len| bytes (contents uninitialised) with one reference, or
 * returns NULL when out of memory. */
gs_frame *gs_frame_new(size_t len);

/* gs_frame_ref adds a reference and returns |f|. */
gs_frame *gs_frame_ref(gs_frame *f);

/* gs_frame_unref drops a reference; the last one frees |f|.  NULL is a no-op. */
void gs_frame_unref(gs_frame *f);

/* gs_frames_live returns the number of frames allocated and not yet freed (process-wide; for
 * status and for leak checks in tests). */
uint64_t gs_frames_live(void);

#endif /* GS_SERVER_FRAMES_H */
