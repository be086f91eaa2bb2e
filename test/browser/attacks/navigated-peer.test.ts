/**
 * Property 6: after the peer navigates to a disallowed origin, nothing is
 * sent to it. The new page records every message (and every message on any
 * port) it receives; the parent then calls and emits; nothing arrives, and
 * the call that was pending when the peer left rejects with DisconnectedError.
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

  it('an allowed opaque peer (data: frame) that navigates away: nothing but content-free SYNs reach the new page', async () => {
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

    // The parent can address an opaque peer only with '*': the case where the gate on the way out matters most.
    await navigateAway(child)
    const { inbox, portInbox } = await afterNavigation(page)
    for (const m of inbox) {
      expect(m.ports).toBe(0)
      expect(Object.keys(m.data).sort()).toEqual(['k', 'n', 'pc'])
      expect(m.data.k).toBe('s')
    }
    expect(portInbox).toEqual([])
    await page.close()
  })
})
