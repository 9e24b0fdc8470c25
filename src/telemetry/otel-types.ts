/**
 * The part of the OpenTelemetry API (`@opentelemetry/api` 1.x) the package calls, written out here so
 * that its types never import the API: it is an optional peer, and a user without it must still compile.
 * An OpenTelemetry `MeterProvider` and `TracerProvider` (the SDK's, or the API's globals) fit these.
 */

/** Attribute values, as OpenTelemetry takes them. */
export type TelemetryAttributes = Record<string, string | number | boolean>

/** An OpenTelemetry `MeterProvider`, e.g. `new MeterProvider({ readers })` from `@opentelemetry/sdk-metrics`. */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike
}

/** An OpenTelemetry `TracerProvider`, e.g. the SDK's `NodeTracerProvider` or `BasicTracerProvider`. */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): TracerLike
}

/** The `telemetry` option in its long form: the providers to report to. */
export interface TelemetryProviders {
  /** Where the metrics go; without it, no metrics. @default none */
  meterProvider?: MeterProviderLike
  /** Where the spans go; without it, no spans. @default none */
  tracerProvider?: TracerProviderLike
}

/** Metric options: what the package gives each instrument. */
export interface InstrumentOptions {
  description?: string
  unit?: string
  advice?: { explicitBucketBoundaries?: number[] }
}

export interface ObservableResultLike {
  observe(value: number, attributes?: TelemetryAttributes): void
}

export interface ObservableLike {
  addCallback(callback: (result: ObservableResultLike) => void): void
}

export interface HistogramLike {
  record(value: number, attributes?: TelemetryAttributes): void
}

export interface MeterLike {
  createHistogram(name: string, options?: InstrumentOptions): HistogramLike
  createObservableCounter(name: string, options?: InstrumentOptions): ObservableLike
  createObservableGauge(name: string, options?: InstrumentOptions): ObservableLike
  createObservableUpDownCounter(name: string, options?: InstrumentOptions): ObservableLike
}

/** `SpanStatusCode.ERROR` of the API: no import needed for one number. */
export const SPAN_STATUS_ERROR = 2
/** `SpanKind.CLIENT` of the API. */
export const SPAN_KIND_CLIENT = 2

export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown
  setStatus(status: { code: number; message?: string }): unknown
  end(): void
}

export interface TracerLike {
  startSpan(name: string, options?: { kind?: number; attributes?: TelemetryAttributes }): SpanLike
}
