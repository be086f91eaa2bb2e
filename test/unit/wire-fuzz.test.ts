/**
 * Seeded fuzzing of the receive path: what a hostile but *allowed* peer can
 * post on the private session port once a real handshake is done. An honest
 * connection A (a ConnectionImpl over a link port, with a contract of methods
 * that answer, throw, hang, wait, return the wrong type, call back, and an
 * event each way) faces a raw port B that posts, between A's own calls
 * (timeouts, aborts), emits, reloads and closes, well-formed and malformed
 * messages of every kind, batches of every length (nested, empty, over 256),
 * ids A really used (pending, answered, aborted) or B already used or never
 * seen, method names off the prototype, payloads near and over the limits
 * (long strings, wide and deep values, shared references, sparse arrays,
 * arrays with names, Map, Set, Date, RegExp, BigInt, typed arrays, Blob,
 * File, Error) and error payloads of every odd shape.
 *
 * After each sequence (time advanced past every timeout, then close()):
 * 1. every call A made settled, with a value its result schema accepts or a
 *    PortcullisError, and only as its story allows (a result only if B sent
 *    a result for its id, a RemoteError only if B sent an error for it, a
 *    TimeoutError only with a finite timeout or a TIMEOUT code from B...);
 * 2. nothing was thrown into the page, no promise rejected unhandled;
 * 3. A's handlers and event listeners only ran with values their schema accepts;
 * 4. A answered each call B made at most once, never a call whose id was
 *    still running, never after an abort, and never anything but a call; its
 *    own call ids are fresh, its aborts name its own calls, nothing follows
 *    its close notice, and every post is a well-formed message or a batch of 2-256;
 * 5. onRejected only heard the documented reasons;
 * 6. A's pending-call table holds exactly its unsettled calls;
 * 7. after close(): state 'closed', no timer, no listener on a port or a signal.
 *
 * Replays are exact: nanoid is seeded and the ports are a fake that delivers
 * in setImmediate order. A failure prints its seed and operations;
 * FUZZ_SEED=n replays one sequence, FUZZ_SEQUENCES, FUZZ_FIRST and FUZZ_LENGTH
 * explore further, FUZZ_LIVE prints the log as it goes, FUZZ_STATS what was reached.
 * Found so far (each now a named test): an oversize call under the id of a
 * running call was answered with LimitError, a second answer for one id
 * (limits-on-receipt.test.ts).
 */
import { writeSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { ConnectionImpl } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { PortcullisError, type RemoteError, type ValidationError } from '../../src/errors.js'
import { parseSessionMessage } from '../../src/protocol/envelope.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import type { Rejection } from '../../src/transport/transport.js'
import { catchThrown, FakeChannel, FakePort, mulberry32 } from './fuzz-support.js'
import { type Tracked, track, turns, useFakeTimers } from './helpers.js'

const ids = vi.hoisted(() => ({ next: (_size?: number): string => '' }))
vi.mock('nanoid', () => ({ nanoid: (size?: number) => ids.next(size) }))
const ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict'

/** Checked 10 ms later on the fake clock: a reply can be duplicated, timed out or closed while it is checked. */
function slowly<T>(schema: z.ZodType<T>): StandardSchemaV1<T, T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'fuzz',
      validate: async (value: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, 10))
        return schema['~standard'].validate(value) as StandardSchemaV1.Result<T>
      },
    },
  }
}

// What B serves (A calls it): every call's first argument is a token naming it.
const Info = z.object({ n: z.number(), tags: z.array(z.string()) })
const results = {
  echo: z.string(),
  info: Info,
  slow: z.number(),
  any: z.unknown(),
  big: z.number(),
} as const
const peerApi = defineContract({
  methods: {
    echo: { input: z.tuple([z.string()]), output: results.echo },
    info: { input: z.tuple([z.string()]), output: results.info },
    slow: { input: z.tuple([z.string()]), output: slowly(results.slow) },
    any: { input: z.tuple([z.string()]), output: results.any },
    big: { input: z.tuple([z.string(), z.array(z.number())]), output: results.big },
  },
  events: { ping: z.object({ n: z.number() }) },
})
type PeerMethod = keyof typeof results

// What A serves (B calls it).
const inputs = {
  sum: z.tuple([z.array(z.number())]),
  boom: z.tuple([z.string(), z.unknown()]),
  hang: z.tuple([]),
  wait: z.tuple([z.number().check(z.int(), z.gte(0), z.lte(3000))]),
  bad: z.tuple([]),
  mirror: z.tuple([z.unknown()]),
  odd: z.tuple([z.map(z.string(), z.bigint())]),
  file: z.tuple([z.instanceof(Blob)]),
  reenter: z.tuple([z.string()]),
  later: z.tuple([z.number()]),
} as const
const ownApi = defineContract({
  methods: {
    sum: { input: inputs.sum, output: z.number() },
    boom: { input: inputs.boom, output: z.never() },
    hang: { input: inputs.hang, output: z.number() },
    wait: { input: inputs.wait, output: z.number() },
    bad: { input: inputs.bad, output: z.string() },
    mirror: { input: inputs.mirror, output: z.unknown() },
    odd: { input: inputs.odd, output: z.bigint() },
    file: { input: inputs.file, output: z.number() },
    reenter: { input: inputs.reenter, output: z.string() },
    // Arguments checked 10 ms later: the call can be aborted, repeated or closed meanwhile.
    later: { input: slowly(inputs.later), output: z.number() },
  },
  events: { note: z.string() },
})
type OwnMethod = keyof typeof inputs

