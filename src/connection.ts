import type { Contract, EmitArgs, EmptyContract, EventName, EventOutput, RemoteProxy } from './contract.js'
import {
  DisconnectedError,
  type DisconnectReason,
  type HandshakeError,
  LimitError,
  OriginError,
  type PortcullisError,
  TimeoutError,
} from './errors.js'
import { exceeds, type Limits } from './gate/limits.js'
import { closeWithNotice, Handshake } from './protocol/handshake.js'
import { guardSink, type TraceSink } from './protocol/trace.js'
import { createRemoteProxy } from './remote-proxy.js'
import { Caller } from './rpc/caller.js'
import { EventHub } from './rpc/event-hub.js'
import { Responder, type ServedMethod } from './rpc/responder.js'
import { Session } from './rpc/session.js'
import { takeTransfer } from './rpc/transfer.js'
import type { Rejection, RejectionSink, Transport } from './transport/transport.js'

/** Where a connection is in its life. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** Why the state last changed. */
export type StateCause = 'connect' | 'handshake' | 'connect-timeout' | 'version-mismatch' | DisconnectReason

/** Hears each state change, with its cause (see `onStateChange`). */
export type StateListener = (state: ConnectionState, cause: StateCause) => void

/** A live link to one peer. Returned by `connect()`. */
export interface Connection<R extends Contract = EmptyContract, L extends Contract = EmptyContract> {
  /** Resolves with the typed proxy once the handshake is done; a new promise while reconnecting. */
  readonly ready: Promise<RemoteProxy<R>>
  /** The typed proxy; calls made before the connection opens wait for it (bounded by their timeout). */
  readonly remote: RemoteProxy<R>
  readonly state: ConnectionState
  /** Why the state last changed, e.g. `'peer-gone'` or `'origin-changed'`. */
  readonly cause: StateCause
  /** Listens for state changes; returns an unsubscribe function. */
  onStateChange(listener: StateListener): () => void
  /** Listens for an event the peer emits; the payload has been validated. Returns an unsubscribe function. */
  on<K extends EventName<R>>(name: K, listener: (payload: EventOutput<R, K>) => void): () => void
  /** Emits an event declared by this side's contract. Queued until the connection is open (the last 1024; older ones are dropped); after close it throws what closed it. */
  emit<K extends EventName<L>>(name: K, ...payload: EmitArgs<L, K>): void
  /** Rejects every pending call with `DisconnectedError`, tells the peer, removes every listener. Idempotent. */
  close(): void
}

/** How to watch for the peer disappearing, and for this page going away. */
export interface Lifecycle {
  /** True once the peer window is gone (iframe removed, popup closed). */
  readonly peerGone?: () => boolean
  /** The window this code runs in, for pagehide/pageshow. */
  readonly host?: Window
  /** What to tell the user when the peer window (a popup, an opener) is gone before the first handshake completed. */
  readonly goneBeforeOpen?: string
  /**
   * True while the peer's origin is opaque (`'null'`). An opaque origin names
   * no site: whatever document the peer window holds next reports `'null'`
   * too, so such a peer gets one session and no reconnect.
   */
  readonly opaquePeer?: () => boolean
  /** Why the first handshake may have gone unanswered, for its `TimeoutError`. */
  readonly unanswered?: () => string
}

export interface ConnectionSetup {
  readonly link: Transport
  readonly lifecycle: Lifecycle
  readonly channel: string
  readonly remote: Contract
  readonly local: Contract
  readonly handlers: Readonly<Record<string, ServedMethod['handler']>>
  readonly timeout: number
  readonly connectTimeout: number
  readonly debug: boolean
  readonly limits: Limits
  readonly trace: TraceSink | undefined
  readonly onRejected: RejectionSink
}

const PEER_WATCH_MS = 200
const MAX_DELAY = 2_147_483_647
const MAX_QUEUED_EVENTS = 1024

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A connection nobody awaits must not cause an unhandled rejection.
  promise.catch(() => {})
  return { promise, resolve, reject }
}

const CAUSE_MESSAGES: Record<DisconnectReason, string> = {
  closed: 'the connection was closed',
  'peer-closed': 'the peer closed the connection',
  'peer-unloaded': 'the peer page unloaded (reload or navigation)',
  'peer-gone': 'the peer window is gone (iframe removed or popup closed)',
  'peer-reloaded': 'the peer page reloaded',
  'origin-changed': 'the peer navigated to an origin that is not allowed',
  'page-hidden': 'this page was hidden (navigation or the back/forward cache)',
}

function disconnected(reason: DisconnectReason): DisconnectedError {
  return new DisconnectedError(reason, CAUSE_MESSAGES[reason])
}

