import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose'
import { ClaimsError, claimsToAuth } from './claims.js'
import { type AuthError, authUnavailable, invalidToken } from './errors.js'
import { httpUrl } from './validate.js'

/** JWT settings; giving `jwksUrl` or `jwks` turns JWT credentials on. */
export interface JwtOptions {
  /** URL of the organisation's JWKS, fetched once and again on an unknown `kid` (at most every 30 s). @default process.env.PORTKEY_JWKS_URL */
  jwksUrl?: string
  /** An inline JWKS, instead of a URL. */
  jwks?: JSONWebKeySet
  /** Accepted signature algorithms; `none` and HMAC are never accepted. @default ['RS256'] */
  algorithms?: string[]
  /** Required `iss` claim. @default not checked */
  issuer?: string | string[]
  /** Required `aud` claim. @default not checked */
  audience?: string | string[]
  /** Clock skew tolerated on `exp` and `nbf`, in seconds. @default 5 */
  clockToleranceSec?: number
}

/** Validated JWT settings. */
export interface ResolvedJwtOptions {
  readonly keys: JWTVerifyGetKey
  readonly algorithms: readonly string[]
  readonly issuer: string | string[] | undefined
  readonly audience: string | string[] | undefined
  readonly clockToleranceSec: number
}

// Three base64url parts; the third may be empty (an unsigned token, which verification then refuses).
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** True for a credential shaped like a compact JWS; only then is it verified as a JWT. */
export const isJwtShaped = (credential: string): boolean => JWT_SHAPE.test(credential)

/** Validates JWT options once; `null` when JWT is not configured. */
export function resolveJwtOptions(options: JwtOptions | undefined, env: NodeJS.ProcessEnv, timeoutMs: number): ResolvedJwtOptions | null {
  const jwksUrl = options?.jwksUrl ?? (options?.jwks === undefined ? env.PORTKEY_JWKS_URL || undefined : undefined)
  if (jwksUrl === undefined && options?.jwks === undefined) {
    // Asking for JWT (even with `jwt: {}`) and giving it no keys is a mistake, not a way to turn it off.
    if (options !== undefined) throw new TypeError('portkey-auth: jwt needs jwksUrl or jwks (or env PORTKEY_JWKS_URL)')
    return null
  }
  if (jwksUrl !== undefined && options?.jwks !== undefined) throw new TypeError('portkey-auth: give jwt.jwksUrl or jwt.jwks, not both')
  const algorithms = options?.algorithms ?? ['RS256']
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((alg) => typeof alg !== 'string' || /^(none|HS\d+)$/i.test(alg))) {
    throw new TypeError('portkey-auth: jwt.algorithms must list asymmetric algorithms (never none or HMAC)')
  }
  const clockToleranceSec = options?.clockToleranceSec ?? 5
  if (typeof clockToleranceSec !== 'number' || !(clockToleranceSec >= 0)) {
    throw new TypeError('portkey-auth: jwt.clockToleranceSec must be a number >= 0')
  }
  let keys: JWTVerifyGetKey
  if (jwksUrl !== undefined) {
    keys = createRemoteJWKSet(httpUrl('jwt.jwksUrl', jwksUrl), { timeoutDuration: timeoutMs })
  } else {
    try {
      keys = createLocalJWKSet(options!.jwks!)
    } catch (cause) {
      throw new TypeError('portkey-auth: jwt.jwks must be a JSON Web Key Set', { cause })
    }
  }
  return { keys: requireKid(keys), algorithms, issuer: options?.issuer, audience: options?.audience, clockToleranceSec }
}

/** Portkey's rule: the token must name its key. jose alone would try the only key of a one-key set. */
function requireKid(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return function keyByKid(header, token) {
    if (typeof header.kid !== 'string' || header.kid === '') throw new errors.JWSInvalid('token header has no kid')
    return keys(header, token)
  }
}

/** What verifying a token decided: its claims and how long it may be trusted, or why it is refused. */
export type JwtVerdict = { claims: JWTPayload; expiresAtMs: number } | { refusal: () => AuthError }

/**
 * Verifies a token locally. A token that fails verification (or whose claims make no context) gets a
 * refusal; a JWKS that cannot be fetched throws `AuthError` 503.
 */
export async function verifyJwt(token: string, config: ResolvedJwtOptions): Promise<JwtVerdict> {
  try {
    const { payload } = await jwtVerify(token, config.keys, {
      algorithms: [...config.algorithms],
      issuer: config.issuer,
      audience: config.audience,
      clockTolerance: config.clockToleranceSec,
      requiredClaims: ['exp'],
    })
    claimsToAuth(payload, '') // checks the claims make a context; the verifier builds the one it keeps
    // jose accepted it within the clock tolerance, so it is trusted as long.
    return { claims: payload, expiresAtMs: ((payload.exp as number) + config.clockToleranceSec) * 1000 }
  } catch (error) {
    if (isOutage(error)) throw authUnavailable(1, error)
    const reason = (error as Error).message
    return { refusal: () => invalidToken(reason, error) }
  }
}

/** jose's errors sorted in one place: a JWKS that cannot be had is an outage, anything else a bad token. */
function isOutage(error: unknown): boolean {
  if (error instanceof ClaimsError) return false
  if (!(error instanceof errors.JOSEError)) return true // fetch's own errors: connection refused, reset
  return (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    // jose's plain JOSEError reports a JWKS response that is not 200 or not JSON.
    error.constructor === errors.JOSEError
  )
}