const REASONS = new Set(['origin', 'source', 'schema', 'version', 'limit', 'unknown-id', 'unknown-method'])
const ODD_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'then',
  'nope',
  '',
  'm'.repeat(257),
]

// Listeners added to the signals of A's calls, so that a sequence can list what it left.
const signalListeners = new Map<AbortSignal, number>()
const restores: Array<() => void> = []
beforeAll(() => {
  const proto = Object.getPrototypeOf(new AbortController().signal)
  let owner = proto
  while (!Object.hasOwn(owner, 'addEventListener')) owner = Object.getPrototypeOf(owner)
  const add = owner.addEventListener
  const remove = owner.removeEventListener
  owner.addEventListener = function (this: AbortSignal, type: string, fn: unknown, options?: unknown) {
    if (signalListeners.has(this)) signalListeners.set(this, (signalListeners.get(this) ?? 0) + 1)
    return add.call(this, type, fn, options)
  }
  owner.removeEventListener = function (this: AbortSignal, type: string, fn: unknown, options?: unknown) {
    if (signalListeners.has(this)) signalListeners.set(this, (signalListeners.get(this) ?? 0) - 1)
    return remove.call(this, type, fn, options)
  }
  restores.push(() => {
    owner.addEventListener = add
    owner.removeEventListener = remove
  })
})
afterAll(() => {
  for (const restore of restores.splice(0)) restore()
})

class SequenceFailure extends Error {}

interface CallRecord {
  readonly label: string
  readonly method: PeerMethod
  readonly token: string
  readonly tracked: Tracked<unknown>
  readonly timeout: number
  readonly controller: AbortController | undefined
}

type Reached = Map<string, number>

