/**
 * Property 3: a sandboxed iframe (origin 'null'), a srcdoc, about:blank or
 * blob: frame, and a data: URL frame are refused unless explicitly allowed,
 * and once allowed the connection is bound to the one target window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
import {
  addAttackFrame,
  attackUrl,
  inlineDocument,
  openAttackPage,
  read,
  rejectionsFrom,
  run,
  waitFor,
  waitForFrame,
  waitRejections,
} from './support.js'

let driver: Driver
const { A, B, D } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

type Kind = 'sandboxed' | 'sandboxed srcdoc' | 'data:' | 'srcdoc' | 'about:blank' | 'blob:'

/**
 * Inserts a frame of `kind` named `name` into `page`, running scenario `s`
 * of the attacks bundle (scripts loaded from `scriptOrigin`).
 */
async function addFrame(
  page: PageHandle,
  kind: Kind,
  name: string,
  s: string,
  params: Record<string, string>,
): Promise<Context> {
  if (kind === 'sandboxed') {
    // A page of the allowed origin itself, sandboxed: its origin is 'null', not B.
    return addAttackFrame(page, B, s, params, name, { sandbox: 'allow-scripts' })
  }
  const html = inlineDocument(B, s, params)
  await page.evaluate(
    ({ kind, name, html }) =>
      new Promise<void>((resolve) => {
        const iframe = document.createElement('iframe')
        iframe.name = iframe.id = name
        if (kind === 'sandboxed srcdoc') {
          iframe.setAttribute('sandbox', 'allow-scripts')
          iframe.srcdoc = html
        } else if (kind === 'srcdoc') iframe.srcdoc = html
        else if (kind === 'data:') iframe.src = `data:text/html,${encodeURIComponent(html)}`
        else if (kind === 'blob:') iframe.src = URL.createObjectURL(new Blob([html], { type: 'text/html' }))
        if (kind === 'about:blank') {
          document.body.append(iframe)
          const doc = iframe.contentDocument as Document
          doc.open()
          doc.write(html)
          doc.close()
          resolve()
          return
        }
        iframe.addEventListener('load', () => resolve(), { once: true })
        document.body.append(iframe)
      }),
    { kind, name, html },
  )
  return waitForFrame(page, name)
}

const cases: Array<{ kind: Kind; origin: () => string }> = [
  { kind: 'sandboxed', origin: () => 'null' },
  { kind: 'sandboxed srcdoc', origin: () => 'null' },
  { kind: 'data:', origin: () => 'null' },
  // These inherit the origin of the page that made them: A, which the parent does not list.
  { kind: 'srcdoc', origin: () => A },
  { kind: 'about:blank', origin: () => A },
  { kind: 'blob:', origin: () => A },
]

