/**
 * Scenarios and in-page helpers of the attack suite (test/browser/attacks).
 *
 * Loaded with `b: 'attacks'`; a page without `?s=` only installs the helpers
 * (`globalThis.attack`). Documents that have no query string (srcdoc, data:,
 * blob:, about:blank) set `globalThis.__attack = { s, params }` before loading
 * this bundle.
 *
 * Three kinds of actors:
 * - `open()`: a real portcullis endpoint (the parent, the child, a full peer);
 * - `hostile`: a raw attacker that speaks the wire protocol perfectly
 *   (SYN, ACK with a port, calls, replies, events, close) to any window it can
 *   reach, answers every SYN it sees with an ACK, and records all it receives;
 * - `rogue`: a raw peer that completes a real handshake as the follower and
 *   then misbehaves on the private port (forged and replayed replies,
 *   prototype-path calls, polluting payloads).
 */
import type * as Zod from 'zod'
import type * as Library from '../../../src/index.js'
import type { Connection, Rejection, TraceEntry } from '../../../src/index.js'
import { count, runScenario, t, params as urlParams } from './runner.js'

// The library and zod come from lib.js, loaded first on every page: this bundle stays small,
// so the many frames of the suite load fast.
const { connect, defineContract } = (globalThis as unknown as { portcullis: typeof Library }).portcullis
const z = (globalThis as unknown as { z: typeof Zod }).z

interface Injected {
  s: string
  params: Record<string, string>
}
const injected = (globalThis as { __attack?: Injected }).__attack
const params = injected ? new URLSearchParams(injected.params) : urlParams

/** What the victim (usually the child frame) serves. */
export const victimApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.unknown()]), output: z.unknown() },
    /** Its handler also returns an `internal` field, which the output schema strips before sending. */
    profile: { input: z.tuple([z.object({ name: z.string() })]), output: z.object({ name: z.string() }) },
    tags: { input: z.tuple([z.record(z.string(), z.number())]), output: z.array(z.string()) },
    /** Resolves when the test calls `attack.release(key, value)` in this page. */
    hold: { input: z.tuple([z.string()]), output: z.string() },
    /** Throws a PaymentDeclined error with own data and a cause. */
    fail: { input: z.tuple([z.string()]), output: z.never() },
    /** Returns a string of `n` characters. */
    big: { input: z.tuple([z.number()]), output: z.string() },
    /** Throws an Error whose own property `blob` is a string of `n` characters. */
    failBig: { input: z.tuple([z.number()]), output: z.never() },
  },
  events: { note: z.object({ text: z.string() }) },
})

/** What the host (usually the parent page) serves. */
export const hostApi = defineContract({
  methods: {
    greet: { input: z.tuple([z.string()]), output: z.string() },
    echo: { input: z.tuple([z.unknown()]), output: z.unknown() },
    hold: { input: z.tuple([z.string()]), output: z.string() },
  },
  events: { theme: z.object({ mode: z.string() }) },
})

/**
 * What the middle frame of a chain serves (scenario `relay`): each method calls
 * on, over its own connection, to the victim it embeds.
 */
export const relayApi = defineContract({
  methods: {
    /** Calls `method(...args)` on the inner victim; its error propagates unchanged. */
    relay: { input: z.tuple([z.string(), z.array(z.unknown())]), output: z.unknown() },
    /** The same, but the inner error becomes the `cause` of the relay's own Error. */
    relayWrapped: { input: z.tuple([z.string(), z.array(z.unknown())]), output: z.unknown() },
  },
})

const contracts = { victim: victimApi, host: hostApi, relay: relayApi, none: defineContract({}) }
type ContractName = keyof typeof contracts

