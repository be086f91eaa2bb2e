import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import * as zm from 'zod/mini'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import type { CallMessage } from '../../src/protocol/envelope.js'
import { type Handler, Responder, type ServedMethod } from '../../src/rpc/responder.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { transfer } from '../../src/rpc/transfer.js'
import { turns, until } from './helpers.js'

function served(
  input: StandardSchemaV1,
  output: StandardSchemaV1,
  handler: Handler,
  table: Record<string, ServedMethod> = Object.create(null),
  name = 'm',
) {
  table[name] = { input, output, handler }
  return table
}

function setup(
  methods: Record<string, ServedMethod>,
  options: { debug?: boolean; send?: (m: any, t?: Transferable[]) => void } = {},
) {
  const sent: Array<{ message: any; transfer: Transferable[] | undefined }> = []
  const send = vi.fn(options.send ?? ((message: any, t?: Transferable[]) => void sent.push({ message, transfer: t })))
  const responder = new Responder(methods, send, options.debug ?? false, DEFAULT_LIMITS)
  return { responder, sent, send }
}

let nextId = 0
function call(m: string, a: unknown[]): CallMessage {
  nextId += 1
  return { k: 'c', i: `id-${nextId}`, m, a }
}

const addInput = z.tuple([z.number(), z.number()])

describe('Responder: dispatch is prototype-safe', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'])(
    'never calls %s, even with a plain-object table',
    (name) => {
      const handler = vi.fn((a: number, b: number) => a + b)
      // A plain object literal inherits every Object.prototype member: still only own methods count.
      const plain: Record<string, ServedMethod> = { add: { input: addInput, output: z.number(), handler } }
      const nullProto = served(addInput, z.number(), handler, Object.create(null), 'add')
      for (const table of [plain, nullProto]) {
        const { responder, sent } = setup(table)
        expect(responder.handle(call(name, []))).toBe(false)
        expect(sent).toEqual([])
      }
      expect(handler).not.toHaveBeenCalled()
      expect(Object.prototype).not.toHaveProperty('polluted')
    },
  )

  it('returns false for a method it does not serve', () => {
    const { responder } = setup(served(addInput, z.number(), () => 1, Object.create(null), 'add'))
    expect(responder.handle(call('sub', [1, 2]))).toBe(false)
  })
})

