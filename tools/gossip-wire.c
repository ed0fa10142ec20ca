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
 * The JSON parser is strict (RFC 8259 syntax, UTF-8 input, no duplicate keys, unknown fields
 * rejected) and bounded (input size, nesting depth and node count are capped).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define GW_MAX_INPUT      (4u * 1024 * 1024) /* bytes of HEX or JSON accepted */
#define GW_JSON_MAX_DEPTH 16
#define GW_JSON_MAX_NODES 200000
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

/* read_arg returns |arg|, or standard input (up to GW_MAX_INPUT bytes) for "-"; NULL on error. */
static char *read_arg(const char *arg)
{
    if (strcmp(arg, "-") != 0) {
        if (strlen(arg) > GW_MAX_INPUT) {
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
    return buf;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * unhex decodes |n| hex digits at |s| into |out| (n / 2 bytes).  Returns the index of the first
 * bad digit, or n when all are good.
 */
static size_t unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        int hi = hexval((unsigned char)s[i]);
        int lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0) {
            return i;
        }
        if (lo < 0) {
            return i + 1;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return n;
}

/* --- JSON output -------------------------------------------------------------------------- */

static void put_hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    putchar('"');
    for (size_t i = 0; i < n; ++i) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
    putchar('"');
}

/* put_jstr writes |s| (valid UTF-8) as a JSON string. */
static void put_jstr(const char *s)
{
    putchar('"');
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void put_sockaddr(const gs_sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->family == 4) {
        inet_ntop(AF_INET, sa->addr, ip, sizeof(ip));
        printf("\"%s:%u\"", ip, (unsigned)sa->port);
    } else {
        inet_ntop(AF_INET6, sa->addr, ip, sizeof(ip));
        printf("\"[%s]:%u\"", ip, (unsigned)sa->port);
    }
}

static void put_addrinfo_fields(const gs_addrinfo *ai)
{
    fputs("\"relay_url\":", stdout);
    if (ai->has_relay) {
        put_jstr(ai->relay_url);
    } else {
        fputs("null", stdout);
    }
    fputs(",\"addrs\":[", stdout);
    for (size_t i = 0; i < ai->naddrs; ++i) {
        if (i > 0) {
            putchar(',');
        }
        put_sockaddr(&ai->addrs[i]);
    }
    putchar(']');
}

/* put_peer_data writes Option<PeerData>: null, or {"hex":..} plus "addr_info" if it parses. */
static void put_peer_data(bool has, const gs_bytes *data)
{
    if (!has) {
        fputs("null", stdout);
        return;
    }
    fputs("{\"hex\":", stdout);
    put_hex(data->base, data->len);
    gs_addrinfo ai;
    if (gs_addrinfo_decode(&ai, data->base, data->len, NULL) == 0) {
        fputs(",\"addr_info\":{", stdout);
        put_addrinfo_fields(&ai);
        putchar('}');
    }
    putchar('}');
}

static void put_peer(const gs_peer_info *pi)
{
    fputs("{\"id\":", stdout);
    put_hex(pi->id.b, sizeof(pi->id.b));
    fputs(",\"data\":", stdout);
    put_peer_data(pi->has_data, &pi->data);
    putchar('}');
}

static void put_peer_list(const gs_peer_list *l)
{
    gs_list_iter it;
    gs_peer_info pi;
    bool first = true;
    putchar('[');
    gs_peer_list_iter_init(&it, l);
    while (gs_peer_list_next(&it, &pi)) {
        if (!first) {
            putchar(',');
        }
        first = false;
        put_peer(&pi);
    }
    putchar(']');
}

static void put_msg(const gs_msg *m)
{
    static const char *const names[] = {"Join",     "ForwardJoin", "Shuffle", "ShuffleReply",
                                        "Neighbor", "Disconnect",  "Gossip",  "Prune",
                                        "Graft",    "IHave"};
    printf("{\"type\":\"%s\"", names[m->type]);
    switch (m->type) {
    case GS_MSG_JOIN:
        fputs(",\"data\":", stdout);
        put_peer_data(m->join.has_data, &m->join.data);
        break;
    case GS_MSG_FORWARD_JOIN:
        fputs(",\"peer\":", stdout);
        put_peer(&m->forward_join.peer);
        printf(",\"ttl\":%u", (unsigned)m->forward_join.ttl);
        break;
    case GS_MSG_SHUFFLE:
        fputs(",\"origin\":", stdout);
        put_hex(m->shuffle.origin.b, sizeof(m->shuffle.origin.b));
        fputs(",\"nodes\":", stdout);
        put_peer_list(&m->shuffle.nodes);
        printf(",\"ttl\":%u", (unsigned)m->shuffle.ttl);
        break;
    case GS_MSG_SHUFFLE_REPLY:
        fputs(",\"nodes\":", stdout);
        put_peer_list(&m->shuffle_reply.nodes);
        break;
    case GS_MSG_NEIGHBOR:
        printf(",\"priority\":\"%s\",\"data\":",
               m->neighbor.priority == GS_PRIORITY_HIGH ? "High" : "Low");
        put_peer_data(m->neighbor.has_data, &m->neighbor.data);
        break;
    case GS_MSG_DISCONNECT:
        printf(",\"alive\":%s,\"respond\":%s", m->disconnect.alive ? "true" : "false",
               m->disconnect.respond ? "true" : "false");
        break;
    case GS_MSG_GOSSIP:
        fputs(",\"id\":", stdout);
        put_hex(m->gossip.id.b, sizeof(m->gossip.id.b));
        fputs(",\"content\":", stdout);
        put_hex(m->gossip.content.base, m->gossip.content.len);
        if (m->gossip.scope == GS_SCOPE_SWARM) {
            printf(",\"scope\":{\"Swarm\":%u}", (unsigned)m->gossip.round);
        } else {
            fputs(",\"scope\":\"Neighbors\"", stdout);
        }
        break;
    case GS_MSG_PRUNE:
        break;
    case GS_MSG_GRAFT:
        fputs(",\"id\":", stdout);
        if (m->graft.has_id) {
            put_hex(m->graft.id.b, sizeof(m->graft.id.b));
        } else {
            fputs("null", stdout);
        }
        printf(",\"round\":%u", (unsigned)m->graft.round);
        break;
    case GS_MSG_IHAVE: {
        gs_list_iter it;
        gs_ihave_entry e;
        bool first = true;
        fputs(",\"entries\":[", stdout);
        gs_ihave_list_iter_init(&it, &m->ihave.entries);
        while (gs_ihave_list_next(&it, &e)) {
            if (!first) {
                putchar(',');
            }
            first = false;
            fputs("{\"id\":", stdout);
            put_hex(e.id.b, sizeof(e.id.b));
            printf(",\"round\":%u}", (unsigned)e.round);
        }
        putchar(']');
        break;
    }
    }
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
    char *hex = read_arg(arg);
    if (hex == NULL) {
        return GW_EXIT_INPUT;
    }
    size_t n = strcspn(hex, " \t\r\n");
    if (hex[n + strspn(hex + n, " \t\r\n")] != '\0') {
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

    if (mode == GW_PEERDATA) {
        gs_addrinfo ai;
        size_t dropped = 0;
        int rv = gs_addrinfo_decode(&ai, buf, len, &dropped);
        if (rv != 0) {
            fprintf(stderr, "gossip-wire: AddrInfo decode failed: %s (%s)\n", err_name(rv),
                    gs_strerror(rv));
            goto out;
        }
        fputs("{\"type\":\"AddrInfo\",", stdout);
        put_addrinfo_fields(&ai);
        if (dropped > 0) {
            printf(",\"dropped_addrs\":%zu", dropped);
        }
        puts("}");
        rc = GW_EXIT_OK;
        goto out;
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
        fputs("{\"type\":\"StreamHeader\",\"topic\":", stdout);
        put_hex(topic.b, sizeof(topic.b));
        if (bodylen > sizeof(topic.b)) {
            printf(",\"trailing_bytes\":%zu", (size_t)bodylen - sizeof(topic.b));
        }
        puts("}");
        rc = GW_EXIT_OK;
        goto out;
    }
    rv = gs_codec_decode_at(&m, body, bodylen, &trailing, &off);
    if (rv != 0) {
        fprintf(stderr, "gossip-wire: %s (%s) at frame offset %zu (body offset %zu)\n",
                err_name(rv), gs_strerror(rv), off + GS_FRAME_PREFIX_LEN, off);
        goto out;
    }
    put_msg(&m);
    if (trailing > 0) {
        printf(",\"trailing_bytes\":%zu", trailing);
    }
    puts("}");
    rc = GW_EXIT_OK;
out:
    free(buf);
    return rc;
}

/* --- strict JSON parser ------------------------------------------------------------------- */

typedef enum jtype {
    J_NULL,
    J_BOOL,
    J_NUM,
    J_STR,
    J_ARR,
    J_OBJ,
} jtype;

typedef struct jval {
    jtype type;
    bool b;
    uint64_t num;    /* J_NUM: non-negative integers only */
    const char *str; /* J_STR: decoded UTF-8, NUL-terminated */
    size_t slen;
    const char *key;    /* member name when inside an object */
    struct jval *child; /* first element / member */
    struct jval *next;
} jval;

typedef struct jparser {
    const char *s;
    const char *p;
    const char *end;
    jval *nodes;
    size_t nnodes;
    char *sbuf; /* decoded strings; never longer in total than the input */
    size_t sused;
    char err[160];
} jparser;

static bool jp_fail(jparser *jp, const char *msg)
{
    if (jp->err[0] == '\0') {
        snprintf(jp->err, sizeof(jp->err), "JSON syntax error at offset %zu: %s",
                 (size_t)(jp->p - jp->s), msg);
    }
    return false;
}

static void jp_ws(jparser *jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')) {
        jp->p++;
    }
}

static jval *jp_new(jparser *jp, jtype t)
{
    if (jp->nnodes == GW_JSON_MAX_NODES) {
        jp_fail(jp, "too many values");
        return NULL;
    }
    jval *v = &jp->nodes[jp->nnodes++];
    memset(v, 0, sizeof(*v));
    v->type = t;
    return v;
}

static void jp_put_utf8(jparser *jp, uint32_t cp)
{
    char *o = jp->sbuf + jp->sused;
    if (cp < 0x80) {
        o[0] = (char)cp;
        jp->sused += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        jp->sused += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        jp->sused += 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        jp->sused += 4;
    }
}

static bool jp_hex4(jparser *jp, uint32_t *pv)
{
    uint32_t v = 0;
    if (jp->end - jp->p < 4) {
        return jp_fail(jp, "short \\u escape");
    }
    for (int i = 0; i < 4; ++i) {
        int d = hexval((unsigned char)jp->p[i]);
        if (d < 0) {
            return jp_fail(jp, "bad \\u escape");
        }
        v = v << 4 | (uint32_t)d;
    }
    jp->p += 4;
    *pv = v;
    return true;
}

/* jp_utf8_seq checks one raw UTF-8 sequence at jp->p and copies it. */
static bool jp_utf8_seq(jparser *jp)
{
    const unsigned char *s = (const unsigned char *)jp->p;
    size_t left = (size_t)(jp->end - jp->p);
    size_t k;
    uint32_t cp;
    uint32_t min;
    if ((s[0] & 0xe0) == 0xc0) {
        k = 1;
        cp = s[0] & 0x1fu;
        min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        k = 2;
        cp = s[0] & 0x0fu;
        min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        k = 3;
        cp = s[0] & 0x07u;
        min = 0x10000;
    } else {
        return jp_fail(jp, "invalid UTF-8");
    }
    if (left <= k) {
        return jp_fail(jp, "invalid UTF-8");
    }
    for (size_t j = 1; j <= k; ++j) {
        if ((s[j] & 0xc0) != 0x80) {
            return jp_fail(jp, "invalid UTF-8");
        }
        cp = cp << 6 | (s[j] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return jp_fail(jp, "invalid UTF-8");
    }
    memcpy(jp->sbuf + jp->sused, jp->p, k + 1);
    jp->sused += k + 1;
    jp->p += k + 1;
    return true;
}

static bool jp_string(jparser *jp, const char **pstr, size_t *plen)
{
    jp->p++; /* opening quote */
    size_t start = jp->sused;
    for (;;) {
        if (jp->p >= jp->end) {
            return jp_fail(jp, "unterminated string");
        }
        unsigned char c = (unsigned char)*jp->p;
        if (c == '"') {
            jp->p++;
            break;
        }
        if (c < 0x20) {
            return jp_fail(jp, "control character in string");
        }
        if (c >= 0x80) {
            if (!jp_utf8_seq(jp)) {
                return false;
            }
            continue;
        }
        if (c != '\\') {
            jp->sbuf[jp->sused++] = (char)c;
            jp->p++;
            continue;
        }
        jp->p++;
        if (jp->p >= jp->end) {
            return jp_fail(jp, "unterminated escape");
        }
        char e = *jp->p++;
        uint32_t cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            jp->sbuf[jp->sused++] = e;
            break;
        case 'b':
            jp->sbuf[jp->sused++] = '\b';
            break;
        case 'f':
            jp->sbuf[jp->sused++] = '\f';
            break;
        case 'n':
            jp->sbuf[jp->sused++] = '\n';
            break;
        case 'r':
            jp->sbuf[jp->sused++] = '\r';
            break;
        case 't':
            jp->sbuf[jp->sused++] = '\t';
            break;
        case 'u':
            if (!jp_hex4(jp, &cp)) {
                return false;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                return jp_fail(jp, "lone low surrogate");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (jp->end - jp->p < 2 || jp->p[0] != '\\' || jp->p[1] != 'u') {
                    return jp_fail(jp, "lone high surrogate");
                }
                jp->p += 2;
                if (!jp_hex4(jp, &lo)) {
                    return false;
                }
                if (lo < 0xdc00 || lo > 0xdfff) {
                    return jp_fail(jp, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                return jp_fail(jp, "\\u0000 is not supported");
            }
            /* \uXXXX is 6 input bytes for at most 3 output bytes; a pair is 12 for 4 */
            jp_put_utf8(jp, cp);
            break;
        default:
            return jp_fail(jp, "bad escape");
        }
    }
    *plen = jp->sused - start;
    jp->sbuf[jp->sused++] = '\0'; /* room: the closing quote was not copied */
    *pstr = jp->sbuf + start;
    return true;
}

static bool jp_number(jparser *jp, uint64_t *pv)
{
    const char *start = jp->p;
    if (*jp->p == '-') {
        return jp_fail(jp, "negative numbers are not used here");
    }
    if (*jp->p == '0' && jp->p + 1 < jp->end && jp->p[1] >= '0' && jp->p[1] <= '9') {
        return jp_fail(jp, "leading zero");
    }
    uint64_t v = 0;
    while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9') {
        if (v > (UINT64_C(1) << 53)) {
            return jp_fail(jp, "number too large");
        }
        v = v * 10 + (uint64_t)(*jp->p - '0');
        jp->p++;
    }
    if (jp->p == start) {
        return jp_fail(jp, "bad number");
    }
    if (jp->p < jp->end && (*jp->p == '.' || *jp->p == 'e' || *jp->p == 'E')) {
        return jp_fail(jp, "only integers are used here");
    }
    *pv = v;
    return true;
}

static bool jp_lit(jparser *jp, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, lit, n) != 0) {
        return jp_fail(jp, "unexpected character");
    }
    jp->p += n;
    return true;
}

