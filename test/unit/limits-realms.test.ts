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
