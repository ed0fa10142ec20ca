/* SPDX-License-Identifier: MIT */
/*
 * gossipctl: the command-line client of gossipd's control socket (docs/control.md).
 *
 * One connection per invocation; requests and replies are JSON lines (jansson).  Requests carry
 * an increasing integer "id" and every reply is checked against the request it answers (replies
 * come in request order).  publish sends its messages pipelined: it keeps up to GC_WINDOW
 * requests in flight instead of waiting for each reply, and still checks every reply.
 * The socket is non-blocking and driven by poll(), so a server that answers slowly while we
 * still have requests to send never deadlocks us.  Manual: `gossipctl --help`, docs/gossipctl.md.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gossipctl_top.h"

/* Exit statuses (documented in --help and docs/gossipctl.md). */
enum {
    GC_EXIT_OK = 0,       /* done */
    GC_EXIT_REFUSED = 1,  /* the daemon answered a request with "ok": false */
    GC_EXIT_USAGE = 2,    /* bad command line or unreadable input */
    GC_EXIT_CONNECT = 3,  /* cannot connect, or the daemon closed the connection */
    GC_EXIT_TIMEOUT = 4,  /* no reply in time, or subscribe --count not reached in time */
    GC_EXIT_PROTOCOL = 5, /* the daemon sent something that is not a valid reply */
};

#define GC_DEFAULT_CONTROL "/run/gossipd/control.sock"
#define GC_WINDOW          256                 /* publish requests in flight at most */
#define GC_MAX_LINE        (64u * 1024 * 1024) /* longest reply or event line accepted */
#define GC_WBUF_HIGH       (1u * 1024 * 1024)  /* stop queueing requests above this */

static const char *const help_text =
    "NAME\n"
    "    gossipctl - talk to a running gossipd through its control socket\n"
    "\n"
    "SYNOPSIS\n"
    "    gossipctl [--control PATH] [--timeout S] COMMAND [ARGS...]\n"
    "\n"
    "    gossipctl status [--json]\n"
    "    gossipctl peers [--json]\n"
    "    gossipctl topics [--json]\n"
    "    gossipctl join TOPIC [PEER...]\n"
    "    gossipctl leave TOPIC\n"
    "    gossipctl publish TOPIC [--neighbors] (MESSAGE... | --stdin)\n"
    "    gossipctl subscribe TOPIC [--json] [--count N] [--timeout S]\n"
    "    gossipctl top [--interval S] [--iterations N] [--plain] [SOCKET...]\n"
    "\n"
    "DESCRIPTION\n"
    "    gossipctl sends requests to gossipd's control socket (JSON lines, docs/control.md) and\n"
    "    prints the answers.  TOPIC is 64 hex digits (the topic id) or any other string, which\n"
    "    names the topic BLAKE3(string).  PEER is ID or ID@ADDR:PORT (ID: 64 hex digits or\n"
    "    iroh's base32; ADDR: IPv4 or [IPv6]).\n"
    "\n"
    "COMMANDS\n"
    "    status      Node id, addresses, uptime, shards and the topics each owns, counters.\n"
    "                Printed as one 'KEY VALUE' line per value (nested keys joined by '.').\n"
    "    peers       One line per peer: its id, then KEY=VALUE pairs.\n"
    "    topics      One line per topic: its id, its name (if named by a string), then\n"
    "                KEY=VALUE pairs.\n"
    "    join        Join TOPIC, bootstrapping from the PEERs given.  Prints the topic id.\n"
    "    leave       Leave TOPIC.  Prints the topic id.\n"
    "    publish     Publish each MESSAGE (its bytes, as given) to TOPIC, which must be joined.\n"
    "                --stdin publishes each line of standard input instead (without its\n"
    "                newline; empty lines are skipped).  Requests are pipelined; every reply\n"
    "                is checked.  Prints each message id (hex), one per line.  --neighbors\n"
    "                sends to direct neighbours only instead of the whole swarm.\n"
    "    subscribe   Subscribe to TOPIC (joining it if needed) and print one line per event:\n"
    "                    neighbor_up PEER\n"
    "                    neighbor_down PEER REASON\n"
    "                    received FROM SCOPE ROUND CONTENT\n"
    "                    lagged DROPPED\n"
    "                CONTENT is the message text when it is UTF-8 without control characters,\n"
    "                else 'base64:' and its base64; ROUND is '-' for neighbour-scope messages.\n"
    "                --json prints each event as the daemon's JSON object instead (members\n"
    "                event, topic and, for received: content (base64), msg_id,\n"
    "                delivered_from, scope, round).  --count N exits after N received events;\n"
    "                --timeout S exits after S seconds.\n"
    "    top         A live view (every --interval seconds, default 1) of the node, or of every\n"
    "                SOCKET given: messages and KiB per second in and out, deliveries and drops\n"
    "                per second, peers, connections and topics, per shard and in total.  q or\n"
    "                Ctrl-C quits.  When stdout is not a terminal (or with --plain) it prints\n"
    "                one 't=N node=ID KEY=VALUE...' line per node per interval instead.\n"
    "                --iterations N stops after N refreshes.\n"
    "\n"
    "OPTIONS\n"
    "    --control PATH  The control socket (default: $GOSSIPD_CONTROL, else\n"
    "                    " GC_DEFAULT_CONTROL ").\n"
    "    --timeout S     Before the command: seconds to wait for each reply (default 10).\n"
    "                    After subscribe: how long to listen (default: until interrupted).\n"
    "    --json          Print the daemon's reply or events as JSON, one object per line.\n"
    "    -h, --help      This text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  success (subscribe: --count N reached, or --timeout elapsed without --count)\n"
    "    1  the daemon refused a request (its error code and message are printed)\n"
    "    2  usage error\n"
    "    3  cannot connect to the control socket, or the daemon closed the connection\n"
    "    4  timeout: no reply in time, or subscribe --count N not reached within --timeout\n"
    "    5  the daemon sent something that is not a valid reply\n"
    "\n"
    "EXAMPLES\n"
    "    gossipctl --control /tmp/g.sock join chat 5f1c...@192.0.2.7:4919\n"
    "    seq 1000 | gossipctl publish chat --stdin > /dev/null\n"
    "    gossipctl subscribe chat --json --count 10 --timeout 30\n";

