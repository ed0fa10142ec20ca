/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the Prometheus exposition (see metrics.h, docs/metrics.md).
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include "metrics.h"

#include <assert.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gs_err.h"
#include "udp.h"

#define W(T) (sizeof(T) / sizeof(uint64_t))

static_assert(sizeof(gs_node_counters) % sizeof(uint64_t) == 0, "node counters are uint64_t");
static_assert(sizeof(gs_quic_stats) % sizeof(uint64_t) == 0, "quic stats are uint64_t");
static_assert(sizeof(gs_engine_stats) % sizeof(uint64_t) == 0, "engine stats are uint64_t");
static_assert(sizeof(gs_shard_counters) % sizeof(uint64_t) == 0, "shard counters are uint64_t");
static_assert(sizeof(gs_metrics_gauges) % sizeof(uint64_t) == 0, "gauges are uint64_t");
static_assert(sizeof(gs_metrics_control) % sizeof(uint64_t) == 0, "control is uint64_t");

/* Sources of per-shard words, in slot order. */
enum {
    GS_MSRC_NODE = 0,
    GS_MSRC_QUIC,
    GS_MSRC_ENGINE,
    GS_MSRC_SHARD,
    GS_MSRC_GAUGE,
    GS_MSRC_N,
};

static const size_t src_words[GS_MSRC_N] = {W(gs_node_counters), W(gs_quic_stats),
                                            W(gs_engine_stats), W(gs_shard_counters),
                                            W(gs_metrics_gauges)};
static const char *const src_prefix[GS_MSRC_N] = {"gossip_", "gossip_quic_", "gossip_engine_",
                                                  "gossip_shard_", "gossip_"};

#define SLOT_WORDS                                                                                 \
    (W(gs_node_counters) + W(gs_quic_stats) + W(gs_engine_stats) + W(gs_shard_counters) +          \
     W(gs_metrics_gauges))

/* one exported per-shard figure */
typedef struct field {
    unsigned src;
    size_t off; /* byte offset in the source struct */
    bool gauge;
    const char *name;
    const char *help;
} field;

