// Server side of JSONP, for Node's `http` (or anything with the same request
// and response shape). No runtime import of node:* here, and nothing runs at
// module load, so the browser entry may re-export it safely.
import type { Contract, Handlers } from '../contract.js'
import { TimeoutError, ValidationError } from '../errors.js'
import { type AllowedOrigins, createAllowedOrigins } from '../gate/allowed-origins.js'
import type { WireError } from '../protocol/envelope.js'
import { encodeError } from '../rpc/error-codec.js'
import { Responder } from '../rpc/responder.js'
import {
  argumentsOverLimit,
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_TIMEOUT,
  type LimitOptions,
  limitsOption,
  methodNotFound,
  positive,
  servedMethods,
} from './shared.js'

/** The part of `http.IncomingMessage` the handler reads. */
export interface JsonpRequest {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** The part of `http.ServerResponse` the handler writes. */
export interface JsonpResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  end(body?: string): unknown
  /** Used to abort the handler's signal when the client goes away. */
  on?(event: 'close', listener: () => void): unknown
  readonly writableEnded?: boolean
  /** Set when something else already answered: the handler then writes nothing. */
  readonly headersSent?: boolean
}

/** Why {@link jsonpHandler} refused a request before running anything. */
export interface JsonpRejection {
  /** The HTTP status answered: 200 when the client was told with an error reply (arguments over the size limits). */
  readonly status: 200 | 400 | 403 | 405 | 414
  /** `'url'`: a request target that is not a URL (Node's parser lets some through, e.g. `//[`). */
  readonly reason: 'callback' | 'origin' | 'method' | 'limit' | 'url'
  readonly detail: string
}

/** Options of {@link jsonpHandler}. */
export interface JsonpHandlerOptions extends LimitOptions {
  /**
   * A BEST-EFFORT origin check: when set, a request is answered only if
   * `Sec-Fetch-Site` is `same-origin` or the `Referer` names one of these
   * origins (same rules as `connect()`); otherwise 403. It stops browsers on
   * other origins from including the script in browsers that send those
   * headers; it is no access control: any non-browser client can forge both
   * headers, and JSONP responses are readable by whoever may include them.
   */
  allowedOrigins?: readonly string[] | undefined
  /**
   * Sends handler stack traces, and Node system errors as they are, to the
   * client. Off by default: any site can read a JSONP reply, and both reveal
   * file paths. Without it a handler's error still crosses with its name,
   * message and own fields (write messages meant for the client), except a
   * Node system error (one with `syscall` or `errno`, e.g. `ENOENT` from
   * `readFile`), whose message and fields name files and addresses: it
   * crosses as its name and a fixed message.
   */
  debug?: boolean | undefined
  /** Longest request URL served, in characters (default 8192); longer gets 414. */
  maxUrlLength?: number | undefined
  /**
   * Milliseconds a call may take before it is answered with a `TimeoutError`
   * and its handler's signal fires (default 10 000, the client's default
   * timeout; `Infinity` for none). A browser does not cancel a JSONP request
   * when its client gives up, so a request nobody answers keeps one of the
   * few connections it opens to this server (six in Chromium), and once they
   * are all taken every later call from that browser waits behind them.
   */
  timeout?: number | undefined
  /** Called once for each refused request (bad URL, callback, origin, method, length, arguments over the size limits). */
  onRejected?: ((rejection: JsonpRejection) => void) | undefined
}

/**
 * What a callback name may be: an ASCII identifier of at most 64 characters.
 * No dots, brackets, parentheses, spaces or non-ASCII, so the name can only
 * ever be a plain global function reference.
 */
export const JSONP_CALLBACK = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/

const JS_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/javascript; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}
const TEXT_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/plain; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}

/**
 * JSON that is safe inside a script: `<` (and `>`, `&`) cannot close a
 * `<script>` element or open a comment, and U+2028/U+2029, legal in JSON
 * strings, cannot break older JavaScript parsers. Those characters only ever
 * occur inside JSON strings, where a `\u` escape means the same.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/**
 * The JSONP body: `/**\/`-prefixed, and calling `callback` only if it is a
 * function (a late answer after the client gave up does nothing).
 * `callback` must already match {@link JSONP_CALLBACK}.
 *
 * The payload goes through `JSON.parse` of a string literal rather than in
 * as an object literal: in a literal an own `"__proto__"` key sets the
 * prototype instead of making a key, so data would change meaning between
 * the two sides. Parsed, it stays an own key, as over `postMessage`.
 */
