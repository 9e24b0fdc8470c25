import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { AppRateLimit } from '../../src/options/verifier-options.js'
import { RequestQuota } from '../../src/rate-limit/quota.js'
import { compileAppLimits } from '../../src/rate-limit/app-limits.js'
import type { CheckStatus, Decision, Quota } from '../../src/types.js'

// Issue 27, point 3, per limit: an app's limit with a mode of its own (`rateLimits.limits[].mode`), at the verifier's
// level with a look-up function in place of the control plane. Date is faked, 10 s into a minute.
const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
const KEY = 'pk-shadow-0123456789abcdef'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

function verifierWith(limits: AppRateLimit[], extra: Record<string, unknown> = {}) {
  const { rateLimits, ...rest } = extra as { rateLimits?: object }
  return createVerifier({
    lookup: async (key) => (key === KEY ? keyRecord({ id: 'key_a' }) : null),
    lookupVirtualKey: async (slug) => virtualKeyRecord({ slug }),
    logger: false,
    rateLimits: { ...rateLimits, limits },
    ...rest,
  })
}

async function once(verifier: ReturnType<typeof createVerifier>, headers: Record<string, string> = {}) {
  const status: CheckStatus = { cache: 'none' }
  try {
    const auth = await verifier.verify({ 'x-portkey-api-key': KEY, ...headers }, undefined, status)
    return { ok: true as const, auth, quota: (status.quota ?? null) as Quota | null, status }
  } catch {
    return { ok: false as const, auth: undefined, quota: null, status }
  }
}

const TRIAL: AppRateLimit = { name: 'trial', type: 'requests', unit: 'rpm', value: 1, mode: 'shadow' }

describe('a shadowed limit beside enforced ones', () => {
  test('a refund of a request admitted over the shadowed limit gives back to the enforced one only', async () => {
    const verifier = verifierWith([TRIAL, { name: 'default', type: 'requests', unit: 'rpm', value: 3 }])
    const first = await once(verifier)
    const second = await once(verifier)
    expect(second.quota!.overLimit).toEqual(['trial'])
    RequestQuota.refund(second.quota, second.auth)
    RequestQuota.refund(second.quota, second.auth)
    const rest = [await once(verifier), await once(verifier), await once(verifier)]
    expect(rest.map((r) => r.ok)).toEqual([true, true, false])
    // The shadowed limit got nothing back: still over it.
    expect(rest[0]!.quota!.overLimit).toEqual(['trial'])
    expect(first.quota!.overLimit).toEqual([])
  })

  test('stats and decisions: admitted over it is shadowed; refused by an enforced one is refused, not shadowed', async () => {
    const decisions: Decision[] = []
    const verifier = verifierWith([TRIAL, { name: 'default', type: 'requests', unit: 'rpm', value: 2 }], {
      onDecision: (decision: Decision) => decisions.push(decision),
    })
    const seen = [await once(verifier), await once(verifier), await once(verifier)]
    expect(seen.map((r) => r.ok)).toEqual([true, true, false])
    expect(verifier.stats().rateLimits).toMatchObject({ refused: 1, shadowed: 1 })
    expect(decisions.map((d) => [d.admitted, d.overLimit])).toEqual([
      [true, []],
      [true, ['trial']],
      [false, ['trial', 'default']],
    ])
  })

  test('over a shadowed caller limit, refused by an enforced virtual-key limit (not checked before the look-up)', async () => {
    const verifier = verifierWith([TRIAL, { name: 'vk', per: 'virtual_key', type: 'requests', unit: 'rpm', value: 1 }])
    const vk = { 'x-portkey-virtual-key': 'vk-one' }
    expect((await once(verifier, vk)).ok).toBe(true)
    // Cached now: check() notes `trial` (shadowed) before the virtual key is known; the admission then refuses.
    const refused = await once(verifier, vk)
    expect(refused.ok).toBe(false)
    expect(refused.status.overLimit).toEqual(['trial', 'vk'])
    expect(verifier.stats().rateLimits).toMatchObject({ refused: 1, shadowed: 0 })
    // Without the virtual key: over `trial` alone, admitted and shadowed.
    const admitted = await once(verifier)
    expect([admitted.ok, admitted.quota!.overLimit]).toEqual([true, ['trial']])
    expect(verifier.stats().rateLimits).toMatchObject({ refused: 1, shadowed: 1 })
  })

  test('a shadowed tokens limit: a request over it still reserves and is counted in an enforced tokens limit', async () => {
    const verifier = verifierWith([
      { name: 'tok-trial', type: 'tokens', unit: 'rpm', value: 100, mode: 'shadow' },
      { name: 'tok', type: 'tokens', unit: 'rpm', value: 300 },
    ])
    const first = await once(verifier)
    await first.quota!.reportTokens(150)
    const second = await once(verifier)
    expect(second.quota!.overLimit).toEqual(['tok-trial'])
    await second.quota!.reportTokens(150)
    const third = await once(verifier)
    expect(third.ok).toBe(false)
    expect(third.status.overLimit).toEqual(['tok-trial', 'tok'])
  })

  test('near_limit is said of the limits that counted the request, not of the shadowed ones it was over', async () => {
    const verifier = verifierWith(
      [
        TRIAL,
        { name: 'tok-trial', type: 'tokens', unit: 'rpm', value: 100, mode: 'shadow' },
        { name: 'default', type: 'requests', unit: 'rpm', value: 5 },
      ],
      { rateLimits: { nearLimitAt: 0.5 } },
    )
    const first = await once(verifier)
    await first.quota!.reportTokens(60)
    const seen = [first, await once(verifier), await once(verifier)]
    // The second is over `trial`: as if refused, `tok-trial` (60 %) does not hear of it; `default` counted it (2/5).
    expect(seen.map((r) => r.quota!.nearLimit)).toEqual([['trial'], [], ['default']])
    expect(seen[2]!.quota!.limits.map((l) => [l.name, l.remaining])).toEqual([
      ['trial', 0],
      ['tok-trial', 40],
      ['default', 2],
    ])
  })

  test("a limit's mode is checked: 'enforce' or 'shadow'", () => {
    for (const mode of ['Shadow', 'off', true, null])
      expect(() => compileAppLimits([{ ...TRIAL, mode: mode as never }])).toThrow(/mode must be 'enforce' or 'shadow'/)
    expect(() => compileAppLimits([{ ...TRIAL, mode: 'enforce' }])).not.toThrow()
  })
})
