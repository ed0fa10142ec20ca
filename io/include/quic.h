/* SPDX-License-Identifier: MIT */
/*
 * quic.h: one shard's QUIC endpoint (ngtcp2 0.12.1 + GnuTLS, RFC 7250 raw-public-key TLS with
 * iroh identities, PROTOCOL.md 2, 3 and 11).
 *
 * The endpoint is socket-free and clock-free: the engine hands it UDP datagrams
 * (gs_quic_ep_on_datagram) and timer expiries (gs_quic_ep_handle_expiry) with the current time,
 * and pulls the packets to send with gs_quic_ep_write into a caller-provided batch that is laid
 * out for GSO.  Everything the layer above must know (connections up and down, frames received,
 * queues drained) is reported through the gs_quic_callbacks given at creation.
 *
 * Gossip framing lives here: for each (connection, topic) the endpoint keeps one outgoing
 * unidirectional stream, opened lazily; its first frame is the 32-byte topic stream header, then
 * the u32-BE length-prefixed frames queued by gs_quic_ep_send_frame.  Incoming uni streams are
 * cut into frames; only complete frames after the header are reported.
 *
 * Threading: an endpoint belongs to one shard thread; no function is thread-safe.
 * Re-entrancy: every function that takes input (send_frame, finish_stream, close, connect) may be
 * called from inside a callback: they only queue work, which the next gs_quic_ep_write performs.
 * gs_quic_ep_del must not be called from a callback.
 *
 * Connections are named by gs_quic_conn_id handles (never 0).  A handle stays unique for the
 * endpoint's lifetime (slot index + generation), so a stale handle is detected (GS_ERR_NOTFOUND)
 * instead of reaching a reused connection.
 */
#ifndef GS_IO_QUIC_H
#define GS_IO_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "gs_err.h"
#include "gs_mem.h"
#include "gs_time.h"
#include "identity.h"

#define GS_QUIC_ALPN_GOSSIP "/iroh-gossip/1"
/* The previous wire (iroh-gossip <= 0.35, PROTOCOL.md 12): one bidirectional stream per
 * connection, opened by the dialer; every frame is u32-BE length + topic (32 bytes) + message.
 * Accepted and offered when it is one of cfg.alpn (gs_quic_cfg_enable_v0). */
#define GS_QUIC_ALPN_GOSSIP_V0 "/iroh-gossip/0"
#define GS_QUIC_ALPN_MAX       4  /* ALPN entries in a gs_quic_cfg */
#define GS_QUIC_ALPN_MAXLEN    64 /* bytes per ALPN entry, without the NUL */
#define GS_QUIC_TOPIC_LEN      32 /* bytes in a topic id */
#define GS_QUIC_FRAME_PREFIX   4  /* bytes in a frame's length prefix */
#define GS_QUIC_CID_LEN        16 /* bytes in the connection ids this endpoint issues */
/* Most UDP payload bytes in one packet this endpoint writes (cfg.max_packet_size's ceiling). */
#define GS_QUIC_MAX_PACKET 1452
/* Bytes at the start of an iroh 0.35 "disco" datagram: "TS" + the UTF-8 of U+1F4AC. */
#define GS_QUIC_DISCO_MAGIC     "\x54\x53\xf0\x9f\x92\xac"
#define GS_QUIC_DISCO_MAGIC_LEN 6

/* gs_quic_conn_id: a connection handle (0 is never a valid handle). */
typedef uint64_t gs_quic_conn_id;

/* gs_quic_addr: a UDP address (IPv4 or IPv6), copied by value everywhere. */
typedef struct gs_quic_addr {
    socklen_t len; /* sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6) */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
} gs_quic_addr;

/*
 * gs_quic_addr_set copies the |len|-byte |sa| (AF_INET or AF_INET6) into |addr|.  Returns 0 or
 * GS_ERR_INVAL (other families, short length).
 */
int gs_quic_addr_set(gs_quic_addr *addr, const struct sockaddr *sa, socklen_t len);

/* gs_quic_retry_mode: when the server answers an Initial without a valid token with Retry. */
typedef enum gs_quic_retry_mode {
    GS_QUIC_RETRY_OFF = 0,    /* never (address validated by the handshake only) */
    GS_QUIC_RETRY_ALWAYS = 1, /* every new connection must present a Retry token */
    GS_QUIC_RETRY_AUTO = 2,   /* only while new handshakes exceed cfg.retry_auto_rate per second */
} gs_quic_retry_mode;

/* gs_quic_dir: who opened a connection. */
typedef enum gs_quic_dir {
    GS_QUIC_DIR_OUT = 0, /* we dialed (client) */
    GS_QUIC_DIR_IN = 1,  /* the peer dialed (server) */
} gs_quic_dir;

