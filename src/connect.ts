import { type Connection, ConnectionImpl, type Lifecycle } from './connection.js'
import type { Contract, EmptyContract, Handlers } from './contract.js'
import { defineContract } from './contract.js'
import { createAllowedOrigins } from './gate/allowed-origins.js'
import { DEFAULT_LIMITS } from './gate/limits.js'
import type { TraceSink } from './protocol/trace.js'
import { EndpointTransport } from './transport/endpoint-transport.js'
import type { Endpoint, Rejection, Transport } from './transport/transport.js'
import { WindowTransport } from './transport/window-transport.js'

/**
 * A class of the DOM lib, read off `globalThis` rather than named: a worker's
 * code compiled with the `webworker` lib alone (no `dom`, `skipLibCheck` off)
 * has no `HTMLIFrameElement` or `Window`, and a name it lacks would be an error
 * in these declarations. There the class is `never`: no such target exists.
 */
type DomClass<K extends string> = typeof globalThis extends { readonly [P in K]: { prototype: infer T } } ? T : never

/** What `connect()` can talk to. */
export type ConnectTarget = DomClass<'HTMLIFrameElement'> | DomClass<'Window'> | MessagePort | Worker | Endpoint

/** Options of {@link connect}. */
export interface ConnectOptions<R extends Contract = EmptyContract, L extends Contract = EmptyContract> {
  /** The peer: an iframe element, a window (`parent`, `opener`, a popup), a `MessagePort`, a `Worker`, or a worker's `self`. */
  target: ConnectTarget
  /**
   * Origins that may talk to this window: exact (`'https://widget.example'`)
   * or a subdomain pattern (`'https://*.example.com'`). Required for window
   * targets; `'*'` is refused.
   */
  allowedOrigins?: readonly string[] | undefined
  /**
   * Accept the opaque origin of sandboxed and `data:` frames: list `'null'` in
   * `allowedOrigins` too. The connection stays bound to the one target window.
   */
  allowOpaqueOrigin?: boolean | undefined
  /** The contract of the peer: what we call, and the events we listen to. */
  remote?: R | undefined
  /** What this side serves, and the events it emits. */
  local?: { contract: L; handlers: Handlers<L> } | undefined
  /** Default per-call timeout in ms (default 10 000); `Infinity` for none. */
  timeout?: number | undefined
  /** How long the first handshake may take before `ready` rejects with `TimeoutError` (default 10 000); `Infinity` for none. */
  connectTimeout?: number | undefined
  /** Names one of several independent connections between the same two windows (default `''`). */
  channel?: string | undefined
  /** Called once for each message that was dropped: wrong origin, wrong source, malformed, unknown id... */
  onRejected?: ((rejection: Rejection) => void) | undefined
  /** Sends handler stack traces to the caller. Off by default: stacks reveal file URLs. */
  debug?: boolean | undefined
  /**
   * Receives every message sent and received, handshake included (a received
   * one once it has passed the gate, the limits and the envelope's schema).
   * Off (and free) by default.
   */
  trace?: TraceSink | undefined
  /**
   * Largest message, in estimated bytes (8 per value, plus string lengths,
   * BigInt digits and binary byte lengths), checked before sending and on
   * receipt (default 32 MiB). Must be finite: the limit is also what bounds
   * the work of measuring a hostile message.
   */
  maxMessageBytes?: number | undefined
  /** Deepest nesting of a message, checked before sending and on receipt (default 100, at most 1000). */
  maxDepth?: number | undefined
}

const DEFAULT_TIMEOUT = 10_000
const EMPTY: Contract = defineContract({})

function isWindow(target: object): target is Window {
  try {
    // `closed` and `postMessage` are readable on a cross-origin WindowProxy, even one the
    // browser has severed (COOP); ports and workers have no `closed`.
    return typeof (target as Window).closed === 'boolean' && typeof (target as Window).postMessage === 'function'
  } catch {
    return false
  }
}

function isIframe(target: object): target is HTMLIFrameElement {
  try {
    return (target as Partial<Node>).nodeType === 1 && 'contentWindow' in target
  } catch {
    return false
  }
}

function isEndpoint(target: object): target is Endpoint {
  return (
    typeof (target as Endpoint).postMessage === 'function' &&
    typeof (target as Endpoint).addEventListener === 'function'
  )
}

