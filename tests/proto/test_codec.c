/* SPDX-License-Identifier: MIT */
/*
 * test_codec.c: the wire codec against vectors/iroh-gossip-wire.txt (every valid vector decodes
 * and re-encodes byte-exactly, accept-/drop- vectors decode, every invalid- vector is rejected
 * with its own error code), the size rules, varint limits, a seeded round-trip property test over
 * every message type, a truncation walk (every strict prefix rejected, ASan proves no overread),
 * and the Ed25519 decompression check against libsodium keys and a slow square-root reference.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blake3.h"
#include "codec.h"
#include "gs_rand.h"
#include "expect_mem.h"
#include "hex.h"
#include "msg_eq.h"

/* --- vectors ------------------------------------------------------------------------------ */

#define WV_MAX 256

typedef struct wire_vec {
    char name[96];
    uint8_t *bytes;
    size_t len;
} wire_vec;

static wire_vec wv[WV_MAX];
static size_t nwv;

/* unhex_alloc decodes |s| into a buffer of exactly the decoded size (ASan sees overreads). */
static uint8_t *unhex_alloc(const char *s, size_t *plen)
{
    size_t n = strlen(s);
    uint8_t *out = malloc(n / 2 > 0 ? n / 2 : 1);
    cr_assert(out != NULL);
    ptrdiff_t len = gs_test_unhex(s, n, out, n / 2);
    cr_assert(len >= 0, "bad hex: %s", s);
    *plen = (size_t)len;
    return out;
}

static void load_wire_vectors(void)
{
    FILE *f = fopen(GS_VECTORS_DIR "/iroh-gossip-wire.txt", "r");
    cr_assert(f != NULL, "cannot open the wire vectors");
    static char line[40000];
    nwv = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        char *sp = strchr(line, ' ');
        cr_assert(sp != NULL, "bad line %s", line);
        *sp = '\0';
        char *hex = sp + 1;
        hex[strcspn(hex, "\r\n")] = '\0';
        cr_assert(lt(sz, nwv, WV_MAX));
        cr_assert(lt(sz, strlen(line), sizeof(wv[nwv].name)));
        strcpy(wv[nwv].name, line);
        wv[nwv].bytes = unhex_alloc(hex, &wv[nwv].len);
        ++nwv;
    }
    fclose(f);
    cr_assert(gt(sz, nwv, 40), "only %zu vectors", nwv);
}

