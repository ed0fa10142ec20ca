#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctlclient.py: a control-socket client for the tests where gossipctl does not fit.

  ctlclient.py subscribe SOCK OUT TOPIC... [--stall-until FILE] [--ready FILE]

subscribes to every TOPIC on one connection (docs/control.md), checks each reply, writes
every event to OUT as one JSON line (flushed), and runs until killed.  --ready FILE is created
once every subscription was acknowledged.  --stall-until FILE stops reading the socket after
the subscriptions until FILE exists (a client that stops reading), then reads on.
"""
import argparse
import json
import os
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("cmd", choices=["subscribe"])
ap.add_argument("sock")
ap.add_argument("out")
ap.add_argument("topics", nargs="+")
ap.add_argument("--stall-until")
ap.add_argument("--ready")
args = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(args.sock)
if args.stall_until:
    # a small receive buffer, so that the daemon's own bounded queue is what overflows
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
f = s.makefile("rb")
out = open(args.out, "ab", buffering=0)
for i, t in enumerate(args.topics):
    s.sendall(json.dumps({"op": "subscribe", "topic": t, "id": i}).encode() + b"\n")
pending = set(range(len(args.topics)))
while pending:
    line = f.readline()
    if not line:
        sys.exit("ctlclient: the daemon closed the connection while subscribing")
    msg = json.loads(line)
    if "event" in msg and "ok" not in msg:
        out.write(line)
        continue
    if msg.get("ok") is not True or msg.get("id") not in pending:
        sys.exit("ctlclient: subscribe refused or out of order: %s" % line.decode(errors="replace"))
    pending.discard(msg["id"])
if args.ready:
    open(args.ready, "w").close()
if args.stall_until:
    while not os.path.exists(args.stall_until):
        time.sleep(0.1)
for line in f:
    out.write(line)
sys.exit("ctlclient: the daemon closed the connection")
