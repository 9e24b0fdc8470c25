// @ts-check
// Turns the results of bench/run.js into Markdown: the console table and BENCHMARKS.md.
import { fmtBytes, fmtInt, fmtMs, fmtNs, fmtPct, fmtRatio, fmtUs, median, table } from './stats.js'

/**
 * Everything one run measured (each scenario only when it ran).
 * @typedef {object} Results
 * @property {string} date
 * @property {string} source  the commit measured, and whether src/ had changes not in it
 * @property {import('./run.js').Settings} settings
 * @property {{ cores: number, cpu: string, memGb: number, os: string, node: string, versions: Record<string, string> }} machine
 * @property {import('./compare.js').Comparison} [express]
 * @property {import('./compare.js').Comparison} [koa]
 * @property {import('./scenarios.js').ColdBurst} [cold]
 * @property {import('./scenarios.js').Flood} [flood]
 * @property {import('./micro.js').MicroReport} [micro]
 * @property {import('./fleet.js').Fleet} [fleet]
 * @property {import('./scenarios.js').Scale} [scale]
 * @property {import('./compare.js').Comparison} [fastify]
 * @property {import('./compare.js').Comparison} [hono]
 * @property {import('./compare.js').Comparison} [telemetryExpress]
 * @property {import('./compare.js').Comparison} [telemetryKoa]
 * @property {typeof import('./compare.js').waiting} [waiting]
 * @property {import('./compare.js').Comparison} [limitsExpress]  scenario 11 on Express
 * @property {import('./compare.js').Comparison} [limitsKoa]  scenario 11 on Koa
 * @property {import('./fleet-limits.js').FleetLimits} [limitsFleet]  scenario 11, three instances against a limit
 */
/** @typedef {import('./compare.js').Comparison['rows'][number]} Row */

/** The contenders' names in scenarios 1–2, 8–9 and 11: the rows the targets read. */
export const NAMES = {
  bare: 'bare',
  /** A second copy of the bare server, measured like a contender: its distance from 1.00× is the noise. */
  noise: 'bare, second copy (noise gauge)',
  /** The framework with one empty middleware of its cheapest form, sent the API-key contender's request. */
  floorKey: 'floor, API-key headers',
  /** The same, sent the JWT contender's request. */
  floorJwt: 'floor, JWT headers',
  key: 'portkeyAuth, API key (warm)',
  /** Scenario 10: the same with telemetry on; its floor is the row above (telemetry off). */
  keyTelemetry: 'portkeyAuth, API key (warm), telemetry on',
  jwt: 'portkeyAuth, RS256 JWT (warm)',
  auth0: 'express-oauth2-jwt-bearer, RS256 JWT',
  /** Scenario 11: the API key sent a key with a requests limit it never reaches; its floor is `key`. */
  keyLimited: 'portkeyAuth, API key (warm), limit not reached',
  /** The same, leasing the allowance from a shared Redis. */
  keyLimitedRedis: 'portkeyAuth, API key (warm), limit not reached, Redis',
}

/**
 * @param {import('./compare.js').Comparison} comparison
 * @param {string} name
 * @returns {Row}
 */
function rowNamed(comparison, name) {
  const row = comparison.rows.find((r) => r.name === name)
  if (row === undefined) throw new Error(`report: no row "${name}"`)
  return row
}

