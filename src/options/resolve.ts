import { hash } from 'node:crypto'
import { type JwtOptions, type ResolvedJwtOptions, resolveJwtOptions } from '../credential/jwt.js'
import type { DecisionListener } from '../verifier/decision.js'
import type { BreakerOptions } from '../lookup/guard.js'
import type { RedisClientLike, RedisOptions } from '../fleet/redis.js'
import { compileScopes, type RouteScopes, type ScopeMap } from '../permissions/route-scopes.js'
import type { KeyLookup, Milliseconds, VirtualKeyLookup } from '../types.js'
import { httpUrl, integer } from './validate.js'

/** Cache settings. Every field is optional. */
export interface CacheOptions {
  /**
   * Most entries kept, least recently used dropped first; at least 2. A tenth of them is set aside for
   * "unknown key" answers, so that a flood of random keys cannot push out the keys that work. At most
   * 10,000,000 (the cache reserves room for `max` entries when it is made). @default 10_000
   */
  max?: number
  /** Fresh life of an answer about a known key, in milliseconds: no look-up during it. @default 60_000 */
  ttlMs?: Milliseconds
  /**
   * How long after `ttlMs` an entry may still be served, in milliseconds: at once while one background
   * refresh runs, and for as long as the key service keeps failing. Past it the entry is a miss.
   * Never past the key's own `expires_at`. @default 600_000
   */
  staleMs?: Milliseconds
  /** Life of an "unknown key" answer, in milliseconds, so a flood of bad keys is not a flood of look-ups. @default 10_000 */
  negativeTtlMs?: Milliseconds
}

/** Options of `createVerifier()` and of both adapters. Explicit options win over the environment. */
export interface VerifierOptions {
  /**
   * Base URL of Portkey's control plane (the key service), without a path.
   * @default process.env.PORTKEY_CONTROL_PLANE_URL, else 'https://api.portkey.ai'
   */
  controlPlaneUrl?: string
  /**
   * Sent verbatim as `Authorization` on every control-plane call (a self-hosted data plane's client auth).
   * @default process.env.PORTKEY_CLIENT_AUTH
   */
  clientAuth?: string
  /** Replaces the HTTP look-up, e.g. to read keys from your own store. @default the control-plane look-up */
  lookup?: KeyLookup
  /**
   * Replaces the HTTP virtual-key look-up (`GET /v2/virtual-keys/{slug}`). @default the control-plane look-up
   */
  lookupVirtualKey?: VirtualKeyLookup
  /**
   * Scopes each route requires: `'portkey'` for Portkey's own mapping (chat, completions, embeddings,
   * images, audio → `completions.write`, and so on), or your own map. A request whose credential lacks
   * them gets 403 `insufficient_scope`. How paths match (every tail; ambiguous paths refused): see `ScopeMap`.
   * @default none: any valid credential passes
   */
  scopes?: 'portkey' | ScopeMap
  /**
   * Time allowed for one control-plane call, in milliseconds, a retry of a dropped connection included;
   * past it the request gets a 503. @default 2_000
   */
  timeoutMs?: Milliseconds
  /**
   * Most look-ups (distinct keys) under way at once; a miss beyond that is answered 503 at once instead
   * of queuing on the key service. Cached keys are never affected. @default 256
   */
  maxPendingLookups?: number
  /** The circuit breaker in front of the key service. */
  breaker?: BreakerOptions
  /**
   * Called once per verified request with its outcome, for logs and metrics. It never sees the
   * credential; if it throws, the error is ignored. @default none
   */
  onDecision?: DecisionListener
  /** Cache settings. */
  cache?: CacheOptions
  /**
   * Accept Portkey JWTs in `x-portkey-api-key`, verified locally against a JWKS. Without it (and without
   * env `PORTKEY_JWKS_URL`), a JWT-shaped value is looked up as an API key. @default off
   */
  jwt?: JwtOptions
  /**
   * A Redis shared by every instance, between each one's LRU and the control plane: a node-redis client,
   * a URL, or `{ client | url, prefix, timeoutMs }`. A key is then looked up once for the fleet, and
   * `invalidate()` / `invalidateKeyId()` reach every instance. Redis failing never fails a request.
   * @default none
   */
  redis?: RedisClientLike | string | RedisOptions
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly controlPlaneUrl: string
  readonly clientAuth: string | undefined
  readonly lookup: KeyLookup | undefined
  readonly lookupVirtualKey: VirtualKeyLookup | undefined
  readonly scopes: RouteScopes | null
  readonly timeoutMs: number
  readonly maxPendingLookups: number
  readonly breaker: Readonly<Required<BreakerOptions>>
  readonly onDecision: DecisionListener | undefined
  readonly cache: Readonly<Required<CacheOptions>>
  readonly jwt: ResolvedJwtOptions | null
  readonly redis: ResolvedRedisOptions | null
}

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

