/* SPDX-License-Identifier: MIT */
/*
 * node.h: the sans-IO gossip node.  One gs_node multiplexes up to cfg.max_topics topics, each
 * running HyParView (membership, PROTOCOL.md 5) and PlumTree (broadcast, 6) with the fixes of
 * section 9.  It never touches sockets, clocks or threads: every entry point takes |now|, the
 * caller seeds the PRNG, and everything the node wants done comes out of an outbox of commands
 * (gs_node_next_out) plus one deadline (gs_node_get_expiry).
 *
 * Driving a node:
 *   1. feed inputs: gs_node_join, gs_node_broadcast, gs_node_on_frame / gs_node_on_message,
 *      gs_node_on_peer_disconnected, gs_node_set_peer_data, gs_node_quit;
 *   2. drain gs_node_next_out until it returns false, acting on each command;
 *   3. arm a timer for gs_node_get_expiry and call gs_node_handle_expiry when it passes, then
 *      drain again.
 *
 * Memory: allocation only through the gs_mem given to gs_node_new.  Outbox entries (and every
 * pointer inside them: message contents, PeerData, peer lists) borrow node-owned memory that stays
 * valid until the first input call made after gs_node_next_out has returned false, i.e. across
 * any number of input calls while the outbox is not drained (a whole gs_node_on_frames batch, or
 * a caller that drains only now and then).  Payloads still borrowed are never overwritten or
 * freed: while they are, the message cache stores no new payload over them (it copies such
 * messages instead; counted in cache_evicted) and a growing cache keeps its old buffer, so a
 * caller that does not drain holds up to about twice cache_bytes per topic.
 * Inputs are copied when kept: the caller's buffers may be reused once a call returns.
 *
 * Bounds: every per-topic and per-node collection has a bound in gs_node_cfg; an input that would
 * exceed one is refused or the oldest entry is dropped, and the event is counted in
 * gs_node_counters.  Nothing a peer sends can make the node allocate beyond its configuration.
 *
 * Threads: a gs_node belongs to one thread (shard); no call is thread-safe.
 */
#ifndef GS_PROTO_NODE_H
#define GS_PROTO_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "gs_err.h"
#include "gs_mem.h"
#include "gs_time.h"

/* gs_bcast_policy: how PlumTree chooses eager links (docs/proto.md, "Policies"). */
typedef enum gs_bcast_policy {
    /* PROTOCOL.md 6.3: every duplicate prunes its link; a missing message waits graft_timeout_1
     * after the first IHave before it is grafted. */
    GS_BCAST_REFERENCE = 0,
    /* For nodes that carry many publishers: a link is pruned only after |prune_dup_threshold|
     * duplicates in a row from it without a first delivery in between; while the active view
     * has at most |eager_all_max| peers every neighbour stays eager (Prunes from peers are
     * honoured); an IHave from a neighbour is grafted after |graft_timeout_near| instead of
     * graft_timeout_1.  Same messages on the wire. */
    GS_BCAST_MANY = 1,
} gs_bcast_policy;

/* GS_COMPAT_*: behave as the reference implementation does in one respect (for mixed-swarm
 * simulations; gs_node_cfg_reference sets them all).  Each names a departure of docs/proto.md. */
#define GS_COMPAT_PENDING_REPLIES 0x1u /* D3: Neighbor replies are pending too (never time out) */
#define GS_COMPAT_TIMEOUT_REFILL  0x2u /* D3: only refill requests get the Neighbor timeout */
#define GS_COMPAT_REPLY_ALWAYS    0x4u /* answer every unexpected Neighbor from an active peer */
#define GS_COMPAT_NEIGHBORS_EAGER 0x8u /* D5: Neighbors-scope broadcasts go to eager peers only */
/* D8: an IHave from any peer (not only a neighbour) creates missing entries and graft timers, and
 * a NeighborDown keeps the peer's announcements (a later Graft may go to a non-neighbour).  The
 * max_missing / max_announcers bounds still hold. */
#define GS_COMPAT_IHAVE_ANY 0x10u
/* D9: a topic's close(p) emits DISCONNECT as soon as *that* topic no longer uses p, even while
 * another topic still has p active or pending (the shared connection is closed under it). */
