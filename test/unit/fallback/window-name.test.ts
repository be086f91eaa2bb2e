import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../../src/contract.js'
import { connectWithFallback } from '../../../src/fallback/connect-fallback.js'
import {
  serveWindowName,
  type WindowNameRejection,
  type WindowNameServeStatus,
  windowNameClient,
} from '../../../src/fallback/window-name.js'

const api = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
    lies: { input: z.tuple([]), output: z.number() },
    later: { input: z.tuple([]), output: z.string() },
  },
})
const handlers = {
  add: (a: number, b: number) => a + b,
  echo: (s: string) => s,
  lies: () => 'nope' as unknown as number,
  later: () => Promise.resolve('done'),
}

const anyApi = defineContract({ methods: { any: { input: z.tuple([z.unknown()]), output: z.unknown() } } })

const SHOP = 'https://shop.example'
const RELAY = `${SHOP}/relay.html`
const RESPONDER = 'https://widget.example/responder.html'

/** The responder page's window, as serveWindowName sees it. */
function responderWindow(
  hash: string,
  extra: { ancestors?: readonly string[] | null; referrer?: string; top?: boolean } = {},
) {
  const ancestors = extra.ancestors === undefined ? [SHOP] : extra.ancestors
  const win = {
    name: '',
    parent: {} as unknown,
    document: { referrer: extra.referrer ?? '' },
    location: {
      hash,
      href: `${RESPONDER}${hash}`,
      ancestorOrigins:
        ancestors === null ? undefined : { length: ancestors.length, item: (i: number) => ancestors[i] ?? null },
      replace: vi.fn<(url: string) => void>(),
    },
  }
  win.parent = extra.top ? win : {}
  return win
}

function request(call: unknown, returnUrl = RELAY, version = '1'): string {
  return `#${new URLSearchParams({ 'portcullis-wn': version, r: returnUrl, c: JSON.stringify(call) })}`
}

function serve(
  win: ReturnType<typeof responderWindow>,
  options: Record<string, unknown> = {},
): { status: WindowNameServeStatus; rejections: WindowNameRejection[] } {
  const rejections: WindowNameRejection[] = []
  const status = serveWindowName({
    contract: api,
    handlers,
    allowedOrigins: [SHOP],
    onRejected: (r) => rejections.push(r),
    window: win as unknown as Window,
    ...options,
  })
  return { status, rejections }
}

const addCall = { k: 'c', i: 'id-1', m: 'add', a: [1, 2] }

/** `[[[...0...]]]`, `n` arrays deep. */
function nested(n: number): unknown {
  let value: unknown = 0
  for (let i = 0; i < n; i++) value = [value]
  return value
}

