import { type ConnectOptions, connect } from '../connect.js'
import type { Connection } from '../connection.js'
import { type Contract, defineContract, type EmptyContract, type RemoteProxy } from '../contract.js'
import { AbortError, DisconnectedError, type PortcullisError } from '../errors.js'
import { createAllowedOrigins } from '../gate/allowed-origins.js'
import { createRemoteProxy } from '../remote-proxy.js'
import type { CallOptions } from '../rpc/caller.js'
import {
  responderOrigin,
  type WindowNameClient,
  type WindowNameClientOptions,
  windowNameClient,
} from './window-name.js'

/**
 * Options of {@link connectWithFallback}: those of `connect()`, plus where the
 * window.name fallback goes. `allowedOrigins` is required whatever the target,
 * and must allow the origin of `fallback.responderUrl`.
 */
export interface FallbackConnectOptions<R extends Contract = EmptyContract, L extends Contract = EmptyContract>
  extends ConnectOptions<R, L> {
  fallback: WindowNameClientOptions & {
    /** Skip `postMessage` and use window.name at once (tests, peers known to be legacy). */
    force?: boolean | undefined
  }
}

/** The transport a {@link FallbackConnection} settled on. */
export type FallbackTransport = 'pending' | 'postMessage' | 'window.name' | 'none'

/** What {@link connectWithFallback} returns. */
export interface FallbackConnection<R extends Contract = EmptyContract, L extends Contract = EmptyContract> {
  /** Resolves with the typed proxy once a transport is chosen. */
  readonly ready: Promise<RemoteProxy<R>>
  /**
   * The typed proxy. A call made before the choice waits for it (at most
   * `connectTimeout`, or until its signal aborts or `close()`); its own
   * timeout starts when the chosen transport takes it, as for later calls.
   */
  readonly remote: RemoteProxy<R>
  /**
   * `'pending'` until the handshake succeeds (`'postMessage'`) or times out
   * (`'window.name'`, at once with `fallback.force` or in a browser without
   * `postMessage`); `'none'` when `ready` rejected instead (an
   * `OriginError`, a `HandshakeError`, a `DisconnectedError` when the peer
   * window is gone before the handshake, or `close()` before the choice).
   */
  readonly transport: FallbackTransport
  /** The `postMessage` connection (events, serving `local`) while one exists; undefined on window.name. */
  readonly connection: Connection<R, L> | undefined
  /** Closes whichever transport is in use: pending calls reject with `DisconnectedError`, frames are removed. */
  close(): void
}

const EMPTY: Contract = /* @__PURE__ */ defineContract({})

function postMessageWorks(): boolean {
  const g = globalThis as { postMessage?: unknown; MessageChannel?: unknown }
  return typeof g.postMessage === 'function' && typeof g.MessageChannel === 'function'
}

/**
 * Prefers `postMessage` and falls back to the window.name transport only when
 * needed: when this browser has no `postMessage`/`MessageChannel`, when the
 * peer never completes the handshake within `connectTimeout` (a page that
 * only runs {@link serveWindowName}), or when `fallback.force` is set. Same
 * contract, same typed proxy, same errors: switching from `connect()` is one
 * line. Over window.name only calls to the peer are possible (no events, no
 * `local` handlers), so keep `connectTimeout` short when legacy peers are
 * expected: a call made before the choice waits for it, then has its whole
 * timeout on the chosen transport, so it may take up to `connectTimeout`
 * plus its timeout.
 *
 * @example
 * import { connectWithFallback } from 'portcullis/fallback'
 * const conn = connectWithFallback({
 *   target: iframe,
 *   allowedOrigins: ['https://widget.example'],
 *   remote: widgetApi,
 *   connectTimeout: 1500,
 *   fallback: {
 *     responderUrl: 'https://widget.example/portcullis-responder.html',
 *     relayUrl: '/portcullis-relay.html',
 *   },
 * })
 * const widget = await conn.ready
 * await widget.add(1, 2) // over postMessage, or window.name if the widget cannot answer
 */
