import { afterEach, describe, expect, test, vi } from 'vitest'
import { type AuthError, ControlPlaneError, ControlPlaneMisconfigured } from '../../src/errors.js'
import { outageCause } from '../../src/network-error.js'
import { type GuardConfig, LookupGuard } from '../../src/lookup/guard.js'
import { catchAuthError, deferred, expectAuthError, recordingLogger } from '../support/core-helpers.js'

const T0 = Date.parse('2030-01-01T00:00:00.000Z')

const silent = { warn() {}, info() {} }
const guardWith = (config: Partial<GuardConfig> = {}) =>
  new LookupGuard({
    target: 'http://control-plane.test',
    timeoutMs: 1_000,
    maxPendingLookups: 8,
    failureThreshold: 3,
    cooldownMs: 5_000,
    logger: silent,
    ...config,
  })

/** A look-up that counts its calls and answers what `answer` says for the n-th call (0-based). */
function counted<T>(answer: (call: number, signal: AbortSignal) => Promise<T>) {
  const signals: AbortSignal[] = []
  return {
    signals,
    get count() {
      return signals.length
    },
    lookup: (signal: AbortSignal) => {
      signals.push(signal)
      return answer(signals.length - 1, signal)
    },
  }
}

const coded = (code: string, message = `connect ${code} 127.0.0.1:1`) => Object.assign(new Error(message), { code })
const down = () => Promise.reject(new Error('key service answered 500'))
const ok = () => Promise.resolve('record')

/** Every failure the guard gives out is the same 503, with a Retry-After in whole seconds. */
async function expectUnavailable(fn: () => unknown): Promise<AuthError> {
  const error = await expectAuthError(fn, 'auth_unavailable', 503)
  expect(error.headers['retry-after']).toMatch(/^[1-9]\d*$/)
  return error
}

/** Fails `n` calls in a row through `guard`. */
async function failTimes(guard: LookupGuard, n: number) {
  for (let i = 0; i < n; i++) await expectUnavailable(() => guard.call(down))
}

afterEach(() => {
  vi.useRealTimers()
})

describe('load shedding past maxPendingLookups', () => {
  test('a call past the limit is answered 503 at once, never reaches the look-up, and is counted', async () => {
    const guard = guardWith({ maxPendingLookups: 2 })
    const gate = deferred<string>()
    const held = counted(() => gate.promise)
    const first = guard.call(held.lookup)
    const second = guard.call(held.lookup)
    await Promise.resolve()
    expect(held.count).toBe(2)

    const extra = counted(ok)
    const started = performance.now()
    const error = await expectUnavailable(() => guard.call(extra.lookup))
    expect(performance.now() - started).toBeLessThan(50)
    expect(error.headers['retry-after']).toBe('1')
    expect(extra.count).toBe(0)
    expect(guard.stats()).toEqual({ breaker: 'closed', shed: 1, shortCircuited: 0, retries: 0 })

    gate.resolve('record')
    await expect(Promise.all([first, second])).resolves.toEqual(['record', 'record'])
    // The slots are free again.
    await expect(guard.call(extra.lookup)).resolves.toBe('record')
    expect(extra.count).toBe(1)
    expect(guard.stats().shed).toBe(1)
  })

  test('a failed call frees its slot too', async () => {
    const guard = guardWith({ maxPendingLookups: 1 })
    await expectUnavailable(() => guard.call(down))
    await expect(guard.call(ok)).resolves.toBe('record')
    expect(guard.stats().shed).toBe(0)
  })

  test('shed calls are not failures of the key service: 100 of them leave the breaker closed', async () => {
    const guard = guardWith({ maxPendingLookups: 1, failureThreshold: 1 })
    const gate = deferred<string>()
    const held = guard.call(() => gate.promise)
    for (let i = 0; i < 100; i++) await expectUnavailable(() => guard.call(ok))
    expect(guard.stats()).toMatchObject({ breaker: 'closed', shed: 100, shortCircuited: 0 })
    gate.resolve('record')
    await held
    expect(guard.state).toBe('closed')
  })
})

