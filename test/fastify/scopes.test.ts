import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import { describe, expect, test } from 'vitest'
import type { AuthError } from '../../src/errors.js'
import { portkeyAuth, requirePermissions } from '../../src/fastify/index.js'
import { fastifyRoute } from '../../src/fastify/route.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { expectRejection, type RawResponse, send, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// The scope checks behind the Fastify plugin: requirePermissions() as a route hook, and the scopes and
// publicRoutes options against the path Fastify's router routes on (which differs between majors).

const MAJOR = process.env.FASTIFY_MAJOR

const KEYS = {
  writer: 'pk-writer-0123456789abcdef',
  reader: 'pk-reader-0123456789abcdef',
  lister: 'pk-lister-0123456789abcdef',
  org: 'pk-org-0123456789abcdef',
} as const
type Holder = keyof typeof KEYS

const records = () => ({
  [KEYS.writer]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
  [KEYS.reader]: keyRecord({ id: 'key_reader', scopes: ['logs.read', 'logs.export'] }),
  [KEYS.lister]: keyRecord({ id: 'key_lister', scopes: ['virtual_keys.list'] }),
  [KEYS.org]: keyRecord({ id: 'key_org', type: 'organisation-service', workspace_id: null, scopes: ['completions.write'] }),
})

/** Which handler a request reached: the chat route or the catch-all, and the URL it saw. */
type Reached = { route: 'chat' | 'other'; url: string }

/**
 * A Fastify app with a stub, `setup` run first (to register the plugin), then `POST /v1/chat/completions` and
 * a catch-all for every other path and method, each recording what it was reached by.
 */
async function startApp(setup: (app: FastifyInstance, controlPlaneUrl: string) => unknown, options?: FastifyServerOptions) {
  const stub = await useStub({ keys: records() })
  const reached: Reached[] = []
  const reach = (route: Reached['route']) => (request: FastifyRequest) => {
    reached.push({ route, url: request.url })
    return { keyId: request.portkey?.keyId ?? null }
  }
  const { url } = await startFastify(async (app) => {
    await setup(app, stub.url)
    app.post('/v1/chat/completions', reach('chat'))
    app.all('/*', reach('other'))
  }, options)
  return { stub, url, reached }
}

const withScopes = (app: FastifyInstance, controlPlaneUrl: string) =>
  app.register(portkeyAuth, { controlPlaneUrl, scopes: 'portkey' })

const call = (url: string, method: string, path: string, holder: Holder): Promise<RawResponse> =>
  send(
    url + path,
    { 'x-portkey-api-key': KEYS[holder], 'content-type': 'application/json' },
    { method, body: method === 'GET' ? undefined : '{}' },
  )

/** 403 insufficient_scope with its exact body, and a WWW-Authenticate naming `scope`. */
function expectInsufficient(res: RawResponse, scope: string | null, holder: Holder): void {
  expectRejection(res, 403, 'insufficient_scope', [KEYS[holder]])
  const named = scope === null ? '' : `, scope="${scope}"`
  expect(res.headers['www-authenticate']).toBe(`Portkey realm="portkey", error="insufficient_scope"${named}`)
}

describe('fastify: requirePermissions() as a route hook', () => {
  async function setup(options: { auth?: boolean; onError?: boolean } = {}) {
    const seen: AuthError[] = []
    const app = await startApp(async (app, controlPlaneUrl) => {
      if (options.auth !== false) {
        await app.register(portkeyAuth, {
          controlPlaneUrl,
          ...(options.onError && {
            onError: (error, _request, reply) => {
              seen.push(error)
              return reply.code(418).send({ mine: error.code })
            },
          }),
        })
      }
      app.get('/v1/logs', { preHandler: requirePermissions('logs.read', 'logs.export') }, () => 'logs')
      app.register(async (child) => {
        child.get('/v1/exports', { onRequest: [requirePermissions('logs.export')] }, () => 'exports')
      })
    })
    return { ...app, seen }
  }

  test('passes a caller holding every scope, as preHandler or as a route onRequest hook, in a child context too', async () => {
    const { url } = await setup()
    for (const path of ['/v1/logs', '/v1/exports']) {
      const res = await call(url, 'GET', path, 'reader')
      expect([res.status, res.text]).toEqual([200, path.slice(4)])
    }
  })

  test('refuses a caller missing one: 403 naming what is missing, and the handler never runs', async () => {
    const { url } = await setup()
    expectInsufficient(await call(url, 'GET', '/v1/logs', 'writer'), 'logs.read logs.export', 'writer')
    expectInsufficient(await call(url, 'GET', '/v1/exports', 'writer'), 'logs.export', 'writer')
  })

  test("a missing scope reaches portkeyAuth's onError, not the default body", async () => {
    const { url, seen } = await setup({ onError: true })
    const res = await call(url, 'GET', '/v1/logs', 'writer')
    expect({ status: res.status, body: res.json() }).toEqual({ status: 418, body: { mine: 'insufficient_scope' } })
    expect(seen.map((error) => [error.status, error.code])).toEqual([[403, 'insufficient_scope']])
  })

  test('without portkeyAuth before it: 500 auth_misconfigured, with no look-up', async () => {
    const { url, stub } = await setup({ auth: false })
    const res = await call(url, 'GET', '/v1/logs', 'reader')
    expectRejection(res, 500, 'auth_misconfigured', [KEYS.reader])
    expect(res.json<{ message: string }>().message).toMatch(/portkeyAuth\(\)/)
    expect(stub.calls()).toBe(0)
  })

  test('requirePermissions() with no scope, or an empty one, throws a TypeError when called', () => {
    expect(() => requirePermissions()).toThrow(TypeError)
    expect(() => requirePermissions('logs.read', '')).toThrow(TypeError)
  })
})

