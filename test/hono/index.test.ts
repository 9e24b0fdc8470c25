import type { IncomingMessage } from 'node:http'
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import {
  type HonoAuthOptions,
  type PortkeyAuthMiddleware,
  type PortkeyEnv,
  portkeyAuth,
  portkeyOf,
  requirePermissions,
} from '../../src/hono/index.js'
import { KEY_DETAILS_PATH, keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { PortkeyAuth } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { describeAdapterContract } from '../support/adapter-contract.js'
import { sendRaw } from '../support/raw-socket.js'
import { closeAfterTest, expectRejection, LIVE, seedKeys, send, sleep, UNKNOWN, useStub } from '../support/servers.js'
import { RUNTIME, servedUrl } from '../web/server.js'
import { startHono } from './server.js'

describeAdapterContract('hono')

/** A Hono app served on Node: `setup` adds middleware and routes; errors reaching app.onError are kept. */
async function serveApp(setup: (app: Hono<PortkeyEnv>) => void) {
  const errors: Error[] = []
  const app = new Hono<PortkeyEnv>()
  app.onError((error, c) => {
    errors.push(error)
    return c.text(
      `app.onError: ${error instanceof AuthError ? error.code : 'bug'}`,
      error instanceof AuthError ? (error.status as 500) : 500,
    )
  })
  setup(app)
  const running = closeAfterTest(await startHono(app))
  return { ...running, errors, app }
}

describe('hono: onError', () => {
  test('a Response of its own, sync or async, replaces the default answer; the handler never runs', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: string[] = []
    let reached = 0
    const app = await serveApp((app) => {
      app.use('/sync/*', portkeyAuth({ controlPlaneUrl: stub.url, onError: (error, c) => c.text(`denied: ${error.code}`, 418) }))
      app.use(
        '/async/*',
        portkeyAuth({
          controlPlaneUrl: stub.url,
          async onError(error, c) {
            await sleep(10)
            seen.push(`${error.code} ${c.req.path}`)
            return c.json({ mine: error.code }, 401)
          },
        }),
      )
      app.all('*', (c) => c.text(String(++reached)))
    })
    const sync = await send(`${app.url}/sync/x`, { 'x-portkey-api-key': UNKNOWN })
    expect([sync.status, sync.text]).toEqual([418, 'denied: invalid_api_key'])
    const async = await send(`${app.url}/async/y`)
    expect([async.status, async.json()]).toEqual([401, { mine: 'missing_api_key' }])
    expect(seen).toEqual(['missing_api_key /async/y'])
    expect(reached).toBe(0)
    expect((await send(`${app.url}/sync/x`, { 'x-portkey-api-key': LIVE })).text).toBe('1')
  })

  test('(error) => { throw error } hands the AuthError to app.onError, cached or looked up', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await serveApp((app) => {
      app.use(
        portkeyAuth({
          controlPlaneUrl: stub.url,
          onError: (error) => {
            throw error
          },
        }),
      )
      app.all('*', (c) => c.text('ok'))
    })
    for (const key of [UNKNOWN, UNKNOWN, 'pk-exhausted']) await send(app.url, { 'x-portkey-api-key': key })
    const missing = await send(app.url)
    expect([missing.status, missing.text]).toEqual([401, 'app.onError: missing_api_key'])
    expect(app.errors.map((error) => (error as AuthError).code)).toEqual([
      'invalid_api_key',
      'invalid_api_key',
      'usage_limit_exceeded',
      'missing_api_key',
    ])
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
  ])('an error that is not an AuthError (%s) skips onError and reaches app.onError', async (_how, check) => {
    const broken: Verifier = { ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }), check }
    let onErrorCalls = 0
    const app = await serveApp((app) => {
      app.use(portkeyAuth({ verifier: broken, onError: (_error, c) => (onErrorCalls++, c.text('no')) }))
      app.all('*', (c) => c.text('reached'))
    })
    const res = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([res.status, res.text]).toEqual([500, 'app.onError: bug'])
    expect(app.errors).toEqual([boom])
    expect(onErrorCalls).toBe(0)
  })

  test('without app.onError, a rethrown AuthError is its own answer (getResponse()), not a 500', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = new Hono()
      .use(
        portkeyAuth({
          controlPlaneUrl: stub.url,
          onError: (error) => {
            throw error
          },
        }),
      )
      .get('/', (c) => c.text('ok'))
    const res = await app.request('/', { headers: { 'x-portkey-api-key': UNKNOWN } })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_api_key"')
    expect(await res.json()).toMatchObject({
      status: 'failure',
      error: { code: 'invalid_api_key', type: 'authentication_error' },
    })
    expect((await app.request('/', { headers: { 'x-portkey-api-key': LIVE } })).status).toBe(200)
  })

  test('without app.onError, a bug is Hono’s plain 500', async () => {
    const broken: Verifier = {
      ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }),
      check: () => {
        throw new Error('verifier broke')
      },
    }
    const app = new Hono().use(portkeyAuth(broken))
    const errors: unknown[] = []
    const original = console.error
    console.error = (error: unknown) => void errors.push(error)
    try {
      const res = await app.request('/', { headers: { 'x-portkey-api-key': LIVE } })
      expect([res.status, await res.text()]).toEqual([500, 'Internal Server Error'])
    } finally {
      console.error = original
    }
    expect(errors).toHaveLength(1)
  })
})

