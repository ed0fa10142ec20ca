#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""events.py: helpers over subscriber event files (JSON lines).

  events.py stamp                      filter: adds "_t_ns" (wall clock, ns) to each event line
                                       read from standard input as it arrives, flushing each
  events.py first FILE EVENT KEY VALUE prints the first event EVENT whose KEY is VALUE; exit 1
                                       when there is none
  events.py field FILE KEY             prints member KEY of the JSON object in FILE
  events.py count FILE EVENT           prints how many EVENT events FILE holds
"""
import json
import sys
import time


def events(path):
    with open(path, "rb") as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                pass


cmd = sys.argv[1]
if cmd == "stamp":
    for line in sys.stdin.buffer:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        ev["_t_ns"] = time.time_ns()
        sys.stdout.write(json.dumps(ev, separators=(",", ":")) + "\n")
        sys.stdout.flush()
elif cmd == "first":
    _, _, path, name, key, value = sys.argv
    for ev in events(path):
        if ev.get("event") == name and ev.get(key) == value:
            print(json.dumps(ev))
            sys.exit(0)
    sys.exit(1)
elif cmd == "field":
    v = json.load(open(sys.argv[2])).get(sys.argv[3])
    print(v if v is not None else "")
elif cmd == "count":
    print(sum(1 for ev in events(sys.argv[2]) if ev.get("event") == sys.argv[3]))
else:
    sys.exit("events.py: unknown command " + cmd)