static void free_wire_vectors(void)
{
    for (size_t i = 0; i < nwv; ++i) {
        free(wv[i].bytes);
    }
    nwv = 0;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool is_header_name(const char *s)
{
    for (; *s != '\0'; ++s) {
        if (strncasecmp(s, "header", 6) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_plain_valid(const char *name)
{
    return !has_prefix(name, "accept-") && !has_prefix(name, "drop-") &&
           !has_prefix(name, "invalid-") && !has_prefix(name, "peerdata-");
}

static const wire_vec *find_vec(const char *name)
{
    for (size_t i = 0; i < nwv; ++i) {
        if (strcmp(wv[i].name, name) == 0) {
            return &wv[i];
        }
    }
    cr_fatal("vector %s missing", name);
    return NULL;
}

static uint8_t key_a[32] = {0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8,
                            0xd0, 0x2a, 0x6f, 0x0d, 0x73, 0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2,
                            0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29};
static uint8_t key_b[32] = {0x8a, 0x88, 0xe3, 0xdd, 0x74, 0x09, 0xf1, 0x95, 0xfd, 0x52, 0xdb,
                            0x2d, 0x3c, 0xba, 0x5d, 0x72, 0xca, 0x67, 0x09, 0xbf, 0x1d, 0x94,
                            0x12, 0x1b, 0xf3, 0x74, 0x88, 0x01, 0xb4, 0x0f, 0x6f, 0x5c};

/* --- message comparison ------------------------------------------------------------------- */

static size_t peer_datas(const gs_msg *m, gs_bytes *out, size_t max)
{
    size_t n = 0;
    gs_list_iter it;
    gs_peer_info pi;
    const gs_peer_list *l = NULL;

    switch (m->type) {
    case GS_MSG_JOIN:
        if (m->join.has_data) {
            out[n++] = m->join.data;
        }
        break;
    case GS_MSG_NEIGHBOR:
        if (m->neighbor.has_data) {
            out[n++] = m->neighbor.data;
        }
        break;
    case GS_MSG_FORWARD_JOIN:
        if (m->forward_join.peer.has_data) {
            out[n++] = m->forward_join.peer.data;
        }
        break;
    case GS_MSG_SHUFFLE:
        l = &m->shuffle.nodes;
        break;
    case GS_MSG_SHUFFLE_REPLY:
        l = &m->shuffle_reply.nodes;
        break;
    default:
        break;
    }
    if (l != NULL) {
        gs_peer_list_iter_init(&it, l);
        while (gs_peer_list_next(&it, &pi) && n < max) {
            if (pi.has_data) {
                out[n++] = pi.data;
            }
        }
    }
    return n;
}

/* --- vector tests ------------------------------------------------------------------------- */

Test(codec, valid_vectors_roundtrip_exactly)
{
    size_t nvalid = 0;
    load_wire_vectors();
    for (size_t i = 0; i < nwv; ++i) {
        const wire_vec *v = &wv[i];
        if (!is_plain_valid(v->name)) {
            continue;
        }
        ++nvalid;
        uint32_t bodylen = 0;
        cr_assert(ge(sz, v->len, 4));
        cr_assert(eq(int, gs_codec_check_prefix(v->bytes, 4096, &bodylen), 0), "%s", v->name);
        cr_assert(eq(sz, bodylen, v->len - 4), "%s: prefix", v->name);
        uint8_t *out = malloc(v->len);
        cr_assert(out != NULL);
        if (is_header_name(v->name)) {
            gs_topic_id t;
            cr_assert(eq(int, gs_codec_decode_header(&t, v->bytes + 4, bodylen), 0), "%s", v->name);
            cr_assert(eq(i64, gs_codec_encode_header_frame(out, v->len, &t), v->len));
            cr_assert(eq(int, memcmp(out, v->bytes, v->len), 0), "%s re-encode", v->name);
            free(out);
            continue;
        }
        gs_msg m;
        size_t trailing = 99;
        int rv = gs_codec_decode(&m, v->bytes + 4, bodylen, &trailing);
        cr_assert(eq(int, rv, 0), "%s: %s", v->name, gs_strerror(rv));
        cr_assert(eq(sz, trailing, 0), "%s", v->name);
        cr_assert(eq(sz, gs_codec_body_len(&m), bodylen), "%s body_len", v->name);
        cr_assert(eq(i64, gs_codec_encode_body(out, bodylen, &m), bodylen), "%s", v->name);
        cr_assert(eq(int, memcmp(out, v->bytes + 4, bodylen), 0), "%s body re-encode", v->name);
        memset(out, 0, v->len);
        if (bodylen < 4096) {
            cr_assert(eq(i64, gs_codec_encode_frame(out, v->len, &m, 4096), v->len), "%s", v->name);
        } else {
            /* recv-only: the sender rule refuses it at 4096, a larger limit takes it */
            cr_assert(eq(i64, gs_codec_encode_frame(out, v->len, &m, 4096), GS_ERR_MSG_TOO_LARGE));
            cr_assert(eq(i64, gs_codec_encode_frame(out, v->len, &m, 4097), v->len), "%s", v->name);
        }
        cr_assert(eq(int, memcmp(out, v->bytes, v->len), 0), "%s frame re-encode", v->name);
        /* Every PeerData in the vectors is an AddrInfo that parses and re-encodes canonically. */
        gs_bytes pd[8];
        size_t npd = peer_datas(&m, pd, 8);
        for (size_t k = 0; k < npd; ++k) {
            gs_addrinfo ai;
            uint8_t enc[1024];
            cr_assert(eq(int, gs_addrinfo_decode(&ai, pd[k].base, pd[k].len, NULL), 0), "%s",
                      v->name);
            if (pd[k].len > 0) {
                cr_assert(eq(i64, gs_addrinfo_encode(enc, sizeof(enc), &ai), pd[k].len));
                cr_assert(eq(int, memcmp(enc, pd[k].base, pd[k].len), 0), "%s", v->name);
            }
        }
        free(out);
    }
    cr_assert(ge(sz, nvalid, 27), "only %zu valid vectors", nvalid);
    free_wire_vectors();
}

Test(codec, vector_fields_are_decoded)
{
    gs_msg m;
    gs_list_iter it;
    gs_peer_info pi;
    gs_ihave_entry e;
    const wire_vec *v;

    load_wire_vectors();
    v = find_vec("Shuffle-2nodes");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(eq(int, m.type, GS_MSG_SHUFFLE));
    EXPECT_MEM(m.shuffle.origin.b, key_a, 32, "m.shuffle.origin.b");
    cr_assert(eq(u16, m.shuffle.ttl, 5));
    cr_assert(eq(sz, m.shuffle.nodes.n, 2));
    gs_peer_list_iter_init(&it, &m.shuffle.nodes);
    cr_assert(gs_peer_list_next(&it, &pi));
    EXPECT_MEM(pi.id.b, key_b, 32, "pi.id.b");
    cr_assert(eq(int, pi.has_data, 0));
    cr_assert(gs_peer_list_next(&it, &pi));
    EXPECT_MEM(pi.id.b, key_a, 32, "pi.id.b");
    cr_assert(pi.has_data);
    cr_assert(eq(sz, pi.data.len, 9));
    cr_assert(eq(int, gs_peer_list_next(&it, &pi), 0));

    v = find_vec("IHave-2");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(eq(int, m.type, GS_MSG_IHAVE));
    gs_ihave_list_iter_init(&it, &m.ihave.entries);
    cr_assert(gs_ihave_list_next(&it, &e));
    cr_assert(eq(u16, e.round, 1));
    cr_assert(gs_ihave_list_next(&it, &e));
    cr_assert(eq(u16, e.round, 300));
    cr_assert(eq(int, gs_ihave_list_next(&it, &e), 0));

    v = find_vec("Gossip-swarm-r200");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(eq(int, m.type, GS_MSG_GOSSIP));
    cr_assert(eq(int, m.gossip.scope, GS_SCOPE_SWARM));
    cr_assert(eq(u16, m.gossip.round, 200));
    cr_assert(eq(sz, m.gossip.content.len, 2));
    cr_assert(eq(int, memcmp(m.gossip.content.base, "hi", 2), 0));
    uint8_t id[32];
    gs_blake3_hash("hi", 2, id);
    EXPECT_MEM(m.gossip.id.b, id, 32, "m.gossip.id.b");

    v = find_vec("Neighbor-low");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(eq(int, m.neighbor.priority, GS_PRIORITY_LOW));
    cr_assert(m.neighbor.has_data);

    v = find_vec("Disconnect-alive");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(m.disconnect.alive);
    cr_assert(eq(int, m.disconnect.respond, 0));

    v = find_vec("Graft-without-id");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL), 0));
    cr_assert(eq(int, m.graft.has_id, 0));
    cr_assert(eq(u16, m.graft.round, 2));
    free_wire_vectors();
}

Test(codec, accept_vectors_decode)
{
    size_t naccept = 0;
    load_wire_vectors();
    for (size_t i = 0; i < nwv; ++i) {
        const wire_vec *v = &wv[i];
        if (!has_prefix(v->name, "accept-")) {
            continue;
        }
        ++naccept;
        uint32_t bodylen = 0;
        cr_assert(eq(int, gs_codec_check_prefix(v->bytes, 4096, &bodylen), 0), "%s", v->name);
        cr_assert(eq(sz, bodylen, v->len - 4));
        if (is_header_name(v->name)) {
            gs_topic_id t;
            uint8_t topic[32];
            memset(topic, 0x17, sizeof(topic));
            cr_assert(eq(int, gs_codec_decode_header(&t, v->bytes + 4, bodylen), 0), "%s", v->name);
            EXPECT_MEM(t.b, topic, 32, "t.b");
            continue;
        }
        gs_msg m;
        gs_msg m2;
        size_t trailing = 0;
        int rv = gs_codec_decode(&m, v->bytes + 4, bodylen, &trailing);
        cr_assert(eq(int, rv, 0), "%s: %s", v->name, gs_strerror(rv));
        /* Re-encoding gives the canonical form, which decodes to the same value. */
        uint8_t out[128];
        gs_ssize n = gs_codec_encode_body(out, sizeof(out), &m);
        cr_assert(gt(sz, n, 0), "%s", v->name);
        cr_assert(eq(int, gs_codec_decode(&m2, out, (size_t)n, NULL), 0));
        cr_assert(gs_test_msg_eq(&m, &m2), "%s", v->name);
    }
    cr_assert(ge(sz, naccept, 4));

    gs_msg m;
    size_t trailing = 0;
    const wire_vec *v = find_vec("accept-trailing-bytes");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, &trailing), 0));
    cr_assert(eq(int, m.type, GS_MSG_PRUNE));
    cr_assert(eq(sz, trailing, 1));

    v = find_vec("accept-overlong-varint");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, &trailing), 0));
    cr_assert(eq(int, m.type, GS_MSG_GRAFT));
    cr_assert(eq(u16, m.graft.round, 2));
    uint8_t out[16];
    static uint8_t canon[] = {0x01, 0x02, 0x00, 0x02};
    cr_assert(eq(i64, gs_codec_encode_body(out, sizeof(out), &m), 4));
    EXPECT_MEM(out, canon, 4, "out");

    v = find_vec("accept-smallorder-key");
    cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, v->len - 4, &trailing), 0));
    cr_assert(eq(int, m.type, GS_MSG_FORWARD_JOIN));
    cr_assert(eq(u8, m.forward_join.peer.id.b[0], 1));
    cr_assert(eq(u16, m.forward_join.ttl, 6));
    free_wire_vectors();
}

