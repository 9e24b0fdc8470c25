import type { PortkeyAuth, Quota, RateLimitHeaders, RateLimitStatus } from '../types.js'
import type { Policy } from './policy.js'
import type { Reservations } from './reservations.js'
import type { Subject } from './subjects.js'
import type { Window } from './window.js'

/** One limit's numbers at the moment a request is decided. */
export interface Standing {
  readonly policy: Policy
  readonly remaining: number
  readonly resetSeconds: number
  /** A tokens limit of an admitted request: where it reserved `held` tokens, in `part` (see `Reservations`). */
  readonly reservations?: Reservations
  readonly held?: number
  readonly part?: number
}

/** No limit's name: a quota's `nearLimit` and `overLimit`, and a decision's, when none is (shared, frozen). */
export const NO_NAMES: readonly string[] = Object.freeze([])

/** Whole seconds from `now` to the end of the window that started at `start` (at least 1). */
export const secondsLeft = (policy: Policy, start: number, now: number): number =>
  Math.max(1, Math.ceil((start + policy.windowMs - now) / 1000))

/**
 * `RateLimit-Policy` (the key's limits, then the virtual key's, each subject's made with its policies) and
 * `RateLimit` (`"rpm";r=598;t=42`, comma-separated, each entry's start made with its policy) of a request counted
 * against `subjects`.
 */
export function headersOf(subjects: readonly Subject[], standings: readonly Standing[]): RateLimitHeaders {
  let state = ''
  for (const { policy, remaining, resetSeconds } of standings)
    state += `${state && ', '}${policy.stateKey}${remaining};t=${resetSeconds}`
  const policies = subjects.length === 1 ? subjects[0]!.policyHeader : subjects.map((s) => s.policyHeader).join(', ')
  return { 'ratelimit-policy': policies, ratelimit: state }
}

/**
 * Every limit's numbers now, the key's then the virtual key's. `shared`: counted with Redis (what is left is then
 * this instance's view of the fleet's, see `RateLimitStatus`). `admitted`: for a request admitted now, which they
 * count (all but those `uncounted`): one more in each requests limit's window, its estimate held in each tokens
 * limit's (see `Reservations`) when `reserve`: only a request whose quota someone holds can release it, by its report.
 */
export function standingsOf(
  subjects: readonly Subject[],
  now: number,
  shared: boolean,
  admitted = false,
  reserve = admitted,
  uncounted?: (policy: Policy) => boolean,
): Standing[] {
  const standings: Standing[] = []
  for (const { policies, windows } of subjects) {
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i]!
      const window = windows[i]!
      const counts = admitted && (uncounted === undefined || !uncounted(policy))
      if (counts && policy.type === 'requests') window.used++
      standings.push(standing(policy, window, now, shared, counts && reserve))
    }
  }
  return standings
}

/** `reserve`: a tokens limit holds the request's estimate. */
function standing(policy: Policy, window: Window, now: number, shared: boolean, reserve: boolean): Standing {
  const resetSeconds = secondsLeft(policy, window.start, now)
  const carried = window.carried(policy, now)
  if (policy.type === 'tokens') {
    const remaining = Math.max(0, policy.quota - window.tokens - carried)
    const reservations = window.reservations
    if (!reserve || reservations === null) return { policy, remaining, resetSeconds }
    const held = reservations.estimate(policy.quota)
    return { policy, remaining, resetSeconds, reservations, held, part: reservations.hold(held) }
  }
  let remaining = policy.quota - window.used
  // With Redis: what the fleet had left when this instance last asked, less what this instance admitted since.
  const lease = window.lease
  if (shared && lease !== null && lease.count > 0)
    remaining = Math.min(remaining, policy.quota - lease.count + lease.leased - window.used)
  return { policy, remaining: Math.max(0, remaining - carried), resetSeconds }
}

/** Whoever counts reported tokens for a context, and gives back a refused request's allowance: the limiter. */
export interface TokenCounter {
  countTokens(auth: PortkeyAuth, tokens: number, quota: RequestQuota, subjects: readonly Subject[]): Promise<boolean>
  /** `shadowed`: the request was admitted over shadowed limits, so the enforced ones alone counted it. */
  refund(subjects: readonly Subject[], at: number, shadowed: boolean): void
}

