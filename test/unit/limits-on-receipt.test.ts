/**
 * The receiver measures what a peer sent before anything else reads it: not
 * the envelope's parser, not the trace sink, not a schema, not a handler.
 * Each test injects what a hostile peer holding the private port could post.
 */
import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { LimitError } from '../../src/errors.js'
import type { Limits } from '../../src/gate/limits.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import { Caller } from '../../src/rpc/caller.js'
import { EventHub } from '../../src/rpc/event-hub.js'
import { Responder, type ServedMethod } from '../../src/rpc/responder.js'
import { Session } from '../../src/rpc/session.js'
import type { Rejection } from '../../src/transport/transport.js'
import { type MemoryEnd, memoryPair, rejection, track, turns, until } from './helpers.js'

const tiny: Limits = { maxBytes: 1024, maxDepth: 10 }

/** A session on `end` serving `take(list of strings)`, with calls `list` and `big` to the peer. */
function victim(end: MemoryEnd, limits: Limits, handler: (...args: any[]) => unknown = () => 0) {
  const rejections: Rejection[] = []
  const trace: TraceEntry[] = []
  const caller = new Caller({ list: z.array(z.string()), big: z.bigint() }, 1000, limits)
  const table: Record<string, ServedMethod> = Object.create(null)
  table.take = { input: z.tuple([z.array(z.string())]), output: z.number(), handler }
  new Session(end, {
    channel: '',
    caller,
    responder: (send) => new Responder(table, send, false, limits),
    events: new EventHub({}, (r) => rejections.push(r)),
    onPeerClose: () => {},
    onRejected: (r) => rejections.push(r),
    trace: (e) => trace.push(e),
    limits,
    debug: false,
  })
  return { caller, rejections, trace }
}

function setup(limits: Limits, handler?: (...args: any[]) => unknown) {
  const [end, peer] = memoryPair()
  const replies: any[] = []
  peer.listen((data) => replies.push(data))
  return { end, replies, ...victim(end, limits, handler) }
}

/** The victim's call of `method`, and the id it went out with. */
async function pendingCall(end: MemoryEnd, caller: Caller, method: string) {
  const call = track(caller.call(method, [], undefined, undefined))
  await until(() => end.posted.length === 1)
  return { call, id: (end.posted[0] as { i: string }).i }
}

