// SPDX-License-Identifier: MIT
// frames.mjs: /iroh-gossip/1 stream framing and the postcard encoding of the messages the interop
// peers send and inspect (PROTOCOL.md sections 3.2 and 4). Written independently of the C codec so
// the two can check each other.
import { blake3 } from '@noble/hashes/blake3'

export const ALPN_V1 = '/iroh-gossip/1'
export const DEFAULT_MAX_MESSAGE_SIZE = 4096

const SWARM_KINDS = ['Join', 'ForwardJoin', 'Shuffle', 'ShuffleReply', 'Neighbor', 'Disconnect']
const GOSSIP_KINDS = ['Gossip', 'Prune', 'Graft', 'IHave']

export function hex(bytes) {
  return Buffer.from(bytes).toString('hex')
}

export function fromHex(s, nbytes, what) {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]*$/.test(s) || s.length % 2 !== 0) {
    throw new Error(`${what}: not a hex string: ${JSON.stringify(s)}`)
  }
  if (nbytes !== undefined && s.length !== nbytes * 2) {
    throw new Error(`${what}: expected ${nbytes * 2} hex characters, got ${s.length}`)
  }
  return Buffer.from(s, 'hex')
}

/** Message id = BLAKE3-256 of the content (no key, no context). */
export function messageId(content) {
  return Buffer.from(blake3(content))
}

/** Unsigned LEB128 varint, minimal form. */
export function varint(n) {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`varint: bad value ${n}`)
  }
  const out = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** Frame = u32 big-endian body length || body. */
export function frame(body) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(body.length)
  return Buffer.concat([len, body])
}

/** Body of the stream header: the 32-byte topic id. */
export function headerFrame(topic) {
  if (topic.length !== 32) throw new Error('topic must be 32 bytes')
  return frame(Buffer.from(topic))
}

/** Gossip body: 01 00 || ID || varint len || content || DeliveryScope (Swarm(round) or Neighbors). */
export function gossipBody(content, { round = 0, neighbors = false } = {}) {
  const scope = neighbors ? Buffer.from([0x01]) : Buffer.concat([Buffer.from([0x00]), varint(round)])
  return Buffer.concat([Buffer.from([0x01, 0x00]), messageId(content), varint(content.length),
    content, scope])
}

/** Deterministic content of frame `i` with `size` bytes: byte j = (i + j) % 251. */
export function frameContent(i, size) {
  const c = Buffer.alloc(size)
  for (let j = 0; j < size; j++) c[j] = (i + j) % 251
  return c
}

/** Gossip body overhead for a content length (round 0): 2 + 32 + v(len) + 1 + 1. */
export function gossipOverhead(len) {
  return 2 + 32 + varint(len).length + 2
}

class Reader {
  constructor(buf) {
    this.buf = buf
    this.off = 0
  }
  byte(what) {
    if (this.off >= this.buf.length) throw new Error(`truncated at ${what}`)
    return this.buf[this.off++]
  }
  bytes(n, what) {
    if (this.off + n > this.buf.length) throw new Error(`truncated at ${what}`)
    const b = this.buf.subarray(this.off, this.off + n)
    this.off += n
    return b
  }
  // maxBytes/lastMax: postcard width limits (u16: 3 bytes, last <= 0x03; u32: 5, last <= 0x0f).
  varint(what, maxBytes = 5, lastMax = 0x0f) {
    let v = 0
    let mul = 1
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte(what)
      if (i === maxBytes - 1 && b > lastMax) throw new Error(`varint overflow at ${what}`)
      v += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) return v
    }
    throw new Error(`varint overflow at ${what}`)
  }
  option(what, inner) {
    const t = this.byte(what)
    if (t === 0) return null
    if (t === 1) return inner()
    throw new Error(`bad Option tag ${t} at ${what}`)
  }
  bool(what) {
    const t = this.byte(what)
    if (t > 1) throw new Error(`bad bool ${t} at ${what}`)
    return t === 1
  }
}

