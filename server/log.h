/* SPDX-License-Identifier: MIT */
/*
 * log.h: key=value log lines on stderr, one line per event (`lvl=warn shard=1 evt=... k=v`).
 * GS_LOG checks the level before formatting.  GS_LOG_RL also rate-limits its call site (at most
 * GS_LOG_RL_BURST lines per second; the next line printed says how many were suppressed), for
 * events a peer or a client can trigger.
 *
 * Threads: any; each line is written with one write(2), so lines do not interleave.
 */
#ifndef GS_SERVER_LOG_H
#define GS_SERVER_LOG_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

#define GS_LOG_RL_BURST 10

/* gs_log_level_set sets the process-wide level (before threads start). */
void gs_log_level_set(int level);

/* gs_log_enabled returns true if lines of |level| are printed. */
int gs_log_enabled(int level);

/* gs_log_write formats and writes one line (|fmt| holds the key=value pairs after lvl=). */
void gs_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* gs_log_rl_site: the state of one rate-limited call site. */
typedef struct gs_log_rl_site {
    _Atomic uint64_t window; /* second of the current window */
    _Atomic uint32_t count;  /* lines in the window */
    _Atomic uint64_t suppressed;
} gs_log_rl_site;

/* gs_log_rl_allow returns the number of suppressed lines + 1 if the site may print now, 0 if
 * not. */
uint64_t gs_log_rl_allow(gs_log_rl_site *site);

#define GS_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if (gs_log_enabled(level)) {                                                               \
            gs_log_write(level, __VA_ARGS__);                                                      \
        }                                                                                          \
    } while (0)

#define GS_LOG_RL(level, fmt, ...)                                                                 \
    do {                                                                                           \
        static gs_log_rl_site site_;                                                               \
        uint64_t allow_;                                                                           \
        if (gs_log_enabled(level) && (allow_ = gs_log_rl_allow(&site_)) != 0) {                    \
            gs_log_write(level, fmt " suppressed=%llu", __VA_ARGS__,                               \
                         (unsigned long long)(allow_ - 1));                                        \
        }                                                                                          \
    } while (0)

#endif /* GS_SERVER_LOG_H */
