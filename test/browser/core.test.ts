import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addIframe,
  type Context,
  type Driver,
  launch,
  openPage,
  origins,
  type PageHandle,
  pageUrl,
} from './harness/driver.js'

let driver: Driver
const { A, B, sameSiteB, C } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Connects the parent page to the iframe `#child` (already inserted); the connection is `window.conn`. */
async function connectParent(
  page: PageHandle,
  childOrigin: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await page.evaluate(
    ({ childOrigin, extra }) => {
      const { portcullis, contracts } = globalThis as any
      const w = globalThis as any
      w.received = []
      w.rejections = []
      w.conn = portcullis.connect({
        target: document.getElementById('child'),
        allowedOrigins: [childOrigin],
        remote: contracts[(extra.contract as string) ?? 'childApi'],
        local: { contract: contracts.parentApi, handlers: { greet: (name: string) => `hello ${name}` } },
        onRejected: (r: unknown) => w.rejections.push(r),
      })
      if (!extra.contract) w.conn.on('resized', (e: unknown) => w.received.push(e))
    },
    { childOrigin, extra },
  )
}

/** Runs `remote[method](...args)` in the parent and returns the value or the error's fields. */
function callFromParent(page: PageHandle, method: string, args: unknown[], options?: Record<string, unknown>) {
  return page.evaluate(
    async ({ method, args, options }) => {
      const w = globalThis as any
      const proxy = await w.conn.ready
      try {
        const fn = options ? proxy[method].with(options) : proxy[method]
        return { ok: true, value: await fn(...args) }
      } catch (e: any) {
        return {
          ok: false,
          name: e.name,
          code: e.code,
          message: e.message,
          side: e.side,
          target: e.target,
          issues: e.issues,
          remoteName: e.remoteName,
          data: e.data,
          cause: e.cause?.message,
          remoteStack: e.remoteStack,
        }
      }
    },
    { method, args, options },
  )
}

async function parentWithChild(
  childOrigin: string,
  params: Record<string, string> = {},
): Promise<{ page: PageHandle; child: Context }> {
  const page = await openPage(driver, pageUrl(A))
  const child = await addIframe(page, pageUrl(childOrigin, 'child', { parent: A, ...params }))
  await connectParent(page, childOrigin)
  return { page, child }
}

describe('parent and cross-origin iframe', () => {
  it('calls the child across sites, and the child calls back over the same connection', async () => {
    const { page, child } = await parentWithChild(B)
    expect(await callFromParent(page, 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    expect(await callFromParent(page, 'askParent', ['kid'])).toEqual({ ok: true, value: 'parent said: hello kid' })
    expect(await child.evaluate(() => (globalThis as any).t.counts)).toEqual({ add: 1, askParent: 1 })
    await page.close()
  })

  it('600 calls made in one turn (several batches each way) each settle with their own result; an uncloneable one fails alone', async () => {
    const { page, child } = await parentWithChild(B)
    const outcome = await page.evaluate(async () => {
      const proxy = await (globalThis as any).conn.ready
      const calls = Array.from({ length: 600 }, (_, i) => proxy.add(i, i * 1000))
      const bad = proxy
        .add(1, () => 2)
        .then(
          () => 'resolved',
          (e: Error) => e.name,
        )
      const values: number[] = await Promise.all(calls)
      return { wrong: values.filter((v, i) => v !== i * 1001).length, bad: await bad }
    })
    expect(outcome).toEqual({ wrong: 0, bad: 'DataCloneError' })
    expect(await child.evaluate(() => (globalThis as any).t.counts.add)).toBe(600)
    await page.close()
  })

  it('connects when the iframe loads after the parent called connect()', async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate(
      ({ src, childOrigin }) => {
        const { portcullis, contracts } = globalThis as any
        const iframe = document.createElement('iframe')
        iframe.id = 'child'
        iframe.name = 'child'
        iframe.src = src
        document.body.append(iframe)
        ;(globalThis as any).conn = portcullis.connect({
          target: iframe,
          allowedOrigins: [childOrigin],
          remote: contracts.childApi,
        })
      },
      { src: pageUrl(sameSiteB, 'child', { parent: A }), childOrigin: sameSiteB },
    )
    expect(await callFromParent(page, 'add', [20, 22])).toEqual({ ok: true, value: 42 })
    await page.close()
  })

  it('delivers a typed event, validated, from child to parent', async () => {
    const { page } = await parentWithChild(B)
    await page.waitFor(() => (globalThis as any).received.length > 0)
    expect(await page.evaluate(() => (globalThis as any).received)).toEqual([{ height: 321 }])
    await page.close()
  })

  it('refuses invalid arguments at the child before the handler runs', async () => {
    const { page, child } = await parentWithChild(B)
    const result = await callFromParent(page, 'add', ['1', 2])
    expect(result).toMatchObject({ ok: false, code: 'VALIDATION', side: 'remote', target: 'arguments' })
    expect(result.issues?.[0]?.path).toEqual([0])
    expect(await child.evaluate(() => (globalThis as any).t.counts.add)).toBeUndefined()
    await page.close()
  })

  it('refuses invalid arguments at the parent when the child calls', async () => {
    const { page, child } = await parentWithChild(B)
    await callFromParent(page, 'add', [0, 0])
    const result = await child.evaluate(async () => {
      const conn = (globalThis as any).t.conn
      try {
        return await conn.remote.greet(42)
      } catch (e: any) {
        return { code: e.code, side: e.side, target: e.target }
      }
    })
    expect(result).toEqual({ code: 'VALIDATION', side: 'remote', target: 'arguments' })
    await page.close()
  })

  it('refuses a result that breaks the contract, on both sides', async () => {
    const { page } = await parentWithChild(B)
    // The child checks its own result before sending it...
    expect(await callFromParent(page, 'badResult', [])).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      target: 'result',
      side: 'remote',
    })
    await page.close()
  })

  it('the caller checks the result again on receipt', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'child', { parent: A }))
    // The parent's contract says `add` returns a string; the child (honestly) returns a number.
    await connectParent(page, B, { contract: 'strictChildApi' })
    expect(await callFromParent(page, 'add', [1, 2])).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      target: 'result',
      side: 'local',
    })
    await page.close()
  })

  it('carries a thrown error as RemoteError with its name, data and cause, and no stack unless debug', async () => {
    const { page } = await parentWithChild(B)
    const result = await callFromParent(page, 'fail', ['boom'])
    expect(result).toMatchObject({
      ok: false,
      code: 'REMOTE',
      name: 'RemoteError',
      remoteName: 'RangeError',
      message: 'boom',
      data: { detail: { retry: false } },
      cause: 'root cause',
    })
    expect(result.remoteStack).toBeUndefined()
    const debug = await parentWithChild(B, { debug: '1' })
    const withStack = await callFromParent(debug.page, 'fail', ['boom'])
    // The handler's own frame, in whatever format the engine writes: only V8 starts
    // `error.stack` with "RangeError: boom" (see ENGINES.md).
    expect(withStack.remoteStack).toMatch(/fail\b.*scenarios\.js/)
    await page.close()
    await debug.page.close()
  })

  it('times out a slow call and aborts the remote handler', async () => {
    const { page, child } = await parentWithChild(B)
    const result = await callFromParent(page, 'slow', [5000], { timeout: 150 })
    expect(result).toMatchObject({ ok: false, code: 'TIMEOUT', name: 'TimeoutError' })
    await child.waitFor(() => (globalThis as any).t.aborted.includes('5000'))
    await page.close()
  })

  it('an AbortSignal rejects locally and fires the remote handler signal', async () => {
    const { page, child } = await parentWithChild(B)
    const result = await page.evaluate(async () => {
      const w = globalThis as any
      const proxy = await w.conn.ready
      const controller = new AbortController()
      const call = proxy.slow.with({ signal: controller.signal })(4000)
      setTimeout(() => controller.abort(), 50)
      try {
        await call
        return 'resolved'
      } catch (e: any) {
        return e.code
      }
    })
    expect(result).toBe('ABORT')
    await child.waitFor(() => (globalThis as any).t.aborted.includes('4000'))
    await page.close()
  })
})

