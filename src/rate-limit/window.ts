import type { FleetCounter } from './fleet-counter.js'
import { FleetLease } from './fleet-lease.js'
import { type Policy, windowStart } from './policy.js'
import type { Reservations } from './reservations.js'

/**
 * One limit's counts in its current window, on this instance: the requests it admitted, the tokens reported, and
 * with Redis its share of the fleet's count (`lease`). Made once per limit of a key (or virtual key), kept across
 * windows: `roll()` empties it when a later window starts.
 */
export class Window {
  /** Where the window starts, epoch ms. */
  start = Number.NEGATIVE_INFINITY
  /** Requests this instance admitted in the window. */
  used = 0
  /** Tokens reported in the window (with Redis, the fleet's total as last seen, or more). */
  tokens = 0
  /** Whether a request was reported near the limit in the window (`rateLimits.nearLimitAt`): once is enough. */
  near = false
  /** A tokens limit's reservations by requests in flight on this instance, made on first use; kept across windows. */
  reservations: Reservations | null = null
  /**
   * A sliding window (`rateLimits.window: 'sliding'`): what the window before counted (requests, or tokens; with
   * Redis, the fleet's), which weighs on this one by the share of this one left (`carried()`). Always 0 when fixed.
   */
  previous = 0
  /** With Redis: what this instance knows of the fleet's count; `null` counting on this instance alone. */
  readonly lease: FleetLease | null
  /** Whether the window slides (`rateLimits.window: 'sliding'`). */
  readonly sliding: boolean

  constructor(fleet: boolean, sliding: boolean) {
    this.lease = fleet ? new FleetLease() : null
    this.sliding = sliding
  }

  /** What the window counted: requests (with Redis, the fleet's count as last seen, if more) or tokens. */
  count(policy: Policy): number {
    return policy.type === 'tokens' ? this.tokens : Math.max(this.used, this.lease?.count ?? 0)
  }

  /**
   * What the window before still counts at `now`, sliding: its count times the share of this window left, rounded
   * up (so a caller never gets more than the limit over the last `windowMs`, as far as the approximation goes); 0
   * for a fixed window.
   */
  carried(policy: Policy, now: number): number {
    const previous = this.previous
    if (previous === 0) return 0
    return Math.min(previous, Math.ceil((previous * (this.start + policy.windowMs - now)) / policy.windowMs))
  }

  /**
   * Milliseconds from `now` until one more request (a tokens limit: one more token) fits, as far as this instance
   * knows: a fixed window's end; sliding, once the previous window's weight has faded enough, or, for a window that
   * is full itself, once its own weight has faded enough in the next.
   */
  msToRoom(policy: Policy, now: number): number {
    const { quota, windowMs } = policy
    const end = this.start + windowMs
    if (!this.sliding || quota === 0) return end - now
    const used = this.count(policy)
    if (used >= quota) return end + windowMs * (1 - (quota - 1) / used) - now
    return this.previous === 0 ? end - now : end - (windowMs * (quota - used - 1)) / this.previous - now
  }

  /**
   * Moves to the window holding `now`, emptied, if that window is later than this one's. A clock set back a little
   * (an NTP step; with Redis, the first reading of Redis's clock on an instance that was fast, see `FleetClock`) keeps
   * counting in the later window, and its Redis key, rather than handing out the one before afresh. A clock set back
   * by more than a window was wrong before (a Redis clock an hour fast, then corrected): its windows are left, else
   * they would hold the caller's allowance until that clock's time came again.
   */
  roll(policy: Policy, now: number): this {
    const start = windowStart(policy, now)
    if (start > this.start || start < this.start - policy.windowMs) {
      // Sliding: the window ending now goes on weighing on the next, fading; not one further back.
      this.previous = this.sliding && start === this.start + policy.windowMs ? this.count(policy) : 0
      this.start = start
      this.used = this.tokens = 0
      this.near = false
      this.lease?.reset()
    }
    return this
  }

  /** Whether, as far as this instance knows, the limit is reached now: counting nothing, rolling nothing. */
  reached(policy: Policy, fleet: FleetCounter | null, now: number): boolean {
    if (policy.type === 'tokens') return this.tokens + this.carried(policy, now) >= policy.quota
    const lease = this.lease
    if (fleet === null || lease === null || lease.alone(fleet, now)) return this.used + this.carried(policy, now) >= policy.quota
    return this.used >= lease.leased && lease.spent(now)
  }

  /** Gives back one request of a requests limit counted at `at`, if its window is still this one. */
  giveBack(policy: Policy, at: number): void {
    if (policy.type === 'requests' && this.start === windowStart(policy, at) && this.used > 0) this.used--
  }
}