export const DEFAULT_CONTROL_PLANE_URL = 'https://api.portkey.ai'

const DEFAULTS = {
  timeoutMs: 2_000,
  maxPendingLookups: 256,
  failureThreshold: 5,
  cooldownMs: 5_000,
  max: 10_000,
  ttlMs: 60_000,
  staleMs: 600_000,
  negativeTtlMs: 10_000,
}

/**
 * Applies defaults (the environment, then built-in values) and validates. Misconfiguration is a
 * `TypeError` here, at construction, never a failure per request.
 */
export function resolveOptions(options: VerifierOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portkey-auth: options must be an object')
  const controlPlaneUrl = options.controlPlaneUrl ?? (env.PORTKEY_CONTROL_PLANE_URL || DEFAULT_CONTROL_PLANE_URL)
  const clientAuth = options.clientAuth || env.PORTKEY_CLIENT_AUTH || undefined
  const cache = options.cache ?? {}
  if (typeof cache !== 'object' || cache === null) throw new TypeError('portkey-auth: cache must be an object')

  if (options.lookup !== undefined && typeof options.lookup !== 'function') {
    throw new TypeError('portkey-auth: lookup must be a function')
  }
  if (options.lookupVirtualKey !== undefined && typeof options.lookupVirtualKey !== 'function') {
    throw new TypeError('portkey-auth: lookupVirtualKey must be a function')
  }
  if (options.scopes !== undefined && options.scopes !== 'portkey' && (typeof options.scopes !== 'object' || options.scopes === null)) {
    throw new TypeError("portkey-auth: scopes must be 'portkey' or a map of routes to scopes")
  }
  // What fetch accepts in a header value; checked here so a bad secret fails at start-up, not in every
  // request (where fetch's own error would quote it).
  if (clientAuth !== undefined && (typeof clientAuth !== 'string' || !/^[\t\x20-\x7e\x80-\xff]*$/.test(clientAuth))) {
    throw new TypeError('portkey-auth: clientAuth must be a string of printable Latin-1 characters')
  }
  for (const name of ['jwt', 'breaker'] as const) {
    const value = options[name]
    if (value !== undefined && (typeof value !== 'object' || value === null)) throw new TypeError(`portkey-auth: ${name} must be an object`)
  }
  if (options.onDecision !== undefined && typeof options.onDecision !== 'function') {
    throw new TypeError('portkey-auth: onDecision must be a function')
  }
  const breaker = options.breaker ?? {}
  // Node's timers hold at most 2^31 - 1 ms.
  const timeoutMs = integer('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs, 1, 2_147_483_647)
  const resolvedUrl = httpUrl('controlPlaneUrl', controlPlaneUrl).href.replace(/\/+$/, '')
  const jwt = resolveJwtOptions(options.jwt, env, timeoutMs)
  const customLookup = options.lookup !== undefined || options.lookupVirtualKey !== undefined
  const validity = answerValidity(resolvedUrl, customLookup, jwt, options.jwt?.jwksUrl ?? options.jwt?.jwks ?? env.PORTKEY_JWKS_URL)
  return {
    controlPlaneUrl: resolvedUrl,
    clientAuth,
    lookup: options.lookup,
    lookupVirtualKey: options.lookupVirtualKey,
    scopes: options.scopes === undefined ? null : compileScopes(options.scopes),
    timeoutMs,
    maxPendingLookups: integer('maxPendingLookups', options.maxPendingLookups ?? DEFAULTS.maxPendingLookups, 1),
    breaker: Object.freeze({
      failureThreshold: integer('breaker.failureThreshold', breaker.failureThreshold ?? DEFAULTS.failureThreshold, 1),
      cooldownMs: integer('breaker.cooldownMs', breaker.cooldownMs ?? DEFAULTS.cooldownMs, 0),
    }),
    onDecision: options.onDecision,
    cache: Object.freeze({
      // lru-cache sizes its storage by max up front: past ten million a typo costs gigabytes, or the process.
      max: integer('cache.max', cache.max ?? DEFAULTS.max, 2, 10_000_000),
      ttlMs: integer('cache.ttlMs', cache.ttlMs ?? DEFAULTS.ttlMs, 0),
      staleMs: integer('cache.staleMs', cache.staleMs ?? DEFAULTS.staleMs, 0),
      negativeTtlMs: integer('cache.negativeTtlMs', cache.negativeTtlMs ?? DEFAULTS.negativeTtlMs, 0),
    }),
    jwt,
    redis: resolveRedis(options.redis, validity, customLookup),
  }
}

/**
 * A digest of what makes an answer valid, for the Redis namespace. The raw `clientAuth` is left out (a
 * secret); the control-plane URL already tells environments apart.
 */
function answerValidity(controlPlaneUrl: string, customLookup: boolean, jwt: ResolvedJwtOptions | null, jwtSource: unknown): string {
  const jwtPart = jwt && [jwtSource, jwt.issuer, jwt.audience, jwt.algorithms]
  return hash('sha256', JSON.stringify([customLookup ? 'custom' : controlPlaneUrl, jwtPart]), 'base64url').slice(0, 16)
}

function resolveRedis(option: VerifierOptions['redis'], validity: string, customLookup: boolean): ResolvedOptions['redis'] {
  if (option === undefined) return null
  const isClient = (value: unknown): value is RedisClientLike =>
    typeof value === 'object' && value !== null && typeof (value as RedisClientLike).sendCommand === 'function'
  const long: RedisOptions = typeof option === 'string' ? { url: option } : isClient(option) ? { client: option } : option
  if (typeof long !== 'object' || long === null || (long.client === undefined) === (long.url === undefined)) {
    throw new TypeError('portkey-auth: redis must be a node-redis client, a redis:// URL, or { client } or { url }')
  }
  if (long.client !== undefined && !isClient(long.client)) throw new TypeError('portkey-auth: redis.client must be a node-redis client')
  if (long.url !== undefined) {
    if (!/^rediss?:\/\//.test(String(long.url))) throw new TypeError('portkey-auth: redis.url must start with redis:// or rediss://')
    try {
      import.meta.resolve('redis')
    } catch {
      throw new TypeError("portkey-auth: a redis URL needs the 'redis' package: npm install redis")
    }
  }
  if (customLookup && long.prefix === undefined) {
    // Answers from your own look-up cannot be told apart from another app's: name them.
    throw new TypeError('portkey-auth: with a custom lookup, give redis.prefix a name of your key store, so no other app reads its answers')
  }
  const prefix = long.prefix ?? 'portkey-auth:'
  if (typeof prefix !== 'string') throw new TypeError('portkey-auth: redis.prefix must be a string')
  const timeoutMs = integer('redis.timeoutMs', long.timeoutMs ?? 250, 1, 60_000)
  return { client: long.client, url: long.url, prefix, namespace: `${prefix}${validity}:`, timeoutMs }
}