#define GS_COMPAT_CLOSE_SHARED 0x20u
/* D10: IHaves queued for a neighbour when it leaves the active view are still sent to it (at
 * once, where the reference sends them at its next dispatch), which reopens a connection to a
 * former neighbour. */
#define GS_COMPAT_STALE_IHAVE 0x40u
/* D12: received ForwardJoin/Shuffle ttl values are used as received (no clamp to the walk
 * length). */
#define GS_COMPAT_TTL_UNCLAMPED 0x80u
#define GS_COMPAT_ALL           0xffu

/*
 * gs_node_cfg: every protocol parameter (PROTOCOL.md 5.1, 6.1) and every bound.  Get the defaults
 * from gs_node_cfg_default and change what you need.
 */
typedef struct gs_node_cfg {
    /* --- HyParView (5.1) --- */
    size_t active_view_capacity;         /* 5 */
    size_t passive_view_capacity;        /* 30 */
    uint16_t active_random_walk_length;  /* ARWL, 6 (also the clamp for received ForwardJoin ttl) */
    uint16_t passive_random_walk_length; /* PRWL, 3 */
    uint16_t shuffle_random_walk_length; /* 6 (also the clamp for received Shuffle ttl) */
    size_t shuffle_active_view_count;    /* 3 */
    size_t shuffle_passive_view_count;   /* 4 */
    gs_duration shuffle_interval;        /* 60 s */
    /* While the passive view holds fewer than shuffle_passive_view_count peers, the next shuffle
     * comes after |shuffle_early|, doubling up to shuffle_interval (the first one too): a fresh
     * joiner's passive view is otherwise empty for a minute, and losing its few neighbours in
     * that minute leaves it with no one to refill from.  0: every shuffle after
     * shuffle_interval (the reference). */
    gs_duration shuffle_early; /* 0 (gossipd's default: 2 s) */
    /* After |refill_escalate| refused Neighbor requests in a row, a node holding fewer than half
     * of active_view_capacity refills with High priority (never refused).  0: Low until the view
     * is empty (the reference). */
    uint16_t refill_escalate;             /* 0 (gossipd's default: 2) */
    gs_duration neighbor_request_timeout; /* 500 ms */
    /* D16: while a topic has no neighbour, re-send Join to its bootstrap and passive peers, first
     * after |join_retry_initial|, doubling up to |join_retry_max|.  0 disables the retries. */
    gs_duration join_retry_initial; /* 500 ms */
    gs_duration join_retry_max;     /* 30 s */

    /* --- PlumTree (6.1) --- */
    gs_duration graft_timeout_1;         /* 80 ms: first IHave -> Graft */
    gs_duration graft_timeout_2;         /* 40 ms: Graft -> next announcer */
    gs_duration dispatch_timeout;        /* 5 ms: IHave batching window */
    uint16_t optimization_threshold;     /* 7 rounds */
    gs_duration message_cache_retention; /* 30 s: payloads kept for Graft replies */
    gs_duration message_id_retention;    /* 90 s: ids kept for de-duplication */
    gs_duration cache_evict_interval;    /* 1 s */

    /* --- sizes and bounds --- */
    size_t max_message_size;  /* M, 4096: body sizes are < M when sent, <= M when received */
    size_t max_topics;        /* 64: joined topics per node (GS_ERR_LIMIT beyond) */
    size_t max_pending;       /* 16: outstanding Neighbor requests per topic */
    size_t max_bootstrap;     /* 16: bootstrap peers remembered per topic for Join retries */
    size_t max_peer_data_len; /* 1024: PeerData bytes kept per peer (longer data is not stored) */
    size_t max_received;      /* 65536: message ids remembered per topic (oldest dropped) */
    size_t cache_bytes;       /* 4 MiB: payload bytes cached per topic (oldest dropped) */
    size_t max_missing;       /* 1024: ids announced but not received, per topic */
    size_t max_announcers;    /* 8: announcers remembered per missing id */
    size_t max_timers;        /* 262144: timers per node (scheduling beyond is refused, counted) */
    size_t max_outbox;        /* 65536: outbox entries per call (beyond: dropped, counted) */
    size_t max_scratch_bytes; /* 16 MiB: bytes outbox entries may borrow per call */

    /* --- policies (docs/proto.md; none changes the wire format) --- */
    gs_bcast_policy bcast_policy;   /* GS_BCAST_REFERENCE */
    uint16_t prune_dup_threshold;   /* GS_BCAST_MANY: duplicates in a row before a Prune, 100 */
    size_t eager_all_max;           /* GS_BCAST_MANY: all neighbours eager up to this view, 0 */
    gs_duration graft_timeout_near; /* GS_BCAST_MANY: IHave -> Graft wait, 80 ms */
    /* rtt_timeouts: a Neighbor request times out after max(neighbor_request_timeout,
     * rtt_timeout_factor x the node's recent largest request -> answer time), plus
     * dial_allowance when the peer is not active or no answer was timed yet (a dial and a QUIC
     * handshake may come first); the first Join retry waits join_retry_initial + dial_allowance
     * (or the scaled wait, if longer); a repeated Join from a neighbour starts no new walks.
     * Off: fixed timeouts as configured. */
    bool rtt_timeouts;
    uint16_t rtt_timeout_factor; /* 3 */
    gs_duration dial_allowance;  /* 6 s: a first contact over a slow path (see docs/proto.md) */
    uint32_t compat;             /* GS_COMPAT_* bits, 0 */
} gs_node_cfg;

