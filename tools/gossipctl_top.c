/* SPDX-License-Identifier: MIT */
/*
 * gossipctl_top.c: `gossipctl top`: a live view of one or several gossipd nodes, from their
 * control sockets' `status` replies (docs/control.md), refreshed every interval: messages and
 * bytes per second in and out, deliveries, drops, peers, connections and topics, per shard and
 * in total.  On a terminal it redraws the screen and quits on `q` or Ctrl-C (the terminal mode is
 * restored); otherwise it prints plain lines, one per node and interval (for logs and pipes).
 */
#define _POSIX_C_SOURCE 200809L

#include "gossipctl_top.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define TOP_MAX_NODES  64
#define TOP_MAX_SHARDS 64

/* The figures of one shard (or a node's total) at one sample. */
typedef struct top_fig {
    double msgs_in, msgs_out, bytes_in, bytes_out, deliveries, drops;
    long long peers, conns, topics;
} top_fig;

/* Counters summed into "drops" (every refusal or loss the daemon counts). */
static const char *const drop_keys[] = {
    "gossip_dropped",    "send_errors",   "send_no_path",     "dial_queue_drops", "mbox_refused",
    "datagrams_dropped", "data_refused",  "send_queue_drops", "decode_errors",    "bad_id",
    "unknown_topic",     "stream_errors", "peers_full",       "relay_refused",
};

typedef struct top_node {
    const char *path;
    int fd;
    char *buf;
    size_t len, cap;
    char id[9];
    bool up;
    unsigned nshards;
    /* previous raw counters per shard: in, out, bytes in, bytes out, delivered, drops */
    double prev[TOP_MAX_SHARDS][6];
    bool have_prev;
    double prev_t;
    top_fig fig[TOP_MAX_SHARDS + 1]; /* [nshards] = total */
} top_node;

static volatile sig_atomic_t top_quit;
static struct termios top_saved;
static bool top_raw;

static void top_on_signal(int sig)
{
    (void)sig;
    top_quit = 1;
}

