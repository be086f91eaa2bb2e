/**
 * Races found by review: each promise settles, once, with the right error,
 * whatever runs in between (async schemas, abort listeners, trace sinks that
 * throw or close, thenables that throw). Two real connections over a
 * MessageChannel.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { ConnectionImpl } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { DEFAULT_LIMITS } from '../../src/gate/limits.js'
import type { TraceSink } from '../../src/protocol/trace.js'
import type { StandardSchemaV1 } from '../../src/rpc/standard-schema.js'
import { transfer } from '../../src/rpc/transfer.js'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import { track, turns, until } from './helpers.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A hand-made async Standard Schema: validation waits on `gate` (never, by default). */
function asyncSchema<T = unknown>(
  gate: () => Promise<void> = () => new Promise(() => {}),
  seen?: () => void,
): StandardSchemaV1<T, T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: async (value: unknown) => {
        seen?.()
        await gate()
        return { value: value as T }
      },
    },
  }
}

const open: Array<{ close(): void }> = []
const ports: MessagePort[] = []
afterEach(() => {
  for (const c of open.splice(0)) {
    try {
      c.close()
    } catch {}
  }
  for (const p of ports.splice(0)) p.close()
})

function make(
  port: MessagePort,
  remote: any,
  local: any,
  handlers: Record<string, any>,
  extra: { trace?: TraceSink; host?: EventTarget; timeout?: number; connectTimeout?: number; remote?: any } = {},
) {
  const c = new ConnectionImpl<any, any>({
    link: new EndpointTransport(port),
    lifecycle: { host: (extra.host ?? new EventTarget()) as unknown as Window },
    channel: '',
    remote,
    local,
    handlers,
    timeout: extra.timeout ?? 10_000,
    connectTimeout: extra.connectTimeout ?? 10_000,
    debug: false,
    limits: DEFAULT_LIMITS,
    trace: extra.trace,
    onRejected: () => {},
  })
  open.push(c)
  return c
}

function pair(
  remoteOfA: any,
  localOfB: any,
  handlersOfB: Record<string, any>,
  a: Parameters<typeof make>[4] = {},
  b: Parameters<typeof make>[4] = {},
) {
  const { port1, port2 } = new MessageChannel()
  ports.push(port1, port2)
  const A = make(port1, remoteOfA, defineContract({}), {}, a)
  const B = make(port2, b.remote ?? defineContract({}), localOfB, handlersOfB, b)
  return { A, B }
}

describe('a call whose result an async schema is checking is still pending', () => {
  it('its timeout reaches it', async () => {
    // The caller's copy of the contract validates results asynchronously; the server's is plain zod.
    const callerApi = defineContract({ methods: { get: { input: z.tuple([]), output: asyncSchema() } } })
    const serverApi = defineContract({ methods: { get: { input: z.tuple([]), output: z.number() } } })
    const { A } = pair(callerApi, serverApi, { get: () => 42 })
    const remote: any = await A.ready
    const call = track(remote.get.with({ timeout: 50 })())
    await sleep(300)
    expect(call.status).toBe('rejected') // TimeoutError after 50 ms
  })

  it('close() reaches it: it rejects, and never resolves after close()', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let validating = false
    const callerApi = defineContract({
      methods: {
        get: {
          input: z.tuple([]),
          output: asyncSchema(
            () => gate,
            () => (validating = true),
          ),
        },
      },
    })
    const serverApi = defineContract({ methods: { get: { input: z.tuple([]), output: z.number() } } })
    const { A } = pair(callerApi, serverApi, { get: () => 42 })
    const remote: any = await A.ready
    const call = track(remote.get())
    await until(() => validating)
    A.close()
    release()
    await turns(5)
    expect(call.status).toBe('rejected') // DisconnectedError 'closed'
    expect(call.error).toMatchObject({ code: 'DISCONNECTED' })
  })
})

