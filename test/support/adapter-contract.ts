import { describe, expect, onTestFinished, test, vi } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, type ControlPlaneStubOptions, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import {
  contractFramework,
  expectRejection,
  LIVE,
  OTHER,
  seedKeys,
  send,
  sendKey,
  sleep,
  UNKNOWN,
  useGuardedApp,
  useStub,
  WHOAMI,
} from './servers.js'
import './adapters.js'
import { describeAppLimitsContract } from './app-limits-contract.js'
import { describeRateLimitContract } from './rate-limit-contract.js'

/**
 * The behaviour every adapter must show, written once and registered for each framework by its own test
 * file (test/express/index.test.ts, test/koa/index.test.ts, …), after `registerFramework()`.
 */

const challenge = (code: string) => `Portkey realm="portkey", header="x-portkey-api-key", error="${code}"`

interface RejectionCase {
  name: string
  key: string | string[] | undefined
  status: number
  code: AuthErrorCode
  /** Headers the response must carry (`undefined`: must not carry). */
  headers: Record<string, string | undefined>
  /** Key look-ups the request makes. */
  calls: number
  setup?: (stub: ControlPlaneStub) => void
}

const REJECTIONS: RejectionCase[] = [
  {
    name: 'no credential',
    key: undefined,
    status: 401,
    code: 'missing_api_key',
    // Bearer is off by default (issue 22), so the challenge names x-portkey-api-key only.
    headers: { 'www-authenticate': 'Portkey realm="portkey", header="x-portkey-api-key"' },
    calls: 0,
  },
  {
    name: 'an unknown key',
    key: UNKNOWN,
    status: 401,
    code: 'invalid_api_key',
    headers: { 'www-authenticate': challenge('invalid_api_key') },
    calls: 1,
  },
  {
    name: 'an archived key',
    key: 'pk-archived',
    status: 401,
    code: 'invalid_api_key',
    headers: { 'www-authenticate': challenge('invalid_api_key') },
    calls: 1,
  },
  {
    name: "a key with status 'expired'",
    key: 'pk-status-expired',
    status: 401,
    code: 'expired_api_key',
    headers: { 'www-authenticate': challenge('expired_api_key') },
    calls: 1,
  },
  {
    name: 'a key whose expires_at has passed',
    key: 'pk-date-expired',
    status: 401,
    code: 'expired_api_key',
    headers: { 'www-authenticate': challenge('expired_api_key') },
    calls: 1,
  },
  {
    name: 'an exhausted key',
    key: 'pk-exhausted',
    status: 412,
    code: 'usage_limit_exceeded',
    headers: { 'www-authenticate': undefined, 'retry-after': undefined },
    calls: 1,
  },
  {
    name: 'a key while the control plane fails',
    key: LIVE,
    status: 503,
    code: 'auth_unavailable',
    headers: { 'retry-after': '1', 'www-authenticate': undefined },
    calls: 1,
    setup: (stub) => stub.fail('error'),
  },
  {
    name: 'a duplicated x-portkey-api-key header',
    key: [LIVE, LIVE],
    status: 400,
    code: 'invalid_request',
    headers: {},
    calls: 0,
  },
]

interface MalformedCase {
  name: string
  key: string | string[]
  status: number
  code: AuthErrorCode
}

const MALFORMED: MalformedCase[] = [
  { name: 'an empty value', key: '', status: 401, code: 'missing_api_key' },
  { name: 'an inner space', key: 'pk-live 0123456789', status: 401, code: 'invalid_api_key' },
  { name: 'a tab', key: 'pk-live\t0123456789', status: 401, code: 'invalid_api_key' },
  { name: 'a non-ASCII character', key: 'pk-l\u00efve-0123456789', status: 401, code: 'invalid_api_key' },
  { name: 'a comma', key: `${LIVE},${OTHER}`, status: 400, code: 'invalid_request' },
  { name: 'two headers', key: [LIVE, OTHER], status: 400, code: 'invalid_request' },
  { name: 'two headers, one empty', key: [LIVE, ''], status: 400, code: 'invalid_request' },
  { name: '4097 bytes', key: 'k'.repeat(4097), status: 400, code: 'invalid_request' },
]

