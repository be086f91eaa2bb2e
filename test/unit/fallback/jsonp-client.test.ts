import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../../src/contract.js'
import { jsonpClient } from '../../../src/fallback/jsonp-client.js'
import { jsonpHandler } from '../../../src/fallback/jsonp-server.js'

// jsdom fetches no script: the tests play the server by calling the callback or firing the script's events.
const api = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
  },
})
const scope = globalThis as unknown as Record<string, ((data: unknown) => void) | undefined>

function scripts(): HTMLScriptElement[] {
  return [...document.querySelectorAll<HTMLScriptElement>('script[data-portcullis="jsonp"]')]
}
function globals(): string[] {
  return Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_'))
}
/** The request the client made: its URL's parameters and its callback. */
function lastRequest() {
  const script = scripts().at(-1)
  if (!script) throw new Error('no script injected')
  const url = new URL(script.src)
  const name = url.searchParams.get('callback') ?? ''
  return { script, url, name, callback: scope[name] as (data: unknown) => void }
}

afterEach(() => {
  for (const s of scripts()) s.remove()
})

describe('jsonpClient', () => {
  it('sends method, JSON args and a fresh identifier callback; resolves with the validated result; cleans up', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc?key=1#frag' })
    const first = remote.add(1, 2)
    const a = lastRequest()
    const second = remote.add(3, 4)
    const b = lastRequest()
    expect(a.url.origin + a.url.pathname).toBe('https://api.example/rpc')
    expect(a.url.hash).toBe('')
    expect(a.url.searchParams.get('key')).toBe('1')
    expect(a.url.searchParams.get('method')).toBe('add')
    expect(JSON.parse(a.url.searchParams.get('args') ?? '')).toEqual([1, 2])
    expect(a.name).toMatch(/^__portcullisJsonp_[A-Za-z0-9_$]{21}$/)
    expect(b.name).not.toBe(a.name)
    expect(a.script.referrerPolicy).toBe('strict-origin')
    a.callback({ k: 'r', v: 3 })
    b.callback({ k: 'r', v: 7 })
    expect(await first).toBe(3)
    expect(await second).toBe(7)
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
  })

  it('takes the URL first too, as jsonpClient(url, contract, options?)', async () => {
    const remote = jsonpClient(new URL('https://api.example/rpc?key=1'), api, { timeout: 20 })
    const pending = remote.add(1, 2)
    const { url, callback } = lastRequest()
    expect(url.origin + url.pathname).toBe('https://api.example/rpc')
    expect(url.searchParams.get('key')).toBe('1')
    expect(url.searchParams.get('method')).toBe('add')
    callback({ k: 'r', v: 3 })
    expect(await pending).toBe(3)
    // The options of the URL-first form still apply: this call times out.
    await expect(jsonpClient('https://api.example/rpc', api, { timeout: 20 }).add(1, 2)).rejects.toThrow(/timed out/)
    expect(() => jsonpClient('https://api.example/rpc', api, 5000 as never)).toThrow(/options must be an object/)
    expect(() => jsonpClient('ftp://api.example/rpc', api)).toThrow(/must be an http: or https: URL/)
  })

  it('carries an undefined result (JSON drops the key)', async () => {
    const remote = jsonpClient(defineContract({ methods: { ping: { input: z.tuple([]), output: z.undefined() } } }), {
      url: 'https://api.example/rpc',
    })
    const pending = remote.ping()
    lastRequest().callback(JSON.parse(JSON.stringify({ k: 'r', v: undefined })))
    expect(await pending).toBeUndefined()
  })

  it('ignores a second invocation', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const pending = remote.add(1, 2)
    const { callback } = lastRequest()
    callback({ k: 'r', v: 3 })
    callback({ k: 'r', v: 4 })
    callback({ k: 'e', e: { n: 'Error', m: 'late' } })
    expect(await pending).toBe(3)
  })

  it('validates the result against the output schema', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const pending = remote.add(1, 2)
    lastRequest().callback({ k: 'r', v: 'three' })
    await expect(pending).rejects.toMatchObject({ name: 'ValidationError', side: 'local', target: 'result' })
    expect(globals()).toEqual([])
  })

  it('turns error replies into the same error classes', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const invalid = remote.add(1, 2)
    lastRequest().callback({ k: 'e', e: { n: 'ValidationError', m: 'x', c: 'VALIDATION', t: 'arguments', i: [] } })
    await expect(invalid).rejects.toMatchObject({ name: 'ValidationError', side: 'remote', target: 'arguments' })
    const thrown = remote.add(1, 2)
    lastRequest().callback({ k: 'e', e: { n: 'RangeError', m: 'boom', d: { retry: false } } })
    await expect(thrown).rejects.toMatchObject({
      name: 'RemoteError',
      remoteName: 'RangeError',
      data: { retry: false },
    })
  })

  it.each([[42], [null], [[1]], [{ k: 'x' }], [{ k: 'e', e: 'not an object' }]])(
    'refuses a reply that is not a portcullis reply: %j',
    async (data) => {
      const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
      const pending = remote.add(1, 2)
      lastRequest().callback(data)
      await expect(pending).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('malformed') })
      expect(scripts()).toEqual([])
    },
  )

  it('a script that fails to load gives a DisconnectedError naming the endpoint, not the arguments', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const pending = remote.echo('secret')
    lastRequest().script.dispatchEvent(new Event('error'))
    const error = await pending.catch((e: Error) => e)
    expect(error).toMatchObject({ code: 'DISCONNECTED', reason: 'peer-gone' })
    expect((error as Error).message).toContain('https://api.example/rpc did not load')
    expect((error as Error).message).not.toContain('secret')
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
  })

  it('a script that loads without calling back fails at once', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const pending = remote.add(1, 2)
    lastRequest().script.dispatchEvent(new Event('load'))
    await expect(pending).rejects.toMatchObject({
      code: 'DISCONNECTED',
      message: expect.stringContaining('did not call back'),
    })
  })

  it('times out and aborts with nothing left; a late answer is ignored', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc', timeout: 20 })
    const late = remote.add(1, 2)
    const { callback } = lastRequest()
    await expect(late).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
    expect(() => callback({ k: 'r', v: 3 })).not.toThrow()
    const controller = new AbortController()
    const aborted = remote.add.with({ signal: controller.signal, timeout: Infinity })(1, 2)
    expect(scripts()).toHaveLength(1)
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
  })

  it('fails with LimitError before injecting anything when the URL is too long', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc', maxUrlLength: 200 })
    await expect(remote.echo('x'.repeat(300))).rejects.toMatchObject({ name: 'LimitError' })
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
  })

  it('fails at once when an argument cannot be JSON', async () => {
    const remote = jsonpClient(defineContract({ methods: { f: { input: z.tuple([z.bigint()]), output: z.null() } } }), {
      url: 'https://api.example/rpc',
    })
    await expect(remote.f(1n)).rejects.toBeInstanceOf(TypeError)
    expect(scripts()).toEqual([])
  })

  it('with options.document of another window, the callback lives in that window, where the script runs', async () => {
    const frame = document.createElement('iframe')
    document.body.append(frame)
    const inner = frame.contentWindow as unknown as Record<string, ((data: unknown) => void) | undefined> & Window
    const remote = jsonpClient(api, { url: 'https://api.example/rpc', document: inner.document })
    const pending = remote.add(1, 2)
    const script = inner.document.querySelector<HTMLScriptElement>('script[data-portcullis="jsonp"]')!
    const name = new URL(script.src).searchParams.get('callback')!
    expect(scope[name]).toBeUndefined()
    inner[name]!({ k: 'r', v: 3 })
    expect(await pending).toBe(3)
    expect(inner[name]).toBeUndefined()
    frame.remove()
    const detached = document.implementation.createHTMLDocument('')
    expect(() => jsonpClient(api, { url: 'https://api.example/rpc', document: detached })).toThrow(/has no window/)
  })

  it('leaves no global behind when the script cannot even be set up (a Trusted Types policy, say)', async () => {
    const remote = jsonpClient(api, { url: 'https://api.example/rpc' })
    const descriptor = Object.getOwnPropertyDescriptor(HTMLScriptElement.prototype, 'src')!
    Object.defineProperty(HTMLScriptElement.prototype, 'src', {
      ...descriptor,
      set() {
        throw new TypeError("This document requires 'TrustedScriptURL' assignment.")
      },
    })
    try {
      await expect(remote.add(1, 2)).rejects.toThrow(/TrustedScriptURL/)
    } finally {
      Object.defineProperty(HTMLScriptElement.prototype, 'src', descriptor)
    }
    expect(globals()).toEqual([])
    expect(scripts()).toEqual([])
  })

  it('checks its options', () => {
    expect(() => jsonpClient(api, null as never)).toThrow(TypeError)
    expect(() => jsonpClient(api, { url: 'javascript:alert(1)' })).toThrow(/http: or https:/)
    expect(() => jsonpClient(api, { url: 'http://[' })).toThrow(/not a URL/)
    expect(() => jsonpClient(api, { url: '/rpc', timeout: 0 })).toThrow(/timeout/)
    expect(() => jsonpClient(api, { url: '/rpc', maxUrlLength: Infinity })).toThrow(/maxUrlLength/)
  })
})