describe('arguments an async schema is checking', () => {
  it('the handler never runs when the caller aborts meanwhile', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let validating = false
    let ran = 0
    const api = defineContract({
      methods: {
        checkout: {
          input: asyncSchema<[]>(
            () => gate,
            () => (validating = true),
          ),
          output: z.string(),
        },
      },
    })
    const { A } = pair(api, api, {
      checkout: () => {
        ran++
        return 'order-1'
      },
    })
    const remote: any = await A.ready
    const ac = new AbortController()
    const call = track(remote.checkout.with({ signal: ac.signal })())
    await until(() => validating)
    ac.abort()
    await turns(5) // the abort notice reaches the responder
    release()
    await turns(5)
    expect(call.error).toMatchObject({ code: 'ABORT' })
    expect(ran).toBe(0) // the caller was told ABORT, yet the order was placed
  })
})

/** A pair where B serves `slow`, whose handler closes B when its signal fires; one call of it is running. */
async function closesOnAbort(a: Parameters<typeof make>[4], b: Parameters<typeof make>[4]) {
  const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })
  let B!: ConnectionImpl<any, any>
  const slow = (ctx: { signal: AbortSignal }) => {
    ctx.signal.addEventListener('abort', () => B.close())
    return new Promise(() => {})
  }
  const built = pair(api, api, { slow }, a, { ...b, remote: api })
  B = built.B
  const remote: any = await built.A.ready
  await B.ready
  remote.slow().catch(() => {})
  await turns(5)
  return B
}

describe("close() from a handler's abort listener, as the session ends, stays closed", () => {
  it('on pagehide', async () => {
    const hostB = new EventTarget()
    const B = await closesOnAbort({}, { host: hostB, timeout: Number.POSITIVE_INFINITY })
    hostB.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
    const ready = track(B.ready)
    const after = track((B.remote as any).slow()) // B's default timeout is Infinity
    hostB.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await sleep(200)
    // As after any close() of an open connection: ready stays as it was, calls reject.
    expect({ state: B.state, ready: ready.status, callAfterClose: after.status }).toEqual({
      state: 'closed',
      ready: 'fulfilled',
      callAfterClose: 'rejected',
    })
  })

  it('on peer-unloaded', async () => {
    const hostA = new EventTarget()
    const B = await closesOnAbort({ host: hostA }, {})
    hostA.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
    await turns(5)
    expect(B.state).toBe('closed')
  })
})

describe('a trace sink that throws disturbs nothing', () => {
  it('on the abort notice: each timed-out call rejects, the sweep goes on, the errors are reported outside', async () => {
    const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })
    const errors: unknown[] = []
    const onErr = (e: unknown) => errors.push(e)
    process.on('uncaughtException', onErr)
    try {
      const trace: TraceSink = (e) => {
        if (e.kind === 'abort') throw new Error('sink bug')
      }
      const { A } = pair(api, api, { slow: () => new Promise(() => {}) }, { trace })
      const remote: any = await A.ready
      const first = track(remote.slow.with({ timeout: 30 })())
      const second = track(remote.slow.with({ timeout: 60 })())
      await sleep(300)
      expect([first.status, second.status]).toEqual(['rejected', 'rejected'])
      expect(errors).toMatchObject([{ message: 'sink bug' }, { message: 'sink bug' }])
    } finally {
      process.off('uncaughtException', onErr)
    }
  })

  it('on the close notice: close() closes, the pending call rejects, the error is reported outside', async () => {
    const errors: unknown[] = []
    const onErr = (e: unknown) => errors.push(e)
    process.on('uncaughtException', onErr)
    try {
      const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })
      const trace: TraceSink = (e) => {
        if (e.kind === 'close') throw new Error('sink bug')
      }
      const { A } = pair(api, api, { slow: () => new Promise(() => {}) }, { trace })
      const remote: any = await A.ready
      const call = track(remote.slow())
      await turns(3)
      let threw: unknown
      try {
        A.close()
      } catch (e) {
        threw = e
      }
      await turns(3)
      expect({ threw, state: A.state, call: call.status }).toEqual({
        threw: undefined,
        state: 'closed',
        call: 'rejected',
      })
      expect(errors).toMatchObject([{ message: 'sink bug' }])
    } finally {
      process.off('uncaughtException', onErr)
    }
  })
})

