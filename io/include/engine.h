/* SPDX-License-Identifier: MIT */
/*
 * engine.h: one shard's I/O loop = one io_uring UDP engine (uring.h) + one QUIC endpoint
 * (quic.h), for the server's shard threads and for gossip-bench.
 *
 * A turn (gs_engine_run_once): one submit-and-wait, one clock read, one pass over the completions
 * (every datagram goes to gs_quic_ep_on_datagram), the endpoint's timers if due, the layer
 * above's before_flush hook (a shard drains its mailboxes and drives its node there), then
 * gs_quic_ep_write is drained straight into io_uring send slots (one GSO sendmsg per run of
 * equal-size packets to one destination) until it returns 0 or the send pool is exhausted (the
 * rest goes out next turn, when completions have freed slots).
 *
 * The wait is bounded by max_wait, the endpoint's expiry and the deadline before_flush returned;
 * it is zero when the endpoint already has something to write (frames queued between turns,
 * e.g. by gs_engine_send_frame or gs_engine_inject_datagram from outside a turn), unless every
 * send slot is in flight (a send completion then ends the wait).  So queued data never waits
 * for the next wake-up.
 *
 * Strays: with connection-id steering (steer_nshards >= 2) a datagram whose destination id
 * names another shard (first byte, DESIGN.md) that still reaches this engine is reported through
 * on_stray with the owner's index; the owner's thread hands it to its own engine with
 * gs_engine_inject_datagram.  Without on_stray, or for an index out of range, it is dropped and
 * counted (strays_dropped).
 *
 * Events (connected, frame, closed, writable) are the endpoint's gs_quic_callbacks, passed
 * through unchanged; they run on the engine's thread, inside gs_engine_run_once.
 *
 * Threading: a gs_engine belongs to the thread that first runs it (the ring is bound then); only
 * gs_engine_stop and gs_engine_wake may be called from other threads.
 */
#ifndef GS_IO_ENGINE_H
#define GS_IO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"
#include "gs_mem.h"
#include "gs_time.h"
#include "identity.h"
#include "quic.h"
#include "udp.h"
#include "uring.h"

typedef struct gs_engine gs_engine;

/* gs_engine_cfg: start from gs_engine_cfg_default and fill |listen| and the callbacks. */
typedef struct gs_engine_cfg {
    gs_udp_addr listen[GS_URING_MAX_SOCKS]; /* addresses to bind (SO_REUSEPORT); port 0 = any */
    size_t nlisten;                         /* at least 1 */
    gs_quic_cfg quic;                       /* endpoint settings (gs_quic_cfg_default) */
    gs_quic_callbacks cb;                   /* endpoint events, passed through */
    gs_uring_wake_cb *on_wake;              /* doorbell rung (mailboxes to drain); may be NULL */
    void *wake_user_data;
    unsigned nrecv_bufs;  /* see gs_uring_cfg; 0 = default */
    unsigned nsend_slots; /* see gs_uring_cfg; 0 = default */
    uint32_t uring_flags; /* GS_URING_FLAG_* */
    /* steer_nshards >= 2: attach the connection-id steering program (gs_udp_attach_steering) to
     * the sockets' SO_REUSEPORT groups; shard i must bind its sockets i-th and set quic.shard = i.
     * 0 or 1: no program (the kernel hashes the 4-tuple). */
    unsigned steer_nshards;
    /* before_flush: once per turn, after completions and QUIC timers, before the flush.  The shard
     * drains its mailboxes, drives its node and queues frames here.  Returns the shard's next
     * deadline (GS_TSTAMP_NEVER for none); the engine's next wait never goes past it.  |now| is
     * gs_engine_now.  NULL: no hook. */
    gs_tstamp (*before_flush)(void *user_data, gs_engine *e, gs_tstamp now);
    void *turn_user_data; /* passed to before_flush and on_stray */
    /* on_stray: a datagram whose destination connection id names another shard |owner|
     * (< steer_nshards, never this engine's quic.shard) was received here; the addresses and
     * |data| are borrowed for the call (copy them to forward).  NULL = drop and count. */
    void (*on_stray)(void *user_data, unsigned owner, const gs_udp_addr *local,
                     const gs_udp_addr *remote, const uint8_t *data, size_t len, uint8_t ecn);
} gs_engine_cfg;

