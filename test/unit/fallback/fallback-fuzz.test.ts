/**
 * Seeded fuzzing of the fallback module, from the hostile side of each of its doors:
 *
 * 1. jsonpHandler, fed random requests in process (a fake response, fake
 *    timers): hostile query strings (repeated, missing and junk parameters,
 *    every encoding, callback names that are keywords, builtins, escapes,
 *    line separators, `</script>`, 64 and 65 characters), malformed and deep
 *    JSON arguments, `__proto__` keys, methods named like Object.prototype
 *    members, arguments over the limits, handlers that throw, hang, answer
 *    late, lie or return what JSON cannot carry, clients that go away, the
 *    best-effort origin check with forged headers, non-GET methods, long URLs.
 *    After each sequence (time advanced past every timeout):
 *    - the handler never threw, and nothing was thrown into the process;
 *    - each request got at most one answer, none after its client went away,
 *      and every request whose client stayed got one (unless timeout is
 *      Infinity and its handler hangs);
 *    - the status and reason are the ones the request calls for, with exactly
 *      the documented headers, onRejected heard once per refusal, and a
 *      refusal's body never echoes the callback;
 *    - a 200 body is exactly `/**\/ typeof cb === 'function' && cb(JSON.parse("..."));`
 *      with the request's callback, holds no `<`, `>`, `&`, line terminator,
 *      U+2028 or U+2029, and run as a script it calls cb once, with a reply
 *      the client would read (parseReply), whose string literal decodes to it;
 *    - a handler ran only for a declared method with arguments that fit the
 *      limits and the schema, once per request, and never saw an inherited
 *      property coming from a `__proto__` key; a result reply passed the
 *      output schema; an error reply has no stack and no system-error detail
 *      unless debug;
 *    - nothing polluted Object.prototype or Array.prototype; no timer is left.
 * 2. jsonpHandler behind a real Node http server, fed the same requests as
 *    raw request lines (whatever bytes Node's parser lets through): it keeps
 *    serving, and what reaches the handler is answered as above.
 * 3. serveWindowName, on random page loads (return URLs of every shape,
 *    embedders, versions, malformed and oversize requests, stale names):
 *    window.name is written, and the page navigated, exactly when the return
 *    URL's origin and every embedder are allowed and the request is a call
 *    within the limits; what is written is one reply to that call.
 * 4. jsonpClient in jsdom, against a hostile "server" that calls a call's
 *    callback with random data, twice, the wrong call's callback, late, or
 *    fires the script's load or error event: every call settles once, with a
 *    value its schema accepts or a PortcullisError, and no script or global
 *    is left once it settled.
 *
 * A failure prints its seed and what the sequence did; FUZZ_SEED=n replays
 * one sequence of each part, FUZZ_SEQUENCES and FUZZ_FIRST explore further.
 */
import { EventEmitter } from 'node:events'
import { createServer, type Server } from 'node:http'
import { connect as netConnect } from 'node:net'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../../src/contract.js'
import { PortcullisError } from '../../../src/errors.js'
import { jsonpClient } from '../../../src/fallback/jsonp-client.js'
import {
  type JsonpHandlerOptions,
  type JsonpRejection,
  type JsonpRequest,
  jsonpHandler,
  SYSTEM_ERROR_MESSAGE,
} from '../../../src/fallback/jsonp-server.js'
import { parseReply } from '../../../src/fallback/shared.js'
import { serveWindowName, type WindowNameRejection } from '../../../src/fallback/window-name.js'
import { exceeds } from '../../../src/gate/limits.js'
import { mulberry32 } from '../fuzz-support.js'

const SEQUENCES = Number(process.env.FUZZ_SEQUENCES ?? 60)
const FIRST = Number(process.env.FUZZ_FIRST ?? 1)
const ONLY = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

/** A broken invariant, with the seed and the log of the sequence that broke it. */
class SequenceFailure extends Error {}

interface Rng {
  (): number
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

function rng(seed: number): Rng {
  const next = mulberry32(seed) as Rng
  next.int = (min, max) => min + Math.floor(next() * (max - min + 1))
  next.pick = (items) => items[Math.floor(next() * items.length)] as (typeof items)[number]
  next.chance = (p) => next() < p
  return next
}

/** Runs `sequence` for each seed; collects up to three failures and reports them with their seeds. */
async function fuzz(part: string, sequence: (seed: number, log: string[]) => Promise<void>): Promise<void> {
  const failures: string[] = []
  for (let seed = ONLY ?? FIRST; seed <= (ONLY ?? FIRST + SEQUENCES - 1); seed++) {
    const log: string[] = []
    try {
      await sequence(seed, log)
    } catch (error) {
      const why = error instanceof Error ? (error.stack ?? error.message) : String(error)
      failures.push(`${part}, FUZZ_SEED=${seed}:\n${why}\n  log:\n    ${log.slice(-40).join('\n    ')}`)
      if (failures.length >= 3) break
    }
  }
  expect(failures).toEqual([])
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new SequenceFailure(what)
}

/** Deep equality of JSON-like values, own keys only (a `__proto__` own key included). */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(
    (k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  )
}

/** What the process throws (uncaught) or leaves rejected (unhandled) while a part runs. */
function catchProcess(): { thrown: unknown[]; stop(): void } {
  const thrown: unknown[] = []
  const on = (error: unknown): void => {
    thrown.push(error)
  }
  process.on('uncaughtException', on)
  process.on('unhandledRejection', on)
  return {
    thrown,
    stop() {
      process.off('uncaughtException', on)
      process.off('unhandledRejection', on)
    },
  }
}

const PROTOTYPES = [Object.prototype, Array.prototype, Function.prototype, String.prototype]
const snapshot = () => PROTOTYPES.map((p) => Reflect.ownKeys(p).map(String).sort().join(','))
function checkUnpolluted(before: string[]): void {
  check(same(snapshot(), before), 'a prototype changed')
  const probe = {} as Record<string, unknown>
  for (const key of ['admin', 'polluted', 'pwned']) {
    check(probe[key] === undefined && (globalThis as Record<string, unknown>)[key] === undefined, `${key} leaked`)
  }
}

// Values ---------------------------------------------------------------------

const HOSTILE_STRINGS = [
  '</script><script>globalThis.pwned=1</script>',
  '</SCRIPT >',
  '<!--',
  '-->',
  '\n-->',
  '\u2028',
  '\u2029',
  '\ud800',
  '\udfff',
  '\u0000',
  '"',
  '\\',
  "'",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template literal is what the payload would try to close
  '`${globalThis.pwned=1}`',
  '")); globalThis.pwned=1; (("',
  '&amp;',
  '&',
  'é',
  '🚀',
  '\ufeff',
  '%00',
  '%3C/script%3E',
  '__proto__',
  '',
]
const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'k', 'v', 'e', 'name', 'admin', 'polluted', 'a']

function anyString(r: Rng): string {
  if (r.chance(0.5)) return r.pick(HOSTILE_STRINGS)
  const length = r.chance(0.1) ? r.int(100, 3000) : r.int(0, 12)
  let s = ''
  for (let i = 0; i < length; i++) {
    s += String.fromCharCode(
      r.chance(0.7) ? r.int(0x20, 0x7e) : r.pick([0, 0x0a, 0x2028, 0x2029, 0xd800, 0xdfff, 0xe9, r.int(0, 0xffff)]),
    )
  }
  return s
}

