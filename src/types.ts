import type { AuthErrorCode } from './errors.js'

/** A duration in milliseconds. */
export type Milliseconds = number

/** The three kinds of Portkey API key. */
export type KeyType = 'organisation-service' | 'workspace-service' | 'workspace-user'

/** One rate limit of a key, as Portkey stores it (`{ type: 'requests', unit: 'rpm', value: 100 }`). */
export interface RateLimit {
  /** What is counted: `requests` or `tokens` (another type is not enforced). */
  readonly type: string
  /** The window: `rpm`, `rph`, `rpd` or `rpw`, per minute, hour, day or week (another unit is not enforced). */
  readonly unit: string
  /** The allowance per window, in requests or tokens (a fraction is rounded down; 0 refuses every request). */
  readonly value: number
}

/** The windows Portkey's limits are counted in: per minute, hour, day, week. */
export type RateLimitUnit = 'rpm' | 'rph' | 'rpd' | 'rpw'

/**
 * Whose limit it is: the caller's API key (or token), the virtual key the request names, or (a limit of the
 * `rateLimits.limits` option) the caller's workspace.
 */
export type RateLimitScope = 'api_key' | 'virtual_key' | 'workspace'

/** A key's usage (budget) limit, as Portkey stores it; fields other than these are kept as they come. */
export interface UsageLimits {
  /**
   * The budget, as Portkey stores it; `null` for none. Carried for your own use: spend is not counted here,
   * the control plane marks a key that spent it `exhausted` (a 412).
   */
  readonly credit_limit?: number | null
  /** The kind of limit, as Portkey stores it. */
  readonly type?: string
  /** Any other field of Portkey's record, as it came. */
  readonly [field: string]: unknown
}

/**
 * An API key record as the control plane returns it from `GET /v2/api-keys/self/details`
 * (snake_case). A custom `lookup` returns the same shape.
 */
export interface KeyRecord {
  /** The key's id (never the key itself): `PortkeyAuth.keyId`. */
  id: string
  /** The organisation the key belongs to: `PortkeyAuth.organisationId`. */
  organisation_id: string
  /** Dotted permission strings, e.g. `completions.write`: `PortkeyAuth.scopes`. */
  scopes: string[]
  /** The key's kind; another value (or none) is inferred from `workspace_id` and `user_id`. */
  type?: KeyType | string | null
  /** The key's display name. */
  name?: string | null
  /** The workspace the key is bound to; `null` for an organisation key. */
  workspace_id?: string | null
  /** The user a workspace-user key belongs to. */
  user_id?: string | null
  /** `'active'` passes; `'exhausted'` is 412; `'expired'` is 401 `expired_api_key`; anything else 401. */
  status?: string
  /** The config and metadata Portkey applies to the key's requests: `PortkeyAuth.defaults`. */
  defaults?: { config_id?: string | null; metadata?: Record<string, string> | null } | null
  /** The key's rate limits, which the verifier enforces (the `rateLimits` option). */
  rate_limits?: RateLimit[] | null
  /** The key's usage (budget) limit, carried to `PortkeyAuth.usageLimits`. */
  usage_limits?: UsageLimits | null
  /** ISO 8601 date-time after which the key no longer works. */
  expires_at?: string | null
}

/** The virtual key a request resolved to. */
export interface VirtualKey {
  /** Its slug, as the request named it: in `x-portkey-virtual-key`, or in `x-portkey-provider` after an at sign (Model Catalog). */
  readonly slug: string
  /** The provider its stored credential is for, e.g. `openai`. */
  readonly provider: string
  /** Its status, `active`: a virtual key in any other state is refused. */
  readonly status: string
  /** The virtual key's own rate limits, enforced on top of the caller's key's (unless `rateLimits: false`). */
  readonly rateLimits: readonly RateLimit[]
}

