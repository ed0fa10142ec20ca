/* SPDX-License-Identifier: MIT */
/*
 * control.c: the control thread (epoll over the listening socket, the clients and an eventfd
 * doorbell) and the JSON-lines protocol of docs/control.md.
 *
 * Ordering: every client has a FIFO of pending requests; a reply is written only when every
 * earlier request of that client has been answered, so replies come in request order even when
 * different shards answer.  Events are written as they arrive.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "frames.h"
#include "kmap.h"
#include "log.h"
#include "metrics.h"
#include "shard.h"

#define MAX_PENDING 64 /* requests in flight per client; beyond, reading pauses */

/* Binary framing (docs/control.md, "Binary framing"): after {"op":"framing","mode":"binary"}
 * both directions carry frames: u32 big-endian length L, then L bytes: a type byte and its body. */
#define BIN_PUBLISH           0x01 /* client: topic id (32) + content; scope swarm */
#define BIN_PUBLISH_NEIGHBORS 0x02 /* client: topic id (32) + content; scope neighbors */
#define BIN_JSON              0x03 /* both: one JSON request / reply / event (no newline) */
#define BIN_PUBLISHED         0x81 /* server: a publish succeeded: msg id (32) */
#define BIN_RECEIVED                                                                               \
    0x90             /* server: topic (32) msg id (32) from (32) scope (1) round (2) content       \
                      */
#define BIN_HDR    5 /* length (4) + type (1) */
#define READ_CHUNK 65536
/* EVENT_FLUSH_AT: queued event bytes (at most half of control.client_queue) that make
 * deliver_event write at once instead of at the end of the drain, so a burst does not fill the
 * client's queue before the socket has taken any of it. */
#define EVENT_FLUSH_AT 65536
#define EPOLL_BATCH    64
#define TAG_LISTEN     ((uint64_t)1 << 62)
#define TAG_EVENTFD    ((uint64_t)1 << 61)

typedef struct client client;

/* pending: one request in flight (or answered and waiting for earlier ones). */
typedef struct pending {
    struct pending *next;
    client *cl; /* NULL once the client is gone */
    json_t *id; /* the request's "id" (NULL: none) */
    gs_ctl_op op;
    unsigned nwait; /* shard answers still expected */
    json_t *reply;  /* built when complete */
    json_t *parts;  /* STATUS/PEERS/TOPICS: array of shard results */
    gs_cfg_topic topic;
    gs_key view[64]; /* SUBSCRIBE: neighbours to report after the reply */
    size_t nview;
    bool done;
    bool bin_publish; /* a BIN_PUBLISH*: answer BIN_PUBLISHED when it succeeds */
    bool bin_switch;  /* the framing request: output turns binary after this reply */
} pending;

typedef struct sub {
    gs_topic_id topic;
    char name[GS_CFG_MAX_NAME];
} sub;

struct client {
    int fd;
    uint64_t gen;
    char *in;
    size_t inlen;
    size_t incap;
    char *out;
    size_t outlen;
    size_t outoff;
    uint64_t lagged;       /* events dropped since the last `lagged` event */
    gs_topic_id lag_topic; /* the topic of the first of them */
    bool closing;          /* write what is queued, then close */
    bool want_out;         /* EPOLLOUT armed */
    bool paused;           /* reading paused: too many pending */
    bool resume;           /* paused ended: parse the input already buffered */
    bool bin_in;           /* input is binary frames (after a framing request) */
    bool bin_out;          /* output is binary frames (after the framing reply) */
    bool unflushed;        /* events queued by this drain_mesh, written when it ends */
    pending *head;
    pending *tail;
    size_t npending;
    sub *subs;
    size_t nsubs;
};

/* topic_subs: the clients subscribed to one topic. */
typedef struct topic_subs {
    client **cl;
    size_t n;
    size_t cap;
} topic_subs;

struct gs_control {
    gs_server *srv;
    unsigned ep;   /* our mesh endpoint */
    bool on_shard; /* served inside a shard's turns (gs_control_poll), not by gs_control_run */
    int lfd;
    int efd;
    int epfd;
    _Atomic int stop;
    client **clients;
    size_t nclients;
    uint64_t next_gen;
    gs_kmap subs; /* topic -> topic_subs */
    gs_mbox_rec rbuf[256];
    /* counters */
    uint64_t requests;
    uint64_t errors;
    uint64_t refused_clients;
    uint64_t events_dropped;
    bool accept_paused; /* out of descriptors: the listening socket is not polled */
};

/* ---- base64 ---- */

void gs_b64_encode(const uint8_t *in, size_t len, char *out)
{
    /* libsodium's encoder: padded, NUL-terminated, 4*ceil(len/3)+1 bytes */
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), in, len,
                      sodium_base64_VARIANT_ORIGINAL);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

gs_ssize gs_b64_decode(const char *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (len > 0 && in[len - 1] == '=') {
        len--;
    }
    if (len % 4 == 1) {
        return -1;
    }
    for (size_t i = 0; i < len; ++i) {
        int v = b64val(in[i]);

        if (v < 0) {
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (gs_ssize)o;
}

/* ---- output ---- */

static void client_arm(gs_control *c, client *cl)
{
    struct epoll_event ev = {.data.ptr = cl};
    bool want = cl->outlen > cl->outoff;

    ev.events = (cl->paused || cl->closing ? 0u : EPOLLIN) | (want ? EPOLLOUT : 0u);
    (void)epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
    cl->want_out = want;
}

static void client_flush(client *cl)
{
    while (cl->outoff < cl->outlen) {
        ssize_t n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                cl->closing = true;
                cl->outoff = cl->outlen; /* dead: drop */
            }
            break;
        }
        cl->outoff += (size_t)n;
    }
    if (cl->outoff == cl->outlen) {
        cl->outoff = cl->outlen = 0;
    } else if (cl->outoff > 65536 && cl->outoff * 2 > cl->outlen) {
        memmove(cl->out, cl->out + cl->outoff, cl->outlen - cl->outoff);
        cl->outlen -= cl->outoff;
        cl->outoff = 0;
    }
}

/* queue_raw appends |h| (|hlen| bytes) then |s| (|len| bytes).  |force| ignores the bound
 * (replies: they are bounded by the pending limit).  Returns false when it did not fit. */
