/**
 * Red-team attacks on the fallback transports in a real browser, from a
 * hostile server or a hostile origin. JSONP: a server that answers under the
 * wrong callback, answers another call's callback, answers after the client
 * gave up, throws, or is not JavaScript; a frame of another origin that calls
 * a callback it learned the name of. window.name: an ancestor of another
 * origin that plants a forged, replayed or stale reply in the hidden frame
 * and sends it to the caller's relay page; return URLs of every shape that a
 * responder must refuse without writing anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addIframe,
  type Driver,
  ENGINE,
  launch,
  openPage,
  origins,
  type PageHandle,
  pageUrl,
} from '../harness/driver.js'
import { startHostileJsonp } from './hostile-jsonp.js'
import { startPeerServer } from './peer-server.js'

let driver: Driver
let hostile: Awaited<ReturnType<typeof startHostileJsonp>>
let peer: Awaited<ReturnType<typeof startPeerServer>>
const { A, C } = origins()

beforeAll(async () => {
  ;[driver, hostile, peer] = await Promise.all([launch(), startHostileJsonp(), startPeerServer()])
})
afterAll(async () => {
  await driver?.close()
  await hostile?.close()
  await peer?.close()
})

async function fallbackPage(origin = A): Promise<PageHandle> {
  const page = await openPage(driver, pageUrl(origin, undefined, { b: 'fallback' }))
  await page.waitFor(() => (globalThis as any).fallback !== undefined)
  return page
}

/** Starts `jsonpApi.<method>(...args)` against `path` of the hostile server as `window.calls[key]`. */
function start(page: PageHandle, key: string, path: string, method: string, args: unknown[], timeout = 20_000) {
  return page.evaluate(
    ({ key, url, method, args, timeout }) => {
      const w = globalThis as any
      w.calls ??= {}
      const api = w.fallback.jsonpClient(w.fallbackContracts.jsonpApi, { url, timeout })
      const record: Record<string, unknown> = {}
      w.calls[key] = record
      record.done = api[method](...args).then(
        (value: unknown) => Object.assign(record, { ok: true, value }),
        (e: any) => Object.assign(record, { ok: false, name: e.name, code: e.code, message: e.message }),
      )
      // This call's callback: the last script's.
      const scripts = document.querySelectorAll<HTMLScriptElement>('script[data-portcullis]')
      return new URL(scripts[scripts.length - 1]!.src).searchParams.get('callback')!
    },
    { key, url: hostile.origin + path, method, args, timeout },
  )
}

/** The outcome of `window.calls[key]` once it settled, and what the page has left. */
function outcome(page: PageHandle, key: string) {
  return page.evaluate(async (key) => {
    const w = globalThis as any
    const { done, ...record } = w.calls[key]
    await done
    const { done: _, ...settled } = w.calls[key]
    void record
    return {
      ...settled,
      scriptsLeft: document.querySelectorAll('script[data-portcullis]').length,
      globalsLeft: Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_')).length,
    }
  }, key)
}

const pageErrors = (lines: string[] | null) => (lines ?? []).filter((l) => l.startsWith('pageerror:'))

