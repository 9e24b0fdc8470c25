import { describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { ADAPTERS, capabilities } from '../support/adapters.js'
import { type StartSpec, useApp } from '../support/apps.js'
import { send } from '../support/servers.js'

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
  /** Hono's `c.req.raw`, the Request its handlers read. */
  web?: Record<string, string>
}

/**
 * An app with `portkeyAuth({ hideCredentials: true })` whose rejections go to the app's own error handling
 * (Express `next(error)`, Koa, Fastify and Hono a throw). Handler and error handler both answer with the views.
 * With `early`, a middleware before portkeyAuth reads `headersDistinct` (Node then caches it).
 */
const viewsApp = (early: boolean) =>
  ({
    stub: { keys: { [KEY]: keyRecord({ id: 'key_views' }), [NO_SCOPE]: keyRecord({ id: 'key_noscope', scopes: [] }) } },
    auth: (stub) => ({ controlPlaneUrl: stub.url, hideCredentials: true, scopes: { 'GET /scoped': 'completions.write' } }),
    before: early ? (seen) => void seen.node?.headersDistinct : undefined,
    onError: {
      via: 'app',
      answer: (error, seen) => ({ status: error.status, body: { code: error.code, ...seen.views() } }),
    },
    routes: [{ answer: (seen) => seen.views() }],
  }) satisfies StartSpec

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

// Where hideCredentials is taken: the Web adapter refuses it (test/adapters/hide-credentials.test.ts).
const HIDING = ADAPTERS.filter((adapter) => capabilities(adapter).hideCredentials)

describe.each(HIDING.flatMap((framework) => [false, true].map((early) => ({ framework, early }))))(
  '$framework (headersDistinct read before portkeyAuth: $early): hideCredentials in every header view',
  ({ framework, early }) => {
    test.each(CASES)(
      '$name: $status, and no view holds the key or throws',
      async ({ key, path = '/anything', status, code, times = 1 }) => {
        const app = await useApp(framework, viewsApp(early))
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
