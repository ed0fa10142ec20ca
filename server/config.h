/* SPDX-License-Identifier: MIT */
/*
 * config.h: gossipd's configuration.  An INI file (inih) and command-line overrides become one
 * validated gs_server_cfg.  Every key has the name `section.key` (the INI section and key, and
 * the argument of `--set`); docs/config.md lists them all.  The table in config.c is the single
 * source of names, defaults, ranges and help text.
 *
 * List keys (listen, bootstrap, join, ...) accept several values separated by commas or blanks,
 * and repeated lines append.  The first value a later source (the command line after the file)
 * gives for a list replaces the earlier source's list.
 *
 * Threads: main thread only, before the shards start; the result is read-only afterwards.
 */
#ifndef GS_SERVER_CONFIG_H
#define GS_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec.h"
#include "gs_time.h"
#include "identity.h"
#include "node.h"
#include "udp.h"
#include "uring.h"

#define GS_CFG_MAX_LIST     64  /* entries per list key */
#define GS_CFG_MAX_PATH     256 /* bytes in a path, NUL included */
#define GS_CFG_MAX_NAME     128 /* bytes in a topic name, NUL included */
#define GS_CFG_MAX_ERRORS   32  /* errors kept */
#define GS_CFG_DEFAULT_PORT 4919

typedef enum gs_log_level {
    GS_LOG_ERROR = 0,
    GS_LOG_WARN = 1,
    GS_LOG_INFO = 2,
    GS_LOG_DEBUG = 3,
} gs_log_level;

/* gs_cfg_peer: "ID" or "ID@ADDR:PORT". */
typedef struct gs_cfg_peer {
    uint8_t id[GS_ID_LEN];
    gs_udp_addr addr; /* len 0: no address */
} gs_cfg_peer;

/* gs_cfg_topic: a topic id and, when it was named by a string, that string. */
typedef struct gs_cfg_topic {
    gs_topic_id id;
    char name[GS_CFG_MAX_NAME]; /* "" when given as 64 hex digits */
} gs_cfg_topic;

/* gs_server_cfg: everything gossipd runs with. */
/* gs_ctl_thread: where the control socket is served (control.thread). */
typedef enum gs_ctl_thread {
    GS_CTL_THREAD_AUTO = 0, /* on shard 0's thread with one shard, its own thread with more */
    GS_CTL_THREAD_OWN = 1,  /* its own thread (epoll) */
    GS_CTL_THREAD_SHARD = 2 /* inside shard 0's turns (no thread hop for events and requests) */
} gs_ctl_thread;

typedef struct gs_server_cfg {
    /* [node] */
    char key_path[GS_CFG_MAX_PATH];
    gs_udp_addr listen[GS_URING_MAX_SOCKS];
    size_t nlisten;
    gs_udp_addr advertise[GS_CFG_MAX_LIST];
    size_t nadvertise;
    uint64_t shards; /* 0: online CPUs */
    bool pin;
    gs_cfg_peer bootstrap[GS_CFG_MAX_LIST];
    size_t nbootstrap;
    gs_cfg_topic join[GS_CFG_MAX_LIST];
    size_t njoin;
    int log_level; /* gs_log_level */
    /* [relay] */
    bool relay;
    gs_cfg_topic relay_allow[GS_CFG_MAX_LIST]; /* empty: every topic not denied */
    size_t nrelay_allow;
    gs_cfg_topic relay_deny[GS_CFG_MAX_LIST];
    size_t nrelay_deny;
    uint64_t relay_max_topics;
    gs_duration relay_idle;
    gs_cfg_peer backbone[GS_CFG_MAX_LIST];
    size_t nbackbone;
    /* [control] */
    char control_path[GS_CFG_MAX_PATH]; /* "" = no control socket */
    int control_thread;                 /* gs_ctl_thread */
    uint64_t control_mode;
    uint64_t control_max_clients;
    uint64_t control_max_line;
    uint64_t control_client_queue;
    uint64_t control_max_subs;
    /* [metrics] */
    char metrics_listen[GS_CFG_MAX_PATH]; /* "" = no /metrics (ADDR:PORT) */
    /* [limits] */
    uint64_t ring_size;
    uint64_t ring_backlog;
    uint64_t max_peers;
    uint64_t addrbook_max;
    gs_duration addr_ttl;
    gs_duration drain;
    uint64_t send_queue_max;
    uint64_t send_queue_low;
    gs_duration peer_behind_max;
    uint64_t max_conns;
    uint64_t max_conns_per_prefix; /* QUIC admission limits (io/quic.h, docs/quic.md) */
    uint64_t max_halfopen;
    uint64_t max_halfopen_per_prefix;
    uint64_t rx_mem_max;
    uint16_t prefix4_len;
    uint16_t prefix6_len;
    uint64_t dial_queue_max;
    gs_duration idle_timeout;
    gs_duration keep_alive;
    gs_duration ack_coalesce;
    gs_duration shutdown_timeout;
    bool v0; /* also accept and offer "/iroh-gossip/0" (PROTOCOL.md 12) */
    /* [protocol] */
    gs_node_cfg node;
} gs_server_cfg;

