import type { DecisionListener, KeyLookup, Logger, Milliseconds, RateLimitUnit, ScopeMap, VirtualKeyLookup } from '../types.js'
import type { TelemetryProviders } from '../telemetry/otel-types.js'
import type { JwtOptions } from './jwt-options.js'
import type { RedisClientLike, RedisClusterLike, RedisOptions, RedisSentinelLike } from './redis-options.js'

export type {
  RedisClientLike,
  RedisClusterLike,
  RedisClusterSettings,
  RedisOptions,
  RedisSentinelLike,
  RedisSentinelSettings,
} from './redis-options.js'

/** Cache settings. Every field is optional. */
export interface CacheOptions {
  /**
   * Most entries kept, least recently used dropped first; at least 2. A tenth of them is set aside for
   * "unknown key" answers, so that a flood of random keys cannot push out the keys that work. At most
   * 10,000,000 (the cache reserves room for `max` entries when it is made). @default 10_000
   */
  max?: number
  /** Fresh life of an answer about a known key, in milliseconds: no look-up during it. At most a day. @default 60_000 */
  ttlMs?: Milliseconds
  /**
   * How long after `ttlMs` an entry may still be served, in milliseconds: at once while one background
   * refresh runs, and for as long as the key service keeps failing. Past it the entry is a miss.
   * Never past the key's own `expires_at`. At most a day (86,400,000). @default 600_000
   */
  staleMs?: Milliseconds
  /**
   * Life of an "unknown key" answer, in milliseconds, so a flood of bad keys is not a flood of look-ups. At most a
   * day. @default 10_000
   */
  negativeTtlMs?: Milliseconds
}

