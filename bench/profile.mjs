#!/usr/bin/env node
// node bench/profile.mjs [--contender portcullis] [--compare raw-port] [--topology cross-site]
//                        [--measure add|inflight|echo|nested] [--n 5000] [--top 25]
//
// Runs one measure under Chromium's sampling CPU profiler (through
// playwright-core's CDP session) in the parent page and, when it runs in its
// own process (cross-site), in the child iframe too. The pages are bundled
// from src/ unminified, so every sample is traced back to a source module.
// Prints busy time per call and the top self-time functions; writes the
// .cpuprofile files to bench/.profiles/ (open them in DevTools > Performance).
import { mkdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { launchChromium } from './lib/browser.mjs'
import { buildPages, ROOT } from './lib/build.mjs'
import { startServers } from './lib/server.mjs'

const { values: args } = parseArgs({
  options: {
    contender: { type: 'string', default: 'portcullis' },
    compare: { type: 'string', default: 'raw-port' },
    topology: { type: 'string', default: 'cross-site' },
    measure: { type: 'string', default: 'add' },
    n: { type: 'string' },
    top: { type: 'string', default: '25' },
    interval: { type: 'string', default: '50' },
  },
})
const TOP = Number(args.top)

const MEASURES = {
  add: { n: 5000, run: (n) => globalThis.bench.addSequential(300, n) },
  inflight: { n: 20000, run: (n) => globalThis.bench.addInFlight(1000, n, 100) },
  echo: { n: 30, run: (n) => globalThis.bench.echo(1_000_000, false, 2, n) },
  nested: { n: 30, run: (n) => globalThis.bench.echo(1_000_000, true, 2, n) },
}
const measure = MEASURES[args.measure]
if (measure === undefined) throw new Error(`--measure must be one of ${Object.keys(MEASURES).join(', ')}`)
const calls = Number(args.n ?? measure.n)

/** Line number (0-based) -> module path, from esbuild's `// src/...` comments in an unminified bundle. */
function moduleMap(code) {
  const lines = new TextDecoder().decode(code).split('\n')
  const map = new Array(lines.length)
  let current = '(bundle prelude)'
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*\/\/ ((?:src|node_modules|bench)\/\S+)\s*$/.exec(lines[i])
    if (m) current = m[1].replace(/^node_modules\/(zod|nanoid)\/.*/, 'node_modules/$1')
    map[i] = current
  }
  return map
}

/** Self time per function and per module, in ms, from a V8 CPU profile. */
function analyse(profile, files) {
  const maps = new Map()
  const where = (frame) => {
    const file = frame.url ? new URL(frame.url).pathname.slice(1) : ''
    if (!files.has(file)) return frame.url ? frame.url : frame.functionName || '(native)'
    if (!maps.has(file)) maps.set(file, moduleMap(files.get(file)))
    return maps.get(file)[frame.lineNumber] ?? file
  }
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
  }
  const fns = new Map()
  const modules = new Map()
  let total = 0
  let idle = 0
  for (const [id, ms] of self) {
    const { callFrame } = byNode.get(id)
    const name = callFrame.functionName || '(anonymous)'
    if (name === '(idle)') {
      idle += ms
      continue
    }
    total += ms
    const module = name.startsWith('(') ? name : where(callFrame)
    const key = `${module}  ${name}${callFrame.lineNumber >= 0 && !name.startsWith('(') ? `:${callFrame.lineNumber + 1}` : ''}`
    fns.set(key, (fns.get(key) ?? 0) + ms)
    modules.set(module, (modules.get(module) ?? 0) + ms)
  }
  const sort = (m) => [...m].sort((a, b) => b[1] - a[1])
  return { total, idle, functions: sort(fns), modules: sort(modules) }
}