/**
 * Decode one topic-message body far enough to name it and, for Gossip, to return its fields.
 * Throws on anything the PROTOCOL.md 4.6 rules reject (except the Ed25519 decompression check,
 * which this inspector does not do). Trailing bytes are accepted, as the reference does.
 */
export function decodeMessage(body) {
  const r = new Reader(body)
  const outer = r.byte('outer tag')
  const inner = r.byte('inner tag')
  if (outer === 0) {
    if (inner >= SWARM_KINDS.length) throw new Error(`bad Swarm tag ${inner}`)
    const peerData = () => r.bytes(r.varint('peer data length', 10, 0x01), 'peer data')
    const peerInfo = () => {
      r.bytes(32, 'peer key')
      r.option('peer data', peerData)
    }
    switch (inner) {
      case 0: r.option('peer data', peerData); break
      case 1: peerInfo(); r.varint('ttl', 3, 0x03); break
      case 2: {
        r.bytes(32, 'origin')
        const n = r.varint('count', 10, 0x01)
        for (let i = 0; i < n; i++) peerInfo()
        r.varint('ttl', 3, 0x03)
        break
      }
      case 3: {
        const n = r.varint('count', 10, 0x01)
        for (let i = 0; i < n; i++) peerInfo()
        break
      }
      case 4: {
        const p = r.byte('priority')
        if (p > 1) throw new Error(`bad priority ${p}`)
        r.option('peer data', peerData)
        break
      }
      case 5: r.bool('alive'); r.bool('respond'); break
    }
    return { kind: SWARM_KINDS[inner], trailing: body.length - r.off }
  }
  if (outer !== 1) throw new Error(`bad outer tag ${outer}`)
  if (inner >= GOSSIP_KINDS.length) throw new Error(`bad Gossip tag ${inner}`)
  const out = { kind: GOSSIP_KINDS[inner] }
  switch (inner) {
    case 0: {
      out.id = Buffer.from(r.bytes(32, 'id'))
      const n = r.varint('content length', 10, 0x01)
      out.content = Buffer.from(r.bytes(n, 'content'))
      const scope = r.byte('scope')
      if (scope === 0) out.round = r.varint('round', 3, 0x03)
      else if (scope === 1) out.neighbors = true
      else throw new Error(`bad DeliveryScope tag ${scope}`)
      break
    }
    case 1: break
    case 2: r.option('graft id', () => r.bytes(32, 'id')); r.varint('round', 3, 0x03); break
    case 3: {
      const n = r.varint('count', 10, 0x01)
      for (let i = 0; i < n; i++) {
        r.bytes(32, 'id')
        r.varint('round', 3, 0x03)
      }
      break
    }
  }
  out.trailing = body.length - r.off
  return out
}

/**
 * Incremental frame splitter for one uni stream. push() bytes, then pull frames with next():
 * returns {body} for a complete frame, null when more bytes are needed; throws when a length
 * prefix exceeds `max` (checked as soon as the prefix is read, before buffering the body).
 */
export class FrameSplitter {
  constructor(max) {
    this.max = max
    this.chunks = []
    this.avail = 0
  }
  push(bytes) {
    if (bytes.length === 0) return
    this.chunks.push(Buffer.from(bytes))
    this.avail += bytes.length
  }
  peek(n) {
    if (this.chunks.length > 1) {
      this.chunks = [Buffer.concat(this.chunks)]
    }
    return this.chunks[0].subarray(0, n)
  }
  consume(n) {
    const b = this.chunks[0]
    this.chunks[0] = b.subarray(n)
    this.avail -= n
    if (this.chunks[0].length === 0) this.chunks.shift()
  }
  next() {
    if (this.avail < 4) return null
    const len = this.peek(4).readUInt32BE(0)
    if (len > this.max) {
      throw new Error(`frame length ${len} exceeds max_message_size ${this.max}`)
    }
    if (this.avail < 4 + len) return null
    const all = this.peek(4 + len)
    const body = Buffer.from(all.subarray(4))
    this.consume(4 + len)
    return { body }
  }
  /** Bytes buffered that do not form a complete frame. */
  pending() {
    return this.avail
  }
}
