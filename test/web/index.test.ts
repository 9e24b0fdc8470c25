import { describe, expect, expectTypeOf, onTestFinished, test, vi } from 'vitest'
import type { AuthError } from '../../src/errors.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import type { PortkeyAuth } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import {
  type AuthResult,
  authenticate,
  requirePermissions,
  type WebAuth,
  type WebAuthOptions,
  withPortkeyAuth,
} from '../../src/web/index.js'
import { rawPath, requestRoute } from '../../src/adapters/request-route.js'
import { describeAdapterContract } from '../support/adapter-contract.js'
import { sendRaw } from '../support/raw-socket.js'
import {
  closeAfterTest,
  expectRejection,
  LIVE,
  type RawResponse,
  seedKeys,
  send,
  sleep,
  UNKNOWN,
  useStub,
} from '../support/servers.js'
import { servedUrl, startWeb } from './server.js'

describeAdapterContract('web')

const READER = 'pk-reader-0123456789abcdef'

const request = (key?: string, path = '/v1/x', init: RequestInit = {}) =>
  new Request(`http://localhost${path}`, { ...init, headers: key === undefined ? {} : { 'x-portkey-api-key': key } })

/** A Response as the helpers' RawResponse. */
async function toRaw(res: Response): Promise<RawResponse> {
  const text = await res.text()
  return { status: res.status, headers: Object.fromEntries(res.headers), text, json: <T>() => JSON.parse(text) as T }
}

async function stubbed() {
  const stub = await useStub({ keys: { ...seedKeys(), [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }) } })
  return { stub, options: { controlPlaneUrl: stub.url } satisfies WebAuthOptions }
}

