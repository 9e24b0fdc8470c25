import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { fingerprint } from '../../src/credential/header.js'
import { RedisConnection } from '../../src/fleet/redis.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { createTestIssuer, keyRecord } from '../../src/testing/index.js'
import { cluster, type Deployment, standalone, useFleet } from '../support/fleet.js'
import { startTestCluster, type TestCluster } from '../support/redis-cluster.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Three verifier instances — two in this process, one in a child process — sharing one stub control
// plane and one Redis: a standalone redis-server (the one .ci/run starts, REDIS_URL, or one of their
// own), and a Redis Cluster of three masters, each with a replica. The outage test always starts its own
// standalone server, since it stops it.
const h = useFleet()
const { fleet, lookups } = h
let shared: { url: string; stop(): Promise<void> }
let servers: TestCluster

beforeAll(async () => {
  ;[shared, servers] = await Promise.all([
    process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: async () => {} } : startTestRedis(),
    startTestCluster(),
  ])
})

afterAll(async () => {
  await shared?.stop()
  await servers?.stop()
})

const DEPLOYMENTS: Array<[string, () => Deployment]> = [
  ['one Redis', () => standalone(shared.url)],
  // Six redis-servers on a 2-core machine busy with the rest of the suite: 250 ms per command is too
  // tight for 900 verifications at once (the failover tests keep the default and bound its latency).
  ['a Redis Cluster', () => cluster(servers, 1_000)],
]

