import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jsonpHandler } from '../../../src/fallback/index.js'
import { type Driver, ENGINE, launch, openPage, origins, type PageHandle, pageUrl } from '../harness/driver.js'
import { jsonpServerApi } from './contracts.js'

let driver: Driver
let server: Server
/** The JSONP server, on `localhost` (another site than the pages on A). */
let SERVER: string
const { A, C } = origins()
/** Requests the server received for a path, to wait on instead of sleeping. */
const seen = new Map<string, number>()
const hanging = new Set<ServerResponse>()

const handlers = {
  add: (a: number, b: number) => a + b,
  echo: (s: string) => s,
  fail: (message: string): never => {
    throw Object.assign(new RangeError(message), { detail: { retry: false } })
  },
  wrongType: () => 'a string',
  badResult: () => 'not a number' as unknown as number,
  stuck: () => new Promise<number>(() => {}),
}
const rpc = jsonpHandler(jsonpServerApi, handlers)
/** The server's timeout, shorter than the later call's wait in the test that uses it. */
const stuck = jsonpHandler(jsonpServerApi, handlers, { timeout: 500 })
const strict = jsonpHandler(jsonpServerApi, handlers, { allowedOrigins: [A] })
const JS = { 'Content-Type': 'text/javascript; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }

function route(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x')
  seen.set(url.pathname, (seen.get(url.pathname) ?? 0) + 1)
  const callback = url.searchParams.get('callback') ?? ''
  const raw = (body: string): void => {
    // Test-only routes: a strict check, then a deliberately odd body.
    if (/^[A-Za-z_$][\w$]*$/.test(callback)) res.writeHead(200, JS).end(body)
    else res.writeHead(400).end()
  }
  switch (url.pathname) {
    case '/rpc':
      rpc(req, res)
      break
    case '/strict':
      strict(req, res)
      break
    case '/stuck':
      stuck(req, res)
      break
    case '/hang':
      hanging.add(res)
      break
    case '/twice':
      // Holds on to the function and calls it twice, with different answers.
      raw(`(function (f) { f({ k: 'r', v: 1 }); f({ k: 'r', v: 2 }) })(${callback})`)
      break
    case '/garbage':
      raw(`${callback}(42)`)
      break
    case '/nocall':
      raw('/* a script that never calls back */')
      break
    default:
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found')
  }
}

beforeAll(async () => {
  server = createServer(route)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  SERVER = `http://localhost:${(server.address() as AddressInfo).port}`
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
  for (const res of hanging) res.destroy()
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
})

async function fallbackPage(origin = A): Promise<PageHandle> {
  const page = await openPage(driver, pageUrl(origin, undefined, { b: 'fallback' }))
  await page.waitFor(() => (globalThis as any).fallback !== undefined)
  await page.evaluate(() => {
    const w = globalThis as any
    // Every script the client ever injects, to show what was never injected.
    w.scriptsAdded = 0
    new MutationObserver((records) => {
      for (const r of records)
        for (const n of r.addedNodes) if ((n as Element).matches?.('script[data-portcullis]')) w.scriptsAdded++
    }).observe(document.head, { childList: true })
  })
  return page
}

/** Calls `jsonpClient(jsonpApi, { url, ...options })[method](...args)` in the page; returns the outcome and what is left. */
function call(
  page: PageHandle,
  path: string,
  method: string,
  args: unknown[],
  options: Record<string, unknown> = {},
  callOptions?: Record<string, unknown>,
) {
  return page.evaluate(
    async ({ url, method, args, options, callOptions }) => {
      const w = globalThis as any
      const api = w.fallback.jsonpClient(w.fallbackContracts.jsonpApi, { url, ...options })
      let outcome: Record<string, unknown>
      try {
        const fn = callOptions ? api[method].with(callOptions) : api[method]
        outcome = { ok: true, value: await fn(...args) }
      } catch (e: any) {
        outcome = {
          ok: false,
          name: e.name,
          code: e.code,
          message: e.message,
          side: e.side,
          target: e.target,
          remoteName: e.remoteName,
          data: e.data,
        }
      }
      return {
        ...outcome,
        scriptsLeft: document.querySelectorAll('script[data-portcullis]').length,
        globalsLeft: Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_')).length,
      }
    },
    { url: SERVER + path, method, args, options, callOptions },
  )
}

const CLEAN = { scriptsLeft: 0, globalsLeft: 0 }
const leftovers = (page: PageHandle) =>
  page.evaluate(() => ({
    scriptsLeft: document.querySelectorAll('script[data-portcullis]').length,
    globalsLeft: Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_')).length,
  }))

describe('JSONP client and server', () => {
  it('makes typed calls to a server on another site, validated on both sides, and cleans up', async () => {
    const page = await fallbackPage()
    const hostile = '</script><script>parent.pwned=1</script>\u2028\u2029 é'
    const results = await Promise.all([
      call(page, '/rpc', 'add', [2, 3]),
      call(page, '/rpc', 'echo', [hostile]),
      call(page, '/rpc', 'fail', ['boom']),
      // The server validates the arguments before its handler runs, and its own result.
      call(page, '/rpc', 'add', [2, 'three']),
      call(page, '/rpc', 'badResult', []),
    ])
    // Five calls at once, each with its own script and callback.
    expect(results[0]).toMatchObject({ ok: true, value: 5 })
    expect(results[1]).toMatchObject({ ok: true, value: hostile })
    expect(results[2]).toMatchObject({
      ok: false,
      code: 'REMOTE',
      remoteName: 'RangeError',
      message: 'boom',
      data: { detail: { retry: false } },
    })
    expect(results[3]).toMatchObject({ ok: false, code: 'VALIDATION', side: 'remote', target: 'arguments' })
    expect(results[4]).toMatchObject({ ok: false, code: 'VALIDATION', side: 'remote', target: 'result' })
    expect(await leftovers(page)).toEqual(CLEAN)
    expect(await page.evaluate(() => (globalThis as any).pwned)).toBeUndefined()
    await page.close()
  })

  it('a server that returns the wrong type gives a ValidationError', async () => {
    const page = await fallbackPage()
    expect(await call(page, '/rpc', 'wrongType', [])).toMatchObject({
      ok: false,
      name: 'ValidationError',
      code: 'VALIDATION',
      side: 'local',
      target: 'result',
      ...CLEAN,
    })
    // Not a portcullis reply at all.
    expect(await call(page, '/garbage', 'add', [1, 2])).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      message: expect.stringContaining('malformed reply'),
      ...CLEAN,
    })
    await page.close()
  })

  it('a server that never answers gives TimeoutError and leaves no script or global', async () => {
    const page = await fallbackPage()
    const before = seen.get('/hang') ?? 0
    expect(await call(page, '/hang', 'add', [1, 2], { timeout: 400 })).toMatchObject({
      ok: false,
      name: 'TimeoutError',
      code: 'TIMEOUT',
      ...CLEAN,
    })
    expect(seen.get('/hang')).toBe(before + 1)
    // Abort is cleaned up the same way.
    expect(
      await page.evaluate(async (url) => {
        const w = globalThis as any
        const api = w.fallback.jsonpClient(w.fallbackContracts.jsonpApi, { url })
        const controller = new AbortController()
        const done = api.add
          .with({ signal: controller.signal })(1, 2)
          .catch((e: any) => e.code)
        const during = document.querySelectorAll('script[data-portcullis]').length
        controller.abort()
        return {
          during,
          code: await done,
          scriptsLeft: document.querySelectorAll('script[data-portcullis]').length,
          globalsLeft: Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_')).length,
        }
      }, `${SERVER}/hang`),
    ).toEqual({ during: 1, code: 'ABORT', ...CLEAN })
    await page.close()
  })

  it('calls that timed out on a handler that never settles do not leave later calls waiting', async () => {
    // Chromium keeps a JSONP request open after the client removed its script, six per server: were
    // the stuck calls never answered, every later call to the server would queue behind them.
    const page = await fallbackPage()
    const lines = page.recordConsole()
    const outcomes = await page.evaluate(async (url) => {
      const w = globalThis as any
      const api = w.fallback.jsonpClient(w.fallbackContracts.jsonpApi, { url, timeout: 200 })
      return Promise.all(Array.from({ length: 8 }, () => api.stuck().catch((e: any) => e.code)))
    }, `${SERVER}/stuck`)
    expect(outcomes).toEqual(Array(8).fill('TIMEOUT'))
    expect(await call(page, '/rpc', 'add', [1, 2], { timeout: 5000 })).toEqual({ ok: true, value: 3, ...CLEAN })
    // Coverage: the server's late answers to the calls that timed out ran, found no callback and did nothing.
    if (ENGINE !== 'webkit') expect((lines as string[]).filter((l) => l.startsWith('pageerror:'))).toEqual([])
    await page.close()
  })

  it('a 404, a refused origin and a script that never calls back give clear errors', async () => {
    const page = await fallbackPage()
    expect(await call(page, '/missing', 'add', [1, 2])).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringMatching(/JSONP call to "add" failed: .*\/missing did not load as a script \(.*404/),
      ...CLEAN,
    })
    expect(await call(page, '/nocall', 'add', [1, 2], { timeout: 20_000 })).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringContaining('loaded but did not call back'),
      ...CLEAN,
    })
    // The best-effort origin check: A is allowed, C is not (403, so the script fails to load).
    expect(await call(page, '/strict', 'add', [1, 2])).toMatchObject({ ok: true, value: 3 })
    const other = await fallbackPage(C)
    expect(await call(other, '/strict', 'add', [1, 2])).toMatchObject({ ok: false, code: 'DISCONNECTED', ...CLEAN })
    await Promise.all([page.close(), other.close()])
  })

  it('ignores a second invocation of the callback', async () => {
    const page = await fallbackPage()
    const lines = page.recordConsole()
    expect(await call(page, '/twice', 'add', [1, 2])).toEqual({ ok: true, value: 1, ...CLEAN })
    // No uncaught error from the second invocation. WebKit (classic WebDriver) reports no page errors:
    // the check cannot run there.
    if (ENGINE !== 'webkit') expect((lines as string[]).filter((l) => l.startsWith('pageerror:'))).toEqual([])
    await page.close()
  })

  it('a URL over maxUrlLength fails with LimitError before anything is injected', async () => {
    const page = await fallbackPage()
    expect(await call(page, '/rpc', 'echo', ['x'.repeat(5000)], { maxUrlLength: 1000 })).toMatchObject({
      ok: false,
      code: 'LIMIT',
      ...CLEAN,
    })
    expect(await page.evaluate(() => (globalThis as any).scriptsAdded)).toBe(0)
    expect(await call(page, '/rpc', 'echo', ['short'], { maxUrlLength: 1000 })).toMatchObject({ ok: true })
    expect(await page.evaluate(() => (globalThis as any).scriptsAdded)).toBe(1)
    await page.close()
  })
})

describe('jsonpHandler over HTTP', () => {
  it.each([['alert(1)//'], ['a.b'], ['a'.repeat(200)], ['é'], ['ｆ'], ['x\u2028'], ['a;b']])(
    'rejects callback %j with 400 and does not reflect it',
    async (callback) => {
      const res = await fetch(`${SERVER}/rpc?${new URLSearchParams({ method: 'add', args: '[1,2]', callback })}`)
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(await res.text()).not.toContain(callback)
    },
  )

  it('answers with the JavaScript headers', async () => {
    const res = await fetch(`${SERVER}/rpc?method=add&args=[1,2]&callback=cb`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toBe(`/**/ typeof cb === 'function' && cb(JSON.parse("{\\"k\\":\\"r\\",\\"v\\":3}"));`)
  })
})
