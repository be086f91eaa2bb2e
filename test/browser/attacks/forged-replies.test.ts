/**
 * Property 4: forged replies (guessed or replayed ids, from any window)
 * never resolve or reject a pending call; a reply is accepted once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, launch, origins } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, rejectionsFrom, run, waitFor, waitRejections } from './support.js'

let driver: Driver
const { A, B, C } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

const countReason = (reason: string) => `t.rejections.filter((r) => r.reason === ${json(reason)}).length`

describe.concurrent('forged replies', () => {
  it('from other windows, even with the real id of the pending call, never settle it', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
    await run(page, `(attack.start('k', 'hold', ['k']), 0)`)
    await waitFor(child, `t.counts.hold === 1`)
    const [id] = await run<string[]>(page, `attack.sentCallIds('hold')`)

    // A third-origin sibling and a second frame of the child's origin reply with the leaked id and guessed ones.
    const third = await addAttackFrame(page, C, 'hostile', {}, 'third')
    const twin = await addAttackFrame(page, B, 'hostile', {}, 'twin')
    const fromC = await run<number>(third, `attack.burst('parent', ${json([id])})`)
    const fromTwin = await run<number>(twin, `attack.burst('parent', ${json([id])})`)
    await waitRejections(page, C, fromC, 'origin')
    await waitRejections(page, B, fromTwin, 'source')
    // The peer window itself, but outside the private port: a session message is not a handshake message.
    const schemaBefore = await read<number>(page, countReason('schema'))
    await run(
      child,
      `(parent.postMessage({ k: 'r', i: ${json(id)}, v: 'forged' }, '*'), parent.postMessage({ k: 'e', i: ${json(id)}, e: { n: 'Error', m: 'forged' } }, '*'), 0)`,
    )
    await waitFor(page, `${countReason('schema')} >= ${schemaBefore + 2}`)

    expect(await read(page, 't.calls.k')).toEqual({ state: 'pending' })
    await run(child, `(attack.release('k'), 0)`)
    await waitFor(page, `t.calls.k.state === 'done'`)
    expect(await read(page, 't.calls.k')).toMatchObject({ ok: true, value: 'released k' })
    // Nothing the attackers sent reached the caller's table.
    expect(await read(page, countReason('unknown-id'))).toBe(0)
    expect(await rejectionsFrom(page, C)).toBe(fromC)
    await page.close()
  })

  it('on the private port: a reply is accepted once, replayed and guessed ids settle nothing', async () => {
    const { page } = await openAttackPage(driver, A)
    // The rogue completes a real handshake, so it holds the port; then it lies.
    const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')

    // 1. It answers the first call three times: a result, a different result, an error.
    await run(
      rogue,
      `(rogue.onCall = (m, send) => {
        (globalThis.seen ??= []).push(m.i)
        send({ k: 'r', i: m.i, v: 3 })
        send({ k: 'r', i: m.i, v: 1000 })
        send({ k: 'e', i: m.i, e: { n: 'Error', m: 'too late' } })
      }, 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 2])`)).toMatchObject({ ok: true, value: 3 })
    await waitFor(page, `${countReason('unknown-id')} >= 2`)

    // 2. To the next call it first replays the old id, guesses, near-misses the real one, then answers.
    await run(
      rogue,
      `(rogue.onCall = (m, send) => {
        seen.push(m.i)
        const nearMiss = m.i.slice(0, -1) + (m.i.endsWith('A') ? 'B' : 'A')
        for (const i of [seen[0], 'forged-reply-id-00000', nearMiss, '']) {
          send({ k: 'r', i, v: 999 })
          send({ k: 'e', i, e: { n: 'Error', m: 'forged' } })
        }
        send({ k: 'r', i: m.i, v: 4 })
      }, 0)`,
    )
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    // Three ids unknown to the caller (old, guessed, near miss), twice each; the empty id is not even an id.
    await waitFor(page, `${countReason('unknown-id')} >= 8`)
    await waitFor(page, `${countReason('schema')} >= 2`)
    expect(await read(page, countReason('unknown-id'))).toBe(8)

    // 3. An unsolicited reply while nothing is pending changes nothing either.
    await run(rogue, `(rogue.send({ k: 'r', i: seen[1], v: 5 }), 0)`)
    await waitFor(page, `${countReason('unknown-id')} >= 9`)

    // Call ids are 10 random characters (60 bits) per connection plus a counter, never reused: guessing one is hopeless.
    await run(rogue, `(rogue.onCall = (m, send) => { seen.push(m.i); send({ k: 'r', i: m.i, v: 0 }) }, 0)`)
    await run(page, `Promise.all(Array.from({ length: 50 }, (_, i) => attack.call('add', [i, -i])))`)
    const ids = await read<string[]>(rogue, 'seen')
    expect(ids).toHaveLength(52)
    expect(new Set(ids).size).toBe(52)
    for (const i of ids) expect(i).toMatch(/^[A-Za-z0-9_-]{10}[0-9a-z]+$/)
    await page.close()
  })

  it('on the private port: an error reply is accepted once too, and every reply after it is refused', async () => {
    const { page } = await openAttackPage(driver, A)
    const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')

    // It answers the call with an error first, then a result, then another error, all in one turn.
    await run(
      rogue,
      `(rogue.onCall = (m, send) => {
        send({ k: 'e', i: m.i, e: { n: 'Error', m: 'first' } })
        send({ k: 'r', i: m.i, v: 3 })
        send({ k: 'e', i: m.i, e: { n: 'Error', m: 'second' } })
      }, 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 2])`)).toMatchObject({ ok: false, message: 'first' })
    // A probe after the three replies: once it has been refused, all three were read.
    await run(rogue, `(rogue.send({ k: 'r', i: 'probe-after-replies', v: 0 }), 0)`)
    await waitFor(page, `t.rejections.some((r) => r.detail === 'reply to unknown call probe-after-replies')`)
    // The result and the second error came after the call was settled: neither was accepted.
    expect(await read(page, `t.rejections.filter((r) => r.reason === 'unknown-id').map((r) => r.detail)`)).toEqual([
      expect.stringMatching(/^reply to unknown call /),
      expect.stringMatching(/^reply to unknown call /),
      'reply to unknown call probe-after-replies',
    ])
    await page.close()
  })
})
