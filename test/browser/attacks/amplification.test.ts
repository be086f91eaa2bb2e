/**
 * Property 8, continued: what crosses is what was measured, even when the
 * value is small on the wire and huge to walk.
 *
 * - Structured clone keeps shared references, so `a = [a, a]` sixty times is
 *   sixty arrays on the wire and 2^60 paths to anyone who walks it as a tree;
 *   an empty array of length 2^32 - 1 is a few bytes and 4e9 holes.
 *   A rogue peer on the private port sends such values (arrays, and objects
 *   whose every key points at the next level) as call arguments, as an event
 *   payload and as the result of the victim's own call: each is refused on
 *   receipt (`'limit'`), nothing runs or is delivered, and the victim stays
 *   responsive.
 * - Error replies are measured too: a rogue error carrying a 2 MiB string, or
 *   a wide object DAG, as its data, and an honest handler that throws an Error
 *   with a 2 MiB own property, all end in LimitError, never a RemoteError
 *   carrying the data.
 * - Named properties of an array are cloned by the browser, so they count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, ENGINE, launch, origins, type PageHandle } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, receivedCalls, run, sentCalls, tracedPair, waitFor } from './support.js'

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

/**
 * In-page builders of the hostile values, installed in the rogue's frame as
 * `globalThis.build` (they cannot cross evaluate(): sharing, array properties).
 * `replies` answers a call of `echo` by the name of its argument.
 *
 * - arrays: `a = [a, a]`, 60 times: 61 arrays on the wire, 2^60 paths.
 * - objects: 12 levels of 8 keys, each pointing at the next level: 8^12 paths.
 * - wide: 6 levels of 30 keys: 30^6 paths.
 * - props: `[1]` with a named property (`big`, or a numeric-looking name) holding 2000 characters.
 * - sparse: an empty array of length 2^32 - 1: a few bytes on the wire, 4e9 holes to walk.
 *   WebKit's own serializer visits every hole (about 10 ns each, so some 40 s in
 *   the attacker's frame before anything is posted): there it is 2^23 long,
 *   still four times what a 32 MiB budget allows.
 * - blanks, bigint, image, bitmap: a million empty strings, 1.5 MB of BigInts, a 4 MiB
 *   ImageData and ImageBitmap (pixels that no own property may show): cheap to describe, dear to clone.
 */
const SPARSE_LENGTH = ENGINE === 'webkit' ? 2 ** 23 : 2 ** 32 - 1

const BUILDERS = `(() => {
  const build = {
    arrays() { let a = []; for (let i = 0; i < 60; i++) a = [a, a]; return a },
    objects(levels = 12, keys = 8) {
      let o = 0
      for (let i = 0; i < levels; i++) { const n = {}; for (let k = 0; k < keys; k++) n['k' + k] = o; o = n }
      return o
    },
    props(name = 'big') { return Object.assign([1], { [name]: 'x'.repeat(2000) }) },
    sparse() { const a = []; a.length = ${SPARSE_LENGTH}; return a },
    blanks() { return new Array(1e6).fill('') },
    // Twelve BigInts of 2^20 bits (Firefox's largest): 1.5 MB of digits, as each is cloned whole.
    bigint() { const b = 1n << 1000000n; return Array.from({ length: 12 }, () => b) },
    image() { return new ImageData(1024, 1024) },
    bitmap() { return createImageBitmap(new ImageData(1024, 1024)) },
  }
  const replies = {
    arrays: (i) => ({ k: 'r', i, v: build.arrays() }),
    objects: (i) => ({ k: 'r', i, v: build.objects() }),
    props: (i) => ({ k: 'r', i, v: build.props() }),
    blob: (i) => ({ k: 'e', i, e: { n: 'Error', m: 'x', d: { blob: 'x'.repeat(${2 * MiB}) } } }),
    wide: (i) => ({ k: 'e', i, e: { n: 'Error', m: 'x', d: build.objects(6, 30) } }),
  }
  globalThis.build = build
  // add is answered honestly (to show the victim still works), echo with the value its argument names.
  rogue.onCall = (m, send) => {
    if (m.m === 'add') send({ k: 'r', i: m.i, v: m.a[0] + m.a[1] })
    else if (m.m === 'echo') send(replies[m.a[0]](m.i))
  }
  return 0
})()`

/**
 * Victim A (options `victim`) connected to a rogue frame of B that completed a
 * real handshake and now holds the private port; the rogue's builders are installed.
 */
async function rogueSession(victim: Record<string, unknown> = {}): Promise<{ page: PageHandle; rogue: Context }> {
  const { page } = await openAttackPage(driver, A)
  const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
  await run(
    page,
    `(attack.open(${json({ target: 'child', allow: [B], serve: 'host', remote: 'victim', ...victim })}), 0)`,
  )
  expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
  await waitFor(rogue, `globalThis.rogue.port !== undefined`)
  await run(rogue, BUILDERS)
  expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
  return { page, rogue }
}

