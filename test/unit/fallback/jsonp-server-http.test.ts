// @vitest-environment node
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import * as z from 'zod'
import { defineContract } from '../../../src/contract.js'
import { jsonpHandler } from '../../../src/fallback/jsonp-server.js'

const api = defineContract({ methods: { add: { input: z.tuple([z.number(), z.number()]), output: z.number() } } })
let server: Server
let port = 0

beforeAll(async () => {
  server = createServer(jsonpHandler(api, { add: (a, b) => a + b }))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** Sends a raw request line, as a hostile client would, and returns the status line of the answer. */
function statusLine(target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    })
    socket.on('data', (chunk) => {
      text += chunk.toString()
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''))
  })
}

it.each(['//[', 'http://[/?callback=cb', '//x:abc/?callback=cb'])(
  'a real Node server answers the request target %j with 400 and keeps serving',
  async (target) => {
    expect(await statusLine(target)).toBe('HTTP/1.1 400 Bad Request')
    expect(await statusLine('/rpc?method=add&args=[1,2]&callback=cb')).toBe('HTTP/1.1 200 OK')
  },
)
