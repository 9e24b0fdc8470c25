import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createClient } from 'redis'
import { answering, freePort, killServers } from './redis-server.js'

/** A Redis Cluster of the test's own on loopback: three masters, each with one replica. */
export interface TestCluster {
  /** The root nodes, as `createCluster({ rootNodes })` takes them. */
  readonly rootNodes: Array<{ url: string }>
  /** Ports of the masters now. */
  masters(): Promise<number[]>
  /** Port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>
  /** Kills one node (SIGKILL: no goodbye to its clients or to the cluster). */
  kill(port: number): Promise<void>
  /** Resolves once `key`'s slot is served by a master other than `deadPort`, and every live node says ok. */
  failedOver(key: string, deadPort: number, within?: number): Promise<number>
  /** Kills every node and removes the temp dir. */
  stop(): Promise<void>
}

const NODES = 6
// A node timeout of 1 s: a failover takes about two. A replica may always take over, however long it was
// away; a fresh one syncs at once.
const CLUSTER_ARGS =
  '--cluster-enabled yes --cluster-node-timeout 1000 --cluster-replica-validity-factor 0 --repl-diskless-sync yes --repl-diskless-sync-delay 0'
const run = promisify(execFile)

/** Six free loopback ports, for a cluster started later on them. */
export async function clusterPorts(): Promise<number[]> {
  const ports: number[] = []
  for (let i = 0; i < NODES; i++) ports.push(await freePort())
  return ports
}

/** One command to the node on `port`, on a short-lived connection. */
export async function ask(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } })
  client.on('error', () => {})
  await client.connect()
  try {
    return await client.sendCommand(args)
  } finally {
    client.destroy()
  }
}

async function until(what: string, within: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + within
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} not within ${within} ms`)
    await new Promise((done) => setTimeout(done, 50))
  }
}

/**
 * Starts six `redis-server --cluster-enabled yes` on free loopback ports (or on `options.ports`; with
 * `options.beforeJoin` run while they answer but hold no slots yet) and joins them with `redis-cli
 * --cluster create --cluster-replicas 1`. A node timeout of 1 s makes a failover take about two seconds.
 */
export async function startTestCluster(
  options: { ports?: number[]; beforeJoin?: () => Promise<void> } = {},
): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'portkey-cluster-'))
  const ports = options.ports ?? (await clusterPorts())
  const children = new Map<number, ChildProcess>()
  const stop = () => killServers(children.values(), dir)
  try {
    for (const port of ports) {
      const args = [
        `--port ${port} --bind 127.0.0.1 --dir ${dir} --appendonly no`,
        CLUSTER_ARGS,
        `--cluster-config-file nodes-${port}.conf`,
      ]
      const child = spawn('redis-server', [...args.join(' ').split(' '), '--save', ''], { stdio: 'ignore' })
      children.set(port, child)
    }
    await Promise.all(ports.map((port) => answering(port)))
    await options.beforeJoin?.()
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ])
    await until('cluster_state:ok on every node', 15_000, async () => {
      const infos = await Promise.all(ports.map((port) => ask(port, ['CLUSTER', 'INFO'])))
      return infos.every((info) => String(info).includes('cluster_state:ok'))
    })
    await until('every replica in sync', 15_000, async () => {
      const infos = await Promise.all(ports.map((port) => ask(port, ['INFO', 'replication'])))
      const replicas = infos.filter((info) => String(info).includes('role:slave'))
      return replicas.length === NODES / 2 && replicas.every((info) => String(info).includes('master_link_status:up'))
    })
  } catch (error) {
    await stop()
    throw error
  }

  const alive = () => ports.filter((port) => children.get(port)!.exitCode === null && children.get(port)!.signalCode === null)
  const slotOwner = async (slot: number, via: number): Promise<number | undefined> => {
    const ranges = (await ask(via, ['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number]]>
    return ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1]
  }
  const cluster: TestCluster = {
    rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })),
    async masters() {
      const ranges = (await ask(alive()[0]!, ['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number]]>
      return [...new Set(ranges.map((range) => range[2][1]))]
    },
    async masterOf(key) {
      const via = alive()[0]!
      const slot = Number(await ask(via, ['CLUSTER', 'KEYSLOT', key]))
      return (await slotOwner(slot, via))!
    },
    async kill(port) {
      const child = children.get(port)!
      child.kill('SIGKILL')
      await once(child, 'exit')
    },
    async failedOver(key, deadPort, within = 10_000) {
      let owner: number | undefined
      await until(`failover from ${deadPort}`, within, async () => {
        const live = alive()
        const slot = Number(await ask(live[0]!, ['CLUSTER', 'KEYSLOT', key]))
        owner = await slotOwner(slot, live[0]!)
        const infos = await Promise.all(live.map((port) => ask(port, ['CLUSTER', 'INFO'])))
        return owner !== deadPort && infos.every((info) => String(info).includes('cluster_state:ok'))
      })
      return owner!
    },
    stop,
  }
  return cluster
}
