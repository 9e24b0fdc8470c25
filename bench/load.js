// Load generation: autocannon for steady throughput, a plain node:http client for bursts and floods
// (where each request's own key and latency matter).
import { Agent, request } from 'node:http'
import autocannon from 'autocannon'
import { cpuTimeMs, machineBusyMs } from './children.js'
import { percentile } from './stats.js'

/**
 * One autocannon run against `url` for `seconds`. Latencies are taken from every response
 * (autocannon's own histogram rounds them to whole milliseconds), so p50/p99 are exact to the µs.
 * Also reports the CPU used during the run (in cores) by the server (`serverPid`), by this process, and by
 * everything else on the machine.
 */
export function measure({ url, headers, seconds, connections, serverPid }) {
  const latencies = []
  const serverCpu0 = cpuTimeMs(serverPid)
  const busy0 = machineBusyMs()
  const selfCpu0 = process.cpuUsage()
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, headers, connections, pipelining: 1, duration: seconds }, (error, result) => {
      if (error) return reject(error)
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6
      const serverCpu1 = cpuTimeMs(serverPid)
      const busy1 = machineBusyMs()
      const self = process.cpuUsage(selfCpu0)
      const serverCpu = serverCpu0 === null || serverCpu1 === null ? null : (serverCpu1 - serverCpu0) / wallMs
      const loaderCpu = (self.user + self.system) / 1000 / wallMs
      latencies.sort((a, b) => a - b)
      resolve({
        rps: result.requests.total / result.duration,
        total: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        serverCpu,
        // Server CPU time per answered request, µs: what other processes on the machine change least.
        serverUsPerReq: serverCpu === null ? null : (serverCpu1 - serverCpu0) * 1000 / result.requests.total,
        loaderCpu,
        // Whatever else kept the machine busy (other processes, the kernel's share of networking): noise.
        otherCpu: busy0 === null || busy1 === null || serverCpu === null ? null : Math.max(0, (busy1 - busy0) / wallMs - serverCpu - loaderCpu),
      })
    })
    instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime))
  })
}

/**
 * Sends `count` GET requests to `url`, at most `concurrency` at a time, each with the headers
 * `headersFor(i)` gives; `kindOf(i)` labels it for the latency split; with `preconnect` (headers), all
 * connections are opened before the clock starts. Resolves with the time from the
 * first request to the last answer, and status counts and sorted latencies (ms) by kind.
 */
export async function burst({ url, count, concurrency, headersFor, kindOf = () => 'all', preconnect = null, agent: shared, timeoutMs = 30_000 }) {
  const agent = shared ?? new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' })
  if (preconnect !== null) {
    // Open every connection first (one unmeasured request each), so that what is timed is the server's
    // answer, not a storm of TCP handshakes and accepts.
    await burst({ url, count: concurrency, concurrency, headersFor: () => preconnect, agent, timeoutMs })
  }
  const statuses = {}
  const latencies = {}
  let next = 0
  const one = (i) =>
    new Promise((resolve) => {
      const t0 = performance.now()
      const done = (status) => {
        const kind = kindOf(i)
        const counts = (statuses[kind] ??= {})
        counts[status] = (counts[status] ?? 0) + 1
        ;(latencies[kind] ??= []).push(performance.now() - t0)
        resolve()
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
