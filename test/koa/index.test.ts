import type Koa from 'koa'
import type { Middleware, ParameterizedContext } from 'koa'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { AuthError } from '../../src/errors.js'
import type { PortkeyAuth } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { type KoaAuthOptions, type PortkeyState, portkeyAuth } from '../../src/koa/index.js'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { describeAdapterContract } from '../support/adapter-contract.js'
import { closeAfterTest, LIVE, seedKeys, send, sleep, startKoa, UNKNOWN, useStub } from '../support/servers.js'

describeAdapterContract('koa')

/**
 * A Koa app: `outer` (if given, e.g. an error-catching middleware), then `portkeyAuth(options)`, then a
 * handler counting the requests it reaches. Koa's `error` events are collected.
 */
async function guardedApp(options: KoaAuthOptions | Verifier, outer?: Koa.Middleware) {
  const reached: PortkeyAuth[] = []
  const errors: unknown[] = []
  const running = await startKoa((app) => {
    app.on('error', (error: unknown) => errors.push(error))
    if (outer) app.use(outer)
    app.use(portkeyAuth(options)).use((ctx) => {
      reached.push(ctx.state.portkey)
      ctx.body = 'ok'
    })
  })
  return closeAfterTest({ ...running, reached, errors })
}

describe('koa: onError', () => {
  test("(error) => { throw error } reaches Koa's own error handling, with the error's status, headers and message", async () => {
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
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.text).toBe('Invalid Portkey API key.')
    expect(app.errors).toHaveLength(1)
    expect(app.errors[0]).toBeInstanceOf(AuthError)
    expect(app.reached).toHaveLength(0)

    stub.fail('error')
    const outage = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect([outage.status, outage.headers['retry-after']]).toEqual([503, '1'])
  })

  test('a thrown AuthError can be caught by an outer middleware', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const app = await guardedApp(
      {
        controlPlaneUrl: stub.url,
        onError: (error) => {
          throw error
        },
      },
      async (ctx, next) => {
        try {
          await next()
        } catch (error) {
          if (!(error instanceof AuthError)) throw error
          ctx.status = error.status
          ctx.body = { caughtBy: 'outer', code: error.code }
        }
      },
    )
    const res = await send(app.url, { 'x-portkey-api-key': 'pk-exhausted' })
    expect([res.status, res.json()]).toEqual([412, { caughtBy: 'outer', code: 'usage_limit_exceeded' }])
    expect(app.errors).toHaveLength(0)
    expect(app.reached).toHaveLength(0)
    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).text).toBe('ok')
  })

  test('onError can write a response of its own, and is awaited when async', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: Array<{ code: string; path: string }> = []
    const app = await guardedApp({
      controlPlaneUrl: stub.url,
      async onError(error, ctx) {
        await sleep(10)
        seen.push({ code: error.code, path: ctx.path })
        ctx.status = error.status
        ctx.body = `denied: ${error.code}`
      },
    })
    const res = await send(`${app.url}/anything`)
    expect([res.status, res.text]).toEqual([401, 'denied: missing_api_key'])
    expect(seen).toEqual([{ code: 'missing_api_key', path: '/anything' }])
    expect(app.reached).toHaveLength(0)
  })

  test('onError beside a shared { verifier } is used, and the verifier too', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const app = await guardedApp({
      verifier,
      onError: (error, ctx) => {
        ctx.status = 418
        ctx.body = error.code
      },
    })
    expect((await send(app.url, { 'x-portkey-api-key': UNKNOWN })).status).toBe(418)
    expect((await send(app.url, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    expect(verifier.stats().lookups).toBe(2)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
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
  ])('an error that is not an AuthError (%s) skips onError and is thrown to Koa', async (_how, check) => {
    const broken: Verifier = {
      ...createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9' }),
      verify: () => Promise.reject(boom),
      check,
    }
    let onErrorCalls = 0
    const app = await guardedApp({ verifier: broken, onError: () => void onErrorCalls++ })
    const res = await send(app.url, { 'x-portkey-api-key': LIVE })
    expect(res.status).toBe(500)
    expect(res.text).not.toContain('verifier broke')
    expect(app.errors).toEqual([boom])
    expect(onErrorCalls).toBe(0)
    expect(app.reached).toHaveLength(0)
  })
})

describe('koa: types', () => {
  test('ctx.state.portkey is PortkeyAuth once portkeyAuth() is in the chain', () => {
    expectTypeOf(portkeyAuth).returns.toEqualTypeOf<Middleware<PortkeyState> & { readonly verifier: Verifier }>()
    expectTypeOf(portkeyAuth).parameter(0).toEqualTypeOf<KoaAuthOptions | Verifier | undefined>()
    expectTypeOf<PortkeyState['portkey']>().toEqualTypeOf<PortkeyAuth>()
    expectTypeOf<Parameters<NonNullable<KoaAuthOptions['onError']>>[0]>().toEqualTypeOf<AuthError>()

    const check = (app: Koa) =>
      app.use(portkeyAuth()).use((ctx) => {
        expectTypeOf(ctx.state.portkey).toEqualTypeOf<PortkeyAuth>()
        expectTypeOf(ctx.state.portkey).not.toBeAny()
        expectTypeOf(ctx.state.portkey.scopes).toEqualTypeOf<readonly string[]>()
      })
    expectTypeOf(check).toBeFunction()

    const handler = (ctx: ParameterizedContext<PortkeyState>) => ctx.state.portkey.keyId
    expectTypeOf(handler).returns.toEqualTypeOf<string>()
  })
})
