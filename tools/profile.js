// @ts-check
// Profiles contenders of the benchmark under load and compares them, in µs of server CPU per request
// (`npm run build` first):
//   node tools/profile.js [scenario ...]        default: express-bare express-portkey-key
//   PROFILE_SECONDS=10 PROFILE_INTERVAL_US=250  load time per scenario, sampling interval
//   PROFILE_REJECT=1   send one request without a credential (a 401) before the load
// Each scenario's bench/server.js runs under `node --cpu-prof` (profiles kept in .bench-tmp/) and is
// loaded by autocannon (50 connections). Every sample is charged to its *owner*: the nearest frame, from
// the leaf up, that is not Node core or native code (so crypto.hash called by fingerprint() is charged to
// portkey-auth, writev called by res.json() to express). Not part of `npm run bench`.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { JWKS_PATH } from 'portkey-auth/testing'
import { startRedis, startServer, stopAll } from '../bench/children.js'
import { AUDIENCE, benchToken, ISSUER, KNOWN_KEY as KEY, LIMITED_KEY, table, UNREACHED } from '../bench/lib.js'
import { measure } from '../bench/load.js'

const scenarios = process.argv.length > 2 ? process.argv.slice(2) : ['express-bare', 'express-portkey-key']
const seconds = Number(process.env.PROFILE_SECONDS ?? 10)
const interval = Number(process.env.PROFILE_INTERVAL_US ?? 250)
const reject = process.env.PROFILE_REJECT === '1'
const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** @typedef {import('node:inspector').Profiler.Profile} Profile */
/** @typedef {import('node:inspector').Runtime.CallFrame} CallFrame */

const rel = (/** @type {string} */ url) => url.replace('file://', '').replace(ROOT, '')
/** @param {CallFrame} frame */
const where = (frame) => (frame.url === '' ? '' : ` ${rel(frame.url)}:${frame.lineNumber + 1}`)
/** @param {CallFrame} frame */
const label = (frame) => `${frame.functionName || '(anonymous)'}${where(frame)}`

/**
 * Who a frame belongs to; null for Node core and native frames, which are charged to their caller.
 * @param {CallFrame} frame
 */
function ownerOf(frame) {
  const { url, functionName } = frame
  if (url === '') return ['(garbage collector)', '(idle)', '(program)'].includes(functionName) ? functionName : null
  if (url.startsWith('node:')) return null
  const path = rel(url)
  if (path.startsWith('dist/')) return 'portkey-auth'
  const nm = path.lastIndexOf('node_modules/')
  if (nm === -1) return path
  const parts = path.slice(nm + 13).split('/')
  // jose under express-oauth2-jwt-bearer is Auth0's copy: charge it to Auth0.
  if (path.includes('express-oauth2-jwt-bearer/')) return 'express-oauth2-jwt-bearer'
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
}

/**
 * Server CPU per request, by owner and by function, in µs.
 * @param {Profile} profile
 * @param {number} requests
 */
function analyse(profile, requests) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  /** @type {Map<number, number>} */
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  /** @type {Map<number, number>} */
  const selfUs = new Map()
  for (const [i, id] of (profile.samples ?? []).entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 0))
  /** @typedef {Map<string, number>} Times */
  /** @type {Times} */
  const owners = new Map()
  /** @type {Times} */
  const functions = new Map()
  /** @type {Times} */
  const ownFunctions = new Map() // portkey-auth's functions, with the Node/native work they call
  let total = 0
  for (const [id, us] of selfUs) {
    total += us
    const leaf = /** @type {Profile['nodes'][number]} */ (byId.get(id)).callFrame
    functions.set(label(leaf), (functions.get(label(leaf)) ?? 0) + us)
    let owner = 'node core (no JS caller: HTTP parser, sockets, timers, microtask queue)'
    for (let node = /** @type {number | undefined} */ (id); node !== undefined; node = parent.get(node)) {
      const frame = /** @type {Profile['nodes'][number]} */ (byId.get(node)).callFrame
      const found = ownerOf(frame)
      if (found === null) continue
      owner = found
      if (found === 'portkey-auth') ownFunctions.set(label(frame), (ownFunctions.get(label(frame)) ?? 0) + us)
      break
    }
    owners.set(owner, (owners.get(owner) ?? 0) + us)
  }
  const perReq = (/** @type {Times} */ map) =>
    new Map([...map].map(([key, us]) => /** @type {const} */ ([key, us / requests])).sort((a, b) => b[1] - a[1]))
  const idle = owners.get('(idle)') ?? 0
  // writev is the kernel sending the answer over loopback (same bytes for every contender): the part of
  // a request that varies most with the machine's state, so it is shown apart.
  const writev = functions.get('writev') ?? 0
  return {
    busy: (total - idle) / requests,
    busyJs: (total - idle - writev) / requests,
    owners: perReq(owners),
    functions: perReq(functions),
    ownFunctions: perReq(ownFunctions),
  }
}

