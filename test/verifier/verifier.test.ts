import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { AuthError, type AuthErrorCode } from '../../src/errors.js'
import type { IncomingHeaders, KeyRecord } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, startControlPlaneStub } from '../../src/testing/control-plane-stub.js'
import { KEY_DETAILS_PATH } from '../../src/lookup/control-plane.js'
import { keyRecord } from '../../src/testing/records.js'
import { catchAuthError, countingLookup, deferred, expectAuthError, until, withKey } from '../support/core-helpers.js'
import { LOOKUP_BACKENDS, type LookupBackend } from '../support/lookup-backends.js'

const T0 = Date.parse('2030-01-01T00:00:00.000Z')
const KEY = 'pk-live-verifier-0001'
const OTHER = 'pk-live-verifier-0002'
const UNKNOWN = 'pk-live-nobody-0003'
const RECORD = keyRecord({ id: 'key_v1', organisation_id: 'org_v', workspace_id: 'ws_v', scopes: ['completions.write'] })

const cache = { ttlMs: 1_000, staleMs: 5_000, negativeTtlMs: 500 }

/** A fake look-up that knows KEY (and OTHER) and nothing else. */
const knownKeys = (records: Record<string, KeyRecord> = { [KEY]: RECORD, [OTHER]: keyRecord({ id: 'key_v2' }) }) =>
  countingLookup((apiKey) => records[apiKey] ?? null)

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllEnvs()
})

