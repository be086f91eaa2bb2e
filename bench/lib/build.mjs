import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PAGES = resolve(ROOT, 'bench/pages')
const SRC_INDEX = resolve(ROOT, 'src/index.js')
const DIST_INDEX = resolve(ROOT, 'dist/index.js')

export const CONTENDERS = ['raw-window', 'raw-port', 'raw-port-batch', 'portcullis', 'penpal', 'comlink']

/**
 * The bench pages import portcullis from src/ (so `tsc` can check them
 * without a build); this plugin hands esbuild the built dist/index.js
 * instead, which is what users get.
 */
const useDist = {
  name: 'portcullis-dist',
  setup(b) {
    b.onResolve({ filter: /\/src\/index\.js$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path)
      return path === SRC_INDEX ? { path: DIST_INDEX } : undefined
    })
  },
}

/**
 * Bundles the parent page and one child page per contender. `library: 'dist'`
 * (the bench) bundles the built package, minified; `'src'` (the profiler)
 * bundles the sources unminified, with a `// src/...` comment
 * before each module, so samples can be traced back to a source file.
 * Returns a Map of file name -> contents.
 */
export async function buildPages({ library = 'dist' } = {}) {
  if (library === 'dist' && !existsSync(DIST_INDEX)) {
    throw new Error('dist/index.js is missing: run `npm run build` first (npm run bench does)')
  }
  const entryPoints = { parent: resolve(PAGES, 'parent.ts') }
  for (const name of CONTENDERS) entryPoints[`child-${name}`] = resolve(PAGES, `contenders/${name}.child.ts`)
  const result = await build({
    entryPoints,
    bundle: true,
    format: 'iife',
    target: 'es2022',
    platform: 'browser',
    minify: library === 'dist',
    write: false,
    outdir: '/bench-out',
    logLevel: 'error',
    plugins: library === 'dist' ? [useDist] : [],
  })
  const files = new Map()
  for (const file of result.outputFiles) files.set(file.path.slice('/bench-out/'.length), file.contents)
  return files
}

const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length

async function bundleSize(contents, { external = [] } = {}) {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    write: false,
    external,
    logLevel: 'error',
  })
  const code = result.outputFiles[0].contents
  return { min: code.length, gzip: gzip(code) }
}

/**
 * What each contender adds to a page, minified + gzip (level 9): the
 * imports the bench uses, as a page would import them.
 */
export async function contenderSizes() {
  const portcullis = `export { connect, defineContract } from ${JSON.stringify(DIST_INDEX)}`
  // zod external gives a lower bound: the envelope schemas use zod/mini, which
  // an app that uses classic zod (or another Standard Schema library) does not have yet.
  const zodApp = `export * as z from 'zod'`
  const [withZod, zodAlone] = await Promise.all([bundleSize(`${portcullis}\n${zodApp}`), bundleSize(zodApp)])
  return [
    { name: 'raw-window', what: 'hand-written, ~20 lines', min: 0, gzip: 0 },
    { name: 'raw-port', what: 'hand-written, ~25 lines', min: 0, gzip: 0 },
    { name: 'raw-port-batch', what: 'hand-written, ~40 lines', min: 0, gzip: 0 },
    {
      name: 'portcullis',
      what: '{ connect, defineContract }, zod external',
      ...(await bundleSize(portcullis, { external: ['zod', 'zod/*'] })),
    },
    {
      name: 'portcullis, in an app that uses zod',
      what: 'the same, bundled with `import * as z from "zod"`, minus that import alone',
      min: withZod.min - zodAlone.min,
      gzip: withZod.gzip - zodAlone.gzip,
    },
    {
      name: 'portcullis + zod/mini',
      what: 'the same with zod/mini bundled (an app with no zod)',
      ...(await bundleSize(portcullis)),
    },
    {
      name: 'penpal',
      what: '{ connect, WindowMessenger } (v7)',
      ...(await bundleSize(`export { connect, WindowMessenger } from 'penpal'`)),
    },
    {
      name: 'comlink',
      what: '{ wrap, expose, windowEndpoint, transfer } (v4)',
      ...(await bundleSize(`export { wrap, expose, windowEndpoint, transfer } from 'comlink'`)),
    },
  ]
}