/** Everything a page records for the test, read with `evaluate(() => t....)`. */
interface Record_ {
  inbox: Array<{ origin: string; data: unknown; ports: number }>
  portInbox: unknown[]
  trace: TraceEntry[]
  states: string[]
  rejectionCount: number
  calls: Record<string, Outcome | { state: 'pending' }>
  peer: { ready: string; greet?: Outcome }
  flood: { sent: number; ms: number }
  /** What arrived on the ports offered with `offerPort`, by key. */
  offers: Record<string, unknown[]>
  polluted: () => string[]
  /** Scenario `relay`: the inner connection's state ('pending', 'open' or an error code)... */
  innerReady: string
  /** ...and every error the relay got back from the inner victim, described. */
  caught: Described[]
}
const rec = t as typeof t & Record_
Object.assign(rec, {
  inbox: [],
  portInbox: [],
  trace: [],
  states: [],
  rejectionCount: 0,
  calls: Object.create(null),
  peer: { ready: 'pending' },
  flood: { sent: 0, ms: 0 },
  innerReady: 'pending',
  caught: [],
})

// ---------------------------------------------------------------------------
// Describing outcomes (everything must survive the trip through evaluate()).

type Described = Record<string, unknown>
export type Outcome = ({ ok: true; value: unknown } | ({ ok: false } & Described)) & { state: 'done'; ms: number }

/** The error's every own property (stack, cause chain included), as plain data. */
function describe(error: unknown, depth = 0): Described {
  if (typeof error !== 'object' || error === null) return { thrown: String(error) }
  const out: Described = {}
  for (const key of Object.getOwnPropertyNames(error)) {
    const value = (error as Record<string, unknown>)[key]
    out[key] = key === 'cause' && depth < 4 ? describe(value, depth + 1) : safe(value, 0)
  }
  // name and code are usually inherited or getters: copy them explicitly.
  const e = error as { name?: unknown; code?: unknown; message?: unknown }
  out.name = e.name
  out.code = e.code
  out.message = e.message
  return out
}

function safe(value: unknown, depth: number): unknown {
  // Huge strings stay in the page: the test needs their size, not their text.
  if (typeof value === 'string' && value.length > 10_000)
    return `${value.slice(0, 100)}... (${value.length} characters)`
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? String(value) : value
  }
  if (depth > 6) return '[deep]'
  if (Array.isArray(value)) return value.map((v) => safe(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const key of Object.getOwnPropertyNames(value)) {
    out[key === '__proto__' ? '[own __proto__]' : key] = safe((value as Record<string, unknown>)[key], depth + 1)
  }
  return out
}

/** Names of properties that leaked onto Object.prototype (and friends) in this realm. */
function polluted(): string[] {
  const found: string[] = []
  const probe = {} as Record<string, unknown>
  for (const key of ['polluted', 'isAdmin', 'evil', 'hacked']) {
    if (key in probe || key in Object.prototype || key in Array.prototype || key in Function.prototype) {
      found.push(key)
    }
  }
  for (const key of Object.getOwnPropertyNames(Object.prototype)) {
    const d = Object.getOwnPropertyDescriptor(Object.prototype, key)
    if (d && typeof d.value !== 'function' && key !== '__proto__') found.push(`Object.prototype.${key}`)
  }
  return found
}
rec.polluted = polluted

// ---------------------------------------------------------------------------
// Arguments that cannot cross evaluate() are built in the page.

/**
 * `{ $string: n }`, `{ $deep: n }`, `{ $json: text }`, `{ $view: [bufferBytes, viewBytes] }`
 * and `{ $error: n }` (an Error whose message has n characters) stand for values built here.
 */
function expand(arg: unknown): unknown {
  if (typeof arg !== 'object' || arg === null) return arg
  const a = arg as { $string?: number; $deep?: number; $json?: string; $view?: [number, number]; $error?: number }
  if (typeof a.$string === 'number') return 'x'.repeat(a.$string)
  if (typeof a.$deep === 'number') return deep(a.$deep)
  if (typeof a.$json === 'string') return JSON.parse(a.$json)
  if (Array.isArray(a.$view)) return new Uint8Array(new ArrayBuffer(a.$view[0]), 0, a.$view[1])
  if (typeof a.$error === 'number') return new Error('x'.repeat(a.$error))
  return arg
}

