/* SPDX-License-Identifier: MIT */
/*
 * test_quic_net.h: an in-memory network for QUIC endpoint tests.  Endpoints exchange datagrams
 * through function calls with a fixed one-way latency and virtual time, so tests are fast and
 * deterministic in their control flow (keys and connection ids are still random).
 */
#ifndef GS_TESTS_IO_TEST_QUIC_NET_H
#define GS_TESTS_IO_TEST_QUIC_NET_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "quic.h"

#define TNET_MAX_NODES 8
#define TNET_QUEUE     65536
#define TNET_LATENCY   (5 * GS_MILLISECONDS)

typedef struct tclosed {
    gs_quic_conn_id conn;
    int rv;
    uint64_t app_error;
    bool was_send_path;
    char reason[128];
} tclosed;

typedef struct tnode {
    gs_quic_ep *ep;
    gs_identity id;
    gs_quic_addr addr;
    /* events */
    size_t nconnected;
    gs_quic_conn_id last_conn;
    uint8_t last_peer[GS_ID_LEN];
    gs_quic_dir last_dir;
    size_t nclosed;
    tclosed closed[16];
    size_t nwritable;
    size_t nframes;
    size_t frame_bytes;
    /* optional per-test hook for frames */
    void (*on_frame)(struct tnode *n, gs_quic_conn_id conn, const uint8_t *topic,
                     const uint8_t *body, size_t len);
    void *user;
} tnode;

typedef struct tpkt {
    gs_tstamp at;
    gs_quic_addr src;
    gs_quic_addr dst;
    uint16_t len;
    uint8_t data[GS_QUIC_MAX_PACKET];
} tpkt;

typedef struct tnet {
    tnode nodes[TNET_MAX_NODES];
    size_t nnodes;
    gs_tstamp now;
    tpkt *q; /* FIFO ring (constant latency keeps it ordered by time) */
    size_t qhead;
    size_t qlen;
    /* filter: return false to drop a datagram */
    bool (*filter)(struct tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                   const uint8_t *data, size_t len);
    void *filter_user;
    uint64_t delivered;
    uint64_t dropped;
    size_t maxruns;      /* runs per gs_quic_ep_write batch (0: 16) */
    gs_duration latency; /* one-way latency (0: TNET_LATENCY) */
} tnet;

static inline void tnet_addr(gs_quic_addr *a, uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    gs_quic_addr_set(a, (const struct sockaddr *)&sin, sizeof(sin));
}

static void tnet_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                              gs_quic_dir dir)
{
    tnode *n = ud;
    ++n->nconnected;
    n->last_conn = conn;
    memcpy(n->last_peer, peer, GS_ID_LEN);
    n->last_dir = dir;
}

static void tnet_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                          const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    (void)peer;
    tnode *n = ud;
    ++n->nframes;
    n->frame_bytes += len;
    if (n->on_frame != NULL) {
        n->on_frame(n, conn, topic, body, len);
    }
}

static void tnet_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                           uint64_t app_error, const char *reason, bool was_send_path)
{
    (void)peer;
    tnode *n = ud;
    if (n->nclosed < 16) {
        tclosed *c = &n->closed[n->nclosed];
        c->conn = conn;
        c->rv = rv;
        c->app_error = app_error;
        c->was_send_path = was_send_path;
        strncpy(c->reason, reason, sizeof(c->reason) - 1);
        c->reason[sizeof(c->reason) - 1] = '\0';
    }
    ++n->nclosed;
}

static void tnet_on_writable(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN])
{
    (void)conn;
    (void)peer;
    tnode *n = ud;
    ++n->nwritable;
}

static inline void tnet_init(tnet *net)
{
    memset(net, 0, sizeof(*net));
    net->q = calloc(TNET_QUEUE, sizeof(tpkt));
    net->now = 1000 * GS_SECONDS;
}

/* tnet_add creates an endpoint with identity seed byte |seed| at 127.0.0.1:|port|. */
static inline tnode *tnet_add(tnet *net, uint8_t seed, uint16_t port, const gs_quic_cfg *cfg)
{
    tnode *n = &net->nodes[net->nnodes++];
    uint8_t s[GS_ID_SEED_LEN];
    gs_quic_callbacks cb;

    memset(s, seed, sizeof(s));
    gs_identity_from_seed(&n->id, s);
    tnet_addr(&n->addr, port);
    memset(&cb, 0, sizeof(cb));
    cb.user_data = n;
    cb.on_connected = tnet_on_connected;
    cb.on_frame = tnet_on_frame;
    cb.on_closed = tnet_on_closed;
    cb.on_writable = tnet_on_writable;
    if (gs_quic_ep_new(&n->ep, cfg, &n->id, &cb, gs_mem_default()) != 0) {
        abort();
    }
    return n;
}

