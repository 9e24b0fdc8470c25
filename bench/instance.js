// @ts-check
// One verifier instance of the fleet scenario, in a process of its own, answering over IPC:
//   { op: 'ready' }               -> { ready }                        (Redis connected, or no Redis)
//   { keys: [raw key, ...] }      -> { statuses: { 200: n, ... } }    (verifies all at once)
//   { op: 'stats' }               -> { stats }                        (verifier.stats())
// With env REDIS_URL it shares that Redis (prefix REDIS_PREFIX); without, it has only its own LRU.
import { createVerifier } from 'portkey-auth'
import { answerParent } from './children.js'

const verifier = createVerifier({
  controlPlaneUrl: process.env.CONTROL_PLANE_URL,
  ...(process.env.REDIS_URL ? { redis: { url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX } } : {}),
})

answerParent(async (/** @type {{ op?: 'ready' | 'stats', keys: string[] }} */ { op, keys }) => {
  if (op === 'ready') return { ready: verifier.stats().redis?.listening ?? true }
  if (op === 'stats') return { stats: verifier.stats() }
  /** @type {Record<string, number>} */
  const statuses = {}
  const count = (/** @type {number} */ status) => (statuses[status] = (statuses[status] ?? 0) + 1)
  await Promise.all(
    keys.map((key) =>
      verifier.verify({ 'x-portkey-api-key': key }).then(
        () => count(200),
        (error) => count(error.status),
      ),
    ),
  )
  return { statuses }
})
