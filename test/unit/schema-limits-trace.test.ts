import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { DEFAULT_LIMITS, exceeds } from '../../src/gate/limits.js'
import { traceEntry } from '../../src/protocol/trace.js'
import { isStandardSchema, type StandardSchemaV1, validate } from '../../src/rpc/standard-schema.js'

describe('validate (Standard Schema v1)', () => {
  it('answers synchronously for a synchronous schema', () => {
    expect(validate(z.number(), 1)).toEqual({ ok: true, value: 1 })
    const failed = validate(z.object({ a: z.string() }), { a: 1 })
    expect(failed).toEqual({ ok: false, issues: [{ path: ['a'], message: expect.any(String) }] })
  })

  it('returns a promise for an asynchronous schema', async () => {
    const checked = validate(
      z.number().refine(async () => true),
      1,
    )
    expect(checked).toBeInstanceOf(Promise)
    await expect(checked).resolves.toEqual({ ok: true, value: 1 })
  })

  it('flattens path segments given as { key } objects and tolerates a missing path', () => {
    const schema: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'handmade',
        validate: () => ({ issues: [{ message: 'a', path: [{ key: 'x' }, 0, { key: 1 }] }, { message: 'b' }] }),
      },
    }
    expect(validate(schema, null)).toEqual({
      ok: false,
      issues: [
        { message: 'a', path: ['x', 0, 1] },
        { message: 'b', path: [] },
      ],
    })
  })

  it('never throws nor rejects: a schema that does, or answers nonsense, reports an issue', async () => {
    const schema = (validate: () => unknown): StandardSchemaV1 =>
      ({ '~standard': { version: 1, vendor: 'handmade', validate } }) as StandardSchemaV1
    const refused = (message: string) => ({ ok: false, issues: [{ message, path: [] }] })
    expect(
      validate(
        schema(() => {
          throw new Error('bug')
        }),
        1,
      ),
    ).toEqual(refused('the schema threw: bug'))
    await expect(
      validate(
        schema(() => Promise.reject('late bug')),
        1,
      ),
    ).resolves.toEqual(refused('the schema threw: late bug'))
    expect(
      validate(
        schema(() => null),
        1,
      ),
    ).toEqual(refused(expect.stringMatching(/^the schema threw: /)))
    const unprintable = Object.create(null)
    expect(
      validate(
        schema(() => {
          throw unprintable
        }),
        1,
      ),
    ).toEqual(refused('the schema threw: an unprintable value'))
    // zod turns a throwing transform into a rejected promise.
    const parsed = z.string().transform((text) => JSON.parse(text) as unknown)
    await expect(validate(parsed, 'not json')).resolves.toMatchObject({ ok: false })
  })

  it('isStandardSchema recognises zod and hand-made schemas only', () => {
    expect(isStandardSchema(z.string())).toBe(true)
    const fn = Object.assign(() => {}, { '~standard': { version: 1, vendor: 'x', validate: () => ({ value: 1 }) } })
    expect(isStandardSchema(fn)).toBe(true)
    for (const not of [null, undefined, 1, {}, { '~standard': null }, { '~standard': { version: 1 } }]) {
      expect(isStandardSchema(not)).toBe(false)
    }
  })
})

