import { LRUCache } from 'lru-cache'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { type Entry, RefreshingCache } from '../../src/cache/refreshing-cache.js'
import { fingerprint } from '../../src/credential/header.js'
import { credentialTag } from '../../src/credential/tag.js'
import type { VirtualKeyRequest } from '../../src/lookup/loaders.js'
import type { Outcome } from '../../src/records.js'
import type { PortkeyAuth, VirtualKey } from '../../src/types.js'
import { revocations } from '../../src/verifier/revoke.js'
import { type Deferred, deferred } from '../support/core-helpers.js'

// Attack on issue 26's revocation by fingerprint (src/verifier/revoke.ts): another instance names a credential by
// its fingerprint, this cache keys it by its tag (SipHash on Node), so the message is matched against every
// entry's alias. What that costs every instance of the fleet, per revoked credential, is what these tests pin.

type Auth = Outcome<PortkeyAuth>
const auth = (keyId: string) => ({ value: { keyId } }) as unknown as Auth

afterEach(() => {
  vi.restoreAllMocks()
})

function fleetInstance() {
  const holds = new Map<string, Deferred<void>>()
  const loads: string[] = []
  // As the loader with Redis: the entry goes by the credential's fingerprint too.
  const keys = new RefreshingCache<Auth, string>(1_000, async (_tag, credential): Promise<Entry<Auth>> => {
    loads.push(credential)
    await holds.get(credential)?.promise
    const now = Date.now()
    return {
      value: auth(`key_${credential}`),
      freshUntil: now + 60_000,
      staleUntil: now + 60_000,
      alias: fingerprint(credential),
    }
  })
  const virtualKeys = new RefreshingCache<Outcome<VirtualKey>, VirtualKeyRequest>(10, async () => {
    throw new Error('not used')
  })
  const hold = (credential: string) => {
    const gate = deferred<void>()
    holds.set(credential, gate)
    return gate
  }
  return { keys, loads, hold, revoke: revocations({ keys, virtualKeys, tier: null }) }
}

describe("another instance's revocation (a message naming a fingerprint)", () => {
  test('drops the entry of that credential, and only it', async () => {
    const { keys, revoke } = fleetInstance()
    for (const credential of ['pk-a', 'pk-b']) await keys.get(credentialTag(credential), credential)
    revoke.onMessage({ hash: fingerprint('pk-a') })
    expect(keys.serve(credentialTag('pk-a'), 'pk-a')).toBeUndefined()
    expect(keys.serve(credentialTag('pk-b'), 'pk-b')).toEqual(auth('key_pk-b'))
  })

  // Known cost, not fixed (see the report of the attack on issue 26): before the SipHash tag, the message was
  // keys.invalidate(hash), one key. Now every instance reads every entry for each revoked credential (about
  // 100 ms for 100,000 cached keys on a laptop-class core), which a burst of revocations (a bulk rotation, an
  // endpoint that lets users revoke their own key) turns into seconds of blocked event loop on every instance.
  test.fails('is a keyed delete: it does not read through the whole cache', async () => {
    const { keys, revoke } = fleetInstance()
    for (let i = 0; i < 100; i++) await keys.get(credentialTag(`pk-${i}`), `pk-${i}`)
    const scans = vi.spyOn(LRUCache.prototype, 'entries')
    revoke.onMessage({ hash: fingerprint('pk-7') })
    expect(keys.serve(credentialTag('pk-7'), 'pk-7')).toBeUndefined()
    expect(scans).not.toHaveBeenCalled()
  })

  // Known cost, not fixed: the message cannot tell which look-up under way is the revoked credential's (its tag is
  // not its fingerprint), so it drops them all, on every instance; before, only that credential's. While revocations
  // keep arriving faster than a look-up answers, no answer is ever cached: every request goes to the key service.
  test.fails("lets another credential's look-up under way write its answer back", async () => {
    const { keys, loads, hold, revoke } = fleetInstance()
    const gate = hold('pk-other')
    const pending = keys.get(credentialTag('pk-other'), 'pk-other')
    revoke.onMessage({ hash: fingerprint('pk-revoked') })
    gate.resolve()
    expect(await pending).toEqual(auth('key_pk-other'))
    expect(keys.serve(credentialTag('pk-other'), 'pk-other')).toEqual(auth('key_pk-other'))
    expect(loads).toEqual(['pk-other'])
  })

  test("the revoked credential's own look-up under way does not write back (whatever the cost above)", async () => {
    const { keys, loads, hold, revoke } = fleetInstance()
    const gate = hold('pk-revoked')
    const pending = keys.get(credentialTag('pk-revoked'), 'pk-revoked')
    revoke.onMessage({ hash: fingerprint('pk-revoked') })
    gate.resolve()
    await pending
    expect(keys.serve(credentialTag('pk-revoked'), 'pk-revoked')).toBeUndefined()
    expect(loads).toEqual(['pk-revoked'])
  })
})