/**
 * What a successful check attaches to the request: `req.portkey` (Express), `ctx.state.portkey` (Koa),
 * `request.portkey` (Fastify), `c.get('portkey')` (Hono), `{ portkey }` (Web handlers).
 * Frozen, and shared by every request of the same key while it is cached, a key with rate limits included: what
 * is per request travels beside it (its `Quota`: `quotaOf(req)`). It never holds the raw key.
 */
export interface PortkeyAuth {
  /** How the caller authenticated. */
  readonly method: 'api_key' | 'jwt'
  /**
   * The API key's id. For a JWT: its `jti`; without one, a pseudonym of its user (`jwt_` and 16 base64url
   * characters of a keyed hash of the issuer, organisation and `sub`, else `uid`, else `email_id`, under a key
   * of this process), the same for each of the user's tokens in this process, never the claim itself and not
   * linkable to it by guessing; for a token naming no user, `jwt_` and 16 characters of its fingerprint. Safe
   * for logs and metrics, unlike `userId`. (It differs between processes: a fleet's rate limits count the user
   * by an id of their own.)
   */
  readonly keyId: string
  /** The kind of key; `workspace-user` for a JWT. */
  readonly keyType: KeyType
  /** The caller's organisation. */
  readonly organisationId: string
  /** The caller's workspace; `null` for an organisation key (or a JWT naming none). */
  readonly workspaceId: string | null
  /**
   * The user of a workspace-user key; for a JWT, its `email_id`, else `sub`, else `uid`. It may be an e-mail
   * address: log `keyId` instead.
   */
  readonly userId: string | null
  /** Dotted permission strings, e.g. `completions.write`. */
  readonly scopes: readonly string[]
  /** The virtual key named by the request, or `null`. */
  readonly virtualKey: VirtualKey | null
  /** The config and metadata Portkey applies to the caller's requests (the record's `defaults`, a JWT's `defaults` claim). */
  readonly defaults: {
    readonly configId: string | null
    readonly metadata: Readonly<Record<string, string>>
  }
  /** The key's (or token's) rate limits, as the record or the `rate_limits` claim gives them. */
  readonly rateLimits: readonly RateLimit[]
  /** The key's (or token's) usage limit, as it came; `null` when it has none. */
  readonly usageLimits: UsageLimits | null
  /** When the credential stops working, or `null` if it does not expire. */
  readonly expiresAt: Date | null
}

/** One limit's standing after this request. */
export interface RateLimitStatus {
  /** The policy's name in the response headers: `rpm`, `tokens-rpm`, `vk-rpm`, `vk-tokens-rpm`… */
  readonly name: string
  /** Whose limit: the caller's API key (or token), or the virtual key. */
  readonly scope: RateLimitScope
  /** What is counted: requests, or tokens (reported with `reportTokens()`). */
  readonly type: 'requests' | 'tokens'
  /** The window: per minute, hour, day or week. */
  readonly unit: RateLimitUnit
  /** The allowance per window. */
  readonly limit: number
  /**
   * What is left of it in this window after this request. With Redis, this instance's view: what the fleet
   * had left when this instance last asked Redis, less what it admitted since.
   */
  readonly remaining: number
  /** Whole seconds until the window ends and the allowance is whole again (at least 1). */
  readonly resetSeconds: number
  /** The window's length in seconds. */
  readonly windowSeconds: number
  /** How close the caller is to the limit: the share of the allowance used, from 0 to 1 (1 for a limit of 0). */
  readonly usage: number
}

/**
 * Whose rate-limit counters `verifier.rateLimitStanding()` reads and `verifier.resetRateLimits()` resets: an API key
 * (`{ organisationId, keyId }`), a JWT's user (`{ organisationId, issuer, user }`: the value of its `sub` claim, or of
 * `claim` when its tokens name users by `uid` or `email_id`), a virtual key (`{ organisationId, workspaceId,
 * virtualKey }`, the slug) or a workspace (`{ organisationId, workspaceId }`, for the app's `per: 'workspace'`
 * limits). A virtual key's and a workspace's counters are kept apart for API keys and for each issuer's JWTs: give
 * `issuer` for those of JWTs (whose `workspaceId` is the workspace's slug).
 */
