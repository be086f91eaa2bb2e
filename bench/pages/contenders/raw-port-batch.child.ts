import { api, parentOrigin } from '../shared.js'

const handlers: Record<string, (...args: any[]) => unknown> = { ...api, echoBuf: (buf: ArrayBuffer) => buf }
const { port1, port2 } = new MessageChannel()

// Every request of one post is answered in one post, as portcullis's batch does.
port1.onmessage = (event: MessageEvent) => {
  const requests = event.data as Array<{ id: number; m: string; a: unknown[] }>
  const replies: Array<{ id: number; v: unknown }> = []
  const transfer: Transferable[] = []
  for (const { id, m, a } of requests) {
    const v = (handlers[m] as (...args: unknown[]) => unknown)(...a)
    if (m === 'echoBuf' && a[1]) transfer.push(v as ArrayBuffer)
    replies.push({ id, v })
  }
  port1.postMessage(replies, transfer)
}
parent.postMessage({ hello: true }, parentOrigin(), [port2])
