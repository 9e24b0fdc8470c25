import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type Koa from 'koa'
import type { Middleware, ParameterizedContext } from 'koa'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import { portkeyAuth as expressAuth, portkeyOf as expressPortkeyOf } from '../../src/express/index.js'
import { portkeyAuth as fastifyAuth, portkeyOf as fastifyPortkeyOf } from '../../src/fastify/index.js'
import { type PortkeyState, portkeyAuth as koaAuth, portkeyOf as koaPortkeyOf } from '../../src/koa/index.js'
import type { PortkeyAuth } from '../../src/types.js'
import { closeAfterTest, LIVE, seedKeys, send, startExpress, startKoa, useStub } from '../support/servers.js'
import { startFastify } from '../fastify/app.js'

// `req.portkey` is optional (absent on routes portkeyAuth() does not guard); portkeyOf() returns the context
// or throws the 500 `auth_misconfigured` AuthError, so a route that forgot its guard fails loudly.

/** What the error handlers below answer: the error's status, and its code and message as JSON. */
const answered = (error: unknown) => {
  const { status, code, message, expose } = error as AuthError
  return { status, body: { handledBy: 'app', code, message, expose, isAuthError: error instanceof AuthError } }
}

describe('express: portkeyOf(req)', () => {
  async function portkeyOfApp(errorHandler?: (error: unknown, req: Request, res: Response, next: NextFunction) => void) {
    const stub = await useStub({ keys: seedKeys() })
    const running = await startExpress((app) => {
      app.get('/open', (req, res) => void res.json({ keyId: expressPortkeyOf(req).keyId }))
      app.use(expressAuth({ controlPlaneUrl: stub.url, publicRoutes: ['/v1/health'] }))
      app.get(
        '/v1/me',
        (req, res) => void res.json({ keyId: expressPortkeyOf(req).keyId, same: expressPortkeyOf(req) === req.portkey }),
      )
      app.get('/v1/health', (req, res) => void res.json({ keyId: expressPortkeyOf(req).keyId }))
      if (errorHandler) app.use(errorHandler)
    })
    return closeAfterTest(running)
  }

  test('on a guarded route: the context portkeyAuth() set', async () => {
    const app = await portkeyOfApp()
    const res = await send(`${app.url}/v1/me`, { 'x-portkey-api-key': LIVE })
    expect([res.status, res.json()]).toEqual([200, { keyId: 'key_live', same: true }])
  })

  test.each(['/open', '/v1/health'])(
    'on an unguarded route (%s): 500 auth_misconfigured to the app error handler',
    async (path) => {
      const app = await portkeyOfApp((error, _req, res, _next) => {
        const { status, body } = answered(error)
        res.status(status).json(body)
      })
      const res = await send(`${app.url}${path}`, { 'x-portkey-api-key': LIVE })
      expect(res.status).toBe(500)
      expect(res.json()).toEqual({
        handledBy: 'app',
        code: 'auth_misconfigured',
        message: expect.stringContaining('portkeyAuth()'),
        expose: true,
        isAuthError: true,
      })
    },
  )

  test("on an unguarded route, without an error handler of the app's own: Express answers 500", async () => {
    const app = await portkeyOfApp()
    const res = await send(`${app.url}/open`)
    expect(res.status).toBe(500)
    expect(res.text).not.toContain('key_live')
  })

  test('the error is the one requirePermissions() gives without portkeyAuth(): 500 auth_misconfigured', () => {
    let thrown: unknown
    try {
      expressPortkeyOf({} as Request)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(AuthError)
    expect(thrown).toMatchObject({ status: 500, code: 'auth_misconfigured', type: 'api_error', expose: true, headers: {} })
  })
})

describe('koa: portkeyOf(ctx)', () => {
  async function portkeyOfApp(outer?: Koa.Middleware) {
    const stub = await useStub({ keys: seedKeys() })
    const errors: unknown[] = []
    const running = await startKoa((app) => {
      app.on('error', (error: unknown) => errors.push(error))
      if (outer) app.use(outer)
      app.use((ctx, next) => {
        if (ctx.path !== '/open') return next()
        ctx.body = { keyId: koaPortkeyOf(ctx).keyId }
      })
      app.use(koaAuth({ controlPlaneUrl: stub.url, publicRoutes: ['/v1/health'] })).use((ctx) => {
        ctx.body = { keyId: koaPortkeyOf(ctx).keyId, same: koaPortkeyOf(ctx) === ctx.state.portkey }
      })
    })
    return closeAfterTest({ ...running, errors })
  }

  test('on a guarded route: the context portkeyAuth() set', async () => {
    const app = await portkeyOfApp()
    const res = await send(`${app.url}/v1/me`, { 'x-portkey-api-key': LIVE })
    expect([res.status, res.json()]).toEqual([200, { keyId: 'key_live', same: true }])
  })

  test.each(['/open', '/v1/health'])(
    "on an unguarded route (%s): Koa's error handling answers 500 with the message",
    async (path) => {
      const app = await portkeyOfApp()
      const res = await send(`${app.url}${path}`, { 'x-portkey-api-key': LIVE })
      expect(res.status).toBe(500)
      expect(res.text).toMatch(/portkeyAuth\(\)/)
      expect(app.errors).toHaveLength(1)
      expect(app.errors[0]).toMatchObject({ code: 'auth_misconfigured', status: 500 })
    },
  )

  test('on an unguarded route: an outer middleware catches the AuthError and can render it', async () => {
    const app = await portkeyOfApp(async (ctx, next) => {
      try {
        await next()
      } catch (error) {
        const { status, body } = answered(error)
        ctx.status = status
        ctx.body = body
      }
    })
    const res = await send(`${app.url}/open`)
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ code: 'auth_misconfigured', isAuthError: true, expose: true })
  })
})

