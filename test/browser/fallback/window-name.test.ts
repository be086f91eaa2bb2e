import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, type PageHandle, pageUrl } from '../harness/driver.js'
import { startPeerServer } from './peer-server.js'

let driver: Driver
let peer: Awaited<ReturnType<typeof startPeerServer>>
/** The peer's origin (another site than A and C), served by peer-server.ts. */
let P: string
const { A, C, D } = origins()

beforeAll(async () => {
  ;[driver, peer] = await Promise.all([launch(), startPeerServer()])
  P = peer.origin
})
afterAll(async () => {
  await driver?.close()
  await peer?.close()
})

/** A page of the peer running `scenario` (default: the responder) for the origins in `allow`. */
function responderUrl(allow: string[], scenario = 'responder', extra: Record<string, string> = {}): string {
  const search = new URLSearchParams({ s: scenario, ...extra })
  for (const a of allow) search.append('allow', a)
  return `${P}/page?${search}`
}

/**
 * A relay page on `origin`. Any same-origin document will do; the harness's
 * 404 page is the lightest it serves (a few bytes of text, no script).
 */
function relayUrl(origin: string): string {
  return `${origin}/portcullis-relay`
}

/** A relay page on `origin` that logs reads and writes of its window.name into the parent's `nameLog`. */
function spyRelayUrl(origin: string): string {
  return pageUrl(origin, 'relay', { b: 'fallback', title: 'relay' })
}

async function fallbackPage(origin: string): Promise<PageHandle> {
  const page = await openPage(driver, pageUrl(origin, undefined, { b: 'fallback' }))
  await page.waitFor(() => (globalThis as any).fallback !== undefined)
  await page.evaluate(() => {
    const w = globalThis as any
    // Counts every hidden frame ever added, to show which calls never created one.
    w.framesAdded = 0
    new MutationObserver((records) => {
      for (const r of records)
        for (const n of r.addedNodes) if ((n as Element).matches?.('iframe[data-portcullis]')) w.framesAdded++
    }).observe(document.body, { childList: true })
  })
  return page
}

/** Creates `window.client`, a windowNameClient of `contract` in `page`. */
async function createClient(page: PageHandle, options: Record<string, unknown>, contract = 'childApi'): Promise<void> {
  await page.evaluate(
    ({ options, contract }) => {
      const w = globalThis as any
      w.nameLog = []
      w.framesAdded = 0
      w.client = w.fallback.windowNameClient(w.contracts[contract], options)
    },
    { options, contract },
  )
}

