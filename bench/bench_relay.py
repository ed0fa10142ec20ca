#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_relay: messages/s one relay gossipd forwards, with 1 and with 2 shards, in one run.

Topology per measurement: a relay R (--relay, --shards S), publisher nodes P1..Pp and subscriber
nodes S1..Ss (1 shard each) that know only R.  The edge nodes advertise an unreachable address
(--advertise 127.0.0.1:1), so they cannot dial each other: every message goes through R, which
relays the topics (it never joins them itself).  Publishers publish as fast as their control
socket takes it (a window of outstanding requests per topic) for --seconds; figures come from
the nodes' own counters (status): Gossip frames R received and sent per second, and the share of
published messages every subscriber node received (delivery).

    bench/bench_relay.py --gossipd build/release/server/gossipd [--shards 1,2] [--topics 8]
                         [--publishers 2] [--subscribers 2] [--seconds 5] [--size 100]
"""
import argparse, base64, json, multiprocessing as mp, os, signal, socket, subprocess, sys
import tempfile, time


def ctl(path, obj):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile('rb')
    s.sendall((json.dumps(obj) + "\n").encode())
    r = json.loads(f.readline())
    s.close()
    return r


def start(gossipd, d, name, args):
    out = open(os.path.join(d, name + ".out"), "w+")
    err = open(os.path.join(d, name + ".err"), "w")
    p = subprocess.Popen([gossipd, "--listen", "127.0.0.1:0", "--control",
                          os.path.join(d, name + ".sock"), "--log-level", "warn"] + args,
                         stdout=out, stderr=err)
    for _ in range(200):
        out.seek(0)
        line = out.readline()
        if line.startswith("ready"):
            _, pid, addr = line.split()[:3]
            return p, pid, addr
        time.sleep(0.05)
    raise RuntimeError(name + " did not start")


def publisher(sock, topics, size, seconds, tag, q):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile('rb')
    window = 64
    sent = ok = 0
    pad = b"x" * max(0, size - 24)
    end = time.time() + seconds
    outstanding = 0
    while time.time() < end:
        buf = []
        for _ in range(window - outstanding):
            t = topics[sent % len(topics)]
            content = b"%s-%012d-" % (tag, sent) + pad
            buf.append(json.dumps({"op": "publish", "topic": t,
                                   "content": base64.b64encode(content[:size]).decode()}))
            sent += 1
        s.sendall(("\n".join(buf) + "\n").encode())
        outstanding = window
        for _ in range(window // 2):
            r = json.loads(f.readline())
            ok += 1 if r.get("ok") else 0
            outstanding -= 1
    for _ in range(outstanding):
        r = json.loads(f.readline())
        ok += 1 if r.get("ok") else 0
    q.put(ok)


def counters(sock):
    return ctl(sock, {"op": "status"})["counters"]


def measure(a, shards):
    d = tempfile.mkdtemp(prefix="bench_relay_")
    procs = []
    try:
        r, rid, raddr = start(a.gossipd, d, "r", ["--relay", "--shards", str(shards),
                                                   "--set", "relay.max_topics=1000"])
        procs.append(r)
        edge = ["--shards", "1", "--advertise", "127.0.0.1:1"]
        names = ["p%d" % i for i in range(a.publishers)] + ["s%d" % i for i in range(a.subscribers)]
        for n in names:
            procs.append(start(a.gossipd, d, n, edge)[0])
        topics = ["bench-topic-%d" % i for i in range(a.topics)]
        for n in names:
            for t in topics:
                ctl(os.path.join(d, n + ".sock"), {"op": "join", "topic": t,
                                                   "peers": ["%s@%s" % (rid, raddr)]})
        # wait until the relay has every edge node in every topic
        want = len(names)
        for _ in range(100):
            tops = ctl(os.path.join(d, "r.sock"), {"op": "topics"})["topics"]
            if len(tops) == a.topics and all(len(t["active"]) >= min(want, 5) for t in tops):
                break
            time.sleep(0.1)
        rsock = os.path.join(d, "r.sock")
        c0 = counters(rsock)
        s0 = [counters(os.path.join(d, "s%d.sock" % i))["msgs_data_recv"]
              for i in range(a.subscribers)]
        q = mp.Queue()
        t0 = time.time()
        ps = [mp.Process(target=publisher, args=(os.path.join(d, "p%d.sock" % i), topics, a.size,
                                                 a.seconds, b"p%d" % i, q))
              for i in range(a.publishers)]
        for p in ps:
            p.start()
        published = sum(q.get() for _ in ps)
        for p in ps:
            p.join()
        pub_end = time.time()
        time.sleep(1.0)  # let the last messages arrive
        c1 = counters(rsock)
        s1 = [counters(os.path.join(d, "s%d.sock" % i))["msgs_data_recv"]
              for i in range(a.subscribers)]
        el = pub_end - t0
        rec = c1["msgs_data_recv"] - c0["msgs_data_recv"]
        fwd = c1["msgs_data_sent"] - c0["msgs_data_sent"]
        deliv = [(s1[i] - s0[i]) / published if published else 0 for i in range(a.subscribers)]
        st = ctl(rsock, {"op": "status"})
        return {
            "shards": shards, "seconds": round(el, 2), "published": published,
            "published_per_s": round(published / el),
            "relay_gossip_in_per_s": round(rec / el), "relay_gossip_out_per_s": round(fwd / el),
            "subscriber_delivery": [round(x, 4) for x in deliv],
            "relay_gossip_dropped": c1.get("gossip_dropped", 0),
            "relay_ring_records": st["rings"]["sent"],
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gossipd", default="build/release/server/gossipd")
    ap.add_argument("--shards", default="1,2")
    ap.add_argument("--topics", type=int, default=8)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--subscribers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = [measure(a, int(s)) for s in a.shards.split(",")]
    if a.json:
        print(json.dumps(res))
        return
    base = res[0]["relay_gossip_out_per_s"] or 1
    for r in res:
        print("relay shards=%d: published %d msg/s, relay in %d msg/s, out %d msg/s (%.2fx shards=%d), "
              "delivery %s, relay Gossip dropped %d, ring records %d" % (
                  r["shards"], r["published_per_s"], r["relay_gossip_in_per_s"],
                  r["relay_gossip_out_per_s"], r["relay_gossip_out_per_s"] / base,
                  res[0]["shards"], r["subscriber_delivery"], r["relay_gossip_dropped"],
                  r["relay_ring_records"]))


if __name__ == "__main__":
    main()
