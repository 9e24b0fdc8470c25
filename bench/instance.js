// One verifier instance of the fleet scenario, in a process of its own, answering `verify` over IPC:
//   { id, keys: [raw key, ...] } -> { id, statuses: { 200: n, ... } }   (verifies all at once)
// With env REDIS_URL it shares that Redis (prefix REDIS_PREFIX); without, it has only its own LRU.
import { createVerifier } from 'portkey-auth'

const verifier = createVerifier({
  controlPlaneUrl: process.env.CONTROL_PLANE_URL,
  ...(process.env.REDIS_URL ? { redis: { url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX } } : {}),
})

process.on('message', async ({ id, keys, op }) => {
  if (op === 'ready') return process.send({ id, ready: verifier.stats().redis?.listening ?? true })
  const statuses = {}
  await Promise.all(
    keys.map((key) =>
      verifier.verify({ 'x-portkey-api-key': key }).then(
        () => (statuses[200] = (statuses[200] ?? 0) + 1),
        (error) => (statuses[error.status] = (statuses[error.status] ?? 0) + 1),
      ),
    ),
  )
  process.send({ id, statuses })
})
process.on('disconnect', async () => {
  await verifier.close()
  process.exit(0)
})
process.send({ started: true })
