import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createClient, createCluster, createSentinel } from 'redis'
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest'
import type { RateLimitOptions } from '../../src/options/verifier-options.js'
import { createVerifier, type Verifier, type VerifierStats } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, KEY_DETAILS_PATH, startControlPlaneStub } from '../../src/testing/index.js'
import type { CheckStatus, LimitCount, LimitHolder } from '../../src/types.js'
import type { TestCluster } from './redis-cluster.js'
import type { TestSentinel } from './redis-sentinel.js'

// Three verifier instances — two in this process, one in a child process — sharing one stub control
// plane and one Redis deployment (a standalone server, a cluster, or a primary behind Sentinel).

/** One verifier instance, as the fleet tests drive it. */
export interface Instance {
  /** `ratelimit`: the request's `RateLimit` header (admitted or refused 429), when a limit applied. */
  verify(credential: string): Promise<{ status: number; code?: string; keyId?: string; ratelimit?: string; ms: number }>
  /** The verifier's stats (through IPC for the child process). */
  stats(): Promise<VerifierStats>
  /** `verifier.rateLimitStanding(holder)` (through IPC for the child process). */
  standing(holder: LimitHolder): Promise<readonly LimitCount[]>
  close(): Promise<void>
}

/** Redis as the test reads it around the verifiers: every master of a cluster. */
interface RawRedis {
  /** Every key name matching `pattern` (SCAN on every master). */
  keys(pattern: string): Promise<string[]>
  /** The names matching `pattern` and everything stored under them. */
  dump(pattern: string): Promise<string[]>
  set(key: string, value: string, px: number): Promise<void>
  /** MOVED replies every master has sent so far (a command sent to the wrong node of a cluster). */
  moved(): Promise<number>
  close(): Promise<void>
}

/** One Redis deployment the fleet runs on. */
export interface Deployment {
  /** The `redis` option, without its prefix, for an instance that makes its own client. */
  readonly settings: Record<string, unknown>
  /** A connected node-redis client of the app's own, of the deployment's kind. */
  client(): Promise<{ close(): Promise<unknown> }>
  raw(): Promise<RawRedis>
}

type Scanner = { scanIterator(options: object): AsyncIterable<string[]>; info(section: string): Promise<string> }
type Reader = {
  type(key: string): Promise<string>
  get(key: string): Promise<string | null>
  sMembers(key: string): Promise<string[]>
}

function rawOver(
  scanners: Scanner[],
  reader: Reader & { set(...args: unknown[]): Promise<unknown> },
  close: () => Promise<unknown>,
): RawRedis {
  const keys = async (pattern: string) => {
    const names: string[] = []
    for (const scanner of scanners)
      for await (const batch of scanner.scanIterator({ MATCH: pattern, COUNT: 100 })) names.push(...batch)
    return names
  }
  return {
    keys,
    async dump(pattern) {
      const names = await keys(pattern)
      const dump = [...names]
      for (const name of names) {
        const type = await reader.type(name)
        if (type === 'string') dump.push((await reader.get(name)) ?? '')
        if (type === 'set') dump.push(...(await reader.sMembers(name)))
      }
      return dump
    },
    set: async (key, value, px) => void (await reader.set(key, value, { PX: px })),
    async moved() {
      const infos = await Promise.all(scanners.map((scanner) => scanner.info('errorstats')))
      return infos.reduce((sum, info) => sum + Number(/errorstat_MOVED:count=(\d+)/.exec(info)?.[1] ?? 0), 0)
    },
    close: async () => void (await close()),
  }
}

const quiet = <T extends { on(event: string, listener: () => void): unknown }>(client: T) => {
  client.on('error', () => {})
  return client
}

export function standalone(url: string): Deployment {
  return {
    settings: { url },
    client: async () => quiet(createClient({ url, disableOfflineQueue: true })).connect(),
    async raw() {
      const client = await quiet(createClient({ url })).connect()
      return rawOver([client as never], client as never, () => client.close())
    },
  }
}

/** A cluster; `timeoutMs` for every instance's Redis commands (default: the option's default). */
export function cluster(servers: TestCluster, timeoutMs?: number): Deployment {
  const { rootNodes } = servers
  return {
    settings: { cluster: { rootNodes }, timeoutMs },
    client: async () => quiet(createCluster({ rootNodes, defaults: { disableOfflineQueue: true } })).connect(),
    async raw() {
      const client = await quiet(createCluster({ rootNodes })).connect()
      const masters = await Promise.all(client.masters.map((master) => client.nodeClient(master)))
      return rawOver(masters as never, client as never, () => client.close())
    },
  }
}

export function sentinel(servers: TestSentinel): Deployment {
  const { name, sentinelRootNodes } = servers
  const make = () => quiet(createSentinel({ name, sentinelRootNodes, nodeClientOptions: { disableOfflineQueue: true } }))
  return {
    settings: { sentinel: { name, sentinelRootNodes } },
    client: () => make().connect(),
    async raw() {
      const client = await make().connect()
      // A Sentinel client has no SCAN iterator of its own: one plain client to the primary.
      const node = client.getMasterNode()!
      const primary = await quiet(createClient({ socket: { host: node.host, port: node.port } })).connect()
      return rawOver([primary as never], client as never, async () => {
        await primary.close()
        await client.close()
      })
    },
  }
}