/** @param {Record<string, number>} statuses */
const statusText = (statuses) =>
  Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${fmtInt(n)}× ${status}`)
    .join(', ')

/** Issue 14's targets for the cached path, against its floor, on every framework. */
const FLOOR_TARGETS = /** @type {const} */ ([
  { label: 'cached API key', name: NAMES.key, maxUs: 1, minRatio: 0.97 },
  { label: 'cached JWT', name: NAMES.jwt, maxUs: 1.5, minRatio: 0.95 },
])
/** Issue 15, Fastify and Hono: the cached API key's throughput against its floor (its µs above it shown too). */
const NEW_ADAPTER_TARGET = /** @type {const} */ ({ label: 'cached API key', name: NAMES.key, minRatio: 0.95 })
/** Issue 17: the cached API key with telemetry on (a real MeterProvider), against the same without. */
const TELEMETRY_TARGET = 0.95
/** The comparisons of scenarios 1–2, 8–9 and 10, with their names, in the report's order. */
const FRAMEWORKS = /** @type {const} */ ([
  ['express', 'Express'],
  ['koa', 'Koa'],
  ['fastify', 'Fastify'],
  ['hono', 'Hono'],
  ['telemetryExpress', 'Express, telemetry'],
  ['telemetryKoa', 'Koa, telemetry'],
  ['limitsExpress', 'Express, rate limits'],
  ['limitsKoa', 'Koa, rate limits'],
])
/** Issue 14, Express: portkeyAuth's cached JWT against express-oauth2-jwt-bearer, in throughput. */
const VS_AUTH0 = 2
/** Scenario 7: a cache hit among many keys costs at most this many times a hit with one key; bytes per key. */
const SCALE_HIT_RATIO = 1.2
const SCALE_BYTES_PER_KEY = 1536
/** Issue 16: a key's limit, never reached, against the same path without limits (throughput, × that). */
const LIMIT_TARGETS = /** @type {const} */ ([
  { label: 'a requests limit it never reaches', name: NAMES.keyLimited, minRatio: 0.95 },
  { label: 'the same, leasing from Redis', name: NAMES.keyLimitedRedis, minRatio: 0.9 },
])

/**
 * How far the noise gauge (a second copy of the bare server) is from the bare server: as a share of the
 * throughput, and in µs of server CPU per request.
 * @param {import('./compare.js').Comparison} comparison
 */
function noiseOf(comparison) {
  const [bare, gauge] = [NAMES.bare, NAMES.noise].map((name) => rowNamed(comparison, name))
  return { ratio: Math.abs(1 - gauge.ratio), us: Math.abs(gauge.cpuPerReq - bare.cpuPerReq) }
}

/** @param {{ median: number, min: number, max: number }} spread  @param {(n: number) => string} format */
const perRound = (spread, format) =>
  `per round: median ${format(spread.median)}, range ${format(spread.min)} to ${format(spread.max)}`

/**
 * The median absolute deviation of `values` from their median, as a share of the median.
 * @param {readonly number[]} values
 */
function relativeMad(values) {
  const center = median(values)
  return median(values.map((x) => Math.abs(x - center))) / center
}

/**
 * The row `name` of `comparison`, with its floor.
 * @param {import('./compare.js').Comparison} comparison
 * @param {string} name
 */
function withFloor(comparison, name) {
  const row = rowNamed(comparison, name)
  if (row.floor === null) throw new Error(`report: "${name}" has no floor`)
  return { ...row, floor: row.floor }
}

/**
 * Each target: what it asks, what was measured, met or not, and whether the measure is closer to its
 * threshold than the noise.
 * @param {Results} results
 */
export function targets(results) {
  /** @type {{ target: string, measured: string, met: boolean, close: boolean }[]} */
  const list = []
  /** @type {(target: string, measured: string, met: boolean, close?: boolean) => void} */
  const row = (target, measured, met, close = false) => {
    list.push({ target, measured, met, close })
  }
  /** Closer to the threshold than `margin` (the noise, in the measure's own unit). */
  const near = (/** @type {number} */ value, /** @type {number} */ threshold, /** @type {number} */ margin) =>
    Math.abs(value - threshold) < margin
  for (const [framework, comparison] of /** @type {const} */ ([
    ['Express', results.express],
    ['Koa', results.koa],
  ])) {
    if (!comparison) continue
    const noise = noiseOf(comparison)
    for (const { label, name, maxUs, minRatio } of FLOOR_TARGETS) {
      const { floor } = withFloor(comparison, name)
      row(
        `${framework}: ${label} ≤ ${maxUs} µs server CPU/request above its floor (issue 14)`,
        `${fmtUs(floor.us)} (${perRound(floor.usPerRound, fmtUs)})`,
        floor.us <= maxUs,
        near(floor.us, maxUs, noise.us),
      )
      row(
        `${framework}: ${label} ≥ ${minRatio}× its floor's throughput (issue 14)`,
        `${fmtRatio(floor.ratio)} (${perRound(floor.ratioPerRound, fmtRatio)}; CPU time: ${fmtRatio(floor.cpuRatio)})`,
        floor.ratio >= minRatio,
        near(floor.ratio, minRatio, noise.ratio * minRatio),
      )
    }
    if (framework === 'Express') {
      const [jwt, auth0] = [NAMES.jwt, NAMES.auth0].map((name) => rowNamed(comparison, name))
      const vsAuth0 = jwt.rps / auth0.rps
      row(
        `Express: cached JWT ≥ ${VS_AUTH0}× express-oauth2-jwt-bearer's throughput (issue 14)`,
        `${fmtRatio(vsAuth0)} (CPU time: ${fmtRatio(auth0.cpuPerReq / jwt.cpuPerReq)})`,
        vsAuth0 >= VS_AUTH0,
        near(vsAuth0, VS_AUTH0, noise.ratio * VS_AUTH0),
      )
    }
  }
  for (const [framework, comparison] of /** @type {const} */ ([
    ['Fastify', results.fastify],
    ['Hono', results.hono],
  ])) {
    if (!comparison) continue
    const noise = noiseOf(comparison)
    const { label, name, minRatio } = NEW_ADAPTER_TARGET
    const { floor } = withFloor(comparison, name)
    row(
      `${framework}: ${label} ≥ ${minRatio}× its floor's throughput (issue 15)`,
      `${fmtRatio(floor.ratio)} (${perRound(floor.ratioPerRound, fmtRatio)}; CPU time: ${fmtRatio(floor.cpuRatio)}; ${fmtUs(floor.us)} server CPU/request above the floor)`,
      floor.ratio >= minRatio,
      near(floor.ratio, minRatio, noise.ratio * minRatio),
    )
  }
  for (const [framework, comparison] of /** @type {const} */ ([
    ['Express', results.telemetryExpress],
    ['Koa', results.telemetryKoa],
  ])) {
    if (!comparison) continue
    const noise = noiseOf(comparison)
    const { floor } = withFloor(comparison, NAMES.keyTelemetry)
    row(
      `${framework}: cached API key with telemetry on ≥ ${TELEMETRY_TARGET}× the same without (issue 17)`,
      `${fmtRatio(floor.ratio)} (${perRound(floor.ratioPerRound, fmtRatio)}; CPU time: ${fmtRatio(floor.cpuRatio)}; ${fmtUs(floor.us)} server CPU/request more)`,
      floor.ratio >= TELEMETRY_TARGET,
      near(floor.ratio, TELEMETRY_TARGET, noise.ratio * TELEMETRY_TARGET),
    )
  }
  const { micro } = results
  if (micro) {
    for (const [label, name] of [
      ['API key', 'verify() cache hit, API key'],
      ['JWT', 'verify() cache hit, JWT'],
    ]) {
      const p50 = micro.results.find((r) => r.name === name)?.p50 ?? NaN
      row(`verify() hit (${label}) ≤ 2 µs median`, fmtNs(p50), p50 <= 2000)
    }
  }
  if (results.cold) {
    const { oneKey, manyKeys } = results.cold
    const { burstKeys } = results.settings
    row('Cold burst: 1 new key → exactly 1 control-plane call', `${oneKey.keyCalls} call(s)`, oneKey.keyCalls === 1)
    row(
      `Cold burst: ${burstKeys} new keys → exactly ${burstKeys} calls`,
      `${manyKeys.keyCalls} call(s)`,
      manyKeys.keyCalls === burstKeys,
    )
  }
  if (results.fleet?.withRedis) {
    const { keys, withRedis } = results.fleet
    row(
      `Fleet (issue 8): 3 instances, ${keys} new keys, shared Redis → ${keys} calls`,
      `${withRedis.calls} call(s)`,
      withRedis.calls === keys,
    )
  }
  if (results.scale) {
    const [one, ...more] = results.scale.keys
    const { median } = one.nsPerHit
    for (const run of more) {
      const ratio = run.nsPerHit.median / median
      // The noise: how far the runs of each stray from their median (median absolute deviation), as shares.
      const noise = relativeMad(one.runs) + relativeMad(run.runs)
      row(
        `Scale: a cache hit among ${fmtInt(run.keys)} keys ≤ ${SCALE_HIT_RATIO}× a hit with 1 key (issue 14)`,
        `${fmtRatio(ratio)} (${fmtNs(run.nsPerHit.median)} vs ${fmtNs(median)})`,
        ratio <= SCALE_HIT_RATIO,
        near(ratio, SCALE_HIT_RATIO, noise * SCALE_HIT_RATIO),
      )
    }
    const largest = results.scale.keys.at(-1)
    if (largest !== undefined)
      row(
        `Scale: heap retained per cached key ≤ 1.5 KiB (${fmtInt(largest.keys)} keys; issue 14)`,
        fmtBytes(largest.heapPerKey),
        largest.heapPerKey <= SCALE_BYTES_PER_KEY,
      )
  }
  for (const [framework, comparison] of /** @type {const} */ ([
    ['Express', results.limitsExpress],
    ['Koa', results.limitsKoa],
  ])) {
    if (!comparison) continue
    const noise = noiseOf(comparison)
    for (const { label, name, minRatio } of LIMIT_TARGETS) {
      if (!comparison.rows.some((r) => r.name === name)) continue
      const { floor } = withFloor(comparison, name)
      row(
        `${framework}: cached API key with ${label} ≥ ${minRatio}× the same key without limits (issue 16)`,
        `${fmtRatio(floor.ratio)} (${perRound(floor.ratioPerRound, fmtRatio)}; CPU time: ${fmtRatio(floor.cpuRatio)}; ${fmtUs(floor.us)} server CPU/request more)`,
        floor.ratio >= minRatio,
        near(floor.ratio, minRatio, noise.ratio * minRatio),
      )
    }
  }
  if (results.limitsFleet?.withRedis) {
    const { limit, requests, instances, withRedis } = results.limitsFleet
    const most = Math.max(...withRedis.map((run) => run.admitted))
    row(
      `Fleet (issue 16): ${instances} instances, one Redis, ${fmtInt(requests)} requests at once for a key limited to ${limit} → at most ${limit} admitted`,
      `${withRedis.map((run) => run.admitted).join(', ')} admitted (${withRedis.length} runs)`,
      most <= limit,
    )
  }
  return list
}

