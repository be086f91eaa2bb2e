import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, pageUrl } from '../harness/driver.js'
import { call, connectTo, peer } from './helpers.js'

let driver: Driver
const { A, B, sameSiteB, D } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('events', () => {
  it('emit() reaches the peer, validated, and on() returns an unsubscribe', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    await page.waitFor(() => (globalThis as any).log.child.events.length === 1)
    expect(await page.evaluate(() => (globalThis as any).log.child.events)).toEqual([{ label: 'peer' }])
    await page.evaluate(() => {
      const conn = (globalThis as any).conns.child
      conn.emit('ping', { n: 1 })
      conn.emit('ping', { n: 2 })
    })
    await child.waitFor(() => (globalThis as any).t.events.length === 2)
    expect(await child.evaluate(() => (globalThis as any).t.events)).toEqual([{ n: 1 }, { n: 2 }])
    // A payload that breaks the schema is refused on the receiving side.
    await page.evaluate(() => (globalThis as any).conns.child.emit('ping', { n: 'three' }))
    await child.waitFor(() => (globalThis as any).t.rejections.some((r: any) => r.reason === 'schema'))
    expect(await child.evaluate(() => (globalThis as any).t.events.length)).toBe(2)
    // emit() of an undeclared event is a TypeError at the emitter.
    expect(
      await page.evaluate(() => {
        try {
          ;(globalThis as any).conns.child.emit('nope', {})
          return 'sent'
        } catch (e) {
          return (e as Error).name
        }
      }),
    ).toBe('TypeError')
    await page.close()
  })
})

describe('transferables', () => {
  it('moves an ArrayBuffer both ways with transfer(), and copies it without', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    const result = await page.evaluate(async () => {
      const { portcullis } = globalThis as any
      const proxy = await (globalThis as any).conns.child.ready
      const copied = new ArrayBuffer(1024)
      const a = await proxy.takeBuffer(copied, false)
      const moved = new ArrayBuffer(2048)
      const b = await proxy.takeBuffer(portcullis.transfer(moved, [moved]), true)
      return {
        a,
        copiedAfter: copied.byteLength,
        movedAfter: moved.byteLength,
        back: b.buffer.byteLength,
        length: b.length,
      }
    })
    expect(result).toEqual({ a: { length: 1024 }, copiedAfter: 1024, movedAfter: 0, back: 2048, length: 2048 })
    // The child's buffer was detached by the transfer of its result.
    await child.waitFor(() => (globalThis as any).t.events.some((e: any) => 'afterReply' in e))
    expect(await child.evaluate(() => (globalThis as any).t.events.find((e: any) => 'afterReply' in e))).toEqual({
      afterReply: 0,
    })
    await page.close()
  })
})

describe('workers', () => {
  it('talks to a dedicated Worker with the same contract and API', async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate(() => {
      ;(globalThis as any).worker = new Worker('/worker.js')
    })
    await connectTo(page, 'worker', 'globalThis.worker')
    expect(await call(page, 'worker', 'add', [40, 2])).toEqual({ ok: true, value: 42 })
    expect(await call(page, 'worker', 'whoami')).toEqual({ ok: true, value: 'worker' })
    await page.waitFor(() => (globalThis as any).log.worker.events.length === 1)
    expect(await page.evaluate(() => (globalThis as any).log.worker.events)).toEqual([{ label: 'worker' }])
    expect(await call(page, 'worker', 'add', ['x', 2])).toMatchObject({ ok: false, code: 'VALIDATION' })
    await page.close()
  })

  it("a worker that never answers: the handshake's TimeoutError says why (its script did not load, threw, or never calls connect())", async () => {
    const page = await openPage(driver, pageUrl(A))
    const messages = await page.evaluate(async () => {
      const w = globalThis as any
      const blob = (src: string) => URL.createObjectURL(new Blob([src], { type: 'text/javascript' }))
      const workers = [
        new Worker('/no-such-worker.js'),
        new Worker(blob("throw new Error('boom at startup')")),
        new Worker(blob('self.onmessage = () => {}')),
      ]
      return Promise.all(
        // Time for each worker's error to arrive from a busy test server (a loaded CI machine).
        workers.map((target) =>
          w.portcullis.connect({ target, remote: w.contracts.peerApi, connectTimeout: 3000 }).ready.then(
            () => 'opened',
            (e: any) => `${e.code}: ${e.message}`,
          ),
        ),
      )
    })
    expect(messages[0]).toBe(
      'TIMEOUT: handshake did not complete within 3000 ms; the worker failed: its script did not load',
    )
    expect(messages[1]).toMatch(
      /^TIMEOUT: handshake did not complete within 3000 ms; the worker failed: .*boom at startup/,
    )
    expect(messages[2]).toBe('TIMEOUT: handshake did not complete within 3000 ms; does the worker call connect()?')
    await page.close()
  })
})