/** Options of `createVerifier()` and of every adapter. Explicit options win over the environment. */
export interface VerifierOptions {
  /**
   * Base URL of Portkey's control plane (the key service), without a path.
   * @default process.env.PORTKEY_CONTROL_PLANE_URL, else 'https://api.portkey.ai'
   */
  controlPlaneUrl?: string
  /**
   * Sent verbatim as `Authorization` on every control-plane call: the credential a self-hosted (hybrid) data
   * plane's control-plane calls carry, as Portkey gives it for that deployment. Not needed against Portkey's
   * own control plane with Portkey API keys (the caller's key is what authenticates the look-up), and never a
   * Portkey API key of yours. A secret: never logged (the start-up line says only whether it is set).
   * @default process.env.PORTKEY_CLIENT_AUTH (none when unset)
   */
  clientAuth?: string
  /**
   * Also take the credential (an API key or a JWT) from `Authorization: Bearer <key>` when `x-portkey-api-key` is
   * absent, as Portkey does: it is what the OpenAI SDK sends when given `apiKey: <Portkey key>` and a `baseURL`.
   *
   * Off by default, because `Authorization` often carries a secret that is not Portkey's — a provider key a
   * client sends to an OpenAI-compatible backend, or the app's own session token — and turning this on sends
   * whatever the header holds to the key service (Portkey's, unless `controlPlaneUrl` names another). With it
   * on: `x-portkey-api-key` always wins when present (the `Authorization` beside it is a provider's key, never
   * read); a token with a known provider's prefix (`sk-`, `sk-ant-`, `AIza`, `gsk_`, `xai-`, `fw_`, `ghp_`…)
   * or a dot (a JWT without the `jwt` option, a JWE, an OAuth token) is refused 401
   * `missing_api_key` and never looked up; any other token is, so turn this on only where clients send Portkey
   * keys in `Authorization`; a repeated `Authorization` is a 400; another scheme (`Basic …`) or an empty token is a missing
   * credential. With it off, the first request that carries only `Authorization` logs one warning saying so.
   * @default false
   */
  bearer?: boolean
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
   * of queuing on the key service. Cached keys are never affected. From 1 to 100,000. @default 256
   */
  maxPendingLookups?: number
  /** The circuit breaker in front of the key service. @default `{ failureThreshold: 5, cooldownMs: 5_000 }` */
  breaker?: BreakerOptions
  /**
   * Called once per verified request with its outcome, for logs and metrics. It never sees the
   * credential; if it throws, the error is ignored. @default none
   */
  onDecision?: DecisionListener
  /**
   * Cache settings (each instance's LRU).
   * @default `{ max: 10_000, ttlMs: 60_000, staleMs: 600_000, negativeTtlMs: 10_000 }`
   */
  cache?: CacheOptions
  /**
   * Accept Portkey JWTs in `x-portkey-api-key`, verified locally against a JWKS. Without it (and without
   * env `PORTKEY_JWKS_URL`), a JWT-shaped value is looked up as an API key. @default off
   */
  jwt?: JwtOptions
  /**
   * A Redis shared by every instance, between each one's LRU and the control plane: a node-redis client
   * (standalone, `createCluster` or `createSentinel`), a URL, or `{ client | url | cluster | sentinel,
   * prefix, timeoutMs }`. A key is then looked up once for the fleet, and `invalidate()` /
   * `invalidateKeyId()` reach every instance. Redis failing (or failing over) never fails a request. On Node, Bun
   * and Deno: the Workers and Edge bundles (conditions `workerd`, `worker`, `edge-light`) leave Redis out and refuse
   * this option with a `TypeError`.
   * @default none
   */
  redis?: RedisClientLike | RedisClusterLike | RedisSentinelLike | string | RedisOptions
  /**
   * Enforce the rate limits of keys, tokens and virtual keys (their records' `rate_limits`, a JWT's
   * `rate_limits` claim): a request past one gets 429 `rate_limit_exceeded` with `Retry-After`. Counted in
   * fixed, clock-aligned windows, on this instance, or across the fleet with `redis` (windows then on Redis's
   * clock). `false` turns enforcement off (the context still carries `rateLimits`). @default true
   */
  rateLimits?: boolean | RateLimitOptions
  /**
   * Where to report the breaker opening and closing, Redis going and coming back, and a control plane that
   * answers like no key service (each once, when it happens): any object with `warn(message)` and
   * `info(message)`; `false` for silence. @default console
   */
  logger?: Logger | false
  /**
   * Report metrics and traces to OpenTelemetry: `true` for the global providers (needs `@opentelemetry/api`,
   * and the SDK started before the verifier is created), or `{ meterProvider, tracerProvider }` (either or
   * both) to report to those, with no import. Off, it costs nothing. Never reports a credential; see the
   * README's Observability section for the metrics and spans. @default false
   */
  telemetry?: boolean | TelemetryProviders
}

