// @ts-check
// Turns the results of bench/run.js into Markdown (BENCHMARKS.md): the targets, then a section per scenario, a few
// sentences and tables written by one table writer (tableOf: a header and a cell function per column).
import { fmtBytes, fmtInt, fmtMs, fmtNs, fmtPct, fmtRatio, fmtSpread, fmtUs, KINDS, median, table } from './lib.js'

/** @typedef {import('./load.js').Comparison} Comparison */
/** @typedef {import('./run.js').Run} Run */
/**
 * Everything one run measured (each scenario only when it ran); `source` is the commit and whether src/ had changes.
 * @typedef {{ date: string, source: string, settings: import('./run.js').Settings, comparisons: Compared[] }
 *   & { machine: { cores: number, cpu: string, memGb: number, os: string, node: string, versions: Record<string, string> } }
 *   & { cold?: { oneKey: Run, cached: Run, manyKeys: Run }, micro?: { results: Micro[] }, fleet?: { keys: number, alone: Run, shared: Run | null } }
 *   & { scale?: { keys: import('./scale.js').ScaleKeys[], upfront: import('./scale.js').ScaleUpfront[] } }
 *   & { fleetLimits?: { limit: number, requests: number, alone: Run, shared: Run[] | null } }
 *   & { coldStart?: import('./cold-import.js').ColdStart, instructions?: Instructions }} Results
 */
/**
 * What bench/instructions.js left for this code: each framework's summary table.
 * @typedef {{ source: string, date: string, tables: { framework: string, header: string[], rows: unknown[][], settings: Record<string, number> }[] }} Instructions
 */
/** @typedef {{ n: string, framework: string, title: string, result: Comparison }} Compared */
/** @typedef {{ name: string, p50: number, avg: number, p99: number }} Micro */
/**
 * Targets on a contender against its floor (with `naive`, against the naive limit), in the comparisons `n`: µs of
 * server CPU per request above, throughput.
 * @type {{ n: string[], kind: string, label: string, maxUs?: number, minRatio?: number, issue: number, naive?: boolean }[]}
 */
const FLOOR_TARGETS = [
  { n: ['1', '2'], kind: 'key', label: 'cached API key', maxUs: 1, minRatio: 0.97, issue: 14 },
  { n: ['1', '2'], kind: 'key', label: "cached API key at or below the naive limit's cost", maxUs: 0, issue: 26, naive: true },
  { n: ['1', '2'], kind: 'jwt', label: 'cached JWT', maxUs: 1.5, minRatio: 0.95, issue: 14 },
  { n: ['1', '2'], kind: 'key', label: 'cached API key', minRatio: 0.95, issue: 26 },
  { n: ['1', '2'], kind: 'jwt', label: 'cached JWT', minRatio: 0.93, issue: 26 },
  { n: ['8', '9'], kind: 'key', label: 'cached API key', minRatio: 0.95, issue: 15 },
  { n: ['10'], kind: 'keyTelemetry', label: 'cached API key with telemetry on', minRatio: 0.95, issue: 17 },
  { n: ['11'], kind: 'keyLimited', label: 'cached API key with a limit it never reaches', minRatio: 0.95, issue: 16 },
  { n: ['11'], kind: 'keyLimitedRedis', label: 'the same, leasing from Redis', minRatio: 0.9, issue: 16 },
]
const rowOf = (/** @type {Comparison} */ c, /** @type {string} */ kind) => c.rows.find((r) => r.name === KINDS[kind][0])
/** The noise gauge (a second copy of the bare server) against the bare server: throughput ratio's distance from 1, µs. */
function noiseOf(/** @type {Comparison} */ c) {
  const [bare, gauge] = [rowOf(c, 'bare'), rowOf(c, 'noise')]
  return { ratio: Math.abs(1 - (gauge?.bare.ratio ?? NaN)), us: (gauge?.cpuPerReq ?? NaN) - (bare?.cpuPerReq ?? NaN) }
}
/** The median absolute deviation of `values` from their median, as a share of the median. */
const relativeMad = (/** @type {number[]} */ xs) => median(xs.map((x) => Math.abs(x - median(xs)))) / median(xs)
/**
 * Each target: what it asks, what was measured, whether it is met, and whether closer to its threshold than the noise:
 * the noise gauge's distance from bare in the target's unit; for the scale, the runs' relative median absolute
 * deviations from their median (of both sizes, added).
 * @param {Results} results
 */