/* gs_quic_cfg: endpoint configuration.  Start from gs_quic_cfg_default and change fields. */
typedef struct gs_quic_cfg {
    /* ALPN protocols offered (client) / accepted (server), in preference order. */
    char alpn[GS_QUIC_ALPN_MAX][GS_QUIC_ALPN_MAXLEN + 1];
    size_t nalpn;
    uint32_t max_message_size; /* M: frames with body >= M are refused on send, > M on receive */
    gs_duration idle_timeout;  /* advertised max_idle_timeout (30 s) */
    gs_duration keep_alive;    /* PING after this long without sending; 0 = off (5 s) */
    gs_duration handshake_timeout; /* give up an unfinished handshake (10 s) */
    /* ack_coalesce: while nothing of ours is unacknowledged on a connection, its timers (the
     * delayed ACK, in practice) may run this much later, within the max_ack_delay we advertise
     * (25 ms) less the smoothed RTT / 8 that ngtcp2 0.12.1 already takes (5 ms; 0 = off, at most
     * 25 ms).  A lone packet on a short path is then acknowledged with the next one (ack_thresh
     * 2) or with our next packet to that peer, instead of by a wake-up 0.1 ms later. */
    gs_duration ack_coalesce;
    uint64_t stream_window;     /* per-stream receive window, bytes (4 MiB) */
    uint64_t conn_window;       /* per-connection receive window, bytes (16 MiB) */
    uint64_t max_uni_streams;   /* concurrent incoming uni streams allowed per connection (128) */
    uint64_t stream_credit;     /* incoming uni streams a peer may open beyond the ones it has
                                   opened: each stream it opens earns one more (and is charged
                                   then, see rx_mem_max), up to max_uni_streams (8) */
    size_t max_conns;           /* connections, all states, global (16384) */
    size_t max_conns_per_addr;  /* connections per remote IP address, both directions (64) */
    size_t max_topics_per_conn; /* outgoing topic streams queued per connection (1024) */
    size_t send_queue_max;      /* unacked queued bytes per connection before sends fail (8 MiB) */
    size_t send_queue_low;      /* low watermark: GS_QUIC_SEND_DATA frames are refused while a
                                   connection has more than this queued, and the peer counts as
                                   behind (gs_quic_ep_peer_behind_since); values above
                                   send_queue_max act as send_queue_max (1 MiB) */
    gs_quic_retry_mode retry_mode; /* GS_QUIC_RETRY_AUTO */
    uint32_t retry_auto_rate;    /* new handshakes per second above which AUTO sends Retry (2000) */
    gs_duration retry_token_ttl; /* lifetime of a Retry token (10 s) */
    uint32_t reset_rate;       /* stateless resets per second (token bucket, burst = rate) (100) */
    size_t max_packet_size;    /* UDP payload bytes per packet we write, <= GS_QUIC_MAX_PACKET
                                  (1452) */
    uint8_t shard;             /* byte 0 of every connection id we issue (DESIGN.md steering) */
    bool send_sni;             /* client sends the iroh TLS name as SNI (false: no SNI) */
    size_t rx_buffer_max;      /* bytes of partial-frame buffers (max_message_size each, one per
                                  incoming stream with a frame spanning packets), all connections
                                  (64 MiB); see rx_buffer_conn_max for who gives way when full */
    size_t rx_buffer_conn_max; /* one connection's share of rx_buffer_max: a connection at its
                                  share reuses its own oldest buffer (that stream is stopped);
                                  0 = rx_buffer_max / 64; at least max_message_size (0) */
    /*
     * Receive memory (docs/quic.md "Admission and memory limits").  ngtcp2 keeps out-of-order
     * stream data in 8 KiB chunks until the gap before it fills, so what a peer can make us hold
     * is bounded by the flow-control window we advertise, plus up to two partly used chunks per
     * stream it may open (GS_QUIC_RX_STREAM_OVERHEAD each).  A connection's charge is
     * window + (streams it may have open, +1 with /0) * GS_QUIC_RX_STREAM_OVERHEAD: stream_credit
     * at first, one more for each stream the peer opens (granted only while the budgets below
     * have room), at most max_uni_streams.
     */
    size_t rx_mem_conn_max;   /* one connection's charge: its window is cut to fit (0: conn_window
                                 plus the stream overhead, i.e. windows as configured; else at
                                 least (max_uni_streams + 1) * GS_QUIC_RX_STREAM_OVERHEAD +
                                 GS_QUIC_MIN_WINDOW) */
    size_t rx_mem_max;        /* all connections' charges together: once half of it is taken, a
                                 new connection's window is halved until its charge fits in the
                                 other half's room (down to GS_QUIC_MIN_WINDOW); one that cannot fit
                                 even then is refused (1 GiB) */
    size_t rx_mem_prefix_max; /* the charges of the connections one prefix (see below) opened to
                                 us: the same halving and refusal (0: rx_mem_max / 4) */
    /* Per-prefix limits: IPv4 and IPv6 addresses are grouped by their first prefix4_len /
     * prefix6_len bits (one /64 holds 2^64 addresses, so a per-address cap alone is no cap). */
    uint8_t prefix4_len;            /* 8..32 (24) */
    uint8_t prefix6_len;            /* 16..128 (64) */
    size_t max_conns_per_prefix;    /* connections per prefix, both directions (256) */
    size_t max_halfopen;            /* accepted connections still handshaking, global (1024) */
    size_t max_halfopen_per_prefix; /* the same per prefix (64) */
    gs_duration halfopen_timeout;   /* handshake timeout of accepted connections (5 s) */
} gs_quic_cfg;