describe('JSONP client against a hostile server', () => {
  it('an answer under another callback name, a throwing script and a non-script all reject at once, leaving nothing', async () => {
    const page = await fallbackPage()
    start(page, 'wrong', '/wrong-callback', 'add', [1, 2])
    start(page, 'throws', '/throws', 'add', [1, 2])
    start(page, 'html', '/html', 'add', [1, 2])
    expect(await outcome(page, 'wrong')).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringContaining('loaded but did not call back'),
    })
    expect(await outcome(page, 'throws')).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringContaining('loaded but did not call back'),
    })
    // text/html under nosniff is not run: the script fails to load.
    expect(await outcome(page, 'html')).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringContaining('did not load as a script'),
      scriptsLeft: 0,
      globalsLeft: 0,
    })
    await page.close()
  })

  it("a server that answers another call's callback settles that call only with what its schema accepts, once", async () => {
    const page = await fallbackPage()
    const lines = page.recordConsole()
    // The victim waits on a server that holds its request.
    const victim = await start(page, 'victim', '/held', 'add', [1, 2])
    await hostile.heldRequests(1)
    // The attacker's response calls the victim's callback twice: a value off its schema, then a valid one.
    await start(page, 'attacker', `/other-call?victim=${victim}`, 'echo', ['x'])
    expect(await outcome(page, 'attacker')).toMatchObject({
      ok: false,
      code: 'DISCONNECTED',
      message: expect.stringContaining('did not call back'),
    })
    expect(await outcome(page, 'victim')).toMatchObject({
      ok: false,
      name: 'ValidationError',
      code: 'VALIDATION',
      scriptsLeft: 0,
      globalsLeft: 0,
    })
    // The real answer comes later and changes nothing (the victim's script is gone, its global too).
    hostile.release()
    if (ENGINE !== 'webkit') expect(pageErrors(lines)).toEqual([])
    await page.close()
  })

  it('an answer after the client timed out finds no callback and changes nothing', async () => {
    const page = await fallbackPage()
    const lines = page.recordConsole()
    await start(page, 'late', '/held', 'add', [1, 2], 300)
    await hostile.heldRequests(1)
    expect(await outcome(page, 'late')).toMatchObject({
      ok: false,
      code: 'TIMEOUT',
      scriptsLeft: 0,
      globalsLeft: 0,
    })
    hostile.release()
    // A removed script still runs once it arrives: its `typeof` guard finds no function.
    await page.waitFor(() => (globalThis as any).lateAnswers === 1, undefined, 10_000)
    expect(
      await page.evaluate(() => ({
        record: (globalThis as any).calls.late.code,
        globalsLeft: Object.keys(globalThis).filter((k) => k.startsWith('__portcullisJsonp_')).length,
      })),
    ).toEqual({ record: 'TIMEOUT', globalsLeft: 0 })
    if (ENGINE !== 'webkit') expect(pageErrors(lines)).toEqual([])
    await page.close()
  })

  it('a frame of another origin that knows a callback name cannot call it', async () => {
    const page = await fallbackPage()
    const name = await start(page, 'target', '/held', 'add', [1, 2])
    await hostile.heldRequests(1)
    const frame = await addIframe(page, pageUrl(C, 'callParent', { b: 'fallback-attack', callback: name }), 'evil')
    await frame.waitFor(() => (globalThis as any).outcome !== undefined)
    expect(await frame.evaluate(() => (globalThis as any).outcome)).toBe('SecurityError')
    // Still waiting for its own server, which then answers it.
    expect(await page.evaluate(() => Object.keys((globalThis as any).calls.target))).toEqual(['done'])
    hostile.release()
    expect(await outcome(page, 'target')).toMatchObject({ ok: true, value: 666, scriptsLeft: 0, globalsLeft: 0 })
    await page.close()
  })
})

