import { afterEach, beforeAll, describe, expect, test } from 'vitest'
import { JWKS_PATH } from '../../src/testing/control-plane-stub.js'
import { createTestIssuer, keyRecord, type TestIssuer } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { withKey } from '../support/core-helpers.js'
import { sendKey, useGuardedApp, useStub } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'
import { rows, spanText, useOtel } from './otel.js'

const CLAIMS = { portkey_oid: 'org_jwt', portkey_workspace: 'ws_jwt', scope: 'portkey.completions.write', sub: 'user_1' }
let issuer: TestIssuer
let otel: ReturnType<typeof useOtel>

beforeAll(async () => {
  issuer = await createTestIssuer()
})

afterEach(async () => {
  await otel?.shutdown()
})

/** `portkey_auth.lookup.duration` as `kind result: count` lines, and the spans as `name result status` lines. */
async function observed() {
  const lookups = rows(await otel.points(), 'portkey_auth.lookup.duration').map(
    (row) => `${row['portkey_auth.lookup.kind']} ${row['portkey_auth.lookup.result']}: ${row.value}`,
  )
  const spans = otel
    .spans()
    .map((span) => `${span.name} ${span.attributes['portkey_auth.lookup.result']} ${span.status.code}`)
    .sort()
  return { lookups, spans }
}

describe.each(ADAPTERS)('%s: the JWKS', (framework) => {
  test('one fetch, one point and one span for three new tokens; a cached one costs none; a JWKS that fails is an outage', async () => {
    otel = useOtel()
    const { meterProvider, tracerProvider } = otel
    const stub = await useStub({ jwks: issuer.jwks })
    const jwt = { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience }
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, jwt, telemetry: { meterProvider, tracerProvider } })
    const tokens = await Promise.all([1, 2, 3].map((n) => issuer.sign({ ...CLAIMS, jti: `tok_${n}` })))
    for (const token of [...tokens, tokens[0]!]) expect((await sendKey(app, token)).status).toBe(200)
    expect(stub.calls(JWKS_PATH)).toBe(1)
    expect(await observed()).toEqual({ lookups: ['jwks found: 1'], spans: ['portkey_auth.lookup jwks found 0'] })
    expect(rows(await otel.points(), 'portkey_auth.decisions')).toEqual([
      { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'jwt', 'portkey_auth.cache': 'hit', value: 1 },
      { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'jwt', 'portkey_auth.cache': 'miss', value: 3 },
    ])

    // A token under a kid jose has not seen makes it fetch again (its cooldown aside: a fresh verifier, of other
    // settings, since Web handlers of the same settings share one).
    const other = await createTestIssuer('other-kid')
    stub.fail('unavailable', { times: 1 })
    const unknownKid = await other.sign({ ...CLAIMS, iss: issuer.issuer, aud: issuer.audience })
    const app2 = await useGuardedApp(framework, {
      controlPlaneUrl: stub.url,
      timeoutMs: 1_999,
      jwt,
      telemetry: { meterProvider, tracerProvider },
    })
    expect((await sendKey(app2, unknownKid)).status).toBe(503)
    const { lookups, spans } = await observed()
    expect(lookups).toEqual(['jwks found: 1', 'jwks outage: 1'])
    expect(spans).toEqual(['portkey_auth.lookup jwks found 0', 'portkey_auth.lookup jwks outage 2'])
    expect(otel.spans().find((span) => span.status.code === 2)?.status.message).toBe('answered 503')
    const exported = JSON.stringify((await otel.points()).map((point) => point.raw)) + spanText(otel.spans())
    for (const token of [...tokens, unknownKid]) {
      expect(exported).not.toContain(token)
      expect(exported).not.toContain(token.split('.')[2]) // nor its signature alone
    }
  })
})

describe('the control plane, behind the guard', () => {
  test('a custom look-up whose error quotes the key: the span names the error by its class only', async () => {
    otel = useOtel()
    const key = 'pk-secret-in-message-0123456789'
    const verifier = createVerifier({
      lookup: async (apiKey) => {
        throw new Error(`cannot look up ${apiKey}`)
      },
      logger: false,
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    await expect(verifier.verify(withKey(key))).rejects.toMatchObject({ code: 'auth_unavailable' })
    const [span] = otel.spans()
    expect(span?.status).toEqual({ code: 2, message: 'look-up failed (Error)' })
    expect(spanText(otel.spans()) + JSON.stringify((await otel.points()).map((point) => point.raw))).not.toContain(key)
  })

  test('an open breaker: each miss is a point and an error span with result breaker_open, and the gauge says open', async () => {
    otel = useOtel()
    let calls = 0
    const verifier = createVerifier({
      lookup: async () => {
        calls++
        throw new Error('down')
      },
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
      logger: false,
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    for (const n of [1, 2, 3]) await verifier.verify(withKey(`pk-breaker-${n}-0123456789`)).catch(() => {})
    expect(calls).toBe(1)
    const { lookups, spans } = await observed()
    expect(lookups).toEqual(['api_key breaker_open: 2', 'api_key outage: 1'])
    expect(spans).toEqual([
      'portkey_auth.lookup api_key breaker_open 2',
      'portkey_auth.lookup api_key breaker_open 2',
      'portkey_auth.lookup api_key outage 2',
    ])
    expect(rows(await otel.points(), 'portkey_auth.breaker.status')).toContainEqual({
      'portkey_auth.breaker.state': 'open',
      value: 1,
    })
  })

  test('metrics alone (no tracer provider): points, no spans; traces alone: spans, and no decision tally', async () => {
    otel = useOtel()
    const lookup = async () => keyRecord({ id: 'key_alone' })
    const metricsOnly = createVerifier({ lookup, telemetry: { meterProvider: otel.meterProvider } })
    await metricsOnly.verify(withKey('pk-metrics-only-0123456789'))
    expect((await observed()).lookups).toEqual(['api_key found: 1'])
    expect(otel.spans()).toEqual([])
    const tracesOnly = createVerifier({ lookup, telemetry: { tracerProvider: otel.tracerProvider } })
    await tracesOnly.verify(withKey('pk-traces-only-0123456789'))
    expect(otel.spans().map((span) => span.attributes['portkey_auth.key.id'])).toEqual(['key_alone'])
    expect(rows(await otel.points(), 'portkey_auth.decisions')).toHaveLength(1) // the first verifier's only
  })
})
