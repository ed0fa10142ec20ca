// SPDX-License-Identifier: MIT
// swarm.mjs: mixed swarms of gossipd nodes and real iroh-gossip 0.35 nodes (iroh-node.mjs), one
// topic, run inside a loopback-only network namespace by run-v0.sh.
//
//   node swarm.mjs CASE GOSSIPD [SECONDS]
//
// CASE: swarm (5+5, 200+200 broadcasts), relay, bridge, faults, sizes, soak (SECONDS, default
// 120).  gossipd nodes are driven through their control sockets (docs/control.md), iroh nodes
// through JSON lines (iroh-node.mjs).  Exits 0 when every assertion held, 1 otherwise; prints
// one `figures` JSON line with what was measured.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { content, check } from './iroh-node.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const [caseName, gossipdBin, secondsArg] = process.argv.slice(2)
const work = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `gs-v0-${caseName}-`))
const topic = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 13 + 7) & 0xff)).toString('hex')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const t0 = Date.now()
const procs = []
let failed = false

function log(...a) {
    console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
}

function fail(msg) {
    failed = true
    console.log(`FAIL: ${msg}`)
}

function assert(cond, msg) {
    if (!cond) fail(msg)
    return cond
}

async function waitFor(pred, ms, step = 100) {
    const end = Date.now() + ms
    for (;;) {
        if (pred()) return true
        if (Date.now() > end) return false
        await sleep(step)
    }
}

// A node of either kind keeps: received keys (counts), bad contents, neighbour set, downs.
class Peer {
    constructor(name) {
        this.name = name
        this.recv = new Map()
        this.bad = 0
        this.neighbors = new Set()
        this.downs = []
        this.ups = 0
        this.alive = true
    }
    onRecv(buf) {
        const c = check(buf)
        if (!c.ok) ++this.bad
        if (c.key !== null) this.recv.set(c.key, (this.recv.get(c.key) || 0) + 1)
    }
}

class Gossipd extends Peer {
    constructor(name, args) {
        super(name)
        this.kind = 'gossipd'
        this.args = args
        this.sock = path.join(work, `${name}.sock`)
        this.pending = new Map()
        this.nextId = 1
    }
    async start() {
        const err = fs.openSync(path.join(work, `${this.name}.err`), 'w')
        this.proc = spawn(gossipdBin, ['--listen', '127.0.0.1:0', '--shards', '1', '--control', this.sock,
            '--log-level', 'info', ...this.args], { stdio: ['ignore', 'pipe', err] })
        procs.push(this.proc)
        this.proc.on('exit', (code, sig) => {
            this.exit = { code, sig }
            this.alive = false
        })
        const rl = readline.createInterface({ input: this.proc.stdout })
        await new Promise((resolve, reject) => {
            const to = setTimeout(() => reject(new Error(`${this.name}: no ready line`)), 10000)
            rl.once('line', (line) => {
                clearTimeout(to)
                const m = line.match(/^ready ([0-9a-f]{64}) (\S+)/)
                if (!m) return reject(new Error(`${this.name}: bad ready line ${line}`))
                this.id = m[1]
                this.addr = m[2]
                resolve()
            })
        })
        this.conn = net.createConnection(this.sock)
        await new Promise((r, j) => { this.conn.once('connect', r); this.conn.once('error', j) })
        const crl = readline.createInterface({ input: this.conn })
        crl.on('line', (line) => this.onLine(JSON.parse(line)))
        this.conn.on('error', () => {})
    }
    onLine(o) {
        if (o.event) {
            if (o.event === 'received') this.onRecv(Buffer.from(o.content, 'base64'))
            else if (o.event === 'neighbor_up') { this.neighbors.add(o.peer); ++this.ups }
            else if (o.event === 'neighbor_down') {
                this.neighbors.delete(o.peer)
                this.downs.push({ peer: o.peer, reason: o.reason, at: Date.now() })
            }
            return
        }
        const p = this.pending.get(o.id)
        if (p) {
            this.pending.delete(o.id)
            p(o)
        }
    }
    ctl(req) {
        const id = this.nextId++
        return new Promise((resolve) => {
            this.pending.set(id, resolve)
            this.conn.write(JSON.stringify({ ...req, id }) + '\n')
        })
    }
    async join(peers) {
        const r = await this.ctl({ op: 'join', topic, peers })
        assert(r.ok, `${this.name}: join: ${JSON.stringify(r)}`)
        const s = await this.ctl({ op: 'subscribe', topic })
        assert(s.ok, `${this.name}: subscribe: ${JSON.stringify(s)}`)
    }
    async publish(buf) {
        const r = await this.ctl({ op: 'publish', topic, content: buf.toString('base64') })
        return r
    }
    async active() {
        const r = await this.ctl({ op: 'topics' })
        const t = (r.topics || []).find((x) => x.topic === topic)
        return t ? t.active : []
    }
    async counters() {
        const r = await this.ctl({ op: 'status' })
        return r
    }
    peerAddr() {
        return `${this.id}@${this.addr}`
    }
    signal(sig) {
        this.proc.kill(sig)
    }
}

