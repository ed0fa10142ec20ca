#!/bin/sh
# SPDX-License-Identifier: MIT
# gen-example-config.sh GOSSIPD OUT: write the installed example configuration: every key of
# gossipd's configuration with its explanation and default (from `gossipd --check-config`, so it
# can never miss a key), with the paths of the systemd service (tools/gossipd.service.in).
# Keys empty by default are left commented out.
set -eu
gossipd=$1
out=$2
{
    cat <<'HDR'
# gossipd configuration: every key, explained, with its default value.
# Copy to /etc/gossipd/gossipd.conf and edit.  Check a file with
#   gossipd --config /etc/gossipd/gossipd.conf --check-config
# Command-line flags override the file (--set section.key=value sets any key).  Value forms
# (durations in ms, lists, PEER and TOPIC syntax): docs/config.md.  The systemd unit passes
# --key /var/lib/gossipd/key and --control /run/gossipd/control.sock itself.
HDR
    "$gossipd" --check-config --set node.key=/var/lib/gossipd/key \
        --set control.path=/run/gossipd/control.sock --set metrics.listen=127.0.0.1:9464 |
        sed -E 's/^([a-z_]+) = $/# \1 =   (empty by default)/'
} >"$out.tmp"
mv "$out.tmp" "$out"
