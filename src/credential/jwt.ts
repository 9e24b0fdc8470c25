import { type JWTPayload, jwtVerify } from 'jose'
// By name from jose/errors (the module jose throws them from), not through jose's `errors` namespace, which would
// keep every one of its error classes in a bundle.
import { JOSEError, JWKSInvalid, JWKSTimeout } from 'jose/errors'
import { claimsToAuth } from './claims.js'
import { authUnavailable, ClaimsError, invalidToken } from '../errors.js'
import type { ResolvedJwtOptions } from '../options/jwt.js'
import type { Outcome } from '../records.js'
import type { PortkeyAuth } from '../types.js'

/**
 * Verifies a token locally and builds its context once: an `Outcome` to cache (trusted until `exp` plus
 * the clock tolerance) with the verified `claims` to share through Redis, or a refusal when it fails
 * verification or its claims make no context. A JWKS that cannot be fetched throws `AuthError` 503.
 */
export async function verifyJwt(
  token: string,
  config: ResolvedJwtOptions,
  fallbackKeyId: string,
): Promise<{ outcome: Outcome<PortkeyAuth>; claims?: JWTPayload }> {
  try {
    const { payload } = await jwtVerify(token, config.keys, {
      algorithms: [...config.algorithms],
      issuer: config.issuer,
      audience: config.audience,
      clockTolerance: config.clockToleranceSec,
      requiredClaims: ['exp'],
    })
    // jose checks `iat` only against a maxTokenAge, which Portkey does not set; a token from the future
    // means a signer with a wrong clock or a pre-minted token, and would be trusted ahead of its time.
    if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000) + config.clockToleranceSec) {
      throw new ClaimsError('token iat is in the future')
    }
    // jose accepted it within the clock tolerance, so it is trusted as long.
    const expiresAtMs = ((payload.exp as number) + config.clockToleranceSec) * 1000
    return { outcome: { value: claimsToAuth(payload, fallbackKeyId), expiresAtMs }, claims: payload }
  } catch (error) {
    if (isOutage(error)) throw authUnavailable(1, error)
    const cause = withoutClaims(error as Error)
    return { outcome: { reject: () => invalidToken(cause.message, cause) } }
  }
}

/**
 * jose's error without the token's contents: its class, name, message, stack, `code`, and `claim` and
 * `reason` when it names a claim. jose keeps the whole payload (emails and all) in `payload` and in its own
 * `cause`, and a JSON parse error quotes the claims text; a refusal is cached and ends up in logs as
 * `AuthError.cause`, where none of that belongs.
 */
function withoutClaims(error: Error): Error {
  if (error instanceof ClaimsError) return error
  const { name, message, stack, code, claim, reason } = error as Error & { code?: string; claim?: string; reason?: string }
  // A native Error given jose's prototype: `instanceof errors.JWTExpired` and `code` still work.
  const kept = Object.setPrototypeOf(new Error(message), Object.getPrototypeOf(error) as object) as Error
  Object.assign(kept, { name, stack, code }, claim === undefined ? {} : { claim, reason })
  return kept
}

/** jose's errors sorted in one place: a JWKS that cannot be had is an outage, anything else a bad token. */
function isOutage(error: unknown): boolean {
  if (error instanceof ClaimsError) return false
  if (!(error instanceof JOSEError)) return true // fetch's own errors: connection refused, reset
  return (
    error instanceof JWKSTimeout ||
    error instanceof JWKSInvalid ||
    // jose's plain JOSEError reports a JWKS response that is not 200 or not JSON.
    error.constructor === JOSEError
  )
}
