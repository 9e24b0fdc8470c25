import type { MaybePromise } from '../maybe-promise.js'
import type { LimitGroup } from './app-limits.js'
import { TIMINGS } from '../options/defaults.js'
import type { CheckStatus, LimitCount, LimitHolder, Logger, PortkeyAuth, Quota, RequestRoute } from '../types.js'
import type { FleetCounter } from './fleet-counter.js'
import { heldCounters } from './holders.js'
import { countsTokens, hasLimits, type Policy, windowStart } from './policy.js'
import { headersOf, NO_NAMES, RequestQuota, secondsLeft, type Standing, standingsOf } from './quota.js'
import { refusal } from './refusal.js'
import { type Subject, Subjects, windowOf } from './subjects.js'
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
  /** Requests shadowed limits would have refused, admitted (`rateLimits.mode`, or a limit's own `mode`: `'shadow'`). */
  shadowed: number
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
  readonly #shadow: boolean
  readonly #sliding: boolean
  readonly #nearLimitAt: number
  readonly #counts = { refused: 0, local: 0, shadowed: 0 }
  /** The statuses a `check()` noted over shadowed limits, counted in `shadowed` then (not a status's own field). */
  readonly #noted = new WeakSet<CheckStatus>()
  /** Whether `policy` is shadowed: by its own mode (an app's limit given one), else by the verifier's. */
  readonly #shadows = (policy: Policy): boolean => policy.shadow ?? this.#shadow

  /**
   * @param max - most keys, tokens and virtual keys (each) whose counters are kept; the least recently seen go first
   * @param headers - whether quotas and 429s carry `RateLimit-Policy` and `RateLimit`
   * @param shadow - admit what a limit refuses, reporting it as refused (`rateLimits.mode: 'shadow'`), for every
   *   limit but an app's limit given a mode of its own
   * @param nearLimitAt - the share of a limit at which a request is reported near it (`rateLimits.nearLimitAt`)
   * @param sliding - count in sliding windows (`rateLimits.window: 'sliding'`), not fixed ones
   * @param app - the app's own limits (`rateLimits.limits`), grouped; `null` for none
   * @param fleet - counters shared by the fleet, or `null` to count on this instance alone
   */
  constructor({ max, headers, shadow, nearLimitAt, sliding, app, fleet, logger }: LimiterSettings) {
    this.#warnings = new LimiterWarnings(logger)
    this.#subjects = new Subjects(max, fleet !== null, sliding, this.#warnings.unenforced, app)
    this.#headers = headers
    this.#shadow = shadow
    this.#sliding = sliding
    this.#nearLimitAt = nearLimitAt
    this.#fleet = fleet
  }

  /** Whether some of the app's limits are bound to a route: requests must then be checked with theirs. */
  get routed(): boolean {
    return this.#subjects.routed
  }

  stats(): RateLimiterStats {
    return { tracked: this.#subjects.size, leases: this.#fleet?.leases ?? 0, ...this.#counts }
  }

  /**
   * Counts one request of `auth` against its limits and returns `auth`, having noted in `status` (when given and a
   * limit applies) how it counted and the request's `quota`. Throws 429 when a limit is reached. A promise only
   * when a batch must be asked of Redis.
   */
  admit(auth: PortkeyAuth, now: number, status: CheckStatus | undefined, route?: RequestRoute): MaybePromise<PortkeyAuth> {
    if (!hasLimits(auth) && this.#subjects.app === null) return auth
    // A limit bound to a route must not be dodged by a path a router reads as that route: 400 (see Subjects#of).
    const subjects = this.#subjects.of(auth, true, route)
    return subjects.length === 0 ? auth : this.#take(auth, subjects, this.#time(now), status, 0)
  }

  /**
   * Throws the 429 of `auth`'s own limits (not its virtual key's) already reached, as far as this instance knows
   * (when only shadowed ones are, notes them in `status.overLimit` and goes on); counts nothing.
   */
  check(auth: PortkeyAuth, now: number, status: CheckStatus | undefined, route?: RequestRoute): void {
    const subjects = this.#subjects.of(auth, false, route)
    if (subjects.length === 0) return
    now = this.#time(now)
    let over: Policy[] | null = null
    for (const { policies, windows } of subjects) {
      for (let i = 0; i < policies.length; i++) {
        const policy = policies[i]!
        if (windows[i]!.roll(policy, now).reached(policy, this.#fleet, now)) over = push(over, policy)
      }
    }
    if (over === null) return
    this.#refuseIfEnforced(auth, subjects, over, now, status)
    // Shadowed alone: said and counted now, as a 429 would be (a look-up that then fails still reports it); the
    // admission that follows counts it no more (see #take).
    if (status !== undefined) {
      status.overLimit = over.map((policy) => policy.name)
      this.#noted.add(status)
      this.#counts.shadowed++
    }
  }

  /**
   * The windows' time of `now` (this instance's clock, as `admit()` and `check()` are given it): with Redis, Redis's
   * (see `FleetClock`), one addition; alone, `now` itself. Everything below, and the quotas' `at`, is in this time.
   */
  #time(now: number): number {
    return this.#fleet === null ? now : now + this.#fleet.clock.offset
  }

  /**
   * Gives back a request admitted at `at` (the windows' time) against `subjects` and refused after all
   * (`requirePermissions()`) to each requests limit whose window is still the one it was counted in; with Redis, to
   * this instance's batch (not to the fleet).
   */
  refund(subjects: readonly Subject[], at: number, shadowed: boolean): void {
    for (const { policies, windows } of subjects) {
      for (let i = 0; i < policies.length; i++) {
        const policy = policies[i]!
        // Over a shadowed limit, it was counted by the enforced limits alone (see #take).
        if (!shadowed || !this.#shadows(policy)) windows[i]!.giveBack(policy, at)
      }
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
   * Adds `tokens` to the tokens limits of `subjects` (a request's, those its quota was counted against), else of
   * `auth`'s key, virtual key and the app's limits bound to no route; and releases what the request of `quota`
   * reserved, once. A misuse is logged (once) and refused, never thrown: a report is usually made after the response,
   * un-awaited, where a rejection would be unhandled and end the process.
   */
  async countTokens(
    auth: PortkeyAuth,
    tokens: number,
    quota: RequestQuota | null,
    subjects?: readonly Subject[],
  ): Promise<boolean> {
    const wrong = misreported(auth, tokens)
    if (wrong !== null) return this.#warnings.misreport(wrong)
    RequestQuota.settle(quota, tokens)
    if (tokens === 0) return true
    if (subjects === undefined && this.#subjects.app === null && !countsTokens(auth, this.#warnings.unenforced)) return true
    await addTokens(subjects ?? this.#subjects.of(auth), this.#fleet, tokens, this.#time(Date.now()))
    return true
  }

  /**
   * The counters of `holder` in their current windows (`verifier.rateLimitStanding()`): with Redis, the fleet's (a
   * rejection when Redis cannot answer); alone, this instance's. Only counters with something counted are listed.
   */
  async standing(holder: LimitHolder): Promise<LimitCount[]> {
    const { id, name, policies } = heldCounters(holder, this.#subjects.app)
    const now = this.#time(Date.now())
    const fleet = this.#fleet
    const held = this.#subjects.find(name)
    const counts = await Promise.all(
      policies.map(async (policy) => {
        const start = windowStart(policy, now)
        if (fleet !== null) return fleet.read(fleet.key(id, policy.name, start))
        const window = windowOf(held, policy.name)
        if (window === undefined || window.start !== start) return 0
        return policy.type === 'tokens' ? window.tokens : window.used
      }),
    )
    return policies.flatMap((policy, i) => {
      const used = counts[i]!
      const { name, type, unit } = policy
      return used === 0 ? [] : [{ name, type, unit, used, resetSeconds: secondsLeft(policy, windowStart(policy, now), now) }]
    })
  }

  /**
   * Resets the counters of `holder` (`verifier.resetRateLimits()`): this instance forgets them, and with Redis their
   * current windows are deleted (rejects when Redis cannot answer). Resolves to their name, for the other instances
   * to `forget()` too.
   */
  async reset(holder: LimitHolder): Promise<string> {
    const { id, name, policies } = heldCounters(holder, this.#subjects.app)
    this.#subjects.forget(name)
    const fleet = this.#fleet
    if (fleet !== null) {
      const now = this.#time(Date.now())
      // Sliding, the window before too: every instance reads it again once a window, and it would weigh on the fresh one.
      const starts = (policy: Policy) => {
        const start = windowStart(policy, now)
        return this.#sliding ? [start, start - policy.windowMs] : [start]
      }
      await fleet.remove(policies.flatMap((policy) => starts(policy).map((start) => fleet.key(id, policy.name, start))))
    }
    // Forgotten again: a request counted while Redis answered made the subject anew, with what it leased before.
    this.#subjects.forget(name)
    return name
  }

  /** Forgets the counters named `name` on this instance: another instance reset them. */
  forget(name: string): void {
    this.#subjects.forget(name)
  }

  /**
   * Counts a request against `subjects`' limits, asking Redis for batches `round` times at most. A request over
   * limits (`over`) that are all shadowed is admitted, and counted by the enforced limits alone: as if refused by
   * those shadowed (which therefore count it no more), but really served, so the enforced ones must still fill.
   */
  #take(auth: PortkeyAuth, subjects: readonly Subject[], now: number, status: CheckStatus | undefined, round: number) {
    const fleet = this.#fleet
    // Out of rounds, a limit whose batch has not come (every batch taken by other requests first) is over, as if
    // exhausted.
    const last = round >= TIMINGS.leaseRounds
    // Made only when needed: a request within its limits allocates neither.
    let over: Policy[] | null = null
    let batches: Promise<void>[] | null = null
    // Whether an enforced limit's batch is among them: over shadowed limits, only those can still refuse it.
    let enforcedWaits = false
    let alone = fleet === null
    for (const { id, policies, windows } of subjects) {
      for (let i = 0; i < policies.length; i++) {
        const policy = policies[i]!
        const window = windows[i]!.roll(policy, now)
        if (policy.type === 'tokens') {
          const admits = admitsTokens(window, policy, fleet, id, now)
          if (admits instanceof Promise) {
            if (last) over = push(over, policy)
            else {
              batches = push(batches, admits)
              enforcedWaits ||= !this.#shadows(policy)
            }
          } else if (!admits) over = push(over, policy)
          continue
        }
        const leased = fleet === null || window.lease === null ? null : window.lease.admits(fleet, id, policy, window, now)
        if (leased === null) {
          alone = true
          if (window.used + window.carried(policy, now) >= policy.quota) over = push(over, policy)
        } else if (leased instanceof Promise) {
          if (last) over = push(over, policy)
          else {
            batches = push(batches, leased)
            enforcedWaits ||= !this.#shadows(policy)
          }
        } else if (!leased) over = push(over, policy)
      }
    }
    // An enforced limit over refuses it now; over shadowed limits only, only the enforced ones' batches are waited for
    // (the request is counted by no shadowed limit then).
    if (batches !== null && (over === null || (enforcedWaits && over.every(this.#shadows)))) {
      return Promise.all(batches).then(
        (): MaybePromise<PortkeyAuth> => this.#take(auth, subjects, this.#time(Date.now()), status, round + 1),
      )
    }
    const counting = alone ? 'local' : 'fleet'
    if (status !== undefined) status.counting = counting
    if (over !== null) this.#refuseIfEnforced(auth, subjects, over, now, status)
    // Counted by a shadow `check()` of this request when it noted it (and then, not over after all: not now).
    const noted = status !== undefined && status.overLimit !== undefined && this.#noted.delete(status)
    if (over !== null && !noted) this.#counts.shadowed++
    else if (over === null && noted) this.#counts.shadowed--
    if (fleet !== null && alone) this.#counts.local++
    // Counted here, whether a quota is made for it or not; tokens limits hold its estimate only for a quota, which
    // its report releases: with no status to carry one, nothing could, and the estimate would only refuse others.
    // Over shadowed limits, by the enforced ones alone.
    const uncounted = over === null ? undefined : this.#shadows
    const standings = standingsOf(subjects, now, fleet !== null && !alone, true, status !== undefined, uncounted)
    // Said only where someone hears it: a request checked with no status would spend the window's one event.
    if (status === undefined) return auth
    const overLimit = over === null ? NO_NAMES : over.map((policy) => policy.name)
    // Written only when there is something to say (or to take back, on a status a check() noted or a caller reused).
    if (over !== null || status.overLimit !== undefined) status.overLimit = over === null ? undefined : overLimit
    const near = this.#near(subjects, standings, uncounted)
    const headers = this.#headers ? headersOf(subjects, standings) : null
    status.quota = new RequestQuota(standings, counting, headers, this, auth, subjects, now, near, overLimit)
    return auth
  }

  /**
   * Throws the 429 of a request over the limits `over` if one of them is enforced (naming those), counted nowhere,
   * with every limit it is over in `status.overLimit`; returns when all are shadowed.
   */
  #refuseIfEnforced(
    auth: PortkeyAuth,
    subjects: readonly Subject[],
    over: readonly Policy[],
    now: number,
    status: CheckStatus | undefined,
  ): void {
    const shadows = this.#shadows
    if (over.every(shadows)) return
    if (status !== undefined) {
      // Noted as over shadowed limits by a shadow `check()` of this request, and admitted then: refused after all.
      if (status.overLimit !== undefined && this.#noted.delete(status)) this.#counts.shadowed--
      status.overLimit = over.map((policy) => policy.name)
    }
    this.#counts.refused++
    const refused = over.filter((policy) => !shadows(policy))
    throw refusal(auth, subjects, refused, now, this.#fleet !== null, this.#headers)
  }

  /**
   * The names of the limits this admitted request took to `nearLimitAt` of their allowance, each once per window:
   * `standings` are the subjects' limits in order; those `uncounted` (they did not count it) are not. Allocates only
   * when one is reached.
   */
  #near(
    subjects: readonly Subject[],
    standings: readonly Standing[],
    uncounted?: (policy: Policy) => boolean,
  ): readonly string[] {
    let near: string[] | null = null
    let k = 0
    for (const { windows } of subjects) {
      for (const window of windows) {
        const { policy, remaining } = standings[k++]!
        if (window.near || uncounted?.(policy) || policy.quota - remaining < policy.quota * this.#nearLimitAt) continue
        window.near = true
        near = push(near, policy.name)
      }
    }
    return near ?? NO_NAMES
  }
}

/** What a `RateLimiter` is made with (see its constructor). */
interface LimiterSettings {
  max: number
  headers: boolean
  shadow: boolean
  nearLimitAt: number
  sliding: boolean
  app: readonly LimitGroup[] | null
  fleet: FleetCounter | null
  logger: Logger
}

/** `list` with `item` added (a list made only then: only a request refused, or waiting for Redis, makes one). */
const push = <T>(list: T[] | null, item: T): T[] => (list === null ? [item] : [...list, item])
