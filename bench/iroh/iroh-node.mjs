#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// iroh-node.mjs: one real iroh-gossip 0.35 node (npm @number0/iroh 0.35.0, pinned in
// package-lock.json) behind the subset of gossipd's control socket (docs/control.md) that
// `gossip-bench swarm` uses, so the same C driver measures gossipd and iroh-gossip side by side
// (`gossip-bench swarm --compare iroh`).  One Node.js process per node.
//
//   node iroh-node.mjs --control PATH --topic HEX [--bootstrap ID@ADDR:PORT]...
//
// Prints `ready <id> <addr:port>` once listening.  The node subscribes to the topic at start
// (like gossipd --join).  Control socket (JSON lines): `subscribe` (reply, then a neighbor_up per
// current neighbour and `neighbor_up`, `neighbor_down`, `received` events with base64 content),
// `publish` (base64 content, scope swarm; the reply comes after iroh accepted the broadcast).
// Anything else is answered {"ok":false,"error":"unknown_op"}.
import fs from 'node:fs'
import net from 'node:net'
import pkg from '@number0/iroh'

const { Iroh } = pkg

function die(msg) {
    process.stderr.write(`iroh-node: ${msg}\n`)
    process.exit(1)
}

function parseArgs(argv) {
    const o = { bootstrap: [] }
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]
        const v = argv[i + 1]
        if (a === '--control' && v) { o.control = v; i++ }
        else if (a === '--topic' && v) { o.topic = v; i++ }
        else if (a === '--bootstrap' && v) { o.bootstrap.push(v); i++ }
        else die(`usage: iroh-node.mjs --control PATH --topic HEX [--bootstrap ID@ADDR:PORT]... (${a}?)`)
    }
    if (!o.control || !/^[0-9a-f]{64}$/.test(o.topic || '')) die('--control and --topic HEX are required')
    return o
}

const fromHex = (h) => Array.from(Buffer.from(h, 'hex'))

async function main() {
    const o = parseArgs(process.argv.slice(2))
    const node = await Iroh.memory({ nodeDiscovery: 'None', ipv4Addr: '127.0.0.1:0', ipv6Addr: '[::1]:0' })
    const id = (await node.net.nodeId()).toString()
    const addr = (await node.net.nodeAddr()).addresses.find((a) => a.startsWith('127.'))
    const boot = []
    for (const b of o.bootstrap) {
        const [pid, paddr] = b.split('@')
        await node.net.addNodeAddr({ nodeId: pid, addresses: [paddr] })
        boot.push(pid)
    }
    const clients = new Set() // connections that sent subscribe
    const neighbors = new Set()
    const send = (c, obj) => { if (!c.destroyed) c.write(JSON.stringify(obj) + '\n') }
    const broadcastEvent = (obj) => { for (const c of clients) send(c, obj) }
    const sender = await node.gossip.subscribe(fromHex(o.topic), boot, (err, ev) => {
        if (err) return
        if (ev.neighborUp) {
            neighbors.add(ev.neighborUp)
            broadcastEvent({ event: 'neighbor_up', topic: o.topic, peer: ev.neighborUp })
        } else if (ev.neighborDown) {
            neighbors.delete(ev.neighborDown)
            broadcastEvent({ event: 'neighbor_down', topic: o.topic, peer: ev.neighborDown, reason: 'connection_lost' })
        } else if (ev.received) {
            if (clients.size === 0) return
            const b64 = Buffer.from(ev.received.content).toString('base64')
            broadcastEvent({ event: 'received', topic: o.topic, content: b64, delivered_from: ev.received.deliveredFrom, scope: 'swarm' })
        } else if (ev.joined) {
            for (const p of ev.joined) {
                if (!neighbors.has(p)) {
                    neighbors.add(p)
                    broadcastEvent({ event: 'neighbor_up', topic: o.topic, peer: p })
                }
            }
        }
    })
    try { fs.unlinkSync(o.control) } catch {}
    const server = net.createServer((c) => {
        let buf = ''
        let chain = Promise.resolve() // replies in request order
        c.setEncoding('utf8')
        c.on('data', (d) => {
            buf += d
            let nl
            while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl)
                buf = buf.slice(nl + 1)
                if (!line.trim()) continue
                let req
                try { req = JSON.parse(line) } catch { send(c, { ok: false, error: 'bad_json' }); continue }
                const rid = req.id
                const reply = (obj) => send(c, rid === undefined ? obj : { id: rid, ...obj })
                if (req.op === 'subscribe') {
                    chain = chain.then(() => {
                        clients.add(c)
                        reply({ ok: true, topic: o.topic })
                        for (const p of neighbors) send(c, { event: 'neighbor_up', topic: o.topic, peer: p })
                    })
                } else if (req.op === 'publish') {
                    const content = Array.from(Buffer.from(req.content || '', 'base64'))
                    chain = chain.then(() => sender.broadcast(content)).then(
                        () => reply({ ok: true, topic: o.topic }),
                        (e) => reply({ ok: false, error: 'internal', message: String(e).split('\n')[0] }))
                } else {
                    chain = chain.then(() => reply({ ok: false, error: 'unknown_op' }))
                }
            }
        })
        c.on('close', () => clients.delete(c))
        c.on('error', () => clients.delete(c))
    })
    server.listen(o.control, () => process.stdout.write(`ready ${id} ${addr}\n`))
    const stop = async () => {
        server.close()
        await node.node.shutdown().catch(() => {})
        process.exit(0)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
}

main().catch((e) => die(String(e).split('\n')[0]))
