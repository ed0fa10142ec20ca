/* SPDX-License-Identifier: MIT */
/*
 * bench_quic: the QUIC endpoint's own cost, without sockets.  Two endpoints in one thread
 * exchange datagrams through function calls; the time spent inside each endpoint's calls is
 * measured separately, so the figures are "per core" for the sending side, the receiving side
 * and the server side of handshakes.  The endpoints run on virtual time (|vnow|) that jumps to the
 * next timer whenever both are idle, so no figure includes waiting (pacing, delayed ACKs); the
 * CPU cost is taken from the real monotonic clock around each call, scaled by the thread's CPU
 * share over the run (CLOCK_THREAD_CPUTIME_ID / wall), so time the thread spent descheduled on a
 * busy machine is not charged to the endpoint.
 *
 *   bench_quic tput [seconds] [body_bytes]   one connection, frames on one topic stream
 *   bench_quic hs [count]                    sequential handshakes (client and server timed apart)
 *   bench_quic mem [count]                   bytes per idle and per half-open server connection
 *   bench_quic halfopen [count]              bytes per half-open server connection: a client's
 *                                            first flight arrived, the server's reply was lost
 *
 * Heap bytes are attributed per side: with jemalloc (release builds) the thread's allocated and
 * deallocated byte counters are read around each endpoint call, so GnuTLS's allocations count
 * as well as everything through gs_mem; a counting gs_mem on the server gives the gs_mem share.
 *
 * The source also builds against endpoints without the admission limits (no
 * GS_QUIC_MIN_WINDOW), so one run can measure a baseline build and this one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "identity.h"
#include "quic.h"

typedef struct side {
    gs_quic_ep *ep;
    int64_t heap; /* net heap bytes allocated inside this endpoint's calls (jemalloc only) */
    gs_identity id;
    gs_quic_addr addr;
    uint64_t ns; /* time spent inside this endpoint's calls */
    uint64_t nconnected;
    uint64_t nframes;
    uint64_t frame_bytes;
    uint64_t nclosed;
} side;

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* jemalloc's mallctl when it is linked (release executables); NULL under the sanitizers. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static uint64_t *heap_allocp;
static uint64_t *heap_deallocp;

/* heap_init finds this thread's jemalloc byte counters; false without jemalloc. */
static bool heap_init(void)
{
    size_t sz = sizeof(heap_allocp);

    if (mallctl == NULL || mallctl("thread.allocatedp", &heap_allocp, &sz, NULL, 0) != 0 ||
        mallctl("thread.deallocatedp", &heap_deallocp, &sz, NULL, 0) != 0) {
        heap_allocp = heap_deallocp = NULL;
        return false;
    }
    return true;
}

/* heap_net returns this thread's allocated minus deallocated bytes so far (0 without jemalloc). */
static int64_t heap_net(void)
{
    return heap_allocp != NULL ? (int64_t)(*heap_allocp - *heap_deallocp) : 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                         gs_quic_dir dir)
{
    (void)conn;
    (void)peer;
    (void)dir;
    side *s = ud;
    ++s->nconnected;
}

static void on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                     const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    (void)conn;
    (void)peer;
    (void)topic;
    (void)body;
    side *s = ud;
    ++s->nframes;
    s->frame_bytes += len;
}

static void on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                      uint64_t app_error, const char *reason, bool was_send_path)
{
    (void)conn;
    (void)peer;
    (void)rv;
    (void)app_error;
    (void)reason;
    (void)was_send_path;
    side *s = ud;
    ++s->nclosed;
}

static void side_init(side *s, uint8_t seed_byte, uint16_t port, const gs_quic_cfg *cfg)
{
    uint8_t seed[GS_ID_SEED_LEN];
    gs_quic_callbacks cb = {
        .user_data = s, .on_connected = on_connected, .on_frame = on_frame, .on_closed = on_closed};
    struct sockaddr_in sin;

    memset(s, 0, sizeof(*s));
    memset(seed, seed_byte, sizeof(seed));
    gs_identity_from_seed(&s->id, seed);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    gs_quic_addr_set(&s->addr, (const struct sockaddr *)&sin, sizeof(sin));
    if (gs_quic_ep_new(&s->ep, cfg, &s->id, &cb, gs_mem_default()) != 0) {
        fprintf(stderr, "gs_quic_ep_new failed\n");
        exit(1);
    }
}