export function targets({ comparisons, micro, cold, fleet, scale, fleetLimits, settings, instructions }) {
  /** @type {[target: string, measured: string, met: boolean, close: boolean][]} */
  const list = []
  /** @type {(target: string, measured: string, met: boolean, x?: number, threshold?: number, noise?: number) => unknown} */
  const check = (target, measured, met, x = 0, threshold = 0, noise = 0) =>
    list.push([target, measured, met, Math.abs(x - threshold) < noise])
  for (const t of FLOOR_TARGETS) {
    for (const { n, framework, result } of comparisons.filter((c) => t.n.includes(c.n))) {
      const [row, noise] = [rowOf(result, t.kind), noiseOf(result)]
      const floor = t.naive ? row?.naive : row?.floor
      const who = `${framework[0].toUpperCase()}${framework.slice(1)}: ${t.label}`
      if (!floor) continue
      const [us, perRound] = [fmtUs(floor.us), `per round: ${fmtSpread(floor.ratioPerRound, fmtRatio)}`]
      // Against the naive limit, one row: the CPU is the verdict, the throughput beside it.
      const throughput = t.naive
        ? `; throughput ${fmtRatio(floor.ratio)} (${perRound}; CPU time: ${fmtRatio(floor.cpuRatio)})`
        : ''
      const above = `${us} (per round: ${fmtSpread(floor.usPerRound, fmtUs)})${throughput}`
      const target = t.naive
        ? `${who}: ≤ ${t.maxUs} µs server CPU/request above it (issue ${t.issue}, scenario ${n})`
        : `${who} ≤ ${t.maxUs} µs server CPU/request above its floor (issue ${t.issue})`
      if (t.maxUs !== undefined) check(target, above, floor.us <= t.maxUs, floor.us, t.maxUs, Math.abs(noise.us))
      if (t.minRatio === undefined) continue
      const measured = `${fmtRatio(floor.ratio)} (${perRound}; CPU time: ${fmtRatio(floor.cpuRatio)}; ${us} server CPU/request)`
      const ratio = `${who} ≥ ${t.minRatio}× its floor's throughput (issue ${t.issue}, scenario ${n})`
      check(ratio, measured, floor.ratio >= t.minRatio, floor.ratio, t.minRatio, noise.ratio * t.minRatio)
    }
  }
  const express = comparisons.find((c) => c.n === '1')?.result
  const [jwt, auth0] = express ? [rowOf(express, 'jwt'), rowOf(express, 'auth0')] : []
  if (express && jwt && auth0) {
    const [ratio, measured] = [jwt.rps / auth0.rps, `CPU time: ${fmtRatio(auth0.cpuPerReq / jwt.cpuPerReq)}`]
    const target = "Express: cached JWT ≥ 2× express-oauth2-jwt-bearer's throughput (issue 14)"
    check(target, `${fmtRatio(ratio)} (${measured})`, ratio >= 2, ratio, 2, noiseOf(express).ratio * 2)
  }
  for (const kind of ['API key', 'JWT']) {
    const p50 = micro?.results.find((r) => r.name === `verify() cache hit, ${kind}`)?.p50
    if (p50 !== undefined) check(`verify() hit (${kind}) ≤ 2 µs median`, fmtNs(p50), p50 <= 2000)
  }
  // Issue 27: each rate-limit feature's cost in check() of a cached key with a status, over the same without limits.
  const issue27 = (/** @type {string} */ what) =>
    micro?.results.find((r) => r.name === `check() cache hit, API key, with a status (issue 27: ${what})`)?.p50
  const unlimited = issue27('no limit')
  for (const what of [
    "the record's limit",
    "the record's limit, shadow mode",
    "the record's limit, sliding window",
    "the app's default limit",
    "the app's limit on the route",
  ]) {
    const p50 = issue27(what)
    if (p50 === undefined || unlimited === undefined) continue
    const extra = p50 - unlimited
    const measured = `${extra < 0 ? '−' : '+'}${fmtNs(Math.abs(extra))} (${fmtNs(p50)} vs ${fmtNs(unlimited)})`
    check(`check() hit with ${what} ≤ +0.5 µs over no limit (issue 27, scenario 5)`, measured, extra <= 500)
  }
  const bursts = cold ? [cold.oneKey, cold.manyKeys] : []
  for (const [keys, { calls }] of bursts.map((run, i) => /** @type {const} */ ([i ? settings.burstKeys : 1, run])))
    check(`Cold burst: ${keys} new key(s) → exactly ${keys} control-plane call(s)`, `${calls} call(s)`, calls === keys)
  const calls = fleet?.shared?.calls
  const fleetTarget = `Fleet (issue 8): 3 instances, ${fleet?.keys} new keys, shared Redis → ${fleet?.keys} calls`
  if (calls !== undefined) check(fleetTarget, `${calls} call(s)`, calls === fleet?.keys)
  const [one, ...more] = scale?.keys ?? []
  for (const k of more) {
    const [ratio, noise] = [k.nsPerHit.median / one.nsPerHit.median, relativeMad(one.runs) + relativeMad(k.runs)]
    const measured = `${fmtRatio(ratio)} (${fmtNs(k.nsPerHit.median)} vs ${fmtNs(one.nsPerHit.median)})`
    const target = `Scale: a cache hit among ${fmtInt(k.keys)} keys ≤ 1.2× a hit with 1 key (issue 14)`
    check(target, measured, ratio <= 1.2, ratio, 1.2, noise * 1.2)
  }
  const largest = more.at(-1)
  const heap = `Scale: heap retained per cached key ≤ 1.5 KiB (${fmtInt(largest?.keys)} keys; issue 14)`
  if (largest) check(heap, fmtBytes(largest.heapPerKey), largest.heapPerKey <= 1536)
  if (largest) {
    const ratio = largest.nsPerHit.median / one.nsPerHit.median
    const measured = `${fmtRatio(ratio)} (${fmtNs(largest.nsPerHit.median)} vs ${fmtNs(one.nsPerHit.median)})`
    check(`Scale: a cache hit among ${fmtInt(largest.keys)} keys ≤ 1.5× a hit with 1 key (issue 26)`, measured, ratio <= 1.5)
    const perKey = `Scale: heap retained per cached key ≤ 400 B (${fmtInt(largest.keys)} keys; issue 26)`
    check(perKey, fmtBytes(largest.heapPerKey), largest.heapPerKey <= 400)
  }
  for (const [target, measured, met] of instructionTargets(instructions)) check(target, measured, met)
  const admitted = fleetLimits?.shared?.map((run) => run.admitted ?? 0)
  const { limit, requests } = fleetLimits ?? {}
  const limited = `Fleet (issue 16): 3 instances, one Redis, ${requests} requests at once for a key limited to ${limit}`
  if (admitted)
    check(`${limited} → at most that admitted`, `${admitted.join(', ')} admitted`, Math.max(...admitted) <= Number(limit))
  return list
}
/** Issue 26's instruction counts (scenario 13) above the floor, per framework: at most this many a request. */
const INSTRUCTION_TARGETS = [
  { row: /API key \(warm\)$/, label: 'cached API key', max: { koa: 3_000, fastify: 3_000, hono: 3_000, express: 5_000 } },
  { row: /JWT \(warm\)$/, label: 'cached JWT', max: { koa: 6_000, express: 6_000 } },
]
/** A count as bench/instructions.js prints it (`94,637`, `+5,149`, `−1,331 (1.01×)`), as a number. */
const countOf = (/** @type {unknown} */ cell) => Number(String(cell).split(' ')[0].replace('−', '-').replace(/[+,]/g, ''))
/**
 * Issue 26's targets on the instruction counts bench/instructions.js left: a cached API key and a cached JWT above
 * the floor, a limit never reached above the same key without limits, the cached key against the naive limit.
 * @param {Instructions | undefined} instructions
 * @returns {[target: string, measured: string, met: boolean][]}
 */
