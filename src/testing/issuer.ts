import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'

/** A test token issuer: an RS256 key pair, its public JWKS, and a way to sign tokens with it. */
export interface TestIssuer {
  /** The public JWKS: serve it (`startControlPlaneStub({ jwks })`) or pass it as `jwt.jwks`. */
  readonly jwks: { keys: JWK[] }
  /** The `kid` tokens carry. */
  readonly kid: string
  /**
   * Signs `claims` as an RS256 JWT with this issuer's key. `exp` defaults to one hour from now;
   * give `header` to change the protected header (e.g. another `kid`).
   */
  sign(claims?: JWTPayload, header?: { kid?: string | undefined; alg?: string }): Promise<string>
}

/**
 * Creates a token issuer for tests, like an organisation's identity provider.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer()
 * const stub = await startControlPlaneStub({ jwks: issuer.jwks })
 * const token = await issuer.sign({ portkey_oid: 'org_1', portkey_workspace: 'ws_1', scope: 'portkey.completions.write' })
 * ```
 */
export async function createTestIssuer(kid = 'test-key-1'): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  return {
    jwks: { keys: [jwk] },
    kid,
    sign(claims = {}, header = {}) {
      const jwt = new SignJWT({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })
      const protectedHeader: { alg: string; kid?: string } = { alg: header.alg ?? 'RS256' }
      const headerKid = 'kid' in header ? header.kid : kid
      if (headerKid !== undefined) protectedHeader.kid = headerKid
      return jwt.setProtectedHeader(protectedHeader).setIssuedAt().sign(privateKey)
    },
  }
}