Test(codec, drop_vectors_decode)
{
    size_t ndrop = 0;
    load_wire_vectors();
    for (size_t i = 0; i < nwv; ++i) {
        const wire_vec *v = &wv[i];
        if (!has_prefix(v->name, "drop-")) {
            continue;
        }
        ++ndrop;
        gs_msg m;
        int rv = gs_codec_decode(&m, v->bytes + 4, v->len - 4, NULL);
        cr_assert(eq(int, rv, 0), "%s: %s", v->name, gs_strerror(rv));
        if (m.type == GS_MSG_GOSSIP) {
            /* the codec does not check the id; the protocol layer does and drops it */
            uint8_t id[32];
            gs_blake3_hash(m.gossip.content.base, m.gossip.content.len, id);
            cr_assert(ne(int, memcmp(id, m.gossip.id.b, 32), 0), "%s", v->name);
        }
    }
    cr_assert(ge(sz, ndrop, 1));
    free_wire_vectors();
}

typedef struct expected_err {
    const char *name;
    int code;
    size_t offset; /* error offset in the body; SIZE_MAX: not checked */
} expected_err;

/* Every invalid- vector and the code it must produce (a new vector fails until it is listed). */
static const expected_err invalid_codes[] = {
    {"invalid-empty-body", GS_ERR_TRUNCATED, 0},
    {"invalid-bad-enum-tag-outer", GS_ERR_BAD_TAG, 0},
    {"invalid-bad-enum-tag-swarm", GS_ERR_BAD_TAG, 1},
    {"invalid-bad-enum-tag-gossip", GS_ERR_BAD_TAG, 1},
    {"invalid-bad-priority", GS_ERR_BAD_TAG, 2},
    {"invalid-bad-option-tag", GS_ERR_BAD_OPTION, 2},
    {"invalid-bad-bool", GS_ERR_BAD_BOOL, 2},
    {"invalid-bad-scope-tag", GS_ERR_BAD_TAG, 37},
    {"invalid-truncated-body", GS_ERR_TRUNCATED, 37},
    {"invalid-truncated-key", GS_ERR_TRUNCATED, 33},
    {"invalid-round-varint-overflow", GS_ERR_VARINT_OVERFLOW, 3},
    {"invalid-ed25519-point", GS_ERR_BAD_KEY, 2},
    {"invalid-ed25519-point-in-list", GS_ERR_BAD_KEY, 36},
    {"invalid-header-short", GS_ERR_BAD_HEADER, SIZE_MAX},
    {"invalid-length-over-limit", GS_ERR_FRAME_TOO_LARGE, SIZE_MAX},
};

Test(codec, invalid_vectors_rejected_with_their_code)
{
    size_t ninvalid = 0;
    load_wire_vectors();
    for (size_t i = 0; i < nwv; ++i) {
        const wire_vec *v = &wv[i];
        if (!has_prefix(v->name, "invalid-")) {
            continue;
        }
        ++ninvalid;
        const expected_err *want = NULL;
        for (size_t k = 0; k < sizeof(invalid_codes) / sizeof(invalid_codes[0]); ++k) {
            if (strcmp(invalid_codes[k].name, v->name) == 0) {
                want = &invalid_codes[k];
            }
        }
        cr_assert(want != NULL, "no expected code listed for %s", v->name);
        /* The receiver looks at the 4-byte prefix alone first. */
        uint8_t prefix[GS_FRAME_PREFIX_LEN];
        memcpy(prefix, v->bytes, sizeof(prefix));
        uint32_t bodylen = 0;
        int rv = gs_codec_check_prefix(prefix, 4096, &bodylen);
        if (want->code == GS_ERR_FRAME_TOO_LARGE) {
            cr_assert(eq(int, rv, GS_ERR_FRAME_TOO_LARGE), "%s", v->name);
            cr_assert(eq(u32, bodylen, 4097));
            /* a receiver with a larger limit would take it */
            cr_assert(eq(int, gs_codec_check_prefix(prefix, 4097, &bodylen), 0));
            continue;
        }
        cr_assert(eq(int, rv, 0), "%s", v->name);
        cr_assert(eq(sz, bodylen, v->len - 4), "%s", v->name);
        if (is_header_name(v->name)) {
            gs_topic_id t;
            cr_assert(eq(int, gs_codec_decode_header(&t, v->bytes + 4, bodylen), want->code), "%s",
                      v->name);
            continue;
        }
        gs_msg m;
        size_t off = 12345;
        rv = gs_codec_decode_at(&m, v->bytes + 4, bodylen, NULL, &off);
        cr_assert(eq(int, rv, want->code), "%s: got %s", v->name, gs_strerror(rv));
        cr_assert(eq(int, gs_codec_decode(&m, v->bytes + 4, bodylen, NULL), want->code));
        if (want->offset != SIZE_MAX) {
            cr_assert(eq(sz, off, want->offset), "%s: error offset", v->name);
        }
    }
    cr_assert(eq(sz, ninvalid, sizeof(invalid_codes) / sizeof(invalid_codes[0])));
    free_wire_vectors();
}

/* --- size rules --------------------------------------------------------------------------- */

