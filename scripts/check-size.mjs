#!/usr/bin/env node
// node scripts/check-size.mjs [--dist] [--why]
//
// Size budget of the published entries: each is bundled by esbuild the way a
// user's bundler would (minified, ES2022, browser, zod external because it is
// the user's peer dependency, nanoid bundled as tsup does), then gzipped at
// level 9. Exits 1 when an entry is over its budget, or when importing only
// `connect` and `defineContract` from the core pulls in anything from
// src/fallback/. `--dist` measures the built dist/ files instead of src/
// (run `npm run build` first); `--why` lists every module of every entry.

import { existsSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

// ---- Budgets: bytes of minified + gzip output. The one place to change them. ----
// Issue #7 asks for 3.5 KB for the core. The core measures about 12.9 KB
// (13,202 B on 2026-11-22; the week's review fixes each added a few dozen
// bytes, see the git log of this file, the worker's startup error in the
// handshake's TimeoutError 0.1 KB, and making class members #private,
// which the minifier shortens, took 0.65 KB off): about 2.4 KB of it are the
// error messages that say what to write instead, the rest is the gate with
// subdomain patterns, the handshake with reconnect, limits, the error codec
// with cause chains, batching and trace. Reaching 3.5 KB means dropping
// features or messages, a product decision that is still open; until then
// these budgets sit just above today's sizes so that any growth fails
// `npm test` and has to be argued for.
const CORE = 13_248 // 12.94 KiB; target 3,584
// What portcullis/fallback adds on top of the core (window.name client and
// responder, connectWithFallback, JSONP client, JSONP server helper). It is
// built on the core (connect, Caller, Responder, envelope, errors), so its own
// bytes are the glue and the four features (4,677 B on 2026-11-22, after the
// review fixes: limits on receipt, a guarded JSONP handler, allowedOrigins for
// window.name, early calls that wait without spending their timeout; 4,875 B
// after the sixth session's JSONP handler timeout and transfer fix).
const FALLBACK_INCREMENT = 4_992
const BUDGETS = {
  core: CORE,
  // What a page pays for the common case; it must not pull in src/fallback/ (checked below).
  'core: { connect, defineContract }': CORE,
  // The entry on its own carries the core it is built on.
  fallback: CORE + FALLBACK_INCREMENT,
  'fallback over core (both entries − core)': FALLBACK_INCREMENT,
}
const EXTERNAL = ['zod', 'zod/*']
// ----------------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const useDist = process.argv.includes('--dist')
const why = process.argv.includes('--why')

const coreFile = resolve(ROOT, useDist ? 'dist/index.js' : 'src/index.ts')
const fallbackFile = resolve(ROOT, useDist ? 'dist/fallback/index.js' : 'src/fallback/index.ts')
for (const file of [coreFile, fallbackFile]) {
  if (!existsSync(file)) {
    console.error(`check-size: ${relative(ROOT, file)} is missing${useDist ? ' (run `npm run build` first)' : ''}`)
    process.exit(1)
  }
}

const ENTRIES = [
  { name: 'core', contents: `export * from ${JSON.stringify(coreFile)}` },
  { name: 'fallback', contents: `export * from ${JSON.stringify(fallbackFile)}` },
  {
    name: 'core: { connect, defineContract }',
    contents: `export { connect, defineContract } from ${JSON.stringify(coreFile)}`,
    mustNotInclude: /(^|\/)src\/fallback\/|(^|\/)dist\/fallback\//,
  },
  {
    name: 'fallback over core (both entries − core)',
    contents: `export * from ${JSON.stringify(coreFile)}\nexport * from ${JSON.stringify(fallbackFile)}`,
    minus: 'core',
  },
]

async function measure(entry) {
  const result = await build({
    stdin: { contents: entry.contents, resolveDir: ROOT, sourcefile: `${entry.name}.js`, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    external: EXTERNAL,
    write: false,
    metafile: true,
    logLevel: 'error',
  })
  const code = result.outputFiles[0].contents
  const output = Object.values(result.metafile.outputs)[0]
  const modules = Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .filter((m) => m.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
  return {
    min: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    modules,
    imports: Object.keys(result.metafile.inputs),
  }
}

const kb = (bytes) => `${(bytes / 1024).toFixed(2)} KB`
const rows = []
let failed = false
for (const entry of ENTRIES) {
  const size = await measure(entry)
  const base = entry.minus && rows.find((r) => r.entry.name === entry.minus)?.size
  if (base) {
    size.min -= base.min
    size.gzip -= base.gzip
    const inBase = new Map(base.modules.map((m) => [m.path, m.bytes]))
    size.modules = size.modules
      .map((m) => ({ path: m.path, bytes: m.bytes - (inBase.get(m.path) ?? 0) }))
      .filter((m) => m.bytes > 16) // a few bytes of renamed identifiers are not the module's
      .sort((a, b) => b.bytes - a.bytes)
  }
  const budget = BUDGETS[entry.name]
  const over = budget !== undefined && size.gzip > budget
  const leaked = entry.mustNotInclude ? size.imports.filter((p) => entry.mustNotInclude.test(p)) : []
  failed ||= over || leaked.length > 0
  rows.push({ entry, size, budget, over, leaked })
}

console.log(`Size budget (${useDist ? 'dist/' : 'src/'}, esbuild minify, gzip -9, zod external)\n`)
console.log('| entry | minified | min + gzip | budget | status |')
console.log('| --- | ---: | ---: | ---: | --- |')
for (const { entry, size, budget, over, leaked } of rows) {
  const status = [over ? `OVER by ${kb(size.gzip - budget)}` : 'ok', leaked.length > 0 ? 'PULLS IN FALLBACK' : '']
    .filter(Boolean)
    .join(', ')
  console.log(
    `| ${entry.name} | ${kb(size.min)} | ${kb(size.gzip)} (${size.gzip} B) | ${budget === undefined ? '–' : kb(budget)} | ${status} |`,
  )
}
for (const { entry, size, over, leaked } of rows) {
  if (leaked.length > 0) console.log(`\n${entry.name} pulls in: ${leaked.join(', ')}`)
  if (!(why || over)) continue
  console.log(`\n${entry.name}: minified bytes per module${why ? '' : ' (largest 10)'}`)
  for (const m of why ? size.modules : size.modules.slice(0, 10)) {
    console.log(`  ${String(m.bytes).padStart(7)}  ${((100 * m.bytes) / size.min).toFixed(1).padStart(5)}%  ${m.path}`)
  }
}
if (failed) {
  console.log('\ncheck-size: over budget (budgets are at the top of scripts/check-size.mjs)')
  process.exit(1)
}