async function profileOne(name, files, page, childOrigin, parentOrigin) {
  const url = `${childOrigin}/child?c=${name}&parent=${encodeURIComponent(parentOrigin)}`
  await page.evaluate(([n, u, o]) => globalThis.bench.open(n, u, o), [name, url, childOrigin])
  await page.evaluate(measure.run, Math.min(calls, 500)) // warm the JIT outside the profile
  const child = page.frames().find((f) => f !== page.mainFrame())
  const sessions = [['parent', await page.context().newCDPSession(page)]]
  if (args.topology === 'cross-site') sessions.push(['child', await page.context().newCDPSession(child)])
  // First without the profiler: main-thread busy time per side (CDP Performance
  // metrics: TaskDuration is all work on the renderer's main thread, ScriptDuration its JS).
  const metrics = async () => {
    const out = {}
    for (const [side, s] of sessions) {
      const { metrics } = await s.send('Performance.getMetrics')
      out[side] = Object.fromEntries(metrics.map((m) => [m.name, m.value]))
    }
    return out
  }
  for (const [, s] of sessions) await s.send('Performance.enable', { timeDomain: 'threadTicks' })
  const before = await metrics()
  const t0 = Date.now()
  await page.evaluate(measure.run, calls)
  const unprofiledWall = Date.now() - t0
  const after = await metrics()
  const busy = {}
  for (const [side] of sessions) {
    busy[side] = {
      task: ((after[side].TaskDuration - before[side].TaskDuration) * 1e6) / calls,
      script: ((after[side].ScriptDuration - before[side].ScriptDuration) * 1e6) / calls,
    }
  }
  for (const [, s] of sessions) {
    await s.send('Profiler.enable')
    await s.send('Profiler.setSamplingInterval', { interval: Number(args.interval) })
  }
  for (const [, s] of sessions) await s.send('Profiler.start')
  const t = Date.now()
  await page.evaluate(measure.run, calls)
  const wall = Date.now() - t
  const out = { name, wall, unprofiledWall, busy, sides: {} }
  for (const [side, s] of sessions) {
    const { profile } = await s.send('Profiler.stop')
    mkdirSync(resolve(ROOT, 'bench/.profiles'), { recursive: true })
    writeFileSync(
      resolve(ROOT, `bench/.profiles/${name}-${args.measure}-${args.topology}-${side}.cpuprofile`),
      JSON.stringify(profile),
    )
    out.sides[side] = analyse(profile, files)
    await s.detach()
  }
  await page.evaluate(() => globalThis.bench.close())
  return out
}

function report(result) {
  const per = args.measure === 'inflight' || args.measure === 'add' ? 'call' : 'echo'
  console.log(`\n## ${result.name}: ${args.measure}, ${args.topology}, ${calls} ${per}s`)
  console.log(
    `\nwithout the profiler: ${((result.unprofiledWall * 1000) / calls).toFixed(1)} µs wall per ${per}; main-thread CPU per ${per} (CDP Performance metrics, thread ticks):`,
  )
  for (const [side, b] of Object.entries(result.busy)) {
    console.log(`  ${side}: all tasks ${b.task.toFixed(1)} µs, of which script ${b.script.toFixed(1)} µs`)
  }
  console.log(`\nwith the profiler: ${result.wall} ms wall`)
  for (const [side, a] of Object.entries(result.sides)) {
    console.log(
      `\n### ${side}: busy ${a.total.toFixed(0)} ms (${((a.total * 1000) / calls).toFixed(1)} µs per ${per}), idle ${a.idle.toFixed(0)} ms`,
    )
    console.log('\nself time by module:')
    for (const [m, ms] of a.modules.slice(0, 15))
      console.log(
        `  ${((100 * ms) / a.total).toFixed(1).padStart(5)}%  ${((ms * 1000) / calls).toFixed(2).padStart(7)} µs/${per}  ${m}`,
      )
    console.log(`\ntop ${TOP} functions by self time:`)
    for (const [f, ms] of a.functions.slice(0, TOP))
      console.log(
        `  ${((100 * ms) / a.total).toFixed(1).padStart(5)}%  ${((ms * 1000) / calls).toFixed(2).padStart(7)} µs/${per}  ${f}`,
      )
  }
}

const files = await buildPages({ library: 'src' })
const servers = await startServers(2, files)
const [p1, p2] = servers.ports
const parentOrigin = `http://127.0.0.1:${p1}`
const childOrigin = args.topology === 'cross-site' ? `http://localhost:${p2}` : `http://127.0.0.1:${p2}`
const browser = await launchChromium()
try {
  const page = await browser.newPage()
  await page.goto(`${parentOrigin}/parent`)
  await page.waitForFunction(() => globalThis.bench !== undefined)
  for (const name of [args.contender, args.compare].filter(Boolean)) {
    report(await profileOne(name, files, page, childOrigin, parentOrigin))
  }
} finally {
  await browser.close()
  await servers.close()
}
