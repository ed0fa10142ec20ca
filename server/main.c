/* SPDX-License-Identifier: MIT */
/*
 * main.c: gossipd's process: configuration, key, shards, control thread, the `ready` line,
 * signals and the orderly stop (docs/server.md).
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "engine.h"
#include "frames.h"
#include "log.h"
#include "metrics.h"
#include "shard.h"

#define GS_VERSION "0.1.0"
#define QUIT_PHASE (300 * GS_MILLISECONDS) /* time to send Disconnects before closing */
/* Sanitizer builds run 5-15x slower: their stop gets more time before the last-resort exit
 * (which would also skip their leak and thread checks). */
#ifdef GS_SANITIZED
#    define GS_STOP_SLACK 10
#else
#    define GS_STOP_SLACK 1
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gossipd [--config FILE] [--key FILE] [--listen ADDR:PORT]...\n"
            "               [--advertise ADDR:PORT]... [--shards N] [--bootstrap PEER]...\n"
            "               [--join TOPIC]... [--relay] [--backbone PEER]... [--control PATH]\n"
            "               [--metrics ADDR:PORT] [--broadcast-policy reference|many]\n"
            "               [--rtt-timeouts true|false]\n"
            "               [--log-level error|warn|info|debug] [--set KEY=VALUE]...\n"
            "               [--check-config] [--help] [--version]\n"
            "PEER is ID@ADDR:PORT (ID: 64 hex digits or 52 base32 characters).\n"
            "TOPIC is 64 hex digits (the id) or any other string S (the id BLAKE3(S)).\n"
            "Default listen address 0.0.0.0:%d (UDP).  Keys for --set: docs/config.md.\n",
            GS_CFG_DEFAULT_PORT);
}

static void drop_rec(const gs_mbox_rec *r)
{
    switch (r->type) {
    case GS_MBOX_FRAME_IN:
    case GS_MBOX_SEND:
    case GS_MBOX_EVENT:
    case GS_MBOX_DATAGRAM:
        gs_frame_unref(r->ptr);
        break;
    case GS_MBOX_CTL:
    case GS_MBOX_CTL_DONE: {
        gs_ctl_req *q = r->ptr;

        free(q->content);
        json_decref(q->result);
        free(q);
        break;
    }
    default:
        break;
    }
}

