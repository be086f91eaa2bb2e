import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import type { Connection } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import {
  DisconnectedError,
  HandshakeError,
  OriginError,
  RemoteError,
  TimeoutError,
  ValidationError,
} from '../../src/errors.js'
import { PROTOCOL_VERSION } from '../../src/protocol/envelope.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import type { Rejection } from '../../src/transport/transport.js'
import { type FakeWindow, rejection, track, turns, until, useFakeTimers, windowPair } from './helpers.js'

const PARENT = 'https://parent.example'
const CHILD = 'https://child.example'

const childApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    slow: { input: z.tuple([]), output: z.string() },
    fail: { input: z.tuple([z.string()]), output: z.never() },
  },
  events: { resized: z.object({ height: z.number() }) },
})

const parentApi = defineContract({
  methods: { greet: { input: z.tuple([z.string()]), output: z.string() } },
  events: { ping: z.object({ n: z.number() }) },
})

const open: Array<Connection<any, any>> = []
function track_<T extends Connection<any, any>>(conn: T): T {
  open.push(conn)
  return conn
}

interface Log {
  rejections: Rejection[]
  signals: AbortSignal[]
}

function connectParent(
  child: FakeWindow,
  extra: Record<string, unknown> = {},
  log: Log = { rejections: [], signals: [] },
) {
  return track_(
    connect({
      target: child as unknown as Window,
      allowedOrigins: [CHILD],
      remote: childApi,
      local: { contract: parentApi, handlers: { greet: (name) => `hello ${name}` } },
      onRejected: (r) => log.rejections.push(r),
      ...extra,
    }),
  )
}

function connectChild(
  parent: FakeWindow,
  extra: Record<string, unknown> = {},
  log: Log = { rejections: [], signals: [] },
) {
  return track_(
    connect({
      target: parent as unknown as Window,
      allowedOrigins: [PARENT],
      remote: parentApi,
      local: {
        contract: childApi,
        handlers: {
          add: (a, b) => a + b,
          slow: ({ signal }) => {
            log.signals.push(signal)
            return new Promise<string>(() => {})
          },
          fail: (message) => {
            throw Object.assign(new RangeError(message), { status: 422 })
          },
        },
      },
      onRejected: (r) => log.rejections.push(r),
      ...extra,
    }),
  )
}

/** Rejections that are not the other in-test connection's traffic crossing the shared jsdom window. */
function realRejections(log: Log, crossTalkOrigin: string): Rejection[] {
  return log.rejections.filter((r) => !(r.reason === 'origin' && r.origin === crossTalkOrigin && !r.fromPeer))
}