static const field fields[] = {
    /* gs_node_counters */
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_ctrl_sent), false, "msgs_ctrl_sent",
     "control messages emitted by the protocol"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_ctrl_recv), false, "msgs_ctrl_recv",
     "control messages received into the protocol"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_data_sent), false, "msgs_data_sent",
     "Gossip messages emitted"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_data_recv), false, "msgs_data_recv",
     "Gossip messages received"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_ctrl_sent_size), false, "msgs_ctrl_sent_size",
     "bytes of control messages emitted (body + 32, no length prefix)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_ctrl_recv_size), false, "msgs_ctrl_recv_size",
     "bytes of control messages received (body + 32, no length prefix)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_data_sent_size), false, "msgs_data_sent_size",
     "bytes of Gossip messages emitted (body + 32, no length prefix)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, msgs_data_recv_size), false, "msgs_data_recv_size",
     "bytes of Gossip messages received (body + 32, no length prefix)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, neighbor_up), false, "neighbor_up",
     "NeighborUp events, all topics"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, neighbor_down), false, "neighbor_down",
     "NeighborDown events, all topics"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, actor_tick_rx), false, "actor_tick_rx",
     "API requests (join, broadcast, quit, set_peer_data, ...)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, actor_tick_timers), false, "actor_tick_timers",
     "timers fired"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, actor_tick_in_event_rx), false,
     "actor_tick_in_event_rx", "messages and peer-disconnected events processed"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, decode_errors), false, "decode_errors",
     "gs_node_on_frame bodies the codec rejected"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, unknown_topic), false, "unknown_topic",
     "messages for topics we have not joined (dropped)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, from_self), false, "from_self",
     "messages claiming to come from our own id (dropped)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, bad_id), false, "bad_id",
     "Gossip whose id is not BLAKE3(content) (dropped)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, duplicates), false, "duplicates",
     "Gossip already received (answered with Prune)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, oversize_broadcast), false, "oversize_broadcast",
     "broadcasts refused with GS_ERR_MSG_TOO_LARGE (D6)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, drops_announced), false, "drops_announced",
     "eager pushes the transport dropped, announced by IHave instead"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, repairs_sent), false, "repairs_sent",
     "Graft answers for pushes the transport had dropped (never shed under back-pressure)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, grafts_unserved), false, "grafts_unserved",
     "Grafts for an id no longer cached: nothing to send"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, shuffles_early), false, "shuffles_early",
     "shuffles scheduled early because the passive view was thin"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, refills_escalated), false, "refills_escalated",
     "refill Neighbor requests sent with High priority after refusals"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, unforwardable), false, "unforwardable",
     "received Gossip we could not forward within M (D6)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, round_saturated), false, "round_saturated",
     "forwarded rounds clamped at 65535 (D7)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, ttl_clamped), false, "ttl_clamped",
     "ForwardJoin/Shuffle ttl above the walk length (D12)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, self_refs), false, "self_refs",
     "our own id in a received peer field, ignored (D12)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, ihave_non_neighbor), false, "ihave_non_neighbor",
     "IHave from a peer not in the active view, ignored (D8)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, missing_full), false, "missing_full",
     "IHave ids refused: missing map full (D8)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, announcers_full), false, "announcers_full",
     "IHave announcers refused: per-id list full (D8)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, graft_non_neighbor), false, "graft_non_neighbor",
     "Grafts from non-neighbours (answered, not made eager)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, prune_non_neighbor), false, "prune_non_neighbor",
     "Prunes from non-neighbours (ignored)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, gossip_non_neighbor), false, "gossip_non_neighbor",
     "Gossip from non-neighbours (processed, not made lazy)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, received_evicted), false, "received_evicted",
     "ids dropped from `received` before expiry (bound)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, cache_evicted), false, "cache_evicted",
     "payloads dropped from the cache before expiry (bound)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, pending_full), false, "pending_full",
     "Neighbor requests not sent: max_pending reached"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, peer_data_too_long), false, "peer_data_too_long",
     "PeerData not stored: longer than max_peer_data_len"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, ctrl_truncated), false, "ctrl_truncated",
     "Shuffle/ShuffleReply entries dropped to fit M (D13)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, timers_full), false, "timers_full",
     "timers refused: max_timers reached"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, outbox_full), false, "outbox_full",
     "outbox entries dropped: max_outbox or max_scratch_bytes"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, nomem), false, "nomem",
     "allocations that failed while handling input (input dropped)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, join_retries), false, "join_retries",
     "Joins re-sent while isolated (D16)"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, disconnects), false, "disconnects",
     "DISCONNECT commands emitted"},
    {GS_MSRC_NODE, offsetof(gs_node_counters, neighbor_replies_suppressed), false,
     "neighbor_replies_suppressed", "Neighbors from active peers left unanswered"},
    /* gs_quic_stats */
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, datagrams_in), false, "datagrams_in",
     "datagrams given to gs_quic_ep_on_datagram"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, bytes_in), false, "bytes_in",
     "bytes of the datagrams received"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, packets_out), false, "packets_out",
     "packets written by gs_quic_ep_write"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, bytes_out), false, "bytes_out",
     "bytes of the packets written"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, datagrams_invalid), false, "datagrams_invalid",
     "dropped: not QUIC, too short, malformed, unknown version"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, datagrams_dropped), false, "datagrams_dropped",
     "dropped: valid shape but no use (unknown CID, closing)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, disco_dropped), false, "disco_dropped",
     "iroh 0.35 disco datagrams recognised and dropped"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, version_negotiations), false, "version_negotiations",
     "Version Negotiation packets sent"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, handshakes_started), false, "handshakes_started",
     "server connections created + client dials"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, handshakes_ok), false, "handshakes_ok",
     "handshakes completed, both directions"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, handshakes_failed), false, "handshakes_failed",
     "handshakes that ended without completing"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, handshake_timeouts), false, "handshake_timeouts",
     "of which: by handshake timeout"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, peer_mismatch), false, "peer_mismatch",
     "client dials where the server key was not the dialed id"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, tls_alerts), false, "tls_alerts",
     "handshakes aborted with a TLS alert (either side)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, retries_sent), false, "retries_sent",
     "Retry packets sent"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, tokens_ok), false, "tokens_ok", "Retry tokens accepted"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, tokens_rejected), false, "tokens_rejected",
     "Retry tokens forged, expired or bound to another address"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, resets_sent), false, "resets_sent",
     "stateless resets sent"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, resets_ratelimited), false, "resets_ratelimited",
     "stateless resets not sent because of reset_rate"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, resets_received), false, "resets_received",
     "connections ended by a peer's stateless reset"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, amplification_limited), false, "amplification_limited",
     "times a write was held back by the 3x limit (observed)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, close_waits), false, "close_waits",
     "client closes that waited for the handshake's Finished to leave"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conns_refused), false, "conns_refused",
     "new connections refused by max_conns or max_conns_per_addr"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conns_closed), false, "conns_closed",
     "connections freed"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, idle_timeouts), false, "idle_timeouts",
     "connections closed by idle timeout"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_in), false, "frames_in",
     "frames reported through on_frame"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_out), false, "frames_out",
     "frames accepted by gs_quic_ep_send_frame"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frame_bytes_in), false, "frame_bytes_in",
     "body bytes of the frames received"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frame_bytes_out), false, "frame_bytes_out",
     "bytes accepted by gs_quic_ep_send_frame (prefix included)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_oversize), false, "frames_oversize",
     "received length prefixes above max_message_size"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_refused), false, "frames_refused",
     "sends refused: body >= max_message_size or malformed"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, send_queue_drops), false, "send_queue_drops",
     "sends refused because the connection queue was full"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, data_refused), false, "data_refused",
     "GS_QUIC_SEND_DATA sends refused above send_queue_low"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_ref), false, "frames_ref",
     "frames queued without copying (gs_quic_ep_send_frame_ref)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, frames_released), false, "frames_released",
     "of which: release callbacks made"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, datagrams_stray), false, "datagrams_stray",
     "datagrams for another shard taken by on_stray"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, stream_errors), false, "stream_errors",
     "incoming streams stopped (oversize, bad header, reset)"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, streams_opened), false, "streams_opened",
     "outgoing uni streams opened"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, streams_in), false, "streams_in",
     "incoming uni streams seen"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, bidi_refused), false, "bidi_refused",
     "peer-opened bidirectional streams stopped"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conns_active), true, "conns_active",
     "gauge: connections currently allocated"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, rx_buffer_refused), false, "rx_buffer_refused",
     "incoming streams stopped because rx_buffer_max was reached"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, rx_buffered), true, "rx_buffered",
     "gauge: bytes of partial-frame buffers allocated"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conn_mem), true, "conn_mem",
     "gauge: bytes of ngtcp2 state all connections hold"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conns_refused_prefix), false, "conns_refused_prefix",
     "new connections refused by max_conns_per_prefix"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conns_refused_mem), false, "conns_refused_mem",
     "new connections refused: the receive-memory budget had no room"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, stream_credit_granted), false, "stream_credit_granted",
     "incoming stream credits granted as peers opened streams"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, stream_credit_refused), false, "stream_credit_refused",
     "incoming stream credits not granted: the receive memory budget was full"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, windows_reduced), false, "windows_reduced",
     "connections given a smaller window because receive memory was getting full"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, halfopen_evicted), false, "halfopen_evicted",
     "unfinished handshakes dropped to make room for a new one"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, retries_halfopen), false, "retries_halfopen",
     "Retry packets sent because of half-open load"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, halfopen), true, "halfopen",
     "gauge: accepted connections still handshaking"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, rx_mem_committed), true, "rx_mem_committed",
     "gauge: receive memory charged to all connections"},
    {GS_MSRC_QUIC, offsetof(gs_quic_stats, conn_mem_reclaimed), false, "conn_mem_reclaimed",
     "blocks ngtcp2 still held after freeing a connection, freed by us (ngtcp2 0.12.1 leak)"},
    /* gs_engine_stats */
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, turns), false, "turns", "gs_engine_run_once calls"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, expiries), false, "expiries",
     "gs_quic_ep_handle_expiry calls"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, writes), false, "writes",
     "gs_quic_ep_write calls that produced packets"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, tx_blocked), false, "tx_blocked",
     "turns that stopped writing because every send slot was in flight"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, tx_errors), false, "tx_errors",
     "runs that could not be queued (dropped; QUIC retransmits)"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, write_errors), false, "write_errors",
     "gs_quic_ep_write failures"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, no_socket), false, "no_socket",
     "runs whose local address matched no socket (sent from socket 0)"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, untracked), false, "untracked",
     "connections not tracked for shutdown (set full; never expected)"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, busy_turns), false, "busy_turns",
     "turns that did not sleep because data was waiting to be written"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, strays_forwarded), false, "strays_forwarded",
     "datagrams for another shard given to on_stray"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, strays_dropped), false, "strays_dropped",
     "datagrams for another shard dropped (no on_stray, bad index)"},
    {GS_MSRC_ENGINE, offsetof(gs_engine_stats, injected), false, "injected",
     "datagrams given to gs_engine_inject_datagram"},
    /* gs_shard_counters */
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, frames_local), false, "frames_local",
     "frames handed to our node from our own connections"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, frames_forwarded), false, "frames_forwarded",
     "frames forwarded to the topic's shard"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, frames_remote), false, "frames_remote",
     "frames received from other shards"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, sends_local), false, "sends_local",
     "frames queued on our own connections"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, sends_forwarded), false, "sends_forwarded",
     "frames sent through another shard"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, sends_remote), false, "sends_remote",
     "frames other shards asked us to send"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, encodes), false, "encodes", "frames encoded"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, encode_reuses), false, "encode_reuses",
     "SENDs that reused the previous encoding (encode once)"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, gossip_dropped), false, "gossip_dropped",
     "Gossip not queued: peer over send_queue_low"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, drops_unannounced), false, "drops_unannounced",
     "dropped Gossip not announced by IHave (pending list full)"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, send_errors), false, "send_errors",
     "frames refused by the transport"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, send_no_path), false, "send_no_path",
     "frames for a peer with no path (dropped)"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, peers_behind_closed), false, "peers_behind_closed",
     "connections closed: peer behind longer than allowed"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, dials), false, "dials", "dials started"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, dial_failures), false, "dial_failures",
     "dials that failed"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, dial_no_addr), false, "dial_no_addr",
     "sends for a peer with no known address"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, dial_queue_drops), false, "dial_queue_drops",
     "frames dropped: dial queue full"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, conns_up), false, "conns_up",
     "connections established"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, conns_down), false, "conns_down",
     "send paths closed"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, drain_closes), false, "drain_closes",
     "unused connections closed after the drain period"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, relay_joins), false, "relay_joins",
     "topics joined because a peer sent Join (relay)"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, relay_refused), false, "relay_refused",
     "Joins refused: denied, not allowed or cap reached"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, relay_idle_quits), false, "relay_idle_quits",
     "relayed topics quit after being idle"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, peers_full), false, "peers_full",
     "peer records refused: limits.max_peers"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, addrs_learned), false, "addrs_learned",
     "addresses learned from PeerData"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, mbox_refused), false, "mbox_refused",
     "records we could not send (backlog full)"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, events), false, "events",
     "events sent to the control thread"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, strays), false, "strays",
     "stray datagrams forwarded to their shard"},
    {GS_MSRC_SHARD, offsetof(gs_shard_counters, strays_injected), false, "strays_injected",
     "stray datagrams other shards forwarded to us"},
    /* gs_metrics_gauges */
    {GS_MSRC_GAUGE, offsetof(gs_metrics_gauges, peers), true, "peers",
     "peers whose connection this shard holds"},
    {GS_MSRC_GAUGE, offsetof(gs_metrics_gauges, topics), true, "topics",
     "topics this shard holds (joined and relayed)"},
    {GS_MSRC_GAUGE, offsetof(gs_metrics_gauges, relayed_topics), true, "relayed_topics",
     "topics this shard relays (joined because a peer sent Join)"},
    {GS_MSRC_GAUGE, offsetof(gs_metrics_gauges, subscribers), true, "subscribers",
     "control-socket subscriptions on this shard's topics"},
    {GS_MSRC_GAUGE, offsetof(gs_metrics_gauges, conns), true, "connections",
     "QUIC connections this shard holds"},
};

