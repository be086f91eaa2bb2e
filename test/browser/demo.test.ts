import { mkdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DemoServer, startDemo } from '../../demo/server.mjs'
import { type Context, type Driver, ENGINE, launch } from './harness/driver.js'

// The demo starts its own servers (free ports) from the built package (dist/);
// `npm test` builds before running vitest.
let demo: DemoServer
let driver: Driver

beforeAll(async () => {
  ;[demo, driver] = await Promise.all([startDemo({ ports: [0, 0, 0] }), launch()])
})
afterAll(async () => {
  await driver?.close()
  await demo?.close()
})

const origin = (url: string) => new URL(url).origin
/** Waits for what the page should come to show (vitest's default of 1 s is short on a busy machine). */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 })

/** The textContent of the first element matching `selector` in `from` (null if there is none). */
const text = (from: Context, selector: string) =>
  from.evaluate((selector) => document.querySelector(selector)?.textContent ?? null, selector)

/**
 * Waits until an element matching `selector` (and containing `hasText`, if
 * given) is in `from` and rendered (has a box), as a Playwright locator's
 * waitFor() does.
 */
const shown = (from: Context, selector: string, hasText = '') =>
  from.waitFor(
    ({ selector, hasText }) =>
      [...document.querySelectorAll(selector)].some(
        (el) => (el.textContent ?? '').includes(hasText) && el.getClientRects().length > 0,
      ),
    { selector, hasText },
    10_000,
  )

