import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import type { AuthErrorBody } from '../../src/errors.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  JWKS_PATH,
  KEY_DETAILS_PATH,
  keyRecord,
  type TestIssuer,
  VIRTUAL_KEYS_PATH,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { useApp } from '../support/apps.js'
import {
  contractFramework,
  expectRejection,
  type RawResponse,
  send,
  sendKey,
  useGuardedApp,
  useStub,
  WHOAMI,
} from '../support/servers.js'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowSec = () => Math.floor(Date.now() / 1000)

const ORG = 'org_jwt'
const WORKSPACE = 'ws_jwt'
const CLAIMS = {
  portkey_oid: ORG,
  portkey_workspace: WORKSPACE,
  scope: 'portkey.completions.write portkey.logs.read',
  sub: 'user_1',
}

let issuer: TestIssuer
/** The key the organisation rotates to. */
let rotated: TestIssuer
/** Another key pair under the issuer's kid. */
let forger: TestIssuer

beforeAll(async () => {
  ;[issuer, rotated, forger] = await Promise.all([
    createTestIssuer('adapter-key-1'),
    createTestIssuer('adapter-key-2'),
    createTestIssuer('adapter-key-1'),
  ])
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllEnvs()
})

const jwksFetches = (stub: ControlPlaneStub) => stub.calls(JWKS_PATH)
const keyLookups = (stub: ControlPlaneStub) => stub.calls(KEY_DETAILS_PATH)

/** `jwt` options verifying the test issuer's tokens against the stub's JWKS. */
const jwtOf = (stub: ControlPlaneStub) => ({ jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience })

/** A stub serving the issuer's JWKS, and an app of `framework` verifying JWTs against it. */
async function setup(framework: AdapterName, options: MiddlewareOptions = {}) {
  const stub = await useStub({ jwks: issuer.jwks })
  const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, jwt: jwtOf(stub), ...options })
  return { stub, app }
}

function expect403(res: RawResponse, code: 'insufficient_scope' | 'virtual_key_not_allowed'): AuthErrorBody {
  expect({ status: res.status, text: res.text }).toMatchObject({ status: 403 })
  const body = res.json<AuthErrorBody>()
  expect(body).toStrictEqual({
    status: 'failure',
    message: body.message,
    error: { message: body.message, type: 'permission_error', code },
  })
  return body
}

/**
 * What a refused token looks like over HTTP. Which tokens are refused, with which cause and how many
 * JWKS fetches, is the table in test/credential/jwt.test.ts; these two cover both ways to a refusal:
 * after the JWKS fetch, and from the header alone.
 */
const REFUSED_TOKENS: { name: string; token: () => Promise<string>; fetches: number }[] = [
  { name: 'signed by another key under the right kid', token: () => forger.sign(CLAIMS), fetches: 1 },
  {
    name: "with alg 'none'",
    token: async () => `${b64({ alg: 'none', kid: issuer.kid })}.${b64({ ...CLAIMS, exp: nowSec() + 600 })}.`,
    fetches: 0,
  },
]

