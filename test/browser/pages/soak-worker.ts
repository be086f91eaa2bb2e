// A dedicated worker serving peerApi to the page that started it, connecting
// again whenever its connection closes: the page may connect() and close()
// on the same worker again and again (see pages/soak.ts, longLived).
import { connect } from '../../../src/index.js'
import { hostApi, peerApi } from './contracts.js'

function start(): void {
  const conn = connect({
    target: self,
    remote: hostApi,
    local: {
      contract: peerApi,
      handlers: {
        add: (a, b) => a + b,
        whoami: () => 'soak worker',
        slow: (ms) => new Promise((resolve) => setTimeout(() => resolve(`waited ${ms}`), ms)),
        takeBuffer: (buffer) => ({ length: buffer.byteLength }),
      },
    },
    connectTimeout: Number.POSITIVE_INFINITY,
  })
  conn.onStateChange((state) => {
    if (state === 'closed') start()
  })
}
start()