class Iroh extends Peer {
    constructor(name) {
        super(name)
        this.kind = 'iroh'
        this.sent = new Map()
        this.errors = []
    }
    async start() {
        const err = fs.openSync(path.join(work, `${this.name}.err`), 'w')
        this.proc = spawn(process.execPath, ['--no-deprecation', path.join(here, 'iroh-node.mjs')],
            { stdio: ['pipe', 'pipe', err] })
        procs.push(this.proc)
        this.proc.on('exit', (code, sig) => {
            this.exit = { code, sig }
            this.alive = false
        })
        this.proc.stdin.on('error', () => {})
        const rl = readline.createInterface({ input: this.proc.stdout })
        const ready = new Promise((resolve, reject) => {
            const to = setTimeout(() => reject(new Error(`${this.name}: no ready line`)), 20000)
            this.onReady = (o) => {
                clearTimeout(to)
                resolve(o)
            }
        })
        rl.on('line', (line) => {
            let o
            try { o = JSON.parse(line) } catch { return }
            this.onEvent(o)
        })
        const o = await ready
        this.id = o.id
        this.addr = o.addr
    }
    onEvent(o) {
        if (o.ev === 'ready') this.onReady(o)
        else if (o.ev === 'recv') {
            if (!o.ok) ++this.bad
            if (o.key !== null) this.recv.set(o.key, (this.recv.get(o.key) || 0) + 1)
        } else if (o.ev === 'up') { this.neighbors.add(o.peer); ++this.ups }
        else if (o.ev === 'joined') for (const p of o.peers) { this.neighbors.add(p); ++this.ups }
        else if (o.ev === 'down') {
            this.neighbors.delete(o.peer)
            this.downs.push({ peer: o.peer, at: Date.now() })
        } else if (o.ev === 'sent') this.sent.set(o.tag, o)
        else if (o.ev === 'error' || o.ev === 'fatal') this.errors.push(o.what)
    }
    req(o) {
        this.proc.stdin.write(JSON.stringify(o) + '\n')
    }
    tell(g) {
        this.req({ op: 'addr', peer: g.id, addrs: [g.addr] })
    }
    join(bootstrap) {
        this.req({ op: 'join', topic, bootstrap: bootstrap.map((b) => b.id) })
    }
    async send(tag, n, size, interval_ms) {
        this.sent.delete(tag)
        this.req({ op: 'send', tag, n, size, interval_ms })
        if (!(await waitFor(() => this.sent.has(tag), 20000 + n * (interval_ms + 50)))) {
            fail(`${this.name}: send ${tag} did not finish`)
            return null
        }
        return this.sent.get(tag)
    }
    signal(sig) {
        this.proc.kill(sig)
    }
}

async function gossipdSend(g, tag, n, size, interval_ms) {
    let errors = 0
    for (let i = 0; i < n; ++i) {
        const r = await g.publish(content(tag, i, size))
        if (!r.ok) {
            ++errors
            if (errors === 1) log(`${g.name}: publish refused: ${JSON.stringify(r)}`)
        }
        if (interval_ms) await sleep(interval_ms)
    }
    return errors
}

