// @ts-check
// Scenarios 1–2, 8–9 and 11: contenders side by side under steady load, in alternating rounds.
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer } from './children.js'
import { machineBusyMs, measure } from './load.js'
import { median, spread } from './stats.js'

/** @typedef {import('./load.js').Headers} Headers */
/** @typedef {import('./load.js').Measured} Measured */
/**
 * @typedef {object} Contender
 * @property {string} name  the row's name in the report
 * @property {string} scenario  what bench/server.js runs
 * @property {Headers} headers  sent with every request
 * @property {boolean} guarded  whether a request without a credential is refused (401)
 * @property {string} [floor]  the name of the contender that is this one's floor: one empty middleware,
 *   sent the same headers; the report gives this one's server CPU per request above it and its throughput
 *   relative to it
 */

const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)
export const PING = '/v1/ping'

/** Other processes' CPU (cores) above which a round counts as disturbed. */
export const OTHER_CPU_LIMIT = 0.25

/** Time spent waiting for a quiet machine (only with BENCH_WAIT_QUIET=1 or --wait-quiet), for the report. */
export const waiting = { ms: 0, budgetMs: 60_000, gaveUp: 0 }

/**
 * Before a measured round, when asked to: if other processes keep the machine busy (more than a quarter of
 * a core while no bench load runs), waits for them, up to 15 s a time and 60 s a run.
 */
async function quiet() {
  const started = Date.now()
  for (let logged = false; ; logged = true) {
    const busy0 = machineBusyMs()
    const t0 = performance.now()
    await sleep(150)
    const busy1 = machineBusyMs()
    if (busy0 === null || busy1 === null) return
    const load = (busy1 - busy0) / (performance.now() - t0)
    if (load < OTHER_CPU_LIMIT) break
    if (Date.now() - started >= 15_000 || waiting.ms + (Date.now() - started) >= waiting.budgetMs) {
      waiting.gaveUp++
      break
    }
    if (!logged) log(`  (other processes keep ${load.toFixed(2)} cores busy: waiting for them)`)
    await sleep(750)
  }
  waiting.ms += Date.now() - started
}

/**
 * Fails unless `contender` answers 200 {ok:true} with its headers, and 401 without (200 when bare).
 * @param {string} url
 * @param {Pick<Contender, 'name' | 'headers' | 'guarded'>} contender
 */
export async function admits(url, contender) {
  const ok = await fetch(url + PING, { headers: contender.headers })
  const body = await ok.text()
  if (ok.status !== 200 || body !== '{"ok":true}')
    throw new Error(`${contender.name}: expected 200 {"ok":true}, got ${ok.status} ${body}`)
  const without = await fetch(url + PING)
  await without.arrayBuffer()
  const expected = contender.guarded ? 401 : 200
  if (without.status !== expected)
    throw new Error(`${contender.name}: without a credential expected ${expected}, got ${without.status}`)
}

/** @typedef {Awaited<ReturnType<typeof compare>>} Comparison */

/**
 * Scenarios 1–2, 8–9 and 11. Each contender runs in `settings.processes` server processes, all started up front:
 * two processes of the same code can differ by 10–20% (JIT and memory-layout luck, worst with Koa), so
 * one process per contender would measure that luck. Each process is warmed up; then come `rounds`
 * rounds in which every contender runs once (round r on its process r mod processes), the order rotating
 * from round to round so that machine drift hits all alike. The first contender is the baseline.
 * @param {Contender[]} contenders
 * @param {import('./scenarios.js').Context} ctx
 */
