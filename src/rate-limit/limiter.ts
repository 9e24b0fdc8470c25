import type { MaybePromise } from '../maybe-promise.js'
import { TIMINGS } from '../options/defaults.js'
import type { CheckStatus, Logger, PortkeyAuth, Quota } from '../types.js'
import type { FleetCounter } from './fleet-counter.js'
import { countsTokens, hasLimits, type Policy } from './policy.js'
import { headersOf, RequestQuota, standingsOf } from './quota.js'
import { refusal } from './refusal.js'
import { type Subject, Subjects } from './subjects.js'
import { addTokens, admitsTokens, misreported } from './tokens.js'
import { LimiterWarnings } from './warnings.js'

/** Counters of rate limiting, part of `verifier.stats()`. */
export interface RateLimiterStats {
  /** Keys, tokens and virtual keys whose counters this instance holds now. */
  tracked: number
  /** Requests refused with 429. */
  refused: number
  /** Batches of allowance taken from Redis. */
  leases: number
  /** Requests counted by this instance alone while Redis was away (with the `redis` option). */
  local: number
}

/**
 * Enforces the rate limits of API keys, tokens and virtual keys (their `Subjects`), each counted in its `Window`:
 * fixed, clock-aligned (see `Policy`). Alone, it counts in memory. With a `FleetCounter`, an instance admits from
 * batches of a window's allowance leased from Redis (`FleetLease`), so the fleet never admits more than the limit,
 * in windows of Redis's clock (`FleetClock`), so that instances whose clocks drift apart count in the same ones;
 * while Redis is away it counts alone, each instance up to the whole limit. Tokens limits count reported tokens, and
 * each admitted request reserves an estimate until it reports (tokens.ts). A refused request is counted nowhere.
 */
export class RateLimiter {
  readonly #subjects: Subjects
  readonly #headers: boolean
  readonly #fleet: FleetCounter | null
  readonly #warnings: LimiterWarnings
  readonly #counts = { refused: 0, local: 0 }

  /**
   * @param max - most keys, tokens and virtual keys (each) whose counters are kept; the least recently seen go first
   * @param headers - whether quotas and 429s carry `RateLimit-Policy` and `RateLimit`
   * @param fleet - counters shared by the fleet, or `null` to count on this instance alone
   */
  constructor({ max, headers, fleet, logger }: { max: number; headers: boolean; fleet: FleetCounter | null; logger: Logger }) {
    this.#warnings = new LimiterWarnings(logger)
    this.#subjects = new Subjects(max, fleet !== null, this.#warnings.unenforced)
    this.#headers = headers
    this.#fleet = fleet
  }

