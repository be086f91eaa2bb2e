import { describe, expectTypeOf, it } from 'vitest'
import * as z from 'zod'
import { jsonpClient } from '../../src/fallback/index.js'
import { defineContract, type RemoteProxy } from '../../src/index.js'

const api = defineContract({
  methods: { rate: { input: z.tuple([z.string(), z.number()]), output: z.object({ cents: z.number() }) } },
})

describe('jsonpClient', () => {
  it('types both spellings as the contract proxy', () => {
    const urlFirst = jsonpClient('https://api.example/rpc', api, { timeout: 5000 })
    const optionsForm = jsonpClient(api, { url: new URL('https://api.example/rpc') })
    expectTypeOf(urlFirst).toEqualTypeOf<RemoteProxy<typeof api>>()
    expectTypeOf(optionsForm).toEqualTypeOf<RemoteProxy<typeof api>>()
    expectTypeOf(urlFirst.rate).parameters.toEqualTypeOf<[string, number]>()
    expectTypeOf(urlFirst.rate('FR', 2)).resolves.toEqualTypeOf<{ cents: number }>()
  })

  it('refuses a url in the options of the URL-first form, and a missing url in the other', () => {
    // @ts-expect-error the URL is already the first argument
    jsonpClient('https://api.example/rpc', api, { url: 'https://other.example/' })
    // @ts-expect-error the options form needs { url }
    jsonpClient(api, { timeout: 5000 })
  })
})
