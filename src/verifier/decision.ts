import { AuthError, type AuthErrorCode } from '../errors.js'
import { outageCause } from '../network-error.js'
import type { MaybePromise } from '../maybe-promise.js'
import { NO_NAMES, RequestQuota } from '../rate-limit/quota.js'
import type { DecisionCounter } from '../telemetry/decisions.js'
import type { CheckStatus, Decision, DecisionListener, IncomingHeaders, PortkeyAuth, RequestRoute } from '../types.js'
import type { Check } from './check.js'

/** A check as the verifier offers it: `route` and `status` optional. */
export type AuditedCheck = (
  headers: IncomingHeaders | Headers,
  route?: RequestRoute,
  status?: CheckStatus,
) => MaybePromise<PortkeyAuth>

/**
 * Wraps a check so that `listener` hears each outcome, and `counter` (telemetry's) counts it, keeping it
 * synchronous where it was. Without either the check runs bare: no clock reads, no event objects. With the
 * counter alone, a request costs an increment, and one small status object when the caller gave none: still no
 * clock read, no event. Either reads the caller's status when there is one (an adapter's, which carries the quota).
 */
export function audited(
  check: Check,
  listener: DecisionListener | undefined,
  redisUp: () => boolean | null = () => null,
  counter?: DecisionCounter,
): AuditedCheck {
  if (listener === undefined) {
    if (counter === undefined) return check
    return counted(check, counter)
  }
  const emit = (decision: Reported, started: number, status: CheckStatus, cause: string | null = null) => {
    const quota = decision.admitted ? ownQuota(status) : null
    try {
      listener({
        ...decision,
        redis: redisUp(),
        durationMs: performance.now() - started,
        cause,
        counting: status.counting ?? null,
        rateLimits: quota?.limits ?? null,
        nearLimit: quota?.nearLimit ?? NO_NAMES,
        overLimit: status.overLimit ?? NO_NAMES,
      })
    } catch {
      // An audit hook must never be the reason a request fails.
    }
  }
  return function auditedCheck(headers, route, given) {
    const started = performance.now()
    const status: CheckStatus = given ?? { cache: 'none' }
    const admitted = (auth: PortkeyAuth) => {
      if (given === undefined) unseen(status)
      const { keyId, method, virtualKey } = auth
      if (counter !== undefined) admittedTo(counter, method, status)
      emit(
        { admitted: true, status: 200, code: null, keyId, method, virtualKey: virtualKey?.slug ?? null, cache: status.cache },
        started,
        status,
      )
      return auth
    }
    const refused = (error: unknown): never => {
      const known = error instanceof AuthError
      const [code, httpStatus] = known ? [error.code, error.status] : [null, 500]
      if (counter !== undefined) refusedTo(counter, code, status)
      const refusal = {
        admitted: false,
        status: httpStatus,
        code,
        keyId: null,
        method: null,
        virtualKey: null,
        cache: status.cache,
      }
      emit(refusal, started, status, httpStatus === 503 ? outageCause((error as AuthError).cause) : null)
      throw error
    }
    let result: MaybePromise<PortkeyAuth>
    try {
      result = check(headers, route, status)
    } catch (error) {
      return refused(error)
    }
    return result instanceof Promise ? result.then(admitted, refused) : admitted(result)
  }
}

/**
 * The check with only the counter listening: the cache state noted per call, nothing else. The cached
 * (synchronous) path makes no closure, and one small object only when the caller gave no status.
 */
function counted(check: Check, counter: DecisionCounter): AuditedCheck {
  const refused = (error: unknown, status: CheckStatus): never => {
    refusedTo(counter, error instanceof AuthError ? error.code : null, status)
    throw error
  }
  return function countedCheck(headers, route, given) {
    const status: CheckStatus = given ?? { cache: 'none' }
    let result: MaybePromise<PortkeyAuth>
    try {
      result = check(headers, route, status)
    } catch (error) {
      return refused(error, status)
    }
    if (result instanceof Promise)
      return result.then(
        (auth) => {
          if (given === undefined) unseen(status)
          admittedTo(counter, auth.method, status)
          return auth
        },
        (error: unknown) => refused(error, status),
      )
    if (given === undefined) unseen(status)
    admittedTo(counter, result.method, status)
    return result
  }
}

/** What `audited()` reports of a decision beside the status and the clock. */
type Reported = Omit<Decision, 'redis' | 'durationMs' | 'cause' | 'counting' | 'rateLimits' | 'nearLimit' | 'overLimit'>

/** The quota the limiter left in `status` (a quota this package made; not one the caller put there). */
const ownQuota = (status: CheckStatus): RequestQuota | null => (RequestQuota.made(status.quota) ? status.quota : null)

/** Counts a refused request, and (shadow mode) a limit it was over though refused for something else. */
function refusedTo(counter: DecisionCounter, code: AuthErrorCode | null, status: CheckStatus): void {
  counter.refused(code, status.cache)
  if (status.overLimit !== undefined && code !== 'rate_limit_exceeded') counter.limits(NO_NAMES, true)
}

/** Counts an admitted request, and what its limits said when a request was near one or over one (shadow mode). */
function admittedTo(counter: DecisionCounter, method: PortkeyAuth['method'], status: CheckStatus): void {
  counter.admitted(method, status.cache)
  const quota = status.quota
  if (quota == null || !RequestQuota.made(quota) || (quota.nearLimit.length === 0 && quota.overLimit.length === 0)) return
  counter.limits(quota.nearLimit, quota.overLimit.length > 0)
}

/**
 * A status made here, for a caller that gave none: the quota the limiter noted in it reaches nobody, so nobody could
 * report through it; what it reserved is released at once (as the limiter reserves nothing given no status).
 */
function unseen(status: CheckStatus): void {
  if (status.quota != null) RequestQuota.settle(status.quota, null)
}