/** Calls `client.remote[method](...args)` and returns the value or the error's fields. */
function call(
  page: PageHandle,
  method: string,
  args: unknown[],
  options?: Record<string, unknown>,
  proxy = 'client.remote',
) {
  return page.evaluate(
    async ({ method, args, options, proxy }) => {
      const w = globalThis as any
      const remote = proxy.split('.').reduce((o: any, k: string) => o[k], w)
      try {
        const fn = options ? remote[method].with(options) : remote[method]
        return { ok: true, value: await fn(...args) }
      } catch (e: any) {
        return {
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
    },
    { method, args, options, proxy },
  )
}

/** Navigates the iframe `#id` of `page` to a page of the page's own origin and reads its window.name there. */
async function snoop(page: PageHandle, id: string): Promise<string> {
  return page.evaluate(
    (id) =>
      new Promise<string>((resolve) => {
        const iframe = document.getElementById(id) as HTMLIFrameElement
        iframe.addEventListener('load', () => resolve(iframe.contentWindow!.name), { once: true })
        iframe.src = `${location.origin}/snoop`
      }),
    id,
  )
}

/**
 * What became of the responder in the iframe `#id` of the frame `#middle` of `page`: its own record
 * (what it saw and did), or, if it went to a page of the middle frame's origin (the return URL),
 * where it went and the window.name it carried there, as read by the middle frame. Not looked up by
 * name alone: a reply written to window.name renames the frame for the driver.
 */
function responderOutcome(page: PageHandle, id: string): Promise<Record<string, unknown>> {
  return vi.waitFor(
    async () => {
      const away = await page.frame('middle').evaluate((id) => {
        try {
          const w = (document.getElementById(id) as HTMLIFrameElement).contentWindow!
          return { status: 'navigated', href: w.location.href, name: w.name }
        } catch {
          return undefined // on another origin: the responder, or still on its way there
        }
      }, id)
      if (away !== undefined && away.href !== 'about:blank') return away
      const own = await page.frame('middle', id).evaluate(() => {
        const w = globalThis as any
        const list = location.ancestorOrigins as DOMStringList | undefined
        if (w.fb?.status === undefined) return undefined
        return {
          ancestors: list ? [...list] : null,
          status: w.fb.status,
          rejections: w.fb.rejections,
          counts: w.t.counts,
          name: window.name,
          href: location.href,
        }
      })
      if (own === undefined) throw new Error('the responder has not run yet')
      return own
    },
    { timeout: 15_000, interval: 20 },
  )
}

/**
 * From the top page, navigates frame `index` of the iframe `#middle` (a grandchild, on any origin)
 * to a page of the top's own origin, and reads its window.name there.
 */
async function snoopGrandchild(page: PageHandle, index: number): Promise<string> {
  await page.evaluate((index) => {
    const grandchild = (document.getElementById('middle') as HTMLIFrameElement).contentWindow![index]!
    grandchild.location.href = `${location.origin}/snoop`
  }, index)
  await page.waitFor((index) => {
    try {
      const grandchild = (document.getElementById('middle') as HTMLIFrameElement).contentWindow![index]!
      return grandchild.location.href === `${location.origin}/snoop` && grandchild.document.readyState === 'complete'
    } catch {
      return false // not there yet: still a document of another origin
    }
  }, index)
  return page.evaluate(
    (index) => (document.getElementById('middle') as HTMLIFrameElement).contentWindow![index]!.name,
    index,
  )
}

const framesLeft = (page: PageHandle) => page.evaluate(() => document.querySelectorAll('iframe').length)

describe('window.name transport', () => {
  it('calls across two origins, validated on both sides, with every frame removed', async () => {
    const page = await fallbackPage(A)
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: relayUrl(A), timeout: 10_000 })
    const results = await Promise.all([
      call(page, 'add', [1, 2]),
      call(page, 'echo', [{ nested: ['</script>', '\u2028', 'é'] }]),
      // The responder validates the arguments before its handler runs...
      call(page, 'add', [1, 'two']),
      // ...and its own result before writing it.
      call(page, 'badResult', []),
      call(page, 'fail', ['boom']),
    ])
    expect(results[0]).toEqual({ ok: true, value: 3 })
    expect(results[1]).toEqual({ ok: true, value: { nested: ['</script>', '\u2028', 'é'] } })
    expect(results[2]).toMatchObject({ ok: false, code: 'VALIDATION', side: 'remote', target: 'arguments' })
    expect(results[3]).toMatchObject({ ok: false, code: 'VALIDATION', side: 'remote', target: 'result' })
    expect(results[4]).toMatchObject({
      ok: false,
      code: 'REMOTE',
      remoteName: 'RangeError',
      message: 'boom',
      data: { detail: { retry: false } },
    })
    // The caller validates the result too: a stricter contract refuses the responder's number.
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: relayUrl(A) }, 'strictChildApi')
    expect(await call(page, 'add', [1, 2])).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      side: 'local',
      target: 'result',
    })
    expect(await framesLeft(page)).toBe(0)
    expect(await page.evaluate(() => (globalThis as any).client.pending)).toBe(0)
    await page.close()
  })

  it('reads the reply once from its relay page and clears window.name', async () => {
    const page = await fallbackPage(A)
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: spyRelayUrl(A) })
    expect(await call(page, 'add', [20, 22])).toEqual({ ok: true, value: 42 })
    const log = (await page.evaluate(() => (globalThis as any).nameLog)) as [string, string][]
    // Exactly one read (the reply for this call), then the write that clears it; nothing else.
    expect(log.map(([op]) => op)).toEqual(['read', 'write'])
    expect(JSON.parse(log[0]![1])).toMatchObject({ k: 'r', v: 42 })
    expect(log[1]).toEqual(['write', ''])
    expect(await framesLeft(page)).toBe(0)
    await page.close()
  })

  it('a responder asked to return to a disallowed origin writes nothing and stays', async () => {
    // C is not on the responder's list: nothing comes back to the caller on C.
    const page = await fallbackPage(C)
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: relayUrl(C), timeout: 20_000 })
    const pending = call(page, 'add', [1, 2])
    // The responder is the hidden frame the client made (it has no name: its window.name is the request).
    const responder = page.frameAt('iframe[data-portcullis]')
    await expect
      .poll(
        () =>
          responder
            .evaluate(() => location.href)
            .then(
              (url) => url.startsWith(`${P}/page`),
              () => false,
            ),
        {
          timeout: 15_000,
        },
      )
      .toBe(true)
    await responder.waitFor(() => (globalThis as any).fb?.status !== undefined, undefined, 15_000)
    expect(
      await responder.evaluate(() => ({
        status: (globalThis as any).fb.status,
        rejections: (globalThis as any).fb.rejections,
        name: window.name,
        origin: location.origin,
      })),
    ).toEqual({
      status: 'refused',
      rejections: [{ reason: 'origin', detail: `return URL on ${C}, which is not allowed`, origin: C }],
      name: '',
      origin: P,
    })
    // No reply will ever come; close() ends the call and removes the frame.
    await page.evaluate(() => (globalThis as any).client.close())
    expect(await pending).toMatchObject({ ok: false, code: 'DISCONNECTED' })
    expect(await framesLeft(page)).toBe(0)
    await page.close()
  })

  it('refuses an embedder that is not allowed, even with an allowed return URL (no window.name leak)', async () => {
    // The attack: C frames the responder with a request that returns to A's relay, then
    // navigates the frame to its own page, where window.name would still hold the reply.
    const page = await fallbackPage(C)
    const request = new URLSearchParams({
      'portcullis-wn': '1',
      r: relayUrl(A),
      c: JSON.stringify({ k: 'c', i: 'forged-id', m: 'add', a: [1, 2] }),
    })
    const frame = await addIframe(page, `${responderUrl([A])}#${request}`, 'victim')
    await frame.waitFor(() => (globalThis as any).fb?.status !== undefined, undefined, 15_000)
    expect(
      await frame.evaluate(() => {
        const w = globalThis as any
        return [w.fb.status, w.fb.rejections, w.t.counts, window.name]
      }),
    ).toEqual([
      'refused',
      [{ reason: 'embedder', detail: `embedded by ${C}, which is not allowed`, origin: C }],
      {},
      'victim',
    ])
    // C takes the frame back to its own origin and looks: only the name the frame was created with.
    expect(await snoop(page, 'victim')).toBe('victim')

    // Control: were C an allowed embedder, the very same steps would expose the reply.
    await page.evaluate(
      (src) => {
        const iframe = document.createElement('iframe')
        iframe.id = 'control'
        iframe.src = src
        document.body.append(iframe)
      },
      `${responderUrl([A, C])}#${request}`,
    )
    await expect
      .poll(
        () =>
          page
            .frameAt('#control')
            .evaluate(() => location.href)
            .catch(() => ''),
        { timeout: 15_000 },
      )
      .toBe(relayUrl(A))
    expect(JSON.parse(await snoop(page, 'control'))).toEqual({ k: 'r', i: 'forged-id', v: 3 })
    await page.close()
  })

  it('refuses when any ancestor is not allowed, not only its parent (no window.name leak to the top)', async (ctx) => {
    // The attack: D (not allowed) frames a page of A (allowed), which frames the responder with a
    // request that returns to A's relay. D is an ancestor of the responder's frame, so it may navigate
    // that frame to its own page once the reply is written, and read window.name there.
    const page = await fallbackPage(D)
    const request = new URLSearchParams({
      'portcullis-wn': '1',
      r: relayUrl(A),
      c: JSON.stringify({ k: 'c', i: 'forged-id', m: 'add', a: [1, 2] }),
    })
    const src = `${responderUrl([A])}#${request}`
    await addIframe(page, pageUrl(A, undefined, { b: 'fallback' }), 'middle')
    await page.frame('middle').evaluate(
      (src) =>
        new Promise<void>((resolve) => {
          const iframe = document.createElement('iframe')
          iframe.id = iframe.name = 'victim'
          iframe.src = src
          iframe.addEventListener('load', () => resolve(), { once: true })
          document.body.append(iframe)
        }),
      src,
    )
    const { ancestors, ...outcome } = await responderOutcome(page, 'victim')
    if (ancestors === null) {
      // Without ancestorOrigins the responder sees only its parent (the referrer): best effort, documented.
      await page.close()
      ctx.skip()
    }
    expect(outcome).toEqual({
      status: 'refused',
      rejections: [{ reason: 'embedder', detail: `embedded by ${D}, which is not allowed`, origin: D }],
      // No handler ran, no reply was written, and the frame stayed on the request.
      counts: {},
      name: 'victim',
      href: src,
    })
    // The parent is allowed; the top is not.
    expect(ancestors).toEqual([A, D])
    // D takes its grandchild frame to its own origin and looks: only the name the frame was created with.
    expect(await snoopGrandchild(page, 0)).toBe('victim')

    // Control: were D allowed too, the same steps would expose the reply to D.
    await page.frame('middle').evaluate(
      (src) => {
        const iframe = document.createElement('iframe')
        iframe.id = iframe.name = 'control'
        iframe.src = src
        document.body.append(iframe)
      },
      `${responderUrl([A, D])}#${request}`,
    )
    // A reads where its frame is (the frame's window.name, which the driver finds frames by, is now the reply).
    await page.frame('middle').waitFor(
      (relay) => {
        try {
          return (document.getElementById('control') as HTMLIFrameElement).contentWindow!.location.href === relay
        } catch {
          return false // still the responder, on another origin
        }
      },
      relayUrl(A),
      15_000,
    )
    expect(JSON.parse(await snoopGrandchild(page, 1))).toEqual({ k: 'r', i: 'forged-id', v: 3 })
    await page.close()
  })

  it('times out, aborts and closes with no frame left behind', async () => {
    const page = await fallbackPage(A)
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: relayUrl(A) })
    expect(await call(page, 'slow', [5000], { timeout: 300 })).toMatchObject({ ok: false, code: 'TIMEOUT' })
    expect(await framesLeft(page)).toBe(0)
    // Abort.
    const aborted = await page.evaluate(async () => {
      const w = globalThis as any
      const controller = new AbortController()
      const done = w.client.remote.slow
        .with({ signal: controller.signal })(5000)
        .catch((e: any) => e.code)
      const during = document.querySelectorAll('iframe').length
      controller.abort()
      return { during, code: await done, after: document.querySelectorAll('iframe').length }
    })
    expect(aborted).toEqual({ during: 1, code: 'ABORT', after: 0 })
    // close(): everything in flight rejects, every frame goes, later calls reject at once.
    const closed = await page.evaluate(async () => {
      const w = globalThis as any
      const calls = [w.client.remote.slow(5000), w.client.remote.slow(6000)].map((p: Promise<unknown>) =>
        p.catch((e: any) => e.code),
      )
      const during = document.querySelectorAll('iframe').length
      w.client.close()
      const after = document.querySelectorAll('iframe').length
      const later = await w.client.remote.add(1, 2).catch((e: any) => e.code)
      return { during, after, codes: await Promise.all(calls), later }
    })
    expect(closed).toEqual({ during: 2, after: 0, codes: ['DISCONNECTED', 'DISCONNECTED'], later: 'DISCONNECTED' })
    await page.close()
  })

  it('a request over maxUrlLength fails with LimitError before any frame exists', async () => {
    const page = await fallbackPage(A)
    await createClient(page, { responderUrl: responderUrl([A]), relayUrl: relayUrl(A), maxUrlLength: 2000 })
    expect(await call(page, 'echo', ['x'.repeat(3000)])).toMatchObject({ ok: false, code: 'LIMIT' })
    expect(await call(page, 'echo', ['short'])).toEqual({ ok: true, value: 'short' })
    expect(await page.evaluate(() => (globalThis as any).framesAdded)).toBe(1)
    await page.close()
  })

  it('refuses a relay page on another origin at construction', async () => {
    const page = await fallbackPage(A)
    const message = await page.evaluate(
      ({ responder, relay }) => {
        const w = globalThis as any
        try {
          w.fallback.windowNameClient(w.contracts.childApi, { responderUrl: responder, relayUrl: relay })
          return 'accepted'
        } catch (e: any) {
          return `${e.name}: ${e.message}`
        }
      },
      { responder: responderUrl([A]), relay: relayUrl(C) },
    )
    expect(message).toMatch(/^TypeError: .*relayUrl must be on this page's origin/)
    await page.close()
  })
})

