/**
 * Scenarios and in-page loops of the soak tests (test/browser/lifecycle/soak.test.ts).
 *
 * Loaded with `b: 'soak'`. `?s=host` installs the loops as `globalThis.soak`
 * in the page the test measures; `?s=child` is a peer that serves peerApi to
 * its parent or opener (`?target=opener`), allowing `?allow=`, and connects
 * again whenever its connection closes (a parent that calls close() closes
 * this side too), so the parent can connect to it again and again.
 *
 * The library and the contracts come from lib.js, loaded first on every page:
 * this bundle stays small, so the hundreds of frames and popups load fast.
 */
import type * as Library from '../../../src/index.js'
import type { Connection } from '../../../src/index.js'
import type * as Contracts from './contracts.js'
import { params, runScenario } from './runner.js'

const { connect } = (globalThis as unknown as { portcullis: typeof Library }).portcullis
const { hostApi, peerApi } = (globalThis as unknown as { contracts: typeof Contracts }).contracts

type HostSide = Connection<typeof peerApi, typeof hostApi>
type PeerSide = Connection<typeof hostApi, typeof peerApi>

/** What every loop checks: a cycle that did not work proves nothing about leaks. */
function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`)
}

function whenState(conn: { onStateChange(l: (state: string) => void): () => void }, wanted: string): Promise<void> {
  return new Promise((resolve) => {
    const off = conn.onStateChange((state) => {
      if (state !== wanted) return
      off()
      resolve()
    })
  })
}

/** Settles with the error's code (or 'resolved'): for calls that must fail. */
function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: { code?: string }) => error.code ?? String(error),
  )
}

/** Waits for `check()` to be true, polling on timers (the page is otherwise idle). */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function hostHelpers() {
  const iframe = () => document.getElementById('child') as HTMLIFrameElement
  const noHandlers = { contract: hostApi, handlers: {} }
  // Its prototype is what the tests count live connections by (Runtime.queryObjects); closed, it is collected.
  const sample = connect({ target: new MessageChannel().port1, remote: peerApi })
  sample.close()
  let kept: HostSide | undefined

  /** peerApi served from this page; `slow` never answers unless `serve` says otherwise. */
  function serving(serve: Partial<Library.Handlers<typeof peerApi>> = {}) {
    const handlers: Library.Handlers<typeof peerApi> = {
      add: (a, b) => a + b,
      whoami: () => 'in this page',
      slow: () => new Promise<string>(() => {}),
      takeBuffer: (buffer) => ({ length: buffer.byteLength }),
      ...serve,
    }
    return { contract: peerApi, handlers }
  }

  /**
   * A pair of connections over one MessageChannel of this page: caller and
   * responder in one heap. `timeout` is the caller's: its deadline timer,
   * pending up to that long after the last call, is what each sample waits for.
   */
  function pair(serve: Partial<Library.Handlers<typeof peerApi>> = {}, timeout?: number) {
    const { port1, port2 } = new MessageChannel()
    const responder: PeerSide = connect({ target: port2, remote: hostApi, local: serving(serve) })
    const caller: HostSide = connect({ target: port1, remote: peerApi, local: noHandlers, timeout })
    return { caller, responder }
  }

  return {
    connectionPrototype: Object.getPrototypeOf(sample) as object,
    /**
     * connect() to the iframe, one call, close(); `n` times. Returns how many
     * connections the child closed as soon as they opened: see raced below.
     */
    async connectClose(n: number, allow: string): Promise<number> {
      let raced = 0
      for (let i = 0; i < n; i++) {
        const conn: HostSide = connect({
          target: iframe(),
          allowedOrigins: [allow],
          remote: peerApi,
          local: noHandlers,
        })
        const off = conn.on('hello', () => {})
        try {
          await conn.ready
          expectEqual(await conn.remote.add(i, 1), i + 1, 'add')
        } catch (error) {
          // The child may hear this connection's SYN before the close of the one before (a
          // window message and a port message: no order between them), lead, and close its
          // offer with a notice when that close arrives. This connection is then told
          // 'peer-closed' as it opens; the next one finds the child connecting again.
          if ((error as { reason?: string }).reason !== 'peer-closed') throw error
          raced++
          continue
        }
        // Every other cycle closes with a call in flight.
        const inFlight = i % 2 ? outcome(conn.remote.slow(60_000)) : undefined
        if (i % 3 === 0) off()
        conn.close()
        if (inFlight) expectEqual(await inFlight, 'DISCONNECTED', 'the call in flight at close()')
      }
      return raced
    },
    /** Keeps one connection while the iframe reloads `n` times, a call in flight at each reload. */
    async reloads(n: number, allow: string): Promise<void> {
      // A short call timeout: the deadline timer it leaves is what each sample waits for.
      kept ??= connect({ target: iframe(), allowedOrigins: [allow], remote: peerApi, local: noHandlers, timeout: 2000 })
      const conn = kept
      await conn.ready
      for (let i = 0; i < n; i++) {
        const inFlight = outcome(conn.remote.slow.with({ timeout: 60_000 })(60_000))
        // Reconnecting first (the old page's unload notice), or straight to open if the notice was lost.
        const reopened = whenState(conn, 'open')
        iframe().src = iframe().src
        expectEqual(await inFlight, 'DISCONNECTED', 'the call in flight at the reload')
        await reopened
        expectEqual(await conn.remote.add(i, 2), i + 2, 'add after the reload')
        conn.emit('ping', { n: i })
        // Each load of the frame adds a PerformanceResourceTiming to this page (up to 250): not ours to measure.
        performance.clearResourceTimings()
      }
    },
    /** Opens a popup serving peerApi, connects, calls, then closes the popup (or the connection first); `n` times. */
    async popups(n: number, url: string, allow: string): Promise<void> {
      for (let i = 0; i < n; i++) {
        const popup = window.open(url, 'soak', 'popup')
        if (popup === null) throw new Error('the popup was blocked')
        const conn: HostSide = connect({ target: popup, allowedOrigins: [allow], remote: peerApi, local: noHandlers })
        await conn.ready
        expectEqual(await conn.remote.add(i, 3), i + 3, 'add to the popup')
        if (i % 2) {
          conn.close()
          popup.close()
        } else {
          const closed = whenState(conn, 'closed')
          popup.close()
          await closed
          expectEqual(conn.cause, 'peer-gone', 'the cause after the popup closed')
        }
        await until(() => popup.closed, 'the popup to close')
      }
    },
    /** Starts a worker, connects, calls, close(), terminate(); `n` times. */
    async workers(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        const worker = new Worker('/worker.js')
        const conn: HostSide = connect({ target: worker, remote: peerApi, local: noHandlers })
        await conn.ready
        expectEqual(await conn.remote.add(i, 4), i + 4, 'add in the worker')
        conn.close()
        worker.terminate()
      }
    },
    /**
     * connect() and close() `n` times on one worker and on one MessagePort
     * that outlive every connection (the peer on the other end connects again
     * each time), a call each time. Returns how many connections the peer
     * closed as they opened (see connectClose).
     */
    async longLived(n: number): Promise<number> {
      const state = ((globalThis as any).longLivedSoak ??= (() => {
        const { port1, port2 } = new MessageChannel()
        const serve = (): void => {
          const peer: PeerSide = connect({
            target: port2,
            remote: hostApi,
            local: serving(),
            connectTimeout: Number.POSITIVE_INFINITY,
          })
          peer.onStateChange((s) => s === 'closed' && serve())
        }
        serve()
        return { worker: new Worker('/soak-worker.js'), port: port1 }
      })())
      let raced = 0
      for (let i = 0; i < n; i++) {
        for (const target of [state.worker, state.port]) {
          const conn: HostSide = connect({ target, remote: peerApi, local: noHandlers })
          try {
            await conn.ready
            expectEqual(await conn.remote.add(i, 5), i + 5, 'add over a long-lived endpoint')
          } catch (error) {
            if ((error as { reason?: string }).reason !== 'peer-closed') throw error
            raced++
          }
          conn.close()
        }
      }
      return raced
    },
    /**
     * `rounds` rounds of `perRound` calls to a handler that never answers, each
     * timing out after `ms`, half of them with one long-lived AbortSignal that
     * never fires. Returns how many handler signals fired (one per call is the
     * responder forgetting the call) and what is still pending at the caller.
     */
    async timeouts(rounds: number, perRound: number, ms: number) {
      const state = ((globalThis as any).timeoutSoak ??= {
        ...pair({
          slow: (_ms, { signal }) =>
            new Promise<string>(() => {
              signal.addEventListener('abort', () => state.aborted++, { once: true })
            }),
        }),
        aborted: 0,
        calls: 0,
        // Never aborted: every call adds a listener to it, and must take it off again.
        longLived: new AbortController(),
      })
      const { caller } = state
      await caller.ready
      for (let r = 0; r < rounds; r++) {
        const calls = []
        for (let i = 0; i < perRound; i++) {
          const options = i % 2 ? { timeout: ms, signal: state.longLived.signal } : { timeout: ms }
          calls.push(outcome(caller.remote.slow.with(options)(0)))
        }
        state.calls += perRound
        for (const code of await Promise.all(calls))
          expectEqual(code, 'TIMEOUT', 'a call to a handler that never answers')
      }
      await until(() => state.aborted === state.calls, 'every handler signal to fire')
      return { aborted: state.aborted, calls: state.calls, pending: (caller as any).caller.size as number }
    },
    /** The same, aborted by the caller through a signal of its own before the timeout. */
    async aborts(rounds: number, perRound: number) {
      const state = ((globalThis as any).abortSoak ??= {
        ...pair(
          {
            slow: (_ms, { signal }) =>
              new Promise<string>(() => {
                signal.addEventListener('abort', () => state.aborted++, { once: true })
              }),
          },
          2000,
        ),
        aborted: 0,
        calls: 0,
      })
      const { caller } = state
      await caller.ready
      for (let r = 0; r < rounds; r++) {
        const controller = new AbortController()
        const calls = []
        for (let i = 0; i < perRound; i++)
          calls.push(outcome(caller.remote.slow.with({ signal: controller.signal })(0)))
        state.calls += perRound
        // Aborted once the calls went out (a call still in this turn's batch is taken back, never sent).
        await new Promise((resolve) => setTimeout(resolve, 0))
        controller.abort()
        for (const code of await Promise.all(calls)) expectEqual(code, 'ABORT', 'an aborted call')
      }
      await until(() => state.aborted === state.calls, 'every handler signal to fire')
      return { aborted: state.aborted, calls: state.calls, pending: (caller as any).caller.size as number }
    },
    /**
     * `rounds` rounds of `perRound` events, received with a listener (added and
     * removed each round) on even rounds and with none on odd ones.
     */
    async events(rounds: number, perRound: number) {
      const state = ((globalThis as any).eventSoak ??= { ...pair({}, 5000), heard: 0, sent: 0 })
      const { caller, responder } = state as { caller: HostSide; responder: PeerSide }
      await caller.ready
      for (let r = 0; r < rounds; r++) {
        const listening = r % 2 === 0
        const off = listening ? caller.on('hello', () => state.heard++) : undefined
        for (let i = 0; i < perRound; i++) responder.emit('hello', { label: `event ${i}` })
        state.sent += perRound
        // A call after the events returns after they were all delivered (one port, in order).
        expectEqual(await caller.remote.add(r, 0), r, 'add after the events')
        off?.()
      }
      return { heard: state.heard, sent: state.sent }
    },
  }
}

/** A peer of the parent (or opener) that connects again whenever its connection closes. */
function child(): void {
  const opener = params.get('target') === 'opener'
  const stats = { connects: 0, opens: 0, closes: 0, conn: undefined as PeerSide | undefined }
  const start = (): void => {
    const conn: PeerSide = connect({
      target: opener ? window.opener : window.parent,
      allowedOrigins: [params.get('allow') ?? ''],
      remote: hostApi,
      local: {
        contract: peerApi,
        handlers: {
          add: (a, b) => a + b,
          whoami: () => 'soak child',
          slow: (ms, { signal }) =>
            new Promise<string>((resolve, reject) => {
              const timer = setTimeout(() => resolve(`waited ${ms}`), ms)
              signal.addEventListener('abort', () => {
                clearTimeout(timer)
                reject(signal.reason)
              })
            }),
          takeBuffer: (buffer) => ({ length: buffer.byteLength }),
        },
      },
      // Waits for the parent as long as it takes: the parent connects again when it likes.
      connectTimeout: Number.POSITIVE_INFINITY,
    })
    stats.connects++
    stats.conn = conn
    conn.on('ping', () => {})
    conn.onStateChange((state) => {
      if (state === 'open') {
        stats.opens++
        conn.emit('hello', { label: 'soak child' })
      }
      if (state !== 'closed') return
      stats.closes++
      if (!opener) start()
    })
  }
  start()
  Object.assign(globalThis, { soakChild: stats })
}

runScenario({
  host() {
    Object.assign(globalThis, { soak: hostHelpers() })
  },
  child,
})