// expected(nodes, origins): every live node except the origin must hold each key exactly once.
function deliveryReport(nodes, origins) {
    let missing = 0
    let dup = 0
    let bad = 0
    const perNode = {}
    for (const nd of nodes) {
        if (!nd.alive) continue
        let m = 0
        for (const o of origins) {
            if (o.node === nd) continue
            for (let i = 0; i < o.n; ++i) {
                const c = nd.recv.get(`${o.tag}/${i}`) || 0
                if (c === 0) ++m
                else if (c > 1) dup += c - 1
            }
        }
        bad += nd.bad
        missing += m
        perNode[nd.name] = m
    }
    return { missing, dup, bad, perNode }
}

async function waitDelivered(nodes, origins, ms) {
    await waitFor(() => deliveryReport(nodes, origins).missing === 0, ms, 200)
    await sleep(500) // late duplicates would show up here
    return deliveryReport(nodes, origins)
}

function expectDelivered(rep, what) {
    assert(rep.missing === 0, `${what}: ${rep.missing} deliveries missing ${JSON.stringify(rep.perNode)}`)
    assert(rep.dup === 0, `${what}: ${rep.dup} duplicate deliveries`)
    assert(rep.bad === 0, `${what}: ${rep.bad} corrupted contents`)
}

// Neighbour views must be symmetric: a gossipd active view (topics op) or an iroh node's
// neighbour set (its up/down events) names b exactly when b's names a.
async function views(nodes) {
    const v = new Map()
    for (const nd of nodes) {
        if (!nd.alive) continue
        v.set(nd.id, nd.kind === 'gossipd' ? new Set(await nd.active()) : new Set(nd.neighbors))
    }
    return v
}

async function symmetric(nodes, ms) {
    let last = []
    const ok = await (async () => {
        const end = Date.now() + ms
        for (;;) {
            const v = await views(nodes)
            last = []
            for (const [a, sa] of v) {
                for (const b of sa) {
                    const sb = v.get(b)
                    if (sb && !sb.has(a)) last.push(`${name(nodes, a)}->${name(nodes, b)}`)
                    if (!sb && nodes.some((n) => n.id === b && n.alive)) last.push(`${name(nodes, a)}->?${b}`)
                }
            }
            if (last.length === 0) return true
            if (Date.now() > end) return false
            await sleep(300)
        }
    })()
    return { ok, asym: last }
}

function downList(nodes, since = 0) {
    const o = []
    for (const n of nodes) for (const d of n.downs) if (d.at >= since) o.push(`${n.name}:${name(nodes, d.peer)}${d.reason ? '(' + d.reason + ')' : ''}@${((d.at - t0) / 1000).toFixed(1)}s`)
    return o.join(' ')
}

function name(nodes, id) {
    const n = nodes.find((x) => x.id === id)
    return n ? n.name : id.slice(0, 8)
}

async function edges(nodes) {
    const v = await views(nodes)
    const out = []
    for (const [a, sa] of v) for (const b of sa) if (a < b) out.push(`${name(nodes, a)}-${name(nodes, b)}`)
    return out.sort()
}

// startMixed: nG gossipd (v0 per flag), nI iroh nodes; gossipd i > 0 bootstrap from gossipd 0;
// iroh node i is told every gossipd address and bootstraps from gossipd (i mod nG).
async function startMixed(nG, nI, gArgs = () => ['--set', 'protocol.v0=true'], irohBoot = null) {
    const G = []
    const I = []
    for (let i = 0; i < nG; ++i) {
        const g = new Gossipd(`g${i}`, gArgs(i))
        await g.start()
        G.push(g)
    }
    for (let i = 0; i < nG; ++i) await G[i].join(i === 0 ? [] : [G[0].peerAddr()])
    await Promise.all(Array.from({ length: nI }, async (_, i) => {
        const n = new Iroh(`i${i}`)
        await n.start()
        I[i] = n
    }))
    for (let i = 0; i < nI; ++i) {
        const boot = irohBoot ? irohBoot(i, G) : [G[i % nG]]
        for (const g of (irohBoot ? boot : G)) I[i].tell(g)
        I[i].join(boot)
    }
    return { G, I }
}

