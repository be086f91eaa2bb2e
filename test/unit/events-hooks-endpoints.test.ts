/**
 * Events, hooks and endpoint transports end to end: two connections over a
 * MessageChannel, checked against what the README promises.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import { ConnectionImpl } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import type { Endpoint, Rejection } from '../../src/transport/transport.js'
import { turns, until } from './helpers.js'

const api = defineContract({
  methods: { slow: { input: z.tuple([]), output: z.string() } },
  events: { ping: z.object({ n: z.number() }) },
})

const conns: Array<{ close(): void }> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
  for (const p of ports.splice(0)) p.close()
})

interface Side {
  conn: ConnectionImpl<typeof api, typeof api>
  host: EventTarget
  trace: TraceEntry[]
  rejections: Rejection[]
}

/** Two connections over one MessageChannel, each with a page (host) of its own for pagehide/pageshow. */
function pair(slowB?: (ctx: { signal: AbortSignal }) => Promise<string>): { a: Side; b: Side } {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  const side = (port: MessagePort, slow: (ctx: { signal: AbortSignal }) => Promise<string>): Side => {
    const host = new EventTarget()
    const trace: TraceEntry[] = []
    const rejections: Rejection[] = []
    const conn = new ConnectionImpl<typeof api, typeof api>({
      link: new EndpointTransport(port),
      lifecycle: { host: host as unknown as Window },
      channel: '',
      remote: api,
      local: api,
      handlers: { slow: slow as never },
      timeout: 10_000,
      connectTimeout: 10_000,
      debug: false,
      limits: DEFAULT_LIMITS,
      trace: (e) => trace.push(e),
      onRejected: (r) => rejections.push(r),
    })
    conns.push(conn)
    return { conn, host, trace, rejections }
  }
  const never = () => new Promise<string>(() => {})
  return { a: side(port1, never), b: side(port2, slowB ?? never) }
}

const hide = (host: EventTarget) => host.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
const show = (host: EventTarget) => host.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))

describe('an event emitted as the session ends (README: queued until the connection is open)', () => {
  /** B serves `slow`; when its signal fires (the session ends), B emits `ping`. A has one call running. */
  async function emitsOnAbort() {
    let B!: ConnectionImpl<typeof api, typeof api>
    const { a, b } = pair(({ signal }) => {
      signal.addEventListener('abort', () => B.emit('ping', { n: 7 }))
      return new Promise<string>(() => {})
    })
    B = b.conn
    await Promise.all([a.conn.ready, b.conn.ready])
    const heard: unknown[] = []
    a.conn.on('ping', (p) => heard.push(p))
    a.conn.remote.slow().catch(() => {})
    await until(() => b.trace.some((e) => e.direction === 'receive' && e.kind === 'call'), 'the call')
    return { a, b, heard }
  }

  it("from a handler's abort listener, when the peer unloads: the reloaded peer gets it", async () => {
    const { a, b, heard } = await emitsOnAbort()
    hide(a.host) // A's page goes into the back/forward cache: B hears it unload
    await until(() => b.conn.state === 'reconnecting', 'reconnecting')
    show(a.host)
    await until(() => a.conn.state === 'open' && b.conn.state === 'open', 'open again')
    await turns(10)
    expect(heard).toEqual([{ n: 7 }])
  })

  it("from a handler's abort listener, when this page hides: the peer gets it once the page is shown again", async () => {
    const { a, b, heard } = await emitsOnAbort()
    hide(b.host)
    await until(() => a.conn.state === 'reconnecting', 'reconnecting')
    show(b.host)
    await until(() => a.conn.state === 'open' && b.conn.state === 'open', 'open again')
    await turns(10)
    expect(heard).toEqual([{ n: 7 }])
  })
})

describe('an asynchronous event schema that answers after close()', () => {
  it('reaches neither onRejected nor a listener (close() removes every listener)', async () => {
    // A schema whose answers the test releases by hand.
    const pending: Array<() => void> = []
    const gated = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (value: unknown) =>
          new Promise<{ value: number } | { issues: { message: string }[] }>((resolve) =>
            pending.push(() =>
              resolve(typeof value === 'number' ? { value } : { issues: [{ message: 'not a number' }] }),
            ),
          ),
        types: undefined as unknown as { input: number; output: number },
      },
    }
    const events = defineContract({ events: { gated } })
    const { port1, port2 } = new MessageChannel()
    ports.push(port1, port2)
    const rejections: Rejection[] = []
    const a = connect({ target: port1, local: { contract: events, handlers: {} } })
    const b = connect({ target: port2, remote: events, onRejected: (r) => rejections.push(r) })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: unknown[] = []
    b.on('gated', (n) => heard.push(n))
    a.emit('gated', 'bad' as never)
    a.emit('gated', 1)
    await until(() => pending.length === 2, 'both events under validation')
    b.close()
    for (const answer of pending) answer()
    await turns(5)
    expect({ rejections, heard }).toEqual({ rejections: [], heard: [] })
  })
})

// Coverage: behaviour that holds today, pinned end to end.

