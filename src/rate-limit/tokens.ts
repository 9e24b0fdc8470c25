import { TIMINGS } from '../options/defaults.js'
import type { PortkeyAuth } from '../types.js'
import type { FleetCounter } from './fleet-counter.js'
import type { FleetLease } from './fleet-lease.js'
import type { Policy } from './policy.js'
import { Reservations } from './reservations.js'
import type { Subject } from './subjects.js'
import type { Window } from './window.js'

// A tokens limit counts what requests report after the fact: the window's reported tokens (with Redis, the fleet's,
// read now and then and raised by each report), and what the requests in flight on this instance reserved.

/**
 * Whether one more request fits a tokens limit now (`window` rolled to `now`): its reported tokens, plus what the
 * requests in flight reserved, plus the request's estimate (see `Reservations`). With Redis, the fleet's count is
 * read again when it was last read `TIMINGS.tokensSyncMs` ago or more (in the background: this request is decided
 * on what is known).
 */
export function admitsTokens(
  window: Window,
  policy: Policy,
  fleet: FleetCounter | null,
  id: readonly string[],
  now: number,
): boolean | Promise<void> {
  const lease = window.lease
  // Sliding, with Redis: the fleet's count of the window before, read once a window (as a requests limit's first
  // batch reads it) before deciding; this instance alone may have seen little of it.
  if (fleet !== null && lease !== null && window.sliding && !lease.previousRead && !lease.alone(fleet, now)) {
    lease.pending ??= readPrevious(fleet, id, policy, window, lease)
    return lease.pending
  }
  window.reservations ??= new Reservations()
  if (!window.reservations.admits(window.tokens + window.carried(policy, now), policy.quota, now)) return false
  if (fleet !== null && lease !== null && (now - lease.syncedAt >= TIMINGS.tokensSyncMs || now < lease.syncedAt)) {
    lease.syncedAt = now
    const { start } = window
    fleet.read(fleet.key(id, policy.name, start)).then(
      (total) => {
        // `Infinity` for a corrupted count: the window is spent (see `FleetCounter#read`).
        if (window.start === start && total > window.tokens) window.tokens = total
      },
      () => {},
    )
  }
  return true
}

/** `FleetLease#readPrevious` for a tokens limit, shared by the requests waiting for it; never rejects (a failure: alone). */
async function readPrevious(fleet: FleetCounter, id: readonly string[], policy: Policy, window: Window, lease: FleetLease) {
  try {
    await lease.readPrevious(fleet, id, policy, window)
  } catch {
    lease.failed(fleet)
  } finally {
    lease.pending = null
  }
}

/**
 * Adds `tokens` reported for a request to the tokens limits of `subjects` (its key's, its virtual key's); with Redis,
 * to the fleet's counts too, unless counting alone: resolves once Redis has them (and this instance the fleet's
 * totals), or is found away (the limit is then counted alone a while). Never rejects.
 */
export async function addTokens(subjects: readonly Subject[], fleet: FleetCounter | null, tokens: number, now: number) {
  const counted: Promise<void>[] = []
  for (const { id, policies, windows } of subjects) {
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i]!
      if (policy.type !== 'tokens') continue
      const window = windows[i]!.roll(policy, now)
      window.tokens += tokens
      const lease = window.lease
      if (fleet === null || lease === null || lease.alone(fleet, now)) continue
      const { start } = window
      // Sliding, a window's count is read through the next one too (as a requests limit's counter): it lives as long.
      const until = start + (window.sliding ? 2 : 1) * policy.windowMs
      const added = fleet.add(fleet.key(id, policy.name, start), tokens, policy.quota, until).then(
        (total) => {
          if (window.start === start) window.tokens = Math.max(window.tokens, total)
        },
        () => lease.failed(fleet),
      )
      counted.push(added)
    }
  }
  await Promise.all(counted)
}

/**
 * What is wrong with a report, or `null` when nothing is: a report is for a context (a quota's report is for its
 * request's) and a whole number of tokens, 0 or more.
 */
export function misreported(auth: PortkeyAuth | undefined, tokens: unknown): string | null {
  const context = typeof auth === 'object' && auth !== null && Array.isArray(auth.rateLimits)
  if (context && Number.isSafeInteger(tokens) && (tokens as number) >= 0) return null
  if (!context) return `neither a quota nor a context (${auth === null ? 'null' : typeof auth})`
  return typeof tokens === 'number' ? String(tokens) : `a ${typeof tokens}`
}