static bool queue_raw(gs_control *c, client *cl, const void *h, size_t hlen, const void *s,
                      size_t len, bool force)
{
    size_t need = cl->outlen + hlen + len;

    if (!force && need - cl->outoff > c->srv->cfg.control_client_queue) {
        return false;
    }
    if (need > SIZE_MAX / 2) {
        return false;
    }
    if (cl->outoff > 0 && need > 65536) {
        memmove(cl->out, cl->out + cl->outoff, cl->outlen - cl->outoff);
        cl->outlen -= cl->outoff;
        cl->outoff = 0;
        need = cl->outlen + hlen + len;
    }
    if (need > 0) {
        size_t cap = 4096;
        char *nb;

        while (cap < need) {
            cap *= 2;
        }
        nb = realloc(cl->out, cap);
        if (nb == NULL) {
            return false;
        }
        cl->out = nb;
    }
    if (hlen > 0) {
        memcpy(cl->out + cl->outlen, h, hlen);
    }
    if (len > 0) {
        memcpy(cl->out + cl->outlen + hlen, s, len);
    }
    cl->outlen += hlen + len;
    return true;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* queue_frame appends a binary frame of |type| whose body is |s|. */
static bool queue_frame(gs_control *c, client *cl, uint8_t type, const void *s, size_t len,
                        bool force)
{
    uint8_t h[BIN_HDR];

    if (len >= UINT32_MAX) {
        return false;
    }
    put_be32(h, (uint32_t)len + 1);
    h[4] = type;
    return queue_raw(c, cl, h, sizeof(h), s, len, force);
}

/* queue_line appends one JSON text: |s| + '\n', or a BIN_JSON frame on a binary connection. */
static bool queue_line(gs_control *c, client *cl, const char *s, size_t len, bool force)
{
    if (cl->bin_out) {
        return queue_frame(c, cl, BIN_JSON, s, len, force);
    }
    return queue_raw(c, cl, s, len, "\n", 1, force);
}

static void queue_json(gs_control *c, client *cl, json_t *o, bool force)
{
    char *s = json_dumps(o, JSON_COMPACT);

    if (s != NULL) {
        (void)queue_line(c, cl, s, strlen(s), force);
        free(s);
    }
}

static json_t *error_reply(json_t *id, const char *code, const char *msg)
{
    json_t *o = json_object();

    json_object_set(o, "id", id ? id : json_null());
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(msg));
    return o;
}

/* refuse_too_long answers a request over control.max_line with `too_large`, drops what was
 * buffered and closes the client once the reply is written. */
static void refuse_too_long(gs_control *c, client *cl, const char *msg)
{
    json_t *o = error_reply(NULL, "too_large", msg);

    c->errors++;
    queue_json(c, cl, o, true);
    json_decref(o);
    cl->inlen = 0;
    cl->closing = true;
}

static json_t *hexj(const uint8_t *b)
{
    char hex[65];

    gs_cfg_hex(b, 32, hex);
    return json_string(hex);
}

static void topic_members(json_t *o, const gs_topic_id *t, const char *name)
{
    json_object_set_new(o, "topic", hexj(t->b));
    if (name != NULL && name[0] != '\0') {
        json_object_set_new(o, "topic_name", json_string(name));
    }
}

/* ---- subscriptions ---- */

static void sub_add(gs_control *c, client *cl, const gs_cfg_topic *t)
{
    topic_subs *ts = gs_kmap_get(&c->subs, t->id.b);

    for (size_t i = 0; i < cl->nsubs; ++i) {
        if (memcmp(cl->subs[i].topic.b, t->id.b, 32) == 0) {
            return;
        }
    }
    if (ts == NULL) {
        ts = calloc(1, sizeof(*ts));
        if (ts == NULL || gs_kmap_put(&c->subs, t->id.b, ts) < 0) {
            free(ts);
            return;
        }
    }
    if (ts->n == ts->cap) {
        size_t ncap = ts->cap ? ts->cap * 2 : 4;
        client **n = realloc(ts->cl, ncap * sizeof(*n));

        if (n == NULL) {
            return;
        }
        ts->cl = n;
        ts->cap = ncap;
    }
    ts->cl[ts->n++] = cl;
    cl->subs[cl->nsubs].topic = t->id;
    strcpy(cl->subs[cl->nsubs].name, t->name);
    cl->nsubs++;
}

static void send_req(gs_control *c, gs_ctl_req *q, unsigned shard);

/* sub_remove drops |cl| from |topic|'s list; |tell| sends UNSUBSCRIBE to the shard. */
static bool sub_remove(gs_control *c, client *cl, const gs_topic_id *topic, bool tell)
{
    topic_subs *ts = gs_kmap_get(&c->subs, topic->b);
    bool found = false;

    for (size_t i = 0; i < cl->nsubs; ++i) {
        if (memcmp(cl->subs[i].topic.b, topic->b, 32) == 0) {
            cl->subs[i] = cl->subs[--cl->nsubs];
            found = true;
            break;
        }
    }
    if (!found) {
        return false;
    }
    if (ts != NULL) {
        for (size_t i = 0; i < ts->n; ++i) {
            if (ts->cl[i] == cl) {
                ts->cl[i] = ts->cl[--ts->n];
                break;
            }
        }
        if (ts->n == 0) {
            gs_kmap_del(&c->subs, topic->b);
            free(ts->cl);
            free(ts);
        }
    }
    if (tell) {
        gs_ctl_req *q = calloc(1, sizeof(*q));

        if (q != NULL) {
            q->op = GS_CTL_UNSUBSCRIBE;
            q->topic.id = *topic;
            send_req(c, q, gs_server_topic_shard(c->srv, topic->b));
        }
    }
    return true;
}

/* ---- requests ---- */

static void send_req(gs_control *c, gs_ctl_req *q, unsigned shard)
{
    gs_mbox_rec r = {.type = GS_MBOX_CTL, .ptr = q};

    q->shard = shard;
    if (gs_mesh_send_ctl(c->srv->mesh, c->ep, shard, &r) < 0) {
        /* cannot happen with a sane backlog: answer it ourselves as busy */
        q->rv = GS_ERR_AGAIN;
        q->err_code = "busy";
        r.type = GS_MBOX_CTL_DONE;
        /* handled by the caller through complete(): emulate a reply */
        free(q->content);
        q->content = NULL;
        if (q->owner != NULL) {
            pending *p = q->owner;

            if (p->reply == NULL) {
                p->reply = error_reply(p->id, "busy", "the shard's queue is full: retry");
            }
            p->nwait--;
            p->done = p->nwait == 0;
        }
        json_decref(q->result);
        free(q);
    }
}

static void client_close(gs_control *c, client *cl);