function anyValue(r: Rng, depth = 0): unknown {
  const roll = r.int(0, depth > 3 ? 5 : 9)
  switch (roll) {
    case 0:
      return r.pick([0, -0, 1, -1, 2 ** 53 + 2, 1e308, 0.1, -1e-300, 42])
    case 1:
    case 2:
      return anyString(r)
    case 3:
      return r.pick([true, false, null])
    case 4:
      return r.int(-100, 100)
    case 5:
      return r.pick(KEYS)
    case 6: {
      let deep: unknown = 0
      for (let i = r.int(1, 160); i > 0; i--) deep = r.chance(0.5) ? [deep] : { a: deep }
      return deep
    }
    case 7:
      return Array.from({ length: r.int(0, r.chance(0.1) ? 400 : 4) }, () => anyValue(r, depth + 1))
    default: {
      // Built as JSON text, so that a "__proto__" key is an own key, as it arrives.
      const entries = Array.from(
        { length: r.int(0, 4) },
        () => `${JSON.stringify(r.pick(KEYS))}:${JSON.stringify(anyValue(r, depth + 1)) ?? 'null'}`,
      )
      return JSON.parse(`{${entries.join(',')}}`)
    }
  }
}

// Part 1 and 2: jsonpHandler ---------------------------------------------------

const Throw = z.enum(['error', 'plain', 'system', 'cause', 'bigint', 'getter', 'string'])
const fuzzApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
    any: { input: z.tuple([z.unknown()]), output: z.unknown() },
    profile: {
      input: z.tuple([z.looseObject({ name: z.string() })]),
      output: z.object({ name: z.string(), admin: z.boolean() }),
    },
    keys: { input: z.tuple([z.record(z.string(), z.unknown())]), output: z.array(z.string()) },
    toString: { input: z.tuple([]), output: z.literal('declared') },
    hasOwnProperty: { input: z.tuple([]), output: z.literal('declared') },
    fail: { input: z.tuple([Throw]), output: z.never() },
    hang: { input: z.tuple([]), output: z.number() },
    later: { input: z.tuple([z.number().int().min(0).max(80)]), output: z.number() },
    lies: { input: z.tuple([]), output: z.number() },
    unsendable: { input: z.tuple([z.enum(['bigint', 'cycle', 'toJSON'])]), output: z.unknown() },
  },
})
type Method = keyof typeof fuzzApi.methods
const DECLARED = Object.keys(fuzzApi.methods) as Method[]

/** What the fuzz handlers saw, to check what ran. */
interface Ran {
  method: string
  args: unknown[]
  inherited?: boolean
}

function fuzzHandlers(ran: Ran[], signals: AbortSignal[]) {
  const system = () =>
    Object.assign(new Error("ENOENT: no such file or directory, open '/secret/path/db.json'"), {
      errno: -2,
      code: 'ENOENT',
      syscall: 'open',
      path: '/secret/path/db.json',
    })
  return {
    add: (a: number, b: number) => (ran.push({ method: 'add', args: [a, b] }), a + b),
    echo: (s: string) => (ran.push({ method: 'echo', args: [s] }), s),
    any: (value: unknown) => (ran.push({ method: 'any', args: [value] }), value),
    profile: (p: { name: string } & Record<string, unknown>) => {
      // An own "admin" key is the caller's to send; an inherited one would be a polluted prototype path.
      ran.push({
        method: 'profile',
        args: [p],
        inherited: Object.getPrototypeOf(p) !== Object.prototype || ('admin' in p && !Object.hasOwn(p, 'admin')),
      })
      return { name: p.name, admin: p.admin === true }
    },
    keys: (record: Record<string, unknown>) => (ran.push({ method: 'keys', args: [record] }), Object.keys(record)),
    toString: () => (ran.push({ method: 'toString', args: [] }), 'declared' as const),
    hasOwnProperty: () => (ran.push({ method: 'hasOwnProperty', args: [] }), 'declared' as const),
    fail: (kind: z.infer<typeof Throw>): never => {
      ran.push({ method: 'fail', args: [kind] })
      if (kind === 'plain') throw { code: 'E_PLAIN', message: 'plain </script>' }
      if (kind === 'system') throw system()
      if (kind === 'cause') throw new Error('wrapped', { cause: system() })
      if (kind === 'bigint') throw Object.assign(new Error('big'), { big: 1n })
      if (kind === 'getter') {
        throw Object.defineProperty(new Error('getter'), 'data', {
          enumerable: true,
          get() {
            throw new Error('no')
          },
        })
      }
      if (kind === 'string') throw '\u2028</script>'
      throw Object.assign(new RangeError('range \u2028 </script>'), { retry: false })
    },
    hang: (context: { signal: AbortSignal }) => {
      ran.push({ method: 'hang', args: [] })
      signals.push(context.signal)
      return new Promise<number>(() => {})
    },
    later: (ms: number) => {
      ran.push({ method: 'later', args: [ms] })
      return new Promise<number>((resolve) => setTimeout(() => resolve(ms), ms))
    },
    lies: () => (ran.push({ method: 'lies', args: [] }), 'not a number' as unknown as number),
    unsendable: (kind: 'bigint' | 'cycle' | 'toJSON') => {
      ran.push({ method: 'unsendable', args: [kind] })
      if (kind === 'bigint') return { n: 10n }
      if (kind === 'cycle') {
        const a: Record<string, unknown> = {}
        a.self = a
        return a
      }
      return {
        toJSON() {
          throw { big: 1n }
        },
      }
    },
  }
}

const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with'.split(
    ' ',
  ),
)
const HOSTILE_CALLBACKS = [
  'cb',
  '$',
  '_',
  `a${'b'.repeat(63)}`,
  `a${'b'.repeat(64)}`,
  '__portcullisJsonp_V1StGXR8_Z5jdHi6B$myT',
  'alert(1)//',
  'a.b',
  'a[0]',
  'é',
  '\\u0061',
  'cb\u2028',
  'cb\n',
  ' cb',
  'cb ',
  '</script>',
  '__proto__',
  'constructor',
  'toString',
  'eval',
  'Function',
  'setTimeout',
  'JSON',
  'this',
  'null',
  'typeof',
  'function',
  'new',
  'void',
  'import',
  'let',
  'async',
  '',
  '1abc',
  'ｆoo',
  'cb;alert(1)',
]

function anyCallback(r: Rng): string {
  if (r.chance(0.5)) {
    const head = 'abcxyzABC_$'
    const tail = `${head}0123456789`
    let name = r.pick([...head])
    for (let i = r.int(0, r.chance(0.2) ? 70 : 10); i > 0; i--) name += r.pick([...tail])
    return name
  }
  return r.pick(HOSTILE_CALLBACKS)
}

function anyMethod(r: Rng): string {
  if (r.chance(0.7)) return r.pick(DECLARED)
  return r.pick([
    '__proto__',
    'constructor',
    'valueOf',
    '__defineGetter__',
    'hasOwnProperty',
    'toString',
    'isPrototypeOf',
    'prototype',
    '',
    'x'.repeat(257),
    'add ',
    'ADD',
    '<script>',
    '\u2028',
    'then',
  ])
}

