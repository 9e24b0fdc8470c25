import { ATTRIBUTES, METRICS } from './names.js'
import type { MeterLike } from './otel-types.js'

/** The part of `verifier.stats()` the gauges read. */
export interface ObservedState {
  readonly entries: number
  readonly virtualKeys: { readonly entries: number }
  readonly guard: { readonly breaker: string }
  readonly redis: { readonly connected: boolean; readonly listening: boolean } | null
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const

/**
 * Registers the gauges, read from `state()` when the SDK collects (nothing runs per request): cache entries
 * (an up-down counter: entries add up across instances), the breaker's state as a state set (1 for the
 * current state, 0 for the others), and — with Redis — whether its command and pub/sub connections are up.
 */
export function observeState(meter: MeterLike, state: () => ObservedState): void {
  meter
    .createObservableUpDownCounter(METRICS.cacheEntries, {
      description: 'Answers cached now: credentials (API keys and JWTs, known or unknown) and virtual keys.',
      unit: '{entry}',
    })
    .addCallback((result) => {
      const { entries, virtualKeys } = state()
      result.observe(entries, { [ATTRIBUTES.cacheKind]: 'credential' })
      result.observe(virtualKeys.entries, { [ATTRIBUTES.cacheKind]: 'virtual_key' })
    })
  meter
    .createObservableGauge(METRICS.breakerStatus, {
      description: "The control-plane circuit breaker's state: 1 for the current one, 0 for the others.",
      unit: '1',
    })
    .addCallback((result) => {
      const { breaker } = state().guard
      for (const each of BREAKER_STATES)
        result.observe(each === breaker ? 1 : 0, { [ATTRIBUTES.breakerState]: each.replace('-', '_') })
    })
  if (state().redis === null) return
  meter
    .createObservableGauge(METRICS.redisConnected, {
      description: 'Whether the Redis connection is up (1) or not (0): commands, and the pub/sub that carries revocations.',
      unit: '1',
    })
    .addCallback((result) => {
      const redis = state().redis
      if (redis === null) return
      result.observe(redis.connected ? 1 : 0, { [ATTRIBUTES.redisConnection]: 'command' })
      result.observe(redis.listening ? 1 : 0, { [ATTRIBUTES.redisConnection]: 'pubsub' })
    })
}