/* gs_engine_stats: the engine's own counters (the ring's and the endpoint's have their own). */
typedef struct gs_engine_stats {
    uint64_t turns;        /* gs_engine_run_once calls */
    uint64_t expiries;     /* gs_quic_ep_handle_expiry calls */
    uint64_t writes;       /* gs_quic_ep_write calls that produced packets */
    uint64_t tx_blocked;   /* turns that stopped writing because every send slot was in flight */
    uint64_t tx_errors;    /* runs that could not be queued (dropped; QUIC retransmits) */
    uint64_t write_errors; /* gs_quic_ep_write failures */
    uint64_t no_socket;    /* runs whose local address matched no socket (sent from socket 0) */
    uint64_t untracked;    /* connections not tracked for shutdown (set full; never expected) */
    uint64_t busy_turns;   /* turns that did not sleep because data was waiting to be written */
    uint64_t strays_forwarded; /* datagrams for another shard given to on_stray */
    uint64_t strays_dropped;   /* datagrams for another shard dropped (no on_stray, bad index) */
    uint64_t injected;         /* datagrams given to gs_engine_inject_datagram */
} gs_engine_stats;

/* gs_engine_cfg_default clears |cfg| and sets the endpoint defaults (gs_quic_cfg_default). */
void gs_engine_cfg_default(gs_engine_cfg *cfg);

/*
 * gs_engine_new creates an engine bound to |cfg->listen| (copied) with the identity |id| (copied)
 * and stores it in |*pe|.  |mem| must outlive it.  Returns 0; GS_ERR_INVAL (no listen address);
 * what gs_uring_new, gs_uring_add_udp (-EADDRINUSE, ...) or gs_quic_ep_new return.  |*pe| is
 * untouched on error.
 */
int gs_engine_new(gs_engine **pe, const gs_engine_cfg *cfg, const gs_identity *id,
                  const gs_mem *mem);

/* gs_engine_del frees |e| without sending anything (close connections and run turns first for a
 * clean shutdown).  NULL is a no-op. */
void gs_engine_del(gs_engine *e);

/*
 * gs_engine_parse_peer parses "ID@ADDR:PORT" (ID in any gs_id_parse form, ADDR an IPv4 address or
 * a bracketed IPv6 address) into |id| and |addr|.  Returns 0 or GS_ERR_INVAL / GS_ERR_KEY_FORMAT.
 */
int gs_engine_parse_peer(const char *spec, uint8_t id[GS_ID_LEN], gs_udp_addr *addr);

/*
 * gs_engine_connect dials |id| at |addr| from the first socket of the same family and stores the
 * connection handle in |*pconn| (may be NULL).  The result arrives as on_connected or on_closed.
 * Returns 0; GS_ERR_INVAL (no socket of that family); what gs_quic_ep_connect returns.
 */
int gs_engine_connect(gs_engine *e, const uint8_t id[GS_ID_LEN], const gs_udp_addr *addr,
                      gs_quic_conn_id *pconn);

/* gs_engine_connect_str is gs_engine_connect for an "ID@ADDR:PORT" string. */
int gs_engine_connect_str(gs_engine *e, const char *spec, gs_quic_conn_id *pconn);

/*
 * gs_engine_send_frame queues the complete frame (|frame|, |len| bytes, length prefix included)
 * for |topic| to |peer| (gs_quic_ep_send_frame; same returns).  It goes out at the end of the
 * current or next turn.
 */
int gs_engine_send_frame(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                         const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame, size_t len);

