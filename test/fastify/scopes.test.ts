import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import { describe, expect, test } from 'vitest'
import { portkeyAuth, requirePermissions } from '../../src/fastify/index.js'
import { fastifyRoute } from '../../src/fastify/route.js'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { expectRejection, type RawResponse, send, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// What only Fastify has of the scope checks: requirePermissions() as a route's onRequest hook and in a child
// context, the router's ';' setting, and the route read from a Fastify request. The rest (requirePermissions,
// the scopes and publicRoutes options, raw targets, under a prefix) is the shared suites' in test/adapters, which
// run on every adapter.

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
async function scopedApp(setup: (app: FastifyInstance, controlPlaneUrl: string) => unknown, options?: FastifyServerOptions) {
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
  test('passes a caller holding every scope, as preHandler or as a route onRequest hook, in a child context too', async () => {
    const { url } = await scopedApp(async (app, controlPlaneUrl) => {
      await app.register(portkeyAuth, { controlPlaneUrl })
      app.get('/v1/logs', { preHandler: requirePermissions('logs.read', 'logs.export') }, () => 'logs')
      app.register(async (child) => {
        child.get('/v1/exports', { onRequest: [requirePermissions('logs.export')] }, () => 'exports')
      })
    })
    for (const path of ['/v1/logs', '/v1/exports']) {
      const res = await call(url, 'GET', path, 'reader')
      expect([res.status, res.text]).toEqual([200, path.slice(4)])
    }
    expectInsufficient(await call(url, 'GET', '/v1/exports', 'writer'), 'logs.export', 'writer')
  })
})

const post = (url: string, target: string, holder: Holder) =>
  sendRaw(url, target, {
    method: 'POST',
    headers: { 'x-portkey-api-key': KEYS[holder], 'content-type': 'application/json' },
    body: '{}',
  })

describe("fastify: the router's ';' setting", () => {
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
    const { url, reached } = await scopedApp(withScopes, options)
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
