import type Fastify from 'fastify'
import { Hono } from 'hono'
import { describe, expect, test } from 'vitest'
import { portkeyAuth as fastifyAuth } from '../../src/fastify/index.js'
import { portkeyAuth as honoAuth, type PortkeyEnv } from '../../src/hono/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { startFastify } from '../fastify/app.js'
import { startHono } from '../hono/server.js'
import { sendRaw } from '../support/raw-socket.js'
import { closeAfterTest, type Running, useStub } from '../support/servers.js'

// Attack (hole 1) beyond the folding the team tested: encoded delimiters under the prefix that a router
// may decode before it cuts or folds (%3B, %3F, %23, %20, %09), and '..;'.
const KEY = 'pk-encoded-0123456789abcdef'
const TARGETS = [
  '/docs/%3B',
  '/docs/%3Bx',
  '/docs/%3F',
  '/docs/%23',
  '/docs/%20',
  '/docs/%09',
  '/docs/..;/',
  '/docs/%2e;',
  '/docs/%0a',
]

type Start = (hits: string[], url: string) => Promise<Running>
const APPS: Record<string, Start> = {
  ...Object.fromEntries(
    [
      { ignoreTrailingSlash: true, useSemicolonDelimiter: true },
      { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, caseSensitive: false },
    ].map((options): [string, Start] => [
      `fastify ${JSON.stringify(options)}`,
      (hits, controlPlaneUrl) =>
        startFastify(
          async (app) => {
            await app.register(fastifyAuth, { controlPlaneUrl, publicRoutes: ['/docs/*'] })
            app.post('/docs', (request) => {
              hits.push(request.portkey === undefined ? 'guarded-without-context' : 'guarded')
              return {}
            })
            app.all('/docs/*', () => ({}))
          },
          options as Parameters<typeof Fastify>[0],
        ),
    ]),
  ),
  ...Object.fromEntries(
    ([true, false] as const).map((strict): [string, Start] => [
      `hono strict:${strict}`,
      (hits, controlPlaneUrl) => {
        const app = new Hono<PortkeyEnv>({ strict })
        app.use(honoAuth({ controlPlaneUrl, publicRoutes: ['/docs/*'] }))
        app.post('/docs', (c) => {
          hits.push(c.get('portkey') === undefined ? 'guarded-without-context' : 'guarded')
          return c.json({})
        })
        app.all('*', (c) => c.json({}))
        return startHono(app)
      },
    ]),
  ),
}

describe.each(Object.keys(APPS))('%s', (name) => {
  test.each(TARGETS)('POST %s never reaches the guarded /docs handler without a context', async (target) => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_enc' }) } })
    const hits: string[] = []
    const app = closeAfterTest(await APPS[name]!(hits, stub.url))
    await sendRaw(app.url, target, { method: 'POST' })
    expect(hits).not.toContain('guarded-without-context')
  })
})
