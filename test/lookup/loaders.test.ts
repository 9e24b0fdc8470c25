import { describe, expect, test } from 'vitest'
import { fingerprint } from '../../src/credential/header.js'
import { credentialTag } from '../../src/credential/tag.js'
import { ControlPlaneError } from '../../src/errors.js'
import type { SharedTier } from '../../src/fleet/shared-tier.js'
import { LookupGuard } from '../../src/lookup/guard.js'
import { credentialAlias, credentialLoader } from '../../src/lookup/loaders.js'
import { keyRecord } from '../../src/testing/records.js'
import type { Decision, IncomingHeaders, VirtualKeyLookup } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { countingLookup, expectAuthError, withKey } from '../support/core-helpers.js'

const KEY = 'pk-live-loaders-0001'
const SLUG = 'openai-prod'
const RECORD = keyRecord({ id: 'key_l1', organisation_id: 'org_l', workspace_id: 'ws_l' })
const GARBLED = { organisation_id: 'org_l', scopes: [] }

/** A verifier whose breaker opens at the second failure in a row, with its decisions and log lines. */
function setup(lookup: Parameters<typeof createVerifier>[0]) {
  const decisions: Decision[] = []
  const lines: string[] = []
  const logger = { info: () => {}, warn: (line: string) => void lines.push(line) }
  const verifier = createVerifier({
    ...lookup,
    logger,
    breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    onDecision: (decision) => decisions.push(decision),
  })
  return { verifier, decisions, lines }
}

// A look-up that answers something that is no record: the key service answered, but not usably. An outage like a
// 5xx (503, counted, towards the breaker, never cached, never retried), named by what was wrong, not as a type bug.
describe('a garbled answer is a ControlPlaneError', () => {
  test('of the key look-up', async () => {
    const fake = countingLookup(() => GARBLED)
    const { verifier, decisions, lines } = setup({ lookup: fake.lookup })

    const error = await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(error.cause).toBeInstanceOf(ControlPlaneError)
    expect((error.cause as Error).message).toBe('key service answered with no key record')
    expect(decisions.map((decision) => decision.cause)).toEqual(['key service answered with no key record'])
    expect(lines[0]).toContain('failed (key service answered with no key record): answered 503 with Retry-After')
    expect(fake.count).toBe(1)
    expect(verifier.stats()).toMatchObject({ failures: 1, entries: 0, guard: { retries: 0, breaker: 'closed' } })

    await expectAuthError(() => verifier.verify(withKey(KEY)), 'auth_unavailable', 503)
    expect(verifier.stats()).toMatchObject({ failures: 2, guard: { breaker: 'open' } })
  })

  test('of the virtual-key look-up', async () => {
    const lookupVirtualKey: VirtualKeyLookup = async () => GARBLED as never
    const { verifier, decisions } = setup({ lookup: async () => RECORD, lookupVirtualKey })
    const headers: IncomingHeaders = { ...withKey(KEY), 'x-portkey-virtual-key': SLUG }

    const error = await expectAuthError(() => verifier.verify(headers), 'auth_unavailable', 503)
    expect(error.cause).toBeInstanceOf(ControlPlaneError)
    expect((error.cause as Error).message).toBe('key service answered with no virtual key record')
    expect(decisions.map((decision) => decision.cause)).toEqual(['key service answered with no virtual key record'])
    expect(verifier.stats()).toMatchObject({ virtualKeys: { failures: 1, entries: 0 }, guard: { retries: 0 } })

    await expectAuthError(() => verifier.verify(headers), 'auth_unavailable', 503)
    expect(verifier.stats().guard.breaker).toBe('open')
  })
})

describe('attack: what an entry keeps of its credential (issue 26: the LRU keyed by tag, Redis by fingerprint)', () => {
  const guard = new LookupGuard({
    target: 'the custom lookup',
    timeoutMs: 1_000,
    maxPendingLookups: 8,
    failureThreshold: 3,
    cooldownMs: 1_000,
    logger: { info() {}, warn() {} },
  })
  const lifetimes = { ttlMs: 1_000, staleMs: 1_000, negativeTtlMs: 1_000 }

  test.each([
    ['a known key', RECORD],
    ['an unknown key', null],
  ])(
    'with Redis, %s: Redis is asked by the fingerprint, the cache names the entry by it, never by the key',
    async (_name, record) => {
      const names: string[] = []
      const tier = { resolve: async (name: string, fetch: () => Promise<unknown>) => (names.push(name), fetch()) }
      const load = credentialLoader(async () => record, null, { guard, lifetimes, tier: tier as unknown as SharedTier })
      const entry = await load(credentialTag(KEY), KEY)
      expect(names).toEqual([`k:${fingerprint(KEY)}`])
      // The cache stores the entry under the tag with this alias (create-verifier.ts gives it with Redis).
      expect(credentialAlias(credentialTag(KEY), KEY)).toBe(fingerprint(KEY))
      expect(entry.negative).toBe(record === null ? true : undefined)
      const kept = JSON.stringify(entry)
      expect(kept).not.toContain(KEY)
      expect(kept).not.toContain(JSON.stringify(credentialTag(KEY)).slice(1, -1))
    },
  )

  test('a credential whose tag is its fingerprint (a JWT; any key on the edge) needs no alias', () => {
    const long = `${KEY}.${'x'.repeat(200)}`
    expect(credentialTag(long)).toBe(fingerprint(long))
    expect(credentialAlias(credentialTag(long), long)).toBeUndefined()
    expect(credentialAlias(fingerprint(KEY), KEY)).toBeUndefined()
  })

  test('without Redis, no alias (no other instance revokes), and the key is nowhere in the entry', async () => {
    const load = credentialLoader(async () => RECORD, null, { guard, lifetimes, tier: null })
    const entry = await load(credentialTag(KEY), KEY)
    expect(entry).not.toHaveProperty('alias')
    expect(JSON.stringify(entry)).not.toContain(KEY)
  })
})