/** Arguments as JSON text, right for the method or not. */
function anyArgs(r: Rng, method: string): string | undefined {
  const roll = r.int(0, 9)
  if (roll === 0) return undefined
  if (roll === 1) {
    return r.pick([
      '[',
      '{',
      '"x"',
      'null',
      '[1,2',
      '',
      'NaN',
      '[1e400]',
      '{"0":1,"length":1}',
      '[1,]',
      '\u2028[]',
      `${'['.repeat(3000)}${']'.repeat(3000)}`,
      '[{"__proto__":{"admin":true},"name":"mallory"}]',
      '[{"name":"m","constructor":{"prototype":{"admin":true}}}]',
      '[{"__proto__":{"polluted":1}}]',
    ])
  }
  if (roll <= 6) {
    const right: Record<string, () => unknown[]> = {
      add: () => [r.int(-9, 9), r.chance(0.8) ? r.int(-9, 9) : anyValue(r)],
      echo: () => [r.chance(0.8) ? anyString(r) : anyValue(r)],
      any: () => [anyValue(r)],
      profile: () => [
        JSON.parse(
          `{"name":${JSON.stringify(anyString(r))}${r.chance(0.5) ? ',"__proto__":{"admin":true}' : ''}${r.chance(0.2) ? ',"admin":true' : ''}}`,
        ),
      ],
      keys: () => [anyValue(r)],
      fail: () => [r.pick(Throw.options)],
      later: () => [r.int(0, 80)],
      unsendable: () => [r.pick(['bigint', 'cycle', 'toJSON'])],
    }
    return JSON.stringify(Object.hasOwn(right, method) ? right[method]?.() : [])
  }
  return JSON.stringify(Array.from({ length: r.int(0, 3) }, () => anyValue(r)))
}

/** encodeURIComponent, with a lone surrogate sent as the invalid UTF-8 bytes of one (decoded as U+FFFD). */
function component(value: string): string {
  return value.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (c) =>
    c.length === 1 && c >= '\ud800' && c <= '\udfff' ? '%ED%A0%80' : encodeURIComponent(c),
  )
}

/** Encodes a query parameter value the way some client (or attacker) might. */
function encode(r: Rng, value: string): string {
  switch (r.int(0, 6)) {
    case 0:
      return value // raw: may hold &, #, spaces, anything
    case 1:
      return component(value).replace(/%20/g, '+')
    case 2:
      return component(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
    case 3:
      return component(component(value))
    case 4:
      // Every character percent-encoded, or a malformed escape tacked on.
      return r.chance(0.5)
        ? [...new TextEncoder().encode(value.replace(/[\ud800-\udfff]/g, '\ufffd'))]
            .map((b) => `%${b.toString(16).padStart(2, '0')}`)
            .join('')
        : `${component(value)}${r.pick(['%', '%E0%A4%A', '%zz', '%00'])}`
    default:
      return component(value)
  }
}

interface FuzzRequest extends JsonpRequest {
  readonly method: string | undefined
  readonly url: string | undefined
  readonly headers: Record<string, string | string[] | undefined>
}

const SHOP = 'https://shop.example'

function anyRequest(r: Rng, withOriginCheck: boolean): FuzzRequest {
  const method = anyMethod(r)
  const params: [string, string][] = []
  if (r.chance(0.95)) params.push(['method', method])
  const args = anyArgs(r, method)
  if (args !== undefined) params.push(['args', args])
  if (r.chance(0.95)) params.push(['callback', anyCallback(r)])
  // Repeated parameters (first or last), junk ones, and a shuffled order.
  for (let i = r.chance(0.3) ? r.int(1, 3) : 0; i > 0; i--) {
    const name = r.pick(['callback', 'method', 'args', 'callback[]', '', 'x', '__proto__'])
    const value = name === 'callback' ? anyCallback(r) : name === 'method' ? anyMethod(r) : anyString(r)
    if (r.chance(0.5)) params.unshift([name, value])
    else params.push([name, value])
  }
  if (r.chance(0.2)) params.sort(() => r() - 0.5)
  const query = params.map(([k, v]) => `${encode(r, k)}=${encode(r, v)}`).join(r.pick(['&', '&', '&', ';', '&&']))
  const path = r.pick(['/rpc', '/rpc', '/rpc', '/', '//x/rpc', 'http://other.example/rpc', '/a/../rpc', '*'])
  let url: string | undefined = `${path}?${query}${r.chance(0.05) ? '#frag' : ''}`
  if (r.chance(0.03)) url = r.pick(['//[', 'http://[/?callback=cb', '//x:abc/?callback=cb', '', undefined, '%'])
  const headers: Record<string, string | string[] | undefined> = { host: 'x' }
  if (withOriginCheck || r.chance(0.2)) {
    const referer = r.pick([
      `${SHOP}/page`,
      `${SHOP}/`,
      'https://SHOP.example:443/x',
      'http://shop.example/',
      'https://evil.example/',
      'https://shop.example.evil.example/',
      'not a url',
      '',
      undefined,
      [`${SHOP}/`, 'https://evil.example/'],
      ['https://evil.example/', `${SHOP}/`],
    ])
    if (referer !== undefined) headers.referer = referer
    const site = r.pick(['same-origin', 'same-site', 'cross-site', 'none', undefined, ['same-origin', 'cross-site']])
    if (site !== undefined) headers['sec-fetch-site'] = site
  }
  const verb = r.chance(0.92) ? 'GET' : r.pick(['POST', 'HEAD', 'OPTIONS', 'get', 'PUT', undefined])
  return { method: verb, url, headers }
}

const CALLBACK = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/
const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)

/** What the documentation says a request gets, before anything runs. */
function refusalOf(
  request: FuzzRequest,
  options: JsonpHandlerOptions,
): { status: JsonpRejection['status']; reason: JsonpRejection['reason'] } | undefined {
  if (request.method !== 'GET') return { status: 405, reason: 'method' }
  const path = request.url ?? '/'
  if (path.length > (options.maxUrlLength ?? 8192)) return { status: 414, reason: 'limit' }
  let query: URLSearchParams
  try {
    query = new URL(path, 'http://jsonp.invalid').searchParams
  } catch {
    return { status: 400, reason: 'url' }
  }
  const callback = query.get('callback')
  if (callback === null || !CALLBACK.test(callback)) return { status: 400, reason: 'callback' }
  if (options.allowedOrigins !== undefined && first(request.headers['sec-fetch-site']) !== 'same-origin') {
    let origin: string | undefined
    try {
      origin = new URL(first(request.headers.referer) ?? '').origin
    } catch {}
    if (origin !== SHOP) return { status: 403, reason: 'origin' }
  }
  return undefined
}

type Outcome =
  | { kind: 'refused'; status: number; reason: string }
  | { kind: 'args-not-array' }
  | { kind: 'limit' }
  | { kind: 'not-found' }
  | { kind: 'invalid-args' }
  | { kind: 'runs'; method: Method; args: unknown[] }