describe('exceeds (size and depth limits)', () => {
  const small = { maxBytes: 100, maxDepth: 3 }

  it('lets values within the limits through', () => {
    expect(exceeds([1, 'abc', { a: [true, null] }], small)).toBeUndefined()
    expect(exceeds(new Map([['k', new Set([1, 'v'])]]), small)).toBeUndefined()
    expect(exceeds('x'.repeat(1000), DEFAULT_LIMITS)).toBeUndefined()
  })

  it('counts string lengths, binary byte lengths and keys', () => {
    expect(exceeds('x'.repeat(101), small)).toBe('more than 100 bytes')
    expect(exceeds(new ArrayBuffer(101), small)).toBe('more than 100 bytes')
    expect(exceeds(new Uint8Array(101), small)).toBe('more than 100 bytes')
    expect(exceeds(new DataView(new ArrayBuffer(101)), small)).toBe('more than 100 bytes')
    expect(exceeds(new RegExp('x'.repeat(101)), small)).toBe('more than 100 bytes')
    expect(exceeds(new Blob(['x'.repeat(101)]), small)).toBe('more than 100 bytes')
    expect(exceeds({ ['k'.repeat(101)]: 1 }, small)).toBe('more than 100 bytes')
    expect(exceeds(new Map([['k', 'v'.repeat(100)]]), small)).toBe('more than 100 bytes')
    expect(exceeds(new Set(['v'.repeat(101)]), small)).toBe('more than 100 bytes')
  })

  it('counts nesting of objects, arrays, maps and sets', () => {
    expect(exceeds([[[1]]], small)).toBeUndefined()
    expect(exceeds([[[[1]]]], small)).toBe('nesting deeper than 3 levels')
    expect(exceeds({ a: { b: { c: {} } } }, small)).toBe('nesting deeper than 3 levels')
    expect(exceeds(new Map([[1, new Map([[1, new Set([[]])]])]]), small)).toBe('nesting deeper than 3 levels')
  })

  it('ignores inherited properties', () => {
    const value = Object.create({ inherited: 'x'.repeat(1000) })
    expect(exceeds(value, small)).toBeUndefined()
  })

  it('charges every object and array each time it is reached, so shared references cannot blow the walk up', () => {
    // Structured clone keeps sharing: 31 values on the wire, 2^30 paths for a tree walk.
    // Every edge is a counting getter that gives up long after a bounded walk would
    // have stopped, so a regression fails here instead of hanging the run.
    let reads = 0
    const shared = (kind: 'object' | 'array') => {
      let level: object = kind === 'array' ? [] : {}
      for (let i = 0; i < 30; i++) {
        const below = level
        level = kind === 'array' ? [0, 0] : { a: 0, b: 0 }
        for (const key of kind === 'array' ? ['0', '1'] : ['a', 'b']) {
          Object.defineProperty(level, key, {
            enumerable: true,
            get() {
              if (++reads > 100_000) throw new Error('the walk went on and on')
              return below
            },
          })
        }
      }
      return level
    }
    for (const kind of ['object', 'array'] as const) {
      reads = 0
      expect(exceeds(shared(kind), { maxBytes: 8000, maxDepth: 100 })).toBe('more than 8000 bytes')
      expect(reads).toBeLessThanOrEqual(8000 / 8)
    }
    expect(exceeds([{}, [], {}], { maxBytes: 31, maxDepth: 3 })).toBe('more than 31 bytes')
    expect(exceeds([{}, [], {}], { maxBytes: 32, maxDepth: 3 })).toBeUndefined()
  })

  it('every value costs 8 bytes, an empty string too; a BigInt also costs its digits, boxed or not', () => {
    const tiny = { maxBytes: 1024, maxDepth: 3 }
    expect(exceeds(new Array(1_000_000).fill(''), tiny)).toBe('more than 1024 bytes')
    expect(exceeds(['', '', ''], { maxBytes: 32, maxDepth: 3 })).toBeUndefined()
    expect(exceeds(['', '', ''], { maxBytes: 31, maxDepth: 3 })).toBe('more than 31 bytes')
    const big = 1n << 8_000_000n // a million bytes of digits
    for (const value of [big, -big, Object(big), [big]]) expect(exceeds(value, tiny)).toBe('more than 1024 bytes')
    expect(exceeds(2n ** 64n - 1n, { maxBytes: 8, maxDepth: 3 })).toBeUndefined()
    // 2^8000 is 2001 hex digits: 1001 bytes, plus 8.
    expect(exceeds(2n ** 8000n, { maxBytes: 1009, maxDepth: 3 })).toBeUndefined()
    expect(exceeds(2n ** 8000n, { maxBytes: 1008, maxDepth: 3 })).toBe('more than 1008 bytes')
  })

  it('a sparse array of length 2^32 - 1 (a few bytes on the wire) stops after maxBytes / 8 steps', () => {
    let reads = 0
    const sparse = new Proxy(Object.assign([], { length: 2 ** 32 - 1 }), {
      get(target, key, receiver) {
        if (key !== 'length' && ++reads > 100_000) throw new Error('the walk went on and on')
        return Reflect.get(target, key, receiver)
      },
    })
    expect(exceeds(sparse, { maxBytes: 8000, maxDepth: 3 })).toBe('more than 8000 bytes')
    expect(reads).toBeLessThanOrEqual(8000 / 8)
  })

  it("counts an array's named properties, which structured clone copies too", () => {
    expect(exceeds(Object.assign([1], { big: 'x'.repeat(200) }), small)).toBe('more than 100 bytes')
    let deep: unknown = 1
    for (let i = 0; i < 5; i++) deep = { d: deep }
    expect(exceeds(Object.assign([1], { nest: deep }), small)).toBe('nesting deeper than 3 levels')
    // Holes and indices are not names; a numeric name past the index range is.
    const sparse: unknown[] = [1]
    sparse[2] = 3
    Object.assign(sparse, { n: 'y' })
    // The array and its three slots, the name, and the name's value (8 + 1).
    expect(exceeds(sparse, { maxBytes: 8 * 4 + 1 + 9, maxDepth: 3 })).toBeUndefined()
    expect(exceeds(sparse, { maxBytes: 8 * 4 + 9, maxDepth: 3 })).toBe('more than 41 bytes')
    const huge = Object.assign([], { '4294967296': 'x'.repeat(200) })
    expect(exceeds(huge, small)).toBe('more than 100 bytes')
    // Names that look numeric are names all the same (and '-1' is not the last index of an empty array).
    for (const name of ['-1', '1.5', '-0', '01', '4294967295']) {
      expect(exceeds(Object.assign([], { [name]: 'x'.repeat(200) }), small)).toBe('more than 100 bytes')
      expect(exceeds(Object.assign([1, 2], { [name]: 'x'.repeat(200) }), small)).toBe('more than 100 bytes')
    }
  })

  it('a getter that sends a message of its own does not disturb the walk it interrupts', () => {
    const value = {
      get inner() {
        expect(exceeds('x'.repeat(50), { maxBytes: 1000, maxDepth: 3 })).toBeUndefined()
        return 'y'.repeat(95)
      },
    }
    expect(exceeds(value, small)).toBe('more than 100 bytes')
    expect(exceeds({ inner: 'y'.repeat(75) }, small)).toBeUndefined()
  })

  it('refuses what cannot be measured', () => {
    const hostile = {
      get boom() {
        throw new Error('getter')
      },
    }
    expect(exceeds(hostile, small)).toBe('a value that cannot be measured')
  })
})

