import type { PortkeyAuth, RateLimit, RateLimitScope, RateLimitUnit } from '../types.js'

export const WINDOW_SECONDS: Readonly<Record<RateLimitUnit, number>> = { rpm: 60, rph: 3_600, rpd: 86_400, rpw: 604_800 }

// Weeks start on Monday 00:00 UTC (1970-01-05), not on the Thursday the epoch fell on.
const WEEK_OFFSET_MS = 4 * 86_400_000

/**
 * One limit the verifier enforces: a `requests` or `tokens` allowance (`quota`) per fixed, clock-aligned
 * window (minutes start at :00, hours on the hour, days at 00:00 UTC, weeks on Monday 00:00 UTC).
 */
export interface Policy {
  readonly scope: RateLimitScope
  readonly type: 'requests' | 'tokens'
  readonly unit: RateLimitUnit
  readonly quota: number
  readonly windowMs: number
  /** Its name in `RateLimit-Policy` and `RateLimit`: `rpm` for a key's request limit, `tokens-rpm`, `vk-rpm`, `vk-tokens-rpm`. */
  readonly name: string
  /** Its entry's start in `RateLimit`, `"rpm";r=`: made once, so that a request adds only its numbers. */
  readonly stateKey: string
  /** An app's limit with a mode of its own (`rateLimits.limits[].mode`): whether it is shadowed. Else the verifier's. */
  readonly shadow?: boolean
}

/** Where the window holding `now` starts, in epoch milliseconds. */
export function windowStart(policy: Policy, now: number): number {
  const { windowMs } = policy
  const offset = policy.unit === 'rpw' ? WEEK_OFFSET_MS : 0
  return Math.floor((now - offset) / windowMs) * windowMs + offset
}

/** What `compile()` skipped: limits of a type or unit this package does not enforce. */
export type Unenforced = (limit: RateLimit) => void

const compiled = new WeakMap<readonly RateLimit[], readonly Policy[]>()

/**
 * The policies of a context's limits (`auth.rateLimits`, `virtualKey.rateLimits`), compiled once per
 * frozen array. Enforced: `type` `requests` or `tokens`, `unit` `rpm`, `rph`, `rpd` or `rpw`, `value` a
 * finite number ≥ 0 (a fraction rounded down; 0 refuses every request). Two limits of one type and unit:
 * the smaller holds. Anything else is reported to `unenforced` and skipped.
 */
export function compile(limits: readonly RateLimit[], scope: RateLimitScope, unenforced: Unenforced): readonly Policy[] {
  let policies = compiled.get(limits)
  if (policies !== undefined) return policies
  const byName = new Map<string, Policy>()
  for (const limit of limits) {
    const { type, unit, value } = limit
    if ((type !== 'requests' && type !== 'tokens') || !Object.hasOwn(WINDOW_SECONDS, unit) || !(value >= 0 && value < Infinity)) {
      unenforced(limit)
      continue
    }
    const windowUnit = unit as RateLimitUnit
    const name = `${scope === 'virtual_key' ? 'vk-' : ''}${type === 'tokens' ? 'tokens-' : ''}${windowUnit}`
    const quota = Math.floor(value)
    const known = byName.get(name)
    if (known !== undefined && known.quota <= quota) continue
    const windowMs = WINDOW_SECONDS[windowUnit] * 1000
    byName.set(name, Object.freeze({ scope, type, unit: windowUnit, quota, windowMs, name, stateKey: `"${name}";r=` }))
  }
  policies = Object.freeze([...byName.values()])
  compiled.set(limits, policies)
  return policies
}

/** Whether a context has any limit, enforced or not, of its own or its virtual key's: for a quick way out. */
export const hasLimits = (auth: PortkeyAuth): boolean =>
  auth.rateLimits.length > 0 || (auth.virtualKey != null && auth.virtualKey.rateLimits.length > 0)

/** No policy: a context without limits of its own, or without a limited virtual key. */
export const NONE: readonly Policy[] = Object.freeze([])

/** The policies of the limits of a context's own key (or token). */
export const keyPolicies = (auth: PortkeyAuth, unenforced: Unenforced): readonly Policy[] =>
  auth.rateLimits.length === 0 ? NONE : compile(auth.rateLimits, 'api_key', unenforced)

/** The policies of the limits of the virtual key a context names, if it names one. */
export function virtualKeyPolicies(auth: PortkeyAuth, unenforced: Unenforced): readonly Policy[] {
  const virtualKey = auth.virtualKey
  return virtualKey == null || virtualKey.rateLimits.length === 0
    ? NONE
    : compile(virtualKey.rateLimits, 'virtual_key', unenforced)
}

/** Whether a context's key (or token), or the virtual key it names, has a tokens limit. */
export const countsTokens = (auth: PortkeyAuth, unenforced: Unenforced): boolean =>
  keyPolicies(auth, unenforced).some((policy) => policy.type === 'tokens') ||
  virtualKeyPolicies(auth, unenforced).some((policy) => policy.type === 'tokens')

/** `RateLimit-Policy` for these limits: `"rpm";q=600;w=60`, comma-separated. */
export function policyHeader(policies: readonly Policy[]): string {
  return policies.map((p) => `"${p.name}";q=${p.quota};w=${p.windowMs / 1000}`).join(', ')
}
