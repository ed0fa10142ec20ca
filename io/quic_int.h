/* SPDX-License-Identifier: MIT */
/*
 * quic_int.h: internals shared by io/quic*.c (not part of the public API).
 *
 * Ownership: the endpoint owns a fixed slot array of connections (max_conns), four bounded maps
 * on gs_table (connection id -> slot, peer id -> newest slot, remote IP -> connection count,
 * peer's reset token -> slot), a timer heap over connections, a small queue of stateless packets
 * (Retry, Version Negotiation, stateless reset, refusals) and free lists of send chunks.  Every
 * map is sized at creation, so nothing on the packet path grows or reallocates.
 */
#ifndef GS_IO_QUIC_INT_H
#define GS_IO_QUIC_INT_H

#include "quic.h"
#include "quic_pack.h"

#include "gs_table.h"

#include <stddef.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

/* Smallest datagram that can carry a client's first Initial (RFC 9000 14.1). */
#define MIN_INITIAL_DGRAM 1200
/* Stateless reset: at least 5 unpredictable bytes (the first carries the header bits) + the
 * 16-byte token = 21 bytes (RFC 9000 10.3). */
#define RESET_MIN (NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN)
#define RESET_MAX 43

/* --- bounded maps with keys of up to |keymax| bytes (quic_map.c, on gs_table) --- */

typedef struct qmap {
    gs_table tb;        /* key (length byte + key + zeros) -> record index */
    uint8_t *recs;      /* |max| records of |stride| bytes: u32 value, then the table key */
    size_t stride;      /* bytes per record */
    size_t keymax;      /* longest key in bytes */
    size_t max;         /* entries allowed */
    size_t n;           /* entries in use */
    size_t used;        /* records ever handed out (the rest are untouched) */
    uint32_t free_head; /* free records, threaded through their value field */
} qmap;

/* gs_quic_map_init sizes |m| for |maxentries| keys of 1..|keymax| bytes (keymax < 64), hashed
 * with |seed|.  Returns 0, GS_ERR_INVAL or GS_ERR_NOMEM. */
int gs_quic_map_init(qmap *m, size_t maxentries, size_t keymax, uint64_t seed, const gs_mem *mem);
void gs_quic_map_free(qmap *m, const gs_mem *mem);
/* gs_quic_map_get returns a pointer to the value of |key| (valid until it is deleted), or NULL. */
uint32_t *gs_quic_map_get(const qmap *m, const uint8_t *key, size_t keylen);
/* gs_quic_map_put inserts or overwrites; GS_ERR_LIMIT when the map is full. */
int gs_quic_map_put(qmap *m, const uint8_t *key, size_t keylen, uint32_t val);
/* gs_quic_map_del removes |key|; returns true if it was present. */
bool gs_quic_map_del(qmap *m, const uint8_t *key, size_t keylen);
/* gs_quic_map_purge removes every entry whose value is |val| (a scan of the records: rare paths
 * only); returns how many. */
size_t gs_quic_map_purge(qmap *m, uint32_t val);

/* --- send side: a stream's bytes live in a chain of fixed chunks until acknowledged --- */

#define QCHUNK_DATA 4096

/*
 * ngtcp2 0.12.1 never closes a peer-initiated unidirectional stream (its close test also wants
 * our own send side FIN-acknowledged, which a receive-only stream never is), so it neither calls
 * stream_close nor returns stream credit.  We treat a stream as finished once its FIN is delivered
 * (or we stopped it): our state is freed and one stream of credit is returned by hand.  ngtcp2
 * keeps a small record per such stream until the connection ends, so after QRECV_DONE_MAX
 * finished streams the connection is closed (the peer reconnects with fresh state).
 */
#define QRECV_DONE_MAX 4096

/* Stateless reset tokens of the peer's active connection ids registered per connection: a reset
 * carries a random "DCID", so it is matched by its trailing token (RFC 9000 10.3.1). */
#define QRTOK_MAX 4

/*
 * qchunk: a piece of a send stream.  An own chunk holds up to QCHUNK_DATA copied bytes in |data|
 * (|base| == data, |cap| == QCHUNK_DATA) and may still be appended to while it is the stream's
 * tail.  A reference chunk (gs_quic_ep_send_frame_ref) points at the caller's frame (|base|,
 * |len| == |cap|: always full) and calls |release|(|arg|) once when it is put back.  A chunk is
 * closed for appending once it is full or another chunk follows it.
 */
