/**
 * Property 5: a hostile frame that answers the handshake first (a sibling
 * racing the real peer) cannot capture the session or its port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, launch, origins } from '../harness/driver.js'
import {
  addAttackFrame,
  attackUrl,
  openAttackPage,
  read,
  rejectionsFrom,
  run,
  waitFor,
  waitRejections,
} from './support.js'

let driver: Driver
const { A, B, C } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('the handshake race', () => {
  it('hostile siblings firing before, during and after the handshake capture neither the session nor its port', async () => {
    const { page } = await openAttackPage(driver, A)
    await run(page, `(attack.listenAll(), 0)`)
    // Two hostile siblings are already there and firing every handshake and session message they know,
    // at the parent and at whatever frame is named 'child', every 10 ms; each also answers any SYN it sees.
    const third = await addAttackFrame(page, C, 'hostile', { adaptive: '1' }, 'third')
    const twin = await addAttackFrame(page, B, 'hostile', { adaptive: '1' }, 'twin')
    for (const hostile of [third, twin])
      await run(hostile, `(globalThis.b = attack.barrage('parent,frame:child', 10), 0)`)

    // The real child is inserted, and the parent connects at once, under fire.
    await page.evaluate(
      (src) => {
        const iframe = document.createElement('iframe')
        iframe.id = iframe.name = 'child'
        iframe.src = src
        document.body.append(iframe)
      },
      attackUrl(B, 'child', { allow: A, record: '1' }),
    )
    await run(page, `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim' }), 0)`)
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
    expect(await run(page, `attack.call('add', [1, 2])`)).toMatchObject({ ok: true, value: 3 })
    const child = page.frame('child')
    await waitFor(child, `t.conn.state === 'open'`)
    // Both hostiles fired while the child was up, and the child refused them.
    await waitRejections(child, C, await run<number>(third, `attack.burstSize()`), 'origin')
    await waitRejections(child, B, await run<number>(twin, `attack.burstSize()`), 'origin')
    for (const hostile of [third, twin]) await run(hostile, `(b.stop(), 0)`)

    // Now suppose the attackers learned both real nonces: they replay them in SYNs and in ACKs with ports.
    const parentNonces = await read<string[]>(
      child,
      // The parent's nonce is in its SYN, or (when it led without announcing to this page) in its ACK.
      `t.inbox.filter((m) => m.origin === ${json(A)} && m.data && (m.data.k === 's' || m.data.k === 'a')).map((m) => m.data.k === 's' ? m.data.n : m.data.l)`,
    )
    const childNonces = await read<string[]>(
      page,
      `t.inbox.filter((m) => m.origin === ${json(B)} && m.data && m.data.k === 's' && m.data.n.length === 21 && !/^z+$/.test(m.data.n)).map((m) => m.data.n)`,
    )
    const nonces = [...new Set([...parentNonces, ...childNonces])]
    expect(parentNonces.length).toBeGreaterThan(0)
    expect(childNonces.length).toBeGreaterThan(0)
    const before = {
      parentC: await rejectionsFrom(page, C),
      parentB: await rejectionsFrom(page, B, 'source'),
      childC: await rejectionsFrom(child, C),
      childB: await rejectionsFrom(child, B),
    }
    const perVictim = nonces.length * 3
    expect(await run(third, `attack.forgeHandshake('parent,frame:child', ${json(nonces)})`)).toBe(2 * perVictim)
    expect(await run(twin, `attack.forgeHandshake('parent,frame:child', ${json(nonces)})`)).toBe(2 * perVictim)
    await waitRejections(page, C, before.parentC + perVictim, 'origin')
    await waitRejections(page, B, before.parentB + perVictim, 'source')
    await waitRejections(child, C, before.childC + perVictim, 'origin')
    await waitRejections(child, B, before.childB + perVictim, 'origin')

    // The session is the one the real peers made: never replaced, never reconnected, calls reach the real child.
    expect(await run(page, `attack.call('add', [5, 5])`)).toMatchObject({ ok: true, value: 10 })
    expect(await read(child, 't.counts')).toEqual({ add: 2 })
    expect(await read(page, 't.counts')).toEqual({})
    expect(await read(page, 't.states')).toEqual(['open:handshake'])
    expect(await read(child, 't.states')).toEqual(['open:handshake'])
    // No port the attackers offered was ever taken, and nothing was ever sent to them.
    for (const hostile of [third, twin]) {
      expect(await read(hostile, 't.inbox')).toEqual([])
      expect(await read(hostile, 't.portInbox')).toEqual([])
      expect(await read(hostile, 't.counts.adapted')).toBeUndefined()
    }
    await page.close()
  })
})