static inline void tnet_free(tnet *net)
{
    for (size_t i = 0; i < net->nnodes; ++i) {
        gs_quic_ep_del(net->nodes[i].ep);
    }
    free(net->q);
}

static inline tnode *tnet_node_at(tnet *net, const gs_quic_addr *a)
{
    for (size_t i = 0; i < net->nnodes; ++i) {
        if (net->nodes[i].ep != NULL && net->nodes[i].addr.len == a->len &&
            memcmp(&net->nodes[i].addr.u, &a->u, a->len) == 0) {
            return &net->nodes[i];
        }
    }
    return NULL;
}

static inline void tnet_enqueue(tnet *net, const gs_quic_addr *src, const gs_quic_addr *dst,
                                const uint8_t *data, size_t len)
{
    if (net->filter != NULL && !net->filter(net, src, dst, data, len)) {
        ++net->dropped;
        return;
    }
    if (net->qlen == TNET_QUEUE || len > GS_QUIC_MAX_PACKET) {
        ++net->dropped;
        return;
    }
    tpkt *p = &net->q[(net->qhead + net->qlen) % TNET_QUEUE];
    ++net->qlen;
    p->at = net->now + (net->latency != 0 ? net->latency : TNET_LATENCY);
    p->src = *src;
    p->dst = *dst;
    p->len = (uint16_t)len;
    memcpy(p->data, data, len);
}

/* tnet_drain_node moves everything |n| wants to send into the queue; returns packets. */
static inline size_t tnet_drain_node(tnet *net, tnode *n)
{
    static uint8_t buf[65536 * 4];
    gs_quic_seg_run runs[16];
    size_t npkts = 0;

    for (;;) {
        gs_quic_txbuf tx = {buf, sizeof(buf), 0, runs, net->maxruns != 0 ? net->maxruns : 16,
                            0,   64};
        gs_ssize w = gs_quic_ep_write(n->ep, net->now, &tx);
        if (w <= 0) {
            break;
        }
        for (size_t r = 0; r < tx.nruns; ++r) {
            const gs_quic_seg_run *run = &tx.runs[r];
            for (size_t off = 0; off < run->len; off += run->segsize) {
                size_t seg = run->len - off < run->segsize ? run->len - off : run->segsize;
                tnet_enqueue(net, &run->local, &run->remote, buf + run->off + off, seg);
                ++npkts;
            }
        }
    }
    return npkts;
}

/* tnet_step delivers what is due, runs due timers, drains writers; returns false if idle. */
static inline bool tnet_step(tnet *net, gs_tstamp until)
{
    size_t work = 0;
    for (size_t i = 0; i < net->nnodes; ++i) {
        if (net->nodes[i].ep != NULL) {
            work += tnet_drain_node(net, &net->nodes[i]);
        }
    }
    gs_tstamp next = GS_TSTAMP_NEVER;
    if (net->qlen > 0) {
        next = net->q[net->qhead].at;
    }
    for (size_t i = 0; i < net->nnodes; ++i) {
        if (net->nodes[i].ep != NULL) {
            gs_tstamp e = gs_quic_ep_get_expiry(net->nodes[i].ep);
            if (e < next) {
                next = e;
            }
        }
    }
    if (next == GS_TSTAMP_NEVER || next > until) {
        if (until > net->now && until != GS_TSTAMP_NEVER) {
            net->now = until;
        }
        return work > 0;
    }
    if (next > net->now) {
        net->now = next;
    }
    while (net->qlen > 0 && net->q[net->qhead].at <= net->now) {
        tpkt *p = &net->q[net->qhead];
        net->qhead = (net->qhead + 1) % TNET_QUEUE;
        --net->qlen;
        tnode *dst = tnet_node_at(net, &p->dst);
        if (dst != NULL) {
            gs_quic_ep_on_datagram(dst->ep, &p->dst, &p->src, p->data, p->len, 0, net->now);
            ++net->delivered;
        }
    }
    for (size_t i = 0; i < net->nnodes; ++i) {
        if (net->nodes[i].ep != NULL && gs_quic_ep_get_expiry(net->nodes[i].ep) <= net->now) {
            gs_quic_ep_handle_expiry(net->nodes[i].ep, net->now);
        }
    }
    return true;
}

/* tnet_run advances until |cond| holds or virtual time passes |until|; returns cond's value. */
static inline bool tnet_run(tnet *net, gs_duration limit, bool (*cond)(tnet *net, void *arg),
                            void *arg)
{
    gs_tstamp until = net->now + limit;
    for (size_t guard = 0; guard < 50000000; ++guard) {
        if (cond != NULL && cond(net, arg)) {
            return true;
        }
        if (net->now >= until) {
            break;
        }
        if (!tnet_step(net, until) && net->now >= until) {
            break;
        }
    }
    return cond != NULL ? cond(net, arg) : true;
}

#endif /* GS_TESTS_IO_TEST_QUIC_NET_H */
