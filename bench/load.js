// @ts-check
// Load generation: autocannon for steady throughput, a plain node:http client for bursts and floods
// (where each request's own key and latency matter); and the CPU time of processes, from Linux /proc.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import autocannon from 'autocannon'
import { percentile } from './stats.js'

/** @typedef {Record<string, string>} Headers */

/** Whether the kernel keeps per-thread run time in nanoseconds (CONFIG_SCHED_INFO). */
const SCHEDSTAT = existsSync('/proc/self/schedstat')

/**
 * CPU time the process `pid` has used so far, in milliseconds (Linux /proc; null elsewhere): the sum of its
 * threads' run time from /proc/<pid>/task/<tid>/schedstat, in nanoseconds, where the kernel has it (a
 * server uses ~1.5 s of CPU in a round, and /proc/<pid>/stat counts it in 10 ms ticks: 0.7 µs a request at
 * Express's ~13,000 requests a round, as much as the targets measured against it); else utime + stime from
 * /proc/<pid>/stat. Threads that ended are left out of the sum: Node's threads live as long as the process.
 * @param {number} pid
 */
export function cpuTimeMs(pid) {
  try {
    if (SCHEDSTAT) {
      let ns = 0
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0])
        } catch {
          // the thread ended since readdir
        }
      }
      return ns / 1e6
    }
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the full line, in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return null
  }
}
/** CPU time the whole machine has been busy so far, all cores, in milliseconds (Linux /proc; null elsewhere). */
export function machineBusyMs() {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number)
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user, nice, system, , , irq, softirq, steal = 0] = ticks
    return ((user + nice + system + irq + softirq + steal) * 1000) / 100
  } catch {
    return null
  }
}

/**
 * One autocannon run against `url` for `seconds`. Latencies are taken from every response
 * (autocannon's own histogram rounds them to whole milliseconds), so p50/p99 are exact to the µs.
 * Also reports the CPU used during the run (in cores) by the server (`serverPid`), by this process, and by
 * everything else on the machine; CPU figures are null where /proc is missing.
 * @param {{ url: string, headers: Headers, seconds: number, connections: number, serverPid: number }} options
 */
export async function measure({ url, headers, seconds, connections, serverPid }) {
  /** @type {number[]} */
  const latencies = []
  const serverCpu0 = cpuTimeMs(serverPid)
  const busy0 = machineBusyMs()
  const selfCpu0 = process.cpuUsage()
  const started = performance.now()
  const run = autocannon({ url, headers, connections, pipelining: 1, duration: seconds })
  run.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime))
  const result = await run
  const wallMs = performance.now() - started
  const serverCpu1 = cpuTimeMs(serverPid)
  const busy1 = machineBusyMs()
  const self = process.cpuUsage(selfCpu0)
  const serverMs = serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0
  const serverCpu = serverMs === null ? null : serverMs / wallMs
  const loaderCpu = (self.user + self.system) / 1000 / wallMs
  latencies.sort((a, b) => a - b)
  return {
    rps: result.requests.total / result.duration,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    serverCpu,
    // Server CPU time per answered request, µs: what other processes on the machine change least.
    serverUsPerReq: serverMs === null ? null : (serverMs * 1000) / result.requests.total,
    loaderCpu,
    // Whatever else kept the machine busy (other processes, the kernel's share of networking): noise.
    otherCpu:
      busy0 === null || busy1 === null || serverCpu === null
        ? null
        : Math.max(0, (busy1 - busy0) / wallMs - serverCpu - loaderCpu),
  }
}
/** @typedef {Awaited<ReturnType<typeof measure>>} Measured */

/**
 * Sends `count` GET requests to `url`, at most `concurrency` at a time, each with the headers
 * `headersFor(i)` gives; `kindOf(i)` labels it for the latency split; with `preconnect` (headers), all
 * connections are opened before the clock starts. Resolves with the time from the first request to the last
 * answer, and the answers and latencies by kind.
 * @param {{ url: string, count: number, concurrency: number, headersFor: (i: number) => Headers, kindOf?: (i: number) => string,
 *   preconnect?: Headers | null, agent?: Agent, timeoutMs?: number }} options
 */
export async function burst({
  url,
  count,
  concurrency,
  headersFor,
  kindOf = () => 'all',
  preconnect = null,
  agent: shared,
  timeoutMs = 30_000,
}) {
  const agent = shared ?? new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' })
  if (preconnect !== null) {
    // Open every connection first (one unmeasured request each), so that what is timed is the server's
    // answer, not a storm of TCP handshakes and accepts.
    await burst({ url, count: concurrency, concurrency, headersFor: () => preconnect, agent, timeoutMs })
  }
  /** @type {Record<string, Record<string, number>>} answers by kind, then by status */
  const statuses = {}
  /** @type {Record<string, number[]>} ms by kind, ascending once done */
  const latencies = {}
  let next = 0
  /** @param {number} i */
  const one = (i) =>
    new Promise((resolve) => {
      const t0 = performance.now()
      /** @param {number | string | undefined} status */
      const done = (status) => {
        const kind = kindOf(i)
        const counts = (statuses[kind] ??= {})
        counts[String(status)] = (counts[String(status)] ?? 0) + 1
        ;(latencies[kind] ??= []).push(performance.now() - t0)
        resolve(undefined)
      }
      const req = request(url, { agent, headers: headersFor(i), timeout: timeoutMs }, (res) => {
        res.resume()
        res.once('end', () => done(res.statusCode))
        res.once('error', () => done('error'))
      })
      req.once('timeout', () => req.destroy(new Error('timeout')))
      req.once('error', () => done('error'))
      req.end()
    })
  const worker = async () => {
    while (next < count) await one(next++)
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  const elapsedMs = performance.now() - t0
  if (shared === undefined) agent.destroy()
  for (const list of Object.values(latencies)) list.sort((a, b) => a - b)
  return { elapsedMs, statuses, latencies }
}
/** @typedef {Awaited<ReturnType<typeof burst>>} Burst */
