import { describe, expect, test } from 'vitest'
import { createTestIssuer, keyRecord } from '../../src/testing/index.js'
import { ADAPTERS } from '../support/adapters.js'
import { sendRaw } from '../support/raw-socket.js'
import { expectRejection, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'

// Issue 22, holes 4 and 9, on every adapter: `Authorization` often carries a secret that is not Portkey's (a
// provider key a client sends to an OpenAI-compatible backend, the app's own session token). By default it is
// never read, so never sent to the key service; with `bearer: true`, a provider's key or (without JWT
// verification) a JWT is still never sent; a repeated Authorization is refused rather than its first line taken.

const KEY = 'pk-authz-0123456789abcdef'
const PROVIDER_KEYS = ['sk-proj-abcdefghijklmnop0123', 'sk-ant-api03-abcdefghijklmnop', 'AIzaSyA0123456789abcdefghij']

/** The stub, and how many of its calls carried anything but KEY (a secret sent where it must not go). */
async function stubWithKey() {
  const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_authz' }) } })
  const foreign = () => stub.log.filter((call) => call.headers['x-portkey-api-key'] !== KEY).length
  return { stub, foreign }
}

describe.each(ADAPTERS)('%s: Authorization and the key service', (adapter) => {
  test('by default a Bearer (a Portkey key, a provider key, a JWT) is never read nor sent: 401, one warning', async () => {
    const { stub } = await stubWithKey()
    const warnings: string[] = []
    const app = await useGuardedApp(adapter, {
      controlPlaneUrl: stub.url,
      logger: { warn: (message: string) => warnings.push(message), info() {} },
    })
    const issuer = await createTestIssuer()
    const jwt = await issuer.sign({ sub: 'user_1', portkey_oid: 'org_1' })
    for (const token of [KEY, ...PROVIDER_KEYS, jwt]) {
      const res = await sendRaw(app.url, WHOAMI, { headers: { Authorization: `Bearer ${token}` } })
      expectRejection(res, 401, 'missing_api_key', [token])
    }
    expect(stub.calls()).toBe(0)
    expect(app.seen).toEqual([])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/bearer: true/)
    // x-portkey-api-key is what it always was; the Authorization beside it (a provider key) is left alone.
    const keyed = await sendRaw(app.url, WHOAMI, {
      headers: { 'x-portkey-api-key': KEY, Authorization: `Bearer ${PROVIDER_KEYS[0]}` },
    })
    expect(keyed.status).toBe(200)
    expect(stub.log.map((call) => call.headers['x-portkey-api-key'])).toEqual([KEY])
    expect(JSON.stringify(stub.log)).not.toContain(PROVIDER_KEYS[0])
  })

  test('with bearer: true, a provider key or an unverifiable JWT is refused 401 without a look-up', async () => {
    const { stub, foreign } = await stubWithKey()
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url, bearer: true })
    const issuer = await createTestIssuer()
    const jwt = await issuer.sign({ sub: 'user_1', portkey_oid: 'org_1' })
    for (const token of [...PROVIDER_KEYS, jwt]) {
      for (let i = 0; i < 2; i++) {
        const res = await sendRaw(app.url, WHOAMI, { headers: { Authorization: `Bearer ${token}` } })
        expectRejection(res, 401, 'missing_api_key', [token])
      }
    }
    expect(foreign()).toBe(0)
    expect(stub.calls()).toBe(0)
    // A Portkey key as a Bearer is what bearer: true is for.
    const admitted = await sendRaw(app.url, WHOAMI, { headers: { Authorization: `Bearer ${KEY}` } })
    expect(admitted.status).toBe(200)
    expect(app.seen.map(({ keyId }) => keyId)).toEqual(['key_authz'])
  })

  test('with bearer: true, a repeated Authorization is a 400 whatever its lines, with no look-up', async () => {
    const { stub } = await stubWithKey()
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url, bearer: true })
    for (const [first, second] of [
      [KEY, 'pk-someone-else-0123456789'],
      ['pk-someone-else-0123456789', KEY],
      [KEY, KEY],
    ]) {
      const res = await sendRaw(app.url, WHOAMI, {
        headers: { Authorization: `Bearer ${first}\r\nauthorization: Bearer ${second}` },
      })
      expectRejection(res, 400, 'invalid_request', [first!, second!])
    }
    expect(stub.calls()).toBe(0)
    expect(app.seen).toEqual([])
    // Beside x-portkey-api-key, Authorization lines are a provider's, not the credential: not this check's business.
    const keyed = await sendRaw(app.url, WHOAMI, {
      headers: { 'x-portkey-api-key': KEY, Authorization: `Bearer ${PROVIDER_KEYS[0]}\r\nAuthorization: Bearer x` },
    })
    expect(keyed.status).toBe(200)
  })
})
