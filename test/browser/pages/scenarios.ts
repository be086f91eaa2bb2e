import { type Connection, connect } from '../../../src/index.js'
import { childApi, parentApi } from './contracts.js'

import { count, params, runScenario, t } from './runner.js'

/** Scenarios of the core tests: what runs inside a page with `?s=<name>`. */
const scenarios: Record<string, () => void> = {
  /** The child side of the core tests: serves childApi to the parent named by `?parent=`. */
  child() {
    const conn: Connection<typeof parentApi, typeof childApi> = connect({
      target: window.parent,
      allowedOrigins: [params.get('parent') ?? ''],
      remote: parentApi,
      local: {
        contract: childApi,
        handlers: {
          add: (a, b) => (count('add'), a + b),
          echo: (value) => (count('echo'), value),
          slow: (ms, { signal }) =>
            new Promise<string>((resolve, reject) => {
              count('slow')
              const timer = setTimeout(() => resolve(`waited ${ms}`), ms)
              signal.addEventListener('abort', () => {
                clearTimeout(timer)
                t.aborted.push(String(ms))
                reject(signal.reason)
              })
            }),
          fail: (message) => {
            count('fail')
            const error = new RangeError(message, { cause: new Error('root cause') }) as RangeError & {
              detail?: unknown
            }
            error.detail = { retry: false }
            throw error
          },
          badResult: () => (count('badResult'), 'not a number' as unknown as number),
          askParent: async (name): Promise<string> => {
            count('askParent')
            return `parent said: ${await conn.remote.greet(name)}`
          },
        },
      },
      onRejected: (r) => t.rejections.push(r),
      debug: params.get('debug') === '1',
    })
    conn.on('theme', (theme) => t.events.push(theme))
    t.conn = conn
    conn.ready.then(() => conn.emit('resized', { height: 321 }))
  },

  /**
   * A frame of a third origin that speaks the protocol perfectly: it posts a
   * SYN, an ACK with a port and well-formed calls to its parent and to the
   * sibling frame named by `?victim=`, and counts whatever comes back.
   */
  attacker() {
    const replies: unknown[] = []
    Object.assign(t, { replies })
    window.addEventListener('message', (event) => replies.push(event.data))
    const victims = [
      window.parent,
      window.parent.frames[params.get('victim') ?? ('child' as any)] as Window | undefined,
    ]
    const channel = new MessageChannel()
    channel.port1.onmessage = (event) => replies.push(event.data)
    const fire = () => {
      for (const victim of victims) {
        if (!victim) continue
        victim.postMessage({ pc: 1, k: 's', n: 'zzzzzzzzzzzzzzzzzzzzz' }, '*')
        victim.postMessage({ k: 'c', i: 'forged-call-id-000000', m: 'add', a: [1, 2] }, '*')
        victim.postMessage({ k: 'r', i: 'forged-reply-id-00000', v: 42 }, '*')
      }
      count('fired')
    }
    fire()
    const timer = setInterval(fire, 50)
    setTimeout(() => clearInterval(timer), 2000)
    void channel
  },
}

runScenario(scenarios)
