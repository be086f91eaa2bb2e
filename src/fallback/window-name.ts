import type { Contract, Handlers } from '../contract.js'
import { LimitError } from '../errors.js'
import { createAllowedOrigins } from '../gate/allowed-origins.js'
import { type CallMessage, PROTOCOL_VERSION, parseSessionMessage } from '../protocol/envelope.js'
import { encodeError } from '../rpc/error-codec.js'
import { Responder } from '../rpc/responder.js'
import {
  argumentsOverLimit,
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_TIMEOUT,
  type ExchangeClient,
  exchangeClient,
  type LimitOptions,
  limitsOption,
  malformedReply,
  methodNotFound,
  parseReply,
  positive,
  type StartCall,
  servedMethods,
} from './shared.js'

/** The fragment key that marks a window.name request (its value is the protocol version). */
const REQUEST_KEY = 'portcullis-wn'
/** Default cap on a reply written to `window.name`, in characters. */
export const DEFAULT_MAX_REPLY_LENGTH = 1_048_576

/** Options of {@link windowNameClient}. */
export interface WindowNameClientOptions extends LimitOptions {
  /**
   * The responder page on the peer's origin: a page that runs
   * {@link serveWindowName}. Without a fragment; the request goes there.
   */
  responderUrl: string | URL
  /**
   * A blank page on this page's own origin (any same-origin URL that loads
   * fast and runs nothing; an empty HTML file is ideal). The responder
   * navigates the hidden frame there so that this page may read the reply.
   * It must load at this exact URL, without a redirect (`/relay` to
   * `/relay/`, http: to https:): a reply is read only from the relay page
   * itself, so behind a redirect every call times out, and a redirect to
   * another origin would hand that origin the reply.
   */
  relayUrl: string | URL
  /** Default per-call timeout in ms (default 10 000); `Infinity` for none. Per call: `remote.m.with({ timeout })`. */
  timeout?: number | undefined
  /** Longest request URL (responder URL + fragment) sent, in characters (default 8192). Longer calls fail with `LimitError` before any frame exists. */
  maxUrlLength?: number | undefined
  /** Longest reply read from `window.name`, in characters (default 1 MiB). */
  maxReplyLength?: number | undefined
  /** The document the hidden frames go into (default: the global `document`). */
  document?: Document | undefined
}

/** The typed proxy of a window.name peer, and the switch that ends it. */
export type WindowNameClient<C extends Contract> = ExchangeClient<C>

function pageDocument(given: Document | undefined, where: string): Document {
  const doc = given ?? (globalThis as { document?: Document }).document
  if (doc === undefined) throw new TypeError(`${where}: there is no document; pass options.document`)
  return doc
}

