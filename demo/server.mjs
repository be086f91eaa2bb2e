// The portcullis demo server: plain Node `http`, three origins on loopback.
//
//   shop (host page)  http://127.0.0.1:5173   embeds the widget and the "ad"
//   checkout widget   http://localhost:5174   another site; only the shop may frame it
//   attacker ("ad")   http://127.0.0.1:5175   a third origin that tries to talk to both
//
// The widget's site also serves /responder.html (portcullis/fallback's
// window.name responder, framed by the shop) and /shipping-rates (a JSONP
// endpoint built with `jsonpHandler`); the shop's site serves /relay.html, the
// blank page the window.name replies come back through.
//
// Run `npm run demo` (builds the library, then starts this file). Ports:
// DEMO_PORTS=6173,6174,6175, or PORT=6173 (then 6174 and 6175), or
// DEMO_PORTS=0 / PORT=0 for free ports. Tests import `startDemo()`.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const DEMO_DIR = dirname(fileURLToPath(import.meta.url))
const PACKAGE_DIR = resolve(DEMO_DIR, '..')
export const DEFAULT_PORTS = Object.freeze([5173, 5174, 5175])

const SITES = [
  { name: 'host', hostname: '127.0.0.1', page: 'host.html', extra: { '/relay.html': 'relay' } },
  { name: 'widget', hostname: 'localhost', page: 'widget.html', extra: { '/responder.html': 'responder' } },
  // Another origin but the shop's site (ports separate neither sites nor cookies): a real ad lives on another
  // site, and framed with sandbox="allow-scripts" it would speak from origin 'null', refused all the same.
  { name: 'attacker', hostname: '127.0.0.1', page: 'attacker.html', extra: {} },
]
/** Pages other than each site's `/`: name → file in public/. */
const EXTRA_PAGES = { relay: 'relay.html', responder: 'responder.html' }
/** Bundles built from demo/src/<name>.ts, served at /<name>.js on the site named in `site`. */
const BUNDLES = [
  { name: 'host', site: 'host' },
  { name: 'widget', site: 'widget' },
  { name: 'attacker', site: 'attacker' },
  { name: 'responder', site: 'widget' },
]
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Bundles demo/src/{host,widget,attacker,responder}.ts in memory. They import the
 * library as a user would (`from 'portcullis'`): esbuild resolves the
 * package's own `exports` (a self-reference), that is the built dist/.
 */
