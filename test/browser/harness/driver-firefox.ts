import puppeteer, { type Browser, type Frame, type Page, type Target } from 'puppeteer-core'
import { type Context, type Driver, type PageHandle, WAIT_MS } from './driver.js'

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr'

/**
 * Firefox ESR: Debian's /usr/bin/firefox-esr through puppeteer-core over
 * WebDriver BiDi (playwright-core 1.65 cannot drive ESR 153). `localhost`
 * resolves to 127.0.0.1 on its own, and stays a different site.
 */
export async function launchFirefoxDriver(): Promise<Driver> {
  const browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true })
  return {
    engine: 'firefox',
    async open(url) {
      // A window, not a tab: a tab behind another one is a hidden page (throttled timers).
      const page = await browser.newPage({ type: 'window' })
      await page.goto(url)
      return wrapPage(browser, page)
    },
    close: () => browser.close(),
  }
}

function context(get: () => Promise<Frame>): Context {
  return {
    evaluate: async (fn: (arg: any) => unknown, arg?: unknown) => (await get()).evaluate(fn, arg) as Promise<any>,
    waitFor: async (fn: (arg: any) => unknown, arg?: unknown, timeout = WAIT_MS) => {
      await (await get()).waitForFunction(fn, { timeout, polling: 16 }, arg)
    },
    click: async (selector) => (await get()).click(selector),
  }
}

/** The frame of `page` reached through iframe elements named `names` (BiDi leaves Frame.name() empty). */
async function childFrame(page: Page, names: string[]): Promise<Frame> {
  let parent = page.mainFrame()
  next: for (const name of names) {
    for (const frame of parent.childFrames()) {
      const element = await frame.frameElement()
      const found = await element?.evaluate((e) => e.getAttribute('name'))
      await element?.dispose()
      if (found === name) {
        parent = frame
        continue next
      }
    }
    throw new Error(`no frame named ${names.join(' > ')}`)
  }
  return parent
}

/**
 * `find()` until it returns a frame, for up to WAIT_MS: as in Chromium's driver,
 * a frame being navigated or swapped is missing from the tree for a moment, and
 * reading a sibling that detaches meanwhile throws.
 */
async function retried(find: () => Promise<Frame>): Promise<Frame> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    try {
      return await find()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/** popup() calls, one at a time: a new window is told apart from another test's by the order it opened in. */
let popups: Promise<unknown> = Promise.resolve()

function wrapPage(browser: Browser, page: Page): PageHandle {
  return {
    ...context(async () => page.mainFrame()),
    frame: (...names) => context(() => retried(() => childFrame(page, names))),
    frameAt: (selector) =>
      context(() =>
        retried(async () => {
          const element = await page.$(selector)
          const frame = await element?.contentFrame()
          await element?.dispose()
          if (!frame) throw new Error(`no frame at ${selector}`)
          return frame
        }),
      ),
    recordConsole() {
      const lines: string[] = []
      page.on('console', (m) => lines.push(`${m.type()}: ${m.text()} (${m.location().url})`))
      page.on('pageerror', (e) => lines.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`))
      return lines
    },
    async screenshot(path) {
      await page.screenshot({ path: path as `${string}.png`, fullPage: true })
    },
    popup(action) {
      // Page 'popup' fires only for a window the top frame opens (an opener severed by COOP included);
      // a window opened by a child frame shows up only as a new page target of the browser: one with an
      // opener is a popup, not a page some test opened with open(). Popups are serialised, so it is this one's.
      const run = async () => {
        let onPopup!: (popup: Page | null) => void
        let onTarget!: (target: Target) => void
        const opened = new Promise<Page>((resolve) => {
          onPopup = (popup) => popup && resolve(popup)
          onTarget = (target) => {
            if (target.type() !== 'page') return
            void target.page().then(async (popup) => {
              if (popup && (await popup.evaluate(() => window.opener !== null).catch(() => false))) resolve(popup)
            })
          }
          page.on('popup', onPopup)
          browser.on('targetcreated', onTarget)
        })
        try {
          const [popup] = await Promise.all([opened, action()])
          return wrapPage(browser, popup)
        } finally {
          page.off('popup', onPopup)
          browser.off('targetcreated', onTarget)
        }
      }
      const result = popups.then(run, run)
      popups = result.catch(() => {})
      return result
    },
    async close() {
      if (!page.isClosed()) await page.close()
    },
  }
}
