// The shop page (http://127.0.0.1:5173): embeds the checkout widget from
// another site and talks to it through portcullis.
import {
  type ConnectionState,
  connect,
  type PortcullisErrors,
  type Rejection,
  type RemoteProxy,
  type TraceEntry,
} from 'portcullis'
import { jsonpClient, windowNameClient } from 'portcullis/fallback'
import { type Cart, shopApi, type Theme, widgetApi } from './contract.js'
import { byId, euros, h, onClick, readConfig } from './dom.js'
import { shippingApi } from './shipping.js'

const config = readConfig()
const iframe = document.getElementById('widget') as HTMLIFrameElement

const PRODUCTS = [
  { sku: 'mug', name: 'Portcullis mug', price: 12 },
  { sku: 'tee', name: 'Castle T-shirt', price: 25 },
  { sku: 'key', name: 'Brass key', price: 8.5 },
] as const

let cart: Cart = { items: [{ sku: 'mug', name: 'Portcullis mug', price: 12, qty: 1 }] }
let theme: Theme = 'light'

// Panel state, declared before connect() because its hooks may fire at once.
const started = performance.now()
const MAX_LOG_ROWS = 300
let scrollPending = false
const refusedRows = new Map<string, { row: HTMLElement; count: HTMLElement; n: number }>()

const conn = connect({
  target: iframe,
  allowedOrigins: [config.widget],
  remote: widgetApi,
  local: {
    contract: shopApi,
    handlers: {
      getCart: () => cart,
      checkout: ({ cardLast4 }) => placeOrder(cardLast4),
    },
  },
  timeout: 5_000,
  onRejected: (rejection) => showRefused('shop', rejection),
  // Feeds the demo's message log with whole payloads (email, card digits): in production leave trace off, or
  // redact what it records.
  trace: (entry) => logEntry(entry),
})

conn.on('resized', ({ height }) => {
  iframe.style.height = `${height}px`
  byId('widget-height').textContent = `${height}px`
})
conn.on('refused', (rejection) => showRefused('widget', rejection))
conn.onStateChange((state, cause) => {
  showState(state, cause)
  // A reloaded widget starts afresh: give it the shop's theme again.
  if (state === 'open' && cause === 'peer-reloaded') void conn.remote.setTheme(theme).catch(() => {})
})
showState(conn.state, conn.cause)

// ── legacy transports (portcullis/fallback) ────────────────────────────────

// The same widgetApi contract over window.name: each call is a hidden iframe
// on the widget's responder page, which writes the reply to window.name and
// navigates to a blank page on this origin. Request/response only: events and
// the widget's calls to the shop stay on the postMessage connection.
const legacy = windowNameClient(widgetApi, {
  responderUrl: `${config.widget}/responder.html`,
  relayUrl: '/relay.html', // a blank page on this origin
  timeout: 5_000,
})

// A JSONP endpoint on the widget's site (public data only: any origin can read a JSONP response).
const shipping = jsonpClient(`${config.widget}/shipping-rates`, shippingApi, { timeout: 5_000 })

type Transport = 'postMessage' | 'window.name' | 'JSONP'
let transport: Transport = 'postMessage'

const fallbackSwitch = byId<HTMLInputElement>('fallback-switch')
fallbackSwitch.addEventListener('change', () => {
  transport = fallbackSwitch.checked ? 'window.name' : 'postMessage'
  byId('transport').textContent = transport
  logLine('transport', `shop → widget calls now go over ${transport}`)
})
fallbackSwitch.checked = false

/**
 * Runs `call` with the shop → widget proxy that the switch selects: the
 * postMessage connection, or the window.name client. Same contract, same
 * typed proxy, same errors.
 */
function overSelected<T>(call: (conn: { readonly remote: RemoteProxy<typeof widgetApi> }) => T): T {
  return call(transport === 'window.name' ? legacy : conn)
}

onClick('jsonp-rates', () =>
  showCall(
    "rates('FR')",
    shipping.rates('FR'),
    (rates) => rates.map((r) => `${r.carrier} ${euros(r.price)}, ${r.days} d`).join(' · '),
    'JSONP',
  ),
)

// ── host → widget calls ────────────────────────────────────────────────────

onClick('get-profile', () =>
  overSelected((conn) =>
    showCall('getProfile()', conn.remote.getProfile(), (p) => `${p.name} <${p.email}>, member since ${p.memberSince}`),
  ),
)