/* lift_limits opens the per-prefix, half-open and memory limits to |n| connections from one
 * address (no-op on a build without them). */
static void lift_limits(gs_quic_cfg *cfg, size_t n)
{
#ifdef GS_QUIC_MIN_WINDOW
    cfg->max_conns_per_prefix = n;
    cfg->max_halfopen = cfg->max_halfopen_per_prefix = n;
    cfg->rx_mem_max = cfg->rx_mem_prefix_max = (size_t)1 << 40;
#else
    (void)cfg;
    (void)n;
#endif
}

static size_t rss_bytes(void)
{
    long pages = 0;
    long resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        resident = 0;
    }
    if (f != NULL) {
        (void)fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static uint8_t txmem[65536 * 4];
static gs_tstamp vnow = 1000000000ULL;

/* pump moves everything |from| has to send into |to| (both timed); returns packets moved. */
static size_t pump(side *from, side *to)
{
    gs_quic_seg_run runs[64];
    size_t npkts = 0;

    for (;;) {
        gs_quic_txbuf tx = {txmem, sizeof(txmem), 0, runs, 64, 0, 64};
        uint64_t t0 = now_ns();
        int64_t h0 = heap_net();
        gs_ssize w = gs_quic_ep_write(from->ep, vnow, &tx);
        uint64_t t1 = now_ns();
        from->ns += t1 - t0;
        from->heap += heap_net() - h0;
        if (w <= 0) {
            break;
        }
        for (size_t r = 0; r < tx.nruns; ++r) {
            const gs_quic_seg_run *run = &tx.runs[r];
            for (size_t off = 0; off < run->len; off += run->segsize) {
                size_t seg = run->len - off < run->segsize ? run->len - off : run->segsize;
                uint64_t t2 = now_ns();
                int64_t h2 = heap_net();
                gs_quic_ep_on_datagram(to->ep, &run->remote, &run->local, txmem + run->off + off,
                                       seg, 0, vnow);
                to->ns += now_ns() - t2;
                to->heap += heap_net() - h2;
                ++npkts;
            }
        }
    }
    return npkts;
}

static void expire(side *s)
{
    uint64_t t0 = now_ns();
    int64_t h0 = heap_net();
    if (gs_quic_ep_get_expiry(s->ep) <= vnow) {
        gs_quic_ep_handle_expiry(s->ep, vnow);
    }
    s->ns += now_ns() - t0;
    s->heap += heap_net() - h0;
}

/* step runs one round; when neither side moved a packet, virtual time jumps to the next timer. */
static void step(side *a, side *b)
{
    size_t n = pump(a, b) + pump(b, a);
    if (n == 0) {
        gs_tstamp ea = gs_quic_ep_get_expiry(a->ep);
        gs_tstamp eb = gs_quic_ep_get_expiry(b->ep);
        gs_tstamp e = ea < eb ? ea : eb;
        if (e != GS_TSTAMP_NEVER && e > vnow) {
            vnow = e;
        }
    }
    expire(a);
    expire(b);
}

static int bench_tput(double seconds, size_t body)
{
    gs_quic_cfg cfg;
    side a;
    side b;
    static uint8_t frame[65536];
    static const uint8_t topic[GS_QUIC_TOPIC_LEN] = {0x17};
    gs_quic_conn_id conn;

    gs_quic_cfg_default(&cfg);
    cfg.max_conns = 64;
    cfg.max_message_size = (uint32_t)(body + 1 > 4096 ? body + 1 : 4096);
    side_init(&a, 1, 4001, &cfg);
    side_init(&b, 2, 4002, &cfg);
    if (gs_quic_ep_connect(a.ep, b.id.pk, &a.addr, &b.addr, vnow, &conn) != 0) {
        return 1;
    }
    while (a.nconnected == 0 || b.nconnected == 0) {
        step(&a, &b);
    }
    frame[0] = (uint8_t)(body >> 24);
    frame[1] = (uint8_t)(body >> 16);
    frame[2] = (uint8_t)(body >> 8);
    frame[3] = (uint8_t)body;
    memset(frame + 4, 0xab, body);
    a.ns = 0;
    b.ns = 0;
    uint64_t start = now_ns();
    uint64_t cpu0 = cpu_ns();
    uint64_t end = start + (uint64_t)(seconds * 1e9);
    uint64_t sent = 0;
    while (now_ns() < end) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < 256; ++i) {
            if (gs_quic_ep_send_frame(a.ep, b.id.pk, topic, frame, body + 4) != 0) {
                break;
            }
            ++sent;
        }
        a.ns += now_ns() - t0;
        step(&a, &b);
    }
    double wall = (double)(now_ns() - start) / 1e9;
    double share = (double)(cpu_ns() - cpu0) / 1e9 / wall; /* < 1 when descheduled */
    double acpu = (double)a.ns / 1e9 * share;
    double bcpu = (double)b.ns / 1e9 * share;
    double bits = (double)b.frame_bytes * 8.0;
    const gs_quic_stats *sa = gs_quic_ep_stats_get(a.ep);
    printf("tput: body=%zu bytes, wall %.2f s, frames sent %llu, received %llu\n", body, wall,
           (unsigned long long)sent, (unsigned long long)b.nframes);
    printf("  goodput (wall, both endpoints on one core): %.2f Gbit/s\n", bits / wall / 1e9);
    printf("  thread CPU share of the wall time: %.2f\n", share);
    printf("  sender   side: %.2f CPU s in calls -> %.2f Gbit/s per core\n", acpu,
           bits / acpu / 1e9);
    printf("  receiver side: %.2f CPU s in calls -> %.2f Gbit/s per core\n", bcpu,
           bits / bcpu / 1e9);
    printf("  sender packets %llu (%.0f bytes avg)\n", (unsigned long long)sa->packets_out,
           sa->packets_out > 0 ? (double)sa->bytes_out / (double)sa->packets_out : 0.0);
    gs_quic_ep_del(a.ep);
    gs_quic_ep_del(b.ep);
    return 0;
}

