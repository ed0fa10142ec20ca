/* SPDX-License-Identifier: MIT */
/*
 * config.c: the key table, the INI reader (inih, with a line-counting reader so errors name their
 * line) and the printer.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "blake3.h"

typedef enum key_type {
    K_PATH,     /* char[GS_CFG_MAX_PATH] */
    K_BOOL,     /* bool */
    K_UINT,     /* uint64_t in [min, max] */
    K_SIZE,     /* size_t in [min, max] */
    K_U16,      /* uint16_t in [min, max] */
    K_MS,       /* gs_duration, given in milliseconds */
    K_MODE,     /* uint64_t, octal */
    K_LOGLEVEL, /* int */
    K_LISTEN,   /* gs_udp_addr list (listen) */
    K_ADDRS,    /* gs_udp_addr list (advertise) */
    K_PEERS,    /* gs_cfg_peer list */
    K_TOPICS,   /* gs_cfg_topic list */
    K_BCAST,    /* gs_bcast_policy, "reference" or "many" */
    K_CTLTHR,   /* gs_ctl_thread, "auto", "own" or "shard" */
} key_type;

typedef struct key_def {
    const char *name;
    key_type type;
    size_t off;   /* offset of the value in gs_server_cfg */
    size_t noff;  /* offset of the count, for lists */
    uint64_t min; /* for numbers (ms for K_MS) */
    uint64_t max;
    const char *help;
} key_def;

#define OFF(f)  offsetof(gs_server_cfg, f)
#define NODE(f) (offsetof(gs_server_cfg, node) + offsetof(gs_node_cfg, f))
#define NOLIST  0
#define KIB     1024ULL
#define MIB     (1024ULL * 1024ULL)

