import { describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { sendRaw } from '../support/raw-socket.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { type StartSpec, useApp } from '../support/apps.js'
import { send, useStub } from '../support/servers.js'

// Issue 15 over HTTP, on every adapter, with `bearer: true`: `Authorization: Bearer <key>` when
// x-portkey-api-key is absent; hideCredentials removes whichever header carried the credential, and only that
// one; repeated Authorization lines (Node keeps only the first in req.headers) are refused (issue 22).

const KEY = 'pk-bearer-http-0123456789abcdef'
const UNKNOWN = 'pk-bearer-nobody-0123456789abcdef'
const PROVIDER = 'Bearer sk-provider-dummy-0123456789'

/** What the handler (or the app's error handler) read of the request's header views. */
interface Views {
  code?: string
  portkey?: { keyId: string }
  headers: Record<string, unknown>
  /** Node's, where the handler reads Node's request (not the Web adapter's). */
  distinct: Record<string, unknown>
  raw: string[]
  web?: Record<string, string>
}

/**
 * An app with `portkeyAuth(options)` (`publicRoutes: ['/health']` where the adapter takes it) whose rejections
 * go to the app's own error handling; handler and error handler answer with the header views (and the
 * context, or the code).
 */
const viewsApp = (framework: AdapterName, options: MiddlewareOptions) =>
  ({
    stub: { keys: { [KEY]: keyRecord({ id: 'key_bearer' }) } },
    auth: (stub) => {
      const guard: MiddlewareOptions = { ...(capabilities(framework).publicRoutes && { publicRoutes: ['/health'] }), ...options }
      // Bearer is what this suite is about: on unless the options say otherwise (it is off by default).
      if (!('verifier' in options)) Object.assign(guard, { controlPlaneUrl: stub.url, bearer: options.bearer ?? true })
      return guard
    },
    onError: {
      via: 'app',
      answer: (error, seen) => ({
        status: error.status,
        headers: error.headers as Record<string, string>,
        body: { code: error.code, message: error.message, ...seen.views() },
      }),
    },
    routes: [{ answer: (seen) => ({ portkey: seen.portkey, ...seen.views() }) }],
  }) satisfies StartSpec

/** Two Authorization lines, as one header value for sendRaw(). */
const twice = (first: string, second: string) => `Bearer ${first}\r\nauthorization: Bearer ${second}`

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

describe.each(ADAPTERS)('%s: Authorization: Bearer', (framework) => {
  test('a Bearer key is admitted (any case of the scheme); the handler sees it unless hideCredentials', async () => {
    const app = await useApp(framework, viewsApp(framework, {}))
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await send(`${app.url}/v1/models`, { Authorization: `${scheme} ${KEY}` })
      expect(res.status).toBe(200)
      const views = res.json<Views>()
      expect(views.portkey?.keyId).toBe('key_bearer')
      expect(views.headers.authorization).toBe(`${scheme} ${KEY}`)
    }
    expect(app.stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('a missing credential is 401 naming both headers; with bearer: false, x-portkey-api-key only', async () => {
    const on = await useApp(framework, viewsApp(framework, {}))
    const missing = await send(`${on.url}/v1/models`, { authorization: 'Basic dXNlcjpwYXNz' })
    expect(missing.status).toBe(401)
    expect(missing.headers['www-authenticate']).toBe(
      'Portkey realm="portkey", header="x-portkey-api-key", Bearer realm="portkey"',
    )
    expect(missing.json<{ message: string }>().message).toBe(
      'Missing credential: send your Portkey API key in the x-portkey-api-key header or as Authorization: Bearer <key>.',
    )
    const off = await useApp(framework, viewsApp(framework, { bearer: false }))
    const refused = await send(`${off.url}/v1/models`, { authorization: `Bearer ${KEY}` })
    expect(refused.status).toBe(401)
    expect(refused.json()).toMatchObject({
      code: 'missing_api_key',
      message: 'Missing credential: send your Portkey API key in the x-portkey-api-key header.',
    })
    expect(refused.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key"')
    expect(off.stub.calls()).toBe(0)
  })
})

describe.each(ADAPTERS.filter((adapter) => !capabilities(adapter).hideCredentials))('%s: hideCredentials', (framework) => {
  // A Web Request's headers may be immutable (Deno, Workers): forward a request built without the key instead.
  test('is refused when the guard is made, with a TypeError saying what to do instead', async () => {
    await expect(useApp(framework, viewsApp(framework, { hideCredentials: true }))).rejects.toThrow(
      /hideCredentials is not supported/,
    )
  })
})

describe.each(ADAPTERS.filter((adapter) => capabilities(adapter).hideCredentials))(
  '%s: hideCredentials removes the header that carried the credential, and only that one',
  (framework) => {
    test('Bearer-only, admitted (a miss, then from the cache): Authorization is gone from every view', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      for (let i = 0; i < 2; i++) {
        const res = await send(`${app.url}/v1/models`, { Authorization: `Bearer ${KEY}`, 'X-Trace': 'trace-1' })
        expect(res.status).toBe(200)
        const views = res.json<Views>()
        expect(views.portkey?.keyId).toBe('key_bearer')
        expectNoAuthorization(views, KEY)
        expect(views.headers).toMatchObject({ 'x-trace': 'trace-1' })
        expect(views.raw).toEqual(expect.arrayContaining(['X-Trace', 'trace-1']))
      }
      expect(app.stub.calls(KEY_DETAILS_PATH)).toBe(1)
    })

    test.each<[string, Record<string, string>, number, string]>([
      ['an unknown Bearer key', { authorization: `Bearer ${UNKNOWN}` }, 401, 'invalid_api_key'],
      ['a malformed Bearer token', { authorization: `Bearer ${UNKNOWN} x` }, 401, 'invalid_api_key'],
      ['an oversize Bearer token', { authorization: `Bearer ${UNKNOWN}${'k'.repeat(4096)}` }, 400, 'invalid_request'],
    ])('refused (%s): the error handler sees no Authorization either', async (_name, headers, status, code) => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const res = await send(`${app.url}/v1/models`, headers)
      expect(res.status).toBe(status)
      const views = res.json<Views>()
      expect(views.code).toBe(code)
      expectNoAuthorization(views, UNKNOWN)
    })

    test('with x-portkey-api-key present, that goes and the provider’s Authorization stays, in every view', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const res = await send(`${app.url}/v1/models`, { 'X-Portkey-Api-Key': KEY, Authorization: PROVIDER })
      expect(res.status).toBe(200)
      const views = res.json<Views>()
      expect(JSON.stringify(views)).not.toContain(KEY)
      expect(names(views)).not.toContain('x-portkey-api-key')
      expectAuthorization(views, PROVIDER)
    })

    test('with x-portkey-api-key present but refused, the provider’s Authorization stays too', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const res = await send(`${app.url}/v1/models`, { 'X-Portkey-Api-Key': UNKNOWN, Authorization: PROVIDER })
      expect(res.status).toBe(401)
      expectAuthorization(res.json<Views>(), PROVIDER)
    })

    test('an Authorization of another scheme (Basic) carried nothing and stays, on a refused and on a public route', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const basic = 'Basic dXNlcjpwYXNzd29yZA=='
      const refused = await send(`${app.url}/v1/models`, { Authorization: basic })
      expect(refused.status).toBe(401)
      expectAuthorization(refused.json<Views>(), basic)
      const open = await send(`${app.url}/health`, { Authorization: basic })
      expect(open.status).toBe(200)
      expectAuthorization(open.json<Views>(), basic)
    })

    test('a public route: a Bearer (a Portkey credential slot) goes, as x-portkey-api-key always went', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const res = await send(`${app.url}/health`, { Authorization: `Bearer ${KEY}` })
      expect(res.status).toBe(200)
      expectNoAuthorization(res.json<Views>(), KEY)
      expect(app.stub.calls()).toBe(0)
    })

    test.each<[string, (url: string) => MiddlewareOptions]>([
      ['bearer: false', () => ({ bearer: false, hideCredentials: true })],
      [
        'a shared verifier made with bearer: false',
        (url) => ({ verifier: createVerifier({ controlPlaneUrl: url, bearer: false }), hideCredentials: true }),
      ],
    ])('%s: Authorization is a provider key and is never removed', async (_name, options) => {
      const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_bearer' }) } })
      const app = await useApp(framework, viewsApp(framework, options(stub.url)))
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

    test('a repeated Authorization, sent raw: every line goes from every view of the refused request', async () => {
      const app = await useApp(framework, viewsApp(framework, { hideCredentials: true }))
      const res = await sendRaw(app.url, '/v1/models', { headers: { Authorization: twice(KEY, UNKNOWN), 'X-Trace': 'trace-1' } })
      expect(res.status).toBe(400)
      const views = res.json<Views>()
      expectNoAuthorization(views, KEY)
      expect(JSON.stringify(views)).not.toContain(UNKNOWN)
      expect(views.distinct).toMatchObject({ 'x-trace': ['trace-1'] })
    })
  },
)

describe.each(ADAPTERS)('%s: a repeated Authorization header, sent raw', (framework) => {
  // Node keeps only the first of repeated Authorization lines in req.headers (authorization is one of the
  // headers whose duplicates it discards); headersDistinct and rawHeaders keep both.

  test('Node keeps only the first in req.headers: the request is refused 400, neither line looked up', async () => {
    const app = await useApp(framework, viewsApp(framework, {}))
    for (const [first, second] of [
      [KEY, UNKNOWN],
      [UNKNOWN, KEY],
    ]) {
      const res = await sendRaw(app.url, '/v1/models', { headers: { Authorization: twice(first!, second!) } })
      expect(res.status).toBe(400)
      const views = res.json<Views>()
      expect(views.code).toBe('invalid_request')
      // Node's request keeps both lines apart; a Web Request joins them, as the guard read them.
      if (capabilities(framework).nodeRequest)
        expect(views.distinct.authorization).toEqual([`Bearer ${first}`, `Bearer ${second}`])
      else expect(views.web?.authorization).toBe(`Bearer ${first}, Bearer ${second}`)
    }
    expect(app.stub.calls()).toBe(0)
  })
})
