import type { AllowedOrigins } from '../gate/allowed-origins.js'
import type { Receiver, RejectionSink, Transport } from './transport.js'

const NO_PORTS: readonly MessagePort[] = []
// `'null'` is not a valid targetOrigin: the platform can address an opaque
// origin only with '*', and the source check pins the one window it came from.
const OPAQUE = 'null'

/**
 * Talks to another window (`iframe.contentWindow`, `parent`, `opener`, a
 * popup) through `postMessage`. The gate runs here: an inbound message is
 * accepted only if `event.origin` is allowed AND `event.source` is the peer,
 * checked in that order and before `event.data` is read.
 */
export class WindowTransport implements Transport {
  readonly #peer: Window
  readonly #allowed: AllowedOrigins
  readonly #onRejected: RejectionSink
  readonly #host: Window
  #receiver: Receiver | undefined
  #pinnedOrigin: string | undefined
  #closed = false
  readonly #onMessage = (event: MessageEvent): void => {
    const origin = event.origin
    if (!this.#allowed.allows(origin)) {
      // Comparing the source is cheap and still leaves event.data untouched.
      this.#onRejected(
        event.source === this.#peer ? { reason: 'origin', origin, fromPeer: true } : { reason: 'origin', origin },
      )
      return
    }
    if (event.source !== this.#peer) {
      this.#onRejected({ reason: 'source', origin })
      return
    }
    this.#pinnedOrigin = origin
    this.#receiver?.(event.data, event.ports ?? NO_PORTS)
  }

  constructor(
    peer: Window,
    allowed: AllowedOrigins,
    onRejected: RejectionSink,
    host: Window = globalThis as unknown as Window,
  ) {
    this.#peer = peer
    this.#allowed = allowed
    this.#onRejected = onRejected
    this.#host = host
    host.addEventListener('message', this.#onMessage)
  }

  /** The origin of the last accepted message, or the sole allowed origin. */
  get peerOrigin(): string | undefined {
    return this.#pinnedOrigin ?? this.#allowed.soleOrigin
  }

  /** True when the peer last spoke from an opaque origin: any document in that window could be it. */
  get peerIsOpaque(): boolean {
    return this.#pinnedOrigin === OPAQUE
  }

  post(data: unknown, transfer: Transferable[] = []): void {
    const origin = this.peerOrigin
    if (this.#closed || origin === undefined) return
    this.#peer.postMessage(data, origin === OPAQUE ? '*' : origin, transfer)
  }

  announce(data: unknown): void {
    if (this.#closed) return
    const origin = this.peerOrigin
    // The SYN: a nonce and a version, nothing else; see DESIGN.md.
    this.#peer.postMessage(data, origin === undefined || origin === OPAQUE ? '*' : origin)
  }

  listen(receiver: Receiver): void {
    this.#receiver = receiver
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#receiver = undefined
    this.#host.removeEventListener('message', this.#onMessage)
  }
}
