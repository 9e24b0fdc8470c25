import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { createServer, Socket } from 'node:net'
import { createClient } from 'redis'
import { afterAll, beforeAll } from 'vitest'

/** A redis-server of the test's own on a free loopback port, that it can stop and start again. */
export interface TestRedis {
  readonly url: string
  readonly port: number
  stop(): Promise<void>
  start(): Promise<void>
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as { port: number }
  await new Promise((done) => server.close(done))
  return port
}

/** Kills every server still running (SIGKILL, waiting for each to exit) and removes their directory. */
export async function killServers(children: Iterable<ChildProcess>, dir: string): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
  await rm(dir, { recursive: true, force: true })
}

/** Resolves once the server on `port` answers PING. */
export async function answering(port: number, within = 5_000): Promise<void> {
  const deadline = Date.now() + within
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const socket = new Socket()
      socket.once('error', () => done(false))
      socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
      socket.once('data', (data) => {
        socket.destroy()
        done(String(data).startsWith('+PONG'))
      })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer`)
    await new Promise((done) => setTimeout(done, 25))
  }
}

/**
 * Starts `redis-server` (Debian's package; .ci/run installs it) with no persistence, bound to 127.0.0.1.
 */
export async function startTestRedis(on?: number): Promise<TestRedis> {
  const port = on ?? (await freePort())
  let child: ChildProcess | undefined
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      })
      child.once('error', (error) => {
        throw new Error(`cannot start redis-server (is it installed? .ci/run installs it): ${error.message}`)
      })
      await answering(port)
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await once(child, 'exit')
    },
  }
  await redis.start()
  return redis
}

/** A test file's redis-server and a client of the test's own (to read and plant counters), once its tests run. */
export interface RedisAtHand {
  readonly redis: TestRedis
  /** Replaceable: a test that restarts the server connects a fresh one. */
  client: ReturnType<typeof createClient>
}

/** Starts a redis-server and connects a client before the file's tests; closes and stops both after them. */
export function useRedisAtHand(): RedisAtHand {
  const at = {} as { redis: TestRedis; client: ReturnType<typeof createClient> }
  beforeAll(async () => {
    at.redis = await startTestRedis()
    at.client = await createClient({ url: at.redis.url })
      .on('error', () => {})
      .connect()
  })
  afterAll(async () => {
    await at.client?.close()
    await at.redis?.stop()
  })
  return at
}
