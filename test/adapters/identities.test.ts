import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  keyRecord,
  type TestIssuer,
  VIRTUAL_KEYS_PATH,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import type { Decision } from '../../src/types.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { verifyWithQuota } from '../support/core-helpers.js'
import { expectRejection, send, sendKey, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'

// Issue 22, hole 3: every identity the package keys anything by (counters, virtual-key answers) holds the
// organisation, the credential kind and, for a JWT, the issuer; a JWT's limits count per user, not per token.
// Apps of all five adapters over real HTTP against the control-plane stub; only Date is faked, so that no test
// straddles a window's edge.
const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
const SLUG = 'openai-shared'
const WORKSPACE = 'default'

let issuer: TestIssuer
/** A second identity provider, with its own `iss`, that the app trusts too (through an inline JWKS). */
let otherIssuer: TestIssuer
beforeAll(async () => {
  ;[issuer, otherIssuer] = await Promise.all([
    createTestIssuer('identity-key-1'),
    createTestIssuer('identity-key-2', { issuer: 'https://other-idp.portkey-auth.test/' }),
  ])
})
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

const claimsOf = (organisation: string, extra: Record<string, unknown> = {}) => ({
  portkey_oid: organisation,
  portkey_workspace: WORKSPACE,
  scope: 'portkey.completions.write',
  sub: 'user_1',
  ...extra,
})
const THREE_RPM = [{ type: 'requests', unit: 'rpm', value: 3 }]

async function setup(
  framework: AdapterName,
  stubOptions: Parameters<typeof useStub>[0] = {},
  onDecision?: (d: Decision) => void,
) {
  const stub = await useStub({ jwks: issuer.jwks, ...stubOptions })
  const app = await useGuardedApp(framework, {
    controlPlaneUrl: stub.url,
    jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
    onDecision,
  })
  return { stub, app }
}

const vkLookups = (stub: ControlPlaneStub) => stub.log.filter((call) => call.path === VIRTUAL_KEYS_PATH + SLUG)
const withSlug = (token: string) => ({ 'x-portkey-api-key': token, 'x-portkey-virtual-key': SLUG })

describe.each(ADAPTERS)('%s: JWT identities carry the organisation (issue 22, hole 3)', (framework) => {
  test('one user with a fresh jti per token: 4 tokens × 3 requests against 3 rpm → exactly 3 admitted', async () => {
    const { app } = await setup(framework)
    const statuses: number[] = []
    for (let token = 0; token < 4; token++) {
      const jwt = await issuer.sign(claimsOf('org_a', { jti: `tok_${token}`, rate_limits: THREE_RPM }))
      for (let i = 0; i < 3; i++) statuses.push((await sendKey(app, jwt)).status)
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(3)
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200])
    const refused = await sendKey(app, await issuer.sign(claimsOf('org_a', { jti: 'tok_last', rate_limits: THREE_RPM })))
    expect(expectRejection(refused, 429, 'rate_limit_exceeded').message).toContain('for this user')
  })

  test("org B's user with the same sub as a spent org-A user: admitted, its RateLimit header showing its own use only", async () => {
    const { app } = await setup(framework)
    const orgA = await issuer.sign(claimsOf('org_a', { rate_limits: THREE_RPM }))
    for (let i = 0; i < 3; i++) expect((await sendKey(app, orgA)).status).toBe(200)
    expect((await sendKey(app, orgA)).status).toBe(429)

    const orgB = await issuer.sign(claimsOf('org_b', { rate_limits: THREE_RPM }))
    const first = await sendKey(app, orgB)
    expect(first.status).toBe(200)
    expect(first.headers.ratelimit).toBe('"rpm";r=2;t=50')
  })

  test('the same org and sub from two issuers are two users', async () => {
    const stub = await useStub()
    const app = await useGuardedApp(framework, {
      controlPlaneUrl: stub.url,
      jwt: {
        jwks: { keys: [...issuer.jwks.keys, ...otherIssuer.jwks.keys] },
        issuer: [issuer.issuer, otherIssuer.issuer],
        audience: issuer.audience,
      },
    })
    const first = await issuer.sign(claimsOf('org_a', { rate_limits: THREE_RPM }))
    for (let i = 0; i < 3; i++) expect((await sendKey(app, first)).status).toBe(200)
    const other = await otherIssuer.sign(claimsOf('org_a', { rate_limits: THREE_RPM }))
    const res = await sendKey(app, other)
    expect(res.status).toBe(200)
    expect(res.headers.ratelimit).toBe('"rpm";r=2;t=50')
  })

  test("two orgs whose tokens name the same workspace slug: each org has its own virtual key's allowance and its own look-up", async () => {
    const { stub, app } = await setup(framework, {
      virtualKeys: {
        [SLUG]: virtualKeyRecord({
          slug: SLUG,
          workspace_id: WORKSPACE,
          rate_limits: [{ type: 'requests', unit: 'rpm', value: 2 }],
        }),
      },
    })
    const orgA = await issuer.sign(claimsOf('org_a', { sub: 'alice' }))
    expect((await send(app.url + WHOAMI, withSlug(orgA))).status).toBe(200)
    expect((await send(app.url + WHOAMI, withSlug(orgA))).status).toBe(200)
    expect((await send(app.url + WHOAMI, withSlug(orgA))).status).toBe(429)

    const orgB = await issuer.sign(claimsOf('org_b', { sub: 'bob' }))
    const first = await send(app.url + WHOAMI, withSlug(orgB))
    expect(first.status).toBe(200)
    expect(first.headers.ratelimit).toBe('"vk-rpm";r=1;t=50')
    expect(vkLookups(stub).map((call) => call.headers['x-portkey-api-key'])).toEqual([orgA, orgB])
  })

  test("a virtual key the control plane grants org A only: org B's user with the same sub and workspace gets its own look-up, and a 403", async () => {
    const { stub, app } = await setup(framework, {
      virtualKeys: { [SLUG]: virtualKeyRecord({ slug: SLUG, workspace_id: WORKSPACE }) },
      virtualKeyAccess: (_slug, _keyId, organisationId) => organisationId === 'org_a',
    })
    const orgA = await issuer.sign(claimsOf('org_a'))
    expect((await send(app.url + WHOAMI, withSlug(orgA))).status).toBe(200)
    const orgB = await issuer.sign(claimsOf('org_b'))
    expectRejection(await send(app.url + WHOAMI, withSlug(orgB)), 403, 'virtual_key_not_allowed', [orgB])
    expect(vkLookups(stub)).toHaveLength(2)
    expect(app.seen.map((auth) => auth.organisationId)).toEqual(['org_a'])
  })

  test('a token without jti: keyId (context and onDecision) is a stable pseudonym, never the e-mail in sub', async () => {
    const decisions: Decision[] = []
    const { app } = await setup(framework, {}, (decision) => decisions.push(decision))
    const email = 'alice@example.com'
    const tokens = [
      await issuer.sign(claimsOf('org_a', { sub: email, email_id: email })),
      await issuer.sign(claimsOf('org_a', { sub: email, email_id: email, iat: Math.floor(T0 / 1000) - 5 })),
      await issuer.sign(claimsOf('org_b', { sub: email, email_id: email })),
    ]
    expect(new Set(tokens).size).toBe(3)
    const keyIds: string[] = []
    for (const token of tokens) {
      const res = await sendKey(app, token)
      expect(res.status).toBe(200)
      keyIds.push(res.json<{ portkey: { keyId: string } }>().portkey.keyId)
    }
    for (const keyId of keyIds) expect(keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    // One user's two tokens share the id; the same sub in another organisation is another user.
    expect(keyIds[0]).toBe(keyIds[1])
    expect(keyIds[2]).not.toBe(keyIds[0])
    expect(decisions.map((decision) => decision.keyId)).toEqual(keyIds)
    expect(JSON.stringify(decisions)).not.toContain('alice')
  })
})

describe.each(ADAPTERS)('%s: API keys of two organisations whose records carry the same ids', (framework) => {
  // A custom lookup, or two control planes' worth of records, may repeat a key id or a workspace id; only the
  // organisation tells them apart.
  const KEY_A = 'pk-org-a-0123456789abcdef'
  const KEY_B = 'pk-org-b-0123456789abcdef'
  const record = (organisation: string) =>
    keyRecord({ id: 'key_same', organisation_id: organisation, workspace_id: 'ws_same', rate_limits: THREE_RPM })

  test("count apart: org B's first request is admitted with its own RateLimit", async () => {
    const stub = await useStub({ keys: { [KEY_A]: record('org_a'), [KEY_B]: record('org_b') } })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    for (let i = 0; i < 3; i++) expect((await sendKey(app, KEY_A)).status).toBe(200)
    expect((await sendKey(app, KEY_A)).status).toBe(429)
    const first = await sendKey(app, KEY_B)
    expect(first.status).toBe(200)
    expect(first.headers.ratelimit).toBe('"rpm";r=2;t=50')
  })

  test('get their own virtual-key answers: org B is refused what the control plane granted org A, after its own look-up', async () => {
    const stub = await useStub({
      keys: { [KEY_A]: record('org_a'), [KEY_B]: record('org_b') },
      virtualKeys: { [SLUG]: virtualKeyRecord({ slug: SLUG, workspace_id: 'ws_same' }) },
      virtualKeyAccess: (_slug, _keyId, organisationId) => organisationId === 'org_a',
    })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    expect((await send(app.url + WHOAMI, withSlug(KEY_A))).status).toBe(200)
    expectRejection(await send(app.url + WHOAMI, withSlug(KEY_B)), 403, 'virtual_key_not_allowed', [KEY_B])
    expect(vkLookups(stub)).toHaveLength(2)
  })
})

describe('a verifier without HTTP', () => {
  test('per-user counting holds through verify() too: tokens of one user share its allowance', async () => {
    const stub = await useStub({ jwks: issuer.jwks })
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
      logger: false,
    })
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const token = await issuer.sign(claimsOf('org_a', { jti: `t${i}`, rate_limits: THREE_RPM }))
      statuses.push(
        await verifier.verify({ 'x-portkey-api-key': token }).then(
          () => 200,
          (error: { status: number }) => error.status,
        ),
      )
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429])
    await verifier.close()
  })

  test('tokens reported for a request (its quota, or verifier.reportTokens of its context) count against the user, whatever the token', async () => {
    const stub = await useStub({ jwks: issuer.jwks })
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
      logger: false,
    })
    const limits = [{ type: 'tokens', unit: 'rpm', value: 100 }]
    const verify = async (jti: string) =>
      verifyWithQuota(verifier, { 'x-portkey-api-key': await issuer.sign(claimsOf('org_a', { jti, rate_limits: limits })) })
    await (await verify('t1')).quota!.reportTokens(60)
    await verifier.reportTokens((await verify('t2')).auth, 40)
    await expect(verify('t3')).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    // Another organisation's user with the same sub has all of its own.
    const orgB = await issuer.sign(claimsOf('org_b', { jti: 't1', rate_limits: limits }))
    await expect(verifier.verify({ 'x-portkey-api-key': orgB })).resolves.toMatchObject({ organisationId: 'org_b' })
    await verifier.close()
  })
})
