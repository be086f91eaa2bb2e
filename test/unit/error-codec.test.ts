import { describe, expect, it } from 'vitest'
import {
  AbortError,
  DisconnectedError,
  LimitError,
  OriginError,
  PortcullisError,
  RemoteError,
  TimeoutError,
  ValidationError,
} from '../../src/errors.js'
import type { WireError } from '../../src/protocol/envelope.js'
import { decodeError, encodeError } from '../../src/rpc/error-codec.js'

/** What the caller sees: encoded by the handler's side, structured-cloned, decoded. */
function roundTrip(error: unknown, debug = false, method = 'm', own = false): Error {
  return decodeError(structuredClone(encodeError(error, debug, own)), method)
}

class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

describe('encodeError', () => {
  it('keeps name and message', () => {
    expect(encodeError(new TypeError('bad'), false)).toEqual({ n: 'TypeError', m: 'bad' })
    expect(encodeError(new HttpError('nope', 404), false)).toEqual({ n: 'HttpError', m: 'nope', d: { status: 404 } })
  })

  it('keeps own enumerable data that survives cloning, and drops the rest', () => {
    const error = Object.assign(new Error('with data'), {
      status: 500,
      tags: ['a', 1, null],
      when: new Date(0),
      nested: { deep: { ok: true } },
      fn: () => 1,
      sym: Symbol('s'),
      map: new Map([[1, 2]]),
      instance: new HttpError('inner', 1),
      nothing: undefined,
    })
    Object.defineProperty(error, 'hidden', { value: 'not enumerable', enumerable: false })
    const wire = encodeError(error, false)
    expect(wire.d).toEqual({ status: 500, tags: ['a', 1, null], when: new Date(0), nested: { deep: { ok: true } } })
    expect(wire.d).not.toHaveProperty('hidden')
    expect(structuredClone(wire)).toEqual(wire)
  })

  it('bounds the depth of the data', () => {
    const error = Object.assign(new Error('deep'), { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } })
    expect(encodeError(error, false).d).toEqual({ a: { b: { c: { d: { e: {} } } } } })
  })

  it('omits data when there is none worth sending', () => {
    expect(encodeError(Object.assign(new Error('x'), { fn() {} }), false)).not.toHaveProperty('d')
  })

  it("keeps the code and issues of the answering side's own errors, and none of their fields as data", () => {
    const validation = new ValidationError('arguments', 'add', [
      { path: [0, 'id', Symbol('s')], message: 'Expected string' },
    ])
    expect(encodeError(validation, false, true)).toEqual({
      n: 'ValidationError',
      m: validation.message,
      c: 'VALIDATION',
      t: 'arguments',
      i: [{ path: [0, 'id', 'Symbol(s)'], message: 'Expected string' }],
    })
    expect(encodeError(new LimitError('too big'), false, true)).toEqual({ n: 'LimitError', m: 'too big', c: 'LIMIT' })
  })

  it('of the portcullis errors a handler threw, only LIMIT, TIMEOUT and ABORT keep their code; the others keep their fields', () => {
    // A nested call that timed out means the same one hop further.
    expect(encodeError(new TimeoutError('slow'), false)).toEqual({ n: 'TimeoutError', m: 'slow', c: 'TIMEOUT' })
    // A nested call's ValidationError is not a refusal of what our caller sent.
    const nested = new ValidationError('result', 'fetchProfile', [{ path: ['id'], message: 'Required' }])
    expect(encodeError(nested, false)).toEqual({
      n: 'ValidationError',
      m: 'invalid result for "fetchProfile" at id: Required',
      d: {
        code: 'VALIDATION',
        issues: [{ path: ['id'], message: 'Required' }],
        target: 'result',
        side: 'local',
        method: 'fetchProfile',
      },
    })
    expect(encodeError(new DisconnectedError('peer-gone', 'gone'), false)).toEqual({
      n: 'DisconnectedError',
      m: 'gone',
      d: { code: 'DISCONNECTED', reason: 'peer-gone' },
    })
    const remote = new RemoteError('HttpError', 'nope', { status: 404 }, { stack: 'at secret.js:1' })
    expect(encodeError(remote, false)).toEqual({
      n: 'RemoteError',
      m: 'nope',
      d: { code: 'REMOTE', remoteName: 'HttpError', data: { status: 404 } },
    })
  })

  it('sends the stack only when debug is on', () => {
    const error = new Error('with stack')
    expect(encodeError(error, false)).not.toHaveProperty('s')
    expect(encodeError(error, true).s).toBe(error.stack)
  })

  it('without debug, no stack crosses anywhere: not from a cause, a nested RemoteError or a field named stack', () => {
    // Coverage: the wire form is searched as a whole, every level of it.
    const stacks = (wire: unknown, found: string[] = []): string[] => {
      if (typeof wire !== 'object' || wire === null) return found
      for (const [key, value] of Object.entries(wire)) {
        if (
          typeof value === 'string' &&
          (key === 's' || key === 'stack' || key === 'remoteStack' || value.includes('secret.js'))
        )
          found.push(`${key}: ${value}`)
        stacks(value, found)
      }
      return found
    }
    const nested = new RemoteError('HttpError', 'nope', { status: 404 }, { stack: 'at secret.js:1' })
    const thrown = [
      new Error('outer', { cause: new TypeError('inner', { cause: nested }) }),
      new Error('outer', { cause: { message: 'plain cause', stack: 'at secret.js:2' } }),
      { message: 'plain', stack: 'at secret.js:3' },
      new TimeoutError('slow'),
      nested,
    ]
    for (const error of thrown) expect(stacks(encodeError(error, false))).toEqual([])
    // With debug, this side's stacks cross, at every level, but never the nested peer's.
    const loud = encodeError(thrown[0], true)
    expect(loud.s).toContain('outer')
    expect((loud.x as WireError).s).toContain('inner')
    expect(stacks(loud).filter((s) => s.includes('secret.js'))).toEqual([])
  })

  it('encodes the cause chain, bounded', () => {
    const root = new Error('root')
    const chain = [root]
    for (let i = 1; i <= 6; i++) chain.push(new Error(`level ${i}`, { cause: chain[i - 1] }))
    let wire: any = encodeError(chain[6], false)
    const messages: string[] = []
    while (wire) {
      messages.push(wire.m)
      wire = wire.x
    }
    expect(messages).toEqual(['level 6', 'level 5', 'level 4', 'level 3', 'level 2'])
  })

  it('encodes a non-Error cause', () => {
    expect(encodeError(new Error('outer', { cause: 'just a string' }), false).x).toEqual({
      n: 'Error',
      m: 'just a string',
    })
  })

  it('survives a cyclic cause', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    ;(a as { cause?: unknown }).cause = b
    expect(() => structuredClone(encodeError(a, false))).not.toThrow()
  })

  it.each([
    ['a string', 'plain string', { n: 'Error', m: 'plain string' }],
    ['a number', 42, { n: 'Error', m: '42' }],
    ['undefined', undefined, { n: 'Error', m: 'undefined' }],
    ['null', null, { n: 'Error', m: 'null' }],
    ['a plain object', { code: 1 }, { n: 'Error', m: '[object Object]', d: { code: 1 } }],
    [
      'a plain object with a name and message',
      { name: 'AuthError', message: 'expired', retryAfter: 30 },
      { n: 'AuthError', m: 'expired', d: { retryAfter: 30 } },
    ],
    ['a class instance', new (class Thing {})(), { n: 'Error', m: '[object Object]' }],
  ])('encodes a thrown %s', (_, thrown, wire) => {
    expect(encodeError(thrown, false)).toEqual(wire)
  })

  it('truncates very long names and messages', () => {
    const error = new Error('m'.repeat(10_000))
    error.name = 'N'.repeat(10_000)
    const wire = encodeError(error, false)
    expect(wire.m).toHaveLength(4096)
    expect(wire.n).toHaveLength(4096)
  })
})

