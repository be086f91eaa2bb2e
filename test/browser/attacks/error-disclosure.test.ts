/**
 * Property 10: errors crossing the wire carry name, message, code and the
 * thrown error's own data; stack traces and file URLs cross only when the
 * answering side set `debug: true`.
 */
import type { Browser, Frame, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, origins } from '../harness/browser.js'
import { addAttackFrame, openAttackPage, read, run } from './support.js'

let browser: Browser
const { A, B } = origins()
const json = JSON.stringify

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})

/** Parent A (with `parentDebug`) and child B (with `childDebug`), the parent tracing the wire. */
async function pair(childDebug: boolean, parentDebug: boolean): Promise<{ page: Page; child: Frame }> {
  const { page } = await openAttackPage(browser, A)
  const child = await addAttackFrame(page, B, 'child', { allow: A, debug: childDebug ? '1' : '0' }, 'child')
  await run(
    page,
    `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true, debug: ${parentDebug} }), 0)`,
  )
  return { page, child }
}

/** The error replies as they crossed the wire, from the parent's trace. */
const wireErrors = (page: Page) =>
  read<any[]>(page, `t.trace.filter((e) => e.direction === 'receive' && e.kind === 'error').map((e) => e.message)`)

const expected = {
  ok: false,
  code: 'REMOTE',
  name: 'RemoteError',
  remoteName: 'PaymentDeclined',
  message: 'card declined',
  data: { code: 'CARD_DECLINED', amount: 42, retryable: false },
  cause: { code: 'REMOTE', name: 'RemoteError', remoteName: 'TypeError', message: 'gateway refused the card' },
}

describe.concurrent('errors on the wire', () => {
  it('carry name, message, code and data, and neither stack nor file URL by default (even with debug on the calling side)', async () => {
    const { page } = await pair(false, true)
    const result = await run(page, `attack.call('fail', ['card declined'])`)
    expect(result).toMatchObject(expected)
    expect(result.remoteStack).toBeUndefined()
    expect(result.cause.remoteStack).toBeUndefined()
    // Nothing of the child's files anywhere in the error (its own local stack names only the parent's).
    expect(json(result)).not.toContain(B)
    // Nor on the wire: no stack field, no URL, in the error or its cause.
    const [wire] = await wireErrors(page)
    expect(wire.e).toMatchObject({ n: 'PaymentDeclined', m: 'card declined', d: expected.data, x: { n: 'TypeError' } })
    expect(wire.e.s).toBeUndefined()
    expect(wire.e.x.s).toBeUndefined()
    expect(json(wire)).not.toMatch(/https?:\/\//)

    // portcullis's own errors keep their class and details, and no stack either.
    const invalid = await run(page, `attack.call('add', ['1', 2])`)
    expect(invalid).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      name: 'ValidationError',
      side: 'remote',
      target: 'arguments',
    })
    expect(invalid.issues[0].path).toEqual([0])
    expect(json(invalid)).not.toContain(B)
    const wires = await wireErrors(page)
    expect(wires).toHaveLength(2)
    expect(json(wires)).not.toMatch(/https?:\/\//)
    await page.close()
  })

  it('carry the stack, with its file URLs, when the answering side set debug: true', async () => {
    const { page } = await pair(true, false)
    const result = await run(page, `attack.call('fail', ['card declined'])`)
    expect(result).toMatchObject(expected)
    expect(result.remoteStack).toContain('PaymentDeclined: card declined')
    expect(result.remoteStack).toContain(`${B}/attacks.js`)
    expect(result.cause.remoteStack).toContain(`${B}/attacks.js`)
    const [wire] = await wireErrors(page)
    expect(wire.e.s).toContain(`${B}/attacks.js`)
    await page.close()
  })
})
