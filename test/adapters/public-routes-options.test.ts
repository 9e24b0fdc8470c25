import { describe, expect, test } from 'vitest'
import { SERVER_FEATURES } from '../../src/adapters/server-features.js'
import { createDispatch, type Framework } from '../../src/adapters/dispatch.js'
import { compilePublicRoutes } from '../../src/adapters/public-routes.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as honoAuth } from '../../src/hono/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import type { PortkeyAuth } from '../../src/types.js'

// The `publicRoutes` option: validated when the middleware is made, matched exactly, and free when unset. It is an
// option of the Express, Koa and Hono middleware; Fastify's plugin guards by plugin scope instead, and the Web
// adapter refuses it (test/web).
const FACTORIES = [expressAuth, koaAuth, honoAuth] as const

const OFFLINE = 'http://127.0.0.1:9'

describe('publicRoutes: validation at construction', () => {
  test.each([
    ['a string', '/health'],
    ['an object', { '/health': true }],
    ['null', null],
    ['a number entry', [42]],
    ['a null entry', [null]],
    ['an empty entry', ['']],
    ['no leading slash', ['health']],
    ['a lower-case method', ['get /health']],
    ['two spaces', ['GET  /health']],
    ['a method alone', ['GET']],
    ['a trailing space', ['/health ']],
    ['a space in the path', ['/a b']],
    ['a query', ['/health?x=1']],
    ['a fragment', ['/health#x']],
    ['a route parameter', ['/users/:id']],
    ['a wildcard inside', ['/a/*/b']],
    ['a wildcard not after a slash', ['/docs*']],
    ['a double wildcard', ['/docs/**']],
    ['everything', ['/*']],
    ['every GET', ['GET /*']],
    ['a dot segment', ['/a/../health']],
    ['a single dot segment', ['/./health']],
    ['a trailing dot segment', ['/docs/../*']],
    ['a backslash', ['/a\\b']],
    ['an encoded slash', ['/a%2fb']],
    ['an encoded letter', ['/%68ealth']],
    ['a malformed escape', ['/a%zz']],
    ['one bad entry among good ones', ['/health', 7]],
  ])('%s is a TypeError, on Express, Koa and Hono', (_name, publicRoutes) => {
    for (const factory of FACTORIES) {
      expect(() => factory({ controlPlaneUrl: OFFLINE, publicRoutes: publicRoutes as string[] })).toThrow(TypeError)
      expect(() => factory({ controlPlaneUrl: OFFLINE, publicRoutes: publicRoutes as string[] })).toThrow(/publicRoutes/)
    }
  })

  test('the message names the entry', () => {
    expect(() => expressAuth({ controlPlaneUrl: OFFLINE, publicRoutes: ['/users/:id'] })).toThrow('"/users/:id"')
  })

  test.each([
    [[]],
    [['/health']],
    [['GET /health', 'HEAD /health', 'POST /v1/webhooks/stripe']],
    [['/']],
    [['/docs/*', '/.well-known/openid-configuration', '/files/a%20b', '/a:b', '/v1/models']],
    [undefined],
  ])('%j is accepted', (publicRoutes) => {
    for (const factory of FACTORIES) expect(() => factory({ controlPlaneUrl: OFFLINE, publicRoutes })).not.toThrow()
  })

  test('is accepted beside a shared { verifier }', () => {
    const verifier = createVerifier({ controlPlaneUrl: OFFLINE })
    for (const factory of FACTORIES) expect(factory({ verifier, publicRoutes: ['/health'] }).verifier).toBe(verifier)
  })

  test('is an option of portkeyAuth(), not of createVerifier()', () => {
    expect(() => createVerifier({ publicRoutes: ['/health'] } as never)).toThrow(/portkeyAuth/)
  })
})