export function connectWithFallback<R extends Contract = EmptyContract, L extends Contract = EmptyContract>(
  options: FallbackConnectOptions<R, L>,
): FallbackConnection<R, L> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('connectWithFallback(): pass an options object')
  const { fallback, ...connectOptions } = options
  if (typeof fallback !== 'object' || fallback === null) {
    throw new TypeError('connectWithFallback(): pass fallback: { responderUrl, relayUrl } (or use connect())')
  }
  // Checked here, not left to connect(): connect() reads the list only for a
  // window target, and never runs with force, but the window.name peer is
  // always a page of another origin, which the list must allow.
  const allowed = createAllowedOrigins(options.allowedOrigins, {
    allowOpaqueOrigin: options.allowOpaqueOrigin === true,
  })
  const contract = (options.remote ?? EMPTY) as R
  // Built now, so a mistake in its options shows at once; it creates nothing until a call.
  const legacy: WindowNameClient<R> = windowNameClient(contract, {
    ...fallback,
    timeout: fallback.timeout ?? options.timeout,
    maxMessageBytes: fallback.maxMessageBytes ?? options.maxMessageBytes,
    maxDepth: fallback.maxDepth ?? options.maxDepth,
  })
  const peerOrigin = responderOrigin('connectWithFallback()', fallback)
  if (!allowed.allows(peerOrigin)) {
    throw new TypeError(
      `connectWithFallback(): fallback.responderUrl is on ${peerOrigin}, which allowedOrigins does not allow; the window.name peer must be an allowed origin, like the postMessage one`,
    )
  }
  let transport: FallbackTransport = 'pending'
  let connection: Connection<R, L> | undefined
  let chosen: RemoteProxy<R> | undefined
  let closed = false
  let settle!: { resolve(proxy: RemoteProxy<R>): void; reject(error: unknown): void }
  const ready = new Promise<RemoteProxy<R>>((resolve, reject) => {
    settle = { resolve, reject }
  })
  // Nobody may await ready; that must not be an unhandled rejection.
  ready.catch(() => {})
  const choose = (kind: FallbackTransport, proxy: RemoteProxy<R>): void => {
    transport = kind
    chosen = proxy
    settle.resolve(proxy)
  }
  // Nothing is pending any more: a transport that is 'pending' forever would keep a caller waiting for it.
  const fail = (error: unknown): void => {
    if (transport === 'pending') transport = 'none'
    settle.reject(error)
  }
  if (fallback.force === true || !postMessageWorks()) {
    choose('window.name', legacy.remote)
  } else {
    const conn = connect<R, L>(connectOptions)
    connection = conn
    conn.ready.then(
      (proxy) => {
        if (!closed) choose('postMessage', proxy)
      },
      (error: PortcullisError) => {
        if (closed) return
        if (error?.code !== 'TIMEOUT') {
          fail(error)
          return
        }
        // The peer never answered the handshake: it cannot use postMessage.
        conn.close()
        connection = undefined
        choose('window.name', legacy.remote)
      },
    )
  }
  const run = (proxy: RemoteProxy<R>, method: string, args: unknown[], options: CallOptions): Promise<unknown> =>
    (proxy as unknown as Record<string, { with(o: CallOptions): (...a: unknown[]) => Promise<unknown> }>)[method]!.with(
      options,
    )(...args)
  // A call made before the choice waits for it without spending its timeout,
  // which starts when the chosen transport takes the call, as for a call made
  // after the choice (and with that transport's default: fallback.timeout on
  // window.name). Counted, the wait would leave an early call nothing: the
  // fallback comes when the handshake gives up, after connectTimeout, which
  // by default equals the call timeout. The wait ends at the choice or at
  // close(), and the call's signal ends it sooner.
  const runWhenChosen = (method: string, args: unknown[], options: CallOptions): Promise<unknown> => {
    const { signal, timeout } = options
    const invalid = timeout !== undefined && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0)
    // A bad timeout or an aborted signal is refused by the Caller before it
    // sends anything; the window.name client always exists, so it answers at
    // once with the very errors connect() would give.
    if (invalid || signal?.aborted) return run(legacy.remote, method, args, options)
    return new Promise((resolve, reject) => {
      let waiting = true
      const onAbort = (): void => {
        waiting = false
        reject(new AbortError(`call to "${method}" was aborted`, { cause: signal?.reason }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      ready.then(
        (proxy) => {
          signal?.removeEventListener('abort', onAbort)
          if (waiting) run(proxy, method, args, options).then(resolve, reject)
        },
        (error: unknown) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      )
    })
  }
  const remote = createRemoteProxy(contract, (method, args, callOptions) => {
    if (closed) return Promise.reject(new DisconnectedError('closed', 'the connection was closed'))
    // The chosen proxy collects the transfer list itself, from the same marks and
    // options: handing it the list collected here too would list each buffer twice,
    // which postMessage refuses (DataCloneError).
    const options: CallOptions = callOptions ?? {}
    if (chosen !== undefined) return run(chosen, method, args, options)
    return runWhenChosen(method, args, options)
  })
  return {
    ready,
    remote,
    get transport() {
      return transport
    },
    get connection() {
      return connection
    },
    close() {
      if (closed) return
      closed = true
      connection?.close()
      legacy.close()
      fail(new DisconnectedError('closed', 'the connection was closed'))
    },
  }
}
