#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// iroh-peer.mjs: a real iroh 1.x endpoint (npm @number0/iroh, pinned in package-lock.json) that
// speaks the /iroh-gossip/1 stream framing, for interop tests against gossipd's QUIC endpoint.
//
//   node iroh-peer.mjs server [--listen 127.0.0.1:0] [--key FILE] [--conns N] [--timeout S]
//                             [--max BYTES] [--alpn ALPN] [--quiet-frames] [--log LEVEL]
//   node iroh-peer.mjs client --connect ID@ADDR:PORT --topic HEX [--frames N] [--size BYTES |
//                             --sizes A,B,C] [--key FILE] [--timeout S] [--alpn ALPN]
//                             [--neighbors] [--round R] [--allow-oversize]
//                             [--plan PLAN] [--expect-stop S,...]   (see parsePlan)
//                             [--repeat N] [--concurrent] [--idle-ms MS] [--log LEVEL]
//                             [--vectors FILE]     (see vectorStream)
//   node iroh-peer.mjs keygen FILE       write a fresh key file (gossipd format) and print its id
//   node iroh-peer.mjs selftest DIR      check frames.mjs against the byte vectors in DIR
//
// Relays are disabled and the endpoint binds 127.0.0.1 (minimal preset: no discovery, no relay),
// so it only ever talks to the address it is given. Output on stdout, one item per line:
//   ready <endpoint-id-hex> <addr:port>
//   {"event":...} JSON lines (see docs/INTEROP-tests.md)
// Logs from iroh (--log LEVEL or IROH_PEER_LOG=Trace|Debug|Info|Warn|Error) also go to stdout; they
// never start with "ready " or "{", so drivers can filter. Exit status: 0 success, 1 error,
// 2 timeout, 64 usage.
import fs from 'node:fs'
import path from 'node:path'
import iroh from '@number0/iroh'
import {
  ALPN_V1, DEFAULT_MAX_MESSAGE_SIZE, FrameSplitter, decodeMessage, frame, frameContent, fromHex,
  gossipBody, headerFrame, hex, messageId
} from './frames.mjs'

const { Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey, presetMinimal, setLogLevel } =
  iroh

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function die(msg, code = 1) {
  emit({ event: 'error', error: msg })
  process.stderr.write(`iroh-peer: ${msg}\n`)
  process.exit(code)
}

function usage(msg) {
  process.stderr.write(`iroh-peer: ${msg}\n(see the header of iroh-peer.mjs for usage)\n`)
  process.exit(64)
}

function parseArgs(argv, spec) {
  const opts = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) usage(`unexpected argument ${a}`)
    const name = a.slice(2)
    if (!(name in spec)) usage(`unknown option ${a}`)
    if (spec[name] === 'flag') {
      opts[name] = true
    } else {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      opts[name] = argv[++i]
    }
  }
  return opts
}

function intOpt(v, def, what, min = 0) {
  if (v === undefined) return def
  if (!/^[0-9]+$/.test(v) || Number(v) < min) usage(`${what}: expected an integer >= ${min}`)
  return Number(v)
}

const idHex = (id) => hex(id.toBytes())

/**
 * Secret key file, the same format as gossipd's (io/identity.h): lines starting with '#' and blank
 * lines are ignored, exactly one line holds the 32-byte Ed25519 seed as 64 hex chars (iroh's
 * SecretKey bytes are that seed). 32 raw bytes are accepted too. A missing file is created (0600).
 */
function saveKey(file, k) {
  const text = `# gossipd ed25519 secret key seed (hex); endpoint id ${idHex(k.public())}\n` +
    `${hex(k.toBytes())}\n`
  fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' })
}

function loadOrCreateKey(file) {
  if (file === undefined) return SecretKey.generate()
  if (!fs.existsSync(file)) {
    const k = SecretKey.generate()
    saveKey(file, k)
    return k
  }
  const raw = fs.readFileSync(file)
  const lines = raw.toString('latin1').split('\n').map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  if (lines.length === 1 && /^[0-9a-fA-F]{64}$/.test(lines[0])) {
    return SecretKey.fromBytes(Array.from(Buffer.from(lines[0], 'hex')))
  }
  if (raw.length === 32) return SecretKey.fromBytes(Array.from(raw))
  die(`key file ${file}: expected one line of 64 hex characters (or 32 raw bytes)`)
}

