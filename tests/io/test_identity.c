/* SPDX-License-Identifier: MIT */
/*
 * test_identity.c: Ed25519 identities, key files and the textual / DER forms of endpoint ids,
 * checked against the fixed inputs in the header of vectors/iroh-gossip-wire.txt.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"

static const char a_hex[] = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
static const char a_name[] = "7dl2ff6emqi2qol3l382krodedij45bn3nh479hqo14a32qpr8kg.iroh.invalid";
static const char a_spki[] =
    "302a300506032b65700321003b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
static const char b_hex[] = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
static const char b_name[] = "ha4e7nbk17opbvaircmjpeiteb56e2dv3ma146vjei403d0fdte0.iroh.invalid";

static void from_byte(gs_identity *id, uint8_t b)
{
    uint8_t seed[GS_ID_SEED_LEN];
    memset(seed, b, sizeof(seed));
    cr_assert(eq(int, gs_identity_from_seed(id, seed), 0));
}

Test(identity, vectors_hex_and_tls_name)
{
    gs_identity a;
    gs_identity b;
    char hex[GS_ID_HEX_LEN + 1];
    char name[GS_ID_TLS_NAME_LEN + 1];

    from_byte(&a, 0);
    from_byte(&b, 1);
    gs_id_to_hex(a.pk, hex);
    cr_assert(eq(str, hex, (char *)a_hex));
    gs_id_to_tls_name(a.pk, name);
    cr_assert(eq(str, name, (char *)a_name));
    gs_id_to_hex(b.pk, hex);
    cr_assert(eq(str, hex, (char *)b_hex));
    gs_id_to_tls_name(b.pk, name);
    cr_assert(eq(str, name, (char *)b_name));
}

Test(identity, spki_and_pkcs8)
{
    gs_identity a;
    uint8_t spki[GS_ID_SPKI_LEN];
    uint8_t key[GS_ID_LEN];
    char hex[2 * GS_ID_SPKI_LEN + 1];

    from_byte(&a, 0);
    gs_id_spki(a.pk, spki);
    for (size_t i = 0; i < sizeof(spki); ++i) {
        snprintf(hex + 2 * i, 3, "%02x", spki[i]);
    }
    cr_assert(eq(str, hex, (char *)a_spki));
    cr_assert(eq(int, gs_id_from_spki(key, spki, sizeof(spki)), 0));
    cr_assert(eq(int, memcmp(key, a.pk, GS_ID_LEN), 0));
    cr_assert(eq(int, gs_id_from_spki(key, spki, sizeof(spki) - 1), GS_ERR_PROTO));
    spki[3] ^= 1;
    cr_assert(eq(int, gs_id_from_spki(key, spki, sizeof(spki)), GS_ERR_PROTO));

    uint8_t p8[GS_ID_PKCS8_LEN];
    static const uint8_t prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                       0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    gs_identity_pkcs8(&a, p8);
    cr_assert(eq(int, memcmp(p8, prefix, 16), 0));
    for (size_t i = 16; i < sizeof(p8); ++i) {
        cr_assert(eq(u8, p8[i], 0)); /* the seed 00 x 32 */
    }
}

