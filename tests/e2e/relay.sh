#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e relay and backbone (issue 7 acceptance 3).
# Relay: a and b know only the relay r (not each other) and join a topic r never joined
# explicitly; they meet through r and exchange 1,000 messages each way, exactly once.  A topic on
# r's deny list is not relayed, and the relayed-topic cap holds; both refusals are counted.
# Backbone: k1, k2, k3 are backbone peers of each other; an application subscribed on k1 and one
# on k3 share a topic nobody bootstrapped: messages published on either reach the other.
# Usage: relay.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-relay-$E2E_RUN"
DENIED="e2e-relay-denied-$E2E_RUN"
CAP=3 # relayed topics at most: T and two more
node_start r --relay --set "relay.deny=$DENIED" --set "relay.max_topics=$CAP"
node_start a --bootstrap "$(node_peer r)"
node_start b --bootstrap "$(node_peer r)"

# a and b join T through r; r joins it as a relay.  r knows T only by its id (hex), which the
# join prints.
TH=$(ctl a join "$T" "$(node_peer r)" | cut -d' ' -f1) || fail "a: join $T via r"
ctl b join "$T" "$(node_peer r)" >/dev/null || fail "b: join $T via r"
[[ $TH =~ ^[0-9a-f]{64}$ ]] || fatal "join printed no topic id: '$TH'"
bg sub-a "$E2E_GOSSIPCTL" --control "$(sock a)" subscribe "$T" --json
bg sub-b "$E2E_GOSSIPCTL" --control "$(sock b)" subscribe "$T" --json
wait_for 30 has_neighbors r "$TH" 2 || fail "r does not relay $T with both a and b as neighbours"
check "r relays $T (it never joined it)" test "$(ctl r topics --json | py ctlq.py relayed)" -ge 1
wait_for 30 has_subscribers a "$T" 1 || fatal "a: subscriber not registered"
wait_for 30 has_subscribers b "$T" 1 || fatal "b: subscriber not registered"

seq -f "relay-$E2E_RUN-from-a-%04g" 1 1000 >"$E2E_DIR/pub-a.txt"
seq -f "relay-$E2E_RUN-from-b-%04g" 1 1000 >"$E2E_DIR/pub-b.txt"
ctl a publish "$T" --stdin <"$E2E_DIR/pub-a.txt" >/dev/null 2>"$E2E_DIR/pub-a.log" &
pa=$!
ctl b publish "$T" --stdin <"$E2E_DIR/pub-b.txt" >/dev/null 2>"$E2E_DIR/pub-b.log" &
pb=$!
wait $pa || fail "a: publish: $(cat "$E2E_DIR/pub-a.log")"
wait $pb || fail "b: publish: $(cat "$E2E_DIR/pub-b.log")"
check "a and b exchange 1,000 messages each way through the relay, exactly once" \
    py deliver.py --timeout 60 --prefix "relay-$E2E_RUN" --pub "a=$E2E_DIR/pub-a.txt" \
    --pub "b=$E2E_DIR/pub-b.txt" --sub "a=$E2E_DIR/sub-a.out" --sub "b=$E2E_DIR/sub-b.out"

# the denied topic: a asks r to join it; r refuses (not listed, counted)
status_json r
refused0=$(py ctlq.py sum '(^|\.)relay_refused$' <"$E2E_DIR/r.status.json")
DH=$(ctl a join "$DENIED" "$(node_peer r)" | cut -d' ' -f1) || fail "a: join $DENIED"
[[ $DH =~ ^[0-9a-f]{64}$ ]] || fatal "join printed no topic id: '$DH'"
sleep 2
check "r does not relay the denied topic" lacks_topic r "$DH"
# the cap: a asks for CAP more topics; r relays at most CAP in total
for k in $(seq 1 "$CAP"); do
    ctl a join "e2e-relay-cap-$E2E_RUN-$k" "$(node_peer r)" >/dev/null || fail "a: join cap topic $k"
done
sleep 3
relayed=$(ctl r topics --json | py ctlq.py relayed)
e2e_log "r relays $relayed topics (cap $CAP)"
check "r relays at most $CAP topics (relays $relayed)" test "$relayed" -le "$CAP"
check "r relays up to its cap ($relayed of $CAP)" test "$relayed" -eq "$CAP"
status_json r
refused1=$(py ctlq.py sum '(^|\.)relay_refused$' <"$E2E_DIR/r.status.json")
e2e_log "r refused-join counters: before $refused0, after $refused1"
check "r counts the refused Joins (denied topic and over the cap: $refused0 -> $refused1)" \
    test "$refused1" -ge $((refused0 + 2))
for n in r a b; do node_alive "$n" || fail "$n died"; done

# backbone: k2 and k3 name the nodes started before them; every node names all it knows
node_start k1
node_start k2 --backbone "$(node_peer k1)"
node_start k3 --backbone "$(node_peer k1)" --backbone "$(node_peer k2)"
BT="e2e-backbone-$E2E_RUN"
bg sub-k1 "$E2E_GOSSIPCTL" --control "$(sock k1)" subscribe "$BT" --json
bg sub-k3 "$E2E_GOSSIPCTL" --control "$(sock k3)" subscribe "$BT" --json
wait_for 30 has_subscribers k1 "$BT" 1 || fatal "k1: subscriber not registered"
wait_for 30 has_subscribers k3 "$BT" 1 || fatal "k3: subscriber not registered"
wait_for 30 has_neighbors k1 "$BT" 1 || fail "k1 has no neighbour in $BT (backbone peers not used)"
wait_for 30 has_neighbors k3 "$BT" 1 || fail "k3 has no neighbour in $BT (backbone peers not used)"
seq -f "backbone-$E2E_RUN-k1-%03g" 1 100 >"$E2E_DIR/pub-k1.txt"
seq -f "backbone-$E2E_RUN-k3-%03g" 1 100 >"$E2E_DIR/pub-k3.txt"
ctl k1 publish "$BT" --stdin <"$E2E_DIR/pub-k1.txt" >/dev/null 2>>"$E2E_DIR/pub-k.log" || fail "k1: publish"
ctl k3 publish "$BT" --stdin <"$E2E_DIR/pub-k3.txt" >/dev/null 2>>"$E2E_DIR/pub-k.log" || fail "k3: publish"
check "applications on k1 and k3 share a topic through the backbone (100 each way)" \
    py deliver.py --timeout 60 --prefix "backbone-$E2E_RUN" --pub "k1=$E2E_DIR/pub-k1.txt" \
    --pub "k3=$E2E_DIR/pub-k3.txt" --sub "k1=$E2E_DIR/sub-k1.out" --sub "k3=$E2E_DIR/sub-k3.out"
