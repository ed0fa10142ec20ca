/* SPDX-License-Identifier: MIT */
/*
 * sim.h: a deterministic discrete-event simulator of a swarm of gs_node (proto/node.h) in one
 * topic, and the scenarios and metrics of PROTOCOL.md section 10.  Used by the tests in tests/sim
 * and by the gossip-sim CLI (bench/gossip_sim.c).  docs/sim.md describes the model.
 *
 * Model in short (every duration is a gs_sim_cfg field):
 *   - per-pair latency drawn once per unordered pair (uniform in [min, max), or fixed);
 *   - every message travels as an encoded frame (gs_codec_encode_frame at the sender, length
 *     prefix check + gs_node_on_frame at the receiver); frames of one pair arrive in order;
 *   - close(p) by a node delivers peer-disconnected to p after the pair latency + 1 us (section
 *     10's rule) if that connection is still p's send path (3.5); frames p writes into it before
 *     it hears of the close are lost;
 *   - a crashed node sends nothing; a neighbour whose connection to it was open learns of it when
 *     the QUIC idle timeout expires (idle_timeout after the last packet it received, which with
 *     keep-alives is up to keepalive_interval before the crash); a dial to a node that is down, or
 *     across a partition, fails after dial_timeout; frames sent to a dead node are lost;
 *   - a partition drops every frame between the two groups; connections across it die of the idle
 *     timeout if it lasts long enough (both sides notified), and heal() restores the links;
 *   - optional frame loss (loss_ppm) drops frames on any link (harsher than QUIC, which
 *     retransmits).
 * Determinism: everything is a function of the configuration and the call sequence; the event
 * queue is a binary heap ordered by (time, sequence number); gs_sim_trace_hash digests every
 * processed event.
 */
#ifndef GS_TESTS_SIM_SIM_H
#define GS_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "gs_time.h"
#include "node.h"

typedef struct gs_sim gs_sim;

/* gs_sim_cfg: the network model and the protocol configuration of every node. */
typedef struct gs_sim_cfg {
    size_t npeers;                  /* number of nodes (2 .. GS_SIM_MAX_PEERS) */
    uint64_t seed;                  /* seeds node ids, node PRNGs, latencies and sim choices */
    gs_duration latency_min;        /* per-pair latency uniform in [min, max); min == max: fixed */
    gs_duration latency_max;        /* 10 ms .. 100 ms by default */
    uint32_t loss_ppm;              /* frame loss probability, parts per million (0) */
    gs_duration idle_timeout;       /* QUIC max_idle_timeout, 30 s (PROTOCOL.md 2.3) */
    gs_duration keepalive_interval; /* keep-alive PING interval, 5 s */
    gs_duration dial_timeout;       /* a dial to an unreachable peer fails after 10 s */
    size_t payload_len;             /* broadcast payload bytes, 32 (>= GS_SIM_PAYLOAD_MIN) */
    size_t max_events;              /* bound on queued events, 16 Mi (GS_ERR_LIMIT beyond) */
    size_t max_conns;               /* bound on tracked peer pairs, 16 Mi (GS_ERR_LIMIT beyond) */
    size_t max_round_bits;          /* bound on messages x peers of one round, 2^31 */
    bool trace;                     /* digest every processed event into the trace hash */
    /* literal_close: section 10's close model as written (every close is notified to the other
     * side, every frame between running peers arrives) instead of per-side connection views.
     * Off by default: it lets stale notifications tear down newer links (docs/sim.md). */
    bool literal_close;
    /* First-contact model (off by default, as in the reference simulator): with |dial_handshake|
     * a new connection costs a QUIC handshake, one round trip before its first frame leaves; with
     * probability |initial_loss_ppm| / 10^6 the dial's Initial is lost and the handshake waits
     * |initial_pto| (about 1 s, QUIC's first PTO) more.  Frames written meanwhile queue and
     * follow in order. */
    bool dial_handshake;
    uint32_t initial_loss_ppm;
    gs_duration initial_pto; /* 1 s */
    /* Mixed swarms: round(ref_fraction x npeers) nodes, drawn uniformly from the seed, run
     * |ref_node| instead of |node|; gs_sim_cfg_default fills |ref_node| with
     * gs_node_cfg_reference (the departures of docs/proto.md switched back). */
    double ref_fraction;
    gs_node_cfg ref_node;
    /* What reference nodes do at the I/O layer, where the reference departs from PROTOCOL.md
     * section 9 outside the protocol state machine: GS_SIM_REF_* bits, all set by
     * gs_sim_cfg_default.  They apply only to nodes running |ref_node|. */
    uint32_t ref_io;
    gs_node_cfg node; /* protocol configuration of every node */
    /* progress, if not NULL, is called every 65536 processed events with |progress_ud|. */
    void (*progress)(void *progress_ud, const gs_sim *sim);
    void *progress_ud;
} gs_sim_cfg;

