import { Hono } from 'hono'
import type Koa from 'koa'
import { describe, expect, onTestFinished, test, vi } from 'vitest'
import { VIRTUAL_KEYS_PATH } from '../../src/lookup/control-plane.js'
import { LIMITS } from '../../src/options/defaults.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { portkeyAuth as expressAuth, requirePermissions as expressRequire } from '../../src/express/index.js'
import { portkeyAuth as fastifyAuth, requirePermissions as fastifyRequire } from '../../src/fastify/index.js'
import { portkeyAuth as honoAuth, type PortkeyEnv, requirePermissions as honoRequire } from '../../src/hono/index.js'
import { portkeyAuth as koaAuth, requirePermissions as koaRequire } from '../../src/koa/index.js'
import { requirePermissions as webRequire, withPortkeyAuth } from '../../src/web/index.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { startFastify } from '../fastify/app.js'
import { startHono } from '../hono/server.js'
import { ADAPTERS } from '../support/adapters.js'
import { sendRaw } from '../support/raw-socket.js'
import {
  closeAfterTest,
  expectRejection,
  type Running,
  startExpress,
  startKoa,
  useGuardedApp,
  useStub,
  WHOAMI,
} from '../support/servers.js'
import { startWeb } from '../web/server.js'

// Issue 22, items 5 and 6, on every adapter: a request refused for its scopes or its key's own limits makes no
// virtual-key look-up, unknown slugs are looked up at a bounded pace per caller, and a request refused after
// the guard (requirePermissions) gives back the allowance it was counted against.

const LIMITED = 'pk-limited-0123456789abcdef'
const READER = 'pk-reader-0123456789abcdef'
const FREE = 'pk-free-0123456789abcdef'

async function stubbed() {
  return useStub({
    keys: {
      [LIMITED]: keyRecord({ id: 'key_limited', rate_limits: [{ type: 'requests', unit: 'rpm', value: 3 }] }),
      [READER]: keyRecord({
        id: 'key_reader',
        scopes: ['logs.read'],
        rate_limits: [{ type: 'requests', unit: 'rpm', value: 3 }],
      }),
      [FREE]: keyRecord({ id: 'key_free' }),
    },
    virtualKeys: { 'vk-known': virtualKeyRecord({ slug: 'vk-known' }) },
  })
}

const slug = (i: number) => `vk-unknown-${i}`
const virtualKeyCalls = (stub: { log: readonly { path: string }[] }) =>
  stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH)).length

describe.each(ADAPTERS)('%s: a refused request costs the control plane and the allowance nothing', (adapter) => {
  test('a key at its rate limit naming new virtual keys: 429 each time, no virtual-key look-up', async () => {
    const stub = await stubbed()
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url })
    for (let i = 0; i < 3; i++)
      expect((await sendRaw(app.url, WHOAMI, { headers: { 'x-portkey-api-key': LIMITED } })).status).toBe(200)
    for (let i = 0; i < 20; i++) {
      const res = await sendRaw(app.url, WHOAMI, { headers: { 'x-portkey-api-key': LIMITED, 'x-portkey-virtual-key': slug(i) } })
      expectRejection(res, 429, 'rate_limit_exceeded', [LIMITED])
    }
    expect(virtualKeyCalls(stub)).toBe(0)
  })

  test('a key without the route’s scope naming new virtual keys: 403 each time, no virtual-key look-up', async () => {
    const stub = await stubbed()
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url, scopes: { [WHOAMI]: 'completions.write' } })
    for (let i = 0; i < 20; i++) {
      const res = await sendRaw(app.url, WHOAMI, { headers: { 'x-portkey-api-key': READER, 'x-portkey-virtual-key': slug(i) } })
      expectRejection(res, 403, 'insufficient_scope', [READER])
    }
    expect(virtualKeyCalls(stub)).toBe(0)
    // Nor did those refusals count against the key's 3 rpm: a request to an allowed route still has them all.
    const limited = await useGuardedApp(adapter, { controlPlaneUrl: stub.url, scopes: { [WHOAMI]: 'logs.read' } })
    for (let i = 0; i < 3; i++)
      expect((await sendRaw(limited.url, WHOAMI, { headers: { 'x-portkey-api-key': READER } })).status).toBe(200)
  })

  test('a caller naming ever new slugs is looked up at a bounded pace, then refused 429 without a look-up', async () => {
    // The budget is per clock minute: start at one's beginning, so the test never crosses into the next.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2030, 0, 1, 0, 0, 1) })
    onTestFinished(() => void vi.useRealTimers())
    const stub = await stubbed()
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url })
    const statuses: number[] = []
    for (let i = 0; i < LIMITS.virtualKeyLookups + 10; i++) {
      const res = await sendRaw(app.url, WHOAMI, { headers: { 'x-portkey-api-key': FREE, 'x-portkey-virtual-key': slug(i) } })
      statuses.push(res.status)
    }
    expect(virtualKeyCalls(stub)).toBe(LIMITS.virtualKeyLookups)
    expect(statuses.slice(0, LIMITS.virtualKeyLookups).every((status) => status === 403)).toBe(true)
    expect(statuses.slice(LIMITS.virtualKeyLookups)).toEqual(Array(10).fill(429))
    // A slug it already knows is answered from the cache, past the bound.
    const known = await sendRaw(app.url, WHOAMI, { headers: { 'x-portkey-api-key': FREE, 'x-portkey-virtual-key': slug(0) } })
    expect(known.status).toBe(403)
    expect(virtualKeyCalls(stub)).toBe(LIMITS.virtualKeyLookups)
  })
})

