import { type Browser, chromium, type Frame, type Page } from 'playwright-core'
import { inject } from 'vitest'

/** The flags this machine needs; see DEVELOPERS.md. */
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // `localhost` must reach the servers, which listen on 127.0.0.1 only; it stays a different site.
  '--host-resolver-rules=MAP localhost 127.0.0.1',
]

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** One Chromium per test file; pages from it run in parallel. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
}

/**
 * The origins the servers provide. `A` is the host page's origin; `B` is on
 * another site (`localhost`), `sameSiteB` on the same site as A (another
 * port of 127.0.0.1); `C` and `D` are third origins for attackers and extras.
 */
export function origins() {
  const [p0, p1, p2, p3] = inject('ports') as [number, number, number, number]
  return {
    A: `http://127.0.0.1:${p0}`,
    B: `http://localhost:${p1}`,
    sameSiteB: `http://127.0.0.1:${p1}`,
    C: `http://127.0.0.1:${p2}`,
    D: `http://localhost:${p3}`,
  }
}

/**
 * A URL of the generic test page, running `scenario` with `params` when given.
 * Pass `b: '<file>'` in params to take the scenario from pages/<file>.ts.
 */
export function pageUrl(origin: string, scenario?: string, params: Record<string, string> = {}): string {
  const search = new URLSearchParams(params)
  if (scenario) search.set('s', scenario)
  const query = search.toString()
  return `${origin}/page${query ? `?${query}` : ''}`
}

/** Opens a page at `url` and waits for the library bundle. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as any).portcullis !== undefined)
  return page
}

/**
 * Inserts an iframe at `src` into `page` and resolves with its Frame once
 * loaded. `name` lets a test find the frame later.
 */
export async function addIframe(
  page: Page,
  src: string,
  name = 'child',
  attrs: Record<string, string> = {},
): Promise<Frame> {
  await page.evaluate(
    ({ src, name, attrs }) =>
      new Promise<void>((resolve) => {
        const iframe = document.createElement('iframe')
        iframe.name = name
        iframe.id = name
        for (const [k, v] of Object.entries(attrs)) iframe.setAttribute(k, v)
        iframe.src = src
        iframe.addEventListener('load', () => resolve(), { once: true })
        document.body.append(iframe)
      }),
    { src, name, attrs },
  )
  const frame = page.frame({ name })
  if (!frame) throw new Error(`frame ${name} not found`)
  return frame
}

/** Waits until `expression` is truthy inside `frame` (an event the test expects, not a fixed sleep). */
export async function waitInFrame(frame: Frame | Page, fn: () => unknown, timeout = 5000): Promise<void> {
  await frame.waitForFunction(fn, undefined, { timeout })
}
