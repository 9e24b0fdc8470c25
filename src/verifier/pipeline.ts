import type { RefreshingCache } from '../cache/refreshing-cache.js'
import {
  AUTHORIZATION_HEADER,
  CREDENTIAL_HEADER,
  type CredentialSource,
  checkCredential,
  fingerprint,
  takeCredential,
} from '../credential/header.js'
import { frozenWith, identityOf } from '../credential/identity.js'
import { expiredApiKey, invalidToken, virtualKeyNotAllowed } from '../errors.js'
import { type VirtualKeyRequest, virtualKeyKey } from '../lookup/loaders.js'
import { andThen, type MaybePromise } from '../maybe-promise.js'
import type { RouteScopes } from '../permissions/route-scopes.js'
import type { RateLimiter } from '../rate-limit/limiter.js'
import type { Outcome } from '../records.js'
import type { CheckStatus, IncomingHeaders, PortkeyAuth, VirtualKey } from '../types.js'
import { VirtualKeyLookupBudget } from '../virtual-key/lookup-budget.js'
import { PROVIDER_HEADER, readVirtualKeySlug, VIRTUAL_KEY_HEADER } from '../virtual-key/virtual-key.js'
import type { RequestRoute } from './verifier.js'

/** One request's check: the caller's context, synchronously when everything it needs is cached. */
export type Check = (
  headers: IncomingHeaders | Headers,
  route: RequestRoute | undefined,
  status: CheckStatus | undefined,
) => MaybePromise<PortkeyAuth>

/**
 * What the steps read: the two caches, the scope map, whether `Authorization: Bearer` is a credential, and
 * the rate limiter (`null` with `rateLimits: false`).
 */
export interface PipelineParts {
  readonly keys: RefreshingCache<Outcome<PortkeyAuth>, string>
  readonly virtualKeys: RefreshingCache<Outcome<VirtualKey>, VirtualKeyRequest>
  readonly scopes: RouteScopes | null
  /** Where the credential is read: `x-portkey-api-key`, and `Authorization: Bearer` with the `bearer` option. */
  readonly source: CredentialSource
  readonly limiter: RateLimiter | null
  /** Callers whose virtual-key look-ups are counted at once (`VirtualKeyLookupBudget`): the cache's `max`. */
  readonly lookupBudgetSize: number
}

/**
 * The per-request pipeline: read the credential and the virtual-key slug → the cache (or a look-up) →
 * the key's expiry → the scopes → the virtual key (from the cache; else a look-up, once a look at the key's own
 * rate limits, counting nothing, and the caller's look-up budget allow it) → the rate
 * limits, counted last, so that a request refused for anything else consumes no allowance and a caller refused
 * for its scopes or its limits costs the control plane nothing. Each step is one function below, called from
 * `admit()`. Synchronous up to the first look-up: a cached request makes no promise at all (nor, with Redis,
 * one whose key is within this instance's batch of its allowance).
 */
