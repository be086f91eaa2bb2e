import { connect, Reply, WindowMessenger } from 'penpal'
import { api, parentOrigin } from '../shared.js'

connect({
  messenger: new WindowMessenger({ remoteWindow: window.parent, allowedOrigins: [parentOrigin()] }),
  methods: {
    ...api,
    echoBuf: (buf: ArrayBuffer, move: boolean) => (move ? new Reply(buf, { transferables: [buf] }) : buf),
  },
})