static void top_restore(void)
{
    if (top_raw) {
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &top_saved);
        fputs("\033[?25h", stdout); /* cursor back */
        fflush(stdout);
        top_raw = false;
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int top_connect(top_node *n)
{
    struct sockaddr_un sa;

    if (n->fd >= 0) {
        return 0;
    }
    n->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(n->path) >= sizeof(sa.sun_path)) {
        close(n->fd);
        n->fd = -1;
        return -1;
    }
    (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", n->path);
    if (connect(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(n->fd);
        n->fd = -1;
        return -1;
    }
    n->len = 0;
    return 0;
}

static void top_drop(top_node *n)
{
    if (n->fd >= 0) {
        close(n->fd);
    }
    n->fd = -1;
    n->up = false;
    n->have_prev = false;
}

/* top_status sends `status` and returns the reply (NULL on failure), waiting up to |ms|. */
static json_t *top_status(top_node *n, int ms)
{
    /* no "id": the reply's "id" is then the node id (docs/control.md) */
    static const char req[] = "{\"op\":\"status\"}\n";
    double end = now_s() + ms / 1000.0;

    if (top_connect(n) < 0) {
        return NULL;
    }
    if (write(n->fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
        top_drop(n);
        return NULL;
    }
    for (;;) {
        char *nl = n->len > 0 ? memchr(n->buf, '\n', n->len) : NULL;
        struct pollfd pf = {.fd = n->fd, .events = POLLIN};
        double left;
        ssize_t r;

        while (nl != NULL) {
            size_t l = (size_t)(nl - n->buf);
            json_t *v = json_loadb(n->buf, l, 0, NULL);

            memmove(n->buf, nl + 1, n->len - l - 1);
            n->len -= l + 1;
            if (v != NULL && json_is_object(v) && json_object_get(v, "event") == NULL &&
                json_is_true(json_object_get(v, "ok"))) {
                return v;
            }
            json_decref(v);
            nl = n->len > 0 ? memchr(n->buf, '\n', n->len) : NULL;
        }
        left = end - now_s();
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0) {
            top_drop(n);
            return NULL;
        }
        if (n->cap - n->len < 65536) {
            char *b = realloc(n->buf, n->cap * 2 + 65536);

            if (b == NULL) {
                top_drop(n);
                return NULL;
            }
            n->buf = b;
            n->cap = n->cap * 2 + 65536;
        }
        r = read(n->fd, n->buf + n->len, n->cap - n->len);
        if (r <= 0) {
            top_drop(n);
            return NULL;
        }
        n->len += (size_t)r;
    }
}

static double cnt(const json_t *counters, const char *k)
{
    const json_t *v = json_object_get(counters, k);

    return json_is_integer(v) ? (double)json_integer_value(v) : 0;
}

/* top_sample: one status reply into per-shard rates (since the previous sample) and totals. */
static void top_sample(top_node *n, json_t *st)
{
    const json_t *shards = json_object_get(st, "shards");
    const json_t *id = json_object_get(st, "id");
    double t = now_s();
    double dt = n->have_prev ? t - n->prev_t : 0;
    top_fig *tot;
    size_t i;
    const json_t *sh;

    if (json_is_string(id)) {
        (void)snprintf(n->id, sizeof(n->id), "%s", json_string_value(id));
    }
    n->nshards = json_is_array(shards) ? (unsigned)json_array_size(shards) : 0;
    if (n->nshards > TOP_MAX_SHARDS) {
        n->nshards = TOP_MAX_SHARDS;
    }
    tot = &n->fig[n->nshards];
    memset(tot, 0, sizeof(*tot));
    json_array_foreach(shards, i, sh)
    {
        const json_t *c = json_object_get(sh, "counters");
        top_fig *f;
        double raw[6];

        /* the array comes in the order the shards answered: use each part's own index */
        const json_t *ix = json_object_get(sh, "index");
        size_t k = json_is_integer(ix) ? (size_t)json_integer_value(ix) : i;

        if (k >= n->nshards) {
            continue;
        }
        f = &n->fig[k];
        raw[0] = cnt(c, "msgs_data_recv");
        raw[1] = cnt(c, "msgs_data_sent");
        raw[2] = cnt(c, "bytes_in");
        raw[3] = cnt(c, "bytes_out");
        raw[4] = cnt(c, "msgs_data_recv") - cnt(c, "duplicates");
        raw[5] = 0;
        for (size_t d = 0; d < sizeof(drop_keys) / sizeof(drop_keys[0]); ++d) {
            raw[5] += cnt(c, drop_keys[d]);
        }
        memset(f, 0, sizeof(*f));
        if (dt > 0) {
            f->msgs_in = (raw[0] - n->prev[k][0]) / dt;
            f->msgs_out = (raw[1] - n->prev[k][1]) / dt;
            f->bytes_in = (raw[2] - n->prev[k][2]) / dt;
            f->bytes_out = (raw[3] - n->prev[k][3]) / dt;
            f->deliveries = (raw[4] - n->prev[k][4]) / dt;
            f->drops = (raw[5] - n->prev[k][5]) / dt;
        }
        memcpy(n->prev[k], raw, sizeof(raw));
        f->peers = json_integer_value(json_object_get(sh, "peers"));
        f->conns = json_integer_value(json_object_get(sh, "conns"));
        f->topics = (long long)json_array_size(json_object_get(sh, "topics"));
        tot->msgs_in += f->msgs_in;
        tot->msgs_out += f->msgs_out;
        tot->bytes_in += f->bytes_in;
        tot->bytes_out += f->bytes_out;
        tot->deliveries += f->deliveries;
        tot->drops += f->drops;
        tot->peers += f->peers;
        tot->conns += f->conns;
        tot->topics += f->topics;
    }
    n->have_prev = true;
    n->prev_t = t;
    n->up = true;
}

static void put_row(FILE *o, const char *node, const char *shard, const top_fig *f, bool tty)
{
    fprintf(o, "%-9s %-5s %10.0f %10.0f %9.1f %9.1f %10.0f %8.0f %6lld %6lld %6lld%s\n", node,
            shard, f->msgs_in, f->msgs_out, f->bytes_in / 1024, f->bytes_out / 1024, f->deliveries,
            f->drops, f->peers, f->conns, f->topics, tty ? "\033[K" : "");
}

static void top_draw(FILE *o, top_node *nodes, size_t nn, bool tty, unsigned iter)
{
    top_fig all;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;

    memset(&all, 0, sizeof(all));
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    if (tty) {
        fprintf(o, "\033[H");
        fprintf(o, "gossipctl top  %s UTC  %zu node%s  (q or Ctrl-C quits)\033[K\n\033[K\n", ts, nn,
                nn == 1 ? "" : "s");
        fprintf(o, "\033[7m%-9s %-5s %10s %10s %9s %9s %10s %8s %6s %6s %6s\033[0m\033[K\n", "NODE",
                "SHARD", "MSG_IN/s", "MSG_OUT/s", "KB_IN/s", "KB_OUT/s", "DELIV/s", "DROPS/s",
                "PEERS", "CONNS", "TOPICS");
    }
    for (size_t i = 0; i < nn; ++i) {
        top_node *n = &nodes[i];

        if (!n->up) {
            if (tty) {
                fprintf(o, "%-9s (no answer from %s)\033[K\n", "?", n->path);
            } else {
                fprintf(o, "t=%u node=? socket=%s down\n", iter, n->path);
            }
            continue;
        }
        if (tty) {
            for (unsigned s = 0; s < n->nshards && n->nshards > 1; ++s) {
                char sb[12];

                (void)snprintf(sb, sizeof(sb), "%u", s);
                put_row(o, n->id, sb, &n->fig[s], true);
            }
            put_row(o, n->id, "all", &n->fig[n->nshards], true);
        } else {
            const top_fig *f = &n->fig[n->nshards];

            fprintf(o,
                    "t=%u node=%s shards=%u msgs_in/s=%.0f msgs_out/s=%.0f kb_in/s=%.1f "
                    "kb_out/s=%.1f deliveries/s=%.0f drops/s=%.0f peers=%lld conns=%lld "
                    "topics=%lld\n",
                    iter, n->id, n->nshards, f->msgs_in, f->msgs_out, f->bytes_in / 1024,
                    f->bytes_out / 1024, f->deliveries, f->drops, f->peers, f->conns, f->topics);
        }
        all.msgs_in += n->fig[n->nshards].msgs_in;
        all.msgs_out += n->fig[n->nshards].msgs_out;
        all.bytes_in += n->fig[n->nshards].bytes_in;
        all.bytes_out += n->fig[n->nshards].bytes_out;
        all.deliveries += n->fig[n->nshards].deliveries;
        all.drops += n->fig[n->nshards].drops;
        all.peers += n->fig[n->nshards].peers;
        all.conns += n->fig[n->nshards].conns;
        all.topics += n->fig[n->nshards].topics;
    }
    if (tty) {
        if (nn > 1) {
            fprintf(o, "\033[1m");
            put_row(o, "TOTAL", "all", &all, true);
            fprintf(o, "\033[0m");
        }
        fprintf(o, "\033[J");
    } else if (nn > 1) {
        fprintf(o,
                "t=%u node=TOTAL msgs_in/s=%.0f msgs_out/s=%.0f kb_in/s=%.1f kb_out/s=%.1f "
                "deliveries/s=%.0f drops/s=%.0f peers=%lld conns=%lld topics=%lld\n",
                iter, all.msgs_in, all.msgs_out, all.bytes_in / 1024, all.bytes_out / 1024,
                all.deliveries, all.drops, all.peers, all.conns, all.topics);
    }
    fflush(o);
}

static void top_usage(void)
{
    fputs("usage: gossipctl [--control PATH] top [--interval S] [--iterations N] [--plain]\n"
          "                 [SOCKET...]\n"
          "  Live view of the node at --control, or of every SOCKET given.  q or Ctrl-C quits;\n"
          "  when stdout is not a terminal (or with --plain) it prints one line per node per\n"
          "  interval instead.\n",
          stderr);
}

int gc_top_main(const char *control, int argc, char **argv)
{
    static top_node nodes[TOP_MAX_NODES];
    size_t nn = 0;
    double interval = 1.0;
    long iterations = -1;
    bool plain = false;
    bool tty;
    struct sigaction sa;
    int rv = 0;

    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            interval = atof(argv[++i]);
        } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = atol(argv[++i]);
        } else if (strcmp(argv[i], "--plain") == 0) {
            plain = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            top_usage();
            return 0;
        } else if (argv[i][0] == '-') {
            top_usage();
            return 2;
        } else if (nn < TOP_MAX_NODES) {
            nodes[nn++].path = argv[i];
        }
    }
    if (nn == 0) {
        nodes[nn++].path = control;
    }
    if (interval < 0.05 || interval > 3600) {
        top_usage();
        return 2;
    }
    for (size_t i = 0; i < nn; ++i) {
        nodes[i].fd = -1;
    }
    tty = !plain && isatty(STDOUT_FILENO);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = top_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top_saved) == 0) {
        struct termios raw = top_saved;

        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
            top_raw = true;
            atexit(top_restore);
        }
    }
    if (tty) {
        fputs("\033[2J\033[?25l", stdout);
    }
    /* a first sample gives the base of the rates */
    for (size_t i = 0; i < nn; ++i) {
        json_t *st = top_status(&nodes[i], 2000);

        if (st != NULL) {
            top_sample(&nodes[i], st);
            json_decref(st);
        }
    }
    for (unsigned iter = 1; !top_quit && (iterations < 0 || iter <= (unsigned long)iterations);
         ++iter) {
        double until = now_s() + interval;

        /* wait for the interval, watching the keyboard */
        while (!top_quit) {
            double left = until - now_s();
            struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};

            if (left <= 0) {
                break;
            }
            if (top_raw && poll(&pf, 1, (int)(left * 1000) + 1) > 0) {
                char ch;

                if (read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q' || ch == 3)) {
                    top_quit = 1;
                }
            } else if (!top_raw) {
                struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};

                nanosleep(&ts, NULL);
            }
        }
        if (top_quit) {
            break;
        }
        for (size_t i = 0; i < nn; ++i) {
            json_t *st = top_status(&nodes[i], (int)(interval * 1000) + 1000);

            if (st != NULL) {
                top_sample(&nodes[i], st);
                json_decref(st);
            }
        }
        top_draw(stdout, nodes, nn, tty, iter);
        if (ferror(stdout)) {
            rv = 3;
            break;
        }
    }
    top_restore();
    if (tty) {
        fputs("\n", stdout);
    }
    for (size_t i = 0; i < nn; ++i) {
        if (nodes[i].fd >= 0) {
            close(nodes[i].fd);
        }
        free(nodes[i].buf);
    }
    {
        bool any = false;

        for (size_t i = 0; i < nn; ++i) {
            any = any || nodes[i].up;
        }
        if (!any && rv == 0) {
            fprintf(stderr, "gossipctl top: no node answered\n");
            rv = 3;
        }
    }
    return rv;
}
