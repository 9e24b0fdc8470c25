import { describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import {
  closeAfterTest,
  expectRejection,
  FRAMEWORKS,
  type Framework,
  type RawResponse,
  startExpress,
  startKoa,
  useStub,
} from '../support/servers.js'

// Request targets sent byte for byte over a socket: the scope map must be checked against the path the
// router routes on, and a target routers and proxies could read differently is refused outright.

const WRITER = 'pk-raw-writer-0123456789abcdef'
const READER = 'pk-raw-reader-0123456789abcdef'

interface Reached {
  /** Which handler ran: the chat route, or the catch-all. */
  route: 'chat' | 'other'
  path: string
}

/** An app with `portkeyAuth({ scopes })` (none for `null`), a `POST /v1/chat/completions` route and a catch-all. */
async function startApp(framework: Framework, scopes: MiddlewareOptions['scopes'] | null = 'portkey') {
  const stub = await useStub({
    keys: {
      [WRITER]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
      [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
    },
  })
  const auth = { controlPlaneUrl: stub.url, ...(scopes === null ? {} : { scopes }) }
  const reached: Reached[] = []
  const running =
    framework === 'express'
      ? await startExpress((app) => {
          app.use(expressAuth(auth))
          app.post('/v1/chat/completions', (req, res) => void res.json(reached.push({ route: 'chat', path: req.path })))
          app.use((req, res) => void res.json(reached.push({ route: 'other', path: req.path })))
        })
      : await startKoa((app) => {
          app.use(koaAuth(auth))
          // A router in miniature: it routes on ctx.path, as @koa/router and koa-router do.
          app.use((ctx) => {
            const route = ctx.method === 'POST' && ctx.path === '/v1/chat/completions' ? 'chat' : 'other'
            ctx.body = reached.push({ route, path: ctx.path })
          })
        })
  return { url: closeAfterTest(running).url, reached }
}

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

describe.each(FRAMEWORKS)('%s: raw request targets against the scope map', (framework: Framework) => {
  test.each(CHAT_TARGETS)('POST %s reaches the chat route with the scope, and is refused 403 without it', async (target) => {
    const app = await startApp(framework)
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

  test.each(AMBIGUOUS_TARGETS)('POST %s is refused 400 invalid_request, even for a key holding the scope', async (target) => {
    const app = await startApp(framework)
    for (const key of [WRITER, READER]) {
      const res = await post(app.url, target, key)
      expectRejection(res, 400, 'invalid_request', [key])
    }
    expect(app.reached).toEqual([])
  })

  test.each([
    // Express's router answers 404 itself for a target it cannot parse; Koa hands it to the middleware.
    { target: 'http://[::1/v1/chat/completions', express: 404 },
    { target: '*', express: 400 },
  ])('an unparseable target ($target) is refused and never reaches a handler', async ({ target, express }) => {
    const app = await startApp(framework)
    const res = await post(app.url, target, WRITER)
    if (framework === 'koa' || express === 400) expectRejection(res, 400, 'invalid_request', [WRITER])
    else expect(res.status).toBe(express)
    expect(app.reached).toEqual([])
  })

  test.each([
    ['/.well-known/openid-configuration', 'other'],
    ['/v1/a.b/..c/.d', 'other'],
    ['/v1/files/report%20final.pdf', 'other'],
    ['/v1/chat/completions?next=/../x%2f%2e', 'chat'],
  ])('a look-alike that is no ambiguity passes: %s', async (target, route) => {
    const app = await startApp(framework)
    const res = await post(app.url, target, WRITER)
    expect(res.status).toBe(200)
    expect(app.reached.map((seen) => seen.route)).toEqual([route])
  })

  test('without a scope map, targets are not inspected', async () => {
    const app = await startApp(framework, null)
    const res = await post(app.url, '/v1/x/../chat/completions', READER)
    expect(res.status).toBe(200)
    expect(app.reached).toEqual([{ route: 'other', path: '/v1/x/../chat/completions' }])
  })
})