// The scenarios both key services must pass the same way: written once, run against each.
describe.each(LOOKUP_BACKENDS)('createVerifier against $name', ({ start }) => {
  let backend: LookupBackend

  beforeAll(async () => {
    backend = await start()
  })

  afterAll(async () => {
    await backend.close()
  })

  beforeEach(() => {
    backend.reset()
    backend.seed(KEY, RECORD)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
  })

  const setup = () => createVerifier({ ...backend.options(), cache })

  test('sequential requests for one key make one look-up and share one frozen context', async () => {
    const verifier = setup()
    const first = await verifier.verify(withKey(KEY))
    expect(first).toMatchObject({ method: 'api_key', keyId: 'key_v1' })
    for (let i = 0; i < 20; i++) expect(await verifier.verify(withKey(KEY))).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expect(backend.lookups()).toBe(1)
    expect(verifier.stats()).toMatchObject({ hits: 20, misses: 1, lookups: 1, failures: 0, entries: 1 })
  })

  test('50 concurrent cold requests for one key make one look-up', async () => {
    const verifier = setup()
    const release = backend.hold()
    const all = Promise.all(Array.from({ length: 50 }, () => verifier.verify(withKey(KEY))))
    await until(() => backend.lookups() >= 1)
    release()
    const results = await all
    expect(new Set(results).size).toBe(1)
    expect(results[0]?.keyId).toBe('key_v1')
    expect(backend.lookups()).toBe(1)
    expect(backend.peakInFlight()).toBe(1)
    expect(verifier.stats()).toMatchObject({ misses: 50, lookups: 1 })
  })

  test('repeated unknown keys: one look-up, each a 401 invalid_api_key, until negativeTtlMs has passed', async () => {
    const verifier = setup()
    for (let i = 0; i < 10; i++) await expectAuthError(() => verifier.verify(withKey(UNKNOWN)), 'invalid_api_key', 401)
    expect(backend.lookups()).toBe(1)

    vi.setSystemTime(T0 + cache.negativeTtlMs - 1)
    await expectAuthError(() => verifier.verify(withKey(UNKNOWN)), 'invalid_api_key', 401)
    expect(backend.lookups()).toBe(1)

    // Unknown answers are never served stale: past negativeTtlMs the next request asks again.
    vi.setSystemTime(T0 + cache.negativeTtlMs)
    await expectAuthError(() => verifier.verify(withKey(UNKNOWN)), 'invalid_api_key', 401)
    expect(backend.lookups()).toBe(2)
  })

  test('invalidate() after a revocation: the next request asks again and gets the new answer', async () => {
    const verifier = setup()
    const auth = await verifier.verify(withKey(KEY))
    backend.seed(KEY, null)
    expect(await verifier.verify(withKey(KEY))).toBe(auth) // still cached
    expect(backend.lookups()).toBe(1)
    verifier.invalidate(KEY)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    expect(backend.lookups()).toBe(2)
  })

  test('invalidate() while a look-up is in flight: its older answer is not written back', async () => {
    const verifier = setup()
    const release = backend.hold()
    const inFlight = verifier.verify(withKey(KEY))
    await until(() => backend.lookups() >= 1)
    verifier.invalidate(KEY) // the key is revoked meanwhile
    release()
    await expect(inFlight).resolves.toMatchObject({ keyId: 'key_v1' }) // the old answer reaches its own request
    backend.seed(KEY, null)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    expect(backend.lookups()).toBe(2)
  })

  test('a cached key is rejected at its expires_at (401 expired_api_key) with no extra look-up', async () => {
    const expiresAt = T0 + 300 // inside the fresh window
    backend.seed(KEY, keyRecord({ expires_at: new Date(expiresAt).toISOString() }))
    const verifier = setup()
    const auth = await verifier.verify(withKey(KEY))
    expect(auth.expiresAt).toEqual(new Date(expiresAt))

    vi.setSystemTime(expiresAt - 1)
    await expect(verifier.verify(withKey(KEY))).resolves.toBe(auth)
    vi.setSystemTime(expiresAt)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'expired_api_key', 401)
    vi.setSystemTime(expiresAt + 1)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'expired_api_key', 401)
    expect(backend.lookups()).toBe(1)
  })

  test('within staleMs: served from cache while one background refresh runs; past staleMs: a miss, and a 503 if it fails', async () => {
    const verifier = setup()
    const before = await verifier.verify(withKey(KEY))
    const refreshed = ['completions.write', 'logs.read']
    backend.seed(KEY, keyRecord({ id: 'key_v1', scopes: refreshed }))

    const release = backend.hold()
    vi.setSystemTime(T0 + cache.ttlMs + 100)
    const served = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(withKey(KEY))))
    // Every request answered from the stale entry before the refresh settled.
    expect(served.every((auth) => auth === before)).toBe(true)
    expect(verifier.stats()).toMatchObject({ stale: 10, pending: 1 })
    release()
    await until(() => verifier.stats().pending === 0)
    expect(backend.lookups()).toBe(2)
    const after = await verifier.verify(withKey(KEY))
    expect(after).not.toBe(before)
    expect(after.scopes).toEqual(refreshed)
    expect(backend.lookups()).toBe(2)

    // The refresh stored at T0 + ttl + 100; go past its stale window while the key service is down.
    backend.fail()
    vi.setSystemTime(T0 + 100 + 2 * cache.ttlMs + cache.staleMs)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(verifier.stats()).toMatchObject({ misses: 2, stale: 10 })
    expect(backend.lookups()).toBe(3)

    // The miss waited for the look-up rather than serving stale; once healed it asks again and passes.
    backend.heal()
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ scopes: refreshed })
    expect(backend.lookups()).toBe(4)
  })
})

