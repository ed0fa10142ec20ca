/* SPDX-License-Identifier: MIT */
/*
 * engine.c: one shard's loop, a gs_uring feeding a gs_quic_ep (see engine.h).
 *
 * Zero-copy transmit: gs_quic_ep_write writes its packets straight into the buffer of a free
 * io_uring send slot (one run per call), and that slot is committed as one GSO sendmsg.  A run
 * that could not be queued keeps its slot pending (|held|) and is committed before anything new
 * is written, so packets are never overwritten or reordered.
 *
 * Time: the clock is read once per turn, right after the wait (the turn's |now|), and once more
 * just before the wait, from which the wait is computed: computing it from the turn's |now| made
 * every timer (ACK delay, pacing, loss detection) fire late by the turn's processing time, and by
 * whatever time the thread spent preempted during the turn on a busy machine.
 *
 * Wait: min(max_wait, endpoint expiry, before_flush's deadline), and zero when the endpoint has
 * something to write unless the last flush ran out of send slots (then a send completion ends
 * the wait: sleeping on it instead of polling).
 */
#include "engine.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "gs_table.h"

struct gs_engine {
    const gs_mem *mem;
    gs_uring *u;
    gs_quic_ep *ep;
    gs_identity id;
    gs_uring_wake_cb *on_wake;
    void *wake_user_data;
    gs_tstamp now;
    atomic_bool stop;
    /* transmit */
    gs_quic_seg_run run;
    bool held; /* |held_si| describes a filled slot that still needs committing */
    gs_uring_sendinfo held_si;
    gs_udp_addr held_remote;
    gs_udp_addr held_local;
    size_t held_len;
    gs_engine_stats st;
    bool tx_stalled; /* the last flush found every send slot in flight */
    /* the turn hooks (engine.h) */
    gs_tstamp (*before_flush)(void *user_data, gs_engine *e, gs_tstamp now);
    void (*on_stray)(void *user_data, unsigned owner, const gs_udp_addr *local,
                     const gs_udp_addr *remote, const uint8_t *data, size_t len, uint8_t ecn);
    void *turn_user_data;
    gs_tstamp deadline; /* before_flush's latest answer */
    unsigned steer_nshards;
    uint8_t shard;
    /* the layer above's callbacks; the endpoint calls ours, which track connections */
    gs_quic_callbacks user_cb;
    /* live connection handles (dialed, or accepted and connected) for gs_engine_shutdown: a
     * gs_table from the 8-byte handle to its index in |handles| (a record array of max_conns
     * entries; free records are 0 and threaded through |free_idx|) */
    gs_table conns;
    gs_quic_conn_id *handles;
    uint32_t *free_idx;
    size_t nfree_idx;
    size_t handles_cap;
};

static void to_quic_addr(gs_quic_addr *q, const gs_udp_addr *a)
{
    memset(q, 0, sizeof(*q));
    memcpy(&q->u, &a->u, a->len <= sizeof(q->u) ? a->len : sizeof(q->u));
    q->len = a->len;
}

static void from_quic_addr(gs_udp_addr *a, const gs_quic_addr *q)
{
    memset(a, 0, sizeof(*a));
    memcpy(&a->u, &q->u, q->len <= sizeof(a->u) ? q->len : sizeof(a->u));
    a->len = q->len;
}

static const uint8_t *handle_key(const void *owner, uint32_t idx)
{
    const gs_engine *e = owner;
    return (const uint8_t *)&e->handles[idx];
}

static void conn_add(gs_engine *e, gs_quic_conn_id c)
{
    uint32_t idx;

    if (gs_table_find(&e->conns, (const uint8_t *)&c, &idx)) {
        return;
    }
    if (e->nfree_idx == 0) {
        ++e->st.untracked; /* above max_conns: cannot happen unless the endpoint's bound moved */
        return;
    }
    idx = e->free_idx[--e->nfree_idx];
    e->handles[idx] = c;
    if (gs_table_insert(&e->conns, (const uint8_t *)&c, idx) != 0) {
        e->handles[idx] = 0;
        e->free_idx[e->nfree_idx++] = idx;
        ++e->st.untracked;
    }
}

