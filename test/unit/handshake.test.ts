import { nanoid } from 'nanoid'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HandshakeError } from '../../src/errors.js'
import { PROTOCOL_VERSION } from '../../src/protocol/envelope.js'
import { Handshake } from '../../src/protocol/handshake.js'
import type { TraceEntry } from '../../src/protocol/trace.js'
import type { Rejection, Transport } from '../../src/transport/transport.js'
import { type MemoryEnd, memoryPair, turns, until, useFakeTimers } from './helpers.js'

vi.mock('nanoid', async (importOriginal) => {
  const real = await importOriginal<typeof import('nanoid')>()
  return { ...real, nanoid: vi.fn(real.nanoid) }
})

/** Makes the next Handshake use `nonce` (its constructor and its first seek() each draw one). */
function nextNonce(nonce: string): void {
  vi.mocked(nanoid).mockReturnValueOnce(`${nonce}-unused`).mockReturnValueOnce(nonce)
}

const ports: Array<{ close(): void }> = []

interface Side {
  handshake: Handshake
  sessions: Array<{ port: Transport; peer: string }>
  failures: HandshakeError[]
  rejections: Rejection[]
  trace: TraceEntry[]
}

function side(link: MemoryEnd, channel = '', seek = true): Side {
  const s: Omit<Side, 'handshake'> = { sessions: [], failures: [], rejections: [], trace: [] }
  const handshake = new Handshake(link, channel, {
    onSession: (port, peer) => {
      ports.push(port)
      s.sessions.push({ port, peer })
    },
    onFailure: (e) => s.failures.push(e),
    onRejected: (r) => s.rejections.push(r),
    trace: (e) => s.trace.push(e),
  })
  if (seek) handshake.seek()
  return { ...s, handshake }
}

/** The two session transports talk to each other. */
async function expectLinked(a: Transport, b: Transport): Promise<void> {
  const got: unknown[] = []
  b.listen((data) => got.push(data))
  a.post('ping')
  await until(() => got.length === 1, 'a message over the session port')
  expect(got).toEqual(['ping'])
}

beforeEach(() => useFakeTimers())
afterEach(() => {
  for (const p of ports.splice(0)) p.close()
  vi.useRealTimers()
})