beforeEach(() => useFakeTimers())
afterEach(() => {
  for (const conn of open.splice(0)) conn.close()
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

describe('connect() between two windows', () => {
  it.each(['parent', 'child'])(
    'connects when the %s calls connect() first, and calls work both ways',
    async (first) => {
      const { parent, child } = windowPair(PARENT, CHILD)
      const parentLog: Log = { rejections: [], signals: [] }
      const childLog: Log = { rejections: [], signals: [] }
      let p: Connection<typeof childApi, typeof parentApi>
      let c: Connection<typeof parentApi, typeof childApi>
      if (first === 'parent') {
        p = connectParent(child, {}, parentLog)
        await turns()
        vi.advanceTimersByTime(3000) // the parent has announced many times to nobody
        c = connectChild(parent, {}, childLog)
      } else {
        c = connectChild(parent, {}, childLog)
        await turns()
        vi.advanceTimersByTime(3000)
        p = connectParent(child, {}, parentLog)
      }
      expect(p.state).toBe('connecting')
      const [childProxy, parentProxy] = await Promise.all([p.ready, c.ready])
      expect(p.state).toBe('open')
      expect(c.state).toBe('open')
      expect(p.cause).toBe('handshake')
      expect(childProxy).toBe(p.remote)
      await expect(childProxy.add(1, 2)).resolves.toBe(3)
      await expect(parentProxy.greet('kid')).resolves.toBe('hello kid')
      expect(realRejections(parentLog, PARENT)).toEqual([])
      expect(realRejections(childLog, CHILD)).toEqual([])
    },
  )

  it('posts only to concrete origins when each side allows exactly one', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const c = connectChild(parent)
    await Promise.all([p.ready, c.ready])
    expect(child.posts.length).toBeGreaterThan(0)
    expect(child.posts.every((post) => post.targetOrigin === CHILD)).toBe(true)
    expect(parent.posts.every((post) => post.targetOrigin === PARENT)).toBe(true)
  })

  it("with several allowed origins, only the content-free SYN goes to '*'; the ACK with the port goes to the peer's origin", async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child, { allowedOrigins: [CHILD, 'https://other.example'] })
    const c = connectChild(parent, { allowedOrigins: [PARENT, 'https://*.parent.example'] })
    await Promise.all([p.ready, c.ready])
    for (const post of [...child.posts, ...parent.posts]) {
      if (post.targetOrigin === '*') expect(Object.keys(post.data).sort()).toEqual(['k', 'n', 'pc'])
      if (post.data.k === 'a') expect(post.targetOrigin).not.toBe('*')
    }
    expect([...child.posts, ...parent.posts].some((post) => post.data.k === 'a')).toBe(true)
  })

  it('carries errors, validation failures both ways, and typed events both ways', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const c = connectChild(parent)
    const [remote] = await Promise.all([p.ready, c.ready])
    const thrown = await rejection(remote.fail('no way'))
    expect(thrown).toBeInstanceOf(RemoteError)
    expect(thrown).toMatchObject({
      remoteName: 'RangeError',
      message: 'no way',
      data: { status: 422 },
      remoteStack: undefined,
    })
    const invalid = await rejection((remote.add as any)(1, 'two'))
    expect(invalid).toBeInstanceOf(ValidationError)
    expect(invalid).toMatchObject({ side: 'remote', target: 'arguments' })
    const resized = vi.fn()
    const pinged = vi.fn()
    p.on('resized', resized)
    c.on('ping', pinged)
    c.emit('resized', { height: 120 })
    p.emit('ping', { n: 1 })
    await until(() => resized.mock.calls.length === 1 && pinged.mock.calls.length === 1)
    expect(resized).toHaveBeenCalledWith({ height: 120 })
    expect(pinged).toHaveBeenCalledWith({ n: 1 })
  })

  it('delivers events emitted before the connection opened, in order', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const c = connectChild(parent)
    c.emit('resized', { height: 1 })
    c.emit('resized', { height: 2 })
    const p = connectParent(child)
    const heights: number[] = []
    p.on('resized', ({ height }) => heights.push(height))
    await Promise.all([p.ready, c.ready])
    await until(() => heights.length === 2)
    expect(heights).toEqual([1, 2])
  })

  it('sends calls made before the connection opened once it does', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const early = p.remote.add(2, 2)
    connectChild(parent)
    await expect(early).resolves.toBe(4)
  })

  it('an abort reaches the remote handler signal, and a timeout does too', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const childLog: Log = { rejections: [], signals: [] }
    const p = connectParent(child)
    connectChild(parent, {}, childLog)
    const remote = await p.ready
    const controller = new AbortController()
    const aborted = remote.slow.with({ signal: controller.signal })()
    await until(() => childLog.signals.length === 1)
    controller.abort()
    expect((await rejection(aborted)).code).toBe('ABORT')
    await until(() => childLog.signals[0]!.aborted)
    const timed = remote.slow.with({ timeout: 100 })()
    await until(() => childLog.signals.length === 2)
    vi.advanceTimersByTime(100)
    expect(await rejection(timed)).toBeInstanceOf(TimeoutError)
    await until(() => childLog.signals[1]!.aborted)
  })

  it('fails ready on both sides with HandshakeError on a protocol version mismatch', async () => {
    // Every handshake message crossing the wire claims another version, as a peer on another release would.
    const { parent, child } = windowPair(PARENT, CHILD, {
      rewrite: (data) => (typeof data?.pc === 'number' ? { ...data, pc: PROTOCOL_VERSION + 1 } : data),
    })
    const p = connectParent(child)
    const c = connectChild(parent)
    const [pe, ce] = await Promise.all([rejection(p.ready), rejection(c.ready)])
    for (const [error, conn] of [
      [pe, p],
      [ce, c],
    ] as const) {
      expect(error).toBeInstanceOf(HandshakeError)
      expect(error.message).toContain(`v${PROTOCOL_VERSION + 1}`)
      expect(conn.state).toBe('closed')
      expect(conn.cause).toBe('version-mismatch')
    }
    expect(vi.getTimerCount()).toBe(0)
  })

  it('fails ready with TimeoutError after connectTimeout when nobody answers, and cleans up', async () => {
    const { child } = windowPair(PARENT, CHILD)
    const states: string[] = []
    const p = connectParent(child, { connectTimeout: 500 })
    p.onStateChange((state, cause) => states.push(`${state}:${cause}`))
    const early = track(p.remote.add(1, 1))
    const ready = track(p.ready)
    vi.advanceTimersByTime(499)
    await turns(1)
    expect(ready.status).toBe('pending')
    vi.advanceTimersByTime(1)
    const error = await rejection(p.ready)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toContain('500 ms')
    expect(p.state).toBe('closed')
    expect(p.cause).toBe('connect-timeout')
    expect(states).toEqual(['closed:connect-timeout'])
    expect(await rejection(early.promise)).toBeInstanceOf(TimeoutError)
    expect(vi.getTimerCount()).toBe(0)
    const sent = child.posts.length
    vi.advanceTimersByTime(10_000)
    expect(child.posts.length).toBe(sent)
  })

  it('names the origin when the handshake times out because the peer is at a disallowed origin', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child, { allowedOrigins: ['https://child.example:8443'], connectTimeout: 1000 })
    connectChild(parent, { connectTimeout: Number.POSITIVE_INFINITY })
    await turns()
    vi.advanceTimersByTime(1000)
    const error = await rejection(p.ready)
    expect(error).toBeInstanceOf(OriginError)
    expect(error.message).toContain(`the target window is at ${CHILD}, which is not in allowedOrigins`)
  })

  it('with connectTimeout Infinity, waits for the peer indefinitely', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child, { connectTimeout: Number.POSITIVE_INFINITY })
    vi.advanceTimersByTime(10 * 60_000)
    await turns(1)
    expect(p.state).toBe('connecting')
    connectChild(parent)
    await p.ready
  })

  it('does not pair two connections on different channels', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child, { channel: 'payments', connectTimeout: 2000 })
    const c = connectChild(parent, { channel: 'chat', connectTimeout: 2000 })
    const pr = track(p.ready)
    const cr = track(c.ready)
    vi.advanceTimersByTime(1000)
    await turns()
    expect(pr.status).toBe('pending')
    expect(cr.status).toBe('pending')
    vi.advanceTimersByTime(1000)
    expect(await rejection(p.ready)).toBeInstanceOf(TimeoutError)
    expect(await rejection(c.ready)).toBeInstanceOf(TimeoutError)
  })

  it('keeps two channels between the same two windows apart, whatever the order of connect() calls', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const pa = connectParent(child, { channel: 'a' })
    const pb = connectParent(child, {
      channel: 'b',
      local: { contract: parentApi, handlers: { greet: (name: string) => `b says hi to ${name}` } },
    })
    const cb = connectChild(parent, { channel: 'b' })
    const ca = connectChild(parent, { channel: 'a' })
    const [, , proxyB, proxyA] = await Promise.all([pa.ready, pb.ready, cb.ready, ca.ready])
    await expect(proxyA.greet('x')).resolves.toBe('hello x')
    await expect(proxyB.greet('x')).resolves.toBe('b says hi to x')
  })

  it('ignores a third window at an allowed origin that posts well-formed calls', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const greet = vi.fn((name: string) => `hello ${name}`)
    const log: Log = { rejections: [], signals: [] }
    const p = connectParent(child, { local: { contract: parentApi, handlers: { greet } } }, log)
    connectChild(parent)
    await p.ready
    // A sibling frame at the child's origin replays handshake and session traffic.
    const intruder = windowPair(PARENT, CHILD).child
    for (const data of [
      { pc: PROTOCOL_VERSION, k: 's', n: 'zzzzzzzzzzzzzzzzzzzzz' },
      { k: 'c', i: 'abc', m: 'greet', a: ['intruder'] },
    ]) {
      window.dispatchEvent(new MessageEvent('message', { data, origin: CHILD, source: intruder as unknown as Window }))
    }
    await turns()
    expect(greet).not.toHaveBeenCalled()
    expect(log.rejections.filter((r) => r.reason === 'source')).toHaveLength(2)
  })

  it('reports a peer that navigated to a disallowed origin and goes reconnecting', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    connectChild(parent)
    await p.ready
    const pending = p.remote.slow()
    window.dispatchEvent(
      new MessageEvent('message', { data: 'hi', origin: 'https://evil.example', source: child as unknown as Window }),
    )
    expect(p.state).toBe('reconnecting')
    expect(p.cause).toBe('origin-changed')
    expect(await rejection(pending)).toMatchObject({ code: 'DISCONNECTED', reason: 'origin-changed' })
    // While reconnecting, more such messages keep the cause.
    window.dispatchEvent(
      new MessageEvent('message', { data: 'hi', origin: 'https://evil.example', source: child as unknown as Window }),
    )
    expect(p.cause).toBe('origin-changed')
  })

  it('reports every message to trace', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const entries: TraceEntry[] = []
    const p = connectParent(child, { trace: (e: TraceEntry) => entries.push(e), channel: 'traced' })
    connectChild(parent, { channel: 'traced' })
    const remote = await p.ready
    await remote.add(1, 2)
    const kinds = entries.map((e) => `${e.direction} ${e.kind}`)
    expect(kinds).toContain('send syn')
    expect(kinds).toContain('send call')
    expect(kinds).toContain('receive result')
    expect(entries.every((e) => e.channel === 'traced')).toBe(true)
    expect(entries.find((e) => e.kind === 'call')).toMatchObject({ method: 'add', id: expect.any(String) })
  })

  it('a throwing onRejected hook does not break the gate', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const hook = vi.fn(() => {
      throw new Error('hook bug')
    })
    const p = connectParent(child, { onRejected: hook })
    connectChild(parent)
    window.dispatchEvent(new MessageEvent('message', { data: 1, origin: 'https://x.example', source: null }))
    expect(hook).toHaveBeenCalled()
    await expect(p.ready).resolves.toBeDefined()
  })
})

