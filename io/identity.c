/* SPDX-License-Identifier: MIT */
/*
 * identity.c: Ed25519 key pairs (libsodium), the key file, and the textual / DER forms of
 * endpoint ids.  Secrets never leave |gs_identity| except through gs_identity_pkcs8 (whose caller
 * wipes the copy) and the key file; stack copies are wiped with sodium_memzero.
 */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

const uint8_t gs_identity_spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                             0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

static const uint8_t pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                         0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};

static const char b32_rfc[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b32_hex[] = "0123456789abcdefghijklmnopqrstuv";
static const char tls_suffix[] = ".iroh.invalid";

/* The largest key file we read: a seed line plus generous comments. */
#define KEYFILE_MAX 4096

int gs_identity_generate(gs_identity *id)
{
    if (sodium_init() < 0) {
        return GS_ERR_INTERNAL;
    }
    crypto_sign_ed25519_keypair(id->pk, id->sk);
    return 0;
}

int gs_identity_from_seed(gs_identity *id, const uint8_t seed[GS_ID_SEED_LEN])
{
    if (sodium_init() < 0) {
        return GS_ERR_INTERNAL;
    }
    crypto_sign_ed25519_seed_keypair(id->pk, id->sk, seed);
    return 0;
}

void gs_identity_wipe(gs_identity *id)
{
    sodium_memzero(id, sizeof(*id));
}

static int hexval(char c)
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

/* hex_decode decodes exactly 2*|n| hex chars at |s| into |out|; false on a bad char. */
static bool hex_decode(uint8_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        int hi = hexval(s[2 * i]);
        int lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return true;
}

static void hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int gs_identity_save(const gs_identity *id, const char *path)
{
    char text[256];
    char idhex[GS_ID_HEX_LEN + 1];
    char seedhex[GS_ID_HEX_LEN + 1];
    int fd;
    int rv = 0;

    if (id == NULL || path == NULL) {
        return GS_ERR_INVAL;
    }
    gs_id_to_hex(id->pk, idhex);
    hex_encode(seedhex, id->sk, GS_ID_SEED_LEN);
    int n =
        snprintf(text, sizeof(text),
                 "# gossipd ed25519 secret key seed (hex); endpoint id %s\n%s\n", idhex, seedhex);
    sodium_memzero(seedhex, sizeof(seedhex));
    if (n < 0 || (size_t)n >= sizeof(text)) {
        sodium_memzero(text, sizeof(text));
        return GS_ERR_INTERNAL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rv = -errno;
        sodium_memzero(text, sizeof(text));
        return rv;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = write(fd, text + off, (size_t)n - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            rv = -errno;
            break;
        }
        off += (size_t)w;
    }
    sodium_memzero(text, sizeof(text));
    if (rv == 0 && fsync(fd) != 0) {
        rv = -errno;
    }
    if (close(fd) != 0 && rv == 0) {
        rv = -errno;
    }
    if (rv != 0) {
        (void)unlink(path);
    }
    return rv;
}

/* parse_keyfile finds the one seed line in |text| (|len| bytes) and decodes it into |seed|. */
static int parse_keyfile(uint8_t seed[GS_ID_SEED_LEN], const char *text, size_t len)
{
    size_t nseed = 0;
    size_t i = 0;

    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '\n') {
            ++i;
        }
        size_t end = i;
        ++i; /* skip the newline */
        while (end > start &&
               (text[end - 1] == '\r' || text[end - 1] == ' ' || text[end - 1] == '\t')) {
            --end;
        }
        while (start < end && (text[start] == ' ' || text[start] == '\t')) {
            ++start;
        }
        if (start == end || text[start] == '#') {
            continue;
        }
        if (end - start != GS_ID_HEX_LEN || nseed != 0) {
            return GS_ERR_KEY_FORMAT;
        }
        if (!hex_decode(seed, text + start, GS_ID_SEED_LEN)) {
            return GS_ERR_KEY_FORMAT;
        }
        ++nseed;
    }
    return nseed == 1 ? 0 : GS_ERR_KEY_FORMAT;
}

int gs_identity_load(gs_identity *id, const char *path)
{
    char text[KEYFILE_MAX + 1];
    uint8_t seed[GS_ID_SEED_LEN];
    struct stat st;
    size_t len = 0;
    int fd;
    int rv = 0;

    if (id == NULL || path == NULL) {
        return GS_ERR_INVAL;
    }
    /* O_NONBLOCK: opening a FIFO for reading must not wait for a writer (it is refused below);
     * it has no effect on a regular file's reads. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return -errno; /* a symbolic link gives -ELOOP (O_NOFOLLOW) */
    }
    if (fstat(fd, &st) != 0) {
        rv = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rv = -EISDIR;
        goto out;
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        rv = -ENODEV;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rv = -ESPIPE; /* FIFO or socket */
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rv = GS_ERR_KEY_PERM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, text + len, sizeof(text) - len);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            rv = -errno;
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
        if (len > KEYFILE_MAX) {
            rv = GS_ERR_KEY_FORMAT;
            goto out;
        }
    }
    rv = parse_keyfile(seed, text, len);
    if (rv == 0) {
        rv = gs_identity_from_seed(id, seed);
    }
out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(seed, sizeof(seed));
    (void)close(fd);
    return rv;
}

