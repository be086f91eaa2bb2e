import { afterEach, describe, expect, it, vi } from 'vitest'
import { EndpointTransport } from '../../src/transport/endpoint-transport.js'
import type { Endpoint } from '../../src/transport/transport.js'
import { turns, until } from './helpers.js'

const open: MessagePort[] = []
function channel(): MessageChannel {
  const c = new MessageChannel()
  open.push(c.port1, c.port2)
  return c
}
afterEach(() => {
  for (const port of open.splice(0)) port.close()
})

describe('EndpointTransport over a MessageChannel', () => {
  it('posts to the port and receives from it, with transferred ports', async () => {
    const { port1, port2 } = channel()
    const a = new EndpointTransport(port1)
    const b = new EndpointTransport(port2)
    const received: Array<{ data: unknown; ports: readonly MessagePort[] }> = []
    b.listen((data, ports) => received.push({ data, ports }))
    const extra = channel()
    a.post({ hello: 1 }, [extra.port2])
    a.announce({ syn: 1 })
    await until(() => received.length === 2)
    expect(received[0]!.data).toEqual({ hello: 1 })
    expect(received[0]!.ports).toHaveLength(1)
    open.push(received[0]!.ports[0]!)
    expect(received[1]).toEqual({ data: { syn: 1 }, ports: [] })
    a.close()
    b.close()
  })

  it('close() removes its listener and posts nothing more; only an owned endpoint is closed', async () => {
    const { port1, port2 } = channel()
    const close1 = vi.spyOn(port1, 'close')
    const remove = vi.spyOn(port1, 'removeEventListener')
    const a = new EndpointTransport(port1)
    const b = new EndpointTransport(port2, true)
    const receivedByA: unknown[] = []
    const receivedByB: unknown[] = []
    a.listen((d) => receivedByA.push(d))
    b.listen((d) => receivedByB.push(d))
    a.close()
    a.close()
    expect(remove).toHaveBeenCalledTimes(1)
    expect(close1).not.toHaveBeenCalled()
    a.post('after close')
    b.post('to a closed transport')
    await turns()
    expect(receivedByA).toEqual([])
    expect(receivedByB).toEqual([])
    const close2 = vi.spyOn(port2, 'close')
    b.close()
    expect(close2).toHaveBeenCalledTimes(1)
  })

  it('works with a minimal endpoint (no start, no close, no ports on the event)', () => {
    const listeners = new Set<(e: MessageEvent) => void>()
    const posted: unknown[][] = []
    const endpoint: Endpoint = {
      postMessage: (message, transfer) => posted.push([message, transfer]),
      addEventListener: (_type, l) => listeners.add(l),
      removeEventListener: (_type, l) => listeners.delete(l),
    }
    const t = new EndpointTransport(endpoint, true)
    const received: unknown[] = []
    t.listen((data, ports) => received.push([data, ports]))
    for (const l of listeners) l({ data: 'x' } as MessageEvent)
    expect(received).toEqual([['x', []]])
    t.post('y')
    expect(posted).toEqual([['y', []]])
    t.close()
    expect(listeners.size).toBe(0)
  })
})
