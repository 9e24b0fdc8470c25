// @ts-check
// Small statistics and formatting helpers.

/**
 * The p-th percentile of an ascending array, interpolated between the nearest ranks; NaN when empty.
 * @param {readonly number[]} sorted
 * @param {number} p
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.min(low + 1, sorted.length - 1)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

/**
 * Median of numbers in any order, leaving out nulls (CPU figures where /proc is missing).
 * @param {readonly (number | null)[]} values
 */
export const median = (values) =>
  percentile(
    values.filter((x) => x !== null).sort((a, b) => a - b),
    50,
  )

/**
 * Median and range of numbers in any order (NaN when empty).
 * @param {readonly number[]} values
 */
export const spread = (values) => ({
  median: median(values),
  min: values.length > 0 ? Math.min(...values) : NaN,
  max: values.length > 0 ? Math.max(...values) : NaN,
})

/**
 * Formats finite numbers with `format`, anything else (NaN, null) as '–'.
 * @param {(n: number) => string} format
 * @returns {(n: number | null | undefined) => string}
 */
const finite = (format) => (n) => (typeof n === 'number' && Number.isFinite(n) ? format(n) : '–')
export const fmtInt = finite((n) => Math.round(n).toLocaleString('en-US'))
export const fmtMs = finite((n) => `${n.toFixed(2)} ms`)
export const fmtRatio = finite((n) => `${n.toFixed(2)}×`)
export const fmtPct = finite((n) => `${Math.round(n * 100)}%`)
/** Microseconds with a sign (a difference), two decimals. */
export const fmtUs = finite((n) => `${n < 0 ? '−' : '+'}${Math.abs(n).toFixed(2)} µs`)
/** Bytes as B, KiB or MiB. */
export const fmtBytes = finite((n) =>
  Math.abs(n) < 1024
    ? `${Math.round(n)} B`
    : Math.abs(n) < 2 ** 20
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 2 ** 20).toFixed(1)} MiB`,
)
/** Nanoseconds as ns or µs, three significant digits. */
export const fmtNs = finite((n) => (n < 1000 ? `${n.toPrecision(3)} ns` : `${(n / 1000).toPrecision(3)} µs`))

/**
 * A Markdown table from a header row and body rows (cells already formatted).
 * @param {readonly unknown[]} header
 * @param {readonly (readonly unknown[])[]} rows
 */
export function table(header, rows) {
  const widths = header.map((cell, i) => Math.max(String(cell).length, ...rows.map((row) => String(row[i]).length)))
  const line = (/** @type {readonly unknown[]} */ cells) =>
    `| ${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}
