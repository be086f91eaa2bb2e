import type { Client, Contender } from '../shared.js'

/**
 * The floor for window messaging: a hand-written request/response over
 * `window.postMessage`, with the two checks any sane receiver makes
 * (`event.origin`, then `event.source`) and nothing else.
 */
export const rawWindow: Contender = {
  name: 'raw-window',
  connect(iframe, childOrigin) {
    const win = iframe.contentWindow as Window
    const pending = new Map<number, (value: any) => void>()
    let next = 0
    const call = (m: string, a: unknown[], transfer: Transferable[] = []): Promise<any> =>
      new Promise((resolve) => {
        const id = next++
        pending.set(id, resolve)
        win.postMessage({ id, m, a }, childOrigin, transfer)
      })
    return new Promise((ready) => {
      const onMessage = (event: MessageEvent): void => {
        if (event.origin !== childOrigin || event.source !== win) return
        const data = event.data as { id: number; v: unknown; ready?: true }
        if (data.ready) {
          ready(client)
          return
        }
        const settle = pending.get(data.id)
        pending.delete(data.id)
        settle?.(data.v)
      }
      const client: Client = {
        add: (a, b) => call('add', [a, b]),
        echo: (value) => call('echo', [value]),
        echoBuf: (buf, move) => call('echoBuf', [buf, move], move ? [buf] : []),
        close: () => removeEventListener('message', onMessage),
      }
      addEventListener('message', onMessage)
    })
  },
}
