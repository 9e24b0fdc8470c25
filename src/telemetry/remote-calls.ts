import { RedisUnavailable } from '../errors.js'
import { outageCause } from '../network-error.js'
import { ATTRIBUTES, DURATION_BUCKETS, METRICS, type RemoteCallKind, type RemoteCallResult } from './names.js'
import {
  type HistogramLike,
  type MeterLike,
  SPAN_KIND_CLIENT,
  SPAN_STATUS_ERROR,
  type SpanLike,
  type TelemetryAttributes,
  type TracerLike,
} from './otel-types.js'

/** One remote call under way: `end()` it once, with how it ended. */
export interface RemoteCall {
  /**
   * `detail` is the answer (a record, whose `id` or `slug` is named) or the error (described by its
   * class and code only, never quoted: a custom look-up's message could hold anything).
   */
  end(result: RemoteCallResult, detail?: unknown): void
}

/**
 * What the guard, the JWKS fetch and the Redis connection report each remote call to: a point of the
 * duration histogram and a span. `operation` is the Redis command (`GET`), never its arguments.
 */
export interface RemoteCallObserver {
  start(kind: RemoteCallKind, operation?: string): RemoteCall
}

/** Reports remote calls to a meter, a tracer, or both. */
export class RemoteCalls implements RemoteCallObserver {
  readonly #duration: HistogramLike | null
  readonly #tracer: TracerLike | null

  constructor(meter: MeterLike | null, tracer: TracerLike | null) {
    this.#duration =
      meter?.createHistogram(METRICS.lookupDuration, {
        description: 'Duration of the calls to the control plane (keys, virtual keys), the JWKS and Redis.',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }) ?? null
    this.#tracer = tracer
  }

  start(kind: RemoteCallKind, operation?: string): RemoteCall {
    const started = performance.now()
    const attributes: TelemetryAttributes = { [ATTRIBUTES.lookupKind]: kind }
    if (operation !== undefined)
      Object.assign(attributes, { [ATTRIBUTES.dbSystem]: 'redis', [ATTRIBUTES.dbOperation]: operation })
    const span =
      this.#tracer?.startSpan(spanName(kind, operation), { kind: SPAN_KIND_CLIENT, attributes: { ...attributes } }) ?? null
    let ended = false
    return {
      end: (result, detail) => {
        if (ended) return
        ended = true
        this.#duration?.record((performance.now() - started) / 1000, { ...attributes, [ATTRIBUTES.lookupResult]: result })
        if (span !== null) endSpan(span, kind, result, detail)
      },
    }
  }
}

/** `portkey_auth.lookup api_key`; a Redis call `portkey_auth.redis GET`: low-cardinality, as OpenTelemetry asks. */
const spanName = (kind: RemoteCallKind, operation: string | undefined) =>
  kind === 'redis' ? `portkey_auth.redis ${operation ?? 'command'}` : `portkey_auth.lookup ${kind}`

/**
 * Names what was found by its id (a key) or slug (a virtual key). A call that found nothing leaves the
 * status unset (a 4xx is the caller's, not a fault, as OpenTelemetry's HTTP conventions say); one that
 * failed or was refused is an error, described in a few words.
 */
function endSpan(span: SpanLike, kind: RemoteCallKind, result: RemoteCallResult, detail: unknown): void {
  span.setAttribute(ATTRIBUTES.lookupResult, result)
  if (result === 'found' && typeof detail === 'object' && detail !== null) {
    const { id, slug } = detail as { id?: unknown; slug?: unknown }
    if (kind === 'api_key' && typeof id === 'string') span.setAttribute(ATTRIBUTES.keyId, id)
    if (kind === 'virtual_key' && typeof slug === 'string') span.setAttribute(ATTRIBUTES.virtualKey, slug)
  }
  if (result !== 'found' && result !== 'unknown') {
    span.setAttribute(ATTRIBUTES.errorType, result)
    span.setStatus({ code: SPAN_STATUS_ERROR, message: failure(result, detail) })
  }
  span.end()
}

/** Why a call failed, in the words `onDecision`'s `cause` uses: built from classes and codes, never from a message we did not write. */
function failure(result: RemoteCallResult, detail: unknown): string {
  if (result === 'shed') return 'load shed: maxPendingLookups look-ups under way'
  if (result === 'breaker_open') return 'circuit breaker open'
  if (typeof detail === 'number') return `answered ${detail}`
  if (detail instanceof RedisUnavailable) return detail.message
  return outageCause(detail)
}