/* Smallest flow-control window a connection is given under rx_mem_max pressure. */
#define GS_QUIC_MIN_WINDOW ((size_t)64 << 10)
/* Receive memory charged per stream a peer may open: ngtcp2's reorder chunks are 8 KiB and a
 * stream's unread span can touch two chunks beyond its share of the window. */
#define GS_QUIC_RX_STREAM_OVERHEAD ((size_t)16 << 10)

/* gs_quic_cfg_default fills |cfg| with the defaults shown above (ALPN "/iroh-gossip/1"). */
void gs_quic_cfg_default(gs_quic_cfg *cfg);

/*
 * gs_quic_cfg_enable_v0 appends GS_QUIC_ALPN_GOSSIP_V0 to |cfg|'s ALPN list (after the ones
 * there, so "/iroh-gossip/1" stays preferred: a dial offers both and a server picks its first
 * that the client offers).  Returns 0 (also when already present) or GS_ERR_LIMIT (list full).
 */
int gs_quic_cfg_enable_v0(gs_quic_cfg *cfg);

/*
 * gs_quic_callbacks: how the endpoint reports to the layer above.  Any pointer may be NULL.
 * Pointers passed to a callback (peer ids, topics, bodies, reason strings) are borrowed and valid
 * only during the call.  |user_data| is passed back unchanged.
 */
typedef struct gs_quic_callbacks {
    void *user_data;
    /* on_connected: the handshake of |conn| completed; |peer| is the verified endpoint id (the
     * dialed one for GS_QUIC_DIR_OUT, the one from the client's SPKI for GS_QUIC_DIR_IN).  |conn|
     * is now the send path to |peer| ("newest wins", PROTOCOL.md 3.5). */
    void (*on_connected)(void *user_data, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                         gs_quic_dir dir);
    /* on_frame: one complete frame arrived on |conn| for |topic|; |body| (|len| bytes, the
     * length prefix stripped, len <= max_message_size) is valid only during the call. */
    void (*on_frame)(void *user_data, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN],
                     const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *body, size_t len);
    /*
     * on_closed: |conn| is gone for sending (it may linger a few RTTs to drain).  Reported for
     * every connection we dialed (also when the dial failed) and for every accepted connection
     * that reached on_connected; never twice.  |rv| says why: 0 (closed by us with
     * gs_quic_ep_close or at gs_quic_ep_del), GS_ERR_CLOSED (the peer closed; |app_error| holds
     * its code), GS_ERR_TIMEOUT (idle or handshake timeout), GS_ERR_PEER_MISMATCH (the server's
     * key is not the dialed id), GS_ERR_TLS (handshake failed: |reason| names the alert),
     * GS_ERR_PROTO / GS_ERR_QUIC (transport error), GS_ERR_NOMEM.  |reason| is a NUL-terminated
     * human-readable explanation.  |was_send_path| is true if |conn| was the newest connection to
     * |peer| (only then should topics be told the peer disconnected).  |peer| is the dialed id
     * for outgoing connections and the verified id for incoming ones.
     */
    void (*on_closed)(void *user_data, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN], int rv,
                      uint64_t app_error, const char *reason, bool was_send_path);
    /* on_writable: |conn|'s send queue, which refused a frame with GS_ERR_AGAIN, has drained
     * below half of the limit that refused it (send_queue_low for GS_QUIC_SEND_DATA frames,
     * send_queue_max otherwise). */
    void (*on_writable)(void *user_data, gs_quic_conn_id conn, const uint8_t peer[GS_ID_LEN]);
    /*
     * on_stray: a datagram that no connection here matched arrived, and its 16-byte destination
     * connection id starts with |owner| (the steering byte, DESIGN.md) != cfg.shard: it may
     * belong to another shard's endpoint.  |data| (|len| bytes) and the addresses are borrowed
     * for the call.  Return true when the datagram was taken (the layer above hands a copy to the
     * owner's gs_quic_ep_on_datagram; counted in datagrams_stray), false to let this endpoint
     * handle it as before: a client's Initial is accepted here (its id is the client's choice),
     * anything else is dropped (datagrams_dropped).  NULL: always false.
     */
    bool (*on_stray)(void *user_data, unsigned owner, const gs_quic_addr *local,
                     const gs_quic_addr *remote, const uint8_t *data, size_t len, uint8_t ecn);
} gs_quic_callbacks;

