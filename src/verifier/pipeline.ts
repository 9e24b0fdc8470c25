import type { RefreshingCache } from '../cache/refreshing-cache.js'
import { credentialTag } from '#credential-tag'
import { type CredentialSource, checkCredential, takeCredential } from '../credential/header.js'
import { frozenWith, identityOf } from '../identity.js'
import { expiredApiKey, invalidToken, virtualKeyNotAllowed } from '../errors.js'
import { type VirtualKeyRequest, virtualKeyKey } from '../lookup/loaders.js'
import type { RouteScopes } from '../permissions/route-scopes.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { RateLimiter } from '../rate-limit/limiter.js'
import type { Outcome } from '../records.js'
import type { CheckStatus, IncomingHeaders, PortkeyAuth, RequestRoute, VirtualKey } from '../types.js'
import type { VirtualKeyLookupBudget } from '../virtual-key/lookup-budget.js'
import { readVirtualKeySlug } from '../virtual-key/virtual-key.js'

/**
 * What every request goes through, in order; `check()` (check.ts) calls this. Each step is one function
 * below, and one line here: it reads and writes the request's `RequestState`, throws `AuthError` to refuse,
 * and returns nothing when done, or a promise when it must wait (a look-up, Redis): the steps after it run
 * once it settles (`from`: where to go on). So a cached request makes no promise at all (nor, with Redis, one
 * whose key is within this instance's batch of its allowance). The steps are called one by one, not looped over
 * from an array: each call is then to one known function, which V8 inlines, and a step keeps what it does less
 * often (a look-up) in a function apart, so that a cached request stays small enough to inline whole (an array of
 * steps cost a cached check() about 10% more instructions under callgrind; this, under 1%).
 *
 * The rate limits count last, so that a request refused for anything else consumes no allowance; and a
 * virtual key is looked up only after the scopes, so a caller refused for its scopes (or, asked before the
 * look-up, for its own limits) costs the control plane nothing.
 */
export function runSteps(request: RequestState, pipeline: Pipeline, from: number): MaybePromise<PortkeyAuth> {
  // Each step's place in the list: after one that waits, the list goes on from the next.
  let at = 0
  if (from <= at++ && waits(request, readCredential(request, pipeline))) return goOn(request, pipeline, at)
  if (from <= at++ && waits(request, findCredential(request, pipeline))) return goOn(request, pipeline, at)
  if (from <= at++ && waits(request, unexpired(request, pipeline))) return goOn(request, pipeline, at)
  if (from <= at++ && waits(request, inScope(request, pipeline))) return goOn(request, pipeline, at)
  if (from <= at++ && waits(request, withVirtualKey(request, pipeline))) return goOn(request, pipeline, at)
  if (from <= at++ && waits(request, rateLimits(request, pipeline))) return goOn(request, pipeline, at)
  return request.auth!
}

/** Whether a step must wait: then what for is kept in `request.waiting`. */
function waits(request: RequestState, waiting: Promise<void> | undefined): boolean {
  if (waiting === undefined) return false
  request.waiting = waiting
  return true
}

/** Once the step that waited is done: the clock again, then the steps from `from`. */
function goOn(request: RequestState, pipeline: Pipeline, from: number): Promise<PortkeyAuth> {
  return request.waiting!.then(() => {
    request.waiting = undefined
    request.now = Date.now()
    return runSteps(request, pipeline, from)
  })
}

/**
 * One request as the steps see it: its input, then what each step found. Made by `requestState()`, with every
 * field set, so that every request's object has one shape.
 */
export interface RequestState {
  /** Node's header object; `check()` makes one of a Web `Headers`. */
  readonly headers: IncomingHeaders
  readonly route: RequestRoute | undefined
  readonly status: CheckStatus | undefined
  /** The clock read once for the cache's deadlines and the expiries; read again after a step that waited. */
  now: number
  /** The credential, as sent: the `x-portkey-api-key` header, or `Authorization: Bearer` with `bearer`. */
  credential: string
  /** The virtual key's slug, or `null` when the request names none. */
  slug: string | null
  /** The answer for the credential: its context, or the refusal it earns. */
  outcome: Outcome<PortkeyAuth> | undefined
  /** The caller's context: the key's, then with its virtual key. What `check()` returns. */
  auth: PortkeyAuth | undefined
  /** What the step that must wait waits for. */
  waiting: Promise<void> | undefined
}

export function requestState(
  headers: IncomingHeaders,
  route: RequestRoute | undefined,
  status: CheckStatus | undefined,
): RequestState {
  return { headers, route, status, now: 0, credential: '', slug: null, outcome: undefined, auth: undefined, waiting: undefined }
}

/**
 * What the steps read: the two caches, the scope map, where the credential is read, the rate limiter (`null`
 * with `rateLimits: false`), each caller's virtual-key look-up budget, and the contexts with a virtual key.
 */
