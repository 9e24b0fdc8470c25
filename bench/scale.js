// @ts-check
// Scenario 7, one measurement in a process of its own, so that its heap holds nothing else (after a build):
//   node --expose-gc bench/scale.js keys <n>       n cached API keys: a cache hit of check() while cycling through
//                                                  them (ns), and the heap and RSS each one retains (bytes)
//   node --expose-gc bench/scale.js upfront <max>  what createVerifier({ cache: { max } }) costs with no key stored
// Prints one JSON line. The key service is a function answering at once, a record of its own per key.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createVerifier } from 'portkey-auth'
import { keyRecord } from 'portkey-auth/testing'
import { DEFAULTS, TIMINGS } from '../dist/options/defaults.js' // not exported: the cache's defaults
import { spread } from './lib.js'

process.on('disconnect', () => process.exit(0))
const [mode, size, gc = () => {}] = [process.argv[2], Number(process.argv[3]), globalThis.gc]
if (globalThis.gc === undefined || !['keys', 'upfront'].includes(mode) || !(Number.isSafeInteger(size) && size > 0)) {
  console.error('usage: node --expose-gc bench/scale.js keys <n> | upfront <max>')
  process.exit(2)
}
/** Calls timed per run (at least), runs (after 2 unmeasured ones), calls per batch, a key's length. */
const [MIN_CALLS, RUNS, BATCH, KEY_LENGTH, ORG] = [200_000, 9, 256, 35, 'org_bench']
const BASE = Object.entries({ host: '127.0.0.1:3000', 'user-agent': 'bench', accept: '*/*', connection: 'keep-alive' })
/** @type {import('portkey-auth').KeyLookup} */
const lookup = async () => keyRecord({ organisation_id: ORG, workspace_id: 'ws_bench' })
/**
 * A request's headers as Node's HTTP parser builds them: `{}`, then one store per header. Not `{ ...base, key }`:
 * V8 reads a header absent from an object made by spreading ~250 ns slower, a cost real requests do not pay.
 */
function requestHeaders(/** @type {string} */ key) {
  /** @type {Record<string, string>} */
  const headers = {}
  for (const [name, value] of BASE) headers[name] = value
  headers['x-portkey-api-key'] = key
  return headers
}
/** Key `i` of `set` (35 characters like a real key) as a new flat string, never shared with a copy the bench holds. */
const keyOf = (/** @type {string} */ set, /** @type {number} */ i) =>
  Buffer.from(
    `pk-bench-${createHash('sha256')
      .update(`${set}/${i}`)
      .digest('hex')
      .slice(0, KEY_LENGTH - 9)}`,
    'latin1',
  ).toString('latin1')
/** Memory once the garbage is gone: full collections, with pauses for what only goes after one (finalizers). */
async function settled() {
  for (let k = 0; k < 3; k++) gc(), await sleep(20)
  gc()
  return process.memoryUsage()
}
/** Looks up `count` keys of `set`, 256 at a time (the default maxPendingLookups), each in headers of its own. */
async function fill(
  /** @type {import('portkey-auth').Verifier} */ verifier,
  /** @type {string} */ set,
  /** @type {number} */ count,
) {
  for (let i = 0; i < count; i += 256) {
    const batch = Array.from({ length: Math.min(count - i, 256) }, (_, j) => verifier.check(requestHeaders(keyOf(set, i + j))))
    for (const auth of await Promise.all(batch)) if (auth.organisationId !== ORG) throw new Error('scale: fill did not admit')
  }
}
/**
 * Calls `verifier.check()` `calls` times or more, cycling through the `count` keys end to end in `keys`; the ns per call.
 * Each call gets headers of its own, made just before its batch and not timed (a new object and key string, still in
 * the CPU's caches), so that what is timed is the verifier's own work and memory accesses.
 * @type {(verifier: import('portkey-auth').Verifier, keys: Buffer, count: number, calls: number) => { ns: number, calls: number }}
 */
