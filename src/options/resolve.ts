import type { Telemetry } from '../telemetry/telemetry.js'
import type { DecisionListener, KeyLookup, Logger, ScopeMap, VirtualKeyLookup } from '../types.js'
import { DEFAULTS, LIMITS } from './defaults.js'
import { type ResolvedJwtOptions, resolveJwtOptions } from './jwt.js'
import { resolveRedis } from '#fleet'
import type { ResolvedRedisOptions } from './redis.js'
import { resolveTelemetry } from './telemetry.js'
import { checkNames } from './names.js'
import { describe, httpUrl, integer, named, numberIn } from './validate.js'
import type { BreakerOptions, CacheOptions, RateLimitOptions, VerifierOptions } from './verifier-options.js'
import { type Environment, processEnv } from '../platform/process-env.js'
import { compileAppLimits, type LimitGroup } from '../rate-limit/app-limits.js'

/** `rateLimits`, resolved: the app's own limits compiled (`null` for none). */
type ResolvedRateLimits = Readonly<Omit<Required<RateLimitOptions>, 'limits'> & { limits: readonly LimitGroup[] | null }>

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly controlPlaneUrl: string
  readonly clientAuth: string | undefined
  /** Whether `Authorization: Bearer` is read when `x-portkey-api-key` is absent. */
  readonly bearer: boolean
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
  /** `null` with `rateLimits: false`. */
  readonly rateLimits: ResolvedRateLimits | null
  readonly logger: Logger
  /** Where `controlPlaneUrl` came from, for the line a verifier logs when it is made. */
  readonly controlPlaneSource: 'option' | 'env' | 'default'
  /** The instruments the `telemetry` option asks for; `null` when it is off. */
  readonly telemetry: Telemetry | null
}

/** The control plane used when neither the options nor the environment name one. */
export const DEFAULT_CONTROL_PLANE_URL = DEFAULTS.controlPlaneUrl

/**
 * Applies defaults (the environment, then built-in values) and validates. Misconfiguration is a
 * `TypeError` here, at construction, never a failure per request.
 */
