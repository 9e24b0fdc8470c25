import { type CacheStats, type Entry, RefreshingCache } from './cache.js'
import { controlPlaneLookup } from './control-plane.js'
import { fingerprint, readCredential } from './credential.js'
import { authUnavailable, expiredApiKey, invalidApiKey } from './errors.js'
import { isKeyRecord, type Outcome, recordOutcome } from './key-record.js'
import { type ResolvedOptions, resolveOptions, type VerifierOptions } from './options.js'
import type { IncomingHeaders, KeyLookup, PortkeyAuth } from './types.js'

/** Seconds a client is told to wait after a 503. */
const RETRY_AFTER_SEC = 1

/** Checks credentials; create one with `createVerifier()` and share it between middlewares. */
export interface Verifier {
  /**
   * Checks the credential in `headers` and resolves to the caller's context, or rejects with `AuthError`
   * (and only `AuthError`).
   */
  verify(headers: IncomingHeaders): Promise<PortkeyAuth>
  /** Forgets one credential, so its next request asks the key service again (e.g. after revoking it). */
  invalidate(credential: string): void
  /** Forgets every credential. */
  clear(): void
  /** Counters of cache and look-up activity. */
  stats(): CacheStats
}

/**
 * Creates a verifier: reads `x-portkey-api-key`, resolves it through the cache and the key service,
 * and returns the caller's context.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ cache: { ttlMs: 30_000 } })
 * const auth = await verifier.verify(req.headers) // throws AuthError
 * ```
 */
export function createVerifier(options?: VerifierOptions): Verifier {
  const config = resolveOptions(options)
  const lookup = config.lookup ?? controlPlaneLookup(config.controlPlaneUrl, config.clientAuth)
  const cache = new RefreshingCache<Outcome, string>(config.cache.max, (_key, apiKey) => resolve(apiKey, lookup, config))

  return {
    async verify(headers) {
      const credential = readCredential(headers)
      const pending = cache.get(fingerprint(credential), credential)
      const outcome = pending instanceof Promise ? await pending : pending
      if (outcome.auth === undefined) throw outcome.reject()
      // The entry may have been stored before the key expired: nothing is admitted past expires_at.
      if (outcome.expiresAtMs <= Date.now()) throw expiredApiKey()
      return outcome.auth
    },
    invalidate(credential) {
      cache.invalidate(fingerprint(credential))
    },
    clear() {
      cache.clear()
    },
    stats() {
      return cache.stats()
    },
  }
}

/** One look-up, turned into a cache entry; throws `AuthError` 503 when the key service gives no answer. */
async function resolve(apiKey: string, lookup: KeyLookup, config: ResolvedOptions): Promise<Entry<Outcome>> {
  let record: unknown
  try {
    record = await withTimeout(lookup, apiKey, config.timeoutMs)
  } catch (cause) {
    throw authUnavailable(RETRY_AFTER_SEC, cause)
  }
  const now = Date.now()
  const { ttlMs, staleMs, negativeTtlMs } = config.cache
  if (record === null) return { value: { reject: invalidApiKey }, freshUntil: now + negativeTtlMs, staleUntil: now + negativeTtlMs }
  if (!isKeyRecord(record)) throw authUnavailable(RETRY_AFTER_SEC, new TypeError('key service answered with no key record'))
  return { value: recordOutcome(record, now), freshUntil: now + ttlMs, staleUntil: now + ttlMs + staleMs }
}

/** Runs a look-up with a deadline, also for a custom `lookup` that ignores its signal. */
function withTimeout(lookup: KeyLookup, apiKey: string, timeoutMs: number): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    lookup(apiKey, { signal })
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
  })
}