/* gs_node_cfg_default fills |cfg| with the defaults listed in gs_node_cfg. */
void gs_node_cfg_default(gs_node_cfg *cfg);

/* gs_node_cfg_reference fills |cfg| with the defaults, then switches back every departure from
 * the reference that a simulation can observe: GS_COMPAT_ALL, no Join retries (D16),
 * GS_BCAST_REFERENCE, fixed timeouts.  For mixed-swarm simulations, not for deployment. */
void gs_node_cfg_reference(gs_node_cfg *cfg);

/* gs_node_cfg_many_publishers sets in |cfg| the broadcast and timeout policy for nodes that carry
 * many publishers over wide-area links (GS_BCAST_MANY with its measured parameters, rtt_timeouts;
 * docs/proto.md), leaving every other field as it is. */
void gs_node_cfg_many_publishers(gs_node_cfg *cfg);

/*
 * gs_node_cfg_validate returns 0 if |cfg| is usable, or GS_ERR_INVAL (a capacity of 0, a walk
 * length of 0, max_message_size below GS_MAX_MESSAGE_SIZE_MIN, cache_bytes below
 * 2 * max_message_size, ...).
 */
int gs_node_cfg_validate(const gs_node_cfg *cfg);

/* gs_down_reason: why a NeighborDown happened (D15). */
typedef enum gs_down_reason {
    GS_DOWN_EVICTED = 0,         /* we evicted the peer to make room (it got Disconnect{alive}) */
    GS_DOWN_PEER_LEFT_ALIVE = 1, /* the peer sent Disconnect{alive: true} (it evicted us) */
    GS_DOWN_PEER_QUIT = 2,       /* the peer sent Disconnect{alive: false} (it left the topic) */
    GS_DOWN_CONNECTION_LOST = 3, /* the connection closed or a dial failed */
} gs_down_reason;

typedef enum gs_node_out_type {
    /* SEND: send |msg| to |peer| on |topic| (open the topic's stream first if needed). */
    GS_NODE_OUT_SEND = 0,
    /* DISCONNECT: no topic uses |peer| any more; close its connection (D2 drain rules apply).
     * |topic| is the topic whose close triggered it. */
    GS_NODE_OUT_DISCONNECT = 1,
    /* EVENT: |event| happened on |topic|. */
    GS_NODE_OUT_EVENT = 2,
} gs_node_out_type;

typedef enum gs_node_event {
    GS_NODE_EVENT_NEIGHBOR_UP = 0,   /* |peer| joined the active view */
    GS_NODE_EVENT_NEIGHBOR_DOWN = 1, /* |peer| left the active view, |reason| says why */
    /* RECEIVED: a Gossip was delivered: |content|, |id|, |peer| = delivered_from (previous hop),
     * |scope| and |round| as received (round 0 = straight from the publisher). */
    GS_NODE_EVENT_RECEIVED = 2,
    /* PEER_DATA: |peer| sent new non-empty PeerData |data| (for the address book, 4.5). */
    GS_NODE_EVENT_PEER_DATA = 3,
} gs_node_event;

