// @ts-check
// A redis-server for the scenarios that share one (6 and 11): Debian's `redis-server`, on a free loopback
// port, without persistence, stopped when the process that started it exits.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** @typedef {{ url: string, stop: () => Promise<void> }} Redis */

/**
 * Starts a redis-server and resolves once it accepts connections (up to 5 s), or with `null` when there is
 * no `redis-server` on PATH.
 * @returns {Promise<Redis | null>}
 */
export async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return null
  }
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address())
  probe.close()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  const kill = () => child.kill('SIGKILL')
  process.on('exit', kill)
  const stop = async () => {
    process.off('exit', kill)
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
  for (let waited = 0; !(await accepts(port)); waited += 50) {
    if (waited >= 5_000 || child.exitCode !== null) {
      await stop()
      throw new Error(`bench: redis-server on port ${port} did not start`)
    }
    await sleep(50)
  }
  return { url: `redis://127.0.0.1:${port}`, stop }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(/** @type {number} */ port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}
