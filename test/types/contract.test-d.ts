import { assertType, describe, expectTypeOf, it } from 'vitest'
import * as z from 'zod'
import {
  type CallContext,
  type Connection,
  type ConnectionState,
  connect,
  defineContract,
  type HandlerOf,
  type Handlers,
  type MethodArgs,
  type MethodResult,
  type RemoteProxy,
  type StandardSchemaV1,
  transfer,
} from '../../src/index.js'

const User = z.object({ id: z.string(), name: z.string() })

const childApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    getUser: { input: z.tuple([z.object({ id: z.string() })]), output: User },
    optional: { input: z.tuple([z.string(), z.number().optional()]), output: z.void() },
    // An output transform must accept its own output: results are checked on both sides.
    parse: {
      input: z.tuple([z.string().transform((s) => s.length)]),
      output: z.union([z.string(), z.number()]).transform((v) => Number(v)),
    },
    none: { input: z.tuple([]), output: z.array(z.string()) },
  },
  events: { resized: z.object({ height: z.number() }), closed: z.null() },
})

const parentApi = defineContract({
  methods: { greet: { input: z.tuple([z.string()]), output: z.string() } },
  events: { ping: z.object({ n: z.number() }) },
})

type Child = RemoteProxy<typeof childApi>
declare const child: Child

describe('the remote proxy inferred from a zod contract', () => {
  it('takes the tuple as positional arguments and returns a promise of the output', () => {
    expectTypeOf(child.add).parameters.toEqualTypeOf<[number, number]>()
    expectTypeOf(child.add).returns.toEqualTypeOf<Promise<number>>()
    expectTypeOf(child.getUser).parameters.toEqualTypeOf<[{ id: string }]>()
    expectTypeOf(child.getUser).returns.resolves.toEqualTypeOf<{ id: string; name: string }>()
    expectTypeOf(child.none).parameters.toEqualTypeOf<[]>()
    expectTypeOf(child.none).returns.resolves.toEqualTypeOf<string[]>()
    expectTypeOf(child.optional).toBeCallableWith('a')
    expectTypeOf(child.optional).toBeCallableWith('a', 1)
    expectTypeOf(child.optional).returns.resolves.toEqualTypeOf<void>()
  })

  it('uses the schema input for arguments and the schema output for the result', () => {
    expectTypeOf(child.parse).parameters.toEqualTypeOf<[string]>()
    expectTypeOf(child.parse).returns.resolves.toEqualTypeOf<number>()
    expectTypeOf<MethodArgs<(typeof childApi.methods)['parse']>>().toEqualTypeOf<[string]>()
    expectTypeOf<MethodResult<(typeof childApi.methods)['parse']>>().toEqualTypeOf<number>()
  })

  it('has exactly the declared methods', () => {
    expectTypeOf<keyof Child>().toEqualTypeOf<'add' | 'getUser' | 'optional' | 'parse' | 'none'>()
  })

  it('makes a misspelt method a compile error', () => {
    // @ts-expect-error: no method 'ad'
    void child.ad(1, 2)
    // @ts-expect-error: greet is a method of the parent's contract, not the child's
    void child.greet('x')
  })

  it('makes a wrong argument a compile error', () => {
    // @ts-expect-error: the second argument is a number
    void child.add(1, '2')
    // @ts-expect-error: two arguments are required
    void child.add(1)
    // @ts-expect-error: no third argument
    void child.add(1, 2, 3)
    // @ts-expect-error: id is a string
    void child.getUser({ id: 1 })
    // @ts-expect-error: the result is a number, not a string
    const s: Promise<string> = child.add(1, 2)
    void s
  })

  it('.with(options) keeps the signature', () => {
    const withOptions = child.add.with({ timeout: 500, signal: new AbortController().signal })
    expectTypeOf(withOptions).parameters.toEqualTypeOf<[number, number]>()
    expectTypeOf(withOptions).returns.toEqualTypeOf<Promise<number>>()
    expectTypeOf(child.add.with).parameter(0).toHaveProperty('timeout').toEqualTypeOf<number | undefined>()
    expectTypeOf(child.add.with).parameter(0).toHaveProperty('signal').toEqualTypeOf<AbortSignal | undefined>()
    // @ts-expect-error: still two numbers
    void child.add.with({})('1', 2)
    // @ts-expect-error: unknown option
    void child.add.with({ retries: 3 })
  })
})