/*
 * gs_quic_send_class: how a frame is treated under back-pressure.  Control frames (HyParView,
 * Prune, Graft, IHave) keep the protocol's state consistent and are never refused for
 * back-pressure, only by the hard cap send_queue_max (counted in send_queue_drops).  Data frames
 * (Gossip) are refused first, once the connection has more than send_queue_low bytes queued
 * (counted in data_refused): PlumTree repairs a lost Gossip through IHave and Graft.
 */
typedef enum gs_quic_send_class {
    GS_QUIC_SEND_CONTROL = 0,
    GS_QUIC_SEND_DATA = 1,
} gs_quic_send_class;

/*
 * gs_quic_stats: monotonically increasing counters (single writer: the owning shard), plus a few
 * gauges marked as such.
 */
typedef struct gs_quic_stats {
    uint64_t datagrams_in;          /* datagrams given to gs_quic_ep_on_datagram */
    uint64_t bytes_in;              /* their bytes */
    uint64_t packets_out;           /* packets written by gs_quic_ep_write */
    uint64_t bytes_out;             /* their bytes */
    uint64_t datagrams_invalid;     /* dropped: not QUIC, too short, malformed, unknown version */
    uint64_t datagrams_dropped;     /* dropped: valid shape but no use (unknown CID, closing) */
    uint64_t disco_dropped;         /* iroh 0.35 disco datagrams recognised and dropped */
    uint64_t version_negotiations;  /* Version Negotiation packets sent */
    uint64_t handshakes_started;    /* server connections created + client dials */
    uint64_t handshakes_ok;         /* handshakes completed, both directions */
    uint64_t handshakes_failed;     /* handshakes that ended without completing */
    uint64_t handshake_timeouts;    /* of which: by handshake timeout */
    uint64_t peer_mismatch;         /* client dials where the server key was not the dialed id */
    uint64_t tls_alerts;            /* handshakes aborted with a TLS alert (either side) */
    uint64_t retries_sent;          /* Retry packets sent */
    uint64_t tokens_ok;             /* Retry tokens accepted */
    uint64_t tokens_rejected;       /* Retry tokens forged, expired or bound to another address */
    uint64_t resets_sent;           /* stateless resets sent */
    uint64_t resets_ratelimited;    /* stateless resets not sent because of reset_rate */
    uint64_t resets_received;       /* connections ended by a peer's stateless reset */
    uint64_t amplification_limited; /* times a write was held back by the 3x limit (observed) */
    uint64_t close_waits;           /* client closes that waited for the Finished to leave */
    uint64_t conns_refused;         /* new connections refused by any limit (max_conns,
                                       max_conns_per_addr, max_conns_per_prefix, rx_mem_max) */
    uint64_t conns_closed;          /* connections freed */
    uint64_t idle_timeouts;         /* connections closed by idle timeout */
    uint64_t frames_in;             /* frames reported through on_frame */
    uint64_t frames_out;            /* frames accepted by gs_quic_ep_send_frame */
    uint64_t frame_bytes_in;        /* their body bytes */
    uint64_t frame_bytes_out;       /* bytes accepted by gs_quic_ep_send_frame (prefix included) */
    uint64_t frames_oversize;       /* received length prefixes above max_message_size */
    uint64_t frames_refused;        /* sends refused: body >= max_message_size or malformed */
    uint64_t send_queue_drops;      /* sends refused because the connection queue was full */
    uint64_t data_refused;          /* GS_QUIC_SEND_DATA sends refused above send_queue_low */
    uint64_t frames_ref;            /* frames queued without copying (gs_quic_ep_send_frame_ref) */
    uint64_t frames_released;       /* of which: release callbacks made */
    uint64_t datagrams_stray;       /* datagrams for another shard taken by on_stray */
    uint64_t stream_errors;         /* incoming streams stopped (oversize, bad header, reset) */
    uint64_t streams_opened;        /* outgoing streams opened (uni; a /0 dial's one bidi) */
    uint64_t streams_in;            /* incoming uni streams seen */
    uint64_t bidi_refused;          /* peer-opened bidirectional streams stopped */
    uint64_t conns_active;          /* gauge: connections currently allocated */
    uint64_t rx_buffer_refused;     /* incoming streams stopped because rx_buffer_max was reached
                                       and no bigger user could give way */
    uint64_t rx_buffer_evicted;     /* partial frames dropped (stream stopped) to make room for
                                       another stream's: its connection's share, or a bigger user */
    uint64_t rx_buffered;           /* gauge: bytes of partial-frame buffers allocated */
    uint64_t conns_v0;              /* handshakes completed with ALPN "/iroh-gossip/0" */
    uint64_t frames_refused_v0;     /* frames not sent to a /0 peer: body + 32 topic bytes
                                       >= max_message_size (also counted in frames_refused) */
    uint64_t v0_stream_errors;      /* /0 connections closed because their one stream failed
                                       (bad frame, end inside a frame, peer stopped it, second
                                       stream); a clean FIN closes without counting */
    uint64_t v0_fins;               /* /0 connections closed after the peer's clean FIN */
    uint64_t conn_mem;              /* gauge: bytes of ngtcp2 state all connections hold */
    uint64_t conn_mem_reclaimed;    /* blocks ngtcp2 still held after ngtcp2_conn_del, freed
                                       when their connection was (ngtcp2 0.12.1 leaks some) */
    uint64_t conns_refused_prefix;  /* new connections refused by max_conns_per_prefix */
    uint64_t conns_refused_mem;     /* new connections refused: rx_mem_max had no room left */
    uint64_t stream_credit_granted; /* incoming stream credits granted beyond stream_credit */
    uint64_t stream_credit_refused; /* ... not granted: rx_mem_max or the prefix share was full */
    uint64_t windows_reduced;       /* connections given a window below the configured one
                                       because rx_mem_max was getting full */
    uint64_t halfopen_evicted;      /* unfinished handshakes dropped to make room for a new one
                                       (max_halfopen or max_halfopen_per_prefix reached) */
    uint64_t retries_halfopen;      /* Retry packets sent because half-open connections were
                                       at half of max_halfopen or of the prefix's share */
    uint64_t halfopen;              /* gauge: accepted connections still handshaking */
    uint64_t rx_mem_committed;      /* gauge: receive memory charged, all connections */
} gs_quic_stats;