onClick('toggle-theme', () => {
  const next: Theme = theme === 'light' ? 'dark' : 'light'
  return overSelected((conn) =>
    showCall(`setTheme('${next}')`, conn.remote.setTheme(next), (r) => {
      theme = r.theme
      byId('toggle-theme').textContent = `Switch widget to ${theme === 'light' ? 'dark' : 'light'}`
      return `widget theme is now ${r.theme}`
    }),
  )
})

onClick('bad-theme', () =>
  overSelected((conn) =>
    // TypeScript refuses this call; the cast forces it through to show the runtime check in the widget.
    showCall("setTheme('neon')", (conn.remote.setTheme as (theme: string) => Promise<unknown>)('neon'), String),
  ),
)

onClick('quote-ok', () =>
  overSelected((conn) =>
    showCall(
      "quoteShipping('75001'), timeout 5 s",
      conn.remote.quoteShipping.with({ timeout: 5_000 })('75001'),
      (q) => `${euros(q.price)}, ${q.days} days`,
    ),
  ),
)

onClick('quote-timeout', () =>
  overSelected((conn) =>
    showCall(
      "quoteShipping('75001'), timeout 300 ms",
      conn.remote.quoteShipping.with({ timeout: 300 })('75001'),
      (q) => `${euros(q.price)}, ${q.days} days`,
    ),
  ),
)

onClick('reload', () => {
  // A call in flight when the widget reloads rejects with DisconnectedError (always over postMessage:
  // a window.name call is a page of its own, which a reload of the widget does not touch).
  const inFlight = conn.remote.quoteShipping.with({ timeout: 10_000 })('10115')
  void showCall('quoteShipping(…) in flight during reload', inFlight, (q) => `${euros(q.price)}`, 'postMessage')
  byId('state-history').replaceChildren(stateItem(conn.state, conn.cause))
  iframe.src = `${config.widget}/`
})

// ── the shop: products, cart, orders ───────────────────────────────────────

const productList = byId('products')
for (const product of PRODUCTS) {
  const button = h('button', { type: 'button', 'data-sku': product.sku }, 'Add to cart')
  button.addEventListener('click', () => addToCart(product))
  productList.append(
    h(
      'li',
      { class: 'product' },
      h('span', {}, product.name),
      h('span', { class: 'price' }, euros(product.price)),
      button,
    ),
  )
}

function addToCart(product: (typeof PRODUCTS)[number]): void {
  const existing = cart.items.find((item) => item.sku === product.sku)
  const items = existing
    ? cart.items.map((item) => (item === existing ? { ...item, qty: item.qty + 1 } : item))
    : [...cart.items, { ...product, qty: 1 }]
  cart = { items }
  conn.emit('cartChanged', cart)
  renderCartCount()
}

function renderCartCount(): void {
  byId('cart-count').textContent = String(cart.items.reduce((n, item) => n + item.qty, 0))
}
renderCartCount()

function placeOrder(cardLast4: string): { orderId: string; total: number } {
  const total = cart.items.reduce((sum, item) => sum + item.price * item.qty, 0)
  const orderId = `PC-${Math.floor(1000 + Math.random() * 9000)}`
  byId('orders').prepend(h('li', {}, `Order ${orderId}: ${euros(total)}, card ending ${cardLast4}`))
  cart = { items: [] }
  conn.emit('cartChanged', cart)
  renderCartCount()
  return { orderId, total }
}

// ── panels: results, state, refused messages, message log ─────────────────

/** Shows a call in the results panel, with the transport that carried it (by default the one the switch selects). */
async function showCall<T>(
  label: string,
  call: Promise<T>,
  format: (value: T) => string,
  via: Transport = transport,
): Promise<void> {
  const tag = () => h('span', { class: 'via' }, `via ${via}`)
  const item = h('li', { class: 'pending', 'data-transport': via }, h('code', {}, label), ' ', tag(), ' … waiting')
  byId('results').prepend(item)
  try {
    const value = await call
    item.className = 'ok'
    item.replaceChildren(h('code', {}, label), ' ', tag(), ' → ', format(value))
  } catch (error) {
    item.className = 'error'
    item.replaceChildren(h('code', {}, label), ' ', tag(), ' → ', ...describeError(error))
  }
}

