/**
 * Property 8: limits, checked on the sender too. `maxMessageBytes` (default
 * 32 MiB: bytes of strings and binary data, estimated without serialising) and
 * `maxDepth` (default 100). An oversize or overdeep call fails at the caller
 * with LimitError before anything is posted; the receiver refuses one that
 * slips through (a peer with higher limits) with a clear error, not a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, ENGINE, launch, origins } from '../harness/driver.js'
import { read, receivedCalls, run, sentCalls, tracedPair } from './support.js'

let driver: Driver
const { A, B } = origins()
const json = JSON.stringify
const MiB = 1024 * 1024

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Parent A (options `parent`) and child B (query params `child`), both traced; one call made. */
const pair = (parent: Record<string, unknown> = {}, child: Record<string, string> = {}) =>
  tracedPair(driver, A, B, parent, child)

describe.concurrent('limits', () => {
  it('a 50 MB string and a 3000-deep object fail at the caller with LimitError, fast, and nothing is posted', async () => {
    const { page, child } = await pair()
    for (const arg of [{ $string: 50_000_000 }, { $deep: 3000 }]) {
      const result = await run(page, `attack.call('echo', [${json(arg)}])`)
      expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
      expect(result.ms).toBeLessThan(500)
    }
    expect(await sentCalls(page)).toEqual(['add'])
    expect(await receivedCalls(child)).toEqual(['add'])
    expect(await read(child, 't.counts')).toEqual({ add: 1 })
    // The connection is unharmed.
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it('maxMessageBytes and maxDepth are options, honoured for calls and events at the sender', async () => {
    const { page, child } = await pair({ maxMessageBytes: 1024, maxDepth: 10 })
    expect(await run(page, `attack.call('echo', [{ $string: 900 }])`)).toMatchObject({ ok: true })
    expect(await run(page, `attack.call('echo', [{ $string: 2000 }])`)).toMatchObject({ ok: false, code: 'LIMIT' })
    expect(await run(page, `attack.call('echo', [{ $deep: 5 }])`)).toMatchObject({ ok: true })
    expect(await run(page, `attack.call('echo', [{ $deep: 20 }])`)).toMatchObject({ ok: false, code: 'LIMIT' })
    // Binary data counts by its bytes.
    expect(
      await run(page, `attack.call('echo', [new Uint8Array(4096)]).then((r) => ({ ok: r.ok, code: r.code }))`),
    ).toEqual({ ok: false, code: 'LIMIT' })
    const emitted = await run(
      page,
      `(() => { try { t.conn.emit('theme', { mode: 'x'.repeat(2000) }); return 'sent' } catch (e) { return e.code } })()`,
    )
    expect(emitted).toBe('LIMIT')
    expect(await sentCalls(page)).toEqual(['add', 'echo', 'echo'])
    expect(await receivedCalls(child)).toEqual(['add', 'echo', 'echo'])
    await page.close()
  })

  it('a call that slips through (the caller has higher limits) is refused by the receiver with LimitError, not a hang', async () => {
    // The child keeps its defaults (32 MiB, depth 100); the parent raised both.
    const { page, child } = await pair({ maxMessageBytes: 256 * MiB, maxDepth: 1000 })
    // 34 million characters: just over the 32 MiB default.
    for (const arg of [{ $string: 34_000_000 }, { $deep: 150 }]) {
      const result = await run(page, `attack.call('echo', [${json(arg)}], { timeout: 10000 })`)
      expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
      expect(result.message).toMatch(/refused/)
      expect(result.ms).toBeLessThan(3000)
    }
    // The handler never ran.
    expect(await read(child, 't.counts')).toEqual({ add: 1 })
    expect(await read(child, `t.rejections.filter((r) => r.reason === 'limit').length`)).toBe(2)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it('a result that slips through (the callee has higher limits) is refused by the caller with LimitError', async () => {
    const { page, child } = await pair({ maxMessageBytes: MiB }, { maxBytes: String(256 * MiB) })
    const result = await run(page, `attack.call('big', [${2 * MiB}], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.ms).toBeLessThan(3000)
    expect(await read(child, 't.counts.big')).toBe(1)
    await page.close()
  })

  it("a result over the answering side's own limit is not sent, even to a caller that would accept it", async () => {
    // The child (answering) is limited to 1 MiB; the parent (calling) would take 256 MiB.
    const { page, child } = await pair({ maxMessageBytes: 256 * MiB }, { maxBytes: String(MiB) })
    const result = await run(page, `attack.call('big', [${2 * MiB}], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.message).toMatch(/the result of "big" was not sent/)
    expect(await read(child, 't.counts.big')).toBe(1)
    // What the child sent for it was an error: its only result went to the first call, add.
    const sent = (kind: string) => `t.trace.filter((e) => e.direction === 'send' && e.kind === '${kind}').length`
    expect(await read(child, sent('result'))).toBe(1)
    expect(await read(child, sent('error'))).toBe(1)
    await page.close()
  })

  it('a structure too deep for the browser to clone cannot be let through: maxDepth above 1000 is refused at connect()', async () => {
    // Chromium delivers a message nested about 2500 levels deep as null, silently, so no
    // side may raise maxDepth that far; at the ceiling a 2500-deep value still fails fast.
    const { page } = await pair({ maxDepth: 1000 }, { maxDepth: '1000' })
    const refused = await run(
      page,
      `(() => { try { portcullis.connect({ target: document.getElementById('child'), allowedOrigins: ['${B}'], maxDepth: 100000 }); return 'accepted' } catch (e) { return e.name + ': ' + e.message } })()`,
    )
    expect(refused).toMatch(/^TypeError: .*maxDepth 100000.*null/)
    const result = await run(page, `attack.call('echo', [{ $deep: 2500 }], { timeout: 3000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.ms).toBeLessThan(2000)
    await page.close()
  })

  it('binary data counts whole: a 16-byte view of a 2 MiB buffer is refused under a 1 MiB limit (structured clone copies the buffer)', async () => {
    const { page, child } = await pair({ maxMessageBytes: MiB })
    const result = await run(page, `attack.call('echo', [{ $view: [${2 * MiB}, 16] }], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT' })
    expect(await read(child, 't.counts.echo')).toBeUndefined()
    await page.close()
  })

  it("an Error's message counts: an Error carrying a 2 MiB message is refused under a 1 MiB limit", async () => {
    const { page, child } = await pair({ maxMessageBytes: MiB })
    const result = await run(page, `attack.call('echo', [{ $error: ${2 * MiB} }], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT' })
    expect(await read(child, 't.counts.echo')).toBeUndefined()
    await page.close()
  })

  it("an Error's message counts as the string structured clone makes of it (an object with toString)", async () => {
    const { page, child } = await pair({ maxMessageBytes: MiB }, { maxBytes: String(MiB) })
    const result = await run(
      page,
      `attack.call('echo', [Object.assign(new Error(), { message: { toString: () => 'x'.repeat(${2 * MiB}) } })], { timeout: 10000 })`,
    )
    // Refused by the caller, not by the receiver after 2 MiB crossed.
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', message: expect.stringMatching(/were not sent/) })
    expect(await sentCalls(page)).toEqual(['add'])
    expect(await read(child, 't.counts.echo')).toBeUndefined()
    await page.close()
  })

  it("a value made by another realm (a same-origin frame's Map, Set, ArrayBuffer, Error, RegExp) counts at the caller as one of ours", async () => {
    // Structured clone copies such a value whole, but it is no `instanceof Map` here.
    const { page, child } = await pair({ maxMessageBytes: MiB }, { maxBytes: String(MiB) })
    await run(
      page,
      `(() => { const f = document.createElement('iframe'); f.id = 'realm'; document.body.append(f); return 0 })()`,
    )
    const realm = `document.getElementById('realm').contentWindow`
    const big = `'x'.repeat(${2 * MiB})`
    for (const value of [
      `new (${realm}.Map)([['k', ${big}]])`,
      `new (${realm}.Set)([${big}])`,
      `new (${realm}.ArrayBuffer)(${2 * MiB})`,
      `new (${realm}.Error)(${big})`,
      // WebKit refuses to compile a pattern this long ("regular expression too large").
      ...(ENGINE === 'webkit' ? [] : [`new (${realm}.RegExp)(${big})`]),
    ]) {
      const result = await run(page, `attack.call('echo', [${value}], { timeout: 10000 })`)
      // Refused by the caller, not by the receiver after 2 MiB crossed.
      expect(result).toMatchObject({ ok: false, code: 'LIMIT', message: expect.stringMatching(/were not sent/) })
    }
    expect(await sentCalls(page)).toEqual(['add'])
    expect(await read(child, 't.counts.echo')).toBeUndefined()
    // Honest calls suffer too: two 600 KB Maps of the frame, called in one turn, travel as one
    // batch that the sender thought tiny, and the receiver refuses the second for the first.
    const pairOfCalls = await run(
      page,
      `Promise.all([0, 1].map(() => attack.call('echo', [new (${realm}.Map)([['k', 'x'.repeat(600_000)]])], { timeout: 10000 }))).then((rs) => rs.map((r) => r.ok))`,
    )
    expect(pairOfCalls).toEqual([true, true])
    await page.close()
  })
})
