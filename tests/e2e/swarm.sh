#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e swarm (issue 7 acceptance 1): 10 gossipd processes bootstrapped in a chain (node i knows
# only node i-1), one topic, every node subscribed through `gossipctl subscribe --json`.
# 1,000 messages published from one node, then 100 from every node (all at once): every message
# arrives exactly once at every node, counted per node from its subscriber's events.
# Usage: swarm.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

N=10
TOPIC="e2e-swarm-$E2E_RUN"

node_start n0 --join "$TOPIC"
for i in $(seq 1 $((N - 1))); do
    node_start "n$i" --bootstrap "$(node_peer "n$((i - 1))")" --join "$TOPIC"
done
e2e_log "$N nodes ready"

for i in $(seq 0 $((N - 1))); do
    bg "sub$i" "$E2E_GOSSIPCTL" --control "$(sock "n$i")" subscribe "$TOPIC" --json
done
for i in $(seq 0 $((N - 1))); do
    wait_for 20 has_subscribers "n$i" "$TOPIC" 1 || fatal "n$i: the subscriber is not registered"
    wait_for 30 has_neighbors "n$i" "$TOPIC" 1 || fatal "n$i: no neighbour in the topic after 30 s"
done
pass "every node subscribed and has a neighbour"

subs=()
for i in $(seq 0 $((N - 1))); do subs+=(--sub "n$i=$E2E_DIR/sub$i.out"); done

# phase 1: 1,000 messages from n0
seq -f "swarm-$E2E_RUN-a-n0-%04g" 1 1000 >"$E2E_DIR/pub-a-n0.txt"
if ctl n0 publish "$TOPIC" --stdin <"$E2E_DIR/pub-a-n0.txt" >"$E2E_DIR/ids-a.txt" 2>"$E2E_DIR/pub-a.log"; then
    pass "n0 published 1,000 messages"
else
    fail "n0 publish: $(cat "$E2E_DIR/pub-a.log")"
fi
check "1,000 distinct message ids" test "$(sort -u "$E2E_DIR/ids-a.txt" | wc -l)" -eq 1000
check "phase 1: 1,000 messages exactly once at every node" \
    py deliver.py --timeout 60 --prefix "swarm-$E2E_RUN-a" --pub "n0=$E2E_DIR/pub-a-n0.txt" "${subs[@]}"

# phase 2: 100 from every node, all publishers at once
pubs=()
pids=()
for i in $(seq 0 $((N - 1))); do
    seq -f "swarm-$E2E_RUN-b-n$i-%03g" 1 100 >"$E2E_DIR/pub-b-n$i.txt"
    pubs+=(--pub "n$i=$E2E_DIR/pub-b-n$i.txt")
    ctl "n$i" publish "$TOPIC" --stdin <"$E2E_DIR/pub-b-n$i.txt" >/dev/null 2>"$E2E_DIR/pub-b-n$i.log" &
    pids+=($!)
done
for i in $(seq 0 $((N - 1))); do
    wait "${pids[$i]}" || fail "n$i publish of 100: $(cat "$E2E_DIR/pub-b-n$i.log")"
done
check "phase 2: 100 from every node, exactly once at every node" \
    py deliver.py --timeout 60 --prefix "swarm-$E2E_RUN-b" "${pubs[@]}" "${subs[@]}"

for i in $(seq 0 $((N - 1))); do
    node_alive "n$i" || fail "n$i died"
done
# a clean shutdown of every node: exit status 0 within 2 s
for i in $(seq 0 $((N - 1))); do
    if stop_node "n$i" && [ "$STOP_RC" = 0 ]; then :; else fail "n$i: SIGTERM gave '$STOP_RC' after ${STOP_MS} ms"; fi
done
pass "all nodes stopped"
