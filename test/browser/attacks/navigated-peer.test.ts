/**
 * Property 6: after the peer navigates to a disallowed origin, nothing is
 * sent to it. The new page records every message (and every message on any
 * port) it receives; the parent then calls and emits; nothing arrives, and
 * the call that was pending when the peer left rejects with DisconnectedError.
 * Property 3, continued: an opaque document never takes a peer's place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
import {
  addAttackFrame,
  attackUrl,
  inlineDocument,
  openAttackPage,
  read,
  run,
  waitFor,
  waitForFrame,
} from './support.js'

let driver: Driver
const { A, B, C, D } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/**
 * The peer has left: a call was pending when it did. Waits for the listener
 * page now in frame 'child', then calls and emits from the parent, posts a
 * probe after them, and returns what the listener received before the probe.
 */
async function afterNavigation(page: PageHandle): Promise<{ listener: Context; inbox: any[]; portInbox: any[] }> {
  // The pending call rejects at once: the session went with the old page.
  await waitFor(page, `t.calls.k.state === 'done'`)
  expect(await read(page, 't.calls.k')).toMatchObject({ ok: false, code: 'DISCONNECTED', name: 'DisconnectedError' })

  const listener = page.frame('child')
  await listener.waitFor(() => (globalThis as any).t?.counts?.provoked === 1)
  expect(await read(listener, 'origin')).toBe(D)
  // The new page provoked the parent with a SYN of each kind; the parent refused both, for their origin.
  await waitFor(
    page,
    `t.rejections.filter((r) => r.origin === ${json(D)} && r.reason === 'origin' && r.fromPeer).length >= 2`,
  )
  expect(await read(page, 't.conn.state')).toBe('reconnecting')
  expect(await read(page, 't.conn.cause')).toBe('origin-changed')

  // The parent calls and emits as if nothing happened.
  await run(page, `(attack.start('after', 'add', [1, 2], { timeout: 300 }), 0)`)
  await run(page, `(t.conn.emit('theme', { mode: 'secret' }), 0)`)
  await run(page, `(attack.start('echo', 'echo', ['secret'], { timeout: 300 }), 0)`)
  // A probe posted after them, to '*': anything portcullis posted to this window would arrive before it.
  await run(page, `(document.getElementById('child').contentWindow.postMessage({ probe: 1 }, '*'), 0)`)
  await waitFor(listener, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
  const inbox = await read<any[]>(listener, 't.inbox.filter((m) => !(m.data && m.data.probe))')
  const portInbox = await read<any[]>(listener, 't.portInbox')

  // The calls made after the peer left are never sent: they time out.
  await waitFor(page, `t.calls.after.state === 'done' && t.calls.echo.state === 'done'`)
  expect(await read(page, 't.calls.after')).toMatchObject({ ok: false, code: 'TIMEOUT' })
  expect(await read(page, 't.calls.echo')).toMatchObject({ ok: false, code: 'TIMEOUT' })
  return { listener, inbox, portInbox }
}

/**
 * The peer navigates itself to a listener page of D. The navigation starts
 * after the script that asks for it has returned: a driver that collects an
 * evaluate() result in a later command (WebKit's) would find the page gone.
 */
async function navigateAway(child: Context): Promise<void> {
  await child.evaluate(
    (url) => {
      setTimeout(() => {
        location.href = url
      })
    },
    attackUrl(D, 'listener', { provoke: '1' }),
  )
}

describe.concurrent('a peer that navigates to a disallowed origin', () => {
  it('navigating itself: nothing is sent to the new page and the pending call rejects with DisconnectedError', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
    await run(page, `(attack.start('k', 'hold', ['k']), 0)`)
    await waitFor(child, `t.counts.hold === 1`)

    await navigateAway(child)
    const { inbox, portInbox } = await afterNavigation(page)
    expect(inbox).toEqual([])
    expect(portInbox).toEqual([])
    await page.close()
  })

  it('leaving without an unload notice (a raw peer, a lost notice): the first message from the new origin ends the session', async () => {
    const { page } = await openAttackPage(driver, A)
    // The rogue completes a real handshake by hand and, unlike portcullis, says nothing when its page goes.
    const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')
    // A call the rogue receives and never answers is pending when it leaves.
    await run(rogue, `(rogue.onCall = (m) => { globalThis.held = m.m }, 0)`)
    await run(page, `(attack.start('k', 'hold', ['k']), 0)`)
    await rogue.waitFor(() => (globalThis as any).held === 'hold')

    await navigateAway(rogue)
    // No notice came over the port: only the new page's SYNs from D tell the parent, which
    // goes 'reconnecting' ('origin-changed') and rejects the pending call at once.
    const { inbox, portInbox } = await afterNavigation(page)
    expect(inbox).toEqual([])
    expect(portInbox).toEqual([])
    await page.close()
  })

  it('with two allowed origins (no single origin to address): still nothing is sent to the new page', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    // Two allowed origins: the parent has no single origin to address, so it must use the one it pinned.
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}, ${json(C)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
    await run(page, `(attack.start('k', 'hold', ['k']), 0)`)
    await waitFor(child, `t.counts.hold === 1`)

    // (A cross-origin sibling cannot do the navigating: Chromium refuses it that permission.)
    const sibling = await addAttackFrame(page, C, 'hostile', {}, 'sibling')
    const refused = await run(
      sibling,
      `(() => { try { parent.frames.child.location.href = ${json(attackUrl(D, 'listener'))}; return 'navigated' } catch (e) { return e.name } })()`,
    )
    expect(refused).toBe('SecurityError')
    await navigateAway(child)
    const { inbox, portInbox } = await afterNavigation(page)
    expect(inbox).toEqual([])
    expect(portInbox).toEqual([])
    await page.close()
  })
})

