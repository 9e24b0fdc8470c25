import { authUnavailable, ControlPlaneError, ControlPlaneMisconfigured } from '../errors.js'
import { TIMINGS } from '../options/defaults.js'
import type { RemoteCallObserver } from '../telemetry/remote-calls.js'
import type { Logger } from '../types.js'
import { sleep } from '../platform/timers.js'
import { networkFailure, outageCause } from '../network-error.js'

/** State of the breaker in front of the key service. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** Counters of the guard, part of `verifier.stats()`. */
export interface GuardStats {
  /** The breaker's state now: `closed` (calls go through), `open` (misses answered 503 at once), `half-open` (one probe call). */
  breaker: BreakerState
  /** Misses answered 503 at once because `maxPendingLookups` look-ups were under way. */
  shed: number
  /** Misses answered 503 at once because the breaker was open. */
  shortCircuited: number
  /** Connection errors retried. */
  retries: number
}

export interface GuardConfig {
  /** What the look-ups reach, as the logs name it: the control plane's URL, or the custom lookup. */
  readonly target: string
  readonly timeoutMs: number
  readonly maxPendingLookups: number
  readonly failureThreshold: number
  readonly cooldownMs: number
  readonly logger: Logger
  /** Hears each call and how it ended (telemetry); absent when off. */
  readonly observer?: RemoteCallObserver
}

/**
 * Stands between the caches and the key service: every control-plane call goes through `call()`, which
 * sheds load past `maxPendingLookups`, short-circuits while the breaker is open, enforces `timeoutMs`
 * (also on a custom look-up that ignores its signal), and retries a connection error once, with jitter,
 * inside that same budget. Whatever goes wrong comes out as `AuthError` 503 with `Retry-After`.
 */
export class LookupGuard {
  readonly #config: GuardConfig
  #pending = 0
  #failures = 0
  #openUntil = 0
  #probing = false
  /** Whether a wrong control-plane URL was reported since the last answer that worked: said once, not per request. */
  #misconfigurationLogged = false
  readonly #counts = { shed: 0, shortCircuited: 0, retries: 0 }

  constructor(config: GuardConfig) {
    this.#config = config
  }

  get state(): BreakerState {
    if (this.#failures < this.#config.failureThreshold) return 'closed'
    return Date.now() < this.#openUntil ? 'open' : 'half-open'
  }

  stats(): GuardStats {
    return { breaker: this.state, ...this.#counts }
  }

  /** Runs one control-plane call under the guard's rules; `kind` names it to the observer. */
  async call<T>(lookup: (signal: AbortSignal) => Promise<T>, kind: 'api_key' | 'virtual_key' = 'api_key'): Promise<T> {
    const observed = this.#config.observer?.start(kind)
    const state = this.state
    if (state === 'open' || (state === 'half-open' && this.#probing)) {
      this.#counts.shortCircuited++
      observed?.end('breaker_open')
      throw authUnavailable(
        Math.max(1, Math.ceil((this.#openUntil - Date.now()) / 1000)),
        new ControlPlaneError('circuit breaker open'),
      )
    }
    if (this.#pending >= this.#config.maxPendingLookups) {
      this.#counts.shed++
      observed?.end('shed')
      throw authUnavailable(1, new ControlPlaneError('load shed: maxPendingLookups look-ups under way'))
    }
    const probe = state === 'half-open'
    if (probe) this.#probing = true
    this.#pending++
    try {
      const result = await this.#attempt(lookup)
      this.#succeeded()
      observed?.end(result === null ? 'unknown' : 'found', result)
      return result
    } catch (cause) {
      observed?.end('outage', cause)
      this.#failed(cause)
      throw authUnavailable(1, cause)
    } finally {
      this.#pending--
      if (probe) this.#probing = false
    }
  }

  #succeeded(): void {
    if (this.#failures >= this.#config.failureThreshold)
      this.#config.logger.info('portkey-auth: the control plane answers again: circuit breaker closed')
    this.#failures = 0
    this.#misconfigurationLogged = false
  }

  #failed(cause: unknown): void {
    const { failureThreshold, cooldownMs, logger, target } = this.#config
    if (cause instanceof ControlPlaneMisconfigured && !this.#misconfigurationLogged) {
      this.#misconfigurationLogged = true
      logger.warn(`portkey-auth: ${cause.message} Every look-up fails with 503 until it is fixed.`)
    } else if (this.#failures === 0) {
      // The first of a run of failures (a success ends the run): a wrong URL shows at once.
      logger.warn(`portkey-auth: a key look-up at ${target} failed (${outageCause(cause)}): answered 503 with Retry-After`)
    }
    if (++this.#failures < failureThreshold) return
    this.#openUntil = Date.now() + cooldownMs
    if (this.#failures === failureThreshold) {
      logger.warn(
        `portkey-auth: circuit breaker open: ${failureThreshold} look-ups at ${target} failed in a row (last: ${outageCause(cause)}); ` +
          `misses are answered 503 for ${cooldownMs} ms, cached keys are still served`,
      )
    }
  }

  async #attempt<T>(lookup: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.#config.timeoutMs)
    try {
      return await deadline(lookup, signal)
    } catch (error) {
      // A refused or dropped connection only: not a timeout (the budget is spent), nor an answer.
      if (signal.aborted || networkFailure(error)?.retryable !== true) throw error
      this.#counts.retries++
      const { min, max } = TIMINGS.retryJitterMs
      await sleep(min + Math.random() * (max - min), { signal })
      return await deadline(lookup, signal)
    }
  }
}

/** Runs a look-up that must settle by the time `signal` aborts, whether or not it listens to it. */
function deadline<T>(lookup: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    // Through a promise, so that a look-up that throws synchronously fails like any other.
    Promise.resolve(signal)
      .then(lookup)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
  })
}
