import { connect, transfer } from '../../../src/index.js'
import type { Catalog, Client, Contender } from '../shared.js'
import { childApi, MAX_MESSAGE_BYTES } from './portcullis-contract.js'

export const portcullis: Contender = {
  name: 'portcullis',
  async connect(iframe, childOrigin) {
    const conn = connect({
      target: iframe,
      allowedOrigins: [childOrigin],
      remote: childApi,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    })
    const child = await conn.ready
    const client: Client = {
      add: (a, b) => child.add(a, b),
      echo: (value) => child.echo(value),
      echoNested: (value: Catalog) => child.echoNested(value),
      echoBuf: (buf, move) => child.echoBuf(move ? transfer(buf, [buf]) : buf, move),
      close: () => conn.close(),
    }
    return client
  },
}
