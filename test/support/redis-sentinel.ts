import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ask } from './redis-cluster.js'
import { answering, freePort, killServers } from './redis-server.js'

/** One primary, one replica and one sentinel of the test's own on loopback. */
export interface TestSentinel {
  /** The name the sentinel monitors the primary under. */
  readonly name: string
  /** The sentinel, as `createSentinel({ sentinelRootNodes })` takes it. */
  readonly sentinelRootNodes: Array<{ host: string; port: number }>
  /** Port of the primary now, as the sentinel tells it. */
  primary(): Promise<number>
  /** Kills the primary (SIGKILL); resolves once the sentinel names the replica as the new primary. */
  killPrimary(within?: number): Promise<number>
  /**
   * Stalls replication: the replica is pointed at a port nothing listens on, so it keeps its data but
   * receives no more writes (WAIT then confirms none). The sentinel still counts it as the replica to promote.
   */
  stallReplication(): Promise<void>
  /** Kills every process and removes the temp dir. */
  stop(): Promise<void>
}

const NAME = 'portkey-test'

async function until(what: string, within: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + within
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`redis sentinel: ${what} not within ${within} ms`)
    await new Promise((done) => setTimeout(done, 50))
  }
}

/**
 * Starts a primary, a replica of it and `redis-server --sentinel` watching it with a quorum of one and a
 * `down-after-milliseconds` of 1 s: a killed primary is replaced within a few seconds.
 */
export async function startTestSentinel(): Promise<TestSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'portkey-sentinel-'))
  const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
  const children = new Map<number, ChildProcess>()
  const server = (port: number, args: string[]) => {
    const common = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no']
    children.set(port, spawn('redis-server', [...args, ...common], { stdio: 'ignore' }))
  }
  const stop = () => killServers(children.values(), dir)
  try {
    server(primaryPort!, ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'])
    server(replicaPort!, ['--replicaof', '127.0.0.1', String(primaryPort)])
    const config = join(dir, 'sentinel.conf')
    await writeFile(
      config,
      [
        `sentinel monitor ${NAME} 127.0.0.1 ${primaryPort} 1`,
        `sentinel down-after-milliseconds ${NAME} 1000`,
        `sentinel failover-timeout ${NAME} 5000`,
        '',
      ].join('\n'),
    )
    server(sentinelPort!, [config, '--sentinel'])
    await Promise.all([primaryPort!, replicaPort!, sentinelPort!].map((port) => answering(port)))
    await until('the replica in sync', 10_000, async () =>
      String(await ask(replicaPort!, ['INFO', 'replication'])).includes('master_link_status:up'),
    )
    await until('the sentinel knowing the replica', 15_000, async () => {
      const replicas = (await ask(sentinelPort!, ['SENTINEL', 'REPLICAS', NAME])) as unknown[]
      return replicas.length === 1 && JSON.stringify(replicas).includes(String(replicaPort))
    })
  } catch (error) {
    await stop()
    throw error
  }
  const primary = async () => Number(((await ask(sentinelPort!, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME])) as string[])[1])
  return {
    name: NAME,
    sentinelRootNodes: [{ host: '127.0.0.1', port: sentinelPort! }],
    primary,
    async killPrimary(within = 15_000) {
      const old = await primary()
      const child = children.get(old)!
      child.kill('SIGKILL')
      await once(child, 'exit')
      let now = old
      await until('the replica promoted', within, async () => {
        now = await primary()
        return now !== old && String(await ask(now, ['INFO', 'replication'])).includes('role:master')
      })
      return now
    },
    async stallReplication() {
      const current = await primary()
      const replica = [primaryPort!, replicaPort!].find((port) => port !== current)!
      await ask(replica, ['REPLICAOF', '127.0.0.1', String(await freePort())])
    },
    stop,
  }
}
