// @ts-check
// Scenario 7, one measurement in a process of its own, so that its heap holds nothing else. bench/scenarios.js
// runs it for each size; alone, after a build:
//   node --expose-gc bench/scale.js keys <n>       n cached API keys: the cost of a cache hit while cycling
//                                                  through them, and the heap each one retains
//   node --expose-gc bench/scale.js upfront <max>  what createVerifier({ cache: { max } }) costs with no key stored
// Prints one JSON line (times in ns or ms, memory in bytes).
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createVerifier } from 'portkey-auth'
import { keyRecord } from 'portkey-auth/testing'
// Not exported: the default cache size, and the share of it kept for "unknown key" answers.
import { DEFAULTS, TIMINGS } from '../dist/options/defaults.js'
import { spread } from './stats.js'

// Bounded anyway, but never outlive the orchestrator.
process.on('disconnect', () => process.exit(0))

const { gc } = globalThis
if (gc === undefined) {
  console.error('bench/scale.js: run it with node --expose-gc')
  process.exit(2)
}
const [mode, size] = [process.argv[2], Number(process.argv[3])]
if (!(mode === 'keys' || mode === 'upfront') || !(Number.isSafeInteger(size) && size > 0)) {
  console.error('usage: node --expose-gc bench/scale.js keys <n> | upfront <max>')
  process.exit(2)
}

/** Calls timed per run (at least; two passes over the key set when it is larger), runs (after 2 unmeasured ones), calls per batch. */
const MIN_CALLS = 200_000
const RUNS = 9
const BATCH = 256
const KEY_LENGTH = 35
const ORG = 'org_bench'
// Headers as Node hands them to a middleware (lower-case names, string values), as in bench/micro.js.
const BASE = Object.entries({ host: '127.0.0.1:3000', 'user-agent': 'bench', accept: '*/*', connection: 'keep-alive' })

/**
 * A request's headers as Node's HTTP parser builds them: `{}`, then one store per header
 * (IncomingMessage's _addHeaderLine). Not `{ ...base, key }`: V8 reads a header absent from an object
 * made by spreading ~250 ns slower than from one built like Node's (measured on Node 20), a cost that real
 * requests do not pay.
 * @param {string} key
 */
function requestHeaders(key) {
  /** @type {Record<string, string>} */
  const headers = {}
  for (const [name, value] of BASE) headers[name] = value
  headers['x-portkey-api-key'] = key
  return headers
}
// No network: the key service answers at once, with a realistic record (its own id and name per key).
/** @type {import('portkey-auth').KeyLookup} */
const lookup = async () => keyRecord({ organisation_id: ORG, workspace_id: 'ws_bench' })

/**
 * Key `i` of the set `set`: 35 characters like a real key (`pk-bench-` and 26 hex digits), made afresh,
 * as one flat string, on every call (as a request's header value is), so that whatever the verifier keeps
 * of it is counted as its own, never shared with a copy the bench holds.
 * @param {string} set
 * @param {number} i
 */
function keyOf(set, i) {
  const digits = createHash('sha256')
    .update(`${set}/${i}`)
    .digest('hex')
    .slice(0, KEY_LENGTH - 9)
  return Buffer.from(`pk-bench-${digits}`, 'latin1').toString('latin1')
}

/**
 * Memory once the garbage is gone: full collections, with pauses between them for what only goes after
 * one (finalizers: an `AbortSignal.timeout()` timer lets go once its signal is collected).
 */
async function settled() {
  for (let k = 0; k < 3; k++) {
    gc?.()
    await sleep(20)
  }
  gc?.()
  return process.memoryUsage()
}

/**
 * The smallest `cache.max` (the default at least) whose known-key share holds `n` keys: a tenth of `max`
 * is kept for "unknown key" answers.
 * @param {number} n
 */
function maxFor(n) {
  let max = Math.max(DEFAULTS.cache.max, Math.ceil(n / (1 - TIMINGS.negativeShare)))
  while (max - Math.ceil(max * TIMINGS.negativeShare) < n) max++
  return max
}

/**
 * Looks up `count` keys of `set` through `verifier`, 256 at a time (the default maxPendingLookups), each in
 * headers of its own.
 * @param {import('portkey-auth').Verifier} verifier
 * @param {string} set
 * @param {number} count
 */
async function fill(verifier, set, count) {
  for (let i = 0; i < count; i += 256) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 256); j++) batch.push(verifier.check(requestHeaders(keyOf(set, j))))
    for (const auth of await Promise.all(batch)) if (auth.organisationId !== ORG) throw new Error('scale: fill did not admit')
  }
}

/**
 * Calls `verifier.check()` at least `calls` times, cycling through the keys in `keys` (`count` keys of
 * KEY_LENGTH bytes, end to end), and returns the time per call in ns. Each call gets headers of its own,
 * made just before its batch and not timed, as the HTTP parser makes a request's: a new object and a new key
 * string, still in the CPU's caches. What is timed is then the verifier's own work and its own memory
 * accesses (the hash, the cache's map and list, the entry), not the bench's reading of old headers.
 * @param {import('portkey-auth').Verifier} verifier
 * @param {Buffer} keys
 * @param {number} count
 * @param {number} calls
 */
