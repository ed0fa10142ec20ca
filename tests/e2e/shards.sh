#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e shards (issue 7 acceptance 2): a node with --shards 4 (also on a 2-CPU machine) in 64
# topics, with peers in three other processes that join the same 64 topics through it.  Every
# topic delivers 100 % (messages published on the sharded node and on a peer reach every node,
# exactly once, counted per node), and the sharded node's status shows the topics spread over
# its 4 shards, cross-shard ring traffic, and a stray-datagram counter.
# Usage: shards.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

NT=64
topics=()
for t in $(seq -w 0 $((NT - 1))); do topics+=("e2e-shards-$E2E_RUN-$t"); done
joins=()
for t in "${topics[@]}"; do joins+=(--join "$t"); done

# s serves its control socket inside shard 0's turns (the default only with one shard), p1 on a
# thread of its own (the default with more): both ways of serving clients carry the test
node_start s --shards 4 --set control.thread=shard "${joins[@]}"
node_start p1 --shards 1 --set control.thread=own --bootstrap "$(node_peer s)" "${joins[@]}"
for p in p2 p3; do
    node_start "$p" --shards 1 --bootstrap "$(node_peer s)" "${joins[@]}"
done
e2e_log "sharded node and 3 peers ready"

# one multi-topic subscriber per node (ctlclient.py: 64 subscriptions on one connection)
for n in s p1 p2 p3; do
    bg "sub-$n" python3 "$E2E_LIB_DIR/ctlclient.py" subscribe "$(sock "$n")" "$E2E_DIR/ev-$n.jsonl" \
        "${topics[@]}" --ready "$E2E_DIR/ready-$n"
done
for n in s p1 p2 p3; do
    wait_for 30 test -e "$E2E_DIR/ready-$n" || fatal "$n: subscriptions not acknowledged"
done
all_have_neighbors() {
    local n
    for n in s p1 p2 p3; do
        [ "$(ctl "$n" topics --json 2>/dev/null | py ctlq.py min-neighbors "${topics[@]}")" -ge 1 ] || return 1
    done
}
wait_for 60 all_have_neighbors || fatal "not every node has a neighbour in all $NT topics after 60 s"
pass "4 nodes x $NT topics joined, each with a neighbour"

# 5 messages per topic from the sharded node and 5 per topic from p2
for n in s p2; do
    : >"$E2E_DIR/pub-$n.txt"
    for t in "${topics[@]}"; do
        seq -f "$t-from-$n-%g" 1 5 >"$E2E_DIR/pub-$n-$t.txt"
        cat "$E2E_DIR/pub-$n-$t.txt" >>"$E2E_DIR/pub-$n.txt"
        ctl "$n" publish "$t" --stdin <"$E2E_DIR/pub-$n-$t.txt" >/dev/null 2>>"$E2E_DIR/pub-$n.log" ||
            fail "$n: publish on $t: $(tail -n 1 "$E2E_DIR/pub-$n.log")"
    done
done
check "every topic delivers 100 % at every node (640 messages, exactly once)" \
    py deliver.py --timeout 90 --prefix "e2e-shards-$E2E_RUN" --pub "s=$E2E_DIR/pub-s.txt" \
    --pub "p2=$E2E_DIR/pub-p2.txt" --sub "s=$E2E_DIR/ev-s.jsonl" --sub "p1=$E2E_DIR/ev-p1.jsonl" \
    --sub "p2=$E2E_DIR/ev-p2.jsonl" --sub "p3=$E2E_DIR/ev-p3.jsonl"

status_json s || fatal "status of s failed"
st=$E2E_DIR/s.status.json
check "status: nshards is 4" test "$(py ctlq.py sum '^nshards$' <"$st")" -eq 4
ctl_thread() { python3 -c 'import json,sys; print(json.load(sys.stdin)["control_thread"])' <"$1"; }
check "status: s serves its control socket on shard 0" test "$(ctl_thread "$st")" = shard
status_json p1 || fatal "status of p1 failed"
check "status: p1 serves its control socket on its own thread" \
    test "$(ctl_thread "$E2E_DIR/p1.status.json")" = own
# the threads, by name: s has its 4 shards and no control thread, p1 one shard and one
thread_names() { cat /proc/"${NODE_PID[$1]}"/task/*/comm 2>/dev/null | sort | tr '\n' ' '; }
e2e_log "threads: s: $(thread_names s); p1: $(thread_names p1)"
check "s runs threads gossipd-s0..s3 and no gossipd-ctl" \
    test "$(thread_names s | grep -o 'gossipd-[a-z0-9]*' | tr '\n' ' ')" = \
    "gossipd-s0 gossipd-s1 gossipd-s2 gossipd-s3 "
check "p1 runs gossipd-ctl beside gossipd-s0" \
    test "$(thread_names p1 | grep -o 'gossipd-[a-z0-9]*' | tr '\n' ' ')" = "gossipd-ctl gossipd-s0 "
status_json p2 || fatal "status of p2 failed"
check "status: p2 (one shard, control.thread auto) serves it on shard 0" \
    test "$(ctl_thread "$E2E_DIR/p2.status.json")" = shard
per_shard=$(py ctlq.py shards <"$st")
e2e_log "topics per shard: $per_shard"
spread_ok() {
    local n total=0 k=0
    for n in $per_shard; do
        [ "$n" -ge 1 ] || return 1
        total=$((total + n))
        k=$((k + 1))
    done
    [ "$k" -eq 4 ] && [ "$total" -eq "$NT" ]
}
check "status: the $NT topics are spread over all 4 shards ($per_shard)" spread_ok
ring_sent=$(py ctlq.py sum '^rings\.(.*\.)?sent' <"$st")
ring_recv=$(py ctlq.py sum '^rings\.(.*\.)?received' <"$st")
e2e_log "rings: sent $ring_sent received $ring_recv"
check "status: cross-shard ring records sent ($ring_sent) and received ($ring_recv)" \
    test "$ring_sent" -gt 0 -a "$ring_recv" -gt 0
stray=$(py ctlq.py sum 'stray' <"$st")
stray_rc=$?
e2e_log "stray datagrams counted: $stray"
check "status: a stray-datagram counter is reported" test "$stray_rc" -eq 0
for n in s p1 p2 p3; do node_alive "$n" || fail "$n died"; done
check "s stops cleanly with 4 shards" stop_node s
check "s exit status 0 (got $STOP_RC after $STOP_MS ms)" test "$STOP_RC" = 0
