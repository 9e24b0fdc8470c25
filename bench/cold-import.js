// @ts-check
// Cold import time (issue 23): how long a fresh process takes to import each entry of the built package, and
// to load the edge bundles (the fixture Workers of test/runtimes, bundled as wrangler bundles them, minified).
// `npm run build && node bench/cold-import.js`: a Markdown table on stderr, one JSON line on stdout
// ({ rounds, results: [{ name, runtime, median, min, max }] }, in ms). Not part of `npm run bench`'s report.
// Each sample is a new process timing its own `await import()` (Node's start-up is not counted), rounds
// rotated so that drift hits every entry alike. With RUNTIMES_PREFIX (where .ci/run installs deno and bun),
// the Worker bundles are also timed on Deno and Bun.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)
const ENTRIES = [
  'portkey-auth',
  'portkey-auth/express',
  'portkey-auth/koa',
  'portkey-auth/fastify',
  'portkey-auth/hono',
  'portkey-auth/web',
]

if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('bench: no dist/; run `npm run build` first')

// The fixture Workers, bundled like wrangler 4.86 with --minify (see test/runtimes/bundle.ts).
const dir = mkdtempSync(join(tmpdir(), 'portkey-auth-cold-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
/** @type {{ name: string, file: string, bytes: number }[]} */
const bundles = []
for (const fixture of ['web-worker.js', 'hono-worker.js']) {
  const result = await build({
    entryPoints: [join(ROOT, 'test/runtimes/fixtures', fixture)],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    keepNames: true,
    minify: true,
    external: ['cloudflare:*'],
    logLevel: 'silent',
  })
  const file = join(dir, fixture.replace('.js', '.mjs'))
  writeFileSync(file, result.outputFiles[0]?.contents ?? '')
  bundles.push({ name: `bundle ${fixture}`, file, bytes: result.outputFiles[0]?.contents.byteLength ?? 0 })
}

/** A script that times its own import of `specifier` and prints the milliseconds. */
const timing = (/** @type {string} */ specifier) =>
  `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t)`

/** @typedef {{ name: string, runtime: string, run: () => number }} Subject */
/** @type {Subject[]} */
const subjects = [
  ...ENTRIES.map((entry) => ({ name: entry, runtime: 'node', run: () => node(timing(entry)) })),
  ...bundles.map(({ name, file }) => ({ name, runtime: 'node', run: () => node(timing(pathToFileURL(file).href)) })),
]
const node = (/** @type {string} */ code) =>
  Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' }))

const prefix = process.env.RUNTIMES_PREFIX
if (prefix) {
  const runtimes = [
    ['deno', ['deno/deno', '@deno/linux-x64-glibc/deno'], (/** @type {string} */ f) => ['eval', '--ext=js', timing(f)]],
    ['bun', ['bun/bin/bun.exe', '@oven/bun-linux-x64/bin/bun'], (/** @type {string} */ f) => ['-e', timing(f)]],
  ]
  for (const [runtime, candidates, args] of /** @type {[string, string[], (f: string) => string[]][]} */ (runtimes)) {
    const bin = candidates.map((c) => join(prefix, 'node_modules', c)).find((c) => existsSync(c))
    if (bin === undefined) continue
    for (const { name, file } of bundles) {
      const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }
      subjects.push({
        name,
        runtime,
        run: () => Number(execFileSync(bin, args(pathToFileURL(file).href), { cwd: dir, encoding: 'utf8', env })),
      })
    }
  }
}

/** @type {number[][]} */
const samples = subjects.map(() => [])
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < subjects.length; i++) {
    const index = (i + round) % subjects.length
    samples[index]?.push(/** @type {Subject} */ (subjects[index]).run())
  }
}
const results = subjects.map(({ name, runtime }, i) => {
  const sorted = (samples[i] ?? []).slice().sort((a, b) => a - b)
  const at = (/** @type {number} */ q) => Number((sorted[Math.floor(q * (sorted.length - 1))] ?? NaN).toFixed(1))
  return { name, runtime, median: at(0.5), min: at(0), max: at(1) }
})
const sizes = bundles.map(({ name, bytes }) => `${name} ${Math.round(bytes / 1024)} KiB minified`).join(', ')
process.stderr.write(
  [
    `Cold import, ms (median, min–max of ${ROUNDS} fresh processes; ${process.version}; ${sizes})`,
    '',
    '| entry | runtime | median | min–max |',
    '| --- | --- | ---: | ---: |',
    ...results.map((r) => `| ${r.name} | ${r.runtime} | ${r.median} | ${r.min}–${r.max} |`),
    '',
  ].join('\n'),
)
process.stdout.write(`${JSON.stringify({ rounds: ROUNDS, results })}\n`)
