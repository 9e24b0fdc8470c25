import { describe, expect, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import { compileScopes } from '../../src/permissions/route-scopes.js'
import type { ScopeMap } from '../../src/types.js'
import { authWith } from '../support/core-helpers.js'

// How compileScopes() reads request paths: any tail at a '/' matches, runs of slashes count as one, and a
// path that routers, proxies or upstreams could read as another route is refused before any scope check.

const auth = (scopes: string[]) => authWith(scopes)

/** The code of the rejection and the scope its challenge names, or `null` when the request may go on. */
function outcome(error: AuthError | null): string | null {
  if (error === null) return null
  expect(error).toBeInstanceOf(AuthError)
  if (error.code === 'invalid_request') {
    expect(error.status).toBe(400)
    return 'invalid_request'
  }
  expect({ code: error.code, status: error.status }).toEqual({ code: 'insufficient_scope', status: 403 })
  return /scope="([^"]*)"/.exec(error.headers['www-authenticate'] ?? '')?.[1] ?? ''
}

const portkey = compileScopes('portkey')

describe("compileScopes('portkey'): a rule guards every tail of the path", () => {
  test.each<[string, string, string | null]>([
    ['POST', '/api/v1/chat/completions', 'completions.write'],
    ['POST', '/x/y/v1/chat/completions', 'completions.write'],
    ['POST', '//v1/chat/completions', 'completions.write'],
    ['POST', '/v1//chat///completions//', 'completions.write'],
    ['POST', '/API/V1/CHAT/COMPLETIONS', 'completions.write'],
    ['POST', '/v1/x/v1/prompts/p1/render', 'prompts.render'],
    ['GET', '/api/v1/models', 'completions.write virtual_keys.list'],
    ['HEAD', '/api/v1/models', 'completions.write virtual_keys.list'],
    // The first rule in map order wins, whichever tail it matches: exports before logs.
    ['GET', '/v1/logs/x/v1/logs/exports', 'logs.export'],
    ['GET', '/api/v1/logs/exports/e1', 'logs.export'],
    ['GET', '/api/v1/logs', 'logs.read'],
    ['GET', '/mcp/v1/mcp/tools', 'mcp.invoke'],
    // A tail starts at a '/': nothing else is a segment boundary.
    ['POST', '/xv1/chat/completions', null],
    ['POST', '/v1/chat/completions/extra', null],
    ['POST', '/v1/chat/completionsx', null],
    ['POST', '/v1/chat', null],
    ['GET', '/api/v1/chat/completions', null],
    ['GET', '/health', null],
  ])('%s %s → %s', (method, path, denied) => {
    expect(outcome(portkey.check(auth([]), method, path))).toBe(denied)
  })

  test('a caller holding the scope passes on any tail', () => {
    for (const path of ['/api/v1/chat/completions', '//v1//chat/completions', '/v1/chat/completions/']) {
      expect(portkey.check(auth(['completions.write']), 'POST', path)).toBeNull()
    }
  })
})

describe('compileScopes(a custom map): tails and map order', () => {
  const custom = compileScopes({
    'GET /items/special': 'items.special',
    'GET /items/:id': 'items.read',
    'GET /:tenant/report': 'reports.read',
    'DELETE /': 'root.delete',
    'GET /été/*': 'summer.read',
    '/a//b': 'ab',
  } satisfies ScopeMap)

  test.each<[string, string, string | null]>([
    ['GET', '/api/items/special', 'items.special'],
    ['GET', '/api/items/i1', 'items.read'],
    ['GET', '/items/i1/items/special', 'items.special'],
    ['GET', '/a/b/c/report', 'reports.read'],
    ['GET', '/report', null],
    ['DELETE', '/', 'root.delete'],
    ['DELETE', '/sub/', 'root.delete'],
    ['DELETE', '/sub', null],
    ['GET', '/x/ÉTÉ/juillet', 'summer.read'],
    ['GET', '/x/a/b', 'ab'],
    ['GET', '/x/a//b', 'ab'],
  ])('%s %s → %s', (method, path, denied) => {
    expect(outcome(custom.check(auth([]), method, path))).toBe(denied)
  })
})

describe('a path that could name another route: 400 invalid_request before any scope is looked at', () => {
  test.each([
    ...['/v1/x/../chat/completions', '/v1/./chat/completions', '/v1/chat/completions/.', '/v1/chat/..', '/..', '/.'],
    ...['/v1\\chat', '\\v1/chat', '/v1/chat%2fcompletions', '/v1%2F', '/v1%5cx', '/v1%5C'],
    ...[
      '/v1/%2e%2e/x',
      '/v1/%2E',
      '/v1/chat/%63ompletions',
      '/%41',
      '/%5a',
      '/%61',
      '/%7A',
      '/%30',
      '/%39',
      '/%2d',
      '/%5f',
      '/%7e',
    ],
    ...['/v1/chat%', '/v1/chat%2', '/v1/%zz', '/v1/%%32%65'],
    ...['', '*', 'v1/chat/completions', 'http://a/v1/chat/completions', undefined as unknown as string],
  ])('%j', (path) => {
    // Refused even where no rule applies, and for a caller holding every scope.
    for (const scopes of [[], ['completions.write', 'logs.read']])
      expect(outcome(portkey.check(auth(scopes), 'GET', path))).toBe('invalid_request')
  })

  test.each([
    '/.well-known/x',
    '/v1/..x/.y/a.',
    '/v1/a..b',
    '/v1/%20x',
    '/v1/%2B%3A%40%25',
    '/v1/%C3%A9t%C3%A9',
    '/v1/a%2Cb',
    '/v1/%7B',
  ])('%s is no ambiguity: the scope map decides', (path) => {
    expect(portkey.check(auth([]), 'GET', path)).toBeNull()
  })

  test('without a rule in play the scope map still refuses it (an empty map too)', () => {
    expect(outcome(compileScopes({}).check(auth([]), 'GET', '/x/../y'))).toBe('invalid_request')
  })
})

describe('the cost stays linear in the length of the path', () => {
  const custom = compileScopes({ 'GET /:a/:b/report': 's', 'POST /v1/+x': 't', 'GET /v1/logs*': 'u' })
  test.each([
    ['16 000 slashes', '/'.repeat(16_000)],
    ['/v1 repeated', '/v1'.repeat(5_000)],
    ['/v1/ repeated', '/v1/'.repeat(4_000)],
    ['/v1// repeated', '/v1//'.repeat(3_000)],
    ['a long parameter', `/v1/prompts/${'a'.repeat(16_000)}`],
    ['prompts repeated', '/v1/prompts/a'.repeat(1_300)],
    ['a matching prefix and slash runs, repeated', `${`/v1/chat/completions${'/'.repeat(50)}`.repeat(220)}x`],
    ['short segments', '/a/b'.repeat(4_000)],
  ])('%s: under 250 ms for both maps and methods', (_name, path) => {
    const started = performance.now()
    for (const checker of [portkey, custom]) for (const method of ['GET', 'POST']) checker.check(auth([]), method, path)
    expect(performance.now() - started).toBeLessThan(250)
  })
})
