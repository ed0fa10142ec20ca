/* SPDX-License-Identifier: MIT */
/*
 * bench_ring: the cross-shard mailbox (server/mailbox.h over server/ring.h) between two threads
 * (pinned to CPUs 0 and 1 when there are two).
 *
 *   bench_ring [--records N] [--batch B] [--samples S]
 *
 * throughput: the producer sends N records (the 96-byte gs_mbox_rec), publishing once per B
 *   records (a shard publishes once per turn); the consumer drains.  Reports records/s.
 * latency (busy): the producer stamps a record, publishes it alone and waits for the consumer
 *   (spinning on its ring) to echo it back; one-way = round trip / 2.  Percentiles over S samples.
 * latency (doorbell): the consumer sleeps on an eventfd after gs_mesh_sleep_begin, as a shard
 *   does; one-way = publish -> consumer awake and holding the record.
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "mailbox.h"

static gs_mesh *mesh;
static int efd[2];
static size_t nrecs = 10000000;
static size_t batch = 64;
static size_t nsamples = 20000;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void pin(unsigned cpu)
{
    cpu_set_t set;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void wake(void *arg)
{
    uint64_t one = 1;

    (void)!write(*(int *)arg, &one, sizeof(one));
}

static void *consumer(void *arg)
{
    gs_mbox_rec out[256];
    size_t got = 0;
    uint64_t *lat = arg;
    size_t n;

    pin(1);
    while (got < nrecs) {
        n = gs_mesh_recv(mesh, 1, out, 256);
        got += n;
    }
    /* busy latency: echo each record straight back */
    for (size_t i = 0; i < nsamples;) {
        if (gs_mesh_recv(mesh, 1, out, 1) == 1) {
            (void)gs_mesh_send(mesh, 1, 0, &out[0]);
            (void)gs_mesh_flush(mesh, 1);
            i++;
        }
    }
    /* doorbell latency: sleep until rung */
    for (size_t i = 0; i < nsamples;) {
        struct pollfd p = {.fd = efd[1], .events = POLLIN};
        uint64_t v;

        if (gs_mesh_sleep_begin(mesh, 1)) {
            (void)poll(&p, 1, 1000);
            (void)!read(efd[1], &v, sizeof(v));
        }
        gs_mesh_sleep_end(mesh, 1);
        while (gs_mesh_recv(mesh, 1, out, 1) == 1) {
            lat[i++] = now_ns() - out[0].b;
            (void)gs_mesh_send(mesh, 1, 0, &out[0]); /* "done": lets the producer go on */
            (void)gs_mesh_flush(mesh, 1);
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    printf("%-22s p50 %7.0f ns  p90 %7.0f ns  p99 %7.0f ns  max %9.0f ns  (%zu samples)\n", name,
           (double)v[n / 2], (double)v[n * 9 / 10], (double)v[n * 99 / 100], (double)v[n - 1], n);
}

int main(int argc, char **argv)
{
    pthread_t c;
    gs_mbox_rec r;
    gs_mbox_rec back;
    uint64_t t0;
    uint64_t t1;
    uint64_t *busy;
    uint64_t *bell;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0) {
            nrecs = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--batch") == 0) {
            batch = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--samples") == 0) {
            nsamples = strtoull(argv[i + 1], NULL, 10);
        }
    }
    if (batch == 0 || nsamples == 0) {
        fprintf(stderr, "usage: bench_ring [--records N] [--batch B] [--samples S]\n");
        return 2;
    }
    busy = calloc(nsamples, sizeof(*busy));
    bell = calloc(nsamples, sizeof(*bell));
    efd[0] = eventfd(0, EFD_NONBLOCK);
    efd[1] = eventfd(0, EFD_NONBLOCK);
    if (busy == NULL || bell == NULL || gs_mesh_new(&mesh, 2, 4096, 1 << 16, NULL) < 0) {
        return 1;
    }
    gs_mesh_set_wake(mesh, 0, wake, &efd[0]);
    gs_mesh_set_wake(mesh, 1, wake, &efd[1]);
    pin(0);
    memset(&r, 0, sizeof(r));
    r.type = GS_MBOX_SEND;
    pthread_create(&c, NULL, consumer, bell);
    t0 = now_ns();
    for (size_t i = 0; i < nrecs; ++i) {
        r.b = i;
        while (gs_mesh_send(mesh, 0, 1, &r) < 0) {
            (void)gs_mesh_flush(mesh, 0);
        }
        if ((i + 1) % batch == 0) {
            (void)gs_mesh_flush(mesh, 0);
        }
    }
    while (gs_mesh_flush(mesh, 0)) {
    }
    /* the consumer finishing is observed by the first echo below */
    for (size_t i = 0; i < nsamples; ++i) {
        uint64_t s = now_ns();

        r.b = s;
        (void)gs_mesh_send(mesh, 0, 1, &r);
        (void)gs_mesh_flush(mesh, 0);
        while (gs_mesh_recv(mesh, 0, &back, 1) == 0) {
        }
        if (i == 0) {
            t1 = s;
            printf(
                "throughput             %.1f M records/s (%zu records of %zu bytes, publish every "
                "%zu)\n",
                (double)nrecs / ((double)(t1 - t0) / 1e9) / 1e6, nrecs, sizeof(gs_mbox_rec), batch);
        }
        busy[i] = (now_ns() - s) / 2;
    }
    report("one-way busy-poll", busy, nsamples);
    for (size_t i = 0; i < nsamples; ++i) {
        struct timespec ts = {0, 20000}; /* let the consumer fall asleep */

        nanosleep(&ts, NULL);
        r.b = now_ns();
        (void)gs_mesh_send(mesh, 0, 1, &r);
        (void)gs_mesh_flush(mesh, 0);
        while (gs_mesh_recv(mesh, 0, &back, 1) == 0) {
        }
    }
    pthread_join(c, NULL);
    report("one-way doorbell", bell, nsamples);
    {
        gs_mesh_stats st;

        gs_mesh_stats_get(mesh, 0, &st);
        printf("doorbells rung by the producer: %llu\n", (unsigned long long)st.wakes);
    }
    gs_mesh_del(mesh);
    free(busy);
    free(bell);
    return 0;
}
