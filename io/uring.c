/* SPDX-License-Identifier: MIT */
/*
 * uring.c: the io_uring UDP engine (see uring.h).
 *
 * Invariants:
 * - Each socket has at most one multishot recvmsg in flight (|armed|); a CQE without
 *   IORING_CQE_F_MORE ends it and the same reap pass queues a new one.
 * - Every receive buffer handed to us by the kernel is given back to the buffer ring in the reap
 *   pass that saw it; the ring tail is published once per pass.
 * - A send slot is either on the free list or owned by one sendmsg in flight (or by the caller
 *   between gs_uring_send_begin and gs_uring_send_commit); its generation is bumped on reuse.
 * - user_data follows user_data.h.
 */
#include "uring.h"

#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <netinet/udp.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "user_data.h"

#define URING_DEF_SQ      512u
#define URING_DEF_NBUFS   128u
#define URING_DEF_NSLOTS  64u
#define URING_BGID        0
#define URING_SLOT_STRIDE 65536u
#define URING_MAX_TRIES   4u
#define URING_NO_SLOT     UINT32_MAX
/* Receive headroom per buffer: io_uring_recvmsg_out, the source address and the cmsgs.  The
 * kernel lays the cmsgs out right after |msg_namelen| bytes of name, so the name space is rounded
 * up to 8 (sockaddr_in6 is 28) to keep every cmsghdr aligned. */
#define URING_RECV_NAMELEN  ((socklen_t)32)
#define URING_RECV_CTRLLEN  128u
#define URING_RECV_OVERHEAD (sizeof(struct io_uring_recvmsg_out) + 32u + URING_RECV_CTRLLEN)
/* Consecutive failed receive completions (other than -ENOBUFS) before a socket stops re-arming:
 * a kernel that rejects multishot recvmsg would otherwise spin. */
#define URING_RECV_MAX_FAILS 64u

typedef struct uring_sock {
    int fd;
    bool gro;
    bool armed;
    bool wildcard; /* bound to 0.0.0.0 / :: : sends may carry a source address */
    uint32_t fails;
    gs_udp_addr local;
    struct msghdr rmsg; /* template for the multishot recvmsg (namelen, controllen) */
} uring_sock;

typedef union uring_ctl {
    size_t align; /* cmsghdr alignment (cmsghdr itself ends in a flexible array) */
    /* UDP_SEGMENT (16) + TOS/TCLASS (16) + in6_pktinfo (40) = 72 bytes on LP64; a literal,
     * because clang does not take CMSG_SPACE as a constant expression. */
    uint8_t buf[128];
} uring_ctl;

typedef struct uring_slot {
    struct msghdr msg;
    struct iovec iov;
    gs_udp_addr dst;
    uring_ctl ctl;
    uint8_t *data;
    size_t len;
    size_t ndgrams;
    uint32_t gen;
    uint32_t next_free;
    uint32_t sock;
    uint8_t tries;
} uring_slot;

struct gs_uring {
    struct io_uring ring;
    const gs_mem *mem;
    gs_uring_cfg cfg;
    uint32_t setup;
    bool started;
    bool gso;
    uring_sock socks[GS_URING_MAX_SOCKS];
    uint32_t nsocks;
    /* provided buffers */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *rbufs;
    size_t rbufs_bytes;
    unsigned br_mask;
    /* send pool */
    uring_slot *slots;
    uint8_t *sbufs;
    size_t sbufs_bytes;
    uint32_t free_head;
    uint32_t ninflight;
    uint32_t pending; /* slot handed out by send_begin, URING_NO_SLOT if none */
    /* doorbell */
    int efd;
    uint64_t efd_val;
    /* Doorbell without a syscall when the owner is awake (Dekker-style, both sides seq_cst): the
     * ringer sets |rung| and writes the eventfd only if |sleeping|; the owner sets |sleeping|
     * and does not sleep if |rung|.  One of the two always sees the other's store. */
    atomic_int rung;
    atomic_int sleeping;
    /* watched descriptor (gs_uring_watch): -1 if none; |watch_ready| set by its completions */
    int watch_fd;
    bool watch_ready;
    gs_uring_stats st;
};

gs_tstamp gs_uring_now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gs_tstamp)ts.tv_sec * GS_SECONDS + (gs_tstamp)ts.tv_nsec;
}

