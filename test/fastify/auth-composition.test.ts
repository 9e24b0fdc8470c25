import fastifyAuth from '@fastify/auth'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { describe, expect, test } from 'vitest'
import { AuthError, errorBody } from '../../src/errors.js'
import { portkeyAuth } from '../../src/fastify/index.js'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'
import { expectRejection, LIVE, seedKeys, send, UNKNOWN, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// `register(portkeyAuth, { addHook: false })` adds no hook and decorates `verifyPortkey`, which follows
// @fastify/auth's contract: done() when the caller is admitted, done(error) when refused; never an answer of
// its own (a strategy after it may still admit the request), never a promise (@fastify/auth would read its
// settling as a pass). @fastify/auth 5 requires Fastify 5: these run in the Fastify 5 project only.

const OTHER_HEADER = 'x-other-strategy'

/** A second strategy: admits a request carrying `x-other-strategy: yes`, refuses the others. */
function otherStrategy(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) {
  if (request.headers[OTHER_HEADER] === 'yes') done()
  else done(Object.assign(new Error('other strategy refused'), { statusCode: 401, code: 'other_refused' }))
}

/** The error handler README shows: an AuthError answered with its status, headers and the package's body. */
function answerAuthErrors(app: FastifyInstance) {
  app.setErrorHandler((error, _request, reply) =>
    error instanceof AuthError ? reply.code(error.status).headers(error.headers).send(errorBody(error)) : reply.send(error),
  )
}

/** An error handler that takes its time (it logs somewhere, say) before answering as Fastify would. */
function slowErrorHandler(app: FastifyInstance) {
  app.setErrorHandler(async (error, _request, reply) => {
    await new Promise((resolve) => setTimeout(resolve, 20))
    const status = (error as { statusCode?: number }).statusCode ?? (error as { status?: number }).status ?? 500
    return reply.code(status).send({ code: (error as { code?: string }).code })
  })
}

interface Reached {
  route: string
  keyId: string | null
}

/**
 * An app with `portkeyAuth` in decorator style and @fastify/auth: `/or` and `/and` combine `verifyPortkey`
 * with the other strategy (`/or-last` with verifyPortkey last), `/hook` uses verifyPortkey as a route's
 * onRequest, `/open` uses neither.
 */
async function composedApp(options: { errorHandler?: 'package' | 'slow' | 'none' } = {}) {
  const stub = await useStub({ keys: seedKeys() })
  const reached: Reached[] = []
  const handler = (route: string) => (request: FastifyRequest) => {
    reached.push({ route, keyId: request.portkey?.keyId ?? null })
    return { route, keyId: request.portkey?.keyId ?? null }
  }
  const running = await startFastify(async (app) => {
    const errorHandler = options.errorHandler ?? 'package'
    if (errorHandler === 'package') answerAuthErrors(app)
    if (errorHandler === 'slow') slowErrorHandler(app)
    await app.register(fastifyAuth)
    await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
    app.get('/or', { onRequest: app.auth([app.verifyPortkey, otherStrategy]) }, handler('/or'))
    app.get('/or-last', { onRequest: app.auth([otherStrategy, app.verifyPortkey]) }, handler('/or-last'))
    app.get('/and', { onRequest: app.auth([app.verifyPortkey, otherStrategy], { relation: 'and' }) }, handler('/and'))
    app.get('/hook', { onRequest: app.verifyPortkey }, handler('/hook'))
    app.get('/open', handler('/open'))
  })
  return { ...running, stub, reached }
}

const key = (value: string, other = false) => ({ 'x-portkey-api-key': value, ...(other ? { [OTHER_HEADER]: 'yes' } : {}) })

describe('fastify: verifyPortkey in @fastify/auth', () => {
  test("relation 'or' or 'and', the other strategy refusing too: a bad key never passes, looked up or cached", async () => {
    // A slow error handler leaves the request unanswered for a while: a strategy that settled twice (done(error),
    // then a pass) would run the handler in that time.
    const app = await composedApp({ errorHandler: 'slow' })
    for (const route of ['/or', '/or-last', '/and']) {
      for (let i = 0; i < 2; i++) {
        const res = await send(app.url + route, key(UNKNOWN))
        expect({ route, status: res.status }).toEqual({ route, status: 401 })
        expect(res.text).not.toContain(UNKNOWN)
      }
      expect((await send(app.url + route)).status).toBe(401)
    }
    // Let any late settling of a look-up happen before counting what reached a handler.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(app.reached).toEqual([])
  })

  test("relation 'or', the other strategy refusing: an outage is no pass either", async () => {
    const app = await composedApp()
    app.stub.fail('error')
    // @fastify/auth answers with the last strategy's refusal: the other's 401, or verifyPortkey's 503.
    expect((await send(`${app.url}/or`, key(LIVE))).status).toBe(401)
    expect((await send(`${app.url}/or-last`, key(LIVE))).status).toBe(503)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(app.reached).toEqual([])
  })

  test("relation 'or': a valid key passes with request.portkey set; the other strategy alone passes without it", async () => {
    const app = await composedApp()
    expect((await send(`${app.url}/or`, key(LIVE))).json()).toEqual({ route: '/or', keyId: 'key_live' })
    expect((await send(`${app.url}/or-last`, key(LIVE))).json()).toEqual({ route: '/or-last', keyId: 'key_live' })
    // The other strategy admits a bad key's request on its own: request.portkey stays absent.
    const other = await send(`${app.url}/or`, key(UNKNOWN, true))
    expect([other.status, other.json()]).toEqual([200, { route: '/or', keyId: null }])
    expect(other.headers['www-authenticate']).toBeUndefined()
    expect(app.stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  test("relation 'or', verifyPortkey last: its refusal is the answer, 401 with the package's body, 503 with Retry-After", async () => {
    const app = await composedApp()
    const unknown = await send(`${app.url}/or-last`, key(UNKNOWN))
    expectRejection(unknown, 401, 'invalid_api_key', [UNKNOWN])
    expect(unknown.headers['www-authenticate']).toMatch(/error="invalid_api_key"/)
    expectRejection(await send(`${app.url}/or-last`), 401, 'missing_api_key')
    app.stub.fail('error')
    const outage = await send(`${app.url}/or-last`, key(OTHER_KEY))
    expectRejection(outage, 503, 'auth_unavailable', [OTHER_KEY])
    expect(outage.headers['retry-after']).toBe('1')
    expect(app.reached).toEqual([])
  })

  test("relation 'and': both must pass; verifyPortkey's refusal is 401 with the package's body, an outage 503", async () => {
    const app = await composedApp()
    expect((await send(`${app.url}/and`, key(LIVE, true))).json()).toEqual({ route: '/and', keyId: 'key_live' })
    expect((await send(`${app.url}/and`, key(LIVE))).status).toBe(401)
    expectRejection(await send(`${app.url}/and`, key(UNKNOWN, true)), 401, 'invalid_api_key', [UNKNOWN])
    app.stub.fail('error')
    const outage = await send(`${app.url}/and`, key(OTHER_KEY, true))
    expectRejection(outage, 503, 'auth_unavailable', [OTHER_KEY])
    expect(outage.headers['retry-after']).toBe('1')
    expect(app.reached).toEqual([{ route: '/and', keyId: 'key_live' }])
  })

  test("as a route's onRequest: admits with request.portkey, refuses through the error handler", async () => {
    const app = await composedApp()
    expect((await send(`${app.url}/hook`, key(LIVE))).json()).toEqual({ route: '/hook', keyId: 'key_live' })
    expectRejection(await send(`${app.url}/hook`, key(UNKNOWN)), 401, 'invalid_api_key', [UNKNOWN])
  })

  test("without an error handler of the app's own: Fastify's answer, with the error's status, headers and code", async () => {
    const app = await composedApp({ errorHandler: 'none' })
    const unknown = await send(`${app.url}/and`, key(UNKNOWN, true))
    expect(unknown.status).toBe(401)
    expect(unknown.json()).toMatchObject({ statusCode: 401, code: 'invalid_api_key' })
    expect(unknown.headers['www-authenticate']).toMatch(/error="invalid_api_key"/)
    app.stub.fail('error')
    const outage = await send(`${app.url}/hook`, key(OTHER_KEY))
    expect([outage.status, outage.headers['retry-after']]).toEqual([503, '1'])
    expect(outage.json()).toMatchObject({ statusCode: 503, code: 'auth_unavailable' })
  })

  test('a route that uses neither stays open: no check, no look-up, no request.portkey', async () => {
    const app = await composedApp()
    for (const headers of [{}, key(UNKNOWN), key(LIVE)]) {
      expect((await send(`${app.url}/open`, headers)).json()).toEqual({ route: '/open', keyId: null })
    }
    expect(app.stub.calls()).toBe(0)
  })
})

// A key of the seed not looked up before the outage (the outage test must not be served from the cache).
const OTHER_KEY = Object.keys(seedKeys()).find((value) => value !== LIVE)!
