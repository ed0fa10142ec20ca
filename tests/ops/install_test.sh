#!/bin/bash
# SPDX-License-Identifier: MIT
# install_test.sh BUILD_DIR: `cmake --install` into a temporary prefix, then check what landed
# (the three programs, their --help, the example configuration with every key explained, the
# systemd unit and its hardening) and start the installed gossipd from the example
# configuration (with the key and socket paths the unit passes, moved under the prefix, and
# free ports): ready line, key file 0600, gossipctl status, /metrics, SIGTERM exit 0.
set -u
build=$1
prefix=$(mktemp -d /tmp/install_test.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$prefix"; }
trap cleanup EXIT
fail() { echo "install_test: FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$prefix/install.log" 2>&1 ||
    { cat "$prefix/install.log"; fail "cmake --install"; }
for p in gossipd gossipctl gossip-bench; do
    [ -x "$prefix/bin/$p" ] || fail "bin/$p not installed"
done
doc=$prefix/share/doc/gossipd
unit=$prefix/lib/systemd/system/gossipd.service
[ -d "$doc" ] || doc=$(dirname "$(find "$prefix" -name gossipd.conf.example | head -1)")
example=$doc/gossipd.conf.example
[ -f "$example" ] || fail "no example configuration"
[ -f "$unit" ] || unit=$(find "$prefix" -name gossipd.service | head -1)
[ -f "$unit" ] || fail "no systemd unit"
for d in config.md control.md metrics.md; do [ -f "$doc/$d" ] || fail "doc $d not installed"; done

# --help of each program: exit 0 and complete
"$prefix/bin/gossipd" --help >"$prefix/h1" || fail "gossipd --help"
for f in --config --key --listen --advertise --shards --bootstrap --join --relay --backbone \
         --control --metrics --log-level --broadcast-policy --rtt-timeouts --set --check-config \
         --version; do
    grep -q -- "$f" "$prefix/h1" || fail "gossipd --help lacks $f"
done
"$prefix/bin/gossipctl" --help >"$prefix/h2" || fail "gossipctl --help"
for c in status peers topics join leave publish subscribe top; do
    grep -q "gossipctl $c" "$prefix/h2" || fail "gossipctl --help lacks $c"
done
for m in swarm relay nats; do
    "$prefix/bin/gossip-bench" "$m" --help 2>"$prefix/h3" || fail "gossip-bench $m --help"
    grep -q "usage: gossip-bench $m" "$prefix/h3" || fail "gossip-bench $m --help"
done

# the example explains every key gossipd has (active or commented out), each after a comment
"$prefix/bin/gossipd" --check-config | awk '/^\[/{s=substr($0,2,length($0)-2)} /^[a-z_0-9]+ = /{print s"."$1}' \
    >"$prefix/keys"
[ "$(wc -l <"$prefix/keys")" -ge 40 ] || fail "too few keys from --check-config"
awk '/^\[/{s=substr($0,2,length($0)-2)} /^(# )?[a-z_0-9]+ = /{k=$1; if(k=="#")k=$2; print s"."k}' \
    "$example" | sort -u >"$prefix/example_keys"
missing=$(sort -u "$prefix/keys" | comm -23 - "$prefix/example_keys")
[ -z "$missing" ] || fail "keys missing from the example: $missing"
awk 'prev !~ /^#/ && /^[a-z_0-9]+ = / {bad=1; print "unexplained: " $0} {prev=$0} END{exit bad}' \
    "$example" || fail "a key without its explanation"
"$prefix/bin/gossipd" --config "$example" --check-config >/dev/null || fail "the example does not load"

# the unit: own user, read-only system, key/socket under state/runtime directories
for l in DynamicUser=yes StateDirectory=gossipd RuntimeDirectory=gossipd ProtectSystem=strict \
         NoNewPrivileges=yes 'CapabilityBoundingSet=$' PrivateTmp=yes 'SystemCallFilter=@system-service' \
         'key ${STATE_DIRECTORY}/key' 'control ${RUNTIME_DIRECTORY}/control.sock'; do
    grep -q -- "$l" "$unit" || fail "unit lacks $l"
done
grep -q "^ExecStart=.*/bin/gossipd --config" "$unit" || fail "unit ExecStart"
if command -v systemd-analyze >/dev/null; then
    sed "s|^ExecStart\(Pre\)\?=[^ ]*/gossipd|ExecStart\1=$prefix/bin/gossipd|" "$unit" >"$prefix/gossipd.service"
    out=$(systemd-analyze verify "$prefix/gossipd.service" 2>&1)
    if echo "$out" | grep -v -e "Failed to connect" -e "System has not been booted" \
            -e "No such file or directory" -e "^$" | grep -qi "gossipd.service"; then
        echo "$out"; fail "systemd-analyze verify"
    fi
fi

# start the installed daemon from the example configuration
mkdir -p "$prefix/state" "$prefix/run"
"$prefix/bin/gossipd" --config "$example" --key "$prefix/state/key" \
    --control "$prefix/run/control.sock" --listen 127.0.0.1:0 --set metrics.listen=127.0.0.1:0 \
    --shards 1 >"$prefix/out" 2>"$prefix/err" &
pid=$!
for _ in $(seq 100); do [ -s "$prefix/out" ] && break; sleep 0.1; done
grep -q "^ready [0-9a-f]\{64\} 127.0.0.1:" "$prefix/out" || { cat "$prefix/err"; fail "no ready line"; }
[ "$(stat -c %a "$prefix/state/key")" = 600 ] || fail "key file mode"
"$prefix/bin/gossipctl" --control "$prefix/run/control.sock" status >"$prefix/status" ||
    fail "gossipctl status"
grep -q "^id $(awk '{print $2}' "$prefix/out")" "$prefix/status" || fail "status id"
maddr=$(grep -o 'evt=metrics addr=[^ ]*' "$prefix/err" | sed 's/.*addr=//')
python3 -c "import urllib.request,sys; t=urllib.request.urlopen('http://$maddr/metrics').read().decode(); sys.exit(0 if 'gossip_msgs_data_recv_total' in t else 1)" ||
    fail "/metrics"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "gossipd exited $rc after SIGTERM"
echo "install_test: ok ($(find "$prefix" -type f | wc -l) files under the prefix)"