typedef struct qchunk {
    struct qchunk *next;
    size_t len; /* bytes used */
    size_t cap; /* bytes the chunk can hold */
    const uint8_t *base;
    bool is_ref;                /* a reference chunk (allocated without |data|) */
    void (*release)(void *arg); /* reference chunks: called when put back (NULL: not owned) */
    void *arg;
    uint8_t data[QCHUNK_DATA]; /* own chunks only: reference chunks are allocated without it */
} qchunk;

/* Bytes of a reference chunk (the header without the data array). */
#define QCHUNK_REF_SIZE offsetof(qchunk, data)

enum {
    QSTREAM_SEND = 1,
    QSTREAM_RECV = 2
};

/* qsend: one outgoing uni stream for one topic. */
typedef struct qsend {
    uint8_t kind; /* QSTREAM_SEND */
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    int64_t id;   /* -1 until opened */
    qchunk *head; /* holds stream offsets [acked, end) */
    qchunk *tail;
    size_t head_off;          /* offset in head of the byte at stream offset |acked| */
    qchunk *wchunk;           /* chunk holding stream offset |sent| (NULL when sent == end) */
    size_t woff;              /* offset of |sent| in wchunk */
    uint64_t acked;           /* contiguous bytes acknowledged */
    uint64_t sent;            /* bytes handed to ngtcp2 */
    uint64_t end;             /* bytes queued */
    bool finishing;           /* FIN requested after |end| */
    bool fin_sent;            /* FIN handed to ngtcp2 */
    bool dead;                /* stopped by the peer or closed: no new frames */
    bool blocked;             /* flow-control blocked during the current write pass */
    bool in_ready;            /* linked in the connection's ready list */
    bool v0;                  /* the /0 connection's one bidi stream (topic ignored) */
    bool await_peer;          /* /0 acceptor: waiting for the dialer to open the stream */
    struct qsend *next;       /* all streams of the connection */
    struct qsend *ready_next; /* streams with data or FIN to write */
} qsend;

/* qrecv: one incoming uni stream being cut into frames. */
typedef struct qrecv {
    uint8_t kind; /* QSTREAM_RECV */
    bool have_topic;
    bool stopped; /* STOP_SENDING sent: data is discarded */
    bool in_body;
    bool v0; /* /0 bidi stream: each frame body is topic (32 bytes) + message */
    uint8_t topic[GS_QUIC_TOPIC_LEN];
    int64_t id;
    uint8_t pfx[GS_QUIC_FRAME_PREFIX];
    size_t npfx;
    uint32_t need; /* body length of the frame being read */
    size_t nbody;  /* body bytes buffered so far */
    uint8_t *body; /* max_message_size bytes, allocated when a body spans packets */
    struct qrecv *prev;
    struct qrecv *next;
    /* while |body| is allocated: the endpoint's list of buffers, oldest first */
    struct qconn *conn;
    struct qrecv *buf_prev;
    struct qrecv *buf_next;
    uint64_t buf_seq; /* allocation order */
} qrecv;

/* --- connections --- */

typedef enum qstate {
    QS_HANDSHAKE = 0,
    QS_ESTABLISHED,
    QS_CLOSING,  /* we sent CONNECTION_CLOSE; answer further packets with it */
    QS_DRAINING, /* the peer closed; wait out 3 PTO silently */
} qstate;

/* Header of each block a connection's ngtcp2 state allocates (quic_mem.c). */
typedef struct qmem_hdr {
    struct qmem_hdr *prev;
    struct qmem_hdr *next;
    size_t size; /* bytes asked for, header not included */
    size_t pad;  /* keeps the block after the header aligned for any type */
} qmem_hdr;

