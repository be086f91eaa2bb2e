import { type Connection, connect, transfer } from '../../../src/index.js'
import { hostApi, peerApi } from './contracts.js'
import { count, params, runScenario, t } from './runner.js'

/** A peer serving peerApi to `?target=parent|opener|top`, allowing `?allow=` (comma-separated), on `?channel=`. */
function servePeer(label: string, channel: string): Connection<typeof hostApi, typeof peerApi> {
  const named = params.get('target')
  const target = named === 'opener' ? window.opener : named === 'top' ? window.top : window.parent
  const conn = connect({
    target,
    allowedOrigins: (params.get('allow') ?? '').split(','),
    channel,
    remote: hostApi,
    local: {
      contract: peerApi,
      handlers: {
        add: (a, b) => (count('add'), a + b),
        whoami: () => label,
        slow: (ms) => new Promise((resolve) => setTimeout(() => resolve(`waited ${ms}`), ms)),
        takeBuffer: (buffer, give) => {
          const length = buffer.byteLength
          if (!give) return { length }
          // Look after the reply went out: a transferred buffer is detached.
          setTimeout(() => t.events.push({ afterReply: buffer.byteLength }), 0)
          return transfer({ length, buffer }, [buffer])
        },
      },
    },
    onRejected: (r) => t.rejections.push(r),
  })
  conn.on('ping', (p) => t.events.push(p))
  conn.ready.then(() => conn.emit('hello', { label }))
  return conn
}

runScenario({
  peer() {
    // Which page the frame shows, for a parent that cannot read a cross-origin location.
    addEventListener('message', (event) => {
      if (event.source === window.parent && event.data?.whoShows === 1) {
        window.parent.postMessage(
          { shows: { label: params.get('label'), state: (t.conn as { state?: string } | undefined)?.state } },
          '*',
        )
      }
    })
    try {
      t.conn = servePeer(params.get('label') ?? 'peer', params.get('channel') ?? '')
    } catch (error) {
      Object.assign(t, { error: String(error) })
    }
  },
  /** Two independent connections to the same parent, on channels `a` and `b`. */
  twoChannels() {
    servePeer('on channel a', 'a')
    servePeer('on channel b', 'b')
  },
  /**
   * A page at an origin the parent does not allow: it records every message
   * it receives, and tries to connect to its parent (which must refuse it).
   */
  recorder() {
    const received: unknown[] = []
    Object.assign(t, { received })
    window.addEventListener('message', (event) => received.push({ origin: event.origin, data: event.data }))
    connect({ target: window.parent, allowedOrigins: [params.get('parent') ?? ''], remote: peerApi })
  },
})
