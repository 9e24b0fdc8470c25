import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { createTestIssuer, type TestIssuer, keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { CheckStatus, Decision, KeyRecord, Quota } from '../../src/types.js'
import type { AppRateLimit } from '../../src/options/verifier-options.js'
import { RequestQuota } from '../../src/rate-limit/quota.js'
import { RateLimiter } from '../../src/rate-limit/limiter.js'
import type { CommandLink } from '../../src/rate-limit/command-link.js'
import { FleetCounter } from '../../src/rate-limit/fleet-counter.js'
import { compileAppLimits } from '../../src/rate-limit/app-limits.js'
import { authWith, catchAuthError } from '../support/core-helpers.js'
import { useStub } from '../support/servers.js'

// Attacks on issue 27 (the app's own limits, shadow mode, near_limit, the fleet clock) at the verifier's level,
// with a look-up function in place of the control plane. Date is faked, 10 s into a minute.
const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
const KEY = 'pk-attack-0123456789abcdef'
const KEY2 = 'pk-attack2-0123456789abcdef'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

function verifierWith(
  limits: AppRateLimit[],
  extra: Record<string, unknown> = {},
  records: Record<string, Partial<KeyRecord>> = {},
) {
  const lookup = async (key: string) =>
    key === KEY ? keyRecord({ id: 'key_a', ...records[KEY] }) : key === KEY2 ? keyRecord({ id: 'key_b', ...records[KEY2] }) : null
  const { rateLimits, ...rest } = extra as { rateLimits?: object }
  return createVerifier({ lookup, logger: false, rateLimits: { ...rateLimits, limits }, ...rest })
}

async function once(verifier: ReturnType<typeof createVerifier>, route?: { method: string; path: string }, key = KEY) {
  const status: CheckStatus = { cache: 'none' }
  try {
    const auth = await verifier.verify({ 'x-portkey-api-key': key }, route, status)
    return { ok: true as const, auth, quota: (status.quota ?? null) as Quota | null, status }
  } catch (error) {
    return { ok: false as const, error: error as { status: number }, status }
  }
}

describe('near_limit', () => {
  // FINDING (low), kept as documented behaviour: near is judged when a request is admitted, so a tokens limit that one
  // report takes from under nearLimitAt to past the limit says no near_limit; the refusal that follows names it in
  // overLimit (docs/rate-limits.md, early warning).
  test('a tokens limit crossed by one report (60% -> 120%): no near_limit, the next request refused naming it', async () => {
    const decisions: Decision[] = []
    const verifier = verifierWith([{ name: 'tok', type: 'tokens', unit: 'rpm', value: 1000 }], {
      onDecision: (d: Decision) => decisions.push(d),
    })
    const first = await once(verifier)
    await first.quota!.reportTokens(600)
    const second = await once(verifier)
    expect(second.quota!.nearLimit).toEqual([])
    await second.quota!.reportTokens(600)
    const third = await once(verifier)
    expect(third.ok).toBe(false)
    expect(decisions.flatMap((d) => d.nearLimit)).toEqual([])
    expect(decisions.at(-1)?.overLimit).toEqual(['tok'])
  })

  test(// FINDING (fixed) (low): near_limit is spent on a request checked without a status (verify(headers) with no onDecision
  // or telemetry), where nobody can see it: limiter.ts #take computes #near (setting window.near) before
  // `if (status === undefined) return auth`. The caller's later requests in the window never report it.
  'a request checked without a status does not use up the near_limit event of its window', async () => {
    const verifier = verifierWith([{ name: 'req', type: 'requests', unit: 'rpm', value: 5 }])
    for (let i = 0; i < 3; i++) await once(verifier)
    await verifier.verify({ 'x-portkey-api-key': KEY }) // the 4th: 80%, no status
    const fifth = await once(verifier)
    expect(fifth.quota!.nearLimit).toEqual(['req'])
  })

  test('requests limit: said once per window, not again after a refund brings it back under', async () => {
    const verifier = verifierWith([{ name: 'req', type: 'requests', unit: 'rpm', value: 5 }])
    const near: string[][] = []
    for (let i = 0; i < 4; i++) {
      const r = await once(verifier)
      near.push([...r.quota!.nearLimit])
      if (i === 3) RequestQuota.refund(r.quota, r.auth)
    }
    near.push([...(await once(verifier)).quota!.nearLimit])
    expect(near).toEqual([[], [], [], ['req'], []])
    vi.setSystemTime(T0 + 60_000)
    const again: string[][] = []
    for (let i = 0; i < 4; i++) again.push([...(await once(verifier)).quota!.nearLimit])
    expect(again).toEqual([[], [], [], ['req']])
  })

  test('a caller-made status.quota of the wrong shape never crashes the decision or the metric', async () => {
    const decisions: Decision[] = []
    const lookup = async () => keyRecord({ id: 'key_a' })
    const verifier = createVerifier({ lookup, logger: false, onDecision: (d) => decisions.push(d) })
    for (const quota of [
      { nearLimit: null, overLimit: 5 },
      {
        get nearLimit() {
          throw new Error('x')
        },
      },
      7,
      'q',
    ]) {
      const status = { cache: 'none', quota } as unknown as CheckStatus
      await verifier.verify({ 'x-portkey-api-key': KEY }, undefined, status)
    }
    expect(decisions.every((d) => d.admitted && d.rateLimits === null)).toBe(true)
  })
})

describe('refunds and shadow mode', () => {
  test('a shadow-refused quota gives nothing back; enforce-mode refund once only, never below zero', async () => {
    const shadow = verifierWith([{ name: 'one', type: 'requests', unit: 'rpm', value: 1 }], { rateLimits: { mode: 'shadow' } })
    const a = await once(shadow)
    const b = await once(shadow)
    expect(b.quota!.overLimit).toEqual(['one'])
    RequestQuota.refund(b.quota, b.auth)
    RequestQuota.refund(b.quota, b.auth)
    expect((await once(shadow)).quota!.overLimit).toEqual(['one'])
    RequestQuota.refund(a.quota, a.auth)
    RequestQuota.refund(a.quota, a.auth)
    const c = await once(shadow)
    expect(c.quota!.overLimit).toEqual([])
    expect((await once(shadow)).quota!.overLimit).toEqual(['one'])
  })

  test(// FINDING (fixed) (low): shadow mode is said to "count and report exactly as enforcing does", but check() (before a
  // virtual-key look-up) does nothing in shadow mode: a caller over its limit naming a virtual key that does not
  // resolve gets 403 with overLimit [] (and no shadow refusal counted), where enforcing says 429 over ['c'].
  'shadow mode reports the same over-limit refusal as enforce mode for a request naming an unknown virtual key', async () => {
    const decide = async (mode: 'enforce' | 'shadow') => {
      const decisions: Decision[] = []
      const verifier = createVerifier({
        lookup: async () => keyRecord({ id: 'key_a' }),
        lookupVirtualKey: async () => null,
        logger: false,
        onDecision: (d) => decisions.push(d),
        rateLimits: { mode, limits: [{ name: 'c', type: 'requests', unit: 'rpm', value: 1 }] },
      })
      await verifier.verify({ 'x-portkey-api-key': KEY })
      await verifier.verify({ 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': 'nope' }).catch(() => {})
      const last = decisions.at(-1)!
      return { overLimit: last.overLimit, shadowed: verifier.stats().rateLimits!.shadowed + verifier.stats().rateLimits!.refused }
    }
    const enforce = await decide('enforce')
    expect(enforce).toEqual({ overLimit: ['c'], shadowed: 1 })
    expect(await decide('shadow')).toEqual(enforce)
  })

  test("a quota refunded beside another key's context, or after its window, gives nothing back", async () => {
    const verifier = verifierWith([{ name: 'two', type: 'requests', unit: 'rpm', value: 2 }])
    const mine = await once(verifier)
    const other = await once(verifier, undefined, KEY2)
    RequestQuota.refund(mine.quota, other.auth)
    await once(verifier)
    expect((await once(verifier)).ok).toBe(false)
    vi.setSystemTime(T0 + 60_000)
    const fresh = await once(verifier)
    RequestQuota.refund(mine.quota, mine.auth) // counted in the previous window
    await once(verifier)
    expect((await once(verifier)).ok).toBe(false)
    expect(fresh.ok).toBe(true)
  })

  test('enforce mode never admits past an app limit, per workspace, whatever the mix of keys', async () => {
    const verifier = verifierWith([{ name: 'ws', per: 'workspace', type: 'requests', unit: 'rpm', value: 3 }])
    const seen: boolean[] = []
    for (let i = 0; i < 6; i++) seen.push((await once(verifier, undefined, i % 2 ? KEY : KEY2)).ok)
    expect(seen).toEqual([true, true, true, false, false, false])
  })
})

describe('route-bound limits, careless apps', () => {
  test(// FINDING (fixed) (low): 'HEAD /x' is accepted, but a HEAD is matched as a GET (onRoute), so the limit never applies.
  'a limit on HEAD /v1/models (value 0) refuses HEAD /v1/models, or the option is refused', async () => {
    let verifier: ReturnType<typeof createVerifier>
    try {
      verifier = verifierWith([{ name: 'head', route: 'HEAD /v1/models', type: 'requests', unit: 'rpm', value: 0 }])
    } catch {
      return // refused at construction: fine
    }
    const r = await once(verifier, { method: 'HEAD', path: '/v1/models' })
    expect(r.ok).toBe(false)
  })

  test(// FINDING (fixed) (low): a route written with a query string or a '*' mid-path is accepted and can never match a path.
  "routes that can never match ('GET /v1/models?x=1', 'POST /v1/*/generate') are refused at construction", () => {
    expect(() => compileAppLimits([{ name: 'q', route: 'GET /v1/models?x=1', type: 'requests', unit: 'rpm', value: 0 }])).toThrow(
      TypeError,
    )
    expect(() =>
      compileAppLimits([{ name: 'm', route: 'POST /v1/*/generate', type: 'requests', unit: 'rpm', value: 0 }]),
    ).toThrow(TypeError)
  })

  test(// FINDING (fixed) (low, careless app): a custom integration that passes req.url (query included) as route.path dodges
  // every route limit by adding '?x'. RequestRoute says "without query string", but nothing refuses one: a '?' or
  // '#' in route.path could be refused 400 like the other paths a route cannot be matched against.
  "verify() given a route path with a query ('/v1/images?x=1') does not dodge the route's limit", async () => {
    const verifier = verifierWith([{ name: 'img', route: 'POST /v1/images', type: 'requests', unit: 'rpm', value: 0 }])
    expect((await once(verifier, { method: 'POST', path: '/v1/images' })).ok).toBe(false)
    expect((await once(verifier, { method: 'POST', path: '/v1/images?x=1' })).ok).toBe(false)
    expect((await once(verifier, { method: 'POST', path: '/v1/images#x' })).ok).toBe(false)
  })

  test('a limit bound to a route is not counted by verify() without a route (documented), and an ambiguous path is 400', async () => {
    const verifier = verifierWith([{ name: 'img', route: 'POST /v1/images', type: 'requests', unit: 'rpm', value: 0 }])
    expect((await once(verifier)).ok).toBe(true)
    expect((await once(verifier, { method: 'POST', path: '/v1/images' })).ok).toBe(false)
    const amb = await once(verifier, { method: 'POST', path: '/v1/x/../images' })
    expect(amb.ok).toBe(false)
    expect(amb.error?.status).toBe(400)
    // A path that is not a path at all.
    expect((await once(verifier, { method: 'POST', path: '' })).error?.status).toBe(400)
    expect((await once(verifier, { method: 'POST', path: 'v1/images' })).error?.status).toBe(400)
  })
})

describe('options', () => {
  const base = { name: 'x', type: 'requests', unit: 'rpm', value: 1 }
  test.each([
    { what: 'NaN value', limit: { ...base, value: Number.NaN } },
    { what: 'Infinity', limit: { ...base, value: Number.POSITIVE_INFINITY } },
    { what: 'fraction', limit: { ...base, value: 1.5 } },
    { what: 'string value', limit: { ...base, value: '1' } },
    { what: 'inherited unit', limit: { ...base, unit: 'toString' } },
    { what: 'inherited per', limit: { ...base, per: 'constructor' } },
    {
      what: '__proto__ own key (JSON)',
      limit: JSON.parse('{"name":"x","type":"requests","unit":"rpm","value":1,"__proto__":{"route":"POST /x"}}'),
    },
    { what: 'record name', limit: { ...base, name: 'tokens-rpd' } },
    { what: 'header injection', limit: { ...base, name: 'a";q=999999' } },
    { what: 'uppercase', limit: { ...base, name: 'Default' } },
    { what: 'lowercase method', limit: { ...base, route: 'post /x' } },
    { what: 'route with a space', limit: { ...base, route: 'POST /x y' } },
    { what: 'route without slash', limit: { ...base, route: 'POST x' } },
  ])('$what is refused with a TypeError', ({ limit }) => {
    expect(() => compileAppLimits([limit])).toThrow(TypeError)
  })

  test('nearLimitAt NaN, -0.1, 1.1, "0.5" are refused; a frozen list and -0 value are fine', () => {
    for (const nearLimitAt of [Number.NaN, -0.1, 1.1, '0.5']) {
      expect(() => createVerifier({ lookup: async () => null, logger: false, rateLimits: { nearLimitAt } as never })).toThrow(
        TypeError,
      )
    }
    expect(compileAppLimits(Object.freeze([Object.freeze({ ...base, value: -0 })]))).not.toBeNull()
  })

  test('an inherited route (a limit made with Object.create) is read — but the limit is still a valid one', () => {
    const limit = Object.assign(Object.create({ route: 'POST /x' }), base)
    const groups = compileAppLimits([limit])!
    expect(groups[0]!.route).not.toBeNull()
  })
})

describe('sharing counters', () => {
  let issuer: TestIssuer
  beforeAll(async () => {
    issuer = await createTestIssuer('attack-key')
  })

  // FINDING (medium, doc/behaviour gap), resolved in the docs: a key record names its workspace by id, a token by slug
  // (per issuer), and nothing maps one to the other, so API keys and each issuer's JWTs count a workspace apart
  // (docs/rate-limits.md and AppRateLimit.per say so): an allowance per credential kind and issuer.
  test('per workspace: an API key and a JWT of one workspace count apart (id against slug), as documented', async () => {
    const stub = await useStub({ jwks: issuer.jwks })
    const verifier = createVerifier({
      lookup: async () => keyRecord({ id: 'key_a', organisation_id: 'org_1', workspace_id: 'ws_1' }),
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
      logger: false,
      rateLimits: { limits: [{ name: 'ws', per: 'workspace', type: 'requests', unit: 'rpm', value: 2 }] },
    })
    const token = await issuer.sign({
      portkey_oid: 'org_1',
      portkey_workspace: 'ws_1',
      sub: 'u1',
      scope: 'portkey.completions.write',
    })
    const ok: boolean[] = []
    for (const headers of [{ 'x-portkey-api-key': KEY }, { 'x-portkey-api-key': KEY }, { 'x-portkey-api-key': token }]) {
      ok.push(
        await verifier.verify(headers).then(
          () => true,
          (e: Error) =>
            e.message.startsWith('Rate limit')
              ? false
              : (() => {
                  throw e
                })(),
        ),
      )
    }
    expect(ok).toEqual([true, true, true])
  })

  test('per virtual key: the same slug in two workspaces, and in two organisations, count apart', async () => {
    const lookup = async (key: string) =>
      key === KEY ? keyRecord({ id: 'key_a', workspace_id: 'ws_1' }) : keyRecord({ id: 'key_b', workspace_id: 'ws_2' })
    const verifier = createVerifier({
      lookup,
      // Each workspace's own virtual key of that slug (the look-up is per caller's credential).
      lookupVirtualKey: async (slug, { credential }) =>
        virtualKeyRecord({ slug, workspace_id: credential === KEY ? 'ws_1' : 'ws_2' }),
      logger: false,
      rateLimits: { limits: [{ name: 'vk', per: 'virtual_key', type: 'requests', unit: 'rpm', value: 1 }] },
    })
    const go = (key: string) =>
      verifier.verify({ 'x-portkey-api-key': key, 'x-portkey-virtual-key': 'shared' }).then(
        () => true,
        () => false,
      )
    expect([await go(KEY), await go(KEY2), await go(KEY), await go(KEY2)]).toEqual([true, true, false, false])
  })

  test("a caller refused by its own app limit is refused before its virtual key's look-up (costs the control plane nothing)", async () => {
    let lookups = 0
    const verifier = createVerifier({
      lookup: async () => keyRecord({ id: 'key_a' }),
      lookupVirtualKey: async (slug) => {
        lookups++
        return virtualKeyRecord({ slug })
      },
      logger: false,
      rateLimits: { limits: [{ name: 'c', type: 'requests', unit: 'rpm', value: 1 }] },
    })
    const go = (vk: string) =>
      verifier.verify({ 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': vk }).then(
        () => 200,
        (e) => e.status,
      )
    expect(await go('a')).toBe(200)
    expect(await go('b')).toBe(429)
    expect(await go('c')).toBe(429)
    expect(lookups).toBe(1)
  })
})

describe('fleet clock', () => {
  /** A Redis that answers TIME with `time()` (ms) and fails every script: the limiter then counts alone. */
  function fakeRedis(time: () => number) {
    const link = {
      connected: true,
      epoch: 1,
      command(args: string[]): Promise<unknown> {
        if (args[0] === 'TIME') {
          const ms = time()
          return Promise.resolve([String(Math.floor(ms / 1000)), String((ms % 1000) * 1000)])
        }
        return Promise.reject(new Error('no scripts here'))
      },
    }
    return link satisfies CommandLink
  }

  test(// FINDING (fixed) (medium, availability): once Redis's TIME was an hour ahead (a Redis VM's clock, a failover to a skewed
  // replica), the correction back never rolls the windows opened in the future: a 2 rpm caller stays refused for
  // the whole hour, whereas a window of its clock should follow the corrected one within a minute.
  'after Redis TIME was an hour fast and is corrected, a 2 rpm caller gets its allowance again within a minute or two', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    vi.setSystemTime(T0)
    let skew = 3_600_000
    const link = fakeRedis(() => Date.now() + skew)
    const fleet = new FleetCounter(link, 'attack:')
    const admit = twoPerMinute(fleet)
    vi.advanceTimersByTime(1_000)
    await vi.waitFor(() => expect(fleet.clock.offset).toBeGreaterThan(3_500_000))
    expect([await admit(), await admit(), await admit()]).toEqual([true, true, false])
    // Redis's clock is put right (a failover: another epoch, read at once).
    skew = 0
    link.epoch = 2
    vi.advanceTimersByTime(1_000)
    await vi.waitFor(() => expect(Math.abs(fleet.clock.offset)).toBeLessThan(1_000))
    // Two minutes later on the right clock: a new window, surely.
    vi.setSystemTime(T0 + 120_000)
    const after = await admit()
    fleet.clock.close()
    expect(after).toBe(true)
  })

  test(// FINDING (fixed) (medium, same cause): an instance whose own clock is an hour fast counts its first second of requests
  // (before the first TIME reading) in a window an hour ahead; the correction never rolls it back, so on this
  // instance those callers stay refused for an hour while the rest of the fleet admits them.
  'an instance an hour fast at start: after the first TIME reading its callers get a fresh window within two minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    vi.setSystemTime(T0 + 3_600_000) // this instance's clock: an hour fast
    const fleet = new FleetCounter(
      fakeRedis(() => T0 + (Date.now() - (T0 + 3_600_000))),
      'attack:',
    )
    const admit = twoPerMinute(fleet)
    // Requests in the first second, before any reading.
    expect([await admit(), await admit(), await admit()]).toEqual([true, true, false])
    vi.advanceTimersByTime(1_000)
    await vi.waitFor(() => expect(fleet.clock.offset).toBeLessThan(-3_500_000))
    vi.advanceTimersByTime(120_000)
    const after = await admit()
    fleet.clock.close()
    expect(after).toBe(true)
  })

  test(// FINDING (medium, same cause; FIXED in fleet-lease.ts alone()): Redis failed while its clock read 10 minutes ahead (offlineUntil = then + 1 s,
  // on that clock); a failover to a primary with the right clock moves the offset back, and this instance then
  // counts alone, never asking Redis, for the 10 minutes: each instance admits up to the whole limit.
  'after a failover moves the fleet clock back 10 minutes, the instance asks Redis again within seconds', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    vi.setSystemTime(T0)
    let skew = 600_000
    let failing = true
    let evals = 0
    const link = {
      connected: true,
      epoch: 1,
      command(args: string[]): Promise<unknown> {
        if (args[0] === 'TIME') {
          const ms = Date.now() + skew
          return Promise.resolve([String(Math.floor(ms / 1000)), String((ms % 1000) * 1000)])
        }
        evals++
        // A lease: grant 1 of what is left, the fleet's count 1.
        return failing ? Promise.reject(new Error('failover')) : Promise.resolve([1, 1])
      },
    }
    const fleet = new FleetCounter(link, 'attack:')
    const limiter = new RateLimiter({
      max: 100,
      headers: true,
      shadow: false,
      nearLimitAt: 0.8,
      sliding: false,
      app: compileAppLimits([{ name: 'big', type: 'requests', unit: 'rph', value: 1000 }]),
      fleet,
      logger: { warn() {}, info() {} },
    })
    const auth = authWith([])
    const admit = () => Promise.resolve(limiter.admit(auth, Date.now(), undefined)).catch(() => null)
    vi.advanceTimersByTime(1_000)
    await vi.waitFor(() => expect(fleet.clock.offset).toBeGreaterThan(500_000))
    await admit() // the lease fails: counted alone for a second, on Redis's (skewed) clock
    failing = false
    skew = 0
    link.epoch = 2
    vi.advanceTimersByTime(1_000)
    await vi.waitFor(() => expect(Math.abs(fleet.clock.offset)).toBeLessThan(1_000))
    vi.advanceTimersByTime(5_000)
    const before = evals
    for (let i = 0; i < 3; i++) await admit()
    fleet.clock.close()
    expect(evals).toBeGreaterThan(before)
  })

  test(// FINDING (fixed) (medium): a TIME reply in the regex's range but absurd (year ~5138) is taken as is; every window then
  // opens millennia ahead and, when the reading is corrected, is never rolled again.
  'an absurd TIME reply (99999999999 s) is not adopted as the fleet clock', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    vi.setSystemTime(T0)
    const fleet = new FleetCounter(
      fakeRedis(() => 99_999_999_999_000),
      'attack:',
    )
    vi.advanceTimersByTime(1_000)
    await Promise.resolve()
    await new Promise((r) => setImmediate(r))
    fleet.clock.close()
    expect(Math.abs(fleet.clock.offset)).toBeLessThan(86_400_000)
  })
})

