import type { OutgoingHttpHeaders } from 'node:http'
import { describe, expect, test } from 'vitest'
import { controlPlaneVirtualKeyLookup } from '../../src/lookup/control-plane.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { VirtualKeyRecord } from '../../src/types.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  KEY_DETAILS_PATH,
  keyRecord,
  VIRTUAL_KEYS_PATH,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import { type RawResponse, send, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'

const LIVE = 'pk-live-0123456789abcdef'
const TEAMMATE = 'pk-teammate-0123456789abcdef'
const ELSEWHERE = 'pk-elsewhere-0123456789abcdef'
const ORG = 'pk-org-0123456789abcdef'

const keys = () => ({
  [LIVE]: keyRecord({ id: 'key_live', workspace_id: 'ws_test' }),
  [TEAMMATE]: keyRecord({ id: 'key_teammate', workspace_id: 'ws_test' }),
  [ELSEWHERE]: keyRecord({ id: 'key_elsewhere', workspace_id: 'ws_other' }),
  [ORG]: keyRecord({
    id: 'key_org',
    type: 'organisation-service',
    workspace_id: null,
    scopes: ['completions.write', 'virtual_keys.list'],
  }),
})

const virtualKeys = (): Record<string, VirtualKeyRecord> => ({
  // The provider differs from the slug, so the context shows it came from ai_provider_name.
  'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'azure-openai' }),
  'Azure_EU.west-2': virtualKeyRecord({ slug: 'Azure_EU.west-2', ai_provider_name: 'azure-openai' }),
  'other-ws': virtualKeyRecord({ slug: 'other-ws', ai_provider_name: 'anthropic', workspace_id: 'ws_other' }),
  'vk-exhausted': virtualKeyRecord({ slug: 'vk-exhausted', status: 'exhausted' }),
  'vk-archived': virtualKeyRecord({ slug: 'vk-archived', status: 'archived' }),
  'vk-expired': virtualKeyRecord({ slug: 'vk-expired', status: 'expired' }),
  'vk-past': virtualKeyRecord({ slug: 'vk-past', expires_at: new Date(Date.now() - 60_000).toISOString() }),
})

const vkPath = (slug: string) => VIRTUAL_KEYS_PATH + slug
const vkCalls = (stub: ControlPlaneStub) => stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH))

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  403: 'permission_error',
  412: 'usage_limit_error',
  503: 'service_unavailable_error',
}

/** Asserts the status and the whole body `{ status, message, error: { message, type, code } }`; returns the message. */
function expectError(res: RawResponse, status: number, code: string): string {
  expect({ status: res.status, text: res.text }).toMatchObject({ status })
  const body = res.json<{ message: string }>()
  expect(body).toStrictEqual({
    status: 'failure',
    message: expect.stringMatching(/\S/),
    error: { message: body.message, type: TYPE_BY_STATUS[status], code },
  })
  return body.message
}