/** Parent A (options `parent`) and a real child B (query params `child`), both traced; one call made. */
const pair = (parent: Record<string, unknown> = {}, child: Record<string, string> = {}) =>
  tracedPair(driver, A, B, parent, child)

const limitRejections = (frame: Context) =>
  read<number>(frame, `t.rejections.filter((r) => r.reason === 'limit').length`)

/** The rogue's record of the victim's reply to the call it made with id `id`. */
const replyTo = (id: string) => `t.portInbox.find((m) => m && (m.k === 'r' || m.k === 'e') && m.i === ${json(id)})`

/** The rogue calls the victim's `greet` and waits for the answer: the victim's responder still works. */
async function rogueGreets(rogue: Context, id: string): Promise<unknown> {
  await run(rogue, `(rogue.send({ k: 'c', i: ${json(id)}, m: 'greet', a: ['rogue'] }), 0)`)
  await waitFor(rogue, `${replyTo(id)} !== undefined`)
  return read(rogue, replyTo(id))
}

describe.concurrent('amplification', () => {
  it('a DAG (2^60 paths in 61 arrays; 8^12 in 12 objects) or a sparse array of length 2^32 - 1 as call arguments is refused on receipt and the handler never runs', async () => {
    const { page, rogue } = await rogueSession()
    for (const shape of ['objects', 'arrays', 'sparse']) {
      const id = `dag-call-${shape}`
      await run(rogue, `(rogue.send({ k: 'c', i: ${json(id)}, m: 'echo', a: [build.${shape}()] }), 0)`)
      await waitFor(rogue, `${replyTo(id)} !== undefined`)
      expect(await read(rogue, replyTo(id))).toMatchObject({ k: 'e', i: id, e: { n: 'LimitError', c: 'LIMIT' } })
    }
    expect(await read(page, 't.counts.echo')).toBeUndefined()
    expect(await limitRejections(page)).toBe(3)
    // The victim still serves and still calls.
    expect(await rogueGreets(rogue, 'after')).toMatchObject({ k: 'r', v: 'hello rogue' })
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it('a sparse argument list of length 2^32 - 1 is refused before the envelope is parsed (which would walk every hole)', async () => {
    const { page, rogue } = await rogueSession()
    await run(rogue, `(rogue.send({ k: 'c', i: 'sparse-args', m: 'echo', a: build.sparse() }), 0)`)
    await waitFor(rogue, `${replyTo('sparse-args')} !== undefined`)
    expect(await read(rogue, replyTo('sparse-args'))).toMatchObject({ k: 'e', e: { n: 'LimitError', c: 'LIMIT' } })
    expect(await limitRejections(page)).toBe(1)
    expect(await rogueGreets(rogue, 'after')).toMatchObject({ k: 'r', v: 'hello rogue' })
    await page.close()
  })

  it.each(['blanks', 'bigint', 'image', 'bitmap'])(
    '%s as call arguments, to a victim limited to 1 MiB, is refused on receipt',
    async (shape) => {
      const { page, rogue } = await rogueSession({ maxMessageBytes: MiB })
      const id = `cheap-${shape}`
      const value = `await build.${shape}()`
      await run(rogue, `(async () => (rogue.send({ k: 'c', i: ${json(id)}, m: 'echo', a: [${value}] }), 0))()`)
      await waitFor(rogue, `${replyTo(id)} !== undefined`)
      expect(await read(rogue, replyTo(id))).toMatchObject({ k: 'e', e: { n: 'LimitError', c: 'LIMIT' } })
      expect(await read(page, 't.counts.echo')).toBeUndefined()
      expect(await limitRejections(page)).toBe(1)
      await page.close()
    },
  )

  it('a DAG as an event payload is refused on receipt and no listener sees it', async () => {
    const { page, rogue } = await rogueSession()
    // `text` satisfies the event's schema, which would strip the extra key: only the limit stands in the way.
    for (const shape of ['objects', 'arrays']) {
      await run(rogue, `(rogue.send({ k: 'v', m: 'note', d: { text: ${json(shape)}, dag: build.${shape}() } }), 0)`)
    }
    await run(rogue, `(rogue.send({ k: 'v', m: 'note', d: { text: 'after' } }), 0)`)
    // Port messages arrive in order: once 'after' is seen, both DAGs were dealt with.
    await waitFor(page, `t.events.length > 0 && t.events[t.events.length - 1].payload.text === 'after'`)
    expect(await read(page, 't.events')).toEqual([{ name: 'note', payload: { text: 'after' } }])
    expect(await limitRejections(page)).toBe(2)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it("a DAG as the result of the victim's own call (a rogue reply with the real id) rejects it with LimitError", async () => {
    const { page } = await rogueSession()
    for (const shape of ['objects', 'arrays']) {
      const result = await run(page, `attack.call('echo', [${json(shape)}], { timeout: 10000 })`)
      expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
      expect(result.ms).toBeLessThan(3000)
    }
    expect(await limitRejections(page)).toBe(2)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it.each([
    ['blob', 'carrying 2 MiB of data'],
    ['wide', 'whose data is a wide object DAG (6 levels of 30 keys)'],
  ])(
    'an error reply (%s) %s, to a victim limited to 1 MiB, rejects the call with LimitError, not RemoteError',
    async (reply) => {
      const { page } = await rogueSession({ maxMessageBytes: MiB })
      const result = await run(page, `attack.call('echo', [${json(reply)}], { timeout: 10000 })`)
      expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
      expect(result).not.toHaveProperty('data')
      expect(result.ms).toBeLessThan(3000)
      expect(await limitRejections(page)).toBe(1)
      expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
      await page.close()
    },
  )

  it('a handler that throws an Error with a 2 MiB own property, on a side limited to 1 MiB: the error is not sent, the caller gets LimitError', async () => {
    const { page, child } = await pair({}, { maxBytes: String(MiB) })
    const result = await run(page, `attack.call('failBig', [${2 * MiB}], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.message).toMatch(/not sent/)
    expect(result).not.toHaveProperty('data')
    expect(await read(child, 't.counts.failBig')).toBe(1)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it("an array's named properties count: [1] with a 2000-character property fails at the caller under 1024 bytes, and nothing is posted", async () => {
    const { page, child } = await pair({ maxMessageBytes: 1024 })
    const result = await run(page, `attack.call('echo', [Object.assign([1], { big: 'x'.repeat(2000) })])`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.ms).toBeLessThan(500)
    expect(await sentCalls(page)).toEqual(['add'])
    expect(await receivedCalls(child)).toEqual(['add'])
    expect(await read(child, 't.counts')).toEqual({ add: 1 })
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })

  it("an array's named properties count on receipt: from a peer with higher limits, it is refused with LimitError", async () => {
    // The parent keeps its defaults (32 MiB); the child allows 1024 bytes.
    const { page, child } = await pair({}, { maxBytes: '1024' })
    const result = await run(
      page,
      `attack.call('echo', [Object.assign([1], { big: 'x'.repeat(2000) })], { timeout: 10000 })`,
    )
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    expect(result.message).toMatch(/refused/)
    // Refused before anything read it, the trace sink included.
    expect(await receivedCalls(child)).toEqual(['add'])
    expect(await read(child, 't.counts')).toEqual({ add: 1 })
    expect(await limitRejections(child)).toBe(1)
    await page.close()
  })

  it("an array's named properties count on receipt: from a rogue (result, arguments, event), it is refused", async () => {
    const { page, rogue } = await rogueSession({ maxMessageBytes: 1024 })
    // As the result of the victim's call.
    const result = await run(page, `attack.call('echo', ['props'], { timeout: 10000 })`)
    expect(result).toMatchObject({ ok: false, code: 'LIMIT', name: 'LimitError' })
    // As the arguments of a call to the victim; '-1' and '1.5' are names too, not indices.
    for (const name of ['big', '-1', '1.5']) {
      const id = `props-call-${name}`
      await run(rogue, `(rogue.send({ k: 'c', i: ${json(id)}, m: 'echo', a: [build.props(${json(name)})] }), 0)`)
      await waitFor(rogue, `${replyTo(id)} !== undefined`)
      expect(await read(rogue, replyTo(id))).toMatchObject({ k: 'e', e: { n: 'LimitError', c: 'LIMIT' } })
    }
    expect(await read(page, 't.counts.echo')).toBeUndefined()
    // As an event payload (its schema would strip the extra key).
    await run(rogue, `(rogue.send({ k: 'v', m: 'note', d: { text: 'props', extra: build.props() } }), 0)`)
    await run(rogue, `(rogue.send({ k: 'v', m: 'note', d: { text: 'after' } }), 0)`)
    await waitFor(page, `t.events.length > 0 && t.events[t.events.length - 1].payload.text === 'after'`)
    expect(await read(page, 't.events')).toEqual([{ name: 'note', payload: { text: 'after' } }])
    expect(await limitRejections(page)).toBe(5)
    expect(await run(page, `attack.call('add', [2, 2])`)).toMatchObject({ ok: true, value: 4 })
    await page.close()
  })
})
