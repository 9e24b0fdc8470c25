// @ts-check
// Instructions per request, counted by valgrind's callgrind: unlike time, other load on the machine does not
// move them. `npm run build` first, then `node bench/instructions.js [koa|express|fastify|hono ...]`
// (default: koa express). Not part of `npm run bench` (about a minute per contender); see bench/README.md.
//
// Each contender (bench/server.js) runs alone under callgrind, instrumentation off during the warm-up;
// a client outside valgrind sends it identical GET /v1/ping requests over keep-alive, one at a time. After
// the warm-up, one instrumented round (discarded: valgrind translates the code again), then rounds of
// INSTR_REQUESTS requests, each counted from zero: the server's instructions (every thread, user space:
// the kernel's share of a request is not counted) per request, the median over rounds, then over INSTR_PROCESSES processes. The tables compare
// each portkeyAuth contender with its floor (the same framework with one empty middleware, sent the same
// bytes) by owner and by function; JIT-compiled JavaScript is named from V8's perf map.
//   INSTR_WARMUP=20000 INSTR_REQUESTS=2000 INSTR_ROUNDS=3 INSTR_PROCESSES=2 INSTR_CONNECTIONS=1 INSTR_TOP=20
//   INSTR_KEEP=1  keeps the callgrind dumps (in .bench-tmp/), each also as <dump>.named with JIT code named,
//                 for `callgrind_annotate --inclusive=yes --tree=caller <dump>.named`
import { mkdirSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { startUnderCallgrind } from './callgrind.js'
import { startStub, stopAll } from './children.js'
import { AUDIENCE, benchToken, ISSUER, KNOWN_KEY as KEY } from './credentials.js'
import { LIMITED_KEY, UNREACHED } from './limits.js'
import { fmtInt, fmtRatio, median, table } from './stats.js'

/** @type {(name: string, fallback: number) => number} */
const number = (name, fallback) => {
  const value = Math.round(Number(process.env[name] ?? fallback))
  if (!(value > 0)) throw new TypeError(`${name} must be a positive integer`)
  return value
}
const settings = {
  warmup: number('INSTR_WARMUP', 20_000),
  requests: number('INSTR_REQUESTS', 2_000),
  rounds: number('INSTR_ROUNDS', 3),
  processes: number('INSTR_PROCESSES', 2),
  connections: number('INSTR_CONNECTIONS', 1),
  top: number('INSTR_TOP', 20),
  keep: process.env.INSTR_KEEP === '1',
}
const FRAMEWORKS = ['koa', 'express', 'fastify', 'hono']
const frameworks = process.argv.length > 2 ? process.argv.slice(2) : ['koa', 'express']
for (const framework of frameworks) if (!FRAMEWORKS.includes(framework)) throw new TypeError(`unknown framework ${framework}`)
const WITH_JWT = new Set(['koa', 'express'])
const DIR = new URL(`../.bench-tmp/instructions-${Date.now()}`, import.meta.url).pathname
const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)

/** @typedef {Record<string, string>} Headers */
/** @typedef {{ name: string, scenario: string, headers: Headers, floor?: string }} Contender */
/** @typedef {import('./callgrind.js').Dump} Dump */

/**
 * A client of `url` over `settings.connections` keep-alive connections: `send(count)` sends `count` GET
 * requests, one at a time on each connection; anything but a 200 is an error (a refusal would be cheaper
 * and measure nothing). The connections stay open from one call to the next, as under steady load:
 * `reconnect()` closes them (the next call opens new ones).
 * @param {string} url
 * @param {Headers} headers
 */
function client(url, headers) {
  let agent = new Agent({ keepAlive: true, maxSockets: settings.connections })
  const one = () =>
    new Promise((resolve, reject) => {
      const sent = request(url, { agent, headers }, (response) => {
        response
          .resume()
          .once('end', () =>
            response.statusCode === 200 ? resolve(undefined) : reject(new Error(`${url}: status ${response.statusCode}`)),
          )
      })
      sent.once('error', reject).end()
    })
  return {
    /** @param {number} count */
    async send(count) {
      let left = count
      await Promise.all(
        Array.from({ length: settings.connections }, async () => {
          while (left-- > 0) await one()
        }),
      )
    },
    reconnect() {
      agent.destroy()
      agent = new Agent({ keepAlive: true, maxSockets: settings.connections })
    },
    close: () => agent.destroy(),
  }
}

/**
 * One contender in one process: instructions per request (the median over rounds), and its functions' per request
 * (each the median over rounds).
 * @param {Contender} contender
 * @param {import('./children.js').ServerSettings} serverSettings
 */