__attribute__((format(printf, 1, 2))) static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("gossipctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'gossipctl --help'.\n", stderr);
}

/* --- time ---------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* parse_seconds reads a positive decimal number of seconds into milliseconds. */
static bool parse_seconds(const char *s, int64_t *pms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 1e7) {
        return false;
    }
    *pms = (int64_t)(v * 1000.0);
    return true;
}

static bool parse_count(const char *s, uint64_t *pn)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] < '0' || s[0] > '9' || v == 0) {
        return false;
    }
    *pn = v;
    return true;
}

/* --- the connection ------------------------------------------------------------------------ */

typedef struct gc_conn {
    int fd;
    const char *path;
    char *rbuf; /* bytes received, not yet taken as lines */
    size_t rlen;
    size_t rcap;
    char *wbuf; /* request bytes not yet written */
    size_t wlen;
    size_t woff;
    size_t wcap;
    bool eof;
    json_int_t next_id;  /* id of the next request */
    json_int_t reply_id; /* id the next reply must carry */
    bool anon;           /* the request in flight was sent without "id" (status) */
} gc_conn;

static void err_errno(const char *what, const char *path, int err)
{
    char msg[128];
    if (strerror_r(err, msg, sizeof(msg)) != 0) {
        snprintf(msg, sizeof(msg), "error %d", err);
    }
    fprintf(stderr, "gossipctl: %s %s: %s\n", what, path, msg);
}

/* conn_open connects to |path|; exits with GC_EXIT_CONNECT when it cannot. */
static void conn_open(gc_conn *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->path = path;
    c->next_id = 1;
    c->reply_id = 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "gossipctl: control socket path too long (%zu bytes, at most %zu)\n",
                strlen(path), sizeof(sa.sun_path) - 1);
        exit(GC_EXIT_CONNECT);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
        err_errno("cannot connect to", path, errno);
        exit(GC_EXIT_CONNECT);
    }
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        err_errno("cannot configure", path, errno);
        exit(GC_EXIT_CONNECT);
    }
}

static void oom(void)
{
    fputs("gossipctl: out of memory\n", stderr);
    exit(GC_EXIT_USAGE);
}

/*
 * conn_queue appends |req| (stolen) with a fresh "id" to the bytes to send.  A status request
 * goes without "id": its reply's "id" member is the node id (docs/control.md).
 */
