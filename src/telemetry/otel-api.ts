import { nodeBuiltin } from '../platform/node-builtin.js'
import type { MeterProviderLike, TracerProviderLike } from './otel-types.js'

/** The global providers, as `@opentelemetry/api` gives them. */
export interface OpenTelemetryApi {
  metrics: { getMeterProvider(): MeterProviderLike }
  trace: { getTracerProvider(): TracerProviderLike }
}

/**
 * Loads `@opentelemetry/api` (an optional peer) synchronously, from where the package is installed, only
 * when `telemetry: true` asks for it: a user without it never loads it. Node's `module` is reached through
 * `process.getBuiltinModule()`, not imported, so that no bundler and no runtime without Node's modules (a
 * Worker without `nodejs_compat`, Vercel's Edge runtime) ever meets it; there, providers are passed instead.
 */
export function requireOpenTelemetryApi(): OpenTelemetryApi {
  const builtins = nodeBuiltin<typeof import('node:module')>('node:module')
  if (builtins === undefined) throw new Error('this runtime cannot load a package synchronously')
  return builtins.createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi
}