static void conn_remove(gs_engine *e, gs_quic_conn_id c)
{
    uint32_t idx;

    if (!gs_table_find(&e->conns, (const uint8_t *)&c, &idx)) {
        return;
    }
    (void)gs_table_remove(&e->conns, (const uint8_t *)&c);
    e->handles[idx] = 0;
    e->free_idx[e->nfree_idx++] = idx;
}

static void engine_on_connected(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                                gs_quic_dir dir)
{
    gs_engine *e = ud;

    conn_add(e, conn);
    if (e->user_cb.on_connected != NULL) {
        e->user_cb.on_connected(e->user_cb.user_data, conn, peer, dir);
    }
}

static void engine_on_frame(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                            const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len)
{
    gs_engine *e = ud;

    if (e->user_cb.on_frame != NULL) {
        e->user_cb.on_frame(e->user_cb.user_data, conn, peer, topic, body, len);
    }
}

static void engine_on_closed(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                             uint64_t app_error, const char *reason, bool was_send_path)
{
    gs_engine *e = ud;

    conn_remove(e, conn);
    if (e->user_cb.on_closed != NULL) {
        e->user_cb.on_closed(e->user_cb.user_data, conn, peer, rv, app_error, reason,
                             was_send_path);
    }
}

static void engine_on_writable(void *ud, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN])
{
    gs_engine *e = ud;

    if (e->user_cb.on_writable != NULL) {
        e->user_cb.on_writable(e->user_cb.user_data, conn, peer);
    }
}

/* engine_on_stray forwards a datagram naming shard |owner| when there is such a shard; others
 * (a client's Initial with an id it chose, garbage) go back to the endpoint. */
static bool engine_on_stray(void *ud, unsigned owner, const gs_quic_addr *local,
                            const gs_quic_addr *remote, const uint8_t *data, size_t len,
                            uint8_t ecn)
{
    gs_engine *e = ud;
    gs_udp_addr l;
    gs_udp_addr r;

    if (e->steer_nshards < 2 || owner >= e->steer_nshards || owner == e->shard) {
        return false;
    }
    if (e->on_stray == NULL) {
        ++e->st.strays_dropped;
        return false;
    }
    from_quic_addr(&l, local);
    from_quic_addr(&r, remote);
    ++e->st.strays_forwarded;
    e->on_stray(e->turn_user_data, owner, &l, &r, data, len, ecn);
    return true;
}

