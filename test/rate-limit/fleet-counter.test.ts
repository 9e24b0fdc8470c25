import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { AuthError, RedisUnavailable } from '../../src/errors.js'
import type { RedisConnection } from '../../src/fleet/redis.js'
import { FleetCounter } from '../../src/rate-limit/fleet-counter.js'
import { RateLimiter } from '../../src/rate-limit/limiter.js'
import type { CheckStatus, PortkeyAuth } from '../../src/types.js'
import { authWith, recordingLogger } from '../support/core-helpers.js'

// 10 s into a minute: the window does not end during a test.
const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})
const counters: FleetCounter[] = []
afterEach(() => {
  vi.useRealTimers()
  // Each counter's clock reads Redis's time on a timer (it would read this double's nonsense, and ignore it).
  for (const counter of counters.splice(0)) counter.clock.close()
})

/** A connected Redis whose scripts answer `reply`, what none of them returns; it holds no count (GET: nil). */
function answering(reply: unknown): RedisConnection {
  const command = async ([name]: string[]) => (name === 'GET' ? null : reply)
  return { connected: true, epoch: 0, command } as unknown as RedisConnection
}

/** A counter on `redis`, its clock closed after the test. */
function counterOn(redis: RedisConnection): FleetCounter {
  const counter = new FleetCounter(redis, 'ns:')
  counters.push(counter)
  return counter
}

describe('FleetCounter, given a reply none of its scripts gives', () => {
  test.each<[string, unknown]>([
    ['a status', 'OK'],
    ['a number', 1],
    ['null', null],
    ['one number of two', [1]],
    ['no numbers', ['a', 'b']],
  ])('a lease answered %s: RedisUnavailable, as any Redis failure', async (_name, reply) => {
    const counter = counterOn(answering(reply))
    const lease = counter.lease(counter.key(['key', 'org_1', 'key_1'], 'rpm', T0), 1, 10, T0 + 60_000)
    await expect(lease).rejects.toThrow(RedisUnavailable)
    await expect(lease).rejects.toThrow('unexpected reply to a rate-limit lease')
  })

  test.each<[string, unknown]>([
    ['a status', 'OK'],
    ['no total', [0]],
    ['a total that is no number', [0, 'many']],
  ])('a tokens report answered %s: RedisUnavailable', async (_name, reply) => {
    const counter = counterOn(answering(reply))
    await expect(counter.add(counter.key(['key', 'org_1', 'key_1'], 'tokens-rpm', T0), 5, 100, T0 + 60_000)).rejects.toThrow(
      RedisUnavailable,
    )
  })
})

describe('the limiter, on a Redis that answers nonsense', () => {
  const limited = (rateLimits: PortkeyAuth['rateLimits']): PortkeyAuth => Object.freeze({ ...authWith([]), rateLimits })
  const onNonsense = () =>
    new RateLimiter({
      ...{ max: 10, headers: true, shadow: false, nearLimitAt: 0.8, sliding: false, app: null },
      ...{ fleet: counterOn(answering('OK')), logger: recordingLogger() },
    })

  test('counts alone, as when Redis fails: the whole limit on this instance, then 429; nothing leased', async () => {
    const limiter = onNonsense()
    const auth = limited([{ type: 'requests', unit: 'rpm', value: 2 }])
    const counted: CheckStatus['counting'][] = []
    for (let i = 0; i < 2; i++) {
      const status: CheckStatus = { cache: 'hit' }
      await limiter.admit(auth, Date.now(), status)
      counted.push(status.counting)
    }
    expect(counted).toEqual(['local', 'local'])
    await expect(async () => limiter.admit(auth, Date.now(), { cache: 'hit' })).rejects.toThrow(AuthError)
    expect(limiter.stats()).toEqual({ tracked: 1, refused: 1, leases: 0, local: 2, shadowed: 0 })
  })

  test('a tokens report is counted here, and resolves to true', async () => {
    const limiter = onNonsense()
    const auth = limited([{ type: 'tokens', unit: 'rpm', value: 100 }])
    await limiter.admit(auth, Date.now(), { cache: 'hit' })
    await expect(limiter.reportTokens(auth, 100)).resolves.toBe(true)
    await expect(async () => limiter.admit(auth, Date.now(), { cache: 'hit' })).rejects.toMatchObject({ status: 429 })
  })
})
