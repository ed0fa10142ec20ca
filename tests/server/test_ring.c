/* SPDX-License-Identifier: MIT */
/* test_ring: the SPSC ring, the mailbox mesh (backlog, refusal, doorbells), kmap, frames. */
#include <string.h>

#include "check.h"
#include "frames.h"
#include "kmap.h"
#include "mailbox.h"
#include "ring.h"

static void test_ring_basic(void)
{
    gs_ring r;
    uint64_t v;
    uint64_t out[16];
    gs_ring_stats st;

    CHECK(gs_ring_init(&r, 0, 8) == GS_ERR_INVAL);
    CHECK(gs_ring_init(&r, 5, 8) == 0);
    CHECK(gs_ring_capacity(&r) == 8);
    for (v = 0; v < 8; ++v) {
        CHECK(gs_ring_push(&r, &v));
    }
    v = 99;
    CHECK(!gs_ring_push(&r, &v)); /* full */
    CHECK(!gs_ring_pending(&r));  /* nothing published yet */
    CHECK(gs_ring_pop(&r, out, 16) == 0);
    CHECK(gs_ring_publish(&r) == 8);
    CHECK(gs_ring_publish(&r) == 0);
    CHECK(gs_ring_pending(&r));
    CHECK(gs_ring_pop(&r, out, 3) == 3);
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 2);
    /* wrap around: three slots are free again */
    for (v = 100; v < 103; ++v) {
        CHECK(gs_ring_push(&r, &v));
    }
    CHECK(!gs_ring_push(&r, &v));
    (void)gs_ring_publish(&r);
    CHECK(gs_ring_pop(&r, out, 16) == 8);
    CHECK(out[0] == 3 && out[4] == 7 && out[5] == 100 && out[7] == 102);
    gs_ring_stats_get(&r, &st);
    CHECK(st.pushed == 11 && st.popped == 11 && st.refused == 2);
    gs_ring_free(&r);
}

static int wakes;
static void wake_fn(void *arg)
{
    (void)arg;
    wakes++;
}

static int drops;
static void drop_fn(const gs_mbox_rec *r)
{
    gs_frame_unref(r->ptr);
    drops++;
}

static void test_mesh(void)
{
    gs_mesh *m;
    gs_mbox_rec r;
    gs_mbox_rec out[64];
    gs_mesh_stats st;
    size_t n;

    CHECK(gs_mesh_new(&m, 3, 4, 6, drop_fn) == 0);
    gs_mesh_set_wake(m, 1, wake_fn, NULL);
    memset(&r, 0, sizeof(r));
    r.type = GS_MBOX_USE;
    /* 4 fit in the ring, 6 in the backlog, the 11th is refused */
    for (uint64_t i = 0; i < 10; ++i) {
        r.b = i;
        CHECK(gs_mesh_send(m, 0, 1, &r) == 0);
    }
    r.b = 10;
    CHECK(gs_mesh_send(m, 0, 1, &r) == GS_ERR_LIMIT);
    gs_mesh_stats_get(m, 0, &st);
    CHECK(st.refused == 1 && st.backlogged == 6 && st.backlog == 6);
    /* receiver awake: no doorbell */
    CHECK(gs_mesh_flush(m, 0)); /* backlog left */
    CHECK(wakes == 0);
    /* receiver may sleep: records are pending, so it must not */
    CHECK(!gs_mesh_sleep_begin(m, 1));
    gs_mesh_sleep_end(m, 1);
    n = gs_mesh_recv(m, 1, out, 64);
    CHECK(n == 4);
    for (size_t i = 0; i < n; ++i) {
        CHECK(out[i].b == i && out[i].src == 0);
    }
    CHECK(gs_mesh_sleep_begin(m, 1)); /* empty: may sleep */
    CHECK(gs_mesh_flush(m, 0));       /* 4 more move from the backlog, 2 stay */
    CHECK(wakes == 1);                /* it was marked asleep */
    gs_mesh_sleep_end(m, 1);
    CHECK(!gs_mesh_flush(m, 0) || true);
    n = gs_mesh_recv(m, 1, out, 64);
    CHECK(n == 4 && out[0].b == 4 && out[3].b == 7);
    CHECK(!gs_mesh_flush(m, 0)); /* last 2 moved */
    n = gs_mesh_recv(m, 1, out, 64);
    CHECK(n == 2 && out[0].b == 8 && out[1].b == 9);
    CHECK(wakes == 1);
    /* undelivered records are dropped with their references at gs_mesh_del */
    r.type = GS_MBOX_SEND;
    r.ptr = gs_frame_new(10);
    CHECK(gs_mesh_send(m, 2, 0, &r) == 0);
    CHECK(gs_frames_live() == 1);
    gs_mesh_del(m);
    CHECK(drops == 1);
    CHECK(gs_frames_live() == 0);
}