async function buildBundles() {
  if (!existsSync(join(PACKAGE_DIR, 'dist/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm run demo` does both)')
  }
  const result = await build({
    entryPoints: Object.fromEntries(BUNDLES.map(({ name }) => [name, join(DEMO_DIR, `src/${name}.ts`)])),
    absWorkingDir: PACKAGE_DIR,
    // Not the repository's tsconfig.json: `paths` there (for typechecking
    // without dist/) must not send `portcullis` to src/ in the bundles.
    tsconfigRaw: { compilerOptions: { target: 'ES2022', verbatimModuleSyntax: true } },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'linked',
    write: false,
    outdir: join(DEMO_DIR, 'dist'),
    logLevel: 'silent',
  })
  const files = new Map()
  for (const file of result.outputFiles) files.set(`/${file.path.split(/[\\/]/).pop()}`, file.contents)
  return files
}

/**
 * Loads demo/src/shipping.ts (the JSONP endpoint's contract, also bundled
 * into the shop page) in Node: esbuild compiles it, and its imports of
 * `portcullis` and `zod` point at the very modules Node resolves for this
 * file, so the contract and `jsonpHandler` (from `portcullis/fallback`, the
 * built dist/) share one copy of each.
 */
async function loadShippingContract() {
  const result = await build({
    entryPoints: [join(DEMO_DIR, 'src/shipping.ts')],
    absWorkingDir: PACKAGE_DIR,
    tsconfigRaw: { compilerOptions: { target: 'ES2022', verbatimModuleSyntax: true } },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'packages-by-url',
        setup(plugin) {
          plugin.onResolve({ filter: /^[^./]/ }, ({ path }) => ({ path: import.meta.resolve(path), external: true }))
        },
      },
    ],
  })
  const code = result.outputFiles[0].text
  const [contract, fallback] = await Promise.all([
    import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`),
    import('portcullis/fallback'),
  ])
  return { shippingApi: contract.shippingApi, jsonpHandler: fallback.jsonpHandler }
}

/** Public shipping rates by country (JSONP is readable by any origin: nothing secret here). */
const RATES = {
  FR: [
    { carrier: 'La Poste Colissimo', price: 6.9, days: 2 },
    { carrier: 'DHL Express', price: 14.5, days: 1 },
  ],
  DE: [
    { carrier: 'DHL Paket', price: 7.5, days: 3 },
    { carrier: 'UPS Express', price: 16, days: 1 },
  ],
}

/**
 * The JSONP endpoint of the widget's site, `GET /shipping-rates?method=rates&args=["FR"]&callback=…`,
 * built with `jsonpHandler` from `portcullis/fallback`.
 */
function shippingEndpoint({ shippingApi, jsonpHandler }, origins) {
  return jsonpHandler(
    shippingApi,
    {
      // `country` is already checked against the contract's schema here.
      rates: (country) => RATES[country] ?? [{ carrier: 'Portcullis Post', price: 19, days: 7 }],
    },
    // Best effort only (Referer / Sec-Fetch-Site): any page could still read a JSONP response.
    { allowedOrigins: [origins.host] },
  )
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

function contentSecurityPolicy(site, origins) {
  const common = "default-src 'self'; script-src 'self'; style-src 'self'; base-uri 'none'; object-src 'none'"
  switch (site.name) {
    case 'host': {
      // Scripts: its own, plus the one JSONP endpoint (an exact path). Frames:
      // the widget's site (the widget and its window.name responder), the ad,
      // and 'self' for the blank relay page that window.name replies come back through.
      const scripts = `script-src 'self' ${origins.widget}/shipping-rates`
      const frames = `frame-src 'self' ${origins.widget} ${origins.attacker}`
      return `${common.replace("script-src 'self'", scripts)}; ${frames}; frame-ancestors 'none'`
    }
    case 'widget':
      // Only the shop may frame the widget (clickjacking defence, and the
      // first gate: no other page can even hold a reference to this window).
      return `${common}; frame-ancestors ${origins.host}`
    default:
      return `frame-ancestors ${origins.host}`
  }
}

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Fills `{{host}}`, `{{widget}}` and `{{attacker}}` with the origins actually bound. */
function render(template, origins) {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key) => (origins[key] ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]))
}

function handler(site, origin, files, origins) {
  const expectedHost = new URL(origin).host
  const scripts = new Set(BUNDLES.filter((bundle) => bundle.site === site.name).map(({ name }) => `/${name}.js`))
  return (req, res) => {
    // No page of the demo needs to tell another where it was loaded from (the window.name and
    // JSONP clients set the referrer policy of their own elements where they need one).
    const headers = {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    }
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { ...headers, ...(type ? { 'Content-Type': type } : {}), ...extra })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, TYPES['.html'], 'method not allowed')
    // Each site lives at exactly one origin: http://127.0.0.1:5174 redirects
    // to http://localhost:5174, and unknown host names (DNS rebinding) are refused.
    const host = req.headers.host ?? ''
    if (host !== expectedHost) {
      const name = host.replace(/:\d+$/, '')
      if (!LOOPBACK_NAMES.has(name)) return send(421, TYPES['.html'], 'misdirected request')
      return send(308, undefined, '', { Location: `${origin}${req.url ?? '/'}` })
    }
    const path = new URL(req.url ?? '/', origin).pathname
    if (path === '/' || path === '/index.html') {
      const csp = contentSecurityPolicy(site, origins)
      // The shop is the top-level page: a window it opens, or that opens it, on another origin gets no reference
      // to it. COEP stays off: it would need Cross-Origin-Resource-Policy on the widget's site and the JSONP endpoint.
      const isolation = site.name === 'host' ? { 'Cross-Origin-Opener-Policy': 'same-origin' } : {}
      return send(200, TYPES['.html'], render(files.pages[site.name], origins), {
        'Content-Security-Policy': csp,
        ...isolation,
      })
    }
    if (path in site.extra) {
      const page = site.extra[path]
      // The relay page runs nothing and is framed by the shop only; the responder
      // gets the widget's policy (only the shop may frame it).
      const csp = page === 'relay' ? "default-src 'none'; frame-ancestors 'self'" : contentSecurityPolicy(site, origins)
      return send(200, TYPES['.html'], render(files.pages[page], origins), { 'Content-Security-Policy': csp })
    }
    if (site.name === 'widget' && path === '/shipping-rates') return files.shipping(req, res)
    if (scripts.has(path) || scripts.has(path.replace(/\.map$/, ''))) {
      return send(200, TYPES[path.endsWith('.map') ? '.map' : '.js'], files.bundles.get(path))
    }
    if (path === '/style.css') return send(200, TYPES['.css'], files.css)
    if (path === '/favicon.ico') return send(204, undefined, '')
    return send(404, TYPES['.html'], 'not found')
  }
}

function listen(server, port, address) {
  return new Promise((resolve, reject) => {
    const onError = (error) => reject(error)
    server.once('error', onError)
    server.listen(port, address, () => {
      server.off('error', onError)
      resolve(server.address().port)
    })
  })
}

/**
 * Builds the bundles and starts the three servers. `ports` are the host,
 * widget and attacker ports; 0 picks a free one. Resolves with the origins
 * actually bound and a `close()`.
 *
 * @param {{ ports?: readonly number[], warn?: (message: string) => void }} [options]
 */
export async function startDemo({ ports = DEFAULT_PORTS, warn = console.warn } = {}) {
  const bundles = await buildBundles()
  const shipping = await loadShippingContract()
  const read = (file) => readFile(join(DEMO_DIR, 'public', file), 'utf8')
  const files = {
    bundles,
    css: await read('style.css'),
    pages: Object.fromEntries(
      await Promise.all(
        [...SITES.map(({ name, page }) => [name, page]), ...Object.entries(EXTRA_PAGES)].map(async ([name, page]) => [
          name,
          await read(page),
        ]),
      ),
    ),
    /** Set once the origins are known (the JSONP endpoint's best-effort origin check needs the shop's). */
    shipping: undefined,
  }
  const origins = {}
  const servers = []
  const close = () =>
    Promise.all(
      servers.map((server) => new Promise((done) => (server.closeAllConnections(), server.close(() => done())))),
    ).then(() => {})
  try {
    for (const [index, site] of SITES.entries()) {
      const requested = ports[index] ?? 0
      // The handler needs the bound port; nothing can connect before listen() resolves.
      let handle = (_req, res) => res.writeHead(503).end()
      const routes = (req, res) => handle(req, res)
      const v4 = createServer(routes)
      servers.push(v4)
      let port
      try {
        port = await listen(v4, requested, '127.0.0.1')
      } catch (error) {
        if (error.code === 'EADDRINUSE') {
          throw new Error(
            `port ${requested} (${site.name}) is in use; is the demo already running? Pick others with DEMO_PORTS=6173,6174,6175 or DEMO_PORTS=0`,
          )
        }
        throw error
      }
      origins[site.name] = `http://${site.hostname}:${port}`
      // Sites start in order: the shop's origin is known when the widget's endpoint is made.
      if (site.name === 'widget') files.shipping = shippingEndpoint(shipping, origins)
      handle = handler(site, origins[site.name], files, origins)
      // Browsers may resolve `localhost` to ::1 first: listen there too when the machine has IPv6.
      const v6 = createServer(routes)
      try {
        await listen(v6, port, '::1')
        servers.push(v6)
      } catch (error) {
        if (error.code === 'EADDRINUSE' && site.hostname === 'localhost') {
          warn(
            `[::1]:${port} is taken by another program; if ${origins[site.name]} fails, use http://127.0.0.1:${port}`,
          )
        } else if (!['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EADDRINUSE'].includes(error.code)) {
          throw error
        }
      }
    }
  } catch (error) {
    await close()
    throw error
  }
  return {
    urls: { host: `${origins.host}/`, widget: `${origins.widget}/`, attacker: `${origins.attacker}/` },
    close,
  }
}

