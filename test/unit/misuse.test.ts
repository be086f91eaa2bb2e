/**
 * A new user's mistakes, made through the public API only (`src/index.ts`),
 * and what that user then sees: an error that names the mistake and what to
 * do, at the line that made it; nothing lost; nothing hung. Two real
 * connections talk over a MessageChannel (what a page and its worker do), so
 * no test here depends on origins: those are in test/browser/misuse.test.ts.
 * The option checks of connect() are in connect-options.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { jsonpHandler } from '../../src/fallback/index.js'
import {
  AbortError,
  type Connection,
  type Contract,
  connect,
  DisconnectedError,
  defineContract,
  type Handlers,
  PortcullisError,
  type Rejection,
  RemoteError,
  TimeoutError,
  transfer,
  ValidationError,
} from '../../src/index.js'
import { rejection, turns, until } from './helpers.js'

const cartApi = defineContract({
  methods: {
    getCart: { input: z.tuple([]), output: z.array(z.string()) },
    checkout: { input: z.tuple([z.string()]), output: z.object({ items: z.number(), card: z.string() }) },
    echo: { input: z.tuple([z.unknown()]), output: z.unknown() },
  },
  events: { cartChanged: z.object({ items: z.array(z.string()) }) },
})

const conns: Array<Connection<any, any>> = []
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
})

/** A caller of `remote` and a server of it, over a fresh MessageChannel. */
function pair<C extends Contract>(
  contract: C,
  handlers: Handlers<C>,
  options: { timeout?: number } = {},
): { caller: Connection<C>; server: Connection<Contract, C>; callerRejections: Rejection[] } {
  const { port1, port2 } = new MessageChannel()
  const callerRejections: Rejection[] = []
  const caller = connect({
    target: port1,
    remote: contract,
    onRejected: (r) => callerRejections.push(r),
    ...options,
  }) as Connection<C>
  const server = connect({ target: port2, local: { contract, handlers } }) as unknown as Connection<Contract, C>
  conns.push(caller, server)
  return { caller, server, callerRejections }
}

const plainHandlers: Handlers<typeof cartApi> = {
  getCart: () => ['apple'],
  checkout: (card) => ({ items: 1, card }),
  echo: (value) => value,
}

describe('handlers written the way JavaScript invites', () => {
  it('an object-literal handler that calls another through `this` works (TypeScript types `this` as the handlers object)', async () => {
    const handlers = {
      cart: ['apple', 'pear'],
      getCart() {
        return this.cart
      },
      checkout(card: string) {
        return { items: this.getCart().length, card }
      },
      echo: (value: unknown) => value,
    }
    const { caller } = pair(cartApi, handlers)
    const remote = await caller.ready
    await expect(remote.checkout('4242')).resolves.toEqual({ items: 2, card: '4242' })
    await expect(remote.getCart()).resolves.toEqual(['apple', 'pear'])
  })

  it('portcullis/fallback calls them the same way (jsonpHandler)', async () => {
    const prices = defineContract({
      methods: {
        price: { input: z.tuple([z.string()]), output: z.number() },
        total: { input: z.tuple([z.array(z.string())]), output: z.number() },
      },
    })
    const handlers = {
      table: { apple: 2, pear: 3 } as Record<string, number>,
      price(sku: string) {
        return this.table[sku] ?? 0
      },
      total(skus: string[]) {
        return skus.reduce((sum, sku) => sum + this.price(sku), 0)
      },
    }
    const body = await new Promise<string>((resolve) => {
      jsonpHandler(prices, handlers)(
        {
          method: 'GET',
          url: `/rpc?method=total&args=${encodeURIComponent('[["apple","pear"]]')}&callback=cb`,
          headers: {},
        },
        { writeHead: () => {}, end: (text = '') => resolve(text) },
      )
    })
    expect(body).toContain('{\\"k\\":\\"r\\",\\"v\\":5}')
  })

  it("a class instance's methods are inherited, and the refusal says the handler must be the object's own", () => {
    class CartService {
      getCart(): string[] {
        return []
      }
      checkout(card: string) {
        return { items: 0, card }
      }
      echo(value: unknown) {
        return value
      }
    }
    const { port1 } = new MessageChannel()
    expect(() => connect({ target: port1, local: { contract: cartApi, handlers: new CartService() } })).toThrow(
      'connect(): local.handlers.getCart must be an own function (the contract declares it)',
    )
  })

  it.each([
    ['a string', 'out of stock', 'Error', 'out of stock', {}],
    ['null', null, 'Error', 'null', {}],
    ['undefined', undefined, 'Error', 'undefined', {}],
    [
      'a plain object',
      { name: 'CartError', message: 'empty cart', code: 'E_EMPTY' },
      'CartError',
      'empty cart',
      { code: 'E_EMPTY' },
    ],
    [
      'an object whose message getter throws',
      {
        get message(): string {
          throw new Error('getter')
        },
      },
      'Error',
      'the thrown value could not be read',
      {},
    ],
  ])(
    'a handler that throws %s: the caller gets a RemoteError it can read',
    async (_, thrown, remoteName, message, data) => {
      const { caller } = pair(cartApi, {
        ...plainHandlers,
        getCart: () => {
          throw thrown
        },
      })
      const error = await rejection(caller.remote.getCart())
      expect(error).toBeInstanceOf(RemoteError)
      expect(error).toBeInstanceOf(PortcullisError)
      expect(error).toMatchObject({ code: 'REMOTE', remoteName, message, data })
    },
  )

  it('a thrown error keeps its class name, own data and cause chain; no stack without debug', async () => {
    class OutOfStock extends Error {
      override name = 'OutOfStock'
      sku = 'apple'
    }
    const { caller } = pair(cartApi, {
      ...plainHandlers,
      getCart: () => {
        throw new OutOfStock('no apples', { cause: new RangeError('stock 0') })
      },
    })
    const error = await rejection(caller.remote.getCart())
    expect(error).toMatchObject({ remoteName: 'OutOfStock', message: 'no apples', data: { sku: 'apple' } })
    expect(error.remoteStack).toBeUndefined()
    expect(error.cause).toBeInstanceOf(RemoteError)
    expect(error.cause).toMatchObject({ remoteName: 'RangeError', message: 'stock 0' })
  })

  it('a handler that returns what cannot be cloned (a function) fails that call, and the next call still works', async () => {
    const { caller } = pair(cartApi, { ...plainHandlers, echo: () => () => 'not data' })
    const error = await rejection(caller.remote.echo(1))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.remoteName).toBe('DataCloneError')
    await expect(caller.remote.getCart()).resolves.toEqual(['apple'])
  })

  it('close() inside a handler: the caller is told at once (peer-closed), it does not wait for its timeout', async () => {
    let server: Connection<Contract, typeof cartApi> | undefined
    const paired = pair(
      cartApi,
      {
        ...plainHandlers,
        getCart: () => {
          server?.close()
          return ['apple']
        },
      },
      { timeout: Number.POSITIVE_INFINITY },
    )
    server = paired.server
    const error = await rejection(paired.caller.remote.getCart())
    expect(error).toBeInstanceOf(DisconnectedError)
    expect(error.reason).toBe('peer-closed')
    expect(paired.caller.state).toBe('closed')
  })
})