/** Branches on `code`, not `instanceof`: the CommonJS build of portcullis/fallback has its own error classes. */
function describeError(thrown: unknown): Array<Node | string> {
  const error = thrown as PortcullisErrors
  if (error?.code === 'VALIDATION') {
    const checkedBy = error.side === 'remote' ? 'the widget' : 'the shop'
    const issues = error.issues.map((issue) =>
      h('li', {}, h('code', {}, `[${issue.path.map(String).join('.')}]`), ' ', issue.message),
    )
    return [
      h('strong', {}, error.name),
      ` (${error.code}, ${error.target} checked by ${checkedBy}): ${error.message}`,
      h('ul', { class: 'issues' }, ...issues),
    ]
  }
  if (typeof error?.code === 'string') return [h('strong', {}, error.name), ` (${error.code}): ${error.message}`]
  const e = thrown instanceof Error ? thrown : new Error(String(thrown))
  return [h('strong', {}, e.name), `: ${e.message}`]
}

function showState(state: ConnectionState, cause: string): void {
  const badge = byId('state')
  badge.textContent = state
  badge.className = `badge state-${state}`
  byId('state-history').append(stateItem(state, cause))
  logLine('state', `${state} (${cause})`)
}

function stateItem(state: ConnectionState, cause: string): HTMLElement {
  return h('li', { 'data-state': state }, h('strong', {}, state), ` (${cause})`)
}

const REASONS: Record<Rejection['reason'], string> & Record<string, string | undefined> = {
  origin: 'origin not on the allow-list',
  source: 'not the peer window',
  schema: 'not a valid protocol message',
  version: 'unknown protocol version',
  limit: 'too large or too deeply nested',
  'unknown-id': 'reply to no pending call',
  'unknown-method': 'no such method in the contract',
}

/** Counts refused messages in the panel: one each from the shop's own hook, `count` from a widget summary. */
function showRefused(
  who: 'shop' | 'widget',
  rejection: { origin?: string; reason: string; detail?: string; count?: number },
): void {
  const origin = rejection.origin || '(no origin)'
  const key = `${who} ${origin} ${rejection.reason}`
  let entry = refusedRows.get(key)
  if (entry === undefined) {
    const count = h('td', { class: 'count' }, '0')
    const row = h(
      'tr',
      { 'data-who': who, 'data-reason': rejection.reason, 'data-origin': origin },
      h('td', {}, who === 'shop' ? 'shop page' : 'widget'),
      h('td', {}, h('code', {}, origin)),
      h('td', {}, rejection.reason),
      h('td', { class: 'detail' }, rejection.detail || (REASONS[rejection.reason] ?? '')),
      count,
    )
    entry = { row, count, n: 0 }
    refusedRows.set(key, entry)
    byId('refused').append(row)
  }
  entry.n += rejection.count ?? 1
  entry.count.textContent = `× ${entry.n}`
  let total = 0
  for (const e of refusedRows.values()) total += e.n
  byId('refused-total').textContent = String(total)
}

function logEntry(entry: TraceEntry): void {
  const arrow = entry.direction === 'send' ? 'shop → widget' : 'widget → shop'
  const json = JSON.stringify(entry.message) ?? ''
  appendLog(
    { 'data-direction': entry.direction, 'data-kind': entry.kind, 'data-method': entry.method ?? '' },
    arrow,
    entry.kind,
    entry.method ?? '',
    entry.id === undefined ? '' : entry.id.slice(0, 8),
    json.length > 160 ? `${json.slice(0, 159)}…` : json,
  )
}

function logLine(kind: string, text: string): void {
  appendLog({ 'data-kind': kind, class: 'note' }, '', kind, '', '', text)
}

function appendLog(attrs: Record<string, string>, ...cells: string[]): void {
  const log = byId('log')
  const time = `${Math.round(performance.now() - started)} ms`
  log.append(h('tr', attrs, h('td', { class: 'time' }, time), ...cells.map((cell) => h('td', {}, cell))))
  while (log.childElementCount > MAX_LOG_ROWS) log.firstElementChild?.remove()
  // Reading scrollHeight forces a layout: once a frame, not once a row, or a burst of rows stalls the page.
  if (scrollPending) return
  scrollPending = true
  requestAnimationFrame(() => {
    scrollPending = false
    const scroller = byId('log-scroll')
    scroller.scrollTop = scroller.scrollHeight
  })
}

onClick('clear-log', () => byId('log').replaceChildren())