/** An app whose `/logs` needs `logs.read` through `requirePermissions()` and `/free` needs nothing more. */
const PERMISSION_APPS: Record<(typeof ADAPTERS)[number], (options: MiddlewareOptions) => Promise<Running>> = {
  express: (options) =>
    startExpress((app) => {
      app.use(expressAuth(options))
      app.get('/logs', expressRequire('logs.read'), (_req, res) => void res.json({ ok: true }))
      app.get('/free', (_req, res) => void res.json({ ok: true }))
    }),
  koa: (options) =>
    startKoa((app: Koa) => {
      const logs = koaRequire('logs.read')
      app.use(koaAuth(options)).use(async (ctx, next) => {
        if (ctx.path === '/logs') return logs(ctx, async () => void (ctx.body = { ok: true }))
        ctx.body = { ok: true }
        return next()
      })
    }),
  fastify: (options) =>
    startFastify(async (app) => {
      await app.register(fastifyAuth, options)
      app.get('/logs', { preHandler: fastifyRequire('logs.read') }, () => ({ ok: true }))
      app.get('/free', () => ({ ok: true }))
    }),
  hono: (options) =>
    startHono(
      new Hono<PortkeyEnv>()
        .use(honoAuth(options))
        .get('/logs', honoRequire('logs.read'), (c) => c.json({ ok: true }))
        .get('/free', (c) => c.json({ ok: true })),
    ),
  web: (options) => {
    const logs = webRequire('logs.read')
    return startWeb(
      withPortkeyAuth((request) => {
        if (new URL(request.url).pathname === '/logs') return logs(request) ?? Response.json({ ok: true })
        return Response.json({ ok: true })
      }, options as never),
    )
  },
}

describe.each(ADAPTERS)('%s: requirePermissions() refusals give the allowance back', (adapter) => {
  test('two 403s from requirePermissions() on a 3 rpm key leave all three for an allowed route', async () => {
    const stub = await stubbed()
    const app = closeAfterTest(await PERMISSION_APPS[adapter]({ controlPlaneUrl: stub.url }))
    for (let i = 0; i < 2; i++) {
      expectRejection(await sendRaw(app.url, '/logs', { headers: { 'x-portkey-api-key': LIMITED } }), 403, 'insufficient_scope')
    }
    const statuses: number[] = []
    for (let i = 0; i < 4; i++)
      statuses.push((await sendRaw(app.url, '/free', { headers: { 'x-portkey-api-key': LIMITED } })).status)
    expect(statuses).toEqual([200, 200, 200, 429])
  })
})
