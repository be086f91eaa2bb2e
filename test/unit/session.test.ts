import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import * as z from 'zod'
import { DisconnectedError, LimitError, RemoteError, ValidationError } from '../../src/errors.js'
import { DEFAULT_LIMITS, type Limits } from '../../src/gate/limits.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import { Caller } from '../../src/rpc/caller.js'
import { EventHub } from '../../src/rpc/event-hub.js'
import { Responder, type ServedMethod } from '../../src/rpc/responder.js'
import { Session } from '../../src/rpc/session.js'
import type { Rejection } from '../../src/transport/transport.js'
import { type MemoryEnd, memoryPair, rejection, track, turns, until, useFakeTimers } from './helpers.js'

const api = {
  add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
  wait: { input: z.tuple([]), output: z.string() },
  big: { input: z.tuple([]), output: z.string() },
}

interface Side {
  end: MemoryEnd
  session: Session
  caller: Caller
  events: EventHub
  rejections: Rejection[]
  peerClose: ReturnType<typeof vi.fn>
  trace: TraceEntry[]
  signals: AbortSignal[]
}

function side(end: MemoryEnd, serve: boolean, limits: Limits = DEFAULT_LIMITS): Side {
  const rejections: Rejection[] = []
  const trace: TraceEntry[] = []
  const signals: AbortSignal[] = []
  const caller = new Caller({ add: api.add.output, wait: api.wait.output, big: api.big.output }, 1000, limits)
  const events = new EventHub({ ping: z.object({ n: z.number() }) }, (r) => rejections.push(r))
  const handlers: Record<string, ServedMethod['handler']> = {
    add: (a: number, b: number) => a + b,
    wait: (ctx: { signal: AbortSignal }) => {
      signals.push(ctx.signal)
      return new Promise(() => {})
    },
    big: () => 'x'.repeat(500),
  }
  const table: Record<string, ServedMethod> = Object.create(null)
  for (const [name, m] of Object.entries(api)) table[name] = { ...m, handler: handlers[name]! }
  const peerClose = vi.fn()
  const session = new Session(end, {
    channel: 'ch',
    caller,
    responder: (send) => (serve ? new Responder(table, send, false, limits) : undefined),
    events,
    onPeerClose: peerClose,
    onRejected: (r) => rejections.push(r),
    trace: (e) => trace.push(e),
    limits,
    debug: false,
  })
  return { end, session, caller, events, rejections, peerClose, trace, signals }
}

