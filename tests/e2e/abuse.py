#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""abuse.py SOCK PID TOPIC [MAX_CLIENTS]: hostile control-socket clients against a running gossipd.

Each step prints `ok ...` or `FAIL ...`; exit 1 when any step failed.
  1. malformed requests on one connection get error replies in order, then a good request works
  2. a 100 MB line: a too_large error and/or the connection closed, without the daemon buffering
     it (its RSS grows by less than 64 MiB)
  3. 1,000 clients at once, each asking `topics`: every one is answered (ok, or the `limit`
     error when over control.max_clients), none hangs; with MAX_CLIENTS given, some are told
     `limit` and no more than MAX_CLIENTS are served
  4. clients vanishing mid-request: half lines, subscribe then close, publish then close,
     requests left unread
  5. afterwards a new client is served and the daemon still runs
"""
import base64
import json
import os
import socket
import sys
import time

SOCK, PID, TOPIC = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LIMIT = int(sys.argv[4]) if len(sys.argv) > 4 else 0  # the daemon's control.max_clients, if set
fails = 0


def report(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    fails += 0 if ok else 1


def connect(timeout=20):
    """A connected client.  A full listen backlog makes a non-blocking AF_UNIX connect fail with
    EAGAIN (a blocking client would wait): retry for up to 10 s, as a blocking client waits."""
    end = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(SOCK)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.01)


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def alive():
    try:
        os.kill(PID, 0)
        return True
    except OSError:
        return False



# 1. malformed requests, answered in order on one connection
def step1():
    s = connect()
    f = s.makefile("rb")
    cases = [
        (b"{bad", "bad_json"),
        (b"[1]", "bad_json"),
        (b'"just a string"', "bad_json"),
        (b'{"op":"\xff\xfe"}', "bad_json"),
        (b'{"op":"nope","id":1}', "unknown_op"),
        (b'{"op":"topics","bogus":1,"id":2}', "bad_request"),
        (b'{"op":"publish","topic":"%s","content":"!!not base64!!","id":4}' % TOPIC.encode(), "bad_base64"),
        (b'{"op":"join","topic":"","id":5}', "bad_topic"),
        (b'{"op":"join","topic":"t","peers":["zz@1.2.3.4:5"],"id":6}', "bad_peer"),
    ]
    for line, code in cases:
        s.sendall(line + b"\n")
    for line, code in cases:
        try:
            r = json.loads(f.readline())
        except (ValueError, OSError) as e:
            report(False, "malformed %r: no JSON reply (%s)" % (line[:40], e))
            break
        good = r.get("ok") is False and (code is None or r.get("error") == code) and "message" in r
        report(good, "malformed %r -> %s %s" % (line[:40], r.get("error"), "" if good else "(want %s) %r" % (code, r)))
    s.sendall(b'{"op":"topics","id":99}\n')
    r = json.loads(f.readline() or b"{}")
    report(r.get("ok") is True and r.get("id") == 99, "the same connection still works after the errors: %r" % str(r)[:80])
    s.close()


# 2. a 100 MB line
def step2():
    rss0 = rss_kib()
    s = connect()
    chunk = b"a" * (1 << 20)
    sent = 0
    closed_early = False
    try:
        for _ in range(100):
            s.sendall(chunk)
            sent += len(chunk)
        s.sendall(b"\n")
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        closed_early = True
    reply = b""
    try:
        s.settimeout(10)
        while True:
            d = s.recv(65536)
            if not d:
                break
            reply += d
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    rss1 = rss_kib()
    got_too_large = b'"too_large"' in reply
    report(got_too_large or closed_early,
           "100 MB line: %s after %d MB sent (reply %r)" % ("too_large" if got_too_large else "closed", sent >> 20, reply[:120]))
    report(rss1 - rss0 < 64 * 1024, "100 MB line: daemon RSS grew by %d KiB (%d -> %d)" % (rss1 - rss0, rss0, rss1))
    report(alive(), "daemon alive after the 100 MB line")


# 3. 1,000 clients at once
def step3():
    socks = []
    t0 = time.monotonic()
    for i in range(1000):
        try:
            socks.append(connect(30))
        except OSError as e:
            report(False, "client %d cannot connect: %s" % (i, e))
            break
    for i, c in enumerate(socks):
        try:
            c.sendall(b'{"op":"topics","id":%d}\n' % i)
        except OSError:
            pass  # a client over the limit may already be closed; its reply is read below
    nok = nlimit = nother = 0
    for i, c in enumerate(socks):
        try:
            line = c.makefile("rb").readline()
            r = json.loads(line)
            if r.get("ok") is True and r.get("id") == i:
                nok += 1
            elif r.get("error") == "limit":
                nlimit += 1
            else:
                nother += 1
        except (ValueError, OSError):
            nother += 1
    for c in socks:
        c.close()
    report(nother == 0 and nok + nlimit == 1000,
           "1,000 clients: %d served, %d told limit, %d other/no answer in %.1f s" % (nok, nlimit, nother, time.monotonic() - t0))
    report(nok > 0, "1,000 clients: some were served")
    if LIMIT:
        report(nlimit > 0 and nok <= LIMIT, "1,000 clients over control.max_clients=%d: %d told limit" % (LIMIT, nlimit))
    report(alive(), "daemon alive after 1,000 clients")


# 4. clients vanishing mid-request
def step4():
    for i in range(100):
        c = connect()
        c.sendall(b'{"op":"topics","id":')
        c.close()
    for i in range(100):
        c = connect()
        c.sendall(b'{"op":"subscribe","topic":"%s","id":1}\n' % TOPIC.encode())
        c.close()
    for i in range(100):
        c = connect()
        content = base64.b64encode(b"abuse-vanish-%d-%d" % (os.getpid(), i))
        c.sendall(b'{"op":"publish","topic":"%s","content":"%s","id":1}\n' % (TOPIC.encode(), content))
        c.close()
    for i in range(100):
        c = connect()
        c.sendall(b'{"op":"status"}\n' * 10 + b'{"op":"topics","id":1}\n' * 10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST with replies unread
    time.sleep(1)
    report(alive(), "daemon alive after 400 vanishing clients")


# 5. a new client is served
def step5():
    s = connect()
    s.sendall(b'{"op":"topics","id":5}\n')
    r = json.loads(s.makefile("rb").readline() or b"{}")
    t = [x for x in r.get("topics", []) if TOPIC in (x.get("topic"), x.get("topic_name"))]
    report(r.get("ok") is True and r.get("id") == 5 and len(t) == 1, "a new client is served afterwards")
    if t:
        report(t[0].get("subscribers", 0) <= 2,
               "subscriptions of vanished clients were released (%s subscribers left)" % t[0].get("subscribers"))
    s.close()


for fn, title in ((step1, "malformed requests"), (step2, "100 MB line"), (step3, "1,000 clients"),
                  (step4, "vanishing clients"), (step5, "served afterwards")):
    try:
        fn()
    except Exception as e:  # a step that cannot complete is a failed step, not a crash
        report(False, "%s: %s: %s" % (title, type(e).__name__, e))
sys.exit(1 if fails else 0)