// The popup's own header severs it too (any value but unsafe-none, whatever the opener
// sends), so the hint names both sides: the opener's alone sent users the wrong way.
const COOP_HINT =
  "Cross-Origin-Opener-Policy may sever a cross-origin popup (its window.opener is null and the opener sees it closed): serve the opener with 'same-origin-allow-popups', not 'same-origin', and the popup without the header."

function resolvePeerWindow(target: ConnectOptions['target'], host: Window | undefined): Window | undefined {
  // A cross-origin WindowProxy throws on most property reads, so it is recognised first.
  if (isWindow(target)) {
    if (target === host) {
      // Said for both mistakes: `window` in a framed page, window.parent in a page that is not framed.
      throw new TypeError(
        'connect(): target is this window itself; pass the peer (window.parent is this window when the page is not framed)',
      )
    }
    if (target.closed) {
      throw new TypeError(`connect(): the target window is already closed. ${COOP_HINT}`)
    }
    return target
  }
  if (isIframe(target)) {
    const win = target.contentWindow
    if (win === null) {
      throw new TypeError(
        'connect(): the iframe has no window yet; insert it into the document before calling connect()',
      )
    }
    return win
  }
  return undefined
}

function hostWindow(): Window | undefined {
  const g = globalThis as unknown as Partial<Window>
  return typeof g.window === 'object' && g.window === g ? (g as Window) : undefined
}

// Plain JavaScript gets no compile error for a schema or a bare object here.
function checkContract(option: string, value: unknown): void {
  const contract = value as Partial<Contract> | null | undefined
  if (typeof contract?.methods !== 'object' || typeof contract.events !== 'object') {
    throw new TypeError(`connect(): ${option} must be a contract made by defineContract({ methods, events })`)
  }
}

function checkHandlers(
  local: ConnectOptions<Contract, Contract>['local'],
): Record<string, (...args: any[]) => unknown> {
  if (local === undefined) return Object.create(null)
  checkContract('local.contract', local.contract)
  const handlers = local.handlers as Record<string, unknown> | undefined
  if (typeof handlers !== 'object' || handlers === null)
    throw new TypeError('connect(): local.handlers must be an object with one function per method')
  const table: Record<string, (...args: any[]) => unknown> = Object.create(null)
  for (const name of Object.keys(local.contract.methods)) {
    const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined
    // Own properties only: an inherited name (a class's method, `toString`) must not answer a call.
    if (typeof handler !== 'function')
      throw new TypeError(`connect(): local.handlers.${name} must be an own function (the contract declares it)`)
    // Called as a method of your object, so `this.otherHandler()` works, as its type says.
    table[name] = handler.bind(handlers)
  }
  return table
}

// Chromium delivers a message nested about 2500 levels deep as null, with no
// error on either side; a limit well below that keeps every refusal explicit.
const MAX_DEPTH_CEILING = 1000

function checkMaxDepth(depth: number | undefined): number {
  if (depth === undefined) return DEFAULT_LIMITS.maxDepth
  if (typeof depth !== 'number' || !(depth > 0)) {
    throw new TypeError(`connect(): maxDepth must be a positive number, got ${String(depth)}`)
  }
  if (depth > MAX_DEPTH_CEILING) {
    throw new TypeError(
      `connect(): maxDepth ${depth} is above ${MAX_DEPTH_CEILING}; browsers silently deliver deeper messages as null, so portcullis could not report them`,
    )
  }
  return depth
}

// Shared references let a few hundred bytes hold 2^60 paths: the walk stops
// only because every step spends from a finite budget (see gate/limits.ts).
function checkMaxBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_LIMITS.maxBytes
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `connect(): maxMessageBytes must be a finite positive number, got ${String(value)} (without a limit, measuring a message of shared references could take forever)`,
    )
  }
  return value
}

function checkPositive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new TypeError(`connect(): ${name} must be a positive number (or Infinity), got ${String(value)}`)
  }
  return value
}

/**
 * Opens a typed, origin-gated connection to another window, a port or a worker.
 *
 * @example
 * const iframe = document.querySelector('iframe')!
 * const conn = connect({
 *   target: iframe,
 *   allowedOrigins: ['https://widget.example'],
 *   remote: widgetApi,
 *   local: { contract: hostApi, handlers: { getTheme: () => 'dark' } },
 * })
 * const widget = await conn.ready
 * await widget.add(1, 2) // 3, validated on both sides
 * conn.on('resized', ({ height }) => { iframe.style.height = `${height}px` })
 */
