import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { TIMINGS } from '../../src/options/defaults.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { createTestIssuer, type TestIssuer, keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { Decision, RateLimit } from '../../src/types.js'
import { catchAuthError, recordingLogger, verifyWithQuota } from '../support/core-helpers.js'
import { expectRejection, type RawResponse, send, sendKey, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'
import { useOtel } from '../telemetry/otel.js'

// Issue 16 beyond the adapter contract: odd limits from the control plane, JWT callers, bounded counters,
// what onDecision and stats() say. Express and Koa apps over real HTTP; the clock is faked (Date only).
const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
const KEY = 'pk-limited-0123456789abcdef'

let issuer: TestIssuer
beforeAll(async () => {
  issuer = await createTestIssuer('rate-limit-key')
})
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

async function sendMany(count: number, one: () => Promise<RawResponse>): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await one()).status)
  return statuses
}

describe.each(ADAPTERS)('%s: limits the control plane sends oddly', (framework) => {
  async function appWith(limits: unknown[]) {
    const logger = recordingLogger()
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_odd', rate_limits: limits as RateLimit[] }) } })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, logger })
    return { app, logger }
  }

  test.each([
    { name: 'a negative value', limit: { type: 'requests', unit: 'rpm', value: -1 } },
    { name: 'an unknown unit', limit: { type: 'requests', unit: 'rps', value: 1 } },
    { name: 'an unknown type', limit: { type: 'cost', unit: 'rpm', value: 1 } },
    { name: 'a string value', limit: { type: 'requests', unit: 'rpm', value: '1' } },
    { name: 'an inherited unit name', limit: { type: 'requests', unit: 'toString', value: 1 } },
  ])('$name is not enforced (and said once in the log), and never a 500', async ({ limit }) => {
    const { app, logger } = await appWith([limit])
    expect(await sendMany(3, () => sendKey(app, KEY))).toEqual([200, 200, 200])
    const said = logger.lines.filter((line) => line.includes('is not enforced'))
    // A string value is dropped with the malformed entries before it reaches the limiter.
    expect(said.length).toBe(typeof limit.value === 'string' ? 0 : 1)
  })

  test('a value of 0 refuses every request; a fractional value is rounded down', async () => {
    const { app } = await appWith([{ type: 'requests', unit: 'rpm', value: 0 }])
    const res = await sendKey(app, KEY)
    expectRejection(res, 429, 'rate_limit_exceeded', [KEY])
    expect(res.headers.ratelimit).toBe('"rpm";r=0;t=50')
    const fractional = await appWith([{ type: 'requests', unit: 'rph', value: 2.9 }])
    expect(await sendMany(3, () => sendKey(fractional.app, KEY))).toEqual([200, 200, 429])
  })

  test('two limits of one type and unit: the smaller holds; limits of other windows hold too', async () => {
    const { app } = await appWith([
      { type: 'requests', unit: 'rpm', value: 10 },
      { type: 'requests', unit: 'rpm', value: 3 },
      { type: 'requests', unit: 'rpd', value: 4 },
    ])
    expect(await sendMany(4, () => sendKey(app, KEY))).toEqual([200, 200, 200, 429])
    vi.setSystemTime(T0 + 60_000)
    // A new minute, but the day's 4 has one left.
    expect(await sendMany(2, () => sendKey(app, KEY))).toEqual([200, 429])
    const res = await sendKey(app, KEY)
    // Retry-After names the window that refused: the day, which ends at midnight UTC.
    expect(res.headers['retry-after']).toBe(String((Date.UTC(2026, 11, 1) - (T0 + 60_000)) / 1000))
  })

  test('a clock set back a minute (an NTP step) does not hand out the earlier window afresh', async () => {
    const { app } = await appWith([{ type: 'requests', unit: 'rpm', value: 2 }])
    expect(await sendMany(2, () => sendKey(app, KEY))).toEqual([200, 200])
    vi.setSystemTime(T0 - 60_000)
    expect(await sendMany(2, () => sendKey(app, KEY))).toEqual([429, 429])
  })

  test('a huge value is a limit never reached', async () => {
    const { app } = await appWith([{ type: 'requests', unit: 'rpm', value: 1e308 }])
    const res = await sendKey(app, KEY)
    expect(res.status).toBe(200)
    expect(res.headers['ratelimit-policy']).toBe('"rpm";q=1e+308;w=60')
  })
})

