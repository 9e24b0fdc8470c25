import { describe, expect, test } from 'vitest'
import type { AuthError } from '../../src/errors.js'
import { portkeyAuth as expressAuth, requirePermissions as expressRequire } from '../../src/express/index.js'
import { portkeyAuth as koaAuth, requirePermissions as koaRequire } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { closeAfterTest, FRAMEWORKS, type Framework, send, startExpress, startKoa, useStub } from '../support/servers.js'

// requirePermissions() after portkeyAuth({ onError }) answers through that onError, as portkeyAuth's own
// rejections do: an app that renders its errors one way sees the 403 too.
const READER = 'pk-reader-0123456789abcdef'

async function startApp(framework: Framework, controlPlaneUrl: string, seen: AuthError[], withAuth = true) {
  const running =
    framework === 'express'
      ? await startExpress((app) => {
          if (withAuth)
            app.use(
              expressAuth({
                controlPlaneUrl,
                onError: (error, _req, res) => void (seen.push(error), res.status(418).json({ mine: error.code })),
              }),
            )
          app.get('/v1/logs', expressRequire('logs.export'), (_req, res) => void res.send('ok'))
        })
      : await startKoa((app) => {
          if (withAuth) {
            app.use(
              koaAuth({
                controlPlaneUrl,
                onError: (error, ctx) => {
                  seen.push(error)
                  ctx.status = 418
                  ctx.body = { mine: error.code }
                },
              }),
            )
          }
          app.use(koaRequire('logs.export')).use((ctx) => void (ctx.body = 'ok'))
        })
  return closeAfterTest(running)
}

describe.each(FRAMEWORKS)('%s: requirePermissions() through onError', (framework) => {
  test("a missing scope reaches portkeyAuth()'s onError, not the default body", async () => {
    const stub = await useStub({ keys: { [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }) } })
    const seen: AuthError[] = []
    const app = await startApp(framework, stub.url, seen)
    const res = await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER })
    expect({ status: res.status, body: res.json() }).toEqual({ status: 418, body: { mine: 'insufficient_scope' } })
    expect(seen.map((error) => [error.status, error.code])).toEqual([[403, 'insufficient_scope']])
  })

  test('without portkeyAuth() before it, the default 500 (no onError is known)', async () => {
    const seen: AuthError[] = []
    const app = await startApp(framework, 'http://127.0.0.1:9', seen, false)
    const res = await send(`${app.url}/v1/logs`, {})
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ error: { code: 'auth_misconfigured' } })
    expect(seen).toEqual([])
  })
})