static jval *jp_value(jparser *jp, int depth);

static jval *jp_array(jparser *jp, int depth)
{
    jval *v = jp_new(jp, J_ARR);
    if (v == NULL) {
        return NULL;
    }
    jval **tail = &v->child;
    jp->p++;
    jp_ws(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return v;
    }
    for (;;) {
        jval *e = jp_value(jp, depth + 1);
        if (e == NULL) {
            return NULL;
        }
        *tail = e;
        tail = &e->next;
        jp_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return v;
        }
        jp_fail(jp, "expected ',' or ']'");
        return NULL;
    }
}

static jval *jp_object(jparser *jp, int depth)
{
    jval *v = jp_new(jp, J_OBJ);
    if (v == NULL) {
        return NULL;
    }
    jval **tail = &v->child;
    jp->p++;
    jp_ws(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return v;
    }
    for (;;) {
        const char *key;
        size_t klen;
        jp_ws(jp);
        if (jp->p >= jp->end || *jp->p != '"') {
            jp_fail(jp, "expected a member name");
            return NULL;
        }
        if (!jp_string(jp, &key, &klen)) {
            return NULL;
        }
        for (const jval *m = v->child; m != NULL; m = m->next) {
            if (strcmp(m->key, key) == 0) {
                jp_fail(jp, "duplicate member name");
                return NULL;
            }
        }
        jp_ws(jp);
        if (jp->p >= jp->end || *jp->p != ':') {
            jp_fail(jp, "expected ':'");
            return NULL;
        }
        jp->p++;
        jval *e = jp_value(jp, depth + 1);
        if (e == NULL) {
            return NULL;
        }
        e->key = key;
        *tail = e;
        tail = &e->next;
        jp_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            return v;
        }
        jp_fail(jp, "expected ',' or '}'");
        return NULL;
    }
}

