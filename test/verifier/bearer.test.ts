import { afterEach, describe, expect, test, vi } from 'vitest'
import { RefreshingCache } from '../../src/cache/refreshing-cache.js'
import { credentialTag } from '../../src/credential/tag.js'
import type { Decision, IncomingHeaders } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { createTestIssuer, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { countingLookup, expectAuthError } from '../support/core-helpers.js'
import { useStub } from '../support/servers.js'

// Issue 15 at the verifier: `Authorization: Bearer <key>` is read when x-portkey-api-key is absent (the
// `bearer` option, off by default), from Node's header object and from a Web Headers alike. Issue 22: a token
// that cannot be a Portkey credential (a provider's key; a JWT where JWTs are not verified) is never looked up.

const KEY = 'pk-bearer-live-0123456789'
const OTHER = 'pk-bearer-other-0123456789'
const PROVIDER = 'sk-proj-provider-0123456789abcdef'

const records = () => ({ [KEY]: keyRecord({ id: 'key_bearer', workspace_id: 'ws_b' }), [OTHER]: keyRecord({ id: 'key_other' }) })
const known = () => countingLookup((apiKey) => records()[apiKey as keyof ReturnType<typeof records>] ?? null)

const outcome = (verifier: Verifier, headers: IncomingHeaders | Headers) =>
  verifier.verify(headers).then(
    (auth) => ({ status: 200, keyId: auth.keyId }),
    (error: { status: number; code: string }) => ({ status: error.status, code: error.code }),
  )

afterEach(() => {
  vi.restoreAllMocks()
})

describe('bearer on', () => {
  test('verifier.bearer says so, and it is off by default', () => {
    expect(createVerifier({ lookup: known().lookup }).bearer).toBe(false)
    expect(createVerifier({ lookup: known().lookup, bearer: true }).bearer).toBe(true)
    expect(createVerifier({ lookup: known().lookup, bearer: false }).bearer).toBe(false)
  })

  test('a Bearer key gets the same context as the key in x-portkey-api-key, from one look-up and one cache entry', async () => {
    const { lookup, keys } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    const viaBearer = await verifier.verify({ authorization: `Bearer ${KEY}` })
    const viaHeader = await verifier.verify({ 'x-portkey-api-key': KEY })
    expect(viaBearer).toMatchObject({ keyId: 'key_bearer', workspaceId: 'ws_b' })
    expect(viaHeader).toBe(viaBearer)
    expect(keys).toEqual([KEY])
    expect(verifier.stats()).toMatchObject({ misses: 1, hits: 1, entries: 1 })
  })

  test('the control plane is asked with the key in x-portkey-api-key, and never gets the caller’s Authorization', async () => {
    const stub = await useStub({ keys: records() })
    const verifier = createVerifier({ bearer: true, controlPlaneUrl: stub.url, logger: false })
    expect(await outcome(verifier, { authorization: `bearer ${KEY}` })).toEqual({ status: 200, keyId: 'key_bearer' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(stub.log[0]?.headers['x-portkey-api-key']).toBe(KEY)
    expect(stub.log[0]?.headers.authorization).toBeUndefined()
  })

  test('both headers: x-portkey-api-key wins and the Authorization beside it is never looked up', async () => {
    const { lookup, keys } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    expect(await outcome(verifier, { 'x-portkey-api-key': KEY, authorization: `Bearer ${OTHER}` })).toEqual({
      status: 200,
      keyId: 'key_bearer',
    })
    expect(await outcome(verifier, { 'x-portkey-api-key': KEY, authorization: `Bearer ${PROVIDER}` })).toEqual({
      status: 200,
      keyId: 'key_bearer',
    })
    expect(keys).toEqual([KEY])
  })

  test.each([
    PROVIDER,
    'sk-ant-api03-0123456789abcdef',
    'sk-or-v1-0123456789abcdef',
    'AIzaSyA-0123456789abcdef',
    'gsk_0123456789abcdef',
    'xai-0123456789abcdef',
    'hf_0123456789abcdef',
    'AKIA0123456789ABCDEF',
  ])('a provider key (%s) alone in Authorization is never sent to the key service: 401 missing_api_key', async (token) => {
    const { lookup, keys } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    for (let i = 0; i < 3; i++) {
      const error = await expectAuthError(() => verifier.verify({ authorization: `Bearer ${token}` }), 'missing_api_key', 401)
      expect(error.message).toMatch(/x-portkey-api-key/)
      expect(error.message).not.toContain(token)
    }
    expect(keys).toEqual([])
  })

  test('a JWT (an app’s session token) in Authorization is never looked up when JWTs are not configured', async () => {
    const issuer = await createTestIssuer()
    const token = await issuer.sign({ sub: 'user_1', portkey_oid: 'org_1' })
    const { lookup, keys } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    await expectAuthError(() => verifier.verify({ authorization: `Bearer ${token}` }), 'missing_api_key', 401)
    expect(keys).toEqual([])
  })

  test.each<[string, string]>([
    ['Basic credentials', 'Basic dXNlcjpwYXNzd29yZA=='],
    ['"Bearer" with an empty token', 'Bearer'],
    ['"Bearer " and blanks', 'Bearer   '],
  ])('%s: 401 missing_api_key naming both headers, no look-up', async (_name, authorization) => {
    const counting = known()
    const verifier = createVerifier({ bearer: true, lookup: counting.lookup })
    const error = await expectAuthError(() => verifier.verify({ authorization }), 'missing_api_key', 401)
    expect(error.message).toMatch(/x-portkey-api-key header or as Authorization: Bearer <key>/)
    expect(error.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key", Bearer realm="portkey"')
    expect(counting.count).toBe(0)
  })

  test('a Bearer JWT is verified as a JWT', async () => {
    const issuer = await createTestIssuer()
    const verifier = createVerifier({
      bearer: true,
      lookup: known().lookup,
      jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience },
    })
    const token = await issuer.sign({ portkey_oid: 'org_j', portkey_workspace: 'ws_j', sub: 'user_j' })
    expect(await verifier.verify({ authorization: `Bearer ${token}` })).toMatchObject({
      method: 'jwt',
      organisationId: 'org_j',
      workspaceId: 'ws_j',
    })
  })

  test('invalidate(key) forgets a key that was sent as Bearer', async () => {
    const { lookup, keys } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    await verifier.verify({ authorization: `Bearer ${KEY}` })
    await verifier.verify({ authorization: `Bearer ${KEY}` })
    expect(keys).toHaveLength(1)
    await verifier.invalidate(KEY)
    await verifier.verify({ authorization: `Bearer ${KEY}` })
    expect(keys).toHaveLength(2)
  })

  test('the cache is keyed by the token’s tag, never by the token or the header value', async () => {
    const serve = vi.spyOn(RefreshingCache.prototype, 'serve')
    const load = vi.spyOn(RefreshingCache.prototype, 'load')
    const verifier = createVerifier({ bearer: true, lookup: known().lookup })
    await verifier.verify({ authorization: `Bearer ${KEY}` })
    await verifier.verify({ authorization: `bearer   ${KEY}` })
    const cacheKeys = [...serve.mock.calls, ...load.mock.calls].map((call) => call[0])
    expect(cacheKeys.length).toBeGreaterThanOrEqual(3)
    expect(new Set(cacheKeys)).toEqual(new Set([credentialTag(KEY)]))
    for (const key of cacheKeys) expect(key).not.toContain(KEY)
  })

  test('onDecision never sees the Bearer token', async () => {
    const events: Decision[] = []
    const verifier = createVerifier({ bearer: true, lookup: known().lookup, onDecision: (event) => events.push(event) })
    await verifier.verify({ authorization: `Bearer ${KEY}` })
    await verifier.verify({ authorization: `Bearer ${PROVIDER}` }).catch(() => {})
    expect(events.map((event) => [event.admitted, event.code])).toEqual([
      [true, null],
      [false, 'missing_api_key'],
    ])
    expect(JSON.stringify(events)).not.toContain(KEY)
    expect(JSON.stringify(events)).not.toContain(PROVIDER)
  })
})

describe('bearer: false', () => {
  test('a Bearer alone is a missing credential naming x-portkey-api-key only, with no look-up', async () => {
    const counting = known()
    const verifier = createVerifier({ lookup: counting.lookup, bearer: false })
    const error = await expectAuthError(() => verifier.verify({ authorization: `Bearer ${KEY}` }), 'missing_api_key', 401)
    expect(error.message).toBe('Missing credential: send your Portkey API key in the x-portkey-api-key header.')
    expect(error.headers).toStrictEqual({ 'www-authenticate': 'Portkey realm="portkey", header="x-portkey-api-key"' })
    expect(counting.count).toBe(0)
  })

  test('a request with only Authorization logs one warning (per verifier) saying how to turn Bearer on', async () => {
    const warnings: string[] = []
    const logger = { warn: (message: string) => warnings.push(message), info() {} }
    const verifier = createVerifier({ lookup: known().lookup, logger })
    for (let i = 0; i < 3; i++) {
      await expectAuthError(() => verifier.verify({ authorization: `Bearer ${KEY}` }), 'missing_api_key', 401)
      await expectAuthError(() => verifier.verify(new Headers({ authorization: `Bearer ${KEY}` })), 'missing_api_key', 401)
    }
    await expectAuthError(() => verifier.verify({}), 'missing_api_key', 401)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/bearer: true/)
    expect(warnings[0]).not.toContain(KEY)
    const quiet: string[] = []
    const other = createVerifier({ lookup: known().lookup, logger: { warn: (m: string) => quiet.push(m), info() {} } })
    await expectAuthError(() => other.verify({}), 'missing_api_key', 401)
    expect(quiet).toEqual([])
  })

  test('x-portkey-api-key works as before, the provider Authorization beside it ignored', async () => {
    const { lookup, keys } = known()
    const verifier = createVerifier({ lookup, bearer: false })
    expect(await outcome(verifier, { 'x-portkey-api-key': KEY, authorization: `Bearer ${PROVIDER}` })).toEqual({
      status: 200,
      keyId: 'key_bearer',
    })
    expect(keys).toEqual([KEY])
  })
})

describe('a Web Headers object', () => {
  /** A Headers that records the names read from it. */
  function counting(init: Record<string, string>) {
    const headers = new Headers(init)
    const reads: string[] = []
    const get = headers.get.bind(headers)
    Object.defineProperty(headers, 'get', {
      value: (name: string) => {
        reads.push(name.toLowerCase())
        return get(name)
      },
    })
    return Object.assign(headers, { reads })
  }

  test('Authorization: Bearer is read from it as from Node’s object', async () => {
    const { lookup } = known()
    const verifier = createVerifier({ bearer: true, lookup })
    expect(await outcome(verifier, new Headers({ Authorization: `Bearer ${KEY}` }))).toEqual({ status: 200, keyId: 'key_bearer' })
    expect(await outcome(verifier, new Headers({ 'X-Portkey-Api-Key': KEY, Authorization: `Bearer ${OTHER}` }))).toEqual({
      status: 200,
      keyId: 'key_bearer',
    })
    expect(await outcome(verifier, new Headers({ Authorization: 'Basic dXNlcjpwYXNz' }))).toEqual({
      status: 401,
      code: 'missing_api_key',
    })
  })

  test('one of another implementation (a get() method, not the global class) is read as a Headers', async () => {
    const verifier = createVerifier({ bearer: true, lookup: known().lookup })
    const values = new Map([['authorization', `Bearer ${KEY}`]])
    const foreign = { get: (name: string) => values.get(name.toLowerCase()) ?? null } as unknown as Headers
    expect(await outcome(verifier, foreign)).toEqual({ status: 200, keyId: 'key_bearer' })
  })

  test('Node’s object with a header named "get" stays Node’s object', async () => {
    const verifier = createVerifier({ bearer: true, lookup: known().lookup })
    expect(await outcome(verifier, { get: 'x', 'x-portkey-api-key': KEY })).toEqual({ status: 200, keyId: 'key_bearer' })
    expect(await outcome(verifier, { get: 'x', authorization: `Bearer ${KEY}` })).toEqual({ status: 200, keyId: 'key_bearer' })
  })

  test('two Authorization headers, which Headers joins with ", ", are a 400', async () => {
    const counting = known()
    const verifier = createVerifier({ bearer: true, lookup: counting.lookup })
    const twice = new Headers()
    twice.append('authorization', `Bearer ${KEY}`)
    twice.append('authorization', `Bearer ${OTHER}`)
    expect(await outcome(verifier, twice)).toEqual({ status: 400, code: 'invalid_request' })
    expect(counting.count).toBe(0)
  })

  test('with bearer: false (the default), Authorization is refused as missing', async () => {
    const verifier = createVerifier({ lookup: known().lookup, bearer: false })
    expect(await outcome(verifier, new Headers({ Authorization: `Bearer ${KEY}` }))).toEqual({
      status: 401,
      code: 'missing_api_key',
    })
  })

  test('Authorization is read only when x-portkey-api-key is absent', async () => {
    const on = createVerifier({ bearer: true, lookup: known().lookup })
    const off = createVerifier({ lookup: known().lookup, bearer: false })
    const withKey = counting({ 'x-portkey-api-key': KEY, authorization: `Bearer ${PROVIDER}` })
    await on.verify(withKey)
    expect(withKey.reads).toContain('x-portkey-api-key')
    expect(withKey.reads).not.toContain('authorization')
    const bearerOff = counting({ authorization: `Bearer ${KEY}` })
    await off.verify(bearerOff).catch(() => {})
    // Read once only to say (once per verifier) how to turn Bearer on.
    expect(bearerOff.reads.filter((name) => name === 'authorization')).toHaveLength(1)
    const bearerOnly = counting({ authorization: `Bearer ${KEY}` })
    await on.verify(bearerOnly)
    expect(bearerOnly.reads.filter((name) => name === 'authorization')).toHaveLength(1)
  })
})
