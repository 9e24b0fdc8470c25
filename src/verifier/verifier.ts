import type { CacheStats } from '../cache/refreshing-cache.js'
import type { SharedTierStats } from '../fleet/shared-tier.js'
import type { GuardStats } from '../lookup/guard.js'
import type { RateLimiterStats } from '../rate-limit/limiter.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { CheckStatus, IncomingHeaders, LimitCount, LimitHolder, PortkeyAuth, Quota, RequestRoute } from '../types.js'
import type { ProbeResult } from '../lookup/probe.js'

/**
 * Counters: API keys (and JWTs) at the top level, virtual keys under `virtualKeys`, the breaker and load
 * shedding under `guard`, the Redis tier under `redis` (`null` without one), rate limiting under
 * `rateLimits` (`null` with `rateLimits: false`).
 */
export interface VerifierStats extends CacheStats {
  /** The same counters for virtual-key answers. */
  virtualKeys: CacheStats
  /** The circuit breaker and load shedding. */
  guard: GuardStats
  /** The Redis tier; `null` without the `redis` option. */
  redis: SharedTierStats | null
  /** Rate limiting; `null` with `rateLimits: false`. */
  rateLimits: RateLimiterStats | null
}

/** Checks credentials; create one with `createVerifier()` and share it between middlewares. */
export interface Verifier {
  /**
   * Checks the credential in `headers` (Node's header object, or a Web `Headers`), resolves the virtual key
   * they name, applies the `scopes` option when `route` is given, counts the request against its rate limits,
   * and resolves to the caller's context; or rejects with `AuthError` (only that). Given a `status`, it notes
   * there how the cache answered and, when a limit applied, the request's `quota`.
   */
  verify(headers: IncomingHeaders | Headers, route?: RequestRoute, status?: CheckStatus): Promise<PortkeyAuth>
  /**
   * `verify()` without a promise where none is needed: for a cached credential it returns the context
   * (or throws `AuthError`) synchronously; otherwise it returns a promise, as `verify()` does. What the
   * adapters use, so that a cached request costs no microtask.
   *
   * In the source: `check()` in `src/verifier/check.ts` (made by `createCheck()`), which runs the request through
   * the steps listed in `runSteps()`, `src/verifier/pipeline.ts`; `audited()` (`src/verifier/decision.ts`) wraps it
   * when `onDecision` or telemetry listen.
   */
  check(headers: IncomingHeaders | Headers, route?: RequestRoute, status?: CheckStatus): MaybePromise<PortkeyAuth>
  /** Whether `check()` and `verify()` read their `route` argument (`scopes`, or a rate limit bound to a route); callers may skip building it. */
  readonly routed: boolean
  /**
   * Whether `check()` and `verify()` may count a request against rate limits, so fill in `CheckStatus.quota`
   * (`false` with `rateLimits: false`); callers may skip making a status for it.
   */
  readonly limited: boolean
  /**
   * Whether `Authorization: Bearer` carries the credential when `x-portkey-api-key` is absent (the `bearer`
   * option); `hideCredentials` reads it to know which header to remove.
   */
  readonly bearer: boolean
  /**
   * Forgets one credential, so its next request asks the key service again (e.g. after revoking it);
   * with Redis, on every instance.
   *
   * This instance forgets it at once, whatever happens next. With Redis, it resolves only once the
   * revocation is known done fleet-wide: the answer deleted and a revocation marker set (every instance then
   * asks the control plane again instead of trusting an answer asked before it), the other instances told,
   * and, on Sentinel or a cluster with replicas, a replica holding the deletion (`WAIT 1`, up to half of
   * `redis.timeoutMs`). Otherwise, after at most 4 attempts (none started after 2 s; so about 2 s plus one
   * attempt in all), it rejects with `AuthError` code `revocation_unconfirmed`
   * (503): other instances may still admit the credential until a retry succeeds, so retry (e.g. answer
   * your webhook with a 5xx).
   */
  invalidate(credential: string): Promise<void>
  /**
   * Forgets every credential whose record has this key id — what Portkey's control plane reports when a
   * key changes — and every virtual-key answer given to that key; with Redis, on every instance. Settles
   * as `invalidate()` does.
   */
  invalidateKeyId(keyId: string): Promise<void>
  /**
   * Forgets every answer about the virtual key `slug`, whichever key asked for it (e.g. after archiving it);
   * with Redis, on every instance. Settles as `invalidate()` does; a `TypeError` for an empty slug.
   * @example await verifier.invalidateVirtualKey('openai-prod')
   */
  invalidateVirtualKey(slug: string): Promise<void>
  /**
   * The rate-limit counters of an API key, a JWT's user, a virtual key or a workspace (`holder`) in their current
   * windows, those with something counted: with Redis, the fleet's (it rejects when Redis cannot answer); without,
   * this instance's. For an admin endpoint; `[]` with `rateLimits: false`. A `TypeError` for a malformed holder (then too).
   * @example await verifier.rateLimitStanding({ organisationId: 'org_1', keyId: 'key_1' })
   */
  rateLimitStanding(holder: LimitHolder): Promise<readonly LimitCount[]>
  /**
   * Resets the rate-limit counters of `holder` (see `rateLimitStanding()`): its windows start afresh on this instance
   * and, with Redis, across the fleet (the current windows' counters deleted, then every instance told to forget
   * its own; one away then misses it, and may admit at most the batch it holds). Rejects when Redis cannot answer;
   * a `TypeError` for a malformed holder, even with `rateLimits: false`.
   * @example await verifier.resetRateLimits({ organisationId: 'org_1', workspaceId: 'ws_1', virtualKey: 'openai-prod' })
   */
  resetRateLimits(holder: LimitHolder): Promise<void>
  /**
   * Reports the tokens a request used (e.g. the provider's `usage.total_tokens`) against the tokens limits of its
   * key and virtual key. Given the request's `Quota`, it does what `quota.reportTokens()` does: counts them, and
   * releases the tokens the request reserved (once). Given a context, it counts them and releases no reservation:
   * to release the request's reservation too, report through its quota: `quotaOf(req).reportTokens(n)`. Nothing
   * to do when there is no tokens limit or with `rateLimits: false`. Resolves to `true` once counted; to `false`,
   * logged once, for a value that is not a whole number of tokens (0 or more), or neither a quota nor a context:
   * a misuse never rejects, so an un-awaited report never ends the process.
   * @example await verifier.reportTokens(quota ?? portkey, completion.usage.total_tokens)
   */
  reportTokens(of: PortkeyAuth | Quota, tokens: number): Promise<boolean>
  /** Forgets every credential and virtual key (on this instance). */
  clear(): void
  /** Counters of cache and look-up activity. */
  stats(): VerifierStats
  /**
   * Checks, before serving traffic (or from a readiness probe), that the control plane, the JWKS and
   * Redis — those in use — can be reached and answer like themselves. Never throws; sends no credential.
   * @example const result = await verifier.probe(); if (!result.ok) console.error(String(result))
   */
  probe(): Promise<ProbeResult>
  /** Closes the Redis connections the verifier opened; nothing to do without Redis. */
  close(): Promise<void>
}
