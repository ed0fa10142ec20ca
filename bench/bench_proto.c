/* SPDX-License-Identifier: MIT */
/*
 * bench_proto: how many Gossip messages per second one node's protocol state machine handles.
 *
 * Setup: one node, one topic, 30 neighbours of which 5 are eager and 25 lazy (active view
 * capacity raised to 30 for the purpose).  Frames arrive from one eager neighbour, as they would
 * from the network: unique payloads, each a valid Gossip body (id = BLAKE3(content), round 1).
 * Per message the timed loop runs gs_node_on_frame (decode + BLAKE3 check + de-duplication +
 * forward decisions), drains the outbox and encodes every outgoing frame into a send buffer
 * (the 4 eager forwards, and the IHave chunks for the 25 lazy peers whenever a chunk fills or the
 * 5 ms dispatch timer fires), and runs the timers when due.  Virtual time advances 1 us per
 * message.  Frame generation (the senders' BLAKE3 and encoding) happens in batches outside the
 * timed sections.
 *
 * Input paths, both measured for every payload size: "single" hands the frames over one at a time
 * (gs_node_on_frame, outbox drained after each); "batch" hands them over a turn at a time
 * (gs_node_on_frames with --turn frames, default 64, the outbox drained after the turn), which
 * verifies the turn's Gossip ids in one batched BLAKE3 pass.  Virtual time advances 1 us per
 * message on both.
 *
 * Encoding modes: by default a SEND flagged GS_NODE_OUT_FLAG_SAME_MSG reuses the previous
 * encoding (what the server does: one encoding per distinct message); --encode-all encodes every
 * SEND separately.
 *
 * Usage: bench_proto [--messages N] [--only PAYLOAD] [--encode-all] [--turn N] [--path P]
 * (--path single|batch|both, default both).  Prints a table and, last, one JSON line.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blake3.h"
#include "codec.h"
#include "node.h"

#define BATCH  4096
#define NEAGER 5
#define NLAZY  25
#define NPEERS (NEAGER + NLAZY)

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static gs_key peer_key(unsigned i)
{
    gs_key k;

    memset(&k, 0, sizeof(k));
    k.b[0] = (uint8_t)(i + 1);
    k.b[31] = 0x33;
    return k;
}

typedef struct result {
    size_t size;
    size_t turn; /* frames per gs_node_on_frames call, 0 for the single path */
    uint64_t messages;
    double seconds;     /* wall time of the timed sections */
    double cpu_seconds; /* this thread's CPU time in them (robust on a shared machine) */
    uint64_t sends;
    uint64_t encodes;
    uint64_t out_bytes;
    uint64_t events;
} result;

static int setup_node(gs_node **pnode, const gs_topic_id *topic)
{
    gs_node_cfg cfg;
    gs_key self;
    gs_node_out o;
    int rv;

    gs_node_cfg_default(&cfg);
    cfg.active_view_capacity = NPEERS;
    memset(&self, 0xee, sizeof(self));
    rv = gs_node_new(pnode, &cfg, &self, 1, gs_mem_default());
    if (rv != 0) {
        return rv;
    }
    rv = gs_node_join(*pnode, topic, NULL, 0, 0);
    if (rv != 0) {
        return rv;
    }
    gs_msg nb;
    memset(&nb, 0, sizeof(nb));
    nb.type = GS_MSG_NEIGHBOR;
    nb.neighbor.priority = GS_PRIORITY_HIGH;
    gs_msg prune;
    memset(&prune, 0, sizeof(prune));
    prune.type = GS_MSG_PRUNE;
    for (unsigned i = 0; i < NPEERS; ++i) {
        gs_key k = peer_key(i);
        (void)gs_node_on_message(*pnode, &k, topic, &nb, 0);
        if (i >= NEAGER) {
            (void)gs_node_on_message(*pnode, &k, topic, &prune, 0);
        }
    }
    while (gs_node_next_out(*pnode, &o)) {
    }
    gs_key out[NPEERS];
    if (gs_node_eager_peers(*pnode, topic, out, NPEERS) != NEAGER ||
        gs_node_lazy_peers(*pnode, topic, out, NPEERS) != NLAZY) {
        return GS_ERR_INTERNAL;
    }
    return 0;
}

