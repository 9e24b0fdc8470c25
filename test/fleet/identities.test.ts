import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  keyRecord,
  startControlPlaneStub,
  type TestIssuer,
  VIRTUAL_KEYS_PATH,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import type { IncomingHeaders, RateLimit } from '../../src/types.js'
import { until, verifyWithQuota } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Issue 22, hole 3 across a fleet: what instances share through one real redis-server (virtual-key answers,
// counters) is keyed by the organisation too; and a counter someone set negative, or to garbage, never makes
// a key unlimited (issue 13). Limits are per week, so that no test straddles a window's edge.
const SLUG = 'openai-shared'
const WORKSPACE = 'default'
const KEY = 'pk-fleet-identity-0123456789abcdef'

let redis: TestRedis
let stub: ControlPlaneStub
let issuer: TestIssuer
let raw: ReturnType<typeof createClient>
beforeAll(async () => {
  ;[redis, stub, issuer] = await Promise.all([startTestRedis(), startControlPlaneStub(), createTestIssuer('fleet-identity')])
  stub.jwks = issuer.jwks
  raw = await createClient({ url: redis.url }).connect()
})
afterAll(async () => {
  await raw?.close()
  await redis?.stop()
  await stub?.close()
})

const closing: Verifier[] = []
afterEach(async () => {
  for (const verifier of closing.splice(0)) await verifier.close()
  stub.keys.clear()
  stub.virtualKeys.clear()
  stub.virtualKeyAccess = null
  stub.resetCounts()
})

/** Verifier instances on one Redis prefix, connected. */
async function fleet(count: number, prefix = `id-${randomUUID()}:`): Promise<Verifier[]> {
  const verifiers = Array.from({ length: count }, () =>
    createVerifier({
      controlPlaneUrl: stub.url,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
      redis: { url: redis.url, prefix },
      logger: false,
    }),
  )
  closing.push(...verifiers)
  await until(() => verifiers.every((verifier) => verifier.stats().redis?.connected === true))
  return verifiers
}

const statusOf = (verifier: Verifier, headers: IncomingHeaders) =>
  verifier.verify(headers).then(
    () => 200,
    (error: { status: number }) => error.status,
  )
const token = (organisation: string, extra: Record<string, unknown> = {}) =>
  issuer.sign({ portkey_oid: organisation, portkey_workspace: WORKSPACE, scope: 'completions.write', sub: 'user_1', ...extra })
const withSlug = (credential: string) => ({ 'x-portkey-api-key': credential, 'x-portkey-virtual-key': SLUG })
const vkLookups = () => stub.log.filter((call) => call.path === VIRTUAL_KEYS_PATH + SLUG).length

describe('what a fleet shares is keyed by the organisation (issue 22, hole 3)', () => {
  test("a virtual-key answer one instance stored for org A is not served to org B's user (same sub, same workspace) on another", async () => {
    stub.virtualKeys.set(SLUG, virtualKeyRecord({ slug: SLUG, workspace_id: WORKSPACE }))
    stub.virtualKeyAccess = (_slug, _keyId, organisationId) => organisationId === 'org_a'
    const [first, second] = await fleet(2)
    expect(await statusOf(first!, withSlug(await token('org_a')))).toBe(200)
    expect(await statusOf(second!, withSlug(await token('org_b')))).toBe(403)
    expect(vkLookups()).toBe(2)
    // And org A's own answer is shared: another instance serves it with no look-up.
    expect(await statusOf(second!, withSlug(await token('org_a', { jti: 'another' })))).toBe(200)
    expect(vkLookups()).toBe(2)
  })

  test("two orgs with the same workspace slug: each org's callers share its virtual key's allowance, across instances", async () => {
    stub.virtualKeys.set(
      SLUG,
      virtualKeyRecord({ slug: SLUG, workspace_id: WORKSPACE, rate_limits: [{ type: 'requests', unit: 'rpw', value: 2 }] }),
    )
    const [first, second] = await fleet(2)
    const orgA = withSlug(await token('org_a', { sub: 'alice' }))
    const orgB = withSlug(await token('org_b', { sub: 'bob' }))
    expect([await statusOf(first!, orgA), await statusOf(second!, orgA), await statusOf(first!, orgA)]).toEqual([200, 200, 429])
    expect([await statusOf(second!, orgB), await statusOf(first!, orgB), await statusOf(second!, orgB)]).toEqual([200, 200, 429])
    // Another user of org A still finds org A's allowance spent.
    expect(await statusOf(second!, withSlug(await token('org_a', { sub: 'carol' })))).toBe(429)
  })

  test('one user with a fresh jti per token, spread over two instances: exactly 3 of a 3-a-week limit', async () => {
    const [first, second] = await fleet(2)
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) {
      const jwt = await token('org_a', { jti: `tok_${i}`, rate_limits: [{ type: 'requests', unit: 'rpw', value: 3 }] })
      statuses.push(await statusOf(i % 2 === 0 ? first! : second!, { 'x-portkey-api-key': jwt }))
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429])
  })

  test('Redis key names hold the organisation and the kind, and never a raw sub', async () => {
    stub.virtualKeys.set(
      SLUG,
      virtualKeyRecord({ slug: SLUG, workspace_id: WORKSPACE, rate_limits: [{ type: 'requests', unit: 'rpw', value: 5 }] }),
    )
    const [verifier] = await fleet(1)
    const jwt = await token('org_a', { sub: 'alice@example.com', rate_limits: [{ type: 'requests', unit: 'rpw', value: 5 }] })
    expect(await statusOf(verifier!, withSlug(jwt))).toBe(200)
    const names = await raw.keys('id-*')
    const ours = names.filter((name) => name.includes('org_a'))
    expect(ours.some((name) => name.includes('{rl:["jwt"'))).toBe(true)
    expect(ours.some((name) => name.includes('{rl:["v","jwt"'))).toBe(true)
    expect(ours.some((name) => name.includes('{v:["jwt"'))).toBe(true)
    expect(names.join('\n')).not.toContain('alice')
  })
})

