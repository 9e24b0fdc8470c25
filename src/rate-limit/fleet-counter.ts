import { RedisUnavailable } from '../errors.js'
import { TIMINGS } from '../options/defaults.js'
import type { CommandLink } from './command-link.js'
import { type FleetClock, fleetClock } from './fleet-clock.js'

// A counter this package wrote is a whole number of at most 15 digits. Anything else (negative, fractional,
// garbage: set by hand, or by another program sharing the prefix) is read as a spent window, and stored as
// one, rather than as room to grant: a corrupted counter must never make a key unlimited. The window's own
// key expires with it, so the cost is at most the rest of one window. A key of another type (a list, a hash:
// GET fails with WRONGTYPE) is corrupt too: failing, the script would leave every instance counting alone, each
// up to the whole limit. Both scripts take the quota as ARGV[2] and the key's lifetime (ms) as ARGV[3].
const SPENT_IF_CORRUPT = `local raw = redis.pcall('GET', KEYS[1])
if type(raw) == 'table' and raw.err then
  redis.call('DEL', KEYS[1])
  raw = 'corrupt'
end
if raw and (string.len(raw) > 15 or not string.match(raw, '^%d+$')) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {0, ARGV[2]}
end
`

// Grants an instance a batch of a window's allowance, atomically: an eighth of what is left (so batches
// shrink near the limit and the last ones are single requests), at least what the instance owes (requests
// it admitted alone while Redis was away), at most `cap`, never more than is left. What is left is the quota
// less the window's count and, sliding, less what the window before still weighs (ARGV[5]). Returns the grant
// and the fleet's count after it.
const LEASE = `${SPENT_IF_CORRUPT}local used = tonumber(raw or '0')
local room = tonumber(ARGV[2]) - used - tonumber(ARGV[5] or '0')
if room <= 0 then return {0, used} end
local grant = math.floor(room / 8)
if grant > tonumber(ARGV[4]) then grant = tonumber(ARGV[4]) end
if grant < tonumber(ARGV[1]) then grant = tonumber(ARGV[1]) end
if grant > room then grant = room end
used = redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {grant, used}`

// Adds reported tokens to a window's count and returns the fleet's total (the quota, for a corrupted count).
const ADD = `${SPENT_IF_CORRUPT}local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0, total}`

/** What a counter this package wrote looks like (see `SPENT_IF_CORRUPT`). */
const COUNT = /^\d{1,15}$/

/** What Redis granted: a batch of the allowance, and the fleet's count after it. */
export interface Lease {
  readonly granted: number
  readonly count: number
}

/**
 * The fleet's rate-limit counters in Redis: one key per limit and window, `<namespace>{rl:<json>}`, each
 * touched by one single-key script (atomic, and on a cluster in one slot). Every method throws
 * `RedisUnavailable` when Redis cannot answer, or answers what no script of this package returns (another
 * program on the prefix, a proxy that mangles replies); the limiter then counts on this instance alone.
 */
export class FleetCounter {
  readonly #redis: CommandLink
  readonly #namespace: string
  /** Redis's clock, which the windows counted here follow. */
  readonly clock: FleetClock
  #leases = 0

  constructor(redis: CommandLink, namespace: string) {
    this.#redis = redis
    this.#namespace = namespace
    this.clock = fleetClock(redis)
  }

  /** Now on Redis's clock (see `FleetClock`), epoch ms. */
  now(): number {
    return Date.now() + this.clock.offset
  }

  get connected(): boolean {
    return this.#redis.connected
  }

  /** Batches Redis granted (or refused: nothing left) since the verifier was made. */
  get leases(): number {
    return this.#leases
  }

  /** The Redis key of one counter: `subject` names the key, token or virtual key; `start` the window. */
  key(subject: readonly string[], name: string, start: number): string {
    return `${this.#namespace}{rl:${JSON.stringify([...subject, name, start])}}`
  }

  /**
   * Takes a batch of `quota` for a window whose counter is kept until `windowEnd` (on Redis's clock, as its TTL is
   * reckoned; sliding, through the next window too): at least `owed`, if that much is left once `carried` (what the
   * window before still weighs, sliding) is taken off.
   */
  async lease(key: string, owed: number, quota: number, windowEnd: number, carried = 0): Promise<Lease> {
    const ttl = String(Math.max(1, windowEnd - this.now() + TIMINGS.rateLimitExpiryMarginMs))
    const args = [key, String(owed), String(quota), ttl, String(TIMINGS.leaseMax), String(carried)]
    const reply = await this.#redis.command(['EVAL', LEASE, '1', ...args])
    const [granted, count] = Array.isArray(reply) ? reply.map(Number) : []
    if (!Number.isFinite(granted) || !Number.isFinite(count)) throw new RedisUnavailable('unexpected reply to a rate-limit lease')
    this.#leases++
    return { granted: granted!, count: count! }
  }

  /** Adds `tokens` to a window's count of a `quota`; resolves to the fleet's total (`quota` if it was corrupted). */
  async add(key: string, tokens: number, quota: number, windowEnd: number): Promise<number> {
    const ttl = String(Math.max(1, windowEnd - this.now() + TIMINGS.rateLimitExpiryMarginMs))
    const reply = await this.#redis.command(['EVAL', ADD, '1', key, String(tokens), String(quota), ttl])
    const total = Array.isArray(reply) ? Number(reply[1]) : Number.NaN
    if (Number.isNaN(total)) throw new RedisUnavailable('unexpected reply to a tokens report')
    return total
  }

  /** Deletes counters (a reset: `verifier.resetRateLimits()`), one single-key command each. */
  async remove(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.#redis.command(['DEL', key])))
  }

  /** The fleet's count of a window: 0 when none, `Infinity` (spent) when it is not a count this package wrote. */
  async read(key: string): Promise<number> {
    let count: unknown
    try {
      count = await this.#redis.command(['GET', key])
    } catch (error) {
      // A key of another type (WRONGTYPE) is corrupt, not Redis away: spent, as SPENT_IF_CORRUPT stores it. Read as
      // a failure, every instance would count alone, each up to the whole limit, for as long as the key lives.
      if (error instanceof RedisUnavailable && /^WRONGTYPE\b/.test(String((error.cause as Error | undefined)?.message))) {
        return Number.POSITIVE_INFINITY
      }
      throw error
    }
    if (count === null || count === undefined) return 0
    return typeof count === 'string' && COUNT.test(count) ? Number(count) : Number.POSITIVE_INFINITY
  }
}
