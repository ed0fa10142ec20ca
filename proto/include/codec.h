/* SPDX-License-Identifier: MIT */
/*
 * codec.h: the /iroh-gossip/1 wire format (PROTOCOL.md section 4).
 *
 * A frame is a u32 big-endian body length followed by the postcard body.  This module encodes and
 * decodes *bodies* (and whole frames for convenience); splitting a byte stream into frames is the
 * transport's job (it only needs the 4-byte prefix and the size rule).
 *
 * Decoding is zero-copy and allocation-free: byte strings (content, PeerData) and lists
 * (Shuffle/ShuffleReply nodes, IHave entries) in a decoded gs_msg point into the caller's body
 * buffer and stay valid as long as it does.  Lists are validated completely by gs_codec_decode
 * (every key decompresses, every tag is in range) and then read with the iterators below.
 *
 * Size rules (4.4): a sender never writes a body whose length is >= max_message_size
 * (GS_ERR_MSG_TOO_LARGE); a receiver rejects a length prefix > max_message_size
 * (GS_ERR_FRAME_TOO_LARGE).  Trailing bytes after a complete body are accepted and reported.
 */
#ifndef GS_PROTO_CODEC_H
#define GS_PROTO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"

#define GS_KEY_LEN                  32
#define GS_MAX_MESSAGE_SIZE_DEFAULT 4096
#define GS_MAX_MESSAGE_SIZE_MIN     512
#define GS_FRAME_PREFIX_LEN         4
/* The 12-byte DER prefix of an Ed25519 SubjectPublicKeyInfo (PROTOCOL.md 2.2). */
#define GS_SPKI_PREFIX_LEN 12

/* gs_key: a 32-byte Ed25519 public key, i.e. an endpoint id. */
typedef struct gs_key {
    uint8_t b[GS_KEY_LEN];
} gs_key;

/* gs_msg_id: BLAKE3-256 of a Gossip message's content. */
typedef struct gs_msg_id {
    uint8_t b[32];
} gs_msg_id;

/* gs_topic_id: an opaque 32-byte topic id. */
typedef struct gs_topic_id {
    uint8_t b[32];
} gs_topic_id;

/* gs_bytes: a borrowed byte string. */
typedef struct gs_bytes {
    const uint8_t *base;
    size_t len;
} gs_bytes;

/* gs_peer_info: a PeerInfo (key and optional opaque PeerData). */
typedef struct gs_peer_info {
    gs_key id;
    bool has_data;
    gs_bytes data;
} gs_peer_info;

/* gs_ihave_entry: one (id, round) announcement. */
typedef struct gs_ihave_entry {
    gs_msg_id id;
    uint16_t round;
} gs_ihave_entry;

/*
 * gs_peer_list: the node list of Shuffle/ShuffleReply.  To encode, set |items| to the caller's
 * array of |n| entries.  A decoded list has |items| NULL and |raw| pointing at the validated
 * encoded entries; read either kind with gs_peer_list_iter_init/gs_peer_list_next.
 */
typedef struct gs_peer_list {
    size_t n;
    const gs_peer_info *items;
    gs_bytes raw;
} gs_peer_list;

/* gs_ihave_list: the entries of an IHave; same conventions as gs_peer_list. */
typedef struct gs_ihave_list {
    size_t n;
    const gs_ihave_entry *items;
    gs_bytes raw;
} gs_ihave_list;

/* Message types: 0..5 HyParView (outer tag 00, inner = value), 6..9 PlumTree (01, value - 6). */
typedef enum gs_msg_type {
    GS_MSG_JOIN = 0,
    GS_MSG_FORWARD_JOIN = 1,
    GS_MSG_SHUFFLE = 2,
    GS_MSG_SHUFFLE_REPLY = 3,
    GS_MSG_NEIGHBOR = 4,
    GS_MSG_DISCONNECT = 5,
    GS_MSG_GOSSIP = 6,
    GS_MSG_PRUNE = 7,
    GS_MSG_GRAFT = 8,
    GS_MSG_IHAVE = 9,
} gs_msg_type;

typedef enum gs_priority {
    GS_PRIORITY_HIGH = 0,
    GS_PRIORITY_LOW = 1,
} gs_priority;

