import { connect, transfer } from '../../../src/index.js'
import { api, parentOrigin } from '../shared.js'
import { childApi, MAX_MESSAGE_BYTES } from './portcullis-contract.js'

connect({
  target: window.parent,
  allowedOrigins: [parentOrigin()],
  local: {
    contract: childApi,
    handlers: {
      add: api.add,
      echo: api.echo,
      echoNested: (value) => value,
      echoBuf: (buf, move) => (move ? transfer(buf, [buf]) : buf),
    },
  },
  maxMessageBytes: MAX_MESSAGE_BYTES,
})