/*
 * GS_NODE_OUT_FLAG_SAME_MSG: this SEND carries the same message as the previous SEND entry of the
 * outbox (only the peer differs), so the encoding of that SEND can be reused for this one.  It is
 * set only then, whatever entries lie between the two SENDs (events, DISCONNECTs) and whatever
 * other messages were produced meanwhile (an IHave flush between two eager copies of a Gossip
 * breaks the run: the next copy is not flagged).  The first SEND of an outbox is never flagged.
 * Today only Gossip fan-out is flagged; a consumer must not assume other messages are.
 */
#define GS_NODE_OUT_FLAG_SAME_MSG 0x1u
/*
 * GS_NODE_OUT_FLAG_REPAIR: this SEND is a Gossip answering a Graft for a message whose eager push
 * to that peer the transport had dropped (gs_node_on_push_dropped).  A transport that sheds eager
 * pushes under back-pressure should not shed this one: dropped again, it is announced again and
 * the repair repeats until the payload has left the cache, and the message is lost for that peer
 * and the subtree behind it.  Other Graft answers (an IHave merely beat the eager copy) are not
 * flagged: they are duplicates in the making and may be shed.
 */
#define GS_NODE_OUT_FLAG_REPAIR 0x2u

/* gs_node_out: one outbox command.  Members not named by |type|/|event| are zero. */
typedef struct gs_node_out {
    gs_node_out_type type;
    uint32_t flags;
    gs_key peer;
    gs_topic_id topic;
    gs_msg msg; /* SEND */
    gs_node_event event;
    gs_down_reason reason; /* NEIGHBOR_DOWN */
    gs_bytes content;      /* RECEIVED */
    gs_msg_id id;          /* RECEIVED */
    gs_scope scope;        /* RECEIVED */
    uint16_t round;        /* RECEIVED, Swarm scope */
    gs_bytes data;         /* PEER_DATA */
} gs_node_out;

/*
 * gs_node_counters: monotonically increasing counters.  The first block uses the reference
 * metric names (PROTOCOL.md 8.3; sizes are body + 32 as the reference counts them); the rest are
 * ours.  Every refused or dropped input increments exactly one counter of the second block.
 */
