import { type Endpoint, releaseProxy, transfer, wrap } from 'comlink'
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
 *
 * The endpoint is `windowEndpoint`'s, plus a record of the listeners Comlink
 * adds: `releaseProxy` closes only MessagePort endpoints, so a window
 * endpoint's listener outlived every connection and slowed every contender
 * that messages over the window afterwards (Comlink itself, raw-window).
 */
function closableWindowEndpoint(win: Window, targetOrigin: string): { endpoint: Endpoint; close(): void } {
  const listeners: EventListenerOrEventListenerObject[] = []
  const endpoint: Endpoint = {
    postMessage: (message, transfer) => win.postMessage(message, targetOrigin, transfer),
    addEventListener: (type: string, listener: EventListenerOrEventListenerObject) => {
      listeners.push(listener)
      self.addEventListener(type, listener)
    },
    removeEventListener: (type: string, listener: EventListenerOrEventListenerObject) =>
      self.removeEventListener(type, listener),
  }
  const close = (): void => {
    for (const listener of listeners.splice(0)) self.removeEventListener('message', listener)
  }
  return { endpoint, close }
}

export const comlink: Contender = {
  name: 'comlink',
  connect(iframe, childOrigin) {
    const win = iframe.contentWindow as Window
    return new Promise((ready) => {
      const onReady = (event: MessageEvent): void => {
        if (event.origin !== childOrigin || event.source !== win || event.data !== 'comlink-ready') return
        removeEventListener('message', onReady)
        const { endpoint, close } = closableWindowEndpoint(win, childOrigin)
        const remote = wrap<ChildApi>(endpoint)
        const client: Client = {
          add: (a, b) => remote.add(a, b),
          echo: (value) => remote.echo(value) as Promise<unknown>,
          echoBuf: (buf, move) => remote.echoBuf(move ? transfer(buf, [buf]) : buf, move),
          close: () => {
            remote[releaseProxy]()
            close()
          },
        }
        ready(client)
      }
      addEventListener('message', onReady)
    })
  },
}
