/**
 * Attack classes found by a red-team pass, each from a real second origin.
 *
 * - Strings a `File` or `Blob` carries: structured clone copies a File's
 *   name and a Blob's type, strings of any length (Chromium caps a type at
 *   65,535 characters), beside its bytes. A rogue peer sends an empty File
 *   with a long name, or empty Blobs with long types, as a call's argument
 *   and as a result: each is over the victim's
 *   `maxMessageBytes` and is refused on receipt like any other oversize value.
 * - A disallowed top page navigates the allowed child frame it holds two
 *   levels down (an ancestor may navigate any frame below it) while the
 *   session is open: the page it puts there is refused, receives nothing, and
 *   the victim's calls fail instead of reaching it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
import { addAttackFrame, attackUrl, openAttackPage, read, run, waitFor, waitForFrame } from './support.js'

let driver: Driver
const { A, B, C } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Victim A (connection options `victim`) and a rogue frame of B holding the private port after a real handshake. */
async function rogueSession(victim: Record<string, unknown> = {}): Promise<{ page: PageHandle; rogue: Context }> {
  const { page } = await openAttackPage(driver, A)
  const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
  await run(
    page,
    `(attack.open(${json({ target: 'child', allow: [B], serve: 'victim', remote: 'victim', ...victim })}), 0)`,
  )
  expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
  await waitFor(rogue, `globalThis.rogue.port !== undefined`)
  return { page, rogue }
}

/** The rogue's record of the victim's reply to the call it made with id `id`. */
const replyTo = (id: string) => `t.portInbox.find((m) => m && (m.k === 'r' || m.k === 'e') && m.i === ${json(id)})`

// 200,000 characters against a victim allowing 100,000 bytes: the payload's bytes are none.
const LIMIT = 100_000
const LONG = 200_000
const HUGE_FILES = `(() => {
  globalThis.huge = {
    file: () => new File([], 'x'.repeat(${LONG})),
    // Chromium keeps a type of at most 65,535 characters: four of 60,000 each.
    blob: () => Array.from({ length: 4 }, () => new Blob([], { type: 'x'.repeat(60000) })),
  }
  // echo is answered with the value its argument names; add honestly.
  rogue.onCall = (m, send) => {
    if (m.m === 'add') send({ k: 'r', i: m.i, v: m.a[0] + m.a[1] })
    else if (m.m === 'echo') send({ k: 'r', i: m.i, v: huge[m.a[0]]() })
  }
  return 0
})()`

describe.concurrent('red team', () => {
  it("a File's name or a Blob's type over maxMessageBytes is refused on receipt, as arguments and as a result", async () => {
    const { page, rogue } = await rogueSession({ maxMessageBytes: LIMIT })
    await run(rogue, HUGE_FILES)
    for (const kind of ['blob', 'file']) {
      const id = `huge-${kind}`
      await run(rogue, `(rogue.send({ k: 'c', i: ${json(id)}, m: 'echo', a: [huge.${kind}()] }), 0)`)
      await waitFor(rogue, `${replyTo(id)} !== undefined`)
      expect(await read(rogue, replyTo(id))).toMatchObject({ k: 'e', i: id, e: { n: 'LimitError', c: 'LIMIT' } })
      const outcome = await run(page, `attack.call('echo', [${json(kind)}])`)
      expect(outcome).toMatchObject({ ok: false, code: 'LIMIT' })
    }
    // The handler never ran, and the session still works both ways.
    expect(await read(page, 't.counts.echo')).toBeUndefined()
    expect(await read(page, `t.rejections.filter((r) => r.reason === 'limit').length`)).toBe(4)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it('a disallowed top page that navigates the allowed child two frames down, mid-session, gets nothing through it', async () => {
    // C (disallowed) frames A, which frames its real child B; A and B are connected.
    const { page } = await openAttackPage(driver, C)
    await addAttackFrame(page, A, undefined, {}, 'host')
    const host = page.frame('host')
    await run(
      host,
      `new Promise((resolve) => {
        const iframe = document.createElement('iframe')
        iframe.id = iframe.name = 'child'
        iframe.src = ${json(attackUrl(B, 'child', { allow: A }))}
        iframe.onload = () => resolve(0)
        document.body.append(iframe)
      })`,
    )
    await run(host, `(attack.open(${json({ target: 'child', allow: [B], remote: 'victim', timeout: 1000 })}), 0)`)
    expect(await run(host, `attack.call('add', [1, 2])`)).toMatchObject({ ok: true, value: 3 })

    // The top page is an ancestor of the child frame, so the browser lets it navigate that frame,
    // to a page of its own that records everything it receives and provokes A with SYNs.
    await run(page, `(frames.host.frames.child.location.href = ${json(attackUrl(C, 'listener', { provoke: '1' }))}, 0)`)
    const intruder = await waitForFrame(page, 'host', 'child')
    await waitFor(intruder, `t.counts.provoked === 1`)
    await waitFor(host, `t.states.includes('reconnecting:origin-changed')`)

    // A call now waits for a session that never comes: it times out, and nothing went to the intruder.
    const outcome = await run(host, `attack.call('add', [2, 2])`)
    expect(outcome).toMatchObject({ ok: false, code: 'TIMEOUT' })
    expect(await read(intruder, 't.inbox')).toEqual([])
    expect(await read(intruder, 't.portInbox')).toEqual([])
    expect(
      await read(host, `t.rejections.filter((r) => r.origin === ${json(C)} && r.fromPeer).length`),
    ).toBeGreaterThanOrEqual(2)
    await page.close()
  })
})
