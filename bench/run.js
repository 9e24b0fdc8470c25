// @ts-check
// `npm run bench`: builds (via the npm script), measures and writes BENCHMARKS.md; bench/README.md says what and how,
// and the settings (BENCH_QUICK, BENCH_ONLY, ...). Not part of `npm test`.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JWKS_PATH } from 'portkey-auth/testing'
import { killAllNow, runScript, startRedis, startServer, stopAll } from './children.js'
import { AUDIENCE, benchToken, contenders, INSTRUCTIONS_FILE, ISSUER, KNOWN_KEY, LIMITED_KEY, log, PING } from './lib.js'
import { setting, sourceOf, UNREACHED } from './lib.js'
import { admits, burst, compare, measure } from './load.js'
import { markdown, targets } from './report.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const quick = process.env.BENCH_QUICK === '1'
const [warmup, duration] = [setting('BENCH_WARMUP', quick ? 0.5 : 1), setting('BENCH_DURATION', quick ? 1 : 1.5)]
const [rounds, processes] = [
  Math.round(setting('BENCH_ROUNDS', quick ? 3 : 10)),
  Math.round(setting('BENCH_PROCESSES', quick ? 1 : 3)),
]
const connections = Math.round(setting('BENCH_CONNECTIONS', 50))
// Cold start (scenario 12): fewer fresh processes per measurement than cold-import.js's own 15, to keep it short.
const coldRounds = Math.round(setting('BENCH_COLD_ROUNDS', quick ? 2 : 5))
const settings = { warmup, duration, rounds, processes, connections, coldRounds, burstSize: 1_000, burstKeys: 100, delayMs: 50 }
/** @typedef {typeof settings} Settings */
/** @typedef {import('./children.js').Child} Child */
/** @typedef {import('./children.js').ServerSettings} ServerSettings */
const only = new Set((process.env.BENCH_ONLY ?? '1,2,3,5,6,7,8,9,10,11,12').split(',').map((s) => s.trim()))
const out = new URL(process.env.BENCH_OUT ?? 'BENCHMARKS.md', new URL('..', import.meta.url))
/** The comparisons under steady load, in the report's order: the contenders (lib.js's KINDS), bare first. */
/** @type {(n: string, framework: string, title: string, ...kinds: string[]) => { n: string, framework: string, title: string, kinds: string[] }} */
const c = (n, framework, title, ...kinds) => ({ n, framework, title, kinds })
const COMPARISONS = [
  c('1', 'express', 'Express 5', 'bare', 'noise', 'floorKey', 'floorJwt', 'naive', 'key', 'jwt', 'auth0'),
  c('2', 'koa', 'Koa 3', 'bare', 'noise', 'floorKey', 'floorJwt', 'naive', 'key', 'jwt'),
  c('8', 'fastify', 'Fastify 5', 'bare', 'noise', 'floorKey', 'naive', 'key'),
  c('9', 'hono', 'Hono 4 on @hono/node-server', 'bare', 'noise', 'floorKey', 'naive', 'key'),
  c('10', 'express', 'Telemetry on, Express 5 (issue 17)', 'bare', 'noise', 'key', 'keyTelemetry'),
  c('10', 'koa', 'Telemetry on, Koa 3 (issue 17)', 'bare', 'noise', 'key', 'keyTelemetry'),
  c('11', 'express', 'Rate limits, Express 5 (issue 16)', 'bare', 'noise', 'key', 'keyLimited', 'keyLimitedRedis'),
  c('11', 'koa', 'Rate limits, Koa 3 (issue 16)', 'bare', 'noise', 'key', 'keyLimited', 'keyLimitedRedis'),
]
// No child outlives the run, and it cannot hang: the watchdog (50 contenders' worth, and 600 s) stops everything.
const budgetMs = (50 * (settings.processes * settings.warmup + settings.rounds * settings.duration) + 600) * 1000
setTimeout(() => fail(new Error(`bench: still running after ${Math.round(budgetMs / 1000)} s`)), budgetMs).unref()
process.on('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => fail(new Error(`bench: ${signal}`), 130))
async function fail(/** @type {unknown} */ error, code = 1) {
  log(error instanceof Error && error.stack ? error.stack : String(error))
  await stopAll()
  process.exit(code)
}
/** Scenario 3: bursts of new keys at a fresh Express server, warmed with the known key, the control plane slowed. */
async function coldBursts(/** @type {Child} */ stub, /** @type {ServerSettings} */ serverSettings) {
  const server = await startServer('express-portkey-key', serverSettings)
  const [url, known, count] = [server.url + PING, { 'x-portkey-api-key': KNOWN_KEY }, settings.burstSize]
  const salt = randomBytes(6).toString('hex')
  const [one, many] = [`pk-cold-one-${salt}`, Array.from({ length: settings.burstKeys }, (_, i) => `pk-cold-${i}-${salt}`)]
  const shot = async (/** @type {string} */ label, /** @type {(i: number) => string} */ keyOf) => {
    log(`  ${count} concurrent requests, ${label}`)
    await stub.ask({ type: 'reset' })
    const headersFor = (/** @type {number} */ i) => ({ 'x-portkey-api-key': keyOf(i) })
    const run = await burst({ url, count, concurrency: count, headersFor, preconnect: known })
    return { ...run, calls: /** @type {number} */ ((await stub.ask({ type: 'counts' })).keyCalls) }
  }
  try {
    await admits(server.url, { name: 'express-portkey-key', scenario: '', headers: known, guarded: true })
    await measure({ url, headers: known, seconds: settings.warmup, connections: settings.connections, serverPid: server.pid })
    await stub.ask({ type: 'delay', ms: settings.delayMs })
    await stub.ask({ type: 'keys', keys: [one, ...many] })
    const [oneKey, cached] = [await shot('one new key', () => one), await shot('the same key now cached (reference)', () => one)]
    return { oneKey, cached, manyKeys: await shot(`over ${settings.burstKeys} new keys`, (i) => many[i % many.length]) }
  } finally {
    await stub.ask({ type: 'delay', ms: 0 })
    await server.stop()
  }
}
/** Three verifier instances (bench/server.js fleet) verify `keys`, `batch` at a time at once, with Redis if `redisUrl`. */
/** @type {(stub: Child, fleetSettings: ServerSettings, keys: string[], batch?: number) => Promise<Run>} */
async function fleetRun(stub, fleetSettings, keys, batch = keys.length) {
  const scenario = fleetSettings.redisUrl ? 'fleet-redis' : 'fleet'
  const fleet = await Promise.all([1, 2, 3].map(() => startServer(scenario, fleetSettings)))
  try {
    await stub.ask({ type: 'reset' })
    const [started, verified] = [performance.now(), /** @type {number[][]} */ ([])]
    for (let i = 0; i < keys.length; i += batch) {
      const asked = fleet.map(async (member) => (await member.ask({ keys: keys.slice(i, i + batch) }, 60_000)).statuses)
      verified.push(...(await Promise.all(asked)))
    }
    const elapsedMs = performance.now() - started
    const calls = /** @type {number} */ ((await stub.ask({ type: 'counts' })).keyCalls)
    const stats = await Promise.all(fleet.map(async (member) => (await member.ask({ type: 'stats' })).stats))
    /** @type {Record<string, number>} */
    const statuses = {}
    for (const status of verified.flat()) statuses[status] = (statuses[status] ?? 0) + 1
    const perInstance = verified.map((statuses) => statuses.filter((status) => status === 200).length)
    const leases = stats.reduce((n, s) => n + (s.rateLimits?.leases ?? 0), 0)
    return { admitted: statuses[200] ?? 0, perInstance, calls, statuses, leases, elapsedMs }
  } finally {
    await Promise.all(fleet.map((member) => member.stop()))
  }
}
/** @typedef {{ calls: number, statuses: Record<string, number>, elapsedMs: number } & Partial<Record<'p50' | 'p99' | 'admitted' | 'leases', number>> & { perInstance?: number[] }} Run A burst's or a fleet's */
/**
 * Scenario 6 (issue 8): three instances asked for the same 300 new keys (100 at a time, below maxPendingLookups), the
 * control plane slowed, alone and sharing one Redis. Scenario 11's fleet (issue 16): three instances get 600 requests
 * at once for a key limited to 300 a week, alone and sharing one Redis (5 runs). Each run has its own keys and prefix.
 */
async function fleets(/** @type {Child} */ stub, /** @type {string} */ controlPlaneUrl) {
  const redis = await startRedis()
  if (redis === null) log('  no redis-server on PATH: the fleets sharing Redis are not measured')
  let made = 0
  const run = async (/** @type {boolean} */ shared, /** @type {number} */ n, limit = 0) => {
    const keys = Array.from({ length: n }, (_, i) => `pk-fleet-${++made}-${i}`)
    await stub.ask({ type: 'keys', keys, rateLimits: limit ? [{ type: 'requests', unit: 'rpw', value: limit }] : [] })
    const fleetSettings = { controlPlaneUrl, ...(shared && redis ? { redisUrl: redis.url, redisPrefix: `bench-${made}:` } : {}) }
    return limit ? fleetRun(stub, fleetSettings, Array(200).fill(keys[0])) : fleetRun(stub, fleetSettings, keys, 100)
  }
  /** @type {{ fleet?: { keys: number, alone: Run, shared: Run | null }, fleetLimits?: { limit: number, requests: number, alone: Run, shared: Run[] | null } }} */
  const result = {}
  try {
    if (only.has('6')) {
      log('\n6. Three instances, 300 new keys: alone, then sharing one Redis')
      await stub.ask({ type: 'delay', ms: settings.delayMs })
      result.fleet = { keys: 300, alone: await run(false, 300), shared: redis && (await run(true, 300)) }
      await stub.ask({ type: 'delay', ms: 0 })
    }
    if (only.has('11')) {
      log('\n11. Three instances, 600 requests at once for a key limited to 300: alone, then sharing one Redis (5 runs)')
      const [alone, shared] = [await run(false, 1, 300), redis && /** @type {Run[]} */ ([])]
      for (let i = 0; shared && i < 5; i++) shared.push(await run(true, 1, 300))
      result.fleetLimits = { limit: 300, requests: 600, alone, shared }
    }
    return result
  } finally {
    await redis?.stop()
  }
}
async function main() {
  if (!existsSync(`${ROOT}dist/index.js`)) throw new Error('bench: no dist/; run `npm run bench` (it builds first)')
  const [started, cpu] = [Date.now(), os.cpus()]
  const packages = ['express', 'koa', 'fastify', 'hono', '@hono/node-server', 'express-oauth2-jwt-bearer', 'autocannon', 'mitata']
  const version = (/** @type {string} */ n) => JSON.parse(readFileSync(`${ROOT}node_modules/${n}/package.json`, 'utf8')).version
  const machine = {
    ...{ cores: cpu.length, cpu: cpu[0]?.model.trim() ?? 'unknown', memGb: Math.round(os.totalmem() / 2 ** 30) },
    ...{ os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version },
    versions: Object.fromEntries(packages.map((name) => [name, version(name)])),
  }
  log(`bench: ${machine.cpu}, ${machine.cores} cores, Node ${process.version}; ${JSON.stringify(settings)}`)
  const { issuer, token } = await benchToken()
  const stub = await startServer('stub', { jwks: issuer.jwks })
  await stub.ask({ type: 'keys', keys: [KNOWN_KEY] })
  await stub.ask({ type: 'keys', keys: [LIMITED_KEY], rateLimits: [UNREACHED] })
  const serverSettings = { controlPlaneUrl: stub.url, jwksUrl: stub.url + JWKS_PATH, issuer: ISSUER, audience: AUDIENCE }
  /** @type {import('./report.js').Results} */
  const results = { date: new Date().toISOString(), source: sourceOf(ROOT), settings, machine, comparisons: [] }
  /** @type {Awaited<ReturnType<typeof startRedis>> | undefined} */
  let redis
  const comparisons = async (/** @type {string[]} */ numbers) => {
    for (const c of COMPARISONS.filter((c) => numbers.includes(c.n) && only.has(c.n))) {
      log(`\n${c.n}. ${c.title}`)
      // Scenario 11's Redis contenders share one redis-server and prefix, so the key's counter, as a fleet does.
      if (c.kinds.includes('keyLimitedRedis') && redis === undefined) redis = await startRedis()
      const here = { ...serverSettings, ...(redis ? { redisUrl: redis.url, redisPrefix: 'bench-limits:' } : {}) }
      const kinds = c.kinds.filter((kind) => redis || kind !== 'keyLimitedRedis')
      results.comparisons.push({ ...c, result: await compare(contenders(c.framework, kinds, token), settings, here, stub) })
    }
  }
  /** @type {<T>(n: string, title: string, run: () => Promise<T>) => Promise<T | undefined>} */
  const step = async (n, title, run) => (only.has(n) ? (log(`\n${n}. ${title}`), run()) : undefined)
  await comparisons(['1', '2'])
  results.cold = await step('3', 'Cold bursts', () => coldBursts(stub, serverSettings))
  results.micro = await step('5', 'Core micro-benchmark (mitata, about 10 s)', () => runScript('micro.js'))
  if (only.has('6') || only.has('11')) Object.assign(results, await fleets(stub, serverSettings.controlPlaneUrl))
  results.scale = await step('7', 'Scale: 1, 1,000 and 100,000 cached keys; cache.max 1,000,000', async () => {
    // bench/scale.js in a process of its own per measurement, so that each heap holds only what is measured.
    const scale = (/** @type {string} */ mode, /** @type {number} */ n) => runScript('scale.js', [mode, `${n}`], ['--expose-gc'])
    const keys = [await scale('keys', 1), await scale('keys', 1_000), await scale('keys', 100_000)]
    return { keys, upfront: [await scale('upfront', 10_000), await scale('upfront', 1_000_000)] }
  })
  await comparisons(['8', '9', '10', '11'])
  await redis?.stop()
  const cold = `${settings.coldRounds} fresh processes each (cold-import.js)`
  results.coldStart = await step('12', `Cold start: import, and to the first admitted request; ${cold}`, () =>
    runScript('cold-import.js', [`${settings.coldRounds}`]),
  )
  // Scenario 13: the instruction counts bench/instructions.js left, when they are of the code measured here.
  const counted = existsSync(join(ROOT, INSTRUCTIONS_FILE))
    ? JSON.parse(readFileSync(join(ROOT, INSTRUCTIONS_FILE), 'utf8'))
    : null
  if (counted?.source === results.source) results.instructions = counted
  else log(`bench: no instruction counts of ${results.source} (run node bench/instructions.js first for scenario 13)`)
  // The measurements as they are, for reading them again without measuring (markdown() of this file).
  mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true })
  writeFileSync(join(ROOT, '.bench-tmp/bench-results.json'), JSON.stringify(results))
  const report = markdown(results)
  writeFileSync(out, `${report}\n`)
  process.stdout.write(`\n${report}\n`)
  const missed = targets(results).filter((t) => !t[2]).length
  log(`\nbench: done in ${Math.round((Date.now() - started) / 1000)} s; wrote ${fileURLToPath(out)}; targets missed: ${missed}`)
}
main().then(() => stopAll().then(() => process.exit(0)), fail)