describe.each(ADAPTERS)('%s: JWT callers with a rate_limits claim', (framework) => {
  test('are limited the same way, per user (issuer, organisation, sub), whatever the token', async () => {
    const stub = await useStub({ jwks: issuer.jwks })
    const app = await useGuardedApp(framework, {
      controlPlaneUrl: stub.url,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
    })
    const claims = {
      portkey_oid: 'org_1',
      portkey_workspace: 'ws_1',
      scope: 'portkey.completions.write',
      sub: 'user_1',
      rate_limits: [{ type: 'requests', unit: 'rpm', value: 2 }],
    }
    // Two tokens of one user share its counter.
    const [first, second] = [await issuer.sign(claims), await issuer.sign({ ...claims, iat: Math.floor(T0 / 1000) - 1 })]
    expect(first).not.toBe(second)
    expect([(await sendKey(app, first)).status, (await sendKey(app, second)).status]).toEqual([200, 200])
    const refused = await sendKey(app, first)
    const body = expectRejection(refused, 429, 'rate_limit_exceeded', [first])
    expect(body.message).toContain('for this user')
    expect(refused.headers.ratelimit).toBe('"rpm";r=0;t=50')
    // Another user has its own.
    expect((await sendKey(app, await issuer.sign({ ...claims, sub: 'user_2' }))).status).toBe(200)
  })
})

describe("a JWT user's standing (issue 27, point 6)", () => {
  test('read and reset by issuer, organisation and user claim, whatever the token; a virtual key of its workspace slug too', async () => {
    const stub = await useStub({ jwks: issuer.jwks })
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      logger: false,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
      rateLimits: { limits: [{ name: 'workspace', per: 'workspace', type: 'requests', unit: 'rpm', value: 100 }] },
    })
    const claims = { portkey_oid: 'org_1', portkey_workspace: 'ws_1', scope: 'portkey.completions.write', sub: 'user_1' }
    const limited = { ...claims, rate_limits: [{ type: 'requests', unit: 'rpm', value: 2 }] }
    const verify = async (token: string) =>
      verifier.verify({ 'x-portkey-api-key': token }).then(
        () => 200,
        (error: { status: number }) => error.status,
      )
    expect([await verify(await issuer.sign(limited)), await verify(await issuer.sign(limited))]).toEqual([200, 200])
    expect(await verify(await issuer.sign(limited))).toBe(429)
    const user = { organisationId: 'org_1', issuer: issuer.issuer, user: 'user_1' }
    expect(await verifier.rateLimitStanding(user)).toEqual([
      { name: 'rpm', type: 'requests', unit: 'rpm', used: 2, resetSeconds: 50 },
    ])
    // The same user by another claim, another organisation's, an API key of that id: other holders.
    expect(await verifier.rateLimitStanding({ ...user, claim: 'uid' })).toEqual([])
    expect(await verifier.rateLimitStanding({ ...user, organisationId: 'org_2' })).toEqual([])
    expect(await verifier.rateLimitStanding({ organisationId: 'org_1', keyId: 'user_1' })).toEqual([])
    // The workspace's counter, for this issuer's tokens (a slug), apart from API keys' workspaces.
    const workspace = { organisationId: 'org_1', workspaceId: 'ws_1', issuer: issuer.issuer }
    expect(await verifier.rateLimitStanding(workspace)).toEqual([expect.objectContaining({ name: 'workspace', used: 2 })])
    expect(await verifier.rateLimitStanding({ organisationId: 'org_1', workspaceId: 'ws_1' })).toEqual([])
    await verifier.resetRateLimits(user)
    expect(await verify(await issuer.sign(limited))).toBe(200)
    expect(await verifier.rateLimitStanding(user)).toEqual([expect.objectContaining({ name: 'rpm', used: 1 })])
  })
})

