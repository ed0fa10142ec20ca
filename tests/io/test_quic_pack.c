/* SPDX-License-Identifier: MIT */
/*
 * test_quic_pack.c: the GSO run packer (io/quic_pack.h) on its own: no endpoint, no ngtcp2, no
 * sockets.  Packets are byte patterns; the tests check where each lands (which run, which
 * offset), the GSO rules (equal segments, a short last one, max_segs, GS_QUIC_RUN_MAX, one path,
 * one ECN codepoint and one owner per run), the one-packet stash, and, over random sequences, that
 * the batch holds exactly the packets written, in order.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <string.h>

#include "quic_pack.h"

#define CAP (256 * 1024)

typedef struct batch {
    uint8_t buf[CAP];
    gs_quic_seg_run runs[16];
    gs_quic_txbuf tx;
} batch;

static void batch_init(batch *b, size_t cap, size_t maxruns, size_t max_segs)
{
    memset(&b->tx, 0, sizeof(b->tx));
    b->tx.buf = b->buf;
    b->tx.cap = cap;
    b->tx.runs = b->runs;
    b->tx.maxruns = maxruns;
    b->tx.max_segs = max_segs;
}

static gs_quic_addr addr4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin;
    gs_quic_addr a;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    cr_assert(eq(int, inet_pton(AF_INET, ip, &sin.sin_addr), 1));
    cr_assert(eq(int, gs_quic_addr_set(&a, (const struct sockaddr *)&sin, sizeof(sin)), 0));
    return a;
}

/* write_pkt does what the endpoint's writer does: ask, write |n| bytes of |fill|, place. */
static bool write_pkt(gs_quic_pack *pk, batch *b, const void *owner, const gs_quic_addr *l,
                      const gs_quic_addr *r, uint8_t ecn, size_t n, uint8_t fill)
{
    size_t max = 0;

    if (!gs_quic_pack_can(pk, &b->tx, owner, l, r, &max)) {
        return false;
    }
    cr_assert(le(sz, n, max), "asked for %zu, allowed %zu", n, max);
    memset(b->tx.buf + b->tx.len, fill, n);
    return gs_quic_pack_place(pk, &b->tx, owner, l, r, ecn, n);
}

Test(quic_pack, equal_packets_share_a_run_up_to_max_segs)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r = addr4("127.0.0.2", 2);
    int owner;

    gs_quic_pack_init(&pk, 1200);
    batch_init(&b, CAP, 4, 8);
    for (int i = 0; i < 10; ++i) {
        cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 2, 1200, (uint8_t)i));
    }
    cr_assert(eq(sz, b.tx.nruns, 2));
    cr_assert(eq(sz, b.runs[0].nsegs, 8));
    cr_assert(eq(sz, b.runs[0].segsize, 1200));
    cr_assert(eq(sz, b.runs[0].len, 9600));
    cr_assert(eq(sz, b.runs[1].off, 9600));
    cr_assert(eq(sz, b.runs[1].nsegs, 2));
    cr_assert(eq(u8, b.runs[1].ecn, 2));
    cr_assert(gs_quic_addr_eq(&b.runs[1].remote, &r));
    cr_assert(eq(u64, pk.packets, 10));
    cr_assert(eq(u64, pk.bytes, 12000));
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
    /* the bytes are where the runs say: packet i at 1200 * i */
    for (int i = 0; i < 10; ++i) {
        cr_assert(eq(u8, b.buf[1200 * i], (uint8_t)i));
    }
}

Test(quic_pack, a_short_packet_ends_its_run_a_longer_one_opens_a_new_run)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r = addr4("127.0.0.2", 2);
    int owner;

    gs_quic_pack_init(&pk, 1452);
    batch_init(&b, CAP, 8, 64);
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1000, 1));
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 700, 2)); /* short last segment */
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 700, 3)); /* cannot follow a short one */
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 900, 4)); /* larger than the segment */
    cr_assert(eq(sz, b.tx.nruns, 3));
    cr_assert(eq(sz, b.runs[0].nsegs, 2));
    cr_assert(eq(sz, b.runs[0].len, 1700));
    cr_assert(eq(sz, b.runs[1].nsegs, 1));
    cr_assert(eq(sz, b.runs[1].segsize, 700));
    cr_assert(eq(sz, b.runs[2].segsize, 900));
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
}

Test(quic_pack, path_ecn_and_owner_changes_open_new_runs)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r1 = addr4("127.0.0.2", 2);
    gs_quic_addr r2 = addr4("127.0.0.2", 3);
    gs_quic_addr l2 = addr4("127.0.0.9", 1);
    int o1;
    int o2;

    gs_quic_pack_init(&pk, 1200);
    batch_init(&b, CAP, 16, 64);
    cr_assert(write_pkt(&pk, &b, &o1, &l, &r1, 0, 1200, 1));
    cr_assert(write_pkt(&pk, &b, &o1, &l, &r2, 0, 1200, 2));  /* other remote port */
    cr_assert(write_pkt(&pk, &b, &o1, &l2, &r2, 0, 1200, 3)); /* other local address */
    cr_assert(write_pkt(&pk, &b, &o1, &l2, &r2, 1, 1200, 4)); /* other ECN codepoint */
    cr_assert(write_pkt(&pk, &b, &o2, &l2, &r2, 1, 1200, 5)); /* other connection */
    cr_assert(write_pkt(&pk, &b, &o2, &l2, &r2, 1, 1200, 6)); /* joins the previous run */
    cr_assert(eq(sz, b.tx.nruns, 5));
    cr_assert(eq(sz, b.runs[4].nsegs, 2));
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
}

