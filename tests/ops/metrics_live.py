#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""metrics_live: two real gossipd nodes (2 shards each); A publishes N messages on a topic B
subscribes to; B's and A's /metrics parse (promparse, and promtool when installed) and their
counters agree with what was sent and received.  usage: metrics_live.py GOSSIPD"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402
import promparse  # noqa: E402

N = 200
SIZE = 100


def main():
    gossipd = sys.argv[1]
    work = tempfile.mkdtemp(prefix="metrics_live.")
    try:
        a = opslib.Daemon(gossipd, work, "a", ["--join", "ops-metrics"], shards=2)
        b = opslib.Daemon(gossipd, work, "b", ["--bootstrap", a.peer, "--join", "ops-metrics"],
                          shards=2)
        assert a.metrics_addr and b.metrics_addr, "no evt=metrics line"
        cb = opslib.Control(b.sock)
        assert cb.request("subscribe", topic="ops-metrics")["ok"]
        opslib.wait_neighbor(cb)
        ca = opslib.Control(a.sock)
        for i in range(N):
            r = ca.publish("ops-metrics", i.to_bytes(4, "big") + bytes(SIZE - 4))
            assert r["ok"], r
        got = 0
        deadline = time.monotonic() + 15
        while got < N and time.monotonic() < deadline:
            e = cb.event(deadline - time.monotonic())
            if e is not None and e.get("event") == "received":
                got += 1
        assert got == N, f"B received {got} of {N}"
        time.sleep(0.3)  # let the shards publish their last turn and the gauges refresh
        ta, tb = a.scrape(), b.scrape()
        fa, fb = promparse.parse(ta), promparse.parse(tb)
        T = promparse.total
        checks = [
            ("A data sent", T(fa, "gossip_msgs_data_sent_total"), N),
            ("B data recv", T(fb, "gossip_msgs_data_recv_total"), N),
            ("B duplicates", T(fb, "gossip_duplicates_total"), 0),
            ("B events", T(fb, "gossip_shard_events_total") >= N, True),
            ("B subscribers", T(fb, "gossip_subscribers"), 1),
            ("A topics", T(fa, "gossip_topics"), 1),
            ("B neighbor_up", T(fb, "gossip_neighbor_up_total") >= 1, True),
            ("A connections", T(fa, "gossip_connections") >= 1, True),
            ("A control requests", T(fa, "gossip_control_requests_total") >= N, True),
            ("B data bytes", T(fb, "gossip_msgs_data_recv_size_total") >= N * (SIZE + 32), True),
            ("B quic bytes in", T(fb, "gossip_quic_bytes_in_total") >= N * SIZE, True),
            ("B shard cpu", T(fb, "gossip_shard_cpu_seconds_total") > 0, True),
            ("B dropped", T(fb, "gossip_dropped_total", reason="bad_id"), 0),
            ("A shards", promparse.value(fa, "gossip_shards"), 2),
            ("A id", promparse.total(fa, "gossip_info", id=a.id), 1),
        ]
        bad = [(n, got_, want) for n, got_, want in checks if got_ != want]
        for n, got_, want in checks:
            print(f"{'ok  ' if got_ == want else 'FAIL'} {n}: {got_} (want {want})")
        if shutil.which("promtool"):
            for name, text in (("a", ta), ("b", tb)):
                p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                                   capture_output=True)
                print(f"promtool check metrics ({name}): rc={p.returncode} {p.stdout}{p.stderr}")
                if p.returncode != 0:
                    bad.append(("promtool", name, p.returncode))
        ca.close()
        cb.close()
        ra, rb = b.stop(), a.stop()
        if ra != 0 or rb != 0:
            bad.append(("exit status", ra, rb))
        if bad:
            print(f"metrics_live: FAILED {bad}")
            return 1
        print("metrics_live: ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
