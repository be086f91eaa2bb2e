import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, pageUrl } from '../harness/driver.js'
import { call, connectTo, peer } from './helpers.js'

let driver: Driver
const { A, B, C } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('connection state and reconnect', () => {
  it('reports every transition with its cause', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'child', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    expect(await page.evaluate(() => (globalThis as any).conns.child.state)).toBe('open')
    await page.evaluate(() => (globalThis as any).conns.child.close())
    expect(await page.evaluate(() => (globalThis as any).log.child.states)).toEqual(['open:handshake', 'closed:closed'])
    expect(await call(page, 'child', 'add', [1, 2])).toMatchObject({ ok: false, code: 'DISCONNECTED' })
    await page.close()
  })

  it('a reload rejects in-flight calls, goes reconnecting then open, and queued calls reach the new page', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'child', 'add', [1, 1])).toEqual({ ok: true, value: 2 })
    const outcome = await page.evaluate(async () => {
      const w = globalThis as any
      const conn = w.conns.child
      const iframe = document.getElementById('child') as HTMLIFrameElement
      const started = performance.now()
      const inFlight = conn.remote.slow(5000).then(
        () => 'resolved',
        (e: any) => ({ code: e.code, reason: e.reason, ms: performance.now() - started }),
      )
      const src = iframe.src
      iframe.src = src // reload
      const rejected = await inFlight
      // Made while reconnecting: waits for the new session.
      const queuedState = conn.state
      const queued = await conn.remote.add(20, 22)
      const proxy = await conn.ready
      return { rejected, queuedState, queued, again: await proxy.add(2, 3), state: conn.state }
    })
    expect(outcome.rejected).toMatchObject({ code: 'DISCONNECTED' })
    expect((outcome.rejected as { ms: number }).ms).toBeLessThan(1000)
    expect(outcome.queuedState).toBe('reconnecting')
    expect(outcome).toMatchObject({ queued: 42, again: 5, state: 'open' })
    const states = await page.evaluate(() => (globalThis as any).log.child.states)
    expect(states[0]).toBe('open:handshake')
    expect(states).toContain('reconnecting:peer-unloaded')
    expect(states.at(-1)).toBe('open:peer-reloaded')
    // The reloaded page counted only its own call.
    await child.waitFor(() => (globalThis as any).t !== undefined)
    expect(await page.frame('child').evaluate(() => (globalThis as any).t.counts.add)).toBe(2)
    await page.close()
  })

  it('after the peer navigates to a disallowed origin, nothing is sent to it and state says why', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B], timeout: 60_000 })
    expect(await call(page, 'child', 'add', [1, 1])).toEqual({ ok: true, value: 2 })
    const rejected = await page.evaluate(
      async ({ src }) => {
        const conn = (globalThis as any).conns.child
        const inFlight = conn.remote.slow(5000).then(
          () => 'resolved',
          (e: any) => ({ code: e.code, reason: e.reason }),
        )
        ;(document.getElementById('child') as HTMLIFrameElement).src = src
        return inFlight
      },
      { src: pageUrl(C, 'recorder', { b: 'lifecycle', parent: A }) },
    )
    expect(rejected).toMatchObject({ code: 'DISCONNECTED' })
    // The recorder's handshake reached the parent and was refused for its origin.
    await page.waitFor(() => (globalThis as any).conns.child.cause === 'origin-changed')
    expect(await page.evaluate(() => (globalThis as any).conns.child.state)).toBe('reconnecting')
    // A call and an event made now must never reach the recorder.
    await page.evaluate(() => {
      const conn = (globalThis as any).conns.child
      ;(globalThis as any).late = conn.remote.add
        .with({ timeout: 300 })(5, 5)
        .catch((e: any) => e.code)
    })
    expect(await page.evaluate(() => (globalThis as any).late)).toBe('TIMEOUT')
    const recorder = page.frame('child')
    const received = await recorder.evaluate(() => (globalThis as any).t.received)
    expect(received).toEqual([])
    const rejections = await page.evaluate(() => (globalThis as any).log.child.rejections)
    expect(rejections.some((r: any) => r.reason === 'origin' && r.origin === C && r.fromPeer)).toBe(true)
    await page.close()
  })
})
