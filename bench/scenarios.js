// @ts-check
// Scenarios 3 and 4: cold bursts and a flood of unknown keys. Each starts its own server child and stops
// it, whatever happens. And scenario 7, the scale: bench/scale.js in a child of its own for each size.
import { randomBytes } from 'node:crypto'
import { runScript, startServer } from './children.js'
import { admits, PING } from './compare.js'
import { burst, measure } from './load.js'
import { fmtInt, fmtNs, percentile } from './stats.js'

/**
 * What every scenario gets from bench/run.js.
 * @typedef {object} Context
 * @property {import('./run.js').Settings} settings
 * @property {import('./children.js').Stub} stub
 * @property {string} knownKey  an API key the stub knows
 * @property {import('./children.js').ServerSettings} serverSettings
 */
/** @typedef {Awaited<ReturnType<typeof startServer>>} Server */

const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)

/**
 * Runs `body` against a fresh API-key server whose JIT is warmed with the known key (so that only new keys
 * are cold), the control plane answering after `controlPlaneDelayMs`; stops the server whatever happens.
 * @template T
 * @param {Context} ctx
 * @param {(url: string, server: Server) => Promise<T>} body
 */
async function withColdServer({ settings, serverSettings, knownKey, stub }, body) {
  const server = await startServer('express-portkey-key', serverSettings)
  const headers = { 'x-portkey-api-key': knownKey }
  try {
    await admits(server.url, { name: 'express-portkey-key', headers, guarded: true })
    await measure({
      url: server.url + PING,
      headers,
      seconds: settings.warmup,
      connections: settings.connections,
      serverPid: server.pid,
    })
    await stub.ask({ type: 'delay', ms: settings.controlPlaneDelayMs })
    return await body(server.url + PING, server)
  } finally {
    await stub.ask({ type: 'delay', ms: 0 }).catch(() => {})
    await server.stop()
  }
}

/**
 * Timing and answers of one kind of request in a burst, and the stub's counters.
 * @param {import('./load.js').Burst} run
 * @param {{ keyCalls: number, peakInFlight: number } | null} counts
 */
function summary(run, counts, kind = 'all') {
  const latencies = run.latencies[kind] ?? []
  return {
    elapsedMs: run.elapsedMs,
    statuses: run.statuses[kind] ?? {},
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    keyCalls: counts?.keyCalls,
    peakInFlight: counts?.peakInFlight,
  }
}

/** @typedef {Awaited<ReturnType<typeof coldBurst>>} ColdBurst */

/**
 * Scenario 3: bursts of requests carrying keys the cache has never seen, with a 50 ms control plane.
 * @param {Context} ctx
 */
export function coldBurst(ctx) {
  const { stub, settings } = ctx
  const salt = randomBytes(6).toString('hex')
  const one = `pk-cold-one-${salt}`
  const many = Array.from({ length: settings.burstKeys }, (_, i) => `pk-cold-${i}-${salt}`)
  return withColdServer(ctx, async (url) => {
    /** @param {(i: number) => string} keyOf */
    const shot = async (keyOf) => {
      await stub.ask({ type: 'reset' })
      const headersFor = (/** @type {number} */ i) => ({ 'x-portkey-api-key': keyOf(i) })
      const run = await burst({
        url,
        count: settings.burstSize,
        concurrency: settings.burstSize,
        headersFor,
        preconnect: { 'x-portkey-api-key': ctx.knownKey },
      })
      return summary(run, await stub.ask({ type: 'counts' }))
    }
    await stub.ask({ type: 'keys', keys: [one, ...many] })
    log(`  ${settings.burstSize} concurrent requests, one new key`)
    const oneKey = await shot(() => one)
    log(`  ${settings.burstSize} concurrent requests, the same key now cached (reference)`)
    const cached = await shot(() => one)
    log(`  ${settings.burstSize} concurrent requests over ${settings.burstKeys} new keys`)
    const manyKeys = await shot((i) => many[i % many.length])
    return { oneKey, cached, manyKeys }
  })
}

/** @typedef {Awaited<ReturnType<typeof flood>>} Flood */