/** An object nested `n` levels: `{ d: { d: ... { d: 0 } } }` has `n` objects. */
function deep(n: number): unknown {
  let value: unknown = 0
  for (let i = 0; i < n; i++) value = { d: value }
  return value
}

// ---------------------------------------------------------------------------
// Real endpoints.

const holds: Record<string, (value: string) => void> = Object.create(null)

function hold(key: string): Promise<string> {
  return new Promise((resolve) => {
    holds[key] = resolve
  })
}

class PaymentDeclined extends Error {
  override name = 'PaymentDeclined'
  code = 'CARD_DECLINED'
  amount = 42
  retryable = false
}

const victimHandlers = {
  add: (a: number, b: number) => (count('add'), a + b),
  echo: (value: unknown) => (count('echo'), value),
  // `internal` is not in the output schema: it must never leave this window.
  profile: (p: { name: string }) => (count('profile'), { name: p.name, internal: 'server-only' }),
  tags: (r: Record<string, number>) => (count('tags'), Object.keys(r)),
  hold: (key: string) => (count('hold'), hold(key)),
  fail: (message: string) => {
    count('fail')
    throw new PaymentDeclined(message, { cause: new TypeError('gateway refused the card') })
  },
  big: (n: number) => (count('big'), 'x'.repeat(n)),
  failBig: (n: number) => {
    count('failBig')
    throw Object.assign(new Error('too much detail'), { blob: 'x'.repeat(n) })
  },
}

/** The middle frame's own connection to the victim it embeds (scenario `relay`). */
let inner: Connection<any, any> | undefined

async function relayCall(method: string, args: unknown[]): Promise<unknown> {
  if (inner === undefined) throw new Error('no inner connection yet')
  try {
    return await (inner.remote as Record<string, any>)[method](...args)
  } catch (error) {
    rec.caught.push(describe(error))
    throw error
  }
}

const relayHandlers = {
  relay: (method: string, args: unknown[]) => (count('relay'), relayCall(method, args)),
  relayWrapped: async (method: string, args: unknown[]) => {
    count('relayWrapped')
    try {
      return await relayCall(method, args)
    } catch (error) {
      throw new Error(`relay of ${method} failed`, { cause: error })
    }
  },
}

const hostHandlers = {
  greet: (name: string) => (count('greet'), `hello ${name}`),
  echo: (value: unknown) => (count('echo'), value),
  hold: (key: string) => (count('hold'), hold(key)),
}

export interface OpenOptions {
  /** 'parent', 'opener', or the id of an iframe of this page. */
  target: string
  allow: string[]
  opaque?: boolean
  serve?: ContractName
  remote?: ContractName
  debug?: boolean
  timeout?: number
  connectTimeout?: number
  maxMessageBytes?: number
  maxDepth?: number
  /** 'count' keeps only a counter (for floods). */
  rejections?: 'list' | 'count'
  trace?: boolean
}

function resolveTarget(target: string): Window | HTMLIFrameElement {
  if (target === 'parent') return window.parent
  if (target === 'opener') return window.opener as Window
  const element = document.getElementById(target)
  if (!(element instanceof HTMLIFrameElement)) throw new Error(`no iframe #${target}`)
  return element
}

