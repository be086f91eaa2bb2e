import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import * as zm from 'zod/mini'
import {
  AbortError,
  type Connection,
  type Contract,
  connect,
  defineContract,
  type EmptyContract,
  type Handlers,
  type StandardSchemaV1,
  TimeoutError,
} from '../../src/index.js'
import { until } from './helpers.js'

// Unusual contracts end to end, over a MessageChannel: the runtime does what
// the types (test/types/edge-contracts.test-d.ts) say.

const open: Array<Connection<any, any>> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const conn of open.splice(0)) conn.close()
  for (const port of ports.splice(0)) port.close()
})

/** A caller of `contract` and a side serving it with `handlers`. */
function serve<C extends Contract>(contract: C, handlers: Handlers<C>) {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  const caller = connect({ target: port1, remote: contract })
  const server = connect({ target: port2, local: { contract, handlers } })
  open.push(caller, server)
  return { caller: caller as Connection<C, EmptyContract>, server: server as Connection<EmptyContract, C> }
}

/** What a handler was called with, its context replaced by 'ctx' so it compares. */
function record(log: unknown[][]) {
  return (...args: unknown[]): void => {
    log.push(args.map((arg) => (typeof arg === 'object' && arg !== null && 'signal' in arg ? 'ctx' : arg)))
  }
}

describe('arguments: the handler gets them, then its context, where the types put it', () => {
  it('an omitted optional argument before a rest element arrives as undefined', async () => {
    const api = defineContract({
      methods: {
        tag: { input: z.tuple([z.string(), z.number().optional()], z.boolean()), output: z.void() },
      },
    })
    const log: unknown[][] = []
    // Typed [string, number | undefined, ...boolean[], CallContext].
    const { caller } = serve(api, { tag: (...args) => record(log)(...args) })
    const remote = await caller.ready
    await remote.tag('a')
    await remote.tag('a', 1)
    await remote.tag('a', 1, true, false)
    expect(log).toEqual([
      ['a', undefined, 'ctx'],
      ['a', 1, 'ctx'],
      ['a', 1, true, false, 'ctx'],
    ])
  })
})

describe('arguments through a .pipe() into a zod tuple', () => {
  it('an omitted optional argument arrives as undefined, the context after it', async () => {
    const api = defineContract({
      methods: {
        at: {
          input: z
            .tuple([z.string(), z.string().optional()])
            .pipe(z.tuple([z.string(), z.string().transform(Number).optional()])),
          output: z.void(),
        },
      },
    })
    const log: unknown[][] = []
    // Typed [string, number | undefined, CallContext]: the pipe's output.
    const { caller } = serve(api, { at: (...args) => record(log)(...args) })
    const remote = await caller.ready
    await remote.at('a')
    await remote.at('a', '2')
    expect(log).toEqual([
      ['a', undefined, 'ctx'],
      ['a', 2, 'ctx'],
    ])
  })
})

describe('a hand-written Standard Schema v1', () => {
  it('without `types`: the call goes through with whatever its validate accepts', async () => {
    const anyArgs = {
      '~standard': {
        version: 1 as const,
        vendor: 'handmade',
        validate: (value: unknown) =>
          Array.isArray(value) ? { value: value as unknown[] } : { issues: [{ message: 'not a list' }] },
      },
    }
    const api = defineContract({ methods: { log: { input: anyArgs, output: z.number() } } })
    const { caller } = serve(api, { log: (...args) => args.length })
    const remote = await caller.ready
    await expect(remote.log('a', 1)).resolves.toBe(3)
    await expect(remote.log()).resolves.toBe(1)
  })
})

// Coverage: these held before; the same contract as test/types/edge-contracts.test-d.ts.

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
    none: { input: z.tuple([]), output: z.void() },
    toString: { input: z.tuple([]), output: z.string() },
  },
  events: {
    parsed: z.string().transform(Number),
    defaulted: z.number().default(3),
    nothing: z.undefined(),
    done: z.void(),
  },
})

