import { ATTRIBUTES, METRICS } from './names.js'
import type { MeterLike, ObservableResultLike } from './otel-types.js'

/** The part of `verifier.stats()` the gauges read. */
export interface ObservedState {
  readonly entries: number
  readonly virtualKeys: { readonly entries: number }
  readonly guard: { readonly breaker: string }
  readonly redis: { readonly connected: boolean; readonly listening: boolean } | null
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const

/**
 * The gauges of every verifier reporting to one meter, read when the SDK collects (nothing runs per
 * request). Each is additive — an up-down counter, summed over the verifiers, as over a fleet's instances:
 * cache entries; the breaker's state as a state set (how many verifiers are in each state: 1 and 0 with
 * one); and, with Redis, how many command and pub/sub connections are up.
 *
 * Verifiers are held weakly: one that is dropped stops being reported, and is not kept alive by its meter.
 */
export class StateGauges {
  readonly #states = new Set<WeakRef<() => ObservedState>>()

  constructor(meter: MeterLike) {
    const counter = (
      name: string,
      description: string,
      unit: string,
      report: (result: ObservableResultLike, states: ObservedState[]) => void,
    ) => meter.createObservableUpDownCounter(name, { description, unit }).addCallback((result) => report(result, this.#read()))
    counter(
      METRICS.cacheEntries,
      'Answers cached now: credentials (API keys and JWTs, known or unknown) and virtual keys.',
      '{entry}',
      (result, states) => {
        result.observe(
          total(states, (s) => s.entries),
          { [ATTRIBUTES.cacheKind]: 'credential' },
        )
        result.observe(
          total(states, (s) => s.virtualKeys.entries),
          { [ATTRIBUTES.cacheKind]: 'virtual_key' },
        )
      },
    )
    counter(
      METRICS.breakerStatus,
      "The control-plane circuit breaker's state: 1 for the current one, 0 for the others (summed over verifiers).",
      '1',
      (result, states) => {
        for (const each of BREAKER_STATES)
          result.observe(
            total(states, (s) => (s.guard.breaker === each ? 1 : 0)),
            {
              [ATTRIBUTES.breakerState]: each.replace('-', '_'),
            },
          )
      },
    )
    counter(
      METRICS.redisConnected,
      'Redis connections up (1) or not (0): commands, and the pub/sub that carries revocations (summed over verifiers).',
      '1',
      (result, states) => {
        const withRedis = states.flatMap((s) => (s.redis === null ? [] : [s.redis]))
        if (withRedis.length === 0) return
        result.observe(
          total(withRedis, (r) => (r.connected ? 1 : 0)),
          { [ATTRIBUTES.redisConnection]: 'command' },
        )
        result.observe(
          total(withRedis, (r) => (r.listening ? 1 : 0)),
          { [ATTRIBUTES.redisConnection]: 'pubsub' },
        )
      },
    )
  }

  /** Reports a verifier's state, read by `state()`, for as long as that function is alive. */
  add(state: () => ObservedState): void {
    this.#states.add(new WeakRef(state))
  }

  #read(): ObservedState[] {
    const states: ObservedState[] = []
    for (const ref of this.#states) {
      const state = ref.deref()
      if (state === undefined) this.#states.delete(ref)
      else states.push(state())
    }
    return states
  }
}

const total = <T>(items: readonly T[], count: (item: T) => number) => items.reduce((n, item) => n + count(item), 0)
