import { afterEach, describe, expect, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import { createTelemetry } from '../../src/telemetry/telemetry.js'
import { keyRecord } from '../../src/testing/index.js'
import type { CheckStatus, Decision } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { audited } from '../../src/verifier/decision.js'
import type { Check } from '../../src/verifier/check.js'
import { authWith, withKey } from '../support/core-helpers.js'
import { rows, useOtel } from './otel.js'

let otel: ReturnType<typeof useOtel>
afterEach(async () => {
  await otel?.shutdown()
})

const AUTH = authWith(['completions.write'])

describe('decisions, through audited()', () => {
  // A check refusing with the rate-limit code, through the decision path; the verifier's own limiter below.
  test('a rate-limit refusal counts in portkey_auth.rate_limit.refusals and in the decisions', async () => {
    otel = useOtel()
    const counter = createTelemetry({ meterProvider: otel.meterProvider }).decisions
    const rateLimited = new AuthError('rate_limit_exceeded', 429, 'Rate limit reached.')
    const check: Check = (_headers, _route, status) => {
      if (status) status.cache = 'hit'
      throw rateLimited
    }
    const heard: Decision[] = []
    const counted = audited(check, undefined, undefined, counter)
    const both = audited(check, (decision) => heard.push(decision), undefined, counter)
    for (const run of [counted, counted, both]) expect(() => run(withKey('pk-limited-0123456789'))).toThrow(rateLimited)
    expect(heard).toHaveLength(1)
    const points = await otel.points()
    expect(rows(points, 'portkey_auth.rate_limit.refusals')).toEqual([{ 'portkey_auth.rate_limit.mode': 'enforce', value: 3 }])
    expect(rows(points, 'portkey_auth.decisions')).toEqual([
      { 'portkey_auth.outcome': 'refused', 'error.type': 'rate_limit_exceeded', 'portkey_auth.cache': 'hit', value: 3 },
    ])
  })

  test('no refusal of that code, no rate-limit series; a refusal that is no AuthError is error.type _OTHER', async () => {
    otel = useOtel()
    const counter = createTelemetry({ meterProvider: otel.meterProvider }).decisions
    const broken = audited(
      () => {
        throw new Error('a bug')
      },
      undefined,
      undefined,
      counter,
    )
    expect(() => broken(withKey('pk-broken-0123456789'))).toThrow('a bug')
    const points = await otel.points()
    expect(rows(points, 'portkey_auth.rate_limit.refusals')).toEqual([])
    expect(rows(points, 'portkey_auth.decisions')).toEqual([
      { 'portkey_auth.outcome': 'refused', 'error.type': '_OTHER', value: 1 },
    ])
  })

  /** A check answering AUTH from the cache, keeping each status it is given. */
  function cachedCheck() {
    const statuses: unknown[] = []
    const check: Check = (_headers, _route, status) => {
      statuses.push(status)
      if (status) status.cache = 'hit'
      return AUTH
    }
    return { check, statuses }
  }

  test('off, the check runs bare (no status object); on, a cached answer stays synchronous', () => {
    const { check, statuses } = cachedCheck()
    expect(audited(check, undefined)(withKey('pk-bare-0123456789'))).toBe(AUTH)
    otel = useOtel()
    const counter = createTelemetry({ meterProvider: otel.meterProvider }).decisions
    expect(audited(check, undefined, undefined, counter)(withKey('pk-counted-0123456789'))).toBe(AUTH) // not a promise
    expect(statuses).toEqual([undefined, { cache: 'hit' }])
  })

  test("given the caller's status, each form hands the check that one (no second object), and reads it", () => {
    const { check, statuses } = cachedCheck()
    otel = useOtel()
    const counter = createTelemetry({ meterProvider: otel.meterProvider }).decisions
    const heard: Decision[] = []
    const forms = [
      audited(check, undefined),
      audited(check, undefined, undefined, counter),
      audited(check, (decision) => heard.push(decision)),
      audited(check, (decision) => heard.push(decision), undefined, counter),
    ]
    const given: CheckStatus[] = forms.map(() => ({ cache: 'none' }))
    for (const [i, run] of forms.entries()) expect(run(withKey('pk-given-0123456789'), undefined, given[i])).toBe(AUTH)
    expect(statuses).toHaveLength(forms.length)
    for (const [i, status] of statuses.entries()) expect(status).toBe(given[i])
    expect(given.map((status) => status.cache)).toEqual(['hit', 'hit', 'hit', 'hit'])
    expect(heard.map((decision) => decision.cache)).toEqual(['hit', 'hit'])
  })
})

describe('rate limits (issue 16) in the metrics', () => {
  test("a verifier's own 429s count in portkey_auth.rate_limit.refusals and in the decisions", async () => {
    otel = useOtel()
    const lookup = async () => keyRecord({ id: 'key_rpm', rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] })
    const verifier = createVerifier({ lookup, logger: false, telemetry: { meterProvider: otel.meterProvider } })
    const outcomes: number[] = []
    for (let i = 0; i < 5; i++)
      outcomes.push(
        await verifier.verify(withKey('pk-rpm-0123456789')).then(
          () => 200,
          (error: AuthError) => error.status,
        ),
      )
    expect(outcomes).toEqual([200, 200, 429, 429, 429])
    const points = await otel.points()
    expect(rows(points, 'portkey_auth.rate_limit.refusals')).toEqual([{ 'portkey_auth.rate_limit.mode': 'enforce', value: 3 }])
    expect(rows(points, 'portkey_auth.decisions')).toContainEqual({
      'portkey_auth.outcome': 'refused',
      'error.type': 'rate_limit_exceeded',
      'portkey_auth.cache': 'hit',
      value: 3,
    })
  })
})