/** Opens a real connection as `t.conn`, recording rejections, trace, states and events. */
function open(o: OpenOptions): Connection<any, any> {
  const serve = o.serve ?? 'none'
  const handlers =
    serve === 'victim' ? victimHandlers : serve === 'host' ? hostHandlers : serve === 'relay' ? relayHandlers : {}
  const options: Record<string, unknown> = {
    target: resolveTarget(o.target),
    allowedOrigins: o.allow,
    allowOpaqueOrigin: o.opaque,
    remote: contracts[o.remote ?? 'none'],
    local: { contract: contracts[serve], handlers },
    debug: o.debug,
    timeout: o.timeout,
    connectTimeout: o.connectTimeout,
    onRejected:
      o.rejections === 'count'
        ? () => {
            rec.rejectionCount++
          }
        : (r: Rejection) => {
            rec.rejectionCount++
            rec.rejections.push({ ...r })
          },
    trace: o.trace ? (entry: TraceEntry) => rec.trace.push(entry) : undefined,
  }
  // The limit options are set only when a test asks for them.
  if (o.maxMessageBytes !== undefined) options.maxMessageBytes = o.maxMessageBytes
  if (o.maxDepth !== undefined) options.maxDepth = o.maxDepth
  const conn = connect(options as unknown as Parameters<typeof connect>[0]) as Connection<any, any>
  conn.onStateChange((state, cause) => rec.states.push(`${state}:${cause}`))
  for (const name of Object.keys(contracts[o.remote ?? 'none'].events)) {
    conn.on(name as never, (payload: unknown) => rec.events.push({ name, payload }))
  }
  rec.conn = conn
  return conn
}

function conn(): Connection<any, any> {
  if (rec.conn === undefined) throw new Error('no connection in this page')
  return rec.conn as Connection<any, any>
}

/** Calls `method` on the peer; resolves with the value or the described error, and the time taken. */
async function call(method: string, args: unknown[] = [], options?: Record<string, unknown>): Promise<Outcome> {
  const remote = conn().remote as Record<string, any>
  const expanded = args.map(expand)
  const started = performance.now()
  try {
    const fn = options ? remote[method].with(options) : remote[method]
    const value = await fn(...expanded)
    return { state: 'done', ok: true, value: safe(value, 0), ms: performance.now() - started }
  } catch (error) {
    return { state: 'done', ok: false, ...describe(error), ms: performance.now() - started }
  }
}

/** Starts a call without waiting: its outcome appears in `t.calls[key]`. */
function start(key: string, method: string, args: unknown[] = [], options?: Record<string, unknown>): void {
  rec.calls[key] = { state: 'pending' }
  void call(method, args, options).then((outcome) => {
    rec.calls[key] = outcome
  })
}

/** Sequential calls of `add`, `n` of them or for `ms` milliseconds; returns each round trip in ms. */
async function timeCalls(n: number, ms = Number.POSITIVE_INFINITY): Promise<number[]> {
  const add = (conn().remote as Record<string, any>).add
  const times: number[] = []
  const until = performance.now() + ms
  for (let i = 0; i < n && performance.now() < until; i++) {
    const started = performance.now()
    await add(i, 1)
    times.push(performance.now() - started)
  }
  return times
}

function release(key: string, value = `released ${key}`): void {
  const resolve = holds[key]
  if (resolve === undefined) throw new Error(`nothing holds ${key}`)
  delete holds[key]
  resolve(value)
}

/** Ids of calls this page sent, from the trace. */
function sentCallIds(method?: string): string[] {
  return rec.trace
    .filter((e) => e.direction === 'send' && e.kind === 'call' && (method === undefined || e.method === method))
    .map((e) => e.id as string)
}

/** Records every message this window receives, and every message on ports handed to it. */
function listenAll(): void {
  window.addEventListener('message', (event) => {
    rec.inbox.push({ origin: event.origin, data: safe(event.data, 0), ports: event.ports.length })
    for (const port of event.ports) {
      port.onmessage = (e) => rec.portInbox.push(safe(e.data, 0))
    }
  })
}

// ---------------------------------------------------------------------------
// The raw attacker.

const HIGH = 'z'.repeat(21) // greater than any nanoid: the victim would follow and answer with a SYN
const LOW = '-' // smaller than any nanoid: the victim would lead and hand over a port

