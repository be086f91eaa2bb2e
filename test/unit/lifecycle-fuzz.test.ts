/**
 * Model-based fuzzing of the connection lifecycle. A seeded driver
 * (mulberry32, fixed seeds: a failure names its seed and replays) runs short
 * random sequences over two sides of one link, either a MessageChannel (each
 * connection a page of its own, for pagehide/pageshow) or two windows through
 * connect(), or two windows whose pages come and go: connects on either
 * side and on two channels (fresh, taking over, after a reload or a navigation),
 * calls with and without timeouts and signals, handlers that answer, fail,
 * hang or close their own connection, events, close() from anywhere (hooks
 * included), the back/forward cache, a peer window going away, and time.
 * After each sequence it checks what the README promises:
 *
 * 1. every call settles: a finite timeout bounds it, and close() or a gone peer settle the rest;
 * 2. after close() on both sides: no listener left on a window, a port, a page or a call's
 *    signal, no timer pending, every state 'closed';
 * 3. a call's result is what its handler returned for that call (one handler run per call,
 *    on the other side, on the same channel, never on a page at a disallowed origin);
 * 4. nothing is thrown into the page, no promise rejects unhandled;
 * 5. state changes are legal (connecting → open ⇄ reconnecting → closed, nothing after closed);
 *
 * and, once everything has had time to settle, that a connection which says
 * 'open' can be called (it is not open on a port nobody reads), and that two
 * live, current connections on both sides find each other; on the way, that
 * a call fails only with a code its story allows (a TimeoutError not before
 * its timeout, a RemoteError only from a handler that failed), that an event
 * arrives at most once and only from the other side, and that emit() throws
 * only once closed.
 *
 * Replays are exact: nonces come from the seed, and MessageChannel is a fake
 * that delivers in setImmediate order (Node's ports deliver at moments that
 * vary from run to run). A failure prints its operations; FUZZ_SEED=n replays
 * that one sequence, FUZZ_SEQUENCES, FUZZ_LENGTH and FUZZ_FIRST explore further.
 * Found so far (each now a named test of its own): a second connection that
 * adopted an offer stayed open on a dead port (handshake.test.ts); so did the
 * peer of a connection closed by a handler's signal as a new session opened
 * (close-reentry.test.ts); a trace sink closing on a received SYN left an
 * offered port listening (close-leaks.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import { type Connection, ConnectionImpl, type ConnectionState } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { createAllowedOrigins } from '../../src/gate/allowed-origins.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import { WindowTransport } from '../../src/transport/window-transport.js'
import { catchThrown, FakeChannel, FakePort, mulberry32 } from './fuzz-support.js'
import { dispatchMessage, type FakeWindow, type Tracked, track, turns, useFakeTimers, windowPair } from './helpers.js'

// Nonces and id prefixes from a seeded generator: which side leads a handshake is part of the sequence.
const ids = vi.hoisted(() => ({ next: (_size?: number): string => '' }))
vi.mock('nanoid', () => ({ nanoid: (size?: number) => ids.next(size) }))
const ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict'

const PARENT = 'https://parent.example'
const CHILD = 'https://child.example'
const EVIL = 'https://evil.example'
/** The origin each side's connections allow the other side at. */
const LEGIT = [PARENT, CHILD] as const

/**
 * The two windows of the `page` kind: what one posts reaches the other (on
 * the jsdom window, in setImmediate order) only if it is addressed to the
 * origin of the document the other holds now, and arrives with the origin
 * of the sender's document now. `[parent, child]`.
 */
function pageWindows(pages: [Page, Page]): [FakeWindow, FakeWindow] {
  const wins: FakeWindow[] = []
  for (const index of [0, 1] as const) {
    const win = {
      closed: false,
      posts: [],
      postMessage(data: unknown, targetOrigin: string, transfer: Transferable[] = []) {
        if (win.closed) return
        if (targetOrigin !== '*' && targetOrigin !== (pages[index] as Page).origin) return
        const copy = structuredClone(data)
        const ports = transfer.filter((t) => t instanceof FakePort) as unknown as MessagePort[]
        const source = wins[1 - index]
        const origin = (pages[1 - index] as Page).origin
        setImmediate(() => dispatchMessage(window, { data: copy, origin, source, ports }))
      },
    } as unknown as FakeWindow & { window: FakeWindow }
    win.window = win
    wins.push(win)
  }
  return wins as [FakeWindow, FakeWindow]
}

