#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""p9-memory.py GOSSIPD GOSSIP-BENCH: P9 (docs/BENCHMARKS.md): resident memory of an idle gossipd
(1 shard), then per joined topic (1000 topics joined through the control socket) and per
connection (a relay with 60 virtual QUIC peers attached by `gossip-bench relay`), from VmRSS."""
import json, os, socket, subprocess, sys, tempfile, time

gd, gb = sys.argv[1], sys.argv[2]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(args, d):
    p = subprocess.Popen([gd, "--listen", "127.0.0.1:0", "--shards", "1", "--log-level", "warn"] +
                         args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    time.sleep(1.0)
    return p


d = tempfile.mkdtemp(prefix="p9.")
sock = os.path.join(d, "c.sock")
p = start(["--control", sock], d)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rb")
# idle: with the control client connected and after the shard's periodic sweeps have run (the
# address book's incremental expiry walks its whole table within a few seconds)
time.sleep(3.0)
idle = rss_kb(p.pid)
N = 1000
for i in range(N):
    s.sendall((json.dumps({"op": "join", "topic": f"p9-topic-{i}"}) + "\n").encode())
    r = json.loads(f.readline())
    assert r.get("ok"), r
time.sleep(0.5)
topics = rss_kb(p.pid)
p.terminate()
p.wait()
print(f"idle node (1 shard, control client connected, after 4 s): {idle / 1024:.1f} MB RSS")
print(f"{N} joined topics: +{(topics - idle) / 1024:.1f} MB = {(topics - idle) * 1024 / N / 1024:.2f} KB per topic")
# connections: relay RSS with 60 virtual peers (relay bench), minus an idle relay
r = subprocess.run([gb, "relay", "--gossipd", gd, "--publishers", "1", "--subscribers", "59",
                    "--messages", "600", "--rate", "200", "--size", "256", "--json"],
                   capture_output=True, text=True, env=dict(os.environ, GS_BENCH_NO_NETNS="1"))
try:
    o = json.loads(r.stdout.strip().splitlines()[-1])
    peak = o["results"][0]["server_rss_peak_kb"]
    print(f"relay with 60 connections (1 topic, 600 x 256 B relayed): peak {peak / 1024:.1f} MB = "
          f"{(peak - idle) / 60:.1f} KB per connection above the idle node (upper bound: includes "
          f"message caches and send queues)")
except (ValueError, IndexError, KeyError):
    print("relay run failed:", r.stderr[-500:])