/**
 * The contenders that have a floor, against it: server CPU per request above it, and throughput relative to it.
 * @param {import('./compare.js').Comparison} result
 */
function floorSection(result) {
  const noise = noiseOf(result)
  const gauge = rowNamed(result, NAMES.noise)
  const rows = result.rows.flatMap((r) => {
    const { floor } = r
    if (floor === null) return []
    return [
      [
        r.name,
        floor.name,
        `${r.cpuPerReq.toFixed(2)} µs`,
        `${floor.cpuPerReq.toFixed(2)} µs`,
        `**${fmtUs(floor.us)}**`,
        `${fmtUs(floor.usPerRound.median)} (${fmtUs(floor.usPerRound.min)} to ${fmtUs(floor.usPerRound.max)})`,
        `**${fmtRatio(floor.ratio)}**`,
        `${fmtRatio(floor.ratioPerRound.median)} (${fmtRatio(floor.ratioPerRound.min)}–${fmtRatio(floor.ratioPerRound.max)})`,
        fmtRatio(floor.cpuRatio),
      ],
    ]
  })
  return [
    'Against the floor: the framework with one empty middleware of its cheapest form, sent exactly the same request bytes as the contender.',
    '',
    table(
      [
        'Contender',
        'Floor',
        'server CPU/request',
        "floor's",
        'above the floor',
        'above, per round: median (range)',
        '× floor req/s',
        '× floor per round: median (range)',
        '× floor (CPU)',
      ],
      rows,
    ),
    '',
    `"above the floor" is the contender's median server CPU per request minus its floor's; "× floor req/s" its median throughput divided by its floor's; "per round", the same difference and ratio taken within each round (contender and floor measured seconds apart, on the same process index). The noise gauge is ${fmtUs(gauge.cpuPerReq - rowNamed(result, NAMES.bare).cpuPerReq)} of server CPU per request and ${fmtRatio(gauge.ratio)} in throughput from the bare server: a target closer to its threshold than ${noise.us.toFixed(2)} µs or ${fmtPct(noise.ratio)} is within the noise.`,
    '',
  ]
}

