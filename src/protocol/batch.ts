import type { Transport } from '../transport/transport.js'

/**
 * Most messages one side sends in a single microtask turn. The receiver
 * refuses longer batches; the sender posts a full batch and starts another.
 */
export const MAX_BATCH = 256

const RESOLVED = Promise.resolve()

/** Hears that a queued message could not be posted (a `DataCloneError`, mostly). */
export type Unsent = (error: unknown, message: object) => void

/**
 * Coalesces the session messages one side posts in the same microtask turn
 * into one `postMessage` of an array. With many calls in flight, the cost of
 * each post (clone, task, event) dominates, so 100 calls answered together
 * travel as one message each way. A lone message goes out unwrapped, so a
 * sequential call pays only the wait until the end of the current turn.
 *
 * Order is kept: `postNow` first sends whatever is queued.
 *
 * A batch is one task for the receiver, so all of it shares one size budget,
 * `maxBytes`: the receiver measures its messages against what is left, and a
 * few hundred bytes of shared references in each of 256 messages cannot make
 * it walk 256 budgets in one go. The sender therefore starts a new batch
 * before one would outgrow it.
 */
export class Batch {
  readonly #port: Transport
  readonly #maxBytes: number
  #messages: object[] = []
  #transfers: (Transferable[] | undefined)[] = []
  #unsent: Unsent[] = []
  #scheduled = false
  #closed = false
  #bytes = 0

  constructor(port: Transport, maxBytes: number) {
    this.#port = port
    this.#maxBytes = maxBytes
  }

  /**
   * Queues `message`, whose payload measured `bytes`, for the end of this
   * turn; `onUnsent` hears if it cannot be posted.
   */
  queue(message: object, transfer: Transferable[] | undefined, onUnsent: Unsent, bytes: number): void {
    if (this.#closed) return
    if (this.#messages.length > 0 && this.#bytes + bytes > this.#maxBytes) this.flush()
    this.#bytes += bytes
    this.#messages.push(message)
    this.#transfers.push(transfer)
    this.#unsent.push(onUnsent)
    if (this.#messages.length >= MAX_BATCH) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      // A promise reaction, not queueMicrotask: Blink wraps the latter's
      // callback for error reporting, which measurably costs on every call.
      RESOLVED.then(this.#endTurn)
    }
  }

  /** Posts `message` at once, after anything queued; throws what `postMessage` throws. */
  postNow(message: object, transfer?: Transferable[]): void {
    if (this.#closed) return
    this.flush()
    this.#port.post(message, transfer)
  }

  readonly #endTurn = (): void => {
    this.#scheduled = false
    this.flush()
  }

  /** Posts what is queued: one message alone, several as one array. */
  flush(): void {
    const messages = this.#messages
    const transfers = this.#transfers
    const unsent = this.#unsent
    if (messages.length === 0) return
    this.#bytes = 0
    this.#messages = []
    this.#transfers = []
    this.#unsent = []
    if (messages.length === 1) {
      this.#postOne(messages[0] as object, transfers[0], unsent[0] as Unsent)
      return
    }
    let transfer: Transferable[] | undefined
    for (const list of transfers) if (list !== undefined) (transfer ??= []).push(...list)
    try {
      this.#port.post(messages, transfer)
    } catch {
      // One bad message must not sink the others: post them one by one, so
      // only the one that cannot be cloned fails. A failed post detaches nothing.
      for (let i = 0; i < messages.length; i++) {
        this.#postOne(messages[i] as object, transfers[i], unsent[i] as Unsent)
      }
    }
  }

  /** Sends what is queued and accepts nothing more. */
  close(): void {
    this.flush()
    this.#closed = true
  }

  /**
   * Takes `message` back out of this turn's batch, if it is still there: a
   * call aborted or ended before its post must not reach the peer. Its bytes
   * stay counted, which can only start the next batch early.
   */
  unqueue(message: object): boolean {
    const i = this.#messages.indexOf(message)
    if (i < 0) return false
    this.#messages.splice(i, 1)
    this.#transfers.splice(i, 1)
    this.#unsent.splice(i, 1)
    return true
  }

  /** Forgets what is queued, unsent: its calls were already settled (the connection closed while it was being queued). */
  drop(): void {
    this.#bytes = 0
    this.#messages = []
    this.#transfers = []
    this.#unsent = []
  }

  #postOne(message: object, transfer: Transferable[] | undefined, onUnsent: Unsent): void {
    try {
      this.#port.post(message, transfer)
    } catch (error) {
      onUnsent(error, message)
    }
  }
}

/**
 * Whether an inbound array is a batch a sender could have posted: at least
 * two messages (one goes unwrapped) and at most `MAX_BATCH`.
 */
export function isBatch(data: readonly unknown[]): boolean {
  return data.length >= 2 && data.length <= MAX_BATCH
}
