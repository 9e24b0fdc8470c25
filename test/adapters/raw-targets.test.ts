import { beforeEach, describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { shared, startApp } from '../support/apps.js'
import { expectRejection, type RawResponse } from '../support/servers.js'

// Request targets sent byte for byte over a socket: the scope map must be checked against the path the
// router routes on, and a target routers and proxies could read differently is refused outright.

const WRITER = 'pk-raw-writer-0123456789abcdef'
const READER = 'pk-raw-reader-0123456789abcdef'

interface Reached {
  /** Which handler ran: the chat route, or the catch-all. */
  route: 'chat' | 'other'
  path: string
}

/**
 * A stub and an app with `portkeyAuth({ scopes })` (none for `null`), a `POST /v1/chat/completions` route and a
 * catch-all, shared by a describe's tests.
 */
async function chatApp(adapter: AdapterName, scopes: MiddlewareOptions['scopes'] | null, guarded = true) {
  const reached: Reached[] = []
  const app = await startApp(adapter, {
    stub: {
      keys: {
        [WRITER]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
        [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
      },
    },
    auth: (stub) => (guarded ? { controlPlaneUrl: stub.url, ...(scopes === null ? {} : { scopes }) } : null),
    routes: [
      { method: 'POST', path: '/v1/chat/completions', answer: ({ path }) => reached.push({ route: 'chat', path }) },
      { answer: ({ path }) => reached.push({ route: 'other', path }) },
    ],
  })
  return Object.assign(app, { reached })
}

/** The path of a target as sent: no scheme and host, no query or fragment. */
const pathOf = (target: string) => target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/)[0] || '/'

const post = (url: string, target: string, key: string): Promise<RawResponse> =>
  sendRaw(url, target, { method: 'POST', headers: { 'x-portkey-api-key': key, 'content-type': 'application/json' }, body: '{}' })

/** Targets every router here routes to `POST /v1/chat/completions`. */
const CHAT_TARGETS = [
  '/v1/chat/completions',
  '/v1/chat/completions#x',
  '/v1/chat/completions?stream=true#x',
  '/v1/chat/completions#x?y',
  'http://a/v1/chat/completions',
  'http://a/v1/chat/completions?stream=true',
  'http://127.0.0.1:1/v1/chat/completions#x',
]

/** Targets with a dot segment, a backslash, an encoded slash or backslash, or an encoded unreserved character. */
const AMBIGUOUS_TARGETS = [
  '/v1/x/../chat/completions',
  '/v1/./chat/completions',
  '/v1/chat/completions/.',
  '/v1/chat/completions/x/..',
  '/v1/x/%2e%2e/chat/completions',
  '/v1/x/%2E%2E/chat/completions',
  '/v1/%2e/chat/completions',
  '/v1/chat/%63ompletions',
  '/v1/chat/%43ompletions',
  '/%76%31/chat/completions',
  '/v1/chat/completion%73',
  '/v1/chat%2fcompletions',
  '/v1/chat%2Fcompletions',
  '/v1/chat%5ccompletions',
  '/v1/chat%5Ccompletions',
  '/v1\\chat\\completions',
  '/v1/chat/completions%7e',
  '/v1/chat/completions%2D',
  '/v1/chat/completions%5F',
  '/v1/chat/completions%',
  '/v1/chat/completions%g0',
  'http://a/v1/x/../chat/completions',
  '/v1/x/..#/chat/completions',
]

describe.each(ADAPTERS)('%s: raw request targets against the scope map', (framework: AdapterName) => {
  const scoped = shared(() => chatApp(framework, 'portkey'))
  const open = shared(() => chatApp(framework, null))
  const unguarded = shared(() => chatApp(framework, null, false))
  beforeEach(() => {
    scoped().reached.length = 0
    open().reached.length = 0
  })

  /**
   * What the server and router make of `target` before any middleware: the path an unguarded catch-all gets, or
   * the status they answer themselves (Fastify's FST_ERR_BAD_URL; @hono/node-server and the Web bridge, a target
   * no URL parser reads).
   */
  async function served(target: string): Promise<Reached | { status: number }> {
    const res = await post(unguarded().url, target, WRITER)
    if (res.status === 200) return unguarded().reached.at(-1)!
    // A 500 is the app failing on it (Koa's ctx.path throws where url.parse does), not a refusal before it.
    return res.status < 500 ? { status: res.status } : { route: 'other', path: '' }
  }

  /** A refusal by the server or router itself: the guard never runs, and nothing is reached. */
  async function expectRefusedFirst(target: string, status: number) {
    for (const key of [WRITER, READER]) expect((await post(scoped().url, target, key)).status).toBe(status)
    expect(scoped().reached).toEqual([])
  }

  test.each(CHAT_TARGETS)('POST %s reaches the chat route with the scope, and is refused 403 without it', async (target) => {
    const before = await served(target)
    // Fastify's router refuses an absolute-form target with a fragment (FST_ERR_BAD_URL).
    if ('status' in before) return expectRefusedFirst(target, before.status)
    const app = scoped()
    const admitted = await post(app.url, target, WRITER)
    expect({ status: admitted.status, reached: app.reached }).toEqual({
      status: 200,
      reached: [{ route: 'chat', path: '/v1/chat/completions' }],
    })

    const refused = await post(app.url, target, READER)
    expectRejection(refused, 403, 'insufficient_scope', [READER])
    expect(refused.headers['www-authenticate']).toContain('scope="completions.write"')
    expect(app.reached).toHaveLength(1)
  })

  test.each(AMBIGUOUS_TARGETS)(
    'POST %s is refused 400 invalid_request, even for a key holding the scope, unless the server resolved it first',
    async (target) => {
      const before = await served(target)
      // Fastify refuses a malformed escape itself; @hono/node-server a backslash.
      if ('status' in before) return expectRefusedFirst(target, before.status)
      const app = scoped()
      if (before.path !== pathOf(target)) {
        // The runtime parsed the target as a URL (@hono/node-server, the Web bridge): dot segments resolved, so the
        // app routes on a plain path, and the scope map checks that one, as if it had been sent.
        for (const key of [WRITER, READER]) {
          const [res, plain] = [await post(app.url, target, key), await post(app.url, before.path, key)]
          expect(res.status).toBe(plain.status)
        }
        expect(new Set(app.reached.map(({ path }) => path))).toEqual(new Set([before.path]))
        return
      }
      for (const key of [WRITER, READER]) expectRejection(await post(app.url, target, key), 400, 'invalid_request', [key])
      expect(app.reached).toEqual([])
    },
  )

  test.each(['http://[::1/v1/chat/completions', '*'])(
    'an unparseable target (%s) is refused and never reaches a handler',
    async (target) => {
      const before = await served(target)
      // Express's router answers 404 itself for the first; @hono/node-server, Fastify 5 and the bridge 400.
      if ('status' in before) return expectRefusedFirst(target, before.status)
      if (before.route === 'chat') {
        // Fastify 4 routes the first on what follows the host: the scope map checks that route.
        expect((await post(scoped().url, target, WRITER)).status).toBe(200)
        expectRejection(await post(scoped().url, target, READER), 403, 'insufficient_scope', [READER])
        expect(scoped().reached).toEqual([{ route: 'chat', path: '/v1/chat/completions' }])
        return
      }
      expectRejection(await post(scoped().url, target, WRITER), 400, 'invalid_request', [WRITER])
      expect(scoped().reached).toEqual([])
    },
  )

  test.each([
    ['/.well-known/openid-configuration', 'other'],
    ['/v1/a.b/..c/.d', 'other'],
    ['/v1/files/report%20final.pdf', 'other'],
    ['/v1/chat/completions?next=/../x%2f%2e', 'chat'],
  ])('a look-alike that is no ambiguity passes: %s', async (target, route) => {
    const app = scoped()
    const res = await post(app.url, target, WRITER)
    expect(res.status).toBe(200)
    expect(app.reached.map((seen) => seen.route)).toEqual([route])
  })

  test('without a scope map, targets are not inspected: the app gets what it gets unguarded', async () => {
    const target = '/v1/x/../chat/completions'
    const before = await served(target)
    const res = await post(open().url, target, READER)
    expect(res.status).toBe(200)
    expect(open().reached).toEqual(unguarded().reached.slice(-1))
    expect(before).toMatchObject({ path: expect.stringMatching(/^\/v1\/(x\/\.\.\/)?chat\/completions$/) })
  })
})
