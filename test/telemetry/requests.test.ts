import { afterEach, describe, expect, test } from 'vitest'
import { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../../src/lookup/control-plane.js'
import { virtualKeyRecord } from '../../src/testing/index.js'
import { until } from '../support/core-helpers.js'
import { LIVE, OTHER, send, sendKey, seedKeys, UNKNOWN, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'
import { type Point, rows, spanText, useOtel } from './otel.js'

// A scripted mix of requests through a real app, over real HTTP, against the control-plane stub, reported to
// the real OpenTelemetry SDK: the counters must equal what was sent, the histogram must have one point per
// remote call, spans must exist for remote calls only, and nothing exported may hold a credential.
const MALFORMED = 'pk-has spaces-0123456789'
const SHED_FIRST = 'pk-unknown-first-0123456789'
const SHED_SECOND = 'pk-unknown-second-0123456789'
const SENT = [LIVE, OTHER, UNKNOWN, MALFORMED, SHED_FIRST, SHED_SECOND]
const VK = virtualKeyRecord({ slug: 'openai-prod', workspace_id: 'ws_test' })

let otel: ReturnType<typeof useOtel>
afterEach(async () => {
  await otel.shutdown()
})

describe.each(ADAPTERS)('%s: a scripted mix of requests', (framework) => {
  test('counters, histogram, spans and gauges match what was sent; no credential anywhere', async () => {
    otel = useOtel()
    const stub = await useStub({ keys: seedKeys(), virtualKeys: { [VK.slug]: VK } })
    const { meterProvider, tracerProvider } = otel
    const app = await useGuardedApp(framework, {
      controlPlaneUrl: stub.url,
      maxPendingLookups: 1,
      logger: false,
      telemetry: { meterProvider, tracerProvider },
    })

    expect((await sendKey(app, LIVE)).status).toBe(200) // new: a look-up
    for (let i = 0; i < 3; i++) expect((await sendKey(app, LIVE)).status).toBe(200) // cached
    const withVk = await send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': VK.slug })
    expect(withVk.status).toBe(200) // cached key, new virtual key: a look-up
    expect((await sendKey(app, UNKNOWN)).status).toBe(401) // unknown: a look-up
    expect((await sendKey(app, UNKNOWN)).status).toBe(401) // unknown, cached
    expect((await sendKey(app, MALFORMED)).status).toBe(401) // malformed: refused before the cache
    expect((await sendKey(app, undefined)).status).toBe(401) // missing
    stub.fail('error', { times: 1 })
    expect((await sendKey(app, OTHER)).status).toBe(503) // outage
    // Shed: one look-up held open by a slow stub fills maxPendingLookups (1); a second new key is shed.
    stub.delayMs = 300
    const first = sendKey(app, SHED_FIRST)
    await until(() => stub.inFlight === 1)
    expect((await sendKey(app, SHED_SECOND)).status).toBe(503)
    expect((await first).status).toBe(401)

    const points = await otel.points()
    expect(rows(points, 'portkey_auth.decisions')).toEqual(
      sorted([
        { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'api_key', 'portkey_auth.cache': 'miss', value: 1 },
        { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'api_key', 'portkey_auth.cache': 'hit', value: 4 },
        { 'portkey_auth.outcome': 'refused', 'error.type': 'invalid_api_key', 'portkey_auth.cache': 'miss', value: 2 },
        { 'portkey_auth.outcome': 'refused', 'error.type': 'invalid_api_key', 'portkey_auth.cache': 'hit', value: 1 },
        { 'portkey_auth.outcome': 'refused', 'error.type': 'invalid_api_key', value: 1 },
        { 'portkey_auth.outcome': 'refused', 'error.type': 'missing_api_key', value: 1 },
        { 'portkey_auth.outcome': 'refused', 'error.type': 'auth_unavailable', 'portkey_auth.cache': 'miss', value: 2 },
      ]),
    )
    expect(sum(points, 'portkey_auth.decisions')).toBe(12)

    // One point per remote call (and one for the call shed before the wire), each with its kind and result.
    const lookups = rows(points, 'portkey_auth.lookup.duration')
    expect(lookups).toEqual(
      sorted([
        { 'portkey_auth.lookup.kind': 'api_key', 'portkey_auth.lookup.result': 'found', value: 1 },
        { 'portkey_auth.lookup.kind': 'api_key', 'portkey_auth.lookup.result': 'unknown', value: 2 },
        { 'portkey_auth.lookup.kind': 'api_key', 'portkey_auth.lookup.result': 'outage', value: 1 },
        { 'portkey_auth.lookup.kind': 'api_key', 'portkey_auth.lookup.result': 'shed', value: 1 },
        { 'portkey_auth.lookup.kind': 'virtual_key', 'portkey_auth.lookup.result': 'found', value: 1 },
      ]),
    )
    const wire = lookups.filter((row) => row['portkey_auth.lookup.result'] !== 'shed')
    expect(wire.reduce((n, row) => n + (row.value as number), 0)).toBe(
      stub.calls(KEY_DETAILS_PATH) + stub.calls(`${VIRTUAL_KEYS_PATH}${VK.slug}`),
    )
    const histogram = points.find((point) => point.metric === 'portkey_auth.lookup.duration')!
    expect(histogram.unit).toBe('s')

    // Gauges: entries cached now (LIVE, UNKNOWN, SHED_FIRST; the virtual key), the breaker closed.
    expect(rows(points, 'portkey_auth.cache.entries')).toEqual(
      sorted([
        { 'portkey_auth.cache.kind': 'credential', value: 3 },
        { 'portkey_auth.cache.kind': 'virtual_key', value: 1 },
      ]),
    )
    expect(rows(points, 'portkey_auth.breaker.status')).toEqual(
      sorted([
        { 'portkey_auth.breaker.state': 'closed', value: 1 },
        { 'portkey_auth.breaker.state': 'open', value: 0 },
        { 'portkey_auth.breaker.state': 'half_open', value: 0 },
      ]),
    )
    expect(rows(points, 'portkey_auth.redis.connected')).toEqual([])

    // Spans: one per remote call, none for a cached request; the key named by its id.
    const spans = otel.spans()
    const summary = spans.map((span) => `${span.name} ${span.attributes['portkey_auth.lookup.result']} ${span.status.code}`)
    expect(summary.sort()).toEqual(
      [
        'portkey_auth.lookup api_key found 0',
        'portkey_auth.lookup api_key unknown 0',
        'portkey_auth.lookup api_key unknown 0',
        'portkey_auth.lookup api_key outage 2',
        'portkey_auth.lookup api_key shed 2',
        'portkey_auth.lookup virtual_key found 0',
      ].sort(),
    )
    const found = spans.find(
      (span) => span.attributes['portkey_auth.lookup.result'] === 'found' && span.name.endsWith('api_key'),
    )!
    expect(found.attributes['portkey_auth.key.id']).toBe('key_live')
    expect(found.kind).toBe(2) // CLIENT
    const outage = spans.find((span) => span.attributes['portkey_auth.lookup.result'] === 'outage')!
    expect(outage.status.message).toBe('key service answered 500')
    expect(outage.attributes['error.type']).toBe('outage')
    expect(spans.find((span) => span.name.endsWith('virtual_key'))!.attributes['portkey_auth.virtual_key.slug']).toBe(VK.slug)

    // The sweep: no credential sent in any exported point (attributes, descriptors, scope) or span.
    const exported = JSON.stringify(points.map((point) => point.raw)) + spanText(spans)
    for (const credential of SENT) expect(exported).not.toContain(credential)
    expect(exported).toContain('key_live') // the sweep reads what it should
  })
})

function sorted(list: Record<string, unknown>[]): Record<string, unknown>[] {
  return [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
}

function sum(points: readonly Point[], metric: string): number {
  return points.filter((point) => point.metric === metric).reduce((n, point) => n + point.value, 0)
}