describe('calls a JavaScript caller gets wrong', () => {
  it('too few or too many arguments: a ValidationError from the peer that names the method', async () => {
    const { caller } = pair(cartApi, plainHandlers)
    const remote = caller.remote as any
    const few = await rejection(remote.checkout())
    expect(few).toBeInstanceOf(ValidationError)
    expect(few).toMatchObject({ side: 'remote', target: 'arguments', method: 'checkout' })
    expect(few.message).toMatch(/^invalid arguments for "checkout"/)
    const many = await rejection(remote.checkout('4242', 'extra'))
    expect(many).toMatchObject({ code: 'VALIDATION', side: 'remote', method: 'checkout' })
  })

  it('an argument that cannot be cloned fails that call with the browser error, nothing stays pending', async () => {
    const { caller } = pair(cartApi, plainHandlers)
    const error = await rejection(caller.remote.echo(() => 1))
    expect(error.name).toBe('DataCloneError')
    await expect(caller.remote.echo(1)).resolves.toBe(1)
  })

  it('a signal already aborted: AbortError, with the reason as its cause, and nothing sent', async () => {
    const checkout = vi.fn(plainHandlers.checkout)
    const { caller } = pair(cartApi, { ...plainHandlers, checkout })
    const reason = new Error('user left')
    const error = await rejection(caller.remote.checkout.with({ signal: AbortSignal.abort(reason) })('4242'))
    expect(error).toBeInstanceOf(AbortError)
    expect(error.cause).toBe(reason)
    await caller.remote.getCart()
    expect(checkout).not.toHaveBeenCalled()
  })

  it.each([
    [0, 'got 0'],
    [-1, 'got -1'],
    [Number.NaN, 'got NaN'],
  ])(
    'a per-call timeout of %j rejects with a TypeError that names the method and shows the value',
    async (timeout, got) => {
      const { caller } = pair(cartApi, plainHandlers)
      const error = await rejection(caller.remote.getCart.with({ timeout: timeout as number })())
      expect(error).toBeInstanceOf(TypeError)
      expect(error.message).toBe(`call to "getCart": timeout must be a positive number of ms (or Infinity), ${got}`)
    },
  )

  it('.with(options, ...args) in plain JavaScript: refused at once, instead of returning a function and calling nothing', () => {
    const { caller } = pair(cartApi, plainHandlers)
    const withArgs = caller.remote.getCart.with as unknown as (options: object, ...args: unknown[]) => unknown
    expect(() => withArgs({ timeout: 500 }, 'x')).toThrow(
      new TypeError('getCart.with(options) takes the options alone: call what it returns'),
    )
  })

  it('a huge per-call timeout (past setTimeout range) does not fire at once', async () => {
    const { caller } = pair(cartApi, plainHandlers)
    await expect(caller.remote.getCart.with({ timeout: 1e12 })()).resolves.toEqual(['apple'])
  })

  it('a method the peer does not serve (the two sides load different contracts): the message says it is the peer that lacks it', async () => {
    const newer = defineContract({
      methods: { ...cartApi.methods, applyCoupon: { input: z.tuple([z.string()]), output: z.number() } },
      events: cartApi.events,
    })
    const { port1, port2 } = new MessageChannel()
    const caller = connect({ target: port1, remote: newer })
    const server = connect({ target: port2, local: { contract: cartApi, handlers: plainHandlers } })
    conns.push(caller, server)
    const error = await rejection(caller.remote.applyCoupon('SAVE10'))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.remoteName).toBe('MethodNotFoundError')
    expect(error.message).toBe('"applyCoupon" is not a method of the peer\'s contract')
  })

  it('a call made before ready and close() before the peer answered: the call and ready reject, neither hangs', async () => {
    const { port1 } = new MessageChannel()
    const conn = connect({ target: port1, remote: cartApi, timeout: Number.POSITIVE_INFINITY })
    conns.push(conn)
    const call = rejection(conn.remote.getCart())
    const ready = rejection(conn.ready)
    conn.close()
    conn.close()
    expect(await call).toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
    expect(await ready).toMatchObject({ code: 'DISCONNECTED', reason: 'closed' })
    expect(conn.state).toBe('closed')
  })
})