/* gs_engine_send_frame_cls is gs_quic_ep_send_frame_cls on the engine's endpoint. */
int gs_engine_send_frame_cls(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                             size_t len, gs_quic_send_class cls);

/* gs_engine_send_frame_ref is gs_quic_ep_send_frame_ref on the engine's endpoint: |release|(|arg|)
 * runs exactly once on the engine's thread (inside a turn, gs_engine_shutdown or gs_engine_del)
 * after a 0 return, never after an error return. */
int gs_engine_send_frame_ref(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                             size_t len, gs_quic_send_class cls, void (*release)(void *arg),
                             void *arg);

/* gs_engine_peer_behind_since is gs_quic_ep_peer_behind_since on the engine's endpoint. */
gs_tstamp gs_engine_peer_behind_since(const gs_engine *e, const uint8_t peer[GS_ID_LEN]);

/*
 * gs_engine_inject_datagram hands a datagram that another shard received for this one (its
 * on_stray) to this engine's endpoint, as if it had arrived at |local| from |remote|; on the
 * owner's thread only.  Anything it queues goes out with this or the next turn's flush (the next
 * wait is zero).  Returns 0 or GS_ERR_INVAL (NULL arguments, an address of another family).
 */
int gs_engine_inject_datagram(gs_engine *e, const gs_udp_addr *local, const gs_udp_addr *remote,
                              const uint8_t *data, size_t len, uint8_t ecn);

/* gs_engine_close closes |conn| (gs_quic_ep_close; same returns). */
int gs_engine_close(gs_engine *e, gs_quic_conn_id conn, uint64_t app_error, const char *reason);

/*
 * gs_engine_shutdown closes every connection the engine knows (all dials, and accepted ones that
 * reached on_connected) with |app_error| and |reason|, then runs turns until the endpoint has
 * reported on_closed for each of them and every send has completed, or |timeout| passes.
 * Handshakes still in progress on the server side are dropped by gs_engine_del.  Returns 0,
 * GS_ERR_TIMEOUT (some connection or send still pending) or run_once's error.
 */
int gs_engine_shutdown(gs_engine *e, uint64_t app_error, const char *reason, gs_duration timeout);

/* gs_engine_num_conns returns the number of connections gs_engine_shutdown would close. */
size_t gs_engine_num_conns(const gs_engine *e);

/*
 * gs_engine_run_once runs one turn, sleeping at most |max_wait| (and never past the endpoint's
 * next expiry).  Returns 0 or a fatal negated errno from the ring.
 */
int gs_engine_run_once(gs_engine *e, gs_duration max_wait);

/* gs_engine_run runs turns until gs_engine_stop is called.  Returns 0 or run_once's error. */
int gs_engine_run(gs_engine *e);

/* gs_engine_stop asks a running gs_engine_run to return after its current turn (any thread). */
void gs_engine_stop(gs_engine *e);

/* gs_engine_stopping returns true once gs_engine_stop was called (any thread). */
bool gs_engine_stopping(const gs_engine *e);

/* gs_engine_wake rings the engine's doorbell (any thread).  Returns 0 or a negated errno. */
int gs_engine_wake(gs_engine *e);

/* gs_engine_now returns the time read at the start of the current (or last) turn. */
gs_tstamp gs_engine_now(const gs_engine *e);

/* gs_engine_local returns the bound address of socket |i| (NULL past the last). */
const gs_udp_addr *gs_engine_local(const gs_engine *e, size_t i);

/* gs_engine_id returns the engine's endpoint id. */
const uint8_t *gs_engine_id(const gs_engine *e);

/* Accessors for counters and for direct use of the parts (same thread only). */
gs_quic_ep *gs_engine_quic(gs_engine *e);
gs_uring *gs_engine_uring(gs_engine *e);
const gs_engine_stats *gs_engine_stats_get(const gs_engine *e);

#endif /* GS_IO_ENGINE_H */
