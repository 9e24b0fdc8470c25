import type { CacheStatus } from '../cache/refreshing-cache.js'
import { AuthError } from '../errors.js'
import { outageCause } from '../lookup/network-error.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { DecisionCounter } from '../telemetry/decisions.js'
import type { Decision, DecisionListener, IncomingHeaders, PortkeyAuth } from '../types.js'
import type { Check } from './check.js'
import type { RequestRoute } from './verifier.js'

/**
 * Wraps a check so that `listener` hears each outcome, and `counter` (telemetry's) counts it, keeping it
 * synchronous where it was. Without either the check runs bare: no clock reads, no event objects. With the
 * counter alone, a request costs one small status object and an increment: still no clock read, no event.
 */
export function audited(
  check: Check,
  listener: DecisionListener | undefined,
  redisUp: () => boolean | null = () => null,
  counter?: DecisionCounter,
) {
  if (listener === undefined) {
    if (counter === undefined)
      return (headers: IncomingHeaders | Headers, route?: RequestRoute) => check(headers, route, undefined)
    return counted(check, counter)
  }
  const emit = (
    decision: Omit<Decision, 'redis' | 'durationMs' | 'cause' | 'counting'>,
    started: number,
    status: CacheStatus,
    cause: string | null = null,
  ) => {
    try {
      listener({
        ...decision,
        redis: redisUp(),
        durationMs: performance.now() - started,
        cause,
        counting: status.counting ?? null,
      })
    } catch {
      // An audit hook must never be the reason a request fails.
    }
  }
  return function auditedCheck(headers: IncomingHeaders | Headers, route?: RequestRoute): MaybePromise<PortkeyAuth> {
    const started = performance.now()
    const status: CacheStatus = { cache: 'none' }
    const admitted = (auth: PortkeyAuth) => {
      const { keyId, method, virtualKey } = auth
      counter?.admitted(method, status.cache)
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
      counter?.refused(code, status.cache)
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
 * (synchronous) path makes one small object and no closure.
 */
function counted(check: Check, counter: DecisionCounter) {
  const refused = (error: unknown, status: CacheStatus): never => {
    counter.refused(error instanceof AuthError ? error.code : null, status.cache)
    throw error
  }
  return function countedCheck(headers: IncomingHeaders | Headers, route?: RequestRoute): MaybePromise<PortkeyAuth> {
    const status: CacheStatus = { cache: 'none' }
    let result: MaybePromise<PortkeyAuth>
    try {
      result = check(headers, route, status)
    } catch (error) {
      return refused(error, status)
    }
    if (result instanceof Promise)
      return result.then(
        (auth) => {
          counter.admitted(auth.method, status.cache)
          return auth
        },
        (error: unknown) => refused(error, status),
      )
    counter.admitted(result.method, status.cache)
    return result
  }
}
