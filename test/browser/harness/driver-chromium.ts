import type { Frame, Page } from 'playwright-core'
import { launchChromium } from './browser.js'
import { type Context, type Driver, type PageHandle, WAIT_MS } from './driver.js'

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

function context(get: () => Frame | Page | Promise<Frame>): Context {
  return {
    evaluate: async (fn: (arg: any) => unknown, arg?: unknown) => (await get()).evaluate(fn, arg) as Promise<any>,
    waitFor: async (fn: (arg: any) => unknown, arg?: unknown, timeout = WAIT_MS) => {
      await (await get()).waitForFunction(fn, arg, { timeout })
    },
    click: async (selector) => (await get()).click(selector),
  }
}

function wrapPage(page: Page): PageHandle {
  return {
    ...context(() => page),
    frame(...names) {
      const find = (): Frame | undefined => {
        let frame: Frame | undefined = page.mainFrame()
        for (const name of names) frame = frame?.childFrames().find((f) => f.name() === name)
        return frame
      }
      return context(async () => {
        // Right after a cross-site navigation the frame is swapped into another
        // process, and for a moment the page lists no frame by that name.
        const deadline = Date.now() + WAIT_MS
        for (let frame = find(); ; frame = find()) {
          if (frame) return frame
          if (Date.now() > deadline) throw new Error(`no frame named ${names.join(' > ')}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })
    },
    frameAt(selector) {
      return context(async () => {
        // As for frame(): while its document is swapped the element may have no frame.
        const deadline = Date.now() + WAIT_MS
        for (;;) {
          const element = await page.$(selector)
          const frame = await element?.contentFrame()
          await element?.dispose()
          if (frame) return frame
          if (Date.now() > deadline) throw new Error(`no frame at ${selector}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })
    },
    recordConsole() {
      const lines: string[] = []
      page.on('console', (m) => lines.push(`${m.type()}: ${m.text()} (${m.location().url})`))
      page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`))
      return lines
    },
    async screenshot(path) {
      // A full-page capture leaves out-of-process iframes blank in headless Chromium; grow the viewport instead.
      const height = await page.evaluate(() => document.documentElement.scrollHeight)
      await page.setViewportSize({ width: page.viewportSize()?.width ?? 1280, height: Math.min(height, 4000) })
      await page.screenshot({ path })
    },
    async popup(action) {
      const [popup] = await Promise.all([page.waitForEvent('popup'), action()])
      return wrapPage(popup)
    },
    close: () => page.close(),
  }
}