describe('web: authenticate()', () => {
  test('resolves to { portkey } for a valid key, { response } (status, headers, JSON body) for any other', async () => {
    const { options } = await stubbed()
    const admitted = await authenticate(request(LIVE), options)
    expect(admitted.response).toBeUndefined()
    expect(admitted.portkey).toMatchObject({ keyId: 'key_live', method: 'api_key' })
    expect(Object.isFrozen(admitted.portkey)).toBe(true)
    expect(admitted.quota).toBeNull()

    const refused = await authenticate(request(UNKNOWN), options)
    expect(refused.portkey).toBeUndefined()
    const raw = expectRejection(await toRaw(refused.response!), 401, 'invalid_api_key', [UNKNOWN])
    expect(raw.message).toBe('Invalid Portkey API key.')
    expect(refused.response?.headers.get('www-authenticate')).toContain('error="invalid_api_key"')
  })

  test("a limited key: { portkey, quota }, the shared context and the request's own quota, with the headers to send", async () => {
    const LIMITED = 'pk-limited-0123456789abcdef'
    // 10 s into a minute: both requests count in one window.
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.UTC(2026, 10, 30, 12, 0, 10))
    onTestFinished(() => void vi.useRealTimers())
    const stub = await useStub({
      keys: { [LIMITED]: keyRecord({ id: 'key_limited', rate_limits: [{ type: 'requests', unit: 'rpm', value: 3 }] }) },
    })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const results = [await authenticate(request(LIMITED), verifier), await authenticate(request(LIMITED), verifier)]
    expect(results[1]!.portkey).toBe(results[0]!.portkey)
    expect(results.map((result) => result.quota?.remaining)).toEqual([2, 1])
    expect(results[1]!.quota?.headers).toEqual({ 'ratelimit-policy': '"rpm";q=3;w=60', ratelimit: '"rpm";r=1;t=50' })
    expect('quota' in results[0]!.portkey!).toBe(false)
  })

  test('one verifier per set of settings (or verifier): options written inline share one; other settings, another', async () => {
    const { stub, options } = await stubbed()
    for (let i = 0; i < 3; i++) await authenticate(request(LIVE), options)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    // Issue 22: the same settings in a new object each request (inline in a handler) are the same verifier.
    for (let i = 0; i < 5; i++) await authenticate(request(LIVE), { ...options, cache: { ttlMs: 60_000 } })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
    await authenticate(request(LIVE), { ...options, cache: { ttlMs: 30_000 } })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(3)
    const onError = () => new Response('no', { status: 401 })
    for (let i = 0; i < 3; i++) await authenticate(request(LIVE), { ...options, onError })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(4)

    const verifier = createVerifier(options)
    await authenticate(request(LIVE), verifier)
    await authenticate(request(LIVE), verifier)
    expect(verifier.stats()).toMatchObject({ lookups: 1, hits: 1 })
  })

  test('options with a function made anew on every call: a clear TypeError after a few, not a verifier per request', async () => {
    const { stub, options } = await stubbed()
    const results: string[] = []
    for (let i = 0; i < 40; i++) {
      try {
        await authenticate(request(LIVE), { ...options, timeoutMs: 1_999, onError: () => new Response('no', { status: 401 }) })
        results.push('checked')
      } catch (error) {
        results.push(error instanceof TypeError ? error.message : 'other')
      }
    }
    expect(results.filter((result) => result === 'checked')).toHaveLength(16)
    expect(results[16]).toMatch(/Create the options \(or a verifier with createVerifier\(\)\) once, outside the handler/)
    expect(new Set(results.slice(16))).toEqual(new Set([results[16]]))
    expect(stub.calls(KEY_DETAILS_PATH)).toBeLessThanOrEqual(16)
  })

  test('with no options, one verifier from the environment, made on the first call', async () => {
    const { stub } = await stubbed()
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
    onTestFinished(() => void vi.unstubAllEnvs())
    expect((await authenticate(request(LIVE))).portkey?.keyId).toBe('key_live')
    expect((await authenticate(request(LIVE))).portkey?.keyId).toBe('key_live')
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('onError makes the response, and is awaited', async () => {
    const { options } = await stubbed()
    const seen: string[] = []
    const custom = {
      ...options,
      async onError(error: AuthError, req: Request) {
        await sleep(5)
        seen.push(`${error.code} ${new URL(req.url).pathname}`)
        return new Response(`denied: ${error.code}`, { status: 418 })
      },
    }
    const { response } = await authenticate(request(undefined, '/v1/y'), custom)
    expect([response?.status, await response?.text()]).toEqual([418, 'denied: missing_api_key'])
    expect(seen).toEqual(['missing_api_key /v1/y'])
  })

  test('invalid options throw a TypeError at once, not a rejection', () => {
    const bad: unknown[] = [
      { controlPlaneUrl: 'ftp://127.0.0.1' },
      { controlPlaneUrl: 'http://127.0.0.1:9', hideCredentials: true },
      { controlPlaneUrl: 'http://127.0.0.1:9', publicRoutes: ['/health'] },
      { controlPlaneUrl: 'http://127.0.0.1:9', onError: 'nope' },
      { controlPlaneUrl: 'http://127.0.0.1:9', cache: { ttl: 5 } },
      42,
      null,
    ]
    for (const options of bad)
      expect(() => authenticate(request(LIVE), options as WebAuthOptions), JSON.stringify(options)).toThrow(TypeError)
    expect(() => authenticate(request(LIVE), { controlPlaneUrl: 'http://127.0.0.1:9', hideCredentials: false })).not.toThrow()
  })

  test('an error that is no AuthError (a bug) rejects, and skips onError', async () => {
    const boom = new Error('verifier broke')
    let onErrorCalls = 0
    for (const check of [
      () => Promise.reject(boom),
      () => {
        throw boom
      },
    ]) {
      const broken: Verifier = { ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }), check }
      const options = { verifier: broken, onError: () => (onErrorCalls++, new Response()) }
      await expect(authenticate(request(LIVE), options)).rejects.toBe(boom)
    }
    expect(onErrorCalls).toBe(0)
  })
})

