import {
  AbortError,
  LimitError,
  PortcullisError,
  RemoteError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
  type ValidationTarget,
} from '../errors.js'
import type { WireError } from '../protocol/envelope.js'

const MAX_CAUSES = 4
const MAX_DATA_DEPTH = 6
const MAX_TEXT = 4096
// A stack is longer than a message (one line per frame) but is still only read
// by people: a peer must not hang megabytes of it on every error it sends.
const MAX_STACK = 4 * MAX_TEXT
// remoteStack: a nested peer's stack is that peer's to reveal, not ours to pass on.
const RESERVED = new Set(['name', 'message', 'stack', 'cause', 'remoteStack'])
// Revived as their own class even when a handler threw them (a nested call
// that timed out, was aborted or was too big): they mean the same thing one
// hop further. A ValidationError keeps its class only when this side's own
// check raised it; one a handler threw is about some other call.
const REVIVED = new Set(['LIMIT', 'TIMEOUT', 'ABORT'])

function text(value: unknown, fallback: string, max = MAX_TEXT): string {
  return typeof value === 'string' ? value.slice(0, max) : fallback
}

/**
 * Copies already made, by depth then by value. A value shared in many places
 * (error data is often a DAG: one `config` object under several keys) is
 * copied once per depth instead of once per path, so six levels of a hundred
 * shared keys cost six hundred copies, not 10^12. The copy keeps the sharing,
 * as structured clone would, and the limits walk of the wire form then
 * refuses it if it has too many paths.
 */
type Copies = Map<object, unknown>[]

// Keeps what survives structured clone and means something to the caller;
// drops functions, symbols, DOM objects and anything too deep.
function plainData(value: unknown, depth: number, copies: Copies): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? undefined : value
  }
  if (depth >= MAX_DATA_DEPTH) return undefined
  const made = (copies[depth] ??= new Map())
  if (made.has(value)) return made.get(value)
  const copy = copyOf(value, depth, copies)
  made.set(value, copy)
  return copy
}

function copyOf(value: object, depth: number, copies: Copies): unknown {
  if (Array.isArray(value)) return value.map((item) => plainData(item, depth + 1, copies))
  if (value instanceof Date) return new Date(value.getTime())
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return undefined
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const item = plainData((value as Record<string, unknown>)[key], depth + 1, copies)
    if (item !== undefined)
      Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function ownData(error: object): Record<string, unknown> | undefined {
  let data: Record<string, unknown> | undefined
  const copies: Copies = []
  for (const key of Object.keys(error)) {
    if (RESERVED.has(key)) continue
    const value = plainData((error as Record<string, unknown>)[key], 1, copies)
    if (value === undefined) continue
    data ??= {}
    Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return data
}

// What was thrown may not even turn into a string (a null-prototype object, a
// throwing toString); the caller must still get an answer.
function describe(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, MAX_TEXT)
  try {
    return String(value).slice(0, MAX_TEXT)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

// An Error from another window fails `instanceof Error`; its brand does not.
function isError(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]'
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Turns an error into its wire form: name, message, code, own enumerable
 * data and cause chain; the stack only when `debug` is on. `own` marks the
 * answering side's own refusals (a ValidationError of the arguments or the
 * result, a LimitError), as opposed to whatever a handler threw.
 */
export function encodeError(error: unknown, debug: boolean, own = false): WireError {
  try {
    return encode(error, debug, own, 0)
  } catch {
    // A getter or a Proxy trap of what was thrown threw in turn (or the Proxy
    // was revoked): the caller must still get an answer, and the page no error.
    return { n: 'Error', m: 'the thrown value could not be read' }
  }
}

function encode(error: unknown, debug: boolean, own: boolean, depth: number): WireError {
  if (!isError(error)) {
    // `throw { code: 'E_AUTH', message: '...' }` is common enough to keep its fields.
    if (!isPlainObject(error)) return { n: 'Error', m: describe(error) }
    const wire: WireError = { n: text(error.name, 'Error'), m: text(error.message, describe(error)) }
    const data = ownData(error)
    if (data !== undefined) wire.d = data
    return wire
  }
  const wire: WireError = { n: text(error.name, 'Error'), m: text(error.message, '') }
  const coded = error instanceof PortcullisError && (own || REVIVED.has(error.code))
  if (coded) wire.c = (error as PortcullisError).code
  if (coded && error instanceof ValidationError) {
    wire.t = error.target
    wire.i = error.issues.map((issue) => ({
      path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
      message: issue.message,
    }))
  }
  // A coded error's meaning is in its code; any other keeps its own fields
  // (a nested DisconnectedError its reason, a nested RemoteError its data).
  const data = coded ? undefined : ownData(error)
  if (data !== undefined) wire.d = data
  if (debug && typeof error.stack === 'string') wire.s = text(error.stack, '', MAX_STACK)
  if ('cause' in error && error.cause !== undefined && depth < MAX_CAUSES) {
    wire.x = encode(error.cause, debug, false, depth + 1)
  }
  return wire
}

function readIssues(value: unknown): ValidationIssue[] {
  if (!Array.isArray(value)) return []
  return value.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return []
    const { path, message } = item as { path?: unknown; message?: unknown }
    return [
      {
        message: text(message, 'invalid'),
        path: Array.isArray(path)
          ? path.filter((p): p is string | number => typeof p === 'string' || typeof p === 'number')
          : [],
      },
    ]
  })
}

// A reply answers a call: the peer can have refused its arguments or its own
// result, never an event (events are not answered).
const TARGETS = new Set<unknown>(['arguments', 'result'])

/**
 * Revives a wire error sent by the peer in answer to a call of `method`:
 * the peer's own checks come back as the matching class (`ValidationError`
 * with `side: 'remote'`, `LimitError`, ...), anything a handler threw as a
 * {@link RemoteError}.
 */
export function decodeError(wire: Record<string, unknown>, method: string, depth = 0): Error {
  const name = text(wire.n, 'Error')
  const message = text(wire.m, '')
  switch (wire.c) {
    case 'VALIDATION':
      return new ValidationError(
        TARGETS.has(wire.t) ? (wire.t as ValidationTarget) : 'arguments',
        method,
        readIssues(wire.i),
        'remote',
      )
    case 'LIMIT':
      return new LimitError(`peer refused the call to "${method}": ${message}`)
    case 'TIMEOUT':
      return new TimeoutError(`peer reported a timeout in "${method}": ${message}`)
    case 'ABORT':
      return new AbortError(`peer aborted "${method}": ${message}`)
  }
  // An array or a Date would copy too, but RemoteError.data is declared a record.
  const data = isPlainObject(wire.d) ? (plainData(wire.d, 0, []) as Record<string, unknown>) : {}
  const cause =
    typeof wire.x === 'object' && wire.x !== null && depth < MAX_CAUSES
      ? decodeError(wire.x as Record<string, unknown>, method, depth + 1)
      : undefined
  const options: { cause?: unknown; stack?: string } = {}
  if (cause !== undefined) options.cause = cause
  if (typeof wire.s === 'string') options.stack = text(wire.s, '', MAX_STACK)
  return new RemoteError(name, message, data ?? {}, options)
}