/* D2: a reference node ignores DISCONNECT commands: its connection stays open (keep-alives) until
 * the peer closes it or it dies (crash, partition idle timeout). */
#define GS_SIM_REF_KEEP_CONNS 0x1u
/* D4: a failed dial is not reported to a reference node (no NeighborDown, no on_peer_disconnected)
 * and it never dials that peer again: what it sends to the peer is queued forever (counted in
 * ref_frames_stuck, never delivered) until the peer opens a connection to it. */
#define GS_SIM_REF_NO_REDIAL 0x2u
/* D14: a leaving reference node aborts its connections right after gs_node_quit: the
 * ShuffleReply + Disconnect frames it queued are never sent, and its connections are closed
 * (QUIC closes a dropped connection), so neighbours see a lost connection, not a quit. */
#define GS_SIM_REF_ABORT_SHUTDOWN 0x4u
#define GS_SIM_REF_ALL            0x7u

#define GS_SIM_MAX_PEERS   100000 /* about 200 KiB of node state each */
#define GS_SIM_PAYLOAD_MIN 16

/* gs_sim_stats: network-level counters of a simulation (monotonic). */
typedef struct gs_sim_stats {
    uint64_t node_events;      /* inputs handed to nodes (frames, timers, disconnects, API calls) */
    uint64_t events;           /* queue events processed (including stale timer entries) */
    uint64_t frames_sent;      /* frames put on a link */
    uint64_t frame_bytes;      /* bytes of those frames, length prefix included */
    uint64_t frames_lost;      /* frames dropped: loss_ppm, partition, dead peer, closed conn */
    uint64_t frames_on_closed; /* of which: written to a connection the peer had just closed */
    uint64_t frames_rejected;  /* frames a node refused (decode error or non-zero on_frame) */
    uint64_t encode_errors;    /* SEND commands that could not be encoded (dropped) */
    uint64_t bad_dest;         /* SEND/DISCONNECT naming an unknown peer or the node itself */
    uint64_t disconnects;      /* DISCONNECT commands */
    uint64_t peer_down_notes;  /* peer-disconnected inputs delivered to nodes */
    uint64_t dials_failed;     /* dials to a down or partitioned peer that failed */
    uint64_t idle_timeouts;    /* connections closed by the idle timeout (crash, partition) */
    uint64_t dup_received;     /* RECEIVED events for a message a node already delivered */
    uint64_t neighbor_up;      /* NEIGHBOR_UP events of all nodes */
    uint64_t neighbor_down;    /* NEIGHBOR_DOWN events of all nodes */
    uint64_t down_reason[4];   /* of which per gs_down_reason */
    uint64_t handshakes;       /* connections opened (dial_handshake: each cost a round trip) */
    uint64_t initials_lost;    /* of which the Initial was lost (initial_pto more) */
    uint64_t handshake_closes; /* connections closed by a node while their handshake ran */
    /* reference nodes' I/O model (cfg.ref_io) */
    uint64_t ref_closes_ignored;   /* DISCONNECT commands a reference node did not act on (D2) */
    uint64_t ref_dials_unreported; /* failed dials not reported to a reference node (D4) */
    uint64_t ref_frames_stuck;     /* frames queued forever behind such a dial (D4) */
    uint64_t ref_quit_dropped;     /* frames of a reference node's quit never sent (D14) */
} gs_sim_stats;

/* gs_sim_round_stats: the figures of one round (PROTOCOL.md 10, plus latency figures). */
typedef struct gs_sim_round_stats {
    size_t nmsgs;          /* k: messages broadcast in the round */
    uint64_t expected;     /* E: expected deliveries (live, reachable peers other than sender) */
    uint64_t delivered;    /* first deliveries before the round timeout */
    uint64_t missed;       /* M = expected - delivered */
    uint64_t payload_recv; /* P: Gossip frames of the round's messages received by any node */
    uint16_t ldh;          /* largest Swarm round of a first delivery */
    double rmr;            /* reference: P / (E - M - 1) - 1 (0 when E - M - 1 <= 0) */
    double rmr_paper;      /* paper: P / (E - M) - 1 (m / (n - 1) - 1 for one message) */
    gs_duration max_ttd;   /* longest broadcast-to-first-delivery time */
    gs_duration duration;  /* until every expected delivery happened, or the timeout */
    /* What users feel, per first delivery (percentiles from 0.1 ms / 0.001 histograms, upper
     * bucket edges): latency from the broadcast; stretch = latency / the shortest-path delay from
     * the sender through the overlay as it was at the broadcast (directed active-view links,
     * pair latencies); deliveries at a node that had sent a Graft for the message (the
     * IHave -> graft timer -> Graft repair path). */
    gs_duration lat_p50;
    gs_duration lat_p99;
    double stretch_p50;
    double stretch_p99;
    double stretch_max;
    uint64_t stretch_n;        /* deliveries with a stretch (sender had an overlay path to them) */
    uint64_t graft_deliveries; /* first deliveries that took the graft path */
} gs_sim_round_stats;