static jval *jp_value(jparser *jp, int depth)
{
    if (depth > GW_JSON_MAX_DEPTH) {
        jp_fail(jp, "nesting too deep");
        return NULL;
    }
    jp_ws(jp);
    if (jp->p >= jp->end) {
        jp_fail(jp, "unexpected end of input");
        return NULL;
    }
    jval *v;
    switch (*jp->p) {
    case '{':
        return jp_object(jp, depth);
    case '[':
        return jp_array(jp, depth);
    case '"':
        v = jp_new(jp, J_STR);
        if (v == NULL || !jp_string(jp, &v->str, &v->slen)) {
            return NULL;
        }
        return v;
    case 't':
        v = jp_new(jp, J_BOOL);
        if (v == NULL || !jp_lit(jp, "true")) {
            return NULL;
        }
        v->b = true;
        return v;
    case 'f':
        v = jp_new(jp, J_BOOL);
        if (v == NULL || !jp_lit(jp, "false")) {
            return NULL;
        }
        return v;
    case 'n':
        v = jp_new(jp, J_NULL);
        if (v == NULL || !jp_lit(jp, "null")) {
            return NULL;
        }
        return v;
    default:
        v = jp_new(jp, J_NUM);
        if (v == NULL || !jp_number(jp, &v->num)) {
            return NULL;
        }
        return v;
    }
}