/* make_batch encodes |n| Gossip bodies with unique payloads of |size| bytes into |buf|. */
static void make_batch(uint8_t *buf, size_t stride, size_t *lens, size_t n, size_t size,
                       uint64_t *pseq, uint8_t *content)
{
    for (size_t i = 0; i < n; ++i) {
        uint64_t seq = (*pseq)++;
        memset(content, (int)(seq & 0xff), size);
        memcpy(content, &seq, size < sizeof(seq) ? size : sizeof(seq));
        gs_msg g;
        memset(&g, 0, sizeof(g));
        g.type = GS_MSG_GOSSIP;
        gs_blake3_hash(content, size, g.gossip.id.b);
        g.gossip.content.base = content;
        g.gossip.content.len = size;
        g.gossip.scope = GS_SCOPE_SWARM;
        g.gossip.round = 1;
        gs_ssize len = gs_codec_encode_body(buf + i * stride, stride, &g);
        if (len < 0) {
            fprintf(stderr, "encode failed: %s\n", gs_strerror((int)len));
            exit(1);
        }
        lens[i] = (size_t)len;
    }
}

/* drain_out empties the outbox, encoding SENDs into |sendbuf| as the server would. */
static int drain_out(gs_node *node, bool encode_all, uint8_t *sendbuf, gs_ssize *plast, result *res)
{
    gs_node_out o;

    while (gs_node_next_out(node, &o)) {
        if (o.type != GS_NODE_OUT_SEND) {
            ++res->events;
            continue;
        }
        ++res->sends;
        if (encode_all || !(o.flags & GS_NODE_OUT_FLAG_SAME_MSG)) {
            *plast = gs_codec_encode_frame(sendbuf, GS_MAX_MESSAGE_SIZE_DEFAULT + 8, &o.msg,
                                           GS_MAX_MESSAGE_SIZE_DEFAULT);
            if (*plast < 0) {
                fprintf(stderr, "encode: %s\n", gs_strerror((int)*plast));
                return (int)*plast;
            }
            ++res->encodes;
        }
        res->out_bytes += (uint64_t)*plast;
    }
    return 0;
}

static int run_size(size_t size, uint64_t total, bool encode_all, size_t turn, result *res)
{
    gs_node_frame tf[BATCH];
    gs_topic_id topic;
    gs_node *node = NULL;
    size_t stride = size + 64;
    uint8_t *frames = malloc(BATCH * stride);
    size_t *lens = malloc(BATCH * sizeof(size_t));
    uint8_t *content = malloc(size + 8);
    uint8_t *sendbuf = malloc(GS_MAX_MESSAGE_SIZE_DEFAULT + 8);
    gs_key from = peer_key(0);
    uint64_t seq = (uint64_t)size << 40;
    gs_tstamp now = 1;
    int rv;

    memset(&topic, 0x77, sizeof(topic));
    memset(res, 0, sizeof(*res));
    res->size = size;
    res->turn = turn;
    if (frames == NULL || lens == NULL || content == NULL || sendbuf == NULL) {
        rv = GS_ERR_NOMEM;
        goto out;
    }
    rv = setup_node(&node, &topic);
    if (rv != 0) {
        goto out;
    }
    gs_ssize last_len = 0;
    while (res->messages < total) {
        size_t n = total - res->messages < BATCH ? (size_t)(total - res->messages) : BATCH;
        make_batch(frames, stride, lens, n, size, &seq, content);
        double t0 = clock_s(CLOCK_MONOTONIC);
        double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        for (size_t i = 0; i < n && turn == 0; ++i) {
            rv = gs_node_on_frame(node, &from, &topic, frames + i * stride, lens[i], now);
            if (rv != 0) {
                fprintf(stderr, "on_frame: %s\n", gs_strerror(rv));
                goto out;
            }
            now += GS_MICROSECONDS;
            if (gs_node_get_expiry(node) <= now) {
                gs_node_handle_expiry(node, now);
            }
            rv = drain_out(node, encode_all, sendbuf, &last_len, res);
            if (rv != 0) {
                goto out;
            }
        }
        for (size_t i = 0; i < n && turn > 0; i += turn) {
            size_t k = n - i < turn ? n - i : turn;
            for (size_t j = 0; j < k; ++j) {
                tf[j].from = &from;
                tf[j].topic = &topic;
                tf[j].body = frames + (i + j) * stride;
                tf[j].len = lens[i + j];
            }
            gs_node_on_frames(node, tf, k, now);
            for (size_t j = 0; j < k; ++j) {
                if (tf[j].rv != 0) {
                    fprintf(stderr, "on_frames: %s\n", gs_strerror(tf[j].rv));
                    rv = tf[j].rv;
                    goto out;
                }
            }
            now += (gs_duration)k * GS_MICROSECONDS;
            if (gs_node_get_expiry(node) <= now) {
                gs_node_handle_expiry(node, now);
            }
            rv = drain_out(node, encode_all, sendbuf, &last_len, res);
            if (rv != 0) {
                goto out;
            }
        }
        res->seconds += clock_s(CLOCK_MONOTONIC) - t0;
        res->cpu_seconds += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        res->messages += n;
    }
    const gs_node_counters *c = gs_node_counters_get(node);
    if (c->msgs_data_recv != total || c->duplicates != 0 || c->bad_id != 0) {
        fprintf(stderr, "unexpected counters: recv %llu dup %llu bad %llu\n",
                (unsigned long long)c->msgs_data_recv, (unsigned long long)c->duplicates,
                (unsigned long long)c->bad_id);
        rv = GS_ERR_INTERNAL;
    }
out:
    gs_node_del(node);
    free(frames);
    free(lens);
    free(content);
    free(sendbuf);
    return rv;
}

