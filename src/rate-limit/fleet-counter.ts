import type { RedisConnection } from '../fleet/redis.js'

// Grants an instance a batch of a window's allowance, atomically: an eighth of what is left (so batches
// shrink near the limit and the last ones are single requests), at least what the instance owes (requests
// it admitted alone while Redis was away), at most `cap`, never more than is left. Returns the grant and
// the fleet's count after it.
const LEASE = `local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local room = tonumber(ARGV[2]) - used
if room <= 0 then return {0, used} end
local grant = math.floor(room / 8)
if grant > tonumber(ARGV[4]) then grant = tonumber(ARGV[4]) end
if grant < tonumber(ARGV[1]) then grant = tonumber(ARGV[1]) end
if grant > room then grant = room end
used = redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {grant, used}`

// Adds reported tokens to a window's count and returns the fleet's total.
const ADD = `local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return total`

/** Largest batch one instance takes at once. */
export const MAX_LEASE = 256

/** A window's counter outlives its window by this much, for clocks a little apart. */
const EXPIRY_MARGIN_MS = 60_000

/** What Redis granted: a batch of the allowance, and the fleet's count after it. */
export interface Lease {
  readonly granted: number
  readonly count: number
}

/**
 * The fleet's rate-limit counters in Redis: one key per limit and window, `<namespace>{rl:<json>}`, each
 * touched by one single-key script (atomic, and on a cluster in one slot). Every method throws
 * `RedisUnavailable` when Redis cannot answer; the limiter then counts on this instance alone.
 */
export class FleetCounter {
  readonly #redis: RedisConnection
  readonly #namespace: string

  constructor(redis: RedisConnection, namespace: string) {
    this.#redis = redis
    this.#namespace = namespace
  }

  get connected(): boolean {
    return this.#redis.connected
  }

  /** The Redis key of one counter: `subject` names the key, token or virtual key; `start` the window. */
  key(subject: readonly string[], name: string, start: number): string {
    return `${this.#namespace}{rl:${JSON.stringify([...subject, name, start])}}`
  }

  /** Takes a batch of `quota` for the window ending at `windowEnd`: at least `owed`, if that much is left. */
  async lease(key: string, owed: number, quota: number, windowEnd: number): Promise<Lease> {
    const ttl = String(Math.max(1, windowEnd - Date.now() + EXPIRY_MARGIN_MS))
    const reply = await this.#redis.command(['EVAL', LEASE, '1', key, String(owed), String(quota), ttl, String(MAX_LEASE)])
    const [granted, count] = Array.isArray(reply) ? reply.map(Number) : []
    if (!Number.isFinite(granted) || !Number.isFinite(count)) throw new TypeError('unexpected lease reply')
    return { granted: granted!, count: count! }
  }

  /** Adds `tokens` to a window's count; resolves to the fleet's total. */
  async add(key: string, tokens: number, windowEnd: number): Promise<number> {
    const ttl = String(Math.max(1, windowEnd - Date.now() + EXPIRY_MARGIN_MS))
    return Number(await this.#redis.command(['EVAL', ADD, '1', key, String(tokens), ttl]))
  }

  /** The fleet's count of a window (0 when none). */
  async read(key: string): Promise<number> {
    return Number((await this.#redis.command(['GET', key])) ?? 0)
  }
}