async function bindEndpoint(key, listen, alpns) {
  const b = Endpoint.builder()
  presetMinimal(b)
  b.relayMode(RelayMode.disabled())
  b.secretKey(key.toBytes())
  b.alpns(alpns)
  b.bindAddr(listen)
  return await b.bind()
}

function localAddr(ep) {
  const socks = ep.boundSockets().filter((s) => s.startsWith('127.'))
  return socks.length > 0 ? socks[0] : ep.boundSockets()[0]
}

function armTimeout(secs, what) {
  return setTimeout(() => die(`timeout after ${secs} s ${what()}`, 2), secs * 1000)
}

/** iroh's tracing (to stdout) at --log LEVEL, or IROH_PEER_LOG when --log is absent. */
function setupLog(level) {
  level = level ?? process.env.IROH_PEER_LOG
  if (level) setLogLevel(level)
}

/** One-line error text without the binding's Rust backtrace and source locations. */
function errText(e) {
  let t = String(e && e.message ? e.message : e)
  const bt = t.indexOf('Stack backtrace')
  if (bt >= 0) t = t.slice(0, bt)
  return t.replace(/ \([^()]*\.rs:[0-9]+:[0-9]+\)/g, '').replace(/\s+/g, ' ').trim().slice(0, 500)
}

// ---------------------------------------------------------------------------------------------
// server