/* control-plane records get through when data records are refused (larger backlog bound) */
static void test_mesh_ctl(void)
{
    gs_mesh *m;
    gs_mbox_rec r;
    gs_mbox_rec out[16];
    int ok = 0;

    CHECK(gs_mesh_new(&m, 2, 2, 2, NULL) == 0);
    memset(&r, 0, sizeof(r));
    r.type = GS_MBOX_SEND;
    for (int i = 0; i < 4; ++i) {
        CHECK(gs_mesh_send(m, 0, 1, &r) == 0); /* 2 in the ring, 2 in the backlog */
    }
    CHECK(gs_mesh_send(m, 0, 1, &r) == GS_ERR_LIMIT);
    r.type = GS_MBOX_PEER_UP;
    for (int i = 0; i < 100; ++i) {
        ok += gs_mesh_send_ctl(m, 0, 1, &r) == 0;
    }
    CHECK(ok == 100);
    CHECK(gs_mesh_send(m, 0, 1, &r) == GS_ERR_LIMIT); /* data still refused */
    /* order is kept: the 4 data records first, then the control ones */
    for (int round = 0; round < 60 && gs_mesh_flush(m, 0); ++round) {
        size_t n = gs_mesh_recv(m, 1, out, 16);

        for (size_t i = 0; i < n; ++i) {
            CHECK((out[i].type == GS_MBOX_SEND) == (round == 0 || (round == 1 && i < 2)));
        }
    }
    gs_mesh_del(m);
}

static void test_kmap(void)
{
    gs_kmap m;
    uint8_t k[40][32];
    int vals[40];
    size_t it = 0;
    size_t count = 0;

    CHECK(gs_kmap_init(&m, 32) == 0);
    CHECK(m.mask + 1 == 16); /* starts small, grows on insertion */
    for (int i = 0; i < 40; ++i) {
        memset(k[i], 0, 32);
        k[i][0] = (uint8_t)i; /* many keys share most bytes */
        vals[i] = i;
    }
    for (int i = 0; i < 32; ++i) {
        CHECK(gs_kmap_put(&m, k[i], &vals[i]) == 0);
    }
    CHECK(m.mask + 1 == 64); /* the size |max| needs at load <= 1/2, no more */
    CHECK(gs_kmap_put(&m, k[32], &vals[32]) == GS_ERR_LIMIT);
    CHECK(gs_kmap_put(&m, k[3], &vals[3]) == 0); /* replace is fine when full */
    for (int i = 0; i < 32; ++i) {
        CHECK(gs_kmap_get(&m, k[i]) == &vals[i]);
    }
    for (int i = 0; i < 32; i += 2) {
        CHECK(gs_kmap_del(&m, k[i]) == &vals[i]);
    }
    CHECK(gs_kmap_del(&m, k[0]) == NULL);
    for (int i = 0; i < 32; ++i) {
        CHECK(gs_kmap_get(&m, k[i]) == (i % 2 ? &vals[i] : NULL));
    }
    while (gs_kmap_next(&m, &it, NULL) != NULL) {
        count++;
    }
    CHECK(count == 16);
    it = 0;
    while (gs_kmap_next(&m, &it, NULL) != NULL) {
        gs_kmap_del_at(&m, &it);
    }
    CHECK(m.n == 0);
    gs_kmap_free(&m);
}

int main(void)
{
    test_ring_basic();
    test_mesh();
    test_mesh_ctl();
    test_kmap();
    CHECK_DONE();
}