describe('counters are bounded, and reported', () => {
  test('a flood of limited keys keeps at most rateLimits.maxCounters of them; stats() and onDecision say how', async () => {
    const keys = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [
        `pk-flood-${i}-0123456789abcdef`,
        keyRecord({ id: `key_${i}`, rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }] }),
      ]),
    )
    const stub = await useStub({ keys })
    const decisions: Decision[] = []
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      rateLimits: { maxCounters: 10 },
      onDecision: (decision) => decisions.push(decision),
    })
    const app = await useGuardedApp('express', verifier)
    for (const key of Object.keys(keys)) expect((await sendKey(app, key)).status).toBe(200)
    expect((await sendKey(app, Object.keys(keys).at(-1)!)).status).toBe(429)
    expect(verifier.stats().rateLimits).toEqual({ tracked: 10, refused: 1, leases: 0, local: 0, shadowed: 0 })
    expect(decisions.at(-2)).toMatchObject({ admitted: true, counting: 'local' })
    expect(decisions.at(-1)).toMatchObject({ admitted: false, status: 429, code: 'rate_limit_exceeded', counting: 'local' })
  })

  test('50 concurrent first requests of a key limited to 10 (all waiting on one look-up): exactly 10 admitted', async () => {
    const stub = await useStub({
      delayMs: 50,
      keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'requests', unit: 'rpm', value: 10 }] }) },
    })
    for (const framework of ADAPTERS) {
      const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
      const statuses = await Promise.all(Array.from({ length: 50 }, () => sendKey(app, KEY).then((res) => res.status)))
      expect(statuses.filter((status) => status === 200)).toHaveLength(10)
      expect(statuses.filter((status) => status === 429)).toHaveLength(40)
    }
  })

  test('a request refused for its scope consumes nothing', async () => {
    const stub = await useStub({
      keys: { [KEY]: keyRecord({ scopes: ['logs.read'], rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }] }) },
    })
    const app = await useGuardedApp('koa', { controlPlaneUrl: stub.url, scopes: { [`GET ${WHOAMI}/admin`]: 'admin.write' } })
    const admin = () => send(`${app.url}${WHOAMI}/admin`, { 'x-portkey-api-key': KEY })
    expect((await admin()).status).toBe(403)
    expect((await admin()).status).toBe(403)
    expect(await sendMany(2, () => sendKey(app, KEY))).toEqual([200, 429])
  })

  test('reportTokens() refuses what is not a whole number of tokens: false and one warning, never a rejection', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rpm', value: 10 }] }) } })
    const warnings: string[] = []
    const logger = { warn: (message: string) => warnings.push(message), info: () => {} }
    const verifier = createVerifier({ controlPlaneUrl: stub.url, logger })
    const { auth, quota } = await verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })
    for (const bad of [-1, 1.5, Number.NaN, Infinity, '5' as unknown as number]) {
      await expect(quota!.reportTokens(bad)).resolves.toBe(false)
      await expect(verifier.reportTokens(quota!, bad)).resolves.toBe(false)
      await expect(verifier.reportTokens(auth, bad)).resolves.toBe(false)
    }
    // Neither a quota this package made nor a context: nothing to count against.
    for (const neither of [undefined, null, 'key_1', { remaining: 5 }]) {
      await expect(verifier.reportTokens(neither as never, 5)).resolves.toBe(false)
    }
    expect(warnings.filter((w) => w.includes('reportTokens()'))).toEqual([
      "portkey-auth: reportTokens() takes a request's quota (or context) and a whole number of tokens, 0 or more; got -1: not counted (logged once)",
    ])
    // None of them counted: 10 still fit, then the window is spent.
    await expect(verifier.reportTokens(auth, 10)).resolves.toBe(true)
    await expect(verifier.verify({ 'x-portkey-api-key': KEY })).rejects.toMatchObject({ status: 429 })
  })
})

