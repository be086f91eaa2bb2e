import { nanoid } from 'nanoid'
import type { Contract, RemoteProxy } from '../contract.js'
import { DisconnectedError, LimitError } from '../errors.js'
import {
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_TIMEOUT,
  exchangeClient,
  type LimitOptions,
  limitsOption,
  malformedReply,
  parseReply,
  positive,
  type StartCall,
} from './shared.js'

/** Prefix of the global callbacks; the rest is the call's random id. */
export const JSONP_CALLBACK_PREFIX = '__portcullisJsonp_'

/** Options of {@link jsonpClient}. */
export interface JsonpClientOptions extends LimitOptions {
  /** The endpoint served by {@link jsonpHandler} (or a compatible server); may hold a query of its own. */
  url: string | URL
  /** Default per-call timeout in ms (default 10 000); `Infinity` for none. Per call: `remote.m.with({ timeout })`. */
  timeout?: number | undefined
  /** Longest request URL, in characters (default 8192). Longer calls fail with `LimitError` before any script exists. */
  maxUrlLength?: number | undefined
  /** The document the scripts go into (default: the global `document`); the callbacks live on its window. */
  document?: Document | undefined
}

/**
 * A fresh random global name for one call's callback: a nanoid
 * (`A-Za-z0-9_-`) made an identifier (`$` is not in nanoid's alphabet).
 * Call ids are a per-client prefix plus a counter, so they are not used here.
 */
function callbackName(): string {
  return JSONP_CALLBACK_PREFIX + nanoid().replaceAll('-', '$')
}

/**
 * Typed calls to a *server* endpoint on another origin that sends no CORS
 * headers, through JSONP, against the same contract as `connect()`; returns
 * the same typed proxy. Each call injects one `<script>` with a fresh random
 * callback name; the result is validated against the contract's output
 * schema before the call resolves, and the server's errors arrive as the same
 * error classes (`ValidationError`, `RemoteError`...). The global callback
 * and the script are removed on success, error, timeout and abort; a second
 * invocation of a callback is ignored; a URL over `maxUrlLength` fails with
 * `LimitError` before anything is injected, and a result or error over
 * `maxMessageBytes`/`maxDepth` with `LimitError` on receipt; a script that
 * does not load (a 404, a network error, a refused origin) fails with a
 * `DisconnectedError` that says so.
 *
 * JSONP runs the server's response as a script in this page: call only
 * servers you trust with your page. And the other way round, a JSONP
 * response is readable by ANY origin that can include the script, so never
 * serve secrets or per-user data over it.
 *
 * Two spellings: `jsonpClient(url, contract, options?)`, and
 * `jsonpClient(contract, { url, ...options })`.
 *
 * @example
 * import { jsonpClient } from 'portcullis/fallback'
 * const api = jsonpClient('https://legacy.example/rpc', weatherApi, { timeout: 5000 })
 * const forecast = await api.forecast('Oslo') // validated against weatherApi
 * await api.forecast.with({ signal: controller.signal })('Bergen')
 */
export function jsonpClient<C extends Contract>(
  url: string | URL,
  contract: C,
  options?: Omit<JsonpClientOptions, 'url'>,
): RemoteProxy<C>
export function jsonpClient<C extends Contract>(contract: C, options: JsonpClientOptions): RemoteProxy<C>
export function jsonpClient<C extends Contract>(
  first: string | URL | C,
  second: C | JsonpClientOptions,
  third?: Omit<JsonpClientOptions, 'url'>,
): RemoteProxy<C> {
  if (typeof first !== 'string' && !(first instanceof URL)) return client(first, second as JsonpClientOptions)
  if (third !== undefined && (typeof third !== 'object' || third === null)) {
    throw new TypeError('jsonpClient(url, contract, options): options must be an object')
  }
  return client(second as C, { ...third, url: first })
}

function client<C extends Contract>(contract: C, options: JsonpClientOptions): RemoteProxy<C> {
  const where = 'jsonpClient()'
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where}: pass { url }`)
  const doc = options.document ?? (globalThis as { document?: Document }).document
  if (doc === undefined) throw new TypeError(`${where}: there is no document; pass options.document`)
  let endpoint: URL
  try {
    endpoint = new URL(String(options.url), doc.baseURI)
  } catch {
    throw new TypeError(`${where}: url is not a URL: ${JSON.stringify(String(options.url))}`)
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw new TypeError(`${where}: url must be an http: or https: URL, got ${endpoint.protocol}`)
  }
  endpoint.hash = ''
  // Named in errors without the query, which may carry arguments.
  const shown = `${endpoint.origin}${endpoint.pathname}`
  const timeout = positive(where, 'timeout', options.timeout, DEFAULT_TIMEOUT, true)
  const maxUrlLength = positive(where, 'maxUrlLength', options.maxUrlLength, DEFAULT_MAX_URL_LENGTH)
  const limits = limitsOption(where, options)
  // The script runs in the document's own window, which is where it looks for the callback.
  const scope = doc.defaultView as unknown as Record<string, unknown> | null
  if (scope === null) throw new TypeError(`${where}: options.document has no window (it is not displayed in a frame)`)

  const start: StartCall = (message, exchange) => {
    const name = callbackName()
    const url = new URL(endpoint)
    url.searchParams.set('method', message.m)
    url.searchParams.set('args', JSON.stringify(message.a))
    url.searchParams.set('callback', name)
    const src = url.href
    if (src.length > maxUrlLength) {
      throw new LimitError(
        `the call to "${message.m}" needs a ${src.length}-character URL, over maxUrlLength (${maxUrlLength}); nothing was sent`,
      )
    }
    let called = false
    const callback = (data: unknown): void => {
      // Once per call: a second invocation, or one after a timeout, changes nothing.
      if (called) return
      called = true
      let reply: ReturnType<typeof parseReply>
      try {
        reply = parseReply(data, message.i)
      } catch {
        // Handed over by a script, not cloned: a getter or a Proxy trap may throw, and the call must still settle.
      }
      if (reply === undefined)
        exchange.fail(malformedReply(message.m, `${shown} did not answer with a portcullis reply`))
      else exchange.reply(reply)
    }
    const script = doc.createElement('script')
    script.async = true
    script.setAttribute('data-portcullis', 'jsonp')
    // The server's best-effort origin check reads the Referer: send the origin even under a no-referrer page policy.
    script.referrerPolicy = 'strict-origin'
    script.addEventListener('error', () =>
      exchange.fail(
        new DisconnectedError(
          'peer-gone',
          `JSONP call to "${message.m}" failed: ${shown} did not load as a script (an HTTP error such as 404, a network error, a response that is not JavaScript, or a server that refused this origin)`,
        ),
      ),
    )
    script.addEventListener('load', () => {
      // A classic script has run by its load event; no callback means no answer will come.
      if (!called)
        exchange.fail(
          new DisconnectedError(
            'peer-gone',
            `JSONP call to "${message.m}" failed: ${shown} loaded but did not call back; is it a portcullis jsonpHandler?`,
          ),
        )
    })
    scope[name] = callback
    try {
      script.src = src
      ;(doc.head ?? doc.documentElement).append(script)
    } catch (error) {
      // A Trusted Types policy refusing the URL, a document with no root: nothing was sent.
      delete scope[name]
      throw error
    }
    return () => {
      called = true
      script.remove()
      // A late response finds no function and, by the `typeof` guard of jsonpHandler, does nothing.
      if (scope[name] === callback) delete scope[name]
    }
  }
  return exchangeClient(contract, timeout, limits, start).remote
}