async function count(contender, serverSettings) {
  const server = await startUnderCallgrind(contender.scenario, serverSettings, DIR, settings.keep)
  const { send, reconnect, close } = client(`${server.url}/v1/ping`, contender.headers)
  try {
    // Half the warm-up on connections closed after it: V8 then meets a closing connection and a new one
    // before the count (else the first measured round re-optimises the socket code they deoptimise).
    await send(settings.warmup / 2)
    reconnect()
    await send(settings.warmup / 2)
    await sleep(1_000) // optimisations under way finish before the count
    await server.instrument()
    await send(settings.requests)
    /** @type {Dump[]} */
    const dumps = []
    for (let round = 0; round < settings.rounds; round++) {
      await server.zero()
      await send(settings.requests)
      dumps.push(await server.dump())
    }
    const perRequest = median(dumps.map((dump) => dump.total / settings.requests))
    log(`instructions:   ${dumps.map((dump) => fmtInt(dump.total / settings.requests)).join(', ')} a request`)
    // Per function, the median over rounds (a stray round's garbage collection or compilation left out).
    /** @type {(pick: (dump: Dump) => Map<string, number>) => Map<string, number>} */
    const perFunction = (pick) => {
      const names = new Set(dumps.flatMap((dump) => [...pick(dump).keys()]))
      return new Map(
        [...names].map((name) => [name, median(dumps.map((dump) => (pick(dump).get(name) ?? 0) / settings.requests))]),
      )
    }
    return { perRequest, self: perFunction((d) => d.self), inclusive: perFunction((d) => d.inclusive) }
  } finally {
    close()
    await server.stop()
  }
}

/**
 * One contender in `settings.processes` processes of its own (two processes of the same code may optimise
 * it differently): per process, the median over its rounds; the contender's figure is the median of those,
 * its functions those of the process closest to it.
 * @param {Contender} contender
 * @param {import('./children.js').ServerSettings} serverSettings
 */
async function measure(contender, serverSettings) {
  const processes = []
  for (let p = 0; p < settings.processes; p++) processes.push(await count(contender, serverSettings))
  const perProcess = processes.map((one) => one.perRequest)
  const perRequest = median(perProcess)
  const closest = processes.reduce((a, b) => (Math.abs(b.perRequest - perRequest) < Math.abs(a.perRequest - perRequest) ? b : a))
  return { ...closest, perRequest, perProcess }
}

// Still compiling after the warm-up: more than a few hundred instructions a request means a longer INSTR_WARMUP.
const COMPILERS = 'V8 compilers (warm-up not over)'

/**
 * Who a function's own instructions belong to.
 * @param {string} name
 */
function ownerOf(name) {
  if (name.startsWith('JS:')) {
    const file = name.split(' ')[1] ?? ''
    if (file.startsWith('dist/')) return 'portkey-auth (JS)'
    const at = file.lastIndexOf('node_modules/')
    if (at !== -1) {
      const parts = file.slice(at + 13).split('/')
      return `${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]} (JS)`
    }
    return file.startsWith('node:') ? 'Node core (JS)' : 'other JS'
  }
  if (/^Builtins?[_:]/.test(name)) {
    if (/Promise|Microtask|Await|Resolve|Reject/.test(name)) return 'V8 builtins: promises, microtasks'
    if (/IC(_|$|Trampoline|Baseline)|_IC|LoadIC|StoreIC|KeyedHas/.test(name)) return 'V8 builtins: property access (ICs)'
    return 'V8 builtins: other'
  }
  if (/^v8::internal::(compiler|maglev|baseline)::|Turbofan|OptimizingCompile/.test(name)) return COMPILERS
  if (/sha256|SHA256|EVP_|OPENSSL_|CRYPTO_|ossl_|node::crypto::/.test(name)) return 'crypto (OpenSSL, node::crypto)'
  if (/Heap|Scaveng|MarkCompact|Marking|Sweep|Evacuat|RememberedSet|Slot|GC|Allocat|Page|Space/.test(name))
    return 'V8 heap (allocation, GC)'
  if (/^v8::internal::Runtime_|^Runtime_/.test(name)) return 'V8 runtime calls'
  if (/^v8::/.test(name)) return 'V8 C++ (API, runtime)'
  if (/^node::|^uv_|^uv__|llhttp/.test(name)) return 'Node C++, libuv, llhttp'
  return 'other native (libc, …)'
}

/** @param {Map<string, number>} map @param {(name: string) => string} key */
function group(map, key) {
  /** @type {Map<string, number>} */
  const out = new Map()
  for (const [name, cost] of map) out.set(key(name), (out.get(key(name)) ?? 0) + cost)
  return out
}

/** @param {Map<string, number>} a @param {Map<string, number>} b @returns {[string, number][]} a − b, by size */
function difference(a, b) {
  const names = new Set([...a.keys(), ...b.keys()])
  return [...names]
    .map((name) => /** @type {[string, number]} */ ([name, (a.get(name) ?? 0) - (b.get(name) ?? 0)]))
    .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
}

