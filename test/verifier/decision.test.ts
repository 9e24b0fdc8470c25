import { randomBytes } from 'node:crypto'
import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import type { Decision } from '../../src/types.js'
import type { AuthErrorCode } from '../../src/errors.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import type { CheckStatus, IncomingHeaders, KeyRecord, VirtualKeyRecord } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { createTestIssuer, keyRecord, type TestIssuer, virtualKeyRecord } from '../../src/testing/index.js'
import { catchAuthError, countingLookup, expectAuthError, until, withKey } from '../support/core-helpers.js'

const T0 = Date.parse('2030-01-01T00:00:00.000Z')
const KEY = 'pk-live-decision-0001'
const UNKNOWN = 'pk-live-decision-nobody'
const RECORD = keyRecord({ id: 'key_d1', workspace_id: 'ws_d', scopes: ['completions.write'] })
const VK = virtualKeyRecord({ slug: 'openai-prod', workspace_id: 'ws_d' })
const cache = { ttlMs: 1_000, staleMs: 5_000, negativeTtlMs: 500 }

/** A verifier over fake look-ups (KEY and `records` known; keys starting `pk-down-` are an outage), and the events it emits. */
function audited(records: Record<string, KeyRecord> = {}, options: VerifierOptions = {}) {
  const known: Record<string, KeyRecord> = { [KEY]: RECORD, ...records }
  const events: Decision[] = []
  const fake = countingLookup((apiKey) => {
    if (apiKey.startsWith('pk-down-')) throw new Error('key service down')
    return known[apiKey] ?? null
  })
  const virtualKeys: Record<string, VirtualKeyRecord> = { [VK.slug]: VK }
  const verifier = createVerifier({
    lookup: fake.lookup,
    lookupVirtualKey: async (slug) => virtualKeys[slug] ?? null,
    cache,
    onDecision: (decision) => events.push(decision),
    ...options,
  })
  return { verifier, events, fake }
}

/** Runs one verify and returns the one event it emitted. */
async function decide(setup: ReturnType<typeof audited>, headers: IncomingHeaders): Promise<Decision> {
  const before = setup.events.length
  await setup.verifier.verify(headers).catch(() => {})
  expect(setup.events.length - before, 'exactly one event per verify').toBe(1)
  return setup.events.at(-1)!
}

/** Fields every event has here: a duration, no Redis tier, (no outage) no cause, and (no rate limit) no counting. */
const anyDuration = {
  redis: null,
  durationMs: expect.any(Number),
  cause: null,
  counting: null,
  rateLimits: null,
  nearLimit: [],
  overLimit: [],
}

afterEach(() => {
  vi.useRealTimers()
})

