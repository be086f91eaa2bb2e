import { describe, expectTypeOf, it } from 'vitest'
import * as z from 'zod'
import * as zm from 'zod/mini'
import {
  type CallContext,
  type CallOptions,
  type Connection,
  connect,
  defineContract,
  type EmptyContract,
  type Handlers,
  type MethodArgs,
  type RemoteProxy,
  type StandardSchemaV1,
} from '../../src/index.js'

// Findings: each of these failed to type-check before its fix.

describe('a Standard Schema v1 without the optional `types`', () => {
  // The spec makes `types` optional: a hand-written schema may carry only `validate`.
  const anyArgs = {
    '~standard': {
      version: 1 as const,
      vendor: 'handmade',
      validate: (value: unknown) =>
        Array.isArray(value) ? { value: value as unknown[] } : { issues: [{ message: 'not a list' }] },
    },
  }
  const api = defineContract({ methods: { log: { input: anyArgs, output: z.void() } } })

  it('takes any arguments (its validate says what it accepts), not none', () => {
    expectTypeOf<MethodArgs<(typeof api.methods)['log']>>().toEqualTypeOf<unknown[]>()
    const remote = {} as RemoteProxy<typeof api>
    void remote.log('a', 1)
    void remote.log()
    const handlers: Handlers<typeof api> = { log: (...args) => void args }
    expectTypeOf<Handlers<typeof api>['log']>().parameters.toEqualTypeOf<[...unknown[], CallContext]>()
    void handlers
  })
})

// Coverage: these held before; they pin down inference for unusual contracts
// (test/unit/edge-contracts.test.ts checks the same contracts at runtime).

const api = defineContract({
  methods: {
    parse: { input: z.tuple([z.string().transform(Number)]), output: z.number().default(1) },
    coerce: { input: z.tuple([z.coerce.number()]), output: z.number() },
    defaulted: { input: z.tuple([z.string(), z.number().default(5)]), output: z.string() },
    optional: { input: z.tuple([z.string(), z.optional(z.number())]), output: z.string() },
    mini: {
      input: zm.tuple([zm.string(), zm.optional(zm.number())]),
      output: zm.pipe(
        zm.string(),
        zm.transform((s) => s.trim()),
      ),
    },
    rest: { input: z.tuple([z.string()], z.number()), output: z.void() },
    restOptional: { input: z.tuple([z.string(), z.number().optional()], z.boolean()), output: z.undefined() },
    none: { input: z.tuple([]), output: z.void() },
  },
  events: {
    parsed: z.string().transform(Number),
    defaulted: z.number().default(3),
    nothing: z.undefined(),
    done: z.void(),
  },
})
type Api = typeof api
type H = Handlers<Api>
declare const remote: RemoteProxy<Api>

describe('input ≠ output: callers pass the input type, handlers get the output type', () => {
  it('arguments: the caller passes the schema input, the handler receives its output', () => {
    expectTypeOf(remote.parse).parameters.toEqualTypeOf<[string]>()
    expectTypeOf<H['parse']>().parameters.toEqualTypeOf<[number, CallContext]>()
    expectTypeOf(remote.coerce).parameters.toEqualTypeOf<[unknown]>()
    expectTypeOf<H['coerce']>().parameters.toEqualTypeOf<[number, CallContext]>()
    expectTypeOf(remote.defaulted).parameters.toEqualTypeOf<[string, (number | undefined)?]>()
    // The default fills the gap, so the handler's number is never undefined.
    expectTypeOf<H['defaulted']>().parameters.toEqualTypeOf<[string, number, CallContext]>()
  })

  it('results: the handler may return the schema input, the caller gets its output', () => {
    expectTypeOf(remote.parse).returns.resolves.toEqualTypeOf<number>()
    // z.number().default(1): a handler may end without a value, the caller still gets a number.
    const handlers: Pick<H, 'parse'> = { parse: () => {} }
    void handlers
    expectTypeOf(remote.mini).returns.resolves.toEqualTypeOf<string>()
  })

  it('events: emit takes the schema input, listeners get its output', () => {
    const conn = {} as Connection<Api, Api>
    conn.emit('parsed', '12')
    // @ts-expect-error: the emitter passes the input, a string
    conn.emit('parsed', 12)
    conn.on('parsed', (n) => expectTypeOf(n).toEqualTypeOf<number>())
    conn.emit('defaulted')
    conn.on('defaulted', (n) => expectTypeOf(n).toEqualTypeOf<number>())
    conn.emit('nothing')
    conn.on('nothing', (u) => expectTypeOf(u).toEqualTypeOf<undefined>())
    conn.emit('done')
    conn.on('done', (v) => expectTypeOf(v).toEqualTypeOf<void>())
    // @ts-expect-error: z.undefined() takes nothing else
    conn.emit('nothing', 1)
  })
})