describe('a counter set negative or to garbage in Redis never makes a key unlimited (issue 13)', () => {
  async function corrupted(value: string | string[]): Promise<{ statuses: number[]; counter: string }> {
    stub.keys.set(
      KEY,
      keyRecord({ id: `key_${randomUUID()}`, rate_limits: [{ type: 'requests', unit: 'rpw', value: 5 } as RateLimit] }),
    )
    const prefix = `id-${randomUUID()}:`
    const [first] = await fleet(1, prefix)
    expect(await statusOf(first!, { 'x-portkey-api-key': KEY })).toBe(200)
    const [counter, ...others] = await raw.keys(`${prefix}*{rl:*`)
    expect(others).toEqual([])
    // A list in its place (WRONGTYPE for GET) is corrupt too: with it, each instance would count alone.
    if (Array.isArray(value)) await raw.multi().del(counter!).rPush(counter!, value).exec()
    else await raw.set(counter!, value)
    // A second instance, with no batch of its own: every request it admits is one Redis granted.
    const [second] = await fleet(1, prefix)
    const statuses: number[] = []
    for (let i = 0; i < 20; i++) statuses.push(await statusOf(second!, { 'x-portkey-api-key': KEY }))
    expect(await statusOf(first!, { 'x-portkey-api-key': KEY })).toBe(429)
    return { statuses, counter: counter! }
  }

  test.each<[string | string[]]>([['-1000'], ['-1'], ['abc'], ['2.5'], ['1e3'], [''], ['99999999999999999999999'], [['1', '2']]])(
    'a counter of %j: the rest of the window is refused, the counter repaired as a spent one',
    async (value) => {
      const { statuses, counter } = await corrupted(value)
      expect(statuses).toEqual(Array(20).fill(429))
      // Out-of-range digits are no count either: repaired like the rest, to the quota, expiring with its window.
      expect(await raw.get(counter)).toBe('5')
      expect(await raw.pTTL(counter)).toBeGreaterThan(0)
    },
  )

  test.each(['-100000', 'abc'])('a tokens counter of %j: the next report finds the window spent', async (value) => {
    stub.keys.set(
      KEY,
      keyRecord({ id: `key_${randomUUID()}`, rate_limits: [{ type: 'tokens', unit: 'rpw', value: 100 } as RateLimit] }),
    )
    const prefix = `id-${randomUUID()}:`
    const [first] = await fleet(1, prefix)
    await (await verifyWithQuota(first!, { 'x-portkey-api-key': KEY })).quota!.reportTokens(10)
    const [counter, ...others] = await raw.keys(`${prefix}*{rl:*`)
    expect(others).toEqual([])
    await raw.set(counter!, value)
    const [second] = await fleet(1, prefix)
    await (await verifyWithQuota(second!, { 'x-portkey-api-key': KEY })).quota!.reportTokens(1)
    expect(await statusOf(second!, { 'x-portkey-api-key': KEY })).toBe(429)
    // Repaired as a spent window, which expires with its window.
    expect(await raw.get(counter!)).toBe('100')
    expect(await raw.pTTL(counter!)).toBeGreaterThan(0)
  })
})