  stats(): RateLimiterStats {
    return { tracked: this.#subjects.size, leases: this.#fleet?.leases ?? 0, ...this.#counts }
  }

  /**
   * Counts one request of `auth` against its limits and returns `auth`, having noted in `status` (when given and a
   * limit applies) how it counted and the request's `quota`. Throws 429 when a limit is reached. A promise only
   * when a batch must be asked of Redis.
   */
  admit(auth: PortkeyAuth, now: number, status: CheckStatus | undefined): MaybePromise<PortkeyAuth> {
    if (!hasLimits(auth)) return auth
    const subjects = this.#subjects.of(auth)
    return subjects.length === 0 ? auth : this.#take(auth, subjects, this.#time(now), status, 0)
  }

  /** Throws the 429 of `auth`'s own limits (not its virtual key's) already reached, as far as this instance knows; counts nothing. */
  check(auth: PortkeyAuth, now: number): void {
    const subjects = this.#subjects.of(auth, false)
    if (subjects.length === 0) return
    now = this.#time(now)
    const { policies, windows } = subjects[0]!
    const reached = policies.filter((policy, i) => windows[i]!.roll(policy, now).reached(policy, this.#fleet, now))
    if (reached.length > 0) throw this.#refuse(auth, subjects, reached, now)
  }

  /**
   * The windows' time of `now` (this instance's clock, as `admit()` and `check()` are given it): with Redis, Redis's
   * (see `FleetClock`), one addition; alone, `now` itself. Everything below, and the quotas' `at`, is in this time.
   */
  #time(now: number): number {
    return this.#fleet === null ? now : now + this.#fleet.clock.offset
  }

  /**
   * Gives back a request of `auth` admitted at `at` (the windows' time) and refused after all (`requirePermissions()`)
   * to each requests limit whose window is still the one it was counted in; with Redis, to this instance's batch (not
   * to the fleet).
   */
  refund(auth: PortkeyAuth, at: number): void {
    for (const { policies, windows } of this.#subjects.of(auth)) {
      for (let i = 0; i < policies.length; i++) windows[i]!.giveBack(policies[i]!, at)
    }
  }

  /**
   * `verifier.reportTokens()`: through `of` when it is a request's quota; for a context, no reservation released.
   * Never rejects: anything else (a copy of a quota, an object whose limits cannot be read) is a misuse, `false`.
   */
  reportTokens(of: PortkeyAuth | Quota, tokens: number): Promise<boolean> {
    const counted = RequestQuota.made(of) ? of.reportTokens(tokens) : this.countTokens(of as PortkeyAuth, tokens, null)
    return counted.catch(() => this.#warnings.misreport('a context whose rate limits cannot be read'))
  }

  /**
   * Adds `tokens` to the tokens limits of `auth`'s key and virtual key, and releases what the request of `quota`
   * reserved, once. A misuse is logged (once) and refused, never thrown: a report is usually made after the response,
   * un-awaited, where a rejection would be unhandled and end the process.
   */
  async countTokens(auth: PortkeyAuth, tokens: number, quota: RequestQuota | null): Promise<boolean> {
    const wrong = misreported(auth, tokens)
    if (wrong !== null) return this.#warnings.misreport(wrong)
    RequestQuota.settle(quota, tokens)
    if (tokens === 0 || !countsTokens(auth, this.#warnings.unenforced)) return true
    await addTokens(this.#subjects.of(auth), this.#fleet, tokens, this.#time(Date.now()))
    return true
  }

  #take(auth: PortkeyAuth, subjects: readonly Subject[], now: number, status: CheckStatus | undefined, round: number) {
    const fleet = this.#fleet
    // Made only when needed: a request within its limits allocates neither.
    let refused: Policy[] | null = null
    let batches: Promise<void>[] | null = null
    let alone = fleet === null
    for (const { id, policies, windows } of subjects) {
      for (let i = 0; i < policies.length; i++) {
        const policy = policies[i]!
        const window = windows[i]!.roll(policy, now)
        if (policy.type === 'tokens') {
          if (!admitsTokens(window, policy, fleet, id, now)) refused = push(refused, policy)
          continue
        }
        const leased = fleet === null || window.lease === null ? null : window.lease.admits(fleet, id, policy, window, now)
        if (leased === null) {
          alone = true
          if (window.used >= policy.quota) refused = push(refused, policy)
        } else if (leased instanceof Promise) batches = push(batches, leased)
        else if (!leased) refused = push(refused, policy)
      }
    }
    if (refused === null && batches !== null && round < TIMINGS.leaseRounds) {
      return Promise.all(batches).then(
        (): MaybePromise<PortkeyAuth> => this.#take(auth, subjects, this.#time(Date.now()), status, round + 1),
      )
    }
    if (status !== undefined) status.counting = alone ? 'local' : 'fleet'
    // Out of rounds (every batch taken by other requests first): refused as if exhausted.
    if (refused !== null || batches !== null) throw this.#refuse(auth, subjects, refused ?? [], now)
    if (fleet !== null && alone) this.#counts.local++
    // Counted here, whether a quota is made for it or not; tokens limits hold its estimate only for a quota, which
    // its report releases: with no status to carry one, nothing could, and the estimate would only refuse others.
    const standings = standingsOf(subjects, now, fleet !== null && !alone, true, status !== undefined)
    if (status === undefined) return auth
    const headers = this.#headers ? headersOf(subjects, standings) : null
    status.quota = new RequestQuota(standings, alone ? 'local' : 'fleet', headers, this, auth, now)
    return auth
  }

  #refuse(auth: PortkeyAuth, subjects: readonly Subject[], refused: readonly Policy[], now: number) {
    this.#counts.refused++
    return refusal(auth, subjects, refused, now, this.#fleet !== null, this.#headers)
  }
}

/** `list` with `item` added (a list made only then: only a request refused, or waiting for Redis, makes one). */
const push = <T>(list: T[] | null, item: T): T[] => (list === null ? [item] : [...list, item])