static const key_def keys[] = {
    {"node.key", K_PATH, OFF(key_path), NOLIST, 0, 0,
     "secret key file (created 0600 when missing; refused when group/world-readable; "
     "empty: a new identity every start)"},
    {"node.listen", K_LISTEN, OFF(listen), OFF(nlisten), 0, 0,
     "UDP addresses to listen on (ADDR:PORT, IPv4 or [IPv6]; port 0 = any free port)"},
    {"node.advertise", K_ADDRS, OFF(advertise), OFF(nadvertise), 0, 0,
     "addresses put into our PeerData (empty: the bound addresses, a wildcard one "
     "expanded to the interfaces' addresses)"},
    {"node.shards", K_UINT, OFF(shards), NOLIST, 0, 256, "shard threads (0 = online CPUs)"},
    {"node.pin", K_BOOL, OFF(pin), NOLIST, 0, 0,
     "pin shard i to CPU i (only when there are at least as many CPUs as shards)"},
    {"node.bootstrap", K_PEERS, OFF(bootstrap), OFF(nbootstrap), 0, 0,
     "bootstrap peers for every joined topic (ID@ADDR:PORT)"},
    {"node.join", K_TOPICS, OFF(join), OFF(njoin), 0, 0, "topics joined at start"},
    {"node.log_level", K_LOGLEVEL, OFF(log_level), NOLIST, 0, 0, "error, warn, info or debug"},
    {"relay.enabled", K_BOOL, OFF(relay), NOLIST, 0, 0,
     "join any topic a peer sends Join for and serve it as a full member"},
    {"relay.allow", K_TOPICS, OFF(relay_allow), OFF(nrelay_allow), 0, 0,
     "topics that may be relayed (empty: any not denied)"},
    {"relay.deny", K_TOPICS, OFF(relay_deny), OFF(nrelay_deny), 0, 0, "topics never relayed"},
    {"relay.max_topics", K_UINT, OFF(relay_max_topics), NOLIST, 0, 1000000,
     "relayed topics at most (Joins beyond are refused and counted)"},
    {"relay.idle_ms", K_MS, OFF(relay_idle), NOLIST, 1000, 86400000,
     "a relayed topic left without neighbours this long is quit"},
    {"relay.backbone", K_PEERS, OFF(backbone), OFF(nbackbone), 0, 0,
     "backbone peers: bootstrap of every topic we join or relay"},
    {"control.path", K_PATH, OFF(control_path), NOLIST, 0, 0,
     "Unix socket for local applications (empty: none)"},
    {"control.thread", K_CTLTHR, OFF(control_thread), NOLIST, 0, 0,
     "where clients are served: own (a thread of its own), shard (inside shard 0's loop: no "
     "thread hop per event or request), auto (shard with one shard, own with more)"},
    {"control.mode", K_MODE, OFF(control_mode), NOLIST, 0, 0777, "socket file mode (octal)"},
    {"control.max_clients", K_UINT, OFF(control_max_clients), NOLIST, 1, 100000,
     "control clients at once (beyond: told `limit` and closed)"},
    {"control.max_line", K_UINT, OFF(control_max_line), NOLIST, 1024, 64 * MIB,
     "bytes per request line (beyond: `too_large`, connection closed)"},
    {"control.client_queue", K_UINT, OFF(control_client_queue), NOLIST, 4 * KIB, 1024 * MIB,
     "bytes queued to one client (events beyond are dropped and reported as `lagged`)"},
    {"control.max_subs", K_UINT, OFF(control_max_subs), NOLIST, 1, 100000,
     "subscriptions per client"},
    {"metrics.listen", K_PATH, OFF(metrics_listen), NOLIST, 0, 0,
     "serve Prometheus /metrics over HTTP on ADDR:PORT (empty: none; port 0 = any free port)"},
    {"limits.ring_size", K_UINT, OFF(ring_size), NOLIST, 16, 1 << 20,
     "records per cross-shard ring"},
    {"limits.ring_backlog", K_UINT, OFF(ring_backlog), NOLIST, 0, 1 << 24,
     "records a sender keeps per full ring (beyond: refused, counted)"},
    {"limits.max_peers", K_UINT, OFF(max_peers), NOLIST, 16, 1 << 22, "peer records per shard"},
    {"limits.addrbook", K_UINT, OFF(addrbook_max), NOLIST, 16, 1 << 22,
     "address book entries per shard (oldest learned entry evicted)"},
    {"limits.addr_ttl_ms", K_MS, OFF(addr_ttl), NOLIST, 1000, 86400000,
     "learned addresses expire this long after last reported"},
    {"limits.drain_ms", K_MS, OFF(drain), NOLIST, 0, 5000,
     "an unused connection is closed after this drain period"},
    {"limits.send_queue_max", K_UINT, OFF(send_queue_max), NOLIST, 64 * KIB, 1024 * MIB,
     "bytes queued per connection before every send is refused"},
    {"limits.send_queue_low", K_UINT, OFF(send_queue_low), NOLIST, 4 * KIB, 1024 * MIB,
     "bytes queued per connection above which Gossip to it is dropped (counted)"},
    {"limits.peer_behind_ms", K_MS, OFF(peer_behind_max), NOLIST, 100, 3600000,
     "a peer whose queue stays above send_queue_low this long is disconnected"},
    {"limits.max_conns", K_UINT, OFF(max_conns), NOLIST, 2, 1 << 20, "connections per shard"},
    {"limits.max_conns_per_prefix", K_UINT, OFF(max_conns_per_prefix), NOLIST, 1, 1 << 20,
     "connections per shard from or to one address prefix (see prefix4_len, prefix6_len)"},
    {"limits.max_halfopen", K_UINT, OFF(max_halfopen), NOLIST, 1, 1 << 20,
     "accepted connections still handshaking, per shard (the oldest is dropped beyond)"},
    {"limits.max_halfopen_per_prefix", K_UINT, OFF(max_halfopen_per_prefix), NOLIST, 1, 1 << 20,
     "the same per address prefix"},
    {"limits.rx_mem_max", K_UINT, OFF(rx_mem_max), NOLIST, 1 * MIB, (uint64_t)1 << 40,
     "receive memory all connections of a shard may be granted (flow-control windows)"},
    {"limits.prefix4_len", K_U16, OFF(prefix4_len), NOLIST, 8, 32,
     "IPv4 addresses sharing this many leading bits count as one prefix"},
    {"limits.prefix6_len", K_U16, OFF(prefix6_len), NOLIST, 16, 128,
     "IPv6 addresses sharing this many leading bits count as one prefix"},
    {"limits.dial_queue", K_UINT, OFF(dial_queue_max), NOLIST, 1, 1 << 20,
     "frames queued per peer while it is being dialed"},
    {"limits.idle_timeout_ms", K_MS, OFF(idle_timeout), NOLIST, 1000, 600000,
     "QUIC max_idle_timeout we advertise: a silent peer (killed, unplugged) is declared gone "
     "after this"},
    {"limits.ack_coalesce_ms", K_MS, OFF(ack_coalesce), NOLIST, 0, 25,
     "with nothing of ours unacknowledged, a delayed ACK may wait this much longer (within our "
     "25 ms max_ack_delay) to ride on the next packet (0: ngtcp2's RTT / 8 only)"},
    {"limits.keep_alive_ms", K_MS, OFF(keep_alive), NOLIST, 100, 600000,
     "QUIC PING after this long without sending (below idle_timeout_ms / 2)"},
    {"limits.shutdown_ms", K_MS, OFF(shutdown_timeout), NOLIST, 100, 60000,
     "SIGTERM: time allowed to quit topics and close connections"},
    {"protocol.v0", K_BOOL, OFF(v0), NOLIST, 0, 0,
     "also speak /iroh-gossip/0 (iroh-gossip 0.35 peers; /1 stays preferred)"},
    {"protocol.max_message_size", K_SIZE, NODE(max_message_size), NOLIST, GS_MAX_MESSAGE_SIZE_MIN,
     16 * MIB, "M: frame body limit (same on every node of a network)"},
    {"protocol.active_view_capacity", K_SIZE, NODE(active_view_capacity), NOLIST, 1, 1024,
     "HyParView active view size"},
    {"protocol.passive_view_capacity", K_SIZE, NODE(passive_view_capacity), NOLIST, 1, 65536,
     "HyParView passive view size"},
    {"protocol.active_random_walk_length", K_U16, NODE(active_random_walk_length), NOLIST, 1, 64,
     "ARWL"},
    {"protocol.passive_random_walk_length", K_U16, NODE(passive_random_walk_length), NOLIST, 1, 64,
     "PRWL"},
    {"protocol.shuffle_interval_ms", K_MS, NODE(shuffle_interval), NOLIST, 100, 86400000,
     "HyParView shuffle period"},
    {"protocol.shuffle_early_ms", K_MS, NODE(shuffle_early), NOLIST, 0, 86400000,
     "first shuffle delay while the passive view is thin, doubling (0: off)"},
    {"protocol.refill_escalate", K_U16, NODE(refill_escalate), NOLIST, 0, 65535,
     "refused Neighbor requests in a row before a thin view refills with High priority (0: off)"},
    {"protocol.neighbor_request_timeout_ms", K_MS, NODE(neighbor_request_timeout), NOLIST, 10,
     600000, "Neighbor request timeout"},
    {"protocol.graft_timeout_1_ms", K_MS, NODE(graft_timeout_1), NOLIST, 1, 600000,
     "first IHave to Graft"},
    {"protocol.graft_timeout_2_ms", K_MS, NODE(graft_timeout_2), NOLIST, 1, 600000,
     "Graft to next announcer"},
    {"protocol.dispatch_timeout_ms", K_MS, NODE(dispatch_timeout), NOLIST, 1, 60000,
     "IHave batching window"},
    {"protocol.optimization_threshold", K_U16, NODE(optimization_threshold), NOLIST, 1, 65535,
     "PlumTree optimisation threshold (rounds)"},
    {"protocol.message_cache_retention_ms", K_MS, NODE(message_cache_retention), NOLIST, 100,
     86400000, "payloads kept for Graft replies"},
    {"protocol.message_id_retention_ms", K_MS, NODE(message_id_retention), NOLIST, 100, 86400000,
     "ids kept for de-duplication"},
    {"protocol.max_topics", K_SIZE, NODE(max_topics), NOLIST, 1, 1000000,
     "topics per shard (joined and relayed)"},
    {"protocol.max_received", K_SIZE, NODE(max_received), NOLIST, 16, 1 << 24,
     "message ids remembered per topic"},
    {"protocol.cache_bytes", K_SIZE, NODE(cache_bytes), NOLIST, 1024, 1024 * MIB,
     "payload bytes cached per topic"},
    {"protocol.broadcast_policy", K_BCAST, NODE(bcast_policy), NOLIST, 0, 0,
     "reference: PlumTree prunes a link on its first duplicate (PROTOCOL.md 6.3); many: prune "
     "after 100 duplicates in a row, for topics with many publishers (docs/proto.md)"},
    {"protocol.rtt_timeouts", K_BOOL, NODE(rtt_timeouts), NOLIST, 0, 0,
     "scale Neighbor request and Join retry timeouts with the measured round trip, allowing "
     "for a dial (wide-area links; docs/proto.md)"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* Indexed by gs_bcast_policy. */
static const char *const bcast_names[] = {"reference", "many"};
/* Indexed by gs_ctl_thread. */
static const char *const ctlthr_names[] = {"auto", "own", "shard"};

#define NNAMES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* name_index returns the index of |value| among the |n| |names|, or -1. */
static int name_index(const char *value, const char *const *names, int n)
{
    for (int i = 0; i < n; ++i) {
        if (strcmp(value, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Source generation of each list key's current contents (see config.h). */
static int list_gen[NKEYS];

void gs_cfg_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void gs_server_cfg_default(gs_server_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(list_gen, 0, sizeof(list_gen));
    (void)gs_udp_addr_parse(&cfg->listen[0], "0.0.0.0:4919");
    cfg->nlisten = 1;
    cfg->pin = true;
    cfg->log_level = GS_LOG_INFO;
    cfg->relay_max_topics = 256;
    cfg->relay_idle = 60 * GS_SECONDS;
    cfg->control_mode = 0600;
    cfg->control_max_clients = 1024;
    cfg->control_max_line = 1 * MIB;
    cfg->control_client_queue = 4 * MIB;
    cfg->control_max_subs = 1024;
    cfg->ring_size = 4096;
    cfg->ring_backlog = 1 << 16;
    cfg->max_peers = 65536;
    cfg->addrbook_max = 65536;
    cfg->addr_ttl = 300 * GS_SECONDS;
    cfg->drain = 2 * GS_SECONDS;
    cfg->send_queue_max = 8 * MIB;
    cfg->send_queue_low = 2 * MIB;
    cfg->peer_behind_max = 10 * GS_SECONDS;
    cfg->max_conns = 16384;
    cfg->max_conns_per_prefix = 256; /* the io/ defaults (gs_quic_cfg_default) */
    cfg->max_halfopen = 1024;
    cfg->max_halfopen_per_prefix = 64;
    cfg->rx_mem_max = (uint64_t)1 << 30;
    cfg->prefix4_len = 24;
    cfg->prefix6_len = 64;
    cfg->dial_queue_max = 1024;
    cfg->idle_timeout = 6 * GS_SECONDS;
    cfg->keep_alive = 2 * GS_SECONDS;
    cfg->ack_coalesce = 5 * GS_MILLISECONDS;
    cfg->shutdown_timeout = 1500 * GS_MILLISECONDS;
    gs_node_cfg_default(&cfg->node);
    /* a backbone node heals small islands itself (docs/proto.md, "Healing"): early shuffles
     * stock a fresh joiner's passive view, refused refills escalate */
    cfg->node.shuffle_early = 2 * GS_SECONDS;
    cfg->node.refill_escalate = 2;
    cfg->node.max_topics = 4096;
}

static void add_err(gs_cfg_errors *errs, const char *source, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_err(gs_cfg_errors *errs, const char *source, const char *key, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errs == NULL) {
        return;
    }
    if (errs->n >= GS_CFG_MAX_ERRORS) {
        errs->dropped++;
        return;
    }
    n = snprintf(errs->msg[errs->n], sizeof(errs->msg[0]), "%s: %s: ", source, key);
    if (n < 0) {
        n = 0;
    }
    va_start(ap, fmt);
    (void)vsnprintf(errs->msg[errs->n] + n, sizeof(errs->msg[0]) - (size_t)n, fmt, ap);
    va_end(ap);
    errs->n++;
}

static int parse_u64(const char *s, uint64_t *out, int base)
{
    char *end;
    unsigned long long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0' || *s == '-' || *s == '+') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, base);
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

int gs_cfg_parse_topic(gs_cfg_topic *t, const char *s)
{
    size_t len = strlen(s);
    uint8_t id[32];

    if (len == 0 || len >= GS_CFG_MAX_NAME) {
        return GS_ERR_INVAL;
    }
    if (len == 64 && gs_id_parse(id, s, len) == 0) {
        memcpy(t->id.b, id, 32);
        t->name[0] = '\0';
        return 0;
    }
    gs_blake3_hash(s, len, t->id.b);
    memcpy(t->name, s, len + 1);
    return 0;
}

int gs_cfg_parse_peer(gs_cfg_peer *p, const char *s)
{
    const char *at = strchr(s, '@');
    size_t idlen = at ? (size_t)(at - s) : strlen(s);

    memset(p, 0, sizeof(*p));
    if (gs_id_parse(p->id, s, idlen) < 0) {
        return GS_ERR_INVAL;
    }
    if (at != NULL && gs_udp_addr_parse(&p->addr, at + 1) < 0) {
        return GS_ERR_INVAL;
    }
    return 0;
}

/* set_list_item parses one element |tok| of list key |k| and appends it. */
static int set_list_item(gs_server_cfg *cfg, const key_def *k, const char *tok, const char *source,
                         gs_cfg_errors *errs)
{
    size_t *pn = (size_t *)(void *)((char *)cfg + k->noff);
    size_t max = k->type == K_LISTEN ? GS_URING_MAX_SOCKS : GS_CFG_MAX_LIST;
    char *base = (char *)cfg + k->off;

    if (*pn >= max) {
        add_err(errs, source, k->name, "more than %zu entries", max);
        return GS_ERR_INVAL;
    }
    switch (k->type) {
    case K_LISTEN:
    case K_ADDRS:
        if (gs_udp_addr_parse((gs_udp_addr *)(void *)base + *pn, tok) < 0) {
            add_err(errs, source, k->name, "'%s' is not ADDR:PORT (IPv4 or [IPv6])", tok);
            return GS_ERR_INVAL;
        }
        break;
    case K_PEERS:
        if (gs_cfg_parse_peer((gs_cfg_peer *)(void *)base + *pn, tok) < 0) {
            add_err(errs, source, k->name,
                    "'%s' is not a peer (ID or ID@ADDR:PORT; ID 64 hex or 52 base32)", tok);
            return GS_ERR_INVAL;
        }
        break;
    case K_TOPICS:
        if (gs_cfg_parse_topic((gs_cfg_topic *)(void *)base + *pn, tok) < 0) {
            add_err(errs, source, k->name, "'%s' is not a topic (1..%d bytes)", tok,
                    GS_CFG_MAX_NAME - 1);
            return GS_ERR_INVAL;
        }
        break;
    default:
        return GS_ERR_INVAL;
    }
    (*pn)++;
    return 0;
}

int gs_server_cfg_set(gs_server_cfg *cfg, const char *name, const char *value, const char *source,
                      int gen, gs_cfg_errors *errs)
{
    const key_def *k = NULL;
    size_t ki;
    void *p;
    uint64_t v;
    int i;

    for (ki = 0; ki < NKEYS; ++ki) {
        if (strcmp(keys[ki].name, name) == 0) {
            k = &keys[ki];
            break;
        }
    }
    if (k == NULL) {
        add_err(errs, source, name, "unknown key");
        return GS_ERR_INVAL;
    }
    p = (char *)cfg + k->off;
    switch (k->type) {
    case K_PATH:
        if (strlen(value) >= GS_CFG_MAX_PATH) {
            add_err(errs, source, name, "longer than %d bytes", GS_CFG_MAX_PATH - 1);
            return GS_ERR_INVAL;
        }
        strcpy(p, value);
        return 0;
    case K_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0 ||
            strcmp(value, "on") == 0) {
            *(bool *)p = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "0") == 0 || strcmp(value, "off") == 0) {
            *(bool *)p = false;
        } else {
            add_err(errs, source, name, "'%s' is not a boolean (true/false)", value);
            return GS_ERR_INVAL;
        }
        return 0;
    case K_LOGLEVEL:
        if ((i = name_index(value, level_names, NNAMES(level_names))) < 0) {
            add_err(errs, source, name, "'%s' is not error, warn, info or debug", value);
            return GS_ERR_INVAL;
        }
        *(int *)p = i;
        return 0;
    case K_BCAST:
        if ((i = name_index(value, bcast_names, NNAMES(bcast_names))) < 0) {
            add_err(errs, source, name, "'%s' is not reference or many", value);
            return GS_ERR_INVAL;
        }
        *(gs_bcast_policy *)p = (gs_bcast_policy)i;
        return 0;
    case K_CTLTHR:
        if ((i = name_index(value, ctlthr_names, NNAMES(ctlthr_names))) < 0) {
            add_err(errs, source, name, "'%s' is not auto, own or shard", value);
            return GS_ERR_INVAL;
        }
        *(int *)p = i;
        return 0;
    case K_UINT:
    case K_SIZE:
    case K_U16:
    case K_MS:
    case K_MODE:
        if (parse_u64(value, &v, k->type == K_MODE ? 8 : 10) < 0) {
            add_err(errs, source, name, "'%s' is not a non-negative integer", value);
            return GS_ERR_INVAL;
        }
        if (k->type != K_MODE && (v < k->min || v > k->max)) {
            add_err(errs, source, name, "%s is outside [%llu, %llu]", value,
                    (unsigned long long)k->min, (unsigned long long)k->max);
            return GS_ERR_INVAL;
        }
        if (k->type == K_MODE && v > 0777) {
            add_err(errs, source, name, "%s is not a file mode (octal, <= 0777)", value);
            return GS_ERR_INVAL;
        }
        if (k->type == K_SIZE) {
            *(size_t *)p = (size_t)v;
        } else if (k->type == K_U16) {
            *(uint16_t *)p = (uint16_t)v;
        } else if (k->type == K_MS) {
            *(gs_duration *)p = v * GS_MILLISECONDS;
        } else {
            *(uint64_t *)p = v;
        }
        return 0;
    default: {
        char buf[4096];
        char *save = NULL;
        int rv = 0;

        if (gen < 0) {
            gen = -gen; /* one item, not split (command-line flags) */
            if (list_gen[ki] != gen) {
                *(size_t *)(void *)((char *)cfg + k->noff) = 0;
                list_gen[ki] = gen;
            }
            gen = -gen;
        } else if (list_gen[ki] != gen) {
            *(size_t *)(void *)((char *)cfg + k->noff) = 0;
            list_gen[ki] = gen;
        }
        if (strlen(value) >= sizeof(buf)) {
            add_err(errs, source, name, "value longer than %zu bytes", sizeof(buf) - 1);
            return GS_ERR_INVAL;
        }
        strcpy(buf, value);
        if (gen < 0 || (k->type == K_TOPICS && strpbrk(buf, ", \t") == NULL)) {
            return set_list_item(cfg, k, buf, source, errs);
        }
        for (char *tok = strtok_r(buf, ", \t", &save); tok != NULL;
             tok = strtok_r(NULL, ", \t", &save)) {
            if (set_list_item(cfg, k, tok, source, errs) < 0) {
                rv = GS_ERR_INVAL;
            }
        }
        return rv;
    }
    }
}

/* INI reading: inih calls the reader once per line, so the reader's count is the line of the
 * key the handler sees next. */
typedef struct ini_ctx {
    gs_server_cfg *cfg;
    gs_cfg_errors *errs;
    const char *path;
    FILE *f;
    int line;
    int rv;
} ini_ctx;

static char *cfg_reader(char *str, int num, void *stream)
{
    ini_ctx *c = stream;
    char *s = fgets(str, num, c->f);

    if (s != NULL) {
        c->line++;
    }
    return s;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    char key[256];
    char src[GS_CFG_MAX_PATH + 32];

    (void)snprintf(src, sizeof(src), "%s:%d", c->path, c->line);
    if (snprintf(key, sizeof(key), "%s.%s", section, name) >= (int)sizeof(key)) {
        add_err(c->errs, src, name, "key too long");
        c->rv = GS_ERR_INVAL;
        return 1;
    }
    if (gs_server_cfg_set(c->cfg, key, value, src, 1, c->errs) < 0) {
        c->rv = GS_ERR_INVAL;
    }
    return 1;
}

int gs_server_cfg_load_file(gs_server_cfg *cfg, const char *path, gs_cfg_errors *errs)
{
    ini_ctx c = {.cfg = cfg, .errs = errs, .path = path};
    char src[GS_CFG_MAX_PATH + 32];
    int rv;

    c.f = fopen(path, "r");
    if (c.f == NULL) {
        add_err(errs, path, "--config", "cannot open: %s", gs_strerror(-errno));
        return GS_ERR_INVAL;
    }
    rv = ini_parse_stream(cfg_reader, &c, cfg_handler, &c);
    (void)fclose(c.f);
    if (rv > 0) {
        (void)snprintf(src, sizeof(src), "%s:%d", path, rv);
        add_err(errs, src, "-", "syntax error (expected [section] or key = value)");
        return GS_ERR_INVAL;
    }
    return c.rv;
}

int gs_server_cfg_validate(gs_server_cfg *cfg, gs_cfg_errors *errs)
{
    int rv = 0;

    if (cfg->nlisten == 0) {
        add_err(errs, "config", "node.listen", "at least one address is needed");
        rv = GS_ERR_INVAL;
    }
    if (cfg->send_queue_low >= cfg->send_queue_max) {
        add_err(errs, "config", "limits.send_queue_low", "must be below limits.send_queue_max");
        rv = GS_ERR_INVAL;
    }
    if (cfg->keep_alive * 2 > cfg->idle_timeout) {
        add_err(errs, "config", "limits.keep_alive_ms",
                "must be at most limits.idle_timeout_ms / 2");
        rv = GS_ERR_INVAL;
    }
    if (cfg->node.cache_bytes < 2 * cfg->node.max_message_size) {
        add_err(errs, "config", "protocol.cache_bytes", "must be at least 2 * max_message_size");
        rv = GS_ERR_INVAL;
    }
    if (cfg->metrics_listen[0] != '\0') {
        gs_udp_addr a;

        if (gs_udp_addr_parse(&a, cfg->metrics_listen) < 0) {
            add_err(errs, "config", "metrics.listen", "not ADDR:PORT (IPv4 or [IPv6])");
            rv = GS_ERR_INVAL;
        }
    }
    if (rv == 0 && gs_node_cfg_validate(&cfg->node) < 0) {
        add_err(errs, "config", "protocol", "parameters rejected by the protocol node");
        rv = GS_ERR_INVAL;
    }
    return rv;
}

static void print_value(const gs_server_cfg *cfg, const key_def *k, FILE *f)
{
    const char *p = (const char *)cfg + k->off;
    char buf[GS_UDP_ADDR_STRLEN];
    char hex[65];
    size_t n = k->noff ? *(const size_t *)(const void *)((const char *)cfg + k->noff) : 0;

    switch (k->type) {
    case K_PATH:
        fputs(p, f);
        break;
    case K_BOOL:
        fputs(*(const bool *)(const void *)p ? "true" : "false", f);
        break;
    case K_LOGLEVEL:
        fputs(level_names[*(const int *)(const void *)p], f);
        break;
    case K_BCAST:
        fputs(bcast_names[*(const gs_bcast_policy *)(const void *)p], f);
        break;
    case K_CTLTHR:
        fputs(ctlthr_names[*(const int *)(const void *)p], f);
        break;
    case K_UINT:
        fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)(const void *)p);
        break;
    case K_SIZE:
        fprintf(f, "%zu", *(const size_t *)(const void *)p);
        break;
    case K_U16:
        fprintf(f, "%u", (unsigned)*(const uint16_t *)(const void *)p);
        break;
    case K_MS:
        fprintf(f, "%llu",
                (unsigned long long)(*(const gs_duration *)(const void *)p / GS_MILLISECONDS));
        break;
    case K_MODE:
        fprintf(f, "0%03llo", (unsigned long long)*(const uint64_t *)(const void *)p);
        break;
    case K_LISTEN:
    case K_ADDRS:
        for (size_t i = 0; i < n; ++i) {
            (void)gs_udp_addr_format((const gs_udp_addr *)(const void *)p + i, buf, sizeof(buf));
            fprintf(f, "%s%s", i ? ", " : "", buf);
        }
        break;
    case K_PEERS:
        for (size_t i = 0; i < n; ++i) {
            const gs_cfg_peer *pe = (const gs_cfg_peer *)(const void *)p + i;

            gs_cfg_hex(pe->id, 32, hex);
            fprintf(f, "%s%s", i ? ", " : "", hex);
            if (pe->addr.len > 0) {
                (void)gs_udp_addr_format(&pe->addr, buf, sizeof(buf));
                fprintf(f, "@%s", buf);
            }
        }
        break;
    case K_TOPICS:
        for (size_t i = 0; i < n; ++i) {
            const gs_cfg_topic *t = (const gs_cfg_topic *)(const void *)p + i;

            gs_cfg_hex(t->id.b, 32, hex);
            fprintf(f, "%s%s", i ? ", " : "", hex);
            if (t->name[0] != '\0') {
                fprintf(f, " ; %s", t->name);
            }
        }
        break;
    }
}

void gs_server_cfg_print(const gs_server_cfg *cfg, FILE *f)
{
    char section[32] = "";

    for (size_t i = 0; i < NKEYS; ++i) {
        const char *dot = strchr(keys[i].name, '.');
        size_t slen = (size_t)(dot - keys[i].name);

        if (strlen(section) != slen || strncmp(section, keys[i].name, slen) != 0) {
            memcpy(section, keys[i].name, slen);
            section[slen] = '\0';
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(f, "# %s\n%s = ", keys[i].help, dot + 1);
        print_value(cfg, &keys[i], f);
        fputc('\n', f);
    }
}