describe('onDecision', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
  })

  test('an admitted key: miss, then hit, then stale after ttlMs, then miss past staleMs', async () => {
    const setup = audited()
    const admitted = {
      admitted: true,
      status: 200,
      code: null,
      keyId: 'key_d1',
      method: 'api_key',
      virtualKey: null,
      ...anyDuration,
    }
    expect(await decide(setup, withKey(KEY))).toEqual({ ...admitted, cache: 'miss' })
    expect(await decide(setup, withKey(KEY))).toEqual({ ...admitted, cache: 'hit' })
    vi.setSystemTime(T0 + cache.ttlMs)
    expect(await decide(setup, withKey(KEY))).toEqual({ ...admitted, cache: 'stale' })
    // The stale serve started one background refresh, stored at T0 + ttlMs.
    await until(() => setup.verifier.stats().pending === 0)
    expect(await decide(setup, withKey(KEY))).toEqual({ ...admitted, cache: 'hit' })
    vi.setSystemTime(T0 + 2 * cache.ttlMs + cache.staleMs)
    expect(await decide(setup, withKey(KEY))).toEqual({ ...admitted, cache: 'miss' })
    // The figures match the cache's own counting, and no event came from elsewhere.
    expect(setup.verifier.stats()).toMatchObject({ misses: 2, hits: 2, stale: 1, lookups: 3 })
    expect(setup.events.map((event) => event.cache)).toEqual(['miss', 'hit', 'stale', 'hit', 'miss'])
  })

  test('an unknown key: rejected with its code, miss then hit (the negative answer is cached)', async () => {
    const setup = audited()
    const rejected = {
      admitted: false,
      status: 401,
      code: 'invalid_api_key',
      keyId: null,
      method: null,
      virtualKey: null,
      ...anyDuration,
    }
    expect(await decide(setup, withKey(UNKNOWN))).toEqual({ ...rejected, cache: 'miss' })
    expect(await decide(setup, withKey(UNKNOWN))).toEqual({ ...rejected, cache: 'hit' })
    expect(setup.fake.count).toBe(1)
  })

  test.each<[string, IncomingHeaders, AuthErrorCode, number]>([
    ['missing', {}, 'missing_api_key', 401],
    ['empty', { 'x-portkey-api-key': '' }, 'missing_api_key', 401],
    ['duplicate', { 'x-portkey-api-key': [KEY, KEY] }, 'invalid_request', 400],
    ['oversize', { 'x-portkey-api-key': `pk-${'x'.repeat(5000)}` }, 'invalid_request', 400],
    ['with a space', { 'x-portkey-api-key': `${KEY} x` }, 'invalid_api_key', 401],
    ['a malformed virtual-key slug', { 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': '../admin' }, 'invalid_request', 400],
  ])('a %s credential is refused before the cache: cache "none", no look-up', async (_name, headers, code, status) => {
    const setup = audited()
    expect(await decide(setup, headers)).toEqual({
      admitted: false,
      status,
      code,
      keyId: null,
      method: null,
      virtualKey: null,
      cache: 'none',
      ...anyDuration,
    })
    expect(setup.fake.count).toBe(0)
  })

  test.each<[string, Partial<KeyRecord>, AuthErrorCode, number]>([
    ['exhausted', { status: 'exhausted' }, 'usage_limit_exceeded', 412],
    ['expired', { status: 'expired' }, 'expired_api_key', 401],
    ['archived', { status: 'archived' }, 'invalid_api_key', 401],
  ])('a key %s: its status and code, no key id', async (_name, fields, code, status) => {
    const setup = audited({ 'pk-live-decision-odd': keyRecord({ id: 'key_odd', ...fields }) })
    expect(await decide(setup, withKey('pk-live-decision-odd'))).toMatchObject({
      admitted: false,
      status,
      code,
      keyId: null,
      cache: 'miss',
    })
  })

  test('an outage: 503 auth_unavailable, cache miss', async () => {
    const setup = audited()
    expect(await decide(setup, withKey('pk-down-decision-1'))).toMatchObject({
      admitted: false,
      status: 503,
      code: 'auth_unavailable',
      keyId: null,
      cache: 'miss',
      // A custom look-up's error is named by its class, never quoted: its message could hold anything.
      cause: 'look-up failed (Error)',
    })
  })

  test('a virtual key: its slug when resolved; null when refused', async () => {
    const setup = audited()
    expect(await decide(setup, { ...withKey(KEY), 'x-portkey-virtual-key': VK.slug })).toMatchObject({
      admitted: true,
      keyId: 'key_d1',
      virtualKey: VK.slug,
      cache: 'miss',
    })
    expect(await decide(setup, { ...withKey(KEY), 'x-portkey-provider': `@${VK.slug}` })).toMatchObject({
      admitted: true,
      virtualKey: VK.slug,
      cache: 'hit',
    })
    expect(await decide(setup, { ...withKey(KEY), 'x-portkey-virtual-key': 'no-such-vk' })).toMatchObject({
      admitted: false,
      status: 403,
      code: 'virtual_key_not_allowed',
      virtualKey: null,
      keyId: null,
      cache: 'hit',
    })
  })

  test('a route the key lacks the scope for: 403 insufficient_scope', async () => {
    const setup = audited(
      { 'pk-live-decision-logs': keyRecord({ id: 'key_logs', scopes: ['logs.read'] }) },
      { scopes: 'portkey' },
    )
    await setup.verifier
      .verify(withKey('pk-live-decision-logs'), { method: 'POST', path: '/v1/chat/completions' })
      .catch(() => {})
    expect(setup.events).toEqual([
      {
        admitted: false,
        status: 403,
        code: 'insufficient_scope',
        keyId: null,
        method: null,
        virtualKey: null,
        cache: 'miss',
        ...anyDuration,
      },
    ])
  })

  test('durationMs is a finite, non-negative number for every outcome', async () => {
    const setup = audited()
    for (const headers of [withKey(KEY), withKey(KEY), withKey(UNKNOWN), {}, withKey('pk-down-decision-2')]) {
      const { durationMs } = await decide(setup, headers)
      expect(Number.isFinite(durationMs) && durationMs >= 0, String(durationMs)).toBe(true)
    }
  })

  test("a caller's CheckStatus is the one the check fills in and the event is read from: the cache, the counting, the quota", async () => {
    const limited = keyRecord({
      id: 'key_limited',
      workspace_id: 'ws_d',
      rate_limits: [{ type: 'requests', unit: 'rpm', value: 5 }],
    })
    const setup = audited({ 'pk-live-decision-limited': limited })
    const statuses: CheckStatus[] = [{ cache: 'none' }, { cache: 'none' }]
    for (const status of statuses) await setup.verifier.verify(withKey('pk-live-decision-limited'), undefined, status)
    expect(statuses).toEqual([
      { cache: 'miss', counting: 'local', quota: expect.objectContaining({ remaining: 4 }) },
      { cache: 'hit', counting: 'local', quota: expect.objectContaining({ remaining: 3 }) },
    ])
    expect(setup.events.map(({ cache, counting }) => ({ cache, counting }))).toEqual([
      { cache: 'miss', counting: 'local' },
      { cache: 'hit', counting: 'local' },
    ])
    // No limit: the quota is left as the caller made it.
    const unlimited: CheckStatus = { cache: 'none', quota: null }
    await setup.verifier.verify(withKey(KEY), undefined, unlimited)
    expect(unlimited).toEqual({ cache: 'miss', quota: null })
  })

  test('an event is a fresh object each time, and the verifier keeps no reference that changes it', async () => {
    const setup = audited()
    const first = await decide(setup, withKey(KEY))
    const copy = { ...first }
    const second = await decide(setup, withKey(KEY))
    expect(second).not.toBe(first)
    expect(first).toEqual(copy)
  })
})

