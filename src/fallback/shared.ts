import type { Contract, Handlers, RemoteProxy } from '../contract.js'
import { DisconnectedError, LimitError, ValidationError } from '../errors.js'
import { DEFAULT_LIMITS, exceeds, type Limits } from '../gate/limits.js'
import { type CallMessage, type FailureMessage, parseSessionMessage, type ResultMessage } from '../protocol/envelope.js'
import { createRemoteProxy } from '../remote-proxy.js'
import { Caller } from '../rpc/caller.js'
import type { ServedMethod } from '../rpc/responder.js'
import type { StandardSchemaV1 } from '../rpc/standard-schema.js'

/** Default per-call timeout of the fallback clients, as for `connect()`. */
export const DEFAULT_TIMEOUT = 10_000
/** Default cap on a request URL: what every current browser and most servers and proxies accept. */
export const DEFAULT_MAX_URL_LENGTH = 8_192

/** Checks a positive number option (Infinity allowed where `infinite`), or returns the default. */
export function positive(where: string, name: string, value: unknown, fallback: number, infinite = false): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (!infinite && !Number.isFinite(value))) {
    throw new TypeError(
      `${where}: ${name} must be a positive number${infinite ? ' of milliseconds (or Infinity)' : ''}, got ${String(value)}`,
    )
  }
  return value
}

/** The size options every fallback entry point takes, with the names, defaults and rules of `connect()`'s. */
export interface LimitOptions {
  /**
   * Largest value received or sent, in estimated bytes (8 per value, plus
   * string lengths, BigInt digits and binary byte lengths), as for
   * `connect()` (default 32 MiB, and finite). Checked before sending and on receipt.
   */
  maxMessageBytes?: number | undefined
  /** Deepest nesting of a value received or sent, as for `connect()` (default 100, at most 1000). */
  maxDepth?: number | undefined
}

// connect()'s ceiling: a browser delivers deeper postMessage data as null, and
// one rule on both transports keeps a contract's limits portable between them.
const MAX_DEPTH_CEILING = 1000

/** Reads {@link LimitOptions}, refusing what `connect()` refuses. */
export function limitsOption(where: string, options: LimitOptions): Limits {
  const check = (name: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new TypeError(`${where}: ${name} must be a positive number, got ${String(value)}`)
    }
    return value
  }
  const maxDepth = check('maxDepth', options.maxDepth, DEFAULT_LIMITS.maxDepth)
  if (maxDepth > MAX_DEPTH_CEILING) {
    throw new TypeError(`${where}: maxDepth ${maxDepth} is above ${MAX_DEPTH_CEILING}, which connect() refuses too`)
  }
  const maxBytes = options.maxMessageBytes ?? DEFAULT_LIMITS.maxBytes
  // The budget is what bounds the work of measuring (shared references), as in connect().
  if (typeof maxBytes !== 'number' || !Number.isFinite(maxBytes) || maxBytes <= 0) {
    throw new TypeError(`${where}: maxMessageBytes must be a finite positive number, got ${String(maxBytes)}`)
  }
  return { maxBytes, maxDepth }
}

/** Why the arguments of a received call are over `limits`, as the LimitError reply `connect()` would send; undefined when they fit. */
export function argumentsOverLimit(method: string, args: unknown, limits: Limits): LimitError | undefined {
  const excess = exceeds(args, limits)
  return excess === undefined ? undefined : new LimitError(`the peer refused the arguments of "${method}": ${excess}`)
}

/** The handler table the Responder reads: own properties of a null-prototype object, one per declared method. */
export function servedMethods<C extends Contract>(
  where: string,
  contract: C,
  handlers: Handlers<C>,
): Record<string, ServedMethod> {
  if (typeof contract !== 'object' || contract === null || typeof contract.methods !== 'object') {
    throw new TypeError(`${where}: contract must come from defineContract()`)
  }
  if (typeof handlers !== 'object' || handlers === null) {
    throw new TypeError(`${where}: handlers must be an object with one function per method`)
  }
  const table: Record<string, ServedMethod> = Object.create(null)
  for (const name of Object.keys(contract.methods)) {
    const handler = Object.hasOwn(handlers, name) ? (handlers as Record<string, unknown>)[name] : undefined
    if (typeof handler !== 'function') {
      throw new TypeError(`${where}: handlers.${name} must be an own function (the contract declares it)`)
    }
    const method = contract.methods[name] as ServedMethod
    // Called as a method of your object, as connect() calls it.
    table[name] = { input: method.input, output: method.output, handler: handler.bind(handlers) }
  }
  return table
}