describe('jsonpClient with jsonpHandler', () => {
  /** Answers the last request with `serve`, and runs the answer as the browser would run the script. */
  function answerWith(serve: ReturnType<typeof jsonpHandler>): void {
    const { url, name } = lastRequest()
    let body = ''
    serve(
      { method: 'GET', url: url.pathname + url.search, headers: {} },
      { writeHead() {}, end: (b = '') => (body = b) },
    )
    new Function(name, body)(scope[name])
  }

  it('an own "__proto__" key in a result stays data: it cannot set properties the schema then reads', async () => {
    // The server returns stored user-supplied JSON; the client reads the same method with a stricter schema.
    const stored = JSON.parse('{"name":"mallory","__proto__":{"isAdmin":true}}')
    const server = defineContract({ methods: { profile: { input: z.tuple([]), output: z.unknown() } } })
    const client = defineContract({
      methods: {
        profile: { input: z.tuple([]), output: z.object({ name: z.string(), isAdmin: z.boolean().default(false) }) },
      },
    })
    const pending = jsonpClient(client, { url: 'https://api.example/rpc' }).profile()
    answerWith(jsonpHandler(server, { profile: () => stored }))
    // As over postMessage, whose structured clone keeps "__proto__" an own key.
    expect(await pending).toEqual({ name: 'mallory', isAdmin: false })
  })
})

