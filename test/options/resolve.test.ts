import { describe, expect, test, vi } from 'vitest'
import { DEFAULT_CONTROL_PLANE_URL, resolveOptions } from '../../src/options/resolve.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import type { KeyLookup } from '../../src/types.js'

const noEnv: NodeJS.ProcessEnv = {}
const lookup: KeyLookup = async () => null

describe('resolveOptions: defaults', () => {
  test('with no options and no environment', () => {
    const resolved = resolveOptions(undefined, noEnv)
    expect(resolved).toMatchObject({
      controlPlaneUrl: 'https://api.portkey.ai',
      clientAuth: undefined,
      lookup: undefined,
      timeoutMs: 2_000,
    })
    expect(resolved.cache).toEqual({ max: 10_000, ttlMs: 60_000, staleMs: 600_000, negativeTtlMs: 10_000 })
    expect(resolved.rateLimits).toEqual({
      headers: true,
      maxCounters: 10_000,
      window: 'fixed',
      mode: 'enforce',
      nearLimitAt: 0.8,
      limits: null,
    })
    expect(DEFAULT_CONTROL_PLANE_URL).toBe('https://api.portkey.ai')
  })

  test('an empty object, an empty cache object and a null cache are the defaults too', () => {
    const defaults = resolveOptions({}, noEnv)
    expect(resolveOptions({ cache: {} }, noEnv)).toEqual(defaults)
    expect(resolveOptions({ cache: null } as unknown as VerifierOptions, noEnv)).toEqual(defaults)
  })

  test('cache fields default one by one', () => {
    expect(resolveOptions({ cache: { ttlMs: 5 } }, noEnv).cache).toEqual({
      max: 10_000,
      ttlMs: 5,
      staleMs: 600_000,
      negativeTtlMs: 10_000,
    })
  })

  test('the resolved cache settings are frozen', () => {
    expect(Object.isFrozen(resolveOptions({}, noEnv).cache)).toBe(true)
  })

  test('reads process.env when no env is given', () => {
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', 'http://127.0.0.1:9/from-process-env')
    try {
      expect(resolveOptions().controlPlaneUrl).toBe('http://127.0.0.1:9/from-process-env')
    } finally {
      vi.unstubAllEnvs()
    }
  })

  test('keeps a custom lookup as given', () => {
    expect(resolveOptions({ lookup }, noEnv).lookup).toBe(lookup)
  })

  test('accepts the smallest values', () => {
    const resolved = resolveOptions({ timeoutMs: 1, cache: { max: 2, ttlMs: 0, staleMs: 0, negativeTtlMs: 0 } }, noEnv)
    expect(resolved.timeoutMs).toBe(1)
    expect(resolved.cache).toEqual({ max: 2, ttlMs: 0, staleMs: 0, negativeTtlMs: 0 })
  })
})