/* get_sqe returns a free SQE, flushing the SQ to the kernel once if it is full. */
static struct io_uring_sqe *get_sqe(gs_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (sqe == NULL && u->started) {
        (void)io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

static int ring_setup(gs_uring *u, unsigned sq, unsigned cq)
{
    /* Tried in order: each retry drops the newest flag the kernel might not know. */
    static const uint32_t tries[] = {
        /* SINGLE_ISSUER: only the owning thread submits, so the kernel skips submit-side
         * locking and may assume task affinity.  DEFER_TASKRUN: completion work runs only when we
         * ask for events, in our thread, batched per turn instead of interrupting us.
         * R_DISABLED: lets the ring be created on one thread and bound (enabled) on the thread
         * that runs it, which SINGLE_ISSUER requires. */
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED,
        0,
    };
    int rv = -EINVAL;

    size_t first = (u->cfg.flags & GS_URING_FLAG_PLAIN_RING) != 0 ? 2 : 0;

    for (size_t i = first; i < sizeof(tries) / sizeof(tries[0]); ++i) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        /* CQSIZE: a large completion queue so bursts of receive and send completions (one per
         * datagram buffer) never overflow into the kernel's slow overflow list. */
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        rv = io_uring_queue_init_params(sq, &u->ring, &p);
        if (rv == 0) {
            u->setup = 0;
            if (tries[i] & IORING_SETUP_SINGLE_ISSUER) {
                u->setup |= GS_URING_SETUP_SINGLE_ISSUER;
            }
            if (tries[i] & IORING_SETUP_DEFER_TASKRUN) {
                u->setup |= GS_URING_SETUP_DEFER_TASKRUN;
            }
            if (tries[i] & IORING_SETUP_R_DISABLED) {
                u->setup |= GS_URING_SETUP_R_DISABLED;
            }
            if ((p.features & IORING_FEAT_EXT_ARG) == 0) {
                /* Without EXT_ARG the wait timeout would cost an SQE per turn; we require it. */
                io_uring_queue_exit(&u->ring);
                return GS_ERR_UNSUPPORTED;
            }
            return 0;
        }
        if (rv != -EINVAL) {
            break;
        }
    }
    return rv == -ENOSYS || rv == -EPERM ? GS_ERR_UNSUPPORTED : rv;
}

static void *map_anon(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static int bufring_setup(gs_uring *u)
{
    struct io_uring_buf_reg reg;
    unsigned n = u->cfg.nrecv_bufs;
    int rv;

    u->br_bytes = (size_t)n * sizeof(struct io_uring_buf);
    u->br = map_anon(u->br_bytes);
    if (u->br == NULL) {
        return GS_ERR_NOMEM;
    }
    u->rbufs_bytes = (size_t)n * u->cfg.recv_buf_size;
    u->rbufs = map_anon(u->rbufs_bytes);
    if (u->rbufs == NULL) {
        rv = GS_ERR_NOMEM;
        goto fail_rbufs;
    }
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = n;
    reg.bgid = URING_BGID;
    rv = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rv != 0) {
        rv = rv == -EINVAL ? GS_ERR_UNSUPPORTED : rv;
        goto fail_reg;
    }
    io_uring_buf_ring_init(u->br);
    u->br_mask = (unsigned)io_uring_buf_ring_mask(n);
    for (unsigned i = 0; i < n; ++i) {
        io_uring_buf_ring_add(u->br, u->rbufs + (size_t)i * u->cfg.recv_buf_size,
                              u->cfg.recv_buf_size, (unsigned short)i, (int)u->br_mask, (int)i);
    }
    io_uring_buf_ring_advance(u->br, (int)n);
    return 0;

fail_reg:
    (void)munmap(u->rbufs, u->rbufs_bytes);
fail_rbufs:
    (void)munmap(u->br, u->br_bytes);
    return rv;
}

static int sendpool_setup(gs_uring *u)
{
    unsigned n = u->cfg.nsend_slots;

    u->slots = gs_mem_calloc(u->mem, n, sizeof(*u->slots));
    if (u->slots == NULL) {
        return GS_ERR_NOMEM;
    }
    u->sbufs_bytes = (size_t)n * URING_SLOT_STRIDE;
    u->sbufs = map_anon(u->sbufs_bytes);
    if (u->sbufs == NULL) {
        gs_mem_free(u->mem, u->slots);
        return GS_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; ++i) {
        u->slots[i].data = u->sbufs + (size_t)i * URING_SLOT_STRIDE;
        u->slots[i].next_free = i + 1 < n ? i + 1 : URING_NO_SLOT;
    }
    u->free_head = 0;
    u->pending = URING_NO_SLOT;
    return 0;
}

static int arm_watch(gs_uring *u)
{
    struct io_uring_sqe *sqe = get_sqe(u);

    if (sqe == NULL) {
        return GS_ERR_AGAIN;
    }
    io_uring_prep_poll_multishot(sqe, u->watch_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, GS_UD_MAKE(GS_UD_OP_WATCH, 0, 0));
    return 0;
}

static int arm_doorbell(gs_uring *u)
{
    struct io_uring_sqe *sqe = get_sqe(u);

    if (sqe == NULL) {
        return GS_ERR_AGAIN;
    }
    io_uring_prep_read(sqe, u->efd, &u->efd_val, sizeof(u->efd_val), 0);
    io_uring_sqe_set_data64(sqe, GS_UD_MAKE(GS_UD_OP_DOORBELL, 0, 0));
    return 0;
}

int gs_uring_new(gs_uring **pu, const gs_uring_cfg *cfg, const gs_mem *mem)
{
    gs_uring *u;
    int rv;

    if (cfg->on_recv == NULL) {
        return GS_ERR_INVAL;
    }
    u = gs_mem_calloc(mem, 1, sizeof(*u));
    if (u == NULL) {
        return GS_ERR_NOMEM;
    }
    u->mem = mem;
    u->cfg = *cfg;
    if (u->cfg.sq_entries == 0) {
        u->cfg.sq_entries = URING_DEF_SQ;
    }
    if (u->cfg.cq_entries == 0) {
        u->cfg.cq_entries = 16 * u->cfg.sq_entries;
    }
    if (u->cfg.nrecv_bufs == 0) {
        u->cfg.nrecv_bufs = URING_DEF_NBUFS;
    }
    if (u->cfg.recv_buf_size == 0) {
        u->cfg.recv_buf_size = (u->cfg.flags & GS_URING_FLAG_NO_GRO) != 0
                                   ? 2048u
                                   : (unsigned)(65536u + URING_RECV_OVERHEAD);
    }
    if (u->cfg.nsend_slots == 0) {
        u->cfg.nsend_slots = URING_DEF_NSLOTS;
    }
    /* Every buffer starts 8-aligned so the headers and cmsgs the kernel writes are aligned. */
    u->cfg.recv_buf_size = (u->cfg.recv_buf_size + 7u) & ~7u;
    if ((u->cfg.nrecv_bufs & (u->cfg.nrecv_bufs - 1)) != 0 || u->cfg.nrecv_bufs > 32768 ||
        u->cfg.recv_buf_size <= URING_RECV_OVERHEAD || u->cfg.nsend_slots > 65536) {
        rv = GS_ERR_INVAL;
        goto fail_cfg;
    }
    u->gso = (u->cfg.flags & GS_URING_FLAG_NO_GSO) == 0;
    u->efd = -1;
    u->watch_fd = -1;
    atomic_init(&u->rung, 0);
    atomic_init(&u->sleeping, 0);
    rv = ring_setup(u, u->cfg.sq_entries, u->cfg.cq_entries);
    if (rv != 0) {
        goto fail_cfg;
    }
    rv = io_uring_register_files_sparse(&u->ring, GS_URING_MAX_SOCKS);
    if (rv != 0) {
        goto fail_files;
    }
    rv = bufring_setup(u);
    if (rv != 0) {
        goto fail_files;
    }
    rv = sendpool_setup(u);
    if (rv != 0) {
        goto fail_pool;
    }
    /* Blocking eventfd: io_uring polls it for us instead of completing the read with -EAGAIN. */
    u->efd = eventfd(0, EFD_CLOEXEC);
    if (u->efd < 0) {
        rv = -errno;
        goto fail_efd;
    }
    rv = arm_doorbell(u);
    if (rv != 0) {
        goto fail_arm;
    }
    *pu = u;
    return 0;

fail_arm:
    (void)close(u->efd);
fail_efd:
    (void)munmap(u->sbufs, u->sbufs_bytes);
    gs_mem_free(mem, u->slots);
fail_pool:
    (void)io_uring_unregister_buf_ring(&u->ring, URING_BGID);
    (void)munmap(u->rbufs, u->rbufs_bytes);
    (void)munmap(u->br, u->br_bytes);
fail_files:
    io_uring_queue_exit(&u->ring);
fail_cfg:
    gs_mem_free(mem, u);
    return rv;
}

void gs_uring_del(gs_uring *u)
{
    if (u == NULL) {
        return;
    }
    /* queue_exit cancels every request in flight and waits for them before the buffers they
     * reference are unmapped below. */
    io_uring_queue_exit(&u->ring);
    for (uint32_t i = 0; i < u->nsocks; ++i) {
        (void)close(u->socks[i].fd);
    }
    (void)close(u->efd);
    (void)munmap(u->sbufs, u->sbufs_bytes);
    gs_mem_free(u->mem, u->slots);
    (void)munmap(u->rbufs, u->rbufs_bytes);
    (void)munmap(u->br, u->br_bytes);
    gs_mem_free(u->mem, u);
}

uint32_t gs_uring_setup_flags(const gs_uring *u)
{
    return u->setup;
}

static bool addr_is_wildcard(const gs_udp_addr *a)
{
    if (a->u.sa.sa_family == AF_INET) {
        return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return memcmp(&a->u.in6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

static int arm_recv(gs_uring *u, uint32_t idx)
{
    uring_sock *s = &u->socks[idx];
    struct io_uring_sqe *sqe = get_sqe(u);

    if (sqe == NULL) {
        return GS_ERR_AGAIN;
    }
    io_uring_prep_recvmsg_multishot(sqe, (int)idx, &s->rmsg, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = URING_BGID;
    io_uring_sqe_set_data64(sqe, GS_UD_MAKE(GS_UD_OP_RECV, 0, idx));
    s->armed = true;
    return 0;
}

int gs_uring_add_udp(gs_uring *u, const gs_udp_addr *addr, uint32_t *psock)
{
    uint32_t flags = 0;
    uring_sock *s;
    uint32_t idx;
    int fd;
    int rv;

    if (u->nsocks == GS_URING_MAX_SOCKS) {
        return GS_ERR_LIMIT;
    }
    if ((u->cfg.flags & GS_URING_FLAG_NO_GRO) != 0 ||
        u->cfg.recv_buf_size < 65536u + URING_RECV_OVERHEAD) {
        /* A GRO batch can be 64 KiB; with smaller buffers it would be truncated. */
        flags |= GS_UDP_FLAG_NO_GRO;
    }
    idx = u->nsocks;
    s = &u->socks[idx];
    rv = gs_udp_socket_open(addr, flags, &fd, &s->gro);
    if (rv != 0) {
        return rv;
    }
    rv = gs_udp_socket_local(fd, &s->local);
    if (rv != 0) {
        goto fail;
    }
    rv = io_uring_register_files_update(&u->ring, idx, &fd, 1);
    if (rv < 0) {
        goto fail;
    }
    s->fd = fd;
    s->fails = 0;
    s->wildcard = addr_is_wildcard(&s->local);
    memset(&s->rmsg, 0, sizeof(s->rmsg));
    s->rmsg.msg_namelen = URING_RECV_NAMELEN;
    s->rmsg.msg_controllen = URING_RECV_CTRLLEN;
    rv = arm_recv(u, idx);
    if (rv != 0) {
        int none = -1;

        (void)io_uring_register_files_update(&u->ring, idx, &none, 1);
        goto fail;
    }
    u->nsocks = idx + 1;
    if (psock != NULL) {
        *psock = idx;
    }
    return 0;

fail:
    (void)close(fd);
    return rv;
}

uint32_t gs_uring_nsocks(const gs_uring *u)
{
    return u->nsocks;
}

const gs_udp_addr *gs_uring_sock_local(const gs_uring *u, uint32_t sock)
{
    return sock < u->nsocks ? &u->socks[sock].local : NULL;
}

int gs_uring_sock_fd(const gs_uring *u, uint32_t sock)
{
    return sock < u->nsocks ? u->socks[sock].fd : -1;
}

bool gs_uring_sock_gro(const gs_uring *u, uint32_t sock)
{
    return sock < u->nsocks && u->socks[sock].gro;
}

size_t gs_uring_gso_max_segs(const gs_uring *u)
{
    return u->gso ? GS_URING_GSO_MAX_SEGS : 1;
}

uint8_t *gs_uring_send_begin(gs_uring *u, size_t *pcap)
{
    if (u->pending == URING_NO_SLOT) {
        if (u->free_head == URING_NO_SLOT) {
            ++u->st.tx_pool_full;
            return NULL;
        }
        u->pending = u->free_head;
        u->free_head = u->slots[u->pending].next_free;
        ++u->ninflight;
    }
    *pcap = GS_URING_SEND_CAP;
    return u->slots[u->pending].data;
}

static void slot_free(gs_uring *u, uint32_t idx)
{
    uring_slot *sl = &u->slots[idx];

    sl->gen = (sl->gen + 1) & GS_UD_GEN_MASK;
    sl->next_free = u->free_head;
    u->free_head = idx;
    --u->ninflight;
}

static int slot_submit(gs_uring *u, uint32_t idx, uint32_t sock)
{
    uring_slot *sl = &u->slots[idx];
    struct io_uring_sqe *sqe = get_sqe(u);

    if (sqe == NULL) {
        return GS_ERR_AGAIN;
    }
    io_uring_prep_sendmsg(sqe, (int)sock, &sl->msg, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, GS_UD_MAKE(GS_UD_OP_SEND, sl->gen, idx));
    return 0;
}

/* build_cmsgs fills |sl|'s control buffer: GSO segment size, ECN and source address. */
static size_t build_cmsgs(uring_slot *sl, const uring_sock *s, const gs_uring_sendinfo *si,
                          size_t len, bool gso)
{
    struct msghdr *m = &sl->msg;
    struct cmsghdr *c;
    size_t used = 0;

    m->msg_control = sl->ctl.buf;
    m->msg_controllen = sizeof(sl->ctl.buf);
    c = CMSG_FIRSTHDR(m);
    if (gso && si->segsize != 0 && si->segsize < len) {
        uint16_t seg = (uint16_t)si->segsize;

        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(c), &seg, sizeof(seg));
        used += CMSG_SPACE(sizeof(seg));
        c = (struct cmsghdr *)(void *)(sl->ctl.buf + used);
    }
    if (si->ecn != 0) {
        int tos = si->ecn & 3;

        if (s->local.u.sa.sa_family == AF_INET) {
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_TOS;
        } else {
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_TCLASS;
        }
        c->cmsg_len = CMSG_LEN(sizeof(tos));
        memcpy(CMSG_DATA(c), &tos, sizeof(tos));
        used += CMSG_SPACE(sizeof(tos));
        c = (struct cmsghdr *)(void *)(sl->ctl.buf + used);
    }
    if (s->wildcard && si->local != NULL && si->local->len != 0 &&
        si->local->u.sa.sa_family == s->local.u.sa.sa_family) {
        if (s->local.u.sa.sa_family == AF_INET) {
            struct in_pktinfo pi;

            memset(&pi, 0, sizeof(pi));
            pi.ipi_spec_dst = si->local->u.in4.sin_addr;
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            used += CMSG_SPACE(sizeof(pi));
        } else {
            struct in6_pktinfo pi;

            memset(&pi, 0, sizeof(pi));
            pi.ipi6_addr = si->local->u.in6.sin6_addr;
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            used += CMSG_SPACE(sizeof(pi));
        }
    }
    if (used == 0) {
        m->msg_control = NULL;
    }
    m->msg_controllen = used;
    return used;
}

int gs_uring_send_commit(gs_uring *u, const gs_uring_sendinfo *si, size_t len)
{
    uint32_t idx = u->pending;
    uring_slot *sl;
    size_t nseg = 1;
    int rv;

    if (idx == URING_NO_SLOT || si->sock >= u->nsocks || len == 0 || len > GS_URING_SEND_CAP ||
        si->remote == NULL || si->remote->len == 0 || si->remote->len > sizeof(sl->dst.u)) {
        return GS_ERR_INVAL;
    }
    if (si->segsize != 0 && si->segsize < len) {
        if (!u->gso || si->segsize > UINT16_MAX) {
            return GS_ERR_INVAL;
        }
        nseg = (len + si->segsize - 1) / si->segsize;
        if (nseg > GS_URING_GSO_MAX_SEGS) {
            return GS_ERR_INVAL;
        }
    }
    sl = &u->slots[idx];
    memset(&sl->msg, 0, sizeof(sl->msg));
    memcpy(&sl->dst, si->remote, sizeof(sl->dst));
    sl->iov.iov_base = sl->data;
    sl->iov.iov_len = len;
    sl->msg.msg_name = &sl->dst.u;
    sl->msg.msg_namelen = sl->dst.len;
    sl->msg.msg_iov = &sl->iov;
    sl->msg.msg_iovlen = 1;
    (void)build_cmsgs(sl, &u->socks[si->sock], si, len, u->gso);
    sl->len = len;
    sl->ndgrams = nseg;
    sl->tries = 0;
    sl->sock = si->sock;
    rv = slot_submit(u, idx, si->sock);
    if (rv != 0) {
        return rv;
    }
    u->pending = URING_NO_SLOT;
    return 0;
}

int gs_uring_sendto(gs_uring *u, uint32_t sock, const gs_udp_addr *remote, const void *data,
                    size_t len, size_t segsize)
{
    gs_uring_sendinfo si;
    uint8_t *buf;
    size_t cap;

    if (len > GS_URING_SEND_CAP) {
        return GS_ERR_INVAL;
    }
    buf = gs_uring_send_begin(u, &cap);
    if (buf == NULL) {
        return GS_ERR_AGAIN;
    }
    memcpy(buf, data, len);
    memset(&si, 0, sizeof(si));
    si.sock = sock;
    si.remote = remote;
    si.segsize = segsize;
    return gs_uring_send_commit(u, &si, len);
}

size_t gs_uring_send_inflight(const gs_uring *u)
{
    return u->ninflight - (u->pending != URING_NO_SLOT ? 1u : 0u);
}

/* enable_rings: liburing 2.3 declares io_uring_enable_rings but does not export it. */
static int enable_rings(gs_uring *u)
{
    long rv =
        syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);

    return rv < 0 ? -errno : 0;
}

int gs_uring_wait(gs_uring *u, gs_duration timeout)
{
    struct __kernel_timespec ts;
    struct io_uring_cqe *cqe;
    int rv;

    if (!u->started) {
        if ((u->setup & GS_URING_SETUP_R_DISABLED) != 0) {
            /* Enabling binds the SINGLE_ISSUER ring to this thread. */
            rv = enable_rings(u);
            if (rv != 0) {
                return rv;
            }
        }
        u->started = true;
    }
    if (timeout > GS_SECONDS) {
        timeout = GS_SECONDS;
    }
    if (timeout > 0) {
        atomic_store(&u->sleeping, 1);
        if (atomic_load(&u->rung) != 0) {
            timeout = 0; /* rung while we were busy: do not sleep, reap reports it */
        }
    }
    ts.tv_sec = (long long)(timeout / GS_SECONDS);
    ts.tv_nsec = (long long)(timeout % GS_SECONDS);
    ++u->st.turns;
    rv = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    atomic_store_explicit(&u->sleeping, 0, memory_order_relaxed);
    if (rv >= 0 || rv == -ETIME || rv == -EINTR || rv == -EAGAIN || rv == -EBUSY) {
        return 0;
    }
    return rv;
}

static void parse_cmsgs(struct io_uring_recvmsg_out *o, struct msghdr *tmpl, const uring_sock *s,
                        gs_udp_addr *local, uint8_t *pecn, size_t *pseg)
{
    for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, tmpl); c != NULL;
         c = io_uring_recvmsg_cmsg_nexthdr(o, tmpl, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;

            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            local->u.in4.sin_family = AF_INET;
            local->u.in4.sin_addr = pi.ipi_addr;
            local->u.in4.sin_port = s->local.u.in4.sin_port;
            local->len = sizeof(local->u.in4);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS &&
                   c->cmsg_len >= CMSG_LEN(1)) {
            *pecn = (uint8_t)(*CMSG_DATA(c) & 3u);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;

            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            local->u.in6.sin6_family = AF_INET6;
            local->u.in6.sin6_addr = pi.ipi6_addr;
            local->u.in6.sin6_port = s->local.u.in6.sin6_port;
            local->len = sizeof(local->u.in6);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
                   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int tc;

            memcpy(&tc, CMSG_DATA(c), sizeof(tc));
            *pecn = (uint8_t)((unsigned)tc & 3u);
        } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int seg;

            memcpy(&seg, CMSG_DATA(c), sizeof(seg));
            *pseg = seg > 0 ? (size_t)seg : 0;
        }
    }
}

