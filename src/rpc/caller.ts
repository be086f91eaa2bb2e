import { nanoid } from 'nanoid'
import { AbortError, LimitError, TimeoutError, ValidationError } from '../errors.js'
import { type Limits, measure } from '../gate/limits.js'
import type { Unsent } from '../protocol/batch.js'
import type { CallMessage, FailureMessage, ResultMessage } from '../protocol/envelope.js'
import { decodeError } from './error-codec.js'
import { type Checked, type StandardSchemaV1, validate } from './standard-schema.js'
import { forgetTransfer } from './transfer.js'

/** Per-call options, given through `remote.method.with(options)`. */
export interface CallOptions {
  /** Milliseconds before the call rejects with `TimeoutError`; `Infinity` for none. */
  timeout?: number | undefined
  /** Aborting rejects the call with `AbortError` and aborts the remote handler's signal. */
  signal?: AbortSignal | undefined
  /** Objects to transfer rather than copy (see also `transfer()`). */
  transfer?: Transferable[] | undefined
}

/**
 * Sends one session message; supplied by whoever owns the open port. With
 * `onUnsent` it joins this turn's batch, posts later and reports a failed post
 * there, and `bytes` (what the limits walk measured of its payload) counts
 * against the one budget a batch shares; it may also throw at once.
 */
export type Send = (message: object, transfer?: Transferable[], onUnsent?: Unsent, bytes?: number) => void

interface PendingCall {
  readonly method: string
  readonly message: CallMessage
  readonly transfer: Transferable[] | undefined
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
  /** When the call times out, on the `now()` clock; Infinity for never. */
  readonly deadline: number
  readonly timeout: number
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  sent: boolean
  /** Its reply arrived and an async result schema is checking it: still pending, so its timeout, signal and close() reach it. */
  checking: boolean
  /** What the limits walk measured of its arguments. */
  readonly bytes: number
}

// setTimeout fires at once for delays past 2^31-1 ms.
const MAX_DELAY = 2_147_483_647
const MAX_EXPIRED = 256

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now())

/**
 * The pending-call table of one connection. Ids are a random nanoid prefix
 * per table plus a counter, so a forged reply cannot guess them (and replies
 * only arrive on the private port); a reply settles a call once, and only
 * while the call is pending on the session that sent it. Calls made while no
 * session is open wait here (their timeout running) and go out when one opens.
 *
 * One timer serves every call: it is set for the earliest deadline, and with
 * the usual single default timeout a call never has to touch it.
 */
export class Caller {
  readonly #outputs: Readonly<Record<string, StandardSchemaV1>>
  readonly #defaultTimeout: number
  readonly #limits: Limits
  readonly #pending = new Map<string, PendingCall>()
  // Ids that timed out or were aborted: a late reply to one is expected, not an attack.
  readonly #expired = new Set<string>()
  #send: Send | undefined
  // Takes a call back out of the session's batch while it is still queued this turn.
  #unqueue: ((message: object) => boolean) | undefined
  // 60 random bits are far beyond guessing, and a shorter id is cheaper to clone on every message.
  readonly #idPrefix = nanoid(10)
  #nextId = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Number.POSITIVE_INFINITY
  // Set by rejectAll(): the connection is over, and no timer may be set again
  // (a trace sink that closes the connection during a sweep would otherwise leave one).
  #over = false

  constructor(outputs: Readonly<Record<string, StandardSchemaV1>>, defaultTimeout: number, limits: Limits) {
    this.#outputs = outputs
    this.#defaultTimeout = defaultTimeout
    this.#limits = limits
  }

  /** Number of calls waiting for a reply or for a session. */
  get size(): number {
    return this.#pending.size
  }