/* drops by reason: gossip_dropped{shard, reason} */
typedef struct drop {
    const char *reason;
    unsigned src;
    size_t off;
} drop;

#define DN(f) GS_MSRC_NODE, offsetof(gs_node_counters, f)
#define DQ(f) GS_MSRC_QUIC, offsetof(gs_quic_stats, f)
#define DE(f) GS_MSRC_ENGINE, offsetof(gs_engine_stats, f)
#define DS(f) GS_MSRC_SHARD, offsetof(gs_shard_counters, f)

static const drop drops[] = {
    {"decode_error", DN(decode_errors)},
    {"unknown_topic", DN(unknown_topic)},
    {"from_self", DN(from_self)},
    {"bad_id", DN(bad_id)},
    {"oversize_broadcast", DN(oversize_broadcast)},
    {"unforwardable", DN(unforwardable)},
    {"missing_full", DN(missing_full)},
    {"announcers_full", DN(announcers_full)},
    {"received_evicted", DN(received_evicted)},
    {"cache_evicted", DN(cache_evicted)},
    {"pending_full", DN(pending_full)},
    {"peer_data_too_long", DN(peer_data_too_long)},
    {"ctrl_truncated", DN(ctrl_truncated)},
    {"timers_full", DN(timers_full)},
    {"outbox_full", DN(outbox_full)},
    {"nomem", DN(nomem)},
    {"datagram_invalid", DQ(datagrams_invalid)},
    {"datagram_unused", DQ(datagrams_dropped)},
    {"disco", DQ(disco_dropped)},
    {"frame_oversize", DQ(frames_oversize)},
    {"frame_refused", DQ(frames_refused)},
    {"send_queue_full", DQ(send_queue_drops)},
    {"data_backpressure", DQ(data_refused)},
    {"stream_error", DQ(stream_errors)},
    {"rx_buffer_full", DQ(rx_buffer_refused)},
    {"conn_refused", DQ(conns_refused)},
    {"tx_error", DE(tx_errors)},
    {"stray_dropped", DE(strays_dropped)},
    {"gossip_backpressure", DS(gossip_dropped)},
    {"drop_unannounced", DS(drops_unannounced)},
    {"conn_refused_prefix", DQ(conns_refused_prefix)},
    {"conn_refused_mem", DQ(conns_refused_mem)},
    {"halfopen_evicted", DQ(halfopen_evicted)},
    {"send_error", DS(send_errors)},
    {"send_no_path", DS(send_no_path)},
    {"dial_queue_full", DS(dial_queue_drops)},
    {"mailbox_full", DS(mbox_refused)},
    {"peers_full", DS(peers_full)},
    {"relay_refused", DS(relay_refused)},
};

