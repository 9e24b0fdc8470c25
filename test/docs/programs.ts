import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { transform } from 'esbuild'
import {
  type ControlPlaneStub,
  demoKeys,
  demoVirtualKeys,
  KEY_DETAILS_PATH,
  startControlPlaneStub,
} from '../../src/testing/index.js'
import { type Block, blockSlug, type ProgramRequest } from './blocks.js'

/** The demo key the programs are sent (from `demoKeys()`): active, scopes `completions.write` and `logs.read`. */
export const DEMO_KEY = 'pk-demo-workspace'

const RUNNER = fileURLToPath(new URL('./handler-runner.mjs', import.meta.url))
const PRELOAD = new URL('./server-preload.mjs', import.meta.url).href
const START_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 5_000

/** One answer of a program, as the checker saw it. */
export interface Answer {
  readonly status: number
  readonly body: string
}

/** What running a program gave: its two answers (no key, then the demo key), the stub's look-ups, its output. */
export interface RunOutcome {
  readonly answers: readonly Answer[]
  /** Look-ups of the demo key the stub received. */
  readonly lookups: number
  /** Why it could not be run to the end (did not start, crashed, timed out), with its output; else undefined. */
  readonly error: string | undefined
}

let compiled = 0

/** Compiles a program block (TypeScript or JavaScript) to an ES module in `dir`, returning its path. */
export async function compileProgram(block: Block, dir: string): Promise<string> {
  const { code } = await transform(block.code, {
    loader: block.language,
    format: 'esm',
    target: 'node20',
    sourcefile: `${block.file}:${block.firstLine}`,
    jsx: 'automatic',
    jsxImportSource: 'hono/jsx',
  })
  const out = join(dir, `${blockSlug(block)}.run-${++compiled}.mjs`)
  writeFileSync(out, code)
  return out
}

/** A program started (its stub listening, its child process booting), not yet sent its requests. */
export interface StartedProgram {
  /** Sends the two requests (no key, then the demo key), stops the child and the stub, and tells what happened. */
  finish(): Promise<RunOutcome>
}

/**
 * Compiles a program block into `dir` and starts it against a fresh control-plane stub holding the demo keys:
 * a server (`run=server`) with `PORT` and `PORTKEY_CONTROL_PLANE_URL`; or (`run=handler`) the module imported by
 * test/docs/handler-runner.mjs in a child process, which then waits for `finish()`. Starting is apart from
 * sending so that the children boot while the test process is busy type-checking.
 */
export async function startProgram(block: Block, dir: string, startTimeoutMs = START_TIMEOUT_MS): Promise<StartedProgram> {
  let program: string
  try {
    program = await compileProgram(block, dir)
  } catch (error) {
    const outcome = { answers: [], lookups: 0, error: `it does not compile: ${(error as Error).message}` }
    return { finish: async () => outcome }
  }
  const stub = await startControlPlaneStub({ keys: demoKeys(), virtualKeys: demoVirtualKeys() })
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) if (name.startsWith('PORTKEY_')) delete env[name]
  env.PORTKEY_CONTROL_PLANE_URL = stub.url
  const output = { stdout: '', stderr: '' }
  const port = block.run === 'server' ? await freePort() : 0
  if (block.run === 'server') env.PORT = String(port)
  // Both with an IPC channel: the handler runner answers through it; a server tells the ports it listens on, and
  // exits when it closes (the test process died without stopping it).
  const args =
    block.run === 'server'
      ? ['--import', PRELOAD, program]
      : [RUNNER, program, JSON.stringify({ ...block.request, requests: requestHeaders() })]
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  record(child, output)
  const listening: number[] = []
  child.on('message', (message: { listening?: number }) => {
    if (typeof message.listening === 'number') listening.push(message.listening)
  })
  // Listening from the start: a runner that fails to import the module says so at once.
  const answered = block.run === 'handler' ? handlerAnswers(child) : undefined
  answered?.catch(() => {})
  return {
    async finish() {
      try {
        let answers: Answer[]
        if (answered === undefined) {
          await waitForPort(port, child, listening, startTimeoutMs)
          answers = []
          for (const headers of requestHeaders()) answers.push(await send(`http://127.0.0.1:${port}`, block.request, headers))
        } else {
          // With a callback, a channel already closed (the runner failed) is no error event.
          if (child.connected) child.send('go', () => {})
          answers = await within(answered, startTimeoutMs, `no answer within ${startTimeoutMs} ms`)
        }
        return { answers, lookups: lookups(stub), error: undefined }
      } catch (error) {
        return {
          answers: [],
          lookups: lookups(stub),
          error: `${(error as Error).message}${describeOutput(output)}`,
        }
      } finally {
        await stop(child)
        await stub.close()
      }
    },
  }
}

