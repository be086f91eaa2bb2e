/**
 * close() called while the connection is already closing (from a handler's
 * abort listener, which fires as the session ends) changes nothing: what
 * closed it is what listeners hear, what `cause` says and what later calls
 * are told.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { ConnectionImpl } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import { rejection, turns, until } from './helpers.js'

const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })

const open: Array<{ close(): void }> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const c of open.splice(0)) c.close()
  for (const p of ports.splice(0)) p.close()
})

function make(port: MessagePort, handlers: Record<string, any>, trace?: (entry: any) => void) {
  const c = new ConnectionImpl<any, any>({
    link: new EndpointTransport(port),
    lifecycle: { host: new EventTarget() as unknown as Window },
    channel: '',
    remote: api,
    local: api,
    handlers,
    timeout: 10_000,
    connectTimeout: 10_000,
    debug: false,
    limits: DEFAULT_LIMITS,
    trace,
    onRejected: () => {},
  })
  open.push(c)
  return c
}

/** A and B, where B's handler of `slow` closes B when its signal fires; A has one call of it running. */
async function closesOnAbort() {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  let B!: ConnectionImpl<any, any>
  const slow = (ctx: { signal: AbortSignal }) => {
    ctx.signal.addEventListener('abort', () => B.close())
    return new Promise(() => {})
  }
  const A = make(port1, { slow: () => new Promise(() => {}) })
  B = make(port2, { slow })
  await A.ready
  await B.ready
  ;(A.remote as any).slow().catch(() => {})
  await turns(5)
  const heard: string[] = []
  B.onStateChange((state, cause) => heard.push(`${state}:${cause}`))
  return { A, B, heard, linkOfA: port1 }
}

describe("close() from a handler's abort listener while the connection is closing", () => {
  it('after the peer closed: the cause stays peer-closed', async () => {
    const { A, B, heard } = await closesOnAbort()
    A.close()
    await until(() => B.state === 'closed')
    await turns(2)
    const later = await rejection((B.remote as any).slow())
    expect({ heard, cause: B.cause, later: later.reason }).toEqual({
      heard: ['closed:peer-closed'],
      cause: 'peer-closed',
      later: 'peer-closed',
    })
  })

  it('after a version mismatch: later calls are told the HandshakeError (README: the error that closed it)', async () => {
    const { B, heard, linkOfA } = await closesOnAbort()
    // A's page reloads with another protocol version: its SYN reaches B's link.
    linkOfA.postMessage({ pc: 2, k: 's', n: 'zzzz' })
    await until(() => B.state === 'closed')
    await turns(2)
    const later = await rejection((B.remote as any).slow())
    expect({ heard, cause: B.cause, later: later.code }).toEqual({
      heard: ['closed:version-mismatch'],
      cause: 'version-mismatch',
      later: 'HANDSHAKE',
    })
  })
})

describe("close() from a handler's abort listener as a new session replaces the old one", () => {
  it('the peer that just connected hears it, and closes instead of staying open on a dead port (found by lifecycle-fuzz)', async () => {
    const { B, heard, linkOfA } = await closesOnAbort()
    // A second connection in A's page, on the same channel: B's session moves to it,
    // ending the old one, whose running handler closes B as its signal fires.
    const A2 = make(linkOfA, { slow: () => new Promise(() => {}) })
    await until(() => B.state === 'closed')
    await turns(10)
    expect({ heard, A2: A2.state }).toEqual({ heard: ['closed:closed'], A2: 'closed' })
  })
})

describe('close() from a trace sink on the fin that completes the handshake', () => {
  for (const side of ['send', 'receive'] as const) {
    it(`on the fin it ${side === 'send' ? 'sends (the follower)' : 'receives (the leader)'}: the other side closes too, instead of staying open on a dead port`, async () => {
      const { port1, port2 } = new MessageChannel()
      ports.push(port1, port2)
      // Each side closes itself on the fin it sends (or receives): only one of them, the follower (or the leader), does.
      const closesOnFin = (self: () => ConnectionImpl<any, any>) => (entry: { direction: string; kind: string }) => {
        if (entry.direction === side && entry.kind === 'fin') self().close()
      }
      const A: ConnectionImpl<any, any> = make(
        port1,
        {},
        closesOnFin(() => A),
      )
      const B: ConnectionImpl<any, any> = make(
        port2,
        {},
        closesOnFin(() => B),
      )
      await until(() => A.state === 'closed' || B.state === 'closed')
      await turns(10)
      expect([A.state, B.state]).toEqual(['closed', 'closed'])
    })
  }
})