function cycle(verifier, keys, count, calls) {
  /** @type {Record<string, string>[]} */
  const batch = []
  /** @type {ReturnType<typeof verifier.check> | undefined} */
  let last
  let next = 0
  let ns = 0
  let done = 0
  for (; done < calls; done += BATCH) {
    for (let b = 0; b < BATCH; b++) {
      const offset = next * KEY_LENGTH
      batch[b] = requestHeaders(keys.toString('latin1', offset, offset + KEY_LENGTH))
      if (++next === count) next = 0
    }
    const t0 = process.hrtime.bigint()
    for (let b = 0; b < BATCH; b++) last = verifier.check(batch[b])
    ns += Number(process.hrtime.bigint() - t0)
  }
  if (last === undefined || last instanceof Promise || last.organisationId !== ORG)
    throw new Error('scale: a timed check() was not a synchronous cache hit')
  return { ns: ns / done, calls: done }
}

/**
 * The keys `order` of the set `set`, end to end in one buffer.
 * @param {string} set
 * @param {readonly number[]} order
 */
function keyBuffer(set, order) {
  const buffer = Buffer.alloc(order.length * KEY_LENGTH)
  for (const [k, i] of order.entries()) buffer.write(keyOf(set, i), k * KEY_LENGTH, 'latin1')
  return buffer
}

/** Deterministic shuffle (a fixed LCG), so that the cycle visits the keys in an order unlike their insertion. */
function shuffled(/** @type {number} */ n) {
  const order = Array.from({ length: n }, (_, i) => i)
  let seed = 12345
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    const k = seed % (i + 1)
    ;[order[i], order[k]] = [order[k], order[i]]
  }
  return order
}

async function keys(/** @type {number} */ n) {
  const max = maxFor(n)
  // Compile the paths measured below (look-up, fill, hit) on a verifier of their own, then let it go, so
  // that the heap measured holds entries, not code.
  {
    const warm = createVerifier({ lookup, cache: { max } })
    await fill(warm, 'warm', 2_000)
    cycle(warm, keyBuffer('warm', shuffled(2_000)), 2_000, MIN_CALLS)
  }
  const verifier = createVerifier({ lookup, cache: { max } })
  const before = await settled()
  const t0 = performance.now()
  await fill(verifier, 'keys', n)
  const fillMs = performance.now() - t0
  const after = await settled()
  const filled = verifier.stats()
  if (filled.entries !== n || filled.lookups !== n)
    throw new Error(`scale: ${n} keys filled, but stats say ${JSON.stringify(filled)}`)

  // The keys in a shuffled order: the cycle visits them unlike their insertion order.
  const order = keyBuffer('keys', shuffled(n))
  const calls = Math.max(MIN_CALLS, 2 * n)
  cycle(verifier, order, n, calls)
  cycle(verifier, order, n, calls)
  const runs = Array.from({ length: RUNS }, () => cycle(verifier, order, n, calls))
  const end = verifier.stats()
  if (end.lookups !== n || end.misses !== filled.misses || end.stale !== filled.stale || end.entries !== n)
    throw new Error('scale: a timed check() was not a cache hit')
  return {
    mode,
    keys: n,
    max,
    keyLength: KEY_LENGTH,
    fillMs,
    heapPerKey: (after.heapUsed - before.heapUsed) / n,
    externalPerKey: (after.external - before.external) / n,
    rssPerKey: (after.rss - before.rss) / n,
    callsPerRun: runs[0].calls,
    nsPerHit: spread(runs.map((run) => run.ns)),
    runs: runs.map((run) => run.ns),
    hits: end.hits - filled.hits,
  }
}

async function upfront(/** @type {number} */ max) {
  // Load and compile createVerifier() on a small cache first: what is measured is the cache's reservation.
  createVerifier({ lookup, cache: { max: 2 } })
  const before = await settled()
  let t0 = performance.now()
  let verifier = createVerifier({ lookup, cache: { max } })
  const firstMs = performance.now() - t0
  const after = await settled()
  if (verifier.stats().entries !== 0) throw new Error('scale: a new verifier holds entries')
  // The time again, each on a heap cleared of the previous one.
  const again = []
  for (let k = 0; k < 5; k++) {
    verifier = createVerifier({ lookup, cache: { max: 2 } })
    await settled()
    t0 = performance.now()
    verifier = createVerifier({ lookup, cache: { max } })
    again.push(performance.now() - t0)
  }
  return {
    mode,
    max,
    firstMs,
    againMs: spread(again),
    heap: after.heapUsed - before.heapUsed,
    external: after.external - before.external,
    rss: after.rss - before.rss,
  }
}

/** @typedef {Awaited<ReturnType<typeof keys>>} ScaleKeys */
/** @typedef {Awaited<ReturnType<typeof upfront>>} ScaleUpfront */
const report = mode === 'keys' ? await keys(size) : await upfront(size)
process.stdout.write(`${JSON.stringify(report)}\n`)
process.exit(0)
