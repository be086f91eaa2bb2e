/**
 * Property 10, one hop further: a chain of three origins. The top page A calls
 * the middle frame B (debug off), whose handler calls its own child frame C
 * (debug on) and lets C's error through. B may see C's stack (C chose to
 * reveal it to B); A must not: a nested `RemoteError`'s `remoteStack` is
 * never passed on. And a nested call's `ValidationError` reaches A as a
 * `RemoteError`, never as a refusal of A's own arguments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Context, type Driver, launch, origins, type PageHandle } from '../harness/driver.js'
import { addAttackFrame, attackUrl, openAttackPage, read, run, waitFor } from './support.js'

let driver: Driver
const { A, B, C } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

/**
 * A (tracing the wire) frames B as #middle; B frames C as #inner, C serving
 * victimApi with `debug: true`. Resolves once both connections are open.
 */
async function chain(): Promise<{ page: PageHandle; middle: Context }> {
  const { page } = await openAttackPage(driver, A)
  const inner = attackUrl(C, 'child', { allow: B, debug: '1' })
  const middle = await addAttackFrame(page, B, 'relay', { allow: A, inner, debug: '0' }, 'middle')
  await run(page, `(attack.open({ target: 'middle', allow: [${json(B)}], remote: 'relay', trace: true }), 0)`)
  await waitFor(middle, `t.innerReady === 'open'`)
  await run(page, `t.conn.ready.then(() => 0)`)
  return { page, middle }
}

/** The error replies as they crossed the wire into A, from A's trace. */
const wireErrors = (page: PageHandle) =>
  read<any[]>(page, `t.trace.filter((e) => e.direction === 'receive' && e.kind === 'error').map((e) => e.message)`)

/** Every level of a wire error's `x` cause chain, the error itself first. */
function levels(wire: any): any[] {
  const out: any[] = []
  for (let e = wire; e !== undefined; e = e.x) out.push(e)
  return out
}

/** What B's handler received from C and let through, as it arrives in A: C's fields as data, no stack. */
const nestedFailure = {
  code: 'REMOTE',
  name: 'RemoteError',
  remoteName: 'RemoteError',
  message: 'card declined',
  data: {
    code: 'REMOTE',
    remoteName: 'PaymentDeclined',
    data: { code: 'CARD_DECLINED', amount: 42, retryable: false },
  },
  cause: {
    code: 'REMOTE',
    name: 'RemoteError',
    remoteName: 'RemoteError',
    message: 'gateway refused the card',
    data: { code: 'REMOTE', remoteName: 'TypeError', data: {} },
  },
}

/** The same on the wire from B to A: exactly these fields, no `s`, no `remoteStack` in any `d`. */
const nestedWire = {
  n: 'RemoteError',
  m: 'card declined',
  d: nestedFailure.data,
  x: { n: 'RemoteError', m: 'gateway refused the card', d: nestedFailure.cause.data },
}

/** B did receive C's stacks, with C's file URLs: what A must not be handed. */
async function expectMiddleSawStacks(middle: Context): Promise<void> {
  const caught = await read<any[]>(middle, 't.caught')
  expect(caught).toHaveLength(1)
  expect(caught[0]).toMatchObject({ name: 'RemoteError', remoteName: 'PaymentDeclined' })
  expect(caught[0].remoteStack).toContain(`${C}/attacks.js`)
  expect(caught[0].cause.remoteStack).toContain(`${C}/attacks.js`)
}

