import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { TestProject } from 'vitest/node'
import { startServers } from './server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    ports: number[]
  }
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/**
 * Bundles the library and every scenario file (each `pages/*.ts` except the
 * shared modules) once, then serves them on four origins.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = new Set(['contracts.ts', 'runner.ts'])
  const entries = readdirSync(here('../pages/')).filter((f) => f.endsWith('.ts') && !shared.has(f))
  await build({
    entryPoints: Object.fromEntries(entries.map((f) => [f.slice(0, -3), here(`../pages/${f}`)])),
    bundle: true,
    format: 'iife',
    target: 'es2022',
    sourcemap: 'inline',
    outdir: here('../.build/'),
    logLevel: 'error',
  })
  const servers = await startServers(4)
  project.provide('ports', servers.ports)
  return () => servers.close()
}
