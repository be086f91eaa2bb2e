/**
 * Property 1 and 2, the gate's order: `event.origin` is checked, then
 * `event.source`, and only then is `event.data` read. A refused message's
 * data is never touched (no deserialisation, no getter of ours runs on it).
 * The victim child wraps the `data` getter of `MessageEvent.prototype` and
 * records, for each read on its window, who sent the message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, launch, origins } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, run, waitFor, waitRejections } from './support.js'

let driver: Driver
const { A, B, C } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Wraps the `data` getter: every read of a message to this window is recorded in `t.dataReads`. */
const SPY = `(() => {
  const d = Object.getOwnPropertyDescriptor(MessageEvent.prototype, 'data')
  t.dataReads = []
  Object.defineProperty(MessageEvent.prototype, 'data', {
    configurable: true,
    enumerable: d.enumerable,
    get() {
      if (this.target === window) t.dataReads.push({ origin: this.origin, fromPeer: this.source === parent })
      return d.get.call(this)
    },
  })
  return 0
})()`

describe('the gate', () => {
  it('never reads event.data of a message refused for its origin or its source', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    await run(child, SPY)
    await run(page, `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim' }), 0)`)
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
    // The spy works in this engine: the peer's handshake messages were read, as they must be.
    expect(
      await read(child, `t.dataReads.filter((r) => r.origin === ${json(A)} && r.fromPeer).length`),
    ).toBeGreaterThan(0)
    const readsBefore = await read<number>(child, 't.dataReads.length')

    // A sibling of a third origin (refused for its origin) and a second frame of the
    // parent's own origin (refused for its source) fire every message kind at the child.
    const third = await addAttackFrame(page, C, 'hostile', {}, 'third')
    const twin = await addAttackFrame(page, A, 'hostile', {}, 'twin')
    const fromC = await run<number>(third, `attack.burst('frame:child')`)
    const fromTwin = await run<number>(twin, `attack.burst('frame:child')`)
    expect(fromC).toBeGreaterThan(0)
    await waitRejections(child, C, fromC, 'origin')
    await waitRejections(child, A, fromTwin, 'source')

    // Not one of them had its data read.
    expect(await read(child, `t.dataReads.slice(${readsBefore})`)).toEqual([])
    // And the connection is the same one: a call still works.
    expect(await run(page, `attack.call('add', [2, 3])`)).toMatchObject({ ok: true, value: 5 })
    await waitFor(child, `t.counts.add === 1`)
    await page.close()
  })
})
