/**
 * Pieces shared by the seeded fuzz tests (lifecycle-fuzz, wire-fuzz): a
 * deterministic MessagePort and a PRNG, so a failing sequence replays from its seed.
 */

/**
 * A MessagePort whose deliveries are made in setImmediate order, one per
 * post, first in first out: Node's own ports deliver through libuv, at a
 * moment that varies from run to run, and a sequence must replay exactly.
 * Ports in the transfer list travel by reference; a closed port neither
 * sends nor receives; messages wait for start(). `raw` skips the clone
 * (jsdom's Blob does not survive Node's structuredClone). `all` lists every
 * port made, for a test that wants to check them.
 */
export class FakePort {
  other: FakePort | undefined
  closed = false
  private started = false
  private held: Array<{ data: unknown; ports: FakePort[] }> = []
  readonly listeners = new Set<(event: { data: unknown; ports: FakePort[] }) => void>()
  static all: FakePort[] = []

  constructor() {
    FakePort.all.push(this)
  }

  // Not an EventTarget: jsdom's MessageEvent would hand the listener its own
  // wrapper of one, without postMessage. Listeners are counted like the others.
  addEventListener(_type: 'message', listener: (event: { data: unknown; ports: FakePort[] }) => void): void {
    this.listeners.add(listener)
  }

  removeEventListener(_type: 'message', listener: (event: { data: unknown; ports: FakePort[] }) => void): void {
    this.listeners.delete(listener)
  }

  postMessage(data: unknown, transfer: Transferable[] | { transfer?: Transferable[] } = [], raw = false): void {
    if (this.closed) return
    const list = Array.isArray(transfer) ? transfer : (transfer.transfer ?? [])
    // jsdom's Blob does not survive Node's structuredClone: a browser would deliver it, so it travels as is.
    const copy = raw ? data : structuredClone(data)
    const ports = list.filter((t): t is FakePort & Transferable => t instanceof FakePort)
    const target = this.other
    setImmediate(() => target?.receive(copy, ports))
  }

  start(): void {
    if (this.started) return
    this.started = true
    setImmediate(() => {
      for (const message of this.held.splice(0)) this.deliver(message.data, message.ports)
    })
  }

  close(): void {
    this.closed = true
    this.held = []
  }

  private receive(data: unknown, ports: FakePort[]): void {
    if (this.closed) return
    if (this.started) this.deliver(data, ports)
    else this.held.push({ data, ports })
  }

  private deliver(data: unknown, ports: FakePort[]): void {
    for (const listener of [...this.listeners]) if (!this.closed) listener({ data, ports })
  }
}

export class FakeChannel {
  readonly port1 = new FakePort()
  readonly port2 = new FakePort()
  constructor() {
    this.port1.other = this.port2
    this.port2.other = this.port1
  }
}

/** mulberry32: a tiny PRNG, so every sequence replays from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Collects what is thrown into the page (an uncaught error, an unhandled
 * rejection, a listener's error event) until `stop()`: a fuzz sequence
 * reports it as a broken invariant rather than letting it escape the run.
 */
export function catchThrown(): { thrown: unknown[]; stop: () => void } {
  const thrown: unknown[] = []
  const onThrown = (error: unknown): void => {
    thrown.push(error)
  }
  const onPageError = (event: Event): void => {
    thrown.push((event as ErrorEvent).error ?? event)
  }
  process.on('uncaughtException', onThrown)
  process.on('unhandledRejection', onThrown)
  window.addEventListener('error', onPageError)
  return {
    thrown,
    stop() {
      process.off('uncaughtException', onThrown)
      process.off('unhandledRejection', onThrown)
      window.removeEventListener('error', onPageError)
    },
  }
}
