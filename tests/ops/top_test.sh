#!/bin/bash
# SPDX-License-Identifier: MIT
# top_test.sh GOSSIPD GOSSIPCTL: `gossipctl top` against two real gossipd nodes while node A
# publishes a stream that node B receives:
#   pipe: plain lines (stdout is not a terminal), one per node + a TOTAL per interval; node B's
#         line shows messages in and deliveries > 0, node A's messages out > 0;
#   tmux: in a real terminal the screen has the header, both node ids and a TOTAL row; `q` quits
#         (and the terminal is left usable); a second run quits on Ctrl-C.
# Exit 77 (SKIPPED) without tmux.
set -u
gossipd=$1
gctl=$2
command -v tmux >/dev/null || { echo "SKIP: tmux not installed"; exit 77; }
dir=$(mktemp -d /tmp/top_test.XXXXXX)
sock=tmuxtop$$
pids=()
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "top_test: FAIL: $*"; exit 1; }

"$gossipd" --listen 127.0.0.1:0 --control "$dir/a.sock" --shards 2 --join top >"$dir/a.out" 2>"$dir/a.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/a.out" ] && break; sleep 0.05; done
read -r _ aid aaddr <"$dir/a.out" || fail "node A did not start"
"$gossipd" --listen 127.0.0.1:0 --control "$dir/b.sock" --shards 1 --bootstrap "$aid@$aaddr" \
    --join top >"$dir/b.out" 2>"$dir/b.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/b.out" ] && break; sleep 0.05; done
read -r _ bid _ <"$dir/b.out" || fail "node B did not start"
"$gctl" --control "$dir/b.sock" subscribe top --count 1 --timeout 20 >/dev/null &
sub=$!
# a stream: 200 messages/s from A for the whole test
( i=0; while :; do i=$((i + 1)); echo "m$i"; [ $((i % 20)) -eq 0 ] && sleep 0.1; done ) |
    "$gctl" --control "$dir/a.sock" publish top --stdin >/dev/null 2>&1 &
pids+=($!)
wait "$sub" || fail "B never received a message"

# --- pipe ---
"$gctl" top --iterations 3 "$dir/a.sock" "$dir/b.sock" >"$dir/pipe.txt" 2>&1 || fail "top exited $?"
cat "$dir/pipe.txt"
[ "$(grep -c '^t=' "$dir/pipe.txt")" -eq 9 ] || fail "expected 9 plain lines"
grep -q $'\033' "$dir/pipe.txt" && fail "escape sequences in a pipe"
grep -q "=-" "$dir/pipe.txt" && fail "a negative rate"
grep -E "^t=[23] node=${bid:0:8} " "$dir/pipe.txt" | grep -qE "msgs_in/s=[1-9][0-9]* .*deliveries/s=[1-9]" ||
    fail "node B shows no messages in / deliveries"
grep -E "^t=[23] node=${aid:0:8} " "$dir/pipe.txt" | grep -qE "msgs_out/s=[1-9]" ||
    fail "node A shows no messages out"
grep -q "^t=3 node=TOTAL .*peers=2 conns=2 topics=2" "$dir/pipe.txt" || fail "no TOTAL line"

# --- tmux: q ---
tmux -L "$sock" new-session -d -s top -x 140 -y 30 \
    "$gctl top $dir/a.sock $dir/b.sock; echo TOP-EXITED-\$?; sleep 30" || fail "tmux"
sleep 3
tmux -L "$sock" capture-pane -p -t top >"$dir/screen.txt"
cat "$dir/screen.txt"
grep -q "MSG_IN/s" "$dir/screen.txt" || fail "no header on the terminal"
grep -q "^${aid:0:8} " "$dir/screen.txt" || fail "node A missing on the terminal"
grep -q "^${bid:0:8} " "$dir/screen.txt" || fail "node B missing on the terminal"
grep -q "^TOTAL" "$dir/screen.txt" || fail "no TOTAL row"
grep -q "^${aid:0:8} *0 " "$dir/screen.txt" || fail "node A (2 shards) has no per-shard rows"
grep -qE "^([0-9a-f]{8}|TOTAL) .* -[0-9]" "$dir/screen.txt" && fail "a negative rate"
tmux -L "$sock" send-keys -t top q
sleep 1.5
tmux -L "$sock" capture-pane -p -t top >"$dir/screen2.txt"
grep -q "TOP-EXITED-0" "$dir/screen2.txt" || { cat "$dir/screen2.txt"; fail "q did not quit"; }
tmux -L "$sock" kill-session -t top

# --- tmux: Ctrl-C ---
tmux -L "$sock" new-session -d -s top2 -x 140 -y 30 \
    "$gctl top $dir/a.sock; echo TOP-EXITED-\$?; sleep 30" || fail "tmux"
sleep 2.5
tmux -L "$sock" send-keys -t top2 C-c
sleep 1.5
tmux -L "$sock" capture-pane -p -t top2 >"$dir/screen3.txt"
grep -q "TOP-EXITED-0" "$dir/screen3.txt" || { cat "$dir/screen3.txt"; fail "Ctrl-C did not quit"; }
echo "top_test: ok"