export function resolveOptions(options: VerifierOptions = {}, env: Environment = processEnv()): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portkey-auth: options must be an object')
  checkNames('', options)
  checkShapes(options)
  const clientAuth = resolveClientAuth(options.clientAuth || env.PORTKEY_CLIENT_AUTH || undefined)
  const resolvedUrl = resolveControlPlaneUrl(options.controlPlaneUrl, env.PORTKEY_CONTROL_PLANE_URL)
  const timeoutMs = integer('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs, 1, LIMITS.timeoutMs)
  const telemetry = resolveTelemetry(options.telemetry)
  const jwt = resolveJwtOptions(options.jwt, env, timeoutMs, telemetry?.jwksFetch)
  const breaker = options.breaker ?? {}
  const cache = resolveCache(options.cache ?? {})
  return {
    controlPlaneUrl: resolvedUrl,
    clientAuth,
    bearer: resolveBearer(options.bearer),
    lookup: options.lookup,
    lookupVirtualKey: options.lookupVirtualKey,
    scopes: options.scopes ?? null,
    timeoutMs,
    maxPendingLookups: integer(
      'maxPendingLookups',
      options.maxPendingLookups ?? DEFAULTS.maxPendingLookups,
      1,
      LIMITS.maxPendingLookups,
    ),
    breaker: Object.freeze({
      failureThreshold: integer(
        'breaker.failureThreshold',
        breaker.failureThreshold ?? DEFAULTS.breaker.failureThreshold,
        1,
        LIMITS.breakerFailures,
      ),
      cooldownMs: integer('breaker.cooldownMs', breaker.cooldownMs ?? DEFAULTS.breaker.cooldownMs, 0, LIMITS.breakerCooldownMs),
    }),
    onDecision: options.onDecision,
    cache,
    jwt,
    rateLimits: resolveRateLimits(options.rateLimits, cache.max),
    logger: resolveLogger(options.logger),
    controlPlaneSource: options.controlPlaneUrl != null ? 'option' : env.PORTKEY_CONTROL_PLANE_URL ? 'env' : 'default',
    telemetry,
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
    if (typeof value !== 'object' || value === null)
      throw new TypeError(`portkey-auth: ${name} must be an object, got ${describe(value)}`)
  }
  if (options.cache != null) checkNames('cache', options.cache)
  if (options.breaker != null) checkNames('breaker', options.breaker)
  if (
    options.scopes !== undefined &&
    options.scopes !== 'portkey' &&
    (typeof options.scopes !== 'object' || options.scopes === null)
  ) {
    throw new TypeError(
      `portkey-auth: scopes must be 'portkey' or a map of routes to scopes (e.g. { 'POST /v1/chat/completions': 'completions.write' }), got ${describe(options.scopes)}`,
    )
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

/** Off unless turned on (`DEFAULTS.bearer`); anything but a boolean is a mistake (a string `'false'` would read as on). */
function resolveBearer(bearer: unknown): boolean {
  if (bearer === undefined) return DEFAULTS.bearer
  if (typeof bearer !== 'boolean') throw new TypeError(`portkey-auth: bearer must be true or false, got ${describe(bearer)}`)
  return bearer
}

/**
 * The control plane's base URL: the option, else env, else Portkey's. A path ending in `/v1` or `/v2` (or
 * naming the key-details call) cannot be right: every key would look unknown, so it is refused here.
 */
function resolveControlPlaneUrl(option: string | undefined, fromEnv: string | undefined): string {
  const env = option == null && fromEnv ? 'PORTKEY_CONTROL_PLANE_URL' : undefined
  const name = named('controlPlaneUrl', env)
  const url = httpUrl(name, option ?? (fromEnv || DEFAULTS.controlPlaneUrl))
  const base = url.href.replace(/\/+$/, '')
  if (/\/v[12](?:\/|$)|\/api-keys(?:\/|$)/i.test(url.pathname)) {
    const suggestion =
      base.slice(0, base.length - url.pathname.replace(/\/+$/, '').length) +
      url.pathname.replace(/\/(?:v[12]|api-keys)(?:\/.*)?$/i, '')
    throw new TypeError(
      `portkey-auth: ${name} must be the control plane's base URL, without /v1, /v2 or an API path (the package adds ` +
        `/v2/api-keys/self/details itself), got ${JSON.stringify(url.href)}; did you mean ${JSON.stringify(suggestion.replace(/\/+$/, ''))}?`,
    )
  }
  return base
}

/** `console` by default; `false` for silence; else an object with `warn` and `info`. */
function resolveLogger(logger: unknown): Logger {
  if (logger === undefined || logger === null) return console
  if (logger === false) return { warn() {}, info() {} }
  const candidate = logger as Partial<Logger>
  if (typeof candidate.warn !== 'function' || typeof candidate.info !== 'function') {
    throw new TypeError(`portkey-auth: logger must be false or have warn() and info() (console does), got ${describe(logger)}`)
  }
  return candidate as Logger
}

/** On unless `false`; `true` or an object with `headers`, `maxCounters`, `mode` and `nearLimitAt`. */
function resolveRateLimits(option: unknown, cacheMax: number): ResolvedRateLimits | null {
  if (option === false) return null
  if (option !== undefined && option !== true && (typeof option !== 'object' || option === null)) {
    throw new TypeError(`portkey-auth: rateLimits must be true, false or an object, got ${describe(option)}`)
  }
  const given: RateLimitOptions = typeof option === 'object' ? option : {}
  checkNames('rateLimits', given)
  if (given.headers !== undefined && typeof given.headers !== 'boolean') {
    throw new TypeError(`portkey-auth: rateLimits.headers must be true or false, got ${describe(given.headers)}`)
  }
  const window = given.window ?? 'fixed'
  if (window !== 'fixed' && window !== 'sliding') {
    throw new TypeError(`portkey-auth: rateLimits.window must be 'fixed' or 'sliding', got ${describe(window)}`)
  }
  const mode = given.mode ?? 'enforce'
  if (mode !== 'enforce' && mode !== 'shadow') {
    throw new TypeError(`portkey-auth: rateLimits.mode must be 'enforce' or 'shadow', got ${describe(mode)}`)
  }
  return Object.freeze({
    headers: given.headers ?? true,
    maxCounters: integer('rateLimits.maxCounters', given.maxCounters ?? cacheMax, 1, LIMITS.cacheMax),
    window,
    mode,
    nearLimitAt: numberIn('rateLimits.nearLimitAt', given.nearLimitAt ?? 0.8, 0, 1),
    limits: compileAppLimits(given.limits),
  })
}

function resolveCache(cache: CacheOptions): Readonly<Required<CacheOptions>> {
  return Object.freeze({
    max: integer('cache.max', cache.max ?? DEFAULTS.cache.max, 2, LIMITS.cacheMax),
    ttlMs: integer('cache.ttlMs', cache.ttlMs ?? DEFAULTS.cache.ttlMs, 0, LIMITS.cacheTtlMs),
    staleMs: integer('cache.staleMs', cache.staleMs ?? DEFAULTS.cache.staleMs, 0, LIMITS.cacheTtlMs),
    negativeTtlMs: integer('cache.negativeTtlMs', cache.negativeTtlMs ?? DEFAULTS.cache.negativeTtlMs, 0, LIMITS.cacheTtlMs),
  })
}
