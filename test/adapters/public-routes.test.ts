import express from 'express'
import Koa from 'koa'
import { describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import type { Decision } from '../../src/types.js'
import { sendRaw } from '../support/raw-socket.js'
import {
  closeAfterTest,
  expectRejection,
  FRAMEWORKS,
  type Framework,
  startExpress,
  startKoa,
  useStub,
} from '../support/servers.js'
import { mount } from '../support/koa-mount.js'

// `publicRoutes` lets a request through with no credential check when the path the adapter routes on is
// exactly one listed (or, for an entry ending in '/*', starts with its prefix) and is unambiguous. Every
// look-alike a router, a proxy or an upstream could read as another route is authenticated instead.
// Targets are written to the socket byte for byte, where clients would normalise them.

const KEY = 'pk-public-routes-0123456789abcdef'
const READER = 'pk-public-reader-0123456789abcdef'
const PUBLIC = ['/health', 'GET /status', '/docs/*']

interface Reached {
  path: string
  /** Whether the handler saw a Portkey context. */
  context: boolean
  /** Whether the credential header was still on the request. */
  credential: boolean
}

/** An app with `portkeyAuth({ publicRoutes: PUBLIC, ...options })`, a case-insensitive `/health` route and a catch-all. */
async function startApp(framework: Framework, options: Partial<MiddlewareOptions> = {}, prefix = '') {
  const stub = await useStub({
    keys: {
      [KEY]: keyRecord({ id: 'key_public', scopes: ['completions.write'] }),
      [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
    },
  })
  const decisions: Decision[] = []
  const auth = { controlPlaneUrl: stub.url, publicRoutes: PUBLIC, onDecision: (d: Decision) => decisions.push(d), ...options }
  const reached: Reached[] = []
  const running =
    framework === 'express'
      ? await startExpress((app) => {
          const inner = prefix === '' ? app : express.Router()
          inner.use(expressAuth(auth))
          // Express routes /HEALTH and /health/ here too: those must not be public.
          const answer = (req: express.Request, res: express.Response) =>
            void res.json(
              reached.push({
                path: req.baseUrl + req.path,
                context: req.portkey !== undefined,
                credential: 'x-portkey-api-key' in req.headers,
              }),
            )
          inner.all('/health', answer)
          inner.use(answer)
          if (inner !== app) app.use(prefix, inner)
        })
      : await startKoa((app) => {
          const inner = prefix === '' ? app : new Koa()
          inner.use(koaAuth(auth)).use((ctx) => {
            ctx.body = reached.push({
              path: ctx.path,
              context: ctx.state.portkey !== undefined,
              credential: 'x-portkey-api-key' in ctx.headers,
            })
          })
          if (inner !== app) app.use(mount(prefix, inner))
        })
  return { url: closeAfterTest(running).url, reached, stub, decisions }
}

const request = (url: string, line: string, headers: Record<string, string> = {}) => {
  const space = line.indexOf(' ')
  return sendRaw(url, line.slice(space + 1), { method: line.slice(0, space), headers })
}

/** Request lines that are public: the exact path (any query, fragment or absolute form), its method, a prefix. */
const PUBLIC_REQUESTS = [
  'GET /health',
  'POST /health',
  'DELETE /health',
  'GET /health?x',
  'GET /health?next=/../v1/chat/completions%2f',
  'GET /health#x',
  'GET http://a/health',
  'GET /status',
  'HEAD /status',
  'GET /status?verbose=1',
  'GET /docs/index.html',
  'POST /docs/a/b/c.json',
  'GET /docs/report%20final.pdf',
]

/** Request lines that must be authenticated, though some look public or reach a public handler. */
const GUARDED_REQUESTS = [
  // case: Express routes these to /health
  'GET /HEALTH',
  'GET /Health',
  'GET http://a/HEALTH',
  // a tail, a trailing slash, more slashes
  'GET /health/',
  'GET //health',
  'GET /health//',
  'GET /health/x',
  'GET /v1/x/health',
  'GET /healthz',
  'GET /health.json',
  'GET /health;x',
  'GET /health%20',
  // dot segments, encoded slashes and encoded letters: another route once normalised or decoded
  'GET /health/../v1/chat/completions',
  'GET /health/..',
  'GET /health%2f..',
  'GET /health%2F..%2Fv1%2Fchat%2Fcompletions',
  'GET /health%5c..',
  'GET /health\\..\\v1',
  'GET /%68ealth',
  'GET /./health',
  'GET /x/../health',
  // the method of a 'GET /status' entry
  'POST /status',
  'PUT /status',
  'OPTIONS /status',
  'GET /status/',
  // a prefix entry: the prefix itself, look-alikes, and escapes out of it
  'GET /docs',
  // the prefix's base route, which folding routers reach from these
  'GET /docs/',
  'GET /docs//',
  'GET /docs/;x',
  'GET /docsx',
  'GET /DOCS/x',
  'GET /docs%2fx',
  'GET /docs/../v1/chat/completions',
  'GET /docs/x/../../v1/chat/completions',
  'GET /docs/%2e%2e/v1/chat/completions',
  'GET /docs/%2E%2E/v1/chat/completions',
  'GET /docs/..%2fv1/chat/completions',
  'GET /docs/.%2e/v1',
  'GET /docs/x/..',
  'GET /docs/.',
  'GET /docs\\..\\v1',
  'GET /docs/%76',
  'GET /docs/%252e%252e/v1/chat/completions',
  'GET /docs/%252fv1',
  'GET http://a/docs/../v1/chat/completions',
  'GET /docs/x/..#/y',
  // nothing a router can route
  'OPTIONS *',
]

describe.each(FRAMEWORKS)('%s: publicRoutes', (framework: Framework) => {
  test.each(PUBLIC_REQUESTS)('%s is public: no credential, no look-up, no context', async (line) => {
    const app = await startApp(framework)
    const res = await request(app.url, line)
    expect(res.status).toBe(200)
    expect(app.reached).toEqual([{ path: expect.stringMatching(/^\/(health|status|docs\/)/), context: false, credential: false }])
    expect(app.stub.calls()).toBe(0)
    expect(app.decisions).toEqual([])
  })

  test.each(GUARDED_REQUESTS)('%s is authenticated: 401 without a key, admitted with a context with one', async (line) => {
    const app = await startApp(framework)
    const refused = await request(app.url, line)
    expectRejection(refused, 401, 'missing_api_key')
    expect(app.reached).toEqual([])
    expect(app.stub.calls()).toBe(0)

    const admitted = await request(app.url, line, { 'x-portkey-api-key': KEY })
    expect(admitted.status).toBe(200)
    expect(app.reached.map(({ context }) => context)).toEqual([true])
  })

  test('a credential sent to a public route is neither checked nor looked up, and gives no context', async () => {
    const app = await startApp(framework)
    for (const key of [KEY, 'pk-unknown-0123456789abcdef', 'not a key', 'x'.repeat(5000)]) {
      const res = await request(app.url, 'GET /health', { 'x-portkey-api-key': key })
      expect(res.status).toBe(200)
    }
    expect(app.reached.map(({ context, credential }) => ({ context, credential }))).toEqual(
      Array(4).fill({ context: false, credential: true }),
    )
    expect(app.stub.calls()).toBe(0)
    expect(app.decisions).toEqual([])
  })

  test('hideCredentials still takes the credential off a public request', async () => {
    const app = await startApp(framework, { hideCredentials: true })
    const res = await request(app.url, 'GET /health', { 'x-portkey-api-key': KEY })
    expect(res.status).toBe(200)
    expect(app.reached).toEqual([{ path: '/health', context: false, credential: false }])
  })

  test('beside a scope map: public routes skip it, an ambiguous look-alike is refused 400 by it', async () => {
    const app = await startApp(framework, { scopes: 'portkey' })
    expect((await request(app.url, 'GET /health')).status).toBe(200)
    const outOfDocs = await request(app.url, 'POST /docs/../v1/chat/completions', { 'x-portkey-api-key': KEY })
    expectRejection(outOfDocs, 400, 'invalid_request', [KEY])
    const reader = await request(app.url, 'POST /docs/x/%2e%2e/../v1/chat/completions', { 'x-portkey-api-key': READER })
    expectRejection(reader, 400, 'invalid_request', [READER])
    expect(app.reached).toHaveLength(1)
  })

  test('an empty list makes nothing public', async () => {
    const app = await startApp(framework, { publicRoutes: [] })
    expectRejection(await request(app.url, 'GET /health'), 401, 'missing_api_key')
    expect(app.reached).toEqual([])
  })

  test('under a mount prefix, entries name the full path the app is reached on', async () => {
    const mounted = await startApp(framework, { publicRoutes: ['/api/health'] }, '/api')
    expect((await request(mounted.url, 'GET /api/health')).status).toBe(200)
    expect(mounted.reached).toEqual([
      { path: framework === 'express' ? '/api/health' : '/health', context: false, credential: false },
    ])
    expectRejection(await request(mounted.url, 'GET /api/HEALTH'), 401, 'missing_api_key')

    const unprefixed = await startApp(framework, { publicRoutes: ['/health'] }, '/api')
    expectRejection(await request(unprefixed.url, 'GET /api/health'), 401, 'missing_api_key')
    expect(unprefixed.reached).toEqual([])
  })
})
