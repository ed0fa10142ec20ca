#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_test.sh: the gossip-sim CLI contract.  With --json the last stdout line is one JSON object
# with the agreed keys and sane values; equal arguments give equal figures (and trace hash);
# bad arguments exit 2 with a message on stderr.
set -euo pipefail
sim=${1:?usage: cli_test.sh path/to/gossip-sim}
fail() { echo "cli_test: FAIL: $*" >&2; exit 1; }

check_json() { # check_json LINE SCENARIO PEERS
    python3 - "$1" "$2" "$3" <<'PY' || exit 1
import json, sys
line, scenario, peers = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.loads(line)
need = ["peers", "seed", "scenario", "rounds", "rmr", "rmr_paper", "ldh", "missed",
        "delivery_ratio", "max_time_to_deliver_ms", "isolated_nodes", "node_events", "wall_s",
        "events_per_s", "lat_p50_ms", "lat_p99_ms", "lat_max_ms", "stretch_p50", "stretch_p99",
        "stretch_max", "graft_share", "boot_neighbor_down", "after_neighbor_down",
        "boot_disconnects", "after_disconnects", "policy", "ref_fraction", "dial_handshake"]
missing = [k for k in need if k not in d]
assert not missing, f"missing keys {missing}"
assert d["scenario"] == scenario and d["peers"] == peers, d
assert d["rounds"] > 0 and d["node_events"] > 0 and d["wall_s"] >= 0, d
assert 0 <= d["delivery_ratio"] <= 1 and d["missed"] >= 0 and d["isolated_nodes"] >= 0, d
assert d["rmr"] > -1 and d["ldh"] >= 0 and d["max_time_to_deliver_ms"] > 0, d
assert 0 < d["lat_p50_ms"] <= d["lat_p99_ms"] and d["lat_p99_ms"] - d["lat_max_ms"] < 0.1001, d
assert 1 <= d["stretch_p50"] <= d["stretch_p99"] and 0 <= d["graft_share"] <= 1, d
PY
}

for sc in single multi burst churn partition; do
    out=$("$sim" --peers 40 --seed 3 --scenario "$sc" --rounds 3 --json --trace 2>/dev/null)
    last=$(echo "$out" | tail -n 1)
    check_json "$last" "$sc" 40 || fail "$sc: bad JSON line: $last"
done

out=$("$sim" --peers 40 --seed 3 --scenario multi --rounds 2 --bootstrap staggered --json --quiet)
check_json "$(echo "$out" | tail -n 1)" multi 40 || fail "staggered bootstrap: bad JSON"

a=$("$sim" --peers 40 --seed 5 --scenario multi --rounds 3 --json --quiet --trace | tail -n 1)
b=$("$sim" --peers 40 --seed 5 --scenario multi --rounds 3 --json --quiet --trace | tail -n 1)
strip() { echo "$1" | sed -E 's/"wall_s":[^,]*,"events_per_s":[^,]*,//'; }
[ "$(strip "$a")" = "$(strip "$b")" ] || fail "same arguments, different results"
c=$("$sim" --peers 40 --seed 6 --scenario multi --rounds 3 --json --quiet --trace | tail -n 1)
[ "$(strip "$a")" != "$(strip "$c")" ] || fail "another seed gave identical results"

# Mixed swarms add the connection and reference I/O keys (other runs keep their keys as they
# were); --ref-io 0 turns the reference nodes' I/O model off.
m=$("$sim" --peers 40 --seed 2 --scenario churn --rounds 3 --ref-fraction 1 --json --quiet | tail -n 1)
for k in open_conns unused_conns ref_closes_ignored ref_dials_unreported ref_frames_stuck \
         ref_quit_dropped; do
    echo "$m" | grep -q "\"$k\":" || fail "mixed-swarm JSON lacks $k"
done
echo "$m" | grep -q '"ref_closes_ignored":0,' && fail "reference nodes closed connections (D2)"
echo "$a" | grep -q '"open_conns"' && fail "open_conns in a run without reference nodes"
m=$("$sim" --peers 40 --seed 2 --scenario churn --rounds 3 --ref-fraction 1 --ref-io 0 --json \
    --quiet | tail -n 1)
echo "$m" | grep -q '"ref_closes_ignored":0,' || fail "--ref-io 0 still ignores closes"

# Human output: a readable summary with the headline figures.
h=$("$sim" --peers 30 --seed 1 --scenario single --rounds 2 --latency-min-ms 5 \
    --latency-max-ms 20 2>/dev/null)
for w in delivery RMR LDH "time to deliver" stretch "graft path" membership simulator; do
    echo "$h" | grep -q "$w" || fail "human output lacks '$w'"
done

for bad in "--peers 1" "--peers x" "--scenario nope" "--kill-fraction 1.5" "--rounds 0" \
           "--latency-min-ms 50 --latency-max-ms 10" "--bootstrap ring" "--bogus" \
           "--policy nope" "--ref-fraction 2" "--initial-loss-ppm 2000000" \
           "--ref-compat 0x100" "--ref-io 8" "--ref-io x"; do
    set +e
    # shellcheck disable=SC2086
    err=$("$sim" $bad 2>&1 >/dev/null)
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "'$bad' exited $rc, want 2"
    [ -n "$err" ] || fail "'$bad' printed no error"
done
echo "cli_test: OK"
