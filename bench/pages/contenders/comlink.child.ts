import { expose, transfer, windowEndpoint } from 'comlink'
import { api, parentOrigin } from '../shared.js'

const origin = parentOrigin()
expose(
  { ...api, echoBuf: (buf: ArrayBuffer, move: boolean) => (move ? transfer(buf, [buf]) : buf) },
  windowEndpoint(window.parent, self, origin),
  [origin],
)
parent.postMessage('comlink-ready', origin)