/**
 * @param {string} title
 * @param {import('./compare.js').Comparison} result
 * @param {string[]} notes
 */
function compareSection(title, result, notes) {
  const rows = result.rows.map((r, i) => [
    r.name,
    fmtInt(r.rps),
    i === 0 ? '1.00× (baseline)' : fmtRatio(r.ratio),
    i === 0 ? '' : `${r.pairedMedian.toFixed(2)} (${r.pairedMin.toFixed(2)}–${r.pairedMax.toFixed(2)})`,
    fmtMs(r.p50),
    fmtMs(r.p99),
    `${r.cpuPerReq.toFixed(1)} µs`,
    i === 0 ? '1.00×' : fmtRatio(r.cpuRatio),
    fmtPct(r.serverCpu),
    fmtPct(r.loaderCpu),
    fmtPct(r.otherCpu),
    `${r.kept}/${r.rounds.length}`,
    String(r.bad),
  ])
  return [
    `## ${title}`,
    '',
    table(
      [
        'Contender',
        'req/s (median)',
        '× bare',
        '× bare per round: median (range)',
        'p50',
        'p99',
        'server CPU/request',
        '× bare (CPU)',
        'CPU: server',
        'load-gen',
        'other',
        'rounds kept',
        'non-2xx/errors',
      ],
      rows,
    ),
    '',
    result.cleanOnly
      ? 'Rounds disturbed by other processes (more than a quarter of a core) are left out of the medians ("rounds kept").'
      : '**Too few undisturbed rounds: the medians include rounds during which other processes were busy; treat the ratios as noisy.**',
    '',
    ...floorSection(result),
    ...notes,
    `Control-plane calls during the measured rounds: ${result.controlPlaneCalls.key} key look-up(s), ${result.controlPlaneCalls.jwks} JWKS fetch(es).`,
    '',
  ]
}

/** A fill time: ms, whole past 10. */
const fmtFill = (/** @type {number} */ ms) => (ms < 10 ? fmtMs(ms) : `${fmtInt(ms)} ms`)

