import { describe, expect, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { expectRejection, type GuardedApp, type RawResponse, sendKey, sleep, useGuardedApp, useStub } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'

const TIMEOUT_MS = 300
const FAILURE_THRESHOLD = 3
const COOLDOWN_MS = 800
const CACHED = 'pk-breaker-cached-0123456789'
const LATE = 'pk-breaker-late-0123456789'
let serial = 0
const unknownKey = () => `pk-breaker-unknown-${++serial}-0123456789`

/** Sends `key` and measures how long the answer took. */
async function timed(app: GuardedApp, key: string): Promise<{ res: RawResponse; ms: number }> {
  const started = performance.now()
  const res = await sendKey(app, key)
  return { res, ms: performance.now() - started }
}

/** Waits, in bounded steps, until the breaker reads `state`. */
async function breakerBecomes(verifier: Verifier, state: 'half-open' | 'open' | 'closed') {
  for (let waited = 0; verifier.stats().guard.breaker !== state; waited += 20) {
    if (waited > COOLDOWN_MS * 3) throw new Error(`breaker still ${verifier.stats().guard.breaker}, expected ${state}`)
    await sleep(20)
  }
}

const round = (values: number[]) => values.map((ms) => Math.round(ms))

describe.each(ADAPTERS)('%s: circuit breaker in front of a hanging key service', (framework) => {
  test('misses cost timeoutMs until it opens, then milliseconds with no call; stale entries still served; one probe recovers', {
    timeout: 30_000,
  }, async () => {
    const stub = await useStub({ keys: { [CACHED]: keyRecord({ id: 'key_cached' }) } })
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      timeoutMs: TIMEOUT_MS,
      breaker: { failureThreshold: FAILURE_THRESHOLD, cooldownMs: COOLDOWN_MS },
      cache: { ttlMs: 50, staleMs: 60_000 },
    })
    const app = await useGuardedApp(framework, verifier)
    const calls = () => stub.calls(KEY_DETAILS_PATH)
    expect((await sendKey(app, CACHED)).status).toBe(200)
    await sleep(60) // CACHED is now stale (past ttlMs, well within staleMs)
    stub.fail('hang')

    // 1. Closed: each miss reaches the hanging key service and waits out timeoutMs.
    const before: number[] = []
    for (let i = 0; i < FAILURE_THRESHOLD; i++) {
      const callsBefore = calls()
      const { res, ms } = await timed(app, unknownKey())
      expectRejection(res, 503, 'auth_unavailable')
      expect(calls()).toBe(callsBefore + 1)
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
      expect(ms).toBeLessThan(TIMEOUT_MS + 500)
      before.push(ms)
    }
    expect(verifier.stats().guard.breaker).toBe('open')

    // 2. Open: misses answered at once, with Retry-After, and the key service hears nothing.
    const frozenCalls = calls()
    const after: number[] = []
    for (let i = 0; i < 10; i++) {
      const { res, ms } = await timed(app, i === 0 ? LATE : unknownKey())
      expectRejection(res, 503, 'auth_unavailable')
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(ms).toBeLessThan(TIMEOUT_MS / 3)
      after.push(ms)
    }
    // ...while a stale entry is still served (its background refresh short-circuited too).
    const stale = await timed(app, CACHED)
    expect(stale.res.status).toBe(200)
    expect(stale.ms).toBeLessThan(TIMEOUT_MS / 3)
    expect(verifier.stats().guard.breaker).toBe('open')
    expect(calls()).toBe(frozenCalls)
    expect(verifier.stats()).toMatchObject({ stale: 1, guard: { shortCircuited: 11 } })

    // 3. Half-open while still hanging: of five concurrent misses exactly one probes, and it fails.
    await breakerBecomes(verifier, 'half-open')
    const probeStarted = performance.now()
    const burst = await Promise.all(Array.from({ length: 5 }, () => timed(app, unknownKey())))
    for (const { res } of burst) expectRejection(res, 503, 'auth_unavailable')
    const quick = burst.filter(({ ms }) => ms < TIMEOUT_MS / 3)
    expect(quick).toHaveLength(4)
    expect(calls()).toBe(frozenCalls + 1)
    expect(verifier.stats().guard.breaker).toBe('open')
    const failedProbeMs = performance.now() - probeStarted

    // 4. Recovery: the key service heals; after the cooldown one probe closes the breaker.
    stub.heal()
    stub.keys.set(LATE, keyRecord({ id: 'key_late' }))
    await breakerBecomes(verifier, 'half-open')
    const probe = await timed(app, LATE)
    expect(probe.res.status).toBe(200)
    expect(probe.res.json<{ portkey: { keyId: string } }>().portkey.keyId).toBe('key_late')
    expect(calls()).toBe(frozenCalls + 2)
    expect(verifier.stats().guard.breaker).toBe('closed')
    // Look-ups resume: every new miss reaches the key service again.
    const resumed: number[] = []
    for (let i = 0; i < 5; i++) {
      const { res, ms } = await timed(app, unknownKey())
      expectRejection(res, 401, 'invalid_api_key')
      resumed.push(ms)
    }
    expect(calls()).toBe(frozenCalls + 7)
    // ...and the stale entry is refreshed in the background.
    expect((await sendKey(app, CACHED)).status).toBe(200)
    await lookupsSettle(verifier)
    expect(calls()).toBe(frozenCalls + 8)

    console.log(
      `[breaker ${framework}] timeoutMs=${TIMEOUT_MS} threshold=${FAILURE_THRESHOLD} cooldownMs=${COOLDOWN_MS} | ` +
        `before opening: ${JSON.stringify(round(before))}ms | while open: max ${Math.round(Math.max(...after))}ms ` +
        `median ${Math.round(after.sort((a, b) => a - b)[after.length >> 1]!)}ms, stale served in ${Math.round(stale.ms)}ms, stub calls +0 | ` +
        `failed probe burst ${Math.round(failedProbeMs)}ms (4 of 5 short-circuited) | recovery probe ${Math.round(probe.ms)}ms, ` +
        `after: ${JSON.stringify(round(resumed))}ms | shortCircuited=${verifier.stats().guard.shortCircuited}`,
    )
  })
})

/** Waits until no look-up is under way (the background refresh has landed). */
async function lookupsSettle(verifier: Verifier) {
  for (let waited = 0; verifier.stats().pending > 0; waited += 10) {
    if (waited > 2_000) throw new Error('a look-up is still pending')
    await sleep(10)
  }
}
