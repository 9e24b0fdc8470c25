import { LRUCache } from 'lru-cache'
import { TIMINGS } from '../options/defaults.js'
import type { CheckStatus } from '../types.js'

/** A stored answer with its deadlines, in epoch milliseconds. */
export interface Entry<V> {
  readonly value: V
  /** Until then the entry is served with no look-up. */
  readonly freshUntil: number
  /** Until then the entry is still served, while a refresh runs or the key service fails. */
  readonly staleUntil: number
  /** An answer about a credential that does not exist: kept apart, see `RefreshingCache`. */
  readonly negative?: boolean
  /** The other name of its key (`AliasOf`), set by the cache when it stores the entry. */
  readonly alias?: string
}

/**
 * Another name for a cache key, by which `invalidateAlias()` finds it: with Redis, a credential's fingerprint,
 * by which another instance's revocation names it (this cache's key, the credential's tag, is this process's
 * alone); `undefined` when the key has no other name. Asked when a look-up starts, not on a cached request.
 */
export type AliasOf<A> = (key: string, arg: A) => string | undefined

/**
 * Fetches a fresh entry for a cache key. It throws when no answer can be had (an outage); every
 * answer it gives, a rejection included, is stored. A shared second tier (Redis) fits in here:
 * a loader that asks it first and the key service after.
 */
export type Loader<V, A> = (key: string, arg: A) => Promise<Entry<V>>

/** What the cache notes in a call's `CheckStatus`: how it answered. */
type CacheStatus = Pick<CheckStatus, 'cache'>

/** Counters since the verifier was created. */
export interface CacheStats {
  /** Requests answered from a fresh entry. */
  hits: number
  /** Requests answered from a stale entry (a refresh ran or was started). */
  stale: number
  /** Requests that found nothing servable and waited for a look-up (their own or a shared one). */
  misses: number
  /** Loads started: a call to the key service, a JWT verification, or an answer read from Redis. */
  lookups: number
  /** Loads that gave no answer: timeouts, connection errors, 5xx, garbled answers, shed or short-circuited misses. */
  failures: number
  /** Entries held now. */
  entries: number
  /** Look-ups under way now. */
  pending: number
}

/**
 * An LRU of answers with fresh and stale deadlines in front of a loader. Concurrent misses for one key
 * share one look-up; a stale entry is served at once while one background refresh runs.
 *
 * Negative answers ("no such key") live in an LRU of their own, a tenth of `max`: a flood of random keys
 * then only evicts other random keys, never the keys that work (which an outage would turn into 503s).
 */
export class RefreshingCache<V, A> {
  readonly #entries: LRUCache<string, Entry<V>>
  readonly #negatives: LRUCache<string, Entry<V>>
  readonly #pending = new Map<string, Promise<Entry<V>>>()
  /** Alias to key, for the entries and the look-ups under way that have one. */
  readonly #aliases = new Map<string, string>()
  readonly #aliasOf: AliasOf<A> | undefined
  readonly #load: Loader<V, A>
  readonly #counts = { hits: 0, stale: 0, misses: 0, lookups: 0, failures: 0 }

  /**
   * @param max - entries in all, at least 2
   * @param aliasOf - the other name of a key, if keys have one (see `invalidateAlias()`)
   */
  constructor(max: number, load: Loader<V, A>, aliasOf?: AliasOf<A>) {
    const negativeMax = Math.ceil(max * TIMINGS.negativeShare)
    // An entry that leaves (evicted, replaced, deleted) takes its alias along, unless a look-up of its key is under way.
    const dispose = (entry: Entry<V>, key: string) => this.#unalias(entry.alias, key)
    this.#entries = new LRUCache({ max: max - negativeMax, dispose })
    this.#negatives = new LRUCache({ max: negativeMax, dispose })
    this.#load = load
    this.#aliasOf = aliasOf
  }

  /**
   * The value for `key` if an entry is servable now (fresh, or stale: then one background refresh is
   * started), else `undefined`. Synchronous: the hit path has no promise at all. `now` lets a caller that
   * reads the clock anyway read it once per request.
   */
  serve(key: string, arg: A, status?: CacheStatus, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key) ?? this.#negatives.get(key)
    if (entry === undefined) return undefined
    if (now < entry.freshUntil) {
      this.#counts.hits++
      if (status !== undefined) status.cache = 'hit'
      return entry.value
    }
    if (now >= entry.staleUntil) return undefined
    this.#counts.stale++
    if (status !== undefined) status.cache = 'stale'
    // A failed refresh keeps the stale entry; the failure is counted in #start.
    if (!this.#pending.has(key)) this.#start(key, arg, entry.alias).catch(() => {})
    return entry.value
  }

