import type { ServerResponse } from 'node:http'
import { describe, expect, test } from 'vitest'
import { KEY_DETAILS_PATH, MAX_CONTROL_PLANE_BODY_BYTES, VIRTUAL_KEYS_PATH } from '../../src/lookup/control-plane.js'
import type { KeyRecord, VirtualKeyRecord } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { countingLookup, expectAuthError, startRawServer } from '../support/core-helpers.js'
import { closeAfterTest, expectRejection, send, sendKey, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'

const LIVE = 'pk-live-0123456789abcdef'
const MiB = 1024 * 1024

type Framing = 'content-length' | 'chunked'

/** A valid, active record as JSON of exactly `bytes` bytes (padded in its name): admitted if it were read. */
function recordOfSize(bytes: number): string {
  const record = keyRecord({ id: 'key_padded' })
  const base = Buffer.byteLength(JSON.stringify({ ...record, name: '' }))
  return JSON.stringify({ ...record, name: 'x'.repeat(bytes - base) })
}

function answer(res: ServerResponse, body: string, framing: Framing): void {
  if (framing === 'content-length') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  const bytes = Buffer.from(body)
  for (let at = 0; at < bytes.length; at += 64 * 1024) res.write(bytes.subarray(at, at + 64 * 1024))
  res.end()
}

/** A control plane that answers every key-details call 200 with `hostile.body`, framed as `hostile.framing`. */
async function useHostileControlPlane(body: string, framing: Framing) {
  const hostile = { body, framing, calls: 0 }
  const running = await startRawServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://cp').pathname !== KEY_DETAILS_PATH) return void res.writeHead(404).end()
    hostile.calls++
    answer(res, hostile.body, hostile.framing)
  })
  closeAfterTest(running)
  return Object.assign(hostile, { url: running.url })
}

// Issue 11, item 9: a control-plane answer is read up to MAX_CONTROL_PLANE_BODY_BYTES; past that, an outage.
describe.each(ADAPTERS)('%s: an oversized control-plane answer', (framework: AdapterName) => {
  test.each<[Framing]>([['content-length'], ['chunked']])(
    'a 2 MB record sent with %s framing → 503 auth_unavailable, counted as a failure, not cached',
    async (framing) => {
      const controlPlane = await useHostileControlPlane(recordOfSize(2 * MiB), framing)
      const verifier = createVerifier({ controlPlaneUrl: controlPlane.url })
      const app = await useGuardedApp(framework, verifier)

      const res = await sendKey(app, LIVE)
      expectRejection(res, 503, 'auth_unavailable', [LIVE])
      expect(res.headers['retry-after']).toMatch(/^\d+$/)
      expect(app.seen).toHaveLength(0)
      expect(controlPlane.calls).toBe(1)
      expect(verifier.stats()).toMatchObject({ lookups: 1, failures: 1, entries: 0 })

      // Nothing was kept as "unknown key": once the control plane answers sanely, the key works.
      controlPlane.body = recordOfSize(1024)
      const next = await sendKey(app, LIVE)
      expect(next.status).toBe(200)
      expect(next.json()).toMatchObject({ portkey: { keyId: 'key_padded' } })
      expect(controlPlane.calls).toBe(2)
    },
  )

  test.each<[Framing]>([['content-length'], ['chunked']])(
    'a record just under the cap, sent with %s framing, is admitted',
    async (framing) => {
      const controlPlane = await useHostileControlPlane(recordOfSize(MAX_CONTROL_PLANE_BODY_BYTES - 64), framing)
      const verifier = createVerifier({ controlPlaneUrl: controlPlane.url })
      const app = await useGuardedApp(framework, verifier)
      const res = await sendKey(app, LIVE)
      expect(res.status).toBe(200)
      expect(app.seen.map((auth) => auth.keyId)).toEqual(['key_padded'])
      expect(verifier.stats()).toMatchObject({ lookups: 1, failures: 0 })
    },
  )
})

// Issue 11, item 10: every field the context exposes is type-checked; a record that fails is an outage.
const ODD_KEY_RECORDS: [string, Record<string, unknown>][] = [
  ['id a number', { id: 42 }],
  ['id empty', { id: '' }],
  ['organisation_id an object', { organisation_id: { id: 'org_test' } }],
  ['organisation_id empty', { organisation_id: '' }],
  ['workspace_id an object', { workspace_id: { id: 'ws_test' } }],
  ['workspace_id an object with a toString field', { workspace_id: { toString: 'ws_test' } }],
  ['workspace_id a number', { workspace_id: 7 }],
  ['workspace_id an array', { workspace_id: ['ws_test'] }],
  ['user_id a number', { user_id: 42 }],
  ['user_id an object', { user_id: { email: 'a@b.c' } }],
  ['type a number', { type: 1 }],
  ['name an object', { name: { first: 'x' } }],
  ['status null', { status: null }],
  ['status a number', { status: 1 }],
  ['status true', { status: true }],
  ['scopes a string', { scopes: 'completions.write' }],
  ['scopes with a number', { scopes: ['completions.write', 7] }],
  ['defaults a string', { defaults: 'pc-1' }],
  ['defaults an array', { defaults: [] }],
  ['defaults.config_id a number', { defaults: { config_id: 5, metadata: {} } }],
  ['defaults.config_id an object', { defaults: { config_id: { id: 'pc-1' }, metadata: {} } }],
  ['defaults.metadata a string', { defaults: { config_id: null, metadata: 'team=search' } }],
  ['defaults.metadata an array', { defaults: { config_id: null, metadata: ['team'] } }],
  ['rate_limits an object', { rate_limits: { type: 'requests', unit: 'rpm', value: 1 } }],
  ['rate_limits a string', { rate_limits: 'rpm' }],
  ['usage_limits a string', { usage_limits: 'lots' }],
  ['usage_limits an array', { usage_limits: [{ credit_limit: 1 }] }],
  ['expires_at a number', { expires_at: 4_102_444_800 }],
  ['expires_at an object', { expires_at: { date: '2100-01-01' } }],
  ['expires_at unparseable', { expires_at: 'next tuesday' }],
]