describe('npm run demo', () => {
  it(`walks through the shop story in ${ENGINE}`, async () => {
    // Only the shop may frame the widget (checked from Node: the drivers do not all see response headers).
    expect((await fetch(demo.urls.widget)).headers.get('content-security-policy')).toContain(
      `frame-ancestors ${origin(demo.urls.host)}`,
    )
    const shopHeaders = (await fetch(demo.urls.host)).headers
    expect(shopHeaders.get('cross-origin-opener-policy')).toBe('same-origin')
    for (const url of Object.values(demo.urls)) {
      expect((await fetch(url)).headers.get('referrer-policy'), url).toBe('no-referrer')
    }

    // Record from a blank page, then navigate, so that errors while the demo loads are seen too.
    // WebKit records no console (classic WebDriver), and its driver lost the window in 3 runs of 5
    // when it navigated from about:blank to the shop, whose COOP: same-origin switches browsing
    // context group: there the shop opens directly.
    const direct = ENGINE === 'webkit'
    const page = await driver.open(direct ? demo.urls.host : 'about:blank')
    const lines = page.recordConsole()
    if (!direct)
      await page.evaluate((url) => {
        setTimeout(() => location.assign(url))
      }, demo.urls.host)
    await page.waitFor((url) => location.href === url && document.readyState === 'complete', demo.urls.host, 10_000)

    /** The first result line (in `#results`, over `transport` if given) that mentions `label`. */
    const result = (label: string, transport?: string) =>
      page.evaluate(
        ({ label, transport }) => {
          const selector = transport ? `#results li[data-transport="${transport}"]` : '#results li'
          const li = [...document.querySelectorAll(selector)].find((el) => (el.textContent ?? '').includes(label))
          return li
            ? {
                className: li.getAttribute('class'),
                text: li.textContent,
                issue: li.querySelector('.issues li')?.textContent ?? null,
              }
            : null
        },
        { label, transport },
      )
    const resultText = async (label: string, transport?: string) => (await result(label, transport))?.text ?? ''
    /** Waits until that result line shows its list of issues. */
    const issuesShown = (label: string, transport?: string) =>
      page.waitFor(
        ({ label, transport }) => {
          const selector = transport ? `#results li[data-transport="${transport}"]` : '#results li'
          const li = [...document.querySelectorAll(selector)].find((el) => (el.textContent ?? '').includes(label))
          return (li?.querySelector('.issues li')?.getClientRects().length ?? 0) > 0
        },
        { label, transport },
        10_000,
      )

    // The handshake completes; the widget loads the cart with a widget → shop call.
    await poll(() => text(page, '#state')).toBe('open')
    const widget = page.frame('widget')
    await shown(widget, '#cart li[data-sku="mug"]')
    expect(await text(widget, '#status')).toBe(`connected to ${origin(demo.urls.host)}`)

    // The attacker frame tries again now that both sides are listening.
    const attacker = page.frame('attacker')
    await attacker.click('#attack')

    // A typed call, shop → widget.
    await page.click('#get-profile')
    await poll(() => resultText('getProfile()')).toContain('Ada Lovelace <ada@example.com>')

    await page.click('#toggle-theme')
    await poll(() => resultText("setTheme('dark')")).toContain('widget theme is now dark')
    expect(await widget.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')

    // A typed event each way: cartChanged re-renders the widget, which reports
    // its new height with `resized`; the shop sizes the iframe to it.
    await page.waitFor(
      () => /^\d+px$/.test(document.querySelector('#widget-height')?.textContent ?? ''),
      undefined,
      10_000,
    )
    const iframeHeight = () =>
      page.evaluate(() => (document.getElementById('widget') as HTMLIFrameElement).clientHeight)
    const widgetHeight = () => widget.evaluate(() => Math.ceil(document.body.getBoundingClientRect().height))
    await poll(async () => (await iframeHeight()) === (await widgetHeight())).toBe(true)
    const before = await iframeHeight()
    await page.click('button[data-sku="tee"]')
    await page.click('button[data-sku="key"]')
    await shown(widget, '#cart li[data-sku="key"]')
    await poll(iframeHeight).toBeGreaterThan(before)
    await poll(async () => (await iframeHeight()) === (await widgetHeight())).toBe(true)
    expect(await text(page, '#widget-height')).toBe(`${await widgetHeight()}px`)

    // A typed call, widget → shop.
    await widget.click('#pay')
    await poll(() => text(widget, '#outcome')).toMatch(/^Paid €45\.50: order PC-\d{4}$/)
    await poll(() => text(page, '#orders')).toMatch(/Order PC-\d{4}: €45\.50, card ending 4242/)
    await shown(widget, '#cart li', 'Your cart is empty')

    // A bad value: the widget's schema refuses it, the shop shows the issues.
    await page.click('#bad-theme')
    await issuesShown("setTheme('neon')")
    const invalid = await result("setTheme('neon')")
    expect(invalid?.className).toBe('error')
    expect(invalid?.text).toContain('ValidationError (VALIDATION, arguments checked by the widget)')
    expect(invalid?.text).toContain('invalid arguments for "setTheme"')
    expect(invalid?.issue).toBe('[0] Invalid option: expected one of "light"|"dark"')

    // A slow method with a short timeout: TimeoutError, and the widget's handler is told to stop.
    await page.click('#quote-timeout')
    await poll(() => resultText('timeout 300 ms')).toContain(
      'TimeoutError (TIMEOUT): call to "quoteShipping" timed out after 300 ms',
    )
    await shown(widget, '#activity li', 'cancelled by the shop')

    // Reload: the in-flight call rejects, the state goes reconnecting, then open again.
    await page.click('#reload')
    const states = () =>
      page.evaluate(() => [...document.querySelectorAll('#state-history li')].map((li) => li.textContent))
    await poll(states).toEqual(['open (handshake)', 'reconnecting (peer-unloaded)', 'open (peer-reloaded)'])
    await poll(() => resultText('in flight during reload')).toContain('DisconnectedError (DISCONNECTED)')
    expect(await text(page, '#state')).toBe('open')
    // page.frame() looks the frame up at each call, so `widget` is the reloaded one from here on.
    const reloaded = page.frame('widget')
    await shown(reloaded, '#cart li', 'Your cart is empty')
    await poll(() => reloaded.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await page.click('button[data-sku="mug"]')
    await shown(reloaded, '#cart li[data-sku="mug"]')

    // The attacker's attempts were refused on both sides, and nothing answered it.
    const refused = (who: string) =>
      shown(page, `#refused tr[data-who="${who}"][data-origin="${origin(demo.urls.attacker)}"][data-reason="origin"]`)
    await refused('shop')
    await refused('widget')
    await shown(attacker, '#attempts li', 'connect() to the shop: TimeoutError')
    await shown(attacker, '#attempts li', 'connect() to the widget: TimeoutError')
    expect(await text(attacker, '#replies')).toBe('0')

    // Legacy transports: the switch sends the same calls, same contract, over window.name
    // (a hidden iframe on the widget's responder page, replies through a blank relay page).
    expect(await page.evaluate(() => (document.getElementById('fallback-switch') as HTMLInputElement).checked)).toBe(
      false,
    )
    await page.click('#fallback-switch')
    expect(await page.evaluate(() => (document.getElementById('fallback-switch') as HTMLInputElement).checked)).toBe(
      true,
    )
    await poll(() => text(page, '#transport')).toBe('window.name')
    await page.click('#get-profile')
    await poll(async () => (await result('getProfile()', 'window.name'))?.className).toBe('ok')
    const legacyProfile = await resultText('getProfile()', 'window.name')
    expect(legacyProfile).toContain('Ada Lovelace <ada@example.com>, member since 1843')
    expect(legacyProfile).toContain('via window.name')

    // setTheme over window.name runs in the responder page, which tells the visible widget.
    await page.click('#toggle-theme')
    await poll(() => resultText("setTheme('light')", 'window.name')).toContain('widget theme is now light')
    await poll(() => reloaded.evaluate(() => document.documentElement.dataset.theme)).toBe('light')

    // The responder validates too: the same ValidationError, checked by the widget's page.
    await page.click('#bad-theme')
    await issuesShown("setTheme('neon')", 'window.name')
    const legacyInvalid = await result("setTheme('neon')", 'window.name')
    expect(legacyInvalid?.className).toBe('error')
    expect(legacyInvalid?.text).toContain('ValidationError (VALIDATION, arguments checked by the widget)')
    expect(legacyInvalid?.text).toContain('invalid arguments for "setTheme"')
    expect(legacyInvalid?.text).toContain('via window.name')
    expect(legacyInvalid?.issue).toBe('[0] Invalid option: expected one of "light"|"dark"')

    // JSONP: a call to the demo server's endpoint on the widget's site, validated against shippingApi.
    expect((await text(page, '.warn-note'))?.replace(/\s+/g, ' ')).toContain(
      'readable by any origin that can include the script',
    )
    await page.click('#jsonp-rates')
    await poll(async () => (await result("rates('FR')", 'JSONP'))?.className).toBe('ok')
    expect(await resultText("rates('FR')", 'JSONP')).toBe(
      "rates('FR') via JSONP → La Poste Colissimo €6.90, 2 d · DHL Express €14.50, 1 d",
    )

    // Nothing left behind: no hidden frame, no JSONP script or callback; postMessage still open.
    expect(await page.evaluate(() => document.querySelectorAll('iframe[data-portcullis]').length)).toBe(0)
    expect(await page.evaluate(() => document.querySelectorAll('script[data-portcullis]').length)).toBe(0)
    expect(await page.evaluate(() => Object.keys(window).filter((k) => k.startsWith('__portcullisJsonp_')))).toEqual([])
    expect(await text(page, '#state')).toBe('open')

    // The message log shows the envelopes of the story.
    const logged = (direction: string, kind: string, method = '') =>
      page.evaluate(
        (selector) => document.querySelectorAll(selector).length,
        `#log tr[data-direction="${direction}"][data-kind="${kind}"]${method && `[data-method="${method}"]`}`,
      )
    for (const [direction, kind, method] of [
      ['send', 'syn', ''],
      ['send', 'call', 'getProfile'],
      ['receive', 'result', ''],
      ['receive', 'call', 'checkout'],
      ['send', 'event', 'cartChanged'],
      ['receive', 'event', 'resized'],
      ['receive', 'error', ''],
      ['send', 'abort', ''],
    ] as const) {
      expect(await logged(direction, kind, method), `${direction} ${kind} ${method}`).toBeGreaterThan(0)
    }

    await mkdir('test-results', { recursive: true })
    // From the top: WebKit captures only the viewport, which the clicks above scrolled down.
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot(ENGINE === 'chromium' ? 'test-results/demo.png' : `test-results/demo-${ENGINE}.png`)
    // No console error and no uncaught error in the page or its frames. Classic WebDriver (WebKit)
    // has no events, so recordConsole() is null there and this one check runs in Chromium and Firefox only.
    // (The demo sets zod's `jitless`, so its strict CSP sees no eval probe: Firefox would report one.)
    // One report is the defence itself: a SYN addressed to the widget's origin (the shop's, or the
    // attacker's) that reaches the widget frame while it still holds its initial about:blank, of
    // the shop's origin. It happens under load (seen once, in Firefox); the browser drops the
    // message and says so.
    const dropped = /target origin provided \(.*\) does not match the recipient window.s origin/
    if (lines) {
      expect(
        lines.filter((line) => (line.startsWith('error: ') || line.startsWith('pageerror: ')) && !dropped.test(line)),
      ).toEqual([])
    }
  })
})
