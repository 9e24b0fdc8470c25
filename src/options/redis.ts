import { hash } from 'node:crypto'
import { DEFAULTS, LIMITS } from './defaults.js'
import type { ResolvedJwtOptions } from './jwt.js'
import { integer, knownNames } from './validate.js'
import type { RedisClientLike, RedisOptions, VerifierOptions } from './verifier-options.js'

/** Redis settings after defaults and validation. */
export interface ResolvedRedisOptions {
  readonly client?: RedisClientLike
  readonly url?: string
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

const REDIS_NAMES = ['client', 'url', 'prefix', 'timeoutMs'] as const satisfies readonly (keyof RedisOptions)[]

const isClient = (value: unknown): value is RedisClientLike =>
  typeof value === 'object' && value !== null && typeof (value as RedisClientLike).sendCommand === 'function'

/** Validates the `redis` option; `null` without one. */
export function resolveRedis(options: VerifierOptions, validity: AnswerValidity): ResolvedRedisOptions | null {
  const option = options.redis
  if (option === undefined) return null
  const long: RedisOptions = typeof option === 'string' ? { url: option } : isClient(option) ? { client: option } : option
  if (typeof long !== 'object' || long === null || (long.client === undefined) === (long.url === undefined)) {
    throw new TypeError('portkey-auth: redis must be a node-redis client, a redis:// URL, or { client } or { url }')
  }
  knownNames('redis', long, REDIS_NAMES)
  if (long.client !== undefined && !isClient(long.client))
    throw new TypeError('portkey-auth: redis.client must be a node-redis client')
  if (long.url !== undefined) checkUrl(long.url)
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
  return { client: long.client, url: long.url, prefix, namespace, timeoutMs }
}

function checkUrl(url: unknown): void {
  if (!/^rediss?:\/\//.test(String(url))) throw new TypeError('portkey-auth: redis.url must start with redis:// or rediss://')
  try {
    import.meta.resolve('redis')
  } catch {
    throw new TypeError("portkey-auth: a redis URL needs the 'redis' package: npm install redis")
  }
}

/**
 * A digest of what makes an answer valid. The raw `clientAuth` is left out (a secret); the control-plane
 * URL already tells environments apart.
 */
function digest({ controlPlaneUrl, jwt, jwtSource }: AnswerValidity): string {
  const jwtPart = jwt && [jwtSource, jwt.issuer, jwt.audience, jwt.algorithms]
  return hash('sha256', JSON.stringify([controlPlaneUrl, jwtPart]), 'base64url').slice(0, 16)
}
