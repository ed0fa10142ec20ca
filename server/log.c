/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int log_level = GS_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void gs_log_level_set(int level)
{
    log_level = level;
}

int gs_log_enabled(int level)
{
    return level <= log_level;
}

void gs_log_write(int level, const char *fmt, ...)
{
    char buf[1024];
    struct timespec ts;
    va_list ap;
    int n;
    int m;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(buf, sizeof(buf), "ts=%lld.%03ld lvl=%s ", (long long)ts.tv_sec,
                 ts.tv_nsec / 1000000,
                 names[level < 0   ? 0
                       : level > 3 ? 3
                                   : level]);
    if (n < 0) {
        return;
    }
    va_start(ap, fmt);
    m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    n += m;
    if (n > (int)sizeof(buf) - 2) {
        n = (int)sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    (void)!write(STDERR_FILENO, buf, (size_t)n);
}

uint64_t gs_log_rl_allow(gs_log_rl_site *site)
{
    struct timespec ts;
    uint64_t sec;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    sec = (uint64_t)ts.tv_sec;
    if (atomic_exchange(&site->window, sec) != sec) {
        atomic_store(&site->count, 0);
    }
    if (atomic_fetch_add(&site->count, 1) >= GS_LOG_RL_BURST) {
        atomic_fetch_add(&site->suppressed, 1);
        return 0;
    }
    return atomic_exchange(&site->suppressed, 0) + 1;
}
