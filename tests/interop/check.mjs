#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// check.mjs: assertions over the JSON-line outputs of an interop run (called by run-interop.sh).
//
//   node check.mjs recv  --out FILE --peer HEX --expect FILE[,FILE...]
//       FILE is a receiver's stdout (gossip-bench transport server, or iroh-peer server). Asserts
//       that each connection of --peer (in order) is direction "in" and carried exactly the
//       frames in the sender's "sent" records (--expect files, each holding one or more
//       connections, "conn" index): per topic, the kind and body length of each frame, in order,
//       and no frame on another topic; records with expect:false must not arrive.
//       With --ids 1, also each frame's message id and id_ok (the iroh peer reports them); with
//       --closed 1, a "closed" event; --stream-errors N: the receiver reported N stream errors
//       (rejected frames; default 0).
//   node check.mjs recv-sizes --out FILE --peer HEX --topic HEX --frames N --sizes A,B,...
//       Like recv, for senders that report no per-frame records (gossip-bench transport client):
//       connection i must carry N Gossip frames whose content length is sizes[i], each with
//       id == BLAKE3(content) (id_ok) and no id twice, all on one stream that ended at a frame
//       boundary (FIN, or the sender's connection close after everything was acknowledged).
//   node check.mjs recv-topics --out FILE --peer HEX --topic HEX --frames N --topics K --size B
//       One connection from gossip-bench transport client --topics K: frame i (the counter in the
//       first 8 content bytes) on topic --topic + (i mod K) in its last byte, in order per topic,
//       N frames in all with B content bytes and valid ids, K streams ending cleanly.
//   node check.mjs no-connect --out FILE --peer HEX
//       Asserts that FILE holds no "connected" event for --peer.
// Exit status 0 when every assertion holds; 1 with one line per failure otherwise.
import fs from 'node:fs'

const argv = process.argv.slice(2)
const mode = argv.shift()
const opt = {}
for (let i = 0; i < argv.length; i += 2) {
  if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
    console.error(`check.mjs: bad arguments near ${argv[i]}`)
    process.exit(64)
  }
  opt[argv[i].slice(2)] = argv[i + 1]
}

const failures = []
const expect = (cond, msg) => {
  if (!cond) failures.push(msg)
  return cond
}

function events(file) {
  const out = []
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line))
    } catch (e) {
      failures.push(`${file}: unparsable JSON line: ${line.slice(0, 200)}`)
    }
  }
  return out
}

function finish() {
  if (failures.length === 0) {
    console.log(`check ${mode}: OK`)
    process.exit(0)
  }
  for (const f of failures.slice(0, 40)) console.log(`check ${mode}: FAIL: ${f}`)
  if (failures.length > 40) console.log(`check ${mode}: ... ${failures.length - 40} more failures`)
  process.exit(1)
}

// Group the receiver's events per connection of peer |peer|, in the order of their "connected"
// events. The iroh peer tags every event with its connection number ("conn"), which is exact.
// gossip-bench's server has no such tag: there a frame belongs to the peer's latest connection,
// and a "closed" to its oldest connection not closed yet (a sender's next connection can be
// reported before its previous close is).
function perConnection(evs, peer) {
  const conns = []
  const byTag = new Map()
  for (const e of evs) {
    if (e.peer !== peer) continue
    if (e.event === 'connected') {
      const c = { connected: e, frames: [], ends: [], errors: [], closed: null }
      conns.push(c)
      if (e.conn !== undefined) byTag.set(e.conn, c)
      continue
    }
    let c
    if (e.conn !== undefined) {
      c = byTag.get(e.conn)
    } else if (e.event === 'closed') {
      c = conns.find((x) => x.closed === null)
    } else {
      c = conns[conns.length - 1]
    }
    if (c === undefined) {
      failures.push(`event ${e.event} of ${peer} before its "connected" event`)
      continue
    }
    if (e.event === 'frame') c.frames.push(e)
    else if (e.event === 'stream_end') c.ends.push(e)
    else if (e.event === 'stream_error' || e.event === 'frame_error') c.errors.push(e)
    else if (e.event === 'closed') c.closed = e
  }
  return conns
}

function checkConnHeader(c, i, topic = null) {
  const nerr = Number(opt['stream-errors'] ?? 0)
  expect(c.connected.direction === 'in',
    `connection ${i}: direction ${JSON.stringify(c.connected.direction)}, want "in"`)
  expect(c.errors.length === nerr,
    `connection ${i}: want ${nerr} stream errors, got ${JSON.stringify(c.errors)}`)
  for (const [j, f] of c.frames.entries()) {
    if (topic === null) break
    if (!expect(f.topic === topic, `connection ${i} frame ${j}: topic ${f.topic}, want ${topic}`)) break
  }
}

function groupBy(list, key) {
  const m = new Map()
  for (const x of list) {
    const k = key(x)
    if (!m.has(k)) m.set(k, [])
    m.get(k).push(x)
  }
  return m
}

