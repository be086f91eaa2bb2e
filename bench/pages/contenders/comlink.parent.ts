import { releaseProxy, transfer, windowEndpoint, wrap } from 'comlink'
import type { Client, Contender } from '../shared.js'

interface ChildApi {
  add(a: number, b: number): number
  echo(value: unknown): unknown
  echoBuf(buf: ArrayBuffer, move: boolean): ArrayBuffer
}

/**
 * Comlink 4 over the window, as its docs show for iframes (`windowEndpoint`).
 * Comlink has no handshake: the child says it has exposed its API, then the
 * parent wraps the window.
 */
export const comlink: Contender = {
  name: 'comlink',
  connect(iframe, childOrigin) {
    const win = iframe.contentWindow as Window
    return new Promise((ready) => {
      const onReady = (event: MessageEvent): void => {
        if (event.origin !== childOrigin || event.source !== win || event.data !== 'comlink-ready') return
        removeEventListener('message', onReady)
        const remote = wrap<ChildApi>(windowEndpoint(win, self, childOrigin))
        const client: Client = {
          add: (a, b) => remote.add(a, b),
          echo: (value) => remote.echo(value) as Promise<unknown>,
          echoBuf: (buf, move) => remote.echoBuf(move ? transfer(buf, [buf]) : buf, move),
          close: () => remote[releaseProxy](),
        }
        ready(client)
      }
      addEventListener('message', onReady)
    })
  },
}
