/**
 * The handshake and the reconnect at their edges, in a real browser: the same
 * channel used twice, after one another or by two connect() in one turn (a
 * worker; regression tests), and as coverage connect() on a popup that has not
 * loaded yet, the opener reloading under a popup, a popup leaving and coming
 * back or closing itself, noopener, rapid navigations, history in a frame, two channels reconnecting,
 * two frames of one origin, a grandchild talking to the top window, and the
 * back/forward cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addIframe,
  type Context,
  type Driver,
  ENGINE,
  launch,
  openPage,
  origins,
  type PageHandle,
  pageUrl,
} from '../harness/driver.js'
import { call, connectTo, peer } from './helpers.js'

let driver: Driver
const { A, B, C, D } = origins()

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

describe('the same channel used twice', () => {
  it('a second connect() to the same window and channel takes over; the first closes instead of staying open on a dead port', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B))
    await connectTo(page, 'one', "document.getElementById('child')", { allow: [B], timeout: 60_000 })
    expect(await call(page, 'one', 'whoami')).toEqual({ ok: true, value: 'peer' })
    await page.evaluate(() => {
      const w = globalThis as any
      w.pending = w.conns.one.remote.slow(30_000).then(
        () => 'resolved',
        (e: any) => ({ code: e.code, reason: e.reason }),
      )
    })
    await connectTo(page, 'two', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'two', 'whoami')).toEqual({ ok: true, value: 'peer' })
    // The child now serves 'two' only: 'one' must not report 'open' while its calls go nowhere.
    await page.waitFor(() => (globalThis as any).conns.one.state === 'closed', undefined, 3000)
    expect(await page.evaluate(() => (globalThis as any).pending)).toEqual({
      code: 'DISCONNECTED',
      reason: 'peer-closed',
    })
    expect(await call(page, 'two', 'add', [1, 2])).toEqual({ ok: true, value: 3 })
    await page.close()
  })

  it('a second connection in the peer window on the same channel takes over; the first closes', async () => {
    const page = await openPage(driver, pageUrl(A))
    const child = await addIframe(page, peer(B))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'peer' })
    // The widget's script runs twice in the child window (a second bundle, a remount that forgot close()).
    await child.evaluate((parentOrigin) => {
      const { portcullis, contracts, t } = globalThis as any
      t.states = []
      t.conn.onStateChange((state: string, cause: string) => t.states.push(`${state}:${cause}`))
      t.second = portcullis.connect({
        target: window.parent,
        allowedOrigins: [parentOrigin],
        local: {
          contract: contracts.peerApi,
          handlers: { add: () => -1, whoami: () => 'second', slow: () => '', takeBuffer: () => ({ length: 0 }) },
        },
      })
    }, A)
    await child.waitFor(() => (globalThis as any).t.conn.state === 'closed', undefined, 3000)
    expect(await child.evaluate(() => (globalThis as any).t.states)).toEqual(['closed:peer-closed'])
    await page.waitFor(() => (globalThis as any).conns.child.state === 'open')
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'second' })
    expect(await page.evaluate(() => (globalThis as any).log.child.states)).toEqual([
      'open:handshake',
      'reconnecting:peer-reloaded',
      'open:peer-reloaded',
    ])
    await page.close()
  })

  it('two connect() to one worker in the same turn: one opens, the other closes (peer-closed) instead of staying open on a port nobody serves', async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate(() => {
      const w = globalThis as any
      // The worker draws the greatest nonce there is ('zzz…'), so it leads both
      // handshakes: it offers each connection a port and keeps the first one
      // answered. (With random nonces the peer leads at least one in 2 runs of 3.)
      const z = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict'.indexOf('z')
      const src = `crypto.getRandomValues = (a) => a.fill(${z}); importScripts(${JSON.stringify(`${location.origin}/worker.js`)})`
      const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })))
      w.pair = [0, 1].map(() => w.portcullis.connect({ target: worker, remote: w.contracts.peerApi, timeout: 60_000 }))
    })
    // Only one can be served: the other must say so, not stay 'open' while its calls go nowhere.
    await page.waitFor(() => (globalThis as any).pair.some((c: any) => c.state === 'closed'), undefined, 3000)
    const outcome = await page.evaluate(async () => {
      const pair = (globalThis as any).pair as any[]
      const open = pair.find((c) => c.state === 'open')
      const closed = pair.find((c) => c.state === 'closed')
      return {
        open: await open?.remote.add(1, 2),
        cause: closed.cause,
        closedCall: await closed.remote.add(1, 2).catch((e: any) => ({ code: e.code, reason: e.reason })),
      }
    })
    expect(outcome).toEqual({
      open: 3,
      cause: 'peer-closed',
      closedCall: { code: 'DISCONNECTED', reason: 'peer-closed' },
    })
    await page.close()
  })
})

/** Records the state changes of the page's own peer connection (`t.conn`) in `t.states`. */
function recordStates(frame: Context): Promise<void> {
  return frame.evaluate(() => {
    const t = (globalThis as any).t
    t.states = []
    t.conn.onStateChange((state: string, cause: string) => t.states.push(`${state}:${cause}`))
  })
}

