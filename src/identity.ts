import { hmacSha256Base64url, sha256Base64url } from './platform/sha256.js'
import type { PortkeyAuth } from './types.js'

/**
 * Who the caller is, in the one form everything keyed by a caller uses: rate-limit counters (this instance's
 * and Redis's) and virtual-key answers (the LRU's and Redis's). Made once per context: a JWT's when it is built
 * (it needs the issuer and the user claim), an API key's on first use (`identityOf`).
 *
 * Every identity starts with the credential kind and the organisation, and for a JWT the issuer too, since one
 * organisation's ids (a workspace slug, a `sub`) mean nothing in another's, nor in another identity provider's.
 */
export interface Identity {
  /**
   * The organisation's space: `['key', <organisation>]` for an API key, `['jwt', <iss>, <organisation>]` for a
   * JWT. A virtual key's counters live in it: two organisations never share a workspace slug's allowance.
   */
  readonly tenant: readonly string[]
  /**
   * The caller: `tenant` and the API key's id (a rotated key's two secrets share it), or the JWT's user
   * (`userKeyId`), or, for a token that names no user, the token. Its counters and its virtual-key answers.
   */
  readonly caller: readonly string[]
  /** `caller` as one string, for maps. */
  readonly name: string
  /** What `caller` stands for, as a refusal words it. */
  readonly counted: 'api_key' | 'user' | 'token'
}

const IDENTITY = Symbol('portkey-auth.identity')

type Identified = PortkeyAuth & { readonly [IDENTITY]?: Identity }

function identity(tenant: readonly string[], id: string, counted: Identity['counted']): Identity {
  const caller = Object.freeze([...tenant, id])
  return Object.freeze({ tenant: Object.freeze([...tenant]), caller, name: JSON.stringify(caller), counted })
}

/** An API key's identity: its organisation and its key id. */
export const apiKeyIdentity = (organisationId: string, keyId: string): Identity =>
  identity(['key', organisationId], keyId, 'api_key')

/** The claims that name a token's user, in the order they are read: the standard `sub` first. */
const USER_CLAIMS = ['sub', 'uid', 'email_id'] as const

/**
 * A JWT's identity. Its caller is the user, `user` (its `userKeyId`); a token that names none is counted alone,
 * by its `jti` or else its fingerprint (`tokenKeyId`).
 */
export function jwtIdentity(issuer: string, organisationId: string, user: string | null, tokenKeyId: string): Identity {
  const tenant = ['jwt', issuer, organisationId]
  return user === null ? identity(tenant, tokenKeyId, 'token') : identity(tenant, user, 'user')
}

/**
 * A pseudonym for a token's user: `jwt_` and 16 base64url characters (96 bits) of the SHA-256 of its issuer,
 * organisation and user claim (`sub`, else `uid`, else `email_id`); `null` when it has none. Stable across the
 * user's tokens, different in another organisation or issuer, and never the claim itself (a `sub` is often an
 * e-mail).
 */
export function userKeyId(claims: Readonly<Record<string, unknown>>, issuer: string, organisationId: string): string | null {
  for (const claim of USER_CLAIMS) {
    const value = claims[claim]
    if (typeof value === 'string' && value !== '') return pseudonym([issuer, organisationId, claim, value])
  }
  return null
}

/** `jwt_` and 16 base64url characters of the SHA-256 of `parts`, as a credential's fingerprint is shortened. */
export const pseudonym = (parts: readonly string[]): string => `jwt_${sha256Base64url(JSON.stringify(parts)).slice(0, 16)}`

// This process's own key for the user ids it shows: never stored, never sent. Made on first use: Workers refuse
// random values in a module's top level ("Disallowed operation called within global scope").
let shownIdKey: Uint8Array | undefined

/**
 * The `keyId` a JWT without `jti` shows (in the context, `onDecision`, logs, metrics): `jwt_` and 16 base64url
 * characters of an HMAC of the user's pseudonym under a key of this process. The same for each of a user's
 * tokens in this process, and unlike the bare pseudonym (a hash of public facts and the claim) it cannot be
 * linked back to an e-mail by hashing guesses. It differs between processes; `userKeyId`'s pseudonym, which the
 * fleet shares (rate-limit counters, Redis keys), never leaves the package.
 */
export function shownUserId(pseudonymId: string): string {
  shownIdKey ??= crypto.getRandomValues(new Uint8Array(32))
  return `jwt_${hmacSha256Base64url(shownIdKey, pseudonymId).slice(0, 16)}`
}

/** Freezes `auth` carrying `identity`, out of sight: not enumerated, not serialised, not compared by tests. */
export function frozenWith<T extends PortkeyAuth>(auth: T, identity: Identity): T {
  Object.defineProperty(auth, IDENTITY, { value: identity })
  return Object.freeze(auth)
}

// An API key's identity, made on first use: it follows from the context's own fields, and a key with no rate
// limit and no virtual key never needs one (about 190 bytes a cached key saved).
const derived = new WeakMap<PortkeyAuth, Identity>()

/**
 * The identity of a context: the one it was built with (a JWT's), else one from its fields, made once per context
 * (an API key's; or a context made by hand, in a test or a custom integration).
 */
export function identityOf(auth: PortkeyAuth): Identity {
  const own = (auth as Identified)[IDENTITY]
  if (own !== undefined) return own
  let made = derived.get(auth)
  if (made === undefined) {
    made =
      auth.method === 'jwt'
        ? identity(['jwt', '', auth.organisationId], auth.keyId, 'token')
        : apiKeyIdentity(auth.organisationId, auth.keyId)
    derived.set(auth, made)
  }
  return made
}
