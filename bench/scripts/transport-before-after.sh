#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/scripts/transport-before-after.sh BEFORE_BUILD AFTER_BUILD [REPS]: issue 11 acceptance 3
# in one run, alternating the two builds (docs/BENCHMARKS.md): one connection's goodput quiet and
# beside a busy process (--contend), handshakes per server core, bytes per half-open, idle and
# draining connection (bench_quic mem), page faults per handshake.  Each build needs
# bench/gossip-bench and bench/bench_quic built from the same bench sources.  Prints one labelled
# line per measurement (JSON from gossip-bench, text from bench_quic) with the load average.
set -u
BEFORE=$1
AFTER=$2
REPS=${3:-3}
for rep in $(seq 1 "$REPS"); do
    for b in "$BEFORE" "$AFTER"; do
        echo "rep $rep build $b load $(cut -d' ' -f1-3 /proc/loadavg) one"
        "$b/bench/gossip-bench" transport throughput --only one --contend --seconds 3 --json \
            2>/dev/null | tail -1
        echo "rep $rep build $b load $(cut -d' ' -f1-3 /proc/loadavg) hs"
        perf stat -x, -e page-faults -o /tmp/transport-ba-pf.$$ \
            "$b/bench/gossip-bench" transport throughput --only hs --seconds 3 --json \
            2>/dev/null | tail -1
        echo "page-faults $(cut -d, -f1 /tmp/transport-ba-pf.$$ | grep -E '^[0-9]+$')"
        echo "rep $rep build $b mem"
        "$b/bench/bench_quic" mem 1000
    done
done
rm -f /tmp/transport-ba-pf.$$
