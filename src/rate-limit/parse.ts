import type { RateLimit } from '../types.js'

/**
 * The `rate_limits` of a key record, a virtual-key record or a JWT's claim, as the context carries them: the
 * well-formed entries only (a string `type` and `unit`, a number `value`), each frozen, in a frozen array (empty
 * for anything but an array). Which of them are enforced is `compile()`'s business (policy.ts).
 */
export function parseRateLimits(value: unknown): readonly RateLimit[] {
  if (!Array.isArray(value)) return Object.freeze([])
  const limits = value.filter(
    (limit): limit is RateLimit =>
      limit !== null &&
      typeof limit === 'object' &&
      typeof limit.type === 'string' &&
      typeof limit.unit === 'string' &&
      typeof limit.value === 'number',
  )
  return Object.freeze(limits.map((limit) => Object.freeze({ type: limit.type, unit: limit.unit, value: limit.value })))
}