export interface Pipeline {
  readonly keys: RefreshingCache<Outcome<PortkeyAuth>, string>
  readonly virtualKeys: RefreshingCache<Outcome<VirtualKey>, VirtualKeyRequest>
  readonly scopes: RouteScopes | null
  /** Where the credential is read: `x-portkey-api-key`, and `Authorization: Bearer` with the `bearer` option. */
  readonly source: CredentialSource
  readonly limiter: RateLimiter | null
  /** How many virtual keys each caller may look up a minute: its look-ups are counted here. */
  readonly budget: VirtualKeyLookupBudget
  /**
   * A key's context with a virtual key, built once per (context, virtual key) pair: both are cached, frozen
   * objects, so requests share the combination instead of copying it.
   */
  readonly combined: WeakMap<PortkeyAuth, WeakMap<VirtualKey, PortkeyAuth>>
}

/** The credential and the virtual-key slug, from the headers; a missing or malformed one is refused. */
function readCredential(request: RequestState, { source }: Pipeline): undefined {
  request.credential = takeCredential(request.headers, source)
  request.slug = readVirtualKeySlug(request.headers)
}

/** The credential's answer: from the cache, else looked up (the control plane, through Redis) or verified (a JWT). */
function findCredential(request: RequestState, { keys }: Pipeline): Promise<void> | undefined {
  // The same tag whichever header carried it: a key sent either way is one cache entry.
  const tag = credentialTag(request.credential)
  request.now = Date.now()
  request.outcome = keys.serve(tag, request.credential, request.status, request.now)
  return request.outcome === undefined ? lookUpCredential(request, keys, tag) : undefined
}

/** The caller's context, if the answer admits it: nothing is admitted past `expires_at`, whenever it was stored. */
function unexpired(request: RequestState, _pipeline: Pipeline): undefined {
  const outcome = request.outcome!
  if (outcome.value === undefined) throw outcome.reject()
  if (outcome.expiresAtMs <= request.now) throw outcome.value.method === 'jwt' ? invalidToken('token expired') : expiredApiKey()
  request.auth = outcome.value
}

/** The route, against the key's scopes (the `scopes` option; no route, nothing to check). */
function inScope({ auth, route }: RequestState, { scopes }: Pipeline): undefined {
  const denied = scopes !== null && route !== undefined ? scopes.check(auth!, route.method, route.path) : null
  if (denied !== null) throw denied
}

/** The caller's context with the virtual key the request names, if it names one. */
function withVirtualKey(request: RequestState, pipeline: Pipeline): Promise<void> | undefined {
  return request.slug === null ? undefined : addVirtualKey(request, request.slug, pipeline)
}

/** The rate limits, counted by the limiter: the one step that knows it (with Redis, it may wait for a batch). */
function rateLimits(request: RequestState, { limiter }: Pipeline): Promise<void> | undefined {
  if (limiter === null) return
  const admitted = limiter.admit(request.auth!, request.now, request.status, request.route)
  if (admitted instanceof Promise)
    return admitted.then((auth) => {
      request.auth = auth
    })
  request.auth = admitted
}

// What the steps do less often, apart from them (see runSteps()).

/** The caller's context with the virtual key `slug`, from the cache, else looked up. */
function addVirtualKey(request: RequestState, slug: string, pipeline: Pipeline): Promise<void> | undefined {
  const { now } = request
  const auth = request.auth!
  const { keyId, workspaceId } = auth
  // A caller bound to no workspace (an organisation key) may use no virtual key; no look-up needed.
  if (workspaceId === null) throw virtualKeyNotAllowed()
  // The control plane answers for the credential it is asked with, so the answer is the caller's own: keyed
  // by its identity (kind, organisation, issuer; the key id, which a rotated key's two secrets share, or the
  // token's user), never by workspace and slug alone, nor by a key id or `sub` another organisation may hold.
  const key = virtualKeyKey(identityOf(auth).caller, workspaceId, slug)
  const lookup = { keyId, slug, workspaceId, credential: request.credential }
  const cached = pipeline.virtualKeys.serve(key, lookup, undefined, now)
  if (cached === undefined) return lookUpVirtualKey(request, pipeline, key, lookup)
  request.auth = combine(cached, auth, now, pipeline)
}

/** A credential the cache has nothing servable for: its characters checked, then looked up (or verified, a JWT). */
function lookUpCredential(request: RequestState, keys: Pipeline['keys'], tag: string): Promise<void> {
  // Only what is looked up needs its characters checked: a cached credential passed this before.
  checkCredential(request.credential)
  return keys.load(tag, request.credential, request.status).then((outcome) => {
    request.outcome = outcome
  })
}

/** A virtual key the cache has nothing servable for: looked up, if the caller's own limits and budget allow. */
function lookUpVirtualKey(request: RequestState, pipeline: Pipeline, key: string, lookup: VirtualKeyRequest): Promise<void> {
  const { auth, now } = request
  // A caller its own limits refuse (counting nothing here) or past its budget costs the control plane nothing.
  pipeline.limiter?.check(auth!, now, request.status, request.route)
  pipeline.budget.spend(identityOf(auth!).name, now)
  return pipeline.virtualKeys.load(key, lookup).then((outcome) => {
    request.auth = combine(outcome, auth!, Date.now(), pipeline)
  })
}

/** The context of `auth` with the virtual key `outcome` admits, shared by every request of the pair. */
function combine(outcome: Outcome<VirtualKey>, auth: PortkeyAuth, now: number, { combined }: Pipeline): PortkeyAuth {
  if (outcome.value === undefined) throw outcome.reject()
  if (outcome.expiresAtMs <= now) throw virtualKeyNotAllowed()
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