describe('ValidationError: the first 100 issues', () => {
  const many = Array.from({ length: 1000 }, (_, i) => ({ path: ['rows', i], message: 'Expected number' }))

  it('keeps the first 100 of a schema with many issues, here and after the trip', () => {
    const error = new ValidationError('arguments', 'save', many)
    expect(error.issues).toHaveLength(100)
    expect(error.issues[99]).toEqual({ path: ['rows', 99], message: 'Expected number' })
    expect((roundTrip(error, false, 'save', true) as ValidationError).issues).toHaveLength(100)
  })

  it('keeps at most 100 of what a peer sends', () => {
    const wire: WireError = { n: 'ValidationError', m: 'bad', c: 'VALIDATION', t: 'result', i: many }
    expect((decodeError(wire, 'save') as ValidationError).issues).toHaveLength(100)
  })
})

describe('decodeError', () => {
  it.each([
    ['an array', [1, 2]],
    ['a Date', new Date(0)],
  ])("a peer's data that is %s arrives as {}: RemoteError.data is a record", (_, d) => {
    const error = decodeError({ n: 'Error', m: 'x', d } as unknown as WireError, 'm') as RemoteError
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.data).toEqual({})
    expect(Object.getPrototypeOf(error.data)).toBe(Object.prototype)
  })

  it('revives a thrown error as RemoteError with name, message, data, and code REMOTE', () => {
    const error = roundTrip(new HttpError('not found', 404))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toBeInstanceOf(PortcullisError)
    expect(error).toMatchObject({ code: 'REMOTE', name: 'RemoteError', remoteName: 'HttpError', message: 'not found' })
    expect((error as RemoteError).data).toEqual({ status: 404 })
    expect((error as RemoteError).remoteStack).toBeUndefined()
  })

  it('revives the remote stack only when the answering side had debug on', () => {
    const thrown = new Error('x')
    expect((roundTrip(thrown, true) as RemoteError).remoteStack).toBe(thrown.stack)
    expect((roundTrip(thrown, false) as RemoteError).remoteStack).toBeUndefined()
  })

  it('keeps at most 16 KB of a stack, sent or received: a peer cannot hang megabytes on every error', () => {
    const thrown = new Error('x')
    thrown.stack = `Error: x\n${'    at f (http://b.test/app.js:1:1)\n'.repeat(100_000)}`
    expect(encodeError(thrown, true).s).toHaveLength(16_384)
    const received = decodeError({ n: 'Error', m: 'x', s: 's'.repeat(1_000_000) }, 'm') as RemoteError
    expect(received.remoteStack).toHaveLength(16_384)
  })

  it('keeps at most 4096 characters of a name and a message, sent or received, in the error and its causes', () => {
    const long = 'm'.repeat(1_000_000)
    const sent = encodeError(new Error(long, { cause: new Error(long) }), false)
    expect(sent.m).toHaveLength(4096)
    expect((sent.x as { m: string }).m).toHaveLength(4096)
    const received = decodeError({ n: long, m: long, x: { n: long, m: long } }, 'm') as RemoteError
    expect(received.message).toHaveLength(4096)
    expect(received.remoteName).toHaveLength(4096)
    expect((received.cause as RemoteError).message).toHaveLength(4096)
    expect((received.cause as RemoteError).remoteName).toHaveLength(4096)
  })

  it('revives the cause chain as RemoteErrors', () => {
    const error = roundTrip(new Error('outer', { cause: new TypeError('inner', { cause: 'root' }) })) as RemoteError
    const inner = error.cause as RemoteError
    expect(inner).toBeInstanceOf(RemoteError)
    expect(inner).toMatchObject({ remoteName: 'TypeError', message: 'inner' })
    expect(inner.cause).toMatchObject({ remoteName: 'Error', message: 'root' })
    expect((inner.cause as RemoteError).cause).toBeUndefined()
    expect(roundTrip(new Error('no cause'))).not.toHaveProperty('cause')
  })

  it('revives a non-Error throw', () => {
    expect(roundTrip('plain string')).toMatchObject({ remoteName: 'Error', message: 'plain string', data: {} })
  })

  it('revives ValidationError as its class, with side remote and the issues', () => {
    const original = new ValidationError('result', 'getUser', [{ path: ['user', 0], message: 'Required' }])
    const error = roundTrip(original, false, 'getUser', true) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error).toMatchObject({ code: 'VALIDATION', target: 'result', side: 'remote', method: 'getUser' })
    expect(error.issues).toEqual([{ path: ['user', 0], message: 'Required' }])
    expect(error.message).toBe('invalid result for "getUser" at user.0: Required')
  })

  it('reads the issues of a ValidationError defensively', () => {
    const error = decodeError(
      {
        c: 'VALIDATION',
        t: 'bogus',
        i: [null, 'x', { message: 5, path: 'a' }, { message: 'ok', path: ['a', 1, {}, true] }],
      },
      'm',
    ) as ValidationError
    expect(error.target).toBe('arguments')
    expect(error.issues).toEqual([
      { message: 'invalid', path: [] },
      { message: 'ok', path: ['a', 1] },
    ])
    expect((decodeError({ c: 'VALIDATION', i: 'nope' }, 'm') as ValidationError).issues).toEqual([])
    expect(decodeError({ c: 'VALIDATION' }, 'm').message).toBe('invalid arguments for "m": rejected by schema')
    // A reply is about a call: a peer that says 'event' is read as 'arguments'.
    expect((decodeError({ c: 'VALIDATION', t: 'event' }, 'm') as ValidationError).target).toBe('arguments')
  })

  it.each([
    [new LimitError('more than 10 bytes'), LimitError, 'LIMIT'],
    [new TimeoutError('slow'), TimeoutError, 'TIMEOUT'],
    [new AbortError('stopped'), AbortError, 'ABORT'],
  ] as const)('revives %s as its class', (original, Class, code) => {
    const error = roundTrip(original, false, 'upload')
    expect(error).toBeInstanceOf(Class)
    expect(error).toMatchObject({ code })
    expect(error.message).toContain('"upload"')
    expect(error.message).toContain(original.message)
  })

  it('revives other portcullis errors of the peer as RemoteError', () => {
    const error = roundTrip(new DisconnectedError('peer-gone', 'gone'))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ remoteName: 'DisconnectedError', message: 'gone' })
  })

  it("a peer's code other than VALIDATION, LIMIT, TIMEOUT and ABORT revives as a RemoteError, whose fields its data cannot override", () => {
    // Coverage: a hostile peer cannot make the caller see a local OriginError or DisconnectedError.
    for (const c of ['ORIGIN', 'DISCONNECTED', 'HANDSHAKE', 'REMOTE', '__proto__', 'toString', 5, null]) {
      const error = decodeError(
        JSON.parse(
          `{"n":"__proto__","m":"x","c":${JSON.stringify(c)},"d":{"code":"ORIGIN","name":"OriginError","remoteStack":"s","__proto__":{"polluted":1}}}`,
        ),
        'm',
      ) as RemoteError
      expect(error).toBeInstanceOf(RemoteError)
      expect(error).not.toBeInstanceOf(OriginError)
      expect(error).not.toBeInstanceOf(DisconnectedError)
      expect(error).toMatchObject({
        code: 'REMOTE',
        name: 'RemoteError',
        remoteName: '__proto__',
        remoteStack: undefined,
      })
      expect(error.data).toMatchObject({ code: 'ORIGIN', name: 'OriginError', remoteStack: 's' })
      expect(Object.getPrototypeOf(error)).toBe(RemoteError.prototype)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('reads a malformed wire error defensively', () => {
    expect(decodeError({}, 'm')).toMatchObject({ remoteName: 'Error', message: '', data: {} })
    expect(decodeError({ n: 5, m: {}, d: 'x', x: 'y', s: 7 }, 'm')).toMatchObject({
      remoteName: 'Error',
      message: '',
      data: {},
      remoteStack: undefined,
    })
    expect(decodeError({ n: 'X', m: 'y', x: null }, 'm')).not.toHaveProperty('cause')
  })

  it('bounds a cause chain sent by a hostile peer', () => {
    let wire: Record<string, unknown> = { n: 'E0', m: '0' }
    for (let i = 1; i < 50; i++) wire = { n: `E${i}`, m: String(i), x: wire }
    let error: unknown = decodeError(wire, 'm')
    let depth = 0
    while (error instanceof RemoteError) {
      depth += 1
      error = error.cause
    }
    expect(depth).toBe(5)
  })

  it('cannot pollute a prototype through the data', () => {
    const wire = JSON.parse(
      '{"n":"Error","m":"x","d":{"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}}',
    )
    const error = decodeError(wire, 'm') as RemoteError
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(error.data)).toBe(Object.prototype)
    expect((error.data as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.hasOwn(error.data, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(error.data.nested)).toBe(Object.prototype)
  })

  it('sends an own "__proto__" key of a thrown error as data, never as the prototype of the wire form', () => {
    const thrown = new Error('x')
    for (const [key, value] of Object.entries(
      JSON.parse('{"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}'),
    ))
      Object.defineProperty(thrown, key, { value, enumerable: true })
    const plain = JSON.parse('{"message":"y","__proto__":{"polluted":true}}')
    for (const wire of [encodeError(thrown, false), encodeError(plain, false)]) {
      const data = wire.d as Record<string, unknown>
      expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
      expect(Object.hasOwn(data, '__proto__')).toBe(true)
      expect(data.polluted).toBeUndefined()
    }
    const nested = (encodeError(thrown, false).d as Record<string, Record<string, unknown>>).nested!
    expect(Object.hasOwn(nested, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(nested)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('drops class instances a peer could not have sent as plain data', () => {
    const error = decodeError(
      { n: 'E', m: '', d: { when: new Date(5), list: [1, new Map()], keep: 'yes' } },
      'm',
    ) as RemoteError
    expect(error.data).toEqual({ when: new Date(5), list: [1, undefined], keep: 'yes' })
  })
})
