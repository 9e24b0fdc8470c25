import type { RefreshingCache } from '../cache/refreshing-cache.js'
import { credentialTag } from '#credential-tag'
import { fingerprint } from '../credential/header.js'
import { revocationUnconfirmed } from '../errors.js'
import type { Invalidation, SharedTier } from '../fleet/shared-tier.js'
import { callerIdOf, credentialName, keyIdGroup, slugGroup, type VirtualKeyRequest } from '../lookup/loaders.js'
import type { RateLimiter } from '../rate-limit/limiter.js'
import { heldCounters } from '../rate-limit/holders.js'
import type { Outcome } from '../records.js'
import type { PortkeyAuth, VirtualKey } from '../types.js'
import type { Verifier } from './verifier.js'

/** What revocation works on: the two caches, and the Redis tier (`null` without one). */
export interface RevocationParts {
  readonly keys: RefreshingCache<Outcome<PortkeyAuth>, string>
  readonly virtualKeys: RefreshingCache<Outcome<VirtualKey>, VirtualKeyRequest>
  readonly tier: SharedTier | null
  /** The rate limiter, whose counters a reset forgets (`null` with `rateLimits: false`). */
  readonly limiter: RateLimiter | null
}

type Revocations = Pick<Verifier, 'invalidate' | 'invalidateKeyId' | 'invalidateVirtualKey' | 'resetRateLimits' | 'clear'> & {
  /** What an instance does with a message from the channel. */
  onMessage(message: Invalidation): void
}

/**
 * The verifier's revocations: each forgets locally first, whatever Redis does, then revokes in Redis
 * (deletion, marker, message, replica) and rejects with `AuthError` `revocation_unconfirmed` when that
 * cannot be confirmed. A virtual key's cache key is `virtualKeyKey()`: the caller, its workspace, the slug.
 */
export function revocations({ keys, virtualKeys, tier, limiter }: RevocationParts): Revocations {
  const forgetKeyId = (keyId: string) => {
    keys.invalidateWhere((outcome) => outcome.value?.keyId === keyId)
    virtualKeys.invalidateWhere((_, key) => callerIdOf(key) === keyId)
  }
  const forgetSlug = (slug: string) => {
    const end = `,${JSON.stringify(slug)}]`
    virtualKeys.invalidateWhere((_, key) => key.endsWith(end))
  }
  const clear = () => {
    keys.clear()
    virtualKeys.clear()
  }
  const confirmed = async (revoke: (tier: SharedTier) => Promise<void>) => {
    if (tier === null) return
    try {
      await revoke(tier)
    } catch (error) {
      throw revocationUnconfirmed((error as Error).message, error)
    }
  }
  return {
    onMessage(message) {
      if ('hash' in message) keys.invalidateAlias(message.hash)
      else if ('keyId' in message) forgetKeyId(message.keyId)
      else if ('slug' in message) forgetSlug(message.slug)
      else if ('limits' in message) limiter?.forget(message.limits)
      else clear() // back from a lost connection: revocations may have been missed
    },
    async invalidate(credential) {
      keys.invalidate(credentialTag(credential))
      const hash = fingerprint(credential)
      await confirmed((shared) => shared.invalidate(async () => [credentialName(hash)], { hash }))
    },
    async invalidateKeyId(keyId) {
      forgetKeyId(keyId)
      await confirmed((shared) => shared.invalidate(() => shared.namesOf(keyIdGroup(keyId)), { keyId }))
    },
    async invalidateVirtualKey(slug) {
      if (typeof slug !== 'string' || slug === '') throw new TypeError('portkey-auth: invalidateVirtualKey() takes a slug')
      forgetSlug(slug)
      await confirmed((shared) => shared.invalidate(() => shared.namesOf(slugGroup(slug)), { slug }))
    },
    async resetRateLimits(holder) {
      if (limiter === null) {
        heldCounters(holder, null) // nothing to reset, but a holder that names no counters is refused as with limits
        return
      }
      const name = await limiter.reset(holder)
      await tier?.announce({ limits: name })
    },
    clear,
  }
}
