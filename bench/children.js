// Child processes of the benchmark: started here, tracked, and all stopped by stopAll() (run.js calls it
// on every way out). Each child also exits by itself when this process goes away (IPC disconnect).
import { fork } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const running = new Set()

/** Forks `script` (a file in bench/) with IPC; stdout is piped, stderr shared. */
function start(script, args, { env = {}, execArgv = [] } = {}) {
  const child = fork(HERE + script, args, {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
    execArgv,
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let sequence = 0
  const waiting = new Map()
  child.on('message', (message) => {
    const answer = waiting.get(message?.id)
    if (answer === undefined) return
    waiting.delete(message.id)
    if (message.error !== undefined) answer.reject(new Error(`${script}: ${message.error}`))
    else answer.resolve(message)
  })
  child.once('exit', (code, signal) => {
    for (const { reject } of waiting.values()) reject(new Error(`${script} exited (${code ?? signal})`))
    waiting.clear()
  })
  return {
    child,
    pid: child.pid,
    /** Sends `message` and resolves with the answer carrying the same id. */
    ask(message, timeoutMs = 10_000) {
      const id = ++sequence
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id)
          reject(new Error(`${script}: no answer to ${message.type} in ${timeoutMs} ms`))
        }, timeoutMs)
        waiting.set(id, {
          resolve: (value) => (clearTimeout(timer), resolve(value)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        })
        child.send({ ...message, id })
      })
    },
    stop: () => stop(child),
  }
}

/** Runs `bench/<script>` to its end and resolves with the last line it printed on stdout, parsed as JSON. */
export async function runScript(script, { timeoutMs = 120_000 } = {}) {
  const { child } = start(script, [])
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk))
  const timer = setTimeout(() => stop(child), timeoutMs)
  const [code, signal] = await new Promise((resolve) => child.once('exit', (...args) => resolve(args)))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} exited (${code ?? signal})`)
  return JSON.parse(out.trim().split('\n').at(-1))
}

/** Starts the control-plane stub child and resolves once it listens. */
export async function startStub({ jwks, keys }) {
  const stub = start('stub.js', [])
  const { url, jwksUrl } = await stub.ask({ type: 'start', jwks, keys })
  return { ...stub, url, jwksUrl }
}

const DIST = new URL('../dist/index.js', import.meta.url)

/**
 * Waits (up to a minute) for dist/ to exist: another `npm run build` in the same tree (rm -rf dist, then
 * tsc) leaves it missing for a few seconds.
 */
export async function waitForDist() {
  for (let waited = 0; !existsSync(DIST); waited += 500) {
    if (waited >= 60_000) throw new Error('bench: dist/ is missing; run `npm run build`')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  // tsc writes files one by one: give it a moment to finish.
  await new Promise((resolve) => setTimeout(resolve, 200))
}

/** Starts `bench/server.js <scenario>` (once more if it died at start, e.g. during a rebuild of dist/). */
export async function startServer(scenario, settings, options) {
  await waitForDist()
  try {
    return await startServerOnce(scenario, settings, options)
  } catch (error) {
    process.stderr.write(`  ${error.message}; trying once more\n`)
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    await waitForDist()
    return startServerOnce(scenario, settings, options)
  }
}

/** Starts `bench/server.js <scenario>` and resolves with its URL once it printed its port. */
async function startServerOnce(scenario, settings, { execArgv = [] } = {}) {
  const server = start('server.js', [scenario], { env: { BENCH_SERVER: JSON.stringify(settings) }, execArgv })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${scenario} printed no port in 15 s`)), 15_000)
    const lines = createInterface({ input: server.child.stdout })
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(line).port)
      } catch {
        reject(new Error(`server ${scenario} printed ${line}`))
      }
    })
    server.child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server ${scenario} exited (${code}) before listening`))
    })
  }).catch(async (error) => {
    await server.stop()
    throw error
  })
  return { ...server, scenario, url: `http://127.0.0.1:${port}` }
}

/** CPU time the process `pid` has used so far, in milliseconds (Linux /proc; null elsewhere). */
export function cpuTimeMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the full line, in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return null
  }
}

/** CPU time the whole machine has been busy so far, all cores, in milliseconds (Linux /proc; null elsewhere). */
export function machineBusyMs() {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number)
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user, nice, system, , , irq, softirq, steal = 0] = ticks
    return ((user + nice + system + irq + softirq + steal) * 1000) / 100
  } catch {
    return null
  }
}

/** Stops one child: SIGTERM, then SIGKILL if it is still there after 2 s. */
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
export function stopAll() {
  return Promise.all([...running].map(stop))
}

/** Synchronous last resort for process 'exit': SIGKILL whatever is left. */
export function killAllNow() {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}