// Keep catchAuthError referenced for future use.
void catchAuthError

/** A limiter on `fleet` with the app's limit of 2 requests a minute, and a request of one caller against it. */
function twoPerMinute(fleet: FleetCounter): () => Promise<boolean> {
  const limiter = new RateLimiter({
    ...{ max: 100, headers: true, shadow: false, nearLimitAt: 0.8, sliding: false },
    app: compileAppLimits([{ name: 'two', type: 'requests', unit: 'rpm', value: 2 }]),
    fleet,
    logger: { warn() {}, info() {} },
  })
  const auth = authWith([])
  return async () => {
    try {
      await limiter.admit(auth, Date.now(), undefined)
      return true
    } catch {
      return false
    }
  }
}

describe("the route memo (which of the app's limits a path counts against, kept per path)", () => {
  const ONE_POST = [{ name: 'post-x', route: 'POST /v1/x', type: 'requests', unit: 'rpm', value: 1 }] as AppRateLimit[]

  test('one path, two methods: each answered for its own, whatever was seen on the path before', async () => {
    const verifier = verifierWith(ONE_POST)
    const seen: boolean[] = []
    for (const method of ['GET', 'POST', 'GET', 'POST', 'GET', 'HEAD'])
      seen.push((await once(verifier, { method, path: '/v1/x' })).ok)
    expect(seen).toEqual([true, true, true, false, true, true])
  })

  test('an ambiguous path is refused every time, a plain one after it still counted; 300 made-up paths change nothing', async () => {
    const verifier = verifierWith(ONE_POST)
    for (let i = 0; i < 2; i++) expect((await once(verifier, { method: 'POST', path: '/v1/./x' })).error?.status).toBe(400)
    for (let i = 0; i < 300; i++) expect((await once(verifier, { method: 'POST', path: `/v1/y${i}` })).ok).toBe(true)
    expect((await once(verifier, { method: 'POST', path: '/v1/x' })).ok).toBe(true)
    for (let i = 0; i < 300; i++) await once(verifier, { method: 'POST', path: `/v1/z${i}` })
    expect((await once(verifier, { method: 'POST', path: '/V1//x/' })).ok).toBe(false)
    expect((await once(verifier, { method: 'POST', path: `/v1/${'x'.repeat(300)}` })).ok).toBe(true)
  })
})