export function createPipeline({ keys, virtualKeys, scopes, source, limiter, lookupBudgetSize }: PipelineParts): Check {
  // A key's context with a virtual key, built once per (context, virtual key) pair: both are cached,
  // frozen objects, so requests share the combination instead of copying it.
  const combined = new WeakMap<PortkeyAuth, WeakMap<VirtualKey, PortkeyAuth>>()
  const budget = new VirtualKeyLookupBudget(lookupBudgetSize)

  function admit(
    outcome: Outcome<PortkeyAuth>,
    slug: string | null,
    credential: string,
    route: RequestRoute | undefined,
    now: number,
    status: CheckStatus | undefined,
  ): MaybePromise<PortkeyAuth> {
    const auth = authorize(unexpired(outcome, now), route)
    if (slug === null) return limit(auth, now, status)
    return andThen(withVirtualKey(auth, slug, credential, now), (withKey) => limit(withKey, Date.now(), status), null)
  }

  function limit(auth: PortkeyAuth, now: number, status: CheckStatus | undefined): MaybePromise<PortkeyAuth> {
    return limiter === null ? auth : limiter.admit(auth, now, status)
  }

  function withVirtualKey(auth: PortkeyAuth, slug: string, credential: string, now: number): MaybePromise<PortkeyAuth> {
    const { keyId, workspaceId } = auth
    // A caller bound to no workspace (an organisation key) may use no virtual key; no look-up needed.
    if (workspaceId === null) throw virtualKeyNotAllowed()
    // The control plane answers for the credential it is asked with, so the answer is the caller's own: keyed
    // by its identity (kind, organisation, issuer; the key id, which a rotated key's two secrets share, or the
    // token's user), never by workspace and slug alone, nor by a key id or `sub` another organisation may hold.
    const { caller, name } = identityOf(auth)
    const key = virtualKeyKey(caller, workspaceId, slug)
    const request = { keyId, slug, workspaceId, credential }
    const cached = virtualKeys.serve(key, request, undefined, now)
    if (cached !== undefined) return combine(cached, auth)
    // Before a look-up: a caller its own limits refuse (counting nothing here) or past its budget costs none.
    limiter?.check(auth, now)
    budget.spend(name, now)
    return virtualKeys.load(key, request).then((outcome) => combine(outcome, auth))
  }

  function combine(outcome: Outcome<VirtualKey>, auth: PortkeyAuth): PortkeyAuth {
    if (outcome.value === undefined) throw outcome.reject()
    if (outcome.expiresAtMs <= Date.now()) throw virtualKeyNotAllowed()
    let byKey = combined.get(auth)
    if (byKey === undefined) {
      byKey = new WeakMap()
      combined.set(auth, byKey)
    }
    let result = byKey.get(outcome.value)
    if (result === undefined) {
      result = frozenWith({ ...auth, virtualKey: outcome.value }, identityOf(auth))
      byKey.set(outcome.value, result)
    }
    return result
  }

  function authorize(auth: PortkeyAuth, route: RequestRoute | undefined): PortkeyAuth {
    const denied = scopes !== null && route !== undefined ? scopes.check(auth, route.method, route.path) : null
    if (denied !== null) throw denied
    return auth
  }

  return function check(input, route, status) {
    const headers = isWebHeaders(input) ? fromWebHeaders(input) : input
    // The same fingerprint whichever header carried it: a key sent either way is one cache entry.
    const credential = takeCredential(headers, source)
    const slug = readVirtualKeySlug(headers)
    const hash = fingerprint(credential)
    // One clock read for the cache's deadlines and the key's expiry.
    const now = Date.now()
    const cached = keys.serve(hash, credential, status, now)
    if (cached !== undefined) return admit(cached, slug, credential, route, now, status)
    // Only what is looked up needs its characters checked: a cached credential passed this before.
    checkCredential(credential)
    return keys.load(hash, credential, status).then((outcome) => admit(outcome, slug, credential, route, Date.now(), status))
  }
}

/** The context of an admitting outcome; nothing is admitted past `expires_at`, whenever it was stored. */
function unexpired(outcome: Outcome<PortkeyAuth>, now: number): PortkeyAuth {
  if (outcome.value === undefined) throw outcome.reject()
  if (outcome.expiresAtMs <= now) throw outcome.value.method === 'jwt' ? invalidToken('token expired') : expiredApiKey()
  return outcome.value
}

/**
 * Whether the headers are a Web `Headers` (or one like it): it has a `get()` method, which no header of Node's
 * object can be (their values are strings). Not `instanceof Headers`: Node's global `Headers` is defined
 * lazily, so V8 cannot fold it to a constant and `instanceof` costs a builtin call on every request.
 */
function isWebHeaders(input: IncomingHeaders | Headers): input is Headers {
  return typeof (input as { get?: unknown } | undefined)?.get === 'function'
}

/**
 * The headers the pipeline reads, from a Web `Headers` (fetch, Hono, Next.js): it joins a repeated header
 * with ', ', which the credential and slug checks refuse as they refuse Node's join. `Authorization` is read
 * only when `x-portkey-api-key` is absent: it may carry the credential then (with `bearer`), or be the
 * reason to say once how to turn `bearer` on.
 */
function fromWebHeaders(headers: Headers): IncomingHeaders {
  const read = (name: string) => headers.get(name) ?? undefined
  const credential = read(CREDENTIAL_HEADER)
  return {
    [CREDENTIAL_HEADER]: credential,
    [AUTHORIZATION_HEADER]: credential ? undefined : read(AUTHORIZATION_HEADER),
    [VIRTUAL_KEY_HEADER]: read(VIRTUAL_KEY_HEADER),
    [PROVIDER_HEADER]: read(PROVIDER_HEADER),
  }
}
