import { inspect } from 'node:util'
import {
  CompactSign,
  createLocalJWKSet,
  decodeJwt,
  errors,
  exportJWK,
  generateKeyPair,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { isJwtShaped } from '../../src/credential/header.js'
import { type AuthError, ClaimsError } from '../../src/errors.js'
import type { JwtOptions } from '../../src/options/jwt-options.js'
import { resolveJwtOptions } from '../../src/options/jwt.js'
import { resolveOptions } from '../../src/options/resolve.js'
import type { CheckStatus } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  JWKS_PATH,
  startControlPlaneStub,
  type TestIssuer,
} from '../../src/testing/index.js'
import { countingLookup, expectAuthError, withKey } from '../support/core-helpers.js'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowSec = () => Math.floor(Date.now() / 1000)

const CLAIMS = {
  portkey_oid: 'org_jwt',
  portkey_workspace: 'ws_jwt',
  scope: 'portkey.completions.write portkey.logs.read',
  sub: 'user_1',
}

let issuer: TestIssuer
/** Another RSA key pair that claims the same kid: a forger who knows the kid but not the key. */
let forger: TestIssuer

beforeAll(async () => {
  ;[issuer, forger] = await Promise.all([createTestIssuer('core-key-1'), createTestIssuer('core-key-1')])
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllEnvs()
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

  /** The env of a set-up that turns JWT on by env alone. */
  const ENV = { PORTKEY_JWKS_URL: JWKS_URL, PORTKEY_JWT_ISSUER: 'https://idp.example', PORTKEY_JWT_AUDIENCE: 'portkey' }
  /** What every jwt option object needs besides its key source. */
  const CHECKS = { issuer: 'https://idp.example', audience: 'portkey' }

  test('env PORTKEY_JWKS_URL turns it on, with the defaults and the env issuer and audience', () => {
    const resolved = resolveJwtOptions(undefined, ENV, 2_000)
    expect(resolved).not.toBeNull()
    expect(resolved?.keys).toBeTypeOf('function')
    expect(resolved).toMatchObject({
      algorithms: ['RS256'],
      issuer: ['https://idp.example'],
      audience: ['portkey'],
      clockToleranceSec: 5,
    })
  })

  test('env PORTKEY_JWKS_URL also fills in a jwt object with no source', () => {
    const resolved = resolveJwtOptions(CHECKS, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)
    expect(resolved).toMatchObject({ issuer: ['https://idp.example'], audience: ['portkey'], clockToleranceSec: 5 })
  })

  test('resolveOptions reads PORTKEY_JWKS_URL, PORTKEY_JWT_ISSUER and PORTKEY_JWT_AUDIENCE from its env', () => {
    expect(resolveOptions({}, {}).jwt).toBeNull()
    expect(resolveOptions({}, ENV).jwt).toMatchObject({ issuer: ['https://idp.example'], audience: ['portkey'] })
  })

  test('an inline jwks wins over env PORTKEY_JWKS_URL (no "both" error)', () => {
    expect(resolveJwtOptions({ jwks: issuer.jwks, ...CHECKS }, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)).not.toBeNull()
  })

  test('explicit settings are kept', () => {
    const options: JwtOptions = {
      jwks: issuer.jwks,
      algorithms: ['RS256', 'ES256'],
      issuer: ['a', 'b'],
      audience: 'portkey',
      clockToleranceSec: 0,
    }
    expect(resolveJwtOptions(options, {}, 2_000)).toMatchObject({
      algorithms: ['RS256', 'ES256'],
      issuer: ['a', 'b'],
      audience: ['portkey'],
      clockToleranceSec: 0,
    })
  })

  test.each<
    [string, JwtOptions | undefined, NodeJS.ProcessEnv, { issuer: string[] | undefined; audience: string[] | undefined }]
  >([
    [
      'env lists (comma-separated, spaces trimmed)',
      undefined,
      { ...ENV, PORTKEY_JWT_ISSUER: 'https://a.example, https://b.example', PORTKEY_JWT_AUDIENCE: 'x,portkey' },
      { issuer: ['https://a.example', 'https://b.example'], audience: ['x', 'portkey'] },
    ],
    [
      "env 'false' opts out of both checks",
      undefined,
      { ...ENV, PORTKEY_JWT_ISSUER: 'false', PORTKEY_JWT_AUDIENCE: 'false' },
      { issuer: undefined, audience: undefined },
    ],
    [
      "env 'false' opts out of one check only",
      undefined,
      { ...ENV, PORTKEY_JWT_AUDIENCE: 'false' },
      { issuer: ['https://idp.example'], audience: undefined },
    ],
    [
      'options false opt out',
      { jwksUrl: JWKS_URL, issuer: false, audience: false },
      {},
      { issuer: undefined, audience: undefined },
    ],
    [
      'an explicit issuer and audience win over env values',
      { jwksUrl: JWKS_URL, issuer: 'https://mine.example', audience: ['mine'] },
      ENV,
      { issuer: ['https://mine.example'], audience: ['mine'] },
    ],
    [
      "an explicit issuer and audience win over env 'false'",
      { jwksUrl: JWKS_URL, ...CHECKS },
      { PORTKEY_JWT_ISSUER: 'false', PORTKEY_JWT_AUDIENCE: 'false' },
      { issuer: ['https://idp.example'], audience: ['portkey'] },
    ],
    [
      'an explicit false wins over env values',
      { jwksUrl: JWKS_URL, issuer: false, audience: false },
      ENV,
      { issuer: undefined, audience: undefined },
    ],
    [
      'env fills in what the options leave out',
      { jwksUrl: JWKS_URL, issuer: 'https://mine.example' },
      ENV,
      { issuer: ['https://mine.example'], audience: ['portkey'] },
    ],
  ])('issuer and audience: %s', (_name, options, env, expected) => {
    const resolved = resolveJwtOptions(options, env, 2_000)
    expect({ issuer: resolved?.issuer, audience: resolved?.audience }).toStrictEqual(expected)
  })

  const MISSING_BOTH =
    "portkey-auth: jwt needs the issuer and audience its tokens must carry: set jwt.issuer (or env PORTKEY_JWT_ISSUER) to your identity provider's `iss`, " +
    'and jwt.audience (or env PORTKEY_JWT_AUDIENCE) to the `aud` of tokens meant for this API; ' +
    "to skip a check on purpose, set it to false (env value 'false')"

  test('a JWKS with neither issuer nor audience: the TypeError says exactly what to set', () => {
    expect(() => resolveJwtOptions({ jwksUrl: JWKS_URL }, {}, 2_000)).toThrow(new TypeError(MISSING_BOTH))
    expect(() => resolveJwtOptions(undefined, { PORTKEY_JWKS_URL: JWKS_URL }, 2_000)).toThrow(new TypeError(MISSING_BOTH))
    expect(() => resolveOptions({}, { PORTKEY_JWKS_URL: JWKS_URL })).toThrow(new TypeError(MISSING_BOTH))
    expect(() => createVerifier({ jwt: { jwks: issuer.jwks } })).toThrow(new TypeError(MISSING_BOTH))
  })

  test.each<[string, JwtOptions | undefined, NodeJS.ProcessEnv, string]>([
    ['no audience', { jwksUrl: JWKS_URL, issuer: 'https://idp.example' }, {}, 'jwt.audience (or env PORTKEY_JWT_AUDIENCE)'],
    ['no issuer', { jwksUrl: JWKS_URL, audience: 'portkey' }, {}, 'jwt.issuer (or env PORTKEY_JWT_ISSUER)'],
    [
      'env-only set-up with no PORTKEY_JWT_AUDIENCE',
      undefined,
      { PORTKEY_JWKS_URL: JWKS_URL, PORTKEY_JWT_ISSUER: 'https://idp.example' },
      'jwt.audience (or env PORTKEY_JWT_AUDIENCE)',
    ],
    [
      'env-only set-up with an empty PORTKEY_JWT_ISSUER',
      undefined,
      { ...ENV, PORTKEY_JWT_ISSUER: '' },
      'jwt.issuer (or env PORTKEY_JWT_ISSUER)',
    ],
  ])('TypeError naming only what is missing: %s', (_name, options, env, wanted) => {
    let error: unknown
    try {
      resolveJwtOptions(options, env, 2_000)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(TypeError)
    const message = (error as TypeError).message
    expect(message).toContain(`set ${wanted} to`)
    expect(message).toContain("set it to false (env value 'false')")
    const other = wanted.startsWith('jwt.issuer') ? 'jwt.audience' : 'jwt.issuer'
    expect(message).not.toContain(other)
  })

  test.each<[string, JwtOptions, RegExp]>([
    ["'none' in algorithms", { jwksUrl: JWKS_URL, algorithms: ['RS256', 'none'] }, /algorithms/],
    ["'NONE' in algorithms", { jwksUrl: JWKS_URL, algorithms: ['NONE'] }, /algorithms/],
    ['HS256 in algorithms', { jwksUrl: JWKS_URL, algorithms: ['HS256'] }, /algorithms/],
    ['HS512 beside RS256', { jwks: { keys: [] }, algorithms: ['RS256', 'HS512'] }, /algorithms/],
    ['an empty algorithms list', { jwksUrl: JWKS_URL, algorithms: [] }, /algorithms/],
    ['both jwksUrl and jwks', { jwksUrl: JWKS_URL, jwks: { keys: [] } }, /not both/],
    ['a jwksUrl that is no URL', { jwksUrl: 'not a url', ...CHECKS }, /jwksUrl must be an http\(s\) URL/],
    ['an empty jwksUrl', { jwksUrl: '', ...CHECKS }, /jwksUrl must be an http\(s\) URL/],
    ['a file: jwksUrl', { jwksUrl: 'file:///etc/passwd', ...CHECKS }, /jwksUrl must be an http\(s\) URL/],
    ['an ftp: jwksUrl', { jwksUrl: 'ftp://127.0.0.1/jwks.json', ...CHECKS }, /jwksUrl must be an http\(s\) URL/],
    ['jwt: {} with no source anywhere', {}, /jwksUrl or jwks/],
    ['a negative clockToleranceSec', { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: -1 }, /clockToleranceSec/],
    ['a NaN clockToleranceSec', { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: Number.NaN }, /clockToleranceSec/],
    [
      'a string clockToleranceSec',
      { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: '5' as unknown as number },
      /clockToleranceSec/,
    ],
    [
      'an Infinity clockToleranceSec',
      { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: Infinity },
      /jwt\.clockToleranceSec must be a number from 0 to 300/,
    ],
    [
      'a -Infinity clockToleranceSec',
      { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: -Infinity },
      /jwt\.clockToleranceSec must be a number from 0 to 300/,
    ],
    [
      'a clockToleranceSec past five minutes',
      { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: 301 },
      /jwt\.clockToleranceSec must be a number from 0 to 300, got 301/,
    ],
    [
      'a clockToleranceSec in milliseconds by mistake',
      { jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec: 5_000 },
      /jwt\.clockToleranceSec must be a number from 0 to 300/,
    ],
    ['settings but no source', { issuer: 'https://idp.example', audience: 'portkey' }, /jwksUrl or jwks/],
    ['a jwks that is no key set', { jwks: { keys: 'nope' } as unknown as JwtOptions['jwks'], ...CHECKS }, /JSON Web Key Set/],
    ['an empty issuer', { jwksUrl: JWKS_URL, ...CHECKS, issuer: '' }, /jwt\.issuer must be/],
    ['an empty issuer list', { jwksUrl: JWKS_URL, ...CHECKS, issuer: [] }, /jwt\.issuer must be/],
    [
      'an empty string in the issuer list',
      { jwksUrl: JWKS_URL, ...CHECKS, issuer: ['https://idp.example', ''] },
      /jwt\.issuer must be/,
    ],
    ['issuer: true', { jwksUrl: JWKS_URL, ...CHECKS, issuer: true as unknown as string }, /jwt\.issuer must be/],
    ['issuer: null', { jwksUrl: JWKS_URL, ...CHECKS, issuer: null as unknown as string }, /jwt\.issuer must be/],
    ['an empty audience', { jwksUrl: JWKS_URL, ...CHECKS, audience: '' }, /jwt\.audience must be/],
    [
      'a number in the audience list',
      { jwksUrl: JWKS_URL, ...CHECKS, audience: ['portkey', 7 as unknown as string] },
      /jwt\.audience must be/,
    ],
  ])('TypeError: %s', (_name, options, message) => {
    expect(() => resolveJwtOptions(options, {}, 2_000)).toThrow(TypeError)
    expect(() => resolveJwtOptions(options, {}, 2_000)).toThrow(message)
  })

  test.each([
    ['a comma alone', ','],
    ['commas and spaces', ' , ,'],
  ])('TypeError: env PORTKEY_JWT_ISSUER / PORTKEY_JWT_AUDIENCE that lists nothing: %s', (_name, value) => {
    expect(() => resolveJwtOptions(undefined, { ...ENV, PORTKEY_JWT_ISSUER: value }, 2_000)).toThrow(
      /env PORTKEY_JWT_ISSUER must list/,
    )
    expect(() => resolveJwtOptions(undefined, { ...ENV, PORTKEY_JWT_AUDIENCE: value }, 2_000)).toThrow(
      /env PORTKEY_JWT_AUDIENCE must list/,
    )
  })

  test.each([0, 2.5, 300])('clockToleranceSec %s is accepted', (clockToleranceSec) => {
    expect(resolveJwtOptions({ jwksUrl: JWKS_URL, ...CHECKS, clockToleranceSec }, {}, 2_000)).toMatchObject({ clockToleranceSec })
  })

  test('clockToleranceSec: Infinity fails at construction, not as a 503 on every token', () => {
    expect(() => createVerifier({ jwt: { jwks: issuer.jwks, ...CHECKS, clockToleranceSec: Infinity } })).toThrow(TypeError)
  })

  test('createVerifier throws the same TypeError at construction', () => {
    expect(() => createVerifier({ jwt: { jwks: issuer.jwks, ...CHECKS, algorithms: ['HS256'] } })).toThrow(TypeError)
    expect(() => createVerifier({ jwt: null as unknown as JwtOptions })).toThrow(TypeError)
  })
})

interface BadToken {
  name: string
  token: () => Promise<string>
  jwt?: Partial<JwtOptions>
  /** The kind of error kept as `cause`. */
  cause: new (
    ...args: never[]
  ) => Error
  /** JWKS fetches it causes when the keys come from a URL: none when the header alone rules it out. */
  fetches: 0 | 1
}

/** An issuer and audience a deployment chose, and claims that match them. */
const CONFIGURED = { issuer: 'https://idp.example', audience: 'portkey' }
const FOR_CONFIGURED = { ...CLAIMS, iss: CONFIGURED.issuer, aud: CONFIGURED.audience }

/**
 * Every token a verifier must refuse, and why: run against an inline JWKS and against a JWKS URL.
 * How a refusal looks over HTTP is test/adapters/jwt.test.ts's business.
 */
const BAD_TOKENS: BadToken[] = [
  {
    name: 'expired an hour ago',
    token: () => issuer.sign({ ...CLAIMS, exp: nowSec() - 3600 }),
    cause: errors.JWTExpired,
    fetches: 1,
  },
  {
    name: 'expired 30 s ago (past the 5 s tolerance)',
    token: () => issuer.sign({ ...CLAIMS, exp: nowSec() - 30 }),
    cause: errors.JWTExpired,
    fetches: 1,
  },
  {
    name: 'with no exp',
    token: () => issuer.sign({ ...CLAIMS, exp: undefined }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'with a tampered signature',
    token: async () => {
      const [header, payload, signature] = (await issuer.sign(CLAIMS)).split('.') as [string, string, string]
      const middle = Math.floor(signature.length / 2)
      const flipped = signature[middle] === 'A' ? 'B' : 'A'
      return `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}`
    },
    cause: errors.JWSSignatureVerificationFailed,
    fetches: 1,
  },
  {
    name: 'with a tampered payload (another organisation)',
    token: async () => {
      const [header, , signature] = (await issuer.sign(CLAIMS)).split('.') as [string, string, string]
      return `${header}.${b64({ ...CLAIMS, portkey_oid: 'org_victim', exp: nowSec() + 600 })}.${signature}`
    },
    cause: errors.JWSSignatureVerificationFailed,
    fetches: 1,
  },
  {
    name: 'signed by another key under the right kid',
    token: () => forger.sign(CLAIMS),
    cause: errors.JWSSignatureVerificationFailed,
    fetches: 1,
  },
  {
    name: 'with a kid the JWKS does not hold',
    token: () => issuer.sign(CLAIMS, { kid: 'unknown-kid' }),
    cause: errors.JWKSNoMatchingKey,
    fetches: 1,
  },
  {
    name: 'with no kid (even with a one-key JWKS)',
    token: () => issuer.sign(CLAIMS, { kid: undefined }),
    cause: errors.JWSInvalid,
    fetches: 0,
  },
  { name: 'with an empty kid', token: () => issuer.sign(CLAIMS, { kid: '' }), cause: errors.JWSInvalid, fetches: 0 },
  {
    name: 'with no organisation claim',
    token: () => issuer.sign({ portkey_workspace: 'ws_jwt', sub: 'user_1' }),
    cause: ClaimsError,
    fetches: 1,
  },
  {
    name: "with alg 'none' (unsigned)",
    token: async () => `${b64({ alg: 'none', typ: 'JWT', kid: issuer.kid })}.${b64({ ...CLAIMS, exp: nowSec() + 600 })}.`,
    cause: errors.JOSEAlgNotAllowed,
    fetches: 0,
  },
  {
    name: 'signed HS256 with a shared secret',
    token: () =>
      new SignJWT(CLAIMS)
        .setProtectedHeader({ alg: 'HS256', kid: issuer.kid })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')),
    cause: errors.JOSEAlgNotAllowed,
    fetches: 0,
  },
  {
    name: 'of another issuer (same keys)',
    token: () => issuer.sign({ ...CLAIMS, iss: 'https://evil.example' }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'with no iss',
    token: () => issuer.sign({ ...CLAIMS, iss: undefined }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'minted for another application of the same identity provider',
    token: () => issuer.sign({ ...CLAIMS, aud: 'some-other-api' }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'with no aud',
    token: () => issuer.sign({ ...CLAIMS, aud: undefined }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'of one of the listed issuers but for none of the listed audiences',
    token: () => issuer.sign({ ...CLAIMS, iss: 'https://b.example', aud: ['y', 'z'] }),
    jwt: { issuer: ['https://a.example', 'https://b.example'], audience: ['x', 'portkey'] },
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'not valid before a minute from now',
    token: () => issuer.sign({ ...CLAIMS, nbf: nowSec() + 60 }),
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'issued a minute from now (iat in the future)',
    token: () => issuer.sign({ ...CLAIMS, iat: nowSec() + 60 }),
    cause: ClaimsError,
    fetches: 1,
  },
  {
    name: 'issued 30 s from now, past clockToleranceSec 10',
    token: () => issuer.sign({ ...CLAIMS, iat: nowSec() + 30 }),
    jwt: { clockToleranceSec: 10 },
    cause: ClaimsError,
    fetches: 1,
  },
  {
    name: 'of another issuer than the configured one',
    token: () => issuer.sign({ ...FOR_CONFIGURED, iss: 'https://other.example' }),
    jwt: CONFIGURED,
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'for another audience than the configured one',
    token: () => issuer.sign({ ...FOR_CONFIGURED, aud: 'another-api' }),
    jwt: CONFIGURED,
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
  {
    name: 'with no aud, against a configured audience',
    token: () => issuer.sign({ ...FOR_CONFIGURED, aud: undefined }),
    jwt: CONFIGURED,
    cause: errors.JWTClaimValidationFailed,
    fetches: 1,
  },
]

describe('createVerifier({ jwt: { jwks } }) with an inline JWKS', () => {
  /** A verifier whose API-key look-up counts its calls: a JWT must never reach it. */
  function setup(jwt: Partial<JwtOptions> = {}) {
    const fake = countingLookup(() => null)
    const verifier = createVerifier({
      lookup: fake.lookup,
      jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience, ...jwt },
    })
    return { fake, verifier }
  }

  const verify = (verifier: Verifier, token: string) => verifier.verify(withKey(token))

  /** The challenge every refused token gets. */
  const CHALLENGE = 'Portkey realm="portkey", header="x-portkey-api-key", error="invalid_token"'

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

  test('a token with no jti and no user claim gets a key id derived from its fingerprint', async () => {
    const { verifier } = setup()
    const first = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1' }))
    const second = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1', nonce: 'other' }))
    expect(first.keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(second.keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(first.keyId).not.toBe(second.keyId)
  })

  test("a token with no jti: its user's pseudonym as key id, the same for every token of the user", async () => {
    const { verifier } = setup()
    const first = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1', uid: 'u1' }))
    const second = await verify(verifier, await issuer.sign({ portkey_oid: 'org_1', uid: 'u1', nonce: 'other' }))
    expect(first.keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(second.keyId).toBe(first.keyId)
    expect(first.userId).toBe('u1')
  })

  test.each(BAD_TOKENS)('a token $name: 401 invalid_token, the jose error kept as cause', async ({ token, jwt, cause }) => {
    const { fake, verifier } = setup(jwt)
    const raw = await token()
    expect(isJwtShaped(raw)).toBe(true)
    const error: AuthError = await expectAuthError(() => verify(verifier, raw), 'invalid_token', 401)
    expect(error.cause).toBeInstanceOf(cause)
    expect(error.headers['www-authenticate']).toBe(CHALLENGE)
    expect(error.message).not.toContain(raw)
    expect(JSON.stringify(error.headers)).not.toContain(raw)
    expect(fake.count).toBe(0)
  })

  test.each<[string, Partial<JwtOptions>, JWTPayload]>([
    [
      'the configured issuer and audience',
      { issuer: 'https://idp.example', audience: 'portkey' },
      { iss: 'https://idp.example', aud: 'portkey' },
    ],
    [
      'one of several issuers and audiences',
      { issuer: ['https://a.example', 'https://b.example'], audience: ['x', 'portkey'] },
      { iss: 'https://b.example', aud: ['portkey'] },
    ],
    ['no iss or aud, both checks turned off', { issuer: false, audience: false }, { iss: undefined, aud: undefined }],
    [
      'any iss or aud, both checks turned off',
      { issuer: false, audience: false },
      { iss: 'https://anyone.example', aud: 'anything' },
    ],
    ['an iat 3 s from now, within the default 5 s tolerance', {}, { iat: nowSec() + 3 }],
    ['an iat 30 s from now, within clockToleranceSec 60', { clockToleranceSec: 60 }, { iat: nowSec() + 30 }],
    ['an iat an hour ago', {}, { iat: nowSec() - 3600 }],
  ])('a token with %s is admitted', async (_name, jwt, claims) => {
    const { verifier } = setup(jwt)
    await expect(verify(verifier, await issuer.sign({ ...CLAIMS, ...claims }))).resolves.toMatchObject({
      method: 'jwt',
      organisationId: 'org_jwt',
    })
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
    vi.stubEnv('PORTKEY_JWKS_URL', undefined)
    const fake = countingLookup(() => null)
    const verifier = createVerifier({ lookup: fake.lookup })
    const token = await issuer.sign(CLAIMS)
    await expectAuthError(() => verify(verifier, token), 'invalid_api_key', 401)
    expect(fake.keys).toEqual([token])
  })

  test('the other claim spellings (organisation_id, workspace_slug, a scopes array, uid) give the same context', async () => {
    const { verifier } = setup()
    const token = await issuer.sign({
      organisation_id: 'org_jwt',
      workspace_slug: 'ws_jwt',
      scopes: ['portkey.completions.write', 'logs.read'],
      uid: 'u_9',
    })
    await expect(verify(verifier, token)).resolves.toMatchObject({
      method: 'jwt',
      organisationId: 'org_jwt',
      workspaceId: 'ws_jwt',
      scopes: ['completions.write', 'logs.read'],
      userId: 'u_9',
    })
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
    const status: CheckStatus = { cache: 'none' }
    await expect(verifier.verify(withKey(await issuer.sign(claims)), undefined, status)).resolves.toMatchObject({
      organisationId: 'org_2',
      workspaceId: 'ws_2',
      scopes: ['logs.write'],
      userId: 'bob@example.com',
      defaults: { configId: 'pc-2', metadata: { team: 'b' } },
      rateLimits: [{ type: 'tokens', unit: 'rpm', value: 1000 }],
      usageLimits: { credit_limit: 3, type: 'cost' },
    })
    // The claim's limit applies: nothing reported yet, the whole allowance is left.
    expect(status.quota).toMatchObject({ remaining: 1000, counting: 'local' })
  })
})

describe('createVerifier({ jwt: { jwksUrl } }) with the keys at a URL', () => {
  let stub: ControlPlaneStub

  beforeAll(async () => {
    stub = await startControlPlaneStub({ jwks: issuer.jwks })
  })

  afterAll(async () => {
    await stub.close()
  })

  beforeEach(() => {
    stub.resetCounts()
  })

  test.each(BAD_TOKENS)(
    'a token $name: refused with only the JWKS fetches it needs (none if the header rules it out), and again with none',
    async ({ token, jwt, cause, fetches }) => {
      const fake = countingLookup(() => null)
      const verifier = createVerifier({
        lookup: fake.lookup,
        jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience, ...jwt },
      })
      const raw = await token()
      const error = await expectAuthError(() => verifier.verify(withKey(raw)), 'invalid_token', 401)
      expect(error.cause).toBeInstanceOf(cause)
      expect(stub.calls(JWKS_PATH)).toBe(fetches)

      await expectAuthError(() => verifier.verify(withKey(raw)), 'invalid_token', 401)
      expect(stub.calls()).toBe(fetches)
      expect(verifier.stats()).toMatchObject({ lookups: 1, hits: 1 })
      expect(fake.count).toBe(0)
    },
  )
})

describe("a refused token's claims stay out of the error", () => {
  const EMAIL = 'carol.private@example.com'
  /** Part of the email: all of it that a JSON SyntaxError quotes. */
  const MARKER = 'carol.priv'

  /** Every own property (enumerable or not, symbols too) of `value` and of everything it reaches, as plain JSON. */
  function everything(value: unknown, seen = new Set<unknown>()): unknown {
    if (typeof value !== 'object' || value === null) return typeof value === 'function' ? `[function ${value.name}]` : value
    if (seen.has(value)) return '[seen]'
    seen.add(value)
    const out: Record<string, unknown> = {}
    for (const key of Reflect.ownKeys(value)) {
      out[String(key)] = everything((value as Record<PropertyKey, unknown>)[key], seen)
    }
    return out
  }
  const traces = (error: unknown) => [JSON.stringify(everything(error)), inspect(error, { depth: Infinity, showHidden: true })]

  /** A key pair of the test's own, for payloads `issuer.sign()` cannot make (claims that are not JSON). */
  async function rawSigner() {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'raw-kid', alg: 'RS256' }] }
    const sign = (text: string) =>
      new CompactSign(new TextEncoder().encode(text)).setProtectedHeader({ alg: 'RS256', kid: 'raw-kid' }).sign(privateKey)
    return { jwks, sign }
  }

  interface LeakCase {
    name: string
    token: () => Promise<{ token: string; jwks: { keys: object[] } }>
    kept: Record<string, unknown>
    cause: new (...args: never[]) => Error
  }

  const withIssuerKeys = async (claims: JWTPayload) => ({
    token: await issuer.sign({ ...CLAIMS, email_id: EMAIL, ...claims }),
    jwks: issuer.jwks,
  })

  const CASES: LeakCase[] = [
    {
      name: 'an expired token (jose JWTExpired)',
      token: () => withIssuerKeys({ exp: nowSec() - 3600 }),
      kept: {
        code: 'ERR_JWT_EXPIRED',
        claim: 'exp',
        reason: 'check_failed',
        name: 'JWTExpired',
        message: '"exp" claim timestamp check failed',
      },
      cause: errors.JWTExpired,
    },
    {
      name: 'a token for another audience (jose JWTClaimValidationFailed)',
      token: () => withIssuerKeys({ aud: 'another-api' }),
      kept: {
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'aud',
        reason: 'check_failed',
        message: 'unexpected "aud" claim value',
      },
      cause: errors.JWTClaimValidationFailed,
    },
    {
      name: 'a token with a malformed nbf (jose JWTClaimValidationFailed)',
      token: () => withIssuerKeys({ nbf: 'soon' as unknown as number }),
      kept: { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf', reason: 'invalid' },
      cause: errors.JWTClaimValidationFailed,
    },
    {
      name: 'a signed claims set that is not JSON (jose JWTInvalid, caused by a SyntaxError quoting it)',
      token: async () => {
        const raw = await rawSigner()
        return { token: await raw.sign(`{"email_id": ${EMAIL}}`), jwks: raw.jwks }
      },
      kept: { code: 'ERR_JWT_INVALID', message: 'JWT Claims Set must be a top-level JSON object' },
      cause: errors.JWTInvalid,
    },
  ]

  test.each(CASES)('$name: AuthError.cause keeps the reason and holds no claim', async ({ token: make, kept, cause }) => {
    const { token, jwks } = await make()
    // What jose itself throws does carry the claims: this test would see them if they were kept.
    const raw = await jwtVerify(token, createLocalJWKSet(jwks), { audience: issuer.audience, issuer: issuer.issuer }).catch(
      (error: unknown) => error,
    )
    expect(traces(raw).join('\n')).toContain(MARKER)

    const verifier = createVerifier({
      lookup: countingLookup(() => null).lookup,
      jwt: { jwks, issuer: issuer.issuer, audience: issuer.audience },
    })
    for (let i = 0; i < 2; i++) {
      const error = await expectAuthError(() => verifier.verify(withKey(token)), 'invalid_token', 401)
      expect(error.cause).toBeInstanceOf(cause)
      expect(error.cause).toBeInstanceOf(Error)
      expect(error.cause).toMatchObject({ ...kept, message: expect.stringContaining(String(kept.message ?? '')) })
      expect(error.cause).not.toHaveProperty('payload')
      expect((error.cause as Error).cause).toBeUndefined()
      for (const trace of traces(error)) expect(trace).not.toContain(MARKER)
    }
  })
})

describe('createTestIssuer', () => {
  test('signs its own issuer and audience, and iat and exp, unless a claim says otherwise', async () => {
    expect(issuer.issuer).toBe('https://issuer.portkey-auth.test/')
    expect(issuer.audience).toBe('portkey-auth-test')
    const before = nowSec()
    expect(decodeJwt(await issuer.sign(CLAIMS))).toMatchObject({
      iss: issuer.issuer,
      aud: issuer.audience,
      iat: expect.any(Number),
      exp: expect.any(Number),
    })
    const plain = decodeJwt(await issuer.sign({ ...CLAIMS, iss: undefined, aud: undefined, iat: before - 60 }))
    expect(plain).not.toHaveProperty('iss')
    expect(plain).not.toHaveProperty('aud')
    expect(plain.iat).toBe(before - 60)
  })

  test('takes another issuer and audience, and a verifier set up from them admits its tokens', async () => {
    const other = await createTestIssuer('other-kid', { issuer: 'https://idp.example/', audience: 'gateway' })
    expect({ issuer: other.issuer, audience: other.audience }).toEqual({ issuer: 'https://idp.example/', audience: 'gateway' })
    const verifier = createVerifier({
      lookup: countingLookup(() => null).lookup,
      jwt: { jwks: other.jwks, issuer: other.issuer, audience: other.audience },
    })
    await expect(verifier.verify(withKey(await other.sign(CLAIMS)))).resolves.toMatchObject({
      method: 'jwt',
      organisationId: 'org_jwt',
    })
  })
})
