// Regressions: each was a bug found by the unit tests, fixed in src/.
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import { type Connection, ConnectionImpl } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { RemoteError, ValidationError } from '../../src/errors.js'
import { createAllowedOrigins } from '../../src/gate/allowed-origins.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import { Responder, type ServedMethod } from '../../src/rpc/responder.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import { fakeWindow, ManualPeer, track, turns, until, useFakeTimers } from './helpers.js'

const conns: Array<Connection<any, any>> = []
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('connect() with an invalid later option leaves no listener behind', () => {
  it.each([
    [
      'local.handlers',
      {
        local: { contract: defineContract({ methods: { m: { input: z.tuple([]), output: z.void() } } }), handlers: {} },
      },
    ],
    ['timeout', { timeout: -1 }],
    ['connectTimeout', { connectTimeout: 0 }],
    ['maxDepth', { maxDepth: 0 }],
    ['channel', { channel: 7 }],
  ])('a bad %s throws and nothing listens', (_, bad) => {
    const onRejected = vi.fn()
    expect(() =>
      connect({
        target: fakeWindow('https://a.example') as never,
        allowedOrigins: ['https://a.example'],
        onRejected,
        ...bad,
      } as never),
    ).toThrow(TypeError)
    // No connection exists, so nothing may listen or report.
    window.dispatchEvent(new MessageEvent('message', { data: 1, origin: 'https://evil.example', source: null }))
    expect(onRejected).not.toHaveBeenCalled()
  })
})

describe('back from the back/forward cache, a connection reconnects to the same peer', () => {
  it('with a hand-driven peer that stayed alive (same nonce)', async () => {
    useFakeTimers()
    const peer = new ManualPeer('https://peer.example')
    const conn = connect({ target: peer.win as never, allowedOrigins: ['https://peer.example'] })
    conns.push(conn)
    await conn.ready
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    expect(conn.state).toBe('reconnecting')
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))
    // The peer (still the same page) answers the new SYN with an ACK from its unchanged nonce...
    await until(() => peer.link.length >= 2)
    vi.advanceTimersByTime(5000)
    await turns(20)
    // ...which the handshake drops as "stale" (ack.l === sessionPeerNonce).
    expect(conn.state).toBe('open')
    peer.close()
  })

  it('with two real connections; only one page goes through the cache', async () => {
    useFakeTimers()
    const { port1, port2 } = new MessageChannel()
    const hiddenHost = new EventTarget() // the page that goes into the cache
    const otherHost = new EventTarget()
    const make = (port: MessagePort, host: EventTarget) =>
      new ConnectionImpl({
        link: new EndpointTransport(port),
        lifecycle: { host: host as unknown as Window },
        channel: '',
        remote: defineContract({}),
        local: defineContract({}),
        handlers: {},
        timeout: 1000,
        connectTimeout: Number.POSITIVE_INFINITY,
        debug: false,
        limits: DEFAULT_LIMITS,
        trace: undefined,
        onRejected: () => {},
      })
    const x = make(port1, hiddenHost)
    const y = make(port2, otherHost)
    conns.push(x, y)
    await Promise.all([x.ready, y.ready])
    hiddenHost.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
    await until(() => y.state === 'reconnecting')
    hiddenHost.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    vi.advanceTimersByTime(10_000)
    await turns(50)
    expect(x.state).toBe('open')
    expect(y.state).toBe('open')
    port1.close()
    port2.close()
  })
})