describe('shadow mode and early warning (issue 27) in the metrics and the decisions', () => {
  const lookup = async () => keyRecord({ id: 'key_rpd', rate_limits: [{ type: 'requests', unit: 'rpd', value: 5 }] })
  const run = async (rateLimits: { mode?: 'enforce' | 'shadow'; nearLimitAt?: number }) => {
    otel = useOtel()
    const heard: Decision[] = []
    const verifier = createVerifier({
      lookup,
      logger: false,
      rateLimits,
      onDecision: (decision) => heard.push(decision),
      telemetry: { meterProvider: otel.meterProvider },
    })
    const outcomes: number[] = []
    for (let i = 0; i < 8; i++)
      outcomes.push(
        await verifier.verify(withKey('pk-rpd-0123456789')).then(
          () => 200,
          (error: AuthError) => error.status,
        ),
      )
    return { outcomes, heard, points: await otel.points(), stats: verifier.stats().rateLimits }
  }

  test("shadow: all 8 admitted; the 3 a limit refuses count under mode 'shadow' and carry overLimit; near_limit once, at 4 of 5", async () => {
    const { outcomes, heard, points, stats } = await run({ mode: 'shadow' })
    expect(outcomes).toEqual([200, 200, 200, 200, 200, 200, 200, 200])
    expect(rows(points, 'portkey_auth.rate_limit.refusals')).toEqual([{ 'portkey_auth.rate_limit.mode': 'shadow', value: 3 }])
    expect(rows(points, 'portkey_auth.rate_limit.near_limit')).toEqual([{ 'portkey_auth.rate_limit.name': 'rpd', value: 1 }])
    expect(heard.map((decision) => decision.overLimit)).toEqual([[], [], [], [], [], ['rpd'], ['rpd'], ['rpd']])
    expect(heard.map((decision) => decision.nearLimit)).toEqual([[], [], [], ['rpd'], [], [], [], []])
    expect(heard.map((decision) => decision.rateLimits?.[0]?.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0, 0])
    expect(heard.map((decision) => decision.rateLimits?.[0]?.usage)).toEqual(
      [0.2, 0.4, 0.6, 0.8, 1, 1, 1, 1].map((u) => expect.closeTo(u)),
    )
    expect(heard.every((decision) => decision.admitted && decision.code === null)).toBe(true)
    expect(stats).toMatchObject({ refused: 0, shadowed: 3 })
  })

  test('enforce: the same limit refuses 3 with 429, each decision naming it in overLimit; nearLimitAt 0.4 warns at 2 of 5', async () => {
    const { outcomes, heard, points, stats } = await run({ nearLimitAt: 0.4 })
    expect(outcomes).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
    expect(rows(points, 'portkey_auth.rate_limit.refusals')).toEqual([{ 'portkey_auth.rate_limit.mode': 'enforce', value: 3 }])
    expect(rows(points, 'portkey_auth.rate_limit.near_limit')).toEqual([{ 'portkey_auth.rate_limit.name': 'rpd', value: 1 }])
    expect(heard.map((decision) => decision.overLimit)).toEqual([[], [], [], [], [], ['rpd'], ['rpd'], ['rpd']])
    expect(heard.map((decision) => decision.nearLimit)).toEqual([[], ['rpd'], [], [], [], [], [], []])
    expect(heard.slice(5).map((decision) => decision.rateLimits)).toEqual([null, null, null])
    expect(stats).toMatchObject({ refused: 3, shadowed: 0 })
  })
})

describe('several verifiers on one meter provider', () => {
  test('their decisions add up instead of one hiding the other', async () => {
    otel = useOtel()
    const lookup = async () => keyRecord({ id: 'key_many' })
    const make = () => createVerifier({ lookup, logger: false, telemetry: { meterProvider: otel.meterProvider } })
    const [a, b] = [make(), make()]
    await a.verify(withKey('pk-many-a-0123456789'))
    await b.verify(withKey('pk-many-b-0123456789'))
    await b.verify(withKey('pk-many-b-0123456789'))
    expect(rows(await otel.points(), 'portkey_auth.decisions')).toEqual([
      { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'api_key', 'portkey_auth.cache': 'hit', value: 1 },
      { 'portkey_auth.outcome': 'admitted', 'portkey_auth.method': 'api_key', 'portkey_auth.cache': 'miss', value: 2 },
    ])
    expect(rows(await otel.points(), 'portkey_auth.cache.entries')).toContainEqual({
      'portkey_auth.cache.kind': 'credential',
      value: 2,
    })
  })
})
