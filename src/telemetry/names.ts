/**
 * Every name the package reports under, in one place: the instrumentation scope, the metrics and their
 * attributes, after OpenTelemetry's naming rules (the nearest precedents being ASP.NET Core's
 * `aspnetcore.authentication.authenticate.duration` and `aspnetcore.rate_limiting.requests`).
 */

/** The instrumentation scope: the meter's and the tracer's name and version (a test keeps it equal to package.json's). */
export const SCOPE = { name: 'portkey-auth', version: '0.1.0' } as const

export const METRICS = {
  /** Counter, one per request checked. */
  decisions: 'portkey_auth.decisions',
  /** Histogram, in seconds, one point per remote call (or a call refused before the wire). */
  lookupDuration: 'portkey_auth.lookup.duration',
  /** Counter of requests refused with `rate_limit_exceeded`. */
  rateLimitRefusals: 'portkey_auth.rate_limit.refusals',
  /** Counter of `near_limit` events, by `portkey_auth.rate_limit.name`. */
  rateLimitNear: 'portkey_auth.rate_limit.near_limit',
  /** Up-down counter: entries cached now, by `portkey_auth.cache.kind`. */
  cacheEntries: 'portkey_auth.cache.entries',
  /** Gauge: 1 for the breaker's current state, 0 for the others (a state set). */
  breakerStatus: 'portkey_auth.breaker.status',
  /** Gauge: 1 when the Redis connection is up, 0 when not, by `portkey_auth.redis.connection`. */
  redisConnected: 'portkey_auth.redis.connected',
} as const

export const ATTRIBUTES = {
  outcome: 'portkey_auth.outcome',
  errorType: 'error.type',
  method: 'portkey_auth.method',
  cache: 'portkey_auth.cache',
  rateLimitMode: 'portkey_auth.rate_limit.mode',
  rateLimitName: 'portkey_auth.rate_limit.name',
  lookupKind: 'portkey_auth.lookup.kind',
  lookupResult: 'portkey_auth.lookup.result',
  keyId: 'portkey_auth.key.id',
  virtualKey: 'portkey_auth.virtual_key.slug',
  cacheKind: 'portkey_auth.cache.kind',
  breakerState: 'portkey_auth.breaker.state',
  redisConnection: 'portkey_auth.redis.connection',
  dbSystem: 'db.system.name',
  dbOperation: 'db.operation.name',
} as const

/** What a remote call asked: the control plane for a key or a virtual key, the JWKS, or Redis. */
export type RemoteCallKind = 'api_key' | 'virtual_key' | 'jwks' | 'redis'

/**
 * How a remote call ended: an answer with a record (`found`) or without one (`unknown`: an unknown key, a
 * virtual key not for this caller, a nil Redis reply), no usable answer (`outage`), or refused before the
 * wire (`shed`: `maxPendingLookups` under way; `breaker_open`).
 */
export type RemoteCallResult = 'found' | 'unknown' | 'outage' | 'shed' | 'breaker_open'

/** Bucket bounds of the duration histogram, in seconds: OpenTelemetry's HTTP ones, with Redis's sub-millisecond range. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
