// @vitest-environment node
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

// Reads the built package (dist/), as a CommonJS user gets it: `npm test` builds first.
const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url))
const require = createRequire(import.meta.url)

type Core = typeof import('../../src/index.js')
type Fallback = typeof import('../../src/fallback/index.js')

let core: Core
let fallback: Fallback

beforeAll(() => {
  if (!existsSync(dist('index.cjs')) || !existsSync(dist('fallback/index.cjs'))) {
    throw new Error('dist/ has no CommonJS build: run `npm run build` before this test')
  }
  core = require(dist('index.cjs')) as Core
  fallback = require(dist('fallback/index.cjs')) as Fallback
})

/** A Node response that records what jsonpHandler writes. */
function response() {
  let finish: () => void = () => {}
  const res = {
    body: '',
    done: new Promise<void>((resolve) => {
      finish = resolve
    }),
    writeHead: () => res,
    end(body = '') {
      res.body = body
      finish()
      return res
    },
  }
  return res
}

describe('the CommonJS build', () => {
  // Two copies of the core in the two CJS entries would make `instanceof`
  // and `transfer()` marks disagree between `portcullis` and `portcullis/fallback`.
  it('shares one core between portcullis and portcullis/fallback: a core error thrown in a jsonpHandler keeps its code', async () => {
    const z = require('zod') as typeof import('zod')
    const contract = core.defineContract({ methods: { f: { input: z.tuple([]), output: z.string() } } })
    const handle = fallback.jsonpHandler(contract, {
      f: () => {
        throw new core.TimeoutError('the upstream service took too long')
      },
    })
    const res = response()
    handle({ method: 'GET', url: '/rpc?method=f&args=%5B%5D&callback=cb', headers: {} }, res as never)
    await res.done
    const received: unknown[] = []
    new Function('cb', res.body)((value: unknown) => received.push(value))
    expect(received).toEqual([
      { k: 'e', e: { n: 'TimeoutError', m: 'the upstream service took too long', c: 'TIMEOUT' } },
    ])
  })

  // The README promises `instanceof` across the two entries, in both formats.
  it.each([
    ['CommonJS', () => ({ core, fallback })],
    [
      'ESM',
      async () => ({
        core: (await import(/* @vite-ignore */ dist('index.js'))) as Core,
        fallback: (await import(/* @vite-ignore */ dist('fallback/index.js'))) as Fallback,
      }),
    ],
  ])('%s: an error made by portcullis/fallback is an instance of the classes of portcullis', async (_, load) => {
    const { core, fallback } = await load()
    const z = require('zod') as typeof import('zod')
    const contract = core.defineContract({ methods: { f: { input: z.tuple([z.string()]), output: z.string() } } })
    // Refused before any script is made: the document needs only a URL and a window.
    const document = { baseURI: 'https://shop.example/', defaultView: {} } as unknown as Document
    const remote = fallback.jsonpClient('https://api.example/rpc', contract, { document, maxUrlLength: 100 })
    const error = await remote.f('x'.repeat(200)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(core.LimitError)
    expect(error).toBeInstanceOf(core.PortcullisError)
  })
})
