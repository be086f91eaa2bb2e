import { vi } from 'vitest'

/**
 * Fake only the timers portcullis uses; `setImmediate` stays real so a test
 * can let Node's MessagePort deliver (see {@link turn}).
 */
export function useFakeTimers(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] })
}

/** One real turn of the event loop: MessagePort messages and microtasks get delivered. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Several real turns, for asserting that something does NOT happen. */
export async function turns(count = 10): Promise<void> {
  for (let i = 0; i < count; i++) await turn()
}

/** Waits (in real event-loop turns, never in wall-clock time) until `check` holds. */
export async function until(check: () => boolean, what = 'the condition', maxTurns = 500): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (check()) return
    await turn()
  }
  throw new Error(`${what} did not happen within ${maxTurns} event-loop turns`)
}

/** A promise whose outcome can be read synchronously. */
export interface Tracked<T> {
  readonly promise: Promise<T>
  readonly settled: boolean
  readonly value: T | undefined
  readonly error: unknown
  readonly status: 'pending' | 'fulfilled' | 'rejected'
}

export function track<T>(promise: Promise<T>): Tracked<T> {
  const state: { status: Tracked<T>['status']; value: T | undefined; error: unknown } = {
    status: 'pending',
    value: undefined,
    error: undefined,
  }
  promise.then(
    (value) => {
      state.status = 'fulfilled'
      state.value = value
    },
    (error) => {
      state.status = 'rejected'
      state.error = error
    },
  )
  return {
    promise,
    get settled() {
      return state.status !== 'pending'
    },
    get value() {
      return state.value
    },
    get error() {
      return state.error
    },
    get status() {
      return state.status
    },
  }
}

/** Resolves with the rejection reason of `promise`; fails if it fulfils. */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

/** A post recorded by a fake window. */
export interface RecordedPost {
  readonly data: any
  readonly targetOrigin: string
  readonly transfer: readonly Transferable[]
}

/** A stand-in for a WindowProxy: recognised as a window by connect() (`w.window === w`). */
export interface FakeWindow {
  readonly window: FakeWindow
  closed: boolean
  readonly posts: RecordedPost[]
  postMessage(data: unknown, targetOrigin: string, transfer?: Transferable[]): void
}

/**
 * Makes a fake window whose `postMessage` records every post and hands it to
 * `deliver` (asynchronously, like the platform) unless the target origin
 * does not match `ownOrigin`, in which case the platform drops it silently.
 */
export function fakeWindow(ownOrigin: string, deliver?: (post: RecordedPost) => void): FakeWindow {
  const win = {
    closed: false,
    posts: [] as RecordedPost[],
    postMessage(data: unknown, targetOrigin: string, transfer: Transferable[] = []) {
      if (typeof targetOrigin !== 'string') throw new TypeError('fake window: targetOrigin is required')
      const post = { data: structuredClone(data), targetOrigin, transfer }
      win.posts.push(post)
      if (win.closed) return
      if (targetOrigin !== '*' && targetOrigin !== ownOrigin) return
      if (deliver) queueMicrotask(() => deliver(post))
    },
  } as FakeWindow & { window: FakeWindow }
  ;(win as { window: FakeWindow }).window = win
  return win
}

/** Dispatches a synthetic message event on `host`, as if `source` (of `origin`) had posted it. */
export function dispatchMessage(
  host: EventTarget,
  init: { data: unknown; origin: string; source: unknown; ports?: readonly MessagePort[] },
): void {
  host.dispatchEvent(
    new MessageEvent('message', {
      data: init.data,
      origin: init.origin,
      source: init.source as MessageEventSource,
      ports: init.ports as MessagePort[] | undefined,
    }),
  )
}

/**
 * Two fake windows that talk through the one jsdom window: what one side
 * posts to the other is dispatched on `host` with the sender's origin and the
 * sender as `source` (as the receiver sees it), and the transferred ports.
 * The connection in the parent uses `target: child`; the child's uses `target: parent`.
 */
export function windowPair(
  parentOrigin: string,
  childOrigin: string,
  options: { host?: EventTarget; rewrite?: (data: any) => any } = {},
): { parent: FakeWindow; child: FakeWindow } {
  const host = options.host ?? window
  const rewrite = options.rewrite ?? ((data) => data)
  const ports = (post: RecordedPost) => post.transfer.filter((t): t is MessagePort => t instanceof MessagePort)
  // `child` is the child window as the parent sees it: posting to it delivers in the child's realm.
  const child: FakeWindow = fakeWindow(childOrigin, (post) =>
    dispatchMessage(host, { data: rewrite(post.data), origin: parentOrigin, source: parent, ports: ports(post) }),
  )
  const parent: FakeWindow = fakeWindow(parentOrigin, (post) =>
    dispatchMessage(host, { data: rewrite(post.data), origin: childOrigin, source: child, ports: ports(post) }),
  )
  return { parent, child }
}

