// Small statistics and formatting helpers.

/** The p-th percentile of an ascending array, interpolated between the nearest ranks; NaN when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.min(low + 1, sorted.length - 1)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

/** Median of numbers in any order. */
export const median = (values) => percentile([...values].sort((a, b) => a - b), 50)

export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–')
export const fmtMs = (n) => (Number.isFinite(n) ? `${n.toFixed(2)} ms` : '–')
export const fmtRatio = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–')
export const fmtPct = (n) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–')

/** Nanoseconds as ns or µs, three significant digits. */
export function fmtNs(ns) {
  if (!Number.isFinite(ns)) return '–'
  if (ns < 1000) return `${ns.toPrecision(3)} ns`
  return `${(ns / 1000).toPrecision(3)} µs`
}

/** A Markdown table from a header row and body rows (cells already formatted). */
export function table(header, rows) {
  const widths = header.map((cell, i) => Math.max(String(cell).length, ...rows.map((row) => String(row[i]).length)))
  const line = (cells) => `| ${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}
