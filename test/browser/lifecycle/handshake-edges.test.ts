import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, pageUrl } from '../harness/driver.js'
import { call, connectTo } from './helpers.js'

let driver: Driver
const { A, B } = origins()
const peer = (origin: string, extra: Record<string, string> = {}) =>
  pageUrl(origin, 'peer', { b: 'lifecycle', allow: A, ...extra })

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('the same channel used twice', () => {
  it('a second connect() to the same window and channel takes over; the first closes instead of staying open on a dead port', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B))
    await connectTo(page, 'one', "document.getElementById('child')", { allow: [B], timeout: 60_000 })
    expect(await call(page, 'one', 'whoami')).toEqual({ ok: true, value: 'peer' })
    await page.evaluate(() => {
      const w = globalThis as any
      w.pending = w.conns.one.remote.slow(30_000).then(
        () => 'resolved',
        (e: any) => ({ code: e.code, reason: e.reason }),
      )
    })
    await connectTo(page, 'two', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'two', 'whoami')).toEqual({ ok: true, value: 'peer' })
    // The child now serves 'two' only: 'one' must not report 'open' while its calls go nowhere.
    await page.waitFor(() => (globalThis as any).conns.one.state === 'closed', undefined, 3000)
    expect(await page.evaluate(() => (globalThis as any).pending)).toEqual({
      code: 'DISCONNECTED',
      reason: 'peer-closed',
    })
    expect(await call(page, 'two', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    await page.close()
  })

  it('a second connection in the peer window on the same channel takes over; the first closes', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'peer' })
    // The widget's script runs twice in the child window (a second bundle, a remount that forgot close()).
    await child.evaluate((parentOrigin) => {
      const { portcullis, contracts, t } = globalThis as any
      t.states = []
      t.conn.onStateChange((state: string, cause: string) => t.states.push(`${state}:${cause}`))
      t.second = portcullis.connect({
        target: window.parent,
        allowedOrigins: [parentOrigin],
        local: {
          contract: contracts.peerApi,
          handlers: { add: () => -1, whoami: () => 'second', slow: () => '', takeBuffer: () => ({ length: 0 }) },
        },
      })
    }, A)
    await child.waitFor(() => (globalThis as any).t.conn.state === 'closed', undefined, 3000)
    expect(await child.evaluate(() => (globalThis as any).t.states)).toEqual(['closed:peer-closed'])
    await page.waitFor(() => (globalThis as any).conns.child.state === 'open')
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'second' })
    expect(await page.evaluate(() => (globalThis as any).log.child.states)).toEqual([
      'open:handshake',
      'reconnecting:peer-reloaded',
      'open:peer-reloaded',
    ])
    await page.close()
  })
})
