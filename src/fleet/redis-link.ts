import type { RedisClientLike, RedisClusterLike, RedisSentinelLike } from '../options/redis-options.js'
import type { ResolvedRedisOptions } from '../options/redis.js'
import { end } from './end-client.js'
import type { LinkEvents, RedisLink } from './link.js'
import { clusterLink } from './redis-cluster-link.js'
import { sleep } from '../platform/timers.js'

export const isCluster = (client: object): client is RedisClusterLike =>
  typeof (client as RedisClusterLike).getSlotMaster === 'function'
export const isSentinel = (client: object): client is RedisSentinelLike =>
  typeof (client as RedisSentinelLike).getSentinelNode === 'function'

/** A link over a client the app gave (never closed by the verifier). */
export function linkTo(client: RedisClientLike | RedisClusterLike | RedisSentinelLike, events: LinkEvents): RedisLink {
  if (isCluster(client)) return clusterLink(client, false, events)
  if (isSentinel(client)) return sentinelLink(client, false, events.error)
  return standaloneLink(client, false, events.error)
}

/** The optional peer the verifier makes its clients with, named in a variable (see `createLink`). */
const REDIS_PACKAGE: string = 'redis'

/** A link over a client the verifier makes from `url`, `cluster` or `sentinel` settings (the `redis` package). */
export async function createLink(
  options: Pick<ResolvedRedisOptions, 'url' | 'cluster' | 'sentinel'>,
  events: LinkEvents,
): Promise<RedisLink> {
  // Imported only when settings are given, so that `redis` stays an optional peer; by a specifier bundlers do
  // not follow, so that an app without it (a Worker, an Edge function) bundles without resolving it.
  const redis = (await import(/* webpackIgnore: true */ /* @vite-ignore */ REDIS_PACKAGE)) as unknown as Record<
    string,
    ((options: object) => unknown) | undefined
  >
  const make = (name: string, settings: object) => {
    const create = redis[name]
    if (create === undefined)
      throw new TypeError(`portkey-auth: the installed 'redis' package has no ${name} (Sentinel needs redis@5)`)
    const client = create(settings) as { on(event: string, listener: () => void): unknown; connect(): Promise<unknown> }
    // A client we made is ours to watch; an error event with no listener would end the process.
    client.on('error', events.error)
    return client
  }
  // No offline queue: while Redis (or one master) is away a command fails at once instead of waiting for it.
  if (options.cluster) {
    const { rootNodes, defaults, nodeAddressMap } = options.cluster
    const settings = { rootNodes, nodeAddressMap, defaults: { ...defaults, disableOfflineQueue: true } }
    const cluster = make('createCluster', settings) as unknown as RedisClusterLike
    return clusterLink(cluster, true, events)
  }
  if (options.sentinel) {
    const nodeClientOptions = { ...options.sentinel.nodeClientOptions, disableOfflineQueue: true }
    const sentinel = make('createSentinel', { ...options.sentinel, nodeClientOptions }) as unknown as RedisSentinelLike
    const connecting = (sentinel as unknown as { connect(): Promise<unknown> }).connect()
    connecting.catch(events.error) // no sentinel answered for a while: the verifier goes on without Redis
    return sentinelLink(sentinel, true, events.error)
  }
  const client = make('createClient', { url: options.url, disableOfflineQueue: true }) as unknown as RedisClientLike
  client.connect().catch(() => {}) // it reconnects by itself; until then the verifier goes without Redis
  return standaloneLink(client, true, events.error)
}

function standaloneLink(client: RedisClientLike, owned: boolean, errors: () => void): RedisLink {
  let subscriber: RedisClientLike | undefined
  return {
    kind: 'standalone',
    replicasExpected: false,
    get open() {
      return client.isReady
    },
    get healthy() {
      return client.isReady
    },
    send: (args) => client.sendCommand(args),
    troubled() {},
    async subscribe(listeners, lost) {
      subscriber = client.duplicate()
      subscriber.on('error', () => {
        errors()
        lost()
      })
      subscriber.on('end', lost)
      await subscriber.connect()
      for (const [channel, listener] of listeners) await subscriber.subscribe(channel, listener)
    },
    recover() {},
    async close() {
      await end(subscriber)
      if (owned) await end(client)
    },
  }
}

function sentinelLink(sentinel: RedisSentinelLike, owned: boolean, errors: () => void): RedisLink {
  // A Sentinel client stays "ready" while its primary is away (it waits for the next one): a failed
  // command is what tells it is not healthy, the next one that succeeds that it is again.
  let failing = false
  let closed = false
  let stopWatching = () => {}
  let subscribed: ReadonlyMap<string, (message: string) => void> = new Map()
  return {
    kind: 'sentinel',
    replicasExpected: true,
    get open() {
      return sentinel.isReady
    },
    get healthy() {
      return sentinel.isReady && !failing
    },
    async send(args) {
      const reply = await sentinel.sendCommand(false, args)
      failing = false
      return reply
    },
    troubled() {
      failing = true
    },
    async subscribe(listeners, lost) {
      // Its pub/sub connection is its own, and moves to the new primary with a failover; any trouble on
      // it comes as an error event, a failover as a topology change.
      sentinel.on('error', onError)
      sentinel.on('topology-change', lost)
      stopWatching = () => {
        sentinel.off?.('error', onError)
        sentinel.off?.('topology-change', lost)
      }
      subscribed = listeners
      // It subscribes only once it knows its primary.
      while (!sentinel.isReady && !closed) await sleep(50, { unref: true })
      if (closed) return
      for (const [channel, listener] of listeners) await sentinel.subscribe(channel, listener)
      function onError() {
        errors()
        lost()
      }
    },
    recover() {},
    async close() {
      closed = true
      stopWatching()
      if (owned) return void (await end(sentinel))
      for (const [channel, listener] of subscribed) await sentinel.unsubscribe(channel, listener).catch(() => {})
    },
  }
}
