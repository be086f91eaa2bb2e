import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import vm from 'node:vm'
import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../../src/contract.js'
import {
  JSONP_CALLBACK,
  type JsonpHandlerOptions,
  type JsonpRequest,
  jsonpBody,
  jsonpHandler,
  originProblem,
  SYSTEM_ERROR_MESSAGE,
  scriptSafeJson,
} from '../../../src/fallback/jsonp-server.js'
import { createAllowedOrigins } from '../../../src/gate/allowed-origins.js'

const api = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
    lies: { input: z.tuple([]), output: z.number() },
    fail: { input: z.tuple([z.string()]), output: z.never() },
    big: { input: z.tuple([]), output: z.unknown() },
    wait: { input: z.tuple([]), output: z.string() },
  },
})

/** A response that records what the handler wrote; `done` resolves at `end()`. */
class FakeResponse extends EventEmitter {
  status = 0
  headers: Record<string, string> = {}
  body = ''
  writableEnded = false
  readonly done: Promise<void>
  private finish!: () => void
  constructor() {
    super()
    this.done = new Promise((resolve) => {
      this.finish = resolve
    })
  }
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status
    this.headers = headers
    return this
  }
  end(body = '') {
    this.body = body
    this.writableEnded = true
    this.finish()
    return this
  }
}

const signals: AbortSignal[] = []
function handler(options?: JsonpHandlerOptions) {
  return jsonpHandler(
    api,
    {
      add: (a, b) => a + b,
      echo: (s) => s,
      lies: () => 'not a number' as unknown as number,
      fail: (message) => {
        throw Object.assign(new RangeError(message), { retry: false })
      },
      big: () => 10n,
      wait: (context) =>
        new Promise<string>((_, reject) => {
          signals.push(context.signal)
          context.signal.addEventListener('abort', () => reject(context.signal.reason))
        }),
    },
    options,
  )
}

function query(params: Record<string, string>): string {
  return `/rpc?${new URLSearchParams(params)}`
}

