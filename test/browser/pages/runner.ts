import type { Rejection } from '../../../src/index.js'

/** Query parameters of the page. */
export const params = new URLSearchParams(location.search)

/**
 * What a scenario records for the test, on `window.t`, read with evaluate():
 * handler call counts, aborted calls, rejections, events, the connection.
 */
export const t = {
  counts: Object.create(null) as Record<string, number>,
  aborted: [] as string[],
  rejections: [] as Rejection[],
  events: [] as unknown[],
  conn: undefined as unknown,
}
Object.assign(globalThis, { t })

export function count(name: string): void {
  t.counts[name] = (t.counts[name] ?? 0) + 1
}

/** Runs the scenario named by `?s=` from `scenarios`. */
export function runScenario(scenarios: Record<string, () => void>): void {
  const name = params.get('s')
  if (!name) return
  const scenario = scenarios[name]
  if (!scenario) throw new Error(`unknown scenario ${name}`)
  scenario()
}