/** Windows named by `victims`: parent, top, opener, frame:NAME, opener-frame:NAME, child (an iframe of this page). */
function victimWindows(spec: string): Window[] {
  const out: Window[] = []
  for (const name of spec.split(',').filter(Boolean)) {
    let win: Window | null | undefined
    try {
      if (name === 'parent') win = window.parent
      else if (name === 'top') win = window.top
      else if (name === 'opener') win = window.opener as Window | null
      else if (name.startsWith('frame:')) win = window.parent.frames[name.slice(6) as any]
      else if (name.startsWith('opener-frame:')) win = (window.opener as Window).frames[name.slice(13) as any]
      else if (name.startsWith('opener-parent')) win = (window.opener as Window).parent
      else win = (document.getElementById(name) as HTMLIFrameElement | null)?.contentWindow
    } catch {
      // A frame that does not exist (yet): reading a missing name of a cross-origin window throws.
      win = undefined
    }
    if (win && win !== window) out.push(win)
  }
  return out
}

/** A port whose every message is recorded: what an attacker offers in a forged ACK. */
function trapPort(): MessagePort {
  const { port1, port2 } = new MessageChannel()
  port1.onmessage = (e) => rec.portInbox.push(safe(e.data, 0))
  return port2
}

/**
 * One burst: every kind of message portcullis speaks, well formed. `replyIds`
 * are real call ids the test leaked to the attacker (to forge their replies).
 */
function burstMessages(replyIds: string[] = []): Array<{ data: unknown; port?: boolean }> {
  const forgedIds = ['forged-reply-id-00000', ...replyIds]
  return [
    { data: { pc: 1, k: 's', n: HIGH } },
    { data: { pc: 1, k: 's', n: LOW } },
    { data: { pc: 1, k: 'a', n: 'guessed-nonce-0000000', l: HIGH, c: '' }, port: true },
    { data: { pc: 2, k: 's', n: 'version-2-nonce' } },
    { data: { k: 'f' } },
    { data: { k: 'c', i: 'forged-call-id-000001', m: 'add', a: [1, 2] } },
    { data: { k: 'c', i: 'forged-call-id-000002', m: 'greet', a: ['attacker'] } },
    { data: { k: 'c', i: 'forged-call-id-000003', m: 'nope', a: [] } },
    { data: { k: 'c', i: 'forged-call-id-000004', m: '__proto__', a: [] } },
    ...forgedIds.flatMap((i) => [
      { data: { k: 'r', i, v: 666 } },
      { data: { k: 'e', i, e: { n: 'Error', m: 'forged failure' } } },
    ]),
    { data: { k: 'v', m: 'note', d: { text: 'forged event' } } },
    { data: { k: 'v', m: 'theme', d: { mode: 'forged' } } },
    { data: { k: 'x', r: 'closed' } },
  ]
}

/** How many messages one burst posts to each victim. */
function burstSize(replyIds: string[] = []): number {
  return burstMessages(replyIds).length
}

function burst(spec: string, replyIds: string[] = []): number {
  let sent = 0
  for (const victim of victimWindows(spec)) {
    for (const m of burstMessages(replyIds)) {
      victim.postMessage(m.data, '*', m.port ? [trapPort()] : [])
      sent++
    }
  }
  count('burst')
  return sent
}

/** Answers every SYN it sees, from anyone, with an ACK that echoes its nonce and offers a trap port. */
function adaptive(): void {
  window.addEventListener('message', (event) => {
    const data = event.data as { k?: unknown; n?: unknown } | null
    if (data?.k !== 's' || typeof data.n !== 'string' || !event.source) return
    const source = event.source as Window
    source.postMessage({ pc: 1, k: 'a', n: data.n, l: HIGH, c: '' }, '*', [trapPort()])
    source.postMessage({ pc: 1, k: 's', n: LOW }, '*')
    count('adapted')
  })
}

let flooding: { stop(): void } | undefined

/**
 * Starts posting well-formed messages at `rate` per second to each victim,
 * catching up on every tick so the rate holds even when timers are coarse.
 * `t.flood` counts what was sent; `stopFlood()` ends it.
 */