/** A schema that answers `ms` later on the fake clock: a call can be closed, aborted or timed out while it is checked. */
function slowly<T>(schema: z.ZodType<T>, ms: number): StandardSchemaV1<T, T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'fuzz',
      validate: async (value: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, ms))
        return schema['~standard'].validate(value) as StandardSchemaV1.Result<T>
      },
    },
  }
}

const Answer = z.object({ t: z.number(), by: z.number() })
const api = defineContract({
  methods: {
    work: { input: z.tuple([z.number()]), output: Answer },
    // The same, with arguments and result checked asynchronously (the result on both sides).
    checked: { input: slowly(z.tuple([z.number()]), 30), output: slowly(Answer, 20) },
  },
  events: { tick: z.object({ t: z.number(), from: z.number() }) },
})

/**
 * `port`: a MessageChannel, each connection a page of its own. `window`: two
 * windows, through connect(). `page`: two windows whose pages can reload,
 * go into the back/forward cache, or navigate to an origin that is not
 * allowed and back (connections built as connect() builds them, each page
 * with its own pagehide/pageshow).
 */
type Kind = 'port' | 'window' | 'page'

/** A document in a window of the `page` kind. */
interface Page {
  readonly host: EventTarget
  readonly origin: string
}

const BEHAVIOURS = [
  'value',
  'value',
  'value',
  'value',
  'async',
  'async',
  'delay',
  'reject',
  'throw',
  'hang',
  'untilAbort',
  'closeSelf',
  'closeOnAbort',
  'emit',
  'callBack',
] as const
type Behaviour = (typeof BEHAVIOURS)[number]

/** Closes the connection from inside one of its own hooks, at some point. */
type Hook =
  | { kind: 'none' }
  | { kind: 'state'; state: ConnectionState }
  | { kind: 'trace'; entry: string; nth: number }
  | { kind: 'event' }
  /** Not a close: on 'closed', connects again at once, from inside the listener. */
  | { kind: 'reconnect' }

interface Peer {
  readonly id: number
  readonly side: 0 | 1
  conn: Connection<typeof api, typeof api>
  /** Every state change its first listener heard, as `state:cause`. */
  readonly states: string[]
  readonly host: EventTarget | undefined
  /** Connections on different channels never meet. */
  readonly channel: string
  /** Its document, in the `page` kind. */
  readonly page: Page | undefined
  /** Its window is gone (window kind): nothing more is done with it until the end. */
  zombie: boolean
  readonly hook: Hook
  /** Its default call timeout. */
  readonly timeout: number
  /** What it emitted, by token. */
  readonly emitted: Set<number>
  /** What it received, as `from:token`. */
  readonly received: Set<string>
}

interface CallRecord {
  readonly token: number
  readonly from: Peer
  readonly tracked: Tracked<{ t: number; by: number }>
  /** Only close() or a gone peer can settle it. */
  readonly unbounded: boolean
  readonly label: string
  readonly behaviour: Behaviour
  /** The timeout it runs under, its own or its connection's. */
  readonly timeout: number
  readonly signal: 'none' | 'before' | 'during' | 'after'
  /** Made on a connection already closed. */
  readonly late: boolean
  readonly at: number
  /** When it settled, on the fake clock. */
  settledAt?: number
}

/** The codes a call may fail with, given what its handler does. */
const REMOTE_FAILS: ReadonlySet<Behaviour> = new Set(['reject', 'throw'])

const LEGAL: Record<ConnectionState, readonly ConnectionState[]> = {
  connecting: ['open', 'closed'],
  open: ['reconnecting', 'closed'],
  reconnecting: ['open', 'closed', 'reconnecting'],
  closed: [],
}

// ---------------------------------------------------------------------------
// Listener bookkeeping: every addEventListener on a jsdom target (the window,
// the per-side pages) and on a Node one (MessagePort, AbortSignal), so that
// what a sequence added and never removed can be listed.

interface Registration {
  readonly target: object
  readonly type: string
  readonly fn: unknown
  readonly capture: boolean
  readonly once: boolean
}

const live: Registration[] = []
let recording = false
const restores: Array<() => void> = []

function patch(proto: any): void {
  const add = proto.addEventListener
  const remove = proto.removeEventListener
  proto.addEventListener = function (this: object, type: string, fn: unknown, options?: any) {
    // Node's ports listen for their own listeners (newListener, removeListener): not ours to count.
    if (recording && fn != null && type !== 'newListener' && type !== 'removeListener') {
      const capture = typeof options === 'boolean' ? options : options?.capture === true
      const once = typeof options === 'object' && options?.once === true
      if (!live.some((r) => r.target === this && r.type === type && r.fn === fn && r.capture === capture)) {
        live.push({ target: this, type, fn, capture, once })
      }
    }
    return add.call(this, type, fn, options)
  }
  proto.removeEventListener = function (this: object, type: string, fn: unknown, options?: any) {
    const capture = typeof options === 'boolean' ? options : options?.capture === true
    const i = live.findIndex((r) => r.target === this && r.type === type && r.fn === fn && r.capture === capture)
    if (i >= 0) live.splice(i, 1)
    return remove.call(this, type, fn, options)
  }
  restores.push(() => {
    proto.addEventListener = add
    proto.removeEventListener = remove
  })
}

