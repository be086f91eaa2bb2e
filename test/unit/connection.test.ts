import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import type { Connection } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { LimitError, ValidationError } from '../../src/errors.js'
import { PROTOCOL_VERSION } from '../../src/protocol/envelope.js'
import type { Rejection } from '../../src/transport/transport.js'
import { ManualPeer, rejection, track, turns, until, useFakeTimers } from './helpers.js'

const PEER = 'https://peer.example'

const peerApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    user: { input: z.tuple([]), output: z.object({ name: z.string() }) },
  },
  events: { resized: z.object({ height: z.number() }) },
})
const ownApi = defineContract({
  methods: { greet: { input: z.tuple([z.string()]), output: z.string() } },
  events: { ping: z.object({ n: z.number() }) },
})

const peers: ManualPeer[] = []
const conns: Array<Connection<any, any>> = []

function setup(extra: Record<string, unknown> = {}) {
  const peer = new ManualPeer(PEER)
  peers.push(peer)
  const rejections: Rejection[] = []
  const states: string[] = []
  const greet = vi.fn((name: string) => `hello ${name}`)
  const conn = connect({
    target: peer.win as unknown as Window,
    allowedOrigins: [PEER],
    remote: peerApi,
    local: { contract: ownApi, handlers: { greet } },
    onRejected: (r) => rejections.push(r),
    ...extra,
  })
  conns.push(conn)
  conn.onStateChange((s, cause) => states.push(`${s}:${cause}`))
  return { peer, conn, rejections, states, greet }
}

/** The id of the last call the connection sent to the manual peer. */
function lastCall(peer: ManualPeer): any {
  return peer.received.filter((m) => m.k === 'c').at(-1)
}

beforeEach(() => useFakeTimers())
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
  for (const p of peers.splice(0)) p.close()
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