/** Nothing of C's stacks in what A received, nor on the wire, at any level of the cause chain. */
function expectNoStack(result: any, wire: any, depth: number): void {
  const chain = levels(wire.e)
  expect(chain).toHaveLength(depth)
  for (const level of chain) {
    expect(level.s).toBeUndefined()
    expect(level.d?.remoteStack).toBeUndefined()
  }
  expect(json(wire)).not.toMatch(/https?:\/\//)
  for (let e = result, i = 0; i < depth; e = e.cause, i++) {
    expect(e.remoteStack).toBeUndefined()
    expect(e.data.remoteStack).toBeUndefined()
  }
  // A's error has a local stack of its own (A's files); nothing of C's or B's.
  expect(json(result)).not.toContain(`${C}/`)
  expect(json(result)).not.toContain(`${B}/`)
}

describe.concurrent('errors through a chain of peers', () => {
  it("do not pass on a nested peer's stack when the middle handler lets the RemoteError through", async () => {
    const { page, middle } = await chain()
    const result = await run(page, `attack.call('relay', ['fail', ['card declined']])`)
    await expectMiddleSawStacks(middle)
    expect(result).toMatchObject({ ok: false, ...nestedFailure })
    expect(result.data).toEqual(nestedFailure.data)
    expect(result.cause.data).toEqual(nestedFailure.cause.data)
    const wires = await wireErrors(page)
    expect(wires).toHaveLength(1)
    expect(wires[0].e).toEqual(nestedWire)
    expectNoStack(result, wires[0], 2)
    await page.close()
  })

  it("do not pass on a nested peer's stack when the middle handler wraps it as a cause", async () => {
    const { page, middle } = await chain()
    const result = await run(page, `attack.call('relayWrapped', ['fail', ['card declined']])`)
    await expectMiddleSawStacks(middle)
    expect(result).toMatchObject({
      ok: false,
      code: 'REMOTE',
      name: 'RemoteError',
      remoteName: 'Error',
      message: 'relay of fail failed',
      data: {},
      cause: nestedFailure,
    })
    expect(result.cause.data).toEqual(nestedFailure.data)
    expect(result.cause.cause.data).toEqual(nestedFailure.cause.data)
    const wires = await wireErrors(page)
    expect(wires).toHaveLength(1)
    expect(wires[0].e).toEqual({ n: 'Error', m: 'relay of fail failed', x: nestedWire })
    expectNoStack(result, wires[0], 3)
    await page.close()
  })

  it("deliver a nested call's ValidationError as a RemoteError, not as a refusal of the caller's arguments", async () => {
    const { page, middle } = await chain()
    // B calls C's add with a string: C's input schema refuses it, and B's handler lets that through.
    const result = await run(page, `attack.call('relay', ['add', ['1', 2]])`)
    const caught = await read<any[]>(middle, 't.caught')
    expect(caught).toHaveLength(1)
    expect(caught[0]).toMatchObject({
      name: 'ValidationError',
      code: 'VALIDATION',
      side: 'remote',
      target: 'arguments',
      method: 'add',
    })
    expect(result).toMatchObject({
      ok: false,
      code: 'REMOTE',
      name: 'RemoteError',
      remoteName: 'ValidationError',
      data: { code: 'VALIDATION', method: 'add', target: 'arguments', side: 'remote' },
    })
    expect(result.message).toMatch(/^invalid arguments for "add" at 0: /)
    expect(result.data.issues).toHaveLength(1)
    expect(result.data.issues[0].path).toEqual([0])
    // Nothing of a ValidationError of A's own call: no side, target, method or issues of its own.
    expect(result.side).toBeUndefined()
    expect(result.target).toBeUndefined()
    expect(result.method).toBeUndefined()
    expect(result.issues).toBeUndefined()
    const [wire] = await wireErrors(page)
    expect(wire.e).toMatchObject({ n: 'ValidationError', d: { code: 'VALIDATION', method: 'add', side: 'remote' } })
    expect(wire.e.c).toBeUndefined()
    expect(wire.e.t).toBeUndefined()
    expect(wire.e.i).toBeUndefined()

    // For contrast, a refusal of A's own arguments by B: a ValidationError naming B's method, and no handler ran.
    const own = await run(page, `attack.call('relay', [42, []])`)
    expect(own).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      name: 'ValidationError',
      side: 'remote',
      target: 'arguments',
      method: 'relay',
    })
    expect(await read(middle, 't.counts.relay')).toBe(1)
    await page.close()
  })
})