/* write_ready writes every answered request at the head of |cl|'s FIFO. */
static void write_ready(gs_control *c, client *cl)
{
    while (cl->head != NULL && cl->head->done) {
        pending *p = cl->head;

        cl->head = p->next;
        if (cl->head == NULL) {
            cl->tail = NULL;
        }
        cl->npending--;
        if (p->bin_publish && cl->bin_out && json_is_true(json_object_get(p->reply, "ok"))) {
            uint8_t mid[32];
            const char *hx = json_string_value(json_object_get(p->reply, "msg_id"));

            memset(mid, 0, sizeof(mid));
            for (size_t i = 0; hx != NULL && i < 32 && hx[2 * i] && hx[2 * i + 1]; ++i) {
                unsigned v = 0;

                (void)sscanf(hx + 2 * i, "%2x", &v);
                mid[i] = (uint8_t)v;
            }
            (void)queue_frame(c, cl, BIN_PUBLISHED, mid, sizeof(mid), true);
        } else {
            queue_json(c, cl, p->reply, true);
        }
        if (p->bin_switch) {
            cl->bin_out = true;
        }
        if (p->op == GS_CTL_SUBSCRIBE && json_is_true(json_object_get(p->reply, "ok"))) {
            for (size_t i = 0; i < p->nview; ++i) {
                json_t *ev = json_object();

                json_object_set_new(ev, "event", json_string("neighbor_up"));
                topic_members(ev, &p->topic.id, p->topic.name);
                json_object_set_new(ev, "peer", hexj(p->view[i].b));
                queue_json(c, cl, ev, true);
                json_decref(ev);
            }
        }
        json_decref(p->reply);
        json_decref(p->id);
        json_decref(p->parts);
        free(p);
    }
    if (cl->paused && cl->npending < MAX_PENDING / 2) {
        cl->paused = false;
        cl->resume = true; /* lines read while paused wait in the input buffer */
    }
}

static pending *pending_new(client *cl, json_t *id, gs_ctl_op op)
{
    pending *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    p->cl = cl;
    p->id = id ? json_incref(id) : NULL;
    p->op = op;
    if (cl->tail != NULL) {
        cl->tail->next = p;
    } else {
        cl->head = p;
    }
    cl->tail = p;
    cl->npending++;
    if (cl->npending >= MAX_PENDING) {
        cl->paused = true;
    }
    return p;
}

static void reply_now(gs_control *c, client *cl, json_t *id, json_t *reply)
{
    pending *p = pending_new(cl, id, GS_CTL_STATUS);

    if (p == NULL) {
        json_decref(reply);
        return;
    }
    p->reply = reply;
    p->done = true;
    write_ready(c, cl);
}

static void reply_error(gs_control *c, client *cl, json_t *id, const char *code, const char *msg)
{
    c->errors++;
    reply_now(c, cl, id, error_reply(id, code, msg));
}

static int parse_topic_member(json_t *req, gs_cfg_topic *t)
{
    json_t *v = json_object_get(req, "topic");

    if (!json_is_string(v) || gs_cfg_parse_topic(t, json_string_value(v)) < 0) {
        return -1;
    }
    return 0;
}

/* check_members returns the first member of |req| not in |allowed| (NULL: all known). */
static const char *check_members(json_t *req, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(req, key, v)
    {
        bool ok = strcmp(key, "op") == 0 || strcmp(key, "id") == 0 || strcmp(key, "ext") == 0;

        for (size_t i = 0; !ok && allowed[i] != NULL; ++i) {
            ok = strcmp(key, allowed[i]) == 0;
        }
        if (!ok) {
            return key;
        }
    }
    return NULL;
}

