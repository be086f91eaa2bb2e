/**
 * Every error a connection rejects with is a {@link PortcullisError} with a
 * stable `code`, so callers can branch on `err.code` across bundles and realms
 * where `instanceof` may fail. The exceptions are the calling code's own
 * mistakes: a `TypeError` for a misused API, and the browser's
 * `DataCloneError` (numeric `code` 25) for a value it cannot clone.
 */
export type ErrorCode =
  | 'ORIGIN'
  | 'VALIDATION'
  | 'TIMEOUT'
  | 'ABORT'
  | 'DISCONNECTED'
  | 'REMOTE'
  | 'LIMIT'
  | 'HANDSHAKE'

/** Base class of every error thrown or rejected by portcullis. */
export class PortcullisError extends Error {
  readonly code: ErrorCode
  // Error's own `cause` is declared only by lib.es2022.error: named here too,
  // `error.cause` type-checks for a user whose lib is older (ES2020).
  declare cause?: unknown
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'PortcullisError'
  }
}

/**
 * The handshake timed out, and the target window had spoken from an origin
 * that is not in `allowedOrigins` (a wrong port or scheme, typically):
 * `ready` rejects with it instead of a plain {@link TimeoutError}.
 */
export class OriginError extends PortcullisError {
  declare readonly code: 'ORIGIN'
  override readonly name = 'OriginError'
  constructor(message: string) {
    super('ORIGIN', message)
  }
}

/** One problem found by a schema: where (`path`) and what (`message`). */
export interface ValidationIssue {
  readonly path: readonly PropertyKey[]
  readonly message: string
}

const MAX_ISSUES = 100

/**
 * Which value failed its schema: a call's `arguments` or its `result`. No
 * error carries `'event'`: an event payload that fails is dropped and
 * reported to `onRejected`.
 */
export type ValidationTarget = 'arguments' | 'result' | 'event'

/**
 * A value did not match its contract schema. `side` says which window found
 * it: `'local'` when this window checked, `'remote'` when the peer's check
 * did (of the arguments we sent, or of its own result before sending it).
 * `issues` holds the schema's first 100 issues.
 */
export class ValidationError extends PortcullisError {
  declare readonly code: 'VALIDATION'
  override readonly name = 'ValidationError'
  readonly issues: readonly ValidationIssue[]
  readonly target: ValidationTarget
  readonly side: 'local' | 'remote'
  readonly method: string
  constructor(
    target: ValidationTarget,
    method: string,
    issues: readonly ValidationIssue[],
    side: 'local' | 'remote' = 'local',
  ) {
    const first = issues[0]
    const where = first && first.path.length > 0 ? ` at ${first.path.map(String).join('.')}` : ''
    super('VALIDATION', `invalid ${target} for "${method}"${where}: ${first ? first.message : 'rejected by schema'}`)
    // A record of a million bad entries makes a million issues: kept whole,
    // they would be copied again, sent back and refused as too big.
    this.issues = issues.length > MAX_ISSUES ? issues.slice(0, MAX_ISSUES) : issues
    this.target = target
    this.side = side
    this.method = method
  }
}

/** A call, or the handshake, did not finish in time. */
export class TimeoutError extends PortcullisError {
  declare readonly code: 'TIMEOUT'
  override readonly name = 'TimeoutError'
  constructor(message: string) {
    super('TIMEOUT', message)
  }
}

/** The caller's `AbortSignal` fired before the reply arrived. */
export class AbortError extends PortcullisError {
  declare readonly code: 'ABORT'
  override readonly name = 'AbortError'
  constructor(message: string, options?: { cause?: unknown }) {
    super('ABORT', message, options)
  }
}

/** Why a connection ended or a call lost its session. */
export type DisconnectReason =
  | 'closed'
  | 'peer-closed'
  | 'peer-unloaded'
  | 'peer-gone'
  | 'peer-reloaded'
  | 'origin-changed'
  /** This page was hidden (navigation, or the back/forward cache); the connection seeks the peer again if it is shown. */
  | 'page-hidden'

/**
 * The connection closed or the peer went away: for calls in flight, for
 * calls and `emit()` after close (with the reason it closed), and in the
 * fallback for a transport that could not reach the peer.
 */
export class DisconnectedError extends PortcullisError {
  declare readonly code: 'DISCONNECTED'
  override readonly name = 'DisconnectedError'
  readonly reason: DisconnectReason
  constructor(reason: DisconnectReason, message: string) {
    super('DISCONNECTED', message)
    this.reason = reason
  }
}

/**
 * The remote handler threw. `remoteName`, `message`, `data` (own enumerable
 * properties of the thrown value) and `cause` cross the wire; `remoteStack`
 * only when the answering side set `debug: true`.
 */
export class RemoteError extends PortcullisError {
  declare readonly code: 'REMOTE'
  override readonly name = 'RemoteError'
  readonly remoteName: string
  readonly data: Readonly<Record<string, unknown>>
  readonly remoteStack: string | undefined
  constructor(
    remoteName: string,
    message: string,
    data: Record<string, unknown>,
    options: { cause?: unknown; stack?: string } = {},
  ) {
    super('REMOTE', message, 'cause' in options ? { cause: options.cause } : undefined)
    this.remoteName = remoteName
    this.data = data
    this.remoteStack = options.stack
  }
}

/**
 * A message exceeds the size or nesting-depth limit. In `portcullis/fallback`
 * also a request URL over `maxUrlLength` or a reply over `maxReplyLength`.
 */
export class LimitError extends PortcullisError {
  declare readonly code: 'LIMIT'
  override readonly name = 'LimitError'
  constructor(message: string) {
    super('LIMIT', message)
  }
}

/** The handshake failed for a reason other than time: for example a protocol version mismatch. */
export class HandshakeError extends PortcullisError {
  declare readonly code: 'HANDSHAKE'
  override readonly name = 'HandshakeError'
  constructor(message: string) {
    super('HANDSHAKE', message)
  }
}

/**
 * Every error portcullis throws or rejects with (but the `TypeError` and
 * `DataCloneError` of a misuse, see {@link ErrorCode}), as one union: narrow it by
 * `code`, which works where `instanceof` does not (another window's classes,
 * or an app that loads one entry with `import` and the other with `require()`).
 *
 * @example
 * catch (e) {
 *   const error = e as PortcullisErrors
 *   if (error.code === 'VALIDATION') console.log(error.issues)
 * }
 */
export type PortcullisErrors =
  | OriginError
  | ValidationError
  | TimeoutError
  | AbortError
  | DisconnectedError
  | RemoteError
  | LimitError
  | HandshakeError