describe('a page that hides between its ACK and the fin', () => {
  it('tells the follower that adopted the port: its call rejects at once, and the pair reconnects on pageshow', async () => {
    const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })
    const { port1, port2 } = new MessageChannel()
    let leader: { conn: ConnectionImpl<any, any>; host: EventTarget } | undefined
    const sides = [port1, port2].map((port) => {
      const host = new EventTarget()
      const conn: ConnectionImpl<any, any> = new ConnectionImpl({
        link: new EndpointTransport(port),
        lifecycle: { host: host as unknown as Window },
        channel: '',
        remote: api,
        local: api,
        handlers: { slow: () => new Promise(() => {}) },
        timeout: 10_000,
        connectTimeout: Number.POSITIVE_INFINITY,
        debug: false,
        limits: DEFAULT_LIMITS,
        // The leader's page hides as soon as its ACK is out, before the fin can come back.
        trace: (e) => {
          if (e.direction === 'send' && e.kind === 'ack' && leader === undefined) {
            leader = side
            queueMicrotask(() => host.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true })))
          }
        },
        onRejected: () => {},
      })
      conns.push(conn)
      const side = { conn, host, call: track((conn.remote as any).slow()), states: [] as string[] }
      conn.onStateChange((state, cause) => side.states.push(`${state}:${cause}`))
      return side
    })
    const follower = () => sides.find((s) => s !== leader)!
    await until(() => follower().call.settled, "the follower's call to settle")
    expect(follower().call.error).toMatchObject({ name: 'DisconnectedError', reason: 'peer-unloaded' })
    expect(follower().states).toEqual(['open:handshake', 'reconnecting:peer-unloaded'])
    expect(leader!.conn.state).toBe('connecting')
    leader!.host.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await until(() => sides.every((s) => s.conn.state === 'open'), 'both sides open again')
    port1.close()
    port2.close()
  })
})

describe('a thrown value that cannot be turned into a string still gets an answer', () => {
  it.each([
    ['a null-prototype object', () => Object.create(null)],
    [
      'an object whose toString throws',
      () => ({
        toString: () => {
          throw new Error('no')
        },
      }),
    ],
  ])('%s', (_, make) => {
    const sent: unknown[] = []
    const table: Record<string, ServedMethod> = Object.create(null)
    table.m = {
      input: z.tuple([]),
      output: z.void(),
      handler: () => {
        throw make()
      },
    }
    const responder = new Responder(table, (message) => sent.push(message), false, DEFAULT_LIMITS)
    expect(() => responder.handle({ k: 'c', i: 'id', m: 'm', a: [] })).not.toThrow()
    expect(sent).toEqual([{ k: 'e', i: 'id', e: expect.objectContaining({ n: 'Error' }) }])
  })
})

describe('refusing a subdomain pattern names it as written', () => {
  it.each([
    ['https://*.example.com/app', "write 'https://*.example.com'"],
    ['https://*.example.com?x', "write 'https://*.example.com'"],
  ])('%s', (entry, hint) => {
    expect(() => createAllowedOrigins([entry])).toThrow(hint)
    expect(() => createAllowedOrigins([entry])).not.toThrow(/portcullis-wildcard-label/)
  })

  it('an IP wildcard gets its own message', () => {
    expect(() => createAllowedOrigins(['https://*.0.0.1'])).toThrow('wildcard on an IP address')
  })
})

describe('a thrown value that throws while it is read still gets an answer, at once', () => {
  const unreadable = (): Array<[string, () => unknown]> => [
    [
      'an error with an enumerable getter that throws',
      () =>
        Object.defineProperty(new Error('x'), 'detail', {
          enumerable: true,
          get() {
            throw new Error('getter')
          },
        }),
    ],
    [
      'a plain object literal with a getter that throws',
      () => ({
        message: 'x',
        get detail(): never {
          throw new Error('getter')
        },
      }),
    ],
    [
      'an error whose name throws',
      () =>
        Object.defineProperty(new Error('x'), 'name', {
          get() {
            throw new Error('name')
          },
        }),
    ],
    [
      'an error whose cause throws',
      () =>
        Object.defineProperty(new Error('x'), 'cause', {
          get() {
            throw new Error('cause')
          },
        }),
    ],
    [
      'an error whose stack throws (debug on)',
      () =>
        Object.defineProperty(new Error('x'), 'stack', {
          get() {
            throw new Error('stack')
          },
        }),
    ],
    [
      'a revoked Proxy',
      () => {
        const { proxy, revoke } = Proxy.revocable({}, {})
        revoke()
        return proxy
      },
    ],
    [
      'a Proxy of an error whose ownKeys trap throws',
      () =>
        new Proxy(new Error('x'), {
          ownKeys() {
            throw new Error('trap')
          },
        }),
    ],
  ]
  const api = defineContract({
    methods: { sync: { input: z.tuple([]), output: z.void() }, async: { input: z.tuple([]), output: z.void() } },
  })

  it.each(unreadable())('%s', async (_, make) => {
    // Before the fix the handler's side threw into its port listener (an
    // uncaught error, which vitest reports) and the call hung until its timeout.
    const { port1, port2 } = new MessageChannel()
    try {
      const caller = connect({ target: port1, remote: api, timeout: 60_000 })
      const server = connect({
        target: port2,
        debug: true,
        local: {
          contract: api,
          handlers: {
            sync: () => {
              throw make()
            },
            async: async () => {
              throw make()
            },
          },
        },
      })
      conns.push(caller, server)
      const remote = await caller.ready
      for (const call of [track(remote.sync()), track(remote.async())]) {
        // The answer comes in a few turns, not after the 60 s timeout.
        await until(() => call.settled, 'the call settled')
        expect(call.error).toBeInstanceOf(RemoteError)
        expect(call.error).toMatchObject({ remoteName: 'Error', message: 'the thrown value could not be read' })
      }
    } finally {
      port1.close()
      port2.close()
    }
  })
})

