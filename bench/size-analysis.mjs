#!/usr/bin/env node
// node bench/size-analysis.mjs [--entry src/index.ts] [--terse]
//
// Where the bytes of the core bundle go (esbuild, minified, gzip -9, zod
// external), and what some changes would save, measured rather than guessed:
// every number comes from rebuilding the bundle with the sources rewritten
// in memory (src/ itself is never touched).
//
// - per module: minified bytes in the bundle, and its marginal gzip cost
//   (the bundle with that module's body replaced by empty stubs of its
//   exports, its imports kept alive);
// - what-if: long string literals (error messages, hints) cut to one
//   character. (Class members are #private, which the minifier shortens.)
// - `--terse` applies the what-if first, then breaks the rest down per
//   module: where the bytes would still be once the messages are short.
import { readFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const { values: args } = parseArgs({
  options: { entry: { type: 'string', default: 'src/index.ts' }, terse: { type: 'boolean', default: false } },
})
const ENTRY = resolve(ROOT, args.entry)
const LONG = 12 // string literals longer than this count as "messages"

const sourceOf = (path) => ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true)

/** Rewrites `text` by replacing [start, end) ranges. */
function splice(text, edits) {
  let out = text
  for (const { start, end, by } of [...edits].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, start) + by + out.slice(end)
  }
  return out
}

/** String and template literals longer than LONG, outside imports, exports and property names. */
function longLiterals(sf) {
  const edits = []
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return
    const isLiteral =
      ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)
    const isKey =
      node.parent &&
      (ts.isPropertyAssignment(node.parent) || ts.isPropertyDeclaration(node.parent)) &&
      node.parent.name === node
    if (isLiteral && !isKey && node.getText(sf).length - 2 > LONG && !ts.isLiteralTypeNode(node.parent)) {
      edits.push({ start: node.getStart(sf), end: node.getEnd(), by: '"!"' })
      return
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return edits
}

/**
 * `export` stubs for every value a module exports, so the bundle still links
 * without its code; what the module imported is kept alive, so only the
 * module's own code goes away.
 */
function stubOf(path) {
  const sf = sourceOf(path)
  const lines = []
  const keep = []
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && !st.importClause?.isTypeOnly) {
      const named = st.importClause?.namedBindings
      const allTypes = named && ts.isNamedImports(named) && named.elements.every((e) => e.isTypeOnly)
      if (!allTypes && !st.importClause?.name) {
        lines.push(`import * as __i${keep.length} from ${st.moduleSpecifier.getText(sf)}`)
        keep.push(`__i${keep.length}`)
      }
    }
    const mods = ts.canHaveModifiers(st) ? (ts.getModifiers(st) ?? []) : []
    if (!mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue
    if (ts.isClassDeclaration(st) && st.name) lines.push(`export class ${st.name.text} {}`)
    else if (ts.isFunctionDeclaration(st) && st.name) lines.push(`export function ${st.name.text}() {}`)
    else if (ts.isVariableStatement(st))
      for (const d of st.declarationList.declarations)
        if (ts.isIdentifier(d.name)) lines.push(`export const ${d.name.text} = 0`)
  }
  if (keep.length > 0) lines.push(`globalThis.__keep = [${keep.join(', ')}]`)
  return lines.join('\n')
}

let terse = { rewrite: undefined }

async function bundle(options = {}) {
  const rewrite = (p) => {
    const own = options.rewrite?.(p)
    if (own !== undefined) return own
    return terse.rewrite?.(p)
  }
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    external: ['zod', 'zod/*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins:
      options.rewrite || terse.rewrite
        ? [
            {
              name: 'rewrite',
              setup(b) {
                b.onLoad({ filter: /\/src\/.*\.ts$/ }, (a) => {
                  const contents = rewrite(a.path)
                  return contents === undefined ? undefined : { contents, loader: 'ts' }
                })
              },
            },
          ]
        : [],
  })
  const code = result.outputFiles[0].contents
  const inputs = Object.values(result.metafile.outputs)[0].inputs
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length, inputs }
}

const shortStrings = (p) => {
  const sf = sourceOf(p)
  return splice(sf.getFullText(), longLiterals(sf))
}
if (args.terse) terse = { rewrite: shortStrings }

const base = await bundle()
const modules = Object.entries(base.inputs)
  .filter(([, v]) => v.bytesInOutput > 0)
  .map(([path, v]) => ({ path, abs: resolve(ROOT, path), min: v.bytesInOutput }))
  .sort((a, b) => b.min - a.min)

console.log(
  `# Core bundle: ${relative(ROOT, ENTRY)}, esbuild minify, gzip -9, zod external${args.terse ? ', after the what-if (--terse)' : ''}\n`,
)
console.log(`baseline: ${base.min} B minified, ${base.gzip} B gzip\n`)
console.log('## Per module\n')
console.log('| module | minified B | marginal gzip B | of which long strings, min B |')
console.log('| --- | ---: | ---: | ---: |')
let literalTotal = 0
for (const m of modules) {
  let marginal = '–'
  let strings = '–'
  if (m.path.startsWith('src/')) {
    const stubbed = await bundle({ rewrite: (p) => (p === m.abs ? stubOf(p) : undefined) })
    marginal = String(base.gzip - stubbed.gzip)
    const sf = sourceOf(m.abs)
    const bytes = longLiterals(sf).reduce((n, e) => n + (e.end - e.start), 0)
    literalTotal += bytes
    strings = String(bytes)
  }
  console.log(`| ${m.path} | ${m.min} | ${marginal} | ${strings} |`)
}
console.log(`\nlong string literals (> ${LONG} chars) in the bundled sources: ~${literalTotal} B before minification\n`)

if (args.terse) process.exit(0)
const whatIfs = [['long string literals (messages, hints) cut to one character', { rewrite: shortStrings }]]
console.log('## What-ifs\n')
console.log('| change | minified B | gzip B | gzip saved B |')
console.log('| --- | ---: | ---: | ---: |')
console.log(`| none (baseline) | ${base.min} | ${base.gzip} | 0 |`)
for (const [label, options] of whatIfs) {
  const r = await bundle(options)
  console.log(`| ${label} | ${r.min} | ${r.gzip} | ${base.gzip - r.gzip} |`)
}