/** Frame 'child' of `page` now holds the `data:` document `html`, whatever it held before. */
async function replaceWithDataDocument(frame: Context, html: string): Promise<void> {
  await frame.evaluate((h) => {
    setTimeout(() => {
      location.href = `data:text/html,${encodeURIComponent(h)}`
    })
  }, html)
}

/**
 * The document now in frame 'child' (a full peer that calls greet once open)
 * either never connects or connects to a port nobody serves: its greet fails
 * and the parent's handler never runs.
 */
async function newcomerGetsNothing(page: PageHandle): Promise<void> {
  const newcomer = page.frame('child')
  await waitFor(
    newcomer,
    `t !== undefined && t.peer.ready !== 'pending' && (t.peer.ready !== 'open' || t.peer.greet !== undefined)`,
    15_000,
  )
  expect(await read(newcomer, `t.peer.greet !== undefined && t.peer.greet.ok`)).toBe(false)
}

/**
 * An opaque origin names no site: the next document in the peer window,
 * whoever put it there, reports `'null'` too. So an opaque peer gets one
 * session. When it leaves, the connection closes (nothing queued for a
 * reconnect), and a `'null'` document never takes the place of a peer.
 */
describe.concurrent('an opaque origin cannot take over a connection', () => {
  it('an allowed opaque peer (data: frame) that is replaced by another data: document: the connection closes, the newcomer gets nothing and runs nothing', async () => {
    const { page } = await openAttackPage(driver, A)
    await page.evaluate(
      (html) => {
        const iframe = document.createElement('iframe')
        iframe.id = iframe.name = 'child'
        iframe.src = `data:text/html,${encodeURIComponent(html)}`
        document.body.append(iframe)
      },
      inlineDocument(A, 'child', { allow: A }),
    )
    const child = await waitForFrame(page, 'child')
    expect(await read(child, 'origin')).toBe('null')
    await run(
      page,
      `(attack.open({ target: 'child', allow: ['null'], opaque: true, serve: 'host', remote: 'victim' }), 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
    await run(page, `(attack.start('k', 'hold', ['k']), 0)`)
    await waitFor(child, `t.counts.hold === 1`)

    // The newcomer is a full portcullis peer of A's: it handshakes, then calls greet.
    await replaceWithDataDocument(child, inlineDocument(D, 'peer', { allow: A, ct: '3000' }))
    await waitFor(page, `t.conn.state === 'closed'`)
    // The old page's unload notice (on the private port) and the newcomer's SYN (through the
    // window) race, and browsers keep no order between the two: WebKit often delivers the SYN first.
    const cause = await read(page, 't.conn.cause')
    expect(['peer-unloaded', 'origin-changed']).toContain(cause)
    await waitFor(page, `t.calls.k.state === 'done'`)
    expect(await read(page, 't.calls.k')).toMatchObject({ ok: false, code: 'DISCONNECTED', reason: cause })
    // Calls and events made now are refused here, not kept for whoever comes next.
    expect(await run(page, `attack.call('echo', ['secret'])`)).toMatchObject({ ok: false, code: 'DISCONNECTED' })
    await newcomerGetsNothing(page)
    expect(await read(page.frame('child'), 't.portInbox')).toEqual([])
    expect(await read(page.frame('child'), 't.inbox')).toEqual([])
    expect(await read(page, 't.counts.greet')).toBeUndefined()
    await page.close()
  })

  it("allowing ['B', 'null']: a B peer that goes to D, and D that turns its frame into a data: document, is never connected", async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}, 'null'], opaque: true, serve: 'host', remote: 'victim' }), 0)`,
    )
    expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
    await navigateAway(child)
    const listener = page.frame('child')
    await listener.waitFor(() => (globalThis as any).t?.counts?.provoked === 1)
    await waitFor(page, `t.conn.cause === 'origin-changed'`)
    // D cannot pass as B; as an opaque document it would pass the gate's origin check.
    await replaceWithDataDocument(listener, inlineDocument(D, 'peer', { allow: A, ct: '3000' }))
    await waitFor(page, `t.conn.state === 'closed'`)
    expect(await read(page, 't.conn.cause')).toBe('origin-changed')
    await newcomerGetsNothing(page)
    // Refused before it is answered: not even a port that would only hear a close notice.
    expect(await read(page.frame('child'), 't.portInbox')).toEqual([])
    expect(await read(page.frame('child'), 't.inbox')).toEqual([])
    expect(await read(page, 't.counts.greet')).toBeUndefined()
    await page.close()
  })
})