export type LimitHolder =
  | { readonly organisationId: string; readonly keyId: string }
  | {
      readonly organisationId: string
      readonly issuer: string
      readonly user: string
      readonly claim?: 'sub' | 'uid' | 'email_id'
    }
  | { readonly organisationId: string; readonly workspaceId: string; readonly virtualKey: string; readonly issuer?: string }
  | { readonly organisationId: string; readonly workspaceId: string; readonly issuer?: string }

/** One counter of a `LimitHolder` in its current window (`verifier.rateLimitStanding()`). */
export interface LimitCount {
  /** The limit's name, as in `RateLimit-Policy`: `rpm`, `tokens-rpd`, `vk-rpm`, or one of the app's. */
  readonly name: string
  readonly type: 'requests' | 'tokens'
  readonly unit: RateLimitUnit
  /**
   * Requests or tokens counted in the current window. With Redis, the fleet's: for requests, what Redis granted the
   * instances, in batches (some perhaps not used yet); without, this instance's.
   */
  readonly used: number
  /** Whole seconds until the window ends (at least 1). */
  readonly resetSeconds: number
}

/** The `RateLimit-Policy` and `RateLimit` response headers (IETF httpapi rate-limit-headers draft -11). */
export type RateLimitHeaders = Readonly<Record<'ratelimit-policy' | 'ratelimit', string>>

/**
 * One request's standing against its key's (and virtual key's) rate limits, beside its context: `quotaOf(req)`
 * (Express), `quotaOf(ctx)` (Koa), `quotaOf(request)` (Fastify), `quotaOf(c)` (Hono), `{ quota }` (Web handlers),
 * `CheckStatus.quota` (a verifier's `check()` and `verify()`). `null` there when no limit applies or enforcement
 * is off. Made per request of a limited key; the context it belongs to is shared.
 */
export interface Quota {
  /** Every limit that applies to the request. */
  readonly limits: readonly RateLimitStatus[]
  /** The least `remaining` among the limits. */
  readonly remaining: number
  /** `resetSeconds` of the limit with the least `remaining`. */
  readonly resetSeconds: number
  /**
   * How the request was counted: `fleet` against counters shared in Redis, `local` by this instance alone
   * (no `redis` option, or Redis away).
   */
  readonly counting: 'local' | 'fleet'
  /** The two response headers, as the adapters send them; `null` when `rateLimits.headers` is `false`. */
  readonly headers: RateLimitHeaders | null
  /**
   * The names of the limits this request took to `rateLimits.nearLimitAt` of their allowance or past it (the
   * `near_limit` event): each reported once per caller, limit and window on this instance; mostly empty.
   */
  readonly nearLimit: readonly string[]
  /**
   * The names of the shadowed limits (`rateLimits.mode`, or a limit's own `mode`) that would have refused this
   * request: it was admitted, counted by the enforced limits alone (by none in shadow mode); empty otherwise.
   */
  readonly overLimit: readonly string[]
  /**
   * Reports the tokens this request used (e.g. the provider's `usage.total_tokens`) against the tokens
   * limits, and releases the estimate the request reserved when admitted (once: a second report counts its
   * tokens, releasing nothing). Once a window's reported tokens reach a limit, the key's next requests get
   * 429 until it ends; while requests are in flight, a request whose estimate would not fit gets 429 too.
   * A window overshoots by at most what the requests in flight used beyond their estimates (with none in
   * flight, the last request's tokens); see the README's Rate limits. Report once, the request's total; 0 for
   * a request that used nothing (an unreported reservation is released after 60 s at most). Resolves once
   * counted (with Redis, once Redis has it or is found away), to `true`; to `false` for a negative,
   * fractional, non-finite or non-number value, which counts and releases nothing and is logged once (it never
   * rejects: a report made un-awaited after the response cannot end the process).
   */
  reportTokens(tokens: number): Promise<boolean>
}

