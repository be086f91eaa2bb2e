/**
 * Property 2: a second window of an ALLOWED origin (another frame, popup or
 * tab of that origin that is not the pinned peer) cannot run a handler or
 * inject a reply: the gate checks `event.source` as well as `event.origin`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
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
const { A, B } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Parent A and child B, connected both ways (both traced); one call made. */
async function connected(): Promise<{ page: PageHandle; child: Context }> {
  const { page } = await openAttackPage(driver, A)
  const child = await addAttackFrame(page, B, 'child', { allow: A, trace: '1' }, 'child')
  await run(
    page,
    `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true }), 0)`,
  )
  expect(await run(page, `attack.call('add', [1, 1])`)).toMatchObject({ ok: true, value: 2 })
  return { page, child }
}

/** Starts `hold(key)` from `caller` and returns its call id, once the callee's handler runs. */
async function pendingCall(caller: Context, callee: Context, key: string): Promise<string> {
  await run(caller, `(attack.start(${json(key)}, 'hold', [${json(key)}]), 0)`)
  await waitFor(callee, `t.counts.hold === 1`)
  const [id] = await run<string[]>(caller, `attack.sentCallIds('hold')`)
  expect(id).toMatch(/^[\w-]{10}[0-9a-z]+$/)
  return id as string
}

/** `opener` (the page or one of its frames) opens `url` with window.open (no user gesture): the popup, once its bundle is there. */
async function openPopup(opener: Context, page: PageHandle, url: string): Promise<PageHandle> {
  const popup = await page.popup(() => run(opener, `(window.open(${json(url)}, '_blank'), 0)`))
  await popup.waitFor(() => (globalThis as any).attack !== undefined)
  return popup
}

describe.concurrent('another window of the allowed origin', () => {
  it('a second iframe of the child origin cannot run a parent handler or answer the pending call', async () => {
    const { page, child } = await connected()
    const id = await pendingCall(page, child, 'k')

    // The twin is a real portcullis peer of the right origin, in the wrong window.
    const twin = await addAttackFrame(page, B, 'peer', { allow: A }, 'twin')
    await waitFor(twin, `t.peer.ready !== 'pending'`)
    expect(await read(twin, 't.peer')).toEqual({ ready: 'TIMEOUT' })

    // Then the raw protocol, with the real id of the pending call leaked to it.
    const before = await rejectionsFrom(page, B, 'source')
    const sent = await run<number>(twin, `attack.burst('parent', ${json([id])})`)
    await waitRejections(page, B, before + sent, 'source')
    // Refused for the window it came from, never for its (allowed) origin.
    expect(await rejectionsFrom(page, B, 'origin')).toBe(0)
    expect(await read(page, 't.counts')).toEqual({})
    expect(await read(page, 't.calls.k')).toEqual({ state: 'pending' })
    expect(await read(twin, 't.inbox')).toEqual([])
    expect(await read(twin, 't.portInbox')).toEqual([])

    // The real answer still settles the call, and the connection never wavered.
    await run(child, `(attack.release('k'), 0)`)
    await waitFor(page, `t.calls.k.state === 'done'`)
    expect(await read(page, 't.calls.k')).toMatchObject({ ok: true, value: 'released k' })
    expect(await run(page, `attack.call('add', [2, 3])`)).toMatchObject({ ok: true, value: 5 })
    expect(await read(page, 't.states')).toEqual(['open:handshake'])
    await page.close()
  })

  it('a popup of the child origin, opened by the child, cannot reach the parent', async () => {
    const { page, child } = await connected()
    const id = await pendingCall(page, child, 'k')
    const popup = await openPopup(child, page, attackUrl(B, 'hostile'))

    const before = await rejectionsFrom(page, B, 'source')
    const sent = await run<number>(popup, `attack.burst('opener-parent', ${json([id])})`)
    await waitRejections(page, B, before + sent, 'source')
    expect(await read(page, 't.counts')).toEqual({})
    expect(await read(page, 't.calls.k')).toEqual({ state: 'pending' })
    expect(await read(popup, 't.inbox')).toEqual([])
    expect(await read(popup, 't.portInbox')).toEqual([])

    await run(child, `(attack.release('k'), 0)`)
    await waitFor(page, `t.calls.k.state === 'done'`)
    expect(await read(page, 't.calls.k')).toMatchObject({ ok: true, value: 'released k' })
    expect(await read(page, 't.states')).toEqual(['open:handshake'])
    await popup.close()
    await page.close()
  })

  it('a popup of the parent origin, opened by the parent, cannot reach the child', async () => {
    const { page, child } = await connected()
    // This time the child is the caller: its call to the parent is pending.
    const id = await pendingCall(child, page, 'p')
    const popup = await openPopup(page, page, attackUrl(A, 'hostile'))

    const before = await rejectionsFrom(child, A, 'source')
    const sent = await run<number>(popup, `attack.burst('opener-frame:child', ${json([id])})`)
    await waitRejections(child, A, before + sent, 'source')
    expect(await rejectionsFrom(child, A, 'origin')).toBe(0)
    // Only the parent's one legitimate call ever ran in the child.
    expect(await read(child, 't.counts')).toEqual({ add: 1 })
    expect(await read(child, 't.calls.p')).toEqual({ state: 'pending' })
    expect(await read(popup, 't.inbox')).toEqual([])
    expect(await read(popup, 't.portInbox')).toEqual([])

    await run(page, `(attack.release('p'), 0)`)
    await waitFor(child, `t.calls.p.state === 'done'`)
    expect(await read(child, 't.calls.p')).toMatchObject({ ok: true, value: 'released p' })
    expect(await read(child, 't.states')).toEqual(['open:handshake'])
    await popup.close()
    await page.close()
  })
})
