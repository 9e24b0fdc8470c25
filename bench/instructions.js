// @ts-check
// Instructions per request, counted by valgrind's callgrind (other load does not move them): after `npm run build`,
// `node bench/instructions.js [koa|express|fastify|hono ...]` (default: koa express). bench/README.md says how it
// counts and what the INSTR_* settings do. Not part of `npm run bench` (about a minute per process).
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { JWKS_PATH } from 'portkey-auth/testing'
import { startServer, stopAll } from './children.js'
import { AUDIENCE, benchToken, contenders, fmtInt, fmtRatio, ISSUER, KNOWN_KEY, LIMITED_KEY, log, median, PING } from './lib.js'
import { INSTRUCTIONS_FILE, setting, sourceOf, table, UNREACHED } from './lib.js'
import { burst } from './load.js'

const DEFAULTS = { warmup: 20_000, requests: 2_000, rounds: 3, processes: 2, connections: 1, top: 20 }
const settings = Object.entries(DEFAULTS).map(([name, value]) => Math.round(setting(`INSTR_${name.toUpperCase()}`, value)))
const [warmup, requests, rounds, processes, connections, top] = settings
const [keep, ROOT] = [process.env.INSTR_KEEP === '1', new URL('..', import.meta.url).pathname]
const frameworks = process.argv.length > 2 ? process.argv.slice(2) : ['koa', 'express']
if (frameworks.some((f) => !['koa', 'express', 'fastify', 'hono'].includes(f)))
  throw new TypeError(`unknown framework: ${frameworks}`)
const DIR = `${ROOT}.bench-tmp/instructions-${Date.now()}`
const callgrind = (/** @type {string} */ option, /** @type {number} */ pid) =>
  promisify(execFile)('callgrind_control', [...option.split(' '), String(pid)])
/** @typedef {{ self: Map<string, number>, inclusive: Map<string, number>, total: number }} Dump */
/** Names JIT-compiled code from V8's perf map of `pid` (`JS:*name file:line:col`, the package root cut), the latest there. */
function perfMap(/** @type {number} */ pid) {
  const text = existsSync(`/tmp/perf-${pid}.map`) ? readFileSync(`/tmp/perf-${pid}.map`, 'utf8') : ''
  const lines = text.split('\n').map((line) => line.split(' '))
  const code = lines.map(([start, size, ...name]) => ({ start: Number.parseInt(start, 16), end: 0, size, name }))
  for (const c of code) c.end = c.start + Number.parseInt(c.size, 16)
  return (/** @type {string} */ address) => {
    const at = Number.parseInt(address, 16)
    const found = code.findLast(({ start, end }) => start <= at && at < end)
    return found ? found.name.join(' ').replaceAll(`file://${ROOT}`, '').replaceAll(ROOT, '') : address
  }
}
/**
 * One callgrind dump (event Ir): each function's own instructions and its inclusive ones (with the calls it made).
 * Functions are known by name: two compiled versions of one JavaScript function stay apart, two copies of one add up.
 * With INSTR_KEEP=1, the dump is written again as `<file>.named`, JIT code named.
 */
