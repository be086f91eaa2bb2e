import { max, median, min } from './stats.mjs'

/**
 * What the report shows. Each round gives one value per contender and metric
 * (the median of that round's samples, or its p99, or its calls/s); the
 * table shows the median over rounds, and the median over rounds of the
 * ratio to raw-port in the same round (`ratioTo` names raw-port's metric when
 * it is another one).
 */
export const METRICS = [
  { key: 'insertToFirst', label: 'handshake: iframe inserted → first call answered', unit: 'ms', digits: 1 },
  { key: 'insertToLoad', label: 'iframe inserted → its `load` event (child page + bundle)', unit: 'ms', digits: 1 },
  { key: 'loadToFirst', label: 'first call answered − iframe `load`', unit: 'ms', digits: 1, ratio: false },
  { key: 'addMedian', label: '`add(1,2)` sequential, median of 25-call block means', unit: 'µs', digits: 1 },
  { key: 'addP99', label: '`add(1,2)` sequential, p99 of single calls', unit: 'µs', digits: 0 },
  { key: 'addCpu', label: '`add` sequential: main-thread CPU per call, parent + child', unit: 'µs', digits: 1 },
  { key: 'callsPerSec', label: '`add` calls/s, 100 in flight', unit: 'calls/s', digits: 0, higherIsBetter: true },
  { key: 'inFlightCpu', label: '`add` in flight: main-thread CPU per call, parent + child', unit: 'µs', digits: 1 },
  { key: 'echoUnknown', label: 'echo ~1 MB object, `z.unknown()`', unit: 'ms', digits: 2 },
  { key: 'echoNested', label: 'echo ~1 MB object, nested zod schema', unit: 'ms', digits: 2, ratioTo: 'echoUnknown' },
  { key: 'bufferCopy', label: 'echo 16 MB ArrayBuffer, copied', unit: 'ms', digits: 1 },
  { key: 'bufferTransfer', label: 'echo 16 MB ArrayBuffer, transferred', unit: 'ms', digits: 2 },
]

/** The targets for portcullis, with full validation on. */
export const TARGETS = [
  { label: '`add()` median ≤ 1.10x raw-port', key: 'addMedian', on: 'ratio', max: 1.1 },
  { label: 'calls/s ≥ 0.90x raw-port', key: 'callsPerSec', on: 'ratio', min: 0.9 },
  { label: '1 MB echo, `z.unknown()`, ≤ 1.25x raw-port', key: 'echoUnknown', on: 'ratio', max: 1.25 },
  { label: 'first call ≤ 5 ms after iframe `load`', key: 'loadToFirst', on: 'value', max: 5 },
]

export function summarize(results) {
  const summary = {}
  for (const [topology, { rounds }] of Object.entries(results.topologies)) {
    const table = (summary[topology] = {})
    for (const name of results.contenders) {
      const row = (table[name] = {})
      for (const metric of METRICS) {
        const values = []
        const ratios = []
        for (const round of rounds) {
          const value = round[name]?.[metric.key]
          if (value === undefined) continue
          values.push(value)
          const floor = round['raw-port']?.[metric.ratioTo ?? metric.key]
          if (floor !== undefined && metric.ratio !== false) ratios.push(value / floor)
        }
        if (values.length === 0) continue
        row[metric.key] = {
          value: median(values),
          ratio: ratios.length > 0 ? median(ratios) : undefined,
          min: min(values),
          max: max(values),
          rounds: values.length,
        }
      }
    }
  }
  return summary
}

