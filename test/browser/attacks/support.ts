/**
 * Shared helpers of the attack suite. Every actor runs the `attacks` bundle
 * (test/browser/pages/attacks.ts); see there for what each scenario does.
 */
import type { Browser, ConsoleMessage, Frame, Page } from 'playwright-core'
import { addIframe, openPage, pageUrl } from '../harness/browser.js'

/** A page of the attacks bundle at `origin`, running `scenario` with `params`. */
export function attackUrl(origin: string, scenario?: string, params: Record<string, string> = {}): string {
  return pageUrl(origin, scenario, { b: 'attacks', ...params })
}

/** A fresh top-level page of `origin` with the attack helpers loaded; its console is recorded. */
export async function openAttackPage(
  browser: Browser,
  origin: string,
  scenario?: string,
  params: Record<string, string> = {},
): Promise<{ page: Page; console: string[] }> {
  const page = await openPage(browser, attackUrl(origin, scenario, params))
  const console = recordConsole(page)
  await page.waitForFunction(() => (globalThis as any).attack !== undefined)
  return { page, console }
}

/**
 * Records console output and uncaught errors of the page and all its frames
 * (cross-origin ones included), as `type: text`.
 */
export function recordConsole(page: Page): string[] {
  const lines: string[] = []
  page.on('console', (m: ConsoleMessage) => lines.push(`${m.type()}: ${m.text()} (${m.location().url})`))
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`))
  return lines
}

/** Inserts an iframe running the attack scenario; resolves once loaded and the bundle is there. */
export async function addAttackFrame(
  page: Page,
  origin: string,
  scenario: string | undefined,
  params: Record<string, string>,
  name: string,
  attrs: Record<string, string> = {},
): Promise<Frame> {
  const frame = await addIframe(page, attackUrl(origin, scenario, params), name, attrs)
  await frame.waitForFunction(() => (globalThis as any).attack !== undefined)
  return frame
}

/**
 * A document that runs the attacks bundle without a URL of its own (srcdoc,
 * data:, blob:, about:blank): the scenario and its params are inlined, the
 * scripts are loaded from `origin`.
 */
export function inlineDocument(origin: string, scenario: string, params: Record<string, string> = {}): string {
  const config = JSON.stringify({ s: scenario, params }).replace(/</g, '\\u003c')
  return `<!doctype html><html><body><script>window.__attack = ${config}</script><script src="${origin}/lib.js"></script><script src="${origin}/attacks.js"></script></body></html>`
}

/** Resolves when `predicate(t)` holds in `frame`, `t` being the page's record. */
export async function waitFor(frame: Frame | Page, predicate: string, timeout = 10_000): Promise<void> {
  await frame.waitForFunction(`(() => { const t = globalThis.t; return ${predicate} })()`, undefined, { timeout })
}

/** Reads `expression` (over the page's record `t`) from `frame`. */
export function read<T = any>(frame: Frame | Page, expression: string): Promise<T> {
  return frame.evaluate(`(() => { const t = globalThis.t; return ${expression} })()`) as Promise<T>
}

/** Runs `expression` in `frame` with `attack` (the helpers) and `t` in scope; returns its (awaited) value. */
export function run<T = any>(frame: Frame | Page, expression: string): Promise<T> {
  return frame.evaluate(
    `(async () => { const t = globalThis.t; const attack = globalThis.attack; return ${expression} })()`,
  ) as Promise<T>
}

/** Number of rejections the frame's connection reported for messages from `origin`. */
export function rejectionsFrom(frame: Frame | Page, origin: string, reason?: string): Promise<number> {
  return read<number>(
    frame,
    `t.rejections.filter((r) => r.origin === ${JSON.stringify(origin)}${reason ? ` && r.reason === ${JSON.stringify(reason)}` : ''}).length`,
  )
}

/** Waits until the frame reported at least `n` rejections for `origin` (and `reason`). */
export function waitRejections(frame: Frame | Page, origin: string, n: number, reason?: string): Promise<void> {
  return waitFor(
    frame,
    `t.rejections.filter((r) => r.origin === ${JSON.stringify(origin)}${reason ? ` && r.reason === ${JSON.stringify(reason)}` : ''}).length >= ${n}`,
  )
}

/** The frame named `name` of `page` (the same Frame object survives navigations). */
export function frameNamed(page: Page, name: string): Frame {
  const frame = page.frame({ name })
  if (!frame) throw new Error(`frame ${name} not found`)
  return frame
}

/** Polls for the frame named `name` (it may be nested, or not attached yet), then waits for its bundle. */
export async function waitForFrame(page: Page, name: string): Promise<Frame> {
  let frame = page.frame({ name })
  for (let i = 0; frame === null && i < 500; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    frame = page.frame({ name })
  }
  if (frame === null) throw new Error(`frame ${name} never appeared`)
  await frame.waitForFunction(() => (globalThis as any).attack !== undefined && (globalThis as any).t !== undefined)
  return frame
}

/**
 * Console lines other than the browser's own: its note (in the recipient's
 * devtools console, unreadable by any page) about a postMessage whose
 * targetOrigin did not match, and the 404 of the favicon it asks for.
 */
export function unexpectedConsole(lines: string[]): string[] {
  return lines.filter(
    (line) =>
      !/Failed to execute 'postMessage' on 'DOMWindow': The target origin provided/.test(line) &&
      !/^error: Failed to load resource: .* 404 .*\/favicon\.ico\)$/.test(line),
  )
}
