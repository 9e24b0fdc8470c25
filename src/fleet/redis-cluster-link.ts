import { TIMINGS } from '../options/defaults.js'
import type { RedisClusterLike } from '../options/redis-options.js'
import { end } from './end-client.js'
import type { LinkEvents, RedisLink } from './link.js'
import { sleep, unref } from '../platform/timers.js'

// Commands whose first argument is not a key: on a cluster, any node may take them.
const KEYLESS = new Set(['PING', 'PUBLISH', 'WAIT', 'INFO', 'TIME', 'ECHO'])
const SCRIPTS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO'])

/** The key a cluster routes `args` by: a script's first key, else the first argument; none for keyless commands. */
export function keyOf(args: readonly string[]): string | undefined {
  const name = args[0]?.toUpperCase() ?? ''
  if (SCRIPTS.has(name)) return Number(args[2]) > 0 ? args[3] : undefined
  return KEYLESS.has(name) ? undefined : args[1]
}

const NODE_TROUBLE = ['node-error', 'node-disconnect']

interface SlotNode {
  client?: { isReady: boolean; options?: unknown }
}

/** The slot map node-redis v5 keeps inside a cluster client (not public; v4 has none reachable). */
interface Slots {
  masters?: SlotNode[]
  replicas?: SlotNode[]
  pubSubNode?: SlotNode
  rediscover?(startWith: { options?: unknown }): Promise<unknown>
}

/**
 * A link over a node-redis cluster client. Each command goes to the master of its key's slot (the
 * shared tier keeps every key a script touches in one slot). Pub/sub is the plain kind: a message
 * published on any node reaches subscribers on every node, so one subscription anywhere hears the whole
 * fleet, and losing a master cuts off only the instances subscribed on it.
 *
 * node-redis relearns the slot map only when a node answers MOVED or ASK; a dead master answers nothing,
 * so after a failed or timed-out command, and then every `TIMINGS.redisRediscoverMs` until every master
 * answers, the link asks the cluster for its slot map again: once the replica is promoted, commands go to it.
 */
export function clusterLink(cluster: RedisClusterLike, owned: boolean, events: LinkEvents): RedisLink {
  const { error: errors, trouble } = events
  let closed = false
  let discovered = !owned // a client the app gave: the app connects it
  // Unlike a standalone client, a cluster client that finds no root node gives up: try again, until closed.
  const connect = (client: RedisClusterLike, connected: () => void) => {
    client.connect().then(connected, () => {
      errors()
      if (!closed) unref(setTimeout(() => connect(client, connected), TIMINGS.redisRediscoverMs * 2))
    })
  }
  if (owned)
    connect(cluster, () => {
      discovered = true
      // Nodes that hold no slots yet (a cluster being created) leave an empty slot map: heal until it fills.
      if (!mastersReady(cluster)) trouble()
    })
  // A node lost: the connection relearns the slots until every master answers, requests or not.
  for (const event of NODE_TROUBLE) cluster.on(event, trouble)
  let subscriber: RedisClusterLike | undefined
  const relearn = throttled(() => rediscover(cluster))
  const relearnSubscriber = throttled(() => subscriber && rediscover(subscriber))
  const link: RedisLink = {
    kind: 'cluster',
    get replicasExpected() {
      // node-redis v5 lists the replicas of its slot map; v4 keeps it private: expect them then.
      const replicas = (cluster as { replicas?: unknown[] }).replicas
      return replicas === undefined || replicas.length > 0
    },
    get open() {
      return discovered && cluster.isOpen
    },
    get healthy() {
      return link.open && mastersReady(cluster)
    },
    async send(args, key = keyOf(args)) {
      if (key !== undefined) return cluster.sendCommand(key, false, args)
      // Any node takes it (a PUBLISH reaches every node from any): if the one picked is dead, the next one.
      return cluster.sendCommand(undefined, false, args).catch(() => cluster.sendCommand(undefined, false, args))
    },
    troubled: relearn,
    async subscribe(listeners, lost) {
      // A duplicate that opens only its pub/sub connection: every node event on it is about that one.
      const duplicate = cluster.duplicate({ minimizeConnections: true })
      subscriber = duplicate
      duplicate.on('error', errors)
      duplicate.on('node-error', errors)
      for (const event of ['node-error', 'node-disconnect', 'node-reconnecting']) duplicate.on(event, lost)
      await new Promise<void>((connected) => connect(duplicate, connected))
      // With an empty slot map there is no node to subscribe on yet: relearn it and try again, until closed.
      const pending = new Map(listeners)
      while (pending.size > 0 && !closed) {
        try {
          for (const [channel, listener] of pending) {
            await duplicate.subscribe(channel, listener)
            pending.delete(channel)
          }
        } catch {
          errors()
          rediscover(duplicate)
          await sleep(TIMINGS.redisRediscoverMs, { unref: true })
        }
      }
    },
    // Its pub/sub node may be the master that died: relearning the slots moves the subscription to a live node.
    recover: relearnSubscriber,
    async close() {
      closed = true
      for (const event of NODE_TROUBLE) cluster.off?.(event, trouble)
      await end(subscriber)
      if (owned) await end(cluster)
    },
  }
  return link
}

function throttled(run: () => void): () => void {
  let last = 0
  return () => {
    // Half the period: the connection's healing timer asks every period, and timers run a little late or early.
    if (Date.now() - last < TIMINGS.redisRediscoverMs / 2) return
    last = Date.now()
    run()
  }
}

function mastersReady(cluster: RedisClusterLike): boolean {
  const v4 = cluster as { getMasters?(): SlotNode[] }
  const masters = (cluster as { masters?: SlotNode[] }).masters ?? v4.getMasters?.() ?? []
  return masters.length > 0 && masters.every((node) => node.client === undefined || node.client.isReady)
}

function rediscover(cluster: RedisClusterLike): void {
  const slots = (cluster as { _slots?: Slots })._slots
  if (typeof slots?.rediscover !== 'function') return
  const nodes = [...(slots.masters ?? []), ...(slots.replicas ?? []), ...(slots.pubSubNode ? [slots.pubSubNode] : [])]
  // It asks this node first, then the root nodes: start with one that answers.
  const start = nodes.find((node) => node.client?.isReady)?.client ?? nodes.find((node) => node.client)?.client
  const root = (cluster as { _options?: { rootNodes?: unknown[] } })._options?.rootNodes?.[0]
  const startWith = start ?? (root === undefined ? undefined : { options: root })
  if (startWith !== undefined) slots.rediscover(startWith).catch(() => {})
}
