#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctlq.py: small queries on gossipctl --json replies (read from standard input).

  ctlq.py neighbors TOPIC    active neighbours of TOPIC (topic id or name) in a `topics` reply
  ctlq.py min-neighbors TOPIC...  the fewest active neighbours over the TOPICs (0 if one is missing)
  ctlq.py subscribers TOPIC  local subscribers of TOPIC in a `topics` reply
  ctlq.py relayed            topics marked relayed in a `topics` reply
  ctlq.py has TOPIC          exit 0 when a `topics` reply lists TOPIC, 1 otherwise
  ctlq.py sum REGEX          sum of every number in a reply whose key path (a.b.0.c) matches
                             REGEX (re.search); prints the sum, and exits 3 when no key matched
  ctlq.py shards             for a `status` reply: the number of topics each shard owns
"""
import json
import re
import sys


def topic_entry(d, topic):
    for t in d.get("topics", []):
        if isinstance(t, dict) and topic in (t.get("topic"), t.get("topic_name")):
            return t
    return None


def count(v):
    if isinstance(v, list):
        return len(v)
    if isinstance(v, bool) or v is None:
        return 0
    if isinstance(v, int):
        return v
    return 0


def walk(v, path, out):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, path + [str(k)], out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, path + [str(i)], out)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        out.append((".".join(path), v))


def main():
    cmd = sys.argv[1]
    text = sys.stdin.read()
    try:
        d = json.loads(text) if text.strip() else {}
    except ValueError:
        d = {}
    if cmd in ("neighbors", "subscribers"):
        t = topic_entry(d, sys.argv[2])
        print(count(t.get("active" if cmd == "neighbors" else "subscribers")) if t else 0)
    elif cmd == "min-neighbors":
        print(min(count(t.get("active")) if t else 0 for t in (topic_entry(d, x) for x in sys.argv[2:])))
    elif cmd == "has":
        sys.exit(0 if topic_entry(d, sys.argv[2]) else 1)
    elif cmd == "relayed":
        print(sum(1 for t in d.get("topics", []) if isinstance(t, dict) and t.get("relayed") is True))
    elif cmd == "sum":
        vals = []
        walk(d, [], vals)
        rx = re.compile(sys.argv[2])
        hits = [v for k, v in vals if rx.search(k)]
        print(sum(hits))
        sys.exit(0 if hits else 3)
    elif cmd == "shards":
        print(" ".join(str(len(s.get("topics", []))) for s in d.get("shards", [])))
    else:
        sys.exit("ctlq.py: unknown query " + cmd)


main()