describe('fastify: portkeyOf(request)', () => {
  async function portkeyOfApp(errorHandler = true) {
    const stub = await useStub({ keys: seedKeys() })
    const route = (request: FastifyRequest) => ({
      keyId: fastifyPortkeyOf(request).keyId,
      same: fastifyPortkeyOf(request) === request.portkey,
    })
    return startFastify(async (app) => {
      if (errorHandler)
        app.setErrorHandler((error, _request, reply) => {
          const { status, body } = answered(error)
          return reply.code(status).send(body)
        })
      app.get('/open', route)
      await app.register(
        async (v1) => {
          await v1.register(fastifyAuth, { controlPlaneUrl: stub.url, publicRoutes: ['/v1/health'] })
          v1.get('/me', route)
          v1.get('/health', route)
        },
        { prefix: '/v1' },
      )
      await app.register(
        async (decorated) => {
          await decorated.register(fastifyAuth, { controlPlaneUrl: stub.url, addHook: false })
          decorated.get('/guarded', { onRequest: decorated.verifyPortkey }, route)
          decorated.get('/unguarded', route)
        },
        { prefix: '/d' },
      )
    })
  }

  test.each(['/v1/me', '/d/guarded'])('on a guarded route (%s): the context the hook or verifyPortkey set', async (path) => {
    const app = await portkeyOfApp()
    const res = await send(`${app.url}${path}`, { 'x-portkey-api-key': LIVE })
    expect([res.status, res.json()]).toEqual([200, { keyId: 'key_live', same: true }])
  })

  test.each(['/open', '/v1/health', '/d/unguarded'])(
    'on an unguarded route (%s): 500 auth_misconfigured to the app error handler',
    async (path) => {
      const app = await portkeyOfApp()
      const res = await send(`${app.url}${path}`, { 'x-portkey-api-key': LIVE })
      expect(res.status).toBe(500)
      expect(res.json()).toEqual({
        handledBy: 'app',
        code: 'auth_misconfigured',
        message: expect.stringContaining('portkeyAuth()'),
        expose: true,
        isAuthError: true,
      })
    },
  )

  test("on an unguarded route, without an error handler of the app's own: Fastify answers 500 with the code", async () => {
    const app = await portkeyOfApp(false)
    const res = await send(`${app.url}/open`, { 'x-portkey-api-key': LIVE })
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ statusCode: 500, code: 'auth_misconfigured' })
    expect(res.text).not.toContain(LIVE)
  })
})