/** Request headers as Node, Express and Koa give them (names lower-cased). */
export type IncomingHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/**
 * Resolves an API key to its record, or `null` when the key is unknown. Throwing (or returning
 * something that is not a record) means the key service is unavailable: the request gets a 503.
 */
export type KeyLookup = (apiKey: string, init: { signal: AbortSignal }) => Promise<KeyRecord | null>

/** A virtual key record as the control plane returns it from `GET /v2/virtual-keys/{slug}` (snake_case). */
export interface VirtualKeyRecord {
  /** Its slug; a record for another slug is refused. */
  slug: string
  /** The provider the stored credential is for, e.g. `openai`. */
  ai_provider_name: string
  /** `'active'` passes; `'exhausted'` is 412; anything else (`'expired'`, `'archived'`) is 403. */
  status?: string
  /** The workspace it belongs to: a caller of another workspace is refused (403). */
  workspace_id?: string | null
  /** Its display name. */
  name?: string
  /** ISO 8601 date-time after which the virtual key no longer works. */
  expires_at?: string | null
  /** Its usage (budget) limit, as Portkey stores it. */
  usage_limits?: UsageLimits | null
  /** Its own rate limits, enforced on top of the caller's: `VirtualKey.rateLimits`. */
  rate_limits?: RateLimit[] | null
}

/**
 * Resolves a virtual-key slug for a caller (whose credential the control plane checks), or `null` when
 * the caller may not use it. Throwing means the key service is unavailable.
 */
export type VirtualKeyLookup = (
  slug: string,
  init: { credential: string; signal: AbortSignal },
) => Promise<VirtualKeyRecord | null>

/**
 * Scopes required per route. Keys are `'METHOD /path'` or `'/path'` (any method); a path segment
 * `:name` matches one segment and a final `*` matches the rest. A value is a scope, or a list of scopes
 * any one of which is enough. The first matching route applies; routes not listed need no scope beyond a
 * valid credential.
 *
 * A route matches the request path or any tail of it that starts at a `/`, case-insensitively and with
 * repeated slashes read as one: `'POST /v1/chat/completions'` also guards `/api/v1/chat/completions`
 * and `//v1//chat/completions`. So no mount prefix (an Express sub-app, koa-mount) can leave a listed
 * route open; a route that merely ends like a listed one needs its scope too. A final `/*` names the path
 * without it too (`'/v1/images/*'` guards `/v1/images`, as Hono and Express 5 route it there), after every other
 * route: a route of that bare path itself, wherever listed, comes first. A route with a
 * query, a fragment, a `*` before its end, or the method HEAD (a GET route guards HEAD) is a `TypeError`.
 *
 * With a map in place, a path a router, a proxy or an upstream could read as another route is refused
 * with 400 `invalid_request` before any scope is looked at: one that does not start with `/`, or holds a
 * query or fragment (`?`, `#`: a `route` given to `verify()` is the path alone), a dot segment (`/./`,
 * `/../`, a final `/.` or `/..`), a backslash, an encoded slash or backslash (`%2F`, `%5C`), an encoded
 * unreserved character (`%2E`, `%63`: letters, digits, `-._~`) or a malformed `%`.
 *
 * @example { 'POST /v1/chat/completions': 'completions.write', 'GET /v1/models': ['completions.write', 'virtual_keys.list'] }
 */
export type ScopeMap = Readonly<Record<string, string | readonly string[]>>

/** How the cache answered one request: `none` when it was refused before the cache (a malformed credential). */
export type CacheState = 'hit' | 'stale' | 'miss' | 'none'

