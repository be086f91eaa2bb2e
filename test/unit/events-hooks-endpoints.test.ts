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
import type { Rejection } from '../../src/transport/transport.js'
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
