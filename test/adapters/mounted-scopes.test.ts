import express, { type Request, type Response } from 'express'
import Koa from 'koa'
import { describe, expect, test } from 'vitest'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { closeAfterTest, expectRejection, type RawResponse, startExpress, startKoa, useStub } from '../support/servers.js'
import { mount } from '../support/koa-mount.js'

// A scope rule guards its path wherever the app is mounted: it matches the routed path or any tail of it
// that starts at a segment boundary, so no mount prefix can leave a listed route open.

const WRITER = 'pk-mount-writer-0123456789abcdef'
const READER = 'pk-mount-reader-0123456789abcdef'

const keys = () => ({
  [WRITER]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
  [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
})

/** How `portkeyAuth({ scopes: 'portkey' })` and the catch-all handler after it are mounted. */
type Mounting = 'express sub-app' | 'express router' | 'koa mount' | 'plain express' | 'plain koa'

async function mountedApp(mounting: Mounting, prefix = '/api') {
  const stub = await useStub({ keys: keys() })
  const auth = { controlPlaneUrl: stub.url, scopes: 'portkey' as const }
  /** The path each request that reached the handler had there. */
  const reached: string[] = []
  const handler = (req: Request, res: Response) => void res.json(reached.push(req.path))
  let running
  if (mounting === 'plain express' || mounting === 'express sub-app' || mounting === 'express router') {
    running = await startExpress((app) => {
      if (mounting === 'plain express') return void app.use(expressAuth(auth), handler)
      const inner = mounting === 'express router' ? express.Router() : express()
      inner.use(expressAuth(auth), handler)
      app.use(prefix, inner)
    })
  } else {
    running = await startKoa((app) => {
      const inner = mounting === 'koa mount' ? new Koa() : app
      inner.use(koaAuth(auth)).use((ctx) => void (ctx.body = reached.push(ctx.path)))
      if (inner !== app) app.use(mount(prefix, inner))
    })
  }
  return { url: closeAfterTest(running).url, reached }
}

const call = (url: string, method: string, target: string, key: string): Promise<RawResponse> =>
  sendRaw(url, target, {
    method,
    headers: { 'x-portkey-api-key': key, 'content-type': 'application/json' },
    ...(method === 'GET' ? {} : { body: '{}' }),
  })

function expectInsufficient(res: RawResponse, scope: string): void {
  expectRejection(res, 403, 'insufficient_scope', [READER, WRITER])
  expect(res.headers['www-authenticate']).toContain(`scope="${scope}"`)
}

const MOUNTED: readonly Mounting[] = ['express sub-app', 'express router', 'koa mount']

describe.each(MOUNTED)("portkeyAuth({ scopes: 'portkey' }) inside an %s mounted at /api", (mounting) => {
  test('POST /api/v1/chat/completions needs completions.write', async () => {
    const app = await mountedApp(mounting)
    expectInsufficient(await call(app.url, 'POST', '/api/v1/chat/completions', READER), 'completions.write')
    expect(app.reached).toEqual([])
    expect((await call(app.url, 'POST', '/api/v1/chat/completions', WRITER)).status).toBe(200)
    expect(app.reached).toEqual(['/v1/chat/completions'])
  })

  test('POST /api/v1/prompts/p1/render needs prompts.render; GET /api/v1/logs passes on logs.read', async () => {
    const app = await mountedApp(mounting)
    expectInsufficient(await call(app.url, 'POST', '/api/v1/prompts/p1/render', WRITER), 'prompts.render')
    expect((await call(app.url, 'GET', '/api/v1/logs', READER)).status).toBe(200)
    expect(app.reached).toEqual(['/v1/logs'])
  })
})

describe.each<Mounting>(['plain express', 'plain koa'])('%s: the tail of a path at a segment boundary', (mounting) => {
  test.each([
    '/x/y/v1/chat/completions',
    '//v1/chat/completions',
    '/v1//chat/completions',
    '/api//v1/chat//completions/',
    '/API/V1/Chat/Completions',
  ])('POST %s needs completions.write', async (target) => {
    const app = await mountedApp(mounting)
    expectInsufficient(await call(app.url, 'POST', target, READER), 'completions.write')
    expect(app.reached).toEqual([])
  })

  test.each(['/v1/chat/completions/extra', '/xv1/chat/completions', '/v1/chat/completionsx', '/chat/completions'])(
    'POST %s is no listed route: a valid key passes',
    async (target) => {
      const app = await mountedApp(mounting)
      expect((await call(app.url, 'POST', target, READER)).status).toBe(200)
      expect(app.reached).toHaveLength(1)
    },
  )
})

describe('koa: portkeyAuth mounted under the prefix its scope map names', () => {
  test("mount('/v1', app with portkeyAuth): the full path is checked, not the stripped ctx.path", async () => {
    const app = await mountedApp('koa mount', '/v1')
    expectInsufficient(await call(app.url, 'POST', '/v1/chat/completions', READER), 'completions.write')
    expectInsufficient(await call(app.url, 'POST', '/v1/chat/completions#x', READER), 'completions.write')
    expectInsufficient(await call(app.url, 'POST', 'http://a/v1/chat/completions', READER), 'completions.write')
    expect(app.reached).toEqual([])
    expect((await call(app.url, 'POST', '/v1/chat/completions', WRITER)).status).toBe(200)
    expect(app.reached).toEqual(['/chat/completions'])
  })
})