describe('web: withPortkeyAuth()', () => {
  test('arguments after the request (Next.js { params }, Bun’s server) follow { portkey }', async () => {
    const { options } = await stubbed()
    const guarded = withPortkeyAuth(
      async (req: Request, { portkey }, context: { params: Promise<{ id: string }> }, extra: string) => {
        const { id } = await context.params
        return Response.json({ keyId: portkey.keyId, id, extra, path: new URL(req.url).pathname })
      },
      options,
    )
    const res = await guarded(request(LIVE, '/v1/items/7'), { params: Promise.resolve({ id: '7' }) }, 'server')
    expect(await res.json()).toEqual({ keyId: 'key_live', id: '7', extra: 'server', path: '/v1/items/7' })
  })

  test('a cached credential reaches the handler in the same tick; a refusal never reaches it', async () => {
    const { options } = await stubbed()
    let calls = 0
    const guarded = withPortkeyAuth(() => (calls++, new Response('ok')), options)
    await guarded(request(LIVE))
    expect(calls).toBe(1)
    const pending = guarded(request(LIVE))
    expect(calls).toBe(2)
    expect(await (await pending).text()).toBe('ok')
    const refused = await guarded(request('pk-exhausted'))
    expectRejection(await toRaw(refused), 412, 'usage_limit_exceeded', ['pk-exhausted'])
    expect(calls).toBe(2)
  })

  test('the verifier is made once, when wrapping; guarded.verifier is it; a shared one is used as given', async () => {
    const { stub, options } = await stubbed()
    const guarded = withPortkeyAuth(() => new Response(), options)
    await guarded(request(LIVE))
    await guarded(request(LIVE))
    expect(guarded.verifier.stats()).toMatchObject({ lookups: 1, hits: 1 })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    const verifier = createVerifier(options)
    expect(withPortkeyAuth(() => new Response(), verifier).verifier).toBe(verifier)
    expect(withPortkeyAuth(() => new Response(), { verifier }).verifier).toBe(verifier)
    expect(guarded.name).toBe('portkeyAuth')
  })

  test('handlers wrapped with the same settings share one verifier: one look-up, one rate-limit count (issue 23)', async () => {
    const stub = await useStub({
      keys: { [LIVE]: keyRecord({ id: 'key_live', rate_limits: [{ type: 'requests', unit: 'rpm', value: 600 }] }) },
    })
    // Two route.ts files of one app, each with its own options literal.
    const POST = withPortkeyAuth(() => new Response('post'), { controlPlaneUrl: stub.url })
    const GET = withPortkeyAuth(() => new Response('get'), { controlPlaneUrl: stub.url })
    expect(GET.verifier).toBe(POST.verifier)
    const first = await POST(request(LIVE))
    const second = await GET(request(LIVE))
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    const left = (res: Response) => Number(/r=(\d+)/.exec(res.headers.get('ratelimit') ?? '')?.[1])
    expect(left(second)).toBe(left(first) - 1)
    // Other settings: another verifier.
    expect(withPortkeyAuth(() => new Response(), { controlPlaneUrl: stub.url, timeoutMs: 1_000 }).verifier).not.toBe(GET.verifier)
  })

  test('many handlers, each wrapped once with its own onError, are never taken for options made per request', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const handlers = Array.from({ length: 40 }, (_, i) =>
      withPortkeyAuth(() => new Response(String(i)), {
        controlPlaneUrl: stub.url,
        timeoutMs: 1_998,
        onError: () => new Response('refused', { status: 401 }),
      }),
    )
    expect(new Set(handlers.map((handler) => handler.verifier)).size).toBe(40)
    expect(await (await handlers[39]!(request(LIVE))).text()).toBe('39')
    // Nor do they count against authenticate()'s own bound for that shape.
    const onError = () => new Response('refused', { status: 401 })
    expect((await authenticate(request(LIVE), { controlPlaneUrl: stub.url, timeoutMs: 1_998, onError })).portkey).toBeDefined()
  })

  test('a handler that throws makes the returned promise reject, for the runtime’s 500', async () => {
    const { options } = await stubbed()
    const boom = new Error('handler broke')
    const guarded = withPortkeyAuth(() => {
      throw boom
    }, options)
    await expect(guarded(request(LIVE))).rejects.toBe(boom)
  })

  test('TypeErrors when wrapping: no handler, hideCredentials, publicRoutes, invalid options', () => {
    const ok = () => new Response()
    const options = { controlPlaneUrl: 'http://127.0.0.1:9' }
    expect(() => withPortkeyAuth(undefined as never, options)).toThrow(TypeError)
    expect(() => withPortkeyAuth(ok, { ...options, hideCredentials: true } as unknown as WebAuthOptions)).toThrow(
      /hideCredentials is not supported/,
    )
    expect(() => withPortkeyAuth(ok, { ...options, publicRoutes: ['/health'] } as unknown as WebAuthOptions)).toThrow(
      /leave a handler that needs no key unwrapped/,
    )
    expect(() => withPortkeyAuth(ok, { ...options, timeoutMs: 0 })).toThrow(TypeError)
  })
})