/** What a request that passed the door gets: the documented order of the checks. */
function outcomeOf(request: FuzzRequest, options: JsonpHandlerOptions): Outcome {
  const refusal = refusalOf(request, options)
  if (refusal !== undefined) return { kind: 'refused', ...refusal }
  const query = new URL(request.url ?? '/', 'http://jsonp.invalid').searchParams
  let args: unknown
  try {
    args = JSON.parse(query.get('args') ?? '[]')
  } catch {}
  if (!Array.isArray(args)) return { kind: 'args-not-array' }
  const limits = { maxBytes: options.maxMessageBytes ?? 32 * 1024 * 1024, maxDepth: options.maxDepth ?? 100 }
  if (exceeds(args, limits) !== undefined) return { kind: 'limit' }
  const method = query.get('method') ?? ''
  if (!Object.hasOwn(fuzzApi.methods, method)) return { kind: 'not-found' }
  const schema = fuzzApi.methods[method as Method].input
  const checked = schema.safeParse(args)
  if (!checked.success) return { kind: 'invalid-args' }
  return { kind: 'runs', method: method as Method, args: checked.data as unknown[] }
}

/** A response that records every write; `closed` is the client going away. */
class FuzzResponse extends EventEmitter {
  writes: { status: number; headers: Record<string, string> }[] = []
  bodies: string[] = []
  closedBeforeAnswer = false
  get writableEnded(): boolean {
    return this.bodies.length > 0
  }
  writeHead(status: number, headers: Record<string, string>) {
    this.writes.push({ status, headers: { ...headers } })
    return this
  }
  end(body = '') {
    this.bodies.push(body)
    return this
  }
  goAway(): void {
    if (this.bodies.length === 0) this.closedBeforeAnswer = true
    this.emit('close')
  }
}