describe('createVerifier with a fake lookup', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
  })

  test('admits a known key with its context, asking the lookup with the raw key and a signal', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const auth = await verifier.verify(withKey(KEY))
    expect(auth).toMatchObject({
      method: 'api_key',
      keyId: 'key_v1',
      organisationId: 'org_v',
      workspaceId: 'ws_v',
      scopes: ['completions.write'],
    })
    expect(fake.keys).toEqual([KEY])
    expect(fake.signals[0]).toBeInstanceOf(AbortSignal)
  })

  test('a key created after it was cached as unknown works once negativeTtlMs has passed', async () => {
    const records: Record<string, KeyRecord> = {}
    const fake = knownKeys(records)
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    records[KEY] = RECORD
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    vi.setSystemTime(T0 + cache.negativeTtlMs)
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
    expect(fake.count).toBe(2)
  })

  test('a flood of distinct unknown keys stays within cache.max and leaves known keys cached', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache: { ...cache, max: 10 } })
    await verifier.verify(withKey(KEY))
    for (let i = 0; i < 100; i++) await verifier.verify(withKey(`pk-random-${i}`)).catch(() => {})
    expect(fake.count).toBe(101)
    // One of the ten places is for unknown keys; the flood evicted only its own entries.
    expect(verifier.stats().entries).toBe(2)
    await verifier.verify(withKey(KEY))
    expect(fake.count).toBe(101)
  })

  test.each([null, undefined, 'x-portkey-api-key'])(
    'headers that are no object (%s) are a missing credential, not a TypeError',
    async (headers) => {
      const fake = knownKeys()
      const verifier = createVerifier({ lookup: fake.lookup, cache })
      await expect(verifier.verify(headers as unknown as IncomingHeaders)).rejects.toMatchObject({
        name: 'AuthError',
        status: 401,
        code: 'missing_api_key',
      })
      expect(fake.count).toBe(0)
    },
  )

  test.each<[string, IncomingHeaders, AuthErrorCode, number]>([
    ['missing', {}, 'missing_api_key', 401],
    ['empty', { 'x-portkey-api-key': '' }, 'missing_api_key', 401],
    ['duplicate', { 'x-portkey-api-key': [KEY, OTHER] }, 'invalid_request', 400],
    ['comma-joined', { 'x-portkey-api-key': `${KEY}, ${OTHER}` }, 'invalid_request', 400],
    ['oversize', { 'x-portkey-api-key': `${KEY}${'x'.repeat(4096)}` }, 'invalid_request', 400],
    ['with a space', { 'x-portkey-api-key': `${KEY} x` }, 'invalid_api_key', 401],
    ['with a control character', { 'x-portkey-api-key': `${KEY}\u0007` }, 'invalid_api_key', 401],
    ['non-ASCII', { 'x-portkey-api-key': `${KEY}\u00e9` }, 'invalid_api_key', 401],
  ])('a %s header is rejected with no look-up', async (_name, headers, code, status) => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expectAuthError(() => verifier.verify(headers), code, status)
    expect(fake.count).toBe(0)
    expect(verifier.stats()).toMatchObject({ lookups: 0, misses: 0, hits: 0 })
  })

  test('a 4096-byte JWT-shaped key is looked up', async () => {
    const jwtShaped = `eyJhbGciOiJSUzI1NiJ9.${'e'.repeat(4096 - 21 - 4)}.sig`
    expect(jwtShaped).toHaveLength(4096)
    const fake = knownKeys({ [jwtShaped]: RECORD })
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expect(verifier.verify(withKey(jwtShaped))).resolves.toMatchObject({ keyId: 'key_v1' })
    expect(fake.keys).toEqual([jwtShaped])
  })

  test.each<[string, Partial<KeyRecord>, AuthErrorCode, number]>([
    ['exhausted', { status: 'exhausted' }, 'usage_limit_exceeded', 412],
    ['expired', { status: 'expired' }, 'expired_api_key', 401],
    ['archived', { status: 'archived' }, 'invalid_api_key', 401],
    ['of an unknown status', { status: 'frozen' }, 'invalid_api_key', 401],
    ['past its expires_at', { expires_at: '2029-12-31T23:59:59Z' }, 'expired_api_key', 401],
  ])('a key %s is rejected, and the rejection is cached', async (_name, fields, code, status) => {
    const fake = knownKeys({ [KEY]: keyRecord(fields) })
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expectAuthError(() => verifier.verify(withKey(KEY)), code, status)
    await expectAuthError(() => verifier.verify(withKey(KEY)), code, status)
    expect(fake.count).toBe(1)
  })

  test('the context and every rejection never hold the raw key', async () => {
    const secret = 'pk-live-SECRET-do-not-leak-42'
    const fake = countingLookup((apiKey) => (apiKey === secret ? keyRecord({ name: secret }) : null))
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const auth = await verifier.verify(withKey(secret))
    expect(JSON.stringify(auth)).not.toContain(secret)
    expect(JSON.stringify(verifier.stats())).not.toContain(secret)

    const rejections = [
      await catchAuthError(() => verifier.verify(withKey(`${secret}-unknown`))),
      await catchAuthError(() => verifier.verify(withKey(`${secret} spaced`))),
      await catchAuthError(() => verifier.verify({ 'x-portkey-api-key': [secret, secret] })),
    ]
    fake.answer = () => {
      throw new Error('down')
    }
    rejections.push(await catchAuthError(() => verifier.verify(withKey(`${secret}-outage`))))
    for (const error of rejections) {
      expect(`${error.message} ${JSON.stringify(error.headers)}`).not.toContain('SECRET')
    }
  })

  test('invalidate() makes the next request ask again, for that key only', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await verifier.verify(withKey(KEY))
    await verifier.verify(withKey(OTHER))
    verifier.invalidate(KEY)
    await verifier.verify(withKey(KEY))
    await verifier.verify(withKey(OTHER))
    expect(fake.keys).toEqual([KEY, OTHER, KEY])
  })

  test('clear() while a look-up is in flight: nothing is written back', async () => {
    const fake = knownKeys()
    const held = deferred<KeyRecord | null>()
    fake.answer = () => held.promise
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const inFlight = verifier.verify(withKey(KEY))
    await until(() => fake.count === 1)
    verifier.clear()
    held.resolve(RECORD)
    await inFlight
    expect(verifier.stats().entries).toBe(0)
    fake.answer = () => null
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    expect(fake.count).toBe(2)
  })

  test('an outage is a 503 auth_unavailable with Retry-After, keeping the cause', async () => {
    const cause = new Error('ECONNREFUSED')
    const fake = countingLookup(() => {
      throw cause
    })
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const error = await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(error.headers['retry-after']).toMatch(/^\d+$/)
    expect(Number(error.headers['retry-after'])).toBeGreaterThan(0)
    expect(error.expose).toBe(true)
    expect(error.cause).toBe(cause)
    expect(verifier.stats()).toMatchObject({ failures: 1, entries: 0 })
  })

  test('an outage is never cached: the next request asks again and may pass', async () => {
    const fake = knownKeys()
    fake.answer = () => Promise.reject(new Error('down'))
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(fake.count).toBe(2)
    fake.answer = (apiKey) => (apiKey === KEY ? RECORD : null)
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
    expect(fake.count).toBe(3)
  })

  test('during an outage a cached key still passes, fresh and stale, while an uncached key gets 503', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const auth = await verifier.verify(withKey(KEY))
    fake.answer = () => Promise.reject(new Error('down'))

    expect(await verifier.verify(withKey(KEY))).toBe(auth)
    vi.setSystemTime(T0 + cache.ttlMs + 1)
    expect(await verifier.verify(withKey(KEY))).toBe(auth)
    vi.setSystemTime(T0 + cache.ttlMs + cache.staleMs - 1)
    expect(await verifier.verify(withKey(KEY))).toBe(auth)
    await expectAuthError(() => verifier.verify(withKey(OTHER)), 'auth_unavailable', 503)
    await until(() => verifier.stats().pending === 0)
    expect(verifier.stats().failures).toBeGreaterThanOrEqual(2)
  })

  test('a lookup that hangs and ignores its signal gets a 503 within timeoutMs', async () => {
    vi.useRealTimers()
    const fake = countingLookup(() => new Promise(() => {}))
    const verifier = createVerifier({ lookup: fake.lookup, timeoutMs: 100, cache })
    const started = performance.now()
    const error = await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(fake.signals[0]?.aborted).toBe(true)
    expect((error.cause as Error).name).toBe('TimeoutError')
    expect(verifier.stats()).toMatchObject({ failures: 1, pending: 0, entries: 0 })
  })

  test('concurrent requests on a hanging lookup all get the 503 from the one look-up', async () => {
    vi.useRealTimers()
    const fake = countingLookup(() => new Promise(() => {}))
    const verifier = createVerifier({ lookup: fake.lookup, timeoutMs: 100, cache })
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => verifier.verify(withKey(KEY))))
    for (const result of results) {
      expect(result.status).toBe('rejected')
      const error = (result as PromiseRejectedResult).reason as AuthError
      expect({ code: error.code, status: error.status }).toEqual({ code: 'auth_unavailable', status: 503 })
    }
    expect(fake.count).toBe(1)
  })

  test.each<[string, unknown]>([
    ['an empty object', {}],
    ['a record without id', { organisation_id: 'org_1', scopes: [] }],
    ['a record without organisation_id', { id: 'key_1', scopes: [] }],
    ['a record with scopes as a string', { id: 'key_1', organisation_id: 'org_1', scopes: 'completions.write' }],
    ['a string', '<html>upstream error</html>'],
    ['a number', 200],
    ['undefined', undefined],
    ['an array', [RECORD]],
    ['a record with a bad expires_at', { ...RECORD, expires_at: 'soon' }],
  ])('a garbled answer (%s) is a 503, not cached as a rejection', async (_name, garbled) => {
    const fake = countingLookup(() => garbled)
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const error = await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(error.headers['retry-after']).toBeDefined()
    expect(verifier.stats()).toMatchObject({ failures: 1, entries: 0 })

    fake.answer = () => RECORD
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
    expect(fake.count).toBe(2)
  })

  test("a stale entry is never served past the key's expires_at, even during an outage", async () => {
    const expiresAt = T0 + cache.ttlMs + 2_000 // inside the stale window
    const fake = knownKeys({ [KEY]: keyRecord({ expires_at: new Date(expiresAt).toISOString() }) })
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await verifier.verify(withKey(KEY))
    fake.answer = () => Promise.reject(new Error('down'))
    vi.setSystemTime(expiresAt - 1)
    await expect(verifier.verify(withKey(KEY))).resolves.toBeDefined()
    vi.setSystemTime(expiresAt)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'expired_api_key', 401)
  })

  test('a background refresh that finds the key revoked rejects the next request', async () => {
    const records: Record<string, KeyRecord> = { [KEY]: RECORD }
    const fake = knownKeys(records)
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await verifier.verify(withKey(KEY))
    delete records[KEY]
    vi.setSystemTime(T0 + cache.ttlMs)
    await expect(verifier.verify(withKey(KEY))).resolves.toBeDefined()
    await until(() => verifier.stats().pending === 0)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    expect(fake.count).toBe(2)
  })

  test('staleMs 0: past ttlMs is a miss, never a stale serve', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache: { ...cache, staleMs: 0 } })
    await verifier.verify(withKey(KEY))
    fake.answer = () => Promise.reject(new Error('down'))
    vi.setSystemTime(T0 + cache.ttlMs)
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(verifier.stats().stale).toBe(0)
  })
})