function httpUrl(where: string, name: string, value: unknown, base: string): URL {
  let url: URL
  try {
    url = new URL(String(value), base)
  } catch {
    throw new TypeError(`${where}: ${name} is not a URL: ${JSON.stringify(String(value))}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`${where}: ${name} must be an http: or https: URL, got ${url.protocol}`)
  }
  if (url.hash !== '' || String(value).includes('#')) {
    throw new TypeError(`${where}: ${name} must not have a fragment (#...); portcullis uses it`)
  }
  return url
}

/** The origin `options.responderUrl` names, resolved as {@link windowNameClient} resolves it. */
export function responderOrigin(where: string, options: WindowNameClientOptions): string {
  const doc = pageDocument(options.document, where)
  return httpUrl(where, 'responderUrl', options.responderUrl, doc.baseURI).origin
}

/**
 * Calls a peer that cannot use `postMessage`, through `window.name`. Each
 * call opens a hidden iframe on the peer's responder page with the request in
 * the URL fragment; the responder runs it through the same validated RPC
 * layer as `connect()`, writes the reply to its `window.name` and navigates
 * to `relayUrl`, a blank page on this origin; this page then reads the reply
 * once, clears `window.name` and removes the frame. A reply is accepted only
 * from the relay page and only for the call that frame carries; the result
 * is validated against the contract as with `connect()`.
 *
 * Values cross as JSON: `Date`, `Map`, `undefined` in objects and the like do
 * not survive, and transfer lists are ignored. There are no events, and the
 * peer cannot call back. A request the responder refuses (an origin it does
 * not allow, see its `onRejected`) gets no answer at all: the call fails
 * with `TimeoutError`.
 *
 * @example
 * import { windowNameClient } from 'portcullis/fallback'
 * const legacy = windowNameClient(widgetApi, {
 *   responderUrl: 'https://widget.example/portcullis-responder.html',
 *   relayUrl: '/portcullis-relay.html', // an empty page on this origin
 *   timeout: 5000,
 * })
 * await legacy.remote.add(1, 2) // 3, validated on both sides
 * legacy.close() // rejects what is in flight and removes every frame
 */
export function windowNameClient<C extends Contract>(
  contract: C,
  options: WindowNameClientOptions,
): WindowNameClient<C> {
  const where = 'windowNameClient()'
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where}: pass { responderUrl, relayUrl }`)
  const doc = pageDocument(options.document, where)
  const base = doc.baseURI
  const ownOrigin = new URL(doc.URL).origin
  const responder = httpUrl(where, 'responderUrl', options.responderUrl, base)
  const relay = httpUrl(where, 'relayUrl', options.relayUrl, base)
  if (relay.origin !== ownOrigin) {
    throw new TypeError(
      `${where}: relayUrl must be on this page's origin (${ownOrigin}), got ${relay.origin}; only a same-origin page can read the reply`,
    )
  }
  const relayHref = relay.href
  const timeout = positive(where, 'timeout', options.timeout, DEFAULT_TIMEOUT, true)
  const maxUrlLength = positive(where, 'maxUrlLength', options.maxUrlLength, DEFAULT_MAX_URL_LENGTH)
  const maxReplyLength = positive(where, 'maxReplyLength', options.maxReplyLength, DEFAULT_MAX_REPLY_LENGTH)
  const limits = limitsOption(where, options)

  const start: StartCall = (message, exchange) => {
    const fragment = new URLSearchParams({
      [REQUEST_KEY]: String(PROTOCOL_VERSION),
      r: relayHref,
      c: JSON.stringify(message),
    })
    const url = `${responder.href}#${fragment}`
    if (url.length > maxUrlLength) {
      throw new LimitError(
        `the call to "${message.m}" needs a ${url.length}-character URL, over maxUrlLength (${maxUrlLength}); nothing was sent`,
      )
    }
    const frame = doc.createElement('iframe')
    const onLoad = (): void => {
      const win = frame.contentWindow
      if (win === null) return
      let href: string
      try {
        // Throws while the frame still shows the responder (another origin).
        href = win.location.href
      } catch {
        return
      }
      // The initial about:blank, or anything that is not our relay page: not a reply.
      if (href.split('#')[0] !== relayHref) return
      const text = win.name
      win.name = ''
      if (text.length > maxReplyLength) {
        exchange.fail(
          new LimitError(
            `the reply to "${message.m}" is ${text.length} characters, over maxReplyLength (${maxReplyLength})`,
          ),
        )
        return
      }
      let data: unknown
      try {
        data = JSON.parse(text)
      } catch {
        exchange.fail(malformedReply(message.m, 'the relay page did not receive a portcullis reply in window.name'))
        return
      }
      const reply = (data as { i?: unknown } | null)?.i === message.i ? parseReply(data, message.i) : undefined
      if (reply === undefined) exchange.fail(malformedReply(message.m, 'window.name holds no reply to this call'))
      else exchange.reply(reply)
    }
    frame.addEventListener('load', onLoad)
    frame.setAttribute('data-portcullis', 'window-name')
    frame.setAttribute('aria-hidden', 'true')
    frame.tabIndex = -1
    frame.title = 'portcullis window.name transport'
    // The responder checks who embeds it; make sure it is told even under a no-referrer page policy.
    frame.referrerPolicy = 'origin'
    frame.style.cssText = 'position:absolute;width:0;height:0;border:0;visibility:hidden'
    frame.src = url
    ;(doc.body ?? doc.documentElement).append(frame)
    return () => {
      frame.removeEventListener('load', onLoad)
      frame.remove()
    }
  }
  return exchangeClient(contract, timeout, limits, start)
}

