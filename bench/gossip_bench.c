/* SPDX-License-Identifier: MIT */
/*
 * gossip_bench.c: `gossip-bench`, the benchmark driver.  This file holds main, the subcommand
 * dispatch and helpers shared by the transport benchmarks (transport.h).
 *
 *   gossip-bench transport server --listen ADDR:PORT --key FILE
 *   gossip-bench transport client --connect ID@ADDR:PORT --key FILE --topic HEX --frames N
 *                                 --size BYTES
 *   gossip-bench transport throughput [--connections N] [--seconds S] [--json]
 */
#include "transport.h"
#include "ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blake3.h"
#include "codec.h"

double gs_bench_now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gs_bench_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int gs_bench_unhex(const char *s, uint8_t *out, size_t len)
{
    if (strlen(s) != 2 * len) {
        return -1;
    }
    for (size_t i = 0; i < len; ++i) {
        int hi = hexval((unsigned char)s[2 * i]);
        int lo = hexval((unsigned char)s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

const char *gs_bench_msg_kind(int type)
{
    switch (type) {
    case GS_MSG_JOIN:
        return "Join";
    case GS_MSG_FORWARD_JOIN:
        return "ForwardJoin";
    case GS_MSG_SHUFFLE:
        return "Shuffle";
    case GS_MSG_SHUFFLE_REPLY:
        return "ShuffleReply";
    case GS_MSG_NEIGHBOR:
        return "Neighbor";
    case GS_MSG_DISCONNECT:
        return "Disconnect";
    case GS_MSG_GOSSIP:
        return "Gossip";
    case GS_MSG_PRUNE:
        return "Prune";
    case GS_MSG_GRAFT:
        return "Graft";
    case GS_MSG_IHAVE:
        return "IHave";
    default:
        return "Unknown";
    }
}

long gs_bench_gossip_frame(uint8_t *buf, size_t buflen, uint64_t seq, uint64_t salt, size_t size,
                           size_t max_message_size)
{
    uint8_t content[GS_MAX_MESSAGE_SIZE_DEFAULT * 16];
    uint64_t x = seq * 0x9e3779b97f4a7c15ULL ^ salt;
    gs_msg msg;

    if (size > sizeof(content) || size < 16) {
        return -1;
    }
    /* Unique: the sequence number and the run's salt lead; the rest is a cheap xorshift stream. */
    memcpy(content, &seq, 8);
    memcpy(content + 8, &salt, 8);
    for (size_t i = 16; i < size; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(content + i, &x, size - i < 8 ? size - i : 8);
    }
    memset(&msg, 0, sizeof(msg));
    msg.type = GS_MSG_GOSSIP;
    gs_blake3_hash(content, size, msg.gossip.id.b);
    msg.gossip.content.base = content;
    msg.gossip.content.len = size;
    msg.gossip.scope = GS_SCOPE_SWARM;
    msg.gossip.round = 0;
    return (long)gs_codec_encode_frame(buf, buflen, &msg, max_message_size);
}

double gs_bench_aes_gcm_gbps(void)
{
    /* Fixed command line, no user input: popen is fine here. */
    FILE *p = popen("openssl speed -bytes 1024 -seconds 2 -evp aes-128-gcm 2>/dev/null", "r");
    char line[512];
    double kbps = -1.0;

    if (p == NULL) {
        return -1.0;
    }
    /* The result line reads "AES-128-GCM   1234567.89k" (1000s of bytes per second). */
    while (fgets(line, sizeof(line), p) != NULL) {
        char name[64];
        double v;

        if (sscanf(line, "%63s %lfk", name, &v) == 2 && strncasecmp(name, "aes-128-gcm", 11) == 0) {
            kbps = v;
        }
    }
    if (pclose(p) != 0 || kbps < 0) {
        return -1.0;
    }
    return kbps * 1000.0 * 8.0 / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage:\n"
            "  gossip-bench transport server --listen ADDR:PORT --key FILE\n"
            "  gossip-bench transport client --connect ID@ADDR:PORT --key FILE --topic HEX\n"
            "                                --frames N --size BYTES\n"
            "  gossip-bench transport throughput [--connections N] [--seconds S] [--json]\n"
            "  gossip-bench swarm|relay|nats ... (load generators: gossip-bench MODE --help)\n");
}

int main(int argc, char **argv)
{
    /* the load generators (bench/ops.h): bounded runs that clean up their processes */
    if (argc >= 2 && (strcmp(argv[1], "swarm") == 0 || strcmp(argv[1], "relay") == 0 ||
                      strcmp(argv[1], "nats") == 0)) {
        gs_ops_install_signals();
        if (argc < 3 || (strcmp(argv[2], "--help") != 0 && strcmp(argv[2], "-h") != 0)) {
            (void)gs_ops_netns(argc, argv);
        }
        if (strcmp(argv[1], "swarm") == 0) {
            return gs_bench_swarm(argc - 2, argv + 2);
        }
        if (strcmp(argv[1], "relay") == 0) {
            return gs_bench_relay(argc - 2, argv + 2);
        }
        return gs_bench_nats(argc - 2, argv + 2);
    }
    if (argc >= 3 && strcmp(argv[1], "transport") == 0) {
        if (strcmp(argv[2], "server") == 0) {
            return gs_bench_transport_server(argc - 3, argv + 3);
        }
        if (strcmp(argv[2], "client") == 0) {
            return gs_bench_transport_client(argc - 3, argv + 3);
        }
        if (strcmp(argv[2], "throughput") == 0) {
            return gs_bench_transport_throughput(argc - 3, argv + 3);
        }
    }
    usage();
    return 2;
}
