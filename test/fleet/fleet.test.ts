import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { fingerprint } from '../../src/credential/header.js'
import { createVerifier, type Verifier, type VerifierStats } from '../../src/verifier/create-verifier.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  KEY_DETAILS_PATH,
  keyRecord,
  startControlPlaneStub,
} from '../../src/testing/index.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Three verifier instances — two in this process, one in a child process — sharing one stub control
// plane and one real redis-server.
interface Instance {
  verify(credential: string): Promise<{ status: number; code?: string; keyId?: string }>
  /** The verifier's stats (through IPC for the child process). */
  stats(): Promise<VerifierStats>
  close(): Promise<void>
}

// The fleet tests use the Redis .ci/run starts (REDIS_URL), or one of their own; the outage test always
// starts its own, since it stops it.
let shared: { url: string; stop(): Promise<void> }
let stub: ControlPlaneStub
let prefixCount = 0

beforeAll(async () => {
  shared = process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: async () => {} } : await startTestRedis()
  stub = await startControlPlaneStub({ delayMs: 50 })
})

afterAll(async () => {
  await shared?.stop()
  await stub?.close()
})

const open: Instance[] = []
afterEach(async () => {
  for (const instance of open.splice(0)) await instance.close()
  stub.heal()
  stub.keys.clear()
  stub.resetCounts()
})

function local(verifier: Verifier): Instance {
  const instance: Instance = {
    stats: async () => verifier.stats(),
    verify: (credential) =>
      verifier.verify({ 'x-portkey-api-key': credential }).then(
        (auth) => ({ status: 200, keyId: auth.keyId }),
        (error: { status: number; code: string }) => ({ status: error.status, code: error.code }),
      ),
    close: () => verifier.close(),
  }
  open.push(instance)
  return instance
}

async function child(redisUrl: string, prefix: string, jwt?: JwtSetup): Promise<Instance> {
  // The fixture gives only jwt.jwksUrl: the issuer and audience reach it as env, as they would a deployed service.
  const jwtEnv = jwt
    ? { JWKS_URL: jwt.jwksUrl, PORTKEY_JWT_ISSUER: jwt.issuer, PORTKEY_JWT_AUDIENCE: jwt.audience }
    : { JWKS_URL: '' }
  const env = { ...process.env, CONTROL_PLANE_URL: stub.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ...jwtEnv }
  const proc: ChildProcess = fork(new URL('../fixtures/redis-instance.mjs', import.meta.url), { env, stdio: 'ignore' })
  const replies = new Map<number, (reply: any) => void>()
  let next = 0
  proc.on('message', (message: any) => replies.get(message.id)?.(message))
  await new Promise<void>((done) => proc.once('message', () => done()))
  const ask = (message: object) =>
    new Promise<any>((resolve) => {
      const id = ++next
      replies.set(id, resolve)
      proc.send({ id, ...message })
    })
  await vi.waitFor(
    async () => expect((await ask({ op: 'stats' })).stats.redis).toMatchObject({ connected: true, listening: true }),
    { timeout: 5_000 },
  )
  const instance: Instance = {
    verify: (credential) => ask({ op: 'verify', credential }),
    stats: async () => (await ask({ op: 'stats' })).stats,
    close: async () => {
      if (proc.exitCode !== null) return
      const exited = once(proc, 'exit')
      await ask({ op: 'close' })
      await exited
    },
  }
  open.push(instance)
  return instance
}

type JwtSetup = { jwksUrl: string; issuer: string; audience: string }

/** Three instances on a fresh key prefix: A made from a URL, B from a client of the app's own, C in a child process. */
async function fleet(extra: { jwt?: JwtSetup; redisUrl?: string } = {}) {
  const url = extra.redisUrl ?? shared.url
  const prefix = `fleet-${++prefixCount}:`
  const { jwt } = extra
  const a = createVerifier({ controlPlaneUrl: stub.url, redis: { url, prefix }, jwt })
  const client = createClient({ url, disableOfflineQueue: true })
  client.on('error', () => {})
  await client.connect()
  const b = createVerifier({ controlPlaneUrl: stub.url, redis: { client: client as never, prefix }, jwt })
  for (const verifier of [a, b])
    await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), { timeout: 5_000 })
  const c = await child(url, prefix, jwt)
  open.push({ verify: async () => ({ status: 0 }), stats: async () => b.stats(), close: async () => void (await client.close()) })
  return { a: local(a), b: local(b), c, verifiers: { a, b }, prefix }
}

const lookups = () => stub.calls(KEY_DETAILS_PATH)

