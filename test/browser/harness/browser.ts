import { type Browser, chromium } from 'playwright-core'
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
  // Playwright turns the back/forward cache off; a test of it serves its pages with `?bfcache=1` (see server.ts).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  })
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
