/**
 * close() from inside a hook leaves nothing running: no timer, no further
 * trace entries, and the connection stays closed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import type { Connection } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import { ManualPeer, turns, until, useFakeTimers } from './helpers.js'

const PEER = 'https://peer.example'

const peerApi = defineContract({
  methods: { add: { input: z.tuple([z.number(), z.number()]), output: z.number() } },
})
const ownApi = defineContract({ events: { ping: z.object({ n: z.number() }) } })

const peers: ManualPeer[] = []
const conns: Array<Connection<any, any>> = []

beforeEach(() => useFakeTimers())
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
  for (const p of peers.splice(0)) p.close()
  vi.clearAllTimers()
  vi.useRealTimers()
})

function setup(trace: (entry: TraceEntry, conn: Connection<any, any>) => void, extra: Record<string, unknown> = {}) {
  const peer = new ManualPeer(PEER)
  peers.push(peer)
  const box: { conn?: Connection<any, any> } = {}
  const conn = connect({
    target: peer.win as unknown as Window,
    allowedOrigins: [PEER],
    remote: peerApi,
    local: { contract: ownApi, handlers: {} },
    trace: (entry) => {
      if (box.conn) trace(entry, box.conn)
    },
    ...extra,
  })
  box.conn = conn
  conns.push(conn)
  return { peer, conn }
}

describe('a trace sink that calls close() on a SYN', () => {
  it('on a retried SYN: no retry timer survives close(), and the sink hears nothing more', async () => {
    let after = 0
    let closed = false
    const { peer, conn } = setup((entry, c) => {
      if (closed) after++
      else if (entry.kind === 'syn') {
        closed = true
        c.close()
      }
    })
    peer.autoAck = false
    // The first SYN went out from connect(), before the sink could see the connection; this is the first retry.
    await vi.advanceTimersByTimeAsync(20)
    expect(conn.state).toBe('closed')
    const timers = vi.getTimerCount()
    await vi.advanceTimersByTimeAsync(10_000)
    // The retry loop would go on forever, calling the sink with SYNs nobody sends.
    expect({ timers, after }).toEqual({ timers: 0, after: 0 })
  })

  it('on the SYN sent when the page comes back from the back/forward cache', async () => {
    let armed = false
    let after = 0
    let closed = false
    const { peer, conn } = setup((entry, c) => {
      if (closed) after++
      else if (armed && entry.kind === 'syn') {
        closed = true
        c.close()
      }
    })
    await conn.ready
    peer.autoAck = false
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
    armed = true
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))
    expect(conn.state).toBe('closed')
    const timers = vi.getTimerCount()
    await vi.advanceTimersByTimeAsync(10_000)
    // The retry loop would go on forever, calling the sink with SYNs nobody sends.
    expect({ timers, after }).toEqual({ timers: 0, after: 0 })
  })
})
describe('a trace sink that calls close() while the queued events go out as the session opens', () => {
  it('the connection stays closed: state never says open again', async () => {
    const states: string[] = []
    const { conn } = setup((entry, c) => {
      if (entry.direction === 'send' && entry.kind === 'event') c.close()
    })
    conn.onStateChange((s, cause) => states.push(`${s}:${cause}`))
    conn.emit('ping', { n: 1 })
    conn.emit('ping', { n: 2 })
    await until(() => states.length > 0 || conn.state !== 'connecting', 'a state change')
    await turns()
    expect(states).toEqual(['closed:closed'])
    expect(conn.state).toBe('closed')
    expect(conn.cause).toBe('closed')
  })
})

describe('a connectTimeout past the longest delay setTimeout takes', () => {
  it('does not time out at once (setTimeout fires at once past 2^31 - 1 ms)', async () => {
    vi.useRealTimers()
    const { peer, conn } = setup(() => {}, { connectTimeout: 2 ** 31 })
    peer.autoAck = false
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(conn.state).toBe('connecting')
  })
})

describe('a trace sink that calls close() on a received SYN', () => {
  it('no private channel is offered after close(): no port left listening, nothing more traced (found by lifecycle-fuzz)', async () => {
    const add = vi.spyOn(MessagePort.prototype, 'addEventListener')
    const remove = vi.spyOn(MessagePort.prototype, 'removeEventListener')
    let after = 0
    let closed = false
    const { peer, conn } = setup((entry, c) => {
      if (closed) after++
      else if (entry.direction === 'receive' && entry.kind === 'syn') {
        closed = true
        c.close()
      }
    })
    peer.autoAck = false
    // '!' sorts before every nanoid: the connection leads, and would open a channel for this SYN.
    peer.syn('!')
    await turns()
    expect(conn.state).toBe('closed')
    const listening = add.mock.calls.filter(
      (call) => call[0] === 'message' && !remove.mock.calls.some((r) => r[1] === call[1]),
    )
    add.mockRestore()
    remove.mockRestore()
    expect({ listening: listening.length, after }).toEqual({ listening: 0, after: 0 })
  })
})
