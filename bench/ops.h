/* SPDX-License-Identifier: MIT */
/*
 * ops.h: shared pieces of the load-generator modes of gossip-bench (docs/BENCHMARKS.md):
 * `swarm` (bench/swarm.c), `relay` (bench/relay.c), `nats` (bench/nats.c): child processes,
 * line-buffered non-blocking sockets, a log-scale latency histogram, /proc readers, the result
 * table / JSON line and gnuplot pictures.
 */
#ifndef GS_BENCH_OPS_H
#define GS_BENCH_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Subcommands (argc/argv start after the mode's name).  Each returns the process exit code. */
int gs_bench_swarm(int argc, char **argv);
int gs_bench_relay(int argc, char **argv);
int gs_bench_nats(int argc, char **argv);

/* gs_bench_default_gossipd: ../server/gossipd or ./gossipd next to this executable (a build tree
 * or an install prefix's bin/), else "gossipd" from PATH. */
const char *gs_bench_default_gossipd(void);

/* gs_ops_now_ns: CLOCK_MONOTONIC nanoseconds (the same clock in every process of the host). */
uint64_t gs_ops_now_ns(void);

/* gs_ops_netns re-executes the program inside `unshare -rn` (a private loopback-only network
 * namespace) once, unless GS_BENCH_NO_NETNS is set or it is not possible; returns only when it
 * did not re-execute (false) or when already inside (true). */
bool gs_ops_netns(int argc, char **argv);

/* ---- child processes ---- */

#define GS_OPS_MAX_CHILDREN 256

/* gs_ops_spawn starts |argv| with stdout on a pipe (returned in |*out_fd|, -1 for none) and
 * stderr to |errlog| (a path, NULL = inherit).  The child is killed when the bench exits, even
 * on a signal.  Returns the pid or -1. */
pid_t gs_ops_spawn(const char *const argv[], int *out_fd, const char *errlog);

/* gs_ops_read_line reads one line from |fd| into |buf| within |timeout_ms| (no newline kept).
 * Returns its length or -1. */
int gs_ops_read_line(int fd, char *buf, size_t cap, int timeout_ms);

/* gs_ops_stop_all sends SIGTERM to every child, waits up to 3 s, then SIGKILLs the rest. */
void gs_ops_stop_all(void);

/* gs_ops_install_signals: SIGINT/SIGTERM stop every child and exit 130; SIGPIPE ignored. */
void gs_ops_install_signals(void);

/* gs_ops_proc_cpu_s: user+system CPU seconds of |pid| (and its threads), or -1. */
double gs_ops_proc_cpu_s(pid_t pid);

/* gs_ops_proc_hwm_kb: peak RSS (VmHWM) of |pid| in KiB, or 0; gs_ops_proc_rss_kb: current. */
uint64_t gs_ops_proc_hwm_kb(pid_t pid);
uint64_t gs_ops_proc_rss_kb(pid_t pid);

/* ---- connections ---- */

/* gs_ops_conn: a non-blocking stream socket with an input line buffer and an output queue. */
typedef struct gs_ops_conn {
    int fd;
    char *in;
    size_t inlen, incap;
    char *out;
    size_t outoff, outlen, outcap;
    bool eof;
} gs_ops_conn;

/* gs_ops_conn_unix / _tcp connect (blocking connect, then non-blocking).  Return 0 or -1. */
int gs_ops_conn_unix(gs_ops_conn *c, const char *path);
int gs_ops_conn_tcp(gs_ops_conn *c, const char *host, unsigned port);
void gs_ops_conn_close(gs_ops_conn *c);

/* gs_ops_conn_queue appends |len| bytes to the output queue (grows); gs_ops_conn_flush writes
 * what the socket takes.  Return 0 or -1 (connection failed). */
int gs_ops_conn_queue(gs_ops_conn *c, const void *data, size_t len);
int gs_ops_conn_flush(gs_ops_conn *c);

