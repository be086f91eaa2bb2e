import { nanoid } from 'nanoid'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import {
  AbortError,
  DisconnectedError,
  LimitError,
  RemoteError,
  TimeoutError,
  ValidationError,
} from '../../src/errors.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import { Caller } from '../../src/rpc/caller.js'
import { rejection, track, useFakeTimers } from './helpers.js'

vi.mock('nanoid', async (importOriginal) => {
  const real = await importOriginal<typeof import('nanoid')>()
  return { ...real, nanoid: vi.fn(real.nanoid) }
})

const outputs = { add: z.number(), greet: z.string(), anything: z.unknown() }

interface Sent {
  message: any
  transfer: Transferable[] | undefined
}

function setup(defaultTimeout = 1000) {
  const caller = new Caller(outputs, defaultTimeout, DEFAULT_LIMITS)
  const sent: Sent[] = []
  const send = vi.fn((message: object, transfer?: Transferable[]) => {
    sent.push({ message, transfer })
  })
  return { caller, sent, send }
}

beforeEach(() => useFakeTimers())
afterEach(() => {
  // One deadline timer may outlive the calls (it fires once and finds nothing); rejectAll clears it.
  expect(vi.getTimerCount()).toBeLessThanOrEqual(1)
  vi.useRealTimers()
})

