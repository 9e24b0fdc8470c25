import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { keyRecord } from '../../src/testing/index.js'
import type { AppRateLimit } from '../../src/options/verifier-options.js'
import { RequestQuota } from '../../src/rate-limit/quota.js'
import type { CheckStatus } from '../../src/types.js'
import { until } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Attack 3: the lease-round exhaustion path, forced: TIMINGS.leaseRounds 0, so the first round is the last and any
// batch not in hand counts as over its own limit (limiter.ts #take, `last`).
vi.mock('../../src/options/defaults.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/options/defaults.js')>()
  return { ...original, TIMINGS: Object.freeze({ ...original.TIMINGS, leaseRounds: 0 }) }
})

let redis: TestRedis
beforeAll(async () => {
  redis = await startTestRedis()
})
afterAll(async () => {
  await redis?.stop()
})

const KEY = 'pk-exhaust-0123456789abcdef'

async function verifierOf(limits: AppRateLimit[], extra: Record<string, unknown> = {}) {
  const verifier = createVerifier({
    lookup: async (key) => (key === KEY ? keyRecord({ id: 'key_x' }) : null),
    logger: false,
    redis: { url: redis.url, prefix: `exhaust-${randomUUID()}:` },
    rateLimits: { ...(extra.rateLimits as object), limits },
  })
  await until(() => verifier.stats().redis?.listening === true, 5_000)
  return verifier
}

async function one(verifier: Verifier) {
  const status: CheckStatus = { cache: 'none' }
  try {
    const auth = await verifier.verify({ 'x-portkey-api-key': KEY }, undefined, status)
    return { ok: true as const, auth, quota: status.quota ?? null, status }
  } catch (error) {
    return { ok: false as const, status, error: error as { status: number } }
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100))

describe('out of rounds (leaseRounds 0)', () => {
  test('HELD: an enforced limit whose batch is not in hand refuses (429 naming it), even beside a shadowed one', async () => {
    const verifier = await verifierOf([
      { name: 'trial', type: 'requests', unit: 'rph', value: 1000, mode: 'shadow' },
      { name: 'hard', type: 'requests', unit: 'rph', value: 16 },
    ])
    const first = await one(verifier)
    expect(first.ok).toBe(false)
    expect(first.status.overLimit).toEqual(['trial', 'hard'])
    await settle()
    // Both batches came in the background (hard: 2, trial: 125). Two admitted, then hard's batch is out again.
    const next = [await one(verifier), await one(verifier), await one(verifier)]
    expect(next.map((r) => r.ok)).toEqual([true, true, false])
    expect(next[2]!.status.overLimit).toEqual(['hard'])
    expect(verifier.stats().rateLimits).toMatchObject({ refused: 2, shadowed: 0 })
    await verifier.close()
  })

  test('HELD (documented): a shadowed limit whose batch is not in hand is "over": admitted, named, not counted by it, counted by the enforced one', async () => {
    const verifier = await verifierOf([
      { name: 'trial', type: 'requests', unit: 'rph', value: 16, mode: 'shadow' },
      { name: 'hard', type: 'requests', unit: 'rph', value: 1000 },
    ])
    await one(verifier)
    await settle()
    const seen = [await one(verifier), await one(verifier), await one(verifier), await one(verifier)]
    expect(seen.every((r) => r.ok)).toBe(true)
    // trial's first batch (2) is spent by the first two; the third finds no batch in hand: over trial.
    const over = seen.map((r) => [...(r.quota?.overLimit ?? [])])
    expect(over.slice(0, 2)).toEqual([[], []])
    expect(over[2]).toEqual(['trial'])
    // Refunded: given back to hard alone.
    RequestQuota.refund(seen[2]!.quota, seen[2]!.auth)
    expect(verifier.stats().rateLimits!.shadowed).toBeGreaterThanOrEqual(1)
    await verifier.close()
  })
})
