import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import { createTestIssuer, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { closeAfterTest, useStub } from '../support/servers.js'
import { startTestRedis } from '../support/redis-server.js'

// Two apps (or environments) on one Redis under the same prefix: an answer one verifier wrote must never
// be used by a verifier for which it was not made — another control plane, other JWT settings.
let redis: { url: string; stop(): Promise<void> }
let run = 0
beforeAll(async () => {
  redis = process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: async () => {} } : await startTestRedis()
})
afterAll(() => redis?.stop())

async function connected(options: VerifierOptions): Promise<Verifier> {
  const verifier = closeAfterTest(createVerifier(options))
  await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), { timeout: 5_000 })
  return verifier
}

const outcome = (verifier: Verifier, credential: string) =>
  verifier.verify({ 'x-portkey-api-key': credential }).then(
    (auth) => auth.keyId,
    (error: { code: string }) => error.code,
  )

describe('one Redis, one prefix, two differently configured verifiers', () => {
  test('another control plane: a key known to staging is not admitted in production', async () => {
    const prefix = `ns-${++run}-${Date.now()}:`
    const staging = await useStub({ keys: { 'pk-dev-0123456789abcdef': keyRecord({ id: 'key_staging' }) } })
    const production = await useStub()
    const a = await connected({ controlPlaneUrl: staging.url, redis: { url: redis.url, prefix } })
    const b = await connected({ controlPlaneUrl: production.url, redis: { url: redis.url, prefix } })

    expect(await outcome(a, 'pk-dev-0123456789abcdef')).toBe('key_staging')
    expect(await outcome(b, 'pk-dev-0123456789abcdef')).toBe('invalid_api_key')
    expect(production.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('another JWT audience: a token minted for app A is not admitted by app B', async () => {
    const prefix = `ns-${++run}-${Date.now()}:`
    const stub = await useStub()
    const issuer = await createTestIssuer()
    const jwt = (audience: string) => ({ jwks: issuer.jwks, issuer: 'https://idp.test', audience })
    const a = await connected({ controlPlaneUrl: stub.url, redis: { url: redis.url, prefix }, jwt: jwt('app-a') })
    const b = await connected({ controlPlaneUrl: stub.url, redis: { url: redis.url, prefix }, jwt: jwt('app-b') })
    const token = await issuer.sign({
      portkey_oid: 'org_1',
      portkey_workspace: 'ws_1',
      sub: 'user_1',
      jti: 'tok_1',
      iss: 'https://idp.test',
      aud: 'app-a',
    })

    expect(await outcome(a, token)).toBe('tok_1')
    expect(await outcome(b, token)).toBe('invalid_token')
  })

  test('the same settings still share: one control-plane call for two verifiers', async () => {
    const prefix = `ns-${++run}-${Date.now()}:`
    const stub = await useStub({ keys: { 'pk-shared-0123456789abcdef': keyRecord({ id: 'key_shared' }) } })
    const a = await connected({ controlPlaneUrl: stub.url, redis: { url: redis.url, prefix } })
    const b = await connected({ controlPlaneUrl: `${stub.url}/`, redis: { url: redis.url, prefix } })

    expect(await outcome(a, 'pk-shared-0123456789abcdef')).toBe('key_shared')
    expect(await outcome(b, 'pk-shared-0123456789abcdef')).toBe('key_shared')
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('revocation on one environment does not reach the other', async () => {
    const prefix = `ns-${++run}-${Date.now()}:`
    const first = await useStub({ keys: { 'pk-both-0123456789abcdef': keyRecord({ id: 'key_both' }) } })
    const second = await useStub({ keys: { 'pk-both-0123456789abcdef': keyRecord({ id: 'key_both' }) } })
    const a = await connected({ controlPlaneUrl: first.url, redis: { url: redis.url, prefix } })
    const b = await connected({ controlPlaneUrl: second.url, redis: { url: redis.url, prefix } })
    for (const verifier of [a, b]) expect(await outcome(verifier, 'pk-both-0123456789abcdef')).toBe('key_both')
    // Each asked its own control plane.
    expect([first.calls(KEY_DETAILS_PATH), second.calls(KEY_DETAILS_PATH)]).toEqual([1, 1])

    await a.invalidateKeyId('key_both')
    await new Promise((done) => setTimeout(done, 50))
    expect(await outcome(a, 'pk-both-0123456789abcdef')).toBe('key_both')
    expect(await outcome(b, 'pk-both-0123456789abcdef')).toBe('key_both')
    // A asked again; B kept its entry: the revocation was for A's environment.
    expect([first.calls(KEY_DETAILS_PATH), second.calls(KEY_DETAILS_PATH)]).toEqual([2, 1])
  })
})
