import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose'
import { JWSInvalid } from 'jose/errors'
import { DEFAULTS, LIMITS } from './defaults.js'
import type { JwtOptions } from './jwt-options.js'
import { checkNames } from './names.js'
import { httpUrl, named, numberIn } from './validate.js'
import type { Environment } from '../platform/process-env.js'

/** Validated JWT settings. */
export interface ResolvedJwtOptions {
  readonly keys: JWTVerifyGetKey
  readonly algorithms: readonly string[]
  /** The accepted `iss` values; `undefined` when the check is turned off. */
  readonly issuer: string[] | undefined
  /** The accepted `aud` values; `undefined` when the check is turned off. */
  readonly audience: string[] | undefined
  readonly clockToleranceSec: number
  /** The JWKS URL, `null` for an inline key set (for the start-up probe). */
  readonly jwksUrl: string | null
}

/** Validates JWT options once; `null` when JWT is not configured. `fetchJwks` replaces fetch for the JWKS (telemetry). */
export function resolveJwtOptions(
  options: JwtOptions | undefined,
  env: Environment,
  timeoutMs: number,
  fetchJwks?: FetchImplementation,
): ResolvedJwtOptions | null {
  if (options != null) checkNames('jwt', options)
  const fromEnv =
    options?.jwksUrl === undefined && options?.jwks === undefined && env.PORTKEY_JWKS_URL ? 'PORTKEY_JWKS_URL' : undefined
  const jwksUrl = options?.jwksUrl ?? (options?.jwks === undefined ? env.PORTKEY_JWKS_URL || undefined : undefined)
  if (jwksUrl === undefined && options?.jwks === undefined) {
    // Asking for JWT (even with `jwt: {}`) and giving it no keys is a mistake, not a way to turn it off.
    if (options !== undefined) throw new TypeError('portkey-auth: jwt needs jwksUrl or jwks (or env PORTKEY_JWKS_URL)')
    return null
  }
  if (jwksUrl !== undefined && options?.jwks !== undefined)
    throw new TypeError('portkey-auth: give jwt.jwksUrl or jwt.jwks, not both')
  const algorithms = options?.algorithms ?? [...DEFAULTS.jwt.algorithms]
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    algorithms.some((alg) => typeof alg !== 'string' || /^(none|HS\d+)$/i.test(alg))
  ) {
    throw new TypeError('portkey-auth: jwt.algorithms must list asymmetric algorithms (never none or HMAC)')
  }
  // Bounded (LIMITS): a value in milliseconds by mistake (5000) is caught here rather than honoured.
  const clockToleranceSec = numberIn(
    'jwt.clockToleranceSec',
    options?.clockToleranceSec ?? DEFAULTS.jwt.clockToleranceSec,
    0,
    LIMITS.clockToleranceSec,
  )
  const issuer = expected('issuer', options?.issuer, env.PORTKEY_JWT_ISSUER)
  const audience = expected('audience', options?.audience, env.PORTKEY_JWT_AUDIENCE)
  if (issuer === MISSING || audience === MISSING) throw new TypeError(missingChecks({ issuer, audience }))
  let keys: JWTVerifyGetKey
  if (jwksUrl !== undefined) {
    const url = httpUrl(named('jwt.jwksUrl', fromEnv), jwksUrl)
    keys = createRemoteJWKSet(url, { timeoutDuration: timeoutMs, ...(fetchJwks && { [customFetch]: fetchJwks }) })
  } else {
    try {
      keys = createLocalJWKSet(options!.jwks!)
    } catch (cause) {
      throw new TypeError('portkey-auth: jwt.jwks must be a JSON Web Key Set', { cause })
    }
  }
  return { keys: requireKid(keys), algorithms, issuer, audience, clockToleranceSec, jwksUrl: jwksUrl ?? null }
}

const CHECKS = {
  issuer: { env: 'PORTKEY_JWT_ISSUER', to: "your identity provider's `iss`" },
  audience: { env: 'PORTKEY_JWT_AUDIENCE', to: 'the `aud` of tokens meant for this API' },
} as const
type Check = keyof typeof CHECKS
const MISSING = Symbol('missing')

/** Says exactly what to set, since an operator meets this at start-up, often with env only. */
function missingChecks(found: Record<Check, unknown>): string {
  const missing = (Object.keys(CHECKS) as Check[]).filter((check) => found[check] === MISSING)
  const settings = missing.map((check) => `jwt.${check} (or env ${CHECKS[check].env}) to ${CHECKS[check].to}`).join(', and ')
  return (
    `portkey-auth: jwt needs the ${missing.join(' and ')} its tokens must carry: set ${settings}; ` +
    "to skip a check on purpose, set it to false (env value 'false')"
  )
}

/**
 * The accepted values of `iss` or `aud`: the option, else the env list; `undefined` when turned off with
 * `false`, `MISSING` when neither says.
 */
function expected(check: Check, option: unknown, envValue: string | undefined): string[] | undefined | typeof MISSING {
  if (option === false) return undefined
  if (option !== undefined) {
    const values = typeof option === 'string' ? [option] : option
    if (!Array.isArray(values) || values.length === 0 || values.some((value) => typeof value !== 'string' || value === '')) {
      throw new TypeError(`portkey-auth: jwt.${check} must be a non-empty string, a list of them, or false`)
    }
    return [...(values as string[])]
  }
  if (envValue === undefined || envValue === '') return MISSING
  if (envValue.trim() === 'false') return undefined
  const values = envValue
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')
  if (values.length === 0)
    throw new TypeError(`portkey-auth: env ${CHECKS[check].env} must list at least one value, comma-separated, or be 'false'`)
  return values
}

/** Portkey's rule: the token must name its key. jose alone would try the only key of a one-key set. */
function requireKid(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return function keyByKid(header, token) {
    if (typeof header.kid !== 'string' || header.kid === '') throw new JWSInvalid('token header has no kid')
    return keys(header, token)
  }
}
