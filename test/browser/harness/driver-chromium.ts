import type { Frame, Page } from 'playwright-core'
import { launchChromium } from './browser.js'
import type { Context, Driver, PageHandle } from './driver.js'

/** Chromium: Debian's /usr/bin/chromium through playwright-core, with the flags of harness/browser.ts. */
export async function launchChromiumDriver(): Promise<Driver> {
  const browser = await launchChromium()
  return {
    engine: 'chromium',
    async open(url) {
      const page = await browser.newPage()
      await page.goto(url)
      return wrapPage(page)
    },
    close: () => browser.close(),
  }
}

function context(get: () => Frame | Page): Context {
  return {
    evaluate: async (fn: (arg: any) => unknown, arg?: unknown) => get().evaluate(fn, arg) as Promise<any>,
    waitFor: async (fn: (arg: any) => unknown, arg?: unknown, timeout = 5000) => {
      await get().waitForFunction(fn, arg, { timeout })
    },
  }
}

function wrapPage(page: Page): PageHandle {
  return {
    ...context(() => page),
    frame(name) {
      return context(() => {
        const frame = page
          .mainFrame()
          .childFrames()
          .find((f) => f.name() === name)
        if (!frame) throw new Error(`no frame named ${name}`)
        return frame
      })
    },
    click: (selector) => page.click(selector),
    async popup(action) {
      const [popup] = await Promise.all([page.waitForEvent('popup'), action()])
      return wrapPage(popup)
    },
    close: () => page.close(),
  }
}
