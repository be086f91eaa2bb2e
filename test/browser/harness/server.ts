import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Static files for the browser tests: pages and the bundles built by global-setup. */
const ROOTS = [
  fileURLToPath(new URL('../.build/', import.meta.url)),
  fileURLToPath(new URL('../pages/', import.meta.url)),
]

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css',
}

/**
 * The page every test starts from. `?b=<bundle>` picks the scenario file
 * (pages/<bundle>.ts, default `scenarios`) and `?s=<scenario>` runs one of its
 * scenarios; `?coop=<value>` sends that Cross-Origin-Opener-Policy;
 * `?title=` names the page so a test can tell frames apart.
 */
function page(url: URL): string {
  const title = (url.searchParams.get('title') ?? 'portcullis test').replace(/[<>&"]/g, '')
  const bundle = (url.searchParams.get('b') ?? 'scenarios').replace(/[^\w-]/g, '')
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body><script src="/lib.js"></script><script src="/${bundle}.js"></script></body></html>`
}

async function serveFile(path: string): Promise<Buffer | undefined> {
  const clean = normalize(path).replace(/^(\.\.[/\\])+/, '')
  for (const root of ROOTS) {
    try {
      return await readFile(join(root, clean))
    } catch {}
  }
  return undefined
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

/** Starts `count` identical servers; each port is a distinct origin. */
export async function startServers(count: number): Promise<{ ports: number[]; close(): Promise<void> }> {
  const servers: Server[] = []
  const ports: number[] = []
  for (let i = 0; i < count; i++) {
    const server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      // `?bfcache=1` leaves no-store out: Chromium keeps no page served with it in the back/forward cache.
      const headers: Record<string, string> = url.searchParams.has('bfcache') ? {} : { 'Cache-Control': 'no-store' }
      const coop = url.searchParams.get('coop')
      if (coop) headers['Cross-Origin-Opener-Policy'] = coop
      if (url.pathname === '/page' || url.pathname === '/') {
        res.writeHead(200, { ...headers, 'Content-Type': TYPES['.html'] as string })
        res.end(page(url))
        return
      }
      const body = await serveFile(url.pathname.slice(1))
      if (body === undefined) {
        res.writeHead(404, headers)
        res.end('not found')
        return
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(url.pathname)] ?? 'application/octet-stream' })
      res.end(body)
    })
    servers.push(server)
    ports.push(await listen(server))
  }
  return {
    ports,
    close: () =>
      Promise.all(
        servers.map((s) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())))),
      ).then(() => {}),
  }
}
