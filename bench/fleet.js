// Scenario 6, in a process of its own: three verifier instances (three processes) ask for the same 300
// new keys at once, with and without a shared Redis; counts the control-plane calls. Prints one JSON line.
// Needs `redis-server` (Debian's package) on PATH; without it, reports that and measures without Redis only.
import { execFileSync, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } from 'portkey-auth/testing'

const KEYS = 300
const INSTANCES = 3
const BATCH = 100 // keys in flight per instance at once, below maxPendingLookups (256)

const children = []
const stopAll = () => children.forEach((child) => child.kill('SIGKILL'))
process.on('exit', stopAll)

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  return port
}

function hasRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function startRedis() {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  children.push(child)
  await sleep(300)
  return `redis://127.0.0.1:${port}`
}

async function instance(env) {
  const child = fork(new URL('./instance.js', import.meta.url), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  await once(child, 'message')
  let next = 0
  const ask = (message) =>
    new Promise((resolve) => {
      const id = ++next
      const onMessage = (reply) => reply.id === id && (child.off('message', onMessage), resolve(reply))
      child.on('message', onMessage)
      child.send({ id, ...message })
    })
  for (let i = 0; i < 50 && !(await ask({ op: 'ready' })).ready; i++) await sleep(100)
  return { ask, stop: () => child.kill('SIGTERM') }
}

async function run(stub, redisUrl, label) {
  const keys = Array.from({ length: KEYS }, (_, i) => `pk-fleet-${label}-${i}`)
  for (const key of keys) stub.keys.set(key, keyRecord())
  const env = { CONTROL_PLANE_URL: stub.url, ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `bench-${label}:` } : {}) }
  const fleet = await Promise.all(Array.from({ length: INSTANCES }, () => instance(env)))
  stub.resetCounts()
  const started = performance.now()
  const statuses = {}
  for (let i = 0; i < KEYS; i += BATCH) {
    const replies = await Promise.all(fleet.map((member) => member.ask({ keys: keys.slice(i, i + BATCH) })))
    for (const reply of replies) for (const [status, n] of Object.entries(reply.statuses)) statuses[status] = (statuses[status] ?? 0) + n
  }
  const elapsedMs = performance.now() - started
  fleet.forEach((member) => member.stop())
  return { calls: stub.calls(KEY_DETAILS_PATH), statuses, elapsedMs }
}

const stub = await startControlPlaneStub({ delayMs: 50 })
const redis = hasRedis()
const result = {
  keys: KEYS,
  instances: INSTANCES,
  withoutRedis: await run(stub, null, 'alone'),
  withRedis: redis ? await run(stub, await startRedis(), 'shared') : null,
}
await stub.close()
stopAll()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
