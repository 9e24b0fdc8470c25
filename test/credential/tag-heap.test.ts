import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  type ControlPlaneStub,
  createTestIssuer,
  KEY_DETAILS_PATH,
  keyRecord,
  startControlPlaneStub,
} from '../../src/testing/index.js'

// No raw credential is retained: an app that admitted an API key and a JWT (both cached now) holds neither, as
// a string anywhere on its heap, once the requests are done. The cache keys them by tag, the Redis tier by
// fingerprint; a cache keyed by the credential itself (or an entry that kept it) fails this test.

const SNAPSHOT = join(tmpdir(), `portkey-auth-heap-${process.pid}.heapsnapshot`)
let stub: ControlPlaneStub
let child: ChildProcess
let port: number
// Made here, at random, so that no source file holds them: the child sees them only in requests.
const apiKey = `pk-heap-${crypto.randomUUID()}`
let token: string

beforeAll(async () => {
  const issuer = await createTestIssuer()
  stub = await startControlPlaneStub({ jwks: issuer.jwks })
  stub.keys.set(apiKey, keyRecord({ id: 'key_heap' }))
  token = await issuer.sign({ portkey_oid: 'org_heap', portkey_workspace: 'ws_heap', jti: crypto.randomUUID() })
  const env = {
    ...process.env,
    CONTROL_PLANE_URL: stub.url,
    JWKS_URL: stub.jwksUrl,
    PORTKEY_JWT_ISSUER: issuer.issuer,
    PORTKEY_JWT_AUDIENCE: issuer.audience,
    SNAPSHOT_FILE: SNAPSHOT,
  }
  child = fork(new URL('../fixtures/heap-instance.mjs', import.meta.url), { env, stdio: 'ignore' })
  ;[{ port }] = (await once(child, 'message')) as [{ port: number }]
})

afterAll(async () => {
  child?.kill()
  await stub?.close()
  await rm(SNAPSHOT, { force: true })
})

describe('a raw credential on the heap', () => {
  test('after requests with an API key and a JWT, both cached, the heap holds neither', async () => {
    for (const credential of [apiKey, token]) {
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/ping`, {
          headers: { 'x-portkey-api-key': credential, connection: 'close' },
        })
        expect(response.status).toBe(200)
        await response.text()
      }
    }
    // Both were looked up (or verified) once, then served from the cache.
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)

    child.send({ op: 'snapshot' })
    const [{ file }] = (await once(child, 'message')) as [{ file: string }]
    const heap = await readFile(file, 'utf8')
    // The snapshot is what the test reads: it names the app's own strings (a sanity check that it is whole).
    expect(heap).toContain('key_heap')
    expect(heap).not.toContain(apiKey)
    expect(heap).not.toContain(token)
    // Nor the signature part of the token, the part that makes it a secret.
    expect(heap).not.toContain(token.split('.')[2])
  })
})