static void handle_request(gs_control *c, client *cl, const char *line, size_t len)
{
    static const char *const none[] = {NULL};
    static const char *const m_join[] = {"topic", "peers", NULL};
    static const char *const m_topic[] = {"topic", NULL};
    static const char *const m_pub[] = {"topic", "content", "scope", NULL};
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *id = NULL;
    const char *opname;
    const char *bad;
    const char *const *members;
    gs_ctl_op op;
    gs_ctl_req *q;
    pending *p;
    char msg[256];

    c->requests++;
    if (req == NULL || !json_is_object(req)) {
        (void)snprintf(msg, sizeof(msg), "not a JSON object: %s", req ? "wrong type" : jerr.text);
        reply_error(c, cl, NULL, "bad_json", msg);
        json_decref(req);
        return;
    }
    id = json_object_get(req, "id");
    opname = json_string_value(json_object_get(req, "op"));
    if (opname == NULL) {
        reply_error(c, cl, id, "bad_request", "missing string member \"op\"");
        goto out;
    }
    if (strcmp(opname, "status") == 0) {
        op = GS_CTL_STATUS, members = none;
    } else if (strcmp(opname, "peers") == 0) {
        op = GS_CTL_PEERS, members = none;
    } else if (strcmp(opname, "topics") == 0) {
        op = GS_CTL_TOPICS, members = none;
    } else if (strcmp(opname, "join") == 0) {
        op = GS_CTL_JOIN, members = m_join;
    } else if (strcmp(opname, "leave") == 0) {
        op = GS_CTL_LEAVE, members = m_topic;
    } else if (strcmp(opname, "publish") == 0) {
        op = GS_CTL_PUBLISH, members = m_pub;
    } else if (strcmp(opname, "subscribe") == 0) {
        op = GS_CTL_SUBSCRIBE, members = m_topic;
    } else if (strcmp(opname, "unsubscribe") == 0) {
        op = GS_CTL_UNSUBSCRIBE, members = m_topic;
    } else if (strcmp(opname, "framing") == 0) {
        const char *mode = json_string_value(json_object_get(req, "mode"));
        static const char *const m_framing[] = {"mode", NULL};
        json_t *o;

        bad = check_members(req, m_framing);
        if (bad != NULL || mode == NULL || strcmp(mode, "binary") != 0 || cl->bin_in) {
            reply_error(c, cl, id, "bad_request",
                        "framing needs \"mode\": \"binary\" (once per connection)");
            goto out;
        }
        o = json_object();
        json_object_set(o, "id", id ? id : json_null());
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "framing", json_string("binary"));
        p = pending_new(cl, id, GS_CTL_STATUS);
        if (p == NULL) {
            json_decref(o);
            goto out;
        }
        p->reply = o;
        p->done = true;
        p->bin_switch = true;
        cl->bin_in = true; /* the bytes after this line are frames */
        write_ready(c, cl);
        goto out;
    } else {
        (void)snprintf(msg, sizeof(msg), "unknown op \"%.64s\"", opname);
        reply_error(c, cl, id, "unknown_op", msg);
        goto out;
    }
    bad = check_members(req, members);
    if (bad != NULL) {
        (void)snprintf(msg, sizeof(msg), "unknown member \"%.64s\"", bad);
        reply_error(c, cl, id, "bad_request", msg);
        goto out;
    }
    if (op == GS_CTL_STATUS || op == GS_CTL_PEERS || op == GS_CTL_TOPICS) {
        p = pending_new(cl, id, op);
        if (p == NULL) {
            goto out;
        }
        p->parts = json_array();
        p->nwait = c->srv->nshards;
        for (unsigned s = 0; s < c->srv->nshards; ++s) {
            q = calloc(1, sizeof(*q));
            if (q == NULL) {
                p->nwait--;
                continue;
            }
            q->op = op;
            q->owner = p;
            send_req(c, q, s);
        }
        p->done = p->nwait == 0;
        if (p->done && p->reply == NULL) {
            p->reply = error_reply(id, "internal", "out of memory");
        }
        write_ready(c, cl);
        goto out;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        reply_error(c, cl, id, "internal", "out of memory");
        goto out;
    }
    q->op = op;
    if (parse_topic_member(req, &q->topic) < 0) {
        free(q);
        reply_error(c, cl, id, json_object_get(req, "topic") ? "bad_topic" : "bad_request",
                    "\"topic\" must be 64 hex digits or a non-empty string (< 128 bytes)");
        goto out;
    }
    if (op == GS_CTL_JOIN) {
        json_t *peers = json_object_get(req, "peers");
        size_t i;
        json_t *v;

        if (peers != NULL && !json_is_array(peers)) {
            free(q);
            reply_error(c, cl, id, "bad_request", "\"peers\" must be an array of strings");
            goto out;
        }
        json_array_foreach(peers, i, v)
        {
            if (i >= GS_CTL_MAX_PEERS || !json_is_string(v) ||
                gs_cfg_parse_peer(&q->peers[i], json_string_value(v)) < 0) {
                free(q);
                (void)snprintf(msg, sizeof(msg), "peer %zu is not ID or ID@ADDR:PORT (at most %d)",
                               i, GS_CTL_MAX_PEERS);
                reply_error(c, cl, id, "bad_peer", msg);
                goto out;
            }
            q->npeers = i + 1;
        }
    } else if (op == GS_CTL_PUBLISH) {
        json_t *content = json_object_get(req, "content");
        json_t *scope = json_object_get(req, "scope");
        const char *s;
        size_t slen;
        gs_ssize n;

        if (!json_is_string(content) ||
            (scope != NULL &&
             (!json_is_string(scope) || (strcmp(json_string_value(scope), "swarm") != 0 &&
                                         strcmp(json_string_value(scope), "neighbors") != 0)))) {
            free(q);
            reply_error(c, cl, id, "bad_request",
                        "publish needs \"content\" (base64) and an optional \"scope\" "
                        "(\"swarm\" or \"neighbors\")");
            goto out;
        }
        q->scope = scope != NULL && strcmp(json_string_value(scope), "neighbors") == 0
                       ? GS_SCOPE_NEIGHBORS
                       : GS_SCOPE_SWARM;
        s = json_string_value(content);
        slen = json_string_length(content);
        if (slen / 4 * 3 > c->srv->cfg.node.max_message_size) {
            free(q);
            (void)snprintf(msg, sizeof(msg),
                           "content does not fit the message size limit (%zu bytes)",
                           c->srv->cfg.node.max_message_size);
            reply_error(c, cl, id, "too_large", msg);
            goto out;
        }
        q->content = malloc(slen / 4 * 3 + 3);
        n = q->content ? gs_b64_decode(s, slen, q->content) : -1;
        if (n < 0) {
            free(q->content);
            free(q);
            reply_error(c, cl, id, "bad_base64", "\"content\" is not valid base64");
            goto out;
        }
        q->len = (size_t)n;
    } else if (op == GS_CTL_SUBSCRIBE) {
        bool already = false;

        for (size_t i = 0; i < cl->nsubs; ++i) {
            already = already || memcmp(cl->subs[i].topic.b, q->topic.id.b, 32) == 0;
        }
        if (!already && cl->nsubs >= c->srv->cfg.control_max_subs) {
            free(q);
            reply_error(c, cl, id, "limit", "too many subscriptions on this connection");
            goto out;
        }
    } else if (op == GS_CTL_UNSUBSCRIBE) {
        json_t *o = json_object();

        if (!sub_remove(c, cl, &q->topic.id, true)) {
            json_decref(o);
            free(q);
            reply_error(c, cl, id, "not_joined", "not subscribed to this topic");
            goto out;
        }
        json_object_set(o, "id", id ? id : json_null());
        json_object_set_new(o, "ok", json_true());
        topic_members(o, &q->topic.id, q->topic.name);
        free(q);
        reply_now(c, cl, id, o);
        goto out;
    }
    p = pending_new(cl, id, op);
    if (p == NULL) {
        free(q->content);
        free(q);
        goto out;
    }
    p->topic = q->topic;
    p->nwait = 1;
    q->owner = p;
    send_req(c, q, gs_server_topic_shard(c->srv, q->topic.id.b));
    write_ready(c, cl);
out:
    json_decref(req);
}

/* handle_bin_publish: a BIN_PUBLISH* frame, the same as a JSON publish with the topic's id. */
static void handle_bin_publish(gs_control *c, client *cl, const uint8_t *b, size_t len,
                               gs_scope scope)
{
    gs_ctl_req *q;
    pending *p;

    c->requests++;
    if (len < 32) {
        reply_error(c, cl, NULL, "bad_request", "binary publish shorter than a topic id");
        return;
    }
    if (len - 32 > c->srv->cfg.node.max_message_size) {
        reply_error(c, cl, NULL, "too_large", "content does not fit the message size limit");
        return;
    }
    q = calloc(1, sizeof(*q));
    if (q != NULL) {
        q->content = malloc(len - 32 + 1);
    }
    if (q == NULL || q->content == NULL) {
        if (q != NULL) {
            free(q);
        }
        reply_error(c, cl, NULL, "internal", "out of memory");
        return;
    }
    q->op = GS_CTL_PUBLISH;
    memcpy(q->topic.id.b, b, 32);
    memcpy(q->content, b + 32, len - 32);
    q->len = len - 32;
    q->scope = scope;
    p = pending_new(cl, NULL, GS_CTL_PUBLISH);
    if (p == NULL) {
        free(q->content);
        free(q);
        return;
    }
    p->bin_publish = true;
    p->topic = q->topic;
    p->nwait = 1;
    q->owner = p;
    send_req(c, q, gs_server_topic_shard(c->srv, q->topic.id.b));
    write_ready(c, cl);
}

