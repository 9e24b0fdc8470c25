import type { OutgoingHttpHeaders } from 'node:http'
import { beforeEach, describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { PortkeyAuth, ScopeMap } from '../../src/types.js'
import { type ControlPlaneStub, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { shared, startApp } from '../support/apps.js'
import { closeAfterTest, contractFramework, type RawResponse, send } from '../support/servers.js'

/** Keys by what they hold. */
const KEYS = {
  writer: 'pk-writer-0123456789abcdef',
  renderer: 'pk-renderer-0123456789abcdef',
  lister: 'pk-lister-0123456789abcdef',
  reader: 'pk-reader-0123456789abcdef',
  nothing: 'pk-nothing-0123456789abcdef',
  org: 'pk-org-0123456789abcdef',
} as const
type Holder = keyof typeof KEYS

const records = () => ({
  [KEYS.writer]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
  [KEYS.renderer]: keyRecord({ id: 'key_renderer', scopes: ['prompts.render'] }),
  [KEYS.lister]: keyRecord({ id: 'key_lister', scopes: ['virtual_keys.list'] }),
  [KEYS.reader]: keyRecord({ id: 'key_reader', scopes: ['logs.read', 'logs.export'] }),
  [KEYS.nothing]: keyRecord({ id: 'key_nothing', scopes: [] }),
  [KEYS.org]: keyRecord({
    id: 'key_org',
    type: 'organisation-service',
    workspace_id: null,
    scopes: ['completions.write', 'virtual_keys.list', 'prompts.render'],
  }),
})

interface AppSetup {
  /** The keys the app's stub knows. @default records() */
  keys?: Record<string, ReturnType<typeof keyRecord>>
  /** Options of `portkeyAuth()` besides the stub's URL; `null` leaves it out. @default {} */
  auth?: Omit<MiddlewareOptions, 'controlPlaneUrl'> | null
  /** Scopes of a `requirePermissions()` guard on every route. */
  guard?: string[]
  /** Where `portkeyAuth()` and the routes are mounted. */
  prefix?: string
}

/**
 * A stub and an app whose one handler answers every path and method with `{ keyId }`, recording in `reached` what
 * each request that reached it carried (its context, or `null`); the caller closes it.
 */
async function keyIdApp(adapter: AdapterName, { keys = records(), auth = {}, guard, prefix }: AppSetup = {}) {
  const reached: Array<PortkeyAuth | null> = []
  const app = await startApp(adapter, {
    stub: { keys },
    auth: (stub) => (auth === null ? null : { controlPlaneUrl: stub.url, ...auth }),
    prefix,
    routes: [{ scopes: guard, answer: ({ portkey }) => (reached.push(portkey ?? null), { keyId: portkey?.keyId ?? null }) }],
  })
  return Object.assign(app, {
    reached,
    // For an app shared by a describe's tests: each starts with an empty cache, no calls counted and nothing reached.
    reset() {
      app.verifier!.clear()
      app.stub.resetCounts()
      reached.length = 0
    },
  })
}

function request(
  app: { readonly url: string },
  method: string,
  path: string,
  holder: Holder,
  headers: OutgoingHttpHeaders = {},
): Promise<RawResponse> {
  return send(
    app.url + path,
    { 'x-portkey-api-key': KEYS[holder], 'content-type': 'application/json', ...headers },
    { method, body: method === 'GET' ? undefined : '{}' },
  )
}

const challenge = (scope?: string) =>
  `Portkey realm="portkey", error="insufficient_scope"${scope === undefined ? '' : `, scope="${scope}"`}`

/** 403 insufficient_scope, with its exact body and a WWW-Authenticate naming `scope` (or no scope). */
function expectInsufficient(res: RawResponse, scope?: string): void {
  expect({ status: res.status, text: res.text }).toMatchObject({ status: 403 })
  const body = res.json<{ message: string }>()
  expect(body).toStrictEqual({
    status: 'failure',
    message: expect.stringMatching(/\S/),
    error: { message: body.message, type: 'permission_error', code: 'insufficient_scope' },
  })
  expect(res.headers['www-authenticate']).toBe(challenge(scope))
}

describe.each(ADAPTERS)('%s: requirePermissions', (framework: AdapterName) => {
  const setup = async (app: AppSetup) => closeAfterTest(await keyIdApp(framework, app))

  test('passes a caller holding every scope', async () => {
    const app = await setup({ guard: ['logs.read', 'logs.export'] })
    const res = await request(app, 'GET', '/logs', 'reader')
    expect(res.status).toBe(200)
    expect(res.json()).toStrictEqual({ keyId: 'key_reader' })
    expect(app.reached.map((auth) => auth?.keyId)).toEqual(['key_reader'])
  })

  test.each<{ holder: Holder; guard: string[]; missing: string }>([
    { holder: 'nothing', guard: ['logs.read'], missing: 'logs.read' },
    { holder: 'writer', guard: ['logs.read', 'completions.write'], missing: 'logs.read' },
    { holder: 'reader', guard: ['logs.read', 'logs.write', 'feedbacks.write'], missing: 'logs.write feedbacks.write' },
  ])('refuses $holder on requirePermissions($guard): 403 naming "$missing"', async ({ holder, guard, missing }) => {
    const app = await setup({ guard })
    const res = await request(app, 'GET', '/logs', holder)
    expectInsufficient(res, missing)
    expect(app.reached).toHaveLength(0)
  })

  test('without portkeyAuth() before it: 500 auth_misconfigured saying so, and the route never runs', async () => {
    const app = await setup({ auth: null, guard: ['logs.read'] })
    for (const holder of ['reader', 'nothing'] as const) {
      const res = await request(app, 'GET', '/logs', holder)
      expect(res.status).toBe(500)
      const body = res.json<{ message: string; error: { code: string; type: string } }>()
      expect(body.error).toMatchObject({ code: 'auth_misconfigured', type: 'api_error' })
      expect(body.message).toMatch(/portkeyAuth\(\)/)
      expect(body.message).toMatch(/without|missing|before/i)
    }
    expect(app.reached).toHaveLength(0)
    expect(app.stub.calls()).toBe(0)
  })

  test('requirePermissions() with no scope, or an empty one, throws a TypeError when called', () => {
    const { requirePermissions } = contractFramework(framework)
    expect(() => requirePermissions()).toThrow(TypeError)
    expect(() => requirePermissions('logs.read', '')).toThrow(TypeError)
  })
})

interface RouteCase {
  method: string
  path: string
  holder: Holder
  /** `null`: passes; a string: refused naming it ('' for no scope, as for an organisation key). */
  denied: string | null
}

const PORTKEY_ROUTES: RouteCase[] = [
  { method: 'POST', path: '/v1/chat/completions', holder: 'writer', denied: null },
  { method: 'POST', path: '/v1/chat/completions', holder: 'reader', denied: 'completions.write' },
  { method: 'POST', path: '/v1/chat/completions?stream=false', holder: 'renderer', denied: 'completions.write' },
  { method: 'POST', path: '/v1/embeddings', holder: 'lister', denied: 'completions.write' },
  { method: 'POST', path: '/v1/prompts/p1/render', holder: 'renderer', denied: null },
  { method: 'POST', path: '/v1/prompts/p1/render', holder: 'writer', denied: 'prompts.render' },
  { method: 'GET', path: '/v1/models', holder: 'writer', denied: null },
  { method: 'GET', path: '/v1/models', holder: 'lister', denied: null },
  { method: 'GET', path: '/v1/models', holder: 'reader', denied: 'completions.write virtual_keys.list' },
  { method: 'GET', path: '/v1/logs', holder: 'reader', denied: null },
  { method: 'GET', path: '/v1/logs', holder: 'writer', denied: 'logs.read' },
  { method: 'GET', path: '/health', holder: 'nothing', denied: null },
  // Routers match paths case-insensitively, so the map must too; and Express answers HEAD with GET routes.
  { method: 'POST', path: '/V1/Chat/Completions', holder: 'reader', denied: 'completions.write' },
  { method: 'GET', path: '/v1/LOGS/exports', holder: 'writer', denied: 'logs.export' },
  // Organisation keys: refused on inference routes whatever they hold, admitted on /v1/models by virtual_keys.list.
  { method: 'POST', path: '/v1/chat/completions', holder: 'org', denied: '' },
  { method: 'POST', path: '/v1/completions', holder: 'org', denied: '' },
  { method: 'POST', path: '/v1/CHAT/completions', holder: 'org', denied: '' },
  { method: 'GET', path: '/v1/models', holder: 'org', denied: null },
  { method: 'POST', path: '/v1/prompts/p1/render', holder: 'org', denied: null },
]

const CUSTOM: ScopeMap = {
  'POST /api/items/:id/publish': 'items.publish',
  'GET /api/items/:id': 'items.read',
  '/api/admin*': ['admin.all', 'admin.read'],
  'POST /api/run': 'completions.write',
}

const CUSTOM_RECORDS = {
  publisher: keyRecord({ id: 'key_publisher', scopes: ['items.publish'] }),
  itemReader: keyRecord({ id: 'key_item_reader', scopes: ['items.read'] }),
  adminReader: keyRecord({ id: 'key_admin_reader', scopes: ['admin.read'] }),
  org: keyRecord({ id: 'key_custom_org', type: 'organisation-service', workspace_id: null, scopes: ['completions.write'] }),
}
type CustomHolder = keyof typeof CUSTOM_RECORDS

const CUSTOM_ROUTES: Array<{ method: string; path: string; holder: CustomHolder; denied: string | null }> = [
  { method: 'POST', path: '/api/items/i1/publish', holder: 'publisher', denied: null },
  { method: 'POST', path: '/api/items/i1/publish', holder: 'itemReader', denied: 'items.publish' },
  { method: 'GET', path: '/api/items/i1', holder: 'itemReader', denied: null },
  { method: 'GET', path: '/api/items/i1', holder: 'publisher', denied: 'items.read' },
  { method: 'DELETE', path: '/api/admin/users/u1', holder: 'adminReader', denied: null },
  { method: 'GET', path: '/api/admin', holder: 'itemReader', denied: 'admin.all admin.read' },
  { method: 'GET', path: '/api/items', holder: 'adminReader', denied: null },
  // No organisation-key rule in a custom map: its scopes decide.
  { method: 'POST', path: '/api/run', holder: 'org', denied: null },
]

const CUSTOM_KEYS = Object.fromEntries(Object.entries(CUSTOM_RECORDS).map(([name, record]) => [`pk-${name}-0123456789`, record]))

describe.each(ADAPTERS)('%s: the scopes option of portkeyAuth()', (framework: AdapterName) => {
  // A stub and an app with `portkeyAuth({ scopes })` in front of it, shared by the describe's tests.
  const portkey = shared(() => keyIdApp(framework, { auth: { scopes: 'portkey' } }))
  const custom = shared(() => keyIdApp(framework, { keys: CUSTOM_KEYS, auth: { scopes: CUSTOM } }))
  beforeEach(() => {
    portkey().reset()
    custom().reset()
  })

  function expectOutcome(
    res: RawResponse,
    app: { readonly reached: Array<PortkeyAuth | null> },
    stub: ControlPlaneStub,
    denied: string | null,
    keyId: string,
  ) {
    if (denied === null) {
      expect(res.status).toBe(200)
      expect(res.json()).toStrictEqual({ keyId })
      expect(app.reached.map((auth) => auth?.keyId)).toEqual([keyId])
    } else {
      expectInsufficient(res, denied === '' ? undefined : denied)
      if (denied === '') expect(res.json<{ message: string }>().message).toMatch(/organisation/i)
      expect(app.reached).toHaveLength(0)
    }
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  }

  test.each(PORTKEY_ROUTES)("'portkey': $holder $method $path → denied: $denied", async ({ method, path, holder, denied }) => {
    const app = portkey()
    const res = await request(app, method, path, holder)
    expectOutcome(res, app, app.stub, denied, records()[KEYS[holder]].id)
  })

  test.each<[Holder, number]>([
    ['reader', 403],
    ['lister', 200],
  ])("'portkey': a GET rule guards HEAD too (%s → %i)", async (holder, status) => {
    const app = portkey()
    const res = await send(`${app.url}/v1/models`, { 'x-portkey-api-key': KEYS[holder] }, { method: 'HEAD' })
    expect(res.status).toBe(status)
    expect(app.reached).toHaveLength(status === 200 ? 1 : 0)
  })

  test.each(CUSTOM_ROUTES)('a custom map: $holder $method $path → denied: $denied', async ({ method, path, holder, denied }) => {
    const app = custom()
    const res = await send(app.url + path, { 'x-portkey-api-key': `pk-${holder}-0123456789` }, { method })
    expectOutcome(res, app, app.stub, denied, CUSTOM_RECORDS[holder].id)
  })

  test('a malformed scopes map throws a TypeError when the middleware is created', () => {
    const { portkeyAuth } = contractFramework(framework)
    expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', scopes: { 'post /v1/x': 'a' } })).toThrow(TypeError)
    expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', scopes: { 'POST /v1/x': [] } })).toThrow(TypeError)
    expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', scopes: 'openai' as 'portkey' })).toThrow(TypeError)
  })
})

// Where an app can be mounted, the scope map checks the full path (the Web adapter's handler is not mounted).
describe.each(ADAPTERS.filter((adapter) => capabilities(adapter).mount))(
  "%s: portkeyAuth({ scopes: 'portkey' }) mounted under a prefix",
  (framework) => {
    test.each<{ prefix: string; method: string; path: string; holder: Holder; denied: string | null }>([
      { prefix: '/v1', method: 'POST', path: '/v1/chat/completions', holder: 'writer', denied: null },
      { prefix: '/v1', method: 'POST', path: '/v1/chat/completions', holder: 'reader', denied: 'completions.write' },
      { prefix: '/v1', method: 'POST', path: '/v1/prompts/p1/render', holder: 'writer', denied: 'prompts.render' },
      { prefix: '/v1', method: 'GET', path: '/v1/models', holder: 'lister', denied: null },
      { prefix: '/v1', method: 'POST', path: '/v1/chat/completions', holder: 'org', denied: '' },
      { prefix: '/v1/prompts', method: 'POST', path: '/v1/prompts/p1/render', holder: 'lister', denied: 'prompts.render' },
    ])('$prefix: $holder $method $path → denied: $denied', async ({ prefix, method, path, holder, denied }) => {
      const app = closeAfterTest(await keyIdApp(framework, { auth: { scopes: 'portkey' }, prefix }))
      const res = await request(app, method, path, holder)
      if (denied === null) {
        expect(res.status).toBe(200)
        expect(app.reached).toHaveLength(1)
      } else {
        expectInsufficient(res, denied === '' ? undefined : denied)
        expect(app.reached).toHaveLength(0)
      }
    })

    test('a path outside the prefix never meets the guard: no 401, no look-up', async () => {
      const app = closeAfterTest(await keyIdApp(framework, { auth: { scopes: 'portkey' }, prefix: '/v1' }))
      const res = await send(`${app.url}/health`)
      expect(res.status).toBe(404)
      expect(app.reached).toEqual([])
      expect(app.stub.calls()).toBe(0)
    })
  },
)
