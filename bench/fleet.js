// @ts-check
// Scenario 6, in a process of its own: three verifier instances (three processes, bench/instance.js) ask
// for the same 300 new keys at once, with and without a shared Redis; counts the control-plane calls.
// Prints one JSON line. Needs `redis-server` (Debian's package) on PATH; without it, measures without Redis only.
import { KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } from 'portkey-auth/testing'
import { killAllNow, startInstance } from './children.js'
import { startRedis } from './redis.js'

const KEYS = 300
const INSTANCES = 3
const BATCH = 100 // keys in flight per instance at once, below maxPendingLookups (256)

process.on('exit', killAllNow)

/**
 * @param {import('portkey-auth/testing').ControlPlaneStub} stub
 * @param {string | null} redisUrl
 * @param {string} label
 */
async function run(stub, redisUrl, label) {
  const keys = Array.from({ length: KEYS }, (_, i) => `pk-fleet-${label}-${i}`)
  for (const key of keys) stub.keys.set(key, keyRecord())
  const env = { CONTROL_PLANE_URL: stub.url, ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `bench-${label}:` } : {}) }
  const fleet = await Promise.all(Array.from({ length: INSTANCES }, () => startInstance(env)))
  stub.resetCounts()
  const started = performance.now()
  /** @type {Record<string, number>} */
  const statuses = {}
  for (let i = 0; i < KEYS; i += BATCH) {
    const replies = await Promise.all(fleet.map((member) => member.ask({ keys: keys.slice(i, i + BATCH) }, 60_000)))
    for (const reply of replies)
      for (const [status, n] of Object.entries(reply.statuses)) statuses[status] = (statuses[status] ?? 0) + Number(n)
  }
  const elapsedMs = performance.now() - started
  await Promise.all(fleet.map((member) => member.stop()))
  return { calls: stub.calls(KEY_DETAILS_PATH), statuses, elapsedMs }
}

/** @typedef {{ keys: number, instances: number, withoutRedis: Awaited<ReturnType<typeof run>>, withRedis: Awaited<ReturnType<typeof run>> | null }} Fleet */

const stub = await startControlPlaneStub({ delayMs: 50 })
const withoutRedis = await run(stub, null, 'alone')
const redis = await startRedis()
/** @type {Fleet} */
const result = {
  keys: KEYS,
  instances: INSTANCES,
  withoutRedis,
  withRedis: redis === null ? null : await run(stub, redis.url, 'shared'),
}
await redis?.stop()
await stub.close()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