/* handle_frame: one binary frame (type byte + body). */
static void handle_frame(gs_control *c, client *cl, const uint8_t *f, size_t len)
{
    switch (f[0]) {
    case BIN_PUBLISH:
        handle_bin_publish(c, cl, f + 1, len - 1, GS_SCOPE_SWARM);
        break;
    case BIN_PUBLISH_NEIGHBORS:
        handle_bin_publish(c, cl, f + 1, len - 1, GS_SCOPE_NEIGHBORS);
        break;
    case BIN_JSON:
        handle_request(c, cl, (const char *)f + 1, len - 1);
        break;
    default:
        c->requests++;
        reply_error(c, cl, NULL, "bad_request", "unknown binary frame type");
        break;
    }
}

/* parse_input handles every complete request in |cl|'s input (lines, or frames once binary)
 * until reading pauses.  Returns false when a request is longer than control.max_line. */
static bool parse_input(gs_control *c, client *cl)
{
    size_t max_line = c->srv->cfg.control_max_line;
    size_t start = 0;
    bool ok = true;

    while (start < cl->inlen && !cl->paused && !cl->closing) {
        if (cl->bin_in) {
            const uint8_t *h = (const uint8_t *)cl->in + start;
            size_t l;

            if (cl->inlen - start < 4) {
                break;
            }
            l = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
            if (l == 0 || l > max_line) {
                ok = false;
                break;
            }
            if (cl->inlen - start - 4 < l) {
                break;
            }
            handle_frame(c, cl, h + 4, l);
            start += 4 + l;
        } else {
            char *nl = memchr(cl->in + start, '\n', cl->inlen - start);
            size_t i;

            if (nl == NULL) {
                break;
            }
            i = (size_t)(nl - cl->in);
            if (i - start > max_line) {
                ok = false;
                break;
            }
            if (i > start) {
                handle_request(c, cl, cl->in + start, i - start);
            }
            start = i + 1;
        }
    }
    if (start > 0) {
        memmove(cl->in, cl->in + start, cl->inlen - start);
        cl->inlen -= start;
    }
    if (ok && !cl->bin_in && cl->inlen > max_line && memchr(cl->in, '\n', cl->inlen) == NULL) {
        ok = false;
    }
    return ok;
}

/* merge_peers joins the shards' `peers` parts by id (topics and addresses are unions) and keeps
 * the peers with a send path (an entry carrying "shard"). */
static json_t *merge_peers(json_t *parts)
{
    json_t *by_id = json_object();
    json_t *out = json_array();
    json_t *part;
    json_t *e;
    const char *id;
    size_t i;

    json_array_foreach(parts, i, part)
    {
        size_t j;

        json_array_foreach(part, j, e)
        {
            const char *pid = json_string_value(json_object_get(e, "id"));
            json_t *m;

            if (pid == NULL) {
                continue;
            }
            m = json_object_get(by_id, pid);
            if (m == NULL) {
                json_object_set(by_id, pid, e);
                continue;
            }
            json_array_extend(json_object_get(m, "topics"), json_object_get(e, "topics"));
            json_array_extend(json_object_get(m, "addrs"), json_object_get(e, "addrs"));
            if (json_object_get(e, "shard") != NULL) {
                json_object_set(m, "shard", json_object_get(e, "shard"));
                json_object_set(m, "version", json_object_get(e, "version"));
            }
        }
    }
    json_object_foreach(by_id, id, e)
    {
        if (json_object_get(e, "shard") != NULL) {
            json_array_append(out, e);
        }
    }
    json_decref(by_id);
    return out;
}

/* complete handles a shard's answer |q|. */
static void complete(gs_control *c, gs_ctl_req *q)
{
    pending *p = q->owner;
    json_t *o;

    free(q->content);
    if (p == NULL) { /* fire-and-forget (UNSUBSCRIBE of a closed client) */
        json_decref(q->result);
        free(q);
        return;
    }
    if (p->parts != NULL) {
        if (q->result != NULL) {
            json_array_append_new(p->parts, q->result);
        }
    } else if (q->rv < 0) {
        p->reply = error_reply(p->id, q->err_code ? q->err_code : "internal", gs_strerror(q->rv));
    } else {
        o = json_object();
        json_object_set(o, "id", p->id ? p->id : json_null());
        json_object_set_new(o, "ok", json_true());
        topic_members(o, &q->topic.id, q->topic.name);
        if (q->op == GS_CTL_PUBLISH) {
            json_object_set_new(o, "msg_id", hexj(q->msg_id.b));
        }
        if (q->op == GS_CTL_SUBSCRIBE) {
            memcpy(p->view, q->view, q->nview * sizeof(gs_key));
            p->nview = q->nview;
            if (p->cl != NULL) {
                sub_add(c, p->cl, &q->topic);
            } else {
                gs_ctl_req *u = calloc(1, sizeof(*u));

                if (u != NULL) {
                    u->op = GS_CTL_UNSUBSCRIBE;
                    u->topic = q->topic;
                    send_req(c, u, q->shard);
                }
            }
        }
        p->reply = o;
    }
    free(q);
    if (--p->nwait > 0) {
        return;
    }
    if (p->parts != NULL && p->reply == NULL) {
        o = json_object();
        json_object_set(o, "id", p->id ? p->id : json_null());
        json_object_set_new(o, "ok", json_true());
        if (p->op == GS_CTL_STATUS) {
            gs_server *srv = c->srv;
            json_t *addrs = json_array();
            json_t *totals = json_object();
            json_t *rings = json_object();
            json_t *part;
            size_t i;
            char buf[GS_UDP_ADDR_STRLEN];
            gs_mesh_stats ms;
            uint64_t sent = 0, recv = 0, refused = 0, backlogged = 0, wakes = 0;

            for (i = 0; i < srv->nbound; ++i) {
                if (gs_udp_addr_format(&srv->bound[i], buf, sizeof(buf)) > 0) {
                    json_array_append_new(addrs, json_string(buf));
                }
            }
            json_array_foreach(p->parts, i, part)
            {
                const char *k;
                json_t *v;

                json_object_foreach(json_object_get(part, "counters"), k, v)
                {
                    json_int_t old = json_integer_value(json_object_get(totals, k));

                    json_object_set_new(totals, k, json_integer(old + json_integer_value(v)));
                }
            }
            for (unsigned s = 0; s <= srv->nshards; ++s) {
                gs_mesh_stats_get(srv->mesh, s, &ms);
                sent += ms.sent;
                recv += ms.received;
                refused += ms.refused;
                backlogged += ms.backlogged;
                wakes += ms.wakes;
            }
            json_object_set_new(rings, "sent", json_integer((json_int_t)sent));
            json_object_set_new(rings, "received", json_integer((json_int_t)recv));
            json_object_set_new(rings, "refused", json_integer((json_int_t)refused));
            json_object_set_new(rings, "backlogged", json_integer((json_int_t)backlogged));
            json_object_set_new(rings, "doorbells", json_integer((json_int_t)wakes));
            json_object_set_new(totals, "control_requests", json_integer((json_int_t)c->requests));
            json_object_set_new(totals, "control_errors", json_integer((json_int_t)c->errors));
            json_object_set_new(totals, "control_clients", json_integer((json_int_t)c->nclients));
            json_object_set_new(totals, "control_refused_clients",
                                json_integer((json_int_t)c->refused_clients));
            json_object_set_new(totals, "control_events_dropped",
                                json_integer((json_int_t)c->events_dropped));
            json_object_set_new(totals, "frames_live", json_integer((json_int_t)gs_frames_live()));
            json_object_set_new(
                o, "uptime_s",
                json_integer((json_int_t)((gs_uring_now() - srv->started) / GS_SECONDS)));
            json_object_set_new(o, "addrs", addrs);
            json_object_set_new(o, "nshards", json_integer(srv->nshards));
            json_object_set_new(o, "control_thread", json_string(c->on_shard ? "shard" : "own"));
            json_object_set(o, "shards", p->parts);
            json_object_set_new(o, "counters", totals);
            json_object_set_new(o, "rings", rings);
            {
                char hex[65];

                /* docs/control.md: status's "id" is the endpoint id; a request that carried an
                 * "id" gets it echoed instead, and "endpoint_id" always holds ours. */
                gs_cfg_hex(srv->id.pk, 32, hex);
                json_object_set_new(o, "endpoint_id", json_string(hex));
                if (p->id == NULL) {
                    json_object_set_new(o, "id", json_string(hex));
                }
            }
        } else if (p->op == GS_CTL_PEERS) {
            json_object_set_new(o, "peers", merge_peers(p->parts));
        } else {
            json_t *all = json_array();
            size_t i;
            json_t *part;

            json_array_foreach(p->parts, i, part)
            {
                json_array_extend(all, part);
            }
            json_object_set_new(o, "topics", all);
        }
        p->reply = o;
    }
    p->done = true;
    if (p->cl != NULL) {
        client *cl = p->cl;

        write_ready(c, cl);
        client_flush(cl);
        client_arm(c, cl);
    } else {
        json_decref(p->reply);
        json_decref(p->id);
        json_decref(p->parts);
        free(p);
    }
}