describe('unusual contracts, end to end', () => {
  it('each handler gets the arguments the types promise, and each caller the result', async () => {
    const log: unknown[][] = []
    const { caller } = serve(api, {
      parse: (...args) => record(log)(...args), // returns nothing: the default fills it in
      coerce: (n) => n * 2,
      defaulted: (s, n, context) => {
        record(log)(s, n, context)
        return ` ${s}${n} `
      },
      optional: (...args) => {
        record(log)(...args)
        return 'ok'
      },
      mini: (s, n, context) => {
        record(log)(s, n, context)
        return ` ${s} `
      },
      rest: (...args) => record(log)(...args),
      none: (...args) => record(log)(...args),
      toString: () => 'a remote method named toString',
    })
    const remote = await caller.ready
    await expect(remote.parse('42')).resolves.toBe(1)
    await expect(remote.coerce('21')).resolves.toBe(42)
    await expect(remote.defaulted('a')).resolves.toBe(' a5 ')
    await expect(remote.optional('a')).resolves.toBe('ok')
    await expect(remote.optional('a', 2)).resolves.toBe('ok')
    await expect(remote.mini('a')).resolves.toBe('a')
    await expect(remote.rest('a')).resolves.toBeUndefined()
    await expect(remote.rest('a', 1, 2)).resolves.toBeUndefined()
    await expect(remote.none()).resolves.toBeUndefined()
    await expect(remote.toString()).resolves.toBe('a remote method named toString')
    expect(log).toEqual([
      [42, 'ctx'],
      ['a', 5, 'ctx'],
      ['a', undefined, 'ctx'],
      ['a', 2, 'ctx'],
      ['a', undefined, 'ctx'],
      ['a', 'ctx'],
      ['a', 1, 2, 'ctx'],
      ['ctx'],
    ])
  })

  it('emit takes the input, listeners get the output; undefined and void payloads may be left out', async () => {
    const events = defineContract({ events: api.events })
    const { caller, server } = serve(events, {})
    const got: unknown[] = []
    caller.on('parsed', (n) => got.push(['parsed', n]))
    caller.on('defaulted', (n) => got.push(['defaulted', n]))
    caller.on('nothing', (u) => got.push(['nothing', u]))
    caller.on('done', (v) => got.push(['done', v]))
    server.emit('parsed', '12')
    server.emit('defaulted')
    server.emit('nothing')
    server.emit('done')
    await until(() => got.length === 4)
    expect(got).toEqual([
      ['parsed', 12],
      ['defaulted', 3],
      ['nothing', undefined],
      ['done', undefined],
    ])
  })

  it('a hand-written schema with types and a transform works like a zod one', async () => {
    function handmade<I, O>(parse: (value: unknown) => { value: O } | undefined): StandardSchemaV1<I, O> {
      return {
        '~standard': {
          version: 1,
          vendor: 'handmade',
          validate: (value) => parse(value) ?? { issues: [{ message: 'invalid' }] },
        },
      }
    }
    const lengths = defineContract({
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
    const { caller } = serve(lengths, { len: (n) => String(n * 10) })
    const remote = await caller.ready
    await expect(remote.len('abc')).resolves.toBe(30)
  })

  it('.with({ timeout, signal, transfer }) does what it says', async () => {
    // Node's MessagePort delivers Node's ArrayBuffer, not jsdom's: no instanceof.
    const Buffer = z.custom<ArrayBuffer>((v) => Object.prototype.toString.call(v) === '[object ArrayBuffer]')
    const slow = defineContract({
      methods: { wait: { input: z.tuple([Buffer.optional()]), output: z.number() } },
    })
    const { caller } = serve(slow, {
      wait: (buffer, { signal }) =>
        buffer ? buffer.byteLength : new Promise<number>((_, reject) => signal.addEventListener('abort', reject)),
    })
    const remote = await caller.ready
    const buffer = new ArrayBuffer(8)
    await expect(remote.wait.with({ transfer: [buffer] })(buffer)).resolves.toBe(8)
    expect(buffer.byteLength).toBe(0) // transferred, not copied
    await expect(remote.wait.with({ timeout: 20 })()).rejects.toBeInstanceOf(TimeoutError)
    const controller = new AbortController()
    const aborted = remote.wait.with({ signal: controller.signal })()
    controller.abort()
    await expect(aborted).rejects.toBeInstanceOf(AbortError)
  })
})