async function settle(all, ms) {
    const ok = await waitFor(() => all.every((n) => !n.alive || n.neighbors.size > 0 ||
        (n.kind === 'gossipd' && n.ups > 0)), ms, 200)
    assert(ok, `not every node found a neighbour: ${all.filter((n) => n.neighbors.size === 0).map((n) => n.name)}`)
    await sleep(2000)
}

async function countersOf(G) {
    const sum = {}
    for (const g of G) {
        if (!g.alive) continue
        const s = await g.counters()
        for (const [k, v] of Object.entries(s.counters || {})) if (typeof v === 'number') sum[k] = (sum[k] || 0) + v
    }
    return sum
}

async function neighbourChecks(all, what) {
    const s = await symmetric(all, 10000)
    assert(s.ok, `${what}: views not symmetric: ${s.asym.join(' ')}`)
    // iroh's neighbour events must agree with the gossipd views (covered by symmetry) and name
    // only live nodes.
    return s
}

// ------------------------------------------------------------------------------------ cases

async function caseSwarm() {
    const { G, I } = await startMixed(5, 5)
    const all = [...G, ...I]
    await settle(all, 30000)
    await neighbourChecks(all, 'before traffic')
    log('edges', (await edges(all)).join(' '))
    const t = Date.now()
    const since = t
    const [sentI, errG] = await Promise.all([I[0].send('i0', 200, 100, 5), gossipdSend(G[0], 'g0', 200, 100, 5)])
    assert(sentI && sentI.errors === 0, 'i0: broadcast errors')
    assert(errG === 0, 'g0: publish errors')
    const origins = [{ node: I[0], tag: 'i0', n: 200 }, { node: G[0], tag: 'g0', n: 200 }]
    const rep = await waitDelivered(all, origins, 60000)
    expectDelivered(rep, '200+200 broadcasts')
    await neighbourChecks(all, 'after traffic')
    const downs = all.reduce((a, n) => a + n.downs.filter((d) => d.at >= since).length, 0)
    assert(downs === 0, `${downs} neighbour-down events nobody caused: ${downList(all, since)}`)
    const c = await countersOf(G)
    // Message types seen on /0 connections, both ways (gossipd counts them per type).
    // 0.35's magicsock sends disco pings to addresses it was told; they never reach QUIC.
    assert(c.disco_dropped > 0, 'no disco datagram seen (iroh 0.35 sends them to known addresses)')
    assert(c.conns_v0 > 0, 'no /iroh-gossip/0 connection')
    assert(!c.v0_stream_errors, `${c.v0_stream_errors} /0 connections ended by stream errors`)
    for (const t of ['Join', 'Neighbor', 'Gossip', 'IHave']) {
        if (t !== 'Join') assert(c[`v0_tx_${t}`] > 0, `no ${t} sent to an iroh node`)
        assert(c[`v0_rx_${t}`] > 0, `no ${t} received from an iroh node`)
    }
    return { nodes: 10, join_downs: downList(all), broadcasts: 400, deliveries: 400 * 9 - 0, missing: rep.missing, dup: rep.dup,
        deliver_s: (Date.now() - t) / 1000, edges: (await edges(all)).length, counters: pick(c) }
}

function pick(c) {
    const o = {}
    for (const k of Object.keys(c)) if (/v0|refused|dropped|too_large|error|disco|fins/.test(k) && c[k]) o[k] = c[k]
    return o
}