typedef struct gs_node_counters {
    uint64_t msgs_ctrl_sent;
    uint64_t msgs_ctrl_recv;
    uint64_t msgs_data_sent;
    uint64_t msgs_data_recv;
    uint64_t msgs_ctrl_sent_size;
    uint64_t msgs_ctrl_recv_size;
    uint64_t msgs_data_sent_size;
    uint64_t msgs_data_recv_size;
    uint64_t neighbor_up;
    uint64_t neighbor_down;
    uint64_t actor_tick_rx;          /* API requests (join, broadcast, quit, set_peer_data, ...) */
    uint64_t actor_tick_timers;      /* timers fired */
    uint64_t actor_tick_in_event_rx; /* messages and peer-disconnected events processed */
    /* ours */
    uint64_t decode_errors;       /* gs_node_on_frame bodies the codec rejected */
    uint64_t unknown_topic;       /* messages for topics we have not joined (dropped) */
    uint64_t from_self;           /* messages claiming to come from our own id (dropped) */
    uint64_t bad_id;              /* Gossip whose id is not BLAKE3(content) (dropped) */
    uint64_t duplicates;          /* Gossip already received (answered with Prune) */
    uint64_t oversize_broadcast;  /* broadcasts refused with GS_ERR_MSG_TOO_LARGE (D6) */
    uint64_t unforwardable;       /* received Gossip we could not forward within M (D6) */
    uint64_t round_saturated;     /* forwarded rounds clamped at 65535 (D7) */
    uint64_t ttl_clamped;         /* ForwardJoin/Shuffle ttl above the walk length (D12) */
    uint64_t self_refs;           /* our own id in a received peer field, ignored (D12) */
    uint64_t ihave_non_neighbor;  /* IHave from a non-neighbour, ignored (D8; GS_COMPAT_IHAVE_ANY:
                                     used) */
    uint64_t missing_full;        /* IHave ids refused: missing map full (D8) */
    uint64_t announcers_full;     /* IHave announcers refused: per-id list full (D8) */
    uint64_t graft_non_neighbor;  /* Grafts from non-neighbours (answered, not made eager) */
    uint64_t prune_non_neighbor;  /* Prunes from non-neighbours (ignored) */
    uint64_t gossip_non_neighbor; /* Gossip from non-neighbours (processed, not made lazy) */
    uint64_t received_evicted;    /* ids dropped from `received` before expiry (bound) */
    uint64_t cache_evicted;       /* payloads dropped from the cache before expiry (bound) */
    uint64_t pending_full;        /* Neighbor requests not sent: max_pending reached */
    uint64_t peer_data_too_long;  /* PeerData not stored: longer than max_peer_data_len */
    uint64_t ctrl_truncated;      /* Shuffle/ShuffleReply entries dropped to fit M (D13) */
    uint64_t timers_full;         /* timers refused: max_timers reached */
    uint64_t outbox_full;         /* outbox entries dropped: max_outbox or max_scratch_bytes */
    uint64_t nomem;               /* allocations that failed while handling input (input dropped) */
    uint64_t join_retries;        /* Joins re-sent while isolated (D16) */
    uint64_t disconnects;         /* DISCONNECT commands emitted */
    uint64_t neighbor_replies_suppressed; /* Neighbors from active peers left unanswered */
    uint64_t neighbor_timeouts;           /* Neighbor requests that timed out unanswered */
    uint64_t drops_announced;   /* eager pushes the transport dropped, announced by IHave instead */
    uint64_t repairs_sent;      /* Graft answers for pushes the transport had dropped to that peer
                                   (GS_NODE_OUT_FLAG_REPAIR) */
    uint64_t grafts_unserved;   /* Grafts for an id no longer cached: nothing to send */
    uint64_t shuffles_early;    /* shuffles scheduled early: passive view thin (shuffle_early) */
    uint64_t refills_escalated; /* refill requests sent High after refusals (refill_escalate) */
} gs_node_counters;

typedef struct gs_node gs_node;

/*
 * gs_node_new creates a node with our endpoint id |self_id| (copied) and stores it in |*pnode|.
 * |cfg| is copied.  |seed| seeds the node's PRNG (topic PRNGs fork from it); a node's behaviour is
 * a pure function of its seed and its inputs.  |mem| must outlive the node.
 * Returns 0, GS_ERR_INVAL (|cfg| fails gs_node_cfg_validate) or GS_ERR_NOMEM (|*pnode| untouched).
 */
int gs_node_new(gs_node **pnode, const gs_node_cfg *cfg, const gs_key *self_id, uint64_t seed,
                const gs_mem *mem);

/* gs_node_del frees |node| and everything it owns (no Disconnects are sent); NULL is a no-op. */
void gs_node_del(gs_node *node);

/*
 * gs_node_set_peer_data sets our own PeerData (|len| bytes at |data|, copied; e.g. an AddrInfo).
 * It goes to every topic and is carried by later Join, Neighbor, ForwardJoin and Shuffle messages;
 * nothing is sent now.  Returns 0, GS_ERR_MSG_TOO_LARGE (longer than max_peer_data_len, or a Join
 * carrying it would not fit in max_message_size; the old value stays) or GS_ERR_NOMEM.
 */
int gs_node_set_peer_data(gs_node *node, const uint8_t *data, size_t len, gs_tstamp now);

/*
 * gs_node_join subscribes to |topic| (creating its state if needed) and sends Join to each of the
 * |npeers| bootstrap peers (our own id is skipped, D12).  The peers (up to max_bootstrap) are
 * remembered: while the topic has no neighbour, Join is re-sent to them and to known passive
 * peers with backoff (D16).  Joining an already joined topic re-sends Join.  An empty list waits
 * for others to join us.
 * Returns 0, GS_ERR_LIMIT (max_topics reached, counted nowhere else) or GS_ERR_NOMEM.
 */
