import { RefreshingCache } from '../cache/refreshing-cache.js'
import type { CredentialSource } from '../credential/header.js'
import { connectFleet } from '#fleet'
import { controlPlaneLookup, controlPlaneVirtualKeyLookup } from '../lookup/control-plane.js'
import { LookupGuard } from '../lookup/guard.js'
import { credentialAlias, credentialLoader, type Sources, type VirtualKeyRequest, virtualKeyLoader } from '../lookup/loaders.js'
import { TIMINGS } from '../options/defaults.js'
import { type ResolvedOptions, resolveOptions } from '../options/resolve.js'
import type { VerifierOptions } from '../options/verifier-options.js'
import { compileScopes } from '../permissions/route-scopes.js'
import { heldCounters } from '../rate-limit/holders.js'
import { RateLimiter } from '../rate-limit/limiter.js'
import type { Outcome } from '../records.js'
import type { Logger, PortkeyAuth, VirtualKey } from '../types.js'
import { audited } from './decision.js'
import { createCheck } from './check.js'
import { probe } from '../lookup/probe.js'
import { revocations } from './revoke.js'
import type { Verifier } from './verifier.js'

/**
 * Creates a verifier: reads `x-portkey-api-key` (or, without it, `Authorization: Bearer`), resolves it
 * through the cache (and Redis, when given) and the key service, or verifies it as a JWT, and returns the
 * caller's context.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ cache: { ttlMs: 30_000 } })
 * const auth = await verifier.verify(req.headers) // throws AuthError
 * ```
 */
export function createVerifier(options?: VerifierOptions): Verifier {
  const config = resolveOptions(options)
  const { controlPlaneUrl, clientAuth, cache: lifetimes, redis } = config
  const { logger, telemetry } = config
  const observer = telemetry?.calls
  const target = config.lookup ? 'the custom lookup' : controlPlaneUrl
  logger.info(startupLine(config))
  const guard = new LookupGuard({
    target,
    timeoutMs: config.timeoutMs,
    maxPendingLookups: config.maxPendingLookups,
    ...config.breaker,
    logger,
    observer,
  })
  const lockMs = config.timeoutMs + TIMINGS.lockMarginMs
  // A marker outlives every answer asked before it: an answer lives in Redis at most ttlMs + staleMs.
  const markerMs = lifetimes.ttlMs + lifetimes.staleMs + lockMs
  // With Redis: the shared tier, and the fleet's counters with Redis's clock, which their windows follow (FleetClock).
  const { tier, counter: fleet } = redis
    ? connectFleet(redis, { logger, observer, lockMs, markerMs, rateLimits: config.rateLimits !== null })
    : { tier: null, counter: null }
  const limiter =
    config.rateLimits &&
    new RateLimiter({
      max: config.rateLimits.maxCounters,
      headers: config.rateLimits.headers,
      shadow: config.rateLimits.mode === 'shadow',
      nearLimitAt: config.rateLimits.nearLimitAt,
      sliding: config.rateLimits.window === 'sliding',
      app: config.rateLimits.limits,
      fleet,
      logger,
    })
  const sources: Sources = { guard, lifetimes, tier }
  const keys = new RefreshingCache<Outcome<PortkeyAuth>, string>(
    lifetimes.max,
    credentialLoader(config.lookup ?? controlPlaneLookup(controlPlaneUrl, clientAuth), config.jwt, sources),
    // Another instance revokes a credential by its fingerprint: with Redis, its entry goes by it too.
    tier ? credentialAlias : undefined,
  )
  const virtualKeys = new RefreshingCache<Outcome<VirtualKey>, VirtualKeyRequest>(
    lifetimes.max,
    virtualKeyLoader(config.lookupVirtualKey ?? controlPlaneVirtualKeyLookup(controlPlaneUrl, clientAuth), sources),
  )
  const { onMessage, ...revoke } = revocations({ keys, virtualKeys, tier, limiter: limiter || null })
  tier?.listen(onMessage)

  const scopes = config.scopes === null ? null : compileScopes(config.scopes)
  const { bearer } = config
  const source = credentialSource(bearer, config.jwt !== null, logger)
  const redisUp = () => tier?.connected ?? null
  // What a request goes through: check.ts runs the steps of pipeline.ts; audited() lets onDecision hear it.
  const check = audited(
    createCheck({ keys, virtualKeys, scopes, source, limiter, lookupBudgetSize: lifetimes.max }),
    config.onDecision,
    redisUp,
    telemetry?.decisions,
  )
  const stats = () => ({
    ...keys.stats(),
    virtualKeys: virtualKeys.stats(),
    guard: guard.stats(),
    redis: tier?.stats() ?? null,
    rateLimits: limiter?.stats() ?? null,
  })
  telemetry?.watch(stats)
  return {
    check,
    routed: scopes !== null || limiter?.routed === true,
    limited: limiter !== null,
    bearer,
    async verify(headers, route, status) {
      return check(headers, route, status)
    },
    ...revoke,
    async rateLimitStanding(holder) {
      if (limiter !== null) return limiter.standing(holder)
      // Nothing counted, but a holder that could never name counters is still a mistake to say.
      heldCounters(holder, null)
      return []
    },
    async reportTokens(of, tokens) {
      return limiter === null ? Number.isSafeInteger(tokens) && tokens >= 0 : limiter.reportTokens(of, tokens)
    },
    stats,
    probe() {
      return probe({
        controlPlaneUrl: config.lookup === undefined ? controlPlaneUrl : null,
        clientAuth,
        jwksUrl: config.jwt?.jwksUrl ?? null,
        redis: tier ? () => tier.ping() : null,
        timeoutMs: config.timeoutMs,
      })
    },
    async close() {
      fleet?.clock.close()
      await tier?.close()
    },
  }
}