describe('Responder: validation', () => {
  it('runs the handler with the validated (parsed) arguments and a context, and replies with the result', () => {
    const handler = vi.fn((a: number, b: number, _ctx: { signal: AbortSignal }) => a + b)
    const input = z.tuple([z.coerce.number(), z.number().default(10)])
    const { responder, sent } = setup(served(input, z.number(), handler))
    const message = call('m', ['5', undefined])
    expect(responder.handle(message)).toBe(true)
    expect(handler).toHaveBeenCalledTimes(1)
    const [a, b, ctx] = handler.mock.calls[0]!
    expect([a, b]).toEqual([5, 10])
    expect(ctx.signal).toBeInstanceOf(AbortSignal)
    expect(ctx.signal.aborted).toBe(false)
    expect(sent).toEqual([{ message: { k: 'r', i: message.i, v: 15 }, transfer: undefined }])
  })

  it('refuses invalid arguments before the handler runs, with the issues', () => {
    const handler = vi.fn(() => 0)
    const { responder, sent } = setup(served(z.tuple([z.object({ id: z.string() })]), z.number(), handler))
    const message = call('m', [{ id: 42 }])
    responder.handle(message)
    expect(handler).not.toHaveBeenCalled()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.message).toMatchObject({
      k: 'e',
      i: message.i,
      e: {
        n: 'ValidationError',
        c: 'VALIDATION',
        t: 'arguments',
        i: [{ path: [0, 'id'], message: expect.any(String) }],
      },
    })
  })

  it('refuses the wrong number of arguments', () => {
    const handler = vi.fn(() => 0)
    const { responder, sent } = setup(served(addInput, z.number(), handler))
    responder.handle(call('m', [1]))
    responder.handle(call('m', [1, 2, 3]))
    expect(handler).not.toHaveBeenCalled()
    expect(sent.map((s) => s.message.e.c)).toEqual(['VALIDATION', 'VALIDATION'])
  })

  it('refuses a result that breaks the contract, and sends none of it', () => {
    const { responder, sent } = setup(served(addInput, z.number(), () => 'not a number'))
    const message = call('m', [1, 2])
    responder.handle(message)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.message).toMatchObject({ k: 'e', i: message.i, e: { c: 'VALIDATION', t: 'result' } })
    expect(JSON.stringify(sent[0]!.message)).not.toContain('not a number')
  })

  it('sends the parsed result, so fields the output schema strips never leave the window', () => {
    const user = z.object({ name: z.string() })
    const { responder, sent } = setup(served(z.tuple([]), user, () => ({ name: 'ada', passwordHash: 'secret' })))
    responder.handle(call('m', []))
    expect(sent[0]!.message.v).toEqual({ name: 'ada' })
  })

  it('supports asynchronous argument and result schemas', async () => {
    const input = z.tuple([z.number().refine(async (n) => n > 0, 'positive please')])
    const output = z.string().refine(async (s) => s.length > 0, 'non-empty please')
    const handler = vi.fn((n: number) => (n > 5 ? '' : 'ok'))
    const { responder, sent } = setup(served(input, output, handler))
    responder.handle(call('m', [-1]))
    responder.handle(call('m', [1]))
    responder.handle(call('m', [9]))
    expect(handler).not.toHaveBeenCalled()
    await until(() => sent.length === 3)
    expect(handler).toHaveBeenCalledTimes(2)
    const byArg = sent.map((s) => s.message)
    expect(byArg.find((m) => m.k === 'r')).toMatchObject({ v: 'ok' })
    const errors = byArg.filter((m) => m.k === 'e').map((m) => [m.e.t, m.e.i[0].message])
    expect(errors).toEqual(
      expect.arrayContaining([
        ['arguments', 'positive please'],
        ['result', 'non-empty please'],
      ]),
    )
  })

  it('answers with a ValidationError when an asynchronous schema itself rejects', async () => {
    const throwing: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: () => Promise.reject(new Error('schema crashed')) },
    }
    const handler = vi.fn(() => 1)
    const { responder, sent } = setup(served(throwing, z.number(), handler))
    responder.handle(call('m', []))
    await until(() => sent.length === 1)
    expect(handler).not.toHaveBeenCalled()
    const crashed = { i: [{ message: 'the schema threw: schema crashed', path: [] }] }
    expect(sent[0]!.message.e).toMatchObject({ n: 'ValidationError', c: 'VALIDATION', t: 'arguments', ...crashed })
    const r2 = setup(served(z.tuple([]), throwing, () => 1))
    r2.responder.handle(call('m', []))
    await until(() => r2.sent.length === 1)
    expect(r2.sent[0]!.message.e).toMatchObject({ n: 'ValidationError', t: 'result', ...crashed })
  })
})