describe('resolveOptions: environment', () => {
  const env = { PORTKEY_CONTROL_PLANE_URL: 'http://cp.internal:8080', PORTKEY_CLIENT_AUTH: 'Bearer env-secret' }

  test('falls back to PORTKEY_CONTROL_PLANE_URL and PORTKEY_CLIENT_AUTH', () => {
    const resolved = resolveOptions({}, env)
    expect(resolved.controlPlaneUrl).toBe('http://cp.internal:8080')
    expect(resolved.clientAuth).toBe('Bearer env-secret')
  })

  test('explicit options beat the environment', () => {
    const resolved = resolveOptions({ controlPlaneUrl: 'https://explicit.example', clientAuth: 'Bearer explicit' }, env)
    expect(resolved.controlPlaneUrl).toBe('https://explicit.example')
    expect(resolved.clientAuth).toBe('Bearer explicit')
  })

  test('an undefined option still falls back to the environment', () => {
    const resolved = resolveOptions({ controlPlaneUrl: undefined, clientAuth: undefined }, env)
    expect(resolved.controlPlaneUrl).toBe('http://cp.internal:8080')
    expect(resolved.clientAuth).toBe('Bearer env-secret')
  })

  test('null options count as unset, like undefined', () => {
    const resolved = resolveOptions(
      { controlPlaneUrl: null, clientAuth: null, timeoutMs: null, cache: { ttlMs: null } } as unknown as VerifierOptions,
      env,
    )
    expect(resolved.controlPlaneUrl).toBe('http://cp.internal:8080')
    expect(resolved.clientAuth).toBe('Bearer env-secret')
    expect(resolved.timeoutMs).toBe(2_000)
    expect(resolved.cache.ttlMs).toBe(60_000)
  })

  test('empty environment variables count as unset', () => {
    const resolved = resolveOptions({}, { PORTKEY_CONTROL_PLANE_URL: '', PORTKEY_CLIENT_AUTH: '' })
    expect(resolved.controlPlaneUrl).toBe(DEFAULT_CONTROL_PLANE_URL)
    expect(resolved.clientAuth).toBeUndefined()
  })

  test('the environment URL is validated like an explicit one', () => {
    expect(() => resolveOptions({}, { PORTKEY_CONTROL_PLANE_URL: 'ftp://cp.internal' })).toThrow(TypeError)
  })

  test('a multi-line PORTKEY_CLIENT_AUTH is refused without repeating it', () => {
    const secret = 'Bearer env-secret-9Qx'
    let thrown: unknown
    try {
      resolveOptions({}, { PORTKEY_CLIENT_AUTH: `${secret}\r\nX-Injected: 1` })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect(String((thrown as Error).message)).not.toContain('env-secret-9Qx')
  })
})

describe('resolveOptions: the control-plane URL', () => {
  test.each([
    ['https://api.portkey.ai', 'https://api.portkey.ai'],
    ['https://api.portkey.ai/', 'https://api.portkey.ai'],
    ['http://127.0.0.1:8787//', 'http://127.0.0.1:8787'],
    ['https://gw.example/portkey/', 'https://gw.example/portkey'],
    ['HTTPS://API.PORTKEY.AI', 'https://api.portkey.ai'],
  ])('%s becomes %s', (given, expected) => {
    expect(resolveOptions({ controlPlaneUrl: given }, noEnv).controlPlaneUrl).toBe(expected)
  })

  test.each<[string, unknown]>([
    ['an empty string', ''],
    ['a bare host', 'api.portkey.ai'],
    ['a relative path', '/v2'],
    ['ftp', 'ftp://api.portkey.ai'],
    ['file', 'file:///etc/passwd'],
    ['javascript', 'javascript:alert(1)'],
    ['a number', 443],
    ['an object', { href: 'https://api.portkey.ai' }],
  ])('refuses %s with a TypeError', (_name, value) => {
    expect(() => resolveOptions({ controlPlaneUrl: value } as VerifierOptions, noEnv)).toThrow(/controlPlaneUrl/)
    expect(() => resolveOptions({ controlPlaneUrl: value } as VerifierOptions, noEnv)).toThrow(TypeError)
  })
})

describe('resolveOptions: TypeErrors for bad values', () => {
  test.each<[string, unknown, RegExp]>([
    ['options null', null, /options must be an object/],
    ['options a string', 'https://api.portkey.ai', /options must be an object/],
    ['cache a number', { cache: 5 }, /cache must be an object/],
    ['lookup a string', { lookup: 'lookup' }, /lookup must be a function/],
    ['lookup an object', { lookup: {} }, /lookup must be a function/],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs must be an integer from 1 to/],
    ['timeoutMs past what a Node timer holds', { timeoutMs: 2 ** 31 }, /timeoutMs must be an integer from 1 to 2147483647/],
    ['timeoutMs negative', { timeoutMs: -5 }, /timeoutMs/],
    ['timeoutMs fractional', { timeoutMs: 1.5 }, /timeoutMs/],
    ['timeoutMs NaN', { timeoutMs: Number.NaN }, /timeoutMs/],
    ['timeoutMs Infinity', { timeoutMs: Number.POSITIVE_INFINITY }, /timeoutMs/],
    ['timeoutMs a string', { timeoutMs: '2000' }, /timeoutMs/],
    ['cache.max 0', { cache: { max: 0 } }, /cache\.max must be an integer from 2/],
    ['cache.max 1', { cache: { max: 1 } }, /cache\.max must be an integer from 2/],
    ['cache.max fractional', { cache: { max: 10.5 } }, /cache\.max/],
    [
      'cache.max past ten million (lru-cache reserves it up front)',
      { cache: { max: 10_000_001 } },
      /cache\.max must be an integer from 2 to 10000000/,
    ],
    ['cache.ttlMs negative', { cache: { ttlMs: -1 } }, /cache\.ttlMs must be an integer from 0/],
    ['cache.ttlMs a string', { cache: { ttlMs: '60s' } }, /cache\.ttlMs/],
    ['cache.staleMs negative', { cache: { staleMs: -1 } }, /cache\.staleMs/],
    ['cache.staleMs NaN', { cache: { staleMs: Number.NaN } }, /cache\.staleMs/],
    ['cache.negativeTtlMs negative', { cache: { negativeTtlMs: -1 } }, /cache\.negativeTtlMs/],
    // Issue 22: every numeric option has an upper bound too.
    ['cache.ttlMs past a day', { cache: { ttlMs: 86_400_001 } }, /cache\.ttlMs must be an integer from 0 to 86400000/],
    ['cache.staleMs past a day', { cache: { staleMs: 86_400_001 } }, /cache\.staleMs must be an integer from 0 to 86400000/],
    ['cache.negativeTtlMs past a day', { cache: { negativeTtlMs: 1e12 } }, /cache\.negativeTtlMs must be an integer from 0 to/],
    ['maxPendingLookups past 100,000', { maxPendingLookups: 100_001 }, /maxPendingLookups must be an integer from 1 to 100000/],
    ['maxPendingLookups a huge number', { maxPendingLookups: Number.MAX_SAFE_INTEGER }, /maxPendingLookups/],
    [
      'breaker.cooldownMs past an hour',
      { breaker: { cooldownMs: 3_600_001 } },
      /breaker\.cooldownMs must be an integer from 0 to 3600000/,
    ],
    ['breaker.failureThreshold past a million', { breaker: { failureThreshold: 1_000_001 } }, /breaker\.failureThreshold/],
    // Issue 27.
    [
      'rateLimits.window rolling',
      { rateLimits: { window: 'rolling' } },
      /rateLimits\.window must be 'fixed' or 'sliding', got "rolling"/,
    ],
    [
      'rateLimits.mode misspelt',
      { rateLimits: { mode: 'shadows' } },
      /rateLimits\.mode must be 'enforce' or 'shadow', got "shadows"/,
    ],
    ['rateLimits.mode true', { rateLimits: { mode: true } }, /rateLimits\.mode must be 'enforce' or 'shadow'/],
    [
      'rateLimits.nearLimitAt a percentage',
      { rateLimits: { nearLimitAt: 80 } },
      /rateLimits\.nearLimitAt must be a number from 0 to 1/,
    ],
    ['rateLimits.nearLimitAt NaN', { rateLimits: { nearLimitAt: Number.NaN } }, /rateLimits\.nearLimitAt/],
    ['rateLimits.nearLimitAt a string', { rateLimits: { nearLimitAt: '0.8' } }, /rateLimits\.nearLimitAt/],
    ['rateLimits.limits an object', { rateLimits: { limits: { name: 'a' } } }, /rateLimits\.limits must be a list/],
    ['rateLimits.limits with null', { rateLimits: { limits: [null] } }, /each limit must be an object/],
    [
      "a limit named like a record's",
      { rateLimits: { limits: [{ name: 'rpm', type: 'requests', unit: 'rpm', value: 5 }] } },
      /name must be/,
    ],
    [
      "a limit named like a virtual key's",
      { rateLimits: { limits: [{ name: 'vk-tokens-rpd', type: 'requests', unit: 'rpm', value: 5 }] } },
      /name must be/,
    ],
    [
      'a limit name that breaks the header',
      { rateLimits: { limits: [{ name: 'a";q=1', type: 'requests', unit: 'rpm', value: 5 }] } },
      /name must be/,
    ],
    [
      'a limit name upper-case',
      { rateLimits: { limits: [{ name: 'Default', type: 'requests', unit: 'rpm', value: 5 }] } },
      /name must be/,
    ],
    [
      'a limit name of 33 characters',
      { rateLimits: { limits: [{ name: 'a'.repeat(33), type: 'requests', unit: 'rpm', value: 5 }] } },
      /name must be/,
    ],
    [
      'two limits of one name',
      {
        rateLimits: {
          limits: [
            { name: 'a', type: 'requests', unit: 'rpm', value: 5 },
            { name: 'a', type: 'requests', unit: 'rpm', value: 5, per: 'workspace' },
          ],
        },
      },
      /not twice/,
    ],
    ['a limit of type cost', { rateLimits: { limits: [{ name: 'a', type: 'cost', unit: 'rpm', value: 5 }] } }, /type must be/],
    ['a limit per second', { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rps', value: 5 }] } }, /unit must be/],
    [
      'a limit of 1.5',
      { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: 1.5 }] } },
      /value must be a whole number/,
    ],
    ['a limit of -1', { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: -1 }] } }, /value must be/],
    [
      'a limit per organisation',
      { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: 5, per: 'organisation' }] } },
      /per must be/,
    ],
    [
      'a limit on a route without its slash',
      { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: 5, route: 'POST v1/images' }] } },
      /route "POST v1\/images" must look like/,
    ],
    [
      'a limit on a route of a number',
      { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: 5, route: 5 }] } },
      /route must look like/,
    ],
    [
      'a limit with a misspelt field',
      { rateLimits: { limits: [{ name: 'a', type: 'requests', unit: 'rpm', value: 5, rout: '/v1' }] } },
      /rout/,
    ],
  ])('%s', (_name, options, message) => {
    expect(() => resolveOptions(options as VerifierOptions, noEnv)).toThrow(TypeError)
    expect(() => resolveOptions(options as VerifierOptions, noEnv)).toThrow(message)
  })

  test.each<[string, unknown]>([
    ['a CRLF header injection', 'Bearer cp-secret-7Zk\r\nX-Injected: 1'],
    ['a lone LF', 'Bearer cp-secret-7Zk\nmore'],
    ['a lone CR', 'Bearer cp-secret-7Zk\rmore'],
    ['a NUL', 'Bearer cp-secret-7Zk\u0000more'],
    ['another control character', 'Bearer \u0001cp-secret-7Zk'],
    ['a character fetch cannot send', 'Bearer cp-secret-7Zk-ключ'],
  ])('clientAuth with %s is a TypeError whose message never holds the value', (_name, clientAuth) => {
    let thrown: unknown
    try {
      resolveOptions({ clientAuth } as VerifierOptions, noEnv)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    const message = (thrown as TypeError).message
    expect(message).toMatch(/clientAuth/)
    expect(message).not.toContain('cp-secret-7Zk')
    expect(message).not.toContain('Bearer')
  })

  test.each<[string, unknown]>([
    ['a number', 12345],
    ['an object', { token: 'cp-secret-7Zk' }],
    ['an array', ['Bearer cp-secret-7Zk']],
  ])('clientAuth that is %s is a TypeError whose message never holds the value', (_name, clientAuth) => {
    let thrown: unknown
    try {
      resolveOptions({ clientAuth } as VerifierOptions, noEnv)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as TypeError).message).not.toContain('cp-secret-7Zk')
    expect((thrown as TypeError).message).not.toContain('12345')
  })

  test('a bad option beside a clientAuth never repeats the clientAuth', () => {
    expect(() => resolveOptions({ clientAuth: 'Bearer cp-secret-7Zk', timeoutMs: -1 }, noEnv)).toThrow(
      /^(?!.*cp-secret-7Zk).*timeoutMs/,
    )
  })
})
