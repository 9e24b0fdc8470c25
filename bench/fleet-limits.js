// @ts-check
// Scenario 11's fleet figure (issue 16), in a process of its own: three verifier instances (three
// processes, bench/instance.js) get 600 requests at once, 200 each, for one key limited to 300 requests a
// week; how many the fleet admits, each instance alone (once) and sharing one Redis (RUNS times, a new key
// each time). Prints one JSON line. Needs `redis-server` (Debian's package) on PATH; without it, measures
// without Redis only.
import { keyRecord, startControlPlaneStub } from 'portkey-auth/testing'
import { killAllNow, startInstance } from './children.js'
import { startRedis } from './redis.js'

const LIMIT = 300
const REQUESTS = 2 * LIMIT
const INSTANCES = 3
const RUNS = 5

process.on('exit', killAllNow)

/**
 * @param {import('portkey-auth/testing').ControlPlaneStub} stub
 * @param {string | null} redisUrl
 * @param {string} label
 */
async function run(stub, redisUrl, label) {
  // A key of its own per run (its own key id, so its own counter), cold at every instance.
  const key = `pk-fleet-limits-${label}`
  stub.keys.set(key, keyRecord({ rate_limits: [{ type: 'requests', unit: 'rpw', value: LIMIT }] }))
  const env = { CONTROL_PLANE_URL: stub.url, ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `bench-${label}:` } : {}) }
  const fleet = await Promise.all(Array.from({ length: INSTANCES }, () => startInstance(env)))
  const started = performance.now()
  const replies = await Promise.all(fleet.map((member) => member.ask({ keys: Array(REQUESTS / INSTANCES).fill(key) }, 60_000)))
  const elapsedMs = performance.now() - started
  const stats = await Promise.all(fleet.map((member) => member.ask({ op: 'stats' })))
  await Promise.all(fleet.map((member) => member.stop()))
  /** @type {Record<string, number>} */
  const statuses = {}
  for (const reply of replies)
    for (const [status, n] of Object.entries(reply.statuses)) statuses[status] = (statuses[status] ?? 0) + Number(n)
  /** @type {import('portkey-auth').VerifierStats['rateLimits'][]} */
  const counters = stats.map((answer) => answer.stats.rateLimits)
  return {
    admitted: statuses[200] ?? 0,
    perInstance: replies.map((reply) => Number(reply.statuses[200] ?? 0)),
    statuses,
    leases: counters.reduce((n, c) => n + (c?.leases ?? 0), 0),
    local: counters.reduce((n, c) => n + (c?.local ?? 0), 0),
    elapsedMs,
  }
}

/** @typedef {Awaited<ReturnType<typeof run>>} Run */
/** @typedef {{ limit: number, requests: number, instances: number, withoutRedis: Run, withRedis: Run[] | null }} FleetLimits */

const stub = await startControlPlaneStub()
const withoutRedis = await run(stub, null, 'alone')
const redis = await startRedis()
/** @type {FleetLimits} */
const result = {
  limit: LIMIT,
  requests: REQUESTS,
  instances: INSTANCES,
  withoutRedis,
  withRedis: null,
}
if (redis !== null) {
  result.withRedis = []
  for (let i = 1; i <= RUNS; i++) result.withRedis.push(await run(stub, redis.url, `shared-${i}`))
}
await redis?.stop()
await stub.close()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
