import { nanoid } from 'nanoid'
import { HandshakeError } from '../errors.js'
import { openPrivateChannel, sessionTransport } from '../transport/endpoint-transport.js'
import type { RejectionSink, Transport } from '../transport/transport.js'
import { type Ack, PROTOCOL_VERSION, parseLinkMessage, type Syn } from './envelope.js'
import { type TraceSink, traceEntry } from './trace.js'

/** What the handshake reports to the connection that runs it. */
export interface HandshakeEvents {
  /** A private channel to the peer is ready; `peerNonce` names the peer's page instance. */
  onSession(session: Transport, peerNonce: string): void
  /** The peer cannot be talked to (for example a protocol version mismatch). */
  onFailure(error: HandshakeError): void
  onRejected: RejectionSink
  /** Receives every handshake message sent and received, when tracing is on. */
  trace?: TraceSink | undefined
  /** Asked before a new peer's SYN is answered or its ACK adopted: false drops it. */
  admit?(): boolean
}

const FIRST_RETRY_MS = 20
const MAX_RETRY_MS = 1000
// Bounds on what a chatty peer window can make us remember.
const MAX_REMEMBERED = 64

/**
 * Closes a session port that the other side may have adopted already (an
 * offer, a port turned down), telling it first, so it does not stay open on it.
 */
export function closeWithNotice(port: Transport, reason: 'closed' | 'unload' = 'closed'): void {
  try {
    port.post({ k: 'x', r: reason })
  } catch {}
  port.close()
}

/**
 * The symmetric handshake. Both sides announce a SYN carrying a random nonce;
 * whichever side holds the greater nonce leads: it opens a private channel
 * and sends one end in an ACK to the peer's concrete origin; the follower
 * checks that the ACK echoes its nonce and names its channel, and answers
 * `fin` over the port. Either side may start first; a follower that hears a
 * SYN answers with its own at once, so the later side never waits for a retry.
 *
 * It keeps listening after a session is made: a SYN with a new nonce is the
 * peer's page reloaded or navigated, and leads to a new session.
 */
export class Handshake {
  readonly #link: Transport
  readonly #channel: string
  readonly #events: HandshakeEvents
  #nonce = nanoid()
  #sessionPeerNonce: string | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #retryDelay = FIRST_RETRY_MS
  readonly #answered = new Set<string>()
  readonly #offered = new Map<string, Transport>()
  #stopped = false

  constructor(link: Transport, channel: string, events: HandshakeEvents) {
    this.#link = link
    this.#channel = channel
    this.#events = events
    link.listen((data, ports) => this.#receive(data, ports))
  }

  /** Starts (or restarts, with a fresh nonce) announcing this side until a session is made. */
  seek(): void {
    if (this.#stopped) return
    this.#nonce = nanoid()
    // A peer that stayed alive (we come back from the back/forward cache) keeps its
    // nonce: it must be heard again, not ignored as the session we left.
    this.#sessionPeerNonce = undefined
    this.#answered.clear()
    this.#retryDelay = FIRST_RETRY_MS
    this.#clearRetry()
    this.#announce()
  }

  /**
   * Stops every timer and closes every offered port. The link is the caller's to close.
   * A peer may already have adopted a port whose fin is still on its way: it
   * hears the close notice, instead of staying open on a port nobody reads.
   */
  stop(): void {
    this.#stopped = true
    this.#clearRetry()
    this.#closeOffers('closed')
  }

  /**
   * This page is going away (or into the back/forward cache): a follower that
   * adopted an offered port hears it, instead of staying open on a port whose
   * reader is gone. Seeking again (on pageshow) draws a fresh nonce, which
   * such a follower, now holding our old nonce as its session's, listens for.
   */
  withdraw(): void {
    this.#closeOffers('unload')
  }

  #closeOffers(reason: 'closed' | 'unload'): void {
    for (const offer of this.#offered.values()) closeWithNotice(offer, reason)
    this.#offered.clear()
  }

  #sendSyn(): void {
    const syn: Syn = { pc: PROTOCOL_VERSION, k: 's', n: this.#nonce }
    this.#events.trace?.(traceEntry('send', this.#channel, syn))
    this.#link.announce(syn)
  }

  #announce(): void {
    this.#sendSyn()
    // Your trace sink may have closed the connection on this SYN: no retry may outlive stop().
    if (this.#stopped) return
    this.#retryTimer = setTimeout(() => {
      this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_RETRY_MS)
      this.#announce()
    }, this.#retryDelay)
  }