describe('a trace sink that calls close() while the session opens', () => {
  it('it stays closed, and the queued call never goes out', async () => {
    const api = defineContract({ methods: { add: { input: z.tuple([z.number()]), output: z.number() } } })
    let A!: ConnectionImpl<any, any>
    const trace: TraceSink = (e) => {
      if (e.direction === 'send' && e.kind === 'call') A.close()
    }
    let served = 0
    const built = pair(api, api, { add: (n: number) => (served++, n) }, { trace })
    A = built.A
    const call = track((A.remote as any).add(1)) // queued before the session opens
    await until(() => call.settled)
    await turns(10)
    const ready = track(A.ready)
    await turns(2)
    expect({ state: A.state, served, ready: ready.status }).toEqual({ state: 'closed', served: 0, ready: 'rejected' })
  })
})

describe('what closed the connection is what later calls are told', () => {
  it("after the peer closed, a new call rejects with reason 'peer-closed', not 'closed' (README: that means this side called close())", async () => {
    const api = defineContract({ methods: { add: { input: z.tuple([z.number()]), output: z.number() } } })
    const { A, B } = pair(api, api, { add: (n: number) => n })
    const remote: any = await A.ready
    B.close()
    await until(() => A.state === 'closed')
    expect(A.cause).toBe('peer-closed')
    await expect(remote.add(1)).rejects.toMatchObject({ code: 'DISCONNECTED', reason: 'peer-closed' })
  })
})

describe('a version mismatch after open', () => {
  it("an in-flight call rejects with the mismatch, not DisconnectedError reason 'closed'", async () => {
    const api = defineContract({ methods: { slow: { input: z.tuple([]), output: z.string() } } })
    const { A } = pair(api, api, { slow: () => new Promise(() => {}) })
    const remote: any = await A.ready
    const call = track(remote.slow())
    await turns(3)
    // The peer page reloads with another protocol version: its SYN arrives on A's link.
    ports[1]!.postMessage({ pc: 2, k: 's', n: 'zzzz' })
    await until(() => A.state === 'closed')
    await turns(2)
    expect(A.cause).toBe('version-mismatch')
    expect(call.error).not.toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
  })
})

describe('a handler result whose `then` getter throws', () => {
  it('the caller is answered with the error, at once', async () => {
    const api = defineContract({ methods: { get: { input: z.tuple([]), output: z.number() } } })
    const errors: unknown[] = []
    const onErr = (e: unknown) => errors.push(e)
    process.on('uncaughtException', onErr)
    try {
      const { A } = pair(api, api, {
        get: () =>
          new Proxy(
            {},
            {
              get(_t, key) {
                if (key === 'then') throw new Error('bad thenable')
                return undefined
              },
            },
          ),
      })
      const remote: any = await A.ready
      // Waited for, not slept on: a worker stalled 200 ms (load, GC) runs an expired timer
      // before it delivers the port's messages. A RemoteError, like any handler that throws;
      // a call left unanswered would be a TimeoutError instead, 5 s later.
      await expect(remote.get.with({ timeout: 5_000 })()).rejects.toMatchObject({ name: 'RemoteError' })
    } finally {
      process.off('uncaughtException', onErr)
    }
  })
})

describe('transfer(): a call refused before it is sent leaves the mark for the retry', () => {
  it('control: a marked value that is sent is moved', async () => {
    const api = defineContract({ methods: { take: { input: z.tuple([z.any()]), output: z.number() } } })
    const { A } = pair(api, api, { take: (b: ArrayBuffer) => b.byteLength })
    const remote: any = await A.ready
    const buf = new ArrayBuffer(8)
    await expect(remote.take(transfer(buf, [buf]))).resolves.toBe(8)
    expect(buf.byteLength).toBe(0)
  })

  it('a retry of the same marked value moves it', async () => {
    const api = defineContract({ methods: { take: { input: z.tuple([z.any()]), output: z.number() } } })
    const { A } = pair(api, api, { take: (b: ArrayBuffer) => b.byteLength })
    const remote: any = await A.ready
    const buf = new ArrayBuffer(8)
    const marked = transfer(buf, [buf])
    const ac = new AbortController()
    ac.abort()
    await expect(remote.take.with({ signal: ac.signal })(marked)).rejects.toMatchObject({ code: 'ABORT' })
    await expect(remote.take(marked)).resolves.toBe(8)
    expect(buf.byteLength).toBe(0) // moved, as transfer() promised
  })
})