export async function compare(contenders, { settings, serverSettings, stub }) {
  /** @type {Awaited<ReturnType<typeof startServer>>[][]} */
  const servers = contenders.map(() => [])
  try {
    for (const [i, contender] of contenders.entries()) {
      for (let p = 0; p < settings.processes; p++) {
        const server = await startServer(contender.scenario, serverSettings)
        servers[i].push(server)
        await admits(server.url, contender)
      }
    }
    const run = (/** @type {number} */ i, /** @type {number} */ p, /** @type {number} */ seconds) =>
      measure({
        url: servers[i][p].url + PING,
        headers: contenders[i].headers,
        seconds,
        connections: settings.connections,
        serverPid: servers[i][p].pid,
      })
    for (const [i, contender] of contenders.entries()) {
      log(`  warm-up   ${contender.name} (${settings.processes} processes × ${settings.warmup} s)`)
      for (let p = 0; p < settings.processes; p++) await run(i, p, settings.warmup)
    }
    const before = await stub.ask({ type: 'counts' })
    /** @type {(Measured & { process: number })[][]} */
    const rounds = contenders.map(() => [])
    for (let r = 0; r < settings.rounds; r++) {
      const p = r % settings.processes
      for (let k = 0; k < contenders.length; k++) {
        const i = (k + r) % contenders.length
        if (settings.waitQuiet) await quiet()
        const result = { ...(await run(i, p, settings.duration)), process: p }
        rounds[i].push(result)
        const pct = (/** @type {number | null} */ x) => `${Math.round((x ?? NaN) * 100)}%`.padStart(4)
        log(
          `  round ${r + 1}/${settings.rounds} ${contenders[i].name.padEnd(44)} ${String(Math.round(result.rps)).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  ${result.serverUsPerReq?.toFixed(1)} µs CPU/req  CPU server ${pct(result.serverCpu)} load-gen ${pct(result.loaderCpu)} other ${pct(result.otherCpu)}`,
        )
      }
    }
    const after = await stub.ask({ type: 'counts' })
    // Rounds during which other processes took more than a quarter of a core are left out of the medians,
    // as long as every contender keeps at least 3 clean rounds; otherwise all rounds count.
    const isClean = (/** @type {Measured} */ x) => x.otherCpu === null || x.otherCpu < OTHER_CPU_LIMIT
    const cleanOnly = rounds.every((own) => own.filter(isClean).length >= 3)
    const kept = rounds.map((own) => (cleanOnly ? own.filter(isClean) : own))
    const baseRps = median(kept[0].map((x) => x.rps))
    const baseCpu = median(kept[0].map((x) => x.serverUsPerReq))
    /**
     * Contender `i` against its floor `f` (same request bytes, one empty middleware): server CPU µs per
     * request above it (median minus median) and the ratio of median throughputs; and the same two taken
     * within each round, over the rounds where both were clean (both ran on the same process index, seconds
     * apart), as a median and a range.
     * @param {number} i
     * @param {string} name
     */
    const againstFloor = (i, name) => {
      const f = contenders.findIndex((c) => c.name === name)
      if (f < 0 || f === i) throw new Error(`${contenders[i].name}: no floor "${name}"`)
      const cpu = median(kept[i].map((x) => x.serverUsPerReq))
      const floorCpu = median(kept[f].map((x) => x.serverUsPerReq))
      const rps = median(kept[i].map((x) => x.rps))
      const floorRps = median(kept[f].map((x) => x.rps))
      const paired = rounds[i].flatMap((x, r) =>
        !cleanOnly || (isClean(x) && isClean(rounds[f][r])) ? [{ x, y: rounds[f][r] }] : [],
      )
      return {
        name,
        cpuPerReq: floorCpu,
        rps: floorRps,
        us: cpu - floorCpu,
        usPerRound: spread(
          paired.flatMap(({ x, y }) =>
            x.serverUsPerReq === null || y.serverUsPerReq === null ? [] : [x.serverUsPerReq - y.serverUsPerReq],
          ),
        ),
        ratio: rps / floorRps,
        ratioPerRound: spread(paired.map(({ x, y }) => x.rps / y.rps)),
        cpuRatio: floorCpu / cpu,
      }
    }
    return {
      controlPlaneCalls: { key: after.keyCalls - before.keyCalls, jwks: after.jwksCalls - before.jwksCalls },
      cleanOnly,
      rows: contenders.map((contender, i) => {
        const own = kept[i]
        // Round-by-round ratios, over the rounds where both this contender and the baseline were clean.
        const paired = rounds[i].flatMap((x, r) =>
          !cleanOnly || (isClean(x) && isClean(rounds[0][r])) ? [x.rps / rounds[0][r].rps] : [],
        )
        const cpu = median(own.map((x) => x.serverUsPerReq))
        return {
          name: contender.name,
          rps: median(own.map((x) => x.rps)),
          ratio: median(own.map((x) => x.rps)) / baseRps,
          pairedMedian: median(paired),
          pairedMin: paired.length > 0 ? Math.min(...paired) : NaN,
          pairedMax: paired.length > 0 ? Math.max(...paired) : NaN,
          p50: median(own.map((x) => x.p50)),
          p99: median(own.map((x) => x.p99)),
          cpuPerReq: cpu,
          cpuRatio: baseCpu / cpu,
          serverCpu: median(own.map((x) => x.serverCpu)),
          loaderCpu: median(own.map((x) => x.loaderCpu)),
          otherCpu: median(own.map((x) => x.otherCpu)),
          kept: own.length,
          floor: contender.floor === undefined ? null : againstFloor(i, contender.floor),
          bad: rounds[i].reduce((n, x) => n + x.non2xx + x.errors, 0),
          rounds: rounds[i].map((x) => ({ rps: x.rps, clean: isClean(x), process: x.process })),
        }
      }),
    }
  } finally {
    await Promise.all(servers.flat().map((server) => server.stop()))
  }
}