const JS_HEADERS = {
  'Content-Type': 'text/javascript; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}
const TEXT_HEADERS = {
  'Content-Type': 'text/plain; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}
const BODY =
  /^\/\*\*\/ typeof ([A-Za-z_$][A-Za-z0-9_$]{0,63}) === 'function' && \1\(JSON\.parse\(("(?:[^"\\]|\\.)*")\)\);$/

/** One global scope to run bodies in (a context per body would be most of the run time). */
const sandbox = vm.createContext({}) as Record<string, unknown>
const builtins = new Map<string, boolean>()
/** Whether `name` is already a global of a fresh scope (a builtin such as JSON or eval). */
function builtin(name: string): boolean {
  let known = builtins.get(name)
  if (known === undefined) builtins.set(name, (known = vm.runInNewContext(`typeof ${name}`) !== 'undefined'))
  return known
}

/**
 * Checks a 200 body for `callback` and returns the reply it carries: the
 * exact shape, the characters it may hold, and what running it does.
 */
function readBody(body: string, callback: string): Record<string, unknown> {
  const match = BODY.exec(body)
  check(match !== null && match[1] === callback, `the body is not one call of ${JSON.stringify(callback)}: ${body}`)
  check(!/[<>\u2028\u2029\r\n]/.test(body), `the body holds a character that is unsafe in a script: ${body}`)
  check(!/[&\u2028\u2029]/.test(match[2] as string), `the payload holds an unescaped & or separator: ${body}`)
  const reply = JSON.parse(JSON.parse(match[2] as string) as string) as Record<string, unknown>
  check(typeof reply === 'object' && reply !== null && !Array.isArray(reply), 'the payload is not an object')
  const keys = Object.keys(reply).sort().join(',')
  check(['k', 'e,k', 'k,v'].includes(keys), `the payload has keys ${keys}`)
  check(parseReply(reply, 'id') !== undefined, `the client would not read this reply: ${JSON.stringify(reply)}`)
  // Run as a script: one call of the callback with the reply, and nothing else.
  if (RESERVED.has(callback) || builtin(callback)) {
    // A keyword is a SyntaxError (or, for this/null/true/false, calls nothing); a builtin gets the object.
    return reply
  }
  const received: unknown[] = []
  sandbox[callback] = (value: unknown) => received.push(value)
  try {
    vm.runInContext(body, sandbox)
  } finally {
    delete sandbox[callback]
  }
  check(received.length === 1, `the callback ran ${received.length} times`)
  check(same(JSON.parse(JSON.stringify(received[0])), reply), 'the script handed the callback another value')
  check(vm.runInContext('typeof pwned', sandbox) === 'undefined', 'the body ran code of the payload')
  return reply
}

function checkError(e: Record<string, unknown>, debug: boolean, path = 'e'): void {
  check(typeof e.n === 'string' && typeof e.m === 'string', `${path} has no name or message`)
  if (!debug) {
    check(e.s === undefined, `${path} carries a stack without debug`)
    check(!JSON.stringify(e).includes('/secret/'), `${path} reveals a system error's path without debug`)
  }
  if (e.x !== undefined) checkError(e.x as Record<string, unknown>, debug, `${path}.x`)
}

/** Checks one answered request against its outcome; returns what ran for it. */
function checkAnswer(
  request: FuzzRequest,
  response: FuzzResponse,
  outcome: Outcome,
  rejections: JsonpRejection[],
  options: JsonpHandlerOptions & { timeout: number },
): unknown {
  check(response.writes.length <= 1 && response.bodies.length <= 1, 'answered twice')
  if (outcome.kind === 'refused') {
    check(rejections.length === 1, `onRejected heard ${rejections.length} times for a refusal`)
    check(rejections[0]?.status === outcome.status && rejections[0]?.reason === outcome.reason, 'wrong rejection')
    check(response.writes[0]?.status === outcome.status, `status ${response.writes[0]?.status}, not ${outcome.status}`)
    check(
      same(response.writes[0]?.headers, outcome.status === 405 ? { ...TEXT_HEADERS, Allow: 'GET' } : TEXT_HEADERS),
      'wrong headers on a refusal',
    )
    const body = response.bodies[0] ?? ''
    check(body === `${rejections[0]?.detail}\n`, 'the body is not the detail')
    if (outcome.reason === 'callback') {
      check(
        body === 'invalid or missing callback parameter: it must be an ASCII identifier of at most 64 characters\n',
        `a refused callback is echoed: ${body}`,
      )
    }
    return
  }
  check(
    rejections.length === (outcome.kind === 'limit' ? 1 : 0),
    `onRejected heard ${rejections.length} times for ${outcome.kind}`,
  )
  if (outcome.kind === 'limit') check(rejections[0]?.status === 200 && rejections[0]?.reason === 'limit', 'limit')
  if (response.closedBeforeAnswer) {
    check(response.writes.length === 0, 'answered a client that went away')
    return
  }
  if (response.writes.length === 0) {
    // Only a handler that never settles, with no server timeout, may leave a request waiting.
    check(
      outcome.kind === 'runs' && outcome.method === 'hang' && options.timeout === Number.POSITIVE_INFINITY,
      `no answer for ${outcome.kind}`,
    )
    return
  }
  check(response.writes[0]?.status === 200, `status ${response.writes[0]?.status} for ${outcome.kind}`)
  check(same(response.writes[0]?.headers, JS_HEADERS), 'wrong headers on a reply')
  const callback = new URL(request.url ?? '/', 'http://jsonp.invalid').searchParams.get('callback') as string
  const reply = readBody(response.bodies[0] ?? '', callback)
  const e = reply.e as Record<string, unknown> | undefined
  if (e !== undefined) checkError(e, options.debug === true)
  // Under small limits the answering side's own error reply may be over them too: it then sends a LimitError, as connect() does.
  const tight = options.maxDepth !== undefined || options.maxMessageBytes !== undefined
  const expectError = (name: string, extra: (e: Record<string, unknown>) => boolean = () => true) =>
    check(
      reply.k === 'e' &&
        ((e?.n === name && extra(e)) || (tight && e?.c === 'LIMIT' && String(e.m).includes('was not sent'))),
      `expected ${name}, got ${JSON.stringify(reply).slice(0, 300)}`,
    )
  switch (outcome.kind) {
    case 'args-not-array':
    case 'invalid-args':
      return expectError('ValidationError', (e) => e.c === 'VALIDATION' && e.t === 'arguments')
    case 'limit':
      return expectError('LimitError', (e) => e.c === 'LIMIT')
    case 'not-found':
      return expectError('MethodNotFoundError')
  }
  const { method, args } = outcome
  const output = fuzzApi.methods[method].output
  if (reply.k === 'r') {
    check(output.safeParse(reply.v).success, `a result that breaks the output schema of ${method}`)
  }
  const timedOut = () => expectError('TimeoutError', (e) => e.c === 'TIMEOUT')
  switch (method) {
    case 'add':
      return check(reply.k === 'r' && reply.v === (args[0] as number) + (args[1] as number), 'add')
    case 'echo':
      return check(reply.k === 'r' && reply.v === args[0], 'echo')
    case 'toString':
    case 'hasOwnProperty':
      return check(reply.k === 'r' && reply.v === 'declared', method)
    case 'any':
      // Either the value back (as JSON carries it) or a LimitError of the result.
      return check(
        (reply.k === 'r' && same(reply.v, JSON.parse(JSON.stringify(args[0]) ?? 'null'))) ||
          (reply.k === 'e' && e?.c === 'LIMIT'),
        'any',
      )
    case 'lies':
      return expectError('ValidationError', (e) => e.c === 'VALIDATION' && e.t === 'result')
    case 'unsendable':
      // A cycle is over maxDepth before JSON sees it.
      return args[0] === 'cycle' && e?.c === 'LIMIT'
        ? undefined
        : expectError('TypeError', (e) => String(e.m).includes('cannot be sent as JSON'))
    case 'hang':
      return timedOut()
    case 'later': {
      const ms = args[0] as number
      if (ms < options.timeout) return check(reply.k === 'r' && reply.v === ms, 'later')
      if (ms > options.timeout) return timedOut()
      return
    }
    case 'fail': {
      check(reply.k === 'e', 'fail answered a result')
      if (!options.debug && e?.c !== 'LIMIT' && (args[0] === 'system' || args[0] === 'cause')) {
        const system = args[0] === 'system' ? e : (e?.x as Record<string, unknown> | undefined)
        check(system?.m === SYSTEM_ERROR_MESSAGE && system.d === undefined, 'a system error crossed without debug')
      }
      return
    }
    case 'profile':
    case 'keys':
      return check(reply.k === 'r', `${method} failed: ${JSON.stringify(reply).slice(0, 300)}`)
  }
}

async function handlerSequence(seed: number, log: string[]): Promise<void> {
  const r = rng(seed)
  const ran: Ran[] = []
  const signals: AbortSignal[] = []
  const rejections: JsonpRejection[] = []
  const options: JsonpHandlerOptions & { timeout: number } = {
    timeout: r.pick([10_000, 25, 60, Number.POSITIVE_INFINITY]),
    onRejected: (rejection) => {
      rejections.push(rejection)
      // A throwing hook changes nothing.
      if (r.chance(0.2)) throw new Error('hook')
    },
  }
  if (r.chance(0.3)) options.maxUrlLength = r.pick([64, 300, 2000, 20_000])
  if (r.chance(0.3)) options.maxDepth = r.pick([3, 10])
  if (r.chance(0.3)) options.maxMessageBytes = r.pick([64, 1000])
  if (r.chance(0.3)) options.debug = true
  const withOriginCheck = r.chance(0.3)
  if (withOriginCheck) options.allowedOrigins = [SHOP]
  log.push(`options ${JSON.stringify(options)}`)

  const before = snapshot()
  const caught = catchProcess()
  vi.useFakeTimers()
  try {
    const serve = jsonpHandler(fuzzApi, fuzzHandlers(ran, signals), options)
    const requests: { request: FuzzRequest; response: FuzzResponse; outcome: Outcome; rejections: JsonpRejection[] }[] =
      []
    for (let step = 0; step < 40; step++) {
      const roll = r()
      if (roll < 0.8) {
        const request = anyRequest(r, withOriginCheck)
        const response = new FuzzResponse()
        const outcome = outcomeOf(request, options)
        log.push(
          `#${requests.length} ${request.method} ${JSON.stringify(request.url)?.slice(0, 200)} -> ${outcome.kind}`,
        )
        const from = rejections.length
        try {
          serve(request, response)
        } catch (error) {
          throw new SequenceFailure(`the handler threw: ${String(error)}`)
        }
        requests.push({ request, response, outcome, rejections: rejections.slice(from) })
        reached.add(outcome.kind === 'refused' ? `refused ${outcome.status} ${outcome.reason}` : outcome.kind)
        if (outcome.kind === 'runs') reached.add(`runs ${outcome.method}`)
      } else if (roll < 0.9) {
        const ms = r.int(0, 40)
        log.push(`advance ${ms} ms`)
        await vi.advanceTimersByTimeAsync(ms)
      } else if (requests.length > 0) {
        // Mostly a client still waiting: most answers are written before serve() returns.
        const waiting = requests.flatMap(({ response }, i) => (response.bodies.length === 0 ? [i] : []))
        const index = waiting.length > 0 && r.chance(0.7) ? r.pick(waiting) : r.int(0, requests.length - 1)
        log.push(`client of #${index} goes away`)
        requests[index]?.response.goAway()
        if (requests[index]?.response.closedBeforeAnswer) reached.add('client gone before the answer')
      }
    }
    await vi.advanceTimersByTimeAsync(Number.isFinite(options.timeout) ? options.timeout + 200 : 200)
    for (const [index, { request, response, outcome, rejections }] of requests.entries()) {
      try {
        checkAnswer(request, response, outcome, rejections, options)
      } catch (error) {
        if (error instanceof SequenceFailure) error.message = `request #${index}: ${error.message}`
        throw error
      }
    }
    // What ran: one run per request that passed every check, and only those.
    const expected = requests.flatMap(({ outcome }) => (outcome.kind === 'runs' ? [outcome] : []))
    check(ran.length === expected.length, `${ran.length} handler runs for ${expected.length} runnable requests`)
    for (const [i, run] of ran.entries()) {
      check(run.method === expected[i]?.method && same(run.args, expected[i]?.args), `run ${i} is not request's`)
      check(run.inherited !== true, 'a handler saw an inherited property from a __proto__ key')
    }
    // Whoever is still waiting (timeout Infinity, a handler that hangs) goes away: its signal fires.
    for (const { response } of requests) response.goAway()
    check(
      signals.every((s) => s.aborted),
      "a hanging handler's signal never fired",
    )
    check(vi.getTimerCount() === 0, `${vi.getTimerCount()} timers left`)
    check(caught.thrown.length === 0, `thrown into the process: ${caught.thrown.map(String).join('; ')}`)
    checkUnpolluted(before)
  } finally {
    vi.useRealTimers()
    caught.stop()
  }
}

/** What the sequences reached, so that a generator that stopped reaching a branch shows. */
const reached = new Set<string>()

describe('jsonpHandler under seeded random hostile requests', () => {
  it(`${SEQUENCES} sequences keep every invariant`, async () => {
    await fuzz('jsonpHandler', handlerSequence)
    if (ONLY !== undefined) return
    const expected = [
      ...['400 url', '400 callback', '403 origin', '405 method', '414 limit'].map((r) => `refused ${r}`),
      ...['args-not-array', 'limit', 'not-found', 'invalid-args', 'client gone before the answer'],
      ...DECLARED.map((m) => `runs ${m}`),
    ]
    expect(expected.filter((what) => !reached.has(what))).toEqual([])
  }, 60_000)
})

/** Sends `target` as a raw request line and returns the raw answer (status line, headers, body). */
function raw(port: number, target: string, headers: Record<string, string | string[] | undefined>): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const lines = Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}\r\n`),
    )
    const socket = netConnect(port, '127.0.0.1', () => {
      socket.write(Buffer.from(`GET ${target} HTTP/1.1\r\n${lines.join('')}Connection: close\r\n\r\n`, 'utf8'))
    })
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

/** The body of a raw answer, joined from its chunks when it has them. */
function dechunk(head: string, body: string): string {
  if (!/transfer-encoding: chunked/i.test(head)) return body
  let out = ''
  let rest = Buffer.from(body, 'utf8')
  for (;;) {
    const eol = rest.indexOf('\r\n')
    const size = Number.parseInt(rest.subarray(0, eol).toString(), 16)
    if (!(size > 0)) return out
    out += rest.subarray(eol + 2, eol + 2 + size).toString('utf8')
    rest = rest.subarray(eol + 4 + size)
  }
}

describe('jsonpHandler behind a real Node http server, under seeded random request lines', () => {
  let server: Server
  let port = 0
  const seen: string[] = []
  const ran: Ran[] = []
  const signals: AbortSignal[] = []
  beforeAll(async () => {
    const rpc = jsonpHandler(fuzzApi, fuzzHandlers(ran, signals), { timeout: 100 })
    server = createServer((req, res) => {
      seen.push(req.url ?? '')
      rpc(req, res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('keeps serving, and answers what reaches the handler with one safe call or a plain refusal', async () => {
    const sequences = Math.max(1, Math.round(SEQUENCES / 10))
    await fuzz('jsonpHandler over http', async (seed, log) => {
      if (seed >= (ONLY ?? FIRST) + sequences) return
      const r = rng(seed)
      for (let i = 0; i < 30; i++) {
        const request = anyRequest(r, false)
        // Node's parser refuses spaces and control characters in the target; send what a client could.
        const target = (request.url ?? '/').replace(/[\s\p{Cc}]/gu, encodeURIComponent) || '/'
        log.push(`GET ${JSON.stringify(target).slice(0, 200)}`)
        const from = seen.length
        const answer = await raw(port, target, request.headers)
        const [head = '', ...rest] = answer.split('\r\n\r\n')
        const status = Number(head.split(' ')[1])
        if (seen.length === from) {
          // Node itself refused the request line (400) or its length (431): the handler never saw it.
          check(status === 400 || status === 431, `Node answered ${status} without the handler`)
          continue
        }
        const url = seen[from] as string
        check(/x-content-type-options: nosniff/i.test(head), `no nosniff: ${head}`)
        check(/cache-control: no-store/i.test(head), `no no-store: ${head}`)
        const outcome = outcomeOf({ method: 'GET', url, headers: {} }, {})
        if (outcome.kind === 'refused') {
          check(status === outcome.status, `status ${status}, not ${outcome.status}`)
          check(/content-type: text\/plain; charset=utf-8/i.test(head), 'a refusal is not text/plain')
          continue
        }
        check(status === 200 && /content-type: text\/javascript; charset=utf-8/i.test(head), `status ${status}`)
        const callback = new URL(url, 'http://jsonp.invalid').searchParams.get('callback') as string
        readBody(dechunk(head, rest.join('\r\n\r\n')), callback)
      }
      // Still serving.
      const [head = '', body = ''] = (await raw(port, '/rpc?method=add&args=[1,2]&callback=cb', { host: 'x' })).split(
        '\r\n\r\n',
      )
      check(head.startsWith('HTTP/1.1 200 OK'), 'the server stopped serving')
      check(same(readBody(dechunk(head, body), 'cb'), { k: 'r', v: 3 }), 'the server stopped answering')
    })
  }, 60_000)
})

// Part 3: serveWindowName ------------------------------------------------------

const wnApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    any: { input: z.tuple([z.unknown()]), output: z.unknown() },
    later: { input: z.tuple([]), output: z.string() },
    toString: { input: z.tuple([]), output: z.literal('declared') },
  },
})
const ORIGINS = ['https://shop.example', 'https://other.example', 'http://shop.example', 'https://evil.example']
const RETURN_URLS = [
  'https://shop.example/relay',
  'https://shop.example:443/relay?x=1',
  'https://SHOP.example/relay#frag',
  'https://shop.example./relay',
  'https://evil.example/relay',
  'https://shop.example@evil.example/relay',
  'https://evil.example\\@shop.example/relay',
  'https://evil.example#@shop.example/',
  'https://shop.example.evil.example/',
  'http://shop.example/relay',
  'https://other.example/relay',
  'javascript:alert(1)//https://shop.example/',
  'data:text/html,<script>alert(1)</script>',
  'blob:https://shop.example/uuid',
  '//shop.example/relay',
  '/relay',
  ' https://shop.example/relay',
  'https://shop.example\t/relay',
  '',
]

async function windowNameSequence(seed: number, log: string[]): Promise<void> {
  const r = rng(seed)
  const before = snapshot()
  for (let step = 0; step < 25; step++) {
    const allowed = ORIGINS.filter(() => r.chance(0.4))
    if (allowed.length === 0) allowed.push(ORIGINS[0] as string)
    const returnUrl = r.pick(RETURN_URLS)
    const method = r.pick(['add', 'any', 'later', 'toString', '__proto__', 'constructor', 'valueOf', 'nope'])
    const call: Record<string, unknown> = {
      k: r.chance(0.9) ? 'c' : r.pick(['r', 'e', 'q', 'x']),
      i: r.chance(0.9) ? `id-${r.int(0, 1e6)}` : r.pick(['', 'x'.repeat(65), 7]),
      m: method,
      a: r.chance(0.8)
        ? method === 'add'
          ? [r.int(0, 9), r.chance(0.8) ? r.int(0, 9) : anyValue(r)]
          : [anyValue(r)]
        : anyValue(r),
    }
    const params: [string, string][] = [
      ['portcullis-wn', r.chance(0.9) ? '1' : r.pick(['2', '', '01', '1 '])],
      ['r', returnUrl],
      ['c', r.chance(0.9) ? JSON.stringify(call) : r.pick(['{', '', 'null', '[]', '{"__proto__":{"k":"c"}}'])],
    ]
    if (r.chance(0.2)) params.unshift([r.pick(['r', 'c', 'portcullis-wn']), r.pick(RETURN_URLS)])
    if (r.chance(0.1)) params.splice(r.int(0, params.length - 1), 1)
    const hash = `#${params.map(([k, v]) => `${component(k)}=${component(v)}`).join('&')}`
    const ancestors = r.chance(0.15) ? null : ORIGINS.filter(() => r.chance(0.3)).concat(r.chance(0.7) ? [] : ['null'])
    if (ancestors !== null && ancestors.length === 0) ancestors.push(r.pick(ORIGINS))
    const referrer = r.pick(['https://shop.example/page', 'https://evil.example/', '', 'nonsense'])
    const top = r.chance(0.05)
    const staleName = r.pick(['', 'stale', '{"k":"r","i":"id-1","v":666}'])
    const options: Record<string, unknown> = {}
    if (r.chance(0.2)) options.maxRequestLength = r.pick([100, 400, 2000])
    if (r.chance(0.2)) options.maxReplyLength = r.pick([20, 100, 400])
    if (r.chance(0.2)) options.maxDepth = r.pick([3, 10])
    if (r.chance(0.2)) options.maxMessageBytes = r.pick([64, 1000])
    log.push(
      `allowed ${allowed} ancestors ${ancestors} top ${top} options ${JSON.stringify(options)} ${hash.slice(0, 300)}`,
    )

    const href = `https://widget.example/responder${hash}`
    const navigations: string[] = []
    const win = {
      name: staleName,
      parent: {} as unknown,
      document: { referrer },
      location: {
        hash,
        href,
        ancestorOrigins:
          ancestors === null ? undefined : { length: ancestors.length, item: (i: number) => ancestors[i] ?? null },
        replace: (url: string) => navigations.push(url),
      },
    }
    if (top) win.parent = win
    const ran: string[] = []
    const rejections: WindowNameRejection[] = []
    const status = serveWindowName({
      contract: wnApi,
      handlers: {
        add: (a, b) => (ran.push('add'), a + b),
        any: (value) => (ran.push('any'), value),
        later: () => (ran.push('later'), Promise.resolve('done')),
        toString: () => (ran.push('toString'), 'declared' as const),
      },
      allowedOrigins: allowed,
      onRejected: (rejection) => rejections.push(rejection),
      window: win as unknown as Window,
      ...options,
    })
    await new Promise((resolve) => setImmediate(resolve))

    // The oracle: the documented order of the checks.
    const query = new URLSearchParams(hash.slice(1))
    let expected: string
    let target: URL | undefined
    try {
      target = new URL(query.get('r') ?? '')
    } catch {}
    const embeddersOk =
      !top &&
      (ancestors === null
        ? (() => {
            try {
              return allowed.includes(new URL(referrer).origin)
            } catch {
              return false
            }
          })()
        : ancestors.every((a) => allowed.includes(a)))
    let parsed: unknown
    try {
      parsed = JSON.parse(query.get('c') ?? '')
    } catch {}
    const isCall =
      typeof parsed === 'object' &&
      parsed !== null &&
      (parsed as { k?: unknown }).k === 'c' &&
      typeof (parsed as { i?: unknown }).i === 'string' &&
      ((parsed as { i: string }).i.length || 0) > 0 &&
      (parsed as { i: string }).i.length <= 64 &&
      Array.isArray((parsed as { a?: unknown }).a) &&
      typeof (parsed as { m?: unknown }).m === 'string' &&
      (parsed as { m: string }).m.length > 0
    if (!query.has('portcullis-wn')) expected = 'none'
    else if (query.get('portcullis-wn') !== '1') expected = 'version'
    else if (target === undefined) expected = 'malformed'
    else if ((target.protocol !== 'http:' && target.protocol !== 'https:') || !allowed.includes(target.origin))
      expected = 'origin'
    else if (!embeddersOk) expected = 'embedder'
    else if (href.length > ((options.maxRequestLength as number | undefined) ?? 8192)) expected = 'limit'
    else if (!isCall) expected = 'malformed'
    else expected = 'serving'
    log.push(`  -> ${status} ${JSON.stringify(rejections)}, expected ${expected}`)
    reached.add(`window.name ${expected}`)

    if (expected !== 'serving') {
      check(status === (expected === 'none' ? 'none' : 'refused'), `status ${status}, expected ${expected}`)
      check(
        expected === 'none' ? rejections.length === 0 : rejections.length === 1 && rejections[0]?.reason === expected,
        `rejection ${JSON.stringify(rejections)}`,
      )
      check(win.name === staleName && navigations.length === 0, 'a refused request wrote or navigated')
      check(ran.length === 0, 'a handler ran for a refused request')
      continue
    }
    const sent = parsed as { i: string; m: string; a: unknown[] }
    check(status === 'serving', `status ${status}, expected serving`)
    check(navigations.length === 1 && navigations[0] === target?.href, `navigated to ${navigations}`)
    const reply = JSON.parse(win.name) as Record<string, unknown>
    check(reply.i === sent.i && (reply.k === 'r' || reply.k === 'e'), `wrote ${win.name.slice(0, 200)}`)
    check(parseReply(reply, sent.i) !== undefined, 'wrote what the client would not read')
    check(ran.length <= 1, 'more than one handler ran')
    if (ran.length === 1) check(ran[0] === sent.m && Object.hasOwn(wnApi.methods, sent.m), `ran ${ran[0]}`)
    if (reply.k === 'r') check(ran.length === 1, 'a result without a handler')
    check(
      rejections.every((x) => x.reason === 'limit'),
      'serving, yet refused',
    )
  }
  checkUnpolluted(before)
}

