/**
 * Property 10: errors crossing the wire carry name, message, code and the
 * thrown error's own data; stack traces and file URLs cross only when the
 * answering side set `debug: true`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, ENGINE, launch, origins, type PageHandle } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, run } from './support.js'

let driver: Driver
const { A, B } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/** Parent A (with `parentDebug`) and child B (with `childDebug`), the parent tracing the wire. */
async function pair(childDebug: boolean, parentDebug: boolean): Promise<{ page: PageHandle; child: Context }> {
  const { page } = await openAttackPage(driver, A)
  const child = await addAttackFrame(page, B, 'child', { allow: A, debug: childDebug ? '1' : '0' }, 'child')
  await run(
    page,
    `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', trace: true, debug: ${parentDebug} }), 0)`,
  )
  return { page, child }
}

/** The error replies as they crossed the wire, from the parent's trace. */
const wireErrors = (page: PageHandle) =>
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
    // The stack is the thrower's own, verbatim: V8 (Chromium) heads it with `name: message`; SpiderMonkey
    // and JavaScriptCore list only frames (`fail@url:line:col`), so there the name is in remoteName alone.
    if (ENGINE === 'chromium') expect(result.remoteStack).toContain('PaymentDeclined: card declined')
    else expect(result.remoteStack).toMatch(/^\S*@/)
    expect(result.remoteStack).toContain(`${B}/attacks.js`)
    expect(result.cause.remoteStack).toContain(`${B}/attacks.js`)
    const [wire] = await wireErrors(page)
    expect(wire.e.s).toContain(`${B}/attacks.js`)
    await page.close()
  })
})