describe('serveWindowName', () => {
  it('serves a valid request: validated call, reply in window.name, navigation to the return URL', () => {
    const win = responderWindow(request(addCall))
    expect(serve(win)).toEqual({ status: 'serving', rejections: [] })
    expect(JSON.parse(win.name)).toEqual({ k: 'r', i: 'id-1', v: 3 })
    expect(win.location.replace).toHaveBeenCalledWith(RELAY)
  })

  it('answers asynchronous handlers when they settle', async () => {
    const win = responderWindow(request({ k: 'c', i: 'id-2', m: 'later', a: [] }))
    expect(serve(win).status).toBe('serving')
    await vi.waitFor(() => expect(win.location.replace).toHaveBeenCalled())
    expect(JSON.parse(win.name)).toEqual({ k: 'r', i: 'id-2', v: 'done' })
  })

  it('validates arguments and its own result, and names unknown methods', () => {
    const bad = responderWindow(request({ ...addCall, a: [1, 'x'] }))
    serve(bad)
    expect(JSON.parse(bad.name)).toMatchObject({ k: 'e', e: { c: 'VALIDATION', t: 'arguments' } })
    const lies = responderWindow(request({ k: 'c', i: 'i', m: 'lies', a: [] }))
    serve(lies)
    expect(JSON.parse(lies.name)).toMatchObject({ k: 'e', e: { c: 'VALIDATION', t: 'result' } })
    const unknown = responderWindow(request({ k: 'c', i: 'i', m: 'toString', a: [] }))
    serve(unknown)
    expect(JSON.parse(unknown.name)).toMatchObject({ k: 'e', e: { n: 'MethodNotFoundError' } })
  })

  it('replaces a reply over maxReplyLength with a LimitError', () => {
    const win = responderWindow(request({ k: 'c', i: 'i', m: 'echo', a: ['x'.repeat(500)] }))
    serve(win, { maxReplyLength: 200 })
    expect(JSON.parse(win.name)).toMatchObject({ k: 'e', e: { c: 'LIMIT' } })
  })

  it("returns 'none' when the page was not loaded for a request", () => {
    expect(serve(responderWindow('')).status).toBe('none')
    expect(serve(responderWindow('#section-2')).status).toBe('none')
  })

  it.each([
    ['a return URL on another origin', request(addCall, 'https://evil.example/relay'), {}, 'origin'],
    ['a javascript: return URL', request(addCall, 'javascript:alert(1)'), {}, 'origin'],
    ['no return URL', `#portcullis-wn=1&c=${encodeURIComponent(JSON.stringify(addCall))}`, {}, 'malformed'],
    ['another protocol version', request(addCall, RELAY, '2'), {}, 'version'],
    ['an ancestor that is not allowed', request(addCall), { ancestors: [SHOP, 'https://evil.example'] }, 'embedder'],
    ['a page that is not framed', request(addCall), { top: true }, 'embedder'],
    ['no ancestorOrigins and no referrer', request(addCall), { ancestors: null }, 'embedder'],
    [
      'no ancestorOrigins and a foreign referrer',
      request(addCall),
      { ancestors: null, referrer: 'https://evil.example/' },
      'embedder',
    ],
    ['a request that is no call', request({ k: 'r', i: 'x', v: 1 }), {}, 'malformed'],
    ['a request that is not JSON', `#portcullis-wn=1&r=${encodeURIComponent(RELAY)}&c=%7B`, {}, 'malformed'],
  ] as const)('refuses %s: writes nothing, navigates nowhere', (_, hash, extra, reason) => {
    const win = responderWindow(hash, extra)
    const { status, rejections } = serve(win)
    expect(status).toBe('refused')
    expect(rejections).toEqual([expect.objectContaining({ reason })])
    expect(win.name).toBe('')
    expect(win.location.replace).not.toHaveBeenCalled()
  })

  it('falls back to the referrer where ancestorOrigins does not exist', () => {
    const win = responderWindow(request(addCall), { ancestors: null, referrer: `${SHOP}/` })
    expect(serve(win).status).toBe('serving')
  })

  it('refuses a request over maxRequestLength', () => {
    const win = responderWindow(request({ k: 'c', i: 'i', m: 'echo', a: ['x'.repeat(500)] }))
    expect(serve(win, { maxRequestLength: 300 }).rejections).toEqual([expect.objectContaining({ reason: 'limit' })])
    expect(win.name).toBe('')
  })

  it.each([
    ['deeper than maxDepth (default 100)', [nested(150)], {}, /nesting deeper than 100 levels/],
    ['deeper than a maxDepth of 5', [nested(6)], { maxDepth: 5 }, /nesting deeper than 5 levels/],
    ['over maxMessageBytes', ['x'.repeat(200)], { maxMessageBytes: 100 }, /more than 100 bytes/],
  ])('refuses arguments %s: the caller gets a LimitError, the handler does not run', (_, a, limits, detail) => {
    const ran = vi.fn(() => 0)
    const win = responderWindow(request({ k: 'c', i: 'id-1', m: 'any', a }))
    const { status, rejections } = serve(win, { contract: anyApi, handlers: { any: ran }, ...limits })
    expect(status).toBe('serving')
    expect(ran).not.toHaveBeenCalled()
    expect(rejections).toEqual([{ reason: 'limit', detail: expect.stringMatching(detail) }])
    expect(JSON.parse(win.name)).toMatchObject({ k: 'e', i: 'id-1', e: { n: 'LimitError', c: 'LIMIT' } })
    expect(win.location.replace).toHaveBeenCalledWith(RELAY)
  })

  it('measures its result with the same limits', () => {
    const win = responderWindow(request({ k: 'c', i: 'id-1', m: 'any', a: [1] }))
    serve(win, { contract: anyApi, handlers: { any: () => nested(10) }, maxDepth: 5 })
    expect(JSON.parse(win.name)).toMatchObject({ k: 'e', e: { c: 'LIMIT', m: expect.stringContaining('not sent') } })
  })

  it('a throwing onRejected hook changes nothing', () => {
    const win = responderWindow(request(addCall, 'https://evil.example/'))
    expect(
      serve(win, {
        onRejected: () => {
          throw new Error('hook')
        },
      }).status,
    ).toBe('refused')
  })

  it('checks its options on every load', () => {
    const win = responderWindow('')
    expect(() => serve(win, { allowedOrigins: undefined })).toThrow(/allowedOrigins is required/)
    expect(() => serve(win, { allowedOrigins: ['*'] })).toThrow(TypeError)
    expect(() => serve(win, { handlers: { add: handlers.add } })).toThrow(/handlers.echo must be an own function/)
    expect(() => serveWindowName(null as never)).toThrow(TypeError)
    expect(() => serve(win, { maxDepth: 1001 })).toThrow(/maxDepth 1001 is above 1000/)
    expect(() => serve(win, { maxMessageBytes: -1 })).toThrow(/maxMessageBytes must be a finite positive number/)
  })
})