describe('serveWindowName under seeded random page loads', () => {
  it(`${SEQUENCES} sequences write a reply only where the return URL and every embedder are allowed`, async () => {
    await fuzz('serveWindowName', windowNameSequence)
    if (ONLY !== undefined) return
    const expected = ['none', 'version', 'malformed', 'origin', 'embedder', 'limit', 'serving']
    expect(expected.filter((what) => !reached.has(`window.name ${what}`))).toEqual([])
  }, 60_000)
})

// Part 4: jsonpClient ----------------------------------------------------------

const clientApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
    any: { input: z.tuple([]), output: z.unknown() },
  },
})

/** What a hostile "server" script might hand a callback. */
function anyReply(r: Rng): unknown {
  switch (r.int(0, 7)) {
    case 0:
      return { k: 'r', v: r.int(-9, 9) }
    case 1:
      return { k: 'r', v: anyString(r) }
    case 2:
      return { k: 'r', v: anyValue(r) }
    case 3:
      return {
        k: 'e',
        e: r.pick([
          { n: 'RangeError', m: 'x', d: { retry: false } },
          { n: 'TimeoutError', c: 'TIMEOUT', m: 't' },
          { n: 'ValidationError', c: 'VALIDATION', t: 'arguments', i: 'no' },
          anyValue(r),
        ]),
      }
    case 4:
      return JSON.parse('{"k":"r","v":{"__proto__":{"polluted":1}}}')
    case 5:
      // Handed over by a script, not cloned: reading it may throw.
      return r.pick([
        () =>
          Object.defineProperty({}, 'k', {
            enumerable: true,
            get() {
              throw new Error('getter')
            },
          }),
        () => {
          const { proxy, revoke } = Proxy.revocable({}, {})
          revoke()
          return proxy
        },
        () => ({
          k: 'e',
          e: new Proxy(
            {},
            {
              ownKeys: () => {
                throw new Error('trap')
              },
            },
          ),
        }),
        () => ({
          k: 'r',
          v: new Proxy(
            {},
            {
              get: () => {
                throw new Error('trap')
              },
            },
          ),
        }),
      ])()
    default:
      return anyValue(r)
  }
}