describe.each(DEPLOYMENTS)('three instances sharing %s', (_name, deployment) => {
  test('a cold key requested on all three at once makes one control-plane call', async () => {
    h.stub.keys.set('pk-fleet-cold', keyRecord({ id: 'key_cold' }))
    const { a, b, c } = await fleet(deployment())
    const answers = await Promise.all([a, b, c, a, b, c].map((instance) => instance.verify('pk-fleet-cold')))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(lookups()).toBe(1)
  })

  test('rate limits (issue 16): 60 concurrent requests for a key limited to 30 a week → the fleet admits 30', async () => {
    h.stub.keys.set('pk-fleet-limited', keyRecord({ rate_limits: [{ type: 'requests', unit: 'rpw', value: 30 }] }))
    const { a, b, c, verifiers } = await fleet(deployment())
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => [a, b, c][i % 3]!.verify('pk-fleet-limited')))
    const admitted = answers.filter((answer) => answer.status === 200).length
    console.log(`[fleet] rate limit 30: ${admitted} of 60 admitted`)
    // Never more than the limit; fewer only by what an instance holds of its last batch unused, at most an
    // eighth of what was left when it took it (here 3) per instance.
    expect(admitted).toBeLessThanOrEqual(30)
    expect(admitted).toBeGreaterThanOrEqual(30 - 3 * 3)
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(60 - admitted)
    expect(verifiers.a.stats().rateLimits).toMatchObject({ local: 0 })
  })

  test("sliding windows (issue 27, point 2): the window before, counted in Redis, weighs on every instance's batches", async () => {
    const LIMIT = 30
    const HOUR = 3_600_000
    const keyId = `key_sliding_${randomUUID()}`
    h.stub.keys.set('pk-fleet-sliding', keyRecord({ id: keyId, rate_limits: [{ type: 'requests', unit: 'rph', value: LIMIT }] }))
    // Well inside an hour (the test takes a second or two), on Redis's clock (this machine's).
    while (Date.now() % HOUR > HOUR - 10_000) await new Promise((done) => setTimeout(done, 100))
    h.stub.keys.set('pk-fleet-sliding-probe', keyRecord({ rate_limits: [{ type: 'requests', unit: 'rph', value: LIMIT }] }))
    const { a, b, c, prefix } = await fleet(deployment(), undefined, 0, { window: 'sliding' })
    // The fleet's namespace (the prefix and a digest of its settings), from the counter of a probe key's request.
    expect((await a.verify('pk-fleet-sliding-probe')).status).toBe(200)
    const raw = await deployment().raw()
    const [probe] = (await raw.keys(`${prefix}*`)).filter((key) => key.includes('{rl:'))
    const namespace = probe!.slice(0, probe!.indexOf('{rl:'))
    // The previous hour spent: LIMIT requests counted there (as instances would have, in that window's key).
    const start = Date.now() - (Date.now() % HOUR)
    await raw.set(`${namespace}{rl:${JSON.stringify(['key', 'org_test', keyId, 'rph', start - HOUR])}}`, String(LIMIT), HOUR)
    await raw.close()
    const share = () => (start + HOUR - Date.now()) / HOUR
    // What is left once the hour before's weight is taken off, when the requests start and when they are done (it
    // only grows, as that weight fades).
    const leftBefore = LIMIT - Math.ceil(LIMIT * share())
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => [a, b, c][i % 3]!.verify('pk-fleet-sliding')))
    const leftAfter = LIMIT - Math.ceil(LIMIT * share())
    const admitted = answers.filter((answer) => answer.status === 200).length
    console.log(`[fleet] sliding: ${admitted} of 60 admitted, ${leftBefore} left of ${LIMIT} by the hour before`)
    // Fleet-wide, never more than is left; fewer only by what instances hold of their last batches unused.
    expect(admitted).toBeLessThanOrEqual(leftAfter)
    expect(admitted).toBeGreaterThanOrEqual(Math.max(0, leftBefore - 3 * 3))
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(60 - admitted)
  })

  test("a key's standing and its reset across the fleet (issue 27, point 6): every instance reads the fleet's count; a reset on A lets all three admit again", async () => {
    const LIMIT = 12
    const keyId = `key_reset_${randomUUID()}`
    h.stub.keys.set('pk-fleet-reset', keyRecord({ id: keyId, rate_limits: [{ type: 'requests', unit: 'rpw', value: LIMIT }] }))
    const { a, b, c, verifiers } = await fleet(deployment())
    const round = async () => {
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => [a, b, c][i % 3]!.verify('pk-fleet-reset')))
      return answers.map((answer) => answer.status)
    }
    const first = await round()
    const admitted = first.filter((status) => status === 200).length
    expect(admitted).toBeLessThanOrEqual(LIMIT)
    const holder = { organisationId: 'org_test', keyId }
    const standing = await a.standing(holder)
    // What Redis granted: at least what was admitted, at most the limit; the same read from each instance.
    expect(standing).toEqual([
      { name: 'rpw', type: 'requests', unit: 'rpw', used: expect.any(Number), resetSeconds: expect.any(Number) },
    ])
    expect(standing[0]!.used).toBeGreaterThanOrEqual(admitted)
    expect(standing[0]!.used).toBeLessThanOrEqual(LIMIT)
    expect(await b.standing(holder)).toEqual(standing)
    expect(await c.standing(holder)).toEqual(standing)
    // Another organisation's key of the same id is another holder: nothing counted.
    expect(await a.standing({ organisationId: 'org_other', keyId })).toEqual([])
    // Spent everywhere (C too: its last batch is used up), then reset from A.
    await vi.waitFor(async () => expect((await round()).filter((status) => status === 200)).toHaveLength(0))
    await verifiers.a.resetRateLimits(holder)
    expect(await c.standing(holder)).toEqual([])
    // C heard it (it forgot its spent window): each instance admits again, the fleet at most the limit in all.
    const answered = { a: 0, b: 0, c: 0 }
    await vi.waitFor(
      async () => {
        for (const [name, instance] of Object.entries({ a, b, c }))
          if ((await instance.verify('pk-fleet-reset')).status === 200) answered[name as 'a']++
        expect(Math.min(answered.a, answered.b, answered.c)).toBeGreaterThan(0)
      },
      { timeout: 5_000 },
    )
    const after = (await round()).filter((status) => status === 200).length
    expect(answered.a + answered.b + answered.c + after).toBeLessThanOrEqual(LIMIT)
    expect((await b.standing(holder))[0]!.used).toBeLessThanOrEqual(LIMIT)
  })

  test('300 new keys over three instances: one call per key', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `pk-fleet-many-${i}`)
    for (const key of keys) h.stub.keys.set(key, keyRecord())
    const { a, b, c, verifiers } = await fleet(deployment())
    // 100 keys at a time, each asked of all three at once: below maxPendingLookups (256) per instance.
    const answers = []
    for (let i = 0; i < keys.length; i += 100) {
      answers.push(
        ...(await Promise.all(keys.slice(i, i + 100).flatMap((key) => [a, b, c].map((instance) => instance.verify(key))))),
      )
    }
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
    expect(answers).toHaveLength(900)
    console.log(
      '[fleet] 300 keys:',
      JSON.stringify({ calls: lookups(), a: verifiers.a.stats().redis, b: verifiers.b.stats().redis }),
    )
    expect(lookups()).toBe(300)
  })

  test.each([
    ['by key', (verifier: Verifier) => verifier.invalidate('pk-fleet-revoked')],
    ['by key id', (verifier: Verifier) => verifier.invalidateKeyId('key_revoked')],
  ])('revocation %s on A reaches B and C by its message, before invalidate() resolves', async (_how, revoke) => {
    h.stub.keys.set('pk-fleet-revoked', keyRecord({ id: 'key_revoked' }))
    const { a, b, c, verifiers } = await fleet(deployment())
    for (const instance of [a, b, c]) expect((await instance.verify('pk-fleet-revoked')).status).toBe(200)
    expect(lookups()).toBe(1)

    h.stub.keys.delete('pk-fleet-revoked')
    const started = performance.now()
    // invalidate() resolves once every instance has it or has found its channel lost (two heartbeats and the
    // command timeout, over a second after the message): B and C, on a healthy link, must refuse before then,
    // while their cached entries would live another minute. How long it took is printed, not asserted: a
    // latency is the bench's to measure, not a test's.
    let settled = false
    const revoking = revoke(verifiers.a).finally(() => {
      settled = true
    })
    const rejectedAfter = await Promise.all(
      [b, c].map(async (instance) => {
        while (!settled) {
          const answer = await instance.verify('pk-fleet-revoked')
          if (answer.status === 401) return performance.now() - started
          // A cache hit answers within microtasks: yield, or the pub/sub message could never arrive.
          await new Promise((done) => setTimeout(done, 2))
        }
        return Infinity
      }),
    )
    console.log(
      `[fleet] revocation ${_how}: B rejected after ${rejectedAfter[0]!.toFixed(1)} ms, C after ${rejectedAfter[1]!.toFixed(1)} ms`,
    )
    expect(rejectedAfter.every(Number.isFinite), `B and C refused after ${rejectedAfter.join(', ')} ms`).toBe(true)
    await revoking
    expect((await a.verify('pk-fleet-revoked')).code).toBe('invalid_api_key')
  })

  test('a lock whose holder died expires, and another instance asks', async () => {
    h.stub.keys.set('pk-fleet-orphan', keyRecord({ id: 'key_orphan' }))
    // A probe key of this run only: a Redis kept between runs holds other runs' answers under the same prefix.
    const probe = `pk-fleet-probe-${randomUUID()}`
    h.stub.keys.set(probe, keyRecord({ id: 'key_probe' }))
    const { b, prefix } = await fleet(deployment())
    const raw = await deployment().raw()
    // The namespace under the prefix (a digest of the settings), learnt from the answer B wrote.
    await b.verify(probe)
    const written = await raw.keys(`${prefix}*{k:${fingerprint(probe)}}`)
    expect(written).toHaveLength(1)
    const namespace = written[0]!.slice(0, -`{k:${fingerprint(probe)}}`.length)
    // As if an instance took the lock and died before answering.
    await raw.set(`${namespace}{k:${fingerprint('pk-fleet-orphan')}}:lock`, 'dead-holder', 300)
    const started = performance.now()
    expect(await b.verify('pk-fleet-orphan')).toMatchObject({ status: 200, keyId: 'key_orphan' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    expect(lookups()).toBe(2)
    await raw.close()
  })

  test('any single-key command or one-key script reaches the node of its key (as fleet-wide counters send them)', async () => {
    const redis = new RedisConnection(deployment().settings, 1_000, { warn() {}, info() {} })
    await redis.ready
    await vi.waitFor(() => expect(redis.connected).toBe(true), { timeout: 5_000 })
    const raw = await deployment().raw()
    const moved = await raw.moved()
    const run = randomUUID()
    // 40 keys land on every master of a cluster.
    const keys = Array.from({ length: 40 }, (_, i) => `counter-test:${run}:${i}`)
    const script = "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return n"
    for (const key of keys) {
      expect(await redis.command(['INCR', key])).toBe(1)
      expect(await redis.command(['EVAL', script, '1', key, '10000'])).toBe(2)
      expect(await redis.command(['GET', key])).toBe('2')
      expect(await redis.command(['DEL', key])).toBe(1)
    }
    expect(await redis.command(['PING'])).toBe('PONG')
    expect(await redis.command(['PUBLISH', `counter-test:${run}`, 'x'])).toBe(0)
    expect(redis.counts.errors).toBe(0)
    // Each sent straight to its node: no node answered MOVED.
    expect(await raw.moved()).toBe(moved)
    await raw.close()
    await redis.close()
  })

  test('nothing in Redis holds a raw key or token', async () => {
    const issuer = await createTestIssuer()
    h.stub.jwks = issuer.jwks
    const token = await issuer.sign({ portkey_oid: 'org_f', portkey_workspace: 'ws_f' })
    const keys = ['pk-fleet-secret-1', 'pk-fleet-secret-2']
    for (const key of keys) h.stub.keys.set(key, keyRecord())
    const { a, b, c, prefix } = await fleet(deployment(), {
      jwksUrl: h.stub.jwksUrl,
      issuer: issuer.issuer,
      audience: issuer.audience,
    })
    for (const credential of [...keys, 'pk-fleet-unknown-3', token])
      for (const instance of [a, b, c]) await instance.verify(credential)
    // The token was admitted, so its verified claims went through Redis too.
    for (const instance of [a, b, c]) expect(await instance.verify(token)).toMatchObject({ status: 200 })

    // Every master of a cluster scanned.
    const raw = await deployment().raw()
    expect((await raw.keys(`${prefix}*`)).length).toBeGreaterThanOrEqual(4)
    const dump = await raw.dump(`${prefix}*`)
    await raw.close()
    const text = dump.join('\n')
    for (const secret of [...keys, 'pk-fleet-unknown-3', token, token.split('.')[2]!]) expect(text).not.toContain(secret)
    expect(text).toContain(fingerprint(keys[0]!))
  })
})