async function runSequence(seed: number, length: number, reached: Reached): Promise<void> {
  const rand = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const chance = (p: number): boolean => rand() < p
  const int = (n: number): number => Math.floor(rand() * n)
  const log: string[] = []
  // A sequence that hangs never prints its log: FUZZ_LIVE=1 writes it as it goes.
  if (process.env.FUZZ_LIVE) log.push = (...lines: string[]) => (writeSync(2, `${lines.join('\n')}\n`), 0)
  const violations: string[] = []
  const note = (ok: boolean, what: string): void => {
    if (!ok) violations.push(what)
  }
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new SequenceFailure(`seed ${seed}: ${what}\n  ${log.slice(-60).join('\n  ')}`)
  }
  const count = (what: string): void => {
    reached.set(what, (reached.get(what) ?? 0) + 1)
  }

  const { thrown, stop: stopCatching } = catchThrown()

  const idRand = mulberry32(seed ^ 0x5eed)
  ids.next = (size = 21) => Array.from({ length: size }, () => ALPHABET[Math.floor(idRand() * 64)]).join('')
  vi.stubGlobal('MessageChannel', FakeChannel)
  vi.stubGlobal('MessagePort', FakePort)
  useFakeTimers()
  FakePort.all = []
  signalListeners.clear()

  const limits = pick([
    { maxBytes: 4096, maxDepth: 8 },
    { maxBytes: 65_536, maxDepth: 30 },
    { maxBytes: 300_000, maxDepth: 100 },
  ])
  const defaultTimeout = pick([500, 2000, Number.POSITIVE_INFINITY])
  const calls: CallRecord[] = []
  const idOfToken = new Map<string, string>()
  let nextToken = 0
  let aClosed = false
  let sessionsEnded = 0
  const controllers: AbortController[] = []
  const rejections: Rejection[] = []

  // ---- A's side: what it sends, as its trace sees it, and what that must be.
  /** Calls B made that A has taken on and not yet answered or seen aborted, in A's own timeline. */
  let running = new Set<string>()
  let oversizeCall = false
  const aCallIds = new Set<string>()
  const aAborts = new Set<string>()
  const trace = (entry: TraceEntry): void => {
    const m = entry.message as Record<string, any>
    if (entry.direction === 'receive') {
      if (m.k === 'c') {
        if (running.has(m.i)) count('call under a running id')
        else running.add(m.i)
      } else if (m.k === 'q') running.delete(m.i)
      else if (m.k === 'f' && entry.kind === 'fin') {
        // (A leader's fin; B never leads that way here.)
      }
      return
    }
    // Sent by A.
    if (m.k !== 'c' && m.k !== 's') log.push(`    A sends ${describe(m)}`)
    // The answer to an oversize call comes at once after its report (see onRejected).
    const refusal = oversizeCall
    oversizeCall = false
    switch (m.k) {
      case 'f':
        // A new session: B's calls on the old one are over.
        running = new Set()
        break
      case 'c':
        note(!aCallIds.has(m.i), `A reused its call id ${m.i}`)
        aCallIds.add(m.i)
        // (Traced as it is sent, which may be before call() returns its promise.)
        idOfToken.set(m.a[0], m.i)
        break
      case 'q':
        note(aCallIds.has(m.i), `A aborted ${m.i}, which is not a call of its own`)
        note(!aAborts.has(m.i), `A aborted ${m.i} twice`)
        aAborts.add(m.i)
        break
      case 'r':
      case 'e':
        if (refusal && m.k === 'e' && m.e?.c === 'LIMIT') {
          // Answering a call under a running id would settle the running one.
          note(!running.has(m.i), `A refused an oversize call under ${m.i}, the id of a call it is running`)
          count('A refused an oversize call')
        } else if (running.delete(m.i)) count(`A answered (${m.k})`)
        else violations.push(`A answered ${m.i} (${m.k}: ${String(m.e?.n ?? '')}), which is no call it is running`)
        break
      case 'v':
        note(m.m === 'note' && typeof m.d === 'string', `A emitted ${describe(m)}`)
        break
      case 'x':
        // (Nothing may follow it on its port: checked where B reads that port.)
        running = new Set()
        break
      case 's':
        break
      default:
        violations.push(`A sent a message of kind ${String(m.k)}`)
    }
  }
  const onRejected = (r: Rejection): void => {
    rejections.push(r)
    note(REASONS.has(r.reason), `onRejected heard reason ${String(r.reason)}`)
    note(r.detail === undefined || typeof r.detail === 'string', 'onRejected heard a detail that is no string')
    count(`rejected ${r.reason}`)
    // An oversize call is answered (LimitError) without being parsed, so without a trace.
    oversizeCall = r.reason === 'limit' && r.detail?.endsWith('(call message)') === true
  }

  // ---- A's handlers: each checks what it was given against its schema.
  const box: { conn?: ConnectionImpl<typeof peerApi, typeof ownApi> } = {}
  const handlerTimers = new Set<ReturnType<typeof setTimeout>>()
  const seen = (method: OwnMethod, args: unknown[]): void => {
    count(`handler ${method}`)
    const parsed = inputs[method].safeParse(args)
    note(parsed.success, `handler ${method} ran with ${String(args).slice(0, 80)}`)
  }
  const handlers = {
    sum: (list: number[], _ctx: unknown) => {
      seen('sum', [list])
      return list.reduce((a, b) => a + b, 0)
    },
    boom: (message: string, cause: unknown) => {
      seen('boom', [message, cause])
      throw Object.assign(new Error(message, { cause }), { code: 'E_BOOM', detail: cause })
    },
    hang: (ctx: { signal: AbortSignal }) => {
      seen('hang', [])
      return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(1)))
    },
    wait: (ms: number, ctx: { signal: AbortSignal }) => {
      seen('wait', [ms])
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          handlerTimers.delete(timer)
          resolve(ms)
        }, ms)
        handlerTimers.add(timer)
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          handlerTimers.delete(timer)
        })
      })
    },
    bad: () => {
      seen('bad', [])
      return 42
    },
    mirror: (value: unknown) => {
      seen('mirror', [value])
      return value
    },
    odd: (map: Map<string, bigint>) => {
      seen('odd', [map])
      let total = 0n
      for (const v of map.values()) total += v
      return total
    },
    file: (blob: Blob) => {
      seen('file', [blob])
      return blob.size
    },
    later: (n: number) => {
      seen('later', [n])
      return n
    },
    reenter: (s: string) => {
      seen('reenter', [s])
      const record = aCall('echo')
      return record ? record.tracked.promise.then(String, () => 'failed') : 'closed'
    },
  }

  // ---- The link, and B.
  const link = new FakeChannel()
  let bNonce = 0
  let bPort: FakePort | undefined
  /** What A posted on each of B's session ports: messages, batches unpacked. */
  const fromA: any[] = []
  let ackedFor: string | undefined
  const bSessionPorts: FakePort[] = []
  link.port2.addEventListener('message', ({ data }) => {
    const syn = data as { k?: string; n?: string }
    // One offer per pair of pages: A's SYN retries are not new pages.
    if (syn?.k !== 's' || typeof syn.n !== 'string' || `${syn.n}/${bNonce}` === ackedFor) return
    ackedFor = `${syn.n}/${bNonce}`
    const channel = new FakeChannel()
    const mine = channel.port1
    let closedHere = false
    mine.addEventListener('message', ({ data: post }) => {
      note(!closedHere, `A posted ${describe(post)} after its close notice`)
      const list = Array.isArray(post) ? post : [post]
      note(!Array.isArray(post) || (post.length >= 2 && post.length <= 256), `A posted a batch of ${list.length}`)
      for (const message of list) {
        note(parseSessionMessage(message) !== undefined, `A posted ${describe(message)}`)
        if ((message as { k?: string })?.k === 'x') closedHere = true
        if (mine === bPort) fromA.push(message)
      }
    })
    mine.start()
    bPort = mine
    bSessionPorts.push(mine)
    link.port2.postMessage({ pc: 1, k: 'a', n: syn.n, l: `~${bNonce}`, c: '' }, [channel.port2 as never])
  })
  link.port2.start()

  const conn = new ConnectionImpl<typeof peerApi, typeof ownApi>({
    link: new EndpointTransport(link.port1 as never),
    lifecycle: { host: new EventTarget() as unknown as Window },
    channel: '',
    remote: peerApi,
    local: ownApi,
    handlers: handlers as never,
    timeout: defaultTimeout,
    connectTimeout: Number.POSITIVE_INFINITY,
    debug: chance(0.5),
    limits,
    trace,
    onRejected,
  })
  box.conn = conn
  const states: string[] = []
  conn.onStateChange((state, cause) => {
    states.push(`${state}:${cause}`)
    if (state !== 'open') sessionsEnded++
  })
  conn.on('ping', (payload) => {
    count('event delivered')
    note(peerApi.events.ping.safeParse(payload).success, `listener heard ${describe(payload)}`)
  })

  /** B's posts, as A will read them: ids B answered with a result, and with an error. */
  const sentR = new Set<string>()
  const sentE = new Map<string, unknown[]>()
  const bCallIds: string[] = []
  const noteSent = (message: unknown): void => {
    if (typeof message !== 'object' || message === null) return
    const m = message as Record<string, unknown>
    if (typeof m.i !== 'string') return
    if (m.k === 'r') sentR.add(m.i)
    if (m.k === 'e') sentE.set(m.i, [...(sentE.get(m.i) ?? []), m.e])
    if (m.k === 'c') bCallIds.push(m.i)
  }
  const post = (data: unknown, raw = false): void => {
    if (Array.isArray(data)) {
      if (data.length >= 2 && data.length <= 256) for (const item of data) noteSent(item)
    } else noteSent(data)
    bPort?.postMessage(data, [], raw)
  }

  async function settle(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      await turns(2)
      await vi.advanceTimersByTimeAsync(step)
    }
    await turns(3)
  }

  // ---- A's calls.
  function aCall(method: PeerMethod): CallRecord | undefined {
    const token = `t${nextToken++}`
    const controller = chance(0.3) ? new AbortController() : undefined
    if (controller) {
      signalListeners.set(controller.signal, 0)
      controllers.push(controller)
    }
    const timeout = chance(0.5) ? defaultTimeout : pick([50, 300, 1500, Number.POSITIVE_INFINITY])
    const options = { timeout, ...(controller ? { signal: controller.signal } : {}) }
    const args: unknown[] = method === 'big' ? [token, Array.from({ length: int(40) }, (_, n) => n)] : [token]
    const promise = (conn.remote[method].with(options) as (...a: unknown[]) => Promise<unknown>)(...args)
    const record: CallRecord = {
      label: `${method}(${token})`,
      method,
      token,
      tracked: track(promise),
      timeout,
      controller,
    }
    calls.push(record)
    return record
  }

  // ---- Hostile values.
  const ids_ = (): unknown => {
    const r = rand()
    if (r < 0.3 && aCallIds.size > 0) return pick([...aCallIds])
    if (r < 0.45 && bCallIds.length > 0) return pick(bCallIds)
    if (r < 0.6) return `b${int(1e6)}`
    return pick<unknown>([
      '',
      'i'.repeat(64),
      'i'.repeat(65),
      5,
      null,
      undefined,
      ['x'],
      '__proto__',
      'constructor',
      'toString',
    ])
  }
  function deep(n: number, leaf: unknown): unknown {
    let v = leaf
    for (let i = 0; i < n; i++) v = pick([0, 1, 2]) === 0 ? [v] : pick([0, 1]) === 0 ? { a: v } : new Map([['k', v]])
    return v
  }
  function shared(n: number): unknown {
    let v: unknown = { x: 'y' }
    for (let i = 0; i < n; i++) v = [v, v]
    return v
  }
  const nearLimit = (): number => Math.max(0, limits.maxBytes + int(64) - 48)
  /** Set while a batch is made: one oversize message spends the budget of the whole post. */
  let tame = false
  const HUGE = new Set([3, 5, 8, 15, 16, 18, 22])
  function value(depth = 0): unknown {
    let r = int(34)
    if (tame && HUGE.has(r)) r = 0
    switch (r) {
      case 0:
        return int(100)
      case 1:
        return pick([Number.NaN, -0, Number.POSITIVE_INFINITY, 2 ** 53, -1e308])
      case 2:
        return 's'.repeat(int(20))
      case 3:
        return 's'.repeat(nearLimit())
      case 4:
        return pick([1n, -5n, 2n ** 200n, -(2n ** 64n)])
      case 5:
        return 1n << BigInt(nearLimit() * 8)
      case 6:
        return pick([true, false, null, undefined])
      case 7:
        return pick([new Date(int(1e12)), new Date(Number.NaN)])
      case 8:
        return pick([/a+b/gi, new RegExp('x'.repeat(int(limits.maxBytes)))])
      case 9:
        return depth > 3
          ? 0
          : new Map<unknown, unknown>([
              [value(depth + 1), value(depth + 1)],
              ['k', 1n],
            ])
      case 10:
        return depth > 3 ? 0 : new Set([value(depth + 1), 'a', 1])
      case 11:
        return pick([
          new Uint8Array(int(32)),
          new Float64Array([1.5, Number.NaN]),
          new BigInt64Array([1n, -1n]),
          new DataView(new ArrayBuffer(8)),
          new ArrayBuffer(16),
          new Uint8Array(nearLimit()),
          new Uint8Array(new ArrayBuffer(nearLimit()), 0, 4),
        ])
      case 12: {
        const sparse: unknown[] = []
        sparse[pick([3, 1000, 2 ** 20, 2 ** 32 - 2])] = 'end'
        return sparse
      }
      case 13:
        return Object.assign([1, 2, 3], { named: value(depth + 1), '-1': 'x', '1.5': 'y' })
      case 14:
        return JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"p": 1}}}')
      case 15:
        return deep(limits.maxDepth - 2 + int(4), 'leaf')
      case 16:
        return shared(10 + int(40))
      case 17:
        return Array.from({ length: int(200) }, () => int(10))
      case 18:
        return new Array(Math.ceil(nearLimit() / 8)).fill('')
      case 19:
        return pick([
          Object.assign(new Error('odd', { cause: new Error('inner') }), { extra: 1 }),
          new TypeError('t'),
          new RangeError('r'.repeat(int(100))),
        ])
      case 20:
        return new String('boxed')
      case 21:
        return pick([new Blob(['abc'], { type: 'x/y' }), new File(['x'], 'f'.repeat(int(limits.maxBytes)))])
      case 22:
        return new Blob([], { type: 't'.repeat(nearLimit()) })
      case 23:
        return { n: int(5), tags: ['a', 'b'] }
      case 24:
        return { n: 'x', tags: [1] }
      case 25:
        return ['a', 1, null]
      case 26:
        return depth > 3 ? {} : { a: value(depth + 1), b: value(depth + 1) }
      default: {
        const v = depth > 3 ? 1 : value(depth + 1)
        return depth > 3 ? [v] : [v, value(depth + 1)]
      }
    }
  }
  function errorPayload(depth = 0): unknown {
    if (chance(0.1)) return pick<unknown>([[1, 2], new Date(0), new Map(), 'str', null, 5])
    const e: Record<string, unknown> = {}
    if (chance(0.8)) e.n = pick<unknown>(['Error', 'TypeError', 5, [], { a: 1 }, 'n'.repeat(5000), undefined])
    if (chance(0.8)) e.m = pick<unknown>(['boom', new Date(0), ['m'], 'm'.repeat(5000), 7n])
    if (chance(0.5))
      e.c = pick<unknown>([
        'VALIDATION',
        'LIMIT',
        'TIMEOUT',
        'ABORT',
        'REMOTE',
        'DISCONNECTED',
        'ORIGIN',
        'HANDSHAKE',
        5,
      ])
    if (chance(0.3)) e.t = pick<unknown>(['arguments', 'result', 'event', '__proto__', 3])
    if (chance(0.3))
      e.i = pick<unknown>([
        [{ path: ['a', 1, { x: 1 }, null], message: 'bad' }, 'str', null, { path: 'p', message: 5 }],
        Array.from({ length: 300 }, () => ({ path: [], message: 'x' })),
        'not issues',
        new Set([1]),
      ])
    if (chance(0.4)) e.d = chance(0.5) ? value() : { __proto__: null, k: value() }
    if (chance(0.3)) e.x = depth < 8 ? errorPayload(depth + 1) : { n: 'Deep' }
    if (chance(0.2)) e.s = pick<unknown>(['at x', 's'.repeat(20_000), 5])
    if (chance(0.1)) Object.defineProperty(e, '__proto__', { value: { c: 'LIMIT' }, enumerable: true })
    return e
  }
  function ownArgs(method: string): unknown {
    switch (method) {
      case 'sum':
        return chance(0.7) ? [[1, 2, int(10)]] : [[1, 'x']]
      case 'boom':
        return ['b'.repeat(int(10)), value()]
      case 'hang':
      case 'bad':
        return chance(0.8) ? [] : [1]
      case 'wait':
        return [pick<unknown>([0, 10, 400, 2000, -1, 1.5, 'x'])]
      case 'mirror':
        return [value()]
      case 'odd':
        return chance(0.7)
          ? [
              new Map([
                ['a', 1n],
                ['b', 2n ** 70n],
              ]),
            ]
          : [new Map([['a', 1]])]
      case 'file':
        return chance(0.7) ? [new Blob(['hello'])] : [new File([], 'n')]
      case 'reenter':
        return ['r']
      case 'later':
        return chance(0.8) ? [int(9)] : ['x']
      default:
        return pick<unknown>([[], [value()], value()])
    }
  }
  const ownMethods = Object.keys(inputs)
  const peerResult = (method: PeerMethod, good: boolean, token: unknown): unknown => {
    if (!good) return value()
    switch (method) {
      case 'echo':
        return String(token)
      case 'info':
        return { n: 1, tags: ['a'], extra: value() }
      case 'slow':
      case 'big':
        return int(100)
      case 'any':
        return value()
    }
  }
  function message(): unknown {
    const kind = pick(['c', 'c', 'r', 'r', 'e', 'e', 'q', 'v', 'v', 'f', 'x', '?', 'junk'])
    switch (kind) {
      case 'c': {
        const m = chance(0.7) ? pick(ownMethods) : pick<unknown>([...ODD_NAMES, 5, undefined])
        const msg: Record<string, unknown> = { k: 'c', i: chance(0.8) ? `b${int(1e6)}` : ids_(), m }
        if (chance(0.95)) msg.a = chance(0.85) ? ownArgs(String(m)) : pick<unknown>([value(), {}, 'a', null])
        return msg
      }
      case 'r':
        return { k: 'r', i: ids_(), v: value() }
      case 'e':
        return { k: 'e', i: ids_(), e: errorPayload() }
      case 'q':
        return { k: 'q', i: chance(0.6) && bCallIds.length > 0 ? pick(bCallIds) : ids_() }
      case 'v':
        return {
          k: 'v',
          m: chance(0.6) ? 'ping' : pick<unknown>([...ODD_NAMES, 'note', 7]),
          d: chance(0.5) ? { n: int(9) } : value(),
        }
      case 'f':
        return { k: 'f', extra: value() }
      case 'x':
        return { k: 'x', r: pick(['closed', 'unload', 'gone', undefined]) }
      case '?':
        return { k: pick<unknown>(['s', 'a', 'z', '', 5, null, undefined]), i: ids_(), m: 'sum', a: [] }
      default:
        return pick<unknown>([null, undefined, 5, 'c', true, new Date(0), new Map([['k', 'c']]), value()])
    }
  }
  /** Whether a message holds a Blob, which must travel unclone (see FakePort). */
  const hasBlob = (v: unknown, depth = 0): boolean => {
    if (v instanceof Blob) return true
    if (depth > 4 || typeof v !== 'object' || v === null) return false
    if (v instanceof Map) return [...v].some(([k, x]) => hasBlob(k, depth + 1) || hasBlob(x, depth + 1))
    if (v instanceof Set) return [...v].some((x) => hasBlob(x, depth + 1))
    if (Array.isArray(v) && v.length > 1000) return false
    return Object.values(v).some((x) => hasBlob(x, depth + 1))
  }
  const send = (data: unknown, what: string): void => {
    log.push(`B ${what}: ${describe(data)}`)
    post(data, hasBlob(data))
  }
  function describe(data: unknown): string {
    // Shared references make a value of a few bytes a tree of 2^50 paths: the description stops early.
    let budget = 500
    try {
      const text = JSON.stringify(data, (_k, v) =>
        --budget < 0
          ? '…'
          : typeof v === 'bigint'
            ? `bigint of ${v.toString(16).length} hex digits`
            : typeof v === 'string' && v.length > 24
              ? `${v.slice(0, 8)}…(${v.length})`
              : Array.isArray(v) && v.length > 6
                ? `[array of ${v.length}]`
                : v instanceof Map
                  ? `Map(${v.size})`
                  : v,
      )
      return (text ?? String(data)).slice(0, 200)
    } catch {
      return Object.prototype.toString.call(data)
    }
  }

  try {
    await turns(4)
    check(conn.state === 'open', `A is ${conn.state} after the handshake`)

    for (let step = 0; step < length; step++) {
      const r = rand()
      const pendingA = fromA.filter((m) => m?.k === 'c')
      if (r < 0.16) {
        const method = pick(Object.keys(results) as PeerMethod[])
        const record = aCall(method)
        log.push(`A calls ${record?.label} (timeout ${record?.timeout}${record?.controller ? ', signal' : ''})`)
      } else if (r < 0.34 && pendingA.length > 0) {
        // B answers one of A's calls: right, wrong, twice, an error, too big.
        const call = pick(pendingA)
        const method = call.m as PeerMethod
        const how = pick(['good', 'good', 'good', 'wrong', 'error', 'both', 'oversize', 'batch'])
        if (how === 'good' || how === 'wrong') {
          send({ k: 'r', i: call.i, v: peerResult(method, how === 'good', call.a[0]) }, `answers ${how}`)
        } else if (how === 'error') send({ k: 'e', i: call.i, e: errorPayload() }, 'fails')
        else if (how === 'both') {
          send(
            [
              { k: 'r', i: call.i, v: peerResult(method, true, call.a[0]) },
              { k: 'e', i: call.i, e: errorPayload() },
            ],
            'answers twice in one batch',
          )
        } else if (how === 'oversize') {
          send(
            { k: pick(['r', 'e']), i: call.i, v: 'x'.repeat(limits.maxBytes), e: { m: 'x'.repeat(limits.maxBytes) } },
            'answers too big',
          )
        } else {
          send(
            Array.from({ length: 2 + int(4) }, () => ({
              k: 'r',
              i: call.i,
              v: peerResult(method, chance(0.5), call.a[0]),
            })),
            'answers in a batch',
          )
        }
      } else if (r < 0.56) {
        send(message(), 'posts')
      } else if (r < 0.68) {
        const n = pick([0, 1, 2, 3, 5, 20, 255, 256, 257, 300])
        tame = chance(0.8)
        const batch: unknown[] = Array.from({ length: n }, () =>
          chance(0.1) ? [message(), message()] : chance(0.05) ? [] : message(),
        )
        tame = false
        send(batch, `posts a batch of ${n}`)
      } else if (r < 0.74) {
        // B calls A under an id that may be running, answered, aborted or A's own.
        const m = pick(ownMethods)
        const i = chance(0.5) && bCallIds.length > 0 ? pick(bCallIds) : ids_()
        send({ k: 'c', i, m, a: ownArgs(m) }, 'calls')
        if (chance(0.3)) send({ k: 'q', i }, 'aborts')
      } else if (r < 0.77) {
        const m = pick(ownMethods)
        send({ k: 'c', i: `b${int(1e6)}`, m, a: [value(), 's'.repeat(limits.maxBytes)] }, 'calls, too big')
      } else if (r < 0.8) {
        const live = controllers.filter((c) => !c.signal.aborted)
        if (live.length > 0) {
          log.push('A aborts a call')
          pick(live).abort(pick([undefined, 'why']))
        }
      } else if (r < 0.83) {
        log.push('A emits')
        try {
          conn.emit('note', 'hi')
        } catch (error) {
          note(aClosed || conn.state === 'closed', `emit threw while ${conn.state}: ${String(error)}`)
          note(error instanceof PortcullisError, `emit threw ${String(error)}`)
        }
      } else if (r < 0.86) {
        log.push('A closes')
        conn.close()
        aClosed = true
      } else if (r < 0.89) {
        // B's page reloads (a new SYN), whether or not it said goodbye.
        if (chance(0.5)) send({ k: 'x', r: 'unload' }, 'unloads')
        bNonce++
        log.push(`B seeks again as ~${bNonce}`)
        link.port2.postMessage({ pc: 1, k: 's', n: `~${bNonce}` })
      } else if (r < 0.9) {
        send({ k: 'x', r: 'closed' }, 'closes')
      } else {
        const ms = pick([1, 10, 100, 600, 2000])
        log.push(`time +${ms}`)
        await settle(ms, Math.min(ms, 100))
      }
      await turns(pick([0, 1, 1, 2, 3]))
      // 6. The pending table holds exactly the calls that are still waiting.
      await turns(2)
      const unsettled = calls.filter((c) => !c.tracked.settled).length
      check(conn.caller.size === unsettled, `caller holds ${conn.caller.size} calls, ${unsettled} are unsettled`)
    }

    // Past every finite timeout (and B's handlers' timers).
    log.push('-- time passes')
    await settle(4000, 250)
    for (const c of calls) {
      if (Number.isFinite(c.timeout)) check(c.tracked.settled, `${c.label}: pending past its timeout`)
    }
    check(conn.caller.size === calls.filter((c) => !c.tracked.settled).length, 'the caller holds settled calls')

    log.push('-- A closes')
    conn.close()
    aClosed = true
    await settle(200, 50)
    // Whatever B posts now reaches nobody.
    send(message(), 'posts after close')
    await settle(200, 50)

    // 1. Every call settled, as its story allows.
    for (const c of calls) {
      check(c.tracked.settled, `${c.label}: still pending after close()`)
      const id = idOfToken.get(c.token)
      if (c.tracked.status === 'fulfilled') {
        count(`fulfilled ${c.method}`)
        check(
          results[c.method].safeParse(c.tracked.value).success,
          `${c.label} resolved to ${describe(c.tracked.value)}`,
        )
        check(id !== undefined && sentR.has(id), `${c.label} resolved though B sent no result for it`)
        continue
      }
      const error = c.tracked.error as PortcullisError
      check(error instanceof PortcullisError, `${c.label} rejected with ${String(error)}`)
      count(`rejected ${error.code}`)
      const codes = id === undefined ? [] : (sentE.get(id) ?? []).map((e) => (e as { c?: unknown })?.c)
      switch (error.code) {
        case 'TIMEOUT':
          check(Number.isFinite(c.timeout) || codes.includes('TIMEOUT'), `${c.label}: ${error.message}`)
          break
        case 'ABORT':
          check(c.controller?.signal.aborted === true || codes.includes('ABORT'), `${c.label}: ${error.message}`)
          break
        case 'DISCONNECTED':
          check(aClosed || sessionsEnded > 0, `${c.label}: ${error.message}`)
          break
        case 'REMOTE': {
          check(id !== undefined && sentE.has(id), `${c.label}: RemoteError though B sent no error for it`)
          // What B sent is read defensively: strings, a plain record, a short chain of causes.
          let cause: unknown = error
          for (let depth = 0; cause !== undefined; depth++, cause = (cause as Error).cause) {
            const e = cause as RemoteError
            check(depth <= 5 && e instanceof PortcullisError, `${c.label}: cause ${depth} is ${describe(e)}`)
            if (e.code !== 'REMOTE') continue
            const proto = Object.getPrototypeOf(e.data)
            check(
              typeof e.remoteName === 'string' &&
                typeof e.message === 'string' &&
                (e.remoteStack === undefined || typeof e.remoteStack === 'string') &&
                (proto === Object.prototype || proto === null),
              `${c.label}: a RemoteError of ${describe({ n: e.remoteName, m: e.message, d: e.data })}`,
            )
          }
          break
        }
        case 'VALIDATION': {
          const remote = (error as ValidationError).side === 'remote'
          check(id !== undefined && (remote ? sentE.has(id) : sentR.has(id)), `${c.label}: ${error.message}`)
          break
        }
        case 'LIMIT':
          check(id !== undefined && (sentR.has(id) || sentE.has(id)), `${c.label}: ${error.message}`)
          break
        default:
          check(false, `${c.label} rejected with ${error.code}: ${error.message}`)
      }
    }
    check(
      Object.keys(Object.prototype).length === 0 && !('polluted' in {}) && !('p' in {}),
      'Object.prototype was polluted',
    )
    // 7. Nothing left behind.
    check(conn.state === 'closed', `A is ${conn.state} after close()`)
    check(conn.caller.size === 0, 'calls left in the caller')
    check(states.filter((s) => s.startsWith('closed:')).length === 1, `A heard ${states.join(', ')}`)
    for (const timer of handlerTimers) clearTimeout(timer)
    const timers = vi.getTimerCount()
    check(timers === 0, `${timers} timers left after close()`)
    const listening = FakePort.all.filter((p) => p !== link.port2 && !bSessionPorts.includes(p) && p.listeners.size > 0)
    check(listening.length === 0, `${listening.length} of A's ports still listened to after close()`)
    const signals = [...signalListeners].filter(([, n]) => n > 0)
    check(signals.length === 0, `${signals.length} call signals still listened to after close()`)
    await turns(4)
    // 2-5.
    check(violations.length === 0, violations.slice(0, 5).join('; '))
    check(
      thrown.length === 0,
      `thrown into the page: ${thrown.map((e) => String((e as Error)?.stack ?? e)).join('; ')}`,
    )
    for (const s of states) count(s)
  } finally {
    conn.close()
    for (const p of FakePort.all) p.close()
    vi.clearAllTimers()
    vi.useRealTimers()
    vi.unstubAllGlobals()
    await turns(2)
    stopCatching()
  }
}