/** The state machine behind `connect()`: handshake, sessions, reconnects, teardown. */
export class ConnectionImpl<R extends Contract, L extends Contract> implements Connection<R, L> {
  readonly #setup: ConnectionSetup
  readonly remote: RemoteProxy<R>
  #currentState: ConnectionState = 'connecting'
  #currentCause: StateCause = 'connect'
  #readyDeferred = deferred<RemoteProxy<R>>()
  // Not #private: the lifecycle fuzz test reads its size (the pending-call table).
  readonly caller: Caller
  readonly #events: EventHub
  readonly #handshake: Handshake
  readonly #served: Record<string, ServedMethod>
  #session: Session | undefined
  readonly #stateListeners = new Set<StateListener>()
  #outbox: Array<{ message: object; transfer: Transferable[] | undefined }> = []
  #connectTimer: ReturnType<typeof setTimeout> | undefined
  #peerWatch: ReturnType<typeof setInterval> | undefined
  #everOpened = false
  // Counts state changes, so a notice overtaken by a newer one stops.
  #transitions = 0
  // The origin of the last message the peer window sent from a disallowed origin.
  #refusedPeerOrigin: string | undefined
  readonly #removeHostListeners: () => void
  readonly #trace: TraceSink | undefined
  // What closed the connection: later calls and emits are told the same.
  #closedBy: DisconnectReason | PortcullisError | undefined

