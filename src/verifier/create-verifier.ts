import { type CacheStats, RefreshingCache } from '../cache/refreshing-cache.js'
import { controlPlaneLookup, controlPlaneVirtualKeyLookup } from '../lookup/control-plane.js'
import { checkCredential, fingerprint, takeCredential } from '../credential/header.js'
import { audited, type Trace } from './decision.js'
import { expiredApiKey, invalidToken, virtualKeyNotAllowed } from '../errors.js'
import type { Outcome } from '../credential/key-record.js'
import { credentialLoader, credentialName, type Sources, type VirtualKeyRequest, virtualKeyLoader } from '../lookup/loaders.js'
import { type GuardStats, LookupGuard } from '../lookup/guard.js'
import { resolveOptions, type VerifierOptions } from '../options/resolve.js'
import { RedisConnection } from '../fleet/redis.js'
import { type Invalidation, SharedTier, type SharedTierStats } from '../fleet/shared-tier.js'
import type { IncomingHeaders, PortkeyAuth, VirtualKey } from '../types.js'
import { readVirtualKeySlug, type VirtualKeyOutcome } from '../virtual-key/virtual-key.js'

/** The request line, for route-to-scope checks (the `scopes` option). */
export interface RequestRoute {
  /** Upper-case HTTP method. */
  readonly method: string
  /** The path, without query string. */
  readonly path: string
}

/**
 * Counters: API keys (and JWTs) at the top level, virtual keys under `virtualKeys`, the breaker and load
 * shedding under `guard`, the Redis tier under `redis` (`null` without one).
 */
export interface VerifierStats extends CacheStats {
  virtualKeys: CacheStats
  guard: GuardStats
  redis: SharedTierStats | null
}

/** Checks credentials; create one with `createVerifier()` and share it between middlewares. */
export interface Verifier {
  /**
   * Checks the credential in `headers`, resolves the virtual key they name, applies the `scopes` option
   * when `route` is given, and resolves to the caller's context; or rejects with `AuthError` (only that).
   */
  verify(headers: IncomingHeaders, route?: RequestRoute): Promise<PortkeyAuth>
  /**
   * `verify()` without a promise where none is needed: for a cached credential it returns the context
   * (or throws `AuthError`) synchronously; otherwise it returns a promise, as `verify()` does. What the
   * adapters use, so that a cached request costs no microtask.
   */
  check(headers: IncomingHeaders, route?: RequestRoute): PortkeyAuth | Promise<PortkeyAuth>
  /** Whether `check()` and `verify()` read their `route` argument (the `scopes` option); callers may skip building it. */
  readonly routed: boolean
  /**
   * Forgets one credential, so its next request asks the key service again (e.g. after revoking it);
   * with Redis, on every instance.
   */
  invalidate(credential: string): Promise<void>
  /**
   * Forgets every credential whose record has this key id — what Portkey's control plane reports when a
   * key changes; with Redis, on every instance.
   */
  invalidateKeyId(keyId: string): Promise<void>
  /** Forgets every credential and virtual key (on this instance). */
  clear(): void
  /** Counters of cache and look-up activity. */
  stats(): VerifierStats
  /** Closes the Redis connections the verifier opened; nothing to do without Redis. */
  close(): Promise<void>
}

/**
 * Creates a verifier: reads `x-portkey-api-key`, resolves it through the cache (and Redis, when given)
 * and the key service, or verifies it as a JWT, and returns the caller's context.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ cache: { ttlMs: 30_000 } })
 * const auth = await verifier.verify(req.headers) // throws AuthError
 * ```
 */
