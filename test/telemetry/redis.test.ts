import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { until } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'
import { LIVE, sendKey, seedKeys, UNKNOWN, useGuardedApp, useStub } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'
import { rows, spanText, useOtel } from './otel.js'

// A real redis-server on loopback, shared by two verifiers (two instances of a fleet), each in a real app.
let redis: TestRedis
let otel: ReturnType<typeof useOtel>
let prefixes = 0
const verifiers: Verifier[] = []

beforeAll(async () => {
  redis = await startTestRedis()
})
afterAll(async () => {
  await redis?.stop()
})
afterEach(async () => {
  for (const verifier of verifiers.splice(0)) await verifier.close()
  await otel.shutdown()
  if (redis) await redis.start().catch(() => {}) // back for the next test, if a test stopped it
})

describe.each(ADAPTERS)('%s: Redis', (framework) => {
  test('each command is a point and a span named by its verb; a fleet hit needs no control-plane call; the gauge follows the connection', async () => {
    otel = useOtel()
    const stub = await useStub({ keys: seedKeys() })
    const { meterProvider, tracerProvider } = otel
    const prefix = `telemetry-${framework}-${++prefixes}:`
    const instance = () => {
      const verifier = createVerifier({
        controlPlaneUrl: stub.url,
        redis: { url: redis.url, prefix },
        logger: false,
        telemetry: { meterProvider, tracerProvider },
      })
      verifiers.push(verifier)
      return verifier
    }
    const [first, second] = [instance(), instance()]
    await until(() => [first, second].every((v) => v.stats().redis?.connected && v.stats().redis?.listening), 5_000)
    const [appA, appB] = await Promise.all([useGuardedApp(framework, first), useGuardedApp(framework, second)])

    // Two verifiers on one meter provider: their gauges add up, as a fleet's instances do.
    expect(rows(await otel.points(), 'portkey_auth.redis.connected')).toEqual([
      { 'portkey_auth.redis.connection': 'command', value: 2 },
      { 'portkey_auth.redis.connection': 'pubsub', value: 2 },
    ])

    expect((await sendKey(appA, LIVE)).status).toBe(200) // asks the control plane, shares the answer
    expect((await sendKey(appB, LIVE)).status).toBe(200) // the fleet's answer, from Redis
    expect((await sendKey(appB, UNKNOWN)).status).toBe(401)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)

    const redisRows = rows(await otel.points(), 'portkey_auth.lookup.duration').filter(
      (row) => row['portkey_auth.lookup.kind'] === 'redis',
    )
    expect(redisRows.every((row) => row['db.system.name'] === 'redis' && typeof row['db.operation.name'] === 'string')).toBe(true)
    // B's first read found A's answer; a read of a name nobody stored is a nil reply: `unknown`.
    const get = (result: string) =>
      redisRows.find((row) => row['db.operation.name'] === 'GET' && row['portkey_auth.lookup.result'] === result)?.value
    expect(get('found')).toBeGreaterThanOrEqual(1)
    expect(get('unknown')).toBeGreaterThanOrEqual(2)
    const redisSpans = otel.spans().filter((span) => span.attributes['portkey_auth.lookup.kind'] === 'redis')
    expect(redisSpans.length).toBe(redisRows.reduce((n, row) => n + (row.value as number), 0))
    expect(new Set(redisSpans.map((span) => span.name))).toContain('portkey_auth.redis GET')
    expect(redisSpans.every((span) => span.status.code === 0)).toBe(true)

    // Redis goes away: the gauge says so, and commands fail at once as outages; requests go on without it.
    await redis.stop()
    await until(() => [first, second].every((v) => !v.stats().redis?.connected), 5_000)
    expect(rows(await otel.points(), 'portkey_auth.redis.connected')).toContainEqual({
      'portkey_auth.redis.connection': 'command',
      value: 0,
    })
    expect((await sendKey(appA, 'pk-during-outage-0123456789')).status).toBe(401)
    const outages = rows(await otel.points(), 'portkey_auth.lookup.duration').filter(
      (row) => row['portkey_auth.lookup.kind'] === 'redis' && row['portkey_auth.lookup.result'] === 'outage',
    )
    expect(outages.length).toBeGreaterThan(0)
    const failed = otel.spans().filter((span) => span.attributes['portkey_auth.lookup.result'] === 'outage')
    expect(failed.map((span) => span.status.message)).toContain('redis is not connected')

    const exported = JSON.stringify((await otel.points()).map((point) => point.raw)) + spanText(otel.spans())
    for (const credential of [LIVE, UNKNOWN, 'pk-during-outage-0123456789']) expect(exported).not.toContain(credential)
  })
})
