import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, type PageHandle, pageUrl } from '../harness/driver.js'
import { call, connectTo } from './helpers.js'

let driver: Driver
const { A, B } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Starts a slow call, runs `leave` in the page, and returns how the call ended and how fast. */
async function slowCallThen(page: PageHandle, leave: string) {
  return page.evaluate(
    async ({ leave }) => {
      const conn = (globalThis as any).conns.peer
      const started = performance.now()
      const outcome = conn.remote.slow
        // An hour: only peer-gone detection can end this call in time.
        .with({ timeout: 3_600_000 })(60_000)
        .then(
          () => ({ settled: 'resolved' }),
          (e: any) => ({ settled: 'rejected', code: e.code, reason: e.reason, ms: performance.now() - started }),
        )
      // biome-ignore lint/security/noGlobalEval: the test passes the action as page code
      ;(0, eval)(leave)
      const result = await outcome
      return { ...result, state: conn.state, cause: conn.cause }
    },
    { leave },
  )
}

/**
 * Opens A (served with `coop` when given) and, from a real click, a popup of B
 * (served with `popupCoop` when given) that connects to its opener.
 */
async function openPopupFrom(coop?: string, popupCoop?: string) {
  const page = await openPage(driver, pageUrl(A, undefined, coop ? { coop } : {}))
  const popupUrl = pageUrl(B, 'peer', {
    b: 'lifecycle',
    allow: A,
    target: 'opener',
    ...(popupCoop ? { coop: popupCoop } : {}),
  })
  await page.evaluate((url) => {
    const button = document.createElement('button')
    button.id = 'open'
    button.onclick = () => {
      ;(globalThis as any).popup = window.open(url, 'popup', 'popup')
    }
    document.body.append(button)
  }, popupUrl)
  const popup = await page.popup(() => page.click('#open'))
  return { page, popup }
}

describe('peer gone', () => {
  it('an iframe removed during a call rejects it within a second and closes the connection', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'peer', { b: 'lifecycle', allow: A }), 'peer')
    await connectTo(page, 'peer', "document.getElementById('peer')", { allow: [B], timeout: Number.POSITIVE_INFINITY })
    expect(await call(page, 'peer', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    const result = await slowCallThen(page, "document.getElementById('peer').remove()")
    expect(result).toMatchObject({
      settled: 'rejected',
      code: 'DISCONNECTED',
      reason: 'peer-gone',
      state: 'closed',
      cause: 'peer-gone',
    })
    expect(result.ms).toBeLessThan(1000)
    await page.close()
  })

  it('an iframe removed before the handshake completes: ready rejects at once, without the COOP hint meant for popups', async () => {
    const page = await openPage(driver, pageUrl(A))
    // A page of B that never calls connect().
    await addIframe(page, pageUrl(B), 'silent')
    const error = await page.evaluate(async (allowed) => {
      const w = globalThis as any
      const frame = document.getElementById('silent')
      const conn = w.portcullis.connect({ target: frame, allowedOrigins: [allowed], remote: w.contracts.peerApi })
      frame?.remove()
      return conn.ready.then(
        () => 'opened',
        (e: any) => ({ code: e.code, reason: e.reason, message: e.message, state: conn.state }),
      )
    }, B)
    expect(error).toEqual({
      code: 'DISCONNECTED',
      reason: 'peer-gone',
      message: 'the peer window is gone (iframe removed or popup closed) before the handshake completed',
      state: 'closed',
    })
    await page.close()
  })

  it('an iframe moved in the DOM (removed and inserted again: a new window) counts as removed; a new connect() reaches its new page', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'peer', { b: 'lifecycle', allow: A }), 'peer')
    await connectTo(page, 'peer', "document.getElementById('peer')", { allow: [B], timeout: Number.POSITIVE_INFINITY })
    expect(await call(page, 'peer', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    const result = await slowCallThen(
      page,
      "document.body.append(Object.assign(document.createElement('div'), { id: 'box' })); document.getElementById('box').append(document.getElementById('peer'))",
    )
    expect(result).toMatchObject({ settled: 'rejected', code: 'DISCONNECTED', reason: 'peer-gone', state: 'closed' })
    expect(result.ms).toBeLessThan(1000)
    await connectTo(page, 'again', "document.getElementById('peer')", { allow: [B] })
    expect(await call(page, 'again', 'add', [2, 3])).toEqual({ ok: true, value: 5 })
    await page.close()
  })

  it('a popup closed during a call rejects it within a second', async () => {
    const { page } = await openPopupFrom()
    await connectTo(page, 'peer', 'globalThis.popup', { allow: [B] })
    expect(await call(page, 'peer', 'whoami')).toEqual({ ok: true, value: 'peer' })
    const result = await slowCallThen(page, 'globalThis.popup.close()')
    expect(result).toMatchObject({ settled: 'rejected', code: 'DISCONNECTED', reason: 'peer-gone', state: 'closed' })
    expect(result.ms).toBeLessThan(1000)
    await page.close()
  })

  it('a peer that closes its connection rejects our pending call at once', async () => {
    const page = await openPage(driver, pageUrl(A))
    const frame = await addIframe(page, pageUrl(B, 'peer', { b: 'lifecycle', allow: A }), 'peer')
    await connectTo(page, 'peer', "document.getElementById('peer')", { allow: [B] })
    expect(await call(page, 'peer', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    const pending = page.evaluate(() =>
      (globalThis as any).conns.peer.remote.slow(60_000).catch((e: any) => ({ code: e.code, reason: e.reason })),
    )
    await frame.evaluate(() => (globalThis as any).t.conn.close())
    expect(await pending).toEqual({ code: 'DISCONNECTED', reason: 'peer-closed' })
    expect(await page.evaluate(() => (globalThis as any).conns.peer.state)).toBe('closed')
    await page.close()
  })
})

