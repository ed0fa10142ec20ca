/* SPDX-License-Identifier: MIT */
/*
 * v0.h: wire-version policy for mixed swarms of "/iroh-gossip/1" and "/iroh-gossip/0" peers
 * (PROTOCOL.md 12, docs/INTEROP.md).
 *
 * A peer record remembers which wire versions the peer speaks as a set of GS_QUIC_SPEAKS_* bits
 * (gs_quic_ep_conn_versions; 0: nothing known).  Peer lists we send (ForwardJoin, Shuffle,
 * ShuffleReply) must never name a peer to another that cannot speak any version the named peer
 * speaks: the recipient would add it (0.35 even to its active view at once, for a ForwardJoin)
 * and then fail to dial it.  "Cannot" is only concluded from a complete set
 * (GS_QUIC_SPEAKS_COMPLETE); unknown versions never block an introduction.
 *
 * Pure functions (no shard state): the shard passes a lookup for the named peers' versions.
 */
#ifndef GS_SERVER_V0_H
#define GS_SERVER_V0_H

#include <stdbool.h>
#include <stddef.h>

#include "codec.h"

/* gs_v0_can_introduce tells whether a peer with versions |p| may be named to one with |q|: true
 * unless, for every version, one of the two is known (complete set) not to speak it. */
bool gs_v0_can_introduce(unsigned q, unsigned p);

/* gs_v0_lookup_fn returns the GS_QUIC_SPEAKS_* set known for |peer| (0: unknown). */
typedef unsigned gs_v0_lookup_fn(void *user_data, const gs_key *peer);

/* What gs_v0_filter did. */
typedef enum gs_v0_verdict {
    GS_V0_SEND = 0,    /* unchanged */
    GS_V0_CHANGED = 1, /* peers were removed from its list (now in |scratch|) */
    GS_V0_DROP = 2,    /* must not be sent: it introduces a peer the recipient cannot reach */
} gs_v0_verdict;

/*
 * gs_v0_filter applies the policy to |msg|, about to be sent to a peer whose versions are |to|.
 * A ForwardJoin naming a peer the recipient cannot speak to is dropped; so is a Shuffle whose
 * origin it cannot answer.  Shuffle and ShuffleReply lists lose the entries it cannot reach:
 * the kept entries are copied to |scratch| (|cap| entries; a longer list is left unchanged) and
 * |msg|'s list points there, so |scratch| must outlive the encoding.  |*removed| (may be NULL)
 * gets the number of entries removed.  Other messages are returned unchanged.
 */
gs_v0_verdict gs_v0_filter(gs_msg *msg, unsigned to, gs_v0_lookup_fn *lookup, void *user_data,
                           gs_peer_info *scratch, size_t cap, size_t *removed);

/* gs_v0_msg_type returns the message type (gs_msg_type, 0..9) of an encoded message body from
 * its two enum tags, or -1 when they name none (the node's decoder reports the error). */
int gs_v0_msg_type(const uint8_t *body, size_t len);

/* gs_v0_msg_type_name returns the name of message type |t| ("Join" ... "IHave"), or "?". */
const char *gs_v0_msg_type_name(int t);

#endif /* GS_SERVER_V0_H */