/* on_recv_buf parses one received buffer and hands its datagram(s) to the callback. */
static void on_recv_buf(gs_uring *u, uint32_t idx, uint8_t *buf, int res)
{
    uring_sock *s = &u->socks[idx];
    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, &s->rmsg);
    gs_udp_addr remote;
    gs_udp_addr local;
    gs_uring_dgram dg;
    size_t seg = 0;
    uint8_t *p;
    size_t len;

    if (o == NULL || o->namelen > sizeof(remote.u)) {
        ++u->st.rx_errors;
        return;
    }
    if ((o->flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        ++u->st.rx_trunc;
        return;
    }
    memset(&remote, 0, sizeof(remote));
    memcpy(&remote.u, io_uring_recvmsg_name(o), o->namelen);
    remote.len = o->namelen;
    memset(&local, 0, sizeof(local));
    dg.ecn = 0;
    parse_cmsgs(o, &s->rmsg, s, &local, &dg.ecn, &seg);
    p = io_uring_recvmsg_payload(o, &s->rmsg);
    len = io_uring_recvmsg_payload_length(o, res, &s->rmsg);
    dg.remote = &remote;
    dg.local = &local;
    dg.sock = idx;
    if (seg == 0 || seg >= len) {
        seg = len;
    } else {
        ++u->st.rx_gro_batches;
    }
    /* A zero-length datagram is legal UDP; pass it on once (the endpoint drops it). */
    do {
        size_t n = len < seg ? len : seg;

        dg.data = p;
        dg.len = n;
        ++u->st.rx_dgrams;
        u->st.rx_bytes += n;
        u->cfg.on_recv(u->cfg.user_data, &dg);
        p += n;
        len -= n;
    } while (len > 0);
}

