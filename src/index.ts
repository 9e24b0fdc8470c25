export { createVerifier } from './core/verifier.js'
export type { RequestRoute, Verifier, VerifierStats } from './core/verifier.js'
export { hasPermissions, PORTKEY_SCOPES } from './core/permissions.js'
export type { ScopeMap } from './core/permissions.js'
export { AuthError, errorBody } from './core/errors.js'
export type { AuthErrorBody, AuthErrorCode } from './core/errors.js'
export { CREDENTIAL_HEADER, MAX_CREDENTIAL_BYTES } from './core/credential.js'
export { DEFAULT_CONTROL_PLANE_URL } from './core/options.js'
export type { CacheOptions, VerifierOptions } from './core/options.js'
export type { JwtOptions } from './core/jwt.js'
export type { BreakerOptions, BreakerState, GuardStats } from './core/lookup-guard.js'
export type { CacheState, Decision, DecisionListener } from './core/decision.js'
export type { MiddlewareOptions } from './core/middleware.js'
export type { RedisClientLike, RedisOptions, RedisStats } from './core/redis.js'
export type { SharedTierStats } from './core/shared-tier.js'
export type { CacheStats } from './core/cache.js'
export type {
  IncomingHeaders,
  KeyLookup,
  KeyRecord,
  KeyType,
  Milliseconds,
  PortkeyAuth,
  RateLimit,
  UsageLimits,
  VirtualKey,
  VirtualKeyLookup,
  VirtualKeyRecord,
} from './core/types.js'