typedef struct qconn {
    struct gs_quic_ep *ep;
    ngtcp2_conn *nc;
    ngtcp2_mem nmem;   /* this connection's allocator (quic_mem.c): user_data is the qconn */
    qmem_hdr mem_list; /* sentinel of the list of blocks ngtcp2 holds for this connection */
    size_t mem_bytes;  /* their bytes (headers not included) */
    size_t mem_blocks; /* their count */
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref cref;
    gs_quic_conn_id handle;
    uint32_t slot;
    qstate state;
    bool is_server;
    bool peer_known;    /* |peer| holds a verified (or dialed) id */
    bool report_close;  /* on_closed must be reported once */
    bool send_path;     /* newest established connection to |peer| */
    bool dirty;         /* linked in the endpoint's dirty list */
    bool close_req;     /* gs_quic_ep_close asked; performed by the next write */
    bool close_pending; /* the CONNECTION_CLOSE packet still has to go out */
    bool mismatch;      /* the verify callback refused the server key */
    bool want_writable; /* a send was refused with GS_ERR_AGAIN */
    bool addr_counted;  /* counted in the endpoint's per-address table */
    bool has_client_dcid;
    bool got_reset;     /* a valid stateless reset ended the connection */
    bool tokens_dirty;  /* the peer's reset tokens must be re-registered (conn_tokens_refresh) */
    bool hs_confirmed;  /* handshake confirmed (server: completed; client: HANDSHAKE_DONE) */
    bool flight_sent;   /* client: ngtcp2 wrote our last handshake flight (Finished) */
    bool v0;            /* the handshake chose "/iroh-gossip/0" (quic_v0.c) */
    bool v0_opened;     /* its one stream was opened or accepted (never a second one) */
    struct qrecv *v0rx; /* receive side of that stream (also linked in |recvs|) */
    bool hello_seen;    /* server: the client's ALPN list was read (offers_v0/v1 valid) */
    bool offers_v0;     /* server: the client offered "/iroh-gossip/0" */
    bool offers_v1;     /* server: the client offered "/iroh-gossip/1" */
    uint8_t nrtok;
    uint8_t rtok[QRTOK_MAX][NGTCP2_STATELESS_RESET_TOKENLEN]; /* registered in ep->tokens */
    uint8_t peer[GS_ID_LEN];
    uint8_t tls_alert;
    gs_quic_addr local;
    gs_quic_addr remote;
    ngtcp2_cid client_dcid;   /* server: DCID of the client's Initial (mapped until freed) */
    size_t heap_idx;          /* position in the timer heap */
    gs_tstamp expiry;         /* key in the timer heap */
    gs_tstamp close_deadline; /* end of closing / draining */
    gs_tstamp close_wait;     /* client close_req: until when it waits for its Finished to go */
    int close_rv;
    uint64_t close_app_error;
    char close_reason[72];
    uint64_t close_rx;  /* packets received while closing (reply backoff) */
    uint8_t *close_pkt; /* the saved CONNECTION_CLOSE (closing state) */
    size_t close_pktlen;
    qsend *sends; /* all outgoing streams */
    size_t nsends;
    qsend *ready_head;
    qsend *ready_tail;
    qrecv *recvs;      /* incoming streams (for freeing) */
    uint64_t rx_bytes; /* UDP payload bytes received / sent (amplification accounting) */
    uint64_t tx_bytes;
    size_t queued;          /* bytes queued and not acknowledged, all streams */
    size_t rx_buffered;     /* bytes of this connection's partial-frame buffers */
    size_t writable_at;     /* on_writable fires once |queued| drops below this (want_writable) */
    gs_tstamp behind_since; /* since when queued > send_queue_low (GS_TSTAMP_NEVER: not behind) */
    struct qconn *dirty_next;
    uint64_t nrecv_done; /* incoming streams finished or stopped (see QRECV_DONE_MAX) */
    /* closing or draining with |nc| freed (conn_shed): our connection ids, still routed here */
    ngtcp2_cid *shed_cids;
    size_t nshed_cids;

    /* admission limits (quic_accept.c) */
    bool prefix_counted;   /* counted in the per-prefix connection count */
    bool halfopen;         /* accepted and handshaking: linked in the endpoint's half-open list */
    bool rx_charged;       /* rx_charge is part of ep->rx_committed */
    struct qconn *ho_prev; /* half-open list (oldest first), while |halfopen| */
    struct qconn *ho_next;
    size_t rx_charge;         /* receive memory its windows allow: window + per-stream overhead */
    uint64_t streams_allowed; /* incoming uni streams it may have open (its stream credit) */
} qconn;

/* One stateless packet waiting for gs_quic_ep_write. */
typedef struct qctrl {
    gs_quic_addr local;
    gs_quic_addr remote;
    size_t len;
    uint8_t pkt[GS_QUIC_MAX_PACKET];
} qctrl;

#define QCTRL_MAX 64

