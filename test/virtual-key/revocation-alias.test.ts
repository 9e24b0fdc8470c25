import { describe, expect, test } from 'vitest'
import { keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'

// Attack (items 2/11): invalidateVirtualKey(slug) forgets the answers whose cache key ends in exactly that
// slug (src/verifier/revoke.ts forgetSlug, and the Redis group vk:<requested slug>). The answer is stored
// under the slug as the client spelt it, and virtualKeyOutcome() never checks that the record's slug is the
// one asked for. A control plane that resolves a slug case-insensitively (or any alias) lets a caller warm
// the cache under 'OPENAI-PROD'; the revocation of 'openai-prod' then leaves that answer admitting.

const KEY = 'pk-vk-alias-0123456789abcdef'

describe('invalidateVirtualKey() and another spelling of the slug', () => {
  test('after invalidateVirtualKey("openai-prod") no spelling of it is admitted from the cache', async () => {
    let revoked = false
    let asked = 0
    const verifier = createVerifier({
      controlPlaneUrl: 'http://127.0.0.1:9',
      logger: false,
      lookup: async (key) => (key === KEY ? keyRecord({ id: 'key_alias', workspace_id: 'ws_a' }) : null),
      // A case-insensitive catalogue: the record it answers names the canonical slug.
      lookupVirtualKey: async (slug) => {
        asked++
        return slug.toLowerCase() === 'openai-prod' && !revoked
          ? virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai', workspace_id: 'ws_a' })
          : null
      },
    })
    try {
      const use = (slug: string) =>
        verifier.verify({ 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': slug }).then(
          (auth) => ({ status: 200, slug: auth.virtualKey?.slug }),
          (error: { status: number }) => ({ status: error.status }),
        )
      expect(await use('openai-prod')).toMatchObject({ status: 200 })
      // The record names another slug than the one asked for: refused, so no answer is cached under an alias.
      expect(await use('OPENAI-PROD')).toMatchObject({ status: 403 })
      revoked = true
      await verifier.invalidateVirtualKey('openai-prod')
      expect(await use('openai-prod')).toMatchObject({ status: 403 })
      // The other spelling is still served from the cache, with no look-up.
      const before = asked
      expect({ aliased: await use('OPENAI-PROD'), lookedUp: asked - before }).toMatchObject({ aliased: { status: 403 } })
    } finally {
      await verifier.close()
    }
  })
})
