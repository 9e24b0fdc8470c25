import { describe, expect, test } from 'vitest'
import { parseRateLimits } from '../../src/rate-limit/parse.js'

// The records' and claims' `rate_limits` as the context carries them (each caller's own tests go through
// recordOutcome, claimsToAuth and virtualKeyOutcome).
describe('parseRateLimits', () => {
  test.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['an object', { type: 'requests', unit: 'rpm', value: 1 }],
    ['a string', 'rpm'],
  ])('%s is an empty list, frozen', (_name, value) => {
    const limits = parseRateLimits(value)
    expect(limits).toEqual([])
    expect(Object.isFrozen(limits)).toBe(true)
  })

  test('keeps the well-formed entries only, with their three fields, each frozen', () => {
    const limits = parseRateLimits([
      { type: 'requests', unit: 'rpm', value: 100, extra: 'dropped' },
      { type: 'tokens', unit: 'rpd', value: '5000' },
      { type: 'tokens', value: 10 },
      null,
      'rpm:100',
      // Kept: which limits are enforced is the limiter's to say (a negative value, an unknown unit).
      { type: 'requests', unit: 'rps', value: -1 },
    ])
    expect(limits).toStrictEqual([
      { type: 'requests', unit: 'rpm', value: 100 },
      { type: 'requests', unit: 'rps', value: -1 },
    ])
    expect(Object.isFrozen(limits)).toBe(true)
    for (const limit of limits) expect(Object.isFrozen(limit)).toBe(true)
  })
})