describe('traceEntry', () => {
  it('names the kind, and the id and method of session messages', () => {
    expect(traceEntry('send', 'ch', { k: 'c', i: 'id1', m: 'add', a: [] })).toEqual({
      direction: 'send',
      kind: 'call',
      channel: 'ch',
      id: 'id1',
      method: 'add',
      message: { k: 'c', i: 'id1', m: 'add', a: [] },
    })
    expect(traceEntry('receive', '', { k: 'x', r: 'closed' })).toEqual({
      direction: 'receive',
      kind: 'close',
      channel: '',
      message: { k: 'x', r: 'closed' },
    })
  })

  it('gives link messages their kind but never mistakes their fields for an id or method', () => {
    const entry = traceEntry('send', '', { pc: 1, k: 's', n: 'nonce', i: 'x', m: 'y' })
    expect(entry.kind).toBe('syn')
    expect(entry).not.toHaveProperty('id')
    expect(entry).not.toHaveProperty('method')
    expect(traceEntry('send', '', { pc: 1, k: 'a', n: 'a', l: 'b', c: '' }).kind).toBe('ack')
  })

  it('passes an unknown kind through and names a missing one', () => {
    expect(traceEntry('send', '', { k: 'z' }).kind).toBe('z')
    expect(traceEntry('send', '', {}).kind).toBe('unknown')
  })
})
