# SPDX-License-Identifier: MIT
# tests/e2e/lib.sh: shared helpers of the end-to-end tests (sourced, not run).
#
# A test script calls `e2e_init "$@"` first (arguments: GOSSIPD GOSSIPCTL [LIMIT_S]).  e2e_init
#   - prints SKIPPED and exits 77 when gossipd is not built or network namespaces are unavailable;
#   - re-executes the script inside `unshare -rn` (a private network namespace with only `lo`,
#     brought up here), so nodes talk over loopback and nothing leaks out;
#   - makes a work directory ($E2E_DIR, kept on failure or with E2E_KEEP=1) and a watchdog that
#     ends the test after LIMIT_S seconds;
#   - installs the EXIT trap that stops every process started through these helpers (SIGTERM,
#     then SIGKILL after 3 s), so no gossipd or client outlives the test.
#
# Nodes: `node_start NAME [gossipd args...]` starts gossipd with --listen 127.0.0.1:0, a control
# socket $E2E_DIR/NAME.sock and a key file, waits for its `ready` line and records
# NODE_ID[NAME], NODE_ADDR[NAME], NODE_PID[NAME]; `node_peer NAME` prints ID@ADDR for --bootstrap.
# $E2E_NODE_ARGS (word-split) is appended to every node's arguments.
# Clients: `ctl NAME ARGS...` runs gossipctl on NAME's socket; `bg NAME CMD...` runs a
# background process that cleanup will stop.  Assertions: `check COND_CMD... ` / `fail MSG`.

set -uo pipefail

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -A NODE_ID NODE_ADDR NODE_PID
E2E_PIDS=()
E2E_FAILS=0
E2E_CHECKS=0

e2e_log() { printf '[%s %6.1fs] %s\n' "${E2E_NAME:-e2e}" "$(e2e_elapsed)" "$*" >&2; }

