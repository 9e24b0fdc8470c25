import { Hono } from 'hono'
import { describe, expect, test } from 'vitest'
import { portkeyAuth, type PortkeyEnv } from '../../src/hono/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { useStub } from '../support/servers.js'

// A route limit written as the app writes its route. Hono's `/v1/images/*` also routes `/v1/images` (no trailing
// slash) to the handler; the limit's (and the scope map's) matcher reads `/v1/images/*` as "/v1/images/ and a tail"
// (route-scopes.ts routePattern: a final '/*' compiles to '/.*'), so that request is never counted.

const KEY = 'pk-wild-0123456789abcdef'
const READER = 'pk-wild-reader-0123456789abcdef'

async function honoApp(options: Parameters<typeof portkeyAuth>[0]) {
  const app = new Hono<PortkeyEnv>()
  let reached = 0
  app.use('*', portkeyAuth(options))
  app.post('/v1/images/*', (c) => {
    reached++
    return c.json({ ok: true })
  })
  const post = (path: string, key = KEY) =>
    app.request(`http://localhost${path}`, { method: 'POST', headers: { 'x-portkey-api-key': key } })
  return { post, reached: () => reached }
}

describe('hono: a route limit on a wildcard route', () => {
  test('sanity: Hono routes POST /v1/images to the /v1/images/* handler', async () => {
    const app = new Hono()
    app.post('/v1/images/*', (c) => c.text('hit'))
    expect((await app.request('http://localhost/v1/images', { method: 'POST' })).status).toBe(200)
  })

  test(// FINDING (fixed) (medium): the route limit 'POST /v1/images/*' (value 0) lets POST /v1/images through to the handler.
  "POST /v1/images, which Hono routes to app.post('/v1/images/*'), counts against the limit on 'POST /v1/images/*'", async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_wild' }) } })
    const app = await honoApp({
      controlPlaneUrl: stub.url,
      rateLimits: { limits: [{ name: 'images', route: 'POST /v1/images/*', type: 'requests', unit: 'rpm', value: 0 }] },
    })
    expect((await app.post('/v1/images/generations')).status).toBe(429)
    const res = await app.post('/v1/images')
    expect({ status: res.status, reached: app.reached() }).toEqual({ status: 429, reached: 0 })
  })

  test(// Fixed, same cause, pre-existing: Portkey's scope map names '/v1/images/*' (completions.write); POST /v1/images
  // matches no rule, so a key without the scope reaches the handler.
  'the scope map: POST /v1/images needs completions.write as POST /v1/images/x does', async () => {
    const stub = await useStub({
      keys: { [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }) },
    })
    const app = await honoApp({ controlPlaneUrl: stub.url, scopes: { 'POST /v1/images/*': 'completions.write' } })
    expect((await app.post('/v1/images/generations', READER)).status).toBe(403)
    const res = await app.post('/v1/images', READER)
    expect({ status: res.status, reached: app.reached() }).toEqual({ status: 403, reached: 0 })
  })
})