/** A fake document whose iframes the test drives: it plays the browser's navigation. */
function fakeDocument(url = `${SHOP}/app`) {
  const frames: FakeFrame[] = []
  class FakeFrame {
    src = ''
    title = ''
    tabIndex = 0
    referrerPolicy = ''
    style = { cssText: '' }
    attributes: Record<string, string> = {}
    removed = false
    contentWindow: { name: string; location: { href: string } } | null = { name: '', location: { href: 'about:blank' } }
    private listeners: (() => void)[] = []
    setAttribute(k: string, v: string) {
      this.attributes[k] = v
    }
    addEventListener(_: 'load', l: () => void) {
      this.listeners.push(l)
    }
    removeEventListener(_: 'load', l: () => void) {
      this.listeners = this.listeners.filter((x) => x !== l)
    }
    remove() {
      this.removed = true
      this.contentWindow = null
    }
    /** The frame now shows `href` with `name`; `crossOrigin` makes location unreadable. */
    land(href: string, name: string, crossOrigin = false) {
      const win = { name, location: {} as { href: string } }
      Object.defineProperty(win.location, 'href', {
        get: () => {
          if (crossOrigin) throw new DOMException('Blocked a frame', 'SecurityError')
          return href
        },
      })
      this.contentWindow = win
      this.fire()
    }
    /** Fires the frame's load event. */
    fire() {
      for (const l of [...this.listeners]) l()
    }
    /** The request the frame was opened with. */
    get call() {
      const params = new URLSearchParams(new URL(this.src).hash.slice(1))
      return JSON.parse(params.get('c') ?? '') as { i: string; m: string; a: unknown[] }
    }
  }
  const doc = {
    URL: url,
    baseURI: url,
    body: { append: (frame: FakeFrame) => frames.push(frame) },
    documentElement: null,
    createElement: () => new FakeFrame(),
  }
  return { doc: doc as unknown as Document, frames }
}

