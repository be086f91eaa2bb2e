import { afterEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import type { Connection } from '../../src/connection.js'
import { defineContract } from '../../src/contract.js'
import { fakeWindow } from './helpers.js'

const PEER = 'https://peer.example'
const api = defineContract({
  methods: { add: { input: z.tuple([z.number(), z.number()]), output: z.number() } },
})

const conns: Array<Connection<any, any>> = []
afterEach(() => {
  for (const c of conns.splice(0)) c.close()
})

function attempt(options: unknown): TypeError {
  try {
    conns.push(connect(options as never))
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError)
    return error as TypeError
  }
  throw new Error('expected connect() to throw')
}

describe('connect() refuses bad options with a TypeError that says what to do', () => {
  it('needs an options object', () => {
    expect(attempt(undefined).message).toBe('connect(): pass an options object')
    expect(attempt(null).message).toBe('connect(): pass an options object')
  })

  it('a null target names the likely causes (noopener, a COOP-severed opener)', () => {
    const { message } = attempt({ target: null, allowedOrigins: [PEER] })
    expect(message).toContain('target is null')
    expect(message).toContain("'noopener' or 'noreferrer' (or blocked)")
    expect(message).toContain('target=_blank')
    expect(message).toContain('Cross-Origin-Opener-Policy')
    expect(message).toContain('same-origin-allow-popups')
    expect(message).toContain('and the popup without the header')
    expect(attempt({ target: undefined, allowedOrigins: [PEER] }).message).toContain('target is undefined')
    expect(attempt({ target: undefined, allowedOrigins: [PEER] }).message).not.toContain('noopener')
    expect(attempt({ target: undefined, allowedOrigins: [PEER] }).message).not.toContain('Cross-Origin-Opener-Policy')
    expect(attempt({ allowedOrigins: [PEER] }).message).toContain('target is undefined')
  })

  it('refuses this window itself as the target', () => {
    // jsdom has no window.closed; a browser window always has it.
    Object.defineProperty(window, 'closed', { value: false, configurable: true })
    try {
      expect(attempt({ target: window, allowedOrigins: [PEER] }).message).toBe(
        'connect(): target is this window itself; pass the peer (window.parent is this window when the page is not framed)',
      )
    } finally {
      delete (window as { closed?: boolean }).closed
    }
  })

  it('refuses a window that is already closed, naming COOP', () => {
    const peer = fakeWindow(PEER)
    peer.closed = true
    const { message } = attempt({ target: peer, allowedOrigins: [PEER] })
    expect(message).toContain('the target window is already closed')
    expect(message).toContain('Cross-Origin-Opener-Policy')
  })

  it('refuses an iframe that is not in a document yet', () => {
    const iframe = document.createElement('iframe')
    expect(attempt({ target: iframe, allowedOrigins: [PEER] }).message).toContain(
      'insert it into the document before calling connect()',
    )
  })

  it('refuses something that is neither a window, an iframe nor an endpoint', () => {
    expect(attempt({ target: {}, allowedOrigins: [PEER] }).message).toContain('target must be an iframe element')
    expect(attempt({ target: document.createElement('div'), allowedOrigins: [PEER] }).message).toContain(
      'target must be an iframe element',
    )
    expect(attempt({ target: 'https://peer.example' }).message).toContain('target is string')
  })

  it('requires allowedOrigins for a window target', () => {
    expect(attempt({ target: fakeWindow(PEER) }).message).toMatch(/allowedOrigins is required/)
    expect(attempt({ target: fakeWindow(PEER), allowedOrigins: [] }).message).toMatch(/allowedOrigins is empty/)
    expect(attempt({ target: fakeWindow(PEER), allowedOrigins: ['*'] }).message).toMatch(/never accepts '\*'/)
    expect(attempt({ target: fakeWindow(PEER), allowedOrigins: ['null'] }).message).toMatch(/allowOpaqueOrigin: true/)
  })

  it('requires a handler for every method of the local contract', () => {
    const target = fakeWindow(PEER)
    expect(attempt({ target, allowedOrigins: [PEER], local: { contract: api, handlers: {} } }).message).toBe(
      'connect(): local.handlers.add must be an own function (the contract declares it)',
    )
    expect(attempt({ target, allowedOrigins: [PEER], local: { contract: api } }).message).toBe(
      'connect(): local.handlers must be an object with one function per method',
    )
    expect(
      attempt({ target, allowedOrigins: [PEER], local: { contract: api, handlers: { add: 'not a function' } } })
        .message,
    ).toContain('local.handlers.add must be an own function')
    // An inherited function is not a handler.
    const inherited = Object.create({ add: () => 1 })
    expect(
      attempt({ target, allowedOrigins: [PEER], local: { contract: api, handlers: inherited } }).message,
    ).toContain('local.handlers.add must be an own function')
  })

  it.each([
    ['timeout', 0],
    ['timeout', -1],
    ['timeout', Number.NaN],
    ['timeout', '1000'],
    ['connectTimeout', 0],
    ['connectTimeout', Number.NaN],
  ])('refuses %s: %j', (name, value) => {
    const { message } = attempt({ target: fakeWindow(PEER), allowedOrigins: [PEER], [name]: value })
    expect(message).toBe(`connect(): ${name} must be a positive number (or Infinity), got ${String(value)}`)
  })

  it('refuses maxDepth: 0, without suggesting Infinity (its ceiling is 1000)', () => {
    const { message } = attempt({ target: fakeWindow(PEER), allowedOrigins: [PEER], maxDepth: 0 })
    expect(message).toBe('connect(): maxDepth must be a positive number, got 0')
  })

  it.each([-5, 0, Number.NaN, Number.POSITIVE_INFINITY, '1000'])(
    'refuses maxMessageBytes: %j (the limit bounds the work of measuring, so it must be finite)',
    (value) => {
      const { message } = attempt({ target: fakeWindow(PEER), allowedOrigins: [PEER], maxMessageBytes: value })
      expect(message).toBe(
        `connect(): maxMessageBytes must be a finite positive number, got ${String(value)} (without a limit, measuring a message of shared references could take forever)`,
      )
    },
  )

  it('refuses a channel that is not a string', () => {
    expect(attempt({ target: fakeWindow(PEER), allowedOrigins: [PEER], channel: 7 }).message).toBe(
      'connect(): channel must be a string',
    )
  })

  it('accepts Infinity for the timeouts', () => {
    const conn = connect({
      target: fakeWindow(PEER) as unknown as Window,
      allowedOrigins: [PEER],
      timeout: Number.POSITIVE_INFINITY,
      connectTimeout: Number.POSITIVE_INFINITY,
    })
    conns.push(conn)
    expect(conn.state).toBe('connecting')
  })
})