Test(codec, size_rules)
{
    /* A Gossip body is 2 + 32 + v(len) + len + 1 + v(round): 4057 bytes of content -> 4095. */
    size_t clen = 4057;
    uint8_t *content = malloc(clen + 1);
    uint8_t *buf = malloc(8192);
    cr_assert(content != NULL && buf != NULL);
    memset(content, 0xab, clen + 1);
    gs_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_GOSSIP;
    m.gossip.content.base = content;
    m.gossip.content.len = clen;
    m.gossip.scope = GS_SCOPE_SWARM;
    cr_assert(eq(sz, gs_codec_body_len(&m), 4095));
    cr_assert(eq(i64, gs_codec_encode_frame(buf, 8192, &m, 4096), 4099));
    m.gossip.content.len = clen + 1;
    cr_assert(eq(sz, gs_codec_body_len(&m), 4096));
    cr_assert(eq(i64, gs_codec_encode_frame(buf, 8192, &m, 4096), GS_ERR_MSG_TOO_LARGE));
    /* the body encoder has no size rule; the frame encoder at a larger limit takes it */
    cr_assert(eq(i64, gs_codec_encode_body(buf, 8192, &m), 4096));
    cr_assert(eq(i64, gs_codec_encode_frame(buf, 8192, &m, 4097), 4100));
    /* Forwarding at round 128 makes the round varint 2 bytes: 4057 bytes no longer fit. */
    m.gossip.content.len = clen;
    m.gossip.round = 128;
    cr_assert(eq(i64, gs_codec_encode_frame(buf, 8192, &m, 4096), GS_ERR_MSG_TOO_LARGE));

    /* Receiver rule: a prefix equal to the limit is fine, one above is refused. */
    uint8_t p[4] = {0, 0, 0x10, 0x00};
    uint32_t bl = 0;
    cr_assert(eq(int, gs_codec_check_prefix(p, 4096, &bl), 0));
    cr_assert(eq(u32, bl, 4096));
    p[3] = 1;
    cr_assert(eq(int, gs_codec_check_prefix(p, 4096, &bl), GS_ERR_FRAME_TOO_LARGE));
    uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
    cr_assert(eq(int, gs_codec_check_prefix(big, 4096, &bl), GS_ERR_FRAME_TOO_LARGE));
    cr_assert(eq(u32, bl, 0xffffffffu));
    uint8_t small[4] = {0, 0, 2, 0};
    cr_assert(eq(int, gs_codec_check_prefix(small, 512, &bl), 0));
    small[3] = 1;
    cr_assert(eq(int, gs_codec_check_prefix(small, 512, &bl), GS_ERR_FRAME_TOO_LARGE));
    free(content);
    free(buf);
}

Test(codec, header_frames)
{
    gs_topic_id t;
    gs_topic_id t2;
    uint8_t buf[36];
    memset(t.b, 0x17, sizeof(t.b));
    cr_assert(eq(i64, gs_codec_encode_header_frame(buf, 35, &t), GS_ERR_NOBUF));
    cr_assert(eq(i64, gs_codec_encode_header_frame(buf, 36, &t), 36));
    cr_assert(eq(u8, buf[3], 0x20));
    uint32_t bl = 0;
    cr_assert(eq(int, gs_codec_check_prefix(buf, 512, &bl), 0));
    cr_assert(eq(u32, bl, 32));
    cr_assert(eq(int, gs_codec_decode_header(&t2, buf + 4, 32), 0));
    EXPECT_MEM(t2.b, t.b, 32, "t2.b");
    cr_assert(eq(int, gs_codec_decode_header(&t2, buf + 4, 0), GS_ERR_BAD_HEADER));
    cr_assert(eq(int, gs_codec_decode_header(&t2, buf + 4, 31), GS_ERR_BAD_HEADER));
}

/* --- varints, tags, lengths --------------------------------------------------------------- */

static int decode_hex_body(const char *hex, gs_msg *m, size_t *ptrailing)
{
    size_t len = 0;
    uint8_t *b = unhex_alloc(hex, &len);
    int rv = gs_codec_decode(m, b, len, ptrailing);
    free(b);
    return rv;
}

Test(codec, varint_limits)
{
    gs_msg m;
    /* Graft{None, round}: u16 round, 3 bytes at most, third byte <= 03 */
    cr_assert(eq(int, decode_hex_body("010200ffff03", &m, NULL), 0));
    cr_assert(eq(u16, m.graft.round, 65535));
    cr_assert(eq(int, decode_hex_body("010200ffff04", &m, NULL), GS_ERR_VARINT_OVERFLOW));
    cr_assert(eq(int, decode_hex_body("010200808000", &m, NULL), 0));
    cr_assert(eq(u16, m.graft.round, 0));
    cr_assert(eq(int, decode_hex_body("01020080808000", &m, NULL), GS_ERR_VARINT_OVERFLOW));
    cr_assert(eq(int, decode_hex_body("010200ff", &m, NULL), GS_ERR_TRUNCATED));
    cr_assert(eq(int, decode_hex_body("010200", &m, NULL), GS_ERR_TRUNCATED));
    /* enum tags are u32 varints: 5 bytes at most, fifth <= 0f; non-minimal accepted */
    cr_assert(eq(int, decode_hex_body("818080800082808080000002", &m, NULL), 0));
    cr_assert(eq(int, m.type, GS_MSG_GRAFT));
    cr_assert(eq(int, decode_hex_body("80808080100101", &m, NULL), GS_ERR_VARINT_OVERFLOW));
    cr_assert(eq(int, decode_hex_body("ffffffff0f01", &m, NULL), GS_ERR_BAD_TAG));
    /* lengths are usize: 10 bytes at most, tenth <= 01 */
    static const char gossip_hdr[] =
        "010085052e9aab1b67b6622d94a08441b09fd5b7aca61ee360416d70de5da67d86ca";
    char hex[512];
    snprintf(hex, sizeof(hex), "%s%s", gossip_hdr,
             "80808080808080808000"
             "01");
    cr_assert(eq(int, decode_hex_body(hex, &m, NULL), 0));
    cr_assert(eq(sz, m.gossip.content.len, 0));
    cr_assert(eq(int, m.gossip.scope, GS_SCOPE_NEIGHBORS));
    snprintf(hex, sizeof(hex), "%s%s", gossip_hdr,
             "ffffffffffffffffff02"
             "01");
    cr_assert(eq(int, decode_hex_body(hex, &m, NULL), GS_ERR_VARINT_OVERFLOW));
    /* a content length far beyond the body: truncated, nothing read past the end */
    snprintf(hex, sizeof(hex), "%s%s", gossip_hdr, "ffffffffffffffff7f01");
    cr_assert(eq(int, decode_hex_body(hex, &m, NULL), GS_ERR_TRUNCATED));
    /* a hostile list count is refused before any item is read */
    cr_assert(eq(int, decode_hex_body("0003ffffffffffffffffff01", &m, NULL), GS_ERR_BAD_LENGTH));
    cr_assert(eq(int, decode_hex_body("0103ffffffff0f", &m, NULL), GS_ERR_BAD_LENGTH));
    cr_assert(eq(int, decode_hex_body("010302", &m, NULL), GS_ERR_BAD_LENGTH));
}