/**
 * Scenario 7: a cache hit and the memory per key with 1 to 100,000 cached keys; `cache.max` 1,000,000 up front.
 * @param {import('./scenarios.js').Scale} scale
 */
function scaleSection({ keys, upfront }) {
  const one = keys[0]
  const largest = keys.at(-1)
  const big = upfront.at(-1)
  const [runs, calls] = [one?.runs.length ?? 0, Math.min(...keys.map((k) => k.callsPerRun))]
  const lines = [
    '## 7. Scale: many cached keys, and a large cache.max',
    '',
    `Each measurement in a process of its own (bench/scale.js, \`node --expose-gc\`): \`createVerifier()\` from dist/ with a custom \`lookup\` answering at once with a \`keyRecord()\` (its own id and name per key), and ${one?.keyLength ?? 35}-character keys (\`pk-bench-\` and hex digits). \`cache.max\` is the default, or raised to hold every key (a tenth of it is kept for unknown keys).`,
    '',
    table(
      [
        'Cached keys',
        'cache.max',
        `check() per cache hit: median of ${runs} runs (range)`,
        '× 1 key',
        'heap retained per key',
        'RSS per key',
        'filled in',
      ],
      keys.map((k) => [
        fmtInt(k.keys),
        fmtInt(k.max),
        `${fmtNs(k.nsPerHit.median)} (${fmtNs(k.nsPerHit.min)}–${fmtNs(k.nsPerHit.max)})`,
        k === one ? '1.00×' : fmtRatio(k.nsPerHit.median / (one?.nsPerHit.median ?? NaN)),
        k.keys < 1_000 ? '–' : fmtBytes(k.heapPerKey),
        k.keys < 10_000 ? '–' : fmtBytes(k.rssPerKey),
        fmtFill(k.fillMs),
      ]),
    ),
    '',
    `Hits: each run calls \`verifier.check()\` ${fmtInt(calls)} times or more (twice the key set when that is larger), cycling through the keys in a shuffled order, every call a synchronous cache hit (checked with the verifier's stats); each call gets a request's headers of its own, made just before its batch of 256 and not timed, as Node's HTTP parser builds them (\`{}\` then one store per header), so that the time is the verifier's own, cache misses among its entries included. Memory: \`heapUsed\` (and RSS) after full collections, once the keys are filled minus before, divided by the keys; with fewer keys than shown that is below the noise of the heap (1 key) or of RSS (1,000 keys).`,
    '',
  ]
  if (big !== undefined) {
    lines.push(
      table(
        [
          'cache.max, no key stored',
          'createVerifier() time: first (again: median of 5)',
          'heap',
          'external (typed arrays)',
          'RSS',
        ],
        upfront.map((u) => [
          fmtInt(u.max),
          `${fmtMs(u.firstMs)} (${fmtMs(u.againMs.median)})`,
          fmtBytes(u.heap),
          fmtBytes(u.external),
          fmtBytes(u.rss),
        ]),
      ),
      '',
      'The cache reserves room for `max` entries when the verifier is made (lru-cache preallocates its index arrays), for its API keys and for its virtual keys alike.',
    )
    if (largest !== undefined && largest.keys >= 1_000) {
      const filled = big.max * largest.heapPerKey
      lines.push(
        `With all ${fmtInt(big.max)} keys stored, the heap would hold about ${fmtBytes(filled)} more: ${fmtInt(big.max)} × ${fmtBytes(largest.heapPerKey)} per key, **extrapolated** from the ${fmtInt(largest.keys)}-key measurement (not measured); ${fmtBytes(filled + big.heap + big.external)} with the reservation. Filling ${fmtInt(largest.keys)} keys took ${fmtFill(largest.fillMs)} here.`,
      )
    }
    lines.push('')
  }
  return lines
}

/**
 * Scenario 11 (issue 16): the cached API key with a limit it never reaches, against the same key without
 * limits, on Express and Koa; and three instances against a limit.
 * @param {Results} results
 * @returns {string[]}
 */