async function get(
  url: string,
  options?: JsonpHandlerOptions,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<FakeResponse> {
  const response = new FakeResponse()
  handler(options)({ method, url, headers }, response)
  await response.done
  return response
}

/** Runs a JSONP body as the browser would, with `cb` defined, and returns what cb received. */
function run(body: string, name = 'cb'): unknown[] {
  const received: unknown[] = []
  new Function(name, body)((value: unknown) => received.push(value))
  return received
}

const JS = {
  'Content-Type': 'text/javascript; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}

describe('jsonpHandler: answers', () => {
  it('answers a valid call with /**/-prefixed JavaScript that calls the callback, with the JS headers', async () => {
    const res = await get(query({ method: 'add', args: '[1,2]', callback: 'cb' }))
    expect(res.status).toBe(200)
    expect(res.headers).toEqual(JS)
    expect(res.body).toBe(`/**/ typeof cb === 'function' && cb(JSON.parse("{\\"k\\":\\"r\\",\\"v\\":3}"));`)
    expect(run(res.body)).toEqual([{ k: 'r', v: 3 }])
  })

  it('calls nothing when the callback is not a function', () => {
    const body = jsonpBody('cb', { k: 'r', v: 1 })
    expect(() => new Function('cb', body)(undefined)).not.toThrow()
    expect(() => new Function('cb', body)('a string')).not.toThrow()
  })

  it('escapes <, >, &, U+2028 and U+2029 so the payload cannot end the script or break the parser', async () => {
    const hostile = '</script><script>alert(1)</script><!-- & \u2028 \u2029'
    const res = await get(query({ method: 'echo', args: JSON.stringify([hostile]), callback: 'cb' }))
    const payload = res.body.slice(res.body.indexOf('cb(') + 3)
    expect(payload).not.toMatch(/[<>&\u2028\u2029]/)
    expect(res.body).toContain('\\u003c/script\\u003e')
    expect(res.body).toContain('\\u2028')
    expect(res.body).toContain('\\u2029')
    // The escapes decode to the same string.
    expect(run(res.body)).toEqual([{ k: 'r', v: hostile }])
  })

  it('keeps an own "__proto__" key an own key, as postMessage does, instead of setting the prototype', () => {
    const value = JSON.parse('{"name":"mallory","__proto__":{"isAdmin":true}}')
    const [reply] = run(jsonpBody('cb', { k: 'r', v: value })) as [{ v: Record<string, unknown> }]
    expect(Object.getPrototypeOf(reply.v)).toBe(Object.prototype)
    expect(Object.hasOwn(reply.v, '__proto__')).toBe(true)
    expect(reply.v.isAdmin).toBeUndefined()
    expect(structuredClone(value)).toEqual(reply.v)
  })

  it('is one call of the callback, whatever the payload holds', () => {
    const hostile = ['")); alert(1); ("', '\\', '\u2028', '</script>', "'", '`']
    const body = jsonpBody('cb', { k: 'r', v: hostile })
    expect(body.startsWith(`/**/ typeof cb === 'function' && cb(JSON.parse("`)).toBe(true)
    expect(body.endsWith(`"));`)).toBe(true)
    expect(run(body)).toEqual([{ k: 'r', v: hostile }])
  })

  it('red team: a callback naming a code sink (eval, Function, setTimeout) is handed an object, never code', async () => {
    // The callback name is the includer's to choose, and a JSONP reply is any page's to include:
    // whatever global it names, its one argument is the parsed reply object, whose text form is
    // "[object Object]", so no string of the payload is ever evaluated.
    const payload = 'globalThis.pwned = 1'
    for (const callback of ['eval', 'Function', 'setTimeout', 'setInterval', 'execScript']) {
      const res = await get(query({ method: 'echo', args: JSON.stringify([payload]), callback }))
      expect(res.status).toBe(200)
      const seen: unknown[] = []
      const sandbox = vm.createContext({ seen })
      // The real eval of the sandbox, and string-evaluating stand-ins for the others.
      vm.runInContext(
        `for (const name of ['Function', 'setTimeout', 'setInterval', 'execScript']) globalThis[name] = (code) => (seen.push(typeof code), (0, eval)(String(code)))`,
        sandbox,
      )
      // eval(object) returns the object; the others evaluate '[object Object]', a SyntaxError.
      let threw: unknown
      try {
        vm.runInContext(res.body, sandbox)
      } catch (error) {
        threw = (error as Error).name
      }
      expect(vm.runInContext('globalThis.pwned', sandbox)).toBeUndefined()
      expect(threw).toBe(callback === 'eval' ? undefined : 'SyntaxError')
      expect(seen).toEqual(callback === 'eval' ? [] : ['object'])
    }
  })

  it('scriptSafeJson is JSON that parses back to the same value', () => {
    const value = { s: '<a href="x">&amp;</a>\u2028\u2029', n: [1, null, true] }
    expect(JSON.parse(scriptSafeJson(value))).toEqual(value)
  })

  it('sends invalid arguments back as a ValidationError of the arguments, without running the handler', async () => {
    const res = await get(query({ method: 'add', args: '[1,"2"]', callback: 'cb' }))
    expect(res.status).toBe(200)
    const [reply] = run(res.body) as [{ k: string; e: Record<string, unknown> }]
    expect(reply.k).toBe('e')
    expect(reply.e).toMatchObject({ n: 'ValidationError', c: 'VALIDATION', t: 'arguments' })
  })

  it('refuses args that are not a JSON array', async () => {
    for (const args of ['{', '{"a":1}', '"x"']) {
      const res = await get(query({ method: 'add', args, callback: 'cb' }))
      const [reply] = run(res.body) as [{ e: Record<string, unknown> }]
      expect(reply.e).toMatchObject({ c: 'VALIDATION', t: 'arguments' })
    }
  })

  it('validates the result: a handler that breaks its schema sends a ValidationError of the result', async () => {
    const res = await get(query({ method: 'lies', args: '[]', callback: 'cb' }))
    const [reply] = run(res.body) as [{ e: Record<string, unknown> }]
    expect(reply.e).toMatchObject({ c: 'VALIDATION', t: 'result' })
  })

  it('sends what a handler throws, with its data and without its stack', async () => {
    const res = await get(query({ method: 'fail', args: '["nope"]', callback: 'cb' }))
    const [reply] = run(res.body) as [{ e: Record<string, unknown> }]
    expect(reply.e).toEqual({ n: 'RangeError', m: 'nope', d: { retry: false } })
  })

  it('sends the stack only with debug', async () => {
    const res = await get(query({ method: 'fail', args: '["nope"]', callback: 'cb' }), { debug: true })
    const [reply] = run(res.body) as [{ e: Record<string, unknown> }]
    expect(reply.e.s).toEqual(expect.stringContaining('RangeError: nope'))
  })

  it('a result JSON cannot carry becomes an error reply instead of a crash', async () => {
    const res = await get(query({ method: 'big', args: '[]', callback: 'cb' }))
    const [reply] = run(res.body) as [{ k: string; e: Record<string, unknown> }]
    expect(reply.k).toBe('e')
    expect(reply.e.n).toBe('TypeError')
  })

  it('answers an unknown or inherited method name with MethodNotFoundError, escaped', async () => {
    for (const method of ['nope', '__proto__', 'toString', '', '<script>']) {
      const res = await get(query({ method, args: '[]', callback: 'cb' }))
      expect(res.status).toBe(200)
      expect(res.body).not.toContain('<')
      const [reply] = run(res.body) as [{ e: Record<string, unknown> }]
      expect(reply.e.n).toBe('MethodNotFoundError')
    }
  })

  it('fires the handler signal when the client goes away, and writes nothing', async () => {
    signals.length = 0
    const response = new FakeResponse()
    handler()({ method: 'GET', url: query({ method: 'wait', args: '[]', callback: 'cb' }), headers: {} }, response)
    expect(signals).toHaveLength(1)
    response.emit('close')
    expect(signals[0]?.aborted).toBe(true)
    await Promise.resolve()
    expect(response.status).toBe(0)
  })
})

describe('jsonpHandler: refusals', () => {
  const TEXT = {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  }

  it.each([
    ['alert(1)//'],
    ['a.b'],
    ['a'.repeat(200)],
    ['é'],
    ['ｆoo'],
    ['cb\u2028'],
    ['1abc'],
    ['a b'],
    ['a[0]'],
    ['a;alert(1)'],
    [''],
  ])('rejects callback %j with 400 without reflecting it', async (callback) => {
    const onRejected = vi.fn()
    const res = await get(query({ method: 'add', args: '[1,2]', callback }), { onRejected })
    expect(res.status).toBe(400)
    expect(res.headers).toEqual(TEXT)
    if (callback !== '') expect(res.body).not.toContain(callback)
    expect(onRejected).toHaveBeenCalledWith(expect.objectContaining({ status: 400, reason: 'callback' }))
  })

  it('rejects a missing callback with 400', async () => {
    const res = await get('/rpc?method=add&args=[1,2]')
    expect(res.status).toBe(400)
  })

  it('accepts plain identifiers up to 64 characters, $ and _ included', () => {
    for (const name of ['cb', '$', '_', '__portcullisJsonp_a$b_c', `a${'b'.repeat(63)}`]) {
      expect(JSONP_CALLBACK.test(name)).toBe(true)
    }
    expect(JSONP_CALLBACK.test(`a${'b'.repeat(64)}`)).toBe(false)
  })

  it('coverage: of a repeated callback parameter only the first counts, and it is the one checked', async () => {
    const first = await get('/rpc?method=add&args=[1,2]&callback=cb&callback=alert(1)//')
    expect(first.status).toBe(200)
    expect(run(first.body)).toEqual([{ k: 'r', v: 3 }])
    const bad = await get('/rpc?method=add&args=[1,2]&callback=alert(1)//&callback=cb')
    expect(bad.status).toBe(400)
    expect(bad.body).not.toContain('alert')
  })

  it('answers GET only', async () => {
    const res = await get(query({ method: 'add', args: '[1,2]', callback: 'cb' }), undefined, {}, 'POST')
    expect(res.status).toBe(405)
    expect(res.headers.Allow).toBe('GET')
  })

  it('refuses a URL over maxUrlLength with 414', async () => {
    const res = await get(query({ method: 'echo', args: JSON.stringify(['x'.repeat(300)]), callback: 'cb' }), {
      maxUrlLength: 200,
    })
    expect(res.status).toBe(414)
  })

  it('checks options at once', () => {
    expect(() => jsonpHandler(api, {} as never)).toThrow(/handlers.add must be an own function/)
    expect(() => handler({ allowedOrigins: ['*'] })).toThrow(TypeError)
    expect(() => handler({ maxUrlLength: -1 })).toThrow(/maxUrlLength/)
  })
})

describe('jsonpHandler: best-effort origin check', () => {
  const allowedOrigins = ['https://shop.example']
  const url = query({ method: 'add', args: '[1,2]', callback: 'cb' })

  it.each([
    [{ 'sec-fetch-site': 'cross-site', referer: 'https://shop.example/page' }, 200],
    [{ referer: 'https://shop.example/' }, 200],
    [{ 'sec-fetch-site': 'same-origin' }, 200],
    [{ 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' }, 403],
    [{ 'sec-fetch-site': 'cross-site' }, 403],
    [{}, 403],
    [{ referer: 'not a url' }, 403],
  ])('%j -> %i', async (headers, status) => {
    const res = await get(url, { allowedOrigins }, headers)
    expect(res.status).toBe(status)
  })

  it('reads the first value of a repeated header', () => {
    const request: JsonpRequest = { headers: { referer: ['https://shop.example/', 'https://evil.example/'] } }
    expect(originProblem(request, createAllowedOrigins(allowedOrigins))).toBeUndefined()
  })

  it('does not check when allowedOrigins is not set', async () => {
    const res = await get(url, undefined, { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' })
    expect(res.status).toBe(200)
  })
})

describe('jsonpHandler: never throws out of the listener', () => {
  // Node's http lets these request targets through, and `new URL` throws on them.
  it.each(['//[', 'http://[/?callback=cb', '//x:abc/?callback=cb'])('answers %j with 400', async (url) => {
    const onRejected = vi.fn()
    const response = new FakeResponse()
    expect(() => handler({ onRejected })({ method: 'GET', url, headers: {} }, response)).not.toThrow()
    expect(response.status).toBe(400)
    expect(response.headers).toEqual({
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
    })
    expect(onRejected).toHaveBeenCalledWith(expect.objectContaining({ status: 400, reason: 'url' }))
  })

  it('writes nothing to a response that something else already answered', () => {
    const response = new FakeResponse()
    Object.assign(response, { headersSent: true })
    response.writeHead = () => {
      throw new Error('ERR_HTTP_HEADERS_SENT')
    }
    const serve = handler()
    expect(() => serve({ method: 'POST', url: '/', headers: {} }, response)).not.toThrow()
    expect(() =>
      serve({ method: 'GET', url: query({ method: 'add', args: '[1,2]' }), headers: {} }, response),
    ).not.toThrow()
    expect(() =>
      serve({ method: 'GET', url: query({ method: 'add', args: '[1,2]', callback: 'cb' }), headers: {} }, response),
    ).not.toThrow()
    expect(response.body).toBe('')
  })

  it('answers 500 rather than throw for a request not shaped like Node’s', () => {
    const response = new FakeResponse()
    const request = { method: 'GET', url: query({ method: 'add', args: '[1,2]', callback: 'cb' }) }
    expect(() => handler({ allowedOrigins: ['https://shop.example'] })(request as never, response)).not.toThrow()
    expect(response.status).toBe(500)
  })

  /** A handler for `method` of a contract whose output is anything. */
  function loose(method: () => unknown, debug = false) {
    const contract = defineContract({ methods: { f: { input: z.tuple([]), output: z.unknown() } } })
    return jsonpHandler(contract, { f: method }, { debug })
  }

  it.each([
    [
      'a synchronous throw',
      () => {
        throw new Error('sync')
      },
      'sync',
    ],
    ['a BigInt', () => 10n, 'cannot be sent as JSON'],
    [
      'a throwing toJSON',
      () => ({
        toJSON: () => {
          throw new Error('no')
        },
      }),
      'cannot be sent as JSON',
    ],
    // The error of the throwing toJSON cannot be sent either: the second reply must not throw.
    [
      'a toJSON that throws what JSON cannot carry',
      () => ({
        toJSON: () => {
          throw { big: 1n }
        },
      }),
      'cannot be sent as JSON',
    ],
    [
      'an error whose data JSON cannot carry',
      () => {
        throw Object.assign(new Error('x'), { big: 1n })
      },
      'cannot be sent as JSON',
    ],
  ])('answers %s with an error reply', async (_, method, message) => {
    const response = new FakeResponse()
    expect(() =>
      loose(method)({ method: 'GET', url: query({ method: 'f', args: '[]', callback: 'cb' }), headers: {} }, response),
    ).not.toThrow()
    await response.done
    const [reply] = run(response.body) as [{ k: string; e: Record<string, unknown> }]
    expect(reply.k).toBe('e')
    expect(reply.e.m).toEqual(expect.stringContaining(message))
  })

  it('answers an asynchronous result JSON cannot carry without an unhandled rejection', async () => {
    const response = new FakeResponse()
    loose(async () => ({
      toJSON: () => {
        throw { big: 1n }
      },
    }))({ method: 'GET', url: query({ method: 'f', args: '[]', callback: 'cb' }), headers: {} }, response)
    await response.done
    expect((run(response.body)[0] as { k: string }).k).toBe('e')
  })

  it('writes nothing once the client went away', async () => {
    const response = new FakeResponse()
    let finish!: (value: string) => void
    const contract = defineContract({ methods: { f: { input: z.tuple([]), output: z.string() } } })
    jsonpHandler(contract, {
      f: () =>
        new Promise<string>((resolve) => {
          finish = resolve
        }),
    })({ method: 'GET', url: query({ method: 'f', args: '[]', callback: 'cb' }), headers: {} }, response)
    response.writeHead = () => {
      throw new Error('write after close')
    }
    response.emit('close')
    finish('late')
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(response.body).toBe('')
  })
})

describe('jsonpHandler: a call nobody answers', () => {
  // A browser keeps a JSONP request open after its client gave up (removing the
  // script cancels nothing): an answer is what frees the connection.
  it('answers with TimeoutError once the call takes longer than timeout, and fires the handler signal', async () => {
    signals.length = 0
    const response = new FakeResponse()
    handler({ timeout: 30 })({ method: 'GET', url: query({ method: 'wait', callback: 'cb' }), headers: {} }, response)
    await response.done
    expect(response.status).toBe(200)
    const [reply] = run(response.body) as [{ k: string; e: { n: string; c: string; m: string } }]
    expect(reply).toMatchObject({ k: 'e', e: { n: 'TimeoutError', c: 'TIMEOUT' } })
    expect(reply.e.m).toContain('"wait" took over 30 ms')
    expect(signals[0]?.aborted).toBe(true)
  })

  it('times out after 10 s by default, the client’s default timeout; Infinity turns it off', () => {
    vi.useFakeTimers()
    try {
      for (const [options, answered] of [
        [undefined, true],
        [{ timeout: Number.POSITIVE_INFINITY }, false],
        // Past 2^31-1 ms setTimeout would fire at once: as good as none.
        [{ timeout: 2 ** 40 }, false],
      ] as const) {
        const response = new FakeResponse()
        handler(options)({ method: 'GET', url: query({ method: 'wait', callback: 'cb' }), headers: {} }, response)
        vi.advanceTimersByTime(9_999)
        expect(response.writableEnded).toBe(false)
        vi.advanceTimersByTime(1)
        expect(response.writableEnded).toBe(answered)
      }
    } finally {
      vi.useRealTimers()
    }
  })

  it('leaves no timer behind once the call is answered or the client went away', () => {
    vi.useFakeTimers()
    try {
      const answered = new FakeResponse()
      handler()({ method: 'GET', url: query({ method: 'add', args: '[1,2]', callback: 'cb' }), headers: {} }, answered)
      const gone = new FakeResponse()
      handler()({ method: 'GET', url: query({ method: 'wait', callback: 'cb' }), headers: {} }, gone)
      gone.emit('close')
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('checks the option', () => {
    for (const timeout of [0, -1, Number.NaN, '5']) {
      expect(() => handler({ timeout } as never)).toThrow(/timeout must be a positive number/)
    }
  })
})

describe('jsonpHandler: what an error reveals to any site', () => {
  const contract = defineContract({ methods: { f: { input: z.tuple([]), output: z.string() } } })
  const readConfig = () => readFileSync('/srv/app/secret-config/db.json', 'utf8')
  async function errorOf(f: () => string, debug = false): Promise<Record<string, unknown>> {
    const response = new FakeResponse()
    jsonpHandler(
      contract,
      { f },
      { debug },
    )({ method: 'GET', url: query({ method: 'f', args: '[]', callback: 'cb' }), headers: {} }, response)
    await response.done
    expect(response.body).toContain('"k\\":\\"e')
    return (run(response.body)[0] as { e: Record<string, unknown> }).e
  }

  it('sends a Node system error as its name and a fixed message, without its path, syscall or errno', async () => {
    const e = await errorOf(readConfig)
    expect(e).toEqual({ n: 'Error', m: SYSTEM_ERROR_MESSAGE })
  })

  it('hides a system error in the cause chain too, and keeps the message the handler wrote', async () => {
    const e = await errorOf(() => {
      try {
        return readConfig()
      } catch (cause) {
        throw new Error('settings unavailable', { cause })
      }
    })
    expect(e).toEqual({ n: 'Error', m: 'settings unavailable', x: { n: 'Error', m: SYSTEM_ERROR_MESSAGE } })
    expect(JSON.stringify(e)).not.toContain('/srv/app')
  })

  it('keeps the message and fields of an error the handler threw on purpose', async () => {
    const e = await errorOf(() => {
      throw Object.assign(new Error('not found'), { status: 404 })
    })
    expect(e).toEqual({ n: 'Error', m: 'not found', d: { status: 404 } })
  })

  it('sends the system error as it is with debug', async () => {
    const e = await errorOf(readConfig, true)
    expect(e.m).toContain('/srv/app/secret-config/db.json')
    expect(e.d).toMatchObject({ syscall: 'open', path: '/srv/app/secret-config/db.json' })
  })
})

/** `[[[...0...]]]`, `n` arrays deep. */
function nested(n: number): unknown {
  let value: unknown = 0
  for (let i = 0; i < n; i++) value = [value]
  return value
}

describe('jsonpHandler: size limits on receipt', () => {
  const contract = defineContract({ methods: { f: { input: z.tuple([z.unknown()]), output: z.number() } } })

  it.each([
    ['deeper than maxDepth (default 100)', [nested(150)], {}, /nesting deeper than 100 levels/],
    ['deeper than a maxDepth of 5', [nested(6)], { maxDepth: 5 }, /nesting deeper than 5 levels/],
    ['over maxMessageBytes', ['x'.repeat(200)], { maxMessageBytes: 100 }, /more than 100 bytes/],
  ])('refuses arguments %s with a LimitError reply, without running the handler', async (_, args, limits, detail) => {
    const ran = vi.fn(() => 0)
    const onRejected = vi.fn()
    const response = new FakeResponse()
    jsonpHandler(
      contract,
      { f: ran },
      { ...limits, onRejected },
    )({ method: 'GET', url: query({ method: 'f', args: JSON.stringify(args), callback: 'cb' }), headers: {} }, response)
    await response.done
    expect(ran).not.toHaveBeenCalled()
    const [reply] = run(response.body) as [{ e: Record<string, unknown> }]
    expect(reply.e).toMatchObject({ n: 'LimitError', c: 'LIMIT', m: expect.stringMatching(detail) })
    expect(onRejected).toHaveBeenCalledWith({ status: 200, reason: 'limit', detail: expect.stringMatching(detail) })
  })

  it('serves arguments at the limit, and measures the result with the same limits', async () => {
    const big = defineContract({ methods: { f: { input: z.tuple([z.unknown()]), output: z.unknown() } } })
    const response = new FakeResponse()
    jsonpHandler(
      big,
      { f: () => nested(10) },
      { maxDepth: 5 },
    )(
      { method: 'GET', url: query({ method: 'f', args: JSON.stringify([nested(4)]), callback: 'cb' }), headers: {} },
      response,
    )
    await response.done
    const [reply] = run(response.body) as [{ e: Record<string, unknown> }]
    expect(reply.e).toMatchObject({ c: 'LIMIT', m: expect.stringContaining('the result of "f" was not sent') })
  })

  it('checks the limit options as connect() does', () => {
    expect(() => jsonpHandler(contract, { f: () => 0 }, { maxDepth: 0 })).toThrow(/maxDepth must be a positive number/)
    expect(() => jsonpHandler(contract, { f: () => 0 }, { maxDepth: 1001 })).toThrow(/maxDepth 1001 is above 1000/)
    expect(() => jsonpHandler(contract, { f: () => 0 }, { maxMessageBytes: Number.NaN })).toThrow(/maxMessageBytes/)
    expect(() => jsonpHandler(contract, { f: () => 0 }, { maxMessageBytes: Infinity })).toThrow(
      'jsonpHandler(): maxMessageBytes must be a finite positive number, got Infinity',
    )
  })
})
