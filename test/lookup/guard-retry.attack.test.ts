import type { FastifyRequest } from 'fastify'
import { describe, expect, test } from 'vitest'
import { portkeyAuth } from '../../src/fastify/index.js'
import { keyRecord } from '../../src/testing/records.js'
import type { KeyLookup } from '../../src/types.js'
import { startFastify } from '../fastify/app.js'
import { expectRejection, LIVE, seedKeys, send, sleep, useStub } from '../support/servers.js'

// Attacks on the look-up guard's retry, whose pause is now platform/timers' sleep(): the deadline aborting
// the jitter pause must give the 503 with Retry-After (never a 500, never a pass), and leave nothing running.

const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })

describe('attack: the retry pause cut by the deadline', () => {
  test('a reset just before timeoutMs: the jitter pause is aborted: 503 with Retry-After, one look-up, no pass', async () => {
    const timeoutMs = 40
    let calls = 0
    // Fails 3 ms before the deadline: the 10-50 ms jitter pause is always cut by the deadline.
    const lookup: KeyLookup = () => {
      calls++
      return new Promise((_, reject) => setTimeout(() => reject(reset()), timeoutMs - 3))
    }
    const reached: unknown[] = []
    const app = await startFastify(async (app) => {
      await app.register(portkeyAuth, { lookup, timeoutMs, breaker: { failureThreshold: 1_000 } })
      app.get('/x', (request: FastifyRequest) => {
        reached.push(request.portkey)
        return { ok: true }
      })
    })
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      const res = await send(`${app.url}/x`, { 'x-portkey-api-key': `${LIVE}-${i}` })
      expectRejection(res, 503, 'auth_unavailable', [`${LIVE}-${i}`])
      expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/)
      expect(performance.now() - started).toBeLessThan(timeoutMs + 200)
    }
    expect(calls).toBe(5)
    expect(reached).toEqual([])
    expect(app.app.portkeyVerifier.stats()).toMatchObject({ guard: { retries: 5 } })
  })

  test('with the control-plane stub resetting connections: 503 with Retry-After each time, and the retry can still admit', async () => {
    const stub = await useStub({ keys: { ...seedKeys(), 'pk-retry': keyRecord({ id: 'key_retry' }) } })
    const app = await startFastify(async (app) => {
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, timeoutMs: 25, breaker: { failureThreshold: 1_000 } })
      app.get('/x', (request) => ({ keyId: request.portkey?.keyId ?? null }))
    })
    stub.fail('reset')
    for (let i = 0; i < 5; i++) {
      const res = await send(`${app.url}/x`, { 'x-portkey-api-key': 'pk-retry' })
      expectRejection(res, 503, 'auth_unavailable', ['pk-retry'])
      expect(res.headers['retry-after']).toBe('1')
    }
    // One reset, then the retry answers: admitted (timeoutMs long enough for the jitter).
    const app2 = await startFastify(async (app) => {
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url, timeoutMs: 1_000 })
      app.get('/x', (request) => ({ keyId: request.portkey?.keyId ?? null }))
    })
    stub.fail('reset', { times: 1 })
    expect((await send(`${app2.url}/x`, { 'x-portkey-api-key': 'pk-retry' })).json()).toEqual({ keyId: 'key_retry' })
    // The aborted pauses left no late settling behind: nothing answers twice, nothing throws later.
    await sleep(100)
  })
})
