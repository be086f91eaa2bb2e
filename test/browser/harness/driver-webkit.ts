import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { inject } from 'vitest'
import { type Context, type Driver, type PageHandle, WAIT_MS } from './driver.js'

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? '/usr/bin/WebKitWebDriver'
export const MINIBROWSER = process.env.MINIBROWSER_PATH ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'

/** How long one WebDriver command may wait in the page before it hands the session back. */
const SLICE = 250
/** The page global (a registered symbol) where pending evaluate() results wait to be collected. */
const SLOTS = 'Symbol.for("portcullis-test-driver")'

/** The key of an element reference in WebDriver's JSON. */
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'

class WebDriverError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(`${error}: ${message}`)
  }
}

/**
 * JSON with the numbers it cannot hold (Infinity, -Infinity, NaN) tagged, in
 * both directions, so a test may pass `timeout: Infinity` as it can to the
 * other engines. REVIVE is the page's half.
 */
const TAG = '__portcullisTestNumber'
const encodeArg = (value: unknown) =>
  JSON.stringify(value ?? null, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? { [TAG]: String(v) } : v))
const decode = (text: string) =>
  JSON.parse(text, (_, v) => (v && typeof v === 'object' && TAG in v ? Number(v[TAG]) : v))
const REVIVE = `(text) => JSON.parse(text, (_, v) => (v && typeof v === 'object' && '${TAG}' in v ? Number(v['${TAG}']) : v))`
const REPLACE = `(_, v) => (typeof v === 'number' && !Number.isFinite(v) ? { '${TAG}': String(v) } : v)`

/**
 * A script body that runs `body` with `fn` (the test's function, inlined as
 * source) as `fn` and the script's arguments as `args`. The source is
 * evaluated outside `body`'s scope, where the only name besides the page's
 * globals is `arguments`, so `fn` sees none of the driver's names. Not
 * rebuilt with `Function()` in the page: a Content Security Policy without
 * 'unsafe-eval' (the demo's pages) refuses that, not a WebDriver script.
 */
const withFunction = (fn: Function, body: string) =>
  `return (function (fn, args) {${body}\n}).call(this, (${fn.toString()}), arguments)`

/** The frame's or window's browsing context went away or is not there yet: worth asking again while waiting. */
const retryable = (e: unknown) =>
  e instanceof WebDriverError &&
  ['no such frame', 'no such window', 'no such element', 'stale element reference', 'javascript error'].includes(
    e.error,
  )

/**
 * One classic W3C WebDriver session, spoken over plain `fetch`. The session
 * has one current browsing context, so every command that depends on it runs
 * alone (`exclusive`) after selecting its window and frame.
 */
class Session {
  private tail: Promise<unknown> = Promise.resolve()
  /** The selected window, and whether a frame of it (not its top) is selected. */
  private window: string | undefined
  private inFrame = false
  private ids = 0