  constructor(setup: ConnectionSetup) {
    this.#setup = setup
    const outputs: Record<string, ServedMethod['output']> = Object.create(null)
    for (const [name, method] of Object.entries(setup.remote.methods)) outputs[name] = method.output
    this.caller = new Caller(outputs, setup.timeout, setup.limits)
    this.#served = Object.create(null)
    for (const [name, method] of Object.entries(setup.local.methods)) {
      this.#served[name] = {
        input: method.input,
        output: method.output,
        handler: setup.handlers[name] as ServedMethod['handler'],
      }
    }
    this.#events = new EventHub(setup.remote.events, setup.onRejected)
    this.remote = createRemoteProxy(setup.remote as R, (method, args, options, transfer) =>
      this.#closedBy !== undefined
        ? Promise.reject(this.#afterClose())
        : this.caller.call(method, args, options, transfer),
    )
    this.#trace = guardSink(setup.trace)
    this.#handshake = new Handshake(setup.link, setup.channel, {
      onSession: (session) => this.#openSession(session),
      onFailure: (error) => this.#fail(error, 'version-mismatch'),
      onRejected: setup.onRejected,
      trace: this.#trace,
      admit: () => this.#admit(),
    })
    this.#removeHostListeners = this.#watchHost(setup.lifecycle.host)
    if (Number.isFinite(setup.connectTimeout)) this.#armConnectTimer(setup.connectTimeout)
    const peerGone = setup.lifecycle.peerGone
    if (peerGone) {
      this.#peerWatch = setInterval(() => {
        if (peerGone()) this.#shutdown('peer-gone', false)
      }, PEER_WATCH_MS)
    }
    this.#handshake.seek()
  }

  get state(): ConnectionState {
    return this.#currentState
  }

  /** Why the state last changed. */
  get cause(): StateCause {
    return this.#currentCause
  }

  get ready(): Promise<RemoteProxy<R>> {
    return this.#readyDeferred.promise
  }

  onStateChange(listener: StateListener): () => void {
    // Refused here, as on() does: called at the next change, it would throw far from this line.
    if (typeof listener !== 'function') throw new TypeError('onStateChange(): the listener must be a function')
    this.#stateListeners.add(listener)
    return () => {
      this.#stateListeners.delete(listener)
    }
  }

  on<K extends EventName<R>>(name: K, listener: (payload: EventOutput<R, K>) => void): () => void {
    return this.#events.on(name, listener)
  }

  emit<K extends EventName<L>>(name: K, ...[payload]: EmitArgs<L, K>): void {
    if (!Object.hasOwn(this.#setup.local.events, name)) {
      throw new TypeError(`emit("${String(name)}"): this side's contract declares no such event`)
    }
    if (this.#closedBy !== undefined) throw this.#afterClose()
    const excess = exceeds(payload, this.#setup.limits)
    if (excess !== undefined) throw new LimitError(`event "${name}" was not sent: ${excess}`)
    const transfer: Transferable[] = []
    takeTransfer(payload, transfer)
    const message = { k: 'v', m: name, d: payload }
    const list = transfer.length > 0 ? transfer : undefined
    if (this.#session) this.#session.send(message, list)
    else {
      if (this.#outbox.length >= MAX_QUEUED_EVENTS) this.#outbox.shift()
      this.#outbox.push({ message, transfer: list })
    }
  }

  close(): void {
    this.#shutdown('closed', 'closed')
  }

  /** The error for a call or emit after the connection closed: the reason it closed, not always 'closed'. */
  #afterClose(): Error {
    const by = this.#closedBy
    return typeof by === 'string' || by === undefined ? disconnected(by ?? 'closed') : by
  }

  #setState(state: ConnectionState, cause: StateCause): void {
    if (this.#currentState === state && this.#currentCause === cause) return
    this.#currentState = state
    this.#currentCause = cause
    const transition = ++this.#transitions
    for (const listener of [...this.#stateListeners]) {
      // A listener changed the state again (close() on 'open', say): the
      // listeners still to hear this notice hear the newer one instead, never
      // 'closed' and then 'open'.
      if (this.#transitions !== transition) return
      try {
        listener(state, cause)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  /**
   * An opaque peer gets one session: a handshake from a new document in its
   * window (whoever put it there) closes the connection before it is
   * answered, so that document is never handed a port, not even one that
   * would only hear a close notice.
   */
  #admit(): boolean {
    if (!this.#everOpened || !this.#setup.lifecycle.opaquePeer?.()) return true
    this.#shutdown('origin-changed', false)
    return false
  }

  #openSession(transport: Transport): void {
    if (this.#currentState === 'closed') {
      closeWithNotice(transport)
      return
    }
    if (this.#everOpened && this.#setup.lifecycle.opaquePeer?.()) {
      // Not the page we had a session with, whatever it claims: the peer
      // window now holds an opaque document, which could be anyone's. admit()
      // refuses its handshake first; this catches a handshake that began
      // before the window turned opaque (an offer its fin answers after).
      closeWithNotice(transport)
      this.#shutdown('origin-changed', false)
      return
    }
    const reconnect = this.#session !== undefined
    // A new page without an unload notice from the old one (a crash, a lost message):
    // still pass through reconnecting, so every transition is observable.
    if (reconnect) this.#lose('peer-reloaded')
    // A state listener may have closed the connection on 'reconnecting' (or a
    // handler's signal listener as the old session ended). The peer already
    // holds the other end of this port, its handshake done: it is told, so it
    // closes instead of staying open on a port nobody reads.
    if (this.state === 'closed') {
      closeWithNotice(transport)
      return
    }
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer)
    this.#connectTimer = undefined
    this.#session = new Session(transport, {
      channel: this.#setup.channel,
      caller: this.caller,
      responder: (send) =>
        Object.keys(this.#served).length > 0
          ? new Responder(this.#served, send, this.#setup.debug, this.#setup.limits)
          : undefined,
      events: this.#events,
      onPeerClose: (reason) => {
        // A removed iframe or a closed popup also unloads: tell the two apart.
        if (this.#setup.lifecycle.peerGone?.()) this.#shutdown('peer-gone', false)
        else if (reason === 'unload') this.#lose('peer-unloaded')
        else this.#shutdown('peer-closed', false)
      },
      onRejected: this.#setup.onRejected,
      trace: this.#trace,
      limits: this.#setup.limits,
      debug: this.#setup.debug,
    })
    const session = this.#session
    // The queued calls went out as the session opened, through your trace
    // sink, which may have closed the connection: they were rejected then, so
    // they must not reach the peer now.
    if (this.#closedBy !== undefined) {
      session.end(this.#afterClose(), 'closed', true)
      this.#session = undefined
      return
    }
    const outbox = this.#outbox
    this.#outbox = []
    for (const { message, transfer } of outbox) {
      try {
        session.send(message, transfer)
      } catch (error) {
        // emit() returned long ago, so an event that cannot be cloned (a
        // function, a detached buffer) is reported like a listener's error;
        // the connection opens all the same.
        queueMicrotask(() => {
          throw error
        })
      }
    }
    // Your trace sink saw each queued event go out, and may have closed the connection.
    if (this.#closedBy !== undefined) return
    this.#setState('open', reconnect || this.#everOpened ? 'peer-reloaded' : 'handshake')
    this.#everOpened = true
    this.#readyDeferred.resolve(this.remote)
  }

  /** The session is gone but the peer may come back (reload, navigation). */
  #lose(reason: DisconnectReason): void {
    if (this.#currentState === 'closed') return
    // An opaque peer cannot be recognised when it comes back: no reconnect.
    if (this.#setup.lifecycle.opaquePeer?.()) {
      this.#shutdown(reason, false)
      return
    }
    const session = this.#session
    // Unset first: a handler's abort listener that emits as the session ends
    // queues its event for the next session, rather than posting into this one.
    this.#session = undefined
    // Replaced by a new session (no unload notice came): the old port's other
    // end may still be read, by a second connection on the same channel in
    // the peer window, or ours. It is told, so it closes instead of staying
    // open on a port nobody serves; a page that is gone hears nothing anyway.
    session?.end(disconnected(reason), reason === 'peer-reloaded' && 'closed')
    // Ending the session fired handlers' signals, whose listeners may have closed the connection.
    if (this.#closedBy !== undefined) return
    if (this.#currentState === 'open') this.#readyDeferred = deferred()
    this.#setState('reconnecting', reason)
  }

  // setTimeout fires at once for delays past 2^31-1 ms: a longer wait is made of several.
  #armConnectTimer(ms: number): void {
    const delay = Math.min(ms, MAX_DELAY)
    this.#connectTimer = setTimeout(
      () => (ms > delay ? this.#armConnectTimer(ms - delay) : this.#connectTimedOut()),
      delay,
    )
  }

  #connectTimedOut(): void {
    const ms = this.#setup.connectTimeout
    const refused = this.#refusedPeerOrigin
    // The most common misconfiguration (a wrong port or scheme) deserves a precise answer.
    const error =
      refused !== undefined
        ? new OriginError(
            `handshake did not complete within ${ms} ms: the target window is at ${refused}, which is not in allowedOrigins`,
          )
        : new TimeoutError(`handshake did not complete within ${ms} ms; ${this.#unanswered()}`)
    this.#fail(error, 'connect-timeout')
  }

  #unanswered(): string {
    const { unanswered, peerGone } = this.#setup.lifecycle
    // A port or a worker has no origin to allow (and no peerGone to watch).
    return unanswered?.() ?? `is connect() called on the other side${peerGone ? ', with this origin allowed' : ''}?`
  }

  #fail(error: HandshakeError | TimeoutError | OriginError, cause: StateCause): void {
    // Closing already: ending the session fires handlers' signals, whose listeners may call close().
    if (this.#closedBy !== undefined) return
    this.#closedBy = error
    this.#readyDeferred.reject(error)
    this.#teardown(error, false)
    this.#setState('closed', cause)
    this.#stateListeners.clear()
  }

  #shutdown(reason: DisconnectReason, notifyPeer: 'closed' | false): void {
    // Closing already (see fail()): what closed it first is what everyone is told.
    if (this.#closedBy !== undefined) return
    const hint = this.#setup.lifecycle.goneBeforeOpen
    const error =
      reason === 'peer-gone' && !this.#everOpened
        ? new DisconnectedError(
            reason,
            `${CAUSE_MESSAGES[reason]} before the handshake completed${hint === undefined ? '' : `. ${hint}`}`,
          )
        : disconnected(reason)
    this.#closedBy = reason
    this.#readyDeferred.reject(error)
    this.#teardown(error, notifyPeer)
    this.#setState('closed', reason)
    this.#stateListeners.clear()
  }

  #teardown(error: PortcullisError, notifyPeer: 'closed' | false): void {
    this.#session?.end(error, notifyPeer)
    this.#session = undefined
    this.caller.rejectAll(error)
    this.#handshake.stop()
    this.#setup.link.close()
    this.#events.clear()
    this.#outbox = []
    this.#removeHostListeners()
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer)
    if (this.#peerWatch !== undefined) clearInterval(this.#peerWatch)
    this.#connectTimer = undefined
    this.#peerWatch = undefined
  }

  // The page going away (or into the back/forward cache) tells the peer,
  // so its pending calls reject at once instead of waiting out their timeout.
  #watchHost(host: Window | undefined): () => void {
    if (host === undefined || typeof host.addEventListener !== 'function') return () => {}
    const onHide = (): void => {
      // Offers are outstanding before the first session, and while a reloaded peer's fin is on its way.
      this.#handshake.withdraw()
      const session = this.#session
      if (session === undefined) return
      if (this.#setup.lifecycle.opaquePeer?.()) {
        this.#shutdown('page-hidden', 'closed')
        return
      }
      // Unset first, as in lose().
      this.#session = undefined
      session.end(disconnected('page-hidden'), 'unload')
      // A handler's signal listener may have closed the connection.
      if (this.#closedBy !== undefined) return
      this.#readyDeferred = deferred()
      this.#setState('reconnecting', 'page-hidden')
    }
    const onShow = (event: PageTransitionEvent): void => {
      // Still 'connecting' too: a follower that adopted a withdrawn offer waits for a new nonce.
      const seeking = this.#currentState === 'connecting' || this.#currentState === 'reconnecting'
      if (event.persisted && seeking) this.#handshake.seek()
    }
    host.addEventListener('pagehide', onHide)
    host.addEventListener('pageshow', onShow)
    return () => {
      host.removeEventListener('pagehide', onHide)
      host.removeEventListener('pageshow', onShow)
    }
  }

  /** Used by connect() to react to a peer that navigated to a disallowed origin. */
  peerLeftAllowedOrigins(rejection: Rejection): void {
    if (!rejection.fromPeer || rejection.reason !== 'origin') return
    this.#refusedPeerOrigin = rejection.origin
    if (this.#currentState === 'open') this.#lose('origin-changed')
    else if (this.#currentState === 'reconnecting') this.#setState('reconnecting', 'origin-changed')
  }
}
