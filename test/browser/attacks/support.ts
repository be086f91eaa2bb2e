/**
 * Shared helpers of the attack suite. Every actor runs the `attacks` bundle
 * (test/browser/pages/attacks.ts); see there for what each scenario does.
 * Written against harness/driver.ts, so the suite runs in every engine.
 */
import { addIframe, type Context, type Driver, openPage, type PageHandle, pageUrl, WAIT_MS } from '../harness/driver.js'

/** A page of the attacks bundle at `origin`, running `scenario` with `params`. */
export function attackUrl(origin: string, scenario?: string, params: Record<string, string> = {}): string {
  return pageUrl(origin, scenario, { b: 'attacks', ...params })
}

/**
 * A fresh top-level page of `origin` with the attack helpers loaded. Its
 * console is recorded, except where the engine cannot (`console` is null:
 * WebKit, driven over classic WebDriver, which has no events).
 */
export async function openAttackPage(
  driver: Driver,
  origin: string,
  scenario?: string,
  params: Record<string, string> = {},
): Promise<{ page: PageHandle; console: string[] | null }> {
  const page = await openPage(driver, attackUrl(origin, scenario, params))
  const console = page.recordConsole()
  await page.waitFor(() => (globalThis as any).attack !== undefined)
  return { page, console }
}

/** Inserts an iframe running the attack scenario; resolves once loaded and the bundle is there. */
export async function addAttackFrame(
  page: PageHandle,
  origin: string,
  scenario: string | undefined,
  params: Record<string, string>,
  name: string,
  attrs: Record<string, string> = {},
): Promise<Context> {
  const frame = await addIframe(page, attackUrl(origin, scenario, params), name, attrs)
  await frame.waitFor(() => (globalThis as any).attack !== undefined)
  return frame
}

/**
 * Parent page at `parentOrigin` (connection options `parent`) and a real
 * victim child at `childOrigin` (query params `child`), both traced; resolves
 * once a first call went through.
 */
export async function tracedPair(
  driver: Driver,
  parentOrigin: string,
  childOrigin: string,
  parent: Record<string, unknown> = {},
  child: Record<string, string> = {},
): Promise<{ page: PageHandle; child: Context }> {
  const { page } = await openAttackPage(driver, parentOrigin)
  const frame = await addAttackFrame(page, childOrigin, 'child', { allow: parentOrigin, trace: '1', ...child }, 'child')
  const options = { target: 'child', allow: [childOrigin], serve: 'host', remote: 'victim', trace: true, ...parent }
  await run(page, `(attack.open(${JSON.stringify(options)}), 0)`)
  const first = await run(page, `attack.call('add', [1, 1])`)
  if (first?.ok !== true || first.value !== 2) throw new Error(`the pair did not connect: ${JSON.stringify(first)}`)
  return { page, child: frame }
}

/** The methods a traced page called, and those a traced child received, from their traces. */
export const sentCalls = (page: Context): Promise<string[]> =>
  read(page, `t.trace.filter((e) => e.direction === 'send' && e.kind === 'call').map((e) => e.method)`)
export const receivedCalls = (child: Context): Promise<string[]> =>
  read(child, `t.trace.filter((e) => e.direction === 'receive' && e.kind === 'call').map((e) => e.method)`)

/**
 * A document that runs the attacks bundle without a URL of its own (srcdoc,
 * data:, blob:, about:blank): the scenario and its params are inlined, the
 * scripts are loaded from `origin`.
 */
export function inlineDocument(origin: string, scenario: string, params: Record<string, string> = {}): string {
  const config = JSON.stringify({ s: scenario, params }).replace(/</g, '\\u003c')
  return `<!doctype html><html><body><script>window.__attack = ${config}</script><script src="${origin}/lib.js"></script><script src="${origin}/attacks.js"></script></body></html>`
}

/** Evaluates the script `source` in the page's global scope (the way every engine's driver can). */
// biome-ignore lint/security/noGlobalEval: the tests write their in-page code as expressions
const evalInPage = (source: string) => (0, eval)(source)

/** Resolves when `predicate(t)` holds in `frame`, `t` being the page's record. */
export async function waitFor(frame: Context, predicate: string, timeout = 10_000): Promise<void> {
  await frame.waitFor(evalInPage, `(() => { const t = globalThis.t; return ${predicate} })()`, timeout)
}

/** Reads `expression` (over the page's record `t`) from `frame`. */
export function read<T = any>(frame: Context, expression: string): Promise<T> {
  return frame.evaluate(evalInPage, `(() => { const t = globalThis.t; return ${expression} })()`) as Promise<T>
}

/** Runs `expression` in `frame` with `attack` (the helpers) and `t` in scope; returns its (awaited) value. */
export function run<T = any>(frame: Context, expression: string): Promise<T> {
  return frame.evaluate(
    evalInPage,
    `(async () => { const t = globalThis.t; const attack = globalThis.attack; return ${expression} })()`,
  ) as Promise<T>
}

/** Number of rejections the frame's connection reported for messages from `origin`. */
export function rejectionsFrom(frame: Context, origin: string, reason?: string): Promise<number> {
  return read<number>(
    frame,
    `t.rejections.filter((r) => r.origin === ${JSON.stringify(origin)}${reason ? ` && r.reason === ${JSON.stringify(reason)}` : ''}).length`,
  )
}

/** Waits until the frame reported at least `n` rejections for `origin` (and `reason`). */
export function waitRejections(frame: Context, origin: string, n: number, reason?: string): Promise<void> {
  return waitFor(
    frame,
    `t.rejections.filter((r) => r.origin === ${JSON.stringify(origin)}${reason ? ` && r.reason === ${JSON.stringify(reason)}` : ''}).length >= ${n}`,
  )
}

/**
 * The frame of `page` reached through the iframes named `names` (a child,
 * or nested: `'outer', 'inner'`), once it is there and runs the bundle. The
 * driver looks it up at each call, so it follows the frame through navigations.
 */
export async function waitForFrame(page: PageHandle, ...names: [string, ...string[]]): Promise<Context> {
  const frame = page.frame(...names)
  // Not attached yet (it may be nested in a frame that is still loading): ask again.
  for (let deadline = Date.now() + WAIT_MS; ; ) {
    try {
      await frame.evaluate(() => 0)
      break
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  await frame.waitFor(() => (globalThis as any).attack !== undefined && (globalThis as any).t !== undefined)
  return frame
}

/**
 * Console lines other than the browser's own: its note (in the recipient's
 * devtools console, unreadable by any page) about a postMessage whose
 * targetOrigin did not match, and the 404 of the favicon it asks for.
 * Chromium logs the note as a warning with straight quotes; Firefox reports
 * it over BiDi as a JavaScript error (a `pageerror`) with curly quotes,
 * though nothing was thrown in any page.
 */
export function unexpectedConsole(lines: string[]): string[] {
  return lines.filter(
    (line) =>
      !/Failed to execute ['‘]postMessage['’] on ['‘]DOMWindow['’]: The target origin provided/.test(line) &&
      !/^error: Failed to load resource: .* 404 .*\/favicon\.ico\)$/.test(line),
  )
}