  constructor(readonly url: string) {}

  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<any> {
    const response = await fetch(this.url + path, {
      method,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    })
    const { value } = (await response.json()) as { value: any }
    if (!response.ok || value?.error) throw new WebDriverError(value?.error ?? 'unknown error', value?.message ?? '')
    return value
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn)
    this.tail = run.catch(() => {})
    return run
  }

  /** Makes `window` (and the frame reached through the iframes matching the selectors `frame`, if given) the current browsing context. */
  private async select(window: string, frame: readonly string[] | undefined): Promise<void> {
    if (this.window !== window) {
      this.window = undefined
      await this.request('POST', '/window', { handle: window })
      this.window = window
      this.inFrame = false
    }
    if (this.inFrame || frame !== undefined) {
      await this.request('POST', '/frame', { id: null })
      this.inFrame = false
    }
    for (const selector of frame ?? []) {
      const element = await this.request('POST', '/element', { using: 'css selector', value: selector }).catch((e) => {
        throw e instanceof WebDriverError && e.error === 'no such element'
          ? new WebDriverError('no such frame', `no frame at ${frame?.join(' > ')}`)
          : e
      })
      await this.request('POST', '/frame', { id: element })
      this.inFrame = true
    }
  }

  /** Runs `command` alone, in `window` / `frame`. */
  in<T>(window: string, frame: readonly string[] | undefined, command: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.select(window, frame)
      return command()
    })
  }

  /**
   * evaluate() over WebDriver: a synchronous script starts the function
   * (inlined by withFunction(), so that it sees the page's globals and none
   * of the script's own names); if
   * it returned a promise, asynchronous scripts collect the result, each
   * waiting at most SLICE ms, so that other commands (say, in a frame) can
   * run while a long call is pending in the page.
   */
  async evaluate(window: string, frame: readonly string[] | undefined, fn: Function, arg: unknown): Promise<any> {
    const id = ++this.ids
    const start = `
      const encode = (value) => JSON.stringify(value === undefined ? { u: 1 } : { v: value }, ${REPLACE});
      const fail = (error) => JSON.stringify({ e: error instanceof Error ? error.name + ': ' + error.message : String(error) });
      let result;
      try {
        result = fn((${REVIVE})(args[0]));
        if (typeof result?.then !== 'function') return encode(result);
      } catch (error) {
        return fail(error);
      }
      const slots = (window[${SLOTS}] ??= {});
      const slot = (slots[args[1]] = { out: undefined, wake: undefined });
      Promise.resolve(result).then(encode).catch(fail).then((out) => { slot.out = out; slot.wake?.() });
      return JSON.stringify({ p: args[1] });`
    const collect = `
      const [id, slice, done] = arguments;
      const slots = window[${SLOTS}] ?? {};
      const slot = slots[id];
      if (!slot) return done(JSON.stringify({ e: 'the page navigated or closed while evaluate() was waiting' }));
      let timer;
      const finish = () => { clearTimeout(timer); delete slots[id]; done(slot.out) };
      if (slot.out !== undefined) return finish();
      slot.wake = finish;
      timer = setTimeout(() => { slot.wake = undefined; done(JSON.stringify({ p: id })) }, slice);`
    let out = decode(
      await this.in(window, frame, () =>
        this.request('POST', '/execute/sync', { script: withFunction(fn, start), args: [encodeArg(arg), id] }),
      ),
    )
    while ('p' in out) {
      out = decode(
        await this.in(window, frame, () =>
          this.request('POST', '/execute/async', { script: collect, args: [id, SLICE] }),
        ),
      )
    }
    if ('e' in out) throw new Error(`evaluate failed in the page: ${out.e}`)
    return out.v
  }

  /** waitFor() over WebDriver: asynchronous scripts that poll the predicate in the page, SLICE ms at a time. */
  async waitFor(
    window: string,
    frame: readonly string[] | undefined,
    fn: Function,
    arg: unknown,
    timeout: number,
  ): Promise<void> {
    const poll = `
      const [text, slice, done] = args;
      const arg = (${REVIVE})(text);
      const end = performance.now() + slice;
      const tick = () => {
        let ok;
        try {
          ok = fn(arg);
        } catch (error) {
          return done(JSON.stringify({ e: error instanceof Error ? error.name + ': ' + error.message : String(error) }));
        }
        if (ok) return done('{"v":true}');
        if (performance.now() >= end) return done('{"v":false}');
        setTimeout(tick, 16);
      };
      tick();`
    const deadline = Date.now() + timeout
    let last: unknown
    for (;;) {
      const slice = Math.max(0, Math.min(SLICE, deadline - Date.now()))
      try {
        const out = JSON.parse(
          await this.in(window, frame, () =>
            this.request('POST', '/execute/async', { script: withFunction(fn, poll), args: [encodeArg(arg), slice] }),
          ),
        )
        if (out.e) throw new Error(`waitFor failed in the page: ${out.e}`)
        if (out.v) return
      } catch (e) {
        if (!retryable(e)) throw e
        last = e
      }
      if (Date.now() >= deadline) {
        throw new Error(`waitFor timed out after ${timeout} ms${last ? ` (${last})` : ''}: ${fn.toString()}`)
      }
    }
  }

  async handles(): Promise<string[]> {
    return this.exclusive(() => this.request('GET', '/window/handles'))
  }

  async closeWindow(window: string): Promise<void> {
    await this.exclusive(async () => {
      try {
        await this.select(window, undefined)
        await this.request('DELETE', '/window')
      } catch (e) {
        if (!(e instanceof WebDriverError && e.error === 'no such window')) throw e
      } finally {
        this.window = undefined
      }
    })
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Starts WebKitWebDriver on a free port and resolves once it answers. */
async function startDriver(display: string): Promise<{ process: ChildProcess; url: string }> {
  const port = await freePort()
  const child = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    env: { ...process.env, DISPLAY: display },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${WEBKIT_DRIVER} exited with ${code} before it answered`)
  })
  exited.catch(() => {})
  const deadline = Date.now() + 10_000
  for (;;) {
    const ready = await Promise.race([
      fetch(`${url}/status`).then(
        (r) => r.ok,
        () => false,
      ),
      exited,
    ])
    if (ready) return { process: child, url }
    if (Date.now() > deadline) {
      child.kill()
      throw new Error(`${WEBKIT_DRIVER} did not answer on port ${port}`)
    }
    // Not listening yet: the driver is starting.
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * WebKitGTK: Debian's MiniBrowser through WebKitWebDriver (classic W3C
 * WebDriver over HTTP), one driver process and one session per test file,
 * under the Xvfb display that driver-setup.ts started. Every page is a
 * window of its own (not a tab: a background tab is a hidden page).
 */
export async function launchWebKitDriver(): Promise<Driver> {
  const display = process.env.WEBKIT_DISPLAY ?? inject('display')
  if (!display) throw new Error('no X display for WebKit: run under the webkit project (driver-setup.ts starts Xvfb)')
  const driver = await startDriver(display)
  let session: Session
  let home: string
  try {
    const created = await new Session(driver.url).request('POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': {
            binary: MINIBROWSER,
            args: ['--automation', '--javascript-can-open-windows-automatically=true'],
          },
        },
      },
    })
    session = new Session(`${driver.url}/session/${created.sessionId}`)
    await session.request('POST', '/timeouts', { script: 30_000, pageLoad: 30_000 })
    home = await session.request('GET', '/window')
  } catch (e) {
    driver.process.kill()
    throw e
  }

  function context(window: string, frame?: readonly string[]): Context {
    return {
      evaluate: (fn: Function, arg?: unknown) => session.evaluate(window, frame, fn, arg),
      waitFor: (fn: Function, arg?: unknown, timeout = WAIT_MS) => session.waitFor(window, frame, fn, arg, timeout),
      click: (selector) =>
        session.in(window, frame, async () => {
          const element = await session.request('POST', '/element', { using: 'css selector', value: selector })
          await session.request('POST', `/element/${element[ELEMENT]}/click`)
        }),
    }
  }

  /** The windows open() made (never a popup). */
  const pages = new Set<string>()
  /** popup() calls, one at a time (see there). */
  let popups: Promise<unknown> = Promise.resolve()

  function wrapWindow(window: string): PageHandle {
    return {
      ...context(window),
      frame: (...names) =>
        context(
          window,
          names.map((name) => `iframe[name=${JSON.stringify(name)}]`),
        ),
      frameAt: (selector) => context(window, [selector]),
      // Classic WebDriver has no events: no console messages, no page errors.
      recordConsole: () => null,
      async screenshot(path) {
        // Take Screenshot: the top-level browsing context's viewport, as base64 PNG.
        const png = await session.in(window, undefined, () => session.request('GET', '/screenshot'))
        await writeFile(path, Buffer.from(png as string, 'base64'))
      },
      popup(action) {
        // The new window is the handle that was not there before `action`: popups are serialised,
        // so that two tests opening windows at once never take each other's.
        const run = async () => {
          const before = new Set(await session.handles())
          await action()
          const deadline = Date.now() + WAIT_MS
          for (;;) {
            const opened = (await session.handles()).find((h) => !before.has(h) && !pages.has(h))
            if (opened) return wrapWindow(opened)
            if (Date.now() > deadline) throw new Error(`no window opened within ${WAIT_MS} ms`)
            // WebDriver classic has no events: ask again until the new window is listed.
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        }
        const result = popups.then(run, run)
        popups = result.catch(() => {})
        return result
      },
      close: () => session.closeWindow(window),
    }
  }

  return {
    engine: 'webkit',
    async open(url) {
      // The session's first window stays open (blank), so closing a page never ends the session.
      // New Window needs a current window: the first one.
      const { handle } = await session.in(home, undefined, async () => {
        const created = await session.request('POST', '/window/new', { type: 'window' })
        // Marked before any other command runs, so that a popup() waiting at the same time never takes it.
        pages.add(created.handle)
        return created
      })
      await session.in(handle, undefined, () => session.request('POST', '/url', { url }))
      return wrapWindow(handle)
    },
    async close() {
      await session.exclusive(() => session.request('DELETE', '')).catch(() => {})
      if (driver.process.exitCode !== null || driver.process.signalCode !== null) return
      const exited = once(driver.process, 'exit')
      driver.process.kill()
      await exited
    },
  }
}
