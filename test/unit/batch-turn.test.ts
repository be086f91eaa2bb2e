/**
 * Many things in one microtask turn: calls, replies, aborts and closes that
 * share one batch (see src/protocol/batch.ts and README "How it works").
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import type { Connection } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { AbortError, DisconnectedError } from '../../src/errors.js'
import { DEFAULT_LIMITS, type Limits } from '../../src/gate/limits.js'
import { Caller } from '../../src/rpc/caller.js'
import { EventHub } from '../../src/rpc/event-hub.js'
import { Responder, type ServedMethod } from '../../src/rpc/responder.js'
import { Session } from '../../src/rpc/session.js'
import type { Rejection } from '../../src/transport/transport.js'
import { type MemoryEnd, memoryPair, type Tracked, track, turns, until } from './helpers.js'

/** A session on `end` serving take(x) (which records x and answers 0), with a caller of take. */
function side(end: MemoryEnd, limits: Limits = DEFAULT_LIMITS) {
  const rejections: Rejection[] = []
  const runs: unknown[] = []
  const caller = new Caller({ take: z.number() }, 10_000, limits)
  const table: Record<string, ServedMethod> = Object.create(null)
  table.take = {
    input: z.tuple([z.any()]),
    output: z.number(),
    handler: (x: unknown) => {
      runs.push(x)
      return 0
    },
  }
  const session = new Session(end, {
    channel: 'ch',
    caller,
    responder: (send) => new Responder(table, send, false, limits),
    events: new EventHub({}, (r) => rejections.push(r)),
    onPeerClose: () => {},
    onRejected: (r) => rejections.push(r),
    trace: undefined,
    limits,
    debug: false,
  })
  return { caller, session, rejections, runs }
}

const api = defineContract({
  methods: {
    echo: { input: z.tuple([z.any()]), output: z.number() },
    // Any: jsdom's ArrayBuffer is not the one a Node MessagePort delivers.
    size: { input: z.tuple([z.any()]), output: z.number() },
  },
  events: { ping: z.object({ n: z.number() }) },
})

const open: Array<Connection<any, any>> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const conn of open.splice(0)) conn.close()
  for (const port of ports.splice(0)) port.close()
})

/** Two connections over a MessageChannel: `a` calls, `b` serves echo and size. */
async function pair(echo: (x: any) => unknown = (x) => x) {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  const runs: unknown[] = []
  const bRejections: Rejection[] = []
  const a = connect({
    target: port1,
    remote: api,
    local: { contract: defineContract({ events: api.events }), handlers: {} },
  })
  const b = connect({
    target: port2,
    remote: defineContract({ events: api.events }),
    local: {
      contract: api,
      handlers: {
        echo: (x) => {
          runs.push(x)
          return echo(x) as number
        },
        size: (buffer: ArrayBuffer) => buffer.byteLength,
      },
    },
    onRejected: (r) => bRejections.push(r),
  })
  open.push(a, b)
  const remote = await a.ready
  await b.ready
  return { a, b, remote, runs, bRejections }
}

describe('calls aborted or ended in the turn they were queued', () => {
  it('a call aborted in the turn it was made never reaches the peer, and no abort follows it', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea)
    const b = side(eb)
    const controller = new AbortController()
    const other = track(a.caller.call('take', [1], undefined, undefined))
    const aborted = track(a.caller.call('take', [2], { signal: controller.signal }, undefined))
    controller.abort()
    await until(() => other.settled && aborted.settled)
    await turns()
    expect(aborted.error).toBeInstanceOf(AbortError)
    expect(other.value).toBe(0)
    expect(b.runs).toEqual([1])
    expect(ea.posted).toEqual([{ k: 'c', i: expect.any(String), m: 'take', a: [1] }])
    expect(b.rejections).toEqual([])
  })

  it('close() in the turn of 100 calls: every call rejects with DisconnectedError and no handler runs', async () => {
    const { a, b, remote, runs } = await pair()
    const states: string[] = []
    b.onStateChange((s, cause) => states.push(`${s}:${cause}`))
    const calls = Array.from({ length: 100 }, (_, n) => track(remote.echo(n)))
    a.close()
    await until(() => calls.every((c) => c.settled) && b.state === 'closed')
    await turns()
    expect(calls.every((c) => c.error instanceof DisconnectedError)).toBe(true)
    expect(runs).toEqual([])
    expect(states).toEqual(['closed:peer-closed'])
  })

  it('calls queued in the turn a session ends reject once and never reach the peer', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea)
    const b = side(eb)
    const calls = Array.from({ length: 3 }, (_, n) => track(a.caller.call('take', [n], undefined, undefined)))
    a.session.end(new DisconnectedError('peer-reloaded', 'gone'), 'closed')
    await until(() => calls.every((c) => c.settled))
    await turns()
    expect(calls.every((c) => c.error instanceof DisconnectedError)).toBe(true)
    expect(b.runs).toEqual([])
    expect(ea.posted).toEqual([{ k: 'x', r: 'closed' }])
  })
})

describe('known limits of batching (not fixed)', () => {
  // The batch is cloned at the end of the turn, so arguments changed after the
  // call but in the same turn travel changed (a post per call cloned them at once).
  it.fails('arguments changed later in the same turn travel as they were when called', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea)
    const b = side(eb)
    const request = { n: 0 }
    const calls: Tracked<unknown>[] = []
    for (let n = 0; n < 3; n++) {
      request.n = n
      calls.push(track(a.caller.call('take', [request], undefined, undefined)))
    }
    await until(() => calls.every((c) => c.settled))
    expect(b.runs).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }])
  })

  // The sender splits batches by its own maxMessageBytes; a receiver with a
  // smaller one gives the post its own, smaller budget and refuses the rest.
  it.fails('a receiver with a smaller maxMessageBytes accepts a turn of calls that each fit it', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, { maxBytes: 1_000_000, maxDepth: 10 })
    const b = side(eb, { maxBytes: 1024, maxDepth: 10 })
    const calls = Array.from({ length: 10 }, () =>
      track(a.caller.call('take', ['x'.repeat(250)], undefined, undefined)),
    )
    await until(() => calls.every((c) => c.settled))
    expect(calls.map((c) => c.status)).toEqual(Array(10).fill('fulfilled'))
    expect(b.rejections).toEqual([])
  })
})