describe('namespaces and many peers', () => {
  it('keeps two channels between the same two windows apart', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'twoChannels', { b: 'lifecycle', allow: A }))
    await connectTo(page, 'b', "document.getElementById('child')", { allow: [B], channel: 'b' })
    await connectTo(page, 'a', "document.getElementById('child')", { allow: [B], channel: 'a' })
    expect(await call(page, 'a', 'whoami')).toEqual({ ok: true, value: 'on channel a' })
    expect(await call(page, 'b', 'whoami')).toEqual({ ok: true, value: 'on channel b' })
    await page.waitFor(() => {
      const log = (globalThis as any).log
      return log.a.events.length === 1 && log.b.events.length === 1
    })
    expect(await page.evaluate(() => (globalThis as any).log.a.events)).toEqual([{ label: 'on channel a' }])
    expect(await page.evaluate(() => (globalThis as any).log.b.events)).toEqual([{ label: 'on channel b' }])
    await page.close()
  })

  it('one parent talks to three iframes at once without cross-talk', async () => {
    const page = await openPage(driver, pageUrl(A))
    const peers = { one: B, two: sameSiteB, three: D }
    await Promise.all(Object.entries(peers).map(([label, origin]) => addIframe(page, peer(origin, { label }), label)))
    for (const [label, origin] of Object.entries(peers)) {
      await connectTo(page, label, `document.getElementById('${label}')`, { allow: [origin] })
    }
    const answers = await page.evaluate(async () => {
      const conns = (globalThis as any).conns
      const names = ['one', 'two', 'three']
      const all = await Promise.all(
        names.flatMap((name) =>
          Array.from({ length: 20 }, () => conns[name].remote.whoami().then((who: string) => `${name}=${who}`)),
        ),
      )
      return [...new Set(all)].sort()
    })
    expect(answers).toEqual(['one=one', 'three=three', 'two=two'])
    await page.waitFor(() => {
      const log = (globalThis as any).log
      return ['one', 'two', 'three'].every((n) => log[n].events.length === 1)
    })
    for (const label of Object.keys(peers)) {
      expect(await page.evaluate((n) => (globalThis as any).log[n].events, label)).toEqual([{ label }])
    }
    await page.close()
  })
})

describe('hooks', () => {
  it('trace reports every message with direction, kind, channel, id and method', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B], trace: true })
    expect(await call(page, 'child', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    const trace = await page.evaluate(() => (globalThis as any).log.child.trace)
    const kinds = trace.map((e: any) => `${e.direction}:${e.kind}`)
    expect(kinds).toContain('send:syn')
    expect(kinds.some((k: string) => k === 'send:ack' || k === 'receive:ack')).toBe(true)
    const callEntry = trace.find((e: any) => e.kind === 'call')
    expect(callEntry).toMatchObject({ direction: 'send', channel: '', method: 'add' })
    const resultEntry = trace.find((e: any) => e.kind === 'result')
    expect(resultEntry).toMatchObject({ direction: 'receive', id: callEntry.id })
    await page.close()
  })
})
