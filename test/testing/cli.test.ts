import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../../src/testing/index.js'
import { demoKeys, demoVirtualKeys } from '../../src/testing/demo-keys.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'

// `portkey-auth-stub` as a user runs it: the built bin (dist/ is built by `npm test`'s pretest), a child process.
const ROOT = resolve(import.meta.dirname, '../..')
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

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
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
async function start(args = ['--port', '0'], env: NodeJS.ProcessEnv = {}): Promise<Run & { url: string }> {
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

const details = (url: string, key: string) => fetch(url + KEY_DETAILS_PATH, { headers: { 'x-portkey-api-key': key } })

/** A port that was free a moment ago, on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((done) => server.close(done))
  return port
}

describe('portkey-auth-stub: serving the demo keys', () => {
  test('prints its 127.0.0.1 URL, each demo key with what it gets, and how to point the middleware at it', async () => {
    const { url, stdout } = await start()
    const output = stdout()
    for (const key of Object.keys(demoKeys())) expect(output).toContain(key)
    for (const slug of Object.keys(demoVirtualKeys())) expect(output).toContain(slug)
    expect(output).toMatch(/pk-demo-workspace +admitted: workspace ws_demo, scopes completions\.write, logs\.read/)
    expect(output).toMatch(/pk-demo-exhausted +refused \(412 usage_limit_exceeded\)/)
    expect(output).toMatch(/pk-demo-expired +refused \(401 expired_api_key\)/)
    expect(output).toContain(`PORTKEY_CONTROL_PLANE_URL=${url} `)
  })

  test('answers a demo key with its record, and an unknown key with 401', async () => {
    const { url } = await start()
    const known = await details(url, 'pk-demo-workspace')
    expect(known.status).toBe(200)
    expect(await known.json()).toStrictEqual(demoKeys()['pk-demo-workspace'])
    const unknown = await details(url, 'pk-not-a-demo-key')
    expect(unknown.status).toBe(401)
    const virtualKey = await fetch(`${url}${VIRTUAL_KEYS_PATH}openai-demo`, {
      headers: { 'x-portkey-api-key': 'pk-demo-workspace' },
    })
    expect(await virtualKey.json()).toStrictEqual(demoVirtualKeys()['openai-demo'])
  })

  test('a verifier pointed at it admits a demo key, with its virtual key, and refuses the spent one', async () => {
    const { url } = await start()
    const verifier = createVerifier({ controlPlaneUrl: url })
    try {
      const auth = await verifier.verify({ 'x-portkey-api-key': 'pk-demo-workspace', 'x-portkey-virtual-key': 'openai-demo' })
      expect(auth).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo', organisationId: 'org_demo' })
      expect(auth.virtualKey).toEqual({ slug: 'openai-demo', provider: 'openai', status: 'active', rateLimits: [] })
      await expect(verifier.verify({ 'x-portkey-api-key': 'pk-demo-exhausted' })).rejects.toMatchObject({
        code: 'usage_limit_exceeded',
        status: 412,
      })
    } finally {
      await verifier.close()
    }
  })

  test('listens on 127.0.0.1 only: not on the IPv6 loopback', async () => {
    const { url } = await start()
    const port = new URL(url).port
    await expect(fetch(`http://[::1]:${port}${KEY_DETAILS_PATH}`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
  })
})

describe('portkey-auth-stub: ports', () => {
  test('takes its port from env PORT when --port is not given', async () => {
    const port = await freePort()
    const { url } = await start([], { PORT: String(port) })
    expect(url).toBe(`http://127.0.0.1:${port}`)
  })

  test('a port in use: exits 1 saying so', async () => {
    const { url } = await start()
    const cli = run(['--port', new URL(url).port])
    expect(await cli.exit).toEqual({ code: 1, signal: null })
    expect(cli.stderr()).toMatch(/in use/)
  })

  test.each(['--port x', '--port 65536', '--port -1', '--port=', '--nope', 'extra'])('bad usage (%s) exits 2', async (args) => {
    const cli = run(args.split(' '))
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toContain('--help')
    expect(cli.stdout()).toBe('')
  })
})

describe('portkey-auth-stub: usage and stopping', () => {
  test('--help prints usage and exits 0 without listening', async () => {
    const cli = run(['--help'])
    expect(await cli.exit).toEqual({ code: 0, signal: null })
    expect(cli.stdout()).toMatch(/^Usage: portkey-auth-stub \[--port N\]/)
    expect(cli.stdout()).toContain('PORTKEY_CONTROL_PLANE_URL')
    expect(cli.stdout()).not.toContain('listening on')
  })

  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops it cleanly: exit code 0, port closed', async (signal) => {
    const cli = await start()
    cli.child.kill(signal)
    expect(await cli.exit).toEqual({ code: 0, signal: null })
    expect(cli.stdout()).toContain(`stopped (${signal})`)
    await expect(details(cli.url, 'pk-demo-workspace')).rejects.toThrow()
  })
})
