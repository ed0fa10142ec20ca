#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-interop.sh: interop tests between gossipd's QUIC endpoint (gossip-bench transport) and real
# iroh 1.x endpoints (npm @number0/iroh, tests/interop/iroh-peer.mjs), over loopback inside a
# private network namespace (unshare -rn), so iroh cannot reach any relay or discovery service.
#
#   run-interop.sh CASE [GOSSIP_BENCH]
#
# CASE:
#   selftest          frames.mjs and the iroh key derivation against the byte vectors
#                     (GS_VECTORS_DIR, default ../../../shared/vectors)
#   self              iroh client -> iroh server (proves the JS peer); plus a wrong-id dial
#   iroh-to-gossipd   iroh client sends frames of various sizes to `gossip-bench transport server`
#   gossipd-to-iroh   `gossip-bench transport client` sends frames to the iroh server
#   gossipd-wrong-id  gossip-bench client dials the iroh server expecting another id: must fail
#   iroh-wrong-id     iroh client dials gossip-bench server expecting another id: must fail, and
#                     the server keeps serving a correct client afterwards
#   iroh-multi-topic  one iroh connection, four topics, streams written concurrently
#   iroh-parallel     five iroh clients at once
#   iroh-reconnect    one iroh endpoint connects three times in a row
#   iroh-idle         35 s idle between two streams (beyond the 30 s idle timeout)
#   iroh-truncated    iroh client streams ending (FIN) or reset inside a frame body
#   wrong-alpn        /iroh-gossip/0 against /iroh-gossip/1, iroh client and gossip-bench client
#   iroh-vectors      every wire vector frame from iroh to gossip-bench, decoded by gossipd's codec
#   gossipd-multi-topic  gossip-bench client, 8 topics on one connection -> iroh server
#   gossipd-idle      gossip-bench client idles 35 s before sending -> iroh server
#   *-bulk            iroh-to-gossipd / gossipd-to-iroh with 2000 frames (about 3.8 and 8.2 MB)
#   iroh-bad-frames   iroh client sends a body of exactly max_message_size (accepted), one over it
#                     (the server must stop that stream and deliver nothing after it), an
#                     undecodable body, then a fresh stream that must still work
#
# Exit status: 0 pass, 1 fail, 77 skipped (prints "SKIPPED: <why>"), 64 usage.
# Environment: GS_INTEROP_KEEP=1 keeps the work directory (also kept on failure);
# GS_INTEROP_LOG=Trace|Debug|Info makes the iroh peers log; GS_INTEROP_PCAP=1 captures the
# loopback traffic with tshark into the work directory.
set -uo pipefail

# The whole script is one brace group, so bash parses it completely before running it: editing
# the file while a (37 s) case runs cannot make the running copy read mixed-up lines.
{
here=$(cd "$(dirname "$0")" && pwd)
case_name=${1:-}
bench=${2:-}

skip() {
    echo "SKIPPED: $*"
    echo "SKIPPED: $*" >&2
    exit 77
}
die() {
    echo "FAIL: $*"
    exit 1
}

case "$case_name" in
self) ;;
selftest)
    vectors=${GS_VECTORS_DIR:-$here/../../../shared/vectors}
    [ -f "$vectors/iroh-gossip-wire.txt" ] || die "byte vectors not found in $vectors (set GS_VECTORS_DIR)"
    ;;
iroh-to-gossipd | gossipd-to-iroh | gossipd-wrong-id | iroh-wrong-id | iroh-bad-frames | \
    iroh-to-gossipd-bulk | gossipd-to-iroh-bulk | iroh-multi-topic | iroh-parallel | \
    iroh-reconnect | iroh-idle | iroh-truncated | wrong-alpn | iroh-vectors | gossipd-multi-topic | \
    gossipd-idle)
    [ -n "$bench" ] || die "$case_name needs the path of gossip-bench"
    [ -x "$bench" ] || die "gossip-bench not found or not executable: $bench"
    bench=$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")
    ;;
