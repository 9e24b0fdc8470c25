import fastifyAuth from '@fastify/auth'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expect, test } from 'vitest'
import { AuthError, errorBody } from '../../src/errors.js'
import { type FastifyAuthOptions, portkeyAuth, portkeyOf } from '../../src/fastify/index.js'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { keyRecord } from '../../src/testing/records.js'
import { LIVE, seedKeys, send, sleep, UNKNOWN, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// Attacks on `register(portkeyAuth, { addHook: false })` and `app.verifyPortkey`, as a hostile caller and as a
// careless user would make them: real Fastify apps over real HTTP, the control-plane stub behind them.
// Everything here held when written; the attacks that found a problem (fixed since) are in verify-portkey-refusals.attack.test.ts.

const OTHER_HEADER = 'x-other-strategy'

/** A second strategy: admits a request carrying `x-other-strategy: yes`, refuses the others. */
function otherStrategy(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) {
  if (request.headers[OTHER_HEADER] === 'yes') done()
  else done(Object.assign(new Error('other strategy refused'), { statusCode: 401, code: 'other_refused' }))
}

/** A strategy with a bug: it throws instead of calling done. */
function throwingStrategy(): void {
  throw new Error('strategy bug')
}

function answerAuthErrors(app: FastifyInstance) {
  app.setErrorHandler((error, _request, reply) =>
    error instanceof AuthError ? reply.code(error.status).headers(error.headers).send(errorBody(error)) : reply.send(error),
  )
}

const key = (value: string, other = false) => ({ 'x-portkey-api-key': value, ...(other ? { [OTHER_HEADER]: 'yes' } : {}) })

interface Reached {
  route: string
  keyId: string | null
}

function handler(reached: Reached[], route: string) {
  return (request: FastifyRequest) => {
    reached.push({ route, keyId: request.portkey?.keyId ?? null })
    return { route, keyId: request.portkey?.keyId ?? null }
  }
}

/** Registration failure of `register()`, or null. */
async function registerFailure(register: () => PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(register()).then(
    () => null,
    (error: unknown) => error,
  )
}

describe('attack: verifyPortkey inside @fastify/auth', () => {
  test("a strategy that throws, before or after verifyPortkey, under 'or' and 'and': a bad key never passes", async () => {
    const stub = await useStub({ keys: seedKeys() })
    const reached: Reached[] = []
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      app.get('/or-throw-first', { onRequest: app.auth([throwingStrategy, app.verifyPortkey]) }, handler(reached, 'a'))
      app.get('/or-throw-last', { onRequest: app.auth([app.verifyPortkey, throwingStrategy]) }, handler(reached, 'b'))
      app.get(
        '/and-throw-last',
        { onRequest: app.auth([app.verifyPortkey, throwingStrategy], { relation: 'and' }) },
        handler(reached, 'c'),
      )
    })
    for (const credential of [UNKNOWN, UNKNOWN, `${UNKNOWN}é`, 'a'.repeat(5000)]) {
      for (const route of ['/or-throw-first', '/or-throw-last', '/and-throw-last']) {
        const res = await send(app.url + route, key(credential))
        expect({ route, status: res.status }).toMatchObject({ route, status: expect.any(Number) })
        expect(res.status, route).toBeGreaterThanOrEqual(400)
        expect(res.text).not.toContain(credential.slice(0, 20))
      }
    }
    expect((await send(`${app.url}/or-throw-last`)).status).toBeGreaterThanOrEqual(400)
    // A valid key: 'or' admits it whichever strategy throws; 'and' never, the other strategy having failed.
    expect((await send(`${app.url}/or-throw-first`, key(LIVE))).json()).toEqual({ route: 'a', keyId: 'key_live' })
    expect((await send(`${app.url}/or-throw-last`, key(LIVE))).json()).toEqual({ route: 'b', keyId: 'key_live' })
    // @fastify/auth answers the thrown error as 401 (it puts 401 on any refusal whose status is under 400).
    expect((await send(`${app.url}/and-throw-last`, key(LIVE))).status).toBe(401)
    await sleep(50)
    expect(reached).toEqual([
      { route: 'a', keyId: 'key_live' },
      { route: 'b', keyId: 'key_live' },
    ])
  })

  test("relation 'or': verifyPortkey's 401, 503 or 429 never leaks into a response the other strategy admitted", async () => {
    const stub = await useStub({
      keys: {
        ...seedKeys(),
        'pk-one-a-day': keyRecord({ id: 'key_rpd', rate_limits: [{ type: 'requests', unit: 'rpd', value: 1 }] }),
      },
    })
    const reached: Reached[] = []
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      app.get('/or', { onRequest: app.auth([app.verifyPortkey, otherStrategy]) }, handler(reached, '/or'))
    })
    const admittedByOther = (res: Awaited<ReturnType<typeof send>>) => {
      expect([res.status, res.json()]).toEqual([200, { route: '/or', keyId: null }])
      for (const header of ['www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy'])
        expect(res.headers[header], header).toBeUndefined()
    }
    // 401: unknown key.
    admittedByOther(await send(`${app.url}/or`, key(UNKNOWN, true)))
    // 429: the key's one request a day spent, then refused by verifyPortkey, admitted by the other.
    const first = await send(`${app.url}/or`, key('pk-one-a-day'))
    expect([first.status, first.json()]).toEqual([200, { route: '/or', keyId: 'key_rpd' }])
    admittedByOther(await send(`${app.url}/or`, key('pk-one-a-day', true)))
    // 503: the control plane down for a key not cached.
    stub.fail('error')
    admittedByOther(await send(`${app.url}/or`, key(Object.keys(seedKeys()).find((k) => k !== LIVE)!, true)))
  })

  test('a hook after verifyPortkey that throws, on the look-up path: one 500, no double done(), no admission', async () => {
    const stub = await useStub({ keys: seedKeys(), delayMs: 20 })
    const reached: Reached[] = []
    const warnings: unknown[] = []
    const app = await startFastify(async (app) => {
      app.addHook('onError', async () => {})
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      const boom = () => {
        throw new Error('hook bug')
      }
      app.get('/hooked', { onRequest: [app.verifyPortkey, boom] }, handler(reached, '/hooked'))
      app.get('/and', { onRequest: app.auth([app.verifyPortkey, boom], { relation: 'and' }) }, handler(reached, '/and'))
    })
    process.on('warning', (warning) => warnings.push(warning))
    for (const route of ['/hooked', '/and']) {
      stub.keys.clear()
      stub.keys.set(`pk-fresh-${route.slice(1)}`, keyRecord({ id: 'key_fresh' }))
      const res = await send(app.url + route, key(`pk-fresh-${route.slice(1)}`))
      // A route's own throwing hook: Fastify's 500; inside @fastify/auth 'and': its 401.
      expect(res.status, route).toBe(route === '/and' ? 401 : 500)
    }
    await sleep(100)
    expect(reached).toEqual([])
    expect(warnings.filter((w) => /called twice|already/i.test(String(w)))).toEqual([])
  })
})

