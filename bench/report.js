// @ts-check
// Turns the results of bench/run.js into Markdown: the console table and BENCHMARKS.md.
import { fmtInt, fmtMs, fmtNs, fmtPct, fmtRatio, table } from './stats.js'

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
 * @property {typeof import('./compare.js').waiting} [waiting]
 */
/** @typedef {import('./compare.js').Comparison['rows'][number]} Row */

/** The contenders' names in scenarios 1 and 2: the rows the targets read. */
export const NAMES = {
  bare: 'bare',
  /** A second copy of the bare server, measured like a contender: its distance from 1.00× is the noise. */
  noise: 'bare, second copy (noise gauge)',
  key: 'portkeyAuth, API key (warm)',
  jwt: 'portkeyAuth, RS256 JWT (warm)',
  auth0: 'express-oauth2-jwt-bearer, RS256 JWT',
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

const withCpu = (/** @type {number} */ ratio, /** @type {number} */ cpuRatio) =>
  `${fmtRatio(ratio)} (CPU time: ${fmtRatio(cpuRatio)})`

/**
 * Each target of issue 7: what it asks, what was measured, met or not.
 * @param {Results} results
 */
export function targets(results) {
  /** @type {{ target: string, measured: string, met: boolean, close: boolean }[]} */
  const list = []
  let noise = 0
  // A verdict closer to its threshold than the noise gauge is to 1.00× is marked as within the noise.
  /** @type {(target: string, measured: string, met: boolean, value?: number, threshold?: number) => void} */
  const row = (target, measured, met, value, threshold = 0) => {
    list.push({ target, measured, met, close: value !== undefined && Math.abs(value - threshold) < noise * threshold })
  }
  const { express, koa, micro } = results
  if (express) {
    const [key, jwt, auth0] = [NAMES.key, NAMES.jwt, NAMES.auth0].map((name) => rowNamed(express, name))
    noise = Math.abs(1 - rowNamed(express, NAMES.noise).ratio)
    row('Express: API key warm ≥ 0.95× bare throughput', withCpu(key.ratio, key.cpuRatio), key.ratio >= 0.95, key.ratio, 0.95)
    row('Express: JWT warm ≥ 0.90× bare throughput', withCpu(jwt.ratio, jwt.cpuRatio), jwt.ratio >= 0.9, jwt.ratio, 0.9)
    const vsAuth0 = jwt.rps / auth0.rps
    row(
      'Express: JWT warm ≥ 1.8× express-oauth2-jwt-bearer',
      withCpu(vsAuth0, auth0.cpuPerReq / jwt.cpuPerReq),
      vsAuth0 >= 1.8,
      vsAuth0,
      1.8,
    )
  }
  if (koa) {
    const key = rowNamed(koa, NAMES.key)
    noise = Math.abs(1 - rowNamed(koa, NAMES.noise).ratio)
    row('Koa: API key warm ≥ 0.95× bare throughput', withCpu(key.ratio, key.cpuRatio), key.ratio >= 0.95, key.ratio, 0.95)
  }
  noise = 0
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
  return list
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
    ...notes,
    `Control-plane calls during the measured rounds: ${result.controlPlaneCalls.key} key look-up(s), ${result.controlPlaneCalls.jwks} JWKS fetch(es).`,
    '',
  ]
}

/**
 * The whole report, as Markdown.
 * @param {Results} results
 */
export function markdown(results) {
  const { machine, settings, waiting } = results
  const noiseGauges = /** @type {const} */ (['express', 'koa']).flatMap((key) => {
    const comparison = results[key]
    return comparison ? [`${key === 'express' ? 'Express' : 'Koa'} ${fmtRatio(rowNamed(comparison, NAMES.noise).ratio)}`] : []
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
    `- Node ${machine.node}; Express ${machine.versions.express}, Koa ${machine.versions.koa}, express-oauth2-jwt-bearer ${machine.versions.auth0}, autocannon ${machine.versions.autocannon}, mitata ${machine.versions.mitata}`,
    `- Each contender is its own server process (bench/server.js); the load generator (autocannon, ${settings.connections} connections, no pipelining) runs in the orchestrator process; the control-plane stub (portkey-auth/testing) in a third. All on 127.0.0.1.`,
    `- Scenarios 1–2: each contender runs in ${settings.processes} server processes (two processes of the same code can differ by 10–20%), each warmed up for ${settings.warmup} s; then ${settings.rounds} rounds × ${settings.duration} s, round r on process r mod ${settings.processes}, contenders alternating round-robin (order rotated each round). Figures are medians over rounds; "× bare" is the ratio of median throughputs, "per round" the median and range of the ratios within each round (contender and baseline measured seconds apart). The VM's speed drifts (host load invisible to it), which is what the many short, rotated rounds, the several processes and the noise gauge are for. Latencies are exact per-response times (not autocannon's whole-millisecond histogram). "server CPU/request" is the server process's CPU time (user + system, /proc) divided by the requests it answered, and "× bare (CPU)" the baseline's divided by the contender's: a throughput-like ratio that other processes on the machine disturb less. CPU columns are in cores (100% = one core) during the rounds: the server process, the load generator, and everything else on the machine (other processes: noise).`,
    settings.waitQuiet
      ? `- Before each round the machine must be quiet (other processes below a quarter of a core), waited for up to 15 s a time and 60 s a run: waited ${Math.round((waiting?.ms ?? 0) / 1000)} s in all${waiting?.gaveUp ? `, and ${waiting.gaveUp} round(s) started on a busy machine` : ''}. The "other" CPU column shows what was left.`
      : '- Rounds start without waiting for a quiet machine (`BENCH_WAIT_QUIET=1` waits for one); the "other" CPU column shows what other processes took.',
    `- Request: \`GET /v1/ping\` → \`{"ok":true}\`. Bare servers get the API-key header too (and ignore it); express-oauth2-jwt-bearer gets the same RS256 token as \`Authorization: Bearer\`, portkeyAuth in \`x-portkey-api-key\`. Both JWT contenders fetch the same JWKS from the stub over loopback.`,
    '',
    '## Targets (issue 7)',
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
    `Throughput ratios are the verdict; "CPU time" is the same comparison in server CPU per request. "Within the noise": closer to the threshold than the noise gauge (a second copy of the bare server, ${noiseGauges.join(', ')}) is from 1.00×.`,
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
  for (const key of /** @type {const} */ (['express', 'koa'])) {
    const comparison = results[key]
    if (!comparison) continue
    lines.push(
      `<details><summary>${key === 'express' ? 'Express' : 'Koa'}: req/s of each round</summary>`,
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
