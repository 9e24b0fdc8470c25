import type { Request } from 'express'
import type { FastifyRequest } from 'fastify'
import type { Context } from 'hono'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { SERVER_FEATURES } from '../../src/adapters/server-features.js'
import { createDispatch, createPermissionCheck, type Framework } from '../../src/adapters/dispatch.js'
import { quotaOf as expressQuotaOf } from '../../src/express/index.js'
import { quotaOf as fastifyQuotaOf } from '../../src/fastify/index.js'
import { type PortkeyEnv, quotaOf as honoQuotaOf } from '../../src/hono/index.js'
import { type PortkeyState, quotaOf as koaQuotaOf } from '../../src/koa/index.js'
import type { CheckStatus, PortkeyAuth, Quota } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import type { Verifier } from '../../src/verifier/verifier.js'
import type { AuthResult, WebAuth } from '../../src/web/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { verifyWithQuota } from '../support/core-helpers.js'

// A request's quota travels beside its (shared) context; what each adapter attaches, and quotaOf() reads, is in
// the rate-limit contract (test/support/rate-limit-contract.ts). Here: the types, and null (never a throw) where
// portkeyAuth() did not run, unlike portkeyOf().
describe('quotaOf(): Quota | null on every adapter', () => {
  test('null where no portkeyAuth() ran, never a throw', () => {
    expect(expressQuotaOf({} as Request)).toBeNull()
    expect(koaQuotaOf({ state: {} })).toBeNull()
    expect(fastifyQuotaOf({} as FastifyRequest)).toBeNull()
    expect(honoQuotaOf({ get: () => undefined } as unknown as Context)).toBeNull()
  })

  test('each reads what its adapter attaches beside the context', () => {
    const quota = {} as Quota
    expect(expressQuotaOf({ portkeyQuota: quota } as Request)).toBe(quota)
    expect(koaQuotaOf({ state: { portkeyQuota: quota } })).toBe(quota)
    expect(fastifyQuotaOf({ portkeyQuota: quota } as FastifyRequest)).toBe(quota)
    expect(honoQuotaOf({ get: (name: string) => (name === 'portkeyQuota' ? quota : undefined) } as unknown as Context)).toBe(
      quota,
    )
  })

  test('typed: the readers Quota | null, the fields optional, the Web adapter’s quota Quota | null', () => {
    for (const read of [expressQuotaOf, koaQuotaOf, fastifyQuotaOf, honoQuotaOf])
      expectTypeOf(read).returns.toEqualTypeOf<Quota | null>()
    expectTypeOf<Request['portkeyQuota']>().toEqualTypeOf<Quota | undefined>()
    expectTypeOf<PortkeyState['portkeyQuota']>().toEqualTypeOf<Quota | undefined>()
    expectTypeOf<FastifyRequest['portkeyQuota']>().toEqualTypeOf<Quota | undefined>()
    expectTypeOf<PortkeyEnv['Variables']['portkeyQuota']>().toEqualTypeOf<Quota | undefined>()
    expectTypeOf<WebAuth['quota']>().toEqualTypeOf<Quota | null>()
    expectTypeOf<Extract<AuthResult, { response?: undefined }>['quota']>().toEqualTypeOf<Quota | null>()
  })
})

