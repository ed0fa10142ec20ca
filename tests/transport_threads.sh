#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# transport_threads: run every phase of the threaded transport benchmark briefly (UDP limits,
# one connection, 4 connections, handshakes) and check it completed with "ok":true.  In the TSan
# build any data race makes the process exit non-zero.
set -euo pipefail
bench=${1:?usage: transport_threads.sh gossip-bench}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" transport throughput --seconds 1 --connections 4 --json >"$out"
last=$(tail -n 1 "$out")
echo "$last"
case "$last" in
*'"ok":true'*) ;;
*) echo "transport_threads: FAIL: benchmark did not report ok" >&2; exit 1 ;;
esac
for key in goodput_gbps handshakes_per_s udp_gso_limit_pps; do
    v=$(echo "$last" | sed -nE "s/.*\"$key\":([0-9.]+).*/\1/p")
    if [ -z "$v" ] || [ "$(awk "BEGIN{print ($v > 0)}")" != 1 ]; then
        echo "transport_threads: FAIL: $key is '$v'" >&2
        exit 1
    fi
done
echo "transport_threads: OK"
