import { mkdir } from 'node:fs/promises'
import type { Browser, Frame, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DemoServer, startDemo } from '../../demo/server.mjs'
import { launchChromium } from './harness/browser.js'

// The demo starts its own servers (free ports) from the built package (dist/);
// `npm test` builds before running vitest.
let demo: DemoServer
let browser: Browser

beforeAll(async () => {
  ;[demo, browser] = await Promise.all([startDemo({ ports: [0, 0, 0] }), launchChromium()])
})
afterAll(async () => {
  await browser?.close()
  await demo?.close()
})

const origin = (url: string) => new URL(url).origin
/** Waits for what the page should come to show (vitest's default of 1 s is short on a busy machine). */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 })

function frame(page: Page, name: string): Frame {
  const found = page.frame({ name })
  if (!found) throw new Error(`frame ${name} not found`)
  return found
}

describe('npm run demo', () => {
  it('walks through the shop story in Chromium', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(10_000)
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    const widgetPage = page.waitForResponse((response) => response.url() === demo.urls.widget)
    await page.goto(demo.urls.host)

    // Only the shop may frame the widget.
    expect((await widgetPage).headers()['content-security-policy']).toContain(
      `frame-ancestors ${origin(demo.urls.host)}`,
    )

    const text = (selector: string, from: Page | Frame = page) => from.locator(selector).textContent()
    const result = (label: string) => page.locator('#results li').filter({ hasText: label }).first()

    // The handshake completes; the widget loads the cart with a widget → shop call.
    await poll(() => text('#state')).toBe('open')
    const widget = frame(page, 'widget')
    await widget.locator('#cart li[data-sku="mug"]').waitFor()
    expect(await text('#status', widget)).toBe(`connected to ${origin(demo.urls.host)}`)

    // The attacker frame tries again now that both sides are listening.
    const attacker = frame(page, 'attacker')
    await attacker.locator('#attack').click()

    // A typed call, shop → widget.
    await page.locator('#get-profile').click()
    await poll(() => result('getProfile()').textContent()).toContain('Ada Lovelace <ada@example.com>')

    await page.locator('#toggle-theme').click()
    await poll(() => result("setTheme('dark')").textContent()).toContain('widget theme is now dark')
    expect(await widget.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')

    // A typed event each way: cartChanged re-renders the widget, which reports
    // its new height with `resized`; the shop sizes the iframe to it.
    await page
      .locator('#widget-height')
      .filter({ hasText: /^\d+px$/ })
      .waitFor()
    const iframeHeight = () => page.locator('#widget').evaluate((el) => el.clientHeight)
    const widgetHeight = () => widget.evaluate(() => Math.ceil(document.body.getBoundingClientRect().height))
    await poll(async () => (await iframeHeight()) === (await widgetHeight())).toBe(true)
    const before = await iframeHeight()
    await page.locator('button[data-sku="tee"]').click()
    await page.locator('button[data-sku="key"]').click()
    await widget.locator('#cart li[data-sku="key"]').waitFor()
    await poll(iframeHeight).toBeGreaterThan(before)
    await poll(async () => (await iframeHeight()) === (await widgetHeight())).toBe(true)
    expect(await text('#widget-height')).toBe(`${await widgetHeight()}px`)

    // A typed call, widget → shop.
    await widget.locator('#pay').click()
    await poll(() => text('#outcome', widget)).toMatch(/^Paid €45\.50: order PC-\d{4}$/)
    await poll(() => text('#orders')).toMatch(/Order PC-\d{4}: €45\.50, card ending 4242/)
    await widget.locator('#cart li', { hasText: 'Your cart is empty' }).waitFor()

    // A bad value: the widget's schema refuses it, the shop shows the issues.
    await page.locator('#bad-theme').click()
    const invalid = result("setTheme('neon')")
    await invalid.locator('.issues li').waitFor()
    expect(await invalid.getAttribute('class')).toBe('error')
    const invalidText = await invalid.textContent()
    expect(invalidText).toContain('ValidationError (VALIDATION, arguments checked by the widget)')
    expect(invalidText).toContain('invalid arguments for "setTheme"')
    expect(await invalid.locator('.issues li').first().textContent()).toBe(
      '[0] Invalid option: expected one of "light"|"dark"',
    )

    // A slow method with a short timeout: TimeoutError, and the widget's handler is told to stop.
    await page.locator('#quote-timeout').click()
    await poll(() => result('timeout 300 ms').textContent()).toContain(
      'TimeoutError (TIMEOUT): call to "quoteShipping" timed out after 300 ms',
    )
    await widget.locator('#activity li', { hasText: 'cancelled by the shop' }).waitFor()

    // Reload: the in-flight call rejects, the state goes reconnecting, then open again.
    await page.locator('#reload').click()
    const states = () => page.locator('#state-history li').evaluateAll((items) => items.map((li) => li.textContent))
    await poll(states).toEqual(['open (handshake)', 'reconnecting (peer-unloaded)', 'open (peer-reloaded)'])
    await poll(() => result('in flight during reload').textContent()).toContain('DisconnectedError (DISCONNECTED)')
    expect(await text('#state')).toBe('open')
    const reloaded = frame(page, 'widget')
    await reloaded.locator('#cart li', { hasText: 'Your cart is empty' }).waitFor()
    await poll(() => reloaded.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await page.locator('button[data-sku="mug"]').click()
    await reloaded.locator('#cart li[data-sku="mug"]').waitFor()

    // The attacker's attempts were refused on both sides, and nothing answered it.
    const refused = (who: string) =>
      page.locator(`#refused tr[data-who="${who}"][data-origin="${origin(demo.urls.attacker)}"][data-reason="origin"]`)
    await refused('shop').waitFor()
    await refused('widget').waitFor()
    await attacker.locator('#attempts li', { hasText: 'connect() to the shop: TimeoutError' }).first().waitFor()
    await attacker.locator('#attempts li', { hasText: 'connect() to the widget: TimeoutError' }).first().waitFor()
    expect(await text('#replies', attacker)).toBe('0')

    // Legacy transports: the switch sends the same calls, same contract, over window.name
    // (a hidden iframe on the widget's responder page, replies through a blank relay page).
    await page.locator('#fallback-switch').check()
    await poll(() => text('#transport')).toBe('window.name')
    const overWindowName = (label: string) =>
      page.locator('#results li[data-transport="window.name"]').filter({ hasText: label }).first()
    await page.locator('#get-profile').click()
    const legacyProfile = overWindowName('getProfile()')
    await poll(() => legacyProfile.getAttribute('class')).toBe('ok')
    expect(await legacyProfile.textContent()).toContain('Ada Lovelace <ada@example.com>, member since 1843')
    expect(await legacyProfile.textContent()).toContain('via window.name')

    // setTheme over window.name runs in the responder page, which tells the visible widget.
    await page.locator('#toggle-theme').click()
    await poll(() => overWindowName("setTheme('light')").textContent()).toContain('widget theme is now light')
    await poll(() => reloaded.evaluate(() => document.documentElement.dataset.theme)).toBe('light')

    // The responder validates too: the same ValidationError, checked by the widget's page.
    await page.locator('#bad-theme').click()
    const legacyInvalid = overWindowName("setTheme('neon')")
    await legacyInvalid.locator('.issues li').waitFor()
    expect(await legacyInvalid.getAttribute('class')).toBe('error')
    const legacyInvalidText = await legacyInvalid.textContent()
    expect(legacyInvalidText).toContain('ValidationError (VALIDATION, arguments checked by the widget)')
    expect(legacyInvalidText).toContain('invalid arguments for "setTheme"')
    expect(legacyInvalidText).toContain('via window.name')
    expect(await legacyInvalid.locator('.issues li').first().textContent()).toBe(
      '[0] Invalid option: expected one of "light"|"dark"',
    )

    // JSONP: a call to the demo server's endpoint on the widget's site, validated against shippingApi.
    expect((await text('.warn-note'))?.replace(/\s+/g, ' ')).toContain(
      'readable by any origin that can include the script',
    )
    await page.locator('#jsonp-rates').click()
    const rates = page.locator('#results li[data-transport="JSONP"]').filter({ hasText: "rates('FR')" }).first()
    await poll(() => rates.getAttribute('class')).toBe('ok')
    expect(await rates.textContent()).toBe(
      "rates('FR') via JSONP → La Poste Colissimo €6.90, 2 d · DHL Express €14.50, 1 d",
    )

    // Nothing left behind: no hidden frame, no JSONP script or callback; postMessage still open.
    expect(await page.locator('iframe[data-portcullis]').count()).toBe(0)
    expect(await page.locator('script[data-portcullis]').count()).toBe(0)
    expect(await page.evaluate(() => Object.keys(window).filter((k) => k.startsWith('__portcullisJsonp_')))).toEqual([])
    expect(await text('#state')).toBe('open')

    // The message log shows the envelopes of the story.
    const logged = (direction: string, kind: string, method = '') =>
      page.locator(
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
      expect(await logged(direction, kind, method).count(), `${direction} ${kind} ${method}`).toBeGreaterThan(0)
    }

    await mkdir('test-results', { recursive: true })
    // A full-page capture leaves out-of-process iframes blank in headless Chromium; grow the viewport instead.
    const height = await page.evaluate(() => document.documentElement.scrollHeight)
    await page.setViewportSize({ width: 1280, height: Math.min(height, 4000) })
    await page.screenshot({ path: 'test-results/demo.png' })
    expect(problems).toEqual([])
  })
})