describe('the gate in a real browser', () => {
  it('ignores a third-origin frame that posts well-formed calls: the handler never runs', async () => {
    const { page, child } = await parentWithChild(B)
    expect(await callFromParent(page, 'add', [1, 1])).toEqual({ ok: true, value: 2 })
    const attacker = await addIframe(page, pageUrl(C, 'attacker', { victim: 'child' }), 'attacker')
    await attacker.waitFor(() => ((globalThis as any).t.counts.fired ?? 0) >= 3)
    // The child saw the attacker's messages and refused each one for its origin...
    await child.waitFor(() => (globalThis as any).t.rejections.some((r: any) => r.reason === 'origin'))
    const childRejections = await child.evaluate(() => (globalThis as any).t.rejections.map((r: any) => r.origin))
    expect(new Set(childRejections)).toEqual(new Set([C]))
    // ...no handler ran for it, and it got nothing back.
    expect(await child.evaluate(() => (globalThis as any).t.counts)).toEqual({ add: 1 })
    expect(await attacker.evaluate(() => (globalThis as any).t.replies)).toEqual([])
    const parentRejections = await page.evaluate(() => (globalThis as any).rejections.map((r: any) => r.origin))
    expect(parentRejections.length).toBeGreaterThan(0)
    expect(new Set(parentRejections)).toEqual(new Set([C]))
    // The real connection still works.
    expect(await callFromParent(page, 'add', [2, 2])).toEqual({ ok: true, value: 4 })
    await page.close()
  })

  it('names the real origin when the allow-list has the wrong one', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(sameSiteB, 'child', { parent: A }))
    const result = await page.evaluate(async (wrong) => {
      const { portcullis, contracts } = globalThis as any
      const conn = portcullis.connect({
        target: document.getElementById('child'),
        allowedOrigins: [wrong],
        remote: contracts.childApi,
        connectTimeout: 1500,
      })
      try {
        await conn.ready
        return { ok: true }
      } catch (e: any) {
        return { ok: false, name: e.name, code: e.code, message: e.message, state: conn.state }
      }
    }, B)
    expect(result).toMatchObject({ ok: false, name: 'OriginError', code: 'ORIGIN', state: 'closed' })
    expect(result.message).toContain(sameSiteB)
    await page.close()
  })
})
