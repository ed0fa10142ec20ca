/* SPDX-License-Identifier: MIT */
/*
 * mailbox.h: the records shards (and the control thread) exchange, and the mesh of SPSC rings
 * that carries them: one ring per ordered pair of endpoints (ring.h), each with a bounded backlog
 * on the sender's side and a doorbell on the receiver's side.
 *
 * Endpoints are numbered 0..n-1: shards 0..nshards-1, then the control thread.
 *
 * Sending: gs_mesh_send stages a record (into the ring, or, when the ring is full or earlier
 * records already wait, into the sender's backlog for that ring).  gs_mesh_flush, once per loop
 * turn, moves backlog records into the rings as space allows, publishes every ring with one release
 * store each and rings the doorbell of each receiver that got records and may be asleep.
 *
 * Full-ring policy: a full ring never blocks and never spins.  Records wait in the sender's
 * backlog (order kept) up to |backlog_max| records per ring; beyond that gs_mesh_send refuses the
 * record with GS_ERR_LIMIT and counts it, and the caller drops it (releasing any reference it
 * carries).  No thread ever waits for another, so the mesh cannot deadlock.
 *
 * Sleeping: a receiver calls gs_mesh_sleep_begin before it may block; it publishes "I may sleep"
 * and re-checks its rings (seq_cst fence on both sides, so either the sender sees the flag and
 * rings, or the receiver sees the records and does not block).
 *
 * Threads: gs_mesh_send/flush only from the endpoint |src|'s thread; gs_mesh_recv and the sleep
 * calls only from |dst|'s / |me|'s thread; gs_mesh_stats_get from any thread.
 */
#ifndef GS_SERVER_MAILBOX_H
#define GS_SERVER_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"
#include "ring.h"
#include "udp.h"

typedef enum gs_mbox_type {
    /* conn shard -> topic shard: |ptr| is a gs_frame holding the body |peer| sent on |topic|. */
    GS_MBOX_FRAME_IN = 1,
    /* topic shard -> conn (or home) shard: send the gs_frame |ptr| (length prefix included) to
     * |peer| on |topic|; |a| holds GS_MBOX_SEND_* flags. */
    GS_MBOX_SEND = 2,
    /* conn shard -> every shard: |peer|'s newest send path is on shard |a|, sequence |b|. */
    GS_MBOX_PEER_UP = 3,
    /* conn/home shard -> every shard: |peer|'s send path |b| closed (|b| = 0: a dial failed and
     * no connection exists). */
    GS_MBOX_PEER_DOWN = 4,
    /* topic shard -> conn shard: a topic of shard |src| uses (|a| = 1) or no longer uses (0)
     * |peer|. */
    GS_MBOX_USE = 5,
    /* any -> |peer|'s home shard: an address for |peer| (|addr|); |a| = 1 keeps it for ever
     * (configured), 0 lets it expire (learned). */
    GS_MBOX_ADDR = 6,
    /* control -> shard: |ptr| is a gs_ctl_req (control.h) to execute. */
    GS_MBOX_CTL = 7,
    /* shard -> control: |ptr| is the gs_ctl_req, answered. */
    GS_MBOX_CTL_DONE = 8,
    /* shard -> control: |ptr| is a gs_frame holding a gs_event (shard.h) for |topic|. */
    GS_MBOX_EVENT = 9,
    /* shard -> owning shard |a|: |ptr| is a gs_frame holding a stray datagram. */
    GS_MBOX_DATAGRAM = 10,
    /* conn shard -> topic shard: the Gossip frame |ptr| (a gs_frame, length prefix included) to
     * |peer| on |topic| was dropped under back-pressure; announce it by IHave instead. */
    GS_MBOX_DROPPED = 11,
} gs_mbox_type;

#define GS_MBOX_SEND_DATA 0x1u /* a Gossip frame: may be dropped under back-pressure */
#define GS_MBOX_SEND_FIN  0x2u /* finish the topic's stream after this frame (Disconnect) */

/* gs_mbox_rec: one fixed-size record (copied by value through the rings). */
typedef struct gs_mbox_rec {
    uint16_t type; /* gs_mbox_type */
    uint16_t src;  /* sending endpoint */
    uint32_t a;
    uint64_t b;
    void *ptr;
    uint8_t peer[32];
    union {
        uint8_t topic[32];
        gs_udp_addr addr;
    };
} gs_mbox_rec;