/* gs_sim_cfg_default fills |cfg|: 100 peers, seed 0, latency 10-100 ms, no loss, the QUIC
 * timeouts above, 32-byte payloads, trace off, gs_node_cfg_default. */
void gs_sim_cfg_default(gs_sim_cfg *cfg);

/*
 * gs_sim_new creates a simulation of |cfg->npeers| nodes (all down: nothing joined yet) at time 0
 * and stores it in |*psim|.  Node i's id is a valid Ed25519 key carrying i in its first 4 bytes.
 * Returns 0, GS_ERR_INVAL (bad configuration) or GS_ERR_NOMEM.
 */
int gs_sim_new(gs_sim **psim, const gs_sim_cfg *cfg);

/* gs_sim_del frees |sim| and every node; NULL is a no-op. */
void gs_sim_del(gs_sim *sim);

/* gs_sim_topic returns the topic every node joins. */
const gs_topic_id *gs_sim_topic(const gs_sim *sim);
/* gs_sim_now returns the simulated time. */
gs_tstamp gs_sim_now(const gs_sim *sim);
/* gs_sim_npeers returns the number of nodes (up or down). */
size_t gs_sim_npeers(const gs_sim *sim);
/* gs_sim_key returns node |i|'s id. */
const gs_key *gs_sim_key(const gs_sim *sim, size_t i);
/* gs_sim_is_ref returns true if node |i| runs cfg.ref_node (mixed swarms). */
bool gs_sim_is_ref(const gs_sim *sim, size_t i);
/* gs_sim_node returns node |i|'s state, or NULL while it is down. */
gs_node *gs_sim_node(gs_sim *sim, size_t i);
/* gs_sim_is_up returns true if node |i| runs and has joined the topic. */
bool gs_sim_is_up(const gs_sim *sim, size_t i);
/* gs_sim_nup returns the number of nodes up. */
size_t gs_sim_nup(const gs_sim *sim);
/* gs_sim_stats_get returns the network counters. */
const gs_sim_stats *gs_sim_stats_get(const gs_sim *sim);
/* gs_sim_trace_hash returns the digest of every event processed so far (cfg.trace only). */
uint64_t gs_sim_trace_hash(const gs_sim *sim);
/* gs_sim_active_count returns the size of node |i|'s active view (0 when down). */
size_t gs_sim_active_count(const gs_sim *sim, size_t i);
/* gs_sim_isolated returns the number of up nodes whose active view is empty. */
size_t gs_sim_isolated(const gs_sim *sim);
/* gs_sim_views: consistency figures of the overlay (gs_sim_check_views). */
typedef struct gs_sim_views {
    size_t nodes;          /* up nodes examined */
    size_t links;          /* active-view entries over all up nodes */
    size_t asymmetric;     /* a has b active, b is up and does not have a */
    size_t dead_links;     /* active-view entries naming a node that is down, or the previous
                              life of a restarted node (dead connection, idle timeout pending) */
    size_t self_links;     /* a node listing itself (never allowed) */
    size_t bad_eager_lazy; /* eager/lazy entries outside the active view, or in both sets */
    size_t over_capacity;  /* nodes whose active view exceeds its capacity */
    size_t isolated;       /* up nodes with an empty active view */
    size_t components;     /* connected components of the up nodes over active links */
    size_t mem_max;        /* largest gs_node_mem_in_use */
    size_t mem_total;      /* sum of gs_node_mem_in_use */
} gs_sim_views;

/*
 * gs_sim_check_views walks every up node's active, passive, eager and lazy sets and fills |*v|.
 * Returns 0 or GS_ERR_NOMEM.
 */
int gs_sim_check_views(const gs_sim *sim, gs_sim_views *v);

/* gs_sim_conns: the connections open at one moment (gs_sim_count_conns). */
typedef struct gs_sim_conns {
    size_t open;   /* pairs of up nodes whose newest connection is open */
    size_t unused; /* of which neither side has the other active or pending (a leaked
                      connection, D2; ours close these within one latency) */
} gs_sim_conns;

