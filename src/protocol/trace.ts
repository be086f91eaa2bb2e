/** One line of the protocol trace (the `trace` option of `connect()`). */
export interface TraceEntry {
  readonly direction: 'send' | 'receive'
  /** The message kind: syn, ack, fin, call, result, error, abort, event, close. */
  readonly kind: string
  readonly channel: string
  readonly id?: string
  readonly method?: string
  /** The message as it crosses the wire: the message itself, not a copy, so read it but do not change it. */
  readonly message: unknown
}

export type TraceSink = (entry: TraceEntry) => void

/** Readable names of the wire's one-letter kinds. */
export const KIND_NAMES: Readonly<Record<string, string>> = {
  s: 'syn',
  a: 'ack',
  f: 'fin',
  c: 'call',
  r: 'result',
  e: 'error',
  q: 'abort',
  v: 'event',
  x: 'close',
}

/**
 * Your sink, made unable to throw into the protocol: a throw midway through
 * sending an abort or close notice would leave a call unsettled or a
 * connection half torn down. The error is rethrown outside, as a listener's is.
 */
export function guardSink(sink: TraceSink | undefined): TraceSink | undefined {
  if (sink === undefined) return undefined
  return (entry) => {
    try {
      sink(entry)
    } catch (error) {
      queueMicrotask(() => {
        throw error
      })
    }
  }
}

/** Turns a wire message into a trace entry. */
export function traceEntry(direction: TraceEntry['direction'], channel: string, message: object): TraceEntry {
  const fields = message as Record<string, unknown>
  const kind = typeof fields.k === 'string' ? (KIND_NAMES[fields.k] ?? fields.k) : 'unknown'
  const entry: { -readonly [K in keyof TraceEntry]: TraceEntry[K] } = { direction, kind, channel, message }
  // Link messages use `n` for a nonce; only session messages name a call id or a method.
  if (typeof fields.pc !== 'number') {
    if (typeof fields.i === 'string') entry.id = fields.i
    if (typeof fields.m === 'string') entry.method = fields.m
  }
  return entry
}
