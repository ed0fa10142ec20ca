#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e control-socket abuse (issue 7 acceptance 6): while a publishes 500 messages to b, hostile
# clients hit b's control socket (abuse.py: malformed JSON, a 100 MB line, 1,000 clients at once
# against a limit of 600, clients vanishing mid-request).  Every abuse gets an error or a clean close, b never crashes,
# and b's well-behaved subscriber still receives all 500 messages exactly once.
# Usage: abuse.sh GOSSIPD GOSSIPCTL [LIMIT_S]
. "$(dirname "$0")/lib.sh"
e2e_init "$@"

T="e2e-abuse-$E2E_RUN"
node_start a --join "$T"
# b serves at most 600 control clients: part of the 1,000 are told `limit`
node_start b --bootstrap "$(node_peer a)" --join "$T" --set control.max_clients=600
wait_for 30 has_neighbors b "$T" 1 || fatal "b: no neighbour in $T"
bg good "$E2E_GOSSIPCTL" --control "$(sock b)" subscribe "$T" --json
wait_for 20 has_subscribers b "$T" 1 || fatal "b: subscriber not registered"

seq -f "abuse-$E2E_RUN-pub-%03g" 1 500 >"$E2E_DIR/pub-a.txt"
(while read -r m; do
    ctl a publish "$T" "$m" >/dev/null 2>>"$E2E_DIR/pub-a.log" || echo "publish of $m failed" >>"$E2E_DIR/pub-a.log"
    sleep 0.01
done <"$E2E_DIR/pub-a.txt") &
publisher=$!
E2E_PIDS+=("$publisher")
if py abuse.py "$(sock b)" "${NODE_PID[b]}" "$T" 600 >"$E2E_DIR/abuse.txt" 2>&1; then
    pass "every abuse answered with an error or a close (abuse.py)"
else
    fail "abuse.py: $(grep -c FAIL "$E2E_DIR/abuse.txt") failed steps"
fi
sed 's/^/    /' "$E2E_DIR/abuse.txt" >&2
wait "$publisher"
check "a published all 500 messages" test ! -s "$E2E_DIR/pub-a.log"
check "b's well-behaved subscriber got all 500 messages exactly once" \
    py deliver.py --timeout 60 --prefix "abuse-$E2E_RUN-pub" --pub "a=$E2E_DIR/pub-a.txt" --sub "b=$E2E_DIR/good.out"
check "b is alive" node_alive b
check "b stops cleanly" stop_node b
check "b exit status 0 (got $STOP_RC)" test "$STOP_RC" = 0
