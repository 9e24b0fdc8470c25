import { describe, expect, test } from 'vitest'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { keyRecord, VIRTUAL_KEYS_PATH, virtualKeyRecord } from '../../src/testing/index.js'
import { expectRejection, send, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'

// Two keys of one workspace with different access to one virtual key: the control plane answers the
// look-up made with each caller's credential, so the answer must never be reused for the other.
const ALLOWED = 'pk-allowed-0123456789abcdef'
const ROTATED = 'pk-allowed-rotated-0123456789abcdef'
const REFUSED = 'pk-refused-0123456789abcdef'
const SLUG = 'openai-team-a'

async function setup() {
  const stub = await useStub({
    keys: {
      [ALLOWED]: keyRecord({ id: 'key_allowed', workspace_id: 'ws_shared' }),
      // The same key after rotation: a second secret, the same key id.
      [ROTATED]: keyRecord({ id: 'key_allowed', workspace_id: 'ws_shared' }),
      [REFUSED]: keyRecord({ id: 'key_refused', workspace_id: 'ws_shared' }),
    },
    virtualKeys: { [SLUG]: virtualKeyRecord({ slug: SLUG, workspace_id: 'ws_shared' }) },
    virtualKeyAccess: (_slug, callerKeyId) => callerKeyId === 'key_allowed',
  })
  const vkCalls = () => stub.calls(VIRTUAL_KEYS_PATH + SLUG)
  return { stub, vkCalls }
}

describe.each(ADAPTERS)('%s: one caller’s virtual-key answer never decides for another', (framework) => {
  test('the refused caller asks first: the allowed caller is still admitted', async () => {
    const { stub, vkCalls } = await setup()
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    const call = (key: string) => send(app.url + WHOAMI, { 'x-portkey-api-key': key, 'x-portkey-virtual-key': SLUG })

    expectRejection(await call(REFUSED), 403, 'virtual_key_not_allowed')
    const allowed = await call(ALLOWED)
    expect(allowed.status).toBe(200)
    expect(allowed.json()).toMatchObject({ portkey: { keyId: 'key_allowed', virtualKey: { slug: SLUG } } })
    expect(vkCalls()).toBe(2)
  })

  test('the allowed caller asks first: the refused caller is still refused', async () => {
    const { stub, vkCalls } = await setup()
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    const call = (key: string) => send(app.url + WHOAMI, { 'x-portkey-api-key': key, 'x-portkey-virtual-key': SLUG })

    expect((await call(ALLOWED)).status).toBe(200)
    expectRejection(await call(REFUSED), 403, 'virtual_key_not_allowed')
    expect(app.seen.map((auth) => auth.keyId)).toEqual(['key_allowed'])
    expect(vkCalls()).toBe(2)
  })

  test('still one look-up per key and virtual key: repeats and a rotated secret of the same key share it', async () => {
    const { stub, vkCalls } = await setup()
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    const call = (key: string) => send(app.url + WHOAMI, { 'x-portkey-api-key': key, 'x-portkey-virtual-key': SLUG })

    for (const key of [ALLOWED, ALLOWED, ROTATED, ROTATED]) expect((await call(key)).status).toBe(200)
    for (const key of [REFUSED, REFUSED]) expectRejection(await call(key), 403, 'virtual_key_not_allowed')
    expect(vkCalls()).toBe(2)
  })
})

test('concurrent first requests of both callers: each gets its own answer', async () => {
  const { stub, vkCalls } = await setup()
  stub.delayMs = 30
  const verifier = createVerifier({ controlPlaneUrl: stub.url })
  const verify = (key: string) =>
    verifier.verify({ 'x-portkey-api-key': key, 'x-portkey-virtual-key': SLUG }).then(
      (auth) => auth.keyId,
      (error: { code: string }) => error.code,
    )
  const answers = await Promise.all([verify(REFUSED), verify(ALLOWED), verify(REFUSED), verify(ALLOWED)])
  expect(answers).toEqual(['virtual_key_not_allowed', 'key_allowed', 'virtual_key_not_allowed', 'key_allowed'])
  expect(vkCalls()).toBe(2)
})