  /** Waits for the look-up of `key` under way, or starts one: for a key `serve()` had nothing for. */
  load(key: string, arg: A, status?: CacheStatus): Promise<V> {
    this.#counts.misses++
    if (status !== undefined) status.cache = 'miss'
    return (this.#pending.get(key) ?? this.#start(key, arg)).then((fresh) => fresh.value)
  }

  /** Drops a key; a look-up for it already under way will not write its answer back. */
  invalidate(key: string): void {
    this.#pending.delete(key)
    this.#entries.delete(key)
    this.#negatives.delete(key)
  }

  /**
   * `invalidate()` of the key `alias` names (`AliasOf`), or of `alias` itself when no key has it for an alias: a
   * revocation another instance sends, which names a credential by its fingerprint. One key, as `invalidate()`.
   */
  invalidateAlias(alias: string): void {
    const key = this.#aliases.get(alias) ?? alias
    this.#aliases.delete(alias)
    this.invalidate(key)
  }

  /**
   * Drops the entries whose value (or key) passes `test`, and every look-up under way (whose answer is not
   * known yet, so it might be one of them: none writes back). Used to revoke by key id or slug, a rare event.
   */
  invalidateWhere(test: (value: V, key: string) => boolean): void {
    for (const entries of [this.#entries, this.#negatives]) {
      const doomed = [...entries.entries()].filter(([key, entry]) => test(entry.value, key)).map(([key]) => key)
      for (const key of doomed) entries.delete(key)
    }
    this.#pending.clear()
  }

  /** Drops everything, look-ups under way included (they will not write back). */
  clear(): void {
    this.#pending.clear()
    this.#entries.clear()
    this.#negatives.clear()
    this.#aliases.clear()
  }

  stats(): CacheStats {
    return { ...this.#counts, entries: this.#entries.size + this.#negatives.size, pending: this.#pending.size }
  }

  #start(key: string, arg: A, alias = this.#aliasOf?.(key, arg)): Promise<Entry<V>> {
    this.#counts.lookups++
    // Named from the start: a revocation by the alias reaches a first look-up too (no entry yet).
    if (alias !== undefined) this.#aliases.set(alias, key)
    // The flight writes back only while it is still the registered one: invalidate() and clear()
    // unregister it, so an answer that was already on its way cannot bring a revoked key back.
    const flight: Promise<Entry<V>> = this.#load(key, arg).then(
      (entry) => {
        if (this.#pending.get(key) === flight) {
          this.#pending.delete(key)
          // One answer per key: a revoked key's new "unknown" must not sit behind its old record.
          const [into, from] = entry.negative ? [this.#negatives, this.#entries] : [this.#entries, this.#negatives]
          from.delete(key)
          into.set(key, alias === undefined ? entry : { ...entry, alias })
          if (alias !== undefined) this.#aliases.set(alias, key)
        } else this.#unaliasEmpty(alias, key)
        return entry
      },
      (error: unknown) => {
        if (this.#pending.get(key) === flight) this.#pending.delete(key)
        this.#unaliasEmpty(alias, key)
        this.#counts.failures++
        throw error
      },
    )
    this.#pending.set(key, flight)
    return flight
  }

  /**
   * After a look-up that stored nothing (it failed, or invalidate(), invalidateWhere() or clear() dropped it while
   * under way): forgets `alias` unless an entry of `key` still goes by it, so the index never outgrows the cache.
   */
  #unaliasEmpty(alias: string | undefined, key: string): void {
    if (!this.#entries.has(key) && !this.#negatives.has(key)) this.#unalias(alias, key)
  }

  /** Forgets that `alias` names `key`, unless a look-up of `key` is under way (it will store an entry by it). */
  #unalias(alias: string | undefined, key: string): void {
    if (alias !== undefined && !this.#pending.has(key) && this.#aliases.get(alias) === key) this.#aliases.delete(alias)
  }
}