describe('connect() targets', () => {
  it('talks to an iframe through its contentWindow, at the allowed origin', () => {
    const iframe = document.createElement('iframe')
    document.body.append(iframe)
    const post = vi.fn()
    Object.defineProperty(iframe.contentWindow!, 'postMessage', { value: post, configurable: true })
    const conn = connect({ target: iframe, allowedOrigins: [PEER] })
    conns.push(conn)
    expect(post).toHaveBeenCalledWith({ pc: 1, k: 's', n: expect.any(String) }, PEER)
    conn.close()
    iframe.remove()
  })

  it('recognises targets defensively when reading a property throws', () => {
    const inner = fakeWindow(PEER)
    // An element-like target whose `closed` throws (as a hostile getter might) is still an iframe.
    const iframeLike = {
      get closed(): boolean {
        throw new Error('SecurityError')
      },
      nodeType: 1,
      contentWindow: inner,
    }
    const viaIframe = connect({ target: iframeLike as never, allowedOrigins: [PEER] })
    conns.push(viaIframe)
    expect(inner.posts).toHaveLength(1)
    // A port-like target whose `nodeType` throws is still an endpoint.
    const portLike = {
      get nodeType(): number {
        throw new Error('SecurityError')
      },
      postMessage: vi.fn(),
      addEventListener: vi.fn(),
      removeEventListener: vi.fn(),
    }
    conns.push(connect({ target: portLike as never }))
    expect(portLike.postMessage).toHaveBeenCalledTimes(1)
  })

  it('accepts any endpoint with postMessage and addEventListener (a Worker or a worker scope)', () => {
    const listeners: unknown[] = []
    const endpoint = {
      postMessage: vi.fn(),
      addEventListener: (_: string, l: unknown) => listeners.push(l),
      removeEventListener: (_: string, l: unknown) => listeners.splice(listeners.indexOf(l), 1),
    }
    const conn = connect({ target: endpoint })
    expect(endpoint.postMessage).toHaveBeenCalledWith({ pc: 1, k: 's', n: expect.any(String) }, [])
    expect(listeners).toHaveLength(1)
    conn.close()
    expect(listeners).toHaveLength(0)
  })
})