function readDump(/** @type {string} */ file, /** @type {(address: string) => string} */ nameOf) {
  /** @type {Map<string, string>} */
  const names = new Map()
  const name = (/** @type {string} */ spec) => {
    const [, id, text] = /^\((\d+)\)(?: (.*))?$/.exec(spec) ?? []
    // An address, with callgrind's '2 for a recursive call when it is one.
    const named = text?.replace(/^(0x[0-9a-f]+)('\d+)?$/, (_, address, r = '') => nameOf(address) + r)
    if (named !== undefined) names.set(id, named)
    return names.get(id) ?? spec
  }
  /** @type {Dump} */
  const dump = { self: new Map(), inclusive: new Map(), total: 0 }
  const add = (/** @type {Map<string, number>} */ to, /** @type {string} */ f, /** @type {number} */ n) =>
    to.set(f, (to.get(f) ?? 0) + n)
  let [current, inCall] = ['', false]
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const line of lines) {
    if (line.startsWith('fn=')) current = name(line.slice(3))
    else if (line.startsWith('cfn=')) name(line.slice(4))
    else if (line.startsWith('calls=')) inCall = true
    else if (line.startsWith('summary:')) dump.total = Number(line.slice(8))
    else if (/^[0-9+*-]/.test(line)) {
      const cost = Number(line.split(' ')[1] ?? 0)
      add(dump.inclusive, current, cost)
      if (!inCall) add(dump.self, current, cost)
      inCall = false
    }
  }
  const named = lines.map((line) => line.replace(/^(c?fn=\((\d+)\)) 0x.*$/, (_, head, id) => `${head} ${names.get(id)}`))
  if (keep) writeFileSync(`${file}.named`, named.join('\n'))
  return dump
}
/**
 * One contender in a process of its own under callgrind, instrumentation off until the count: after the warm-up
 * (half of it on connections then closed, so that V8 has met a connection closing and a new one) and one instrumented
 * round discarded (valgrind translates the code again), `rounds` rounds each counted from zero. Node writes its perf
 * map and has a young generation of one fixed size: V8 sizes it from the allocation rate it sees, which valgrind slows
 * ~50×, so two processes of one contender would collect garbage 8 or 30 times in 2,000 requests.
 *
 * Nothing that comes once a minute may fall in the count, which valgrind stretches to about a minute: the verifier's
 * entry stays fresh (FRESH_MS), and the stub drops its connections halfway through the warm-up. Its keep-alive closed
 * the verifier's connection 60 s after the look-up; a socket of that other kind closing deoptimised Node's stream code
 * (`_destroy`, `emitCloseNT`, `emit`, getters: "wrong map"), compiled again in the counted rounds, ~10 million
 * instructions. A call to the control plane during the count is reported. The calls are read from the stub, not the
 * server: an IPC message to it before the count deoptimised that code too (its pipe is a stream).
 * @param {import('./load.js').Contender} contender
 * @param {import('./children.js').ServerSettings & { ttlMs: number }} serverSettings
 * @param {import('./children.js').Server} stub the control-plane stub
 */
async function count(contender, serverSettings, stub) {
  const valgrind = `-q --tool=callgrind --instr-atstart=no --trace-children=no --callgrind-out-file=${DIR}/callgrind.%p`
  const node = `${process.execPath} --perf-basic-prof --min-semi-space-size=16 --max-semi-space-size=16`
  const execArgv = `${valgrind} ${node} ${process.env.INSTR_NODE_FLAGS ?? ''}`.split(' ').filter(Boolean)
  // In DIR: --perf-basic-prof also writes V8's log (isolate-*.log) to the working directory.
  const options = { execPath: 'valgrind', execArgv, cwd: DIR, timeoutMs: 120_000 }
  const server = await startServer(contender.scenario, serverSettings, options)
  let agent = new Agent({ keepAlive: true, maxSockets: connections })
  const [url, headersFor, concurrency] = [server.url + PING, () => contender.headers, connections]
  const send = async (/** @type {number} */ count) => {
    const { statuses } = await burst({ url, count, concurrency, headersFor, agent })
    if (statuses[200] !== count) throw new Error(`${contender.name}: answers ${JSON.stringify(statuses)}`)
  }
  try {
    await send(warmup / 2)
    agent.destroy()
    await stub.ask({ type: 'drop' })
    agent = new Agent({ keepAlive: true, maxSockets: connections })
    await send(warmup / 2)
    await sleep(1_000) // optimisations under way finish before the count
    const calls = await stubCalls(stub)
    await callgrind('-i on', server.pid)
    await send(requests)
    /** @type {Dump[]} */
    const dumps = []
    for (let round = 1; round <= rounds; round++) {
      await callgrind('-z', server.pid)
      await send(requests)
      await callgrind('-d', server.pid)
      dumps.push(readDump(`${DIR}/callgrind.${server.pid}.${round}`, perfMap(server.pid)))
    }
    log(`instructions:   ${dumps.map((dump) => fmtInt(dump.total / requests)).join(', ')} a request`)
    const during = (await stubCalls(stub)) - calls
    if (during !== 0) log(`instructions:   ${during} control-plane call(s) during the count: the rounds above include them`)
    // Per function, the median over rounds (a stray round's collection or compilation left out).
    const perFunction = (/** @type {(dump: Dump) => Map<string, number>} */ pick) => {
      const names = new Set(dumps.flatMap((d) => [...pick(d).keys()]))
      return new Map([...names].map((f) => [f, median(dumps.map((d) => (pick(d).get(f) ?? 0) / requests))]))
    }
    const perRequest = median(dumps.map((d) => d.total / requests))
    return { perRequest, self: perFunction((d) => d.self), inclusive: perFunction((d) => d.inclusive) }
  } finally {
    agent.destroy()
    await server.stop()
    rmSync(`/tmp/perf-${server.pid}.map`, { force: true })
  }
}
/** The calls the control-plane `stub` has answered (key details and JWKS) since it last started. */
async function stubCalls(/** @type {import('./children.js').Server} */ stub) {
  const { keyCalls, jwksCalls } = await stub.ask({ type: 'counts' })
  return keyCalls + jwksCalls
}
// Still compiling after the warm-up: more than a few hundred instructions a request means a longer INSTR_WARMUP.
const COMPILERS = 'V8 compilers (warm-up not over)'
/** @type {[RegExp, string][]} Who a native function's own instructions belong to, the first that matches. */
const OWNERS = [
  [/^Builtins?[_:].*(Promise|Microtask|Await|Resolve|Reject)/, 'V8 builtins: promises, microtasks'],
  [/^Builtins?[_:].*(IC(_|$|Trampoline|Baseline)|_IC|LoadIC|StoreIC|KeyedHas)/, 'V8 builtins: property access (ICs)'],
  [/^Builtins?[_:]/, 'V8 builtins: other'],
  [/^v8::internal::(compiler|maglev|baseline)::|Turbofan|OptimizingCompile/, COMPILERS],
  [/sha256|SHA256|EVP_|OPENSSL_|CRYPTO_|ossl_|node::crypto::/, 'crypto (OpenSSL, node::crypto)'],
  [/Heap|Scaveng|MarkCompact|Marking|Sweep|Evacuat|RememberedSet|Slot|GC|Allocat|Page|Space/, 'V8 heap (allocation, GC)'],
  [/^v8::internal::Runtime_|^Runtime_/, 'V8 runtime calls'],
  [/^v8::/, 'V8 C++ (API, runtime)'],
  [/^node::|^uv_|^uv__|llhttp/, 'Node C++, libuv, llhttp'],
]
/** Who a function's own instructions belong to: JavaScript by its file (its package), native code by its name. */
function ownerOf(/** @type {string} */ name) {
  if (!name.startsWith('JS:')) return OWNERS.find(([pattern]) => pattern.test(name))?.[1] ?? 'other native (libc, …)'
  const file = name.split(' ')[1] ?? ''
  const [scope, pkg] = file.slice(file.lastIndexOf('node_modules/') + 13).split('/')
  if (file.startsWith('dist/')) return 'portkey-auth (JS)'
  if (file.includes('node_modules/')) return `${scope.startsWith('@') ? `${scope}/${pkg}` : scope} (JS)`
  return file.startsWith('node:') ? 'Node core (JS)' : 'other JS'
}
/** `map`'s costs added up by `key(name)`. */
const group = (/** @type {Map<string, number>} */ map, /** @type {(name: string) => string} */ key) =>
  [...map].reduce((out, [name, cost]) => out.set(key(name), (out.get(key(name)) ?? 0) + cost), new Map())
/** a − b by name, largest first. */
function difference(/** @type {Map<string, number>} */ a, /** @type {Map<string, number>} */ b) {
  const names = [...new Set([...a.keys(), ...b.keys()])]
  return names
    .map((f) => /** @type {[string, number]} */ ([f, (a.get(f) ?? 0) - (b.get(f) ?? 0)]))
    .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
}
const signed = (/** @type {number} */ n) => `${n < 0 ? '−' : '+'}${fmtInt(Math.abs(n))}`
const cut = (/** @type {string} */ s) => (s.length > 110 ? `${s.slice(0, 107)}…` : s)
const print = (/** @type {string} */ title, /** @type {string[]} */ header, /** @type {unknown[][]} */ rows) =>
  console.log(`\n${title}\n\n${table(header, rows)}`)
/**
 * Leaves `framework`'s summary table in INSTRUCTIONS_FILE for `npm run bench` to report (scenario 13), beside the
 * other frameworks' of the same code (an earlier run's of other code is dropped).
 */
function keepTable(/** @type {string} */ framework, /** @type {string[]} */ header, /** @type {unknown[][]} */ rows) {
  const [file, source] = [`${ROOT}${INSTRUCTIONS_FILE}`, sourceOf(ROOT)]
  const kept = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null
  const tables =
    kept?.source === source ? kept.tables.filter((/** @type {{ framework: string }} */ t) => t.framework !== framework) : []
  tables.push({ framework, header, rows, settings: Object.fromEntries(Object.keys(DEFAULTS).map((k, i) => [k, settings[i]])) })
  mkdirSync(`${ROOT}.bench-tmp`, { recursive: true })
  writeFileSync(file, JSON.stringify({ source, date: new Date().toISOString(), tables }))
}
/**
 * How long a verifier's entry stays fresh here (its `cache.ttlMs`; 60 s by default): longer than any process lives.
 * Under valgrind 60 s is a few thousand requests, and the background refresh then due (a look-up: Node's HTTP client
 * run cold, and the Node stream code its outgoing socket deoptimises, compiled again) landed in counted rounds, up to
 * ~130,000 instructions a request more, most of them in the JIT compilers. Natively it comes once a minute, among
 * some million requests.
 */
const FRESH_MS = 3_600_000
mkdirSync(DIR, { recursive: true })
const { issuer, token } = await benchToken()
log(`instructions: ${JSON.stringify(Object.fromEntries(Object.keys(DEFAULTS).map((k, i) => [k, settings[i]])))}; ${frameworks}`)
try {
  const stub = await startServer('stub', { jwks: issuer.jwks })
  await stub.ask({ type: 'keys', keys: [KNOWN_KEY] })
  await stub.ask({ type: 'keys', keys: [LIMITED_KEY], rateLimits: [UNREACHED] })
  const [jwksUrl, ttlMs] = [stub.url + JWKS_PATH, FRESH_MS]
  const serverSettings = { controlPlaneUrl: stub.url, jwksUrl, issuer: ISSUER, audience: AUDIENCE, ttlMs }
  for (const framework of frameworks) {
    // Bare, the floor, the naive limit and the cached API key; on Koa and Express the cached JWT and a limit never
    // reached too.
    const more = ['koa', 'express'].includes(framework) ? ['floorJwt', 'jwt', 'keyLimited'] : []
    const list = contenders(framework, ['bare', 'floorKey', 'naive', 'key', ...more], token)
    /** @type {Map<string | undefined, Awaited<ReturnType<typeof count>> & { perProcess: number[] }>} */
    const results = new Map()
    for (const contender of list) {
      // The median of several processes (two may optimise the same code apart), the functions of the closest.
      const each = []
      for (let p = 1; p <= processes; p++) {
        log(`instructions: ${framework}, ${contender.name}, process ${p}/${processes}`)
        each.push(await count(contender, serverSettings, stub))
      }
      const perRequest = median(each.map((one) => one.perRequest))
      const closest = each.reduce((a, b) => (Math.abs(b.perRequest - perRequest) < Math.abs(a.perRequest - perRequest) ? b : a))
      results.set(contender.name, { ...closest, perRequest, perProcess: each.map((one) => one.perRequest) })
    }
    const perRequest = (/** @type {string | undefined} */ name) => results.get(name)?.perRequest ?? NaN
    const rows = list.map(({ name, floor, naive }) => {
      const [mine, base, own] = [perRequest(name), perRequest(floor), group(results.get(name)?.self ?? new Map(), ownerOf)]
      const [processes, above] = [results.get(name)?.perProcess.map(fmtInt).join(', '), floor && signed(mine - base)]
      const limit = naive && `${signed(mine - perRequest(naive))} (${fmtRatio(perRequest(naive) / mine)})`
      return [name, fmtInt(mine), processes, above, floor && fmtRatio(base / mine), limit, fmtInt(own.get(COMPILERS) ?? 0)]
    })
    const header = ['Contender', 'instructions/request (median)', 'per process', 'above its floor', '× floor (floor ÷ contender)']
    const naiveColumn = 'above the naive limit (naive ÷ contender)'
    print(`## ${framework}: instructions per request`, [...header, naiveColumn, 'of which JIT compilers'], rows)
    keepTable(framework, [...header, naiveColumn, 'of which JIT compilers'], rows)
    for (const { name, floor, naive } of list) {
      const [mine, base, title] = [results.get(name), results.get(floor), `### ${framework}, ${name}:`]
      if (mine === undefined || base === undefined) continue
      const owners = difference(group(mine.self, ownerOf), group(base.self, ownerOf)).filter(([, n]) => Math.abs(n) >= 1)
      const [byOwner, above] = [owners.map(([owner, n]) => [owner, signed(n)]), 'above the floor']
      print(`${title} instructions per request above "${floor}", by owner`, ['Owner (own instructions)', above], byOwner)
      const limit = results.get(naive)
      if (limit !== undefined) {
        const owners = difference(group(mine.self, ownerOf), group(limit.self, ownerOf)).filter(([, n]) => Math.abs(n) >= 1)
        const byOwner = owners.map(([owner, n]) => [owner, signed(n)])
        print(`${title} instructions per request above "${naive}", by owner`, ['Owner (own instructions)', 'above it'], byOwner)
      }
      const functions = difference(mine.self, base.self).slice(0, top)
      const byFunction = functions.map(([f, n]) => [cut(f), ownerOf(f), signed(n)])
      print(`${title} functions (own instructions) most above or below the floor`, ['Function', 'owner', above], byFunction)
      const own = [...mine.inclusive].filter(([f]) => ownerOf(f) === 'portkey-auth (JS)').sort((x, y) => y[1] - x[1])
      const inclusive = own.slice(0, top).map(([f, n]) => [cut(f), fmtInt(n)])
      const heading = `${title} portkey-auth's functions, with what they call (inclusive)` // none in the naive limit
      if (inclusive.length > 0) print(heading, ['Function', 'instructions/request'], inclusive)
    }
  }
} finally {
  await stopAll()
  if (keep) log(`instructions: callgrind dumps kept in ${DIR}`)
  else rmSync(DIR, { recursive: true, force: true })
}
process.exit(0)
