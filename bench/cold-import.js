// @ts-check
// Cold start (issues 23 and 26): scenario 12 of `npm run bench` (bench/run.js runs it with fewer rounds), or alone after
// `npm run build`: `node bench/cold-import.js [rounds]`. A fresh process per measurement times, from the start of its
// `await import()` (Node's own start-up not counted):
// - the import of each entry of the package, and of the edge bundles (test/runtimes' fixture Workers, bundled like
//   wrangler 4.86 with --minify);
// - to the first admitted request: `portkey-auth` imported, `createVerifier({ lookup })` with a lookup answering at
//   once, one `verify()` of an API key; the web-worker bundle imported and its default export's `fetch()` called once
//   with `env.PORTKEY_CONTROL_PLANE_URL` naming a control-plane stub this script serves (one look-up over loopback HTTP).
// With RUNTIMES_PREFIX (where .ci/run installs deno and bun), the bundles on Deno and Bun too. Rounds: the argument,
// else BENCH_ROUNDS, else 15 processes each, in an order rotated each round. Prints a Markdown table (stderr) and one
// JSON line (stdout), a ColdStart (in ms and bytes).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { keyRecord, startControlPlaneStub } from 'portkey-auth/testing'
import { AUDIENCE, fmtBytes, fmtMs, fmtSpread, ISSUER, KNOWN_KEY, spread, table } from './lib.js'