export function jsonpBody(callback: string, payload: unknown): string {
  return `/**/ typeof ${callback} === 'function' && ${callback}(JSON.parse(${scriptSafeJson(JSON.stringify(payload))}));`
}

/**
 * Writes one answer, unless the response already has one. A throw here would
 * leave the listener (or reject a promise nobody awaits) and end a Node
 * process; when writing fails the client is gone or another part of the
 * server answered, so there is nobody left to tell.
 */
function answer(response: JsonpResponse, status: number, headers: Record<string, string>, body: string): void {
  if (response.writableEnded === true || response.headersSent === true) return
  try {
    response.writeHead(status, headers)
    response.end(body)
  } catch {}
}

/** A call being answered: where its answer goes, and the timer of its timeout. */
interface Waiting {
  callback: string
  method: string
  response: JsonpResponse
  timer?: ReturnType<typeof setTimeout>
}

/** The message that replaces a Node system error's when debug is off. */
export const SYSTEM_ERROR_MESSAGE = 'the server failed with a system error (details are sent only with debug: true)'

/**
 * A wire error as any site may read it: a Node system error (its fields,
 * kept as wire data, hold `syscall` or `errno`) loses its message, fields and
 * causes, at any depth of the cause chain.
 */
export function publicError(wire: WireError): WireError {
  const data = wire.d
  if (typeof data === 'object' && data !== null && (Object.hasOwn(data, 'syscall') || Object.hasOwn(data, 'errno'))) {
    return { n: wire.n, m: SYSTEM_ERROR_MESSAGE }
  }
  const cause = wire.x
  return typeof cause === 'object' && cause !== null ? { ...wire, x: publicError(cause as WireError) } : wire
}