describe('Caller: one timer for every deadline', () => {
  it('a hundred calls with the default timeout share one timer; rejectAll clears it', async () => {
    const { caller, send } = setup()
    caller.attach(send)
    const calls = Array.from({ length: 100 }, () => caller.call('add', [1, 2], undefined, undefined).catch(() => {}))
    expect(vi.getTimerCount()).toBe(1)
    caller.rejectAll(new Error('closed'))
    await Promise.all(calls)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('an earlier deadline moves the timer, and each call still times out on time', async () => {
    const { caller, send } = setup(1000)
    caller.attach(send)
    const slow = track(caller.call('add', [1, 2], undefined, undefined))
    const quick = track(caller.call('add', [1, 2], { timeout: 100 }, undefined))
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(quick.status).toBe('rejected')
    expect(slow.status).toBe('pending')
    await vi.advanceTimersByTimeAsync(900)
    expect(slow.status).toBe('rejected')
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('Caller: a duplicate reply while the first is checked', () => {
  it('an oversize duplicate does not override a valid reply an async schema is checking', async () => {
    const caller = new Caller({ get: z.string().refine(async () => true) }, 1000, DEFAULT_LIMITS)
    const sent: any[] = []
    caller.attach((message) => void sent.push(message))
    const call = track(caller.call('get', [], undefined, undefined))
    const { i } = sent[0]
    expect(caller.settle({ k: 'r', i, v: 'ok' })).toBe(true)
    expect(caller.refuse(i, new LimitError('the result was refused on receipt'))).toBe(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(call.status).toBe('fulfilled')
    expect(call.value).toBe('ok')
  })
})

describe('Caller: closed during its own sweep', () => {
  it('a connection closed while a timed-out call is being failed leaves no timer behind', async () => {
    const { caller, send } = setup(1000)
    // The abort notice of the timed-out call closes the connection (a trace sink can do that).
    caller.attach((message, transfer) => {
      send(message, transfer)
      if ((message as { k: string }).k === 'q') caller.rejectAll(new Error('closed'))
    })
    // The later deadline first, so the sweep has already noted it when the connection closes.
    const slow = track(caller.call('add', [1, 2], { timeout: 200 }, undefined))
    const quick = track(caller.call('add', [1, 2], { timeout: 100 }, undefined))
    await vi.advanceTimersByTimeAsync(100)
    expect([quick.status, slow.status]).toEqual(['rejected', 'rejected'])
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('Caller: correlation', () => {
  it('sends a call with a fresh random id and resolves with the validated result', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    const q = caller.call('add', [3, 4], undefined, undefined)
    expect(sent.map((s) => s.message)).toEqual([
      { k: 'c', i: expect.any(String), m: 'add', a: [1, 2] },
      { k: 'c', i: expect.any(String), m: 'add', a: [3, 4] },
    ])
    const [first, second] = sent.map((s) => s.message.i as string)
    expect(first).not.toBe(second)
    // A random nanoid prefix per table, then a counter: unguessable from outside.
    expect(first).toMatch(/^[\w-]{10}[0-9a-z]+$/)
    expect(first!.slice(0, 10)).toBe(second!.slice(0, 10))
    expect(vi.mocked(nanoid)).toHaveBeenCalled()
    expect(caller.size).toBe(2)
    // Replies in the other order still find their calls.
    expect(caller.settle({ k: 'r', i: second!, v: 7 })).toBe(true)
    expect(caller.settle({ k: 'r', i: first!, v: 3 })).toBe(true)
    await expect(p).resolves.toBe(3)
    await expect(q).resolves.toBe(7)
    expect(caller.size).toBe(0)
  })

  it('accepts a reply once: a replay is refused', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    const id = sent[0]!.message.i
    expect(caller.settle({ k: 'r', i: id, v: 3 })).toBe(true)
    expect(caller.settle({ k: 'r', i: id, v: 4 })).toBe(false)
    expect(caller.settle({ k: 'e', i: id, e: { n: 'Error', m: 'late' } })).toBe(false)
    await expect(p).resolves.toBe(3)
  })

  it('refuses a reply to an id it never issued, and the pending call is untouched', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], undefined, undefined))
    expect(caller.settle({ k: 'r', i: 'forged-id', v: 99 })).toBe(false)
    expect(caller.settle({ k: 'e', i: 'forged-id', e: { n: 'Error', m: 'x' } })).toBe(false)
    await Promise.resolve()
    expect(p.status).toBe('pending')
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: 3 })
    await expect(p.promise).resolves.toBe(3)
  })

  it('refuses a reply to a call that has not been sent yet (its id was never on the wire)', async () => {
    vi.mocked(nanoid).mockReturnValueOnce('guessed-id-')
    const { caller, sent, send } = setup()
    const p = track(caller.call('add', [1, 2], undefined, undefined))
    expect(caller.settle({ k: 'r', i: 'guessed-id-0', v: 3 })).toBe(false)
    expect(p.status).toBe('pending')
    caller.attach(send)
    expect(sent[0]!.message.i).toBe('guessed-id-0')
    expect(caller.settle({ k: 'r', i: 'guessed-id-0', v: 3 })).toBe(true)
    await expect(p.promise).resolves.toBe(3)
  })

  it('validates the result and rejects a wrong one with a local ValidationError', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: 'three' })
    const error = await rejection(p)
    expect(error).toBeInstanceOf(ValidationError)
    expect(error).toMatchObject({ code: 'VALIDATION', target: 'result', side: 'local', method: 'add' })
    expect(error.issues[0].message).toMatch(/number/)
  })

  it('returns the parsed result (schema transforms apply at the caller)', async () => {
    const caller = new Caller({ parse: z.string().transform((s) => s.length) }, 1000, DEFAULT_LIMITS)
    const sent: any[] = []
    caller.attach((m) => sent.push(m))
    const p = caller.call('parse', [], undefined, undefined)
    caller.settle({ k: 'r', i: sent[0].i, v: 'four' })
    await expect(p).resolves.toBe(4)
  })

  it('supports asynchronous result schemas, both ways', async () => {
    const caller = new Caller({ slow: z.number().refine(async (n) => n > 0, 'must be positive') }, 1000, DEFAULT_LIMITS)
    const sent: any[] = []
    caller.attach((m) => sent.push(m))
    const good = caller.call('slow', [], undefined, undefined)
    const bad = caller.call('slow', [], undefined, undefined)
    caller.settle({ k: 'r', i: sent[0].i, v: 5 })
    caller.settle({ k: 'r', i: sent[1].i, v: -5 })
    await expect(good).resolves.toBe(5)
    expect(await rejection(bad)).toMatchObject({ code: 'VALIDATION', issues: [{ message: 'must be positive' }] })
  })

  it('resolves unvalidated when the method has no output schema', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('undeclared', [], undefined, undefined)
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: { any: 'thing' } })
    await expect(p).resolves.toEqual({ any: 'thing' })
  })

  it('revives an error reply as a RemoteError naming the method', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('greet', ['x'], undefined, undefined)
    caller.settle({ k: 'e', i: sent[0]!.message.i, e: { n: 'TypeError', m: 'nope', d: { status: 418 } } })
    const error = await rejection(p)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ remoteName: 'TypeError', message: 'nope', data: { status: 418 } })
  })

  it('passes the transfer list to send', () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const buffer = new ArrayBuffer(8)
    const p = track(caller.call('anything', [buffer], undefined, [buffer]))
    expect(sent[0]!.transfer).toEqual([buffer])
    caller.rejectAll(new DisconnectedError('closed', 'bye'))
    return expect(p.promise).rejects.toBeInstanceOf(DisconnectedError)
  })

  it('rejects at once, with nothing pending, when send throws (e.g. DataCloneError)', async () => {
    const caller = new Caller(outputs, 1000, DEFAULT_LIMITS)
    const clone = new DOMException('could not be cloned', 'DataCloneError')
    caller.attach(() => {
      throw clone
    })
    await expect(caller.call('add', [() => 1], undefined, undefined)).rejects.toBe(clone)
    expect(caller.size).toBe(0)
  })
})