function cycle(verifier, keys, count, calls) {
  /** @type {Record<string, string>[]} */
  const batch = []
  /** @type {ReturnType<typeof verifier.check> | undefined} */
  let last
  let [next, ns, done] = [0, 0, 0]
  for (; done < calls; done += BATCH) {
    for (let b = 0; b < BATCH; b++, next = (next + 1) % count)
      batch[b] = requestHeaders(keys.toString('latin1', next * KEY_LENGTH, (next + 1) * KEY_LENGTH))
    const t0 = process.hrtime.bigint()
    for (let b = 0; b < BATCH; b++) last = verifier.check(batch[b])
    ns += Number(process.hrtime.bigint() - t0)
  }
  if (last === undefined || last instanceof Promise || last.organisationId !== ORG)
    throw new Error('scale: a timed check() was not a synchronous hit')
  return { ns: ns / done, calls: done }
}
/** The `n` keys of `set` in a fixed shuffled order (an LCG), unlike their insertion, end to end in one buffer. */
function shuffledKeys(/** @type {string} */ set, /** @type {number} */ n) {
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1, seed = 12345; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    const k = seed % (i + 1)
    ;[order[i], order[k]] = [order[k], order[i]]
  }
  const buffer = Buffer.alloc(n * KEY_LENGTH)
  for (const [k, i] of order.entries()) buffer.write(keyOf(set, i), k * KEY_LENGTH, 'latin1')
  return buffer
}
async function keys(/** @type {number} */ n) {
  // The smallest cache.max (the default at least) whose known-key share (all but a tenth) holds n keys.
  let max = Math.max(DEFAULTS.cache.max, Math.ceil(n / (1 - TIMINGS.negativeShare)))
  while (max - Math.ceil(max * TIMINGS.negativeShare) < n) max++
  // The paths measured compiled on a verifier of their own, let go: the heap measured holds entries, not code.
  {
    const warm = createVerifier({ lookup, cache: { max } })
    await fill(warm, 'warm', 2_000)
    cycle(warm, shuffledKeys('warm', 2_000), 2_000, MIN_CALLS)
  }
  const verifier = createVerifier({ lookup, cache: { max } })
  const [before, t0] = [await settled(), performance.now()]
  await fill(verifier, 'keys', n)
  const [fillMs, after, filled] = [performance.now() - t0, await settled(), verifier.stats()]
  if (filled.entries !== n || filled.lookups !== n) throw new Error(`scale: ${n} keys filled, but ${JSON.stringify(filled)}`)
  const [order, calls] = [shuffledKeys('keys', n), Math.max(MIN_CALLS, 2 * n)]
  const runs = Array.from({ length: RUNS + 2 }, () => cycle(verifier, order, n, calls)).slice(2)
  const end = verifier.stats()
  if (end.lookups !== n || end.misses !== filled.misses || end.stale !== filled.stale || end.entries !== n)
    throw new Error('scale: a timed check() was not a cache hit')
  const [perKey, ns] = [(/** @type {'heapUsed' | 'rss'} */ f) => (after[f] - before[f]) / n, runs.map((run) => run.ns)]
  return {
    keys: n,
    max,
    fillMs,
    heapPerKey: perKey('heapUsed'),
    rssPerKey: perKey('rss'),
    callsPerRun: runs[0].calls,
    nsPerHit: spread(ns),
    runs: ns,
  }
}
async function upfront(/** @type {number} */ max) {
  createVerifier({ lookup, cache: { max: 2 } }) // loaded and compiled first: what is measured is the reservation
  const before = await settled()
  let t0 = performance.now()
  let verifier = createVerifier({ lookup, cache: { max } })
  const [firstMs, after, again] = [performance.now() - t0, await settled(), /** @type {number[]} */ ([])]
  if (verifier.stats().entries !== 0) throw new Error('scale: a new verifier holds entries')
  for (let k = 0; k < 5; k++) {
    verifier = createVerifier({ lookup, cache: { max: 2 } }) // the time again, each on a heap cleared of the last
    await settled()
    t0 = performance.now()
    verifier = createVerifier({ lookup, cache: { max } })
    again.push(performance.now() - t0)
  }
  const grew = (/** @type {'heapUsed' | 'external' | 'rss'} */ f) => after[f] - before[f]
  return { max, firstMs, againMs: spread(again), heap: grew('heapUsed'), external: grew('external'), rss: grew('rss') }
}
/** @typedef {Awaited<ReturnType<typeof keys>>} ScaleKeys */
/** @typedef {Awaited<ReturnType<typeof upfront>>} ScaleUpfront */
process.stdout.write(`${JSON.stringify(mode === 'keys' ? await keys(size) : await upfront(size))}\n`)
process.exit(0)