function instructionTargets(instructions) {
  /** @type {[string, string, boolean][]} */
  const list = []
  for (const { framework, header, rows } of instructions?.tables ?? []) {
    const [Framework, at] = [`${framework[0].toUpperCase()}${framework.slice(1)}`, (/** @type {string} */ h) => header.indexOf(h)]
    const [total, above, naive] = [
      at('instructions/request (median)'),
      at('above its floor'),
      at('above the naive limit (naive ÷ contender)'),
    ]
    const find = (/** @type {RegExp} */ name) => rows.find((row) => name.test(String(row[0])))
    for (const { row: name, label, max } of INSTRUCTION_TARGETS) {
      const limit = max[/** @type {keyof typeof max} */ (framework)]
      const row = find(name)
      if (limit === undefined || row === undefined) continue
      const target = `${Framework}: ${label} ≤ +${fmtInt(limit)} instructions/request above its floor (issue 26, scenario 13)`
      list.push([target, `${row[above]}`, countOf(row[above]) <= limit])
    }
    const [key, limited] = [find(/API key \(warm\)$/), find(/limit not reached$/)]
    if (key && limited) {
      const extra = countOf(limited[total]) - countOf(key[total])
      const target = `${Framework}: a rate limit never reached ≤ +2,000 instructions/request over the same key without (issue 26)`
      list.push([target, `${extra < 0 ? '−' : '+'}${fmtInt(Math.abs(extra))}`, extra <= 2_000])
    }
    if (key && naive >= 0 && key[naive]) {
      const target = `${Framework}: cached API key at or below the naive limit's instructions/request (issue 26, scenario 13)`
      list.push([target, `${key[naive]}`, countOf(key[naive]) <= 0])
    }
  }
  return list
}
/**
 * A table: each column a header and how a row gives its cell; columns empty in every row are left out.
 * @template T
 * @param {[header: string, cell: (row: T) => unknown][]} columns
 * @param {T[]} rows
 */