async function readStream(recv, tag, max, stats, quietFrames) {
  const sp = new FrameSplitter(max)
  let topic = null
  let frames = 0
  let bytes = 0
  for (;;) {
    let chunk
    try {
      chunk = await recv.read(65536)
    } catch (e) {
      // Gossip senders normally never finish a stream (only after Disconnect, PROTOCOL.md 3.1):
      // it ends with the connection. That is a clean end if it falls on a frame boundary.
      const rest = sp.pending()
      if (/ConnectionLost\(ApplicationClosed/.test(String(e)) && rest === 0 && topic !== null) {
        emit({ event: 'stream_end', ...tag, topic, frames, bytes, fin: false, end: errText(e) })
      } else {
        emit({ event: 'stream_error', ...tag, topic, frames, pending: rest, error: errText(e) })
        stats.errors++
      }
      return
    }
    if (chunk.length === 0) break
    bytes += chunk.length
    sp.push(chunk)
    for (;;) {
      let f
      try {
        f = sp.next()
      } catch (e) {
        emit({ event: 'stream_error', ...tag, topic, frames, error: errText(e) })
        stats.errors++
        await recv.stop(0n).catch(() => {})
        return
      }
      if (f === null) break
      if (topic === null) {
        // The topic id; trailing bytes are ignored, as postcard's from_bytes does (PROTOCOL.md 4.1).
        if (f.body.length < 32) {
          emit({ event: 'stream_error', ...tag, error: `stream header body is ${f.body.length} bytes, want 32` })
          stats.errors++
          await recv.stop(0n).catch(() => {})
          return
        }
        topic = hex(f.body.subarray(0, 32))
        emit({ event: 'stream', ...tag, topic, ...(f.body.length > 32 ? { trailing: f.body.length - 32 } : {}) })
        continue
      }
      let m
      try {
        m = decodeMessage(f.body)
      } catch (e) {
        emit({ event: 'frame_error', ...tag, topic, len: f.body.length, error: errText(e) })
        stats.errors++
        await recv.stop(0n).catch(() => {})
        return
      }
      frames++
      stats.frames++
      const ev = { event: 'frame', ...tag, topic, kind: m.kind, len: f.body.length }
      if (m.kind === 'Gossip') {
        ev.content_len = m.content.length
        ev.id = hex(m.id)
        ev.id_ok = messageId(m.content).equals(m.id)
        // First 8 content bytes: gossip-bench puts its frame counter there (little-endian).
        if (m.content.length >= 8) ev.head = hex(m.content.subarray(0, 8))
        if (!ev.id_ok) stats.errors++
        if (m.neighbors) ev.scope = 'Neighbors'
        else ev.round = m.round
      }
      if (m.trailing) ev.trailing = m.trailing
      if (!quietFrames) emit(ev)
    }
  }
  // A clean end inside a 4-byte length prefix counts as a clean end (PROTOCOL.md 3.1).
  const rest = sp.pending()
  if (rest >= 4) {
    emit({ event: 'stream_error', ...tag, topic, frames, error: `end of stream inside a frame (${rest} bytes pending)` })
    stats.errors++
    return
  }
  emit({ event: 'stream_end', ...tag, topic, frames, bytes, fin: true, partial_prefix: rest })
}

async function serveConnection(inc, opts, stats) {
  let remote = null
  try {
    const ra = await inc.remoteAddr()
    remote = ra.addr ?? ra.kind
  } catch (_) {
    // keep null
  }
  let conn
  try {
    const acc = await inc.accept()
    conn = await acc.connect()
  } catch (e) {
    stats.failed++
    emit({ event: 'handshake_failed', remote, error: errText(e) })
    return false
  }
  const peer = idHex(conn.remoteId())
  // Every event of this connection carries its number: the same peer may have several.
  const tag = { peer, conn: ++stats.accepted }
  const alpn = Buffer.from(conn.alpn()).toString('latin1')
  emit({ event: 'connected', ...tag, direction: 'in', remote, alpn })
  const streams = []
  for (;;) {
    let recv
    try {
      recv = await conn.acceptUni()
    } catch (e) {
      break
    }
    streams.push(readStream(recv, tag, opts.max, stats, opts.quietFrames))
  }
  await Promise.all(streams)
  emit({ event: 'closed', ...tag, reason: errText(conn.closeReason() ?? 'unknown') })
  return true
}

async function runServer(argv) {
  const o = parseArgs(argv, {
    listen: 'v', key: 'v', conns: 'v', timeout: 'v', max: 'v', alpn: 'v', 'quiet-frames': 'flag',
    log: 'v'
  })
  setupLog(o.log)
  const opts = {
    conns: intOpt(o.conns, 1, '--conns', 1),
    timeout: intOpt(o.timeout, 60, '--timeout', 1),
    max: intOpt(o.max, DEFAULT_MAX_MESSAGE_SIZE, '--max', 1),
    quietFrames: Boolean(o['quiet-frames'])
  }
  const key = loadOrCreateKey(o.key)
  const alpn = o.alpn ?? ALPN_V1
  const ep = await bindEndpoint(key, o.listen ?? '127.0.0.1:0', [Array.from(Buffer.from(alpn))])
  const stats = { conns: 0, accepted: 0, failed: 0, frames: 0, errors: 0 }
  armTimeout(opts.timeout, () => `waiting for ${opts.conns} connection(s) (${stats.conns} ended, ${stats.failed} handshakes failed)`)
  // SIGTERM/SIGINT (the driver stopping a server that still waits): summary, clean exit.
  const onSignal = async () => {
    emit({ event: 'summary', conns: stats.conns, handshakes_failed: stats.failed,
      frames: stats.frames, errors: stats.errors, stopped_by: 'signal' })
    await Promise.race([ep.close(), new Promise((resolve) => setTimeout(resolve, 1000))])
    process.exit(0)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.stdout.write(`ready ${idHex(ep.id())} ${localAddr(ep)}\n`)
  // Serve connections concurrently; finish once --conns established connections ended. Failed
  // handshakes do not count: an aborted handshake can be followed by a stray packet of the same
  // client that shows up as one more failed attempt.
  let allDone
  const done = new Promise((resolve) => { allDone = resolve })
  ;(async () => {
    for (;;) {
      const inc = await ep.acceptNext()
      if (inc === null) break
      serveConnection(inc, opts, stats).then((established) => {
        if (established && ++stats.conns >= opts.conns) allDone()
      })
    }
  })()
  await done
  emit({ event: 'summary', conns: stats.conns, handshakes_failed: stats.failed, frames: stats.frames,
    errors: stats.errors })
  await ep.close()
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// client

async function runClient(argv) {
  const o = parseArgs(argv, {
    connect: 'v', key: 'v', topic: 'v', frames: 'v', size: 'v', sizes: 'v', timeout: 'v', alpn: 'v',
    neighbors: 'flag', round: 'v', 'allow-oversize': 'flag', max: 'v', log: 'v', plan: 'v',
    'expect-stop': 'v', repeat: 'v', concurrent: 'flag', 'idle-ms': 'v', vectors: 'v'
  })
  setupLog(o.log)
  if (!o.connect) usage('client needs --connect ID@ADDR:PORT')
  const m = /^([0-9a-fA-F]{64})@(.+:[0-9]+)$/.exec(o.connect)
  if (!m) usage('--connect: expected <64 hex id>@<addr:port>')
  const expected = fromHex(m[1], 32, '--connect id')
  const addr = m[2]
  const topic = fromHex(o.topic ?? '', 32, '--topic')
  const nframes = intOpt(o.frames, 1, '--frames')
  const timeout = intOpt(o.timeout, 30, '--timeout', 1)
  const max = intOpt(o.max, DEFAULT_MAX_MESSAGE_SIZE, '--max', 1)
  const round = intOpt(o.round, 0, '--round')
  let sizes
  if (o.sizes !== undefined) {
    sizes = o.sizes.split(',').map((s) => intOpt(s, 0, '--sizes'))
    if (sizes.length === 0) usage('--sizes: empty list')
  } else {
    sizes = [intOpt(o.size, 100, '--size')]
  }
  const alpn = o.alpn ?? ALPN_V1
  const plan = o.plan !== undefined ? parsePlan(o.plan) : null
  const repeat = intOpt(o.repeat, 1, '--repeat', 1)
  const concurrent = Boolean(o.concurrent)
  const idleMs = intOpt(o['idle-ms'], 0, '--idle-ms')
  const expectStop = new Set((o['expect-stop'] ?? '').split(',').filter((x) => x !== '')
    .map((x) => intOpt(x, 0, '--expect-stop')))

  const key = loadOrCreateKey(o.key)
  const ep = await bindEndpoint(key, '127.0.0.1:0', [])
  armTimeout(timeout, () => `dialing/sending to ${addr}`)
  const self = idHex(ep.id())
  emit({ event: 'client', self, local: localAddr(ep) })

  // Topic of a plan stream: the --topic id, or with a "tK:" prefix the same id with byte 31 = K.
  const topicOf = (st) => {
    if (st.topic === undefined) return topic
    const t = Buffer.from(topic)
    t[31] = st.topic
    return t
  }
  const streams = o.vectors !== undefined ? [vectorStream(o.vectors)] : plan ?? [{
    items: Array.from({ length: nframes }, (_, i) => ({
      kind: 'Gossip', size: sizes[i % sizes.length], force: Boolean(o['allow-oversize']), expect: true
    }))
  }]
  if (concurrent && new Set(streams.map((st) => hex(topicOf(st)))).size !== streams.length) {
    usage('--concurrent needs a different topic for every stream (tK: prefixes)')
  }
  const target = new EndpointAddr(EndpointId.fromBytes(Array.from(expected)), null, [addr])
  const sent = []
  let totalBytes = 0
  let seq = 0
  let sendMs = 0

  // Encode stream |st| (frame contents numbered from the running |seq|, so all differ).
  const encodeStream = (st, si, r) => {
    const t = topicOf(st)
    const parts = [headerFrame(t)]
    for (const it of st.items) {
      let rec
      if (it.kind === 'Invalid') {
        const body = Buffer.from([0x02, 0x00]) // outer tag 2 does not exist
        parts.push(frame(body))
        rec = { len: body.length, kind: 'Invalid' }
      } else if (it.kind === 'Raw') {
        parts.push(it.frame)
        rec = { len: it.frame.length - 4, kind: it.want, vector: it.name }
      } else if (it.kind === 'Half') {
        const f = frame(gossipBody(frameContent(seq, it.size), { round }))
        const cut = Math.max(5, Math.floor(f.length / 2)) // past the length prefix
        parts.push(f.subarray(0, cut))
        rec = { len: f.length - 4, written: cut, kind: 'Half' }
      } else {
        const content = frameContent(seq, it.size)
        const body = gossipBody(content, { round, neighbors: Boolean(o.neighbors) })
        if (body.length >= max && !it.force) {
          die(`frame ${seq}: body of ${body.length} bytes is >= max_message_size ${max} (senders must refuse it)`)
        }
        parts.push(frame(body))
        rec = { len: body.length, content_len: content.length, id: hex(messageId(content)), kind: 'Gossip' }
      }
      sent.push({ i: seq++, conn: r, stream: si, topic: hex(t), ...rec, expect: it.expect })
    }
    return parts
  }

  // Write one stream, finish it (unless the receiver is expected to stop it) and wait for the
  // outcome: null = everything acknowledged, a number = the receiver's STOP_SENDING code.
  const sendStream = async (conn, parts, si, r) => {
    const wantStop = expectStop.has(si)
    const st = streams[si]
    const truncated = st.items.some((it) => it.kind === 'Half')
    const send = await conn.openUni()
    let stopped = null
    let writeErr = null
    try {
      // Write in ~256 KiB chunks (the binding copies a JS array per call), or frame by frame
      // when streams are written concurrently, so that their frames interleave on the wire.
      const chunk = concurrent ? 1 : 262144
      let batch = []
      let batchLen = 0
      for (const p of parts) {
        batch.push(p)
        batchLen += p.length
        if (batchLen >= chunk) {
          await send.writeAll(Array.from(Buffer.concat(batch)))
          batch = []
          batchLen = 0
        }
      }
      if (batch.length > 0) await send.writeAll(Array.from(Buffer.concat(batch)))
      if (st.reset !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, 300))
        await send.reset(st.reset)
        totalBytes += parts.reduce((a, p) => a + p.length, 0)
        emit({ event: 'stream_done', conn: r, stream: si, reset: Number(st.reset) })
        return
      }
      // A stream the receiver is expected to stop stays unfinished: once all data is
      // acknowledged (which QUIC does before the application reads it), stopped() of a
      // finished stream would resolve with null and the test would race.
      if (!wantStop) await send.finish()
    } catch (e) {
      writeErr = errText(e)
    }
    try {
      const limit = new Promise((resolve) => setTimeout(() => resolve('timeout'), 5000))
      stopped = await Promise.race([send.stopped(), limit])
    } catch (e) {
      die(`connection ${r} stream ${si}: ${writeErr ?? errText(e)}`)
    }
    if (stopped === 'timeout') {
      die(`connection ${r} stream ${si}: ${wantStop ? 'no STOP_SENDING from the peer' : 'not acknowledged'} within 5 s`)
    }
    totalBytes += parts.reduce((a, p) => a + p.length, 0)
    emit({ event: 'stream_done', conn: r, stream: si, stopped, ...(writeErr ? { write_error: writeErr } : {}) })
    // A receiver may or may not stop a stream that ended inside a frame (the FIN is already in).
    if (truncated && !wantStop) return
    if (wantStop && stopped === null) die(`stream ${si}: expected the peer to stop it, but it acknowledged everything`)
    if (!wantStop && stopped !== null) die(`stream ${si}: peer stopped the stream with code ${stopped}`)
  }

  let peer
  for (let r = 0; r < repeat; r++) {
    const t0 = process.hrtime.bigint()
    let conn
    try {
      conn = await ep.connect(target, Array.from(Buffer.from(alpn)))
    } catch (e) {
      die(`connect to ${hex(expected)}@${addr} failed: ${errText(e)}`)
    }
    const hsMs = Number(process.hrtime.bigint() - t0) / 1e6
    peer = idHex(conn.remoteId())
    if (peer !== hex(expected)) {
      die(`remote id ${peer} differs from the dialed id ${hex(expected)}`)
    }
    emit({ event: 'connected', peer, direction: 'out', conn: r, handshake_ms: Number(hsMs.toFixed(3)),
      alpn: Buffer.from(conn.alpn()).toString('latin1') })
    const encoded = streams.map((st, si) => encodeStream(st, si, r))
    const t1 = process.hrtime.bigint()
    if (concurrent) {
      await Promise.all(encoded.map((parts, si) => sendStream(conn, parts, si, r)))
    } else {
      for (const [si, parts] of encoded.entries()) {
        if (si > 0 && idleMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, idleMs))
          if (conn.closeReason() !== null) die(`connection closed while idle: ${conn.closeReason()}`)
          emit({ event: 'idle_done', conn: r, ms: idleMs, rtt_ms: conn.rtt() })
        }
        await sendStream(conn, parts, si, r)
      }
    }
    sendMs += Number(process.hrtime.bigint() - t1) / 1e6
    conn.close(0n, Array.from(Buffer.from('close from disconnect')))
  }
  for (const f of sent) {
    emit({ event: 'sent', ...f })
  }
  emit({ event: 'summary', peer, conns: repeat, streams: streams.length, frames: sent.length,
    stream_bytes: totalBytes, send_ms: Number(sendMs.toFixed(3)) })
  await ep.close()
  process.exit(0)
}