struct gs_quic_ep {
    gs_quic_cfg cfg;
    gs_identity id;
    gs_quic_callbacks cb;
    const gs_mem *mem; /* everything, ngtcp2's per-connection state included (quic_mem.c) */
    gs_quic_stats stats;
    /* TLS (quic_tls.c) */
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    gnutls_datum_t alpn[GS_QUIC_ALPN_MAX];
    /* secrets for Retry tokens and stateless reset tokens */
    uint8_t token_secret[32];
    uint8_t reset_secret[32];
    uint64_t map_seed[4]; /* one random hash seed per map */
    /* connections */
    qconn **conns; /* max_conns slots */
    uint32_t *free_slots;
    size_t nfree;
    uint32_t *gens; /* generation per slot (handles) */
    size_t nconns;
    qmap cids;   /* connection id -> slot */
    qmap peers;  /* peer id -> slot of the send path */
    qmap addrs;  /* remote IP -> connection count */
    qmap tokens; /* peer's stateless reset token -> slot */
    qconn **heap;
    size_t nheap;
    qconn *dirty_head;
    qconn *dirty_tail;
    /* stateless packets */
    qctrl *ctrl;
    size_t nctrl;
    /* stateless reset token bucket */
    double reset_tokens;
    gs_tstamp reset_last;
    /* handshake rate for retry auto mode */
    gs_tstamp rate_window;
    uint32_t rate_count;
    /* last connection id looked up (datagram dispatch cache) */
    uint8_t last_cid[NGTCP2_MAX_CIDLEN];
    size_t last_cidlen;
    gs_quic_conn_id last_conn;
    /* chunk free lists (own chunks, reference chunk headers) */
    qchunk *free_chunks;
    size_t nfree_chunks;
    qchunk *free_refs;
    size_t nfree_refs;
    /* the latest time given to on_datagram, handle_expiry or write (behind_since) */
    gs_tstamp now;
    /* ngtcp2 calls in progress (read_pkt, writev_stream, handle_expiry): connections are never
     * freed while it is non-zero (asserted) */
    int in_ngtcp2;
    /* incoming streams to stop once the current ngtcp2_conn_read_pkt returns (stopping from
     * inside its callback could free the stream under it): one connection reads at a time, and
     * a packet can name at most the streams the peer may have open (max_uni_streams), so
     * stops_cap = min(max_uni_streams, 4096) + 8 never runs out in practice */
    int64_t *stops;
    size_t nstops;
    size_t stops_cap;
    /* partial-frame buffers of all connections, oldest first (eviction, quic_stream.c) */
    qrecv *buf_head;
    qrecv *buf_tail;
    uint64_t buf_seq;
    /* the GSO run packer and its one-packet stash (quic_pack.h) */
    gs_quic_pack pack;
    /* admission limits (quic_accept.c): accepted connections still handshaking, oldest first,
     * and the receive memory charged by established connections */
    qconn *ho_head;
    qconn *ho_tail;
    size_t nhalfopen;
    size_t rx_committed;
};

/* --- quic_tls.c --- */
int gs_quic_tls_init(struct gs_quic_ep *ep);
void gs_quic_tls_free(struct gs_quic_ep *ep);
/* gs_quic_tls_session creates |c|'s GnuTLS session and attaches it to c->nc. */
int gs_quic_tls_session(struct gs_quic_ep *ep, qconn *c);

/* --- quic_stream.c --- */
void gs_quic_stream_free_all(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_stream_queue appends |frame| to |c|'s stream for |topic| (opening a new one with its
 * header frame if needed).  Returns 0, GS_ERR_LIMIT, GS_ERR_AGAIN (queue full) or GS_ERR_NOMEM. */
int gs_quic_stream_queue(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic,
                         const uint8_t *frame, size_t len);
/* gs_quic_stream_queue_ref is gs_quic_stream_queue that references |frame| instead of copying it
 * (see qchunk); on an error return nothing was queued and release is not called. */
int gs_quic_stream_queue_ref(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic,
                             const uint8_t *frame, size_t len, void (*release)(void *arg),
                             void *arg);
/* gs_quic_stream_queue_changed refreshes |c|'s behind_since after c->queued changed. */
void gs_quic_stream_queue_changed(struct gs_quic_ep *ep, qconn *c);
int gs_quic_stream_finish(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic);
/* gs_quic_stream_iov points |v| (at most |maxv| entries, stopping once |maxbytes| are covered)
 * at |s|'s unwritten bytes; returns the count. */
