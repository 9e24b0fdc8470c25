import type { AuthErrorCode } from '../errors.js'
import type { CacheState, PortkeyAuth } from '../types.js'
import { ATTRIBUTES, METRICS } from './names.js'
import type { MeterLike, TelemetryAttributes } from './otel-types.js'

/** Hears each request's outcome: what `audited()` tells it, with no clock read and no event object. */
export interface DecisionCounter {
  admitted(method: PortkeyAuth['method'], cache: CacheState): void
  refused(code: AuthErrorCode | null, cache: CacheState): void
  /** An admitted request that took the limits `near` to their threshold, or that a limit refused in shadow mode. */
  limits(near: readonly string[], shadowed: boolean): void
}

interface Tally {
  readonly attributes: TelemetryAttributes
  count: number
}

/**
 * Counts decisions in plain integers, one per combination of attributes, and reports the totals when the
 * SDK collects, as asynchronous (observable) counters: a request costs an increment, not the SDK's
 * attribute hashing. What the exporters see is the same monotonic, cumulative sum a synchronous counter gives.
 */
export class DecisionTally implements DecisionCounter {
  /** Admissions by method and cache state, made up front: the cached path is two property reads. */
  readonly #admitted: Record<string, Record<string, Tally>> = {}
  readonly #refused = new Map<string, Tally>()
  #rateLimited = 0
  #shadowed = 0
  /** `near_limit` events by the limit's name (`rpm`, `vk-tokens-rpd`: a few dozen at most). */
  readonly #near = new Map<string, number>()

  constructor(meter: MeterLike) {
    for (const method of ['api_key', 'jwt']) {
      const byCache: Record<string, Tally> = {}
      for (const cache of ['hit', 'stale', 'miss', 'none'] as const) byCache[cache] = tally('admitted', null, method, cache)
      this.#admitted[method] = byCache
    }
    meter
      .createObservableCounter(METRICS.decisions, {
        description: 'Requests checked, by outcome, error code, credential kind and cache state.',
        unit: '{request}',
      })
      .addCallback((result) => {
        for (const byCache of Object.values(this.#admitted))
          for (const { count, attributes } of Object.values(byCache)) if (count > 0) result.observe(count, attributes)
        for (const { count, attributes } of this.#refused.values()) result.observe(count, attributes)
      })
    meter
      .createObservableCounter(METRICS.rateLimitRefusals, {
        description: 'Requests a rate limit refused (429), or would have (mode shadow).',
        unit: '{request}',
      })
      .addCallback((result) => {
        if (this.#rateLimited > 0) result.observe(this.#rateLimited, ENFORCE)
        if (this.#shadowed > 0) result.observe(this.#shadowed, SHADOW)
      })
    meter
      .createObservableCounter(METRICS.rateLimitNear, {
        description: 'Requests that took a rate limit to rateLimits.nearLimitAt.',
        unit: '{request}',
      })
      .addCallback((result) => {
        for (const [name, count] of this.#near) result.observe(count, { [ATTRIBUTES.rateLimitName]: name })
      })
  }

  limits(near: readonly string[], shadowed: boolean): void {
    if (shadowed) this.#shadowed++
    for (const name of near) this.#near.set(name, (this.#near.get(name) ?? 0) + 1)
  }

  admitted(method: PortkeyAuth['method'], cache: CacheState): void {
    const slot = this.#admitted[method]?.[cache]
    if (slot !== undefined) slot.count++
  }

  refused(code: AuthErrorCode | null, cache: CacheState): void {
    if (code === 'rate_limit_exceeded') this.#rateLimited++
    const key = `${code}:${cache}`
    let slot = this.#refused.get(key)
    if (slot === undefined) {
      slot = tally('refused', code, null, cache)
      this.#refused.set(key, slot)
    }
    slot.count++
  }
}

const ENFORCE = Object.freeze({ [ATTRIBUTES.rateLimitMode]: 'enforce' })
const SHADOW = Object.freeze({ [ATTRIBUTES.rateLimitMode]: 'shadow' })

/**
 * One combination's attributes. Unknown facts are left out, as OpenTelemetry asks: the method of a refused
 * request, the cache state of one refused before the cache. A refusal that is no `AuthError` (a bug, a 500)
 * is `error.type: _OTHER`.
 */
function tally(outcome: 'admitted' | 'refused', code: string | null, method: string | null, cache: CacheState): Tally {
  const attributes: TelemetryAttributes = { [ATTRIBUTES.outcome]: outcome }
  if (outcome === 'refused') attributes[ATTRIBUTES.errorType] = code ?? '_OTHER'
  if (method !== null) attributes[ATTRIBUTES.method] = method
  if (cache !== 'none') attributes[ATTRIBUTES.cache] = cache
  return { attributes: Object.freeze(attributes), count: 0 }
}