static void conn_queue(gc_conn *c, json_t *req)
{
    if (req == NULL) {
        oom();
    }
    c->anon = strcmp(json_string_value(json_object_get(req, "op")), "status") == 0;
    if (c->anon) {
        c->next_id++;
    } else if (json_object_set_new(req, "id", json_integer(c->next_id++)) != 0) {
        oom();
    }
    size_t n = json_dumpb(req, NULL, 0, JSON_COMPACT);
    if (n == 0) {
        oom();
    }
    if (c->wlen + n + 1 > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        size_t cap = c->wcap == 0 ? 4096 : c->wcap;
        while (cap < c->wlen + n + 1) {
            cap *= 2;
        }
        char *p = realloc(c->wbuf, cap);
        if (p == NULL) {
            oom();
        }
        c->wbuf = p;
        c->wcap = cap;
    }
    json_dumpb(req, c->wbuf + c->wlen, n, JSON_COMPACT);
    c->wlen += n;
    c->wbuf[c->wlen++] = '\n';
    json_decref(req);
}

/* conn_close closes the connection and releases its buffers. */
static void conn_close(gc_conn *c)
{
    close(c->fd);
    free(c->rbuf);
    free(c->wbuf);
    c->fd = -1;
    c->rbuf = c->wbuf = NULL;
}

static size_t conn_pending(const gc_conn *c)
{
    return c->wlen - c->woff;
}

/* conn_lost reports a connection the daemon closed or broke, and exits. */
static void conn_lost(const gc_conn *c, int err)
{
    if (err == 0) {
        fprintf(stderr, "gossipctl: the daemon closed the connection (%s)\n", c->path);
    } else {
        err_errno("connection lost:", c->path, err);
    }
    exit(GC_EXIT_CONNECT);
}

/*
 * conn_io_with waits up to |timeout_ms| (-1: forever) for the socket and, when |xfd| >= 0, for
 * |xfd| to be readable (*|xready| tells), then writes what it can of the pending requests and
 * reads what has arrived.  Returns false on timeout (nothing happened).  Exits on a broken
 * connection.
 */
static bool conn_io_with(gc_conn *c, int xfd, bool *xready, int timeout_ms)
{
    struct pollfd pfds[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = xfd, .events = POLLIN}};
    struct pollfd *pfd = &pfds[0];
    if (conn_pending(c) > 0) {
        pfd->events |= POLLOUT;
    }
    int n = poll(pfds, xfd >= 0 ? 2 : 1, timeout_ms);
    if (xready != NULL) {
        *xready = n > 0 && xfd >= 0 && pfds[1].revents != 0;
    }
    if (n < 0) {
        if (errno == EINTR) {
            return true;
        }
        conn_lost(c, errno);
    }
    if (n == 0) {
        return false;
    }
    if (pfd->revents == 0) {
        return true; /* only |xfd| is ready */
    }
    if ((pfd->revents & POLLOUT) != 0) {
        ssize_t w = send(c->fd, c->wbuf + c->woff, conn_pending(c), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_lost(c, errno);
        }
        if (w > 0) {
            c->woff += (size_t)w;
            if (c->woff == c->wlen) {
                c->woff = c->wlen = 0;
            }
        }
    }
    if ((pfd->revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (c->rcap - c->rlen < 65536) {
            size_t cap = c->rcap == 0 ? 131072 : 2 * c->rcap;
            if (cap > GC_MAX_LINE + 65536) {
                fprintf(stderr, "gossipctl: a reply line is longer than %u bytes\n", GC_MAX_LINE);
                exit(GC_EXIT_PROTOCOL);
            }
            char *p = realloc(c->rbuf, cap);
            if (p == NULL) {
                oom();
            }
            c->rbuf = p;
            c->rcap = cap;
        }
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            conn_lost(c, errno);
        }
        if (r == 0) {
            c->eof = true;
        }
        if (r > 0) {
            c->rlen += (size_t)r;
        }
    }
    return true;
}

/* conn_io is conn_io_with without another descriptor. */
static bool conn_io(gc_conn *c, int timeout_ms)
{
    return conn_io_with(c, -1, NULL, timeout_ms);
}

/* conn_take returns the next complete line as a JSON object, or NULL when none is complete. */
static json_t *conn_take(gc_conn *c)
{
    char *nl = c->rlen > 0 ? memchr(c->rbuf, '\n', c->rlen) : NULL;
    if (nl == NULL) {
        return NULL;
    }
    size_t n = (size_t)(nl - c->rbuf);
    json_error_t err;
    json_t *v = json_loadb(c->rbuf, n, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL || !json_is_object(v)) {
        fprintf(stderr, "gossipctl: the daemon sent a line that is not a JSON object: %s\n",
                v == NULL ? err.text : "not an object");
        exit(GC_EXIT_PROTOCOL);
    }
    memmove(c->rbuf, nl + 1, c->rlen - n - 1);
    c->rlen -= n + 1;
    return v;
}