describe('a handler that returns a promise which throws when it is awaited still gets an answer', () => {
  it.each([
    [
      'a promise whose constructor getter throws',
      () =>
        Object.defineProperty(Promise.resolve(1), 'constructor', {
          get() {
            throw new Error('constructor')
          },
        }),
    ],
    [
      'a promise whose own then throws',
      () =>
        Object.defineProperty(Promise.resolve(1), 'then', {
          value() {
            throw new Error('then')
          },
        }),
    ],
  ])('%s', (_, make) => {
    const sent: unknown[] = []
    const table: Record<string, ServedMethod> = Object.create(null)
    table.m = { input: z.tuple([]), output: z.number(), handler: make }
    const responder = new Responder(table, (message) => sent.push(message), false, DEFAULT_LIMITS)
    // Before the fix, the error left handle() (into the port listener) and the call hung.
    expect(() => responder.handle({ k: 'c', i: 'id', m: 'm', a: [] })).not.toThrow()
    expect(sent).toEqual([{ k: 'e', i: 'id', e: { n: 'Error', m: expect.any(String) } }])
    expect(responder.isRunning('id')).toBe(false)
  })
})

describe('a schema whose issue message is not a string still refuses the value, and the call settles', () => {
  // Standard Schema says a string; a hand-made schema may return a Symbol,
  // which the ValidationError's message could not be built from.
  const symbolMessage: StandardSchemaV1<unknown[], unknown[]> = {
    '~standard': { version: 1, vendor: 'hand-made', validate: () => ({ issues: [{ message: Symbol('m') as never }] }) },
  }

  it.each([
    ['of the arguments, on the answering side', 'arguments', 'remote'],
    ['of the result, on the calling side', 'result', 'local'],
  ] as const)('%s', async (_, target, side) => {
    const strict = defineContract({
      methods: {
        m:
          target === 'arguments'
            ? { input: symbolMessage, output: z.number() }
            : { input: z.tuple([]), output: symbolMessage },
      },
    })
    const lax = defineContract({ methods: { m: { input: z.tuple([]), output: z.number() } } })
    const { port1, port2 } = new MessageChannel()
    try {
      const caller = connect({ target: port1, remote: target === 'result' ? strict : lax, timeout: 60_000 })
      const server = connect({
        target: port2,
        local: { contract: target === 'arguments' ? strict : lax, handlers: { m: () => 1 } },
      })
      conns.push(caller, server)
      const remote: any = await caller.ready
      const call = track(remote.m())
      // Before the fix it threw into the page and the call hung: until its timeout
      // (arguments), or for ever (result: it had left the pending table).
      await until(() => call.settled, 'the call settled')
      expect(call.error).toBeInstanceOf(ValidationError)
      expect(call.error).toMatchObject({ target, side, issues: [{ message: 'Symbol(m)', path: [] }] })
    } finally {
      port1.close()
      port2.close()
    }
  })
})
