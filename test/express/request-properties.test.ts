import express, { type Express, type Request, type RequestHandler } from 'express'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { portkeyAuth, portkeyOf, quotaOf, requirePermissions } from '../../src/express/index.js'
import type { KeyRecord, PortkeyAuth, Quota } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { keyRecord } from '../../src/testing/index.js'
import { startRawServer } from '../support/core-helpers.js'
import { closeAfterTest, expectRejection, send } from '../support/servers.js'

// What a handler can observe of `req.portkey` and `req.portkeyQuota`, wherever Express puts the request: guarded
// and unguarded routes of one app, routers, sub-apps (Express swaps the request's prototype on the way in and out of
// each), two apps in one process. Run against Express 5 (project adapters) and 4 (adapters-previous).

const FREE = 'pk-free-0123456789abcdef'
const LIMITED = 'pk-limited-0123456789abc'

/** A portkeyAuth() over a look-up of its own: FREE (no limits) and LIMITED (a limit never reached), ids prefixed. */
function guard(prefix = 'key'): RequestHandler {
  const records: Record<string, KeyRecord> = {
    [FREE]: keyRecord({ id: `${prefix}_free` }),
    [LIMITED]: keyRecord({ id: `${prefix}_limited`, rate_limits: [{ type: 'requests', unit: 'rpd', value: 1_000_000 }] }),
  }
  return portkeyAuth({ verifier: createVerifier({ lookup: async (key) => records[key] ?? null, logger: false }) })
}

/** `portkeyOf(req)`'s key id, or the code of what it throws. */
function portkeyOfOrCode(req: Request): string {
  try {
    return portkeyOf(req).keyId
  } catch (error) {
    return (error as { code: string }).code
  }
}

/** The names `for...in` visits on `req`: its own enumerable properties and its prototypes'. */
function enumerated(req: Request): string[] {
  const names: string[] = []
  for (const name in req) names.push(name)
  return names
}

/** Everything a handler can see of the two properties, as JSON. */
function observed(req: Request) {
  const picked = (keys: string[]) => keys.filter((key) => key.startsWith('portkey')).sort()
  const spread: { portkey?: PortkeyAuth; portkeyQuota?: Quota } = { ...req }
  return {
    portkey: req.portkey?.keyId ?? null,
    portkeyOf: portkeyOfOrCode(req),
    quota: quotaOf(req) === null ? null : typeof quotaOf(req)?.reportTokens,
    portkeyQuota: req.portkeyQuota === undefined ? 'undefined' : req.portkeyQuota === quotaOf(req) ? 'quotaOf' : 'other',
    in: ['portkey' in req, 'portkeyQuota' in req],
    own: [Object.hasOwn(req, 'portkey'), Object.hasOwn(req, 'portkeyQuota')],
    keys: picked(Object.keys(req)),
    forIn: picked(enumerated(req)),
    spread: [spread.portkey?.keyId ?? null, spread.portkeyQuota === undefined ? null : 'quota'],
  }
}
type Observed = ReturnType<typeof observed>

const answer: RequestHandler = (req, res) => void res.json(observed(req))

/** What a guarded route shows for `keyId`, with a quota or not. */
const guarded = (keyId: string, limited: boolean): Observed => ({
  portkey: keyId,
  portkeyOf: keyId,
  quota: limited ? 'function' : null,
  portkeyQuota: limited ? 'quotaOf' : 'undefined',
  in: [true, limited],
  own: [true, limited],
  keys: limited ? ['portkey', 'portkeyQuota'] : ['portkey'],
  forIn: limited ? ['portkey', 'portkeyQuota'] : ['portkey'],
  spread: [keyId, limited ? 'quota' : null],
})
/** What a route portkeyAuth() did not run for shows: nothing at all. */
const UNGUARDED: Observed = {
  portkey: null,
  portkeyOf: 'auth_misconfigured',
  quota: null,
  portkeyQuota: 'undefined',
  in: [false, false],
  own: [false, false],
  keys: [],
  forIn: [],
  spread: [null, null],
}