size_t gs_quic_stream_iov(qsend *s, ngtcp2_vec *v, size_t maxv, size_t maxbytes);
/* gs_quic_stream_advance records that ngtcp2 took |n| more bytes (and the FIN if |fin_written|). */
void gs_quic_stream_advance(qconn *c, qsend *s, size_t n, bool fin_written);
void gs_quic_stream_rotate(qconn *c);
void gs_quic_stream_kill(qconn *c, qsend *s);
bool gs_quic_stream_has_pending(const qconn *c);
void gs_quic_stream_unblock(qconn *c);
void gs_quic_chunk_put(struct gs_quic_ep *ep, qchunk *ch);
/* ngtcp2 callback bodies.  on_data stores in |*pstop| a stream id to stop (STOP_SENDING 0) after
 * ngtcp2_conn_read_pkt returns (stopping from inside the callback could free the stream under us).
 */
int gs_quic_stream_on_open(struct gs_quic_ep *ep, qconn *c, int64_t id);
/* on_data returns 1 when the stream is done (FIN delivered, or stopped): the caller then calls
 * gs_quic_stream_recv_done, which frees our state and detaches it from ngtcp2's stream. */
int gs_quic_stream_on_data(struct gs_quic_ep *ep, qconn *c, int64_t id, uint32_t flags,
                           const uint8_t *data, size_t len, void *sud, int64_t *pstop);
void gs_quic_stream_recv_done(struct gs_quic_ep *ep, qconn *c, int64_t id, void *sud);
/* gs_quic_conn_recv_finished ends an incoming stream we are done with (FIN delivered, stopped,
 * evicted): frees our state and returns the stream's credit (see QRECV_DONE_MAX). */
void gs_quic_conn_recv_finished(struct gs_quic_ep *ep, qconn *c, int64_t id, void *sud);
int gs_quic_stream_on_acked(struct gs_quic_ep *ep, qconn *c, int64_t id, uint64_t off, uint64_t len,
                            void *sud);
void gs_quic_stream_on_close(struct gs_quic_ep *ep, qconn *c, int64_t id, void *sud);
void gs_quic_stream_on_stop(struct gs_quic_ep *ep, qconn *c, void *sud);

/* Helpers quic_v0.c shares with quic_stream.c. */
/* gs_quic_stream_append copies |n| parts into |s| as one unit (GS_ERR_NOMEM: nothing queued). */
int gs_quic_stream_append(struct gs_quic_ep *ep, qconn *c, qsend *s, const uint8_t *const *parts,
                          const size_t *lens, size_t n);
/* gs_quic_stream_append_ref queues |frame| on |s| by reference (release called once later);
 * GS_ERR_NOMEM: nothing queued, release not called. */
int gs_quic_stream_append_ref(struct gs_quic_ep *ep, qconn *c, qsend *s, const uint8_t *frame,
                              size_t len, void (*release)(void *arg), void *arg);
/* gs_quic_stream_link adds the new stream |s| to |c|'s streams. */
void gs_quic_stream_link(qconn *c, qsend *s);
/* gs_quic_stream_send_free unlinks and frees |s| with its chunks (releasing references). */
void gs_quic_stream_send_free(struct gs_quic_ep *ep, qconn *c, qsend *s);
/* gs_quic_stream_ready pushes |s| on |c|'s ready list if it has bytes or a FIN to write. */
void gs_quic_stream_ready(qconn *c, qsend *s);
/* gs_quic_stream_new_recv makes and links an incoming-stream record for stream |id|. */
qrecv *gs_quic_stream_new_recv(struct gs_quic_ep *ep, qconn *c, int64_t id);

/* --- quic_v0.c: the /iroh-gossip/0 framing (PROTOCOL.md 12) --- */
/* gs_quic_v0_enabled tells whether cfg.alpn lists "/iroh-gossip/0". */
bool gs_quic_v0_enabled(const struct gs_quic_ep *ep);
/* gs_quic_v0_established is called when |c|'s handshake completed: it records the version
 * chosen by ALPN and, for /0, re-frames the frames queued during the handshake. */
