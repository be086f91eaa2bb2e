/**
 * Size and depth limits. A message is measured before it is posted (so an
 * oversize call fails at the caller, fast, with nothing sent) and again on
 * receipt (so a peer with other limits cannot push it through). Measuring
 * walks the value once, never serialises it, and stops at the first excess.
 *
 * Structured clone keeps shared references, so a value of a few hundred
 * bytes on the wire can hold 2^60 paths (`a = [a, a]`, sixty times). The walk
 * does not remember what it has seen (a visited set doubles its cost on every
 * message); instead every object and array costs bytes each time it is
 * reached. A shared part is counted once per path, which can only
 * over-estimate, and the walk takes at most `maxBytes / 8` steps whatever the
 * value's shape: no more than a legitimate message at the limit.
 */
export interface Limits {
  /** Estimated bytes: 8 per value (string, number, object, array...), plus string lengths, BigInt digits and binary byte lengths. */
  readonly maxBytes: number
  /** Nesting depth of objects, arrays, maps and sets. */
  readonly maxDepth: number
}

export const DEFAULT_LIMITS: Limits = { maxBytes: 32 * 1024 * 1024, maxDepth: 100 }

const PRIMITIVE_BYTES = 8

class Excess {
  constructor(readonly what: string) {}
}

// The walk's state is kept in module variables rather than an object handed
// down every call: measured about 15% faster on a 1 MB message. A getter of
// the value may send (and so measure) a message of its own, so exceeds()
// saves the state of the walk it interrupts and restores it.
let left = 0
let maxBytes = 0
let maxDepth = 0
// Binary data is copied a whole buffer at a time, and a buffer shared by views is copied once.
let buffers: Set<ArrayBufferLike> | undefined

/**
 * Returns why `value` exceeds `limits` (as a short phrase), or undefined when it fits.
 *
 * @example
 * exceeds('x'.repeat(50e6), DEFAULT_LIMITS) // 'more than 33554432 bytes'
 */
export function exceeds(value: unknown, limits: Limits): string | undefined {
  const measured = measure(value, limits)
  return typeof measured === 'string' ? measured : undefined
}

/**
 * The estimated bytes of `value` when it fits `limits`, else why it does not
 * (as {@link exceeds} says it). Several messages posted as one batch share one
 * budget, so the sender counts what it queues and the receiver what it reads.
 *
 * @example
 * measure(['ab'], DEFAULT_LIMITS) // 18: the array, then the string and its two characters
 */
export function measure(value: unknown, limits: Limits): number | string {
  const outerLeft = left
  const outerMaxBytes = maxBytes
  const outerMaxDepth = maxDepth
  const outerBuffers = buffers
  left = limits.maxBytes
  maxBytes = limits.maxBytes
  maxDepth = limits.maxDepth
  buffers = undefined
  try {
    walk(value, limits.maxDepth)
    return limits.maxBytes - left
  } catch (error) {
    if (error instanceof Excess) return error.what
    // A getter that throws, or a revoked proxy: what cannot be measured cannot be sent.
    return 'a value that cannot be measured'
  } finally {
    left = outerLeft
    maxBytes = outerMaxBytes
    maxDepth = outerMaxDepth
    buffers = outerBuffers
  }
}

function spend(bytes: number): void {
  // A size read from the value (a forged Blob's) could be NaN, which would
  // pass every later check, or negative, which would lift the budget.
  if (!(bytes >= 0)) throw new TypeError('not a size')
  left -= bytes
  if (left < 0) overflow()
}

function spendBuffer(buffer: ArrayBufferLike): void {
  buffers ??= new Set()
  if (buffers.has(buffer)) return
  buffers.add(buffer)
  spend(buffer.byteLength)
}

/**
 * Every value costs 8 bytes, strings (even empty ones) included: an array of
 * a million '' is still a million slots to clone and walk. The budget is
 * checked after every value, so a sparse array of length 2^32 stops after
 * `maxBytes / 8` steps like any other.
 */
function walk(value: unknown, depthLeft: number): void {
  left -= PRIMITIVE_BYTES
  if (typeof value === 'string') left -= value.length
  else if (typeof value === 'object' && value !== null) {
    if (left < 0) overflow()
    walkObject(value, depthLeft)
  } else if (typeof value === 'bigint') left -= bigintBytes(value)
  if (left < 0) overflow()
}

const LARGE_BIGINT = 1n << 64n

