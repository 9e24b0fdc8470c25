// @ts-check
// The credentials every benchmark sends: the known API key, and an RS256 JWT from a test issuer whose JWKS
// the stub serves. Shared by bench/run.js and bench/instructions.js, so both measure the same request.
import { createTestIssuer } from 'portkey-auth/testing'

export const ISSUER = 'https://auth.bench.portkey.test/'
export const AUDIENCE = 'https://api.portkey.bench'
export const KNOWN_KEY = 'pk-bench-known-0123456789abcdef0123'

/** The test issuer and a token of it valid for three hours, as a cached-JWT contender sends. */
export async function benchToken() {
  const issuer = await createTestIssuer('bench-key-1')
  const token = await issuer.sign({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user_bench',
    exp: Math.floor(Date.now() / 1000) + 3 * 3600,
    portkey_oid: 'org_bench',
    portkey_workspace: 'ws_bench',
    scope: 'portkey.completions.write',
  })
  return { issuer, token }
}