/* gs_sim_count_conns fills |*c| from the current connections.  Returns 0 or GS_ERR_NOMEM. */
int gs_sim_count_conns(const gs_sim *sim, gs_sim_conns *c);

/* gs_sim_node_counters_sum adds every up node's counters into |*sum| (zeroed first). */
void gs_sim_node_counters_sum(const gs_sim *sim, gs_node_counters *sum);

/*
 * gs_sim_start starts node |i| (a fresh state, the same id; a restart after a crash or leave)
 * and joins the topic with the |nboot| bootstrap nodes |boot| (may be 0: wait to be joined).
 * Returns 0, GS_ERR_EXISTS (already up), GS_ERR_INVAL (bad index) or a gs_node error.
 */
int gs_sim_start(gs_sim *sim, size_t i, const size_t *boot, size_t nboot);

/*
 * gs_sim_bootstrap runs section 10's bootstrap: node 0 joins alone, nodes 1..N-1 join node 0 at
 * the current time, then the network runs for 20 x latency_max.  Returns 0 or an error.
 */
int gs_sim_bootstrap(gs_sim *sim);

/*
 * gs_sim_bootstrap_staggered is the alternative to section 10's stampede: node 0 starts alone,
 * then every |gap| one more node starts and joins one uniformly random node started before it;
 * finally the network runs for 20 x latency_max.  Returns 0 or an error.
 */
int gs_sim_bootstrap_staggered(gs_sim *sim, gs_duration gap);

/*
 * gs_sim_crash stops node |i| without a word: its state is discarded, frames to it are lost, and
 * its peers learn of it only through the idle timeout or failing dials.  Returns 0 or
 * GS_ERR_NOTFOUND (not up).
 */
int gs_sim_crash(gs_sim *sim, size_t i);

/*
 * gs_sim_leave makes node |i| quit the topic (gs_node_quit: ShuffleReply + Disconnect{alive:
 * false} to each neighbour), then shuts it down, closing every connection it has open.
 * Returns 0 or GS_ERR_NOTFOUND.
 */
int gs_sim_leave(gs_sim *sim, size_t i);

/*
 * gs_sim_partition splits the network: node i is in group |group[i]| (0 or 1); every frame between
 * the groups is lost from now on.  Returns 0, GS_ERR_EXISTS (already partitioned) or GS_ERR_NOMEM.
 */
int gs_sim_partition(gs_sim *sim, const uint8_t *group);
/* gs_sim_heal ends the partition. */
void gs_sim_heal(gs_sim *sim);
/* gs_sim_reachable returns true if frames between nodes |a| and |b| are not partitioned away. */
bool gs_sim_reachable(const gs_sim *sim, size_t a, size_t b);

/*
 * gs_sim_run_until processes events up to and including time |t| and leaves the clock at |t|.
 * Returns 0, GS_ERR_LIMIT (event queue bound) or GS_ERR_NOMEM.
 */
int gs_sim_run_until(gs_sim *sim, gs_tstamp t);
/* gs_sim_run_for is gs_sim_run_until(now + |d|). */
int gs_sim_run_for(gs_sim *sim, gs_duration d);

/*
 * gs_sim_round broadcasts one unique message from each of the |nsenders| up nodes in |senders|
 * at the same instant and runs until every expected delivery happened or |timeout| passed, then
 * for latency_max more so that duplicates in flight are counted.  Expected receivers of a message
 * are the up nodes other than its sender that are reachable from it (partition).  Fills |*st|.
 * Returns 0, GS_ERR_INVAL (a sender is down), GS_ERR_NOMEM, GS_ERR_LIMIT (an event, pair or
 * round-size bound) or a broadcast error.
 */
int gs_sim_round(gs_sim *sim, const size_t *senders, size_t nsenders, gs_duration timeout,
                 gs_sim_round_stats *st);

/*
 * gs_sim_round_delivered returns true if node |i| delivered message |m| (0-based, in |senders|
 * order) of the last round before its timeout.  For diagnosing missed deliveries.
 */
bool gs_sim_round_delivered(const gs_sim *sim, size_t m, size_t i);

/* --- scenarios (PROTOCOL.md 10 and docs/sim.md) --- */