/*
 * conn_next returns the next message from the daemon, waiting until |deadline| (ms on the
 * monotonic clock; INT64_MAX: forever).  NULL on timeout.  Exits when the connection ends.
 */
static json_t *conn_next(gc_conn *c, int64_t deadline)
{
    for (;;) {
        json_t *v = conn_take(c);
        if (v != NULL) {
            return v;
        }
        if (c->eof) {
            conn_lost(c, 0);
        }
        int64_t left = deadline == INT64_MAX ? -1 : deadline - now_ms();
        if (deadline != INT64_MAX && left <= 0) {
            return NULL;
        }
        conn_io(c, left > INT_MAX ? INT_MAX : (int)left);
    }
}

/*
 * check_reply verifies that |v| is the reply to the next outstanding request.  Returns true for
 * "ok": true; prints the daemon's error (prefixed with |what|) and returns false for "ok": false.
 * Exits on a reply out of order or malformed.
 */
static bool check_reply(gc_conn *c, const json_t *v, const char *what)
{
    const json_t *ok = json_object_get(v, "ok");
    const json_t *id = json_object_get(v, "id");
    /* a reply to a request the daemon could not parse may carry no id; ours always parse */
    if (!json_is_boolean(ok) || (!c->anon && id != NULL && !json_is_null(id) &&
                                 (!json_is_integer(id) || json_integer_value(id) != c->reply_id))) {
        char *s = json_dumps(v, JSON_COMPACT);
        fprintf(stderr, "gossipctl: unexpected reply (want id %lld): %s\n", (long long)c->reply_id,
                s != NULL ? s : "?");
        free(s);
        exit(GC_EXIT_PROTOCOL);
    }
    c->reply_id++;
    if (json_is_true(ok)) {
        return true;
    }
    const char *code = json_string_value(json_object_get(v, "error"));
    const char *msg = json_string_value(json_object_get(v, "message"));
    fprintf(stderr, "gossipctl: %s: %s%s%s\n", what, code != NULL ? code : "error",
            msg != NULL ? ": " : "", msg != NULL ? msg : "");
    return false;
}

/* is_event tells an event object from a reply. */
static bool is_event(const json_t *v)
{
    return json_object_get(v, "event") != NULL && json_object_get(v, "ok") == NULL;
}

/*
 * request sends |req| (stolen) and waits |timeout_ms| for its reply, skipping events.  Returns
 * the reply (ok true); exits with GC_EXIT_REFUSED, GC_EXIT_TIMEOUT or another status otherwise.
 */
static json_t *request(gc_conn *c, json_t *req, const char *what, int64_t timeout_ms)
{
    conn_queue(c, req);
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        json_t *v = conn_next(c, deadline);
        if (v == NULL) {
            fprintf(stderr, "gossipctl: %s: no reply within %.1f s\n", what,
                    (double)timeout_ms / 1000.0);
            exit(GC_EXIT_TIMEOUT);
        }
        if (is_event(v)) {
            json_decref(v);
            continue;
        }
        if (!check_reply(c, v, what)) {
            exit(GC_EXIT_REFUSED);
        }
        return v;
    }
}

/* --- output -------------------------------------------------------------------------------- */

static void put_json_line(const json_t *v)
{
    if (json_dumpf(v, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF) {
        exit(GC_EXIT_USAGE);
    }
}

/* put_scalar prints a scalar (strings bare) or, for anything else, its compact JSON. */
static void put_scalar(const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else {
        json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    }
}

/* put_flat prints |v| as "KEY VALUE" lines; arrays of scalars on one line, space-separated. */
static void put_flat(const char *prefix, const json_t *v)
{
    char key[256];
    if (json_is_object(v)) {
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (prefix[0] == '\0' && strcmp(k, "ok") == 0) {
                continue;
            }
            snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", k);
            put_flat(key, m);
        }
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *m;
        bool scalars = true;
        json_array_foreach(v, i, m)
        {
            scalars = scalars && !json_is_object(m) && !json_is_array(m);
        }
        if (scalars) {
            fputs(prefix, stdout);
            json_array_foreach(v, i, m)
            {
                putchar(' ');
                put_scalar(m);
            }
            putchar('\n');
            return;
        }
        json_array_foreach(v, i, m)
        {
            snprintf(key, sizeof(key), "%s.%zu", prefix, i);
            put_flat(key, m);
        }
        return;
    }
    printf("%s ", prefix);
    put_scalar(v);
    putchar('\n');
}

