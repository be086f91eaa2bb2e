// Small statistics helpers: every summary in the report is a median.

/** Sorted copy of `values` (numbers only). */
function sorted(values) {
  return Float64Array.from(values).sort()
}

/** The median (mean of the two middle values for an even count); NaN when empty. */
export function median(values) {
  const s = sorted(values)
  if (s.length === 0) return Number.NaN
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** The `q` quantile (0..1) by nearest rank; NaN when empty. */
export function quantile(values, q) {
  const s = sorted(values)
  if (s.length === 0) return Number.NaN
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))
  return s[rank]
}

export function mean(values) {
  if (values.length === 0) return Number.NaN
  let sum = 0
  for (const v of values) sum += v
  return sum / values.length
}

export function min(values) {
  return values.length === 0 ? Number.NaN : Math.min(...values)
}

export function max(values) {
  return values.length === 0 ? Number.NaN : Math.max(...values)
}

/** Successive differences of `stamps` (n + 1 times give n durations). */
export function durations(stamps) {
  const out = new Array(stamps.length - 1)
  for (let i = 1; i < stamps.length; i++) out[i - 1] = stamps[i] - stamps[i - 1]
  return out
}

/**
 * Mean duration of each run of `size` consecutive intervals of `stamps`: a
 * block of calls spans many ticks of a coarse clock, so its mean resolves
 * what a single call's duration cannot.
 */
export function blockMeans(stamps, size) {
  const out = []
  for (let i = 0; i + size < stamps.length; i += size) out.push((stamps[i + size] - stamps[i]) / size)
  return out
}

/** A deterministic pseudo-random generator (mulberry32), so a run's order can be repeated. */
export function seededRandom(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A shuffled copy of `list` (Fisher–Yates) drawing from `random`. */
export function shuffled(list, random) {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}