  call(
    method: string,
    args: unknown[],
    options: CallOptions | undefined,
    transfer: Transferable[] | undefined,
  ): Promise<unknown> {
    const signal = options?.signal
    if (signal?.aborted) {
      return Promise.reject(
        new AbortError(`call to "${method}" was aborted before it was sent`, { cause: signal.reason }),
      )
    }
    const bytes = measure(args, this.#limits)
    if (typeof bytes === 'string') {
      return Promise.reject(new LimitError(`arguments of "${method}" were not sent: ${bytes}`))
    }
    const timeout = options?.timeout ?? this.#defaultTimeout
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
      return Promise.reject(
        new TypeError(
          `call to "${method}": timeout must be a positive number of ms (or Infinity), got ${String(timeout)}`,
        ),
      )
    }
    const id = this.#idPrefix + (this.#nextId++).toString(36)
    const deadline = now() + timeout
    return new Promise((resolve, reject) => {
      const call: PendingCall = {
        method,
        message: { k: 'c', i: id, m: method, a: args },
        transfer,
        resolve,
        reject,
        deadline,
        timeout,
        signal,
        onAbort: undefined,
        sent: false,
        checking: false,
        bytes,
      }
      if (deadline < this.#timerAt) this.#schedule(deadline)
      if (signal) {
        call.onAbort = () =>
          this.#fail(id, new AbortError(`call to "${method}" was aborted`, { cause: signal.reason }), true)
        signal.addEventListener('abort', call.onAbort, { once: true })
      }
      this.#pending.set(id, call)
      if (this.#send) this.#transmit(call, this.#send)
    })
  }

  /** A session opened: send every call that was waiting for one. */
  attach(send: Send, unqueue?: (message: object) => boolean): void {
    this.#send = send
    this.#unqueue = unqueue
    for (const call of this.#pending.values()) if (!call.sent) this.#transmit(call, send)
  }

  /**
   * The session ended: calls it carried reject, those still queued in this
   * turn's batch too, taken back so the peer never runs them; calls not yet
   * sent keep waiting.
   */
  detach(error: Error): void {
    this.#send = undefined
    for (const [id, call] of this.#pending) {
      if (!call.sent) continue
      this.#unqueue?.(call.message)
      this.#fail(id, error, false)
    }
    this.#unqueue = undefined
  }

  /** The connection ended: every call rejects, and the timer goes. */
  rejectAll(error: Error): void {
    this.#over = true
    this.#send = undefined
    for (const id of [...this.#pending.keys()]) this.#fail(id, error, false)
    this.#expired.clear()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #schedule(deadline: number): void {
    if (this.#over) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = deadline
    this.#timer = setTimeout(() => this.#sweep(), Math.min(Math.max(0, deadline - now()), MAX_DELAY))
  }

  // Fails every call past its deadline and sets the timer for the next one.
  #sweep(): void {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const at = now()
    let next = Number.POSITIVE_INFINITY
    for (const [id, call] of this.#pending) {
      if (call.deadline <= at) {
        this.#fail(id, new TimeoutError(`call to "${call.method}" timed out after ${call.timeout} ms`), true)
      } else if (call.deadline < next) next = call.deadline
    }
    if (next !== Number.POSITIVE_INFINITY) this.#schedule(next)
  }

  /**
   * Settles the call a reply names. Returns false when the id is not pending
   * and was never ours to expect (a forged or replayed reply).
   */
  settle(reply: ResultMessage | FailureMessage): boolean {
    const { i: id } = reply
    const call = this.#pending.get(id)
    if (call === undefined || !call.sent || call.checking) {
      if (!this.#expired.delete(id)) return false
      return true
    }
    if (reply.k === 'e') {
      this.#forget(id, call)
      call.reject(decodeError(reply.e, call.method))
      return true
    }
    const schema = this.#outputs[call.method]
    const checked = schema === undefined ? ({ ok: true, value: reply.v } as const) : validate(schema, reply.v)
    if (!(checked instanceof Promise)) {
      this.#forget(id, call)
      this.#finish(call, checked)
      return true
    }
    call.checking = true
    checked.then((c) => {
      // It timed out, was aborted or the connection closed while its result was checked.
      if (this.#pending.get(id) !== call) return
      this.#forget(id, call)
      this.#finish(call, c)
    })
    return true
  }

  /** A reply for `id` arrived but could not be accepted (too big, too deep): the call fails with `error`. */
  refuse(id: string, error: Error): boolean {
    const call = this.#pending.get(id)
    // A duplicate reply to a call whose first reply is being checked is not this call's to settle.
    if (call === undefined || !call.sent || call.checking) return this.#expired.delete(id)
    this.#forget(id, call)
    call.reject(error)
    return true
  }

  #finish(call: PendingCall, checked: Checked): void {
    if (checked.ok) call.resolve(checked.value)
    else call.reject(new ValidationError('result', call.method, checked.issues, 'local'))
  }

  #transmit(call: PendingCall, send: Send): void {
    call.sent = true
    try {
      send(call.message, call.transfer, this.#unsent, call.bytes)
    } catch (error) {
      this.#unsent(error, call.message)
      return
    }
    // Marked with transfer() and now on its way: the marks are spent.
    if (call.transfer !== undefined) for (const arg of call.message.a) forgetTransfer(arg)
  }

  // DataCloneError and the like: the call rejects with it, nothing stays pending.
  readonly #unsent: Unsent = (error, message) => {
    const id = (message as CallMessage).i
    const call = this.#pending.get(id)
    if (call === undefined || call.message !== message) return
    this.#forget(id, call)
    call.reject(error)
  }

  #fail(id: string, error: Error, expire: boolean): void {
    const call = this.#pending.get(id)
    if (call === undefined) return
    this.#forget(id, call)
    call.reject(error)
    // Still queued in this turn's batch: taken back, the peer never hears of it.
    if (expire && call.sent && !this.#unqueue?.(call.message)) {
      if (this.#expired.size >= MAX_EXPIRED) this.#expired.delete(this.#expired.values().next().value as string)
      this.#expired.add(id)
      // Tell the peer, so its handler's signal fires and it can stop working.
      this.#send?.({ k: 'q', i: id })
    }
  }

  #forget(id: string, call: PendingCall): void {
    this.#pending.delete(id)
    if (call.onAbort && call.signal) call.signal.removeEventListener('abort', call.onAbort)
  }
}
