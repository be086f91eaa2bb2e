import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { exceeds } from '../../src/gate/limits.js'

const small = { maxBytes: 100, maxDepth: 3 }

describe('exceeds: built-ins of another realm', () => {
  // A same-origin frame or popup is another realm: its Map is no `instanceof Map`
  // here, and structured clone copies it all the same.
  it.each([
    ['a Map', "new Map([['k', 'v'.repeat(200)]])"],
    ['a Set', "new Set(['v'.repeat(200)])"],
    ['an ArrayBuffer', 'new ArrayBuffer(200)'],
    ['a RegExp', "new RegExp('x'.repeat(200))"],
    ['an Error', "new Error('x'.repeat(200))"],
    ['a TypeError', "new TypeError('x'.repeat(200))"],
    ['a boxed String', "new String('x'.repeat(200))"],
    ['a boxed BigInt', 'Object(1n << 1600n)'],
  ])('counts %s made in another realm as it counts one of ours', (_, source) => {
    expect(exceeds(runInNewContext(`(${source})`), small)).toBe('more than 100 bytes')
    expect(exceeds(runInNewContext(`[${source}]`), small)).toBe('more than 100 bytes')
  })
})

describe('exceeds: sizes read from the value', () => {
  it('a size that is not a count (NaN, negative) refuses the value instead of lifting the budget', () => {
    // A forged Blob: its size is whatever the object says. NaN made every later
    // comparison false, so the whole message passed whatever it held.
    for (const size of [Number.NaN, -1e15, undefined]) {
      const forged = Object.assign(Object.create({ [Symbol.toStringTag]: 'Blob' }), { size })
      expect(exceeds([forged, 'x'.repeat(1000)], small)).toBe('a value that cannot be measured')
    }
  })
})

describe("exceeds: an Error's message", () => {
  it('counts the message as structured clone copies it: converted to a string', () => {
    // An i18n message object, a number, a BigInt: the clone carries String(message).
    const error = Object.assign(new Error(), { stack: '' })
    ;(error as { message: unknown }).message = { toString: () => 'x'.repeat(200) }
    expect(exceeds(error, small)).toBe('more than 100 bytes')
    const digits = Object.assign(new Error(), { stack: '' })
    // 10^150 is 63 bytes of BigInt, and 151 characters as a message.
    ;(digits as { message: unknown }).message = 10n ** 150n
    expect(exceeds(digits, { maxBytes: 150, maxDepth: 3 })).toBe('more than 150 bytes')
  })
})

describe('exceeds: coverage of boundaries and shared binary data', () => {
  it('counts a buffer shared by several views once, as structured clone copies it once', () => {
    const buffer = new ArrayBuffer(60)
    const views = [new Uint8Array(buffer, 0, 1), new DataView(buffer, 10), new Float64Array(buffer, 8, 1), buffer]
    // The array, four views of 8 bytes each, and 60 bytes of buffer.
    expect(exceeds(views, { maxBytes: 8 * 5 + 60, maxDepth: 3 })).toBeUndefined()
    expect(exceeds(views, { maxBytes: 8 * 5 + 59, maxDepth: 3 })).toBe('more than 99 bytes')
    // Alone: 8 for the buffer, 60 for its bytes.
    expect(exceeds(buffer, { maxBytes: 68, maxDepth: 3 })).toBeUndefined()
  })

  it('maxDepth counts containers, not the primitives inside: exactly at the limit fits, one more is refused', () => {
    let value: unknown = 'leaf'
    for (let i = 0; i < 100; i++) value = i % 2 ? { d: value } : [value]
    expect(exceeds(value, { maxBytes: 1e6, maxDepth: 100 })).toBeUndefined()
    expect(exceeds([value], { maxBytes: 1e6, maxDepth: 100 })).toBe('nesting deeper than 100 levels')
    // A Map's keys and values and an Error's cause are one level down.
    expect(exceeds(new Map([[{}, 1]]), { maxBytes: 1e6, maxDepth: 1 })).toBe('nesting deeper than 1 levels')
    expect(exceeds(new Error('e', { cause: {} }), { maxBytes: 1e6, maxDepth: 1 })).toBe('nesting deeper than 1 levels')
  })
})
