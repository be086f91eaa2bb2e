/**
 * A new user's mistakes that involve real windows, origins and workers, and
 * what that user sees. Mistakes that need no browser are in
 * test/unit/misuse.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, type PageHandle, pageUrl } from './harness/driver.js'

let driver: Driver
const { A, B } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

const SELF =
  'TypeError: connect(): target is this window itself; pass the peer (window.parent is this window when the page is not framed)'

/** What connect({ target }) throws in the page, as `Name: message`, or 'no throw'. */
function tryTarget(page: Pick<PageHandle, 'evaluate'>, target: 'window' | 'parent' | 'top'): Promise<string> {
  return page.evaluate((which) => {
    const { portcullis } = globalThis as any
    const target = which === 'window' ? window : which === 'parent' ? window.parent : window.top
    try {
      portcullis.connect({ target, allowedOrigins: ['https://peer.example'] }).close()
      return 'no throw'
    } catch (e: any) {
      return `${e.name}: ${e.message}`
    }
  }, target)
}

describe('connecting to yourself', () => {
  it('window.parent or window.top in a page that is not framed: refused, and told why', async () => {
    const page = await openPage(driver, pageUrl(A))
    expect(await tryTarget(page, 'parent')).toBe(SELF)
    expect(await tryTarget(page, 'top')).toBe(SELF)
    await page.close()
  })

  it('window in a framed page (a widget that thinks connect() listens on its own window): refused without claiming the page is not framed', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, pageUrl(B))
    expect(await tryTarget(child, 'window')).toBe(SELF)
    expect(await tryTarget(child, 'parent')).toBe('no throw')
    await page.close()
  })
})

describe('allowedOrigins as people write them', () => {
  it('with a trailing slash, an upper-case scheme and host, and listed twice: normalised, and the iframe connects', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'child', { parent: A }))
    const result = await page.evaluate(async (childOrigin) => {
      const { portcullis, contracts } = globalThis as any
      const shouted = `${childOrigin.toUpperCase()}/`
      const conn = portcullis.connect({
        target: document.getElementById('child'),
        allowedOrigins: [shouted, childOrigin],
        remote: contracts.childApi,
      })
      const remote = await conn.ready
      const sum = await remote.add(2, 3)
      conn.close()
      return { shouted, normalised: portcullis.normalizeOrigin(shouted), sum }
    }, B)
    expect(result).toEqual({ shouted: `${B.toUpperCase()}/`, normalised: B, sum: 5 })
    await page.close()
  })
})

describe("a component's effect run twice (React StrictMode in development)", () => {
  it('connect(), close() and connect() again in one turn to a cross-site iframe: the second connection opens', async () => {
    const page = await openPage(driver, pageUrl(A))
    // One iframe per round: closing the second connection closes the child's too (peer-closed).
    const names = ['c0', 'c1', 'c2', 'c3', 'c4']
    await Promise.all(names.map((name) => addIframe(page, pageUrl(B, 'child', { parent: A }), name)))
    const result = await page.evaluate(
      async ({ childOrigin, names }) => {
        const { portcullis, contracts } = globalThis as any
        return Promise.all(
          names.map(async (name, round) => {
            const options = {
              target: document.getElementById(name),
              allowedOrigins: [childOrigin],
              remote: contracts.childApi,
            }
            const first = portcullis.connect(options)
            first.close()
            const second = portcullis.connect(options)
            const remote = await second.ready
            return [first.state, second.state, await remote.add(round, 1)]
          }),
        )
      },
      { childOrigin: B, names },
    )
    expect(result).toEqual(names.map((_, round) => ['closed', 'open', round + 1]))
    await page.close()
  })
})

describe('an iframe that is not loaded yet', () => {
  it('inserted with no src (about:blank, of this page origin), connect() called, then src set: it connects to the page that loads', async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate((childOrigin) => {
      const { portcullis, contracts } = globalThis as any
      const iframe = document.createElement('iframe')
      iframe.id = 'child'
      iframe.name = 'child'
      document.body.append(iframe)
      const w = globalThis as any
      w.states = []
      w.conn = portcullis.connect({ target: iframe, allowedOrigins: [childOrigin], remote: contracts.childApi })
      w.conn.onStateChange((state: string, cause: string) => w.states.push(`${state}:${cause}`))
    }, B)
    // The first SYNs (addressed to B) reach the about:blank document, which the browser skips.
    await page.evaluate(
      (src) => {
        ;(document.getElementById('child') as HTMLIFrameElement).src = src
      },
      pageUrl(B, 'child', { parent: A }),
    )
    const result = await page.evaluate(async () => {
      const w = globalThis as any
      const remote = await w.conn.ready
      return { sum: await remote.add(20, 22), states: w.states }
    })
    expect(result).toEqual({ sum: 42, states: ['open:handshake'] })
    await page.close()
  })
})

describe('handlers and values the browser cannot carry', () => {
  it('a DOMException thrown by a handler arrives as a RemoteError with its name; a DOM node returned fails that call alone', async () => {
    const page = await openPage(driver, pageUrl(A))
    const result = await page.evaluate(async () => {
      const { portcullis, z } = globalThis as any
      const api = portcullis.defineContract({
        methods: { find: { input: z.tuple([z.string()]), output: z.unknown() } },
      })
      const { port1, port2 } = new MessageChannel()
      const caller = portcullis.connect({ target: port1, remote: api })
      const server = portcullis.connect({
        target: port2,
        local: {
          contract: api,
          handlers: {
            find: (what: string) => {
              if (what === 'missing') throw new DOMException('no such row', 'NotFoundError')
              if (what === 'node') return document.body
              return what
            },
          },
        },
      })
      const remote = await caller.ready
      const outcome = (p: Promise<unknown>) =>
        p.then(
          (value) => ({ value }),
          (e: any) => ({ name: e.name, code: e.code, remoteName: e.remoteName, message: e.message }),
        )
      const results = {
        missing: await outcome(remote.find('missing')),
        node: await outcome(remote.find('node')),
        after: await outcome(remote.find('row')),
        argument: await outcome(remote.find(document.body)),
      }
      caller.close()
      server.close()
      return results
    })
    expect(result.missing).toEqual({
      name: 'RemoteError',
      code: 'REMOTE',
      remoteName: 'NotFoundError',
      message: 'no such row',
    })
    expect(result.node).toMatchObject({ name: 'RemoteError', code: 'REMOTE', remoteName: 'DataCloneError' })
    expect(result.after).toEqual({ value: 'row' })
    // The caller's own uncloneable argument: the browser's error, as the README says.
    expect(result.argument).toMatchObject({ name: 'DataCloneError', code: 25 })
    await page.close()
  })
})

describe('a worker whose script does not load', () => {
  it("the handshake times out with a message that repeats the worker's error instead of sending the user looking at origins", async () => {
    const page = await openPage(driver, pageUrl(A))
    const message = await page.evaluate(async () => {
      const { portcullis } = globalThis as any
      const worker = new Worker('/no-such-worker.js', { type: 'module' })
      // Time for the 404 to come back from a test server busy with other pages (a loaded CI machine).
      const conn = portcullis.connect({ target: worker, connectTimeout: 3000 })
      try {
        await conn.ready
        return 'opened'
      } catch (e: any) {
        return `${e.name}: ${e.message} (${conn.state}, ${conn.cause})`
      } finally {
        worker.terminate()
      }
    })
    expect(message).toBe(
      'TimeoutError: handshake did not complete within 3000 ms; the worker failed: its script did not load (closed, connect-timeout)',
    )
    await page.close()
  })
})
