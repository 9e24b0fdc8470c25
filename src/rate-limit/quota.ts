import type { Policy, RateLimitScope, RateLimitUnit } from './policy.js'

/** One limit's standing after this request. */
export interface RateLimitStatus {
  /** The policy's name in the response headers: `rpm`, `tokens-rpm`, `vk-rpm`, `vk-tokens-rpm`… */
  readonly name: string
  /** Whose limit: the caller's API key (or token), or the virtual key. */
  readonly scope: RateLimitScope
  readonly type: 'requests' | 'tokens'
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
}

/** The `RateLimit-Policy` and `RateLimit` response headers (IETF httpapi rate-limit-headers draft -11). */
export type RateLimitHeaders = Readonly<Record<'ratelimit-policy' | 'ratelimit', string>>

/** Reports tokens a request used against the tokens limits of its key and virtual key. */
export type TokenReporter = (tokens: number) => Promise<void>

/**
 * This request's standing against its key's (and virtual key's) rate limits: `req.portkey.quota`,
 * `ctx.state.portkey.quota`. `null` on the context when no limit applies or enforcement is off.
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
   * Reports the tokens this request used (e.g. the provider's `usage.total_tokens`) against the tokens
   * limits; once a window's reported tokens reach a limit, the key's next requests get 429 until it ends.
   * The request that crosses the limit has already been served: a window can overshoot by its tokens.
   * Resolves once counted (with Redis, once Redis has it or is found away). A negative, fractional or
   * non-finite number is a TypeError.
   */
  reportTokens(tokens: number): Promise<void>
}

/** One limit's numbers at the moment a request is decided. */
export interface Standing {
  readonly policy: Policy
  readonly remaining: number
  readonly resetSeconds: number
}

/** Whole seconds from `now` to the end of the window that started at `start` (at least 1). */
export const secondsLeft = (policy: Policy, start: number, now: number): number =>
  Math.max(1, Math.ceil((start + policy.windowMs - now) / 1000))

/** The two headers for these limits: `"rpm";q=600;w=60` and `"rpm";r=598;t=42`, comma-separated. */
export function renderHeaders(standings: readonly Standing[]): RateLimitHeaders {
  let policy = ''
  let state = ''
  for (const { policy: p, remaining, resetSeconds } of standings) {
    const separator = policy === '' ? '' : ', '
    policy += `${separator}"${p.name}";q=${p.quota};w=${p.windowMs / 1000}`
    state += `${separator}"${p.name}";r=${remaining};t=${resetSeconds}`
  }
  return { 'ratelimit-policy': policy, ratelimit: state }
}

/** The quota object the context carries. */
export function makeQuota(
  standings: readonly Standing[],
  counting: 'local' | 'fleet',
  headers: boolean,
  reportTokens: TokenReporter,
): Quota {
  let least = standings[0]!
  const limits = standings.map((standing) => {
    if (standing.remaining < least.remaining) least = standing
    const { policy, remaining, resetSeconds } = standing
    return Object.freeze({
      name: policy.name,
      scope: policy.scope,
      type: policy.type,
      unit: policy.unit,
      limit: policy.quota,
      remaining,
      resetSeconds,
      windowSeconds: policy.windowMs / 1000,
    })
  })
  return Object.freeze({
    limits: Object.freeze(limits),
    remaining: least.remaining,
    resetSeconds: least.resetSeconds,
    counting,
    headers: headers ? Object.freeze(renderHeaders(standings)) : null,
    reportTokens,
  })
}
