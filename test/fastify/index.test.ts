import type { IncomingHttpHeaders } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyPackage from 'fastify/package.json' with { type: 'json' }
import { describe, expect, expectTypeOf, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import type { PortkeyAuth } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import {
  type FastifyAuthOptions,
  type PortkeyAuthPlugin,
  type PortkeyVerify,
  portkeyAuth,
  portkeyOf,
  requirePermissions,
} from '../../src/fastify/index.js'
import { createTestIssuer, KEY_DETAILS_PATH, keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { describeAdapterContract } from '../support/adapter-contract.js'
import { expectRejection, LIVE, seedKeys, send, sendKey, UNKNOWN, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { startFastify } from './app.js'

describeAdapterContract('fastify')

test('the suite runs against the Fastify major this project names', () => {
  expect(fastifyPackage.version.split('.')[0]).toBe(process.env.FASTIFY_MAJOR)
  expect(Fastify().version.split('.')[0]).toBe(process.env.FASTIFY_MAJOR)
})

/** What a route answers: the key its request carried, and whether the plugin decorated it. */
const whoami = (request: FastifyRequest) => ({ keyId: request.portkey?.keyId ?? null })

describe('fastify: where the plugin is registered', () => {
  test('at the root it guards every route: routes before and after it, in child plugins, under prefixes, and the 404', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify(async (app) => {
      app.get('/before', whoami)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url })
      app.get('/after', whoami)
      app.register(async (child) => void child.get('/child', whoami))
      app.register(async (v1) => void v1.get('/models', whoami), { prefix: '/v1' })
    })
    for (const path of ['/before', '/after', '/child', '/v1/models', '/nowhere']) {
      expectRejection(await send(url + path), 401, 'missing_api_key')
    }
    expect(stub.calls()).toBe(0)
    for (const path of ['/before', '/after', '/child', '/v1/models']) {
      const res = await send(url + path, { 'x-portkey-api-key': LIVE })
      expect({ path, status: res.status, body: res.json() }).toEqual({ path, status: 200, body: { keyId: 'key_live' } })
    }
    expect((await send(`${url}/nowhere`, { 'x-portkey-api-key': LIVE })).status).toBe(404)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test("inside an encapsulated plugin it guards that plugin's routes and its children's, and nothing else", async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify(async (app) => {
      app.get('/health', (request) => ({ guarded: request.portkey !== undefined }))
      app.register(
        async (v1) => {
          await v1.register(portkeyAuth, { controlPlaneUrl: stub.url })
          v1.get('/models', whoami)
          v1.register(async (inner) => void inner.get('/inner', whoami))
        },
        { prefix: '/v1' },
      )
      app.register(async (sibling) => void sibling.get('/sibling', whoami))
    })
    expect([(await send(`${url}/health`)).json(), (await send(`${url}/sibling`)).json()]).toEqual([
      { guarded: false },
      { keyId: null },
    ])
    expect((await send(`${url}/nowhere`)).status).toBe(404)
    expect(stub.calls()).toBe(0)
    for (const path of ['/v1/models', '/v1/inner']) {
      expectRejection(await send(url + path), 401, 'missing_api_key')
      expect((await send(url + path, { 'x-portkey-api-key': LIVE })).json()).toEqual({ keyId: 'key_live' })
    }
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('sibling plugins may each register it with options of their own', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify((app) => {
      app.register(
        async (open) => {
          await open.register(portkeyAuth, { controlPlaneUrl: stub.url, publicRoutes: ['/a/health'] })
          open.get('/health', whoami)
        },
        { prefix: '/a' },
      )
      app.register(
        async (closed) => {
          await closed.register(portkeyAuth, { controlPlaneUrl: stub.url })
          closed.get('/health', whoami)
        },
        { prefix: '/b' },
      )
    })
    expect((await send(`${url}/a/health`)).json()).toEqual({ keyId: null })
    expectRejection(await send(`${url}/b/health`), 401, 'missing_api_key')
  })
})

describe('fastify: the hook', () => {
  test('a cached credential goes on in the same tick (no promise, no microtask); a look-up goes on when it settles', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const sameTick: boolean[] = []
    const { url } = await startFastify(async (app) => {
      // Marks each request until the microtasks queued before portkeyAuth's hook have run.
      const fresh = new WeakSet<object>()
      app.addHook('onRequest', (request, _reply, done) => {
        fresh.add(request)
        queueMicrotask(() => fresh.delete(request))
        done()
      })
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url })
      app.addHook('onRequest', (request, _reply, done) => {
        sameTick.push(fresh.has(request))
        done()
      })
      app.get('/', whoami)
    })
    for (let i = 0; i < 3; i++) expect((await send(url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(sameTick).toEqual([false, true, true])
  })
})

describe('fastify: the plugin, its options and its verifier', () => {
  test('app.portkeyVerifier is the verifier it checks with; a { verifier } given to two apps shares its cache', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const start = () =>
      startFastify(async (app) => {
        await app.register(portkeyAuth, { verifier })
        app.get('/', whoami)
      })
    const [first, second] = [await start(), await start()]
    expect([first.app.portkeyVerifier, second.app.portkeyVerifier]).toEqual([verifier, verifier])
    expect((await send(first.url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect((await send(second.url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)

    stub.keys.delete(LIVE)
    first.app.portkeyVerifier.invalidate(LIVE)
    expectRejection(await send(first.url, { 'x-portkey-api-key': LIVE }), 401, 'invalid_api_key', [LIVE])
    expect(verifier.stats()).toMatchObject({ hits: 1, lookups: 2 })
  })

  test('the verifier it decorates is the one passed in, as options or alone; one made from options otherwise', async () => {
    const verifier = createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' })
    for (const options of [verifier, { verifier }]) {
      const app = Fastify()
      await app.register(portkeyAuth, options)
      expect(app.portkeyVerifier).toBe(verifier)
    }
    const app = Fastify()
    await app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9' })
    expect(app.portkeyVerifier).not.toBe(verifier)
    expect(typeof app.portkeyVerifier.invalidate).toBe('function')
  })

  test('invalid options: app.register(portkeyAuth, options) fails with a TypeError', async () => {
    for (const bad of [{ controlPlaneUrl: 'ftp://127.0.0.1' }, { addHook: 'no' }, { addHook: false, onError: () => {} }]) {
      const app = Fastify()
      const failure = await Promise.resolve(app.register(portkeyAuth, bad as FastifyAuthOptions)).then(
        () => null,
        (error: unknown) => error,
      )
      expect(failure).toBeInstanceOf(TypeError)
      expect(String(failure)).toMatch(/controlPlaneUrl|addHook must be a boolean|onError takes over the answer of the hook/)
    }
  })

  test("a typo of the plugin's own addHook is named as it (options/names.ts: Fastify's table)", async () => {
    const app = Fastify()
    await expect(
      Promise.resolve(
        app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', addHooks: false } as FastifyAuthOptions),
      ),
    ).rejects.toThrow(/^portkey-auth: unknown option addHooks: did you mean addHook \(an option of portkeyAuth\(\)\)\?$/)
  })

  test("register()'s prefix is refused: the plugin guards the context it is registered in", async () => {
    const app = Fastify()
    await expect(
      Promise.resolve(app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', prefix: '/v1' })),
    ).rejects.toThrow(/register it inside the plugin that has the prefix/)
  })

  test('log settings given to register() beside the options are left to Fastify', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify(async (app) => {
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, logLevel: 'warn' } as FastifyAuthOptions)
      app.get('/', whoami)
    })
    expect((await send(url, { 'x-portkey-api-key': LIVE })).json()).toEqual({ keyId: 'key_live' })
  })
})

/** A Fastify app: `portkeyAuth` with `options`, `GET /` counting the requests it reaches, `setup` for the rest. */
async function guardedApp(options: FastifyAuthOptions | Verifier, setup?: (app: FastifyInstance) => void) {
  const reached: PortkeyAuth[] = []
  const running = await startFastify(async (app) => {
    setup?.(app)
    await app.register(portkeyAuth, options)
    app.get('/', (request) => {
      reached.push(portkeyOf(request))
      return 'ok'
    })
  })
  return { ...running, reached }
}

/** An error handler answering `{ handledBy: 'app', code }` with the error's status, recording the errors. */
function appErrorHandler(handled: unknown[]) {
  return (app: FastifyInstance) =>
    app.setErrorHandler((error, _request, reply) => {
      handled.push(error)
      const { status, code } = error as unknown as AuthError
      return reply.code(status ?? 500).send({ handledBy: 'app', code })
    })
}

describe('fastify: onError', () => {
  test.each<[string, (error: AuthError) => unknown]>([
    [
      'a sync onError that throws',
      (error) => {
        throw error
      },
    ],
    [
      'an async onError that rejects',
      async (error) => {
        await null
        throw error
      },
    ],
  ])('%s hands the AuthError to the app error handler, cached or looked up', async (_name, onError) => {
    const stub = await useStub({ keys: seedKeys() })
    const handled: unknown[] = []
    const app = await guardedApp({ controlPlaneUrl: stub.url, onError }, appErrorHandler(handled))
    for (const headers of [{ 'x-portkey-api-key': UNKNOWN }, {}]) {
      const res = await send(app.url, headers)
      expect(res.status).toBe(401)
      expect(res.text).not.toContain(UNKNOWN)
    }
    expect(handled.map((error) => (error as AuthError).code)).toEqual(['invalid_api_key', 'missing_api_key'])
    expect(handled[0]).toBeInstanceOf(AuthError)
    expect(handled[0]).toMatchObject({ status: 401, expose: true })
    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).text).toBe('ok')
    expect(app.reached).toHaveLength(1)
  })

  test("thrown with no handler of the app's own: Fastify answers with the error's status and headers", async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await guardedApp({
      controlPlaneUrl: stub.url,
      onError: (error) => {
        throw error
      },
    })
    const res = await send(app.url, { 'x-portkey-api-key': UNKNOWN })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Portkey realm="portkey", header="x-portkey-api-key", error="invalid_api_key"')
    expect(res.json()).toMatchObject({ statusCode: 401, code: 'invalid_api_key' })
    expect(res.text).not.toContain(UNKNOWN)
    stub.fail('error')
    const outage = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([outage.status, outage.headers['retry-after']]).toEqual([503, '1'])
    expect(app.reached).toHaveLength(0)
  })

  test('onError can answer with the reply (returning it or not), before or after a look-up', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: Array<{ code: string; url: string }> = []
    const app = await guardedApp({
      controlPlaneUrl: stub.url,
      onError: (error, request, reply) => {
        seen.push({ code: error.code, url: request.url })
        return reply
          .code(error.status === 503 ? 502 : error.status)
          .type('text/plain')
          .send(`denied: ${error.code}`)
      },
    })
    const missing = await send(`${app.url}/?q=1`)
    expect([missing.status, missing.text]).toEqual([401, 'denied: missing_api_key'])
    const unknown = await send(app.url, { 'x-portkey-api-key': UNKNOWN })
    expect([unknown.status, unknown.text]).toEqual([401, 'denied: invalid_api_key'])
    stub.fail('error')
    const outage = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([outage.status, outage.text]).toEqual([502, 'denied: auth_unavailable'])
    expect(seen).toEqual([
      { code: 'missing_api_key', url: '/?q=1' },
      { code: 'invalid_api_key', url: '/' },
      { code: 'auth_unavailable', url: '/' },
    ])
    expect(app.reached).toHaveLength(0)
  })

  test('onError beside a shared { verifier } is used, and the verifier too', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const app = await guardedApp({ verifier, onError: (error, _request, reply) => void reply.code(418).send(error.code) })
    expect((await send(app.url, { 'x-portkey-api-key': UNKNOWN })).status).toBe(418)
    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(verifier.stats().lookups).toBe(2)
  })

  const boom = new Error('verifier broke')
  test.each([
    ['rejected by a look-up', () => Promise.reject(boom)],
    [
      'thrown by a cached check',
      () => {
        throw boom
      },
    ],
  ])('an error that is not an AuthError (%s) skips onError and goes to the error handler', async (_how, check) => {
    const broken: Verifier = {
      ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }),
      verify: () => Promise.reject(boom),
      check,
    }
    const handled: unknown[] = []
    let onErrorCalls = 0
    const app = await guardedApp({ verifier: broken, onError: () => void onErrorCalls++ }, appErrorHandler(handled))
    const res = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect(res.status).toBe(500)
    expect(handled).toEqual([boom])
    expect(onErrorCalls).toBe(0)
    expect(app.reached).toHaveLength(0)
  })
})