/* jp_parse parses the whole of |s| (|n| bytes); NULL with jp->err set on error. */
static jval *jp_parse(jparser *jp, const char *s, size_t n)
{
    memset(jp, 0, sizeof(*jp));
    jp->s = s;
    jp->p = s;
    jp->end = s + n;
    jp->nodes = calloc(GW_JSON_MAX_NODES, sizeof(jval));
    jp->sbuf = malloc(n + 1);
    if (jp->nodes == NULL || jp->sbuf == NULL) {
        snprintf(jp->err, sizeof(jp->err), "out of memory");
        return NULL;
    }
    jval *v = jp_value(jp, 0);
    if (v == NULL) {
        return NULL;
    }
    jp_ws(jp);
    if (jp->p != jp->end) {
        jp_fail(jp, "trailing characters after the value");
        return NULL;
    }
    return v;
}

static void jp_free(jparser *jp)
{
    free(jp->nodes);
    free(jp->sbuf);
}

/* --- JSON -> message ---------------------------------------------------------------------- */

/* enc: the encoder's context: the first error, and every buffer to free at the end. */
typedef struct enc {
    char err[256];
    void *allocs[GW_MAX_LIST + 64];
    size_t nallocs;
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
    if (e->nallocs == sizeof(e->allocs) / sizeof(e->allocs[0])) {
        return NULL;
    }
    void *p = malloc(n > 0 ? n : 1);
    if (p != NULL) {
        e->allocs[e->nallocs++] = p;
    }
    return p;
}

