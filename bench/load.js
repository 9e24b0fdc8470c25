// @ts-check
// Load and its cost: autocannon for steady throughput (measure), a node:http client where each request's own key and
// latency matter (burst), CPU time from /proc, and compare(): contenders in rotated rounds, against bare and their floor.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import autocannon from 'autocannon'
import { startServer } from './children.js'
import { log, median, PING, percentile, spread } from './lib.js'

/** @typedef {Record<string, string>} Headers */
/** @typedef {{ name: string, scenario: string, headers: Headers, guarded: boolean, floor?: string, naive?: string }} Contender */
// Whether the kernel keeps threads' run time in ns; other processes' CPU (cores) from which a round is disturbed.
const [SCHEDSTAT, BUSY] = [existsSync('/proc/self/schedstat'), 0.25]
/**
 * CPU time process `pid` has used, in ms (null without /proc): its threads' run time in ns from /proc/<pid>/task/<tid>/
 * schedstat, else /proc/<pid>/stat's 10 ms ticks (0.7 µs a request at Express's pace: too coarse for the floors).
 */
function cpuTimeMs(/** @type {number} */ pid) {
  try {
    if (!SCHEDSTAT) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return (Number(fields[11]) + Number(fields[12])) * 10
    }
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0])
      } catch {} // the thread ended since readdir
    }
    return ns / 1e6
  } catch {
    return null
  }
}
/** CPU time the whole machine has been busy (all but idle and iowait), in ms; null without /proc. */
function machineBusyMs() {
  try {
    // user nice system idle iowait irq softirq steal
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 9).map(Number)
    return ticks.reduce((sum, n, i) => (i === 3 || i === 4 ? sum : sum + n), 0) * 10
  } catch {
    return null
  }
}
/**
 * One autocannon run for `seconds`, with exact per-response latencies (autocannon's histogram rounds them to whole
 * ms), and the CPU used meanwhile (in cores) by the server, by this process and by everything else (noise).
 * @param {{ url: string, headers: Headers, seconds: number, connections: number, serverPid: number }} options
 */
export async function measure({ url, headers, seconds, connections, serverPid }) {
  /** @type {number[]} */
  const latencies = []
  const [server0, busy0, self0, t0] = [cpuTimeMs(serverPid), machineBusyMs(), process.cpuUsage(), performance.now()]
  const run = autocannon({ url, headers, connections, pipelining: 1, duration: seconds })
  run.on('response', (_client, _status, _bytes, ms) => latencies.push(ms))
  const result = await run
  const [server1, busy1, self, wallMs] = [cpuTimeMs(serverPid), machineBusyMs(), process.cpuUsage(self0), performance.now() - t0]
  const serverMs = server0 === null || server1 === null ? null : server1 - server0
  const serverCpu = serverMs === null ? null : serverMs / wallMs
  const loaderCpu = (self.user + self.system) / 1000 / wallMs
  latencies.sort((a, b) => a - b)
  const other = busy0 === null || busy1 === null || serverCpu === null ? null : (busy1 - busy0) / wallMs - serverCpu - loaderCpu
  return {
    rps: result.requests.total / result.duration,
    total: result.requests.total,
    bad: result.non2xx + result.errors + result.timeouts,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    /** Server CPU µs per answered request: what other processes on the machine change least. */
    cpuPerReq: serverMs === null ? null : (serverMs * 1000) / result.requests.total,
    serverCpu,
    loaderCpu,
    otherCpu: other === null ? null : Math.max(0, other),
  }
}
/** @typedef {Awaited<ReturnType<typeof measure>>} Measured */
/**
 * Sends `count` GET requests, at most `concurrency` at a time, request i with the headers `headersFor(i)`; with
 * `preconnect`, every connection is opened first (one unmeasured request each), so that what is timed is the server's
 * answer, not a storm of TCP handshakes. Resolves with the time to the last answer, the answers by status, p50, p99.
 * @param {{ url: string, count: number, concurrency: number, headersFor: (i: number) => Headers, preconnect?: Headers, agent?: Agent }} options
 */
