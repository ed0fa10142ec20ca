#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gossipctl_test.sh: gossipctl against fake_gossipd.py (docs/control.md without the daemon):
# every command's output and exit status, pipelined publishing (replies withheld until 50
# requests arrived), refusals in the middle of a pipeline, subscribe events in text and JSON,
# --count/--timeout, and each documented exit status.
# Usage: gossipctl_test.sh path/to/gossipctl path/to/fake_gossipd.py
set -uo pipefail
ctl=${1:?usage: gossipctl_test.sh GOSSIPCTL FAKE_GOSSIPD}
fake=${2:?usage: gossipctl_test.sh GOSSIPCTL FAKE_GOSSIPD}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# start_fake NAME ARGS...: runs the fake daemon on $tmp/NAME.sock and waits for its ready line.
start_fake() {
    local name=$1
    shift
    python3 "$fake" --socket "$tmp/$name.sock" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q ready "$tmp/$name.out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "fake daemon $name did not start: $(cat "$tmp/$name.err")" >&2
    exit 1
}

# expect RC PATTERN CMD...: the command exits with RC and its stdout+stderr matches PATTERN.
expect() {
    local want=$1 pattern=$2
    shift 2
    "$@" >"$tmp/o" 2>&1
    local rc=$?
    if [ $rc -ne "$want" ]; then bad "$*: exit $rc, want $want: $(head -c 400 "$tmp/o")"; return; fi
    if grep -Eq -- "$pattern" "$tmp/o"; then ok; else bad "$*: output lacks '$pattern': $(head -c 400 "$tmp/o")"; fi
}

start_fake a --stats "$tmp/a.stats"
g=("$ctl" --control "$tmp/a.sock")
peer=$(printf 'ab%.0s' {1..32})

# usage (2) and connection (3) errors
expect 2 "missing COMMAND" "$ctl"
expect 2 "unknown command 'frob'" "${g[@]}" frob
expect 2 "unknown option '--nope'" "$ctl" --nope status
expect 2 "needs TOPIC" "${g[@]}" subscribe
expect 2 "either MESSAGE... or --stdin" "${g[@]}" publish chat
expect 2 "either MESSAGE... or --stdin" "${g[@]}" publish chat --stdin hello
expect 2 "positive integer" "${g[@]}" subscribe chat --count x
expect 2 "positive number of seconds" "$ctl" --timeout -1 status
expect 3 "cannot connect to $tmp/none.sock: No such file" "$ctl" --control "$tmp/none.sock" status
GOSSIPD_CONTROL="$tmp/env.sock" expect 3 "cannot connect to $tmp/env.sock" "$ctl" status
expect 0 "EXIT STATUS" "$ctl" --help

# join (with peers), leave, topics, peers, status
expect 0 "^[0-9a-f]{64} chat$" "${g[@]}" join chat "$peer@127.0.0.1:4919"
chat=$(cut -d' ' -f1 "$tmp/o")
expect 1 "bad_peer: peer id must be 64 hex digits" "${g[@]}" join chat nonsense
expect 0 "^$chat chat .*active=$peer .*subscribers=0" "${g[@]}" topics
expect 0 "^$peer shard=0 " "${g[@]}" peers
expect 0 "^shards\.0\.index 0$" "${g[@]}" status
grep -Eq "^id [0-9a-f]{64}$" "$tmp/o" && ok || bad "status text lacks the node id: $(cat "$tmp/o")"
grep -Eq "^addrs 127\.0\.0\.1:4919$" "$tmp/o" && ok || bad "status text lacks addrs"
expect 0 '^\{"' "${g[@]}" status --json
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["nshards"]==2 and "ok" not in d and len(d["id"])==64' <"$tmp/o" && ok || bad "status --json: $(cat "$tmp/o")"
expect 0 '"topics":\[\{"topic":"'"$chat"'"' "${g[@]}" topics --json
"${g[@]}" join "$(printf 'cd%.0s' {1..32})" >/dev/null
expect 0 "^$(printf 'cd%.0s' {1..32})$" "${g[@]}" leave "$(printf 'cd%.0s' {1..32})"
expect 1 "not_joined" "${g[@]}" leave "$(printf 'ef%.0s' {1..32})"

# publish refused: topic not joined (exit 1, the daemon's code and message shown)
expect 1 "publish of message 1: not_joined: topic [0-9a-f]{64} is not joined" "${g[@]}" publish other hello

