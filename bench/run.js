// @ts-check
// `npm run bench`: builds (via the npm script), then measures portkeyAuth against the bare frameworks and
// Auth0's express-oauth2-jwt-bearer, prints the tables and writes BENCHMARKS.md. Not part of `npm test`.
// Settings come from the environment (BENCH_QUICK, BENCH_ONLY, BENCH_WAIT_QUIET, ...): see bench/README.md.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { killAllNow, runScript, startStub, stopAll } from './children.js'
import { compare, waiting } from './compare.js'
import { AUDIENCE, benchToken, ISSUER, KNOWN_KEY } from './credentials.js'
import { fleetLimits, limits } from './limits.js'
import { markdown, NAMES, targets } from './report.js'
import { coldBurst, flood, scale } from './scenarios.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)
const quick = process.env.BENCH_QUICK === '1'
/** @type {(name: string, fallback: number) => number} */
const number = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback)
  if (!(value > 0)) throw new TypeError(`${name} must be a positive number`)
  return value
}
const settings = {
  warmup: number('BENCH_WARMUP', quick ? 0.5 : 1),
  duration: number('BENCH_DURATION', quick ? 1 : 1.5),
  rounds: Math.round(number('BENCH_ROUNDS', quick ? 3 : 10)),
  processes: Math.round(number('BENCH_PROCESSES', 3)),
  connections: Math.round(number('BENCH_CONNECTIONS', 50)),
  waitQuiet: process.env.BENCH_WAIT_QUIET === '1' || process.argv.includes('--wait-quiet'),
  burstSize: 1_000,
  burstKeys: 100,
  floodKeys: 20_000,
  floodConcurrency: 500,
  controlPlaneDelayMs: 50,
}
/** @typedef {typeof settings} Settings */
const only = new Set((process.env.BENCH_ONLY ?? '1,2,3,4,5,6,7,8,9,10,11').split(',').map((s) => s.trim()))
const out = new URL(process.env.BENCH_OUT ?? 'BENCHMARKS.md', new URL('..', import.meta.url))