/* gs_quic_seg_run: one run of packets to one destination, sendable with one GSO sendmsg. */
typedef struct gs_quic_seg_run {
    gs_quic_addr local;  /* local address the path uses (as given to on_datagram / connect) */
    gs_quic_addr remote; /* destination */
    size_t off;          /* first byte of the run in gs_quic_txbuf.buf */
    size_t len;          /* bytes in the run: nsegs-1 segments of |segsize|, the last <= segsize */
    size_t segsize;      /* GSO segment size (UDP_SEGMENT); equals len when nsegs is 1 */
    size_t nsegs;        /* packets in the run */
    uint8_t ecn;         /* ECN codepoint for the IP header (0..3) */
} gs_quic_seg_run;

/*
 * gs_quic_txbuf: a caller-owned batch of packets.  The caller sets |buf|, |cap|, |runs|,
 * |maxruns| and |max_segs| (kernel GSO limit, e.g. 64; 1 disables GSO coalescing), and empties it
 * (len = nruns = 0) after sending.  gs_quic_ep_write appends: packets go to buf[len..cap), one
 * packet never straddles runs, and a run never exceeds 65,000 bytes.
 */
typedef struct gs_quic_txbuf {
    uint8_t *buf;
    size_t cap;
    size_t len;
    gs_quic_seg_run *runs;
    size_t maxruns;
    size_t nruns;
    size_t max_segs;
} gs_quic_txbuf;

typedef struct gs_quic_ep gs_quic_ep;

/*
 * gs_quic_ep_new creates an endpoint with a copy of |cfg|, the identity |id| (copied) and the
 * callbacks |cb| (copied; NULL = none), allocating through |mem| (ngtcp2 allocates through it
 * too; GnuTLS uses its own allocator).  |mem| must outlive the endpoint.  The endpoint is both a
 * server (it accepts every Initial it receives, subject to the limits) and a client.
 * Returns 0 and stores the endpoint in |*pep|; GS_ERR_INVAL (bad cfg: no ALPN,
 * max_message_size < 512, max_packet_size outside [1200, GS_QUIC_MAX_PACKET], zero limits,
 * prefix lengths outside their ranges, rx_mem_conn_max too small);
 * GS_ERR_NOMEM; GS_ERR_TLS (GnuTLS rejected the key or priority string).  |*pep| is untouched on
 * error.
 */