describe('web: requirePermissions()', () => {
  test('null for a caller holding every scope; else the 403, through onError; the 500 for a request never admitted', async () => {
    const { options } = await stubbed()
    const readLogs = requirePermissions('logs.read')
    const writeLogs = requirePermissions('logs.read', 'logs.write')
    const handler = (req: Request) => writeLogs(req) ?? readLogs(req) ?? Response.json({ ok: true })
    const guarded = withPortkeyAuth(handler, options)
    const mine = withPortkeyAuth(handler, {
      ...options,
      onError: async (error) => new Response(`mine: ${error.code}`, { status: 403 }),
    })

    const reader = await guarded(request(READER))
    const body = expectRejection(await toRaw(reader), 403, 'insufficient_scope', [READER])
    expect(body.message).toBe('Missing permission: logs.write.')
    expect(reader.headers.get('www-authenticate')).toContain('scope="logs.write"')
    expect(await (await mine(request(READER))).text()).toBe('mine: insufficient_scope')

    const holder = withPortkeyAuth((req) => readLogs(req) ?? Response.json({ ok: true }), options)
    expect(await (await holder(request(READER))).json()).toEqual({ ok: true })

    const { portkey } = await authenticate(request(READER), options)
    expect(portkey?.keyId).toBe('key_reader')
    const never = readLogs(request(READER))
    expectRejection(await toRaw((await never)!), 500, 'auth_misconfigured')
  })

  test('no scope, or an empty one, is a TypeError when created', () => {
    expect(() => requirePermissions()).toThrow(TypeError)
    expect(() => requirePermissions('logs.read', '')).toThrow(TypeError)
  })
})

describe('web: the path the scope map sees', () => {
  test.each([
    ['http://a/v1/chat/completions', '/v1/chat/completions'],
    ['http://a:8080/v1/chat/completions?x=/../y#z', '/v1/chat/completions'],
    ['https://user:pw@[::1]:443/v1/a#f?g', '/v1/a'],
    ['http://a/', '/'],
    ['http://a/v1/x/../chat/%63ompletions', '/v1/x/../chat/%63ompletions'],
    ['http://a/v1/%2e%2e/chat%2fcompletions', '/v1/%2e%2e/chat%2fcompletions'],
    ['http://a/v1\\chat', '/v1\\chat'],
    ['http://a', ''],
    ['http://a?x=/v1', ''],
    ['http://a#/v1', ''],
    ['http://a\\v1/chat', ''],
    ['/v1/chat/completions', ''],
    ['', ''],
  ])('rawPath(%j) is %j: as written, never resolved or decoded; anything odd is refused', (url, path) => {
    expect(rawPath(url)).toBe(path)
  })

  test('requestRoute() reads a Request as runtimes build it: dot segments already resolved, escapes kept', () => {
    expect(requestRoute(new Request('http://a/v1/x/../chat/%63ompletions?q', { method: 'POST' }))).toEqual({
      method: 'POST',
      path: '/v1/chat/%63ompletions',
    })
  })

  test('over HTTP: an encoded letter is refused 400; a dot segment is checked as the path the handler gets', async () => {
    const WRITER = 'pk-writer-0123456789abcdef'
    const stub = await useStub({
      keys: { [WRITER]: keyRecord({ scopes: ['completions.write'] }), [READER]: keyRecord({ scopes: ['logs.read'] }) },
    })
    const paths: string[] = []
    const app = closeAfterTest(
      await startWeb(
        withPortkeyAuth((req) => (paths.push(new URL(req.url).pathname), new Response('ok')), {
          controlPlaneUrl: stub.url,
          scopes: 'portkey',
        }),
      ),
    )
    const post = (target: string, key: string) =>
      sendRaw(app.url, target, { method: 'POST', headers: { 'x-portkey-api-key': key } })
    for (const key of [WRITER, READER]) expectRejection(await post('/v1/chat/%63ompletions', key), 400, 'invalid_request', [key])
    if ((await servedUrl('/v1/x/../y')).endsWith('/v1/y')) {
      // Node (here, the bridge's new Request()) and Bun resolve dot segments before the handler sees the URL.
      expect((await post('/v1/x/../chat/completions', WRITER)).status).toBe(200)
      expectRejection(await post('/v1/x/%2e%2e/chat/completions', READER), 403, 'insufficient_scope', [READER])
      expect(paths).toEqual(['/v1/chat/completions'])
    } else {
      // Deno.serve keeps them in request.url: the raw path is ambiguous, and refused as Express refuses it.
      expectRejection(await post('/v1/x/../chat/completions', WRITER), 400, 'invalid_request', [WRITER])
      expect(paths).toEqual([])
    }
    expect(app.errors).toEqual([])
  })
})