static const jval *jget(const jval *obj, const char *key)
{
    for (const jval *m = obj->child; m != NULL; m = m->next) {
        if (strcmp(m->key, key) == 0) {
            return m;
        }
    }
    return NULL;
}

/* jcheck_keys fails on a member not in |allowed| (strict schema). */
static bool jcheck_keys(enc *e, const jval *obj, const char *path, const char *const *allowed)
{
    for (const jval *m = obj->child; m != NULL; m = m->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL; ++a) {
            ok = ok || strcmp(*a, m->key) == 0;
        }
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof(msg), "unknown field \"%.80s\"", m->key);
            return enc_fail(e, path, msg);
        }
    }
    return true;
}

static const jval *jreq(enc *e, const jval *obj, const char *path, const char *key, jtype t)
{
    const jval *v = jget(obj, key);
    char msg[128];
    if (v == NULL) {
        snprintf(msg, sizeof(msg), "missing field \"%s\"", key);
        enc_fail(e, path, msg);
        return NULL;
    }
    if (v->type != t) {
        snprintf(msg, sizeof(msg), "field \"%s\" has the wrong type", key);
        enc_fail(e, path, msg);
        return NULL;
    }
    return v;
}

static bool j_hex_fixed(enc *e, const jval *v, const char *path, uint8_t *out, size_t n)
{
    if (v->type != J_STR || v->slen != 2 * n) {
        char msg[64];
        snprintf(msg, sizeof(msg), "expected a string of %zu hex digits", 2 * n);
        return enc_fail(e, path, msg);
    }
    if (unhex(v->str, v->slen, out) != v->slen) {
        return enc_fail(e, path, "not a hex digit");
    }
    return true;
}

static bool j_hex_bytes(enc *e, const jval *v, const char *path, gs_bytes *out)
{
    if (v->type != J_STR || v->slen % 2 != 0) {
        return enc_fail(e, path, "expected a string with an even number of hex digits");
    }
    uint8_t *p = enc_alloc(e, v->slen / 2);
    if (p == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    if (unhex(v->str, v->slen, p) != v->slen) {
        return enc_fail(e, path, "not a hex digit");
    }
    out->base = p;
    out->len = v->slen / 2;
    return true;
}

static bool j_u16(enc *e, const jval *v, const char *path, uint16_t *out)
{
    if (v == NULL || v->type != J_NUM || v->num > UINT16_MAX) {
        return enc_fail(e, path, "expected an integer 0..65535");
    }
    *out = (uint16_t)v->num;
    return true;
}

static bool j_sockaddr(enc *e, const jval *v, const char *path, gs_sockaddr *sa)
{
    char host[64];
    memset(sa, 0, sizeof(*sa));
    if (v->type != J_STR || v->slen >= sizeof(host)) {
        return enc_fail(e, path, "expected \"a.b.c.d:port\" or \"[v6]:port\"");
    }
    const char *colon = strrchr(v->str, ':');
    if (colon == NULL || colon[1] == '\0') {
        return enc_fail(e, path, "missing :port");
    }
    char *endp = NULL;
    unsigned long port = strtoul(colon + 1, &endp, 10);
    if (*endp != '\0' || port > UINT16_MAX || colon[1] < '0' || colon[1] > '9') {
        return enc_fail(e, path, "bad port");
    }
    sa->port = (uint16_t)port;
    size_t hlen = (size_t)(colon - v->str);
    if (v->str[0] == '[') {
        if (hlen < 2 || v->str[hlen - 1] != ']') {
            return enc_fail(e, path, "bad IPv6 address");
        }
        memcpy(host, v->str + 1, hlen - 2);
        host[hlen - 2] = '\0';
        if (inet_pton(AF_INET6, host, sa->addr) != 1) {
            return enc_fail(e, path, "bad IPv6 address");
        }
        sa->family = 6;
        return true;
    }
    memcpy(host, v->str, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, sa->addr) != 1) {
        return enc_fail(e, path, "bad IPv4 address");
    }
    sa->family = 4;
    return true;
}

