import { LRUCache } from 'lru-cache'
import { rateLimitExceeded } from '../errors.js'
import { LIMITS } from '../options/defaults.js'

const MINUTE_MS = 60_000

/** One caller's virtual-key look-ups in the current minute. */
interface Spent {
  minute: number
  count: number
}

/**
 * How many virtual-key look-ups (slugs not in the cache) each caller may make, per minute and per instance:
 * `LIMITS.virtualKeyLookups`. A caller past it is refused 429 with no look-up, so one naming ever new slugs
 * cannot make the control plane work for it; the slugs it already knows are answered from the cache as before.
 */
export class VirtualKeyLookupBudget {
  // Made on the first look-up: lru-cache reserves room for `max` entries up front, which an app that never
  // names a virtual key should not pay (a `cache.max` of a million is about 15 MiB).
  #spent: LRUCache<string, Spent> | undefined
  readonly #max: number

  /** @param max callers tracked at once (the least recently seen are forgotten first) */
  constructor(max: number) {
    this.#max = max
  }

  /** Counts one look-up for `caller` (its identity's name), or throws 429 when its minute's look-ups are spent. */
  spend(caller: string, now: number): void {
    const minute = Math.floor(now / MINUTE_MS)
    this.#spent ??= new LRUCache({ max: this.#max })
    let spent = this.#spent.get(caller)
    if (spent === undefined || spent.minute !== minute) {
      spent = { minute, count: 0 }
      this.#spent.set(caller, spent)
    }
    if (spent.count >= LIMITS.virtualKeyLookups) {
      const retryAfter = Math.max(1, Math.ceil(((minute + 1) * MINUTE_MS - now) / 1000))
      throw rateLimitExceeded(`${LIMITS.virtualKeyLookups} virtual-key look-ups per minute for this caller`, retryAfter, null)
    }
    spent.count++
  }
}