/** The key look-ups of the demo key the stub received (not a start-up `probe()`, which sends no key). */
function lookups(stub: ControlPlaneStub): number {
  return stub.log.filter((call) => call.path === KEY_DETAILS_PATH && call.headers['x-portkey-api-key'] === DEMO_KEY).length
}

/** Compiles, starts and runs a program block at once. */
export async function runProgram(block: Block, dir: string, startTimeoutMs?: number): Promise<RunOutcome> {
  return (await startProgram(block, dir, startTimeoutMs)).finish()
}

/** The headers of the two requests: none, then the demo key. */
function requestHeaders(): Record<string, string>[] {
  return [{}, { 'x-portkey-api-key': DEMO_KEY }]
}

/**
 * What is wrong with a program's run, as messages naming the block (none: it behaved): it must answer 401
 * `missing_api_key` without a key, a 2xx with the demo key, and have looked the key up exactly once.
 */
export function runProblems(block: Block, outcome: RunOutcome): string[] {
  const at = `${block.file}:${block.fenceLine} (run=${block.run}, ${block.request.method} ${block.request.path})`
  if (outcome.error !== undefined) return [`${at}: ${outcome.error}`]
  const problems: string[] = []
  const [anonymous, keyed] = outcome.answers
  if (anonymous === undefined || keyed === undefined) return [`${at}: expected two answers, got ${outcome.answers.length}`]
  if (anonymous.status !== 401 || errorCode(anonymous.body) !== 'missing_api_key') {
    problems.push(
      `${at}: without a key: expected 401 with error.code missing_api_key, got ${anonymous.status} ${clip(anonymous.body)}`,
    )
  }
  if (keyed.status < 200 || keyed.status > 299) {
    problems.push(`${at}: with the demo key: expected a 2xx, got ${keyed.status} ${clip(keyed.body)}`)
  }
  if (outcome.lookups !== 1) {
    problems.push(
      `${at}: expected exactly one look-up of the demo key at the control-plane stub for the two requests, saw ${outcome.lookups}`,
    )
  }
  return problems
}

function errorCode(body: string): unknown {
  try {
    return (JSON.parse(body) as { error?: { code?: unknown } }).error?.code
  } catch {
    return undefined
  }
}

const clip = (text: string, max = 300) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text)

function record(child: ChildProcess, output: { stdout: string; stderr: string }): void {
  child.stdout?.on('data', (chunk) => {
    output.stdout = (output.stdout + String(chunk)).slice(-4_000)
  })
  child.stderr?.on('data', (chunk) => {
    output.stderr = (output.stderr + String(chunk)).slice(-4_000)
  })
}

function describeOutput({ stdout, stderr }: { stdout: string; stderr: string }): string {
  return `${stderr ? `\n--- its stderr ---\n${stderr.trimEnd()}` : ''}${stdout ? `\n--- its stdout ---\n${stdout.trimEnd()}` : ''}`
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resolves once `port` accepts a connection; rejects when the child exits first or after `timeoutMs`. */
async function waitForPort(port: number, child: ChildProcess, listening: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`it exited (${child.exitCode ?? child.signalCode}) without listening on PORT=${port}`)
    }
    if (await accepts(port)) return
    if (Date.now() > deadline) {
      const elsewhere = listening.length > 0 ? `: it listens on ${listening.join(', ')} instead` : ''
      throw new Error(`nothing listened on PORT=${port} within ${timeoutMs} ms (does it read process.env.PORT?)${elsewhere}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function send(base: string, request: ProgramRequest, headers: Record<string, string>): Promise<Answer> {
  const withBody = request.body !== undefined
  const response = await fetch(`${base}${request.path}`, {
    method: request.method,
    headers: withBody ? { 'content-type': 'application/json', ...headers } : headers,
    body: request.body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  return { status: response.status, body: await response.text() }
}

/** The runner's message: its answers, or its error; rejects when it exits without one. */
function handlerAnswers(child: ChildProcess): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    child.once('message', (message: { answers?: Answer[]; error?: string }) => {
      if (message.answers) resolve(message.answers)
      else reject(new Error(message.error ?? 'the runner answered nothing'))
    })
    // After a message received just before: this rejection is then ignored.
    child.once('exit', (code, signal) => setImmediate(() => reject(new Error(`it exited (${code ?? signal}) without answering`))))
  })
}

/** `promise`, or a rejection with `message` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Stops a child: SIGTERM, then SIGKILL after a second. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 1_000)
  await exited
  clearTimeout(timer)
}