// Issue 27, point 5, on one Redis and on a Redis Cluster at once: both fleets wait for the same minute's end (a
// real one: the windows follow Redis's clock), so the suite waits for one, not two.
describe('one clock (issue 27, point 5)', () => {
  test("C's clock 5 s ahead, on one Redis and on a Redis Cluster: around a minute's end each fleet admits at most the limit per Redis window, and every instance reports that window's reset", async () => {
    // The test runs on Redis's machine: its clock is Redis's (TIME). C's process reads 5 s ahead of both.
    const SKEW_MS = 5_000
    const LIMIT = 30
    const at = (second: number) => Date.now() % 60_000 >= second * 1000
    const until = async (ready: () => boolean) => {
      while (!ready()) await new Promise((done) => setTimeout(done, 20))
    }
    h.stub.keys.set(
      'pk-fleet-clock-probe',
      keyRecord({ id: 'key_clock_probe', rate_limits: [{ type: 'requests', unit: 'rpm', value: 1e6 }] }),
    )
    h.stub.keys.set(
      'pk-fleet-clock',
      keyRecord({ id: 'key_clock', rate_limits: [{ type: 'requests', unit: 'rpm', value: LIMIT }] }),
    )
    // Made well inside a minute, so that C's first requests (before it has read Redis's clock) fall in the window
    // Redis is in, which the probe below then sees agree.
    await until(() => !at(40))
    const fleets = await Promise.all(DEPLOYMENTS.map(([, deployment]) => fleet(deployment(), undefined, SKEW_MS)))

    type Answers = { status: number; ratelimit?: string; on: string; sentAt: number; answeredAt: number }[]
    /** Sends `count` requests round a fleet's three at once; each answer with the real (Redis) times around it. */
    const burst = ({ a, b, c }: (typeof fleets)[number], credential: string, count: number): Promise<Answers> =>
      Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const sentAt = Date.now()
          const answer = await [a, b, c][i % 3]!.verify(credential)
          return { ...answer, on: 'abc'[i % 3]!, sentAt, answeredAt: Date.now() }
        }),
      )
    /** Each answer's `RateLimit` reset, against the seconds the window ending at `end` had left between its sending and its answer. */
    const resets = (answers: Answers, end: number) =>
      answers.map(({ on, ratelimit, sentAt, answeredAt }) => {
        const reset = Number(/;t=(\d+)/.exec(ratelimit ?? '')?.[1])
        const fits = reset >= Math.ceil((end - answeredAt) / 1000) && reset <= Math.ceil((end - sentAt) / 1000)
        return `${on}: t=${reset} ${fits ? 'fits' : `does not fit the window ending at ${new Date(end).toISOString()}`}`
      })
    const fitting = (answers: Answers) =>
      answers.map(({ on, ratelimit }) => `${on}: t=${/;t=(\d+)/.exec(ratelimit ?? '')?.[1]} fits`)

    // Until C has read Redis's clock, its reset is 5 s short: waited for (a second or so), by its answers. Not
    // asserted here: one that never fits fails the assertions below, which say how.
    await Promise.all(
      fleets.map((one) =>
        vi
          .waitFor(
            async () => {
              const probe = await burst(one, 'pk-fleet-clock-probe', 3)
              const end = Math.floor(probe[0]!.sentAt / 60_000) * 60_000 + 60_000
              expect(resets(probe, end)).toEqual(fitting(probe))
            },
            { timeout: 5_000, interval: 100 },
          )
          .catch(() => {}),
      ),
    )

    // 4 s before a minute's end: C's clock is in the next minute, Redis's and A's and B's in this one.
    if (at(56)) await until(() => !at(56))
    await until(() => at(56))
    const boundary = Math.floor(Date.now() / 60_000) * 60_000 + 60_000
    const before = await Promise.all(fleets.map((one) => burst(one, 'pk-fleet-clock', 2 * LIMIT)))
    const lastAnswer = Math.max(...before.flat().map(({ answeredAt }) => answeredAt))
    expect(lastAnswer, 'the first bursts ended before the minute did').toBeLessThan(boundary)
    await until(() => Date.now() >= boundary + 500)
    const after = await Promise.all(fleets.map((one) => burst(one, 'pk-fleet-clock', 2 * LIMIT)))

    const admitted = (answers: Answers) => answers.filter(({ status }) => status === 200)
    const by = (answers: Answers) =>
      Object.fromEntries(['a', 'b', 'c'].map((on) => [on, answers.filter((answer) => answer.on === on).length]))
    DEPLOYMENTS.forEach(([name], i) => {
      console.log(
        `[fleet] clock skew, ${name}: admitted ${JSON.stringify(by(admitted(before[i]!)))} before the minute's end, ${JSON.stringify(by(admitted(after[i]!)))} after`,
      )
      // Never more than the limit in a window of Redis's; fewer only by what an instance holds of its last batch
      // unused (at most an eighth of what was left, here 3, per instance). Before: C counted the next minute 4 s
      // early, from a fresh allowance of its own, and the fleet admitted about 50 before the minute's end.
      for (const answers of [before[i]!, after[i]!]) {
        expect(admitted(answers).length, name).toBeLessThanOrEqual(LIMIT)
        expect(admitted(answers).length, name).toBeGreaterThanOrEqual(LIMIT - 3 * 3)
        expect(answers.every(({ status, ratelimit }) => (status === 200 || status === 429) && ratelimit !== undefined)).toBe(true)
      }
      // Every instance, C included, reports the window Redis is in, admitted or refused.
      expect(resets(before[i]!, boundary)).toEqual(fitting(before[i]!))
      expect(resets(after[i]!, boundary + 60_000)).toEqual(fitting(after[i]!))
    })
  }, 120_000)
})