#define GS_MESH_CTL_FACTOR 4 /* control records' backlog bound, in units of backlog_max */

/* gs_mesh_wake_fn rings endpoint |arg|'s doorbell (called from the sender's thread). */
typedef void gs_mesh_wake_fn(void *arg);

/* gs_mesh_drop_fn releases what an undelivered record references (at gs_mesh_del). */
typedef void gs_mesh_drop_fn(const gs_mbox_rec *rec);

/* gs_mesh_stats: one endpoint's mailbox counters (sums over its rings). */
typedef struct gs_mesh_stats {
    uint64_t sent;       /* records published by this endpoint */
    uint64_t received;   /* records consumed by this endpoint */
    uint64_t backlogged; /* records that waited in this endpoint's backlog (ring full) */
    uint64_t refused;    /* records refused: backlog full (dropped by the caller) */
    uint64_t wakes;      /* doorbells this endpoint rang */
    uint64_t backlog;    /* gauge: records now in this endpoint's backlogs */
} gs_mesh_stats;

typedef struct gs_mesh gs_mesh;

/*
 * gs_mesh_new creates the rings between |n| endpoints, |ring_cap| records each, with backlogs of
 * at most |backlog_max| records per ring.  Returns 0, GS_ERR_INVAL or GS_ERR_NOMEM.
 */
int gs_mesh_new(gs_mesh **pm, unsigned n, size_t ring_cap, size_t backlog_max,
                gs_mesh_drop_fn *drop);

/* gs_mesh_del frees the mesh, passing every undelivered record to the drop function.  Only after
 * every endpoint's thread has stopped.  NULL is a no-op. */
void gs_mesh_del(gs_mesh *m);

/* gs_mesh_set_wake sets endpoint |ep|'s doorbell (before any thread starts). */
void gs_mesh_set_wake(gs_mesh *m, unsigned ep, gs_mesh_wake_fn *fn, void *arg);

/* gs_mesh_size returns the number of endpoints. */
unsigned gs_mesh_size(const gs_mesh *m);

/*
 * gs_mesh_send stages |rec| (rec->src is set to |src|) for |dst| (src != dst).  Returns 0 or
 * GS_ERR_LIMIT (backlog full: refused and counted; the caller still owns what |rec| references).
 */
int gs_mesh_send(gs_mesh *m, unsigned src, unsigned dst, const gs_mbox_rec *rec);

/*
 * gs_mesh_send_ctl is gs_mesh_send for control-plane records (peer facts, address records, control
 * requests and their answers), whose number is bounded by what causes them (connections,
 * clients' pending requests): their backlog bound is GS_MESH_CTL_FACTOR times larger (plus 1024),
 * so a burst of data records cannot make a peer fact or a control answer get lost.
 */
int gs_mesh_send_ctl(gs_mesh *m, unsigned src, unsigned dst, const gs_mbox_rec *rec);

/* gs_mesh_flush publishes everything |src| staged and rings the doorbells of sleeping receivers.
 * Returns true if records remain in a backlog (call again next turn). */
bool gs_mesh_flush(gs_mesh *m, unsigned src);

/* gs_mesh_recv copies up to |max| records addressed to |dst| into |out| (fair over senders).
 * Returns the number copied. */
size_t gs_mesh_recv(gs_mesh *m, unsigned dst, gs_mbox_rec *out, size_t max);

/* gs_mesh_sleep_begin marks |me| as possibly sleeping and returns true if it may sleep (no record
 * is waiting); false means records arrived: do not block.  Pair with gs_mesh_sleep_end. */
bool gs_mesh_sleep_begin(gs_mesh *m, unsigned me);

/* gs_mesh_sleep_end clears the mark set by gs_mesh_sleep_begin. */
void gs_mesh_sleep_end(gs_mesh *m, unsigned me);

/* gs_mesh_stats_get sums endpoint |ep|'s counters (any thread; relaxed). */
void gs_mesh_stats_get(const gs_mesh *m, unsigned ep, gs_mesh_stats *st);

#endif /* GS_SERVER_MAILBOX_H */