describe('Caller: timeouts', () => {
  it('rejects with TimeoutError after the default timeout and tells the peer', async () => {
    const { caller, sent, send } = setup(500)
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], undefined, undefined))
    vi.advanceTimersByTime(499)
    await Promise.resolve()
    expect(p.status).toBe('pending')
    vi.advanceTimersByTime(1)
    const error = await rejection(p.promise)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toBe('call to "add" timed out after 500 ms')
    expect(sent.map((s) => s.message.k)).toEqual(['c', 'q'])
    expect(sent[1]!.message).toEqual({ k: 'q', i: sent[0]!.message.i })
  })

  it('uses the per-call timeout over the default', async () => {
    const { caller, send } = setup(10_000)
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], { timeout: 50 }, undefined))
    vi.advanceTimersByTime(50)
    expect(await rejection(p.promise)).toBeInstanceOf(TimeoutError)
  })

  it('never times out with Infinity, and arms no timer', async () => {
    const { caller, sent, send } = setup(Number.POSITIVE_INFINITY)
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], undefined, undefined))
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(2 ** 40)
    await Promise.resolve()
    expect(p.status).toBe('pending')
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: 3 })
    await expect(p.promise).resolves.toBe(3)
  })

  it('a per-call Infinity overrides a finite default', async () => {
    const { caller, send } = setup(100)
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], { timeout: Number.POSITIVE_INFINITY }, undefined))
    vi.advanceTimersByTime(1_000_000)
    await Promise.resolve()
    expect(p.status).toBe('pending')
    caller.rejectAll(new DisconnectedError('closed', 'bye'))
    expect(await rejection(p.promise)).toBeInstanceOf(DisconnectedError)
  })

  it('clamps a timeout past setTimeout’s range instead of firing at once', async () => {
    const { caller, send } = setup()
    caller.attach(send)
    const p = track(caller.call('add', [1, 2], { timeout: 2 ** 31 + 5 }, undefined))
    vi.advanceTimersByTime(1000)
    await Promise.resolve()
    expect(p.status).toBe('pending')
    vi.advanceTimersByTime(2 ** 31)
    expect(await rejection(p.promise)).toBeInstanceOf(TimeoutError)
  })

  it('silently drops the first late reply after a timeout (not reported as unknown)', async () => {
    const { caller, sent, send } = setup(100)
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    vi.advanceTimersByTime(100)
    expect(await rejection(p)).toBeInstanceOf(TimeoutError)
    const id = sent[0]!.message.i
    expect(caller.settle({ k: 'r', i: id, v: 3 })).toBe(true)
    // ...but only once: a second reply for the same id is a replay.
    expect(caller.settle({ k: 'r', i: id, v: 3 })).toBe(false)
  })

  it('a call that timed out while waiting for a session is never sent, and a reply to it is foreign', async () => {
    const { caller, sent, send } = setup(100)
    const p = caller.call('add', [1, 2], undefined, undefined)
    vi.advanceTimersByTime(100)
    expect(await rejection(p)).toBeInstanceOf(TimeoutError)
    caller.attach(send)
    expect(sent).toEqual([])
  })
})