void gs_quic_v0_established(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_v0_queue queues a complete /1 frame (prefix + message) for |topic| on |c|'s /0
 * stream as prefix + topic + message (by reference when |release| is set).  Same returns as
 * gs_quic_stream_queue, plus GS_ERR_CLOSED when the stream is gone. */
int gs_quic_v0_queue(struct gs_quic_ep *ep, qconn *c, const uint8_t *topic, const uint8_t *frame,
                     size_t len, void (*release)(void *arg), void *arg);
/* gs_quic_v0_open opens the dialer's bidi stream for |s| (ngtcp2 return codes). */
int gs_quic_v0_open(struct gs_quic_ep *ep, qconn *c, qsend *s, int64_t *pid);
/* gs_quic_v0_on_open takes a peer-opened bidi stream: on a /0 acceptor the first one is the
 * connection's stream; anything else is refused (counted).  Returns 0 or GS_ERR_NOMEM. */
int gs_quic_v0_on_open(struct gs_quic_ep *ep, qconn *c, int64_t id);
/* gs_quic_v0_hello_hook makes a server session record the client's ALPN list (offers_v0/v1). */
void gs_quic_v0_hello_hook(gnutls_session_t s);
/* gs_quic_v0_fail closes |c| because its /0 stream failed (counted in v0_stream_errors). */
void gs_quic_v0_fail(struct gs_quic_ep *ep, qconn *c, const char *reason);
/* gs_quic_v0_close closes |c| (code 0) because the peer finished its /0 stream cleanly. */
void gs_quic_v0_close(struct gs_quic_ep *ep, qconn *c, const char *reason);

/* --- quic_conn.c: one connection --- */
/* gs_quic_addr_from_ngtcp2 copies an ngtcp2 address (normalised: zero padding). */
void gs_quic_addr_from_ngtcp2(gs_quic_addr *dst, const ngtcp2_addr *src);
/* gs_quic_path_of points |path| at |local| and |remote| (no copy). */
void gs_quic_path_of(ngtcp2_path *path, const gs_quic_addr *local, const gs_quic_addr *remote);
/* gs_quic_new_cid makes a random connection id whose first byte is cfg.shard. */
void gs_quic_new_cid(const struct gs_quic_ep *ep, ngtcp2_cid *cid);
/* gs_quic_conn_get returns the live connection named by handle |h|, or NULL. */
qconn *gs_quic_conn_get(const struct gs_quic_ep *ep, gs_quic_conn_id h);
/* gs_quic_heap_update refreshes |c|'s timer key; a key not after |floor| (0: none) becomes
 * floor + 1, so one expiry pass visits each connection at most once. */
void gs_quic_heap_update(struct gs_quic_ep *ep, qconn *c, gs_tstamp floor);
/* gs_quic_conn_mark_dirty queues |c| for the next gs_quic_ep_write. */
void gs_quic_conn_mark_dirty(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_conn_alloc takes a free slot for a new connection (no ngtcp2 state yet), or NULL. */
qconn *gs_quic_conn_alloc(struct gs_quic_ep *ep, bool is_server, const gs_quic_addr *local,
                          const gs_quic_addr *remote);
/* gs_quic_conn_free releases every table entry, stream and byte of |c| (top level only). */
void gs_quic_conn_free(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_conn_mem_init sets up |c|'s ngtcp2 allocator (c->nmem) with an empty block list. */
void gs_quic_conn_mem_init(qconn *c);
/* gs_quic_conn_mem_release frees every block still on |c|'s list (after ngtcp2_conn_del: what
 * ngtcp2 left behind) and returns how many there were (also counted in conn_mem_reclaimed). */
size_t gs_quic_conn_mem_release(qconn *c);
void gs_quic_conn_set_reason(qconn *c, const char *reason);
/* gs_quic_conn_tokens_refresh registers the reset tokens of |c|'s active destination ids. */
void gs_quic_conn_tokens_refresh(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_conn_fail ends |c| after ngtcp2 returned |liberr|: reports on_closed and frees it
 * (true) or leaves it closing / draining (false). */
bool gs_quic_conn_fail(struct gs_quic_ep *ep, qconn *c, int liberr, gs_tstamp now);
/* The ngtcp2 callbacks, settings and transport parameters of every connection. */
void gs_quic_conn_callbacks(ngtcp2_callbacks *cb, bool is_server);
/* gs_quic_conn_dial starts the handshake of the client connection |c| (allocated, its peer id
 * set) with the ngtcp2 callbacks |cbs|: windows, ids, TLS session, timers (gs_quic_ep_connect's
 * work; tests pass their own callbacks).  Returns 0, or an error after freeing |c|. */
int gs_quic_conn_dial(struct gs_quic_ep *ep, qconn *c, const ngtcp2_callbacks *cbs, gs_tstamp now);
void gs_quic_conn_settings(const struct gs_quic_ep *ep, ngtcp2_settings *s, gs_tstamp now);
void gs_quic_conn_params(const struct gs_quic_ep *ep, ngtcp2_transport_params *p);
/* gs_quic_conn_read feeds one packet to |c|.  Returns true if |c| was freed. */
bool gs_quic_conn_read(struct gs_quic_ep *ep, qconn *c, const gs_quic_addr *local,
                       const gs_quic_addr *remote, const uint8_t *data, size_t len, uint8_t ecn,
                       gs_tstamp now);
/* gs_quic_conn_write writes |c|'s packets into |tx|.  Returns true when it stopped because |tx|
 * is full (|c| may have more), false when |c| has nothing more to send now or was closed. */
bool gs_quic_conn_write(struct gs_quic_ep *ep, qconn *c, gs_tstamp now, gs_quic_txbuf *tx);

/* --- quic_accept.c: admission and stateless replies --- */
/* gs_quic_limits_check_cfg validates the admission and memory fields of |cfg| (0 or
 * GS_ERR_INVAL). */
int gs_quic_limits_check_cfg(const gs_quic_cfg *cfg);
/* gs_quic_admit tells whether a new connection with |remote| fits max_conns,
 * max_conns_per_addr and max_conns_per_prefix (a refusal is counted). */
bool gs_quic_admit(struct gs_quic_ep *ep, const gs_quic_addr *remote);
/* gs_quic_rx_windows sizes |c|'s flow-control windows from the receive memory budget into
 * |s| and |p| (after gs_quic_conn_settings / gs_quic_conn_params) and records the charge in
 * c->rx_charge; false (counted in conns_refused_mem) when rx_mem_max has no room even for
 * GS_QUIC_MIN_WINDOW. */
bool gs_quic_rx_windows(struct gs_quic_ep *ep, qconn *c, ngtcp2_settings *s,
                        ngtcp2_transport_params *p);
/* gs_quic_conn_established moves |c| out of the half-open set and charges its receive memory;
 * false when rx_mem_max cannot take it any more (the handshake is then failed, counted). */
bool gs_quic_conn_established(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_limits_release undoes every count of |c| (address, prefix, half-open, memory). */
void gs_quic_limits_release(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_stream_credit0 is the incoming stream credit a connection starts with. */
uint64_t gs_quic_stream_credit0(const gs_quic_cfg *cfg);
/* gs_quic_stream_credit_more gives |c|'s peer one more incoming stream (MAX_STREAMS) after it
 * opened one, if it may have more (max_uni_streams) and the receive budgets take the stream's
 * charge; counted either way. */
void gs_quic_stream_credit_more(struct gs_quic_ep *ep, qconn *c);
/* gs_quic_addr_count adds |delta| (+1 / -1) to the count of connections from |c|'s remote IP
 * and from its prefix (half-open ones included: see gs_quic_server_accept). */
void gs_quic_addr_count(struct gs_quic_ep *ep, qconn *c, int delta);
/* gs_quic_addr_conns returns the number of connections from |a|'s IP. */
uint32_t gs_quic_addr_conns(const struct gs_quic_ep *ep, const gs_quic_addr *a);
void gs_quic_send_version_negotiation(struct gs_quic_ep *ep, const gs_quic_addr *local,
                                      const gs_quic_addr *remote, const ngtcp2_version_cid *vc);
/* gs_quic_send_stateless_reset answers a packet of |len| bytes for our unknown id |dcid|
 * (smaller than the trigger, rate limited by reset_rate). */
void gs_quic_send_stateless_reset(struct gs_quic_ep *ep, const gs_quic_addr *local,
                                  const gs_quic_addr *remote, const uint8_t *dcid, size_t len,
                                  gs_tstamp now);
/* gs_quic_server_accept admits a client's Initial (limits, Retry) and creates its connection. */
void gs_quic_server_accept(struct gs_quic_ep *ep, const gs_quic_addr *local,
                           const gs_quic_addr *remote, const uint8_t *data, size_t len, uint8_t ecn,
                           gs_tstamp now);

#endif /* GS_IO_QUIC_INT_H */
