#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""control_binary: the control socket's binary framing (docs/control.md) against two real
gossipd nodes: negotiation, JSON requests inside frames, BIN_PUBLISH answered BIN_PUBLISHED with
the message id, BIN_RECEIVED events with the exact content at a binary subscriber (and the same
messages as JSON lines at a JSON subscriber on the same node), errors as JSON frames (not
joined, unknown frame type), an over-long frame refused and the connection closed.
usage: control_binary.py GOSSIPD"""
import json
import os
import select
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

N = 300


class Bin:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""
        self.s.sendall(b'{"op":"framing","mode":"binary","id":7}\n')
        line = self._line()
        r = json.loads(line)
        assert r == {"id": 7, "ok": True, "framing": "binary"}, r

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.s], [], [], left)[0]:
            raise TimeoutError("no data")
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("closed")
        self.buf += d

    def _line(self):
        deadline = time.monotonic() + 10
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def frame(self, timeout=10):
        deadline = time.monotonic() + timeout
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            self._fill(deadline)
        n = struct.unpack(">I", self.buf[:4])[0]
        f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return f[0], f[1:]

    def send(self, typ, body):
        self.s.sendall(struct.pack(">IB", len(body) + 1, typ) + body)

    def json(self, obj):
        self.send(3, json.dumps(obj).encode())
        while True:
            t, b = self.frame()
            if t == 3:
                o = json.loads(b)
                if "event" not in o:
                    return o


def main():
    gossipd = sys.argv[1]
    work = tempfile.mkdtemp(prefix="control_binary.")
    bad = []
    try:
        a = opslib.Daemon(gossipd, work, "a", ["--join", "bin"], metrics=None, shards=2)
        b = opslib.Daemon(gossipd, work, "b", ["--bootstrap", a.peer, "--join", "bin"],
                          metrics=None, shards=2)
        sb = Bin(b.sock)
        r = sb.json({"op": "subscribe", "topic": "bin"})
        assert r["ok"], r
        topic = bytes.fromhex(r["topic"])
        # wait for the neighbour (a neighbor_up event as a JSON frame)
        while True:
            t, body = sb.frame(15)
            if t == 3 and json.loads(body).get("event") == "neighbor_up":
                break
        cj = opslib.Control(b.sock)  # a JSON subscriber on the same node
        assert cj.request("subscribe", topic="bin")["ok"]
        sa = Bin(a.sock)
        sent = {}
        for i in range(N):
            content = b"binary-%06d|" % i + bytes((i + k) & 0xFF for k in range(200))
            sa.send(1, topic + content)
            sent[content] = None
        for _ in range(N):
            t, body = sa.frame()
            if t != 0x81 or len(body) != 32:
                bad.append(f"publish reply type {t:#x} len {len(body)}: {body[:80]!r}")
                break
        ids_pub = set()
        got = {}
        deadline = time.monotonic() + 15
        while len(got) < N and time.monotonic() < deadline:
            t, body = sb.frame(deadline - time.monotonic())
            if t != 0x90:
                continue
            tp, mid, frm, scope, rnd = body[:32], body[32:64], body[64:96], body[96], body[97:99]
            content = body[99:]
            if tp != topic or frm != bytes.fromhex(a.id) or scope != 0:
                bad.append(f"bad BIN_RECEIVED header topic={tp.hex()} from={frm.hex()} scope={scope}")
                break
            got[content] = mid
        if set(got) != set(sent):
            bad.append(f"binary subscriber got {len(got)} of {N} (or other contents)")
        json_got = 0
        while json_got < N:
            e = cj.event(10)
            if e is None:
                break
            if e.get("event") == "received":
                json_got += 1
        if json_got != N:
            bad.append(f"JSON subscriber got {json_got} of {N}")
        # errors come back as JSON frames
        sa.send(1, bytes(32) + b"x")
        t, body = sa.frame()
        if t != 3 or json.loads(body).get("error") != "not_joined":
            bad.append(f"publish to an unjoined topic: {t:#x} {body[:100]!r}")
        sa.send(0x55, b"?")
        t, body = sa.frame()
        if t != 3 or json.loads(body).get("error") != "bad_request":
            bad.append(f"unknown frame type: {t:#x} {body[:100]!r}")
        r = sa.json({"op": "status"})
        if not r.get("ok") or r.get("id") != a.id:
            bad.append(f"status in a JSON frame: {str(r)[:200]}")
        sa.s.sendall(struct.pack(">I", 1 << 30))
        try:
            t, body = sa.frame()
            if t != 3 or json.loads(body).get("error") != "too_large":
                bad.append(f"over-long frame: {t:#x} {body[:100]!r}")
            sa.frame(5)
            bad.append("connection not closed after an over-long frame")
        except EOFError:
            pass
        for d in (a, b):
            if d.stop() != 0:
                bad.append(f"{d.name} exit status")
    finally:
        opslib._cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if bad:
        print("control_binary: FAILED\n  " + "\n  ".join(bad))
        return 1
    print(f"control_binary: ok ({N} binary publishes, delivered to a binary and a JSON subscriber)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