/** Navigates `frame` to `url` once the script asking for it has returned (see navigated-peer.test.ts). */
function navigate(frame: Context, url: string): Promise<void> {
  return frame.evaluate((u) => {
    setTimeout(() => {
      location.href = u
    })
  }, url)
}

/** Opens A and, from a real click, a popup of B named 'popup' that connects to its opener. */
async function openerAndPopup(): Promise<{ page: PageHandle; popup: PageHandle }> {
  const page = await openPage(driver, pageUrl(A))
  const popupUrl = peer(B, { target: 'opener' })
  await page.evaluate((url) => {
    const button = document.createElement('button')
    button.id = 'open'
    button.onclick = () => {
      ;(globalThis as any).popup = window.open(url, 'popup', 'popup')
    }
    document.body.append(button)
  }, popupUrl)
  const popup = await page.popup(() => page.click('#open'))
  await popup.waitFor(() => (globalThis as any).t?.conn !== undefined)
  return { page, popup }
}

describe('popups', () => {
  it('the opener reloads while the popup keeps running: the popup goes reconnecting, then open with the new opener page', async () => {
    const { page, popup } = await openerAndPopup()
    await connectTo(page, 'popup', 'globalThis.popup', { allow: [B] })
    expect(await call(page, 'popup', 'whoami')).toEqual({ ok: true, value: 'peer' })
    await recordStates(popup)
    await navigate(page, pageUrl(A, undefined, { title: 'reloaded' }))
    await popup.waitFor(() => (globalThis as any).t.conn.state === 'reconnecting')
    // The new opener page finds the popup by its name and connects again.
    await page.waitFor(() => document.title === 'reloaded' && (globalThis as any).portcullis !== undefined)
    await page.evaluate(() => {
      ;(globalThis as any).popup = window.open('', 'popup')
    })
    await connectTo(page, 'popup', 'globalThis.popup', { allow: [B] })
    expect(await call(page, 'popup', 'add', [2, 3])).toEqual({ ok: true, value: 5 })
    expect(await popup.evaluate(() => (globalThis as any).t.states)).toEqual([
      'reconnecting:peer-unloaded',
      'open:peer-reloaded',
    ])
    await popup.close()
    await page.close()
  })

  it('the popup navigates to a disallowed origin and back: origin-changed, then open with the allowed page', async () => {
    const { page, popup } = await openerAndPopup()
    await connectTo(page, 'popup', 'globalThis.popup', { allow: [B] })
    expect(await call(page, 'popup', 'whoami')).toEqual({ ok: true, value: 'peer' })
    // D runs a real portcullis peer that allows A.
    await navigate(popup, peer(D, { target: 'opener', label: 'intruder' }))
    await page.waitFor(() => (globalThis as any).conns.popup.cause === 'origin-changed')
    await navigate(popup, peer(B, { target: 'opener', label: 'back' }))
    await page.waitFor(() => (globalThis as any).conns.popup.state === 'open')
    expect(await call(page, 'popup', 'whoami')).toEqual({ ok: true, value: 'back' })
    // The old page's unload notice (on the session port) and the intruder's first SYN (a
    // window message) have no order between them: Chromium runs the unload of a cross-site
    // navigation after the new page commits. Either one ends the session.
    const states: string[] = await page.evaluate(() => (globalThis as any).log.popup.states)
    expect(states).toEqual([
      'open:handshake',
      ...(states[1] === 'reconnecting:peer-unloaded' ? ['reconnecting:peer-unloaded'] : []),
      'reconnecting:origin-changed',
      'open:peer-reloaded',
    ])
    await popup.close()
    await page.close()
  })

  it('the popup closes itself (the user closes it) during a call: peer-gone, not a reconnect', async () => {
    const { page, popup } = await openerAndPopup()
    await connectTo(page, 'popup', 'globalThis.popup', { allow: [B], timeout: 3_600_000 })
    expect(await call(page, 'popup', 'whoami')).toEqual({ ok: true, value: 'peer' })
    await page.evaluate(() => {
      const w = globalThis as any
      w.pending = w.conns.popup.remote.slow(60_000).catch((e: any) => ({ code: e.code, reason: e.reason }))
    })
    await popup.evaluate(() => {
      setTimeout(() => window.close())
    })
    await page.waitFor(() => (globalThis as any).conns.popup.state === 'closed')
    expect(await page.evaluate(() => (globalThis as any).pending)).toEqual({
      code: 'DISCONNECTED',
      reason: 'peer-gone',
    })
    expect(await page.evaluate(() => (globalThis as any).log.popup.states)).toEqual([
      'open:handshake',
      'closed:peer-gone',
    ])
    await page.close()
  })

  it("connect() in the click handler, on the WindowProxy window.open() returned before the popup's page loaded (the README's pattern)", async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate(
      (url) => {
        const button = document.createElement('button')
        button.id = 'open'
        button.onclick = () => {
          const w = globalThis as any
          w.popup = window.open(url, 'popup', 'popup')
          // Still the initial about:blank document, of this page's origin: the SYNs addressed to B wait for B.
          w.conns = {
            popup: w.portcullis.connect({
              target: w.popup,
              allowedOrigins: [new URL(url).origin],
              remote: w.contracts.peerApi,
            }),
          }
        }
        document.body.append(button)
      },
      peer(B, { target: 'opener' }),
    )
    const popup = await page.popup(() => page.click('#open'))
    expect(await call(page, 'popup', 'whoami')).toEqual({ ok: true, value: 'peer' })
    expect(await page.evaluate(() => (globalThis as any).conns.popup.cause)).toBe('handshake')
    await popup.close()
    await page.close()
  })

  it('noopener: both sides fail at once with a TypeError that names noopener instead of waiting for a handshake', async () => {
    const page = await openPage(driver, pageUrl(A))
    await page.evaluate(
      (url) => {
        const button = document.createElement('button')
        button.id = 'open'
        button.onclick = () => {
          const w = globalThis as any
          const popup = window.open(url, '_blank', 'noopener')
          try {
            w.portcullis.connect({ target: popup, allowedOrigins: [new URL(url).origin], remote: w.contracts.peerApi })
            w.outcome = 'connecting'
          } catch (e: any) {
            w.outcome = `${e.name}: ${e.message}`
          }
        }
        document.body.append(button)
      },
      peer(B, { target: 'opener' }),
    )
    const popup = await page.popup(() => page.click('#open'))
    // Each side's error names the likely cause: window.open() returns null with
    // 'noopener', and the popup's window.opener is null (a target="_blank" link implies it).
    const opener = await page.evaluate(() => (globalThis as any).outcome)
    expect(opener).toMatch(/^TypeError: connect\(\): target is null/)
    expect(opener).toContain("window.open() with 'noopener' or 'noreferrer' (or blocked) returns null")
    await popup.waitFor(() => (globalThis as any).t?.error !== undefined)
    const popupSide = await popup.evaluate(() => (globalThis as any).t.error)
    expect(popupSide).toMatch(/^TypeError: connect\(\): target is null/)
    expect(popupSide).toContain('and so does window.opener in a popup opened that way')
    await popup.close()
    await page.close()
  })
})