  #clearRetry(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  #receive(data: unknown, ports: readonly MessagePort[]): void {
    if (this.#stopped) return
    const parsed = parseLinkMessage(data)
    if (!parsed.ok) {
      this.#events.onRejected({ reason: parsed.reason, detail: parsed.detail })
      if (parsed.reason === 'version') {
        // Make sure the peer sees our version too, so both sides fail clearly.
        this.#sendSyn()
        this.stop()
        this.#events.onFailure(
          new HandshakeError(`${parsed.detail}; load the same major version of portcullis on both sides`),
        )
      }
      return
    }
    const message = parsed.message
    this.#events.trace?.(traceEntry('receive', this.#channel, message))
    // Your trace sink may have closed the connection on this message: an
    // offer made now would be a port left listening that stop() never closes.
    if (this.#stopped) return
    if (message.k === 's') this.#onSyn(message)
    else this.#onAck(message, ports[0])
  }

  #onSyn(syn: Syn): void {
    const peer = syn.n
    if (peer === this.#nonce || peer === this.#sessionPeerNonce || this.#answered.has(peer)) return
    if (this.#events.admit?.() === false) return
    remember(this.#answered, peer)
    if (this.#nonce > peer) this.#offerPort(peer)
    else this.#sendSyn()
  }

  #offerPort(followerNonce: string): void {
    const { local, remote } = openPrivateChannel()
    if (this.#offered.size >= MAX_REMEMBERED) {
      const [oldest, offer] = this.#offered.entries().next().value as [string, Transport]
      // Its follower may have adopted it already (its fin still in flight).
      closeWithNotice(offer)
      this.#offered.delete(oldest)
    }
    this.#offered.set(followerNonce, local)
    local.listen((data) => {
      const fin = data as { k?: unknown } | null
      if (typeof fin !== 'object' || fin === null || fin.k !== 'f') return
      this.#events.trace?.(traceEntry('receive', this.#channel, { k: 'f' }))
      this.#offered.delete(followerNonce)
      this.#established(local, followerNonce)
    })
    const ack: Ack = { pc: PROTOCOL_VERSION, k: 'a', n: followerNonce, l: this.#nonce, c: this.#channel }
    this.#events.trace?.(traceEntry('send', this.#channel, ack))
    this.#link.post(ack, [remote])
  }

  #onAck(ack: Ack, port: MessagePort | undefined): void {
    if (port === undefined) {
      this.#events.onRejected({ reason: 'schema', detail: 'handshake ACK without a port' })
      return
    }
    // Every connection in this window sees every ACK: one for another nonce belongs to
    // another connection, which may adopt this very port, so it is left alone.
    if (ack.n !== this.#nonce || ack.l === this.#sessionPeerNonce || this.#events.admit?.() === false) return
    // Addressed to us by a connection on another channel between the same windows.
    if (ack.c !== this.#channel) {
      port.close()
      return
    }
    const session = sessionTransport(port)
    const fin = { k: 'f' }
    this.#events.trace?.(traceEntry('send', this.#channel, fin))
    session.post(fin)
    this.#established(session, ack.l)
  }

  #established(session: Transport, peerNonce: string): void {
    this.#clearRetry()
    this.#sessionPeerNonce = peerNonce
    // A second connection on our channel in the peer window may have adopted
    // another offer and sent its fin: it is told, so it closes (peer-closed)
    // instead of staying open on a port nobody reads.
    this.#closeOffers('closed')
    this.#events.onSession(session, peerNonce)
  }
}

function remember(set: Set<string>, value: string): void {
  if (set.size >= MAX_REMEMBERED) {
    const oldest = set.values().next().value as string
    set.delete(oldest)
  }
  set.add(value)
}
