/* SPDX-License-Identifier: MIT */
/*
 * codec.c: postcard encoding and strict, bounded decoding of /iroh-gossip/1 bodies
 * (PROTOCOL.md 4.1 - 4.4 and 4.6).
 *
 * The decoder never reads past |body + len|: every read goes through a cursor that checks the
 * bytes left first.  Lists are walked completely during gs_codec_decode (keys decompressed, tags
 * and lengths checked), so the iterators can later re-walk the same bytes without failing.
 * Counts are checked against the bytes left before walking (count * minimal item size), so a
 * hostile count costs nothing.  Non-minimal varints are accepted (the reference does); the
 * encoder always writes minimal varints, so re-encoding a decoded message is canonical.
 */
#include "codec.h"

#include <string.h>

/* Minimal encoded sizes, used to reject impossible counts before walking a list. */
#define PEER_INFO_MIN  (GS_KEY_LEN + 1) /* key + Option tag 00 */
#define IHAVE_ITEM_MIN (32 + 1)         /* id + 1-byte round */
#define VARINT_MAX_U16 3
#define VARINT_MAX_U32 5
#define VARINT_MAX_U64 10

/* --- reading ------------------------------------------------------------------------------ */

/* rd: a bounded cursor; |err| is where the first error was found (for diagnostics). */
typedef struct rd {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *err;
} rd;

static int rd_fail(rd *r, const uint8_t *at, int rv)
{
    if (r->err == NULL) {
        r->err = at;
    }
    return rv;
}

static size_t rd_left(const rd *r)
{
    return (size_t)(r->end - r->p);
}

/*
 * rd_varint reads an unsigned LEB128 varint of at most |maxbytes| bytes whose last allowed byte
 * is at most |lastmax| (postcard's width rule, PROTOCOL.md 4.1).
 */
static int rd_varint(rd *r, unsigned maxbytes, uint8_t lastmax, uint64_t *pv)
{
    const uint8_t *at = r->p;
    uint64_t v = 0;

    for (unsigned i = 0; i < maxbytes; ++i) {
        if (r->p == r->end) {
            return rd_fail(r, r->p, GS_ERR_TRUNCATED);
        }
        uint8_t b = *r->p;
        if (i == maxbytes - 1 && b > lastmax) {
            return rd_fail(r, at, GS_ERR_VARINT_OVERFLOW);
        }
        r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *pv = v;
            return 0;
        }
    }
    /* Unreachable: the last allowed byte is <= lastmax < 0x80, so the loop returned. */
    return rd_fail(r, at, GS_ERR_VARINT_OVERFLOW);
}

static int rd_u16(rd *r, uint16_t *pv)
{
    uint64_t v = 0;
    int rv = rd_varint(r, VARINT_MAX_U16, 0x03, &v);
    if (rv == 0) {
        *pv = (uint16_t)v;
    }
    return rv;
}

/* rd_tag reads an enum variant index (varint u32) and checks it is at most |max|. */
static int rd_tag(rd *r, uint32_t max, uint32_t *ptag)
{
    const uint8_t *at = r->p;
    uint64_t v = 0;
    int rv = rd_varint(r, VARINT_MAX_U32, 0x0f, &v);
    if (rv != 0) {
        return rv;
    }
    if (v > max) {
        return rd_fail(r, at, GS_ERR_BAD_TAG);
    }
    *ptag = (uint32_t)v;
    return 0;
}

/* rd_usize reads a length or count (varint u64). */
static int rd_usize(rd *r, uint64_t *pv)
{
    return rd_varint(r, VARINT_MAX_U64, 0x01, pv);
}

static int rd_byte_flag(rd *r, int bad, bool *pv)
{
    if (r->p == r->end) {
        return rd_fail(r, r->p, GS_ERR_TRUNCATED);
    }
    if (*r->p > 1) {
        return rd_fail(r, r->p, bad);
    }
    *pv = *r->p == 1;
    r->p++;
    return 0;
}

static int rd_bool(rd *r, bool *pv)
{
    return rd_byte_flag(r, GS_ERR_BAD_BOOL, pv);
}

static int rd_option(rd *r, bool *psome)
{
    return rd_byte_flag(r, GS_ERR_BAD_OPTION, psome);
}