/* j_addrinfo reads {"relay_url": null|string, "addrs": [...]} (|allowed| lists the keys). */
static bool j_addrinfo(enc *e, const jval *obj, const char *path, gs_addrinfo *ai,
                       const char *const *allowed)
{
    memset(ai, 0, sizeof(*ai));
    if (obj->type != J_OBJ) {
        return enc_fail(e, path, "expected an object");
    }
    if (!jcheck_keys(e, obj, path, allowed)) {
        return false;
    }
    const jval *relay = jget(obj, "relay_url");
    if (relay != NULL && relay->type != J_NULL) {
        if (relay->type != J_STR || relay->slen > GS_ADDRINFO_MAX_RELAY) {
            return enc_fail(e, path, "relay_url must be null or a string of at most 256 bytes");
        }
        memcpy(ai->relay_url, relay->str, relay->slen + 1);
        ai->has_relay = true;
    }
    const jval *addrs = jreq(e, obj, path, "addrs", J_ARR);
    if (addrs == NULL) {
        return false;
    }
    for (const jval *a = addrs->child; a != NULL; a = a->next) {
        if (ai->naddrs == GS_ADDRINFO_MAX_ADDRS) {
            return enc_fail(e, path, "more than 16 addresses");
        }
        if (!j_sockaddr(e, a, path, &ai->addrs[ai->naddrs++])) {
            return false;
        }
    }
    return true;
}