describe('Responder: handlers', () => {
  it('awaits a promise and replies with its value', async () => {
    const { responder, sent } = setup(served(addInput, z.number(), async (a: number, b: number) => a * b))
    responder.handle(call('m', [3, 4]))
    expect(sent).toEqual([])
    await until(() => sent.length === 1)
    expect(sent[0]!.message.v).toBe(12)
  })

  it('awaits a non-native thenable', async () => {
    // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is the point of the test
    const thenable = { then: (resolve: (v: number) => void) => resolve(7) }
    const { responder, sent } = setup(served(z.tuple([]), z.number(), () => thenable))
    responder.handle(call('m', []))
    await until(() => sent.length === 1)
    expect(sent[0]!.message).toMatchObject({ k: 'r', v: 7 })
  })

  it('answers a synchronous throw and a rejection with the encoded error', async () => {
    const { responder, sent } = setup(
      served(z.tuple([z.boolean()]), z.number(), (sync: boolean) => {
        const error = Object.assign(new RangeError('too far'), { limit: 3 })
        if (sync) throw error
        return Promise.reject(error)
      }),
    )
    responder.handle(call('m', [true]))
    responder.handle(call('m', [false]))
    await until(() => sent.length === 2)
    for (const { message } of sent) expect(message.e).toEqual({ n: 'RangeError', m: 'too far', d: { limit: 3 } })
  })

  it('sends the stack only with debug', () => {
    const boom = () => {
      throw new Error('boom')
    }
    const quiet = setup(served(z.tuple([]), z.number(), boom))
    quiet.responder.handle(call('m', []))
    expect(quiet.sent[0]!.message.e.s).toBeUndefined()
    const loud = setup(served(z.tuple([]), z.number(), boom), { debug: true })
    loud.responder.handle(call('m', []))
    expect(loud.sent[0]!.message.e.s).toContain('boom')
  })

  it('fires the handler signal when the caller aborts, and sends nothing afterwards', async () => {
    let signal: AbortSignal | undefined
    let finish!: (v: number) => void
    const { responder, sent } = setup(
      served(z.tuple([]), z.number(), (ctx: { signal: AbortSignal }) => {
        signal = ctx.signal
        return new Promise<number>((resolve) => {
          finish = resolve
        })
      }),
    )
    const message = call('m', [])
    responder.handle(message)
    const onAbort = vi.fn()
    signal!.addEventListener('abort', onAbort)
    responder.abort(message.i)
    expect(onAbort).toHaveBeenCalledTimes(1)
    expect(signal!.aborted).toBe(true)
    expect(signal!.reason).toBeInstanceOf(DOMException)
    expect((signal!.reason as DOMException).name).toBe('AbortError')
    finish(1)
    await turns(3)
    expect(sent).toEqual([])
    // Aborting again, or an unknown id, is a no-op.
    responder.abort(message.i)
    responder.abort('unknown')
    expect(onAbort).toHaveBeenCalledTimes(1)
  })

  it('a rejection after an abort is not sent either', async () => {
    let reject!: (e: Error) => void
    const { responder, sent } = setup(served(z.tuple([]), z.number(), () => new Promise((_, r) => (reject = r))))
    const message = call('m', [])
    responder.handle(message)
    responder.abort(message.i)
    reject(new Error('too late'))
    await turns(3)
    expect(sent).toEqual([])
  })

  it('dispose fires every running handler signal', () => {
    const signals: AbortSignal[] = []
    const { responder } = setup(
      served(z.tuple([]), z.number(), (ctx: { signal: AbortSignal }) => {
        signals.push(ctx.signal)
        return new Promise(() => {})
      }),
    )
    responder.handle(call('m', []))
    responder.handle(call('m', []))
    responder.dispose()
    expect(signals.map((s) => s.aborted)).toEqual([true, true])
  })

  it('transfers what the result marks with transfer()', () => {
    const buffer = new ArrayBuffer(8)
    const { responder, sent } = setup(
      served(z.tuple([]), z.object({ buffer: z.instanceof(ArrayBuffer) }), () => transfer({ buffer }, [buffer])),
    )
    responder.handle(call('m', []))
    expect(sent[0]!.transfer).toEqual([buffer])
  })

  it('answers with the clone error when the result cannot be sent', () => {
    const { port1, port2 } = new MessageChannel()
    const sends: any[] = []
    const { responder } = setup(
      served(z.tuple([]), z.unknown(), () => ({ fn: () => 1 })),
      {
        send: (message) => {
          sends.push(message)
          port1.postMessage(message) // Node's real structured clone: throws DataCloneError on a function
        },
      },
    )
    const message = call('m', [])
    responder.handle(message)
    port1.close()
    port2.close()
    expect(sends).toHaveLength(2)
    expect(sends[1]).toEqual({
      k: 'e',
      i: message.i,
      e: { n: 'DataCloneError', m: expect.stringContaining('could not be cloned') },
    })
  })

  it('refuses to send a result over the size limit', () => {
    const sent: any[] = []
    const table = served(z.tuple([]), z.string(), () => 'x'.repeat(200))
    const responder = new Responder(table, (m) => sent.push(m), false, { maxBytes: 100, maxDepth: 10 })
    responder.handle(call('m', []))
    expect(sent[0]).toMatchObject({ k: 'e', e: { c: 'LIMIT', m: expect.stringContaining('more than 100 bytes') } })
  })

  it("refuses to send a handler's error over the size limit, and says so instead", () => {
    const sent: any[] = []
    const table = served(z.tuple([]), z.string(), () => {
      throw Object.assign(new Error('boom'), { blob: 'x'.repeat(200) })
    })
    const responder = new Responder(table, (m) => sent.push(m), false, { maxBytes: 100, maxDepth: 10 })
    responder.handle(call('m', []))
    expect(sent).toEqual([
      {
        k: 'e',
        i: expect.any(String),
        e: { n: 'LimitError', c: 'LIMIT', m: "the handler's error was not sent: more than 100 bytes" },
      },
    ])
  })
})