/** Registers the contract's tests for one framework. */
export function describeAdapterContract(framework: string): void {
  const { portkeyAuth } = contractFramework(framework)

  async function setup(options: MiddlewareOptions = {}, stubOptions: ControlPlaneStubOptions = {}) {
    const stub = await useStub({ keys: seedKeys(), ...stubOptions })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, ...options })
    return { stub, app }
  }

  const lookups = (stub: ControlPlaneStub) => stub.calls(KEY_DETAILS_PATH)

  describeRateLimitContract(framework)
  describeAppLimitsContract(framework)

  describe(`${framework}: rejections`, () => {
    test.each(REJECTIONS)(
      '$name: $status $code, and the route is never reached',
      async ({ key, status, code, headers, calls, setup: prepare }) => {
        const { stub, app } = await setup()
        prepare?.(stub)
        const res = await sendKey(app, key)
        expectRejection(res, status, code, key === undefined ? [] : [key].flat())
        for (const [name, value] of Object.entries(headers)) expect(res.headers[name], name).toBe(value)
        expect(lookups(stub)).toBe(calls)
        expect(app.seen).toHaveLength(0)
      },
    )

    test('a revoked key: still served from cache until invalidate(), then 401 invalid_api_key', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const verifier = createVerifier({ controlPlaneUrl: stub.url })
      const app = await useGuardedApp(framework, verifier)
      expect((await sendKey(app, LIVE)).status).toBe(200)
      stub.keys.delete(LIVE)
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(1)

      verifier.invalidate(LIVE)
      expectRejection(await sendKey(app, LIVE), 401, 'invalid_api_key', [LIVE])
      expect(lookups(stub)).toBe(2)
      expect(app.seen).toHaveLength(2)
    })
  })

  describe(`${framework}: credential shape`, () => {
    test.each(MALFORMED)('$name: $status $code with no look-up', async ({ key, status, code }) => {
      const { stub, app } = await setup()
      expectRejection(
        await sendKey(app, key),
        status,
        code,
        [key].flat().filter((value) => value !== ''),
      )
      expect(stub.calls()).toBe(0)
      expect(app.seen).toHaveLength(0)
    })

    test('a header block over 16 KiB is refused by Node with 431, with no look-up', async () => {
      const { stub, app } = await setup()
      const res = await sendKey(app, 'k'.repeat(17 * 1024))
      expect(res.status).toBe(431)
      expect(stub.calls()).toBe(0)
      expect(app.seen).toHaveLength(0)
    })

    test('a well-formed key of exactly 4096 bytes is looked up and admitted', async () => {
      const longKey = `pk-${'k'.repeat(4093)}`
      const { stub, app } = await setup({}, { keys: { [longKey]: keyRecord({ id: 'key_long' }) } })
      const res = await sendKey(app, longKey)
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { keyId: 'key_long' } })
      expect(lookups(stub)).toBe(1)
    })
  })

  describe(`${framework}: Authorization: Bearer (issue 15), with bearer: true`, () => {
    const BEARER = { bearer: true } as const
    const bearer = (app: { url: string }, authorization: string, extra: Record<string, string> = {}) =>
      send(app.url + WHOAMI, { authorization, ...extra })

    test('a Bearer key alone is admitted with the same context, and the control plane gets it as x-portkey-api-key', async () => {
      const { stub, app } = await setup(BEARER)
      const res = await bearer(app, `Bearer ${LIVE}`)
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { keyId: 'key_live' } })
      expect(stub.log[0]?.headers['x-portkey-api-key']).toBe(LIVE)
      expect(stub.log[0]?.headers.authorization).toBeUndefined()
      // The scheme in any case, and the key sent either way, share one cache entry.
      expect((await bearer(app, `bearer ${LIVE}`)).status).toBe(200)
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(1)
      expect(app.seen.map((auth) => auth.keyId)).toEqual(['key_live', 'key_live', 'key_live'])
    })

    test('beside x-portkey-api-key, the Authorization (a provider key) is never looked up', async () => {
      const { stub, app } = await setup(BEARER)
      const res = await bearer(app, `Bearer ${OTHER}`, { 'x-portkey-api-key': LIVE })
      expect(res.json()).toMatchObject({ portkey: { keyId: 'key_live' } })
      expect(stub.log.map((call) => call.headers['x-portkey-api-key'])).toEqual([LIVE])
    })

    test('an unknown Bearer key is looked up once and refused 401 each time', async () => {
      const { stub, app } = await setup(BEARER)
      for (let i = 0; i < 3; i++) expectRejection(await bearer(app, `Bearer ${UNKNOWN}`), 401, 'invalid_api_key', [UNKNOWN])
      expect(lookups(stub)).toBe(1)
      expect(app.seen).toHaveLength(0)
    })

    test.each([
      ['"Bearer" with no token', 'Bearer'],
      ['Basic credentials', 'Basic dXNlcjpwYXNzd29yZA=='],
      ['"Bearer" glued to the key', `Bearer${LIVE}`],
    ])('%s: 401 missing_api_key naming both headers, no look-up', async (_name, authorization) => {
      const { stub, app } = await setup(BEARER)
      const res = await bearer(app, authorization)
      expectRejection(res, 401, 'missing_api_key', [LIVE])
      expect(res.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key", Bearer realm="portkey"')
      expect(stub.calls()).toBe(0)
    })

    test.each<{ name: string; authorization: string; status: number; code: AuthErrorCode }>([
      { name: 'a malformed token', authorization: `Bearer ${LIVE} x`, status: 401, code: 'invalid_api_key' },
      { name: 'a comma in the token', authorization: `Bearer ${LIVE},${OTHER}`, status: 400, code: 'invalid_request' },
      { name: 'a 4097-byte token', authorization: `Bearer ${'k'.repeat(4097)}`, status: 400, code: 'invalid_request' },
    ])('$name: $status $code with no look-up', async ({ authorization, status, code }) => {
      const { stub, app } = await setup(BEARER)
      expectRejection(await bearer(app, authorization), status, code, [LIVE, OTHER])
      expect(stub.calls()).toBe(0)
    })

    test('bearer off (the default): Authorization is never a credential, and the 401 names x-portkey-api-key only', async () => {
      const { stub, app } = await setup()
      const res = await bearer(app, `Bearer ${LIVE}`)
      expectRejection(res, 401, 'missing_api_key', [LIVE])
      expect(res.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key"')
      expect(stub.calls()).toBe(0)
      expect((await bearer(app, `Bearer ${OTHER}`, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    })
  })

  describe(`${framework}: the context`, () => {
    test('carries every field of the key record, and never the key', async () => {
      const key = 'pk-full-0123456789abcdef'
      const record = keyRecord({
        id: 'key_full',
        type: 'workspace-user',
        organisation_id: 'org_1',
        workspace_id: 'ws_1',
        user_id: 'user_1',
        scopes: ['completions.write', 'logs.read'],
        defaults: { config_id: 'pc-default-1', metadata: { team: 'search', _user: 'alice' } },
        rate_limits: [{ type: 'requests', unit: 'rpm', value: 100 }],
        usage_limits: { credit_limit: 50, type: 'cost', periodic_reset: 'monthly' },
        expires_at: '2099-01-02T03:04:05.678Z',
      })
      const { app } = await setup({}, { keys: { [key]: record } })
      const res = await sendKey(app, key)
      expect(res.status).toBe(200)
      expect(res.json()).toStrictEqual({
        portkey: {
          method: 'api_key',
          keyId: 'key_full',
          keyType: 'workspace-user',
          organisationId: 'org_1',
          workspaceId: 'ws_1',
          userId: 'user_1',
          scopes: ['completions.write', 'logs.read'],
          virtualKey: null,
          defaults: { configId: 'pc-default-1', metadata: { team: 'search', _user: 'alice' } },
          rateLimits: [{ type: 'requests', unit: 'rpm', value: 100 }],
          usageLimits: { credit_limit: 50, type: 'cost', periodic_reset: 'monthly' },
          expiresAt: '2099-01-02T03:04:05.678Z',
        },
        // The limit is enforced: this request is the first of its minute. Its quota is beside the context.
        quota: {
          limits: [
            {
              name: 'rpm',
              scope: 'api_key',
              type: 'requests',
              unit: 'rpm',
              limit: 100,
              remaining: 99,
              resetSeconds: expect.any(Number),
              windowSeconds: 60,
              usage: 0.01,
            },
          ],
          remaining: 99,
          resetSeconds: expect.any(Number),
          counting: 'local',
          headers: { 'ratelimit-policy': '"rpm";q=100;w=60', ratelimit: expect.stringMatching(/^"rpm";r=99;t=\d+$/) },
          nearLimit: [],
          overLimit: [],
        },
      })
      expect(res.text).not.toContain(key)
      expect(res.headers['ratelimit-policy']).toBe('"rpm";q=100;w=60')
      expect(res.headers.ratelimit).toMatch(/^"rpm";r=99;t=([1-9]|[1-5]\d|60)$/)

      const [auth] = app.seen
      expect(auth?.expiresAt).toBeInstanceOf(Date)
      expect(auth?.expiresAt?.toISOString()).toBe('2099-01-02T03:04:05.678Z')
      expect(Object.isFrozen(auth)).toBe(true)
      expect(JSON.stringify(auth)).not.toContain(key)
      expect(Object.values(auth ?? {})).not.toContain(key)
    })

    test('an organisation key with no optional fields gives nulls and empty values', async () => {
      const key = 'pk-org-0123456789abcdef'
      const record = keyRecord({
        id: 'key_org',
        type: 'organisation-service',
        workspace_id: null,
        user_id: null,
        scopes: ['workspaces.create'],
        defaults: null,
        rate_limits: null,
        usage_limits: null,
        expires_at: null,
      })
      const { app } = await setup({}, { keys: { [key]: record } })
      const res = await sendKey(app, key)
      expect(res.status).toBe(200)
      expect(res.json()).toStrictEqual({
        portkey: {
          method: 'api_key',
          keyId: 'key_org',
          keyType: 'organisation-service',
          organisationId: 'org_test',
          workspaceId: null,
          userId: null,
          scopes: ['workspaces.create'],
          virtualKey: null,
          defaults: { configId: null, metadata: {} },
          rateLimits: [],
          usageLimits: null,
          expiresAt: null,
        },
        quota: null,
      })
    })

    test('requests of one key share one frozen context', async () => {
      const { app } = await setup()
      await sendKey(app, LIVE)
      await sendKey(app, LIVE)
      expect(app.seen).toHaveLength(2)
      expect(app.seen[1]).toBe(app.seen[0])
    })
  })

  describe(`${framework}: look-ups`, () => {
    test('sequential requests for one key make one call', async () => {
      const { stub, app } = await setup()
      for (let i = 0; i < 5; i++) expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(1)
      expect(stub.calls()).toBe(1)
      expect(app.seen).toHaveLength(5)
    })

    test('50 concurrent cold requests for one key share one call', async () => {
      // The delay holds the one look-up open until every request has arrived.
      const { stub, app } = await setup({}, { delayMs: 100 })
      const responses = await Promise.all(Array.from({ length: 50 }, () => sendKey(app, LIVE)))
      expect(responses.map((res) => res.status)).toEqual(Array(50).fill(200))
      expect(lookups(stub)).toBe(1)
      expect(stub.peakInFlight).toBe(1)
      expect(app.seen).toHaveLength(50)
    })

    test('an unknown key asked for again and again makes one call', async () => {
      const { stub, app } = await setup({}, { delayMs: 20 })
      for (let i = 0; i < 3; i++) expectRejection(await sendKey(app, UNKNOWN), 401, 'invalid_api_key', [UNKNOWN])
      const burst = await Promise.all(Array.from({ length: 20 }, () => sendKey(app, UNKNOWN)))
      for (const res of burst) expectRejection(res, 401, 'invalid_api_key', [UNKNOWN])
      expect(lookups(stub)).toBe(1)
      expect(app.seen).toHaveLength(0)
    })

    test('each distinct key makes its own call', async () => {
      const { stub, app } = await setup()
      await Promise.all([sendKey(app, LIVE), sendKey(app, OTHER), sendKey(app, UNKNOWN), sendKey(app, LIVE)])
      expect(lookups(stub)).toBe(3)
      expect(stub.log.map((call) => call.headers['x-portkey-api-key']).sort()).toEqual([LIVE, OTHER, UNKNOWN].sort())
    })

    test('invalidate() on a shared verifier makes the next request ask again, and see the new record', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const verifier = createVerifier({ controlPlaneUrl: stub.url })
      const app = await useGuardedApp(framework, verifier)
      await sendKey(app, LIVE)
      stub.keys.set(LIVE, keyRecord({ id: 'key_live', scopes: ['completions.write', 'logs.write'] }))
      expect((await sendKey(app, LIVE)).json()).toMatchObject({ portkey: { scopes: ['completions.write'] } })
      expect(lookups(stub)).toBe(1)

      verifier.invalidate(LIVE)
      expect((await sendKey(app, LIVE)).json()).toMatchObject({ portkey: { scopes: ['completions.write', 'logs.write'] } })
      expect(lookups(stub)).toBe(2)
      await sendKey(app, LIVE)
      expect(lookups(stub)).toBe(2)
    })

    test('two apps given one verifier (as it, or as { verifier }) share its cache', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const verifier = createVerifier({ controlPlaneUrl: stub.url })
      const first = await useGuardedApp(framework, verifier)
      const second = await useGuardedApp(framework, { verifier })
      expect((await sendKey(first, LIVE)).status).toBe(200)
      expect((await sendKey(second, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(1)
      expect(verifier.stats()).toMatchObject({ hits: 1, misses: 1, lookups: 1 })
    })
  })

  describe(`${framework}: outages`, () => {
    test.each(['error', 'unavailable', 'garbled', 'reset'] as const)(
      "stub.fail('%s'): 503 for a key not in cache, a cached key still passes, and nothing is cached",
      async (mode) => {
        const { stub, app } = await setup()
        expect((await sendKey(app, LIVE)).status).toBe(200)
        stub.fail(mode)

        const res = await sendKey(app, OTHER)
        expectRejection(res, 503, 'auth_unavailable', [OTHER])
        expect(res.headers['retry-after']).toBe('1')
        // An answer (even a bad one) is not asked for again; a dropped connection may be retried once.
        const afterOutage = lookups(stub)
        if (mode === 'reset') expect([2, 3]).toContain(afterOutage)
        else expect(afterOutage).toBe(2)

        expect((await sendKey(app, LIVE)).status).toBe(200)
        expect(lookups(stub)).toBe(afterOutage)

        stub.heal()
        expect((await sendKey(app, OTHER)).status).toBe(200)
        expect(lookups(stub)).toBe(afterOutage + 1)
        expect(app.seen.map((auth) => auth.keyId)).toEqual(['key_live', 'key_live', 'key_other'])
      },
    )

    test("stub.fail('hang'): 503 once timeoutMs has passed, well within 2 s", async () => {
      const { stub, app } = await setup({ timeoutMs: 200 })
      stub.fail('hang')
      const started = performance.now()
      const res = await sendKey(app, LIVE)
      const elapsed = performance.now() - started
      expectRejection(res, 503, 'auth_unavailable', [LIVE])
      expect(elapsed).toBeGreaterThanOrEqual(190)
      expect(elapsed).toBeLessThan(2_000)
      expect(lookups(stub)).toBe(1)
      // The timed-out call was abandoned, not left open.
      await vi.waitFor(() => expect(stub.inFlight).toBe(0))
    })
  })

  describe(`${framework}: stale entries`, () => {
    // Sleeps only carry an entry past a deadline; what was served is judged by counting calls.
    const cache = { ttlMs: 50, staleMs: 10_000 }

    test('past ttlMs, a stale entry is served at once while one refresh runs', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const verifier = createVerifier({ controlPlaneUrl: stub.url, cache, timeoutMs: 5_000 })
      const app = await useGuardedApp(framework, verifier)
      expect((await sendKey(app, LIVE)).status).toBe(200)
      await sleep(cache.ttlMs + 30)
      stub.fail('hang') // the refresh cannot answer, so a request that waited for it would not get a 200

      expect((await sendKey(app, LIVE)).status).toBe(200)
      await vi.waitFor(() => expect(lookups(stub)).toBe(2))
      expect((await sendKey(app, LIVE)).status).toBe(200)
      // Counted by the verifier as well as the stub: a second refresh would be counted at once.
      expect(verifier.stats()).toMatchObject({ lookups: 2, pending: 1, stale: 2 })
      expect(lookups(stub)).toBe(2)
      expect(stub.inFlight).toBe(1)
    })

    test('past ttlMs, a stale entry is served while refreshes fail, and replaced once one succeeds', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const verifier = createVerifier({ controlPlaneUrl: stub.url, cache })
      const app = await useGuardedApp(framework, verifier)
      await sendKey(app, LIVE)
      await sleep(cache.ttlMs + 30)
      stub.fail('error')

      for (const failures of [1, 2]) {
        expect((await sendKey(app, LIVE)).status).toBe(200)
        await vi.waitFor(() => expect(verifier.stats()).toMatchObject({ failures, pending: 0 }))
        expect(lookups(stub)).toBe(1 + failures)
      }

      stub.heal()
      stub.keys.set(LIVE, keyRecord({ id: 'key_live', scopes: ['logs.read'] }))
      expect((await sendKey(app, LIVE)).json()).toMatchObject({ portkey: { scopes: ['completions.write'] } })
      await vi.waitFor(() => expect(verifier.stats()).toMatchObject({ lookups: 4, pending: 0 }))
      expect(verifier.stats()).toMatchObject({ stale: 3, failures: 2 })
      expect((await sendKey(app, LIVE)).json()).toMatchObject({ portkey: { scopes: ['logs.read'] } })
    })

    test('past staleMs, the entry is a miss: 503 while the control plane fails', async () => {
      const { stub, app } = await setup({ cache: { ttlMs: 50, staleMs: 50 } })
      expect((await sendKey(app, LIVE)).status).toBe(200)
      await sleep(150)
      stub.fail('error')
      expectRejection(await sendKey(app, LIVE), 503, 'auth_unavailable', [LIVE])
      expect(lookups(stub)).toBe(2)

      stub.heal()
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(3)
    })
  })

  describe(`${framework}: expiry`, () => {
    test('a cached key is refused once its expires_at passes, with no new call', async () => {
      const expiresAt = new Date(Date.now() + 300)
      const key = 'pk-short-lived-0123456789'
      const { stub, app } = await setup({}, { keys: { [key]: keyRecord({ expires_at: expiresAt.toISOString() }) } })
      const res = await sendKey(app, key)
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { expiresAt: expiresAt.toISOString() } })

      await sleep(expiresAt.getTime() - Date.now() + 20)
      expectRejection(await sendKey(app, key), 401, 'expired_api_key', [key])
      expect(lookups(stub)).toBe(1)
      expect(app.seen).toHaveLength(1)
    })
  })

  describe(`${framework}: environment`, () => {
    function stubEnv(vars: Record<string, string | undefined>) {
      for (const [name, value] of Object.entries(vars)) vi.stubEnv(name, value)
      onTestFinished(() => {
        vi.unstubAllEnvs()
      })
    }

    test('portkeyAuth() with no options reads PORTKEY_CONTROL_PLANE_URL and PORTKEY_CLIENT_AUTH', async () => {
      const stub = await useStub({ keys: seedKeys() })
      stubEnv({ PORTKEY_CONTROL_PLANE_URL: stub.url, PORTKEY_CLIENT_AUTH: 'Bearer dp-client-secret' })
      const app = await useGuardedApp(framework)
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(lookups(stub)).toBe(1)
      expect(stub.log[0]?.headers).toMatchObject({ authorization: 'Bearer dp-client-secret', 'x-portkey-api-key': LIVE })
    })

    test('the environment is read when the middleware is created', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const later = await useStub({ keys: seedKeys() })
      stubEnv({ PORTKEY_CONTROL_PLANE_URL: stub.url, PORTKEY_CLIENT_AUTH: 'Bearer first' })
      const app = await useGuardedApp(framework)
      stubEnv({ PORTKEY_CONTROL_PLANE_URL: later.url, PORTKEY_CLIENT_AUTH: 'Bearer later' })
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(stub.log.map((call) => call.headers.authorization)).toEqual(['Bearer first'])
      expect(later.calls()).toBe(0)
    })

    test('explicit options win over the environment', async () => {
      const stub = await useStub({ keys: seedKeys() })
      const decoy = await useStub({ keys: seedKeys() })
      stubEnv({ PORTKEY_CONTROL_PLANE_URL: decoy.url, PORTKEY_CLIENT_AUTH: 'Bearer from-env' })
      const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, clientAuth: 'Bearer explicit' })
      expect((await sendKey(app, LIVE)).status).toBe(200)
      expect(stub.log.map((call) => call.headers.authorization)).toEqual(['Bearer explicit'])
      expect(decoy.calls()).toBe(0)
    })

    test("with no clientAuth, the client's Authorization (a provider key) never reaches the control plane", async () => {
      const stub = await useStub({ keys: seedKeys() })
      stubEnv({ PORTKEY_CONTROL_PLANE_URL: stub.url, PORTKEY_CLIENT_AUTH: undefined })
      const app = await useGuardedApp(framework)
      const res = await send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, authorization: 'Bearer sk-provider-dummy' })
      expect(res.status).toBe(200)
      expect(lookups(stub)).toBe(1)
      expect(stub.log[0]?.headers.authorization).toBeUndefined()
      expect(JSON.stringify(stub.log)).not.toContain('sk-provider-dummy')
    })
  })

  describe(`${framework}: construction`, () => {
    test('invalid options throw a TypeError when the middleware is created', () => {
      expect(() => portkeyAuth({ controlPlaneUrl: 'ftp://127.0.0.1' })).toThrow(TypeError)
      expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', cache: { ttlMs: -1 } })).toThrow(TypeError)
      expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', timeoutMs: 0 })).toThrow(TypeError)
      const verifier = createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' })
      expect(() => portkeyAuth({ verifier, timeoutMs: 500 })).toThrow(TypeError)
      expect(() => portkeyAuth({ verifier })).not.toThrow()
    })
  })
}
