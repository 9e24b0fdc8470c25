import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { afterEach, expect } from 'vitest'
import { KEY_DETAILS_PATH } from '../../src/testing/index.js'

// `portkey-auth-stub` as a user runs it: the built bin (dist/ is built by `npm test`'s pretest), a child process.
// Every child a test starts is killed after it.
export const ROOT = resolve(import.meta.dirname, '../..')
const CLI = resolve(ROOT, 'dist/testing/cli.js')
const WAIT_MS = 10_000

const running: ChildProcess[] = []

afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
})

interface Run {
  readonly child: ChildProcess
  /** What it printed so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves to how it ended, failing after `WAIT_MS`. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const childEnv = { ...process.env, ...env }
  if (!('PORT' in env)) delete childEnv.PORT
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += String(chunk)))
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)))
  const exit = within(
    once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null })),
    'exit',
  )
  return { child, stdout: () => stdout, stderr: () => stderr, exit }
}

/** Starts the stub and resolves once it printed everything (up to "Ctrl-C to stop."), with its URL. */
export async function start(args = ['--port', '0'], env: NodeJS.ProcessEnv = {}): Promise<Run & { url: string }> {
  const cli = run(args, env)
  const ready = new Promise<void>((done, fail) => {
    const check = () => cli.stdout().includes('Ctrl-C to stop.') && done()
    cli.child.stdout!.on('data', check)
    cli.exit.then(({ code }) => fail(new Error(`exited with ${code} before it was ready: ${cli.stderr()}`)), fail)
  })
  await within(ready, 'the banner')
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stdout())?.[1]
  expect(url).toBeDefined()
  return { ...cli, url: url! }
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The key-details call, as the verifier's look-up makes it. */
export const details = (url: string, key: string) => fetch(url + KEY_DETAILS_PATH, { headers: { 'x-portkey-api-key': key } })