/**
 * One end of an in-memory transport pair: what it posts arrives (cloned, in a
 * microtask, with the MessagePorts of its transfer list) at the other end, or
 * is lost if that end is not listening, like a window that has not loaded yet.
 */
export interface MemoryEnd {
  post(data: unknown, transfer?: Transferable[]): void
  announce(data: unknown): void
  listen(receiver: (data: unknown, ports: readonly MessagePort[]) => void): void
  close(): void
  readonly posted: any[]
  readonly closed: boolean
  /** Delivers `data` (and `ports`) to this end's receiver as if the peer had posted it. */
  inject(data: unknown, ports?: readonly MessagePort[]): void
}

export function memoryPair(): [MemoryEnd, MemoryEnd] {
  const make = (): MemoryEnd & {
    other?: MemoryEnd
    receiver?: (data: unknown, ports: readonly MessagePort[]) => void
  } => {
    const end: MemoryEnd & {
      other?: MemoryEnd
      receiver?: (data: unknown, ports: readonly MessagePort[]) => void
      isClosed: boolean
    } = {
      posted: [],
      isClosed: false,
      get closed() {
        return end.isClosed
      },
      post(data, transfer = []) {
        if (end.isClosed) return
        const copy = structuredClone(data)
        end.posted.push(copy)
        const other = end.other
        const ports = transfer.filter((t): t is MessagePort => t instanceof MessagePort)
        queueMicrotask(() => other?.inject(copy, ports))
      },
      announce(data) {
        end.post(data)
      },
      listen(receiver) {
        end.receiver = receiver
      },
      close() {
        end.isClosed = true
        end.receiver = undefined
      },
      inject(data, ports = []) {
        end.receiver?.(data, ports)
      },
    }
    return end
  }
  const a = make()
  const b = make()
  a.other = b
  b.other = a
  return [a, b]
}

/**
 * The other end of a connection, speaking the wire protocol by hand: a fake
 * window at `origin` whose handshake always leads (nonce `'~'` sorts after
 * every nanoid), so a test can send any session message it likes.
 */
export class ManualPeer {
  readonly win: FakeWindow
  /** Link messages (SYN, ACK) the connection posted to this window. */
  readonly link: any[] = []
  /** Session messages received over the private port, batches unpacked. */
  readonly received: any[] = []
  /** What each post on the private port carried: a message, or a batch (an array). */
  readonly posts: any[] = []
  port: MessagePort | undefined
  autoAck = true
  readonly ports: MessagePort[] = []

  constructor(
    readonly origin: string,
    public nonce = '~',
    public channel = '',
    readonly host: EventTarget = window,
  ) {
    this.win = fakeWindow(origin, (post) => this.onLink(post))
  }

  private onLink(post: RecordedPost): void {
    this.link.push(post.data)
    const data = post.data
    if (data?.k === 's' && this.autoAck) this.ack(data.n)
  }

  /** Posts a link message to the connection, from this window at `origin` (or another origin). */
  sendLink(data: unknown, ports: MessagePort[] = [], origin = this.origin): void {
    dispatchMessage(this.host, { data, origin, source: this.win, ports })
  }

  syn(nonce = this.nonce): void {
    this.sendLink({ pc: 1, k: 's', n: nonce })
  }

  /** Leads: offers a fresh private port to the connection whose nonce is `followerNonce`. */
  ack(followerNonce: string): void {
    const { port1, port2 } = new MessageChannel()
    this.ports.push(port1, port2)
    this.port = port1
    port1.onmessage = (event) => {
      if (this.port !== port1) return
      this.posts.push(event.data)
      if (Array.isArray(event.data)) this.received.push(...event.data)
      else this.received.push(event.data)
    }
    this.sendLink({ pc: 1, k: 'a', n: followerNonce, l: this.nonce, c: this.channel }, [port2])
  }

  /** Sends a session message over the private port. */
  send(message: unknown): void {
    this.port!.postMessage(message)
  }

  close(): void {
    for (const port of this.ports) port.close()
  }
}
