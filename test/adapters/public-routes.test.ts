import { beforeEach, describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { keyRecord } from '../../src/testing/index.js'
import type { Decision } from '../../src/types.js'
import { sendRaw } from '../support/raw-socket.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { shared, startApp } from '../support/apps.js'
import { closeAfterTest, contractFramework, expectRejection } from '../support/servers.js'

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

/**
 * A stub and an app with `portkeyAuth({ publicRoutes: PUBLIC, ...options })` (none for `null`) and a catch-all;
 * the caller closes them.
 */
async function publicApp(adapter: AdapterName, options: Partial<MiddlewareOptions> | null = {}, prefix?: string) {
  const decisions: Decision[] = []
  const reached: Reached[] = []
  const app = await startApp(adapter, {
    stub: {
      keys: {
        [KEY]: keyRecord({ id: 'key_public', scopes: ['completions.write'] }),
        [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
      },
    },
    auth: (stub) =>
      options === null
        ? null
        : { controlPlaneUrl: stub.url, publicRoutes: PUBLIC, onDecision: (d: Decision) => decisions.push(d), ...options },
    prefix,
    routes: [
      {
        answer: (seen) =>
          reached.push({
            path: seen.path,
            context: seen.portkey !== undefined,
            credential: 'x-portkey-api-key' in seen.views().headers,
          }),
      },
    ],
  })
  return Object.assign(app, {
    reached,
    decisions,
    reset() {
      app.verifier?.clear()
      app.stub.resetCounts()
      reached.length = 0
      decisions.length = 0
    },
  })
}

/** `publicApp()`, closed when the current test ends. */
const usePublicApp = async (...args: Parameters<typeof publicApp>) => closeAfterTest(await publicApp(...args))

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

/** The path of a request line's target as sent: no scheme and host, no query or fragment. */
const pathOf = (line: string) =>
  line
    .slice(line.indexOf(' ') + 1)
    .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')
    .split(/[?#]/)[0] || '/'

describe.each(ADAPTERS.filter((adapter) => !capabilities(adapter).publicRoutes))('%s: publicRoutes', (adapter) => {
  // The Web adapter guards one handler: one that needs no key is left unwrapped.
  test('is refused when the guard is made: a TypeError saying to leave the handler unwrapped', () => {
    expect(() => contractFramework(adapter).portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', publicRoutes: PUBLIC })).toThrow(
      /publicRoutes is not supported: leave a handler that needs no key unwrapped/,
    )
  })
})

describe.each(ADAPTERS.filter((adapter) => capabilities(adapter).publicRoutes))('%s: publicRoutes', (framework) => {
  const app = shared(() => publicApp(framework))
  const unguarded = shared(() => publicApp(framework, null))
  beforeEach(() => {
    app().reset()
    unguarded().reset()
  })

  /**
   * The path the app routes `line` on, where its server or router makes another of it before any middleware
   * (a runtime's URL resolving dot segments; Fastify 4 ending the path at ';'): `undefined` when it is the
   * target's own.
   */
  async function resolved(line: string): Promise<string | undefined> {
    const res = await request(unguarded().url, line)
    const path = res.status === 200 ? unguarded().reached.at(-1)?.path : undefined
    return path === undefined || path === pathOf(line) ? undefined : path
  }

  /** The status the server answers `line` with itself, before any middleware (@hono/node-server: a backslash, '*'). */
  async function refusedFirst(line: string): Promise<number | undefined> {
    const res = await request(unguarded().url, line)
    return res.status >= 400 && res.status < 500 && unguarded().reached.length === 0 ? res.status : undefined
  }

  test.each(PUBLIC_REQUESTS)('%s is public: no credential, no look-up, no context', async (line) => {
    const res = await request(app().url, line)
    expect(res.status).toBe(200)
    expect(app().reached).toEqual([
      { path: expect.stringMatching(/^\/(health|status|docs\/)/), context: false, credential: false },
    ])
    expect(app().stub.calls()).toBe(0)
    expect(app().decisions).toEqual([])
  })

  test.each(GUARDED_REQUESTS)('%s is authenticated: 401 without a key, admitted with a context with one', async (line) => {
    const status = await refusedFirst(line)
    if (status !== undefined) {
      for (const key of [undefined, KEY]) {
        expect((await request(app().url, line, key ? { 'x-portkey-api-key': key } : {})).status).toBe(status)
      }
      expect(app().reached).toEqual([])
      return
    }
    const path = await resolved(line)
    if (path !== undefined) {
      // The app routes on a plain path made of it: public exactly when that path is (as if it had been sent).
      const method = line.slice(0, line.indexOf(' '))
      const [res, plain] = [await request(app().url, line), await request(app().url, `${method} ${path}`)]
      expect({ path, status: res.status }).toEqual({ path, status: plain.status })
      return
    }
    const refused = await request(app().url, line)
    expectRejection(refused, 401, 'missing_api_key')
    expect(app().reached).toEqual([])
    expect(app().stub.calls()).toBe(0)

    const admitted = await request(app().url, line, { 'x-portkey-api-key': KEY })
    expect(admitted.status).toBe(200)
    expect(app().reached.map(({ context }) => context)).toEqual([true])
  })

  test('a credential sent to a public route is neither checked nor looked up, and gives no context', async () => {
    for (const key of [KEY, 'pk-unknown-0123456789abcdef', 'not a key', 'x'.repeat(5000)]) {
      const res = await request(app().url, 'GET /health', { 'x-portkey-api-key': key })
      expect(res.status).toBe(200)
    }
    expect(app().reached.map(({ context, credential }) => ({ context, credential }))).toEqual(
      Array(4).fill({ context: false, credential: true }),
    )
    expect(app().stub.calls()).toBe(0)
    expect(app().decisions).toEqual([])
  })

  test('hideCredentials still takes the credential off a public request', async () => {
    const hiding = await usePublicApp(framework, { hideCredentials: true })
    const res = await request(hiding.url, 'GET /health', { 'x-portkey-api-key': KEY })
    expect(res.status).toBe(200)
    expect(hiding.reached).toEqual([{ path: '/health', context: false, credential: false }])
  })

  test('beside a scope map: public routes skip it, an ambiguous look-alike is refused 400 by it', async () => {
    const scoped = await usePublicApp(framework, { scopes: 'portkey' })
    expect((await request(scoped.url, 'GET /health')).status).toBe(200)
    for (const [line, key] of [
      ['POST /docs/../v1/chat/completions', KEY],
      ['POST /docs/x/%2e%2e/../v1/chat/completions', READER],
    ] as const) {
      const res = await request(scoped.url, line, { 'x-portkey-api-key': key })
      // Where the runtime resolved the dot segments first, the scope map checks the path they made.
      if ((await resolved(line)) === undefined) expectRejection(res, 400, 'invalid_request', [key])
      else expect(res.status).toBe(key === KEY ? 200 : 403)
    }
    expect(scoped.reached.length).toBeGreaterThanOrEqual(1)
  })

  test('an empty list makes nothing public', async () => {
    const none = await usePublicApp(framework, { publicRoutes: [] })
    expectRejection(await request(none.url, 'GET /health'), 401, 'missing_api_key')
    expect(none.reached).toEqual([])
  })

  test('under a mount prefix, entries name the full path the app is reached on', async () => {
    const mounted = await usePublicApp(framework, { publicRoutes: ['/api/health'] }, '/api')
    expect((await request(mounted.url, 'GET /api/health')).status).toBe(200)
    // Koa's mounted app sees its own path.
    expect(mounted.reached).toEqual([
      { path: framework === 'koa' ? '/health' : '/api/health', context: false, credential: false },
    ])
    expectRejection(await request(mounted.url, 'GET /api/HEALTH'), 401, 'missing_api_key')

    const unprefixed = await usePublicApp(framework, { publicRoutes: ['/health'] }, '/api')
    expectRejection(await request(unprefixed.url, 'GET /api/health'), 401, 'missing_api_key')
    expect(unprefixed.reached).toEqual([])
  })
})
