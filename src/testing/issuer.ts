import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'

const TEST_ISSUER = 'https://issuer.portkey-auth.test/'
const TEST_AUDIENCE = 'portkey-auth-test'

/** Settings of `createTestIssuer()`. */
export interface TestIssuerOptions {
  /** The `iss` its tokens carry. @default 'https://issuer.portkey-auth.test/' */
  issuer?: string
  /** The `aud` its tokens carry. @default 'portkey-auth-test' */
  audience?: string
}

/** A test token issuer: an RS256 key pair, its public JWKS, and a way to sign tokens with it. */
export interface TestIssuer {
  /** The public JWKS: serve it (`startControlPlaneStub({ jwks })`) or pass it as `jwt.jwks`. */
  readonly jwks: { keys: JWK[] }
  /** The `kid` tokens carry. */
  readonly kid: string
  /** The `iss` tokens carry: pass it as `jwt.issuer`. */
  readonly issuer: string
  /** The `aud` tokens carry: pass it as `jwt.audience`. */
  readonly audience: string
  /**
   * Signs `claims` as an RS256 JWT with this issuer's key. `iss` and `aud` default to this issuer's
   * `issuer` and `audience`, `exp` to one hour from now, `iat` to now; give a claim to change it, or
   * `undefined` to leave it out (`{ aud: undefined }`). Give `header` to change the protected header
   * (e.g. another `kid`).
   */
  sign(claims?: JWTPayload, header?: { kid?: string | undefined; alg?: string }): Promise<string>
}

/**
 * Creates a token issuer for tests, like an organisation's identity provider. Every issuer made with the
 * same options signs the same `iss` and `aud`, so a second one under the same `kid` plays a forger.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer()
 * const stub = await startControlPlaneStub({ jwks: issuer.jwks })
 * app.use(portkeyAuth({ jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } }))
 * const token = await issuer.sign({ portkey_oid: 'org_1', portkey_workspace: 'ws_1', scope: 'portkey.completions.write' })
 * ```
 */
export async function createTestIssuer(kid = 'test-key-1', options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const { issuer = TEST_ISSUER, audience = TEST_AUDIENCE } = options
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  return {
    jwks: { keys: [jwk] },
    kid,
    issuer,
    audience,
    sign(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000)
      const jwt = new SignJWT({ iss: issuer, aud: audience, iat: now, exp: now + 3600, ...claims })
      const protectedHeader: { alg: string; kid?: string } = { alg: header.alg ?? 'RS256' }
      const headerKid = 'kid' in header ? header.kid : kid
      if (headerKid !== undefined) protectedHeader.kid = headerKid
      return jwt.setProtectedHeader(protectedHeader).sign(privateKey)
    },
  }
}