const HIDDEN = 'pk-hide-live-0123456789abcdef'

/** What the handler (or onError) saw of the request: Fastify's headers and Node's three views. */
interface Seen {
  headers: IncomingHttpHeaders
  raw: IncomingHttpHeaders
  distinct: Record<string, string[] | undefined>
  rawHeaders: string[]
}
const seenOf = (request: FastifyRequest): Seen => ({
  headers: { ...request.headers },
  raw: { ...request.raw.headers },
  distinct: { ...request.raw.headersDistinct },
  rawHeaders: [...request.raw.rawHeaders],
})

describe('fastify: hideCredentials', () => {
  async function setup(options: FastifyAuthOptions) {
    const stub = await useStub({ keys: { [HIDDEN]: keyRecord({ id: 'key_hide' }) } })
    const handler: Seen[] = []
    const rejected: Seen[] = []
    const { url } = await startFastify(async (app) => {
      await app.register(portkeyAuth, {
        controlPlaneUrl: stub.url,
        ...options,
        onError: (error, request, reply) => {
          rejected.push(seenOf(request))
          return reply.code(error.status).send({ code: error.code })
        },
      })
      app.get('/proxy', (request) => {
        handler.push(seenOf(request))
        return { ok: true }
      })
    })
    return { stub, url, handler, rejected }
  }
  const headers = (key: string) => ({ 'X-Portkey-Api-Key': key, authorization: 'Bearer sk-provider-key', 'x-trace': 't1' })
  const mentions = (seen: Seen, secret: string) =>
    JSON.stringify(seen).includes(secret) || seen.rawHeaders.some((value) => value.toLowerCase() === 'x-portkey-api-key')

  test('true: the handler sees no credential in any view, cached or not; the other headers pass', async () => {
    const { stub, url, handler } = await setup({ hideCredentials: true })
    for (let i = 0; i < 3; i++) expect((await send(`${url}/proxy`, headers(HIDDEN))).status).toBe(200)
    expect(handler).toHaveLength(3)
    for (const seen of handler) {
      expect(mentions(seen, HIDDEN)).toBe(false)
      expect(seen.headers).toMatchObject({ authorization: 'Bearer sk-provider-key', 'x-trace': 't1' })
    }
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('true: a rejected request never reaches the handler, and its onError sees no credential either', async () => {
    const { url, handler, rejected } = await setup({ hideCredentials: true })
    for (const key of [UNKNOWN, `${UNKNOWN}\u00e9`]) expect((await send(`${url}/proxy`, headers(key))).status).toBe(401)
    expect(handler).toHaveLength(0)
    expect(rejected).toHaveLength(2)
    for (const seen of rejected) expect(mentions(seen, UNKNOWN)).toBe(false)
  })

  test('by default the handler does see it', async () => {
    const { url, handler } = await setup({})
    expect((await send(`${url}/proxy`, headers(HIDDEN))).status).toBe(200)
    expect(handler[0]?.headers['x-portkey-api-key']).toBe(HIDDEN)
    expect(handler[0]?.rawHeaders).toEqual(expect.arrayContaining(['X-Portkey-Api-Key', HIDDEN]))
  })
})

describe('fastify: virtual keys and JWTs', () => {
  test('a virtual key is resolved into the context; one of another workspace is refused 403', async () => {
    const stub = await useStub({
      keys: seedKeys(),
      virtualKeys: {
        'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'azure-openai' }),
        'other-ws': virtualKeyRecord({ slug: 'other-ws', workspace_id: 'ws_other' }),
      },
    })
    const app = await useGuardedApp('fastify', { controlPlaneUrl: stub.url })
    const res = await send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, 'x-portkey-provider': '@openai-prod' })
    expect(res.json()).toMatchObject({
      portkey: {
        keyId: 'key_live',
        virtualKey: { slug: 'openai-prod', provider: 'azure-openai', status: 'active', rateLimits: [] },
      },
    })
    const refused = await send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'other-ws' })
    expectRejection(refused, 403, 'virtual_key_not_allowed', [LIVE])
    expect(app.seen).toHaveLength(1)
  })

  test('a valid JWT is admitted with no key look-up; a tampered one is refused 401 invalid_token', async () => {
    const issuer = await createTestIssuer()
    const stub = await useStub({ jwks: issuer.jwks })
    const jwt = { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience }
    const app = await useGuardedApp('fastify', { controlPlaneUrl: stub.url, jwt })
    const token = await issuer.sign({ portkey_oid: 'org_1', portkey_workspace: 'ws_1', scope: 'portkey.logs.read', sub: 'u1' })
    expect((await sendKey(app, token)).json()).toMatchObject({
      portkey: { method: 'jwt', organisationId: 'org_1', workspaceId: 'ws_1', scopes: ['logs.read'] },
    })
    expectRejection(await sendKey(app, `${token.slice(0, -6)}AAAAAA`), 401, 'invalid_token', [token])
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(0)
  })
})