/** Sets the src of iframe `id` in `page` and resolves once the new document has loaded. */
function setSrc(page: PageHandle, id: string, src: string): Promise<void> {
  return page.evaluate(
    ({ id, src }) =>
      new Promise<void>((resolve) => {
        const iframe = document.getElementById(id) as HTMLIFrameElement
        iframe.addEventListener('load', () => resolve(), { once: true })
        iframe.src = src
      }),
    { id, src },
  )
}

describe('navigations of the peer', () => {
  it('navigated twice before the first handshake completes: opens with the last page, never with a stale one', async () => {
    const page = await openPage(driver, pageUrl(A))
    // Not waiting for the first page to load: connect() and both navigations follow at once.
    await page.evaluate(
      (src) => {
        const iframe = document.createElement('iframe')
        iframe.name = iframe.id = 'child'
        iframe.src = src
        document.body.append(iframe)
      },
      peer(B, { label: 'first' }),
    )
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    // Two navigations right after connect()'s first SYN. The first page keeps the
    // frame until a later one commits, so it may still connect (and its 'load' may
    // be the one heard below): what matters is that the connection ends with the
    // page the frame shows.
    await page.evaluate(
      ({ second, third }) =>
        new Promise<void>((resolve) => {
          const iframe = document.getElementById('child') as HTMLIFrameElement
          iframe.src = second
          setTimeout(() => {
            iframe.src = third
            iframe.addEventListener('load', () => resolve(), { once: true })
          }, 5)
        }),
      { second: peer(B, { label: 'second' }), third: peer(B, { label: 'third' }) },
    )
    // The browsers sometimes drop the third navigation (seen in Chromium and
    // WebKit under load: the frame stays on 'second'), so the test asks which
    // page the frame shows and asks that the connection talks to that page, not
    // to a stale one. The frame is asked through its window, not found by the
    // driver: under load Chromium's driver lost the frame (listed no frame but
    // the top one for 5 s) after these navigations.
    const shown = (later: boolean) =>
      page.evaluate(
        (later) =>
          new Promise<string>((resolve) => {
            const win = (document.getElementById('child') as HTMLIFrameElement).contentWindow as Window
            const ask = () => win.postMessage({ whoShows: 1 }, '*')
            // A probe that reaches a document on its way out goes unanswered: ask again.
            const timer = setInterval(ask, 50)
            const onMessage = (event: MessageEvent) => {
              const shows = event.source === win ? event.data?.shows : undefined
              if (shows === undefined || (later && (shows.label === 'first' || shows.state !== 'open'))) return
              clearInterval(timer)
              removeEventListener('message', onMessage)
              resolve(shows.label)
            }
            addEventListener('message', onMessage)
            ask()
          }),
        later,
      )
    // The 'load' heard above may be the first page's: it keeps the frame until a later
    // page commits (seen under load). Wait for that page, open on its side.
    await shown(true)
    // The parent may still hold the session of a page that has just left (its unload
    // notice on its way, or 'third' replacing 'second'): ask until the page the frame
    // shows, and no other, answers. A connection stuck on a stale page never does.
    let answered: unknown
    let label: string | null = null
    const deadline = Date.now() + 15_000
    do {
      await page.waitFor(() => (globalThis as any).conns.child.state === 'open', undefined, 15_000)
      label = await shown(false)
      answered = await call(page, 'child', 'whoami')
    } while (
      !((answered as { value?: unknown }).value === label && (await shown(false)) === label) &&
      Date.now() < deadline
    )
    expect(['second', 'third']).toContain(label)
    expect(answered).toEqual({ ok: true, value: label })
    const states: string[] = await page.evaluate(() => (globalThis as any).log.child.states)
    const allowed = ['open:handshake', 'reconnecting:peer-unloaded', 'reconnecting:peer-reloaded', 'open:peer-reloaded']
    expect(states.filter((s) => !allowed.includes(s))).toEqual([])
    expect(states.at(-1)).toMatch(/^open:/)
    await page.close()
  })

  it('to a disallowed origin whose page speaks, and back: origin-changed, then open with the allowed page again', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B, { label: 'before' }))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B], timeout: 60_000 })
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'before' })
    const pending = page.evaluate(() =>
      (globalThis as any).conns.child.remote.slow(30_000).catch((e: any) => ({ code: e.code, reason: e.reason })),
    )
    // D runs a real portcullis peer that allows A: its SYNs reach the parent and are refused.
    await setSrc(page, 'child', peer(D, { label: 'intruder' }))
    // The old page's unload notice (on the session port) and the intruder's first SYN
    // (a window message) have no order between them: Chromium runs the unload of a
    // cross-site navigation after the new page commits. Either one ends the session.
    const rejected = await pending
    expect(['peer-unloaded', 'origin-changed']).toContain(rejected.reason)
    expect(rejected).toEqual({ code: 'DISCONNECTED', reason: rejected.reason })
    await page.waitFor(() => (globalThis as any).conns.child.cause === 'origin-changed')
    // A call made meanwhile waits for the allowed page and reaches it, not the intruder.
    await page.evaluate(() => {
      const w = globalThis as any
      w.queued = w.conns.child.remote.whoami()
    })
    await setSrc(page, 'child', peer(B, { label: 'after' }))
    expect(await page.evaluate(() => (globalThis as any).queued)).toBe('after')
    expect(await page.evaluate(() => (globalThis as any).log.child.states)).toEqual([
      'open:handshake',
      // (what rejected the pending call came first)
      ...(rejected.reason === 'peer-unloaded' ? ['reconnecting:peer-unloaded'] : []),
      'reconnecting:origin-changed',
      'open:peer-reloaded',
    ])
    await page.close()
  })
})

