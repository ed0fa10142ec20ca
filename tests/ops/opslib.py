# SPDX-License-Identifier: MIT
"""opslib: small helpers for the ops tests: start gossipd, talk to its control socket (JSON lines,
docs/control.md), scrape /metrics.  Every process started here is killed by Daemon.stop or at
interpreter exit."""
import atexit
import base64
import json
import os
import select
import signal
import socket
import subprocess
import time
import urllib.request

SKIP = 77  # ctest SKIP_RETURN_CODE
_live = []


def _cleanup():
    for d in list(_live):
        d.stop()


atexit.register(_cleanup)


class Daemon:
    """One gossipd process.  |args| are extra flags; control socket and log live in |workdir|."""

    def __init__(self, gossipd, workdir, name, args=(), metrics="127.0.0.1:0", shards=1):
        self.name = name
        self.sock = os.path.join(workdir, f"{name}.sock")
        self.log_path = os.path.join(workdir, f"{name}.log")
        cmd = [gossipd, "--listen", "127.0.0.1:0", "--control", self.sock, "--shards", str(shards)]
        if metrics:
            cmd += ["--metrics", metrics]
        cmd += list(args)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        _live.append(self)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if r else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"{name}: no ready line ({line!r}); log: {self.read_log()[-800:]}")
        parts = line.split()
        self.id = parts[1]
        self.addr = parts[2]
        self.peer = f"{self.id}@{self.addr}"
        self.metrics_addr = None
        if metrics:
            for _ in range(100):
                for ln in self.read_log().splitlines():
                    if "evt=metrics addr=" in ln:
                        self.metrics_addr = ln.split("evt=metrics addr=")[1].split()[0]
                if self.metrics_addr:
                    break
                time.sleep(0.05)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def scrape(self):
        with urllib.request.urlopen(f"http://{self.metrics_addr}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self in _live:
            _live.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Control:
    """A control-socket client: request() returns the reply; events are queued."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.events = []
        self.timeout = timeout
        self.next_id = 1

    def _line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("control socket: no line")
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, op, **kw):
        kw["op"] = op
        kw["id"] = self.next_id
        self.next_id += 1
        self.s.sendall(json.dumps(kw).encode() + b"\n")
        return kw["id"]

    def request(self, op, **kw):
        rid = self.send(op, **kw)
        deadline = time.monotonic() + self.timeout
        while True:
            o = self._line(deadline)
            if "event" in o:
                self.events.append(o)
                continue
            if o.get("id") == rid:
                return o

    def event(self, timeout):
        if self.events:
            return self.events.pop(0)
        try:
            o = self._line(time.monotonic() + timeout)
        except TimeoutError:
            return None
        return o

    def publish(self, topic, data):
        return self.request("publish", topic=topic, content=base64.b64encode(data).decode())

    def close(self):
        self.s.close()


def wait_neighbor(ctl, timeout=15):
    """After subscribe: wait for a neighbor_up event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        e = ctl.event(deadline - time.monotonic())
        if e is not None and e.get("event") == "neighbor_up":
            return e
    raise TimeoutError("no neighbor_up")
