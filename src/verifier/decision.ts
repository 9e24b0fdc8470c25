import type { CacheStatus } from '../cache/refreshing-cache.js'
import { AuthError, outageCause } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { Decision, DecisionListener, IncomingHeaders, PortkeyAuth } from '../types.js'
import type { Check } from './pipeline.js'
import type { RequestRoute } from './verifier.js'

/**
 * Wraps a check so that `listener` hears each outcome, keeping it synchronous where it was. Without a
 * listener the check runs bare: no clock reads, no event objects.
 */
export function audited(check: Check, listener: DecisionListener | undefined, redisUp: () => boolean | null = () => null) {
  if (listener === undefined)
    return (headers: IncomingHeaders | Headers, route?: RequestRoute) => check(headers, route, undefined)
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