describe('history and channels', () => {
  it('history.back() and forward() in the peer frame: each page the frame returns to is handshaken again', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B, { label: 'one' }))
    await connectTo(page, 'child', "document.getElementById('child')", { allow: [B] })
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'one' })
    await setSrc(page, 'child', peer(B, { label: 'two' }))
    const reloads = (): Promise<number> =>
      page.evaluate(() => (globalThis as any).log.child.states.filter((s: string) => s === 'open:peer-reloaded').length)
    const answersAfter = async (go: string) => {
      const before = await reloads()
      await page.evaluate(
        (go) =>
          new Promise<void>((resolve) => {
            document.getElementById('child')!.addEventListener('load', () => resolve(), { once: true })
            if (go === 'back') history.back()
            else history.forward()
          }),
        go,
      )
      // The frame's load can come before the old page's unload notice (WebKit): a call
      // made then would go out on the old session. Wait for the new one to open.
      await page.waitFor(
        (n) => (globalThis as any).log.child.states.filter((s: string) => s === 'open:peer-reloaded').length > n,
        before,
      )
      return call(page, 'child', 'whoami')
    }
    expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'two' })
    expect(await answersAfter('back')).toEqual({ ok: true, value: 'one' })
    expect(await answersAfter('forward')).toEqual({ ok: true, value: 'two' })
    const states: string[] = await page.evaluate(() => (globalThis as any).log.child.states)
    expect(states[0]).toBe('open:handshake')
    expect(states.filter((s) => s === 'open:peer-reloaded')).toHaveLength(3)
    expect(states.at(-1)).toBe('open:peer-reloaded')
    await page.close()
  })

  it('two channels to one frame both reconnect after it reloads, each to its own channel', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(B, 'twoChannels', { b: 'lifecycle', allow: A }))
    await connectTo(page, 'a', "document.getElementById('child')", { allow: [B], channel: 'a' })
    await connectTo(page, 'b', "document.getElementById('child')", { allow: [B], channel: 'b' })
    expect(await call(page, 'a', 'whoami')).toEqual({ ok: true, value: 'on channel a' })
    expect(await call(page, 'b', 'whoami')).toEqual({ ok: true, value: 'on channel b' })
    await setSrc(page, 'child', pageUrl(B, 'twoChannels', { b: 'lifecycle', allow: A, title: 'reloaded' }))
    await page.waitFor(() => {
      const conns = (globalThis as any).conns
      return conns.a.cause === 'peer-reloaded' && conns.b.cause === 'peer-reloaded'
    })
    expect(await call(page, 'a', 'whoami')).toEqual({ ok: true, value: 'on channel a' })
    expect(await call(page, 'b', 'whoami')).toEqual({ ok: true, value: 'on channel b' })
    for (const name of ['a', 'b']) {
      expect(await page.evaluate((n) => (globalThis as any).log[n].states, name)).toEqual([
        'open:handshake',
        'reconnecting:peer-unloaded',
        'open:peer-reloaded',
      ])
    }
    await page.close()
  })
})