describe('Cross-Origin-Opener-Policy', () => {
  it('same-origin on the opener fails fast on both sides with an error that names the header and the fix', async () => {
    const { page, popup } = await openPopupFrom('same-origin')
    const opener = await page.evaluate(async () => {
      const { portcullis, contracts } = globalThis as any
      const started = performance.now()
      try {
        const conn = portcullis.connect({
          target: (globalThis as any).popup,
          allowedOrigins: [location.origin.replace('127.0.0.1', 'localhost').replace(/:\d+$/, '')],
          remote: contracts.peerApi,
        })
        await conn.ready
        return { ok: true }
      } catch (e: any) {
        return { ok: false, code: e.code, message: String(e.message), ms: performance.now() - started }
      }
    })
    expect(opener.ok).toBe(false)
    expect(opener.message).toContain('Cross-Origin-Opener-Policy')
    expect(opener.message).toContain('same-origin-allow-popups')
    expect(opener.ms).toBeLessThan(2000)
    await popup.waitFor(() => (globalThis as any).t?.error !== undefined)
    const popupError = await popup.evaluate(() => (globalThis as any).t.error)
    expect(popupError).toContain('Cross-Origin-Opener-Policy')
    expect(popupError).toContain('same-origin-allow-popups')
    await page.close()
  })

  // Any policy but unsafe-none on a cross-origin popup severs it from its opener, whatever the
  // opener sends: 'same-origin-allow-popups' on the popup too, which the opener's hint recommends.
  for (const popupCoop of ['same-origin', 'same-origin-allow-popups']) {
    it(`${popupCoop} on the popup fails fast on both sides with an error that says to serve the popup without the header`, async () => {
      const { page, popup } = await openPopupFrom(undefined, popupCoop)
      // Whether the popup is severed yet when connect() runs (a throw) or later (ready rejects).
      const opener = await page.evaluate(async (allow) => {
        const { portcullis, contracts } = globalThis as any
        const started = performance.now()
        try {
          await portcullis.connect({
            target: (globalThis as any).popup,
            allowedOrigins: [allow],
            remote: contracts.peerApi,
          }).ready
          return { message: 'connected', ms: performance.now() - started }
        } catch (e: any) {
          return { message: String(e.message), ms: performance.now() - started }
        }
      }, B)
      expect(opener.message).toContain('Cross-Origin-Opener-Policy')
      expect(opener.message).toContain('and the popup without the header')
      expect(opener.ms).toBeLessThan(2000)
      await popup.waitFor(() => (globalThis as any).t?.error !== undefined)
      const popupError = await popup.evaluate(() => (globalThis as any).t.error)
      expect(popupError).toContain('Cross-Origin-Opener-Policy')
      expect(popupError).toContain('and the popup without the header')
      await page.close()
    })
  }

  it('same-origin-allow-popups on the opener connects', async () => {
    const { page } = await openPopupFrom('same-origin-allow-popups')
    await connectTo(page, 'peer', 'globalThis.popup', { allow: [B] })
    expect(await call(page, 'peer', 'add', [2, 2])).toEqual({ ok: true, value: 4 })
    await page.close()
  })
})
