#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fake_gossipd.py: a tiny stand-in for gossipd's control socket (docs/control.md), so that
gossipctl is tested without the daemon.  One process, one topic table, no network: a publish is
delivered as a `received` event to every subscriber of the topic on any connection.

Test knobs:
  --hold N             withhold replies on a connection until it has sent N requests (a client
                       that waits for each reply before sending the next stalls; a pipelining
                       client does not)
  --mute               read requests and never answer
  --fail-publish-at K  answer the K-th publish (counted over all connections) with too_large
  --stats FILE         on exit, write JSON counters (requests, most requests that
                       arrived in one read on one connection)
Topic ids of string topics are BLAKE2b-256 here (the real daemon uses BLAKE3); tests must not
depend on the hash.
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

MAX_LINE = 1 << 20
HEX = set("0123456789abcdefABCDEF")

p = argparse.ArgumentParser()
p.add_argument("--socket", required=True)
p.add_argument("--hold", type=int, default=0)
p.add_argument("--mute", action="store_true")
p.add_argument("--fail-publish-at", type=int, default=0)
p.add_argument("--stats")
args = p.parse_args()

NODE_ID = hashlib.blake2b(b"fake node", digest_size=32).hexdigest()
START = time.monotonic()
topics = {}  # hex -> {"name": str|None, "peers": [hex], "subs": set(conn)}
stats = {"requests": 0, "max_ahead": 0, "publishes": 0, "clients": 0}


class Bad(Exception):
    def __init__(self, code, message):
        self.code, self.message = code, message


def topic_of(req):
    t = req.get("topic")
    if not isinstance(t, str) or t == "":
        raise Bad("bad_topic", "topic must be a non-empty string")
    if len(t) == 64 and set(t) <= HEX:
        return t.lower(), None
    return hashlib.blake2b(t.encode(), digest_size=32).hexdigest(), t


def peer_of(s):
    if not isinstance(s, str):
        raise Bad("bad_peer", "peer must be a string")
    pid = s.split("@", 1)[0]
    if len(pid) == 64 and set(pid) <= HEX:
        return pid.lower()
    raise Bad("bad_peer", "peer id must be 64 hex digits: %r" % s)


def check_members(req, allowed):
    for k in req:
        if k not in allowed and k not in ("op", "id", "ext"):
            raise Bad("bad_request", "unknown member %r" % k)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.rbuf = b""
        self.out = b""
        self.held = []  # replies withheld (--hold)
        self.nreq = 0
        self.nreplied = 0
        self.closing = False

    def send(self, obj):
        self.out += json.dumps(obj, separators=(",", ":")).encode() + b"\n"

    def reply(self, obj):
        if args.mute:
            return
        if args.hold and self.nreq < args.hold:
            self.held.append(obj)
            return
        for h in self.held:
            self.send(h)
            self.nreplied += 1
        self.held = []
        self.send(obj)
        self.nreplied += 1


def deliver(topic, event):
    for c in list(topics.get(topic, {}).get("subs", ())):
        c.send(dict(event, topic=topic))


