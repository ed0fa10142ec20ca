/* SPDX-License-Identifier: MIT */
/*
 * identity.h: a node's Ed25519 identity (its iroh endpoint id) and the textual and DER forms
 * that QUIC/TLS and the command line need (PROTOCOL.md 2.1, 2.2, 11).
 *
 * An endpoint id is the 32-byte Ed25519 public key, handled here as raw bytes (uint8_t[32]) so
 * that io/ does not depend on proto/codec.h (gs_key.b is the same 32 bytes).
 *
 * Key file format (text, created with mode 0600, refused when group/world-accessible):
 *     # gossipd ed25519 secret key seed (hex); endpoint id <64 hex chars>
 *     <64 lowercase hex chars: the 32-byte seed>
 * Lines starting with '#' and blank lines are ignored; exactly one seed line must be present.
 */
#ifndef GS_IO_IDENTITY_H
#define GS_IO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_err.h"

#define GS_ID_LEN       32 /* bytes in an endpoint id (Ed25519 public key) */
#define GS_ID_HEX_LEN   64 /* chars in its hex form, without the NUL */
#define GS_ID_B32_LEN   52 /* chars in its base32 / base32hex no-pad forms, without the NUL */
#define GS_ID_SEED_LEN  32 /* bytes in an Ed25519 seed */
#define GS_ID_SPKI_LEN  44 /* DER SubjectPublicKeyInfo of an Ed25519 key */
#define GS_ID_PKCS8_LEN 48 /* DER PKCS#8 PrivateKeyInfo of an Ed25519 seed */
/* chars in the TLS name "<base32hex(id)>.iroh.invalid", without the NUL */
#define GS_ID_TLS_NAME_LEN (GS_ID_B32_LEN + 13)

/* The 12-byte DER prefix of an Ed25519 SubjectPublicKeyInfo (PROTOCOL.md 2.2). */
extern const uint8_t gs_identity_spki_prefix[12];

/* gs_identity: an Ed25519 key pair.  |sk| is libsodium's 64-byte form (seed || public key). */
typedef struct gs_identity {
    uint8_t pk[GS_ID_LEN];
    uint8_t sk[64];
} gs_identity;

/* gs_identity_generate fills |id| with a fresh random key pair (libsodium).  Returns 0 or
 * GS_ERR_INTERNAL if libsodium cannot be initialised. */
int gs_identity_generate(gs_identity *id);

/* gs_identity_from_seed derives the key pair of the 32-byte |seed| into |id| (deterministic, for
 * tests and for key files).  Returns 0 or GS_ERR_INTERNAL (libsodium unusable). */
int gs_identity_from_seed(gs_identity *id, const uint8_t seed[GS_ID_SEED_LEN]);

/* gs_identity_wipe zeroes |id| (secret material) with sodium_memzero. */
void gs_identity_wipe(gs_identity *id);

/*
 * gs_identity_save writes |id|'s seed to a new file |path| in the key file format above.  The
 * file is created with open(O_CREAT|O_EXCL, 0600): an existing file is never overwritten.
 * Returns 0, -EEXIST if |path| exists, another negated errno from open/write/fsync/close
 * (a partially written file is unlinked), or GS_ERR_INVAL for a NULL argument.
 */
int gs_identity_save(const gs_identity *id, const char *path);

/*
 * gs_identity_load reads the key file |path| into |id|.  It never blocks on a FIFO.  Returns 0;
 * GS_ERR_KEY_PERM if the file is accessible by group or others (mode & 077); -ELOOP if |path| is
 * a symbolic link (refused: name the file itself); -EISDIR for a directory; -ENODEV for a device
 * (e.g. /dev/null); -ESPIPE for a FIFO or socket; GS_ERR_KEY_FORMAT if its contents are
 * malformed (no seed line, two seed lines, bad hex, over 4 KiB); or another negated errno from
 * open/read (e.g. -ENOENT).  gs_identity_strerror words each of these for a key file.  |id| is
 * unchanged on error.
 */
int gs_identity_load(gs_identity *id, const char *path);

/*
 * gs_identity_strerror describes a gs_identity_load / _save / _load_or_create result for a key
 * file ("is a symbolic link", "is a FIFO or socket", "is readable or writable by group or
 * others", ...); other values get gs_strerror's text.  Static, never NULL.
 */
const char *gs_identity_strerror(int rv);

/*
 * gs_identity_load_or_create loads |path| or, if it does not exist, generates a key and saves
 * it there.  Returns what gs_identity_load or gs_identity_save returns; |*pcreated| (may be
 * NULL) tells whether a new key was written.
 */
int gs_identity_load_or_create(gs_identity *id, const char *path, bool *pcreated);

/* gs_id_to_hex writes the canonical display form of |id| (64 lowercase hex chars + NUL) to
 * |out|. */
void gs_id_to_hex(const uint8_t id[GS_ID_LEN], char out[GS_ID_HEX_LEN + 1]);

/* gs_id_to_base32 writes RFC 4648 base32, lowercase, no padding (52 chars + NUL): iroh's
 * alternative textual form. */
void gs_id_to_base32(const uint8_t id[GS_ID_LEN], char out[GS_ID_B32_LEN + 1]);

/* gs_id_to_tls_name writes "<base32hex-lowercase-nopad(id)>.iroh.invalid" (65 chars + NUL), the
 * synthetic server name iroh uses for |id|. */
void gs_id_to_tls_name(const uint8_t id[GS_ID_LEN], char out[GS_ID_TLS_NAME_LEN + 1]);

/*
 * gs_id_parse parses the endpoint id in the |len| chars at |s| into |out|.  Accepted forms:
 * 64 hex chars (either case); 52 chars of RFC 4648 base32 (either case, no padding); 52 chars of
 * base32hex (0-9a-v, either case, no padding); and the TLS name "<base32hex>.iroh.invalid".  A
 * bare 52-char string valid in both base32 alphabets is read as RFC 4648 base32 (iroh's FromStr
 * form).  The 4 unused low bits of a 52-char form must be zero.  No curve check is made.
 * Returns 0 or GS_ERR_KEY_FORMAT (|out| unchanged).
 */
int gs_id_parse(uint8_t out[GS_ID_LEN], const char *s, size_t len);

/* gs_id_spki writes the 44-byte DER SubjectPublicKeyInfo of |id| (prefix || key) to |out|. */
void gs_id_spki(const uint8_t id[GS_ID_LEN], uint8_t out[GS_ID_SPKI_LEN]);

/*
 * gs_id_from_spki extracts the key from the DER SPKI |der| of |len| bytes into |out|.  Returns 0
 * or GS_ERR_PROTO unless it is exactly 44 bytes starting with the Ed25519 prefix.
 */
int gs_id_from_spki(uint8_t out[GS_ID_LEN], const uint8_t *der, size_t len);

/* gs_identity_pkcs8 writes the 48-byte PKCS#8 DER of |id|'s seed to |out| (secret: wipe it). */
void gs_identity_pkcs8(const gs_identity *id, uint8_t out[GS_ID_PKCS8_LEN]);

#endif /* GS_IO_IDENTITY_H */