int gs_node_join(gs_node *node, const gs_topic_id *topic, const gs_key *peers, size_t npeers,
                 gs_tstamp now);

/*
 * gs_node_join_peers sends Join on the joined |topic| to each of |peers| (and remembers them for
 * retries like gs_node_join).  Returns 0, GS_ERR_NOT_JOINED or GS_ERR_NOMEM.
 */
int gs_node_join_peers(gs_node *node, const gs_topic_id *topic, const gs_key *peers, size_t npeers,
                       gs_tstamp now);

/*
 * gs_node_broadcast publishes |content| (|len| bytes, copied) on the joined |topic|.
 * GS_SCOPE_SWARM: PlumTree broadcast (eager push, lazy IHave), cached for Graft replies.
 * GS_SCOPE_NEIGHBORS: sent once to every active neighbour, eager and lazy (D5), not cached.
 * If |pid| is not NULL it receives the message id (BLAKE3 of |content|).
 * A Swarm broadcast of content whose id is still remembered is suppressed (returns 0, nothing
 * sent): ids are content hashes, make payloads unique.
 * Returns 0, GS_ERR_NOT_JOINED, GS_ERR_MSG_TOO_LARGE (the Gossip body would be >= max_message_size;
 * counted in oversize_broadcast, D6) or GS_ERR_NOMEM.
 */
int gs_node_broadcast(gs_node *node, const gs_topic_id *topic, const uint8_t *content, size_t len,
                      gs_scope scope, gs_tstamp now, gs_msg_id *pid);

/*
 * gs_node_on_push_dropped tells the node that the transport dropped the Gossip it sent to |peer|
 * on |topic| (id |id|, round |round| as sent) under back-pressure.  If |peer| is still an active
 * neighbour of the topic, (id, round) joins its lazy queue: the peer gets an IHave for it with
 * the next dispatch and can Graft the message once its queue drains, instead of losing it when
 * we were its only path.  Counted in drops_announced.
 * Returns 0, GS_ERR_NOT_JOINED, or GS_ERR_NOTFOUND (|peer| is no longer a neighbour there).
 */
int gs_node_on_push_dropped(gs_node *node, const gs_key *peer, const gs_topic_id *topic,
                            const gs_msg_id *id, uint16_t round, gs_tstamp now);

/*
 * gs_node_quit leaves |topic|: every neighbour gets ShuffleReply + Disconnect{alive: false} and is
 * closed (no NeighborDown events), then the topic's state and its timers are discarded.
 * Returns 0 or GS_ERR_NOT_JOINED.
 */
int gs_node_quit(gs_node *node, const gs_topic_id *topic, gs_tstamp now);

/*
 * gs_node_on_peer_disconnected tells every topic that |peer|'s connection closed or a dial to it
 * failed (5.4, 6.3).  Always succeeds.
 */
void gs_node_on_peer_disconnected(gs_node *node, const gs_key *peer, gs_tstamp now);

/*
 * gs_node_on_message handles a decoded message |msg| that |from| sent on |topic|.  |msg| and what
 * it points to are only read during the call.
 * Returns 0 when the message was processed (including ignored-by-protocol cases, which are
 * counted), or a non-fatal code for a dropped message (also counted): GS_ERR_NOT_JOINED (topic not
 * joined, 7), GS_ERR_SELF (|from| is our own id), GS_ERR_BAD_ID (Gossip id != BLAKE3(content)),
 * GS_ERR_INVAL (unknown message type).  None of them is a reason to drop the peer.
 */
int gs_node_on_message(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                       const gs_msg *msg, gs_tstamp now);

/*
 * gs_node_on_frame decodes the body |body| (|len| bytes, no length prefix) with gs_codec_decode and
 * hands it to gs_node_on_message.  Returns what gs_node_on_message returns, or the codec's error
 * (counted in decode_errors; the caller should drop the stream it came from).
 */
int gs_node_on_frame(gs_node *node, const gs_key *from, const gs_topic_id *topic,
                     const uint8_t *body, size_t len, gs_tstamp now);