/* gs_cfg_source: where a value came from (for error messages and list replacement). */
typedef struct gs_cfg_errors {
    size_t n;
    char msg[GS_CFG_MAX_ERRORS][256];
    size_t dropped; /* errors beyond GS_CFG_MAX_ERRORS */
} gs_cfg_errors;

/* gs_server_cfg_default fills |cfg| with every default. */
void gs_server_cfg_default(gs_server_cfg *cfg);

/*
 * gs_server_cfg_set sets `section.key` |name| to |value| from |source| ("file.ini:12" or
 * "--set"); |gen| identifies the source (lists given by a new source replace older lists).  An
 * error is appended to |errs| as "SOURCE: KEY: message".  A negative |gen| (-g) means source g
 * with |value| taken as one list item, not split at commas/blanks (command-line flags).
 * Returns 0 or GS_ERR_INVAL.
 */
int gs_server_cfg_set(gs_server_cfg *cfg, const char *name, const char *value, const char *source,
                      int gen, gs_cfg_errors *errs);

/* gs_server_cfg_load_file parses the INI file |path| (source generation 1).  Returns 0 or
 * GS_ERR_INVAL (errors appended to |errs|, including a file that cannot be read). */
int gs_server_cfg_load_file(gs_server_cfg *cfg, const char *path, gs_cfg_errors *errs);

/* gs_server_cfg_validate checks cross-key rules (send_queue_low < send_queue_max, protocol
 * parameters, ...) after all sources.  Returns 0 or GS_ERR_INVAL (errors appended). */
int gs_server_cfg_validate(gs_server_cfg *cfg, gs_cfg_errors *errs);

/* gs_server_cfg_print writes the effective configuration to |f| in INI form. */
void gs_server_cfg_print(const gs_server_cfg *cfg, FILE *f);

/* gs_cfg_parse_topic parses a TOPIC (64 hex digits, or any other non-empty string meaning
 * BLAKE3(string)) into |t|.  Returns 0 or GS_ERR_INVAL (empty, or longer than GS_CFG_MAX_NAME-1).
 */
int gs_cfg_parse_topic(gs_cfg_topic *t, const char *s);

/* gs_cfg_parse_peer parses "ID" or "ID@ADDR:PORT" (ID hex or base32).  Returns 0 or
 * GS_ERR_INVAL. */
int gs_cfg_parse_peer(gs_cfg_peer *p, const char *s);

/* gs_cfg_hex writes |len| bytes as lowercase hex (2*len chars + NUL) to |out|. */
void gs_cfg_hex(const uint8_t *in, size_t len, char *out);

#endif /* GS_SERVER_CONFIG_H */