function ownerOf(object: object, key: string): any {
  let proto = object
  while (proto !== null && !Object.hasOwn(proto, key)) proto = Object.getPrototypeOf(proto)
  return proto
}

beforeAll(() => {
  const { port1, port2 } = new MessageChannel()
  const protos = new Set([
    ownerOf(port1, 'addEventListener'),
    ownerOf(new AbortController().signal, 'addEventListener'),
    ownerOf(window, 'addEventListener'),
    ownerOf(new EventTarget(), 'addEventListener'),
    FakePort.prototype,
  ])
  port1.close()
  port2.close()
  for (const proto of protos) patch(proto)
})
afterAll(() => {
  for (const restore of restores.splice(0)) restore()
})

// ---------------------------------------------------------------------------

class SequenceFailure extends Error {}

/** One random sequence of `length` operations; throws a SequenceFailure naming the seed and the operations. */
/** What the sequences reached, counted over all of them: a driver that stopped reaching something would test nothing. */
type Reached = Map<string, number>

async function runSequence(kind: Kind, seed: number, length: number, reached: Reached): Promise<void> {
  const rand = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const chance = (p: number): boolean => rand() < p
  const log: string[] = []
  const check = (ok: boolean, what: string): void => {
    if (!ok) {
      const states = [...peers.values()].map((p) => `#${p.id}: ${p.states.join(', ')}`)
      throw new SequenceFailure(
        `${kind} seed ${seed}: ${what}\n  ${log.join('\n  ')}\n  states:\n  ${states.join('\n  ')}`,
      )
    }
  }
  // What a listener saw wrong: thrown from there it would only be reported as the page's error.
  const violations: string[] = []
  const note = (ok: boolean, what: string): void => {
    if (!ok) violations.push(what)
  }

  const { thrown, stop: stopCatching } = catchThrown()

  const idRand = mulberry32(seed ^ 0x5eed)
  ids.next = (size = 21) => Array.from({ length: size }, () => ALPHABET[Math.floor(idRand() * 64)]).join('')
  FakePort.all = [] // only wire-fuzz reads it: nothing kept from the sequences before
  vi.stubGlobal('MessageChannel', FakeChannel)
  vi.stubGlobal('MessagePort', FakePort)
  useFakeTimers()
  recording = true
  live.length = 0

  const sides: [Peer[], Peer[]] = [[], []]
  const dead: [boolean, boolean] = [false, false]
  const calls: CallRecord[] = []
  const behaviours = new Map<number, Behaviour>()
  const runs = new Map<number, number>()
  const returned = new Map<number, { t: number; by: number }>()
  const controllers: AbortController[] = []
  const handlerSignals = new WeakSet<object>()
  const peers = new Map<number, Peer>()
  let nextId = 1
  let nextToken = 1

  const { port1, port2 } = new MessageChannel()
  const wins = windowPair(PARENT, CHILD)
  const pages: [Page, Page] = [
    { host: new EventTarget(), origin: PARENT },
    { host: new EventTarget(), origin: CHILD },
  ]
  const pageWins = pageWindows(pages)
  /** The window of side `side`, as the other side sees it. */
  const windowOf = (side: 0 | 1): FakeWindow =>
    kind === 'page' ? pageWins[side] : side === 0 ? wins.parent : wins.child

  const checkState = (peer: Peer): void => {
    const last = peer.states.at(-1)?.split(':')[0] ?? 'connecting'
    check(peer.conn.state === last, `#${peer.id}: state is ${peer.conn.state}, its listener last heard ${last}`)
  }

  function makePeer(side: 0 | 1, plain = false, channel = chance(0.75) ? '' : 'b'): Peer | undefined {
    const id = nextId++
    const box: { peer?: Peer } = {}
    const hook: Hook =
      plain || chance(0.7)
        ? { kind: 'none' }
        : pick<Hook>([
            { kind: 'state', state: pick(['open', 'reconnecting'] as const) },
            {
              kind: 'trace',
              entry: pick(['syn', 'ack', 'fin', 'call', 'result', 'error', 'abort', 'event', 'close']),
              nth: 1 + Math.floor(rand() * 3),
            },
            { kind: 'event' },
            { kind: 'reconnect' },
          ])
    let seen = 0
    const trace =
      hook.kind === 'trace'
        ? (entry: TraceEntry): void => {
            if (entry.kind === hook.entry && ++seen === hook.nth && box.peer) {
              log.push(`    #${id} closes itself on trace ${entry.direction} ${entry.kind}`)
              box.peer.conn.close()
            }
          }
        : undefined
    const page = kind === 'page' ? pages[side] : undefined
    const work = (t: number, ctx: { signal: AbortSignal }): unknown => {
      runs.set(t, (runs.get(t) ?? 0) + 1)
      note(page === undefined || page.origin === LEGIT[side], `call ${t} reached #${id}, on a page at ${page?.origin}`)
      const answer = { t, by: id }
      const behaviour = behaviours.get(t) ?? 'value'
      const self = box.peer as Peer
      switch (behaviour) {
        case 'value':
          returned.set(t, answer)
          return answer
        case 'async':
          returned.set(t, answer)
          return Promise.resolve().then(() => answer)
        case 'delay':
          returned.set(t, answer)
          return new Promise((resolve) => setTimeout(() => resolve(answer), 1 + Math.floor((t * 37) % 700)))
        case 'reject':
          return Promise.reject(new Error(`rejects ${t}`))
        case 'throw':
          throw new Error(`throws ${t}`)
        case 'hang':
          return new Promise(() => {})
        case 'untilAbort':
          // Resolves once the call is given up on: after an abort, a timeout, or close().
          returned.set(t, answer)
          handlerSignals.add(ctx.signal)
          return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(answer)))
        case 'closeSelf':
          returned.set(t, answer)
          log.push(`    #${id} closes itself in the handler of ${t}`)
          self.conn.close()
          return answer
        case 'closeOnAbort':
          handlerSignals.add(ctx.signal)
          ctx.signal.addEventListener('abort', () => {
            log.push(`    #${id} closes itself as the signal of ${t} fires`)
            self.conn.close()
          })
          return new Promise(() => {})
        case 'emit':
          returned.set(t, answer)
          emit(self)
          return answer
        case 'callBack':
          // Calls the caller back and answers once that call settles, whichever way.
          returned.set(t, answer)
          return call(self, 'value').then(
            () => answer,
            () => answer,
          )
      }
    }
    const timeout = pick([1000, 1000, Number.POSITIVE_INFINITY])
    const connectTimeout = pick([2000, 5000, Number.POSITIVE_INFINITY])
    let conn: Connection<typeof api, typeof api>
    let host: EventTarget | undefined
    if (kind === 'port') {
      host = new EventTarget()
      conn = new ConnectionImpl<typeof api, typeof api>({
        link: new EndpointTransport(side === 0 ? port1 : port2),
        lifecycle: { host: host as unknown as Window },
        channel,
        remote: api,
        local: api,
        handlers: { work: work as never, checked: work as never },
        timeout,
        connectTimeout,
        debug: false,
        limits: DEFAULT_LIMITS,
        trace,
        onRejected: () => {},
      })
    } else if (kind === 'page') {
      // As connect() builds it, with a page (host) of its own for pagehide and pageshow.
      const target = windowOf(side === 0 ? 1 : 0)
      if (target.closed) return undefined
      host = page?.host
      const reporter: { conn?: ConnectionImpl<typeof api, typeof api> } = {}
      const link = new WindowTransport(
        target as unknown as Window,
        createAllowedOrigins([LEGIT[side === 0 ? 1 : 0]]),
        (rejection) => reporter.conn?.peerLeftAllowedOrigins(rejection),
        window,
      )
      reporter.conn = new ConnectionImpl<typeof api, typeof api>({
        link,
        lifecycle: {
          host: host as unknown as Window,
          peerGone: () => target.closed,
          opaquePeer: () => link.peerIsOpaque,
        },
        channel,
        remote: api,
        local: api,
        handlers: { work: work as never, checked: work as never },
        timeout,
        connectTimeout,
        debug: false,
        limits: DEFAULT_LIMITS,
        trace,
        onRejected: () => {},
      })
      conn = reporter.conn
    } else {
      const target: FakeWindow = side === 0 ? wins.child : wins.parent
      if (target.closed) return undefined
      conn = connect({
        target: target as unknown as Window,
        allowedOrigins: [side === 0 ? CHILD : PARENT],
        channel,
        remote: api,
        local: { contract: api, handlers: { work: work as never, checked: work as never } },
        timeout,
        connectTimeout,
        trace,
      })
    }
    const peer: Peer = {
      id,
      side,
      conn,
      states: [],
      host,
      channel,
      page,
      zombie: false,
      hook,
      timeout,
      emitted: new Set(),
      received: new Set(),
    }
    box.peer = peer
    peers.set(id, peer)
    conn.onStateChange((state, cause) => {
      const from = (peer.states.at(-1)?.split(':')[0] ?? 'connecting') as ConnectionState
      note(LEGAL[from].includes(state), `#${id}: illegal transition ${from} -> ${state}:${cause}`)
      peer.states.push(`${state}:${cause}`)
    })
    if (hook.kind === 'reconnect') {
      conn.onStateChange((state) => {
        if (state === 'closed') {
          log.push(`    #${id} closed: its state listener connects again`)
          makePeer(side, true, channel)
        }
      })
    }
    if (hook.kind === 'state') {
      conn.onStateChange((state) => {
        if (state === hook.state) {
          log.push(`    #${id} closes itself on state ${state}`)
          conn.close()
        }
      })
    }
    conn.on('tick', ({ t, from }) => {
      const key = `${from}:${t}`
      const sender = peers.get(from)
      note(sender !== undefined && sender.side !== side, `#${id} got tick ${key} from its own side`)
      note(sender?.channel === channel, `#${id} got tick ${key} from another channel`)
      note(sender?.emitted.has(t) === true, `#${id} got tick ${key}, never emitted`)
      note(!peer.received.has(key), `#${id} got tick ${key} twice`)
      peer.received.add(key)
      if (hook.kind === 'event') {
        log.push(`    #${id} closes itself on an event`)
        conn.close()
      }
    })
    log.push(
      `  #${id} on side ${side}, channel '${channel}': timeout ${timeout}, connectTimeout ${connectTimeout}, hook ${JSON.stringify(hook)}`,
    )
    sides[side].push(peer)
    return peer
  }

  const latest = (side: 0 | 1, channel?: string): Peer | undefined =>
    sides[side].filter((p) => channel === undefined || p.channel === channel).at(-1)
  const anyPeer = (side: 0 | 1): Peer | undefined => {
    const list = sides[side].filter((p) => !p.zombie)
    if (list.length === 0) return undefined
    return chance(0.8) ? list.at(-1) : pick(list)
  }

  function call(from: Peer, forced?: Behaviour, probe?: number): Promise<unknown> {
    const token = nextToken++
    const behaviour = forced ?? pick(BEHAVIOURS)
    behaviours.set(token, behaviour)
    const timeout = probe ?? pick([undefined, undefined, 5, 50, 300, 1500, Number.POSITIVE_INFINITY])
    const abort = probe ? 'none' : pick(['none', 'none', 'none', 'before', 'during', 'after'] as const)
    let signal: AbortSignal | undefined
    if (abort !== 'none') {
      const ac = new AbortController()
      if (abort === 'before') ac.abort()
      else controllers.push(ac)
      signal = ac.signal
    }
    const options = timeout === undefined && signal === undefined ? undefined : { timeout, signal }
    const wasClosed = from.conn.state === 'closed'
    const remote = from.conn.remote
    const method = forced === undefined && chance(0.25) ? remote.checked : remote.work
    const promise = options === undefined ? method(token) : method.with(options)(token)
    const effective = timeout ?? from.timeout
    const label = `${method === remote.checked ? 'checked ' : ''}call ${token} from #${from.id} (${behaviour}, timeout ${timeout}, abort ${abort})${wasClosed ? ' after close' : ''}`
    log.push(`  ${label}`)
    const record: CallRecord = {
      token,
      from,
      tracked: track(promise),
      unbounded: abort !== 'before' && !wasClosed && !Number.isFinite(effective),
      label,
      behaviour,
      timeout: effective,
      signal: abort,
      late: wasClosed,
      at: Date.now(),
    }
    const settled = (): void => {
      record.settledAt = Date.now()
    }
    promise.then(settled, settled)
    calls.push(record)
    return promise
  }

  function emit(from: Peer): void {
    const t = nextToken++
    log.push(`  #${from.id} emits tick ${t} (state ${from.conn.state})`)
    let threw: unknown
    // A trace sink may close the connection as the event goes out: emit() still returns.
    const before = from.conn.state
    try {
      from.conn.emit('tick', { t, from: from.id })
      from.emitted.add(t)
    } catch (error) {
      threw = error
    }
    note((threw !== undefined) === (before === 'closed'), `#${from.id}: emit threw ${String(threw)} in state ${before}`)
  }

  async function settle(ms: number, step = 250): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      await turns(2)
      await vi.advanceTimersByTimeAsync(step)
    }
    await turns(4)
  }

  const checkResults = (): void => {
    for (const c of calls) {
      check((runs.get(c.token) ?? 0) <= 1, `${c.label}: its handler ran ${runs.get(c.token)} times`)
      if (c.tracked.status === 'fulfilled') {
        const value = c.tracked.value
        check(runs.get(c.token) === 1, `${c.label}: resolved without its handler running`)
        check(
          JSON.stringify(value) === JSON.stringify(returned.get(c.token)),
          `${c.label}: resolved with ${JSON.stringify(value)}, its handler returned ${JSON.stringify(returned.get(c.token))}`,
        )
        const by = peers.get(value?.by ?? -1)
        check(by !== undefined && by.side !== c.from.side, `${c.label}: answered by its own side`)
        check(by?.channel === c.from.channel, `${c.label}: answered by #${by?.id}, on another channel`)
      }
      if (c.tracked.status === 'rejected') {
        const error = c.tracked.error as { code?: string; reason?: string }
        const code = error?.code
        const what = `${c.label}: rejected with ${String(error)} after ${(c.settledAt ?? 0) - c.at} ms`
        if (c.late) {
          // After close, a call is told what closed the connection.
          check(['DISCONNECTED', 'TIMEOUT', 'HANDSHAKE', 'ORIGIN'].includes(code ?? ''), what)
          continue
        }
        if (c.signal === 'before') check(code === 'ABORT', what)
        if (code === 'ABORT') check(c.signal === 'before' || c.signal === 'during' || c.signal === 'after', what)
        // A connection still alone after connectTimeout rejects its waiting calls with that TimeoutError (README).
        const connectTimedOut = c.from.states.includes('closed:connect-timeout')
        if (code === 'TIMEOUT' && !connectTimedOut) check((c.settledAt ?? 0) - c.at >= c.timeout, what)
        if (code === 'REMOTE') check(REMOTE_FAILS.has(c.behaviour) && runs.get(c.token) === 1, what)
        // ...or with an OriginError, when the peer window spoke only from an origin that is not allowed.
        if (code === 'ORIGIN') check(connectTimedOut, what)
        check(['ABORT', 'TIMEOUT', 'REMOTE', 'DISCONNECTED', 'ORIGIN'].includes(code ?? ''), what)
      }
    }
  }

  try {
    for (let step = 0; step < length; step++) {
      const roll = rand()
      const side: 0 | 1 = chance(0.5) ? 0 : 1
      if (dead[side]) continue
      if (roll < 0.16) {
        // connect: fresh, or a reload of the page, or a second connect that forgot to close the first.
        const channel = chance(0.75) ? '' : 'b'
        const current = latest(side, channel)
        if (current === undefined || current.conn.state === 'closed') {
          log.push(`connect on side ${side}, channel '${channel}'`)
          makePeer(side, false, channel)
        } else if (kind === 'port' && chance(0.5)) {
          log.push(`side ${side} reloads #${current.id} (pagehide, then gone)`)
          current.host?.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }))
          current.conn.close()
          makePeer(side, false, channel)
        } else if (kind === 'page' && chance(0.5)) {
          // The page reloads or navigates, maybe to an origin the other side does not allow, or back.
          const old = pages[side]
          const origin = chance(0.5) ? old.origin : old.origin === EVIL ? LEGIT[side] : EVIL
          log.push(`side ${side} navigates from ${old.origin} to ${origin}`)
          pages[side] = { host: new EventTarget(), origin }
          old.host.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }))
          // The old document is gone, and its connections with it.
          for (const p of sides[side]) if (p.page === old) p.conn.close()
          makePeer(side, false, channel)
        } else {
          log.push(`another connect on side ${side}, #${current.id} left open`)
          makePeer(side, false, channel)
        }
      } else if (roll < 0.5) {
        const from = anyPeer(side)
        if (from) call(from)
      } else if (roll < 0.58) {
        const from = anyPeer(side)
        if (from) emit(from)
      } else if (roll < 0.66) {
        const peer = anyPeer(side)
        if (peer) {
          log.push(`close #${peer.id} (${peer.conn.state})`)
          peer.conn.close()
          check(peer.conn.state === 'closed', `#${peer.id}: not closed after close()`)
        }
      } else if (roll < 0.72) {
        const ac = controllers.find((c) => !c.signal.aborted && chance(0.5))
        if (ac) {
          log.push(`abort controller ${controllers.indexOf(ac)}`)
          ac.abort()
        }
      } else if (roll < 0.76) {
        const peer = latest(side)
        if (kind === 'port' && peer && peer.conn.state !== 'closed') {
          log.push(`side ${side} (#${peer.id}) goes into the back/forward cache and comes back`)
          peer.host?.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
          peer.host?.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
        } else if (kind === 'page' && chance(0.7)) {
          log.push(`side ${side} (${pages[side].origin}) goes into the back/forward cache and comes back`)
          pages[side].host.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
          pages[side].host.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
        } else if (kind !== 'port' && chance(0.3)) {
          log.push(`the window of side ${side} is gone`)
          windowOf(side).closed = true
          dead[side] = true
          for (const p of sides[side]) p.zombie = true
        }
      } else if (roll < 0.88) {
        const n = 1 + Math.floor(rand() * 4)
        log.push(`turns ${n}`)
        await turns(n)
      } else {
        const ms = pick([1, 20, 100, 250, 1000, 3000])
        log.push(`advance ${ms} ms`)
        await turns(1)
        await vi.advanceTimersByTimeAsync(ms)
      }
      for (const list of sides) for (const peer of list) checkState(peer)
      check(violations.length === 0, violations.join('; '))
    }

    // Time passes: every call with a finite timeout settles.
    log.push('-- settle')
    await settle(20_000)
    for (const c of calls) {
      if (!c.unbounded) check(c.tracked.settled, `${c.label}: still pending after 20 s`)
    }
    checkResults()
    for (const peer of peers.values()) {
      // The pending-call table holds exactly the calls still pending: none settled and left behind.
      const waiting = calls.filter((c) => c.from === peer && !c.tracked.settled).length
      const table = (peer.conn as unknown as { caller: { size: number } }).caller.size
      check(table === waiting, `#${peer.id}: ${table} calls in its table, ${waiting} pending`)
      // ready: the proxy while open, a pending promise while reconnecting (README), never pending once closed.
      const ready = track(peer.conn.ready)
      await Promise.resolve()
      await Promise.resolve()
      const state = peer.conn.state
      const opened = peer.states.some((s) => s.startsWith('open'))
      const allowed =
        state === 'open'
          ? ['fulfilled']
          : state === 'closed'
            ? opened
              ? ['fulfilled', 'rejected']
              : ['rejected']
            : ['pending']
      check(allowed.includes(ready.status), `#${peer.id}: ready is ${ready.status} in state ${peer.conn.state}`)
    }

    // A gone window is noticed: everything on the other side is closed.
    for (const s of [0, 1] as const) {
      if (!dead[s]) continue
      for (const p of sides[s === 0 ? 1 : 0]) {
        check(p.conn.state === 'closed', `#${p.id}: ${p.conn.state} after its peer window went away`)
        check(p.conn.cause === 'peer-gone' || p.states.length > 0, `#${p.id}: cause ${p.conn.cause}`)
      }
    }

    // Two live, current connections on a channel find each other; a connection that says open can be called.
    // A page at a disallowed origin never opens, nor does anything on the other side while it is there.
    const evil = kind === 'page' && (pages[0].origin === EVIL || pages[1].origin === EVIL)
    for (const peer of peers.values()) {
      if (peer.page?.origin === EVIL)
        check(!peer.states.some((s) => s.startsWith('open')), `#${peer.id} opened at ${EVIL}`)
      else if (evil && !peer.zombie) check(peer.conn.state !== 'open', `#${peer.id} is open, its peer at ${EVIL}`)
    }
    for (const channel of ['', 'b']) {
      const a = latest(0, channel)
      const b = latest(1, channel)
      if (evil || dead[0] || dead[1] || !a || !b || a.conn.state === 'closed' || b.conn.state === 'closed') continue
      check(
        a.conn.state === 'open' && b.conn.state === 'open',
        `the latest connections on '${channel}', #${a.id} and #${b.id}, are ${a.conn.state} and ${b.conn.state} after 20 s`,
      )
    }
    const probes: CallRecord[] = []
    for (const list of sides) {
      for (const peer of list) {
        if (peer.zombie || peer.conn.state !== 'open') continue
        log.push(`  probe from #${peer.id}`)
        call(peer, 'value', 2000)
        probes.push(calls.at(-1) as CallRecord)
      }
    }
    await settle(3000)
    for (const p of probes) {
      check(p.tracked.settled, `${p.label}: pending`)
      const error = p.tracked.error as { code?: string } | undefined
      check(
        p.tracked.status === 'fulfilled' || error?.code === 'DISCONNECTED',
        `${p.label}: #${p.from.id} said open, the call failed with ${String(error)}`,
      )
    }
    checkResults()

    // Abort what is left ('after'), close both sides, in a random order.
    log.push('-- close everything')
    for (const ac of controllers) ac.abort()
    let everyone = [...sides[0], ...sides[1]]
    for (let i = everyone.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[everyone[i], everyone[j]] = [everyone[j] as Peer, everyone[i] as Peer]
    }
    for (const peer of everyone) peer.conn.close()
    // A state listener may have connected again as its connection closed.
    for (let round = 0; round < 3; round++) for (const list of sides) for (const peer of list) peer.conn.close()
    await settle(5000)
    everyone = [...sides[0], ...sides[1]]
    for (const c of calls) check(c.tracked.settled, `${c.label}: still pending after close()`)
    checkResults()
    for (const peer of everyone) {
      check(peer.conn.state === 'closed', `#${peer.id}: ${peer.conn.state} after close()`)
      check(peer.states.at(-1)?.startsWith('closed:') === true, `#${peer.id} heard ${peer.states.join(', ')}`)
      check(peer.states.filter((s) => s.startsWith('closed:')).length === 1, `#${peer.id}: closed more than once`)
      check((peer.conn as unknown as { caller: { size: number } }).caller.size === 0, `#${peer.id}: calls left`)
    }
    const timers = vi.getTimerCount()
    check(timers === 0, `${timers} timers left after close()`)
    const left = live.filter((r) => !handlerSignals.has(r.target) && !(r.once && (r.target as AbortSignal).aborted))
    check(
      left.length === 0,
      `listeners left after close(): ${left.map((r) => `${r.type} on ${r.target.constructor.name} (${String(r.fn).replace(/\s+/g, ' ').slice(0, 60)})`).join(', ')}`,
    )
    await turns(4)
    check(violations.length === 0, violations.join('; '))
    check(thrown.length === 0, `thrown into the page: ${thrown.map(String).join('; ')}`)
    const count = (what: string): void => {
      reached.set(what, (reached.get(what) ?? 0) + 1)
    }
    for (const peer of peers.values()) for (const state of peer.states) count(state)
    for (const c of calls) {
      count(`${c.label.startsWith('checked') ? 'checked ' : ''}${c.tracked.status}`)
      count(`${c.tracked.status} ${(c.tracked.error as { code?: string } | undefined)?.code ?? ''}`)
    }
  } finally {
    recording = false
    for (const list of sides) for (const peer of list) peer.conn.close()
    port1.close()
    port2.close()
    vi.clearAllTimers()
    vi.useRealTimers()
    vi.unstubAllGlobals()
    await turns(2)
    stopCatching()
  }
}

