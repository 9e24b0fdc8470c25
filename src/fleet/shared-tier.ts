import type { Answer } from '../cache/answers.js'
import { TIMINGS } from '../options/defaults.js'
import type { RedisConnection, RedisStats } from './redis.js'
import { markerTime, parsed, REVOKE, RevocationUnconfirmed, trusted, withRetries } from './revocation.js'
import { sleep } from '../platform/timers.js'

/**
 * What a verifier learns from the channel: a credential (by its hash), a key id or a virtual key to forget, rate-limit
 * counters reset (by their subject's name, see `HeldCounters`), or — after a lost connection — everything.
 */
export type Invalidation = { hash: string } | { keyId: string } | { slug: string } | { limits: string } | { all: true }

/**
 * The group names an answer belongs to, besides its own: `id:<keyId>` (every answer of a key id) and, for
 * a virtual key, `vk:<slug>`. Each is a set of the names in it, and has a revocation marker of its own.
 */
export type Groups = (answer: Answer) => string[]

/** Counters of the shared tier, part of `verifier.stats()`. */
export interface SharedTierStats extends RedisStats {
  /** Answers found in Redis and used. */
  hits: number
  /** Look-ups this instance made for the fleet (it held the lock). */
  fills: number
  /** Times this instance waited for another instance's look-up instead of making its own. */
  waits: number
}

const CHANNEL = 'invalidate'

// Writes an answer only while the writer still holds the key's lock: an invalidation deletes the lock,
// so a look-up that was under way cannot bring a revoked key back for the whole fleet.
const FENCED_SET = `if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`

const FENCED_UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/**
 * The Redis tier between each instance's LRU and the control plane. Key space, under `prefix` (the
 * namespace: the user's prefix and a digest of the settings that make an answer valid):
 * `{k:<sha256>}` a credential's answer · `{v:[...caller,"<workspace>","<slug>"]}` a virtual key's, for
 * that caller (its `Identity`: kind, organisation, issuer, key id or user) · `{<name>}:lock` the fleet-wide
 * single flight for `<name>` · `{id:<keyId>}` the names holding that key id's record · `{vk:<slug>}` the names
 * holding that virtual key's answers · `{<name>}:revoked` the time `<name>` (an answer or a group) was last
 * revoked · channel `invalidate` (and `invalidate:probe:<uuid>`, each instance's own).
 * The braces are Redis Cluster hash tags: an answer and its lock hash to one slot, so the fenced write
 * (one script over both) works on a cluster; a deletion of many names is one script per name. Every method
 * but `invalidate` survives Redis being away: it answers as if Redis were empty. An answer read from Redis
 * is served only when `trusted()`: asked after every revocation marker that concerns it, and after this
 * instance's connection last came back; otherwise it counts as none, and the control plane is asked.
 */
export class SharedTier {
  readonly #redis: RedisConnection
  readonly #prefix: string
  readonly #lockMs: number
  readonly #markerMs: number
  readonly #counts = { hits: 0, fills: 0, waits: 0 }

  /** @param markerMs - how long a revocation marker lives: at least the longest life of an answer in Redis */
  constructor(redis: RedisConnection, prefix: string, lockMs: number, markerMs: number) {
    this.#redis = redis
    this.#prefix = prefix
    this.#lockMs = lockMs
    this.#markerMs = markerMs
  }

  get connected(): boolean {
    return this.#redis.connected
  }

