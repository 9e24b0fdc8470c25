import type { IncomingMessage } from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import { describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { AuthError } from '../../src/errors.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { sendRaw } from '../support/raw-socket.js'
import { closeAfterTest, FRAMEWORKS, type Framework, send, startExpress, startKoa, useStub } from '../support/servers.js'

// Issue 15 over HTTP, in Express and Koa, with `bearer: true`: `Authorization: Bearer <key>` when
// x-portkey-api-key is absent; hideCredentials removes whichever header carried the credential, and only that
// one; repeated Authorization lines (Node keeps only the first in req.headers) are refused (issue 22).

const KEY = 'pk-bearer-http-0123456789abcdef'
const UNKNOWN = 'pk-bearer-nobody-0123456789abcdef'
const PROVIDER = 'Bearer sk-provider-dummy-0123456789'

/** What the handler (or the app's error handler) read of the request's three header views. */
interface Views {
  code?: string
  portkey?: { keyId: string }
  headers: Record<string, unknown>
  distinct: Record<string, unknown>
  raw: string[]
}

const viewsOf = (req: IncomingMessage) => ({ headers: req.headers, distinct: req.headersDistinct, raw: req.rawHeaders })

/**
 * An app with `portkeyAuth(options)` (`publicRoutes: ['/health']`) whose rejections go to the app's own
 * error handling; handler and error handler answer with the header views (and the context, or the code).
 */
async function startApp(framework: Framework, options: MiddlewareOptions) {
  const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_bearer' }) } })
  const guard = { publicRoutes: ['/health'], ...options }
  // Bearer is what this suite is about: on unless the options say otherwise (it is off by default).
  if (!('verifier' in options)) Object.assign(guard, { controlPlaneUrl: stub.url, bearer: options.bearer ?? true })
  const running =
    framework === 'express'
      ? await startExpress((app) => {
          app.use(expressAuth({ ...guard, onError: (error: AuthError, _req, _res, next) => next(error) }))
          app.use((req, res) => void res.json({ portkey: req.portkey, ...viewsOf(req) }))
          app.use((error: AuthError, req: Request, res: Response, _next: NextFunction) => {
            res
              .status(error.status)
              .set(error.headers)
              .json({ code: error.code, message: error.message, ...viewsOf(req) })
          })
        })
      : await startKoa((app) => {
          app.use(async (ctx, next) => {
            try {
              await next()
            } catch (error) {
              const { status, code, message, headers } = error as AuthError
              ctx.status = status
              ctx.set(headers as Record<string, string>)
              ctx.body = { code, message, ...viewsOf(ctx.req) }
            }
          })
          app.use(
            koaAuth({
              ...guard,
              onError: (error) => {
                throw error
              },
            }),
          )
          app.use((ctx) => void (ctx.body = { portkey: ctx.state.portkey, ...viewsOf(ctx.req) }))
        })
  return { stub, app: closeAfterTest(running) }
}

const names = (views: Views) => views.raw.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())

/** No view holds an Authorization header, nor `secret` anywhere. */
function expectNoAuthorization(views: Views, secret: string) {
  expect(JSON.stringify(views)).not.toContain(secret)
  expect(views.headers).not.toHaveProperty('authorization')
  expect(views.distinct).not.toHaveProperty('authorization')
  expect(names(views)).not.toContain('authorization')
}

/** Every view holds the Authorization `value`, untouched. */
function expectAuthorization(views: Views, value: string) {
  expect(views.headers.authorization).toBe(value)
  expect(views.distinct.authorization).toEqual([value])
  expect(views.raw).toEqual(expect.arrayContaining(['Authorization', value]))
}