describe('arities: optional, rest, none', () => {
  it('optional trailing arguments: optional for the caller, number | undefined before the context', () => {
    expectTypeOf(remote.optional).parameters.toEqualTypeOf<[string, (number | undefined)?]>()
    expectTypeOf<H['optional']>().parameters.toEqualTypeOf<[string, number | undefined, CallContext]>()
    expectTypeOf(remote.mini).parameters.toEqualTypeOf<[string, (number | undefined)?]>()
    expectTypeOf<H['mini']>().parameters.toEqualTypeOf<[string, number | undefined, CallContext]>()
    const piped = defineContract({
      methods: {
        at: {
          input: z
            .tuple([z.string(), z.string().optional()])
            .pipe(z.tuple([z.string(), z.string().transform(Number).optional()])),
          output: z.void(),
        },
      },
    })
    expectTypeOf<RemoteProxy<typeof piped>['at']>().parameters.toEqualTypeOf<[string, (string | undefined)?]>()
    expectTypeOf<Handlers<typeof piped>['at']>().parameters.toEqualTypeOf<[string, number | undefined, CallContext]>()
  })

  it('a rest element: the context is after the last rest argument', () => {
    expectTypeOf(remote.rest).parameters.toEqualTypeOf<[string, ...number[]]>()
    expectTypeOf<H['rest']>().parameters.toEqualTypeOf<[string, ...number[], CallContext]>()
    expectTypeOf(remote.restOptional).parameters.toEqualTypeOf<[string, (number | undefined)?, ...boolean[]]>()
    expectTypeOf<H['restOptional']>().parameters.toEqualTypeOf<
      [string, number | undefined, ...boolean[], CallContext]
    >()
    // @ts-expect-error: rest arguments are numbers
    void remote.rest('a', 'b')
  })

  it('no arguments: the handler gets only the context; void and undefined results', () => {
    expectTypeOf(remote.none).parameters.toEqualTypeOf<[]>()
    expectTypeOf(remote.none).returns.resolves.toEqualTypeOf<void>()
    expectTypeOf(remote.restOptional).returns.resolves.toEqualTypeOf<undefined>()
    expectTypeOf<H['none']>().parameters.toEqualTypeOf<[CallContext]>()
    // @ts-expect-error: no arguments
    void remote.none(1)
  })

  it('a void or undefined result refuses a handler that returns a value', () => {
    const log: number[] = []
    const handlers: Pick<H, 'none' | 'restOptional'> = {
      // @ts-expect-error: push returns a number; z.void() refuses it at runtime
      none: () => log.push(1),
      // @ts-expect-error: the same, async
      restOptional: async () => log.push(1),
    }
    void handlers
  })
})

describe('a hand-written Standard Schema v1 with types and a transform', () => {
  function handmade<I, O>(parse: (value: unknown) => { value: O } | undefined): StandardSchemaV1<I, O> {
    return {
      '~standard': {
        version: 1,
        vendor: 'handmade',
        validate: (value) => parse(value) ?? { issues: [{ message: 'invalid' }] },
      },
    }
  }
  const api = defineContract({
    methods: {
      len: {
        input: handmade<[string], [number]>((v) =>
          Array.isArray(v) && typeof v[0] === 'string' ? { value: [v[0].length] } : undefined,
        ),
        output: handmade<number | string, number>((v) =>
          typeof v === 'number' || typeof v === 'string' ? { value: Number(v) } : undefined,
        ),
      },
    },
  })

  it('the caller passes the input, the handler gets the output and may return the result input', () => {
    const remote = {} as RemoteProxy<typeof api>
    expectTypeOf(remote.len).parameters.toEqualTypeOf<[string]>()
    expectTypeOf(remote.len).returns.resolves.toEqualTypeOf<number>()
    expectTypeOf<Handlers<typeof api>['len']>().parameters.toEqualTypeOf<[number, CallContext]>()
    expectTypeOf<Handlers<typeof api>['len']>().returns.toEqualTypeOf<string | number | PromiseLike<string | number>>()
  })
})

describe('.with(options)', () => {
  it('takes timeout, signal and transfer, and keeps the call signature', () => {
    const buffer = new ArrayBuffer(8)
    const call = remote.optional.with({ timeout: 500, signal: AbortSignal.timeout(1), transfer: [buffer] })
    expectTypeOf(call).parameters.toEqualTypeOf<[string, (number | undefined)?]>()
    expectTypeOf(call).returns.resolves.toEqualTypeOf<string>()
    expectTypeOf(remote.none.with({})).returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf(remote.parse.with).parameter(0).toEqualTypeOf<CallOptions>()
  })
})

describe('Connection<R, L> with only one side given', () => {
  const events = defineContract({ events: { tick: z.number() } })

  it('only remote: calls and listens, emits nothing', () => {
    const conn = connect({ target: new MessageChannel().port1, remote: api })
    expectTypeOf(conn).toEqualTypeOf<Connection<Api, EmptyContract>>()
    conn.on('parsed', (n) => expectTypeOf(n).toEqualTypeOf<number>())
    // @ts-expect-error: the local contract is empty
    conn.emit('parsed', '1')
    // @ts-expect-error: no such event
    conn.on('tick', () => {})
  })

  it('only local: emits, calls and listens to nothing', () => {
    const conn = connect({ target: new MessageChannel().port1, local: { contract: events, handlers: {} } })
    expectTypeOf(conn).toEqualTypeOf<Connection<EmptyContract, typeof events>>()
    expectTypeOf<keyof typeof conn.remote>().toEqualTypeOf<never>()
    conn.emit('tick', 1)
    // @ts-expect-error: the remote contract is empty
    conn.on('tick', () => {})
    // @ts-expect-error: not even Object.prototype names are events
    conn.on('toString', () => {})
  })
})

describe('reserved names', () => {
  it('constructor, prototype and __proto__ are compile errors, as they are runtime errors', () => {
    // @ts-expect-error: reserved
    defineContract({ methods: { constructor: { input: z.tuple([]), output: z.void() } } })
    // @ts-expect-error: reserved
    defineContract({ events: { prototype: z.void() } })
    // @ts-expect-error: reserved (in a literal, __proto__ would set the prototype and declare nothing)
    defineContract({ events: { __proto__: z.void() } })
  })
})
