/* SPDX-License-Identifier: MIT */
/*
 * gossip-wire: decode /iroh-gossip/1 frames to JSON and encode JSON back to frames.
 *
 *   gossip-wire decode [--max-size N] [--header | --message | --peerdata] HEX
 *   gossip-wire encode [--max-size N] JSON
 *
 * HEX or JSON may be "-" to read standard input.  decode prints one JSON object on one line;
 * encode prints the frame (u32 big-endian length + body) as lowercase hex, or for "AddrInfo"
 * the raw PeerData bytes.  Errors go to stderr with the codec's error name and, for decode
 * errors, the byte offset in the frame; the exit status is 1 (bad input) or 2 (bad usage).
 *
 * Header rule (decode without --header/--message): a frame whose body is exactly 32 bytes and
 * that is not a complete message without trailing bytes is a stream header; everything else is
 * a message.  --header forces a stream header (trailing bytes after the topic are accepted),
 * --message forces a message.  JSON schema: docs/codec.md.
 *
 * JSON is read and written with jansson.  Reading is strict: RFC 8259 syntax, UTF-8 input
 * (invalid UTF-8 rejected by jansson), no duplicate member names (JSON_REJECT_DUPLICATES), no
 * NUL byte (raw or \u0000), unknown fields rejected by the schema checks below; the input size
 * and the nesting depth are capped before jansson sees the text.  Hex is libsodium's.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define GW_MAX_INPUT      (4u * 1024 * 1024) /* bytes of HEX or JSON accepted */
#define GW_JSON_MAX_DEPTH 16
#define GW_MAX_LIST       100000 /* entries in nodes / entries arrays */

enum {
    GW_EXIT_OK = 0,
    GW_EXIT_INPUT = 1,
    GW_EXIT_USAGE = 2
};

static void usage(void)
{
    fputs("usage: gossip-wire decode [--max-size N] [--header | --message | --peerdata] HEX\n"
          "       gossip-wire encode [--max-size N] JSON\n"
          "HEX or JSON may be '-' to read standard input.  Default --max-size: 4096.\n",
          stderr);
}

static const char *err_name(int rv)
{
    switch (rv) {
    case GS_ERR_TRUNCATED:
        return "GS_ERR_TRUNCATED";
    case GS_ERR_VARINT_OVERFLOW:
        return "GS_ERR_VARINT_OVERFLOW";
    case GS_ERR_BAD_TAG:
        return "GS_ERR_BAD_TAG";
    case GS_ERR_BAD_BOOL:
        return "GS_ERR_BAD_BOOL";
    case GS_ERR_BAD_OPTION:
        return "GS_ERR_BAD_OPTION";
    case GS_ERR_BAD_KEY:
        return "GS_ERR_BAD_KEY";
    case GS_ERR_FRAME_TOO_LARGE:
        return "GS_ERR_FRAME_TOO_LARGE";
    case GS_ERR_BAD_UTF8:
        return "GS_ERR_BAD_UTF8";
    case GS_ERR_MSG_TOO_LARGE:
        return "GS_ERR_MSG_TOO_LARGE";
    case GS_ERR_BAD_HEADER:
        return "GS_ERR_BAD_HEADER";
    case GS_ERR_BAD_LENGTH:
        return "GS_ERR_BAD_LENGTH";
    case GS_ERR_BAD_ADDR:
        return "GS_ERR_BAD_ADDR";
    case GS_ERR_NOBUF:
        return "GS_ERR_NOBUF";
    case GS_ERR_INVAL:
        return "GS_ERR_INVAL";
    case GS_ERR_NOMEM:
        return "GS_ERR_NOMEM";
    default:
        return "GS_ERR_?";
    }
}

/* --- input -------------------------------------------------------------------------------- */

/*
 * read_arg returns |arg|, or standard input (up to GW_MAX_INPUT bytes) for "-", NUL-terminated,
 * with its length (standard input may hold NUL bytes) in |*plen|; NULL on error.
 */
static char *read_arg(const char *arg, size_t *plen)
{
    if (strcmp(arg, "-") != 0) {
        *plen = strlen(arg);
        if (*plen > GW_MAX_INPUT) {
            fprintf(stderr, "gossip-wire: input longer than %u bytes\n", GW_MAX_INPUT);
            return NULL;
        }
        return strdup(arg);
    }
    char *buf = malloc(GW_MAX_INPUT + 1);
    if (buf == NULL) {
        fputs("gossip-wire: out of memory\n", stderr);
        return NULL;
    }
    size_t n = fread(buf, 1, GW_MAX_INPUT + 1, stdin);
    if (n > GW_MAX_INPUT) {
        fprintf(stderr, "gossip-wire: input longer than %u bytes\n", GW_MAX_INPUT);
        free(buf);
        return NULL;
    }
    if (ferror(stdin)) {
        fputs("gossip-wire: cannot read standard input\n", stderr);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *plen = n;
    return buf;
}

static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * unhex decodes the |n| (even) hex digits at |s| into |out| (n / 2 bytes) with libsodium.
 * Returns the index of the first bad digit, or n when all are good.
 */
static size_t unhex(const char *s, size_t n, uint8_t *out)
{
    const char *end = NULL;
    size_t got = 0;
    if (sodium_hex2bin(out, n / 2, s, n, NULL, &got, &end) == 0 && end == s + n) {
        return n;
    }
    /* libsodium stops at the pair holding the bad digit; name the digit itself */
    size_t bad = end != NULL ? (size_t)(end - s) : 0;
    while (bad < n && is_hex_digit(s[bad])) {
        ++bad;
    }
    return bad;
}

/* --- JSON output (jansson) ---------------------------------------------------------------- */

/* jhex returns a new JSON string holding |p| as lowercase hex (NULL on out of memory). */
static json_t *jhex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s == NULL) {
        return NULL;
    }
    sodium_bin2hex(s, 2 * n + 1, p, n);
    json_t *v = json_stringn(s, 2 * n);
    free(s);
    return v;
}