static int bench_hs(size_t count)
{
    gs_quic_cfg cfg;
    side cli;
    side srv;
    gs_quic_conn_id conn;

    gs_quic_cfg_default(&cfg);
    cfg.max_conns = 4096;
    cfg.max_conns_per_addr = 4096;
    lift_limits(&cfg, 4096);
    cfg.retry_mode = GS_QUIC_RETRY_OFF;
    side_init(&cli, 1, 4001, &cfg);
    side_init(&srv, 2, 4002, &cfg);
    uint64_t start = now_ns();
    uint64_t cpu0 = cpu_ns();
    gs_tstamp vstart = vnow;
    gs_tstamp vconnect = 0;
    for (size_t i = 0; i < count; ++i) {
        gs_tstamp vdial = vnow;
        uint64_t t0 = now_ns();
        if (gs_quic_ep_connect(cli.ep, srv.id.pk, &cli.addr, &srv.addr, vnow, &conn) != 0) {
            fprintf(stderr, "connect failed\n");
            return 1;
        }
        cli.ns += now_ns() - t0;
        uint64_t target = i + 1;
        while (cli.nconnected < target || srv.nconnected < target) {
            step(&cli, &srv);
        }
        vconnect += vnow - vdial;
        /* Close at once so the tables stay small, as a server under churn would. */
        t0 = now_ns();
        gs_quic_ep_close(cli.ep, conn, 0, NULL);
        cli.ns += now_ns() - t0;
        /* Let both sides finish closing/draining (virtual time jumps), as time would pass on a
         * real server: otherwise thousands of closing connections pile up in the tables. */
        while (gs_quic_ep_num_conns(cli.ep) > 0 || gs_quic_ep_num_conns(srv.ep) > 0) {
            step(&cli, &srv);
        }
    }
    double wall = (double)(now_ns() - start) / 1e9;
    double share = (double)(cpu_ns() - cpu0) / 1e9 / wall;
    double scpu = (double)srv.ns / 1e9 * share;
    double ccpu = (double)cli.ns / 1e9 * share;
    printf("hs: %zu handshakes in %.2f s wall (%.0f/s with client and server on one core)\n", count,
           wall, (double)count / wall);
    printf("  virtual time per handshake incl. closing periods: %.3f ms\n",
           (double)(vnow - vstart) / 1e6 / (double)count);
    printf("  virtual time from dial to both connected (timers waited for): %.3f ms\n",
           (double)vconnect / 1e6 / (double)count);
    printf("  packets per handshake: server %.1f, client %.1f\n",
           (double)gs_quic_ep_stats_get(srv.ep)->packets_out / (double)count,
           (double)gs_quic_ep_stats_get(cli.ep)->packets_out / (double)count);
    printf("  thread CPU share of the wall time: %.2f\n", share);
    printf("  server side: %.3f CPU s in calls -> %.0f handshakes/s per core\n", scpu,
           (double)count / scpu);
    printf("  client side: %.3f CPU s in calls -> %.0f handshakes/s per core\n", ccpu,
           (double)count / ccpu);
    gs_quic_ep_del(cli.ep);
    gs_quic_ep_del(srv.ep);
    return 0;
}

