#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""prom_rate: a real Prometheus server scrapes two gossipd nodes every second while node A
publishes at a steady rate to node B; a rate() query through Prometheus' HTTP API must match the
rate the publisher measured (within 15 %), on both sides (A's data sent, B's data received).
Runs inside a private network namespace (prom_rate.sh).  usage: prom_rate.py GOSSIPD"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

RATE = 200.0   # messages per second
SECONDS = 16.0
PROM = "127.0.0.1:9090"
A_METRICS, B_METRICS = "127.0.0.1:9101", "127.0.0.1:9102"


def query(expr, at):
    url = f"http://{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(url, timeout=10) as r:
        o = json.load(r)
    if o.get("status") != "success":
        raise RuntimeError(f"query {expr}: {o}")
    return o["data"]["result"]


def main():
    gossipd = sys.argv[1]
    work = tempfile.mkdtemp(prefix="prom_rate.")
    prom = None
    try:
        a = opslib.Daemon(gossipd, work, "a", ["--join", "ops-prom"], metrics=A_METRICS)
        b = opslib.Daemon(gossipd, work, "b", ["--bootstrap", a.peer, "--join", "ops-prom"],
                          metrics=B_METRICS, shards=2)
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: gossipd\n    static_configs:\n"
                    f"      - targets: ['{A_METRICS}', '{B_METRICS}']\n")
        plog = open(os.path.join(work, "prometheus.log"), "w")
        try:
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={work}/prometheus.yml",
                 f"--storage.tsdb.path={work}/data", f"--web.listen-address={PROM}"],
                stdout=plog, stderr=plog)
        except OSError as e:
            print(f"SKIP: cannot start prometheus: {e}")
            return opslib.SKIP
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and prom.poll() is None:
            try:
                up = query("up", time.time())
                if len(up) == 2 and all(r["value"][1] == "1" for r in up):
                    ready = True
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if not ready:
            print("SKIP: prometheus did not start or scrape within 60 s")
            print(open(os.path.join(work, "prometheus.log")).read()[-1500:])
            return opslib.SKIP
        cb = opslib.Control(b.sock)
        assert cb.request("subscribe", topic="ops-prom")["ok"]
        opslib.wait_neighbor(cb)
        cb.request("unsubscribe", topic="ops-prom")
        ca = opslib.Control(a.sock)
        t0 = time.time()
        sent = 0
        while True:
            now = time.time()
            if now - t0 >= SECONDS:
                break
            due = int((now - t0) * RATE) + 1
            while sent < due:
                assert ca.publish("ops-prom", sent.to_bytes(8, "big") + bytes(200))["ok"]
                sent += 1
            time.sleep(0.002)
        t1 = time.time()
        measured = sent / (t1 - t0)
        time.sleep(2.5)  # the scrapes covering the window's end
        at = t0 + 13.0   # window [t0 + 5, t0 + 13]: inside the steady part
        ra = query(f'sum(rate(gossip_msgs_data_sent_total{{instance="{A_METRICS}"}}[8s]))', at)
        rb = query(f'sum(rate(gossip_msgs_data_recv_total{{instance="{B_METRICS}"}}[8s]))', at)
        va, vb = float(ra[0]["value"][1]), float(rb[0]["value"][1])
        print(f"published {sent} in {t1 - t0:.2f} s = {measured:.1f}/s; "
              f"prometheus rate(): A sent {va:.1f}/s, B received {vb:.1f}/s")
        ok = all(abs(v - measured) <= 0.15 * measured for v in (va, vb))
        print("prom_rate: ok" if ok else "prom_rate: FAILED (rate off by more than 15 %)")
        return 0 if ok else 1
    finally:
        if prom is not None and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
        opslib._cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