describe('events', () => {
  it('on() with a listener that is not a function throws at once, naming the event', () => {
    const { caller } = pair(cartApi, plainHandlers)
    expect(() => caller.on('cartChanged', undefined as never)).toThrow(
      new TypeError('on("cartChanged"): the listener must be a function'),
    )
  })

  it('onStateChange() with a listener that is not a function throws at once', () => {
    const { caller } = pair(cartApi, plainHandlers)
    expect(() => caller.onStateChange(null as never)).toThrow(
      new TypeError('onStateChange(): the listener must be a function'),
    )
  })

  it('emit() of a payload that breaks the schema is not refused by the emitter: the receiver drops it and reports it to its onRejected', async () => {
    const { caller, server, callerRejections } = pair(cartApi, plainHandlers)
    const heard: unknown[] = []
    caller.on('cartChanged', (payload) => heard.push(payload))
    await caller.ready
    expect(() => server.emit('cartChanged', { items: [42] } as never)).not.toThrow()
    server.emit('cartChanged', { items: ['apple'] })
    await until(() => heard.length === 1)
    expect(heard).toEqual([{ items: ['apple'] }])
    expect(callerRejections).toEqual([{ reason: 'schema', detail: expect.stringMatching(/^event "cartChanged": /) }])
  })
})

describe('transfer() misuse', () => {
  it('a transfer list that is not an array is refused by transfer() itself, not by the call later', () => {
    const buffer = new ArrayBuffer(8)
    expect(() => transfer(buffer, buffer as never)).toThrow(TypeError)
    expect(() => transfer(buffer, buffer as never)).toThrow(/, list an array$/)
  })
})

describe('a port nobody answers', () => {
  it('the handshake timeout of a port or worker does not send the user looking at origins', async () => {
    const { port1 } = new MessageChannel()
    const conn = connect({ target: port1, connectTimeout: 30 })
    conns.push(conn)
    const error = await rejection(conn.ready)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toBe('handshake did not complete within 30 ms; is connect() called on the other side?')
    await turns(1)
  })
})

describe('a null target', () => {
  it('names the most common cause first: an element lookup that found nothing', () => {
    expect(() => connect({ target: document.getElementById('no-such-iframe') as never })).toThrow(
      /^connect\(\): target is null \(no such element\?\)/,
    )
  })
})

describe("a component's effect run twice (React StrictMode in development)", () => {
  it('connect(), close() and connect() again in one turn: the second connection opens with the peer, every time', async () => {
    for (let round = 0; round < 20; round++) {
      const { port1, port2 } = new MessageChannel()
      const server = connect({ target: port2, local: { contract: cartApi, handlers: plainHandlers } })
      conns.push(server)
      const first = connect({ target: port1, remote: cartApi })
      first.close()
      const second = connect({ target: port1, remote: cartApi })
      conns.push(second)
      await expect(second.remote.getCart()).resolves.toEqual(['apple'])
      expect([first.state, second.state, server.state]).toEqual(['closed', 'open', 'open'])
      second.close()
      server.close()
      port1.close()
      port2.close()
    }
  })
})