typedef enum gs_scope {
    GS_SCOPE_SWARM = 0,     /* followed by a round */
    GS_SCOPE_NEIGHBORS = 1, /* no payload */
} gs_scope;

/* gs_msg: one topic message.  Only the member matching |type| is meaningful. */
typedef struct gs_msg {
    gs_msg_type type;
    union {
        struct {
            bool has_data;
            gs_bytes data;
        } join;
        struct {
            gs_peer_info peer;
            uint16_t ttl;
        } forward_join;
        struct {
            gs_key origin;
            gs_peer_list nodes;
            uint16_t ttl;
        } shuffle;
        struct {
            gs_peer_list nodes;
        } shuffle_reply;
        struct {
            gs_priority priority;
            bool has_data;
            gs_bytes data;
        } neighbor;
        struct {
            bool alive;
            bool respond; /* obsolete: always encoded 00, decoded and ignored */
        } disconnect;
        struct {
            gs_msg_id id;
            gs_bytes content;
            gs_scope scope;
            uint16_t round; /* meaningful for GS_SCOPE_SWARM only */
        } gossip;
        struct {
            bool has_id;
            gs_msg_id id;
            uint16_t round;
        } graft;
        struct {
            gs_ihave_list entries;
        } ihave;
    };
} gs_msg;

/* Iterators over peer and IHave lists (decoded or built by the caller). */
typedef struct gs_list_iter {
    const uint8_t *p;
    const uint8_t *end;
    size_t idx;
    size_t n;
    const void *items;
} gs_list_iter;

void gs_peer_list_iter_init(gs_list_iter *it, const gs_peer_list *l);
/* gs_peer_list_next stores the next entry in |*out| and returns true; false at the end. */
bool gs_peer_list_next(gs_list_iter *it, gs_peer_info *out);
void gs_ihave_list_iter_init(gs_list_iter *it, const gs_ihave_list *l);
bool gs_ihave_list_next(gs_list_iter *it, gs_ihave_entry *out);

/*
 * gs_codec_decode decodes the topic-message body at |body| (|len| bytes, no length prefix) into
 * |*msg|, which then borrows from |body|.  If |ptrailing| is not NULL it receives the number of
 * bytes left over after the complete value (accepted, as the reference does).
 * Returns 0, GS_ERR_TRUNCATED, GS_ERR_VARINT_OVERFLOW, GS_ERR_BAD_TAG, GS_ERR_BAD_BOOL,
 * GS_ERR_BAD_OPTION, GS_ERR_BAD_KEY or GS_ERR_BAD_LENGTH; on error |*msg| is unspecified and the
 * caller must discard the frame (and stop reading that stream).
 */
int gs_codec_decode(gs_msg *msg, const uint8_t *body, size_t len, size_t *ptrailing);

/*
 * gs_codec_decode_at is gs_codec_decode that also reports, on error, the byte offset in |body|
 * where the offending item starts (or where the body ran out) in |*perr_offset| (if not NULL).
 * Meant for diagnostics (gossip-wire); the codes are those of gs_codec_decode.
 */
int gs_codec_decode_at(gs_msg *msg, const uint8_t *body, size_t len, size_t *ptrailing,
                       size_t *perr_offset);

/*
 * gs_codec_decode_header decodes a stream-header body (the 32-byte topic id; trailing bytes are
 * accepted).  Returns 0 or GS_ERR_BAD_HEADER.
 */
int gs_codec_decode_header(gs_topic_id *topic, const uint8_t *body, size_t len);

/*
 * gs_codec_body_len returns the length of |msg|'s canonical body encoding, or 0 if |msg| cannot be
 * encoded (type, priority or scope out of range, or a list whose entries are missing).
 */
size_t gs_codec_body_len(const gs_msg *msg);

/* gs_codec_varint_len returns the length of the minimal (canonical) varint encoding of |v|. */
size_t gs_codec_varint_len(uint64_t v);

/*
 * gs_codec_encode_body writes |msg|'s canonical body to |buf|.  Returns the number of bytes
 * written, GS_ERR_NOBUF if |buflen| is too small, or GS_ERR_INVAL for an out-of-range field.
 */
gs_ssize gs_codec_encode_body(uint8_t *buf, size_t buflen, const gs_msg *msg);

