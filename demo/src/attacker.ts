// The "attacker" (http://127.0.0.1:5175): an ad frame inside the shop page
// that tries to talk to the shop and to the widget. Every attempt is refused
// by the gate (wrong origin) before its data is even read; nothing answers.
import { connect, PROTOCOL_VERSION } from 'portcullis'
import { shopApi, widgetApi } from './contract.js'
import { byId, h, onClick, readConfig } from './dom.js'

const config = readConfig()
let replies = 0

window.addEventListener('message', () => {
  replies += 1
  byId('replies').textContent = String(replies)
})

function note(text: string, className = ''): void {
  const list = byId('attempts')
  list.prepend(h('li', { class: className }, text))
  while (list.childElementCount > 5) list.lastElementChild?.remove()
}

/** The widget's window, found among the shop's frames (cross-origin access to `frames` is allowed). */
function widgetWindow(): Window | undefined {
  for (let i = 0; i < window.parent.frames.length; i++) {
    const frame = window.parent.frames[i]
    if (frame !== undefined && frame !== window) return frame
  }
  return undefined
}

function attack(): void {
  const shop = window.parent
  const widget = widgetWindow()
  // Forged protocol messages, as a hostile script would write them.
  shop.postMessage({ pc: PROTOCOL_VERSION, k: 's', n: 'attacker-nonce-000000' }, '*')
  shop.postMessage({ k: 'c', i: 'forged-call-000000000', m: 'checkout', a: [{ cardLast4: '6666' }] }, '*')
  note('posted a forged SYN and a forged checkout() call to the shop')
  if (widget) {
    widget.postMessage({ k: 'c', i: 'forged-call-000000001', m: 'getProfile', a: [] }, '*')
    widget.postMessage({ k: 'r', i: 'forged-reply-00000000', v: { name: 'Mallory' } }, '*')
    note('posted a forged getProfile() call and a forged reply to the widget')
  }
  // And the library itself, used against them: the handshake never completes.
  for (const [name, target, remote] of [
    ['shop', shop, shopApi],
    ['widget', widget, widgetApi],
  ] as const) {
    if (!target) continue
    const origin = name === 'shop' ? config.host : config.widget
    const conn = connect({ target, allowedOrigins: [origin], remote, connectTimeout: 2_000 })
    note(`connect() to the ${name}: sending SYNs…`)
    conn.ready.then(
      () => note(`connected to the ${name}?!`, 'error'),
      (error: Error) => note(`connect() to the ${name}: ${error.name}, nobody answered`, 'ok'),
    )
  }
}

onClick('attack', attack)
attack()