Test(codec, obsolete_respond_is_ignored)
{
    gs_msg m;
    uint8_t out[8];
    static uint8_t canon[] = {0x00, 0x05, 0x01, 0x00};
    cr_assert(eq(int, decode_hex_body("00050101", &m, NULL), 0));
    cr_assert(m.disconnect.alive);
    cr_assert(m.disconnect.respond);
    cr_assert(eq(i64, gs_codec_encode_body(out, sizeof(out), &m), 4));
    EXPECT_MEM(out, canon, 4, "out");
    cr_assert(eq(int, decode_hex_body("00050102", &m, NULL), GS_ERR_BAD_BOOL));
}

Test(codec, encoder_refuses_bad_input)
{
    gs_msg m;
    uint8_t buf[64];
    memset(&m, 0, sizeof(m));
    m.type = (gs_msg_type)10;
    cr_assert(eq(sz, gs_codec_body_len(&m), 0));
    cr_assert(eq(i64, gs_codec_encode_body(buf, sizeof(buf), &m), GS_ERR_INVAL));
    cr_assert(eq(i64, gs_codec_encode_frame(buf, sizeof(buf), &m, 4096), GS_ERR_INVAL));
    m.type = GS_MSG_NEIGHBOR;
    m.neighbor.priority = (gs_priority)2;
    cr_assert(eq(i64, gs_codec_encode_body(buf, sizeof(buf), &m), GS_ERR_INVAL));
    m.type = GS_MSG_GOSSIP;
    m.gossip.scope = (gs_scope)2;
    cr_assert(eq(i64, gs_codec_encode_body(buf, sizeof(buf), &m), GS_ERR_INVAL));
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_IHAVE;
    m.ihave.entries.n = 3; /* no items, no raw bytes */
    cr_assert(eq(i64, gs_codec_encode_body(buf, sizeof(buf), &m), GS_ERR_INVAL));
    memset(&m, 0, sizeof(m));
    m.type = GS_MSG_SHUFFLE_REPLY;
    m.shuffle_reply.nodes.n = 1;
    cr_assert(eq(i64, gs_codec_encode_body(buf, sizeof(buf), &m), GS_ERR_INVAL));
}

/* --- random messages ---------------------------------------------------------------------- */

/* arena: storage the generated messages borrow from (reset per message). */
typedef struct arena {
    uint8_t buf[256 * 1024];
    size_t used;
    gs_peer_info peers[64];
    gs_ihave_entry ihaves[300];
} arena;

static uint8_t *arena_get(arena *a, size_t n)
{
    cr_assert(le(sz, n, sizeof(a->buf) - a->used), "arena full");
    uint8_t *p = a->buf + a->used;
    a->used += n;
    return p;
}

static void gen_key(gs_rand *r, uint8_t key[32])
{
    do {
        for (int i = 0; i < 32; ++i) {
            key[i] = (uint8_t)gs_rand_next(r);
        }
    } while (!gs_ed25519_key_is_valid(key));
}

static uint16_t gen_u16(gs_rand *r)
{
    switch (gs_rand_below(r, 4)) {
    case 0:
        return (uint16_t)gs_rand_below(r, 128);
    case 1:
        return (uint16_t)(127 + gs_rand_below(r, 3)); /* the 1/2-byte boundary */
    case 2:
        return (uint16_t)(65535 - gs_rand_below(r, 2));
    default:
        return (uint16_t)gs_rand_below(r, 65536);
    }
}

static gs_bytes gen_bytes(gs_rand *r, arena *a, size_t maxlen)
{
    gs_bytes b;
    size_t len;
    switch (gs_rand_below(r, 4)) {
    case 0:
        len = 0;
        break;
    case 1:
        len = (size_t)gs_rand_below(r, 16);
        break;
    case 2:
        len = 126 + (size_t)gs_rand_below(r, 4);
        break;
    default:
        len = (size_t)gs_rand_below(r, maxlen + 1);
        break;
    }
    uint8_t *p = arena_get(a, len);
    for (size_t i = 0; i < len; ++i) {
        p[i] = (uint8_t)gs_rand_next(r);
    }
    b.base = p;
    b.len = len;
    return b;
}

/* gen_peer_data makes PeerData: random bytes or a real AddrInfo. */
static void gen_peer_data(gs_rand *r, arena *a, bool *has, gs_bytes *data)
{
    *has = gs_rand_below(r, 4) != 0;
    if (!*has) {
        data->base = NULL;
        data->len = 0;
        return;
    }
    if (gs_rand_below(r, 2) == 0) {
        *data = gen_bytes(r, a, 200);
        return;
    }
    gs_addrinfo ai;
    memset(&ai, 0, sizeof(ai));
    ai.has_relay = gs_rand_below(r, 3) == 0;
    if (ai.has_relay) {
        strcpy(ai.relay_url, "https://relay.example./");
    }
    ai.naddrs = (size_t)gs_rand_below(r, GS_ADDRINFO_MAX_ADDRS + 1);
    for (size_t i = 0; i < ai.naddrs; ++i) {
        ai.addrs[i].family = gs_rand_below(r, 2) ? 4 : 6;
        for (int k = 0; k < 16; ++k) {
            ai.addrs[i].addr[k] = (uint8_t)gs_rand_next(r);
        }
        ai.addrs[i].port = gen_u16(r);
    }
    uint8_t *p = arena_get(a, 512);
    gs_ssize n = gs_addrinfo_encode(p, 512, &ai);
    cr_assert(gt(sz, n, 0));
    data->base = p;
    data->len = (size_t)n;
}

static void gen_peer(gs_rand *r, arena *a, gs_peer_info *pi)
{
    gen_key(r, pi->id.b);
    gen_peer_data(r, a, &pi->has_data, &pi->data);
}