const signed = (/** @type {number} */ n) => `${n < 0 ? '−' : '+'}${fmtInt(Math.abs(n))}`
const cut = (/** @type {string} */ s) => (s.length > 110 ? `${s.slice(0, 107)}…` : s)

mkdirSync(DIR, { recursive: true })
const { issuer, token } = await benchToken()
const key = { 'x-portkey-api-key': KEY }
const jwt = { 'x-portkey-api-key': token }
log(`instructions: ${JSON.stringify(settings)}; frameworks ${frameworks.join(', ')}`)
try {
  const stub = await startStub({ jwks: issuer.jwks, keys: [KEY] })
  await stub.ask({ type: 'keys', keys: [LIMITED_KEY], rateLimits: [UNREACHED] })
  const serverSettings = { controlPlaneUrl: stub.url, jwksUrl: stub.jwksUrl, issuer: ISSUER, audience: AUDIENCE }
  for (const framework of frameworks) {
    /** @type {Contender[]} */
    const contenders = [
      { name: 'bare', scenario: `${framework}-bare`, headers: key },
      { name: 'floor, API-key headers', scenario: `${framework}-noop`, headers: key },
      {
        name: 'portkeyAuth, API key (cached)',
        scenario: `${framework}-portkey-key`,
        headers: key,
        floor: 'floor, API-key headers',
      },
      ...(WITH_JWT.has(framework)
        ? [
            { name: 'floor, JWT headers', scenario: `${framework}-noop`, headers: jwt },
            {
              name: 'portkeyAuth, RS256 JWT (cached)',
              scenario: `${framework}-portkey-jwt`,
              headers: jwt,
              floor: 'floor, JWT headers',
            },
            // Issue 16: what a rate limit the key never reaches adds to the cached key (its floor here).
            {
              name: 'portkeyAuth, API key (cached), limit not reached',
              scenario: `${framework}-portkey-limited`,
              headers: { 'x-portkey-api-key': LIMITED_KEY },
              floor: 'portkeyAuth, API key (cached)',
            },
          ]
        : []),
    ]
    /** @type {Map<string, Awaited<ReturnType<typeof measure>>>} */
    const results = new Map()
    for (const contender of contenders) {
      log(`instructions: ${framework}, ${contender.name}`)
      results.set(contender.name, await measure(contender, serverSettings))
    }
    const perRequest = (/** @type {string} */ name) => results.get(name)?.perRequest ?? NaN
    console.log(`\n## ${framework}: instructions per request\n`)
    console.log(
      table(
        [
          'Contender',
          'instructions/request (median)',
          'per process',
          'above its floor',
          '× floor (floor ÷ contender)',
          'of which JIT compilers',
        ],
        contenders.map(({ name, floor }) => {
          const processes = results.get(name)?.perProcess ?? []
          const compiling = group(results.get(name)?.self ?? new Map(), ownerOf).get(COMPILERS) ?? 0
          const above = floor === undefined ? NaN : perRequest(name) - perRequest(floor)
          return [
            name,
            fmtInt(perRequest(name)),
            processes.map(fmtInt).join(', '),
            floor === undefined ? '' : signed(above),
            floor === undefined ? '' : fmtRatio(perRequest(floor) / perRequest(name)),
            fmtInt(compiling),
          ]
        }),
      ),
    )
    for (const { name, floor } of contenders) {
      const mine = results.get(name)
      const base = floor === undefined ? undefined : results.get(floor)
      if (mine === undefined || base === undefined) continue
      console.log(`\n### ${framework}, ${name}: instructions per request above "${floor}", by owner\n`)
      const owners = difference(group(mine.self, ownerOf), group(base.self, ownerOf)).filter(([, n]) => Math.abs(n) >= 1)
      console.log(
        table(
          ['Owner (own instructions)', 'above the floor'],
          owners.map(([owner, n]) => [owner, signed(n)]),
        ),
      )
      console.log(`\n### ${framework}, ${name}: functions (own instructions) most above or below the floor\n`)
      const functions = difference(mine.self, base.self).slice(0, settings.top)
      console.log(
        table(
          ['Function', 'owner', 'above the floor'],
          functions.map(([f, n]) => [cut(f), ownerOf(f), signed(n)]),
        ),
      )
      console.log(`\n### ${framework}, ${name}: portkey-auth's functions, with what they call (inclusive)\n`)
      const own = [...mine.inclusive].filter(([f]) => ownerOf(f) === 'portkey-auth (JS)').sort((x, y) => y[1] - x[1])
      console.log(
        table(
          ['Function', 'instructions/request'],
          own.slice(0, settings.top).map(([f, n]) => [cut(f), fmtInt(n)]),
        ),
      )
    }
  }
} finally {
  await stopAll()
  if (!settings.keep) rmSync(DIR, { recursive: true, force: true })
  else log(`instructions: callgrind dumps kept in ${DIR}`)
}
process.exit(0)
