import type { RequestHandler } from 'express'
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { type PortkeyState, portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import type { PortkeyAuth } from '../../src/types.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { useApp } from '../support/apps.js'
import { contractFramework, expectRejection, LIVE, seedKeys, sendKey, UNKNOWN, useStub, WHOAMI } from '../support/servers.js'

// `portkeyAuth()` hands back the verifier it uses as `auth.verifier`: revoke a key or read stats() through
// the middleware the app already holds, without building the verifier apart.

/** An app whose only middleware (before the `/whoami` handler) is `portkeyAuth(options)`, and that middleware's verifier. */
async function serve(adapter: AdapterName, options: MiddlewareOptions) {
  const app = await useApp(adapter, {
    auth: options,
    routes: [{ path: WHOAMI, answer: ({ portkey }) => ({ keyId: portkey?.keyId }) }],
  })
  return { app, verifier: app.verifier! }
}

describe.each(ADAPTERS)('%s: auth.verifier', (adapter) => {
  const portkeyAuth = (options?: MiddlewareOptions | Verifier) =>
    contractFramework(adapter).portkeyAuth(options) as { readonly verifier: Verifier; readonly name: string }

  test('revoking a key through the handle: its next request asks the control plane again and is refused', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { app, verifier } = await serve(adapter, { controlPlaneUrl: stub.url, cache: { ttlMs: 60_000 } })

    for (let i = 0; i < 3; i++) expect((await sendKey(app, LIVE)).json()).toEqual({ keyId: 'key_live' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)

    // Revoked at the control plane: still served from the cache until the app says so.
    stub.keys.set(LIVE, keyRecord({ id: 'key_live', status: 'archived' }))
    expect((await sendKey(app, LIVE)).status).toBe(200)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)

    await verifier.invalidate(LIVE)
    expectRejection(await sendKey(app, LIVE), 401, 'invalid_api_key', [LIVE])
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  test('invalidateKeyId() through the handle forgets every credential of that key id', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { app, verifier } = await serve(adapter, { controlPlaneUrl: stub.url })
    await sendKey(app, LIVE)
    await verifier.invalidateKeyId('key_live')
    await sendKey(app, LIVE)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  test('stats() through the handle counts what the middleware did', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const { app, verifier } = await serve(adapter, { controlPlaneUrl: stub.url })
    expect(verifier.stats()).toMatchObject({ lookups: 0, hits: 0 })
    await sendKey(app, LIVE)
    await sendKey(app, LIVE)
    await sendKey(app, UNKNOWN)
    expect(verifier.stats()).toMatchObject({ lookups: 2, misses: 2, hits: 1, entries: 2 })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  test('is the very verifier passed in, alone or as { verifier }', () => {
    const verifier = createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' })
    expect(portkeyAuth(verifier).verifier).toBe(verifier)
    expect(portkeyAuth({ verifier }).verifier).toBe(verifier)
    if (capabilities(adapter).hideCredentials) expect(portkeyAuth({ verifier, hideCredentials: true }).verifier).toBe(verifier)
  })

  test('the handle cannot be replaced', () => {
    const a = portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    const b = portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:8' })
    expect(a.verifier).not.toBe(b.verifier)
    expect(typeof a.verifier.check).toBe('function')
    expect(() => {
      ;(a as { verifier: Verifier }).verifier = b.verifier
    }).toThrow(TypeError)
    expect(a.verifier).not.toBe(b.verifier)
  })

  // The Web adapter shares one verifier between handlers wrapped with the same settings (each route file of a
  // Next.js app wraps its own handler); a middleware made from options has its own.
  test('one verifier per middleware made from options (the Web adapter: one per set of settings)', () => {
    const a = portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    const same = portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    if (capabilities(adapter).verifierPerSettings) expect(same.verifier).toBe(a.verifier)
    else expect(same.verifier).not.toBe(a.verifier)
    expect(portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:8' }).verifier).not.toBe(a.verifier)
  })

  test('the middleware keeps its name for stack traces and tracing spans', () => {
    expect(portkeyAuth({ controlPlaneUrl: 'http://127.0.0.1:9' }).name).toBe('portkeyAuth')
  })
})

describe('auth.verifier: types', () => {
  test('Express: a RequestHandler with a readonly verifier', () => {
    expectTypeOf(expressAuth).returns.toEqualTypeOf<RequestHandler & { readonly verifier: Verifier }>()
    expectTypeOf(expressAuth).returns.toExtend<RequestHandler>()
    const auth = expressAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    expectTypeOf(auth.verifier).toEqualTypeOf<Verifier>()
    const reassign = (other: Verifier) => {
      // @ts-expect-error the handle is read-only
      auth.verifier = other
    }
    expectTypeOf(reassign).toBeFunction()
  })

  test('Koa: a Middleware<PortkeyState> with a readonly verifier, still typing ctx.state.portkey after use()', () => {
    expectTypeOf(koaAuth).returns.toEqualTypeOf<Middleware<PortkeyState> & { readonly verifier: Verifier }>()
    const auth = koaAuth({ controlPlaneUrl: 'http://127.0.0.1:9' })
    expectTypeOf(auth.verifier).toEqualTypeOf<Verifier>()
    const reassign = (other: Verifier) => {
      // @ts-expect-error the handle is read-only
      auth.verifier = other
    }
    expectTypeOf(reassign).toBeFunction()
    const check = (app: Koa) =>
      app.use(auth).use((ctx) => {
        expectTypeOf(ctx.state.portkey).toEqualTypeOf<PortkeyAuth>()
      })
    expectTypeOf(check).toBeFunction()
  })
})
