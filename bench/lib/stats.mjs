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
