import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import {
  type Connection,
  type Contract,
  connect,
  defineContract,
  type EmptyContract,
  type Handlers,
} from '../../src/index.js'

// Unusual contracts end to end, over a MessageChannel: the runtime does what
// the types (test/types/edge-contracts.test-d.ts) say.

const open: Array<Connection<any, any>> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const conn of open.splice(0)) conn.close()
  for (const port of ports.splice(0)) port.close()
})

/** A caller of `contract` and a side serving it with `handlers`. */
function serve<C extends Contract>(contract: C, handlers: Handlers<C>) {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  const caller = connect({ target: port1, remote: contract })
  const server = connect({ target: port2, local: { contract, handlers } })
  open.push(caller, server)
  return { caller: caller as Connection<C, EmptyContract>, server: server as Connection<EmptyContract, C> }
}

/** What a handler was called with, its context replaced by 'ctx' so it compares. */
function record(log: unknown[][]) {
  return (...args: unknown[]): void => {
    log.push(args.map((arg) => (typeof arg === 'object' && arg !== null && 'signal' in arg ? 'ctx' : arg)))
  }
}

describe('arguments: the handler gets them, then its context, where the types put it', () => {
  it('an omitted optional argument before a rest element arrives as undefined', async () => {
    const api = defineContract({
      methods: {
        tag: { input: z.tuple([z.string(), z.number().optional()], z.boolean()), output: z.void() },
      },
    })
    const log: unknown[][] = []
    // Typed [string, number | undefined, ...boolean[], CallContext].
    const { caller } = serve(api, { tag: (...args) => record(log)(...args) })
    const remote = await caller.ready
    await remote.tag('a')
    await remote.tag('a', 1)
    await remote.tag('a', 1, true, false)
    expect(log).toEqual([
      ['a', undefined, 'ctx'],
      ['a', 1, 'ctx'],
      ['a', 1, true, false, 'ctx'],
    ])
  })
})

describe('a hand-written Standard Schema v1', () => {
  it('without `types`: the call goes through with whatever its validate accepts', async () => {
    const anyArgs = {
      '~standard': {
        version: 1 as const,
        vendor: 'handmade',
        validate: (value: unknown) =>
          Array.isArray(value) ? { value: value as unknown[] } : { issues: [{ message: 'not a list' }] },
      },
    }
    const api = defineContract({ methods: { log: { input: anyArgs, output: z.number() } } })
    const { caller } = serve(api, { log: (...args) => args.length })
    const remote = await caller.ready
    await expect(remote.log('a', 1)).resolves.toBe(3)
    await expect(remote.log()).resolves.toBe(1)
  })
})
