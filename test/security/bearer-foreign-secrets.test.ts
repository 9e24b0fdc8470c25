import { describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { ADAPTERS } from '../support/adapters.js'
import { sendRaw } from '../support/raw-socket.js'
import { useGuardedApp, useStub, WHOAMI } from '../support/servers.js'

// Attack (hole 4): with bearer: true, "provider keys and JWTs when JWTs aren't configured are never looked
// up". The deny-list of prefixes and the 3-part JWS shape miss common secrets a client puts in
// Authorization: a compact JWE (a JWT per RFC 7519 §3: NextAuth/Auth.js session tokens are JWEs), provider
// keys whose prefix is not listed (Fireworks fw_, Cerebras csk-, GitHub ghp_, Google OAuth ya29.), a JWS
// with base64 padding. Each is sent to the key service as if it were a Portkey key.

const KEY = 'pk-bearer-0123456789abcdef'
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
const FOREIGN = {
  // alg dir + A256GCM: 5 parts, the second (encrypted key) empty.
  jwe: `${b64({ alg: 'dir', enc: 'A256GCM' })}..${'a'.repeat(16)}.${'b'.repeat(40)}.${'c'.repeat(22)}`,
  jwsPadded: `${Buffer.from(JSON.stringify({ alg: 'RS256' })).toString('base64')}.${Buffer.from(JSON.stringify({ sub: 'u' })).toString('base64')}.sig`,
  fireworks: 'fw_3ZabcdefghijklmnopqrstUV',
  cerebras: 'csk-abcdefghijklmnopqrstuvwxyz012345',
  github: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  googleOauth: 'ya29.a0AfH6SMBabcdefghijklmnop',
}

describe.each(ADAPTERS)('%s: bearer: true and secrets that are not Portkey keys', (adapter) => {
  test.each(Object.entries(FOREIGN))('%s is never sent to the key service', async (_name, token) => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_bearer' }) } })
    const app = await useGuardedApp(adapter, { controlPlaneUrl: stub.url, bearer: true })
    const res = await sendRaw(app.url, WHOAMI, { headers: { Authorization: `Bearer ${token}` } })
    expect(res.status).toBe(401)
    const leaked = stub.log.filter((call) => call.headers['x-portkey-api-key'] === token).length
    expect(leaked).toBe(0)
  })
})
