#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""deliver.py: waits until every subscriber has received every message published to it, then
checks exactly-once delivery, counting each received message per subscriber.

  deliver.py --timeout S [--prefix P] --pub NODE=FILE... --sub NODE=FILE...

A --pub FILE lists the messages NODE published (one per line, as given to gossipctl publish
--stdin).  A --sub FILE holds `gossipctl subscribe --json` events (or ctlclient.py's) of a
subscriber on NODE.  Every message published by another node must be received exactly once;
a message NODE published itself may be received at most once (whether a node's own subscribers
see its own messages is the daemon's choice).  Received messages that start with --prefix but
were never published are reported as unexpected.  Exit 0 when every check holds, 1 otherwise.
"""
import argparse
import base64
import collections
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--timeout", type=float, required=True)
ap.add_argument("--prefix", default="")
ap.add_argument("--pub", action="append", default=[])
ap.add_argument("--sub", action="append", default=[])
args = ap.parse_args()
if os.environ.get("E2E_DELIVER_TIMEOUT"):  # the harness's negative test waits less
    args.timeout = min(args.timeout, float(os.environ["E2E_DELIVER_TIMEOUT"]))

published = {}  # content -> publishing node
for spec in args.pub:
    node, path = spec.split("=", 1)
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            if line:
                if line in published:
                    sys.exit("deliver.py: payload published twice: %r (payloads must be unique)" % line)
                published[line] = node


class Sub:
    def __init__(self, spec):
        self.node, self.path = spec.split("=", 1)
        self.counts = collections.Counter()
        self.pos = 0
        self.partial = b""
        self.lagged = 0
        self.expected = {c for c, n in published.items() if n != self.node}

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "received":
                self.counts[base64.b64decode(ev.get("content", ""))] += 1
            elif ev.get("event") == "lagged":
                self.lagged += 1

    def complete(self):
        return all(self.counts[c] >= 1 for c in self.expected)


subs = [Sub(s) for s in args.sub]
t0 = time.monotonic()
while True:
    for s in subs:
        s.poll()
    if all(s.complete() for s in subs) or time.monotonic() - t0 > args.timeout:
        break
    time.sleep(0.2)
time.sleep(0.5)  # late duplicates still count
for s in subs:
    s.poll()

ok = True
prefix = args.prefix.encode()
for s in subs:
    missing = [c for c in s.expected if s.counts[c] == 0]
    dups = [c for c, k in s.counts.items() if k > 1]
    unexpected = [c for c in s.counts if c.startswith(prefix) and c not in published]
    got = sum(1 for c in s.expected if s.counts[c] >= 1)
    own = sum(1 for c, n in published.items() if n == s.node and s.counts[c] == 1)
    line = "%s (%s): %d/%d received, %d own, %d missing, %d duplicated, %d unexpected, %d lagged" % (
        s.node, s.path.rsplit("/", 1)[-1], got, len(s.expected), own, len(missing), len(dups),
        len(unexpected), s.lagged)
    bad = missing or dups or unexpected or s.lagged
    ok = ok and not bad
    print(("FAIL " if bad else "ok   ") + line)
    for what, lst in (("missing", missing), ("duplicated", dups), ("unexpected", unexpected)):
        if lst:
            print("     %s e.g. %s" % (what, [c[:60].decode(errors="replace") for c in sorted(lst)[:5]]))
print("delivery checked in %.1f s" % (time.monotonic() - t0))
sys.exit(0 if ok else 1)
