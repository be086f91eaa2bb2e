import { createServer } from 'node:http'

/**
 * Serves the bench pages from memory. Every response is cross-origin
 * isolated (COOP + COEP + CORP) unless `isolate` is false, so that
 * performance.now() ticks in 5 µs steps instead of 100 µs.
 *
 * Routes: `/parent` (the parent page), `/child?c=<contender>&parent=<origin>`
 * (a child page running that contender), `/<name>.js` (a bundle).
 */
export async function startServers(count, files, { isolate = true } = {}) {
  const servers = []
  const ports = []
  const headers = { 'Cache-Control': 'no-store' }
  if (isolate) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin'
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp'
    headers['Cross-Origin-Resource-Policy'] = 'cross-origin'
  }
  const html = (script) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head><body><script src="/${script}.js"></script></body></html>`
  for (let i = 0; i < count; i++) {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/parent') {
        res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' })
        res.end(html('parent'))
        return
      }
      if (url.pathname === '/child') {
        const name = (url.searchParams.get('c') ?? '').replace(/[^\w-]/g, '')
        res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' })
        res.end(html(`child-${name}`))
        return
      }
      const body = files.get(url.pathname.slice(1))
      if (body === undefined) {
        res.writeHead(404, headers)
        res.end('not found')
        return
      }
      res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' })
      res.end(body)
    })
    await new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    servers.push(server)
    ports.push(server.address().port)
  }
  return {
    ports,
    close: () =>
      Promise.all(servers.map((s) => new Promise((resolve) => (s.closeAllConnections(), s.close(() => resolve()))))),
  }
}
