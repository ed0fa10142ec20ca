/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: Prometheus metrics (docs/metrics.md).  `--metrics ADDR:PORT` serves GET /metrics in
 * the Prometheus text format (0.0.4) from libmicrohttpd's own thread.
 *
 * Race-free without locks: every shard owns one slot of relaxed atomics and is its only writer
 * (gs_metrics_publish_shard, called by the shard's thread after each engine turn, copies the
 * shard's plain single-writer counters into it); the control thread owns the control slot.  The
 * HTTP thread only loads those atomics (relaxed), reads the mailbox counters through
 * gs_mesh_stats_get (relaxed atomics too) and the shards' CPU clocks.  A scrape therefore sees
 * each counter as of the shard's last turn (never torn, never a data race); counters from one
 * shard may be a turn apart from each other, which Prometheus rates do not notice.
 *
 * Threads: gs_metrics_new/listen/del on the main thread; publish functions from the slot's
 * owner; gs_metrics_render from any thread.
 */
#ifndef GS_SERVER_METRICS_H
#define GS_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "engine.h"
#include "mailbox.h"
#include "node.h"
#include "quic.h"
#include "shard.h"

typedef struct gs_metrics gs_metrics;

/* gs_metrics_gauges: a shard's current sizes, published with its counters. */
typedef struct gs_metrics_gauges {
    uint64_t peers;          /* peer records whose connection this shard holds */
    uint64_t topics;         /* topics this shard holds (joined and relayed) */
    uint64_t relayed_topics; /* of which: relayed */
    uint64_t subscribers;    /* control subscriptions on this shard's topics */
    uint64_t conns;          /* QUIC connections */
} gs_metrics_gauges;

/* gs_metrics_control: the control thread's counters and sizes. */
typedef struct gs_metrics_control {
    uint64_t requests;           /* requests answered */
    uint64_t errors;             /* requests answered with an error */
    uint64_t refused_clients;    /* clients refused: control.max_clients */
    uint64_t events_dropped;     /* events lost by slow subscribers */
    uint64_t clients;            /* gauge: connected clients */
    uint64_t lagged_subscribers; /* gauge: clients now losing events */
} gs_metrics_control;

/*
 * gs_metrics_new creates the slots for |nshards| shards.  |mesh| (may be NULL) is read for the
 * mailbox counters of endpoints 0..nshards (the last one is the control thread's).  |id_hex|
 * (64 hex digits, may be NULL) and |version| label gossip_info.  Returns 0, GS_ERR_INVAL or
 * GS_ERR_NOMEM.
 */
int gs_metrics_new(gs_metrics **pm, unsigned nshards, const gs_mesh *mesh, const char *id_hex,
                   const char *version);

/*
 * gs_metrics_listen starts the HTTP server on |addr| ("ADDR:PORT", IPv4 or [IPv6], port 0 picks
 * a free one) and writes the bound address to |bound| (|cap| bytes, may be NULL).  Returns 0,
 * GS_ERR_INVAL (address does not parse) or GS_ERR_IO (cannot bind or start).
 */
int gs_metrics_listen(gs_metrics *m, const char *addr, char *bound, size_t cap);

/* gs_metrics_del stops the HTTP server and frees |m|.  NULL is a no-op. */
void gs_metrics_del(gs_metrics *m);

/* gs_metrics_set_cpu_clock records shard |shard|'s thread CPU clock (from the shard's thread, at
 * start: pthread_getcpuclockid(pthread_self(), ...)); it is read at each scrape. */
void gs_metrics_set_cpu_clock(gs_metrics *m, unsigned shard, clockid_t clock);

/* gs_metrics_publish_shard copies shard |shard|'s counters into its slot (that shard's thread
 * only).  Any pointer may be NULL (that part is left as it was). */
void gs_metrics_publish_shard(gs_metrics *m, unsigned shard, const gs_shard_counters *sc,
                              const gs_node_counters *nc, const gs_quic_stats *qs,
                              const gs_engine_stats *es, const gs_metrics_gauges *g);

/* gs_metrics_publish_control copies the control thread's counters (control thread only). */
void gs_metrics_publish_control(gs_metrics *m, const gs_metrics_control *c);

/*
 * gs_metrics_render writes the whole exposition (Prometheus text format 0.0.4) into a new
 * malloc'd buffer stored in |*out| (NUL-terminated, length in |*len|).  Returns 0 or
 * GS_ERR_NOMEM.  The caller frees |*out|.
 */
int gs_metrics_render(gs_metrics *m, char **out, size_t *len);

#endif /* GS_SERVER_METRICS_H */