/*
 * put_row prints |first|'s value (and the topic's name, if any), then every other member as
 * KEY=VALUE (arrays comma-joined).
 */
static void put_row(const json_t *obj, const char *first)
{
    put_scalar(json_object_get(obj, first));
    const json_t *name = json_object_get(obj, "topic_name");
    if (json_is_string(name)) {
        printf(" %s", json_string_value(name));
    }
    const char *k;
    const json_t *m;
    json_object_foreach((json_t *)obj, k, m)
    {
        if (strcmp(k, first) == 0 || m == name) {
            continue;
        }
        printf(" %s=", k);
        if (json_is_array(m)) {
            size_t i;
            const json_t *e;
            json_array_foreach(m, i, e)
            {
                if (i > 0) {
                    putchar(',');
                }
                put_scalar(e);
            }
        } else {
            put_scalar(m);
        }
    }
    putchar('\n');
}

/* --- commands ------------------------------------------------------------------------------ */

typedef struct gc_opts {
    const char *control;
    int64_t timeout_ms;
} gc_opts;

static json_t *op_request(const char *op)
{
    json_t *req = json_object();
    if (req == NULL || json_object_set_new(req, "op", json_string(op)) != 0) {
        oom();
    }
    return req;
}

static void set_str(json_t *obj, const char *key, const char *val)
{
    json_t *s = json_string(val);
    if (s == NULL) {
        fprintf(stderr, "gossipctl: %s is not valid UTF-8\n", key);
        exit(GC_EXIT_USAGE);
    }
    if (json_object_set_new(obj, key, s) != 0) {
        oom();
    }
}

/* cmd_list: status, peers and topics. */
static int cmd_list(const gc_opts *o, const char *op, int argc, char **argv)
{
    bool as_json = false;
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else {
            usage_error("%s: unexpected argument", argv[i]);
            return GC_EXIT_USAGE;
        }
    }
    gc_conn c;
    conn_open(&c, o->control);
    json_t *r = request(&c, op_request(op), op, o->timeout_ms);
    if (as_json) {
        json_object_del(r, "ok");
        if (!c.anon) {
            json_object_del(r, "id"); /* our request id; status's "id" is the node id */
        }
        put_json_line(r);
    } else if (strcmp(op, "status") == 0) {
        put_flat("", r);
    } else {
        const char *list = strcmp(op, "peers") == 0 ? "peers" : "topics";
        const char *first = strcmp(op, "peers") == 0 ? "id" : "topic";
        const json_t *arr = json_object_get(r, list);
        size_t i;
        const json_t *e;
        if (!json_is_array(arr)) {
            fprintf(stderr, "gossipctl: %s: the reply has no \"%s\" array\n", op, list);
            json_decref(r);
            conn_close(&c);
            return GC_EXIT_PROTOCOL;
        }
        json_array_foreach(arr, i, e)
        {
            if (json_is_object(e)) {
                put_row(e, first);
            }
        }
    }
    json_decref(r);
    conn_close(&c);
    return GC_EXIT_OK;
}

/* put_topic prints a reply's topic id, and its name when the topic was named by a string. */
static void put_topic(const json_t *r)
{
    const char *hex = json_string_value(json_object_get(r, "topic"));
    const char *name = json_string_value(json_object_get(r, "topic_name"));
    printf("%s%s%s\n", hex != NULL ? hex : "?", name != NULL ? " " : "", name != NULL ? name : "");
}

static int cmd_join_leave(const gc_opts *o, const char *op, int argc, char **argv)
{
    if (argc < 1 || (strcmp(op, "leave") == 0 && argc != 1)) {
        usage_error("%s: needs TOPIC (join: TOPIC [PEER...])", op);
        return GC_EXIT_USAGE;
    }
    json_t *req = op_request(op);
    set_str(req, "topic", argv[0]);
    if (strcmp(op, "join") == 0 && argc > 1) {
        json_t *peers = json_array();
        if (peers == NULL || json_object_set_new(req, "peers", peers) != 0) {
            oom();
        }
        for (int i = 1; i < argc; ++i) {
            json_array_append_new(peers, json_string(argv[i]));
        }
    }
    gc_conn c;
    conn_open(&c, o->control);
    json_t *r = request(&c, req, op, o->timeout_ms);
    put_topic(r);
    json_decref(r);
    conn_close(&c);
    return GC_EXIT_OK;
}

/*
 * gc_input: standard input read as it comes (read(2) when poll says so, never blocking while
 * requests wait to be sent), split into lines.  A slow producer's lines are published at once.
 */