describe.each(FRAMEWORKS)('%s: Authorization: Bearer', (framework) => {
  test('a Bearer key is admitted (any case of the scheme); the handler sees it unless hideCredentials', async () => {
    const { stub, app } = await startApp(framework, {})
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await send(`${app.url}/v1/models`, { Authorization: `${scheme} ${KEY}` })
      expect(res.status).toBe(200)
      const views = res.json<Views>()
      expect(views.portkey?.keyId).toBe('key_bearer')
      expect(views.headers.authorization).toBe(`${scheme} ${KEY}`)
    }
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('a missing credential is 401 naming both headers; with bearer: false, x-portkey-api-key only', async () => {
    const on = await startApp(framework, {})
    const missing = await send(`${on.app.url}/v1/models`, { authorization: 'Basic dXNlcjpwYXNz' })
    expect(missing.status).toBe(401)
    expect(missing.headers['www-authenticate']).toBe(
      'Portkey realm="portkey", header="x-portkey-api-key", Bearer realm="portkey"',
    )
    expect(missing.json<{ message: string }>().message).toBe(
      'Missing credential: send your Portkey API key in the x-portkey-api-key header or as Authorization: Bearer <key>.',
    )
    const off = await startApp(framework, { bearer: false })
    const refused = await send(`${off.app.url}/v1/models`, { authorization: `Bearer ${KEY}` })
    expect(refused.status).toBe(401)
    expect(refused.json()).toMatchObject({
      code: 'missing_api_key',
      message: 'Missing credential: send your Portkey API key in the x-portkey-api-key header.',
    })
    expect(refused.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key"')
    expect(off.stub.calls()).toBe(0)
  })
})

describe.each(FRAMEWORKS)(
  '%s: hideCredentials removes the header that carried the credential, and only that one',
  (framework) => {
    test('Bearer-only, admitted (a miss, then from the cache): Authorization is gone from every view', async () => {
      const { stub, app } = await startApp(framework, { hideCredentials: true })
      for (let i = 0; i < 2; i++) {
        const res = await send(`${app.url}/v1/models`, { Authorization: `Bearer ${KEY}`, 'X-Trace': 'trace-1' })
        expect(res.status).toBe(200)
        const views = res.json<Views>()
        expect(views.portkey?.keyId).toBe('key_bearer')
        expectNoAuthorization(views, KEY)
        expect(views.headers).toMatchObject({ 'x-trace': 'trace-1' })
        expect(views.raw).toEqual(expect.arrayContaining(['X-Trace', 'trace-1']))
      }
      expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    })

    test.each<[string, Record<string, string>, number, string]>([
      ['an unknown Bearer key', { authorization: `Bearer ${UNKNOWN}` }, 401, 'invalid_api_key'],
      ['a malformed Bearer token', { authorization: `Bearer ${UNKNOWN} x` }, 401, 'invalid_api_key'],
      ['an oversize Bearer token', { authorization: `Bearer ${UNKNOWN}${'k'.repeat(4096)}` }, 400, 'invalid_request'],
    ])('refused (%s): the error handler sees no Authorization either', async (_name, headers, status, code) => {
      const { app } = await startApp(framework, { hideCredentials: true })
      const res = await send(`${app.url}/v1/models`, headers)
      expect(res.status).toBe(status)
      const views = res.json<Views>()
      expect(views.code).toBe(code)
      expectNoAuthorization(views, UNKNOWN)
    })

    test('with x-portkey-api-key present, that goes and the provider’s Authorization stays, in every view', async () => {
      const { app } = await startApp(framework, { hideCredentials: true })
      const res = await send(`${app.url}/v1/models`, { 'X-Portkey-Api-Key': KEY, Authorization: PROVIDER })
      expect(res.status).toBe(200)
      const views = res.json<Views>()
      expect(JSON.stringify(views)).not.toContain(KEY)
      expect(names(views)).not.toContain('x-portkey-api-key')
      expectAuthorization(views, PROVIDER)
    })

    test('with x-portkey-api-key present but refused, the provider’s Authorization stays too', async () => {
      const { app } = await startApp(framework, { hideCredentials: true })
      const res = await send(`${app.url}/v1/models`, { 'X-Portkey-Api-Key': UNKNOWN, Authorization: PROVIDER })
      expect(res.status).toBe(401)
      expectAuthorization(res.json<Views>(), PROVIDER)
    })

    test('an Authorization of another scheme (Basic) carried nothing and stays, on a refused and on a public route', async () => {
      const { app } = await startApp(framework, { hideCredentials: true })
      const basic = 'Basic dXNlcjpwYXNzd29yZA=='
      const refused = await send(`${app.url}/v1/models`, { Authorization: basic })
      expect(refused.status).toBe(401)
      expectAuthorization(refused.json<Views>(), basic)
      const open = await send(`${app.url}/health`, { Authorization: basic })
      expect(open.status).toBe(200)
      expectAuthorization(open.json<Views>(), basic)
    })

    test('a public route: a Bearer (a Portkey credential slot) goes, as x-portkey-api-key always went', async () => {
      const { stub, app } = await startApp(framework, { hideCredentials: true })
      const res = await send(`${app.url}/health`, { Authorization: `Bearer ${KEY}` })
      expect(res.status).toBe(200)
      expectNoAuthorization(res.json<Views>(), KEY)
      expect(stub.calls()).toBe(0)
    })

    test.each<[string, (url: string) => MiddlewareOptions]>([
      ['bearer: false', () => ({ bearer: false, hideCredentials: true })],
      [
        'a shared verifier made with bearer: false',
        (url) => ({ verifier: createVerifier({ controlPlaneUrl: url, bearer: false }), hideCredentials: true }),
      ],
    ])('%s: Authorization is a provider key and is never removed', async (_name, options) => {
      const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_bearer' }) } })
      const { app } = await startApp(framework, options(stub.url))
      const admitted = await send(`${app.url}/v1/models`, { 'X-Portkey-Api-Key': KEY, Authorization: PROVIDER })
      expect(admitted.status).toBe(200)
      expectAuthorization(admitted.json<Views>(), PROVIDER)
      const refused = await send(`${app.url}/v1/models`, { Authorization: PROVIDER })
      expect(refused.json()).toMatchObject({ code: 'missing_api_key' })
      expectAuthorization(refused.json<Views>(), PROVIDER)
      const open = await send(`${app.url}/health`, { Authorization: PROVIDER })
      expect(open.status).toBe(200)
      expectAuthorization(open.json<Views>(), PROVIDER)
    })
  },
)

describe.each(FRAMEWORKS)('%s: a repeated Authorization header, sent raw', (framework) => {
  // Node keeps only the first of repeated Authorization lines in req.headers (authorization is one of the
  // headers whose duplicates it discards); headersDistinct and rawHeaders keep both.
  const twice = (first: string, second: string) => `Bearer ${first}\r\nauthorization: Bearer ${second}`

  test('Node keeps only the first in req.headers: the request is refused 400, neither line looked up', async () => {
    const { stub, app } = await startApp(framework, {})
    for (const [first, second] of [
      [KEY, UNKNOWN],
      [UNKNOWN, KEY],
    ]) {
      const res = await sendRaw(app.url, '/v1/models', { headers: { Authorization: twice(first!, second!) } })
      expect(res.status).toBe(400)
      const views = res.json<Views>()
      expect(views.code).toBe('invalid_request')
      expect(views.distinct.authorization).toEqual([`Bearer ${first}`, `Bearer ${second}`])
    }
    expect(stub.calls()).toBe(0)
  })

  test('with hideCredentials, every Authorization line goes from every view of the refused request', async () => {
    const { app } = await startApp(framework, { hideCredentials: true })
    const res = await sendRaw(app.url, '/v1/models', { headers: { Authorization: twice(KEY, UNKNOWN), 'X-Trace': 'trace-1' } })
    expect(res.status).toBe(400)
    const views = res.json<Views>()
    expectNoAuthorization(views, KEY)
    expect(JSON.stringify(views)).not.toContain(UNKNOWN)
    expect(views.distinct).toMatchObject({ 'x-trace': ['trace-1'] })
  })
})