describe('three instances sharing one Redis', () => {
  test('a cold key requested on all three at once makes one control-plane call', async () => {
    stub.keys.set('pk-fleet-cold', keyRecord({ id: 'key_cold' }))
    const { a, b, c } = await fleet()
    const answers = await Promise.all([a, b, c, a, b, c].map((instance) => instance.verify('pk-fleet-cold')))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(lookups()).toBe(1)
  })

  test('300 new keys over three instances: one call per key', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `pk-fleet-many-${i}`)
    for (const key of keys) stub.keys.set(key, keyRecord())
    const { a, b, c, verifiers } = await fleet()
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
  ])('revocation %s on A reaches B and C within 200 ms', async (_how, revoke) => {
    stub.keys.set('pk-fleet-revoked', keyRecord({ id: 'key_revoked' }))
    const { a, b, c, verifiers } = await fleet()
    for (const instance of [a, b, c]) expect((await instance.verify('pk-fleet-revoked')).status).toBe(200)
    expect(lookups()).toBe(1)

    stub.keys.delete('pk-fleet-revoked')
    const started = performance.now()
    await revoke(verifiers.a)
    const rejectedAfter = await Promise.all(
      [b, c].map(async (instance) => {
        for (;;) {
          const answer = await instance.verify('pk-fleet-revoked')
          if (answer.status === 401) return performance.now() - started
          if (performance.now() - started > 2_000) return Infinity
          // A cache hit answers within microtasks: yield, or the pub/sub message could never arrive.
          await new Promise((done) => setTimeout(done, 2))
        }
      }),
    )
    console.log(
      `[fleet] revocation ${_how}: B rejected after ${rejectedAfter[0]!.toFixed(1)} ms, C after ${rejectedAfter[1]!.toFixed(1)} ms`,
    )
    for (const elapsed of rejectedAfter) expect(elapsed).toBeLessThan(200)
    expect((await a.verify('pk-fleet-revoked')).code).toBe('invalid_api_key')
  })

  test('a lock whose holder died expires, and another instance asks', async () => {
    stub.keys.set('pk-fleet-orphan', keyRecord({ id: 'key_orphan' }))
    // A probe key of this run only: a Redis kept between runs holds other runs' answers under the same prefix.
    const probe = `pk-fleet-probe-${randomUUID()}`
    stub.keys.set(probe, keyRecord({ id: 'key_probe' }))
    const { b, prefix } = await fleet()
    const raw = createClient({ url: shared.url })
    await raw.connect()
    // The namespace under the prefix (a digest of the settings), learnt from the answer B wrote.
    await b.verify(probe)
    const written = await raw.keys(`${prefix}*k:${fingerprint(probe)}`)
    expect(written).toHaveLength(1)
    const namespace = written[0]!.slice(0, -`k:${fingerprint(probe)}`.length)
    // As if an instance took the lock and died before answering.
    await raw.set(`${namespace}lock:k:${fingerprint('pk-fleet-orphan')}`, 'dead-holder', { PX: 300 })
    const started = performance.now()
    expect(await b.verify('pk-fleet-orphan')).toMatchObject({ status: 200, keyId: 'key_orphan' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    expect(lookups()).toBe(2)
    await raw.close()
  })

  test('nothing in Redis holds a raw key or token', async () => {
    const issuer = await createTestIssuer()
    stub.jwks = issuer.jwks
    const token = await issuer.sign({ portkey_oid: 'org_f', portkey_workspace: 'ws_f' })
    const keys = ['pk-fleet-secret-1', 'pk-fleet-secret-2']
    for (const key of keys) stub.keys.set(key, keyRecord())
    const { a, b, c, prefix } = await fleet({ jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } })
    for (const credential of [...keys, 'pk-fleet-unknown-3', token])
      for (const instance of [a, b, c]) await instance.verify(credential)
    // The token was admitted, so its verified claims went through Redis too.
    for (const instance of [a, b, c]) expect(await instance.verify(token)).toMatchObject({ status: 200 })

    const raw = createClient({ url: shared.url })
    await raw.connect()
    const names: string[] = []
    for await (const batch of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) names.push(...batch)
    expect(names.length).toBeGreaterThanOrEqual(4)
    const dump: string[] = [...names]
    for (const name of names) {
      const type = await raw.type(name)
      if (type === 'string') dump.push((await raw.get(name)) ?? '')
      if (type === 'set') dump.push(...(await raw.sMembers(name)))
    }
    await raw.close()
    const text = dump.join('\n')
    for (const secret of [...keys, 'pk-fleet-unknown-3', token, token.split('.')[2]!]) expect(text).not.toContain(secret)
    expect(text).toContain(fingerprint(keys[0]!))
  })
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
    stub.keys.set('pk-fleet-known', keyRecord({ id: 'key_known' }))
    stub.keys.set('pk-fleet-during', keyRecord({ id: 'key_during' }))
    stub.keys.set('pk-fleet-after', keyRecord({ id: 'key_after' }))
    const decisions: Array<boolean | null> = []
    const { a, b, c, verifiers } = await fleet({ redisUrl: redis.url })
    const watchedVerifier = createVerifier({
      controlPlaneUrl: stub.url,
      redis: { url: redis.url },
      onDecision: (decision) => decisions.push(decision.redis),
    })
    const watched = local(watchedVerifier)
    for (const instance of [a, b, c]) expect((await instance.verify('pk-fleet-known')).status).toBe(200)
    expect(lookups()).toBe(1)

    await redis.stop()
    try {
      await vi.waitFor(() => expect(verifiers.a.stats().redis?.connected).toBe(false))
      // Cached keys from each instance's own LRU; new ones from the control plane, each instance for itself.
      for (const instance of [a, b, c]) {
        expect(await instance.verify('pk-fleet-known')).toMatchObject({ status: 200, keyId: 'key_known' })
        expect(await instance.verify('pk-fleet-during')).toMatchObject({ status: 200, keyId: 'key_during' })
        expect(await instance.verify('pk-fleet-unknown')).toMatchObject({ status: 401, code: 'invalid_api_key' })
      }
      expect(lookups()).toBe(1 + 3 + 3)
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
