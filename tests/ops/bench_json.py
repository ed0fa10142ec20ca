#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_json: run one short gossip-bench load-generator scenario and check its --json line.

    bench_json.py MODE GOSSIP-BENCH [args...]

The last stdout line must be one JSON object with the mode's fields (delivery figures, latency
percentiles, CPU per delivery, ...) holding sane values: every message published, a delivery
ratio of 1 (loopback, low rate), percentiles ordered p50 <= p90 <= p99 <= max, CPU time > 0.
Exit 77 (SKIPPED) when the mode reports that a needed program is missing (exit 77 from the
bench)."""
import json
import subprocess
import sys

RUN_FIELDS = ["offered_rate", "achieved_rate", "published", "publish_errors", "deliveries",
              "expected", "delivery_ratio", "duplicates", "seconds", "deliveries_per_s",
              "latency_ms", "cpu_s", "cpu_us_per_delivery", "generator_cpu_s"]
TOP = {"swarm": ["mode", "nodes", "shards", "publishers", "size", "messages", "rate", "load_avg",
                 "results"],
       "relay": ["mode", "publishers", "subscribers", "size", "messages", "rate", "load_avg",
                 "results"],
       "nats": ["mode", "publishers", "subscribers", "size", "messages", "rate", "load_avg",
                "results"]}


def check_run(where, r, errors):
    for f in RUN_FIELDS:
        if f not in r:
            errors.append(f"{where}: missing {f}")
    if errors:
        return
    lat = r["latency_ms"]
    for k in ("p50", "p90", "p99", "max"):
        if k not in lat:
            errors.append(f"{where}: latency_ms.{k} missing")
            return
    if not (0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] + 1e-9):
        errors.append(f"{where}: percentiles not ordered: {lat}")
    if r["published"] <= 0 or r["deliveries"] != r["expected"] or r["delivery_ratio"] != 1.0:
        errors.append(f"{where}: not everything delivered: {r['deliveries']}/{r['expected']}")
    if r["cpu_s"] <= 0 or r["cpu_us_per_delivery"] <= 0 or r["deliveries_per_s"] <= 0:
        errors.append(f"{where}: no CPU or rate figure: {r}")


def main():
    mode, bench, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    p = subprocess.run([bench, mode] + args + ["--json"], capture_output=True, text=True,
                       timeout=300)
    sys.stderr.write(p.stderr[-3000:])
    print(p.stdout)
    if p.returncode == 77:
        print("SKIPPED: a program the mode needs is missing")
        return 77
    if p.returncode != 0:
        print(f"bench_json: gossip-bench {mode} exited {p.returncode}")
        return 1
    o = json.loads(p.stdout.strip().splitlines()[-1])
    errors = [f"missing top-level {f}" for f in TOP[mode] if f not in o]
    if o.get("mode") != mode:
        errors.append(f"mode is {o.get('mode')}")
    for res in o.get("results", []):
        check_run(res.get("impl", "?"), res.get("run", {}), errors)
        if mode == "swarm":
            for f in ("rss_peak_kb", "idle_rss_kb_max"):
                if f not in res:
                    errors.append(f"missing {f}")
            if res.get("rss_peak_kb", {}).get("max", 0) <= 0:
                errors.append("no peak RSS")
            if res.get("impl") == "gossipd":
                # the daemons' own counters for the main run: at a low rate on loopback nothing
                # is dropped, and every delivery took at least one datagram in and one turn
                dc = res.get("daemon_counters", {})
                names = ("packets_out", "datagrams_in", "engine_turns", "gossip_dropped",
                         "drops_announced", "grafts_unserved", "repairs_sent",
                         "control_events_dropped")
                missing = [n for n in names if not isinstance(dc.get(n), int)]
                if missing:
                    errors.append(f"daemon_counters missing {missing}: {dc}")
                else:
                    d = res["run"]["deliveries"]
                    if dc["datagrams_in"] < d or dc["engine_turns"] <= 0 or dc["packets_out"] < d:
                        errors.append(f"daemon_counters too small for {d} deliveries: {dc}")
                    # (after --find-max's saturating trials a backlog may still be shed)
                    if "--find-max" not in args and (dc["gossip_dropped"] != 0 or
                                                     dc["control_events_dropped"] != 0):
                        errors.append(f"daemon_counters: drops at a low rate: {dc}")
            if "--find-max" in args:
                fm = res.get("find_max")
                if not fm or fm.get("lossless_rate", 0) <= 0 or not fm.get("trials"):
                    errors.append(f"find_max missing or empty: {fm}")
    if not o.get("results"):
        errors.append("no results")
    if "--compare" in args and [r.get("impl") for r in o.get("results", [])] != ["gossipd", "iroh"]:
        errors.append("--compare iroh: expected results for gossipd and iroh")
    if errors:
        print("bench_json: FAILED\n  " + "\n  ".join(errors))
        return 1
    print(f"bench_json: {mode} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
