import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', 'fallback/index': 'src/fallback/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'browser',
  // zod is the user's (peer dependency); nanoid is ESM-only, so it is bundled
  // and the CJS build never require()s it.
  external: ['zod'],
  noExternal: ['nanoid'],
  treeshake: true,
  // Chunks for CJS too (ESM splits by default): without them each CJS entry
  // bundles its own core, and errors or transfer() marks from `portcullis`
  // go unrecognised in `portcullis/fallback`.
  splitting: true,
})
