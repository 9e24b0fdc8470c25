// @ts-check
// Issue 27, point 2: the worst cases of fixed and sliding windows, measured on the package's own counting
// (dist/rate-limit/window.js, as one instance counts alone) against callers that send whenever they may.
// `node bench/windows.js` prints a Markdown table: for a limit of N requests per window W, the most requests
// admitted within any 2 s, and within any span of length W, for each pattern. Deterministic: no clock is read.
import { compile } from '../dist/rate-limit/policy.js'
import { Window } from '../dist/rate-limit/window.js'

const N = 100
const W = 60_000
const STEP = 10 // ms between a caller's tries
const WINDOWS = 12

/** Admits as the limiter does alone: `used` plus what the window before still weighs, below the quota. */
function run(/** @type {boolean} */ sliding, /** @type {(t: number) => number} */ tries) {
  const [policy] = compile(Object.freeze([{ type: 'requests', unit: 'rpm', value: N }]), 'api_key', () => {})
  if (policy === undefined) throw new Error('no policy')
  const window = new Window(false, sliding)
  /** @type {number[]} */
  const admitted = []
  // Start at a minute's start (the epoch is one), plus an offset, so the edges fall where the patterns aim.
  for (let t = W; t < W * (WINDOWS + 1); t += STEP) {
    for (let k = tries(t); k > 0; k--) {
      window.roll(policy, t)
      if (window.used + window.carried(policy, t) >= N) break
      window.used++
      admitted.push(t)
    }
  }
  return admitted
}

/** The most timestamps of `times` (sorted) within any span of `span` ms. */
function most(/** @type {number[]} */ times, /** @type {number} */ span) {
  let best = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= span) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}

// Edges at every minute; "every other window" patterns stay idle in the odd windows but for their last second.
const quietOdd = (/** @type {number} */ t) => t % (2 * W) >= W && t % (2 * W) < 2 * W - 1_000
const PATTERNS = /** @type {Array<[string, (t: number) => number]>} */ ([
  ['as many as allowed, every 10 ms', () => N],
  ['one request every 10 ms', () => 1],
  [
    "N in a window's last second, N in the next one's first (every other edge)",
    (t) => (t % (2 * W) >= 2 * W - 1_000 || t % (2 * W) < 1_000 ? N : 0),
  ],
  ["N in a window's last second, then as many as allowed through the next (every other window)", (t) => (quietOdd(t) ? 0 : N)],
  [
    "N in a window's last 10 ms, then as many as allowed through the next (every other window)",
    (t) => (t % (2 * W) === 2 * W - STEP || t % (2 * W) < W ? N : 0),
  ],
  ['a burst of N every 30 s', (t) => (t % 30_000 === 0 ? N : 0)],
])

const rows = []
for (const [name, tries] of PATTERNS) {
  const cells = [name]
  for (const sliding of [false, true]) {
    const times = run(sliding, tries)
    cells.push(`${most(times, 2_000)} / ${most(times, W)}`)
  }
  rows.push(`| ${cells.join(' | ')} |`)
}
console.log(`Limit N = ${N} per W = ${W / 1000} s; each cell: most admitted within any 2 s / within any ${W / 1000} s.\n`)
console.log('| caller | fixed | sliding |')
console.log('|---|---|---|')
for (const row of rows) console.log(row)
