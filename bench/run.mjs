#!/usr/bin/env node
// npm run bench [-- --quick] [--rounds N] [--seed N] [--topology cross-site|same-site] [--contenders a,b] [--no-isolation]
//
// Real-Chromium benchmark of portcullis against the raw postMessage floors,
// Penpal and Comlink. See bench/README.md.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { launchChromium } from './lib/browser.mjs'
import { buildPages, CONTENDERS, contenderSizes, ROOT } from './lib/build.mjs'
import { renderMarkdown, summarize } from './lib/report.mjs'
import { startServers } from './lib/server.mjs'
import { blockMeans, durations, median, quantile, seededRandom, shuffled } from './lib/stats.mjs'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    topology: { type: 'string', multiple: true },
    contenders: { type: 'string' },
    'no-isolation': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
})

/** Sample counts. Full: ≥ 2000 sequential calls per round after warm-up, as the issue asks. */
const CONFIG = args.quick
  ? {
      mode: 'quick',
      rounds: 1,
      handshakes: 1,
      add: { warm: 100, n: 300 },
      inFlight: { warm: 200, total: 1000, width: 100 },
      echo: { bytes: 1_000_000, warm: 1, n: 3 },
      buffer: { bytes: 16 * 1024 * 1024, warm: 0, n: 2 },
      warmUp: false,
    }
  : {
      mode: 'full',
      rounds: 6,
      handshakes: 3,
      add: { warm: 300, n: 2000 },
      inFlight: { warm: 500, total: 5000, width: 100 },
      echo: { bytes: 1_000_000, warm: 2, n: 10 },
      buffer: { bytes: 16 * 1024 * 1024, warm: 1, n: 5 },
      warmUp: true,
    }
if (args.rounds) CONFIG.rounds = Number(args.rounds)
const contenders = args.contenders ? args.contenders.split(',') : CONTENDERS
if (!contenders.includes('raw-port')) throw new Error('--contenders must include raw-port: every ratio is to it')
const topologies = args.topology ?? ['cross-site', 'same-site']
const isolate = !args['no-isolation']

const log = (...parts) => console.error(...parts)
const started = performance.now()

// Sequential calls are timed in blocks: one same-site call lasts a few ticks
// of the 5 µs clock, too coarse for a ratio, while a block of 25 spans a
// hundred. The median is over block means, the p99 over single calls.
const ADD_BLOCK = 25

// A new order every round, drawn from a seeded generator: with a fixed
// rotation each contender always followed the same one, so what one leaves
// behind (a listener, garbage) always fell on the same next one.
const random = seededRandom(Number(args.seed))