describe('hono: requirePermissions', () => {
  const READER = 'pk-reader-0123456789abcdef'
  async function setup(options: Partial<HonoAuthOptions> = {}) {
    const stub = await useStub({ keys: { [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }) } })
    return serveApp((app) => {
      app.use('/v1/*', portkeyAuth({ controlPlaneUrl: stub.url, ...options }))
      app.get('/v1/logs', requirePermissions('logs.read'), (c) => c.json({ ok: c.get('portkey').keyId }))
      app.post('/v1/logs', requirePermissions('logs.read', 'logs.write'), (c) => c.json({ ok: 'written' }))
      app.get('/open/logs', requirePermissions('logs.read'), (c) => c.json({ ok: 'open' }))
    })
  }

  test('passes a caller holding every scope; 403 insufficient_scope naming the missing ones', async () => {
    const app = await setup()
    const ok = await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER })
    expect([ok.status, ok.json()]).toEqual([200, { ok: 'key_reader' }])
    const denied = await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER }, { method: 'POST' })
    expect(expectRejection(denied, 403, 'insufficient_scope', [READER]).message).toBe('Missing permission: logs.write.')
    expect(denied.headers['www-authenticate']).toContain('scope="logs.write"')
  })

  test('goes through the onError of the portkeyAuth() before it', async () => {
    const app = await setup({ onError: (error, c) => c.text(`mine: ${error.code}`, 499 as 400) })
    const denied = await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER }, { method: 'POST' })
    expect([denied.status, denied.text]).toEqual([499, 'mine: insufficient_scope'])
  })

  test('without portkeyAuth() before it: 500 auth_misconfigured, and the route never runs', async () => {
    const app = await setup()
    const res = await send(`${app.url}/open/logs`, { 'x-portkey-api-key': READER })
    expect(expectRejection(res, 500, 'auth_misconfigured').message).toMatch(/without portkeyAuth\(\)/)
  })

  test('no scope, or an empty one, is a TypeError when called', () => {
    expect(() => requirePermissions()).toThrow(TypeError)
    expect(() => requirePermissions('')).toThrow(TypeError)
  })
})