static bool is_wildcard(const gs_udp_addr *a)
{
    static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

    if (a->u.sa.sa_family == AF_INET) {
        return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return memcmp(&a->u.in6.sin6_addr, &any6, sizeof(any6)) == 0;
}

static void ai_add(gs_addrinfo *ai, const struct sockaddr *sa, uint16_t port)
{
    gs_sockaddr *s;

    if (ai->naddrs >= GS_ADDRINFO_MAX_ADDRS) {
        return;
    }
    s = &ai->addrs[ai->naddrs];
    memset(s, 0, sizeof(*s));
    if (sa->sa_family == AF_INET) {
        s->family = 4;
        memcpy(s->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        s->family = 6;
        memcpy(s->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return;
    }
    s->port = port;
    for (size_t i = 0; i < ai->naddrs; ++i) {
        if (gs_sockaddr_cmp(&ai->addrs[i], s) == 0) {
            return;
        }
    }
    ai->naddrs++;
}

/* build_peer_data: our AddrInfo (PROTOCOL.md 2.4, 4.5): the advertised addresses, else every
 * bound address, a wildcard one expanded to the interfaces' addresses of its family. */
static void build_peer_data(gs_server *srv)
{
    gs_addrinfo ai;
    gs_ssize n;

    memset(&ai, 0, sizeof(ai));
    if (srv->cfg.nadvertise > 0) {
        for (size_t i = 0; i < srv->cfg.nadvertise; ++i) {
            const gs_udp_addr *a = &srv->cfg.advertise[i];

            ai_add(&ai, &a->u.sa, ntohs(a->u.in4.sin_port));
        }
    } else {
        for (size_t i = 0; i < srv->nbound; ++i) {
            const gs_udp_addr *a = &srv->bound[i];
            uint16_t port = ntohs(a->u.in4.sin_port);
            struct ifaddrs *ifa = NULL;

            if (!is_wildcard(a)) {
                ai_add(&ai, &a->u.sa, port);
                continue;
            }
            if (getifaddrs(&ifa) < 0) {
                continue;
            }
            for (struct ifaddrs *p = ifa; p != NULL; p = p->ifa_next) {
                if (p->ifa_addr != NULL && p->ifa_addr->sa_family == a->u.sa.sa_family) {
                    ai_add(&ai, p->ifa_addr, port);
                }
            }
            freeifaddrs(ifa);
        }
    }
    n = gs_addrinfo_encode(srv->peer_data, sizeof(srv->peer_data), &ai);
    srv->peer_data_len = n > 0 ? (size_t)n : 0;
}

/* Threads are named for `top -H` and `ps -L`: gossipd-s<index> for shards, gossipd-ctl for the
 * control socket when it has a thread of its own (15 characters at most). */
static void *shard_main(void *arg)
{
    gs_shard *sh = arg;
    char name[16];

    snprintf(name, sizeof(name), "gossipd-s%u", gs_shard_index(sh));
    (void)pthread_setname_np(pthread_self(), name);
    (void)gs_shard_run(sh);
    return NULL;
}

static void *control_main(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "gossipd-ctl");
    (void)gs_control_run(arg);
    return NULL;
}

static int parse_args(gs_server_cfg *cfg, int argc, char **argv, bool *check, gs_cfg_errors *errs)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"listen", required_argument, NULL, 'l'},
        {"advertise", required_argument, NULL, 'a'},
        {"shards", required_argument, NULL, 's'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"join", required_argument, NULL, 'j'},
        {"relay", no_argument, NULL, 'r'},
        {"backbone", required_argument, NULL, 'B'},
        {"control", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {"set", required_argument, NULL, 'S'},
        {"check-config", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"metrics", required_argument, NULL, 'M'},
        {"broadcast-policy", required_argument, NULL, 'P'},
        {"rtt-timeouts", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int o;
    int rv = 0;

    /* first pass: --config, --help, --version (the file comes before every other flag) */
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'c') {
            config = optarg;
        } else if (o == 'h') {
            usage(stdout);
            exit(0);
        } else if (o == 'V') {
            printf("gossipd %s\n", GS_VERSION);
            exit(0);
        }
    }
    if (config != NULL && gs_server_cfg_load_file(cfg, config, errs) < 0) {
        rv = GS_ERR_INVAL;
    }
    optind = 1;
    opterr = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        char buf[512];
        int r = 0;

        switch (o) {
        case 'c':
        case 'h':
        case 'V':
            continue;
        case 'k':
            key = "node.key";
            break;
        case 'l':
            key = "node.listen";
            break;
        case 'a':
            key = "node.advertise";
            break;
        case 's':
            key = "node.shards";
            break;
        case 'b':
            key = "node.bootstrap";
            break;
        case 'j':
            key = "node.join";
            break;
        case 'B':
            key = "relay.backbone";
            break;
        case 'C':
            key = "control.path";
            break;
        case 'L':
            key = "node.log_level";
            break;
        case 'M':
            key = "metrics.listen";
            break;
        case 'P':
            key = "protocol.broadcast_policy";
            break;
        case 'T':
            key = "protocol.rtt_timeouts";
            break;
        case 'r':
            r = gs_server_cfg_set(cfg, "relay.enabled", "true", "--relay", -2, errs);
            break;
        case 'K':
            *check = true;
            break;
        case 'S': {
            const char *eq = strchr(optarg, '=');

            if (eq == NULL || (size_t)(eq - optarg) >= sizeof(buf)) {
                (void)snprintf(buf, sizeof(buf), "--set %s", optarg);
                r = gs_server_cfg_set(cfg, "", "", buf, 2, errs); /* reports "unknown key" */
                break;
            }
            memcpy(buf, optarg, (size_t)(eq - optarg));
            buf[eq - optarg] = '\0';
            r = gs_server_cfg_set(cfg, buf, eq + 1, "--set", 2, errs);
            break;
        }
        default:
            usage(stderr);
            exit(2);
        }
        if (key != NULL) {
            (void)snprintf(buf, sizeof(buf), "--%s", opts[0].name);
            for (size_t i = 0; opts[i].name != NULL; ++i) {
                if (opts[i].val == o) {
                    (void)snprintf(buf, sizeof(buf), "--%s", opts[i].name);
                }
            }
            r = gs_server_cfg_set(cfg, key, optarg, buf, -2, errs);
        }
        if (r < 0) {
            rv = GS_ERR_INVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gossipd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    return rv;
}

int main(int argc, char **argv)
{
    static gs_server srv;
    gs_cfg_errors errs = {0};
    bool check = false;
    bool created = false;
    pthread_t *threads;
    pthread_t ctl_thread;
    bool ctl_inline = false; /* the control is served on shard 0 (control.thread) */
    sigset_t sigs;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rv;
    int sig = 0;
    unsigned made = 0;
    gs_tstamp stop_started;

    gs_server_cfg_default(&srv.cfg);
    rv = parse_args(&srv.cfg, argc, argv, &check, &errs);
    if (rv == 0) {
        rv = gs_server_cfg_validate(&srv.cfg, &errs);
    }
    if (rv < 0) {
        for (size_t i = 0; i < errs.n; ++i) {
            fprintf(stderr, "gossipd: config error: %s\n", errs.msg[i]);
        }
        if (errs.dropped > 0) {
            fprintf(stderr, "gossipd: %zu more errors\n", errs.dropped);
        }
        return check ? 1 : 2;
    }
    if (check) {
        gs_server_cfg_print(&srv.cfg, stdout);
        return 0;
    }
    gs_log_level_set(srv.cfg.log_level);
    {
        /* control clients are file descriptors: allow what control.max_clients promises */
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (srv.cfg.key_path[0] != '\0') {
        rv = gs_identity_load_or_create(&srv.id, srv.cfg.key_path, &created);
        if (rv < 0) {
            fprintf(stderr, "gossipd: key file %s: %s%s\n", srv.cfg.key_path, gs_strerror(rv),
                    rv == GS_ERR_KEY_PERM ? " (chmod 600 it)" : "");
            return 2;
        }
        if (created) {
            GS_LOG(GS_LOG_INFO, "evt=key_created path=%s", srv.cfg.key_path);
        }
    } else {
        rv = gs_identity_generate(&srv.id);
        if (rv < 0) {
            fprintf(stderr, "gossipd: cannot generate a key: %s\n", gs_strerror(rv));
            return 2;
        }
        GS_LOG(GS_LOG_INFO, "evt=ephemeral_key note=\"no --key: a new identity every start\"");
    }
    srv.nshards = srv.cfg.shards > 0 ? (unsigned)srv.cfg.shards : (unsigned)(ncpu > 0 ? ncpu : 1);
    srv.started = gs_uring_now();
    atomic_init(&srv.phase, GS_PHASE_RUN);
    atomic_init(&srv.conn_seq, 0);
    rv = gs_mesh_new(&srv.mesh, srv.nshards + 1, srv.cfg.ring_size, srv.cfg.ring_backlog, drop_rec);
    if (rv < 0) {
        fprintf(stderr, "gossipd: mailboxes: %s\n", gs_strerror(rv));
        return 2;
    }
    srv.shards = calloc(srv.nshards, sizeof(*srv.shards));
    threads = calloc(srv.nshards, sizeof(*threads));
    if (srv.shards == NULL || threads == NULL) {
        fprintf(stderr, "gossipd: out of memory\n");
        return 2;
    }
    for (unsigned i = 0; i < srv.nshards; ++i) {
        rv = gs_shard_new(&srv.shards[i], &srv, i);
        if (rv < 0) {
            fprintf(stderr, "gossipd: shard %u: %s\n", i, gs_strerror(rv));
            goto out;
        }
        made++;
        if (i == 0) {
            const gs_udp_addr *a;

            for (size_t k = 0; (a = gs_engine_local(gs_shard_engine(srv.shards[0]), k)) != NULL;
                 ++k) {
                srv.bound[srv.nbound++] = *a;
            }
        }
        gs_mesh_set_wake(srv.mesh, i, gs_shard_wake, srv.shards[i]);
    }
    build_peer_data(&srv);
    /* before any Join goes out (--join below): a Join without PeerData would be forwarded
     * without our addresses, and the peers its walk reaches could not dial us */
    for (size_t i = 0; i < srv.nshards; ++i) {
        rv = gs_shard_set_peer_data(srv.shards[i]);
        if (rv < 0) {
            fprintf(stderr, "gossipd: our PeerData (%zu bytes): %s\n", srv.peer_data_len,
                    gs_strerror(rv));
            goto out;
        }
    }
    for (size_t i = 0; i < srv.cfg.nbootstrap; ++i) {
        const gs_cfg_peer *p = &srv.cfg.bootstrap[i];

        if (p->addr.len > 0) {
            gs_shard_add_addr(srv.shards[gs_server_peer_home(&srv, p->id)], p->id, &p->addr, true);
        }
    }
    for (size_t i = 0; i < srv.cfg.nbackbone; ++i) {
        const gs_cfg_peer *p = &srv.cfg.backbone[i];

        if (p->addr.len > 0) {
            gs_shard_add_addr(srv.shards[gs_server_peer_home(&srv, p->id)], p->id, &p->addr, true);
        }
    }
    for (size_t i = 0; i < srv.cfg.njoin; ++i) {
        rv = gs_shard_join(srv.shards[gs_server_topic_shard(&srv, srv.cfg.join[i].id.b)],
                           &srv.cfg.join[i]);
        if (rv < 0) {
            fprintf(stderr, "gossipd: join %s: %s\n", srv.cfg.join[i].name, gs_strerror(rv));
        }
    }
    if (srv.cfg.control_path[0] != '\0') {
        rv = gs_control_new(&srv.ctl, &srv);
        if (rv < 0) {
            fprintf(stderr, "gossipd: control socket %s: %s\n", srv.cfg.control_path,
                    gs_strerror(rv));
            goto out;
        }
        ctl_inline = srv.cfg.control_thread == GS_CTL_THREAD_SHARD ||
                     (srv.cfg.control_thread == GS_CTL_THREAD_AUTO && srv.nshards == 1);
        if (ctl_inline) {
            rv = gs_shard_serve_control(srv.shards[0], srv.ctl);
            if (rv < 0) {
                fprintf(stderr, "gossipd: control socket on shard 0: %s\n", gs_strerror(rv));
                goto out;
            }
            gs_mesh_set_wake(srv.mesh, srv.nshards, gs_shard_wake, srv.shards[0]);
        } else {
            gs_mesh_set_wake(srv.mesh, srv.nshards, gs_control_wake, srv.ctl);
        }
    }
    if (srv.cfg.metrics_listen[0] != '\0') {
        char hex[65];
        char bound[GS_UDP_ADDR_STRLEN];

        gs_cfg_hex(srv.id.pk, 32, hex);
        rv = gs_metrics_new(&srv.metrics, srv.nshards, srv.mesh, hex, GS_VERSION);
        if (rv == 0) {
            rv = gs_metrics_listen(srv.metrics, srv.cfg.metrics_listen, bound, sizeof(bound));
        }
        if (rv < 0) {
            fprintf(stderr, "gossipd: metrics on %s: %s\n", srv.cfg.metrics_listen,
                    gs_strerror(rv));
            goto out;
        }
        GS_LOG(GS_LOG_INFO, "evt=metrics addr=%s path=/metrics", bound);
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    for (unsigned i = 0; i < srv.nshards; ++i) {
        if (pthread_create(&threads[i], NULL, shard_main, srv.shards[i]) != 0) {
            fprintf(stderr, "gossipd: cannot start shard %u\n", i);
            exit(2);
        }
        if (srv.cfg.pin && ncpu >= (long)srv.nshards && srv.nshards > 1) {
            cpu_set_t set;

            CPU_ZERO(&set);
            CPU_SET(i, &set);
            (void)pthread_setaffinity_np(threads[i], sizeof(set), &set);
        }
    }
    if (srv.ctl != NULL && !ctl_inline &&
        pthread_create(&ctl_thread, NULL, control_main, srv.ctl) != 0) {
        fprintf(stderr, "gossipd: cannot start the control thread\n");
        exit(2);
    }
    {
        char hex[65];
        char buf[GS_UDP_ADDR_STRLEN];

        gs_cfg_hex(srv.id.pk, 32, hex);
        printf("ready %s", hex);
        for (size_t i = 0; i < srv.nbound; ++i) {
            if (gs_udp_addr_format(&srv.bound[i], buf, sizeof(buf)) > 0) {
                printf(" %s", buf);
            }
        }
        printf("\n");
        fflush(stdout);
        GS_LOG(GS_LOG_INFO, "evt=ready id=%s shards=%u relay=%s", hex, srv.nshards,
               srv.cfg.relay ? "true" : "false");
    }
    sigdelset(&sigs, SIGPIPE);
    do {
        if (sigwait(&sigs, &sig) != 0) {
            sig = SIGTERM;
        }
    } while (sig != SIGTERM && sig != SIGINT);
    GS_LOG(GS_LOG_INFO, "evt=stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");
    stop_started = gs_uring_now();
    atomic_store(&srv.phase, GS_PHASE_QUIT);
    for (unsigned i = 0; i < srv.nshards; ++i) {
        gs_shard_wake(srv.shards[i]);
    }
    {
        struct timespec ts = {0, (long)QUIT_PHASE};

        (void)nanosleep(&ts, NULL);
    }
    atomic_store(&srv.phase, GS_PHASE_CLOSE);
    for (unsigned i = 0; i < srv.nshards; ++i) {
        gs_shard_wake(srv.shards[i]);
    }
    for (unsigned i = 0; i < srv.nshards; ++i) {
        /* the stop is bounded: a shard still busy after limits.shutdown_ms (a stuck peer cannot
         * hold it: the engine's shutdown is bounded too, so this is a last resort) ends the
         * process without the orderly teardown */
        struct timespec dl;
        gs_tstamp by = gs_tstamp_add(stop_started, GS_STOP_SLACK * srv.cfg.shutdown_timeout);

        (void)clock_gettime(CLOCK_REALTIME, &dl);
        if (by > gs_uring_now()) {
            gs_duration left = by - gs_uring_now();

            dl.tv_sec += (time_t)(left / GS_SECONDS);
            dl.tv_nsec += (long)(left % GS_SECONDS);
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
        }
        if (pthread_timedjoin_np(threads[i], NULL, &dl) != 0) {
            GS_LOG(GS_LOG_WARN, "evt=stop_timeout shard=%u note=\"exiting without teardown\"", i);
            _exit(0);
        }
    }
    GS_LOG(GS_LOG_DEBUG, "evt=shards_stopped");
    if (srv.ctl != NULL && !ctl_inline) {
        gs_control_stop(srv.ctl);
        (void)pthread_join(ctl_thread, NULL);
    }
    GS_LOG(GS_LOG_DEBUG, "evt=control_stopped");
    rv = 0;
out:
    gs_metrics_del(srv.metrics); /* its thread reads the mesh */
    gs_control_del(srv.ctl);
    gs_mesh_del(srv.mesh); /* before the shards: undelivered records hold frames */
    for (unsigned i = 0; i < made; ++i) {
        gs_shard_del(srv.shards[i]);
    }
    free(srv.shards);
    free(threads);
    gs_identity_wipe(&srv.id);
    GS_LOG(GS_LOG_INFO, "evt=stopped frames_live=%llu", (unsigned long long)gs_frames_live());
    return rv < 0 ? 2 : 0;
}