static void engine_on_recv(void *user_data, const gs_uring_dgram *dg)
{
    gs_engine *e = user_data;
    gs_quic_addr local;
    gs_quic_addr remote;
    const gs_udp_addr *bound = gs_uring_sock_local(e->u, dg->sock);

    /* The path's local address is the socket's own, or, on a wildcard bind, the destination
     * address from packet info (what a reply must come from). */
    if (dg->local->len != 0 && bound->len != 0 &&
        ((bound->u.sa.sa_family == AF_INET && bound->u.in4.sin_addr.s_addr == 0) ||
         (bound->u.sa.sa_family == AF_INET6 &&
          memcmp(&bound->u.in6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0))) {
        to_quic_addr(&local, dg->local);
    } else {
        to_quic_addr(&local, bound);
    }
    to_quic_addr(&remote, dg->remote);
    (void)gs_quic_ep_on_datagram(e->ep, &local, &remote, dg->data, dg->len, dg->ecn, e->now);
}

static void engine_on_wake(void *user_data)
{
    gs_engine *e = user_data;

    if (e->on_wake != NULL) {
        e->on_wake(e->wake_user_data);
    }
}

void gs_engine_cfg_default(gs_engine_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    gs_quic_cfg_default(&cfg->quic);
}

int gs_engine_new(gs_engine **pe, const gs_engine_cfg *cfg, const gs_identity *id,
                  const gs_mem *mem)
{
    gs_quic_callbacks cb;
    gs_uring_cfg ucfg;
    gs_engine *e;
    int rv;

    if (cfg->nlisten == 0 || cfg->nlisten > GS_URING_MAX_SOCKS || cfg->quic.max_conns == 0 ||
        cfg->quic.max_conns > (1u << 24)) {
        return GS_ERR_INVAL;
    }
    if (sodium_init() < 0) {
        return GS_ERR_INTERNAL;
    }
    e = gs_mem_calloc(mem, 1, sizeof(*e));
    if (e == NULL) {
        return GS_ERR_NOMEM;
    }
    e->mem = mem;
    e->id = *id;
    e->on_wake = cfg->on_wake;
    e->wake_user_data = cfg->wake_user_data;
    e->before_flush = cfg->before_flush;
    e->on_stray = cfg->on_stray;
    e->turn_user_data = cfg->turn_user_data;
    e->deadline = GS_TSTAMP_NEVER;
    e->steer_nshards = cfg->steer_nshards;
    e->shard = cfg->quic.shard;
    atomic_init(&e->stop, false);
    memset(&ucfg, 0, sizeof(ucfg));
    ucfg.nrecv_bufs = cfg->nrecv_bufs;
    ucfg.nsend_slots = cfg->nsend_slots;
    ucfg.flags = cfg->uring_flags;
    ucfg.on_recv = engine_on_recv;
    ucfg.on_wake = engine_on_wake;
    ucfg.user_data = e;
    rv = gs_uring_new(&e->u, &ucfg, mem);
    if (rv != 0) {
        goto fail_uring;
    }
    for (size_t i = 0; i < cfg->nlisten; ++i) {
        uint32_t sock;

        rv = gs_uring_add_udp(e->u, &cfg->listen[i], &sock);
        if (rv != 0) {
            goto fail_ep;
        }
        if (cfg->steer_nshards >= 2) {
            rv = gs_udp_attach_steering(gs_uring_sock_fd(e->u, sock), cfg->steer_nshards);
            if (rv != 0) {
                goto fail_ep;
            }
        }
    }
    e->handles_cap = cfg->quic.max_conns;
    e->handles = gs_mem_calloc(mem, e->handles_cap, sizeof(e->handles[0]));
    e->free_idx = gs_mem_calloc(mem, e->handles_cap, sizeof(e->free_idx[0]));
    if (e->handles == NULL || e->free_idx == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_handles;
    }
    for (size_t i = 0; i < e->handles_cap; ++i) {
        e->free_idx[i] = (uint32_t)(e->handles_cap - 1 - i);
    }
    e->nfree_idx = e->handles_cap;
    uint64_t seed;
    randombytes_buf(&seed, sizeof(seed));
    rv = gs_table_init(&e->conns, sizeof(gs_quic_conn_id), e->handles_cap, e->handles_cap, seed,
                       handle_key, e, mem);
    if (rv != 0) {
        goto fail_handles;
    }
    e->user_cb = cfg->cb;
    cb.user_data = e;
    cb.on_connected = engine_on_connected;
    cb.on_frame = engine_on_frame;
    cb.on_closed = engine_on_closed;
    cb.on_writable = engine_on_writable;
    cb.on_stray = engine_on_stray;
    rv = gs_quic_ep_new(&e->ep, &cfg->quic, id, &cb, mem);
    if (rv != 0) {
        goto fail_conns;
    }
    e->now = gs_uring_now();
    *pe = e;
    return 0;

fail_conns:
    gs_table_free(&e->conns);
fail_handles:
    if (e->handles != NULL) {
        gs_mem_free(mem, e->handles);
    }
    if (e->free_idx != NULL) {
        gs_mem_free(mem, e->free_idx);
    }
fail_ep:
    gs_uring_del(e->u);
fail_uring:
    gs_identity_wipe(&e->id);
    gs_mem_free(mem, e);
    return rv;
}

void gs_engine_del(gs_engine *e)
{
    if (e == NULL) {
        return;
    }
    gs_quic_ep_del(e->ep);
    gs_uring_del(e->u);
    gs_table_free(&e->conns);
    gs_mem_free(e->mem, e->handles);
    gs_mem_free(e->mem, e->free_idx);
    gs_identity_wipe(&e->id);
    gs_mem_free(e->mem, e);
}

int gs_engine_parse_peer(const char *spec, uint8_t id[GS_ID_LEN], gs_udp_addr *addr)
{
    const char *at = strchr(spec, '@');
    int rv;

    if (at == NULL || at == spec) {
        return GS_ERR_INVAL;
    }
    rv = gs_id_parse(id, spec, (size_t)(at - spec));
    if (rv != 0) {
        return rv;
    }
    return gs_udp_addr_parse(addr, at + 1);
}

/* route_source finds the local address the kernel would use to reach |remote| (a connected UDP
 * socket sends nothing), so a dial from a wildcard-bound socket names a concrete path. */
static int route_source(const gs_udp_addr *remote, gs_udp_addr *src)
{
    int fd = socket(remote->u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rv = 0;

    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, &remote->u.sa, remote->len) != 0) {
        rv = -errno;
    } else {
        rv = gs_udp_socket_local(fd, src);
    }
    (void)close(fd);
    return rv;
}

