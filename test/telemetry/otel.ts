import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { expect } from 'vitest'

/** A reader collected on demand: what an exporter would get at that moment. */
class OnDemandReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/** One data point as the tests read it: its metric's name, its attributes, and its value (a histogram's count). */
export interface Point {
  readonly metric: string
  readonly unit: string
  readonly attributes: Record<string, unknown>
  readonly value: number
  readonly raw: unknown
}

/** The real OpenTelemetry SDK, a meter provider and a tracer provider, with in-memory readers. */
export function useOtel() {
  const reader = new OnDemandReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  return {
    meterProvider,
    tracerProvider,
    /** Every data point of the package's metrics now. */
    async points(): Promise<Point[]> {
      const { resourceMetrics, errors } = await reader.collect()
      expect(errors).toEqual([])
      return resourceMetrics.scopeMetrics.flatMap((scope) =>
        scope.metrics.flatMap((metric) =>
          (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) => ({
            metric: metric.descriptor.name,
            unit: metric.descriptor.unit,
            attributes: point.attributes,
            value: typeof point.value === 'number' ? point.value : point.value.count,
            raw: { descriptor: metric.descriptor, scope: scope.scope, point },
          })),
        ),
      )
    },
    /** The spans ended so far. */
    spans(): ReadableSpan[] {
      return spanExporter.getFinishedSpans()
    },
    async shutdown() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()])
    },
  }
}

/** The points of `metric`, as `{ ...attributes, value }` rows, sorted so that a test can compare them whole. */
export function rows(points: readonly Point[], metric: string): Record<string, unknown>[] {
  return points
    .filter((point) => point.metric === metric)
    .map((point) => ({ ...point.attributes, value: point.value }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
}

/** Everything exported about spans that a credential could hide in: names, attributes, status, events, links. */
export function spanText(spans: readonly ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      status: span.status,
      events: span.events,
      links: span.links,
      resource: span.resource.attributes,
      scope: span.instrumentationScope,
    })),
  )
}
