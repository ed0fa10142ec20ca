/* SPDX-License-Identifier: MIT */
/*
 * nats.c: `gossip-bench nats`: the relay fan-out load shape (P publishers, K subscribers, one
 * subject) against nats-server (Debian 2.9), spoken from this C generator in NATS's text protocol
 * over TCP (CONNECT, SUB, PUB, MSG, PING/PONG), so gossipd's relay (`gossip-bench relay`) is
 * compared with NATS through the same kind of client.  Each message carries its send time;
 * reports deliveries/s, latency percentiles and nats-server's CPU per delivery.
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include "ops.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define NT_MAX_CONNS 256
#define NT_HDR       16
#define NT_SUBJECT   "gossip.bench"

typedef struct nt_opts {
    const char *server;
    unsigned publishers;
    unsigned subscribers;
    uint64_t messages;
    size_t size;
    double rate;
    double drain;
    bool json;
    const char *plot;
} nt_opts;

typedef struct nt_conn {
    gs_ops_conn c;
    uint8_t *seen;
    bool pong;
} nt_conn;

typedef struct nt {
    nt_opts o;
    pid_t server;
    unsigned port;
    nt_conn pub[NT_MAX_CONNS];
    nt_conn sub[NT_MAX_CONNS];
    uint32_t trial;
    uint64_t trial_msgs;
} nt;

static void nt_usage(void)
{
    fprintf(stderr,
            "usage: gossip-bench nats [--nats-server PATH] [--publishers P] [--subscribers K]\n"
            "         [--messages M] [--size B] [--rate R] [--drain S] [--json] [--plot DIR]\n"
            "  defaults: --publishers 1 --subscribers 9 --messages 20000 --size 1024 --rate 5000\n"
            "  exit 77 when nats-server cannot be started.\n");
}

static unsigned free_tcp_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* nt_lines: parse what |c| received: MSG deliveries (subscribers), PING, PONG, -ERR. */
static int nt_lines(nt *s, nt_conn *nc, gs_ops_result *r)
{
    gs_ops_conn *c = &nc->c;
    size_t off = 0;
    uint64_t now = gs_ops_now_ns();

    for (;;) {
        char *line = c->in + off;
        char *nl = memmem(line, c->inlen - off, "\r\n", 2);
        size_t len;

        if (nl == NULL) {
            break;
        }
        len = (size_t)(nl - line);
        if (len >= 4 && memcmp(line, "MSG ", 4) == 0) {
            /* MSG <subject> <sid> [reply] <#bytes> */
            const char *sp = line + len;
            size_t nbytes;
            const uint8_t *pl;

            while (sp > line && sp[-1] != ' ') {
                sp--;
            }
            nbytes = strtoul(sp, NULL, 10);
            if (c->inlen - off < len + 2 + nbytes + 2) {
                break; /* payload not complete yet */
            }
            pl = (const uint8_t *)line + len + 2;
            off += len + 2 + nbytes + 2;
            if (r != NULL && nbytes >= NT_HDR) {
                uint64_t sent;
                uint32_t trial;
                uint32_t idx;

                memcpy(&sent, pl, 8);
                memcpy(&trial, pl + 8, 4);
                memcpy(&idx, pl + 12, 4);
                if (trial == s->trial && idx < s->trial_msgs && nc->seen != NULL) {
                    if (nc->seen[idx / 8] & (1u << (idx % 8))) {
                        r->duplicates++;
                    } else {
                        nc->seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
                        r->deliveries++;
                        gs_ops_hist_add(&r->lat, now > sent ? now - sent : 0);
                    }
                }
            }
            continue;
        }
        off += len + 2;
        if (len == 4 && memcmp(line, "PING", 4) == 0) {
            if (gs_ops_conn_queue(c, "PONG\r\n", 6) < 0) {
                return -1;
            }
        } else if (len == 4 && memcmp(line, "PONG", 4) == 0) {
            nc->pong = true;
        } else if (len >= 4 && memcmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "gossip-bench nats: server error: %.*s\n", (int)len, line);
            if (r != NULL) {
                r->publish_errors++;
            }
        }
    }
    gs_ops_conn_consume(c, off);
    return 0;
}

