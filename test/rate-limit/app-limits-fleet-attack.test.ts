import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { keyRecord } from '../../src/testing/index.js'
import type { AppRateLimit } from '../../src/options/verifier-options.js'
import { RequestQuota } from '../../src/rate-limit/quota.js'
import type { CheckStatus, KeyRecord } from '../../src/types.js'
import { until } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Attacks on issue 27 across a fleet: two verifiers in this process on one real redis-server, real clock, windows
// of an hour (so that no boundary falls inside a test).

let redis: TestRedis
let client: ReturnType<typeof createClient>
beforeAll(async () => {
  redis = await startTestRedis()
  client = await createClient({ url: redis.url })
    .on('error', () => {})
    .connect()
})
afterAll(async () => {
  await client?.close()
  await redis?.stop()
})

const KEYS: Record<string, Partial<KeyRecord>> = {
  'pk-fleet-a-0123456789abcdef': { id: 'key_a', workspace_id: 'ws_1' },
  'pk-fleet-b-0123456789abcdef': { id: 'key_b', workspace_id: 'ws_1' },
  'pk-fleet-c-0123456789abcdef': { id: 'key_c', workspace_id: 'ws_1' },
}
const NAMES = Object.keys(KEYS)

async function fleetOf(limits: AppRateLimit[], extra: Record<string, unknown> = {}, recordLimits: KeyRecord['rate_limits'] = []) {
  const prefix = `attack-${randomUUID()}:`
  const make = () =>
    createVerifier({
      lookup: async (key) => (KEYS[key] ? keyRecord({ rate_limits: recordLimits, ...KEYS[key] }) : null),
      logger: false,
      redis: { url: redis.url, prefix },
      rateLimits: { ...(extra.rateLimits as object), limits },
    })
  const verifiers = [make(), make()]
  await until(() => verifiers.every((v) => v.stats().redis?.listening === true), 5_000)
  return { verifiers, prefix, close: () => Promise.all(verifiers.map((v) => v.close())) }
}

async function one(verifier: Verifier, key: string) {
  const status: CheckStatus = { cache: 'none' }
  try {
    const auth = await verifier.verify({ 'x-portkey-api-key': key }, undefined, status)
    return { ok: true as const, auth, quota: status.quota ?? null, status }
  } catch {
    return { ok: false as const, status }
  }
}

describe('the app limits across a fleet', () => {
  test('per workspace: two instances, three keys, never more than the limit', async () => {
    const fleet = await fleetOf([{ name: 'ws', per: 'workspace', type: 'requests', unit: 'rph', value: 6 }])
    let admitted = 0
    for (let i = 0; i < 18; i++) if ((await one(fleet.verifiers[i % 2]!, NAMES[i % 3]!)).ok) admitted++
    await fleet.close()
    expect(admitted).toBe(6)
  })

  test('a concurrent burst (60 at once, two instances, three keys) never admits more than a workspace limit of 10', async () => {
    const fleet = await fleetOf([{ name: 'ws', per: 'workspace', type: 'requests', unit: 'rph', value: 10 }])
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => one(fleet.verifiers[i % 2]!, NAMES[i % 3]!)))
    await fleet.close()
    expect(results.filter((r) => r.ok).length).toBe(10)
  })

  test('refunds on one instance never let the fleet admit more than the limit (refunded requests aside)', async () => {
    const fleet = await fleetOf([{ name: 'c', type: 'requests', unit: 'rph', value: 5 }])
    const [a, b] = fleet.verifiers as [Verifier, Verifier]
    for (let i = 0; i < 30; i++) {
      const r = await one(a, NAMES[0]!)
      if (r.ok) RequestQuota.refund(r.quota, r.auth)
    }
    let kept = 0
    for (let i = 0; i < 20; i++) if ((await one(i % 2 ? a : b, NAMES[0]!)).ok) kept++
    await fleet.close()
    expect(kept).toBeLessThanOrEqual(5)
    expect(kept).toBeGreaterThanOrEqual(1)
  })

  test('shadow mode on a fleet: every request admitted, the over-limit ones named, nothing counted for them', async () => {
    const fleet = await fleetOf([{ name: 'c', type: 'requests', unit: 'rph', value: 3 }], { rateLimits: { mode: 'shadow' } })
    const over: string[][] = []
    for (let i = 0; i < 8; i++) {
      const r = await one(fleet.verifiers[i % 2]!, NAMES[0]!)
      expect(r.ok).toBe(true)
      over.push([...(r.quota?.overLimit ?? [])])
    }
    const shadowed = fleet.verifiers.reduce((n, v) => n + (v.stats().rateLimits?.shadowed ?? 0), 0)
    await fleet.close()
    expect(over.filter((names) => names.length === 0)).toHaveLength(3)
    expect(shadowed).toBe(5)
  })

  test('a limit shadowed on its own beside an enforced one, on a fleet: the enforced one admits exactly its value', async () => {
    const fleet = await fleetOf([
      { name: 'trial', type: 'requests', unit: 'rph', value: 1, mode: 'shadow' },
      { name: 'ws', per: 'workspace', type: 'requests', unit: 'rph', value: 6 },
    ])
    const admitted: string[][] = []
    for (let i = 0; i < 18; i++) {
      const r = await one(fleet.verifiers[i % 2]!, NAMES[i % 3]!)
      if (r.ok) admitted.push([...(r.quota?.overLimit ?? [])])
    }
    const shadowed = fleet.verifiers.reduce((n, v) => n + (v.stats().rateLimits?.shadowed ?? 0), 0)
    const counts: Record<string, string | null> = {}
    for await (const batch of client.scanIterator({ MATCH: `${fleet.prefix}*`, COUNT: 100 }))
      for (const key of batch) if (key.includes('{rl:')) counts[key.includes('"ws"') ? 'ws' : key] = await client.get(key)
    await fleet.close()
    // Each key once within `trial`, then over it: admitted, shadowed, and counted by `ws` until it is full.
    expect(admitted).toEqual([[], [], [], ['trial'], ['trial'], ['trial']])
    expect(shadowed).toBe(3)
    expect(counts.ws).toBe('6')
    expect(Object.values(counts).filter((count) => count === '1')).toHaveLength(3)
  })

  test("Redis keys: an app limit's counter is apart from the record's, per name, per caller and per workspace", async () => {
    const fleet = await fleetOf(
      [
        { name: 'c', type: 'requests', unit: 'rph', value: 100 },
        { name: 'w', per: 'workspace', type: 'requests', unit: 'rph', value: 100 },
      ],
      {},
      [{ type: 'requests', unit: 'rph', value: 100 }],
    )
    await one(fleet.verifiers[0]!, NAMES[0]!)
    await one(fleet.verifiers[0]!, NAMES[1]!)
    const keys: string[] = []
    for await (const batch of client.scanIterator({ MATCH: `${fleet.prefix}*`, COUNT: 100 })) keys.push(...batch)
    await fleet.close()
    const counters = keys.filter((key) => key.includes('{rl:')).sort()
    // key_a: rph + c; key_b: rph + c; the workspace: w (one, shared).
    expect(counters).toHaveLength(5)
    expect(counters.filter((key) => key.includes('"w"'))).toHaveLength(1)
  })
})