  stats(): SharedTierStats {
    return { connected: this.#redis.connected, listening: this.#redis.listening, ...this.#redis.counts, ...this.#counts }
  }

  /**
   * The answer for `name`: a fresh one from Redis, else from `fetch` — made by one instance of the fleet
   * at a time (a lock that expires if its holder dies), the others waiting for its answer. A stale answer
   * is served while another instance refreshes it, and when `fetch` fails.
   */
  async resolve(name: string, fetch: () => Promise<Answer>, groups: Groups = () => []): Promise<Answer> {
    const deadline = Date.now() + this.#lockMs
    let shared = await this.read(name, groups)
    for (;;) {
      if (shared !== undefined && Date.now() < shared.freshUntil) return this.#hit(shared)
      const token = await this.#lock(name)
      if (token === null) {
        // Another instance is asking the control plane: serve what is still servable, or wait for its answer.
        if (shared !== undefined && Date.now() < shared.staleUntil) return this.#hit(shared)
        if (Date.now() >= deadline) return fetch()
        this.#counts.waits++
        await sleep(TIMINGS.lockPollMs)
        shared = await this.read(name, groups)
        continue
      }
      if (token !== undefined) {
        // Between our read and our lock, the holder before us may have answered and let go.
        const settled = await this.read(name, groups)
        if (settled !== undefined && Date.now() < settled.freshUntil) {
          await this.#unlock(name, token)
          return this.#hit(settled)
        }
      }
      let answer: Answer
      try {
        answer = await fetch()
      } catch (error) {
        if (token !== undefined) await this.#unlock(name, token)
        if (shared !== undefined && Date.now() < shared.staleUntil) return shared
        throw error
      }
      if (token !== undefined) await this.#store(name, answer, token, groups(answer))
      return answer
    }
  }

  /**
   * A fresh or stale answer from Redis that may be trusted, or `undefined` (none, malformed, not trusted,
   * or Redis away). Only an answer found costs more: its own marker and its groups' markers, read at once.
   */
  async read(name: string, groups: Groups = () => []): Promise<Answer | undefined> {
    const answer = parsed(await this.#tryCommand(['GET', this.#key(name)]))
    if (answer === undefined) return undefined
    const markers = await Promise.all(
      [name, ...groups(answer)].map((marked) => this.#tryCommand(['GET', `${this.#key(marked)}:revoked`])),
    )
    // A marker that cannot be read: cannot tell, so as if Redis were away.
    if (markers.includes(undefined)) return undefined
    return trusted(answer, markers.map(markerTime), this.#redis.epoch) ? answer : undefined
  }

  /** Stores an answer no look-up fenced (a JWT this instance verified itself). */
  async write(name: string, answer: Answer): Promise<void> {
    const ttl = answer.staleUntil - Date.now()
    if (ttl > 0) await this.#tryCommand(['SET', this.#key(name), JSON.stringify(answer), 'PX', String(ttl)])
  }

  /**
   * Revokes fleet-wide: for each name (`names()`, asked again each attempt), deletes its answer and lock
   * and sets its marker; publishes `message`, so every instance drops its copies; and where a failover may
   * promote a replica, waits (up to half the command timeout) for one to hold each deletion. Retried within
   * bounds (`withRetries`); rejects with `RevocationUnconfirmed` when it cannot be confirmed.
   */
  async invalidate(names: () => Promise<string[]>, message: Invalidation): Promise<void> {
    await withRetries(async () => {
      const doomed = await names()
      const now = String(Date.now())
      const ttl = String(this.#markerMs)
      await Promise.all(
        doomed.map((name) => {
          const key = this.#key(name)
          return this.#redis.command(['EVAL', REVOKE, '3', key, this.#lockKey(name), `${key}:revoked`, now, ttl])
        }),
      )
      await this.#redis.command(['PUBLISH', this.#prefix + CHANNEL, JSON.stringify(message)])
      const held = await Promise.all(doomed.map((name) => this.#redis.replicate(this.#key(name))))
      if (held.includes(false)) throw new RevocationUnconfirmed('no replica confirmed it')
    })
    // An instance whose channel stalled got no message and saw no error; by then its heartbeat has told it,
    // and it has forgotten what it cached (see `RedisConnection#subscribe`).
    await sleep(this.#redis.gapNoticedWithinMs)
  }

  /** Tells every instance (this one too) `message`, once: nothing is stored, so an instance away misses it. */
  async announce(message: Invalidation): Promise<void> {
    await this.#redis.command(['PUBLISH', this.#prefix + CHANNEL, JSON.stringify(message)])
  }

  /** A group's name (`id:<keyId>`, `vk:<slug>`) and the names of the answers it lists; throws when Redis cannot say. */
  async namesOf(group: string): Promise<string[]> {
    const members = await this.#redis.command(['SMEMBERS', this.#key(group)])
    return [group, ...(Array.isArray(members) ? members.filter((member): member is string => typeof member === 'string') : [])]
  }

  /** Listens on the channel; a lost connection that comes back means messages were missed: `{ all: true }`. */
  listen(onInvalidation: (message: Invalidation) => void): void {
    const onMessage = (text: string) => {
      try {
        onInvalidation(JSON.parse(text) as Invalidation)
      } catch {
        // not one of ours
      }
    }
    this.#redis.subscribe(this.#prefix + CHANNEL, onMessage, () => onInvalidation({ all: true })).catch(() => {})
  }

  /** Whether Redis answers a PING now. */
  async ping(): Promise<boolean> {
    return (await this.#tryCommand(['PING'])) === 'PONG'
  }

  close(): Promise<void> {
    return this.#redis.close()
  }

  #hit(answer: Answer): Answer {
    this.#counts.hits++
    return answer
  }

  /** A lock token; `null` when another instance holds the lock; `undefined` when Redis is away (go alone). */
  async #lock(name: string): Promise<string | null | undefined> {
    const token = crypto.randomUUID()
    const reply = await this.#tryCommand(['SET', this.#lockKey(name), token, 'NX', 'PX', String(this.#lockMs)])
    if (reply === undefined) return undefined
    return reply === 'OK' ? token : null
  }

  async #unlock(name: string, token: string): Promise<void> {
    await this.#tryCommand(['EVAL', FENCED_UNLOCK, '1', this.#lockKey(name), token])
  }

  async #store(name: string, answer: Answer, token: string, groups: string[]): Promise<void> {
    const ttl = answer.staleUntil - Date.now()
    if (ttl <= 0) return
    const key = this.#key(name)
    const stored = await this.#tryCommand([
      'EVAL',
      FENCED_SET,
      '2',
      key,
      this.#lockKey(name),
      token,
      JSON.stringify(answer),
      String(ttl),
    ])
    if (stored !== 1) return
    this.#counts.fills++
    // Each set lives as long as the latest answer written into it (they all get the same lifetime).
    for (const group of groups) {
      const set = this.#key(group)
      await this.#tryCommand(['SADD', set, name])
      await this.#tryCommand(['PEXPIRE', set, String(ttl)])
    }
  }

  async #tryCommand(args: string[]): Promise<unknown> {
    try {
      return await this.#redis.command(args)
    } catch {
      return undefined
    }
  }

  #key(name: string): string {
    return `${this.#prefix}{${name}}`
  }

  #lockKey(name: string): string {
    // A suffix, not a prefix: the text up to the hash tag's closing brace is the answer's own, whatever
    // braces the prefix or the name hold.
    return `${this.#key(name)}:lock`
  }
}