static int nt_poll(nt *s, int ms, gs_ops_result *r)
{
    struct pollfd pf[2 * NT_MAX_CONNS];
    nt_conn *cs[2 * NT_MAX_CONNS];
    unsigned n = 0;

    for (unsigned i = 0; i < s->o.publishers; ++i) {
        cs[n++] = &s->pub[i];
    }
    for (unsigned i = 0; i < s->o.subscribers; ++i) {
        cs[n++] = &s->sub[i];
    }
    for (unsigned i = 0; i < n; ++i) {
        pf[i].fd = cs[i]->c.fd;
        pf[i].events = (short)(POLLIN | (cs[i]->c.outlen > cs[i]->c.outoff ? POLLOUT : 0));
    }
    if (poll(pf, n, ms) < 0) {
        return 0;
    }
    for (unsigned i = 0; i < n; ++i) {
        if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (gs_ops_conn_fill(&cs[i]->c) < 0 || cs[i]->c.eof) {
                fprintf(stderr, "gossip-bench nats: the server closed a connection\n");
                return -1;
            }
            if (nt_lines(s, cs[i], r) < 0) {
                return -1;
            }
        }
        if (gs_ops_conn_flush(&cs[i]->c) < 0) {
            return -1;
        }
    }
    return 0;
}

/* nt_sync: PING every connection and wait for every PONG (the server has seen all before). */
static int nt_sync(nt *s, gs_ops_result *r)
{
    uint64_t end = gs_ops_now_ns() + 30000000000ULL;

    for (unsigned i = 0; i < s->o.publishers; ++i) {
        s->pub[i].pong = false;
        (void)gs_ops_conn_queue(&s->pub[i].c, "PING\r\n", 6);
    }
    for (unsigned i = 0; i < s->o.subscribers; ++i) {
        s->sub[i].pong = false;
        (void)gs_ops_conn_queue(&s->sub[i].c, "PING\r\n", 6);
    }
    for (;;) {
        bool all = true;

        for (unsigned i = 0; i < s->o.publishers; ++i) {
            all = all && s->pub[i].pong;
        }
        for (unsigned i = 0; i < s->o.subscribers; ++i) {
            all = all && s->sub[i].pong;
        }
        if (all) {
            return 0;
        }
        if (gs_ops_now_ns() > end || nt_poll(s, 20, r) < 0) {
            return -1;
        }
    }
}