/* ---- events ---- */

/* emit_lagged queues the `lagged` event for the events |cl| lost, once it fits again. */
static void emit_lagged(gs_control *c, client *cl)
{
    char th[65];
    char lag[160];
    int n;

    if (cl->lagged == 0) {
        return;
    }
    gs_cfg_hex(cl->lag_topic.b, 32, th);
    n = snprintf(lag, sizeof(lag), "{\"event\":\"lagged\",\"topic\":\"%s\",\"dropped\":%llu}", th,
                 (unsigned long long)cl->lagged);
    if (n > 0 && queue_line(c, cl, lag, (size_t)n, false)) {
        cl->lagged = 0;
    }
}

static const char *const reasons[] = {"evicted", "peer_left", "peer_quit", "connection_lost"};

static void deliver_event(gs_control *c, const gs_event *ev)
{
    size_t flush_at = c->srv->cfg.control_client_queue / 2 < EVENT_FLUSH_AT
                          ? c->srv->cfg.control_client_queue / 2
                          : EVENT_FLUSH_AT;
    topic_subs *ts = gs_kmap_get(&c->subs, ev->topic.b);
    json_t *o;
    char *line = NULL;
    size_t len = 0;
    uint8_t *bin = NULL; /* the BIN_RECEIVED body, for binary subscribers */
    size_t binlen = 0;
    bool need_json = ev->type != GS_EVENT_RECEIVED;
    bool need_bin = false;

    if (ts == NULL || ts->n == 0) {
        return;
    }
    for (size_t i = 0; i < ts->n; ++i) {
        need_json = need_json || !ts->cl[i]->bin_out;
        need_bin = need_bin || ts->cl[i]->bin_out;
    }
    if (need_bin && ev->type == GS_EVENT_RECEIVED) {
        binlen = 32 + 32 + 32 + 1 + 2 + ev->len;
        bin = malloc(binlen);
        if (bin == NULL) {
            return;
        }
        memcpy(bin, ev->topic.b, 32);
        memcpy(bin + 32, ev->id.b, 32);
        memcpy(bin + 64, ev->peer.b, 32);
        bin[96] = ev->scope == GS_SCOPE_SWARM ? 0 : 1;
        bin[97] = (uint8_t)(ev->round >> 8);
        bin[98] = (uint8_t)ev->round;
        memcpy(bin + 99, ev->content, ev->len);
    }
    if (!need_json) {
        goto queue;
    }
    o = json_object();
    if (ev->type == GS_EVENT_NEIGHBOR_UP) {
        json_object_set_new(o, "event", json_string("neighbor_up"));
    } else if (ev->type == GS_EVENT_NEIGHBOR_DOWN) {
        json_object_set_new(o, "event", json_string("neighbor_down"));
    } else {
        json_object_set_new(o, "event", json_string("received"));
    }
    json_object_set_new(o, "topic", hexj(ev->topic.b));
    if (ts->n > 0) {
        /* the topic's name as the first subscriber gave it */
        client *cl = ts->cl[0];

        for (size_t i = 0; i < cl->nsubs; ++i) {
            if (memcmp(cl->subs[i].topic.b, ev->topic.b, 32) == 0 && cl->subs[i].name[0]) {
                json_object_set_new(o, "topic_name", json_string(cl->subs[i].name));
            }
        }
    }
    if (ev->type == GS_EVENT_RECEIVED) {
        char *b = malloc(ev->len / 3 * 4 + 8);

        if (b == NULL) {
            json_decref(o);
            return;
        }
        gs_b64_encode(ev->content, ev->len, b);
        json_object_set_new(o, "content", json_string(b));
        free(b);
        json_object_set_new(o, "msg_id", hexj(ev->id.b));
        json_object_set_new(o, "delivered_from", hexj(ev->peer.b));
        json_object_set_new(o, "scope",
                            json_string(ev->scope == GS_SCOPE_SWARM ? "swarm" : "neighbors"));
        if (ev->scope == GS_SCOPE_SWARM) {
            json_object_set_new(o, "round", json_integer(ev->round));
        }
    } else {
        json_object_set_new(o, "peer", hexj(ev->peer.b));
        if (ev->type == GS_EVENT_NEIGHBOR_DOWN) {
            json_object_set_new(o, "reason", json_string(reasons[ev->reason & 3]));
        }
    }
    line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (line == NULL) {
        free(bin);
        return;
    }
    len = strlen(line);
queue:
    for (size_t i = 0; i < ts->n; ++i) {
        client *cl = ts->cl[i];
        bool queued;

        emit_lagged(c, cl);
        if (cl->lagged > 0) {
            queued = false;
        } else if (bin != NULL && cl->bin_out) {
            queued = queue_frame(c, cl, BIN_RECEIVED, bin, binlen, false);
        } else {
            queued = queue_line(c, cl, line, len, false);
        }
        if (!queued) {
            if (cl->lagged == 0) {
                cl->lag_topic = ev->topic;
            }
            cl->lagged++;
            c->events_dropped++;
        }
        if (cl->outlen - cl->outoff >= flush_at) {
            client_flush(cl);
            if (!cl->want_out && cl->outlen > cl->outoff) {
                client_arm(c, cl);
            }
        } else {
            cl->unflushed = true; /* written once at the end of drain_mesh */
        }
    }
    free(line);
    free(bin);
}