describe('circuit breaker', () => {
  test('opens after failureThreshold failures in a row, then short-circuits without calling', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const guard = guardWith({ failureThreshold: 3 })
    await failTimes(guard, 2)
    expect(guard.state).toBe('closed')
    await failTimes(guard, 1)
    expect(guard.state).toBe('open')

    const lookup = counted(ok)
    for (let i = 0; i < 5; i++) await expectUnavailable(() => guard.call(lookup.lookup))
    expect(lookup.count).toBe(0)
    expect(guard.stats()).toEqual({ breaker: 'open', shed: 0, shortCircuited: 5, retries: 0 })
  })

  test('a success resets the run of failures', async () => {
    const guard = guardWith({ failureThreshold: 3 })
    await failTimes(guard, 2)
    await guard.call(ok)
    await failTimes(guard, 2)
    expect(guard.state).toBe('closed')
    await failTimes(guard, 1)
    expect(guard.state).toBe('open')
  })

  test.each<[string, number, string]>([
    ['just opened: the whole cooldown', 0, '5'],
    ['1.2 s in: 3.8 s left, rounded up', 1_200, '4'],
    ['4 s in: exactly 1 s left', 4_000, '1'],
    ['1 ms before the end: at least 1', 4_999, '1'],
  ])('Retry-After while open is the cooldown left in whole seconds (%s)', async (_name, elapsed, retryAfter) => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const guard = guardWith({ failureThreshold: 1, cooldownMs: 5_000 })
    await failTimes(guard, 1)
    vi.setSystemTime(T0 + elapsed)
    expect(guard.state).toBe('open')
    const error = await expectUnavailable(() => guard.call(ok))
    expect(error.headers['retry-after']).toBe(retryAfter)
  })

  test('half-open after the cooldown lets exactly one probe through; a success closes it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const guard = guardWith({ failureThreshold: 2, cooldownMs: 1_000 })
    await failTimes(guard, 2)
    vi.setSystemTime(T0 + 999)
    expect(guard.state).toBe('open')
    vi.setSystemTime(T0 + 1_000)
    expect(guard.state).toBe('half-open')

    const gate = deferred<string>()
    const probe = counted(() => gate.promise)
    const probing = guard.call(probe.lookup)
    await Promise.resolve()
    const others = counted(ok)
    for (let i = 0; i < 10; i++) {
      const error = await expectUnavailable(() => guard.call(others.lookup))
      expect(error.headers['retry-after']).toBe('1')
    }
    expect({ probes: probe.count, others: others.count, shortCircuited: guard.stats().shortCircuited }).toEqual({
      probes: 1,
      others: 0,
      shortCircuited: 10,
    })

    gate.resolve('record')
    await expect(probing).resolves.toBe('record')
    expect(guard.state).toBe('closed')
    for (let i = 0; i < 3; i++) await expect(guard.call(others.lookup)).resolves.toBe('record')
    expect(others.count).toBe(3)
  })

  test('a failed probe opens it again for a whole new cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const guard = guardWith({ failureThreshold: 2, cooldownMs: 1_000 })
    await failTimes(guard, 2)
    vi.setSystemTime(T0 + 1_500)
    expect(guard.state).toBe('half-open')
    const probe = counted(down)
    await expectUnavailable(() => guard.call(probe.lookup))
    expect(probe.count).toBe(1)
    expect(guard.state).toBe('open')

    vi.setSystemTime(T0 + 2_499)
    const waiting = counted(ok)
    await expectUnavailable(() => guard.call(waiting.lookup))
    expect(waiting.count).toBe(0)
    vi.setSystemTime(T0 + 2_500)
    expect(guard.state).toBe('half-open')
    await expect(guard.call(waiting.lookup)).resolves.toBe('record')
    expect(waiting.count).toBe(1)
    expect(guard.state).toBe('closed')
  })

  test('a short-circuited call does not extend the cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const guard = guardWith({ failureThreshold: 1, cooldownMs: 1_000 })
    await failTimes(guard, 1)
    for (let t = 100; t < 1_000; t += 100) {
      vi.setSystemTime(T0 + t)
      await expectUnavailable(() => guard.call(ok))
    }
    vi.setSystemTime(T0 + 1_000)
    await expect(guard.call(ok)).resolves.toBe('record')
  })
})

