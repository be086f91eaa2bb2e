/**
 * A transport moves opaque messages to and from one peer. It knows nothing of
 * RPC: the protocol layer above decides what the messages mean.
 */
export interface Transport {
  /** Posts `data` to the peer, never to anyone else. */
  post(data: unknown, transfer?: Transferable[]): void
  /**
   * Posts a content-free announcement (the handshake SYN). Before the peer's
   * origin is known, a window transport may address it to any origin, so the
   * caller must put nothing of value in it.
   */
  announce(data: unknown): void
  /** Sets the one receiver of accepted inbound messages. */
  listen(receiver: Receiver): void
  /** Removes every listener the transport added. Idempotent. */
  close(): void
}

/** Receives a message that passed the transport's checks. */
export type Receiver = (data: unknown, ports: readonly MessagePort[]) => void

/** Why an inbound message was dropped. */
export type RejectionReason = 'origin' | 'source' | 'schema' | 'version' | 'limit' | 'unknown-id' | 'unknown-method'

/** What `onRejected` receives: one report per dropped message. */
export interface Rejection {
  readonly reason: RejectionReason
  /** `event.origin` of the dropped message, when it came through a window. */
  readonly origin?: string
  /** A short human-readable explanation. */
  readonly detail?: string
  /**
   * True when a window message was refused for its origin but came from the
   * peer window itself: the peer navigated to an origin that is not allowed.
   */
  readonly fromPeer?: boolean
}

export type RejectionSink = (rejection: Rejection) => void

/**
 * Anything that can post and receive structured-clone messages with
 * transfer: a `MessagePort`, a `Worker`, or `self` inside a worker.
 */
export interface Endpoint {
  postMessage(message: unknown, transfer: Transferable[]): void
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  start?(): void
  close?(): void
}