describe('Caller: AbortSignal', () => {
  it('rejects at once, sending nothing, when the signal is already aborted', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const reason = new Error('user left')
    const error = await rejection(caller.call('add', [1, 2], { signal: AbortSignal.abort(reason) }, undefined))
    expect(error).toBeInstanceOf(AbortError)
    expect(error.code).toBe('ABORT')
    expect(error.cause).toBe(reason)
    expect(error.message).toContain('before it was sent')
    expect(sent).toEqual([])
    expect(caller.size).toBe(0)
  })

  it('rejects with AbortError carrying the reason and tells the peer', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const controller = new AbortController()
    const p = caller.call('add', [1, 2], { signal: controller.signal }, undefined)
    const reason = new Error('stop')
    controller.abort(reason)
    const error = await rejection(p)
    expect(error).toBeInstanceOf(AbortError)
    expect(error.cause).toBe(reason)
    expect(sent[1]!.message).toEqual({ k: 'q', i: sent[0]!.message.i })
    // The late reply is dropped silently, once.
    expect(caller.settle({ k: 'r', i: sent[0]!.message.i, v: 3 })).toBe(true)
  })

  it('aborting a call still waiting for a session sends nothing, then or later', async () => {
    const { caller, sent, send } = setup()
    const controller = new AbortController()
    const p = caller.call('add', [1, 2], { signal: controller.signal }, undefined)
    controller.abort()
    expect(await rejection(p)).toBeInstanceOf(AbortError)
    caller.attach(send)
    expect(sent).toEqual([])
  })

  it('removes its abort listener once the call settles', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const controller = new AbortController()
    const remove = vi.spyOn(controller.signal, 'removeEventListener')
    const p = caller.call('add', [1, 2], { signal: controller.signal }, undefined)
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: 3 })
    await expect(p).resolves.toBe(3)
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function))
    controller.abort()
    expect(sent).toHaveLength(1)
  })

  it('an abort after the timeout changes nothing', async () => {
    const { caller, sent, send } = setup(10)
    caller.attach(send)
    const controller = new AbortController()
    const p = caller.call('add', [1, 2], { signal: controller.signal }, undefined)
    vi.advanceTimersByTime(10)
    expect(await rejection(p)).toBeInstanceOf(TimeoutError)
    controller.abort()
    expect(sent.map((s) => s.message.k)).toEqual(['c', 'q'])
  })
})