describe('portkeyOf and req.portkey: types', () => {
  test('Express: req.portkey may be absent, portkeyOf(req) is PortkeyAuth', () => {
    expectTypeOf<Request['portkey']>().toEqualTypeOf<PortkeyAuth | undefined>()
    expectTypeOf(expressPortkeyOf).returns.toEqualTypeOf<PortkeyAuth>()
    const handler: RequestHandler = (req, res) => {
      expectTypeOf(req.portkey).toEqualTypeOf<PortkeyAuth | undefined>()
      expectTypeOf(expressPortkeyOf(req).workspaceId).toEqualTypeOf<string | null>()
      // @ts-expect-error possibly undefined: read it through portkeyOf(req) or req.portkey?.
      res.json(req.portkey.keyId)
    }
    expectTypeOf(handler).toBeFunction()
    // A request with typed params is accepted too.
    const typed = (req: Request<{ id: string }>) => expressPortkeyOf(req).keyId
    expectTypeOf(typed).returns.toEqualTypeOf<string>()
  })

  test('Fastify: request.portkey may be absent (hook, verifyPortkey or neither), portkeyOf(request) is PortkeyAuth', () => {
    expectTypeOf<FastifyRequest['portkey']>().toEqualTypeOf<PortkeyAuth | undefined>()
    expectTypeOf(fastifyPortkeyOf).returns.toEqualTypeOf<PortkeyAuth>()
    const handler: RouteHandlerMethod = (request) => {
      expectTypeOf(request.portkey).toEqualTypeOf<PortkeyAuth | undefined>()
      expectTypeOf(fastifyPortkeyOf(request).workspaceId).toEqualTypeOf<string | null>()
      // @ts-expect-error possibly undefined: read it through portkeyOf(request) or request.portkey?.
      return request.portkey.keyId
    }
    expectTypeOf(handler).toBeFunction()
    // A typed route's request, and one behind verifyPortkey, read the same way.
    const typed = (app: FastifyInstance) =>
      app.get<{ Params: { id: string } }>('/v1/:id', { onRequest: app.verifyPortkey }, (request) => {
        expectTypeOf(request.portkey).toEqualTypeOf<PortkeyAuth | undefined>()
        return { id: request.params.id, keyId: fastifyPortkeyOf(request).keyId }
      })
    expectTypeOf(typed).toBeFunction()
  })

  test('Koa: ctx.state.portkey stays PortkeyAuth under Middleware<PortkeyState>; portkeyOf(ctx) takes any context', () => {
    expectTypeOf<PortkeyState['portkey']>().toEqualTypeOf<PortkeyAuth>()
    expectTypeOf(koaPortkeyOf).returns.toEqualTypeOf<PortkeyAuth>()
    const typed: Middleware<PortkeyState> = (ctx) => {
      expectTypeOf(ctx.state.portkey).toEqualTypeOf<PortkeyAuth>()
      expectTypeOf(koaPortkeyOf(ctx)).toEqualTypeOf<PortkeyAuth>()
    }
    const plain: Koa.Middleware = (ctx) => {
      expectTypeOf(koaPortkeyOf(ctx).scopes).toEqualTypeOf<readonly string[]>()
    }
    const other = (ctx: ParameterizedContext<{ user: string }>) => koaPortkeyOf(ctx).keyId
    expectTypeOf(typed).toBeFunction()
    expectTypeOf(plain).toBeFunction()
    expectTypeOf(other).returns.toEqualTypeOf<string>()
  })
})
