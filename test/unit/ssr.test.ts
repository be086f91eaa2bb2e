// @vitest-environment node
import { afterEach, describe, expect, it, vi } from 'vitest'

const WATCHED = [
  'window',
  'document',
  'self',
  'location',
  'navigator',
  'addEventListener',
  'postMessage',
  'parent',
] as const

afterEach(() => {
  vi.resetModules()
})

describe('importing portcullis (SSR safety)', () => {
  it('runs in an environment without window or document', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined')
    expect(typeof (globalThis as { document?: unknown }).document).toBe('undefined')
  })

  /** Imports `load()` fresh while every browser global is a getter that records its reads. */
  async function readsWhileLoading<T>(load: () => Promise<T>): Promise<{ reads: string[]; mod: T }> {
    const reads: string[] = []
    const saved = new Map<string, PropertyDescriptor | undefined>()
    for (const name of WATCHED) {
      saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name))
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          reads.push(name)
          return undefined
        },
      })
    }
    try {
      vi.resetModules()
      return { reads, mod: await load() }
    } finally {
      for (const [name, descriptor] of saved) {
        if (descriptor) Object.defineProperty(globalThis, name, descriptor)
        else delete (globalThis as Record<string, unknown>)[name]
      }
    }
  }

  it('the detector catches a module that reads a global at load (control)', async () => {
    const { reads } = await readsWhileLoading(() => import('./fixtures/reads-window.js'))
    expect(reads).toEqual(['window'])
  })

  it('reads no browser global while its modules load', async () => {
    const { reads, mod } = await readsWhileLoading(() => import('../../src/index.js'))
    expect(reads).toEqual([])
    expect(typeof mod.connect).toBe('function')
    expect(typeof mod.defineContract).toBe('function')
  })

  it('can define contracts on the server, and connect() fails clearly without a window', async () => {
    const { connect, defineContract } = await import('../../src/index.js')
    const z = await import('zod')
    const api = defineContract({ methods: { ping: { input: z.tuple([]), output: z.literal('pong') } } })
    expect(Object.keys(api.methods)).toEqual(['ping'])
    expect(() => connect({ target: null as never, allowedOrigins: ['https://a.example'] })).toThrow(TypeError)
  })

  it('exports the public API', async () => {
    const mod = await import('../../src/index.js')
    expect(Object.keys(mod)).toEqual(
      expect.arrayContaining([
        'AbortError',
        'DisconnectedError',
        'HandshakeError',
        'LimitError',
        'OriginError',
        'PROTOCOL_VERSION',
        'PortcullisError',
        'RemoteError',
        'TimeoutError',
        'ValidationError',
        'connect',
        'defineContract',
        'normalizeOrigin',
        'transfer',
      ]),
    )
  })
})