describe('hono: portkeyOf and publicRoutes', () => {
  test('on a public route there is no context: c.get() is undefined, portkeyOf(c) throws the 500 to app.onError', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await serveApp((app) => {
      app.use(portkeyAuth({ controlPlaneUrl: stub.url, publicRoutes: ['GET /health', '/docs/*'] }))
      app.get('/health', (c) => c.json({ portkey: c.get('portkey') ?? null }))
      app.get('/docs/me', (c) => c.json(portkeyOf(c)))
      app.get('/me', (c) => c.json({ keyId: portkeyOf(c).keyId }))
    })
    const health = await send(`${app.url}/health`, { 'x-portkey-api-key': UNKNOWN })
    expect([health.status, health.json()]).toEqual([200, { portkey: null }])
    const docs = await send(`${app.url}/docs/me`)
    expect([docs.status, docs.text]).toEqual([500, 'app.onError: auth_misconfigured'])
    expect((await send(`${app.url}/me`, { 'x-portkey-api-key': LIVE })).json()).toEqual({ keyId: 'key_live' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })
})

describe('hono: hideCredentials', () => {
  const SECRET = 'x-portkey-api-key'

  /** What a handler can see of the credential, in every place it might look. */
  function views(c: Context) {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
    return {
      header: c.req.header(SECRET) ?? null,
      all: c.req.header()[SECRET] ?? null,
      raw: c.req.raw.headers.get(SECRET),
      forwarded: new Request('http://upstream.invalid/', { headers: c.req.raw.headers }).headers.get(SECRET),
      incoming: incoming === undefined ? 'none' : (incoming.headers[SECRET] ?? incoming.headersDistinct[SECRET] ?? null),
      rawHeaders: incoming === undefined ? 'none' : incoming.rawHeaders.filter((line) => line.toLowerCase() === SECRET).length,
      others: [c.req.header('x-portkey-provider') ?? null, c.req.header('authorization') ?? null],
    }
  }
  // Node's request is there under @hono/node-server only (not under Bun.serve or Deno.serve).
  const ON_NODE = RUNTIME === 'node'
  const HIDDEN = {
    header: null,
    all: null,
    raw: null,
    forwarded: null,
    incoming: ON_NODE ? null : 'none',
    rawHeaders: ON_NODE ? 0 : 'none',
  }
  const OTHERS = { 'x-portkey-provider': 'openai', authorization: 'Bearer sk-provider-dummy' }

  async function setup(options: Partial<HonoAuthOptions>, before?: MiddlewareHandler) {
    const stub = await useStub({ keys: seedKeys() })
    const seen: ReturnType<typeof views>[] = []
    const bodies: string[] = []
    const app = await serveApp((app) => {
      if (before) app.use(before)
      app.use(
        portkeyAuth({
          controlPlaneUrl: stub.url,
          hideCredentials: true,
          publicRoutes: ['/public'],
          onError: (error, c) => (seen.push(views(c)), c.json({ refused: error.code }, 401)),
          ...options,
        }),
      )
      app.all('*', async (c) => {
        seen.push(views(c))
        // The copy Hono would pass on (new Request(c.req.raw)) carries no credential either.
        const copy = new Request(c.req.raw)
        if (c.req.method === 'POST') bodies.push(await copy.text())
        return c.json({ forwardedCopy: copy.headers.get(SECRET), keyId: c.get('portkey')?.keyId ?? null })
      })
    })
    return { app, seen, bodies }
  }

  test.each([
    ['admitted', LIVE, '/x', 200],
    ['refused', UNKNOWN, '/x', 401],
    ['public', LIVE, '/public', 200],
  ])('%s: gone from c.req, c.req.raw, a forwarded copy and Node’s request', async (_name, key, path, status) => {
    const { app, seen } = await setup({})
    const res = await send(app.url + path, { [SECRET]: key, ...OTHERS })
    expect(res.status).toBe(status)
    if (status === 200) expect(res.json()).toMatchObject({ forwardedCopy: null })
    expect(seen).toEqual([{ ...HIDDEN, others: ['openai', 'Bearer sk-provider-dummy'] }])
  })

  test('whichever headers the shared rule removes go from every view: Authorization, when it carried the key (Bearer)', async () => {
    const { app, seen } = await setup({ bearer: true })
    const res = await send(`${app.url}/x`, { authorization: `Bearer ${LIVE}`, 'x-portkey-provider': 'openai' })
    expect(res.json()).toMatchObject({ keyId: 'key_live' })
    expect(seen).toEqual([{ ...HIDDEN, others: ['openai', null] }])
  })

  test('a POST body still reaches the handler whole', async () => {
    const { app, bodies } = await setup({})
    const res = await send(
      `${app.url}/x`,
      { [SECRET]: LIVE, 'content-type': 'application/json' },
      { method: 'POST', body: '{"a":1}' },
    )
    expect(res.status).toBe(200)
    expect(bodies).toEqual(['{"a":1}'])
  })

  test('also when a middleware before it made @hono/node-server build its full Request (the body, the signal)', async () => {
    const { app, seen, bodies } = await setup({}, async (c, next) => {
      void c.req.raw.signal
      await next()
    })
    const res = await send(`${app.url}/x`, { [SECRET]: LIVE }, { method: 'POST', body: 'kept' })
    expect(res.json()).toMatchObject({ forwardedCopy: null, keyId: 'key_live' })
    expect(seen).toEqual([{ ...HIDDEN, others: [null, null] }])
    expect(bodies).toEqual(['kept'])
  })

  // Attack on #hono-node-request: the check reads Node's headers only while @hono/node-server's stand-in is
  // untouched; whatever a middleware before did to the request, the credential still leaves every view.
  test.each([
    [
      'read c.req.raw.headers (the stand-in built its Headers)',
      async (c: Context, next: () => Promise<void>) => {
        void c.req.raw.headers.get('x-portkey-provider')
        await next()
      },
    ],
    [
      'put another Request in c.req.raw (a copy, with a header of its own)',
      async (c: Context, next: () => Promise<void>) => {
        const headers = new Headers(c.req.raw.headers)
        headers.set('x-added', '1')
        c.req.raw = new Request(c.req.raw, { headers })
        await next()
      },
    ],
  ])('a middleware before it %s: still gone from every view, admitted and refused', async (_name, before) => {
    for (const [key, status] of [
      [LIVE, 200],
      [UNKNOWN, 401],
    ] as const) {
      const { app, seen } = await setup({}, before)
      const res = await send(`${app.url}/x`, { [SECRET]: key, ...OTHERS })
      expect(res.status).toBe(status)
      if (status === 200) expect(res.json()).toMatchObject({ forwardedCopy: null, keyId: 'key_live' })
      expect(seen).toEqual([{ ...HIDDEN, others: ['openai', 'Bearer sk-provider-dummy'] }])
    }
  })

  test('two credential lines, in two spellings of the name (raw socket): refused, and every line gone', async () => {
    if (!ON_NODE) return
    const { app, seen } = await setup({})
    const res = await sendRaw(app.url, '/x', { headers: { 'X-Portkey-Api-Key': LIVE, [SECRET]: LIVE, ...OTHERS } })
    expect(res.status).toBe(401)
    expect(seen).toEqual([{ ...HIDDEN, others: ['openai', 'Bearer sk-provider-dummy'] }])
  })

  test('without it, every view keeps the header', async () => {
    const { app, seen } = await setup({ hideCredentials: false })
    await send(`${app.url}/x`, { [SECRET]: LIVE })
    expect(seen[0]).toMatchObject({
      header: LIVE,
      raw: LIVE,
      incoming: ON_NODE ? LIVE : 'none',
      rawHeaders: ON_NODE ? 1 : 'none',
    })
  })

  test('app.request() (no Node request): removed from the Request itself', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = new Hono()
      .use(portkeyAuth({ controlPlaneUrl: stub.url, hideCredentials: true }))
      .all('*', (c) => c.json({ ...views(c), keyId: c.get('portkey').keyId }))
    const res = await app.request('/x', { headers: { [SECRET]: LIVE, authorization: 'Bearer sk-provider-dummy' } })
    expect(await res.json()).toEqual({
      ...HIDDEN,
      incoming: 'none',
      rawHeaders: 'none',
      others: [null, 'Bearer sk-provider-dummy'],
      keyId: 'key_live',
    })
  })

  test('immutable headers (as on Deno or Workers): c.req.raw is replaced by a copy without it, body and all', async () => {
    const original = new Request('http://localhost/x?q=1', {
      method: 'POST',
      body: 'payload',
      headers: { [SECRET]: LIVE, 'content-type': 'text/plain' },
    })
    const immutable = new Headers(original.headers)
    Object.defineProperty(immutable, 'delete', {
      value: () => {
        throw new TypeError('immutable')
      },
    })
    Object.defineProperty(original, 'headers', { value: immutable })
    const stub = await useStub({ keys: seedKeys() })
    const app = new Hono().use(portkeyAuth({ controlPlaneUrl: stub.url, hideCredentials: true })).post('/x', async (c) => {
      return c.json({
        replaced: c.req.raw !== original,
        header: c.req.header(SECRET) ?? null,
        type: c.req.header('content-type'),
        url: c.req.url,
        body: await c.req.text(),
        keyId: c.get('portkey').keyId,
      })
    })
    const res = await app.request(original)
    expect(await res.json()).toEqual({
      replaced: true,
      header: null,
      type: 'text/plain',
      url: 'http://localhost/x?q=1',
      body: 'payload',
      keyId: 'key_live',
    })
    expect(immutable.get(SECRET)).toBe(LIVE)
  })
})