const wide = defineContract({
  methods: { add: { input: z.tuple([z.number(), z.number()]), output: z.number() } },
  events: {
    ping: z.object({ n: z.number() }),
    toString: z.string(),
    hasOwnProperty: z.string(),
    valueOf: z.string(),
  },
})
const narrow = defineContract({ events: { toString: z.string() } })
const serveWide = { contract: wide, handlers: { add: (x: number, y: number) => x + y } }

function ports2() {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  return { port1, port2 }
}

describe('coverage: events end to end over a MessageChannel', () => {
  it('events named after Object.prototype members arrive as any other', async () => {
    const { port1, port2 } = ports2()
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: wide })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: string[] = []
    b.on('toString', (s) => heard.push(`toString ${s}`))
    b.on('hasOwnProperty', (s) => heard.push(`hasOwnProperty ${s}`))
    b.on('valueOf', (s) => heard.push(`valueOf ${s}`))
    a.emit('toString', 'a')
    a.emit('hasOwnProperty', 'b')
    a.emit('valueOf', 'c')
    await until(() => heard.length === 3)
    expect(heard).toEqual(['toString a', 'hasOwnProperty b', 'valueOf c'])
  })

  it('a payload that fails the schema: the sender sees nothing (validated on the receiving side), the receiver reports it', async () => {
    const { port1, port2 } = ports2()
    const rejections: Rejection[] = []
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: wide, onRejected: (r) => rejections.push(r) })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: unknown[] = []
    b.on('ping', (p) => heard.push(p))
    expect(() => a.emit('ping', { n: 'one' } as never)).not.toThrow()
    a.emit('ping', { n: 2 })
    await until(() => heard.length === 1)
    expect(heard).toEqual([{ n: 2 }])
    expect(rejections).toEqual([{ reason: 'schema', detail: expect.stringMatching(/^event "ping": /) }])
  })

  it("an event the receiver's remote contract does not declare is dropped and reported there", async () => {
    const { port1, port2 } = ports2()
    const rejections: Rejection[] = []
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: narrow, onRejected: (r) => rejections.push(r) })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: string[] = []
    b.on('toString', (s) => heard.push(s))
    a.emit('valueOf', 'dropped')
    a.emit('toString', 'kept')
    await until(() => heard.length === 1)
    expect(rejections).toEqual([{ reason: 'schema', detail: 'undeclared event "valueOf"' }])
  })

  it('an event over the receiver\'s maxMessageBytes is refused there with reason "limit"; the sender, whose limit is higher, sees nothing', async () => {
    const { port1, port2 } = ports2()
    const rejections: Rejection[] = []
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: wide, maxMessageBytes: 1000, onRejected: (r) => rejections.push(r) })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: string[] = []
    b.on('toString', (s) => heard.push(s))
    a.emit('toString', 'x'.repeat(2000))
    a.emit('toString', 'small')
    await until(() => heard.length === 1)
    expect(heard).toEqual(['small'])
    expect(rejections).toEqual([{ reason: 'limit', detail: expect.stringContaining('event message') }])
  })

  it('a queued payload is cloned when it goes out: a change made after emit() travels too (README)', async () => {
    const { port1, port2 } = ports2()
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: wide })
    conns.push(a, b)
    const heard: unknown[] = []
    b.on('ping', (p) => heard.push(p))
    const payload = { n: 1 }
    a.emit('ping', payload)
    payload.n = 2
    await until(() => heard.length === 1)
    expect(heard).toEqual([{ n: 2 }])
  })

  it('emit() while open throws what the browser throws for a payload it cannot clone; the connection carries on', async () => {
    const { port1, port2 } = ports2()
    const a = connect({ target: port1, local: serveWide })
    const b = connect({ target: port2, remote: wide })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    const heard: unknown[] = []
    b.on('ping', (p) => heard.push(p))
    expect(() => a.emit('ping', { n: 1, f: () => 1 } as never)).toThrow(
      expect.objectContaining({ name: 'DataCloneError' }),
    )
    a.emit('ping', { n: 2 })
    await until(() => heard.length === 1)
    expect([heard, a.state, b.state]).toEqual([[{ n: 2 }], 'open', 'open'])
  })

  it('emit() while reconnecting is queued for the reloaded peer, in order; after the peer closed, emit() throws its reason', async () => {
    const { a, b } = pair()
    await Promise.all([a.conn.ready, b.conn.ready])
    const heard: unknown[] = []
    a.conn.on('ping', (p) => heard.push(p))
    hide(a.host)
    await until(() => b.conn.state === 'reconnecting')
    b.conn.emit('ping', { n: 1 })
    b.conn.emit('ping', { n: 2 })
    show(a.host)
    await until(() => heard.length === 2)
    expect(heard).toEqual([{ n: 1 }, { n: 2 }])
    a.conn.close()
    await until(() => b.conn.state === 'closed')
    expect(() => b.conn.emit('ping', { n: 3 })).toThrow(
      expect.objectContaining({ code: 'DISCONNECTED', reason: 'peer-closed' }),
    )
  })
})