/** The wire error a responder sends for a method its contract does not declare (as the core session does). */
export function methodNotFound(id: string, method: string): FailureMessage {
  return { k: 'e', i: id, e: { n: 'MethodNotFoundError', m: `"${method}" is not a method of the peer's contract` } }
}

/**
 * Reads a reply that crossed a fallback transport: a result or a failure for
 * call `id`, or undefined when it is anything else.
 */
export function parseReply(data: unknown, id: string): ResultMessage | FailureMessage | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined
  const fields = data as Record<string, unknown>
  const message = parseSessionMessage(
    fields.k === 'r' ? { k: 'r', i: id, v: fields.v } : fields.k === 'e' ? { k: 'e', i: id, e: fields.e } : undefined,
  )
  return message?.k === 'r' || message?.k === 'e' ? message : undefined
}

/** The error of a reply that is not a portcullis reply at all. */
export function malformedReply(method: string, what: string): ValidationError {
  return new ValidationError('result', method, [{ path: [], message: `malformed reply: ${what}` }], 'local')
}

/** What a transport does with one call: starts it, and hands back how to stop it. */
export interface Exchange {
  /** The reply arrived (already read); the call settles through the same Caller as `connect()`'s. */
  reply(message: ResultMessage | FailureMessage): void
  /** The transport failed; the call rejects with `error`. */
  fail(error: Error): void
}

/**
 * Starts `message` on the transport. May throw (e.g. `LimitError` for an
 * over-long URL) before anything is created; returns the cleanup, which must
 * be idempotent.
 */
export type StartCall = (message: CallMessage, exchange: Exchange) => () => void

/** A typed proxy over one-shot exchanges, plus the switch that stops them all. */
export interface ExchangeClient<C extends Contract> {
  readonly remote: RemoteProxy<C>
  /** Calls in flight. */
  readonly pending: number
  /** Rejects every call in flight with `DisconnectedError('closed')`, cleans up each, and refuses later calls. */
  close(): void
}

/**
 * Builds the typed proxy of `contract` over a one-shot transport. Every call
 * goes through the core {@link Caller}: ids from nanoid, the timeout and the
 * abort signal, the size limits (before sending; on receipt, here), the
 * result validated against the output schema, and the peer's errors decoded
 * into the same classes.
 */
export function exchangeClient<C extends Contract>(
  contract: C,
  timeout: number,
  limits: Limits,
  start: StartCall,
): ExchangeClient<C> {
  const outputs: Record<string, StandardSchemaV1> = Object.create(null)
  for (const name of Object.keys(contract.methods))
    outputs[name] = (contract.methods[name] as { output: StandardSchemaV1 }).output
  const caller = new Caller(outputs, timeout, limits)
  const running = new Map<string, () => void>()
  let closed = false
  const stop = (id: string): void => {
    const cleanup = running.get(id)
    if (cleanup === undefined) return
    running.delete(id)
    cleanup()
  }
  caller.attach((message) => {
    const m = message as CallMessage | { k: 'q'; i: string }
    if (m.k === 'q') {
      // The call timed out or was aborted: its transport goes away now.
      stop(m.i)
      return
    }
    const id = m.i
    let answered = false
    const cleanup = start(m, {
      reply: (reply) => {
        if (answered) return
        answered = true
        stop(id)
        // Measured on receipt as connect() does: the peer's limits may be other than ours.
        const excess = exceeds(reply.k === 'r' ? reply.v : reply.e, limits)
        if (excess === undefined) caller.settle(reply)
        else
          caller.refuse(
            id,
            new LimitError(`the ${reply.k === 'r' ? 'result' : 'error'} was refused on receipt: ${excess}`),
          )
      },
      fail: (error) => {
        if (answered) return
        answered = true
        stop(id)
        caller.refuse(id, error)
      },
    })
    // A transport that answered synchronously is cleaned up at once.
    if (answered) cleanup()
    else running.set(id, cleanup)
  })
  const closedError = () => new DisconnectedError('closed', 'the fallback client was closed')
  const remote = createRemoteProxy(contract, (method, args, options) =>
    closed ? Promise.reject(closedError()) : caller.call(method, args, options, undefined),
  )
  return {
    remote,
    get pending() {
      return caller.size
    },
    close() {
      if (closed) return
      closed = true
      for (const id of [...running.keys()]) stop(id)
      caller.rejectAll(closedError())
    },
  }
}
