import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

/**
 * The peer's origin for the window.name tests: a server of its own that
 * serves `pages/fallback.ts` minified and alone. Every window.name call loads
 * a fresh responder page, so a light page keeps the tests fast on a busy
 * machine (the harness pages also load the whole library bundle).
 * `/page?s=<scenario>&...` runs a scenario of pages/fallback.ts.
 */
export async function startPeerServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../pages/fallback.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  })
  const script = bundle.outputFiles[0]?.contents ?? new Uint8Array()
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://x')
    const headers = { 'Cache-Control': 'no-store' }
    if (pathname === '/page') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><meta charset="utf-8"><title>peer</title><body><script src="/fallback.js"></script>')
    } else if (pathname === '/fallback.js') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' })
      res.end(script)
    } else {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' })
      res.end('not found')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    // `localhost` is another site than the harness's 127.0.0.1 origins.
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
