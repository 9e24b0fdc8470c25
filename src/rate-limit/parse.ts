import type { RateLimit } from '../types.js'

/** No rate limits: the `rateLimits` of every context without one, shared (it is frozen). */
export const NO_LIMITS: readonly RateLimit[] = Object.freeze([])

/**
 * The `rate_limits` of a key record, a virtual-key record or a JWT's claim, as the context carries them: the
 * well-formed entries only (a string `type` and `unit`, a number `value`), each frozen, in a frozen array (empty
 * for anything but an array). Which of them are enforced is `compile()`'s business (policy.ts).
 */
export function parseRateLimits(value: unknown): readonly RateLimit[] {
  if (!Array.isArray(value) || value.length === 0) return NO_LIMITS
  const limits = value.filter(
    (limit): limit is RateLimit =>
      limit !== null &&
      typeof limit === 'object' &&
      typeof limit.type === 'string' &&
      typeof limit.unit === 'string' &&
      typeof limit.value === 'number',
  )
  if (limits.length === 0) return NO_LIMITS
  return Object.freeze(limits.map((limit) => Object.freeze({ type: limit.type, unit: limit.unit, value: limit.value })))
}
