// @ts-check
// Child processes of the benchmark. Parent side: start() forks a bench/ script, ask() talks to it over IPC,
// stopAll() stops every child (run.js calls it on every way out). Child side: answerParent() answers those
// questions and exits when the parent goes away.
import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */
/** @typedef {ReturnType<typeof start>} Child */

/** @type {Set<ChildProcess>} */
const running = new Set()

/**
 * Forks `bench/<script>` with IPC; its stdout is piped, stderr shared.
 * @param {string} script
 * @param {string[]} [args]
 * @param {{ env?: Record<string, string>, execArgv?: string[] }} [options]
 */
export function start(script, args = [], { env = {}, execArgv = [] } = {}) {
  const child = fork(new URL(script, import.meta.url), args, {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
    execArgv,
  })
  running.add(child)
  /** @type {Map<number, { resolve: (answer: unknown) => void, reject: (error: Error) => void }>} */
  const waiting = new Map()
  let sequence = 0
  child.on('message', (/** @type {{ id?: number, error?: string }} */ message) => {
    const id = message?.id ?? 0
    const answer = waiting.get(id)
    if (answer === undefined) return
    waiting.delete(id)
    if (message.error !== undefined) answer.reject(new Error(`${script}: ${message.error}`))
    else answer.resolve(message)
  })
  child.once('exit', (code, signal) => {
    running.delete(child)
    for (const { reject } of waiting.values()) reject(new Error(`${script} exited (${code ?? signal})`))
    waiting.clear()
  })
  return {
    child,
    pid: /** @type {number} */ (child.pid),
    /**
     * Sends `message` and resolves with the answer carrying the same id (a JSON object, so `any`).
     * @type {(message: { type?: string, op?: string, [field: string]: unknown }, timeoutMs?: number) => Promise<any>}
     */
    ask: (message, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const id = ++sequence
        const timer = setTimeout(() => {
          waiting.delete(id)
          reject(new Error(`${script}: no answer to ${message.type ?? message.op} in ${timeoutMs} ms`))
        }, timeoutMs)
        waiting.set(id, {
          resolve: (answer) => (clearTimeout(timer), resolve(answer)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        })
        child.send({ ...message, id })
      }),
    /** SIGTERM, then SIGKILL if it is still there after 2 s. */
    stop: () => stop(child),
  }
}

/**
 * In a child: answers each IPC message `{ id, ... }` with `{ id, ...(await handle(message)) }`, or with
 * `{ id, error }`. Exits when the parent goes away (the IPC channel closes) or on SIGTERM / SIGINT, through
 * process.exit() so that `node --cpu-prof` writes its profile.
 * @param {(message: any) => object | Promise<object>} handle
 */
export function answerParent(handle) {
  process.on('message', (/** @type {{ id: number }} */ message) => {
    Promise.resolve(message)
      .then(handle)
      .then(
        (answer) => process.send?.({ ...answer, id: message.id }),
        (error) => process.send?.({ id: message.id, error: String(error?.stack ?? error) }),
      )
  })
  const quit = () => process.exit(0)
  for (const event of ['disconnect', 'SIGTERM', 'SIGINT']) process.on(event, quit)
}

/**
 * Runs `bench/<script> ...args` to its end and resolves with the last line it printed on stdout, parsed as JSON.
 * @param {string} script
 * @param {string[]} [args]
 * @param {{ timeoutMs?: number, execArgv?: string[] }} [options]
 * @returns {Promise<any>}
 */
export async function runScript(script, args = [], { timeoutMs = 120_000, execArgv = [] } = {}) {
  const { child, stop } = start(script, args, { execArgv })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk) => (out += chunk))
  const timer = setTimeout(stop, timeoutMs)
  const [code, signal] = await new Promise((resolve) => child.once('exit', (...args) => resolve(args)))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} exited (${code ?? signal})`)
  return JSON.parse(out.trim().split('\n').at(-1) ?? '')
}

/** @typedef {Child & { url: string, jwksUrl: string }} Stub */

/**
 * Starts the control-plane stub child (bench/stub.js) and resolves once it listens.
 * @param {{ jwks: object, keys: string[] }} options
 * @returns {Promise<Stub>}
 */
export async function startStub({ jwks, keys }) {
  const stub = start('stub.js')
  const { url, jwksUrl } = await stub.ask({ type: 'start', jwks, keys })
  return { ...stub, url, jwksUrl }
}

/**
 * Starts one verifier instance of the fleet scenarios (bench/instance.js, settings in `env`) and resolves
 * once it is ready (its Redis connected, when it has one; up to 5 s).
 * @param {Record<string, string>} env
 */
export async function startInstance(env) {
  const member = start('instance.js', [], { env })
  member.child.stdout?.resume() // nothing to read; never let a full pipe block it
  for (let i = 0; i < 50 && !(await member.ask({ op: 'ready' })).ready; i++) await sleep(100)
  return member
}

/** What bench/server.js reads from env BENCH_SERVER. */
/** @typedef {{ controlPlaneUrl: string, jwksUrl: string, issuer: string, audience: string, redisUrl?: string, redisPrefix?: string }} ServerSettings */

const DIST = new URL('../dist/index.js', import.meta.url)

/**
 * Starts `bench/server.js <scenario>` and resolves with its URL once it printed its port. Another
 * `npm run build` in the same tree (rm -rf dist, then tsc) leaves dist/ missing for a few seconds: waits for
 * it (up to a minute), and starts the server once more if it died at start.
 * @param {string} scenario
 * @param {ServerSettings} settings
 * @param {{ execArgv?: string[] }} [options]
 * @returns {Promise<Child & { url: string }>}
 */
export async function startServer(scenario, settings, { execArgv = [] } = {}) {
  for (let attempt = 1; ; attempt++) {
    for (let waited = 0; !existsSync(DIST); waited += 500) {
      if (waited >= 60_000) throw new Error('bench: dist/ is missing; run `npm run build`')
      await sleep(500)
    }
    await sleep(200) // tsc writes its files one by one
    const server = start('server.js', [scenario], { env: { BENCH_SERVER: JSON.stringify(settings) }, execArgv })
    try {
      const line = await new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error('printed no port in 15 s')), 15_000).unref()
        // The port is the line of JSON; the others (the line each verifier logs when made) pass.
        const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (server.child.stdout) })
        lines.on('line', (line) => line.startsWith('{"port":') && resolve(line))
        server.child.once('exit', (code) => reject(new Error(`exited (${code}) before listening`)))
      })
      return { ...server, url: `http://127.0.0.1:${JSON.parse(line).port}` }
    } catch (error) {
      await server.stop()
      if (attempt === 2) throw error
      process.stderr.write(`  server ${scenario}: ${error instanceof Error ? error.message : error}; trying once more\n`)
      await sleep(2_000)
    }
  }
}

/**
 * @param {ChildProcess} child
 * @returns {Promise<void>}
 */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Stops every child still running. */
export const stopAll = () => Promise.all([...running].map(stop))

/** Synchronous last resort for process 'exit': SIGKILL whatever is left. */
export function killAllNow() {
  for (const child of running) child.kill('SIGKILL')
}