/* ---- clients ---- */

static void client_close(gs_control *c, client *cl)
{
    while (cl->nsubs > 0) {
        gs_topic_id t = cl->subs[0].topic;

        (void)sub_remove(c, cl, &t, true);
    }
    for (pending *p = cl->head; p != NULL;) {
        pending *next = p->next;

        if (p->done) {
            json_decref(p->reply);
            json_decref(p->id);
            json_decref(p->parts);
            free(p);
        } else {
            p->cl = NULL; /* freed when its answers arrive */
            p->next = NULL;
        }
        p = next;
    }
    (void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
    (void)close(cl->fd);
    for (size_t i = 0; i < c->nclients; ++i) {
        if (c->clients[i] == cl) {
            c->clients[i] = c->clients[--c->nclients];
            break;
        }
    }
    free(cl->in);
    free(cl->out);
    free(cl->subs);
    free(cl);
    if (c->accept_paused) {
        struct epoll_event lev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};

        (void)epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &lev);
        c->accept_paused = false;
    }
}

static void client_accept(gs_control *c)
{
    for (;;) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        client *cl;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: stop accepting until a client leaves (the listening
                 * socket is level-triggered and would otherwise spin) */
                struct epoll_event lev = {.events = 0, .data.u64 = TAG_LISTEN};

                (void)epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &lev);
                c->accept_paused = true;
                GS_LOG_RL(GS_LOG_WARN, "evt=control_accept_paused clients=%zu err=\"%s\"",
                          c->nclients, gs_strerror(-errno));
            }
            return;
        }
        if (c->nclients >= c->srv->cfg.control_max_clients) {
            static const char msg[] =
                "{\"id\":null,\"ok\":false,\"error\":\"limit\",\"message\":\"too many clients\"}\n";

            c->refused_clients++;
            (void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)close(fd);
            GS_LOG_RL(GS_LOG_WARN, "evt=control_client_refused clients=%zu", c->nclients);
            continue;
        }
        cl = calloc(1, sizeof(*cl));
        if (cl == NULL) {
            (void)close(fd);
            continue;
        }
        cl->subs = calloc(c->srv->cfg.control_max_subs, sizeof(sub));
        if (cl->subs == NULL) {
            free(cl);
            (void)close(fd);
            continue;
        }
        cl->fd = fd;
        cl->gen = ++c->next_gen;
        ev.data.ptr = cl;
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(cl->subs);
            free(cl);
            (void)close(fd);
            continue;
        }
        c->clients[c->nclients++] = cl;
    }
}

/* client_read reads and handles complete lines.  Returns false when the client must close. */
static bool client_read(gs_control *c, client *cl)
{
    size_t max_line = c->srv->cfg.control_max_line;

    for (;;) {
        ssize_t n;

        if (cl->paused) {
            return true;
        }
        if (cl->incap - cl->inlen < READ_CHUNK) {
            size_t ncap = cl->incap ? cl->incap * 2 : READ_CHUNK * 2;
            char *nb;

            if (ncap > max_line + 2 * READ_CHUNK) {
                ncap = max_line + 2 * READ_CHUNK;
            }
            nb = realloc(cl->in, ncap);
            if (nb == NULL) {
                return false;
            }
            cl->in = nb;
            cl->incap = ncap;
        }
        n = recv(cl->fd, cl->in + cl->inlen, cl->incap - cl->inlen, 0);
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        cl->inlen += (size_t)n;
        if (!parse_input(c, cl)) {
            goto too_long;
        }
        if (cl->paused || cl->closing) {
            return true;
        }
    }
too_long:
    refuse_too_long(c, cl, "request line longer than control.max_line");
    return true;
}

/* ---- thread ---- */

void gs_control_wake(void *arg)
{
    gs_control *c = arg;
    uint64_t one = 1;

    (void)!write(c->efd, &one, sizeof(one));
}

void gs_control_stop(gs_control *c)
{
    atomic_store(&c->stop, 1);
    gs_control_wake(c);
}

