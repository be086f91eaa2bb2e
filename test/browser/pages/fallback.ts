import * as fallback from '../../../src/fallback/index.js'
import { connect, type Handlers, transfer } from '../../../src/index.js'
import * as fallbackContracts from '../fallback/contracts.js'
import { childApi } from './contracts.js'
import { count, params, runScenario } from './runner.js'

/**
 * Scenarios of the fallback tests (`?b=fallback&s=<name>`). The module and
 * its test contracts are globals for page.evaluate(); what a scenario
 * observes goes to `window.fb`.
 */
const fb = {
  status: undefined as fallback.WindowNameServeStatus | undefined,
  rejections: [] as fallback.WindowNameRejection[],
}
// `transfer` of this bundle: lib.js has its own copy of the core, whose marks this bundle cannot see.
Object.assign(globalThis, { fallback, fallbackContracts, fb, transfer })

const handlers: Handlers<typeof childApi> = {
  add: (a, b) => (count('add'), a + b),
  echo: (value) => (count('echo'), value),
  slow: (ms) => new Promise<string>((resolve) => setTimeout(() => resolve(`waited ${ms}`), ms)),
  fail: (message) => {
    throw Object.assign(new RangeError(message), { detail: { retry: false } })
  },
  badResult: () => 'not a number' as unknown as number,
  askParent: () => {
    throw new Error('no calls back over window.name')
  },
}

function serve(): fallback.WindowNameServeStatus {
  fb.status = fallback.serveWindowName({
    contract: childApi,
    handlers,
    allowedOrigins: params.getAll('allow'),
    onRejected: (r) => fb.rejections.push(r),
  })
  return fb.status
}

runScenario({
  /** A responder page that speaks only window.name, for the origins in `?allow=`. */
  responder() {
    serve()
  },

  /** The recommended page: answers window.name requests, and otherwise connects to `?parent=` over postMessage. */
  dual() {
    if (serve() !== 'none') return
    connect({
      target: window.parent,
      allowedOrigins: [params.get('parent') ?? ''],
      local: { contract: childApi, handlers },
    })
  },

  /**
   * A relay page that logs every read and write of its own window.name into
   * the parent's `nameLog` (same origin), to show the caller reads once and clears.
   */
  relay() {
    const accessor = Object.getOwnPropertyDescriptor(window, 'name')
    if (!accessor?.get || !accessor.set) throw new Error('window.name is not an own accessor here')
    const { get, set } = accessor
    const log = ((window.parent as unknown as { nameLog?: unknown[] }).nameLog ??= [])
    Object.defineProperty(window, 'name', {
      configurable: true,
      get() {
        const value = get.call(window)
        log.push(['read', value])
        return value
      },
      set(value: string) {
        log.push(['write', value])
        set.call(window, value)
      },
    })
  },
})
