// The checkout widget (http://localhost:5174), framed by the shop. Its server
// sends `Content-Security-Policy: frame-ancestors <shop>`, so no other site
// can frame it; portcullis makes sure no other window can talk to it.
import { connect, type Rejection } from 'portcullis'
import { type Cart, shopApi, Theme, widgetApi } from './contract.js'
import { byId, euros, h, onClick, readConfig } from './dom.js'
import { THEME_CHANNEL } from './widget-theme.js'

const config = readConfig()

if (window.parent === window) {
  byId('status').textContent = `This widget runs inside the shop: open ${config.host}/`
} else {
  start()
}

// onRejected runs once per refused message: reporting each one to the shop would turn a flood
// of this window into a flood of the shop (SECURITY.md §9). Refusals are counted per origin and
// reason and reported as one summary per key about every 500 ms; past MAX_REFUSAL_KEYS origins
// they are counted per reason only, so a flood from many origins cannot grow the map.
const REFUSAL_REPORT_MS = 500
const MAX_REFUSAL_KEYS = 32
const OTHER_ORIGINS = '(other origins)'

function start(): void {
  const refusals = new Map<string, { origin: string; reason: string; detail: string; count: number }>()
  let reportTimer: ReturnType<typeof setTimeout> | undefined

  const countRefusal = ({ origin = '', reason, detail = '' }: Rejection): void => {
    const key = `${reason} ${origin}`
    const folded = !refusals.has(key) && refusals.size >= MAX_REFUSAL_KEYS
    const entry = refusals.get(folded ? `${reason} ${OTHER_ORIGINS}` : key)
    if (entry !== undefined) entry.count += 1
    else if (folded) refusals.set(`${reason} ${OTHER_ORIGINS}`, { origin: OTHER_ORIGINS, reason, detail: '', count: 1 })
    else refusals.set(key, { origin, reason, detail, count: 1 })
    reportTimer ??= setTimeout(reportRefusals, REFUSAL_REPORT_MS)
  }

  const reportRefusals = (): void => {
    reportTimer = undefined
    // Emitting after close throws; whatever was counted then has no one to go to.
    if (conn.state !== 'closed') for (const summary of refusals.values()) conn.emit('refused', summary)
    refusals.clear()
  }

  const conn = connect({
    target: window.parent,
    allowedOrigins: [config.host],
    remote: shopApi,
    local: {
      contract: widgetApi,
      handlers: {
        getProfile: () => ({ name: 'Ada Lovelace', email: 'ada@example.com', memberSince: 1843 }),
        setTheme: (theme) => {
          document.documentElement.dataset.theme = theme
          return { theme }
        },
        quoteShipping: (postcode, { signal }) =>
          new Promise((resolve, reject) => {
            const note = h('li', {}, `quote for ${postcode}: working…`)
            byId('activity').prepend(note)
            // Aborted before the handler ran: no abort event will come.
            if (signal.aborted) {
              note.textContent = `quote for ${postcode}: cancelled by the shop`
              reject(signal.reason)
              return
            }
            const timer = setTimeout(() => {
              signal.removeEventListener('abort', onAbort)
              note.textContent = `quote for ${postcode}: sent`
              resolve({ price: 4.9, days: 2 })
            }, 1_500)
            // Fires when the caller times out or aborts: stop working.
            const onAbort = () => {
              clearTimeout(timer)
              note.textContent = `quote for ${postcode}: cancelled by the shop`
              reject(signal.reason)
            }
            signal.addEventListener('abort', onAbort, { once: true })
          }),
      },
    },
    // Tell the shop what this side's gate refused, for the demo's panel (counted, then reported in batches).
    onRejected: countRefusal,
  })

  // setTheme called over window.name runs in this site's responder page, which tells this one.
  new BroadcastChannel(THEME_CHANNEL).addEventListener('message', ({ data }: MessageEvent<unknown>) => {
    const theme = Theme.safeParse(data)
    if (!theme.success) return
    document.documentElement.dataset.theme = theme.data
    byId('activity').prepend(h('li', {}, `theme ${theme.data}, set over window.name`))
  })

  conn.onStateChange((state) => {
    byId('status').textContent = state === 'open' ? `connected to ${config.host}` : state
    if (state === 'closed') {
      clearTimeout(reportTimer)
      reportTimer = undefined
      refusals.clear()
    }
  })
  conn.on('cartChanged', renderCart)
  conn.remote.getCart().then(renderCart, (error) => {
    byId('status').textContent = `could not load the cart: ${error}`
  })

  // Report the content height whenever it changes; the shop sizes the iframe.
  let reported = -1
  new ResizeObserver(() => {
    const height = Math.ceil(document.body.getBoundingClientRect().height)
    if (height !== reported) conn.emit('resized', { height: (reported = height) })
  }).observe(document.body)

  onClick('pay', async () => {
    const card = byId<HTMLInputElement>('card').value.slice(-4)
    const outcome = byId('outcome')
    try {
      const { orderId, total } = await conn.remote.checkout({ cardLast4: card })
      outcome.className = 'ok'
      outcome.textContent = `Paid ${euros(total)}: order ${orderId}`
    } catch (error) {
      outcome.className = 'error'
      outcome.textContent = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    }
  })
}

function renderCart(cart: Cart): void {
  const rows = cart.items.map((item) =>
    h(
      'li',
      { 'data-sku': item.sku },
      h('span', {}, `${item.qty} × ${item.name}`),
      h('span', {}, euros(item.price * item.qty)),
    ),
  )
  byId('cart').replaceChildren(...(rows.length > 0 ? rows : [h('li', { class: 'muted' }, 'Your cart is empty')]))
  byId('total').textContent = euros(cart.items.reduce((sum, item) => sum + item.price * item.qty, 0))
  byId<HTMLButtonElement>('pay').disabled = cart.items.length === 0
}