describe('many peers of one origin', () => {
  it('two iframes of the same allowed origin, each with its own connect(): calls, events and reloads never cross', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, peer(B, { label: 'left' }), 'left')
    await addIframe(page, peer(B, { label: 'right' }), 'right')
    await connectTo(page, 'left', "document.getElementById('left')", { allow: [B] })
    await connectTo(page, 'right', "document.getElementById('right')", { allow: [B] })
    const answers = await page.evaluate(async () => {
      const conns = (globalThis as any).conns
      const all = await Promise.all(
        ['left', 'right'].flatMap((name) =>
          Array.from({ length: 20 }, () => conns[name].remote.whoami().then((who: string) => `${name}=${who}`)),
        ),
      )
      return [...new Set(all)].sort()
    })
    expect(answers).toEqual(['left=left', 'right=right'])
    await page.waitFor(() => {
      const log = (globalThis as any).log
      return log.left.events.length === 1 && log.right.events.length === 1
    })
    expect(await page.evaluate(() => (globalThis as any).log.left.events)).toEqual([{ label: 'left' }])
    // Reloading the right frame (a new SYN of origin B) leaves the left connection untouched.
    await setSrc(page, 'right', peer(B, { label: 'right again' }))
    await page.waitFor(() => (globalThis as any).log.right.states.at(-1) === 'open:peer-reloaded')
    expect(await call(page, 'right', 'whoami')).toEqual({ ok: true, value: 'right again' })
    expect(await call(page, 'left', 'whoami')).toEqual({ ok: true, value: 'left' })
    expect(await page.evaluate(() => (globalThis as any).log.left.states)).toEqual(['open:handshake'])
    expect(await page.frame('left').evaluate(() => (globalThis as any).t.counts)).toEqual({})
    await page.close()
  })

  it('a grandchild connects to the top window through a frame of another origin, and is noticed when the middle frame goes', async () => {
    const page = await openPage(driver, pageUrl(A))
    await addIframe(page, pageUrl(C), 'middle')
    await page.frame('middle').evaluate(
      (src) =>
        new Promise<void>((resolve) => {
          const iframe = document.createElement('iframe')
          iframe.name = iframe.id = 'inner'
          iframe.src = src
          iframe.addEventListener('load', () => resolve(), { once: true })
          document.body.append(iframe)
        }),
      peer(B, { label: 'grandchild', target: 'top' }),
    )
    await connectTo(page, 'inner', "document.getElementById('middle').contentWindow.frames[0]", {
      allow: [B],
      timeout: 3_600_000,
    })
    expect(await call(page, 'inner', 'whoami')).toEqual({ ok: true, value: 'grandchild' })
    const gone = await page.evaluate(async () => {
      const conn = (globalThis as any).conns.inner
      const pending = conn.remote.slow(60_000).catch((e: any) => ({ code: e.code, reason: e.reason }))
      document.getElementById('middle')!.remove()
      return { call: await pending, state: conn.state }
    })
    expect(gone).toEqual({ call: { code: 'DISCONNECTED', reason: 'peer-gone' }, state: 'closed' })
    await page.close()
  })
})