function startFlood(spec: string, rate: number): void {
  const victims = victimWindows(spec)
  const messages = burstMessages().filter((m) => !m.port)
  const started = performance.now()
  let sent = 0
  let stopped = false
  const tick = (): void => {
    if (stopped) return
    const elapsed = performance.now() - started
    const due = Math.floor((elapsed / 1000) * rate)
    while (sent < due) {
      const m = messages[sent % messages.length] as { data: unknown }
      for (const victim of victims) victim.postMessage(m.data, '*')
      sent++
    }
    rec.flood = { sent, ms: elapsed }
    setTimeout(tick, 4)
  }
  tick()
  flooding = {
    stop: () => {
      stopped = true
    },
  }
}

function stopFlood(): { sent: number; ms: number } {
  flooding?.stop()
  flooding = undefined
  return rec.flood
}

/** Bursts at `spec` every `every` ms (windows that appear later are included) until `stop()`. */
function barrage(spec: string, every: number): { stop(): void } {
  const timer = setInterval(() => burst(spec), every)
  burst(spec)
  return { stop: () => clearInterval(timer) }
}

/**
 * Replays handshake nonces the attacker somehow learned: for each, a SYN
 * naming it and ACKs echoing it (with trap ports), to each victim.
 */
function forgeHandshake(spec: string, nonces: string[]): number {
  let sent = 0
  for (const victim of victimWindows(spec)) {
    for (const n of nonces) {
      victim.postMessage({ pc: 1, k: 's', n }, '*')
      victim.postMessage({ pc: 1, k: 'a', n, l: HIGH, c: '' }, '*', [trapPort()])
      victim.postMessage({ pc: 1, k: 'a', n, l: LOW, c: '' }, '*', [trapPort()])
      sent += 3
    }
  }
  return sent
}

/** What arrived on each port offered with `offerPort`, by key. */
const offers: Record<string, unknown[]> = Object.create(null)
Object.assign(rec, { offers })

/**
 * Posts `data` (a forged ACK) to the parent with a fresh port, and keeps the
 * other end: what arrives on it is recorded in `t.offers[key]`.
 */
function offerPort(key: string, data: unknown, targetOrigin: string): void {
  const { port1, port2 } = new MessageChannel()
  const inbox: unknown[] = []
  offers[key] = inbox
  port1.onmessage = (e) => inbox.push(safe(e.data, 0))
  window.parent.postMessage(data, targetOrigin, [port2])
}

const receivedPorts: Array<{ data: unknown; port: MessagePort }> = []
const closedPorts = new WeakSet<MessagePort>()

/**
 * Keeps every port this window receives in a message, without touching it,
 * and notes each `close()` called on a port in this window (it wraps
 * `MessagePort.prototype.close`). The other end of a port cannot tell that
 * it was closed (Chromium has no `close` event on MessagePort), so this is
 * how the receiving side shows it. See `portsReceived()`.
 */
function watchPorts(): void {
  const close = MessagePort.prototype.close
  MessagePort.prototype.close = function (this: MessagePort) {
    closedPorts.add(this)
    close.call(this)
  }
  window.addEventListener('message', (event) => {
    for (const port of event.ports) receivedPorts.push({ data: safe(event.data, 0), port })
  })
}

/** Since `watchPorts()`: each port received, with the message that carried it and whether it was closed. */
function portsReceived(): Array<{ data: unknown; closed: boolean }> {
  return receivedPorts.map(({ data, port }) => ({ data, closed: closedPorts.has(port) }))
}

/**
 * Keeps this window's main thread busy (so every message posted to it waits
 * in its queue) until a GET of `url` (same origin, synchronous XHR) answers
 * 200, or `maxMs` have passed. A test releases it by creating that file
 * (test/browser/.build/ is served on every origin).
 */
