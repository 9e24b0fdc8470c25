import { TIMINGS } from '../options/defaults.js'
import type { FleetCounter } from './fleet-counter.js'
import type { Policy } from './policy.js'

/**
 * What a lease reads of the window it belongs to (a `Window`): where it starts, what this instance admitted, and,
 * sliding, the window before's count (which it learns from Redis) and weight.
 */
interface Counted {
  readonly start: number
  readonly used: number
  readonly sliding: boolean
  previous: number
  carried(policy: Policy, now: number): number
}

/**
 * What this instance knows of the fleet's count of one limit's window, with Redis. For a requests limit: the batch
 * of the window's allowance Redis granted this instance (an eighth of what is left, at most `TIMINGS.leaseMax`; it
 * admits from it with no round trip, so the fleet never admits more than the limit, and may refuse early by what
 * other instances hold unused), the fleet's count when it last asked, whether nothing was left then, and the batch
 * being asked for. For a tokens limit: when the fleet's count was last read. For both: until when it counts alone
 * after a Redis call failed; what it admitted alone is owed to the fleet, taken from its next batch.
 */
export class FleetLease {
  /** The allowance Redis granted this instance in the window, in requests. */
  leased = 0
  /** The fleet's count when this instance last asked. */
  count = 0
  /** Nothing was left in the window when this instance last asked (see `spent()`). */
  exhausted = false
  /** Sliding: when the previous window's weight will have faded enough to ask again (epoch ms, Redis's clock). */
  retryAt = Number.POSITIVE_INFINITY
  /** Sliding: whether the fleet's count of the previous window was read (once a window). */
  previousRead = false
  /** The batch being asked for, shared by every request that waits for it. */
  pending: Promise<void> | null = null
  /** Until then (epoch ms, Redis's clock), count alone: Redis failed, and is not asked again at once. */
  offlineUntil = 0
  /** A tokens limit: when the fleet's count was last read (epoch ms, Redis's clock). */
  syncedAt = 0

  /** Empties it for a new window; a batch under way, or Redis away, stays known. */
  reset(): void {
    this.leased = this.count = this.syncedAt = 0
    this.exhausted = this.previousRead = false
    this.retryAt = Number.POSITIVE_INFINITY
  }

  /** Whether nothing is left for this instance to ask for now: the window is exhausted, and (sliding) still is. */
  spent(now: number): boolean {
    return this.exhausted && now < this.retryAt
  }

  /** Whether this instance counts alone `now` (Redis's clock): Redis failed lately, or is not connected. */
  alone(fleet: FleetCounter, now: number): boolean {
    // A pause further off than one pause can be is of a clock since moved back (the fleet clock read again after a
    // failover): over, rather than counting alone for as long as the step.
    const left = this.offlineUntil - now
    return (left > 0 && left <= 2 * TIMINGS.rateLimitOfflineMs) || !fleet.connected
  }

  /** Notes that a Redis call failed: the limit is counted alone for `TIMINGS.rateLimitOfflineMs`. */
  failed(fleet: FleetCounter): void {
    this.offlineUntil = fleet.now() + TIMINGS.rateLimitOfflineMs
  }

  /**
   * What this instance's share says of one more request of a requests limit (`window` rolled to `now`): `true`
   * within its batch (no round trip), `false` when Redis had nothing left, `null` when counting alone (Redis failed
   * lately, or is away), else the batch being asked of Redis (now, if it was not already), to wait for and decide
   * again: every request waiting shares it, and it never rejects.
   */
  admits(
    fleet: FleetCounter,
    id: readonly string[],
    policy: Policy,
    window: Counted,
    now: number,
  ): boolean | null | Promise<void> {
    if (window.used < this.leased) return true
    if (this.spent(now)) return false
    if (this.alone(fleet, now)) return null
    this.pending ??= this.#lease(fleet, id, policy, window, now)
    return this.pending
  }

  /**
   * Sliding, once a window: reads the fleet's count of the window before `window`'s into it (it weighs on this one,
   * `Window#carried`). `false` when the window moved on meanwhile; throws when Redis cannot answer.
   */
  async readPrevious(fleet: FleetCounter, id: readonly string[], policy: Policy, window: Counted): Promise<boolean> {
    const { start } = window
    const previous = await fleet.read(fleet.key(id, policy.name, start - policy.windowMs))
    if (window.start !== start) return false
    window.previous = Math.max(window.previous, previous)
    this.previousRead = true
    return true
  }

  async #lease(fleet: FleetCounter, id: readonly string[], policy: Policy, window: Counted, now: number): Promise<void> {
    const { start } = window
    const { quota, windowMs } = policy
    // What this instance admitted beyond its batches (alone, while Redis was away) is owed to the fleet.
    const owed = Math.max(1, window.used - this.leased + 1)
    try {
      if (window.sliding && !this.previousRead && !(await this.readPrevious(fleet, id, policy, window))) return
      // Its weight when asked (it only fades after): a batch never holds more than the window has room for then.
      const carried = window.carried(policy, now)
      // Sliding, a window's count is read through the next one too: it lives that much longer.
      const until = start + (window.sliding ? 2 : 1) * windowMs
      const { granted, count } = await fleet.lease(fleet.key(id, policy.name, start), owed, quota, until, carried)
      if (window.start !== start) return
      this.leased += granted
      this.count = count
      this.exhausted = count + carried >= quota
      // Exhausted by the window before alone: worth asking again once its weight has faded by one.
      this.retryAt =
        count >= quota || carried === 0
          ? Number.POSITIVE_INFINITY
          : start + windowMs - (windowMs * (quota - count - 1)) / window.previous
    } catch {
      this.failed(fleet)
    } finally {
      this.pending = null
    }
  }
}
