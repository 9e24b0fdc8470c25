// Scenarios 3 to 5: cold bursts, a flood of unknown keys, and the core micro-benchmark. Each starts its
// own server children and stops them, whatever happens.
import { randomBytes } from 'node:crypto'
import { runScript, startServer } from './children.js'
import { admits, PING } from './compare.js'
import { burst, measure } from './load.js'
import { percentile } from './stats.js'

const log = (line) => process.stderr.write(`${line}\n`)

/** A fresh API-key server whose JIT is warmed with the known key, so that only new keys are cold. */
async function warmKeyServer({ settings, serverSettings, knownKey }) {
  const server = await startServer('express-portkey-key', serverSettings)
  const headers = { 'x-portkey-api-key': knownKey }
  try {
    await admits(server.url, { name: 'express-portkey-key', headers, guarded: true })
    await measure({ url: server.url + PING, headers, seconds: settings.warmup, connections: settings.connections, serverPid: server.pid })
    return server
  } catch (error) {
    await server.stop()
    throw error
  }
}

const summary = (run, counts, kind = 'all') => {
  const latencies = run.latencies[kind] ?? []
  return {
    elapsedMs: run.elapsedMs,
    statuses: run.statuses[kind] ?? {},
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
    keyCalls: counts?.keyCalls,
    peakInFlight: counts?.peakInFlight,
  }
}

/** Scenario 3: bursts of requests carrying keys the cache has never seen, with a 50 ms control plane. */
export async function coldBurst(ctx) {
  const { stub, settings } = ctx
  const server = await warmKeyServer(ctx)
  const url = server.url + PING
  const salt = randomBytes(6).toString('hex')
  const known = { 'x-portkey-api-key': ctx.knownKey }
  const shot = async (count, keyOf) => {
    await stub.ask({ type: 'reset' })
    const run = await burst({ url, count, concurrency: count, headersFor: (i) => ({ 'x-portkey-api-key': keyOf(i) }), preconnect: known })
    return summary(run, await stub.ask({ type: 'counts' }))
  }
  try {
    await stub.ask({ type: 'delay', ms: settings.controlPlaneDelayMs })
    const one = `pk-cold-one-${salt}`
    const many = Array.from({ length: settings.burstKeys }, (_, i) => `pk-cold-${i}-${salt}`)
    await stub.ask({ type: 'keys', keys: [one, ...many] })
    log(`  ${settings.burstSize} concurrent requests, one new key`)
    const oneKey = await shot(settings.burstSize, () => one)
    log(`  ${settings.burstSize} concurrent requests, the same key now cached (reference)`)
    const cached = await shot(settings.burstSize, () => one)
    log(`  ${settings.burstSize} concurrent requests over ${settings.burstKeys} new keys`)
    const manyKeys = await shot(settings.burstSize, (i) => many[i % many.length])
    return { oneKey, cached, manyKeys }
  } finally {
    await stub.ask({ type: 'delay', ms: 0 }).catch(() => {})
    await server.stop()
  }
}

/**
 * Scenario 4: `floodKeys` requests with random (unknown) keys, interleaved with known-key requests
 * making up 10% of all; the known-key latency is compared with the same known-key traffic alone
 * (the same number of requests on a tenth of the connections: the legitimate users, without the attacker).
 */
export async function flood(ctx) {
  const { stub, settings, knownKey } = ctx
  const server = await warmKeyServer(ctx)
  const url = server.url + PING
  const total = Math.round(settings.floodKeys / 0.9)
  const isKnown = (i) => i % 10 === 9
  const knownCount = Math.floor(total / 10)
  const salt = randomBytes(6).toString('hex')
  const random = Array.from({ length: total }, (_, i) => `pk-flood-${i}-${salt}-${randomBytes(6).toString('hex')}`)
  const knownHeaders = { 'x-portkey-api-key': knownKey }
  try {
    await stub.ask({ type: 'delay', ms: settings.controlPlaneDelayMs })
    const quietConcurrency = Math.max(1, Math.round(settings.floodConcurrency / 10))
    log(`  known key alone: ${knownCount} requests on ${quietConcurrency} connections`)
    await stub.ask({ type: 'reset' })
    const quiet = summary(await burst({ url, count: knownCount, concurrency: quietConcurrency, headersFor: () => knownHeaders, preconnect: knownHeaders }), null)
    log(`  flood: ${total - knownCount} random keys + ${knownCount} known (10%) on ${settings.floodConcurrency} connections`)
    await stub.ask({ type: 'reset' })
    const statsBefore = (await server.ask({ type: 'stats' })).stats
    const run = await burst({
      url,
      count: total,
      concurrency: settings.floodConcurrency,
      headersFor: (i) => (isKnown(i) ? knownHeaders : { 'x-portkey-api-key': random[i] }),
      kindOf: (i) => (isKnown(i) ? 'known' : 'random'),
      preconnect: knownHeaders,
    })
    const counts = await stub.ask({ type: 'counts' })
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
  } finally {
    await stub.ask({ type: 'delay', ms: 0 }).catch(() => {})
    await server.stop()
  }
}

/** Scenario 5: mitata in a process of its own. */
export function micro() {
  log('  mitata (about 10 s)')
  return runScript('micro.js')
}