int gs_quic_ep_new(gs_quic_ep **pep, const gs_quic_cfg *cfg, const gs_identity *id,
                   const gs_quic_callbacks *cb, const gs_mem *mem);

/*
 * gs_quic_ep_del frees |ep| and every connection without sending anything (call
 * gs_quic_ep_close and write first for a graceful shutdown).  on_closed is NOT called.  NULL is a
 * no-op.
 */
void gs_quic_ep_del(gs_quic_ep *ep);

/*
 * gs_quic_ep_on_datagram processes one received UDP datagram (|data|, |len| bytes) that arrived
 * at |local| from |remote| with ECN codepoint |ecn| (0..3) at time |now|.  Callbacks may fire.
 * Garbage never creates state: it is dropped and counted in gs_quic_stats.  A well-formed Initial
 * does (a half-open connection): within max_halfopen and max_halfopen_per_prefix, evicting the
 * oldest, for at most halfopen_timeout; under load the client must first answer a Retry.
 * Returns 0 (also for dropped datagrams: see the counters); GS_ERR_INVAL for NULL arguments.
 * Connection-level failures are reported through on_closed, never returned.
 */
int gs_quic_ep_on_datagram(gs_quic_ep *ep, const gs_quic_addr *local, const gs_quic_addr *remote,
                           const uint8_t *data, size_t len, uint8_t ecn, gs_tstamp now);

/*
 * gs_quic_ep_connect dials |peer_id| at |remote| from |local| (the shard socket's bound address;
 * its port matters only for path identity).  The server's key must equal |peer_id| or the
 * handshake is aborted (on_closed with GS_ERR_PEER_MISMATCH).  The new handle is stored in
 * |*pconn|; frames may be queued on it with gs_quic_ep_send_frame_conn right away.
 * Returns 0; GS_ERR_SELF if |peer_id| is our own id; GS_ERR_REFUSED (connection limits);
 * GS_ERR_NOMEM; GS_ERR_TLS / GS_ERR_QUIC (session set-up failed).
 */
int gs_quic_ep_connect(gs_quic_ep *ep, const uint8_t peer_id[GS_ID_LEN], const gs_quic_addr *local,
                       const gs_quic_addr *remote, gs_tstamp now, gs_quic_conn_id *pconn);

/*
 * gs_quic_ep_send_frame queues the complete frame |frame| (|len| bytes: u32-BE body length, then
 * the body) for |topic| on the send path to |peer| (its newest established connection).  The
 * bytes are copied.  The (connection, topic) stream is opened lazily by gs_quic_ep_write and
 * starts with the topic's stream header frame.
 * On a /0 connection (gs_quic_ep_conn_version) the frame goes on the connection's one stream as
 * u32-BE (body length + 32) || topic || body, so a body + 32 >= max_message_size is refused with
 * GS_ERR_MSG_TOO_LARGE (counted in frames_refused_v0 too).
 * Returns 0; GS_ERR_NOTFOUND (no established connection to |peer|); GS_ERR_MSG_TOO_LARGE (body
 * >= max_message_size) or GS_ERR_INVAL (prefix does not match |len|): counted in
 * frames_refused; GS_ERR_AGAIN (the connection's send queue is full: counted in
 * send_queue_drops, on_writable follows); GS_ERR_LIMIT (max_topics_per_conn streams queued);
 * GS_ERR_NOMEM.
 */
int gs_quic_ep_send_frame(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                          const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame, size_t len);

/*
 * gs_quic_ep_send_frame_cls is gs_quic_ep_send_frame with a send class (gs_quic_send_class):
 * GS_QUIC_SEND_CONTROL behaves exactly as gs_quic_ep_send_frame; GS_QUIC_SEND_DATA is also
 * refused with GS_ERR_AGAIN (counted in data_refused, on_writable follows once the queue is
 * below half of send_queue_low) while the connection has more than send_queue_low bytes queued.
 * Same returns otherwise; GS_ERR_INVAL for an unknown class.
 */
int gs_quic_ep_send_frame_cls(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                              const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                              size_t len, gs_quic_send_class cls);