e2e_elapsed() {
    local now
    now=$(date +%s.%N)
    awk -v a="${E2E_T0:-$now}" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

e2e_skip() {
    echo "SKIPPED: $*"
    exit 77
}

# e2e_init GOSSIPD GOSSIPCTL [LIMIT_S]
e2e_init() {
    E2E_GOSSIPD=${1:-${GOSSIPD:-}}
    E2E_GOSSIPCTL=${2:-${GOSSIPCTL:-}}
    E2E_LIMIT=${3:-300}
    E2E_NAME=$(basename "$0" .sh)
    export E2E_GOSSIPD E2E_GOSSIPCTL E2E_LIMIT
    if [ -z "$E2E_GOSSIPD" ] || [ ! -x "$E2E_GOSSIPD" ]; then
        e2e_skip "gossipd is not built (got '${E2E_GOSSIPD}')"
    fi
    if [ -z "$E2E_GOSSIPCTL" ] || [ ! -x "$E2E_GOSSIPCTL" ]; then
        e2e_skip "gossipctl is not built (got '${E2E_GOSSIPCTL}')"
    fi
    command -v python3 >/dev/null || e2e_skip "python3 is missing"
    if [ -z "${E2E_IN_NS:-}" ]; then
        if ! unshare -rn true 2>/dev/null; then
            e2e_skip "network namespaces are unavailable (unshare -rn failed)"
        fi
        E2E_IN_NS=1 exec unshare -rn "$BASH" "$0" "$E2E_GOSSIPD" "$E2E_GOSSIPCTL" "$E2E_LIMIT"
    fi
    if ! ip link set lo up 2>/dev/null; then
        e2e_skip "cannot bring lo up in the namespace (ip from iproute2 missing?)"
    fi
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/e2e-$E2E_NAME.XXXXXX")
    E2E_T0=$(date +%s.%N)
    # the run tag makes every payload unique across runs (message ids are content hashes)
    E2E_RUN=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
    trap e2e_cleanup EXIT
    trap 'e2e_log "interrupted"; exit 130' INT
    trap 'e2e_log "time limit of ${E2E_LIMIT}s reached"; E2E_FAILS=$((E2E_FAILS + 1)); exit 1' USR1
    # the watchdog holds no pipe of ours (ctest waits for every holder of the output to close)
    (sleep "$E2E_LIMIT" && kill -USR1 $$) >/dev/null 2>&1 </dev/null &
    E2E_WATCHDOG=$!
    e2e_log "work dir $E2E_DIR, run tag $E2E_RUN, limit ${E2E_LIMIT}s"
}

# e2e_cleanup (EXIT trap): stop every process we started, report, keep the logs on failure.
e2e_cleanup() {
    local rc=$?
    pkill -TERM -P "$E2E_WATCHDOG" 2>/dev/null
    kill "$E2E_WATCHDOG" 2>/dev/null
    local p
    # children first (a background pipeline's members), then the processes we started
    for p in "${E2E_PIDS[@]}"; do pkill -TERM -P "$p" 2>/dev/null; done
    for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    local i
    for i in $(seq 30); do
        local alive=0
        for p in "${E2E_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for p in "${E2E_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    # a sanitizer build reports on stderr (the node's .log) and may go on running: any report
    # fails the test, whatever the deliveries showed
    local san f
    san=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' \
        "$E2E_DIR"/*.log 2>/dev/null)
    if [ -n "$san" ]; then
        for f in $san; do
            echo "--- sanitizer report in $f:" >&2
            grep -m1 -A 12 -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f" >&2
        done
        E2E_FAILS=$((E2E_FAILS + 1))
    fi
    if [ $rc -ne 0 ] || [ "$E2E_FAILS" -ne 0 ]; then
        local f
        for f in "$E2E_DIR"/*.log; do
            [ -s "$f" ] || continue
            echo "--- last lines of $f" >&2
            tail -n 15 "$f" >&2
        done
        echo "$E2E_NAME: FAILED ($E2E_FAILS of $E2E_CHECKS checks); files kept in $E2E_DIR" >&2
        [ $rc -eq 0 ] && rc=1
        exit $rc
    fi
    echo "$E2E_NAME: passed ($E2E_CHECKS checks) in $(e2e_elapsed)s"
    [ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_DIR"
    exit 0
}

# fail MSG: records a failed check (the test goes on, and fails at the end).
fail() {
    E2E_FAILS=$((E2E_FAILS + 1))
    E2E_CHECKS=$((E2E_CHECKS + 1))
    e2e_log "FAIL: $*"
}

# pass MSG: records a passed check.
pass() {
    E2E_CHECKS=$((E2E_CHECKS + 1))
    e2e_log "ok: $*"
}

# check MSG CMD...: runs CMD; a passed check when it succeeds, a failed one otherwise.
check() {
    local msg=$1
    shift
    if "$@"; then pass "$msg"; else fail "$msg"; fi
}

# fatal MSG: a failure after which the test cannot go on.
fatal() {
    fail "$*"
    exit 1
}

# bg NAME CMD...: runs CMD in the background (stdout to $E2E_DIR/NAME.out, stderr to NAME.log);
# sets BG_PID.  Cleanup stops it.
bg() {
    local name=$1
    shift
    "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.log" &
    BG_PID=$!
    E2E_PIDS+=("$BG_PID")
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds; false on timeout.
wait_for() {
    local limit=$1
    shift
    local end
    end=$(($(date +%s%N) + limit * 1000000000))
    while ! "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# node_start NAME [gossipd args...]: starts a node and waits (E2E_READY_S, default 20 s, at most)
# for its ready line.
node_start() {
    local name=$1
    shift
    bg "$name" "$E2E_GOSSIPD" --listen 127.0.0.1:0 --control "$E2E_DIR/$name.sock" \
        --key "$E2E_DIR/$name.key" --log-level "${E2E_LOG_LEVEL:-info}" "$@" ${E2E_NODE_ARGS:-}
    NODE_PID[$name]=$BG_PID
    if ! wait_for "${E2E_READY_S:-20}" node_ready_line "$name"; then
        kill -0 "${NODE_PID[$name]}" 2>/dev/null || e2e_log "$name exited: $(tail -n 5 "$E2E_DIR/$name.log")"
        # io_uring pins its buffers against RLIMIT_MEMLOCK, counted per user over all processes
        # (8 MiB here: about 44 shards machine-wide when not privileged); say so when it shows
        grep -q 'cannot allocate memory' "$E2E_DIR/$name.log" &&
            e2e_log "$name: out of locked memory? RLIMIT_MEMLOCK $(ulimit -l) KiB is shared by every io_uring of this user"
        fatal "$name: no ready line within ${E2E_READY_S:-20} s (gossipd $*)"
    fi
    local line
    line=$(grep -m1 '^ready ' "$E2E_DIR/$name.out")
    read -r _ NODE_ID[$name] NODE_ADDR[$name] _ <<<"$line"
    if ! [[ ${NODE_ID[$name]} =~ ^[0-9a-f]{64}$ ]] || ! [[ ${NODE_ADDR[$name]} =~ ^127\.0\.0\.1:[0-9]+$ ]]; then
        fatal "$name: malformed ready line: '$line'"
    fi
    if [ "$(grep -c . "$E2E_DIR/$name.out")" -ne 1 ]; then
        fail "$name: stdout has more than the ready line: $(head -c 300 "$E2E_DIR/$name.out")"
    fi
    # the socket exists once the node is ready; wait a little if it is created just after
    wait_for 5 test -S "$E2E_DIR/$name.sock" || fatal "$name: no control socket"
}

node_ready_line() {
    grep -q '^ready ' "$E2E_DIR/$1.out" 2>/dev/null && return 0
    kill -0 "${NODE_PID[$1]}" 2>/dev/null || return 0 # exited: stop waiting
    return 1
}

# node_peer NAME: ID@ADDR of a started node.
node_peer() { echo "${NODE_ID[$1]}@${NODE_ADDR[$1]}"; }

# node_alive NAME: the node's process still runs.
node_alive() { kill -0 "${NODE_PID[$1]}" 2>/dev/null; }

# ctl NAME ARGS...: gossipctl on NAME's control socket.
ctl() {
    local name=$1
    shift
    "$E2E_GOSSIPCTL" --control "$E2E_DIR/$name.sock" "$@"
}

# sock NAME: NAME's control socket path.
sock() { echo "$E2E_DIR/$1.sock"; }

# py SCRIPT ARGS...: runs one of the python helpers beside this file.
py() {
    local script=$1
    shift
    python3 "$E2E_LIB_DIR/$script" "$@"
}

# status_json NAME: `gossipctl status --json` of NAME into $E2E_DIR/NAME.status.json.
status_json() {
    ctl "$1" status --json >"$E2E_DIR/$1.status.json" 2>>"$E2E_DIR/ctl.log"
}

# topic_neighbors NAME TOPIC: number of active neighbours NAME has in TOPIC (0 if unknown).
topic_neighbors() {
    ctl "$1" topics --json 2>/dev/null | py ctlq.py neighbors "$2"
}

# has_neighbors NAME TOPIC [N]: NAME has at least N (default 1) active neighbours in TOPIC.
has_neighbors() {
    [ "$(topic_neighbors "$1" "$2")" -ge "${3:-1}" ]
}

# lacks_topic NAME TOPIC: NAME's `topics` reply answers and does not list TOPIC.
lacks_topic() {
    local out
    out=$(ctl "$1" topics --json) || return 1
    ! printf '%s' "$out" | py ctlq.py has "$2"
}

# has_subscribers NAME TOPIC N: NAME reports at least N local subscribers of TOPIC.
has_subscribers() {
    [ "$(ctl "$1" topics --json 2>/dev/null | py ctlq.py subscribers "$2")" -ge "$3" ]
}

# stop_node NAME: SIGTERM; sets STOP_MS to the time until the process exited, STOP_RC its status.
stop_node() {
    local pid=${NODE_PID[$1]} t0
    t0=$(date +%s%N)
    kill -TERM "$pid" 2>/dev/null
    local i
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    STOP_MS=$((($(date +%s%N) - t0) / 1000000))
    if kill -0 "$pid" 2>/dev/null; then
        STOP_RC=timeout
        return 1
    fi
    wait "$pid"
    STOP_RC=$?
    return 0
}
