#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""seed_corpus.py: writes the seed corpora of fuzz_node (corpus/node/) and fuzz_stream
(corpus/stream/) in the input formats those harnesses read (see the comments at the top of
fuzz_node.c and fuzz_stream.c).  Deterministic: run it again to get the same files.

    tests/fuzz/seed_corpus.py            # (re)writes tests/fuzz/corpus/{node,stream}/seed-*
"""
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# --- fuzz_node: [shape][seed u16] then steps [op][sel][operands...] ---
# sel: peer index (0 = us, 1..5 valid keys, 6 invalid key) in the low nibble (mod 7),
#      topic index (0, 1 joined; 2 not) in the high nibble (mod 3).
# op % 13: 0 raw body, 1-5 well-formed message, 6-7 time, 8 disconnect, 9 broadcast,
#          10 join_peers, 11 quit/re-join, 12 set_peer_data.
MSG_JOIN, MSG_FJ, MSG_SHUFFLE, MSG_SREPLY, MSG_NEIGHBOR, MSG_DISC, MSG_GOSSIP, MSG_PRUNE, \
    MSG_GRAFT, MSG_IHAVE = range(10)


def sel(peer, topic):
    return (topic << 4) | peer


def msg(peer, topic, typ, flags, *rest):
    return bytes([1, sel(peer, topic), typ, flags] + list(rest))


def time(units, scale):
    return bytes([6, 0, (scale << 6) | units])


def node_seeds():
    seeds = []
    head = bytes([0x00, 0x12, 0x34])
    # a peer joins, becomes a neighbour, gossips, announces, grafts, leaves
    for peer in (1, 3):
        s = head
        s += msg(peer, 0, MSG_JOIN, 1, 8) + b"\x00" * 8
        s += msg(peer + 1, 0, MSG_NEIGHBOR, 3, 4) + b"abcd"
        s += msg(peer, 0, MSG_GOSSIP, 0x10)          # fixed content 1, Swarm, round 0
        s += msg(peer + 1, 0, MSG_IHAVE, 2, 2, 3, 0x84)
        s += time(10, 1)
        s += msg(peer, 0, MSG_GRAFT, 0x21)
        s += msg(peer, 0, MSG_PRUNE, 0)
        s += bytes([9, sel(0, 0), 0x30])             # broadcast fixed content 3, Swarm
        s += time(63, 2)
        s += msg(peer + 1, 0, MSG_DISC, 1)
        s += bytes([8, sel(peer, 0)])
        seeds.append(s)
    # membership churn: ForwardJoin, Shuffle, ShuffleReply with several peers
    s = head
    for p in range(1, 6):
        s += msg(p, p % 2, MSG_JOIN, 0, 0)
    s += msg(2, 0, MSG_FJ, 0x31, 5, 4) + b"\x01\x02\x03\x04"
    s += msg(3, 0, MSG_SHUFFLE, 0x20, 4, 1, 0x08, 9, 2, 0x11, 4, 0, 5, 0, 2)
    s += msg(4, 0, MSG_SREPLY, 0, 3, 1, 0, 2, 0, 6, 0)
    s += time(40, 3)
    s += bytes([10, sel(0, 1), 2, 1, 5, 0])
    s += bytes([11, sel(0, 1) | 0x08, 1, 2])
    s += bytes([12, 0, 6]) + b"\x00\x01\x02\x03\x04\x05"
    s += time(63, 3) * 4
    seeds.append(s)
    # our own id, an invalid key and the topic not joined
    s = head
    s += msg(0, 0, MSG_JOIN, 0, 0) + msg(6, 0, MSG_JOIN, 0, 0) + msg(1, 2, MSG_JOIN, 0, 0)
    s += msg(1, 0, MSG_FJ, 0x02, 0, 0, 0xff, 0xff) + msg(1, 0, MSG_GOSSIP, 0x04)
    s += bytes([0, sel(1, 0), 5, 0x00, 0x06, 0x01, 0x00, 0x00])
    s += bytes([11, sel(0, 2), 1, 3])
    seeds.append(s)
    rng = random.Random(20261124)
    for _ in range(36):
        s = bytes([rng.randrange(256), rng.randrange(256), rng.randrange(256)])
        for _ in range(rng.randrange(4, 40)):
            op = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0])
            s += bytes([op, rng.randrange(256)]) + bytes(rng.randrange(256)
                                                           for _ in range(rng.randrange(2, 12)))
        seeds.append(s)
    # encode-once: active view eager, lazy, eager; 28 broadcasts at one instant fill the lazy
    # peer's IHave chunk (C = 13 at M = 512) twice, flushing it between two eager copies
    s = bytes([0x01, 0x12, 0x34])
    for p in (1, 2, 3):
        s += msg(p, 0, MSG_NEIGHBOR, 1, 0)
    s += msg(2, 0, MSG_PRUNE, 0)
    for i in range(28):
        s += bytes([9, sel(0, 0), 2, 0, 4]) + struct.pack(">I", 0xe0c0_0000 + i)
    seeds.append(s)
    return seeds


# --- fuzz_stream: [profile] then steps [ctl][operands...] ---
# ctl: bits 0-1 stream, bit 2 FIN, high nibble 15 = header frame (+1 topic byte), 14 = prefix near
# M (+1 byte d, +1 length, data), otherwise raw: [len] (+ high nibble when bit 3) then bytes.
def frame(body):
    return struct.pack(">I", len(body)) + body


def raw(stream, data, fin=False):
    out = b""
    while data:
        k = min(len(data), 255)
        out += bytes([(stream & 3) | (4 if fin and k == len(data) else 0), k]) + data[:k]
        data = data[k:]
    return out


def stream_seeds():
    seeds = []
    topic = bytes(range(32))
    for profile in range(3):
        s = bytes([profile])
        s += raw(0, frame(topic) + frame(b"hello") + frame(b"") + frame(b"x" * 100))
        s += raw(1, frame(topic)[:10]) + raw(1, frame(topic)[10:] + frame(b"y" * 300)[:100])
        s += raw(1, frame(b"y" * 300)[100:], fin=True)
        s += raw(2, frame(topic) + struct.pack(">I", 1 << 20))       # over the limit
        s += raw(3, frame(b"short"))                                 # bad header
        s += bytes([0xF0, 0x42]) + bytes([0xE0, 0x0F, 8]) + b"z" * 8
        s += bytes([0xE4, 0x30, 1]) + b"q"
        seeds.append(s)
    # boundaries: headers of 0, 31, 32 and 33 bytes; bodies of exactly M and M + 1 bytes
    for profile, m in ((0, 512), (1, 4096), (2, 600)):
        for hlen in (0, 31, 32, 33):
            s = bytes([profile]) + raw(0, frame(topic[:hlen] + b"\x07" * max(0, hlen - 32)))
            s += raw(0, frame(b"after the header"), fin=True)
            seeds.append(s)
        s = bytes([profile]) + raw(1, frame(topic) + frame(b"m" * m))
        s += raw(1, struct.pack(">I", m + 1) + b"n" * 10, fin=True)
        seeds.append(s)
    rng = random.Random(7)
    for _ in range(30):
        s = bytes([rng.randrange(3)])
        for _ in range(rng.randrange(2, 20)):
            st = rng.randrange(4)
            kind = rng.randrange(4)
            if kind == 0:
                s += bytes([0xF0 | st, rng.randrange(256)])
            elif kind == 1:
                n = rng.randrange(0, 40)
                s += bytes([0xE0 | st | (4 if rng.randrange(8) == 0 else 0),
                            rng.randrange(256), n]) + bytes(rng.randrange(256) for _ in range(n))
            else:
                body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 32, 200, 700])))
                data = frame(body)
                cut = rng.randrange(len(data) + 1)
                s += raw(st, data[:cut]) + raw(st, data[cut:], fin=rng.randrange(6) == 0)
        seeds.append(s)
    return seeds


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, s in enumerate(seeds):
        with open(os.path.join(d, "seed-%03d" % i), "wb") as fh:
            fh.write(s)
    print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(__doc__)
    write("node", node_seeds())
    write("stream", stream_seeds())