describe('handlers', () => {
  it('receive the validated arguments, then the call context', () => {
    type AddHandler = HandlerOf<(typeof childApi.methods)['add']>
    expectTypeOf<AddHandler>().parameters.toEqualTypeOf<[number, number, CallContext]>()
    expectTypeOf<CallContext>().toEqualTypeOf<{ readonly signal: AbortSignal }>()
    type ParseHandler = HandlerOf<(typeof childApi.methods)['parse']>
    // The handler sees the parsed argument (a number) and returns the output schema's input.
    expectTypeOf<ParseHandler>().parameters.toEqualTypeOf<[number, CallContext]>()
    expectTypeOf<ParseHandler>().returns.toEqualTypeOf<string | number | PromiseLike<string | number>>()
  })

  it('are checked in connect(): every method, the right arguments, the right result', () => {
    const target = {} as Window
    connect({
      target,
      allowedOrigins: ['https://parent.example'],
      remote: parentApi,
      local: {
        contract: childApi,
        handlers: {
          add: (a, b, { signal }) => {
            expectTypeOf(a).toEqualTypeOf<number>()
            expectTypeOf(signal).toEqualTypeOf<AbortSignal>()
            return a + b
          },
          getUser: async ({ id }) => ({ id, name: 'ada' }),
          optional: (s, n) => {
            expectTypeOf(s).toEqualTypeOf<string>()
            expectTypeOf(n).toEqualTypeOf<number | undefined>()
          },
          parse: (n) => String(n),
          none: () => [],
        },
      },
    })
    const handlers: Handlers<typeof parentApi> = { greet: (name) => `hi ${name}` }
    void handlers
    // @ts-expect-error: greet must return a string
    const wrongResult: Handlers<typeof parentApi> = { greet: () => 42 }
    // @ts-expect-error: greet must return a string, also when async
    const wrongAsync: Handlers<typeof parentApi> = { greet: async () => 42 }
    // @ts-expect-error: greet is missing
    const missing: Handlers<typeof parentApi> = {}
    // @ts-expect-error: name is a string, not a number
    const wrongArg: Handlers<typeof parentApi> = { greet: (name: number) => String(name) }
    void [wrongResult, wrongAsync, missing, wrongArg]
  })
})

declare const conn: Connection<typeof childApi, typeof parentApi>

describe('connections', () => {
  it('ready resolves to the typed proxy, and remote is the same proxy', () => {
    expectTypeOf(conn.ready).resolves.toEqualTypeOf<Child>()
    expectTypeOf(conn.remote).toEqualTypeOf<Child>()
    expectTypeOf(conn.state).toEqualTypeOf<ConnectionState>()
    expectTypeOf<ConnectionState>().toEqualTypeOf<'connecting' | 'open' | 'reconnecting' | 'closed'>()
  })

  it('on() takes the remote contract’s events, with their payloads', () => {
    conn.on('resized', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<{ height: number }>()
    })
    conn.on('closed', (payload) => expectTypeOf(payload).toEqualTypeOf<null>())
    expectTypeOf(conn.on('resized', () => {})).toEqualTypeOf<() => void>()
    // @ts-expect-error: ping is one of our own events, not the peer's
    conn.on('ping', () => {})
    // @ts-expect-error: no such event
    conn.on('resize', () => {})
  })

  it('emit() takes this side’s events, with their payloads', () => {
    conn.emit('ping', { n: 1 })
    // @ts-expect-error: resized is the peer's event
    conn.emit('resized', { height: 1 })
    // @ts-expect-error: n is a number
    conn.emit('ping', { n: '1' })
    // @ts-expect-error: the payload is required
    conn.emit('ping')
  })

  it('connect() infers the connection type from its options', () => {
    const inferred = connect({ target: {} as Window, allowedOrigins: ['https://a.example'], remote: childApi })
    expectTypeOf(inferred.remote.add).returns.resolves.toEqualTypeOf<number>()
    // With no local contract there is nothing to emit.
    // @ts-expect-error: no events of our own
    inferred.emit('ping', { n: 1 })
  })

  it('without a remote contract there is nothing to call', () => {
    const bare = connect({ target: {} as Window, allowedOrigins: ['https://a.example'] })
    expectTypeOf<keyof typeof bare.remote>().toEqualTypeOf<never>()
  })
})