describe('Responder: the context comes after every declared argument', () => {
  it.each([
    ['zod', z.tuple([z.string(), z.number().optional()])],
    ['zod/mini', zm.tuple([zm.string(), zm.optional(zm.number())])],
    ['zod, readonly', z.tuple([z.string(), z.number().optional()]).readonly()],
  ])('an omitted optional argument arrives as undefined (%s)', async (_, input) => {
    const seen: unknown[][] = []
    const handler = vi.fn((...args: unknown[]) => {
      seen.push(args)
      return 'ok'
    })
    const { responder, sent } = setup(served(input as StandardSchemaV1, z.string(), handler))
    responder.handle(call('m', ['a']))
    responder.handle(call('m', ['a', 2]))
    await until(() => sent.length === 2)
    expect(seen.map((args) => args.length)).toEqual([3, 3])
    expect(seen[0]!.slice(0, 2)).toEqual(['a', undefined])
    expect(seen[1]!.slice(0, 2)).toEqual(['a', 2])
    for (const args of seen) expect(args[2]).toHaveProperty('signal')
  })

  it('a rest element keeps the context last, whatever the count', async () => {
    const seen: unknown[][] = []
    const { responder, sent } = setup(
      served(z.tuple([z.string()]).rest(z.number()), z.string(), (...args: unknown[]) => {
        seen.push(args)
        return 'ok'
      }),
    )
    responder.handle(call('m', ['a', 1, 2]))
    await until(() => sent.length === 1)
    expect(seen[0]!.slice(0, 3)).toEqual(['a', 1, 2])
    expect(seen[0]![3]).toHaveProperty('signal')
  })
})

describe('Responder: an id reused after an abort', () => {
  it("the first handler's late answer neither answers nor ends the second call", async () => {
    const resolvers: Array<(v: string) => void> = []
    const signals: AbortSignal[] = []
    const { responder, sent } = setup(
      served(z.tuple([]), z.string(), (ctx: { signal: AbortSignal }) => {
        signals.push(ctx.signal)
        return new Promise<string>((resolve) => resolvers.push(resolve))
      }),
    )
    const first: CallMessage = { k: 'c', i: 'X', m: 'm', a: [] }
    responder.handle(first)
    await until(() => resolvers.length === 1)
    responder.abort('X')
    responder.handle({ ...first })
    await until(() => resolvers.length === 2)
    resolvers[0]!('from the first call')
    await turns(3)
    expect(sent).toEqual([])
    responder.dispose()
    expect(signals.map((s) => s.aborted)).toEqual([true, true])
    resolvers[1]!('from the second call')
    await turns(3)
    expect(sent).toEqual([])
  })
})