describe('coverage: hooks', () => {
  it('trace holds well-formed messages that are dropped after it (README: only the gate, limits and envelope come first)', async () => {
    const { a, b } = pair()
    await Promise.all([a.conn.ready, b.conn.ready])
    // A payload that fails its schema passes the gate, the limits and the envelope: traced, then refused.
    a.conn.emit('ping', { n: 'bad' } as never)
    await until(() => b.rejections.length === 1)
    expect(b.rejections).toEqual([{ reason: 'schema', detail: expect.stringMatching(/^event "ping": /) }])
    expect(b.trace.filter((e) => e.kind === 'event')).toEqual([
      {
        direction: 'receive',
        kind: 'event',
        channel: '',
        method: 'ping',
        message: { k: 'v', m: 'ping', d: { n: 'bad' } },
      },
    ])
  })
})

describe('coverage: state causes when a page comes back from the back/forward cache', () => {
  it("both sides open again with cause 'peer-reloaded', though neither page reloaded", async () => {
    const { a, b } = pair()
    await Promise.all([a.conn.ready, b.conn.ready])
    const heard: string[] = []
    a.conn.onStateChange((state, cause) => heard.push(`a ${state}:${cause}`))
    b.conn.onStateChange((state, cause) => heard.push(`b ${state}:${cause}`))
    hide(a.host)
    await until(() => b.conn.state === 'reconnecting')
    show(a.host)
    await until(() => a.conn.state === 'open' && b.conn.state === 'open')
    expect(heard.filter((h) => h.startsWith('a '))).toEqual(['a reconnecting:page-hidden', 'a open:peer-reloaded'])
    expect(heard.filter((h) => h.startsWith('b '))).toEqual(['b reconnecting:peer-unloaded', 'b open:peer-reloaded'])
  })
})

describe('coverage: endpoint transports', () => {
  it('close() leaves the port you passed open: it still carries your messages, and a new connection on it works', async () => {
    const { port1, port2 } = ports2()
    const a = connect({ target: port1, remote: wide })
    const b = connect({ target: port2, local: serveWide })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    a.close()
    await until(() => b.state === 'closed')
    const mine: unknown[] = []
    port2.onmessage = (e) => mine.push(e.data)
    port1.postMessage('still mine')
    await until(() => mine.length === 1)
    port2.onmessage = null
    const a2 = connect({ target: port1, remote: wide })
    const b2 = connect({ target: port2, local: serveWide })
    conns.push(a2, b2)
    await expect((await a2.ready).add(2, 3)).resolves.toBe(5)
  })

  it('two connections on one port with different channels pair by channel; closing one leaves the other open', async () => {
    const { port1, port2 } = ports2()
    const serve = (plus: number) => ({ contract: wide, handlers: { add: (x: number, y: number) => x + y + plus } })
    const aChat = connect({ target: port1, channel: 'chat', remote: wide })
    const aFiles = connect({ target: port1, channel: 'files', remote: wide })
    const bFiles = connect({ target: port2, channel: 'files', local: serve(100) })
    const bChat = connect({ target: port2, channel: 'chat', local: serve(0) })
    conns.push(aChat, aFiles, bFiles, bChat)
    await Promise.all([aChat.ready, aFiles.ready, bChat.ready, bFiles.ready])
    await expect(aChat.remote.add(1, 1)).resolves.toBe(2)
    await expect(aFiles.remote.add(1, 1)).resolves.toBe(102)
    aChat.close()
    await until(() => bChat.state === 'closed')
    expect(bFiles.state).toBe('open')
    await expect(aFiles.remote.add(1, 1)).resolves.toBe(102)
  })

  it('a worker-like Endpoint (no start, no close) works, and close() removes the one listener it added', async () => {
    const { port1, port2 } = ports2()
    port1.start()
    const listeners = new Set<(e: MessageEvent) => void>()
    const worker: Endpoint = {
      postMessage: (m, t) => port1.postMessage(m, t),
      addEventListener: (_type, l) => {
        listeners.add(l)
        port1.addEventListener('message', l)
      },
      removeEventListener: (_type, l) => {
        listeners.delete(l)
        port1.removeEventListener('message', l)
      },
    }
    const a = connect({ target: worker, remote: wide })
    const b = connect({ target: port2, local: serveWide })
    conns.push(a, b)
    await expect((await a.ready).add(2, 3)).resolves.toBe(5)
    expect(listeners.size).toBe(1)
    a.close()
    expect(listeners.size).toBe(0)
  })

  it('the port you passed closing after the handshake does not end the session, which runs on its own private port', async () => {
    const { port1, port2 } = ports2()
    const a = connect({ target: port1, remote: wide })
    const b = connect({ target: port2, local: serveWide })
    conns.push(a, b)
    await Promise.all([a.ready, b.ready])
    port2.close()
    await turns(5)
    await expect(a.remote.add(2, 3)).resolves.toBe(5)
    expect([a.state, b.state]).toEqual(['open', 'open'])
  })
})
