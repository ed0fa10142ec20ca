#!/bin/sh
# SPDX-License-Identifier: MIT
# prom_rate.sh GOSSIPD: the real-Prometheus test (tests/ops/prom_rate.py) inside a private
# network namespace (unshare -rn: loopback only, fixed ports free).  Exit 77 (SKIPPED) when
# prometheus is not installed or a namespace cannot be made.
command -v prometheus >/dev/null 2>&1 || { echo "SKIP: prometheus not installed"; exit 77; }
unshare -rn true 2>/dev/null || { echo "SKIP: cannot unshare -rn"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
exec unshare -rn sh -c 'ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null; exec python3 "$0" "$1"' \
    "$here/prom_rate.py" "$1"
