import type { Milliseconds } from '../types.js'

/**
 * The part of a node-redis client (the `redis` package, v4 or v5) this package uses. Pass the client
 * your app already has (connected or connecting); the verifier makes one duplicate of it for pub/sub.
 */
export interface RedisClientLike {
  readonly isReady: boolean
  sendCommand(args: string[]): Promise<unknown>
  duplicate(): RedisClientLike
  connect(): Promise<unknown>
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  close?(): Promise<unknown>
  quit?(): Promise<unknown>
}

/**
 * The part of a node-redis cluster client (`createCluster`, v4.6 or v5) this package uses. Each command
 * goes to the master of its key's slot; the verifier makes one duplicate of the client for pub/sub. After
 * a master dies, a v5 client learns the new one within about a second of the replica's promotion; a v4
 * client only once the old master's address answers again.
 */
export interface RedisClusterLike {
  readonly isOpen: boolean
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  duplicate(overrides?: object): RedisClusterLike
  connect(): Promise<unknown>
  getSlotMaster(slot: number): unknown
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off?(event: string, listener: (...args: unknown[]) => void): unknown
  close?(): Promise<unknown>
  quit?(): Promise<unknown>
}

/**
 * The part of a node-redis Sentinel client (`createSentinel`, node-redis v5 only) this package uses:
 * commands go to the primary the sentinels name, and follow it when it fails over. The verifier
 * subscribes on this client itself (it keeps its own pub/sub connection) and unsubscribes on `close()`.
 */
export interface RedisSentinelLike {
  readonly isReady: boolean
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  getSentinelNode(): unknown
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>
  // node-redis v5 types this listener as taking a string or a Buffer (either mode), where `subscribe` gives strings:
  // `any` lets the listener given to `subscribe` be handed back here, as a Sentinel client's own types require.
  // biome-ignore lint/suspicious/noExplicitAny: see above
  unsubscribe(channel: string, listener: (message: any) => void): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off?(event: string, listener: (...args: unknown[]) => void): unknown
  close?(): Promise<unknown>
}

/**
 * Where a Redis Cluster is: the verifier creates its own cluster client from these (node-redis's
 * `createCluster`, so the `redis` package must be installed, v4.6 or v5).
 * @example
 * ```ts
 * { rootNodes: [{ url: 'redis://10.0.0.1:6379' }, { url: 'redis://10.0.0.2:6379' }] }
 * ```
 */
export interface RedisClusterSettings {
  /** Some nodes of the cluster, as `createCluster` takes them (`{ url }` or `{ socket: { host, port } }`): one is enough, more in case it is down. */
  rootNodes: ReadonlyArray<Record<string, unknown>>
  /** Options for every node's connection (`username`, `password`, `socket.tls`...), as `createCluster`'s `defaults`. @default {} */
  defaults?: Record<string, unknown>
  /** Maps the addresses the cluster announces to the ones reachable from here (NAT, containers), as `createCluster`'s. @default none */
  nodeAddressMap?:
    | Record<string, { host: string; port: number }>
    | ((address: string) => { host: string; port: number } | undefined)
}

/**
 * Where the sentinels are and which primary they watch: the verifier creates its own Sentinel client
 * from these (node-redis v5's `createSentinel`; v4 has none).
 * @example
 * ```ts
 * { name: 'mymaster', sentinelRootNodes: [{ host: '10.0.0.5', port: 26379 }] }
 * ```
 */
export interface RedisSentinelSettings {
  /** The name the sentinels know the primary by (`sentinel monitor <name> ...`). */
  name: string
  /** Some of the sentinels: one is enough, more in case it is down. */
  sentinelRootNodes: ReadonlyArray<{ host: string; port: number }>
  /** Options for the connections to the primary (`username`, `password`, `socket.tls`...), as `createSentinel`'s. @default {} */
  nodeClientOptions?: Record<string, unknown>
  /** Options for the connections to the sentinels, as `createSentinel`'s. @default {} */
  sentinelClientOptions?: Record<string, unknown>
}

/** The `redis` option in its long form: one of `client`, `url`, `cluster` or `sentinel`, and the settings below. */
export interface RedisOptions {
  /**
   * A node-redis client your app already has: a standalone client, a cluster client or a Sentinel client.
   * @default none: give one of `client`, `url`, `cluster` or `sentinel`
   */
  client?: RedisClientLike | RedisClusterLike | RedisSentinelLike
  /**
   * A Redis URL (`redis://127.0.0.1:6379`): the verifier creates its own client (the `redis` package must be installed).
   * @default none
   */
  url?: string
  /** A Redis Cluster: the verifier creates its own cluster client. @default none */
  cluster?: RedisClusterSettings
  /** A primary behind Sentinel: the verifier creates its own Sentinel client. @default none */
  sentinel?: RedisSentinelSettings
  /**
   * Prefix of every Redis key and of the channel, so that apps can share one Redis. Braces in it would
   * make it the hash tag of every key, putting them all in one cluster slot. @default 'portkey-auth:'
   */
  prefix?: string
  /** Time allowed for one Redis command, in milliseconds; past it the verifier goes on without Redis. @default 250 */
  timeoutMs?: Milliseconds
}