Test(quic_pack, runs_stay_below_the_run_limit)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r = addr4("127.0.0.2", 2);
    int owner;

    gs_quic_pack_init(&pk, 1452);
    batch_init(&b, CAP, 4, 64);
    for (int i = 0; i < 50; ++i) {
        cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1452, 0));
    }
    /* 44 x 1452 = 63,888 <= 65,000 < 45 x 1452 */
    cr_assert(eq(sz, b.tx.nruns, 2));
    cr_assert(eq(sz, b.runs[0].nsegs, 44));
    cr_assert(le(sz, b.runs[0].len, GS_QUIC_RUN_MAX));
    cr_assert(eq(sz, b.runs[1].nsegs, 6));
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
}

Test(quic_pack, can_refuses_without_room_or_a_run_to_extend)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r = addr4("127.0.0.2", 2);
    gs_quic_addr other = addr4("127.0.0.3", 2);
    int owner;
    int o2;
    size_t max = 0;

    gs_quic_pack_init(&pk, 1200);
    /* room for fewer than one full packet: nothing fits */
    batch_init(&b, 1199, 1, 64);
    cr_assert(not(gs_quic_pack_can(&pk, &b.tx, &owner, &l, &r, &max)));
    /* one run slot: after the first packet only packets extending that run may come */
    batch_init(&b, CAP, 1, 64);
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1000, 1));
    cr_assert(gs_quic_pack_can(&pk, &b.tx, &owner, &l, &r, &max));
    cr_assert(eq(sz, max, 1000)); /* no larger than the run's segment */
    cr_assert(gs_quic_pack_can(&pk, &b.tx, &owner, NULL, NULL, &max)); /* any path: size only */
    cr_assert(not(gs_quic_pack_can(&pk, &b.tx, &owner, &l, &other, &max)));
    cr_assert(not(gs_quic_pack_can(&pk, &b.tx, &o2, &l, &r, &max)));
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 400, 2)); /* short: closes the run */
    cr_assert(not(gs_quic_pack_can(&pk, &b.tx, &owner, &l, &r, &max)));
    /* a ready-made packet that cannot join is not copied, and nothing changes */
    uint8_t pkt[100];
    memset(pkt, 9, sizeof(pkt));
    size_t len = b.tx.len;
    cr_assert(not(gs_quic_pack_copy(&pk, &b.tx, &owner, &l, &r, 0, pkt, sizeof(pkt))));
    cr_assert(eq(sz, b.tx.len, len));
    cr_assert(eq(sz, b.tx.nruns, 1));
    cr_assert(eq(sz, pk.stash_len, 0));
}

Test(quic_pack, a_packet_without_a_run_slot_is_stashed_and_sent_first_next_time)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r1 = addr4("127.0.0.2", 2);
    gs_quic_addr r2 = addr4("127.0.0.3", 2);
    int owner;

    gs_quic_pack_init(&pk, 1200);
    batch_init(&b, CAP, 1, 64);
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r1, 0, 1200, 1));
    /* the writer learns the path only after writing (ngtcp2 returns it): no run slot for r2 */
    size_t max;
    cr_assert(gs_quic_pack_can(&pk, &b.tx, &owner, NULL, NULL, &max));
    memset(b.tx.buf + b.tx.len, 0xee, 800);
    cr_assert(not(gs_quic_pack_place(&pk, &b.tx, &owner, &l, &r2, 3, 800)));
    cr_assert(eq(sz, pk.stash_len, 800));
    cr_assert(eq(sz, b.tx.len, 1200)); /* not in this batch */
    cr_assert(eq(u64, pk.packets, 1));
    /* a batch too small keeps it stashed */
    batch_init(&b, 500, 1, 64);
    cr_assert(not(gs_quic_pack_unstash(&pk, &b.tx)));
    cr_assert(eq(sz, pk.stash_len, 800));
    /* the next batch starts with it, path and ECN kept */
    batch_init(&b, CAP, 1, 64);
    cr_assert(gs_quic_pack_unstash(&pk, &b.tx));
    cr_assert(eq(sz, pk.stash_len, 0));
    cr_assert(eq(sz, b.tx.nruns, 1));
    cr_assert(eq(sz, b.runs[0].len, 800));
    cr_assert(eq(u8, b.runs[0].ecn, 3));
    cr_assert(gs_quic_addr_eq(&b.runs[0].remote, &r2));
    cr_assert(eq(u8, b.buf[0], 0xee));
    cr_assert(eq(u8, b.buf[799], 0xee));
    cr_assert(eq(u64, pk.packets, 2));
    cr_assert(gs_quic_pack_unstash(&pk, &b.tx)); /* empty: nothing to do */
    cr_assert(eq(sz, b.tx.len, 800));
}

