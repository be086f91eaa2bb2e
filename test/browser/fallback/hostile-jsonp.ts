import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jsonpBody } from '../../../src/fallback/jsonp-server.js'

const JS = { 'Content-Type': 'text/javascript; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }

/**
 * A JSONP server that misbehaves on purpose, on `localhost` (another site
 * than the pages on 127.0.0.1). Each path is one misbehaviour; `?callback=`
 * is the client's, `?victim=` another call's callback. Requests to `/held`
 * wait until `release()` answers them, to answer after the client gave up.
 */
export async function startHostileJsonp() {
  const held: { callback: string; res: ServerResponse }[] = []
  const waiters: (() => void)[] = []
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const callback = url.searchParams.get('callback') ?? ''
    const victim = url.searchParams.get('victim') ?? ''
    if (!/^[A-Za-z_$][\w$]*$/.test(callback) || (victim !== '' && !/^[A-Za-z_$][\w$]*$/.test(victim))) {
      res.writeHead(400).end()
      return
    }
    const js = (body: string) => res.writeHead(200, JS).end(body)
    switch (url.pathname) {
      case '/wrong-callback':
        // Answers under a name of its own choosing: the client's callback is never called.
        js(jsonpBody(`${callback}_not_this_one`, { k: 'r', v: 3 }))
        break
      case '/other-call':
        // Answers another call's callback (the victim), and not its own.
        js(`${jsonpBody(victim, { k: 'r', v: 'not a number' })}${jsonpBody(victim, { k: 'r', v: 666 })}`)
        break
      case '/throws':
        js(`throw new Error('the server script failed'); ${jsonpBody(callback, { k: 'r', v: 3 })}`)
        break
      case '/html':
        res.writeHead(200, { 'Content-Type': 'text/html', 'X-Content-Type-Options': 'nosniff' })
        res.end(`${callback}({"k":"r","v":3})`)
        break
      case '/held':
        held.push({ callback, res })
        for (const wake of waiters.splice(0)) wake()
        break
      default:
        res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    /** Resolves once `count` requests are held. */
    async heldRequests(count: number): Promise<string[]> {
      while (held.length < count) await new Promise<void>((resolve) => waiters.push(resolve))
      return held.map((h) => h.callback)
    },
    /** Answers every held request now: a reply, then a marker the page can wait for. */
    release(): void {
      for (const { callback, res } of held.splice(0)) {
        res
          .writeHead(200, JS)
          .end(`${jsonpBody(callback, { k: 'r', v: 666 })} window.lateAnswers = (window.lateAnswers || 0) + 1;`)
      }
    },
    close(): Promise<void> {
      for (const { res } of held.splice(0)) res.destroy()
      return new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    },
  }
}