function recv() {
  const evs = events(opt.out)
  // Expected connections, in order: each file's "sent" records grouped by their "conn" index.
  const want = []
  for (const file of (opt.expect ?? '').split(',').filter((s) => s !== '')) {
    const sent = events(file).filter((e) => e.event === 'sent')
    const byConn = groupBy(sent, (e) => e.conn ?? 0)
    for (const k of [...byConn.keys()].sort((a, b) => a - b)) want.push(byConn.get(k))
  }
  const conns = perConnection(evs, opt.peer)
  expect(conns.length === want.length,
    `${conns.length} connection(s) from ${opt.peer}, want ${want.length}`)
  for (const [i, sentAll] of want.entries()) {
    const c = conns[i]
    if (!c) break
    checkConnHeader(c, i)
    // Frames marked expect:false (after an over-limit frame, say) must not be delivered. Order
    // holds per topic (one stream at a time per topic); streams of different topics interleave.
    const sentBy = groupBy(sentAll.filter((e) => e.expect !== false), (e) => e.topic)
    const gotBy = groupBy(c.frames, (f) => f.topic)
    for (const t of gotBy.keys()) {
      expect(sentBy.has(t), `connection ${i}: frames on topic ${t}, which the sender never used`)
    }
    for (const [t, sent] of sentBy) {
      const got = gotBy.get(t) ?? []
      expect(got.length === sent.length,
        `connection ${i} topic ${t.slice(0, 8)}..: received ${got.length} frames, sender sent ${sent.length}`)
      for (let j = 0; j < Math.min(sent.length, got.length); j++) {
        const f = got[j]
        const s = sent[j]
        if (!expect(f.len === s.len && f.kind === s.kind,
          `connection ${i} topic ${t.slice(0, 8)}.. frame ${j}: ${f.kind} len ${f.len}, sent ${s.kind} len ${s.len}`)) break
        if (opt.ids === '1') {
          if (!expect(f.id === s.id && f.id_ok === true,
            `connection ${i} frame ${j}: id ${f.id} (id_ok ${f.id_ok}), sent ${s.id}`)) break
        }
      }
    }
    if (opt.closed === '1') {
      expect(c.closed !== null, `connection ${i}: no "closed" event`)
    }
  }
  finish()
}

function recvSizes() {
  const evs = events(opt.out)
  const sizes = opt.sizes.split(',').map(Number)
  const n = Number(opt.frames)
  const conns = perConnection(evs, opt.peer)
  expect(conns.length === sizes.length,
    `${conns.length} connection(s) from ${opt.peer}, want ${sizes.length}`)
  for (const [i, size] of sizes.entries()) {
    const c = conns[i]
    if (!c) break
    checkConnHeader(c, i, opt.topic)
    expect(c.frames.length === n, `connection ${i} (size ${size}): ${c.frames.length} frames, want ${n}`)
    for (const [j, f] of c.frames.entries()) {
      if (!expect(f.kind === 'Gossip', `connection ${i} frame ${j}: kind ${f.kind}, want Gossip`)) break
      if (!expect(f.content_len === size,
        `connection ${i} frame ${j}: content length ${f.content_len}, want ${size}`)) break
      if (!expect(f.id_ok === true, `connection ${i} frame ${j}: id ${f.id} is not BLAKE3(content)`)) break
    }
    const ids = new Set(c.frames.map((f) => f.id))
    expect(ids.size === c.frames.length,
      `connection ${i}: ${c.frames.length - ids.size} duplicate message ids (the sender makes every content unique)`)
    expect(c.ends.length === 1 && c.ends[0].frames === n,
      `connection ${i}: want one cleanly ended stream with ${n} frames, got ${JSON.stringify(c.ends)}`)
    expect(c.closed !== null, `connection ${i}: no "closed" event`)
  }
  finish()
}

// gossip-bench transport client --topics K: frame i (its counter, the first 8 content bytes,
// little-endian) goes to topic --topic with its last byte + (i mod K), one stream per topic.
function recvTopics() {
  const evs = events(opt.out)
  const n = Number(opt.frames)
  const k = Number(opt.topics)
  const size = Number(opt.size)
  const base = Buffer.from(opt.topic, 'hex')
  const conns = perConnection(evs, opt.peer)
  expect(conns.length === 1, `${conns.length} connection(s) from ${opt.peer}, want 1`)
  const c = conns[0]
  if (c) {
    checkConnHeader(c, 0)
    expect(c.frames.length === n, `${c.frames.length} frames, want ${n}`)
    const byTopic = groupBy(c.frames, (f) => f.topic)
    expect(byTopic.size === k, `frames on ${byTopic.size} topics, want ${k}`)
    for (let j = 0; j < k; j++) {
      const t = Buffer.from(base)
      t[31] = (t[31] + j) & 0xff
      const got = byTopic.get(t.toString('hex')) ?? []
      const want = []
      for (let i = j; i < n; i += k) want.push(i)
      expect(got.length === want.length, `topic +${j}: ${got.length} frames, want ${want.length}`)
      for (let x = 0; x < Math.min(got.length, want.length); x++) {
        const f = got[x]
        const seq = f.head === undefined ? NaN : Number(Buffer.from(f.head, 'hex').readBigUInt64LE(0))
        if (!expect(f.kind === 'Gossip' && f.content_len === size && f.id_ok === true,
          `topic +${j} frame ${x}: ${f.kind}, content ${f.content_len} bytes, id_ok ${f.id_ok}`)) break
        if (!expect(seq === want[x], `topic +${j} frame ${x}: counter ${seq}, want ${want[x]} (order or topic mapping wrong)`)) break
      }
    }
    expect(c.ends.length === k, `${c.ends.length} streams ended cleanly, want ${k}`)
    expect(c.closed !== null, 'no "closed" event')
  }
  finish()
}

function noConnect() {
  const evs = events(opt.out)
  const bad = evs.filter((e) => e.event === 'connected' && e.peer === opt.peer)
  expect(bad.length === 0, `unexpected "connected" event(s) for ${opt.peer}: ${JSON.stringify(bad)}`)
  finish()
}

switch (mode) {
  case 'recv': recv(); break
  case 'recv-sizes': recvSizes(); break
  case 'recv-topics': recvTopics(); break
  case 'no-connect': noConnect(); break
  default:
    console.error('check.mjs: mode must be recv, recv-sizes, recv-topics or no-connect')
    process.exit(64)
}