async function clientSequence(seed: number, log: string[]): Promise<void> {
  const r = rng(seed)
  const before = snapshot()
  const scope = globalThis as unknown as Record<string, unknown>
  const scripts = () => [...document.querySelectorAll<HTMLScriptElement>('script[data-portcullis="jsonp"]')]
  const globals = () => Object.keys(scope).filter((k) => k.startsWith('__portcullisJsonp_'))
  vi.useFakeTimers()
  const caught = catchProcess()
  try {
    const timeout = r.pick([50, 200, Number.POSITIVE_INFINITY])
    const limits = r.chance(0.3) ? { maxDepth: r.pick([3, 10]) } : {}
    const remote = jsonpClient(clientApi, { url: 'https://api.example/rpc', timeout, ...limits })
    interface Pending {
      method: 'add' | 'echo' | 'any'
      callback: (data: unknown) => void
      script: HTMLScriptElement
      first?: unknown
      settled?: { ok: boolean; value: unknown }
      controller: AbortController
    }
    const calls: Pending[] = []
    for (let step = 0; step < 30; step++) {
      const roll = r()
      const open = calls.filter((c) => c.settled === undefined)
      if (roll < 0.3 || calls.length === 0) {
        const method = r.pick(['add', 'echo', 'any'] as const)
        const controller = new AbortController()
        const fn = remote[method].with({
          signal: controller.signal,
          ...(r.chance(0.2) ? { timeout: r.pick([10, 30]) } : {}),
        }) as (...a: unknown[]) => Promise<unknown>
        const args = method === 'add' ? [1, 2] : method === 'echo' ? [anyString(r).slice(0, 100)] : []
        const count = scripts().length
        const promise = fn(...args)
        const script = scripts().at(-1)
        check(script !== undefined && scripts().length === count + 1, 'no script for a call')
        const name = new URL(script.src).searchParams.get('callback') as string
        const call: Pending = { method, callback: scope[name] as (data: unknown) => void, script, controller }
        promise.then(
          (value) => (call.settled = { ok: true, value }),
          (error) => (call.settled = { ok: false, value: error }),
        )
        calls.push(call)
        log.push(`#${calls.length - 1} ${method}(${JSON.stringify(args).slice(0, 60)})`)
      } else {
        // Mostly a call still waiting.
        const call = open.length > 0 && r.chance(0.8) ? r.pick(open) : r.pick(calls)
        const index = calls.indexOf(call)
        const what = r.int(0, 6)
        if (what <= 2) {
          const data = anyReply(r)
          let shown: string | undefined
          try {
            shown = JSON.stringify(data)?.slice(0, 80)
          } catch {
            shown = 'a value that throws when read'
          }
          log.push(`callback of #${index} gets ${shown}`)
          if (call.first === undefined && call.settled === undefined) call.first = data
          // A late script finds no function (the guard of jsonpBody); a held reference still calls.
          try {
            call.callback(data)
          } catch (error) {
            throw new SequenceFailure(`the callback threw into the server's script: ${String(error)}`)
          }
        } else if (what === 3) {
          log.push(`script of #${index} loads`)
          call.script.dispatchEvent(new Event('load'))
        } else if (what === 4) {
          log.push(`script of #${index} fails`)
          call.script.dispatchEvent(new Event('error'))
        } else if (what === 5) {
          log.push(`#${index} aborted`)
          call.controller.abort()
        } else {
          const ms = r.int(0, 100)
          log.push(`advance ${ms} ms`)
          await vi.advanceTimersByTimeAsync(ms)
        }
      }
      await vi.advanceTimersByTimeAsync(0)
      // A settled call has left nothing behind.
      for (const call of calls) {
        if (call.settled === undefined) continue
        check(!call.script.isConnected, 'a settled call left its script')
        check(!globals().some((g) => scope[g] === call.callback), 'a settled call left its global')
      }
    }
    // Whatever never heard back: its script "loads" without calling back, which must end it.
    for (const call of calls) if (call.settled === undefined) call.script.dispatchEvent(new Event('load'))
    await vi.advanceTimersByTimeAsync(0)
    for (const [index, call] of calls.entries()) {
      const { settled } = call
      check(settled !== undefined, `call #${index} never settled`)
      if (settled.ok) {
        check(clientApi.methods[call.method].output.safeParse(settled.value).success, `#${index} resolved off-schema`)
        check(
          typeof call.first === 'object' && call.first !== null && (call.first as { k?: unknown }).k === 'r',
          `#${index} resolved without a result reply first`,
        )
      } else {
        // With an output of z.unknown(), a Proxy result is what the promise resolves with, and
        // resolving reads its `then`: the trap's own error. The script runs in the page anyway.
        const trap = call.method === 'any' && settled.value instanceof Error && settled.value.message === 'trap'
        check(settled.value instanceof PortcullisError || trap, `#${index} rejected with ${String(settled.value)}`)
      }
    }
    check(scripts().length === 0 && globals().length === 0, 'scripts or globals left behind')
    // The Caller's timer stays set for the earliest deadline it knew, and then goes.
    await vi.advanceTimersByTimeAsync(300)
    check(vi.getTimerCount() === 0, `${vi.getTimerCount()} timers left`)
    check(caught.thrown.length === 0, `thrown: ${caught.thrown.map(String).join('; ')}`)
    checkUnpolluted(before)
  } finally {
    for (const s of scripts()) s.remove()
    vi.useRealTimers()
    caught.stop()
  }
}