export function createVerifier(options?: VerifierOptions): Verifier {
  const config = resolveOptions(options)
  const { controlPlaneUrl, clientAuth, cache: lifetimes, scopes, redis } = config
  const guard = new LookupGuard({ timeoutMs: config.timeoutMs, maxPendingLookups: config.maxPendingLookups, ...config.breaker })
  // The lock covers a look-up with its retry, and a little more; a holder that dies frees it as late.
  const tier = redis && new SharedTier(new RedisConnection(redis, redis.timeoutMs), redis.namespace, config.timeoutMs + 1_000)
  const sources: Sources = { guard, lifetimes, tier }
  const keys = new RefreshingCache<Outcome, string>(
    lifetimes.max,
    credentialLoader(config.lookup ?? controlPlaneLookup(controlPlaneUrl, clientAuth), config.jwt, sources),
  )
  const virtualKeys = new RefreshingCache<VirtualKeyOutcome, VirtualKeyRequest>(
    lifetimes.max,
    virtualKeyLoader(config.lookupVirtualKey ?? controlPlaneVirtualKeyLookup(controlPlaneUrl, clientAuth), sources),
  )
  const forgetKeyId = (keyId: string) => keys.invalidateWhere((outcome) => outcome.auth?.keyId === keyId)
  tier?.listen((message: Invalidation) => {
    if ('hash' in message) keys.invalidate(message.hash)
    else if ('keyId' in message) forgetKeyId(message.keyId)
    else {
      // Back from a lost connection: revocations may have been missed.
      keys.clear()
      virtualKeys.clear()
    }
  })

  // A key's context with a virtual key, built once per (context, virtual key) pair: both are cached,
  // frozen objects, so requests share the combination instead of copying it.
  const combined = new WeakMap<PortkeyAuth, WeakMap<VirtualKey, PortkeyAuth>>()

  function withVirtualKey(auth: PortkeyAuth, slug: string, credential: string): PortkeyAuth | Promise<PortkeyAuth> {
    const { keyId, workspaceId } = auth
    // A caller bound to no workspace (an organisation key) may use no virtual key; no look-up needed.
    if (workspaceId === null) throw virtualKeyNotAllowed()
    // The control plane answers for the credential it is asked with, so the answer is the caller's own:
    // keyed by key id (a rotated key's two secrets share it), never by workspace and slug alone.
    const got = virtualKeys.get(JSON.stringify([keyId, workspaceId, slug]), { slug, workspaceId, credential })
    return got instanceof Promise ? got.then((outcome) => combine(auth, outcome)) : combine(auth, got)
  }

  function combine(auth: PortkeyAuth, outcome: VirtualKeyOutcome): PortkeyAuth {
    if (outcome.virtualKey === undefined) throw outcome.reject()
    if (outcome.expiresAtMs <= Date.now()) throw virtualKeyNotAllowed()
    let byKey = combined.get(auth)
    if (byKey === undefined) combined.set(auth, (byKey = new WeakMap()))
    let result = byKey.get(outcome.virtualKey)
    if (result === undefined) byKey.set(outcome.virtualKey, (result = Object.freeze({ ...auth, virtualKey: outcome.virtualKey })))
    return result
  }

  // Synchronous up to the first look-up: a cached request makes no promise at all.
  function check(headers: IncomingHeaders, route: RequestRoute | undefined, trace: Trace | null): PortkeyAuth | Promise<PortkeyAuth> {
    const credential = takeCredential(headers)
    const slug = readVirtualKeySlug(headers)
    const hash = fingerprint(credential)
    const cached = keys.serve(hash, credential)
    if (cached !== undefined) {
      if (trace !== null) trace.cache = keys.lastServe
      return admit(cached, slug, credential, route)
    }
    // Only what is looked up needs its characters checked: a cached credential passed this before.
    checkCredential(credential)
    if (trace !== null) trace.cache = 'miss'
    return keys.load(hash, credential).then((outcome) => admit(outcome, slug, credential, route))
  }

  function admit(outcome: Outcome, slug: string | null, credential: string, route: RequestRoute | undefined): PortkeyAuth | Promise<PortkeyAuth> {
    if (outcome.auth === undefined) throw outcome.reject()
    // The entry may have been stored before the key expired: nothing is admitted past expires_at.
    if (outcome.expiresAtMs <= Date.now()) throw outcome.auth.method === 'jwt' ? invalidToken('token expired') : expiredApiKey()
    if (slug === null) return authorize(outcome.auth, route)
    const auth = withVirtualKey(outcome.auth, slug, credential)
    return auth instanceof Promise ? auth.then((resolved) => authorize(resolved, route)) : authorize(auth, route)
  }

  function authorize(auth: PortkeyAuth, route: RequestRoute | undefined): PortkeyAuth {
    const denied = scopes !== null && route !== undefined ? scopes.check(auth, route.method, route.path) : null
    if (denied !== null) throw denied
    return auth
  }

  const audit = audited(check, config.onDecision, () => tier?.connected ?? null)

  return {
    check: audit,
    routed: scopes !== null,
    async verify(headers, route) {
      return audit(headers, route)
    },
    async invalidate(credential) {
      const hash = fingerprint(credential)
      keys.invalidate(hash)
      await tier?.invalidate([credentialName(hash)], { hash })
    },
    async invalidateKeyId(keyId) {
      forgetKeyId(keyId)
      if (tier) await tier.invalidate(await tier.namesOf(keyId), { keyId })
    },
    clear() {
      keys.clear()
      virtualKeys.clear()
    },
    stats() {
      return { ...keys.stats(), virtualKeys: virtualKeys.stats(), guard: guard.stats(), redis: tier?.stats() ?? null }
    },
    async close() {
      await tier?.close()
    },
  }
}
