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
  /** With Redis: what this instance knows of the fleet's count; `null` counting on this instance alone. */
  readonly lease: FleetLease | null

  constructor(fleet: boolean) {
    this.lease = fleet ? new FleetLease() : null
  }

  /**
   * Moves to the window holding `now`, emptied, if that window is later than this one's. A clock set back (an NTP
   * step; with Redis, the first reading of Redis's clock on an instance that was fast, see `FleetClock`) keeps
   * counting in the later window, and its Redis key, rather than handing out an earlier one afresh.
   */
  roll(policy: Policy, now: number): this {
    const start = windowStart(policy, now)
    if (start > this.start) {
      this.start = start
      this.used = this.tokens = 0
      this.near = false
      this.lease?.reset()
    }
    return this
  }

  /** Whether, as far as this instance knows, the limit is reached now: counting nothing, rolling nothing. */
  reached(policy: Policy, fleet: FleetCounter | null, now: number): boolean {
    if (policy.type === 'tokens') return this.tokens >= policy.quota
    const lease = this.lease
    if (fleet === null || lease === null || lease.alone(fleet, now)) return this.used >= policy.quota
    return this.used >= lease.leased && lease.exhausted
  }

  /** Gives back one request of a requests limit counted at `at`, if its window is still this one. */
  giveBack(policy: Policy, at: number): void {
    if (policy.type === 'requests' && this.start === windowStart(policy, at) && this.used > 0) this.used--
  }
}
