import express from 'express'
import type Fastify from 'fastify'
import { Hono } from 'hono'
import { describe, expect, test } from 'vitest'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as fastifyAuth } from '../../src/fastify/index.js'
import { portkeyAuth as honoAuth, type PortkeyEnv } from '../../src/hono/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { startFastify } from '../fastify/app.js'
import { startHono } from '../hono/server.js'
import { sendRaw } from '../support/raw-socket.js'
import { closeAfterTest, expectRejection, type Running, startExpress, startKoa, useStub } from '../support/servers.js'

// A `publicRoutes` prefix ('/docs/*') beside a guarded route at its base (`POST /docs`, `GET /webhooks`): a
// router that folds a trailing slash, repeated slashes, a `;` or case sends `/docs/`, `/docs//` or `/docs/;x`
// to the guarded `/docs` handler, so none of those may be judged public. What the prefix covers (`/docs/x`)
// stays public. Each adapter runs with each of its router's folding options on; targets go over a raw socket.

const KEY = 'pk-folding-0123456789abcdef'
const PUBLIC = ['/docs/*', '/webhooks/*']

/** What a handler saw: which one ran, and whether it had a context. */
interface Reached {
  handler: 'guarded' | 'public'
  context: boolean
}

type Start = (reached: Reached[], controlPlaneUrl: string) => Promise<Running>

/** Each adapter under each router setting that folds paths, with a guarded base route and public routes under it. */
const APPS: Record<string, Start> = {
  // Express folds one trailing slash (strict: false) and case (caseSensitive: false) by default.
  'express (defaults)': (reached, controlPlaneUrl) =>
    startExpress((app) => {
      app.use(expressAuth({ controlPlaneUrl, publicRoutes: PUBLIC }))
      const guarded = (req: express.Request, res: express.Response) =>
        void res.json(reached.push({ handler: 'guarded', context: req.portkey !== undefined }))
      app.post('/docs', guarded)
      app.get('/webhooks', guarded)
      app.use((req, res) => void res.json(reached.push({ handler: 'public', context: req.portkey !== undefined })))
    }),
  'express (a Router with strict: false, mergeParams)': (reached, controlPlaneUrl) =>
    startExpress((app) => {
      const router = express.Router({ strict: false, caseSensitive: false, mergeParams: true })
      router.use(expressAuth({ controlPlaneUrl, publicRoutes: PUBLIC }))
      const guarded = (req: express.Request, res: express.Response) =>
        void res.json(reached.push({ handler: 'guarded', context: req.portkey !== undefined }))
      router.post('/docs', guarded)
      router.get('/webhooks', guarded)
      router.use((req, res) => void res.json(reached.push({ handler: 'public', context: req.portkey !== undefined })))
      app.use(router)
    }),
  // Koa has no router of its own: this one folds trailing slashes and case, as koa-router's defaults do.
  'koa (a folding router)': (reached, controlPlaneUrl) =>
    startKoa((app) => {
      app.use(koaAuth({ controlPlaneUrl, publicRoutes: PUBLIC })).use((ctx) => {
        const path = ctx.path.toLowerCase().replace(/\/+$/, '')
        const base = (ctx.method === 'POST' && path === '/docs') || (ctx.method === 'GET' && path === '/webhooks')
        ctx.body = reached.push({ handler: base ? 'guarded' : 'public', context: ctx.state.portkey !== undefined })
      })
    }),
  ...Object.fromEntries(
    (
      [
        ['ignoreTrailingSlash', { ignoreTrailingSlash: true }],
        ['ignoreDuplicateSlashes', { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true }],
        ['caseSensitive: false', { ignoreTrailingSlash: true, caseSensitive: false }],
        ['useSemicolonDelimiter', { ignoreTrailingSlash: true, useSemicolonDelimiter: true }],
      ] as const
    ).map(([name, options]): [string, Start] => [
      `fastify (${name})`,
      async (reached, controlPlaneUrl) => {
        const fastify = await startFastify(
          async (app) => {
            await app.register(fastifyAuth, { controlPlaneUrl, publicRoutes: PUBLIC })
            const guarded = (request: { portkey?: unknown }) =>
              reached.push({ handler: 'guarded', context: request.portkey !== undefined })
            app.post('/docs', guarded)
            app.get('/webhooks', guarded)
            app.all('/docs/*', (request) => reached.push({ handler: 'public', context: request.portkey !== undefined }))
            app.all('/webhooks/*', (request) => reached.push({ handler: 'public', context: request.portkey !== undefined }))
          },
          options as Parameters<typeof Fastify>[0],
        )
        return fastify
      },
    ]),
  ),
  ...Object.fromEntries(
    ([true, false] as const).map((strict): [string, Start] => [
      `hono (strict: ${strict})`,
      (reached, controlPlaneUrl) => {
        const app = new Hono<PortkeyEnv>({ strict })
        app.use(honoAuth({ controlPlaneUrl, publicRoutes: PUBLIC }))
        app.post('/docs', (c) => c.json(reached.push({ handler: 'guarded', context: c.get('portkey') !== undefined })))
        app.get('/webhooks', (c) => c.json(reached.push({ handler: 'guarded', context: c.get('portkey') !== undefined })))
        app.all('*', (c) => c.json(reached.push({ handler: 'public', context: c.get('portkey') !== undefined })))
        return startHono(app)
      },
    ]),
  ),
}