function limitsSection({ limitsExpress, limitsKoa, limitsFleet }) {
  const lines = []
  const note =
    "The floor of the limited contenders is the same contender sent a key without limits (not an empty middleware): \"above the floor\" is what enforcing a limit adds. The limited key is as long as the other and its record has `rate_limits: [{ type: 'requests', unit: 'rpw', value: 1e9 }]`, a limit the run never reaches; its answers carry `RateLimit-Policy` and `RateLimit` (the default). With Redis, the contender's server processes share one redis-server on loopback, and the key's counter, each leasing the allowance 256 requests at a time (one Redis round trip per 256 requests). Before it is measured, each limited contender is checked in a server of its own: 600 requests, all 200 with `RateLimit-Policy`, and with Redis 3 leases and no request counted alone."
  for (const [framework, comparison] of /** @type {const} */ ([
    ['Express 5', limitsExpress],
    ['Koa 3', limitsKoa],
  ])) {
    if (comparison) lines.push(...compareSection(`11. Rate limits, ${framework} (issue 16)`, comparison, [note, '']))
  }
  if (limitsFleet) {
    const { limit, requests, instances, withRedis, withoutRedis } = limitsFleet
    /** @type {(label: string, run: typeof withoutRedis) => string[]} */
    const fleetRow = (label, run) => [
      label,
      `${fmtInt(run.admitted)} (${run.perInstance.map(fmtInt).join(' + ')})`,
      fmtRatio(run.admitted / limit),
      statusText(run.statuses),
      fmtInt(run.leases),
      fmtMs(run.elapsedMs),
    ]
    lines.push(
      '## 11. Rate limits, three instances against a limit (issue 16)',
      '',
      `${instances} verifier instances, each a process of its own (bench/instance.js), get ${fmtInt(requests)} requests at once (${fmtInt(requests / instances)} each, \`verify()\` called for all at once) for one key limited to ${limit} requests a week (\`rpw\`), cold at every instance. Each instance alone counts its own; sharing one redis-server on loopback (bench/fleet-limits.js starts it), the instances lease the allowance in batches (an eighth of what is left, at most 256), each run with a new key. The fleet may admit fewer than the limit: what an instance leased and did not use is refused to the others.`,
      '',
      table(
        ['Fleet', 'Admitted (per instance)', '× the limit', 'Answers', 'Leases from Redis', 'Time'],
        [
          fleetRow('each instance alone (no Redis)', withoutRedis),
          ...(withRedis
            ? withRedis.map((run, i) => fleetRow(`sharing one Redis, run ${i + 1}`, run))
            : [['sharing one Redis', 'not measured: no redis-server on this machine', '', '', '', '']]),
        ],
      ),
      '',
    )
  }
  return lines
}

/**
 * The whole report, as Markdown.
 * @param {Results} results
 */
