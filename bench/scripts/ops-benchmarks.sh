#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/scripts/ops-benchmarks.sh BUILD_DIR OUT_DIR: the issue-8 benchmark set (P1-P4, P8, P9)
# in one run, every figure next to its baseline measured in the same run (docs/BENCHMARKS.md).
# Each command's JSON line goes to OUT_DIR/<name>.json, its table to OUT_DIR/<name>.txt.
set -u
b=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
gb=$b/bench/gossip-bench
gd=$b/server/gossipd
run() { # run NAME ARGS...
    local name=$1
    shift
    echo "== $name: gossip-bench $* (load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$out/log.txt"
    "$gb" "$@" --json >"$out/$name.txt" 2>>"$out/log.txt"
    tail -n 1 "$out/$name.txt" >"$out/$name.json"
    grep -v '^{' "$out/$name.txt" | tail -n 8 | tee -a "$out/log.txt"
}
# P1 (+P4, P9 idle): lossless capacity, 10 nodes, 1 KiB, one publisher, gossipd vs iroh-gossip
run p1-swarm-find-max swarm --gossipd "$gd" --nodes 10 --size 1024 --publishers 1 --find-max \
    --seconds 2 --rate 500 --messages 2000 --compare iroh --plot "$out/plots-p1"
# P2: latency at 500 msg/s, one publisher and all publishing
run p2-swarm-500-one swarm --gossipd "$gd" --nodes 10 --size 1024 --publishers 1 --rate 500 \
    --messages 5000 --compare iroh --plot "$out/plots-p2-one"
run p2-swarm-500-all swarm --gossipd "$gd" --nodes 10 --size 1024 --publishers all --rate 500 \
    --messages 5000 --compare iroh --plot "$out/plots-p2-all"
# P4: CPU per delivery through the control socket's JSON lines vs its binary framing, same load
for f in json binary; do
    run p4-swarm-$f swarm --gossipd "$gd" --nodes 10 --size 1024 --publishers 1 --rate 1000 \
        --messages 4000 --framing $f
done
# P3 (+P4): relay fan-out 1 -> 9, 1 KiB: gossipd relay (QUIC) vs nats-server, same generator
for r in 5000 20000; do
    run p3-relay-$r relay --gossipd "$gd" --publishers 1 --subscribers 9 --size 1024 --rate $r \
        --messages $((r * 4))
    run p3-nats-$r nats --publishers 1 --subscribers 9 --size 1024 --rate $r --messages $((r * 4))
done
# P8: one relay with 1 and with 2 shards at the same offered load (2 publishers, 8 subscribers)
for s in 1 2; do
    run p8-relay-shards-$s relay --gossipd "$gd" --shards $s --publishers 2 --subscribers 8 \
        --size 1024 --rate 20000 --messages 80000
done
# P9: memory of an idle node, per connection, per joined topic
python3 "$(dirname "$0")/p9-memory.py" "$gd" "$gb" | tee "$out/p9-memory.txt" | tee -a "$out/log.txt"
echo "== done (load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$out/log.txt"
