/* SPDX-License-Identifier: MIT */
/*
 * test_metrics_threads: server/metrics.c without a daemon.
 *   1. known counters published for two shards appear, with the right names, labels and values,
 *      in the exposition; drops by reason mirror their own counters;
 *   2. under load (two writer threads publishing rising counters, one reader rendering), every
 *      value a reader sees is one a writer published and never goes backwards (run under TSan in
 *      the threaded lane: any data race fails it);
 *   3. the HTTP server answers GET /metrics, 404 elsewhere (through a plain socket).
 * With --dump it prints one exposition with known values (tests/ops/promparse.py checks its
 * syntax in a separate ctest).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* value of the sample line starting with |series| + ' ' in |text|, or -1 */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            return strtoll(p + n + 1, NULL, 10);
        }
        p += n;
    }
    return -1;
}

static void publish_known(gs_metrics *m)
{
    for (unsigned s = 0; s < 2; ++s) {
        gs_shard_counters sc;
        gs_node_counters nc;
        gs_quic_stats qs;
        gs_engine_stats es;
        gs_metrics_gauges g;

        memset(&sc, 0, sizeof(sc));
        memset(&nc, 0, sizeof(nc));
        memset(&qs, 0, sizeof(qs));
        memset(&es, 0, sizeof(es));
        memset(&g, 0, sizeof(g));
        nc.msgs_data_recv = 100 + s;
        nc.msgs_ctrl_sent_size = 7000 + s;
        nc.bad_id = 3 + s;
        qs.bytes_in = 123456 + s;
        qs.conns_active = 4 + s;
        qs.data_refused = 9 + s;
        sc.gossip_dropped = 11 + s;
        es.turns = 42 + s;
        g.peers = 5 + s;
        g.topics = 2;
        gs_metrics_publish_shard(m, s, &sc, &nc, &qs, &es, &g);
    }
    {
        gs_metrics_control c = {.requests = 17, .clients = 2, .lagged_subscribers = 1};

        gs_metrics_publish_control(m, &c);
    }
}

static void test_known(void)
{
    gs_metrics *m = NULL;
    char *text = NULL;
    size_t len = 0;

    CHECK(gs_metrics_new(&m, 0, NULL, NULL, NULL) == GS_ERR_INVAL);
    CHECK(gs_metrics_new(&m, 2, NULL, "ab", "9.9") == 0);
    publish_known(m);
    CHECK(gs_metrics_render(m, &text, &len) == 0);
    CHECK(text != NULL && strlen(text) == len);
    CHECK(sample(text, "gossip_msgs_data_recv_total{shard=\"0\"}") == 100);
    CHECK(sample(text, "gossip_msgs_data_recv_total{shard=\"1\"}") == 101);
    CHECK(sample(text, "gossip_msgs_ctrl_sent_size_total{shard=\"1\"}") == 7001);
    CHECK(sample(text, "gossip_quic_bytes_in_total{shard=\"0\"}") == 123456);
    CHECK(sample(text, "gossip_quic_conns_active{shard=\"1\"}") == 5); /* a gauge: no _total */
    CHECK(sample(text, "gossip_engine_turns_total{shard=\"1\"}") == 43);
    CHECK(sample(text, "gossip_peers{shard=\"1\"}") == 6);
    CHECK(sample(text, "gossip_dropped_total{shard=\"0\",reason=\"bad_id\"}") == 3);
    CHECK(sample(text, "gossip_dropped_total{shard=\"1\",reason=\"data_backpressure\"}") == 10);
    CHECK(sample(text, "gossip_dropped_total{shard=\"1\",reason=\"gossip_backpressure\"}") == 12);
    CHECK(sample(text, "gossip_control_requests_total") == 17);
    CHECK(sample(text, "gossip_lagged_subscribers") == 1);
    CHECK(sample(text, "gossip_info{id=\"ab\",version=\"9.9\"}") == 1);
    CHECK(sample(text, "gossip_shards") == 2);
    CHECK(strstr(text, "# TYPE gossip_msgs_data_recv_total counter\n") != NULL);
    CHECK(strstr(text, "# TYPE gossip_peers gauge\n") != NULL);
    CHECK(strstr(text, "# HELP gossip_neighbor_up_total ") != NULL);
    free(text);
    gs_metrics_del(m);
}

/* ---- concurrency ---- */

#define ROUNDS 20000

typedef struct writer_arg {
    gs_metrics *m;
    unsigned shard;
} writer_arg;

static _Atomic int writers_done;