function blockUntil(url: string, maxMs: number): { released: boolean; ms: number } {
  const started = performance.now()
  while (performance.now() - started < maxMs) {
    const xhr = new XMLHttpRequest()
    xhr.open('GET', url, false)
    try {
      xhr.send()
    } catch {
      // A failed request is a "not yet".
    }
    if (xhr.status === 200) return { released: true, ms: performance.now() - started }
  }
  return { released: false, ms: performance.now() - started }
}

/** A real portcullis peer from this window to its parent, trying to call `greet`. */
function fullPeer(allow: string[], target = 'parent', connectTimeout = 400): void {
  const c = open({ target, allow, remote: 'host', serve: 'victim', connectTimeout, timeout: 1000 })
  c.ready.then(
    async () => {
      rec.peer.ready = 'open'
      rec.peer.greet = await call('greet', ['from a peer'])
    },
    (error: { code?: string }) => {
      rec.peer.ready = String(error.code)
    },
  )
}

// ---------------------------------------------------------------------------
// The rogue peer: a correct handshake by hand, then anything on the port.

interface Rogue {
  port: MessagePort | undefined
  nonce: string
  /** Called for each call the real side makes; the test installs it. */
  onCall: ((message: { i: string; m: string; a: unknown[] }, send: (m: unknown) => void) => void) | undefined
  send(message: unknown): void
  /** Builds a message in this realm (e.g. with JSON.parse) and sends it. */
  sendJson(text: string): void
}

function rogue(targetOrigin: string, target: Window): Rogue {
  const self: Rogue = {
    port: undefined,
    nonce: LOW,
    onCall: undefined,
    send(message) {
      self.port?.postMessage(message)
    },
    sendJson(text) {
      self.port?.postMessage(JSON.parse(text))
    },
  }
  window.addEventListener('message', (event) => {
    if (event.source !== target) return
    rec.inbox.push({ origin: event.origin, data: safe(event.data, 0), ports: event.ports.length })
    const data = event.data as { k?: string; n?: string } | null
    const port = event.ports[0]
    if (self.port || !data || data.k !== 'a' || data.n !== self.nonce || !port) return
    self.port = port
    port.onmessage = (e) => {
      // Calls made in one turn arrive as one batch (an array of messages).
      for (const item of Array.isArray(e.data) ? e.data : [e.data]) {
        rec.portInbox.push(safe(item, 0))
        const m = item as { k?: string; i: string; m: string; a: unknown[] }
        if (m?.k === 'c') self.onCall?.(m, (reply) => port.postMessage(reply))
      }
    }
    port.postMessage({ k: 'f' })
  })
  const syn = (): void => {
    if (self.port) return
    target.postMessage({ pc: 1, k: 's', n: self.nonce }, targetOrigin)
    setTimeout(syn, 50)
  }
  syn()
  return self
}

// ---------------------------------------------------------------------------

const list = (name: string): string[] => (params.get(name) ?? '').split(',').filter(Boolean)
const flag = (name: string): boolean => params.get(name) === '1'
const num = (name: string): number | undefined => (params.has(name) ? Number(params.get(name)) : undefined)

Object.assign(globalThis, {
  attack: {
    victimApi,
    hostApi,
    open,
    call,
    start,
    release,
    timeCalls,
    sentCallIds,
    listenAll,
    burst,
    burstSize,
    adaptive,
    barrage,
    forgeHandshake,
    offerPort,
    watchPorts,
    portsReceived,
    blockUntil,
    startFlood,
    stopFlood,
    fullPeer,
    rogue,
    polluted,
  },
})

