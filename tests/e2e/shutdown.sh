#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e shutdown and crashes (issue 7 acceptance 4).
# SIGTERM: x has neighbours y and z (they bootstrapped from it); after SIGTERM to x, y's and z's
# subscribers see neighbor_down for x with reason peer_quit within 1 s, and x exits with status
# 0 within 2 s.
# kill -9: 10 nodes in a chain publish-subscribe on one topic while n0 keeps publishing; two
# nodes are killed with SIGKILL; messages published 10 s later reach every survivor exactly once.
# Usage: shutdown.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-term-$E2E_RUN"
node_start x --join "$T"
node_start y --bootstrap "$(node_peer x)" --join "$T"
node_start z --bootstrap "$(node_peer x)" --join "$T"
# each event is stamped with its arrival time as gossipctl prints it (line-buffered)
for n in y z; do
    bg "sub-$n" bash -c "'$E2E_GOSSIPCTL' --control '$(sock "$n")' subscribe '$T' --json | python3 '$E2E_LIB_DIR/events.py' stamp"
done
x_is_neighbor() { py events.py first "$E2E_DIR/sub-$1.out" neighbor_up peer "${NODE_ID[x]}" >/dev/null; }
for n in y z; do
    wait_for 30 x_is_neighbor "$n" || fatal "$n: no neighbor_up for x"
done
pass "y and z see x as a neighbour"

t_term=$(date +%s%N)
stop_node x
check "x exits within 2 s of SIGTERM (took $STOP_MS ms)" test "$STOP_RC" != timeout -a "$STOP_MS" -le 2000
check "x exit status 0 after SIGTERM (got $STOP_RC)" test "$STOP_RC" = 0
saw_down() {
    py events.py first "$E2E_DIR/sub-$1.out" neighbor_down peer "${NODE_ID[x]}" >"$E2E_DIR/down-$1.json"
}
for n in y z; do
    if wait_for 5 saw_down "$n"; then
        reason=$(py events.py field "$E2E_DIR/down-$n.json" reason)
        ms=$((($(py events.py field "$E2E_DIR/down-$n.json" _t_ns) - t_term) / 1000000))
        check "$n: neighbor_down for x has reason peer_quit (got $reason)" test "$reason" = peer_quit
        check "$n: neighbor_down for x within 1 s of SIGTERM (after $ms ms)" test "$ms" -le 1000
    else
        fail "$n: no neighbor_down for x within 5 s of SIGTERM"
    fi
done
stop_node y
stop_node z

# kill -9 of 2 of 10 nodes while n0 publishes
K="e2e-kill-$E2E_RUN"
node_start n0 --join "$K"
for i in $(seq 1 9); do node_start "n$i" --bootstrap "$(node_peer "n$((i - 1))")" --join "$K"; done
for i in $(seq 0 9); do
    bg "ksub$i" "$E2E_GOSSIPCTL" --control "$(sock "n$i")" subscribe "$K" --json
done
for i in $(seq 0 9); do
    wait_for 20 has_subscribers "n$i" "$K" 1 || fatal "n$i: subscriber not registered"
    wait_for 30 has_neighbors "n$i" "$K" 1 || fatal "n$i: no neighbour in $K"
done
# n0 publishes one message every 20 ms in the background while two nodes die
(
    i=0
    while :; do
        i=$((i + 1))
        printf 'kill-%s-during-%06d\n' "$E2E_RUN" "$i"
        sleep 0.02
    done
) | ctl n0 publish "$K" --stdin >/dev/null 2>"$E2E_DIR/during.log" &
during=$!
E2E_PIDS+=("$during")
sleep 2
kill -KILL "${NODE_PID[n3]}" "${NODE_PID[n6]}"
e2e_log "killed n3 and n6 with SIGKILL"
sleep 10
seq -f "kill-$E2E_RUN-after-%03g" 1 100 >"$E2E_DIR/pub-after.txt"
ctl n0 publish "$K" --stdin <"$E2E_DIR/pub-after.txt" >/dev/null 2>"$E2E_DIR/after.log" ||
    fail "n0: publish after the kills: $(cat "$E2E_DIR/after.log")"
subs=()
for i in 1 2 4 5 7 8 9; do subs+=(--sub "n$i=$E2E_DIR/ksub$i.out"); done
if ! py deliver.py --timeout 60 --prefix "kill-$E2E_RUN-after" --pub "n0=$E2E_DIR/pub-after.txt" \
    "${subs[@]}"; then
    fail "messages published 10 s after kill -9 of n3 and n6 reach every survivor exactly once"
    # what each survivor's overlay looks like, for the kept files
    for i in 0 1 2 4 5 7 8 9; do
        ctl "n$i" topics --json >"$E2E_DIR/topics-n$i.json" 2>&1
        ctl "n$i" peers --json >"$E2E_DIR/peers-n$i.json" 2>&1
        ctl "n$i" status --json >"$E2E_DIR/status-n$i.json" 2>&1
    done
else
    pass "messages published 10 s after kill -9 of n3 and n6 reach every survivor exactly once"
fi
kill "$during" 2>/dev/null
for i in 0 1 2 4 5 7 8 9; do node_alive "n$i" || fail "n$i died"; done