describe("fastify: portkeyAuth({ scopes: 'portkey' })", () => {
  test.each<{ method: string; path: string; holder: Holder; denied: string | null }>([
    { method: 'POST', path: '/v1/chat/completions', holder: 'writer', denied: null },
    { method: 'POST', path: '/v1/chat/completions', holder: 'reader', denied: 'completions.write' },
    { method: 'POST', path: '/v1/chat/completions?stream=false', holder: 'reader', denied: 'completions.write' },
    { method: 'POST', path: '/V1/Chat/Completions', holder: 'reader', denied: 'completions.write' },
    { method: 'GET', path: '/v1/models', holder: 'lister', denied: null },
    { method: 'HEAD', path: '/v1/models', holder: 'reader', denied: 'completions.write virtual_keys.list' },
    { method: 'GET', path: '/v1/logs', holder: 'reader', denied: null },
    { method: 'POST', path: '/v1/chat/completions', holder: 'org', denied: '' },
  ])('$holder $method $path → denied: $denied', async ({ method, path, holder, denied }) => {
    const { url, reached, stub } = await startApp(withScopes)
    const res = await send(url + path, { 'x-portkey-api-key': KEYS[holder] }, { method })
    if (denied === null) expect(res.status).toBe(200)
    else if (method === 'HEAD') expect(res.status).toBe(403)
    else expectInsufficient(res, denied === '' ? null : denied, holder)
    expect(reached).toHaveLength(denied === null ? 1 : 0)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test("registered in a plugin with a prefix, it checks the full path of that plugin's routes only", async () => {
    const { url, reached } = await startApp((app, controlPlaneUrl) =>
      app.register(
        async (v1) => {
          await v1.register(portkeyAuth, { controlPlaneUrl, scopes: 'portkey' })
          v1.post('/prompts/:id/render', () => 'rendered')
        },
        { prefix: '/v1' },
      ),
    )
    expectInsufficient(await call(url, 'POST', '/v1/prompts/p1/render', 'writer'), 'prompts.render', 'writer')
    expect((await send(`${url}/v1/prompts/p1/render`, {}, { method: 'POST' })).status).toBe(401)
    // The chat route is the root's, outside the plugin: not guarded at all.
    expect((await send(`${url}/v1/chat/completions`, {}, { method: 'POST' })).json()).toEqual({ keyId: null })
    expect(reached).toEqual([{ route: 'chat', url: '/v1/chat/completions' }])
  })
})

const post = (url: string, target: string, holder: Holder) =>
  sendRaw(url, target, {
    method: 'POST',
    headers: { 'x-portkey-api-key': KEYS[holder], 'content-type': 'application/json' },
    body: '{}',
  })

describe('fastify: raw request targets against the scope map', () => {
  test.each([
    '/v1/chat/completions',
    '/v1/chat/completions#x',
    '/v1/chat/completions?stream=true#x',
    '/v1/chat/completions#x?y',
    'http://a/v1/chat/completions',
    'http://a/v1/chat/completions?stream=true',
  ])('POST %s reaches the chat route with the scope, and is refused 403 without it', async (target) => {
    const { url, reached } = await startApp(withScopes)
    expect((await post(url, target, 'writer')).status).toBe(200)
    expect(reached).toEqual([{ route: 'chat', url: target }])
    expectInsufficient(await post(url, target, 'reader'), 'completions.write', 'reader')
    expect(reached).toHaveLength(1)
  })

  test.each([
    '/v1/x/../chat/completions',
    '/v1/./chat/completions',
    '/v1/x/%2e%2e/chat/completions',
    '/v1/chat/%63ompletions',
    '/v1/chat%2fcompletions',
    '/v1\\chat\\completions',
    '/v1/chat/completions%7e',
    'http://a/v1/x/../chat/completions',
    // Targets that cannot be read as a path: no route a scope map could name.
    '*',
    'http://a?b/v1/chat/completions',
  ])('POST %s is refused 400 invalid_request, even for a key holding the scope', async (target) => {
    const { url, reached } = await startApp(withScopes)
    for (const holder of ['writer', 'reader'] as const) expectRejection(await post(url, target, holder), 400, 'invalid_request')
    expect(reached).toEqual([])
  })

  test.each(['/v1/chat/completions%', '/v1/chat/completions%g0'])(
    'POST %s: Fastify refuses a malformed escape itself, before any hook',
    async (target) => {
      const { url, reached, stub } = await startApp(withScopes)
      const res = await post(url, target, 'writer')
      expect([res.status, res.json<{ code: string }>().code]).toEqual([400, 'FST_ERR_BAD_URL'])
      expect(reached).toEqual([])
      expect(stub.calls()).toBe(0)
    },
  )

  // Fastify 4 ends the path at ';' by default (useSemicolonDelimiter), Fastify 5 does not: the map sees what routes.
  test.each<[string, FastifyServerOptions, boolean]>([
    ['by default', {}, MAJOR === '4'],
    [
      'with the setting flipped',
      // Fastify 5 reads routerOptions.useSemicolonDelimiter, though its types do not list it yet.
      MAJOR === '4'
        ? { useSemicolonDelimiter: false }
        : ({ routerOptions: { useSemicolonDelimiter: true } } as FastifyServerOptions),
      MAJOR !== '4',
    ],
  ])('a ; in the path %s: checked as the path the router routes on', async (_when, options, cuts) => {
    const { url, reached } = await startApp(withScopes, options)
    const target = '/v1/chat/completions;jsessionid=1'
    const res = await post(url, target, 'reader')
    if (cuts) expectInsufficient(res, 'completions.write', 'reader')
    else expect(reached).toEqual([{ route: 'other', url: target }])
    expect((await post(url, target, 'writer')).status).toBe(200)
    expect(reached.at(-1)).toEqual({ route: cuts ? 'chat' : 'other', url: target })
  })
})

describe('fastify: the route the scope map is given', () => {
  const route = (url: string, initialConfig: object = { useSemicolonDelimiter: false }) =>
    fastifyRoute({ method: 'GET', url, server: { initialConfig } } as unknown as FastifyRequest)

  test.each([
    ['/v1/models', '/v1/models'],
    ['/v1/models?x=/y#z', '/v1/models'],
    ['/v1/models#x?y', '/v1/models'],
    ['HTTPS://h:1/v1/models?x', '/v1/models'],
    ['http://h/', '/'],
    ['http://h', ''],
    ['http://h?x', ''],
    ['//h/v1', '//h/v1'],
    ['*', ''],
    ['', ''],
  ])('%s → %j', (url, path) => {
    expect(route(url)).toEqual({ method: 'GET', path })
  })

  test.each<[string, object, string]>([
    ['Fastify 4 (top-level only)', { useSemicolonDelimiter: true }, '/v1/a'],
    ['Fastify 5 default', { useSemicolonDelimiter: false, routerOptions: undefined }, '/v1/a;b'],
    ['routerOptions set by hand', { useSemicolonDelimiter: false, routerOptions: { useSemicolonDelimiter: true } }, '/v1/a'],
    [
      'routerOptions false, top-level false',
      { useSemicolonDelimiter: false, routerOptions: { useSemicolonDelimiter: false } },
      '/v1/a;b',
    ],
    // Fastify 5 fills routerOptions' default beside a top-level true: which one routes cannot be told.
    [
      'routerOptions false beside a top-level true',
      { useSemicolonDelimiter: true, routerOptions: { useSemicolonDelimiter: false } },
      '',
    ],
    ['no setting at all', {}, ''],
  ])('a ; with %s', (_name, config, path) => {
    expect(route('/v1/a;b?c', config).path).toBe(path)
    expect(route('/v1/a?b;c', config).path).toBe('/v1/a')
  })
})

describe('fastify: publicRoutes', () => {
  const open = (app: FastifyInstance, controlPlaneUrl: string) =>
    app.register(portkeyAuth, { controlPlaneUrl, publicRoutes: ['GET /health', '/docs/*'] })

  test('a public route goes on with no credential, no look-up and no request.portkey; the rest is guarded', async () => {
    const { url, reached, stub } = await startApp(open)
    for (const [method, path] of [
      ['GET', '/health'],
      ['HEAD', '/health'],
      ['GET', '/health?probe=1'],
      ['POST', '/docs/a'],
    ]) {
      expect((await send(url + path, {}, { method })).status).toBe(200)
    }
    expect(reached.map((seen) => seen.url)).toEqual(['/health', '/health', '/health?probe=1', '/docs/a'])
    for (const [method, path] of [
      ['POST', '/health'],
      ['GET', '/health/'],
      ['GET', '/docs'],
      ['GET', '/docs/%2e%2e/admin'],
    ]) {
      expect((await send(url + path, {}, { method })).status).toBe(401)
    }
    expect(stub.calls()).toBe(0)
  })

  test('a ; after a public path is public only where the router routes it to that path', async () => {
    const { url, reached } = await startApp(open)
    const res = await send(`${url}/health;x`)
    expect(res.status).toBe(MAJOR === '4' ? 200 : 401)
    expect(reached).toHaveLength(MAJOR === '4' ? 1 : 0)
  })
})