export function markdown(results) {
  const { machine, settings, waiting } = results
  const noiseGauges = FRAMEWORKS.flatMap(([key, framework]) => {
    const comparison = results[key]
    if (!comparison) return []
    const noise = noiseOf(comparison)
    return [
      `${framework} ${fmtRatio(rowNamed(comparison, NAMES.noise).ratio)} and ${noise.us.toFixed(2)} µs of server CPU per request`,
    ]
  })
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run.js) on ${results.date}; re-run it rather than edit this file.`,
    '',
    '## Machine and settings',
    '',
    `- Measured: portkey-auth at ${results.source} (built to dist/ by \`npm run bench\`)`,
    `- CPU: ${machine.cpu}, ${machine.cores} cores (os.cpus()); ${machine.memGb} GB RAM; ${machine.os}`,
    `- Node ${machine.node}; Express ${machine.versions.express}, Koa ${machine.versions.koa}, Fastify ${machine.versions.fastify}, Hono ${machine.versions.hono} on @hono/node-server ${machine.versions.honoNode}, express-oauth2-jwt-bearer ${machine.versions.auth0}, autocannon ${machine.versions.autocannon}, mitata ${machine.versions.mitata}`,
    `- Each contender is its own server process (bench/server.js); the load generator (autocannon, ${settings.connections} connections, no pipelining) runs in the orchestrator process; the control-plane stub (portkey-auth/testing) in a third. All on 127.0.0.1.`,
    `- Scenarios 1–2, 8–9 and 11: each contender runs in ${settings.processes} server processes (two processes of the same code can differ by 10–20%), each warmed up for ${settings.warmup} s; then ${settings.rounds} rounds × ${settings.duration} s, round r on process r mod ${settings.processes}, contenders alternating round-robin (order rotated each round). Figures are medians over rounds; "× bare" is the ratio of median throughputs, "per round" the median and range of the ratios within each round (contender and baseline measured seconds apart). The VM's speed drifts (host load invisible to it), which is what the many short, rotated rounds, the several processes and the noise gauge are for. Latencies are exact per-response times (not autocannon's whole-millisecond histogram). "server CPU/request" is the server process's CPU time (the run time of its threads, in ns, from /proc/<pid>/task/*/schedstat; user + system ticks from /proc/<pid>/stat where that is missing) divided by the requests it answered, and "× bare (CPU)" the baseline's divided by the contender's: a throughput-like ratio that other processes on the machine disturb less. CPU columns are in cores (100% = one core) during the rounds: the server process, the load generator, and everything else on the machine (other processes: noise).`,
    settings.waitQuiet
      ? `- Before each round the machine must be quiet (other processes below a quarter of a core), waited for up to 15 s a time and 60 s a run: waited ${Math.round((waiting?.ms ?? 0) / 1000)} s in all${waiting?.gaveUp ? `, and ${waiting.gaveUp} round(s) started on a busy machine` : ''}. The "other" CPU column shows what was left.`
      : '- Rounds start without waiting for a quiet machine (`BENCH_WAIT_QUIET=1` waits for one); the "other" CPU column shows what other processes took.',
    `- Request: \`GET /v1/ping\` → \`{"ok":true}\`. Bare servers get the API-key header too (and ignore it). Each portkeyAuth contender has a floor: the framework with one empty middleware of its cheapest form (Express \`(req, res, next) => next()\`, Koa \`(ctx, next) => next()\`, Fastify an \`onRequest\` hook \`(request, reply, done) => done()\`, Hono \`(c, next) => next()\`; none \`async\`), sent exactly the same request bytes (the API key, or the JWT, in \`x-portkey-api-key\`). express-oauth2-jwt-bearer gets the same RS256 token as \`Authorization: Bearer\`. Both JWT contenders fetch the same JWKS from the stub over loopback.`,
    '',
    '## Targets',
    '',
    table(
      ['Target', 'Measured', 'Result'],
      targets(results).map((t) => [
        t.target,
        t.measured,
        `${t.met ? 'met' : '**not met**'}${t.close ? ' (within the noise)' : ''}`,
      ]),
    ),
    '',
    [
      ...(noiseGauges.length > 0
        ? [
            `Against the floor, both the server CPU above it and the throughput ratio are verdicts (medians, same run); "CPU time" is the throughput comparison in server CPU per request. "Within the noise": closer to the threshold than the noise gauge (a second copy of the bare server) is from the bare server, in the target's unit (${noiseGauges.join('; ')}).`,
          ]
        : []),
      ...(results.scale
        ? [
            'Scenario 7: "within the noise" when closer to the threshold than the runs stray from their median (median absolute deviation of the 1-key runs and of the others, as shares of their medians, added).',
          ]
        : []),
    ].join(' '),
    '',
  ]
  if (results.express) {
    const ratio = rowNamed(results.express, NAMES.jwt).rps / rowNamed(results.express, NAMES.auth0).rps
    lines.push(
      ...compareSection('1. Express 5', results.express, [
        `portkeyAuth JWT vs express-oauth2-jwt-bearer: ${fmtRatio(ratio)} the throughput.`,
        '',
      ]),
    )
  }
  if (results.koa) lines.push(...compareSection('2. Koa 3', results.koa, []))
  if (results.cold) {
    const { oneKey, cached, manyKeys } = results.cold
    const n = fmtInt(settings.burstSize)
    /** @type {(label: string, run: typeof oneKey, expected: number) => unknown[]} */
    const burstRow = (label, run, expected) => [
      label,
      run.keyCalls,
      expected,
      statusText(run.statuses),
      fmtMs(run.elapsedMs),
      fmtMs(run.p50),
      fmtMs(run.p99),
    ]
    lines.push(
      '## 3. Cold burst',
      '',
      `A fresh Express server with \`portkeyAuth\` (JIT warmed with another key), control plane answering after ${settings.controlPlaneDelayMs} ms; each burst sends one request on each of ${n} connections, all at once. The connections are opened just before (one unmeasured request each, with a cached key), so that the times are the server's, not those of ${n} TCP handshakes.`,
      '',
      table(
        ['Burst', 'Control-plane calls', 'Expected', 'Answers', 'Time to last answer', 'p50', 'p99'],
        [
          burstRow(`${n} requests, 1 new key`, oneKey, 1),
          burstRow(`${n} requests over ${settings.burstKeys} new keys`, manyKeys, settings.burstKeys),
          burstRow(`reference: ${n} requests, that key now cached`, cached, 0),
        ],
      ),
      '',
    )
  }
  if (results.flood) {
    const f = results.flood
    lines.push(
      '## 4. Flood',
      '',
      `${fmtInt(f.randomCount)} requests with random (unknown) keys interleaved with ${fmtInt(f.knownCount)} known-key requests (10% of ${fmtInt(f.total)}), ${f.concurrency} connections, control plane answering after ${settings.controlPlaneDelayMs} ms. "Without the flood": the same ${fmtInt(f.knownCount)} known-key requests alone on ${f.quietConcurrency} connections (the legitimate share of the connections). Connections are opened before the clock starts, as in scenario 3; \`maxPendingLookups\` is at its default (256).`,
      '',
      table(
        ['Measure', 'Value'],
        [
          ['Control-plane calls (key look-ups)', fmtInt(f.random.keyCalls)],
          ['Peak concurrent calls at the stub', fmtInt(f.random.peakInFlight)],
          ['Misses shed at once (503, maxPendingLookups)', fmtInt(f.shed)],
          ['Breaker after the flood', f.breaker],
          ['Random-key answers', statusText(f.random.statuses)],
          ['Known-key answers', statusText(f.known.statuses)],
          ['Flood duration', fmtMs(f.random.elapsedMs)],
          ['Known-key p50 / p99 during the flood', `${fmtMs(f.known.p50)} / ${fmtMs(f.known.p99)}`],
          ['Known-key p50 / p99 without it', `${fmtMs(f.quiet.p50)} / ${fmtMs(f.quiet.p99)}`],
          ['Known-key p99, flood ÷ without', fmtRatio(f.known.p99 / f.quiet.p99)],
        ],
      ),
      '',
    )
  }
  if (results.micro) {
    lines.push(
      '## 5. Core micro-benchmark (mitata)',
      '',
      'In a process of its own; the verifier uses a function as its key service and every measured `verify()` is a cache hit (checked with its stats). Async benchmarks include awaiting the promise.',
      '',
      table(
        ['Operation', 'median (p50)', 'mean', 'p99'],
        results.micro.results.map((r) => [r.name, fmtNs(r.p50), fmtNs(r.avg), fmtNs(r.p99)]),
      ),
      '',
    )
  }
  if (results.fleet) {
    const { keys, instances, withRedis, withoutRedis } = results.fleet
    /** @type {(label: string, run: typeof withoutRedis) => string[]} */
    const fleetRow = (label, run) => [label, fmtInt(run.calls), statusText(run.statuses), fmtMs(run.elapsedMs)]
    lines.push(
      '## 6. Three instances, with and without Redis (issue 8)',
      '',
      `${instances} verifier instances, each a process of its own (bench/instance.js), are asked for the same ${keys} new keys at once (${keys} keys × ${instances} instances, 100 keys at a time), control plane answering after ${settings.controlPlaneDelayMs} ms. With Redis they share one redis-server on loopback (bench/fleet.js starts it).`,
      '',
      table(
        ['Fleet', 'Control-plane calls', 'Answers', 'Time'],
        [
          fleetRow('each instance alone (LRU only)', withoutRedis),
          withRedis
            ? fleetRow('sharing one Redis', withRedis)
            : ['sharing one Redis', 'not measured: no redis-server on this machine', '', ''],
        ],
      ),
      '',
    )
  }
  if (results.scale) lines.push(...scaleSection(results.scale))
  if (results.fastify)
    lines.push(
      ...compareSection('8. Fastify 5', results.fastify, [
        "Fastify's own request handler (its `serverFactory`) on a node:http server made like the others'; `await app.register(portkeyAuth, verifier)` from portkey-auth/fastify (an `onRequest` hook); the route answers `reply.send({ ok: true })`.",
        '',
      ]),
    )
  if (results.hono)
    lines.push(
      ...compareSection('9. Hono 4 on @hono/node-server', results.hono, [
        "`getRequestListener(app.fetch)` from @hono/node-server (what its `serve()` runs) on a node:http server made like the others'; `app.use(portkeyAuth(verifier))` from portkey-auth/hono; the route answers `c.json({ ok: true })`.",
        '',
      ]),
    )
  const telemetryNote =
    'The floor of the telemetry contender is the same contender with telemetry off (not an empty middleware): "above the floor" is what telemetry adds. Telemetry on: `telemetry: { meterProvider, tracerProvider }` with the SDK (@opentelemetry/sdk-metrics, sdk-trace-base), a periodic reader collecting every second into an exporter that drops what it gets.'
  if (results.telemetryExpress)
    lines.push(...compareSection('10. Telemetry on, Express 5 (issue 17)', results.telemetryExpress, [telemetryNote, '']))
  if (results.telemetryKoa)
    lines.push(...compareSection('10. Telemetry on, Koa 3 (issue 17)', results.telemetryKoa, [telemetryNote, '']))
  lines.push(...limitsSection(results))
  for (const [key, framework] of FRAMEWORKS) {
    const comparison = results[key]
    if (!comparison) continue
    lines.push(
      `<details><summary>${framework}: req/s of each round</summary>`,
      '',
      table(
        ['Contender', ...comparison.rows[0].rounds.map((_, r) => `round ${r + 1}`)],
        comparison.rows.map((r) => [
          r.name,
          ...r.rounds.map((x) => `${fmtInt(x.rps)} (p${x.process + 1})${x.clean ? '' : ' disturbed'}`),
        ]),
      ),
      '',
      '</details>',
      '',
    )
  }
  return lines.join('\n')
}