/** Targets that every router above could send to the guarded base route: each must be authenticated. */
const GUARDED = [
  'POST /docs',
  'POST /docs/',
  'POST /docs//',
  'POST /docs///',
  'POST /docs/?x=1',
  'POST /docs/#x',
  'POST /docs/;x',
  'POST /docs/;',
  'POST /docs;x',
  'POST /docs/x/..',
  'POST /docs/x/../',
  'POST /DOCS/',
  'POST /Docs',
  'POST http://a/docs/',
  'GET /webhooks',
  'GET /webhooks/',
  'GET /webhooks//',
  'GET /webhooks/;x',
  'GET /webhooks/?',
  'GET /WEBHOOKS/',
  'GET /webhooks/./',
]

/** Under the prefixes, naming something there: public, and no router sends them to the base route. */
const PUBLIC_TARGETS = ['POST /docs/x', 'GET /docs/index.html', 'POST /docs/x/', 'GET /webhooks/stripe', 'GET /webhooks/a/b']

async function start(name: string) {
  const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_folding' }) } })
  const reached: Reached[] = []
  const app = closeAfterTest(await APPS[name]!(reached, stub.url))
  return { app, reached, stub }
}

const send = (url: string, line: string, headers: Record<string, string> = {}) => {
  const space = line.indexOf(' ')
  return sendRaw(url, line.slice(space + 1), { method: line.slice(0, space), headers })
}

describe.each(Object.keys(APPS))('%s: a public prefix never opens its base route', (name) => {
  test.each(GUARDED)('%s is authenticated: 401 with no key, no handler runs without a context', async (line) => {
    const { app, reached, stub } = await start(name)
    const refused = await send(app.url, line)
    // 400 for a target the scope map or a router refuses outright is fine too: never a pass.
    if (refused.status !== 400) expectRejection(refused, 401, 'missing_api_key')
    expect(reached).toEqual([])
    expect(stub.calls()).toBe(0)

    const admitted = await send(app.url, line, { 'x-portkey-api-key': KEY })
    if (admitted.status === 200) expect(reached.every(({ context }) => context)).toBe(true)
  })

  test.each(PUBLIC_TARGETS)('%s stays public: no key, no look-up, the public handler', async (line) => {
    const { app, reached, stub } = await start(name)
    const res = await send(app.url, line)
    expect(res.status).toBe(200)
    expect(reached).toEqual([{ handler: 'public', context: false }])
    expect(stub.calls()).toBe(0)
  })
})
