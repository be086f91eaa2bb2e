const marks = new WeakMap<object, Transferable[]>()

/**
 * Marks `value` so that `transferables` are moved, not copied, when it is
 * sent as an argument, a result or an event payload. The sender's buffers are
 * detached afterwards. Without the mark, values are structured-cloned.
 *
 * @example
 * const pixels = new ArrayBuffer(16_000_000)
 * await remote.process(transfer(pixels, [pixels]))
 * pixels.byteLength // 0: it now lives in the other window
 */
export function transfer<T extends object>(value: T, transferables: Transferable[]): T {
  // A list that is not an array would otherwise throw from the call that sends the value.
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null || !Array.isArray(transferables)) {
    throw new TypeError(
      'transfer(value, list): value must be an object (the ArrayBuffer, port, or an object holding them), list an array',
    )
  }
  marks.set(value, transferables)
  return value
}

/**
 * Reads the transfer list marked on `value` into `into`, keeping the mark: a
 * call may still be refused before it is sent (aborted, too big, closed), and
 * a retry of the same value must move it too. {@link forgetTransfer} once sent.
 */
export function peekTransfer(value: unknown, into: Transferable[]): void {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return
  const list = marks.get(value)
  if (list !== undefined) for (const item of list) into.push(item)
}

/** The value was sent: its buffers are moved, and the mark is spent. */
export function forgetTransfer(value: unknown): void {
  if (typeof value === 'object' && value !== null) marks.delete(value)
}

/**
 * Takes (and forgets) the transfer list marked on `value`: appended to `into`
 * when given, else returned (undefined when `value` is not marked).
 */
export function takeTransfer(value: unknown, into?: Transferable[]): Transferable[] | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return into
  const list = marks.get(value)
  if (list === undefined) return into
  marks.delete(value)
  if (into === undefined) return [...list]
  for (const item of list) into.push(item)
  return into
}