Test(identity, parse_every_form)
{
    gs_identity a;
    uint8_t out[GS_ID_LEN];
    char b32[GS_ID_B32_LEN + 1];
    char name[GS_ID_TLS_NAME_LEN + 1];

    from_byte(&a, 0);
    cr_assert(eq(int, gs_id_parse(out, a_hex, strlen(a_hex)), 0));
    cr_assert(eq(int, memcmp(out, a.pk, GS_ID_LEN), 0));
    /* upper-case hex */
    char up[GS_ID_HEX_LEN + 1];
    for (size_t i = 0; i <= GS_ID_HEX_LEN; ++i) {
        up[i] = (a_hex[i] >= 'a' && a_hex[i] <= 'f') ? (char)(a_hex[i] - 32) : a_hex[i];
    }
    cr_assert(eq(int, gs_id_parse(out, up, GS_ID_HEX_LEN), 0));
    cr_assert(eq(int, memcmp(out, a.pk, GS_ID_LEN), 0));
    /* RFC 4648 base32 */
    gs_id_to_base32(a.pk, b32);
    cr_assert(eq(sz, strlen(b32), GS_ID_B32_LEN));
    memset(out, 0, sizeof(out));
    cr_assert(eq(int, gs_id_parse(out, b32, GS_ID_B32_LEN), 0));
    cr_assert(eq(int, memcmp(out, a.pk, GS_ID_LEN), 0));
    /* the TLS name and its bare base32hex part (contains digits 0/1/8/9: unambiguous) */
    memset(out, 0, sizeof(out));
    cr_assert(eq(int, gs_id_parse(out, a_name, strlen(a_name)), 0));
    cr_assert(eq(int, memcmp(out, a.pk, GS_ID_LEN), 0));
    memset(out, 0, sizeof(out));
    cr_assert(eq(int, gs_id_parse(out, b_name, GS_ID_B32_LEN), 0));
    gs_identity b;
    from_byte(&b, 1);
    cr_assert(eq(int, memcmp(out, b.pk, GS_ID_LEN), 0));
    gs_id_to_tls_name(b.pk, name);
    cr_assert(eq(int, gs_id_parse(out, name, GS_ID_TLS_NAME_LEN), 0));
    /* malformed */
    cr_assert(eq(int, gs_id_parse(out, a_hex, 63), GS_ERR_KEY_FORMAT));
    char bad[GS_ID_HEX_LEN + 1];
    memcpy(bad, a_hex, sizeof(bad));
    bad[10] = 'g';
    cr_assert(eq(int, gs_id_parse(out, bad, GS_ID_HEX_LEN), GS_ERR_KEY_FORMAT));
    char badname[GS_ID_TLS_NAME_LEN + 1];
    memcpy(badname, a_name, sizeof(badname));
    badname[GS_ID_B32_LEN + 2] = 'x';
    cr_assert(eq(int, gs_id_parse(out, badname, GS_ID_TLS_NAME_LEN), GS_ERR_KEY_FORMAT));
    /* non-zero pad bits in the last base32 char */
    char b32bad[GS_ID_B32_LEN + 1];
    memcpy(b32bad, b32, sizeof(b32bad));
    b32bad[GS_ID_B32_LEN - 1] = b32bad[GS_ID_B32_LEN - 1] == 'b' ? 'c' : 'b';
    cr_assert(eq(int, gs_id_parse(out, b32bad, GS_ID_B32_LEN), GS_ERR_KEY_FORMAT));
    cr_assert(eq(int, gs_id_parse(out, "", 0), GS_ERR_KEY_FORMAT));
}

static void tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/gs_test_key_%d_%s", (int)getpid(), tag);
    unlink(buf);
}

