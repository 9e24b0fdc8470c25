import { RedisUnavailable } from '../errors.js'
import { TIMINGS } from '../options/defaults.js'
import type { ResolvedRedisOptions } from '../options/redis.js'
import { withoutUserInfo } from '../options/validate.js'
import type { RemoteCallObserver } from '../telemetry/remote-calls.js'
import { unref } from '../platform/timers.js'
import type { Logger } from '../types.js'
import type { RedisLink } from './link.js'
import { createLink, linkTo } from './redis-link.js'

/** Health counters of the Redis tier, part of `verifier.stats()`. */
export interface RedisStats {
  /** Whether commands can be sent now (on a cluster: every master answers). */
  connected: boolean
  /** Whether invalidations from other instances are being received now. */
  listening: boolean
  /** Commands that failed or timed out (requests went on without Redis). */
  errors: number
  /** Times the pub/sub connection came back after a loss (each clears the local caches). */
  reconnects: number
}

/**
 * A Redis connection as the tier uses it — over a standalone client, a cluster or Sentinel alike (see
 * `redis-link.ts`): commands with a deadline that fail fast while Redis is away (never queued behind a
 * dead connection), and one subscription whose loss and return are reported.
 *
 * A subscription counts as back only when a probe this instance publishes on a channel of its own comes
 * back through it: node-redis resubscribes by itself, on whichever node a failover left, and no event of
 * its says when that is done on all three client kinds.
 */
export class RedisConnection {
  #link: RedisLink | undefined
  readonly #timeoutMs: number
  readonly #logger: Logger
  readonly #observer: RemoteCallObserver | undefined
  #subscribed = false
  #lost = false
  #probing: ReturnType<typeof setTimeout> | undefined
  #heartbeat: ReturnType<typeof setTimeout> | undefined
  #healing: ReturnType<typeof setTimeout> | undefined
  #closed = false
  /** When a command last failed, the subscription was lost or a node stopped answering, if no command succeeded since. */
  #downSince: number | undefined
  /** Where Redis is, for the log: a host and port, never a password. */
  readonly #where: string
  /** Whether it was reported not to answer before its first subscription (said once, and once when it does). */
  #reportedAway = false
  #epoch = 0
  readonly counts = { errors: 0, reconnects: 0 }
  /** Settles once the client is there (at once for a given client; after the import for settings). */
  readonly ready: Promise<void>