/** Starts `app`, closed after the test; `get(path, key?)` answers the route's JSON (status 200 expected), `get.url` is its base. */
async function serve(app: Express) {
  const running = closeAfterTest(await startRawServer(app))
  const get = async (path: string, key?: string) => {
    const res = await send(running.url + path, key === undefined ? {} : { 'x-portkey-api-key': key })
    expect(res.status, res.text).toBe(200)
    return res.json<Observed>()
  }
  return Object.assign(get, { url: running.url })
}

describe('express: req.portkey and req.portkeyQuota on guarded and unguarded routes', () => {
  test('guarded: own enumerable properties, as portkeyOf() and quotaOf() read them; portkeyQuota for a limited key only', async () => {
    const app = express()
    app.use(guard())
    app.get('/x', answer)
    const get = await serve(app)
    expect(await get('/x', FREE)).toEqual(guarded('key_free', false))
    expect(await get('/x', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/x', FREE)).toEqual(guarded('key_free', false))
  })

  test('routes it does not guard, in the same app, before and after guarded requests: no property at all', async () => {
    const app = express()
    app.get('/open', answer)
    app.use('/v1', guard())
    app.get('/v1/x', answer)
    app.get('/v2/x', answer)
    const get = await serve(app)
    expect(await get('/open')).toEqual(UNGUARDED)
    expect(await get('/v1/x', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/open', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/v2/x', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/v1/x', FREE)).toEqual(guarded('key_free', false))
    expect(await get('/open')).toEqual(UNGUARDED)
  })

  test('a handler that assigns req.portkey reads back what it wrote, an own property; delete removes it', async () => {
    const mine = { keyId: 'mine' } as PortkeyAuth
    const assign: RequestHandler = (req, res) => {
      const before = req.portkey?.keyId ?? null
      req.portkey = mine
      const after = { value: req.portkey === mine, portkeyOf: portkeyOf(req) === mine, own: Object.hasOwn(req, 'portkey') }
      const keys = Object.keys(req).filter((key) => key === 'portkey')
      delete req.portkey
      res.json({ before, after, keys, deleted: [req.portkey ?? null, 'portkey' in req] })
    }
    const app = express()
    app.get('/open', assign)
    app.use(guard())
    app.get('/guarded', assign)
    const running = closeAfterTest(await startRawServer(app))
    const expected = (before: string | null) => ({
      before,
      after: { value: true, portkeyOf: true, own: true },
      keys: ['portkey'],
      deleted: [null, false],
    })
    expect((await send(`${running.url}/open`)).json()).toEqual(expected(null))
    expect((await send(`${running.url}/guarded`, { 'x-portkey-api-key': FREE })).json()).toEqual(expected('key_free'))
    expect((await send(`${running.url}/open`)).json()).toEqual(expected(null))
  })

  test('a handler that deletes req.portkey and req.portkeyQuota drops them: what runs after it sees none', async () => {
    const app = express()
    app.use(guard())
    app.use((req, _res, next) => {
      delete req.portkey
      delete req.portkeyQuota
      next()
    })
    app.get('/x', answer)
    app.get('/scoped', requirePermissions('completions.write'), answer)
    const get = await serve(app)
    expect(await get('/x', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/x', FREE)).toEqual(UNGUARDED)
    expectRejection(await send(`${get.url}/scoped`, { 'x-portkey-api-key': LIMITED }), 500, 'auth_misconfigured')
  })
})

describe('express: req.portkey through routers and sub-apps', () => {
  test('a guarded router: its routes and the app routes after it see the context; a sibling router and earlier routes do not', async () => {
    const app = express()
    const v1 = express.Router()
    v1.use(guard())
    v1.get('/x', answer)
    const v2 = express.Router()
    v2.get('/x', answer)
    app.get('/open', answer)
    app.use('/v1', v1)
    app.use('/v2', v2)
    app.get('/v1/after', answer)
    const get = await serve(app)
    expect(await get('/v1/x', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/v1/after', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/v2/x', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/open', LIMITED)).toEqual(UNGUARDED)
  })

  test('the guard on the parent app: routes of a sub-app mounted after it see the context', async () => {
    const app = express()
    const sub = express()
    sub.get('/x', answer)
    app.get('/open', answer)
    app.use(guard())
    app.use('/v1', sub)
    const get = await serve(app)
    expect(await get('/v1/x', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/v1/x', FREE)).toEqual(guarded('key_free', false))
    expect(await get('/open', FREE)).toEqual(UNGUARDED)
  })

  test('the guard in a sub-app: its routes, and the parent routes the request reaches after it, see the context', async () => {
    const app = express()
    const sub = express()
    sub.use(guard())
    sub.get('/x', answer)
    const other = express()
    other.get('/x', answer)
    app.get('/open', answer)
    app.use('/v1', sub)
    app.use('/v2', other)
    app.get('/v1/after', answer)
    app.get('/v2/after', answer)
    const get = await serve(app)
    expect(await get('/v1/x', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/v1/after', LIMITED)).toEqual(guarded('key_limited', true))
    expect(await get('/v1/after', FREE)).toEqual(guarded('key_free', false))
    expect(await get('/v2/x', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/v2/after', LIMITED)).toEqual(UNGUARDED)
    expect(await get('/open', LIMITED)).toEqual(UNGUARDED)
  })

  test('guards on the parent and in a sub-app: the sub-app’s context replaces the parent’s from there on', async () => {
    const app = express()
    const sub = express()
    sub.use(guard('inner'))
    sub.get('/x', answer)
    app.use(guard('outer'))
    app.get('/x', answer)
    app.use('/v1', sub)
    app.get('/v1/after', answer)
    const get = await serve(app)
    expect(await get('/x', LIMITED)).toEqual(guarded('outer_limited', true))
    expect(await get('/v1/x', LIMITED)).toEqual(guarded('inner_limited', true))
    expect(await get('/v1/after', FREE)).toEqual(guarded('inner_free', false))
  })
})

describe('express: two apps in one process', () => {
  test('each sees only the context of its own portkeyAuth(), requests interleaved; an unguarded third sees none', async () => {
    const [a, b, c] = [express(), express(), express()]
    a.use(guard('a'))
    b.use(guard('b'))
    for (const app of [a, b, c]) app.get('/x', answer)
    const [getA, getB, getC] = await Promise.all([serve(a), serve(b), serve(c)])
    const rounds = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const key = i % 2 === 0 ? FREE : LIMITED
        return Promise.all([getA('/x', key), getB('/x', key), getC('/x', key)])
      }),
    )
    rounds.forEach(([fromA, fromB, fromC], i) => {
      const [suffix, limited] = i % 2 === 0 ? ['free', false] : ['limited', true]
      expect(fromA).toEqual(guarded(`a_${suffix}`, limited))
      expect(fromB).toEqual(guarded(`b_${suffix}`, limited))
      expect(fromC).toEqual(UNGUARDED)
    })
  })
})

describe('express: the properties’ types', () => {
  test('req.portkey and req.portkeyQuota are optional and assignable; portkeyOf() and quotaOf() read any request', () => {
    expectTypeOf<Request['portkey']>().toEqualTypeOf<PortkeyAuth | undefined>()
    expectTypeOf<Request['portkeyQuota']>().toEqualTypeOf<Quota | undefined>()
    const handler: RequestHandler = (req, res) => {
      req.portkey = portkeyOf(req)
      req.portkeyQuota = quotaOf(req) ?? undefined
      delete req.portkey
      res.end()
    }
    expectTypeOf(handler).toBeFunction()
    expectTypeOf(portkeyOf).parameter(0).toEqualTypeOf<{ readonly portkey?: PortkeyAuth | undefined }>()
    expectTypeOf(quotaOf).parameter(0).toEqualTypeOf<{ readonly portkeyQuota?: Quota | undefined }>()
  })
})
