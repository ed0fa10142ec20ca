#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# transport_stats: `gossip-bench transport server` prints its counters as one JSON line
# ({"event":"stats",...}) on SIGUSR1 and at exit.  A client connects and sends frames in between;
# the lines must show them (handshakes_ok, frames_in), and the server must keep serving after
# SIGUSR1.
set -euo pipefail
bench=${1:?usage: transport_stats.sh gossip-bench}
dir=$(mktemp -d)
srv_pid=
cleanup() {
    if [ -n "$srv_pid" ]; then kill "$srv_pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "transport_stats: FAIL: $*" >&2; cat "$dir/out" >&2 || true; exit 1; }

"$bench" transport server --listen 127.0.0.1:0 --key "$dir/server.key" >"$dir/out" 2>"$dir/err" &
srv_pid=$!
for _ in $(seq 100); do
    grep -q '^ready ' "$dir/out" && break
    sleep 0.1
done
read -r _ id addr < <(grep '^ready ' "$dir/out") || fail "no ready line"

# counters on request, while running
kill -USR1 "$srv_pid"
for _ in $(seq 50); do
    grep -q '"why":"SIGUSR1"' "$dir/out" && break
    sleep 0.1
done
grep -q '"event":"stats","why":"SIGUSR1"' "$dir/out" || fail "no stats line after SIGUSR1"

# still serving: a client sends 25 frames
"$bench" transport client --connect "$id@$addr" --key "$dir/client.key" \
    --topic "$(printf '11%.0s' $(seq 32))" --frames 25 --size 100 --timeout 10 >"$dir/cli" 2>&1 ||
    fail "client failed: $(cat "$dir/cli")"

kill -TERM "$srv_pid"
wait "$srv_pid" || fail "server exited non-zero"
srv_pid=
last=$(grep '"event":"stats","why":"exit"' "$dir/out") || fail "no stats line at exit"
value() { echo "$last" | sed -nE "s/.*\"quic\":\{[^}]*\"$1\":([0-9]+).*/\1/p"; }
[ "$(value handshakes_ok)" = 1 ] || fail "handshakes_ok is '$(value handshakes_ok)'"
[ "$(value frames_in)" = 25 ] || fail "frames_in is '$(value frames_in)'"
echo "$last" | grep -q '"engine":{"turns":[1-9]' || fail "engine counters missing"
echo "$last" | grep -q '"uring":{"turns":[1-9]' || fail "uring counters missing"
echo "transport_stats: OK"
