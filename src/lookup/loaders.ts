import { type Answer, credentialEntry, found, type Lifetimes, notFound, virtualKeyEntry } from '../cache/answers.js'
import type { Entry } from '../cache/refreshing-cache.js'
import { ControlPlaneError } from '../errors.js'
import { fingerprint, isJwtShaped } from '../credential/header.js'
import { verifyJwt } from '../credential/jwt.js'
import { isKeyRecord } from '../credential/key-record.js'
import type { ResolvedJwtOptions } from '../options/jwt.js'
import type { Outcome } from '../records.js'
import type { LookupGuard } from './guard.js'
import type { SharedTier } from '../fleet/shared-tier.js'
import type { KeyLookup, PortkeyAuth, VirtualKey, VirtualKeyLookup } from '../types.js'
import { isVirtualKeyRecord } from '../virtual-key/virtual-key.js'

/**
 * What a virtual-key look-up needs: the slug, the caller's workspace and credential, and the caller's key id
 * (its answers are dropped with `invalidateKeyId()`). Its cache key is `virtualKeyKey()`.
 */
export interface VirtualKeyRequest {
  readonly keyId: string
  readonly slug: string
  readonly workspaceId: string
  readonly credential: string
}

/** Where answers come from, behind each instance's LRU. */
export interface Sources {
  readonly guard: LookupGuard
  readonly lifetimes: Lifetimes
  /** The Redis tier, or `null` without one. */
  readonly tier: SharedTier | null
}

/** The shared-tier name of a credential's answer. */
export const credentialName = (hash: string) => `k:${hash}`

/**
 * Loads a credential's cache entry: a JWT (when configured) is verified locally; an API key is asked of
 * the key service — through the Redis tier when there is one. A key record (whatever its status) lives
 * `ttlMs` + `staleMs`, an unknown key `negativeTtlMs`; no answer, or a garbled one, throws `AuthError` 503.
 */
export function credentialLoader(lookup: KeyLookup, jwt: ResolvedJwtOptions | null, { guard, lifetimes, tier }: Sources) {
  async function askKeyService(apiKey: string): Promise<Answer> {
    const askedAt = Date.now()
    const record = await guard.call(async (signal) => checked(await lookup(apiKey, { signal }), isKeyRecord, 'key'))
    const now = Date.now()
    return record === null
      ? { kind: 'unknown', ...notFound(now, lifetimes), askedAt }
      : { kind: 'key', record, ...found(now, lifetimes), askedAt }
  }

  async function loadJwt(name: string, token: string, fallbackKeyId: string): Promise<Entry<Outcome<PortkeyAuth>>> {
    const shared = await tier?.read(name, groupsOf)
    if (shared?.kind === 'jwt') {
      try {
        return credentialEntry(shared, fallbackKeyId, Date.now())
      } catch {
        // claims that make no context: verify the token here instead
      }
    }
    const askedAt = Date.now()
    const { outcome, claims } = await verifyJwt(token, jwt!, fallbackKeyId)
    if (outcome.value === undefined) {
      const until = Date.now() + lifetimes.negativeTtlMs
      return { value: outcome, freshUntil: until, staleUntil: until, negative: true }
    }
    const { expiresAtMs } = outcome
    await tier?.write(name, { kind: 'jwt', claims: claims!, freshUntil: expiresAtMs, staleUntil: expiresAtMs, askedAt })
    return { value: outcome, freshUntil: expiresAtMs, staleUntil: expiresAtMs }
  }

  // The tag (the cache's key) is this process's own; Redis and the fallback key id use the fingerprint.
  return async function loadCredential(_tag: string, credential: string): Promise<Entry<Outcome<PortkeyAuth>>> {
    const hash = fingerprint(credential)
    const name = credentialName(hash)
    const fallbackKeyId = `jwt_${hash.slice(0, 16)}`
    if (jwt !== null && isJwtShaped(credential)) return loadJwt(name, credential, fallbackKeyId)
    const fetch = () => askKeyService(credential)
    const answer = tier === null ? await fetch() : await tier.resolve(name, fetch, groupsOf)
    return credentialEntry(answer, fallbackKeyId, Date.now())
  }
}

/**
 * A credential's other name in the cache, with Redis: its fingerprint, by which another instance's revocation
 * names it, where its tag (the cache's key) is not the fingerprint already (a JWT's, or on the edge).
 */
export function credentialAlias(tag: string, credential: string): string | undefined {
  const hash = fingerprint(credential)
  return hash === tag ? undefined : hash
}

/** The same for virtual keys, decided for the caller's workspace. */
export function virtualKeyLoader(lookup: VirtualKeyLookup, { guard, lifetimes, tier }: Sources) {
  async function askKeyService({ slug, credential }: VirtualKeyRequest): Promise<Answer> {
    const askedAt = Date.now()
    const record = await guard.call(
      async (signal) => checked(await lookup(slug, { credential, signal }), isVirtualKeyRecord, 'virtual key'),
      'virtual_key',
    )
    const now = Date.now()
    return record === null
      ? { kind: 'no-virtual-key', ...notFound(now, lifetimes), askedAt }
      : { kind: 'virtual-key', record, ...found(now, lifetimes), askedAt }
  }

  return async function loadVirtualKey(key: string, request: VirtualKeyRequest): Promise<Entry<Outcome<VirtualKey>>> {
    const fetch = () => askKeyService(request)
    // Its answers belong to the caller's key id and to the slug.
    const groups = [keyIdGroup(request.keyId), slugGroup(request.slug)]
    const answer = tier === null ? await fetch() : await tier.resolve(virtualKeyName(key), fetch, () => groups)
    return virtualKeyEntry(answer, request.slug, request.workspaceId, Date.now())
  }
}

/**
 * The cache key of a virtual key's answer for a caller: the JSON array of the caller's identity (kind,
 * organisation, issuer, then its key id or user), its workspace, and the slug.
 */
export const virtualKeyKey = (caller: readonly string[], workspaceId: string, slug: string): string =>
  JSON.stringify([...caller, workspaceId, slug])

/** The id that ends the caller in a `virtualKeyKey()`: an API key's key id, a JWT's user pseudonym or token id. */
export const callerIdOf = (key: string): string | undefined => {
  const parts = JSON.parse(key) as string[]
  return parts[parts.length - 3]
}

/** The shared-tier name of a virtual key's answer, by its cache key. */
const virtualKeyName = (key: string) => `v:${key}`
/** The group of every answer of a key id: its credentials' and its virtual-key answers. */
export const keyIdGroup = (keyId: string) => `id:${keyId}`
/** The group of every answer about one virtual key, whoever asked. */
export const slugGroup = (slug: string) => `vk:${slug}`

const groupsOf = (answer: Answer) => (answer.kind === 'key' ? [keyIdGroup(answer.record.id)] : [])

/**
 * `null` or a record of the right shape; anything else is a garbled answer: a `ControlPlaneError`, which the guard
 * counts as a failure like a 5xx (503, the breaker) and `onDecision` names by its message.
 */
function checked<T>(answer: unknown, isRecord: (value: unknown) => value is T, what: string): T | null {
  if (answer === null || isRecord(answer)) return answer
  throw new ControlPlaneError(`key service answered with no ${what} record`)
}