async function caseRelay() {
    const relay = new Gossipd('relay', ['--set', 'protocol.v0=true', '--relay'])
    await relay.start()
    const I = []
    await Promise.all(Array.from({ length: 4 }, async (_, i) => {
        I[i] = new Iroh(`i${i}`)
        await I[i].start()
    }))
    for (const n of I) {
        n.tell(relay)
        n.join([relay])
    }
    const ok = await waitFor(() => I.every((n) => n.neighbors.size > 0), 30000)
    assert(ok, 'iroh nodes found no neighbour through the relay')
    // They find each other: an iroh-iroh edge appears (the relay introduces them).
    const found = await waitFor(() => I.some((n) => I.some((m) => m !== n && n.neighbors.has(m.id))), 30000)
    assert(found, 'no iroh node became a neighbour of another iroh node through the relay')
    await sleep(1000)
    const [a, b] = await Promise.all([I[0].send('i0', 20, 200, 10), I[3].send('i3', 20, 200, 10)])
    assert(a && b && a.errors === 0 && b.errors === 0, 'broadcast errors')
    const rep = await waitDelivered(I, [{ node: I[0], tag: 'i0', n: 20 }, { node: I[3], tag: 'i3', n: 20 }], 30000)
    expectDelivered(rep, 'relay')
    const irohEdges = I.reduce((acc, n) => acc + I.filter((m) => m !== n && n.neighbors.has(m.id)).length, 0) / 2
    return { iroh_nodes: 4, iroh_iroh_edges: irohEdges, missing: rep.missing, dup: rep.dup }
}

async function caseBridge() {
    // g0 speaks /0 and /1; g1..g3 speak /1 only; the iroh nodes know only g0.
    const { G, I } = await startMixed(4, 3, (i) => (i === 0 ? ['--set', 'protocol.v0=true'] : []),
        (i, G) => [G[0]])
    const all = [...G, ...I]
    await settle(all, 30000)
    await neighbourChecks(all, 'bridge')
    log('edges', (await edges(all)).join(' '))
    const [s, e] = await Promise.all([I[0].send('i0', 100, 300, 5), gossipdSend(G[3], 'g3', 100, 300, 5)])
    assert(s && s.errors === 0 && e === 0, 'broadcast errors')
    const rep = await waitDelivered(all, [{ node: I[0], tag: 'i0', n: 100 }, { node: G[3], tag: 'g3', n: 100 }], 60000)
    expectDelivered(rep, 'bridge')
    // No iroh node may be a neighbour of a /1-only node.
    for (const n of I) for (const g of G.slice(1)) assert(!n.neighbors.has(g.id), `${n.name} neighbour of /1-only ${g.name}`)
    const c = await countersOf(G)
    return { gossipd_v1_only: 3, iroh: 3, missing: rep.missing, dup: rep.dup, counters: pick(c) }
}