Test(identity, key_file_round_trip_and_permissions)
{
    gs_identity a;
    gs_identity got;
    char path[128];
    struct stat st;

    cr_assert(eq(int, gs_identity_generate(&a), 0));
    tmp_path(path, sizeof(path), "rt");
    cr_assert(eq(int, gs_identity_save(&a, path), 0));
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
    cr_assert(eq(int, gs_identity_load(&got, path), 0));
    cr_assert(eq(int, memcmp(got.pk, a.pk, GS_ID_LEN), 0));
    cr_assert(eq(int, memcmp(got.sk, a.sk, 64), 0));
    /* never overwrites */
    cr_assert(eq(int, gs_identity_save(&a, path), -EEXIST));
    /* group/world-readable files are refused */
    cr_assert(eq(int, chmod(path, 0640), 0));
    cr_assert(eq(int, gs_identity_load(&got, path), GS_ERR_KEY_PERM));
    cr_assert(eq(int, chmod(path, 0604), 0));
    cr_assert(eq(int, gs_identity_load(&got, path), GS_ERR_KEY_PERM));
    unlink(path);
    cr_assert(eq(int, gs_identity_load(&got, path), -ENOENT));

    bool created = false;
    cr_assert(eq(int, gs_identity_load_or_create(&got, path, &created), 0));
    cr_assert(created);
    gs_identity again;
    cr_assert(eq(int, gs_identity_load_or_create(&again, path, &created), 0));
    cr_assert(not(created));
    cr_assert(eq(int, memcmp(again.pk, got.pk, GS_ID_LEN), 0));
    unlink(path);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

Test(identity, malformed_key_files)
{
    gs_identity got;
    char path[128];
    const char *bad[] = {
        "",
        "# only a comment\n",
        "00000000000000000000000000000000000000000000000000000000000000\n",
        "000000000000000000000000000000000000000000000000000000000000000g\n",
        ("0000000000000000000000000000000000000000000000000000000000000000\n"
         "0000000000000000000000000000000000000000000000000000000000000000\n"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        tmp_path(path, sizeof(path), "bad");
        cr_assert(eq(int, write_file(path, bad[i]), 0));
        cr_assert(eq(int, gs_identity_load(&got, path), GS_ERR_KEY_FORMAT), "case %zu", i);
        unlink(path);
    }
    /* the seed 00 x 32 with comments, CRLF and blanks: gives key A */
    tmp_path(path, sizeof(path), "ok");
    cr_assert(eq(int,
                 write_file(path, "# comment\r\n\n  "
                                  "0000000000000000000000000000000000000000000000000000000000000000"
                                  "  \r\n# trailing\n"),
                 0));
    cr_assert(eq(int, gs_identity_load(&got, path), 0));
    char hex[GS_ID_HEX_LEN + 1];
    gs_id_to_hex(got.pk, hex);
    cr_assert(eq(str, hex, (char *)a_hex));
    unlink(path);
}

Test(identity, key_files_that_are_not_regular_files_each_get_their_own_error, .timeout = 10)
{
    gs_identity got;
    gs_identity a;
    char path[128];
    char target[128];

    /* a FIFO: refused at once (opening it for reading must not wait for a writer) */
    tmp_path(path, sizeof(path), "fifo");
    cr_assert(eq(int, mkfifo(path, 0600), 0));
    cr_assert(eq(int, gs_identity_load(&got, path), -ESPIPE));
    cr_assert(not(eq(ptr, strstr(gs_identity_strerror(-ESPIPE), "FIFO"), NULL)));
    bool created = true;
    cr_assert(eq(int, gs_identity_load_or_create(&got, path, &created), -ESPIPE));
    cr_assert(not(created));
    unlink(path);
    /* a directory */
    tmp_path(path, sizeof(path), "dir");
    cr_assert(eq(int, mkdir(path, 0700), 0));
    cr_assert(eq(int, gs_identity_load(&got, path), -EISDIR));
    cr_assert(not(eq(ptr, strstr(gs_identity_strerror(-EISDIR), "directory"), NULL)));
    rmdir(path);
    /* a device */
    cr_assert(eq(int, gs_identity_load(&got, "/dev/null"), -ENODEV));
    cr_assert(not(eq(ptr, strstr(gs_identity_strerror(-ENODEV), "device"), NULL)));
    /* a symbolic link to a good key file */
    cr_assert(eq(int, gs_identity_generate(&a), 0));
    tmp_path(target, sizeof(target), "target");
    cr_assert(eq(int, gs_identity_save(&a, target), 0));
    tmp_path(path, sizeof(path), "link");
    cr_assert(eq(int, symlink(target, path), 0));
    cr_assert(eq(int, gs_identity_load(&got, path), -ELOOP));
    cr_assert(not(eq(ptr, strstr(gs_identity_strerror(-ELOOP), "symbolic link"), NULL)));
    cr_assert(eq(int, gs_identity_load(&got, target), 0)); /* the file itself is fine */
    unlink(path);
    unlink(target);
    /* each message is distinct, and the permission one no longer covers the others */
    const int codes[] = {-ESPIPE, -EISDIR, -ENODEV, -ELOOP, GS_ERR_KEY_PERM, GS_ERR_KEY_FORMAT};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); ++i) {
        for (size_t j = i + 1; j < sizeof(codes) / sizeof(codes[0]); ++j) {
            cr_assert(not(eq(str, (char *)gs_identity_strerror(codes[i]),
                             (char *)gs_identity_strerror(codes[j]))));
        }
    }
    cr_assert(eq(str, (char *)gs_identity_strerror(-EIO), (char *)gs_strerror(-EIO)));
}