/*
 * gs_codec_encode_frame writes the frame (u32 BE prefix + body) for |msg| to |buf|.  Refuses a
 * body of |max_message_size| bytes or more with GS_ERR_MSG_TOO_LARGE (sender rule, 3.2).
 * Returns the frame length, GS_ERR_MSG_TOO_LARGE, GS_ERR_NOBUF or GS_ERR_INVAL.
 */
gs_ssize gs_codec_encode_frame(uint8_t *buf, size_t buflen, const gs_msg *msg,
                               size_t max_message_size);

/* gs_codec_encode_header_frame writes the 36-byte stream-header frame for |topic|. */
gs_ssize gs_codec_encode_header_frame(uint8_t *buf, size_t buflen, const gs_topic_id *topic);

/*
 * gs_codec_check_prefix reads the u32 length prefix at |prefix| into |*pbodylen| and applies the
 * receiver rule.  Returns 0 or GS_ERR_FRAME_TOO_LARGE (length > |max_message_size|).
 */
int gs_codec_check_prefix(const uint8_t prefix[GS_FRAME_PREFIX_LEN], size_t max_message_size,
                          uint32_t *pbodylen);

/*
 * gs_ed25519_key_is_valid returns true iff the 32 bytes at |key| decompress to a point on the
 * Ed25519 curve by the reference's rule (PROTOCOL.md 4.6; small-order and non-canonical keys are
 * valid).  Pure field arithmetic, constant inputs only; not constant-time (keys are public).
 */
bool gs_ed25519_key_is_valid(const uint8_t key[GS_KEY_LEN]);

/* --- AddrInfo (PeerData contents, 4.5) --- */

#define GS_ADDRINFO_MAX_ADDRS 16
#define GS_ADDRINFO_MAX_RELAY 256

typedef struct gs_sockaddr {
    uint8_t family;   /* 4 or 6 */
    uint8_t addr[16]; /* IPv4 uses the first 4 bytes */
    uint16_t port;
} gs_sockaddr;

typedef struct gs_addrinfo {
    bool has_relay;
    char relay_url[GS_ADDRINFO_MAX_RELAY + 1]; /* NUL-terminated, validated UTF-8 */
    size_t naddrs;
    gs_sockaddr addrs[GS_ADDRINFO_MAX_ADDRS]; /* sorted, no duplicates */
} gs_addrinfo;

/*
 * gs_addrinfo_decode decodes PeerData bytes into |*ai| (sorted, duplicates dropped).  Only the
 * GS_ADDRINFO_MAX_ADDRS smallest addresses (canonical order) are kept; the number of addresses
 * dropped for lack of room is stored in |*pdropped| if not NULL (a duplicate of a dropped address
 * may be counted again).  An empty input is an empty AddrInfo; trailing bytes are ignored.
 * Returns 0, GS_ERR_TRUNCATED, GS_ERR_VARINT_OVERFLOW, GS_ERR_BAD_OPTION (relay Option tag),
 * GS_ERR_BAD_UTF8 (relay URL), GS_ERR_BAD_LENGTH (address count larger than the bytes left allow)
 * or GS_ERR_BAD_ADDR (SocketAddr tag > 1, relay URL longer than GS_ADDRINFO_MAX_RELAY or holding
 * a NUL byte).  On error |*ai| is unspecified.
 */
int gs_addrinfo_decode(gs_addrinfo *ai, const uint8_t *buf, size_t len, size_t *pdropped);

/*
 * gs_addrinfo_encode writes |ai| canonically (sorted, deduplicated; the caller's order does not
 * matter).  Returns the number of bytes written, GS_ERR_NOBUF, or GS_ERR_INVAL (more than
 * GS_ADDRINFO_MAX_ADDRS addresses, a family other than 4/6, or a relay URL that is not
 * NUL-terminated within GS_ADDRINFO_MAX_RELAY bytes or not valid UTF-8).
 */
gs_ssize gs_addrinfo_encode(uint8_t *buf, size_t buflen, const gs_addrinfo *ai);

/*
 * gs_sockaddr_cmp compares two addresses in canonical order: IPv4 before IPv6, then address
 * bytes, then port.  Returns -1, 0 or 1.
 */
int gs_sockaddr_cmp(const gs_sockaddr *a, const gs_sockaddr *b);

#endif /* GS_PROTO_CODEC_H */