describe('close()', () => {
  it('rejects pending calls with DisconnectedError, tells the peer, is idempotent and leaves no timer', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const childLog: Log = { rejections: [], signals: [] }
    const p = connectParent(child)
    const c = connectChild(parent, {}, childLog)
    const remote = await p.ready
    await c.ready
    const pending = remote.slow()
    await until(() => childLog.signals.length === 1)
    const childStates: string[] = []
    c.onStateChange((s, cause) => childStates.push(`${s}:${cause}`))
    p.close()
    p.close()
    const error = await rejection(pending)
    expect(error).toBeInstanceOf(DisconnectedError)
    expect(error.reason).toBe('closed')
    expect(p.state).toBe('closed')
    expect(p.cause).toBe('closed')
    await until(() => c.state === 'closed')
    expect(c.cause).toBe('peer-closed')
    expect(childStates).toEqual(['closed:peer-closed'])
    expect(childLog.signals[0]!.aborted).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
    // Calls and emits after close fail at once.
    expect(await rejection(remote.add(1, 2))).toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
    expect(() => p.emit('ping', { n: 1 })).toThrow(DisconnectedError)
  })

  it('before the handshake, rejects ready and queued calls and stops announcing', async () => {
    const { child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const early = p.remote.add(1, 2)
    p.close()
    expect(await rejection(p.ready)).toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
    expect(await rejection(early)).toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('removes every listener it added on the window', async () => {
    const add = vi.spyOn(window, 'addEventListener')
    const remove = vi.spyOn(window, 'removeEventListener')
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const c = connectChild(parent)
    await Promise.all([p.ready, c.ready])
    p.close()
    c.close()
    const added = add.mock.calls.map(([type, fn]) => [type, fn])
    const removed = remove.mock.calls.map(([type, fn]) => [type, fn])
    expect(added.length).toBeGreaterThan(0)
    for (const entry of added) expect(removed).toContainEqual(entry)
    add.mockRestore()
    remove.mockRestore()
  })

  it('nothing reaches onRejected after close', async () => {
    const { child } = windowPair(PARENT, CHILD)
    const log: Log = { rejections: [], signals: [] }
    const p = connectParent(child, {}, log)
    p.close()
    window.dispatchEvent(new MessageEvent('message', { data: 1, origin: 'https://x.example', source: null }))
    expect(log.rejections).toEqual([])
  })
})

describe('the peer window going away', () => {
  it('closes with peer-gone when the peer window closes, rejecting pending calls', async () => {
    const { parent, child } = windowPair(PARENT, CHILD)
    const p = connectParent(child)
    const c = connectChild(parent)
    const remote = await p.ready
    await c.ready
    const pending = remote.slow()
    await turns()
    child.closed = true
    vi.advanceTimersByTime(200)
    const error = await rejection(pending)
    expect(error).toBeInstanceOf(DisconnectedError)
    expect(error.reason).toBe('peer-gone')
    expect(p.state).toBe('closed')
    expect(p.cause).toBe('peer-gone')
    c.close()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('before the handshake, the error says so and, for a top-level window (a popup), names the COOP fix', async () => {
    const { child } = windowPair(PARENT, CHILD)
    ;(child as { top?: unknown }).top = child
    const p = connectParent(child)
    child.closed = true
    vi.advanceTimersByTime(200)
    const error = await rejection(p.ready)
    expect(error).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-gone' })
    expect(error.message).toContain('before the handshake completed')
    expect(error.message).toContain('Cross-Origin-Opener-Policy')
  })

  it('before the handshake, a frame that goes gets no COOP hint: COOP never severs a frame', async () => {
    const { child, parent } = windowPair(PARENT, CHILD)
    ;(child as { top?: unknown }).top = parent
    const p = connectParent(child)
    child.closed = true
    vi.advanceTimersByTime(200)
    const error = await rejection(p.ready)
    expect(error).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-gone' })
    expect(error.message).toBe(
      'the peer window is gone (iframe removed or popup closed) before the handshake completed',
    )
  })
})

describe('connect() over a MessagePort', () => {
  it('needs no allowedOrigins, and everything works over the port', async () => {
    const { port1, port2 } = new MessageChannel()
    const p = track_(
      connect({
        target: port1,
        remote: childApi,
        local: { contract: parentApi, handlers: { greet: (n) => `hi ${n}` } },
      }),
    )
    const c = track_(
      connect({
        target: port2,
        remote: parentApi,
        local: {
          contract: childApi,
          handlers: {
            add: (a, b) => a + b,
            slow: () => new Promise<string>(() => {}),
            fail: () => Promise.reject(new Error('x')),
          },
        },
      }),
    )
    const [childProxy, parentProxy] = await Promise.all([p.ready, c.ready])
    await expect(childProxy.add(5, 6)).resolves.toBe(11)
    await expect(parentProxy.greet('port')).resolves.toBe('hi port')
    p.close()
    await until(() => c.state === 'closed')
    port1.close()
    port2.close()
  })
})