// Issue 22, item 7: each admitted request of a key with a tokens limit reserves an estimate of its tokens until
// it reports them; these are the edges of that (the review's burst is in the adapter contract).
describe.each(ADAPTERS)('%s: tokens reserved by requests in flight', (framework) => {
  test('a handler that never reports holds its estimate for TIMINGS.tokensHoldMs at most, never the rest of the window', async () => {
    // Per hour, so the window does not end while the reservations do.
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rph', value: 1_000 }] }) } })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    // Nothing reported yet: an eighth of the limit each, so 8 fit; none reports, one after another.
    const held = await sendMany(9, () => sendKey(app, KEY))
    expect(held).toEqual([...Array(8).fill(200), 429])
    const refused = await sendKey(app, KEY)
    expectRejection(refused, 429, 'rate_limit_exceeded', [KEY])
    // Retry when the reservations are released at the latest, not when the hour ends; the headers say the
    // whole allowance is left, since nothing was reported.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(TIMINGS.tokensHoldMs / 1000)
    expect(refused.headers.ratelimit).toBe('"tokens-rph";r=1000;t=3590')
    vi.setSystemTime(T0 + TIMINGS.tokensHoldMs)
    expect(await sendMany(9, () => sendKey(app, KEY))).toEqual([...Array(8).fill(200), 429])
  })

  test('a request reporting 0 releases its reservation at once, and 0 teaches no estimate', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rph', value: 1_000 }] }) } })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    for (let i = 0; i < 30; i++) {
      expect((await sendKey(app, KEY)).status).toBe(200)
      await app.quotas.at(-1)!.reportTokens(0)
    }
    // Still estimated at an eighth of the limit: 8 in flight fit.
    expect(await sendMany(9, () => sendKey(app, KEY))).toEqual([...Array(8).fill(200), 429])
  })
})

describe('reportTokens() and reservations', () => {
  test('reporting twice for one request adds both reports but releases its reservation once', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rph', value: 1_000 }] }) } })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const verify = () => verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })
    // 8 in flight at 125 each hold the whole 1,000.
    const inFlight = await Promise.all(Array.from({ length: 8 }, verify))
    await expect(verify()).rejects.toMatchObject({ status: 429 })
    // A report for a request's context counts (0 here) but releases no request's reservation: still full.
    await expect(verifier.reportTokens(inFlight[2]!.auth, 0)).resolves.toBe(true)
    await expect(verify()).rejects.toMatchObject({ status: 429 })
    // One of them reports twice (through its quota, then the verifier): its 125 is released once, so one more fits.
    await inFlight[0]!.quota!.reportTokens(0)
    await verifier.reportTokens(inFlight[0]!.quota!, 0)
    await verify()
    await expect(verify()).rejects.toMatchObject({ status: 429 })
    // A bad report settles nothing and never crashes: false, the reservation kept.
    await expect(inFlight[1]!.quota!.reportTokens(-1)).resolves.toBe(false)
    await expect(verify()).rejects.toMatchObject({ status: 429 })
    // Two reports of tokens both count: 2 × 400 reported, its reservation released once.
    await inFlight[1]!.quota!.reportTokens(400)
    await inFlight[1]!.quota!.reportTokens(400)
    await expect(verify()).rejects.toMatchObject({ status: 429, headers: { ratelimit: '"tokens-rph";r=200;t=3590' } })
  })

  // No status, no quota: nothing could ever release a reservation, which would then only refuse the key's next
  // requests for up to TIMINGS.tokensHoldMs (before the quota moved beside the context, `verify()`'s context
  // carried it, and `verifier.reportTokens(portkey, n)` released it).
  test.each([
    { name: 'bare', options: {} },
    { name: 'with onDecision listening', options: { onDecision: () => {} } },
    { name: 'with telemetry counting', options: 'telemetry' as const },
  ])(
    'a request checked without a status ($name) reserves nothing: its report through the context counts in full',
    async ({ options }) => {
      const extra = options === 'telemetry' ? { telemetry: { meterProvider: useOtel().meterProvider } } : options
      const lookup = async () => keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rph', value: 1_000 }] })
      const verifier = createVerifier({ lookup, logger: false, ...extra })
      const statuses: number[] = []
      for (let i = 0; i < 20; i++) {
        const admitted = await verifier.verify({ 'x-portkey-api-key': KEY }).then(
          async (portkey) => verifier.reportTokens(portkey, 10),
          () => false,
        )
        statuses.push(admitted ? 200 : 429)
      }
      expect(statuses).toEqual(Array(20).fill(200))
      // Counted all the same: 200 of 1,000 reported; through a status, the quota holds its estimate as before.
      const { quota } = await verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })
      expect(quota!.limits[0]!.remaining).toBe(800)
    },
  )

  test('verifier.reportTokens() never rejects: a copy of a quota that kept its prototype, a context whose limits cannot be read', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'tokens', unit: 'rph', value: 1_000 }] }) } })
    const warnings: string[] = []
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      logger: { warn: (line: string) => warnings.push(line), info: () => {} },
    })
    const { quota } = await verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })
    // What a deep clone (lodash's cloneDeep, Object.create) of a request's quota, or of something else, gives.
    const odd: unknown[] = [
      Object.create(Object.getPrototypeOf(quota)),
      Object.create(quota!),
      Object.getPrototypeOf(quota),
      { rateLimits: [null] },
      { rateLimits: [{ type: 'tokens', unit: 'rph', value: 5 }], virtualKey: {} },
    ]
    for (const of of odd) await expect(verifier.reportTokens(of as never, 1)).resolves.toBe(false)
    expect(warnings.filter((line) => line.includes('reportTokens()'))).toHaveLength(1)
    // Nothing counted, nothing released: the request's own report still does both.
    await expect(quota!.reportTokens(100)).resolves.toBe(true)
    expect((await verifyWithQuota(verifier, { 'x-portkey-api-key': KEY })).quota!.limits[0]!.remaining).toBe(900)
  })
})