const SEQUENCES = Number(process.env.FUZZ_SEQUENCES ?? 120)
const LENGTH = Number(process.env.FUZZ_LENGTH ?? 30)
const FIRST = Number(process.env.FUZZ_FIRST ?? 1)

describe('the receive path, under a hostile allowed peer posting seeded random messages', () => {
  it(`${SEQUENCES} seeded sequences keep every invariant`, async () => {
    const failures: string[] = []
    const reached: Reached = new Map()
    const only = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
    for (let seed = only ?? FIRST; seed <= (only ?? FIRST + SEQUENCES - 1); seed++) {
      try {
        await runSequence(seed, LENGTH, reached)
      } catch (error) {
        if (!(error instanceof SequenceFailure)) throw error
        failures.push(error.message)
        if (failures.length >= 3) break
      }
    }
    if (process.env.FUZZ_STATS) console.log(JSON.stringify([...reached].sort()))
    expect(failures).toEqual([])
    if (only !== undefined) return
    const expected = [
      'fulfilled echo',
      'fulfilled any',
      'rejected TIMEOUT',
      'rejected ABORT',
      'rejected REMOTE',
      'rejected VALIDATION',
      'rejected LIMIT',
      'rejected DISCONNECTED',
      'rejected schema',
      'rejected limit',
      'rejected unknown-id',
      'rejected unknown-method',
      'A answered (r)',
      'A answered (e)',
      'A refused an oversize call',
      'event delivered',
      'handler sum',
      'handler odd',
      'handler file',
      'handler hang',
      'handler reenter',
      'handler later',
      'reconnecting:peer-unloaded',
      'open:peer-reloaded',
      'closed:peer-closed',
      'closed:closed',
    ]
    expect(expected.filter((what) => !reached.has(what))).toEqual([])
  }, 60_000)
})