describe.concurrent('frames without an origin of their own', () => {
  for (const { kind, origin } of cases) {
    it(`${kind === 'about:blank' ? 'an' : 'a'} ${kind} frame is refused when the parent allows only the widget origin`, async () => {
      const { page } = await openAttackPage(driver, A)
      // The frame runs a real portcullis peer that allows A and tries to call greet.
      const frame = await addFrame(page, kind, 'child', 'peer', { allow: A })
      expect(await read(frame, 'origin')).toBe(origin())
      await run(
        page,
        `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', connectTimeout: 60_000 }), 0)`,
      )
      await waitFor(frame, `t.peer.ready !== 'pending'`)
      expect(await read(frame, 't.peer')).toEqual({ ready: 'TIMEOUT' })

      const before = await rejectionsFrom(page, origin())
      const sent = await run<number>(frame, `attack.burst('parent')`)
      await waitRejections(page, origin(), before + sent, 'origin')
      expect(await read(page, 't.counts')).toEqual({})
      expect(await read(page, 't.conn.state')).toBe('connecting')
      expect(await read(page, 't.states')).toEqual([])
      // The parent addressed its SYN to B: nothing reached the frame.
      await run(page, `(document.getElementById('child').contentWindow.postMessage({ probe: 1 }, '*'), 0)`)
      await waitFor(frame, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
      expect(await read(frame, 't.inbox.length')).toBe(1)
      expect(await read(frame, 't.portInbox')).toEqual([])
      await page.close()
    })
  }

  it("allowedOrigins: ['null'] is refused at connect() without allowOpaqueOrigin", async () => {
    const { page } = await openAttackPage(driver, A)
    await addFrame(page, 'sandboxed', 'child', 'hostile', {})
    const result = await run(
      page,
      `(() => { try { attack.open({ target: 'child', allow: ['null'] }); return 'connected' } catch (e) { return e.name + ': ' + e.message } })()`,
    )
    expect(result).toMatch(/^TypeError: .*allowOpaqueOrigin/)
    await page.close()
  })

  it('a data: URL parent is refused by the child', async () => {
    // The hostile page D makes a data: frame (origin 'null') that frames the real child and attacks it.
    const { page } = await openAttackPage(driver, D)
    const html = inlineDocument(D, 'framer', { child: attackUrl(B, 'child', { allow: A }), childOrigin: B })
    await page.evaluate((html) => {
      const iframe = document.createElement('iframe')
      iframe.name = 'opaque'
      iframe.src = `data:text/html,${encodeURIComponent(html)}`
      document.body.append(iframe)
    }, html)
    const framer = await waitForFrame(page, 'opaque')
    await waitFor(framer, `t.peer.ready !== 'pending'`)
    expect(await read(framer, 't.peer')).toEqual({ ready: 'TIMEOUT' })
    const child = await waitForFrame(page, 'opaque', 'child')
    await waitRejections(child, 'null', await run<number>(framer, `attack.burstSize()`))
    expect(await read(child, 't.counts')).toEqual({})
    expect(new Set(await read(child, 't.rejections.map((r) => r.reason + " " + r.origin)'))).toEqual(
      new Set(['origin null']),
    )
    await run(child, `(parent.postMessage({ probe: 1 }, '*'), 0)`)
    await waitFor(framer, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
    expect(await read(framer, 't.inbox.length')).toBe(1)
    expect(await read(framer, 't.portInbox')).toEqual([])
    await page.close()
  })

  it('allowOpaqueOrigin accepts a sandboxed frame, bound to that one window: another opaque frame is refused', async () => {
    const { page } = await openAttackPage(driver, A)
    const good = await addFrame(page, 'sandboxed', 'good', 'peer', { allow: A, ct: '10000' })
    await run(
      page,
      `(attack.open({ target: 'good', allow: ['null'], opaque: true, serve: 'host', remote: 'victim' }), 0)`,
    )
    await waitFor(good, `t.peer.greet !== undefined`)
    expect(await read(good, 't.peer')).toMatchObject({ ready: 'open', greet: { ok: true, value: 'hello from a peer' } })
    expect(await run(page, `attack.call('add', [1, 2])`)).toMatchObject({ ok: true, value: 3 })

    // Two other opaque windows: a data: frame and a sandboxed srcdoc frame, each a real peer plus a raw burst.
    for (const [kind, name] of [
      ['data:', 'evil1'],
      ['sandboxed srcdoc', 'evil2'],
    ] as const) {
      const evil = await addFrame(page, kind, name, 'peer', { allow: A })
      expect(await read(evil, 'origin')).toBe('null')
      await waitFor(evil, `t.peer.ready !== 'pending'`)
      expect(await read(evil, 't.peer')).toEqual({ ready: 'TIMEOUT' })
      const before = await rejectionsFrom(page, 'null', 'source')
      const sent = await run<number>(evil, `attack.burst('parent')`)
      await waitRejections(page, 'null', before + sent, 'source')
      expect(await read(evil, 't.inbox')).toEqual([])
      expect(await read(evil, 't.portInbox')).toEqual([])
    }
    // Only the bound window ever ran greet, and it still can.
    expect(await read(page, 't.counts')).toEqual({ greet: 1 })
    expect(await run(good, `attack.call('greet', ['again'])`)).toMatchObject({ ok: true, value: 'hello again' })
    expect(await read(page, 't.counts')).toEqual({ greet: 2 })
    expect(await read(page, 't.states')).toEqual(['open:handshake'])
    await page.close()
  })
})