export function connect<R extends Contract = EmptyContract, L extends Contract = EmptyContract>(
  options: ConnectOptions<R, L>,
): Connection<R, L> {
  if (typeof options !== 'object' || options === null) throw new TypeError('connect(): pass an options object')
  const { target } = options
  if (typeof target !== 'object' || target === null) {
    throw new TypeError(
      target === null
        ? `connect(): target is null (no such element?); window.open() with 'noopener' or 'noreferrer' (or blocked) returns null, and so does window.opener in a popup opened that way or by a target=_blank link (noopener by default). ${COOP_HINT}`
        : `connect(): target is ${typeof target}; pass an iframe element, a window, a MessagePort or a Worker`,
    )
  }
  // Every option is checked before anything listens, so a mistake leaves nothing behind.
  const host = hostWindow()
  const peer = resolvePeerWindow(target, host)
  if (peer === undefined && !isEndpoint(target)) {
    throw new TypeError(
      'connect(): target must be an iframe element, a window, a MessagePort, a Worker or a worker scope',
    )
  }
  if (peer !== undefined && host === undefined) {
    throw new TypeError('connect(): a window target needs a window to listen on')
  }
  const allowed =
    peer === undefined
      ? undefined
      : createAllowedOrigins(options.allowedOrigins, { allowOpaqueOrigin: options.allowOpaqueOrigin === true })
  const channel = options.channel ?? ''
  if (typeof channel !== 'string') throw new TypeError('connect(): channel must be a string')
  if (options.remote !== undefined) checkContract('remote', options.remote)
  const handlers = checkHandlers(options.local as ConnectOptions<Contract, Contract>['local'])
  const timeout = checkPositive('timeout', options.timeout, DEFAULT_TIMEOUT)
  const connectTimeout = checkPositive('connectTimeout', options.connectTimeout, DEFAULT_TIMEOUT)
  const limits = {
    maxBytes: checkMaxBytes(options.maxMessageBytes),
    maxDepth: checkMaxDepth(options.maxDepth),
  }

  const reporter = { connection: undefined as ConnectionImpl<R, L> | undefined }
  const userSink = options.onRejected
  const onRejected = (rejection: Rejection): void => {
    reporter.connection?.peerLeftAllowedOrigins(rejection)
    if (userSink === undefined) return
    try {
      userSink(rejection)
    } catch {
      // A throwing hook must not open a way to break the gate.
    }
  }
  const lifecycle: { -readonly [K in keyof Lifecycle]: Lifecycle[K] } = { host }
  let link: Transport
  let stopWatching: (() => void) | undefined
  if (peer !== undefined && allowed !== undefined && host !== undefined) {
    const windowLink = new WindowTransport(peer, allowed, onRejected, host)
    link = windowLink
    lifecycle.peerGone = () => peer.closed
    lifecycle.opaquePeer = () => windowLink.peerIsOpaque
    // Only a top-level window (a popup, an opener) can be severed by COOP; a frame is simply removed.
    if (peer.top === peer) lifecycle.goneBeforeOpen = COOP_HINT
  } else {
    link = new EndpointTransport(target as Endpoint)
    if (typeof Worker === 'function' && target instanceof Worker) {
      // A worker whose script fails to load (a 404, a wrong MIME type) or throws
      // at startup never answers; its error event says why.
      let failure: string | undefined
      const onError = (event: Event): void => {
        failure ??= (event as Partial<ErrorEvent>).message || 'its script did not load'
      }
      target.addEventListener('error', onError)
      lifecycle.unanswered = () =>
        failure === undefined ? 'does the worker call connect()?' : `the worker failed: ${failure}`
      stopWatching = () => target.removeEventListener('error', onError)
    }
  }
  let connection: ConnectionImpl<R, L>
  try {
    connection = new ConnectionImpl<R, L>({
      link,
      lifecycle,
      channel,
      remote: options.remote ?? EMPTY,
      local: options.local?.contract ?? EMPTY,
      handlers,
      timeout,
      connectTimeout,
      debug: options.debug === true,
      limits,
      trace: options.trace,
      onRejected,
    })
  } catch (error) {
    // A remote that is not a contract (plain JavaScript) throws only here, once the window listens.
    link.close()
    stopWatching?.()
    throw error
  }
  reporter.connection = connection
  // The first change (open or closed) ends the handshake, and with it the question.
  if (stopWatching !== undefined) connection.onStateChange(stopWatching)
  return connection
}
