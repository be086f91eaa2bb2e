/**
 * One small driver interface over three browser engines, so a browser test is
 * written once and runs in each: Chromium (playwright-core), Firefox ESR
 * (puppeteer-core over WebDriver BiDi) and WebKitGTK (classic W3C WebDriver).
 * The engine comes from `ENGINE` (`chromium` unless set); the vitest projects
 * `chromium`, `firefox` and `webkit` set it. See test/browser/ENGINES.md.
 */
export { origins, pageUrl } from './browser.js'

export type Engine = 'chromium' | 'firefox' | 'webkit'

export const ENGINES: readonly Engine[] = ['chromium', 'firefox', 'webkit']

/** The engine this test process drives. */
export const ENGINE: Engine = (() => {
  const engine = (process.env.ENGINE ?? 'chromium') as Engine
  if (!ENGINES.includes(engine)) throw new Error(`ENGINE must be one of ${ENGINES.join(', ')}, not ${engine}`)
  return engine
})()

/**
 * A page or one of its frames: somewhere to run code. Functions run in the
 * page, so they may use only their argument (JSON-serialisable) and the
 * page's globals, and should return JSON-like data (plain objects, arrays,
 * strings, numbers, booleans, null; `undefined` for a missing value).
 */
export interface Context {
  /** Runs `fn(arg)` in this context and resolves with its (awaited) result; rejects if it throws. */
  evaluate<R>(fn: () => R): Promise<Awaited<R>>
  evaluate<R, A>(fn: (arg: A) => R, arg: A): Promise<Awaited<R>>
  /** Resolves once `fn(arg)` returns a truthy value in this context; rejects after `timeout` ms (default WAIT_MS). */
  waitFor(fn: () => unknown, arg?: undefined, timeout?: number): Promise<void>
  waitFor<A>(fn: (arg: A) => unknown, arg: A, timeout?: number): Promise<void>
  /** A real (trusted) click on the first element matching `selector` in this context: a user gesture. */
  click(selector: string): Promise<void>
}

/** A top-level window: a page opened by the test, or a popup it opened. */
export interface PageHandle extends Context {
  /**
   * The child frame of this page whose iframe has `name` (cross-origin or
   * not); with `nested` names, the frame named by the last one, each a child
   * of the one before (`frame('outer', 'inner')`). Looked up at each call, so
   * it follows the frame through reloads and navigations.
   */
  frame(name: string, ...nested: string[]): Context
  /**
   * The child frame of the first iframe element of this page that matches
   * the CSS `selector` (for frames without a name, e.g. ones a library made).
   * Looked up at each call, like frame().
   */
  frameAt(selector: string): Context
  /**
   * Starts recording the console output and uncaught errors of this page and
   * all its frames (cross-origin ones included) as `type: text` lines, into
   * the array it returns. `null` where the engine cannot: classic WebDriver
   * (WebKit) has no events, so a test must skip that assertion there.
   */
  recordConsole(): string[] | null
  /**
   * Saves a PNG of this window to `path`: the whole page where the engine
   * can (Chromium grows its viewport to the page, up to 4000 px; Firefox
   * captures the full page), the visible viewport in WebKit.
   */
  screenshot(path: string): Promise<void>
  /** Runs `action` (e.g. a click) and resolves with the window it opened. */
  popup(action: () => Promise<unknown>): Promise<PageHandle>
  /** Closes this window; a no-op if it is already gone. */
  close(): Promise<void>
}

/** One browser (one session) per test file. */
export interface Driver {
  readonly engine: Engine
  /** Opens a new top-level window at `url` and resolves once it has loaded. */
  open(url: string): Promise<PageHandle>
  /** Closes every window and ends the browser. */
  close(): Promise<void>
}

/**
 * How long waitFor() waits by default: long enough for a page to load on a loaded
 * 2-core CI machine (openPage() missed 5 s there), short of the 30 s test timeout.
 */
export const WAIT_MS = 20_000

/** Starts the browser of `engine` (by default the one `ENGINE` names). */
export async function launch(engine: Engine = ENGINE): Promise<Driver> {
  switch (engine) {
    case 'chromium':
      return (await import('./driver-chromium.js')).launchChromiumDriver()
    case 'firefox':
      return (await import('./driver-firefox.js')).launchFirefoxDriver()
    case 'webkit':
      return (await import('./driver-webkit.js')).launchWebKitDriver()
  }
}

/** Opens a page at `url` and waits for the library bundle. */
export async function openPage(driver: Driver, url: string): Promise<PageHandle> {
  const page = await driver.open(url)
  await page.waitFor(() => (globalThis as any).portcullis !== undefined)
  return page
}

/**
 * Inserts an iframe at `src` into `page` and resolves with its frame once
 * loaded. `name` (also its id) lets a test find the frame later.
 */
export async function addIframe(
  page: PageHandle,
  src: string,
  name = 'child',
  attrs: Record<string, string> = {},
): Promise<Context> {
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
  return page.frame(name)
}
