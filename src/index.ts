/**
 * The verifier every adapter checks requests with (`createVerifier()`, to make one and share it), its options,
 * its errors, and the types the adapters share.
 * @packageDocumentation
 */

export { createVerifier } from './verifier/create-verifier.js'
export type { Verifier, VerifierStats } from './verifier/verifier.js'
export type { ProbeCheck, ProbeResult } from './lookup/probe.js'
export { PORTKEY_SCOPES } from './permissions/portkey-scopes.js'
export { hasPermissions } from './permissions/require.js'
export { AuthError, errorBody } from './errors.js'
export type { AuthErrorBody, AuthErrorCode } from './errors.js'
export { CREDENTIAL_HEADER, MAX_CREDENTIAL_BYTES } from './credential/header.js'
export { DEFAULT_CONTROL_PLANE_URL } from './options/resolve.js'
export type {
  BreakerOptions,
  CacheOptions,
  AppRateLimit,
  RateLimitOptions,
  RedisClientLike,
  RedisOptions,
  VerifierOptions,
} from './options/verifier-options.js'
export type { RateLimiterStats } from './rate-limit/limiter.js'
export type { RedisClusterLike, RedisClusterSettings, RedisSentinelLike, RedisSentinelSettings } from './options/redis-options.js'
export type { JwtOptions } from './options/jwt-options.js'
export type { MeterProviderLike, TelemetryProviders, TracerProviderLike } from './telemetry/otel-types.js'
export type { BreakerState, GuardStats } from './lookup/guard.js'
export type { MiddlewareOptions } from './adapters/middleware-options.js'
export type { VerifierHandle } from './adapters/dispatch.js'
export type { RedisStats } from './fleet/redis.js'
export type { SharedTierStats } from './fleet/shared-tier.js'
export type { CacheStats } from './cache/refreshing-cache.js'
export type {
  CacheState,
  CheckStatus,
  Decision,
  DecisionListener,
  IncomingHeaders,
  KeyLookup,
  KeyRecord,
  KeyType,
  LimitCount,
  LimitHolder,
  Milliseconds,
  PortkeyAuth,
  Quota,
  RateLimit,
  RateLimitHeaders,
  RateLimitScope,
  RateLimitStatus,
  RateLimitUnit,
  RequestRoute,
  ScopeMap,
  UsageLimits,
  VirtualKey,
  VirtualKeyLookup,
  VirtualKeyRecord,
} from './types.js'