/** Why {@link serveWindowName} refused a request: it then writes nothing and navigates nowhere. */
export type WindowNameRejectionReason = 'origin' | 'embedder' | 'malformed' | 'limit' | 'version'

/** What `onRejected` of {@link serveWindowName} receives. */
export interface WindowNameRejection {
  readonly reason: WindowNameRejectionReason
  /** A short human-readable explanation. */
  readonly detail: string
  /** The return URL's or the embedder's origin, when the refusal is about one. */
  readonly origin?: string
}

/** What {@link serveWindowName} did with this page load. */
export type WindowNameServeStatus = 'none' | 'serving' | 'refused'

/** Options of {@link serveWindowName}. */
export interface ServeWindowNameOptions<C extends Contract> extends LimitOptions {
  /** What this page serves (the same contract as with `connect()`). */
  contract: C
  handlers: Handlers<C>
  /**
   * The callers' origins, with the same rules as `connect()`: required, no
   * `'*'`, exact origins or `'https://*.example.com'` patterns. A reply is
   * written only when the return URL's origin AND every origin embedding this
   * page is on the list. Opaque origins are never accepted here.
   */
  allowedOrigins: readonly string[]
  /** Sends handler stack traces to the caller. Off by default. */
  debug?: boolean | undefined
  /** Longest request (this page's URL) served, in characters (default 8192). */
  maxRequestLength?: number | undefined
  /** Longest reply written to `window.name`, in characters (default 1 MiB); a longer one becomes a `LimitError`. */
  maxReplyLength?: number | undefined
  /**
   * Called when a request is refused. Nothing is written and no navigation
   * happens, except for arguments over `maxMessageBytes`/`maxDepth` (reason
   * `'limit'`): as with `connect()`, the caller is then told with a `LimitError`.
   */
  onRejected?: ((rejection: WindowNameRejection) => void) | undefined
  /** The window this page runs in (default: the global `window`). */
  window?: Window | undefined
}

function embedderProblem(win: Window, allows: (origin: string) => boolean): WindowNameRejection | undefined {
  if (win.parent === win || win.parent === null) {
    return { reason: 'embedder', detail: 'this page is not in a frame; window.name requests come from a hidden iframe' }
  }
  // Whoever is same-origin with an ancestor can navigate this frame after the reply
  // is written (window.name survives navigation), so every ancestor must be allowed.
  const ancestors = win.location.ancestorOrigins as DOMStringList | undefined
  if (ancestors !== undefined && ancestors !== null) {
    for (let i = 0; i < ancestors.length; i++) {
      const origin = ancestors.item(i) ?? 'null'
      if (!allows(origin)) return { reason: 'embedder', detail: `embedded by ${origin}, which is not allowed`, origin }
    }
    return undefined
  }
  // No ancestorOrigins (older Firefox; ESR 153 has it): the Referer of the frame's navigation names its parent only.
  const referrer = win.document.referrer
  let origin: string
  try {
    origin = new URL(referrer).origin
  } catch {
    return { reason: 'embedder', detail: 'cannot tell who embeds this page (no ancestorOrigins, no referrer)' }
  }
  return allows(origin)
    ? undefined
    : { reason: 'embedder', detail: `embedded by ${origin}, which is not allowed`, origin }
}

/**
 * The responder side of the window.name transport: call it on the responder
 * page of the peer that serves `contract`. When this page load carries a
 * request, it runs the call through the same validated RPC layer as
 * `connect()` (arguments checked before the handler runs, the result before
 * it is written) and, only if the return URL's origin and every embedding
 * origin are in `allowedOrigins`, writes the reply to `window.name` and
 * navigates to the return URL. Otherwise it writes nothing and stays.
 *
 * Why the embedders too: `window.name` survives navigation, and any page
 * that is same-origin with an ancestor of the frame may navigate it, so an
 * embedder of another origin could send this page back to itself after the
 * reply is written and read it there. The embedders are read from
 * `location.ancestorOrigins`; where a browser lacks it (older Firefox; ESR
 * 153 has it), from the referrer, which names the direct parent only (best
 * effort). The page must be in a frame.
 *
 * Any page of an allowed origin can read a reply sent to it, so an allowed
 * origin must not host open redirects or untrusted pages.
 *
 * @returns `'none'` when the page was not loaded for a request (run the
 * page's usual code, e.g. `connect()`), `'serving'` or `'refused'` otherwise.
 *
 * @example
 * // portcullis-responder.html on https://widget.example
 * import { connect } from 'portcullis'
 * import { serveWindowName } from 'portcullis/fallback'
 * const handlers = { add: (a: number, b: number) => a + b }
 * const allowedOrigins = ['https://shop.example']
 * const status = serveWindowName({ contract: widgetApi, handlers, allowedOrigins })
 * // Not a window.name request: the same page can serve postMessage callers too.
 * if (status === 'none') connect({ target: parent, allowedOrigins, local: { contract: widgetApi, handlers } })
 */