describe('fastify: types', () => {
  test('request.portkey is PortkeyAuth or absent, portkeyOf(request) is PortkeyAuth', () => {
    expectTypeOf<FastifyRequest['portkey']>().toEqualTypeOf<PortkeyAuth | undefined>()
    expectTypeOf(portkeyOf).returns.toEqualTypeOf<PortkeyAuth>()
    const handler = (request: FastifyRequest) => {
      expectTypeOf(request.portkey).toEqualTypeOf<PortkeyAuth | undefined>()
      expectTypeOf(portkeyOf(request).workspaceId).toEqualTypeOf<string | null>()
      expectTypeOf(portkeyOf(request).expiresAt).toEqualTypeOf<Date | null>()
    }
    expectTypeOf(handler).toBeFunction()
  })

  test('the plugin, its options, its decorators, its onError and requirePermissions() fit where Fastify takes them', () => {
    expectTypeOf(portkeyAuth).toEqualTypeOf<PortkeyAuthPlugin>()
    expectTypeOf<FastifyInstance['portkeyVerifier']>().toEqualTypeOf<Verifier>()
    expectTypeOf<FastifyInstance['verifyPortkey']>().toEqualTypeOf<PortkeyVerify>()
    expectTypeOf<FastifyAuthOptions['addHook']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<Parameters<NonNullable<FastifyAuthOptions['onError']>>>().toEqualTypeOf<
      [AuthError, FastifyRequest, FastifyReply]
    >()
    // Compiled, never run: registration in every form, with options inferred, and the hooks on a typed route.
    const registrations = async (app: FastifyInstance, verifier: Verifier) => {
      await app.register(portkeyAuth)
      await app.register(portkeyAuth, verifier)
      await app.register(portkeyAuth, {
        scopes: 'portkey',
        onError: (error, request, reply) => reply.code(error.status).send({ url: request.url }),
      })
      await app.register(portkeyAuth, { addHook: false, hideCredentials: true })
      // @ts-expect-error: a plugin, no longer a factory
      portkeyAuth({ hideCredentials: true })
      // @ts-expect-error: not an option
      await app.register(portkeyAuth, { hideCredential: true })
      app.get<{ Querystring: { page: string } }>(
        '/v1/logs',
        { onRequest: [app.verifyPortkey, requirePermissions('logs.read')], preHandler: [requirePermissions('logs.export')] },
        (request) => ({ page: request.query.page, workspace: portkeyOf(request).workspaceId }),
      )
    }
    expectTypeOf(registrations).toBeFunction()
  })
})
