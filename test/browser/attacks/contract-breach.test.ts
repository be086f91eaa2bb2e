/**
 * A hostile payload that breaks the contract: a rogue peer on another origin
 * completes a real handshake, then sends results, events and arguments of
 * the wrong shape on the private port. Nothing of the wrong shape reaches
 * the page: results are validated by the caller on receipt (a peer is never
 * trusted), events before any listener, arguments before the handler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, run, waitFor } from './support.js'

let driver: Driver
const { A, B } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** The parent A (by default serving hostApi, calling victimApi) and a rogue peer B in its frame, connected. */
async function withRogue(serve = 'host', remote = 'victim'): Promise<{ page: PageHandle; rogue: Context }> {
  const { page } = await openAttackPage(driver, A)
  const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
  await run(
    page,
    `(attack.open({ target: 'child', allow: [${json(B)}], serve: ${json(serve)}, remote: ${json(remote)} }), 0)`,
  )
  expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
  return { page, rogue }
}

const schemaRejections = `t.rejections.filter((r) => r.reason === 'schema').map((r) => r.detail)`

describe.concurrent('a rogue peer breaking the contract', () => {
  it('answers with results of the wrong shape: each call rejects with a local ValidationError', async () => {
    const { page, rogue } = await withRogue()
    // add declares a number, profile { name: string }: the rogue answers neither.
    await run(
      rogue,
      `(rogue.onCall = (m, send) => send({ k: 'r', i: m.i, v: m.m === 'add' ? 'three' : { name: 42, isAdmin: true } }), 0)`,
    )
    for (const [method, args] of [
      ['add', [1, 2]],
      ['profile', [{ name: 'x' }]],
    ] as const) {
      expect(await run(page, `attack.call(${json(method)}, ${json(args)})`)).toMatchObject({
        ok: false,
        name: 'ValidationError',
        code: 'VALIDATION',
        side: 'local',
        target: 'result',
        method,
      })
    }
    // The same path with a result of the right shape resolves, so the refusals above were the schema's.
    await run(rogue, `(rogue.onCall = (m, send) => send({ k: 'r', i: m.i, v: 3 }), 0)`)
    expect(await run(page, `attack.call('add', [1, 2])`)).toMatchObject({ ok: true, value: 3 })
    await page.close()
  })

  it('emits events of the wrong shape: no listener hears them, and each is reported', async () => {
    const { page, rogue } = await withRogue()
    await run(
      rogue,
      `(rogue.send({ k: 'v', m: 'note', d: { text: 42 } }),
        rogue.send({ k: 'v', m: 'note', d: 'just a string' }),
        rogue.send({ k: 'v', m: 'note', d: { text: 'ok', extra: 'dropped' } }), 0)`,
    )
    await waitFor(page, `t.events.length >= 1`)
    // Only the valid one, and only with its declared keys.
    expect(await read(page, 't.events')).toEqual([{ name: 'note', payload: { text: 'ok' } }])
    expect(await read(page, schemaRejections)).toEqual([
      expect.stringMatching(/^event "note": /),
      expect.stringMatching(/^event "note": /),
    ])
    await page.close()
  })

  it('calls with arguments of the wrong shape: the handler never runs, the answer is a ValidationError', async () => {
    const { page, rogue } = await withRogue()
    // greet declares [string].
    await run(
      rogue,
      `(rogue.send({ k: 'c', i: 'bad-type', m: 'greet', a: [42] }),
        rogue.send({ k: 'c', i: 'bad-missing', m: 'greet', a: [] }),
        rogue.send({ k: 'c', i: 'good', m: 'greet', a: ['rogue'] }), 0)`,
    )
    await waitFor(rogue, `['bad-type', 'bad-missing', 'good'].every((i) => t.portInbox.some((m) => m.i === i))`)
    for (const i of ['bad-type', 'bad-missing']) {
      expect(await read(rogue, `t.portInbox.filter((m) => m.i === ${json(i)})`)).toEqual([
        {
          k: 'e',
          i,
          e: expect.objectContaining({ n: 'ValidationError', c: 'VALIDATION', t: 'arguments' }),
        },
      ])
    }
    expect(await read(rogue, `t.portInbox.find((m) => m.i === 'good')`)).toEqual({
      k: 'r',
      i: 'good',
      v: 'hello rogue',
    })
    // greet ran once: for the valid call only.
    expect(await read(page, 't.counts')).toEqual({ greet: 1 })
    await page.close()
  })

  it('calling a method whose handler returns more than it declares: the undeclared field never leaves the window', async () => {
    // Here the page serves victimApi: profile's handler returns { name, internal }, its output schema { name }.
    const { page, rogue } = await withRogue('victim', 'host')
    await run(rogue, `(rogue.send({ k: 'c', i: 'p', m: 'profile', a: [{ name: 'x' }] }), 0)`)
    await waitFor(rogue, `t.portInbox.some((m) => m.i === 'p')`)
    expect(await read(rogue, `t.portInbox.filter((m) => m.i === 'p')`)).toEqual([{ k: 'r', i: 'p', v: { name: 'x' } }])
    expect(await read(page, 't.counts')).toEqual({ profile: 1 })
    await page.close()
  })
})