Test(quic_pack, check_finds_broken_runs)
{
    static batch b;
    gs_quic_pack pk;
    gs_quic_addr l = addr4("127.0.0.1", 1);
    gs_quic_addr r = addr4("127.0.0.2", 2);
    int owner;

    gs_quic_pack_init(&pk, 1200);
    batch_init(&b, CAP, 4, 8);
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1200, 1));
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1200, 1));
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 100, 1));
    cr_assert(write_pkt(&pk, &b, &owner, &l, &r, 0, 1200, 1));
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
    b.runs[0].len += 1200; /* a segment too many for nsegs */
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 1));
    b.runs[0].len -= 1200;
    b.runs[1].off += 1; /* a gap */
    cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 2));
    b.runs[1].off -= 1;
    b.tx.len += 5; /* bytes after the last run */
    cr_assert(ne(sz, gs_quic_pack_check(&b.tx), 0));
}

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A packet as the random writer made it, to compare with what the batch holds. */
typedef struct sent {
    size_t len;
    uint8_t fill;
    int owner;
    int path;
    uint8_t ecn;
} sent;

Test(quic_pack, random_sequences_keep_every_packet_in_order, .timeout = 60)
{
    static batch b;
    static sent log[4096];
    gs_quic_pack pk;
    gs_quic_addr paths[3] = {addr4("127.0.0.2", 2), addr4("127.0.0.3", 3), addr4("127.0.0.4", 4)};
    gs_quic_addr l = addr4("127.0.0.1", 1);
    int owners[3];
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    for (int round = 0; round < 300; ++round) {
        size_t maxruns = 1 + xs(&rng) % 4;
        size_t max_segs = 1 + xs(&rng) % 64;
        size_t nlog = 0;

        gs_quic_pack_init(&pk, 1452);
        batch_init(&b, CAP, maxruns, max_segs);
        for (int batchno = 0; batchno < 5; ++batchno) {
            /* a new batch begins with whatever the last one stashed */
            batch_init(&b, 4 * 1452 + xs(&rng) % CAP / 2, maxruns, max_segs);
            /* the stashed packet is the last one logged */
            size_t first = nlog - (pk.stash_len > 0 ? 1 : 0);
            cr_assert(gs_quic_pack_unstash(&pk, &b.tx));
            for (;;) {
                int o = (int)(xs(&rng) % 3);
                int p = (int)(xs(&rng) % 3);
                uint8_t ecn = (uint8_t)(xs(&rng) % 2);
                size_t max;
                /* most packets are full, some short, like a real writer */
                size_t n = xs(&rng) % 4 == 0 ? 20 + xs(&rng) % 1400 : 1452;
                if (!gs_quic_pack_can(&pk, &b.tx, &owners[o], NULL, NULL, &max)) {
                    break;
                }
                if (n > max) {
                    n = max;
                }
                cr_assert(lt(sz, nlog, sizeof(log) / sizeof(log[0])));
                sent *s = &log[nlog++];
                s->len = n;
                s->fill = (uint8_t)nlog;
                s->owner = o;
                s->path = p;
                s->ecn = ecn;
                memset(b.tx.buf + b.tx.len, s->fill, n);
                if (!gs_quic_pack_place(&pk, &b.tx, &owners[o], &l, &paths[p], ecn, n)) {
                    break; /* stashed: goes first into the next batch */
                }
                cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
            }
            cr_assert(eq(sz, gs_quic_pack_check(&b.tx), 0));
            /* walk the runs: packets in order, each run one owner / path / ECN */
            size_t k = first;
            for (size_t ri = 0; ri < b.tx.nruns; ++ri) {
                const gs_quic_seg_run *r = &b.runs[ri];
                size_t off = r->off;
                for (size_t si = 0; si < r->nsegs; ++si, ++k) {
                    const sent *s = &log[k];
                    size_t seg =
                        si + 1 < r->nsegs ? r->segsize : r->len - (r->nsegs - 1) * r->segsize;
                    cr_assert(eq(sz, seg, s->len), "round %d run %zu seg %zu", round, ri, si);
                    cr_assert(eq(u8, b.buf[off], s->fill));
                    cr_assert(eq(u8, b.buf[off + seg - 1], s->fill));
                    cr_assert(gs_quic_addr_eq(&r->remote, &paths[s->path]));
                    cr_assert(eq(u8, r->ecn, s->ecn));
                    cr_assert(eq(int, s->owner, log[k - si].owner));
                    off += seg;
                }
            }
            size_t stashed = pk.stash_len > 0 ? 1 : 0;
            cr_assert(eq(sz, k + stashed, nlog), "round %d: %zu placed + %zu stashed of %zu", round,
                      k, stashed, nlog);
        }
    }
}
