/* SPDX-License-Identifier: MIT */
/*
 * addrinfo.c: the net layer's AddrInfo carried in PeerData (PROTOCOL.md 4.5):
 *   Option<String relay_url> || varint count || count x SocketAddr,
 *   SocketAddr = 00 || 4 bytes || port (varint u16)  or  01 || 16 bytes || port.
 *
 * Decoding accepts any order and drops duplicates; it keeps the GS_ADDRINFO_MAX_ADDRS smallest
 * addresses in canonical order (IPv4 before IPv6, then address bytes, then port), so the result
 * does not depend on the order the peer chose.  Encoding always writes the canonical form.
 */
#include "codec.h"

#include <string.h>

/* Smallest encoded SocketAddr: tag + 4 address bytes + 1-byte port. */
#define SOCKADDR_MIN 6

typedef struct ai_rd {
    const uint8_t *p;
    const uint8_t *end;
} ai_rd;

static int ai_varint(ai_rd *r, unsigned maxbytes, uint8_t lastmax, uint64_t *pv)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < maxbytes; ++i) {
        if (r->p == r->end) {
            return GS_ERR_TRUNCATED;
        }
        uint8_t b = *r->p;
        if (i == maxbytes - 1 && b > lastmax) {
            return GS_ERR_VARINT_OVERFLOW;
        }
        r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *pv = v;
            return 0;
        }
    }
    return GS_ERR_VARINT_OVERFLOW;
}

/* utf8_valid checks strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        uint32_t min;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1fu;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0fu;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07u;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k) {
            return false;
        }
        for (size_t j = 1; j <= k; ++j) {
            uint8_t cc = s[i + j];
            if ((cc & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += k + 1;
    }
    return true;
}

/* gs_sockaddr_cmp orders addresses canonically; see codec.h. */
int gs_sockaddr_cmp(const gs_sockaddr *a, const gs_sockaddr *b)
{
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    int c = memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    if (a->port != b->port) {
        return a->port < b->port ? -1 : 1;
    }
    return 0;
}

/*
 * ai_insert adds |sa| to the sorted, duplicate-free |ai->addrs|.  When the array is full the
 * largest address is dropped (the new one if it is the largest).  Returns 1 if an address was
 * dropped for lack of room, else 0.
 */
static size_t ai_insert(gs_addrinfo *ai, const gs_sockaddr *sa)
{
    size_t pos = ai->naddrs;
    while (pos > 0) {
        int c = gs_sockaddr_cmp(&ai->addrs[pos - 1], sa);
        if (c == 0) {
            return 0; /* duplicate */
        }
        if (c < 0) {
            break;
        }
        --pos;
    }
    if (ai->naddrs == GS_ADDRINFO_MAX_ADDRS) {
        if (pos == GS_ADDRINFO_MAX_ADDRS) {
            return 1;
        }
        ai->naddrs--; /* drop the largest */
        memmove(&ai->addrs[pos + 1], &ai->addrs[pos], (ai->naddrs - pos) * sizeof(ai->addrs[0]));
        ai->addrs[pos] = *sa;
        ai->naddrs++;
        return 1;
    }
    memmove(&ai->addrs[pos + 1], &ai->addrs[pos], (ai->naddrs - pos) * sizeof(ai->addrs[0]));
    ai->addrs[pos] = *sa;
    ai->naddrs++;
    return 0;
}

