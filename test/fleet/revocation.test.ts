import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { KEY_DETAILS_PATH, keyRecord, VIRTUAL_KEYS_PATH, virtualKeyRecord } from '../../src/testing/index.js'
import type { KeyRecord } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { deferred, until } from '../support/core-helpers.js'
import { useFleet } from '../support/fleet.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'

// Issue 22, hole 2 and item 11: a revocation is either known done fleet-wide or rejected, and no instance
// brings a revoked answer back from Redis. Real redis-servers; the revoking instance's link runs through a
// TCP proxy the test cuts.
const h = useFleet()
let redis: TestRedis
let proxy: TcpProxy
let prefixes = 0

beforeAll(async () => {
  redis = await startTestRedis()
  proxy = await startTcpProxy(redis.port)
})
afterAll(async () => {
  await proxy?.close()
  await redis?.stop()
})

/** A verifier on the test Redis (or through the proxy), on the stub; closed after the test. */
function instance(prefix: string, url = redis.url, more: object = {}): Verifier {
  const verifier = createVerifier({ controlPlaneUrl: h.stub.url, redis: { url, prefix }, logger: false, ...more })
  h.local(verifier)
  return verifier
}

const ready = (verifier: Verifier) =>
  vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), { timeout: 10_000 })
const status = (verifier: Verifier, key: string, slug?: string) =>
  verifier.verify({ 'x-portkey-api-key': key, ...(slug ? { 'x-portkey-virtual-key': slug } : {}) }).then(
    (auth) => ({ status: 200, keyId: auth.keyId }),
    (error: { status: number; code: string }) => ({ status: error.status, code: error.code }),
  )
const vkLookups = () => h.stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH)).length

describe('the revoking instance’s Redis link is cut', () => {
  test('invalidate() rejects revocation_unconfirmed; it never re-admits once its link is back; a retry then reaches the fleet', async () => {
    const key = 'pk-revoke-cut'
    h.stub.keys.set(key, keyRecord({ id: 'key_cut' }))
    const prefix = `revoke-${++prefixes}-${Date.now()}:`
    const [a, b] = [instance(prefix, proxy.url), instance(prefix)]
    await Promise.all([ready(a), ready(b)])
    for (const verifier of [a, b]) expect(await status(verifier, key)).toMatchObject({ status: 200, keyId: 'key_cut' })
    expect(h.stub.calls(KEY_DETAILS_PATH)).toBe(1)

    proxy.cut()
    try {
      h.stub.keys.delete(key)
      await vi.waitFor(() => expect(a.stats().redis?.connected).toBe(false))
      const error = await a.invalidate(key).then(
        () => null,
        (rejection: unknown) => rejection,
      )
      expect(error).toMatchObject({ name: 'AuthError', code: 'revocation_unconfirmed', status: 503 })
      expect(String((error as Error).message)).not.toContain(key)
      // Its own cache was cleared first: it asks the control plane, which says no.
      expect(await status(a, key)).toMatchObject({ status: 401, code: 'invalid_api_key' })
      expect(h.stub.calls(KEY_DETAILS_PATH)).toBe(2)
    } finally {
      proxy.restore()
    }
    await ready(a)
    // Redis still holds the answer the failed revocation could not delete: A must not take it on trust.
    expect(await status(a, key)).toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect(h.stub.calls(KEY_DETAILS_PATH)).toBe(3)
    // The webhook retries: now it is done, and B (which never lost Redis) and a new instance hear of it.
    await a.invalidate(key)
    const fresh = instance(prefix)
    await ready(fresh)
    for (const verifier of [b, fresh]) expect(await status(verifier, key)).toMatchObject({ status: 401 })
  })
})

describe('revocation markers', () => {
  test('a look-up of a key id’s new secret under way while the key id is revoked: no instance serves its answer from Redis', async () => {
    const old = keyRecord({ id: 'key_rotated' })
    const records = new Map<string, KeyRecord>([
      ['pk-rotated-1', old],
      ['pk-rotated-2', old],
    ])
    const gate = deferred<void>()
    let asked = 0
    let held = false
    const lookup = async (apiKey: string) => {
      asked++
      const record = records.get(apiKey) ?? null
      if (apiKey === 'pk-rotated-2' && !held) {
        held = true
        await gate.promise // the control plane read the record before the revocation, and answers late
      }
      return record
    }
    const prefix = `marker-${++prefixes}-${Date.now()}:`
    const [a, b, c] = [0, 1, 2].map(() => instance(prefix, redis.url, { lookup }))
    await Promise.all([a, b, c].map((verifier) => ready(verifier!)))
    expect(await status(a!, 'pk-rotated-1')).toMatchObject({ status: 200 })

    const inFlight = status(b!, 'pk-rotated-2')
    await until(() => held)
    records.clear()
    await a!.invalidateKeyId('key_rotated')
    await until(() => b!.stats().pending === 0)
    gate.resolve()
    await inFlight // answered with what it asked before the revocation; its answer reaches Redis
    const before = asked
    for (const verifier of [c!, b!]) expect(await status(verifier!, 'pk-rotated-2')).toMatchObject({ status: 401 })
    expect(asked).toBeGreaterThan(before)
  })
})

describe('virtual keys (item 11)', () => {
  const setUp = async (slug: string) => {
    h.stub.keys.set(`pk-vk-${slug}`, keyRecord({ id: `key_${slug}`, workspace_id: 'ws_test' }))
    h.stub.virtualKeys.set(slug, virtualKeyRecord({ slug }))
    const prefix = `vk-${++prefixes}-${Date.now()}:`
    const [a, b] = [instance(prefix), instance(prefix)]
    await Promise.all([ready(a), ready(b)])
    for (const verifier of [a, b]) expect(await status(verifier, `pk-vk-${slug}`, slug)).toMatchObject({ status: 200 })
    expect(vkLookups()).toBe(1)
    h.stub.virtualKeys.delete(slug) // archived
    return { a, b, prefix }
  }

  test.each([
    ['invalidateKeyId(id) drops that key’s virtual-key answers', (v: Verifier, slug: string) => v.invalidateKeyId(`key_${slug}`)],
    ['invalidateVirtualKey(slug) revokes one virtual key', (v: Verifier, slug: string) => v.invalidateVirtualKey(slug)],
  ])('%s on every instance and in Redis', async (_name, revoke) => {
    const slug = `vk-archived-${prefixes}`
    const { a, b, prefix } = await setUp(slug)
    await revoke(a, slug)
    const fresh = instance(prefix)
    await ready(fresh)
    for (const verifier of [b, a, fresh])
      expect(await status(verifier, `pk-vk-${slug}`, slug)).toMatchObject({ status: 403, code: 'virtual_key_not_allowed' })
    expect(vkLookups()).toBeGreaterThan(1)
  })
})