def handle(c, line):
    stats["requests"] += 1
    c.nreq += 1
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        c.reply({"id": None, "ok": False, "error": "bad_json", "message": str(e)})
        return
    if not isinstance(req, dict):
        c.reply({"id": None, "ok": False, "error": "bad_json", "message": "not an object"})
        return
    rid = req.get("id")
    try:
        op = req.get("op")
        if not isinstance(op, str):
            raise Bad("bad_request", "missing op")
        r = {"id": rid, "ok": True} if "id" in req else {"ok": True}
        if op == "status":
            check_members(req, ())
            r.update(addrs=["127.0.0.1:4919"], uptime_s=int(time.monotonic() - START),
                     nshards=2,
                     shards=[{"index": i, "topics": [t for t in sorted(topics) if int(t, 16) % 2 == i],
                              "peers": 0, "conns": 0, "counters": {"rx_frames": 0}} for i in (0, 1)],
                     counters={"rx_frames": 0, "published": stats["publishes"]},
                     rings={"sent": 0, "received": 0, "refused": 0})
            # docs/control.md gives status an "id" member (the node id) although replies echo
            # the request's "id": a request without "id" gets the node id there.
            if "id" not in req:
                r["id"] = NODE_ID
        elif op == "peers":
            check_members(req, ())
            peers = sorted({p for t in topics.values() for p in t["peers"]})
            r["peers"] = [{"id": p, "shard": 0, "addrs": ["127.0.0.1:1"], "topics": 1, "version": 1}
                          for p in peers]
        elif op == "topics":
            check_members(req, ())
            r["topics"] = []
            for t, v in sorted(topics.items()):
                e = {"topic": t, "shard": int(t, 16) % 2, "active": v["peers"], "passive": 0,
                     "eager": len(v["peers"]), "lazy": 0, "relayed": False, "subscribers": len(v["subs"])}
                if v["name"]:
                    e["topic_name"] = v["name"]
                r["topics"].append(e)
        elif op == "join":
            check_members(req, ("topic", "peers"))
            t, name = topic_of(req)
            peers = req.get("peers", [])
            if not isinstance(peers, list):
                raise Bad("bad_request", "peers must be an array")
            ids = [peer_of(x) for x in peers]
            v = topics.setdefault(t, {"name": name, "peers": [], "subs": set()})
            for pid in ids:
                if pid not in v["peers"]:
                    v["peers"].append(pid)
                    deliver(t, {"event": "neighbor_up", "peer": pid})
            r["topic"] = t
            if name:
                r["topic_name"] = name
        elif op == "leave":
            check_members(req, ("topic",))
            t, name = topic_of(req)
            if t not in topics:
                raise Bad("not_joined", "topic %s is not joined" % t)
            del topics[t]
            r["topic"] = t
        elif op == "publish":
            check_members(req, ("topic", "content", "scope"))
            t, name = topic_of(req)
            scope = req.get("scope", "swarm")
            if scope not in ("swarm", "neighbors"):
                raise Bad("bad_request", "scope must be swarm or neighbors")
            try:
                content = base64.b64decode(req.get("content", ""), validate=True)
            except (ValueError, TypeError):
                raise Bad("bad_base64", "content is not base64")
            if t not in topics:
                raise Bad("not_joined", "topic %s is not joined" % t)
            stats["publishes"] += 1
            if stats["publishes"] == args.fail_publish_at:
                raise Bad("too_large", "message over the size limit")
            mid = hashlib.blake2b(content, digest_size=32).hexdigest()
            ev = {"event": "received", "content": base64.b64encode(content).decode(), "msg_id": mid,
                  "delivered_from": NODE_ID, "scope": scope}
            if scope == "swarm":
                ev["round"] = 0
            deliver(t, ev)
            r.update(topic=t, msg_id=mid)
        elif op in ("subscribe", "unsubscribe"):
            check_members(req, ("topic",))
            t, name = topic_of(req)
            v = topics.setdefault(t, {"name": name, "peers": [], "subs": set()})
            r["topic"] = t
            c.reply(r)
            if op == "subscribe":
                v["subs"].add(c)
                for pid in v["peers"]:
                    c.send({"event": "neighbor_up", "topic": t, "peer": pid})
            else:
                v["subs"].discard(c)
            return
        else:
            raise Bad("unknown_op", "unknown op %r" % op)
        c.reply(r)
    except Bad as e:
        r = {"id": rid} if "id" in req else {}
        r.update(ok=False, error=e.code, message=e.message)
        c.reply(r)


def close(c):
    sel.unregister(c.sock)
    c.sock.close()
    for v in topics.values():
        v["subs"].discard(c)


def finish(*_):
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f)
    try:
        os.unlink(args.socket)
    except OSError:
        pass
    sys.exit(0)


signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGINT, finish)
try:
    os.unlink(args.socket)
except OSError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(args.socket)
srv.listen(128)
srv.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ, None)
conns = set()
print("ready", flush=True)
while True:
    for c in conns:
        sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0), c)
    for key, ev in sel.select(timeout=1.0):
        if key.data is None:
            s, _ = srv.accept()
            s.setblocking(False)
            c = Conn(s)
            conns.add(c)
            stats["clients"] += 1
            sel.register(s, selectors.EVENT_READ, c)
            continue
        c = key.data
        if c not in conns:
            continue
        if ev & selectors.EVENT_WRITE and c.out:
            try:
                n = c.sock.send(c.out)
                c.out = c.out[n:]
            except BlockingIOError:
                pass
            except OSError:
                conns.discard(c)
                close(c)
                continue
            if c.closing and not c.out:
                conns.discard(c)
                close(c)
                continue
        if ev & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                conns.discard(c)
                close(c)
                continue
            c.rbuf += data
            # requests that arrived together: how far the client sent ahead of our replies
            stats["max_ahead"] = max(stats["max_ahead"], c.rbuf.count(b"\n"))
            while b"\n" in c.rbuf:
                line, c.rbuf = c.rbuf.split(b"\n", 1)
                handle(c, line)
            if len(c.rbuf) > MAX_LINE:
                c.send({"id": None, "ok": False, "error": "too_large", "message": "line too long"})
                c.rbuf = b""
                c.closing = True
