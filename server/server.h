/* SPDX-License-Identifier: MIT */
/*
 * server.h: the process: configuration, identity, the shards, the mailbox mesh and the control
 * thread, plus the records that cross from the control thread to the shards (gs_ctl_req) and
 * back (gs_event).
 *
 * Threads: gs_server is built by main before any thread starts and is read-only afterwards,
 * except the atomics (phase, conn_seq).
 */
#ifndef GS_SERVER_SERVER_H
#define GS_SERVER_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "config.h"
#include "identity.h"
#include "mailbox.h"

typedef struct gs_shard gs_shard;
typedef struct gs_control gs_control;
typedef struct gs_metrics gs_metrics;

/* Phases of the process (gs_server.phase). */
typedef enum gs_phase {
    GS_PHASE_RUN = 0,   /* serving */
    GS_PHASE_QUIT = 1,  /* SIGTERM: every shard quits its topics and keeps running to send */
    GS_PHASE_CLOSE = 2, /* every shard closes its connections and its thread returns */
} gs_phase;

#define GS_MAX_PEER_DATA 512 /* bytes of our own PeerData */

typedef struct gs_server {
    gs_server_cfg cfg;
    gs_identity id;
    unsigned nshards;
    gs_shard **shards;
    gs_mesh *mesh; /* endpoints 0..nshards-1: shards; nshards: control */
    gs_control *ctl;
    gs_metrics *metrics;       /* NULL without --metrics; set before the threads start */
    _Atomic int phase;         /* gs_phase */
    _Atomic uint64_t conn_seq; /* process-wide order of established connections */
    gs_tstamp started;
    uint8_t peer_data[GS_MAX_PEER_DATA]; /* our AddrInfo */
    size_t peer_data_len;
    gs_udp_addr bound[GS_URING_MAX_SOCKS]; /* the addresses shard 0 bound (port 0 resolved) */
    size_t nbound;
} gs_server;

/* gs_server_topic_shard returns the shard that owns |topic|. */
unsigned gs_server_topic_shard(const gs_server *srv, const uint8_t topic[32]);

/* gs_server_peer_home returns |peer|'s home shard: the one that dials it and keeps its
 * addresses. */
unsigned gs_server_peer_home(const gs_server *srv, const uint8_t peer[32]);

/* Control requests, executed by the owning shard (one topic) or by every shard (queries). */
typedef enum gs_ctl_op {
    GS_CTL_JOIN = 0,
    GS_CTL_LEAVE,
    GS_CTL_PUBLISH,
    GS_CTL_SUBSCRIBE,
    GS_CTL_UNSUBSCRIBE,
    GS_CTL_STATUS,
    GS_CTL_PEERS,
    GS_CTL_TOPICS,
} gs_ctl_op;

#define GS_CTL_MAX_PEERS 32

typedef struct gs_ctl_req {
    /* filled by control */
    gs_ctl_op op;
    gs_cfg_topic topic;
    gs_cfg_peer peers[GS_CTL_MAX_PEERS];
    size_t npeers;
    uint8_t *content; /* PUBLISH (owned by the request) */
    size_t len;
    gs_scope scope;
    void *owner; /* control's pending entry */
    unsigned shard;
    /* filled by the shard */
    int rv;
    const char *err_code; /* control.md error code when rv < 0 */
    gs_msg_id msg_id;
    gs_key view[64]; /* SUBSCRIBE: current neighbours */
    size_t nview;
    json_t *result; /* STATUS / PEERS / TOPICS: the shard's part */
} gs_ctl_req;

/* gs_event kinds (shard -> control), matching docs/control.md. */
typedef enum gs_event_type {
    GS_EVENT_NEIGHBOR_UP = 0,
    GS_EVENT_NEIGHBOR_DOWN = 1,
    GS_EVENT_RECEIVED = 2,
} gs_event_type;

/* gs_event: the payload of a GS_MBOX_EVENT frame. */
typedef struct gs_event {
    uint8_t type;   /* gs_event_type */
    uint8_t reason; /* gs_down_reason */
    uint8_t scope;  /* gs_scope */
    uint16_t round;
    gs_topic_id topic;
    gs_key peer;
    gs_msg_id id;
    size_t len;
    uint8_t content[];
} gs_event;

#endif /* GS_SERVER_SERVER_H */