export async function burst({ url, count, concurrency, headersFor, preconnect, agent: shared }) {
  const agent = shared ?? new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' })
  if (preconnect) await burst({ url, count: concurrency, concurrency, headersFor: () => preconnect, agent })
  const [statuses, latencies] = [/** @type {Record<string, number>} */ ({}), /** @type {number[]} */ ([])]
  const one = (/** @type {number} */ i) =>
    new Promise((resolve) => {
      const t0 = performance.now()
      const done = (/** @type {unknown} */ status) => {
        statuses[String(status)] = (statuses[String(status)] ?? 0) + 1
        resolve(latencies.push(performance.now() - t0))
      }
      const req = request(url, { agent, headers: headersFor(i), timeout: 30_000 }, (res) => {
        res.resume().once('end', () => done(res.statusCode))
        res.once('error', () => done('error'))
      })
      req.once('timeout', () => req.destroy(new Error('timeout'))).once('error', () => done('error'))
      req.end()
    })
  let [next, t0] = [0, performance.now()]
  /** @type {() => Promise<unknown>} */
  const worker = async () => next < count && one(next++).then(worker)
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  const elapsedMs = performance.now() - t0
  if (shared === undefined) agent.destroy()
  latencies.sort((a, b) => a - b)
  return { elapsedMs, statuses, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}
/** Fails unless `c` answers 200 {"ok":true} (and `RateLimit-Policy` when limited), and without headers 401 (or 200). */
export async function admits(/** @type {string} */ url, /** @type {Contender} */ c) {
  const ok = await fetch(url + PING, { headers: c.headers })
  const got = `${ok.status} ${await ok.text()} ${c.scenario.includes('-limited') && ok.headers.get('ratelimit-policy')}`
  if (!/^200 {"ok":true} (false|"rpw";q=1000000000;w=604800)$/.test(got)) throw new Error(`${c.name}: got ${got}`)
  const without = await fetch(url + PING)
  await without.arrayBuffer()
  if (without.status !== (c.guarded ? 401 : 200)) throw new Error(`${c.name}: without a credential, got ${without.status}`)
}
/** @typedef {Awaited<ReturnType<typeof compare>>} Comparison */
/** @typedef {Comparison['rows'][number]} Row */
const FIELDS = /** @type {const} */ (['rps', 'cpuPerReq', 'p50', 'p99', 'serverCpu', 'loaderCpu', 'otherCpu'])
/**
 * Contenders side by side under steady load, each in `processes` server processes started and warmed up first; then
 * `rounds` rounds, each contender once (round r on its process r mod processes), in an order rotated each round.
 * Rounds where other processes took more than a quarter of a core are left out if every contender keeps 3 or more.
 * Each row is given against the first contender (bare), against its floor and against the naive limit (when named).
 * @param {Contender[]} contenders
 * @param {import('./run.js').Settings} settings
 * @param {import('./children.js').ServerSettings} serverSettings
 * @param {import('./children.js').Child} stub the control plane, for its counts
 */
export async function compare(contenders, { processes, warmup, rounds, duration, connections }, serverSettings, stub) {
  /** @type {import('./children.js').Server[][]} */
  const servers = contenders.map(() => [])
  try {
    for (const [i, contender] of contenders.entries())
      for (let p = 0; p < processes; p++) {
        servers[i].push(await startServer(contender.scenario, serverSettings))
        await admits(servers[i][p].url, contender)
      }
    const run = (/** @type {number} */ i, /** @type {number} */ p, /** @type {number} */ seconds) =>
      measure({
        url: servers[i][p].url + PING,
        headers: contenders[i].headers,
        seconds,
        connections,
        serverPid: servers[i][p].pid,
      })
    for (const [i, contender] of contenders.entries()) {
      log(`  warm-up   ${contender.name} (${processes} processes × ${warmup} s)`)
      for (let p = 0; p < processes; p++) await run(i, p, warmup)
    }
    const before = await stub.ask({ type: 'counts' })
    /** @type {(Measured & { clean: boolean })[][]} */
    const measured = contenders.map(() => [])
    const pct = (/** @type {number | null} */ n) => `${Math.round((n ?? NaN) * 100)}%`.padStart(4)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const i = (k + r) % contenders.length
        const x = await run(i, r % processes, duration)
        measured[i].push({ ...x, clean: x.otherCpu === null || x.otherCpu < BUSY })
        const cpu = `${x.cpuPerReq?.toFixed(1)} µs CPU/req  CPU server ${pct(x.serverCpu)} load-gen ${pct(x.loaderCpu)} other ${pct(x.otherCpu)}`
        log(
          `  round ${r + 1}/${rounds} ${contenders[i].name.padEnd(52)} ${x.rps.toFixed(0).padStart(6)} req/s  p99 ${x.p99.toFixed(2)} ms  ${cpu}`,
        )
      }
    }
    const after = await stub.ask({ type: 'counts' })
    const cleanOnly = measured.every((own) => own.filter((x) => x.clean).length >= 3)
    const kept = measured.map((own) => own.filter((x) => x.clean || !cleanOnly))
    /** @type {Record<(typeof FIELDS)[number], number>[]} */
    const medians = kept.map(
      (own) => /** @type {any} */ (Object.fromEntries(FIELDS.map((f) => [f, median(own.map((x) => x[f]))]))),
    )
    /** Contender i against contender f: medians, and the same taken within each round where both were clean. */
    const against = (/** @type {number} */ i, /** @type {number} */ f) => {
      const paired = measured[i].flatMap((x, r) => (!cleanOnly || (x.clean && measured[f][r].clean) ? [[x, measured[f][r]]] : []))
      const us = paired.map(([x, y]) => (x.cpuPerReq ?? NaN) - (y.cpuPerReq ?? NaN)).filter((n) => !Number.isNaN(n))
      const [mine, theirs] = [medians[i], medians[f]]
      const [usPerRound, ratioPerRound] = [spread(us), spread(paired.map(([x, y]) => x.rps / y.rps))]
      const ratio = mine.rps / theirs.rps
      return {
        name: contenders[f].name,
        us: mine.cpuPerReq - theirs.cpuPerReq,
        usPerRound,
        ratio,
        ratioPerRound,
        cpuRatio: theirs.cpuPerReq / mine.cpuPerReq,
      }
    }
    const rows = contenders.map(({ name, floor, naive }, i) => {
      const [f, v] = [contenders.findIndex((c) => c.name === floor), contenders.findIndex((c) => c.name === naive)]
      const bad = measured[i].reduce((n, x) => n + x.bad, 0)
      return {
        name,
        ...medians[i],
        bare: against(i, 0),
        floor: f < 0 ? null : against(i, f),
        naive: v < 0 ? null : against(i, v),
        kept: kept[i].length,
        rounds,
        bad,
      }
    })
    return { calls: { key: after.keyCalls - before.keyCalls, jwks: after.jwksCalls - before.jwksCalls }, cleanOnly, rows }
  } finally {
    await Promise.all(servers.flat().map((server) => server.stop()))
  }
}