int main(int argc, char **argv)
{
    uint64_t total = 1000000;
    bool encode_all = false;
    size_t sizes[] = {64, 1024, 4096 - 40};
    size_t nsizes = 3;
    size_t turn = 64;
    int paths = 3; /* bit 0: single, bit 1: batch */
    result res[6];
    size_t nres = 0;

    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc) {
            total = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            sizes[0] = (size_t)strtoull(argv[++i], NULL, 10);
            nsizes = 1;
            if (sizes[0] > 4096 - 40) {
                fprintf(stderr, "--only: payload at most 4056 bytes\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--encode-all") == 0) {
            encode_all = true;
        } else if (strcmp(argv[i], "--turn") == 0 && i + 1 < argc) {
            turn = (size_t)strtoull(argv[++i], NULL, 10);
            if (turn == 0 || turn > BATCH) {
                fprintf(stderr, "--turn: 1 .. %d frames\n", BATCH);
                return 2;
            }
        } else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc) {
            ++i;
            paths = strcmp(argv[i], "single") == 0  ? 1
                    : strcmp(argv[i], "batch") == 0 ? 2
                    : strcmp(argv[i], "both") == 0  ? 3
                                                    : 0;
            if (paths == 0) {
                fprintf(stderr, "--path: single, batch or both\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [--messages N] [--only PAYLOAD] [--encode-all] [--turn N] "
                    "[--path single|batch|both]\n",
                    argv[0]);
            return 2;
        }
    }
    printf("bench_proto: %u eager + %u lazy neighbours, %llu messages per size, encode %s\n",
           NEAGER, NLAZY, (unsigned long long)total,
           encode_all ? "every SEND" : "once per distinct message");
    printf("%8s %6s %10s %9s %12s %12s %10s %10s %10s\n", "payload", "path", "messages", "wall s",
           "msgs/s", "msgs/cpu-s", "cpu ns/msg", "MB/s in", "sends/msg");
    for (size_t k = 0; k < nsizes; ++k) {
        for (int p = 0; p < 2; ++p) {
            if (!(paths & (1 << p))) {
                continue;
            }
            result *r = &res[nres++];
            int rv = run_size(sizes[k], total, encode_all, p == 0 ? 0 : turn, r);
            if (rv != 0) {
                fprintf(stderr, "size %zu failed: %s\n", sizes[k], gs_strerror(rv));
                return 1;
            }
            double rate = (double)r->messages / r->seconds;
            double crate = (double)r->messages / r->cpu_seconds;
            printf("%8zu %6s %10llu %9.3f %12.0f %12.0f %10.1f %10.1f %10.2f\n", r->size,
                   r->turn == 0 ? "single" : "batch", (unsigned long long)r->messages, r->seconds,
                   rate, crate, 1e9 / crate, crate * (double)r->size / 1e6,
                   (double)r->sends / (double)r->messages);
        }
    }
    printf("{\"bench\":\"bench_proto\",\"eager\":%u,\"lazy\":%u,\"encode_all\":%s,"
           "\"blake3_single_impl\":%d,\"results\":[",
           NEAGER, NLAZY, encode_all ? "true" : "false", gs_blake3_single_impl());
    for (size_t k = 0; k < nres; ++k) {
        const result *r = &res[k];
        printf("%s{\"payload\":%zu,\"path\":\"%s\",\"turn\":%zu,\"messages\":%llu,"
               "\"seconds\":%.6f,\"cpu_seconds\":%.6f,"
               "\"msgs_per_s\":%.0f,\"msgs_per_cpu_s\":%.0f,"
               "\"sends\":%llu,\"encodes\":%llu,\"out_bytes\":%llu}",
               k == 0 ? "" : ",", r->size, r->turn == 0 ? "single" : "batch", r->turn,
               (unsigned long long)r->messages, r->seconds, r->cpu_seconds,
               (double)r->messages / r->seconds, (double)r->messages / r->cpu_seconds,
               (unsigned long long)r->sends, (unsigned long long)r->encodes,
               (unsigned long long)r->out_bytes);
    }
    printf("]}\n");
    return 0;
}