const ODD_VIRTUAL_KEY_RECORDS: [string, Record<string, unknown>][] = [
  ['slug a number', { slug: 5 }],
  ['slug empty', { slug: '' }],
  ['ai_provider_name null', { ai_provider_name: null }],
  ['ai_provider_name an object', { ai_provider_name: { name: 'openai' } }],
  ['status null', { status: null }],
  ['status a number', { status: 1 }],
  ['workspace_id an object', { workspace_id: { id: 'ws_test' } }],
  ['workspace_id a number', { workspace_id: 7 }],
  ['expires_at a number', { expires_at: 4_102_444_800 }],
  ['expires_at unparseable', { expires_at: 'soon' }],
  ['usage_limits a string', { usage_limits: 'lots' }],
  ['usage_limits an array', { usage_limits: [] }],
  ['rate_limits an object', { rate_limits: { type: 'requests' } }],
  ['rate_limits a string', { rate_limits: 'rpm' }],
]

describe.each(ADAPTERS)('%s: a key record with a field of the wrong type', (framework: AdapterName) => {
  test.each(ODD_KEY_RECORDS)('%s → 503 auth_unavailable, the handler is not reached, nothing cached', async (_name, fields) => {
    const stub = await useStub({
      keys: { [LIVE]: { ...keyRecord(), ...fields } as KeyRecord },
      virtualKeys: { 'openai-prod': virtualKeyRecord({ slug: 'openai-prod' }) },
    })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const app = await useGuardedApp(framework, verifier)

    expectRejection(await sendKey(app, LIVE), 503, 'auth_unavailable', [LIVE])
    // With a virtual key too: an odd workspace_id must not reach the virtual-key step (it threw a TypeError there).
    expectRejection(
      await send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'openai-prod' }),
      503,
      'auth_unavailable',
      [LIVE],
    )
    expect(app.seen).toHaveLength(0)
    // Each request asked again: the odd answer was kept neither as a key nor as "unknown key".
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
    expect(stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH))).toHaveLength(0)
    expect(verifier.stats()).toMatchObject({ failures: 2, entries: 0 })
  })
})

describe.each(ADAPTERS)('%s: a virtual-key record with a field of the wrong type', (framework: AdapterName) => {
  test.each(ODD_VIRTUAL_KEY_RECORDS)(
    '%s → 503 auth_unavailable, the handler is not reached, nothing cached',
    async (_name, fields) => {
      const odd = { ...virtualKeyRecord({ slug: 'openai-prod' }), ...fields } as VirtualKeyRecord
      const stub = await useStub({
        keys: { [LIVE]: keyRecord({ workspace_id: 'ws_test' }) },
        virtualKeys: { 'openai-prod': odd },
      })
      const verifier = createVerifier({ controlPlaneUrl: stub.url })
      const app = await useGuardedApp(framework, verifier)
      const call = () => send(app.url + WHOAMI, { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'openai-prod' })

      expectRejection(await call(), 503, 'auth_unavailable', [LIVE])
      expectRejection(await call(), 503, 'auth_unavailable', [LIVE])
      expect(app.seen).toHaveLength(0)
      expect(stub.calls(`${VIRTUAL_KEYS_PATH}openai-prod`)).toBe(2)
      expect(verifier.stats().virtualKeys).toMatchObject({ failures: 2, entries: 0 })
      // The key itself is fine: without the virtual key it is admitted.
      expect((await sendKey(app, LIVE)).status).toBe(200)
    },
  )
})

describe('a custom lookup answering an odd record', () => {
  test.each([...ODD_KEY_RECORDS.slice(4, 14)])(
    'key record with %s → 503 auth_unavailable, asked again next time',
    async (_name, fields) => {
      const counting = countingLookup(() => ({ ...keyRecord(), ...fields }))
      const verifier = createVerifier({ lookup: counting.lookup })
      const error = await expectAuthError(() => verifier.verify({ 'x-portkey-api-key': LIVE }), 'auth_unavailable', 503)
      expect(error.headers['retry-after']).toMatch(/^\d+$/)
      await expectAuthError(() => verifier.verify({ 'x-portkey-api-key': LIVE }), 'auth_unavailable', 503)
      expect(counting.count).toBe(2)
    },
  )

  test.each([...ODD_VIRTUAL_KEY_RECORDS.slice(4, 8)])(
    'virtual-key record with %s → 503 auth_unavailable',
    async (_name, fields) => {
      let asked = 0
      const verifier = createVerifier({
        lookup: async () => keyRecord({ workspace_id: 'ws_test' }),
        lookupVirtualKey: async (slug) => (asked++, { ...virtualKeyRecord({ slug }), ...fields } as VirtualKeyRecord),
      })
      const headers = { 'x-portkey-api-key': LIVE, 'x-portkey-virtual-key': 'openai-prod' }
      await expectAuthError(() => verifier.verify(headers), 'auth_unavailable', 503)
      await expectAuthError(() => verifier.verify(headers), 'auth_unavailable', 503)
      expect(asked).toBe(2)
    },
  )
})