typedef struct gc_input {
    char *buf;
    size_t len; /* bytes held */
    size_t off; /* start of the first line not yet taken */
    size_t cap;
    bool eof;
} gc_input;

/* input_read reads what standard input has (one read); false on a read error. */
static bool input_read(gc_input *in)
{
    if (in->off > 0) {
        memmove(in->buf, in->buf + in->off, in->len - in->off);
        in->len -= in->off;
        in->off = 0;
    }
    if (in->cap - in->len < 65536) {
        size_t cap = in->cap == 0 ? 131072 : 2 * in->cap;
        if (cap > GC_MAX_LINE + 131072) {
            fprintf(stderr, "gossipctl: a line of standard input is longer than %u bytes\n",
                    GC_MAX_LINE);
            exit(GC_EXIT_USAGE);
        }
        char *p = realloc(in->buf, cap);
        if (p == NULL) {
            oom();
        }
        in->buf = p;
        in->cap = cap;
    }
    ssize_t n = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len);
    if (n < 0) {
        return errno == EINTR || errno == EAGAIN;
    }
    if (n == 0) {
        in->eof = true;
    }
    in->len += (size_t)n;
    return true;
}

/*
 * input_line takes the next line (without its newline) into |*pline|/|*plen|: a complete one,
 * or at end of input the unterminated rest.  Returns false when no line is available yet.
 */
static bool input_line(gc_input *in, const char **pline, size_t *plen)
{
    const char *start = in->buf + in->off;
    size_t avail = in->len - in->off;
    const char *nl = avail > 0 ? memchr(start, '\n', avail) : NULL;
    if (nl == NULL && !(in->eof && avail > 0)) {
        return false;
    }
    size_t n = nl != NULL ? (size_t)(nl - start) : avail;
    *pline = start;
    *plen = n;
    in->off += n + (nl != NULL ? 1 : 0);
    return true;
}