const { issuer, token } = await benchToken()
/** @type {({ scenario: string, run: import('../bench/load.js').Measured, file: string } & ReturnType<typeof analyse>)[]} */
const results = []
/** @type {Awaited<ReturnType<typeof startRedis>>} */
let redis = null
try {
  const stub = await startServer('stub', { jwks: issuer.jwks })
  await stub.ask({ type: 'keys', keys: [KEY] })
  // Scenario 11's -limited contenders are sent a key with a limit they never reach; the -redis ones share a Redis.
  await stub.ask({ type: 'keys', keys: [LIMITED_KEY], rateLimits: [UNREACHED] })
  redis = scenarios.some((scenario) => scenario.endsWith('-redis')) ? await startRedis() : null
  const settings = {
    controlPlaneUrl: stub.url,
    jwksUrl: stub.url + JWKS_PATH,
    issuer: ISSUER,
    audience: AUDIENCE,
    ...(redis ? { redisUrl: redis.url, redisPrefix: 'profile:' } : {}),
  }
  for (const scenario of scenarios) {
    const dir = `${ROOT}.bench-tmp/profile-${scenario}-${Date.now()}`
    mkdirSync(dir, { recursive: true })
    const server = await startServer(scenario, settings, {
      execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${interval}`],
    })
    /** @type {Record<string, string>} */
    const headers = scenario.endsWith('-jwt')
      ? { 'x-portkey-api-key': token }
      : scenario.endsWith('auth0')
        ? { authorization: `Bearer ${token}` }
        : { 'x-portkey-api-key': scenario.includes('-limited') ? LIMITED_KEY : KEY }
    if (reject) {
      // One request without a credential first, as `npm run bench` sends to check each contender.
      const answer = await fetch(`${server.url}/v1/ping`)
      await answer.arrayBuffer()
    }
    const run = await measure({ url: `${server.url}/v1/ping`, headers, seconds, connections: 50, serverPid: server.pid })
    await server.stop() // SIGTERM -> process.exit(0): the profile is written
    if (run.bad > 0) throw new Error(`${scenario}: ${run.bad} non-2xx answers or errors`)
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
    const analysis = analyse(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), run.total)
    results.push({ scenario, run, file: `${rel(dir)}/${file}`, ...analysis })
  }
} finally {
  await stopAll()
  await redis?.stop()
}

const us = (/** @type {number | undefined} */ n) => (n === undefined ? '–' : n.toFixed(2))
for (const r of results) {
  console.log(
    `\n## ${r.scenario}: ${Math.round(r.run.rps)} req/s, server CPU ${Math.round((r.run.serverCpu ?? NaN) * 100)}%, ${us(r.busy)} µs busy per request (${r.file})\n`,
  )
  console.log(
    table(
      ['Owner', 'µs/request'],
      [...r.owners].filter(([k]) => k !== '(idle)').map(([k, v]) => [k, us(v)]),
    ),
  )
  console.log()
  console.log(
    table(
      ['Function (self time, leaf)', 'µs/request'],
      [...r.functions].slice(0, 25).map(([k, v]) => [k, us(v)]),
    ),
  )
  if (r.ownFunctions.size > 0) {
    console.log()
    console.log(
      table(
        ['portkey-auth function (with the Node/native code it calls)', 'µs/request'],
        [...r.ownFunctions].map(([k, v]) => [k, us(v)]),
      ),
    )
  }
}
if (results.length > 1) {
  const keys = [...new Set(results.flatMap((r) => [...r.owners.keys()]))].filter((k) => k !== '(idle)')
  const rows = keys.map((k) => [k, ...results.map((r) => us(r.owners.get(k)))])
  rows.sort((a, b) => Number(b[results.length]) - Number(a[results.length]) || 0)
  console.log('\n## Side by side, µs of server CPU per request\n')
  const head = [
    ['busy in all', ...results.map((r) => us(r.busy))],
    ['busy but writev (kernel send)', ...results.map((r) => us(r.busyJs))],
  ]
  console.log(table(['Owner', ...results.map((r) => r.scenario)], [...head, ...rows.slice(0, 14)]))
}
process.exit(0)