function git(...argv) {
  try {
    return execFileSync('git', argv, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}

log(`bench: ${CONFIG.mode} mode, ${CONFIG.rounds} round(s), ${topologies.join(' + ')}, ${contenders.join(', ')}`)
const files = await buildPages()
const servers = await startServers(2, files, { isolate })
const [p1, p2] = servers.ports
const parentOrigin = `http://127.0.0.1:${p1}`
const childOrigins = { 'cross-site': `http://localhost:${p2}`, 'same-site': `http://127.0.0.1:${p2}` }

const results = {
  date: new Date().toISOString(),
  mode: CONFIG.mode,
  config: CONFIG,
  seed: Number(args.seed),
  contenders,
  environment: {
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg(),
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: (git('status', '--porcelain', '--', 'src', 'bench') ?? '') !== '',
    crossOriginIsolation: isolate,
  },
  topologies: {},
}

const browserInfo = {}
try {
  for (const topology of topologies) {
    const childOrigin = childOrigins[topology]
    if (childOrigin === undefined) throw new Error(`unknown topology ${topology}`)
    const browser = await launchChromium()
    browserInfo.chromium = browser.version()
    const page = await browser.newPage()
    page.on('pageerror', (error) => log(`  page error: ${error.message}`))
    await page.goto(`${parentOrigin}/parent`)
    await page.waitForFunction(() => globalThis.bench !== undefined)
    const info = await page.evaluate(() => globalThis.bench.info())
    browserInfo.userAgent = info.userAgent
    log(
      `${topology}: parent ${parentOrigin}, child ${childOrigin}; crossOriginIsolated=${info.crossOriginIsolated}, timer step ${(info.timerResolutionMs * 1000).toFixed(1)} µs`,
    )
    const childUrl = (name) => `${childOrigin}/child?c=${name}&parent=${encodeURIComponent(parentOrigin)}`
    const open = (name) =>
      page.evaluate(([n, url, origin]) => globalThis.bench.open(n, url, origin), [name, childUrl(name), childOrigin])
    const gc = async () => {
      for (const frame of page.frames()) await frame.evaluate(() => globalThis.gc?.()).catch(() => {})
    }
    // Main-thread CPU time (CDP Performance metrics in thread ticks): unlike wall time,
    // it does not grow when other work on the machine takes the cores.
    const parentCdp = await page.context().newCDPSession(page)
    await parentCdp.send('Performance.enable', { timeDomain: 'threadTicks' })
    const taskSeconds = async (cdp) =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value
    /** Runs `fn`; returns its result and the main-thread CPU µs of parent + child (one thread when same-site). */
    const withCpu = async (childCdp, fn) => {
      const sessions = childCdp ? [parentCdp, childCdp] : [parentCdp]
      const before = await Promise.all(sessions.map(taskSeconds))
      const result = await fn()
      const after = await Promise.all(sessions.map(taskSeconds))
      return { result, cpu: after.reduce((sum, a, i) => sum + a - before[i], 0) * 1e6 }
    }

    // Warm-up: the parent's code paths for every contender, not recorded (full mode only).
    for (const name of CONFIG.warmUp ? contenders : []) {
      await open(name)
      await page.evaluate(() => globalThis.bench.addSequential(50, 50))
      await page.evaluate(() => globalThis.bench.echo(100_000, false, 1, 1))
      await page.evaluate(() => globalThis.bench.close())
    }

    const rounds = []
    for (let r = 0; r < CONFIG.rounds; r++) {
      const round = {}
      const order = shuffled(contenders, random)
      round.order = order
      for (const name of order) {
        const m = {}
        const handshakes = []
        for (let k = 0; k < CONFIG.handshakes; k++) {
          if (k > 0) await page.evaluate(() => globalThis.bench.close())
          handshakes.push(await open(name))
        }
        m.handshakes = handshakes
        m.insertToFirst = median(handshakes.map((h) => h.insertToFirst))
        m.loadToFirst = median(handshakes.map((h) => h.loadToFirst))
        m.insertToLoad = median(handshakes.map((h) => h.insertToLoad))

        const { add, inFlight, echo, buffer } = CONFIG
        // An iframe on another site runs in its own process, with its own CDP session.
        const childFrame = page.frames().find((f) => f !== page.mainFrame())
        let childCdp
        if (topology === 'cross-site') {
          childCdp = await page.context().newCDPSession(childFrame)
          await childCdp.send('Performance.enable', { timeDomain: 'threadTicks' })
        }
        // Warm-up calls run before the CPU window opens: unoptimised code costs more per call.
        await page.evaluate((w) => globalThis.bench.addSequential(w, 0), add.warm)
        await gc()
        const adds = await withCpu(childCdp, () => page.evaluate((n) => globalThis.bench.addSequential(0, n), add.n))
        m.addMedian = median(blockMeans(adds.result, ADD_BLOCK)) * 1000
        m.addP99 = quantile(durations(adds.result), 0.99) * 1000
        m.addCpu = adds.cpu / add.n
        await page.evaluate(([w, width]) => globalThis.bench.addInFlight(w, 0, width), [inFlight.warm, inFlight.width])
        await gc()
        const flights = await withCpu(childCdp, () =>
          page.evaluate(([t, width]) => globalThis.bench.addInFlight(0, t, width), [inFlight.total, inFlight.width]),
        )
        m.callsPerSec = flights.result
        m.inFlightCpu = flights.cpu / inFlight.total
        await childCdp?.detach()
        await gc()
        m.echoUnknown = median(
          await page.evaluate(([b, w, n]) => globalThis.bench.echo(b, false, w, n), [echo.bytes, echo.warm, echo.n]),
        )
        if (await page.evaluate(() => globalThis.bench.hasNested())) {
          await gc()
          m.echoNested = median(
            await page.evaluate(([b, w, n]) => globalThis.bench.echo(b, true, w, n), [echo.bytes, echo.warm, echo.n]),
          )
        }
        for (const move of [false, true]) {
          await gc()
          const samples = await page.evaluate(
            ([b, mv, w, n]) => globalThis.bench.echoBuffer(b, mv, w, n),
            [buffer.bytes, move, buffer.warm, buffer.n],
          )
          m[move ? 'bufferTransfer' : 'bufferCopy'] = median(samples)
        }
        await page.evaluate(() => globalThis.bench.close())
        round[name] = m
        log(
          `  round ${r + 1}/${CONFIG.rounds} ${name.padEnd(11)} first call ${m.insertToFirst.toFixed(1)} ms (load+${m.loadToFirst.toFixed(1)}), add ${m.addMedian.toFixed(0)} µs, ${Math.round(m.callsPerSec)} calls/s, 1 MB ${m.echoUnknown.toFixed(1)} ms`,
        )
      }
      rounds.push(round)
    }
    results.topologies[topology] = {
      parentOrigin,
      childOrigin,
      crossOriginIsolated: info.crossOriginIsolated,
      timerResolutionMs: info.timerResolutionMs,
      rounds,
    }
    await browser.close()
  }
} finally {
  await servers.close()
}

results.environment.chromium = browserInfo.chromium
results.environment.userAgent = browserInfo.userAgent
results.environment.loadAverageAtEnd = os.loadavg()
results.catalogJsonBytes = CONFIG.echo.bytes
results.sizes = await contenderSizes()
results.summary = summarize(results)
results.durationSec = (performance.now() - started) / 1000

const markdown = renderMarkdown(results)
console.log(markdown)
const outDir = resolve(ROOT, args.out ?? 'bench/results')
mkdirSync(outDir, { recursive: true })
const stamp = results.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z') + (CONFIG.mode === 'quick' ? '-quick' : '')
writeFileSync(resolve(outDir, `${stamp}.md`), `${markdown}\n`)
writeFileSync(resolve(outDir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`)
log(`bench: wrote bench/results/${stamp}.md and .json in ${results.durationSec.toFixed(1)} s`)