describe('verify() rejects only with AuthError', () => {
  test.each<[string, () => unknown]>([
    ['throws a string', () => Promise.reject('down')],
    ['throws undefined', () => Promise.reject(undefined)],
    [
      'throws synchronously',
      () => {
        throw new Error('sync')
      },
    ],
    ['rejects with an AbortError', () => Promise.reject(new DOMException('aborted', 'AbortError'))],
    ['rejects with an AuthError of its own', () => Promise.reject(new AuthError('invalid_api_key', 401, 'custom'))],
    ['answers a record whose expires_at cannot become a string', async () => ({ ...RECORD, expires_at: Object.create(null) })],
    ['answers a record whose expires_at is a symbol', async () => ({ ...RECORD, expires_at: Symbol('when') })],
    [
      'answers a record with a throwing getter',
      async () =>
        Object.defineProperty({ ...RECORD }, 'scopes', {
          get() {
            throw new Error('boom')
          },
        }),
    ],
  ])('a lookup that %s', async (_name, answer) => {
    const lookup = ((apiKey: string, init: { signal: AbortSignal }) => {
      void apiKey
      void init
      return answer()
    }) as never
    const verifier = createVerifier({ lookup, cache })
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
  })
})

describe('createVerifier with the control-plane stub', () => {
  let stub: ControlPlaneStub

  beforeAll(async () => {
    stub = await startControlPlaneStub()
  })

  afterAll(async () => {
    await stub.close()
  })

  beforeEach(() => {
    stub.heal()
    stub.delayMs = 0
    stub.keys.clear()
    stub.keys.set(KEY, RECORD)
    stub.resetCounts()
  })

  const lookups = () => stub.calls(KEY_DETAILS_PATH)

  test('sends clientAuth as Authorization, and the key in x-portkey-api-key', async () => {
    const verifier = createVerifier({ controlPlaneUrl: stub.url, clientAuth: 'Bearer dp-client', cache })
    await verifier.verify(withKey(KEY))
    expect(stub.log[0]?.headers.authorization).toBe('Bearer dp-client')
    expect(stub.log[0]?.headers['x-portkey-api-key']).toBe(KEY)
  })

  test("never forwards the caller's own Authorization header", async () => {
    const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
    await verifier.verify({ ...withKey(KEY), authorization: 'Bearer sk-openai-provider-key' })
    expect(stub.log[0]?.headers).not.toHaveProperty('authorization')
  })

  test.each<['error' | 'unavailable' | 'garbled' | 'reset']>([['error'], ['unavailable'], ['garbled'], ['reset']])(
    'outage (%s): 503 auth_unavailable with Retry-After, while a cached key still passes',
    async (mode) => {
      stub.keys.set(OTHER, keyRecord({ id: 'key_v2' }))
      const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
      const auth = await verifier.verify(withKey(KEY))
      stub.fail(mode)
      const error = await expectAuthError(() => verifier.verify(withKey(OTHER)), 'auth_unavailable', 503)
      expect(error.headers['retry-after']).toMatch(/^[1-9]\d*$/)
      const duringOutage = lookups()
      expect(duringOutage).toBeGreaterThanOrEqual(2) // a reset may be retried once
      expect(await verifier.verify(withKey(KEY))).toBe(auth)
      expect(lookups()).toBe(duringOutage)

      // Not cached as a rejection: once healed, the same key asks again and passes.
      stub.heal()
      await expect(verifier.verify(withKey(OTHER))).resolves.toMatchObject({ keyId: 'key_v2' })
      expect(lookups()).toBe(duringOutage + 1)
    },
  )

  test('a hanging control plane: 503 within timeoutMs', async () => {
    stub.fail('hang')
    const verifier = createVerifier({ controlPlaneUrl: stub.url, timeoutMs: 100, cache })
    const started = performance.now()
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(lookups()).toBe(1)
  })

  test('a slow answer within timeoutMs still passes', async () => {
    stub.delayMs = 50
    const verifier = createVerifier({ controlPlaneUrl: stub.url, timeoutMs: 1_000, cache })
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
  })

  test('a garbled record (200 without id) is a 503, and not cached as a rejection', async () => {
    stub.keys.set(KEY, { organisation_id: 'org_v', scopes: [] } as unknown as KeyRecord)
    const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    stub.keys.set(KEY, RECORD)
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
    expect(lookups()).toBe(2)
  })

  test('a record under `data` passes', async () => {
    stub.keys.set(KEY, { data: RECORD } as unknown as KeyRecord)
    const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1', organisationId: 'org_v' })
  })

  describe('with a fake clock', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(T0)
    })

    test('within staleMs during an outage: still served; the failed refresh is counted', async () => {
      const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
      const before = await verifier.verify(withKey(KEY))
      stub.fail('error')
      vi.setSystemTime(T0 + cache.ttlMs + cache.staleMs - 1)
      expect(await verifier.verify(withKey(KEY))).toBe(before)
      await until(() => verifier.stats().pending === 0)
      expect(verifier.stats()).toMatchObject({ failures: 1, stale: 1, lookups: 2 })
      // The next stale request is served too, and retries once more.
      expect(await verifier.verify(withKey(KEY))).toBe(before)
      await until(() => verifier.stats().pending === 0)
      expect(verifier.stats()).toMatchObject({ failures: 2, stale: 2, lookups: 3 })
      expect(lookups()).toBe(3)
    })
  })

  describe('environment defaults', () => {
    test('PORTKEY_CONTROL_PLANE_URL and PORTKEY_CLIENT_AUTH are used when no option is given', async () => {
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
      vi.stubEnv('PORTKEY_CLIENT_AUTH', 'Bearer from-env')
      const verifier = createVerifier()
      await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_v1' })
      expect(lookups()).toBe(1)
      expect(stub.log[0]?.headers.authorization).toBe('Bearer from-env')
    })

    test('explicit options beat the environment', async () => {
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', 'http://127.0.0.1:9')
      vi.stubEnv('PORTKEY_CLIENT_AUTH', 'Bearer from-env')
      const verifier = createVerifier({ controlPlaneUrl: stub.url, clientAuth: 'Bearer explicit' })
      await verifier.verify(withKey(KEY))
      expect(stub.log[0]?.headers.authorization).toBe('Bearer explicit')
    })

    test('the environment is read when the verifier is created, not per request', async () => {
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
      vi.stubEnv('PORTKEY_CLIENT_AUTH', '')
      const verifier = createVerifier()
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', 'http://127.0.0.1:9')
      vi.stubEnv('PORTKEY_CLIENT_AUTH', 'Bearer late')
      await expect(verifier.verify(withKey(KEY))).resolves.toBeDefined()
      expect(lookups()).toBe(1)
      expect(stub.log[0]?.headers).not.toHaveProperty('authorization')
    })

    test('a bad PORTKEY_CONTROL_PLANE_URL is a TypeError from createVerifier()', () => {
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', 'not a url')
      expect(() => createVerifier()).toThrow(TypeError)
    })
  })
})