/** Rate-limit settings. Every field is optional. */
export interface RateLimitOptions {
  /**
   * Send `RateLimit-Policy` and `RateLimit` (IETF httpapi rate-limit-headers draft -11) on the responses of
   * a key that has limits, admitted and refused; `false` sends neither (429s keep `Retry-After`). @default true
   */
  headers?: boolean
  /**
   * Most keys, tokens and virtual keys (of each kind) whose counters one instance keeps; the least recently
   * seen go first, and a key whose counters went starts its window afresh. @default cache.max (10_000)
   */
  maxCounters?: number
  /**
   * How windows count: `'fixed'`, clock-aligned (minutes from :00, hours on the hour, days and weeks from 00:00 UTC),
   * where a caller may spend a limit twice within a moment across a window's edge; or `'sliding'`, where the window
   * before still weighs on the current one by the share of it left (the sliding-window approximation), so a limit
   * holds over any span of its window's length, give or take the approximation (see the README's Rate limits for the
   * measured worst cases). The same Redis leases either way; sliding reads the previous window's count once a window.
   * @default 'fixed'
   */
  window?: 'fixed' | 'sliding'
  /**
   * `'enforce'` refuses a request past a limit with 429. `'shadow'` counts and reports exactly as enforcing does
   * (the `RateLimit` headers, `Quota.overLimit`, `onDecision`'s `overLimit`, the refusals metric under
   * `portkey_auth.rate_limit.mode: shadow`) but admits it: for rolling limits out. Its risk: nothing is limited.
   * It is every limit's mode, the records' and the app's, except an app's limit given its own (`limits[].mode`).
   * @default 'enforce'
   */
  mode?: 'enforce' | 'shadow'
  /**
   * The share of a limit's allowance (from 0 to 1) at which a request is reported near the limit
   * (`Quota.nearLimit`, `onDecision`'s `nearLimit`, the `portkey_auth.rate_limit.near_limit` metric): once per
   * caller, limit and window on each instance. @default 0.8
   */
  nearLimitAt?: number
  /**
   * Limits of the app's own, enforced beside the records' (so the smaller holds), counted and shared (with `redis`)
   * as theirs are, each under its own name in `RateLimit-Policy`. E.g. a default for every key,
   * `{ name: 'default', type: 'requests', unit: 'rpm', value: 600 }`, and a route's,
   * `{ name: 'images', route: 'POST /v1/images/generations', type: 'requests', unit: 'rpm', value: 10 }`.
   * @default none
   */
  limits?: readonly AppRateLimit[]
}

/** One limit of the app's (`rateLimits.limits`): a rate limit record's fields, with a name, whose, and where. */
export interface AppRateLimit {
  /**
   * Its name in `RateLimit-Policy`, `RateLimit`, `Quota.limits` and a 429's message: 1 to 32 of `a-z`, `0-9`, `_`,
   * `-`, starting with a letter; one name per limit, none of the records' names (`rpm`, `tokens-rpd`, `vk-rpm`…).
   */
  name: string
  /** Requests, or tokens (reported with `reportTokens()`). */
  type: 'requests' | 'tokens'
  /** The window: per minute, hour, day or week (counted as the records' limits are, see `rateLimits.window`). */
  unit: RateLimitUnit
  /** The allowance per window: a whole number, 0 or more (0 refuses every request it applies to). */
  value: number
  /**
   * Whose allowance it is: each caller's (an API key, a JWT's user, as the records' limits count them), each
   * workspace's (every caller of the workspace together, API keys apart from each issuer's JWTs, which name it by
   * slug; a caller bound to none is not counted), or each virtual key's (every caller of it together; a request
   * naming none is not counted). @default 'caller'
   */
  per?: 'caller' | 'workspace' | 'virtual_key'
  /**
   * Only requests on this route count against it, matched as a `ScopeMap` route is (`'POST /v1/images/generations'`,
   * `'/v1/images/*'`: any tail of the path, case-insensitively); a path that could name another route is then
   * refused with 400 `invalid_request`. Only requests checked with their route (every adapter; `verify()` given a
   * `route`) are counted against it. @default every route
   */
  route?: string
  /**
   * This limit's mode, as `rateLimits.mode` (which it overrides): `'shadow'` to roll this limit out while the others
   * are enforced (a request over it alone is admitted, reported in `overLimit`, and still counted by the enforced
   * limits, not by this one); `'enforce'` to enforce it under `rateLimits.mode: 'shadow'`. Its risk, shadowed:
   * nothing is limited by this limit. @default rateLimits.mode
   */
  mode?: 'enforce' | 'shadow'
}

/** Circuit-breaker settings. */
export interface BreakerOptions {
  /**
   * Failed look-ups in a row (timeouts, connection errors, 5xx, garbled answers) that open the breaker. From 1 to
   * 1,000,000. @default 5
   */
  failureThreshold?: number
  /**
   * How long an open breaker answers misses with 503 at once, in milliseconds, before one probe call may
   * try again. At most an hour (3,600,000). @default 5_000
   */
  cooldownMs?: Milliseconds
}
