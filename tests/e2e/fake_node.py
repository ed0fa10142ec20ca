#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fake_node.py: a stand-in for gossipd with the same command line, `ready` line and control
socket (docs/control.md), used only to test the e2e harness itself (tests/e2e/*.sh) before and
independently of the daemon.  It is not a gossip implementation: nodes flood every message over
TCP connections (JSON lines) to every neighbour, deduplicating by content hash; a joiner asks
its bootstrap peers for their neighbours and connects to those as well.

Supported: --listen (127.0.0.1:0), --control, --key, --log-level, --bootstrap, --join, --relay,
--backbone (used as bootstrap for every topic), --shards (topics hashed over N pseudo-shards in
status), --set control.client_queue / control.max_clients / control.max_line / relay.deny /
relay.max_topics, and fake.drop_every=N (drop every Nth message: the harness's own negative
test); SIGTERM sends a quit to every neighbour (neighbor_down peer_quit) and exits 0.
"""
import argparse
import base64
import hashlib
import json
import os
import selectors
import signal
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--listen", action="append", default=[])
ap.add_argument("--control")
ap.add_argument("--key")
ap.add_argument("--log-level", default="info")
ap.add_argument("--bootstrap", action="append", default=[])
ap.add_argument("--join", action="append", default=[])
ap.add_argument("--relay", action="store_true")
ap.add_argument("--backbone", action="append", default=[])
ap.add_argument("--shards", type=int, default=1)
ap.add_argument("--set", action="append", default=[])
args = ap.parse_args()
conf = dict(s.split("=", 1) for s in args.set)
CLIENT_QUEUE = int(conf.get("control.client_queue", 1 << 20))
MAX_CLIENTS = int(conf.get("control.max_clients", 1024))
MAX_LINE = int(conf.get("control.max_line", 1 << 20))
HEXD = set("0123456789abcdef")


def topic_id(t):
    if len(t) == 64 and set(t.lower()) <= HEXD:
        return t.lower()
    return hashlib.blake2b(t.encode(), digest_size=32).hexdigest()


DENY = {topic_id(t) for t in conf.get("relay.deny", "").split(",") if t}
RELAY_MAX = int(conf.get("relay.max_topics", 1000))
# harness self-test: forward only N-1 of every N messages (the checks must then fail)
DROP_EVERY = int(conf.get("fake.drop_every", 0))
nforwarded = 0
if args.key and not os.path.exists(args.key):
    with open(args.key, "wb") as f:
        f.write(os.urandom(32))
KEY = open(args.key, "rb").read() if args.key else os.urandom(32)
ME = hashlib.sha256(KEY).hexdigest()
sel = selectors.DefaultSelector()
START = time.monotonic()
counters = {"relay_refused": 0, "stray_datagrams": 0, "lagged_events": 0}
topics = {}  # id -> {"name", "nbrs": {peer: Link}, "subs": set(Client), "relayed"}
seen = set()
links = {}  # peer id -> Link


def log(msg):
    print("level=info msg=%r" % msg, file=sys.stderr, flush=True)


class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.rbuf = b""
        self.out = b""
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, self)

    def send_line(self, obj):
        self.out += json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.flush()

    def flush(self):
        try:
            while self.out:
                n = self.sock.send(self.out)
                self.out = self.out[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.out = b""
        try:
            sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0), self)
        except (KeyError, ValueError):
            pass

    def close(self):
        try:
            sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


class Link(Stream):
    peer = None

    def on_line(self, m):
        t = m.get("topic")
        if m["t"] == "hello":
            self.peer = m["from"]
            links[self.peer] = self
            if not hasattr(self, "addr"):  # accepted: answer with who we are
                self.addr = m["addr"]
                self.send_line({"t": "hello", "from": ME, "addr": MY_ADDR})
            return
        if m["t"] == "join":
            if not ensure_topic(t, None, relay=True):
                counters["relay_refused"] += 1
                return
            add_nbr(t, self.peer, self)
            others = [links[p].addr for p in topics[t]["nbrs"] if p != self.peer and hasattr(links.get(p), "addr")]
            self.send_line({"t": "nbr", "topic": t, "from": ME, "peers": others[:4]})
        elif m["t"] == "nbr":
            if t in topics:
                add_nbr(t, self.peer, self)
                for a in m.get("peers", []):
                    dial(a, t)
        elif m["t"] == "gossip":
            if t in topics and m["id"] not in seen:
                seen.add(m["id"])
                deliver(t, {"event": "received", "content": m["content"], "msg_id": m["id"],
                            "delivered_from": self.peer, "scope": "swarm", "round": m["round"] + 1})
                flood(t, m, except_peer=self.peer)
        elif m["t"] == "quit":
            if t in topics and self.peer in topics[t]["nbrs"]:
                del topics[t]["nbrs"][self.peer]
                deliver(t, {"event": "neighbor_down", "peer": self.peer, "reason": "peer_quit"})

    def on_close(self):
        if self.peer and links.get(self.peer) is self:
            del links[self.peer]
            for t, v in topics.items():
                if self.peer in v["nbrs"]:
                    del v["nbrs"][self.peer]
                    deliver(t, {"event": "neighbor_down", "peer": self.peer, "reason": "connection_lost"})


def dial(addr, t):
    host, port = addr.rsplit(":", 1)
    for p, l in links.items():
        if getattr(l, "addr", None) == addr:
            if t in topics and p not in topics[t]["nbrs"]:
                l.send_line({"t": "join", "topic": t, "from": ME})
            return
    if addr == MY_ADDR:
        return
    s = socket.create_connection((host, int(port)))
    l = Link(s)
    l.addr = addr
    l.send_line({"t": "hello", "from": ME, "addr": MY_ADDR})
    l.send_line({"t": "join", "topic": t, "from": ME})


def add_nbr(t, peer, link):
    if peer not in topics[t]["nbrs"]:
        topics[t]["nbrs"][peer] = link
        deliver(t, {"event": "neighbor_up", "peer": peer})


def ensure_topic(t, name, relay=False):
    if t in topics:
        return True
    if relay:
        nrel = sum(1 for v in topics.values() if v["relayed"])
        if not args.relay or t in DENY or nrel >= RELAY_MAX:
            return False
    topics[t] = {"name": name, "nbrs": {}, "subs": set(), "relayed": relay}
    if not relay:
        for b in args.backbone:
            dial(b.split("@", 1)[1], t)
    return True


def flood(t, m, except_peer=None):
    global nforwarded
    nforwarded += 1
    if DROP_EVERY and nforwarded % DROP_EVERY == 0:
        return
    for p, l in list(topics[t]["nbrs"].items()):
        if p != except_peer:
            l.send_line(dict(m, round=m["round"]))


def deliver(t, ev):
    for c in list(topics[t]["subs"]):
        c.event(dict(ev, topic=t))


class Client(Stream):
    def __init__(self, sock):
        super().__init__(sock)
        self.dropped = 0

    def event(self, ev):
        if len(self.out) > CLIENT_QUEUE:
            self.dropped += 1
            counters["lagged_events"] += 1
            return
        if self.dropped:
            self.send_line({"event": "lagged", "topic": ev["topic"], "dropped": self.dropped})
            self.dropped = 0
        self.send_line(ev)

    def on_close(self):
        for v in topics.values():
            v["subs"].discard(self)

    def on_line(self, line):
        try:
            req = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return self.send_line({"id": None, "ok": False, "error": "bad_json", "message": "not JSON"})
        if not isinstance(req, dict):
            return self.send_line({"id": None, "ok": False, "error": "bad_json", "message": "not an object"})
        r = {"id": req.get("id"), "ok": True} if "id" in req else {"ok": True}
        op = req.get("op")
        allowed = {"status": (), "peers": (), "topics": (), "join": ("topic", "peers"), "leave": ("topic",),
                   "publish": ("topic", "content", "scope"), "subscribe": ("topic",), "unsubscribe": ("topic",)}
        def err(code, msg):
            e = dict(r, ok=False, error=code, message=msg)
            self.send_line(e)
        if op not in allowed:
            return err("unknown_op", "unknown op")
        for k in req:
            if k not in allowed[op] and k not in ("op", "id", "ext"):
                return err("bad_request", "unknown member " + k)
        t = name = None
        if "topic" in allowed[op]:
            tn = req.get("topic")
            if not isinstance(tn, str) or not tn:
                return err("bad_topic", "bad topic")
            t = topic_id(tn)
            name = None if t == tn.lower() else tn
            r["topic"] = t
        if op == "status":
            if "id" not in req:
                r["id"] = ME
            shards = [{"index": i, "topics": [x for x in topics if int(x, 16) % args.shards == i],
                       "peers": len(links), "conns": len(links), "counters": {}} for i in range(args.shards)]
            r.update(addrs=[MY_ADDR], uptime_s=int(time.monotonic() - START), nshards=args.shards,
                     shards=shards, counters=dict(counters),
                     rings={"sent": 1 if args.shards > 1 else 0, "received": 1 if args.shards > 1 else 0, "refused": 0})
        elif op == "peers":
            r["peers"] = [{"id": p, "shard": 0, "addrs": [getattr(l, "addr", "?")], "topics": 1, "version": 1}
                          for p, l in links.items()]
        elif op == "topics":
            r["topics"] = [dict({"topic": x, "shard": int(x, 16) % args.shards, "active": list(v["nbrs"]),
                                 "passive": 0, "eager": len(v["nbrs"]), "lazy": 0, "relayed": v["relayed"],
                                 "subscribers": len(v["subs"])}, **({"topic_name": v["name"]} if v["name"] else {}))
                           for x, v in topics.items()]
        elif op == "join":
            ensure_topic(t, name)
            peers = req.get("peers", [])
            for p in peers:
                if not isinstance(p, str) or "@" not in p or len(p.split("@")[0]) != 64:
                    return err("bad_peer", "need ID@ADDR")
            for p in peers:
                try:
                    dial(p.split("@", 1)[1], t)
                except OSError as e:
                    log("cannot dial %s: %s" % (p, e))
        elif op == "leave":
            if t not in topics:
                return err("not_joined", "not joined")
            del topics[t]
        elif op == "publish":
            try:
                content = base64.b64decode(req.get("content", ""), validate=True)
            except ValueError:
                return err("bad_base64", "bad base64")
            if t not in topics:
                return err("not_joined", "not joined")
            mid = hashlib.blake2b(content, digest_size=32).hexdigest()
            seen.add(mid)
            flood(t, {"t": "gossip", "topic": t, "id": mid, "content": req["content"], "round": 0})
            r["msg_id"] = mid
        elif op == "subscribe":
            ensure_topic(t, name)
            self.send_line(r)
            topics[t]["subs"].add(self)
            for p in topics[t]["nbrs"]:
                self.event({"event": "neighbor_up", "topic": t, "peer": p})
            return
        elif op == "unsubscribe":
            if t in topics:
                topics[t]["subs"].discard(self)
        self.send_line(r)


def quit_all(*_):
    for t, v in topics.items():
        for p, l in v["nbrs"].items():
            l.send_line({"t": "quit", "topic": t, "from": ME})
    for l in list(links.values()):
        l.flush()
    if args.control:
        try:
            os.unlink(args.control)
        except OSError:
            pass
    os._exit(0)


signal.signal(signal.SIGTERM, quit_all)
signal.signal(signal.SIGINT, quit_all)
lsock = socket.socket()
host, port = (args.listen or ["127.0.0.1:0"])[0].rsplit(":", 1)
lsock.bind((host, int(port)))
lsock.listen(256)
lsock.setblocking(False)
MY_ADDR = "%s:%d" % lsock.getsockname()
sel.register(lsock, selectors.EVENT_READ, "peer-listen")
csock = None
if args.control:
    try:
        os.unlink(args.control)
    except OSError:
        pass
    csock = socket.socket(socket.AF_UNIX)
    csock.bind(args.control)
    csock.listen(1024)
    csock.setblocking(False)
    sel.register(csock, selectors.EVENT_READ, "ctl-listen")
for t in args.join:
    ensure_topic(topic_id(t), None if topic_id(t) == t.lower() else t)
    for b in args.bootstrap:
        dial(b.split("@", 1)[1], topic_id(t))
print("ready %s %s" % (ME, MY_ADDR), flush=True)
nclients = 0
while True:
    for key, ev in sel.select():
        obj = key.data
        if obj == "peer-listen":
            s, _ = lsock.accept()
            Link(s)
            continue
        if obj == "ctl-listen":
            s, _ = csock.accept()
            c = Client(s)
            live = sum(1 for k in sel.get_map().values() if isinstance(k.data, Client))
            if live > MAX_CLIENTS:
                c.send_line({"ok": False, "error": "limit", "message": "too many clients"})
                c.close()
            continue
        if ev & selectors.EVENT_WRITE:
            obj.flush()
        if ev & selectors.EVENT_READ:
            try:
                d = obj.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                obj.on_close()
                obj.close()
                continue
            obj.rbuf += d
            while b"\n" in obj.rbuf:
                line, obj.rbuf = obj.rbuf.split(b"\n", 1)
                obj.on_line(json.loads(line) if isinstance(obj, Link) else line)
            if isinstance(obj, Client) and len(obj.rbuf) > MAX_LINE:
                obj.send_line({"ok": False, "error": "too_large", "message": "line too long"})
                obj.on_close()
                obj.close()