beforeEach(() => useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('Session over an in-memory pair', () => {
  it('carries a call and its result both ways', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    await expect(a.caller.call('add', [1, 2], undefined, undefined)).resolves.toBe(3)
    await expect(b.caller.call('add', [20, 22], undefined, undefined)).resolves.toBe(42)
    expect(a.rejections).toEqual([])
    expect(b.rejections).toEqual([])
  })

  it('sends calls that were waiting for the session as soon as it exists', async () => {
    const [ea, eb] = memoryPair()
    const caller = new Caller({ add: z.number() }, 1000, DEFAULT_LIMITS)
    const early = caller.call('add', [2, 3], undefined, undefined)
    side(eb, true)
    new Session(ea, {
      channel: '',
      caller,
      responder: () => undefined,
      events: new EventHub({}, () => {}),
      onPeerClose: () => {},
      onRejected: () => {},
      trace: undefined,
      limits: DEFAULT_LIMITS,
      debug: false,
    })
    await expect(early).resolves.toBe(5)
  })

  it('answers a call to an unknown method with MethodNotFoundError and reports it', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    const error = await rejection(a.caller.call('nope', [], undefined, undefined))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.remoteName).toBe('MethodNotFoundError')
    expect(error.message).toBe('"nope" is not a method of the peer\'s contract')
    expect(b.rejections).toEqual([{ reason: 'unknown-method', detail: 'no handler for "nope"' }])
  })

  it('answers every call with MethodNotFoundError when this side serves nothing', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, false)
    expect(await rejection(a.caller.call('add', [1, 2], undefined, undefined))).toMatchObject({
      remoteName: 'MethodNotFoundError',
    })
    expect(b.rejections[0]!.reason).toBe('unknown-method')
  })

  it('revives a remote validation failure as a ValidationError with side remote', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    side(eb, true)
    const error = await rejection(a.caller.call('add', [1, 'two'], undefined, undefined))
    expect(error).toBeInstanceOf(ValidationError)
    expect(error).toMatchObject({ side: 'remote', target: 'arguments', method: 'add' })
    expect(error.issues[0].path).toEqual([1])
  })

  it('reports a reply to an unknown id and leaves pending calls alone', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    side(eb, true)
    const pending = track(a.caller.call('wait', [], undefined, undefined))
    ea.inject({ k: 'r', i: 'forged', v: 'x' })
    ea.inject({ k: 'e', i: 'forged', e: { n: 'Error', m: 'x' } })
    expect(a.rejections).toEqual([
      { reason: 'unknown-id', detail: 'reply to unknown call forged' },
      { reason: 'unknown-id', detail: 'reply to unknown call forged' },
    ])
    await turns(2)
    expect(pending.status).toBe('pending')
    a.session.end(new DisconnectedError('closed', 'x'), false)
    await rejection(pending.promise)
  })

  it('a caller abort reaches the remote handler signal', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    const controller = new AbortController()
    const p = a.caller.call('wait', [], { signal: controller.signal }, undefined)
    await until(() => b.signals.length === 1)
    controller.abort()
    await rejection(p)
    await until(() => b.signals[0]!.aborted)
    // An abort for an unknown id is ignored.
    eb.inject({ k: 'q', i: 'unknown' })
    expect(b.rejections).toEqual([])
  })

  it('a second call under a running call id is refused, and the first handler still hears the end of the session', async () => {
    const [ea, eb] = memoryPair()
    const b = side(eb, true)
    ea.listen(() => {})
    eb.inject({ k: 'c', i: 'dup', m: 'wait', a: [] })
    eb.inject({ k: 'c', i: 'dup', m: 'wait', a: [] })
    expect(b.signals).toHaveLength(1)
    expect(b.rejections).toEqual([{ reason: 'unknown-id', detail: 'call dup is already running' }])
    b.session.end(new DisconnectedError('closed', 'closed'), false)
    expect(b.signals[0]!.aborted).toBe(true)
  })

  it('a caller timeout also aborts the remote handler', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    const p = a.caller.call('wait', [], { timeout: 50 }, undefined)
    await until(() => b.signals.length === 1)
    vi.advanceTimersByTime(50)
    await rejection(p)
    await until(() => b.signals[0]!.aborted)
  })

  it('delivers events to the hub and reports undeclared or invalid ones', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    const listener = vi.fn()
    b.events.on('ping', listener)
    a.session.send({ k: 'v', m: 'ping', d: { n: 1 } })
    a.session.send({ k: 'v', m: 'ping', d: { n: 'one' } })
    a.session.send({ k: 'v', m: 'pong', d: {} })
    await until(() => b.rejections.length === 2)
    expect(listener).toHaveBeenCalledExactlyOnceWith({ n: 1 })
    expect(b.rejections.map((r) => r.reason)).toEqual(['schema', 'schema'])
  })

  it('passes a peer close message to onPeerClose and ignores fin', () => {
    const [ea] = memoryPair()
    const a = side(ea, true)
    ea.inject({ k: 'f' })
    ea.inject({ k: 'x', r: 'unload' })
    ea.inject({ k: 'x', r: 'closed' })
    expect(a.peerClose.mock.calls).toEqual([['unload'], ['closed']])
    expect(a.rejections).toEqual([])
  })

  it('drops and reports malformed messages', () => {
    const [ea] = memoryPair()
    const a = side(ea, true)
    for (const bad of [{ k: 'c' }, 'hello', 42, { k: 'zz' }, undefined]) ea.inject(bad)
    expect(a.rejections).toHaveLength(5)
    expect(a.rejections.every((r) => r.reason === 'schema')).toBe(true)
  })

  it('reports a message that arrived as null (too deep to clone) as a limit', () => {
    const [ea] = memoryPair()
    const a = side(ea, true)
    ea.inject(null)
    expect(a.rejections).toEqual([{ reason: 'limit', detail: expect.stringContaining('deeper') }])
  })

  it('refuses an oversize call on receipt and tells the caller', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    side(eb, true, { maxBytes: 64, maxDepth: 10 })
    // The caller's own limit is larger, so only the receiver's check can stop it.
    const error = await rejection(a.caller.call('add', ['x'.repeat(100), 1], undefined, undefined))
    expect(error).toBeInstanceOf(LimitError)
    expect(error.message).toContain('more than 64 bytes')
  })

  it('refuses an oversize result on receipt and fails the call with LimitError', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true, { maxBytes: 100, maxDepth: 10 })
    side(eb, true)
    const error = await rejection(a.caller.call('big', [], undefined, undefined))
    expect(error).toBeInstanceOf(LimitError)
    expect(error.message).toBe('the result was refused on receipt: more than 100 bytes')
    expect(a.rejections).toEqual([{ reason: 'limit', detail: 'more than 100 bytes (result message)' }])
  })

  it('a hook that throws on one message of a batch does not cost the others; its error is rethrown outside', async () => {
    const [ea, eb] = memoryPair()
    const deferred: Array<() => void> = []
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => {
      deferred.push(task)
    })
    onTestFinished(() => spy.mockRestore())
    const caller = new Caller({}, 1000, DEFAULT_LIMITS)
    const events = new EventHub({ ping: z.object({ n: z.number() }) }, () => {})
    const heard: number[] = []
    events.on('ping', ({ n }: { n: number }) => heard.push(n))
    new Session(ea, {
      channel: 'ch',
      caller,
      responder: () => undefined,
      events,
      onPeerClose: () => {},
      onRejected: () => {
        throw new Error('hook bug')
      },
      trace: undefined,
      limits: DEFAULT_LIMITS,
      debug: false,
    })
    eb.listen(() => {})
    ea.inject([{ k: 'v', m: 'ping', d: { n: 1 } }, { k: '?' }, { k: 'v', m: 'ping', d: { n: 2 } }])
    expect(heard).toEqual([1, 2])
    expect(deferred).toHaveLength(1)
    expect(() => deferred[0]!()).toThrow('hook bug')
  })

  it('refuses an oversize error reply on receipt and fails the call with LimitError', async () => {
    const [ea] = memoryPair()
    const a = side(ea, true, { maxBytes: 100, maxDepth: 10 })
    const pending = a.caller.call('wait', [], undefined, undefined)
    await until(() => ea.posted.length === 1)
    const { i } = ea.posted[0] as { i: string }
    ea.inject({ k: 'e', i, e: { n: 'Error', m: 'boom', d: { blob: 'x'.repeat(200) } } })
    const error = await rejection(pending)
    expect(error).toBeInstanceOf(LimitError)
    expect(error.message).toBe('the error was refused on receipt: more than 100 bytes')
    expect(a.rejections).toEqual([{ reason: 'limit', detail: 'more than 100 bytes (error message)' }])
  })

  it('drops an oversize event on receipt', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true, { maxBytes: 10, maxDepth: 10 })
    const listener = vi.fn()
    b.events.on('ping', listener)
    a.session.send({ k: 'v', m: 'ping', d: { n: 1, pad: 'x'.repeat(20) } })
    await until(() => b.rejections.length === 1)
    expect(b.rejections[0]).toEqual({ reason: 'limit', detail: expect.stringContaining('more than 10 bytes') })
    expect(listener).not.toHaveBeenCalled()
  })

  it('traces every message sent and received', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    side(eb, true)
    await a.caller.call('add', [1, 2], undefined, undefined)
    expect(a.trace).toEqual([
      {
        direction: 'send',
        kind: 'call',
        channel: 'ch',
        id: expect.any(String),
        method: 'add',
        message: expect.objectContaining({ k: 'c' }),
      },
      {
        direction: 'receive',
        kind: 'result',
        channel: 'ch',
        id: a.trace[0]!.id,
        message: expect.objectContaining({ v: 3 }),
      },
    ])
  })

  it('end() tells the peer, rejects the calls it carried, fires handler signals, closes the port, once', async () => {
    const [ea, eb] = memoryPair()
    const a = side(ea, true)
    const b = side(eb, true)
    const p = a.caller.call('wait', [], undefined, undefined)
    const incoming = b.caller.call('wait', [], undefined, undefined)
    await until(() => a.signals.length === 1 && b.signals.length === 1)
    const error = new DisconnectedError('closed', 'the connection was closed')
    a.session.end(error, 'closed')
    a.session.end(error, 'closed')
    expect(ea.posted.filter((m) => m.k === 'x')).toEqual([{ k: 'x', r: 'closed' }])
    await expect(p).rejects.toBe(error)
    expect(a.signals[0]!.aborted).toBe(true)
    expect(ea.closed).toBe(true)
    await until(() => b.peerClose.mock.calls.length === 1)
    expect(b.peerClose).toHaveBeenCalledWith('closed')
    // Anything arriving after the end is ignored.
    ea.inject({ k: 'x', r: 'closed' })
    expect(a.peerClose).not.toHaveBeenCalled()
    b.session.end(new DisconnectedError('peer-closed', 'x'), false)
    await rejection(incoming)
  })

  it('end() without notifying the peer sends nothing', () => {
    const [ea] = memoryPair()
    const a = side(ea, true)
    a.session.end(new DisconnectedError('peer-unloaded', 'x'), false)
    expect(ea.posted).toEqual([])
  })
})