/* j_peer_data reads Option<PeerData>: null, {"hex": ...} or {"addr_info": {...}}. */
static bool j_peer_data(enc *e, const jval *v, const char *path, bool *has, gs_bytes *out)
{
    static const char *const keys[] = {"hex", "addr_info", NULL};
    static const char *const ai_keys[] = {"relay_url", "addrs", NULL};
    *has = false;
    out->base = NULL;
    out->len = 0;
    if (v == NULL) {
        return enc_fail(e, path, "missing field \"data\"");
    }
    if (v->type == J_NULL) {
        return true;
    }
    if (v->type != J_OBJ || !jcheck_keys(e, v, path, keys)) {
        return enc_fail(e, path, "data must be null or {\"hex\": ...} / {\"addr_info\": ...}");
    }
    *has = true;
    const jval *hex = jget(v, "hex");
    const jval *ai = jget(v, "addr_info");
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
    uint8_t *p = enc_alloc(e, 2048);
    if (p == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    gs_ssize n = gs_addrinfo_encode(p, 2048, &info);
    if (n < 0) {
        return enc_fail(e, path, gs_strerror((int)n));
    }
    out->base = p;
    out->len = (size_t)n;
    return true;
}

static bool j_key(enc *e, const jval *obj, const char *path, const char *key, gs_key *out)
{
    const jval *v = jreq(e, obj, path, key, J_STR);
    return v != NULL && j_hex_fixed(e, v, path, out->b, GS_KEY_LEN);
}

static bool j_peer(enc *e, const jval *v, const char *path, gs_peer_info *pi)
{
    static const char *const keys[] = {"id", "data", NULL};
    if (v->type != J_OBJ) {
        return enc_fail(e, path, "expected a PeerInfo object");
    }
    return jcheck_keys(e, v, path, keys) && j_key(e, v, path, "id", &pi->id) &&
           j_peer_data(e, jget(v, "data"), path, &pi->has_data, &pi->data);
}

static bool j_peer_list(enc *e, const jval *obj, const char *path, gs_peer_list *l)
{
    const jval *arr = jreq(e, obj, path, "nodes", J_ARR);
    if (arr == NULL) {
        return false;
    }
    size_t n = 0;
    for (const jval *a = arr->child; a != NULL; a = a->next) {
        ++n;
    }
    if (n > GW_MAX_LIST) {
        return enc_fail(e, path, "too many nodes");
    }
    gs_peer_info *items = enc_alloc(e, n * sizeof(*items));
    if (items == NULL) {
        return enc_fail(e, path, "out of memory");
    }
    size_t i = 0;
    for (const jval *a = arr->child; a != NULL; a = a->next, ++i) {
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

/* j_msg fills |m| from a message object whose "type" is |type|. */
static bool j_msg(enc *e, const jval *o, const char *type, gs_msg *m)
{
    memset(m, 0, sizeof(*m));
    const char *path = type;
    if (strcmp(type, "Join") == 0) {
        static const char *const keys[] = {"type", "data", NULL};
        m->type = GS_MSG_JOIN;
        return jcheck_keys(e, o, path, keys) &&
               j_peer_data(e, jget(o, "data"), path, &m->join.has_data, &m->join.data);
    }
    if (strcmp(type, "ForwardJoin") == 0) {
        static const char *const keys[] = {"type", "peer", "ttl", NULL};
        m->type = GS_MSG_FORWARD_JOIN;
        const jval *peer = jreq(e, o, path, "peer", J_OBJ);
        return jcheck_keys(e, o, path, keys) && peer != NULL &&
               j_peer(e, peer, "ForwardJoin.peer", &m->forward_join.peer) &&
               j_u16(e, jget(o, "ttl"), "ForwardJoin.ttl", &m->forward_join.ttl);
    }
    if (strcmp(type, "Shuffle") == 0) {
        static const char *const keys[] = {"type", "origin", "nodes", "ttl", NULL};
        m->type = GS_MSG_SHUFFLE;
        return jcheck_keys(e, o, path, keys) &&
               j_key(e, o, "Shuffle.origin", "origin", &m->shuffle.origin) &&
               j_peer_list(e, o, path, &m->shuffle.nodes) &&
               j_u16(e, jget(o, "ttl"), "Shuffle.ttl", &m->shuffle.ttl);
    }
    if (strcmp(type, "ShuffleReply") == 0) {
        static const char *const keys[] = {"type", "nodes", NULL};
        m->type = GS_MSG_SHUFFLE_REPLY;
        return jcheck_keys(e, o, path, keys) && j_peer_list(e, o, path, &m->shuffle_reply.nodes);
    }
    if (strcmp(type, "Neighbor") == 0) {
        static const char *const keys[] = {"type", "priority", "data", NULL};
        m->type = GS_MSG_NEIGHBOR;
        const jval *pr = jreq(e, o, path, "priority", J_STR);
        if (!jcheck_keys(e, o, path, keys) || pr == NULL) {
            return false;
        }
        if (strcmp(pr->str, "High") == 0) {
            m->neighbor.priority = GS_PRIORITY_HIGH;
        } else if (strcmp(pr->str, "Low") == 0) {
            m->neighbor.priority = GS_PRIORITY_LOW;
        } else {
            return enc_fail(e, "Neighbor.priority", "expected \"High\" or \"Low\"");
        }
        return j_peer_data(e, jget(o, "data"), path, &m->neighbor.has_data, &m->neighbor.data);
    }
    if (strcmp(type, "Disconnect") == 0) {
        static const char *const keys[] = {"type", "alive", "respond", NULL};
        m->type = GS_MSG_DISCONNECT;
        const jval *alive = jreq(e, o, path, "alive", J_BOOL);
        const jval *respond = jget(o, "respond");
        if (!jcheck_keys(e, o, path, keys) || alive == NULL) {
            return false;
        }
        if (respond != NULL && (respond->type != J_BOOL || respond->b)) {
            return enc_fail(e, "Disconnect.respond", "obsolete: must be false or absent");
        }
        m->disconnect.alive = alive->b;
        return true;
    }
    if (strcmp(type, "Gossip") == 0) {
        static const char *const keys[] = {"type", "id", "content", "scope", NULL};
        m->type = GS_MSG_GOSSIP;
        const jval *id = jreq(e, o, path, "id", J_STR);
        const jval *content = jreq(e, o, path, "content", J_STR);
        const jval *scope = jget(o, "scope");
        if (!jcheck_keys(e, o, path, keys) || id == NULL || content == NULL ||
            !j_hex_fixed(e, id, "Gossip.id", m->gossip.id.b, sizeof(m->gossip.id.b)) ||
            !j_hex_bytes(e, content, "Gossip.content", &m->gossip.content)) {
            return false;
        }
        if (scope != NULL && scope->type == J_STR && strcmp(scope->str, "Neighbors") == 0) {
            m->gossip.scope = GS_SCOPE_NEIGHBORS;
            return true;
        }
        if (scope != NULL && scope->type == J_OBJ && scope->child != NULL &&
            scope->child->next == NULL && strcmp(scope->child->key, "Swarm") == 0) {
            m->gossip.scope = GS_SCOPE_SWARM;
            return j_u16(e, scope->child, "Gossip.scope.Swarm", &m->gossip.round);
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
        const jval *id = jget(o, "id");
        if (!jcheck_keys(e, o, path, keys)) {
            return false;
        }
        if (id == NULL) {
            return enc_fail(e, path, "missing field \"id\" (null for None)");
        }
        if (id->type != J_NULL) {
            m->graft.has_id = true;
            if (!j_hex_fixed(e, id, "Graft.id", m->graft.id.b, sizeof(m->graft.id.b))) {
                return false;
            }
        }
        return j_u16(e, jget(o, "round"), "Graft.round", &m->graft.round);
    }
    if (strcmp(type, "IHave") == 0) {
        static const char *const keys[] = {"type", "entries", NULL};
        static const char *const ekeys[] = {"id", "round", NULL};
        m->type = GS_MSG_IHAVE;
        const jval *arr = jreq(e, o, path, "entries", J_ARR);
        if (!jcheck_keys(e, o, path, keys) || arr == NULL) {
            return false;
        }
        size_t n = 0;
        for (const jval *a = arr->child; a != NULL; a = a->next) {
            ++n;
        }
        if (n > GW_MAX_LIST) {
            return enc_fail(e, path, "too many entries");
        }
        gs_ihave_entry *items = enc_alloc(e, n * sizeof(*items));
        if (items == NULL) {
            return enc_fail(e, path, "out of memory");
        }
        size_t i = 0;
        for (const jval *a = arr->child; a != NULL; a = a->next, ++i) {
            char sub[64];
            snprintf(sub, sizeof(sub), "IHave.entries[%zu]", i);
            const jval *id = a->type == J_OBJ ? jreq(e, a, sub, "id", J_STR) : NULL;
            if (a->type != J_OBJ) {
                return enc_fail(e, sub, "expected {\"id\": ..., \"round\": ...}");
            }
            if (!jcheck_keys(e, a, sub, ekeys) || id == NULL ||
                !j_hex_fixed(e, id, sub, items[i].id.b, sizeof(items[i].id.b)) ||
                !j_u16(e, jget(a, "round"), sub, &items[i].round)) {
                return false;
            }
        }
        m->ihave.entries.n = n;
        m->ihave.entries.items = items;
        return true;
    }
    return enc_fail(e, "type", "unknown message type");
}

static int cmd_encode(const char *arg, size_t max_size)
{
    char *text = read_arg(arg);
    if (text == NULL) {
        return GW_EXIT_INPUT;
    }
    jparser jp;
    enc *e = calloc(1, sizeof(*e));
    int rc = GW_EXIT_INPUT;
    uint8_t *out = NULL;
    jval *root = jp_parse(&jp, text, strlen(text));
    if (e == NULL) {
        fputs("gossip-wire: out of memory\n", stderr);
        goto done;
    }
    if (root == NULL) {
        fprintf(stderr, "gossip-wire: %s\n", jp.err);
        goto done;
    }
    if (root->type != J_OBJ) {
        fputs("gossip-wire: the JSON value must be an object\n", stderr);
        goto done;
    }
    const jval *type = jreq(e, root, "message", "type", J_STR);
    if (type == NULL) {
        fprintf(stderr, "gossip-wire: %s\n", e->err);
        goto done;
    }
    /* big enough for any frame a u32 prefix can describe that our inputs can produce */
    size_t cap = strlen(text) + 64;
    out = malloc(cap);
    if (out == NULL) {
        fputs("gossip-wire: out of memory\n", stderr);
        goto done;
    }
    gs_ssize n;
    if (strcmp(type->str, "StreamHeader") == 0) {
        static const char *const keys[] = {"type", "topic", "trailing_bytes", NULL};
        gs_topic_id topic;
        const jval *t = jreq(e, root, "StreamHeader", "topic", J_STR);
        if (!jcheck_keys(e, root, "StreamHeader", keys) || t == NULL ||
            !j_hex_fixed(e, t, "StreamHeader.topic", topic.b, sizeof(topic.b))) {
            fprintf(stderr, "gossip-wire: %s\n", e->err);
            goto done;
        }
        n = gs_codec_encode_header_frame(out, cap, &topic);
    } else if (strcmp(type->str, "AddrInfo") == 0) {
        static const char *const keys[] = {"type", "relay_url", "addrs", "dropped_addrs", NULL};
        gs_addrinfo ai;
        if (!j_addrinfo(e, root, "AddrInfo", &ai, keys)) {
            fprintf(stderr, "gossip-wire: %s\n", e->err);
            goto done;
        }
        n = gs_addrinfo_encode(out, cap, &ai);
    } else {
        /* decode's informational "trailing_bytes" is accepted and ignored */
        gs_msg m;
        jval *tb = NULL;
        for (jval **pm = &root->child; *pm != NULL; pm = &(*pm)->next) {
            if (strcmp((*pm)->key, "trailing_bytes") == 0) {
                tb = *pm;
                *pm = tb->next;
                break;
            }
        }
        if (tb != NULL && tb->type != J_NUM) {
            fputs("gossip-wire: trailing_bytes: expected an integer\n", stderr);
            goto done;
        }
        if (!j_msg(e, root, type->str, &m)) {
            fprintf(stderr, "gossip-wire: %s\n", e->err);
            goto done;
        }
        n = gs_codec_encode_frame(out, cap, &m, max_size);
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
    for (gs_ssize i = 0; i < n; ++i) {
        printf("%02x", out[i]);
    }
    putchar('\n');
    rc = GW_EXIT_OK;
done:
    if (e != NULL) {
        for (size_t i = 0; i < e->nallocs; ++i) {
            free(e->allocs[i]);
        }
        free(e);
    }
    free(out);
    jp_free(&jp);
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
