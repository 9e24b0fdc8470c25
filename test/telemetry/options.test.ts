import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { metrics, trace } from '@opentelemetry/api'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { afterEach, describe, expect, expectTypeOf, test } from 'vitest'
import type { MeterProviderLike, TelemetryProviders, TracerProviderLike } from '../../src/index.js'
import { SCOPE } from '../../src/telemetry/names.js'
import { resolveTelemetry } from '../../src/options/telemetry.js'
import { keyRecord } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { withKey } from '../support/core-helpers.js'
import { rows, useOtel } from './otel.js'

const ROOT = resolve(import.meta.dirname, '../..')
const lookup = async () => keyRecord({ id: 'key_opt' })

afterEach(() => {
  metrics.disable()
  trace.disable()
})

describe('the telemetry option', () => {
  test("OpenTelemetry's SDK providers fit the option's types (no import of the API in ours)", () => {
    expectTypeOf(new MeterProvider()).toExtend<MeterProviderLike>()
    expectTypeOf(new BasicTracerProvider()).toExtend<TracerProviderLike>()
    expectTypeOf(metrics.getMeterProvider()).toExtend<MeterProviderLike>()
    expectTypeOf(trace.getTracerProvider()).toExtend<TracerProviderLike>()
    expectTypeOf<{ meterProvider: MeterProvider }>().toExtend<TelemetryProviders>()
  })

  test('true reports to the global providers, read when the verifier is created', async () => {
    const otel = useOtel()
    metrics.setGlobalMeterProvider(otel.meterProvider)
    const verifier = createVerifier({ lookup, telemetry: true, logger: false })
    await verifier.verify(withKey('pk-global-0123456789'))
    expect(rows(await otel.points(), 'portkey_auth.decisions')).toEqual([
      { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'api_key', 'portkey_auth.cache': 'miss', value: 1 },
    ])
    await otel.shutdown()
  })

  test('true without @opentelemetry/api installed is a TypeError that says what to install', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' })
    }
    expect(() => resolveTelemetry(true, missing)).toThrow(TypeError)
    expect(() => resolveTelemetry(true, missing)).toThrow('npm install @opentelemetry/api')
  })

  test.each([
    ['a string', 'yes', /telemetry must be true, false or \{ meterProvider, tracerProvider \}, got "yes" \(a string\)/],
    ['null', null, /telemetry must be true, false/],
    ['an empty object', {}, /telemetry needs a meterProvider, a tracerProvider, or both/],
    ['a misspelt name', { meterprovider: {} }, /unknown option telemetry.meterprovider: did you mean telemetry.meterProvider\?/],
    [
      'a meter provider without getMeter',
      { meterProvider: {} },
      /telemetry.meterProvider must be an OpenTelemetry MeterProvider/,
    ],
    [
      'a tracer provider without getTracer',
      { tracerProvider: 1 },
      /telemetry.tracerProvider must be an OpenTelemetry TracerProvider/,
    ],
  ])('%s is a TypeError at creation', (_, telemetry, message) => {
    expect(() => createVerifier({ lookup, telemetry: telemetry as never })).toThrow(TypeError)
    expect(() => createVerifier({ lookup, telemetry: telemetry as never })).toThrow(message)
  })

  test('unset and false are off: no instruments at all', () => {
    expect(resolveTelemetry(undefined)).toBeNull()
    expect(resolveTelemetry(false)).toBeNull()
  })

  test("the instrumentation scope's version is package.json's", async () => {
    const { name, version } = JSON.parse(await readFile(resolve(ROOT, 'package.json'), 'utf8')) as Record<string, string>
    expect(SCOPE).toEqual({ name, version })
  })

  // A fresh process on the built package: what a user without telemetry runs loads no OpenTelemetry module
  // (and, as a control, `telemetry: true` does).
  test.each([
    ['off', 'undefined', []],
    ['true', 'true', [expect.stringContaining('@opentelemetry/api')]],
  ])(
    '%s: the built package loads @opentelemetry/api only when asked, requests checked or not',
    async (_, telemetry, expected) => {
      const script = `
      import { createRequire } from 'node:module'
      import { createVerifier } from './dist/index.js'
      const lookup = async () => ({ id: 'k', organisation_id: 'o', scopes: [] })
      const verifier = createVerifier({ lookup, logger: false, telemetry: ${telemetry} })
      await verifier.verify({ 'x-portkey-api-key': 'pk-off-0123456789' })
      await verifier.verify({ 'x-portkey-api-key': 'pk-off-0123456789' })
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes('@opentelemetry'))
      console.log(JSON.stringify(loaded.slice(0, 1)))`
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT })
      expect(JSON.parse(stdout)).toEqual(expected)
    },
  )
})