/**
 * --vectors FILE: one stream with every topic-message frame of the wire vectors file (not the
 * stream headers, the PeerData items or the over-limit frame, which would end the stream). The
 * kind a receiver should report: "Invalid" for invalid- vectors, else the kind this decoder finds.
 */
function vectorStream(file) {
  const items = []
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [name, h] = line.split(' ')
    if (name.startsWith('peerdata-') || /header/i.test(name) || name === 'invalid-length-over-limit') continue
    const f = Buffer.from(h, 'hex')
    let want = 'Invalid'
    if (!name.startsWith('invalid-')) want = decodeMessage(f.subarray(4)).kind
    items.push({ kind: 'Raw', frame: f, want, name, expect: true })
  }
  return { items }
}

/**
 * --plan: streams separated by ';', frames by ','. A stream may start with "tK:" (K = 0..255):
 * its topic is --topic with byte 31 replaced by K. A frame is N (a Gossip frame with N content
 * bytes), oN (the same, sent even when its body is >= max_message_size), x (a body with a
 * non-existent outer tag) or hN (the first half of an N-byte Gossip frame: the stream ends inside
 * the body; only last in a stream); a trailing '!' marks a frame the receiver must not deliver.
 * A stream may end with "#R": instead of finishing it, reset it with code R (after 300 ms, so
 * the receiver has had the data before it).
 */