# subscribe in text: the neighbour first, then each message (text, or base64 for binary bytes)
"${g[@]}" subscribe chat --count 3 --timeout 20 >"$tmp/sub.txt" 2>"$tmp/sub.err" &
sub=$!
for _ in $(seq 100); do grep -q neighbor_up "$tmp/sub.txt" 2>/dev/null && break; sleep 0.1; done
expect 0 "^[0-9a-f]{64}$" "${g[@]}" publish chat 'hello wörld' "$(printf 'bin\001')"
expect 0 "^[0-9a-f]{64}$" "${g[@]}" publish chat --neighbors 'just neighbours'
wait $sub
rc=$?
[ $rc -eq 0 ] && ok || bad "subscribe --count 3: exit $rc: $(cat "$tmp/sub.err")"
want="neighbor_up $peer
received NODE swarm 0 hello wörld
received NODE swarm 0 base64:YmluAQ==
received NODE neighbors - just neighbours"
got=$(sed -E 's/received [0-9a-f]{64} /received NODE /' "$tmp/sub.txt")
[ "$got" = "$want" ] && ok || bad "subscribe text output:
$got
want:
$want"

# subscribe --json: one object per event with event, topic, content (base64), delivered_from,
# scope, round; --timeout without --count ends with 0, with an unmet --count with 4
"${g[@]}" subscribe chat --json --timeout 3 >"$tmp/sub.json" 2>&1 &
sub=$!
for _ in $(seq 100); do grep -q neighbor_up "$tmp/sub.json" 2>/dev/null && break; sleep 0.1; done
seq 1 20 | "${g[@]}" publish chat --stdin >/dev/null
wait $sub
rc=$?
[ $rc -eq 0 ] && ok || bad "subscribe --timeout without --count: exit $rc"
python3 - "$tmp/sub.json" "$chat" <<'EOF' && ok || bad "subscribe --json output: $(head -3 "$tmp/sub.json")"
import base64, json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
rec = [e for e in evs if e["event"] == "received"]
assert evs[0]["event"] == "neighbor_up" and evs[0]["topic"] == sys.argv[2], evs[0]
assert [base64.b64decode(e["content"]).decode() for e in rec] == [str(i) for i in range(1, 21)], rec
for e in rec:
    assert e["topic"] == sys.argv[2] and e["scope"] == "swarm" and e["round"] == 0
    assert len(e["delivered_from"]) == 64 and len(e["msg_id"]) == 64
EOF
expect 4 "0 of 5 messages received in time" "${g[@]}" subscribe chat --count 5 --timeout 0.5

# pipelined publish from standard input: 2,000 lines, every reply checked, ids printed in order
seq -f 'message %g' 1 2000 >"$tmp/lines"
printf '\n\n' >>"$tmp/lines" # empty lines are skipped
"${g[@]}" publish chat --stdin <"$tmp/lines" >"$tmp/ids" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "publish --stdin: exit $rc: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/ids")" -eq 2000 ] && ok || bad "publish --stdin printed $(wc -l <"$tmp/ids") ids"
[ "$(sort -u "$tmp/ids" | wc -l)" -eq 2000 ] && ok || bad "publish --stdin ids not unique"
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["max_ahead"] >= 50, d' "$tmp/a.stats" && ok ||
    bad "publish did not pipeline: $(cat "$tmp/a.stats")"

# a daemon that withholds replies until 50 requests arrived: only a pipelining client finishes
start_fake hold --hold 50
h=("$ctl" --control "$tmp/hold.sock" --timeout 5)
# the join's reply is withheld: it times out (exit 4), but the topic is joined
expect 4 "no reply within 5.0 s" "${h[@]}" join t
seq -f 'held %g' 1 100 | "${h[@]}" publish t --stdin >"$tmp/ids" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/ids")" -eq 100 ] && ok || bad "publish with held replies: exit $rc, $(wc -l <"$tmp/ids") ids: $(cat "$tmp/err")"

# a refusal in the middle of a pipeline: exit 1, names the message, no more messages sent
start_fake refuse --fail-publish-at 7
r=("$ctl" --control "$tmp/refuse.sock")
"${r[@]}" join t >/dev/null
seq -f 'r %g' 1 100 | "${r[@]}" publish t --stdin >"$tmp/ids" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "refused publish: exit $rc"
grep -q "publish of message 7: too_large: message over the size limit" "$tmp/err" && ok || bad "refusal text: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/ids")" -ge 6 ] && [ "$(wc -l <"$tmp/ids")" -lt 100 ] && ok || bad "after a refusal: $(wc -l <"$tmp/ids") ids"

# a daemon that never answers: timeout (4); a daemon that goes away: connection lost (3)
start_fake mute --mute
expect 4 "status: no reply within 0.5 s" "$ctl" --control "$tmp/mute.sock" --timeout 0.5 status
start_fake gone
"$ctl" --control "$tmp/gone.sock" subscribe t >"$tmp/o" 2>&1 &
sub=$!
sleep 1
kill "${pids[-1]}"
wait $sub
rc=$?
[ $rc -eq 3 ] && grep -q "closed the connection" "$tmp/o" && ok || bad "daemon gone: exit $rc: $(cat "$tmp/o")"

echo "gossipctl_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