typedef struct slot {
    _Alignas(64) _Atomic uint64_t w[SLOT_WORDS];
    _Atomic int clock;     /* clockid_t of the shard's thread */
    _Atomic int clock_set; /* 1 once |clock| is valid */
} slot;

struct gs_metrics {
    unsigned nshards;
    const gs_mesh *mesh;
    char id_hex[65];
    char version[32];
    struct timespec started;
    slot *slots;
    _Atomic uint64_t ctl[W(gs_metrics_control)];
    struct MHD_Daemon *httpd;
    _Atomic uint64_t scrapes;
};

static size_t src_base(unsigned src)
{
    size_t b = 0;

    for (unsigned i = 0; i < src; ++i) {
        b += src_words[i];
    }
    return b;
}

int gs_metrics_new(gs_metrics **pm, unsigned nshards, const gs_mesh *mesh, const char *id_hex,
                   const char *version)
{
    gs_metrics *m;

    if (pm == NULL || nshards == 0) {
        return GS_ERR_INVAL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return GS_ERR_NOMEM;
    }
    m->slots = aligned_alloc(64, sizeof(slot) * nshards);
    if (m->slots == NULL) {
        free(m);
        return GS_ERR_NOMEM;
    }
    for (unsigned s = 0; s < nshards; ++s) {
        for (size_t i = 0; i < SLOT_WORDS; ++i) {
            atomic_init(&m->slots[s].w[i], 0);
        }
        atomic_init(&m->slots[s].clock, 0);
        atomic_init(&m->slots[s].clock_set, 0);
    }
    for (size_t i = 0; i < W(gs_metrics_control); ++i) {
        atomic_init(&m->ctl[i], 0);
    }
    atomic_init(&m->scrapes, 0);
    m->nshards = nshards;
    m->mesh = mesh;
    (void)snprintf(m->id_hex, sizeof(m->id_hex), "%s", id_hex != NULL ? id_hex : "");
    (void)snprintf(m->version, sizeof(m->version), "%s", version != NULL ? version : "");
    (void)clock_gettime(CLOCK_MONOTONIC, &m->started);
    *pm = m;
    return 0;
}

