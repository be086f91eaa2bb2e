/**
 * Many things in one microtask turn: calls, replies, aborts and closes that
 * share one batch (see src/protocol/batch.ts and README "How it works").
 */
import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { AbortError } from '../../src/errors.js'
import { DEFAULT_LIMITS, type Limits } from '../../src/gate/limits.js'
import { Caller } from '../../src/rpc/caller.js'
import { EventHub } from '../../src/rpc/event-hub.js'
import { Responder, type ServedMethod } from '../../src/rpc/responder.js'
import { Session } from '../../src/rpc/session.js'
import type { Rejection } from '../../src/transport/transport.js'
import { type MemoryEnd, memoryPair, track, turns, until } from './helpers.js'

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

describe('calls aborted in the turn they were queued', () => {
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
})