/* gs_ops_conn_fill reads what is available (up to a bound).  Returns bytes read, 0 (none or
 * EOF: see c->eof) or -1. */
long gs_ops_conn_fill(gs_ops_conn *c);

/* gs_ops_conn_consume drops the first |n| bytes of the input buffer. */
void gs_ops_conn_consume(gs_ops_conn *c, size_t n);

/* gs_ops_conn_request sends |line| (a JSON request with its "\n") and waits up to |timeout_ms|
 * for a reply line containing "\"ok\":" (event lines before it are dropped).  Copies the reply
 * into |reply|.  Returns 0 if it contains "\"ok\":true", 1 if "\"ok\":false", -1 on timeout. */
int gs_ops_conn_request(gs_ops_conn *c, const char *line, char *reply, size_t cap, int timeout_ms);

/* ---- latency histogram ---- */

#define GS_OPS_HIST_BUCKETS 1200

/* gs_ops_hist: log-scale histogram of latencies (2 % wide buckets from 100 ns to ~2000 s). */
typedef struct gs_ops_hist {
    uint64_t n;
    uint64_t b[GS_OPS_HIST_BUCKETS];
    uint64_t max_ns;
    double sum_ns;
} gs_ops_hist;

void gs_ops_hist_add(gs_ops_hist *h, uint64_t ns);
/* gs_ops_hist_pct: the |p|-th percentile (0..100) in milliseconds (0 when empty). */
double gs_ops_hist_pct(const gs_ops_hist *h, double p);
/* gs_ops_hist_merge adds |src| into |dst|. */
void gs_ops_hist_merge(gs_ops_hist *dst, const gs_ops_hist *src);
/* gs_ops_hist_cdf writes "latency_ms fraction" lines (a CDF) to |path|.  Returns 0 or -1. */
int gs_ops_hist_cdf(const gs_ops_hist *h, const char *path);

/* ---- results ---- */

/* gs_ops_result: one measured run of a load shape. */
typedef struct gs_ops_result {
    double offered;  /* messages/s asked */
    double achieved; /* messages/s the generator managed to publish */
    uint64_t published;
    uint64_t publish_errors;
    uint64_t deliveries;
    uint64_t expected;
    uint64_t duplicates;
    double seconds; /* first publish to last delivery */
    double deliveries_per_s;
    double cpu_s; /* the measured server processes (all nodes, the relay, nats-server) */
    double cpu_us_per_delivery;
    double gen_cpu_s; /* the generator itself */
    gs_ops_hist lat;
} gs_ops_result;

/* gs_ops_result_header / _row print the human table; gs_ops_result_json one JSON object. */
void gs_ops_result_header(FILE *f);
void gs_ops_result_row(FILE *f, const char *impl, const gs_ops_result *r);
void gs_ops_result_json(FILE *f, const gs_ops_result *r);

/* ---- base64 ---- */

/* gs_ops_b64_encode: |len| bytes to base64 (with padding) at |out|, NUL-terminated. */
void gs_ops_b64_encode(const uint8_t *in, size_t len, char *out);
/* gs_ops_b64_decode_prefix decodes the first |n| bytes encoded at |in| (at least 4*ceil(n/3)
 * valid base64 chars).  Returns 0 or -1. */
int gs_ops_b64_decode_prefix(const char *in, size_t inlen, uint8_t *out, size_t n);

/* ---- reporting ---- */

/* gs_ops_plot runs gnuplot to draw |dir|/|name|.png from |script| (the data files are in |dir|).
 * Returns 0, or -1 when gnuplot is missing or fails (reported on stderr, never fatal). */
int gs_ops_plot(const char *dir, const char *name, const char *script);

/* gs_ops_loadavg: the 1-minute load average (or -1). */
double gs_ops_loadavg(void);

/* gs_ops_mkdir_p creates |dir| and its parents.  Returns 0 or -1. */
int gs_ops_mkdir_p(const char *dir);

#endif /* GS_BENCH_OPS_H */