function parsePlan(spec) {
  return spec.split(';').map((st) => {
    const out = {}
    const tm = /^t([0-9]+):(.*)$/.exec(st)
    if (tm) {
      out.topic = Number(tm[1])
      if (out.topic > 255) usage(`--plan: topic index ${tm[1]} > 255`)
      st = tm[2]
    }
    const rm = /^(.*)#([0-9]+)$/.exec(st)
    if (rm) {
      out.reset = BigInt(rm[2])
      st = rm[1]
    }
    out.items = st.split(',').map((item) => {
      const m = /^(x|o|h|)([0-9]*)(!?)$/.exec(item)
      if (!m || (m[1] === 'x') !== (m[2] === '')) usage(`--plan: bad item ${JSON.stringify(item)}`)
      if (m[1] === 'x') return { kind: 'Invalid', expect: m[3] !== '!' }
      if (m[1] === 'h') return { kind: 'Half', size: Number(m[2]), expect: false }
      return { kind: 'Gossip', size: Number(m[2]), force: m[1] === 'o', expect: m[3] !== '!' }
    })
    if (out.items.slice(0, -1).some((it) => it.kind === 'Half')) usage('--plan: hN must end its stream')
    return out
  })
}

// ---------------------------------------------------------------------------------------------
// keygen / selftest