async function caseFaults() {
    const { G, I } = await startMixed(5, 5)
    const all = [...G, ...I]
    await settle(all, 30000)
    await neighbourChecks(all, 'before faults')
    // 1. SIGTERM a gossipd node that has iroh neighbours.
    let victim = null
    for (const g of G.slice(1)) if (I.some((n) => n.neighbors.has(g.id))) { victim = g; break }
    if (!victim) victim = G[4]
    const irohNb = I.filter((n) => n.neighbors.has(victim.id))
    log(`SIGTERM ${victim.name}; iroh neighbours ${irohNb.map((n) => n.name)}`)
    victim.signal('SIGTERM')
    const left = await waitFor(() => irohNb.every((n) => !n.neighbors.has(victim.id)), 15000)
    assert(left, `iroh neighbours did not see ${victim.name} leave: ${irohNb.filter((n) => n.neighbors.has(victim.id)).map((n) => n.name)}`)
    await waitFor(() => victim.exit !== undefined, 5000)
    assert(victim.exit && victim.exit.code === 0, `${victim.name} exit ${JSON.stringify(victim.exit)}`)
    await sleep(2000)
    const [a1, a2] = await Promise.all([I[0].send('t1i', 50, 100, 10), gossipdSend(G[0], 't1g', 50, 100, 10)])
    assert(a1 && a1.errors === 0 && a2 === 0, 'broadcast errors after SIGTERM')
    const r1 = await waitDelivered(all, [{ node: I[0], tag: 't1i', n: 50 }, { node: G[0], tag: 't1g', n: 50 }], 40000)
    expectDelivered(r1, `after SIGTERM of ${victim.name}`)
    // 2. SIGKILL an iroh node that has gossipd neighbours.
    let kv = I.slice(1).find((n) => G.some((g) => g.alive && n.neighbors.has(g.id))) || I[4]
    const gNb = G.filter((g) => g.alive && kv.neighbors.has(g.id))
    log(`SIGKILL ${kv.name}; gossipd neighbours ${gNb.map((g) => g.name)}`)
    kv.signal('SIGKILL')
    await waitFor(() => !kv.alive, 5000)
    const t = Date.now()
    // The rest keeps 100 %, also while the gossipd neighbours still think kv is there.
    const [b1, b2] = await Promise.all([I[0].send('t2i', 50, 100, 10), gossipdSend(G[0], 't2g', 50, 100, 10)])
    assert(b1 && b1.errors === 0 && b2 === 0, 'broadcast errors after SIGKILL')
    const r2 = await waitDelivered(all, [{ node: I[0], tag: 't2i', n: 50 }, { node: G[0], tag: 't2g', n: 50 }], 60000)
    expectDelivered(r2, `after SIGKILL of ${kv.name}`)
    // The gossipd neighbours drop kv (connection lost) and keep neighbours.
    const gone = await waitFor(() => gNb.every((g) => !g.neighbors.has(kv.id)), 60000, 500)
    assert(gone, `gossipd neighbours still list ${kv.name}: ${gNb.filter((g) => g.neighbors.has(kv.id)).map((g) => g.name)}`)
    const recover_s = (Date.now() - t) / 1000
    for (const g of G) if (g.alive) assert((await g.active()).length > 0, `${g.name} has no neighbour after the faults`)
    // 3. An iroh node quits cleanly (0.35 sends Disconnect{alive: true} on quit, PROTOCOL.md 12):
    // its gossipd neighbours drop it, the rest keeps 100 %.
    const qv = I.slice(1).find((n) => n.alive && G.some((g) => g.alive && n.neighbors.has(g.id)))
    let quit_s = null
    let r3 = { missing: 0, dup: 0 }
    if (assert(qv, 'no live iroh node with a gossipd neighbour left to quit')) {
        const qNb = G.filter((g) => g.alive && qv.neighbors.has(g.id))
        log(`quit ${qv.name}; gossipd neighbours ${qNb.map((g) => g.name)}`)
        const tq = Date.now()
        qv.req({ op: 'quit' })
        await waitFor(() => !qv.alive, 10000)
        const dropped = await waitFor(() => qNb.every((g) => !g.neighbors.has(qv.id)), 30000, 200)
        assert(dropped, `gossipd neighbours still list ${qv.name} after its quit`)
        quit_s = (Date.now() - tq) / 1000
        log('quit downs', downList(all, tq))
        const [c1, c2] = await Promise.all([I[0].send('t3i', 50, 100, 10), gossipdSend(G[0], 't3g', 50, 100, 10)])
        assert(c1 && c1.errors === 0 && c2 === 0, 'broadcast errors after the quit')
        r3 = await waitDelivered(all, [{ node: I[0], tag: 't3i', n: 50 }, { node: G[0], tag: 't3g', n: 50 }], 40000)
        expectDelivered(r3, `after ${qv.name} quit`)
    }
    await neighbourChecks(all, 'after faults')
    return { sigterm: victim.name, iroh_saw_leave: left, sigkill: kv.name, gossipd_dropped_after_s: recover_s,
        quit: qv && qv.name, gossipd_dropped_quit_after_s: quit_s,
        missing: r1.missing + r2.missing + r3.missing, dup: r1.dup + r2.dup + r3.dup }
}

