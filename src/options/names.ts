import type { TelemetryProviders } from '../telemetry/otel-types.js'
import type { JwtOptions } from './jwt-options.js'
import type { RedisClusterSettings, RedisOptions, RedisSentinelSettings } from './redis-options.js'
import { knownNames } from './validate.js'
import type { AppRateLimit, BreakerOptions, CacheOptions, RateLimitOptions, VerifierOptions } from './verifier-options.js'

/**
 * A table of an options type's names: every field of `T` and no other. Written as an object literal that
 * `satisfies` it, a field `T` gains and the table lacks fails to compile ("property … is missing"), and so
 * does a name `T` lacks.
 */
export type Names<T> = { readonly [name in keyof T]-?: true }

/**
 * Every option name of `createVerifier()`, one table per level, keyed as messages name the level (`''` the
 * top), in the order messages list them: `checkNames()` refuses any other name, with a did-you-mean.
 */
const OPTION_NAMES = {
  '': {
    controlPlaneUrl: true,
    clientAuth: true,
    bearer: true,
    lookup: true,
    lookupVirtualKey: true,
    scopes: true,
    timeoutMs: true,
    maxPendingLookups: true,
    breaker: true,
    onDecision: true,
    cache: true,
    jwt: true,
    redis: true,
    rateLimits: true,
    logger: true,
    telemetry: true,
  } satisfies Names<VerifierOptions>,
  cache: { max: true, ttlMs: true, staleMs: true, negativeTtlMs: true } satisfies Names<CacheOptions>,
  breaker: { failureThreshold: true, cooldownMs: true } satisfies Names<BreakerOptions>,
  jwt: {
    jwksUrl: true,
    jwks: true,
    algorithms: true,
    issuer: true,
    audience: true,
    clockToleranceSec: true,
  } satisfies Names<JwtOptions>,
  redis: { client: true, url: true, cluster: true, sentinel: true, prefix: true, timeoutMs: true } satisfies Names<RedisOptions>,
  'redis.cluster': { rootNodes: true, defaults: true, nodeAddressMap: true } satisfies Names<RedisClusterSettings>,
  'redis.sentinel': {
    name: true,
    sentinelRootNodes: true,
    nodeClientOptions: true,
    sentinelClientOptions: true,
  } satisfies Names<RedisSentinelSettings>,
  rateLimits: {
    headers: true,
    maxCounters: true,
    window: true,
    mode: true,
    nearLimitAt: true,
    limits: true,
  } satisfies Names<RateLimitOptions>,
  'rateLimits.limits[]': {
    name: true,
    type: true,
    unit: true,
    value: true,
    per: true,
    route: true,
    mode: true,
  } satisfies Names<AppRateLimit>,
  telemetry: { meterProvider: true, tracerProvider: true } satisfies Names<TelemetryProviders>,
}

/**
 * The options a middleware reads itself, beside the verifier options, by adapter: Express, Koa and Hono share
 * `node`; Fastify's plugin adds `addHook`; a Web handler takes neither `publicRoutes` nor `hideCredentials`
 * (both refused with a message of their own). Each adapter checks its table against its options type where
 * that type is declared (`satisfies Names<…>`): no type of theirs is imported here.
 */
export const MIDDLEWARE_NAMES = {
  node: { verifier: true, hideCredentials: true, onError: true, publicRoutes: true },
  fastify: { verifier: true, hideCredentials: true, onError: true, publicRoutes: true, addHook: true },
  web: { verifier: true, onError: true },
} as const

/** Whose middleware options: Express's, Koa's and Hono's (`node`), Fastify's plugin's, a Web handler's. */
export type Middleware = keyof typeof MIDDLEWARE_NAMES

/**
 * Refuses a name `options` has and its level's table lacks, naming the closest known one (see `knownNames`).
 * At the top level that may be an option of `middleware`'s (by default the table `createVerifier()` names a
 * middleware option by), said to be `portkeyAuth()`'s.
 */
export function checkNames(level: keyof typeof OPTION_NAMES, options: object, middleware: Middleware = 'node'): void {
  const elsewhere = level === '' ? Object.keys(MIDDLEWARE_NAMES[middleware]) : []
  knownNames(
    level,
    options,
    Object.keys(OPTION_NAMES[level]),
    Object.fromEntries(elsewhere.map((name) => [name, 'portkeyAuth()'])),
  )
}