static void on_recv_cqe(gs_uring *u, const struct io_uring_cqe *cqe, unsigned *precycled)
{
    uint32_t idx = GS_UD_IDX(cqe->user_data);
    uring_sock *s;

    if (idx >= u->nsocks) {
        ++u->st.rx_errors;
        return;
    }
    s = &u->socks[idx];
    if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        uint8_t *buf = u->rbufs + (size_t)bid * u->cfg.recv_buf_size;

        if (bid < u->cfg.nrecv_bufs) {
            ++u->st.rx_bufs;
            if (cqe->res >= 0) {
                on_recv_buf(u, idx, buf, cqe->res);
            }
            /* Give the buffer back right away; the tail is published once per pass. */
            io_uring_buf_ring_add(u->br, buf, u->cfg.recv_buf_size, (unsigned short)bid,
                                  (int)u->br_mask, (int)*precycled);
            ++*precycled;
        } else {
            ++u->st.rx_errors;
        }
    }
    if (cqe->res < 0) {
        if (cqe->res == -ENOBUFS) {
            ++u->st.rx_nobufs;
        } else {
            ++u->st.rx_errors;
            ++s->fails;
        }
    } else {
        s->fails = 0;
    }
    if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
        s->armed = false;
        if (cqe->res == -ECANCELED || s->fails >= URING_RECV_MAX_FAILS) {
            return; /* the socket stays quiet; counted in rx_errors */
        }
        ++u->st.rx_rearms;
        (void)arm_recv(u, idx);
    }
}