describe('hono: the path the scope map sees', () => {
  const WRITER = 'pk-writer-0123456789abcdef'
  const READER = 'pk-reader-0123456789abcdef'

  async function setup(scopes: HonoAuthOptions['scopes'] | null = 'portkey', base = '') {
    const stub = await useStub({
      keys: {
        [WRITER]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
        [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
      },
    })
    const reached: string[] = []
    const inner = new Hono()
    inner.use(portkeyAuth({ controlPlaneUrl: stub.url, ...(scopes === null ? {} : { scopes }) }))
    inner.post('/v1/chat/completions', (c) =>
      c.json({ route: 'chat', path: c.req.path }, 200, { 'x-route': String(reached.push('chat')) }),
    )
    inner.all('*', (c) => c.json({ route: 'other', path: c.req.path }, 200, { 'x-route': String(reached.push('other')) }))
    const app = base === '' ? inner : new Hono().route(base, inner)
    const running = closeAfterTest(await startHono(app))
    const post = (target: string, key: string) =>
      sendRaw(running.url, target, { method: 'POST', headers: { 'x-portkey-api-key': key } })
    return { app, reached, post }
  }

  test('Hono decodes %63 and routes to the chat route; the scope map sees it encoded and refuses 400', async () => {
    const open = await setup(null)
    expect((await open.post('/v1/chat/%63ompletions', READER)).json()).toEqual({ route: 'chat', path: '/v1/chat/completions' })
    const guarded = await setup()
    for (const key of [WRITER, READER])
      expectRejection(await guarded.post('/v1/chat/%63ompletions', key), 400, 'invalid_request', [key])
    expectRejection(
      await toRaw(
        await guarded.app.request('/v1/chat/%63ompletions', { method: 'POST', headers: { 'x-portkey-api-key': WRITER } }),
      ),
      400,
      'invalid_request',
    )
    expect(guarded.reached).toEqual([])
  })

  test.each(['/v1/x/../chat/completions', '/v1/./chat/completions', '/v1/x/%2e%2E/chat/completions'])(
    '%s: resolved by the URL before Hono routes it, and checked as the route it reaches (kept, and refused, on Deno)',
    async (target) => {
      const { post, reached } = await setup()
      if ((await servedUrl(target)).endsWith('/v1/chat/completions')) {
        expect((await post(target, WRITER)).json()).toEqual({ route: 'chat', path: '/v1/chat/completions' })
        expectRejection(await post(target, READER), 403, 'insufficient_scope', [READER])
        expect(reached).toEqual(['chat'])
      } else {
        expectRejection(await post(target, WRITER), 400, 'invalid_request', [WRITER])
        expect(reached).toEqual([])
      }
    },
  )

  test.runIf(RUNTIME === 'node').each(['/v1\\chat\\completions', '*', 'http://[::1/v1/chat/completions'])(
    '%s: refused 400 by @hono/node-server before Hono, never reaching a handler',
    async (target) => {
      const { post, reached } = await setup()
      const res = await post(target, WRITER)
      expect(res.status).toBe(400)
      expect(reached).toEqual([])
    },
  )

  test('under app.route() or basePath(), the full path is checked', async () => {
    const { post, reached } = await setup({ 'POST /api/v1/chat/completions': 'completions.write' }, '/api')
    expect((await post('/api/v1/chat/completions', WRITER)).json()).toEqual({ route: 'chat', path: '/api/v1/chat/completions' })
    expectRejection(await post('/api/v1/chat/completions', READER), 403, 'insufficient_scope', [READER])
    expect((await post('/api/v1/other', READER)).status).toBe(200)
    expect(reached).toEqual(['chat', 'other'])
  })
})

/** A fetch Response as the helpers' RawResponse. */
async function toRaw(res: Response) {
  const text = await res.text()
  return { status: res.status, headers: Object.fromEntries(res.headers), text, json: <T>() => JSON.parse(text) as T }
}

describe('hono: app.request(), with no server', () => {
  test('the same answers: 401 with the JSON body and challenge, then the context', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const auth = portkeyAuth({ controlPlaneUrl: stub.url })
    const app = new Hono().use(auth).get('/whoami', (c) => c.json({ portkey: c.get('portkey') }))
    const missing = await toRaw(await app.request('/whoami'))
    expectRejection(missing, 401, 'missing_api_key')
    expect(missing.headers['www-authenticate']).toMatch(/^Portkey realm="portkey", header="x-portkey-api-key"/)
    const ok = await app.request('/whoami', { headers: { 'x-portkey-api-key': LIVE } })
    expect(await ok.json()).toMatchObject({ portkey: { keyId: 'key_live' } })
    expect(auth.verifier.stats()).toMatchObject({ misses: 1, lookups: 1 })
  })
})