/* A counting allocator: live bytes through gs_mem (ngtcp2 and our state; not GnuTLS). */
typedef struct count_mem {
    gs_mem mem;
    size_t live;
    size_t peak;
} count_mem;

static void *cm_malloc(size_t size, void *ud)
{
    count_mem *cm = ud;
    size_t *p = malloc(size + sizeof(size_t) * 2);
    if (p == NULL) {
        return NULL;
    }
    p[0] = size;
    cm->live += size;
    cm->peak = cm->live > cm->peak ? cm->live : cm->peak;
    return p + 2;
}

static void cm_free(void *ptr, void *ud)
{
    count_mem *cm = ud;
    if (ptr != NULL) {
        size_t *p = (size_t *)ptr - 2;
        cm->live -= p[0];
        free(p);
    }
}

static void *cm_calloc(size_t n, size_t size, void *ud)
{
    void *p = cm_malloc(n * size, ud);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

static void *cm_realloc(void *ptr, size_t size, void *ud)
{
    if (ptr == NULL) {
        return cm_malloc(size, ud);
    }
    size_t old = ((size_t *)ptr)[-2];
    void *n = cm_malloc(size, ud);
    if (n != NULL) {
        memcpy(n, ptr, old < size ? old : size);
        cm_free(ptr, ud);
    }
    return n;
}

/* drain lets |s| write everything it has and throws the packets away (a peer that went silent). */
static void drain(side *s)
{
    gs_quic_seg_run runs[64];

    for (;;) {
        gs_quic_txbuf tx = {txmem, sizeof(txmem), 0, runs, 64, 0, 64};
        int64_t h0 = heap_net();
        gs_ssize w = gs_quic_ep_write(s->ep, vnow, &tx);
        s->heap += heap_net() - h0;
        if (w <= 0) {
            break;
        }
    }
}

/* mem_cfg: default endpoint settings with room for |count| connections from one address and
 * no Retry (the memory benchmarks dial everything from one client). */
static void mem_cfg(gs_quic_cfg *cfg, size_t count)
{
    gs_quic_cfg_default(cfg);
    cfg->max_conns = count + 16;
    cfg->max_conns_per_addr = count + 16;
    lift_limits(cfg, count + 16);
    cfg->retry_mode = GS_QUIC_RETRY_OFF;
}

/* mem_server makes the server side |srv| allocate through |cm| (a fresh endpoint). */
static int mem_server(side *srv, const gs_quic_cfg *cfg, count_mem *cm)
{
    uint8_t seed[GS_ID_SEED_LEN];
    gs_quic_callbacks cb = {.user_data = srv,
                            .on_connected = on_connected,
                            .on_frame = on_frame,
                            .on_closed = on_closed};

    gs_quic_ep_del(srv->ep);
    memset(seed, 2, sizeof(seed));
    gs_identity_from_seed(&srv->id, seed);
    return gs_quic_ep_new(&srv->ep, cfg, &srv->id, &cb, &cm->mem);
}

/*
 * bench_mem: bytes the server holds per connection, (1) half-open: the client's Initial was
 * accepted and the server's first flight sent, the client went silent; (2) idle: handshake
 * complete, nothing queued; (3) draining: the clients closed, the server waits out 3 PTO.  "heap"
 * is every byte the server's calls left allocated (jemalloc's per-thread counters: ngtcp2, GnuTLS,
 * our state); "gs_mem" is the part through the endpoint's allocator.
 */
static int bench_mem(size_t count)
{
    gs_quic_cfg cfg;
    side cli;
    side srv;
    count_mem cm = {{NULL, cm_malloc, cm_free, cm_calloc, cm_realloc}, 0, 0};
    gs_quic_conn_id conn;
    bool have_heap = heap_init();

    cm.mem.user_data = &cm;
    mem_cfg(&cfg, count);

    /* (1) half-open */
    side_init(&cli, 1, 4001, &cfg);
    side_init(&srv, 2, 4002, &cfg);
    if (mem_server(&srv, &cfg, &cm) != 0) {
        return 1;
    }
    for (size_t i = 0; i < count; ++i) {
        if (gs_quic_ep_connect(cli.ep, srv.id.pk, &cli.addr, &srv.addr, vnow, &conn) != 0) {
            return 1;
        }
    }
    size_t base = cm.live;
    srv.heap = 0;
    (void)pump(&cli, &srv);
    drain(&srv);
    size_t half_conns = gs_quic_ep_stats_get(srv.ep)->handshakes_started;
    double half_gsmem = (double)(cm.live - base) / (double)count;
    double half_heap = (double)srv.heap / (double)count;
    gs_quic_ep_del(cli.ep);
    gs_quic_ep_del(srv.ep);

    /* (2) idle */
    side_init(&cli, 1, 4001, &cfg);
    side_init(&srv, 2, 4002, &cfg);
    if (mem_server(&srv, &cfg, &cm) != 0) {
        return 1;
    }
    base = cm.live;
    srv.heap = 0;
    gs_quic_conn_id *conns = calloc(count, sizeof(*conns));
    if (conns == NULL) {
        return 1;
    }
    for (size_t i = 0; i < count; ++i) {
        if (gs_quic_ep_connect(cli.ep, srv.id.pk, &cli.addr, &srv.addr, vnow, &conns[i]) != 0) {
            return 1;
        }
    }
    while (srv.nconnected < count || cli.nconnected < count) {
        step(&cli, &srv);
    }
    /* let the handshake's stragglers (HANDSHAKE_DONE acks, new connection ids) settle */
    for (int i = 0; i < 1000; ++i) {
        step(&cli, &srv);
    }
    double idle_gsmem = (double)(cm.live - base) / (double)count;
    double idle_heap = (double)srv.heap / (double)count;
    /* (3) the clients close: the server's connections drain (3 PTO) */
    for (size_t i = 0; i < count; ++i) {
        (void)gs_quic_ep_close(cli.ep, conns[i], 0, "bench");
    }
    while (srv.nclosed < count) {
        (void)pump(&cli, &srv);
        (void)pump(&srv, &cli);
    }
    double drain_gsmem = (double)(cm.live - base) / (double)count;
    double drain_heap = (double)srv.heap / (double)count;
    free(conns);
    printf("mem: %zu half-open server connections (%zu created): %.0f bytes each through gs_mem",
           count, half_conns, half_gsmem);
    if (have_heap) {
        printf(", %.0f bytes of heap each (GnuTLS included)", half_heap);
    }
    printf("\nmem: %zu idle server connections: %.0f bytes each through gs_mem", count, idle_gsmem);
    if (have_heap) {
        printf(", %.0f bytes of heap each (GnuTLS included)", idle_heap);
    }
    printf("\nmem: %zu draining server connections (peer closed): %.0f bytes each through gs_mem",
           count, drain_gsmem);
    if (have_heap) {
        printf(", %.0f bytes of heap each (GnuTLS included)", drain_heap);
    }
    printf("\nmem: endpoint tables %zu bytes%s\n", base,
           have_heap ? "" : " (no jemalloc: heap totals not available)");
    gs_quic_ep_del(cli.ep);
    gs_quic_ep_del(srv.ep);
    return 0;
}

/*
 * bench_halfopen: |count| clients send their first flight (Initial with a whole ClientHello) and
 * the server's replies are dropped, so each server connection stays half-open, as under a flood
 * of spoofed or abandoned handshakes.  Reports gs_mem bytes (ngtcp2 and the endpoint) and RSS
 * growth (which also covers GnuTLS's sessions) per connection, and how many the server kept.
 */
static int bench_halfopen(size_t count)
{
    gs_quic_cfg cfg;
    side cli;
    side srv;
    count_mem cm = {{NULL, cm_malloc, cm_free, cm_calloc, cm_realloc}, 0, 0};
    uint8_t seed[GS_ID_SEED_LEN];
    gs_quic_callbacks cb = {.user_data = &srv,
                            .on_connected = on_connected,
                            .on_frame = on_frame,
                            .on_closed = on_closed};
    gs_quic_conn_id conn;
    gs_quic_seg_run runs[64];

    cm.mem.user_data = &cm;
    mem_cfg(&cfg, count);
    side_init(&cli, 1, 4001, &cfg);
    memset(&srv, 0, sizeof(srv));
    srv.addr = cli.addr;
    srv.addr.u.in.sin_port = htons(4002);
    memset(seed, 2, sizeof(seed));
    gs_identity_from_seed(&srv.id, seed);
    if (gs_quic_ep_new(&srv.ep, &cfg, &srv.id, &cb, &cm.mem) != 0) {
        return 1;
    }
    /* the clients' first flights, collected before measuring */
    size_t cap = count * 4;
    uint8_t *pkts = malloc(cap * GS_QUIC_MAX_PACKET);
    size_t *lens = malloc(cap * sizeof(size_t));
    size_t npkts = 0;
    if (pkts == NULL || lens == NULL) {
        return 1;
    }
    for (size_t i = 0; i < count; ++i) {
        if (gs_quic_ep_connect(cli.ep, srv.id.pk, &cli.addr, &srv.addr, vnow, &conn) != 0) {
            return 1;
        }
    }
    for (;;) {
        gs_quic_txbuf tx = {txmem, sizeof(txmem), 0, runs, 64, 0, 1};
        if (gs_quic_ep_write(cli.ep, vnow, &tx) <= 0) {
            break;
        }
        for (size_t r = 0; r < tx.nruns && npkts < cap; ++r) {
            memcpy(pkts + npkts * GS_QUIC_MAX_PACKET, txmem + tx.runs[r].off, tx.runs[r].len);
            lens[npkts++] = tx.runs[r].len;
        }
    }
    memset(pkts + npkts * GS_QUIC_MAX_PACKET, 0, (cap - npkts) * GS_QUIC_MAX_PACKET);
    size_t base = cm.live;
    size_t rss0 = rss_bytes();
    for (size_t i = 0; i < npkts; ++i) {
        gs_quic_ep_on_datagram(srv.ep, &srv.addr, &cli.addr, pkts + i * GS_QUIC_MAX_PACKET, lens[i],
                               0, vnow);
    }
    for (;;) { /* the replies, lost */
        gs_quic_txbuf tx = {txmem, sizeof(txmem), 0, runs, 64, 0, 64};
        if (gs_quic_ep_write(srv.ep, vnow, &tx) <= 0) {
            break;
        }
    }
    size_t rss1 = rss_bytes();
    size_t kept = gs_quic_ep_num_conns(srv.ep);
    printf("halfopen: %zu first flights, %zu half-open server connections kept: %.0f bytes each "
           "through gs_mem, %.0f bytes each of RSS (GnuTLS included); %zu bytes in all\n",
           count, kept, kept ? (double)(cm.live - base) / (double)kept : 0.0,
           kept ? (double)(rss1 > rss0 ? rss1 - rss0 : 0) / (double)kept : 0.0,
           rss1 > rss0 ? rss1 - rss0 : 0);
    free(pkts);
    free(lens);
    gs_quic_ep_del(cli.ep);
    gs_quic_ep_del(srv.ep);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "tput") == 0) {
        double secs = argc >= 3 ? atof(argv[2]) : 3.0;
        size_t body = argc >= 4 ? (size_t)atol(argv[3]) : 1024;
        if (body == 0 || body > 60000) {
            fprintf(stderr, "body must be 1..60000\n");
            return 2;
        }
        return bench_tput(secs, body);
    }
    if (argc >= 2 && strcmp(argv[1], "hs") == 0) {
        return bench_hs(argc >= 3 ? (size_t)atol(argv[2]) : 2000);
    }
    if (argc >= 2 && strcmp(argv[1], "mem") == 0) {
        return bench_mem(argc >= 3 ? (size_t)atol(argv[2]) : 1000);
    }
    if (argc >= 2 && strcmp(argv[1], "halfopen") == 0) {
        return bench_halfopen(argc >= 3 ? (size_t)atol(argv[2]) : 1000);
    }
    fprintf(stderr, "usage: bench_quic tput [seconds] [body_bytes] | hs [count] | mem [count] | "
                    "halfopen [count]\n");
    return 2;
}
