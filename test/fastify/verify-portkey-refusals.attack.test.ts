import fastifyAuth from '@fastify/auth'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Quota } from '../../src/types.js'
import { describe, expect, test } from 'vitest'
import { AuthError, errorBody } from '../../src/errors.js'
import { portkeyAuth, quotaOf } from '../../src/fastify/index.js'
import { keyRecord } from '../../src/testing/records.js'
import { LIVE, seedKeys, send, useStub } from '../support/servers.js'
import { startFastify } from './app.js'

// Attacks on `addHook: false` / `app.verifyPortkey` that FAILED when written, and pass since the fix: each states what README
// promises, and src/ now keeps it. (Apart from verify-portkey.attack.test.ts, whose attacks held when written.)

const OTHER_HEADER = 'x-other-strategy'

function otherStrategy(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) {
  if (request.headers[OTHER_HEADER] === 'yes') done()
  else done(Object.assign(new Error('other strategy refused'), { statusCode: 401, code: 'other_refused' }))
}

function answerAuthErrors(app: FastifyInstance) {
  app.setErrorHandler((error, _request, reply) =>
    error instanceof AuthError ? reply.code(error.status).headers(error.headers).send(errorBody(error)) : reply.send(error),
  )
}

const key = (value: string, other = false) => ({ 'x-portkey-api-key': value, ...(other ? { [OTHER_HEADER]: 'yes' } : {}) })

const TWO_A_DAY = 'pk-two-a-day-0123456789'

describe('attack: rate-limit allowance spent by refused requests', () => {
  // README, Rate limits: "a request past any of them gets 429 ... Nor is a request refused for anything else
  // [counted]: the rate limits are counted last, and a request that requirePermissions() refuses after the
  // middleware admitted it gives its allowance back"; Security: "A refused request costs nothing."
  // Under @fastify/auth relation 'and', verifyPortkey admits (and counts) before the other strategy refuses:
  // the request is refused, its allowance is never given back. Someone holding only a stolen Portkey key, and
  // not the second factor 'and' demands, can spend the key's whole allowance and lock its owner out (429).
  test.each([
    ["relation 'and', verifyPortkey first", { relation: 'and' as const }],
    ["relation 'and', run: 'all', verifyPortkey last", { relation: 'and' as const, run: 'all' as const, last: true }],
  ])('%s: requests the other strategy refuses leave the key its allowance', async (_name, options) => {
    const stub = await useStub({
      keys: { [TWO_A_DAY]: keyRecord({ id: 'key_two', rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] }) },
    })
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      const strategies = 'last' in options ? [otherStrategy, app.verifyPortkey] : [app.verifyPortkey, otherStrategy]
      const { relation } = options
      const run = 'run' in options ? options.run : undefined
      app.get('/and', { onRequest: app.auth(strategies, run ? { relation, run } : { relation }) }, (request) => ({
        keyId: request.portkey?.keyId ?? null,
      }))
    })
    // The attacker: the key alone, refused by the other strategy, three times.
    const refusals: { status: number; ratelimit: unknown }[] = []
    for (let i = 0; i < 3; i++) {
      const refused = await send(`${app.url}/and`, key(TWO_A_DAY))
      refusals.push({ status: refused.status, ratelimit: refused.headers.ratelimit })
    }
    // The owner, with both: still within two a day, since nothing was admitted.
    const owner = await send(`${app.url}/and`, key(TWO_A_DAY, true))
    expect({ status: owner.status, body: owner.json(), refusals }).toEqual({
      status: 200,
      body: { keyId: 'key_two' },
      // Refused by the other strategy: 401, counted nowhere, so no RateLimit header saying the key was counted.
      refusals: [0, 1, 2].map(() => ({ status: 401, ratelimit: undefined })),
    })
  })
  // The quota travels beside the context (issue 25): an app that keeps a request's quota and puts it on another
  // request (an earlier hook; verifyPortkey attaches none for a key without limits) must not have that other
  // request's refusal give the first key's allowance back.
  test("relation 'and': a refused request carrying another key's quota gives that key nothing back", async () => {
    const FREE = 'pk-free-0123456789abcd'
    const stub = await useStub({
      keys: {
        [TWO_A_DAY]: keyRecord({ id: 'key_two', rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] }),
        [FREE]: keyRecord({ id: 'key_free' }),
      },
    })
    let kept: Quota | null = null
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false })
      app.addHook('onRequest', (request, _reply, done) => {
        if (kept !== null) request.portkeyQuota = kept
        done()
      })
      app.get('/and', { onRequest: app.auth([app.verifyPortkey, otherStrategy], { relation: 'and' }) }, (request) => {
        kept ??= quotaOf(request)
        return { ok: true }
      })
    })
    expect((await send(`${app.url}/and`, key(TWO_A_DAY, true))).status).toBe(200)
    expect(kept).not.toBeNull()
    for (let i = 0; i < 3; i++) expect((await send(`${app.url}/and`, key(FREE))).status).toBe(401)
    // The limited key had one request left of two, no more.
    const statuses = [(await send(`${app.url}/and`, key(TWO_A_DAY, true))).status]
    statuses.push((await send(`${app.url}/and`, key(TWO_A_DAY, true))).status)
    expect(statuses).toEqual([200, 429])
  })
})

describe('attack: hideCredentials with the decorator', () => {
  // README: "With hideCredentials: true, the middleware removes x-portkey-api-key from the request ... on every
  // outcome, admitted or refused, so an app that forwards or logs requests cannot leak it". Registered with
  // { addHook: false, hideCredentials: true } and used in @fastify/auth 'or' after another strategy, a request
  // that strategy admits reaches the handler with the Portkey key still in its headers: verifyPortkey never ran.
  test("relation 'or', the other strategy first and admitting: the handler still sees x-portkey-api-key", async () => {
    const stub = await useStub({ keys: seedKeys() })
    const seen: unknown[] = []
    const app = await startFastify(async (app) => {
      answerAuthErrors(app)
      await app.register(fastifyAuth)
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, addHook: false, hideCredentials: true })
      app.get('/or-last', { onRequest: app.auth([otherStrategy, app.verifyPortkey]) }, (request) => {
        seen.push({ header: request.headers['x-portkey-api-key'] !== undefined, raw: request.raw.rawHeaders.includes(LIVE) })
        return { ok: true }
      })
    })
    expect((await send(`${app.url}/or-last`, key(LIVE, true))).status).toBe(200)
    expect(seen).toEqual([{ header: false, raw: false }])
  })
})