describe('hono: auth.verifier', () => {
  test('is the verifier passed in (alone or as { verifier }); the middleware keeps its name', () => {
    const verifier = createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' })
    expect(portkeyAuth(verifier).verifier).toBe(verifier)
    expect(portkeyAuth({ verifier }).verifier).toBe(verifier)
    const made = portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    expect(made.verifier).not.toBe(verifier)
    expect(() => Object.assign(made, { verifier })).toThrow(TypeError)
    expect(made.name).toBe('portkeyAuth')
    expect(requirePermissions('x').name).toBe('requirePermissions')
  })
})

describe('hono: types', () => {
  test("c.get('portkey') is PortkeyAuth under new Hono<PortkeyEnv>() and after use(portkeyAuth())", () => {
    expectTypeOf(portkeyAuth).returns.toEqualTypeOf<PortkeyAuthMiddleware>()
    expectTypeOf<PortkeyAuthMiddleware>().toEqualTypeOf<MiddlewareHandler<PortkeyEnv> & { readonly verifier: Verifier }>()
    expectTypeOf(portkeyAuth).parameter(0).toEqualTypeOf<HonoAuthOptions | Verifier | undefined>()
    expectTypeOf<Parameters<NonNullable<HonoAuthOptions['onError']>>[0]>().toEqualTypeOf<AuthError>()
    expectTypeOf(portkeyOf).returns.toEqualTypeOf<PortkeyAuth>()

    const typed = new Hono<PortkeyEnv>().get('/', (c) => {
      expectTypeOf(c.get('portkey')).toEqualTypeOf<PortkeyAuth>()
      expectTypeOf(c.var.portkey.scopes).toEqualTypeOf<readonly string[]>()
      return c.text('ok')
    })
    const chained = new Hono().use(portkeyAuth()).get('/', (c) => {
      expectTypeOf(c.get('portkey')).toEqualTypeOf<PortkeyAuth>()
      expectTypeOf(c.get('portkey')).not.toBeAny()
      return c.text(portkeyOf(c).keyId)
    })
    expectTypeOf(typed).not.toBeAny()
    expectTypeOf(chained).not.toBeAny()
  })
})