describe('a non-zod Standard Schema v1', () => {
  function schema<T>(check: (value: unknown) => value is T): StandardSchemaV1<T> {
    return {
      '~standard': {
        version: 1,
        vendor: 'handmade',
        validate: (value) => (check(value) ? { value } : { issues: [{ message: 'invalid' }] }),
      },
    }
  }
  const isPair = (v: unknown): v is [string, boolean] => Array.isArray(v) && v.length === 2
  const isCount = (v: unknown): v is number => typeof v === 'number'
  const api = defineContract({
    methods: { count: { input: schema(isPair), output: schema(isCount) } },
    events: { tick: schema(isCount) },
  })

  it('types the proxy, the handlers and the events like zod does', () => {
    const remote = {} as RemoteProxy<typeof api>
    expectTypeOf(remote.count).parameters.toEqualTypeOf<[string, boolean]>()
    expectTypeOf(remote.count).returns.resolves.toEqualTypeOf<number>()
    expectTypeOf<HandlerOf<(typeof api.methods)['count']>>().parameters.toEqualTypeOf<[string, boolean, CallContext]>()
    const c = {} as Connection<typeof api, typeof api>
    c.on('tick', (n) => expectTypeOf(n).toEqualTypeOf<number>())
    c.emit('tick', 1)
    // @ts-expect-error: tick carries a number
    c.emit('tick', 'one')
  })

  it('refuses an output schema that would refuse its own output (checked on both sides, it fails every call)', () => {
    defineContract({
      methods: {
        // @ts-expect-error: a string in, a number out, and the caller checks the number as a string
        len: { input: z.tuple([]), output: z.string().transform((s) => s.length) },
      },
    })
    defineContract({ methods: { trim: { input: z.tuple([]), output: z.string().transform((s) => s.trim()) } } })
  })

  it('types an omitted optional argument as undefined, with the context after it, as at runtime', () => {
    const api = defineContract({
      methods: { opt: { input: z.tuple([z.string(), z.number().optional()]), output: z.string() } },
    })
    type H = Handlers<typeof api>['opt']
    expectTypeOf<H>().parameters.toEqualTypeOf<[string, number | undefined, CallContext]>()
  })

  it('lets a handler end without return when the result schema accepts undefined', () => {
    const api = defineContract({
      methods: {
        maybe: { input: z.tuple([]), output: z.string().optional() },
        nothing: { input: z.tuple([]), output: z.undefined() },
        text: { input: z.tuple([]), output: z.string() },
      },
    })
    const handlers: Handlers<typeof api> = {
      maybe: () => {},
      nothing: async () => {},
      // @ts-expect-error: a string is required
      text: () => {},
    }
    void handlers
  })

  it('makes the payload of a z.void() event optional in emit()', () => {
    const api = defineContract({ events: { ready: z.void(), tick: z.number() } })
    const c = connect({
      target: {} as Window,
      allowedOrigins: ['https://a.example'],
      local: { contract: api, handlers: {} },
    })
    c.emit('ready')
    c.emit('ready', undefined)
    // @ts-expect-error: tick needs its number
    c.emit('tick')
  })

  it('refuses to mark a primitive for transfer', () => {
    const buffer = new ArrayBuffer(1)
    expectTypeOf(transfer(buffer, [buffer])).toEqualTypeOf<ArrayBuffer>()
    // @ts-expect-error: transfer() marks objects
    transfer('x', [])
  })

  it('refuses, at compile time, the names defineContract refuses at runtime', () => {
    // @ts-expect-error: not an identifier
    defineContract({ events: { 'cart-changed': z.void() } })
    // @ts-expect-error: not an identifier
    defineContract({ events: { 'cart:changed': z.void() } })
    // biome-ignore lint/suspicious/noThenProperty: the name under test
    const methods = { then: { input: z.tuple([]), output: z.void() } }
    // @ts-expect-error: reserved
    defineContract({ methods })
    defineContract({ events: { cartChanged: z.void(), $ready: z.void(), _x1: z.void() } })
  })

  it('refuses something that is not a schema', () => {
    // @ts-expect-error: output is not a Standard Schema
    defineContract({ methods: { m: { input: z.tuple([]), output: { parse: () => 1 } } } })
    // @ts-expect-error: input must be a tuple (array) schema
    defineContract({ methods: { m: { input: z.string(), output: z.string() } } })
  })
})

assertType<Promise<number>>(child.add(1, 2))