/* publish_req builds one publish request for |len| bytes at |msg|. */
static json_t *publish_req(const char *topic, bool neighbors, const char *msg, size_t len)
{
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (b64 == NULL) {
        oom();
    }
    sodium_bin2base64(b64, b64len, (const unsigned char *)msg, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *req = op_request("publish");
    set_str(req, "topic", topic);
    set_str(req, "content", b64);
    free(b64);
    if (neighbors) {
        set_str(req, "scope", "neighbors");
    }
    return req;
}

/*
 * publish_reply handles one reply of the pipeline: prints the message id, or records the first
 * refusal.  Events on this connection are skipped.  Returns false for an event.
 */
static bool publish_reply(gc_conn *c, json_t *v, uint64_t nth, bool *refused)
{
    if (is_event(v)) {
        json_decref(v);
        return false;
    }
    char what[64];
    snprintf(what, sizeof(what), "publish of message %llu", (unsigned long long)nth);
    if (check_reply(c, v, what)) {
        const char *id = json_string_value(json_object_get(v, "msg_id"));
        if (id != NULL) {
            puts(id);
        }
    } else {
        *refused = true;
    }
    json_decref(v);
    return true;
}

static int cmd_publish(const gc_opts *o, int argc, char **argv)
{
    const char *topic = NULL;
    bool neighbors = false;
    bool from_stdin = false;
    int first_msg = -1;
    for (int i = 0; i < argc; ++i) {
        if (first_msg < 0 && strcmp(argv[i], "--neighbors") == 0) {
            neighbors = true;
        } else if (first_msg < 0 && strcmp(argv[i], "--stdin") == 0) {
            from_stdin = true;
        } else if (first_msg < 0 && strcmp(argv[i], "--") == 0 && topic != NULL) {
            first_msg = i + 1;
        } else if (topic == NULL) {
            topic = argv[i];
        } else if (first_msg < 0) {
            first_msg = i;
        }
    }
    bool have_args = first_msg >= 0 && first_msg < argc;
    if (topic == NULL || from_stdin == have_args) {
        usage_error("%s", "publish: needs TOPIC and either MESSAGE... or --stdin");
        return GC_EXIT_USAGE;
    }
    gc_conn c;
    conn_open(&c, o->control);
    gc_input in = {.eof = false};
    bool refused = false;
    bool input_done = false;
    uint64_t sent = 0;
    uint64_t answered = 0;
    int next_arg = first_msg;
    int rc = GC_EXIT_OK;
    int64_t deadline = now_ms() + o->timeout_ms;
    for (;;) {
        /* queue what the input has while the window and the write buffer have room */
        while (!input_done && !refused && sent - answered < GC_WINDOW &&
               conn_pending(&c) < GC_WBUF_HIGH) {
            const char *m;
            size_t mlen;
            if (!from_stdin) {
                if (next_arg >= argc) {
                    input_done = true;
                    break;
                }
                m = argv[next_arg++];
                mlen = strlen(m);
            } else if (!input_line(&in, &m, &mlen)) {
                input_done = in.eof;
                break;
            } else if (mlen == 0) {
                continue;
            }
            if (sent == answered) {
                deadline = now_ms() + o->timeout_ms; /* the wait for replies starts now */
            }
            conn_queue(&c, publish_req(topic, neighbors, m, mlen));
            ++sent;
        }
        if (refused) {
            input_done = true;
        }
        /* take every complete reply */
        json_t *v;
        while ((v = conn_take(&c)) != NULL) {
            if (publish_reply(&c, v, answered + 1, &refused)) {
                ++answered;
                deadline = now_ms() + o->timeout_ms;
            }
        }
        if (input_done && answered == sent) {
            break;
        }
        if (c.eof) {
            conn_lost(&c, 0);
        }
        /* wait for the socket, and for standard input while more may be queued */
        bool want_input = from_stdin && !input_done && !refused && sent - answered < GC_WINDOW &&
                          conn_pending(&c) < GC_WBUF_HIGH;
        int64_t left = answered < sent ? deadline - now_ms() : -1;
        if (answered < sent && left <= 0) {
            fprintf(stderr, "gossipctl: publish: no reply within %.1f s (%llu of %llu answered)\n",
                    (double)o->timeout_ms / 1000.0, (unsigned long long)answered,
                    (unsigned long long)sent);
            rc = GC_EXIT_TIMEOUT;
            break;
        }
        bool input_ready = false;
        conn_io_with(&c, want_input ? STDIN_FILENO : -1, &input_ready,
                     left < 0 ? -1 : (int)(left > INT_MAX ? INT_MAX : left));
        if (input_ready && !input_read(&in)) {
            fputs("gossipctl: cannot read standard input\n", stderr);
            refused = true;
            rc = GC_EXIT_USAGE;
        }
    }
    free(in.buf);
    conn_close(&c);
    if (fflush(stdout) != 0) {
        return GC_EXIT_USAGE;
    }
    if (rc != GC_EXIT_OK) {
        return rc;
    }
    return refused ? GC_EXIT_REFUSED : GC_EXIT_OK;
}

/* put_content prints |b64|'s bytes when they are UTF-8 text without control bytes. */
static void put_content(const char *b64)
{
    size_t blen = strlen(b64);
    unsigned char *bin = malloc(blen + 1);
    size_t n = 0;
    if (bin == NULL) {
        oom();
    }
    if (sodium_base642bin(bin, blen, b64, blen, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
        0) {
        printf("base64:%s", b64);
        free(bin);
        return;
    }
    bool text = true;
    for (size_t i = 0; i < n && text; ++i) {
        text = bin[i] >= 0x20 && bin[i] != 0x7f;
    }
    json_t *check = text ? json_stringn((const char *)bin, n) : NULL; /* NULL: not UTF-8 */
    if (check != NULL) {
        fwrite(bin, 1, n, stdout);
    } else {
        printf("base64:%s", b64);
    }
    json_decref(check);
    free(bin);
}

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : dflt;
}

/* put_event prints one event in the text form of --help. */
static void put_event(const json_t *ev)
{
    const char *name = str_or(ev, "event", "?");
    if (strcmp(name, "received") == 0) {
        const json_t *round = json_object_get(ev, "round");
        printf("received %s %s ", str_or(ev, "delivered_from", "-"), str_or(ev, "scope", "-"));
        if (json_is_integer(round)) {
            printf("%lld ", (long long)json_integer_value(round));
        } else {
            fputs("- ", stdout);
        }
        put_content(str_or(ev, "content", ""));
        putchar('\n');
    } else if (strcmp(name, "neighbor_up") == 0) {
        printf("neighbor_up %s\n", str_or(ev, "peer", "?"));
    } else if (strcmp(name, "neighbor_down") == 0) {
        printf("neighbor_down %s %s\n", str_or(ev, "peer", "?"), str_or(ev, "reason", "?"));
    } else if (strcmp(name, "lagged") == 0) {
        const json_t *d = json_object_get(ev, "dropped");
        printf("lagged %lld\n", json_is_integer(d) ? (long long)json_integer_value(d) : -1LL);
    } else {
        fputs(name, stdout);
        putchar('\n');
    }
}

/* subscribe_loop prints events until --count or --timeout; returns the exit status. */
static int subscribe_loop(const gc_opts *o, gc_conn *c, int64_t end, uint64_t count, bool as_json)
{
    bool subscribed = false;
    uint64_t received = 0;
    int64_t reply_deadline = now_ms() + o->timeout_ms;
    for (;;) {
        json_t *v = conn_next(c, subscribed ? end : (end < reply_deadline ? end : reply_deadline));
        if (v == NULL) {
            if (!subscribed && now_ms() >= reply_deadline) {
                fprintf(stderr, "gossipctl: subscribe: no reply within %.1f s\n",
                        (double)o->timeout_ms / 1000.0);
                return GC_EXIT_TIMEOUT;
            }
            if (count > 0) {
                fprintf(stderr, "gossipctl: subscribe: %llu of %llu messages received in time\n",
                        (unsigned long long)received, (unsigned long long)count);
                return GC_EXIT_TIMEOUT;
            }
            return GC_EXIT_OK;
        }
        if (!is_event(v)) {
            if (!check_reply(c, v, "subscribe")) {
                json_decref(v);
                return GC_EXIT_REFUSED;
            }
            subscribed = true;
            json_decref(v);
            continue;
        }
        if (as_json) {
            put_json_line(v);
        } else {
            put_event(v);
        }
        fflush(stdout);
        if (strcmp(str_or(v, "event", ""), "received") == 0) {
            ++received;
        }
        json_decref(v);
        if (count > 0 && received >= count) {
            return GC_EXIT_OK;
        }
    }
}

static int cmd_subscribe(const gc_opts *o, int argc, char **argv)
{
    const char *topic = NULL;
    bool as_json = false;
    uint64_t count = 0;
    int64_t listen_ms = -1;
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            if (!parse_count(argv[++i], &count)) {
                usage_error("--count needs a positive integer, not '%s'", argv[i]);
                return GC_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (!parse_seconds(argv[++i], &listen_ms)) {
                usage_error("--timeout needs a positive number of seconds, not '%s'", argv[i]);
                return GC_EXIT_USAGE;
            }
        } else if (topic == NULL && argv[i][0] != '-') {
            topic = argv[i];
        } else {
            usage_error("subscribe: unexpected argument '%s'", argv[i]);
            return GC_EXIT_USAGE;
        }
    }
    if (topic == NULL) {
        usage_error("%s", "subscribe: needs TOPIC");
        return GC_EXIT_USAGE;
    }
    int64_t end = listen_ms < 0 ? INT64_MAX : now_ms() + listen_ms;
    gc_conn c;
    conn_open(&c, o->control);
    json_t *req = op_request("subscribe");
    set_str(req, "topic", topic);
    conn_queue(&c, req);
    int rc = subscribe_loop(o, &c, end, count, as_json);
    conn_close(&c);
    return rc;
}