// The two headers' exact values, as every adapter sends them (quota.headers on admission, the error's on a 429):
// several limits of a key, a virtual key's on top, limits that change, figures of every width.
describe('RateLimit-Policy and RateLimit: the exact values, admitted and refused', () => {
  const VK = { 'x-portkey-virtual-key': 'vk-shared' }
  async function verifierWith(limits: RateLimit[], vkLimits: RateLimit[] = []) {
    const stub = await useStub({
      keys: { [KEY]: keyRecord({ id: 'key_exact', rate_limits: limits }) },
      virtualKeys: { 'vk-shared': virtualKeyRecord({ slug: 'vk-shared', rate_limits: vkLimits }) },
    })
    return { stub, verifier: createVerifier({ controlPlaneUrl: stub.url, logger: false }) }
  }
  const headersOf = async (verifier: ReturnType<typeof createVerifier>, extra: Record<string, string> = {}) =>
    (await verifyWithQuota(verifier, { 'x-portkey-api-key': KEY, ...extra })).quota?.headers
  const refusedHeaders = async (verifier: ReturnType<typeof createVerifier>, extra: Record<string, string> = {}) => {
    const error = await catchAuthError(() => verifier.verify({ 'x-portkey-api-key': KEY, ...extra }))
    expect(error.status).toBe(429)
    return { ratelimit: error.headers.ratelimit, 'ratelimit-policy': error.headers['ratelimit-policy'] }
  }

  test('a key with three limits: each in the order compiled, joined by ", ", counting down; then the 429', async () => {
    const { verifier } = await verifierWith([
      { type: 'requests', unit: 'rpm', value: 3 },
      { type: 'tokens', unit: 'rph', value: 500 },
      { type: 'requests', unit: 'rpd', value: 1_000 },
    ])
    const policy = '"rpm";q=3;w=60, "tokens-rph";q=500;w=3600, "rpd";q=1000;w=86400'
    // 12:00:10 UTC: 50 s left in the minute, 3,590 in the hour, 43,190 in the day.
    const expected = [2, 1, 0].map((r, i) => ({
      'ratelimit-policy': policy,
      ratelimit: `"rpm";r=${r};t=50, "tokens-rph";r=500;t=3590, "rpd";r=${999 - i};t=43190`,
    }))
    for (const headers of expected) expect(await headersOf(verifier)).toEqual(headers)
    expect(await refusedHeaders(verifier)).toEqual({
      'ratelimit-policy': policy,
      ratelimit: '"rpm";r=0;t=50, "tokens-rph";r=500;t=3590, "rpd";r=997;t=43190',
    })
    // A second later, the same figures but the seconds.
    vi.setSystemTime(T0 + 1_000)
    expect((await refusedHeaders(verifier)).ratelimit).toBe('"rpm";r=0;t=49, "tokens-rph";r=500;t=3589, "rpd";r=997;t=43189')
  })

  test("a virtual key's limits after the key's, on every request and on its 429; limits that change show at once", async () => {
    const { stub, verifier } = await verifierWith(
      [{ type: 'requests', unit: 'rpm', value: 5 }],
      [{ type: 'requests', unit: 'rpm', value: 2 }],
    )
    const policy = '"rpm";q=5;w=60, "vk-rpm";q=2;w=60'
    expect(await headersOf(verifier, VK)).toEqual({ 'ratelimit-policy': policy, ratelimit: '"rpm";r=4;t=50, "vk-rpm";r=1;t=50' })
    expect(await headersOf(verifier, VK)).toEqual({ 'ratelimit-policy': policy, ratelimit: '"rpm";r=3;t=50, "vk-rpm";r=0;t=50' })
    expect(await refusedHeaders(verifier, VK)).toEqual({
      'ratelimit-policy': policy,
      ratelimit: '"rpm";r=3;t=50, "vk-rpm";r=0;t=50',
    })
    // Without the virtual key: the key's alone.
    expect(await headersOf(verifier)).toEqual({ 'ratelimit-policy': '"rpm";q=5;w=60', ratelimit: '"rpm";r=2;t=50' })
    // The key's limits change: its policy (and its window, kept by name) in both forms.
    stub.keys.set(KEY, keyRecord({ id: 'key_exact', rate_limits: [{ type: 'requests', unit: 'rpm', value: 7 }] }))
    await verifier.invalidate(KEY)
    expect(await headersOf(verifier)).toEqual({ 'ratelimit-policy': '"rpm";q=7;w=60', ratelimit: '"rpm";r=3;t=50' })
    expect(await refusedHeaders(verifier, VK)).toEqual({
      'ratelimit-policy': '"rpm";q=7;w=60, "vk-rpm";q=2;w=60',
      ratelimit: '"rpm";r=3;t=50, "vk-rpm";r=0;t=50',
    })
    // The virtual key's change: a new limit, a new window.
    stub.virtualKeys.set(
      'vk-shared',
      virtualKeyRecord({ slug: 'vk-shared', rate_limits: [{ type: 'requests', unit: 'rph', value: 9 }] }),
    )
    await verifier.invalidateVirtualKey('vk-shared')
    expect(await headersOf(verifier, VK)).toEqual({
      'ratelimit-policy': '"rpm";q=7;w=60, "vk-rph";q=9;w=3600',
      ratelimit: '"rpm";r=2;t=50, "vk-rph";r=8;t=3590',
    })
  })

  test('figures of every width: 1,001 counting down past 1,000; 10⁹ a week; 1e308', async () => {
    const { verifier } = await verifierWith([
      { type: 'requests', unit: 'rpm', value: 1_001 },
      { type: 'requests', unit: 'rpw', value: 1_000_000_000 },
      { type: 'requests', unit: 'rph', value: 1e308 },
    ])
    // Monday 2026-11-30 12:00:10 UTC: the week started 12 h 10 s ago.
    const week = 7 * 86_400 - (12 * 3_600 + 10)
    const policy = '"rpm";q=1001;w=60, "rpw";q=1000000000;w=604800, "rph";q=1e+308;w=3600'
    for (const [r, w] of [
      [1000, 999_999_999],
      [999, 999_999_998],
      [998, 999_999_997],
    ]) {
      expect(await headersOf(verifier)).toEqual({
        'ratelimit-policy': policy,
        ratelimit: `"rpm";r=${r};t=50, "rpw";r=${w};t=${week}, "rph";r=1e+308;t=3590`,
      })
    }
  })
})