function tableOf(columns, rows) {
  const empty = (/** @type {unknown} */ x) => x === undefined || x === null || x === false || x === ''
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)).map((x) => (empty(x) ? '' : x)))
  const used = columns.map((_, i) => cells.some((row) => row[i] !== ''))
  const header = columns.flatMap(([header], i) => (used[i] ? [header] : []))
  const body = cells.map((row) => row.filter((_, i) => used[i]))
  return table(header, body)
}
/** A section: its title, then paragraphs and tables. */
function section(/** @type {string} */ title, /** @type {string[]} */ ...blocks) {
  return [`## ${title}`, '', ...blocks.flatMap((block) => [block, ''])]
}
/** @type {(x: { ratio: number, ratioPerRound: import('./lib.js').Spread }) => string} */
const vs = (x) => `${fmtRatio(x.ratio)} (${fmtSpread(x.ratioPerRound, fmtRatio)})`
const statuses = (/** @type {Record<string, number>} */ s) => Object.entries(s).map(([status, n]) => `${fmtInt(n)}× ${status}`)
/** @type {[string, (r: import('./load.js').Row) => unknown][]} The columns of a comparison: against bare and the floor. */
const COMPARISON = [
  ['Contender', (r) => r.name],
  ['req/s', (r) => fmtInt(r.rps)],
  ['× bare (per round)', (r) => (r.bare.name === r.name ? '1.00× (baseline)' : vs(r.bare))],
  ['p50 / p99', (r) => `${fmtMs(r.p50)} / ${fmtMs(r.p99)}`],
  ['server CPU/request', (r) => `${r.cpuPerReq.toFixed(2)} µs`],
  ['× bare (CPU)', (r) => fmtRatio(r.bare.cpuRatio)],
  ['CPU: server / load-gen / other', (r) => [r.serverCpu, r.loaderCpu, r.otherCpu].map(fmtPct).join(' / ')],
  ['rounds kept', (r) => `${r.kept}/${r.rounds}`],
  ['non-2xx/errors', (r) => r.bad],
  ['floor', (r) => r.floor?.name],
  ['above the floor (per round)', (r) => r.floor && `**${fmtUs(r.floor.us)}** (${fmtSpread(r.floor.usPerRound, fmtUs)})`],
  ['× floor req/s (per round)', (r) => r.floor && `**${vs(r.floor)}**`],
  ['× floor (CPU)', (r) => r.floor && fmtRatio(r.floor.cpuRatio)],
]
/** @type {[string, (r: Run & { label: string, expected?: number, limit?: number }) => unknown][]} Cold bursts and fleets. */
const RUNS = [
  ['Run', (r) => r.label],
  ['Control-plane calls', (r) => `${fmtInt(r.calls)}${r.expected === undefined ? '' : ` (expected ${r.expected})`}`],
  ['Answers', (r) => statuses(r.statuses).join(', ')],
  ['Time to last answer', (r) => fmtMs(r.elapsedMs)],
  ['p50 / p99', (r) => r.p50 !== undefined && `${fmtMs(r.p50)} / ${fmtMs(r.p99)}`],
  ['Admitted (per instance)', (r) => r.limit && `${fmtInt(r.admitted)} (${r.perInstance?.map(fmtInt).join(' + ')})`],
  ['× the limit', (r) => r.limit && fmtRatio(Number(r.admitted) / r.limit)],
  ['Leases from Redis', (r) => r.limit && fmtInt(r.leases)],
]
/** @type {[string, (r: Micro) => unknown][]} */
const MICRO = [
  ['Operation', (r) => r.name],
  ['median (p50)', (r) => fmtNs(r.p50)],
  ['mean', (r) => fmtNs(r.avg)],
  ['p99', (r) => fmtNs(r.p99)],
]
/** @type {[string, (k: import('./scale.js').ScaleKeys & { one: number }) => unknown][]} */
const HITS = [
  ['Cached keys', (k) => fmtInt(k.keys)],
  ['cache.max', (k) => fmtInt(k.max)],
  ['check() per hit: median of the runs (range)', (k) => fmtSpread(k.nsPerHit, fmtNs)],
  ['× 1 key', (k) => fmtRatio(k.nsPerHit.median / k.one)],
  ['heap per key', (k) => (k.keys < 1_000 ? '–' : fmtBytes(k.heapPerKey))],
  ['RSS per key', (k) => (k.keys < 10_000 ? '–' : fmtBytes(k.rssPerKey))],
  ['filled in', (k) => (k.fillMs < 10 ? fmtMs(k.fillMs) : `${fmtInt(k.fillMs)} ms`)],
]
/** @type {[string, (u: import('./scale.js').ScaleUpfront) => unknown][]} */
const UPFRONT = [
  ['cache.max, no key stored', (u) => fmtInt(u.max)],
  ['createVerifier(): first (again: median of 5)', (u) => `${fmtMs(u.firstMs)} (${fmtMs(u.againMs.median)})`],
  ['heap', (u) => fmtBytes(u.heap)],
  ['external (typed arrays)', (u) => fmtBytes(u.external)],
  ['RSS', (u) => fmtBytes(u.rss)],
]
/** @type {[string, (r: import('./cold-import.js').ColdResult) => unknown][]} */
const COLD = [
  ['Entry', (r) => r.name],
  ['Runtime', (r) => r.runtime],
  ['import: median (range)', (r) => fmtSpread(r.import, fmtMs)],
  ['to the first admitted request: median (range)', (r) => r.firstRequest && fmtSpread(r.firstRequest, fmtMs)],
]
/** @type {[string, (b: import('./cold-import.js').ColdStart['bundles'][number]) => unknown][]} */
const BUNDLES = [
  ['Bundle (esbuild, minified)', (b) => b.name],
  ['size', (b) => fmtBytes(b.bytes)],
  ['gzipped', (b) => fmtBytes(b.gzipBytes)],
]
/** @type {[string, (t: [string, string, boolean, boolean]) => unknown][]} */
const VERDICTS = [
  ['Target', (t) => t[0]],
  ['Measured', (t) => t[1]],
  ['Result', (t) => `${t[2] ? 'met' : '**not met**'}${t[3] ? ' (within the noise)' : ''}`],
]
/** The whole report, as Markdown. */
export function markdown(/** @type {Results} */ results) {
  const { machine: m, settings: s, comparisons, cold, micro, fleet, scale, fleetLimits, coldStart, instructions } = results
  /** @type {[number, string[]][]} the sections by scenario number */
  const sections = comparisons.map(({ n, title, result: c }) => {
    const [jwt, auth0, noise, naive] = [rowOf(c, 'jwt'), rowOf(c, 'auth0'), noiseOf(c), rowOf(c, 'key')?.naive]
    const text = [
      `The noise gauge is ${fmtUs(noise.us)} of server CPU per request and ${fmtPct(noise.ratio)} in throughput from bare.`,
      c.cleanOnly
        ? 'Rounds where other processes took more than a quarter of a core are left out.'
        : '**Too few quiet rounds: all count.**',
      jwt && auth0 ? `portkeyAuth JWT vs express-oauth2-jwt-bearer: ${fmtRatio(jwt.rps / auth0.rps)} the throughput.` : '',
      naive
        ? `The naive limit is one middleware of the floor's form that takes the key's SHA-256 and reads it in a Map (bench/naive.js): portkeyAuth's cached API key against it: **${fmtRatio(naive.ratio)}** its throughput (per round: ${fmtSpread(naive.ratioPerRound, fmtRatio)}; CPU time: ${fmtRatio(naive.cpuRatio)}), **${fmtUs(naive.us)}** server CPU/request (per round: ${fmtSpread(naive.usPerRound, fmtUs)}).`
        : '',
      `Control-plane calls during the measured rounds: ${c.calls.key} key look-up(s), ${c.calls.jwks} JWKS fetch(es).`,
    ]
    return [Number(n), section(`${n}. ${title}`, text.filter(Boolean).join(' '), tableOf(COMPARISON, c.rows))]
  })
  const [n, keys] = [fmtInt(s.burstSize), s.burstKeys]
  if (cold) {
    const text = `A fresh Express server with \`portkeyAuth\` (JIT warmed with another key), control plane answering after ${s.delayMs} ms; each burst sends one request on each of ${n} connections, all at once, opened just before.`
    const runs = [
      { ...cold.oneKey, label: `${n} requests, 1 new key`, expected: 1 },
      { ...cold.manyKeys, label: `${n} requests over ${keys} new keys`, expected: keys },
      { ...cold.cached, label: `reference: ${n} requests, that key now cached`, expected: 0 },
    ]
    sections.push([3, section('3. Cold burst', text, tableOf(RUNS, runs))])
  }
  if (micro) {
    const text =
      'In a process of its own; every measured `verify()` is a cache hit. Async benchmarks include awaiting the promise.'
    sections.push([5, section('5. Core micro-benchmark (mitata)', text, tableOf(MICRO, micro.results))])
  }
  if (fleet) {
    const text = `3 verifier instances, each a process of its own, are asked for the same ${fleet.keys} new keys at once (100 at a time), control plane answering after ${s.delayMs} ms.`
    const runs = [{ ...fleet.alone, label: 'each instance alone (LRU only)' }]
    if (fleet.shared) runs.push({ ...fleet.shared, label: 'sharing one Redis' })
    sections.push([6, section('6. Three instances, with and without Redis (issue 8)', text, tableOf(RUNS, runs))])
  }
  if (scale) {
    const [one, largest, big] = [scale.keys[0], scale.keys.at(-1), scale.upfront.at(-1)]
    const text = `Each measurement in a process of its own (bench/scale.js): \`check()\` cycling through the cached keys in a shuffled order, ${fmtInt(one.callsPerRun)} calls or more in each of ${one.runs.length} runs, every one a synchronous cache hit; the heap (and RSS) each key retains, after full collections. \`cache.max\` is the default, or raised to hold every key.`
    const [filled, reserved] = [(big?.max ?? NaN) * (largest?.heapPerKey ?? NaN), (big?.heap ?? NaN) + (big?.external ?? NaN)]
    const extrapolated = `The cache reserves room for \`max\` entries up front. With all ${fmtInt(big?.max)} keys stored, the heap would hold about ${fmtBytes(filled)} more (${fmtBytes(largest?.heapPerKey)} a key, **extrapolated** from ${fmtInt(largest?.keys)} keys), ${fmtBytes(filled + reserved)} with the reservation.`
    const [hits, title] = [
      scale.keys.map((k) => ({ ...k, one: one.nsPerHit.median })),
      '7. Scale: many cached keys, and a large cache.max',
    ]
    sections.push([7, section(title, text, tableOf(HITS, hits), tableOf(UPFRONT, scale.upfront), extrapolated)])
  }
  if (fleetLimits) {
    const { limit, requests, alone, shared } = fleetLimits
    const text = `3 verifier instances get ${fmtInt(requests)} requests at once, ${fmtInt(requests / 3)} each, for one key limited to ${limit} requests a week, cold at every instance. Alone each counts its own; sharing one redis-server they lease the allowance in batches (an eighth of what is left, at most 256), a new key each run. The fleet may admit fewer than the limit: what an instance leased and did not use is refused to the others.`
    const runs = [{ ...alone, label: 'each instance alone (no Redis)', limit }]
    for (const [i, run] of (shared ?? []).entries()) runs.push({ ...run, label: `sharing one Redis, run ${i + 1}`, limit })
    sections.push([11.5, section('11. Rate limits, three instances against a limit (issue 16)', text, tableOf(RUNS, runs))])
  }
  if (coldStart) {
    const text = `Each figure is a fresh process, timed from the start of its \`await import()\` (the runtime's own start-up not counted), ${coldStart.rounds} processes each in an order rotated each round: fewer than \`node bench/cold-import.js\` alone runs (15), to keep the bench short, so the ranges are wide. **import**: the entry, or the edge bundle (test/runtimes' fixture Worker, bundled by esbuild as wrangler does). **To the first admitted request**: for \`portkey-auth\`, the import, \`createVerifier({ lookup })\` with a look-up answering at once, and one \`verify()\` of an API key; for the web-worker bundle, the import and its \`fetch()\` of one request carrying the key, its control plane a stub on loopback (one key look-up over HTTP included; on Node, the first \`fetch()\` also loads Node's fetch). Node ${coldStart.node}; Deno and Bun when \`RUNTIMES_PREFIX\` names where they are installed.`
    const title = '12. Cold start: import, and to the first admitted request'
    sections.push([12, section(title, text, tableOf(COLD, coldStart.results), tableOf(BUNDLES, coldStart.bundles))])
  }
  if (instructions) {
    const [first] = instructions.tables
    const how = first
      ? Object.entries(first.settings)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : ''
    const text = `Instructions per request, user space, every thread, counted by valgrind's callgrind (\`node bench/instructions.js <framework>\`, ${instructions.date}, of this same code; ${how}): other load on the machine does not move them, unlike the times above. Each contender is measured against its floor (and the cached key against the naive limit) in the same run. "of which JIT compilers" is V8 compiling during the count, which should read 0 once warm.`
    const tables = instructions.tables.map((t) => `**${t.framework}**\n\n${table(t.header, t.rows)}`)
    sections.push([13, section('13. Instructions per request (callgrind)', text, ...tables)])
  }
  const v = m.versions
  const settings = [
    `- Measured: portkey-auth at ${results.source} (built to dist/ by \`npm run bench\`), on ${m.cpu}, ${m.cores} cores, ${m.memGb} GB RAM; ${m.os}; Node ${m.node}`,
    `- Express ${v.express}, Koa ${v.koa}, Fastify ${v.fastify}, Hono ${v.hono} on @hono/node-server ${v['@hono/node-server']}, express-oauth2-jwt-bearer ${v['express-oauth2-jwt-bearer']}, autocannon ${v.autocannon}, mitata ${v.mitata}`,
    `- Under steady load (scenarios 1–2, 8–11): \`GET /v1/ping\` → \`{"ok":true}\`, autocannon with ${s.connections} connections; each contender in ${s.processes} server processes warmed up for ${s.warmup} s, then ${s.rounds} rounds × ${s.duration} s, round r on process r mod ${s.processes}, in an order rotated each round; medians over rounds.`,
  ]
  return [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run.js) on ${results.date}; re-run it rather than edit this file. bench/README.md says how to read it.`,
    '',
    ...section('Machine and settings', settings.join('\n')),
    ...section('Targets', tableOf(VERDICTS, targets(results))),
    ...sections.sort((a, b) => a[0] - b[0]).flatMap(([, lines]) => lines),
  ].join('\n')
}
