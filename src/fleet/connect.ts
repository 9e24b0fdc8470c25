// `#fleet` on Node, Bun and Deno (package.json "imports"; `./connect-edge.ts` in the edge bundles): what a verifier
// with the `redis` option is made of, and the option's reading.
import type { ResolvedRedisOptions } from '../options/redis.js'
import { FleetCounter } from '../rate-limit/fleet-counter.js'
import type { RemoteCallObserver } from '../telemetry/remote-calls.js'
import type { Logger } from '../types.js'
import { RedisConnection } from './redis.js'
import { SharedTier } from './shared-tier.js'

export { resolveRedis } from '../options/redis.js'

/** A verifier's parts on Redis: the shared tier (answers, revocations), and the rate limits' counters (or `null`). */
export interface Fleet {
  readonly tier: SharedTier
  readonly counter: FleetCounter | null
}

/** What `connectFleet()` needs beside the option. */
export interface FleetSettings {
  readonly logger: Logger
  readonly observer: RemoteCallObserver | undefined
  /** How long a look-up's lock lives, in milliseconds (see `SharedTier`). */
  readonly lockMs: number
  /** How long a revocation's marker lives, in milliseconds (see `SharedTier`). */
  readonly markerMs: number
  /** Whether rate limits are enforced (and so counted in Redis, on Redis's clock: see `FleetClock`). */
  readonly rateLimits: boolean
}

/** Connects to the Redis of `redis` (the option, resolved) and makes the parts that use it. */
export function connectFleet(redis: ResolvedRedisOptions, settings: FleetSettings): Fleet {
  const connection = new RedisConnection(redis, redis.timeoutMs, settings.logger, settings.observer)
  return {
    tier: new SharedTier(connection, redis.namespace, settings.lockMs, settings.markerMs),
    counter: settings.rateLimits ? new FleetCounter(connection, redis.namespace) : null,
  }
}