describe('web: over HTTP through a Node bridge', () => {
  test('one guarded handler serves many paths and methods, with the context', async () => {
    const { options } = await stubbed()
    const app = closeAfterTest(
      await startWeb(
        withPortkeyAuth(
          async (req, { portkey }) => Response.json({ method: req.method, body: await req.text(), keyId: portkey.keyId }),
          options,
        ),
      ),
    )
    const res = await send(`${app.url}/anything`, { 'x-portkey-api-key': LIVE }, { method: 'PUT', body: 'payload' })
    expect(res.json()).toEqual({ method: 'PUT', body: 'payload', keyId: 'key_live' })
  })
})

describe('web: types', () => {
  test('withPortkeyAuth() keeps the request type and the arguments after it; authenticate() narrows', () => {
    class NextLikeRequest extends Request {
      readonly nextUrl = new URL(this.url)
    }
    const next = withPortkeyAuth(
      (req: NextLikeRequest, { portkey }, context: { params: Promise<{ slug: string }> }) => {
        expectTypeOf(req.nextUrl).toEqualTypeOf<URL>()
        expectTypeOf(portkey).toEqualTypeOf<PortkeyAuth>()
        expectTypeOf(context.params).toEqualTypeOf<Promise<{ slug: string }>>()
        return new Response()
      },
      { controlPlaneUrl: 'http://127.0.0.1:9' },
    )
    expectTypeOf(next).parameters.toEqualTypeOf<[NextLikeRequest, { params: Promise<{ slug: string }> }]>()
    expectTypeOf(next).returns.toEqualTypeOf<Promise<Response>>()
    expectTypeOf(next.verifier).toEqualTypeOf<Verifier>()

    const plain = withPortkeyAuth(async (_req, auth) => {
      expectTypeOf(auth).toEqualTypeOf<WebAuth>()
      return Response.json(auth.portkey.scopes)
    })
    expectTypeOf(plain).parameters.toEqualTypeOf<[Request]>()

    const narrow = async (req: Request) => {
      const { portkey, response } = await authenticate(req)
      if (response) return response
      expectTypeOf(portkey).toEqualTypeOf<PortkeyAuth>()
      return Response.json(portkey.workspaceId)
    }
    expectTypeOf(narrow).returns.toEqualTypeOf<Promise<Response>>()
    expectTypeOf(authenticate).returns.toEqualTypeOf<Promise<AuthResult>>()
    expectTypeOf(requirePermissions('x')).returns.toEqualTypeOf<Response | Promise<Response> | null>()
  })
})
