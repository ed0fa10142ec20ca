// SPDX-License-Identifier: MIT
// iroh-node.mjs: one real iroh-gossip 0.35 node (npm @number0/iroh 0.35.0, ALPN /iroh-gossip/0)
// driven by JSON lines on stdin, reporting JSON lines on stdout.  Used by swarm.mjs.
//
//   node iroh-node.mjs [--key HEX32]       (prints {"ev":"ready","id":HEX,"addr":"127.0.0.1:P"})
//
// Requests (one JSON object per line):
//   {"op":"addr","peer":HEX,"addrs":["127.0.0.1:P",..]}   tell the transport a peer's address
//                                                          (0.35 drops packets from unknown ones)
//   {"op":"join","topic":HEX,"bootstrap":[HEX,..]}        subscribe (one topic per node)
//   {"op":"send","n":N,"size":S,"interval_ms":I,"tag":T}  N broadcasts of S bytes, content
//                                                          "T/i|" + pattern (see content())
//   {"op":"quit"}                                          close the topic, shut down, exit 0
// Events: ready, joined {peers}, up {peer}, down {peer}, recv {key, len, ok, from}, sent {n,
// errors}, error {what}, lagged, bye.  recv.ok is false when the content's pattern is broken.
import pkg from '@number0/iroh'
import readline from 'node:readline'

const { Iroh } = pkg

function out(o) {
    process.stdout.write(JSON.stringify(o) + '\n')
}

function hexToBytes(h) {
    const a = []
    for (let i = 0; i < h.length; i += 2) a.push(parseInt(h.slice(i, i + 2), 16))
    return a
}

// content: "TAG/i|" then bytes (j * 7 + total length) & 0xff up to |size| bytes in total.
export function content(tag, i, size) {
    const head = Buffer.from(`${tag}/${i}|`)
    const buf = Buffer.alloc(Math.max(size, head.length))
    head.copy(buf)
    for (let j = head.length; j < buf.length; ++j) buf[j] = (j * 7 + buf.length) & 0xff
    return buf
}

export function check(buf) {
    const bar = buf.indexOf(0x7c)
    if (bar < 0) return { key: null, ok: false }
    for (let j = bar + 1; j < buf.length; ++j) {
        if (buf[j] !== ((j * 7 + buf.length) & 0xff)) return { key: buf.subarray(0, bar).toString(), ok: false }
    }
    return { key: buf.subarray(0, bar).toString(), ok: true }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function main() {
    const args = process.argv.slice(2)
    const opts = { nodeDiscovery: 'None', ipv4Addr: '127.0.0.1:0', ipv6Addr: '[::1]:0' }
    const ki = args.indexOf('--key')
    if (ki >= 0) opts.secretKey = hexToBytes(args[ki + 1])
    const node = await Iroh.memory(opts)
    const id = (await node.net.nodeId()).toString()
    const na = await node.net.nodeAddr()
    const v4 = na.addresses.find((a) => a.startsWith('127.')) || na.addresses[0]
    out({ ev: 'ready', id, addr: v4 })
    let sender = null
    const rl = readline.createInterface({ input: process.stdin })
    const queue = []
    let busy = false
    async function handle(req) {
        if (req.op === 'addr') {
            await node.net.addNodeAddr({ nodeId: req.peer, addresses: req.addrs })
        } else if (req.op === 'join') {
            sender = await node.gossip.subscribe(hexToBytes(req.topic), req.bootstrap || [], (err, ev) => {
                if (err) {
                    out({ ev: 'error', what: String(err).split('\n')[0] })
                    return
                }
                if (ev.joined) out({ ev: 'joined', peers: ev.joined })
                else if (ev.neighborUp) out({ ev: 'up', peer: ev.neighborUp })
                else if (ev.neighborDown) out({ ev: 'down', peer: ev.neighborDown })
                else if (ev.received) {
                    const buf = Buffer.from(ev.received.content)
                    const c = check(buf)
                    out({ ev: 'recv', key: c.key, len: buf.length, ok: c.ok, from: ev.received.deliveredFrom })
                } else if (ev.lagged) out({ ev: 'lagged' })
            })
            out({ ev: 'subscribed' })
        } else if (req.op === 'send') {
            let errors = 0
            for (let i = 0; i < req.n; ++i) {
                try {
                    await sender.broadcast(Array.from(content(req.tag, (req.first || 0) + i, req.size)))
                } catch (e) {
                    ++errors
                    out({ ev: 'error', what: String(e).split('\n')[0] })
                }
                if (req.interval_ms) await sleep(req.interval_ms)
            }
            out({ ev: 'sent', tag: req.tag, n: req.n, errors })
        } else if (req.op === 'quit') {
            if (sender) await sender.close()
            await node.node.shutdown()
            out({ ev: 'bye' })
            process.exit(0)
        }
    }
    rl.on('line', (line) => {
        if (!line.trim()) return
        queue.push(JSON.parse(line))
        if (busy) return
        busy = true
        ;(async () => {
            while (queue.length) {
                const req = queue.shift()
                try {
                    await handle(req)
                } catch (e) {
                    out({ ev: 'error', what: `${req.op}: ${String(e).split('\n')[0]}` })
                }
            }
            busy = false
        })()
    })
    rl.on('close', async () => {
        await node.node.shutdown().catch(() => {})
        process.exit(0)
    })
}

if (process.argv[1] && process.argv[1].endsWith('iroh-node.mjs')) {
    main().catch((e) => {
        out({ ev: 'fatal', what: String(e).split('\n')[0] })
        process.exit(1)
    })
}