*)
    echo "usage: run-interop.sh selftest|self|iroh-to-gossipd[-bulk]|gossipd-to-iroh[-bulk]|gossipd-wrong-id|iroh-wrong-id|iroh-bad-frames|iroh-multi-topic|iroh-parallel|iroh-reconnect|iroh-idle|iroh-truncated|wrong-alpn|iroh-vectors|gossipd-multi-topic|gossipd-idle [GOSSIP_BENCH]" >&2
    exit 64
    ;;
esac

# ---------------------------------------------------------------------------------------------
# Outside the namespace: tools, node_modules (npm needs the registry), then re-exec inside.
if [ -z "${GS_INTEROP_IN_NETNS:-}" ]; then
    command -v node >/dev/null 2>&1 || skip "node is not installed"
    command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"
    command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"
    # npm ci at most once at a time (ctest may run several interop tests in parallel).
    exec 9>"${TMPDIR:-/tmp}/gossipd-interop-npm.lock"
    flock -w 300 9 || die "timed out waiting for another npm ci"
    want=$(node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/@number0/iroh"].version)' \
        "$here/package-lock.json" 2>/dev/null)
    have=$(node -e 'console.log(require(process.argv[1]).version)' \
        "$here/node_modules/@number0/iroh/package.json" 2>/dev/null)
    # Also load the native binding: an interrupted install can leave a package without it.
    if [ -z "$have" ] || [ "$have" != "$want" ] ||
        ! (cd "$here" && node -e 'require("@number0/iroh"); require("@noble/hashes/blake3")') >/dev/null 2>&1; then
        if ! command -v npm >/dev/null 2>&1; then
            skip "npm is not installed and $here/node_modules is missing"
        fi
        log=$(mktemp)
        (cd "$here" && timeout 180 npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 \
            --fetch-retry-mintimeout=1000 --fetch-retry-maxtimeout=3000) >"$log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            cat "$log"
            if [ $rc -eq 124 ] || grep -qiE 'ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|EHOSTUNREACH|network|socket hang up|timed out' "$log"; then
                rm -f "$log"
                skip "npm ci could not reach the registry (exit $rc; output above)"
            fi
            rm -f "$log"
            die "npm ci failed with exit $rc (output above)"
        fi
        rm -f "$log"
    fi
    exec 9>&-
    err=$(unshare -rn true 2>&1) || skip "unshare -rn (user + network namespace) is not permitted here: $err"
    export GS_INTEROP_IN_NETNS=1
    exec unshare -rn "$0" "$@"
fi

# ---------------------------------------------------------------------------------------------
# Inside the namespace: only a loopback interface exists.
err=$(ip link set lo up 2>&1) || skip "cannot bring up lo in the namespace: $err"

work=$(mktemp -d "${TMPDIR:-/tmp}/gs-interop-$case_name.XXXXXX")
pids=()
failed=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$failed" -ne 0 ] || [ -n "${GS_INTEROP_KEEP:-}" ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

peer=(node "$here/iroh-peer.mjs")
logopt=()
[ -n "${GS_INTEROP_LOG:-}" ] && logopt=(--log "$GS_INTEROP_LOG")
topic=$(printf 'a5%.0s' $(seq 32))

if [ -n "${GS_INTEROP_PCAP:-}" ] && command -v tshark >/dev/null 2>&1; then
    tshark -i lo -f udp -w "$work/lo.pcapng" >"$work/tshark.log" 2>&1 &
    pids+=($!)
    sleep 1
fi

fail() {
    failed=1
    echo "FAIL: $*"
    local f
    for f in "$work"/*.out "$work"/*.err; do
        [ -s "$f" ] || continue
        echo "---- $(basename "$f") (last 30 lines)"
        tail -n 30 "$f"
    done
    exit 1
}

# start NAME CMD...: run CMD in the background with stdout/stderr in $work/NAME.{out,err}.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    last_pid=$!
}

# wait_ready NAME PID SECS: wait for the "ready <id> <addr>" line; sets ready_id, ready_addr.
wait_ready() {
    local name=$1 pid=$2 secs=$3 i line
    for ((i = 0; i < secs * 10; i++)); do
        line=$(grep -m1 '^ready ' "$work/$name.out" 2>/dev/null)
        if [ -n "$line" ]; then
            read -r _ ready_id ready_addr <<<"$line"
            [[ "$ready_id" =~ ^[0-9a-f]{64}$ ]] || fail "$name: bad id in ready line: $line"
            [[ "$ready_addr" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "$name: bad address in ready line: $line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name exited before printing its ready line"
        sleep 0.1
    done
    fail "$name printed no ready line within $secs s (is its stdout flushed per line?)"
}

# wait_match NAME REGEX SECS: wait until $work/NAME.out has a line matching REGEX.
wait_match() {
    local name=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE "$re" "$work/$name.out" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_exit PID SECS: wait for a background process; sets exit_rc (124 when it had to be killed).
wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            exit_rc=$?
            return 0
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    exit_rc=124
}

# stop PID: SIGTERM a server that runs until told to stop, reap it, and require a clean exit
# (gossip-bench stops its engine on SIGTERM and returns 0; a sanitizer report makes it non-zero).
stop() {
    kill -TERM "$1" 2>/dev/null
    wait_exit "$1" 5
    [ "$exit_rc" -eq 0 ] || fail "server (pid $1) exited with status $exit_rc after SIGTERM"
}

check() {
    node "$here/check.mjs" "$@" >"$work/check.log" 2>&1
    local rc=$?
    cat "$work/check.log"
    [ $rc -eq 0 ] || fail "assertions failed (above)"
}

newkey() {
    "${peer[@]}" keygen "$work/$1.key" || fail "keygen $1"
}

# The iroh client's id, from its first JSON line.
client_id() {
    node -e 'for (const l of require("fs").readFileSync(process.argv[1],"utf8").split("\n")) {
        if (l.startsWith("{")) { const e = JSON.parse(l); if (e.event === "client") { console.log(e.self); break } } }' \
        "$work/$1.out"
}

sizes_iroh="0,1,2,127,128,129,1000,1200,1400,2000,4000,4057"
nframes_iroh=240

# Receiver-side limits (PROTOCOL.md 3.2, max_message_size 4096): stream 0 carries a body of exactly
# 4096 bytes (accepted) and then one of 4097 (the receiver stops the stream; nothing after it may
# be delivered); stream 1 ends with an undecodable body; stream 2 shows the connection still works.
bad_plan="100,o4058,200,o4059!,300!;50,x;10,20,30"
# Truncation: stream 0 ends (FIN) inside a frame body, stream 1 is reset (code 7) inside one;
# only the complete frames before the cut may be delivered; stream 2 must still work.
cut_plan="10,20,h100;t1:30,h4000#7;t2:40,50"

case_self() {
    start srv "${peer[@]}" server --conns 3 --timeout 60 "${logopt[@]}"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames $nframes_iroh \
        --sizes "$sizes_iroh" "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client -> iroh server failed"
    local cid
    cid=$(client_id cli)
    # Wrong id: dial the same server expecting a fresh, unrelated id.
    local wrong
    wrong=$(newkey wrong)
    if "${peer[@]}" client --connect "$wrong@$saddr" --topic "$topic" --frames 1 "${logopt[@]}" \
        >"$work/wrong.out" 2>"$work/wrong.err"; then
        fail "iroh client dialing the wrong id succeeded"
    fi
    grep -q 'invalid peer certificate' "$work/wrong.err" ||
        fail "wrong-id dial failed without the expected certificate error"
    # The iroh reader stops a stream at an undecodable body too (the reference does).
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "${bad_plan/x/x!}" \
        --expect-stop 0,1 "${logopt[@]}" >"$work/bad.out" 2>"$work/bad.err" ||
        fail "iroh client with over-limit frames: $(tail -n 1 "$work/bad.err")"
    local bid
    bid=$(client_id bad)
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "$cut_plan" \
        "${logopt[@]}" >"$work/cut.out" 2>"$work/cut.err" ||
        fail "iroh client with truncated streams: $(tail -n 1 "$work/cut.err")"
    local tid
    tid=$(client_id cut)
    wait_exit "$spid" 30
    [ "$exit_rc" -eq 0 ] || fail "iroh server exited with $exit_rc"
    check recv --out "$work/srv.out" --peer "$cid" --topic "$topic" --expect "$work/cli.out" \
        --ids 1 --closed 1
    check recv --out "$work/srv.out" --peer "$bid" --topic "$topic" --expect "$work/bad.out" \
        --ids 1 --closed 1 --stream-errors 2
    check recv --out "$work/srv.out" --peer "$tid" --expect "$work/cut.out" \
        --ids 1 --closed 1 --stream-errors 2
    grep -q '"event":"handshake_failed"' "$work/srv.out" ||
        fail "iroh server did not report the failed handshake"
}

# (a) iroh client -> gossip-bench transport server
case_iroh_to_gossipd() {
    newkey server >/dev/null
    local want_sid
    want_sid=$(sed -n 's/^# .*endpoint id \([0-9a-f]*\)$/\1/p' "$work/server.key")
    start srv "$bench" transport server --listen 127.0.0.1:0 --key "$work/server.key"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    [ "$sid" = "$want_sid" ] ||
        fail "gossip-bench derived id $sid from the key file, iroh derives $want_sid"
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames $nframes_iroh \
        --sizes "$sizes_iroh" "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client -> gossip-bench server failed: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    grep -q "\"event\":\"connected\",\"peer\":\"$sid\"" "$work/cli.out" ||
        fail "iroh client did not see the server id $sid"
    wait_match srv "\"event\":\"closed\".*\"peer\":\"$cid\"|\"peer\":\"$cid\".*\"event\":\"closed\"" 10 ||
        fail "gossip-bench server printed no \"closed\" event for $cid within 10 s"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --topic "$topic" --expect "$work/cli.out" \
        --closed 1
}

# (b) gossip-bench transport client -> iroh server
# gossip-bench needs >= 16 content bytes (a unique counter + salt lead every content).
sizes_bench="16 17 127 128 1000 1400 4057"
nframes_bench=50
case_gossipd_to_iroh() {
    local n=0 s
    for s in $sizes_bench; do n=$((n + 1)); done
    start srv "${peer[@]}" server --conns $n --timeout 90 "${logopt[@]}"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    local cid
    cid=$(newkey client)
    local i=0
    for s in $sizes_bench; do
        if ! timeout 30 "$bench" transport client --connect "$sid@$saddr" --key "$work/client.key" \
            --topic "$topic" --frames $nframes_bench --size "$s" >"$work/bench$i.out" 2>"$work/bench$i.err"; then
            fail "gossip-bench client (--size $s) failed"
        fi
        i=$((i + 1))
    done
    wait_exit "$spid" 45
    [ "$exit_rc" -eq 0 ] || fail "iroh server exited with $exit_rc (124: it was still waiting)"
    check recv-sizes --out "$work/srv.out" --peer "$cid" --topic "$topic" \
        --frames $nframes_bench --sizes "$(echo "$sizes_bench" | tr ' ' ,)"
}

# (c) gossip-bench client dialing the iroh server with a different expected id
case_gossipd_wrong_id() {
    start srv "${peer[@]}" server --conns 1 --timeout 60 "${logopt[@]}"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    local wrong
    wrong=$(newkey wrong)
    newkey client >/dev/null
    local t0 rc
    t0=$(date +%s)
    timeout 30 "$bench" transport client --connect "$wrong@$saddr" --key "$work/client.key" \
        --topic "$topic" --frames 1 --size 100 >"$work/bench.out" 2>"$work/bench.err"
    rc=$?
    [ $rc -ne 0 ] || fail "gossip-bench client dialing the wrong id exited 0"
    [ $rc -ne 124 ] || fail "gossip-bench client dialing the wrong id hung (killed after 30 s)"
    echo "gossip-bench client: exit $rc after $(($(date +%s) - t0)) s; its error output:"
    cat "$work/bench.err" "$work/bench.out" | tail -n 5
    grep -qiE "mismatch|not the dialed|unexpected (peer|server|key|id)|wrong (peer|server|key|id)|expected.*$wrong|$wrong" \
        "$work/bench.err" "$work/bench.out" ||
        fail "gossip-bench's error does not say that the server key differed from the dialed id"
    wait_match srv '"event":"handshake_failed"' 10 ||
        fail "iroh server did not see a failed handshake"
    stop "$spid"
    check no-connect --out "$work/srv.out" --peer "$(sed -n 's/^# .*endpoint id \([0-9a-f]*\)$/\1/p' "$work/client.key")"
}

# (d) iroh client dialing gossip-bench server with a different expected id, then a correct one
case_iroh_wrong_id() {
    newkey server >/dev/null
    start srv "$bench" transport server --listen 127.0.0.1:0 --key "$work/server.key"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    local wrong
    wrong=$(newkey wrong)
    if "${peer[@]}" client --connect "$wrong@$saddr" --topic "$topic" --frames 1 "${logopt[@]}" \
        >"$work/wrong.out" 2>"$work/wrong.err"; then
        fail "iroh client dialing the wrong id succeeded"
    fi
    grep -q 'invalid peer certificate' "$work/wrong.err" ||
        fail "wrong-id dial failed without the expected certificate error: $(tail -n 1 "$work/wrong.err")"
    local wid
    wid=$(client_id wrong)
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames 3 --sizes 10,20,30 \
        "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "correct iroh client after the wrong-id dial failed: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_match srv "\"event\":\"closed\".*\"peer\":\"$cid\"|\"peer\":\"$cid\".*\"event\":\"closed\"" 10 ||
        fail "gossip-bench server printed no \"closed\" event for $cid within 10 s"
    stop "$spid"
    check no-connect --out "$work/srv.out" --peer "$wid"
    check recv --out "$work/srv.out" --peer "$cid" --topic "$topic" --expect "$work/cli.out"
}

# (e) iroh client sends over-limit and undecodable frames to gossip-bench transport server
case_iroh_bad_frames() {
    newkey server >/dev/null
    start srv "$bench" transport server --listen 127.0.0.1:0 --key "$work/server.key"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local sid=$ready_id saddr=$ready_addr
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "$bad_plan" --expect-stop 0 \
        "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_match srv "\"event\":\"closed\".*\"peer\":\"$cid\"|\"peer\":\"$cid\".*\"event\":\"closed\"" 10 ||
        fail "gossip-bench server printed no \"closed\" event for $cid within 10 s"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --topic "$topic" --expect "$work/cli.out" \
        --closed 1
}

# start_bench_server: gossip-bench transport server with a key made by iroh-peer; sets sid, saddr,
# spid and checks that both derive the same endpoint id from the key file.
start_bench_server() {
    newkey server >/dev/null
    local want
    want=$(sed -n 's/^# .*endpoint id \([0-9a-f]*\)$/\1/p' "$work/server.key")
    start srv "$bench" transport server --listen 127.0.0.1:0 --key "$work/server.key"
    spid=$last_pid
    wait_ready srv "$spid" 20
    sid=$ready_id
    saddr=$ready_addr
    [ "$sid" = "$want" ] || fail "gossip-bench derived id $sid from the key file, iroh derives $want"
}

# wait_closed ID: wait until the gossip-bench server printed "closed" for peer ID (10 s).
wait_closed() {
    wait_match srv "\"event\":\"closed\".*\"peer\":\"$1\"|\"peer\":\"$1\".*\"event\":\"closed\"" 10 ||
        fail "gossip-bench server printed no \"closed\" event for $1 within 10 s"
}

# count_matches NAME REGEX: number of lines of $work/NAME.out matching REGEX.
count_matches() {
    grep -cE "$2" "$work/$1.out"
}

# (j) iroh client streams that end or are reset inside a frame body
case_iroh_truncated() {
    start_bench_server
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "$cut_plan" \
        "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_closed "$cid"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1
}

# (k) ALPN mismatch in both directions: /iroh-gossip/0 against /iroh-gossip/1
case_wrong_alpn() {
    # iroh client offering only /iroh-gossip/0 to gossip-bench's server
    start_bench_server
    if "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames 1 --alpn /iroh-gossip/0 \
        "${logopt[@]}" >"$work/wrong.out" 2>"$work/wrong.err"; then
        fail "iroh client with ALPN /iroh-gossip/0 got connected"
    fi
    echo "iroh client (ALPN /iroh-gossip/0): $(tail -n 1 "$work/wrong.err")"
    grep -qiE 'alert 120|error 120|no_application_protocol|NoApplicationProtocol|alpn' "$work/wrong.err" ||
        fail "the iroh client's error does not name the ALPN mismatch"
    local wid
    wid=$(client_id wrong)
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames 2 "${logopt[@]}" \
        >"$work/cli.out" 2>"$work/cli.err" || fail "correct iroh client afterwards: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_closed "$cid"
    stop "$spid"
    check no-connect --out "$work/srv.out" --peer "$wid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1

    # gossip-bench client against an iroh server that accepts only /iroh-gossip/0
    start srv0 "${peer[@]}" server --conns 1 --timeout 60 --alpn /iroh-gossip/0 "${logopt[@]}"
    local spid0=$last_pid
    wait_ready srv0 "$spid0" 20
    newkey client >/dev/null
    local rc
    timeout 30 "$bench" transport client --connect "$ready_id@$ready_addr" --key "$work/client.key" \
        --topic "$topic" --frames 1 --size 100 >"$work/bench.out" 2>"$work/bench.err"
    rc=$?
    [ $rc -ne 0 ] || fail "gossip-bench client got through to an iroh server without /iroh-gossip/1"
    [ $rc -ne 124 ] || fail "gossip-bench client hung against the ALPN mismatch (killed after 30 s)"
    echo "gossip-bench client (server speaks /iroh-gossip/0): exit $rc: $(cat "$work/bench.err" "$work/bench.out" | tail -n 1)"
    grep -qiE 'alpn|application protocol|alert 120' "$work/bench.err" "$work/bench.out" ||
        fail "gossip-bench's error does not name the ALPN mismatch"
    stop "$spid0"
}

# (l) every wire vector frame, sent by iroh over one stream to gossip-bench's server, which
# decodes each with gossipd's codec: the kinds it reports must match the vectors' names.
case_iroh_vectors() {
    local vectors=${GS_VECTORS_DIR:-$here/../../../shared/vectors}
    [ -f "$vectors/iroh-gossip-wire.txt" ] || fail "byte vectors not found in $vectors (set GS_VECTORS_DIR)"
    start_bench_server
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" \
        --vectors "$vectors/iroh-gossip-wire.txt" "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_closed "$cid"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1
}

# (m) gossip-bench client: one connection, 8 topics (one stream each, written concurrently)
case_gossipd_multi_topic() {
    start srv "${peer[@]}" server --conns 1 --timeout 60 "${logopt[@]}"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local cid
    cid=$(newkey client)
    timeout 30 "$bench" transport client --connect "$ready_id@$ready_addr" --key "$work/client.key" \
        --topic "$topic" --frames 400 --size 700 --topics 8 >"$work/bench.out" 2>"$work/bench.err" ||
        fail "gossip-bench client --topics 8 failed"
    wait_exit "$spid" 15
    [ "$exit_rc" -eq 0 ] || fail "iroh server exited with $exit_rc (124: it was still waiting)"
    check recv-topics --out "$work/srv.out" --peer "$cid" --topic "$topic" --frames 400 \
        --topics 8 --size 700
}

# (n) gossip-bench client idle for 35 s (past the 30 s idle timeout) before it sends
case_gossipd_idle() {
    start srv "${peer[@]}" server --conns 1 --timeout 90 "${logopt[@]}"
    local spid=$last_pid
    wait_ready srv "$spid" 20
    local cid
    cid=$(newkey client)
    timeout 60 "$bench" transport client --connect "$ready_id@$ready_addr" --key "$work/client.key" \
        --topic "$topic" --frames 20 --size 100 --idle-ms 35000 >"$work/bench.out" 2>"$work/bench.err" ||
        fail "gossip-bench client with --idle-ms 35000 failed"
    wait_exit "$spid" 15
    [ "$exit_rc" -eq 0 ] || fail "iroh server exited with $exit_rc (124: it was still waiting)"
    check recv-sizes --out "$work/srv.out" --peer "$cid" --topic "$topic" --frames 20 --sizes 100
}

# (f) one connection, four topics, their streams written concurrently
case_iroh_multi_topic() {
    start_bench_server
    # rep LIST N: LIST (comma-separated) repeated N times.
    rep() {
        local out="" k
        for ((k = 0; k < $2; k++)); do out="$out${out:+,}$1"; done
        echo "$out"
    }
    local p
    p="t1:$(rep 1000,1,4057,128,17 10);t2:$(rep 200 50);t3:$(rep 4057 40);t4:$(rep 0,1,2,3,4,5,6 10)"
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "$p" --concurrent \
        "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_closed "$cid"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1
}

# (g) five iroh clients at once
case_iroh_parallel() {
    start_bench_server
    local i cpids=()
    for i in 0 1 2 3 4; do
        "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames 200 \
            --sizes "$((i * 7 + 1)),1000,4057,$((i * 300))" "${logopt[@]}" \
            >"$work/cli$i.out" 2>"$work/cli$i.err" &
        cpids+=($!)
    done
    for i in 0 1 2 3 4; do
        wait "${cpids[$i]}" || fail "iroh client $i: $(tail -n 1 "$work/cli$i.err")"
    done
    for i in 0 1 2 3 4; do
        wait_closed "$(client_id "cli$i")"
    done
    stop "$spid"
    for i in 0 1 2 3 4; do
        check recv --out "$work/srv.out" --peer "$(client_id "cli$i")" --expect "$work/cli$i.out" --closed 1
    done
}

# (h) one iroh endpoint connects three times in a row (same peer id, new connections)
case_iroh_reconnect() {
    start_bench_server
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --frames 50 --sizes 100,2000 --repeat 3 \
        "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(count_matches srv "\"event\":\"closed\".*\"peer\":\"$cid\"")" -ge 3 ] && break
        sleep 0.1
    done
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1
}

# (i) a connection idle for longer than the 30 s idle timeout (iroh's 5 s keep-alives must keep it)
case_iroh_idle() {
    start_bench_server
    "${peer[@]}" client --connect "$sid@$saddr" --topic "$topic" --plan "10,20;30,40" --idle-ms 35000 \
        --timeout 60 "${logopt[@]}" >"$work/cli.out" 2>"$work/cli.err" ||
        fail "iroh client: $(tail -n 1 "$work/cli.err")"
    local cid
    cid=$(client_id cli)
    wait_closed "$cid"
    stop "$spid"
    check recv --out "$work/srv.out" --peer "$cid" --expect "$work/cli.out" --closed 1
}

echo "interop case $case_name (work directory $work)"
case "$case_name" in
selftest) node "$here/iroh-peer.mjs" selftest "$vectors" || fail "selftest" ;;
self) case_self ;;
iroh-to-gossipd) case_iroh_to_gossipd ;;
gossipd-to-iroh) case_gossipd_to_iroh ;;
gossipd-wrong-id) case_gossipd_wrong_id ;;
iroh-wrong-id) case_iroh_wrong_id ;;
iroh-bad-frames) case_iroh_bad_frames ;;
iroh-multi-topic) case_iroh_multi_topic ;;
iroh-parallel) case_iroh_parallel ;;
iroh-reconnect) case_iroh_reconnect ;;
iroh-idle) case_iroh_idle ;;
iroh-truncated) case_iroh_truncated ;;
wrong-alpn) case_wrong_alpn ;;
iroh-vectors) case_iroh_vectors ;;
gossipd-multi-topic) case_gossipd_multi_topic ;;
gossipd-idle) case_gossipd_idle ;;
iroh-to-gossipd-bulk)
    sizes_iroh="1000,4057,1,128,4057"
    nframes_iroh=2000
    case_iroh_to_gossipd
    ;;
gossipd-to-iroh-bulk)
    sizes_bench="4057"
    nframes_bench=2000
    case_gossipd_to_iroh
    ;;
esac
# A sanitizer build of gossip-bench reports to stderr; any report fails the case.
if grep -lE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$work"/*.err 2>/dev/null; then
    fail "sanitizer report in the files listed above"
fi
echo "PASS: $case_name"
exit 0
}
