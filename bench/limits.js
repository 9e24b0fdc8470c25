// @ts-check
// Scenario 11 (issue 16): what enforcing a key's rate limits costs on the cached API-key path, on Express
// and on Koa, alone and leasing the allowance from a shared Redis; then three instances and one Redis
// against a limit (bench/fleet-limits.js).
import { runScript, startServer } from './children.js'
import { admits, compare, PING } from './compare.js'
import { startRedis } from './redis.js'
import { NAMES } from './report.js'

/** A key the stub gives a requests limit no run reaches, as long as the known key (the same request bytes). */
export const LIMITED_KEY = 'pk-bench-limit-0123456789abcdef0123'
/** A billion requests a week: ~1,650 a second for a week, and each instance leases at most 256 at a time. */
export const UNREACHED = /** @type {const} */ ({ type: 'requests', unit: 'rpw', value: 1_000_000_000 })
/** What the limited contenders answer in `RateLimit-Policy`: the proof that the limit is enforced. */
const POLICY = `"rpw";q=${UNREACHED.value};w=${7 * 86_400}`

const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)

/**
 * The contenders of one framework: bare and the noise gauge; the known key (no limit), the floor of the
 * others here; the limited key; and the limited key leasing from Redis, when there is a redis-server.
 * @param {'express' | 'koa'} framework
 * @param {string} knownKey
 * @param {boolean} withRedis
 * @returns {import('./compare.js').Contender[]}
 */
function contenders(framework, knownKey, withRedis) {
  const key = { 'x-portkey-api-key': knownKey }
  const limited = { 'x-portkey-api-key': LIMITED_KEY }
  return [
    { name: NAMES.bare, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.noise, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.key, scenario: `${framework}-portkey-key`, headers: key, guarded: true },
    { name: NAMES.keyLimited, scenario: `${framework}-portkey-limited`, headers: limited, guarded: true, floor: NAMES.key },
    ...(withRedis
      ? [
          {
            name: NAMES.keyLimitedRedis,
            scenario: `${framework}-portkey-limited-redis`,
            headers: limited,
            guarded: true,
            floor: NAMES.key,
          },
        ]
      : []),
  ]
}

/**
 * Fails unless `scenario` enforces the limit (its answers carry `RateLimit-Policy`), refuses nothing, and,
 * with Redis, counts with the fleet: 600 requests take 3 leases of 256 and none is counted alone.
 * @param {string} scenario
 * @param {import('./children.js').ServerSettings} serverSettings
 */
async function checkLimited(scenario, serverSettings) {
  const server = await startServer(scenario, serverSettings)
  try {
    const headers = { 'x-portkey-api-key': LIMITED_KEY }
    await admits(server.url, { name: scenario, headers, guarded: true })
    for (let i = 1; i < 600; i++) {
      const response = await fetch(server.url + PING, { headers })
      await response.arrayBuffer()
      const policy = response.headers.get('ratelimit-policy')
      if (response.status !== 200 || policy !== POLICY)
        throw new Error(`${scenario}: expected 200 with RateLimit-Policy ${POLICY}, got ${response.status} ${policy}`)
    }
    const { stats } = await server.ask({ type: 'stats' })
    const counted = stats.rateLimits
    const shared = scenario.endsWith('-redis')
    if (counted.tracked !== 1 || counted.refused !== 0 || (shared && (counted.leases !== 3 || counted.local !== 0)))
      throw new Error(`${scenario}: rate-limit stats ${JSON.stringify(counted)} after 600 requests`)
  } finally {
    await server.stop()
  }
}

/**
 * Scenario 11 on Express and Koa. The stub learns the limited key; a redis-server runs for the -redis
 * contenders (every server process with the same prefix, so that they share the key's counter, as a fleet
 * does), and is stopped after. Each limited contender is checked first (checkLimited).
 * @param {import('./scenarios.js').Context} ctx
 */
export async function limits(ctx) {
  await ctx.stub.ask({ type: 'keys', keys: [LIMITED_KEY], rateLimits: [UNREACHED] })
  const redis = await startRedis()
  if (redis === null) log('  no redis-server on PATH: the Redis contenders are not measured')
  const serverSettings = { ...ctx.serverSettings, ...(redis ? { redisUrl: redis.url, redisPrefix: 'bench-limits:' } : {}) }
  /** @type {(framework: 'express' | 'koa') => Promise<import('./compare.js').Comparison>} */
  const measure = async (framework) => {
    await checkLimited(`${framework}-portkey-limited`, serverSettings)
    if (redis) await checkLimited(`${framework}-portkey-limited-redis`, serverSettings)
    return compare(contenders(framework, ctx.knownKey, redis !== null), { ...ctx, serverSettings })
  }
  try {
    log('  Express 5')
    const express = await measure('express')
    log('  Koa 3')
    const koa = await measure('koa')
    return { express, koa }
  } finally {
    await redis?.stop()
  }
}

/**
 * Scenario 11's fleet figure: three instances, one Redis, twice a limit's requests at once.
 * @returns {Promise<import('./fleet-limits.js').FleetLimits>}
 */
export function fleetLimits() {
  log('  three instances against a limit (bench/fleet-limits.js)')
  return runScript('fleet-limits.js')
}