// @fastify/auth 5 requires Fastify 5, and some of these use it: Fastify 5 project only, as auth-composition.test.ts.
describe('attack: where app.verifyPortkey is not what a careless user thinks', () => {
  test('registered in a sibling scope: [undefined] as onRequest, and app.auth([undefined]), fail at start-up', async () => {
    // The plugin in an encapsulated sibling: the root has no verifyPortkey.
    const arrayForm = Fastify()
    await arrayForm.register(async (sibling) => {
      await sibling.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', addHook: false })
    })
    expect(arrayForm.verifyPortkey).toBeUndefined()
    expect(() => arrayForm.get('/x', { onRequest: [arrayForm.verifyPortkey] }, () => 'open')).toThrow()

    const authForm = Fastify()
    await authForm.register(async (sibling) => {
      await sibling.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', addHook: false })
    })
    await authForm.register(fastifyAuth)
    expect(() => authForm.auth([authForm.verifyPortkey])).toThrow()
  })

  test('registered in a sibling scope, bare onRequest: undefined: the route is open (documented), but portkeyOf() answers 500', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await startFastify(async (app) => {
      await app.register(async (sibling) => {
        await sibling.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      })
      // Documented: "onRequest: undefined elsewhere leaves a route open". The handler that reads the context refuses.
      app.get('/reads-context', { onRequest: app.verifyPortkey }, (request) => ({ ws: portkeyOf(request).workspaceId }))
      app.get('/ignores-context', { onRequest: app.verifyPortkey }, () => ({ open: true }))
    })
    const reads = await send(`${app.url}/reads-context`, key(UNKNOWN))
    expect([reads.status, reads.json<{ code: string }>().code]).toEqual([500, 'auth_misconfigured'])
    expect(reads.text).not.toContain(UNKNOWN)
    expect((await send(`${app.url}/ignores-context`)).json()).toEqual({ open: true })
    expect(stub.calls()).toBe(0)
  })

  test('addHook: false beside a hook, in any order or context, is refused: no route is checked (and counted) twice', async () => {
    const options = { controlPlaneUrl: 'http://127.0.0.1:9' }
    const same = Fastify()
    await same.register(portkeyAuth, { ...options, addHook: false })
    expect(String(await registerFailure(() => same.register(portkeyAuth, options)))).toMatch(/already registered/)

    const hookThenDecorator = Fastify()
    await hookThenDecorator.register(portkeyAuth, options)
    const nested = await registerFailure(() =>
      hookThenDecorator.register(async (child) => {
        await child.register(portkeyAuth, { ...options, addHook: false })
      }),
    )
    expect(String(nested)).toMatch(/already registered/)

    const decoratorThenHook = Fastify()
    await decoratorThenHook.register(portkeyAuth, { ...options, addHook: false })
    const nested2 = await registerFailure(() =>
      decoratorThenHook.register(async (child) => {
        await child.register(portkeyAuth, options)
      }),
    )
    expect(String(nested2)).toMatch(/already registered/)

    // Through after(): the same context.
    const after = Fastify()
    after.register(portkeyAuth, { ...options, addHook: false })
    after.after(() => {
      after.register(portkeyAuth, options)
    })
    expect(String(await registerFailure(() => after.ready()))).toMatch(/already registered/)
  })

  test('a child registered before the root hook: its verifyPortkey route is checked once, the look-up counted once', async () => {
    const stub = await useStub({
      keys: { 'pk-two-a-day': keyRecord({ id: 'key_two', rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] }) },
    })
    const app = await startFastify(async (app) => {
      // Not awaited in between: avvio loads the child first, then the root's plugin.
      app.register(async (child) => {
        await child.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
        child.get('/child', { onRequest: child.verifyPortkey }, (request) => ({ keyId: portkeyOf(request).keyId }))
      })
      app.register(portkeyAuth, { controlPlaneUrl: stub.url })
      app.get('/root', (request) => ({ keyId: portkeyOf(request).keyId }))
    })
    // Two a day: were /child checked by both (two verifiers, or one twice), the second request would be 429.
    expect((await send(`${app.url}/child`, key('pk-two-a-day'))).status).toBe(200)
    expect((await send(`${app.url}/child`, key('pk-two-a-day'))).status).toBe(200)
    expect((await send(`${app.url}/child`, key('pk-two-a-day'))).status).toBe(429)
  })

  test('addHook must be a boolean; onError beside addHook: false is refused; a verifier option stays a hook', async () => {
    for (const addHook of ['false', 0, null, 'no']) {
      const app = Fastify()
      const failure = await registerFailure(() =>
        app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', addHook } as unknown as FastifyAuthOptions),
      )
      expect(failure, String(addHook)).toBeInstanceOf(TypeError)
    }
    const app = Fastify()
    const failure = await registerFailure(() =>
      app.register(portkeyAuth, {
        controlPlaneUrl: 'http://127.0.0.1:9',
        addHook: false,
        onError: () => {},
      } as FastifyAuthOptions),
    )
    expect(failure).toBeInstanceOf(TypeError)
  })

  test('publicRoutes with addHook: false: verifyPortkey passes a public route unchecked; other routes stay checked', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false, publicRoutes: ['GET /health'] })
      app.get('/health', { onRequest: app.verifyPortkey }, (request) => ({ keyId: request.portkey?.keyId ?? null }))
      app.get('/HEALTH', { onRequest: app.verifyPortkey }, () => ({ open: true }))
      app.get('/health/', { onRequest: app.verifyPortkey }, () => ({ open: true }))
      app.post('/health', { onRequest: app.verifyPortkey }, () => ({ open: true }))
      app.get('/x', { onRequest: app.auth([app.verifyPortkey, otherStrategy], { relation: 'and' }) }, () => ({ x: 1 }))
    })
    expect((await send(`${app.url}/health`, key(UNKNOWN))).json()).toEqual({ keyId: null })
    expect((await send(`${app.url}/HEALTH`)).status).toBe(401)
    expect((await send(`${app.url}/health/`)).status).toBe(401)
    expect((await send(`${app.url}/health`, {}, { method: 'POST' })).status).toBe(401)
    expect((await send(`${app.url}/x`, key(UNKNOWN, true))).status).toBe(401)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('hideCredentials with the decorator: when verifyPortkey runs, refused or admitted, the handler never sees the key', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: (string | undefined)[] = []
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false, hideCredentials: true })
      app.get('/or', { onRequest: app.auth([app.verifyPortkey, otherStrategy]) }, (request) => {
        seen.push(request.headers['x-portkey-api-key'] as string | undefined)
        return { ok: true }
      })
      app.get('/hook', { onRequest: app.verifyPortkey }, (request) => {
        seen.push(request.headers['x-portkey-api-key'] as string | undefined)
        return { ok: true }
      })
    })
    expect((await send(`${app.url}/or`, key(LIVE))).status).toBe(200)
    expect((await send(`${app.url}/or`, key(UNKNOWN, true))).status).toBe(200) // refused, then the other admits
    expect((await send(`${app.url}/hook`, key(LIVE))).status).toBe(200)
    expect(seen).toEqual([undefined, undefined, undefined])
  })
})
