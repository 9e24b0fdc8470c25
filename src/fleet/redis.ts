import { RedisUnavailable } from '../errors.js'
import type { RedisClientLike } from '../options/verifier-options.js'
import type { RemoteCallObserver } from '../telemetry/remote-calls.js'
import type { Logger } from '../types.js'

/** Health counters of the Redis tier, part of `verifier.stats()`. */
export interface RedisStats {
  /** Whether commands can be sent now. */
  connected: boolean
  /** Whether invalidations from other instances are being received now. */
  listening: boolean
  /** Commands that failed or timed out (requests went on without Redis). */
  errors: number
  /** Times the pub/sub connection came back after a loss (each clears the local caches). */
  reconnects: number
}

/**
 * A Redis connection as the tier uses it: commands with a deadline that fail fast while Redis is away
 * (never queued behind a dead connection), and one subscription whose loss and return are reported.
 */
export class RedisConnection {
  #client: RedisClientLike | undefined
  #owned = false
  readonly #timeoutMs: number
  #subscriber: RedisClientLike | undefined
  #listening = false
  readonly counts = { errors: 0, reconnects: 0 }
  /** Settles once the client is there (at once for a given client; after the import for a URL). */
  readonly ready: Promise<void>

  /** Opens the connection the `redis` option names: the given client, or one made from a URL. */
  readonly #logger: Logger

  readonly #observer: RemoteCallObserver | undefined

  constructor(
    options: { client?: RedisClientLike; url?: string },
    timeoutMs: number,
    logger: Logger,
    observer?: RemoteCallObserver,
  ) {
    this.#timeoutMs = timeoutMs
    this.#logger = logger
    this.#observer = observer
    this.#client = options.client
    this.ready = options.client ? Promise.resolve() : this.#create(options.url!)
  }

  get connected(): boolean {
    return this.#client?.isReady === true
  }

  get listening(): boolean {
    return this.#listening && this.#subscriber?.isReady === true
  }

  /** Sends one command; throws `RedisUnavailable` when Redis is not connected, fails, or is too slow. */
  command(args: string[]): Promise<unknown> {
    return this.#observer === undefined ? this.#command(args) : this.#observed(args, this.#observer)
  }

  /** The command reported to the observer (telemetry): its verb, never its arguments; a nil reply is `unknown`. */
  async #observed(args: string[], observer: RemoteCallObserver): Promise<unknown> {
    const call = observer.start('redis', args[0])
    try {
      const reply = await this.#command(args)
      call.end(reply === null || reply === undefined ? 'unknown' : 'found')
      return reply
    } catch (error) {
      call.end('outage', error)
      throw error
    }
  }

  async #command(args: string[]): Promise<unknown> {
    const client = this.#client
    if (client?.isReady !== true) throw new RedisUnavailable('redis is not connected')
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        client.sendCommand(args),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RedisUnavailable('redis command timed out')), this.#timeoutMs)
          timer.unref()
        }),
      ])
    } catch (cause) {
      this.counts.errors++
      throw cause instanceof RedisUnavailable ? cause : new RedisUnavailable('redis command failed', { cause })
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Subscribes to `channel` on a duplicate connection. `onReconnect` runs each time that connection comes
   * back after a loss: messages sent meanwhile were missed.
   */
  async subscribe(channel: string, onMessage: (message: string) => void, onReconnect: () => void): Promise<void> {
    await this.ready
    const subscriber = this.#client!.duplicate()
    this.#subscriber = subscriber
    let lost = false
    const lose = () => {
      if (lost) return
      lost = true
      this.#logger.warn(
        'portkey-auth: lost the Redis connection; going on without Redis (each instance asks the control plane itself)',
      )
    }
    subscriber.on('error', () => {
      this.counts.errors++
      lose()
    })
    subscriber.on('end', lose)
    subscriber.on('ready', () => {
      if (!lost) return
      lost = false
      this.counts.reconnects++
      this.#logger.info('portkey-auth: Redis is back; local caches cleared, since revocations may have been missed meanwhile')
      onReconnect()
    })
    await subscriber.connect()
    await subscriber.subscribe(channel, onMessage)
    this.#listening = true
  }

  async close(): Promise<void> {
    await this.ready.catch(() => {})
    const clients = this.#owned ? [this.#subscriber, this.#client] : [this.#subscriber]
    for (const client of clients) await (client?.close ?? client?.quit)?.call(client).catch(() => {})
  }

  async #create(url: string): Promise<void> {
    // Imported only when a URL is given, so that `redis` stays an optional peer.
    const { createClient } = (await import('redis')) as unknown as { createClient(options: object): RedisClientLike }
    // No offline queue: while Redis is away a command fails at once instead of waiting for it.
    const client = createClient({ url, disableOfflineQueue: true })
    // A client we made is ours to watch; an error event with no listener would end the process.
    client.on('error', () => this.counts.errors++)
    this.#client = client
    this.#owned = true
    client.connect().catch(() => {}) // it reconnects by itself; until then the verifier goes without Redis
  }
}