void gs_metrics_del(gs_metrics *m)
{
    if (m == NULL) {
        return;
    }
    if (m->httpd != NULL) {
        MHD_stop_daemon(m->httpd);
    }
    free(m->slots);
    free(m);
}

void gs_metrics_set_cpu_clock(gs_metrics *m, unsigned shard, clockid_t clock)
{
    if (m == NULL || shard >= m->nshards) {
        return;
    }
    atomic_store_explicit(&m->slots[shard].clock, (int)clock, memory_order_relaxed);
    atomic_store_explicit(&m->slots[shard].clock_set, 1, memory_order_release);
}

/* copy: relaxed stores of |n| words read from |src| (a struct of uint64_t) */
static void copy_words(_Atomic uint64_t *dst, const void *src, size_t n)
{
    const unsigned char *p = src;

    for (size_t i = 0; i < n; ++i) {
        uint64_t v;

        memcpy(&v, p + i * sizeof(v), sizeof(v));
        atomic_store_explicit(&dst[i], v, memory_order_relaxed);
    }
}

void gs_metrics_publish_shard(gs_metrics *m, unsigned shard, const gs_shard_counters *sc,
                              const gs_node_counters *nc, const gs_quic_stats *qs,
                              const gs_engine_stats *es, const gs_metrics_gauges *g)
{
    _Atomic uint64_t *w;

    if (m == NULL || shard >= m->nshards) {
        return;
    }
    w = m->slots[shard].w;
    if (nc != NULL) {
        copy_words(w + src_base(GS_MSRC_NODE), nc, src_words[GS_MSRC_NODE]);
    }
    if (qs != NULL) {
        copy_words(w + src_base(GS_MSRC_QUIC), qs, src_words[GS_MSRC_QUIC]);
    }
    if (es != NULL) {
        copy_words(w + src_base(GS_MSRC_ENGINE), es, src_words[GS_MSRC_ENGINE]);
    }
    if (sc != NULL) {
        copy_words(w + src_base(GS_MSRC_SHARD), sc, src_words[GS_MSRC_SHARD]);
    }
    if (g != NULL) {
        copy_words(w + src_base(GS_MSRC_GAUGE), g, src_words[GS_MSRC_GAUGE]);
    }
}