static void on_send_cqe(gs_uring *u, const struct io_uring_cqe *cqe)
{
    uint32_t idx = GS_UD_IDX(cqe->user_data);
    uring_slot *sl;

    if (idx >= u->cfg.nsend_slots || GS_UD_GEN(cqe->user_data) != u->slots[idx].gen) {
        ++u->st.tx_errors; /* stale completion: nothing to release */
        return;
    }
    sl = &u->slots[idx];
    if (cqe->res >= 0) {
        /* UDP sends are all or nothing; a short count would mean a kernel change we do not
         * handle, and the datagrams are recoverable by QUIC anyway. */
        ++u->st.tx_sends;
        u->st.tx_dgrams += sl->ndgrams;
        u->st.tx_bytes += (uint64_t)cqe->res;
        slot_free(u, idx);
        return;
    }
    ++u->st.tx_errors;
    u->st.last_tx_error = cqe->res;
    if ((cqe->res == -EAGAIN || cqe->res == -ENOBUFS || cqe->res == -EINTR) &&
        ++sl->tries < URING_MAX_TRIES) {
        /* Resubmit from the same slot; nothing else needs to change. */
        if (slot_submit(u, idx, sl->sock) == 0) {
            ++u->st.tx_retries;
            return;
        }
    }
    if (cqe->res == -EIO && sl->ndgrams > 1) {
        /* The device cannot segment (no checksum offload): stop using GSO from now on. */
        u->gso = false;
    }
    ++u->st.tx_dropped;
    slot_free(u, idx);
}