/**
 * The quota of one request, beside its (shared) context `auth`: built per request of a limited key, so it does
 * only what every request needs (the least remaining, the headers) and describes each limit (`limits`) when asked.
 */
export class RequestQuota implements Quota {
  readonly remaining: number
  readonly resetSeconds: number
  readonly counting: 'local' | 'fleet'
  readonly headers: RateLimitHeaders | null
  readonly nearLimit: readonly string[]
  readonly overLimit: readonly string[]
  readonly #standings: readonly Standing[]
  readonly #counter: TokenCounter
  readonly #auth: PortkeyAuth
  readonly #subjects: readonly Subject[]
  readonly #at: number
  #refunded = false
  #limits: readonly RateLimitStatus[] | undefined
  /** Whether its reservations were released (by a report, or a refusal after admission). */
  #settled = false

  constructor(
    standings: readonly Standing[],
    counting: 'local' | 'fleet',
    headers: RateLimitHeaders | null,
    counter: TokenCounter,
    auth: PortkeyAuth,
    subjects: readonly Subject[],
    at: number,
    nearLimit: readonly string[],
    overLimit: readonly string[],
  ) {
    let least = standings[0]!
    for (const standing of standings) if (standing.remaining < least.remaining) least = standing
    this.remaining = least.remaining
    this.resetSeconds = least.resetSeconds
    this.counting = counting
    this.headers = headers
    this.nearLimit = nearLimit
    this.overLimit = overLimit
    this.#standings = standings
    this.#counter = counter
    this.#auth = auth
    this.#subjects = subjects
    this.#at = at
  }

  /** Whether `value` is a quota this package made: one copied, even keeping its prototype, is not. */
  static made(value: unknown): value is RequestQuota {
    return typeof value === 'object' && value !== null && #auth in value
  }

  /**
   * Gives back the allowance the request of this quota (when `value` is one) was counted against, once: for a
   * request refused after the guard admitted it (`requirePermissions()`), whose context is `auth`. A quota found
   * beside another caller's context (put there by the app, or left by another check) gives nothing back; one beside
   * a copy of its own (a verifier of the app's that decorates contexts) does. One of a request over shadowed limits
   * (admitted) gives back only to the enforced limits, which alone counted it: in shadow mode, nothing.
   */
  static refund(value: unknown, auth: PortkeyAuth | undefined): void {
    if (!RequestQuota.made(value) || value.#refunded || auth === undefined) return
    const quota = value
    const own = quota.#auth
    if (own !== auth && (own.keyId !== auth.keyId || own.organisationId !== auth.organisationId || own.method !== auth.method))
      return
    quota.#refunded = true
    quota.#counter.refund(quota.#subjects, quota.#at, quota.overLimit.length > 0)
    RequestQuota.settle(quota, null)
  }

  /**
   * Releases the tokens reserved for the request whose quota `value` is, once (a second call does nothing), and
   * teaches its tokens limits' estimates `tokens`, if reported (`null` for a request refused after admission).
   */
  static settle(value: unknown, tokens: number | null): void {
    if (!RequestQuota.made(value) || value.#settled) return
    const quota = value
    quota.#settled = true
    for (const { reservations, held, part } of quota.#standings) {
      if (reservations === undefined) continue
      reservations.release(part!, held!)
      if (tokens !== null) reservations.learn(tokens)
    }
  }

  get limits(): readonly RateLimitStatus[] {
    this.#limits ??= Object.freeze(
      this.#standings.map(({ policy, remaining, resetSeconds }) =>
        Object.freeze({
          name: policy.name,
          scope: policy.scope,
          type: policy.type,
          unit: policy.unit,
          limit: policy.quota,
          remaining,
          resetSeconds,
          windowSeconds: policy.windowMs / 1000,
          usage: policy.quota === 0 ? 1 : (policy.quota - remaining) / policy.quota,
        }),
      ),
    )
    return this.#limits
  }

  reportTokens(tokens: number): Promise<boolean> {
    return this.#counter.countTokens(this.#auth, tokens, this, this.#subjects)
  }

  /** What `JSON.stringify` writes: every field, `limits` included. */
  toJSON() {
    const { limits, remaining, resetSeconds, counting, headers, nearLimit, overLimit } = this
    return { limits, remaining, resetSeconds, counting, headers, nearLimit, overLimit }
  }
}
