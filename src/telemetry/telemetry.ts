import type { FetchImplementation } from 'jose'
import { type DecisionCounter, DecisionTally } from './decisions.js'
import { type ObservedState, observeState } from './gauges.js'
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
  /** Registers the gauges, which read `state()` (the verifier's stats) when metrics are collected. */
  watch(state: () => ObservedState): void
}

/** Gets the meter and the tracer, and makes the instruments. */
export function createTelemetry({ meterProvider, tracerProvider }: TelemetryProviders): Telemetry {
  const meter: MeterLike | null = meterProvider?.getMeter(SCOPE.name, SCOPE.version) ?? null
  const tracer = tracerProvider?.getTracer(SCOPE.name, SCOPE.version) ?? null
  const calls = new RemoteCalls(meter, tracer)
  return {
    decisions: meter === null ? undefined : new DecisionTally(meter),
    calls,
    jwksFetch: observedJwksFetch(calls),
    watch(state) {
      if (meter !== null) observeState(meter, state)
    },
  }
}