describe('jsonpClient: size limits on receipt', () => {
  const deep = (n: number): unknown => (n === 0 ? 0 : [deep(n - 1)])
  const anything = defineContract({ methods: { f: { input: z.tuple([]), output: z.unknown() } } })

  it.each([
    [
      'a result deeper than maxDepth (default 100)',
      {},
      { k: 'r', v: deep(150) },
      /result was refused on receipt: nesting deeper than 100/,
    ],
    [
      'an error deeper than maxDepth',
      { maxDepth: 5 },
      { k: 'e', e: { n: 'E', m: '', d: { x: deep(10) } } },
      /error was refused on receipt/,
    ],
    ['a result over maxMessageBytes', { maxMessageBytes: 100 }, { k: 'r', v: 'x'.repeat(200) }, /more than 100 bytes/],
  ])('refuses %s with LimitError', async (_, limits, reply, message) => {
    const pending = jsonpClient(anything, { url: 'https://api.example/rpc', ...limits }).f()
    lastRequest().callback(reply)
    await expect(pending).rejects.toMatchObject({ name: 'LimitError', message: expect.stringMatching(message) })
    expect(scripts()).toEqual([])
    expect(globals()).toEqual([])
  })

  it('refuses arguments over its limits before any script exists', async () => {
    const echo = jsonpClient(api, { url: 'https://api.example/rpc', maxMessageBytes: 50 }).echo
    await expect(echo('x'.repeat(100))).rejects.toMatchObject({ name: 'LimitError' })
    expect(scripts()).toEqual([])
  })
})