typedef enum gs_sim_scenario {
    GS_SIM_SINGLE = 0,    /* one fixed random sender, 1 message per round */
    GS_SIM_MULTI = 1,     /* a random sender per round */
    GS_SIM_BURST = 2,     /* every up node sends 1 message per round */
    GS_SIM_CHURN = 3,     /* crashes, leaves and restarts between rounds; random sender */
    GS_SIM_PARTITION = 4, /* rounds before, during and after a partition; random sender */
    GS_SIM_QUIET = 5,     /* bootstrap, then |quiet_time| without broadcasts (membership churn) */
} gs_sim_scenario;

/* gs_sim_scenario_name returns "single", "multi", ...; gs_sim_scenario_parse the reverse
 * (returns 0 or GS_ERR_INVAL). */
const char *gs_sim_scenario_name(gs_sim_scenario sc);
int gs_sim_scenario_parse(const char *name, gs_sim_scenario *psc);

typedef struct gs_sim_run_cfg {
    gs_sim_cfg sim;
    gs_sim_scenario scenario;
    size_t rounds;              /* measured rounds (partition: split in three phases) */
    double kill_fraction;       /* single/multi/burst: crash this fraction after bootstrap and
                                   wait 2 shuffle intervals; churn: nodes churned per round */
    gs_duration crash_warmup;   /* single/multi/burst with kill_fraction: run this long after
                                   bootstrap before the mass crash, 60 s (one shuffle round fills
                                   the passive views; see docs/sim.md) */
    bool staggered_bootstrap;   /* gs_sim_bootstrap_staggered (1 ms gap) instead of section 10's
                                   bootstrap where every node joins node 0 at t = 0 */
    gs_duration round_timeout;  /* 5 s */
    gs_duration churn_interval; /* churn: time between the churn events and the broadcast, 3 s */
    gs_duration partition_time; /* partition: how long the split lasts, 20 s */
    gs_duration heal_wait;      /* partition: time between heal and the next round, 3 s */
    gs_duration quiet_time;     /* quiet: how long the swarm runs after bootstrap, 1 h; other
                                   scenarios: a quiet period after the last round before the
                                   overlay is checked (views_end), 0 */
    /* round_done, if not NULL, is called after every round with its figures. */
    void (*round_done)(void *ud, size_t round, const gs_sim_round_stats *st, const gs_sim *sim);
    void *round_ud;
} gs_sim_run_cfg;

/* gs_sim_report: the result of a scenario (averages over the measured rounds). */
typedef struct gs_sim_report {
    size_t rounds;
    double rmr;
    double rmr_paper;
    double ldh;
    double missed; /* average missed deliveries per round */
    uint64_t missed_total;
    double delivery_ratio; /* delivered / expected over all measured rounds */
    gs_duration max_ttd;   /* worst time to deliver over all rounds */
    /* per-delivery figures over all measured rounds (gs_sim_round_stats) */
    gs_duration lat_p50;
    gs_duration lat_p99;
    double stretch_p50;
    double stretch_p99;
    double stretch_max;
    double graft_share; /* graft-path deliveries / deliveries */
    uint64_t graft_deliveries;
    /* membership churn: NeighborDown events (summed node counters, nodes up at that moment) and
     * DISCONNECT commands during bootstrap and after it (the rest of the run) */
    uint64_t boot_neighbor_down;
    uint64_t boot_disconnects;
    uint64_t after_neighbor_down;
    uint64_t after_disconnects;
    size_t isolated_after_boot; /* up nodes without an active neighbour after bootstrap */
    size_t isolated_at_end;
    size_t nup_at_end;
    size_t crashed;   /* crashes injected */
    size_t left;      /* graceful leaves injected */
    size_t restarted; /* restarts injected */
    /* partition scenario: delivery ratio inside each group while split (informative) */
    double split_delivery_ratio;
    gs_sim_views views_boot; /* overlay right after bootstrap */
    gs_sim_views views_end;  /* overlay at the end */
    gs_sim_conns conns_end;  /* connections at the end */
    gs_tstamp sim_time;      /* simulated time at the end */
    gs_sim_stats stats;
    uint64_t trace_hash;
} gs_sim_report;

/* gs_sim_run_cfg_default fills |rc| for |sc| with gs_sim_cfg_default and 30 rounds (burst: 5). */
void gs_sim_run_cfg_default(gs_sim_run_cfg *rc, gs_sim_scenario sc);

/*
 * gs_sim_run_scenario builds a simulation from |rc|, bootstraps it, runs the scenario and fills
 * |*rep|.  If |psim| is not NULL the simulation is kept there (the caller frees it) for further
 * inspection.  Returns 0 or an error from the functions above.
 */
int gs_sim_run_scenario(const gs_sim_run_cfg *rc, gs_sim_report *rep, gs_sim **psim);

#endif /* GS_TESTS_SIM_SIM_H */