describe('connectWithFallback', () => {
  /** A page on A framing `childUrl`, with `window.conn` from connectWithFallback. */
  async function hostWith(childUrl: string, extra: Record<string, unknown>): Promise<PageHandle> {
    const page = await fallbackPage(A)
    await addIframe(page, childUrl)
    await page.evaluate(
      ({ extra, responder, relay, peerOrigin }) => {
        const w = globalThis as any
        w.conn = w.fallback.connectWithFallback({
          target: document.getElementById('child'),
          allowedOrigins: [peerOrigin],
          remote: w.contracts.childApi,
          connectTimeout: extra.connectTimeout ?? 5000,
          fallback: { responderUrl: responder, relayUrl: relay, force: extra.force },
        })
      },
      { extra, responder: responderUrl([A]), relay: relayUrl(A), peerOrigin: P },
    )
    return page
  }

  const transport = (page: PageHandle) =>
    page.evaluate(async () => {
      const w = globalThis as any
      await w.conn.ready
      return w.conn.transport
    })

  it('uses postMessage when the peer speaks it', async () => {
    const page = await hostWith(responderUrl([A], 'dual', { parent: A }), {})
    expect(await transport(page)).toBe('postMessage')
    expect(await call(page, 'add', [2, 3], undefined, 'conn.remote')).toEqual({ ok: true, value: 5 })
    expect(await page.evaluate(() => (globalThis as any).framesAdded)).toBe(0)
    await page.close()
  })

  it('moves a transfer()-marked argument over postMessage, as connect() does', async () => {
    const page = await hostWith(responderUrl([A], 'dual', { parent: A }), {})
    expect(await transport(page)).toBe('postMessage')
    const outcome = await page.evaluate(async () => {
      const w = globalThis as any
      const buffer = new ArrayBuffer(8)
      try {
        const echoed = await w.conn.remote.echo(w.transfer(buffer, [buffer]))
        return { ok: true, echoed: echoed.byteLength, detached: buffer.byteLength === 0 }
      } catch (e: any) {
        return { ok: false, name: e.name, message: e.message }
      }
    })
    expect(outcome).toEqual({ ok: true, echoed: 8, detached: true })
    await page.close()
  })

  it('falls back to window.name when the peer never answers the handshake', async () => {
    // The framed page runs no connect(): only its responder URL can answer.
    const page = await hostWith(`${P}/page`, { connectTimeout: 400 })
    expect(await call(page, 'add', [2, 3], undefined, 'conn.remote')).toEqual({ ok: true, value: 5 })
    expect(await transport(page)).toBe('window.name')
    expect(await framesLeft(page)).toBe(1) // only the visible child
    await page.close()
  })

  it('settles on no transport when ready rejects: a peer on an origin that is not allowed', async () => {
    // The framed page speaks postMessage from C, which allowedOrigins ([P]) does not allow.
    const page = await hostWith(pageUrl(C, 'child', { parent: A }), { connectTimeout: 1000 })
    const outcome = await page.evaluate(async () => {
      const w = globalThis as any
      const error = await w.conn.ready.then(
        () => undefined,
        (e: any) => e,
      )
      return { code: error?.code, transport: w.conn.transport }
    })
    expect(outcome).toEqual({ code: 'ORIGIN', transport: 'none' })
    await page.close()
  })

  it('force: true goes straight to window.name', async () => {
    const page = await hostWith(responderUrl([A], 'dual', { parent: A }), { force: true })
    expect(await page.evaluate(() => (globalThis as any).conn.transport)).toBe('window.name')
    expect(await call(page, 'add', [4, 5], undefined, 'conn.remote')).toEqual({ ok: true, value: 9 })
    expect(await call(page, 'add', [4, 'x'], undefined, 'conn.remote')).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      side: 'remote',
    })
    await page.evaluate(() => (globalThis as any).conn.close())
    expect(await call(page, 'add', [1, 1], undefined, 'conn.remote')).toMatchObject({ code: 'DISCONNECTED' })
    await page.close()
  })
})