/** @typedef {{ name: string, runtime: string, import: import('./lib.js').Spread, firstRequest: import('./lib.js').Spread | null }} ColdResult */
/** @typedef {{ rounds: number, node: string, bundles: { name: string, bytes: number, gzipBytes: number }[], results: ColdResult[] }} ColdStart */
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = Math.round(Number(process.argv[2] ?? process.env.BENCH_ROUNDS ?? 15))
if (!(ROUNDS > 0)) throw new TypeError('cold-import: the rounds must be a positive number')
if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('bench: no dist/; run `npm run build` first')
const dir = mkdtempSync(join(tmpdir(), 'portkey-auth-cold-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
/** @type {{ name: string, url: string, fixture: string, bytes: number, gzipBytes: number }[]} */
const bundles = []
for (const fixture of ['web-worker.js', 'hono-worker.js']) {
  const [entryPoints, format] = [[join(ROOT, 'test/runtimes/fixtures', fixture)], /** @type {'esm'} */ ('esm')]
  const options = { bundle: true, write: false, target: 'es2022', keepNames: true, minify: true, external: ['cloudflare:*'] }
  const built = await build({ entryPoints, format, conditions: ['workerd', 'worker', 'browser'], ...options })
  const contents = built.outputFiles?.[0].contents ?? new Uint8Array()
  const file = join(dir, fixture.replace('.js', '.mjs'))
  writeFileSync(file, contents)
  const [name, bytes, gzipBytes] = [`bundle ${fixture}`, contents.byteLength, gzipSync(contents).byteLength]
  bundles.push({ name, url: pathToFileURL(file).href, fixture, bytes, gzipBytes })
}
// The web-worker bundle's control plane, answering for the key it is sent (in this process: the children run apart).
const stub = await startControlPlaneStub()
stub.keys.set(KNOWN_KEY, keyRecord({ id: 'key_bench_cold', organisation_id: 'org_bench', workspace_id: 'ws_bench' }))
const KEY = JSON.stringify(KNOWN_KEY)
/** The Worker's bindings, as test/runtimes gives them (its settings ask for the JWT's too; no JWT is sent). */
const BINDINGS = JSON.stringify({
  PORTKEY_CONTROL_PLANE_URL: stub.url,
  PORTKEY_JWKS_URL: stub.jwksUrl,
  PORTKEY_JWT_ISSUER: ISSUER,
  PORTKEY_JWT_AUDIENCE: AUDIENCE,
})
/** The end of every script: the milliseconds since `t`, then exit (Node, Deno, Bun), whatever is still open. */
const PRINT = `console.log(ms); typeof Deno === 'object' ? Deno.exit(0) : process.exit(0)`
/** A script that times its own import of `specifier`. */
const importing = (/** @type {string} */ specifier) =>
  `const t = performance.now(); await import(${JSON.stringify(specifier)}); const ms = performance.now() - t; ${PRINT}`
/** A script that times portkey-auth's import, a verifier made (a look-up answering at once) and one key admitted. */
const verifying = `const t = performance.now()
const { createVerifier } = await import('portkey-auth')
const record = { id: 'key_bench_cold', organisation_id: 'org_bench', workspace_id: 'ws_bench', scopes: [] }
const verifier = createVerifier({ lookup: async () => record })
const auth = await verifier.verify({ 'x-portkey-api-key': ${KEY} })
const ms = performance.now() - t
if (auth.keyId !== record.id) throw new Error('not admitted: ' + JSON.stringify(auth))
${PRINT}`
/** A script that times the Worker's import and its answer to one request with the key, the stub as control plane. */
const fetching = (/** @type {string} */ url) => `const t = performance.now()
const { default: worker } = await import(${JSON.stringify(url)})
const request = new Request('http://worker.test/v1/ping', { headers: { 'x-portkey-api-key': ${KEY} } })
const response = await worker.fetch(request, ${BINDINGS})
const body = await response.text()
const ms = performance.now() - t
if (response.status !== 200) throw new Error('not admitted: ' + response.status + ' ' + body)
${PRINT}`
const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }
/** Runs `bin` in a fresh process (not blocking this one: the stub answers meanwhile); the last number it printed. */
async function run(/** @type {string} */ bin, /** @type {string[]} */ args, cwd = ROOT) {
  const ran = await promisify(execFile)(bin, args, { cwd, env, encoding: 'utf8', timeout: 60_000 }).catch((error) => error)
  const ms = Number(String(ran.stdout).trim().split('\n').at(-1))
  if (ran instanceof Error || !Number.isFinite(ms)) {
    // The error's last lines (the stack), not the minified line it quotes.
    const said = String(ran.stderr || ran.stdout)
      .trim()
      .split('\n')
      .slice(-12)
      .join('\n')
      .slice(-3000)
    throw new Error(`cold-import: ${bin} ${args.slice(0, -1).join(' ')} <script> failed:\n${said}\nthe script:\n${args.at(-1)}`)
  }
  return ms
}
/** @type {{ name: string, runtime: string, first: boolean, run: () => Promise<number> }[]} */
const subjects = []
const node = (/** @type {string} */ script) => () => run(process.execPath, ['--input-type=module', '-e', script])
for (const entry of ['', '/express', '/koa', '/fastify', '/hono', '/web']) {
  const name = `portkey-auth${entry}`
  subjects.push({ name, runtime: 'node', first: false, run: node(importing(name)) })
  if (entry === '') subjects.push({ name, runtime: 'node', first: true, run: node(verifying) })
}
/** Each bundle's import, and the web-worker's first admitted request, on the runtime that runs `script`. */
const onBundles = (/** @type {string} */ runtime, /** @type {(script: string) => () => Promise<number>} */ runs) => {
  for (const { name, url, fixture } of bundles) {
    subjects.push({ name, runtime, first: false, run: runs(importing(url)) })
    if (fixture === 'web-worker.js') subjects.push({ name, runtime, first: true, run: runs(fetching(url)) })
  }
}
onBundles('node', node)
/** @type {[string, string[], (script: string) => string[]][]} */
const runtimes = [
  ['deno', ['deno/deno', '@deno/linux-x64-glibc/deno'], (script) => ['eval', '--ext=js', script]],
  ['bun', ['bun/bin/bun.exe', '@oven/bun-linux-x64/bin/bun'], (script) => ['-e', script]],
]
for (const [runtime, candidates, args] of process.env.RUNTIMES_PREFIX ? runtimes : []) {
  const bin = candidates.map((c) => join(process.env.RUNTIMES_PREFIX ?? '', 'node_modules', c)).find(existsSync)
  if (bin) onBundles(runtime, (script) => () => run(bin, args(script), dir))
}
/** @type {number[][]} */
const samples = subjects.map(() => [])
for (let round = 0; round < ROUNDS; round++)
  for (let i = 0; i < subjects.length; i++) {
    const k = (i + round) % subjects.length
    samples[k].push(await subjects[k].run())
  }
await stub.close()
/** @type {ColdResult[]} */
const results = []
for (const [i, { name, runtime, first }] of subjects.entries()) {
  let result = results.find((r) => r.name === name && r.runtime === runtime)
  if (result === undefined) results.push((result = { name, runtime, import: spread([]), firstRequest: null }))
  if (first) result.firstRequest = spread(samples[i])
  else result.import = spread(samples[i])
}
/** @type {ColdStart} */
const coldStart = {
  rounds: ROUNDS,
  node: process.version,
  bundles: bundles.map(({ name, bytes, gzipBytes }) => ({ name, bytes, gzipBytes })),
  results,
}
const sizes = bundles.map((b) => `${b.name} ${fmtBytes(b.bytes)} minified, ${fmtBytes(b.gzipBytes)} gzipped`).join('; ')
const rows = results.map((r) => [
  r.name,
  r.runtime,
  fmtSpread(r.import, fmtMs),
  r.firstRequest && fmtSpread(r.firstRequest, fmtMs),
])
process.stderr.write(`Cold start, median (range) of ${ROUNDS} fresh processes; ${process.version}; ${sizes}\n\n`)
process.stderr.write(`${table(['entry', 'runtime', 'import', 'to the first admitted request'], rows)}\n`)
process.stdout.write(`${JSON.stringify(coldStart)}\n`)
process.exit(0)
