import type { Client, Contender } from '../shared.js'

/**
 * The floor for a private port: the child hands over a `MessagePort` in one
 * window message (origin and source checked), then every call goes over the
 * port as a bare request/response.
 */
export const rawPort: Contender = {
  name: 'raw-port',
  connect(iframe, childOrigin) {
    const win = iframe.contentWindow as Window
    return new Promise((ready) => {
      const onHello = (event: MessageEvent): void => {
        if (event.origin !== childOrigin || event.source !== win) return
        const port = event.ports[0]
        if (port === undefined) return
        removeEventListener('message', onHello)
        const pending = new Map<number, (value: any) => void>()
        let next = 0
        port.onmessage = (e: MessageEvent) => {
          const data = e.data as { id: number; v: unknown }
          const settle = pending.get(data.id)
          pending.delete(data.id)
          settle?.(data.v)
        }
        const call = (m: string, a: unknown[], transfer: Transferable[] = []): Promise<any> =>
          new Promise((resolve) => {
            const id = next++
            pending.set(id, resolve)
            port.postMessage({ id, m, a }, transfer)
          })
        const client: Client = {
          add: (a, b) => call('add', [a, b]),
          echo: (value) => call('echo', [value]),
          echoBuf: (buf, move) => call('echoBuf', [buf, move], move ? [buf] : []),
          close: () => port.close(),
        }
        ready(client)
      }
      addEventListener('message', onHello)
    })
  },
}