function fmt(value, digits) {
  if (value === undefined || Number.isNaN(value)) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function verdict(target, cell) {
  if (cell === undefined) return '–'
  const x = target.on === 'ratio' ? cell.ratio : cell.value
  if (x === undefined) return '–'
  const ok = (target.max === undefined || x <= target.max) && (target.min === undefined || x >= target.min)
  // Three digits: a ratio shown as 1.25x may be 1.2516x, over a 1.25x target.
  const shown = target.on === 'ratio' ? `${x.toFixed(3)}x` : `${x.toFixed(1)} ms`
  return `${shown} ${ok ? 'pass' : '**MISS**'}`
}

export function renderMarkdown(results) {
  const { environment: env, summary, config } = results
  const lines = []
  lines.push(`# portcullis benchmark, ${results.date.slice(0, 10)}`)
  lines.push('')
  lines.push(
    `- Machine: ${env.cpu ?? 'unknown CPU'}, ${env.cores} cores, ${env.memoryGB} GB; load average ${env.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${env.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')} at end (the machine is shared: treat small differences as noise).`,
  )
  lines.push(
    `- Chromium ${env.chromium}, Node ${env.node}, portcullis at ${env.commit}${env.dirty ? ' (src/ or bench/ modified)' : ''}.`,
  )
  lines.push(
    `- ${config.mode} mode: ${config.rounds} round(s), contenders in a new seeded random order each round (seed ${results.seed}); per round and contender ${config.handshakes} handshake(s), ${config.add.n} sequential calls after ${config.add.warm} warm-up (timed in blocks of 25), ${config.inFlight.total} calls at ${config.inFlight.width} in flight, ${config.echo.n} echoes of the ~1 MB object (${fmt(results.catalogJsonBytes, 0)} bytes of JSON), ${config.buffer.n} of the 16 MB buffer. gc() in both frames before each measure.`,
  )
  const iso = Object.values(results.topologies).map((t) => t.crossOriginIsolated)
  lines.push(
    `- Timing: performance.now() in the parent page, ${iso.every(Boolean) ? 'cross-origin isolated (COOP + COEP) so it ticks in ~5 µs steps' : 'NOT cross-origin isolated (100 µs steps)'}.`,
  )
  lines.push(
    '- Cells: the median over rounds of each round’s median (p99, calls/s), then the median over rounds of the ratio to raw-port in the same round. Lower is better except calls/s. portcullis runs with full validation (zod contract on both sides); the nested-schema echo is portcullis only, its ratio is to raw-port’s schema-free echo.',
  )
  lines.push(
    '- “main-thread CPU” is the renderer main threads’ busy time (CDP `Performance.getMetrics` TaskDuration, thread ticks) over the measure divided by the calls, warm-up excluded: unlike wall time it does not grow when other work takes the cores, so it is the steadier view on a shared machine.',
  )
  for (const [topology, table] of Object.entries(summary)) {
    const t = results.topologies[topology]
    lines.push('')
    lines.push(`## ${topology}: parent \`${t.parentOrigin}\`, iframe \`${t.childOrigin}\``)
    lines.push('')
    lines.push(`| measure | ${results.contenders.join(' | ')} |`)
    lines.push(`| --- | ${results.contenders.map(() => '---:').join(' | ')} |`)
    for (const metric of METRICS) {
      const cells = results.contenders.map((name) => {
        const cell = table[name]?.[metric.key]
        if (cell === undefined) return '–'
        const ratio = cell.ratio === undefined || name === 'raw-port' ? '' : ` (${cell.ratio.toFixed(2)}x)`
        return `${fmt(cell.value, metric.digits)}${ratio}`
      })
      if (cells.every((c) => c === '–')) continue
      lines.push(`| ${metric.label} (${metric.unit}) | ${cells.join(' | ')} |`)
    }
  }
  lines.push('')
  lines.push('## Targets (portcullis, full validation)')
  lines.push('')
  const topologies = Object.keys(summary)
  lines.push(`| target | ${topologies.join(' | ')} |`)
  lines.push(`| --- | ${topologies.map(() => '---').join(' | ')} |`)
  for (const target of TARGETS) {
    lines.push(
      `| ${target.label} | ${topologies.map((t) => verdict(target, summary[t].portcullis?.[target.key])).join(' | ')} |`,
    )
  }
  const beats = topologies.map((t) => {
    const ours = summary[t].portcullis?.callsPerSec?.ratio
    const penpal = summary[t].penpal?.callsPerSec?.ratio
    if (ours === undefined || penpal === undefined) return '–'
    return `${ours.toFixed(2)}x vs ${penpal.toFixed(2)}x ${ours > penpal ? 'pass' : '**MISS**'}`
  })
  lines.push(`| calls/s above Penpal’s | ${beats.join(' | ')} |`)
  // raw-port posts once per call; portcullis posts once per turn. Against a floor that batches too:
  const batched = topologies.map((t) => {
    const ours = summary[t].portcullis?.callsPerSec?.value
    const floor = summary[t]['raw-port-batch']?.callsPerSec?.value
    return ours === undefined || floor === undefined ? '–' : `${(ours / floor).toFixed(2)}x (no target)`
  })
  lines.push(`| calls/s against raw-port-batch (a floor that batches per turn too) | ${batched.join(' | ')} |`)
  lines.push('')
  lines.push('## What each contender adds to a page (esbuild, minified, gzip -9)')
  lines.push('')
  lines.push('| contender | imports | minified (B) | min + gzip (B) |')
  lines.push('| --- | --- | ---: | ---: |')
  for (const s of results.sizes) lines.push(`| ${s.name} | ${s.what} | ${fmt(s.min, 0)} | ${fmt(s.gzip, 0)} |`)
  lines.push('')
  lines.push(`Run took ${results.durationSec.toFixed(0)} s.`)
  return lines.join('\n')
}