/**
 * Where this verifier reads the credential. With `bearer` off, the first request that carries only an
 * `Authorization` makes one warning (per verifier) that says how to accept it, so an app whose clients send
 * the key as a Bearer (the OpenAI SDK does) learns why they get 401.
 */
function credentialSource(bearer: boolean, jwt: boolean, logger: Logger): CredentialSource {
  if (bearer) return { bearer, jwt }
  let warned = false
  return {
    bearer,
    jwt,
    authorizationOnly() {
      if (warned) return
      warned = true
      logger.warn(
        'portkey-auth: a request carried an Authorization header but no x-portkey-api-key, and was refused 401: ' +
          'Authorization is not read by default. If your clients send the Portkey key as Authorization: Bearer ' +
          '(the OpenAI SDK does), create the middleware with { bearer: true }.',
      )
    },
  }
}

export type { Verifier, VerifierStats } from './verifier.js'
export type { RequestRoute } from '../types.js'

const SOURCES = {
  option: 'the controlPlaneUrl option',
  env: 'PORTKEY_CONTROL_PLANE_URL',
  default: 'the default; set PORTKEY_CONTROL_PLANE_URL or controlPlaneUrl for another',
} as const

/**
 * The one line a verifier logs when it is made: where keys are looked up and where that came from, and what is
 * on. Never a secret: `clientAuth` only as on or off (URLs with user info are refused).
 */
function startupLine(config: ResolvedOptions): string {
  const where = config.lookup
    ? 'keys looked up by the custom lookup option'
    : `control plane ${config.controlPlaneUrl} (${SOURCES[config.controlPlaneSource]})`
  const on = (value: unknown) => (value ? 'on' : 'off')
  return (
    `portkey-auth: verifier ready: ${where}; clientAuth ${on(config.clientAuth)}, JWT ${on(config.jwt)}, ` +
    `Redis ${on(config.redis)}, rate limits ${on(config.rateLimits)}, Bearer ${on(config.bearer)}`
  )
}
