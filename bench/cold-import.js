// @ts-check
// Cold import (issue 23), not part of `npm run bench`'s report: `npm run build && node bench/cold-import.js` times how
// long a fresh process takes to `await import()` each entry of the package (Node's start-up not counted), and to load
// the edge bundles (test/runtimes' fixture Workers, bundled like wrangler 4.86 with --minify); with RUNTIMES_PREFIX
// (where .ci/run installs deno and bun), the bundles on Deno and Bun too. BENCH_ROUNDS (15) processes each, rounds
// rotated. Prints a Markdown table (stderr) and one JSON line (stdout): { rounds, results: [{ name, runtime, median,
// min, max }] }, in ms.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { table } from './lib.js'

const [ROOT, ROUNDS] = [fileURLToPath(new URL('..', import.meta.url)), Number(process.env.BENCH_ROUNDS ?? 15)]
if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('bench: no dist/; run `npm run build` first')
const dir = mkdtempSync(join(tmpdir(), 'portkey-auth-cold-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
const bundles = []
for (const fixture of ['web-worker.js', 'hono-worker.js']) {
  const [entryPoints, format] = [[join(ROOT, 'test/runtimes/fixtures', fixture)], /** @type {'esm'} */ ('esm')]
  const options = { bundle: true, write: false, target: 'es2022', keepNames: true, minify: true, external: ['cloudflare:*'] }
  const built = await build({ entryPoints, format, conditions: ['workerd', 'worker', 'browser'], ...options })
  const contents = built.outputFiles?.[0].contents ?? new Uint8Array()
  const file = join(dir, fixture.replace('.js', '.mjs'))
  writeFileSync(file, contents)
  bundles.push({ name: `bundle ${fixture}`, url: pathToFileURL(file).href, kib: Math.round(contents.byteLength / 1024) })
}
/** A script that times its own import of `specifier` and prints the milliseconds. */
const timing = (/** @type {string} */ specifier) =>
  `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t)`
const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }
/** @type {(bin: string, args: string[], cwd?: string) => number} */
const run = (bin, args, cwd = ROOT) => Number(execFileSync(bin, args, { cwd, env, encoding: 'utf8' }))
const node = (/** @type {string} */ url) => () => run(process.execPath, ['--input-type=module', '-e', timing(url)])
const entries = ['', '/express', '/koa', '/fastify', '/hono', '/web'].map((e) => ({ name: `portkey-auth${e}`, url: undefined }))
const subjects = [...entries, ...bundles].map(({ name, url = name }) => ({ name, runtime: 'node', run: node(url) }))
/** @type {[string, string[], (url: string) => string[]][]} */
const runtimes = [
  ['deno', ['deno/deno', '@deno/linux-x64-glibc/deno'], (url) => ['eval', '--ext=js', timing(url)]],
  ['bun', ['bun/bin/bun.exe', '@oven/bun-linux-x64/bin/bun'], (url) => ['-e', timing(url)]],
]
for (const [runtime, candidates, args] of process.env.RUNTIMES_PREFIX ? runtimes : []) {
  const bin = candidates.map((c) => join(process.env.RUNTIMES_PREFIX ?? '', 'node_modules', c)).find(existsSync)
  if (bin) for (const { name, url } of bundles) subjects.push({ name, runtime, run: () => run(bin, args(url), dir) })
}
/** @type {number[][]} */
const samples = subjects.map(() => [])
for (let round = 0; round < ROUNDS; round++)
  for (let i = 0; i < subjects.length; i++)
    samples[(i + round) % subjects.length].push(subjects[(i + round) % subjects.length].run())
const results = subjects.map(({ name, runtime }, i) => {
  const sorted = samples[i].sort((a, b) => a - b)
  const at = (/** @type {number} */ q) => Number(sorted[Math.floor(q * (sorted.length - 1))].toFixed(1))
  return { name, runtime, median: at(0.5), min: at(0), max: at(1) }
})
const sizes = bundles.map(({ name, kib }) => `${name} ${kib} KiB minified`).join(', ')
const rows = results.map((r) => [r.name, r.runtime, r.median, `${r.min}–${r.max}`])
process.stderr.write(`Cold import, ms (median, min–max of ${ROUNDS} fresh processes; ${process.version}; ${sizes})\n\n`)
process.stderr.write(`${table(['entry', 'runtime', 'median', 'min–max'], rows)}\n`)
process.stdout.write(`${JSON.stringify({ rounds: ROUNDS, results })}\n`)
