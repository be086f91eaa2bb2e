/**
 * Size and depth limits. A message is measured before it is posted (so an
 * oversize call fails at the caller, fast, with nothing sent) and again on
 * receipt (so a peer with other limits cannot push it through). Measuring
 * walks the value once, never serialises it, and stops at the first excess.
 */
export interface Limits {
  /** Estimated bytes: string lengths plus binary byte lengths plus 8 per other value. */
  readonly maxBytes: number
  /** Nesting depth of objects, arrays, maps and sets. */
  readonly maxDepth: number
}

export const DEFAULT_LIMITS: Limits = { maxBytes: 32 * 1024 * 1024, maxDepth: 100 }

const PRIMITIVE_BYTES = 8

class Excess {
  constructor(readonly what: string) {}
}

interface Budget {
  left: number
  readonly limits: Limits
  // Binary data is copied a whole buffer at a time, and a buffer shared by views is copied once.
  buffers: Set<ArrayBufferLike> | undefined
}

/**
 * Returns why `value` exceeds `limits` (as a short phrase), or undefined when it fits.
 *
 * @example
 * exceeds('x'.repeat(50e6), DEFAULT_LIMITS) // 'more than 33554432 bytes'
 */
export function exceeds(value: unknown, limits: Limits): string | undefined {
  try {
    walk(value, limits.maxDepth, { left: limits.maxBytes, limits, buffers: undefined })
    return undefined
  } catch (error) {
    if (error instanceof Excess) return error.what
    // A getter that throws, or a revoked proxy: what cannot be measured cannot be sent.
    return 'a value that cannot be measured'
  }
}

function spend(budget: Budget, bytes: number): void {
  budget.left -= bytes
  if (budget.left < 0) throw new Excess(`more than ${budget.limits.maxBytes} bytes`)
}

function spendBuffer(budget: Budget, buffer: ArrayBufferLike): void {
  budget.buffers ??= new Set()
  if (budget.buffers.has(buffer)) return
  budget.buffers.add(buffer)
  spend(budget, buffer.byteLength)
}

function walk(value: unknown, depthLeft: number, budget: Budget): void {
  if (typeof value === 'string') {
    spend(budget, value.length)
    return
  }
  if (typeof value !== 'object' || value === null) {
    spend(budget, PRIMITIVE_BYTES)
    return
  }
  if (depthLeft <= 0) throw new Excess(`nesting deeper than ${budget.limits.maxDepth} levels`)
  const depth = depthLeft - 1
  // Arrays and plain objects first: they are nearly everything a message holds.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value[i], depth, budget)
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    // for-in allocates nothing (Object.keys would, for every object of a large
    // message). An enumerable key inherited from a polluted Object.prototype is
    // counted too, which can only over-estimate.
    for (const key in value) {
      spend(budget, key.length)
      walk((value as Record<string, unknown>)[key], depth, budget)
    }
    return
  }
  if (walkSpecial(value, depth, budget)) return
  for (const key of Object.keys(value)) {
    spend(budget, key.length)
    walk((value as Record<string, unknown>)[key], depth, budget)
  }
}

/** Values structured clone copies by more than their enumerable keys; false for any other object. */
function walkSpecial(value: object, depth: number, budget: Budget): boolean {
  if (ArrayBuffer.isView(value)) {
    // A view of 16 bytes still carries its whole buffer across.
    spendBuffer(budget, value.buffer)
  } else if (value instanceof ArrayBuffer) {
    spendBuffer(budget, value)
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      walk(k, depth, budget)
      walk(v, depth, budget)
    }
  } else if (value instanceof Set) {
    for (const item of value) walk(item, depth, budget)
  } else if (value instanceof RegExp) {
    spend(budget, value.source.length)
  } else if (value instanceof String) {
    spend(budget, value.length)
  } else if (typeof Blob !== 'undefined' && value instanceof Blob) {
    spend(budget, value.size)
  } else if (value instanceof Error) {
    // Copied even though they are not enumerable; own enumerable data is walked after.
    walk(value.name, depth, budget)
    walk(value.message, depth, budget)
    walk(value.stack, depth, budget)
    if ('cause' in value) walk(value.cause, depth, budget)
    return false
  } else {
    return false
  }
  return true
}