const char *gs_identity_strerror(int rv)
{
    switch (rv) {
    case GS_ERR_KEY_PERM:
        return "key file is readable or writable by group or others (chmod 600 it)";
    case GS_ERR_KEY_FORMAT:
        return "key file is malformed (expected one line of 64 hex digits, # comments, at most "
               "4 KiB)";
    case -ELOOP:
        return "key file is a symbolic link (refused: give the path of the file itself)";
    case -EISDIR:
        return "key file is a directory, not a regular file";
    case -ENODEV:
        return "key file is a device (such as /dev/null), not a regular file";
    case -ESPIPE:
        return "key file is a FIFO or socket, not a regular file";
    case -ENOENT:
        return "key file does not exist";
    case -EACCES:
        return "key file cannot be read: permission denied";
    case -EEXIST:
        return "key file already exists (never overwritten)";
    default:
        return gs_strerror(rv);
    }
}

int gs_identity_load_or_create(gs_identity *id, const char *path, bool *pcreated)
{
    int rv = gs_identity_load(id, path);

    if (pcreated != NULL) {
        *pcreated = false;
    }
    if (rv != -ENOENT) {
        return rv;
    }
    gs_identity fresh;
    rv = gs_identity_generate(&fresh);
    if (rv == 0) {
        rv = gs_identity_save(&fresh, path);
    }
    if (rv == 0) {
        *id = fresh;
        if (pcreated != NULL) {
            *pcreated = true;
        }
    }
    gs_identity_wipe(&fresh);
    return rv;
}

void gs_id_to_hex(const uint8_t id[GS_ID_LEN], char out[GS_ID_HEX_LEN + 1])
{
    hex_encode(out, id, GS_ID_LEN);
}

/* b32_encode writes the 52-char no-pad encoding of the 32 bytes |in| with |alpha| plus a NUL. */
static void b32_encode(char *out, const uint8_t in[GS_ID_LEN], const char *alpha)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < GS_ID_LEN; ++i) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = alpha[(acc >> bits) & 31];
        }
    }
    if (bits > 0) {
        out[o++] = alpha[(acc << (5 - bits)) & 31];
    }
    out[o] = '\0';
}

/* b32_decode decodes 52 chars at |s| with |alpha| (case-insensitive); the 4 pad bits must be 0. */
static bool b32_decode(uint8_t out[GS_ID_LEN], const char *s, const char *alpha)
{
    uint8_t tmp[GS_ID_LEN];
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < GS_ID_B32_LEN; ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        const char *p = c != '\0' ? strchr(alpha, c) : NULL;
        if (p == NULL) {
            return false;
        }
        acc = (acc << 5) | (uint32_t)(p - alpha);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            tmp[o++] = (uint8_t)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) {
        return false;
    }
    memcpy(out, tmp, GS_ID_LEN);
    return true;
}

void gs_id_to_base32(const uint8_t id[GS_ID_LEN], char out[GS_ID_B32_LEN + 1])
{
    b32_encode(out, id, b32_rfc);
}

void gs_id_to_tls_name(const uint8_t id[GS_ID_LEN], char out[GS_ID_TLS_NAME_LEN + 1])
{
    b32_encode(out, id, b32_hex);
    memcpy(out + GS_ID_B32_LEN, tls_suffix, sizeof(tls_suffix));
}

int gs_id_parse(uint8_t out[GS_ID_LEN], const char *s, size_t len)
{
    if (s == NULL || out == NULL) {
        return GS_ERR_KEY_FORMAT;
    }
    if (len == GS_ID_HEX_LEN) {
        uint8_t tmp[GS_ID_LEN];
        if (!hex_decode(tmp, s, GS_ID_LEN)) {
            return GS_ERR_KEY_FORMAT;
        }
        memcpy(out, tmp, GS_ID_LEN);
        return 0;
    }
    if (len == GS_ID_TLS_NAME_LEN) {
        if (strncasecmp(s + GS_ID_B32_LEN, tls_suffix, sizeof(tls_suffix) - 1) != 0) {
            return GS_ERR_KEY_FORMAT;
        }
        return b32_decode(out, s, b32_hex) ? 0 : GS_ERR_KEY_FORMAT;
    }
    if (len == GS_ID_B32_LEN) {
        if (b32_decode(out, s, b32_rfc) || b32_decode(out, s, b32_hex)) {
            return 0;
        }
    }
    return GS_ERR_KEY_FORMAT;
}

void gs_id_spki(const uint8_t id[GS_ID_LEN], uint8_t out[GS_ID_SPKI_LEN])
{
    memcpy(out, gs_identity_spki_prefix, sizeof(gs_identity_spki_prefix));
    memcpy(out + sizeof(gs_identity_spki_prefix), id, GS_ID_LEN);
}

int gs_id_from_spki(uint8_t out[GS_ID_LEN], const uint8_t *der, size_t len)
{
    if (der == NULL || len != GS_ID_SPKI_LEN ||
        memcmp(der, gs_identity_spki_prefix, sizeof(gs_identity_spki_prefix)) != 0) {
        return GS_ERR_PROTO;
    }
    memcpy(out, der + sizeof(gs_identity_spki_prefix), GS_ID_LEN);
    return 0;
}

void gs_identity_pkcs8(const gs_identity *id, uint8_t out[GS_ID_PKCS8_LEN])
{
    memcpy(out, pkcs8_prefix, sizeof(pkcs8_prefix));
    memcpy(out + sizeof(pkcs8_prefix), id->sk, GS_ID_SEED_LEN);
}
