// @ts-check
// The bench's child processes: startServer() forks bench/server.js and ask() talks to it over IPC, answerParent() is
// the child's side; runScript() runs a script to its end; startRedis() a redis-server; stopAll() stops them all.
import { execFileSync, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { log } from './lib.js'

/** @typedef {ReturnType<typeof start>} Child */
/** @typedef {Child & { url: string }} Server */
/** @typedef {{ execArgv?: string[], execPath?: string, cwd?: string, env?: Record<string, string> }} StartOptions */
/** @typedef {Partial<Record<'controlPlaneUrl' | 'jwksUrl' | 'issuer' | 'audience' | 'redisUrl' | 'redisPrefix', string>> & { jwks?: object }} ServerSettings */
/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set()
/** Forks `bench/<script>` with IPC (under `execPath` when given, e.g. valgrind); its stdout piped, stderr shared. */
function start(/** @type {string} */ script, /** @type {string[]} */ args, /** @type {StartOptions} */ { env = {}, ...options }) {
  /** @type {import('node:child_process').StdioOptions} */
  const stdio = ['ignore', 'pipe', 'inherit', 'ipc']
  const child = fork(new URL(script, import.meta.url), args, { stdio, ...options, env: { ...process.env, ...env } })
  running.add(child)
  /** @type {Map<number, (answer: any) => void>} */
  const waiting = new Map()
  let sequence = 0
  child.on('message', (/** @type {{ id: number }} */ message) => waiting.get(message.id)?.(message))
  child.once('exit', (code, signal) => {
    running.delete(child)
    for (const answer of waiting.values()) answer({ error: `exited (${code ?? signal})` })
  })
  /** @type {(message: Record<string, unknown>, timeoutMs?: number) => Promise<any>} Resolves with the answer (a JSON object). */
  const ask = (message, timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const id = ++sequence
      const timer = setTimeout(() => waiting.get(id)?.({ error: `no answer in ${timeoutMs} ms` }), timeoutMs)
      waiting.set(id, (answer) => {
        clearTimeout(timer)
        waiting.delete(id)
        if (answer.error === undefined) resolve(answer)
        else reject(new Error(`${script} ${args.join(' ')}: ${JSON.stringify(message)}: ${answer.error}`))
      })
      child.send({ ...message, id })
    })
  return { child, pid: /** @type {number} */ (child.pid), ask, stop: () => stop(child) }
}
/**
 * In a child: answers each IPC message `{ id, ... }` with `{ id, ...(await handle(message)) }`, or `{ id, error }`.
 * Exits when the parent goes away or on SIGTERM / SIGINT, through process.exit() (so `--cpu-prof` writes its profile).
 */
export function answerParent(/** @type {(message: any) => object | Promise<object>} */ handle) {
  process.on('message', async (/** @type {{ id: number }} */ message) => {
    const answer = await Promise.resolve(message)
      .then(handle)
      .catch((error) => ({ error: String(error?.stack ?? error) }))
    process.send?.({ ...answer, id: message.id })
  })
  for (const event of ['disconnect', 'SIGTERM', 'SIGINT']) process.on(event, () => process.exit(0))
}
/** Runs `bench/<script> ...args` to its end; resolves with the last line it printed on stdout, parsed as JSON. */
/** @type {(script: string, args?: string[], execArgv?: string[]) => Promise<any>} */
export async function runScript(script, args = [], execArgv = []) {
  const { child, stop } = start(script, args, { execArgv })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk) => (out += chunk))
  const timer = setTimeout(stop, 120_000)
  const [code, signal] = await once(child, 'exit')
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} exited (${code ?? signal})`)
  return JSON.parse(out.trim().split('\n').at(-1) ?? '')
}
/**
 * Starts `bench/server.js <scenario>`, resolved once it printed its port (other lines, such as the one each verifier
 * logs when made, pass); once more if it fails to start.
 * @type {(scenario: string, settings: ServerSettings, options?: StartOptions & { timeoutMs?: number }, attempt?: number) => Promise<Server>}
 */
export async function startServer(scenario, settings, { timeoutMs = 15_000, ...options } = {}, attempt = 1) {
  const server = start('server.js', [scenario], { ...options, env: { BENCH_SERVER: JSON.stringify(settings) } })
  try {
    const line = await new Promise((resolve, reject) => {
      setTimeout(() => reject(new Error(`printed no port in ${timeoutMs} ms`)), timeoutMs).unref()
      createInterface({ input: Object(server.child.stdout) }).on('line', (line) => line.startsWith('{"port":') && resolve(line))
      server.child.once('exit', (code) => reject(new Error(`exited (${code}) before listening`)))
    })
    return { ...server, url: `http://127.0.0.1:${JSON.parse(line).port}` }
  } catch (error) {
    await server.stop()
    if (attempt === 2) throw error
    log(`  server ${scenario}: ${error instanceof Error ? error.message : error}; trying once more`)
    await sleep(2_000)
    return startServer(scenario, settings, { timeoutMs, ...options }, 2)
  }
}
/** SIGTERM, then SIGKILL if the child is still there after 5 s. */
function stop(/** @type {import('node:child_process').ChildProcess} */ child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  child.kill('SIGTERM')
  return once(child, 'exit').then(() => clearTimeout(timer))
}
export const stopAll = () => Promise.all([...running].map(stop))
/** Synchronous last resort for process 'exit': SIGKILL whatever is left. */
export function killAllNow() {
  for (const child of running) child.kill('SIGKILL')
}
/** @returns {Promise<{ url: string, stop: () => Promise<void> } | null>} A redis-server on a free port, or null without one. */
export async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return null
  }
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = Object(probe.address())
  probe.close()
  const child = spawn('redis-server', ['--port', `${port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  running.add(child)
  child.once('exit', () => running.delete(child))
  /** @type {() => Promise<boolean>} */
  const accepts = () =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => (socket.destroy(), resolve(true))).once('error', () => resolve(false))
    })
  for (let waited = 0; !(await accepts()); waited += 50) {
    if (waited >= 5_000 || child.exitCode !== null) throw new Error(`bench: redis-server on port ${port} did not start`)
    await sleep(50)
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => stop(child) }
}