describe('hono: the middleware checks the headers and the route the app and its router see (issue 22)', () => {
  const READER = 'pk-hono-nobody-0123456789abcdef'
  async function setup(before: MiddlewareHandler<PortkeyEnv>) {
    const stub = await useStub({
      keys: { ...seedKeys(), [READER]: keyRecord({ id: 'key_noscope', scopes: [] }) },
      virtualKeys: { 'vk-1': virtualKeyRecord({ slug: 'vk-1' }) },
    })
    const seen: Array<{ path: string; virtualKey: unknown }> = []
    const app = await serveApp((app) => {
      app.use(before)
      app.use(portkeyAuth({ controlPlaneUrl: stub.url, scopes: 'portkey' }))
      app.all('*', (c) => {
        seen.push({ path: c.req.path, virtualKey: c.get('portkey').virtualKey })
        return c.json({ ok: true })
      })
    })
    return { app, stub, seen }
  }

  test('a middleware that edits c.req.raw.headers (drops the virtual key): the edit holds on Node too', async () => {
    const { app, stub, seen } = await setup(async (c, next) => {
      c.req.raw.headers.delete('x-portkey-virtual-key')
      await next()
    })
    const res = await send(`${app.url}/v1/chat/completions`, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'vk-1' })
    expect(res.status).toBe(200)
    expect(seen).toEqual([{ path: '/v1/chat/completions', virtualKey: null }])
    expect(stub.calls()).toBe(1)
  })

  test('a middleware that puts another Request in c.req.raw (without the key): its headers are the ones checked', async () => {
    const { app, stub } = await setup(async (c, next) => {
      const headers = new Headers(c.req.raw.headers)
      headers.delete('x-portkey-api-key')
      c.req.raw = new Request(c.req.raw.url, { headers })
      await next()
    })
    expectRejection(await send(`${app.url}/v1/chat/completions`, { 'x-portkey-api-key': LIVE }), 401, 'missing_api_key', [LIVE])
    expect(stub.calls()).toBe(0)
  })

  test('a middleware that puts a Request for another path in c.req.raw: the scope map checks the route Hono dispatched', async () => {
    const { app, seen } = await setup(async (c, next) => {
      c.req.raw = new Request(new URL('/v1/chat/completions', c.req.url), { headers: c.req.raw.headers })
      await next()
    })
    // /v1/logs needs logs.read, which this key lacks; the replaced URL would have asked for completions.write only.
    expectRejection(await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER }), 403, 'insufficient_scope', [READER])
    expect(seen).toEqual([])
  })

  test('untouched, the request is read as before: admitted, the virtual key resolved', async () => {
    const { app, seen } = await setup(async (_c, next) => next())
    const res = await send(`${app.url}/v1/chat/completions`, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'vk-1' })
    expect(res.status).toBe(200)
    expect(seen).toMatchObject([{ path: '/v1/chat/completions', virtualKey: { slug: 'vk-1' } }])
  })
})
