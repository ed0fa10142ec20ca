#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""daemon_smoke: real gossipd processes on 127.0.0.1, driven through their control sockets.

A node with --shards 4 (A), one with 2 shards (B) and one with 1 (C), B and C bootstrapped to A;
TOPICS topics joined by A, subscribed on B and C; MSGS messages per topic published on A must
reach B and C exactly once.  Then SIGTERM: every process must exit 0 within 2 s.  Any sanitizer
report on a process's stderr fails the test (so the asan and tsan lanes check the daemon too).

    daemon_smoke.py GOSSIPD [--topics N] [--msgs N] [--exit-limit S]
(--exit-limit: seconds allowed from SIGTERM to exit, default 2; sanitizer builds pass more, as
their teardown of the engines' memory alone can take over a second.)
Exit 0 on success, 1 with the reason on failure.
"""
import base64, json, os, signal, socket, subprocess, sys, tempfile, threading, time

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                   "runtime error:")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def conn(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    return s, s.makefile("rb")


def main():
    gossipd = sys.argv[1]
    topics_n = int(sys.argv[sys.argv.index("--topics") + 1]) if "--topics" in sys.argv else 16
    msgs_n = int(sys.argv[sys.argv.index("--msgs") + 1]) if "--msgs" in sys.argv else 20
    exit_limit = float(sys.argv[sys.argv.index("--exit-limit") + 1]) \
        if "--exit-limit" in sys.argv else 2.0
    d = tempfile.mkdtemp(prefix="gs_smoke_")
    procs = {}

    def start(name, args):
        out = open(os.path.join(d, name + ".out"), "w+")
        err = open(os.path.join(d, name + ".err"), "w")
        p = subprocess.Popen([gossipd, "--listen", "127.0.0.1:0", "--control",
                              os.path.join(d, name + ".sock")] + args, stdout=out, stderr=err)
        procs[name] = p
        for _ in range(600):
            out.seek(0)
            line = out.readline()
            if line.endswith("\n"):
                parts = line.split()
                if parts[0] != "ready" or len(parts[1]) != 64 or len(parts) < 3:
                    fail("%s: bad ready line %r" % (name, line))
                return parts[1], parts[2]
            if p.poll() is not None:
                fail("%s exited with %d before ready" % (name, p.returncode))
            time.sleep(0.05)
        fail(name + ": no ready line within 30 s")

    try:
        aid, aaddr = start("a", ["--shards", "4"])
        boot = ["--bootstrap", "%s@%s" % (aid, aaddr)]
        start("b", ["--shards", "2"] + boot)
        start("c", ["--shards", "1"] + boot)
        topics = ["smoke-%d" % i for i in range(topics_n)]
        s, f = conn(os.path.join(d, "a.sock"))
        for i, t in enumerate(topics):
            s.sendall((json.dumps({"op": "join", "topic": t, "id": i}) + "\n").encode())
        for _ in topics:
            r = json.loads(f.readline())
            if not r.get("ok"):
                fail("join: %r" % r)
        got = {"b": {}, "c": {}}
        for n in got:
            s2, f2 = conn(os.path.join(d, n + ".sock"))
            for i, t in enumerate(topics):
                s2.sendall((json.dumps({"op": "subscribe", "topic": t, "id": i}) + "\n").encode())

            def reader(f2=f2, g=got[n]):
                try:
                    for line in f2:
                        ev = json.loads(line)
                        if ev.get("event") == "received":
                            c = base64.b64decode(ev["content"])
                            g[c] = g.get(c, 0) + 1
                except (OSError, ValueError):
                    pass
            threading.Thread(target=reader, daemon=True).start()
        # wait until every topic on A has both neighbours
        for _ in range(300):
            s.sendall(b'{"op":"topics","id":"t"}\n')
            r = json.loads(f.readline())
            if r.get("ok") and len(r["topics"]) == topics_n and \
                    all(len(t["active"]) == 2 for t in r["topics"]):
                break
            time.sleep(0.1)
        else:
            fail("neighbours did not form: %r" % r)
        for t in topics:
            for k in range(msgs_n):
                s.sendall((json.dumps({"op": "publish", "topic": t, "content": base64.b64encode(
                    b"%s/%d" % (t.encode(), k)).decode()}) + "\n").encode())
        for _ in range(topics_n * msgs_n):
            r = json.loads(f.readline())
            if not r.get("ok"):
                fail("publish: %r" % r)
        want = topics_n * msgs_n
        deadline = time.time() + 60
        while time.time() < deadline and any(len(g) < want for g in got.values()):
            time.sleep(0.1)
        for n, g in got.items():
            if len(g) != want or any(v != 1 for v in g.values()):
                fail("%s received %d distinct of %d, duplicates %d" % (
                    n, len(g), want, sum(1 for v in g.values() if v != 1)))
        s.sendall(b'{"op":"status"}\n')
        st = json.loads(f.readline())
        spread = [len(x["topics"]) for x in st["shards"]]
        if st["nshards"] != 4 or sum(spread) != topics_n or st["rings"]["sent"] == 0:
            fail("status: nshards %r spread %r rings %r" % (st["nshards"], spread, st["rings"]))
        print("delivered %d messages to 2 nodes; topics per shard on A %s; ring records %d" % (
            want, spread, st["rings"]["sent"]))
        t0 = time.time()
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for n, p in procs.items():
            try:
                rc = p.wait(timeout=max(0.1, t0 + exit_limit - time.time()))
            except subprocess.TimeoutExpired:
                fail("%s did not exit within %.1f s of SIGTERM" % (n, exit_limit))
            if rc != 0:
                fail("%s exited with %d" % (n, rc))
        print("all exited 0 within %.2f s of SIGTERM" % (time.time() - t0))
        for n in procs:
            text = open(os.path.join(d, n + ".err")).read()
            for m in SANITIZER_MARKS:
                if m in text:
                    fail("%s: sanitizer report:\n%s" % (n, text[text.index(m) - 200:][:3000]))
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    print("ok")


if __name__ == "__main__":
    main()