async function caseSizes() {
    // g0 (/0 + /1) with two iroh nodes, g1 /1 behind it; M = 4096 everywhere.
    // A Gossip of c content bytes (c >= 128) at round r < 128 is 2 (tags) + 32 (id) + 2 (length)
    // + c + 1 (scope) + 1 (round) = c + 38 bytes; on /0 the 32 topic bytes join it and the body
    // must stay below 4096: c <= 4025.
    const { G, I } = await startMixed(2, 2, (i) => (i === 0 ? ['--set', 'protocol.v0=true'] : []),
        (i, G) => [G[0]])
    const all = [...G, ...I]
    await settle(all, 30000)
    const before = await countersOf(G)
    const e1 = await gossipdSend(G[1], 'at', 3, 4025, 50)      // at the /0 limit: everyone
    const e2 = await gossipdSend(G[1], 'above', 3, 4026, 50)   // one above: gossipd only
    const e3 = await gossipdSend(G[1], 'v1max', 1, 4057, 50)   // the /1 limit: gossipd only
    assert(e1 === 0 && e2 === 0 && e3 === 0, 'publish refused at or below the /1 limit')
    const s = await I[0].send('iroh', 2, 4025, 50)               // an iroh node at the /0 limit
    assert(s && s.errors === 0, `iroh could not broadcast 4025 bytes: ${I[0].errors}`)
    const r = await waitDelivered(all, [{ node: G[1], tag: 'at', n: 3 }, { node: I[0], tag: 'iroh', n: 2 }], 20000)
    expectDelivered(r, 'at the /0 limit')
    const rg = await waitDelivered(G, [{ node: G[1], tag: 'above', n: 3 }, { node: G[1], tag: 'v1max', n: 1 }], 20000)
    expectDelivered(rg, 'above the /0 limit, between gossipd')
    await sleep(2000)
    for (const n of I) {
        assert(!n.recv.has('above/0') && !n.recv.has('v1max/0'), `${n.name} received a message above the /0 limit`)
        assert(n.alive && n.neighbors.has(G[0].id), `${n.name} lost g0 (the connection must survive)`)
    }
    const after = await countersOf(G)
    const refused = (after.v0_too_large || 0) - (before.v0_too_large || 0)
    assert(refused >= 2 * 4, `v0_too_large counted ${refused}, want >= 8 (4 messages x 2 iroh peers)`)
    return { at_limit: 4025, refused_v0: refused }
}

async function caseSoak() {
    const secs = Number(secondsArg || 120)
    const { G, I } = await startMixed(5, 5)
    const all = [...G, ...I]
    await settle(all, 30000)
    await neighbourChecks(all, 'soak start')
    const rate = 2 // messages per second per node
    const n = secs * rate
    const t = Date.now()
    const since = t
    await Promise.all([
        ...I.map((x) => x.send(x.name, n, 200, 1000 / rate)),
        ...G.map((g) => gossipdSend(g, g.name, n, 200, 1000 / rate)),
    ])
    const origins = all.map((x) => ({ node: x, tag: x.name, n }))
    const rep = await waitDelivered(all, origins, 60000)
    expectDelivered(rep, `soak ${secs}s`)
    const downs = all.reduce((a, x) => a + x.downs.filter((d) => d.at >= since).length, 0)
    assert(downs === 0, `${downs} neighbour-down events nobody caused: ${downList(all, since)}`)
    await neighbourChecks(all, 'soak end')
    const c = await countersOf(G)
    return { seconds: secs, nodes: 10, broadcasts: n * 10, deliveries: n * 10 * 9, missing: rep.missing,
        dup: rep.dup, downs, wall_s: (Date.now() - t) / 1000, counters: pick(c) }
}

const cases = { swarm: caseSwarm, relay: caseRelay, bridge: caseBridge, faults: caseFaults, sizes: caseSizes, soak: caseSoak }

async function main() {
    if (!cases[caseName] || !gossipdBin) {
        console.error(`usage: swarm.mjs ${Object.keys(cases).join('|')} GOSSIPD [SECONDS]`)
        process.exit(64)
    }
    let figures = null
    try {
        figures = await cases[caseName]()
    } catch (e) {
        fail(`exception: ${e.stack || e}`)
    }
    // Every gossipd must exit 0 on SIGTERM; no sanitizer report in any stderr.
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM')
    await sleep(2500)
    for (const f of fs.readdirSync(work)) {
        if (!f.endsWith('.err')) continue
        const txt = fs.readFileSync(path.join(work, f), 'utf8')
        if (/ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error:/.test(txt)) fail(`${f}: sanitizer report`)
    }
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    console.log(`figures ${JSON.stringify({ case: caseName, ...figures })}`)
    if (failed || process.env.GS_INTEROP_KEEP) console.log(`work directory kept: ${work}`)
    else fs.rmSync(work, { recursive: true, force: true })
    console.log(failed ? `FAIL ${caseName}` : `PASS ${caseName}`)
    process.exit(failed ? 1 : 0)
}

main()