/**
 * Scenario 4: `floodKeys` requests with random (unknown) keys, interleaved with known-key requests
 * making up 10% of all; the known-key latency is compared with the same known-key traffic alone
 * (the same number of requests on a tenth of the connections: the legitimate users, without the attacker).
 * @param {Context} ctx
 */
export function flood(ctx) {
  const { stub, settings, knownKey } = ctx
  const total = Math.round(settings.floodKeys / 0.9)
  const isKnown = (/** @type {number} */ i) => i % 10 === 9
  const knownCount = Math.floor(total / 10)
  const salt = randomBytes(6).toString('hex')
  const random = Array.from({ length: total }, (_, i) => `pk-flood-${i}-${salt}-${randomBytes(6).toString('hex')}`)
  const known = { 'x-portkey-api-key': knownKey }
  const quietConcurrency = Math.max(1, Math.round(settings.floodConcurrency / 10))
  return withColdServer(ctx, async (url, server) => {
    log(`  known key alone: ${knownCount} requests on ${quietConcurrency} connections`)
    await stub.ask({ type: 'reset' })
    const quiet = summary(
      await burst({ url, count: knownCount, concurrency: quietConcurrency, headersFor: () => known, preconnect: known }),
      null,
    )
    log(`  flood: ${total - knownCount} random keys + ${knownCount} known (10%) on ${settings.floodConcurrency} connections`)
    await stub.ask({ type: 'reset' })
    /** @type {import('portkey-auth').VerifierStats} */
    const statsBefore = (await server.ask({ type: 'stats' })).stats
    const run = await burst({
      url,
      count: total,
      concurrency: settings.floodConcurrency,
      headersFor: (i) => (isKnown(i) ? known : { 'x-portkey-api-key': random[i] }),
      kindOf: (i) => (isKnown(i) ? 'known' : 'random'),
      preconnect: known,
    })
    const counts = await stub.ask({ type: 'counts' })
    /** @type {import('portkey-auth').VerifierStats} */
    const statsAfter = (await server.ask({ type: 'stats' })).stats
    return {
      total,
      knownCount,
      randomCount: total - knownCount,
      concurrency: settings.floodConcurrency,
      quietConcurrency,
      quiet,
      known: summary(run, counts, 'known'),
      random: summary(run, counts, 'random'),
      shed: statsAfter.guard.shed - statsBefore.guard.shed,
      lookups: statsAfter.lookups - statsBefore.lookups,
      breaker: statsAfter.guard.breaker,
    }
  })
}

/** Scenario 7's sizes: cached keys, and the `cache.max` whose cost up front is measured (the default first). */
export const SCALE = { keys: [1, 1_000, 100_000], upfront: [10_000, 1_000_000] }

/** @typedef {Awaited<ReturnType<typeof scale>>} Scale */

/**
 * Scenario 7: for each number of cached keys, and for each `cache.max` measured up front, bench/scale.js in
 * a process of its own (with --expose-gc), so that each heap holds only what is measured.
 */
export async function scale() {
  const execArgv = ['--expose-gc']
  /** @type {import('./scale.js').ScaleKeys[]} */
  const keys = []
  for (const n of SCALE.keys) {
    /** @type {import('./scale.js').ScaleKeys} */
    const result = await runScript('scale.js', ['keys', String(n)], { execArgv })
    log(
      `  ${fmtInt(n).padStart(7)} key(s): ${fmtNs(result.nsPerHit.median)} per hit (${fmtNs(result.nsPerHit.min)}–${fmtNs(result.nsPerHit.max)}), ${n < 1_000 ? '–' : fmtInt(result.heapPerKey)} B of heap per key, filled in ${fmtInt(result.fillMs)} ms`,
    )
    keys.push(result)
  }
  /** @type {import('./scale.js').ScaleUpfront[]} */
  const upfront = []
  for (const max of SCALE.upfront) {
    /** @type {import('./scale.js').ScaleUpfront} */
    const result = await runScript('scale.js', ['upfront', String(max)], { execArgv })
    log(
      `  createVerifier({ cache: { max: ${fmtInt(max)} } }): ${result.firstMs.toFixed(1)} ms, heap +${fmtInt(result.heap)} B, external +${fmtInt(result.external)} B, RSS +${fmtInt(result.rss)} B`,
    )
    upfront.push(result)
  }
  return { keys, upfront }
}
