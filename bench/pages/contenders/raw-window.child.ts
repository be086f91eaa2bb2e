import { api, parentOrigin } from '../shared.js'

const origin = parentOrigin()
const handlers: Record<string, (...args: any[]) => unknown> = { ...api, echoBuf: (buf: ArrayBuffer) => buf }

addEventListener('message', (event: MessageEvent) => {
  if (event.origin !== origin || event.source !== parent) return
  const { id, m, a } = event.data as { id: number; m: string; a: unknown[] }
  const handler = handlers[m] as (...args: unknown[]) => unknown
  const v = handler(...a)
  parent.postMessage({ id, v }, origin, m === 'echoBuf' && a[1] ? [v as ArrayBuffer] : [])
})
parent.postMessage({ ready: true }, origin)