function runKeygen(argv) {
  if (argv.length !== 1) usage('keygen FILE')
  if (fs.existsSync(argv[0])) usage(`${argv[0]} exists`)
  const k = SecretKey.generate()
  saveKey(argv[0], k)
  process.stdout.write(idHex(k.public()) + '\n')
}

function runSelftest(argv) {
  if (argv.length !== 1) usage('selftest VECTORS_DIR')
  const dir = argv[0]
  let ok = 0
  const fail = (m) => die(`selftest: ${m}`)
  // BLAKE3 vectors: input of length N is i % 251.
  for (const line of fs.readFileSync(path.join(dir, 'blake3.txt'), 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [n, h] = line.split(' ')
    const got = hex(messageId(frameContent(0, Number(n))))
    if (got !== h) fail(`BLAKE3 of pat(${n}): got ${got}, want ${h}`)
    ok++
  }
  const vec = {}
  for (const line of fs.readFileSync(path.join(dir, 'iroh-gossip-wire.txt'), 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [name, h] = line.split(' ')
    vec[name] = Buffer.from(h, 'hex')
  }
  const want = (name) => {
    if (!(name in vec)) fail(`vector ${name} missing`)
    return vec[name]
  }
  const check = (name, got) => {
    if (!got.equals(want(name))) fail(`${name}: encoder gives ${hex(got)}`)
    ok++
  }
  // Key derivation: secret key (seed) 00 x 32 has endpoint id A (vectors header).
  const a = idHex(SecretKey.fromBytes(Array.from(Buffer.alloc(32))).public())
  if (a !== '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29') fail(`id of seed 0: ${a}`)
  ok++
  const topic = Buffer.alloc(32, 0x17)
  check('StreamHeader', headerFrame(topic))
  check('Gossip-swarm-r0', frame(gossipBody(Buffer.from('hi'))))
  check('Gossip-swarm-r200', frame(gossipBody(Buffer.from('hi'), { round: 200 })))
  check('Gossip-swarm-r1-len128', frame(gossipBody(frameContent(0, 128), { round: 1 })))
  check('Gossip-swarm-r0-len4057-max', frame(gossipBody(frameContent(0, 4057))))
  // Decoder: every non-header vector decodes unless it is invalid-; the length limit is the
  // splitter's job.
  for (const [name, bytes] of Object.entries(vec)) {
    if (name.startsWith('peerdata-')) continue
    if (/header/i.test(name)) {
      // Stream header: the 32-byte topic id; trailing bytes are ignored (postcard from_bytes).
      const sp = new FrameSplitter(DEFAULT_MAX_MESSAGE_SIZE)
      sp.push(bytes)
      const f = sp.next()
      const valid = f !== null && f.body.length >= 32
      if (valid === name.startsWith('invalid-')) fail(`${name}: header validity ${valid}`)
      ok++
      continue
    }
    const sp = new FrameSplitter(DEFAULT_MAX_MESSAGE_SIZE)
    sp.push(bytes)
    let err = null
    try {
      const f = sp.next()
      if (f === null) throw new Error('incomplete frame')
      decodeMessage(f.body)
    } catch (e) {
      err = e
    }
    // Key decompression is not checked here, so invalid- vectors about bad keys may decode.
    const keyOnly = name.startsWith('invalid-ed25519')
    if (name.startsWith('invalid-') && err === null && !keyOnly) fail(`${name}: decoded, want rejection`)
    if (!name.startsWith('invalid-') && err !== null) fail(`${name}: rejected: ${err.message}`)
    ok++
  }
  emit({ event: 'selftest', ok })
}

const [mode, ...rest] = process.argv.slice(2)
switch (mode) {
  case 'server': await runServer(rest); break
  case 'client': await runClient(rest); break
  case 'keygen': runKeygen(rest); break
  case 'selftest': runSelftest(rest); break
  default: usage('mode must be server, client, keygen or selftest')
}