static int rd_raw(rd *r, uint8_t *out, size_t n)
{
    if (rd_left(r) < n) {
        return rd_fail(r, r->end, GS_ERR_TRUNCATED);
    }
    memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

static int rd_key(rd *r, gs_key *key)
{
    const uint8_t *at = r->p;
    int rv = rd_raw(r, key->b, GS_KEY_LEN);
    if (rv != 0) {
        return rv;
    }
    if (!gs_ed25519_key_is_valid(key->b)) {
        return rd_fail(r, at, GS_ERR_BAD_KEY);
    }
    return 0;
}

/* rd_bytes reads a byte string (varint length + bytes) without copying. */
static int rd_bytes(rd *r, gs_bytes *out)
{
    uint64_t n = 0;
    int rv = rd_usize(r, &n);
    if (rv != 0) {
        return rv;
    }
    if (n > rd_left(r)) {
        return rd_fail(r, r->end, GS_ERR_TRUNCATED);
    }
    out->base = r->p;
    out->len = (size_t)n;
    r->p += n;
    return 0;
}

static int rd_opt_bytes(rd *r, bool *phas, gs_bytes *out)
{
    int rv = rd_option(r, phas);
    if (rv != 0) {
        return rv;
    }
    if (!*phas) {
        out->base = NULL;
        out->len = 0;
        return 0;
    }
    return rd_bytes(r, out);
}

static int rd_peer_info(rd *r, gs_peer_info *pi)
{
    int rv = rd_key(r, &pi->id);
    if (rv != 0) {
        return rv;
    }
    return rd_opt_bytes(r, &pi->has_data, &pi->data);
}

static int rd_ihave_entry(rd *r, gs_ihave_entry *e)
{
    int rv = rd_raw(r, e->id.b, sizeof(e->id.b));
    if (rv != 0) {
        return rv;
    }
    return rd_u16(r, &e->round);
}

/* rd_count reads a list count and rejects one that cannot fit in the bytes left. */
static int rd_count(rd *r, size_t item_min, size_t *pn)
{
    const uint8_t *at = r->p;
    uint64_t n = 0;
    int rv = rd_usize(r, &n);
    if (rv != 0) {
        return rv;
    }
    if (n > rd_left(r) / item_min) {
        return rd_fail(r, at, GS_ERR_BAD_LENGTH);
    }
    *pn = (size_t)n;
    return 0;
}

static int rd_peer_list(rd *r, gs_peer_list *l)
{
    int rv = rd_count(r, PEER_INFO_MIN, &l->n);
    if (rv != 0) {
        return rv;
    }
    l->items = NULL;
    l->raw.base = r->p;
    for (size_t i = 0; i < l->n; ++i) {
        gs_peer_info pi;
        rv = rd_peer_info(r, &pi);
        if (rv != 0) {
            return rv;
        }
    }
    l->raw.len = (size_t)(r->p - l->raw.base);
    return 0;
}

static int rd_ihave_list(rd *r, gs_ihave_list *l)
{
    int rv = rd_count(r, IHAVE_ITEM_MIN, &l->n);
    if (rv != 0) {
        return rv;
    }
    l->items = NULL;
    l->raw.base = r->p;
    for (size_t i = 0; i < l->n; ++i) {
        gs_ihave_entry e;
        rv = rd_ihave_entry(r, &e);
        if (rv != 0) {
            return rv;
        }
    }
    l->raw.len = (size_t)(r->p - l->raw.base);
    return 0;
}

static int rd_swarm(rd *r, gs_msg *msg, uint32_t inner)
{
    int rv;
    uint32_t tag = 0;

    switch (inner) {
    case 0:
        msg->type = GS_MSG_JOIN;
        return rd_opt_bytes(r, &msg->join.has_data, &msg->join.data);
    case 1:
        msg->type = GS_MSG_FORWARD_JOIN;
        rv = rd_peer_info(r, &msg->forward_join.peer);
        if (rv != 0) {
            return rv;
        }
        return rd_u16(r, &msg->forward_join.ttl);
    case 2:
        msg->type = GS_MSG_SHUFFLE;
        rv = rd_key(r, &msg->shuffle.origin);
        if (rv != 0) {
            return rv;
        }
        rv = rd_peer_list(r, &msg->shuffle.nodes);
        if (rv != 0) {
            return rv;
        }
        return rd_u16(r, &msg->shuffle.ttl);
    case 3:
        msg->type = GS_MSG_SHUFFLE_REPLY;
        return rd_peer_list(r, &msg->shuffle_reply.nodes);
    case 4:
        msg->type = GS_MSG_NEIGHBOR;
        rv = rd_tag(r, GS_PRIORITY_LOW, &tag);
        if (rv != 0) {
            return rv;
        }
        msg->neighbor.priority = (gs_priority)tag;
        return rd_opt_bytes(r, &msg->neighbor.has_data, &msg->neighbor.data);
    case 5:
        msg->type = GS_MSG_DISCONNECT;
        rv = rd_bool(r, &msg->disconnect.alive);
        if (rv != 0) {
            return rv;
        }
        return rd_bool(r, &msg->disconnect.respond);
    default:
        gs_unreachable();
    }
    return GS_ERR_INTERNAL;
}

static int rd_plumtree(rd *r, gs_msg *msg, uint32_t inner)
{
    int rv;
    uint32_t tag = 0;

    switch (inner) {
    case 0:
        msg->type = GS_MSG_GOSSIP;
        rv = rd_raw(r, msg->gossip.id.b, sizeof(msg->gossip.id.b));
        if (rv != 0) {
            return rv;
        }
        rv = rd_bytes(r, &msg->gossip.content);
        if (rv != 0) {
            return rv;
        }
        rv = rd_tag(r, GS_SCOPE_NEIGHBORS, &tag);
        if (rv != 0) {
            return rv;
        }
        msg->gossip.scope = (gs_scope)tag;
        msg->gossip.round = 0;
        if (msg->gossip.scope == GS_SCOPE_SWARM) {
            return rd_u16(r, &msg->gossip.round);
        }
        return 0;
    case 1:
        msg->type = GS_MSG_PRUNE;
        return 0;
    case 2:
        msg->type = GS_MSG_GRAFT;
        rv = rd_option(r, &msg->graft.has_id);
        if (rv != 0) {
            return rv;
        }
        memset(msg->graft.id.b, 0, sizeof(msg->graft.id.b));
        if (msg->graft.has_id) {
            rv = rd_raw(r, msg->graft.id.b, sizeof(msg->graft.id.b));
            if (rv != 0) {
                return rv;
            }
        }
        return rd_u16(r, &msg->graft.round);
    case 3:
        msg->type = GS_MSG_IHAVE;
        return rd_ihave_list(r, &msg->ihave.entries);
    default:
        gs_unreachable();
    }
    return GS_ERR_INTERNAL;
}

int gs_codec_decode_at(gs_msg *msg, const uint8_t *body, size_t len, size_t *ptrailing,
                       size_t *perr_offset)
{
    /* no pointer arithmetic on a NULL body of length 0 */
    rd r = {body, body, len > 0 ? body + len : body, NULL};
    uint32_t outer = 0;
    uint32_t inner = 0;

    memset(msg, 0, sizeof(*msg));
    int rv = rd_tag(&r, 1, &outer);
    if (rv == 0) {
        rv = rd_tag(&r, outer == 0 ? 5 : 3, &inner);
    }
    if (rv == 0) {
        rv = outer == 0 ? rd_swarm(&r, msg, inner) : rd_plumtree(&r, msg, inner);
    }
    if (rv != 0) {
        if (perr_offset != NULL) {
            *perr_offset = (size_t)((r.err != NULL ? r.err : r.p) - r.start);
        }
        return rv;
    }
    if (ptrailing != NULL) {
        *ptrailing = rd_left(&r);
    }
    return 0;
}

int gs_codec_decode(gs_msg *msg, const uint8_t *body, size_t len, size_t *ptrailing)
{
    return gs_codec_decode_at(msg, body, len, ptrailing, NULL);
}

int gs_codec_decode_header(gs_topic_id *topic, const uint8_t *body, size_t len)
{
    if (len < sizeof(topic->b)) {
        return GS_ERR_BAD_HEADER;
    }
    memcpy(topic->b, body, sizeof(topic->b));
    return 0;
}

int gs_codec_check_prefix(const uint8_t prefix[GS_FRAME_PREFIX_LEN], size_t max_message_size,
                          uint32_t *pbodylen)
{
    uint32_t n = ((uint32_t)prefix[0] << 24) | ((uint32_t)prefix[1] << 16) |
                 ((uint32_t)prefix[2] << 8) | (uint32_t)prefix[3];
    *pbodylen = n;
    if (n > max_message_size) {
        return GS_ERR_FRAME_TOO_LARGE;
    }
    return 0;
}

/* --- list iterators ----------------------------------------------------------------------- */

/* list_iter_init starts |it| over a caller-built array (|items|) or validated raw entries. */
static void list_iter_init(gs_list_iter *it, size_t n, const void *items, gs_bytes raw)
{
    it->idx = 0;
    it->n = n;
    it->items = items;
    it->p = raw.base;
    it->end = raw.base == NULL ? NULL : raw.base + raw.len;
}

void gs_peer_list_iter_init(gs_list_iter *it, const gs_peer_list *l)
{
    list_iter_init(it, l->n, l->items, l->raw);
}

bool gs_peer_list_next(gs_list_iter *it, gs_peer_info *out)
{
    if (it->idx >= it->n) {
        return false;
    }
    if (it->items != NULL) {
        *out = ((const gs_peer_info *)it->items)[it->idx++];
        return true;
    }
    if (it->p == NULL) {
        return false;
    }
    /* Already validated by gs_codec_decode; the checks below only keep a misuse in bounds. */
    rd r = {it->p, it->p, it->end, NULL};
    if (rd_raw(&r, out->id.b, GS_KEY_LEN) != 0 ||
        rd_opt_bytes(&r, &out->has_data, &out->data) != 0) {
        it->idx = it->n;
        return false;
    }
    it->p = r.p;
    it->idx++;
    return true;
}

void gs_ihave_list_iter_init(gs_list_iter *it, const gs_ihave_list *l)
{
    list_iter_init(it, l->n, l->items, l->raw);
}

bool gs_ihave_list_next(gs_list_iter *it, gs_ihave_entry *out)
{
    if (it->idx >= it->n) {
        return false;
    }
    if (it->items != NULL) {
        *out = ((const gs_ihave_entry *)it->items)[it->idx++];
        return true;
    }
    if (it->p == NULL) {
        return false;
    }
    rd r = {it->p, it->p, it->end, NULL};
    if (rd_ihave_entry(&r, out) != 0) {
        it->idx = it->n;
        return false;
    }
    it->p = r.p;
    it->idx++;
    return true;
}

/* --- encoding ----------------------------------------------------------------------------- */

/* gs_codec_varint_len returns the length of the minimal varint encoding of |v|. */
size_t gs_codec_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

static uint8_t *wr_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *wr_raw(uint8_t *p, const void *src, size_t n)
{
    if (n > 0) {
        memcpy(p, src, n);
    }
    return p + n;
}

static size_t bytes_len(const gs_bytes *b)
{
    return gs_codec_varint_len(b->len) + b->len;
}

static size_t opt_bytes_len(bool has, const gs_bytes *b)
{
    return 1 + (has ? bytes_len(b) : 0);
}

static uint8_t *wr_opt_bytes(uint8_t *p, bool has, const gs_bytes *b)
{
    *p++ = has ? 1 : 0;
    if (has) {
        p = wr_varint(p, b->len);
        p = wr_raw(p, b->base, b->len);
    }
    return p;
}

/* A list to encode must have its entries: an array, or validated raw bytes. */
static bool peer_list_ok(const gs_peer_list *l)
{
    return l->n == 0 || l->items != NULL || l->raw.base != NULL;
}

static bool ihave_list_ok(const gs_ihave_list *l)
{
    return l->n == 0 || l->items != NULL || l->raw.base != NULL;
}

static size_t peer_list_len(const gs_peer_list *l)
{
    size_t n = gs_codec_varint_len(l->n);
    size_t count = 0;
    gs_list_iter it;
    gs_peer_info pi;

    gs_peer_list_iter_init(&it, l);
    while (gs_peer_list_next(&it, &pi)) {
        n += GS_KEY_LEN + opt_bytes_len(pi.has_data, &pi.data);
        ++count;
    }
    return count == l->n ? n : 0;
}

static uint8_t *wr_peer_list(uint8_t *p, const gs_peer_list *l)
{
    gs_list_iter it;
    gs_peer_info pi;

    p = wr_varint(p, l->n);
    gs_peer_list_iter_init(&it, l);
    while (gs_peer_list_next(&it, &pi)) {
        p = wr_raw(p, pi.id.b, GS_KEY_LEN);
        p = wr_opt_bytes(p, pi.has_data, &pi.data);
    }
    return p;
}

static size_t ihave_list_len(const gs_ihave_list *l)
{
    size_t n = gs_codec_varint_len(l->n);
    size_t count = 0;
    gs_list_iter it;
    gs_ihave_entry e;

    gs_ihave_list_iter_init(&it, l);
    while (gs_ihave_list_next(&it, &e)) {
        n += sizeof(e.id.b) + gs_codec_varint_len(e.round);
        ++count;
    }
    return count == l->n ? n : 0;
}

static uint8_t *wr_ihave_list(uint8_t *p, const gs_ihave_list *l)
{
    gs_list_iter it;
    gs_ihave_entry e;

    p = wr_varint(p, l->n);
    gs_ihave_list_iter_init(&it, l);
    while (gs_ihave_list_next(&it, &e)) {
        p = wr_raw(p, e.id.b, sizeof(e.id.b));
        p = wr_varint(p, e.round);
    }
    return p;
}

size_t gs_codec_body_len(const gs_msg *msg)
{
    size_t n;

    switch (msg->type) {
    case GS_MSG_JOIN:
        return 2 + opt_bytes_len(msg->join.has_data, &msg->join.data);
    case GS_MSG_FORWARD_JOIN:
        return 2 + GS_KEY_LEN +
               opt_bytes_len(msg->forward_join.peer.has_data, &msg->forward_join.peer.data) +
               gs_codec_varint_len(msg->forward_join.ttl);
    case GS_MSG_SHUFFLE:
        if (!peer_list_ok(&msg->shuffle.nodes)) {
            return 0;
        }
        n = peer_list_len(&msg->shuffle.nodes);
        return n == 0 ? 0 : 2 + GS_KEY_LEN + n + gs_codec_varint_len(msg->shuffle.ttl);
    case GS_MSG_SHUFFLE_REPLY:
        if (!peer_list_ok(&msg->shuffle_reply.nodes)) {
            return 0;
        }
        n = peer_list_len(&msg->shuffle_reply.nodes);
        return n == 0 ? 0 : 2 + n;
    case GS_MSG_NEIGHBOR:
        if ((unsigned)msg->neighbor.priority > GS_PRIORITY_LOW) {
            return 0;
        }
        return 3 + opt_bytes_len(msg->neighbor.has_data, &msg->neighbor.data);
    case GS_MSG_DISCONNECT:
        return 4;
    case GS_MSG_GOSSIP:
        if ((unsigned)msg->gossip.scope > GS_SCOPE_NEIGHBORS) {
            return 0;
        }
        return 2 + sizeof(msg->gossip.id.b) + bytes_len(&msg->gossip.content) + 1 +
               (msg->gossip.scope == GS_SCOPE_SWARM ? gs_codec_varint_len(msg->gossip.round) : 0);
    case GS_MSG_PRUNE:
        return 2;
    case GS_MSG_GRAFT:
        return 2 + 1 + (msg->graft.has_id ? sizeof(msg->graft.id.b) : 0) +
               gs_codec_varint_len(msg->graft.round);
    case GS_MSG_IHAVE:
        if (!ihave_list_ok(&msg->ihave.entries)) {
            return 0;
        }
        n = ihave_list_len(&msg->ihave.entries);
        return n == 0 ? 0 : 2 + n;
    default:
        return 0;
    }
}

/* msg_write writes the body of |msg| (already sized by gs_codec_body_len) at |p|. */
static uint8_t *msg_write(uint8_t *p, const gs_msg *msg)
{
    unsigned t = (unsigned)msg->type;
    *p++ = t <= GS_MSG_DISCONNECT ? 0 : 1;
    *p++ = (uint8_t)(t <= GS_MSG_DISCONNECT ? t : t - GS_MSG_GOSSIP);

    switch (msg->type) {
    case GS_MSG_JOIN:
        return wr_opt_bytes(p, msg->join.has_data, &msg->join.data);
    case GS_MSG_FORWARD_JOIN:
        p = wr_raw(p, msg->forward_join.peer.id.b, GS_KEY_LEN);
        p = wr_opt_bytes(p, msg->forward_join.peer.has_data, &msg->forward_join.peer.data);
        return wr_varint(p, msg->forward_join.ttl);
    case GS_MSG_SHUFFLE:
        p = wr_raw(p, msg->shuffle.origin.b, GS_KEY_LEN);
        p = wr_peer_list(p, &msg->shuffle.nodes);
        return wr_varint(p, msg->shuffle.ttl);
    case GS_MSG_SHUFFLE_REPLY:
        return wr_peer_list(p, &msg->shuffle_reply.nodes);
    case GS_MSG_NEIGHBOR:
        *p++ = (uint8_t)msg->neighbor.priority;
        return wr_opt_bytes(p, msg->neighbor.has_data, &msg->neighbor.data);
    case GS_MSG_DISCONNECT:
        *p++ = msg->disconnect.alive ? 1 : 0;
        *p++ = 0; /* respond is obsolete: always false on the wire */
        return p;
    case GS_MSG_GOSSIP:
        p = wr_raw(p, msg->gossip.id.b, sizeof(msg->gossip.id.b));
        p = wr_varint(p, msg->gossip.content.len);
        p = wr_raw(p, msg->gossip.content.base, msg->gossip.content.len);
        *p++ = (uint8_t)msg->gossip.scope;
        if (msg->gossip.scope == GS_SCOPE_SWARM) {
            p = wr_varint(p, msg->gossip.round);
        }
        return p;
    case GS_MSG_PRUNE:
        return p;
    case GS_MSG_GRAFT:
        *p++ = msg->graft.has_id ? 1 : 0;
        if (msg->graft.has_id) {
            p = wr_raw(p, msg->graft.id.b, sizeof(msg->graft.id.b));
        }
        return wr_varint(p, msg->graft.round);
    case GS_MSG_IHAVE:
        return wr_ihave_list(p, &msg->ihave.entries);
    default:
        gs_unreachable();
    }
    return p;
}

gs_ssize gs_codec_encode_body(uint8_t *buf, size_t buflen, const gs_msg *msg)
{
    size_t n = gs_codec_body_len(msg);
    if (n == 0) {
        return GS_ERR_INVAL;
    }
    if (n > buflen) {
        return GS_ERR_NOBUF;
    }
    uint8_t *end = msg_write(buf, msg);
    (void)end;
    return (gs_ssize)n;
}

gs_ssize gs_codec_encode_frame(uint8_t *buf, size_t buflen, const gs_msg *msg,
                               size_t max_message_size)
{
    size_t n = gs_codec_body_len(msg);
    if (n == 0) {
        return GS_ERR_INVAL;
    }
    if (n >= max_message_size || n > UINT32_MAX) {
        return GS_ERR_MSG_TOO_LARGE;
    }
    if (buflen < GS_FRAME_PREFIX_LEN || n > buflen - GS_FRAME_PREFIX_LEN) {
        return GS_ERR_NOBUF;
    }
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    msg_write(buf + GS_FRAME_PREFIX_LEN, msg);
    return (gs_ssize)(n + GS_FRAME_PREFIX_LEN);
}

gs_ssize gs_codec_encode_header_frame(uint8_t *buf, size_t buflen, const gs_topic_id *topic)
{
    size_t n = GS_FRAME_PREFIX_LEN + sizeof(topic->b);
    if (buflen < n) {
        return GS_ERR_NOBUF;
    }
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = (uint8_t)sizeof(topic->b);
    memcpy(buf + GS_FRAME_PREFIX_LEN, topic->b, sizeof(topic->b));
    return (gs_ssize)n;
}
