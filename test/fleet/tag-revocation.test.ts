import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createTestIssuer, keyRecord, type TestIssuer } from '../../src/testing/index.js'
import type { KeyRecord } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { type Deferred, deferred, until } from '../support/core-helpers.js'
import { standalone, useFleet } from '../support/fleet.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Attack on issue 26's cache keys: an instance's LRU is keyed by the credential's tag (its own SipHash key, or a
// JWT's fingerprint), while another instance revokes by the fingerprint, which the entry carries as its alias.
// Real redis-server; instance C of the fleet runs in a process of its own, so under another SipHash key.
const h = useFleet()
let redis: TestRedis
let issuer: TestIssuer

beforeAll(async () => {
  ;[redis, issuer] = await Promise.all([startTestRedis(), createTestIssuer('tag-revocation')])
  h.stub.jwks = issuer.jwks
})
afterAll(async () => {
  await redis?.stop()
})

const closing: Verifier[] = []
afterEach(async () => {
  for (const verifier of closing.splice(0)) await verifier.close()
})

describe('a JWT (tagged by its fingerprint) revoked on A', () => {
  test('B and C (another process, another SipHash key) drop their entries: each verifies it again', async () => {
    const jwt = { jwksUrl: h.stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience }
    const { a, b, c, verifiers } = await h.fleet(standalone(redis.url), jwt)
    const token = await issuer.sign({ portkey_oid: 'org_tag', portkey_workspace: 'ws_tag', jti: randomUUID() })
    expect(token.length).toBeGreaterThan(128)
    for (const instance of [a, b, c]) expect((await instance.verify(token)).status).toBe(200)
    // Cached now: more requests load nothing.
    const before = await Promise.all([b, c].map(async (instance) => (await instance.stats()).lookups))
    for (const instance of [b, c]) expect((await instance.verify(token)).status).toBe(200)
    expect(await Promise.all([b, c].map(async (instance) => (await instance.stats()).lookups))).toEqual(before)

    // Resolves once every instance has the message.
    await verifiers.a.invalidate(token)
    for (const instance of [b, c]) expect((await instance.verify(token)).status).toBe(200)
    const after = await Promise.all([b, c].map(async (instance) => (await instance.stats()).lookups))
    expect(after).toEqual(before.map((n) => n + 1))
  })
})

describe('an API key (tagged with SipHash) revoked on A while B refreshes its stale entry', () => {
  test('B drops the entry and the refresh, asked before the revocation, does not bring it back', async () => {
    const key = `pk-tag-stale-${randomUUID()}`
    const records = new Map<string, KeyRecord>([[key, keyRecord({ id: 'key_tag_stale' })]])
    const holds: Deferred<KeyRecord | null>[] = []
    const calls: string[] = []
    const lookup = async (apiKey: string) => {
      calls.push(apiKey)
      return holds.shift()?.promise ?? records.get(apiKey) ?? null
    }
    const prefix = `tag-${randomUUID()}:`
    // ttlMs 0: every entry is stale at once, so each request after the first starts a refresh. A long timeoutMs:
    // the held look-up must not time out on a busy machine.
    const make = () =>
      createVerifier({ lookup, redis: { url: redis.url, prefix }, cache: { ttlMs: 0 }, timeoutMs: 60_000, logger: false })
    const [a, b] = [make(), make()]
    closing.push(a, b)
    await until(() => [a, b].every((v) => v.stats().redis?.connected && v.stats().redis?.listening), 10_000)
    const headers = { 'x-portkey-api-key': key }

    expect((await b.verify(headers)).keyId).toBe('key_tag_stale')
    const held = deferred<KeyRecord | null>()
    holds.push(held)
    // Served stale; its refresh reaches the look-up and is held there.
    expect((await b.verify(headers)).keyId).toBe('key_tag_stale')
    await until(() => calls.length === 2, 10_000)
    expect(b.stats().pending).toBe(1)

    records.delete(key)
    await a.invalidate(key)
    held.resolve(keyRecord({ id: 'key_tag_stale' }))
    await until(() => b.stats().pending === 0, 10_000)
    await expect(b.verify(headers)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect(calls).toHaveLength(3)
  })
})