int main(int argc, char **argv)
{
    gc_opts o = {.control = getenv("GOSSIPD_CONTROL"), .timeout_ms = 10000};
    if (o.control == NULL || o.control[0] == '\0') {
        o.control = GC_DEFAULT_CONTROL;
    }
    if (sodium_init() < 0) {
        fputs("gossipctl: libsodium failed to initialise\n", stderr);
        return GC_EXIT_USAGE;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; ++i) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help_text, stdout);
            return GC_EXIT_OK;
        }
        if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            o.control = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (!parse_seconds(argv[++i], &o.timeout_ms)) {
                usage_error("--timeout needs a positive number of seconds, not '%s'", argv[i]);
                return GC_EXIT_USAGE;
            }
        } else {
            usage_error("unknown option '%s'", argv[i]);
            return GC_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage_error("%s", "missing COMMAND");
        return GC_EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int n = argc - i - 1;
    char **args = argv + i + 1;
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "peers") == 0 || strcmp(cmd, "topics") == 0) {
        return cmd_list(&o, cmd, n, args);
    }
    if (strcmp(cmd, "join") == 0 || strcmp(cmd, "leave") == 0) {
        return cmd_join_leave(&o, cmd, n, args);
    }
    if (strcmp(cmd, "publish") == 0) {
        return cmd_publish(&o, n, args);
    }
    if (strcmp(cmd, "subscribe") == 0) {
        return cmd_subscribe(&o, n, args);
    }
    if (strcmp(cmd, "top") == 0) {
        return gc_top_main(o.control, n, args); /* tools/gossipctl_top.c */
    }
    usage_error("unknown command '%s'", cmd);
    return GC_EXIT_USAGE;
}