describe('windowNameClient', () => {
  function client(options: Record<string, unknown> = {}) {
    const { doc, frames } = fakeDocument()
    const c = windowNameClient(api, { responderUrl: RESPONDER, relayUrl: '/relay.html', document: doc, ...options })
    return { c, frames, live: () => frames.filter((f) => !f.removed) }
  }

  it('opens a hidden frame with the request in the fragment and reads the reply from its relay page only', async () => {
    const { c, frames, live } = client()
    const pending = c.remote.add(1, 2)
    const [frame] = frames
    expect(frame?.src.startsWith(`${RESPONDER}#portcullis-wn=1&r=${encodeURIComponent(RELAY)}&c=`)).toBe(true)
    expect(frame?.call).toMatchObject({ m: 'add', a: [1, 2] })
    expect(frame?.attributes).toMatchObject({ 'data-portcullis': 'window-name', 'aria-hidden': 'true' })
    expect(frame?.referrerPolicy).toBe('origin')
    // The responder page (cross-origin), then some other same-origin page: not replies.
    frame?.land(RESPONDER, 'x', true)
    frame?.land(`${SHOP}/elsewhere`, JSON.stringify({ k: 'r', i: frame.call.i, v: 99 }))
    expect(c.pending).toBe(1)
    frame?.land(`${RELAY}#x`, JSON.stringify({ k: 'r', i: frame.call.i, v: 3 }))
    expect(await pending).toBe(3)
    expect(live()).toEqual([])
    expect(c.pending).toBe(0)
  })

  it('clears window.name right after reading it', async () => {
    const { c, frames } = client()
    const pending = c.remote.add(1, 2)
    const frame = frames[0]!
    let name = JSON.stringify({ k: 'r', i: frame.call.i, v: 3 })
    const log: string[] = []
    frame.contentWindow = {
      get name() {
        log.push('read')
        return name
      },
      set name(value: string) {
        log.push(`write:${value}`)
        name = value
      },
      location: { href: RELAY },
    }
    frame.fire()
    expect(await pending).toBe(3)
    expect(log).toEqual(['read', 'write:'])
  })

  it.each([
    ['not JSON', '{', 'malformed reply'],
    ['a reply to another call', JSON.stringify({ k: 'r', i: 'someone-else', v: 3 }), 'no reply to this call'],
    ['an empty name', '', 'malformed reply'],
  ])('fails on %s in window.name', async (_, name, message) => {
    const { c, frames, live } = client()
    const pending = c.remote.add(1, 2)
    frames[0]?.land(RELAY, name)
    await expect(pending).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining(message) })
    expect(live()).toEqual([])
  })

  it('validates the result and decodes errors', async () => {
    const { c, frames } = client()
    const lies = c.remote.add(1, 2)
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, v: 'three' }))
    await expect(lies).rejects.toMatchObject({ name: 'ValidationError', side: 'local' })
    const thrown = c.remote.add(1, 2)
    frames[1]?.land(RELAY, JSON.stringify({ k: 'e', i: frames[1].call.i, e: { n: 'RangeError', m: 'boom' } }))
    await expect(thrown).rejects.toMatchObject({ name: 'RemoteError', remoteName: 'RangeError' })
  })

  it('fails a reply over maxReplyLength', async () => {
    const { c, frames } = client({ maxReplyLength: 50 })
    const pending = c.remote.echo('x')
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, v: 'y'.repeat(100) }))
    await expect(pending).rejects.toMatchObject({ name: 'LimitError' })
  })

  it.each([
    [
      'a result deeper than maxDepth (default 100)',
      {},
      { v: nested(150) },
      /result was refused on receipt: nesting deeper than 100/,
    ],
    [
      'an error deeper than maxDepth',
      { maxDepth: 5 },
      { k: 'e', e: { n: 'E', m: '', d: { x: nested(10) } } },
      /error was refused on receipt/,
    ],
    ['a result over maxMessageBytes', { maxMessageBytes: 100 }, { v: 'x'.repeat(200) }, /more than 100 bytes/],
  ])('refuses %s with LimitError', async (_, limits, reply, message) => {
    const { doc, frames } = fakeDocument()
    const c = windowNameClient(anyApi, { responderUrl: RESPONDER, relayUrl: RELAY, document: doc, ...limits })
    const pending = c.remote.any(1)
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, ...reply }))
    await expect(pending).rejects.toMatchObject({ name: 'LimitError', message: expect.stringMatching(message) })
    expect(frames[0]?.removed).toBe(true)
  })

  it('a URL over maxUrlLength fails before any frame exists', async () => {
    const { c, frames } = client({ maxUrlLength: 300 })
    await expect(c.remote.echo('x'.repeat(400))).rejects.toMatchObject({ name: 'LimitError' })
    expect(frames).toEqual([])
  })

  it('removes the frame on timeout, abort and close()', async () => {
    const { c, live } = client({ timeout: 20 })
    await expect(c.remote.add(1, 2)).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(live()).toEqual([])
    const controller = new AbortController()
    const aborted = c.remote.add.with({ signal: controller.signal })(1, 2)
    expect(live()).toHaveLength(1)
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    expect(live()).toEqual([])
    const inFlight = [c.remote.add.with({ timeout: Infinity })(1, 2), c.remote.echo.with({ timeout: Infinity })('a')]
    expect(live()).toHaveLength(2)
    c.close()
    c.close()
    expect(live()).toEqual([])
    for (const p of inFlight) await expect(p).rejects.toMatchObject({ name: 'DisconnectedError', reason: 'closed' })
    await expect(c.remote.add(1, 2)).rejects.toMatchObject({ name: 'DisconnectedError' })
  })

  it('checks its options', () => {
    const { doc } = fakeDocument()
    const make = (options: Record<string, unknown>) => () =>
      windowNameClient(api, { responderUrl: RESPONDER, relayUrl: RELAY, document: doc, ...options })
    expect(make({ relayUrl: 'https://evil.example/relay' })).toThrow(/relayUrl must be on this page's origin/)
    expect(make({ relayUrl: `${RELAY}#x` })).toThrow(/fragment/)
    expect(make({ responderUrl: 'javascript:alert(1)' })).toThrow(/http: or https:/)
    expect(make({ responderUrl: 'http://[' })).toThrow(/not a URL/)
    expect(make({ timeout: -1 })).toThrow(/timeout/)
    expect(make({ maxDepth: 2000 })).toThrow(/maxDepth 2000 is above 1000/)
    expect(() => windowNameClient(api, null as never)).toThrow(TypeError)
  })
})