describe.each(ADAPTERS)('%s: virtual keys', (framework: AdapterName) => {
  async function setup(options: MiddlewareOptions = {}) {
    const stub = await useStub({ keys: keys(), virtualKeys: virtualKeys() })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, ...options })
    const call = (headers: OutgoingHttpHeaders, key = LIVE) => send(app.url + WHOAMI, { 'x-portkey-api-key': key, ...headers })
    return { stub, app, call }
  }

  test.each<{ name: string; headers: OutgoingHttpHeaders }>([
    { name: 'x-portkey-virtual-key', headers: { 'x-portkey-virtual-key': 'openai-prod' } },
    { name: "x-portkey-provider '@slug'", headers: { 'x-portkey-provider': '@openai-prod' } },
    {
      name: 'both, naming the same slug',
      headers: { 'x-portkey-virtual-key': 'openai-prod', 'x-portkey-provider': '@openai-prod' },
    },
  ])('$name: resolved with one look-up and attached as { slug, provider, status }', async ({ headers }) => {
    const { stub, app, call } = await setup()
    const res = await call(headers)
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({
      portkey: {
        keyId: 'key_live',
        virtualKey: { slug: 'openai-prod', provider: 'azure-openai', status: 'active', rateLimits: [] },
      },
    })
    expect(app.seen[0]?.virtualKey).toStrictEqual({
      slug: 'openai-prod',
      provider: 'azure-openai',
      status: 'active',
      rateLimits: [],
    })
    expect(stub.calls(vkPath('openai-prod'))).toBe(1)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test.each<{ name: string; headers: OutgoingHttpHeaders }>([
    { name: 'no virtual-key header', headers: {} },
    { name: "a plain provider ('openai')", headers: { 'x-portkey-provider': 'openai' } },
    { name: 'an empty x-portkey-virtual-key', headers: { 'x-portkey-virtual-key': '' } },
  ])('$name: virtualKey is null, and no virtual-key call is made', async ({ headers }) => {
    const { stub, app, call } = await setup()
    const res = await call(headers)
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ portkey: { keyId: 'key_live', virtualKey: null } })
    expect(app.seen).toHaveLength(1)
    expect(vkCalls(stub)).toHaveLength(0)
  })

  test("repeated requests make one look-up, and '@slug' shares the entry with the header form", async () => {
    const { stub, app, call } = await setup()
    for (let i = 0; i < 3; i++) expect((await call({ 'x-portkey-virtual-key': 'openai-prod' })).status).toBe(200)
    for (let i = 0; i < 3; i++) expect((await call({ 'x-portkey-provider': '@openai-prod' })).status).toBe(200)
    expect(stub.calls(vkPath('openai-prod'))).toBe(1)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(app.seen.map((auth) => auth.virtualKey?.slug)).toEqual(Array(6).fill('openai-prod'))
    // Requests without a virtual key still get the key's own context.
    expect((await call({})).json()).toMatchObject({ portkey: { virtualKey: null } })
    expect(vkCalls(stub)).toHaveLength(1)
  })

  test('concurrent cold requests for one virtual key share one look-up', async () => {
    const { stub, call } = await setup()
    stub.delayMs = 50
    const responses = await Promise.all(Array.from({ length: 20 }, () => call({ 'x-portkey-virtual-key': 'openai-prod' })))
    expect(responses.map((res) => res.status)).toEqual(Array(20).fill(200))
    expect(stub.calls(vkPath('openai-prod'))).toBe(1)
  })

  test('each key gets its own entry (the answer is the caller’s); a key of another workspace is refused', async () => {
    const { stub, call } = await setup()
    expect((await call({ 'x-portkey-virtual-key': 'openai-prod' }, LIVE)).status).toBe(200)
    expect((await call({ 'x-portkey-virtual-key': 'openai-prod' }, TEAMMATE)).status).toBe(200)
    expect((await call({ 'x-portkey-virtual-key': 'openai-prod' }, TEAMMATE)).status).toBe(200)
    expect(stub.calls(vkPath('openai-prod'))).toBe(2)

    expectError(await call({ 'x-portkey-virtual-key': 'openai-prod' }, ELSEWHERE), 403, 'virtual_key_not_allowed')
    expect(stub.calls(vkPath('openai-prod'))).toBe(3)
    // ...and ws_other's own virtual key works for it, but not for ws_test.
    expect((await call({ 'x-portkey-virtual-key': 'other-ws' }, ELSEWHERE)).json()).toMatchObject({
      portkey: { virtualKey: { slug: 'other-ws', provider: 'anthropic' } },
    })
    expectError(await call({ 'x-portkey-virtual-key': 'other-ws' }, LIVE), 403, 'virtual_key_not_allowed')
  })

  test.each<{ name: string; headers: OutgoingHttpHeaders }>([
    { name: "'../x'", headers: { 'x-portkey-virtual-key': '../x' } },
    { name: "'%2e'", headers: { 'x-portkey-virtual-key': '%2e' } },
    { name: "'a%2Fb'", headers: { 'x-portkey-virtual-key': 'a%2Fb' } },
    { name: "'a b'", headers: { 'x-portkey-virtual-key': 'a b' } },
    { name: "'.hidden'", headers: { 'x-portkey-virtual-key': '.hidden' } },
    { name: '129 characters', headers: { 'x-portkey-virtual-key': 'v'.repeat(129) } },
    { name: 'a latin-1 letter', headers: { 'x-portkey-virtual-key': 'ópenai' } },
    { name: 'two x-portkey-virtual-key headers', headers: { 'x-portkey-virtual-key': ['openai-prod', 'openai-prod'] } },
    { name: "'@../x' in x-portkey-provider", headers: { 'x-portkey-provider': '@../x' } },
    {
      name: 'two headers naming different slugs',
      headers: { 'x-portkey-virtual-key': 'openai-prod', 'x-portkey-provider': '@other-ws' },
    },
  ])('$name: 400 invalid_request, with no call at all', async ({ headers }) => {
    const { stub, app, call } = await setup()
    expectError(await call(headers), 400, 'invalid_request')
    expect(stub.calls()).toBe(0)
    expect(app.seen).toHaveLength(0)
  })

  test('every refusal (unknown, another workspace, archived, expired, past expires_at) gives one identical 403', async () => {
    const { stub, app, call } = await setup()
    const slugs = ['no-such-key', 'other-ws', 'vk-archived', 'vk-expired', 'vk-past']
    const responses: RawResponse[] = []
    for (const slug of slugs) responses.push(await call({ 'x-portkey-virtual-key': slug }))
    for (const res of responses) expectError(res, 403, 'virtual_key_not_allowed')
    expect(new Set(responses.map((res) => res.text)).size).toBe(1)
    expect(responses[0]?.text).not.toContain('no-such-key')
    expect(responses[1]?.text).not.toContain('ws_other')
    expect(responses.map((res) => res.headers['www-authenticate'])).toEqual(Array(slugs.length).fill(undefined))
    for (const slug of slugs) expect(stub.calls(vkPath(slug))).toBe(1)
    expect(app.seen).toHaveLength(0)
  })

  test('an unknown slug asked for again is answered from cache', async () => {
    const { stub, call } = await setup()
    for (let i = 0; i < 3; i++)
      expectError(await call({ 'x-portkey-virtual-key': 'no-such-key' }), 403, 'virtual_key_not_allowed')
    expect(stub.calls(vkPath('no-such-key'))).toBe(1)
  })

  test('an organisation key (no workspace) naming a virtual key: 403 with no virtual-key call', async () => {
    const { stub, app, call } = await setup()
    expectError(await call({ 'x-portkey-virtual-key': 'openai-prod' }, ORG), 403, 'virtual_key_not_allowed')
    expectError(await call({ 'x-portkey-provider': '@openai-prod' }, ORG), 403, 'virtual_key_not_allowed')
    expect(vkCalls(stub)).toHaveLength(0)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(app.seen).toHaveLength(0)
    // The organisation key itself is fine without one.
    expect((await call({}, ORG)).status).toBe(200)
  })

  test('an exhausted virtual key: 412 usage_limit_exceeded', async () => {
    const { stub, app, call } = await setup()
    const message = expectError(await call({ 'x-portkey-virtual-key': 'vk-exhausted' }), 412, 'usage_limit_exceeded')
    expect(message).toMatch(/virtual key/i)
    expect(stub.calls(vkPath('vk-exhausted'))).toBe(1)
    expect(app.seen).toHaveLength(0)
  })

  test.each(['error', 'unavailable', 'garbled', 'reset'] as const)(
    "stub.fail('%s') on the virtual-key call: 503 auth_unavailable with Retry-After, and nothing cached",
    async (mode) => {
      const { stub, app, call } = await setup()
      expect((await call({})).status).toBe(200) // the key is cached; only the virtual-key call can fail now
      stub.fail(mode)
      const res = await call({ 'x-portkey-virtual-key': 'openai-prod' })
      expectError(res, 503, 'auth_unavailable')
      expect(res.headers['retry-after']).toBe('1')
      // fetch may retry a GET whose kept-alive connection was reset, so 'reset' can count two calls.
      const failed = stub.calls(vkPath('openai-prod'))
      expect(failed).toBeGreaterThanOrEqual(1)
      expect(failed).toBeLessThanOrEqual(mode === 'reset' ? 2 : 1)

      stub.heal()
      expect((await call({ 'x-portkey-virtual-key': 'openai-prod' })).status).toBe(200)
      expect(stub.calls(vkPath('openai-prod'))).toBe(failed + 1)
      expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
      expect(app.seen).toHaveLength(2)
    },
  )

  test('the virtual-key call carries the caller’s credential and clientAuth, never the client’s Authorization', async () => {
    const { stub, call } = await setup({ clientAuth: 'Bearer dp-client-secret' })
    const res = await call({ 'x-portkey-virtual-key': 'openai-prod', authorization: 'Bearer sk-provider-dummy' }, TEAMMATE)
    expect(res.status).toBe(200)
    const [vkCall] = vkCalls(stub)
    expect(vkCalls(stub)).toHaveLength(1)
    expect(vkCall).toMatchObject({ method: 'GET', path: '/v2/virtual-keys/openai-prod' })
    expect(vkCall?.headers['x-portkey-api-key']).toBe(TEAMMATE)
    expect(vkCall?.headers.authorization).toBe('Bearer dp-client-secret')
    expect(JSON.stringify(stub.log)).not.toContain('sk-provider-dummy')
  })

  test('a JWT caller’s token is sent on the virtual-key call', async () => {
    const issuer = await createTestIssuer()
    const { stub, call } = await setup({ jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } })
    const token = await issuer.sign({
      portkey_oid: 'org_test',
      portkey_workspace: 'ws_test',
      sub: 'user_1',
      scope: 'portkey.completions.write',
    })
    const res = await call({ 'x-portkey-provider': '@openai-prod' }, token)
    expect(res.json()).toMatchObject({
      portkey: { method: 'jwt', virtualKey: { slug: 'openai-prod', provider: 'azure-openai' } },
    })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(0)
    expect(vkCalls(stub).map((c) => c.headers['x-portkey-api-key'])).toEqual([token])
  })

  test('the slug goes into the path as it is, every allowed character included', async () => {
    const { stub, call } = await setup()
    const res = await call({ 'x-portkey-virtual-key': 'Azure_EU.west-2' })
    expect(res.json()).toMatchObject({ portkey: { virtualKey: { slug: 'Azure_EU.west-2' } } })
    expect(vkCalls(stub).map((c) => c.path)).toEqual(['/v2/virtual-keys/Azure_EU.west-2'])
  })
})

describe('controlPlaneVirtualKeyLookup', () => {
  test('URL-encodes the slug into one path segment', async () => {
    // Slugs with such characters never get past the verifier; a custom caller of the look-up may still pass one.
    const stub = await useStub({ keys: keys(), virtualKeys: { 'a b/../c?d': virtualKeyRecord({ slug: 'a b/../c?d' }) } })
    const lookup = controlPlaneVirtualKeyLookup(stub.url, 'Bearer dp')
    const record = await lookup('a b/../c?d', { credential: LIVE, signal: AbortSignal.timeout(2_000) })
    expect(record).toMatchObject({ slug: 'a b/../c?d' })
    expect(stub.log.map((c) => c.path)).toEqual(['/v2/virtual-keys/a%20b%2F..%2Fc%3Fd'])
    expect(stub.log[0]?.headers).toMatchObject({ 'x-portkey-api-key': LIVE, authorization: 'Bearer dp' })
  })
})
