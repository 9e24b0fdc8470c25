/**
 * One kind of node-redis client (standalone, cluster, Sentinel) as the connection uses it, so that
 * nothing above this file knows which kind it talks to.
 */
export interface RedisLink {
  /** The client kind. On a cluster or Sentinel a failover may promote a replica: deletions wait for one (`WAIT`). */
  readonly kind: 'standalone' | 'cluster' | 'sentinel'
  /**
   * Whether a failover may promote a replica, so that a revocation must wait for one to hold it: always
   * with Sentinel; on a cluster when its slot map lists replicas; never on a standalone Redis.
   */
  readonly replicasExpected: boolean
  /** Whether a command may be tried now. */
  readonly open: boolean
  /** Whether every part of Redis is answering now (every master of a cluster; the last command on a Sentinel). */
  readonly healthy: boolean
  /** Sends one command; a cluster sends it to the master of `key`'s slot, by default the command's own key. */
  send(args: string[], key?: string): Promise<unknown>
  /** Told that a command failed or timed out: a cluster relearns its slots (a master may have died). */
  troubled(): void
  /** Subscribes on a connection of its own; `lost` runs whenever that connection has trouble. */
  subscribe(listeners: ReadonlyMap<string, (message: string) => void>, lost: () => void): Promise<void>
  /** While the subscription is lost: a cluster relearns where to subscribe (its pub/sub node may be dead). */
  recover(): void
  /** Ends the subscription, and the client too when the verifier made it. */
  close(): Promise<void>
}

/** What a link reports to the connection. */
export interface LinkEvents {
  /** An error event on a connection it watches. */
  error(): void
  /** A part of Redis stopped answering (a cluster node), though no command failed yet. */
  trouble(): void
}