describe('a throwing onDecision never breaks verify', () => {
  test.each<[string, () => never]>([
    [
      'an Error',
      () => {
        throw new Error('metrics backend down')
      },
    ],
    [
      'a string',
      () => {
        throw 'nope'
      },
    ],
    [
      'undefined',
      () => {
        throw undefined
      },
    ],
  ])('a listener throwing %s: admitted stays admitted, rejected stays the same AuthError', async (_name, listener) => {
    let calls = 0
    const fake = countingLookup((apiKey) =>
      apiKey === KEY ? RECORD : apiKey.startsWith('pk-down-') ? Promise.reject(new Error('down')) : null,
    )
    const verifier = createVerifier({
      lookup: fake.lookup,
      cache,
      onDecision: () => {
        calls++
        listener()
      },
    })
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_d1' })
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_d1' })
    await expectAuthError(() => verifier.verify(withKey(UNKNOWN)), 'invalid_api_key', 401)
    await expectAuthError(() => verifier.verify({}), 'missing_api_key', 401)
    await expectAuthError(() => verifier.verify(withKey('pk-down-decision-3')), 'auth_unavailable', 503)
    expect(calls).toBe(5)
  })
})

describe('no event ever holds the raw credential', () => {
  let issuer: TestIssuer
  let forger: TestIssuer
  beforeAll(async () => {
    ;[issuer, forger] = await Promise.all([createTestIssuer('decision-kid'), createTestIssuer('decision-kid')])
  })

  test('over 600 requests of every kind, no event contains its credential (nor any credential of the run)', async () => {
    const secret = () => randomBytes(12).toString('base64url')
    const records: Record<string, KeyRecord> = {}
    const known: string[] = []
    for (let i = 0; i < 20; i++) {
      const key = `pk-known-${secret()}`
      known.push(key)
      records[key] = keyRecord({ id: `key_run_${i}`, workspace_id: 'ws_d', status: i % 5 === 0 ? 'exhausted' : 'active' })
    }
    const setup = audited(records, { jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } })
    const validTokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => issuer.sign({ portkey_oid: 'org_d', portkey_workspace: 'ws_d', sub: `user_${i}` })),
    )
    const forgedTokens = await Promise.all(Array.from({ length: 5 }, () => forger.sign({ portkey_oid: 'org_d', sub: 'mallory' })))

    const kinds: (() => [IncomingHeaders, string])[] = [
      () => ((k) => [withKey(k), k])(known[Math.floor(Math.random() * known.length)]!),
      () => ((k) => [{ ...withKey(k), 'x-portkey-virtual-key': VK.slug }, k])(known[1]!),
      () => ((k) => [withKey(k), k])(`pk-unknown-${secret()}`),
      () => ((k) => [withKey(k), k])(`pk-down-${secret()}`),
      () => ((k) => [withKey(`${k} trailing`), k])(`pk-spaced-${secret()}`),
      () => ((k) => [{ 'x-portkey-api-key': [k, k] }, k])(`pk-dup-${secret()}`),
      () => ((k) => [{ 'x-portkey-api-key': `${k}, ${k}` }, k])(`pk-joined-${secret()}`),
      () => ((k) => [withKey(k), k])(`pk-long-${secret()}${'x'.repeat(4100)}`),
      () => ((k) => [withKey(k), k])(validTokens[Math.floor(Math.random() * validTokens.length)]!),
      () => ((k) => [withKey(k), k])(forgedTokens[Math.floor(Math.random() * forgedTokens.length)]!),
    ]
    const sent = new Set<string>()
    const statuses = new Map<number, number>()
    for (let i = 0; i < 600; i++) {
      const [headers, credential] = kinds[i % kinds.length]!()
      sent.add(credential)
      const event = await decide(setup, headers)
      statuses.set(event.status, (statuses.get(event.status) ?? 0) + 1)
      const text = JSON.stringify(event)
      expect(text).not.toContain(credential)
      // A JWT's signature alone would be a leak too.
      if (credential.startsWith('eyJ')) expect(text).not.toContain(credential.split('.')[2]!)
    }
    const all = JSON.stringify(setup.events)
    for (const credential of sent) expect(all.includes(credential)).toBe(false)
    // The run covered admissions and every kind of refusal.
    expect([...statuses.keys()].sort()).toEqual([200, 400, 401, 412, 503])
    expect(setup.events).toHaveLength(600)
  })

  test('a JWT admission reports method "jwt" and a key id that is not the token', async () => {
    const setup = audited({}, { jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } })
    const token = await issuer.sign({ portkey_oid: 'org_d', portkey_workspace: 'ws_d', scope: 'portkey.completions.write' })
    const event = await decide(setup, withKey(token))
    expect(event).toMatchObject({ admitted: true, method: 'jwt', cache: 'miss', keyId: expect.stringMatching(/^jwt_/) })
    expect(JSON.stringify(event)).not.toContain(token.split('.')[2]!)
    const forged = await forger.sign({ portkey_oid: 'org_d' })
    expect(await decide(setup, withKey(forged))).toMatchObject({ admitted: false, status: 401, code: 'invalid_token' })
    const error = await catchAuthError(() => setup.verifier.verify(withKey(forged)))
    expect(error.message).not.toContain(forged)
  })
})
