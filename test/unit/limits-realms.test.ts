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
