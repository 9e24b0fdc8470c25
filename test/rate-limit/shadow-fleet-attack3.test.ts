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

// Attack 3 on per-limit shadow mode across a fleet: two verifiers on one real redis-server, real clock, windows of
// an hour.

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
  const prefix = `attack3-${randomUUID()}:`
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
    return { ok: false as const, status, auth: undefined, quota: null }
  }
}

const sum = (verifiers: Verifier[], field: 'shadowed' | 'refused') =>
  verifiers.reduce((n, v) => n + (v.stats().rateLimits?.[field] ?? 0), 0)

describe('per-limit shadow on a fleet (attack 3)', () => {
  test('HELD: a burst of 60 (two instances, three keys) over a shadowed caller limit: the enforced workspace limit admits exactly 10', async () => {
    const fleet = await fleetOf([
      { name: 'trial', type: 'requests', unit: 'rph', value: 1, mode: 'shadow' },
      { name: 'ws', per: 'workspace', type: 'requests', unit: 'rph', value: 10 },
    ])
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => one(fleet.verifiers[i % 2]!, NAMES[i % 3]!)))
    const admitted = results.filter((r) => r.ok)
    const shadowed = sum(fleet.verifiers, 'shadowed')
    const refused = sum(fleet.verifiers, 'refused')
    await fleet.close()
    expect(admitted.length).toBe(10)
    expect(refused).toBe(50)
    expect(shadowed).toBe(admitted.filter((r) => r.quota!.overLimit.length > 0).length)
    expect(shadowed).toBeGreaterThanOrEqual(0)
  })

  test('HELD: refunds of over-shadow requests on one instance never let the fleet admit more than the enforced limit', async () => {
    const fleet = await fleetOf([
      { name: 'trial', type: 'requests', unit: 'rph', value: 1, mode: 'shadow' },
      { name: 'c', type: 'requests', unit: 'rph', value: 5 },
    ])
    const [a, b] = fleet.verifiers as [Verifier, Verifier]
    let refundedOk = 0
    for (let i = 0; i < 30; i++) {
      const r = await one(a, NAMES[0]!)
      if (r.ok) {
        refundedOk++
        RequestQuota.refund(r.quota, r.auth)
      }
    }
    let kept = 0
    const kepts = await Promise.all(Array.from({ length: 20 }, (_, i) => one(i % 2 ? a : b, NAMES[0]!)))
    kept = kepts.filter((r) => r.ok).length
    const count = await client.get(
      (await (async () => {
        for await (const batch of client.scanIterator({ MATCH: `${fleet.prefix}*`, COUNT: 100 }))
          for (const key of batch) if (key.includes('"c"')) return key
        return ''
      })()) || 'none',
    )
    await fleet.close()
    expect(refundedOk).toBe(30)
    expect(kept).toBeLessThanOrEqual(5)
    expect(Number(count)).toBeLessThanOrEqual(5)
  })

  test('HELD: verifier-wide shadow, one app limit enforced: a burst is held to the enforced one, the record limit only named', async () => {
    const fleet = await fleetOf(
      [{ name: 'hard', per: 'workspace', type: 'requests', unit: 'rph', value: 7, mode: 'enforce' }],
      { rateLimits: { mode: 'shadow' } },
      [{ type: 'requests', unit: 'rph', value: 1 }],
    )
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => one(fleet.verifiers[i % 2]!, NAMES[i % 3]!)))
    const refused = sum(fleet.verifiers, 'refused')
    await fleet.close()
    const admitted = results.filter((r) => r.ok)
    expect(admitted.length).toBe(7)
    expect(refused).toBe(33)
    for (const r of results.filter((r) => !r.ok)) expect(r.status.overLimit).toContain('hard')
  })

  // FINDING (very low, latency in shadow mode): before 5b9fa4a a request over a limit in shadow mode was admitted at once
  // (#take: `refused === null && batches !== null` was the only wait). Now #take waits for every batch under way
  // whenever the limits it is over are all shadowed (`over.every(this.#shadows)`, limiter.ts:256), though with
  // rateLimits.mode 'shadow' nothing is enforced and the request will be counted by no limit whatever the batches say:
  // a cached request over a limit costs a Redis round trip when another limit's batch has just run out (bounded:
  // requests over a limit count nowhere, so that batch then lasts; once per limit per window and instance, more under
  // contention). The same for a batch of another shadowed limit beside a shadowed one over. Expected: wait only for
  // batches of enforced limits. Input: mode 'shadow', the record's rph 1, an app limit of 8 rph (first batch: 1);
  // 20 check()s of one cached key on one instance. Observed: the first over the record's limit returns a promise.
  // (With HEAD~2's src: none does.)
  // Fixed: #take waits only when an enforced limit's batch is under way (limiter.ts, `enforcedWaits`).
  test('shadow mode: a cached request over a limit never waits for a batch that cannot change its outcome', async () => {
    const fleet = await fleetOf([{ name: 'c', type: 'requests', unit: 'rph', value: 8 }], { rateLimits: { mode: 'shadow' } }, [
      { type: 'requests', unit: 'rph', value: 1 },
    ])
    const verifier = fleet.verifiers[0]!
    await one(verifier, NAMES[0]!)
    const waited: number[] = []
    for (let i = 0; i < 20; i++) {
      const status: CheckStatus = { cache: 'none' }
      const result = verifier.check({ 'x-portkey-api-key': NAMES[0]! }, undefined, status)
      if (result instanceof Promise) {
        waited.push(i)
        await result
      }
      expect(status.quota!.overLimit).toContain('rph')
    }
    await fleet.close()
    expect(waited).toEqual([])
  })
})