describe('the back/forward cache', () => {
  // WebKit's driver hung on history.back() into the cache in 3 runs of 4 (the test
  // timed out and the session would not close); Chromium and Firefox run it.
  it.skipIf(ENGINE === 'webkit')(
    'the host page goes into the cache and comes back: both sides go reconnecting (page-hidden), then open again',
    async () => {
      const page = await openPage(driver, pageUrl(A, undefined, { bfcache: '1' }))
      await addIframe(page, peer(B, { bfcache: '1' }))
      await connectTo(page, 'child', "document.getElementById('child')", { allow: [B], timeout: 60_000 })
      expect(await call(page, 'child', 'whoami')).toEqual({ ok: true, value: 'peer' })
      await page.evaluate(() => {
        const w = globalThis as any
        w.pending = w.conns.child.remote.slow(30_000).catch((e: any) => ({ code: e.code, reason: e.reason }))
        addEventListener('pageshow', (e) => {
          w.restored = e.persisted
        })
      })
      await navigate(page, pageUrl(A, undefined, { bfcache: '1', title: 'elsewhere' }))
      await page.waitFor(() => document.title === 'elsewhere')
      await page.evaluate(() => {
        setTimeout(() => history.back())
      })
      await page.waitFor(() => (globalThis as any).restored !== undefined)
      // Restored, not reloaded: the connection object is the one from before, and so is the child's,
      // which was hidden too (frames after a restore are not reachable through every driver: the call tells).
      expect(await page.evaluate(() => (globalThis as any).restored)).toBe(true)
      expect(await page.evaluate(() => (globalThis as any).pending)).toEqual({
        code: 'DISCONNECTED',
        reason: 'page-hidden',
      })
      expect(await call(page, 'child', 'add', [2, 2])).toEqual({ ok: true, value: 4 })
      expect(await page.evaluate(() => (globalThis as any).log.child.states)).toEqual([
        'open:handshake',
        'reconnecting:page-hidden',
        'open:peer-reloaded',
      ])
      await page.close()
    },
  )
})