static void gen_msg(gs_rand *r, arena *a, gs_msg *m, gs_msg_type type)
{
    memset(m, 0, sizeof(*m));
    a->used = 0;
    m->type = type;
    switch (type) {
    case GS_MSG_JOIN:
        gen_peer_data(r, a, &m->join.has_data, &m->join.data);
        break;
    case GS_MSG_FORWARD_JOIN:
        gen_peer(r, a, &m->forward_join.peer);
        m->forward_join.ttl = gen_u16(r);
        break;
    case GS_MSG_SHUFFLE:
    case GS_MSG_SHUFFLE_REPLY: {
        size_t n = (size_t)gs_rand_below(r, 13);
        for (size_t i = 0; i < n; ++i) {
            gen_peer(r, a, &a->peers[i]);
        }
        gs_peer_list *l = type == GS_MSG_SHUFFLE ? &m->shuffle.nodes : &m->shuffle_reply.nodes;
        l->n = n;
        l->items = a->peers;
        if (type == GS_MSG_SHUFFLE) {
            gen_key(r, m->shuffle.origin.b);
            m->shuffle.ttl = gen_u16(r);
        }
        break;
    }
    case GS_MSG_NEIGHBOR:
        m->neighbor.priority = gs_rand_below(r, 2) ? GS_PRIORITY_LOW : GS_PRIORITY_HIGH;
        gen_peer_data(r, a, &m->neighbor.has_data, &m->neighbor.data);
        break;
    case GS_MSG_DISCONNECT:
        m->disconnect.alive = gs_rand_below(r, 2) != 0;
        break;
    case GS_MSG_GOSSIP:
        m->gossip.content = gen_bytes(r, a, 20000);
        gs_blake3_hash(m->gossip.content.base, m->gossip.content.len, m->gossip.id.b);
        m->gossip.scope = gs_rand_below(r, 2) ? GS_SCOPE_NEIGHBORS : GS_SCOPE_SWARM;
        if (m->gossip.scope == GS_SCOPE_SWARM) {
            m->gossip.round = gen_u16(r);
        }
        break;
    case GS_MSG_PRUNE:
        break;
    case GS_MSG_GRAFT:
        m->graft.has_id = gs_rand_below(r, 2) != 0;
        if (m->graft.has_id) {
            for (int i = 0; i < 32; ++i) {
                m->graft.id.b[i] = (uint8_t)gs_rand_next(r);
            }
        }
        m->graft.round = gen_u16(r);
        break;
    case GS_MSG_IHAVE: {
        size_t n = gs_rand_below(r, 8) == 0 ? 116 + (size_t)gs_rand_below(r, 150)
                                            : (size_t)gs_rand_below(r, 10);
        for (size_t i = 0; i < n; ++i) {
            for (int k = 0; k < 32; ++k) {
                a->ihaves[i].id.b[k] = (uint8_t)gs_rand_next(r);
            }
            a->ihaves[i].round = gen_u16(r);
        }
        m->ihave.entries.n = n;
        m->ihave.entries.items = a->ihaves;
        break;
    }
    }
}

Test(codec, random_messages_roundtrip, .timeout = 120)
{
    static arena a;
    gs_rand r;
    gs_rand_seed(&r, 20261124);
    size_t cap = 64 * 1024;
    uint8_t *b1 = malloc(cap);
    uint8_t *b2 = malloc(cap);
    cr_assert(b1 != NULL && b2 != NULL);

    for (int iter = 0; iter < 3000; ++iter) {
        gs_msg m;
        gs_msg d;
        gen_msg(&r, &a, &m, (gs_msg_type)(iter % 10));
        size_t blen = gs_codec_body_len(&m);
        cr_assert(gt(sz, blen, 0));
        gs_ssize n1 = gs_codec_encode_body(b1, cap, &m);
        cr_assert(eq(sz, n1, blen), "iter %d", iter);
        /* append junk: it is reported as trailing and changes nothing */
        size_t junk = (size_t)gs_rand_below(&r, 3);
        memset(b1 + n1, 0xee, junk);
        size_t trailing = 99;
        int rv = gs_codec_decode(&d, b1, (size_t)n1 + junk, &trailing);
        cr_assert(eq(int, rv, 0), "iter %d type %d: %s", iter, m.type, gs_strerror(rv));
        cr_assert(eq(sz, trailing, junk));
        cr_assert(gs_test_msg_eq(&m, &d), "iter %d type %d: decoded value differs", iter, m.type);
        gs_ssize n2 = gs_codec_encode_body(b2, cap, &d);
        cr_assert(eq(sz, n2, n1));
        cr_assert(eq(int, memcmp(b1, b2, (size_t)n1), 0), "iter %d: re-encode differs", iter);
        /* frames follow the sender rule */
        gs_ssize nf = gs_codec_encode_frame(b2, cap, &d, 4096);
        if ((size_t)n1 >= 4096) {
            cr_assert(eq(sz, nf, GS_ERR_MSG_TOO_LARGE));
        } else {
            cr_assert(eq(sz, nf, n1 + 4));
            cr_assert(eq(int, memcmp(b2 + 4, b1, (size_t)n1), 0));
        }
        /* NOBUF for a buffer one byte short, never writing past it */
        uint8_t *tight = malloc((size_t)n1);
        cr_assert(tight != NULL);
        cr_assert(eq(i64, gs_codec_encode_body(tight, (size_t)n1 - 1, &m), GS_ERR_NOBUF));
        cr_assert(eq(i64, gs_codec_encode_body(tight, (size_t)n1, &m), n1));
        free(tight);
    }
    free(b1);
    free(b2);
}

/* expect_prefixes_rejected decodes every strict prefix of |body| from an exact-size copy. */
static void expect_prefixes_rejected(const uint8_t *body, size_t len, const char *what)
{
    for (size_t k = 0; k < len; ++k) {
        uint8_t *p = malloc(k > 0 ? k : 1);
        cr_assert(p != NULL);
        memcpy(p, body, k);
        gs_msg m;
        int rv = gs_codec_decode(&m, p, k, NULL);
        cr_assert(rv == GS_ERR_TRUNCATED || rv == GS_ERR_BAD_LENGTH,
                  "%s: prefix %zu/%zu gave %d (%s)", what, k, len, rv, gs_strerror(rv));
        free(p);
    }
}