export function serveWindowName<C extends Contract>(options: ServeWindowNameOptions<C>): WindowNameServeStatus {
  const where = 'serveWindowName()'
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${where}: pass { contract, handlers, allowedOrigins }`)
  }
  const allowed = createAllowedOrigins(options.allowedOrigins)
  // Built before looking at the request, so a mistake shows on every load.
  const methods = servedMethods(where, options.contract, options.handlers)
  const maxRequest = positive(where, 'maxRequestLength', options.maxRequestLength, DEFAULT_MAX_URL_LENGTH)
  const maxReply = positive(where, 'maxReplyLength', options.maxReplyLength, DEFAULT_MAX_REPLY_LENGTH)
  const limits = limitsOption(where, options)
  const debug = options.debug === true
  const win = options.window ?? (globalThis as unknown as Window)
  if (typeof win.location !== 'object' || win.location === null) throw new TypeError(`${where}: no window to serve`)

  const params = new URLSearchParams(win.location.hash.slice(1))
  if (!params.has(REQUEST_KEY)) return 'none'
  const refuse = (rejection: WindowNameRejection): 'refused' => {
    try {
      options.onRejected?.(rejection)
    } catch {
      // A throwing hook changes nothing.
    }
    return 'refused'
  }
  if (params.get(REQUEST_KEY) !== String(PROTOCOL_VERSION)) {
    return refuse({
      reason: 'version',
      detail: `request of protocol v${params.get(REQUEST_KEY)}, this side speaks v${PROTOCOL_VERSION}`,
    })
  }
  let target: URL
  try {
    target = new URL(params.get('r') ?? '')
  } catch {
    return refuse({ reason: 'malformed', detail: 'the request has no return URL' })
  }
  if ((target.protocol !== 'http:' && target.protocol !== 'https:') || !allowed.allows(target.origin)) {
    return refuse({
      reason: 'origin',
      detail: `return URL on ${target.origin}, which is not allowed`,
      origin: target.origin,
    })
  }
  const embedder = embedderProblem(win, (origin) => allowed.allows(origin))
  if (embedder !== undefined) return refuse(embedder)
  if (win.location.href.length > maxRequest) {
    return refuse({ reason: 'limit', detail: `request URL over maxRequestLength (${maxRequest})` })
  }
  let message: CallMessage | undefined
  try {
    const parsed = parseSessionMessage(JSON.parse(params.get('c') ?? ''))
    if (parsed?.k === 'c') message = parsed
  } catch {}
  if (message === undefined) return refuse({ reason: 'malformed', detail: 'the request holds no call' })

  const call = message
  let written = false
  const send = (reply: object): void => {
    if (written) return
    // May throw (a BigInt, a cycle): the Responder then sends the error instead.
    let text = JSON.stringify(reply)
    if (text.length > maxReply) {
      const error = new LimitError(
        `the reply to "${call.m}" is ${text.length} characters, over maxReplyLength (${maxReply})`,
      )
      text = JSON.stringify({ k: 'e', i: call.i, e: encodeError(error, debug, true) })
    }
    written = true
    win.name = text
    win.location.replace(target.href)
  }
  const tooBig = argumentsOverLimit(call.m, call.a, limits)
  if (tooBig !== undefined) {
    refuse({ reason: 'limit', detail: tooBig.message })
    send({ k: 'e', i: call.i, e: encodeError(tooBig, debug, true) })
    return 'serving'
  }
  const responder = new Responder(methods, send, debug, limits)
  if (!responder.handle(call)) send(methodNotFound(call.i, call.m))
  return 'serving'
}