/*
 * gs_quic_ep_send_frame_ref is gs_quic_ep_send_frame_cls without the copy: the endpoint keeps
 * pointing at |frame| (which must stay valid and unchanged) and calls |release|(|arg|) exactly
 * once, on the endpoint's thread, when it no longer needs the bytes: when the peer acknowledged
 * them, when the stream was reset or stopped, or when the connection is freed (also by
 * gs_quic_ep_del).  release never runs inside this call.  On an error return release is NOT
 * called and the caller keeps ownership.  The same buffer may be queued to many peers (one
 * reference, one release per successful call).  Same returns as gs_quic_ep_send_frame_cls;
 * GS_ERR_INVAL for a NULL |release|.
 */
int gs_quic_ep_send_frame_ref(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                              const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                              size_t len, gs_quic_send_class cls, void (*release)(void *arg),
                              void *arg);

/*
 * gs_quic_ep_peer_behind_since returns the time since which the send path to |peer| has had
 * more than send_queue_low bytes queued (the endpoint's time: the |now| of the latest
 * on_datagram, handle_expiry or write call when the queue grew past it), or GS_TSTAMP_NEVER
 * when it is not behind or |peer| has no send path.
 */
gs_tstamp gs_quic_ep_peer_behind_since(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN]);

/*
 * gs_quic_ep_send_frame_conn is gs_quic_ep_send_frame on the given connection |conn| (which may
 * still be handshaking: queued frames go out once it is established).  Same returns, with
 * GS_ERR_NOTFOUND for an unknown handle and GS_ERR_CLOSED for a closing connection.
 */
int gs_quic_ep_send_frame_conn(gs_quic_ep *ep, gs_quic_conn_id conn,
                               const uint8_t topic[GS_QUIC_TOPIC_LEN], const uint8_t *frame,
                               size_t len);

/*
 * gs_quic_ep_finish_stream ends the (send path to |peer|, |topic|) stream with FIN after the
 * frames already queued (used after a Disconnect frame); the next frame for |topic| opens a new
 * stream with a new header.  On a /0 connection all topics share one stream, which is never
 * finished: a no-op returning 0.  Returns 0; GS_ERR_NOTFOUND (no connection or no such stream).
 */
int gs_quic_ep_finish_stream(gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN],
                             const uint8_t topic[GS_QUIC_TOPIC_LEN]);

/*
 * gs_quic_ep_close closes |conn| with application error |app_error| and the |reason| text (may
 * be NULL; truncated to 64 bytes).  The CONNECTION_CLOSE goes out with the next gs_quic_ep_write;
 * on_closed (rv 0) is reported then.  Returns 0; GS_ERR_NOTFOUND; GS_ERR_CLOSED (already
 * closing).
 */
int gs_quic_ep_close(gs_quic_ep *ep, gs_quic_conn_id conn, uint64_t app_error, const char *reason);

/*
 * gs_quic_ep_write appends packets to send to |tx| (see gs_quic_txbuf), coalescing queued frames
 * into as few full-size packets as possible and grouping consecutive same-size packets to one
 * destination into GSO runs.  Call after every on_datagram / handle_expiry / send batch, sending
 * and emptying |tx| each time, until it returns 0.  It stops early (returning what it appended)
 * when the next packet would need a run beyond |maxruns| or more than |cap| bytes; with
 * maxruns = 1 each call therefore yields one run.  Runs never mix connections.  A packet that was
 * built but cannot join the batch is kept and goes out first on the next call.
 * Returns the number of bytes appended (0: nothing left to send right now); GS_ERR_NOBUF if an
 * empty |tx| could not hold a packet (cap < max_packet_size or maxruns == 0); GS_ERR_INVAL.
 */
gs_ssize gs_quic_ep_write(gs_quic_ep *ep, gs_tstamp now, gs_quic_txbuf *tx);

/*
 * gs_quic_ep_want_write tells whether gs_quic_ep_write has something to send now (queued frames,
 * closes, stateless replies, a stashed packet) without waiting for a timer.  A loop that queued
 * frames outside its write pass uses it so that it does not sleep with data pending.
 */
bool gs_quic_ep_want_write(const gs_quic_ep *ep);

/* gs_quic_ep_get_expiry returns the earliest time gs_quic_ep_handle_expiry must be called
 * (GS_TSTAMP_NEVER if none). */
gs_tstamp gs_quic_ep_get_expiry(const gs_quic_ep *ep);

/*
 * gs_quic_ep_handle_expiry runs the timers due at |now| (loss recovery, PTO, keep-alive, idle and
 * handshake timeouts, draining).  Callbacks may fire.  Call gs_quic_ep_write afterwards.
 * Returns 0.
 */
int gs_quic_ep_handle_expiry(gs_quic_ep *ep, gs_tstamp now);

/* gs_quic_ep_stats_get returns the endpoint's counters (valid while |ep| lives). */
const gs_quic_stats *gs_quic_ep_stats_get(const gs_quic_ep *ep);

