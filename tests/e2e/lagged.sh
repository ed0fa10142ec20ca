#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e lagged subscriber (issue 7 acceptance 5, the local-subscriber half): on node b, one
# subscriber reads everything while another stops reading.  a publishes 2,500 messages of 3 KB
# in bursts of 250 (about 10 MB of events: far more than b's per-client queue of 4 MiB, while
# each burst, about 1 MB of events, fits in it: a client that reads keeps up).  The reading subscriber receives every
# message exactly once; the stalled one, when it reads again, has received `lagged` with a
# positive count of dropped events, and what it did receive plus what it was told it lost covers
# what was sent to it.  b stays alive and answers status throughout.
# Usage: lagged.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-lagged-$E2E_RUN"
node_start a --join "$T"
node_start b --bootstrap "$(node_peer a)" --join "$T" --set control.client_queue=4194304
wait_for 30 has_neighbors b "$T" 1 || fatal "b: no neighbour in $T"

bg fast "$E2E_GOSSIPCTL" --control "$(sock b)" subscribe "$T" --json
bg slow python3 "$E2E_LIB_DIR/ctlclient.py" subscribe "$(sock b)" "$E2E_DIR/slow.jsonl" "$T" \
    --stall-until "$E2E_DIR/resume" --ready "$E2E_DIR/slow-ready"
wait_for 20 test -e "$E2E_DIR/slow-ready" || fatal "slow subscriber not acknowledged"
wait_for 20 has_subscribers b "$T" 2 || fatal "b does not list 2 subscribers"

pad=$(head -c 3000 /dev/zero | tr '\0' x)
for i in $(seq -w 1 2500); do echo "lagged-$E2E_RUN-$i-$pad"; done >"$E2E_DIR/pub-a.txt"
for k in $(seq 0 9); do
    sed -n "$((k * 250 + 1)),$((k * 250 + 250))p" "$E2E_DIR/pub-a.txt" |
        ctl a publish "$T" --stdin >/dev/null 2>>"$E2E_DIR/pub-a.log" || fail "a: publish: $(cat "$E2E_DIR/pub-a.log")"
    sleep 0.3
done
check "b answers status while a subscriber is stalled" ctl b status --json >/dev/null
check "the reading subscriber gets all 2,500 messages exactly once" \
    py deliver.py --timeout 90 --prefix "lagged-$E2E_RUN" --pub "a=$E2E_DIR/pub-a.txt" --sub "b=$E2E_DIR/fast.out"

touch "$E2E_DIR/resume"
# a few more messages once it reads again, so a daemon that reports the loss with the next event
# (rather than as soon as the queue drains) has an event to report it with
sleep 1
seq -f "lagged-$E2E_RUN-late-%g" 1 10 | ctl a publish "$T" --stdin >/dev/null || fail "a: late publish"
got_lagged() { [ "$(py events.py count "$E2E_DIR/slow.jsonl" lagged)" -ge 1 ]; }
check "the stalled subscriber receives lagged once it reads again" wait_for 30 got_lagged
sleep 2
read -r received dropped < <(python3 - "$E2E_DIR/slow.jsonl" <<'PY'
import json, sys
r = d = 0
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev.get("event") == "received":
        r += 1
    elif ev.get("event") == "lagged":
        d += int(ev.get("dropped", 0))
print(r, d)
PY
)
e2e_log "stalled subscriber: $received received, $dropped reported dropped"
check "lagged reports a positive count ($dropped)" test "$dropped" -gt 0
check "received + dropped covers the 2,500 messages ($received + $dropped)" test $((received + dropped)) -ge 2500
check "the stalled subscriber lost messages, it did not stall b ($received < 2500)" test "$received" -lt 2500
status_json b
e2e_log "b counters with 'lag' or 'drop': $(py ctlq.py sum 'lag|drop' <"$E2E_DIR/b.status.json")"
node_alive b || fail "b died"