/* jset adds |v| (stolen) to |obj| as |key|; false when |v| is NULL (out of memory). */
static bool jset(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static json_t *j_of_sockaddr(const gs_sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];
    char buf[INET6_ADDRSTRLEN + 16];
    if (sa->family == 4) {
        inet_ntop(AF_INET, sa->addr, ip, sizeof(ip));
        snprintf(buf, sizeof(buf), "%s:%u", ip, (unsigned)sa->port);
    } else {
        inet_ntop(AF_INET6, sa->addr, ip, sizeof(ip));
        snprintf(buf, sizeof(buf), "[%s]:%u", ip, (unsigned)sa->port);
    }
    return json_string(buf);
}

/* set_addrinfo_fields adds "relay_url" and "addrs" to |obj|. */
static bool set_addrinfo_fields(json_t *obj, const gs_addrinfo *ai)
{
    json_t *addrs = json_array();
    if (!jset(obj, "relay_url", ai->has_relay ? json_string(ai->relay_url) : json_null()) ||
        !jset(obj, "addrs", addrs)) {
        return false;
    }
    for (size_t i = 0; i < ai->naddrs; ++i) {
        if (json_array_append_new(addrs, j_of_sockaddr(&ai->addrs[i])) != 0) {
            return false;
        }
    }
    return true;
}

