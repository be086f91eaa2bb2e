/**
 * Property 1: a page of a disallowed origin that frames the child, or is
 * framed by the parent, cannot run any handler, get any reply, or learn that
 * a handler exists (no error reply, no console output).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, ENGINE, launch, origins } from '../harness/driver.js'
import {
  addAttackFrame,
  openAttackPage,
  read,
  rejectionsFrom,
  run,
  unexpectedConsole,
  waitFor,
  waitRejections,
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

/** Every message is a content-free SYN: `{ pc, k: 's', n }` and nothing else. */
function onlySyns(inbox: Array<{ data: any; ports: number }>): boolean {
  return inbox.every(
    (m) => m.ports === 0 && json(Object.keys(m.data).sort()) === json(['k', 'n', 'pc']) && m.data.k === 's',
  )
}

describe.concurrent('a disallowed origin', () => {
  for (const allow of [[A], [A, C]]) {
    it(`that frames the child (child allows ${allow.length === 1 ? 'one origin' : 'two origins'}) runs no handler, gets no reply, sees no console output`, async () => {
      // The hostile top-level page D frames the real child, which expects to be framed by A.
      const { page: hostile, console } = await openAttackPage(driver, D, 'hostile', { adaptive: '1' })
      const child = await addAttackFrame(hostile, B, 'child', { allow: allow.join(',') }, 'child')

      // 1. A real portcullis connection from the hostile page, as if it were the parent.
      await run(
        hostile,
        `(attack.open({ target: 'child', allow: [${json(B)}], remote: 'victim', connectTimeout: 400, timeout: 1000 }), 0)`,
      )
      expect(await run(hostile, `t.conn.ready.then(() => 'open', (e) => e.code)`)).toBe('TIMEOUT')

      // 2. The raw protocol: SYNs, a forged ACK with a port, calls of every kind, replies, events, close.
      const before = await rejectionsFrom(child, D)
      const sent = await run<number>(hostile, `attack.burst('child')`)
      expect(sent).toBe(await run(hostile, `attack.burstSize()`))
      // The child processed (and refused) every one of them...
      await waitRejections(child, D, before + sent)
      const reasons = await read<string[]>(child, 't.rejections.map((r) => r.reason)')
      expect(new Set(reasons)).toEqual(new Set(['origin']))
      // ...and no handler ran.
      expect(await read(child, 't.counts')).toEqual({})

      // A probe posted by the child after it refused the burst arrives after anything it could have answered.
      await run(child, `(parent.postMessage({ probe: 1 }, '*'), 0)`)
      await waitFor(hostile, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
      const inbox = await read<Array<{ data: any; ports: number }>>(
        hostile,
        't.inbox.filter((m) => !(m.data && m.data.probe))',
      )
      if (allow.length === 1) {
        // The child's SYN is addressed to A, so the browser never delivers it to D: D receives nothing at all.
        expect(inbox).toEqual([])
      } else {
        // With two allowed origins the SYN goes to '*': D sees the content-free SYN and nothing else.
        expect(inbox.length).toBeGreaterThan(0)
        expect(onlySyns(inbox)).toBe(true)
        // The adaptive attacker answered each SYN with an ACK and a port: refused like the rest.
        expect(await read(hostile, 't.counts.adapted')).toBeGreaterThan(0)
      }
      // No port the attacker offered was ever used: no fin, no call, no reply.
      expect(await read(hostile, 't.portInbox')).toEqual([])
      expect(await read(child, 't.counts')).toEqual({})
      // Nothing from portcullis on the console of either page (Chromium's own targetOrigin note aside).
      // (null in WebKit: classic WebDriver has no console events, so this one check cannot run there.)
      if (ENGINE !== 'webkit') expect(unexpectedConsole(console as string[])).toEqual([])
      await hostile.close()
    })
  }

  for (const allow of [[B], [B, C]]) {
    it(`framed by the parent (parent allows ${allow.length === 1 ? 'one origin' : 'two origins'}) runs no handler, gets no reply, sees no console output`, async () => {
      const { page, console } = await openAttackPage(driver, A)
      const frame = await addAttackFrame(page, D, 'peer', { allow: A }, 'child')
      await run(
        page,
        `(attack.open({ target: 'child', allow: ${json(allow)}, serve: 'host', remote: 'victim', connectTimeout: 60_000 }), 0)`,
      )

      // The framed page D runs a real portcullis peer that tries to call greet: its handshake never completes.
      await waitFor(frame, `t.peer.ready !== 'pending'`)
      expect(await read(frame, 't.peer')).toEqual({ ready: 'TIMEOUT' })
      // Then the raw protocol.
      const before = await rejectionsFrom(page, D)
      const sent = await run<number>(frame, `attack.burst('parent')`)
      await waitRejections(page, D, before + sent)
      const rejections = await read<Array<{ reason: string; fromPeer?: boolean }>>(page, 't.rejections')
      expect(new Set(rejections.map((r) => r.reason))).toEqual(new Set(['origin']))
      // The message came from the target window itself, so the parent knows its peer is on a wrong origin.
      expect(rejections.every((r) => r.fromPeer === true)).toBe(true)
      expect(await read(page, 't.counts')).toEqual({})

      await run(page, `(document.getElementById('child').contentWindow.postMessage({ probe: 1 }, '*'), 0)`)
      await waitFor(frame, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
      const inbox = await read<Array<{ data: any; ports: number }>>(
        frame,
        't.inbox.filter((m) => !(m.data && m.data.probe))',
      )
      if (allow.length === 1) expect(inbox).toEqual([])
      else {
        expect(inbox.length).toBeGreaterThan(0)
        expect(onlySyns(inbox)).toBe(true)
      }
      expect(await read(frame, 't.portInbox')).toEqual([])
      // The parent's own handshake never completed.
      expect(await read(page, 't.conn.state')).toBe('connecting')
      expect(await read(page, 't.states')).toEqual([])
      expect(await read(page, 't.counts')).toEqual({})
      // (null in WebKit: classic WebDriver has no console events, so this one check cannot run there.)
      if (ENGINE !== 'webkit') expect(unexpectedConsole(console as string[])).toEqual([])
      await page.close()
    })
  }
})