Test(codec, every_strict_prefix_is_rejected, .timeout = 120)
{
    load_wire_vectors();
    for (size_t i = 0; i < nwv; ++i) {
        const wire_vec *v = &wv[i];
        if (!(is_plain_valid(v->name) || has_prefix(v->name, "drop-") ||
              has_prefix(v->name, "accept-")) ||
            is_header_name(v->name) || has_prefix(v->name, "accept-trailing")) {
            continue;
        }
        expect_prefixes_rejected(v->bytes + 4, v->len - 4, v->name);
        /* headers: every prefix shorter than 32 bytes */
    }
    const wire_vec *h = find_vec("StreamHeader");
    for (size_t k = 0; k < 32; ++k) {
        gs_topic_id t;
        cr_assert(eq(int, gs_codec_decode_header(&t, h->bytes + 4, k), GS_ERR_BAD_HEADER));
    }
    free_wire_vectors();

    static arena a;
    gs_rand r;
    gs_rand_seed(&r, 99);
    uint8_t *buf = malloc(64 * 1024);
    cr_assert(buf != NULL);
    for (int iter = 0; iter < 200; ++iter) {
        gs_msg m;
        gen_msg(&r, &a, &m, (gs_msg_type)(iter % 10));
        if (m.type == GS_MSG_GOSSIP && m.gossip.content.len > 300) {
            m.gossip.content.len = 300; /* keep the walk quadratic-cheap */
        }
        gs_ssize n = gs_codec_encode_body(buf, 64 * 1024, &m);
        cr_assert(gt(sz, n, 0));
        expect_prefixes_rejected(buf, (size_t)n, "random");
    }
    free(buf);
}

Test(codec, iterators_over_caller_arrays)
{
    gs_peer_info items[2];
    memset(items, 0, sizeof(items));
    memcpy(items[0].id.b, key_a, 32);
    memcpy(items[1].id.b, key_b, 32);
    items[1].has_data = true;
    items[1].data.base = (const uint8_t *)"\x00\x00";
    items[1].data.len = 2;
    gs_peer_list l = {2, items, {NULL, 0}};
    gs_list_iter it;
    gs_peer_info pi;
    gs_peer_list_iter_init(&it, &l);
    cr_assert(gs_peer_list_next(&it, &pi));
    EXPECT_MEM(pi.id.b, key_a, 32, "pi.id.b");
    cr_assert(gs_peer_list_next(&it, &pi));
    cr_assert(pi.has_data);
    cr_assert(eq(int, gs_peer_list_next(&it, &pi), 0));
    gs_peer_list empty = {0, NULL, {NULL, 0}};
    gs_peer_list_iter_init(&it, &empty);
    cr_assert(eq(int, gs_peer_list_next(&it, &pi), 0));
    gs_ihave_list ie = {0, NULL, {NULL, 0}};
    gs_ihave_entry e;
    gs_ihave_list_iter_init(&it, &ie);
    cr_assert(eq(int, gs_ihave_list_next(&it, &e), 0));
}

/* --- Ed25519 key check -------------------------------------------------------------------- */

Test(ed25519, vector_keys)
{
    uint8_t bad[32] = {2};
    uint8_t small[32] = {1};
    cr_assert(gs_ed25519_key_is_valid(key_a));
    cr_assert(gs_ed25519_key_is_valid(key_b));
    cr_assert(eq(int, gs_ed25519_key_is_valid(bad), 0));
    cr_assert(gs_ed25519_key_is_valid(small));
    /* the sign bit is ignored */
    small[31] = 0x80;
    cr_assert(gs_ed25519_key_is_valid(small));
    bad[31] = 0x80;
    cr_assert(eq(int, gs_ed25519_key_is_valid(bad), 0));
}

Test(ed25519, libsodium_keys_are_valid)
{
    cr_assert(ge(int, sodium_init(), 0));
    for (int i = 0; i < 500; ++i) {
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
        cr_assert(eq(int, crypto_sign_keypair(pk, sk), 0));
        cr_assert(gs_ed25519_key_is_valid(pk), "libsodium key %d rejected", i);
    }
    /* secret key 00 x 32 and 01 x 32 give the vector keys A and B */
    uint8_t seed[32];
    uint8_t pk[32];
    uint8_t sk[64];
    memset(seed, 0, sizeof(seed));
    cr_assert(eq(int, crypto_sign_seed_keypair(pk, sk, seed), 0));
    EXPECT_MEM(pk, key_a, 32, "pk");
    memset(seed, 1, sizeof(seed));
    cr_assert(eq(int, crypto_sign_seed_keypair(pk, sk, seed), 0));
    EXPECT_MEM(pk, key_b, 32, "pk");
}

/*
 * A slow, independent reference: 16 limbs of 16 bits in int64, generic square-and-multiply, d
 * computed from its definition, and validity decided by actually computing the square root
 * x = u v^3 (u v^7)^((p-5)/8) and checking v x^2 = +-u (the decompression method of RFC 8032),
 * instead of the library's Euler criterion over radix-2^51 limbs.
 */
typedef int64_t ref_fe[16];

/* ref_carry moves each limb's excess (floor division, so negative limbs work) upwards. */
static void ref_carry(ref_fe o)
{
    for (int i = 0; i < 16; ++i) {
        int64_t c = o[i] >> 16; /* arithmetic shift: gcc and clang floor negative values */
        o[i] -= c * 65536;
        if (i < 15) {
            o[i + 1] += c;
        } else {
            o[0] += 38 * c; /* 2^256 = 38 mod p */
        }
    }
}

static void ref_add(ref_fe o, const ref_fe a, const ref_fe b)
{
    for (int i = 0; i < 16; ++i) {
        o[i] = a[i] + b[i];
    }
}

static void ref_sub(ref_fe o, const ref_fe a, const ref_fe b)
{
    for (int i = 0; i < 16; ++i) {
        o[i] = a[i] - b[i];
    }
}

static void ref_mul(ref_fe o, const ref_fe a, const ref_fe b)
{
    int64_t t[31] = {0};
    for (int i = 0; i < 16; ++i) {
        for (int j = 0; j < 16; ++j) {
            t[i + j] += a[i] * b[j];
        }
    }
    for (int i = 0; i < 15; ++i) {
        t[i] += 38 * t[i + 16];
    }
    for (int i = 0; i < 16; ++i) {
        o[i] = t[i];
    }
    ref_carry(o);
    ref_carry(o);
}