const SEQUENCES = Number(process.env.FUZZ_SEQUENCES ?? 200)
const LENGTH = Number(process.env.FUZZ_LENGTH ?? 30)
const FIRST = Number(process.env.FUZZ_FIRST ?? 1)

describe('the connection lifecycle, under random sequences of operations', () => {
  const over = {
    port: 'a MessageChannel',
    window: 'two windows, through connect()',
    page: 'two windows whose pages come and go',
  }
  for (const kind of ['port', 'window', 'page'] as const) {
    it(`over ${over[kind]}: ${SEQUENCES} seeded sequences keep every invariant`, async () => {
      const failures: string[] = []
      const reached: Reached = new Map()
      const only = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
      for (let seed = only ?? FIRST; seed <= (only ?? FIRST + SEQUENCES - 1); seed++) {
        try {
          await runSequence(kind, seed, LENGTH, reached)
        } catch (error) {
          if (!(error instanceof SequenceFailure)) throw error
          failures.push(error.message)
          if (failures.length >= 5) break
        }
      }
      expect(failures).toEqual([])
      if (only !== undefined) return
      const expected = [
        'fulfilled',
        'checked fulfilled',
        'rejected TIMEOUT',
        'rejected ABORT',
        'rejected REMOTE',
        'rejected DISCONNECTED',
        'open:handshake',
        'reconnecting:peer-reloaded',
        'open:peer-reloaded',
        'closed:closed',
        'closed:peer-closed',
        'closed:connect-timeout',
        ...(kind === 'window' ? [] : ['reconnecting:page-hidden', 'reconnecting:peer-unloaded']),
        ...(kind === 'port' ? [] : ['closed:peer-gone']),
        ...(kind === 'page' ? ['reconnecting:origin-changed'] : []),
      ]
      if (process.env.FUZZ_STATS) console.log(kind, JSON.stringify([...reached].sort()))
      expect(expected.filter((what) => !reached.has(what))).toEqual([])
    }, 60_000)
  }
})