describe('jsonpClient against a hostile server script, under seeded random sequences', () => {
  it('found by the fuzz: a reply whose reading throws (a getter, a revoked Proxy) rejects the call at once', async () => {
    const getter = Object.defineProperty({}, 'k', {
      get() {
        throw new Error('getter')
      },
    })
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    for (const data of [getter, proxy]) {
      // No timeout: before the fix the call stayed pending, its script and global in place, whatever followed.
      const pending = jsonpClient(clientApi, { url: 'https://api.example/rpc', timeout: Number.POSITIVE_INFINITY }).add(
        1,
        2,
      )
      const script = document.querySelector<HTMLScriptElement>('script[data-portcullis="jsonp"]')
      const name = new URL(script?.src ?? '').searchParams.get('callback') as string
      const callback = (globalThis as unknown as Record<string, (data: unknown) => void>)[name]
      expect(() => callback?.(data)).not.toThrow()
      script?.dispatchEvent(new Event('load'))
      await expect(pending).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringContaining('malformed reply'),
      })
      expect(document.querySelectorAll('script[data-portcullis]')).toHaveLength(0)
      expect(Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_'))).toEqual([])
    }
  })

  it(
    `${SEQUENCES} sequences settle every call once and leave nothing behind`,
    () => fuzz('jsonpClient', clientSequence),
    60_000,
  )
})
