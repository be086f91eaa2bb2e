// The parent page of the benchmark. Node drives it through `window.bench`;
// every duration is taken here with performance.now() and returned raw.
import { comlink } from './contenders/comlink.parent.js'
import { penpal } from './contenders/penpal.parent.js'
import { portcullis } from './contenders/portcullis.parent.js'
import { rawPort } from './contenders/raw-port.parent.js'
import { rawPortBatch } from './contenders/raw-port-batch.parent.js'
import { rawWindow } from './contenders/raw-window.parent.js'
import { type Catalog, type Client, type Contender, makeBuffer, makeCatalog } from './shared.js'

const CONTENDERS: Record<string, Contender> = Object.fromEntries(
  [rawWindow, rawPort, rawPortBatch, portcullis, penpal, comlink].map((c) => [c.name, c]),
)

let current: { iframe: HTMLIFrameElement; client: Client } | undefined
const catalogs = new Map<number, Catalog>()

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench: ${what} took more than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function client(): Client {
  if (current === undefined) throw new Error('bench: no child is open')
  return current.client
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench: wrong answer from ${what}`)
}

/** Inserts the child iframe, connects `name` to it and makes the first call. */
async function open(name: string, childUrl: string, childOrigin: string) {
  close()
  const contender = CONTENDERS[name]
  if (contender === undefined) throw new Error(`bench: unknown contender ${name}`)
  const iframe = document.createElement('iframe')
  iframe.src = childUrl
  iframe.allow = 'cross-origin-isolated'
  let tLoad = Number.NaN
  const loaded = new Promise<void>((resolve) =>
    iframe.addEventListener(
      'load',
      () => {
        tLoad = performance.now()
        resolve()
      },
      { once: true },
    ),
  )
  const t0 = performance.now()
  document.body.append(iframe)
  const connected = contender.connect(iframe, childOrigin)
  const c = await withTimeout(connected, 15_000, `${name} handshake`)
  const tReady = performance.now()
  const sum = await withTimeout(c.add(1, 2), 5_000, `${name} first call`)
  const tFirst = performance.now()
  check(sum === 3, name)
  await withTimeout(loaded, 15_000, 'iframe load')
  current = { iframe, client: c }
  return {
    insertToFirst: tFirst - t0,
    loadToFirst: tFirst - tLoad,
    insertToLoad: tLoad - t0,
    insertToReady: tReady - t0,
  }
}

function close(): void {
  if (current === undefined) return
  current.client.close()
  current.iframe.remove()
  current = undefined
}

/**
 * Sequential add(1, 2) after `warm` untimed calls: the time at the start and
 * after each call, in ms (n + 1 values). One call same-site lasts a few ticks
 * of the 5 µs clock, so the runner takes its median over blocks of calls and
 * its p99 over single calls.
 */
async function addSequential(warm: number, n: number): Promise<number[]> {
  const c = client()
  for (let i = 0; i < warm; i++) await c.add(i, 1)
  const stamps = new Array<number>(n + 1)
  stamps[0] = performance.now()
  for (let i = 0; i < n; i++) {
    const v = await c.add(i, 2)
    stamps[i + 1] = performance.now()
    if (v !== i + 2) check(false, 'add')
  }
  return stamps
}

function keepInFlight(c: Client, total: number, width: number): Promise<void> {
  let started = 0
  let done = 0
  return new Promise((resolve, reject) => {
    const launch = (): void => {
      const i = started++
      c.add(i, 1).then((v) => {
        if (v !== i + 1) reject(new Error('bench: wrong answer from add'))
        if (++done === total) resolve()
        else if (started < total) launch()
      }, reject)
    }
    for (let i = 0; i < Math.min(width, total); i++) launch()
  })
}

/** `total` add() calls with `width` in flight at all times, after `warm` untimed ones: calls per second. */
async function addInFlight(warm: number, total: number, width: number): Promise<number> {
  const c = client()
  if (warm > 0) await keepInFlight(c, warm, width)
  if (total === 0) return 0
  const t = performance.now()
  await keepInFlight(c, total, width)
  return total / ((performance.now() - t) / 1000)
}

/** Echo of the ~`bytes` JSON-like catalog, through `echo` (no schema) or `echoNested`. */
async function echo(bytes: number, nested: boolean, warm: number, n: number): Promise<number[]> {
  const c = client()
  let catalog = catalogs.get(bytes)
  if (catalog === undefined) catalogs.set(bytes, (catalog = makeCatalog(bytes)))
  const fn = nested ? c.echoNested : c.echo
  if (fn === undefined) throw new Error('bench: this contender has no echoNested')
  const samples: number[] = []
  for (let i = 0; i < warm + n; i++) {
    const t = performance.now()
    const back = (await fn(catalog)) as Catalog
    const dt = performance.now() - t
    check(back.items.length === catalog.items.length, 'echo')
    if (i >= warm) samples.push(dt)
  }
  return samples
}

/** Echo of a `bytes`-long ArrayBuffer, structured-cloned or transferred both ways. */
async function echoBuffer(bytes: number, move: boolean, warm: number, n: number): Promise<number[]> {
  const c = client()
  let buf = makeBuffer(bytes)
  const samples: number[] = []
  for (let i = 0; i < warm + n; i++) {
    const t = performance.now()
    const back = await c.echoBuf(buf, move)
    const dt = performance.now() - t
    const view = new Uint8Array(back)
    check(back.byteLength === bytes && view[0] === 7 && view[bytes - 1] === 9, 'echoBuf')
    if (move) {
      check(buf.byteLength === 0, 'echoBuf (the buffer was copied, not transferred)')
      buf = back
    }
    if (i >= warm) samples.push(dt)
  }
  return samples
}

/** The smallest step of performance.now() here: 5 µs when cross-origin isolated, 100 µs otherwise. */
function timerResolution(): number {
  let min = Number.POSITIVE_INFINITY
  for (let i = 0; i < 200; i++) {
    const a = performance.now()
    let b = performance.now()
    while (b === a) b = performance.now()
    min = Math.min(min, b - a)
  }
  return min
}

const bench = {
  open,
  close,
  addSequential: (warm: number, n: number) => withTimeout(addSequential(warm, n), 120_000, 'add'),
  addInFlight: (warm: number, total: number, width: number) =>
    withTimeout(addInFlight(warm, total, width), 120_000, 'in-flight'),
  echo: (bytes: number, nested: boolean, warm: number, n: number) =>
    withTimeout(echo(bytes, nested, warm, n), 120_000, 'echo'),
  echoBuffer: (bytes: number, move: boolean, warm: number, n: number) =>
    withTimeout(echoBuffer(bytes, move, warm, n), 120_000, 'echoBuf'),
  hasNested: () => client().echoNested !== undefined,
  info: () => ({
    crossOriginIsolated: globalThis.crossOriginIsolated,
    timerResolutionMs: timerResolution(),
    userAgent: navigator.userAgent,
  }),
  catalogBytes: (bytes: number) => JSON.stringify(makeCatalog(bytes)).length,
}

Object.assign(globalThis, { bench })
