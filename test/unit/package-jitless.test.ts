// @vitest-environment node
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The README tells pages whose CSP forbids eval to call `z.config({ jitless: true })`
// before their schemas are made. This checks, against the built package (dist/) in a
// fresh Node process, that portcullis itself never makes zod probe for eval (its
// envelope is zod/mini, which never compiles), so that advice is enough, and that the
// order matters: zod 4 decides when a `z.object` is made, not when it parses.
const root = fileURLToPath(new URL('../../', import.meta.url))

/** Runs `body` as an ES module in a fresh Node, counting every `new Function` from the start. */
function newFunctionCalls(body: string): number {
  const script = `
    let calls = 0
    globalThis.Function = new Proxy(Function, { construct: (t, a) => (calls++, Reflect.construct(t, a)) })
    const { createRequire } = await import('node:module')
    const require = createRequire(${JSON.stringify(`${root}package.json`)})
    ${body}
    console.log(calls)`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })
  return Number(out.trim())
}

const loadBoth = `
  const core = await import(${JSON.stringify(`${root}dist/index.js`)})
  await import(${JSON.stringify(`${root}dist/fallback/index.js`)})
  require(${JSON.stringify(`${root}dist/index.cjs`)})
  require(${JSON.stringify(`${root}dist/fallback/index.cjs`)})
  const z = await import('zod')`
const makeAndParse = `
  const api = core.defineContract({ methods: { f: { input: z.tuple([]), output: z.object({ name: z.string() }) } } })
  api.methods.f.output.parse({ name: 'x' })`

describe('zod jitless with the built package', () => {
  it('dist/ exists', () => {
    expect(existsSync(`${root}dist/index.js`), 'run `npm run build` before this test').toBe(true)
  })

  it('importing both entries, in both formats, makes zod probe for eval no time', () => {
    expect(newFunctionCalls(loadBoth)).toBe(0)
  })

  it('z.config({ jitless: true }) before the contract is made: no eval at all', () => {
    expect(newFunctionCalls(`${loadBoth}\n z.config({ jitless: true })\n${makeAndParse}`)).toBe(0)
  })

  it('z.config({ jitless: true }) after the contract is made is too late: zod has probed and compiled', () => {
    expect(newFunctionCalls(`${loadBoth}\n${makeAndParse}\n z.config({ jitless: true })`)).toBeGreaterThan(0)
  })
})
