// The window.name responder of the checkout widget's site
// (http://localhost:5174/responder.html). The shop loads it in a hidden iframe
// with a call in the URL fragment; `serveWindowName` checks that the return
// URL and every embedding page are on the shop's origin, runs the call
// through the same validated RPC layer as `connect()`, writes the reply to
// `window.name` and navigates to the shop's blank relay page. Request and
// response only: no events, and this page cannot call the shop back.
import { serveWindowName } from 'portcullis/fallback'
import { widgetApi } from './contract.js'
import { byId, readConfig } from './dom.js'
import { THEME_CHANNEL } from './widget-theme.js'

const config = readConfig()

const status = serveWindowName({
  contract: widgetApi,
  handlers: {
    getProfile: () => ({ name: 'Ada Lovelace', email: 'ada@example.com', memberSince: 1843 }),
    setTheme: (theme) => {
      // This page is not the visible widget: tell it (same origin, same frame tree).
      const channel = new BroadcastChannel(THEME_CHANNEL)
      channel.postMessage(theme)
      channel.close()
      return { theme }
    },
    quoteShipping: () =>
      new Promise<{ price: number; days: number }>((resolve) =>
        setTimeout(() => resolve({ price: 4.9, days: 2 }), 1_500),
      ),
  },
  // Mandatory: only the shop may call, embed this page and receive the reply.
  allowedOrigins: [config.host],
  onRejected: ({ reason, detail }) => {
    byId('status').textContent = `refused (${reason}): ${detail}`
  },
})

if (status === 'none') byId('status').textContent = 'No request: the shop loads this page in a hidden iframe.'