describe.each(ADAPTERS)('%s: JWT credentials', (framework) => {
  test('a valid token is admitted with its context, and no key look-up', async () => {
    const { stub, app } = await setup(framework)
    const exp = nowSec() + 900
    const token = await issuer.sign({ ...CLAIMS, email_id: 'alice@example.com', jti: 'tok_alice', exp })
    const res = await sendKey(app, token)
    expect(res.status).toBe(200)
    expect(res.json()).toStrictEqual({
      portkey: {
        method: 'jwt',
        keyId: 'tok_alice',
        keyType: 'workspace-user',
        organisationId: ORG,
        workspaceId: WORKSPACE,
        userId: 'alice@example.com',
        scopes: ['completions.write', 'logs.read'],
        virtualKey: null,
        defaults: { configId: null, metadata: {} },
        rateLimits: [],
        usageLimits: null,
        expiresAt: new Date(exp * 1000).toISOString(),
      },
      quota: null,
    })
    expect(res.text).not.toContain(token)
    expect(app.seen[0]?.expiresAt).toEqual(new Date(exp * 1000))
    expect(jwksFetches(stub)).toBe(1)
    expect(keyLookups(stub)).toBe(0)
    expect(stub.calls()).toBe(1)
  })

  test('the JWKS is fetched once for many requests and many tokens, concurrent or not', async () => {
    const { stub, app } = await setup(framework)
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, n) => issuer.sign({ ...CLAIMS, jti: `tok_${n}` })))
    const burst = await Promise.all(tokens.map((token) => sendKey(app, token)))
    expect(burst.map((res) => res.status)).toEqual(Array(10).fill(200))
    for (const token of tokens) expect((await sendKey(app, token)).status).toBe(200)
    const later = await issuer.sign({ ...CLAIMS, jti: 'tok_later' })
    expect((await sendKey(app, later)).json()).toMatchObject({ portkey: { keyId: 'tok_later' } })

    expect(jwksFetches(stub)).toBe(1)
    expect(keyLookups(stub)).toBe(0)
    // The burst may reach the route in any order; the sequential requests after it in order.
    const ids = tokens.map((_, n) => `tok_${n}`)
    const seen = app.seen.map((auth) => auth.keyId)
    expect(seen.slice(0, 10).sort()).toEqual([...ids].sort())
    expect(seen.slice(10)).toEqual([...ids, 'tok_later'])
  })

  test('requests with one token share one frozen context', async () => {
    const { app } = await setup(framework)
    const token = await issuer.sign(CLAIMS)
    await sendKey(app, token)
    await sendKey(app, token)
    expect(app.seen).toHaveLength(2)
    expect(app.seen[1]).toBe(app.seen[0])
    expect(Object.isFrozen(app.seen[0])).toBe(true)
  })

  test.each(REFUSED_TOKENS)(
    'a token $name: 401 invalid_token with the challenge, route not reached, no key look-up',
    async ({ token, fetches }) => {
      const { stub, app } = await setup(framework)
      const raw = await token()
      const res = await sendKey(app, raw)
      expectRejection(res, 401, 'invalid_token', [raw])
      expect(res.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key", error="invalid_token"')
      expect(app.seen).toHaveLength(0)
      expect(keyLookups(stub)).toBe(0)
      expect(jwksFetches(stub)).toBe(fetches)

      // Refused once, refused again, with nothing new fetched.
      expectRejection(await sendKey(app, raw), 401, 'invalid_token', [raw])
      expect(stub.calls()).toBe(fetches)
    },
  )

  describe('JWKS outages', () => {
    const MODES = [
      { name: "stub.fail('error')", prepare: (stub: ControlPlaneStub) => stub.fail('error') },
      { name: "stub.fail('unavailable')", prepare: (stub: ControlPlaneStub) => stub.fail('unavailable') },
      { name: "stub.fail('garbled')", prepare: (stub: ControlPlaneStub) => stub.fail('garbled') },
      { name: "stub.fail('reset')", prepare: (stub: ControlPlaneStub) => stub.fail('reset') },
      { name: "stub.fail('hang') past timeoutMs", prepare: (stub: ControlPlaneStub) => stub.fail('hang') },
      {
        name: 'a JWKS that is no key set',
        prepare: (stub: ControlPlaneStub) => {
          stub.jwks = { keys: 'nope' } as unknown as { keys: object[] }
        },
      },
    ]

    test.each(MODES)('$name before the first fetch: 503 auth_unavailable with Retry-After, not cached', async ({ prepare }) => {
      const { stub, app } = await setup(framework, { timeoutMs: 200 })
      prepare(stub)
      const token = await issuer.sign(CLAIMS)
      const res = await sendKey(app, token)
      expectRejection(res, 503, 'auth_unavailable', [token])
      expect(res.headers['retry-after']).toBe('1')
      expect(res.headers['www-authenticate']).toBeUndefined()
      expect(jwksFetches(stub)).toBe(1)
      expect(keyLookups(stub)).toBe(0)
      expect(app.seen).toHaveLength(0)

      stub.heal()
      stub.jwks = issuer.jwks
      expect((await sendKey(app, token)).status).toBe(200)
      expect(jwksFetches(stub)).toBe(2)
      expect(app.seen).toHaveLength(1)
    })

    test('an outage after the first fetch: known kids still verify, with no fetch', async () => {
      const { stub, app } = await setup(framework)
      expect((await sendKey(app, await issuer.sign({ ...CLAIMS, jti: 'before' }))).status).toBe(200)
      stub.fail('error')
      const res = await sendKey(app, await issuer.sign({ ...CLAIMS, jti: 'during' }))
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { keyId: 'during' } })
      expect(jwksFetches(stub)).toBe(1)
    })
  })

  describe('key rotation', () => {
    test("a new kid is refused, with no fetch, within jose's 30 s cooldown; accepted once it has passed", async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      const start = Date.now()
      const { stub, app } = await setup(framework)
      expect((await sendKey(app, await issuer.sign(CLAIMS))).status).toBe(200)
      expect(jwksFetches(stub)).toBe(1)

      stub.jwks = { keys: [...issuer.jwks.keys, ...rotated.jwks.keys] }
      const early = await rotated.sign({ ...CLAIMS, jti: 'early' })
      expectRejection(await sendKey(app, early), 401, 'invalid_token', [early])
      vi.setSystemTime(start + 20_000)
      const stillEarly = await rotated.sign({ ...CLAIMS, jti: 'still-early' })
      expectRejection(await sendKey(app, stillEarly), 401, 'invalid_token', [stillEarly])
      expect(jwksFetches(stub)).toBe(1)

      vi.setSystemTime(start + 31_000)
      const fresh = await rotated.sign({ ...CLAIMS, jti: 'after-cooldown' })
      const res = await sendKey(app, fresh)
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { keyId: 'after-cooldown' } })
      expect(jwksFetches(stub)).toBe(2)

      // The refetched set serves both kids from now on, with no further fetch.
      expect((await sendKey(app, await rotated.sign({ ...CLAIMS, jti: 'next' }))).status).toBe(200)
      expect((await sendKey(app, await issuer.sign({ ...CLAIMS, jti: 'old-kid' }))).status).toBe(200)
      expect(jwksFetches(stub)).toBe(2)
      expect(keyLookups(stub)).toBe(0)
    })

    test('a flood of unknown kids past the cooldown makes one extra fetch', async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      const start = Date.now()
      const { stub, app } = await setup(framework)
      expect((await sendKey(app, await issuer.sign(CLAIMS))).status).toBe(200)
      vi.setSystemTime(start + 31_000)
      const bogus = await Promise.all(Array.from({ length: 10 }, (_, n) => issuer.sign(CLAIMS, { kid: `bogus-${n}` })))
      for (const token of bogus) expectRejection(await sendKey(app, token), 401, 'invalid_token', [token])
      expect(jwksFetches(stub)).toBe(2)
    })
  })

  describe('configuration', () => {
    test('env PORTKEY_JWKS_URL, PORTKEY_JWT_ISSUER and PORTKEY_JWT_AUDIENCE turn JWT on for portkeyAuth() with no options; API keys still work', async () => {
      const apiKey = 'pk-live-env-0123456789'
      const stub = await useStub({ jwks: issuer.jwks, keys: { [apiKey]: keyRecord({ id: 'key_env' }) } })
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
      vi.stubEnv('PORTKEY_JWKS_URL', stub.jwksUrl)
      vi.stubEnv('PORTKEY_JWT_ISSUER', `https://unused.example,${issuer.issuer}`)
      vi.stubEnv('PORTKEY_JWT_AUDIENCE', issuer.audience)
      vi.stubEnv('PORTKEY_CLIENT_AUTH', undefined)
      const app = await useGuardedApp(framework)

      const res = await sendKey(app, await issuer.sign({ ...CLAIMS, jti: 'tok_env' }))
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { method: 'jwt', keyId: 'tok_env', organisationId: ORG } })
      expect(jwksFetches(stub)).toBe(1)
      expect(keyLookups(stub)).toBe(0)

      const otherApp = await issuer.sign({ ...CLAIMS, aud: 'another-api' })
      expectRejection(await sendKey(app, otherApp), 401, 'invalid_token', [otherApp])

      expect((await sendKey(app, apiKey)).json()).toMatchObject({ portkey: { method: 'api_key', keyId: 'key_env' } })
      expect(keyLookups(stub)).toBe(1)
    })

    test('env PORTKEY_JWKS_URL alone (no PORTKEY_JWT_ISSUER / PORTKEY_JWT_AUDIENCE): portkeyAuth() throws a TypeError at start-up', async () => {
      const stub = await useStub({ jwks: issuer.jwks })
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
      vi.stubEnv('PORTKEY_JWKS_URL', stub.jwksUrl)
      vi.stubEnv('PORTKEY_JWT_ISSUER', undefined)
      vi.stubEnv('PORTKEY_JWT_AUDIENCE', undefined)
      const factory = () => contractFramework(framework).portkeyAuth()
      expect(() => factory()).toThrow(TypeError)
      expect(() => factory()).toThrow(
        /set jwt\.issuer \(or env PORTKEY_JWT_ISSUER\) to .* jwt\.audience \(or env PORTKEY_JWT_AUDIENCE\) to/,
      )
      expect(stub.calls()).toBe(0)
    })

    test('env PORTKEY_JWT_ISSUER=false and PORTKEY_JWT_AUDIENCE=false opt out: a token with neither claim is admitted', async () => {
      const stub = await useStub({ jwks: issuer.jwks })
      vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
      vi.stubEnv('PORTKEY_JWKS_URL', stub.jwksUrl)
      vi.stubEnv('PORTKEY_JWT_ISSUER', 'false')
      vi.stubEnv('PORTKEY_JWT_AUDIENCE', 'false')
      const app = await useGuardedApp(framework)
      const res = await sendKey(app, await issuer.sign({ ...CLAIMS, iss: undefined, aud: undefined, jti: 'tok_env_open' }))
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ portkey: { method: 'jwt', keyId: 'tok_env_open' } })
    })

    test('explicit jwt.issuer and jwt.audience win over the env', async () => {
      const stub = await useStub({ jwks: issuer.jwks })
      vi.stubEnv('PORTKEY_JWT_ISSUER', 'false')
      vi.stubEnv('PORTKEY_JWT_AUDIENCE', 'another-api')
      const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, jwt: jwtOf(stub) })
      expect((await sendKey(app, await issuer.sign(CLAIMS))).status).toBe(200)
      const foreign = await issuer.sign({ ...CLAIMS, iss: 'https://other.example', aud: 'another-api' })
      expectRejection(await sendKey(app, foreign), 401, 'invalid_token', [foreign])
    })
  })

  describe('virtual keys', () => {
    async function setupWithVirtualKeys() {
      const stub = await useStub({
        jwks: issuer.jwks,
        virtualKeys: {
          'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai', workspace_id: WORKSPACE }),
          elsewhere: virtualKeyRecord({ slug: 'elsewhere', workspace_id: 'ws_other' }),
        },
      })
      const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, jwt: jwtOf(stub) })
      return { stub, app }
    }

    const vkCalls = (stub: ControlPlaneStub, slug: string) => stub.log.filter((call) => call.path === VIRTUAL_KEYS_PATH + slug)

    test.each([
      ['x-portkey-virtual-key: <slug>', { 'x-portkey-virtual-key': 'openai-prod' }],
      ['x-portkey-provider: @<slug>', { 'x-portkey-provider': '@openai-prod' }],
    ])('%s resolves for a JWT caller of its workspace, sending the token on the look-up', async (_name, headers) => {
      const { stub, app } = await setupWithVirtualKeys()
      const token = await issuer.sign(CLAIMS)
      for (let i = 0; i < 2; i++) {
        const res = await send(app.url + WHOAMI, { 'x-portkey-api-key': token, ...headers })
        expect(res.status).toBe(200)
        expect(res.json()).toMatchObject({
          portkey: {
            method: 'jwt',
            workspaceId: WORKSPACE,
            virtualKey: { slug: 'openai-prod', provider: 'openai', status: 'active', rateLimits: [] },
          },
        })
      }
      const calls = vkCalls(stub, 'openai-prod')
      expect(calls).toHaveLength(1)
      expect(calls[0]?.headers['x-portkey-api-key']).toBe(token)
      expect(keyLookups(stub)).toBe(0)
      expect(jwksFetches(stub)).toBe(1)
    })

    test('a virtual key of another workspace: 403 virtual_key_not_allowed', async () => {
      const { stub, app } = await setupWithVirtualKeys()
      const token = await issuer.sign(CLAIMS)
      expect403(
        await send(app.url + WHOAMI, { 'x-portkey-api-key': token, 'x-portkey-virtual-key': 'elsewhere' }),
        'virtual_key_not_allowed',
      )
      expect(vkCalls(stub, 'elsewhere')).toHaveLength(1)
      expect(app.seen).toHaveLength(0)
    })

    test('a token with no workspace may use no virtual key, and causes no look-up', async () => {
      const { stub, app } = await setupWithVirtualKeys()
      const token = await issuer.sign({ portkey_oid: ORG, scope: 'completions.write' })
      expect403(
        await send(app.url + WHOAMI, { 'x-portkey-api-key': token, 'x-portkey-virtual-key': 'openai-prod' }),
        'virtual_key_not_allowed',
      )
      expect(stub.calls()).toBe(1)
      expect(jwksFetches(stub)).toBe(1)
    })
  })

  describe('permissions', () => {
    /** `/logs` needs logs.read, `/logs/new` logs.write, both behind `portkeyAuth(options)`. */
    const startGuarded = (options: MiddlewareOptions) =>
      useApp(framework, {
        auth: options,
        routes: [
          { path: '/logs', scopes: ['logs.read'], answer: () => ({ ok: '/logs' }) },
          { path: '/logs/new', scopes: ['logs.write'], answer: () => ({ ok: '/logs/new' }) },
          { method: 'POST', path: '/v1/chat/completions', answer: () => ({ ok: 'chat' }) },
        ],
      })

    test('requirePermissions checks the scopes of the token, prefix removed', async () => {
      const stub = await useStub({ jwks: issuer.jwks })
      const app = await startGuarded({ controlPlaneUrl: stub.url, jwt: jwtOf(stub) })
      const token = await issuer.sign({ ...CLAIMS, scope: 'portkey.logs.read' })

      const allowed = await send(`${app.url}/logs`, { 'x-portkey-api-key': token })
      expect(allowed.status).toBe(200)
      expect(allowed.json()).toEqual({ ok: '/logs' })

      const denied = await send(`${app.url}/logs/new`, { 'x-portkey-api-key': token })
      const body = expect403(denied, 'insufficient_scope')
      expect(body.message).toContain('logs.write')
      expect(keyLookups(stub)).toBe(0)
      expect(jwksFetches(stub)).toBe(1)
    })

    test.each([
      ['portkey.completions.write', 200],
      ['portkey.logs.read', 403],
    ])("scopes: 'portkey' and a token with scope %s: POST /v1/chat/completions → %i", async (scope, status) => {
      const stub = await useStub({ jwks: issuer.jwks })
      const app = await startGuarded({ controlPlaneUrl: stub.url, jwt: jwtOf(stub), scopes: 'portkey' })
      const res = await send(
        `${app.url}/v1/chat/completions`,
        { 'x-portkey-api-key': await issuer.sign({ ...CLAIMS, scope }) },
        { method: 'POST' },
      )
      if (status === 200) expect(res.json()).toEqual({ ok: 'chat' })
      else expect403(res, 'insufficient_scope')
    })
  })
})