/* gs_quic_ep_num_conns returns the number of connections currently allocated (all states). */
size_t gs_quic_ep_num_conns(const gs_quic_ep *ep);

/*
 * gs_quic_ep_conn_peer copies |conn|'s peer id to |peer| (the dialed id for outgoing
 * connections; for incoming ones, known once connected).  Returns 0, GS_ERR_NOTFOUND, or
 * GS_ERR_AGAIN (incoming connection still handshaking).
 */
int gs_quic_ep_conn_peer(const gs_quic_ep *ep, gs_quic_conn_id conn, uint8_t peer[GS_ID_LEN]);

/*
 * gs_quic_ep_conn_version returns the gossip wire version of |conn|: 1 ("/iroh-gossip/1", uni
 * stream per topic) or 0 ("/iroh-gossip/0", one bidi stream, topic in every frame); the
 * handshake decides it by ALPN.  GS_ERR_NOTFOUND for an unknown handle, GS_ERR_AGAIN while the
 * connection is still handshaking.  Frames queued on a handshaking connection are re-framed
 * when /0 is chosen (those too large for /0 are dropped and counted in frames_refused_v0).
 */
int gs_quic_ep_conn_version(const gs_quic_ep *ep, gs_quic_conn_id conn);

/* gs_quic_ep_peer_version is gs_quic_ep_conn_version of |peer|'s send path (GS_ERR_NOTFOUND
 * when it has none). */
int gs_quic_ep_peer_version(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN]);

/* Bits of gs_quic_ep_conn_versions. */
#define GS_QUIC_SPEAKS_V0       0x1 /* the peer speaks "/iroh-gossip/0" */
#define GS_QUIC_SPEAKS_V1       0x2 /* the peer speaks "/iroh-gossip/1" */
#define GS_QUIC_SPEAKS_COMPLETE 0x4 /* the set is complete: a missing bit means "cannot" */

/*
 * gs_quic_ep_conn_versions returns what |conn| tells about its peer's wire versions: the bit of
 * the version in use; for a connection the peer dialed, also every version its ClientHello
 * offered, and GS_QUIC_SPEAKS_COMPLETE.  A /0 connection we dialed is complete as well: we offer
 * /1 first, so a server that chose /0 cannot speak /1.  GS_ERR_NOTFOUND / GS_ERR_AGAIN as
 * gs_quic_ep_conn_version.
 */
int gs_quic_ep_conn_versions(const gs_quic_ep *ep, gs_quic_conn_id conn);

/* gs_quic_ep_send_path returns the newest established connection to |peer|, or 0 if none. */
gs_quic_conn_id gs_quic_ep_send_path(const gs_quic_ep *ep, const uint8_t peer[GS_ID_LEN]);

/* gs_quic_conn_info: a connection's recovery and congestion state (ngtcp2's view), for
 * diagnosis and benchmarks. */
typedef struct gs_quic_conn_info {
    gs_duration smoothed_rtt;
    gs_duration rttvar;
    gs_duration min_rtt;
    gs_duration latest_rtt;
    uint64_t cwnd;            /* congestion window, bytes */
    uint64_t ssthresh;        /* UINT64_MAX until the first congestion event */
    uint64_t bytes_in_flight; /* sent, not acknowledged nor declared lost */
    uint64_t pto_count;       /* consecutive PTOs without an acknowledgement */
    uint64_t delivery_rate;   /* bytes per second, ngtcp2's estimate */
} gs_quic_conn_info;

/* gs_quic_ep_conn_info fills |info| for |conn|.  Returns 0, GS_ERR_NOTFOUND (unknown handle) or
 * GS_ERR_CLOSED (closing or draining: the state is gone). */
int gs_quic_ep_conn_info(const gs_quic_ep *ep, gs_quic_conn_id conn, gs_quic_conn_info *info);

/* gs_quic_ep_queued_bytes returns the bytes queued and not yet acknowledged on |conn| (0 for an
 * unknown handle). */
size_t gs_quic_ep_queued_bytes(const gs_quic_ep *ep, gs_quic_conn_id conn);

/*
 * gs_quic_ep_unacked_streams returns how many of |conn|'s outgoing streams still have bytes or a
 * FIN the peer has not acknowledged (0 for an unknown handle).  A sender that wants a clean end
 * (finish_stream, then close) waits for 0 before gs_quic_ep_close: closing earlier makes the peer
 * see its streams end with "connection lost".
 */
size_t gs_quic_ep_unacked_streams(const gs_quic_ep *ep, gs_quic_conn_id conn);

#endif /* GS_IO_QUIC_H */
