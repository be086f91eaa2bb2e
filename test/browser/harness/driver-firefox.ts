import puppeteer, { type Frame, type Page } from 'puppeteer-core'
import type { Context, Driver, PageHandle } from './driver.js'

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
      return wrapPage(page)
    },
    close: () => browser.close(),
  }
}

function context(get: () => Promise<Frame>): Context {
  return {
    evaluate: async (fn: (arg: any) => unknown, arg?: unknown) => (await get()).evaluate(fn, arg) as Promise<any>,
    waitFor: async (fn: (arg: any) => unknown, arg?: unknown, timeout = 5000) => {
      await (await get()).waitForFunction(fn, { timeout, polling: 16 }, arg)
    },
  }
}

/** The child frame of `page` whose iframe element is named `name` (BiDi leaves Frame.name() empty). */
async function childFrame(page: Page, name: string): Promise<Frame> {
  for (const frame of page.mainFrame().childFrames()) {
    const element = await frame.frameElement()
    const found = await element?.evaluate((e) => e.getAttribute('name'))
    await element?.dispose()
    if (found === name) return frame
  }
  throw new Error(`no frame named ${name}`)
}

function wrapPage(page: Page): PageHandle {
  return {
    ...context(async () => page.mainFrame()),
    frame: (name) => context(() => childFrame(page, name)),
    click: (selector) => page.click(selector),
    async popup(action) {
      const opened = new Promise<Page | null>((resolve) => page.once('popup', resolve))
      const [popup] = await Promise.all([opened, action()])
      if (!popup) throw new Error('the popup closed before it could be reached')
      return wrapPage(popup)
    },
    async close() {
      if (!page.isClosed()) await page.close()
    },
  }
}
