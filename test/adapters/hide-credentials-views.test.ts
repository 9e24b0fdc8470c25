import type { IncomingMessage } from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import { describe, expect, test } from 'vitest'
import type { AuthError } from '../../src/errors.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { keyRecord } from '../../src/testing/index.js'
import { closeAfterTest, FRAMEWORKS, type Framework, send, startExpress, startKoa, useStub } from '../support/servers.js'

// hideCredentials removes the key from all three of Node's header views (headers, headersDistinct,
// rawHeaders), whichever was read first, without leaving one that throws when read; and it does so on
// every outcome, so an app's error handler that logs or forwards the request cannot leak it either.

const KEY = 'pk-views-live-0123456789abcdef'
const UNKNOWN = 'pk-views-unknown-0123456789abcdef'
const NO_SCOPE = 'pk-views-noscope-0123456789abcdef'

/** What a handler (or an error handler) read of the request's header views, read in that order. */
interface Views {
  code?: string
  headers: Record<string, unknown>
  distinct: Record<string, unknown>
  raw: string[]
}

const viewsOf = (req: IncomingMessage): Views => ({ headers: req.headers, distinct: req.headersDistinct, raw: req.rawHeaders })

/**
 * An app with `portkeyAuth({ hideCredentials: true })` whose rejections go to the app's own error
 * handling (Express `next(error)`, Koa `throw`). Handler and error handler both answer with the views.
 * With `early`, a middleware before portkeyAuth reads `headersDistinct` (Node then caches it).
 */
async function startApp(framework: Framework, early: boolean) {
  const stub = await useStub({
    keys: { [KEY]: keyRecord({ id: 'key_views' }), [NO_SCOPE]: keyRecord({ id: 'key_noscope', scopes: [] }) },
  })
  const options = { controlPlaneUrl: stub.url, hideCredentials: true, scopes: { 'GET /scoped': 'completions.write' } }
  const running =
    framework === 'express'
      ? await startExpress((app) => {
          if (early) {
            app.use((req, _res, next) => {
              void req.headersDistinct
              next()
            })
          }
          app.use(expressAuth({ ...options, onError: (error: AuthError, _req, _res, next) => next(error) }))
          app.use((req, res) => void res.json(viewsOf(req)))
          app.use((error: AuthError, req: Request, res: Response, _next: NextFunction) => {
            res.status(error.status).json({ code: error.code, ...viewsOf(req) })
          })
        })
      : await startKoa((app) => {
          app.use(async (ctx, next) => {
            try {
              await next()
            } catch (error) {
              ctx.status = (error as AuthError).status
              ctx.body = { code: (error as AuthError).code, ...viewsOf(ctx.req) }
            }
          })
          if (early) {
            app.use((ctx, next) => {
              void ctx.req.headersDistinct
              return next()
            })
          }
          app.use(
            koaAuth({
              ...options,
              onError: (error) => {
                throw error
              },
            }),
          )
          app.use((ctx) => void (ctx.body = viewsOf(ctx.req)))
        })
  return closeAfterTest(running)
}

interface Case {
  name: string
  key: string | string[]
  path?: string
  status: number
  code?: string
  /** Requests sent; the views of the last are checked. @default 1 */
  times?: number
}

const CASES: Case[] = [
  { name: 'admitted', key: KEY, status: 200 },
  { name: 'admitted from the cache', key: KEY, status: 200, times: 2 },
  { name: 'refused: unknown key (after a look-up)', key: UNKNOWN, status: 401, code: 'invalid_api_key' },
  { name: 'refused: malformed key (no look-up)', key: `${UNKNOWN} x`, status: 401, code: 'invalid_api_key' },
  { name: 'refused: the header twice', key: [KEY, UNKNOWN], status: 400, code: 'invalid_request' },
  { name: 'refused: a scope the key lacks', key: NO_SCOPE, path: '/scoped', status: 403, code: 'insufficient_scope' },
]

describe.each(FRAMEWORKS.flatMap((framework) => [false, true].map((early) => ({ framework, early }))))(
  '$framework (headersDistinct read before portkeyAuth: $early): hideCredentials in every header view',
  ({ framework, early }) => {
    test.each(CASES)(
      '$name: $status, and no view holds the key or throws',
      async ({ key, path = '/anything', status, code, times = 1 }) => {
        const app = await startApp(framework, early)
        let res
        for (let i = 0; i < times; i++)
          res = await send(app.url + path, { 'X-Portkey-Api-Key': key, 'X-Trace': 'trace-1', 'x-multi': ['a', 'b'] })
        expect({ status: res!.status, text: res!.status === status ? '' : res!.text }).toEqual({ status, text: '' })
        const views = res!.json<Views>()
        expect(views.code).toBe(code)
        // Gone from every view, whatever the case of the name and however many lines carried it…
        for (const secret of [key].flat()) expect(JSON.stringify(views)).not.toContain(secret)
        expect(views.headers).not.toHaveProperty('x-portkey-api-key')
        expect(views.distinct).not.toHaveProperty('x-portkey-api-key')
        expect(views.raw.filter((_, i) => i % 2 === 0).map((header) => header.toLowerCase())).not.toContain('x-portkey-api-key')
        // …and nothing else went: the other headers are intact in all three.
        expect(views.headers).toMatchObject({ 'x-trace': 'trace-1', 'x-multi': 'a, b' })
        expect(views.distinct).toMatchObject({ 'x-trace': ['trace-1'], 'x-multi': ['a', 'b'] })
        expect(views.raw).toEqual(expect.arrayContaining(['X-Trace', 'trace-1', 'x-multi', 'b']))
        expect(views.raw.length).toBe(Object.values(views.distinct).flat().length * 2)
      },
    )
  },
)
