/**
 * A leader whose page goes away after its ACK, before the follower's fin,
 * withdraws the port it offered: the follower hears an unload notice on it
 * instead of sitting open on a port nobody reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addIframe, type Driver, launch, openPage, origins, pageUrl } from '../harness/driver.js'

let driver: Driver
const { A, B } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('an offer outstanding when the leader page unloads', () => {
  it('is withdrawn with an unload notice on the offered port', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'peer', { b: 'lifecycle', allow: A }))
    // The parent speaks the handshake by hand, as a follower: '-' sorts before every nanoid,
    // so the real portcullis in the child leads and offers a port.
    await page.evaluate((origin) => {
      const w = globalThis as any
      const child = (document.getElementById('child') as HTMLIFrameElement).contentWindow!
      window.addEventListener('message', (event) => {
        const data = event.data
        if (event.source !== child || data?.k !== 'a' || data.n !== '-' || !event.ports[0]) return
        w.offered ??= event.ports[0]
      })
      const syn = (): void => {
        if (w.offered) return
        child.postMessage({ pc: 1, k: 's', n: '-' }, origin)
        setTimeout(syn, 20)
      }
      syn()
    }, B)
    await page.waitFor(() => (globalThis as any).offered !== undefined)
    // No fin: the child navigates away while its offer is outstanding.
    await page.evaluate(
      (src) =>
        new Promise<void>((resolve) => {
          const iframe = document.getElementById('child') as HTMLIFrameElement
          iframe.addEventListener('load', () => resolve(), { once: true })
          iframe.src = src
        }),
      pageUrl(B),
    )
    await page.evaluate(() => {
      const w = globalThis as any
      w.heard = []
      w.offered.onmessage = (event: MessageEvent) => w.heard.push(event.data)
    })
    await page.waitFor(() => (globalThis as any).heard.length > 0, undefined, 3000).catch(() => {})
    expect(await page.evaluate(() => (globalThis as any).heard)).toEqual([{ k: 'x', r: 'unload' }])
    await page.close()
  })
})