/** Ports from DEMO_PORTS ("a,b,c" or "0") or PORT (host port; the next two follow, or 0 for all free). */
export function portsFromEnv(env = process.env) {
  const parse = (text) => {
    const port = Number(text.trim())
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a port number: "${text}"`)
    return port
  }
  /** The host port and the two after it (widget, attacker); 0 for three free ones. */
  const fromFirst = (port, name) => {
    if (port === 0) return [0, 0, 0]
    if (port + 2 > 65535) {
      throw new Error(`${name}=${port} leaves no room for the widget and attacker ports after it: pick 65533 or less`)
    }
    return [port, port + 1, port + 2]
  }
  if (env.DEMO_PORTS) {
    const list = env.DEMO_PORTS.split(',').map(parse)
    if (list.length === 1) return fromFirst(list[0], 'DEMO_PORTS')
    if (list.length !== 3) throw new Error('DEMO_PORTS takes three ports (host,widget,attacker) or one')
    return list
  }
  if (env.PORT) return fromFirst(parse(env.PORT), 'PORT')
  return [...DEFAULT_PORTS]
}

async function main() {
  let demo
  try {
    demo = await startDemo({ ports: portsFromEnv() })
  } catch (error) {
    console.error(`portcullis demo: ${error.message}`)
    process.exit(1)
  }
  const { host, widget, attacker } = demo.urls
  console.log(`
  portcullis demo

  Open the shop:   ${host}
  widget (framed): ${widget}
  attacker frame:  ${attacker}

  Press Ctrl-C to stop.
`)
  const stop = () => {
    console.log('  stopping…')
    demo.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