/*
 * gs_node_frame: one received frame for gs_node_on_frames.  |from|, |topic| and |body| (|len|
 * bytes, the body without its length prefix) are borrowed during the call; |rv| is set to what
 * gs_node_on_frame would have returned for the frame.
 */
typedef struct gs_node_frame {
    const gs_key *from;
    const gs_topic_id *topic;
    const uint8_t *body;
    size_t len;
    int rv; /* out */
} gs_node_frame;

/*
 * gs_node_on_frames handles the |n| frames at |frames| (e.g. everything one loop turn received)
 * with the same results, counters and outbox as |n| gs_node_on_frame calls in order at |now|, but
 * faster: the frames are decoded first and every Gossip id is verified in one batched BLAKE3 pass
 * (gs_blake3_hash_many hashes several messages in parallel), then the frames are processed in
 * order.  Each frame's status goes to its |rv| (see gs_node_on_frame; a non-zero one concerns that
 * frame only).  Always succeeds as a whole.
 */
void gs_node_on_frames(gs_node *node, gs_node_frame *frames, size_t n, gs_tstamp now);

/*
 * gs_node_get_expiry returns the earliest deadline at which gs_node_handle_expiry must be called,
 * or GS_TSTAMP_NEVER.
 */
gs_tstamp gs_node_get_expiry(const gs_node *node);

/*
 * gs_node_handle_expiry runs every timer whose deadline is <= |now| (timers are fire-and-forget;
 * each handler re-checks state, and timers of quit topics are ignored).  Always succeeds.
 */
void gs_node_handle_expiry(gs_node *node, gs_tstamp now);

/*
 * gs_node_next_out stores the next outbox command in |*out| and returns true, or returns false when
 * the outbox is empty.  Commands come in the order the protocol produced them.  |*out| borrows
 * memory valid until the first input call after the outbox has been drained (see Memory above).
 */
bool gs_node_next_out(gs_node *node, gs_node_out *out);

/* gs_node_counters_get returns the node's counters (valid as long as the node). */
const gs_node_counters *gs_node_counters_get(const gs_node *node);

/* gs_node_self returns our endpoint id. */
const gs_key *gs_node_self(const gs_node *node);

/* gs_node_is_joined returns true if |topic| is joined. */
bool gs_node_is_joined(const gs_node *node, const gs_topic_id *topic);

/* gs_node_ntopics returns the number of joined topics. */
size_t gs_node_ntopics(const gs_node *node);

/*
 * gs_node_active_view copies up to |max| ids of |topic|'s active view to |out| (may be NULL when
 * |max| is 0) and returns the view's size (0 for a topic not joined).  gs_node_passive_view,
 * gs_node_eager_peers, gs_node_lazy_peers and gs_node_pending_peers do the same for the passive
 * view, the PlumTree eager and lazy sets (both subsets of the active view) and the outstanding
 * Neighbor requests.
 */
size_t gs_node_active_view(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max);
size_t gs_node_passive_view(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max);
size_t gs_node_eager_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max);
size_t gs_node_lazy_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out, size_t max);
size_t gs_node_pending_peers(const gs_node *node, const gs_topic_id *topic, gs_key *out,
                             size_t max);

/* gs_node_topic_stats: per-topic PlumTree figures (6.2). */
typedef struct gs_node_topic_stats {
    uint64_t payload_recv;          /* Gossip messages received */
    uint64_t control_recv;          /* other messages received */
    uint16_t max_last_delivery_hop; /* largest Swarm round of a first delivery */
    size_t nreceived;               /* ids remembered */
    size_t ncached;                 /* payloads cached */
    size_t nmissing;                /* ids announced and not yet received */
} gs_node_topic_stats;

/* gs_node_topic_stats_get fills |*st| for |topic|.  Returns 0 or GS_ERR_NOT_JOINED. */
int gs_node_topic_stats_get(const gs_node *node, const gs_topic_id *topic, gs_node_topic_stats *st);

/* gs_node_mem_in_use returns the bytes the node currently holds through its gs_mem. */
size_t gs_node_mem_in_use(const gs_node *node);

#endif /* GS_PROTO_NODE_H */
