import { LRUCache } from 'lru-cache'
import { afterEach, describe, expect, test, vi } from 'vitest'
import type { Entry } from '../../src/cache/refreshing-cache.js'
import { fingerprint } from '../../src/credential/header.js'
import { credentialTag } from '../../src/credential/tag.js'
import { credentialAlias, type VirtualKeyRequest } from '../../src/lookup/loaders.js'
import type { Outcome } from '../../src/records.js'
import type { PortkeyAuth, VirtualKey } from '../../src/types.js'
import { revocations } from '../../src/verifier/revoke.js'
import { type Deferred, deferred, ReadThroughCache } from '../support/core-helpers.js'

// Attack on issue 26's revocation by fingerprint (src/verifier/revoke.ts): another instance names a credential by
// its fingerprint, this cache keys it by its tag (SipHash on Node), and finds the one by the other through the
// cache's alias index (credentialAlias, as create-verifier.ts gives it with Redis). A message costs every instance
// of the fleet one keyed delete and the revoked credential's look-up, nothing else.

type Auth = Outcome<PortkeyAuth>
const auth = (keyId: string) => ({ value: { keyId } }) as unknown as Auth

afterEach(() => {
  vi.restoreAllMocks()
})

function fleetInstance() {
  const holds = new Map<string, Deferred<void>>()
  const loads: string[] = []
  // As with Redis: the entry goes by the credential's fingerprint too.
  const keys = new ReadThroughCache<Auth, string>(
    1_000,
    async (_tag, credential): Promise<Entry<Auth>> => {
      loads.push(credential)
      await holds.get(credential)?.promise
      const now = Date.now()
      return { value: auth(`key_${credential}`), freshUntil: now + 60_000, staleUntil: now + 60_000 }
    },
    credentialAlias,
  )
  const virtualKeys = new ReadThroughCache<Outcome<VirtualKey>, VirtualKeyRequest>(10, async () => {
    throw new Error('not used')
  })
  const hold = (credential: string) => {
    const gate = deferred<void>()
    holds.set(credential, gate)
    return gate
  }
  return { keys, loads, hold, revoke: revocations({ keys, virtualKeys, tier: null, limiter: null }) }
}

describe("another instance's revocation (a message naming a fingerprint)", () => {
  test('drops the entry of that credential, and only it', async () => {
    const { keys, revoke } = fleetInstance()
    for (const credential of ['pk-a', 'pk-b']) await keys.get(credentialTag(credential), credential)
    revoke.onMessage({ hash: fingerprint('pk-a') })
    expect(keys.serve(credentialTag('pk-a'), 'pk-a')).toBeUndefined()
    expect(keys.serve(credentialTag('pk-b'), 'pk-b')).toEqual(auth('key_pk-b'))
  })

  // Found by the attack on issue 26: a scan of every entry per message (about 100 ms for 100,000 cached keys), which a
  // burst of revocations (a bulk rotation, an endpoint that lets users revoke their own key) would turn into seconds
  // of blocked event loop on every instance. Fixed by the alias index.
  test('is a keyed delete: it does not read through the whole cache', async () => {
    const { keys, revoke } = fleetInstance()
    for (let i = 0; i < 100; i++) await keys.get(credentialTag(`pk-${i}`), `pk-${i}`)
    const scans = vi.spyOn(LRUCache.prototype, 'entries')
    revoke.onMessage({ hash: fingerprint('pk-7') })
    expect(keys.serve(credentialTag('pk-7'), 'pk-7')).toBeUndefined()
    expect(scans).not.toHaveBeenCalled()
  })

  // Found by the same attack: dropping every look-up under way would mean that, while revocations keep arriving
  // faster than a look-up answers, no answer is ever cached and every request goes to the key service.
  test("lets another credential's look-up under way write its answer back", async () => {
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