describe('Redis failing', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startTestRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  test('Redis stopped mid-run: every request keeps its right answer; Redis back: sharing resumes', async () => {
    h.stub.keys.set('pk-fleet-known', keyRecord({ id: 'key_known' }))
    h.stub.keys.set('pk-fleet-during', keyRecord({ id: 'key_during' }))
    h.stub.keys.set('pk-fleet-after', keyRecord({ id: 'key_after' }))
    const decisions: Array<boolean | null> = []
    const { a, b, c, verifiers } = await fleet(standalone(redis.url))
    const watchedVerifier = createVerifier({
      controlPlaneUrl: h.stub.url,
      redis: { url: redis.url },
      onDecision: (decision) => decisions.push(decision.redis),
    })
    const watched = h.local(watchedVerifier)
    for (const instance of [a, b, c]) expect((await instance.verify('pk-fleet-known')).status).toBe(200)
    expect(lookups()).toBe(1)

    await redis.stop()
    try {
      for (const verifier of [verifiers.a, verifiers.b]) {
        await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: false, listening: false }))
      }
      await vi.waitFor(async () => expect((await c.stats()).redis).toMatchObject({ listening: false }))
      // Revocations can no longer be heard: what each instance cached was dropped when it lost the channel, and
      // every key is asked of the control plane, each instance for itself.
      for (const instance of [a, b, c]) {
        expect(await instance.verify('pk-fleet-known')).toMatchObject({ status: 200, keyId: 'key_known' })
        expect(await instance.verify('pk-fleet-during')).toMatchObject({ status: 200, keyId: 'key_during' })
        expect(await instance.verify('pk-fleet-unknown')).toMatchObject({ status: 401, code: 'invalid_api_key' })
      }
      expect(lookups()).toBe(1 + 3 + 3 + 3)
      await watched.verify('pk-fleet-known')
      expect(decisions.at(-1)).toBe(false)
    } finally {
      await redis.start()
    }

    for (const verifier of [verifiers.a, verifiers.b, watchedVerifier]) {
      await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), {
        timeout: 10_000,
      })
      expect(verifier.stats().redis!.reconnects).toBeGreaterThanOrEqual(1)
      // Revocations may have been missed while away: everything cached locally was dropped.
      expect(verifier.stats()).toMatchObject({ entries: 0, pending: 0 })
    }
    // The child process too: until it is back, it would go to the control plane on its own.
    await vi.waitFor(async () => expect((await c.stats()).redis).toMatchObject({ connected: true, listening: true }), {
      timeout: 10_000,
    })
    const before = lookups()
    const answers = await Promise.all([a, b, c].map((instance) => instance.verify('pk-fleet-after')))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(lookups()).toBe(before + 1)
    await watched.verify('pk-fleet-after')
    expect(decisions.at(-1)).toBe(true)
  })
})