const scenarios: Record<string, () => void> = {
  /**
   * The victim child: serves victimApi to `?target=` (parent or opener),
   * allowing `?allow=` (comma-separated), with `?opaque=1`, `?debug=1`,
   * `?maxBytes=`, `?maxDepth=`, `?trace=1`, `?rej=count`, `?record=1` (record raw messages too),
   * `?ct=` (connectTimeout; default one minute, so that it keeps listening while it is attacked).
   */
  child() {
    if (flag('record')) listenAll()
    open({
      connectTimeout: num('ct') ?? 60_000,
      target: params.get('target') ?? 'parent',
      allow: list('allow'),
      opaque: flag('opaque'),
      serve: 'victim',
      remote: 'host',
      debug: flag('debug'),
      trace: flag('trace'),
      maxMessageBytes: num('maxBytes'),
      maxDepth: num('maxDepth'),
      rejections: params.get('rej') === 'count' ? 'count' : 'list',
    })
  },

  /** A raw attacker: records all it receives; `?adaptive=1` answers SYNs; `?burst=1` fires at `?victims=` at once. */
  hostile() {
    listenAll()
    if (flag('adaptive')) adaptive()
    if (flag('burst')) burst(params.get('victims') ?? '')
  },

  /** A real portcullis peer towards its parent, allowing `?allow=`, that tries to call greet (`?ct=`: its connectTimeout). */
  peer() {
    listenAll()
    fullPeer(list('allow'), 'parent', num('ct') ?? 400)
  },

  /** Records everything it receives; `?provoke=1` also sends its parent a SYN of each kind. */
  listener() {
    listenAll()
    if (flag('provoke')) {
      window.parent.postMessage({ pc: 1, k: 's', n: LOW }, '*')
      window.parent.postMessage({ pc: 1, k: 's', n: HIGH }, '*')
      count('provoked')
    }
  },

  /**
   * A framer: embeds `?child=` (a URL) as #child, connects to it allowing
   * `?childOrigin=`, tries to call add, and bursts at it.
   */
  framer() {
    listenAll()
    const iframe = document.createElement('iframe')
    iframe.id = iframe.name = 'child'
    iframe.src = params.get('child') ?? 'about:blank'
    iframe.addEventListener('load', () => {
      const c = open({
        target: 'child',
        allow: list('childOrigin'),
        remote: 'victim',
        connectTimeout: 400,
        timeout: 1000,
      })
      c.ready.then(
        async () => {
          rec.peer.ready = 'open'
          rec.peer.greet = await call('add', [1, 2])
        },
        (error: { code?: string }) => {
          rec.peer.ready = String(error.code)
          burst('child')
        },
      )
    })
    document.body.append(iframe)
  },

  /**
   * The middle of a chain: frames `?inner=` (a URL: a victim `child` page) as
   * #inner and connects to it (remote victimApi, allowing that URL's origin),
   * and serves relayApi to its parent, allowing `?allow=`, with `?debug=1`.
   * `t.innerReady` becomes 'open' once the inner connection is; `t.caught`
   * collects each error the relay got back from the inner victim.
   */
  relay() {
    const src = params.get('inner') ?? 'about:blank'
    const iframe = document.createElement('iframe')
    iframe.id = iframe.name = 'inner'
    iframe.src = src
    iframe.addEventListener(
      'load',
      () => {
        inner = connect({
          target: iframe,
          allowedOrigins: [new URL(src).origin],
          remote: victimApi,
          connectTimeout: 60_000,
        } as unknown as Parameters<typeof connect>[0]) as Connection<any, any>
        inner.ready.then(
          () => {
            rec.innerReady = 'open'
          },
          (error: { code?: string }) => {
            rec.innerReady = String(error.code)
          },
        )
      },
      { once: true },
    )
    document.body.append(iframe)
    open({ target: 'parent', allow: list('allow'), serve: 'relay', debug: flag('debug'), connectTimeout: 60_000 })
  },

  /** The rogue peer towards its parent, whose origin is `?parent=`; `globalThis.rogue` drives it. */
  rogue() {
    Object.assign(globalThis, { rogue: rogue(params.get('parent') ?? '*', window.parent) })
  },
}

if (injected) scenarios[injected.s]?.()
else runScenario(scenarios)