/**
 * Facts about one call of `check()` or `verify()`, filled in as it runs (as lru-cache's `status` argument): made
 * by the caller, never shared between requests. Pass one to have the request's `quota`.
 *
 * @example
 * ```ts
 * const status: CheckStatus = { cache: 'none' }
 * const portkey = await verifier.verify(request.headers, undefined, status)
 * await status.quota?.reportTokens(usage.total_tokens)
 * ```
 */
export interface CheckStatus {
  /** How the cache answered; start it at `'none'`, which stays when the request is refused before the cache. */
  cache: CacheState
  /** How the rate limits counted the request (see `Decision#counting`); set only when a limit applied. */
  counting?: 'local' | 'fleet'
  /**
   * The request's standing against its rate limits, set when one applied and the request was admitted; left as
   * the caller made it (`undefined`, `null`) when none applied or with `rateLimits: false`.
   */
  quota?: Quota | null
  /**
   * The names of the limits the request is over: a 429's (its enforced limits refused it; shadowed ones named too),
   * or a request's admitted over shadowed limits only (they would have refused it); set only then.
   */
  overLimit?: readonly string[]
}

/** One request's outcome, as `onDecision` receives it. It never holds the credential. */
export interface Decision {
  /** Whether the request was let through. */
  readonly admitted: boolean
  /** 200 when admitted, else the rejection's status. */
  readonly status: number
  /** The rejection's stable code, `null` when admitted. */
  readonly code: AuthErrorCode | null
  /** The caller's key id when admitted, else `null`: never a credential nor an e-mail (see `PortkeyAuth.keyId`). */
  readonly keyId: string | null
  /** How the caller authenticated, when admitted; else `null`. */
  readonly method: PortkeyAuth['method'] | null
  /** The virtual key's slug when one was resolved. */
  readonly virtualKey: string | null
  /** How the cache answered: `hit`, `stale`, `miss`, or `none` when the request was refused before it. */
  readonly cache: CacheState
  /** Whether the Redis tier was connected when the request was decided; `null` without Redis. */
  readonly redis: boolean | null
  /** Time spent in the verifier, in milliseconds. */
  readonly durationMs: number
  /**
   * Why an outage (a 503) happened, in a few words: `timed out`, `connection failed (ECONNREFUSED)`,
   * `key service answered 500`, `circuit breaker open`, `load shed: …`, a wrong control-plane URL, `JWKS
   * unavailable (…)`; a custom look-up's error by its class only. Never a credential. `null` otherwise.
   */
  readonly cause: string | null
  /**
   * How the request was counted against its rate limits: `fleet` (Redis), `local` (this instance alone: no
   * Redis, or Redis away), a 429 included; `null` when no limit applied (or the request was refused before
   * the limits were looked at).
   */
  readonly counting: 'local' | 'fleet' | null
  /** Each limit's standing after the request, with how close the caller is to it (`usage`), when admitted and limited; else `null`. */
  readonly rateLimits: readonly RateLimitStatus[] | null
  /** The limits this request took past `rateLimits.nearLimitAt` (see `Quota.nearLimit`); mostly empty. */
  readonly nearLimit: readonly string[]
  /** The limits that refused the request (a 429), or, shadowed, would have (see `CheckStatus.overLimit`); mostly empty. */
  readonly overLimit: readonly string[]
}

/** Receives every decision; what it throws is ignored. */
export type DecisionListener = (decision: Decision) => void

/**
 * Where the verifier reports what an operator must know and no single request shows: the circuit breaker
 * opening and closing, Redis going and coming back, a control plane that answers like no key service.
 * Each is said once, when it happens; never a credential. `console` fits.
 */
export interface Logger {
  warn(message: string): void
  info(message: string): void
}

/** The request line, for the routes of the `scopes` option and of the app's rate limits (`rateLimits.limits`). */
export interface RequestRoute {
  /** Upper-case HTTP method. */
  readonly method: string
  /** The path, without query string. */
  readonly path: string
}
