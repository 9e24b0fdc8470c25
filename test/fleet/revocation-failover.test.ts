import { afterAll, beforeAll, expect, test, vi } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { sentinel, useFleet } from '../support/fleet.js'
import { startTestSentinel, type TestSentinel } from '../support/redis-sentinel.js'

// Issue 22, hole 2: a real Sentinel failover with replication stalled. The revocation reaches the primary
// but never the replica; the replica is promoted holding the revoked answer.
const h = useFleet()
let servers: TestSentinel
beforeAll(async () => {
  servers = await startTestSentinel()
}, 30_000)
afterAll(() => servers?.stop())

test('replication stalled: invalidate() rejects; after the failover no instance admits the key from the promoted replica', async () => {
  const key = 'pk-stalled-revoked'
  h.stub.keys.set(key, keyRecord({ id: 'key_stalled' }))
  const { a, b, c, verifiers } = await h.fleet(sentinel(servers))
  const all = [a, b, c]
  for (const instance of all) expect(await instance.verify(key)).toMatchObject({ status: 200, keyId: 'key_stalled' })
  expect(h.lookups()).toBe(1)

  await servers.stallReplication()
  h.stub.keys.delete(key)
  const error = await verifiers.a.invalidate(key).then(
    () => null,
    (rejection: unknown) => rejection,
  )
  expect(error).toMatchObject({ name: 'AuthError', code: 'revocation_unconfirmed', status: 503 })

  await servers.killPrimary()
  for (const instance of all)
    await vi.waitFor(async () => expect((await instance.stats()).redis).toMatchObject({ connected: true, listening: true }), {
      timeout: 15_000,
      interval: 100,
    })
  const before = h.lookups()
  for (const instance of all) expect(await instance.verify(key)).toMatchObject({ status: 401, code: 'invalid_api_key' })
  // The promoted replica's answer was not taken on trust: the control plane was asked again.
  expect(h.lookups()).toBeGreaterThan(before)
}, 45_000)