static void ref_pack(uint8_t out[32], const ref_fe n)
{
    ref_fe t;
    ref_fe m;
    memcpy(t, n, sizeof(t));
    ref_carry(t);
    ref_carry(t);
    ref_carry(t);
    for (int pass = 0; pass < 2; ++pass) {
        m[0] = t[0] - 0xffed;
        for (int i = 1; i < 15; ++i) {
            m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
            m[i - 1] &= 0xffff;
        }
        m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
        int64_t borrow = (m[15] >> 16) & 1;
        m[14] &= 0xffff;
        if (borrow == 0) {
            memcpy(t, m, sizeof(t));
        }
    }
    for (int i = 0; i < 16; ++i) {
        out[2 * i] = (uint8_t)(t[i] & 0xff);
        out[2 * i + 1] = (uint8_t)(t[i] >> 8);
    }
}

static void ref_unpack(ref_fe o, const uint8_t in[32])
{
    for (int i = 0; i < 16; ++i) {
        o[i] = in[2 * i] + ((int64_t)in[2 * i + 1] << 8);
    }
    o[15] &= 0x7fff;
}

static bool ref_eq(const ref_fe a, const ref_fe b)
{
    uint8_t x[32];
    uint8_t y[32];
    ref_pack(x, a);
    ref_pack(y, b);
    return memcmp(x, y, 32) == 0;
}

static void ref_set(ref_fe o, int64_t v)
{
    memset(o, 0, sizeof(ref_fe));
    o[0] = v;
}

/* ref_pow: o = a^e for a 256-bit little-endian exponent. */
static void ref_pow(ref_fe o, const ref_fe a, const uint8_t e[32])
{
    ref_fe acc;
    ref_set(acc, 1);
    for (int bit = 255; bit >= 0; --bit) {
        ref_mul(acc, acc, acc);
        if ((e[bit / 8] >> (bit % 8)) & 1) {
            ref_mul(acc, acc, a);
        }
    }
    memcpy(o, acc, sizeof(acc));
}

/* exponents as little-endian bytes, computed from p = 2^255 - 19 */
static void exp_p_minus(uint8_t e[32], unsigned k)
{
    /* p - k for small k (k <= 0xed) */
    memset(e, 0xff, 32);
    e[31] = 0x7f;
    e[0] = (uint8_t)(0xed - k);
}

static void exp_shift_right(uint8_t e[32], unsigned s)
{
    for (unsigned n = 0; n < s; ++n) {
        for (int i = 0; i < 32; ++i) {
            e[i] = (uint8_t)((e[i] >> 1) | (i < 31 ? (e[i + 1] & 1) << 7 : 0));
        }
    }
}

static bool ref_key_is_valid(const uint8_t key[32])
{
    ref_fe y;
    ref_fe y2;
    ref_fe one;
    ref_fe u;
    ref_fe v;
    ref_fe d;
    ref_fe t;
    ref_fe inv;
    ref_fe x;
    uint8_t e[32];

    ref_set(one, 1);
    /* d = -121665 / 121666 */
    ref_fe n121665;
    ref_fe n121666;
    ref_fe zero;
    ref_set(zero, 0);
    ref_set(n121665, 121665);
    ref_set(n121666, 121666);
    exp_p_minus(e, 2);
    ref_pow(inv, n121666, e);
    ref_mul(d, n121665, inv);
    ref_sub(d, zero, d);

    ref_unpack(y, key);
    ref_mul(y2, y, y);
    ref_sub(u, y2, one);
    ref_mul(v, d, y2);
    ref_add(v, v, one);

    /* x = u v^3 (u v^7)^((p-5)/8) */
    ref_fe v3;
    ref_fe v7;
    ref_mul(v3, v, v);
    ref_mul(v3, v3, v);
    ref_mul(v7, v3, v3);
    ref_mul(v7, v7, v);
    ref_mul(t, u, v7);
    exp_p_minus(e, 5);
    exp_shift_right(e, 3);
    ref_pow(t, t, e);
    ref_mul(x, u, v3);
    ref_mul(x, x, t);
    /* check v x^2 = u, or = -u (then x * sqrt(-1) is the root) */
    ref_fe vx2;
    ref_fe negu;
    ref_mul(vx2, x, x);
    ref_mul(vx2, vx2, v);
    ref_sub(negu, zero, u);
    return ref_eq(vx2, u) || ref_eq(vx2, negu);
}

Test(ed25519, matches_square_root_reference, .timeout = 120)
{
    gs_rand r;
    gs_rand_seed(&r, 25519);
    size_t nvalid = 0;
    size_t ntotal = 0;
    uint8_t key[32];

    /* the reference agrees with the fixed vectors */
    cr_assert(ref_key_is_valid(key_a));
    cr_assert(ref_key_is_valid(key_b));
    memset(key, 0, sizeof(key));
    key[0] = 2;
    cr_assert(eq(int, ref_key_is_valid(key), 0));

    /* edge values of y: 0, 1, p-1, p, p+1, 2^255-1, with and without the sign bit */
    static const uint8_t low[] = {0, 1, 2, 3};
    for (int s = 0; s < 2; ++s) {
        for (size_t k = 0; k < sizeof(low); ++k) {
            memset(key, 0, sizeof(key));
            key[0] = low[k];
            key[31] = (uint8_t)(s << 7);
            cr_assert(eq(int, gs_ed25519_key_is_valid(key), ref_key_is_valid(key)), "y=%u", low[k]);
        }
        for (unsigned k = 0; k < 20; ++k) {
            memset(key, 0xff, sizeof(key));
            key[0] = (uint8_t)(0xff - k); /* 2^255 - 1 - k, spans p - 1 .. 2^255 - 1 */
            key[31] = (uint8_t)(0x7f | (s << 7));
            cr_assert(eq(int, gs_ed25519_key_is_valid(key), ref_key_is_valid(key)), "top-%u", k);
        }
    }
    for (int i = 0; i < 1500; ++i) {
        for (int k = 0; k < 32; ++k) {
            key[k] = (uint8_t)gs_rand_next(&r);
        }
        bool got = gs_ed25519_key_is_valid(key);
        cr_assert(eq(int, got, ref_key_is_valid(key)), "random key %d", i);
        nvalid += got;
        ++ntotal;
    }
    /* about half of all y are valid */
    cr_assert(gt(sz, nvalid, ntotal / 3));
    cr_assert(lt(sz, nvalid, 2 * ntotal / 3));
}
