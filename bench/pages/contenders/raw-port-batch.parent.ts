import type { Client, Contender } from '../shared.js'

/**
 * The raw-port floor with portcullis's batching: the requests made in one
 * microtask turn go out as one post, and the child answers them in one. The
 * like-for-like floor for calls in flight, where raw-port posts once per call.
 */
export const rawPortBatch: Contender = {
  name: 'raw-port-batch',
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
        let queue: Array<{ id: number; m: string; a: unknown[] }> = []
        let transfer: Transferable[] = []
        const flush = (): void => {
          port.postMessage(queue, transfer)
          queue = []
          transfer = []
        }
        port.onmessage = (e: MessageEvent) => {
          for (const { id, v } of e.data as Array<{ id: number; v: unknown }>) {
            const settle = pending.get(id)
            pending.delete(id)
            settle?.(v)
          }
        }
        const call = (m: string, a: unknown[], moved: Transferable[] = []): Promise<any> =>
          new Promise((resolve) => {
            const id = next++
            pending.set(id, resolve)
            if (queue.length === 0) queueMicrotask(flush)
            queue.push({ id, m, a })
            transfer.push(...moved)
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