describe('a connection against a hand-driven peer', () => {
  it('opens when the peer leads, answering with fin over the private port', async () => {
    const { peer, conn, states } = setup()
    await conn.ready
    expect(peer.link[0]).toEqual({ pc: PROTOCOL_VERSION, k: 's', n: expect.any(String) })
    await until(() => peer.received.length === 1)
    expect(peer.received).toEqual([{ k: 'f' }])
    expect(states).toEqual(['open:handshake'])
  })

  it('resolves a call from the reply with its id, validated', async () => {
    const { peer, conn } = setup()
    const remote = await conn.ready
    const p = remote.add(1, 2)
    await until(() => lastCall(peer) !== undefined)
    expect(lastCall(peer)).toEqual({ k: 'c', i: expect.any(String), m: 'add', a: [1, 2] })
    peer.send({ k: 'r', i: lastCall(peer).i, v: 3 })
    await expect(p).resolves.toBe(3)
  })

  it('checks the result again on receipt: a peer is never trusted', async () => {
    const { peer, conn } = setup()
    const remote = await conn.ready
    const p = remote.user()
    await until(() => lastCall(peer) !== undefined)
    peer.send({ k: 'r', i: lastCall(peer).i, v: { name: 42 } })
    const error = await rejection(p)
    expect(error).toBeInstanceOf(ValidationError)
    expect(error).toMatchObject({ side: 'local', target: 'result', method: 'user' })
  })

  it('reports forged replies and replays, and the real reply still lands', async () => {
    const { peer, conn, rejections } = setup()
    const remote = await conn.ready
    const p = track(remote.add(1, 2))
    await until(() => lastCall(peer) !== undefined)
    const id = lastCall(peer).i
    peer.send({ k: 'r', i: 'guessed', v: 99 })
    peer.send({ k: 'r', i: id, v: 3 })
    peer.send({ k: 'r', i: id, v: 4 })
    await until(() => rejections.filter((r) => r.reason === 'unknown-id').length === 2)
    expect(p.value).toBe(3)
  })

  it('drops a late reply after a timeout or an abort silently, and tells the peer to stop', async () => {
    const { peer, conn, rejections } = setup()
    const remote = await conn.ready
    const timed = remote.add.with({ timeout: 100 })(1, 2)
    const controller = new AbortController()
    const aborted = remote.add.with({ signal: controller.signal })(3, 4)
    await until(() => peer.received.filter((m) => m.k === 'c').length === 2)
    const [first, second] = peer.received.filter((m) => m.k === 'c')
    vi.advanceTimersByTime(100)
    controller.abort()
    expect(await rejection(timed)).toMatchObject({ code: 'TIMEOUT' })
    expect(await rejection(aborted)).toMatchObject({ code: 'ABORT' })
    await until(() => peer.received.filter((m) => m.k === 'q').length === 2)
    expect(peer.received.filter((m) => m.k === 'q').map((m) => m.i)).toEqual([first.i, second.i])
    peer.send({ k: 'r', i: first.i, v: 3 })
    peer.send({ k: 'e', i: second.i, e: { n: 'AbortError', m: 'stopped' } })
    await turns()
    expect(rejections).toEqual([])
  })

  it('drops malformed session messages and reports them', async () => {
    const { peer, conn, rejections } = setup()
    await conn.ready
    peer.send({ k: 'c', m: 'greet' })
    peer.send('junk')
    await until(() => rejections.length === 2)
    expect(rejections.every((r) => r.reason === 'schema')).toBe(true)
  })

  it('sends the calls of one turn as one batch, and takes replies in a batch', async () => {
    const { peer, conn, rejections } = setup()
    const remote = await conn.ready
    await until(() => peer.posts.length === 1) // the fin
    const results = [remote.add(1, 1), remote.add(2, 2), remote.add(3, 3)]
    await until(() => peer.posts.length === 2)
    const batch = peer.posts[1]
    expect(batch).toHaveLength(3)
    expect(batch.map((m: any) => m.a)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ])
    peer.send(batch.map((m: any) => ({ k: 'r', i: m.i, v: m.a[0] + m.a[1] })))
    expect(await Promise.all(results)).toEqual([2, 4, 6])
    expect(rejections).toEqual([])
  })

  it('refuses a batch of one or of too many messages, and reads each message of a good one on its own', async () => {
    const { peer, conn, rejections, greet } = setup()
    await conn.ready
    const call = (i: string) => ({ k: 'c', i, m: 'greet', a: ['ada'] })
    peer.send([call('lone')])
    peer.send(Array.from({ length: 257 }, (_, n) => call(`many${n}`)))
    peer.send([call('good'), 'junk', call('also')])
    await until(() => peer.received.filter((m) => m.k === 'r').length === 2)
    expect(peer.received.filter((m) => m.k === 'r').map((m) => m.i)).toEqual(['good', 'also'])
    expect(greet).toHaveBeenCalledTimes(2)
    expect(rejections.map((r) => r.reason)).toEqual(['schema', 'schema', 'schema'])
    expect(rejections[1]?.detail).toMatch(/batch of 257/)
  })

  it('a schema that throws refuses the value it was given; the call, the batch and the page carry on', async () => {
    // A zod transform that throws on bad input, on each of the three paths.
    const parsed = z.string().transform((text) => JSON.parse(text) as unknown)
    // setup() types the connection with its default contracts; these replace them.
    const {
      peer,
      conn: untyped,
      rejections,
    } = setup({
      remote: defineContract({
        // @ts-expect-error: an output that refuses its own output; only the caller's check runs here
        methods: { get: { input: z.tuple([]), output: parsed } },
        events: { data: parsed },
      }),
      local: {
        contract: defineContract({ methods: { put: { input: z.tuple([parsed]), output: z.unknown() } } }),
        handlers: { put: (value: unknown) => value },
      },
    })
    const conn = untyped as unknown as Connection<any, any>
    const remote = await conn.ready
    // A result: the call rejects with ValidationError instead of waiting forever.
    const call = remote.get!()
    await until(() => lastCall(peer) !== undefined)
    peer.send({ k: 'r', i: lastCall(peer).i, v: 'not json' })
    const error = await rejection(call)
    expect(error).toBeInstanceOf(ValidationError)
    expect(error).toMatchObject({ target: 'result', side: 'local' })
    expect(error.issues[0].message).toMatch(/^the schema threw: /)
    // Arguments, in a batch: only the bad call fails.
    peer.send([
      { k: 'c', i: 'bad', m: 'put', a: ['not json'] },
      { k: 'c', i: 'good', m: 'put', a: ['{"a":1}'] },
    ])
    await until(() => peer.received.filter((m) => m.i === 'bad' || m.i === 'good').length === 2)
    expect(peer.received.find((m) => m.i === 'bad')).toMatchObject({
      k: 'e',
      e: { c: 'VALIDATION', t: 'arguments', i: [{ message: expect.stringMatching(/^the schema threw: /) }] },
    })
    expect(peer.received.find((m) => m.i === 'good')).toEqual({ k: 'r', i: 'good', v: { a: 1 } })
    // An event: dropped and reported, never an unhandled rejection.
    const listener = vi.fn()
    conn.on('data', listener)
    peer.send({ k: 'v', m: 'data', d: 'not json' })
    peer.send({ k: 'v', m: 'data', d: '[1]' })
    await until(() => listener.mock.calls.length === 1)
    expect(listener).toHaveBeenCalledWith([1])
    expect(rejections).toEqual([
      { reason: 'schema', detail: expect.stringMatching(/^event "data": the schema threw: /) },
    ])
  })

  it('an event queued before the handshake that cannot be cloned is rethrown outside; the connection opens all the same', async () => {
    // What is rethrown in a microtask is caught here; every other microtask runs as usual.
    const thrown: unknown[] = []
    const queue = globalThis.queueMicrotask
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) =>
      queue(() => {
        try {
          task()
        } catch (error) {
          thrown.push(error)
        }
      }),
    )
    onTestFinished(() => spy.mockRestore())
    const { peer, conn, states } = setup()
    conn.emit('ping', { n: 1, callback: () => 1 } as unknown as { n: number })
    conn.emit('ping', { n: 2 })
    await conn.ready
    expect(conn.state).toBe('open')
    expect(states).toEqual(['open:handshake'])
    await until(() => thrown.length === 1)
    expect(String(thrown[0])).toMatch(/could not be cloned/)
    await until(() => peer.received.some((m) => m.k === 'v'))
    expect(peer.received.filter((m) => m.k === 'v')).toEqual([{ k: 'v', m: 'ping', d: { n: 2 } }])
  })

  it('fails only the call that cannot be cloned when it shares a batch with others', async () => {
    const { peer, conn } = setup()
    const remote = await conn.ready
    const good = remote.add(1, 2)
    const bad = rejection(remote.add(1, (() => 2) as unknown as number))
    await until(() => peer.received.some((m) => m.k === 'c'))
    expect(await bad).toMatchObject({ name: 'DataCloneError' })
    const sent = peer.received.filter((m) => m.k === 'c')
    expect(sent).toHaveLength(1)
    peer.send({ k: 'r', i: sent[0].i, v: 3 })
    expect(await good).toBe(3)
  })

  it('serves calls from the peer, validating arguments before the handler runs', async () => {
    const { peer, conn, greet } = setup()
    await conn.ready
    peer.send({ k: 'c', i: 'c1', m: 'greet', a: ['ada'] })
    peer.send({ k: 'c', i: 'c2', m: 'greet', a: [42] })
    peer.send({ k: 'c', i: 'c3', m: '__proto__', a: [] })
    peer.send({ k: 'c', i: 'c4', m: 'toString', a: [] })
    await until(() => peer.received.filter((m) => m.k !== 'f').length === 4)
    const replies = Object.fromEntries(peer.received.filter((m) => m.i).map((m) => [m.i, m]))
    expect(replies.c1).toEqual({ k: 'r', i: 'c1', v: 'hello ada' })
    expect(replies.c2).toMatchObject({ k: 'e', e: { c: 'VALIDATION', t: 'arguments' } })
    expect(replies.c3).toMatchObject({ k: 'e', e: { n: 'MethodNotFoundError' } })
    expect(replies.c4).toMatchObject({ k: 'e', e: { n: 'MethodNotFoundError' } })
    expect(greet).toHaveBeenCalledTimes(1)
  })

  it('validates inbound events and drops bad ones', async () => {
    const { peer, conn, rejections } = setup()
    await conn.ready
    const heights: number[] = []
    const off = conn.on('resized', ({ height }) => heights.push(height))
    peer.send({ k: 'v', m: 'resized', d: { height: 1 } })
    peer.send({ k: 'v', m: 'resized', d: { height: 'tall' } })
    peer.send({ k: 'v', m: 'unknown', d: {} })
    await until(() => rejections.length === 2)
    expect(heights).toEqual([1])
    off()
    peer.send({ k: 'v', m: 'resized', d: { height: 2 } })
    await turns()
    expect(heights).toEqual([1])
  })

  it('emit() checks the name and the size, and queues until open', async () => {
    const { peer, conn } = setup({ maxMessageBytes: 64 })
    expect(() => (conn as any).emit('nope', {})).toThrow(
      new TypeError('emit("nope"): this side\'s contract declares no such event'),
    )
    expect(() => conn.emit('ping', { n: 'x'.repeat(100) } as never)).toThrow(LimitError)
    conn.emit('ping', { n: 1 })
    await conn.ready
    await until(() => peer.received.some((m) => m.k === 'v'))
    expect(peer.received.filter((m) => m.k === 'v')).toEqual([{ k: 'v', m: 'ping', d: { n: 1 } }])
  })

  it('keeps at most 1024 queued events, dropping the oldest', async () => {
    const { peer, conn } = setup()
    for (let n = 0; n < 1030; n++) conn.emit('ping', { n })
    await conn.ready
    await until(() => peer.received.filter((m) => m.k === 'v').length === 1024)
    expect(peer.received.find((m) => m.k === 'v').d.n).toBe(6)
  })

  it('on() refuses an event the remote contract does not declare', () => {
    const { conn } = setup()
    expect(() => (conn as any).on('nope', () => {})).toThrow(TypeError)
  })

  it('a peer close message closes the connection with peer-closed', async () => {
    const { peer, conn, states } = setup()
    const remote = await conn.ready
    const pending = remote.add(1, 2)
    peer.send({ k: 'x', r: 'closed' })
    expect(await rejection(pending)).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-closed' })
    expect(conn.state).toBe('closed')
    expect(states).toEqual(['open:handshake', 'closed:peer-closed'])
  })

  it('a peer unload goes reconnecting; calls wait for the reloaded page, which gets them', async () => {
    const { peer, conn, states } = setup()
    const remote = await conn.ready
    const inFlight = remote.add(1, 2)
    await until(() => lastCall(peer) !== undefined)
    peer.send({ k: 'x', r: 'unload' })
    expect(await rejection(inFlight)).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-unloaded' })
    expect(conn.state).toBe('reconnecting')
    const readyAgain = track(conn.ready)
    const queued = remote.add(3, 4)
    await turns()
    expect(readyAgain.status).toBe('pending')
    // The reloaded page: a new nonce.
    peer.nonce = '~~'
    peer.syn()
    await until(() => readyAgain.settled)
    expect(conn.state).toBe('open')
    expect(states).toEqual(['open:handshake', 'reconnecting:peer-unloaded', 'open:peer-reloaded'])
    await until(() => lastCall(peer)?.a?.[0] === 3)
    peer.send({ k: 'r', i: lastCall(peer).i, v: 7 })
    await expect(queued).resolves.toBe(7)
  })

  it('a new page without an unload notice still rejects the calls of the old session', async () => {
    const { peer, conn, states, rejections } = setup()
    const remote = await conn.ready
    const inFlight = remote.add(1, 2)
    await until(() => lastCall(peer) !== undefined)
    const oldId = lastCall(peer).i
    peer.nonce = '~~'
    peer.syn()
    expect(await rejection(inFlight)).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-reloaded' })
    await until(() => states.includes('open:peer-reloaded'))
    expect(states).toContain('reconnecting:peer-reloaded')
    // A reply for the old call, arriving on the new session, is foreign.
    peer.send({ k: 'r', i: oldId, v: 3 })
    await until(() => rejections.some((r) => r.reason === 'unknown-id'))
  })

  it('an unload from a peer whose window is gone closes with peer-gone', async () => {
    const { peer, conn } = setup()
    await conn.ready
    peer.win.closed = true
    peer.send({ k: 'x', r: 'unload' })
    await until(() => conn.state === 'closed')
    expect(conn.cause).toBe('peer-gone')
  })

  it('this page hiding tells the peer and goes reconnecting', async () => {
    const { peer, conn, states } = setup()
    const remote = await conn.ready
    const inFlight = remote.add(1, 2)
    await until(() => lastCall(peer) !== undefined)
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    // Not 'closed': the connection is not, and comes back if the page is shown again.
    expect(await rejection(inFlight)).toMatchObject({ name: 'DisconnectedError', reason: 'page-hidden' })
    await until(() => peer.received.some((m) => m.k === 'x'))
    expect(peer.received.find((m) => m.k === 'x')).toEqual({ k: 'x', r: 'unload' })
    expect(states.at(-1)).toBe('reconnecting:page-hidden')
    // A pageshow that is not from the back/forward cache does nothing.
    const synsBefore = peer.link.length
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false }))
    await turns()
    expect(peer.link.length).toBe(synsBefore)
    expect(conn.state).toBe('reconnecting')
  })

  it('back from the back/forward cache, it seeks a peer again (a reloaded one here)', async () => {
    const { peer, conn, states } = setup()
    await conn.ready
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    peer.nonce = '~~' // the peer reloaded meanwhile
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))
    await conn.ready
    expect(states).toEqual(['open:handshake', 'reconnecting:page-hidden', 'open:peer-reloaded'])
  })

  it('close() from a listener of reconnecting, while the reloaded peer opens a new session, stays closed', async () => {
    const { peer, conn, states } = setup()
    await conn.ready
    conn.onStateChange((state) => {
      if (state === 'reconnecting') conn.close()
    })
    // The reloaded page's SYN, without an unload notice from the old one.
    peer.nonce = '~~'
    peer.syn()
    await until(() => conn.state === 'closed')
    await turns()
    expect(states).toEqual(['open:handshake', 'reconnecting:peer-reloaded', 'closed:closed'])
    expect(conn.state).toBe('closed')
    const before = peer.received.length
    await expect(conn.remote.add(1, 2)).rejects.toMatchObject({ name: 'DisconnectedError', reason: 'closed' })
    await turns()
    expect(peer.received.slice(before).filter((m) => m.k === 'c')).toEqual([])
  })

  it('a listener never hears a notice that a newer state change overtook', async () => {
    const { conn } = setup()
    const heard: string[] = []
    conn.onStateChange((state) => {
      if (state === 'open') conn.close()
    })
    conn.onStateChange((state, cause) => heard.push(`${state}:${cause}`))
    await until(() => conn.state === 'closed')
    expect(heard).toEqual(['closed:closed'])
  })

  it('a pagehide before the handshake changes nothing', () => {
    const { conn, states } = setup({ connectTimeout: Number.POSITIVE_INFINITY })
    const peer = peers.at(-1)!
    peer.autoAck = false
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    expect(conn.state).toBe('connecting')
    expect(states).toEqual([])
  })

  it('a pagehide between ACK and fin withdraws the offered port with an unload notice; shown again, it seeks anew', async () => {
    const { peer, conn, states } = setup({ connectTimeout: Number.POSITIVE_INFINITY })
    peer.autoAck = false
    peer.nonce = '-' // sorts before every nanoid: the connection leads
    peer.syn()
    const ack = () =>
      peer.win.posts.find((p) => p.data?.k === 'a' && !peer.ports.includes(p.transfer[0] as MessagePort))
    await until(() => ack() !== undefined, 'an ACK')
    const first = ack()!
    const port = first.transfer[0] as MessagePort
    peer.ports.push(port)
    const heard: unknown[] = []
    port.onmessage = (event) => heard.push(event.data)
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    await until(() => heard.length > 0, 'a notice on the offered port')
    expect(heard).toEqual([{ k: 'x', r: 'unload' }])
    // A follower that adopted that port holds its nonce as the session's: only a new one is heard.
    const linked = peer.link.length
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))
    await until(() => peer.link.length > linked, 'a SYN')
    expect(peer.link.at(-1)).toEqual({ pc: PROTOCOL_VERSION, k: 's', n: expect.any(String) })
    expect(peer.link.at(-1).n).not.toBe(first.data.l)
    peer.syn()
    await until(() => ack() !== undefined, 'a second ACK')
    const second = ack()!.transfer[0] as MessagePort
    peer.ports.push(second)
    second.postMessage({ k: 'f' })
    await conn.ready
    expect(states).toEqual(['open:handshake'])
  })

  it('onStateChange returns an unsubscribe, and a throwing listener does not stop the others', async () => {
    const { conn } = setup()
    const deferred: Array<() => void> = []
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => {
      deferred.push(task)
    })
    const seen = vi.fn()
    const removed = vi.fn()
    conn.onStateChange(() => {
      throw new Error('listener bug')
    })
    conn.onStateChange(seen)
    const off = conn.onStateChange(removed)
    off()
    conn.close()
    spy.mockRestore()
    expect(seen).toHaveBeenCalledWith('closed', 'closed')
    expect(removed).not.toHaveBeenCalled()
    expect(deferred).toHaveLength(1)
    expect(() => deferred[0]!()).toThrow('listener bug')
  })

  it('an ACK that arrives after close opens nothing', async () => {
    const { peer, conn, states } = setup()
    peer.autoAck = false
    await until(() => peer.link.length === 1)
    conn.close()
    peer.ack(peer.link[0].n)
    await turns()
    expect(peer.received).toEqual([])
    expect(conn.state).toBe('closed')
    expect(states).toEqual(['closed:closed'])
  })

  it('sends the stack of a thrown error only with debug', async () => {
    for (const debug of [false, true]) {
      const { peer, conn } = setup({
        debug,
        local: {
          contract: ownApi,
          handlers: {
            greet: () => {
              throw new Error('boom')
            },
          },
        },
      })
      await conn.ready
      peer.send({ k: 'c', i: 'c1', m: 'greet', a: ['x'] })
      await until(() => peer.received.some((m) => m.k === 'e'))
      const e = peer.received.find((m) => m.k === 'e').e
      if (debug) expect(e.s).toContain('boom')
      else expect(e).not.toHaveProperty('s')
      conn.close()
    }
  })

  it('with no local contract, answers every call with MethodNotFoundError', async () => {
    const { peer, conn } = setup({ local: undefined })
    await conn.ready
    peer.send({ k: 'c', i: 'c1', m: 'greet', a: ['x'] })
    await until(() => peer.received.some((m) => m.k === 'e'))
    expect(peer.received.find((m) => m.k === 'e').e.n).toBe('MethodNotFoundError')
  })
})
