import type { DecisionListener, KeyLookup, ScopeMap, VirtualKeyLookup } from '../types.js'
import { DEFAULTS, LIMITS } from './defaults.js'
import { type ResolvedJwtOptions, resolveJwtOptions } from './jwt.js'
import { type ResolvedRedisOptions, resolveRedis } from './redis.js'
import { httpUrl, integer } from './validate.js'
import type { BreakerOptions, CacheOptions, VerifierOptions } from './verifier-options.js'

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly controlPlaneUrl: string
  readonly clientAuth: string | undefined
  readonly lookup: KeyLookup | undefined
  readonly lookupVirtualKey: VirtualKeyLookup | undefined
  /** The scope map as given; the verifier compiles it (a bad map is a TypeError then, still at construction). */
  readonly scopes: ScopeMap | 'portkey' | null
  readonly timeoutMs: number
  readonly maxPendingLookups: number
  readonly breaker: Readonly<Required<BreakerOptions>>
  readonly onDecision: DecisionListener | undefined
  readonly cache: Readonly<Required<CacheOptions>>
  readonly jwt: ResolvedJwtOptions | null
  readonly redis: ResolvedRedisOptions | null
}

/** The control plane used when neither the options nor the environment name one. */
export const DEFAULT_CONTROL_PLANE_URL = DEFAULTS.controlPlaneUrl

/**
 * Applies defaults (the environment, then built-in values) and validates. Misconfiguration is a
 * `TypeError` here, at construction, never a failure per request.
 */
export function resolveOptions(options: VerifierOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portkey-auth: options must be an object')
  checkShapes(options)
  const clientAuth = resolveClientAuth(options.clientAuth || env.PORTKEY_CLIENT_AUTH || undefined)
  const controlPlaneUrl = options.controlPlaneUrl ?? (env.PORTKEY_CONTROL_PLANE_URL || DEFAULTS.controlPlaneUrl)
  const resolvedUrl = httpUrl('controlPlaneUrl', controlPlaneUrl).href.replace(/\/+$/, '')
  const timeoutMs = integer('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs, 1, LIMITS.timeoutMs)
  const jwt = resolveJwtOptions(options.jwt, env, timeoutMs)
  const breaker = options.breaker ?? {}
  return {
    controlPlaneUrl: resolvedUrl,
    clientAuth,
    lookup: options.lookup,
    lookupVirtualKey: options.lookupVirtualKey,
    scopes: options.scopes ?? null,
    timeoutMs,
    maxPendingLookups: integer('maxPendingLookups', options.maxPendingLookups ?? DEFAULTS.maxPendingLookups, 1),
    breaker: Object.freeze({
      failureThreshold: integer('breaker.failureThreshold', breaker.failureThreshold ?? DEFAULTS.breaker.failureThreshold, 1),
      cooldownMs: integer('breaker.cooldownMs', breaker.cooldownMs ?? DEFAULTS.breaker.cooldownMs, 0),
    }),
    onDecision: options.onDecision,
    cache: resolveCache(options.cache ?? {}),
    jwt,
    redis: resolveRedis(options, {
      controlPlaneUrl: resolvedUrl,
      jwt,
      jwtSource: options.jwt?.jwksUrl ?? options.jwt?.jwks ?? env.PORTKEY_JWKS_URL,
    }),
  }
}

/** The options whose type alone can be wrong: functions, objects, the scope map. */
function checkShapes(options: VerifierOptions): void {
  for (const name of ['lookup', 'lookupVirtualKey', 'onDecision'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function')
      throw new TypeError(`portkey-auth: ${name} must be a function`)
  }
  for (const name of ['jwt', 'breaker', 'cache'] as const) {
    const value = options[name]
    // A null cache counts as unset, like undefined (as it always has); a null jwt or breaker is a mistake.
    if (value === undefined || (value === null && name === 'cache')) continue
    if (typeof value !== 'object' || value === null) throw new TypeError(`portkey-auth: ${name} must be an object`)
  }
  if (
    options.scopes !== undefined &&
    options.scopes !== 'portkey' &&
    (typeof options.scopes !== 'object' || options.scopes === null)
  ) {
    throw new TypeError("portkey-auth: scopes must be 'portkey' or a map of routes to scopes")
  }
}

// What fetch accepts in a header value; checked here so a bad secret fails at start-up, not in every
// request (where fetch's own error would quote it).
function resolveClientAuth(clientAuth: unknown): string | undefined {
  if (clientAuth !== undefined && (typeof clientAuth !== 'string' || !/^[\t\x20-\x7e\x80-\xff]*$/.test(clientAuth))) {
    throw new TypeError('portkey-auth: clientAuth must be a string of printable Latin-1 characters')
  }
  return clientAuth
}

function resolveCache(cache: CacheOptions): Readonly<Required<CacheOptions>> {
  return Object.freeze({
    max: integer('cache.max', cache.max ?? DEFAULTS.cache.max, 2, LIMITS.cacheMax),
    ttlMs: integer('cache.ttlMs', cache.ttlMs ?? DEFAULTS.cache.ttlMs, 0),
    staleMs: integer('cache.staleMs', cache.staleMs ?? DEFAULTS.cache.staleMs, 0),
    negativeTtlMs: integer('cache.negativeTtlMs', cache.negativeTtlMs ?? DEFAULTS.cache.negativeTtlMs, 0),
  })
}
