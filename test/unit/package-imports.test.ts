// @vitest-environment node
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// What a user's install must provide for the built package (dist/) to load: every bare
// specifier it imports or requires is a dependency or a peer dependency. nanoid is
// ESM-only and a devDependency, so tsup bundles it (noExternal); zod is the user's.
const root = new URL('../../', import.meta.url)
const dist = fileURLToPath(new URL('dist/', root))
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/** The package a bare specifier names: `zod/mini` is `zod`, `@scope/x/y` is `@scope/x`. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/')

describe('dist/ imports only what a user installs', () => {
  it('every bare import or require in dist/*.js and dist/*.cjs is a dependency or peer dependency', () => {
    expect(existsSync(dist), 'run `npm run build` before this test').toBe(true)
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => /\.c?js$/.test(f))
    expect(files.length).toBeGreaterThanOrEqual(4)
    const specifiers = new Set<string>()
    for (const file of files) {
      const code = readFileSync(`${dist}${file}`, 'utf8')
      for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
        specifiers.add(m[1] as string)
      }
    }
    const bare = [...specifiers].filter(
      (s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s),
    )
    expect(bare.length).toBeGreaterThan(0) // zod/mini, at least: the scan sees imports
    const provided = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
    expect(bare.filter((s) => !provided.has(packageOf(s)))).toEqual([])
  })
})
