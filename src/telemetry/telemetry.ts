import type { FetchImplementation } from 'jose'
import { type DecisionCounter, DecisionTally } from './decisions.js'
import { type ObservedState, StateGauges } from './gauges.js'
import { observedJwksFetch } from './jwks-fetch.js'
import { SCOPE } from './names.js'
import type { MeterLike, TelemetryProviders } from './otel-types.js'
import { type RemoteCallObserver, RemoteCalls } from './remote-calls.js'

/** What the verifier's parts report to, made once from the `telemetry` option. */
export interface Telemetry {
  /** Hears every decision; `undefined` without a meter provider, so that the checks stay bare. */
  readonly decisions: DecisionCounter | undefined
  /** Hears every remote call: control plane, JWKS, Redis. */
  readonly calls: RemoteCallObserver
  /** jose's `customFetch` for the remote JWKS. */
  readonly jwksFetch: FetchImplementation
  /**
   * Reports the verifier's state through the gauges, read from `state()` (the verifier's `stats`) when
   * metrics are collected, for as long as that function is alive.
   */
  watch(state: () => ObservedState): void
}

/**
 * The asynchronous instruments of one meter. Several verifiers reporting to one meter provider share them:
 * two observable instruments of one name would each report the same series, and the last would win.
 */
interface Shared {
  readonly decisions: DecisionTally
  readonly gauges: StateGauges
}
const sharedByMeter = new WeakMap<MeterLike, Shared>()

function sharedOf(meter: MeterLike): Shared {
  let shared = sharedByMeter.get(meter)
  if (shared === undefined) {
    shared = { decisions: new DecisionTally(meter), gauges: new StateGauges(meter) }
    sharedByMeter.set(meter, shared)
  }
  return shared
}

/** Gets the meter and the tracer, and the instruments. */
export function createTelemetry({ meterProvider, tracerProvider }: TelemetryProviders): Telemetry {
  const meter: MeterLike | null = meterProvider?.getMeter(SCOPE.name, SCOPE.version) ?? null
  const tracer = tracerProvider?.getTracer(SCOPE.name, SCOPE.version) ?? null
  const shared = meter === null ? null : sharedOf(meter)
  const calls = new RemoteCalls(meter, tracer)
  return {
    decisions: shared?.decisions,
    calls,
    jwksFetch: observedJwksFetch(calls),
    watch(state) {
      shared?.gauges.add(state)
    },
  }
}