int gs_control_new(gs_control **pc, gs_server *srv)
{
    const char *path = srv->cfg.control_path;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct epoll_event ev = {.events = EPOLLIN};
    gs_control *c;
    int backlog;
    int rv;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return GS_ERR_NOMEM;
    }
    c->srv = srv;
    c->ep = srv->nshards;
    c->lfd = c->efd = c->epfd = -1;
    c->clients = calloc(srv->cfg.control_max_clients, sizeof(client *));
    if (c->clients == NULL || gs_kmap_init(&c->subs, 65536) < 0) {
        rv = GS_ERR_NOMEM;
        goto fail;
    }
    strcpy(sa.sun_path, path);
    c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->lfd < 0) {
        rv = -errno;
        goto fail;
    }
    if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int probe;

        if (errno != EADDRINUSE) {
            rv = -errno;
            goto fail;
        }
        /* a socket file exists: live (someone accepts) or stale (a killed process) */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            (void)close(probe);
            rv = -EADDRINUSE;
            goto fail;
        }
        if (probe >= 0) {
            (void)close(probe);
        }
        GS_LOG(GS_LOG_INFO, "evt=control_stale_socket_replaced path=%s", path);
        (void)unlink(path);
        if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            rv = -errno;
            goto fail;
        }
    }
    /* a backlog for every client we may serve: clients connecting in a burst (non-blocking
     * ones get EAGAIN from a full backlog) are all accepted, or told `limit` (the kernel caps
     * it at net.core.somaxconn) */
    backlog = srv->cfg.control_max_clients > 65535 ? 65535 : (int)srv->cfg.control_max_clients;
    if (chmod(path, (mode_t)srv->cfg.control_mode) < 0 ||
        listen(c->lfd, backlog < 128 ? 128 : backlog) < 0) {
        rv = -errno;
        (void)unlink(path);
        goto fail;
    }
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->efd < 0 || c->epfd < 0) {
        rv = -errno;
        (void)unlink(path);
        goto fail;
    }
    ev.data.u64 = TAG_LISTEN;
    (void)epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->lfd, &ev);
    ev.data.u64 = TAG_EVENTFD;
    (void)epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->efd, &ev);
    atomic_init(&c->stop, 0);
    *pc = c;
    return 0;

fail:
    if (c->lfd >= 0) {
        (void)close(c->lfd);
    }
    if (c->efd >= 0) {
        (void)close(c->efd);
    }
    if (c->epfd >= 0) {
        (void)close(c->epfd);
    }
    if (c->clients != NULL) {
        gs_kmap_free(&c->subs);
    }
    free(c->clients);
    free(c);
    return rv;
}

/* drain_mesh handles every record the shards sent us, then writes the events it queued with one
 * send per client (not one per event). */
static void drain_mesh(gs_control *c)
{
    size_t n;

    while ((n = gs_mesh_recv(c->srv->mesh, c->ep, c->rbuf, 256)) > 0) {
        for (size_t i = 0; i < n; ++i) {
            gs_mbox_rec *r = &c->rbuf[i];

            if (r->type == GS_MBOX_CTL_DONE) {
                complete(c, r->ptr);
            } else if (r->type == GS_MBOX_EVENT) {
                gs_frame *f = r->ptr;

                deliver_event(c, (const gs_event *)(const void *)f->data);
                gs_frame_unref(f);
            }
        }
    }
    for (size_t i = 0; i < c->nclients; ++i) {
        client *cl = c->clients[i];

        if (cl->unflushed) {
            cl->unflushed = false;
            client_flush(cl);
            if (!cl->want_out && cl->outlen > cl->outoff) {
                client_arm(c, cl);
            }
        }
    }
}

/* metrics_publish: our counters and sizes into the metrics' control slot. */
static void metrics_publish(gs_control *c)
{
    gs_metrics_control m = {
        .requests = c->requests,
        .errors = c->errors,
        .refused_clients = c->refused_clients,
        .events_dropped = c->events_dropped,
        .clients = c->nclients,
    };

    for (size_t i = 0; i < c->nclients; ++i) {
        m.lagged_subscribers += c->clients[i]->lagged > 0;
    }
    gs_metrics_publish_control(c->srv->metrics, &m);
}

/*
 * control_pass: one pass of the loop.  |timeout| >= 0: wait that long (ms) for socket events and
 * handle them; -1: no socket I/O this pass.  Then the shards' answers and events, paused clients,
 * the mesh flush and the metrics.  |own| (the control's own thread): the pass ends the mesh sleep
 * its caller began.  Returns the number of socket events handled.
 */
static int control_pass(gs_control *c, int timeout, bool own)
{
    struct epoll_event evs[EPOLL_BATCH];
    gs_mesh *mesh = c->srv->mesh;
    int n = 0;

    if (timeout >= 0) {
        n = epoll_wait(c->epfd, evs, EPOLL_BATCH, timeout);
    }
    if (own) {
        gs_mesh_sleep_end(mesh, c->ep);
    }
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == TAG_LISTEN) {
            client_accept(c);
        } else if (evs[i].data.u64 == TAG_EVENTFD) {
            uint64_t v;

            (void)!read(c->efd, &v, sizeof(v));
        } else {
            client *cl = evs[i].data.ptr;
            bool alive = true;

            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                alive = !(evs[i].events & EPOLLERR) && client_read(c, cl);
            }
            if (alive) {
                client_flush(cl);
                emit_lagged(c, cl);
                client_flush(cl);
                if (cl->closing && cl->outlen == cl->outoff) {
                    alive = false;
                }
            }
            if (!alive) {
                client_close(c, cl);
                /* a later event of this batch may name |cl|: mark it */
                for (int j = i + 1; j < n; ++j) {
                    if (evs[j].data.ptr == cl) {
                        evs[j].data.u64 = TAG_EVENTFD;
                    }
                }
            } else {
                client_arm(c, cl);
            }
        }
    }
    drain_mesh(c);
    for (size_t i = 0; i < c->nclients; ++i) {
        client *cl = c->clients[i];

        if (cl->resume && !cl->paused && !cl->closing) {
            /* resume parsing requests buffered while paused */
            cl->resume = false;
            if (!parse_input(c, cl)) {
                refuse_too_long(c, cl, "request longer than control.max_line");
            }
            client_arm(c, cl);
        }
    }
    (void)gs_mesh_flush(mesh, c->ep);
    if (c->srv->metrics != NULL) {
        metrics_publish(c);
    }
    return n < 0 ? 0 : n;
}

int gs_control_run(gs_control *c)
{
    while (!atomic_load(&c->stop)) {
        int timeout = gs_mesh_sleep_begin(c->srv->mesh, c->ep) ? 1000 : 0;

        (void)control_pass(c, timeout, true);
    }
    return 0;
}

int gs_control_fd(const gs_control *c)
{
    return c->epfd;
}

bool gs_control_poll(gs_control *c, bool io)
{
    c->on_shard = true;
    return control_pass(c, io ? 0 : -1, false) == EPOLL_BATCH;
}

void gs_control_del(gs_control *c)
{
    size_t it = 0;
    topic_subs *ts;

    if (c == NULL) {
        return;
    }
    while (c->nclients > 0) {
        client_close(c, c->clients[0]);
    }
    while ((ts = gs_kmap_next(&c->subs, &it, NULL)) != NULL) {
        free(ts->cl);
        free(ts);
    }
    gs_kmap_free(&c->subs);
    (void)close(c->lfd);
    (void)close(c->efd);
    (void)close(c->epfd);
    (void)unlink(c->srv->cfg.control_path);
    free(c->clients);
    free(c);
}
