#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e lagged subscriber (issue 7 acceptance 5, the local-subscriber half): on node b, one
# subscriber reads everything while another stops reading.  a publishes 3,000 messages of 1 KiB
# (far more than b's per-client queue, set to 64 KiB).  The reading subscriber receives every
# message exactly once; the stalled one, when it reads again, has received `lagged` with a
# positive count of dropped events, and what it did receive plus what it was told it lost covers
# what was sent to it.  b stays alive and answers status throughout.
# Usage: lagged.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-lagged-$E2E_RUN"
node_start a --join "$T"
node_start b --bootstrap "$(node_peer a)" --join "$T" --set control.client_queue=65536
wait_for 30 has_neighbors b "$T" 1 || fatal "b: no neighbour in $T"

bg fast "$E2E_GOSSIPCTL" --control "$(sock b)" subscribe "$T" --json
bg slow python3 "$E2E_LIB_DIR/ctlclient.py" subscribe "$(sock b)" "$E2E_DIR/slow.jsonl" "$T" \
    --stall-until "$E2E_DIR/resume" --ready "$E2E_DIR/slow-ready"
wait_for 20 test -e "$E2E_DIR/slow-ready" || fatal "slow subscriber not acknowledged"
wait_for 20 has_subscribers b "$T" 2 || fatal "b does not list 2 subscribers"

pad=$(head -c 1000 /dev/zero | tr '\0' x)
for i in $(seq -w 1 3000); do echo "lagged-$E2E_RUN-$i-$pad"; done >"$E2E_DIR/pub-a.txt"
ctl a publish "$T" --stdin <"$E2E_DIR/pub-a.txt" >/dev/null 2>"$E2E_DIR/pub-a.log" || fail "a: publish: $(cat "$E2E_DIR/pub-a.log")"
check "b answers status while a subscriber is stalled" ctl b status --json >/dev/null
check "the reading subscriber gets all 3,000 messages exactly once" \
    py deliver.py --timeout 90 --prefix "lagged-$E2E_RUN" --pub "a=$E2E_DIR/pub-a.txt" --sub "b=$E2E_DIR/fast.out"

touch "$E2E_DIR/resume"
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
check "received + dropped covers the 3,000 messages ($received + $dropped)" test $((received + dropped)) -ge 3000
check "the stalled subscriber lost messages, it did not stall b ($received < 3000)" test "$received" -lt 3000
status_json b
e2e_log "b counters with 'lag' or 'drop': $(py ctlq.py sum 'lag|drop' <"$E2E_DIR/b.status.json")"
node_alive b || fail "b died"