describe('check(): synchronous for cached credentials', () => {
  test('a miss is a promise; then the same key answers in this tick, with the same frozen context', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    const first = verifier.check(withKey(KEY))
    expect(first).toBeInstanceOf(Promise)
    const auth = await first
    const again = verifier.check(withKey(KEY))
    expect(again).not.toBeInstanceOf(Promise)
    expect(again).toBe(auth)
    expect(fake.count).toBe(1)
  })

  test('a cached rejection throws AuthError synchronously; malformed input too, with no look-up', async () => {
    const fake = knownKeys()
    const verifier = createVerifier({ lookup: fake.lookup, cache })
    await expect(verifier.check(withKey(UNKNOWN))).rejects.toMatchObject({ code: 'invalid_api_key' })
    expect(() => verifier.check(withKey(UNKNOWN))).toThrow(AuthError)
    expect(() => verifier.check(withKey('pk bad'))).toThrow(expect.objectContaining({ code: 'invalid_api_key' }))
    expect(() => verifier.check({})).toThrow(expect.objectContaining({ code: 'missing_api_key' }))
    expect(fake.count).toBe(1)
  })

  test('verify() stays a promise either way, and routed says whether a route is read', async () => {
    const fake = knownKeys()
    const plain = createVerifier({ lookup: fake.lookup, cache })
    const scoped = createVerifier({ lookup: fake.lookup, cache, scopes: 'portkey' })
    expect([plain.routed, scoped.routed]).toEqual([false, true])
    await plain.verify(withKey(KEY))
    const cached = plain.verify(withKey(KEY))
    expect(cached).toBeInstanceOf(Promise)
    await expect(cached).resolves.toMatchObject({ keyId: 'key_v1' })
    await expect(plain.verify({})).rejects.toMatchObject({ code: 'missing_api_key' })
  })
})
