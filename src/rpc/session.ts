import { LimitError } from '../errors.js'
import { type Limits, measure } from '../gate/limits.js'
import { Batch, isBatch, type Unsent } from '../protocol/batch.js'
import { parseSessionHeader, parseSessionMessage, payloadOf, type SessionMessage } from '../protocol/envelope.js'
import { KIND_NAMES, type TraceSink, traceEntry } from '../protocol/trace.js'
import type { RejectionSink, Transport } from '../transport/transport.js'
import type { Caller, Send } from './caller.js'
import { encodeError } from './error-codec.js'
import type { EventHub } from './event-hub.js'
import type { Responder } from './responder.js'

export interface SessionOptions {
  readonly channel: string
  readonly caller: Caller
  readonly responder: (send: Send) => Responder | undefined
  readonly events: EventHub
  readonly onPeerClose: (reason: 'closed' | 'unload') => void
  readonly onRejected: RejectionSink
  readonly trace: TraceSink | undefined
  readonly limits: Limits
  readonly debug: boolean
}

/**
 * One session: the private port made by one handshake, and the dispatch of
 * every message that arrives on it. When the peer reloads, the connection
 * ends this session and opens another; calls never cross between them.
 */
export class Session {
  readonly #port: Transport
  readonly #options: SessionOptions
  readonly #responder: Responder | undefined
  readonly #batch: Batch
  #ended = false
  /**
   * Sends one session message. With `onUnsent`, the message joins this
   * turn's batch and a failed post is reported there; without, it goes at
   * once (after the batch) and a failed post throws.
   */
  readonly send: Send

  constructor(port: Transport, options: SessionOptions) {
    this.#port = port
    this.#options = options
    const trace = options.trace
    const batch = new Batch(port, options.limits.maxBytes)
    this.#batch = batch
    const post = (message: object, transfer?: Transferable[], onUnsent?: Unsent, bytes = 0): void => {
      if (onUnsent) batch.queue(message, transfer, onUnsent, bytes)
      else batch.postNow(message, transfer)
    }
    this.send = trace
      ? (message, transfer, onUnsent, bytes) => {
          trace(traceEntry('send', options.channel, message))
          post(message, transfer, onUnsent, bytes)
        }
      : post
    this.#responder = options.responder(this.send)
    port.listen((data) => this.#receive(data))
    options.caller.attach(this.send, (message) => batch.unqueue(message))
  }

  /**
   * Ends the session: calls it carried reject with `error`; handlers' signals
   * fire. With `dropQueued`, what this turn queued is not sent.
   */
  end(error: Error, notifyPeer: 'closed' | 'unload' | false, dropQueued = false): void {
    if (this.#ended) return
    this.#ended = true
    if (dropQueued) this.#batch.drop()
    // Before the batch goes: the calls it still holds are taken back, not posted to a peer told to close.
    this.#options.caller.detach(error)
    if (notifyPeer) this.send({ k: 'x', r: notifyPeer })
    this.#batch.close()
    this.#responder?.dispose()
    this.#port.close()
  }

  #receive(data: unknown): void {
    const { maxBytes } = this.#options.limits
    if (!Array.isArray(data)) {
      this.#receiveOne(data, maxBytes)
      return
    }
    if (!isBatch(data)) {
      this.#options.onRejected({ reason: 'schema', detail: `malformed batch of ${data.length} messages` })
      return
    }
    // One post is one task, so its messages share one budget (see Batch):
    // 256 messages of shared references cannot cost 256 walks to the limit.
    let left = maxBytes
    for (const item of data) {
      try {
        left -= this.#receiveOne(item, left)
      } catch (error) {
        // Your trace sink or onRejected hook threw: the rest of the batch
        // still arrives, and the error is rethrown outside, as it would be
        // for a message that came alone.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  /** Reads one message within `budget` bytes; returns what its payload cost. */
  #receiveOne(data: unknown, budget: number): number {
    if (this.#ended) return 0
    const options = this.#options
    if (data === null) {
      // Chromium delivers a structure nested deeper than it can clone as null.
      options.onRejected({
        reason: 'limit',
        detail: 'a message arrived as null: nested deeper than the browser can clone',
      })
      return 0
    }
    // Measured before anything else reads it: the receiver's own check, so
    // that a peer with other limits (or none) cannot push an oversize value
    // through, not even into the envelope's parser or your trace sink.
    const { limits } = options
    const whole = budget === limits.maxBytes
    const bytes = measure(payloadOf(data), whole ? limits : { maxBytes: budget, maxDepth: limits.maxDepth })
    if (typeof bytes === 'string') {
      const why = whole ? bytes : `${bytes} left of the ${limits.maxBytes} one post may carry`
      this.#refuseOversize(data, why)
      return budget
    }
    const message = parseSessionMessage(data)
    if (message === undefined) {
      options.onRejected({ reason: 'schema', detail: 'malformed session message' })
      return bytes
    }
    options.trace?.(traceEntry('receive', options.channel, message))
    this.#dispatch(message)
    return bytes
  }

  /** Answers what can be answered of an oversize message: a call with LimitError, a reply by failing its call. */
  #refuseOversize(data: unknown, excess: string): void {
    const options = this.#options
    const head = parseSessionHeader(data)
    options.onRejected({ reason: 'limit', detail: `${excess} (${KIND_NAMES[head?.k ?? ''] ?? 'malformed'} message)` })
    if (head === undefined || head.i === undefined) return
    if (head.k === 'c' && head.m !== undefined) {
      // Under a running call's id, as in dispatch: the refusal would settle the running call.
      if (this.#responder?.isRunning(head.i)) return
      const error = new LimitError(`the peer refused the arguments of "${head.m}": ${excess}`)
      this.send({ k: 'e', i: head.i, e: encodeError(error, options.debug, true) })
    } else if (head.k === 'r' || head.k === 'e') {
      const what = head.k === 'r' ? 'result' : 'error'
      options.caller.refuse(head.i, new LimitError(`the ${what} was refused on receipt: ${excess}`))
    }
  }

  #dispatch(message: SessionMessage): void {
    const options = this.#options
    switch (message.k) {
      case 'c':
        if (this.#responder?.isRunning(message.i)) {
          // A second call under a running call's id: answering it would settle the first.
          options.onRejected({ reason: 'unknown-id', detail: `call ${message.i} is already running` })
          return
        }
        if (!this.#responder?.handle(message)) {
          options.onRejected({ reason: 'unknown-method', detail: `no handler for "${message.m}"` })
          this.send({
            k: 'e',
            i: message.i,
            e: { n: 'MethodNotFoundError', m: `"${message.m}" is not a method of the peer's contract` },
          })
        }
        return
      case 'r':
      case 'e':
        if (!options.caller.settle(message))
          options.onRejected({ reason: 'unknown-id', detail: `reply to unknown call ${message.i}` })
        return
      case 'q':
        this.#responder?.abort(message.i)
        return
      case 'v':
        options.events.deliver(message.m, message.d)
        return
      case 'x':
        options.onPeerClose(message.r)
        return
      case 'f':
        return
    }
  }
}