  /** Opens the connection the `redis` option names: the given client, or one made from its settings. */
  constructor(
    options: Pick<ResolvedRedisOptions, 'client' | 'url' | 'cluster' | 'sentinel'>,
    timeoutMs: number,
    logger: Logger,
    observer?: RemoteCallObserver,
  ) {
    this.#timeoutMs = timeoutMs
    this.#logger = logger
    this.#observer = observer
    this.#where = describeTarget(options)
    const events = {
      error: () => {
        this.counts.errors++
        this.#away()
      },
      // A part of Redis stopped answering: what it holds may come back from a replica (see `epoch`).
      trouble: () => {
        this.#downSince = Date.now()
        if (this.#link) this.#heal(this.#link)
      },
    }
    if (options.client) {
      this.#link = linkTo(options.client, events)
      this.ready = Promise.resolve()
    } else {
      this.ready = createLink(options, events).then((link) => {
        this.#link = link
      })
      this.ready.catch((error: unknown) => this.#logger.warn(`portkey-auth: cannot open Redis: ${(error as Error).message}`))
    }
  }

  get connected(): boolean {
    return this.#link?.healthy === true
  }

  get listening(): boolean {
    return this.#subscribed && !this.#lost
  }

  /**
   * When Redis last came back (epoch ms; 0 if it never went away): the first command that succeeded after
   * a failed one, or after the subscription was lost, or the subscription's return. What Redis holds from
   * before may be what a failover or a lost deletion left: answers asked before it are not taken on trust.
   */
  get epoch(): number {
    return this.#epoch
  }

  /**
   * Where a failover may promote a replica (Sentinel, a cluster with replicas): waits until a replica holds
   * this connection's writes so far to `key`'s master, or half the command timeout, and resolves to whether
   * one did. `true` at once where no replica is expected (a standalone Redis).
   */
  async replicate(key: string): Promise<boolean> {
    if (this.#link?.replicasExpected !== true) return true
    const acks = await this.command(['WAIT', '1', String(Math.floor(this.#timeoutMs / 2))], key)
    return Number(acks) >= 1
  }

  /**
   * How long after a message was published every subscribed instance has it, or has found its channel lost
   * and forgotten what it cached: two heartbeats, and the command timeout for a slow event loop.
   */
  get gapNoticedWithinMs(): number {
    return 2 * TIMINGS.redisHeartbeatMs + this.#timeoutMs
  }

  /**
   * Sends one command; throws `RedisUnavailable` when Redis is not connected, fails, or is too slow. On a
   * cluster it goes to the master of `key` (by default the command's key: a script's first key, else its
   * first argument; keyless commands such as PUBLISH and PING go to any node).
   */
  command(args: string[], key?: string): Promise<unknown> {
    return this.#observer === undefined ? this.#command(args, key) : this.#observed(args, key, this.#observer)
  }

  /** The command reported to the observer (telemetry): its verb, never its arguments; a nil reply is `unknown`. */
  async #observed(args: string[], key: string | undefined, observer: RemoteCallObserver): Promise<unknown> {
    const call = observer.start('redis', args[0])
    try {
      const reply = await this.#command(args, key)
      call.end(reply === null || reply === undefined ? 'unknown' : 'found')
      return reply
    } catch (error) {
      call.end('outage', error)
      throw error
    }
  }

  async #command(args: string[], key?: string): Promise<unknown> {
    try {
      return await this.#send(args, key)
    } catch (cause) {
      this.counts.errors++
      this.#away()
      throw cause instanceof RedisUnavailable ? cause : new RedisUnavailable('redis command failed', { cause })
    }
  }

  /**
   * Subscribes to `channel` on a connection of its own. `onGap` runs each time that connection is found lost
   * (an error, or its heartbeat not back within `TIMINGS.redisHeartbeatMs`) and each time it comes back:
   * messages sent meanwhile may have been missed.
   */
  async subscribe(channel: string, onMessage: (message: string) => void, onGap: () => void): Promise<void> {
    await this.ready
    const link = this.#link!
    const probe = `${channel}:probe:${crypto.randomUUID()}`
    // Whether the last heartbeat came back through the subscription.
    let heard = true
    const onProbe = () => {
      if (!this.#lost) {
        heard = true
        return
      }
      this.#lost = false
      // The channel is whole again: the next heartbeat starts afresh (the one lost with it is not awaited).
      heard = true
      this.#epoch = Date.now()
      clearInterval(this.#probing)
      this.counts.reconnects++
      this.#logger.info('portkey-auth: Redis is back; local caches cleared, since revocations may have been missed meanwhile')
      onGap()
    }
    const lose = () => {
      // Before the first subscription, there is nothing to have missed.
      if (this.#lost || this.#closed || !this.#subscribed) return
      this.#lost = true
      this.#downSince = Date.now()
      this.#logger.warn(
        'portkey-auth: lost the Redis connection; going on without Redis (each instance asks the control plane itself)',
      )
      this.#probing = setInterval(() => {
        link.recover()
        this.#send(['PUBLISH', probe, '1'], undefined).catch(() => {})
      }, TIMINGS.redisProbeMs)
      unref(this.#probing)
      // What was cached may be revoked by now, unheard: forgotten at once, not when the channel is back.
      onGap()
    }
    // A connection that stalls (a partition, a dropped NAT entry) raises no error: a heartbeat tells.
    this.#heartbeat = setInterval(() => {
      if (this.#lost || this.#closed || !this.#subscribed) return
      if (!heard) return lose()
      heard = false
      this.#send(['PUBLISH', probe, '1'], undefined).catch(() => {})
    }, TIMINGS.redisHeartbeatMs)
    unref(this.#heartbeat)
    await link.subscribe(
      new Map([
        [channel, onMessage],
        [probe, onProbe],
      ]),
      lose,
    )
    this.#subscribed = true
    if (this.#reportedAway)
      this.#logger.info(`portkey-auth: Redis ${this.#where} answers now; rate limits and revocations are shared from here on`)
  }

  /** Before the first subscription, Redis not answering is said once: nothing else would show it. */
  #away(): void {
    if (this.#subscribed || this.#reportedAway || this.#closed) return
    this.#reportedAway = true
    this.#logger.warn(
      `portkey-auth: Redis ${this.#where} does not answer; going on without it (each instance counts rate limits alone and asks the control plane itself) until it does`,
    )
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#probing)
    clearInterval(this.#heartbeat)
    clearInterval(this.#healing)
    await this.ready.catch(() => {})
    await this.#link?.close()
  }

  async #send(args: string[], key: string | undefined): Promise<unknown> {
    const link = this.#link
    if (link?.open !== true) {
      this.#downSince = Date.now()
      throw new RedisUnavailable('redis is not connected')
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const sentAt = Date.now()
    try {
      const reply = await Promise.race([
        link.send(args, key),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RedisUnavailable('redis command timed out')), this.#timeoutMs)
          unref(timer)
        }),
      ])
      if (this.#downSince !== undefined) {
        // Back from the moment this command was sent (or the last failure, if later): whatever was asked
        // of the control plane before then may be what Redis lost or a failover brought back.
        this.#epoch = Math.max(sentAt, this.#downSince)
        this.#downSince = undefined
      }
      return reply
    } catch (error) {
      this.#downSince = Date.now()
      link.troubled()
      this.#heal(link)
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * After a failure, until every part of Redis answers again: a cluster relearns its slots (the failed
   * master's replica may have been promoted by now) and a PING tells a Sentinel client it has a primary
   * again — even when no request sends a command meanwhile.
   */
  #heal(link: RedisLink): void {
    if (this.#healing !== undefined || this.#closed) return
    this.#healing = setInterval(() => {
      if (!link.healthy) {
        link.troubled()
        this.#send(['PING'], undefined).catch(() => {})
        return
      }
      clearInterval(this.#healing)
      this.#healing = undefined
    }, TIMINGS.redisRediscoverMs)
    unref(this.#healing)
  }
}

/** Where the `redis` option points, as the log names it: a URL without its user info (never a password). */
function describeTarget({
  client,
  url,
  cluster,
  sentinel,
}: Pick<ResolvedRedisOptions, 'client' | 'url' | 'cluster' | 'sentinel'>): string {
  if (url !== undefined) return `at ${withoutUserInfo(url)}`
  if (cluster !== undefined) return 'Cluster'
  if (sentinel !== undefined) return `Sentinel primary "${sentinel.name}"`
  return client === undefined ? '' : '(the client given)'
}
