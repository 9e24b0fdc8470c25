import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { AppRateLimit } from '../../src/options/verifier-options.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { KeyRecord, RateLimit } from '../../src/types.js'
import { expectRejection, type RawResponse, send, useGuardedApp, useStub, WHOAMI } from './servers.js'

/**
 * Issue 27, point 1, for every adapter: limits the app declares (`rateLimits.limits`) beside the records', over
 * real HTTP with the control-plane stub. The clock is faked (`Date` only), 10 s into a minute.
 */
export function describeAppLimitsContract(framework: string): void {
  const T0 = Date.UTC(2026, 10, 30, 12, 0, 10)
  const A = 'pk-app-a-0123456789abcdef'
  const B = 'pk-app-b-0123456789abcdef'
  const OTHER_WORKSPACE = 'pk-app-w-0123456789abcdef'
  const OTHER_ORG = 'pk-app-o-0123456789abcdef'

  async function setup(limits: AppRateLimit[], options: MiddlewareOptions = {}, recordLimits: RateLimit[] = []) {
    const record = (fields: Partial<KeyRecord>) => keyRecord({ rate_limits: recordLimits, ...fields })
    const stub = await useStub({
      keys: {
        [A]: record({ id: 'key_a' }),
        [B]: record({ id: 'key_b' }),
        [OTHER_WORKSPACE]: record({ id: 'key_w', workspace_id: 'ws_other' }),
        // Another organisation, with the same workspace id and key id as A: nothing of A's may be shared.
        [OTHER_ORG]: record({ id: 'key_a', organisation_id: 'org_other' }),
      },
      virtualKeys: { 'vk-app': virtualKeyRecord({ slug: 'vk-app' }) },
    })
    return useGuardedApp(framework, {
      controlPlaneUrl: stub.url,
      ...options,
      rateLimits: { ...(options.rateLimits as object), limits },
    })
  }
  type App = Awaited<ReturnType<typeof setup>>
  const as = (app: App, key: string, path = WHOAMI, method = 'GET', extra: Record<string, string> = {}) =>
    send(app.url + path, { 'x-portkey-api-key': key, ...extra }, { method })
  async function statuses(count: number, request: () => Promise<RawResponse>): Promise<number[]> {
    const seen: number[] = []
    for (let i = 0; i < count; i++) seen.push((await request()).status)
    return seen
  }

  describe(`${framework}: the app's own rate limits (issue 27)`, () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(T0)
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    test('a default for every caller, on keys whose records have none: 3 × 200, then 429 naming it, with its own headers', async () => {
      const app = await setup([{ name: 'default', type: 'requests', unit: 'rpm', value: 3 }])
      const responses: RawResponse[] = []
      for (let i = 0; i < 4; i++) responses.push(await as(app, A))
      expect(responses.map((res) => res.status)).toEqual([200, 200, 200, 429])
      expect(responses.map((res) => res.headers.ratelimit)).toEqual([2, 1, 0, 0].map((r) => `"default";r=${r};t=50`))
      for (const res of responses) expect(res.headers['ratelimit-policy']).toBe('"default";q=3;w=60')
      const body = expectRejection(responses[3]!, 429, 'rate_limit_exceeded', [A])
      expect(body.message).toBe('Rate limit exceeded: 3 requests per minute for this API key ("default"). Try again in 50 s.')
      expect(app.quotas[0]?.limits).toEqual([
        expect.objectContaining({ name: 'default', scope: 'api_key', limit: 3, remaining: 2, windowSeconds: 60 }),
      ])
      // Each caller its own: B, and A's namesake in another organisation, start whole.
      expect(await statuses(4, () => as(app, B))).toEqual([200, 200, 200, 429])
      expect(await statuses(4, () => as(app, OTHER_ORG))).toEqual([200, 200, 200, 429])
      vi.setSystemTime(T0 + 50_000)
      expect(await statuses(4, () => as(app, A))).toEqual([200, 200, 200, 429])
    })

    test("beside the record's limit the smaller holds, both counted and both in the headers", async () => {
      const tighter = await setup([{ name: 'default', type: 'requests', unit: 'rpm', value: 3 }], {}, [
        { type: 'requests', unit: 'rpm', value: 5 },
      ])
      const responses: RawResponse[] = []
      for (let i = 0; i < 4; i++) responses.push(await as(tighter, A))
      expect(responses.map((res) => res.status)).toEqual([200, 200, 200, 429])
      expect(responses[0]?.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60, "default";q=3;w=60')
      expect(responses[2]?.headers.ratelimit).toBe('"rpm";r=2;t=50, "default";r=0;t=50')
      const looser = await setup([{ name: 'default', type: 'requests', unit: 'rpm', value: 3 }], {}, [
        { type: 'requests', unit: 'rpm', value: 2 },
      ])
      expect(await statuses(3, () => as(looser, A))).toEqual([200, 200, 429])
      // The record's refusal counted nothing against the app's limit either: one left there after the window.
      vi.setSystemTime(T0 + 50_000)
      expect(await statuses(3, () => as(looser, A))).toEqual([200, 200, 429])
    })

    test('a route limit counts that route only, however the path is written; an ambiguous path is refused before any count', async () => {
      const app = await setup([{ name: 'images', route: `POST ${WHOAMI}`, type: 'requests', unit: 'rpm', value: 3 }])
      // Another method on the path, and other paths, are not limited.
      expect(await statuses(5, () => as(app, A))).toEqual([200, 200, 200, 200, 200])
      expect((await as(app, A)).headers['ratelimit-policy']).toBeUndefined()
      const posted = await as(app, A, WHOAMI, 'POST')
      expect(posted.status).toBe(200)
      expect(posted.headers.ratelimit).toBe('"images";r=2;t=50')
      // The same route written otherwise: each counted against the one allowance (2 left), whatever the router answers.
      const spellings = ['/WHOAMI', '//whoami', '/whoami/', '/mounted/whoami', '/whoami?x=1']
      const answers: RawResponse[] = []
      for (const path of spellings) answers.push(await as(app, A, path, 'POST'))
      expect(answers.map((res) => res.status === 429)).toEqual([false, false, true, true, true])
      for (const res of answers.slice(2)) expectRejection(res, 429, 'rate_limit_exceeded', [A])
      // A path a router could read as the route, another way: 400, counted nowhere.
      for (const path of ['/who%61mi', '/x/..%2Fwhoami', '/who%2fami']) {
        expectRejection(await as(app, A, path, 'POST'), 400, 'invalid_request', [A])
      }
      expect((await as(app, A)).status).toBe(200)
    })

    test("per workspace: every caller of the workspace shares it, another workspace's and another organisation's do not", async () => {
      const app = await setup([{ name: 'workspace', per: 'workspace', type: 'requests', unit: 'rpm', value: 3 }])
      expect(await statuses(2, () => as(app, A))).toEqual([200, 200])
      const third = await as(app, B)
      expect(third.status).toBe(200)
      expect(third.headers.ratelimit).toBe('"workspace";r=0;t=50')
      expect(app.quotas[2]?.limits[0]).toMatchObject({ name: 'workspace', scope: 'workspace', remaining: 0 })
      const body = expectRejection(await as(app, A), 429, 'rate_limit_exceeded', [A])
      expect(body.message).toContain('3 requests per minute for this workspace ("workspace")')
      expect((await as(app, B)).status).toBe(429)
      expect(await statuses(4, () => as(app, OTHER_WORKSPACE))).toEqual([200, 200, 200, 429])
      expect(await statuses(4, () => as(app, OTHER_ORG))).toEqual([200, 200, 200, 429])
    })

    test('per virtual key: the requests naming it share it; those naming none are not counted against it', async () => {
      const app = await setup([{ name: 'vk', per: 'virtual_key', type: 'requests', unit: 'rpm', value: 2 }])
      const withVk = (key: string) => as(app, key, WHOAMI, 'GET', { 'x-portkey-virtual-key': 'vk-app' })
      expect((await withVk(A)).headers.ratelimit).toBe('"vk";r=1;t=50')
      expect((await withVk(B)).status).toBe(200)
      const body = expectRejection(await withVk(A), 429, 'rate_limit_exceeded', [A])
      expect(body.message).toContain('2 requests per minute for this virtual key ("vk")')
      expect(await statuses(3, () => as(app, A))).toEqual([200, 200, 200])
    })

    test('a tokens limit of a route: reported through the quota of a request on it, it refuses that route only', async () => {
      const app = await setup([{ name: 'chat-tokens', route: `POST ${WHOAMI}`, type: 'tokens', unit: 'rpm', value: 100 }])
      expect((await as(app, A, WHOAMI, 'POST')).status).toBe(200)
      await expect(app.quotas[0]!.reportTokens(150)).resolves.toBe(true)
      const refused = await as(app, A, WHOAMI, 'POST')
      expectRejection(refused, 429, 'rate_limit_exceeded', [A])
      expect(refused.headers.ratelimit).toBe('"chat-tokens";r=0;t=50')
      expect((await as(app, A)).status).toBe(200)
    })

    test("shadow mode covers the app's limits too", async () => {
      const app = await setup([{ name: 'default', type: 'requests', unit: 'rpm', value: 1 }], { rateLimits: { mode: 'shadow' } })
      const responses: RawResponse[] = []
      for (let i = 0; i < 3; i++) responses.push(await as(app, A))
      expect(responses.map((res) => res.status)).toEqual([200, 200, 200])
      expect(app.quotas.map((quota) => quota?.overLimit)).toEqual([[], ['default'], ['default']])
    })

    test('a limit shadowed on its own, beside an enforced one: admitted over it, still counted by the enforced one', async () => {
      const app = await setup([
        { name: 'trial', type: 'requests', unit: 'rpm', value: 1, mode: 'shadow' },
        { name: 'default', type: 'requests', unit: 'rpm', value: 3 },
      ])
      const responses: RawResponse[] = []
      for (let i = 0; i < 4; i++) responses.push(await as(app, A))
      expect(responses.map((res) => res.status)).toEqual([200, 200, 200, 429])
      expect(app.quotas.map((quota) => quota?.overLimit)).toEqual([[], ['trial'], ['trial']])
      // The shadowed limit counts only what it would have admitted; the enforced one every request served.
      expect(responses.map((res) => res.headers.ratelimit)).toEqual([
        '"trial";r=0;t=50, "default";r=2;t=50',
        '"trial";r=0;t=50, "default";r=1;t=50',
        '"trial";r=0;t=50, "default";r=0;t=50',
        '"trial";r=0;t=50, "default";r=0;t=50',
      ])
      expectRejection(responses[3]!, 429, 'rate_limit_exceeded', [A])
      expect(responses[3]!.json<{ message: string }>().message).toContain('3 requests per minute for this API key ("default")')
      // Another caller: its own allowance, shadowed limit included.
      expect(app.quotas.length).toBe(3)
      expect((await as(app, B)).status).toBe(200)
      expect(app.quotas.at(-1)?.overLimit).toEqual([])
    })

    test("shadow mode with one limit enforced on its own: that one refuses, the records' limits only report", async () => {
      const app = await setup(
        [{ name: 'hard', type: 'requests', unit: 'rpm', value: 2, mode: 'enforce' }],
        { rateLimits: { mode: 'shadow' } },
        [{ type: 'requests', unit: 'rpm', value: 1 }],
      )
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) statuses.push((await as(app, A)).status)
      expect(statuses).toEqual([200, 200, 429])
      expect(app.quotas.map((quota) => quota?.overLimit)).toEqual([[], ['rpm']])
      expect(app.quotas.map((quota) => quota?.limits.map((limit) => limit.remaining))).toEqual([
        [0, 1],
        [0, 0],
      ])
    })
  })
}