describe('what the guard logs', () => {
  test('the breaker opening and closing, once each, with the last cause', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const logger = recordingLogger()
    const guard = guardWith({ failureThreshold: 3, cooldownMs: 5_000, logger })
    // The first failure names where the look-up went, and why: a wrong URL shows at once.
    await failTimes(guard, 1)
    expect(logger.lines).toEqual([
      expect.stringMatching(
        /^warn: portkey-auth: a key look-up at http:\/\/control-plane\.test failed \(.+\): answered 503 with Retry-After$/,
      ),
    ])
    await failTimes(guard, 1)
    expect(logger.lines).toHaveLength(1)
    await failTimes(guard, 1)
    expect(logger.lines).toHaveLength(2)
    expect(logger.lines[1]).toMatch(
      /^warn: portkey-auth: circuit breaker open: 3 look-ups at http:\/\/control-plane\.test failed in a row \(last: .+\); misses are answered 503 for 5000 ms/,
    )
    // Short-circuited calls and a failed probe say nothing more.
    for (let i = 0; i < 3; i++) await expectUnavailable(() => guard.call(ok))
    vi.setSystemTime(T0 + 5_000)
    await failTimes(guard, 1)
    expect(logger.lines).toHaveLength(2)
    vi.setSystemTime(T0 + 10_001)
    await guard.call(ok)
    expect(logger.lines.slice(2)).toEqual(['info: portkey-auth: the control plane answers again: circuit breaker closed'])
    await guard.call(ok)
    expect(logger.lines).toHaveLength(3)
    // A new run of failures is told again, once.
    await failTimes(guard, 2)
    expect(logger.lines.slice(3)).toEqual([expect.stringMatching(/^warn: portkey-auth: a key look-up at .+ failed/)])
  })

  test('a wrong control-plane URL once, until a look-up works again', async () => {
    const logger = recordingLogger()
    const guard = guardWith({ failureThreshold: 100, logger })
    const misconfigured = async () => {
      throw new ControlPlaneMisconfigured(
        'http://127.0.0.1:1 answered 404 on /v1/v2/api-keys/self/details: it is no Portkey key service there',
      )
    }
    for (let i = 0; i < 5; i++) await expectUnavailable(() => guard.call(misconfigured))
    expect(logger.lines).toEqual([
      'warn: portkey-auth: http://127.0.0.1:1 answered 404 on /v1/v2/api-keys/self/details: it is no Portkey key service there Every look-up fails with 503 until it is fixed.',
    ])
    await guard.call(ok)
    await expectUnavailable(() => guard.call(misconfigured))
    expect(logger.lines).toHaveLength(2)
  })

  test('shed and short-circuited calls carry a cause that says so', async () => {
    const guard = guardWith({ failureThreshold: 1, maxPendingLookups: 1 })
    const hold = deferred<void>()
    const held = guard.call(() => hold.promise)
    expect(outageCause((await expectUnavailable(() => guard.call(ok))).cause)).toBe(
      'load shed: maxPendingLookups look-ups under way',
    )
    hold.reject(new Error('down'))
    await held.catch(() => {})
    expect(outageCause((await expectUnavailable(() => guard.call(ok))).cause)).toBe('circuit breaker open')
  })
})

describe('one retry for a connection error', () => {
  const viaCause = (code: string) => new TypeError('fetch failed', { cause: coded(code) })
  const deepCause = (code: string) =>
    new Error('look-up failed', { cause: new TypeError('fetch failed', { cause: coded(code) }) })

  test.each<[string, () => Error]>([
    ['ECONNREFUSED', () => coded('ECONNREFUSED')],
    ['ECONNRESET', () => coded('ECONNRESET')],
    ['EPIPE', () => coded('EPIPE')],
    ['ECONNREFUSED on error.cause (what fetch throws)', () => viaCause('ECONNREFUSED')],
    ['ECONNRESET on error.cause', () => viaCause('ECONNRESET')],
    ['UND_ERR_SOCKET on error.cause', () => viaCause('UND_ERR_SOCKET')],
    ['ECONNRESET two causes deep', () => deepCause('ECONNRESET')],
  ])('%s is retried once, and the retry can succeed', async (_name, error) => {
    const guard = guardWith()
    const lookup = counted((call) => (call === 0 ? Promise.reject(error()) : ok()))
    await expect(guard.call(lookup.lookup)).resolves.toBe('record')
    expect(lookup.count).toBe(2)
    // Both attempts share one budget: the same signal.
    expect(lookup.signals[1]).toBe(lookup.signals[0])
    expect(guard.stats()).toMatchObject({ retries: 1, breaker: 'closed' })
  })

  test('a connection error on the retry too: one retry only, then 503 with the cause kept', async () => {
    const guard = guardWith()
    const lookup = counted(() => Promise.reject(coded('ECONNREFUSED')))
    const error = await expectUnavailable(() => guard.call(lookup.lookup))
    expect(lookup.count).toBe(2)
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
    expect(guard.stats().retries).toBe(1)
  })

  test.each<[string, () => unknown]>([
    ['a 5xx answer', () => new Error('key service answered 500')],
    ['a garbled answer', () => new ControlPlaneError('key service answered with no key record')],
    ['an unrelated error code', () => coded('ENOTFOUND')],
    ['a code on a plain object cause', () => new Error('x', { cause: { code: 'ECONNRESET' } })],
    [
      'a code four causes deep',
      () => new Error('a', { cause: new Error('b', { cause: new Error('c', { cause: coded('ECONNRESET') }) }) }),
    ],
    ['a thrown string', () => 'ECONNREFUSED'],
    ['a thrown null', () => null],
  ])('%s is not retried', async (_name, error) => {
    const guard = guardWith()
    const lookup = counted(() => Promise.reject(error()))
    await expectUnavailable(() => guard.call(lookup.lookup))
    expect(lookup.count).toBe(1)
    expect(guard.stats().retries).toBe(0)
  })

  test('a timeout is not retried, even when the look-up reports it as a reset connection', async () => {
    const guard = guardWith({ timeoutMs: 60 })
    const lookup = counted(
      (_call, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(coded('ECONNRESET')))),
    )
    const error = await expectUnavailable(() => guard.call(lookup.lookup))
    expect(lookup.count).toBe(1)
    expect(guard.stats().retries).toBe(0)
    expect((error.cause as Error).name).toBe('TimeoutError')
  })

  test('the retry stays inside the timeoutMs budget: a hanging second attempt is cut at timeoutMs from the start', async () => {
    const timeoutMs = 200
    const guard = guardWith({ timeoutMs })
    const lookup = counted(
      (call) =>
        call === 0
          ? new Promise((_, reject) => setTimeout(() => reject(coded('ECONNRESET')), timeoutMs / 2))
          : new Promise(() => {}), // ignores its signal and never settles
    )
    const started = performance.now()
    const error = await expectUnavailable(() => guard.call(lookup.lookup))
    const elapsed = performance.now() - started
    expect(lookup.count).toBe(2)
    expect((error.cause as Error).name).toBe('TimeoutError')
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5)
    expect(elapsed).toBeLessThan(timeoutMs + 100)
  })

  test('no retry is started when the jitter would run past the budget', async () => {
    const timeoutMs = 100
    const guard = guardWith({ timeoutMs })
    // Fails 2 ms before the deadline: the 10-50 ms jitter cannot fit.
    const lookup = counted(() => new Promise((_, reject) => setTimeout(() => reject(coded('ECONNREFUSED')), timeoutMs - 2)))
    const started = performance.now()
    await expectUnavailable(() => guard.call(lookup.lookup))
    expect(performance.now() - started).toBeLessThan(timeoutMs + 100)
    expect(lookup.count).toBe(1)
  })
})

