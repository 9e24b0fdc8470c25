import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import type { Decision, RateLimit } from '../../src/types.js'
import { type RawResponse, expectRejection, send, sendKey, useGuardedApp, useStub, WHOAMI } from './servers.js'

/**
 * Issue 16, for every adapter: a key's rate limits hold (429, `Retry-After`, `RateLimit-Policy` and `RateLimit`),
 * over real HTTP with the control-plane stub. The clock is faked (`Date` only: sockets and timers stay real),
 * so a window passes without waiting a minute. Called from `describeAdapterContract()`.
 */
export function describeRateLimitContract(framework: string): void {
  // 10 s into a minute: every per-minute window below has 50 s left.
  const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
  const KEY = 'pk-limited-0123456789abcdef'
  const UNLIMITED = 'pk-unlimited-0123456789abcdef'

  async function setup(limits: RateLimit[], options: MiddlewareOptions = {}, keys: Record<string, string> = {}) {
    const record = keyRecord({ id: 'key_limited', rate_limits: limits })
    const stub = await useStub({
      keys: {
        [KEY]: record,
        [UNLIMITED]: keyRecord({ id: 'key_unlimited' }),
        ...Object.fromEntries(Object.entries(keys).map(([key, id]) => [key, { ...record, id }])),
      },
      virtualKeys: {
        'vk-limited': virtualKeyRecord({ slug: 'vk-limited', rate_limits: [{ type: 'requests', unit: 'rpm', value: 2 }] }),
      },
    })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url, ...options })
    return { stub, app }
  }

  const statuses = (responses: RawResponse[]) => responses.map((res) => res.status)
  async function sendMany(count: number, send: () => Promise<RawResponse>): Promise<RawResponse[]> {
    const responses: RawResponse[] = []
    for (let i = 0; i < count; i++) responses.push(await send())
    return responses
  }

  describe(`${framework}: rate limits (issue 16)`, () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(T0)
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    test('a key limited to 5 rpm: 5 × 200 counting down, then 429 with Retry-After and both headers; the next window admits 5 again', async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 5 }])
      const admitted = await sendMany(5, () => sendKey(app, KEY))
      expect(statuses(admitted)).toEqual([200, 200, 200, 200, 200])
      expect(admitted.map((res) => res.headers.ratelimit)).toEqual([4, 3, 2, 1, 0].map((r) => `"rpm";r=${r};t=50`))
      for (const res of admitted) expect(res.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60')
      expect(admitted.at(-1)?.json()).toMatchObject({ quota: { remaining: 0, resetSeconds: 50, counting: 'local' } })
      expect(app.quotas.map((quota) => quota?.remaining)).toEqual([4, 3, 2, 1, 0])

      for (const res of await sendMany(3, () => sendKey(app, KEY))) {
        const body = expectRejection(res, 429, 'rate_limit_exceeded', [KEY])
        expect(body.message).toBe('Rate limit exceeded: 5 requests per minute for this API key. Try again in 50 s.')
        expect(res.headers['retry-after']).toBe('50')
        expect(res.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60')
        expect(res.headers.ratelimit).toBe('"rpm";r=0;t=50')
      }
      expect(app.seen).toHaveLength(5)

      vi.setSystemTime(T0 + 50_000) // the next minute
      expect(statuses(await sendMany(6, () => sendKey(app, KEY)))).toEqual([200, 200, 200, 200, 200, 429])
      expect(app.seen).toHaveLength(10)
    })

    test("a limited key's requests share one frozen context, which holds no quota; each request's quota is beside it", async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 5 }])
      const responses = await sendMany(3, () => sendKey(app, KEY))
      expect(statuses(responses)).toEqual([200, 200, 200])
      const [first, second, third] = app.seen
      expect(second).toBe(first)
      expect(third).toBe(first)
      expect(Object.isFrozen(first)).toBe(true)
      expect('quota' in first!).toBe(false)
      for (const res of responses) expect(res.json<{ portkey: object }>().portkey).not.toHaveProperty('quota')
      // One quota per request, what is left counting down; the handler's quotaOf() reads the one of its request.
      expect(app.quotas.map((quota) => quota?.remaining)).toEqual([4, 3, 2])
      expect(new Set(app.quotas).size).toBe(3)
      expect(responses.map((res) => res.json<{ quota: { remaining: number } }>().quota.remaining)).toEqual([4, 3, 2])
      // A key with no limit: the same shared context, no quota.
      const free = await sendMany(2, () => sendKey(app, UNLIMITED))
      expect(statuses(free)).toEqual([200, 200])
      expect(free.map((res) => res.json<{ quota: unknown }>().quota)).toEqual([null, null])
      expect(app.quotas.slice(3)).toEqual([null, null])
      expect(app.seen[4]).toBe(app.seen[3])
      expect(free[0]?.headers.ratelimit).toBeUndefined()
    })

    test("a virtual key's own limit applies on top of the key's, and a refused request consumes nothing", async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 5 }])
      const withVirtualKey = () => send(app.url + WHOAMI, { 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': 'vk-limited' })
      const [first, second, third] = await sendMany(3, withVirtualKey)
      expect([first?.status, second?.status]).toEqual([200, 200])
      expect(second?.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60, "vk-rpm";q=2;w=60')
      expect(second?.headers.ratelimit).toBe('"rpm";r=3;t=50, "vk-rpm";r=0;t=50')
      const body = expectRejection(third!, 429, 'rate_limit_exceeded', [KEY])
      expect(body.message).toContain('2 requests per minute for this virtual key')
      // The refused request took nothing from the key: 3 of its 5 are left.
      expect(statuses(await sendMany(4, () => sendKey(app, KEY)))).toEqual([200, 200, 200, 429])
    })

    test("the headers' exact values on the wire: the key's two limits and the virtual key's, on each 200 and on the 429", async () => {
      const { app } = await setup([
        { type: 'requests', unit: 'rpm', value: 5 },
        { type: 'requests', unit: 'rpd', value: 1_000 },
      ])
      const withVirtualKey = () => send(app.url + WHOAMI, { 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': 'vk-limited' })
      const headers = (res: RawResponse) => ({ policy: res.headers['ratelimit-policy'], state: res.headers.ratelimit })
      const policy = '"rpm";q=5;w=60, "rpd";q=1000;w=86400, "vk-rpm";q=2;w=60'
      const [first, second, third] = await sendMany(3, withVirtualKey)
      expect(statuses([first!, second!])).toEqual([200, 200])
      // 12:00:10 UTC: 50 s left in the minute, 43,190 in the day. A header sent twice would read "a, a".
      expect(headers(first!)).toEqual({ policy, state: '"rpm";r=4;t=50, "rpd";r=999;t=43190, "vk-rpm";r=1;t=50' })
      expect(headers(second!)).toEqual({ policy, state: '"rpm";r=3;t=50, "rpd";r=998;t=43190, "vk-rpm";r=0;t=50' })
      expectRejection(third!, 429, 'rate_limit_exceeded', [KEY])
      expect(headers(third!)).toEqual({ policy, state: '"rpm";r=3;t=50, "rpd";r=998;t=43190, "vk-rpm";r=0;t=50' })
      // The key alone: its two limits.
      expect(headers(await sendKey(app, KEY))).toEqual({
        policy: '"rpm";q=5;w=60, "rpd";q=1000;w=86400',
        state: '"rpm";r=2;t=50, "rpd";r=997;t=43190',
      })
    })

    test('two secrets of one key id (a rotated key) share one counter', async () => {
      const ROTATED = 'pk-rotated-0123456789abcdef'
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 3 }], {}, { [ROTATED]: 'key_limited' })
      const order = [KEY, ROTATED, KEY, ROTATED, KEY]
      const responses = await sendMany(order.length, () => sendKey(app, order.shift()!))
      expect(statuses(responses)).toEqual([200, 200, 200, 429, 429])
    })

    test('tokens: reported usage past the limit gives 429 until the window resets', async () => {
      const { app } = await setup([{ type: 'tokens', unit: 'rpm', value: 100 }])
      expect((await sendKey(app, KEY)).status).toBe(200)
      await app.quotas[0]!.reportTokens(60)
      const second = await sendKey(app, KEY)
      expect(second.status).toBe(200)
      expect(second.headers.ratelimit).toBe('"tokens-rpm";r=40;t=50')
      // The request that crosses the limit was served; the next ones are not.
      await app.quotas[1]!.reportTokens(50)
      for (const res of await sendMany(2, () => sendKey(app, KEY))) {
        expectRejection(res, 429, 'rate_limit_exceeded', [KEY])
        expect(res.headers['retry-after']).toBe('50')
        expect(res.headers.ratelimit).toBe('"tokens-rpm";r=0;t=50')
      }
      vi.setSystemTime(T0 + 50_000)
      expect((await sendKey(app, KEY)).status).toBe(200)
    })

    test('tokens: 40 concurrent requests on 1,000 tokens/min, each using 500 (issue 22, item 7): requests in flight reserve an estimate', async () => {
      const FRESH = 'pk-limited-fresh-0123456789abcdef'
      const { app } = await setup([{ type: 'tokens', unit: 'rpm', value: 1_000 }], {}, { [FRESH]: 'key_fresh' })
      const burst = async (key: string) => {
        const before = app.quotas.length
        const responses = await Promise.all(Array.from({ length: 40 }, () => sendKey(app, key)))
        // Every request of the burst is admitted or refused before any reports: all of them are in flight.
        const admitted = app.quotas.slice(before)
        await Promise.all(admitted.map((quota) => quota!.reportTokens(500)))
        expect(responses.filter((res) => res.status === 200)).toHaveLength(admitted.length)
        for (const res of responses) if (res.status !== 200) expectRejection(res, 429, 'rate_limit_exceeded', [key])
        return admitted.length
      }
      // The review's case: one request has reported 500 (which teaches the estimate), then 40 at once. Half the
      // minute is left, one request's estimate: one admitted, 1,000 tokens in all (before: 40, 20,500 tokens).
      expect((await sendKey(app, KEY)).status).toBe(200)
      await app.quotas[0]!.reportTokens(500)
      expect(await burst(KEY)).toBe(1)
      // The next minute, the estimate learned: two admitted, the limit exactly.
      vi.setSystemTime(T0 + 50_000)
      expect(await burst(KEY)).toBe(2)
      // A key's very first burst, nothing reported yet: each request is estimated at an eighth of the limit.
      expect(await burst(FRESH)).toBe(8)
    })

    test('rateLimits: false admits past the limit, with the limits on the context and no quota or headers', async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 2 }], { rateLimits: false })
      const responses = await sendMany(4, () => sendKey(app, KEY))
      expect(statuses(responses)).toEqual([200, 200, 200, 200])
      expect(responses[3]?.headers.ratelimit).toBeUndefined()
      expect(responses[3]?.json()).toMatchObject({
        portkey: { rateLimits: [{ type: 'requests', unit: 'rpm', value: 2 }] },
        quota: null,
      })
      expect(app.quotas).toEqual([null, null, null, null])
    })

    test("a caller's standing, read and reset (issue 27, point 6): the key's, its virtual key's and its workspace's counters", async () => {
      const stub = await useStub({
        keys: { [KEY]: keyRecord({ id: 'key_limited', rate_limits: [{ type: 'requests', unit: 'rpm', value: 3 }] }) },
        virtualKeys: {
          'vk-limited': virtualKeyRecord({ slug: 'vk-limited', rate_limits: [{ type: 'requests', unit: 'rpm', value: 2 }] }),
        },
      })
      const verifier = createVerifier({
        controlPlaneUrl: stub.url,
        logger: false,
        rateLimits: { limits: [{ name: 'workspace', per: 'workspace', type: 'tokens', unit: 'rpd', value: 1_000 }] },
      })
      const app = await useGuardedApp(framework, verifier)
      const key = { organisationId: 'org_test', keyId: 'key_limited' }
      const virtualKey = { organisationId: 'org_test', workspaceId: 'ws_test', virtualKey: 'vk-limited' }
      const workspace = { organisationId: 'org_test', workspaceId: 'ws_test' }
      expect(await verifier.rateLimitStanding(key)).toEqual([])
      const withVirtualKey = () => send(app.url + WHOAMI, { 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': 'vk-limited' })
      expect(statuses(await sendMany(2, withVirtualKey))).toEqual([200, 200])
      await app.quotas[1]!.reportTokens(70)
      expect(statuses(await sendMany(2, () => sendKey(app, KEY)))).toEqual([200, 429])
      expect(await verifier.rateLimitStanding(key)).toEqual([
        { name: 'rpm', type: 'requests', unit: 'rpm', used: 3, resetSeconds: 50 },
      ])
      expect(await verifier.rateLimitStanding(virtualKey)).toEqual([
        { name: 'vk-rpm', type: 'requests', unit: 'rpm', used: 2, resetSeconds: 50 },
      ])
      expect(await verifier.rateLimitStanding(workspace)).toEqual([
        { name: 'workspace', type: 'tokens', unit: 'rpd', used: 70, resetSeconds: 43_190 },
      ])
      // Another organisation's key of that id, or a JWT issuer's workspace of that name: other holders, nothing counted.
      expect(await verifier.rateLimitStanding({ organisationId: 'org_other', keyId: 'key_limited' })).toEqual([])
      expect(await verifier.rateLimitStanding({ ...workspace, issuer: 'https://issuer.example' })).toEqual([])
      // The key reset: its window starts afresh (the virtual key's and the workspace's do not).
      await verifier.resetRateLimits(key)
      const again = await sendKey(app, KEY)
      expect(again.status).toBe(200)
      expect(again.headers.ratelimit).toBe('"rpm";r=2;t=50, "workspace";r=930;t=43190')
      expectRejection(await withVirtualKey(), 429, 'rate_limit_exceeded', [KEY])
      await verifier.resetRateLimits(virtualKey)
      expect((await withVirtualKey()).headers.ratelimit).toBe('"rpm";r=1;t=50, "vk-rpm";r=1;t=50, "workspace";r=930;t=43190')
      expect(await verifier.rateLimitStanding(workspace)).toEqual([expect.objectContaining({ name: 'workspace', used: 70 })])
      for (const holder of [{}, { keyId: 'key_limited' }, { organisationId: 'org_test' }, { ...key, issuer: 'x' }, null])
        await expect(verifier.rateLimitStanding(holder as never)).rejects.toThrow(TypeError)
    })

    test("rateLimits: { window: 'sliding' } (issue 27, point 2): no second allowance at the window's edge; the window before fades out", async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 5 }], { rateLimits: { window: 'sliding' } })
      const statusesAt = async (at: number, count: number) => {
        vi.setSystemTime(at)
        return sendMany(count, () => sendKey(app, KEY))
      }
      const MINUTE = Date.UTC(2026, 10, 30, 12, 1, 0)
      // 5 at 12:00:59, then 5 more at 12:01:00: fixed windows admit all 10 within a second; sliding, none more.
      const before = await statusesAt(MINUTE - 1_000, 6)
      expect(statuses(before)).toEqual([200, 200, 200, 200, 200, 429])
      // The window itself is full: room comes once its weight has faded by one in the next, 12 s into it.
      expect(before[5]?.headers['retry-after']).toBe('13')
      const edge = await statusesAt(MINUTE, 3)
      expect(statuses(edge)).toEqual([429, 429, 429])
      expectRejection(edge[0]!, 429, 'rate_limit_exceeded', [KEY])
      expect(edge[0]?.headers['retry-after']).toBe('12')
      expect(edge[0]?.headers.ratelimit).toBe('"rpm";r=0;t=60')
      // 12 s in, the window before weighs ceil(5 × 48/60) = 4: one request; 36 s in, ceil(5 × 24/60) = 2: two more.
      const first = await statusesAt(MINUTE + 12_000, 2)
      expect(statuses(first)).toEqual([200, 429])
      expect(first[0]?.headers.ratelimit).toBe('"rpm";r=0;t=48')
      expect(statuses(await statusesAt(MINUTE + 36_000, 3))).toEqual([200, 200, 429])
      // Two windows on, nothing weighs: the whole limit again.
      expect(statuses(await statusesAt(MINUTE + 120_000, 6))).toEqual([200, 200, 200, 200, 200, 429])
    })

    test("rateLimits: { mode: 'shadow' } (issue 27): past the limit still 200, reaching the handler, with the headers, quota and decision of the refusal; nothing counted for it", async () => {
      const heard: Decision[] = []
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 2 }], {
        rateLimits: { mode: 'shadow' },
        onDecision: (decision) => heard.push(decision),
      })
      const responses = await sendMany(4, () => sendKey(app, KEY))
      expect(statuses(responses)).toEqual([200, 200, 200, 200])
      expect(app.seen).toHaveLength(4)
      expect(responses.map((res) => res.headers.ratelimit)).toEqual([
        '"rpm";r=1;t=50',
        '"rpm";r=0;t=50',
        '"rpm";r=0;t=50',
        '"rpm";r=0;t=50',
      ])
      for (const res of responses) expect(res.headers['retry-after']).toBeUndefined()
      expect(responses.map((res) => res.json<{ quota: { overLimit: string[] } }>().quota.overLimit)).toEqual([
        [],
        [],
        ['rpm'],
        ['rpm'],
      ])
      expect(app.quotas.map((quota) => quota?.overLimit)).toEqual([[], [], ['rpm'], ['rpm']])
      expect(heard.map((d) => [d.admitted, d.status, d.overLimit])).toEqual([
        [true, 200, []],
        [true, 200, []],
        [true, 200, ['rpm']],
        [true, 200, ['rpm']],
      ])
      // The virtual key's own limit too, and the key's checked before its look-up: admitted, named.
      const withVirtualKey = () => send(app.url + WHOAMI, { 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': 'vk-limited' })
      const [viaVk] = await sendMany(1, withVirtualKey)
      expect(viaVk?.status).toBe(200)
      expect(viaVk?.json<{ quota: { overLimit: string[] } }>().quota.overLimit).toEqual(['rpm'])
      // A shadowed request was counted nowhere, and a quota of one gives nothing back: the next minute admits 2.
      vi.setSystemTime(T0 + 50_000)
      const next = await sendMany(3, () => sendKey(app, KEY))
      expect(next.map((res) => res.json<{ quota: { overLimit: string[] } }>().quota.overLimit)).toEqual([[], [], ['rpm']])
    })

    test('near_limit (issue 27): the request that reaches 80 % of a limit says so, once per window, in its quota and its decision', async () => {
      const heard: Decision[] = []
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 5 }], {
        onDecision: (decision) => heard.push(decision),
      })
      const near = (responses: RawResponse[]) =>
        responses.map((res) => res.json<{ quota: { nearLimit: string[] } }>().quota.nearLimit)
      const first = await sendMany(5, () => sendKey(app, KEY))
      expect(near(first)).toEqual([[], [], [], ['rpm'], []])
      expect(heard.map((d) => d.nearLimit)).toEqual([[], [], [], ['rpm'], []])
      expect(heard.map((d) => d.rateLimits?.map((limit) => [limit.name, limit.remaining, limit.usage]))).toEqual([
        [['rpm', 4, 0.2]],
        [['rpm', 3, 0.4]],
        [['rpm', 2, 0.6]],
        [['rpm', 1, 0.8]],
        [['rpm', 0, 1]],
      ])
      // The 429 that follows names the limit, and warns no more.
      expectRejection(await sendKey(app, KEY), 429, 'rate_limit_exceeded', [KEY])
      expect(heard.at(-1)).toMatchObject({ admitted: false, overLimit: ['rpm'], nearLimit: [], rateLimits: null })
      vi.setSystemTime(T0 + 50_000)
      expect(near(await sendMany(5, () => sendKey(app, KEY)))).toEqual([[], [], [], ['rpm'], []])
    })

    test('rateLimits: { headers: false } sends no RateLimit headers, admitted or refused; the 429 keeps Retry-After', async () => {
      const { app } = await setup([{ type: 'requests', unit: 'rpm', value: 1 }], { rateLimits: { headers: false } })
      const [admitted, refused] = await sendMany(2, () => sendKey(app, KEY))
      expect(admitted?.status).toBe(200)
      expectRejection(refused!, 429, 'rate_limit_exceeded', [KEY])
      for (const res of [admitted!, refused!]) {
        expect(res.headers.ratelimit).toBeUndefined()
        expect(res.headers['ratelimit-policy']).toBeUndefined()
      }
      expect(refused?.headers['retry-after']).toBe('50')
      expect(admitted?.json()).toMatchObject({ quota: { remaining: 0, headers: null } })
    })
  })
}
