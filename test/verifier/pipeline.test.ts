import { describe, expect, test } from 'vitest'
import { keyRecord, virtualKeyRecord } from '../../src/testing/records.js'
import type { IncomingHeaders, KeyRecord, VirtualKeyLookup } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { countingLookup, expectAuthError, withKey } from '../support/core-helpers.js'

// The steps of src/verifier/pipeline.ts through createVerifier(), with fake look-ups: every step on the way, in
// their order, synchronously once everything is cached, and the steps after one that waited run once it is done.

const KEY = 'pk-live-pipeline-0001'
const SLUG = 'openai-prod'
const COMPLETIONS = { method: 'POST', path: '/v1/chat/completions' }
const LOGS = { method: 'GET', path: '/v1/logs' }
const limited = (fields: Partial<KeyRecord> = {}) =>
  keyRecord({
    id: 'key_p1',
    organisation_id: 'org_p',
    workspace_id: 'ws_p',
    scopes: ['completions.write'],
    rate_limits: [{ type: 'requests', unit: 'rpm', value: 1_000 }],
    ...fields,
  })
const withSlug: IncomingHeaders = { ...withKey(KEY), 'x-portkey-virtual-key': SLUG }

/** A verifier with the Portkey scope map, whose key and virtual-key look-ups are counted. */
function setup(record: KeyRecord = limited()) {
  const keys = countingLookup(() => record)
  const slugs: string[] = []
  const lookupVirtualKey: VirtualKeyLookup = async (slug) => {
    slugs.push(slug)
    return virtualKeyRecord({ slug, workspace_id: 'ws_p' })
  }
  const verifier = createVerifier({ lookup: keys.lookup, lookupVirtualKey, scopes: 'portkey', logger: false })
  return { verifier, keys, slugs }
}

describe('the pipeline', () => {
  test('a cold request waits for the key, then the virtual key, then the limits; once cached, no promise at all', async () => {
    const { verifier, keys, slugs } = setup()
    const first = verifier.check(withSlug, COMPLETIONS)
    expect(first).toBeInstanceOf(Promise)
    expect(await first).toMatchObject({ keyId: 'key_p1', virtualKey: { slug: SLUG } })

    for (let i = 0; i < 3; i++) {
      const cached = verifier.check(withSlug, COMPLETIONS)
      expect(cached).not.toBeInstanceOf(Promise)
      expect(cached).toMatchObject({ keyId: 'key_p1', virtualKey: { slug: SLUG } })
    }
    expect([keys.count, slugs.length]).toEqual([1, 1])
    expect(verifier.stats()).toMatchObject({ hits: 3, virtualKeys: { hits: 3 }, rateLimits: { tracked: 1 } })
  })

  test('a key past its expires_at is refused as expired before its scopes are read', async () => {
    const { verifier } = setup(limited({ expires_at: '2001-01-01T00:00:00Z' }))
    await expectAuthError(() => verifier.verify(withSlug, LOGS), 'expired_api_key', 401)
  })

  test('a route out of the scopes is refused before the virtual key is looked up and before the limits count', async () => {
    const { verifier, slugs } = setup(limited({ rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }] }))
    await expectAuthError(() => verifier.verify(withSlug, LOGS), 'insufficient_scope', 403)
    expect(() => verifier.check(withSlug, LOGS)).toThrow(expect.objectContaining({ code: 'insufficient_scope' }))
    expect(slugs).toEqual([])
    // The one request a minute is still there.
    await expect(verifier.verify(withSlug, COMPLETIONS)).resolves.toMatchObject({ virtualKey: { slug: SLUG } })
    await expectAuthError(() => verifier.verify(withSlug, COMPLETIONS), 'rate_limit_exceeded', 429)
  })

  test('a caller at its own limit naming a new virtual key is refused before that look-up', async () => {
    const { verifier, slugs } = setup(limited({ rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }] }))
    await verifier.verify(withKey(KEY), COMPLETIONS)
    await expectAuthError(() => verifier.verify(withSlug, COMPLETIONS), 'rate_limit_exceeded', 429)
    expect(slugs).toEqual([])
  })

  test('an organisation key naming a virtual key: refused with no look-up', async () => {
    const { verifier, slugs } = setup(limited({ workspace_id: null, type: 'organisation-service' }))
    await expectAuthError(() => verifier.verify(withSlug), 'virtual_key_not_allowed', 403)
    expect(slugs).toEqual([])
  })
})
