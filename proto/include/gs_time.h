/* SPDX-License-Identifier: MIT */
/*
 * gs_time.h: timestamps.  A gs_tstamp is monotonic nanoseconds from an arbitrary origin (ngtcp2
 * uses the same unit).  proto never reads a clock: every entry point takes |now|.
 */
#ifndef GS_PROTO_GS_TIME_H
#define GS_PROTO_GS_TIME_H

#include <stdint.h>

typedef uint64_t gs_tstamp;
typedef uint64_t gs_duration;

#define GS_TSTAMP_NEVER UINT64_MAX
#define GS_NANOSECONDS  ((gs_duration)1ULL)
#define GS_MICROSECONDS ((gs_duration)1000ULL)
#define GS_MILLISECONDS ((gs_duration)1000000ULL)
#define GS_SECONDS      ((gs_duration)1000000000ULL)

/* gs_tstamp_add returns |t| + |d|, saturating at GS_TSTAMP_NEVER. */
static inline gs_tstamp gs_tstamp_add(gs_tstamp t, gs_duration d)
{
    return t > GS_TSTAMP_NEVER - d ? GS_TSTAMP_NEVER : t + d;
}

#endif /* GS_PROTO_GS_TIME_H */
