import { api, parentOrigin } from '../shared.js'

const handlers: Record<string, (...args: any[]) => unknown> = { ...api, echoBuf: (buf: ArrayBuffer) => buf }
const { port1, port2 } = new MessageChannel()

port1.onmessage = (event: MessageEvent) => {
  const { id, m, a } = event.data as { id: number; m: string; a: unknown[] }
  const handler = handlers[m] as (...args: unknown[]) => unknown
  const v = handler(...a)
  port1.postMessage({ id, v }, m === 'echoBuf' && a[1] ? [v as ArrayBuffer] : [])
}
parent.postMessage({ hello: true }, parentOrigin(), [port2])
