/* SPDX-License-Identifier: MIT */
/*
 * fuzz_codec.c: libFuzzer target over the frame decoder.
 *
 * Each input is treated as a frame (u32 prefix + body: prefix check at several limits, then the
 * body decoded as a message and as a stream header) and also as a bare body and as PeerData.
 * Whatever decodes is re-encoded canonically; the re-encoding must decode to an equal value and
 * re-encode to identical bytes, and every PeerData that parses as AddrInfo must round-trip the
 * same way.  Any mismatch aborts (a finding).
 *
 * Built with -DGS_FUZZ=ON this is a libFuzzer binary; otherwise GS_FUZZ_REPLAY adds a main()
 * that runs every file of the given directories through the same checks (corpus replay).
 */
#define _POSIX_C_SOURCE 200809L /* opendir/readdir for the replay main */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "msg_eq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_codec: invariant broken: %s\n", what);
        abort();
    }
}

/* fz_addrinfo decodes PeerData; what decodes must round-trip canonically. */
static void fz_addrinfo(const uint8_t *p, size_t n)
{
    gs_addrinfo ai;
    gs_addrinfo ai2;
    uint8_t e1[1024];
    uint8_t e2[1024];
    size_t dropped = 0;

    if (gs_addrinfo_decode(&ai, p, n, &dropped) != 0) {
        return;
    }
    fz_check(ai.naddrs <= GS_ADDRINFO_MAX_ADDRS, "addrinfo bound");
    for (size_t i = 1; i < ai.naddrs; ++i) {
        fz_check(gs_sockaddr_cmp(&ai.addrs[i - 1], &ai.addrs[i]) < 0, "addrinfo sorted");
    }
    gs_ssize n1 = gs_addrinfo_encode(e1, sizeof(e1), &ai);
    fz_check(n1 > 0, "addrinfo re-encodes");
    fz_check(gs_addrinfo_decode(&ai2, e1, (size_t)n1, NULL) == 0, "addrinfo re-decodes");
    gs_ssize n2 = gs_addrinfo_encode(e2, sizeof(e2), &ai2);
    fz_check(n2 == n1 && memcmp(e1, e2, (size_t)n1) == 0, "addrinfo re-encode is stable");
}

static void fz_peer_datas(const gs_msg *m)
{
    gs_list_iter it;
    gs_peer_info pi;
    const gs_peer_list *l = NULL;

    switch (m->type) {
    case GS_MSG_JOIN:
        if (m->join.has_data) {
            fz_addrinfo(m->join.data.base, m->join.data.len);
        }
        break;
    case GS_MSG_NEIGHBOR:
        if (m->neighbor.has_data) {
            fz_addrinfo(m->neighbor.data.base, m->neighbor.data.len);
        }
        break;
    case GS_MSG_FORWARD_JOIN:
        if (m->forward_join.peer.has_data) {
            fz_addrinfo(m->forward_join.peer.data.base, m->forward_join.peer.data.len);
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
        while (gs_peer_list_next(&it, &pi)) {
            fz_check(gs_ed25519_key_is_valid(pi.id.b), "decoded list key is valid");
            if (pi.has_data) {
                fz_addrinfo(pi.data.base, pi.data.len);
            }
        }
    }
}

/* fz_body decodes |body| as a message; what decodes must round-trip canonically. */
static void fz_body(const uint8_t *body, size_t len)
{
    gs_msg m;
    gs_msg m2;
    size_t trailing = 0;

    if (gs_codec_decode(&m, body, len, &trailing) != 0) {
        return;
    }
    fz_check(trailing <= len, "trailing within the body");
    size_t blen = gs_codec_body_len(&m);
    fz_check(blen > 0 && blen <= len - trailing, "canonical body is no longer than the input");
    uint8_t *e1 = malloc(blen);
    uint8_t *e2 = malloc(blen);
    fz_check(e1 != NULL && e2 != NULL, "malloc");
    fz_check(gs_codec_encode_body(e1, blen, &m) == (gs_ssize)blen, "re-encode");
    fz_check(gs_codec_decode(&m2, e1, blen, &trailing) == 0, "re-decode");
    fz_check(trailing == 0, "canonical encoding has no trailing bytes");
    fz_check(gs_test_msg_eq(&m, &m2), "re-decoded value equals the decoded value");
    fz_check(gs_codec_encode_body(e2, blen, &m2) == (gs_ssize)blen, "second re-encode");
    fz_check(memcmp(e1, e2, blen) == 0, "re-encoding is stable");
    if (blen > 1) {
        fz_check(gs_codec_encode_body(e2, blen - 1, &m2) == GS_ERR_NOBUF, "NOBUF when short");
    }
    fz_peer_datas(&m);
    free(e1);
    free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {GS_MAX_MESSAGE_SIZE_MIN, GS_MAX_MESSAGE_SIZE_DEFAULT,
                                    (size_t)1 << 20};
    if (size >= GS_FRAME_PREFIX_LEN) {
        uint32_t bodylen = 0;
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); ++i) {
            int rv = gs_codec_check_prefix(data, limits[i], &bodylen);
            fz_check(rv == 0 ? bodylen <= limits[i] : rv == GS_ERR_FRAME_TOO_LARGE, "prefix rule");
        }
        if (bodylen <= size - GS_FRAME_PREFIX_LEN) {
            /* exact-size copy so ASan sees any read past the body */
            uint8_t *body = malloc(bodylen > 0 ? bodylen : 1);
            fz_check(body != NULL, "malloc");
            memcpy(body, data + GS_FRAME_PREFIX_LEN, bodylen);
            fz_body(body, bodylen);
            gs_topic_id topic;
            int rv = gs_codec_decode_header(&topic, body, bodylen);
            fz_check(rv == (bodylen >= 32 ? 0 : GS_ERR_BAD_HEADER), "header rule");
            if (rv == 0) {
                uint8_t frame[36];
                fz_check(gs_codec_encode_header_frame(frame, sizeof(frame), &topic) == 36,
                         "header re-encode");
                fz_check(memcmp(frame + 4, body, 32) == 0, "header round-trip");
            }
            free(body);
        }
    }
    fz_body(data, size);
    fz_addrinfo(data, size);
    return 0;
}

#ifdef GS_FUZZ_REPLAY
#    include <dirent.h>

/* Replay: run every regular file of the directories given through the target. */
int main(int argc, char **argv)
{
    size_t nfiles = 0;
    for (int i = 1; i < argc; ++i) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            fprintf(stderr, "fuzz_codec_replay: cannot open %s\n", argv[i]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            FILE *f = fopen(path, "rb");
            if (f == NULL) {
                continue;
            }
            static uint8_t buf[1 << 20];
            size_t n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            uint8_t *copy = malloc(n > 0 ? n : 1);
            if (copy == NULL) {
                closedir(d);
                return 1;
            }
            memcpy(copy, buf, n);
            LLVMFuzzerTestOneInput(copy, n);
            free(copy);
            ++nfiles;
        }
        closedir(d);
    }
    printf("fuzz_codec_replay: %zu inputs, no invariant broken\n", nfiles);
    return nfiles > 0 ? 0 : 1;
}
#endif
