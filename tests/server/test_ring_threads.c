/* SPDX-License-Identifier: MIT */
/*
 * test_ring_threads: two threads exchange records through the mesh, each publishing in batches
 * and sleeping on an eventfd doorbell when idle (the shard protocol: sleep_begin, re-check,
 * block).  Every record must arrive once and in order, no wake-up may be lost (a lost one hangs
 * the test: ctest's timeout fails it), and under TSan no race may be reported.
 */
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "frames.h"
#include "mailbox.h"

#define NRECS 200000

static gs_mesh *mesh;
static int efd[2];

static void wake(void *arg)
{
    uint64_t one = 1;

    (void)!write(*(int *)arg, &one, sizeof(one));
}

static void sleep_on(unsigned me)
{
    struct pollfd p = {.fd = efd[me], .events = POLLIN};
    uint64_t v;

    if (gs_mesh_sleep_begin(mesh, me)) {
        (void)poll(&p, 1, 5000);
        (void)!read(efd[me], &v, sizeof(v));
    }
    gs_mesh_sleep_end(mesh, me);
}

static void *producer(void *arg)
{
    gs_mbox_rec r;

    (void)arg;
    memset(&r, 0, sizeof(r));
    r.type = GS_MBOX_SEND;
    for (uint64_t i = 0; i < NRECS; ++i) {
        gs_frame *f = gs_frame_new(8);

        memcpy(f->data, &i, 8);
        r.b = i;
        r.ptr = f;
        while (gs_mesh_send(mesh, 0, 1, &r) < 0) {
            (void)gs_mesh_flush(mesh, 0);
            sleep_on(0); /* backlog full: wait for the consumer's acknowledgement doorbell */
        }
        if (i % 97 == 0) {
            (void)gs_mesh_flush(mesh, 0);
        }
    }
    while (gs_mesh_flush(mesh, 0)) {
        sleep_on(0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    gs_mbox_rec out[128];
    gs_mbox_rec ack;
    uint64_t next = 0;
    int *bad = arg;

    memset(&ack, 0, sizeof(ack));
    ack.type = GS_MBOX_USE;
    while (next < NRECS) {
        size_t n = gs_mesh_recv(mesh, 1, out, 128);

        if (n == 0) {
            sleep_on(1);
            continue;
        }
        for (size_t i = 0; i < n; ++i) {
            gs_frame *f = out[i].ptr;
            uint64_t v;

            memcpy(&v, f->data, 8);
            if (out[i].b != next || v != next) {
                (*bad)++;
            }
            gs_frame_unref(f);
            next++;
        }
        /* tell the producer there is room (it may sleep on a full backlog) */
        (void)gs_mesh_send(mesh, 1, 0, &ack);
        (void)gs_mesh_flush(mesh, 1);
    }
    return NULL;
}

int main(void)
{
    pthread_t p, c;
    int bad = 0;
    gs_mbox_rec out[64];

    efd[0] = eventfd(0, EFD_NONBLOCK);
    efd[1] = eventfd(0, EFD_NONBLOCK);
    CHECK(gs_mesh_new(&mesh, 2, 64, 256, NULL) == 0);
    gs_mesh_set_wake(mesh, 0, wake, &efd[0]);
    gs_mesh_set_wake(mesh, 1, wake, &efd[1]);
    CHECK(pthread_create(&c, NULL, consumer, &bad) == 0);
    CHECK(pthread_create(&p, NULL, producer, NULL) == 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    CHECK(bad == 0);
    while (gs_mesh_recv(mesh, 0, out, 64) > 0) {
    }
    CHECK(gs_frames_live() == 0);
    gs_mesh_del(mesh);
    close(efd[0]);
    close(efd[1]);
    CHECK_DONE();
}