static void *writer(void *p)
{
    writer_arg *a = p;
    gs_shard_counters sc;
    gs_node_counters nc;

    memset(&sc, 0, sizeof(sc));
    memset(&nc, 0, sizeof(nc));
    for (uint64_t i = 1; i <= ROUNDS; ++i) {
        nc.msgs_data_recv = i;
        nc.msgs_data_sent = 2 * i;
        sc.events = 3 * i;
        gs_metrics_publish_shard(a->m, a->shard, &sc, &nc, NULL, NULL, NULL);
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void test_threads(void)
{
    gs_metrics *m = NULL;
    pthread_t w[2];
    writer_arg wa[2];
    long long last[2] = {0, 0};
    int renders = 0;

    CHECK(gs_metrics_new(&m, 2, NULL, NULL, NULL) == 0);
    atomic_store(&writers_done, 0);
    for (unsigned i = 0; i < 2; ++i) {
        wa[i].m = m;
        wa[i].shard = i;
        CHECK(pthread_create(&w[i], NULL, writer, &wa[i]) == 0);
    }
    for (;;) {
        int done = atomic_load(&writers_done) == 2;
        char *text = NULL;
        size_t len;

        CHECK(gs_metrics_render(m, &text, &len) == 0);
        renders++;
        for (unsigned s = 0; s < 2; ++s) {
            char series[96];
            long long v;
            long long e;

            (void)snprintf(series, sizeof(series), "gossip_msgs_data_recv_total{shard=\"%u\"}", s);
            v = sample(text, series);
            (void)snprintf(series, sizeof(series), "gossip_shard_events_total{shard=\"%u\"}", s);
            e = sample(text, series);
            CHECK(v >= last[s] && v <= ROUNDS); /* monotonic, never a value nobody wrote */
            CHECK(e >= 0 && e % 3 == 0 && e <= 3LL * ROUNDS);
            last[s] = v;
        }
        free(text);
        if (done) {
            break;
        }
    }
    for (unsigned i = 0; i < 2; ++i) {
        (void)pthread_join(w[i], NULL);
    }
    CHECK(last[0] == ROUNDS && last[1] == ROUNDS);
    CHECK(renders >= 1);
    gs_metrics_del(m);
}

/* ---- HTTP ---- */

static int http_get(const char *bound, const char *path, char *out, size_t cap)
{
    char host[64];
    const char *colon = strrchr(bound, ':');
    struct sockaddr_in sa;
    int fd;
    size_t got = 0;
    ssize_t n;
    char req[256];

    if (colon == NULL || (size_t)(colon - bound) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, bound, (size_t)(colon - bound));
    host[colon - bound] = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    while (got + 1 < cap && (n = read(fd, out + got, cap - got - 1)) > 0) {
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return 0;
}

static void test_http(void)
{
    gs_metrics *m = NULL;
    char bound[64];
    static char resp[1 << 20];

    CHECK(gs_metrics_new(&m, 2, NULL, "cd", "1") == 0);
    CHECK(gs_metrics_listen(m, "not an address", bound, sizeof(bound)) == GS_ERR_INVAL);
    CHECK(gs_metrics_listen(m, "127.0.0.1:0", bound, sizeof(bound)) == 0);
    CHECK(strncmp(bound, "127.0.0.1:", 10) == 0 && strcmp(bound, "127.0.0.1:0") != 0);
    publish_known(m);
    CHECK(http_get(bound, "/metrics", resp, sizeof(resp)) == 0);
    CHECK(strncmp(resp, "HTTP/1.", 7) == 0 && strstr(resp, " 200 ") != NULL);
    CHECK(strstr(resp, "text/plain; version=0.0.4") != NULL);
    CHECK(strstr(resp, "\ngossip_msgs_data_recv_total{shard=\"1\"} 101\n") != NULL);
    CHECK(http_get(bound, "/nope", resp, sizeof(resp)) == 0);
    CHECK(strstr(resp, " 404 ") != NULL);
    gs_metrics_del(m);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
        gs_metrics *m = NULL;
        char *text = NULL;
        size_t len;

        if (gs_metrics_new(&m, 2, NULL, "ab", "9.9") < 0) {
            return 1;
        }
        publish_known(m);
        if (gs_metrics_render(m, &text, &len) < 0) {
            return 1;
        }
        fwrite(text, 1, len, stdout);
        free(text);
        gs_metrics_del(m);
        return 0;
    }
    test_known();
    test_threads();
    test_http();
    if (failures > 0) {
        fprintf(stderr, "test_metrics_threads: %d failures\n", failures);
        return 1;
    }
    printf("test_metrics_threads: ok\n");
    return 0;
}