describe('connectWithFallback', () => {
  const fallback = () => ({ responderUrl: RESPONDER, relayUrl: RELAY, document: fakeDocument().doc })

  it('force: true uses window.name at once, without a handshake', async () => {
    const { doc, frames } = fakeDocument()
    const conn = connectWithFallback({
      target: document.createElement('iframe'),
      allowedOrigins: ['https://widget.example'],
      remote: api,
      fallback: { responderUrl: RESPONDER, relayUrl: RELAY, document: doc, force: true },
    })
    expect(conn.transport).toBe('window.name')
    expect(conn.connection).toBeUndefined()
    const pending = conn.remote.add(1, 2)
    await Promise.resolve()
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, v: 3 }))
    expect(await pending).toBe(3)
    conn.close()
    await expect(conn.remote.add(1, 2)).rejects.toMatchObject({ name: 'DisconnectedError' })
  })

  /** connectWithFallback towards a framed page that never answers the handshake. */
  function silentPeer(connectTimeout: number, extra: { timeout?: number; fallback?: { timeout?: number } } = {}) {
    const iframe = document.createElement('iframe')
    document.body.append(iframe)
    const { doc, frames } = fakeDocument()
    const conn = connectWithFallback({
      target: iframe,
      allowedOrigins: ['https://widget.example'],
      remote: api,
      connectTimeout,
      ...(extra.timeout === undefined ? {} : { timeout: extra.timeout }),
      fallback: { responderUrl: RESPONDER, relayUrl: RELAY, document: doc, ...extra.fallback },
    })
    return { iframe, frames, conn }
  }

  it('falls back when the handshake times out; calls made meanwhile wait for the choice', async () => {
    const { iframe, frames, conn } = silentPeer(30)
    expect(conn.transport).toBe('pending')
    expect(conn.connection).toBeDefined()
    const early = conn.remote.add(1, 2)
    await conn.ready
    expect(conn.transport).toBe('window.name')
    expect(conn.connection).toBeUndefined()
    await vi.waitFor(() => expect(frames).toHaveLength(1))
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, v: 3 }))
    expect(await early).toBe(3)
    conn.close()
    iframe.remove()
  })

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  it('a call made before the choice spends none of its timeout waiting; its signal still ends the wait', async () => {
    const { iframe, frames, conn } = silentPeer(60_000)
    const waiting = conn.remote.add.with({ timeout: 20 })(1, 2)
    const settled = vi.fn()
    waiting.then(settled, settled)
    await sleep(60)
    expect(settled).not.toHaveBeenCalled()
    const controller = new AbortController()
    const aborted = conn.remote.add.with({ signal: controller.signal })(1, 2)
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    await expect(conn.remote.add.with({ signal: controller.signal })(1, 2)).rejects.toMatchObject({
      name: 'AbortError',
    })
    await expect(conn.remote.add.with({ timeout: -1 })(1, 2)).rejects.toThrow(TypeError)
    expect(conn.transport).toBe('pending')
    expect(frames).toHaveLength(0)
    conn.close()
    await expect(waiting).rejects.toMatchObject({ name: 'DisconnectedError' })
    iframe.remove()
  })

  it('with equal connectTimeout and timeout (as by default), a call made before the fallback gets its whole timeout', async () => {
    const { iframe, frames, conn } = silentPeer(100, { timeout: 100 })
    const early = conn.remote.add(1, 2)
    await conn.ready
    await vi.waitFor(() => expect(frames).toHaveLength(1))
    await sleep(40)
    frames[0]?.land(RELAY, JSON.stringify({ k: 'r', i: frames[0].call.i, v: 3 }))
    expect(await early).toBe(3)
    conn.close()
    iframe.remove()
  })

  it('a call made before the choice takes the chosen transport’s default timeout: fallback.timeout on window.name', async () => {
    const { iframe, frames, conn } = silentPeer(30, { timeout: 40, fallback: { timeout: 5000 } })
    const early = conn.remote.add(1, 2)
    await conn.ready
    const late = conn.remote.add(1, 2)
    await vi.waitFor(() => expect(frames).toHaveLength(2))
    await sleep(80)
    for (const frame of frames) frame.land(RELAY, JSON.stringify({ k: 'r', i: frame.call.i, v: 3 }))
    expect(await early).toBe(3)
    expect(await late).toBe(3)
    conn.close()
    iframe.remove()
  })

  it('close() while pending rejects ready', async () => {
    const iframe = document.createElement('iframe')
    document.body.append(iframe)
    const conn = connectWithFallback({
      target: iframe,
      allowedOrigins: ['https://widget.example'],
      remote: api,
      fallback: fallback(),
    })
    conn.close()
    await expect(conn.ready).rejects.toMatchObject({ name: 'DisconnectedError' })
    expect(conn.transport).toBe('none')
    iframe.remove()
  })

  it.each([
    ['with force', true],
    ['without force', false],
  ])('applies allowedOrigins to the window.name peer, %s', (_, force) => {
    const make =
      (allowedOrigins: unknown, responderUrl = RESPONDER) =>
      () => {
        // connect() needs a framed iframe.
        const iframe = document.createElement('iframe')
        document.body.append(iframe)
        try {
          connectWithFallback({
            target: iframe,
            allowedOrigins: allowedOrigins as string[],
            remote: api,
            fallback: { responderUrl, relayUrl: RELAY, document: fakeDocument().doc, force },
          }).close()
        } finally {
          iframe.remove()
        }
      }
    expect(make(['*'])).toThrow(/never accepts '\*'/)
    expect(make(undefined)).toThrow(/allowedOrigins is required/)
    expect(make(['https://widget.example'], 'https://evil.example/r.html')).toThrow(
      /fallback.responderUrl is on https:\/\/evil.example, which allowedOrigins does not allow/,
    )
    // Resolved against the page, as the client resolves it.
    expect(make(['https://widget.example'], '/responder.html')).toThrow(/is on https:\/\/shop.example/)
    expect(make(['https://widget.example'])).not.toThrow()
    expect(make(['https://*.cdn.example'], 'https://eu.cdn.example/r.html')).not.toThrow()
  })

  it('needs allowedOrigins even for a target that connect() would take without it', () => {
    const { port1 } = new MessageChannel()
    expect(() => connectWithFallback({ target: port1, remote: api, fallback: { ...fallback(), force: true } })).toThrow(
      /allowedOrigins is required/,
    )
    port1.close()
  })

  it('checks its options', () => {
    expect(() => connectWithFallback(null as never)).toThrow(TypeError)
    expect(() => connectWithFallback({ target: window, allowedOrigins: ['https://a.example'] } as never)).toThrow(
      /fallback/,
    )
    expect(() =>
      connectWithFallback({
        target: document.createElement('iframe'),
        allowedOrigins: ['https://a.example'],
        fallback: { ...fallback(), relayUrl: 'https://evil.example/' },
      }),
    ).toThrow(/relayUrl/)
  })
})
