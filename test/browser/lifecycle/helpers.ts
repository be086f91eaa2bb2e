import { origins, type PageHandle, pageUrl } from '../harness/driver.js'

/** A lifecycle peer page on `origin`, which allows the parent's origin (A). */
export function peer(origin: string, extra: Record<string, string> = {}): string {
  return pageUrl(origin, 'peer', { b: 'lifecycle', allow: origins().A, ...extra })
}

/**
 * In the parent page: connects to `target` (an expression evaluated in the
 * page, e.g. `document.getElementById('child')`) as `window.conns[name]`,
 * recording state changes, events and rejections under the same name.
 */
export async function connectTo(
  page: PageHandle,
  name: string,
  target: string,
  options: { allow?: string[]; channel?: string; timeout?: number; connectTimeout?: number; trace?: boolean } = {},
): Promise<void> {
  await page.evaluate(
    ({ name, target, options }) => {
      const w = globalThis as any
      const { portcullis, contracts } = w
      w.conns ??= {}
      w.log ??= {}
      const log = (w.log[name] = {
        states: [] as string[],
        events: [] as unknown[],
        rejections: [] as unknown[],
        trace: [] as unknown[],
      })
      // biome-ignore lint/security/noGlobalEval: the test names the target as an expression of the page
      const resolved = (0, eval)(target)
      const conn = portcullis.connect({
        target: resolved,
        allowedOrigins: options.allow,
        channel: options.channel,
        timeout: options.timeout,
        connectTimeout: options.connectTimeout,
        remote: contracts.peerApi,
        local: { contract: contracts.hostApi, handlers: {} },
        onRejected: (r: unknown) => log.rejections.push(r),
        trace: options.trace ? (entry: unknown) => log.trace.push(entry) : undefined,
      })
      conn.onStateChange((state: string, cause: string) => log.states.push(`${state}:${cause}`))
      conn.on('hello', (e: unknown) => log.events.push(e))
      w.conns[name] = conn
    },
    { name, target, options },
  )
}

/** Calls `method` on connection `name` in the page; resolves with the value or the error's code/reason/message. */
export function call(
  page: PageHandle,
  name: string,
  method: string,
  args: unknown[] = [],
  options?: Record<string, unknown>,
) {
  return page.evaluate(
    async ({ name, method, args, options }) => {
      const conn = (globalThis as any).conns[name]
      try {
        const fn = options ? conn.remote[method].with(options) : conn.remote[method]
        return { ok: true as const, value: await fn(...args) }
      } catch (e: any) {
        return { ok: false as const, name: e.name, code: e.code, reason: e.reason, message: String(e.message) }
      }
    },
    { name, method, args, options },
  )
}