static int nt_connect_one(nt *s, nt_conn *nc, bool sub)
{
    static const char hello[] =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"name\":\"gossip-bench\","
        "\"lang\":\"c\",\"version\":\"0.1\",\"protocol\":1}\r\n";

    for (int k = 0; k < 100; ++k) {
        if (gs_ops_conn_tcp(&nc->c, "127.0.0.1", s->port) == 0) {
            (void)gs_ops_conn_queue(&nc->c, hello, sizeof(hello) - 1);
            if (sub) {
                (void)gs_ops_conn_queue(&nc->c, "SUB " NT_SUBJECT " 1\r\n",
                                        sizeof("SUB " NT_SUBJECT " 1\r\n") - 1);
            }
            return 0;
        }
        usleep(50000);
    }
    return -1;
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int nt_trial(nt *s, uint64_t msgs, double rate, gs_ops_result *r)
{
    size_t bsz = (size_t)(msgs + 7) / 8;
    uint8_t *payload = calloc(1, s->o.size + 64);
    char hdr[64];
    int hl;
    uint64_t t0, tlast = 0, last_pub = 0, sent = 0, next_progress;
    double cpu0, gen0;
    int rv = 0;

    memset(r, 0, sizeof(*r));
    if (payload == NULL) {
        return -1;
    }
    s->trial++;
    s->trial_msgs = msgs;
    for (unsigned i = 0; i < s->o.subscribers; ++i) {
        free(s->sub[i].seen);
        s->sub[i].seen = calloc(1, bsz + 1);
        if (s->sub[i].seen == NULL) {
            free(payload);
            return -1;
        }
    }
    hl = snprintf(hdr, sizeof(hdr), "PUB " NT_SUBJECT " %zu\r\n", s->o.size);
    r->offered = rate;
    r->expected = msgs * s->o.subscribers;
    cpu0 = gs_ops_proc_cpu_s(s->server);
    gen0 = self_cpu();
    t0 = gs_ops_now_ns();
    next_progress = t0 + 1000000000ULL;
    for (;;) {
        uint64_t now = gs_ops_now_ns();
        uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * rate) + 1;
        uint64_t before = r->deliveries;

        if (due > msgs) {
            due = msgs;
        }
        while (sent < due) {
            nt_conn *p = &s->pub[sent % s->o.publishers];
            uint32_t idx = (uint32_t)sent;
            uint64_t ts = gs_ops_now_ns();

            if (p->c.outlen - p->c.outoff > (4u << 20)) {
                break; /* the server does not take more: the offered rate is not met */
            }
            memcpy(payload, &ts, 8);
            memcpy(payload + 8, &s->trial, 4);
            memcpy(payload + 12, &idx, 4);
            if (gs_ops_conn_queue(&p->c, hdr, (size_t)hl) < 0 ||
                gs_ops_conn_queue(&p->c, payload, s->o.size) < 0 ||
                gs_ops_conn_queue(&p->c, "\r\n", 2) < 0) {
                rv = -1;
                goto out;
            }
            sent++;
            last_pub = ts;
        }
        if (nt_poll(s, sent < msgs ? 1 : 20, r) < 0) {
            rv = -1;
            goto out;
        }
        now = gs_ops_now_ns();
        if (r->deliveries > before) {
            tlast = now;
        }
        if (now >= next_progress) {
            fprintf(stderr, "  nats t=%.0fs published=%llu delivered=%llu/%llu\n",
                    (double)(now - t0) / 1e9, (unsigned long long)sent,
                    (unsigned long long)r->deliveries, (unsigned long long)r->expected);
            next_progress += 1000000000ULL;
        }
        if (sent == msgs && (r->deliveries >= r->expected ||
                             (tlast != 0 && now - tlast > (uint64_t)(s->o.drain * 1e9)) ||
                             now - last_pub > (uint64_t)(s->o.drain * 4e9))) {
            break;
        }
    }
out:
    r->published = sent;
    r->achieved =
        last_pub > t0 && sent > 1 ? (double)(sent - 1) / ((double)(last_pub - t0) / 1e9) : rate;
    r->seconds = tlast > t0 ? (double)(tlast - t0) / 1e9 : 0;
    r->deliveries_per_s = r->seconds > 0 ? (double)r->deliveries / r->seconds : 0;
    r->cpu_s = gs_ops_proc_cpu_s(s->server) - cpu0;
    r->gen_cpu_s = self_cpu() - gen0;
    r->cpu_us_per_delivery = r->deliveries > 0 ? r->cpu_s * 1e6 / (double)r->deliveries : 0;
    free(payload);
    return rv;
}