describe('timeout and odd look-ups', () => {
  test('a look-up that ignores its signal is still cut at timeoutMs, and its signal is aborted', async () => {
    const timeoutMs = 80
    const guard = guardWith({ timeoutMs })
    const lookup = counted(() => new Promise<string>(() => {}))
    const started = performance.now()
    const error = await expectUnavailable(() => guard.call(lookup.lookup))
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5)
    expect(elapsed).toBeLessThan(timeoutMs + 100)
    expect(lookup.signals[0]?.aborted).toBe(true)
    expect((error.cause as Error).name).toBe('TimeoutError')
    expect(guard.stats().retries).toBe(0)
  })

  test('a look-up that answers after the timeout does not change the 503', async () => {
    const guard = guardWith({ timeoutMs: 30 })
    const late = deferred<string>()
    const call = guard.call(() => late.promise)
    await expectUnavailable(() => call)
    late.resolve('record')
    await Promise.resolve()
    await expectUnavailable(() => call)
  })

  test('timeouts count towards opening the breaker', async () => {
    const guard = guardWith({ timeoutMs: 20, failureThreshold: 2 })
    await expectUnavailable(() => guard.call(() => new Promise(() => {})))
    expect(guard.state).toBe('closed')
    await expectUnavailable(() => guard.call(() => new Promise(() => {})))
    expect(guard.state).toBe('open')
  })

  test.each<[string, () => never]>([
    [
      'an Error',
      () => {
        throw new Error('sync boom')
      },
    ],
    [
      'a TypeError',
      () => {
        throw new TypeError('not a function')
      },
    ],
    [
      'a string',
      () => {
        throw 'sync string'
      },
    ],
  ])('a look-up that throws %s synchronously is a 503 (not a throw out of call())', async (_name, lookup) => {
    const guard = guardWith({ failureThreshold: 1 })
    let promise: Promise<unknown> | undefined
    expect(() => {
      promise = guard.call(lookup)
    }).not.toThrow()
    const error = await catchAuthError(() => promise)
    expect({ code: error.code, status: error.status }).toEqual({ code: 'auth_unavailable', status: 503 })
    // ...and it is a failure of the key service like any other.
    expect(guard.state).toBe('open')
  })

  test('a look-up answering null passes null through and counts as a success', async () => {
    const guard = guardWith({ failureThreshold: 2 })
    await failTimes(guard, 1)
    await expect(guard.call(() => Promise.resolve(null))).resolves.toBeNull()
    await failTimes(guard, 1)
    expect(guard.state).toBe('closed')
  })
})
