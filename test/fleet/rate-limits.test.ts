import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, keyRecord, startControlPlaneStub } from '../../src/testing/index.js'
import type { Decision, RateLimit } from '../../src/types.js'
import { until, verifyWithQuota } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Issue 16 across a fleet: verifier instances sharing one real redis-server, or none. (Three instances, one in
// its own process, on one Redis and on a Redis Cluster: fleet.test.ts.) Limits are per week, so that no test
// straddles a window's edge.
const KEY = 'pk-fleet-limited-0123456789abcdef'

let redis: TestRedis
let stub: ControlPlaneStub
beforeAll(async () => {
  redis = await startTestRedis()
  stub = await startControlPlaneStub()
})
afterAll(async () => {
  await redis?.stop()
  await stub?.close()
})

type Verify = (credential: string) => Promise<number>
const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closing.splice(0)) await close()
  stub.keys.clear()
})

function limitKey(value: number, unit = 'rpw'): void {
  stub.keys.set(KEY, keyRecord({ id: `key_${randomUUID()}`, rate_limits: [{ type: 'requests', unit, value } as RateLimit] }))
}

function instance(options: { redis?: string; prefix?: string; onDecision?: (decision: Decision) => void }): Verifier {
  const verifier = createVerifier({
    controlPlaneUrl: stub.url,
    redis: options.redis && { url: options.redis, prefix: options.prefix },
    onDecision: options.onDecision,
    logger: false,
  })
  closing.push(() => verifier.close())
  return verifier
}

const statusOf =
  (verifier: Verifier): Verify =>
  (credential) =>
    verifier.verify({ 'x-portkey-api-key': credential }).then(
      () => 200,
      (error: { status: number }) => error.status,
    )

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length

describe('rate limits across a fleet (issue 16)', () => {
  test('without Redis, each instance admits its own 30', async () => {
    limitKey(30)
    const alone = [statusOf(instance({})), statusOf(instance({})), statusOf(instance({}))]
    const statuses = await Promise.all(Array.from({ length: 120 }, (_, i) => alone[i % 3]!(KEY)))
    expect(count(statuses, 200)).toBe(90)
  })

  test('a key far from its limit costs a Redis round trip per batch (at most 256 requests), not per request', async () => {
    limitKey(1_000_000)
    const verifier = instance({ redis: redis.url, prefix: `rl-${randomUUID()}:` })
    const verify = statusOf(verifier)
    await until(() => verifier.stats().redis?.connected === true)
    const statuses: number[] = []
    for (let i = 0; i < 600; i++) statuses.push(await verify(KEY))
    expect(count(statuses, 200)).toBe(600)
    expect(verifier.stats().rateLimits).toMatchObject({ leases: 3, local: 0, refused: 0 })
  })

  test('tokens: 40 concurrent requests each using 500 (issue 22, item 7): bounded by reservations, with no Redis round trip per request', async () => {
    stub.keys.set(KEY, keyRecord({ id: `key_${randomUUID()}`, rate_limits: [{ type: 'tokens', unit: 'rpw', value: 10_500 }] }))
    const verifier = instance({ redis: redis.url, prefix: `rl-${randomUUID()}:` })
    await until(() => verifier.stats().redis?.connected === true)
    const verify = () => verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })
    await (await verify()).quota!.reportTokens(500)
    const settled = await Promise.allSettled(Array.from({ length: 40 }, verify))
    const admitted = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
    await Promise.all(admitted.map(({ quota }) => quota!.reportTokens(500)))
    // 10,000 left at an estimate of 500: 20 admitted, the limit exactly (before: all 40, 20,500 tokens).
    expect(admitted).toHaveLength(20)
    expect(settled.filter((result) => result.status === 'rejected')).toHaveLength(20)
    // Tokens limits take no batches: admission is decided on this instance, reports go to Redis.
    expect(verifier.stats().rateLimits).toMatchObject({ leases: 0, local: 0, refused: 20 })
    await expect(verify()).rejects.toMatchObject({
      status: 429,
      headers: { ratelimit: expect.stringMatching(/^"tokens-rpw";r=0;/) },
    })
  })

  test('Redis killed mid-window: counted locally (no 500, nothing hangs); back → shared again, and what was admitted alone is owed', async () => {
    const own = await startTestRedis()
    closing.push(() => own.stop())
    limitKey(10)
    const prefix = `rl-${randomUUID()}:`
    const decisions: Decision[] = []
    const first = instance({ redis: own.url, prefix, onDecision: (decision) => decisions.push(decision) })
    await until(() => first.stats().redis?.connected === true)
    const verify = statusOf(first)
    for (let i = 0; i < 3; i++) expect(await verify(KEY)).toBe(200)
    expect(decisions.map((decision) => decision.counting)).toEqual(['fleet', 'fleet', 'fleet'])

    await own.stop()
    await until(() => first.stats().redis?.connected === false)
    const started = Date.now()
    const alone: number[] = []
    for (let i = 0; i < 10; i++) alone.push(await verify(KEY))
    expect(Date.now() - started).toBeLessThan(2_000)
    // This instance alone: the 10 of the week less the 3 it admitted, never unlimited, never a 500.
    expect(alone).toEqual([200, 200, 200, 200, 200, 200, 200, 429, 429, 429])
    expect(decisions.slice(3, 10).map((decision) => decision.counting)).toEqual(Array(7).fill('local'))
    expect(first.stats().rateLimits).toMatchObject({ local: 7 })

    // Redis comes back, empty (no persistence: the 3 it had counted are lost with it). Shared counting resumes,
    // and this instance's first batch pays the 7 it admitted alone: Redis then holds 8 of the 10.
    await own.start()
    await until(() => first.stats().redis?.connected === true, 5_000)
    expect(await verify(KEY)).toBe(200)
    expect(decisions.at(-1)?.counting).toBe('fleet')
    const second = instance({ redis: own.url, prefix })
    await until(() => second.stats().redis?.connected === true)
    const others: number[] = []
    for (let i = 0; i < 4; i++) others.push(await statusOf(second)(KEY))
    expect(others).toEqual([200, 200, 429, 429])
    expect(await verify(KEY)).toBe(429)
  })
})
