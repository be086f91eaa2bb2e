import { describe, expectTypeOf, it } from 'vitest'
import * as z from 'zod'
import { type CallContext, defineContract, type Handlers, type MethodArgs, type RemoteProxy } from '../../src/index.js'

// Findings: each of these failed to type-check before its fix.

describe('a Standard Schema v1 without the optional `types`', () => {
  // The spec makes `types` optional: a hand-written schema may carry only `validate`.
  const anyArgs = {
    '~standard': {
      version: 1 as const,
      vendor: 'handmade',
      validate: (value: unknown) =>
        Array.isArray(value) ? { value: value as unknown[] } : { issues: [{ message: 'not a list' }] },
    },
  }
  const api = defineContract({ methods: { log: { input: anyArgs, output: z.void() } } })

  it('takes any arguments (its validate says what it accepts), not none', () => {
    expectTypeOf<MethodArgs<(typeof api.methods)['log']>>().toEqualTypeOf<unknown[]>()
    const remote = {} as RemoteProxy<typeof api>
    void remote.log('a', 1)
    void remote.log()
    const handlers: Handlers<typeof api> = { log: (...args) => void args }
    expectTypeOf<Handlers<typeof api>['log']>().parameters.toEqualTypeOf<[...unknown[], CallContext]>()
    void handlers
  })
})