describe('publicRoutes: the matching rule', () => {
  const isPublic = compilePublicRoutes(['/health', 'GET /status', '/docs/*', '/'])!
  const at = (method: string, path: string) => isPublic({ method, path })

  test.each([
    ['GET', '/health'],
    ['POST', '/health'],
    ['GET', '/status'],
    ['HEAD', '/status'],
    ['GET', '/docs/a'],
    ['GET', '/docs/a/'],
    ['GET', '/docs/a//b'],
    ['GET', '/docs/a;b'],
    ['GET', '/'],
  ])('%s %s is public', (method, path) => {
    expect(at(method, path)).toBe(true)
  })

  test.each([
    ['GET', '/Health'],
    ['GET', '/health/'],
    ['GET', '//health'],
    ['GET', '/health/..'],
    ['GET', '/health%2f..'],
    ['POST', '/status'],
    ['get', '/status'],
    ['GET', '/docs'],
    // the prefix's base route once a router folds the slash or ends the path at ';'
    ['GET', '/docs/'],
    ['GET', '/docs//'],
    ['GET', '/docs//a'],
    ['GET', '/docs/;a'],
    ['GET', '/docs/;'],
    ['GET', '/docs/../x'],
    ['GET', '/docs/%2e%2e/x'],
    ['GET', '/docs/a\\..\\..\\x'],
    ['GET', '/docs/%252e%252e/x'],
    ['GET', '//'],
    ['GET', ''],
    ['GET', 'health'],
  ])('%s %s is not', (method, path) => {
    expect(at(method, path)).toBe(false)
  })

  test('no entries compile to nothing at all', () => {
    expect(compilePublicRoutes(undefined)).toBeNull()
    expect(compilePublicRoutes([])).toBeNull()
  })
})

const AUTH = Object.freeze({ keyId: 'key_1' }) as PortkeyAuth
/** A framework over plain objects that counts how often the route is computed. */
function counting() {
  let routes = 0
  const framework: Framework<{ path: string }, null, null, string> = {
    headers: () => ({}),
    route: (a) => {
      routes++
      return { method: 'GET', path: a.path }
    },
    request: () => ({ headers: {}, rawHeaders: [] }),
    rawHeaders: () => [],
    attach: () => {},
    attached: () => undefined,
    attachedQuota: () => null,
    setHeaders: () => {},
    next: () => 'next',
    send: (error) => error.code,
    fail: () => 'fail',
  }
  return { framework, routes: () => routes }
}

describe('publicRoutes: cost', () => {
  const verifier = (routed: boolean) => ({
    ...createVerifier({ controlPlaneUrl: OFFLINE }),
    routed,
    check: () => AUTH,
  })

  test('unset, and without a scope map: the route is never computed', () => {
    const { framework, routes } = counting()
    const dispatch = createDispatch({ verifier: verifier(false) }, framework, SERVER_FEATURES)
    expect(dispatch({ path: '/health' }, null, null)).toBe('next')
    expect(routes()).toBe(0)
  })

  test('set, and with a scope map too: the route is computed once per request', () => {
    const { framework, routes } = counting()
    const dispatch = createDispatch({ verifier: verifier(true), publicRoutes: ['/health'] }, framework, SERVER_FEATURES)
    expect(dispatch({ path: '/health' }, null, null)).toBe('next')
    expect(dispatch({ path: '/v1/models' }, null, null)).toBe('next')
    expect(routes()).toBe(2)
  })
})

describe('an adapter that gives neither publicRoutes nor hideCredentials (the Web adapter refuses both first)', () => {
  const { framework } = counting()
  const verifier = () => ({ ...createVerifier({ controlPlaneUrl: OFFLINE }), routed: false, check: () => AUTH })

  test('publicRoutes opens nothing: every route is checked', () => {
    let checked = 0
    const counted = { ...verifier(), check: () => (checked++, AUTH) }
    const dispatch = createDispatch({ verifier: counted, publicRoutes: ['/health'] }, framework, { names: 'web' })
    expect(dispatch({ path: '/health' }, null, null)).toBe('next')
    expect(checked).toBe(1)
  })

  test('hideCredentials: true never goes on with the credential in place: the request throws', () => {
    const dispatch = createDispatch({ verifier: verifier(), hideCredentials: true }, framework, { names: 'web' })
    expect(() => dispatch({ path: '/v1/models' }, null, null)).toThrow(TypeError)
  })
})
