// @vitest-environment node
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const root = new URL('../../', import.meta.url)
const demoDir = new URL('demo/src/', root)
const demoLines = new Set(
  readdirSync(demoDir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => readFileSync(new URL(f, demoDir), 'utf8').split('\n'))
    .map((line) => line.replace(/\s+\/\/ .*$/, '').trim()),
)

/** The code lines of a README's quick start: no comments, no imports, no blank lines. */
function quickStartLines(file: string): string[] {
  const readme = readFileSync(new URL(file, root), 'utf8')
  const section = readme.split('## Quick start')[1]?.split('\n## ')[0] ?? ''
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
  expect(blocks.length).toBeGreaterThanOrEqual(3)
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.replace(/\s+\/\/ .*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('//') && !line.startsWith('import ') && !line.startsWith('/**'))
}

describe.each(['README.md', 'demo/README.md'])('%s quick start', (file) => {
  it('is the demo code: every line appears in demo/src', () => {
    const missing = quickStartLines(file).filter((line) => !demoLines.has(line))
    expect(missing).toEqual([])
  })
})
