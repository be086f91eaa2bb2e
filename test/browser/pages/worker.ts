// A dedicated worker serving peerApi to the page that started it.
import { connect } from '../../../src/index.js'
import { hostApi, peerApi } from './contracts.js'

const conn = connect({
  target: self,
  remote: hostApi,
  local: {
    contract: peerApi,
    handlers: {
      add: (a, b) => a + b,
      whoami: () => 'worker',
      slow: (ms) => new Promise((resolve) => setTimeout(() => resolve(`waited ${ms}`), ms)),
      takeBuffer: (buffer) => ({ length: buffer.byteLength }),
    },
  },
})
conn.ready.then(() => conn.emit('hello', { label: 'worker' }))