int gs_addrinfo_decode(gs_addrinfo *ai, const uint8_t *buf, size_t len, size_t *pdropped)
{
    ai_rd r;
    size_t dropped = 0;
    uint64_t v = 0;
    int rv;

    memset(ai, 0, sizeof(*ai));
    if (pdropped != NULL) {
        *pdropped = 0;
    }
    if (len == 0) {
        return 0; /* an empty PeerData is an empty AddrInfo */
    }
    r.p = buf;
    r.end = buf + len;
    /* relay_url: Option<String> */
    uint8_t opt = *r.p++;
    if (opt > 1) {
        return GS_ERR_BAD_OPTION;
    }
    if (opt == 1) {
        rv = ai_varint(&r, 10, 0x01, &v);
        if (rv != 0) {
            return rv;
        }
        if (v > (uint64_t)(r.end - r.p)) {
            return GS_ERR_TRUNCATED;
        }
        if (v > GS_ADDRINFO_MAX_RELAY) {
            return GS_ERR_BAD_ADDR;
        }
        if (!utf8_valid(r.p, (size_t)v)) {
            return GS_ERR_BAD_UTF8;
        }
        if (memchr(r.p, 0, (size_t)v) != NULL) {
            return GS_ERR_BAD_ADDR; /* cannot be held in a C string */
        }
        memcpy(ai->relay_url, r.p, (size_t)v);
        ai->relay_url[v] = '\0';
        ai->has_relay = true;
        r.p += v;
    }
    /* direct_addresses: set of SocketAddr */
    rv = ai_varint(&r, 10, 0x01, &v);
    if (rv != 0) {
        return rv;
    }
    if (v > (uint64_t)(r.end - r.p) / SOCKADDR_MIN) {
        return GS_ERR_BAD_LENGTH;
    }
    for (uint64_t i = 0; i < v; ++i) {
        gs_sockaddr sa;
        uint64_t tag = 0;
        uint64_t port = 0;
        memset(&sa, 0, sizeof(sa));
        rv = ai_varint(&r, 5, 0x0f, &tag);
        if (rv != 0) {
            return rv;
        }
        if (tag > 1) {
            return GS_ERR_BAD_ADDR;
        }
        size_t alen = tag == 0 ? 4 : 16;
        if ((size_t)(r.end - r.p) < alen) {
            return GS_ERR_TRUNCATED;
        }
        sa.family = tag == 0 ? 4 : 6;
        memcpy(sa.addr, r.p, alen);
        r.p += alen;
        rv = ai_varint(&r, 3, 0x03, &port);
        if (rv != 0) {
            return rv;
        }
        sa.port = (uint16_t)port;
        dropped += ai_insert(ai, &sa);
    }
    if (pdropped != NULL) {
        *pdropped = dropped;
    }
    return 0;
}

static uint8_t *ai_wr_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

gs_ssize gs_addrinfo_encode(uint8_t *buf, size_t buflen, const gs_addrinfo *ai)
{
    gs_addrinfo sorted;
    size_t relay_len = 0;

    if (ai->naddrs > GS_ADDRINFO_MAX_ADDRS) {
        return GS_ERR_INVAL;
    }
    if (ai->has_relay) {
        const char *nul = memchr(ai->relay_url, 0, sizeof(ai->relay_url));
        if (nul == NULL) {
            return GS_ERR_INVAL;
        }
        relay_len = (size_t)(nul - ai->relay_url);
        if (relay_len > GS_ADDRINFO_MAX_RELAY ||
            !utf8_valid((const uint8_t *)ai->relay_url, relay_len)) {
            return GS_ERR_INVAL;
        }
    }
    /* Canonical set: sort and deduplicate a copy. */
    sorted.naddrs = 0;
    for (size_t i = 0; i < ai->naddrs; ++i) {
        const gs_sockaddr *sa = &ai->addrs[i];
        if (sa->family != 4 && sa->family != 6) {
            return GS_ERR_INVAL;
        }
        gs_sockaddr clean;
        memset(&clean, 0, sizeof(clean));
        clean.family = sa->family;
        memcpy(clean.addr, sa->addr, sa->family == 4 ? 4 : 16);
        clean.port = sa->port;
        (void)ai_insert(&sorted, &clean);
    }
    size_t n = 1 + (ai->has_relay ? gs_codec_varint_len(relay_len) + relay_len : 0) +
               gs_codec_varint_len(sorted.naddrs);
    for (size_t i = 0; i < sorted.naddrs; ++i) {
        n += 1 + (sorted.addrs[i].family == 4 ? 4u : 16u) +
             gs_codec_varint_len(sorted.addrs[i].port);
    }
    if (n > buflen) {
        return GS_ERR_NOBUF;
    }
    uint8_t *p = buf;
    *p++ = ai->has_relay ? 1 : 0;
    if (ai->has_relay) {
        p = ai_wr_varint(p, relay_len);
        memcpy(p, ai->relay_url, relay_len);
        p += relay_len;
    }
    p = ai_wr_varint(p, sorted.naddrs);
    for (size_t i = 0; i < sorted.naddrs; ++i) {
        const gs_sockaddr *sa = &sorted.addrs[i];
        size_t alen = sa->family == 4 ? 4 : 16;
        *p++ = sa->family == 4 ? 0 : 1;
        memcpy(p, sa->addr, alen);
        p += alen;
        p = ai_wr_varint(p, sa->port);
    }
    return (gs_ssize)(p - buf);
}
