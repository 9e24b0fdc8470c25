import { describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { authenticate } from '../../src/web/index.js'
import { useStub } from '../support/servers.js'

// Attack (items 12, 13): authenticate(request, inline options) shares one verifier per settings key
// (src/web/settings-key.ts). The key writes primitives with JSON.stringify, which writes NaN, Infinity and
// -Infinity as "null", and sorts entries with the default (string) comparison.

const KEY = 'pk-settings-0123456789abcdef'
const request = () => new Request('http://localhost/v1/x', { headers: { 'x-portkey-api-key': KEY } })

describe('web: authenticate() settings key', () => {
  test('an out-of-range option (NaN, Infinity) is a TypeError even after the same options with null were seen', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_settings' }) } })
    // Alone, each is refused at once (every numeric option bounded).
    expect(() => authenticate(request(), { controlPlaneUrl: stub.url, timeoutMs: Number.POSITIVE_INFINITY })).toThrow(TypeError)
    // null means "the default": accepted.
    expect((await authenticate(request(), { controlPlaneUrl: stub.url, timeoutMs: null as never })).portkey).toBeDefined()
    // Now NaN and Infinity share its verifier: no TypeError, silently the default.
    expect(() => authenticate(request(), { controlPlaneUrl: stub.url, timeoutMs: Number.POSITIVE_INFINITY })).toThrow(TypeError)
    expect(() => authenticate(request(), { controlPlaneUrl: stub.url, cache: { ttlMs: Number.NaN } })).toThrow(TypeError)
  })

  test('options holding a null-prototype object (accepted by createVerifier) do not crash the settings key', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_settings' }) } })
    const cache = Object.assign(Object.create(null) as object, { ttlMs: 1_000 })
    // Two or more entries: Array#sort stringifies ["cache", <null-prototype object>] and throws.
    const result = await authenticate(request(), { controlPlaneUrl: stub.url, cache })
    expect(result.portkey?.keyId).toBe('key_settings')
  })

  test('an options object changed after its first use is not checked with its new settings', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_settings', scopes: [] }) } })
    const scopes = { 'GET /v1/x': 'completions.write' }
    // Control: the same settings in a fresh object are refused 403.
    expect((await authenticate(request(), { controlPlaneUrl: stub.url, scopes })).response?.status).toBe(403)
    const options: Record<string, unknown> = { controlPlaneUrl: stub.url }
    expect((await authenticate(request(), options)).portkey).toBeDefined()
    // The app tightens its options (a config reload mutating the shared object): a scope map now guards /v1/x.
    options.scopes = scopes
    const after = await authenticate(request(), options)
    expect(after.response?.status).toBe(403)
  })
})
