import { type OpenTelemetryApi, requireOpenTelemetryApi } from '../telemetry/otel-api.js'
import type { TelemetryProviders } from '../telemetry/otel-types.js'
import { createTelemetry, type Telemetry } from '../telemetry/telemetry.js'
import { checkNames } from './names.js'
import { describe } from './validate.js'

/**
 * Validates the `telemetry` option and makes the instruments; `null` when it is off (unset or `false`).
 * `true` reads OpenTelemetry's global providers, which needs `@opentelemetry/api`; providers given
 * explicitly are called directly, with no import at all.
 */
export function resolveTelemetry(option: unknown, loadApi: () => OpenTelemetryApi = requireOpenTelemetryApi): Telemetry | null {
  if (option === undefined || option === false) return null
  if (option === true) {
    let api: OpenTelemetryApi
    try {
      api = loadApi()
    } catch (cause) {
      throw new TypeError(
        'portkey-auth: telemetry: true needs the OpenTelemetry API: npm install @opentelemetry/api ' +
          '(or pass { meterProvider, tracerProvider } yourself)',
        { cause },
      )
    }
    // Read now: OpenTelemetry's global meter provider has no proxy, so the SDK must be started first.
    return createTelemetry({ meterProvider: api.metrics.getMeterProvider(), tracerProvider: api.trace.getTracerProvider() })
  }
  if (typeof option !== 'object' || option === null || Array.isArray(option))
    throw new TypeError(
      `portkey-auth: telemetry must be true, false or { meterProvider, tracerProvider }, got ${describe(option)}`,
    )
  checkNames('telemetry', option)
  const { meterProvider, tracerProvider } = option as TelemetryProviders
  if (meterProvider === undefined && tracerProvider === undefined)
    throw new TypeError('portkey-auth: telemetry needs a meterProvider, a tracerProvider, or both (or true, for the global ones)')
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function')
    throw new TypeError(
      `portkey-auth: telemetry.meterProvider must be an OpenTelemetry MeterProvider, got ${describe(meterProvider)}`,
    )
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function')
    throw new TypeError(
      `portkey-auth: telemetry.tracerProvider must be an OpenTelemetry TracerProvider, got ${describe(tracerProvider)}`,
    )
  return createTelemetry({ meterProvider, tracerProvider })
}
