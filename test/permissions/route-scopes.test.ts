import { describe, expect, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import { PORTKEY_SCOPES } from '../../src/permissions/portkey-scopes.js'
import { hasPermissions, scopeGuard } from '../../src/permissions/require.js'
import { compileScopes } from '../../src/permissions/route-scopes.js'
import type { ScopeMap } from '../../src/types.js'
import { authWith } from '../support/core-helpers.js'
import type { KeyType } from '../../src/types.js'

const auth = authWith

const challenge = (scope?: string) =>
  `Portkey realm="portkey", error="insufficient_scope"${scope === undefined ? '' : `, scope="${scope}"`}`

/** Asserts a 403 insufficient_scope whose WWW-Authenticate names `scope` (or none). */
function expectInsufficient(error: AuthError | null, scope?: string): AuthError {
  expect(error).toBeInstanceOf(AuthError)
  expect({ code: error!.code, status: error!.status, type: error!.type }).toEqual({
    code: 'insufficient_scope',
    status: 403,
    type: 'permission_error',
  })
  expect(error!.headers).toStrictEqual({ 'www-authenticate': challenge(scope) })
  return error!
}

describe('hasPermissions', () => {
  test.each<{ held: string[]; asked: string[]; ok: boolean }>([
    { held: ['completions.write'], asked: ['completions.write'], ok: true },
    { held: ['completions.write', 'logs.read'], asked: ['logs.read', 'completions.write'], ok: true },
    { held: ['completions.write'], asked: ['completions.write', 'logs.read'], ok: false },
    { held: [], asked: ['logs.read'], ok: false },
    { held: ['logs.read'], asked: [], ok: true },
    { held: ['logs.read'], asked: ['logs'], ok: false },
    { held: ['logs'], asked: ['logs.read'], ok: false },
    { held: ['Logs.Read'], asked: ['logs.read'], ok: false },
  ])('holding $held, asked for $asked → $ok', ({ held, asked, ok }) => {
    expect(hasPermissions(auth(held), ...asked)).toBe(ok)
  })
})

describe('scopeGuard', () => {
  test.each<{ name: string; scopes: unknown[] }>([
    { name: 'no scopes', scopes: [] },
    { name: 'an empty scope', scopes: [''] },
    { name: 'an empty scope among others', scopes: ['logs.read', ''] },
    { name: 'a scope that is not a string', scopes: [42] },
  ])('$name: TypeError when the guard is made', ({ scopes }) => {
    expect(() => scopeGuard(scopes as string[])).toThrow(TypeError)
  })

  test('no context (portkeyAuth() did not run): 500 auth_misconfigured naming portkeyAuth()', () => {
    const error = scopeGuard(['logs.read'])(undefined)
    expect(error).toBeInstanceOf(AuthError)
    expect({ code: error!.code, status: error!.status }).toEqual({ code: 'auth_misconfigured', status: 500 })
    expect(error!.message).toContain('portkeyAuth()')
  })

  test('every scope held: null', () => {
    expect(scopeGuard(['logs.read', 'completions.write'])(auth(['completions.write', 'logs.read', 'x.y']))).toBeNull()
  })

  test.each<{ held: string[]; required: string[]; missing: string }>([
    { held: [], required: ['logs.read'], missing: 'logs.read' },
    { held: ['completions.write'], required: ['completions.write', 'logs.read'], missing: 'logs.read' },
    {
      held: ['completions.write'],
      required: ['logs.read', 'completions.write', 'logs.export'],
      missing: 'logs.read logs.export',
    },
  ])('holding $held, requiring $required: 403 naming "$missing"', ({ held, required, missing }) => {
    const error = expectInsufficient(scopeGuard(required)(auth(held)), missing)
    for (const scope of missing.split(' ')) expect(error.message).toContain(scope)
  })
})

describe("compileScopes('portkey')", () => {
  const portkey = compileScopes('portkey')
  const WORKSPACE = 'workspace-service'
  const ORGANISATION = 'organisation-service'

  test.each<{ method: string; path: string; scopes: string[]; keyType?: KeyType; denied?: string | null }>([
    // Inference routes need completions.write.
    { method: 'POST', path: '/v1/chat/completions', scopes: ['completions.write'] },
    { method: 'POST', path: '/v1/chat/completions', scopes: ['logs.read'], denied: 'completions.write' },
    { method: 'POST', path: '/v1/chat/completions/', scopes: [], denied: 'completions.write' },
    { method: 'POST', path: '/v1/completions', scopes: [], denied: 'completions.write' },
    { method: 'POST', path: '/v1/embeddings', scopes: [], denied: 'completions.write' },
    { method: 'POST', path: '/v1/images/generations', scopes: [], denied: 'completions.write' },
    { method: 'POST', path: '/v1/audio/transcriptions', scopes: ['completions.write'] },
    { method: 'POST', path: '/v1/audio/speech', scopes: [], denied: 'completions.write' },
    // ':id' matches one segment, and only one.
    { method: 'POST', path: '/v1/prompts/p1/render', scopes: ['prompts.render'] },
    { method: 'POST', path: '/v1/prompts/p1/render', scopes: ['completions.write'], denied: 'prompts.render' },
    { method: 'POST', path: '/v1/prompts/p1/completions', scopes: ['prompts.render'], denied: 'completions.write' },
    { method: 'POST', path: '/v1/prompts/a/b/render', scopes: [] },
    { method: 'POST', path: '/v1/prompts//render', scopes: [] },
    // Any one of a list.
    { method: 'GET', path: '/v1/models', scopes: ['completions.write'] },
    { method: 'GET', path: '/v1/models', scopes: ['virtual_keys.list'] },
    { method: 'GET', path: '/v1/models', scopes: ['logs.read'], denied: 'completions.write virtual_keys.list' },
    // Method-specific routes, the trailing '*', and the first match winning (exports before logs).
    { method: 'GET', path: '/v1/logs', scopes: ['logs.read'] },
    { method: 'GET', path: '/v1/logs/abc', scopes: ['completions.write'], denied: 'logs.read' },
    { method: 'POST', path: '/v1/logs', scopes: ['logs.read'], denied: 'logs.write' },
    { method: 'GET', path: '/v1/logs/exports', scopes: ['logs.read'], denied: 'logs.export' },
    { method: 'GET', path: '/v1/logs/exports/e1', scopes: ['logs.export'] },
    { method: 'POST', path: '/v1/feedback', scopes: ['feedbacks.read'], denied: 'feedbacks.write' },
    { method: 'GET', path: '/v1/feedback/f1', scopes: ['feedbacks.write'], denied: 'feedbacks.read' },
    // Any-method routes.
    { method: 'GET', path: '/v1/mcp/server/tools', scopes: [], denied: 'mcp.invoke' },
    { method: 'DELETE', path: '/v1/mcp', scopes: ['mcp.invoke'] },
    { method: 'PATCH', path: '/v1/agents/a1', scopes: [], denied: 'agents.invoke' },
    // Unlisted routes (or unlisted methods of listed paths) pass on a valid credential alone.
    { method: 'GET', path: '/v1/chat/completions', scopes: [] },
    { method: 'POST', path: '/v1/chat', scopes: [] },
    { method: 'POST', path: '/v1/chat/completions/extra', scopes: [] },
    { method: 'POST', path: '/v2/chat/completions', scopes: [] },
    { method: 'GET', path: '/health', scopes: [] },
    { method: 'POST', path: '/v1/models', scopes: [] },
    // Organisation keys: never on inference routes, whatever they hold; elsewhere by their scopes.
    { method: 'POST', path: '/v1/chat/completions', scopes: ['completions.write'], keyType: ORGANISATION, denied: '' },
    { method: 'POST', path: '/v1/embeddings', scopes: ['completions.write'], keyType: ORGANISATION, denied: '' },
    { method: 'POST', path: '/v1/prompts/p1/completions', scopes: ['completions.write'], keyType: ORGANISATION, denied: '' },
    { method: 'GET', path: '/v1/models', scopes: ['virtual_keys.list'], keyType: ORGANISATION },
    { method: 'GET', path: '/v1/models', scopes: [], keyType: ORGANISATION, denied: 'completions.write virtual_keys.list' },
    { method: 'POST', path: '/v1/prompts/p1/render', scopes: ['prompts.render'], keyType: ORGANISATION },
    { method: 'GET', path: '/v1/logs', scopes: ['logs.read'], keyType: ORGANISATION },
    { method: 'POST', path: '/v1/chat/completions', scopes: ['completions.write'], keyType: 'workspace-user' },
  ])(
    '$keyType $method $path holding $scopes → denied: $denied',
    ({ method, path, scopes, keyType = WORKSPACE, denied = null }) => {
      const error = portkey.check(auth(scopes, keyType), method, path)
      if (denied === null) return expect(error).toBeNull()
      const rejection = expectInsufficient(error, denied === '' ? undefined : denied)
      if (denied === '') expect(rejection.message).toMatch(/organisation/i)
    },
  )

  test('PORTKEY_SCOPES is frozen', () => {
    expect(Object.isFrozen(PORTKEY_SCOPES)).toBe(true)
    expect(PORTKEY_SCOPES['POST /v1/chat/completions']).toBe('completions.write')
  })
})

describe('compileScopes(a custom map)', () => {
  const map: ScopeMap = {
    'POST /api/items/:id/publish': 'items.publish',
    'GET /api/items/special': 'items.special',
    'GET /api/items/:id': 'items.read',
    '/api/items*': 'items.write',
    'GET /api/reports': ['reports.read', 'admin.all'],
    'POST /api/run': 'completions.write',
  }
  const custom = compileScopes(map)

  test.each<{ method: string; path: string; scopes: string[]; keyType?: KeyType; denied?: string | null }>([
    { method: 'POST', path: '/api/items/i1/publish', scopes: ['items.publish'] },
    { method: 'POST', path: '/api/items/i1/publish', scopes: ['items.write'], denied: 'items.publish' },
    // First match wins: 'GET /api/items/special' comes before 'GET /api/items/:id'.
    { method: 'GET', path: '/api/items/special', scopes: ['items.read'], denied: 'items.special' },
    { method: 'GET', path: '/api/items/i1', scopes: ['items.read'] },
    { method: 'GET', path: '/api/items/i1/', scopes: ['items.write'], denied: 'items.read' },
    // Method-specific keys before an any-method one: other methods fall through to '/api/items*'.
    { method: 'DELETE', path: '/api/items/i1', scopes: ['items.read'], denied: 'items.write' },
    { method: 'PUT', path: '/api/items/i1/publish', scopes: ['items.write'] },
    { method: 'GET', path: '/api/items', scopes: [], denied: 'items.write' },
    { method: 'GET', path: '/api/itemsXYZ/deeper', scopes: [], denied: 'items.write' },
    // Any one of a list.
    { method: 'GET', path: '/api/reports', scopes: ['admin.all'] },
    { method: 'GET', path: '/api/reports', scopes: ['reports.read'] },
    { method: 'GET', path: '/api/reports', scopes: ['items.read'], denied: 'reports.read admin.all' },
    // Unlisted routes pass.
    { method: 'GET', path: '/api/other', scopes: [] },
    { method: 'POST', path: '/v1/chat/completions', scopes: [] },
    { method: 'POST', path: '/api/reports', scopes: [] },
    // A custom map has no organisation-key rule: its scopes decide.
    { method: 'POST', path: '/api/run', scopes: ['completions.write'], keyType: 'organisation-service' },
    { method: 'POST', path: '/api/run', scopes: [], keyType: 'organisation-service', denied: 'completions.write' },
  ])(
    '$keyType $method $path holding $scopes → denied: $denied',
    ({ method, path, scopes, keyType = 'workspace-service', denied = null }) => {
      const error = custom.check(auth(scopes, keyType), method, path)
      if (denied === null) expect(error).toBeNull()
      else expectInsufficient(error, denied)
    },
  )

  test('regex characters in a route are literal', () => {
    const dotted = compileScopes({ 'GET /a.b/(x)': 's' })
    expect(dotted.check(auth([]), 'GET', '/a.b/(x)')).not.toBeNull()
    expect(dotted.check(auth([]), 'GET', '/aXb/(x)')).toBeNull()
    expect(dotted.check(auth([]), 'GET', '/a.b/x')).toBeNull()
  })

  test('an empty map lets every route pass', () => {
    expect(compileScopes({}).check(auth([]), 'POST', '/v1/chat/completions')).toBeNull()
  })

  test.each<{ name: string; map: unknown }>([
    { name: 'a route without a leading slash', map: { 'GET v1/models': 's' } },
    { name: 'a lower-case method', map: { 'get /v1/models': 's' } },
    { name: 'two spaces', map: { 'GET  /v1/models': 's' } },
    { name: 'a route with a space in its path', map: { 'GET /v1/my models': 's' } },
    { name: 'an empty route', map: { '': 's' } },
    { name: 'an empty scope', map: { 'GET /v1/models': '' } },
    { name: 'an empty list', map: { 'GET /v1/models': [] } },
    { name: 'a list holding an empty scope', map: { 'GET /v1/models': ['a', ''] } },
    { name: 'a scope that is not a string', map: { 'GET /v1/models': 7 } },
    { name: 'a list holding a number', map: { 'GET /v1/models': ['a', 7] } },
  ])('$name: TypeError when compiled', ({ map }) => {
    expect(() => compileScopes(map as ScopeMap)).toThrow(TypeError)
  })
})
