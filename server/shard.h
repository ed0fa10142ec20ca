/* SPDX-License-Identifier: MIT */
/*
 * shard.h: one shard: a thread running one gs_engine (io_uring + QUIC endpoint, bound to the
 * shared port) and one gs_node holding the topics that hash to this shard, glued by the loop turn:
 *
 *   engine turn (wait, datagrams -> QUIC -> frames, QUIC timers, flush)
 *   -> drain the mailboxes (frames for our topics, sends for our connections, peer facts,
 *      control requests) -> node timers -> node outbox (encode once, route each SEND to the
 *      shard holding the peer's send path) -> housekeeping (drains, dials, back-pressure,
 *      address expiry, relay idle) -> publish the rings once.
 *
 * Peers (docs/server.md): every shard keeps its own record per peer, updated only through
 * mailbox records: the shard holding a peer's newest connection broadcasts PEER_UP with a
 * process-wide sequence number (newest wins) and PEER_DOWN when that connection closes; the
 * peer's home shard (a hash of its id) is the only one that dials it and keeps its addresses;
 * the connection's shard counts which shards use the peer and closes the connection only after
 * none has for the drain period.
 *
 * Threads: gs_shard_new/del on the main thread; gs_shard_run on the shard's own thread; the
 * stats accessor from any thread (relaxed counters).
 */
#ifndef GS_SERVER_SHARD_H
#define GS_SERVER_SHARD_H

#include <stdint.h>

#include "server.h"

/* gs_shard_counters: a shard's own counters (single writer, relaxed reads elsewhere). */
typedef struct gs_shard_counters {
    uint64_t frames_local;        /* frames handed to our node from our own connections */
    uint64_t frames_forwarded;    /* frames forwarded to the topic's shard */
    uint64_t frames_remote;       /* frames received from other shards */
    uint64_t sends_local;         /* frames queued on our own connections */
    uint64_t sends_forwarded;     /* frames sent through another shard */
    uint64_t sends_remote;        /* frames other shards asked us to send */
    uint64_t encodes;             /* frames encoded */
    uint64_t encode_reuses;       /* SENDs that reused the previous encoding (encode once) */
    uint64_t gossip_dropped;      /* Gossip not queued: peer over send_queue_low */
    uint64_t drops_unannounced;   /* of which: not announced by IHave (pending list full) */
    uint64_t v0_too_large;        /* frames not sent to a /0 peer: too large with the topic */
    uint64_t v0_intro_dropped;    /* ForwardJoin/Shuffle not sent: names a peer of a version the
                                     recipient cannot speak (v0.h) */
    uint64_t v0_intro_filtered;   /* Shuffle/ShuffleReply entries removed for that reason */
    uint64_t v0_rx[10];           /* frames received on /iroh-gossip/0 connections, by type */
    uint64_t v0_tx[10];           /* frames queued to /iroh-gossip/0 peers, by type */
    uint64_t send_errors;         /* frames refused by the transport */
    uint64_t send_no_path;        /* frames for a peer with no path (dropped) */
    uint64_t peers_behind_closed; /* connections closed: peer behind longer than allowed */
    uint64_t dials;               /* dials started */
    uint64_t dial_failures;       /* dials that failed */
    uint64_t dial_no_addr;        /* sends for a peer with no known address */
    uint64_t dial_queue_drops;    /* frames dropped: dial queue full */
    uint64_t conns_up;            /* connections established */
    uint64_t conns_down;          /* send paths closed */
    uint64_t drain_closes;        /* unused connections closed after the drain period */
    uint64_t relay_joins;         /* topics joined because a peer sent Join (relay) */
    uint64_t relay_refused;       /* Joins refused: denied, not allowed or cap reached */
    uint64_t relay_idle_quits;    /* relayed topics quit after being idle */
    uint64_t peers_full;          /* peer records refused: limits.max_peers */
    uint64_t addrs_learned;       /* addresses learned from PeerData */
    uint64_t mbox_refused;        /* records we could not send (backlog full) */
    uint64_t events;              /* events sent to the control thread */
    uint64_t strays;              /* stray datagrams forwarded to their shard */
    uint64_t strays_injected;     /* stray datagrams other shards forwarded to us */
    uint64_t batches;             /* gs_node_on_frames calls (frames received per turn, batched) */
} gs_shard_counters;

/*
 * gs_shard_new creates shard |index| of |srv|: its engine (bound now, so the caller knows the
 * port), its node, and its tables.  Returns 0 or an error from the engine or node.
 */
int gs_shard_new(gs_shard **psh, gs_server *srv, unsigned index);

/* gs_shard_del frees the shard (after its thread returned).  NULL is a no-op. */
void gs_shard_del(gs_shard *sh);

/* gs_shard_index returns the shard's index (any thread). */
unsigned gs_shard_index(const gs_shard *sh);

/* gs_shard_serve_control makes the shard serve |ctl| inside its turns (control.thread = shard):
 * its io_uring polls gs_control_fd, each turn ends with gs_control_poll, and it sleeps only when
 * neither its own nor the control's mesh endpoint has records.  Main thread, before the shard's
 * thread starts; the control's mesh doorbell must then wake this shard.  Returns 0 or the
 * ring's error. */
int gs_shard_serve_control(gs_shard *sh, gs_control *ctl);

/* gs_shard_engine returns the shard's engine (main thread, before the thread starts: bound
 * addresses). */
struct gs_engine *gs_shard_engine(gs_shard *sh);

/* gs_shard_add_addr records an address for |peer| in the shard's address book (main thread,
 * before the thread starts; |perm| keeps it for ever). */
void gs_shard_add_addr(gs_shard *sh, const uint8_t peer[32], const gs_udp_addr *addr, bool perm);

/* gs_shard_set_peer_data gives the shard's node our PeerData (the server's AddrInfo) so that
 * every Join, including those of gs_shard_join, carries our addresses (main thread, before the
 * thread starts).  Returns what gs_node_set_peer_data returns. */
int gs_shard_set_peer_data(gs_shard *sh);

/* gs_shard_join joins |t| at start with the configured bootstrap and backbone peers (main
 * thread, before the thread starts).  Returns what gs_node_join returns. */
int gs_shard_join(gs_shard *sh, const gs_cfg_topic *t);

/* gs_shard_run is the shard thread's body: turns until the phase reaches GS_PHASE_CLOSE, then a
 * bounded shutdown.  Returns 0 or a fatal engine error. */
int gs_shard_run(gs_shard *sh);

/* gs_shard_wake rings the shard's doorbell (any thread). */
void gs_shard_wake(void *sh);

#endif /* GS_SERVER_SHARD_H */