// Whatever happens, no child outlives the run, and the run cannot hang: the watchdog (generous: 46
// contenders' worth for the 39 of scenarios 1–2 and 8–11, and 600 s for the rest; unref'd so it never keeps
// the process alive by itself) stops everything.
const budgetMs = (46 * (settings.processes * settings.warmup + settings.rounds * settings.duration) + 600) * 1000
const watchdog = setTimeout(() => fail(new Error(`bench: still running after ${Math.round(budgetMs / 1000)} s`)), budgetMs)
watchdog.unref()
process.on('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => fail(new Error(`bench: ${signal}`), 130))

/** @param {unknown} error */
async function fail(error, code = 1) {
  log(error instanceof Error && error.stack ? error.stack : String(error))
  await stopAll()
  process.exit(code)
}

/** The commit measured, and whether src/ had changes not in it (the build measures the working tree). */
function source() {
  try {
    const git = (/** @type {string[]} */ ...args) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty > 0 ? ` with ${dirty} uncommitted change(s) in src/` : ', src/ clean'}`
  } catch {
    return 'unknown (no git)'
  }
}

const versionOf = (/** @type {string} */ name) =>
  JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version

async function main() {
  if (!existsSync(new URL('../dist/index.js', import.meta.url)))
    throw new Error('bench: no dist/; run `npm run bench` (it builds first)')
  const started = Date.now()
  const cpus = os.cpus()
  /** @type {import('./report.js').Results} */
  const results = {
    date: new Date().toISOString(),
    source: source(),
    settings,
    machine: {
      cores: cpus.length,
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      memGb: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      versions: Object.fromEntries(
        [
          ['express', 'express'],
          ['koa', 'koa'],
          ['fastify', 'fastify'],
          ['hono', 'hono'],
          ['honoNode', '@hono/node-server'],
          ['auth0', 'express-oauth2-jwt-bearer'],
          ['autocannon', 'autocannon'],
          ['mitata', 'mitata'],
        ].map(([k, n]) => [k, versionOf(n)]),
      ),
    },
  }
  log(`bench: ${results.machine.cpu}, ${results.machine.cores} cores, Node ${process.version}; ${JSON.stringify(settings)}`)

  const { issuer, token } = await benchToken()
  const stub = await startStub({ jwks: issuer.jwks, keys: [KNOWN_KEY] })
  /** @type {import('./scenarios.js').Context} */
  const ctx = {
    settings,
    stub,
    knownKey: KNOWN_KEY,
    serverSettings: { controlPlaneUrl: stub.url, jwksUrl: stub.jwksUrl, issuer: ISSUER, audience: AUDIENCE },
  }
  const key = { 'x-portkey-api-key': KNOWN_KEY }
  const jwt = { 'x-portkey-api-key': token }
  // The floor of each portkeyAuth contender: the framework with one empty middleware of its cheapest form
  // (express-noop, koa-noop, fastify-noop, hono-noop), sent exactly the same request bytes (the same headers,
  // autocannon's request line): the API-key contender's floor gets the API key, the JWT contender's the JWT.
  /** @type {(framework: 'express' | 'koa') => import('./compare.js').Contender[]} */
  const contenders = (framework) => [
    { name: NAMES.bare, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.noise, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.floorKey, scenario: `${framework}-noop`, headers: key, guarded: false },
    { name: NAMES.floorJwt, scenario: `${framework}-noop`, headers: jwt, guarded: false },
    { name: NAMES.key, scenario: `${framework}-portkey-key`, headers: key, guarded: true, floor: NAMES.floorKey },
    { name: NAMES.jwt, scenario: `${framework}-portkey-jwt`, headers: jwt, guarded: true, floor: NAMES.floorJwt },
  ]
  // Scenarios 8–9 (issue 15): the cached API-key path alone, against its floor (an empty onRequest hook, an
  // empty Hono middleware).
  /** @type {(framework: 'fastify' | 'hono') => import('./compare.js').Contender[]} */
  const keyContenders = (framework) => [
    { name: NAMES.bare, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.noise, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.floorKey, scenario: `${framework}-noop`, headers: key, guarded: false },
    { name: NAMES.key, scenario: `${framework}-portkey-key`, headers: key, guarded: true, floor: NAMES.floorKey },
  ]

  if (only.has('1')) {
    log('\n1. Express 5')
    const auth0 = { name: NAMES.auth0, scenario: 'express-auth0', headers: { authorization: `Bearer ${token}` }, guarded: true }
    results.express = await compare([...contenders('express'), auth0], ctx)
  }
  if (only.has('2')) {
    log('\n2. Koa 3')
    results.koa = await compare(contenders('koa'), ctx)
  }
  if (only.has('3')) {
    log('\n3. Cold burst')
    results.cold = await coldBurst(ctx)
  }
  if (only.has('4')) {
    log('\n4. Flood')
    results.flood = await flood(ctx)
  }
  if (only.has('5')) {
    log('\n5. Core micro-benchmark\n  mitata (about 10 s)')
    results.micro = await runScript('micro.js')
  }
  if (only.has('6')) {
    log('\n6. Three instances, with and without Redis')
    results.fleet = await runScript('fleet.js')
  }
  if (only.has('7')) {
    log('\n7. Scale: 1, 1,000 and 100,000 cached keys; cache.max 1,000,000')
    results.scale = await scale()
  }
  if (only.has('8')) {
    log('\n8. Fastify 5')
    results.fastify = await compare(keyContenders('fastify'), ctx)
  }
  if (only.has('9')) {
    log('\n9. Hono 4 on @hono/node-server')
    results.hono = await compare(keyContenders('hono'), ctx)
  }
  // Scenario 10 (issue 17): the cached API-key path with telemetry on (a real MeterProvider), against the
  // same with telemetry off as its floor.
  /** @type {(framework: 'express' | 'koa') => import('./compare.js').Contender[]} */
  const telemetryContenders = (framework) => [
    { name: NAMES.bare, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.noise, scenario: `${framework}-bare`, headers: key, guarded: false },
    { name: NAMES.key, scenario: `${framework}-portkey-key`, headers: key, guarded: true },
    {
      name: NAMES.keyTelemetry,
      scenario: `${framework}-portkey-key-otel`,
      headers: key,
      guarded: true,
      floor: NAMES.key,
    },
  ]
  if (only.has('10')) {
    log('\n10. Telemetry on vs off: Express 5, then Koa 3')
    results.telemetryExpress = await compare(telemetryContenders('express'), ctx)
    results.telemetryKoa = await compare(telemetryContenders('koa'), ctx)
  }
  if (only.has('11')) {
    log('\n11. Rate limits: a limit never reached, on Express 5 and Koa 3; three instances against a limit')
    const { express, koa } = await limits(ctx)
    results.limitsExpress = express
    results.limitsKoa = koa
    results.limitsFleet = await fleetLimits()
  }

  results.waiting = waiting
  const report = markdown(results)
  writeFileSync(out, `${report}\n`)
  process.stdout.write(`\n${report}\n`)
  const missed = targets(results).filter((t) => !t.met)
  log(
    `\nbench: done in ${Math.round((Date.now() - started) / 1000)} s; wrote ${fileURLToPath(out).replace(ROOT, '')}; targets missed: ${missed.length}`,
  )
}

main().then(
  async () => {
    clearTimeout(watchdog)
    await stopAll()
    process.exit(0)
  },
  (error) => fail(error),
)