describe('the shared dispatch: a status per request where limits may apply, its quota attached beside the context', () => {
  const AUTH = Object.freeze({ keyId: 'key_1' }) as PortkeyAuth
  const HEADERS = { 'ratelimit-policy': '"rpm";q=5;w=60', ratelimit: '"rpm";r=4;t=50' }

  /** Dispatches one request through a verifier double that fills in `quota`; what the check got and the adapter did. */
  function dispatchOne(limited: boolean | undefined, quota: Quota | null) {
    const seen = { statuses: [] as (CheckStatus | undefined)[], attached: [] as unknown[][], headers: [] as unknown[] }
    const framework: Framework<object, null, null, string> = {
      headers: () => ({}),
      route: () => ({ method: 'GET', path: '/' }),
      request: () => ({ headers: {}, rawHeaders: [] }),
      rawHeaders: () => [],
      attach: (_a, auth, attached) => void seen.attached.push([auth, attached]),
      attached: () => undefined,
      attachedQuota: () => null,
      setHeaders: (headers) => void seen.headers.push(headers),
      next: () => 'next',
      send: (error) => error.code,
      fail: () => 'fail',
    }
    const verifier = {
      ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9', logger: false }),
      limited,
      check: (_headers: unknown, _route: unknown, status?: CheckStatus) => {
        seen.statuses.push(status)
        if (status !== undefined && quota !== null) status.quota = quota
        return AUTH
      },
    } as unknown as Verifier
    expect(createDispatch({ verifier }, framework, SERVER_FEATURES)({}, null, null)).toBe('next')
    return seen
  }

  test('limited (or a verifier without the field): a fresh status; its quota attached, its headers set', () => {
    const quota = { headers: HEADERS } as unknown as Quota
    for (const limited of [true, undefined]) {
      const seen = dispatchOne(limited, quota)
      expect(seen.statuses).toEqual([{ cache: 'none', counting: undefined, quota }])
      expect(seen.attached).toEqual([[AUTH, quota]])
      expect(seen.attached[0]![1]).toBe(quota)
      expect(seen.headers).toEqual([HEADERS])
    }
    // No limit applied: no quota, no headers.
    expect(dispatchOne(true, null)).toEqual({
      statuses: [{ cache: 'none', counting: undefined, quota: null }],
      attached: [[AUTH, null]],
      headers: [],
    })
  })

  test('rateLimits: false (limited false): no status at all, the context alone', () => {
    expect(dispatchOne(false, null)).toEqual({ statuses: [undefined], attached: [[AUTH, null]], headers: [] })
  })
})

describe('requirePermissions() gives back only the quota of the context it refuses', () => {
  // The quota travels beside the context, so the two can disagree: an app that keeps a request's quota and puts it
  // on another request (`req.portkeyQuota = kept` before portkeyAuth(), which attaches none for a key without
  // limits), a Koa `ctx.state` or Hono variable filled in earlier. Refusing that other request must not hand the
  // first caller's allowance back, as before the change (the refund came from the refused context itself).
  test('a real quota of another caller beside the refused context: nothing given back', async () => {
    const records: Record<string, ReturnType<typeof keyRecord>> = {
      'pk-limited-0123456789': keyRecord({ id: 'key_limited', rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] }),
      'pk-free-0123456789ab': keyRecord({ id: 'key_free', scopes: [] }),
    }
    const verifier = createVerifier({ lookup: async (key) => records[key] ?? null, logger: false })
    const limited = { 'x-portkey-api-key': 'pk-limited-0123456789' }
    const { auth: owner, quota: kept } = await verifyWithQuota(verifier, limited)
    const free = await verifier.verify({ 'x-portkey-api-key': 'pk-free-0123456789ab' })
    const check = createPermissionCheck<{ auth: PortkeyAuth; quota: Quota | null }, null, null, string>(['logs.read'], {
      attached: (a) => a.auth,
      attachedQuota: (a) => a.quota,
      next: () => 'next',
      send: (error) => error.code,
    })
    expect(check({ auth: free, quota: kept }, null, null)).toBe('insufficient_scope')
    // The limited key's second request of the day is its last: the free key's refusal gave nothing back.
    await verifier.verify(limited)
    await expect(verifier.verify(limited)).rejects.toMatchObject({ status: 429 })
    // Its own refusal does (once), as it always did, beside a copy of its context too (a verifier of the app's that
    // decorates contexts).
    const { quota: own } = await verifyWithQuota(verifier, { 'x-portkey-api-key': 'pk-free-0123456789ab' })
    expect(own).toBeNull()
    expect(check({ auth: { ...owner, tenant: 'acme' } as PortkeyAuth, quota: kept }, null, null)).toBe('insufficient_scope')
    expect(check({ auth: owner, quota: kept }, null, null)).toBe('insufficient_scope')
    await verifier.verify(limited)
    await expect(verifier.verify(limited)).rejects.toMatchObject({ status: 429 })
  })
})