/** Structured clone copies every digit, and a BigInt may have a billion bits. */
function bigintBytes(value: bigint): number {
  const magnitude = value < 0n ? -value : value
  if (magnitude < LARGE_BIGINT) return 0
  // What is left of the budget, shifted out, leaves nothing unless the number
  // is over it: no string of a huge number is ever made.
  if (left < 0 || magnitude >> BigInt(Math.floor(left) * 8) !== 0n) return left + 1
  return Math.ceil(magnitude.toString(16).length / 2)
}

function walkObject(value: object, depthLeft: number): void {
  if (depthLeft <= 0) throw new Excess(`nesting deeper than ${maxDepth} levels`)
  const depth = depthLeft - 1
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value[i], depth)
    walkArrayProperties(value, depth)
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    // for-in allocates nothing (Object.keys would, for every object of a large
    // message). An enumerable key inherited from a polluted Object.prototype is
    // counted too, which can only over-estimate.
    for (const key in value) {
      left -= key.length
      walk((value as Record<string, unknown>)[key], depth)
    }
    return
  }
  if (walkSpecial(value, depth)) return
  for (const key of Object.keys(value)) {
    spend(key.length)
    walk((value as Record<string, unknown>)[key], depth)
  }
}

function overflow(): never {
  throw new Excess(`more than ${maxBytes} bytes`)
}

/**
 * Structured clone also copies an array's own named properties (`arr.big =
 * ...`), which the index loop does not see. Own keys list the indices first,
 * in order, then the names: when the last key is the last index there are no
 * names, which is nearly always and costs one comparison (parsing every
 * array's last key instead took a quarter of the walk). Otherwise, read from
 * the end, the first index ends the names.
 */
function walkArrayProperties(array: unknown[], depth: number): void {
  const keys = Object.keys(array)
  const n = keys.length
  // An empty array's last index would be '-1', which is a name.
  if (n === 0 || (array.length > 0 && keys[n - 1] === String(array.length - 1))) return
  for (let i = n - 1; i >= 0; i--) {
    const key = keys[i] as string
    // '-1', '1.5' and '4294967296' are names: an index is a canonical uint32 below the length.
    const index = Number(key) >>> 0
    if (String(index) === key && index < array.length) return
    spend(key.length)
    walk((array as unknown as Record<string, unknown>)[key], depth)
  }
}

const tagOf = Object.prototype.toString

/**
 * Values structured clone copies by more than their enumerable keys; false for
 * any other object. Known by their tag, not `instanceof`: a Map made by a
 * same-origin frame or popup is no instance of this window's Map, and is
 * copied whole all the same.
 */
function walkSpecial(value: object, depth: number): boolean {
  const tag = tagOf.call(value).slice(8, -1)
  if (ArrayBuffer.isView(value)) {
    // A view of 16 bytes still carries its whole buffer across.
    spendBuffer(value.buffer)
  } else if (tag === 'ArrayBuffer') {
    spendBuffer(value as ArrayBuffer)
  } else if (tag === 'Map') {
    for (const [k, v] of value as Map<unknown, unknown>) {
      walk(k, depth)
      walk(v, depth)
    }
  } else if (tag === 'Set') {
    for (const item of value as Set<unknown>) walk(item, depth)
  } else if (tag === 'RegExp') {
    spend((value as RegExp).source.length)
  } else if (tag === 'String') {
    spend((value as { length: number }).length)
  } else if (tag === 'BigInt') {
    spend(bigintBytes(value.valueOf() as bigint))
  } else if (tag === 'ImageData') {
    // Its pixels sit behind a prototype getter that the fallback below would not see.
    spend((value as ImageData).data.byteLength)
  } else if (tag === 'ImageBitmap') {
    spend((value as ImageBitmap).width * (value as ImageBitmap).height * 4)
  } else if (tag === 'Blob' || tag === 'File') {
    // Structured clone copies a File's name and a Blob's type too: strings of
    // any length beside bytes that may be none (an empty File, a long name).
    const blob = value as File
    spend(blob.size + blob.type.length + (blob.name?.length ?? 0))
  } else if (tag === 'Error' || value instanceof Error) {
    // (instanceof too: a DOMException is tagged as itself.) Copied even though
    // they are not enumerable; own enumerable data is walked after. The message
    // crosses as String(message): an object's toString may make it any size.
    const error = value as Error
    walk(error.name, depth)
    walk(String(error.message), depth)
    walk(error.stack, depth)
    if ('cause' in error) walk(error.cause, depth)
    return false
  } else {
    return false
  }
  return true
}
