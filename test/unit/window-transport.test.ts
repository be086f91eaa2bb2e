import { describe, expect, it, vi } from 'vitest'
import { createAllowedOrigins } from '../../src/gate/allowed-origins.js'
import type { Rejection } from '../../src/transport/transport.js'
import { WindowTransport } from '../../src/transport/window-transport.js'
import { fakeWindow } from './helpers.js'

const PEER = 'https://peer.example'

interface Probe {
  event: Event
  dataReads: () => number
}

/** A message event whose `data` getter counts its reads, so a test can prove the gate never touched it. */
function probeEvent(init: { origin: string; source: unknown; data?: unknown; ports?: MessagePort[] }): Probe {
  let reads = 0
  const event = new Event('message')
  Object.defineProperties(event, {
    origin: { value: init.origin },
    source: { value: init.source },
    ports: { value: init.ports ?? [] },
    data: {
      get() {
        reads += 1
        return init.data
      },
    },
  })
  return { event, dataReads: () => reads }
}

function setup(entries: string[] = [PEER], options: { allowOpaqueOrigin?: boolean } = {}) {
  const host = new EventTarget()
  const peer = fakeWindow(PEER)
  const rejections: Rejection[] = []
  const received: Array<{ data: unknown; ports: readonly MessagePort[] }> = []
  const transport = new WindowTransport(
    peer as unknown as Window,
    createAllowedOrigins(entries, options),
    (r) => rejections.push(r),
    host as unknown as Window,
  )
  transport.listen((data, ports) => received.push({ data, ports }))
  return { host, peer, rejections, received, transport }
}

describe('WindowTransport: the inbound gate', () => {
  it('accepts a message from the peer window at an allowed origin, with its ports', () => {
    const { host, peer, received, rejections } = setup()
    const { port1 } = new MessageChannel()
    const probe = probeEvent({ origin: PEER, source: peer, data: { hello: 1 }, ports: [port1] })
    host.dispatchEvent(probe.event)
    expect(received).toEqual([{ data: { hello: 1 }, ports: [port1] }])
    expect(probe.dataReads()).toBe(1)
    expect(rejections).toEqual([])
    port1.close()
  })

  it('refuses a disallowed origin without reading data, and reports it once', () => {
    const { host, received, rejections } = setup()
    const stranger = fakeWindow('https://evil.example')
    const probe = probeEvent({ origin: 'https://evil.example', source: stranger, data: { k: 'c' } })
    host.dispatchEvent(probe.event)
    expect(probe.dataReads()).toBe(0)
    expect(received).toEqual([])
    expect(rejections).toEqual([{ reason: 'origin', origin: 'https://evil.example' }])
  })

  it('checks the origin before the source: a stranger at a bad origin is an origin rejection', () => {
    const { host, rejections } = setup()
    host.dispatchEvent(probeEvent({ origin: 'https://peer.example.evil.net', source: null }).event)
    expect(rejections).toEqual([{ reason: 'origin', origin: 'https://peer.example.evil.net' }])
  })

  it('refuses an allowed origin from another window (source check), without reading data', () => {
    const { host, received, rejections } = setup()
    const sibling = fakeWindow(PEER)
    for (const source of [sibling, null, host]) {
      const probe = probeEvent({ origin: PEER, source, data: { k: 'c' } })
      host.dispatchEvent(probe.event)
      expect(probe.dataReads()).toBe(0)
    }
    expect(received).toEqual([])
    expect(rejections).toEqual([
      { reason: 'source', origin: PEER },
      { reason: 'source', origin: PEER },
      { reason: 'source', origin: PEER },
    ])
  })

  it('marks an origin rejection from the peer window itself (the peer navigated away)', () => {
    const { host, peer, rejections } = setup()
    host.dispatchEvent(probeEvent({ origin: 'https://elsewhere.example', source: peer }).event)
    expect(rejections).toEqual([{ reason: 'origin', origin: 'https://elsewhere.example', fromPeer: true }])
  })

  it("refuses the opaque origin 'null' unless allowed, and then only from the peer window", () => {
    const strict = setup()
    const probe = probeEvent({ origin: 'null', source: strict.peer })
    strict.host.dispatchEvent(probe.event)
    expect(strict.rejections).toEqual([{ reason: 'origin', origin: 'null', fromPeer: true }])
    expect(probe.dataReads()).toBe(0)

    const lax = setup(['null'], { allowOpaqueOrigin: true })
    lax.host.dispatchEvent(probeEvent({ origin: 'null', source: fakeWindow('null') }).event)
    expect(lax.rejections).toEqual([{ reason: 'source', origin: 'null' }])
    lax.host.dispatchEvent(probeEvent({ origin: 'null', source: lax.peer, data: 'sandboxed' }).event)
    expect(lax.received.map((r) => r.data)).toEqual(['sandboxed'])
  })

  it('works with real MessageEvents too', () => {
    const { host, peer, received, rejections } = setup()
    host.dispatchEvent(new MessageEvent('message', { data: 'hi', origin: PEER, source: peer as unknown as Window }))
    host.dispatchEvent(new MessageEvent('message', { data: 'hi' })) // what jsdom itself would produce: origin '' and source null
    expect(received.map((r) => r.data)).toEqual(['hi'])
    expect(rejections).toEqual([{ reason: 'origin', origin: '' }])
  })

  it('drops accepted messages silently when nobody listens yet', () => {
    const host = new EventTarget()
    const peer = fakeWindow(PEER)
    const onRejected = vi.fn()
    new WindowTransport(peer as unknown as Window, createAllowedOrigins([PEER]), onRejected, host as unknown as Window)
    expect(() => host.dispatchEvent(probeEvent({ origin: PEER, source: peer }).event)).not.toThrow()
    expect(onRejected).not.toHaveBeenCalled()
  })

  it('close() removes the listener: nothing is received or reported afterwards; close is idempotent', () => {
    const { host, peer, transport, received, rejections } = setup()
    const remove = vi.spyOn(host, 'removeEventListener')
    transport.close()
    transport.close()
    expect(remove).toHaveBeenCalledTimes(1)
    host.dispatchEvent(probeEvent({ origin: PEER, source: peer }).event)
    host.dispatchEvent(probeEvent({ origin: 'https://evil.example', source: null }).event)
    expect(received).toEqual([])
    expect(rejections).toEqual([])
  })

  it('listens on the global window by default', () => {
    const add = vi.spyOn(window, 'addEventListener')
    const remove = vi.spyOn(window, 'removeEventListener')
    const t = new WindowTransport(fakeWindow(PEER) as unknown as Window, createAllowedOrigins([PEER]), () => {})
    expect(add).toHaveBeenCalledWith('message', expect.any(Function))
    t.close()
    expect(remove).toHaveBeenCalledWith('message', add.mock.calls[0]![1])
    add.mockRestore()
    remove.mockRestore()
  })
})

