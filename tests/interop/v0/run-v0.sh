#!/bin/bash
# SPDX-License-Identifier: MIT
# run-v0.sh CASE GOSSIPD [SECONDS]: mixed swarms of gossipd and real iroh-gossip 0.35 nodes
# (npm @number0/iroh 0.35.0, pinned in this directory's package-lock.json), inside `unshare -rn`
# (loopback only).  Makes sure node_modules matches the lock file first (npm ci); exits 77 with
# "SKIPPED: <why>" when node, npm, the registry or unprivileged namespaces are unavailable.
# The cases are in swarm.mjs; docs/INTEROP-tests.md describes them.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
case_name=${1:-}
gossipd=${2:-}
secs=${3:-}

skip() {
    echo "SKIPPED: $*"
    echo "SKIPPED: $*" >&2
    exit 77
}
die() {
    echo "FAIL: $*"
    exit 1
}

[ -n "$case_name" ] && [ -n "$gossipd" ] || {
    echo "usage: run-v0.sh swarm|relay|bridge|faults|sizes|soak GOSSIPD [SECONDS]" >&2
    exit 64
}
[ -x "$gossipd" ] || die "gossipd not found or not executable: $gossipd"
gossipd=$(cd "$(dirname "$gossipd")" && pwd)/$(basename "$gossipd")

if [ -z "${GS_INTEROP_IN_NETNS:-}" ]; then
    command -v node >/dev/null 2>&1 || skip "node is not installed"
    command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"
    command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"
    # npm ci at most once at a time (ctest may run several interop tests in parallel).
    exec 9>"${TMPDIR:-/tmp}/gossipd-interop-v0-npm.lock"
    flock -w 300 9 || die "timed out waiting for another npm ci"
    want=$(node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/@number0/iroh"].version)' \
        "$here/package-lock.json" 2>/dev/null)
    have=$(node -e 'console.log(require(process.argv[1]).version)' \
        "$here/node_modules/@number0/iroh/package.json" 2>/dev/null)
    # Also load the native binding: an interrupted install can leave a package without it.
    if [ -z "$have" ] || [ "$have" != "$want" ] ||
        ! (cd "$here" && node --no-deprecation -e 'require("@number0/iroh").Iroh.memory') >/dev/null 2>&1; then
        command -v npm >/dev/null 2>&1 || skip "npm is not installed and $here/node_modules is missing"
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

err=$(ip link set lo up 2>&1) || skip "cannot bring up lo in the namespace: $err"
exec node --no-deprecation "$here/swarm.mjs" "$case_name" "$gossipd" $secs
