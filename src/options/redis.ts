import { sha256Base64url } from '../platform/sha256.js'
import { DEFAULTS, LIMITS } from './defaults.js'
import type { ResolvedJwtOptions } from './jwt.js'
import { checkNames } from './names.js'
import { integer } from './validate.js'
import type {
  RedisClientLike,
  RedisClusterLike,
  RedisClusterSettings,
  RedisOptions,
  RedisSentinelLike,
  RedisSentinelSettings,
} from './redis-options.js'
import type { VerifierOptions } from './verifier-options.js'

/** Redis settings after defaults and validation. */
export interface ResolvedRedisOptions {
  readonly client?: RedisClientLike | RedisClusterLike | RedisSentinelLike
  readonly url?: string
  readonly cluster?: RedisClusterSettings
  readonly sentinel?: RedisSentinelSettings
  /** The prefix the user gave (or the default). */
  readonly prefix: string
  /**
   * What every key name and the channel start with: the prefix and a digest of the settings that make an
   * answer valid (control plane, JWT keys, issuer, audience, algorithms), so that verifiers configured
   * differently never read each other's answers or revocations, even under one prefix.
   */
  readonly namespace: string
  readonly timeoutMs: number
}

/** What makes an answer valid: the settings the namespace is a digest of. */
export interface AnswerValidity {
  readonly controlPlaneUrl: string
  readonly jwt: ResolvedJwtOptions | null
  /** The JWKS URL or the inline key set. */
  readonly jwtSource: unknown
}

const isClient = (value: unknown): value is RedisClientLike | RedisClusterLike | RedisSentinelLike =>
  typeof value === 'object' && value !== null && typeof (value as RedisClientLike).sendCommand === 'function'

/** Validates the `redis` option; `null` without one. */
export function resolveRedis(options: VerifierOptions, validity: AnswerValidity): ResolvedRedisOptions | null {
  const option = options.redis
  if (option === undefined) return null
  const long: RedisOptions = typeof option === 'string' ? { url: option } : isClient(option) ? { client: option } : option
  const given = typeof long === 'object' && long !== null ? TARGETS.filter((name) => long[name] !== undefined) : []
  if (given.length !== 1) {
    // `{ uri }` and the like: named, with the option it is near.
    if (given.length === 0 && typeof long === 'object' && long !== null) checkNames('redis', long)
    throw new TypeError(
      'portkey-auth: redis must be a node-redis client, a redis:// URL, or one of { client }, { url }, { cluster }, { sentinel }',
    )
  }
  checkNames('redis', long)
  if (long.client !== undefined && !isClient(long.client))
    throw new TypeError('portkey-auth: redis.client must be a node-redis client (createClient, createCluster or createSentinel)')
  if (long.url !== undefined) checkUrl(long.url)
  if (long.cluster !== undefined) checkCluster(long.cluster)
  if (long.sentinel !== undefined) checkSentinel(long.sentinel)
  const customLookup = options.lookup !== undefined || options.lookupVirtualKey !== undefined
  if (customLookup && long.prefix === undefined) {
    // Answers from your own look-up cannot be told apart from another app's: name them.
    throw new TypeError(
      'portkey-auth: with a custom lookup, give redis.prefix a name of your key store, so no other app reads its answers',
    )
  }
  const prefix = long.prefix ?? DEFAULTS.redis.prefix
  if (typeof prefix !== 'string') throw new TypeError('portkey-auth: redis.prefix must be a string')
  const timeoutMs = integer('redis.timeoutMs', long.timeoutMs ?? DEFAULTS.redis.timeoutMs, 1, LIMITS.redisTimeoutMs)
  const namespace = `${prefix}${digest(customLookup ? { ...validity, controlPlaneUrl: 'custom' } : validity)}:`
  const { client, url, cluster, sentinel } = long
  return { client, url, cluster, sentinel, prefix, namespace, timeoutMs }
}

const TARGETS = ['client', 'url', 'cluster', 'sentinel'] as const

const isList = (value: unknown): value is unknown[] =>
  Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'object' && item !== null)

function checkCluster(cluster: RedisClusterSettings): void {
  if (typeof cluster !== 'object' || cluster === null || !isList(cluster.rootNodes))
    throw new TypeError(
      "portkey-auth: redis.cluster.rootNodes must list some of the cluster's nodes, e.g. [{ url: 'redis://10.0.0.1:6379' }]",
    )
  checkNames('redis.cluster', cluster)
  needRedisPackage()
}

function checkSentinel(sentinel: RedisSentinelSettings): void {
  if (typeof sentinel !== 'object' || sentinel === null || typeof sentinel.name !== 'string' || sentinel.name === '')
    throw new TypeError('portkey-auth: redis.sentinel.name must name the primary the sentinels watch')
  if (!isList(sentinel.sentinelRootNodes))
    throw new TypeError(
      "portkey-auth: redis.sentinel.sentinelRootNodes must list some sentinels, e.g. [{ host: '10.0.0.5', port: 26379 }]",
    )
  checkNames('redis.sentinel', sentinel)
  needRedisPackage()
}

function checkUrl(url: unknown): void {
  if (!/^rediss?:\/\//.test(String(url))) throw new TypeError('portkey-auth: redis.url must start with redis:// or rediss://')
  needRedisPackage()
}

function needRedisPackage(): void {
  try {
    import.meta.resolve('redis')
  } catch {
    throw new TypeError("portkey-auth: redis settings need the 'redis' package: npm install redis")
  }
}

/**
 * A digest of what makes an answer valid. The raw `clientAuth` is left out (a secret); the control-plane
 * URL already tells environments apart.
 */
function digest({ controlPlaneUrl, jwt, jwtSource }: AnswerValidity): string {
  const jwtPart = jwt && [jwtSource, jwt.issuer, jwt.audience, jwt.algorithms]
  return sha256Base64url(JSON.stringify([controlPlaneUrl, jwtPart])).slice(0, 16)
}
