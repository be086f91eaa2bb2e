import { CallOptions, connect, WindowMessenger } from 'penpal'
import type { Client, Contender } from '../shared.js'

interface ChildMethods {
  add(a: number, b: number): number
  echo(value: unknown): unknown
  echoBuf(buf: ArrayBuffer, move: boolean): ArrayBuffer
  [name: string]: Function
}

/** Penpal v7: window handshake, then a private MessagePort (like portcullis), no schemas. */
export const penpal: Contender = {
  name: 'penpal',
  async connect(iframe, childOrigin) {
    const messenger = new WindowMessenger({
      remoteWindow: iframe.contentWindow as Window,
      allowedOrigins: [childOrigin],
    })
    const conn = connect<ChildMethods>({ messenger, timeout: 10_000 })
    const remote = await conn.promise
    const client: Client = {
      add: (a, b) => remote.add(a, b),
      echo: (value) => remote.echo(value),
      echoBuf: (buf, move) =>
        move ? remote.echoBuf(buf, move, new CallOptions({ transferables: [buf] })) : remote.echoBuf(buf, move),
      close: () => conn.destroy(),
    }
    return client
  },
}
