// @ts-check
// Scenario 6, in a process of its own: three verifier instances (three processes, bench/instance.js) ask
// for the same 300 new keys at once, with and without a shared Redis; counts the control-plane calls.
// Prints one JSON line. Needs `redis-server` (Debian's package) on PATH; without it, measures without Redis only.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } from 'portkey-auth/testing'
import { killAllNow, start } from './children.js'

const KEYS = 300
const INSTANCES = 3
const BATCH = 100 // keys in flight per instance at once, below maxPendingLookups (256)

/** @type {import('node:child_process').ChildProcess | null} */
let redis = null
process.on('exit', () => {
  killAllNow()
  redis?.kill('SIGKILL')
})

async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return null
  }
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  server.close()
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  await sleep(300)
  return `redis://127.0.0.1:${port}`
}

/** @param {Record<string, string>} env */
async function instance(env) {
  const member = start('instance.js', [], { env })
  member.child.stdout?.resume() // nothing to read; never let a full pipe block it
  for (let i = 0; i < 50 && !(await member.ask({ op: 'ready' })).ready; i++) await sleep(100)
  return member
}

/**
 * @param {import('portkey-auth/testing').ControlPlaneStub} stub
 * @param {string | null} redisUrl
 * @param {string} label
 */
async function run(stub, redisUrl, label) {
  const keys = Array.from({ length: KEYS }, (_, i) => `pk-fleet-${label}-${i}`)
  for (const key of keys) stub.keys.set(key, keyRecord())
  const env = { CONTROL_PLANE_URL: stub.url, ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `bench-${label}:` } : {}) }
  const fleet = await Promise.all(Array.from({ length: INSTANCES }, () => instance(env)))
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
const redisUrl = await startRedis()
/** @type {Fleet} */
const result = {
  keys: KEYS,
  instances: INSTANCES,
  withoutRedis,
  withRedis: redisUrl === null ? null : await run(stub, redisUrl, 'shared'),
}
await stub.close()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