void gs_metrics_publish_control(gs_metrics *m, const gs_metrics_control *c)
{
    if (m == NULL || c == NULL) {
        return;
    }
    copy_words(m->ctl, c, W(gs_metrics_control));
}

/* ---- rendering ---- */

typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    for (;;) {
        size_t room = b->cap - b->len;

        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = b->cap * 2 + (size_t)n;
            char *p = realloc(b->p, cap);

            if (p == NULL) {
                b->failed = true;
                return;
            }
            b->p = p;
            b->cap = cap;
        }
    }
}

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t word(const gs_metrics *m, unsigned shard, unsigned src, size_t off)
{
    return atomic_load_explicit(&m->slots[shard].w[src_base(src) + off / sizeof(uint64_t)],
                                memory_order_relaxed);
}

static double ts_seconds(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

/* process_resident_memory_bytes from /proc/self/statm (0 when unreadable) */
static uint64_t rss_bytes(void)
{
    unsigned long size = 0;
    unsigned long res = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%lu %lu", &size, &res) != 2) {
        res = 0;
    }
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void render_mesh(sbuf *b, const gs_metrics *m)
{
    static const struct {
        const char *name;
        size_t off;
        const char *type;
        const char *help;
    } mf[] = {
        {"gossip_mailbox_sent_total", offsetof(gs_mesh_stats, sent), "counter",
         "cross-thread records this thread published"},
        {"gossip_mailbox_received_total", offsetof(gs_mesh_stats, received), "counter",
         "cross-thread records this thread consumed"},
        {"gossip_mailbox_backlogged_total", offsetof(gs_mesh_stats, backlogged), "counter",
         "records that waited in the sender's backlog because a ring was full"},
        {"gossip_mailbox_refused_total", offsetof(gs_mesh_stats, refused), "counter",
         "records refused because the backlog was full (dropped)"},
        {"gossip_mailbox_wakes_total", offsetof(gs_mesh_stats, wakes), "counter",
         "doorbells this thread rang"},
        {"gossip_mailbox_backlog", offsetof(gs_mesh_stats, backlog), "gauge",
         "records now waiting in this thread's backlogs (queue depth)"},
    };
    gs_mesh_stats st[257];
    unsigned n = m->nshards + 1;

    if (m->mesh == NULL) {
        return;
    }
    if (n > sizeof(st) / sizeof(st[0])) {
        n = sizeof(st) / sizeof(st[0]);
    }
    for (unsigned e = 0; e < n; ++e) {
        gs_mesh_stats_get(m->mesh, e, &st[e]);
    }
    for (size_t f = 0; f < sizeof(mf) / sizeof(mf[0]); ++f) {
        family(b, mf[f].name, mf[f].type, mf[f].help);
        for (unsigned e = 0; e < n; ++e) {
            uint64_t v;

            memcpy(&v, (const unsigned char *)&st[e] + mf[f].off, sizeof(v));
            if (e < m->nshards) {
                sb_printf(b, "%s{shard=\"%u\"} %llu\n", mf[f].name, e, (unsigned long long)v);
            } else {
                sb_printf(b, "%s{shard=\"control\"} %llu\n", mf[f].name, (unsigned long long)v);
            }
        }
    }
}

int gs_metrics_render(gs_metrics *m, char **out, size_t *len)
{
    static const struct {
        const char *name;
        size_t off;
        const char *type;
        const char *help;
    } cf[] = {
        {"gossip_control_requests_total", offsetof(gs_metrics_control, requests), "counter",
         "control-socket requests answered"},
        {"gossip_control_errors_total", offsetof(gs_metrics_control, errors), "counter",
         "control-socket requests answered with an error"},
        {"gossip_control_refused_clients_total", offsetof(gs_metrics_control, refused_clients),
         "counter", "control clients refused (control.max_clients)"},
        {"gossip_control_events_dropped_total", offsetof(gs_metrics_control, events_dropped),
         "counter", "events lost because a subscriber did not read fast enough"},
        {"gossip_control_clients", offsetof(gs_metrics_control, clients), "gauge",
         "control clients connected"},
        {"gossip_lagged_subscribers", offsetof(gs_metrics_control, lagged_subscribers), "gauge",
         "control clients now losing events (lagged)"},
    };
    sbuf b = {0};
    struct timespec now;
    struct rusage ru;
    char name[128];

    b.cap = 64 * 1024;
    b.p = malloc(b.cap);
    if (b.p == NULL) {
        return GS_ERR_NOMEM;
    }
    b.p[0] = '\0';
    atomic_fetch_add_explicit(&m->scrapes, 1, memory_order_relaxed);

    family(&b, "gossip_info", "gauge", "always 1: the node's endpoint id and version");
    sb_printf(&b, "gossip_info{id=\"%s\",version=\"%s\"} 1\n", m->id_hex, m->version);
    family(&b, "gossip_shards", "gauge", "shard threads");
    sb_printf(&b, "gossip_shards %u\n", m->nshards);
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    family(&b, "gossip_uptime_seconds", "gauge", "seconds since the process started serving");
    sb_printf(&b, "gossip_uptime_seconds %.3f\n", ts_seconds(&now) - ts_seconds(&m->started));
    family(&b, "gossip_scrapes_total", "counter", "requests for /metrics served");
    sb_printf(&b, "gossip_scrapes_total %llu\n",
              (unsigned long long)atomic_load_explicit(&m->scrapes, memory_order_relaxed));
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        family(&b, "process_cpu_seconds_total", "counter",
               "user and system CPU time of the whole process");
        sb_printf(&b, "process_cpu_seconds_total %.6f\n",
                  (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
        family(&b, "process_max_resident_memory_bytes", "gauge", "peak resident set size");
        sb_printf(&b, "process_max_resident_memory_bytes %llu\n",
                  (unsigned long long)ru.ru_maxrss * 1024ULL);
    }
    family(&b, "process_resident_memory_bytes", "gauge", "resident set size");
    sb_printf(&b, "process_resident_memory_bytes %llu\n", (unsigned long long)rss_bytes());

    family(&b, "gossip_shard_cpu_seconds_total", "counter", "CPU time of each shard's thread");
    for (unsigned s = 0; s < m->nshards; ++s) {
        struct timespec ts;

        if (atomic_load_explicit(&m->slots[s].clock_set, memory_order_acquire) == 0) {
            continue;
        }
        if (clock_gettime((clockid_t)atomic_load_explicit(&m->slots[s].clock, memory_order_relaxed),
                          &ts) == 0) {
            sb_printf(&b, "gossip_shard_cpu_seconds_total{shard=\"%u\"} %.6f\n", s,
                      ts_seconds(&ts));
        }
    }

    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); ++f) {
        const field *fd = &fields[f];

        (void)snprintf(name, sizeof(name), "%s%s%s", src_prefix[fd->src], fd->name,
                       fd->gauge ? "" : "_total");
        family(&b, name, fd->gauge ? "gauge" : "counter", fd->help);
        for (unsigned s = 0; s < m->nshards; ++s) {
            sb_printf(&b, "%s{shard=\"%u\"} %llu\n", name, s,
                      (unsigned long long)word(m, s, fd->src, fd->off));
        }
    }

    family(&b, "gossip_dropped_total", "counter",
           "everything dropped or refused, by reason (each also has its own counter)");
    for (size_t d = 0; d < sizeof(drops) / sizeof(drops[0]); ++d) {
        for (unsigned s = 0; s < m->nshards; ++s) {
            sb_printf(&b, "gossip_dropped_total{shard=\"%u\",reason=\"%s\"} %llu\n", s,
                      drops[d].reason, (unsigned long long)word(m, s, drops[d].src, drops[d].off));
        }
    }

    render_mesh(&b, m);

    for (size_t f = 0; f < sizeof(cf) / sizeof(cf[0]); ++f) {
        family(&b, cf[f].name, cf[f].type, cf[f].help);
        sb_printf(&b, "%s %llu\n", cf[f].name,
                  (unsigned long long)atomic_load_explicit(&m->ctl[cf[f].off / sizeof(uint64_t)],
                                                           memory_order_relaxed));
    }
    if (b.failed) {
        free(b.p);
        return GS_ERR_NOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* ---- HTTP ---- */

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
    gs_metrics *m = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    size_t len = 0;
    static const char not_found[] = "not found: try /metrics\n";
    static const char bad_method[] = "only GET and HEAD\n";

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        resp = MHD_create_response_from_buffer(
            sizeof(bad_method) - 1, (void *)(uintptr_t)bad_method, MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)(uintptr_t)not_found,
                                               MHD_RESPMEM_PERSISTENT);
    } else if (gs_metrics_render(m, &body, &len) < 0) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(body);
        } else {
            (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                          "text/plain; version=0.0.4; charset=utf-8");
        }
    }
    if (resp == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int gs_metrics_listen(gs_metrics *m, const char *addr, char *bound, size_t cap)
{
    gs_udp_addr a;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    if (m == NULL || addr == NULL || gs_udp_addr_parse(&a, addr) < 0) {
        return GS_ERR_INVAL;
    }
    if (a.u.sa.sa_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, serve, m, MHD_OPTION_SOCK_ADDR, &a.u.sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (m->httpd == NULL) {
        return GS_ERR_IO;
    }
    info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
    if (info != NULL) {
        if (a.u.sa.sa_family == AF_INET6) {
            a.u.in6.sin6_port = htons(info->port);
        } else {
            a.u.in4.sin_port = htons(info->port);
        }
    }
    if (bound != NULL && cap > 0) {
        bound[0] = '\0';
        (void)gs_udp_addr_format(&a, bound, cap);
    }
    return 0;
}
