/* SPDX-License-Identifier: MIT */
/*
 * transport.h: the pieces of `gossip-bench transport` shared between its source files
 * (bench/gossip_bench.c, bench/transport_cli.c, bench/transport_tput.c, bench/udp_limit.c).
 */
#ifndef GS_BENCH_TRANSPORT_H
#define GS_BENCH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* gs_bench_udp_result: one raw loopback UDP measurement. */
typedef struct gs_bench_udp_result {
    double pps;     /* datagrams per second received */
    double gbps;    /* payload Gbit/s received */
    uint64_t sent;  /* datagrams the sender handed to the kernel */
    uint64_t recvd; /* datagrams the receiver counted */
} gs_bench_udp_result;

/*
 * gs_bench_udp_limit measures loopback UDP with |size|-byte datagrams for |seconds|: a sender
 * thread (sendmmsg batches of 64, or with |gso| one sendmsg of 64 segments) and a receiver thread
 * (recvmmsg; with |gso| a GRO socket whose batches are counted per segment).  Returns 0 or a
 * negated errno.
 */
int gs_bench_udp_limit(bool gso, size_t size, double seconds, gs_bench_udp_result *res);

/* gs_bench_aes_gcm_gbps runs `openssl speed -bytes 1024 -seconds 2 -evp aes-128-gcm` and returns
 * the AES-128-GCM rate in Gbit/s, or a negative value if it cannot be run or parsed. */
double gs_bench_aes_gcm_gbps(void);

/* Subcommands: argc/argv start after "transport <sub>".  Each returns the process exit code. */
int gs_bench_transport_server(int argc, char **argv);
int gs_bench_transport_client(int argc, char **argv);
int gs_bench_transport_throughput(int argc, char **argv);

/* gs_bench_now_s returns CLOCK_MONOTONIC seconds. */
double gs_bench_now_s(void);

/* gs_bench_hex writes |len| bytes as lowercase hex plus NUL to |out| (2 * len + 1 bytes). */
void gs_bench_hex(const uint8_t *in, size_t len, char *out);

/* gs_bench_unhex parses exactly |len| bytes of hex from |s|.  Returns 0 or -1. */
int gs_bench_unhex(const char *s, uint8_t *out, size_t len);

/* gs_bench_msg_kind names a gs_msg_type ("Gossip", "Prune", ...). */
const char *gs_bench_msg_kind(int type);

/* gs_bench_gossip_frame encodes a Gossip frame (scope Swarm, round 0) whose |size|-byte content
 * is unique for |seq| (counter + |salt| + filler) into |buf|.  Returns the frame length or < 0. */
long gs_bench_gossip_frame(uint8_t *buf, size_t buflen, uint64_t seq, uint64_t salt, size_t size,
                           size_t max_message_size);

#endif /* GS_BENCH_TRANSPORT_H */