function header(request: JsonpRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** Returns why the including page's origin is not accepted, or undefined when it is. */
export function originProblem(request: JsonpRequest, allowed: AllowedOrigins): string | undefined {
  if (header(request, 'sec-fetch-site') === 'same-origin') return undefined
  const referer = header(request, 'referer')
  if (referer === undefined || referer === '') return 'no Referer names the including page'
  let origin: string
  try {
    origin = new URL(referer).origin
  } catch {
    return 'the Referer is not a URL'
  }
  return allowed.allows(origin) ? undefined : `included by ${origin}, which is not allowed`
}

/**
 * A request handler for Node's `http` that answers JSONP calls against
 * `contract`: `GET <path>?method=<name>&args=<JSON array>&callback=<name>`,
 * as {@link jsonpClient} sends them. The callback name must be a plain
 * identifier (else 400, without echoing it); the arguments are validated
 * before the handler runs and the result before it is sent, through the same
 * RPC layer as `connect()`; errors reach the client as the same typed errors
 * (200 with an error reply, since a script cannot read a status). Replies are
 * `text/javascript; charset=utf-8` with `X-Content-Type-Options: nosniff` and
 * `Cache-Control: no-store`. Route to it yourself: it answers every request it
 * is given.
 *
 * A JSONP response is readable by ANY origin that can include the script:
 * never serve secrets or per-user data over it; `allowedOrigins` is a
 * best-effort check, not access control.
 *
 * @example
 * import { createServer } from 'node:http'
 * import { jsonpHandler } from 'portcullis/fallback'
 * const rpc = jsonpHandler(weatherApi, { forecast: async (city) => lookUp(city) })
 * createServer((req, res) => {
 *   if (req.url?.startsWith('/rpc?')) rpc(req, res)
 *   else res.writeHead(404).end()
 * }).listen(8080)
 */
export function jsonpHandler<C extends Contract>(
  contract: C,
  handlers: Handlers<C>,
  options: JsonpHandlerOptions = {},
): (request: JsonpRequest, response: JsonpResponse) => void {
  const where = 'jsonpHandler()'
  const methods = servedMethods(where, contract, handlers)
  const allowed = options.allowedOrigins === undefined ? undefined : createAllowedOrigins(options.allowedOrigins)
  const maxUrlLength = positive(where, 'maxUrlLength', options.maxUrlLength, DEFAULT_MAX_URL_LENGTH)
  const limits = limitsOption(where, options)
  const timeout = positive(where, 'timeout', options.timeout, DEFAULT_TIMEOUT, true)
  const debug = options.debug === true
  const waiting = new Map<string, Waiting>()
  let next = 0

  // Never throws: the Responder would turn a throw into a second reply, which
  // could throw the same way, out of the listener or into an unhandled rejection.
  const respond = (message: object): void => {
    const { k, i, v, e } = message as { k: string; i: string; v?: unknown; e?: unknown }
    const entry = waiting.get(i)
    if (entry === undefined) return
    waiting.delete(i)
    clearTimeout(entry.timer)
    let body: string
    try {
      body = jsonpBody(entry.callback, k === 'r' ? { k, v } : { k, e: debug ? e : publicError(e as WireError) })
    } catch {
      // A BigInt, a cycle, a throwing toJSON: the schema let through what JSON cannot carry.
      const error = new TypeError(
        `the ${k === 'r' ? 'result' : 'error'} of "${entry.method}" cannot be sent as JSON (a BigInt, a cycle or a throwing toJSON?)`,
      )
      body = jsonpBody(entry.callback, { k: 'e', e: encodeError(error, false, true) })
    }
    answer(entry.response, 200, { ...JS_HEADERS }, body)
  }
  const responder = new Responder(methods, respond, debug, limits)

  const serve = (request: JsonpRequest, response: JsonpResponse) => {
    const refuse = (status: JsonpRejection['status'], reason: JsonpRejection['reason'], detail: string): void => {
      try {
        options.onRejected?.({ status, reason, detail })
      } catch {}
      const headers: Record<string, string> = { ...TEXT_HEADERS }
      if (status === 405) headers.Allow = 'GET'
      answer(response, status, headers, `${detail}\n`)
    }
    if (request.method !== 'GET') return refuse(405, 'method', 'JSONP answers GET only')
    const path = request.url ?? '/'
    if (path.length > maxUrlLength) return refuse(414, 'limit', `request URL over ${maxUrlLength} characters`)
    let query: URLSearchParams
    try {
      query = new URL(path, 'http://jsonp.invalid').searchParams
    } catch {
      return refuse(400, 'url', 'the request target is not a URL')
    }
    const callback = query.get('callback')
    if (callback === null || !JSONP_CALLBACK.test(callback)) {
      return refuse(
        400,
        'callback',
        'invalid or missing callback parameter: it must be an ASCII identifier of at most 64 characters',
      )
    }
    if (allowed !== undefined) {
      const problem = originProblem(request, allowed)
      if (problem !== undefined) return refuse(403, 'origin', `origin check failed: ${problem}`)
    }
    const method = query.get('method') ?? ''
    const id = String(++next)
    const entry: Waiting = { callback, method: method.slice(0, 256), response }
    waiting.set(id, entry)
    response.on?.('close', () => {
      // The client went away before the answer: the handler's signal fires.
      clearTimeout(entry.timer)
      if (waiting.delete(id)) responder.abort(id)
    })
    // setTimeout fires at once past 2^31-1 ms, so longer is as good as none.
    if (timeout < 2 ** 31) {
      entry.timer = setTimeout(() => {
        // Answered, so that the browser's connection is free again; the handler's late result goes nowhere.
        responder.abort(id)
        respond({
          k: 'e',
          i: id,
          e: encodeError(new TimeoutError(`"${entry.method}" took over ${timeout} ms on the server`), false, true),
        })
      }, timeout)
    }
    let args: unknown
    try {
      args = JSON.parse(query.get('args') ?? '[]')
    } catch {
      args = undefined
    }
    if (!Array.isArray(args)) {
      const error = new ValidationError('arguments', method, [{ path: [], message: 'args must be a JSON array' }])
      respond({ k: 'e', i: id, e: encodeError(error, debug, true) })
      return
    }
    const tooBig = argumentsOverLimit(method, args, limits)
    if (tooBig !== undefined) {
      try {
        options.onRejected?.({ status: 200, reason: 'limit', detail: tooBig.message })
      } catch {}
      respond({ k: 'e', i: id, e: encodeError(tooBig, debug, true) })
      return
    }
    if (method === '' || method.length > 256 || !responder.handle({ k: 'c', i: id, m: method, a: args })) {
      respond(methodNotFound(id, method.slice(0, 256)))
    }
  }

  return (request, response) => {
    try {
      serve(request, response)
    } catch {
      // Nothing above should throw; if something does (a request object not
      // shaped like Node's), a 500 beats a throw that ends the process.
      answer(response, 500, { ...TEXT_HEADERS }, 'internal error\n')
    }
  }
}
