import { describe, expect, test } from 'vitest'
import { ControlPlaneError } from '../../src/errors.js'
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