unsigned gs_uring_reap(gs_uring *u)
{
    struct io_uring_cqe *cqe;
    unsigned head;
    unsigned n = 0;
    unsigned recycled = 0;
    bool woke = false;

    io_uring_for_each_cqe(&u->ring, head, cqe) {
        switch (GS_UD_OP(cqe->user_data)) {
        case GS_UD_OP_RECV:
            on_recv_cqe(u, cqe, &recycled);
            break;
        case GS_UD_OP_SEND:
            on_send_cqe(u, cqe);
            break;
        case GS_UD_OP_DOORBELL:
            ++u->st.doorbell_cqes;
            woke = true;
            (void)arm_doorbell(u);
            break;
        case GS_UD_OP_WATCH:
            /* readiness, or an error the owner meets when it reads the descriptor; a poll the
             * kernel ended (no F_MORE: an error, or a full completion queue) is re-armed */
            ++u->st.watch_cqes;
            u->watch_ready = true;
            if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
                ++u->st.watch_rearms;
                (void)arm_watch(u);
            }
            break;
        default:
            break; /* our cancels and liburing's internal timeouts */
        }
        ++n;
    }
    io_uring_cq_advance(&u->ring, n);
    if (recycled != 0) {
        io_uring_buf_ring_advance(u->br, (int)recycled);
    }
    u->st.cqes += n;
    /* The flag, not the eventfd, is the truth: a ring while we were awake wrote nothing.  The
     * exchange (not load + store) reads the latest ring, so whatever its ringer published before
     * ringing is visible to on_wake; a ring after it leaves the flag set for the next turn. */
    if (atomic_load_explicit(&u->rung, memory_order_relaxed) != 0 &&
        atomic_exchange(&u->rung, 0) != 0) {
        woke = true;
    }
    if (woke) {
        ++u->st.wakes;
    }
    if (woke && u->cfg.on_wake != NULL) {
        u->cfg.on_wake(u->cfg.user_data);
    }
    return n;
}

int gs_uring_run_once(gs_uring *u, gs_duration timeout)
{
    int rv = gs_uring_wait(u, timeout);

    if (rv != 0) {
        return rv;
    }
    return (int)gs_uring_reap(u);
}

int gs_uring_watch(gs_uring *u, int fd)
{
    if (fd < 0 || u->watch_fd >= 0) {
        return GS_ERR_INVAL;
    }
    u->watch_fd = fd;
    return arm_watch(u);
}

bool gs_uring_watch_take(gs_uring *u)
{
    bool r = u->watch_ready;

    u->watch_ready = false;
    return r;
}

int gs_uring_wake(gs_uring *u)
{
    uint64_t one = 1;

    atomic_store(&u->rung, 1);
    if (atomic_load(&u->sleeping) == 0) {
        return 0; /* the owner is awake and will see |rung| before it sleeps */
    }
    if (write(u->efd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        return -errno;
    }
    return 0;
}

const gs_uring_stats *gs_uring_stats_get(const gs_uring *u)
{
    return &u->st;
}
