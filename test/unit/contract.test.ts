import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../src/contract.js'
import { createRemoteProxy } from '../../src/remote-proxy.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { transfer } from '../../src/rpc/transfer.js'

const api = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    toString: { input: z.tuple([]), output: z.string() },
  },
  events: { resized: z.object({ height: z.number() }) },
})

describe('defineContract', () => {
  it('returns frozen null-prototype tables of the declared methods and events', () => {
    expect(Object.isFrozen(api)).toBe(true)
    expect(Object.isFrozen(api.methods)).toBe(true)
    expect(Object.getPrototypeOf(api.methods)).toBeNull()
    expect(Object.getPrototypeOf(api.events)).toBeNull()
    expect(Object.keys(api.methods)).toEqual(['add', 'toString'])
    expect(Object.keys(api.events)).toEqual(['resized'])
  })

  it('defaults to no methods and no events', () => {
    const empty = defineContract({})
    expect(Object.keys(empty.methods)).toEqual([])
    expect(Object.keys(empty.events)).toEqual([])
  })

  it.each(['then', 'constructor', 'prototype', '__proto__', '1abc', 'has space', 'a-b', ''])(
    'refuses the method name %j',
    (name) => {
      const methods = JSON.parse(`{${JSON.stringify(name)}: 0}`)
      methods[name] = { input: z.tuple([]), output: z.void() }
      expect(() => defineContract({ methods })).toThrow(TypeError)
      expect(() => defineContract({ methods })).toThrow(/cannot be a method name/)
    },
  )

  it('refuses an event named then', () => {
    // biome-ignore lint/suspicious/noThenProperty: the name under test
    const events = { then: z.number() }
    // @ts-expect-error: refused at compile time too
    expect(() => defineContract({ events })).toThrow(/"then" cannot be an? event name/)
  })

  it('refuses a name longer than 256 characters', () => {
    expect(() => defineContract({ events: { ['a'.repeat(257)]: z.number() } })).toThrow(TypeError)
    expect(() => defineContract({ events: { ['a'.repeat(256)]: z.number() } })).not.toThrow()
  })

  it('refuses a method without schemas, with an example', () => {
    for (const bad of [null, 1, {}, { input: z.tuple([]) }, { input: {}, output: z.string() }]) {
      expect(() => defineContract({ methods: { m: bad as never } })).toThrow(
        'defineContract: method "m" needs { input: <tuple schema>, output: <schema> }, e.g. input: z.tuple([z.number()])',
      )
    }
  })

  it('refuses an event without a schema, with an example', () => {
    expect(() => defineContract({ events: { e: { height: 1 } as never } })).toThrow(
      /event "e" needs a payload schema, e\.g\./,
    )
  })

  it('refuses a definition that is not an object', () => {
    expect(() => defineContract(null as never)).toThrow('defineContract: pass { methods, events }')
    expect(() => defineContract({ methods: 'add' as never })).toThrow('defineContract: methods must be an object')
  })

  it('accepts any Standard Schema v1 object, not only zod', () => {
    const schema: StandardSchemaV1<number> = {
      '~standard': {
        version: 1,
        vendor: 'handmade',
        validate: (v) => (typeof v === 'number' ? { value: v } : { issues: [{ message: 'no' }] }),
      },
    }
    const tuple: StandardSchemaV1<[number]> = {
      '~standard': { version: 1, vendor: 'handmade', validate: (v) => ({ value: v as [number] }) },
    }
    expect(() =>
      defineContract({ methods: { m: { input: tuple, output: schema } }, events: { e: schema } }),
    ).not.toThrow()
    const notQuite = { '~standard': { version: 2, vendor: 'x', validate: () => ({ value: 1 }) } }
    expect(() => defineContract({ events: { e: notQuite as never } })).toThrow(TypeError)
  })
})

describe('the remote proxy', () => {
  it('has one frozen function per declared method, on a frozen null-prototype object', () => {
    const invoke = vi.fn(async () => 'ok')
    const proxy = createRemoteProxy(api, invoke)
    expect(Object.getPrototypeOf(proxy)).toBeNull()
    expect(Object.isFrozen(proxy)).toBe(true)
    expect(Object.isFrozen(proxy.add)).toBe(true)
    expect(Object.keys(proxy)).toEqual(['add', 'toString'])
    expect((proxy as Record<string, unknown>).then).toBeUndefined()
    expect((proxy as Record<string, unknown>).sub).toBeUndefined()
  })

  it('is not a thenable, so it can be the value of a promise', async () => {
    const proxy = createRemoteProxy(api, async () => 1)
    await expect(Promise.resolve(proxy)).resolves.toBe(proxy)
  })

  it('invokes with the method, the positional arguments and no options', async () => {
    const invoke = vi.fn(async () => 3)
    const proxy = createRemoteProxy(api, invoke)
    await expect(proxy.add(1, 2)).resolves.toBe(3)
    expect(invoke).toHaveBeenCalledWith('add', [1, 2], undefined, undefined)
  })

  it('.with(options) passes the options and keeps calling the same method', async () => {
    const invoke = vi.fn(async () => 3)
    const proxy = createRemoteProxy(api, invoke)
    const signal = new AbortController().signal
    await proxy.add.with({ timeout: 5, signal })(1, 2)
    expect(invoke).toHaveBeenCalledWith('add', [1, 2], { timeout: 5, signal }, undefined)
  })

  it('collects transfer() marks from the arguments and the transfer option', async () => {
    const invoke = vi.fn(async (..._args: unknown[]) => 0)
    const proxy = createRemoteProxy(api, invoke)
    const a = new ArrayBuffer(1)
    const b = new ArrayBuffer(2)
    const c = new ArrayBuffer(3)
    const marked = transfer({ a }, [a])
    await proxy.add.with({ transfer: [c] })(marked as never, transfer({ b }, [b]) as never)
    expect(invoke.mock.calls[0]![3]).toEqual([a, b, c])
    // The proxy only reads marks: the Caller spends them once the call is sent,
    // so a call refused before that (aborted, too big) leaves them for a retry.
    await proxy.add(marked as never, 1)
    expect(invoke.mock.calls[1]![3]).toEqual([a])
  })
})

describe('transfer()', () => {
  it('returns the value it marks', () => {
    const buffer = new ArrayBuffer(4)
    const value = { buffer }
    expect(transfer(value, [buffer])).toBe(value)
    expect(transfer(buffer, [buffer])).toBe(buffer)
  })

  it.each([1, 'x', null, undefined, true])('refuses the primitive %j with a TypeError that explains', (value) => {
    expect(() => transfer(value as never, [])).toThrow(/value must be an object/)
  })
})
