import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import type { PortkeyAuth } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { type ExpressAuthOptions, portkeyAuth, portkeyOf } from '../../src/express/index.js'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { describeAdapterContract } from '../support/adapter-contract.js'
import { closeAfterTest, LIVE, seedKeys, send, startExpress, UNKNOWN, useStub } from '../support/servers.js'

describeAdapterContract('express')

/** An Express app: `portkeyAuth(options)`, then `GET /` counting the requests it reaches, then `errorHandler` if given. */
async function guardedApp(
  options: ExpressAuthOptions | Verifier,
  errorHandler?: (error: unknown, req: Request, res: Response, next: NextFunction) => void,
) {
  const reached: PortkeyAuth[] = []
  const running = await startExpress((app) => {
    app.use(portkeyAuth(options))
    app.get('/', (req, res) => {
      reached.push(portkeyOf(req))
      res.send('ok')
    })
    if (errorHandler) app.use(errorHandler)
  })
  return closeAfterTest({ ...running, reached })
}

describe('express: onError', () => {
  test('(error, req, res, next) => next(error) hands the AuthError to the app error handler', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const handled: unknown[] = []
    const app = await guardedApp(
      { controlPlaneUrl: stub.url, onError: (error, _req, _res, next) => next(error) },
      (error, _req, res, _next) => {
        handled.push(error)
        const { status, code } = error as AuthError
        res.status(status).json({ handledBy: 'app', code })
      },
    )

    const res = await send(app.url, { 'x-portkey-api-key': UNKNOWN })
    expect(res.status).toBe(401)
    expect(res.json()).toStrictEqual({ handledBy: 'app', code: 'invalid_api_key' })
    expect(handled).toHaveLength(1)
    expect(handled[0]).toBeInstanceOf(AuthError)
    expect(handled[0]).toMatchObject({ code: 'invalid_api_key', status: 401, expose: true })
    expect(app.reached).toHaveLength(0)

    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).text).toBe('ok')
    expect(handled).toHaveLength(1)
    expect(app.reached).toHaveLength(1)
  })

  test("next(error) with no handler of the app's own: Express answers with the error's status and headers", async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await guardedApp({ controlPlaneUrl: stub.url, onError: (error, _req, _res, next) => next(error) })
    const res = await send(app.url, { 'x-portkey-api-key': UNKNOWN })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key", error="invalid_api_key"')
    expect(res.text).not.toContain(UNKNOWN)
    expect(app.reached).toHaveLength(0)
  })

  test('an onError that throws (the Koa habit) reaches the app error handler instead of hanging', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const handled: unknown[] = []
    const app = await guardedApp(
      {
        controlPlaneUrl: stub.url,
        onError: (error) => {
          throw error
        },
      },
      (error, _req, res, _next) => {
        handled.push(error)
        res.status((error as AuthError).status).json({ handledBy: 'app' })
      },
    )
    const res = await send(app.url, { 'x-portkey-api-key': UNKNOWN })
    expect(res.status).toBe(401)
    expect(res.json()).toStrictEqual({ handledBy: 'app' })
    expect(handled).toHaveLength(1)
    expect(handled[0]).toBeInstanceOf(AuthError)
    expect(app.reached).toHaveLength(0)
  })

  test('onError can write a response of its own', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: Array<{ code: string; path: string }> = []
    const app = await guardedApp({
      controlPlaneUrl: stub.url,
      onError(error, req, res) {
        seen.push({ code: error.code, path: req.path })
        res
          .status(error.status === 503 ? 502 : error.status)
          .type('text/plain')
          .send(`denied: ${error.code}`)
      },
    })
    const missing = await send(app.url)
    expect([missing.status, missing.text]).toEqual([401, 'denied: missing_api_key'])
    stub.fail('error')
    const outage = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([outage.status, outage.text]).toEqual([502, 'denied: auth_unavailable'])
    expect(seen).toEqual([
      { code: 'missing_api_key', path: '/' },
      { code: 'auth_unavailable', path: '/' },
    ])
    expect(app.reached).toHaveLength(0)
  })

  test('onError beside a shared { verifier } is used, and the verifier too', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const app = await guardedApp({ verifier, onError: (error, _req, res) => void res.status(418).send(error.code) })
    expect((await send(app.url, { 'x-portkey-api-key': UNKNOWN })).status).toBe(418)
    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(verifier.stats().lookups).toBe(2)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  const boom = new Error('verifier broke')
  test.each([
    ['rejected by a look-up', () => Promise.reject(boom)],
    [
      'thrown by a cached check',
      () => {
        throw boom
      },
    ],
  ])('an error that is not an AuthError (%s) skips onError and goes to next(error)', async (_how, check) => {
    const broken: Verifier = {
      ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }),
      verify: () => Promise.reject(boom),
      check,
    }
    const handled: unknown[] = []
    let onErrorCalls = 0
    const app = await guardedApp({ verifier: broken, onError: () => void onErrorCalls++ }, (error, _req, res, _next) => {
      handled.push(error)
      res.status(500).send('handled')
    })
    const res = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([res.status, res.text]).toEqual([500, 'handled'])
    expect(handled).toEqual([boom])
    expect(onErrorCalls).toBe(0)
    expect(app.reached).toHaveLength(0)
  })
})

describe('express: mounting', () => {
  test('guards only the paths it is mounted on: other routes make no look-up and have no req.portkey', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const running = closeAfterTest(
      await startExpress((app) => {
        app.get('/health', (req, res) => res.json({ guarded: 'portkey' in req }))
        app.use('/v1', portkeyAuth({ controlPlaneUrl: stub.url }))
        app.get('/v1/models', (req, res) => res.json({ keyId: req.portkey?.keyId }))
      }),
    )
    const health = await send(`${running.url}/health`)
    expect([health.status, health.json()]).toEqual([200, { guarded: false }])
    expect((await send(`${running.url}/v1/models`)).status).toBe(401)
    expect(stub.calls()).toBe(0)
    const models = await send(`${running.url}/v1/models`, { 'x-portkey-api-key': LIVE })
    expect(models.json()).toEqual({ keyId: 'key_live' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })
})

describe('express: types', () => {
  test('req.portkey is PortkeyAuth or absent, portkeyOf(req) is PortkeyAuth, and the factory returns a RequestHandler', () => {
    expectTypeOf<Request['portkey']>().toEqualTypeOf<PortkeyAuth | undefined>()
    const handler: RequestHandler = (req, res) => {
      expectTypeOf(req.portkey).toEqualTypeOf<PortkeyAuth | undefined>()
      expectTypeOf(portkeyOf(req).workspaceId).toEqualTypeOf<string | null>()
      expectTypeOf(portkeyOf(req).expiresAt).toEqualTypeOf<Date | null>()
      res.end()
    }
    expectTypeOf(handler).toBeFunction()
    expectTypeOf(portkeyAuth).returns.toEqualTypeOf<RequestHandler & { readonly verifier: Verifier }>()
    expectTypeOf(portkeyAuth).parameter(0).toEqualTypeOf<ExpressAuthOptions | Verifier | undefined>()
    expectTypeOf<Parameters<NonNullable<ExpressAuthOptions['onError']>>[0]>().toEqualTypeOf<AuthError>()
  })
})