/* j_of_peer_data returns Option<PeerData>: null, or {"hex":..} plus "addr_info" if it parses. */
static json_t *j_of_peer_data(bool has, const gs_bytes *data)
{
    if (!has) {
        return json_null();
    }
    json_t *o = json_object();
    if (o == NULL || !jset(o, "hex", jhex(data->base, data->len))) {
        json_decref(o);
        return NULL;
    }
    gs_addrinfo ai;
    if (gs_addrinfo_decode(&ai, data->base, data->len, NULL) == 0) {
        json_t *info = json_object();
        if (!jset(o, "addr_info", info) || !set_addrinfo_fields(info, &ai)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *j_of_peer(const gs_peer_info *pi)
{
    json_t *o = json_object();
    if (o == NULL || !jset(o, "id", jhex(pi->id.b, sizeof(pi->id.b))) ||
        !jset(o, "data", j_of_peer_data(pi->has_data, &pi->data))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *j_of_peer_list(const gs_peer_list *l)
{
    gs_list_iter it;
    gs_peer_info pi;
    json_t *arr = json_array();
    gs_peer_list_iter_init(&it, l);
    while (arr != NULL && gs_peer_list_next(&it, &pi)) {
        if (json_array_append_new(arr, j_of_peer(&pi)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *j_of_ihave(const gs_ihave_list *l)
{
    gs_list_iter it;
    gs_ihave_entry e;
    json_t *arr = json_array();
    gs_ihave_list_iter_init(&it, l);
    while (arr != NULL && gs_ihave_list_next(&it, &e)) {
        json_t *o = json_object();
        if (json_array_append_new(arr, o) != 0 || !jset(o, "id", jhex(e.id.b, sizeof(e.id.b))) ||
            !jset(o, "round", json_integer(e.round))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* j_of_msg returns the JSON object for |m| (members in the schema's order); NULL on OOM. */
static json_t *j_of_msg(const gs_msg *m)
{
    static const char *const names[] = {"Join",     "ForwardJoin", "Shuffle", "ShuffleReply",
                                        "Neighbor", "Disconnect",  "Gossip",  "Prune",
                                        "Graft",    "IHave"};
    json_t *o = json_object();
    bool ok = o != NULL && jset(o, "type", json_string(names[m->type]));
    switch (m->type) {
    case GS_MSG_JOIN:
        ok = ok && jset(o, "data", j_of_peer_data(m->join.has_data, &m->join.data));
        break;
    case GS_MSG_FORWARD_JOIN:
        ok = ok && jset(o, "peer", j_of_peer(&m->forward_join.peer)) &&
             jset(o, "ttl", json_integer(m->forward_join.ttl));
        break;
    case GS_MSG_SHUFFLE:
        ok = ok && jset(o, "origin", jhex(m->shuffle.origin.b, sizeof(m->shuffle.origin.b))) &&
             jset(o, "nodes", j_of_peer_list(&m->shuffle.nodes)) &&
             jset(o, "ttl", json_integer(m->shuffle.ttl));
        break;
    case GS_MSG_SHUFFLE_REPLY:
        ok = ok && jset(o, "nodes", j_of_peer_list(&m->shuffle_reply.nodes));
        break;
    case GS_MSG_NEIGHBOR:
        ok = ok &&
             jset(o, "priority",
                  json_string(m->neighbor.priority == GS_PRIORITY_HIGH ? "High" : "Low")) &&
             jset(o, "data", j_of_peer_data(m->neighbor.has_data, &m->neighbor.data));
        break;
    case GS_MSG_DISCONNECT:
        ok = ok && jset(o, "alive", json_boolean(m->disconnect.alive)) &&
             jset(o, "respond", json_boolean(m->disconnect.respond));
        break;
    case GS_MSG_GOSSIP:
        ok = ok && jset(o, "id", jhex(m->gossip.id.b, sizeof(m->gossip.id.b))) &&
             jset(o, "content", jhex(m->gossip.content.base, m->gossip.content.len));
        if (m->gossip.scope == GS_SCOPE_SWARM) {
            json_t *scope = json_object();
            ok = ok && jset(o, "scope", scope) &&
                 jset(scope, "Swarm", json_integer(m->gossip.round));
        } else {
            ok = ok && jset(o, "scope", json_string("Neighbors"));
        }
        break;
    case GS_MSG_PRUNE:
        break;
    case GS_MSG_GRAFT:
        ok = ok &&
             jset(o, "id",
                  m->graft.has_id ? jhex(m->graft.id.b, sizeof(m->graft.id.b)) : json_null()) &&
             jset(o, "round", json_integer(m->graft.round));
        break;
    case GS_MSG_IHAVE:
        ok = ok && jset(o, "entries", j_of_ihave(&m->ihave.entries));
        break;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* put_json prints |o| compactly on one line and releases it; false on OOM or a write error. */
static bool put_json(json_t *o)
{
    if (o == NULL) {
        fputs("gossip-wire: out of memory\n", stderr);
        return false;
    }
    int rv = json_dumpf(o, stdout, JSON_COMPACT);
    json_decref(o);
    return rv == 0 && putchar('\n') != EOF;
}

/* --- decode ------------------------------------------------------------------------------- */

typedef enum gw_mode {
    GW_AUTO,
    GW_HEADER,
    GW_MESSAGE,
    GW_PEERDATA,
} gw_mode;

static int cmd_decode(const char *arg, gw_mode mode, size_t max_size)
{
    size_t arglen = 0;
    char *hex = read_arg(arg, &arglen);
    if (hex == NULL) {
        return GW_EXIT_INPUT;
    }
    size_t n = strcspn(hex, " \t\r\n");
    size_t rest = n + strspn(hex + n, " \t\r\n");
    if (rest != arglen) {
        fputs("gossip-wire: HEX must be one word of hex digits\n", stderr);
        free(hex);
        return GW_EXIT_INPUT;
    }
    if (n % 2 != 0) {
        fprintf(stderr, "gossip-wire: odd number of hex digits (%zu)\n", n);
        free(hex);
        return GW_EXIT_INPUT;
    }
    uint8_t *buf = malloc(n / 2 + 1);
    if (buf == NULL) {
        free(hex);
        return GW_EXIT_INPUT;
    }
    size_t bad = unhex(hex, n, buf);
    free(hex);
    if (bad != n) {
        fprintf(stderr, "gossip-wire: not a hex digit at position %zu\n", bad);
        free(buf);
        return GW_EXIT_INPUT;
    }
    size_t len = n / 2;
    int rc = GW_EXIT_INPUT;
    json_t *o = NULL;

    if (mode == GW_PEERDATA) {
        gs_addrinfo ai;
        size_t dropped = 0;
        int rv = gs_addrinfo_decode(&ai, buf, len, &dropped);
        if (rv != 0) {
            fprintf(stderr, "gossip-wire: AddrInfo decode failed: %s (%s)\n", err_name(rv),
                    gs_strerror(rv));
            goto out;
        }
        o = json_object();
        if (o == NULL || !jset(o, "type", json_string("AddrInfo")) ||
            !set_addrinfo_fields(o, &ai) ||
            (dropped > 0 && !jset(o, "dropped_addrs", json_integer((json_int_t)dropped)))) {
            json_decref(o);
            o = NULL;
        }
        goto print;
    }

    if (len < GS_FRAME_PREFIX_LEN) {
        fprintf(stderr, "gossip-wire: %s: a frame needs a 4-byte length prefix, got %zu bytes\n",
                err_name(GS_ERR_TRUNCATED), len);
        goto out;
    }
    uint32_t bodylen = 0;
    int rv = gs_codec_check_prefix(buf, max_size, &bodylen);
    if (rv != 0) {
        fprintf(stderr,
                "gossip-wire: %s at frame offset 0: length prefix %u is above max_message_size "
                "%zu\n",
                err_name(rv), bodylen, max_size);
        goto out;
    }
    if ((size_t)bodylen != len - GS_FRAME_PREFIX_LEN) {
        fprintf(
            stderr, "gossip-wire: %s: length prefix says %u body bytes, the frame has %zu\n",
            err_name(bodylen > len - GS_FRAME_PREFIX_LEN ? GS_ERR_TRUNCATED : GS_ERR_BAD_LENGTH),
            bodylen, len - GS_FRAME_PREFIX_LEN);
        goto out;
    }
    const uint8_t *body = buf + GS_FRAME_PREFIX_LEN;
    gs_msg m;
    size_t trailing = 0;
    size_t off = 0;
    if (mode == GW_AUTO && bodylen == 32) {
        rv = gs_codec_decode(&m, body, bodylen, &trailing);
        mode = rv == 0 && trailing == 0 ? GW_MESSAGE : GW_HEADER;
    }
    if (mode == GW_HEADER) {
        gs_topic_id topic;
        rv = gs_codec_decode_header(&topic, body, bodylen);
        if (rv != 0) {
            fprintf(stderr, "gossip-wire: %s: stream header body has %u bytes, needs 32\n",
                    err_name(rv), bodylen);
            goto out;
        }
        trailing = bodylen - sizeof(topic.b);
        o = json_object();
        if (o == NULL || !jset(o, "type", json_string("StreamHeader")) ||
            !jset(o, "topic", jhex(topic.b, sizeof(topic.b)))) {
            json_decref(o);
            o = NULL;
        }
    } else {
        rv = gs_codec_decode_at(&m, body, bodylen, &trailing, &off);
        if (rv != 0) {
            fprintf(stderr, "gossip-wire: %s (%s) at frame offset %zu (body offset %zu)\n",
                    err_name(rv), gs_strerror(rv), off + GS_FRAME_PREFIX_LEN, off);
            goto out;
        }
        o = j_of_msg(&m);
    }
    if (o != NULL && trailing > 0 &&
        !jset(o, "trailing_bytes", json_integer((json_int_t)trailing))) {
        json_decref(o);
        o = NULL;
    }
print:
    if (put_json(o)) {
        rc = GW_EXIT_OK;
    }
out:
    free(buf);
    return rc;
}

/* --- JSON -> message ---------------------------------------------------------------------- */

/* enc: the encoder's context: the first error, and every buffer to free at the end. */
typedef struct enc {
    char err[256];
    void **allocs;
    size_t nallocs;
    size_t cap;
} enc;

static bool enc_fail(enc *e, const char *path, const char *msg)
{
    if (e->err[0] == '\0') {
        snprintf(e->err, sizeof(e->err), "%s: %s", path, msg);
    }
    return false;
}

static void *enc_alloc(enc *e, size_t n)
{
    if (e->nallocs == e->cap) {
        size_t cap = e->cap == 0 ? 16 : 2 * e->cap;
        void **a = realloc(e->allocs, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        e->allocs = a;
        e->cap = cap;
    }
    void *p = malloc(n > 0 ? n : 1);
    if (p != NULL) {
        e->allocs[e->nallocs++] = p;
    }
    return p;
}

static void enc_free(enc *e)
{
    for (size_t i = 0; i < e->nallocs; ++i) {
        free(e->allocs[i]);
    }
    free(e->allocs);
}

/* jcheck_keys fails on a member not in |allowed| (strict schema). */
static bool jcheck_keys(enc *e, const json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL; ++a) {
            ok = ok || strcmp(*a, key) == 0;
        }
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof(msg), "unknown field \"%.80s\"", key);
            return enc_fail(e, path, msg);
        }
    }
    return true;
}

static const json_t *jreq(enc *e, const json_t *obj, const char *path, const char *key, json_type t)
{
    const json_t *v = json_object_get(obj, key);
    char msg[128];
    if (v == NULL) {
        snprintf(msg, sizeof(msg), "missing field \"%s\"", key);
        enc_fail(e, path, msg);
        return NULL;
    }
    if (json_typeof(v) != t) {
        snprintf(msg, sizeof(msg), "field \"%s\" has the wrong type", key);
        enc_fail(e, path, msg);
        return NULL;
    }
    return v;
}

static bool j_hex_fixed(enc *e, const json_t *v, const char *path, uint8_t *out, size_t n)
{
    if (!json_is_string(v) || json_string_length(v) != 2 * n) {
        char msg[64];
        snprintf(msg, sizeof(msg), "expected a string of %zu hex digits", 2 * n);
        return enc_fail(e, path, msg);
    }
    if (unhex(json_string_value(v), 2 * n, out) != 2 * n) {
        return enc_fail(e, path, "not a hex digit");
    }
    return true;
}

static bool j_hex_bytes(enc *e, const json_t *v, const char *path, gs_bytes *out)
{
    size_t slen = json_string_length(v);
    if (!json_is_string(v) || slen % 2 != 0) {
        return enc_fail(e, path, "expected a string with an even number of hex digits");
    }
    uint8_t *p = enc_alloc(e, slen / 2);
    if (p == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    if (unhex(json_string_value(v), slen, p) != slen) {
        return enc_fail(e, path, "not a hex digit");
    }
    out->base = p;
    out->len = slen / 2;
    return true;
}

static bool j_u16(enc *e, const json_t *v, const char *path, uint16_t *out)
{
    if (json_is_real(v)) {
        return enc_fail(e, path, "only integers are used here");
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT16_MAX) {
        return enc_fail(e, path, "expected an integer 0..65535");
    }
    *out = (uint16_t)json_integer_value(v);
    return true;
}

static bool j_sockaddr(enc *e, const json_t *v, const char *path, gs_sockaddr *sa)
{
    char host[64];
    memset(sa, 0, sizeof(*sa));
    if (!json_is_string(v) || json_string_length(v) >= sizeof(host)) {
        return enc_fail(e, path, "expected \"a.b.c.d:port\" or \"[v6]:port\"");
    }
    const char *str = json_string_value(v);
    const char *colon = strrchr(str, ':');
    if (colon == NULL || colon[1] == '\0') {
        return enc_fail(e, path, "missing :port");
    }
    char *endp = NULL;
    unsigned long port = strtoul(colon + 1, &endp, 10);
    if (*endp != '\0' || port > UINT16_MAX || colon[1] < '0' || colon[1] > '9') {
        return enc_fail(e, path, "bad port");
    }
    sa->port = (uint16_t)port;
    size_t hlen = (size_t)(colon - str);
    if (str[0] == '[') {
        if (hlen < 2 || str[hlen - 1] != ']') {
            return enc_fail(e, path, "bad IPv6 address");
        }
        memcpy(host, str + 1, hlen - 2);
        host[hlen - 2] = '\0';
        if (inet_pton(AF_INET6, host, sa->addr) != 1) {
            return enc_fail(e, path, "bad IPv6 address");
        }
        sa->family = 6;
        return true;
    }
    memcpy(host, str, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, sa->addr) != 1) {
        return enc_fail(e, path, "bad IPv4 address");
    }
    sa->family = 4;
    return true;
}

/* j_addrinfo reads {"relay_url": null|string, "addrs": [...]} (|allowed| lists the keys). */
static bool j_addrinfo(enc *e, const json_t *obj, const char *path, gs_addrinfo *ai,
                       const char *const *allowed)
{
    memset(ai, 0, sizeof(*ai));
    if (!json_is_object(obj)) {
        return enc_fail(e, path, "expected an object");
    }
    if (!jcheck_keys(e, obj, path, allowed)) {
        return false;
    }
    const json_t *relay = json_object_get(obj, "relay_url");
    if (relay != NULL && !json_is_null(relay)) {
        if (!json_is_string(relay) || json_string_length(relay) > GS_ADDRINFO_MAX_RELAY) {
            return enc_fail(e, path, "relay_url must be null or a string of at most 256 bytes");
        }
        memcpy(ai->relay_url, json_string_value(relay), json_string_length(relay) + 1);
        ai->has_relay = true;
    }
    const json_t *addrs = jreq(e, obj, path, "addrs", JSON_ARRAY);
    if (addrs == NULL) {
        return false;
    }
    size_t i;
    const json_t *a;
    json_array_foreach(addrs, i, a)
    {
        if (ai->naddrs == GS_ADDRINFO_MAX_ADDRS) {
            return enc_fail(e, path, "more than 16 addresses");
        }
        if (!j_sockaddr(e, a, path, &ai->addrs[ai->naddrs++])) {
            return false;
        }
    }
    return true;
}

/*
 * addrinfo_len returns an upper bound of |ai|'s encoding (exact without duplicates): relay
 * Option tag (+ length varint + bytes), address count varint, then per address a tag, 4 or 16
 * address bytes and the port varint.
 */
static size_t addrinfo_len(const gs_addrinfo *ai)
{
    size_t n = 1 + gs_codec_varint_len(ai->naddrs);
    if (ai->has_relay) {
        size_t rl = strlen(ai->relay_url);
        n += gs_codec_varint_len(rl) + rl;
    }
    for (size_t i = 0; i < ai->naddrs; ++i) {
        n += 1 + (ai->addrs[i].family == 4 ? 4u : 16u) + gs_codec_varint_len(ai->addrs[i].port);
    }
    return n;
}

/* j_peer_data reads Option<PeerData>: null, {"hex": ...} or {"addr_info": {...}}. */
static bool j_peer_data(enc *e, const json_t *v, const char *path, bool *has, gs_bytes *out)
{
    static const char *const keys[] = {"hex", "addr_info", NULL};
    static const char *const ai_keys[] = {"relay_url", "addrs", NULL};
    *has = false;
    out->base = NULL;
    out->len = 0;
    if (v == NULL) {
        return enc_fail(e, path, "missing field \"data\"");
    }
    if (json_is_null(v)) {
        return true;
    }
    if (!json_is_object(v) || !jcheck_keys(e, v, path, keys)) {
        return enc_fail(e, path, "data must be null or {\"hex\": ...} / {\"addr_info\": ...}");
    }
    *has = true;
    const json_t *hex = json_object_get(v, "hex");
    const json_t *ai = json_object_get(v, "addr_info");
    if (hex != NULL) {
        /* hex is authoritative; addr_info next to it is decode's annotation */
        return j_hex_bytes(e, hex, path, out);
    }
    if (ai == NULL) {
        return enc_fail(e, path, "data needs \"hex\" or \"addr_info\"");
    }
    gs_addrinfo info;
    if (!j_addrinfo(e, ai, path, &info, ai_keys)) {
        return false;
    }
    size_t cap = addrinfo_len(&info);
    uint8_t *p = enc_alloc(e, cap);
    if (p == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    gs_ssize n = gs_addrinfo_encode(p, cap, &info);
    if (n < 0) {
        return enc_fail(e, path, gs_strerror((int)n));
    }
    out->base = p;
    out->len = (size_t)n;
    return true;
}

static bool j_key(enc *e, const json_t *obj, const char *path, const char *key, gs_key *out)
{
    const json_t *v = jreq(e, obj, path, key, JSON_STRING);
    return v != NULL && j_hex_fixed(e, v, path, out->b, GS_KEY_LEN);
}

static bool j_peer(enc *e, const json_t *v, const char *path, gs_peer_info *pi)
{
    static const char *const keys[] = {"id", "data", NULL};
    if (!json_is_object(v)) {
        return enc_fail(e, path, "expected a PeerInfo object");
    }
    return jcheck_keys(e, v, path, keys) && j_key(e, v, path, "id", &pi->id) &&
           j_peer_data(e, json_object_get(v, "data"), path, &pi->has_data, &pi->data);
}

static bool j_peer_list(enc *e, const json_t *obj, const char *path, gs_peer_list *l)
{
    const json_t *arr = jreq(e, obj, path, "nodes", JSON_ARRAY);
    if (arr == NULL) {
        return false;
    }
    size_t n = json_array_size(arr);
    if (n > GW_MAX_LIST) {
        return enc_fail(e, path, "too many nodes");
    }
    gs_peer_info *items = enc_alloc(e, n * sizeof(*items));
    if (items == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    size_t i;
    const json_t *a;
    json_array_foreach(arr, i, a)
    {
        char sub[64];
        snprintf(sub, sizeof(sub), "%s.nodes[%zu]", path, i);
        if (!j_peer(e, a, sub, &items[i])) {
            return false;
        }
    }
    l->n = n;
    l->items = items;
    return true;
}

static bool j_ihave(enc *e, const json_t *o, gs_msg *m)
{
    static const char *const keys[] = {"type", "entries", NULL};
    static const char *const ekeys[] = {"id", "round", NULL};
    m->type = GS_MSG_IHAVE;
    const json_t *arr = jreq(e, o, "IHave", "entries", JSON_ARRAY);
    if (!jcheck_keys(e, o, "IHave", keys) || arr == NULL) {
        return false;
    }
    size_t n = json_array_size(arr);
    if (n > GW_MAX_LIST) {
        return enc_fail(e, "IHave", "too many entries");
    }
    gs_ihave_entry *items = enc_alloc(e, n * sizeof(*items));
    if (items == NULL) {
        return enc_fail(e, "IHave", "out of memory");
    }
    size_t i;
    const json_t *a;
    json_array_foreach(arr, i, a)
    {
        char sub[64];
        snprintf(sub, sizeof(sub), "IHave.entries[%zu]", i);
        if (!json_is_object(a)) {
            return enc_fail(e, sub, "expected {\"id\": ..., \"round\": ...}");
        }
        const json_t *id = jreq(e, a, sub, "id", JSON_STRING);
        if (!jcheck_keys(e, a, sub, ekeys) || id == NULL ||
            !j_hex_fixed(e, id, sub, items[i].id.b, sizeof(items[i].id.b)) ||
            !j_u16(e, json_object_get(a, "round"), sub, &items[i].round)) {
            return false;
        }
    }
    m->ihave.entries.n = n;
    m->ihave.entries.items = items;
    return true;
}

/* j_msg fills |m| from a message object whose "type" is |type|. */
static bool j_msg(enc *e, const json_t *o, const char *type, gs_msg *m)
{
    memset(m, 0, sizeof(*m));
    const char *path = type;
    if (strcmp(type, "Join") == 0) {
        static const char *const keys[] = {"type", "data", NULL};
        m->type = GS_MSG_JOIN;
        return jcheck_keys(e, o, path, keys) &&
               j_peer_data(e, json_object_get(o, "data"), path, &m->join.has_data, &m->join.data);
    }
    if (strcmp(type, "ForwardJoin") == 0) {
        static const char *const keys[] = {"type", "peer", "ttl", NULL};
        m->type = GS_MSG_FORWARD_JOIN;
        const json_t *peer = jreq(e, o, path, "peer", JSON_OBJECT);
        return jcheck_keys(e, o, path, keys) && peer != NULL &&
               j_peer(e, peer, "ForwardJoin.peer", &m->forward_join.peer) &&
               j_u16(e, json_object_get(o, "ttl"), "ForwardJoin.ttl", &m->forward_join.ttl);
    }
    if (strcmp(type, "Shuffle") == 0) {
        static const char *const keys[] = {"type", "origin", "nodes", "ttl", NULL};
        m->type = GS_MSG_SHUFFLE;
        return jcheck_keys(e, o, path, keys) &&
               j_key(e, o, "Shuffle.origin", "origin", &m->shuffle.origin) &&
               j_peer_list(e, o, path, &m->shuffle.nodes) &&
               j_u16(e, json_object_get(o, "ttl"), "Shuffle.ttl", &m->shuffle.ttl);
    }
    if (strcmp(type, "ShuffleReply") == 0) {
        static const char *const keys[] = {"type", "nodes", NULL};
        m->type = GS_MSG_SHUFFLE_REPLY;
        return jcheck_keys(e, o, path, keys) && j_peer_list(e, o, path, &m->shuffle_reply.nodes);
    }
    if (strcmp(type, "Neighbor") == 0) {
        static const char *const keys[] = {"type", "priority", "data", NULL};
        m->type = GS_MSG_NEIGHBOR;
        const json_t *pr = jreq(e, o, path, "priority", JSON_STRING);
        if (!jcheck_keys(e, o, path, keys) || pr == NULL) {
            return false;
        }
        if (strcmp(json_string_value(pr), "High") == 0) {
            m->neighbor.priority = GS_PRIORITY_HIGH;
        } else if (strcmp(json_string_value(pr), "Low") == 0) {
            m->neighbor.priority = GS_PRIORITY_LOW;
        } else {
            return enc_fail(e, "Neighbor.priority", "expected \"High\" or \"Low\"");
        }
        return j_peer_data(e, json_object_get(o, "data"), path, &m->neighbor.has_data,
                           &m->neighbor.data);
    }
    if (strcmp(type, "Disconnect") == 0) {
        static const char *const keys[] = {"type", "alive", "respond", NULL};
        m->type = GS_MSG_DISCONNECT;
        const json_t *alive = json_object_get(o, "alive");
        const json_t *respond = json_object_get(o, "respond");
        if (!jcheck_keys(e, o, path, keys)) {
            return false;
        }
        if (!json_is_boolean(alive)) {
            return enc_fail(e, path, "field \"alive\" must be true or false");
        }
        if (respond != NULL && !json_is_false(respond)) {
            return enc_fail(e, "Disconnect.respond", "obsolete: must be false or absent");
        }
        m->disconnect.alive = json_is_true(alive);
        return true;
    }
    if (strcmp(type, "Gossip") == 0) {
        static const char *const keys[] = {"type", "id", "content", "scope", NULL};
        m->type = GS_MSG_GOSSIP;
        const json_t *id = jreq(e, o, path, "id", JSON_STRING);
        const json_t *content = jreq(e, o, path, "content", JSON_STRING);
        const json_t *scope = json_object_get(o, "scope");
        if (!jcheck_keys(e, o, path, keys) || id == NULL || content == NULL ||
            !j_hex_fixed(e, id, "Gossip.id", m->gossip.id.b, sizeof(m->gossip.id.b)) ||
            !j_hex_bytes(e, content, "Gossip.content", &m->gossip.content)) {
            return false;
        }
        if (json_is_string(scope) && strcmp(json_string_value(scope), "Neighbors") == 0) {
            m->gossip.scope = GS_SCOPE_NEIGHBORS;
            return true;
        }
        const json_t *round = json_object_get(scope, "Swarm");
        if (json_is_object(scope) && json_object_size(scope) == 1 && round != NULL) {
            m->gossip.scope = GS_SCOPE_SWARM;
            return j_u16(e, round, "Gossip.scope.Swarm", &m->gossip.round);
        }
        return enc_fail(e, "Gossip.scope", "expected {\"Swarm\": round} or \"Neighbors\"");
    }
    if (strcmp(type, "Prune") == 0) {
        static const char *const keys[] = {"type", NULL};
        m->type = GS_MSG_PRUNE;
        return jcheck_keys(e, o, path, keys);
    }
    if (strcmp(type, "Graft") == 0) {
        static const char *const keys[] = {"type", "id", "round", NULL};
        m->type = GS_MSG_GRAFT;
        const json_t *id = json_object_get(o, "id");
        if (!jcheck_keys(e, o, path, keys)) {
            return false;
        }
        if (id == NULL) {
            return enc_fail(e, path, "missing field \"id\" (null for None)");
        }
        if (!json_is_null(id)) {
            m->graft.has_id = true;
            if (!j_hex_fixed(e, id, "Graft.id", m->graft.id.b, sizeof(m->graft.id.b))) {
                return false;
            }
        }
        return j_u16(e, json_object_get(o, "round"), "Graft.round", &m->graft.round);
    }
    if (strcmp(type, "IHave") == 0) {
        return j_ihave(e, o, m);
    }
    return enc_fail(e, "type", "unknown message type");
}

/*
 * json_depth returns the deepest nesting of arrays and objects in |s| (strings skipped), so
 * deep input is refused before jansson recurses into it.
 */
static size_t json_depth(const char *s, size_t n)
{
    size_t depth = 0;
    size_t max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; ++i) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            max = ++depth > max ? depth : max;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return max;
}

/* parse_json parses |text| strictly; NULL after printing a precise error. */
static json_t *parse_json(const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        fprintf(stderr, "gossip-wire: JSON: embedded NUL byte at offset %zu\n",
                (size_t)(nul - text));
        return NULL;
    }
    if (json_depth(text, len) > GW_JSON_MAX_DEPTH) {
        fprintf(stderr, "gossip-wire: JSON: nesting too deep (more than %d levels)\n",
                GW_JSON_MAX_DEPTH);
        return NULL;
    }
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (root != NULL) {
        return root;
    }
    const char *what;
    switch (json_error_code(&err)) {
    case json_error_invalid_utf8:
        what = "invalid UTF-8";
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        what = "\\u0000 (NUL) is not supported";
        break;
    case json_error_duplicate_key:
        what = "duplicate member name";
        break;
    case json_error_numeric_overflow:
        what = "number too large";
        break;
    case json_error_out_of_memory:
        what = "out of memory";
        break;
    default:
        what = "JSON syntax error";
        break;
    }
    fprintf(stderr, "gossip-wire: JSON: %s at line %d column %d (offset %d): %s\n", what, err.line,
            err.column, err.position, err.text);
    return NULL;
}

/*
 * encode_len returns the buffer size the encoding of |m| needs: the frame prefix plus the
 * body's exact length (gs_codec_body_len; 0 means not encodable, and the encoder reports why).
 */
static size_t encode_len(const gs_msg *m)
{
    return GS_FRAME_PREFIX_LEN + gs_codec_body_len(m);
}

static int cmd_encode(const char *arg, size_t max_size)
{
    size_t len = 0;
    char *text = read_arg(arg, &len);
    if (text == NULL) {
        return GW_EXIT_INPUT;
    }
    enc e = {.err = ""};
    int rc = GW_EXIT_INPUT;
    uint8_t *out = NULL;
    json_t *root = parse_json(text, len);
    if (root == NULL) {
        goto done;
    }
    if (!json_is_object(root)) {
        fputs("gossip-wire: the JSON value must be an object\n", stderr);
        goto done;
    }
    const json_t *type = jreq(&e, root, "message", "type", JSON_STRING);
    if (type == NULL) {
        fprintf(stderr, "gossip-wire: %s\n", e.err);
        goto done;
    }
    const char *tname = json_string_value(type);
    gs_ssize n;
    if (strcmp(tname, "StreamHeader") == 0) {
        static const char *const keys[] = {"type", "topic", "trailing_bytes", NULL};
        gs_topic_id topic;
        const json_t *t = jreq(&e, root, "StreamHeader", "topic", JSON_STRING);
        if (!jcheck_keys(&e, root, "StreamHeader", keys) || t == NULL ||
            !j_hex_fixed(&e, t, "StreamHeader.topic", topic.b, sizeof(topic.b))) {
            fprintf(stderr, "gossip-wire: %s\n", e.err);
            goto done;
        }
        size_t cap = GS_FRAME_PREFIX_LEN + sizeof(topic.b);
        out = malloc(cap);
        n = out == NULL ? GS_ERR_NOMEM : gs_codec_encode_header_frame(out, cap, &topic);
    } else if (strcmp(tname, "AddrInfo") == 0) {
        static const char *const keys[] = {"type", "relay_url", "addrs", "dropped_addrs", NULL};
        gs_addrinfo ai;
        if (!j_addrinfo(&e, root, "AddrInfo", &ai, keys)) {
            fprintf(stderr, "gossip-wire: %s\n", e.err);
            goto done;
        }
        size_t cap = addrinfo_len(&ai);
        out = malloc(cap);
        n = out == NULL ? GS_ERR_NOMEM : gs_addrinfo_encode(out, cap, &ai);
    } else {
        /* decode's informational "trailing_bytes" is accepted and ignored */
        gs_msg m;
        const json_t *tb = json_object_get(root, "trailing_bytes");
        if (tb != NULL && !json_is_integer(tb)) {
            fputs("gossip-wire: trailing_bytes: expected an integer\n", stderr);
            goto done;
        }
        json_object_del(root, "trailing_bytes");
        if (!j_msg(&e, root, tname, &m)) {
            fprintf(stderr, "gossip-wire: %s\n", e.err);
            goto done;
        }
        size_t cap = encode_len(&m);
        out = malloc(cap);
        n = out == NULL ? GS_ERR_NOMEM : gs_codec_encode_frame(out, cap, &m, max_size);
    }
    if (n < 0) {
        int rv = (int)n;
        if (rv == GS_ERR_MSG_TOO_LARGE) {
            fprintf(stderr,
                    "gossip-wire: %s: the body would be >= max_message_size %zu (sender rule)\n",
                    err_name(rv), max_size);
        } else {
            fprintf(stderr, "gossip-wire: %s (%s)\n", err_name(rv), gs_strerror(rv));
        }
        goto done;
    }
    char *hex = malloc(2 * (size_t)n + 1);
    if (hex == NULL) {
        fputs("gossip-wire: out of memory\n", stderr);
        goto done;
    }
    sodium_bin2hex(hex, 2 * (size_t)n + 1, out, (size_t)n);
    puts(hex);
    free(hex);
    rc = GW_EXIT_OK;
done:
    enc_free(&e);
    free(out);
    json_decref(root);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return GW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    bool decode = strcmp(cmd, "decode") == 0;
    if (!decode && strcmp(cmd, "encode") != 0) {
        usage();
        return GW_EXIT_USAGE;
    }
    size_t max_size = GS_MAX_MESSAGE_SIZE_DEFAULT;
    gw_mode mode = GW_AUTO;
    const char *input = NULL;
    for (int i = 2; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--max-size") == 0 && i + 1 < argc) {
            char *endp = NULL;
            unsigned long long v = strtoull(argv[++i], &endp, 10);
            if (*endp != '\0' || argv[i][0] < '0' || argv[i][0] > '9' || v == 0 || v > UINT32_MAX) {
                fputs("gossip-wire: --max-size needs an integer 1..4294967295\n", stderr);
                return GW_EXIT_USAGE;
            }
            max_size = (size_t)v;
        } else if (decode && strcmp(a, "--header") == 0) {
            mode = GW_HEADER;
        } else if (decode && strcmp(a, "--message") == 0) {
            mode = GW_MESSAGE;
        } else if (decode && strcmp(a, "--peerdata") == 0) {
            mode = GW_PEERDATA;
        } else if (input == NULL && (a[0] != '-' || strcmp(a, "-") == 0)) {
            input = a;
        } else {
            usage();
            return GW_EXIT_USAGE;
        }
    }
    if (input == NULL) {
        usage();
        return GW_EXIT_USAGE;
    }
    int rc = decode ? cmd_decode(input, mode, max_size) : cmd_encode(input, max_size);
    if (fflush(stdout) != 0) {
        return GW_EXIT_INPUT;
    }
    return rc;
}