/**
 * Sets up the stub control plane for a test file (hooks included) and returns `fleet()`: three instances
 * on a fresh key prefix — A made from settings, B from a client of the app's own, C in a child process.
 */
export function useFleet() {
  let stub!: ControlPlaneStub
  let prefixCount = 0
  const open: Instance[] = []
  beforeAll(async () => {
    stub = await startControlPlaneStub({ delayMs: 50 })
  })
  afterAll(() => stub?.close())
  afterEach(async () => {
    for (const instance of open.splice(0)) await instance.close()
    stub.heal()
    stub.keys.clear()
    stub.resetCounts()
  })

  function local(verifier: Verifier): Instance {
    const instance: Instance = {
      stats: async () => verifier.stats(),
      standing: (holder) => verifier.rateLimitStanding(holder),
      verify(credential) {
        const started = performance.now()
        const status: CheckStatus = { cache: 'none' }
        return verifier.verify({ 'x-portkey-api-key': credential }, undefined, status).then(
          (auth) => ({
            status: 200,
            keyId: auth.keyId,
            ratelimit: status.quota?.headers?.ratelimit,
            ms: performance.now() - started,
          }),
          (error: { status: number; code: string; headers?: Record<string, string> }) => ({
            status: error.status,
            code: error.code,
            ratelimit: error.headers?.ratelimit,
            ms: performance.now() - started,
          }),
        )
      },
      close: () => verifier.close(),
    }
    open.push(instance)
    return instance
  }

  /** `skewMs`: the child's clock reads this far from the machine's (a preloaded shift of its `Date`). */
  async function child(
    settings: object,
    prefix: string,
    jwt?: JwtSetup,
    skewMs = 0,
    rateLimits?: RateLimitOptions,
  ): Promise<Instance> {
    // The fixture gives only jwt.jwksUrl: the issuer and audience reach it as env, as they would a deployed service.
    const jwtEnv = jwt
      ? { JWKS_URL: jwt.jwksUrl, PORTKEY_JWT_ISSUER: jwt.issuer, PORTKEY_JWT_AUDIENCE: jwt.audience }
      : { JWKS_URL: '' }
    const env = {
      ...process.env,
      CONTROL_PLANE_URL: stub.url,
      REDIS_SETTINGS: JSON.stringify(settings),
      REDIS_PREFIX: prefix,
      ...jwtEnv,
      CLOCK_SKEW_MS: String(skewMs),
      RATE_LIMITS: rateLimits ? JSON.stringify(rateLimits) : '',
    }
    const execArgv = skewMs === 0 ? [] : ['--import', fileURLToPath(new URL('../fixtures/skewed-clock.mjs', import.meta.url))]
    const proc: ChildProcess = fork(new URL('../fixtures/redis-instance.mjs', import.meta.url), {
      env,
      execArgv,
      stdio: 'ignore',
    })
    const replies = new Map<number, (reply: any) => void>()
    let next = 0
    proc.on('message', (message: any) => replies.get(message.id)?.(message))
    await new Promise<void>((done) => proc.once('message', () => done()))
    const ask = (message: object) =>
      new Promise<any>((resolve) => {
        const id = ++next
        replies.set(id, resolve)
        proc.send({ id, ...message })
      })
    await vi.waitFor(
      async () => expect((await ask({ op: 'stats' })).stats.redis).toMatchObject({ connected: true, listening: true }),
      { timeout: 5_000 },
    )
    const instance: Instance = {
      verify: (credential) => ask({ op: 'verify', credential }),
      stats: async () => (await ask({ op: 'stats' })).stats,
      standing: async (holder) => (await ask({ op: 'standing', holder })).standing,
      close: async () => {
        if (proc.exitCode !== null) return
        const exited = once(proc, 'exit')
        await ask({ op: 'close' })
        await exited
      },
    }
    open.push(instance)
    return instance
  }

  /** `skewMs`: C's clock reads this far ahead of the machine's (and of Redis's, on this machine too). */
  async function fleet(deployment: Deployment, jwt?: JwtSetup, skewMs = 0, rateLimits?: RateLimitOptions) {
    const prefix = `fleet-${++prefixCount}-${Date.now()}:`
    const a = createVerifier({ controlPlaneUrl: stub.url, redis: { ...deployment.settings, prefix }, jwt, rateLimits })
    const client = await deployment.client()
    const { timeoutMs } = deployment.settings as { timeoutMs?: number }
    const b = createVerifier({
      controlPlaneUrl: stub.url,
      redis: { client: client as never, prefix, timeoutMs },
      jwt,
      rateLimits,
    })
    for (const verifier of [a, b])
      await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), {
        timeout: 5_000,
      })
    const c = await child(deployment.settings, prefix, jwt, skewMs, rateLimits)
    const instances = { a: local(a), b: local(b), c }
    // Closed after B (instances close in order).
    open.push({
      verify: async () => ({ status: 0, ms: 0 }),
      stats: async () => b.stats(),
      standing: async () => [],
      close: async () => void (await client.close()),
    })
    return { ...instances, verifiers: { a, b }, prefix }
  }

  return {
    fleet,
    local,
    get stub() {
      return stub
    },
    lookups: () => stub.calls(KEY_DETAILS_PATH),
  }
}

type JwtSetup = { jwksUrl: string; issuer: string; audience: string }