describe('WindowTransport: outbound target origins', () => {
  it('posts to the sole allowed origin before the peer has spoken', () => {
    const { peer, transport } = setup(['HTTPS://PEER.example:443/'])
    const { port1, port2 } = new MessageChannel()
    transport.post({ a: 1 }, [port2])
    transport.announce({ syn: 1 })
    expect(peer.posts).toEqual([
      { data: { a: 1 }, targetOrigin: PEER, transfer: [port2] },
      { data: { syn: 1 }, targetOrigin: PEER, transfer: [] },
    ])
    expect(transport.peerOrigin).toBe(PEER)
    port1.close()
  })

  it("with several allowed origins, only announce may go to '*' until the peer speaks; post waits", () => {
    const { host, peer, transport } = setup(['https://a.example', 'https://*.peer.example'])
    expect(transport.peerOrigin).toBeUndefined()
    transport.post({ secret: 1 })
    transport.announce({ syn: 1 })
    expect(peer.posts.map((p) => [p.data, p.targetOrigin])).toEqual([[{ syn: 1 }, '*']])
    host.dispatchEvent(probeEvent({ origin: 'https://eu.peer.example', source: peer }).event)
    expect(transport.peerOrigin).toBe('https://eu.peer.example')
    transport.post({ secret: 2 })
    transport.announce({ syn: 2 })
    expect(peer.posts.slice(1).map((p) => p.targetOrigin)).toEqual([
      'https://eu.peer.example',
      'https://eu.peer.example',
    ])
  })

  it('pins the origin of the peer, not of a refused message', () => {
    const { host, peer, transport } = setup(['https://a.example', 'https://b.example'])
    host.dispatchEvent(probeEvent({ origin: 'https://a.example', source: fakeWindow('https://a.example') }).event)
    host.dispatchEvent(probeEvent({ origin: 'https://evil.example', source: peer }).event)
    expect(transport.peerOrigin).toBeUndefined()
  })

  it("posts to an opaque-origin peer with '*', the only way the platform can address it", () => {
    const { host, peer, transport } = setup(['null'], { allowOpaqueOrigin: true })
    host.dispatchEvent(probeEvent({ origin: 'null', source: peer }).event)
    expect(transport.peerOrigin).toBe('null')
    transport.post({ ack: 1 })
    transport.announce({ syn: 1 })
    expect(peer.posts.map((p) => p.targetOrigin)).toEqual(['*', '*'])
  })

  it('never posts with a targetOrigin other than a concrete origin or (announce only) *', () => {
    const { peer, transport } = setup([PEER])
    transport.post({})
    transport.announce({})
    for (const post of peer.posts) expect(post.targetOrigin).toBe(PEER)
  })

  it('posts nothing after close', () => {
    const { peer, transport } = setup()
    transport.close()
    transport.post({ a: 1 })
    transport.announce({ a: 1 })
    expect(peer.posts).toEqual([])
  })
})