static bool is_wildcard(const gs_udp_addr *a)
{
    if (a->u.sa.sa_family == AF_INET) {
        return a->u.in4.sin_addr.s_addr == 0;
    }
    return memcmp(&a->u.in6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

int gs_engine_connect(gs_engine *e, const uint8_t id[GS_ID_LEN], const gs_udp_addr *addr,
                      gs_quic_conn_id *pconn)
{
    gs_quic_conn_id conn = 0;
    gs_quic_addr local;
    gs_quic_addr remote;
    gs_udp_addr src;
    uint32_t n = gs_uring_nsocks(e->u);
    int rv;

    for (uint32_t i = 0; i < n; ++i) {
        const gs_udp_addr *b = gs_uring_sock_local(e->u, i);

        if (b->u.sa.sa_family != addr->u.sa.sa_family) {
            continue;
        }
        src = *b;
        if (is_wildcard(b)) {
            rv = route_source(addr, &src);
            if (rv != 0) {
                return rv;
            }
            if (src.u.sa.sa_family == AF_INET) {
                src.u.in4.sin_port = b->u.in4.sin_port;
            } else {
                src.u.in6.sin6_port = b->u.in6.sin6_port;
            }
        }
        to_quic_addr(&local, &src);
        to_quic_addr(&remote, addr);
        rv = gs_quic_ep_connect(e->ep, id, &local, &remote, e->now, &conn);
        if (rv == 0) {
            conn_add(e, conn); /* on_closed is reported for every dial, so it leaves again */
            if (pconn != NULL) {
                *pconn = conn;
            }
        }
        return rv;
    }
    return GS_ERR_INVAL;
}

int gs_engine_connect_str(gs_engine *e, const char *spec, gs_quic_conn_id *pconn)
{
    uint8_t id[GS_ID_LEN];
    gs_udp_addr addr;
    int rv = gs_engine_parse_peer(spec, id, &addr);

    if (rv != 0) {
        return rv;
    }
    return gs_engine_connect(e, id, &addr, pconn);
}

int gs_engine_send_frame(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                         const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame, size_t len)
{
    return gs_quic_ep_send_frame(e->ep, peer, topic, frame, len);
}

int gs_engine_send_frame_cls(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                             size_t len, gs_quic_send_class cls)
{
    return gs_quic_ep_send_frame_cls(e->ep, peer, topic, frame, len, cls);
}

int gs_engine_send_frame_ref(gs_engine *e, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                             size_t len, gs_quic_send_class cls, void (*release)(void *arg),
                             void *arg)
{
    return gs_quic_ep_send_frame_ref(e->ep, peer, topic, frame, len, cls, release, arg);
}

gs_tstamp gs_engine_peer_behind_since(const gs_engine *e, const uint8_t peer[GS_ID_LEN])
{
    return gs_quic_ep_peer_behind_since(e->ep, peer);
}

int gs_engine_inject_datagram(gs_engine *e, const gs_udp_addr *local, const gs_udp_addr *remote,
                              const uint8_t *data, size_t len, uint8_t ecn)
{
    gs_quic_addr l;
    gs_quic_addr r;

    if (e == NULL || local == NULL || remote == NULL || (data == NULL && len > 0) ||
        local->u.sa.sa_family != remote->u.sa.sa_family) {
        return GS_ERR_INVAL;
    }
    to_quic_addr(&l, local);
    to_quic_addr(&r, remote);
    ++e->st.injected;
    return gs_quic_ep_on_datagram(e->ep, &l, &r, data, len, ecn, e->now);
}

int gs_engine_close(gs_engine *e, gs_quic_conn_id conn, uint64_t app_error, const char *reason)
{
    return gs_quic_ep_close(e->ep, conn, app_error, reason);
}

size_t gs_engine_num_conns(const gs_engine *e)
{
    return gs_table_size(&e->conns);
}

int gs_engine_shutdown(gs_engine *e, uint64_t app_error, const char *reason, gs_duration timeout)
{
    gs_tstamp end;
    int rv = 0;

    /* Closing only queues work (the endpoint's close is safe to call in any order), but a
     * close's on_closed runs inside a later turn and edits the set: collect first. */
    for (size_t i = 0; i < e->handles_cap; ++i) {
        if (e->handles[i] != 0) {
            (void)gs_quic_ep_close(e->ep, e->handles[i], app_error, reason);
        }
    }
    e->now = gs_uring_now();
    end = gs_tstamp_add(e->now, timeout);
    while (gs_table_size(&e->conns) != 0 || gs_uring_send_inflight(e->u) != 0) {
        if (e->now >= end) {
            return GS_ERR_TIMEOUT;
        }
        gs_duration left = end - e->now;
        rv = gs_engine_run_once(e, left < 10 * GS_MILLISECONDS ? left : 10 * GS_MILLISECONDS);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* sock_for finds the socket whose bound address serves |local| (same family and port). */
static uint32_t sock_for(gs_engine *e, const gs_udp_addr *local)
{
    uint32_t n = gs_uring_nsocks(e->u);

    for (uint32_t i = 0; i < n; ++i) {
        const gs_udp_addr *b = gs_uring_sock_local(e->u, i);

        if (b->u.sa.sa_family == local->u.sa.sa_family &&
            gs_udp_addr_port(b) == gs_udp_addr_port(local)) {
            return i;
        }
    }
    for (uint32_t i = 0; i < n; ++i) {
        if (gs_uring_sock_local(e->u, i)->u.sa.sa_family == local->u.sa.sa_family) {
            ++e->st.no_socket;
            return i;
        }
    }
    ++e->st.no_socket;
    return 0;
}

/* commit_held queues the filled slot described by e->held_*.  Returns 0 or GS_ERR_AGAIN. */
static int commit_held(gs_engine *e)
{
    int rv = gs_uring_send_commit(e->u, &e->held_si, e->held_len);

    if (rv == GS_ERR_AGAIN) {
        return rv; /* no SQE: keep the slot and try again next turn */
    }
    if (rv != 0) {
        ++e->st.tx_errors;
    }
    e->held = false;
    return 0;
}

/* flush drains the endpoint into send slots until it has nothing left or the pool is empty. */
static void flush(gs_engine *e)
{
    size_t max_segs = gs_uring_gso_max_segs(e->u);

    e->tx_stalled = false;
    if (e->held && commit_held(e) != 0) {
        return;
    }
    for (;;) {
        gs_quic_txbuf tx;
        gs_ssize n;
        size_t cap;
        uint8_t *buf = gs_uring_send_begin(e->u, &cap);

        if (buf == NULL) {
            ++e->st.tx_blocked;
            e->tx_stalled = true;
            return;
        }
        memset(&tx, 0, sizeof(tx));
        tx.buf = buf;
        tx.cap = cap;
        tx.runs = &e->run;
        tx.maxruns = 1;
        tx.max_segs = max_segs;
        n = gs_quic_ep_write(e->ep, e->now, &tx);
        if (n < 0) {
            ++e->st.write_errors;
            return;
        }
        if (tx.nruns == 0) {
            return; /* the slot stays ours for the next send_begin */
        }
        ++e->st.writes;
        from_quic_addr(&e->held_remote, &e->run.remote);
        from_quic_addr(&e->held_local, &e->run.local);
        memset(&e->held_si, 0, sizeof(e->held_si));
        e->held_si.sock = sock_for(e, &e->held_local);
        e->held_si.remote = &e->held_remote;
        e->held_si.local = e->held_local.len != 0 ? &e->held_local : NULL;
        e->held_si.segsize = e->run.nsegs > 1 ? e->run.segsize : 0;
        e->held_si.ecn = e->run.ecn;
        if (e->run.off != 0) {
            /* One run per call always starts at the buffer's start; anything else is a broken
             * contract: drop it rather than send garbage. */
            ++e->st.tx_errors;
            continue;
        }
        e->held_len = e->run.len;
        e->held = true;
        if (commit_held(e) != 0) {
            return;
        }
    }
}

int gs_engine_run_once(gs_engine *e, gs_duration max_wait)
{
    gs_tstamp expiry = gs_quic_ep_get_expiry(e->ep);
    gs_duration wait = max_wait;
    int rv;

    if (e->deadline < expiry) {
        expiry = e->deadline;
    }
    if (expiry <= e->now) {
        wait = 0;
    } else {
        gs_tstamp t = gs_uring_now(); /* the turn took time: measure the wait from now */
        if (expiry <= t) {
            wait = 0;
        } else if (expiry - t < wait) {
            wait = expiry - t;
        }
    }
    if (wait > 0 && (e->held || (!e->tx_stalled && gs_quic_ep_want_write(e->ep)))) {
        ++e->st.busy_turns;
        wait = 0;
    }
    if (atomic_load_explicit(&e->stop, memory_order_relaxed)) {
        wait = 0;
    }
    ++e->st.turns;
    rv = gs_uring_wait(e->u, wait);
    if (rv != 0) {
        return rv;
    }
    e->now = gs_uring_now();
    (void)gs_uring_reap(e->u);
    if (gs_quic_ep_get_expiry(e->ep) <= e->now) {
        ++e->st.expiries;
        (void)gs_quic_ep_handle_expiry(e->ep, e->now);
    }
    if (e->before_flush != NULL) {
        e->deadline = e->before_flush(e->turn_user_data, e, e->now);
    }
    flush(e);
    return 0;
}

int gs_engine_run(gs_engine *e)
{
    while (!atomic_load_explicit(&e->stop, memory_order_acquire)) {
        int rv = gs_engine_run_once(e, GS_SECONDS);

        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

void gs_engine_stop(gs_engine *e)
{
    atomic_store_explicit(&e->stop, true, memory_order_release);
    (void)gs_uring_wake(e->u);
}

bool gs_engine_stopping(const gs_engine *e)
{
    return atomic_load_explicit(&e->stop, memory_order_acquire);
}

int gs_engine_wake(gs_engine *e)
{
    return gs_uring_wake(e->u);
}

gs_tstamp gs_engine_now(const gs_engine *e)
{
    return e->now;
}

const gs_udp_addr *gs_engine_local(const gs_engine *e, size_t i)
{
    return i < gs_uring_nsocks(e->u) ? gs_uring_sock_local(e->u, (uint32_t)i) : NULL;
}

const uint8_t *gs_engine_id(const gs_engine *e)
{
    return e->id.pk;
}

gs_quic_ep *gs_engine_quic(gs_engine *e)
{
    return e->ep;
}

gs_uring *gs_engine_uring(gs_engine *e)
{
    return e->u;
}

const gs_engine_stats *gs_engine_stats_get(const gs_engine *e)
{
    return &e->st;
}
