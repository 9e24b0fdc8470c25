import Fastify, { type FastifyRequest } from 'fastify'
import { describe, expect, test } from 'vitest'
import defaultExport, { portkeyAuth } from '../../src/fastify/index.js'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { expectRejection, LIVE, seedKeys, send, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// portkeyAuth is a Fastify plugin, with the metadata fastify-plugin would set (set by hand: the package
// depends on no Fastify package): its name, the Fastify majors it supports, and skip-override.

const whoami = (request: FastifyRequest) => ({ keyId: request.portkey?.keyId ?? null })

/** What `register()` fails with; `null` when it succeeds. */
async function registerFailure(register: () => PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(register()).then(
    () => null,
    (error: unknown) => error,
  )
}

describe('fastify: portkeyAuth is a plugin', () => {
  test("its metadata: fastify-plugin's symbols, its name, Fastify 4 and 5; the default export is the same plugin", async () => {
    expect(defaultExport).toBe(portkeyAuth)
    const meta = portkeyAuth as unknown as Record<symbol, unknown>
    expect(meta[Symbol.for('skip-override')]).toBe(true)
    expect(meta[Symbol.for('fastify.display-name')]).toBe('portkey-auth')
    expect(meta[Symbol.for('plugin-meta')]).toEqual({ name: 'portkey-auth', fastify: '4.x || 5.x' })
    const app = Fastify()
    await app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9' })
    expect(app.hasPlugin('portkey-auth')).toBe(true)
  })

  test('encapsulation skipped: registered at the root, its hook guards the plugins registered after it, siblings of it', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify(async (app) => {
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url })
      await app.register(async (a) => void a.get('/a', whoami))
      await app.register(async (b) => void b.get('/b', whoami), { prefix: '/v1' })
    })
    for (const path of ['/a', '/v1/b']) {
      expectRejection(await send(url + path), 401, 'missing_api_key')
      expect((await send(url + path, { 'x-portkey-api-key': LIVE })).json()).toEqual({ keyId: 'key_live' })
    }
  })

  test('called as a factory, portkeyAuth(options) throws a TypeError saying how to register it', () => {
    const call = portkeyAuth as unknown as (options: object) => unknown
    expect(() => call({ hideCredentials: true })).toThrow(TypeError)
    expect(() => call({})).toThrow(/app\.register\(portkeyAuth, options\).*app\.portkeyVerifier/)
  })
})

describe('fastify: registering it twice', () => {
  test('in the same context, or in one inside a guarded context, it is refused: a request would be checked twice', async () => {
    const options = { controlPlaneUrl: 'http://127.0.0.1:9' }
    const twice = Fastify()
    await twice.register(portkeyAuth, options)
    expect(String(await registerFailure(() => twice.register(portkeyAuth, options)))).toMatch(/already registered/)

    const nested = Fastify()
    await nested.register(portkeyAuth, { ...options, addHook: false })
    const inner = await registerFailure(() => nested.register(async (child) => void (await child.register(portkeyAuth, options))))
    expect(String(inner)).toMatch(/already registered in this context or one around it/)
  })

  test('sibling contexts each have their own, and a request is checked once', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { url } = await startFastify(async (app) => {
      for (const prefix of ['/a', '/b']) {
        await app.register(
          async (scope) => {
            await scope.register(portkeyAuth, { controlPlaneUrl: stub.url, cache: { ttlMs: 0 } })
            scope.get('/', whoami)
          },
          { prefix },
        )
      }
    })
    for (const path of ['/a', '/b']) expect((await send(url + path, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })
})

describe('fastify: addHook: false', () => {
  test('adds no hook: no route is guarded until it uses app.verifyPortkey; the decorators are on its context only', async () => {
    const stub = await useStub({ keys: seedKeys() })
    let outside: unknown = 'unread'
    const { url, app } = await startFastify(async (app) => {
      await app.register(async (v1) => {
        await v1.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
        v1.get('/open', whoami)
        v1.get('/guarded', { onRequest: v1.verifyPortkey }, whoami)
      })
      outside = app.verifyPortkey
    })
    expect([outside, app.hasDecorator('portkeyVerifier')]).toEqual([undefined, false])
    expect((await send(`${url}/open`)).json()).toEqual({ keyId: null })
    expect(stub.calls()).toBe(0)
    expect((await send(`${url}/guarded`, { 'x-portkey-api-key': LIVE })).json()).toEqual({ keyId: 'key_live' })
    expect((await send(`${url}/guarded`)).status).toBe(401)
  })

  test('addHook: true (the default) decorates no verifyPortkey, only portkeyVerifier', async () => {
    const app = Fastify()
    await app.register(portkeyAuth, { controlPlaneUrl: 'http://127.0.0.1:9', addHook: true })
    expect([app.hasDecorator('verifyPortkey'), app.hasDecorator('portkeyVerifier')]).toEqual([false, true])
  })
})
