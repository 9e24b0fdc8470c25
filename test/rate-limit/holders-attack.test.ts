import { describe, expect, test } from 'vitest'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import type { CheckStatus } from '../../src/types.js'

// Second attack on reading and resetting a caller's standing (issue 27, point 6), one instance.

const KEY = 'pk-holder-0123456789abcdef'
const ORG_KEY = 'pk-holder-org-0123456789abcdef'

function verifier(): Verifier {
  return createVerifier({
    lookup: async (key) =>
      key === KEY
        ? keyRecord({ id: 'key_h', organisation_id: 'org_h', rate_limits: [{ type: 'requests', unit: 'rpd', value: 5 }] })
        : key === ORG_KEY
          ? keyRecord({ id: 'key_org', organisation_id: 'org_h', workspace_id: null as never })
          : null,
    lookupVirtualKey: async (slug) => virtualKeyRecord({ slug, rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }] }),
    logger: false,
  })
}

async function one(v: Verifier, key: string, virtualKey?: string) {
  const status: CheckStatus = { cache: 'none' }
  const headers: Record<string, string> = { 'x-portkey-api-key': key }
  if (virtualKey !== undefined) headers['x-portkey-virtual-key'] = virtualKey
  try {
    const auth = await v.verify(headers, undefined, status)
    return { ok: true, workspaceId: auth.workspaceId }
  } catch (error) {
    return { ok: false, error: (error as Error).message }
  }
}

describe('holders', () => {
  test('HELD: ids that look like another kind or organisation never alias (JSON arrays, kind first)', async () => {
    const v = verifier()
    for (let i = 0; i < 5; i++) expect((await one(v, KEY)).ok).toBe(true)
    expect((await one(v, KEY)).ok).toBe(false)
    const holders = [
      { organisationId: 'org_h', keyId: 'key_h"' },
      { organisationId: 'org_h","key_h', keyId: '' },
      { organisationId: '["key","org_h"', keyId: 'key_h' },
      { organisationId: 'org_h', issuer: 'key', user: 'key_h' },
      { organisationId: 'org_h', workspaceId: 'key_h' },
      { organisationId: 'org_h', issuer: '","org_h","key_h', user: 'x' },
    ]
    for (const holder of holders) {
      const standing = await v.rateLimitStanding(holder as never).catch((e: Error) => e)
      expect(standing instanceof TypeError || (Array.isArray(standing) && standing.length === 0)).toBe(true)
      await v.resetRateLimits(holder as never).catch(() => {})
    }
    // None of them reset key_h.
    expect((await one(v, KEY)).ok).toBe(false)
    // A prototype's fields are not own fields, but a holder is the app's own object: read as given.
    expect(await v.rateLimitStanding({ organisationId: 'org_h', keyId: 'key_h' })).toEqual([
      expect.objectContaining({ name: 'rpd', used: 5 }),
    ])
    await v.close()
  })

  // HELD: a virtual key is counted under `auth.workspaceId ?? ''` (src/rate-limit/subjects.ts:89), which no holder
  // can name (a holder's workspaceId is non-empty); but a caller with no workspace never gets a virtual key
  // (src/verifier/pipeline.ts:162), so no counter is ever out of reach.
  test('HELD: a caller without a workspace is refused a virtual key (nothing counted under workspace "")', async () => {
    const v = verifier()
    expect(await one(v, ORG_KEY, 'vk-h')).toMatchObject({ ok: false })
    await expect(v.rateLimitStanding({ organisationId: 'org_h', workspaceId: '', virtualKey: 'vk-h' })).rejects.toThrow(TypeError)
    await v.close()
  })
})

describe('with rateLimits: false', () => {
  test('a holder that could name no counters is refused as with limits on; a good one reads [] and resets nothing', async () => {
    const off = createVerifier({ lookup: async () => null, logger: false, rateLimits: false })
    for (const holder of [undefined, 'key_h', {}, { keyId: 'key_h' }, { organisationId: 'org_h', user: 'u' }]) {
      await expect(off.rateLimitStanding(holder as never)).rejects.toThrow(TypeError)
      await expect(off.resetRateLimits(holder as never)).rejects.toThrow(TypeError)
    }
    await expect(off.rateLimitStanding({ organisationId: 'org_h', keyId: 'key_h' })).resolves.toEqual([])
    await expect(off.resetRateLimits({ organisationId: 'org_h', keyId: 'key_h' })).resolves.toBeUndefined()
  })
})