describe('window.name transport against a hostile origin', () => {
  /** The responder page of the peer, for `allow`. */
  const responderUrl = (allow: string[]) =>
    `${peer.origin}/page?${new URLSearchParams([['s', 'responder'], ...allow.map((a) => ['allow', a])])}`
  const relay = `${A}/portcullis-relay`

  it('a forged, replayed or stale reply planted by an ancestor of another origin never settles a call', async () => {
    // C frames a page of A that calls the peer over window.name; C is an ancestor of the hidden frames,
    // so it may navigate them: to a page of its own that plants a reply in window.name and goes on to A's relay.
    const page = await fallbackPage(C)
    await addIframe(page, pageUrl(A, undefined, { b: 'fallback' }), 'middle')
    const middle = page.frame('middle')
    await middle.waitFor(() => (globalThis as any).fallback !== undefined)
    await middle.evaluate(
      ({ responderUrl, relayUrl }) => {
        const w = globalThis as any
        w.client = w.fallback.windowNameClient(w.contracts.childApi, { responderUrl, relayUrl, timeout: 20_000 })
        w.outcomes = {}
        w.loaded = {}
      },
      { responderUrl: responderUrl([A]), relayUrl: relay },
    )
    /** Starts a call in A, and returns its id (as an attacker that learned it would know it). */
    const call = (key: string) =>
      middle.evaluate((key) => {
        const w = globalThis as any
        w.client.remote.add(1, 2).then(
          (value: unknown) => (w.outcomes[key] = { ok: true, value }),
          (e: any) => (w.outcomes[key] = { ok: false, code: e.code, message: e.message }),
        )
        const frames = document.querySelectorAll<HTMLIFrameElement>('iframe[data-portcullis]')
        // The responder's page has loaded (and refused C): a navigation started before would lose to it.
        frames[frames.length - 1]!.addEventListener('load', () => (w.loaded[key] = true), { once: true })
        const hash = new URL(frames[frames.length - 1]!.src).hash.slice(1)
        return JSON.parse(new URLSearchParams(hash).get('c')!).i as string
      }, key)
    /** C sends the (only) hidden frame to its forging page with `reply`, and waits for the call's outcome. */
    const plant = async (key: string, reply: string) => {
      await middle.waitFor((key) => (globalThis as any).loaded[key] === true, key, 15_000)
      await page.evaluate(
        (url) => {
          const middle = (document.getElementById('middle') as HTMLIFrameElement).contentWindow!
          middle[0]!.location.href = url
        },
        pageUrl(C, 'forge', { b: 'fallback-attack', reply, to: relay }),
      )
      await middle.waitFor((key) => (globalThis as any).outcomes[key] !== undefined, key, 15_000)
      return middle.evaluate(
        (key) => ({
          ...(globalThis as any).outcomes[key],
          framesLeft: document.querySelectorAll('iframe[data-portcullis]').length,
        }),
        key,
      )
    }
    const refused = (what: string) => ({
      ok: false,
      code: 'VALIDATION',
      message: expect.stringContaining(what),
      framesLeft: 0,
    })

    const first = await call('forged')
    expect(await plant('forged', JSON.stringify({ k: 'r', i: 'a-guessed-id', v: 666 }))).toEqual(
      refused('window.name holds no reply to this call'),
    )
    // The reply a previous call would have got, replayed into the next one.
    await call('replayed')
    expect(await plant('replayed', JSON.stringify({ k: 'r', i: first, v: 666 }))).toEqual(
      refused('window.name holds no reply to this call'),
    )
    await call('stale')
    expect(await plant('stale', 'stale contents')).toEqual(refused('did not receive a portcullis reply'))
    // Control: the one thing that stops a planted reply is the call's unguessable id.
    const id = await call('control')
    expect(await plant('control', JSON.stringify({ k: 'r', i: id, v: 666 }))).toEqual({
      ok: true,
      value: 666,
      framesLeft: 0,
    })
    await page.close()
  })

  it('a responder asked to return to anything but an allowed origin writes nothing and stays', async () => {
    const page = await fallbackPage(A)
    const portA = new URL(A).port
    const hostC = new URL(C).host
    const returnUrls = [
      `${C}/portcullis-relay`,
      // userinfo that names A, on C's host
      `http://127.0.0.1:${portA}@${hostC}/portcullis-relay`,
      `${A.replace('http:', 'https:')}/portcullis-relay`,
      `javascript:parent.postMessage(window.name,'*')//${A}/`,
      'data:text/html,<script>parent.postMessage(window.name,"*")</script>',
      `blob:${A}/0b0b0b0b-0000-0000-0000-000000000000`,
      `//${hostC}/portcullis-relay`,
      '/portcullis-relay',
    ]
    const src = (r: string) =>
      `${responderUrl([A])}#${new URLSearchParams({
        'portcullis-wn': '1',
        r,
        c: JSON.stringify({ k: 'c', i: 'forged-id', m: 'add', a: [1, 2] }),
      })}`
    await Promise.all(returnUrls.map((r, i) => addIframe(page, src(r), `victim${i}`)))
    for (const [i, r] of returnUrls.entries()) {
      const frame = page.frame(`victim${i}`)
      await frame.waitFor(() => (globalThis as any).fb?.status !== undefined, undefined, 15_000)
      const seen = await frame.evaluate(() => {
        const w = globalThis as any
        return { status: w.fb.status, reason: w.fb.rejections[0]?.reason, counts: w.t.counts, name: window.name }
      })
      expect(seen, r).toEqual({
        status: 'refused',
        // A relative return URL is not a URL without a base: malformed; the others name another origin.
        reason: r.startsWith('/') ? 'malformed' : 'origin',
        counts: {},
        name: `victim${i}`,
      })
    }
    await page.close()
  })
})