describe('Handshake', () => {
  it('pairs two sides that start together, over one private port', async () => {
    const [la, lb] = memoryPair()
    const a = side(la)
    const b = side(lb)
    await until(() => a.sessions.length === 1 && b.sessions.length === 1)
    await expectLinked(a.sessions[0]!.port, b.sessions[0]!.port)
    await expectLinked(b.sessions[0]!.port, a.sessions[0]!.port)
    expect(vi.getTimerCount()).toBe(0)
    expect(a.rejections).toEqual([])
    expect(b.rejections).toEqual([])
  })

  it.each([
    ['the later side leads', 'aaa', 'zzz'],
    ['the earlier side leads', 'zzz', 'aaa'],
  ])('pairs when one side starts long before the other (%s), without waiting for a retry', async (_, first, second) => {
    const [la, lb] = memoryPair()
    nextNonce(first)
    const a = side(la)
    vi.advanceTimersByTime(5000) // a has announced into the void many times
    const synsBefore = la.posted.length
    nextNonce(second)
    const b = side(lb)
    await until(() => a.sessions.length === 1 && b.sessions.length === 1)
    expect(a.sessions[0]!.peer).toBe(second)
    expect(b.sessions[0]!.peer).toBe(first)
    await expectLinked(a.sessions[0]!.port, b.sessions[0]!.port)
    // a answered b's SYN at once (with its own SYN or the ACK), not on its next retry
    expect(la.posted.length).toBe(synsBefore + 1)
  })

  it('the SYN carries only the version and a nonce', () => {
    const [la] = memoryPair()
    side(la)
    expect(la.posted).toEqual([{ pc: PROTOCOL_VERSION, k: 's', n: expect.any(String) }])
    expect(Object.keys(la.posted[0])).toEqual(['pc', 'k', 'n'])
  })

  it('retries the SYN with exponential backoff capped at one second, until stopped', () => {
    const [la] = memoryPair()
    const a = side(la)
    const times: number[] = []
    const start = Date.now()
    const announce = vi.spyOn(la, 'announce').mockImplementation(() => times.push(Date.now() - start))
    vi.advanceTimersByTime(5000)
    expect(times).toEqual([20, 60, 140, 300, 620, 1260, 2260, 3260, 4260])
    a.handshake.stop()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(5000)
    expect(announce).toHaveBeenCalledTimes(9)
  })

  it('seek() restarts with a fresh nonce and a fresh backoff', () => {
    const [la] = memoryPair()
    const a = side(la)
    vi.advanceTimersByTime(3000)
    la.posted.length = 0
    a.handshake.seek()
    vi.advanceTimersByTime(20)
    expect(la.posted).toHaveLength(2)
    expect(la.posted[0].n).toBe(la.posted[1].n)
    expect(vi.getTimerCount()).toBe(1)
    a.handshake.stop()
  })

  it('fails clearly on a version mismatch: reports it, tells the peer its own version, stops', () => {
    const [la] = memoryPair()
    const a = side(la)
    la.posted.length = 0
    la.inject({ pc: PROTOCOL_VERSION + 1, k: 's', n: 'future' })
    expect(a.rejections).toEqual([{ reason: 'version', detail: expect.stringContaining(`v${PROTOCOL_VERSION + 1}`) }])
    expect(a.failures).toHaveLength(1)
    expect(a.failures[0]).toBeInstanceOf(HandshakeError)
    expect(a.failures[0]!.code).toBe('HANDSHAKE')
    expect(a.failures[0]!.message).toContain('load the same major version of portcullis on both sides')
    expect(la.posted).toEqual([{ pc: PROTOCOL_VERSION, k: 's', n: expect.any(String) }])
    expect(vi.getTimerCount()).toBe(0)
    // Stopped: nothing more happens.
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'later' })
    a.handshake.seek()
    expect(la.posted).toHaveLength(1)
    expect(a.failures).toHaveLength(1)
  })

  it('drops and reports other traffic without failing', () => {
    const [la] = memoryPair()
    const a = side(la)
    la.inject('hello')
    la.inject({ type: 'other-library' })
    expect(a.rejections).toEqual([
      { reason: 'schema', detail: 'not a portcullis handshake message' },
      { reason: 'schema', detail: 'not a portcullis handshake message' },
    ])
    expect(a.failures).toEqual([])
    a.handshake.stop()
  })

  it('ignores its own SYN reflected back', () => {
    const [la] = memoryPair()
    const a = side(la)
    const own = la.posted[0]
    const posted = la.posted.length
    la.inject(own)
    expect(la.posted.length).toBe(posted)
    expect(a.sessions).toEqual([])
    a.handshake.stop()
  })

  it('reports an ACK without a port', () => {
    const [la] = memoryPair()
    nextNonce('mine')
    const a = side(la)
    la.inject({ pc: PROTOCOL_VERSION, k: 'a', n: 'mine', l: 'zzz', c: '' })
    expect(a.rejections).toEqual([{ reason: 'schema', detail: 'handshake ACK without a port' }])
    expect(a.sessions).toEqual([])
    a.handshake.stop()
  })

  it("leaves alone an ACK addressed to another connection's nonce (it may be that connection's port)", async () => {
    const [la] = memoryPair()
    nextNonce('mine')
    const a = side(la)
    const { port1, port2 } = new MessageChannel()
    ports.push(port1, port2)
    const closed = vi.fn()
    port1.addEventListener('close', closed)
    la.inject({ pc: PROTOCOL_VERSION, k: 'a', n: 'someone-else', l: 'zzz', c: '' }, [port2])
    await turns()
    expect(closed).not.toHaveBeenCalled()
    expect(a.sessions).toEqual([])
    a.handshake.stop()
  })

  it('closes the port of an ACK addressed to it for another channel, and keeps seeking', async () => {
    const [la] = memoryPair()
    nextNonce('mine')
    const a = side(la, 'payments')
    const { port1, port2 } = new MessageChannel()
    ports.push(port1, port2)
    const closed = vi.fn()
    port1.addEventListener('close', closed)
    la.inject({ pc: PROTOCOL_VERSION, k: 'a', n: 'mine', l: 'zzz', c: 'chat' }, [port2])
    await until(() => closed.mock.calls.length > 0, 'the foreign port to close')
    expect(a.sessions).toEqual([])
    expect(vi.getTimerCount()).toBe(1)
    a.handshake.stop()
  })

  it('two channels between the same links do not pair', async () => {
    const [la, lb] = memoryPair()
    const a = side(la, 'payments')
    const b = side(lb, 'chat')
    vi.advanceTimersByTime(3000)
    await turns()
    expect(a.sessions).toEqual([])
    expect(b.sessions).toEqual([])
    a.handshake.stop()
    b.handshake.stop()
  })

  it('a new SYN from the peer after a session (a reload) makes a new session', async () => {
    const [la, lb] = memoryPair()
    nextNonce('mmm')
    const a = side(la)
    nextNonce('aaa')
    side(lb)
    await until(() => a.sessions.length === 1)
    // The peer reloads: a new Handshake on the same link, with a new nonce.
    for (const nonce of ['zzz', 'bbb']) {
      nextNonce(nonce)
      const reloaded = side(lb)
      await until(() => a.sessions.length === 1 + ['zzz', 'bbb'].indexOf(nonce) + 1)
      expect(a.sessions.at(-1)!.peer).toBe(nonce)
      await expectLinked(a.sessions.at(-1)!.port, reloaded.sessions[0]!.port)
    }
  })

  it('ignores the SYN retries of the peer it already has a session with', async () => {
    const [la, lb] = memoryPair()
    const a = side(la)
    const b = side(lb)
    await until(() => a.sessions.length === 1 && b.sessions.length === 1)
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: a.sessions[0]!.peer })
    lb.inject({ pc: PROTOCOL_VERSION, k: 's', n: b.sessions[0]!.peer })
    await turns()
    expect(a.sessions).toHaveLength(1)
    expect(b.sessions).toHaveLength(1)
  })

  it('ignores a stale ACK from the leader it already has a session with', async () => {
    const [la, lb] = memoryPair()
    nextNonce('aaa')
    const follower = side(la)
    nextNonce('zzz')
    side(lb)
    await until(() => follower.sessions.length === 1)
    const { port1, port2 } = new MessageChannel()
    ports.push(port1, port2)
    la.inject({ pc: PROTOCOL_VERSION, k: 'a', n: 'aaa', l: 'zzz', c: '' }, [port2])
    await turns()
    expect(follower.sessions).toHaveLength(1)
  })

  it('stop() tells every port it offered that it closes, then closes it', async () => {
    const [la] = memoryPair()
    nextNonce('zzz')
    const leader = side(la)
    const offered: MessagePort[] = []
    const send = vi.spyOn(la, 'post').mockImplementation((_data, transfer) => {
      offered.push(transfer![0] as MessagePort)
    })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aaa' })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aab' })
    expect(send).toHaveBeenCalledTimes(2)
    expect(send.mock.calls[0]![0]).toEqual({ pc: PROTOCOL_VERSION, k: 'a', n: 'aaa', l: 'zzz', c: '' })
    const closed = vi.fn()
    const heard: unknown[] = []
    for (const p of offered) {
      ports.push(p)
      p.addEventListener('close', closed)
      // A follower may have adopted the port already, its fin still on the way.
      p.onmessage = (event) => heard.push(event.data)
    }
    leader.handshake.stop()
    await until(() => closed.mock.calls.length === 2, 'both offered ports to close')
    expect(heard).toEqual([
      { k: 'x', r: 'closed' },
      { k: 'x', r: 'closed' },
    ])
  })

  it('remembers at most 64 offered ports, closing the oldest with a close notice', async () => {
    const [la] = memoryPair()
    nextNonce('~')
    const leader = side(la)
    const offered: MessagePort[] = []
    vi.spyOn(la, 'post').mockImplementation((_data, transfer) => {
      offered.push(transfer![0] as MessagePort)
    })
    for (let i = 0; i < 65; i++)
      la.inject({ pc: PROTOCOL_VERSION, k: 's', n: `follower-${String(i).padStart(2, '0')}` })
    expect(offered).toHaveLength(65)
    const closed = offered.map(() => vi.fn())
    offered.forEach((p, i) => {
      ports.push(p)
      p.addEventListener('close', closed[i]!)
    })
    // Its follower may have adopted it already: it hears a close notice first.
    const heard: unknown[] = []
    offered[0]!.onmessage = (event) => heard.push(event.data)
    await until(() => closed[0]!.mock.calls.length === 1, 'the oldest offered port to close')
    await until(() => heard.length > 0, 'the close notice on the oldest offer')
    expect(heard).toEqual([{ k: 'x', r: 'closed' }])
    expect(closed.slice(1).every((c) => c.mock.calls.length === 0)).toBe(true)
    leader.handshake.stop()
  })

  it('once a fin opens a session, the other offers are closed: a late fin on one cannot replace the session', async () => {
    const [la] = memoryPair()
    nextNonce('zzz')
    const leader = side(la)
    const offered: MessagePort[] = []
    vi.spyOn(la, 'post').mockImplementation((_data, transfer) => {
      offered.push(transfer![0] as MessagePort)
    })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aaa' })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aab' })
    const [first, stale] = offered as [MessagePort, MessagePort]
    ports.push(first, stale)
    first.postMessage({ k: 'f' })
    await until(() => leader.sessions.length === 1, 'the session from the first fin')
    stale.postMessage({ k: 'f' })
    await turns()
    expect(leader.sessions.map((s) => s.peer)).toEqual(['aaa'])
  })

  it('once a fin opens a session, a follower that adopted another offer is told it closed (found by lifecycle-fuzz)', async () => {
    // Two connections on one channel in the peer window both adopt our offers and answer fin;
    // the one whose fin comes second stayed 'open' on a port nobody read, its calls timing out.
    const [la] = memoryPair()
    nextNonce('zzz')
    const leader = side(la)
    const offered: MessagePort[] = []
    vi.spyOn(la, 'post').mockImplementation((_data, transfer) => {
      offered.push(transfer![0] as MessagePort)
    })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aaa' })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aab' })
    const [first, second] = offered as [MessagePort, MessagePort]
    ports.push(first, second)
    const heard: unknown[] = []
    second.onmessage = (event) => heard.push(event.data)
    first.postMessage({ k: 'f' })
    second.postMessage({ k: 'f' })
    await until(() => leader.sessions.length === 1, 'the session from the first fin')
    await until(() => heard.length > 0, 'the close notice on the other offer')
    expect(heard).toEqual([{ k: 'x', r: 'closed' }])
  })

  it('ignores a fin-less or foreign message on an offered port', async () => {
    const [la] = memoryPair()
    nextNonce('zzz')
    const leader = side(la)
    let offered: MessagePort | undefined
    vi.spyOn(la, 'post').mockImplementation((_data, transfer) => {
      offered = transfer![0] as MessagePort
    })
    la.inject({ pc: PROTOCOL_VERSION, k: 's', n: 'aaa' })
    ports.push(offered!)
    offered!.postMessage(null)
    offered!.postMessage({ k: 'c' })
    await turns()
    expect(leader.sessions).toEqual([])
    offered!.postMessage({ k: 'f' })
    await until(() => leader.sessions.length === 1)
    expect(leader.sessions[0]!.peer).toBe('aaa')
  })

  it('traces the SYN, the ACK and the fin', async () => {
    const [la, lb] = memoryPair()
    nextNonce('aaa')
    const follower = side(la, 'ch')
    nextNonce('zzz')
    const leader = side(lb, 'ch')
    await until(() => follower.sessions.length === 1 && leader.sessions.length === 1)
    const kinds = (s: Side) => s.trace.map((e) => `${e.direction} ${e.kind}`)
    expect(kinds(leader).slice(0, 3)).toEqual(['send syn', 'receive syn', 'send ack'])
    expect(kinds(leader).at(-1)).toBe('receive fin')
    expect(kinds(follower).slice(-2)).toEqual(['receive ack', 'send fin'])
    expect(leader.trace.find((e) => e.kind === 'ack')!.message).toEqual({
      pc: PROTOCOL_VERSION,
      k: 'a',
      n: 'aaa',
      l: 'zzz',
      c: 'ch',
    })
    expect(follower.trace.every((e) => e.channel === 'ch' && !('id' in e))).toBe(true)
  })
})
