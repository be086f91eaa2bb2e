// @vitest-environment node
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

// The published declarations (dist/*.d.ts), seen from a user's project: each
// fixture imports 'portcullis' by name (the package's self-reference, so
// through its `exports`), with `skipLibCheck` off so that our .d.ts are
// checked too, and without @types/node (`types: []`).
const root = fileURLToPath(new URL('../../', import.meta.url))
const fixtures = fileURLToPath(new URL('fixtures/consumer-types/', import.meta.url))

function diagnostics(file: string, compilerOptions: Record<string, unknown>): string {
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      types: [],
      ...compilerOptions,
    },
    root,
  )
  expect(errors).toEqual([])
  const program = ts.createProgram([`${fixtures}${file}`], options)
  return ts.formatDiagnostics(ts.getPreEmitDiagnostics(program), {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => root,
    getNewLine: () => '\n',
  })
}

describe('the published types in a consumer project', () => {
  it('are built', () => {
    expect(existsSync(`${root}dist/index.d.ts`), 'run `npm run build` before this test').toBe(true)
  })

  it("type-check in a worker's code compiled with the webworker lib and no dom", () => {
    expect(diagnostics('worker.ts', { lib: ['ES2022', 'WebWorker'] })).toBe('')
  })

  it('give every error its cause with a lib older than ES2022', () => {
    expect(diagnostics('es2020.ts', { target: 'ES2020', lib: ['ES2020', 'DOM'] })).toBe('')
  })

  it('type-check under the strictest common flags', () => {
    const strict = {
      lib: ['ES2022', 'DOM'],
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noPropertyAccessFromIndexSignature: true,
      noImplicitOverride: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
    }
    expect(diagnostics('strict.ts', strict)).toBe('')
  }, 20_000) // zod's declarations are checked too
})
