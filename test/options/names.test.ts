import { describe, expect, test } from 'vitest'
import { resolveOptions } from '../../src/options/resolve.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'

const noEnv: NodeJS.ProcessEnv = {}
const resolve = (options: unknown, env = noEnv) => resolveOptions(options as VerifierOptions, env)
const JWT = { jwks: { keys: [] }, issuer: 'https://idp.test/', audience: 'api' }

describe('unknown option names are a TypeError naming the closest one', () => {
  test.each<[string, unknown, RegExp]>([
    ['cache.ttl', { cache: { ttl: 1000 } }, /unknown option cache\.ttl: did you mean cache\.ttlMs\?/],
    ['timeoutMS', { timeoutMS: 2000 }, /unknown option timeoutMS: did you mean timeoutMs\?/],
    ['scope', { scope: 'portkey' }, /unknown option scope: did you mean scopes\?/],
    [
      'controlPlaneURL',
      { controlPlaneURL: 'http://127.0.0.1:1' },
      /unknown option controlPlaneURL: did you mean controlPlaneUrl\?/,
    ],
    ['cache.maxEntries', { cache: { maxEntries: 5 } }, /unknown option cache\.maxEntries: did you mean cache\.max\?/],
    ['cache.stale', { cache: { stale: 5 } }, /unknown option cache\.stale: did you mean cache\.staleMs\?/],
    ['breaker.threshold', { breaker: { threshold: 3 } }, /unknown option breaker\.threshold/],
    ['breaker.cooldown', { breaker: { cooldown: 3 } }, /did you mean breaker\.cooldownMs\?/],
    [
      'jwt.jwksURL',
      { jwt: { ...JWT, jwksURL: 'http://127.0.0.1:1/jwks' } },
      /unknown option jwt\.jwksURL: did you mean jwt\.jwksUrl\?/,
    ],
    ['jwt.aud', { jwt: { ...JWT, aud: 'x' } }, /unknown option jwt\.aud: did you mean jwt\.audience\?/],
    ['jwt.clockTolerance', { jwt: { ...JWT, clockTolerance: 5 } }, /did you mean jwt\.clockToleranceSec\?/],
    [
      'redis.keyPrefix',
      { redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'a:' } },
      /unknown option redis\.keyPrefix: did you mean redis\.prefix\?/,
    ],
    ['redis.timeout', { redis: { url: 'redis://127.0.0.1:6379', timeout: 5 } }, /did you mean redis\.timeoutMs\?/],
    ['lookupVirtualKeys', { lookupVirtualKeys: async () => null }, /did you mean lookupVirtualKey\?/],
    ['something unrelated', { colour: 'blue' }, /unknown option colour: known options: controlPlaneUrl, clientAuth/],
  ])('%s', (_name, options, message) => {
    expect(() => resolve(options)).toThrow(TypeError)
    expect(() => resolve(options)).toThrow(message)
  })

  test('a middleware option given to createVerifier() says whose it is', () => {
    expect(() => createVerifier({ hideCredentials: true } as VerifierOptions)).toThrow(
      /hideCredentials is an option of portkeyAuth\(\)/,
    )
  })

  test('controlPlaneURL no longer falls back silently to https://api.portkey.ai', () => {
    expect(() => createVerifier({ controlPlaneURL: 'http://127.0.0.1:1' } as VerifierOptions)).toThrow(TypeError)
  })

  test('known names, null values and a Redis client pass', () => {
    const client = { isReady: false, sendCommand: async () => null, anything: 1 }
    expect(() => resolve({ cache: { ttlMs: null }, breaker: {}, redis: { client, prefix: 'a:' }, jwt: JWT })).not.toThrow()
    expect(() => resolve({ redis: client })).not.toThrow()
  })
})

describe('messages say where a bad value came from and what type it had', () => {
  test.each<[string, unknown, NodeJS.ProcessEnv, RegExp]>([
    ['a string for a number', { timeoutMs: '2000' }, {}, /timeoutMs must be an integer from 1 to \d+, got "2000" \(a string\)/],
    ['an object for a number', { cache: { max: { n: 5 } } }, {}, /cache\.max must be an integer .*, got an object/],
    ['a string for an object', { cache: '5' }, {}, /cache must be an object, got "5" \(a string\)/],
    [
      'a bad URL from the environment',
      {},
      { PORTKEY_CONTROL_PLANE_URL: 'cp.internal:8080' },
      /controlPlaneUrl \(from env PORTKEY_CONTROL_PLANE_URL\) must be/,
    ],
    ['a bad URL as an option', { controlPlaneUrl: 'cp.internal' }, {}, /portkey-auth: controlPlaneUrl must be an http\(s\) URL/],
    [
      'a number for a URL',
      { controlPlaneUrl: 8080 },
      {},
      /controlPlaneUrl must be an http\(s\) URL without query or fragment, got 8080/,
    ],
    [
      'a bad JWKS URL from the environment',
      { jwt: { issuer: 'i', audience: 'a' } },
      { PORTKEY_JWKS_URL: 'jwks.json' },
      /jwt\.jwksUrl \(from env PORTKEY_JWKS_URL\)/,
    ],
  ])('%s', (_name, options, env, message) => {
    expect(() => resolve(options, env)).toThrow(message)
  })
})