describe('limits on receipt', () => {
  it('a sparse argument list of length 2^20 is refused after at most maxBytes / 8 reads, before the envelope parser walks it', async () => {
    const limits = { maxBytes: 8000, maxDepth: 10 }
    const { end, replies, rejections } = setup(limits)
    let reads = 0
    const a = new Proxy(Object.assign([], { length: 2 ** 20 }), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++
        return Reflect.get(target, key, receiver)
      },
    })
    end.inject({ k: 'c', i: 'x', m: 'take', a })
    expect(rejections.map((r) => r.reason)).toEqual(['limit'])
    expect(reads).toBeLessThanOrEqual(limits.maxBytes / 8)
    await until(() => replies.length === 1)
    expect(replies[0]).toMatchObject({ k: 'e', i: 'x', e: { n: 'LimitError', c: 'LIMIT' } })
  })

  it('the messages of one post share one budget: 256 events of shared references cost one walk to the limit, not 256', () => {
    const limits = { maxBytes: 8000, maxDepth: 10 }
    const { end, rejections } = setup(limits)
    let reads = 0
    const d = new Proxy(Object.assign([], { length: 2 ** 20 }), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++
        return Reflect.get(target, key, receiver)
      },
    })
    end.inject(Array.from({ length: 256 }, (_, n) => ({ k: 'v', m: `e${n}`, d })))
    expect(rejections).toHaveLength(256)
    expect(rejections.every((r) => r.reason === 'limit')).toBe(true)
    expect(reads).toBeLessThanOrEqual(limits.maxBytes / 8)
  })

  it('an honest side splits a turn of calls into posts that fit the budget, so every call is answered', async () => {
    const limits = { maxBytes: 1024, maxDepth: 10 }
    const [a, b] = memoryPair()
    const caller = victim(a, limits).caller
    victim(b, limits, () => 0)
    // Ten calls of about 270 bytes each, in one turn: 2.7 KB, over one post's 1 KB.
    const calls = Array.from({ length: 10 }, () =>
      track(caller.call('take', [['x'.repeat(250)]], undefined, undefined)),
    )
    await until(() => calls.every((c) => c.settled))
    expect(calls.map((c) => c.status)).toEqual(Array(10).fill('fulfilled'))
    expect(a.posted.filter(Array.isArray).length).toBeGreaterThanOrEqual(3)
  })

  it('an oversize call under the id of a running call is not answered: the answer would settle the running one (wire fuzz)', async () => {
    let finish: (n: number) => void = () => {}
    const { end, replies, rejections } = setup(tiny, () => new Promise<number>((resolve) => (finish = resolve)))
    end.inject({ k: 'c', i: 'x', m: 'take', a: [['a']] })
    end.inject({ k: 'c', i: 'x', m: 'take', a: [['x'.repeat(2000)]] })
    expect(rejections.map((r) => r.reason)).toEqual(['limit'])
    await turns(5)
    expect(replies).toEqual([])
    finish(7)
    await until(() => replies.length === 1)
    await turns(5)
    expect(replies).toEqual([{ k: 'r', i: 'x', v: 7 }])
  })

  it('a million empty strings as arguments never reach the schema or the handler', async () => {
    let got = -1
    const { end, replies } = setup(tiny, (list: string[]) => (got = list.length))
    end.inject(structuredClone({ k: 'c', i: 'x', m: 'take', a: [new Array(1_000_000).fill('')] }))
    await until(() => replies.length === 1)
    expect(replies[0]).toMatchObject({ k: 'e', e: { n: 'LimitError' } })
    await turns(5)
    expect(got).toBe(-1)
  })

  it('a million empty strings as a result reject the call with LimitError', async () => {
    const { end, caller } = setup(tiny)
    const { call, id } = await pendingCall(end, caller, 'list')
    end.inject(structuredClone({ k: 'r', i: id, v: new Array(1_000_000).fill('') }))
    await until(() => call.settled)
    expect(call.error).toBeInstanceOf(LimitError)
    expect((call.error as Error).message).toMatch(/^the result was refused on receipt: more than 1024 bytes/)
  })

  it('a million-byte BigInt as a result rejects the call with LimitError', async () => {
    const { end, caller } = setup(tiny)
    const { call, id } = await pendingCall(end, caller, 'big')
    end.inject(structuredClone({ k: 'r', i: id, v: 1n << 8_000_000n }))
    await until(() => call.settled)
    expect(call.error).toBeInstanceOf(LimitError)
  })

  it('an honest caller learns of its own oversize arguments before anything is sent', async () => {
    const caller = new Caller({}, 1000, tiny)
    const error = await rejection(caller.call('take', [new Array(1_000_000).fill('')], undefined, undefined))
    expect(error).toBeInstanceOf(LimitError)
    expect(error.message).toBe('arguments of "take" were not sent: more than 1024 bytes')
  })

  it('the trace sink never sees an oversize message; a malformed one is refused as a limit all the same', () => {
    const { end, trace, rejections } = setup(tiny)
    end.inject({ k: 'v', m: 'note', d: 'x'.repeat(100_000) })
    // Oversize, and no valid id to answer: refused, nothing sent.
    end.inject({ k: 'c', i: '', m: 'take', a: ['x'.repeat(100_000)] })
    expect(rejections.map((r) => r.detail)).toEqual([
      'more than 1024 bytes (event message)',
      'more than 1024 bytes (malformed message)',
    ])
    expect(trace).toEqual([])
    expect(end.posted).toEqual([])
  })

  it("a handler's error whose data shares its parts is copied once per part, then refused as too big", async () => {
    let reads = 0
    let level: unknown = 0
    for (let l = 0; l < 5; l++) {
      const below = level
      const o: Record<string, unknown> = {}
      for (let k = 0; k < 8; k++)
        Object.defineProperty(o, `k${k}`, {
          enumerable: true,
          get: () => {
            reads++
            return below
          },
        })
      level = o
    }
    const ctx = level
    const { end, replies } = setup({ maxBytes: 8000, maxDepth: 100 }, () => {
      throw Object.assign(new Error('bad'), { ctx })
    })
    end.inject({ k: 'c', i: 'x', m: 'take', a: [[]] })
    await until(() => replies.length > 0)
    expect(replies[0]).toMatchObject({ k: 'e', e: { n: 'LimitError', m: expect.stringContaining('not sent') } })
    expect(reads).toBe(5 * 8)
  })
})
