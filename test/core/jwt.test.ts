import { errors, type JWTPayload, SignJWT } from 'jose'
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { ClaimsError } from '../../src/core/claims.js'
import { type AuthError } from '../../src/core/errors.js'
import { isJwtShaped, type JwtOptions, resolveJwtOptions } from '../../src/core/jwt.js'
import { resolveOptions } from '../../src/core/options.js'
import { createVerifier, type Verifier } from '../../src/core/verifier.js'
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js'
import { countingLookup, expectAuthError, withKey } from '../support/core-helpers.js'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowSec = () => Math.floor(Date.now() / 1000)

const CLAIMS = { portkey_oid: 'org_jwt', portkey_workspace: 'ws_jwt', scope: 'portkey.completions.write portkey.logs.read', sub: 'user_1' }

let issuer: TestIssuer
/** Another RSA key pair that claims the same kid: a forger who knows the kid but not the key. */
let forger: TestIssuer

beforeAll(async () => {
  ;[issuer, forger] = await Promise.all([createTestIssuer('core-key-1'), createTestIssuer('core-key-1')])
})

afterEach(() => {
  vi.useRealTimers()
})

describe('isJwtShaped', () => {
  test.each([
    ['three base64url parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_x', true],
    ['an empty third part (unsigned)', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', true],
    ['two parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0', false],
    ['four parts', 'a.b.c.d', false],
    ['an empty first part', '.eyJzdWIiOiIxIn0.sig', false],
    ['an empty second part', 'eyJhbGciOiJSUzI1NiJ9..sig', false],
    ['standard base64 "+"', 'eyJhbGci+iJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig', false],
    ['standard base64 "/"', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIi/iIxIn0.sig', false],
    ['padding "="', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0=.sig', false],
    ['a space', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIi OiIxIn0.sig', false],
    ['a Portkey API key', 'pk-live-0123456789abcdef', false],
    ['a trailing newline', 'a.b.c\n', false],
  ])('%s: %s', (_name, credential, shaped) => {
    expect(isJwtShaped(credential)).toBe(shaped)
  })
})

describe('resolveJwtOptions', () => {
  const JWKS_URL = 'http://127.0.0.1:9/.well-known/jwks.json'

  test.each([
    ['no options, empty env', undefined, {}],
    ['no options, PORTKEY_JWKS_URL empty', undefined, { PORTKEY_JWKS_URL: '' }],
    ['other env only', undefined, { PORTKEY_CONTROL_PLANE_URL: 'http://127.0.0.1:9' }],
  ])('null when unconfigured: %s', (_name, options, env) => {
    expect(resolveJwtOptions(options, env, 2_000)).toBeNull()
  })

  test('env PORTKEY_JWKS_URL turns it on, with the defaults', () => {
    const resolved = resolveJwtOptions(undefined, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)
    expect(resolved).not.toBeNull()
    expect(resolved?.keys).toBeTypeOf('function')
    expect(resolved).toMatchObject({ algorithms: ['RS256'], issuer: undefined, audience: undefined, clockToleranceSec: 5 })
  })

  test('env PORTKEY_JWKS_URL also fills in a jwt object with no source', () => {
    const resolved = resolveJwtOptions({ issuer: 'https://idp.example' }, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)
    expect(resolved).toMatchObject({ issuer: 'https://idp.example', clockToleranceSec: 5 })
  })

  test('resolveOptions reads PORTKEY_JWKS_URL from its env', () => {
    expect(resolveOptions({}, {}).jwt).toBeNull()
    expect(resolveOptions({}, { PORTKEY_JWKS_URL: JWKS_URL }).jwt).not.toBeNull()
  })

  test('an inline jwks wins over env PORTKEY_JWKS_URL (no "both" error)', () => {
    expect(resolveJwtOptions({ jwks: issuer.jwks }, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)).not.toBeNull()
  })

  test('explicit settings are kept', () => {
    const options: JwtOptions = { jwks: issuer.jwks, algorithms: ['RS256', 'ES256'], issuer: ['a', 'b'], audience: 'portkey', clockToleranceSec: 0 }
    expect(resolveJwtOptions(options, {}, 2_000)).toMatchObject({
      algorithms: ['RS256', 'ES256'],
      issuer: ['a', 'b'],
      audience: 'portkey',
      clockToleranceSec: 0,
    })
  })

  test.each<[string, JwtOptions, RegExp]>([
    ["'none' in algorithms", { jwksUrl: JWKS_URL, algorithms: ['RS256', 'none'] }, /algorithms/],
    ["'NONE' in algorithms", { jwksUrl: JWKS_URL, algorithms: ['NONE'] }, /algorithms/],
    ['HS256 in algorithms', { jwksUrl: JWKS_URL, algorithms: ['HS256'] }, /algorithms/],
    ['HS512 beside RS256', { jwks: { keys: [] }, algorithms: ['RS256', 'HS512'] }, /algorithms/],
    ['an empty algorithms list', { jwksUrl: JWKS_URL, algorithms: [] }, /algorithms/],
    ['both jwksUrl and jwks', { jwksUrl: JWKS_URL, jwks: { keys: [] } }, /not both/],
    ['a jwksUrl that is no URL', { jwksUrl: 'not a url' }, /jwksUrl must be an http\(s\) URL/],
    ['an empty jwksUrl', { jwksUrl: '' }, /jwksUrl must be an http\(s\) URL/],
    ['a file: jwksUrl', { jwksUrl: 'file:///etc/passwd' }, /jwksUrl must be an http\(s\) URL/],
    ['an ftp: jwksUrl', { jwksUrl: 'ftp://127.0.0.1/jwks.json' }, /jwksUrl must be an http\(s\) URL/],
    ['jwt: {} with no source anywhere', {}, /jwksUrl or jwks/],
    ['a negative clockToleranceSec', { jwksUrl: JWKS_URL, clockToleranceSec: -1 }, /clockToleranceSec/],
    ['a NaN clockToleranceSec', { jwksUrl: JWKS_URL, clockToleranceSec: Number.NaN }, /clockToleranceSec/],
    ['a string clockToleranceSec', { jwksUrl: JWKS_URL, clockToleranceSec: '5' as unknown as number }, /clockToleranceSec/],
    ['settings but no source', { issuer: 'https://idp.example', audience: 'portkey' }, /jwksUrl or jwks/],
    ['a jwks that is no key set', { jwks: { keys: 'nope' } as unknown as JwtOptions['jwks'] }, /JSON Web Key Set/],
  ])('TypeError: %s', (_name, options, message) => {
    expect(() => resolveJwtOptions(options, {}, 2_000)).toThrow(TypeError)
    expect(() => resolveJwtOptions(options, {}, 2_000)).toThrow(message)
  })

  test('createVerifier throws the same TypeError at construction', () => {
    expect(() => createVerifier({ jwt: { jwks: issuer.jwks, algorithms: ['HS256'] } })).toThrow(TypeError)
    expect(() => createVerifier({ jwt: null as unknown as JwtOptions })).toThrow(TypeError)
  })
})

describe('createVerifier({ jwt: { jwks } }) with an inline JWKS', () => {
  /** A verifier whose API-key look-up counts its calls: a JWT must never reach it. */
  function setup(jwt: Partial<JwtOptions> = {}) {
    const fake = countingLookup(() => null)
    const verifier = createVerifier({ lookup: fake.lookup, jwt: { jwks: issuer.jwks, ...jwt } })
    return { fake, verifier }
  }

  const verify = (verifier: Verifier, token: string) => verifier.verify(withKey(token))

  test('a valid token gives its context, with no API-key look-up', async () => {
    const { fake, verifier } = setup()
    const exp = nowSec() + 600
    const auth = await verify(verifier, await issuer.sign({ ...CLAIMS, jti: 'tok_1', exp }))
    expect(auth).toMatchObject({
      method: 'jwt',
      keyId: 'tok_1',
      keyType: 'workspace-user',
      organisationId: 'org_jwt',
      workspaceId: 'ws_jwt',
      userId: 'user_1',
      scopes: ['completions.write', 'logs.read'],
      virtualKey: null,
      expiresAt: new Date(exp * 1000),
    })
    expect(fake.count).toBe(0)
  })

  test('a token with neither jti nor sub gets a key id derived from its fingerprint', async () => {
    const { verifier } = setup()
    const first = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1', uid: 'u1' }))
    const second = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1', uid: 'u1', nonce: 'other' }))
    expect(first.keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(second.keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(first.keyId).not.toBe(second.keyId)
    expect(first.userId).toBe('u1')
  })

  interface BadToken {
    name: string
    token: () => Promise<string>
    jwt?: Partial<JwtOptions>
    /** The kind of error kept as `cause`. */
    cause: new (...args: never[]) => Error
  }

  const BAD_TOKENS: BadToken[] = [
    { name: 'expired an hour ago', token: () => issuer.sign({ ...CLAIMS, exp: nowSec() - 3600 }), cause: errors.JWTExpired },
    { name: 'expired 30 s ago (past the 5 s tolerance)', token: () => issuer.sign({ ...CLAIMS, exp: nowSec() - 30 }), cause: errors.JWTExpired },
    { name: 'with no exp', token: () => issuer.sign({ ...CLAIMS, exp: undefined }), cause: errors.JWTClaimValidationFailed },
    {
      name: 'with a tampered signature',
      token: async () => {
        const [header, payload, signature] = (await issuer.sign(CLAIMS)).split('.') as [string, string, string]
        const middle = Math.floor(signature.length / 2)
        const flipped = signature[middle] === 'A' ? 'B' : 'A'
        return `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}`
      },
      cause: errors.JWSSignatureVerificationFailed,
    },
    {
      name: 'with a tampered payload (another organisation)',
      token: async () => {
        const [header, , signature] = (await issuer.sign(CLAIMS)).split('.') as [string, string, string]
        return `${header}.${b64({ ...CLAIMS, portkey_oid: 'org_victim', exp: nowSec() + 600 })}.${signature}`
      },
      cause: errors.JWSSignatureVerificationFailed,
    },
    { name: 'signed by another key under the right kid', token: () => forger.sign(CLAIMS), cause: errors.JWSSignatureVerificationFailed },
    { name: 'with a kid the JWKS does not hold', token: () => issuer.sign(CLAIMS, { kid: 'unknown-kid' }), cause: errors.JWKSNoMatchingKey },
    { name: 'with no kid (even with a one-key JWKS)', token: () => issuer.sign(CLAIMS, { kid: undefined }), cause: errors.JWSInvalid },
    { name: 'with an empty kid', token: () => issuer.sign(CLAIMS, { kid: '' }), cause: errors.JWSInvalid },
    { name: 'with no organisation claim', token: () => issuer.sign({ portkey_workspace: 'ws_jwt', sub: 'user_1' }), cause: ClaimsError },
    {
      name: "with alg 'none' (unsigned)",
      token: async () => `${b64({ alg: 'none', typ: 'JWT', kid: issuer.kid })}.${b64({ ...CLAIMS, exp: nowSec() + 600 })}.`,
      cause: errors.JOSEAlgNotAllowed,
    },
    {
      name: 'signed HS256 with a shared secret',
      token: () =>
        new SignJWT(CLAIMS)
          .setProtectedHeader({ alg: 'HS256', kid: issuer.kid })
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')),
      cause: errors.JOSEAlgNotAllowed,
    },
    {
      name: 'of another issuer when issuer is configured',
      token: () => issuer.sign({ ...CLAIMS, iss: 'https://evil.example' }),
      jwt: { issuer: 'https://idp.example' },
      cause: errors.JWTClaimValidationFailed,
    },
    {
      name: 'with no iss when issuer is configured',
      token: () => issuer.sign(CLAIMS),
      jwt: { issuer: 'https://idp.example' },
      cause: errors.JWTClaimValidationFailed,
    },
    {
      name: 'for another audience when audience is configured',
      token: () => issuer.sign({ ...CLAIMS, aud: 'some-other-api' }),
      jwt: { audience: 'portkey' },
      cause: errors.JWTClaimValidationFailed,
    },
    {
      name: 'not valid before a minute from now',
      token: () => issuer.sign({ ...CLAIMS, nbf: nowSec() + 60 }),
      cause: errors.JWTClaimValidationFailed,
    },
  ]

  test.each(BAD_TOKENS)('a token $name: 401 invalid_token, the jose error kept as cause', async ({ token, jwt, cause }) => {
    const { fake, verifier } = setup(jwt)
    const raw = await token()
    expect(isJwtShaped(raw)).toBe(true)
    const error: AuthError = await expectAuthError(() => verify(verifier, raw), 'invalid_token', 401)
    expect(error.cause).toBeInstanceOf(cause)
    expect(error.headers['www-authenticate']).toContain('error="invalid_token"')
    expect(error.message).not.toContain(raw)
    expect(fake.count).toBe(0)
  })

  test.each([
    ['the configured issuer and audience', { issuer: 'https://idp.example', audience: 'portkey' }, { iss: 'https://idp.example', aud: 'portkey' }],
    ['one of several issuers and audiences', { issuer: ['https://a.example', 'https://b.example'], audience: ['x', 'portkey'] }, { iss: 'https://b.example', aud: ['portkey'] }],
  ])('a token with %s is admitted', async (_name, jwt, claims) => {
    const { verifier } = setup(jwt)
    await expect(verify(verifier, await issuer.sign({ ...CLAIMS, ...claims }))).resolves.toMatchObject({ organisationId: 'org_jwt' })
  })

  test.each([
    ['2 s in the past, within the default 5 s tolerance: admitted', {}, -2, true],
    ['30 s in the past, past the default tolerance: refused', {}, -30, false],
    ['30 s in the past with clockToleranceSec 60: admitted', { clockToleranceSec: 60 }, -30, true],
    ['2 s in the past with clockToleranceSec 0: refused', { clockToleranceSec: 0 }, -2, false],
  ])('exp %s', async (_name, jwt, offsetSec, admitted) => {
    const { verifier } = setup(jwt)
    const token = await issuer.sign({ ...CLAIMS, exp: nowSec() + offsetSec })
    if (admitted) await expect(verify(verifier, token)).resolves.toMatchObject({ method: 'jwt', organisationId: 'org_jwt' })
    else await expectAuthError(() => verify(verifier, token), 'invalid_token', 401)
  })

  test('a valid token is verified once: repeated verify() calls are cache hits sharing one frozen context', async () => {
    const { verifier } = setup()
    const token = await issuer.sign(CLAIMS)
    const first = await verify(verifier, token)
    for (let i = 0; i < 10; i++) expect(await verify(verifier, token)).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expect(verifier.stats()).toMatchObject({ lookups: 1, misses: 1, hits: 10, failures: 0, entries: 1 })
  })

  test('concurrent first requests for one token share one verification', async () => {
    const { verifier } = setup()
    const token = await issuer.sign(CLAIMS)
    const all = await Promise.all(Array.from({ length: 20 }, () => verify(verifier, token)))
    expect(new Set(all).size).toBe(1)
    expect(verifier.stats()).toMatchObject({ lookups: 1, misses: 20 })
  })

  test('each distinct token is verified once', async () => {
    const { verifier } = setup()
    const tokens = await Promise.all([1, 2, 3].map((n) => issuer.sign({ ...CLAIMS, jti: `tok_${n}` })))
    for (const token of [...tokens, ...tokens, ...tokens]) await verify(verifier, token)
    expect(verifier.stats()).toMatchObject({ lookups: 3, hits: 6, entries: 3 })
  })

  test('a refused token is remembered too: repeating it does not verify again', async () => {
    const { verifier } = setup()
    const token = await issuer.sign(CLAIMS, { kid: 'unknown-kid' })
    for (let i = 0; i < 5; i++) await expectAuthError(() => verify(verifier, token), 'invalid_token', 401)
    expect(verifier.stats()).toMatchObject({ lookups: 1, hits: 4 })
  })

  test('a cached token is refused once its exp (plus tolerance) has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const start = Date.now()
    const { verifier } = setup()
    const token = await issuer.sign({ ...CLAIMS, exp: Math.floor(start / 1000) + 60 })
    await verify(verifier, token)
    vi.setSystemTime(start + 30_000)
    await verify(verifier, token)
    expect(verifier.stats()).toMatchObject({ lookups: 1, hits: 1 })

    vi.setSystemTime(start + 66_000)
    const error = await expectAuthError(() => verify(verifier, token), 'invalid_token', 401)
    expect(error.message).toMatch(/exp/)
  })

  test('invalidate(token) makes the next request verify it again', async () => {
    const { verifier } = setup()
    const token = await issuer.sign(CLAIMS)
    await verify(verifier, token)
    verifier.invalidate(token)
    await verify(verifier, token)
    expect(verifier.stats()).toMatchObject({ lookups: 2, hits: 0 })
  })

  test('an API key (not JWT-shaped) still goes to the key look-up', async () => {
    const { fake, verifier } = setup()
    await expectAuthError(() => verify(verifier, 'pk-live-0123456789abcdef'), 'invalid_api_key', 401)
    expect(fake.keys).toEqual(['pk-live-0123456789abcdef'])
  })

  test('without jwt configured, a valid token is just an unknown API key', async () => {
    const fake = countingLookup(() => null)
    const verifier = createVerifier({ lookup: fake.lookup })
    const token = await issuer.sign(CLAIMS)
    await expectAuthError(() => verify(verifier, token), 'invalid_api_key', 401)
    expect(fake.keys).toEqual([token])
  })

  test('the claims given to the context are the verified ones', async () => {
    const { verifier } = setup()
    const claims: JWTPayload = {
      organisation_id: 'org_2',
      workspace_slug: 'ws_2',
      scopes: ['portkey.logs.write', 'portkey.logs.write'],
      email_id: 'bob@example.com',
      defaults: { config_id: 'pc-2', metadata: { team: 'b' } },
      rate_limits: [{ type: 'tokens', unit: 'rpm', value: 1000 }],
      usage_limits: { credit_limit: 3, type: 'cost' },
    }
    await expect(verify(verifier, await issuer.sign(claims))).resolves.toMatchObject({
      organisationId: 'org_2',
      workspaceId: 'ws_2',
      scopes: ['logs.write'],
      userId: 'bob@example.com',
      defaults: { configId: 'pc-2', metadata: { team: 'b' } },
      rateLimits: [{ type: 'tokens', unit: 'rpm', value: 1000 }],
      usageLimits: { credit_limit: 3, type: 'cost' },
    })
  })
})
