#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e slow peer (issue 7 acceptance 5, the peer half): a has two neighbours, b and c.  b's process
# is stopped (SIGSTOP), so it reads none of its streams; a publishes 2,000 messages of 3 KB
# (about 6 MB, far above a's default limits.send_queue_low of 2 MiB, while each burst of 250,
# about 750 KB, stays below it for a peer that reads).  a drops Gossip to b (counted
# in gossip_dropped) instead of queueing it, disconnects b once it has been behind longer than
# limits.peer_behind_ms (2 s here; counted in peers_behind_closed), and c still receives every
# message exactly once.  a's resident memory stays within a bound derived from its send queues.
# Then the same with limits.send_queue_low at 256 KiB, which each burst overruns for c too: the
# Gossip a drops to c is announced by IHave (drops_announced), c Grafts it, and c still gets all
# 2,000 exactly once (before dropped pushes were announced, c lost about 200 of them).
# Usage: slowpeer.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-slowpeer-$E2E_RUN"
node_start a --join "$T" --set limits.peer_behind_ms=2000
node_start b --bootstrap "$(node_peer a)" --join "$T"
node_start c --bootstrap "$(node_peer a)" --join "$T"
wait_for 30 has_neighbors a "$T" 2 || fatal "a: not 2 neighbours in $T"
bg sub-c "$E2E_GOSSIPCTL" --control "$(sock c)" subscribe "$T" --json
wait_for 20 has_subscribers c "$T" 1 || fatal "c does not list its subscriber"

# publish_bursts NODE TOPIC: NODE publishes $E2E_DIR/pub-NODE.txt on TOPIC in 8 bursts of 250.
publish_bursts() {
    for k in $(seq 0 7); do
        sed -n "$((k * 250 + 1)),$((k * 250 + 250))p" "$E2E_DIR/pub-$1.txt" |
            ctl "$1" publish "$2" --stdin >/dev/null 2>>"$E2E_DIR/pub-$1.log" ||
            fail "$1: publish: $(cat "$E2E_DIR/pub-$1.log")"
        sleep 0.2
    done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/${NODE_PID[$1]}/status"; }
rss0=$(rss_kb a)
kill -STOP "${NODE_PID[b]}"
pad=$(head -c 3000 /dev/zero | tr '\0' y)
for i in $(seq -w 1 2000); do echo "slowpeer-$E2E_RUN-$i-$pad"; done >"$E2E_DIR/pub-a.txt"
publish_bursts a "$T"
check "c receives all 2,000 messages exactly once while b reads nothing" \
    py deliver.py --timeout 90 --prefix "slowpeer-$E2E_RUN" --pub "a=$E2E_DIR/pub-a.txt" --sub "c=$E2E_DIR/sub-c.out"
counter() { status_json a && py ctlq.py sum "$1" <"$E2E_DIR/a.status.json"; }
dropped=$(counter '^counters\.gossip_dropped$')
check "a dropped Gossip to the stalled peer and counted it (gossip_dropped=$dropped)" test "${dropped:-0}" -gt 0
closed_b() { [ "$(counter '^counters\.peers_behind_closed$')" -ge 1 ]; }
check "a disconnected the peer that stayed behind (peers_behind_closed >= 1)" wait_for 30 closed_b
rss1=$(rss_kb a)
e2e_log "a: VmRSS ${rss0} -> ${rss1} KiB, gossip_dropped $dropped"
# the queue to b is bounded by send_queue_max (8 MiB by default) and the payload cache by
# protocol.cache_bytes (4 MiB): growth beyond 32 MiB would mean an unbounded queue
if [ -n "${E2E_SANITIZER:-}" ]; then
    # ASan keeps freed memory in quarantine and adds shadow memory: RSS says nothing there
    e2e_log "RSS bound not checked under $E2E_SANITIZER (checked in the release build)"
else
    check "a's memory stays bounded (RSS grew $((rss1 - rss0)) KiB, bound 32768)" test $((rss1 - rss0)) -lt 32768
fi
kill -CONT "${NODE_PID[b]}"
node_alive a || fail "a died"

T2="e2e-slowpeer-low-$E2E_RUN"
node_start a2 --join "$T2" --set limits.peer_behind_ms=2000 --set limits.send_queue_low=262144
node_start b2 --bootstrap "$(node_peer a2)" --join "$T2"
node_start c2 --bootstrap "$(node_peer a2)" --join "$T2"
wait_for 30 has_neighbors a2 "$T2" 2 || fatal "a2: not 2 neighbours in $T2"
bg sub-c2 "$E2E_GOSSIPCTL" --control "$(sock c2)" subscribe "$T2" --json
wait_for 20 has_subscribers c2 "$T2" 1 || fatal "c2 does not list its subscriber"
kill -STOP "${NODE_PID[b2]}"
sed "s/^slowpeer-$E2E_RUN-/slowpeer-low-$E2E_RUN-/" "$E2E_DIR/pub-a.txt" >"$E2E_DIR/pub-a2.txt"
publish_bursts a2 "$T2"
check "with a 256 KiB watermark c2 still receives all 2,000 exactly once" \
    py deliver.py --timeout 90 --prefix "slowpeer-low-$E2E_RUN" --pub "a2=$E2E_DIR/pub-a2.txt" --sub "c2=$E2E_DIR/sub-c2.out"
counter2() { status_json a2 && py ctlq.py sum "$1" <"$E2E_DIR/a2.status.json"; }
announced=$(counter2 '^counters\.drops_announced$')
check "a2 announced dropped pushes by IHave (drops_announced=$announced)" test "${announced:-0}" -gt 0
kill -CONT "${NODE_PID[b2]}"
node_alive a2 || fail "a2 died"
