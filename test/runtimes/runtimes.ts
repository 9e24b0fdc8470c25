import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

// Runs a bundled Worker (test/runtimes/bundle.ts) on each edge runtime. The runtimes are not devDependencies:
// .ci/run installs miniflare, edge-runtime, deno and bun into a temporary prefix and names it in RUNTIMES_PREFIX
// (`npm install --no-save --prefix "$RUNTIMES_PREFIX" miniflare@4.20260426.0 edge-runtime deno bun`).

/** The settings a user gives: a Worker's bindings, or the process's environment elsewhere. */
export type Settings = Record<'PORTKEY_CONTROL_PLANE_URL', string> &
  Partial<Record<'PORTKEY_JWKS_URL' | 'PORTKEY_JWT_ISSUER' | 'PORTKEY_JWT_AUDIENCE', string>>

/** A Worker running on a runtime: send it a request (path and headers), get the runtime's answer. */
export interface Running {
  fetch(path: string, headers?: Record<string, string>): Promise<Response>
  close(): Promise<void>
}

/** Workers' compatibility date: on or before the date of the workerd that Miniflare 4.20260426.0 ships. */
export const COMPATIBILITY_DATE = '2026-04-01'

function prefix(): string {
  const dir = process.env.RUNTIMES_PREFIX
  if (!dir) throw new Error('RUNTIMES_PREFIX is not set: install the runtimes as .ci/run does and name the prefix')
  return dir
}

/** Imports a package installed in the runtimes' prefix. */
async function importFromPrefix(name: string): Promise<any> {
  const resolved = createRequire(join(prefix(), 'node_modules', '.resolve.js')).resolve(name)
  return import(pathToFileURL(resolved).href)
}

/** The first of `candidates` (paths in the prefix's node_modules) that runs `--version`. */
export function binary(...candidates: string[]): string {
  for (const candidate of candidates) {
    const path = join(prefix(), 'node_modules', candidate)
    try {
      execFileSync(path, ['--version'], { stdio: 'ignore', timeout: 20_000 })
      return path
    } catch {}
  }
  throw new Error(`none of ${candidates.join(', ')} runs in ${prefix()}/node_modules`)
}

/** workerd through Miniflare's API: the ESM Worker, `settings` as its bindings, requests by dispatchFetch. */
export async function startWorkerd(
  code: string,
  settings: Settings,
  { nodejsCompat }: { nodejsCompat: boolean },
): Promise<Running> {
  const { Miniflare } = await importFromPrefix('miniflare')
  // workerd's own output (why it refused the Worker), for the failure's message.
  let output = ''
  const mf = new Miniflare({
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      stdout.on('data', (chunk) => (output += chunk))
      stderr.on('data', (chunk) => (output += chunk))
    },
    // One ES module, as wrangler hands its bundle to workerd (Miniflare's `script` refuses a dynamic import()).
    modules: [{ type: 'ESModule', path: 'worker.mjs', contents: code }],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: nodejsCompat ? ['nodejs_compat'] : [],
    bindings: settings,
  })
  try {
    await mf.ready
  } catch (error) {
    await mf.dispose().catch(() => {})
    throw new Error(`${(error as Error).message}\nworkerd: ${output.trim()}`, { cause: error })
  }
  return {
    async fetch(path, headers = {}) {
      const res = await mf.dispatchFetch(`http://worker.test${path}`, { headers })
      // Miniflare's Response (its own undici) as a global one.
      return new Response(await res.arrayBuffer(), { status: res.status, headers: [...res.headers] })
    },
    close: () => mf.dispose(),
  }
}

/**
 * Vercel's edge-runtime: the script (the edge-light bundle, a fetch listener) evaluated in an EdgeRuntime whose
 * `process` holds only `env`, as Next.js gives it, served over HTTP by edge-runtime's runServer.
 */
export async function startEdgeRuntime(code: string, settings: Settings): Promise<Running> {
  const { EdgeRuntime, runServer } = await importFromPrefix('edge-runtime')
  const runtime = new EdgeRuntime({
    initialCode: code,
    extend: (context: Record<string, unknown>) => Object.assign(context, { process: { env: { ...settings } } }),
  })
  const server = await runServer({ runtime, port: 0, host: '127.0.0.1' })
  return {
    fetch: (path, headers = {}) => fetch(new URL(path, server.url), { headers }),
    close: () => server.close(),
  }
}

// Deno and Bun: a child process imports the bundle and serves its `fetch` on a free loopback port, with the
// settings in its environment. It prints the port once listening.
const SERVE = `
const { default: worker } = await import(new URL('./worker.mjs', import.meta.url).href)
const handler = (request) => worker.fetch(request)
if (globalThis.Deno) {
  Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => console.log('listening ' + port) }, handler)
} else {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handler })
  console.log('listening ' + server.port)
}
`

async function startChild(
  command: string,
  args: (dir: string) => string[],
  code: string,
  env: (dir: string) => Record<string, string>,
): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'portkey-auth-runtime-'))
  await writeFile(join(dir, 'worker.mjs'), code)
  await writeFile(join(dir, 'serve.mjs'), SERVE)
  const child = spawn(command, args(dir), {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1', ...env(dir) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stderr!.on('data', (chunk) => (output += chunk))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command}: not listening after 20 s\n${output}`)), 20_000)
    child.stdout!.on('data', (chunk) => {
      output += chunk
      const match = /listening (\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${code}) before listening:\n${output}`))
    })
  }).catch(async (error) => {
    await stop(child)
    await rm(dir, { recursive: true, force: true })
    throw error
  })
  return {
    fetch: (path, headers = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers }),
    async close() {
      await stop(child)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

/** Deno (the `deno` npm package's binary), `deno run` with every permission: it reads its settings from env. */
export function startDeno(code: string, settings: Settings): Promise<Running> {
  const deno = binary('deno/deno', '@deno/linux-x64-glibc/deno')
  return startChild(
    deno,
    () => ['run', '-A', '--no-prompt', 'serve.mjs'],
    code,
    (dir) => ({
      ...settings,
      DENO_DIR: join(dir, '.deno'),
      DENO_NO_UPDATE_CHECK: '1',
    }),
  )
}

/** Bun (the `bun` npm package's binary: put in place by its postinstall, else in @oven/bun-linux-x64). */
export function startBun(code: string, settings: Settings): Promise<Running> {
  const bun = binary('bun/bin/bun.exe', '@oven/bun-linux-x64/bin/bun', '@oven/bun-linux-x64-baseline/bin/bun')
  return startChild(
    bun,
    () => ['serve.mjs'],
    code,
    () => settings,
  )
}