int gs_bench_nats(int argc, char **argv)
{
    static const struct option lo[] = {
        {"nats-server", required_argument, NULL, 'N'},
        {"publishers", required_argument, NULL, 'p'},
        {"subscribers", required_argument, NULL, 'k'},
        {"messages", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, 'r'},
        {"drain", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"plot", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static nt s;
    gs_ops_result r;
    gs_ops_result warm;
    char portbuf[16];
    char log[64];
    int c;
    int rv = 1;

    memset(&s, 0, sizeof(s));
    s.o = (nt_opts){.server = "nats-server",
                    .publishers = 1,
                    .subscribers = 9,
                    .messages = 20000,
                    .size = 1024,
                    .rate = 5000,
                    .drain = 1.0};
    optind = 1;
    while ((c = getopt_long(argc + 1, argv - 1, "", lo, NULL)) != -1) {
        switch (c) {
        case 'N':
            s.o.server = optarg;
            break;
        case 'p':
            s.o.publishers = (unsigned)atoi(optarg);
            break;
        case 'k':
            s.o.subscribers = (unsigned)atoi(optarg);
            break;
        case 'm':
            s.o.messages = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            s.o.size = (size_t)atol(optarg);
            break;
        case 'r':
            s.o.rate = atof(optarg);
            break;
        case 'd':
            s.o.drain = atof(optarg);
            break;
        case 'j':
            s.o.json = true;
            break;
        case 'P':
            s.o.plot = optarg;
            break;
        case 'h':
            nt_usage();
            return 0;
        default:
            nt_usage();
            return 2;
        }
    }
    if (s.o.publishers == 0 || s.o.publishers > NT_MAX_CONNS || s.o.subscribers == 0 ||
        s.o.subscribers > NT_MAX_CONNS || s.o.size < NT_HDR || s.o.size > 1000000 ||
        s.o.messages == 0 || s.o.messages > 100000000 || s.o.rate <= 0) {
        nt_usage();
        return 2;
    }
    s.port = free_tcp_port();
    if (s.port == 0) {
        fprintf(stderr, "gossip-bench nats: no free TCP port\n");
        return 1;
    }
    (void)snprintf(portbuf, sizeof(portbuf), "%u", s.port);
    (void)snprintf(log, sizeof(log), "/tmp/gossip-bench-nats.%d.log", (int)getpid());
    {
        const char *av[] = {s.o.server, "-a", "127.0.0.1", "-p", portbuf, NULL};

        s.server = gs_ops_spawn(av, NULL, log);
    }
    if (s.server < 0) {
        return 77;
    }
    fprintf(stderr,
            "gossip-bench nats: nats-server on 127.0.0.1:%u, %u publishers, %u subscribers\n",
            s.port, s.o.publishers, s.o.subscribers);
    for (unsigned i = 0; i < s.o.publishers; ++i) {
        if (nt_connect_one(&s, &s.pub[i], false) < 0) {
            fprintf(stderr, "gossip-bench nats: cannot connect to nats-server (%s: log %s)\n",
                    s.o.server, log);
            gs_ops_stop_all();
            return 77;
        }
    }
    for (unsigned i = 0; i < s.o.subscribers; ++i) {
        if (nt_connect_one(&s, &s.sub[i], true) < 0) {
            gs_ops_stop_all();
            return 1;
        }
    }
    if (nt_sync(&s, NULL) < 0 || nt_trial(&s, 100, 1000, &warm) < 0 ||
        nt_trial(&s, s.o.messages, s.o.rate, &r) < 0) {
        fprintf(stderr, "gossip-bench nats: run failed (server log %s)\n", log);
        goto out;
    }
    printf("\ngossip-bench nats: %u publishers, %u subscribers, %zu B, %llu messages at %.0f "
           "msg/s (load average %.2f)\n",
           s.o.publishers, s.o.subscribers, s.o.size, (unsigned long long)s.o.messages, s.o.rate,
           gs_ops_loadavg());
    gs_ops_result_header(stdout);
    gs_ops_result_row(stdout, "nats", &r);
    printf("nats-server peak RSS %.1f MB; cpu us/d is nats-server's CPU per delivery\n",
           (double)gs_ops_proc_hwm_kb(s.server) / 1024);
    if (s.o.plot != NULL && gs_ops_mkdir_p(s.o.plot) == 0) {
        char path[4200];

        (void)snprintf(path, sizeof(path), "%s/nats-latency.dat", s.o.plot);
        (void)gs_ops_hist_cdf(&r.lat, path);
        (void)gs_ops_plot(s.o.plot, "nats-latency-cdf",
                          "set title 'nats fan-out: latency CDF'\nset xlabel 'latency (ms)'\n"
                          "set ylabel 'fraction'\nset logscale x\nset grid\n"
                          "plot 'nats-latency.dat' using 1:2 with lines lw 2 title 'nats'");
    }
    if (s.o.json) {
        printf("{\"mode\":\"nats\",\"publishers\":%u,\"subscribers\":%u,\"size\":%zu,"
               "\"messages\":%llu,\"rate\":%.1f,\"load_avg\":%.2f,\"results\":[{\"impl\":\"nats\","
               "\"server_rss_peak_kb\":%llu,\"run\":",
               s.o.publishers, s.o.subscribers, s.o.size, (unsigned long long)s.o.messages,
               s.o.rate, gs_ops_loadavg(), (unsigned long long)gs_ops_proc_hwm_kb(s.server));
        gs_ops_result_json(stdout, &r);
        printf("}]}\n");
    }
    fflush(stdout);
    rv = 0;
out:
    for (unsigned i = 0; i < s.o.publishers; ++i) {
        gs_ops_conn_close(&s.pub[i].c);
    }
    for (unsigned i = 0; i < s.o.subscribers; ++i) {
        gs_ops_conn_close(&s.sub[i].c);
        free(s.sub[i].seen);
    }
    gs_ops_stop_all();
    if (rv == 0) {
        (void)unlink(log);
    }
    return rv;
}