describe('Caller: sessions', () => {
  it('holds calls made before a session and sends them, in order, on attach', async () => {
    const { caller, sent, send } = setup()
    const p1 = caller.call('add', [1, 1], undefined, undefined)
    const p2 = caller.call('add', [2, 2], undefined, undefined)
    expect(caller.size).toBe(2)
    expect(sent).toEqual([])
    caller.attach(send)
    expect(sent.map((s) => s.message.a)).toEqual([
      [1, 1],
      [2, 2],
    ])
    for (const s of sent) caller.settle({ k: 'r', i: s.message.i, v: s.message.a[0] * 2 })
    await expect(p1).resolves.toBe(2)
    await expect(p2).resolves.toBe(4)
  })

  it('detach rejects the calls that went out on the session and keeps the unsent ones', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const sentCall = track(caller.call('add', [1, 2], undefined, undefined))
    const lost = new DisconnectedError('peer-reloaded', 'the peer page reloaded')
    caller.detach(lost)
    const waiting = track(caller.call('add', [3, 4], undefined, undefined))
    expect(await rejection(sentCall.promise)).toBe(lost)
    expect(waiting.status).toBe('pending')
    expect(sent).toHaveLength(1)
    // A reply for the lost call is not silently accepted: it is foreign to the next session.
    expect(caller.settle({ k: 'r', i: sent[0]!.message.i, v: 3 })).toBe(false)
    const second: any[] = []
    caller.attach((m) => second.push(m))
    expect(second).toEqual([{ k: 'c', i: expect.any(String), m: 'add', a: [3, 4] }])
    caller.settle({ k: 'r', i: second[0].i, v: 7 })
    await expect(waiting.promise).resolves.toBe(7)
  })

  it('detach leaves a call that was never sent pending, even when detach comes first', async () => {
    const { caller, sent, send } = setup()
    const waiting = track(caller.call('add', [1, 1], undefined, undefined))
    caller.detach(new DisconnectedError('peer-unloaded', 'x'))
    await Promise.resolve()
    expect(waiting.status).toBe('pending')
    caller.attach(send)
    caller.settle({ k: 'r', i: sent[0]!.message.i, v: 2 })
    await expect(waiting.promise).resolves.toBe(2)
  })

  it('detach sends no abort for the calls it rejects (the session is gone)', async () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    caller.detach(new DisconnectedError('peer-unloaded', 'gone'))
    await rejection(p)
    expect(sent.map((s) => s.message.k)).toEqual(['c'])
  })

  it('rejectAll rejects sent and unsent calls, clears their timers and forgets expired ids', async () => {
    const { caller, sent, send } = setup(100)
    caller.attach(send)
    const timedOut = caller.call('add', [0, 0], { timeout: 10 }, undefined)
    vi.advanceTimersByTime(10)
    await rejection(timedOut)
    const sentCall = caller.call('add', [1, 2], undefined, undefined)
    caller.detach(new DisconnectedError('peer-unloaded', 'x'))
    await rejection(sentCall)
    const unsent = caller.call('add', [3, 4], undefined, undefined)
    expect(vi.getTimerCount()).toBe(1)
    const closed = new DisconnectedError('closed', 'the connection was closed')
    caller.rejectAll(closed)
    await expect(unsent).rejects.toBe(closed)
    expect(caller.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    // The expired id is forgotten: after close, a late reply is foreign.
    expect(caller.settle({ k: 'r', i: sent[0]!.message.i, v: 0 })).toBe(false)
  })

  it('after rejectAll, new calls wait for a new session', () => {
    const { caller, sent, send } = setup()
    caller.attach(send)
    caller.rejectAll(new DisconnectedError('closed', 'x'))
    const p = track(caller.call('add', [1, 2], undefined, undefined))
    expect(sent).toEqual([])
    expect(p.status).toBe('pending')
    caller.rejectAll(new DisconnectedError('closed', 'x'))
  })

  it('remembers a bounded number of expired ids', async () => {
    const { caller, sent, send } = setup(1)
    caller.attach(send)
    const calls = Array.from({ length: 300 }, () => caller.call('add', [1, 2], undefined, undefined))
    vi.advanceTimersByTime(1)
    await Promise.allSettled(calls)
    const ids = sent.filter((s) => s.message.k === 'c').map((s) => s.message.i)
    // The oldest 44 were forgotten, the newest 256 are still expected.
    expect(caller.settle({ k: 'r', i: ids[0], v: 3 })).toBe(false)
    expect(caller.settle({ k: 'r', i: ids[43], v: 3 })).toBe(false)
    expect(caller.settle({ k: 'r', i: ids[44], v: 3 })).toBe(true)
    expect(caller.settle({ k: 'r', i: ids[299], v: 3 })).toBe(true)
  })
})

describe('Caller: limits', () => {
  it('rejects oversize arguments with LimitError before anything is sent', async () => {
    const caller = new Caller(outputs, 1000, { maxBytes: 100, maxDepth: 5 })
    const sent: unknown[] = []
    caller.attach((m) => sent.push(m))
    const big = await rejection(caller.call('greet', ['x'.repeat(101)], undefined, undefined))
    expect(big).toBeInstanceOf(LimitError)
    expect(big.message).toBe('arguments of "greet" were not sent: more than 100 bytes')
    const deep = await rejection(caller.call('anything', [{ a: { b: { c: { d: { e: 1 } } } } }], undefined, undefined))
    expect(deep.message).toContain('nesting deeper than 5 levels')
    expect(sent).toEqual([])
    expect(caller.size).toBe(0)
  })

  it('refuse() fails a pending call with the given error; for an expired id it is silent once', async () => {
    const { caller, sent, send } = setup(100)
    caller.attach(send)
    const p = caller.call('add', [1, 2], undefined, undefined)
    const refused = new LimitError('too big')
    expect(caller.refuse(sent[0]!.message.i, refused)).toBe(true)
    await expect(p).rejects.toBe(refused)
    expect(caller.refuse(sent[0]!.message.i, refused)).toBe(false)
    const late = caller.call('add', [1, 2], undefined, undefined)
    vi.advanceTimersByTime(100)
    await rejection(late)
    const lateId = sent.filter((s) => s.message.k === 'c')[1]!.message.i
    expect(caller.refuse(lateId, refused)).toBe(true)
    expect(caller.refuse(lateId, refused)).toBe(false)
    expect(caller.refuse('never-issued', refused)).toBe(false)
  })
})