describe('a control-plane URL that cannot be right is refused', () => {
  test.each<[string, VerifierOptions, NodeJS.ProcessEnv, string]>([
    ['…/v1', { controlPlaneUrl: 'https://api.portkey.ai/v1' }, {}, 'https://api.portkey.ai'],
    ['…/v2/', { controlPlaneUrl: 'https://api.portkey.ai/v2/' }, {}, 'https://api.portkey.ai'],
    ['…/V2 (any case)', { controlPlaneUrl: 'http://127.0.0.1:8787/V2' }, {}, 'http://127.0.0.1:8787'],
    [
      'the key-details path itself',
      { controlPlaneUrl: 'https://cp.internal/portkey/v2/api-keys/self/details' },
      {},
      'https://cp.internal/portkey',
    ],
    ['…/v2 from the environment', {}, { PORTKEY_CONTROL_PLANE_URL: 'http://cp.internal:8080/v2' }, 'http://cp.internal:8080'],
  ])('%s', (_name, options, env, suggestion) => {
    expect(() => resolveOptions(options, env)).toThrow(TypeError)
    expect(() => resolveOptions(options, env)).toThrow(`did you mean ${JSON.stringify(suggestion)}?`)
    if (Object.keys(env).length > 0) expect(() => resolveOptions(options, env)).toThrow(/from env PORTKEY_CONTROL_PLANE_URL/)
  })

  test('a base path of a proxy in front of the control plane is kept', () => {
    expect(resolveOptions({ controlPlaneUrl: 'https://gw.internal/portkey/' }, {}).controlPlaneUrl).toBe(
      'https://gw.internal/portkey',
    )
    expect(resolveOptions({ controlPlaneUrl: 'https://gw.internal/v10' }, {}).controlPlaneUrl).toBe('https://gw.internal/v10')
  })
})

describe('logger', () => {
  test('console by default, silence with false, anything with warn() and info()', () => {
    expect(resolve({}).logger).toBe(console)
    const silent = resolve({ logger: false }).logger
    expect(() => silent.warn('x')).not.toThrow()
    const mine = { warn() {}, info() {} }
    expect(resolve({ logger: mine }).logger).toBe(mine)
  })

  test.each([
    ['true', true],
    ['a function', () => {}],
    ['an object without info', { warn() {} }],
  ])('%s is a TypeError', (_name, logger) => {
    expect(() => resolve({ logger })).toThrow(/logger must be false or have warn\(\) and info\(\)/)
  })
})

// Issue 24: a typo of a middleware option, given to a middleware, is guessed among the middleware's own options
// too; a wrong scope map names the entry; a Redis option near `url` says so.
describe('misconfiguration a new user made, named', () => {
  test.each(['express', 'koa', 'hono', 'web'] as const)(
    '%s: typos of the middleware options get a did-you-mean',
    async (adapter) => {
      const make = {
        express: async () => (await import('../../src/express/index.js')).portkeyAuth,
        koa: async () => (await import('../../src/koa/index.js')).portkeyAuth,
        hono: async () => (await import('../../src/hono/index.js')).portkeyAuth,
        web: async () => {
          const { withPortkeyAuth } = await import('../../src/web/index.js')
          return (options: object) => withPortkeyAuth(() => new Response(), options)
        },
      }[adapter]
      const portkeyAuth = (await make()) as (options: object) => unknown
      const cases: [object, RegExp][] = [
        [{ verifer: 1 }, /unknown option verifer: did you mean verifier \(an option of portkeyAuth\(\)\)\?/],
        [{ onErr: () => null }, /unknown option onErr: did you mean onError/],
      ]
      if (adapter !== 'web') {
        cases.push([{ publicRoute: ['/x'] }, /unknown option publicRoute: did you mean publicRoutes/])
        cases.push([{ hideCredential: true }, /unknown option hideCredential: did you mean hideCredentials/])
      }
      for (const [options, message] of cases) {
        expect(() => portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9', ...options })).toThrow(message)
      }
    },
  )

  test('web: a typo of publicRoutes or hideCredentials, which a Web handler refuses, is not guessed as them', async () => {
    const { withPortkeyAuth } = await import('../../src/web/index.js')
    for (const typo of [{ publicRoute: ['/x'] }, { hideCredential: true }]) {
      const make = () => withPortkeyAuth(() => new Response(), { controlPlaneUrl: 'http://127.0.0.1:9', ...typo } as object)
      expect(make).toThrow(/^portkey-auth: unknown option \w+: known options: controlPlaneUrl, clientAuth/)
    }
  })

  test.each<[string, unknown, RegExp]>([
    [
      'a scope that is a number',
      { scopes: { 'POST /x': 5 } },
      /^portkey-auth: scopes\["POST \/x"\] must be a scope or a non-empty list of scopes, got 5$/,
    ],
    ['a scope list with an empty scope', { scopes: { 'GET /x': ['a', ''] } }, /scopes\["GET \/x"\] must be .*, got \["a",""\]/],
    [
      'a typo of portkey',
      { scopes: 'portkeys' },
      /^portkey-auth: scopes must be 'portkey' or a map of routes to scopes .*got "portkeys"/,
    ],
    [
      'redis.uri',
      { redis: { uri: 'redis://127.0.0.1:1' } },
      /^portkey-auth: unknown option redis\.uri: did you mean redis\.url\?$/,
    ],
  ])('%s', (_name, options, message) => {
    expect(() => createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9', ...(options as VerifierOptions) })).toThrow(message)
  })
})
