/* SPDX-License-Identifier: MIT */
/* test_v0: the wire-version policy for peer lists (server/v0.h). */
#include <string.h>

#include "check.h"
#include "quic.h"
#include "v0.h"

#define V0  GS_QUIC_SPEAKS_V0
#define V1  GS_QUIC_SPEAKS_V1
#define ALL GS_QUIC_SPEAKS_COMPLETE

/* Peers 1..9: 1 = 0.35 node (/0 only, complete), 2 = /1-only gossipd (complete), 3 = gossipd
 * speaking both (complete), 4 = /1 seen on a dial (incomplete), others unknown. */
static unsigned lookup(void *ud, const gs_key *k)
{
    (void)ud;
    switch (k->b[0]) {
    case 1:
        return V0 | ALL;
    case 2:
        return V1 | ALL;
    case 3:
        return V0 | V1 | ALL;
    case 4:
        return V1;
    default:
        return 0;
    }
}

static gs_key key(uint8_t i)
{
    gs_key k;
    memset(&k, 0, sizeof(k));
    k.b[0] = i;
    k.b[31] = 0xee;
    return k;
}

static void test_can_introduce(void)
{
    CHECK(!gs_v0_can_introduce(V0 | ALL, V1 | ALL));
    CHECK(!gs_v0_can_introduce(V1 | ALL, V0 | ALL));
    CHECK(gs_v0_can_introduce(V0 | ALL, V0 | V1 | ALL));
    CHECK(gs_v0_can_introduce(V1 | ALL, V0 | V1 | ALL));
    CHECK(gs_v0_can_introduce(V0 | ALL, V0 | ALL));
    CHECK(gs_v0_can_introduce(V0 | ALL, V1)); /* incomplete: may speak /0 too */
    CHECK(gs_v0_can_introduce(V0 | ALL, 0));  /* unknown never blocks */
    CHECK(gs_v0_can_introduce(0, V1 | ALL));
    CHECK(gs_v0_can_introduce(V1, V0 | ALL));
}

static void test_forward_join_and_shuffle(void)
{
    gs_msg m;
    gs_peer_info scratch[8];
    size_t removed = 99;

    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_FORWARD_JOIN;
    m.forward_join.peer.id = key(2);
    m.forward_join.ttl = 3;
    CHECK(gs_v0_filter(&m, V0 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_DROP);
    CHECK(removed == 1);
    CHECK(gs_v0_filter(&m, V1 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_SEND);
    CHECK(removed == 0);
    CHECK(gs_v0_filter(&m, V0 | V1 | ALL, lookup, NULL, scratch, 8, NULL) == GS_V0_SEND);

    gs_peer_info items[5];
    memset(items, 0, sizeof(items));
    for (int i = 0; i < 5; ++i) {
        items[i].id = key((uint8_t)(i + 1)); /* 1, 2, 3, 4, 5 */
    }
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE_REPLY;
    m.shuffle_reply.nodes.items = items;
    m.shuffle_reply.nodes.n = 5;
    /* to a 0.35 node: the /1-only gossipd (2) goes, the rest stays in order */
    CHECK(gs_v0_filter(&m, V0 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_CHANGED);
    CHECK(removed == 1);
    CHECK(m.shuffle_reply.nodes.n == 4);
    CHECK(m.shuffle_reply.nodes.items == scratch);
    CHECK(scratch[0].id.b[0] == 1 && scratch[1].id.b[0] == 3 && scratch[2].id.b[0] == 4 &&
          scratch[3].id.b[0] == 5);
    /* a list longer than the scratch is left as it is */
    m.shuffle_reply.nodes.items = items;
    m.shuffle_reply.nodes.n = 5;
    CHECK(gs_v0_filter(&m, V0 | ALL, lookup, NULL, scratch, 4, &removed) == GS_V0_SEND);
    CHECK(m.shuffle_reply.nodes.items == items);

    /* a Shuffle whose origin the recipient cannot answer is dropped */
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE;
    m.shuffle.origin = key(1);
    m.shuffle.nodes.items = items;
    m.shuffle.nodes.n = 5;
    CHECK(gs_v0_filter(&m, V1 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_DROP);
    m.shuffle.origin = key(3);
    CHECK(gs_v0_filter(&m, V1 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_CHANGED);
    CHECK(removed == 1 && m.shuffle.nodes.n == 4); /* the 0.35 node (1) goes */

    /* other messages pass */
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_NEIGHBOR;
    CHECK(gs_v0_filter(&m, V0 | ALL, lookup, NULL, scratch, 8, &removed) == GS_V0_SEND);
}

int main(void)
{
    test_can_introduce();
    test_forward_join_and_shuffle();
    CHECK_DONE();
}
